/* tests/test_state_file.c - RWKV state files: round trips (fp32 bit for bit,
 * fp16/bf16/int8 within their error bounds), a real model's state restored
 * into another slot scoring identically, states of another model refused,
 * malformed files each failing with its exact message (the fuzz corpus is
 * checked to be exactly these files), editing ops, statistics, distances,
 * and the `rwkv-lm state` subcommands end to end (run in process).
 *
 * RD_WRITE_CORPUS=1 rewrites tests/fuzz/corpus/fuzz_state_file/ from the
 * cases below. */
#include "tests/testutil.h"

#include <fcntl.h>
#include <math.h>

#include "cli/state_cmd.h"
#include "common/half.h"
#include "lmstate/lm.h"
#include "lmstate/rwkv/rwkv.h"
#include "lmstate/rwkv/lm_rwkv.h"
#include "lmstate/state_file.h"

#define MODEL "data/rwkv/tiny-rwkv7-fp32.safetensors"
#define CORPUS "tests/fuzz/corpus/fuzz_state_file"

/* ---------- a hand-made layout: rwkv-7, 2 layers, width 8, head size 4 ---------- */

static void toy_info(sf_model_info *in) {
    memset(in, 0, sizeof *in);
    in->fingerprint = 0x0123456789abcdefull;
    in->rwkv_version = 7;
    in->n_layer = 2;
    in->n_embd = 8;
    in->head_size = 4;
    in->n_vocab = 256;
    in->n_kinds = 3;
    static const char *const names[] = {"att_shift", "wkv", "ffn_shift"};
    static const uint64_t size[] = {8, 32, 8}, row[] = {8, 4, 8};
    for (int k = 0; k < 3; k++) {
        strcpy(in->kind_name[k], names[k]);
        in->kind_size[k] = size[k];
        in->kind_row[k] = row[k];
    }
}

/* RWKV-4's five kinds, pp starting at -1e30. */
static void toy_info4(sf_model_info *in) {
    memset(in, 0, sizeof *in);
    in->fingerprint = 0xfedcba9876543210ull;
    in->rwkv_version = 4;
    in->n_layer = 1;
    in->n_embd = 4;
    in->n_vocab = 300;
    in->n_kinds = 5;
    static const char *const names[] = {"att_shift", "ffn_shift", "aa", "bb", "pp"};
    for (int k = 0; k < 5; k++) {
        strcpy(in->kind_name[k], names[k]);
        in->kind_size[k] = 4;
        in->kind_row[k] = 4;
    }
    in->kind_init[4] = -1e30f;
}

/* Both layouts: [0] RWKV-7, [1] RWKV-4. */
static void toy_infos(sf_model_info in[2]) {
    toy_info(&in[0]);
    toy_info4(&in[1]);
}

/* n states of exact, platform-independent values (multiples of 1/8). */
static void toy_states(sf_states *s, const sf_model_info *in, int n, const char *text) {
    rd_error err;
    assert_int_equal(sf_alloc(s, in, n, text, &err), RD_OK);
    size_t size = sf_state_size(in);
    for (int i = 0; i < n; i++) {
        for (size_t e = 0; e < size; e++)
            s->data[(size_t)i * size + e] = (float)((int)((e * 37 + (size_t)i * 11) % 101) - 50) / 8.0f;
        s->pending[i] = 32 + i;
    }
}

static void write_file(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static size_t read_file(const char *path, unsigned char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* ---------- round trips ---------- */

static void encode_parse(const sf_states *s, sf_dtype t, sf_states *back) {
    unsigned char *buf;
    size_t n;
    rd_error err;
    assert_int_equal(sf_encode(s, t, &buf, &n, &err), RD_OK);
    rd_status st = sf_parse(buf, n, "mem.state", &s->info, back, &err);
    if (st != RD_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, RD_OK);
    free(buf);
    assert_int_equal(back->dtype, t);
    assert_int_equal(back->n, s->n);
    assert_memory_equal(&back->info, &s->info, sizeof s->info);
    assert_memory_equal(back->pending, s->pending, (size_t)s->n * sizeof(int32_t));
    if (s->text) assert_string_equal(back->text, s->text);
    else assert_null(back->text);
}

/* fp32: every bit comes back, NaN payloads, -0, subnormals and infinities included. */
static void test_fp32_round_trip_bit_exact(void **state) {
    sf_model_info in;
    toy_info(&in);
    sf_states s, back;
    toy_states(&s, &in, 3, "the cat sat");
    static const uint32_t special[] = {0x80000000u, 0x00000001u, 0x7f800000u, 0xff800000u, 0x7fc00123u,
                                       0xffa00001u, 0x7f7fffffu, 0x3eaaaaabu};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) s.data[i * 13] = rd_bits_to_f32(special[i]);
    encode_parse(&s, SF_F32, &back);
    assert_memory_equal(back.data, s.data, 3 * sf_state_size(&in) * sizeof(float));
    sf_free(&back);
    /* and through a file, with sf_save / sf_load */
    char path[] = "/tmp/rd_sf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    rd_error err;
    assert_int_equal(sf_save(path, &s, SF_F32, &err), RD_OK);
    assert_int_equal(sf_load(path, &in, &back, &err), RD_OK);
    assert_memory_equal(back.data, s.data, 3 * sf_state_size(&in) * sizeof(float));
    assert_string_equal(back.text, "the cat sat");
    sf_free(&back);
    sf_free(&s);
    unlink(path);
}

/* fp16 within 2^-11 relative, bf16 within 2^-8, int8 within max|row|/254;
 * RWKV-4's -1e30 survives bf16 and int8, and becomes -inf in fp16. */
static void test_compact_round_trips(void **state) {
    sf_model_info infos[2];
    toy_infos(infos);
    for (int m = 0; m < 2; m++) {
        const sf_model_info *in = &infos[m];
        sf_states s, back;
        toy_states(&s, in, 2, NULL);
        size_t size = sf_state_size(in);
        for (size_t e = 0; e < size; e++) s.data[e] *= 1.0f + 0.001f * (float)e; /* not on a grid */
        if (m == 1) s.data[sf_block_offset(in, 4, 0) + 1] = -1e30f;
        for (sf_dtype t = SF_F16; t <= SF_I8; t++) {
            encode_parse(&s, t, &back);
            for (int i = 0; i < 2; i++)
                for (int k = 0; k < in->n_kinds; k++)
                    for (int l = 0; l < in->n_layer; l++)
                        for (uint64_t r = 0; r < in->kind_size[k]; r += in->kind_row[k]) {
                            size_t at = (size_t)i * size + sf_block_offset(in, k, l) + r;
                            float amax = 0;
                            for (uint64_t j = 0; j < in->kind_row[k]; j++) amax = fmaxf(amax, fabsf(s.data[at + j]));
                            for (uint64_t j = 0; j < in->kind_row[k]; j++) {
                                float x = s.data[at + j], y = back.data[at + j];
                                if (x == -1e30f && t == SF_F16) {
                                    assert_true(isinf(y) && y < 0);
                                    continue;
                                }
                                double tol = t == SF_F16    ? fabs(x) * 0x1p-11
                                             : t == SF_BF16 ? fabs(x) * 0x1p-8
                                                            : amax / 254.0 * (1 + 1e-6);
                                if (fabs((double)x - y) > tol)
                                    fail_msg("%s: %g came back as %g (tolerance %g)", sf_dtype_name(t), (double)x,
                                             (double)y, tol);
                            }
                        }
            sf_free(&back);
        }
        sf_free(&s);
    }
}

/* int8 at the edge of fp32: a row holding FLT_MAX stays finite (the scale
 * is capped so that 127 * scale does not overflow). */
static void test_int8_extremes(void **state) {
    sf_model_info in;
    toy_info(&in);
    sf_states s, back;
    toy_states(&s, &in, 1, NULL);
    s.data[0] = 3.4028235e38f;
    s.data[1] = -3.4028235e38f;
    s.data[2] = 1e-45f; /* subnormal, lost beside FLT_MAX */
    encode_parse(&s, SF_I8, &back);
    assert_true(isfinite(back.data[0]) && back.data[0] > 3.40e38f);
    assert_true(back.data[1] == -back.data[0]);
    assert_true(back.data[2] == 0);
    sf_free(&back);
    sf_free(&s);
}

/* int8 cannot store NaN or Inf: refused before anything is written. */
static void test_int8_refuses_nonfinite(void **state) {
    sf_model_info in;
    toy_info(&in);
    sf_states s;
    toy_states(&s, &in, 2, NULL);
    s.data[sf_state_size(&in) + 5] = NAN;
    char path[] = "/tmp/rd_sf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "old", 3), 3);
    close(fd);
    rd_error err;
    assert_int_equal(sf_save(path, &s, SF_I8, &err), RD_ERR_INPUT);
    assert_string_equal(err.msg, "state 1 holds NaN or Inf, which int8 cannot store (use fp32, fp16 or bf16)");
    unsigned char buf[16];
    assert_int_equal(read_file(path, buf, sizeof buf), 3); /* untouched */
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1);
    /* an unwritable target: the temporary file cannot be made */
    assert_int_equal(sf_save("/nonexistent-dir/x.state", &s, SF_F32, &err), RD_ERR_IO);
    assert_string_equal(err.msg, "/nonexistent-dir/x.state: cannot create: No such file or directory");
    sf_free(&s);
    unlink(path);
}

/* ---------- a real model ---------- */

typedef struct real_lm {
    lm_model *m;
    lm_cache *c;
    sf_model_info info;
} real_lm;

static void real_open(real_lm *r, const char *path, int slots) {
    rd_error err;
    lm_load_options lo = {0};
    assert_int_equal(lm_load(path, &lo, &r->m, &err), RD_OK);
    assert_int_equal(lm_cache_create(r->m, slots, &r->c, &err), RD_OK);
    assert_int_equal(sf_info_of_model(lm_rwkv(r->m), &r->info, &err), RD_OK);
}

static void real_close(real_lm *r) {
    lm_cache_free(r->c);
    lm_free(r->m);
}

/* The state after a text, saved and loaded into another slot, scores every
 * next word and </s> exactly as the original slot; compact dtypes come
 * close. */
static void test_model_state_restored_in_other_slot(void **state) {
    if (access(MODEL, R_OK) != 0) skip();
    real_lm r;
    real_open(&r, MODEL, 6);
    rd_error err;
    int32_t s0 = 0;
    assert_int_equal(lm_start(r.c, &s0, 1, &err), RD_OK);
    assert_int_equal(lm_feed_text(r.c, s0, "the cat sat on", &err), RD_OK);
    sf_states s;
    assert_int_equal(sf_alloc(&s, &r.info, 1, "the cat sat on", &err), RD_OK);
    assert_int_equal(lm_state_get(r.c, s0, s.data, &s.pending[0], &err), RD_OK);
    assert_int_equal(s.pending[0], 'n'); /* " on": the last token is pending */
    static const char *const words[] = {"the", "a", "mat", "contrivance"};
    static const sf_dtype types[] = {SF_F32, SF_F16, SF_BF16, SF_I8};
    static const double tol[] = {0, 0.01, 0.05, 0.1};
    char path[] = "/tmp/rd_sf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    for (int t = 0; t < 4; t++) {
        assert_int_equal(sf_save(path, &s, types[t], &err), RD_OK);
        sf_states back;
        assert_int_equal(sf_load(path, &r.info, &back, &err), RD_OK);
        int32_t s2 = 2;
        assert_int_equal(lm_state_set(r.c, s2, back.data, back.pending[0], &err), RD_OK);
        sf_free(&back);
        float want, got;
        assert_int_equal(lm_finish(r.c, &s0, 1, &want, &err), RD_OK);
        assert_int_equal(lm_finish(r.c, &s2, 1, &got, &err), RD_OK);
        if (t == 0) assert_true(want == got);
        else assert_float_equal(want, got, tol[t]);
        for (int i = 0; i < 4; i++) {
            int32_t w = lm_word(r.c, words[i], strlen(words[i])), c1 = 1, c3 = 3;
            assert_int_equal(lm_score_words(r.c, &s0, &w, &c1, 1, &want, &err), RD_OK);
            assert_int_equal(lm_score_words(r.c, &s2, &w, &c3, 1, &got, &err), RD_OK);
            if (t == 0) assert_true(want == got);
            else assert_float_equal(want, got, tol[t]);
        }
    }
    sf_free(&s);
    unlink(path);
    real_close(&r);
}

/* One checkpoint in three files has one fingerprint; the bf16 copy of it
 * (same dims) and a model of other dims are refused with their numbers. */
static void test_other_model_refused(void **state) {
    if (access(MODEL, R_OK) != 0) skip();
    rwkv_model *m;
    rd_error err;
    sf_model_info a, b;
    assert_int_equal(rwkv_load(MODEL, &m, &err), RD_OK);
    assert_int_equal(sf_info_of_model(m, &a, &err), RD_OK);
    rwkv_free(m);
    static const char *const same[] = {"data/rwkv/tiny-rwkv7-fp32.pth", "data/rwkv/tiny-rwkv7-fla.safetensors"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rwkv_load(same[i], &m, &err), RD_OK);
        assert_int_equal(sf_info_of_model(m, &b, &err), RD_OK);
        assert_memory_equal(&a, &b, sizeof a);
        rwkv_free(m);
    }
    assert_int_equal(a.kind_row[1], 64);
    assert_int_equal(a.kind_size[1], 128 * 64);
    sf_states s;
    toy_states(&s, &a, 1, NULL);
    unsigned char *buf;
    size_t n;
    assert_int_equal(sf_encode(&s, SF_F32, &buf, &n, &err), RD_OK);
    sf_free(&s);
    assert_int_equal(rwkv_load("data/rwkv/tiny-rwkv7-bf16.pth", &m, &err), RD_OK);
    assert_int_equal(sf_info_of_model(m, &b, &err), RD_OK);
    rwkv_free(m);
    assert_true(a.fingerprint != b.fingerprint);
    char want[512];
    snprintf(want, sizeof want,
             "s.state: made for another model (fingerprint 0x%016llx, this model 0x%016llx; same dims, other weights)",
             (unsigned long long)a.fingerprint, (unsigned long long)b.fingerprint);
    assert_int_equal(sf_parse(buf, n, "s.state", &b, &s, &err), RD_ERR_INPUT);
    assert_string_equal(err.msg, want);
    assert_null(s.data);
    char other[512];
    if (rd_test_data(other, sizeof other, "rwkv/tiny-rwkv-7v0-834K-FP32.bin")) {
        assert_int_equal(rwkv_load(other, &m, &err), RD_OK);
        assert_int_equal(sf_info_of_model(m, &b, &err), RD_OK);
        rwkv_free(m);
        snprintf(want, sizeof want,
                 "s.state: made for another model (fingerprint 0x%016llx, this model 0x%016llx; layers 2 vs 12, "
                 "width 128 vs 64)",
                 (unsigned long long)a.fingerprint, (unsigned long long)b.fingerprint);
        assert_int_equal(sf_parse(buf, n, "s.state", &b, &s, &err), RD_ERR_INPUT);
        assert_string_equal(err.msg, want);
    }
    free(buf);
}

/* ---------- malformed files ---------- */

static void set_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void fix_checksum(unsigned char *b, size_t n) {
    uint64_t h = sf_checksum(b, n - 8);
    set_u32(b + n - 8, (uint32_t)h);
    set_u32(b + n - 4, (uint32_t)(h >> 32));
}

enum { KIND0 = 68, KIND_SIZE = 48, PENDING = 68 + 3 * 48, TEXT = PENDING + 8, PAYLOAD = TEXT + 8 };

typedef struct bad_case {
    const char *file;
    const char *want;  /* after "NAME: " */
} bad_case;

static const bad_case bad_cases[] = {
    {"bad_magic.state", "not a state file (bad magic: expected \"RWKVSTAT\" at the start)"},
    {"bad_tiny.state", "not a state file (bad magic: expected \"RWKVSTAT\" at the start)"},
    {"bad_version.state", "format version 9, this program reads 1"},
    {"bad_header_cut.state", "truncated: 40 bytes, the header alone has 68"},
    {"bad_rwkv_version.state", "rwkv version 5 (expected 4 or 7)"},
    {"bad_layers.state", "layers 0 (expected 1 to 65536)"},
    {"bad_head_size.state", "head size 3 (expected a divisor of the width 8)"},
    {"bad_kinds_count.state", "kinds of state 6 (expected 1 to 5)"},
    {"bad_header_size.state", "header of 200 bytes (expected 212 for 3 kinds)"},
    {"bad_dtype.state", "unknown storage dtype 7 (expected 0 fp32, 1 fp16, 2 bf16 or 3 int8)"},
    {"bad_zero_states.state", "holds no states (n = 0, expected at least 1)"},
    {"bad_kind_name.state", "kind 1: expected a name of 1 to 23 letters, digits or '_', NUL-padded"},
    {"bad_kind_repeat.state", "kind 2: name 'wkv' repeats kind 1"},
    {"bad_kind_size.state", "kind 0 'att_shift': size 0 (expected 1 to 4294967296 elements per layer)"},
    {"bad_kind_row.state", "kind 1 'wkv': rows of 3 elements (expected a divisor of its size 32)"},
    {"bad_kind_init.state", "kind 2 'ffn_shift': initial value nan (expected a finite value)"},
    {"bad_payload_size.state", "the header says 772 bytes of states; 2 fp32 states of its kinds and layers make 768"},
    {"bad_truncated.state", "truncated: the header says the file has 1004 bytes (768 bytes of states), it has 904"},
    {"bad_trailing.state", "3 trailing bytes after the checksum (expected 1004 bytes in all)"},
    {"bad_checksum.state", "checksum mismatch (file corrupt): stored 0x0ed60a01c1573bad, computed 0x189ca04a23f1a76d"},
    {"bad_fingerprint.state", "made for another model (fingerprint 0x0123456789abcdee, this model 0x0123456789abcdef; "
                              "same dims, other weights)"},
    {"bad_vocab.state", "made for another model (fingerprint 0x0123456789abcdef, this model 0x0123456789abcdef; "
                        "vocabulary 512 vs 256)"},
    {"bad_pending.state", "state 1: pending token 300 is out of range (expected 0 to 255)"},
    {"bad_text_nul.state", "the text holds a NUL byte at offset 2"},
    {"bad_int8_scale.state", "state 0, kind 'wkv', layer 1, row 0: int8 scale nan (expected 0 to 2.67939e+36)"},
    {"bad_int8_negative_scale.state", "state 1, kind 'ffn_shift', layer 0, row 0: int8 scale -1 (expected 0 to "
                                      "2.67939e+36)"},
    {"bad_int8_minus_128.state", "state 0, kind 'att_shift', layer 1, row 0: int8 value -128 (expected -127 to 127)"},
    {"bad_int8_huge_scale.state", "state 1, kind 'wkv', layer 0, row 7: int8 scale 3e+36 (expected 0 to "
                                  "2.67939e+36)"},
};
enum { N_BAD = sizeof bad_cases / sizeof *bad_cases };

/* Byte offset of (state, kind, layer) in the toy int8 payload. */
static size_t i8_offset(const sf_model_info *in, int s, int kind, int layer) {
    size_t per_layer[3], off = PAYLOAD;
    for (int k = 0; k < 3; k++) per_layer[k] = in->kind_size[k] / in->kind_row[k] * (4 + in->kind_row[k]);
    size_t state = (per_layer[0] + per_layer[1] + per_layer[2]) * (size_t)in->n_layer;
    off += (size_t)s * state;
    for (int k = 0; k < kind; k++) off += per_layer[k] * (size_t)in->n_layer;
    return off + (size_t)layer * per_layer[kind];
}

/* The bytes of bad case i (toy states, 2 of them, text "hi there"); cap >= 2048. */
static size_t make_bad(int i, unsigned char *b) {
    sf_model_info in;
    toy_info(&in);
    sf_states s;
    toy_states(&s, &in, 2, "hi there");
    int int8 = strstr(bad_cases[i].file, "int8") != NULL;
    unsigned char *enc;
    size_t n;
    rd_error err;
    assert_int_equal(sf_encode(&s, int8 ? SF_I8 : SF_F32, &enc, &n, &err), RD_OK);
    sf_free(&s);
    assert_true(n <= 2048 - 8);
    memcpy(b, enc, n);
    free(enc);
    int fix = 0;
    switch (i) {
    case 0: b[0] = 'X'; break;
    case 1: n = 4; break;
    case 2: set_u32(b + 8, 9); break;
    case 3: n = 40; break;
    case 4: set_u32(b + 32, 5); break;
    case 5: set_u32(b + 36, 0); break;
    case 6: set_u32(b + 44, 3); break;
    case 7: set_u32(b + 52, 6); break;
    case 8: set_u32(b + 12, 200); break;
    case 9: set_u32(b + 56, 7); break;
    case 10: set_u32(b + 60, 0); break;
    case 11: b[KIND0 + KIND_SIZE + 1] = ' '; break;
    case 12: memcpy(b + KIND0 + 2 * KIND_SIZE, "wkv\0\0\0\0\0\0", 9); break;
    case 13: memset(b + KIND0 + 24, 0, 8); break;
    case 14: set_u32(b + KIND0 + KIND_SIZE + 32, 3); break;
    case 15: set_u32(b + KIND0 + 2 * KIND_SIZE + 40, 0x7fc00000u); break;
    case 16: set_u32(b + 24, 772); break;
    case 17: n -= 100; break;
    case 18: memcpy(b + n, "abc", 3); n += 3; break;
    case 19: b[PAYLOAD + 100] ^= 0x40; break;
    case 20: b[16] ^= 1; fix = 1; break;
    case 21: set_u32(b + 48, 512); fix = 1; break;
    case 22: set_u32(b + PENDING + 4, 300); fix = 1; break;
    case 23: b[TEXT + 2] = 0; fix = 1; break;
    case 24: set_u32(b + i8_offset(&in, 0, 1, 1), 0x7fc00000u); fix = 1; break;
    case 25: set_u32(b + i8_offset(&in, 1, 2, 0), 0xbf800000u); fix = 1; break;
    case 26: b[i8_offset(&in, 0, 0, 1) + 4 + 5] = 0x80; fix = 1; break;
    case 27: set_u32(b + i8_offset(&in, 1, 1, 0) + 7 * 8, rd_f32_to_bits(3e36f)); fix = 1; break;
    }
    if (fix) fix_checksum(b, n);
    return n;
}

/* Each malformed file fails with its exact message and returns nothing. */
static void test_malformed_files(void **state) {
    sf_model_info in;
    toy_info(&in);
    for (int i = 0; i < N_BAD; i++) {
        unsigned char b[2048];
        size_t n = make_bad(i, b);
        sf_states s;
        rd_error err;
        char want[1200];
        snprintf(want, sizeof want, "s.state: %s", bad_cases[i].want);
        rd_status st = sf_parse(b, n, "s.state", &in, &s, &err);
        if (st != RD_ERR_INPUT || strcmp(err.msg, want) != 0)
            fail_msg("case %s: status %d, message\n  %s\nexpected\n  %s", bad_cases[i].file, (int)st, err.msg, want);
        assert_null(s.data);
        assert_null(s.block);
        assert_int_equal(s.n, 0);
    }
}

/* Valid seeds of the fuzz corpus: the toy states in every dtype, and RWKV-4 kinds. */
static size_t make_valid(int i, unsigned char *b, size_t cap, const char **file) {
    static const char *const files[] = {"valid_fp32.state", "valid_fp16.state", "valid_bf16.state",
                                        "valid_int8.state", "valid_rwkv4_int8.state"};
    sf_model_info in;
    if (i < 4) toy_info(&in);
    else toy_info4(&in);
    sf_states s;
    toy_states(&s, &in, i < 4 ? 2 : 1, i < 4 ? "hi there" : NULL);
    unsigned char *enc;
    size_t n;
    rd_error err;
    assert_int_equal(sf_encode(&s, i < 4 ? (sf_dtype)i : SF_I8, &enc, &n, &err), RD_OK);
    sf_free(&s);
    assert_true(n <= cap);
    memcpy(b, enc, n);
    free(enc);
    *file = files[i];
    return n;
}

/* The committed corpus is exactly these cases (RD_WRITE_CORPUS=1 rewrites
 * it), and sf_load names the file in each message. */
static void test_fuzz_corpus(void **state) {
    int write = getenv("RD_WRITE_CORPUS") && strcmp(getenv("RD_WRITE_CORPUS"), "1") == 0;
    if (!write && access(CORPUS, R_OK) != 0) skip();
    for (int i = 0; i < N_BAD + 5; i++) {
        unsigned char b[2048], got[4096];
        const char *file = i < N_BAD ? bad_cases[i].file : NULL;
        size_t n = i < N_BAD ? make_bad(i, b) : make_valid(i - N_BAD, b, sizeof b, &file);
        char path[256];
        snprintf(path, sizeof path, CORPUS "/%s", file);
        if (write) write_file(path, b, n);
        if (read_file(path, got, sizeof got) != n || memcmp(got, b, n) != 0)
            fail_msg("%s differs from the case the test makes (RD_WRITE_CORPUS=1 rewrites it)", path);
        sf_states s;
        rd_error err;
        sf_model_info in;
        if (i < N_BAD + 4) toy_info(&in);
        else toy_info4(&in);
        rd_status st = sf_load(path, &in, &s, &err);
        if (i >= N_BAD) {
            assert_int_equal(st, RD_OK);
            sf_free(&s);
            continue;
        }
        char want[1400];
        snprintf(want, sizeof want, "%s: %s", path, bad_cases[i].want);
        assert_int_equal(st, RD_ERR_INPUT);
        assert_string_equal(err.msg, want);
    }
}

/* ---------- editing ---------- */

static void test_blend(void **state) {
    sf_model_info in;
    toy_info(&in);
    sf_states a, b;
    toy_states(&a, &in, 2, NULL);
    toy_states(&b, &in, 2, NULL);
    size_t size = sf_state_size(&in);
    float *x = a.data, *y = b.data + size, *out = malloc(size * sizeof *out); /* two different states */
    float w0[3] = {0, 0, 0}, w1[3] = {1, 1, 1}, wh[3] = {0.5f, 0.5f, 0.5f}, wk[3] = {0, 1, 0.25f};
    sf_blend(&in, x, y, w0, out);
    assert_memory_equal(out, x, size * sizeof *out);
    sf_blend(&in, x, y, w1, out);
    assert_memory_equal(out, y, size * sizeof *out);
    sf_blend(&in, x, y, wh, out);
    for (size_t e = 0; e < size; e++) assert_true(out[e] == (x[e] + y[e]) / 2); /* multiples of 1/16: exact */
    sf_blend(&in, x, y, wk, out);
    for (int k = 0; k < 3; k++)
        for (int l = 0; l < 2; l++) {
            size_t off = sf_block_offset(&in, k, l);
            for (size_t e = off; e < off + in.kind_size[k]; e++)
                assert_true(out[e] == x[e] * (1 - wk[k]) + y[e] * wk[k]);
        }
    sf_blend(&in, x, y, wk, x); /* in place */
    assert_memory_equal(x, out, size * sizeof *out);
    free(out);
    sf_free(&a);
    sf_free(&b);
}

/* decay 1 keeps, 0 gives the initial state (RWKV-4's pp back to -1e30
 * exactly), 0.5 halves the distance; the pending token stays. */
static void test_decay(void **state) {
    sf_model_info infos[2];
    toy_infos(infos);
    for (int m = 0; m < 2; m++) {
        const sf_model_info *in = &infos[m];
        sf_states s, orig;
        toy_states(&s, in, 1, NULL);
        toy_states(&orig, in, 1, NULL);
        size_t size = sf_state_size(in);
        float *init = malloc(size * sizeof *init);
        sf_initial(in, init);
        sf_decay(in, s.data, 1.0f);
        assert_memory_equal(s.data, orig.data, size * sizeof(float));
        sf_decay(in, s.data, 0.5f);
        for (size_t e = 0; e < size; e++) assert_true(s.data[e] == orig.data[e] * 0.5f + init[e] * 0.5f);
        sf_decay(in, s.data, 0.0f);
        assert_memory_equal(s.data, init, size * sizeof(float));
        assert_int_equal(s.pending[0], 32);
        if (m == 1) assert_true(s.data[sf_block_offset(in, 4, 0)] == -1e30f);
        free(init);
        sf_free(&s);
        sf_free(&orig);
    }
}

/* reset of layer 1's wkv: exactly that block is initial, the rest unchanged. */
static void test_reset(void **state) {
    sf_model_info in;
    toy_info4(&in);
    in.n_layer = 3;
    sf_states s, orig;
    toy_states(&s, &in, 1, NULL);
    toy_states(&orig, &in, 1, NULL);
    unsigned char layers[3] = {0, 1, 0};
    sf_reset(&in, s.data, layers, 1u << 4 | 1u << 0); /* pp and att_shift of layer 1 */
    for (int k = 0; k < 5; k++)
        for (int l = 0; l < 3; l++) {
            size_t off = sf_block_offset(&in, k, l);
            int reset = l == 1 && (k == 4 || k == 0);
            for (size_t e = off; e < off + in.kind_size[k]; e++)
                assert_true(s.data[e] == (reset ? in.kind_init[k] : orig.data[e]));
        }
    sf_reset(&in, s.data, NULL, 1u << 2); /* aa everywhere */
    for (int l = 0; l < 3; l++)
        for (size_t e = 0; e < 4; e++) assert_true(s.data[sf_block_offset(&in, 2, l) + e] == 0.0f);
    assert_true(s.data[sf_block_offset(&in, 3, 0)] == orig.data[sf_block_offset(&in, 3, 0)]);
    sf_free(&s);
    sf_free(&orig);
}

/* ---------- measuring ---------- */

/* Two kinds: a [4], b [2]; 2 layers. */
static void tiny_info(sf_model_info *in) {
    memset(in, 0, sizeof *in);
    in->rwkv_version = 4;
    in->n_layer = 2;
    in->n_embd = 4;
    in->n_vocab = 10;
    in->n_kinds = 2;
    strcpy(in->kind_name[0], "a");
    strcpy(in->kind_name[1], "b");
    in->kind_size[0] = in->kind_row[0] = 4;
    in->kind_size[1] = in->kind_row[1] = 2;
}

static void test_stats(void **state) {
    sf_model_info in;
    tiny_info(&in);
    /* a: layer 0, layer 1; b: layer 0, layer 1 */
    const float x[12] = {1, -2, 3, NAN, INFINITY, 0, 0, 4, -INFINITY, 0.5f, 2, 2};
    sf_stats st;
    sf_stats_of(&in, x, 0, 0, &st);
    assert_int_equal(st.n, 4);
    assert_int_equal(st.nan, 1);
    assert_int_equal(st.inf, 0);
    assert_true(st.min == -2 && st.max == 3);
    assert_float_equal(st.mean, 2.0 / 3, 1e-12);
    assert_float_equal(st.l2, sqrt(14.0), 1e-12);
    sf_stats_of(&in, x, 0, -1, &st); /* a over both layers */
    assert_int_equal(st.n, 8);
    assert_int_equal(st.inf, 1);
    assert_true(st.min == -2 && st.max == 4);
    assert_float_equal(st.mean, 6.0 / 6, 1e-12);
    assert_float_equal(st.l2, sqrt(30.0), 1e-12);
    sf_stats_of(&in, x, 1, 0, &st);
    assert_true(st.n == 2 && st.inf == 1 && st.min == 0.5f && st.max == 0.5f);
    sf_stats_of(&in, x, -1, -1, &st); /* everything */
    assert_int_equal(st.n, 12);
    assert_true(st.nan == 1 && st.inf == 2);
    assert_float_equal(st.mean, 10.5 / 9, 1e-12);
    assert_float_equal(st.l2, sqrt(38.25), 1e-12);
    const float nans[12] = {NAN, NAN, NAN, NAN};
    sf_stats_of(&in, nans, 0, 0, &st);
    assert_true(st.nan == 4 && isnan(st.min) && isnan(st.max) && isnan(st.mean) && isnan(st.l2));
}

static void test_distance(void **state) {
    sf_model_info in;
    tiny_info(&in);
    const float a[12] = {1, 0, 0, 0, 3, 4, 0, 0, 0, 0, 1, 1};
    const float b[12] = {0, 1, 0, 0, 3, 4, 0, 0, 0, 0, -1, -1};
    sf_distance d;
    sf_distance_of(&in, a, b, 0, 0, &d); /* orthogonal */
    assert_float_equal(d.l2, sqrt(2.0), 1e-12);
    assert_float_equal(d.cosine, 0, 1e-12);
    sf_distance_of(&in, a, b, 0, 1, &d); /* equal */
    assert_true(d.l2 == 0 && d.cosine == 1);
    sf_distance_of(&in, a, b, 1, 1, &d); /* opposite */
    assert_float_equal(d.l2, sqrt(8.0), 1e-12);
    assert_float_equal(d.cosine, -1, 1e-12);
    sf_distance_of(&in, a, b, 1, 0, &d); /* both zero */
    assert_true(d.l2 == 0 && d.cosine == 1);
    sf_distance_of(&in, a, b, -1, 1, &d); /* layer 1, every kind: a.b = 25 - 2 */
    assert_float_equal(d.l2, sqrt(8.0), 1e-12);
    assert_float_equal(d.cosine, 23.0 / 27, 1e-12);
    sf_distance_of(&in, a, b, -1, -1, &d);
    assert_float_equal(d.l2, sqrt(10.0), 1e-12);
    assert_float_equal(d.cosine, 23.0 / 28, 1e-12);
    const float z[12] = {0};
    sf_distance_of(&in, a, z, 0, 0, &d); /* one zero */
    assert_true(d.l2 == 1 && d.cosine == 0);
}

/* ---------- rwkv-lm state, in process ---------- */

typedef struct cli_run {
    int rc;
    char out[65536], err[4096];
} cli_run;

static void slurp_fd(int fd, char *buf, size_t cap) {
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
}

/* The files of these tests are named "/tmp/rd_sf_NAME" in the source; on
 * disk they are "/tmp/rd_sf_PID_NAME", so that two runs side by side (two
 * checkouts, a loaded CI machine) never share one. P() maps a name; cli()
 * maps its arguments and maps the output back. */
#define SF_NAME "/tmp/rd_sf_"
static char sf_real[64];

static const char *P(const char *path) {
    static char buf[4][512];
    static int k;
    if (strncmp(path, SF_NAME, strlen(SF_NAME)) != 0) return path;
    if (!sf_real[0]) snprintf(sf_real, sizeof sf_real, SF_NAME "%d_", (int)getpid());
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s%s", sf_real, path + strlen(SF_NAME));
    return b;
}

/* Replaces every sf_real in s by SF_NAME, in place. */
static void unmap(char *s) {
    size_t n = strlen(sf_real);
    for (char *p; n && (p = strstr(s, sf_real));) memmove(p + strlen(SF_NAME), p + n, strlen(p + n) + 1), memcpy(p, SF_NAME, strlen(SF_NAME));
}

/* Runs state_cmd_main on the NULL-terminated arguments after "state",
 * capturing stdout and stderr. */
static void cli(cli_run *r, const char *const *args) {
    char *argv[32], copy[32][512];
    int argc = 0;
    argv[argc++] = strcpy(copy[0], "state");
    for (; args[argc - 1]; argc++) argv[argc] = strcpy(copy[argc], P(args[argc - 1]));
    argv[argc] = NULL;
    char po[] = "/tmp/rd_sf_out_XXXXXX", pe[] = "/tmp/rd_sf_err_XXXXXX";
    int fo = mkstemp(po), fe = mkstemp(pe);
    assert_true(fo >= 0 && fe >= 0);
    unlink(po);
    unlink(pe);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(fo, 1);
    dup2(fe, 2);
    r->rc = state_cmd_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    slurp_fd(fo, r->out, sizeof r->out);
    slurp_fd(fe, r->err, sizeof r->err);
    unmap(r->out);
    unmap(r->err);
}

#define CLI(r, ...) cli((r), (const char *const[]){__VA_ARGS__, NULL})

/* The line of out that starts with prefix, or "". */
static const char *line_of(const char *out, const char *prefix, char *buf, size_t cap) {
    size_t plen = strlen(prefix);
    for (const char *p = out; *p;) {
        size_t len = strcspn(p, "\n");
        if (len >= plen && strncmp(p, prefix, plen) == 0) {
            snprintf(buf, cap, "%.*s", (int)len, p);
            return buf;
        }
        p += len + (p[len] == '\n');
    }
    buf[0] = '\0';
    return buf;
}

/* save makes the state the API makes; inspect, diff, blend, decay and reset
 * print and write what the library computes. */
static void test_cli_end_to_end(void **state) {
    if (access(MODEL, R_OK) != 0) skip();
    cli_run *r = malloc(sizeof *r);
    CLI(r, "save", "--model", MODEL, "--text", "the cat sat on", "-o", "/tmp/rd_sf_a.state");
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->out, "wrote /tmp/rd_sf_a.state: rwkv-7, 2 layers, 128 wide, vocabulary 256, pending token "
                                "110, fp32\n");
    CLI(r, "save", "--model", MODEL, "--text", "hello   world\n", "--dtype", "bf16", "-o", "/tmp/rd_sf_b.state");
    assert_int_equal(r->rc, 0);
    /* the same state as through the API */
    real_lm m;
    real_open(&m, MODEL, 2);
    rd_error err;
    int32_t s0 = 0;
    assert_int_equal(lm_start(m.c, &s0, 1, &err), RD_OK);
    assert_int_equal(lm_feed_text(m.c, s0, "the cat sat on", &err), RD_OK);
    size_t size = sf_state_size(&m.info);
    float *want = malloc(size * sizeof *want);
    int32_t pend;
    assert_int_equal(lm_state_get(m.c, s0, want, &pend, &err), RD_OK);
    sf_states a, b;
    assert_int_equal(sf_load(P("/tmp/rd_sf_a.state"), &m.info, &a, &err), RD_OK);
    assert_memory_equal(a.data, want, size * sizeof *want);
    assert_int_equal(a.pending[0], pend);
    assert_string_equal(a.text, "the cat sat on");
    assert_int_equal(sf_load(P("/tmp/rd_sf_b.state"), &m.info, &b, &err), RD_OK);
    assert_int_equal(b.dtype, SF_BF16);

    char line[512], exp[512];
    CLI(r, "inspect", "/tmp/rd_sf_a.state");
    assert_int_equal(r->rc, 0);
    snprintf(exp, sizeof exp, "model       rwkv-7, 2 layers, width 128, head size 64, vocabulary 256, fingerprint 0x%016llx",
             (unsigned long long)m.info.fingerprint);
    assert_string_equal(line_of(r->out, "model ", line, sizeof line), exp);
    assert_string_equal(line_of(r->out, "text ", line, sizeof line), "text        \"the cat sat on\"");
    assert_string_equal(line_of(r->out, "format ", line, sizeof line), "format      1, 1 state stored as fp32");
    sf_stats st;
    sf_stats_of(&m.info, a.data, 1, 1, &st);
    snprintf(exp, sizeof exp, "%-12s  %-6d  %-12.6g  %-12.6g  %-12.6g  %-12.6g  %-6d  %d", "wkv", 1, (double)st.min,
             (double)st.max, st.mean, st.l2, 0, 0);
    assert_string_equal(line_of(r->out, "wkv           1 ", line, sizeof line), exp);

    CLI(r, "diff", "/tmp/rd_sf_a.state", "/tmp/rd_sf_b.state");
    assert_int_equal(r->rc, 0);
    sf_distance d;
    sf_distance_of(&m.info, a.data, b.data, -1, -1, &d);
    snprintf(exp, sizeof exp, "%-6s  %-12s  %-12.6g  %.6g", "all", "all", d.l2, d.cosine);
    assert_string_equal(line_of(r->out, "all ", line, sizeof line), exp);
    CLI(r, "diff", "/tmp/rd_sf_a.state", "/tmp/rd_sf_a.state");
    assert_string_equal(line_of(r->out, "all ", line, sizeof line), "all     all           0             1");

    /* blend with one weight per kind */
    CLI(r, "blend", "/tmp/rd_sf_a.state", "/tmp/rd_sf_b.state", "-w", "0.25,1,0", "-o", "/tmp/rd_sf_c.state");
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->err, "rwkv-lm state blend: note: state 0: pending tokens differ (110, 100); keeping "
                                "/tmp/rd_sf_a.state's\n");
    sf_states c;
    assert_int_equal(sf_load(P("/tmp/rd_sf_c.state"), &m.info, &c, &err), RD_OK);
    assert_int_equal(c.dtype, SF_F32);
    assert_null(c.text);
    float w[3] = {0.25f, 1, 0};
    sf_blend(&m.info, a.data, b.data, w, want);
    assert_memory_equal(c.data, want, size * sizeof *want);
    sf_free(&c);

    CLI(r, "decay", "/tmp/rd_sf_a.state", "-f", "0.5", "--dtype", "int8", "-o", "/tmp/rd_sf_c.state");
    assert_int_equal(r->rc, 0);
    assert_string_equal(r->out, "wrote /tmp/rd_sf_c.state: 1 state, int8\n");
    assert_int_equal(sf_load(P("/tmp/rd_sf_c.state"), &m.info, &c, &err), RD_OK);
    assert_int_equal(c.dtype, SF_I8);
    for (size_t e = 0; e < size; e++) assert_float_equal(c.data[e], a.data[e] * 0.5f, 0.05);
    sf_free(&c);

    CLI(r, "reset", "/tmp/rd_sf_a.state", "--layers", "1", "--kinds", "wkv,att_shift", "-o", "/tmp/rd_sf_c.state");
    assert_int_equal(r->rc, 0);
    assert_int_equal(sf_load(P("/tmp/rd_sf_c.state"), &m.info, &c, &err), RD_OK);
    memcpy(want, a.data, size * sizeof *want);
    unsigned char layers[2] = {0, 1};
    sf_reset(&m.info, want, layers, 1u << 0 | 1u << 1);
    assert_memory_equal(c.data, want, size * sizeof *want);
    assert_string_equal(c.text, "the cat sat on");
    sf_free(&c);

    sf_free(&a);
    sf_free(&b);
    free(want);
    real_close(&m);
    free(r);
    unlink(P("/tmp/rd_sf_a.state"));
    unlink(P("/tmp/rd_sf_b.state"));
    unlink(P("/tmp/rd_sf_c.state"));
}

/* What a user gets wrong: exit status 2 for usage, 1 for bad input, and the message. */
static void test_cli_errors(void **state) {
    cli_run *r = malloc(sizeof *r);
    sf_model_info in;
    toy_info(&in);
    sf_states s;
    toy_states(&s, &in, 1, NULL);
    rd_error err;
    assert_int_equal(sf_save(P("/tmp/rd_sf_toy.state"), &s, SF_F32, &err), RD_OK);
    sf_model_info in4;
    toy_info4(&in4);
    sf_free(&s);
    toy_states(&s, &in4, 1, NULL);
    assert_int_equal(sf_save(P("/tmp/rd_sf_toy4.state"), &s, SF_F32, &err), RD_OK);
    sf_free(&s);
    static const struct {
        const char *args[10];
        int rc;
        const char *err;
    } cases[] = {
        {{"frobnicate"}, 2, "rwkv-lm state: unknown subcommand 'frobnicate' (expected save, inspect, diff, blend, "
                            "decay or reset; see rwkv-lm state --help)\n"},
        {{"save", "--text", "x", "-o", "o.state"}, 2, "rwkv-lm state save: --model is required (see rwkv-lm state save --help)\n"},
        {{"save", "--model", "m", "-o", "o.state"}, 2,
         "rwkv-lm state save: give one of --text and --text-file (see rwkv-lm state save --help)\n"},
        {{"save", "--model", "m", "--text", "x", "-o", "o", "--dtype", "fp8"}, 2,
         "rwkv-lm state save: --dtype: expected fp32, fp16, bf16 or int8, got 'fp8'\n"},
        {{"inspect"}, 2, "rwkv-lm state inspect: expected one state file (see rwkv-lm state inspect --help)\n"},
        {{"inspect", "/tmp/rd_sf_missing.state"}, 1, "rwkv-lm: /tmp/rd_sf_missing.state: cannot open: No such file or "
                                                     "directory\n"},
        {{"inspect", CORPUS "/bad_checksum.state"}, 1,
         "rwkv-lm: " CORPUS "/bad_checksum.state: checksum mismatch (file corrupt): stored 0x0ed60a01c1573bad, "
         "computed 0x189ca04a23f1a76d\n"},
        {{"diff", "/tmp/rd_sf_toy.state", "/tmp/rd_sf_toy4.state"}, 1,
         "rwkv-lm: /tmp/rd_sf_toy4.state: made for another model (fingerprint 0xfedcba9876543210, /tmp/rd_sf_toy.state "
         "0x0123456789abcdef; rwkv version 4 vs 7, layers 1 vs 2, width 4 vs 8, head size 0 vs 4, vocabulary 300 vs "
         "256)\n"},
        {{"blend", "/tmp/rd_sf_toy.state", "/tmp/rd_sf_toy.state", "-w", "0.1,0.2", "-o", "/tmp/rd_sf_x.state"}, 2,
         "rwkv-lm state blend: -w: 2 weights, expected 1 or one per kind (3)\n"},
        {{"blend", "/tmp/rd_sf_toy.state", "/tmp/rd_sf_toy.state", "-w", "nan", "-o", "/tmp/rd_sf_x.state"}, 2,
         "rwkv-lm state blend: -w: expected a finite number or a comma-separated list, got nan (see rwkv-lm state "
         "blend --help)\n"},
        {{"blend", "/tmp/rd_sf_toy.state", "/tmp/rd_sf_toy.state", "-w", "1e38", "-o", "/tmp/rd_sf_x.state"}, 2,
         "rwkv-lm state blend: -w 1e38: the blend overflows (state 0 is not finite); use weights nearer 0..1\n"},
        {{"decay", "/tmp/rd_sf_toy.state", "-f", "1.5", "-o", "/tmp/rd_sf_x.state"}, 2,
         "rwkv-lm state decay: -f: expected 0 to 1, got 1.5 (see rwkv-lm state decay --help)\n"},
        {{"reset", "/tmp/rd_sf_toy.state", "--layers", "0,2", "-o", "/tmp/rd_sf_x.state"}, 2,
         "rwkv-lm state reset: --layers: layer 2 is out of range (the state has 2 layers: 0 to 1)\n"},
        {{"reset", "/tmp/rd_sf_toy.state", "--layers", "1-0", "-o", "/tmp/rd_sf_x.state"}, 2,
         "rwkv-lm state reset: --layers: expected numbers and ranges such as 0,3-5, got '1-0'\n"},
        {{"reset", "/tmp/rd_sf_toy.state", "--kinds", "wkv,aa", "-o", "/tmp/rd_sf_x.state"}, 2,
         "rwkv-lm state reset: --kinds: no kind 'aa' (the state has att_shift wkv ffn_shift)\n"},
        {{"reset", "/tmp/rd_sf_toy.state", "-o", "/tmp/rd_sf_x.state"}, 2,
         "rwkv-lm state reset: give --layers, --kinds or both (see rwkv-lm state reset --help)\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *a[11] = {0};
        for (int j = 0; j < 10 && cases[i].args[j]; j++) a[j] = cases[i].args[j];
        cli(r, a);
        if (r->rc != cases[i].rc || strcmp(r->err, cases[i].err) != 0)
            fail_msg("case %zu (%s): exit %d, stderr\n  %s\nexpected %d\n  %s", i, a[0], r->rc, r->err, cases[i].rc,
                     cases[i].err);
    }
    static const char *const subs[] = {"save", "inspect", "diff", "blend", "decay", "reset"};
    for (int i = 0; i < 6; i++) {
        CLI(r, subs[i], "--help");
        assert_int_equal(r->rc, 0);
        assert_true(strncmp(r->out, "usage: rwkv-lm state ", 21) == 0);
        assert_non_null(strstr(r->out, "example"));
    }
    CLI(r, "--help");
    assert_int_equal(r->rc, 0);
    assert_non_null(strstr(r->out, "rwkv-lm state save --model"));
    free(r);
    unlink(P("/tmp/rd_sf_toy.state"));
    unlink(P("/tmp/rd_sf_toy4.state"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp32_round_trip_bit_exact),
        cmocka_unit_test(test_compact_round_trips),
        cmocka_unit_test(test_int8_extremes),
        cmocka_unit_test(test_int8_refuses_nonfinite),
        cmocka_unit_test(test_model_state_restored_in_other_slot),
        cmocka_unit_test(test_other_model_refused),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_fuzz_corpus),
        cmocka_unit_test(test_blend),
        cmocka_unit_test(test_decay),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_cli_end_to_end),
        cmocka_unit_test(test_cli_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
