/* tests/test_rwkv.c - RWKV-7 / RWKV-4 CPU runtime: reference logits of the
 * rwkv.cpp tiny models, batched and gathered steps against single steps,
 * state views, errors naming tensors. */
#include "testutil.h"

#include <math.h>

#include "lmstate/rwkv/rwkv.h"
#include "lmstate/rwkv/rwkv_internal.h"
#include "testrwkv.h"

#define MAX_SLOTS 17

static const char *const V7_FP32 = "rwkv/tiny-rwkv-7v0-834K-FP32.bin";
static const char *const V7_FP16 = "rwkv/tiny-rwkv-7v0-834K-FP16.bin";
static const char *const V4_FP32 = "rwkv/tiny-rwkv-4v0-660K-FP32.bin";
static const char *const V4_FP16 = "rwkv/tiny-rwkv-4v0-660K-FP16.bin";

/* Logits after '"', 'i', 'n' from the initial state, compared to upstream's. */
static void expected_logits(const char *model, const char *expected, double max_tol, double sum_tol) {
    char path[512];
    RD_DATA_OR_SKIP(path, expected);
    float want[256];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(want, sizeof(float), 256, f), 256);
    fclose(f);
    rwkv_model *m = load_or_skip(model);
    assert_int_equal(rwkv_n_vocab(m), 256);
    float *st = malloc(rwkv_state_size(m) * sizeof(float));
    rwkv_state_view v;
    rwkv_state_view_single(m, st, &v);
    rwkv_state_reset(m, &v, 0);
    rwkv_workspace *ws;
    rd_error err;
    assert_int_equal(rwkv_workspace_create(m, 1, 1, &ws, &err), RD_OK);
    float logits[256];
    int32_t zero = 0;
    for (const char *p = "\"in"; *p; p++) {
        int32_t t = (unsigned char)*p;
        assert_int_equal(rwkv_forward(m, ws, 1, &t, &v, &zero, &v, &zero, logits, &err), RD_OK);
    }
    double mx = 0, sum = 0;
    for (int i = 0; i < 256; i++) {
        double d = (double)logits[i] - want[i];
        sum += d;
        if (fabs(d) > mx) mx = fabs(d);
    }
    fprintf(stderr, "  %s: max |diff| %.3g, sum of diffs %.3g\n", model, mx, sum);
    assert_true(mx <= max_tol);
    assert_true(fabs(sum) <= sum_tol);
    rwkv_workspace_free(ws);
    free(st);
    rwkv_free(m);
}

static const char *const V7_LOGITS = "rwkv/expected-logits-7v0-834K.bin";
static const char *const V4_LOGITS = "rwkv/expected-logits-4v0-660K.bin";
static void test_v7_fp32_logits(void **s) { expected_logits(V7_FP32, V7_LOGITS, 1e-4, 1e-3); }
static void test_v7_fp16_logits(void **s) { expected_logits(V7_FP16, V7_LOGITS, 1e-2, 0.0058); }
static void test_v4_fp32_logits(void **s) { expected_logits(V4_FP32, V4_LOGITS, 1e-4, 1e-3); }
static void test_v4_fp16_logits(void **s) { expected_logits(V4_FP16, V4_LOGITS, 1e-2, 0.0137); }

static void test_shapes_and_kinds(void **s) {
    rwkv_model *m = load_or_skip(V7_FP32);
    assert_int_equal(rwkv_version(m), 7);
    assert_int_equal(rwkv_n_layer(m), 12);
    assert_int_equal(rwkv_n_embd(m), 64);
    assert_int_equal(rwkv_head_size(m), 64);
    rwkv_kind_info info[RWKV_MAX_KINDS];
    assert_int_equal(rwkv_state_kinds(m, info), 3);
    assert_string_equal(info[1].name, "wkv");
    assert_int_equal(info[1].size, 64 * 64);
    assert_int_equal(rwkv_state_size(m), 12 * (64 + 64 * 64 + 64));
    rwkv_free(m);
    m = load_or_skip(V4_FP32);
    assert_int_equal(rwkv_version(m), 4);
    assert_int_equal(rwkv_n_layer(m), 4);
    assert_int_equal(rwkv_head_size(m), 0);
    assert_int_equal(rwkv_state_kinds(m, info), 5);
    assert_string_equal(info[4].name, "pp");
    float *st = malloc(rwkv_state_size(m) * sizeof(float));
    rwkv_state_view v;
    rwkv_state_view_single(m, st, &v);
    rwkv_state_reset(m, &v, 0);
    const float *pp = v.base[4];
    assert_true(pp[0] == -1e30f && pp[4 * 128 - 1] == -1e30f);
    assert_true(((const float *)v.base[2])[7] == 0.0f);
    free(st);
    rwkv_free(m);
}

/* ---------- multi-slot views laid out [layer][slot][size] ---------- */

/* Copies slot a of view x into buf laid out [kind][layer][size] (f32 views). */
static void slot_get(const rwkv_model *m, const rwkv_state_view *x, int a, float *buf) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    int nk = rwkv_state_kinds(m, info);
    for (int k = 0; k < nk; k++)
        for (int l = 0; l < rwkv_n_layer(m); l++) {
            const float *p = (const float *)x->base[k] + l * x->layer_stride[k] + (size_t)a * x->slot_stride[k];
            memcpy(buf, p, info[k].size * sizeof(float));
            buf += info[k].size;
        }
}

static void slot_put(const rwkv_model *m, const rwkv_state_view *x, int a, const float *buf) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    int nk = rwkv_state_kinds(m, info);
    for (int k = 0; k < nk; k++)
        for (int l = 0; l < rwkv_n_layer(m); l++) {
            float *p = (float *)x->base[k] + l * x->layer_stride[k] + (size_t)a * x->slot_stride[k];
            memcpy(p, buf, info[k].size * sizeof(float));
            buf += info[k].size;
        }
}

/* Slot i gets a history of (i % 5) + 1 tokens, fed one slot at a time. */
static void give_histories(const rwkv_model *m, rwkv_workspace *ws, slots *s, int n) {
    rd_error err;
    for (int i = 0; i < n; i++)
        for (int t = 0; t <= i % 5; t++) {
            int32_t tok = (int32_t)((i * 37 + t * 11 + 5) % 256), slot = i;
            assert_int_equal(rwkv_forward(m, ws, 1, &tok, &s->v, &slot, &s->v, &slot, NULL, &err), RD_OK);
        }
}

static double max_diff(const float *a, const float *b, size_t n) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= mx)) mx = d;
    }
    return mx;
}

/* n rows in one call (in place, threads) == n single-state calls, bit for
 * bit: a row's result does not depend on the rows beside it (batched layer
 * norms and products keep each row's operations and order). */
static void batched_equals_single(const char *model, int n, int threads) {
    rwkv_model *m = load_or_skip(model);
    rd_error err;
    rwkv_workspace *ws1, *wsn;
    assert_int_equal(rwkv_workspace_create(m, 1, 1, &ws1, &err), RD_OK);
    assert_int_equal(rwkv_workspace_create(m, MAX_SLOTS, threads, &wsn, &err), RD_OK);
    slots s;
    slots_make(m, n, RD_F32, &s);
    give_histories(m, ws1, &s, n);
    size_t S = rwkv_state_size(m), V = (size_t)rwkv_n_vocab(m);
    float *single = malloc(S * sizeof(float)), *after = malloc(S * sizeof(float));
    float *want = malloc(V * n * sizeof(float)), *got = malloc(V * n * sizeof(float));
    float *want_state = malloc(S * n * sizeof(float));
    int32_t tok[MAX_SLOTS], slot[MAX_SLOTS], zero = 0;
    rwkv_state_view sv;
    rwkv_state_view_single(m, single, &sv);
    for (int i = 0; i < n; i++) {
        tok[i] = (int32_t)((i * 53 + 7) % 256);
        slot[i] = i;
        slot_get(m, &s.v, i, single);
        assert_int_equal(rwkv_forward(m, ws1, 1, &tok[i], &sv, &zero, &sv, &zero, want + V * i, &err), RD_OK);
        memcpy(want_state + S * i, single, S * sizeof(float));
    }
    assert_int_equal(rwkv_forward(m, wsn, n, tok, &s.v, slot, &s.v, slot, got, &err), RD_OK);
    assert_memory_equal(want, got, V * n * sizeof(float));
    for (int i = 0; i < n; i++) {
        slot_get(m, &s.v, i, after);
        assert_memory_equal(want_state + S * i, after, S * sizeof(float));
    }
    free(single), free(after), free(want), free(got), free(want_state);
    slots_free(&s);
    rwkv_workspace_free(ws1);
    rwkv_workspace_free(wsn);
    rwkv_free(m);
}

static void test_batched_v7(void **s) {
    batched_equals_single(V7_FP32, 1, 1);
    batched_equals_single(V7_FP32, 3, 1);
    batched_equals_single(V7_FP32, 17, 1);
    batched_equals_single(V7_FP32, 17, 2);
}

static void test_batched_v4(void **s) {
    batched_equals_single(V4_FP32, 1, 1);
    batched_equals_single(V4_FP32, 3, 2);
    batched_equals_single(V4_FP32, 17, 2);
}

/* Row i reads slot p[i] of view A and writes slot i of view B == copy then in place. */
static void gather_equals_inplace(const char *model) {
    rwkv_model *m = load_or_skip(model);
    rd_error err;
    rwkv_workspace *ws;
    assert_int_equal(rwkv_workspace_create(m, MAX_SLOTS, 2, &ws, &err), RD_OK);
    int n = MAX_SLOTS;
    slots a, b, c;
    slots_make(m, n, RD_F32, &a);
    slots_make(m, n, RD_F32, &b);
    slots_make(m, n, RD_F32, &c);
    give_histories(m, ws, &a, n);
    size_t S = rwkv_state_size(m), V = (size_t)rwkv_n_vocab(m);
    float *buf = malloc(S * sizeof(float)), *buf2 = malloc(S * sizeof(float));
    float *want = malloc(V * n * sizeof(float)), *got = malloc(V * n * sizeof(float));
    int32_t p[MAX_SLOTS], id[MAX_SLOTS], tok[MAX_SLOTS];
    for (int i = 0; i < n; i++) {
        p[i] = (i * 7 + 3) % 5; /* repeats: several rows share a parent */
        id[i] = i;
        tok[i] = (int32_t)((i * 29 + 1) % 256);
        slot_get(m, &a.v, p[i], buf);
        slot_put(m, &c.v, i, buf);
    }
    assert_int_equal(rwkv_forward(m, ws, n, tok, &c.v, id, &c.v, id, want, &err), RD_OK);
    assert_int_equal(rwkv_forward(m, ws, n, tok, &a.v, p, &b.v, id, got, &err), RD_OK);
    assert_true(max_diff(want, got, V * n) <= 1e-6);
    for (int i = 0; i < n; i++) {
        slot_get(m, &b.v, i, buf);
        slot_get(m, &c.v, i, buf2);
        assert_true(max_diff(buf, buf2, S) <= 1e-6);
    }
    free(buf), free(buf2), free(want), free(got);
    slots_free(&a), slots_free(&b), slots_free(&c);
    rwkv_workspace_free(ws);
    rwkv_free(m);
}

static void test_gather_v7(void **s) {
    gather_equals_inplace(V7_FP32);
}
static void test_gather_v4(void **s) {
    gather_equals_inplace(V4_FP32);
}

/* fp16 / bf16 state storage stays close to fp32 over a few tokens. */
static void test_half_state(void **s) {
    rwkv_model *m = load_or_skip(V7_FP32);
    rd_error err;
    rwkv_workspace *ws;
    assert_int_equal(rwkv_workspace_create(m, 4, 1, &ws, &err), RD_OK);
    rd_dtype dts[3] = {RD_F32, RD_F16, RD_BF16};
    float logits[3][256];
    for (int d = 0; d < 3; d++) {
        slots x;
        slots_make(m, 2, dts[d], &x);
        int32_t one = 1;
        for (const char *p = "hello"; *p; p++) {
            int32_t t = (unsigned char)*p;
            assert_int_equal(rwkv_forward(m, ws, 1, &t, &x.v, &one, &x.v, &one, logits[d], &err), RD_OK);
        }
        slots_free(&x);
    }
    double d16 = max_diff(logits[0], logits[1], 256), db16 = max_diff(logits[0], logits[2], 256);
    fprintf(stderr, "  state f16 max |diff| %.3g, bf16 %.3g\n", d16, db16);
    assert_true(d16 > 0 && d16 < 0.02);
    assert_true(db16 > 0 && db16 < 0.2);
    rwkv_workspace_free(ws);
    rwkv_free(m);
}

static int same_bits_or_nan(float a, float b) {
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y || (isnan(a) && isnan(b));
}

/* The state's fp16 reads and writes (vectorized where the CPU has F16C)
 * give exactly rd_f16_to_f32 / rd_f32_to_f16: every half both ways, the
 * midpoints between neighbouring halves (ties to even), and floats past the
 * range at both ends; lengths not a multiple of 8. */
static void test_state_f16_conversion(void **s) {
    enum { NH = 65536, NW = 4 * 65536 + 7 };
    uint16_t *h = malloc(NH * sizeof *h), *got16 = malloc(NW * sizeof *got16);
    float *f = malloc(NW * sizeof *f), *got = malloc(NH * sizeof *got);
    assert_non_null(h);
    assert_non_null(got16);
    assert_non_null(f);
    assert_non_null(got);
    for (int i = 0; i < NH; i++) h[i] = (uint16_t)i;
    for (size_t off = 0; off < NH; off += 1003) {
        size_t n = NH - off < 1003 ? NH - off : 1003;
        rwkv_state_read(h + off, RD_F16, n, got + off);
    }
    for (int i = 0; i < NH; i++) assert_true(same_bits_or_nan(got[i], rd_f16_to_f32((uint16_t)i)));
    size_t n = 0;
    for (int i = 0; i < NH; i++) {
        float a = rd_f16_to_f32((uint16_t)i);
        if (isnan(a)) continue;
        f[n++] = a;
        float b = rd_f16_to_f32((uint16_t)(i + 1 < NH ? i + 1 : i));
        if (!isnan(b) && !isinf(a) && !isinf(b) && (i & 0x7FFF) != 0x7BFF) f[n++] = 0.5f * (a + b);
    }
    srand(5);
    while (n < NW) f[n++] = ldexpf((float)rand() / (float)RAND_MAX - 0.5f, rand() % 80 - 40);
    rwkv_state_write(got16, RD_F16, NW, f);
    for (size_t i = 0; i < NW; i++) assert_int_equal(got16[i], rd_f32_to_f16(f[i]));
    free(h);
    free(got16);
    free(f);
    free(got);
}

/* The dispatched products (AVX2, AVX-512) against the portable kernel, every
 * weight dtype, on shapes that are and are not multiples of the 16-output
 * panel and of the kernels' row tiles (6 and 8): each output within
 * 1e-5 x sum |w x| (the kernels fuse multiply-add, the portable one rounds
 * twice). */
static void test_products_match_portable(void **s) {
    static const int outs[] = {1, 15, 16, 17, 48, 65, 100};
    static const int ins[] = {1, 7, 64, 130};
    static const int ns[] = {1, 2, 5, 6, 7, 8, 9, 13, 17, 64, 70};
    static const rd_dtype dts[] = {RD_F32, RD_F16, RD_BF16};
    srand(17);
    int kinds_seen = 0;
    for (size_t a = 0; a < sizeof outs / sizeof *outs; a++)
        for (size_t b = 0; b < sizeof ins / sizeof *ins; b++)
            for (size_t d = 0; d < sizeof dts / sizeof *dts; d++) {
                int out = outs[a], in = ins[b], np = (out + RWKV_PANEL - 1) / RWKV_PANEL;
                size_t nw = (size_t)np * RWKV_PANEL * (size_t)in;
                float *wf = calloc(nw, sizeof *wf), *x = malloc(70 * (size_t)in * sizeof *x);
                uint16_t *wh = calloc(nw, sizeof *wh);
                float *y0 = malloc(70 * (size_t)out * sizeof *y0), *y1 = malloc(70 * (size_t)out * sizeof *y1);
                float *mag = malloc(70 * (size_t)out * sizeof *mag);
                assert_true(wf && x && wh && y0 && y1 && mag);
                for (int o = 0; o < out; o++)
                    for (int i = 0; i < in; i++) {
                        size_t k = (size_t)(o / RWKV_PANEL) * in * RWKV_PANEL + (size_t)i * RWKV_PANEL + o % RWKV_PANEL;
                        float v = (float)rand() / (float)RAND_MAX - 0.5f;
                        if (dts[d] == RD_F16) wh[k] = rd_f32_to_f16(v), v = rd_f16_to_f32(wh[k]);
                        if (dts[d] == RD_BF16) wh[k] = rd_f32_to_bf16(v), v = rd_bf16_to_f32(wh[k]);
                        wf[k] = v;
                    }
                for (size_t i = 0; i < 70 * (size_t)in; i++) x[i] = (float)rand() / (float)RAND_MAX * 4.0f - 2.0f;
                rwkv_mat W = {dts[d] == RD_F32 ? (const void *)wf : (const void *)wh, dts[d], out, in};
                for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
                    int n = ns[c];
                    for (int r = 0; r < n; r++)
                        for (int o = 0; o < out; o++) {
                            double m = 0;
                            for (int i = 0; i < in; i++)
                                m += fabs((double)wf[(size_t)(o / RWKV_PANEL) * in * RWKV_PANEL + (size_t)i * RWKV_PANEL +
                                                     o % RWKV_PANEL] * x[(size_t)r * in + i]);
                            mag[(size_t)r * out + o] = (float)m;
                        }
                    assert_int_equal(rwkv_mat_product(&W, x, n, y0, 0), 0);
                    for (int kind = 1; kind <= 2; kind++) {
                        int used = rwkv_mat_product(&W, x, n, y1, kind);
                        kinds_seen |= 1 << used;
                        for (size_t e = 0; e < (size_t)n * out; e++)
                            if (!(fabsf(y1[e] - y0[e]) <= 1e-5f * mag[e] + 1e-30f))
                                fail_msg("kind %d (used %d), dtype %d, out %d, in %d, n %d, element %zu: %g vs %g", kind,
                                         used, (int)dts[d], out, in, n, e, (double)y1[e], (double)y0[e]);
                    }
                }
                free(wf), free(x), free(wh), free(y0), free(y1), free(mag);
            }
    print_message("products checked with kinds 0x%x (bit k: kind k ran)\n", kinds_seen);
}

/* Relu squared through MAXPS against the ternary: the same bits for every
 * sign, zero, infinity, NaN and subnormal, at every length (tails). */
static void test_relu_sq_matches_portable(void **s) {
    static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 1e-40f, -1e-40f, 3e38f, -3e38f, 1e20f};
    float a[41], b[41];
    srand(29);
    for (int n = 0; n <= 41; n++) {
        for (int e = 0; e < n; e++) {
            int pick = rand() % 14;
            a[e] = pick < 9    ? special[pick]
                   : pick == 9  ? INFINITY
                   : pick == 10 ? -INFINITY
                   : pick == 11 ? NAN
                                : ((float)rand() / (float)RAND_MAX - 0.5f) * 8.0f;
        }
        memcpy(b, a, sizeof a);
        assert_int_equal(rwkv_relu_sq(a, (size_t)n, 0), 0);
        int used = rwkv_relu_sq(b, (size_t)n, 1);
        for (int e = 0; e < n; e++)
            if (memcmp(&a[e], &b[e], sizeof *a))
                fail_msg("kind %d, n %d, element %d: %a vs %a (portable)", used, n, e, (double)b[e], (double)a[e]);
    }
}

static void test_bad_calls(void **s) {
    rwkv_model *m = load_or_skip(V7_FP32);
    rd_error err;
    rwkv_workspace *ws;
    assert_int_equal(rwkv_workspace_create(m, 2, 1, &ws, &err), RD_OK);
    float *st = malloc(rwkv_state_size(m) * sizeof(float));
    rwkv_state_view v;
    rwkv_state_view_single(m, st, &v);
    int32_t tok[3] = {65, 300, 1}, slot[3] = {0, 0, 0};
    assert_int_equal(rwkv_forward(m, ws, 2, tok, &v, slot, &v, slot, NULL, &err), RD_ERR_INPUT);
    assert_string_equal(err.msg, "rwkv_forward: row 1: token 300 out of range 0..255");
    assert_int_equal(rwkv_forward(m, ws, 3, tok, &v, slot, &v, slot, NULL, &err), RD_ERR_INTERNAL);
    assert_string_equal(err.msg, "rwkv_forward: 3 rows, workspace holds 2");
    rwkv_workspace *none = NULL;
    assert_int_equal(rwkv_workspace_create(m, 0, 1, &none, &err), RD_ERR_USAGE);
    assert_null(none);
    assert_string_equal(err.msg, "rwkv workspace: max_rows must be at least 1, got 0");
    free(st);
    rwkv_workspace_free(ws);
    rwkv_free(m);
}

/* ---------- broken files: a tensor renamed, a tensor reshaped ---------- */

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* Offset of tensor `name`'s record in a rwkv.cpp .bin buffer. */
static size_t bin_find(const unsigned char *b, size_t n, const char *name) {
    size_t o = 24;
    while (o + 12 <= n) {
        int32_t h[3], dims[4];
        memcpy(h, b + o, 12);
        memcpy(dims, b + o + 12, 4 * (size_t)h[0]);
        const char *nm = (const char *)b + o + 12 + 4 * (size_t)h[0];
        if ((size_t)h[1] == strlen(name) && memcmp(nm, name, (size_t)h[1]) == 0) return o;
        size_t numel = 1;
        for (int d = 0; d < h[0]; d++) numel *= (size_t)dims[d];
        o += 12 + 4 * (size_t)h[0] + (size_t)h[1] + numel * (h[2] ? 2 : 4);
    }
    fail_msg("tensor %s not in file", name);
    return 0;
}

static void expect_load_error(const unsigned char *b, size_t n, const char *msg) {
    char path[64];
    assert_non_null(rd_test_tmpfile(path, sizeof path, (const char *)b, n));
    rwkv_model *m = (rwkv_model *)1;
    rd_error err;
    assert_int_equal(rwkv_load(path, &m, &err), RD_ERR_INPUT);
    assert_null(m);
    char want[512];
    snprintf(want, sizeof want, "%s: %s", path, msg);
    assert_string_equal(err.msg, want);
    unlink(path);
}

/* Offset of the first occurrence of pat[0..len) in b[from..n), asserted to
 * be the only one when once. */
static size_t find_pat(const unsigned char *b, size_t n, size_t from, const void *pat, size_t len, int once) {
    size_t at = n;
    for (size_t i = from; i + len <= n; i++)
        if (memcmp(b + i, pat, len) == 0) {
            assert_true(at == n);
            at = i;
            if (!once) break;
        }
    assert_true(at < n);
    return at;
}

/* Makes tensor `name` of the fp32 safetensors fixture 0-d (one element) in
 * place, keeping the header's length: shape [] padded with spaces, data
 * offsets [a, a + 4] (the other tensors' bytes stay where they are). */
static void safetensors_zero_d(unsigned char *b, size_t n, const char *name) {
    uint64_t hl;
    memcpy(&hl, b, 8);
    assert_true(8 + hl <= n);
    char key[96];
    snprintf(key, sizeof key, "\"%s\":{\"dtype\":\"F32\",\"shape\":[", name);
    size_t o = find_pat(b, 8 + hl, 8, key, strlen(key), 1) + strlen(key);
    for (; b[o] != ']'; o++) b[o] = ' ';
    o = find_pat(b, 8 + hl, o, "\"data_offsets\":[", 16, 0) + 16;
    long long a = strtoll((const char *)b + o, NULL, 10);
    size_t comma = o, close;
    while (b[comma] != ',') comma++;
    for (close = comma; b[close] != ']'; close++) {}
    char end[24];
    int w = snprintf(end, sizeof end, "%lld", a + 4);
    assert_true((size_t)w <= close - comma - 1);
    memset(b + comma + 1, ' ', close - comma - 1);
    memcpy(b + close - w, end, (size_t)w);
}

/* Makes tensor `name` of the stored (uncompressed) .pth fixture 0-d in
 * place: in data.pkl its _rebuild_tensor_v2 size and stride tuples (BININT1
 * items, then TUPLEn) become MARK POP_MARK pairs and an EMPTY_TUPLE, so the
 * pickle keeps its length (the zip reader does not check the CRC). */
static void pth_zero_d(unsigned char *b, size_t n, const char *name) {
    size_t o = find_pat(b, n, 0, name, strlen(name), 1);
    o = find_pat(b, n, o, "QK\x00", 3, 0) + 3; /* storage, offset 0 */
    for (int tuple = 0; tuple < 2; tuple++) {        /* size, then stride */
        size_t k = o;
        while (b[k] == 'K') k += 2;
        assert_true(b[k] >= 0x85 && b[k] <= 0x87 && (k - o) % 2 == 0);
        for (size_t i = o; i < k; i += 2) memcpy(b + i, "(1", 2);
        b[k] = ')';
        assert_true(b[k + 1] == 'q' || b[k + 1] == 'r'); /* its memo slot: BINPUT, LONG_BINPUT */
        o = k + (b[k + 1] == 'q' ? 3 : 6);
    }
}

/* Issue 17 item 3: a 0-d tensor where a vector or r_k's [H, N] is expected
 * is refused naming it, for .pth and safetensors alike (the .bin reader
 * refuses 0 dimensions itself, test_broken_tensors); UBSan found a
 * shape[ndim - 1] read in r_k's head-size probe. */
static void test_zero_d_tensors(void **s) {
    static const struct {
        const char *tensor, *want;
    } cases[] = {
        {"blocks.0.att.r_k", "tensor blocks.0.att.r_k: expected shape [n_head, head_size] of 128 elements, got []"},
        {"blocks.1.att.r_k", "tensor blocks.1.att.r_k: expected shape [2, 64], got []"},
        {"blocks.0.ln1.weight", "tensor blocks.0.ln1.weight: expected shape [128], got []"},
    };
    for (int fmt = 0; fmt < 2; fmt++) {
        const char *path = fmt ? "data/rwkv/tiny-rwkv7-fp32.pth" : "data/rwkv/tiny-rwkv7-fp32.safetensors";
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            size_t n;
            unsigned char *b = read_all(path, &n);
            if (fmt) pth_zero_d(b, n, cases[c].tensor);
            else safetensors_zero_d(b, n, cases[c].tensor);
            expect_load_error(b, n, cases[c].want);
            free(b);
        }
    }
}

/* The .bin file at path with one tensor's record changed: the byte `at`
 * after its dims (at 0: the first of its name) set to c, or where dims is
 * not NULL, its two dims; loading that must fail saying want. */
static void expect_broken(const char *path, const char *name, size_t at, char c, const int32_t *dims,
                          const char *want) {
    size_t n;
    unsigned char *b = read_all(path, &n);
    size_t o = bin_find(b, n, name);
    int32_t ndim;
    memcpy(&ndim, b + o, sizeof ndim);
    if (dims) memcpy(b + o + 12, dims, 2 * sizeof *dims);
    else b[o + 12 + 4 * (size_t)ndim + at] = (unsigned char)c;
    expect_load_error(b, n, want);
    free(b);
}

static void test_broken_tensors(void **s) {
    char path[512];
    RD_DATA_OR_SKIP(path, V7_FP32);
    /* rename: blocks.3.att.key.weight -> blocks.3.att.kez.weight */
    expect_broken(path, "blocks.3.att.key.weight", strlen("blocks.3.att.ke"), 'z', NULL,
                  "missing tensor blocks.3.att.key.weight");
    /* reshape: receptance (64, 64) -> (32, 128), same size */
    expect_broken(path, "blocks.0.att.receptance.weight", 0, 0, (const int32_t[]){128, 32},
                  "tensor blocks.0.att.receptance.weight: expected shape [64, 64], got [32, 128]");
    /* v0 missing on layer 1 (layer 0 has none: v_first) */
    expect_broken(path, "blocks.1.att.v0", strlen("blocks.1.att.v"), '9', NULL, "missing tensor blocks.1.att.v0");
    /* issue 17 item 3: layer 2's ln1.weight renamed must not load as a
     * 2-layer model (layers 2.. silently dropped) */
    expect_broken(path, "blocks.2.ln1.weight", strlen("blocks.2.ln1.weigh"), 'x', NULL,
                  "missing tensor blocks.2.ln1.weight (the file has tensors up to layer 11)");
    /* issue 17 item 3: a 0-d r_k (no dims, one element) is refused, never
     * read through shape[ndim - 1]; in a .bin file the reader refuses it */
    size_t n;
    unsigned char *b = read_all(path, &n);
    size_t o = bin_find(b, n, "blocks.0.att.r_k");
    {
        int32_t hdr[3], d0[2];
        memcpy(hdr, b + o, sizeof hdr);
        assert_int_equal(hdr[0], 2);
        memcpy(d0, b + o + 12, sizeof d0);
        size_t name_len = (size_t)hdr[1], data = (size_t)d0[0] * (size_t)d0[1] * 4;
        size_t end = o + 12 + 8 + name_len + data, m2 = 0;
        unsigned char *z = malloc(n);
        assert_non_null(z);
        memcpy(z, b, o);
        m2 = o;
        hdr[0] = 0;
        memcpy(z + m2, hdr, sizeof hdr);
        m2 += sizeof hdr;
        memcpy(z + m2, b + o + 20, name_len);
        m2 += name_len;
        memset(z + m2, 0, 4);
        m2 += 4;
        memcpy(z + m2, b + end, n - end);
        m2 += n - end;
        char path0[64];
        assert_non_null(rd_test_tmpfile(path0, sizeof path0, (const char *)z, m2));
        rwkv_model *m0 = NULL;
        rd_error e0;
        assert_int_equal(rwkv_load(path0, &m0, &e0), RD_ERR_INPUT);
        assert_null(m0);
        assert_non_null(strstr(e0.msg, "expected 1 to 4 dimensions, found 0")); /* the .bin reader */
        unlink(path0);
        free(z);
    }
    free(b);
    /* RWKV-4: a renamed vector, a reshaped matrix */
    RD_DATA_OR_SKIP(path, V4_FP32);
    expect_broken(path, "blocks.2.att.time_first", strlen("blocks.2.att.time_firs"), 'x', NULL,
                  "missing tensor blocks.2.att.time_first");
    expect_broken(path, "blocks.1.ffn.receptance.weight", 0, 0, (const int32_t[]){64, 256},
                  "tensor blocks.1.ffn.receptance.weight: expected shape [128, 128], got [256, 64]");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v7_fp32_logits),   cmocka_unit_test(test_v7_fp16_logits),
        cmocka_unit_test(test_v4_fp32_logits),   cmocka_unit_test(test_v4_fp16_logits),
        cmocka_unit_test(test_shapes_and_kinds), cmocka_unit_test(test_batched_v7),
        cmocka_unit_test(test_batched_v4),       cmocka_unit_test(test_gather_v7),
        cmocka_unit_test(test_gather_v4),        cmocka_unit_test(test_half_state),
        cmocka_unit_test(test_state_f16_conversion),
        cmocka_unit_test(test_products_match_portable),
        cmocka_unit_test(test_relu_sq_matches_portable),
        cmocka_unit_test(test_bad_calls),        cmocka_unit_test(test_broken_tensors), cmocka_unit_test(test_zero_d_tensors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
