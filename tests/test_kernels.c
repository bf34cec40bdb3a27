/* tests/test_kernels.c - CUDA kernels against their CPU references: the
 * batched RWKV step against lmstate/rwkv/rwkv_forward.c (logits and states by
 * normalized mean squared error), log-softmax/top-k and beam top-k against
 * the small C references below (exact indices). GPU tests skip() when no
 * device is found; the no-device messages are checked in every build. */
#include "testutil.h"

#include <math.h>

#include "kernels/kernels.h"
#include "lmstate/rwkv/rwkv.h"
#include "lmstate/rwkv/rwkv_cuda.h"
#include "lmstate/rwkv/rwkv_internal.h"
#include "lmstate/state_cache.h"
#include "testrwkv.h"

#define NMSE_FP32 1e-10
#define ROWS 17

static const char *const V7 = "rwkv/tiny-rwkv-7v0-834K-FP32.bin";
static const char *const V4 = "rwkv/tiny-rwkv-4v0-660K-FP32.bin";

static void gpu_or_skip(void) {
    rd_error why;
    if (!rd_cuda_available(&why)) {
        fprintf(stderr, "skipping: %s\n", why.msg);
        skip();
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static double nmse(const float *got, const float *want, size_t n) {
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        e += d * d;
        s += (double)want[i] * want[i];
    }
    if (!(e == e)) return INFINITY;
    return s > 0 ? e / s : e;
}

/* Every weight scaled by 1 + 0.2 u (u uniform): a different model of the
 * same shape whose decays keep their sign. The FP32 files hold only fp32
 * tensors, so the one allocation is an array of floats (padding stays 0). */
static void perturb(rwkv_model *m) {
    assert_int_equal(m->emb_dtype, RD_F32);
    assert_int_equal(m->head.dtype, RD_F32);
    float *w = (float *)(void *)m->weights;
    for (size_t i = 0; i < m->weight_bytes / sizeof(float); i++) w[i] *= 1.0f + 0.2f * frand();
}

/* ---------- synthetic RWKV-7 models of any shape ---------- */

/* A safetensors file in memory: JSON header, then fp32 data. */
typedef struct stgen {
    char *hdr;
    size_t hlen, hcap;
    float *data;
    size_t n, cap;
} stgen;

static void st_text(stgen *g, const char *t) {
    size_t k = strlen(t);
    if (g->hlen + k + 1 > g->hcap) {
        g->hcap = (g->hlen + k + 1) * 2;
        g->hdr = realloc(g->hdr, g->hcap);
        assert_non_null(g->hdr);
    }
    memcpy(g->hdr + g->hlen, t, k + 1);
    g->hlen += k;
}

/* Tensor name (d1 == 0: a vector of d0), uniform in offset +- scale. */
static void st_tensor(stgen *g, const char *name, int d0, int d1, float scale, float offset) {
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    if (g->n + n > g->cap) {
        g->cap = (g->n + n) * 2;
        g->data = realloc(g->data, g->cap * sizeof(float));
        assert_non_null(g->data);
    }
    for (size_t i = 0; i < n; i++) g->data[g->n + i] = offset + scale * frand();
    char t[256];
    if (d1) snprintf(t, sizeof t, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}",
                     g->hlen > 1 ? "," : "", name, d0, d1, g->n * 4, (g->n + n) * 4);
    else snprintf(t, sizeof t, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]}",
                  g->hlen > 1 ? "," : "", name, d0, g->n * 4, (g->n + n) * 4);
    st_text(g, t);
    g->n += n;
}

typedef struct shape7 {
    int L, C, N, V, F, dw, da, dv, dg;
} shape7;

/* An RWKV-7 of the given shape with random weights (BlinkDL names and
 * layouts: LoRAs as x @ W), loaded through tf_parse + rwkv_from_tensors. */
static rwkv_model *synth7(shape7 z) {
    stgen g = {0};
    st_text(&g, "{");
    float sc = 1.0f / sqrtf((float)z.C);
    st_tensor(&g, "emb.weight", z.V, z.C, 1.0f, 0.0f);
    st_tensor(&g, "blocks.0.ln0.weight", z.C, 0, 0.1f, 1.0f);
    st_tensor(&g, "blocks.0.ln0.bias", z.C, 0, 0.1f, 0.0f);
    for (int l = 0; l < z.L; l++) {
        char n[128];
#define T(suffix, d0, d1, s, o) (snprintf(n, sizeof n, "blocks.%d.%s", l, suffix), st_tensor(&g, n, d0, d1, s, o))
        T("ln1.weight", z.C, 0, 0.1f, 1.0f), T("ln1.bias", z.C, 0, 0.1f, 0.0f);
        T("ln2.weight", z.C, 0, 0.1f, 1.0f), T("ln2.bias", z.C, 0, 0.1f, 0.0f);
        static const char *const mixes[] = {"att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g"};
        for (int q = 0; q < 6; q++) T(mixes[q], z.C, 0, 0.5f, 0.5f);
        T("att.w0", z.C, 0, 1.0f, 0.0f), T("att.a0", z.C, 0, 1.0f, 0.0f);
        if (l > 0) T("att.v0", z.C, 0, 1.0f, 0.0f);
        T("att.k_k", z.C, 0, 0.5f, 0.5f), T("att.k_a", z.C, 0, 0.5f, 0.5f);
        T("att.r_k", z.C / z.N, z.N, 0.5f, 0.0f);
        T("att.ln_x.weight", z.C, 0, 0.1f, 1.0f), T("att.ln_x.bias", z.C, 0, 0.1f, 0.0f);
        T("ffn.x_k", z.C, 0, 0.5f, 0.5f);
        T("att.receptance.weight", z.C, z.C, sc, 0), T("att.key.weight", z.C, z.C, sc, 0);
        T("att.value.weight", z.C, z.C, sc, 0), T("att.output.weight", z.C, z.C, sc, 0);
        T("ffn.key.weight", z.F, z.C, sc, 0), T("ffn.value.weight", z.C, z.F, 1.0f / sqrtf((float)z.F), 0);
        T("att.w1", z.C, z.dw, sc, 0), T("att.w2", z.dw, z.C, 1.0f / sqrtf((float)z.dw), 0);
        T("att.a1", z.C, z.da, sc, 0), T("att.a2", z.da, z.C, 1.0f / sqrtf((float)z.da), 0);
        if (l > 0) T("att.v1", z.C, z.dv, sc, 0), T("att.v2", z.dv, z.C, 1.0f / sqrtf((float)z.dv), 0);
        T("att.g1", z.C, z.dg, sc, 0), T("att.g2", z.dg, z.C, 1.0f / sqrtf((float)z.dg), 0);
#undef T
    }
    st_tensor(&g, "ln_out.weight", z.C, 0, 0.1f, 1.0f);
    st_tensor(&g, "ln_out.bias", z.C, 0, 0.1f, 0.0f);
    st_tensor(&g, "head.weight", z.V, z.C, sc, 0);
    st_text(&g, "}");
    uint64_t hl = g.hlen;
    size_t total = 8 + hl + g.n * 4;
    unsigned char *file = malloc(total);
    assert_non_null(file);
    memcpy(file, &hl, 8);
    memcpy(file + 8, g.hdr, hl);
    memcpy(file + 8 + hl, g.data, g.n * 4);
    tf_file *f;
    rwkv_model *m;
    rd_error err;
    if (tf_parse(file, total, "synth.safetensors", &f, &err) != RD_OK) fail_msg("%s", err.msg);
    if (rwkv_from_tensors(f, "synth", &m, &err) != RD_OK) fail_msg("%s", err.msg);
    tf_close(f);
    free(file), free(g.hdr), free(g.data);
    assert_int_equal(m->head_size, z.N);
    assert_int_equal(m->n_head, z.C / z.N);
    return m;
}

/* ---------- a CPU state of many slots and its GPU twin ---------- */

typedef struct twin {
    const rwkv_model *m;
    int n_slots;
    rd_dtype dt;
    rwkv_state_view v;
    void *mem[RWKV_MAX_KINDS];
    kern_state *g;
} twin;

/* n slots of dtype dt on both sides, every slot at its initial value. */
static void twin_make(const rwkv_model *m, const kern_rwkv *gm, int n, rd_dtype dt, twin *t) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    rd_error err;
    memset(t, 0, sizeof *t);
    t->m = m, t->n_slots = n, t->dt = dt;
    t->v.n_kinds = rwkv_state_kinds(m, info);
    for (int k = 0; k < t->v.n_kinds; k++) {
        t->mem[k] = malloc(info[k].size * (size_t)n * (size_t)m->n_layer * rd_dtype_size(dt));
        t->v.base[k] = t->mem[k];
        t->v.dtype[k] = dt;
        t->v.slot_stride[k] = info[k].size;
        t->v.layer_stride[k] = info[k].size * (size_t)n;
    }
    for (int i = 0; i < n; i++) rwkv_state_reset(m, &t->v, i);
    if (rd_cuda_state_create(gm, n, rwkv_cuda_dtype(dt), &t->g, &err) != RD_OK) fail_msg("%s", err.msg);
}

static void twin_free(twin *t) {
    for (int k = 0; k < RWKV_MAX_KINDS; k++) free(t->mem[k]);
    rd_cuda_state_free(t->g);
}

/* Slot a of the CPU view into buf as fp32, [kind][layer][size] (dir 0), or
 * buf into slot a (dir 1). */
static void cpu_slot_io(const twin *t, int a, float *buf, int dir) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    int nk = rwkv_state_kinds(t->m, info);
    size_t es = rd_dtype_size(t->dt);
    for (int k = 0; k < nk; k++)
        for (int l = 0; l < t->m->n_layer; l++) {
            char *p = (char *)t->v.base[k] + (l * t->v.layer_stride[k] + (size_t)a * t->v.slot_stride[k]) * es;
            if (dir == 0) rd_read_f32(p, t->dt, info[k].size, buf);
            else rd_write_f32(p, t->dt, info[k].size, buf);
            buf += info[k].size;
        }
}

static double worst_state = 0;

static void expect_same_states(const twin *t, double tol) {
    size_t S = rwkv_state_size(t->m);
    float *a = malloc(S * sizeof(float)), *b = malloc(S * sizeof(float));
    rd_error err;
    for (int i = 0; i < t->n_slots; i++) {
        cpu_slot_io(t, i, a, 0);
        assert_int_equal(rd_cuda_state_read(t->g, i, b, &err), RD_OK);
        double e = nmse(b, a, S);
        if (e > worst_state) worst_state = e;
        if (!(e <= tol)) fail_msg("slot %d: state nmse %.3g > %.3g", i, e, tol);
    }
    free(a), free(b);
}

/* The same step on both sides; logits compared. */
typedef struct pair {
    const rwkv_model *m;
    rwkv_workspace *cws;
    const kern_rwkv *gm;
    kern_workspace *gws;
    int rows;
    float *want, *got;
} pair;

static double worst_logits = 0;

static void step_both(pair *p, int n, const int32_t *tok, twin *src, const int32_t *ss, twin *dst,
                      const int32_t *ds, double tol) {
    rd_error err;
    assert_int_equal(rwkv_forward(p->m, p->cws, n, tok, &src->v, ss, &dst->v, ds, p->want, &err), RD_OK);
    for (size_t i = 0; i < (size_t)n * (size_t)p->m->n_vocab; i++) p->got[i] = NAN; /* poisoned */
    if (rd_cuda_rwkv_forward(p->gm, p->gws, n, tok, src->g, ss, dst->g, ds, p->got, &err) != RD_OK)
        fail_msg("%s", err.msg);
    double e = nmse(p->got, p->want, (size_t)n * (size_t)p->m->n_vocab);
    if (e > worst_logits) worst_logits = e;
    if (!(e <= tol)) fail_msg("logits nmse %.3g > %.3g", e, tol);
}

static void pair_make(pair *p, const rwkv_model *m, kern_dtype wtype, int rows, kern_rwkv **gm_out) {
    rd_error err;
    kern_rwkv *gm;
    if (rwkv_cuda_upload(m, wtype, &gm, &err) != RD_OK) fail_msg("%s", err.msg);
    p->m = m, p->gm = gm, p->rows = rows, *gm_out = gm;
    assert_int_equal(rwkv_workspace_create(m, rows, 1, &p->cws, &err), RD_OK);
    assert_int_equal(rd_cuda_workspace_create(gm, rows, &p->gws, &err), RD_OK);
    p->want = malloc((size_t)rows * m->n_vocab * sizeof(float));
    p->got = malloc((size_t)rows * m->n_vocab * sizeof(float));
}

static void pair_free(pair *p, kern_rwkv *gm) {
    rwkv_workspace_free(p->cws);
    rd_cuda_workspace_free(p->gws);
    rd_cuda_rwkv_free(gm);
    free(p->want), free(p->got);
}

/* The V7 model (skips without it) on both sides: pair p with weights of
 * wtype for ROWS rows, twin a of n fp32 slots. */
static rwkv_model *rig_make(pair *p, kern_rwkv **gm, kern_dtype wtype, twin *a, int n) {
    rwkv_model *m = load_or_skip(V7);
    pair_make(p, m, wtype, ROWS, gm);
    twin_make(m, *gm, n, RD_F32, a);
    return m;
}

/* Several in-place updates, then reorders fused into updates (A -> B with
 * repeated parents, B -> A), then unfused copies (one slot copied into
 * twice, the second copy winning), then a state written from the host and
 * stepped: logits and every slot's state as the CPU's, within tol (logits)
 * and stol (states), states of dtype dt on both sides. */
static void parity_rows(rwkv_model *m, int R, rd_dtype dt, double tol, double stol) {
    pair p;
    kern_rwkv *gm;
    pair_make(&p, m, KERN_F32, R, &gm);
    twin a, b;
    twin_make(m, gm, R, dt, &a);
    twin_make(m, gm, R, dt, &b);
    int32_t *tok = malloc((size_t)R * 4), *id = malloc((size_t)R * 4), *par = malloc((size_t)R * 4);
    for (int step = 0; step < 4; step++) {
        for (int i = 0; i < R; i++) tok[i] = (int32_t)((i * 37 + step * 11 + 5) % m->n_vocab), id[i] = i;
        step_both(&p, R - step, tok, &a, id, &a, id, tol);
    }
    expect_same_states(&a, stol);
    for (int step = 0; step < 4; step++) {
        twin *s = step % 2 ? &b : &a, *d = step % 2 ? &a : &b;
        for (int i = 0; i < R; i++) {
            par[i] = (int32_t)((i * 7 + step * 3) % 5);
            tok[i] = (int32_t)((i * 29 + step) % m->n_vocab);
            id[i] = (i * 5 + step) % R; /* a permutation when gcd(5, R) = 1: distinct dst slots */
        }
        step_both(&p, R, tok, s, par, d, id, tol);
        expect_same_states(d, stol);
    }
    rd_error err;
    size_t S = rwkv_state_size(m);
    float *x = malloc(S * sizeof(float)), *y = malloc(S * sizeof(float));
    /* slot 0 of b takes a's slot 1, then a's slot 2: the last copy wins */
    int32_t one = 1, two = 2, zero = 0;
    assert_int_equal(rd_cuda_state_copy(p.gws, a.g, &one, b.g, &zero, 1, &err), RD_OK);
    assert_int_equal(rd_cuda_state_copy(p.gws, a.g, &two, b.g, &zero, 1, &err), RD_OK);
    assert_int_equal(rd_cuda_state_read(a.g, 2, x, &err), RD_OK);
    assert_int_equal(rd_cuda_state_read(b.g, 0, y, &err), RD_OK);
    assert_memory_equal(x, y, S * sizeof(float));
    for (int i = 0; i < R; i++) par[i] = (R - 1 - i) / 2, id[i] = i; /* every parent twice */
    assert_int_equal(rd_cuda_state_copy(p.gws, a.g, par, b.g, id, R, &err), RD_OK);
    for (int i = 0; i < R; i++) {
        assert_int_equal(rd_cuda_state_read(a.g, par[i], x, &err), RD_OK);
        assert_int_equal(rd_cuda_state_read(b.g, i, y, &err), RD_OK);
        assert_memory_equal(x, y, S * sizeof(float));
    }
    /* a host state written into slot 3 of both sides, read back, stepped */
    for (size_t i = 0; i < S; i++) x[i] = 0.5f * frand();
    cpu_slot_io(&a, 3, x, 1);
    cpu_slot_io(&a, 3, x, 0); /* x now holds the dtype's rounding, as the device will */
    assert_int_equal(rd_cuda_state_write(a.g, 3, x, &err), RD_OK);
    assert_int_equal(rd_cuda_state_read(a.g, 3, y, &err), RD_OK);
    assert_memory_equal(x, y, S * sizeof(float));
    int32_t three = 3, t1 = 7 % m->n_vocab;
    step_both(&p, 1, &t1, &a, &three, &a, &three, tol);
    expect_same_states(&a, stol);
    free(x), free(y), free(tok), free(id), free(par);
    twin_free(&a), twin_free(&b);
    pair_free(&p, gm);
}

#define ROWS_BIG 70 /* over the 64-row tile of the matrix products */

/* parity_rows at fp32 for the model at rel (skips without it), its weights
 * perturbed or not. */
static void parity(const char *rel, int perturbed) {
    rwkv_model *m = load_or_skip(rel);
    if (perturbed) perturb(m);
    parity_rows(m, ROWS, RD_F32, NMSE_FP32, NMSE_FP32);
    rwkv_free(m);
}

static void test_parity_v7(void **s) {
    gpu_or_skip();
    parity(V7, 0);
}

static void test_parity_v4(void **s) {
    gpu_or_skip();
    parity(V4, 0);
}

static void test_parity_random(void **s) {
    gpu_or_skip();
    parity(V7, 1);
    parity(V4, 1);
}

/* Synthetic RWKV-7s: head sizes 32, 64 and 128, several heads, odd
 * vocabularies, FFN and LoRA widths, more rows than one 64-row tile, every
 * state dtype. fp16/bf16 states: both sides round at the same points, so
 * they differ only where fp32 summation order flips a rounding; the bounds
 * are about 10x the worst NMSE seen on the CPU emulation (printed). */
#define NMSE_F16_STATE 3e-7
#define NMSE_BF16_STATE 3e-6
static void test_parity_shapes(void **s) {
    gpu_or_skip();
    static const struct { shape7 z; int rows; } cases[] = {
        {{2, 96, 32, 257, 160, 13, 7, 5, 19}, ROWS_BIG},
        {{2, 128, 64, 131, 224, 16, 9, 11, 33}, 21},
        {{1, 256, 128, 67, 96, 3, 5, 1, 7}, 9},
    };
    static const rd_dtype dts[] = {RD_F32, RD_F16, RD_BF16};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        rwkv_model *m = synth7(cases[c].z);
        for (int d = 0; d < 3; d++) {
            worst_logits = worst_state = 0;
            double tol = dts[d] == RD_F32 ? NMSE_FP32 : dts[d] == RD_F16 ? NMSE_F16_STATE : NMSE_BF16_STATE;
            parity_rows(m, cases[c].rows, dts[d], tol, tol);
            fprintf(stderr, "  head %d, C %d, vocab %d, %d rows, %s state: worst nmse logits %.2g, state %.2g\n",
                    cases[c].z.N, cases[c].z.C, cases[c].z.V, cases[c].rows, rd_dtype_name(dts[d]), worst_logits,
                    worst_state);
        }
        rwkv_free(m);
    }
}

/* fp16 weights with bf16 state: close to the fp32 CPU step. */
static void test_half_precision(void **s) {
    gpu_or_skip();
    pair p;
    kern_rwkv *gm;
    twin a;
    rwkv_model *m = rig_make(&p, &gm, KERN_F16, &a, ROWS);
    rd_cuda_state_free(a.g);
    rd_error err;
    assert_int_equal(rd_cuda_state_create(gm, ROWS, KERN_BF16, &a.g, &err), RD_OK);
    int32_t tok[ROWS], id[ROWS];
    worst_logits = worst_state = 0;
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < ROWS; i++) tok[i] = (int32_t)((i * 41 + step * 7) % m->n_vocab), id[i] = i;
        step_both(&p, ROWS, tok, &a, id, &a, id, 1e-3);
    }
    expect_same_states(&a, 1e-3);
    fprintf(stderr, "  fp16 weights, bf16 state vs fp32 CPU: worst nmse logits %.2g, state %.2g\n", worst_logits,
            worst_state);
    twin_free(&a), pair_free(&p, gm), rwkv_free(m);
}

/* ---------- top-k references ---------- */

/* The k best of x[0..n) (value desc, index asc); NaN and -inf never chosen. */
static void topk_ref(const float *x, int n, int k, float *val, int32_t *idx) {
    for (int j = 0; j < k; j++) val[j] = -INFINITY, idx[j] = -1;
    for (int c = 0; c < n; c++) {
        if (!(x[c] > -INFINITY)) continue;
        int j = k;
        while (j > 0 && (idx[j - 1] < 0 || x[c] > val[j - 1])) j--;
        if (j >= k) continue;
        memmove(val + j + 1, val + j, (size_t)(k - j - 1) * sizeof *val);
        memmove(idx + j + 1, idx + j, (size_t)(k - j - 1) * sizeof *idx);
        val[j] = x[c], idx[j] = c;
    }
}

static double lse_ref(const float *x, int n) {
    double m = -INFINITY, s = 0;
    for (int c = 0; c < n; c++) m = x[c] > m ? x[c] : m;
    for (int c = 0; c < n; c++) s += exp(x[c] - m);
    return m + log(s);
}

static void test_logsoftmax_topk(void **s) {
    gpu_or_skip();
    enum { R = 9, V = 65536 };
    static const int ks[] = {1, 5, 16, 33, 64};
    float *x = malloc((size_t)R * V * sizeof(float));
    for (size_t i = 0; i < (size_t)R * V; i++) x[i] = 8.0f * frand();
    for (int c = 0; c < 100; c++) x[(size_t)V + (size_t)c * 7] = 9.5f; /* row 1: ties at the top */
    kern_topk *t;
    rd_error err;
    assert_int_equal(rd_cuda_topk_create(R, V, &t, &err), RD_OK);
    float val[R * 64], want[64], lse[R];
    int32_t idx[R * 64], wi[64];
    for (size_t q = 0; q < sizeof ks / sizeof *ks; q++) {
        int k = ks[q];
        assert_int_equal(rd_cuda_logsoftmax_topk(t, x, R, V, k, val, idx, lse, &err), RD_OK);
        for (int r = 0; r < R; r++) {
            const float *row = x + (size_t)r * V;
            double L = lse_ref(row, V);
            topk_ref(row, V, k, want, wi);
            assert_float_equal(lse[r], L, 1e-4);
            for (int j = 0; j < k; j++) {
                assert_int_equal(idx[r * k + j], wi[j]);
                assert_float_equal(val[r * k + j], want[j] - L, 1e-4);
            }
        }
    }
    assert_int_equal(rd_cuda_logsoftmax_topk(t, x, R, V, 65, val, idx, NULL, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "rd_cuda_logsoftmax_topk: k 65, expected 1..64");
    rd_cuda_topk_free(t);
    free(x);
}

/* The decoder's gather: log P(token) of chosen (row, token) pairs, a row
 * asked for several tokens, and every row's log-sum-exp. */
static void test_logp_gather(void **s) {
    gpu_or_skip();
    pair p;
    kern_rwkv *gm;
    twin a;
    rwkv_model *m = rig_make(&p, &gm, KERN_F32, &a, ROWS);
    int32_t tok[ROWS], id[ROWS];
    for (int i = 0; i < ROWS; i++) tok[i] = (int32_t)((i * 13 + 3) % m->n_vocab), id[i] = i;
    step_both(&p, ROWS, tok, &a, id, &a, id, NMSE_FP32);
    enum { NQ = 3 * ROWS + 5 };
    int32_t qr[NQ], qt[NQ];
    float lp[NQ], lse[ROWS];
    for (int q = 0; q < NQ; q++) qr[q] = (q * 7) % ROWS, qt[q] = (int32_t)((q * 101 + 17) % m->n_vocab);
    rd_error err;
    for (int q = 0; q < NQ; q++) lp[q] = NAN;
    assert_int_equal(rd_cuda_rwkv_logp(p.gws, ROWS, NQ, qr, qt, lp, lse, &err), RD_OK);
    for (int i = 0; i < ROWS; i++) assert_float_equal(lse[i], lse_ref(p.want + (size_t)i * m->n_vocab, m->n_vocab), 1e-4);
    for (int q = 0; q < NQ; q++) {
        const float *row = p.want + (size_t)qr[q] * m->n_vocab;
        assert_float_equal(lp[q], row[qt[q]] - lse_ref(row, m->n_vocab), 1e-4);
    }
    qr[2] = ROWS;
    assert_int_equal(rd_cuda_rwkv_logp(p.gws, ROWS, NQ, qr, qt, lp, lse, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "rd_cuda_rwkv_logp: query 2: row 17 outside 0..16");
    qr[2] = 0, qt[4] = m->n_vocab;
    assert_int_equal(rd_cuda_rwkv_logp(p.gws, ROWS, NQ, qr, qt, lp, NULL, &err), RD_ERR_INPUT);
    assert_string_equal(err.msg, "rd_cuda_rwkv_logp: query 4: token 256 out of range 0..255");
    twin_free(&a), pair_free(&p, gm), rwkv_free(m);
}

/* ---------- the state cache with its states on the device ---------- */

static sc_cache *cache_for(const rwkv_model *m, int n_slots, rd_dtype dt) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    sc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.n_kinds = rwkv_state_kinds(m, info);
    for (int k = 0; k < cfg.n_kinds; k++)
        cfg.kind[k].name = info[k].name, cfg.kind[k].size = info[k].size, cfg.kind[k].init = info[k].init;
    cfg.n_layers = m->n_layer, cfg.n_slots = n_slots, cfg.max_rows = n_slots, cfg.dtype = dt;
    sc_cache *c;
    rd_error err;
    if (sc_create(&cfg, &c, &err) != RD_OK) fail_msg("%s", err.msg);
    return c;
}

/* The same steps, reorders and resets on a host cache (rwkv_forward over its
 * view) and on a device cache: asked log-probabilities, row sums and every
 * slot's state agree. */
static void cache_parity(rwkv_model *m, rd_dtype dt, double tol) {
    enum { S = 12, NQ = 2 * S };
    rd_error err;
    kern_rwkv *gm;
    if (rwkv_cuda_upload(m, KERN_F32, &gm, &err) != RD_OK) fail_msg("%s", err.msg);
    sc_cache *hc = cache_for(m, S, dt), *dc = cache_for(m, S, dt);
    rwkv_cuda_cache *d;
    if (rwkv_cuda_cache_create(gm, dc, NULL, &d, &err) != RD_OK) fail_msg("%s", err.msg);
    rwkv_workspace *ws;
    assert_int_equal(rwkv_workspace_create(m, S, 1, &ws, &err), RD_OK);
    rwkv_state_view v;
    sc_view(hc, &v);
    size_t V = (size_t)m->n_vocab, SZ = rwkv_state_size(m);
    float *logits = malloc(S * V * sizeof(float)), *a = malloc(SZ * 4), *b = malloc(SZ * 4);
    int32_t tok[S], src[S], child[S], sp[S], dp[S], qr[NQ], qt[NQ], surv[S], rs[3] = {1, 4, 9};
    float lp[NQ], want[NQ], lse[S];
    for (int step = 0; step < 5; step++) {
        int n = step == 2 ? S - 3 : S;
        for (int i = 0; i < n; i++) {
            tok[i] = (int32_t)((i * 31 + step * 17 + 1) % m->n_vocab);
            src[i] = step == 0 ? i : (i * 5 + step) % S; /* repeated parents */
            child[i] = (i * 7 + step) % S;                /* distinct: 7 and 12 coprime */
        }
        for (int q = 0; q < NQ; q++) qr[q] = (q * 5) % n, qt[q] = (int32_t)((q * 97 + step) % m->n_vocab);
        assert_int_equal(sc_update_begin(hc, src, n, sp, dp, &err), RD_OK);
        assert_int_equal(rwkv_forward(m, ws, n, tok, &v, sp, &v, dp, logits, &err), RD_OK);
        sc_update_commit(hc, child, dp, n);
        for (int q = 0; q < NQ; q++) {
            const float *row = logits + (size_t)qr[q] * V;
            want[q] = (float)(row[qt[q]] - lse_ref(row, m->n_vocab));
        }
        for (int q = 0; q < NQ; q++) lp[q] = NAN;
        if (rwkv_cuda_cache_step(d, n, tok, src, child, NQ, qr, qt, lp, lse, &err) != RD_OK) fail_msg("%s", err.msg);
        double e = nmse(lp, want, NQ);
        if (!(e <= tol)) fail_msg("step %d: log P nmse %.3g > %.3g", step, e, tol);
        for (int i = 0; i < n; i++) assert_float_equal(lse[i], lse_ref(logits + (size_t)i * V, m->n_vocab), 1e-3);
        /* reorder (with repeats) and reset: host map operations on both caches */
        for (int i = 0; i < S; i++) surv[i] = (i * 3 + step) % S / 2;
        assert_int_equal(sc_reorder(hc, surv, S, &err), RD_OK);
        assert_int_equal(sc_reorder(dc, surv, S, &err), RD_OK);
        if (step == 3) sc_reset(hc, rs, 3), sc_reset(dc, rs, 3);
        for (int i = 0; i < S; i++) {
            sc_gather(hc, &i, 1, a);
            assert_int_equal(rwkv_cuda_cache_read(d, i, b, &err), RD_OK);
            e = nmse(b, a, SZ);
            if (!(e <= tol)) fail_msg("step %d: slot %d: state nmse %.3g > %.3g", step, i, e, tol);
        }
    }
    assert_int_equal(sc_phys_in_use(dc), sc_phys_in_use(hc));
    assert_int_equal(rwkv_cuda_cache_step(d, S + 1, tok, src, child, 0, qr, qt, lp, NULL, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "rwkv_cuda_cache_step: 13 rows, the cache steps at most 12");
    free(logits), free(a), free(b);
    rwkv_workspace_free(ws);
    rwkv_cuda_cache_free(d);
    sc_free(hc), sc_free(dc);
    rd_cuda_rwkv_free(gm);
}

static void test_state_cache_on_device(void **s) {
    gpu_or_skip();
    rwkv_model *m = load_or_skip(V7);
    cache_parity(m, RD_F32, NMSE_FP32);
    rwkv_free(m);
    m = load_or_skip(V4);
    cache_parity(m, RD_F32, NMSE_FP32);
    rwkv_free(m);
    shape7 z = {2, 128, 64, 131, 224, 16, 9, 11, 33};
    m = synth7(z);
    cache_parity(m, RD_BF16, NMSE_BF16_STATE);
    rwkv_free(m);
}

static void test_beam_topk(void **s) {
    gpu_or_skip();
    enum { B = 33, M = 1000, K = 24 };
    float *x = malloc((size_t)B * M * sizeof(float));
    for (size_t i = 0; i < (size_t)B * M; i++) x[i] = (float)(int)(50.0f * frand()) * 0.5f; /* many ties */
    x[5] = NAN;
    x[6] = -INFINITY;
    int32_t count[B];
    for (int b = 0; b < B; b++) count[b] = (b * 97) % (M + 1);
    count[3] = 10; /* fewer than K: tail is -1 */
    kern_topk *t;
    rd_error err;
    assert_int_equal(rd_cuda_topk_create(B, M, &t, &err), RD_OK);
    float best[B * K], want[K];
    int32_t idx[B * K], wi[K];
    assert_int_equal(rd_cuda_beam_topk(t, x, B, M, count, K, best, idx, &err), RD_OK);
    for (int b = 0; b < B; b++) {
        topk_ref(x + (size_t)b * M, count[b], K, want, wi);
        for (int j = 0; j < K; j++) {
            assert_int_equal(idx[b * K + j], wi[j]);
            if (wi[j] >= 0) assert_true(best[b * K + j] == want[j]);
            else assert_true(best[b * K + j] == -INFINITY);
        }
    }
    assert_int_equal(idx[3 * K + 10], -1);
    count[7] = M + 1;
    assert_int_equal(rd_cuda_beam_topk(t, x, B, M, count, K, best, idx, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "rd_cuda_beam_topk: utterance 7: count 1001 outside 0..1000");
    rd_cuda_topk_free(t);
    free(x);
}

/* ---------- errors, in every build ---------- */

static void test_no_device_messages(void **s) {
    rd_error why;
    int ok = rd_cuda_available(&why);
#ifndef RD_HAVE_CUDA
    assert_int_equal(ok, 0);
    assert_string_equal(why.msg, "this build has no CUDA support (rebuild with nvcc on PATH)");
    kern_topk *t = (kern_topk *)&why;
    assert_int_equal(rd_cuda_topk_create(1, 1, &t, &why), RD_ERR_DEVICE);
    assert_null(t);
    assert_string_equal(why.msg, "this build has no CUDA support (rebuild with nvcc on PATH)");
#elif defined RD_CUDA_CPU
    assert_int_equal(ok, 1); /* the CPU emulation is always there */
    kern_device_info info;
    assert_int_equal(rd_cuda_device_info(&info, &why), RD_OK);
    assert_string_equal(info.name, "cpu emulation (kernels/cuda_cpu.h)");
#else
    if (ok) skip(); /* a device is present: nothing to check here */
    assert_int_equal(why.status, RD_ERR_DEVICE);
    assert_int_equal(strncmp(why.msg, "no cuda device: ", 16), 0);
#endif
}

static void test_bad_calls(void **s) {
    gpu_or_skip();
    pair p;
    kern_rwkv *gm;
    twin a;
    rwkv_model *m = rig_make(&p, &gm, KERN_F32, &a, 4);
    rd_error err;
    int32_t tok[2] = {1, 256}, sl[2] = {0, 1}, bad[2] = {0, 4};
    assert_int_equal(rd_cuda_rwkv_forward(gm, p.gws, 2, tok, a.g, sl, a.g, sl, NULL, &err), RD_ERR_INPUT);
    assert_string_equal(err.msg, "rd_cuda_rwkv_forward: row 1: token 256 out of range 0..255");
    tok[1] = 2;
    assert_int_equal(rd_cuda_rwkv_forward(gm, p.gws, 2, tok, a.g, sl, a.g, bad, NULL, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "rd_cuda_rwkv_forward: row 1: dst slot 4 outside 0..3");
    assert_int_equal(rd_cuda_rwkv_forward(gm, p.gws, ROWS + 1, tok, a.g, sl, a.g, sl, NULL, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "rd_cuda_rwkv_forward: 18 rows, workspace holds 17");
    kern_workspace *big = (kern_workspace *)&err;
    assert_int_equal(rd_cuda_workspace_create(gm, KERN_MAX_ROWS + 1, &big, &err), RD_ERR_USAGE);
    assert_null(big);
    assert_string_equal(err.msg, "rd_cuda_workspace_create: 65536 rows, expected 1..65535 (a launch's grid limit)");
    /* bad tensors are refused on upload, named */
    kern_rwkv *bad_m = (kern_rwkv *)&err;
    float *w = (float *)(uintptr_t)m->layers[0].att_k.w, keep = w[0];
    w[0] = NAN;
    assert_int_equal(rwkv_cuda_upload(m, KERN_F32, &bad_m, &err), RD_ERR_INPUT);
    assert_null(bad_m);
    assert_string_equal(err.msg, "rd_cuda_rwkv_upload: layer 0: att.key: element 0 is nan, expected a finite value");
    w[0] = keep;
    const float *kk = m->layers[0].k_k;
    m->layers[0].k_k = NULL;
    assert_int_equal(rwkv_cuda_upload(m, KERN_F32, &bad_m, &err), RD_ERR_INPUT);
    assert_string_equal(err.msg, "rd_cuda_rwkv_upload: layer 0: vector att.k_k missing");
    m->layers[0].k_k = kk;
    double bw = -1;
    assert_int_equal(rd_cuda_copy_bandwidth(10, 1, &bw, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "rd_cuda_copy_bandwidth: 10 bytes 1 times, expected >= 1024 bytes, 1..100 times");
    assert_int_equal(rd_cuda_copy_bandwidth(1 << 16, 3, &bw, &err), RD_OK);
    assert_true(bw >= 0 && isfinite(bw));
    kern_state *huge;
    assert_int_equal(rd_cuda_state_create(gm, 1 << 30, KERN_F32, &huge, &err), RD_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "cuda: out of device memory: state of 1073741824 slots: cudaMalloc of "));
    twin_free(&a), pair_free(&p, gm), rwkv_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_device_messages), cmocka_unit_test(test_parity_v7),
        cmocka_unit_test(test_parity_v4),          cmocka_unit_test(test_parity_random),
        cmocka_unit_test(test_half_precision),     cmocka_unit_test(test_parity_shapes),     cmocka_unit_test(test_logsoftmax_topk),
        cmocka_unit_test(test_beam_topk),          cmocka_unit_test(test_logp_gather),         cmocka_unit_test(test_state_cache_on_device),          cmocka_unit_test(test_bad_calls),
    };
    if (getenv("RD_TEST_FILTER")) cmocka_set_test_filter(getenv("RD_TEST_FILTER")); /* tests/gpu/run.sh */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
