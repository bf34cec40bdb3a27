/* tests/test_kernels.c - CUDA kernels against their CPU references: the
 * batched RWKV step against lmstate/rwkv_forward.c (logits and states by
 * normalized mean squared error), log-softmax/top-k and beam top-k against
 * the small C references below (exact indices). GPU tests skip() when no
 * device is found; the no-device messages are checked in every build. */
#include "testutil.h"

#include <math.h>

#include "kernels/kernels.h"
#include "lmstate/rwkv.h"
#include "lmstate/rwkv_internal.h"

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

/* ---------- the model description lmstate would fill ---------- */

/* Host fp32 copies of the model's packed matrices (freed after upload). */
typedef struct host_desc {
    kern_rwkv_desc d;
    kern_layer_desc *L;
    float *buf[1024];
    int nbuf;
} host_desc;

static float to_f32(const void *p, rd_dtype t, size_t i) {
    if (t == RD_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return t == RD_F16 ? rd_f16_to_f32(h) : rd_bf16_to_f32(h);
}

/* Unpacks RWKV_PANEL panels into a plain [out][in] fp32 matrix. */
static kern_mat_desc mat_of(host_desc *h, const rwkv_mat *m) {
    if (!m->w) return (kern_mat_desc){NULL, 0, 0};
    float *w = malloc((size_t)m->out * (size_t)m->in * sizeof(float));
    assert_true(h->nbuf < 1024);
    h->buf[h->nbuf++] = w;
    for (int o = 0; o < m->out; o++)
        for (int i = 0; i < m->in; i++)
            w[(size_t)o * m->in + i] = to_f32(m->w, m->dtype,
                                              (size_t)(o / RWKV_PANEL) * m->in * RWKV_PANEL +
                                                  (size_t)i * RWKV_PANEL + o % RWKV_PANEL);
    return (kern_mat_desc){w, m->out, m->in};
}

static void desc_from_model(const rwkv_model *m, host_desc *h) {
    memset(h, 0, sizeof *h);
    kern_rwkv_desc *d = &h->d;
    d->version = m->version, d->n_layer = m->n_layer, d->n_embd = m->n_embd;
    d->n_vocab = m->n_vocab, d->n_ffn = m->n_ffn, d->head_size = m->head_size;
    size_t VC = (size_t)m->n_vocab * m->n_embd;
    float *emb = malloc(VC * sizeof(float));
    for (size_t i = 0; i < VC; i++) emb[i] = to_f32(m->emb, m->emb_dtype, i);
    h->buf[h->nbuf++] = emb;
    d->emb = emb, d->ln0_w = m->ln0_w, d->ln0_b = m->ln0_b;
    d->ln_out_w = m->ln_out_w, d->ln_out_b = m->ln_out_b, d->head = mat_of(h, &m->head);
    h->L = calloc((size_t)m->n_layer, sizeof *h->L);
    d->layers = h->L;
    for (int l = 0; l < m->n_layer; l++) {
        const rwkv_layer *s = &m->layers[l];
        kern_layer_desc *t = &h->L[l];
        const float *v[KERN_N_VEC] = {s->ln1_w, s->ln1_b, s->ln2_w, s->ln2_b, s->mix[0], s->mix[1], s->mix[2],
                                      s->mix[3], s->mix[4], s->mix[5], s->w0, s->a0, s->v0, s->k_k, s->k_a, s->r_k,
                                      s->lnx_w, s->lnx_b, s->ffn_x_k, s->time_decay, s->time_first, s->att_mix_k,
                                      s->att_mix_v, s->att_mix_r, s->ffn_mix_k, s->ffn_mix_r};
        memcpy(t->vec, v, sizeof v);
        const rwkv_mat *mm[KERN_N_MAT] = {&s->att_r, &s->att_k, &s->att_v, &s->att_o, &s->ffn_k, &s->ffn_v,
                                          &s->ffn_r, &s->w1, &s->w2, &s->a1, &s->a2, &s->v1, &s->v2, &s->g1, &s->g2};
        for (int k = 0; k < KERN_N_MAT; k++) t->mat[k] = mat_of(h, mm[k]);
    }
}

static void desc_free(host_desc *h) {
    for (int i = 0; i < h->nbuf; i++) free(h->buf[i]);
    free(h->L);
}

static rwkv_model *load_or_skip(const char *rel) {
    char path[512];
    RD_DATA_OR_SKIP(path, rel);
    rd_error err;
    rwkv_model *m = NULL;
    if (rwkv_load(path, &m, &err) != RD_OK) fail_msg("%s", err.msg);
    return m;
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

/* ---------- a CPU state of many slots and its GPU twin ---------- */

typedef struct twin {
    const rwkv_model *m;
    int n_slots;
    rwkv_state_view v;
    float *mem[RWKV_MAX_KINDS];
    kern_state *g;
} twin;

static void twin_make(const rwkv_model *m, const kern_rwkv *gm, int n, twin *t) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    rd_error err;
    memset(t, 0, sizeof *t);
    t->m = m, t->n_slots = n;
    t->v.n_kinds = rwkv_state_kinds(m, info);
    for (int k = 0; k < t->v.n_kinds; k++) {
        t->mem[k] = malloc(info[k].size * (size_t)n * (size_t)m->n_layer * sizeof(float));
        t->v.base[k] = t->mem[k];
        t->v.dtype[k] = RD_F32;
        t->v.slot_stride[k] = info[k].size;
        t->v.layer_stride[k] = info[k].size * (size_t)n;
    }
    for (int i = 0; i < n; i++) rwkv_state_reset(m, &t->v, i);
    if (rd_cuda_state_create(gm, n, KERN_F32, &t->g, &err) != RD_OK) fail_msg("%s", err.msg);
}

static void twin_free(twin *t) {
    for (int k = 0; k < RWKV_MAX_KINDS; k++) free(t->mem[k]);
    rd_cuda_state_free(t->g);
}

/* Slot a of the CPU view into buf, [kind][layer][size]. */
static void cpu_slot(const twin *t, int a, float *buf) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    int nk = rwkv_state_kinds(t->m, info);
    for (int k = 0; k < nk; k++)
        for (int l = 0; l < t->m->n_layer; l++) {
            memcpy(buf, (const float *)t->v.base[k] + l * t->v.layer_stride[k] + (size_t)a * t->v.slot_stride[k],
                   info[k].size * sizeof(float));
            buf += info[k].size;
        }
}

static void expect_same_states(const twin *t, double tol) {
    size_t S = rwkv_state_size(t->m);
    float *a = malloc(S * sizeof(float)), *b = malloc(S * sizeof(float));
    rd_error err;
    for (int i = 0; i < t->n_slots; i++) {
        cpu_slot(t, i, a);
        assert_int_equal(rd_cuda_state_read(t->g, i, b, &err), RD_OK);
        double e = nmse(b, a, S);
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
    float *want, *got;
} pair;

static void step_both(pair *p, int n, const int32_t *tok, twin *src, const int32_t *ss, twin *dst,
                      const int32_t *ds, double tol) {
    rd_error err;
    assert_int_equal(rwkv_forward(p->m, p->cws, n, tok, &src->v, ss, &dst->v, ds, p->want, &err), RD_OK);
    if (rd_cuda_rwkv_forward(p->gm, p->gws, n, tok, src->g, ss, dst->g, ds, p->got, &err) != RD_OK)
        fail_msg("%s", err.msg);
    double e = nmse(p->got, p->want, (size_t)n * (size_t)p->m->n_vocab);
    if (!(e <= tol)) fail_msg("logits nmse %.3g > %.3g", e, tol);
}

static void pair_make(pair *p, const rwkv_model *m, kern_dtype wtype, kern_rwkv **gm_out) {
    rd_error err;
    host_desc *h = malloc(sizeof *h);
    desc_from_model(m, h);
    kern_rwkv *gm;
    if (rd_cuda_rwkv_upload(&h->d, wtype, &gm, &err) != RD_OK) fail_msg("%s", err.msg);
    desc_free(h);
    free(h);
    p->m = m, p->gm = gm, *gm_out = gm;
    assert_int_equal(rwkv_workspace_create(m, ROWS, 1, &p->cws, &err), RD_OK);
    assert_int_equal(rd_cuda_workspace_create(gm, ROWS, &p->gws, &err), RD_OK);
    p->want = malloc((size_t)ROWS * m->n_vocab * sizeof(float));
    p->got = malloc((size_t)ROWS * m->n_vocab * sizeof(float));
}

static void pair_free(pair *p, kern_rwkv *gm) {
    rwkv_workspace_free(p->cws);
    rd_cuda_workspace_free(p->gws);
    rd_cuda_rwkv_free(gm);
    free(p->want), free(p->got);
}

/* Several in-place updates, then reorders fused into updates (A -> B with
 * repeated parents, B -> A), then an unfused copy: logits and every slot's
 * state equal to the CPU's. */
static void parity(rwkv_model *m) {
    pair p;
    kern_rwkv *gm;
    pair_make(&p, m, KERN_F32, &gm);
    twin a, b;
    twin_make(m, gm, ROWS, &a);
    twin_make(m, gm, ROWS, &b);
    int32_t tok[ROWS], id[ROWS], par[ROWS];
    for (int step = 0; step < 4; step++) {
        for (int i = 0; i < ROWS; i++) tok[i] = (int32_t)((i * 37 + step * 11 + 5) % m->n_vocab), id[i] = i;
        step_both(&p, ROWS - step, tok, &a, id, &a, id, NMSE_FP32);
    }
    expect_same_states(&a, NMSE_FP32);
    for (int step = 0; step < 4; step++) {
        twin *s = step % 2 ? &b : &a, *d = step % 2 ? &a : &b;
        for (int i = 0; i < ROWS; i++) {
            par[i] = (int32_t)((i * 7 + step * 3) % 5);
            tok[i] = (int32_t)((i * 29 + step) % m->n_vocab);
            id[i] = (i * 5 + step) % ROWS; /* a permutation: distinct dst slots */
        }
        step_both(&p, ROWS, tok, s, par, d, id, NMSE_FP32);
        expect_same_states(d, NMSE_FP32);
    }
    rd_error err;
    for (int i = 0; i < ROWS; i++) par[i] = ROWS - 1 - i, id[i] = i;
    assert_int_equal(rd_cuda_state_copy(p.gws, a.g, par, b.g, id, ROWS, &err), RD_OK);
    size_t S = rwkv_state_size(m);
    float *x = malloc(S * sizeof(float)), *y = malloc(S * sizeof(float));
    for (int i = 0; i < ROWS; i++) {
        assert_int_equal(rd_cuda_state_read(a.g, par[i], x, &err), RD_OK);
        assert_int_equal(rd_cuda_state_read(b.g, i, y, &err), RD_OK);
        assert_memory_equal(x, y, S * sizeof(float));
    }
    free(x), free(y);
    twin_free(&a), twin_free(&b);
    pair_free(&p, gm);
}

static void test_parity_v7(void **s) {
    (void)s;
    gpu_or_skip();
    rwkv_model *m = load_or_skip(V7);
    parity(m);
    rwkv_free(m);
}

static void test_parity_v4(void **s) {
    (void)s;
    gpu_or_skip();
    rwkv_model *m = load_or_skip(V4);
    parity(m);
    rwkv_free(m);
}

static void test_parity_random(void **s) {
    (void)s;
    gpu_or_skip();
    rwkv_model *m = load_or_skip(V7);
    perturb(m);
    parity(m);
    rwkv_free(m);
    m = load_or_skip(V4);
    perturb(m);
    parity(m);
    rwkv_free(m);
}

/* fp16 weights with bf16 / fp16 state: close to the fp32 CPU step. */
static void test_half_precision(void **s) {
    (void)s;
    gpu_or_skip();
    rwkv_model *m = load_or_skip(V7);
    pair p;
    kern_rwkv *gm;
    pair_make(&p, m, KERN_F16, &gm);
    twin a;
    twin_make(m, gm, ROWS, &a);
    rd_cuda_state_free(a.g);
    rd_error err;
    assert_int_equal(rd_cuda_state_create(gm, ROWS, KERN_BF16, &a.g, &err), RD_OK);
    int32_t tok[ROWS], id[ROWS];
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < ROWS; i++) tok[i] = (int32_t)((i * 41 + step * 7) % m->n_vocab), id[i] = i;
        step_both(&p, ROWS, tok, &a, id, &a, id, 1e-3);
    }
    expect_same_states(&a, 1e-3);
    twin_free(&a);
    pair_free(&p, gm);
    rwkv_free(m);
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
    (void)s;
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

static void test_beam_topk(void **s) {
    (void)s;
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
    (void)s;
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
    (void)s;
    gpu_or_skip();
    rwkv_model *m = load_or_skip(V7);
    pair p;
    kern_rwkv *gm;
    pair_make(&p, m, KERN_F32, &gm);
    twin a;
    twin_make(m, gm, 4, &a);
    rd_error err;
    int32_t tok[2] = {1, 256}, sl[2] = {0, 1}, bad[2] = {0, 4};
    assert_int_equal(rd_cuda_rwkv_forward(gm, p.gws, 2, tok, a.g, sl, a.g, sl, NULL, &err), RD_ERR_INPUT);
    assert_string_equal(err.msg, "rd_cuda_rwkv_forward: row 1: token 256 out of range 0..255");
    tok[1] = 2;
    assert_int_equal(rd_cuda_rwkv_forward(gm, p.gws, 2, tok, a.g, sl, a.g, bad, NULL, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "rd_cuda_rwkv_forward: row 1: dst slot 4 outside 0..3");
    assert_int_equal(rd_cuda_rwkv_forward(gm, p.gws, ROWS + 1, tok, a.g, sl, a.g, sl, NULL, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "rd_cuda_rwkv_forward: 18 rows, workspace holds 17");
    kern_state *huge;
    assert_int_equal(rd_cuda_state_create(gm, 1 << 30, KERN_F32, &huge, &err), RD_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "cuda: out of device memory: state of 1073741824 slots: cudaMalloc of "));
    twin_free(&a);
    pair_free(&p, gm);
    rwkv_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_device_messages), cmocka_unit_test(test_parity_v7),
        cmocka_unit_test(test_parity_v4),          cmocka_unit_test(test_parity_random),
        cmocka_unit_test(test_half_precision),     cmocka_unit_test(test_logsoftmax_topk),
        cmocka_unit_test(test_beam_topk),          cmocka_unit_test(test_bad_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
