#include "lmstate/state_cache.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/dtype.h"

struct sc_cache {
    sc_config cfg;
    int n_phys;           /* n_slots + max_rows + 1; physical slot 0 = initial */
    void *base[SC_MAX_KINDS];
    int32_t *map;         /* logical -> physical */
    int32_t *ref;         /* references per physical slot */
    int32_t *free_stack;
    int n_free;
    int32_t *tmp;
    uint8_t *layer_init;  /* [phys][layer]: 1 once written by an update or set */
    uint32_t *ver;        /* per physical slot: bumped whenever its contents may change */
};

/* A free physical slot, with a new version (its old contents are gone). */
static int32_t pop_free(sc_cache *c) {
    int32_t p = c->free_stack[--c->n_free];
    c->ver[p]++;
    return p;
}

size_t sc_state_size(const sc_config *cfg) {
    size_t s = 0;
    for (int k = 0; k < cfg->n_kinds; k++) s += cfg->kind[k].size * (size_t)cfg->n_layers;
    return s;
}

size_t sc_bytes_per_slot(const sc_config *cfg) { return sc_state_size(cfg) * rd_dtype_size(cfg->dtype); }

static size_t row_of(const sc_kind *k) { return k->row && k->row < k->size ? k->row : k->size; }

size_t sc_int8_bytes_per_slot(const sc_config *cfg) {
    size_t b = 0;
    for (int k = 0; k < cfg->n_kinds; k++) {
        const sc_kind *kd = &cfg->kind[k];
        b += kd->init != 0.0f ? kd->size * 4 : kd->size + kd->size / row_of(kd) * 4;
    }
    return b * (size_t)cfg->n_layers;
}

void sc_int8_round(float *x, size_t n, size_t row) {
    for (size_t r = 0; r < n; r += row) {
        size_t m = n - r < row ? n - r : row;
        float amax = 0;
        for (size_t e = 0; e < m; e++) amax = fmaxf(amax, fabsf(x[r + e]));
        if (!(amax > 0) || !isfinite(amax)) continue;
        float scale = amax / 127.0f;
        for (size_t e = 0; e < m; e++) x[r + e] = scale * (float)(int8_t)lrintf(x[r + e] / scale);
    }
}

/* int8_sim: rounds every row of physical slot p (fp32 storage only). */
static void int8_sim_phys(sc_cache *c, int32_t p) {
    const sc_config *g = &c->cfg;
    if (g->dtype != RD_F32) return;
    for (int k = 0; k < g->n_kinds; k++) {
        if (g->kind[k].init != 0.0f) continue;
        size_t sz = g->kind[k].size;
        for (int l = 0; l < g->n_layers; l++)
            sc_int8_round((float *)c->base[k] + ((size_t)l * (size_t)c->n_phys + (size_t)p) * sz, sz, row_of(&g->kind[k]));
    }
}

static int n_phys_of(const sc_config *cfg) {
    int rows = cfg->max_rows > 0 ? cfg->max_rows : cfg->n_slots;
    return cfg->n_slots + rows + 1;
}

size_t sc_bytes(const sc_cache *c, size_t *per_slot, int *n_phys) {
    if (per_slot) *per_slot = sc_bytes_per_slot(&c->cfg);
    if (n_phys) *n_phys = c->n_phys;
    return sc_total_bytes(&c->cfg);
}

size_t sc_total_bytes(const sc_config *cfg) {
    return sc_bytes_per_slot(cfg) * (size_t)n_phys_of(cfg) +
           (size_t)cfg->n_slots * 2 * sizeof(int32_t) + (size_t)n_phys_of(cfg) * 2 * sizeof(int32_t);
}

/* Writes a [kind][layer][size] fp32 state into physical slot p. */
static void write_phys(sc_cache *c, int32_t p, const float *state) {
    const sc_config *g = &c->cfg;
    for (int k = 0; k < g->n_kinds; k++) {
        size_t sz = g->kind[k].size;
        for (int l = 0; l < g->n_layers; l++) {
            size_t off = ((size_t)l * (size_t)c->n_phys + (size_t)p) * sz;
            if (g->dtype == RD_F32) memcpy((float *)c->base[k] + off, state, sz * sizeof(float));
            else for (size_t e = 0; e < sz; e++) rd_store_f32(c->base[k], g->dtype, off + e, state[e]);
            state += sz;
        }
    }
}

static void read_phys(const sc_cache *c, int32_t p, float *state) {
    const sc_config *g = &c->cfg;
    for (int k = 0; k < g->n_kinds; k++) {
        size_t sz = g->kind[k].size;
        for (int l = 0; l < g->n_layers; l++) {
            size_t off = ((size_t)l * (size_t)c->n_phys + (size_t)p) * sz;
            if (g->dtype == RD_F32) memcpy(state, (const float *)c->base[k] + off, sz * sizeof(float));
            else for (size_t e = 0; e < sz; e++) state[e] = rd_load_f32(c->base[k], g->dtype, off + e);
            state += sz;
        }
    }
}

rd_status sc_create(const sc_config *cfg, sc_cache **out, rd_error *err) {
    *out = NULL;
    if (cfg->n_kinds < 1 || cfg->n_kinds > SC_MAX_KINDS || cfg->n_layers < 1 || cfg->n_slots < 1)
        return rd_fail(err, RD_ERR_INTERNAL, "state cache: bad configuration (%d kinds, %d layers, %d slots)",
                       cfg->n_kinds, cfg->n_layers, cfg->n_slots);
    if (cfg->dtype != RD_F32 && cfg->dtype != RD_F16 && cfg->dtype != RD_BF16)
        return rd_fail(err, RD_ERR_USAGE, "state cache: storage must be fp32, fp16 or bf16");
    if (cfg->int8_sim && cfg->dtype != RD_F32)
        return rd_fail(err, RD_ERR_USAGE, "state cache: the int8 simulation runs over fp32 storage");
    size_t total = sc_total_bytes(cfg);
    if (cfg->max_bytes && total > cfg->max_bytes)
        return rd_fail(err, RD_ERR_NOMEM,
                       "state cache of %d slots needs %zu bytes (%zu bytes a slot, %d physical slots), "
                       "over the limit of %zu bytes", cfg->n_slots, total, sc_bytes_per_slot(cfg),
                       n_phys_of(cfg), cfg->max_bytes);
    sc_cache *c = calloc(1, sizeof *c);
    if (!c) return rd_fail(err, RD_ERR_NOMEM, "out of memory for the state cache");
    c->cfg = *cfg;
    if (c->cfg.max_rows <= 0) c->cfg.max_rows = cfg->n_slots;
    c->n_phys = n_phys_of(cfg);
    int ok = 1;
    for (int k = 0; k < cfg->n_kinds && ok; k++) {
        size_t n = cfg->kind[k].size * (size_t)cfg->n_layers * (size_t)c->n_phys;
        c->base[k] = rd_malloc_array(n, rd_dtype_size(cfg->dtype));
        ok = c->base[k] != NULL;
    }
    c->map = rd_calloc_array((size_t)cfg->n_slots, sizeof *c->map);
    c->tmp = rd_malloc_array((size_t)cfg->n_slots, sizeof *c->tmp);
    c->ref = rd_calloc_array((size_t)c->n_phys, sizeof *c->ref);
    c->free_stack = rd_malloc_array((size_t)c->n_phys, sizeof *c->free_stack);
    c->layer_init = rd_calloc_array((size_t)c->n_phys * (size_t)cfg->n_layers, 1);
    c->ver = rd_calloc_array((size_t)c->n_phys, sizeof *c->ver);
    if (!ok || !c->map || !c->tmp || !c->ref || !c->free_stack || !c->layer_init || !c->ver) {
        sc_free(c);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory allocating a state cache of %zu bytes", total);
    }
    for (int p = c->n_phys - 1; p >= 1; p--) c->free_stack[c->n_free++] = p;
    c->ref[0] = cfg->n_slots + 1; /* every slot, plus a pin */
    /* the initial state: each kind's init value */
    size_t ss = sc_state_size(cfg);
    float *init = rd_malloc_array(ss, sizeof *init);
    if (!init) {
        sc_free(c);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for the initial state");
    }
    float *p = init;
    for (int k = 0; k < cfg->n_kinds; k++)
        for (size_t e = 0; e < cfg->kind[k].size * (size_t)cfg->n_layers; e++) *p++ = cfg->kind[k].init;
    write_phys(c, 0, init);
    free(init);
    *out = c;
    return RD_OK;
}

void sc_free(sc_cache *c) {
    if (!c) return;
    for (int k = 0; k < SC_MAX_KINDS; k++) free(c->base[k]);
    free(c->map);
    free(c->tmp);
    free(c->ref);
    free(c->free_stack);
    free(c->layer_init);
    free(c->ver);
    free(c);
}

const sc_config *sc_config_of(const sc_cache *c) { return &c->cfg; }

static void decref(sc_cache *c, int32_t p) {
    if (--c->ref[p] == 0 && p != 0) c->free_stack[c->n_free++] = p;
}

void sc_set_initial(sc_cache *c, const float *state) {
    write_phys(c, 0, state);
    c->ver[0]++;
}

void sc_reset(sc_cache *c, const int32_t *slot, int n) {
    for (int i = 0; i < n; i++) {
        c->ref[0]++;
        decref(c, c->map[slot[i]]);
        c->map[slot[i]] = 0;
    }
}

rd_status sc_reorder(sc_cache *c, const int32_t *survivors, int n, rd_error *err) {
    if (n > c->cfg.n_slots)
        return rd_fail(err, RD_ERR_INTERNAL, "state cache: reorder of %d slots, capacity %d", n, c->cfg.n_slots);
    for (int i = 0; i < n; i++) {
        int32_t s = survivors[i];
        if (s < 0 || s >= c->cfg.n_slots)
            return rd_fail(err, RD_ERR_INTERNAL, "state cache: reorder: slot %d out of range 0..%d", s,
                           c->cfg.n_slots - 1);
        c->tmp[i] = c->map[s];
        c->ref[c->tmp[i]]++;
    }
    for (int i = 0; i < n; i++) {
        decref(c, c->map[i]);
        c->map[i] = c->tmp[i];
    }
    return RD_OK;
}

void sc_clone(sc_cache *c, int32_t src, int32_t dst) {
    int32_t p = c->map[src];
    c->ref[p]++;
    decref(c, c->map[dst]);
    c->map[dst] = p;
}

void sc_view(const sc_cache *c, rd_state_view *v) {
    memset(v, 0, sizeof *v);
    v->n_kinds = c->cfg.n_kinds;
    for (int k = 0; k < c->cfg.n_kinds; k++) {
        v->base[k] = c->base[k];
        v->dtype[k] = c->cfg.dtype;
        v->slot_stride[k] = c->cfg.kind[k].size;
        v->layer_stride[k] = c->cfg.kind[k].size * (size_t)c->n_phys;
    }
}

int32_t sc_phys(const sc_cache *c, int32_t slot) { return c->map[slot]; }

rd_status sc_update_begin(sc_cache *c, const int32_t *src, int n, int32_t *src_phys,
                          int32_t *dst_phys, rd_error *err) {
    if (n > c->n_free)
        return rd_fail(err, RD_ERR_INTERNAL, "state cache: update of %d rows, %d free physical slots", n,
                       c->n_free);
    for (int i = 0; i < n; i++) {
        if (src[i] < 0 || src[i] >= c->cfg.n_slots) {
            sc_update_abort(c, dst_phys, i);
            return rd_fail(err, RD_ERR_INTERNAL, "state cache: slot %d out of range 0..%d", src[i],
                           c->cfg.n_slots - 1);
        }
        src_phys[i] = c->map[src[i]];
        dst_phys[i] = pop_free(c);
    }
    return RD_OK;
}

static void mark_layers(sc_cache *c, int32_t p, uint8_t v) {
    memset(c->layer_init + (size_t)p * (size_t)c->cfg.n_layers, v, (size_t)c->cfg.n_layers);
}

void sc_update_commit(sc_cache *c, const int32_t *child, const int32_t *dst_phys, int n) {
    /* every new reference first (a fresh dst_phys counts as written): a live
     * dst_phys whose only reference is a child's old state must not reach the
     * free list on the way */
    sc_phys_hold(c, dst_phys, n);
    for (int i = 0; i < n; i++) {
        decref(c, c->map[child[i]]);
        c->map[child[i]] = dst_phys[i];
    }
}

void sc_update_abort(sc_cache *c, const int32_t *dst_phys, int n) {
    for (int i = n - 1; i >= 0; i--) c->free_stack[c->n_free++] = dst_phys[i];
}

void sc_gather(const sc_cache *c, const int32_t *slot, int n, float *out) {
    size_t ss = sc_state_size(&c->cfg);
    for (int i = 0; i < n; i++) read_phys(c, c->map[slot[i]], out + (size_t)i * ss);
}

rd_status sc_load_slot(sc_cache *c, int32_t slot, const float *state, rd_error *err) {
    if (c->n_free == 0) return rd_fail(err, RD_ERR_INTERNAL, "state cache: no free physical slot");
    int32_t p = pop_free(c);
    write_phys(c, p, state);
    sc_update_commit(c, &slot, &p, 1);
    return RD_OK;
}

rd_status sc_phys_alloc(sc_cache *c, int n, int32_t *phys, rd_error *err) {
    if (n > c->n_free)
        return rd_fail(err, RD_ERR_INTERNAL, "state cache: %d rows asked, %d free physical slots", n, c->n_free);
    for (int i = 0; i < n; i++) phys[i] = pop_free(c);
    return RD_OK;
}

void sc_phys_release_unreferenced(sc_cache *c, const int32_t *phys, int n) {
    for (int i = 0; i < n; i++)
        if (phys[i] != 0 && c->ref[phys[i]] == 0) c->free_stack[c->n_free++] = phys[i];
}

void sc_phys_hold(sc_cache *c, const int32_t *phys, int n) {
    for (int i = 0; i < n; i++) {
        if (c->ref[phys[i]] == 0) { /* freshly written by the model */
            mark_layers(c, phys[i], 1);
            if (c->cfg.int8_sim) int8_sim_phys(c, phys[i]);
        }
        c->ref[phys[i]]++;
    }
}

void sc_phys_drop(sc_cache *c, const int32_t *phys, int n) {
    for (int i = 0; i < n; i++) decref(c, phys[i]);
}

int sc_phys_free(const sc_cache *c) { return c->n_free; }

rd_status sc_check_slots(const sc_cache *c, rd_error *err) {
    uint8_t *seen = calloc((size_t)c->n_phys, 1);
    if (!seen) return rd_fail(err, RD_ERR_NOMEM, "out of memory checking the state cache");
    rd_status st = RD_OK;
    for (int i = 0; i < c->n_free && st == RD_OK; i++) {
        int32_t p = c->free_stack[i];
        if (p <= 0 || p >= c->n_phys || seen[p] || c->ref[p] != 0)
            st = rd_fail(err, RD_ERR_INTERNAL, "state cache: physical slot %d on the free list %s", (int)p,
                         p <= 0 || p >= c->n_phys ? "is out of range" : seen[p] ? "twice" : "is referenced");
        else seen[p] = 1;
    }
    for (int32_t p = 1; p < c->n_phys && st == RD_OK; p++)
        if (c->ref[p] == 0 && !seen[p])
            st = rd_fail(err, RD_ERR_INTERNAL, "state cache: physical slot %d is neither referenced nor free", (int)p);
    for (int s = 0; s < c->cfg.n_slots && st == RD_OK; s++)
        if (c->ref[c->map[s]] <= 0)
            st = rd_fail(err, RD_ERR_INTERNAL, "state cache: slot %d maps to unreferenced physical slot %d", s,
                         (int)c->map[s]);
    free(seen);
    return st;
}

int sc_phys_in_use(const sc_cache *c) { return c->n_phys - c->n_free; }

uint32_t sc_phys_version(const sc_cache *c, int32_t phys) { return c->ver[phys]; }

int sc_phys_live(const sc_cache *c, int32_t phys) { return c->ref[phys] > 0; }

/* ---------- per-layer access ---------- */

/* Gives slot a private physical slot (copy-on-write) so that one layer can
 * change without touching slots that share the state. */
static rd_status own_slot(sc_cache *c, int32_t slot, rd_error *err) {
    int32_t p = c->map[slot];
    if (p != 0 && c->ref[p] == 1) return RD_OK;
    if (c->n_free == 0) return rd_fail(err, RD_ERR_INTERNAL, "state cache: no free physical slot");
    int32_t q = pop_free(c);
    const sc_config *g = &c->cfg;
    size_t es = rd_dtype_size(g->dtype);
    for (int k = 0; k < g->n_kinds; k++) {
        size_t sz = g->kind[k].size;
        for (int l = 0; l < g->n_layers; l++) {
            char *base = c->base[k];
            memcpy(base + ((size_t)l * (size_t)c->n_phys + (size_t)q) * sz * es,
                   base + ((size_t)l * (size_t)c->n_phys + (size_t)p) * sz * es, sz * es);
        }
    }
    memcpy(c->layer_init + (size_t)q * (size_t)g->n_layers, c->layer_init + (size_t)p * (size_t)g->n_layers,
           (size_t)g->n_layers);
    c->ref[q] = 1;
    decref(c, p);
    c->map[slot] = q;
    return RD_OK;
}

static rd_status check_layer(const sc_cache *c, const char *fn, int32_t slot, int layer, int kind, rd_error *err) {
    if (slot < 0 || slot >= c->cfg.n_slots)
        return rd_fail(err, RD_ERR_INTERNAL, "%s: slot %d out of range 0..%d", fn, slot, c->cfg.n_slots - 1);
    if (layer < 0 || layer >= c->cfg.n_layers)
        return rd_fail(err, RD_ERR_INTERNAL, "%s: layer %d out of range 0..%d", fn, layer, c->cfg.n_layers - 1);
    if (kind < -1 || kind >= c->cfg.n_kinds)
        return rd_fail(err, RD_ERR_INTERNAL, "%s: kind %d out of range 0..%d", fn, kind, c->cfg.n_kinds - 1);
    return RD_OK;
}

int sc_layer_is_initialized(const sc_cache *c, int32_t slot, int layer) {
    return c->layer_init[(size_t)c->map[slot] * (size_t)c->cfg.n_layers + (size_t)layer];
}

rd_status sc_layer_get(const sc_cache *c, int32_t slot, int layer, int kind, float *out, rd_error *err) {
    RD_TRY(check_layer(c, "sc_layer_get", slot, layer, kind, err));
    size_t sz = c->cfg.kind[kind].size;
    size_t off = ((size_t)layer * (size_t)c->n_phys + (size_t)c->map[slot]) * sz;
    for (size_t e = 0; e < sz; e++) out[e] = rd_load_f32(c->base[kind], c->cfg.dtype, off + e);
    return RD_OK;
}

rd_status sc_layer_set(sc_cache *c, int32_t slot, int layer, int kind, const float *v, rd_error *err) {
    RD_TRY(check_layer(c, "sc_layer_set", slot, layer, kind, err));
    RD_TRY(own_slot(c, slot, err));
    size_t sz = c->cfg.kind[kind].size;
    int32_t p = c->map[slot];
    size_t off = ((size_t)layer * (size_t)c->n_phys + (size_t)p) * sz;
    for (size_t e = 0; e < sz; e++) rd_store_f32(c->base[kind], c->cfg.dtype, off + e, v[e]);
    c->layer_init[(size_t)p * (size_t)c->cfg.n_layers + (size_t)layer] = 1;
    c->ver[p]++;
    return RD_OK;
}

rd_status sc_layer_reset(sc_cache *c, int32_t slot, int layer, int kind, rd_error *err) {
    RD_TRY(check_layer(c, "sc_layer_reset", slot, layer, kind, err));
    RD_TRY(own_slot(c, slot, err));
    const sc_config *g = &c->cfg;
    int32_t p = c->map[slot];
    size_t es = rd_dtype_size(g->dtype);
    for (int k = 0; k < g->n_kinds; k++) {
        if (kind >= 0 && k != kind) continue;
        size_t sz = g->kind[k].size;
        char *base = c->base[k];
        memcpy(base + ((size_t)layer * (size_t)c->n_phys + (size_t)p) * sz * es,
               base + ((size_t)layer * (size_t)c->n_phys) * sz * es, sz * es); /* from the initial state */
    }
    if (kind < 0) c->layer_init[(size_t)p * (size_t)g->n_layers + (size_t)layer] = 0;
    c->ver[p]++;
    return RD_OK;
}

rd_status sc_check_finite(const sc_cache *c, const int32_t *slot, int n, rd_error *err) {
    const sc_config *g = &c->cfg;
    for (int i = 0; i < n; i++) {
        int32_t p = c->map[slot[i]];
        for (int k = 0; k < g->n_kinds; k++) {
            size_t sz = g->kind[k].size;
            for (int l = 0; l < g->n_layers; l++) {
                size_t off = ((size_t)l * (size_t)c->n_phys + (size_t)p) * sz;
                for (size_t e = 0; e < sz; e++) {
                    float v = rd_load_f32(c->base[k], g->dtype, off + e);
                    if (!isfinite(v) && !(v < 0 && isinf(v) && g->dtype != RD_F32))
                        return rd_fail(err, RD_ERR_INTERNAL,
                                       "state cache: slot %d, layer %d, kind %s, element %zu is %s after an update",
                                       (int)slot[i], l, g->kind[k].name ? g->kind[k].name : "?", e,
                                       isnan(v) ? "NaN" : "infinite");
                }
            }
        }
    }
    return RD_OK;
}
