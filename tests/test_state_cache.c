/* tests/test_state_cache.c - the state cache: after any sequence of update,
 * reorder, clone and reset, every slot holds exactly the state of replaying
 * its own token history from the initial state. Checked with a toy model
 * (any storage dtype), with the real RWKV-7 and RWKV-4 models, and through
 * the LM interface with the n-gram model and the RWKV word LM. */
#include "tests/testutil.h"

#include <math.h>
#include <pthread.h>

#include "common/half.h"
#include "lmstate/ngram/arpa.h"
#include "lmstate/lm.h"
#include "lmstate/rwkv/lm_rwkv.h"
#include "lmstate/rwkv/rwkv.h"
#include "lmstate/state_cache.h"

#define NSLOT 12
#define MAXHIST 64

typedef struct history {
    int len;
    int32_t tok[MAXHIST];
} history;

/* ---------- a toy model: state' = 0.5 * state + f(token, element) ---------- */

static float toy_f(int32_t tok, size_t e) { return (float)((tok * 31 + (int)e * 7) % 13) * 0.25f - 1.0f; }

static void toy_step(const sc_cache *c, int n, const int32_t *tok, const int32_t *src, const int32_t *dst) {
    rwkv_state_view v;
    sc_view(c, &v);
    const sc_config *g = sc_config_of(c);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->n_kinds; k++)
            for (int l = 0; l < g->n_layers; l++)
                for (size_t e = 0; e < g->kind[k].size; e++) {
                    size_t so = l * v.layer_stride[k] + (size_t)src[i] * v.slot_stride[k] + e;
                    size_t d = l * v.layer_stride[k] + (size_t)dst[i] * v.slot_stride[k] + e;
                    float x;
                    if (g->dtype == RD_F32) x = ((float *)v.base[k])[so];
                    else if (g->dtype == RD_F16) x = rd_f16_to_f32(((uint16_t *)v.base[k])[so]);
                    else x = rd_bf16_to_f32(((uint16_t *)v.base[k])[so]);
                    x = 0.5f * x + toy_f(tok[i], e + (size_t)l * 100 + (size_t)k * 1000);
                    if (g->dtype == RD_F32) ((float *)v.base[k])[d] = x;
                    else if (g->dtype == RD_F16) ((uint16_t *)v.base[k])[d] = rd_f32_to_f16(x);
                    else ((uint16_t *)v.base[k])[d] = rd_f32_to_bf16(x);
                }
}

static void toy_replay(const sc_config *g, const history *h, float *out) {
    float *p = out;
    for (int k = 0; k < g->n_kinds; k++)
        for (int l = 0; l < g->n_layers; l++)
            for (size_t e = 0; e < g->kind[k].size; e++) {
                float x = g->kind[k].init;
                for (int t = 0; t < h->len; t++) x = 0.5f * x + toy_f(h->tok[t], e + (size_t)l * 100 + (size_t)k * 1000);
                *p++ = x;
            }
}

typedef void (*step_fn)(void *ctx, sc_cache *c, int n, const int32_t *tok, const int32_t *src,
                        const int32_t *dst);
typedef void (*replay_fn)(void *ctx, const history *h, float *out);

static void toy_step_cb(void *ctx, sc_cache *c, int n, const int32_t *tok, const int32_t *src,
                        const int32_t *dst) {
    (void)ctx;
    toy_step(c, n, tok, src, dst);
}

typedef struct toy_ctx { const sc_config *g; } toy_ctx;
static void toy_replay_cb(void *ctx, const history *h, float *out) { toy_replay(((toy_ctx *)ctx)->g, h, out); }

/* Random update / reorder / clone / reset operations, checking every slot
 * against its replayed history after each. */
static void random_ops(sc_cache *c, step_fn step, replay_fn replay, void *ctx, unsigned seed, int rounds,
                       double tol) {
    const sc_config *g = sc_config_of(c);
    history hist[NSLOT], tmp[NSLOT];
    memset(hist, 0, sizeof hist);
    size_t ss = sc_state_size(g);
    float *got = malloc(ss * sizeof(float)), *want = malloc(ss * sizeof(float));
    srand(seed);
    rd_error err;
    for (int r = 0; r < rounds; r++) {
        int op = rand() % 4;
        if (op <= 1) {
            /* update: n distinct children, parents anywhere (a child may be its parent) */
            int n = 1 + rand() % 5;
            int32_t parent[8], child[8], tok[8], srcp[8], dstp[8];
            int used[NSLOT] = {0};
            for (int i = 0; i < n; i++) {
                parent[i] = rand() % NSLOT;
                do child[i] = rand() % NSLOT; while (used[child[i]]);
                used[child[i]] = 1;
                tok[i] = rand() % 200;
            }
            assert_int_equal(sc_update_begin(c, parent, n, srcp, dstp, &err), RD_OK);
            step(ctx, c, n, tok, srcp, dstp);
            sc_update_commit(c, child, dstp, n);
            history nh[8];
            for (int i = 0; i < n; i++) {
                nh[i] = hist[parent[i]];
                if (nh[i].len < MAXHIST) nh[i].tok[nh[i].len++] = tok[i];
            }
            for (int i = 0; i < n; i++) hist[child[i]] = nh[i];
        } else if (op == 2) {
            int n = 1 + rand() % NSLOT;
            int32_t surv[NSLOT];
            for (int i = 0; i < n; i++) surv[i] = rand() % NSLOT;
            assert_int_equal(sc_reorder(c, surv, n, &err), RD_OK);
            for (int i = 0; i < n; i++) tmp[i] = hist[surv[i]];
            for (int i = 0; i < n; i++) hist[i] = tmp[i];
        } else {
            int32_t a = rand() % NSLOT, b = rand() % NSLOT;
            if (rand() % 2) {
                sc_clone(c, a, b);
                hist[b] = hist[a];
            } else {
                sc_reset(c, &a, 1);
                hist[a].len = 0;
            }
        }
        for (int s = 0; s < NSLOT; s++) {
            if (hist[s].len >= MAXHIST) continue;
            sc_gather(c, &s, 1, got);
            replay(ctx, &hist[s], want);
            for (size_t e = 0; e < ss; e++)
                if (fabs((double)got[e] - (double)want[e]) > tol * (1.0 + fabs((double)want[e]))) {
                    fprintf(stderr, "round %d slot %d element %zu: %g vs %g\n", r, s, e, (double)got[e],
                            (double)want[e]);
                    fail();
                }
        }
        /* physical slots in use never exceed the slots plus the pinned initial one */
        assert_true(sc_phys_in_use(c) <= NSLOT + 1);
    }
    free(got);
    free(want);
}

static sc_config toy_config(rd_dtype t) {
    sc_config g;
    memset(&g, 0, sizeof g);
    g.n_kinds = 3;
    g.kind[0] = (sc_kind){"shift", 4, 0.0f, 0};
    g.kind[1] = (sc_kind){"matrix", 9, 0.0f, 0};
    g.kind[2] = (sc_kind){"pp", 2, -3.0f, 0};
    g.n_layers = 2;
    g.n_slots = NSLOT;
    g.max_rows = 8;
    g.dtype = t;
    return g;
}

static void test_toy_fp32(void **state) {
    sc_config g = toy_config(RD_F32);
    sc_cache *c;
    rd_error err;
    assert_int_equal(sc_create(&g, &c, &err), RD_OK);
    toy_ctx ctx = {sc_config_of(c)};
    random_ops(c, toy_step_cb, toy_replay_cb, &ctx, 1, 300, 1e-6);
    sc_free(c);
}

/* fp16/bf16 storage rounds each step; the error stays bounded because the
 * toy state contracts (x' = x/2 + f): |err| <= ulp(max|x|) * 2. */
static void test_toy_half(void **state) {
    rd_dtype types[2] = {RD_F16, RD_BF16};
    double tol[2] = {2e-3, 1.6e-2};
    for (int i = 0; i < 2; i++) {
        sc_config g = toy_config(types[i]);
        sc_cache *c;
        rd_error err;
        assert_int_equal(sc_create(&g, &c, &err), RD_OK);
        toy_ctx ctx = {sc_config_of(c)};
        random_ops(c, toy_step_cb, toy_replay_cb, &ctx, 2 + (unsigned)i, 200, tol[i]);
        assert_int_equal(sc_bytes_per_slot(&g), (4 + 9 + 2) * 2 * 2);
        sc_free(c);
    }
}

/* Per-layer access: lazy initialization flags, copy-on-write set/reset, and
 * the finite check naming slot, layer and kind. */
static void test_layer_access(void **state) {
    sc_config g = toy_config(RD_F32);
    sc_cache *c;
    rd_error err;
    assert_int_equal(sc_create(&g, &c, &err), RD_OK);
    /* a fresh slot: every layer uninitialized, reading the initial values */
    float v[9];
    for (int l = 0; l < 2; l++) assert_false(sc_layer_is_initialized(c, 3, l));
    assert_int_equal(sc_layer_get(c, 3, 1, 2, v, &err), RD_OK);
    assert_float_equal(v[0], -3.0f, 0);
    /* an update initializes every layer of the child */
    int32_t src = 3, sp, dp, child = 4;
    assert_int_equal(sc_update_begin(c, &src, 1, &sp, &dp, &err), RD_OK);
    int32_t tok = 5;
    toy_step(c, 1, &tok, &sp, &dp);
    sc_update_commit(c, &child, &dp, 1);
    assert_true(sc_layer_is_initialized(c, 4, 0) && sc_layer_is_initialized(c, 4, 1));
    float before[9], after[9];
    assert_int_equal(sc_layer_get(c, 4, 1, 1, before, &err), RD_OK);
    /* slot 5 shares slot 4's state; resetting its layer 1 leaves slot 4 alone */
    sc_clone(c, 4, 5);
    assert_int_equal(sc_phys(c, 4), sc_phys(c, 5));
    assert_int_equal(sc_layer_reset(c, 5, 1, -1, &err), RD_OK);
    assert_int_not_equal(sc_phys(c, 4), sc_phys(c, 5));
    assert_false(sc_layer_is_initialized(c, 5, 1));
    assert_true(sc_layer_is_initialized(c, 5, 0));
    assert_int_equal(sc_layer_get(c, 4, 1, 1, after, &err), RD_OK);
    assert_memory_equal(before, after, sizeof before);
    assert_int_equal(sc_layer_get(c, 5, 1, 2, v, &err), RD_OK);
    assert_float_equal(v[1], -3.0f, 0);
    float l0a[4], l0b[4];
    assert_int_equal(sc_layer_get(c, 4, 0, 0, l0a, &err), RD_OK);
    assert_int_equal(sc_layer_get(c, 5, 0, 0, l0b, &err), RD_OK);
    assert_memory_equal(l0a, l0b, sizeof l0a);
    /* set one kind of one layer */
    float nine[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(sc_layer_set(c, 5, 1, 1, nine, &err), RD_OK);
    assert_true(sc_layer_is_initialized(c, 5, 1));
    assert_int_equal(sc_layer_get(c, 5, 1, 1, v, &err), RD_OK);
    assert_memory_equal(v, nine, sizeof nine);
    assert_int_equal(sc_check_finite(c, &child, 1, &err), RD_OK);
    nine[4] = NAN;
    assert_int_equal(sc_layer_set(c, 5, 1, 1, nine, &err), RD_OK);
    int32_t five = 5;
    assert_int_equal(sc_check_finite(c, &five, 1, &err), RD_ERR_INTERNAL);
    assert_string_equal(err.msg, "state cache: slot 5, layer 1, kind matrix, element 4 is NaN after an update");
    assert_int_equal(sc_layer_get(c, 5, 2, 0, v, &err), RD_ERR_INTERNAL);
    assert_string_equal(err.msg, "sc_layer_get: layer 2 out of range 0..1");
    sc_free(c);
}

/* int8 at rest: per-row scale max|x|/127, error at most half a step; the
 * int8 simulation rounds what an update writes; the size from the dims. */
static void test_int8_rest(void **state) {
    float x[6] = {1.0f, -0.5f, 0.25f, 100.0f, -3.0f, 0.0f}, y[6];
    memcpy(y, x, sizeof x);
    sc_int8_round(y, 6, 3);
    for (int i = 0; i < 6; i++) {
        float step = (i < 3 ? 1.0f : 100.0f) / 127.0f;
        assert_true(fabsf(y[i] - x[i]) <= step / 2 + 1e-6f);
    }
    assert_float_equal(y[0], 1.0f, 1e-6);  /* the row maximum is exact */
    assert_float_equal(y[3], 100.0f, 1e-4);
    sc_config g = toy_config(RD_F32);
    g.kind[1].row = 3; /* "matrix" 9 = 3 rows of 3 */
    /* shift 4 + 4 B scale; matrix 9 + 3 scales; pp (init -3) stays fp32: 2 x 4 */
    assert_int_equal(sc_int8_bytes_per_slot(&g), 2 * ((4 + 4) + (9 + 12) + 8));
    g.int8_sim = 1;
    sc_cache *c;
    rd_error err;
    assert_int_equal(sc_create(&g, &c, &err), RD_OK);
    int32_t src = 0, sp, dp, child = 1, tok = 3;
    assert_int_equal(sc_update_begin(c, &src, 1, &sp, &dp, &err), RD_OK);
    toy_step(c, 1, &tok, &sp, &dp);
    float exact[4];
    assert_int_equal(sc_layer_get(c, 0, 1, 0, exact, &err), RD_OK); /* the parent's layer 1, kind 0 */
    sc_update_commit(c, &child, &dp, 1);
    float got[4], want[4];
    assert_int_equal(sc_layer_get(c, 1, 1, 0, got, &err), RD_OK);
    for (int e = 0; e < 4; e++) want[e] = 0.5f * exact[e] + toy_f(tok, (size_t)e + 100);
    sc_int8_round(want, 4, 4);
    assert_memory_equal(got, want, sizeof want);
    sc_free(c);
    g.dtype = RD_F16; /* the simulation rounds fp32 storage only */
    assert_int_equal(sc_create(&g, &c, &err), RD_ERR_USAGE);
    assert_null(c);
}

static void test_memory_limit_refused(void **state) {
    sc_config g = toy_config(RD_F32);
    g.max_bytes = 1000;
    sc_cache *c;
    rd_error err;
    assert_int_equal(sc_bytes_per_slot(&g), (4 + 9 + 2) * 2 * 4);
    assert_int_equal(sc_create(&g, &c, &err), RD_ERR_NOMEM);
    assert_string_equal(err.msg, "state cache of 12 slots needs 2784 bytes (120 bytes a slot, 21 physical "
                                 "slots), over the limit of 1000 bytes");
}

/* --max-memory is the process's limit (issue 17 item 6): the RWKV weights
 * and the state caches of every thread share it (it was each cache's). */
static void test_rwkv_memory_limit_shared(void **state) {
    char path[512];
    RD_DATA_OR_SKIP(path, "rwkv/tiny-rwkv-7v0-834K-FP32.bin");
    lm_model *m;
    lm_cache *c[3];
    rd_error err;
    lm_load_options lo = {0};
    assert_int_equal(lm_load(path, &lo, &m, &err), RD_OK);
    assert_int_equal(lm_cache_create(m, 64, &c[0], &err), RD_OK);
    size_t one = lm_cache_bytes(c[0], NULL, NULL), weights = rwkv_weight_bytes(lm_rwkv(m));
    lm_cache_free(c[0]);
    lm_free(m);
    lo.max_memory = weights + one * 5 / 2;   /* room for two caches, not three */
    assert_int_equal(lm_load(path, &lo, &m, &err), RD_OK);
    assert_int_equal(lm_cache_create(m, 64, &c[0], &err), RD_OK);
    assert_int_equal(lm_cache_create(m, 64, &c[1], &err), RD_OK);
    assert_int_equal(lm_cache_create(m, 64, &c[2], &err), RD_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "--max-memory"));
    assert_non_null(strstr(err.msg, "lower --beam or --homophones, --threads or --batch")); /* names the options that fix it */
    lm_cache_free(c[1]);                     /* freed room is room again */
    assert_int_equal(lm_cache_create(m, 64, &c[2], &err), RD_OK);
    lm_cache_free(c[0]);
    lm_cache_free(c[2]);
    lm_free(m);
    lo.max_memory = weights / 2;              /* the weights alone are over it */
    assert_int_equal(lm_load(path, &lo, &m, &err), RD_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "--max-memory"));
}

static void test_slot_index(void **state) {
    int32_t u, b, h;
    int32_t s = sc_slot_index(2, 3, 5, 16, 8);
    assert_int_equal(s, 2 * 128 + 3 * 8 + 5);
    sc_slot_split(s, 16, 8, &u, &b, &h);
    assert_int_equal(u, 2);
    assert_int_equal(b, 3);
    assert_int_equal(h, 5);
}

/* ---------- RWKV models ---------- */

typedef struct rwkv_ctx {
    rwkv_model *m;
    rwkv_workspace *ws;
    float *single;
} rwkv_ctx;

static void rwkv_step_cb(void *p, sc_cache *c, int n, const int32_t *tok, const int32_t *src,
                         const int32_t *dst) {
    rwkv_ctx *x = p;
    rwkv_state_view v;
    sc_view(c, &v);
    rd_error err;
    assert_int_equal(rwkv_forward(x->m, x->ws, n, tok, &v, src, &v, dst, NULL, &err), RD_OK);
}

static void rwkv_replay_cb(void *p, const history *h, float *out) {
    rwkv_ctx *x = p;
    rwkv_state_view v;
    rwkv_state_view_single(x->m, out, &v);
    rwkv_state_reset(x->m, &v, 0);
    int32_t zero = 0;
    rd_error err;
    for (int t = 0; t < h->len; t++)
        assert_int_equal(rwkv_forward(x->m, x->ws, 1, &h->tok[t], &v, &zero, &v, &zero, NULL, &err), RD_OK);
}

static void rwkv_case(const char *rel) {
    char path[512];
    RD_DATA_OR_SKIP(path, rel);
    rwkv_ctx x;
    rd_error err;
    assert_int_equal(rwkv_load(path, &x.m, &err), RD_OK);
    assert_int_equal(rwkv_workspace_create(x.m, 8, 1, &x.ws, &err), RD_OK);
    rwkv_kind_info info[RWKV_MAX_KINDS];
    sc_config g;
    memset(&g, 0, sizeof g);
    g.n_kinds = rwkv_state_kinds(x.m, info);
    for (int k = 0; k < g.n_kinds; k++) g.kind[k] = (sc_kind){info[k].name, info[k].size, info[k].init, 0};
    g.n_layers = rwkv_n_layer(x.m);
    g.n_slots = NSLOT;
    g.max_rows = 8;
    g.dtype = RD_F32;
    sc_cache *c;
    assert_int_equal(sc_create(&g, &c, &err), RD_OK);
    random_ops(c, rwkv_step_cb, rwkv_replay_cb, &x, 5, 40, 1e-6);
    sc_free(c);
    rwkv_workspace_free(x.ws);
    rwkv_free(x.m);
}

/* A toy fp32 cache (*g its config) in which one update from slot 0 has
 * written token tok's state into the fresh physical slot *p, not committed. */
static sc_cache *toy_one_written(sc_config *g, int32_t tok, int32_t *p) {
    *g = toy_config(RD_F32);
    sc_cache *c;
    rd_error err;
    int32_t zero = 0, sp;
    assert_int_equal(sc_create(g, &c, &err), RD_OK);
    assert_int_equal(sc_update_begin(c, &zero, 1, &sp, p, &err), RD_OK);
    toy_step(c, 1, &tok, &sp, p);
    return c;
}

/* One commit where slot 2 takes the state whose only reference was slot 1's
 * old one, while slot 1 takes a new state: that state stays live (not on the
 * free list), so no later allocation hands it out again. */
static void test_commit_keeps_live_target(void **state) {
    sc_config g;
    rd_error err;
    int32_t one = 1, p, q, tok = 3;
    sc_cache *c = toy_one_written(&g, tok, &p);
    sc_update_commit(c, &one, &p, 1);
    int in_use = sc_phys_in_use(c); /* the initial state and p */
    assert_int_equal(sc_phys_alloc(c, 1, &q, &err), RD_OK);
    toy_step(c, 1, &tok, &p, &q);
    int32_t child[2] = {1, 2}, dst[2] = {q, p};
    sc_update_commit(c, child, dst, 2);
    assert_int_equal(sc_phys(c, 1), q);
    assert_int_equal(sc_phys(c, 2), p);
    assert_int_equal(sc_phys_in_use(c), in_use + 1);
    int n_phys;
    sc_bytes(c, NULL, &n_phys);
    int nfree = n_phys - sc_phys_in_use(c);
    int32_t got[64];
    assert_true(nfree <= 64);
    assert_int_equal(sc_phys_alloc(c, nfree, got, &err), RD_OK);
    for (int i = 0; i < nfree; i++) {
        assert_int_not_equal(got[i], p);
        assert_int_not_equal(got[i], q);
    }
    sc_update_abort(c, got, nfree);
    sc_free(c);
}

/* A physical slot's version changes when it is handed out afresh and when
 * it is written in place, so (slot, version) never names two contents. */
static void test_phys_version(void **state) {
    sc_config g;
    rd_error err;
    int32_t one = 1, p;
    sc_cache *c = toy_one_written(&g, 5, &p);
    sc_update_commit(c, &one, &p, 1);
    uint32_t v = sc_phys_version(c, p);
    assert_true(sc_phys_live(c, p));
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(sc_layer_set(c, 1, 0, 1, x, &err), RD_OK); /* slot 1 alone holds p: written in place */
    assert_int_equal(sc_phys(c, 1), p);
    assert_true(sc_phys_version(c, p) != v);
    v = sc_phys_version(c, p);
    sc_reset(c, &one, 1); /* p is free now */
    assert_false(sc_phys_live(c, p));
    int32_t q;
    assert_int_equal(sc_phys_alloc(c, 1, &q, &err), RD_OK);
    assert_int_equal(q, p); /* the free list is a stack */
    assert_true(sc_phys_version(c, q) != v);
    sc_update_abort(c, &q, 1);
    sc_free(c);
}

/* A state the model wrote, held (sc_phys_hold) before any slot refers to
 * it and bound to a slot later (the RWKV LM's prefix states), counts as
 * written like one committed fresh: its layers read initialized, and
 * sc_check_slots finds the bookkeeping whole on the way. */
static void test_held_fresh_state_is_written(void **state) {
    sc_config g;
    rd_error err;
    int32_t two = 2, p;
    sc_cache *c = toy_one_written(&g, 3, &p);
    sc_phys_hold(c, &p, 1); /* the call ends holding what it wrote */
    assert_int_equal(sc_check_slots(c, &err), RD_OK);
    sc_update_commit(c, &two, &p, 1); /* a later call binds it */
    for (int l = 0; l < g.n_layers; l++) assert_int_equal(sc_layer_is_initialized(c, 2, l), 1);
    sc_phys_drop(c, &p, 1);
    assert_true(sc_phys_live(c, p)); /* slot 2 still refers to it */
    assert_int_equal(sc_check_slots(c, &err), RD_OK);
    sc_reset(c, &two, 1);
    assert_false(sc_phys_live(c, p));
    assert_int_equal(sc_check_slots(c, &err), RD_OK);
    sc_free(c);
}

static void test_rwkv7_replay(void **state) {
    rwkv_case("rwkv/tiny-rwkv-7v0-834K-FP32.bin");
}

static void test_rwkv4_replay(void **state) {
    rwkv_case("rwkv/tiny-rwkv-4v0-660K-FP32.bin");
}

/* ---------- through the LM interface ---------- */

/* Random score_words / reorder on an LM cache; each slot's next-word score
 * must equal the score after replaying its word history in a fresh slot. */
/* ln p(word w | history h) replayed in slot 0 of ref. */
static float replay_word(lm_cache *ref, const int32_t *wr, const history *h, int w) {
    rd_error err;
    int32_t z = 0;
    float dummy, got;
    assert_int_equal(lm_start(ref, &z, 1, &err), RD_OK);
    for (int t = 0; t < h->len; t++)
        assert_int_equal(lm_score_words(ref, &z, &wr[h->tok[t]], &z, 1, &dummy, &err), RD_OK);
    assert_int_equal(lm_score_words(ref, &z, &wr[w], &z, 1, &got, &err), RD_OK);
    return got;
}

/* With floors (lm_score_words_floor, random floors): a word scored finite
 * equals the replay; a word given up (-inf) replays below its floor, and its
 * child is undefined. m2, when not NULL, is mixed in (weights 0.5, 0.25). */
static void lm_random_ops_ex(const char *path, const char *path2, const char *const *vocab, int nv, double tol,
                             int floors) {
    lm_model *m, *m1 = NULL, *m2 = NULL;
    rd_error err;
    lm_load_options lo = {0};
    if (path2) {
        assert_int_equal(lm_load(path, &lo, &m1, &err), RD_OK);
        assert_int_equal(lm_load(path2, &lo, &m2, &err), RD_OK);
        lm_model *parts[2] = {m1, m2};
        float wts[2] = {0.5f, 0.25f};
        assert_int_equal(lm_mix(parts, wts, 2, &m, &err), RD_OK);
    } else {
        assert_int_equal(lm_load(path, &lo, &m, &err), RD_OK);
    }
    int gave_up = 0, kept = 0;
    lm_cache *c, *ref;
    assert_int_equal(lm_cache_create(m, NSLOT, &c, &err), RD_OK);
    assert_int_equal(lm_cache_create(m, 2, &ref, &err), RD_OK);
    int32_t wc[16], wr[16];
    for (int i = 0; i < nv; i++) {
        wc[i] = lm_word(c, vocab[i], strlen(vocab[i]));
        wr[i] = lm_word(ref, vocab[i], strlen(vocab[i]));
    }
    history hist[NSLOT], tmp[NSLOT];
    memset(hist, 0, sizeof hist);
    srand(11);
    for (int r = 0; r < 60; r++) {
        if (rand() % 3) {
            int n = 1 + rand() % 4;
            int32_t parent[4], child[4], word[4];
            float sc[4], fl[4];
            int used[NSLOT] = {0};
            for (int i = 0; i < n; i++) {
                parent[i] = rand() % NSLOT;
                do child[i] = rand() % NSLOT; while (used[child[i]]);
                used[child[i]] = 1;
                int w = rand() % nv;
                word[i] = wc[w];
                fl[i] = -(float)(rand() % 1600) / 100.0f;
                tmp[i] = hist[parent[i]];
                /* an undefined parent gives an undefined child */
                if (tmp[i].len >= 0 && tmp[i].len < MAXHIST) tmp[i].tok[tmp[i].len++] = w;
            }
            if (floors) {
                history par[4];
                for (int i = 0; i < n; i++) par[i] = hist[parent[i]];
                assert_int_equal(lm_score_words_floor(c, parent, word, child, n, fl, sc, &err), RD_OK);
                for (int i = 0; i < n; i++) {
                    if (par[i].len < 0 || par[i].len >= MAXHIST) continue;
                    float want = replay_word(ref, wr, &par[i], tmp[i].tok[tmp[i].len - 1]);
                    if (sc[i] == -INFINITY) {
                        assert_true(want < fl[i]);
                        tmp[i].len = -1; /* given up: undefined */
                        gave_up++;
                    } else {
                        assert_float_equal(sc[i], want, tol);
                        kept++;
                    }
                }
            } else {
                assert_int_equal(lm_score_words(c, parent, word, child, n, sc, &err), RD_OK);
            }
            for (int i = 0; i < n; i++) hist[child[i]] = tmp[i];
        } else {
            int n = 1 + rand() % NSLOT;
            int32_t surv[NSLOT];
            for (int i = 0; i < n; i++) surv[i] = rand() % NSLOT;
            assert_int_equal(lm_reorder(c, surv, n, &err), RD_OK);
            for (int i = 0; i < n; i++) tmp[i] = hist[surv[i]];
            for (int i = 0; i < n; i++) hist[i] = tmp[i];
            for (int i = n; i < NSLOT; i++) hist[i].len = -1; /* undefined now */
        }
        /* every defined slot: </s> score equals the replay's */
        for (int s = 0; s < NSLOT; s++) {
            if (hist[s].len < 0 || hist[s].len >= MAXHIST) continue;
            float got, want, dummy;
            assert_int_equal(lm_finish(c, &s, 1, &got, &err), RD_OK);
            int32_t z = 0;
            assert_int_equal(lm_start(ref, &z, 1, &err), RD_OK);
            for (int t = 0; t < hist[s].len; t++)
                assert_int_equal(lm_score_words(ref, &z, &wr[hist[s].tok[t]], &z, 1, &dummy, &err), RD_OK);
            assert_int_equal(lm_finish(ref, &z, 1, &want, &err), RD_OK);
            assert_float_equal(got, want, tol);
        }
    }
    if (floors) assert_true(gave_up > 0 && kept > 0); /* both ways exercised */
    lm_cache_free(c);
    lm_cache_free(ref);
    lm_free(m);
    lm_free(m1);
    lm_free(m2);
}

static void lm_random_ops(const char *path, const char *const *vocab, int nv, double tol) {
    lm_random_ops_ex(path, NULL, vocab, nv, tol, 0);
}

static const char *const words_en[] = {"the", "fake", "friend", "of", "family,", "like", "cat", "a"};

static void test_ngram_replay(void **state) {
    char path[512];
    RD_DATA_OR_SKIP(path, "lm/ocr-bigram.arpa");
    lm_random_ops(path, words_en, 8, 1e-6);
}

static void test_rwkv_lm_replay(void **state) {
    char path[512];
    RD_DATA_OR_SKIP(path, "rwkv/tiny-rwkv-7v0-834K-FP32.bin");
    lm_random_ops(path, words_en, 8, 1e-5);
}

static void test_rwkv_lm_floors(void **state) {
    char path[512];
    RD_DATA_OR_SKIP(path, "rwkv/tiny-rwkv-7v0-834K-FP32.bin");
    lm_random_ops_ex(path, NULL, words_en, 8, 1e-5, 1);
}

static void test_mix_lm_floors(void **state) {
    char path[512], path2[512];
    RD_DATA_OR_SKIP(path, "lm/ocr-bigram.arpa");
    RD_DATA_OR_SKIP(path2, "rwkv/tiny-rwkv-7v0-834K-FP32.bin");
    lm_random_ops_ex(path, path2, words_en, 8, 1e-5, 1);
}

/* The tiny RWKV-7 of ../shared/data as an LM with default options (the
 * test is skipped when it is absent). */
static lm_model *tiny_rwkv_lm_or_skip(void) {
    char path[512];
    RD_DATA_OR_SKIP(path, "rwkv/tiny-rwkv-7v0-834K-FP32.bin");
    lm_model *m;
    rd_error err;
    lm_load_options lo = {0};
    assert_int_equal(lm_load(path, &lo, &m, &err), RD_OK);
    return m;
}

/* The RWKV LM remembers, per (parent state, word), a bound on the word's
 * log-probability and, for a word given up part way, the state it stopped
 * at. Asked again from the same live parent: below the bound, given up with
 * no forward row; with a lower floor, resumed where it stopped, so that the
 * two calls together run exactly the rows of one full scoring; every score
 * equals a fresh replay, and a parent whose slot was reused gets nothing
 * stale. */
static void test_rwkv_lm_bounds_resume(void **state) {
    lm_model *m = tiny_rwkv_lm_or_skip();
    lm_cache *c, *ref;
    rd_error err;
    assert_int_equal(lm_cache_create(m, NSLOT, &c, &err), RD_OK);
    assert_int_equal(lm_cache_create(m, NSLOT, &ref, &err), RD_OK);
    const char *the = "the", *longw = "contrivance";
    int32_t wthe = lm_word(c, the, 3), wlong = lm_word(c, longw, strlen(longw));
    int32_t rthe = lm_word(ref, the, 3), rlong = lm_word(ref, longw, strlen(longw));
    int32_t s0 = 0, s1 = 1, s2 = 2, s3 = 3;
    float sc, want, want2, fl;
    for (int round = 0; round < 2; round++) {
        /* slot 1 = after "the" (round 1: a fresh state in a reused slot) */
        assert_int_equal(lm_start(c, &s0, 1, &err), RD_OK);
        assert_int_equal(lm_score_words(c, &s0, &wthe, &s1, 1, &sc, &err), RD_OK);
        /* the full word from scratch in ref: its score and rows */
        assert_int_equal(lm_start(ref, &s0, 1, &err), RD_OK);
        assert_int_equal(lm_score_words(ref, &s0, &rthe, &s1, 1, &sc, &err), RD_OK);
        long long r0 = lm_rwkv_rows(ref);
        assert_int_equal(lm_score_words(ref, &s1, &rlong, &s2, 1, &want, &err), RD_OK);
        long long full = lm_rwkv_rows(ref) - r0;
        assert_true(full >= 11); /* the pending token and 10 of the word's 12 bytes at least */
        /* a floor half way: given up part way */
        fl = want / 2;
        r0 = lm_rwkv_rows(c);
        assert_int_equal(lm_score_words_floor(c, &s1, &wlong, &s2, 1, &fl, &sc, &err), RD_OK);
        assert_true(sc == -INFINITY);
        long long first = lm_rwkv_rows(c) - r0;
        assert_true(first > 0 && first < full);
        /* again, the same floor: no row at all */
        r0 = lm_rwkv_rows(c);
        assert_int_equal(lm_score_words_floor(c, &s1, &wlong, &s3, 1, &fl, &sc, &err), RD_OK);
        assert_true(sc == -INFINITY);
        assert_int_equal(lm_rwkv_rows(c) - r0, 0);
        /* a floor below the score: resumed, the rest of the rows only */
        fl = want - 1.0f;
        r0 = lm_rwkv_rows(c);
        assert_int_equal(lm_score_words_floor(c, &s1, &wlong, &s2, 1, &fl, &sc, &err), RD_OK);
        assert_float_equal(sc, want, 1e-5);
        assert_int_equal(first + (lm_rwkv_rows(c) - r0), full);
        /* the child state is the word's: </s> as in the replay */
        float got, ref_end;
        assert_int_equal(lm_finish(c, &s2, 1, &got, &err), RD_OK);
        assert_int_equal(lm_finish(ref, &s2, 1, &ref_end, &err), RD_OK);
        assert_float_equal(got, ref_end, 1e-5);
        /* another word with the same beginning starts where that one got
         * to: " contrivances" is the state after " contrivanc" (held from
         * the call before) and one row for its last two bytes */
        int32_t wplural = lm_word(c, "contrivances", 12), rplural = lm_word(ref, "contrivances", 12);
        r0 = lm_rwkv_rows(c);
        assert_int_equal(lm_score_words(c, &s1, &wplural, &s3, 1, &sc, &err), RD_OK);
        assert_int_equal(lm_rwkv_rows(c) - r0, 1);
        assert_int_equal(lm_score_words(ref, &s1, &rplural, &s3, 1, &want2, &err), RD_OK);
        assert_float_equal(sc, want2, 1e-5);
        /* slot 2 dropped: asked again with a floor above its score, the
         * word costs no row (given up by its bound, or its state still held:
         * the exact score, which a floor allows) */
        int32_t keep[2] = {0, 1};
        assert_int_equal(lm_reorder(c, keep, 2, &err), RD_OK);
        fl = want + 1.0f;
        r0 = lm_rwkv_rows(c);
        assert_int_equal(lm_score_words_floor(c, &s1, &wlong, &s2, 1, &fl, &sc, &err), RD_OK);
        assert_true(sc == -INFINITY || fabsf(sc - want) <= 1e-5f);
        assert_int_equal(lm_rwkv_rows(c) - r0, 0);
        /* and twice more with no floor: the exact score, still no row (the
         * prefix states of the word are held from call to call while used) */
        for (int k = 0; k < 2; k++) {
            r0 = lm_rwkv_rows(c);
            assert_int_equal(lm_score_words(c, &s1, &wlong, &s3, 1, &sc, &err), RD_OK);
            assert_float_equal(sc, want, 1e-5);
            assert_int_equal(lm_rwkv_rows(c) - r0, 0);
        }
        /* every slot but 0 forgotten: round 1 reuses the slots */
        assert_int_equal(lm_reorder(c, &s0, 1, &err), RD_OK);
        assert_int_equal(lm_reorder(ref, &s0, 1, &err), RD_OK);
    }
    lm_cache_free(c);
    lm_cache_free(ref);
    lm_free(m);
}

/* The states the RWKV LM holds between calls (prefixes) never starve a
 * call of the physical slots it needs: with 64 slots, after 32 long words
 * scored into slots 0..31 (each call holding what it wrote), </s> of all 64
 * slots at once, unigrams and a loaded state all succeed, and the scores
 * equal a fresh cache's. */
static void test_rwkv_lm_holds_give_way(void **state) {
    lm_model *m = tiny_rwkv_lm_or_skip();
    lm_cache *c, *ref;
    rd_error err;
    enum { NS = 64, NW = 32 };
    assert_int_equal(lm_cache_create(m, NS, &c, &err), RD_OK);
    assert_int_equal(lm_cache_create(m, NS, &ref, &err), RD_OK);
    int32_t parent[NW], child[NW], w[NW], wr[NW], all[NS];
    float sc[NS], want[NS], fl[NW];
    for (int i = 0; i < NW; i++) {
        char t[32];
        snprintf(t, sizeof t, "%ccontrivances%c", 'a' + i % 26, 'a' + i / 26);
        parent[i] = 0;
        child[i] = i;
        w[i] = lm_word(c, t, strlen(t));
        wr[i] = lm_word(ref, t, strlen(t));
        fl[i] = -1e30f;
    }
    for (int i = 0; i < NS; i++) all[i] = i;
    float *st = malloc(lm_state_size(m) * sizeof *st);
    assert_non_null(st);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(lm_score_words_floor(c, parent, w, child, NW, fl, sc, &err), RD_OK);
        assert_int_equal(lm_score_words(ref, parent, wr, child, NW, want, &err), RD_OK);
        for (int i = 0; i < NW; i++) assert_float_equal(sc[i], want[i], 1e-5);
        assert_int_equal(lm_finish(c, all, NS, sc, &err), RD_OK);
        assert_int_equal(lm_finish(ref, all, NS, want, &err), RD_OK);
        for (int i = 0; i < NS; i++) assert_float_equal(sc[i], want[i], 1e-5);
        assert_int_equal(lm_unigrams(c, w, NW, sc, &err), RD_OK);
        int32_t pend;
        assert_int_equal(lm_state_get(c, 1, st, &pend, &err), RD_OK);
        assert_int_equal(lm_state_set(c, NS - 1, st, pend, &err), RD_OK);
        assert_int_equal(lm_state_get(ref, 1, st, &pend, &err), RD_OK);
        assert_int_equal(lm_state_set(ref, NS - 1, st, pend, &err), RD_OK);
        for (int i = 0; i < NW; i++) parent[i] = i; /* then onwards from each slot */
    }
    free(st);
    lm_cache_free(c);
    lm_cache_free(ref);
    lm_free(m);
}

/* ln p(word vocab[w] | the words vocab[h[0..n)]) and, with fin, ln p(</s>)
 * after it: each from a cache of its own, fed word by word in slot 0. */
static float fresh_score(lm_model *m, const char *const *vocab, const int *h, int n, int w, int fin) {
    lm_cache *x;
    rd_error err;
    assert_int_equal(lm_cache_create(m, 2, &x, &err), RD_OK);
    int32_t z = 0;
    float s = 0;
    for (int t = 0; t <= n; t++) {
        const char *txt = vocab[t < n ? h[t] : w];
        int32_t id = lm_word(x, txt, strlen(txt));
        assert_int_equal(lm_score_words(x, &z, &id, &z, 1, &s, &err), RD_OK);
    }
    if (fin) assert_int_equal(lm_finish(x, &z, 1, &s, &err), RD_OK);
    lm_cache_free(x);
    return s;
}

/* A remembered prefix state alive only through a slot that the same call
 * rebinds: " contrivance" into slot 1, its prefixes let go by a later call,
 * then " contrivances" from slot 0 into slot 1 again starts from the state
 * slot 1 holds (" contrivanc") while the call takes slot 1 away from it.
 * The state must stay held, not go back to the free list while in use (it
 * did: it went there twice, and two rows of a later call shared it). The
 * busy calls after it must score every word and </s> as fresh caches do. */
static void test_rwkv_lm_prefix_of_rebound_slot(void **state) {
    lm_model *m = tiny_rwkv_lm_or_skip();
    lm_cache *c;
    rd_error err;
    enum { NS = 64, NW = 24 };
    static const char *const vocab[] = {"contrivance", "the", "contrivances", "cat", "catalogue", "contrive"};
    assert_int_equal(lm_cache_create(m, NS, &c, &err), RD_OK);
    int32_t id[6];
    for (int i = 0; i < 6; i++) id[i] = lm_word(c, vocab[i], strlen(vocab[i]));
    int hist[NS][4], hlen[NS] = {0};
    float sc[NS];
    int32_t s0 = 0, s1 = 1, s2 = 2;
    assert_int_equal(lm_score_words(c, &s0, &id[0], &s1, 1, sc, &err), RD_OK); /* slot 1: contrivance */
    assert_int_equal(lm_score_words(c, &s0, &id[1], &s2, 1, sc, &err), RD_OK); /* slot 2: the */
    assert_int_equal(lm_score_words(c, &s2, &id[1], &s2, 1, sc, &err), RD_OK); /* slot 2: the the */
    assert_int_equal(lm_score_words(c, &s0, &id[2], &s1, 1, sc, &err), RD_OK); /* slot 1: contrivances */
    assert_float_equal(sc[0], fresh_score(m, vocab, NULL, 0, 2, 0), 1e-5);
    if (lm_rwkv_check(c, &err) != RD_OK) fail_msg("%s", err.msg);
    hist[1][0] = 2, hlen[1] = 1;
    hist[2][0] = 1, hist[2][1] = 1, hlen[2] = 2;
    /* busy calls: every word from slots 1 and 2 into 3.., then back */
    for (int round = 0; round < 3; round++) {
        int32_t parent[NW], child[NW], w[NW];
        int wi[NW];
        for (int i = 0; i < NW; i++) {
            parent[i] = 1 + (i + round) % 2;
            child[i] = 3 + i;
            wi[i] = (i / 2 + round) % 6;
            w[i] = id[wi[i]];
        }
        assert_int_equal(lm_score_words(c, parent, w, child, NW, sc, &err), RD_OK);
        if (lm_rwkv_check(c, &err) != RD_OK) fail_msg("%s", err.msg);
        for (int i = 0; i < NW; i++) {
            int p = parent[i];
            assert_float_equal(sc[i], fresh_score(m, vocab, hist[p], hlen[p], wi[i], 0), 1e-5);
            memcpy(hist[child[i]], hist[p], sizeof hist[p]);
            hist[child[i]][hlen[p]] = wi[i];
            hlen[child[i]] = hlen[p] + 1;
        }
        int32_t all[NW];
        for (int i = 0; i < NW; i++) all[i] = 3 + i;
        assert_int_equal(lm_finish(c, all, NW, sc, &err), RD_OK);
        for (int i = 0; i < NW; i++)
            assert_float_equal(sc[i], fresh_score(m, vocab, hist[3 + i], hlen[3 + i] - 1, hist[3 + i][hlen[3 + i] - 1], 1),
                               1e-5);
        /* slots 1 and 2 take two of the new states (histories of at most 4 words) */
        int32_t from[2] = {3 + round, 4 + round}, to[2] = {1, 2}, ww[2] = {id[0], id[3]};
        assert_int_equal(lm_score_words(c, from, ww, to, 2, sc, &err), RD_OK);
        int nh[2][4], nl[2];
        for (int k = 0; k < 2; k++) {
            assert_float_equal(sc[k], fresh_score(m, vocab, hist[from[k]], hlen[from[k]], k ? 3 : 0, 0), 1e-5);
            memcpy(nh[k], hist[from[k]], sizeof nh[k]);
            nh[k][hlen[from[k]]] = k ? 3 : 0;
            nl[k] = hlen[from[k]] + 1;
        }
        for (int k = 0; k < 2; k++) {
            memcpy(hist[to[k]], nh[k], sizeof nh[k]);
            hlen[to[k]] = nl[k];
        }
        if (hlen[1] >= 4 || hlen[2] >= 4) break;
    }
    lm_cache_free(c);
    lm_free(m);
}

/* lm_unigrams equals scoring the word from a fresh slot; lm_lookahead is an
 * upper bound, equal for words of at most 4 tokens. */
static void test_rwkv_unigrams(void **state) {
    static const char *const words[] = {"the", "then", "there", "their", "theirs", "a", "cat", "catalogue",
                                        "contrivance", "x"};
    enum { NW = 10 };
    lm_model *m = tiny_rwkv_lm_or_skip();
    lm_cache *c;
    rd_error err;
    assert_int_equal(lm_cache_create(m, 8, &c, &err), RD_OK);
    int32_t w[NW];
    float uni[NW], la[NW];
    for (int i = 0; i < NW; i++) w[i] = lm_word(c, words[i], strlen(words[i]));
    assert_int_equal(lm_lookahead(c, w, NW, la, &err), RD_OK);
    assert_int_equal(lm_unigrams(c, w, NW, uni, &err), RD_OK);
    for (int i = 0; i < NW; i++) {
        int32_t s = 0;
        float want;
        assert_int_equal(lm_start(c, &s, 1, &err), RD_OK);
        assert_int_equal(lm_score_words(c, &s, &w[i], &s, 1, &want, &err), RD_OK);
        assert_float_equal(uni[i], want, 1e-5);
        assert_true(la[i] >= uni[i] - 1e-5f);
        if (strlen(words[i]) + 1 <= 4) assert_float_equal(la[i], uni[i], 1e-5); /* " the": 4 bytes */
        else assert_true(la[i] > uni[i]);
    }
    lm_cache_free(c);
    lm_free(m);
}

/* The word table is the model's, shared by every thread's cache (issue 15
 * item 2): caches created in four threads, each adding the same words in
 * its own order, get the same handle for a word, and the unigram and
 * look-ahead values equal those of a separately loaded model bit for bit
 * (computed once, under the model's lock, whoever asks first). Under ASan
 * (make check-asan) this also checks that concurrent lookups read no freed
 * memory while other threads add words. */
enum { SHARED_NW = 12, SHARED_THREADS = 4 };
static const char *const shared_words[SHARED_NW] = {"the", "then", "there", "their", "a", "cat",
                                                    "catalogue", "contrivance", "x", "love", "making", "picnic"};
typedef struct shared_job {
    lm_model *m;
    int rot;
    int32_t w[SHARED_NW]; /* by word index */
    float uni[SHARED_NW], la[SHARED_NW];
    rd_status st;
} shared_job;

static void *shared_worker(void *p) {
    shared_job *j = p;
    rd_error err;
    lm_cache *c;
    j->st = lm_cache_create(j->m, 8, &c, &err);
    if (j->st != RD_OK) return NULL;
    for (int k = 0; k < SHARED_NW; k++) {
        int i = (k + j->rot) % SHARED_NW;
        j->w[i] = lm_word(c, shared_words[i], strlen(shared_words[i]));
    }
    j->st = lm_lookahead(c, j->w, SHARED_NW, j->la, &err);
    if (j->st == RD_OK) j->st = lm_unigrams(c, j->w, SHARED_NW, j->uni, &err);
    lm_cache_free(c);
    return NULL;
}

static void test_rwkv_words_shared(void **state) {
    lm_model *m = tiny_rwkv_lm_or_skip(), *ref = tiny_rwkv_lm_or_skip();
    lm_cache *rc;
    rd_error err;
    assert_int_equal(lm_cache_create(ref, 8, &rc, &err), RD_OK);
    int32_t rw[SHARED_NW];
    float runi[SHARED_NW], rla[SHARED_NW];
    for (int i = 0; i < SHARED_NW; i++) rw[i] = lm_word(rc, shared_words[i], strlen(shared_words[i]));
    assert_int_equal(lm_lookahead(rc, rw, SHARED_NW, rla, &err), RD_OK);
    assert_int_equal(lm_unigrams(rc, rw, SHARED_NW, runi, &err), RD_OK);
    shared_job job[SHARED_THREADS];
    pthread_t th[SHARED_THREADS];
    for (int t = 0; t < SHARED_THREADS; t++) {
        job[t] = (shared_job){.m = m, .rot = 5 * t};
        assert_int_equal(pthread_create(&th[t], NULL, shared_worker, &job[t]), 0);
    }
    for (int t = 0; t < SHARED_THREADS; t++) assert_int_equal(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < SHARED_THREADS; t++) {
        assert_int_equal(job[t].st, RD_OK);
        for (int i = 0; i < SHARED_NW; i++) {
            assert_int_equal(job[t].w[i], job[0].w[i]); /* one table: one handle per word */
            assert_memory_equal(&job[t].uni[i], &runi[i], sizeof(float));
            assert_memory_equal(&job[t].la[i], &rla[i], sizeof(float));
        }
    }
    /* a cache made later finds every word already there */
    lm_cache *late;
    assert_int_equal(lm_cache_create(m, 2, &late, &err), RD_OK);
    for (int i = 0; i < SHARED_NW; i++) assert_int_equal(lm_word(late, shared_words[i], strlen(shared_words[i])), job[0].w[i]);
    lm_cache_free(late);
    lm_cache_free(rc);
    lm_free(ref);
    lm_free(m);
}

/* ---------- a hostile second look at the RWKV LM's memory of word costs ---------- */

/* Long random sequences of every lm_cache call over words with shared
 * beginnings (the word memo, bounds, prefix states held between calls and
 * make_room all come into play): each finite score equals the word scored
 * after its slot's history in a brand-new cache (nothing remembered), each
 * -inf is below its floor, every defined slot's </s> and every unigram
 * equal the brand-new cache's. Caches of 1..80 slots, floors very high,
 * very low or near the score, no floor, duplicate requests in one call,
 * children equal to parents, fp16 state, a mix with an ARPA model. */
static const char *const torture_words[] = {
    "contrivance", "contrivances", "contrive", "con", "cat", "catalogue", "catalog", "cats", "c", "the",
    "then", "there", "their", "a", "contrivancez", "co", "ca", "theirs", "catalogues", "x",
    "", /* one token: the space */
    "incomprehensibilities-of-the-contrivances-of-the-catalogues-of-cats-and-contrivances" /* cut at 64 */};
enum { TW = sizeof torture_words / sizeof *torture_words, TMAXSLOT = 80, THIST = 12, TMEMO = 4096 };

typedef struct torture {
    lm_model *m, *parts[2];
    int32_t w[TW];
    int nslot;
    const char *start; /* lm_set_start's text (a warm start), NULL: none */
    history hist[TMAXSLOT];
    /* replays already computed: (history, word or -1 for </s>) -> score */
    history key[TMEMO];
    int key_w[TMEMO], n_memo;
    float val[TMEMO];
    int checked, gave_up, hits;
} torture;

/* ln p(word w | h) (w = -1: </s>) from a brand-new cache. */
static float torture_replay(torture *t, const history *h, int w) {
    for (int i = 0; i < t->n_memo; i++)
        if (t->key_w[i] == w && t->key[i].len == h->len &&
            memcmp(t->key[i].tok, h->tok, (size_t)h->len * sizeof(int32_t)) == 0) {
            t->hits++;
            return t->val[i];
        }
    rd_error err;
    lm_cache *ref;
    assert_int_equal(lm_cache_create(t->m, 1, &ref, &err), RD_OK);
    lm_start_spec spec = {NULL, 0, t->start};
    if (t->start) assert_int_equal(lm_set_start(ref, &spec, &err), RD_OK);
    int32_t z = 0, wr[TW];
    assert_int_equal(lm_start(ref, &z, 1, &err), RD_OK);
    float dummy, got;
    for (int i = 0; i < TW; i++) wr[i] = lm_word(ref, torture_words[i], strlen(torture_words[i]));
    for (int k = 0; k < h->len; k++)
        assert_int_equal(lm_score_words(ref, &z, &wr[h->tok[k]], &z, 1, &dummy, &err), RD_OK);
    if (w >= 0) assert_int_equal(lm_score_words(ref, &z, &wr[w], &z, 1, &got, &err), RD_OK);
    else assert_int_equal(lm_finish(ref, &z, 1, &got, &err), RD_OK);
    lm_cache_free(ref);
    if (t->n_memo < TMEMO) {
        t->key[t->n_memo] = *h;
        t->key_w[t->n_memo] = w;
        t->val[t->n_memo++] = got;
    }
    return got;
}

static int torture_defined(const history *h) { return h->len >= 0 && h->len < THIST; }

/* </s> of a few random slots (all when few), each defined one checked. */
static void torture_check_ends(torture *t, lm_cache *c, int all) {
    rd_error err;
    int32_t s[TMAXSLOT];
    float got[TMAXSLOT];
    int n = 0;
    for (int i = 0; i < t->nslot; i++)
        if (torture_defined(&t->hist[i]) && (all || rand() % 4 == 0)) s[n++] = i;
    if (n == 0) return;
    assert_int_equal(lm_finish(c, s, n, got, &err), RD_OK);
    for (int i = 0; i < n; i++) {
        float want = torture_replay(t, &t->hist[s[i]], -1);
        if (fabsf(got[i] - want) > 1e-5f)
            fail_msg("</s> of slot %d (history of %d words): %.7g, a fresh cache %.7g", s[i], t->hist[s[i]].len,
                     got[i], want);
        t->checked++;
    }
}

static void torture_score(torture *t, lm_cache *c) {
    rd_error err;
    int32_t parent[TMAXSLOT], child[TMAXSLOT], word[TMAXSLOT], wi[TMAXSLOT];
    float fl[TMAXSLOT], sc[TMAXSLOT];
    history par[TMAXSLOT];
    int used[TMAXSLOT] = {0};
    /* up to every slot at once, some calls with every slot */
    int n = rand() % 4 == 0 ? t->nslot : 1 + rand() % (t->nslot < 8 ? t->nslot : 8);
    int np = 1 + rand() % 3; /* few distinct parents: their words come again */
    int32_t pp[3];
    for (int k = 0; k < np; k++) pp[k] = rand() % t->nslot;
    int floors = rand() % 4 != 0;
    for (int i = 0; i < n; i++) {
        parent[i] = rand() % 5 == 0 ? rand() % t->nslot : pp[rand() % np];
        if (i > 0 && rand() % 6 == 0) { /* a duplicate request */
            parent[i] = parent[i - 1];
            wi[i] = wi[i - 1];
        } else {
            wi[i] = rand() % TW;
        }
        if (!used[parent[i]] && rand() % 3 == 0) child[i] = parent[i];
        else do child[i] = rand() % t->nslot; while (used[child[i]]);
        used[child[i]] = 1;
        word[i] = t->w[wi[i]];
        int kind = rand() % 5;
        fl[i] = kind == 0 ? -1e30f : kind == 1 ? (float)(rand() % 3) : -(float)(rand() % 3000) / 100.0f;
        par[i] = t->hist[parent[i]];
    }
    if (floors) assert_int_equal(lm_score_words_floor(c, parent, word, child, n, fl, sc, &err), RD_OK);
    else assert_int_equal(lm_score_words(c, parent, word, child, n, sc, &err), RD_OK);
    for (int i = 0; i < n; i++) {
        history h = par[i];
        if (!torture_defined(&h)) {
            t->hist[child[i]].len = -1;
            continue;
        }
        float want = torture_replay(t, &h, wi[i]);
        if (sc[i] == -INFINITY && floors) {
            if (!(want < fl[i]))
                fail_msg("slot %d -> %d, \"%s\" after %d words: given up under floor %g, but scores %.7g",
                         parent[i], child[i], torture_words[wi[i]], h.len, fl[i], want);
            t->gave_up++;
            h.len = -1;
        } else {
            if (!(fabsf(sc[i] - want) <= 1e-5f))
                fail_msg("slot %d -> %d, \"%s\" after %d words (floor %g): %.7g, a fresh cache %.7g", parent[i],
                         child[i], torture_words[wi[i]], h.len, floors ? fl[i] : -INFINITY, sc[i], want);
            h.tok[h.len++] = wi[i];
            t->checked++;
        }
        t->hist[child[i]] = h;
    }
}

static void torture_run(const char *path, const char *path2, int dtype, int int8, const char *start, unsigned seed,
                        int nslot, int rounds) {
    torture *t = calloc(1, sizeof *t);
    assert_non_null(t);
    rd_error err;
    lm_load_options lo = {0};
    lo.state_dtype = dtype;
    lo.state_int8_sim = int8;
    if (path2) {
        assert_int_equal(lm_load(path, &lo, &t->parts[0], &err), RD_OK);
        assert_int_equal(lm_load(path2, &lo, &t->parts[1], &err), RD_OK);
        float wts[2] = {0.5f, 0.25f};
        assert_int_equal(lm_mix(t->parts, wts, 2, &t->m, &err), RD_OK);
    } else {
        assert_int_equal(lm_load(path, &lo, &t->m, &err), RD_OK);
    }
    t->nslot = nslot;
    t->start = start;
    lm_cache *c;
    assert_int_equal(lm_cache_create(t->m, nslot, &c, &err), RD_OK);
    if (start) {
        lm_start_spec spec = {NULL, 0, start};
        int32_t all[TMAXSLOT];
        for (int i = 0; i < nslot; i++) all[i] = i;
        assert_int_equal(lm_set_start(c, &spec, &err), RD_OK);
        assert_int_equal(lm_start(c, all, nslot, &err), RD_OK);
    }
    for (int i = 0; i < TW; i++) t->w[i] = lm_word(c, torture_words[i], strlen(torture_words[i]));
    size_t ss = lm_state_size(t->m);
    float *st = ss ? malloc(ss * sizeof *st) : NULL;
    srand(seed);
    for (int r = 0; r < rounds; r++) {
        /* long and undefined histories start afresh (replays stay short) */
        int32_t fresh[TMAXSLOT];
        int nf = 0;
        for (int i = 0; i < nslot; i++)
            if (t->hist[i].len >= 8 || (t->hist[i].len < 0 && rand() % 2)) {
                fresh[nf++] = i;
                t->hist[i].len = 0;
            }
        if (nf > 0) assert_int_equal(lm_start(c, fresh, nf, &err), RD_OK);
        int op = rand() % 16;
        if (op < 8) {
            torture_score(t, c);
        } else if (op == 8) { /* reorder */
            int n = 1 + rand() % nslot;
            int32_t surv[TMAXSLOT];
            history tmp[TMAXSLOT];
            for (int i = 0; i < n; i++) surv[i] = rand() % nslot;
            assert_int_equal(lm_reorder(c, surv, n, &err), RD_OK);
            for (int i = 0; i < n; i++) tmp[i] = t->hist[surv[i]];
            for (int i = 0; i < n; i++) t->hist[i] = tmp[i];
            for (int i = n; i < nslot; i++) t->hist[i].len = -1;
        } else if (op == 9) { /* copy */
            int32_t a = rand() % nslot, b = rand() % nslot;
            assert_int_equal(lm_copy(c, a, b, &err), RD_OK);
            t->hist[b] = t->hist[a];
        } else if (op == 10) { /* start some slots */
            int32_t s[TMAXSLOT];
            int n = 1 + rand() % (nslot < 4 ? nslot : 4);
            for (int i = 0; i < n; i++) {
                s[i] = rand() % nslot;
                t->hist[s[i]].len = 0;
            }
            assert_int_equal(lm_start(c, s, n, &err), RD_OK);
        } else if (op == 11 && st) { /* a slot's state into another slot */
            int32_t a = rand() % nslot, b = rand() % nslot, pend;
            if (!torture_defined(&t->hist[a])) continue;
            assert_int_equal(lm_state_get(c, a, st, &pend, &err), RD_OK);
            assert_int_equal(lm_state_set(c, b, st, pend, &err), RD_OK);
            t->hist[b] = t->hist[a];
        } else if (op == 12) { /* unigrams: a word from the start */
            int32_t w[4];
            int wi[4], n = 1 + rand() % 4;
            float got[4];
            for (int i = 0; i < n; i++) w[i] = t->w[wi[i] = rand() % TW];
            float la[4];
            assert_int_equal(lm_unigrams(c, w, n, got, &err), RD_OK);
            assert_int_equal(lm_lookahead(c, w, n, la, &err), RD_OK);
            for (int i = 0; i < n; i++) assert_true(la[i] >= got[i] - 1e-5f); /* an upper bound */
            history h0 = {0};
            /* the RWKV model's is the word from the model's start state (an
             * ARPA model's, in a mix, is its unigram; a warm start is not
             * the model's: the call still takes slots) */
            for (int i = 0; i < n && !path2 && !start; i++) assert_float_equal(got[i], torture_replay(t, &h0, wi[i]), 1e-5);
        } else {
            torture_check_ends(t, c, 0);
        }
    }
    torture_check_ends(t, c, 1);
    assert_true(t->checked > rounds / 5); /* the checks ran */
    free(st);
    lm_cache_free(c);
    lm_free(t->m);
    lm_free(t->parts[0]);
    lm_free(t->parts[1]);
    free(t);
}

/* The cases make test runs: model, a model mixed in, state dtype, slots,
 * rounds. RD_TORTURE=N runs N more seeds of each (exploration). */
typedef struct torture_case {
    const char *rel, *rel2;
    int dtype, int8, slots, rounds; /* int8: states rounded as int8 at rest would be */
    const char *start;              /* a warm start's text, or NULL */
} torture_case;

static void torture_cases(const torture_case *tc, int n) {
    const char *env = getenv("RD_TORTURE");
    int extra = env ? atoi(env) : 0;
    for (int k = 0; k < n; k++) {
        char path[512], path2[512];
        RD_DATA_OR_SKIP(path, tc[k].rel);
        if (tc[k].rel2) RD_DATA_OR_SKIP(path2, tc[k].rel2);
        for (int s = 0; s <= extra; s++)
            torture_run(path, tc[k].rel2 ? path2 : NULL, tc[k].dtype, tc[k].int8, tc[k].start, 1000u * (unsigned)k + (unsigned)s + 7u,
                        tc[k].slots, tc[k].rounds);
    }
}

static void test_rwkv_lm_torture(void **state) {
    static const torture_case tc[] = {
        {"rwkv/tiny-rwkv-7v0-834K-FP32.bin", NULL, RD_F32, 0, 1, 100, NULL},
        {"rwkv/tiny-rwkv-7v0-834K-FP32.bin", NULL, RD_F32, 0, 3, 100, NULL},
        {"rwkv/tiny-rwkv-7v0-834K-FP32.bin", NULL, RD_F32, 0, 12, 100, NULL},
        {"rwkv/tiny-rwkv-7v0-834K-FP32.bin", NULL, RD_F32, 0, 80, 60, NULL},
        {"rwkv/tiny-rwkv-7v0-834K-FP32.bin", NULL, RD_F16, 0, 7, 100, NULL},
        {"rwkv/tiny-rwkv-7v0-834K-FP32.bin", NULL, RD_F32, 1, 4, 100, NULL},
        {"rwkv/tiny-rwkv-7v0-834K-FP32.bin", NULL, RD_F32, 0, 9, 80, "the cat"},
        {"rwkv/tiny-rwkv-4v0-660K-FP32.bin", NULL, RD_F32, 0, 5, 100, NULL},
        {"rwkv/english-rwkv7-2m-bytes.pth", NULL, RD_F32, 0, 6, 80, NULL},
        {"lm/ocr-bigram.arpa", "rwkv/tiny-rwkv-7v0-834K-FP32.bin", RD_F32, 0, 6, 100, NULL},
    };
    torture_cases(tc, sizeof tc / sizeof *tc);
}

static void test_rwkv_lm_resume_from_child(void **state) {
    lm_model *m = tiny_rwkv_lm_or_skip();
    lm_cache *c;
    rd_error err;
    torture *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->m = m;
    t->nslot = 3;
    assert_int_equal(lm_cache_create(m, 3, &c, &err), RD_OK);
    for (int i = 0; i < TW; i++) t->w[i] = lm_word(c, torture_words[i], strlen(torture_words[i]));
    /* word indices in torture_words */
    enum { CO = 15, CON = 3, A = 13, CONTRIVANCES = 1, CATALOGUE = 5, THEIRS = 17 };
    struct { int32_t parent, child; int w; } calls[] = {
        {0, 1, CO},           /* slot 1: the state after " c", held one call */
        {1, 2, A},            /* another stem: the hold of " c" lapses, slot 1 keeps it */
        {0, 1, CON},          /* resumes from " c" and overwrites slot 1, its last reference */
        {0, 1, CON},          /* remembered: no slot taken, the holds of the call before end */
        {2, 0, CONTRIVANCES}, /* then calls that take and give back slots */
        {1, 2, CATALOGUE},
        {0, 1, THEIRS},
        {2, 0, CON},
        {1, 2, CONTRIVANCES},
    };
    for (size_t k = 0; k < sizeof calls / sizeof *calls; k++) {
        /* each call with two more words from the other slots, so that
         * several stems and rows take slots at once */
        int32_t parent[3], child[3], word[3];
        float sc[3];
        int wi[3];
        history par[3];
        parent[0] = calls[k].parent;
        child[0] = calls[k].child;
        wi[0] = calls[k].w;
        int n = 1;
        for (int s = 0; s < 3 && k >= 4; s++)
            if (s != child[0] && n < 3) {
                parent[n] = s;
                child[n] = s;
                wi[n] = (int)(k + (size_t)s) % TW;
                n++;
            }
        for (int i = 0; i < n; i++) {
            word[i] = t->w[wi[i]];
            par[i] = t->hist[parent[i]];
        }
        assert_int_equal(lm_score_words(c, parent, word, child, n, sc, &err), RD_OK);
        for (int i = 0; i < n; i++) {
            float want = torture_replay(t, &par[i], wi[i]);
            if (!(fabsf(sc[i] - want) <= 1e-5f))
                fail_msg("call %zu: slot %d -> %d, \"%s\": %.7g, a fresh cache %.7g", k, parent[i], child[i],
                         torture_words[wi[i]], sc[i], want);
            par[i].tok[par[i].len++] = wi[i];
            t->hist[child[i]] = par[i];
        }
        torture_check_ends(t, c, 1);
    }
    lm_cache_free(c);
    lm_free(m);
    free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_toy_fp32),       cmocka_unit_test(test_toy_half),
        cmocka_unit_test(test_memory_limit_refused), cmocka_unit_test(test_slot_index),
        cmocka_unit_test(test_rwkv_memory_limit_shared),
        cmocka_unit_test(test_rwkv7_replay),   cmocka_unit_test(test_rwkv4_replay),
        cmocka_unit_test(test_ngram_replay),   cmocka_unit_test(test_rwkv_lm_replay),
        cmocka_unit_test(test_rwkv_unigrams), cmocka_unit_test(test_layer_access),
        cmocka_unit_test(test_int8_rest),     cmocka_unit_test(test_commit_keeps_live_target),
        cmocka_unit_test(test_phys_version), cmocka_unit_test(test_held_fresh_state_is_written),  cmocka_unit_test(test_rwkv_lm_floors), cmocka_unit_test(test_rwkv_lm_bounds_resume), cmocka_unit_test(test_rwkv_lm_holds_give_way), cmocka_unit_test(test_rwkv_lm_prefix_of_rebound_slot),
        cmocka_unit_test(test_mix_lm_floors), cmocka_unit_test(test_rwkv_words_shared),
        cmocka_unit_test(test_rwkv_lm_torture), cmocka_unit_test(test_rwkv_lm_resume_from_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
