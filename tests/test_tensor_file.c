/* tests/test_tensor_file.c - named tensors from rwkv.cpp .bin, safetensors and
 * PyTorch .pth files: the real rwkv.cpp models in ../shared/data, the
 * fixtures of data/make_tensor_fixtures.py (data/tensors/), and malformed
 * files built here, each checked for its exact error message. */
#include "tests/testutil.h"

#include <math.h>

#include "common/half.h"
#include "lmstate/weights/tensor_file.h"

/* ---- helpers ---------------------------------------------------------- */

typedef struct bytes {
    unsigned char b[8192];
    size_t n;
} bytes;

static void put(bytes *o, const void *p, size_t k) {
    assert_true(o->n + k <= sizeof o->b);
    memcpy(o->b + o->n, p, k);
    o->n += k;
}
static void put32(bytes *o, uint32_t v) {
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(o, c, 4);
}
static void put16(bytes *o, unsigned v) {
    unsigned char c[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(o, c, 2);
}
static void put64(bytes *o, uint64_t v) {
    put32(o, (uint32_t)v);
    put32(o, (uint32_t)(v >> 32));
}
static void puts_(bytes *o, const char *s) { put(o, s, strlen(s)); }

/* Reads a project fixture (data/tensors/...) into a malloc'd buffer. */
static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)sz + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static tf_file *parse_ok(const void *b, size_t n, const char *name) {
    tf_file *f = NULL;
    rd_error err;
    rd_error_clear(&err);
    if (tf_parse(b, n, name, &f, &err) != RD_OK) fail_msg("%s", err.msg);
    return f;
}

static void expect_error(const void *b, size_t n, const char *name, const char *msg) {
    tf_file *f = (tf_file *)1;
    rd_error err;
    rd_error_clear(&err);
    assert_int_equal(tf_parse(b, n, name, &f, &err), RD_ERR_INPUT);
    assert_null(f);
    assert_string_equal(err.msg, msg);
}

static void expect_shape(const tf_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    assert_non_null(t);
    assert_int_equal(t->ndim, ndim);
    int64_t d[3] = {d0, d1, d2};
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        assert_int_equal(t->shape[i], d[i]);
        numel *= d[i];
    }
    assert_int_equal(t->numel, numel);
}

/* Checks every element of t against want[] exactly. */
static void expect_values(const tf_tensor *t, const float *want, int n) {
    assert_int_equal(t->numel, n);
    float got[64];
    tf_to_f32(t, got);
    for (int i = 0; i < n; i++)
        if (got[i] != want[i] && !(isinf(got[i]) && isinf(want[i])))
            fail_msg("%s[%d]: got %.9g, want %.9g", t->name, i, got[i], want[i]);
}

/* ---- dtypes ------------------------------------------------------------- */

static void test_dtypes(void **state) {
    static const struct { rd_dtype t; size_t size; } sizes[] = {
        {RD_F32, 4}, {RD_F16, 2}, {RD_BF16, 2}, {RD_F64, 8}, {RD_I64, 8}, {RD_I32, 4}, {RD_U8, 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        assert_int_equal(rd_dtype_size(sizes[i].t), sizes[i].size);
    assert_string_equal(rd_dtype_name(RD_BF16), "bf16");
    assert_string_equal(rd_dtype_name(RD_F16), "f16");
    assert_string_equal(rd_dtype_name(RD_U8), "u8");
}

/* ---- real rwkv.cpp files ------------------------------------------------ */

static void test_bin_real_v7(void **state) {
    char path[512];
    RD_DATA_OR_SKIP(path, "rwkv/tiny-rwkv-7v0-834K-FP32.bin");
    tf_file *f = NULL;
    rd_error err;
    if (tf_open(path, &f, &err) != RD_OK) fail_msg("%s", err.msg);
    assert_int_equal(tf_file_format(f), TF_RWKV_CPP);
    assert_int_equal(tf_count(f), 339);
    int32_t h[5];
    tf_rwkv_cpp_header(f, h);
    int32_t want[5] = {101, 256, 64, 12, 0};
    assert_memory_equal(h, want, sizeof want);
    expect_shape(tf_find(f, "emb.weight"), 2, 256, 64, 0);
    expect_shape(tf_find(f, "head.weight"), 2, 256, 64, 0);
    expect_shape(tf_find(f, "blocks.0.att.x_rwkvag"), 3, 6, 1, 64);
    expect_shape(tf_find(f, "blocks.11.ffn.key.weight"), 2, 256, 64, 0);
    assert_string_equal(tf_at(f, 0)->name, "emb.weight");
    assert_ptr_equal(tf_at(f, 338), tf_find(f, "head.weight"));
    assert_null(tf_at(f, 339));
    assert_null(tf_find(f, "blocks.12.ln1.weight"));
    assert_int_equal(tf_find(f, "blocks.0.ln1.weight")->dtype, RD_F32);
    tf_close(f);
}

static void test_bin_real_v4(void **state) {
    char path[512];
    RD_DATA_OR_SKIP(path, "rwkv/tiny-rwkv-4v0-660K-FP16.bin");
    tf_file *f = NULL;
    rd_error err;
    if (tf_open(path, &f, &err) != RD_OK) fail_msg("%s", err.msg);
    assert_int_equal(tf_count(f), 78);
    int32_t h[5];
    tf_rwkv_cpp_header(f, h);
    int32_t want[5] = {100, 256, 128, 4, 1};
    assert_memory_equal(h, want, sizeof want);
    const tf_tensor *emb = tf_find(f, "emb.weight");
    expect_shape(emb, 2, 256, 128, 0);
    assert_int_equal(emb->dtype, RD_F16);
    expect_shape(tf_find(f, "head.weight"), 2, 256, 128, 0);
    assert_int_equal(tf_find(f, "blocks.3.att.time_decay")->dtype, RD_F32);
    tf_close(f);
}

/* Every element of the FP16 file's tensor is the FP32 file's, rounded. */
static void compare_rounded(const tf_file *a, const tf_file *b, const char *name) {
    const tf_tensor *x = tf_find(a, name), *y = tf_find(b, name);
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(x->dtype, RD_F32);
    assert_int_equal(y->dtype, RD_F16);
    assert_int_equal(x->numel, y->numel);
    assert_memory_equal(x->shape, y->shape, sizeof x->shape);
    float *u = malloc((size_t)x->numel * sizeof *u), *v = malloc((size_t)y->numel * sizeof *v);
    assert_non_null(u);
    assert_non_null(v);
    tf_to_f32(x, u);
    tf_to_f32(y, v);
    for (int64_t i = 0; i < x->numel; i++) {
        float r = rd_f16_to_f32(rd_f32_to_f16(u[i]));
        if (fabsf(r - v[i]) > 1e-7f + fabsf(u[i]) * (1.0f / 1024))
            fail_msg("%s[%lld]: fp32 %.9g, fp16 %.9g", name, (long long)i, u[i], v[i]);
    }
    free(u);
    free(v);
}

static void test_bin_fp16_matches_fp32(void **state) {
    char p32[512], p16[512];
    RD_DATA_OR_SKIP(p32, "rwkv/tiny-rwkv-7v0-834K-FP32.bin");
    RD_DATA_OR_SKIP(p16, "rwkv/tiny-rwkv-7v0-834K-FP16.bin");
    tf_file *a = NULL, *b = NULL;
    rd_error err;
    assert_int_equal(tf_open(p32, &a, &err), RD_OK);
    assert_int_equal(tf_open(p16, &b, &err), RD_OK);
    assert_int_equal(tf_count(a), tf_count(b));
    compare_rounded(a, b, "emb.weight");
    compare_rounded(a, b, "head.weight");
    compare_rounded(a, b, "blocks.5.att.key.weight");
    compare_rounded(a, b, "blocks.0.att.w1");
    tf_close(a);
    tf_close(b);
}

/* ---- fixtures ----------------------------------------------------------- */

static void test_bin_fixture(void **state) {
    tf_file *f = NULL;
    rd_error err;
    if (tf_open("data/tensors/tiny.bin", &f, &err) != RD_OK) fail_msg("%s", err.msg);
    assert_int_equal(tf_count(f), 3);
    const tf_tensor *e = tf_find(f, "emb.weight"), *h = tf_find(f, "head.weight");
    expect_shape(e, 2, 4, 2, 0);
    expect_shape(h, 2, 4, 2, 0);
    assert_int_equal(h->dtype, RD_F16);
    const float ev[] = {0, 1, 2, 3, 4, 5, 6, -7.5f};
    const float hv[] = {0.5f, -0.5f, 1, -1, 2, -2, 0.25f, 1024};
    expect_values(e, ev, 8);
    expect_values(h, hv, 8);
    expect_shape(tf_find(f, "ln.weight"), 1, 2, 0, 0);
    tf_close(f);
}

static void test_safetensors_fixture(void **state) {
    tf_file *f = NULL;
    rd_error err;
    if (tf_open("data/tensors/tiny.safetensors", &f, &err) != RD_OK) fail_msg("%s", err.msg);
    assert_int_equal(tf_file_format(f), TF_SAFETENSORS);
    assert_int_equal(tf_count(f), 8);
    int32_t h[5] = {1, 1, 1, 1, 1}, zero[5] = {0};
    tf_rwkv_cpp_header(f, h);
    assert_memory_equal(h, zero, sizeof zero);
    const tf_tensor *a = tf_find(f, "a"), *b = tf_find(f, "b"), *c = tf_find(f, "c");
    expect_shape(a, 2, 2, 3, 0);
    expect_shape(b, 1, 4, 0, 0);
    expect_shape(c, 2, 2, 2, 0);
    assert_int_equal(a->dtype, RD_F32);
    assert_int_equal(b->dtype, RD_F16);
    assert_int_equal(c->dtype, RD_BF16);
    const float av[] = {0, 1, -2, 0.5f, 3.25f, -1e-3f};
    const float bv[] = {1, -2.5f, 0x1p-14f, 0x1p-24f};
    const float cv[] = {1, -3, 0.0078125f, 0x1p100f};
    expect_values(a, av, 6);
    expect_values(b, bv, 4);
    expect_values(c, cv, 4);
    const float dv[] = {1, (float)-0.1, INFINITY}, ev[] = {-5, 0x1p40f}, fv[] = {-7, 123456};
    const float gv[] = {0, 17, 255}, sv[] = {2.5f};
    expect_values(tf_find(f, "d"), dv, 3);
    expect_values(tf_find(f, "e"), ev, 2);
    expect_values(tf_find(f, "f"), fv, 2);
    expect_values(tf_find(f, "g"), gv, 3);
    const tf_tensor *s = tf_find(f, "s");
    expect_values(s, sv, 1);
    assert_int_equal(s->ndim, 0);
    assert_null(tf_find(f, "__metadata__"));
    tf_close(f);
}

static void test_pth_fixture(void **state) {
    tf_file *f = NULL;
    rd_error err;
    if (tf_open("data/tensors/tiny.pth", &f, &err) != RD_OK) fail_msg("%s", err.msg);
    assert_int_equal(tf_file_format(f), TF_PTH);
    assert_int_equal(tf_count(f), 5); /* "step": 7 is not a tensor */
    const char *order[] = {"a", "b", "c", "row", "p"};
    for (int i = 0; i < 5; i++) assert_string_equal(tf_at(f, i)->name, order[i]);
    const float av[] = {0, 1, -2, 0.5f, 3.25f, -1e-3f};
    const float bv[] = {1, -2.5f, 0x1p-14f, 0x1p-24f};
    const float cv[] = {1, -3, 0.0078125f, 0x1p100f};
    const float rv[] = {0.5f, 3.25f, -1e-3f}, pv[] = {4, -4};
    expect_shape(tf_find(f, "a"), 2, 2, 3, 0);
    expect_values(tf_find(f, "a"), av, 6);
    expect_values(tf_find(f, "b"), bv, 4);
    expect_shape(tf_find(f, "c"), 2, 2, 2, 0);
    assert_int_equal(tf_find(f, "c")->dtype, RD_BF16);
    expect_values(tf_find(f, "c"), cv, 4);
    expect_values(tf_find(f, "row"), rv, 3);
    /* the row is a view into a's storage */
    assert_ptr_equal(tf_find(f, "row")->data, (const float *)tf_find(f, "a")->data + 3);
    expect_values(tf_find(f, "p"), pv, 2);
    assert_null(tf_find(f, "step"));
    tf_close(f);
}

static void test_pth_nested(void **state) {
    tf_file *f = NULL;
    rd_error err;
    if (tf_open("data/tensors/nested.pth", &f, &err) != RD_OK) fail_msg("%s", err.msg);
    assert_int_equal(tf_count(f), 1);
    const float wv[] = {1, 2};
    expect_values(tf_find(f, "w"), wv, 2);
    tf_close(f);
}

static void expect_open_error(const char *path, const char *msg) {
    tf_file *f = NULL;
    rd_error err;
    rd_error_clear(&err);
    assert_int_not_equal(tf_open(path, &f, &err), RD_OK);
    assert_null(f);
    assert_string_equal(err.msg, msg);
}

static void test_pth_rejected_fixtures(void **state) {
    expect_open_error("data/tensors/transposed.pth",
                      "data/tensors/transposed.pth: tensor t: not contiguous (expected strides of "
                      "a row-major tensor; save tensor.contiguous())");
    expect_open_error("data/tensors/deflated.pth",
                      "data/tensors/deflated.pth: zip entry tiny/data.pkl: compression method 8 "
                      "(deflate) is not supported (expected stored entries, as torch.save writes)");
    expect_open_error("data/tensors/missing.pth", "data/tensors/missing.pth: cannot open: No such file or directory");
}

/* ---- malformed .bin ------------------------------------------------------ */

/* A .bin with one f32 tensor "x" of ggml dims {2, 3} (6 values). */
static void make_bin(bytes *o, int32_t version, int32_t ndim, int32_t type, int32_t d0,
                     const char *name, int nvalues) {
    o->n = 0;
    put32(o, 0x67676d66u);
    put32(o, (uint32_t)version);
    put32(o, 256);
    put32(o, 2);
    put32(o, 1);
    put32(o, 0);
    put32(o, (uint32_t)ndim);
    put32(o, (uint32_t)strlen(name));
    put32(o, (uint32_t)type);
    put32(o, (uint32_t)d0);
    if (ndim > 1) put32(o, 3);
    puts_(o, name);
    for (int i = 0; i < nvalues; i++) put32(o, 0x3f800000u);
}

static void test_bin_malformed(void **state) {
    bytes o;
    make_bin(&o, 101, 2, 0, 2, "x", 6);
    tf_file *f = parse_ok(o.b, o.n, "m.bin");
    expect_shape(tf_find(f, "x"), 2, 3, 2, 0);
    tf_close(f);
    expect_error(o.b, 20, "m.bin", "m.bin: expected a 24-byte rwkv.cpp header, found 20 bytes");
    expect_error(o.b, 30, "m.bin", "m.bin: byte 24: expected a 12-byte tensor header, found 6 bytes");
    expect_error(o.b, o.n - 2, "m.bin", "m.bin: tensor x: expected 24 bytes of data, found 22");
    make_bin(&o, 7, 2, 0, 2, "x", 6);
    expect_error(o.b, o.n, "m.bin", "m.bin: unsupported rwkv.cpp format version 7 (expected 100 or 101)");
    make_bin(&o, 100, 2, 3, 2, "blocks.3.att.key.weight", 6);
    expect_error(o.b, o.n, "m.bin", "m.bin: tensor blocks.3.att.key.weight: unsupported data type 3 "
                 "(expected 0 = FP32 or 1 = FP16; quantized files are not supported)");
    make_bin(&o, 100, 5, 0, 2, "x", 6);
    expect_error(o.b, o.n, "m.bin", "m.bin: byte 24: expected 1 to 4 dimensions, found 5");
    make_bin(&o, 100, 2, 0, -2, "x", 6);
    expect_error(o.b, o.n, "m.bin", "m.bin: tensor x: bad dimensions (negative or too large)");
    make_bin(&o, 100, 2, 0, 0x7fffffff, "x", 6);
    expect_error(o.b, o.n, "m.bin", "m.bin: tensor x: expected 25769803764 bytes of data, found 24");
    make_bin(&o, 100, 2, 0, 2, "x", 6);
    o.b[28] = 0xff; /* name length 0xff */
    expect_error(o.b, o.n, "m.bin", "m.bin: byte 44: expected a tensor name of 1 to 4096 bytes, "
                 "found length 255 with 25 bytes left");
    make_bin(&o, 100, 1, 0, 2, "ab", 2);
    o.b[41] = 0; /* name "a\0" */
    expect_error(o.b, o.n, "m.bin", "m.bin: byte 40: tensor name contains a NUL byte");
    /* the same tensor twice */
    make_bin(&o, 100, 1, 0, 2, "x", 2);
    size_t one = o.n - 24;
    put(&o, o.b + 24, one);
    expect_error(o.b, o.n, "m.bin", "m.bin: tensor x appears twice");
}

static void test_unknown_formats(void **state) {
    expect_error("hello world!", 12, "m.xyz", "m.xyz: unknown tensor file format: expected an "
                 "rwkv.cpp .bin (magic ggmf), safetensors (length + JSON header) or a PyTorch zip (PK)");
    expect_error("", 0, "m.xyz", "m.xyz: unknown tensor file format: expected an "
                 "rwkv.cpp .bin (magic ggmf), safetensors (length + JSON header) or a PyTorch zip (PK)");
    expect_error("\x80\x02}q\x00.", 6, "old.pth", "old.pth: a bare pickle (legacy torch.save "
                 "format) is not supported: expected the zip format of torch 1.6+");
}

/* ---- malformed safetensors ----------------------------------------------- */

/* A safetensors file: header text, then ndata bytes of data. */
static void make_st(bytes *o, const char *json, size_t ndata) {
    o->n = 0;
    put64(o, strlen(json));
    puts_(o, json);
    for (size_t i = 0; i < ndata; i++) put(o, "\0", 1);
}

static void st_error(const char *json, size_t ndata, const char *msg) {
    bytes o;
    make_st(&o, json, ndata);
    expect_error(o.b, o.n, "m.st", msg);
}

static void test_safetensors_malformed(void **state) {
    bytes o;
    make_st(&o, "{\"w\\u00e9\\n\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4],"
                "\"extra\":[1.5e3,{\"k\":null}]}}  ", 4);
    tf_file *f = parse_ok(o.b, o.n, "m.st");
    assert_non_null(tf_find(f, "w\xc3\xa9\n"));
    tf_close(f);
    o.n = 0;
    put64(&o, 1000);
    puts_(&o, "{}");
    expect_error(o.b, o.n, "m.st", "m.st: expected a header of 1000 bytes, found 2");
    st_error("{\"w\" {}}", 0, "m.st: byte 13: expected ':' after a tensor name");
    st_error("{\"w\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
             "m.st: tensor w: unsupported dtype 'I8' (expected F32, F16, BF16, F64, I64, I32 or U8)");
    st_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8,
             "m.st: tensor w: expected 8 bytes of data for its shape, data_offsets give 4");
    st_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 8,
             "m.st: tensor w: data_offsets [4, 12] are outside the 8 bytes of data");
    st_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8,
             "m.st: tensor w: expected 'dtype', 'shape' and 'data_offsets'");
    st_error("{\"w\\x\":{}}", 0,
             "m.st: byte 12: expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u after '\\'");
    st_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
             "m.st: tensor w: more than 4 dimensions");
    st_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
             "m.st: byte 37: expected a non-negative integer dimension");
    st_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999]}}", 4,
             "m.st: byte 37: expected an integer below 2^63");
    st_error("{\"__metadata__\":{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]}}", 0,
             "m.st: byte 92: expected at most 64 levels of nesting");
    st_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8,
             "m.st: byte 63: expected only spaces after the header object");
    st_error("{\"\\ud800\":{}}", 0, "m.st: byte 16: expected a \\u low surrogate after a high surrogate");
    st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
             "m.st: tensor a appears twice");
}

/* ---- malformed .pth ------------------------------------------------------ */

typedef struct zentry {
    const char *name;
    const void *data;
    size_t n;
} zentry;

/* A stored zip (no zip64) of the entries. */
static void make_zip(bytes *o, const zentry *e, int k) {
    uint32_t off[8];
    o->n = 0;
    for (int i = 0; i < k; i++) {
        off[i] = (uint32_t)o->n;
        put32(o, 0x04034b50u);
        put16(o, 20); put16(o, 0); put16(o, 0); put16(o, 0); put16(o, 0);
        put32(o, 0); put32(o, (uint32_t)e[i].n); put32(o, (uint32_t)e[i].n);
        put16(o, (unsigned)strlen(e[i].name)); put16(o, 0);
        puts_(o, e[i].name);
        put(o, e[i].data, e[i].n);
    }
    size_t cd = o->n;
    for (int i = 0; i < k; i++) {
        put32(o, 0x02014b50u);
        put16(o, 20); put16(o, 20); put16(o, 0); put16(o, 0); put16(o, 0); put16(o, 0);
        put32(o, 0); put32(o, (uint32_t)e[i].n); put32(o, (uint32_t)e[i].n);
        put16(o, (unsigned)strlen(e[i].name)); put16(o, 0); put16(o, 0); put16(o, 0); put16(o, 0);
        put32(o, 0); put32(o, off[i]);
        puts_(o, e[i].name);
    }
    size_t cdsize = o->n - cd;
    put32(o, 0x06054b50u);
    put16(o, 0); put16(o, 0); put16(o, (unsigned)k); put16(o, (unsigned)k);
    put32(o, (uint32_t)cdsize); put32(o, (uint32_t)cd); put16(o, 0);
}

/* {'w': _rebuild_tensor_v2(('storage', torch.<type>, '0', 'cpu', numel), off,
 *  (size,), (stride,), False, ())} */
static void make_pickle(bytes *o, const char *type, int numel, int off, int size, int stride) {
    o->n = 0;
    puts_(o, "\x80\x02}(\x8c\x01w");
    puts_(o, "ctorch._utils\n_rebuild_tensor_v2\n((\x8c\x07storage");
    puts_(o, "ctorch\n");
    puts_(o, type);
    puts_(o, "\n\x8c\x01");
    puts_(o, "0\x8c\x03" "cpuK");
    unsigned char v[] = {(unsigned char)numel, 't', 'Q', 'K', (unsigned char)off, 'K',
                         (unsigned char)size, 0x85, 'K', (unsigned char)stride, 0x85, 0x89, ')',
                         't', 'R', 'u', '.'};
    put(o, v, sizeof v);
}

static void pth_error(const bytes *pkl, const void *data, size_t n, const char *msg) {
    zentry e[2] = {{"archive/data.pkl", pkl->b, pkl->n}, {"archive/data/0", data, n}};
    bytes z;
    make_zip(&z, e, data ? 2 : 1);
    if (!msg) {
        tf_file *f = parse_ok(z.b, z.n, "m.pth");
        const float want[] = {2, 3};
        expect_values(tf_find(f, "w"), want, 2);
        tf_close(f);
        return;
    }
    expect_error(z.b, z.n, "m.pth", msg);
}

/* A pickle of just the bytes of s (no data file) is refused with msg. */
static void pickle_error(bytes *p, const char *s, const char *msg) {
    p->n = 0;
    puts_(p, s);
    pth_error(p, NULL, 0, msg);
}

static void test_pth_malformed(void **state) {
    const float data[4] = {1, 2, 3, 4};
    bytes p;
    make_pickle(&p, "FloatStorage", 4, 1, 2, 1);
    pth_error(&p, data, sizeof data, NULL); /* valid: elements 1..2 */
    make_pickle(&p, "FloatStorage", 4, 3, 2, 1);
    pth_error(&p, data, sizeof data,
              "m.pth: tensor w: elements 3..5 are outside its storage of 4 elements");
    make_pickle(&p, "FloatStorage", 4, 0, 2, 2);
    pth_error(&p, data, sizeof data, "m.pth: tensor w: not contiguous (expected strides of a "
              "row-major tensor; save tensor.contiguous())");
    make_pickle(&p, "FloatStorage", 4, 1, 2, 1);
    pth_error(&p, NULL, 0, "m.pth: tensor w: storage 0 is missing from the archive");
    make_pickle(&p, "ComplexFloatStorage", 4, 1, 2, 1);
    pth_error(&p, data, sizeof data,
              "m.pth: tensor w: unsupported storage type torch.ComplexFloatStorage");
    make_pickle(&p, "FloatTensor", 4, 1, 2, 1);
    pth_error(&p, data, sizeof data, "m.pth: archive/data.pkl: byte 81: expected a torch storage "
              "type, found torch.FloatTensor");
    pickle_error(&p, "\x80\x02I1\n.", "m.pth: archive/data.pkl: byte 2: unsupported opcode 0x49");
    pickle_error(&p, "\x80\x02}", "m.pth: archive/data.pkl: byte 3: expected STOP, found end of data");
    pickle_error(&p, "\x80\x02h\x05.", "m.pth: archive/data.pkl: byte 2: memo index 5 is not set");
    pickle_error(&p, "\x80\x02].", "m.pth: expected a dict of tensors at the top of the pickle");
    pickle_error(&p, "\x80\x02}X\xff\xff\xff\x7f",
                 "m.pth: archive/data.pkl: byte 3: expected 2147483647 bytes of operand, found 0");
    pickle_error(&p, "\x80\x02}K\x01s.", "m.pth: archive/data.pkl: byte 5: opcode 0x73 needs 3 items on the stack");
    pickle_error(&p, "\x80\x09}.", "m.pth: archive/data.pkl: byte 0: unsupported pickle protocol 9");

    zentry only[1] = {{"archive/version", "3\n", 2}};
    bytes z;
    make_zip(&z, only, 1);
    expect_error(z.b, z.n, "m.pth", "m.pth: expected a data.pkl entry in the zip archive (a "
                 "torch.save file)");
    expect_error(z.b, z.n - 1, "m.pth", "m.pth: expected a zip end of central directory record "
                 "in the last 64 KiB");
    z.b[z.n - 6] = 0x7f; /* central directory offset */
    expect_error(z.b, z.n, "m.pth", "m.pth: zip central directory at byte 127 (61 bytes) is "
                 "outside the file");
}

/* The real torch.save fixture, cut and damaged byte by byte: never a crash,
 * always a message that names the file. */
static void test_pth_truncations(void **state) {
    size_t n;
    unsigned char *b = slurp("data/tensors/tiny.pth", &n);
    for (size_t k = 0; k < n; k += 7) {
        tf_file *f = NULL;
        rd_error err;
        rd_error_clear(&err);
        rd_status s = tf_parse(b, k, "t.pth", &f, &err);
        if (s == RD_OK) tf_close(f);
        else assert_memory_equal(err.msg, "t.pth: ", 7);
    }
    for (size_t k = 0; k < n; k += 5) {
        unsigned char save = b[k];
        b[k] ^= 0x5a;
        tf_file *f = NULL;
        rd_error err;
        rd_error_clear(&err);
        if (tf_parse(b, n, "t.pth", &f, &err) == RD_OK) tf_close(f);
        else assert_memory_equal(err.msg, "t.pth: ", 7);
        b[k] = save;
    }
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_bin_real_v7),
        cmocka_unit_test(test_bin_real_v4),
        cmocka_unit_test(test_bin_fp16_matches_fp32),
        cmocka_unit_test(test_bin_fixture),
        cmocka_unit_test(test_safetensors_fixture),
        cmocka_unit_test(test_pth_fixture),
        cmocka_unit_test(test_pth_nested),
        cmocka_unit_test(test_pth_rejected_fixtures),
        cmocka_unit_test(test_bin_malformed),
        cmocka_unit_test(test_unknown_formats),
        cmocka_unit_test(test_safetensors_malformed),
        cmocka_unit_test(test_pth_malformed),
        cmocka_unit_test(test_pth_truncations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
