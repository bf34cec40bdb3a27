/* tests/test_common.c - common/: .npy reader/writer, text helpers, arena,
 * status codes, timer. */
#include "tests/testutil.h"

#include <math.h>

#include "common/arena.h"
#include "common/dtype.h"
#include "common/hash.h"
#include "common/half.h"
#include "common/npy.h"
#include "common/pool.h"
#include "common/status.h"
#include "common/text.h"
#include "common/timer.h"

/* ---- helpers ------------------------------------------------------------ */

/* Builds "\x93NUMPY" major.0, the header length, header, then dlen data bytes
 * (zeros when data is NULL). Returns the total size. */
static size_t mk_npy(unsigned char *buf, size_t cap, int major, const char *header,
                     const void *data, size_t dlen) {
    size_t hl = strlen(header), lb = major == 1 ? 2 : 4, off = 8 + lb;
    assert_true(off + hl + dlen <= cap);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < lb; i++) buf[8 + i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + off, header, hl);
    if (data) memcpy(buf + off + hl, data, dlen);
    else memset(buf + off + hl, 0, dlen);
    return off + hl + dlen;
}

static void put_u32(unsigned char *p, uint32_t u, int big) {
    for (int i = 0; i < 4; i++) p[big ? 3 - i : i] = (unsigned char)(u >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t u, int big) {
    for (int i = 0; i < 8; i++) p[big ? 7 - i : i] = (unsigned char)(u >> (8 * i));
}

static void put_f64(unsigned char *p, double d, int big) {
    uint64_t u;
    memcpy(&u, &d, 8);
    put_u64(p, u, big);
}

static rd_npy parse_ok(const unsigned char *buf, size_t n) {
    rd_npy a;
    rd_error err;
    rd_error_clear(&err);
    rd_status s = rd_npy_parse(buf, n, "t.npy", &a, &err);
    if (s != RD_OK) fprintf(stderr, "unexpected error: %s\n", err.msg);
    assert_int_equal(s, RD_OK);
    return a;
}

#define F2_HDR(descr, fortran, shape) \
    "{'descr': '" descr "', 'fortran_order': " fortran ", 'shape': " shape ", }\n"

/* ---- npy: valid inputs -------------------------------------------------- */

/* Plain-text matrices: separators, comments, and exact errors. */
static void test_text_matrix(void **state) {
    static const char good[] = "# logits\n1 2\t3\n\n4,5 , 6\r\n-7;8;  9e-1\n";
    rd_npy a;
    rd_error err;
    assert_int_equal(rd_matrix_parse(good, strlen(good), "m.txt", &a, &err), RD_OK);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 3);
    assert_int_equal(a.shape[1], 3);
    const float want[] = {1, 2, 3, 4, 5, 6, -7, 8, 0.9f};
    assert_memory_equal(a.data, want, sizeof want);
    rd_npy_free(&a);
    assert_int_equal(rd_matrix_parse("", 0, "m.txt", &a, &err), RD_OK); /* no frames: T = 0 */
    assert_int_equal(a.shape[0], 0);
    assert_null(a.data);
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"1 2 3\n4 5\n", "m.txt:2: expected 3 values (as on line 1), found 2"},
        {"1 2\n3 4 5\n", "m.txt:2: expected 2 values (as on line 1), found 3"},
        {"1 x 3\n", "m.txt:1: expected a number as value 2, found 'x'"},
        {"1,,3\n", "m.txt:1: expected a number before ',' (value 2 is empty)"},
        {",1\n", "m.txt:1: expected a number before ',' (value 1 is empty)"},
        {"1,2,\n", "m.txt:1: expected a number after the last separator"},
        {"1 2\n\n# c\n3 1e99\n", "m.txt:4: expected a number as value 2, found '1e99'"},
        {"1;2\n3;four\n", "m.txt:2: expected a number as value 2, found 'four'"},
        {"1 2\x00", "m.txt: expected a .npy file (starting with \\x93NUMPY) or a text matrix, found binary data"},
        {"1 2e\n", "m.txt:1: expected a number as value 2, found '2e'"},
        {"1 2\n3 4 ;\n", "m.txt:2: expected a number after the last separator"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t n = strlen(bad[i].text) + (strcmp(bad[i].text, "1 2") == 0); /* with its NUL byte */
        rd_error_clear(&err);
        assert_int_equal(rd_matrix_parse(bad[i].text, n, "m.txt", &a, &err), RD_ERR_INPUT);
        assert_string_equal(err.msg, bad[i].msg);
    }
    /* a .npy goes to the npy parser, whatever the name */
    float v[6] = {1, 2, 3, 4, 5, 6};
    char path[] = "/tmp/rd_mat_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const int64_t shape[2] = {2, 3};
    assert_int_equal(rd_npy_write_f32(path, v, 2, shape, &err), RD_OK);
    assert_int_equal(rd_matrix_read(path, &a, &err), RD_OK);
    assert_memory_equal(a.data, v, sizeof v);
    rd_npy_free(&a);
    /* and its header can be read piece by piece (streaming) */
    rd_text t;
    assert_int_equal(rd_text_read(path, &t, &err), RD_OK);
    rd_npy_hdr h;
    size_t n = 3;
    for (;;) {
        assert_int_equal(rd_npy_header(t.data, n, path, &h, &err), RD_OK);
        if (h.need == 0) break;
        assert_true(h.need > n);
        n = h.need;
    }
    assert_int_equal(h.ndim, 2);
    assert_int_equal(h.shape[0], 2);
    assert_int_equal(h.shape[1], 3);
    float got[6];
    rd_npy_convert(&h, t.data + h.data_offset, 6, got);
    assert_memory_equal(got, v, sizeof v);
    assert_int_equal(rd_npy_header("PK\3\4xxxxxxxxxxxx", 16, "z", &h, &err), RD_ERR_INPUT);
    rd_text_free(&t);
    unlink(path);
}

static void test_npy_roundtrip(void **state) {
    float v[2 * 2 * 3];
    for (int i = 0; i < 12; i++) v[i] = (float)i * 0.5f - 3.25f;
    v[5] = -0.0f;
    v[7] = INFINITY;
    const int64_t shapes[3][3] = {{12, 1, 1}, {4, 3, 1}, {2, 2, 3}};
    for (int nd = 1; nd <= 3; nd++) {
        char path[] = "/tmp/rd_npy_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        rd_error err;
        assert_int_equal(rd_npy_write_f32(path, v, nd, shapes[nd - 1], &err), RD_OK);
        rd_npy a;
        assert_int_equal(rd_npy_read(path, &a, &err), RD_OK);
        assert_int_equal(a.ndim, nd);
        for (int i = 0; i < 3; i++) assert_int_equal(a.shape[i], shapes[nd - 1][i]);
        assert_int_equal(a.size, 12);
        assert_memory_equal(a.data, v, sizeof v);
        rd_npy_free(&a);
        assert_null(a.data);
        /* the file is what numpy writes: version 1.0, 64-byte aligned data */
        rd_text t;
        assert_int_equal(rd_text_read(path, &t, &err), RD_OK);
        assert_memory_equal(t.data, "\x93NUMPY\x01\x00", 8);
        assert_int_equal((t.size - 48) % 64, 0);
        assert_int_equal(t.data[t.size - 48 - 1], '\n');
        const char *want = nd == 1 ? "'shape': (12,), }" : nd == 2 ? "'shape': (4, 3), }"
                                                                   : "'shape': (2, 2, 3), }";
        assert_non_null(strstr(t.data + 10, want));
        rd_text_free(&t);
        unlink(path);
    }
}

static void test_npy_write_errors(void **state) {
    rd_error err;
    int64_t shape[4] = {2, 3, 4, 5};
    assert_int_equal(rd_npy_write_f32("/tmp/rd_x.npy", NULL, 4, shape, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "/tmp/rd_x.npy: cannot write 4 dimensions: expected 1 to 3");
    int64_t neg[2] = {2, -1};
    assert_int_equal(rd_npy_write_f32("/tmp/rd_x.npy", NULL, 2, neg, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg,
                        "/tmp/rd_x.npy: cannot write shape dimension -1: expected 0 to 2^61");
    float v = 1;
    int64_t one = 1;
    assert_int_equal(rd_npy_write_f32("/nonexistent-dir/x.npy", &v, 1, &one, &err), RD_ERR_IO);
    assert_string_equal(err.msg,
                        "/nonexistent-dir/x.npy: cannot create: No such file or directory");
}

static void test_npy_v1_f4_le(void **state) {
    unsigned char buf[256], data[24];
    for (int i = 0; i < 6; i++) put_u32(data + 4 * i, rd_f32_to_bits(1.5f * (float)i - 2), 0);
    size_t n = mk_npy(buf, sizeof buf, 1, F2_HDR("<f4", "False", "(2, 3)"), data, 24);
    rd_npy a = parse_ok(buf, n);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 2);
    assert_int_equal(a.shape[1], 3);
    assert_int_equal(a.shape[2], 1);
    for (int i = 0; i < 6; i++) assert_float_equal(a.data[i], 1.5f * (float)i - 2, 0);
    rd_npy_free(&a);
}

static void test_npy_v2_f8_both_orders(void **state) {
    const double vals[4] = {1.0 / 3.0, -2.5e10, 1e-300, 7.0};
    for (int big = 0; big <= 1; big++) {
        unsigned char buf[256], data[32];
        for (int i = 0; i < 4; i++) put_f64(data + 8 * i, vals[i], big);
        size_t n = mk_npy(buf, sizeof buf, 2,
                          big ? F2_HDR(">f8", "False", "(4,)") : F2_HDR("<f8", "False", "(4,)"),
                          data, 32);
        rd_npy a = parse_ok(buf, n);
        assert_int_equal(a.ndim, 1);
        assert_int_equal(a.size, 4);
        for (int i = 0; i < 4; i++) assert_true(a.data[i] == (float)vals[i]);
        rd_npy_free(&a);
    }
}

static void test_npy_v3_f2_special_values(void **state) {
    /* 0, 1, -2, 65504 (max), 2^-24 (smallest subnormal), 1023*2^-24 (largest
     * subnormal), inf, -inf, nan, -0 */
    const uint16_t h[10] = {0x0000, 0x3C00, 0xC000, 0x7BFF, 0x0001,
                            0x03FF, 0x7C00, 0xFC00, 0x7E00, 0x8000};
    unsigned char buf[256], data[20];
    for (int i = 0; i < 10; i++) {
        data[2 * i] = (unsigned char)h[i];
        data[2 * i + 1] = (unsigned char)(h[i] >> 8);
    }
    size_t n = mk_npy(buf, sizeof buf, 3, F2_HDR("<f2", "False", "(10,)"), data, 20);
    rd_npy a = parse_ok(buf, n);
    assert_true(a.data[0] == 0.0f && !signbit(a.data[0]));
    assert_true(a.data[1] == 1.0f);
    assert_true(a.data[2] == -2.0f);
    assert_true(a.data[3] == 65504.0f);
    assert_true(a.data[4] == ldexpf(1.0f, -24));
    assert_true(a.data[5] == 1023.0f * ldexpf(1.0f, -24));
    assert_true(isinf(a.data[6]) && a.data[6] > 0);
    assert_true(isinf(a.data[7]) && a.data[7] < 0);
    assert_true(isnan(a.data[8]));
    assert_true(a.data[9] == 0.0f && signbit(a.data[9]));
    rd_npy_free(&a);
}

static void test_npy_big_endian_f4_i4(void **state) {
    unsigned char buf[256], data[12];
    put_u32(data, rd_f32_to_bits(3.5f), 1);
    put_u32(data + 4, rd_f32_to_bits(-1e-3f), 1);
    put_u32(data + 8, rd_f32_to_bits(1e30f), 1);
    size_t n = mk_npy(buf, sizeof buf, 1, F2_HDR(">f4", "False", "(3,)"), data, 12);
    rd_npy a = parse_ok(buf, n);
    assert_true(a.data[0] == 3.5f && a.data[1] == -1e-3f && a.data[2] == 1e30f);
    rd_npy_free(&a);
    put_u32(data, (uint32_t)-70000, 1);
    put_u32(data + 4, 123456, 1);
    put_u32(data + 8, 0x80000000u, 1);
    n = mk_npy(buf, sizeof buf, 1, F2_HDR(">i4", "False", "(3,)"), data, 12);
    a = parse_ok(buf, n);
    assert_true(a.data[0] == -70000.0f && a.data[1] == 123456.0f);
    assert_true(a.data[2] == -2147483648.0f);
    rd_npy_free(&a);
}

static void test_npy_integer_dtypes(void **state) {
    unsigned char buf[256], data[24];
    put_u64(data, (uint64_t)-5, 0);
    put_u64(data + 8, 1ull << 40, 0);
    put_u64(data + 16, 422, 0);
    size_t n = mk_npy(buf, sizeof buf, 1, F2_HDR("<i8", "False", "(3,)"), data, 24);
    rd_npy a = parse_ok(buf, n);
    assert_true(a.data[0] == -5.0f && a.data[1] == ldexpf(1.0f, 40) && a.data[2] == 422.0f);
    rd_npy_free(&a);
    const unsigned char bytes[3] = {0xFF, 0x80, 0x7F};
    n = mk_npy(buf, sizeof buf, 1, F2_HDR("|u1", "False", "(3,)"), bytes, 3);
    a = parse_ok(buf, n);
    assert_true(a.data[0] == 255.0f && a.data[1] == 128.0f && a.data[2] == 127.0f);
    rd_npy_free(&a);
    n = mk_npy(buf, sizeof buf, 1, F2_HDR("|i1", "False", "(3,)"), bytes, 3);
    a = parse_ok(buf, n);
    assert_true(a.data[0] == -1.0f && a.data[1] == -128.0f && a.data[2] == 127.0f);
    rd_npy_free(&a);
}

/* Disk holds x[i][j] = 10*i + j in Fortran order (i fastest). */
static void test_npy_fortran_2d(void **state) {
    unsigned char buf[256], data[24];
    int s = 0;
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 2; i++, s++) put_u32(data + 4 * s, rd_f32_to_bits((float)(10 * i + j)), 0);
    size_t n = mk_npy(buf, sizeof buf, 1, F2_HDR("<f4", "True", "(2, 3)"), data, 24);
    rd_npy a = parse_ok(buf, n);
    const float want[6] = {0, 1, 2, 10, 11, 12};
    for (int k = 0; k < 6; k++) assert_float_equal(a.data[k], want[k], 0);
    rd_npy_free(&a);
}

/* 3-D, big-endian f8 in Fortran order: x[i][j][k] = 100i + 10j + k. */
static void test_npy_fortran_3d(void **state) {
    unsigned char buf[512], data[2 * 3 * 4 * 8];
    int s = 0;
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 2; i++, s++) put_f64(data + 8 * s, 100 * i + 10 * j + k, 1);
    size_t n = mk_npy(buf, sizeof buf, 2, F2_HDR(">f8", "True", "(2, 3, 4)"), data, sizeof data);
    rd_npy a = parse_ok(buf, n);
    assert_int_equal(a.ndim, 3);
    assert_int_equal(a.size, 24);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                assert_float_equal(a.data[(i * 3 + j) * 4 + k], 100 * i + 10 * j + k, 0);
    rd_npy_free(&a);
}

/* Key order, quotes, spacing, trailing commas and Python 2 longs vary. */
static void test_npy_header_variants(void **state) {
    const char *hdrs[] = {
        "{\"shape\": (2, 2), \"fortran_order\": False, \"descr\": \"<f4\"}",
        "{ 'fortran_order' : False ,'descr':'<f4','shape':(2L,2L,) }\n",
        "{'descr': '<f4',\n 'fortran_order': False,\n 'shape': (2, 2),\n}     \n",
    };
    unsigned char buf[256], data[16];
    for (int i = 0; i < 4; i++) put_u32(data + 4 * i, rd_f32_to_bits((float)i + 0.25f), 0);
    for (size_t h = 0; h < sizeof hdrs / sizeof *hdrs; h++) {
        size_t n = mk_npy(buf, sizeof buf, 1, hdrs[h], data, 16);
        rd_npy a = parse_ok(buf, n);
        assert_int_equal(a.ndim, 2);
        assert_int_equal(a.shape[0], 2);
        assert_int_equal(a.shape[1], 2);
        assert_float_equal(a.data[3], 3.25f, 0);
        rd_npy_free(&a);
    }
}

static void test_npy_empty_array(void **state) {
    unsigned char buf[256];
    size_t n = mk_npy(buf, sizeof buf, 1, F2_HDR("<f4", "False", "(0, 32)"), NULL, 0);
    rd_npy a = parse_ok(buf, n);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 0);
    assert_int_equal(a.shape[1], 32);
    assert_int_equal(a.size, 0);
    assert_null(a.data);
}

/* ---- npy: malformed inputs ---------------------------------------------- */

static void expect_parse_error(const unsigned char *buf, size_t n, const char *want) {
    rd_npy a;
    rd_error err;
    rd_error_clear(&err);
    rd_status s = rd_npy_parse(buf, n, "x.npy", &a, &err);
    assert_int_equal(s, RD_ERR_INPUT);
    assert_int_equal(err.status, RD_ERR_INPUT);
    assert_string_equal(err.msg, want);
    assert_null(a.data);
    assert_int_equal(a.ndim, 0);
}

static void test_npy_bad_preamble(void **state) {
    unsigned char buf[300];
    expect_parse_error((const unsigned char *)"", 0,
                       "x.npy: expected the magic string \\x93NUMPY at the start of the file");
    expect_parse_error((const unsigned char *)"\x93NUMPX\x01\x00\x00\x00", 10,
                       "x.npy: expected the magic string \\x93NUMPY at the start of the file");
    expect_parse_error((const unsigned char *)"PK\x03\x04", 4,
                       "x.npy: expected the magic string \\x93NUMPY at the start of the file");
    expect_parse_error((const unsigned char *)"\x93NUMPY\x01", 7,
                       "x.npy: expected a format version after the magic string, found end of file");
    size_t n = mk_npy(buf, sizeof buf, 4, F2_HDR("<f4", "False", "(1,)"), NULL, 4);
    expect_parse_error(buf, n, "x.npy: unsupported format version 4.0 (expected 1.0, 2.0 or 3.0)");
    buf[6] = 1;
    buf[7] = 1;
    expect_parse_error(buf, n, "x.npy: unsupported format version 1.1 (expected 1.0, 2.0 or 3.0)");
    expect_parse_error((const unsigned char *)"\x93NUMPY\x02\x00\x10\x00", 10,
                       "x.npy: expected a 4-byte header length after the version, found 2 bytes");
    expect_parse_error((const unsigned char *)"\x93NUMPY\x01\x00\x10", 9,
                       "x.npy: expected a 2-byte header length after the version, found 1 bytes");
    n = mk_npy(buf, sizeof buf, 1, F2_HDR("<f4", "False", "(1,)"), NULL, 4);
    expect_parse_error(buf, 50, "x.npy: expected a header of 58 bytes, found 40");
    /* a v2 header length near 4 GiB is rejected before anything is read */
    memcpy(buf, "\x93NUMPY\x02\x00\xFF\xFF\xFF\xFF{}", 14);
    expect_parse_error(buf, 14, "x.npy: expected a header of 4294967295 bytes, found 2");
}

typedef struct bad_header {
    int major;
    const char *header;
    size_t data_bytes;
    const char *mark;  /* where the error points (NULL: no byte offset) */
    const char *want;  /* expected message; %zu = file offset of mark */
} bad_header;

static const bad_header bad_headers[] = {
    {1, "[1, 2]\n", 0, "[", "x.npy: byte %zu: expected '{' to open the header dict"},
    {1, "{'fortran_order': False, 'shape': (2,), }\n", 8, NULL,
     "x.npy: expected the key 'descr' in the header dict"},
    {1, "{'descr': '<f4', 'fortran_order': False}\n", 0, NULL,
     "x.npy: expected the key 'shape' in the header dict"},
    {1, F2_HDR("<c8", "False", "(2,)"), 16, NULL,
     "x.npy: unsupported dtype '<c8' (expected '<f4', '<f2', '<f8', '<i4', '<i8' or the same "
     "with '>', or '|i1', '|u1')"},
    {1, F2_HDR("float32", "False", "(2,)"), 8, NULL,
     "x.npy: unsupported dtype 'float32' (expected '<f4', '<f2', '<f8', '<i4', '<i8' or the "
     "same with '>', or '|i1', '|u1')"},
    {1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8, "[",
     "x.npy: byte %zu: expected a quoted dtype string for 'descr'"},
    {1, F2_HDR("<f4", "False", "(2, -3)"), 0, "-",
     "x.npy: byte %zu: expected a non-negative integer dimension in 'shape'"},
    {1, F2_HDR("<f4", "False", "(5)"), 20, ")",
     "x.npy: byte %zu: expected ',' after the only dimension in 'shape', as in (5,)"},
    {1, F2_HDR("<f4", "False", "[2, 3]"), 24, "[",
     "x.npy: byte %zu: expected a tuple such as (422, 32) for 'shape'"},
    {1, F2_HDR("<f4", "False", "(2, 3 4)"), 24, "4)",
     "x.npy: byte %zu: expected ',' or ')' in 'shape'"},
    {2, F2_HDR("<f4", "False", "()"), 4, NULL,
     "x.npy: 0-d array (shape ()) is not supported: expected 1 to 3 dimensions"},
    {1, F2_HDR("<f4", "False", "(1, 2, 3, 4)"), 96, NULL,
     "x.npy: shape has 4 dimensions: expected 1 to 3"},
    {1, F2_HDR("<f4", "False", "(2, 3)"), 20, NULL,
     "x.npy: expected 24 bytes of data after the header, found 20"},
    {1, F2_HDR("<f4", "False", "(2, 3)"), 28, NULL,
     "x.npy: expected 24 bytes of data after the header, found 28"},
    {1, F2_HDR("<f2", "False", "(1099511627776, 1099511627776)"), 0, NULL,
     "x.npy: shape is too large: expected fewer than 2^63 bytes of data"},
    {1, F2_HDR("<f4", "False", "(99999999999999999999,)"), 0, "99999999999999999999",
     "x.npy: byte %zu: expected a dimension below 2^63 in 'shape'"},
    {1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4,
     "'descr': '<f4', 'f",
     "x.npy: byte %zu: repeated key 'descr' (expected 'descr', 'fortran_order' and 'shape' "
     "once each)"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", 4, "'extra'",
     "x.npy: byte %zu: unexpected key 'extra' (expected 'descr', 'fortran_order' and 'shape' "
     "once each)"},
    {1, F2_HDR("<f4", "0", "(1,)"), 4, "0,",
     "x.npy: byte %zu: expected True or False for 'fortran_order'"},
    {1, "{'descr': '<f4", 0, "\0", "x.npy: byte %zu: expected a closing quote"},
    {1, "{'descr' '<f4'}", 0, "'<", "x.npy: byte %zu: expected ':' after a key in the header dict"},
    {1, "{'descr': '<f4' 'shape': (1,)}", 0, "'s",
     "x.npy: byte %zu: expected ',' or '}' after a value in the header dict"},
    {3, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x\n", 4, "x\n",
     "x.npy: byte %zu: expected only spaces and a newline after the header dict"},
    {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), ", 4, "\0",
     "x.npy: byte %zu: expected a quoted key or '}' in the header dict"},
};

static void test_npy_bad_headers(void **state) {
    for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++) {
        const bad_header *b = &bad_headers[i];
        unsigned char buf[512];
        char want[512];
        size_t n = mk_npy(buf, sizeof buf, b->major, b->header, NULL, b->data_bytes);
        size_t at = 0;
        if (b->mark) {
            /* "\0" marks the end of the header */
            const char *m = *b->mark ? strstr(b->header, b->mark) : b->header + strlen(b->header);
            assert_non_null(m);
            at = (b->major == 1 ? 10 : 12) + (size_t)(m - b->header);
        }
        snprintf(want, sizeof want, b->want, at);
        expect_parse_error(buf, n, want);
    }
}

static void test_npy_read_errors(void **state) {
    rd_npy a;
    rd_error err;
    assert_int_equal(rd_npy_read("/nonexistent/e.npy", &a, &err), RD_ERR_IO);
    assert_string_equal(err.msg, "/nonexistent/e.npy: cannot open: No such file or directory");
    unsigned char buf[256];
    size_t n = mk_npy(buf, sizeof buf, 1, F2_HDR("<f4", "False", "(42, 32)"), NULL, 100);
    char path[64], want[160];
    assert_non_null(rd_test_tmpfile(path, sizeof path, (const char *)buf, n));
    assert_int_equal(rd_npy_read(path, &a, &err), RD_ERR_INPUT);
    snprintf(want, sizeof want, "%s: expected 5376 bytes of data after the header, found 100",
             path);
    assert_string_equal(err.msg, want);
    assert_null(a.data);
    unlink(path);
    /* an empty file is not mapped but still named */
    assert_non_null(rd_test_tmpfile(path, sizeof path, "", 0));
    assert_int_equal(rd_npy_read(path, &a, &err), RD_ERR_INPUT);
    snprintf(want, sizeof want, "%s: expected the magic string \\x93NUMPY at the start of the file",
             path);
    assert_string_equal(err.msg, want);
    unlink(path);
}

static void test_npy_golden_wav2vec2(void **state) {
    char path[512];
    RD_DATA_OR_SKIP(path, "emissions/librispeech-121-121726-0000.wav2vec2.npy");
    rd_npy a;
    rd_error err;
    assert_int_equal(rd_npy_read(path, &a, &err), RD_OK);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 422);
    assert_int_equal(a.shape[1], 32);
    assert_int_equal(a.size, 422 * 32);
    /* values from numpy.load */
    assert_float_equal(a.data[0], 16.068666f, 1e-5);
    assert_float_equal(a.data[100 * 32 + 5], -1.9759305f, 1e-5);
    assert_float_equal(a.data[a.size - 1], -9.516668f, 1e-5);
    double sum = 0;
    for (int64_t i = 0; i < a.size; i++) sum += a.data[i];
    assert_true(fabs(sum - -71595.30948803574) < 1e-3);
    rd_npy_free(&a);
}

/* The fuzz seed corpus (made with numpy): valid files load with numpy's
 * values, malformed ones fail with their exact message. */
typedef struct corpus_case {
    const char *file;
    const char *want; /* error after "path: ", or NULL when valid */
    int ndim;
    int64_t shape[3];
} corpus_case;

static const corpus_case corpus[] = {
    {"valid_v1_f4_2d.npy", NULL, 2, {3, 4, 1}},
    {"valid_v2_f8_fortran.npy", NULL, 2, {3, 4, 1}},
    {"valid_v3_f2_3d.npy", NULL, 3, {2, 3, 4}},
    {"valid_be_f4_1d.npy", NULL, 1, {4, 1, 1}},
    {"valid_i8_1d.npy", NULL, 1, {3, 1, 1}},
    {"valid_u1_fortran_3d.npy", NULL, 3, {2, 2, 2}},
    {"valid_empty_0x4.npy", NULL, 2, {0, 4, 1}},
    {"bad_magic.npy", "expected the magic string \\x93NUMPY at the start of the file", 0, {0}},
    {"bad_version.npy", "unsupported format version 4.0 (expected 1.0, 2.0 or 3.0)", 0, {0}},
    {"bad_header_len.npy", "expected a header of 32767 bytes, found 142", 0, {0}},
    {"bad_not_dict.npy", "byte 10: expected '{' to open the header dict", 0, {0}},
    {"bad_unclosed_dict.npy", "byte 66: expected ',' or '}' after a value in the header dict",
     0, {0}},
    {"bad_complex_c8.npy", "unsupported dtype '<c8' (expected '<f4', '<f2', '<f8', '<i4', "
     "'<i8' or the same with '>', or '|i1', '|u1')", 0, {0}},
    {"bad_0d.npy", "0-d array (shape ()) is not supported: expected 1 to 3 dimensions", 0, {0}},
    {"bad_4d.npy", "shape has 4 dimensions: expected 1 to 3", 0, {0}},
    {"bad_truncated_data.npy", "expected 24 bytes of data after the header, found 19", 0, {0}},
};

static void check_corpus_values(const char *file, const rd_npy *a) {
    if (strstr(file, "_f4_2d") || strstr(file, "_f8_fortran"))
        for (int i = 0; i < 12; i++) assert_true(a->data[i] == (float)i / 7.0f - 0.5f);
    if (strstr(file, "_f2_3d"))
        for (int i = 0; i < 24; i++) assert_float_equal(a->data[i], i / 5.0f, 2e-3); /* half ulp below 8 */
    if (strstr(file, "_be_f4"))
        assert_true(a->data[0] == 1.5f && a->data[1] == -2.0f && isinf(a->data[2]) &&
                    isnan(a->data[3]));
    if (strstr(file, "_i8"))
        assert_true(a->data[0] == -3.0f && a->data[2] == ldexpf(1.0f, 40));
    if (strstr(file, "_u1_fortran"))
        for (int i = 0; i < 8; i++) assert_float_equal(a->data[i], (float)i, 0);
}

static void test_npy_fuzz_corpus(void **state) {
    const char *dir = "tests/fuzz/corpus/fuzz_npy";
    if (access(dir, R_OK) != 0) skip();
    for (size_t i = 0; i < sizeof corpus / sizeof *corpus; i++) {
        const corpus_case *c = &corpus[i];
        char path[256], want[1200];
        snprintf(path, sizeof path, "%s/%s", dir, c->file);
        rd_npy a;
        rd_error err;
        rd_error_clear(&err);
        rd_status s = rd_npy_read(path, &a, &err);
        if (c->want) {
            snprintf(want, sizeof want, "%s: %s", path, c->want);
            assert_int_equal(s, RD_ERR_INPUT);
            assert_string_equal(err.msg, want);
            continue;
        }
        if (s != RD_OK) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(s, RD_OK);
        assert_int_equal(a.ndim, c->ndim);
        for (int k = 0; k < 3; k++) assert_int_equal(a.shape[k], c->shape[k]);
        check_corpus_values(c->file, &a);
        rd_npy_free(&a);
    }
}

/* ---- text ----------------------------------------------------------------- */

static void test_line_iter(void **state) {
    const char buf[] = "a\nbb\r\n\nz\0z\nlast\r";
    rd_line_iter it;
    rd_line_iter_init(&it, buf, sizeof buf - 1);
    const char *want[] = {"a", "bb", "", "z\0z", "last"};
    const size_t wlen[] = {1, 2, 0, 3, 4};
    const char *line;
    size_t len;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(rd_line_next(&it, &line, &len), 1);
        assert_int_equal(it.lineno, i + 1);
        assert_int_equal(len, wlen[i]);
        assert_memory_equal(line, want[i], len);
    }
    assert_int_equal(rd_line_next(&it, &line, &len), 0);
    assert_int_equal(it.lineno, 5);
    /* a final newline does not make an extra empty line; empty input has none */
    rd_line_iter_init(&it, "x\n", 2);
    assert_int_equal(rd_line_next(&it, &line, &len), 1);
    assert_int_equal(rd_line_next(&it, &line, &len), 0);
    assert_int_equal(it.lineno, 1);
    rd_line_iter_init(&it, "", 0);
    assert_int_equal(rd_line_next(&it, &line, &len), 0);
    assert_int_equal(it.lineno, 0);
}

static void test_split_ws(void **state) {
    const char *s = "  a\tbb  \t c ";
    const char *f[4];
    size_t fl[4];
    assert_int_equal(rd_split_ws(s, strlen(s), f, fl, 4), 3);
    assert_int_equal(fl[0], 1);
    assert_ptr_equal(f[0], s + 2);
    assert_int_equal(fl[1], 2);
    assert_memory_equal(f[1], "bb", 2);
    assert_int_equal(fl[2], 1);
    assert_ptr_equal(f[2], s + 10);
    assert_int_equal(rd_split_ws(s, strlen(s), f, fl, 2), 2);
    assert_int_equal(rd_split_ws(" \t ", 3, f, fl, 4), 0);
    assert_int_equal(rd_split_ws("word", 4, f, fl, 4), 1);
    assert_int_equal(fl[0], 4);
}

static void test_parse_numbers(void **state) {
    float f = 0;
    assert_true(rd_parse_float("-0.25", 5, &f));
    assert_float_equal(f, -0.25f, 0);
    assert_true(rd_parse_float("1.5e-3xyz", 6, &f)); /* only n bytes are the field */
    assert_float_equal(f, 1.5e-3f, 1e-9);
    assert_true(rd_parse_float("-inf", 4, &f));
    assert_true(isinf(f) && f < 0);
    const char *bad[] = {"", "1.5x", " 1", "1 ", "nan", "--1", "1e39", "1e999", "0x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        f = 7;
        assert_false(rd_parse_float(bad[i], strlen(bad[i]), &f));
        assert_float_equal(f, 7, 0);
    }
    assert_false(rd_parse_float("1\0002", 3, &f));
    char longnum[80];
    memset(longnum, '1', sizeof longnum);
    assert_false(rd_parse_float(longnum, sizeof longnum, &f));
    double d = 0;
    assert_true(rd_parse_double("1e39", 4, &d));
    assert_true(fabs(d / 1e39 - 1) < 1e-15);
    assert_true(rd_parse_double("1e-320", 6, &d)); /* underflow to a subnormal is fine */
    assert_false(rd_parse_double("1e400", 5, &d));

    long v = 0;
    assert_true(rd_parse_long("42", 2, &v));
    assert_int_equal(v, 42);
    assert_true(rd_parse_long("-7", 2, &v));
    assert_int_equal(v, -7);
    const char *badl[] = {"", "4x", "1.0", " 5", "\t5", "99999999999999999999", "0x10"};
    for (size_t i = 0; i < sizeof badl / sizeof *badl; i++) {
        v = 3;
        assert_false(rd_parse_long(badl[i], strlen(badl[i]), &v));
        assert_int_equal(v, 3);
    }
}

static void test_utf8(void **state) {
    const char *good[] = {"", "plain ascii", "caf\xC3\xA9", "\xE2\x82\xAC 5",
                          "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF", "\xEF\xBF\xBF"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(rd_utf8_valid(good[i], strlen(good[i])));
    const char *bad[] = {
        "\x80",             /* lone continuation byte */
        "a\xC3",            /* truncated 2-byte sequence at the end */
        "\xE2\x82",         /* truncated 3-byte sequence */
        "\xC3(",            /* bad continuation */
        "\xC0\xAF",         /* overlong '/' */
        "\xE0\x80\xAF",     /* overlong, 3 bytes */
        "\xF0\x80\x80\xAF", /* overlong, 4 bytes */
        "\xED\xA0\x80",     /* surrogate U+D800 */
        "\xED\xBF\xBF",     /* surrogate U+DFFF */
        "\xF4\x90\x80\x80", /* above U+10FFFF */
        "\xF8\x88\x80\x80\x80", /* 5-byte form */
        "\xFF",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(rd_utf8_valid(bad[i], strlen(bad[i])));
    /* the length bounds the check: a sequence cut by n is invalid */
    assert_false(rd_utf8_valid("\xC3\xA9", 1));
    assert_true(rd_utf8_valid("a\0b", 3));
}

static void test_text_read(void **state) {
    char path[64];
    assert_non_null(rd_test_tmpfile(path, sizeof path, "one\ntwo", 7));
    rd_text t;
    rd_error err;
    assert_int_equal(rd_text_read(path, &t, &err), RD_OK);
    assert_int_equal(t.size, 7);
    assert_string_equal(t.data, "one\ntwo");
    rd_text_free(&t);
    assert_null(t.data);
    unlink(path);
    /* larger than the initial 64 KiB buffer */
    size_t big = 200000;
    char *text = malloc(big);
    assert_non_null(text);
    for (size_t i = 0; i < big; i++) text[i] = (char)('a' + i % 26);
    assert_non_null(rd_test_tmpfile(path, sizeof path, text, big));
    assert_int_equal(rd_text_read(path, &t, &err), RD_OK);
    assert_int_equal(t.size, big);
    assert_memory_equal(t.data, text, big);
    assert_int_equal(t.data[big], '\0');
    rd_text_free(&t);
    free(text);
    unlink(path);
    assert_int_equal(rd_text_read("/nonexistent/lex.txt", &t, &err), RD_ERR_IO);
    assert_string_equal(err.msg, "/nonexistent/lex.txt: cannot open: No such file or directory");
    assert_null(t.data);
}

/* ---- arena ---------------------------------------------------------------- */

static void test_arena(void **state) {
    rd_arena a;
    rd_arena_init(&a, 256);
    char *p[20];
    for (int i = 0; i < 20; i++) {
        p[i] = rd_arena_alloc(&a, (size_t)(i + 1) * 5);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % 16, 0);
        memset(p[i], 'a' + i, (size_t)(i + 1) * 5);
    }
    for (int i = 0; i < 20; i++)
        for (int k = 0; k < (i + 1) * 5; k++) assert_int_equal(p[i][k], 'a' + i);
    size_t want = 0;
    for (int i = 0; i < 20; i++) want += ((size_t)(i + 1) * 5 + 15) / 16 * 16;
    assert_int_equal(a.used_total, want);
    /* a block bigger than a chunk gets its own chunk */
    char *big = rd_arena_alloc(&a, 10000);
    assert_non_null(big);
    memset(big, 1, 10000);
    char *s = rd_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    assert_null(rd_arena_alloc(&a, SIZE_MAX));
    assert_null(rd_arena_alloc(&a, SIZE_MAX - 8));
    rd_arena_reset(&a);
    assert_int_equal(a.used_total, 0);
    assert_non_null(a.head);
    char *q = rd_arena_alloc(&a, 32);
    assert_non_null(q);
    assert_int_equal(a.used_total, 32);
    rd_arena_free(&a);
    assert_null(a.head);
    rd_arena_init(&a, 0);
    assert_int_equal(a.chunk_size, (size_t)1 << 20);
    rd_arena_free(&a);
}

static void test_checked_alloc(void **state) {
    assert_null(rd_malloc_array(SIZE_MAX / 2, 4));
    assert_null(rd_calloc_array(SIZE_MAX / 2, 4));
    void *p = rd_malloc_array(0, 8);
    assert_non_null(p);
    free(p);
    int *z = rd_calloc_array(100, sizeof(int));
    assert_non_null(z);
    for (int i = 0; i < 100; i++) assert_int_equal(z[i], 0);
    assert_null(rd_realloc_array(z, SIZE_MAX / 4, 8));
    int *r = rd_realloc_array(z, 1000, sizeof(int)); /* z survives a failed realloc */
    assert_non_null(r);
    assert_int_equal(r[99], 0);
    free(r);
}

/* ---- status, timer -------------------------------------------------------- */

static rd_status fails_twice(rd_error *err) {
    RD_TRY(rd_fail(err, RD_ERR_NOMEM, "out of memory for %d slots", 12));
    return RD_OK;
}

static void test_status(void **state) {
    rd_error err;
    rd_error_clear(&err);
    assert_int_equal(err.status, RD_OK);
    assert_string_equal(err.msg, "");
    assert_int_equal(rd_fail(&err, RD_ERR_INPUT, "%s:%d: expected %s", "lex.txt", 12, "a word"),
                     RD_ERR_INPUT);
    assert_int_equal(err.status, RD_ERR_INPUT);
    assert_string_equal(err.msg, "lex.txt:12: expected a word");
    rd_error_prefix(&err, "rwkv-decode");
    assert_string_equal(err.msg, "rwkv-decode: lex.txt:12: expected a word");
    assert_int_equal(err.status, RD_ERR_INPUT);
    assert_int_equal(rd_fail(NULL, RD_ERR_IO, "ignored"), RD_ERR_IO);
    rd_error_clear(NULL);
    rd_error_prefix(NULL, "x");
    assert_int_equal(fails_twice(&err), RD_ERR_NOMEM);
    assert_string_equal(err.msg, "out of memory for 12 slots");
    /* long messages are cut, not overflowed */
    char longs[2000];
    memset(longs, 'x', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    rd_fail(&err, RD_ERR_INPUT, "%s", longs);
    assert_int_equal(strlen(err.msg), RD_ERROR_MSG_MAX - 1);
    rd_error_prefix(&err, "f");
    assert_int_equal(strlen(err.msg), RD_ERROR_MSG_MAX - 1);
    assert_memory_equal(err.msg, "f: xxx", 6);
}

static void test_exit_codes(void **state) {
    static const struct { rd_status st; int code; } codes[] = {
        {RD_OK, 0}, {RD_ERR_INPUT, 1}, {RD_ERR_IO, 1}, {RD_ERR_USAGE, 2}, {RD_ERR_NOMEM, 3},
        {RD_ERR_DEVICE, 3}, {RD_ERR_INTERNAL, 3}, {RD_ERR_INTERRUPTED, 130}, {(rd_status)99, 3}};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        assert_int_equal(rd_exit_code(codes[i].st), codes[i].code);
    assert_string_equal(rd_strerror(RD_OK), "ok");
    assert_string_equal(rd_strerror(RD_ERR_INPUT), "bad input");
    assert_string_equal(rd_strerror(RD_ERR_NOMEM), "out of memory");
    assert_string_equal(rd_strerror((rd_status)99), "unknown status");
}

static void test_timer_and_progress(void **state) {
    double t0 = rd_now();
    double t1 = rd_now();
    assert_true(t1 >= t0 && t0 > 0);
    FILE *f = tmpfile();
    assert_non_null(f);
    rd_progress p;
    rd_progress_init(&p, f, "decoding", 10);
    assert_int_equal(p.enabled, 0); /* not a terminal: silent */
    rd_progress_update(&p, 5);
    rd_progress_finish(&p, 10);
    assert_int_equal(ftell(f), 0);
    fclose(f);
}

/* The one FNV-1a (common/hash.h): published test vectors, chaining, and
 * the constants (an offset basis once typed with a digit missing). */
static void test_fnv1a_vectors(void **state) {
    assert_true(RD_FNV64_OFFSET == 0xcbf29ce484222325ull);
    assert_true(RD_FNV32_OFFSET == 0x811c9dc5u);
    assert_true(rd_fnv1a64(RD_FNV64_OFFSET, "", 0) == 0xcbf29ce484222325ull);
    assert_true(rd_fnv1a64(RD_FNV64_OFFSET, "a", 1) == 0xaf63dc4c8601ec8cull);
    assert_true(rd_fnv1a64(RD_FNV64_OFFSET, "foobar", 6) == 0x85944171f73967e8ull);
    assert_true(rd_fnv1a32(RD_FNV32_OFFSET, "a", 1) == 0xe40c292cu);
    assert_true(rd_fnv1a32(RD_FNV32_OFFSET, "foobar", 6) == 0xbf9cf968u);
    uint64_t h = rd_fnv1a64(RD_FNV64_OFFSET, "foo", 3);
    assert_true(rd_fnv1a64(h, "bar", 3) == 0x85944171f73967e8ull);
}

/* Element sizes and the fp32 <-> fp32/fp16/bf16 array helpers (common/dtype.h). */
static void test_dtype_arrays(void **state) {
    assert_int_equal(rd_dtype_size(RD_F32), 4);
    assert_int_equal(rd_dtype_size(RD_F16), 2);
    assert_int_equal(rd_dtype_size(RD_BF16), 2);
    assert_int_equal(rd_dtype_size((rd_dtype)99), 0);
    const float in[5] = {0.0f, 1.0f, -2.5f, 65504.0f, 1.0f / 3.0f};
    const rd_dtype types[3] = {RD_F32, RD_F16, RD_BF16};
    for (int k = 0; k < 3; k++) {
        rd_dtype t = types[k];
        unsigned char buf[5 * 4];
        float out[5];
        rd_write_f32(buf, t, 5, in);
        rd_read_f32(buf, t, 5, out);
        for (int i = 0; i < 5; i++) {
            float want = t == RD_F32 ? in[i] : t == RD_F16 ? rd_f16_to_f32(rd_f32_to_f16(in[i]))
                                                           : rd_bf16_to_f32(rd_f32_to_bf16(in[i]));
            assert_true(out[i] == want);
            assert_true(rd_load_f32(buf, t, (size_t)i) == want);
        }
        rd_store_f32(buf, t, 2, 7.0f);
        assert_true(rd_load_f32(buf, t, 2) == 7.0f);
        assert_true(rd_load_f32(buf, t, 1) == 1.0f);
        rd_fill_f32(buf, t, 5, -1.0f);
        for (int i = 0; i < 5; i++) assert_true(rd_load_f32(buf, t, (size_t)i) == -1.0f);
    }
    assert_true(rd_f32_to_bf16(1.0f / 3.0f) == 0x3eab); /* rounded to nearest even */
    assert_true(rd_f32_to_f16(1.0f / 3.0f) == 0x3555);
}

/* rd_fail_at: the place first, "FILE:LINE: " or "FILE: " (line <= 0), and
 * arguments may come from the error's own message. */
static void test_fail_at(void **state) {
    rd_error err;
    assert_int_equal(rd_fail_at(&err, RD_ERR_INPUT, "lex.txt", 12, "expected %s", "a word"), RD_ERR_INPUT);
    assert_string_equal(err.msg, "lex.txt:12: expected a word");
    assert_int_equal(err.status, RD_ERR_INPUT);
    assert_int_equal(rd_fail_at(&err, RD_ERR_IO, "s.state", 0, "truncated"), RD_ERR_IO);
    assert_string_equal(err.msg, "s.state: truncated");
    rd_fail(&err, RD_ERR_INPUT, "inner");
    rd_fail_at(&err, RD_ERR_INPUT, "f", 3, "%s", err.msg);
    assert_string_equal(err.msg, "f:3: inner");
    assert_int_equal(rd_fail_at(NULL, RD_ERR_NOMEM, "f", 1, "x"), RD_ERR_NOMEM);
}

typedef struct pool_job {
    int calls[8];
    int n_seen[8];
    int round;
} pool_job;

static void pool_job_fn(void *ctx, int t, int n) {
    pool_job *j = ctx;
    j->calls[t] += j->round; /* each slot written by its own thread only */
    j->n_seen[t] = n;
}

/* rd_pool_run calls fn once per thread index, every run, and returns only
 * when all have returned; one thread (or fewer) runs on the caller alone. */
static void test_pool(void **state) {
    for (int threads = 0; threads <= 4; threads++) {
        rd_pool p;
        rd_error err;
        assert_int_equal(rd_pool_start(&p, threads, &err), RD_OK);
        int n = threads < 1 ? 1 : threads;
        assert_int_equal(p.n, n);
        pool_job j = {{0}, {0}, 0};
        for (int r = 1; r <= 50; r++) {
            j.round = r;
            rd_pool_run(&p, pool_job_fn, &j);
        }
        for (int t = 0; t < 8; t++) {
            assert_int_equal(j.calls[t], t < n ? 50 * 51 / 2 : 0);
            assert_int_equal(j.n_seen[t], t < n ? n : 0);
        }
        rd_pool_stop(&p);
        rd_pool_stop(&p); /* a stopped (zeroed) pool: nothing to do */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_roundtrip), cmocka_unit_test(test_text_matrix),
        cmocka_unit_test(test_npy_write_errors),
        cmocka_unit_test(test_fnv1a_vectors),
        cmocka_unit_test(test_fail_at),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_dtype_arrays),
        cmocka_unit_test(test_npy_v1_f4_le),
        cmocka_unit_test(test_npy_v2_f8_both_orders),
        cmocka_unit_test(test_npy_v3_f2_special_values),
        cmocka_unit_test(test_npy_big_endian_f4_i4),
        cmocka_unit_test(test_npy_integer_dtypes),
        cmocka_unit_test(test_npy_fortran_2d),
        cmocka_unit_test(test_npy_fortran_3d),
        cmocka_unit_test(test_npy_header_variants),
        cmocka_unit_test(test_npy_empty_array),
        cmocka_unit_test(test_npy_bad_preamble),
        cmocka_unit_test(test_npy_bad_headers),
        cmocka_unit_test(test_npy_read_errors),
        cmocka_unit_test(test_npy_fuzz_corpus),
        cmocka_unit_test(test_npy_golden_wav2vec2),
        cmocka_unit_test(test_line_iter),
        cmocka_unit_test(test_split_ws),
        cmocka_unit_test(test_parse_numbers),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_text_read),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_checked_alloc),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_timer_and_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
