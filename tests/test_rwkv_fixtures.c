/* tests/test_rwkv_fixtures.c - RWKV-7 forward against the rwkv package.
 *
 * data/rwkv/ holds a small random RWKV-7 model (2 layers, n_embd 128, head
 * size 64, byte vocabulary) in BlinkDL's .pth naming, as fp32 .pth, fp32
 * safetensors and bf16 .pth, with the logits that the official `rwkv` PyPI
 * package (RWKV_x070, 'cpu fp32') gives after each sequence of
 * data/rwkv/sequences.txt from the all-zero state (data/make_rwkv_fixtures.py
 * makes them all). Each sequence is fed one token at a time, first one row
 * at a time, then all sequences together as rows of one batched call. */
#include "tests/testutil.h"

#include <math.h>

#include "common/npy.h"
#include "common/text.h"
#include "lmstate/rwkv/rwkv.h"

#define DIR "data/rwkv/"
#define MAX_SEQS 16
#define MAX_LEN 128
#define TOLERANCE 1e-4f

typedef struct seqs {
    int n;
    int len[MAX_SEQS];
    int32_t tok[MAX_SEQS][MAX_LEN];
} seqs;

static void read_sequences(seqs *s) {
    rd_text text;
    rd_error err;
    assert_int_equal(rd_text_read(DIR "sequences.txt", &text, &err), RD_OK);
    rd_line_iter it;
    rd_line_iter_init(&it, text.data, text.size);
    const char *line, *field[MAX_LEN];
    size_t len, flen[MAX_LEN];
    s->n = 0;
    while (rd_line_next(&it, &line, &len)) {
        assert_true(s->n < MAX_SEQS);
        int k = rd_split_ws(line, len, field, flen, MAX_LEN);
        assert_true(k >= 1);
        for (int i = 0; i < k; i++) {
            long v;
            assert_true(rd_parse_long(field[i], flen[i], &v));
            s->tok[s->n][i] = (int32_t)v;
        }
        s->len[s->n++] = k;
    }
    rd_text_free(&text);
    assert_int_equal(s->n, 7);
}

static rwkv_model *load_model(const char *path) {
    rwkv_model *m = NULL;
    rd_error err;
    rd_status st = rwkv_load(path, &m, &err);
    if (st != RD_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, RD_OK);
    assert_int_equal(rwkv_version(m), 7);
    assert_int_equal(rwkv_n_layer(m), 2);
    assert_int_equal(rwkv_n_embd(m), 128);
    assert_int_equal(rwkv_n_vocab(m), 256);
    assert_int_equal(rwkv_head_size(m), 64);
    return m;
}

/* Largest |a - b| over one row of V logits. */
static float max_abs_diff(const float *a, const float *b, int V) {
    float d = 0;
    for (int i = 0; i < V; i++) d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

static void check_row(const char *what, int seq, const float *got, const float *want, int V) {
    float d = max_abs_diff(got, want, V);
    if (!(d <= TOLERANCE)) fprintf(stderr, "%s: sequence %d: max |diff| %g\n", what, seq, (double)d);
    assert_true(d <= TOLERANCE);
}

/* Feeds each sequence alone, one token per call, from a reset state. */
static void check_one_by_one(const char *model_path, const rd_npy *want, const seqs *s) {
    rwkv_model *m = load_model(model_path);
    int V = rwkv_n_vocab(m);
    rwkv_workspace *ws;
    rd_error err;
    assert_int_equal(rwkv_workspace_create(m, 1, 1, &ws, &err), RD_OK);
    float *state = malloc(rwkv_state_size(m) * sizeof *state);
    float *logits = malloc((size_t)V * sizeof *logits);
    assert_non_null(state);
    assert_non_null(logits);
    rwkv_state_view view;
    rwkv_state_view_single(m, state, &view);
    int32_t slot = 0;
    for (int q = 0; q < s->n; q++) {
        rwkv_state_reset(m, &view, 0);
        for (int t = 0; t < s->len[q]; t++)
            assert_int_equal(rwkv_forward(m, ws, 1, &s->tok[q][t], &view, &slot, &view, &slot, logits, &err), RD_OK);
        check_row(model_path, q, logits, want->data + (size_t)q * (size_t)V, V);
    }
    free(logits);
    free(state);
    rwkv_workspace_free(ws);
    rwkv_free(m);
}

/* A view over n_slots states stored as [kind][layer][slot][size] in buf. */
static float *multi_slot_view(const rwkv_model *m, int n_slots, rwkv_state_view *v) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    int kinds = rwkv_state_kinds(m, info), L = rwkv_n_layer(m);
    float *buf = malloc(rwkv_state_size(m) * (size_t)n_slots * sizeof *buf);
    assert_non_null(buf);
    size_t off = 0;
    v->n_kinds = kinds;
    for (int k = 0; k < kinds; k++) {
        v->base[k] = buf + off;
        v->dtype[k] = RD_F32;
        v->slot_stride[k] = info[k].size;
        v->layer_stride[k] = info[k].size * (size_t)n_slots;
        off += info[k].size * (size_t)n_slots * (size_t)L;
    }
    assert_int_equal(off, rwkv_state_size(m) * (size_t)n_slots);
    return buf;
}

/* Feeds all sequences at once: at step t, one row per sequence still running,
 * each in its own slot (listed in reverse order, so rows and slots differ). */
static void check_batched(const char *model_path, const rd_npy *want, const seqs *s) {
    rwkv_model *m = load_model(model_path);
    int V = rwkv_n_vocab(m), longest = 0;
    rwkv_workspace *ws;
    rd_error err;
    assert_int_equal(rwkv_workspace_create(m, s->n, 2, &ws, &err), RD_OK);
    rwkv_state_view view;
    float *state = multi_slot_view(m, s->n, &view);
    float *logits = malloc((size_t)V * (size_t)s->n * sizeof *logits);
    float *last = malloc((size_t)V * (size_t)s->n * sizeof *last);
    assert_non_null(logits);
    assert_non_null(last);
    for (int q = 0; q < s->n; q++) {
        rwkv_state_reset(m, &view, q);
        longest = s->len[q] > longest ? s->len[q] : longest;
    }
    for (int t = 0; t < longest; t++) {
        int32_t tok[MAX_SEQS], slot[MAX_SEQS];
        int n = 0;
        for (int q = s->n - 1; q >= 0; q--)
            if (t < s->len[q]) {
                tok[n] = s->tok[q][t];
                slot[n++] = q;
            }
        assert_int_equal(rwkv_forward(m, ws, n, tok, &view, slot, &view, slot, logits, &err), RD_OK);
        for (int i = 0; i < n; i++)
            if (t == s->len[slot[i]] - 1)
                memcpy(last + (size_t)slot[i] * (size_t)V, logits + (size_t)i * (size_t)V, (size_t)V * sizeof *logits);
    }
    for (int q = 0; q < s->n; q++)
        check_row(model_path, q, last + (size_t)q * (size_t)V, want->data + (size_t)q * (size_t)V, V);
    free(last);
    free(logits);
    free(state);
    rwkv_workspace_free(ws);
    rwkv_free(m);
}

static void run_fixture(const char *model_path, const char *logits_path, int batched) {
    seqs s;
    read_sequences(&s);
    rd_npy want;
    rd_error err;
    assert_int_equal(rd_npy_read(logits_path, &want, &err), RD_OK);
    assert_int_equal(want.ndim, 2);
    assert_int_equal(want.shape[0], s.n);
    assert_int_equal(want.shape[1], 256);
    if (batched) check_batched(model_path, &want, &s);
    else check_one_by_one(model_path, &want, &s);
    rd_npy_free(&want);
}

typedef struct fixture {
    const char *model, *logits;
    int batched;
} fixture;

static const fixture FP32_PTH = {DIR "tiny-rwkv7-fp32.pth", DIR "tiny-rwkv7-fp32.logits.npy", 0};
static const fixture FP32_SAFETENSORS = {DIR "tiny-rwkv7-fp32.safetensors", DIR "tiny-rwkv7-fp32.logits.npy", 0};
/* the same tensors under Hugging Face "fla" names (data/make_fla_fixture.py) */
static const fixture FLA_SAFETENSORS = {DIR "tiny-rwkv7-fla.safetensors", DIR "tiny-rwkv7-fp32.logits.npy", 0};
static const fixture BF16_PTH = {DIR "tiny-rwkv7-bf16.pth", DIR "tiny-rwkv7-bf16.logits.npy", 0};
static const fixture FP32_PTH_BATCHED = {DIR "tiny-rwkv7-fp32.pth", DIR "tiny-rwkv7-fp32.logits.npy", 1};

/* *state: the fixture (the test's initial state). */
static void test_fixture(void **state) {
    const fixture *f = *state;
    run_fixture(f->model, f->logits, f->batched);
}

/* The bf16 model's logits differ from the fp32 model's (the fixtures would
 * not tell the two files apart otherwise), but only by rounding. */
static void test_fixtures_differ_by_precision(void **state) {
    rd_npy a, b;
    rd_error err;
    assert_int_equal(rd_npy_read(DIR "tiny-rwkv7-fp32.logits.npy", &a, &err), RD_OK);
    assert_int_equal(rd_npy_read(DIR "tiny-rwkv7-bf16.logits.npy", &b, &err), RD_OK);
    assert_int_equal(a.size, b.size);
    float d = max_abs_diff(a.data, b.data, (int)a.size);
    assert_true(d > 10 * TOLERANCE);
    assert_true(d < 0.5f);
    rd_npy_free(&a);
    rd_npy_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        {"fp32_pth", test_fixture, NULL, NULL, (void *)&FP32_PTH},
        {"fp32_safetensors", test_fixture, NULL, NULL, (void *)&FP32_SAFETENSORS},
        {"fla_safetensors", test_fixture, NULL, NULL, (void *)&FLA_SAFETENSORS},
        {"bf16_pth", test_fixture, NULL, NULL, (void *)&BF16_PTH},
        {"fp32_pth_batched", test_fixture, NULL, NULL, (void *)&FP32_PTH_BATCHED},
        cmocka_unit_test(test_fixtures_differ_by_precision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
