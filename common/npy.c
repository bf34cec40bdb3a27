/* common/npy.c - NumPy .npy reader and writer (see npy.h).
 *
 * Layout: "\x93NUMPY", major, minor, header length (u16 LE for 1.0, u32 LE
 * for 2.0/3.0), then a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (422, 32), }
 * padded with spaces and a newline, then the raw array data. */
#include "common/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/half.h"
#include "common/safe_write.h"
#include "common/text.h"

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Element type on disk. */
typedef struct npy_dtype {
    char kind;  /* 'f' float, 'i' signed int, 'u' unsigned int */
    int size;   /* bytes per element */
    int big;    /* 1 when big-endian */
} npy_dtype;

/* What the header dict says, once parsed. */
typedef struct npy_header {
    char descr[32];         /* printable copy, possibly cut short */
    int have_descr, have_fortran, have_shape;
    int fortran;
    size_t ndim;            /* dims written in 'shape' (may exceed the max) */
    int64_t shape[RD_NPY_MAX_DIMS];
} npy_header;

/* Cursor over the header text; base is its offset in the file. */
typedef struct hdr_parser {
    const char *s;
    size_t n, pos, base;
    const char *name;
    rd_error *err;
} hdr_parser;

/* ---- header dict parsing ---------------------------------------------- */

static rd_status hp_fail(hdr_parser *p, const char *what) {
    return rd_fail(p->err, RD_ERR_INPUT, "%s: byte %zu: expected %s", p->name,
                   p->base + p->pos, what);
}

static void hp_skip_ws(hdr_parser *p) {
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int hp_peek(const hdr_parser *p) {
    return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1;
}

/* Consumes c (after whitespace) and returns 1, or returns 0. */
static int hp_accept(hdr_parser *p, char c) {
    hp_skip_ws(p);
    if (hp_peek(p) != (unsigned char)c) return 0;
    p->pos++;
    return 1;
}

/* Copies s[0..n) into dst for messages, non-printable bytes as '?'. */
static void printable_copy(char *dst, size_t cap, const char *s, size_t n) {
    size_t k = n < cap - 1 ? n : cap - 1;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    dst[k] = '\0';
}

/* A string in single or double quotes; *str points into the header. */
static rd_status hp_string(hdr_parser *p, const char **str, size_t *len,
                           const char *what) {
    hp_skip_ws(p);
    int q = hp_peek(p);
    if (q != '\'' && q != '"') return hp_fail(p, what);
    size_t start = p->pos + 1, i = start;
    while (i < p->n && p->s[i] != (char)q) i++;
    if (i >= p->n) {
        p->pos = i;
        return hp_fail(p, "a closing quote");
    }
    *str = p->s + start;
    *len = i - start;
    p->pos = i + 1;
    return RD_OK;
}

static rd_status hp_descr(hdr_parser *p, npy_header *h) {
    const char *s;
    size_t len;
    RD_TRY(hp_string(p, &s, &len, "a quoted dtype string for 'descr'"));
    printable_copy(h->descr, sizeof h->descr, s, len);
    return RD_OK;
}

static int hp_word(hdr_parser *p, const char *w) {
    size_t k = strlen(w);
    if (p->n - p->pos < k || memcmp(p->s + p->pos, w, k) != 0) return 0;
    p->pos += k;
    return 1;
}

static rd_status hp_bool(hdr_parser *p, npy_header *h) {
    hp_skip_ws(p);
    if (hp_word(p, "True")) h->fortran = 1;
    else if (hp_word(p, "False")) h->fortran = 0;
    else return hp_fail(p, "True or False for 'fortran_order'");
    return RD_OK;
}

/* A non-negative decimal integer (a Python 2 'L' suffix is allowed). */
static rd_status hp_dim(hdr_parser *p, int64_t *out) {
    hp_skip_ws(p);
    int c = hp_peek(p);
    if (c < '0' || c > '9') return hp_fail(p, "a non-negative integer dimension in 'shape'");
    int64_t v = 0;
    size_t start = p->pos;
    while ((c = hp_peek(p)) >= '0' && c <= '9') {
        if (v > (INT64_MAX - (c - '0')) / 10) {
            p->pos = start;
            return hp_fail(p, "a dimension below 2^63 in 'shape'");
        }
        v = v * 10 + (c - '0');
        p->pos++;
    }
    if (c == 'L') p->pos++;
    *out = v;
    return RD_OK;
}

/* A tuple of dimensions: (), (5,), (3, 4) or (3, 4,). */
static rd_status hp_shape(hdr_parser *p, npy_header *h) {
    if (!hp_accept(p, '(')) return hp_fail(p, "a tuple such as (422, 32) for 'shape'");
    h->ndim = 0;
    while (!hp_accept(p, ')')) {
        int64_t d = 0;
        RD_TRY(hp_dim(p, &d));
        if (h->ndim < RD_NPY_MAX_DIMS) h->shape[h->ndim] = d;
        h->ndim++;
        if (hp_accept(p, ',')) continue;
        if (h->ndim == 1)
            return hp_fail(p, "',' after the only dimension in 'shape', as in (5,)");
        if (!hp_accept(p, ')')) return hp_fail(p, "',' or ')' in 'shape'");
        break;
    }
    return RD_OK;
}

/* One "key: value" entry; rejects unknown and repeated keys. */
static rd_status hp_entry(hdr_parser *p, npy_header *h) {
    const char *k;
    size_t klen;
    size_t at = p->pos;
    RD_TRY(hp_string(p, &k, &klen, "a quoted key or '}' in the header dict"));
    int *have = NULL;
    if (klen == 5 && memcmp(k, "descr", 5) == 0) have = &h->have_descr;
    else if (klen == 13 && memcmp(k, "fortran_order", 13) == 0) have = &h->have_fortran;
    else if (klen == 5 && memcmp(k, "shape", 5) == 0) have = &h->have_shape;
    char key[32];
    printable_copy(key, sizeof key, k, klen);
    if (!have || *have) {
        p->pos = at;
        hp_skip_ws(p);
        return rd_fail(p->err, RD_ERR_INPUT,
                       "%s: byte %zu: %s key '%s' (expected 'descr', 'fortran_order' and "
                       "'shape' once each)", p->name, p->base + p->pos,
                       have ? "repeated" : "unexpected", key);
    }
    *have = 1;
    if (!hp_accept(p, ':')) return hp_fail(p, "':' after a key in the header dict");
    if (have == &h->have_descr) return hp_descr(p, h);
    if (have == &h->have_fortran) return hp_bool(p, h);
    return hp_shape(p, h);
}

static rd_status hp_dict(hdr_parser *p, npy_header *h) {
    if (!hp_accept(p, '{')) return hp_fail(p, "'{' to open the header dict");
    while (!hp_accept(p, '}')) {
        RD_TRY(hp_entry(p, h));
        if (hp_accept(p, ',')) continue;
        if (!hp_accept(p, '}')) return hp_fail(p, "',' or '}' after a value in the header dict");
        break;
    }
    hp_skip_ws(p);
    if (p->pos != p->n) return hp_fail(p, "only spaces and a newline after the header dict");
    const char *missing = !h->have_descr ? "descr"
                          : !h->have_fortran ? "fortran_order"
                          : !h->have_shape ? "shape" : NULL;
    if (missing)
        return rd_fail(p->err, RD_ERR_INPUT, "%s: expected the key '%s' in the header dict",
                       p->name, missing);
    return RD_OK;
}

/* ---- header semantics --------------------------------------------------- */

static int dtype_from_descr(const char *d, npy_dtype *dt) {
    if (strlen(d) != 3) return 0;
    char order = d[0], kind = d[1], size = d[2];
    dt->kind = kind;
    dt->size = size - '0';
    if (order == '|') {
        dt->big = 0;
        return (kind == 'i' || kind == 'u') && size == '1';
    }
    if (order != '<' && order != '>') return 0;
    dt->big = order == '>';
    if (kind == 'f') return size == '2' || size == '4' || size == '8';
    if (kind == 'i') return size == '4' || size == '8';
    return 0;
}

/* Checks dtype and dims; fills out->ndim/shape/size and *dt. */
static rd_status check_header(const npy_header *h, const char *name, npy_dtype *dt,
                              rd_npy *out, rd_error *err) {
    if (!dtype_from_descr(h->descr, dt))
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: unsupported dtype '%s' (expected '<f4', '<f2', '<f8', '<i4', "
                       "'<i8' or the same with '>', or '|i1', '|u1')", name, h->descr);
    if (h->ndim == 0)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: 0-d array (shape ()) is not supported: expected 1 to %d dimensions",
                       name, RD_NPY_MAX_DIMS);
    if (h->ndim > RD_NPY_MAX_DIMS)
        return rd_fail(err, RD_ERR_INPUT, "%s: shape has %zu dimensions: expected 1 to %d",
                       name, h->ndim, RD_NPY_MAX_DIMS);
    int64_t size = 1;
    for (int i = 0; i < RD_NPY_MAX_DIMS; i++) {
        int64_t d = (size_t)i < h->ndim ? h->shape[i] : 1;
        if (d > 0 && size > INT64_MAX / dt->size / d)
            return rd_fail(err, RD_ERR_INPUT,
                           "%s: shape is too large: expected fewer than 2^63 bytes of data",
                           name);
        size *= d;
        out->shape[i] = d;
    }
    out->ndim = (int)h->ndim;
    out->size = size;
    return RD_OK;
}

/* ---- data conversion ---------------------------------------------------- */

static uint64_t load_uint(const unsigned char *p, int size, int big) {
    uint64_t v = 0;
    for (int i = 0; i < size; i++) v = (v << 8) | p[big ? i : size - 1 - i];
    return v;
}

static float load_elem(const unsigned char *p, const npy_dtype *dt) {
    uint64_t u = load_uint(p, dt->size, dt->big);
    if (dt->kind == 'f') {
        if (dt->size == 2) return rd_f16_to_f32((uint16_t)u);
        if (dt->size == 4) return rd_bits_to_f32((uint32_t)u);
        double d;
        memcpy(&d, &u, 8);
        return (float)d;
    }
    if (dt->kind == 'u') return (float)u;
    if (dt->size == 1) return (float)(int8_t)u;
    if (dt->size == 4) return (float)(int32_t)(uint32_t)u;
    return (float)(int64_t)u;
}

/* Converts size elements to float32 in C order. In Fortran order the first
 * index varies fastest on disk, so each disk element lands transposed. */
static void convert(const unsigned char *src, const npy_dtype *dt, int fortran,
                    const int64_t *shape, float *dst) {
    int64_t d0 = shape[0], d1 = shape[1], d2 = shape[2];
    if (!fortran) {
        int64_t n = d0 * d1 * d2;
        const uint16_t one = 1;
        int little = *(const unsigned char *)&one == 1;
        if (dt->kind == 'f' && dt->size == 4 && dt->big != little) { /* native float32: a copy */
            memcpy(dst, src, (size_t)n * sizeof(float));
            return;
        }
        for (int64_t s = 0; s < n; s++) dst[s] = load_elem(src + s * dt->size, dt);
        return;
    }
    int64_t s = 0;
    for (int64_t k = 0; k < d2; k++)
        for (int64_t j = 0; j < d1; j++)
            for (int64_t i = 0; i < d0; i++, s++)
                dst[(i * d1 + j) * d2 + k] = load_elem(src + s * dt->size, dt);
}

/* ---- preamble and top level --------------------------------------------- */

/* Checks magic and version; sets the header's offset and length. */
static rd_status read_preamble(const unsigned char *b, size_t n, const char *name,
                               size_t *hoff, size_t *hlen, rd_error *err) {
    if (n < 6 || memcmp(b, npy_magic, 6) != 0)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: expected the magic string \\x93NUMPY at the start of the file",
                       name);
    if (n < 8)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: expected a format version after the magic string, found end of file",
                       name);
    unsigned major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: unsupported format version %u.%u (expected 1.0, 2.0 or 3.0)", name,
                       major, minor);
    size_t lenbytes = major == 1 ? 2 : 4;
    if (n < 8 + lenbytes)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: expected a %zu-byte header length after the version, found %zu bytes",
                       name, lenbytes, n - 8);
    *hoff = 8 + lenbytes;
    *hlen = (size_t)load_uint(b + 8, (int)lenbytes, 0);
    if (*hlen > n - *hoff)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: expected a header of %zu bytes, found %zu", name, *hlen,
                       n - *hoff);
    return RD_OK;
}

/* Preamble, header dict and their checks: where the data starts (hoff + hlen),
 * its dtype and shape (a, without data). */
static rd_status parse_all_headers(const unsigned char *b, size_t n, const char *name, size_t *hoff,
                                   size_t *hlen, npy_header *h, npy_dtype *dt, rd_npy *a, rd_error *err) {
    RD_TRY(read_preamble(b, n, name, hoff, hlen, err));
    memset(h, 0, sizeof *h);
    hdr_parser p = {(const char *)b + *hoff, *hlen, 0, *hoff, name, err};
    RD_TRY(hp_dict(&p, h));
    memset(a, 0, sizeof *a);
    return check_header(h, name, dt, a, err);
}

rd_status rd_npy_parse(const void *buf, size_t n, const char *name, rd_npy *out,
                       rd_error *err) {
    memset(out, 0, sizeof *out);
    const unsigned char *b = buf;
    size_t hoff = 0, hlen = 0;
    npy_header h;
    npy_dtype dt;
    rd_npy a;
    RD_TRY(parse_all_headers(b, n, name, &hoff, &hlen, &h, &dt, &a, err));
    size_t avail = n - hoff - hlen;
    uint64_t need = (uint64_t)a.size * (uint64_t)dt.size;
    if (need != avail)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: expected %llu bytes of data after the header, found %zu", name,
                       (unsigned long long)need, avail);
    if (a.size > 0) {
        a.data = rd_malloc_array((size_t)a.size, sizeof(float));
        if (!a.data)
            return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory for %lld floats", name,
                           (long long)a.size);
        convert(b + hoff + hlen, &dt, h.fortran, a.shape, a.data);
    }
    *out = a;
    return RD_OK;
}

/* ---- streaming ------------------------------------------------------------ */

rd_status rd_npy_header(const void *buf, size_t n, const char *name, rd_npy_hdr *out, rd_error *err) {
    memset(out, 0, sizeof *out);
    const unsigned char *b = buf;
    size_t hoff = 0, hlen = 0;
    if (memcmp(b, npy_magic, n < 6 ? n : 6) != 0) return read_preamble(b, n, name, &hoff, &hlen, err);
    if (n < 12) {
        out->need = 12; /* magic, version and the longest header length field */
        return RD_OK;
    }
    size_t lenbytes = b[6] == 1 ? 2 : 4;
    size_t total = 8 + lenbytes + (size_t)load_uint(b + 8, (int)lenbytes, 0);
    if (n < total) {
        out->need = total;
        return RD_OK;
    }
    npy_header h;
    npy_dtype dt;
    rd_npy a;
    RD_TRY(parse_all_headers(b, n, name, &hoff, &hlen, &h, &dt, &a, err));
    if (h.fortran && a.ndim > 1)
        return rd_fail(err, RD_ERR_INPUT, "%s: Fortran order cannot be read frame by frame (expected C order)", name);
    out->ndim = a.ndim;
    memcpy(out->shape, a.shape, sizeof a.shape);
    out->data_offset = hoff + hlen;
    out->elem_size = (size_t)dt.size;
    out->kind = dt.kind;
    out->big = dt.big;
    return RD_OK;
}

void rd_npy_convert(const rd_npy_hdr *h, const void *src, size_t n, float *dst) {
    npy_dtype dt = {h->kind, (int)h->elem_size, h->big};
    int64_t shape[RD_NPY_MAX_DIMS] = {(int64_t)n, 1, 1};
    convert(src, &dt, 0, shape, dst);
}

/* ---- plain-text matrices ------------------------------------------------ */

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Splits one line into values; returns the count, or -1 with err set.
 * Separators: runs of spaces/tabs, or one ',' or ';' with optional blanks
 * around it. vals may be NULL (counting only). */
static long text_row(const char *s, size_t n, const char *name, long lineno, float *vals, rd_error *err) {
    size_t i = 0;
    long k = 0;
    while (i < n && is_blank(s[i])) i++;
    while (i < n) {
        size_t j = i;
        while (j < n && !is_blank(s[j]) && s[j] != ',' && s[j] != ';') j++;
        if (j == i) {
            rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a number before '%c' (value %ld is empty)", name, lineno,
                    s[i], k + 1);
            return -1;
        }
        float v;
        if (!rd_parse_float(s + i, j - i, &v)) {
            rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a number as value %ld, found '%.*s'", name, lineno, k + 1,
                    (int)(j - i < 40 ? j - i : 40), s + i);
            return -1;
        }
        if (vals) vals[k] = v;
        k++;
        while (j < n && is_blank(s[j])) j++;
        if (j < n && (s[j] == ',' || s[j] == ';')) {
            j++;
            while (j < n && is_blank(s[j])) j++;
            if (j == n) {
                rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a number after the last separator", name, lineno);
                return -1;
            }
        }
        i = j;
    }
    return k;
}

rd_status rd_matrix_parse_text(const void *buf, size_t n, const char *name, rd_npy *out, rd_error *err) {
    memset(out, 0, sizeof *out);
    const char *b = buf;
    if (memchr(b, '\0', n))
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: expected a .npy file (starting with \\x93NUMPY) or a text matrix, found binary data",
                       name);
    /* pass 1: rows and columns */
    rd_line_iter it;
    const char *line;
    size_t len;
    long cols = -1, rows = 0, first_line = 0;
    rd_line_iter_init(&it, b, n);
    while (rd_line_next(&it, &line, &len)) {
        size_t i = 0;
        while (i < len && is_blank(line[i])) i++;
        if (i == len || line[i] == '#') continue;
        long k = text_row(line, len, name, it.lineno, NULL, err);
        if (k < 0) return err->status;
        if (cols < 0) {
            cols = k;
            first_line = it.lineno;
        } else if (k != cols) {
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected %ld values (as on line %ld), found %ld", name,
                           it.lineno, cols, first_line, k);
        }
        rows++;
    }
    out->ndim = 2;
    out->shape[0] = rows;
    out->shape[1] = cols < 0 ? 0 : cols;
    out->shape[2] = 1;
    out->size = rows * out->shape[1];
    if (out->size == 0) return RD_OK;
    out->data = rd_malloc_array((size_t)out->size, sizeof(float));
    if (!out->data) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory for %ld x %ld values", name, rows, cols);
    /* pass 2: values */
    rd_line_iter_init(&it, b, n);
    long r = 0;
    while (rd_line_next(&it, &line, &len)) {
        size_t i = 0;
        while (i < len && is_blank(line[i])) i++;
        if (i == len || line[i] == '#') continue;
        text_row(line, len, name, it.lineno, out->data + r * cols, err);
        r++;
    }
    return RD_OK;
}

rd_status rd_matrix_parse(const void *buf, size_t n, const char *name, rd_npy *out, rd_error *err) {
    /* 0x93 is never text: a .npy, perhaps cut short inside its magic string */
    if (n >= 1 && ((const unsigned char *)buf)[0] == 0x93) return rd_npy_parse(buf, n, name, out, err);
    return rd_matrix_parse_text(buf, n, name, out, err);
}

/* Maps a regular file (or reads a FIFO / pipe / "-", opened once) and parses it with parse. */
static rd_status read_with(const char *path, rd_npy *out, rd_error *err,
                           rd_status (*parse)(const void *, size_t, const char *, rd_npy *, rd_error *)) {
    memset(out, 0, sizeof *out);
    struct stat st;
    int fd = strcmp(path, "-") == 0 ? -1 : open(path, O_RDONLY);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (m == MAP_FAILED)
            return rd_fail(err, RD_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        rd_status s = parse(m, (size_t)st.st_size, path, out, err);
        munmap(m, (size_t)st.st_size);
        return s;
    }
    if (fd < 0 && strcmp(path, "-") != 0) return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    rd_text t;
    /* a FIFO, pipe or empty file: read from the fd already open (opened once) */
    RD_TRY(fd >= 0 ? rd_text_read_fd(fd, path, &t, err) : rd_text_read(path, &t, err));
    rd_status s = parse(t.data, t.size, strcmp(path, "-") == 0 ? "<stdin>" : path, out, err);
    rd_text_free(&t);
    return s;
}

rd_status rd_npy_read(const char *path, rd_npy *out, rd_error *err) { return read_with(path, out, err, rd_npy_parse); }

rd_status rd_matrix_read(const char *path, rd_npy *out, rd_error *err) {
    return read_with(path, out, err, rd_matrix_parse);
}

void rd_npy_free(rd_npy *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- writer ------------------------------------------------------------- */

/* Formats the preamble and padded header (total a multiple of 64). */
static size_t format_header(char *buf, size_t cap, int ndim, const int64_t *shape) {
    char dims[96];
    size_t k = 0;
    for (int i = 0; i < ndim; i++)
        k += (size_t)snprintf(dims + k, sizeof dims - k, i ? " %lld," : "%lld,",
                              (long long)shape[i]);
    if (ndim > 1) dims[k - 1] = '\0';  /* (5,) but (3, 4) */
    int len = snprintf(buf + 10, cap - 10,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
    size_t total = 10 + (size_t)len + 1;
    size_t padded = (total + 63) / 64 * 64;
    memset(buf + 10 + len, ' ', padded - total);
    buf[padded - 1] = '\n';
    memcpy(buf, npy_magic, 6);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)((padded - 10) & 0xFF);
    buf[9] = (char)((padded - 10) >> 8);
    return padded;
}

/* Writes n floats little-endian, a block at a time. */
static int write_le_f32(FILE *f, const float *data, int64_t n) {
    unsigned char block[4096];
    int64_t i = 0;
    while (i < n) {
        size_t k = 0;
        for (; k + 4 <= sizeof block && i < n; k += 4, i++) {
            uint32_t u = rd_f32_to_bits(data[i]);
            block[k] = (unsigned char)u;
            block[k + 1] = (unsigned char)(u >> 8);
            block[k + 2] = (unsigned char)(u >> 16);
            block[k + 3] = (unsigned char)(u >> 24);
        }
        if (fwrite(block, 1, k, f) != k) return 0;
    }
    return 1;
}

rd_status rd_npy_write_f32(const char *path, const float *data, int ndim,
                           const int64_t *shape, rd_error *err) {
    if (ndim < 1 || ndim > RD_NPY_MAX_DIMS)
        return rd_fail(err, RD_ERR_USAGE, "%s: cannot write %d dimensions: expected 1 to %d",
                       path, ndim, RD_NPY_MAX_DIMS);
    int64_t size = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && size > INT64_MAX / 4 / shape[i]))
            return rd_fail(err, RD_ERR_USAGE,
                           "%s: cannot write shape dimension %lld: expected 0 to 2^61",
                           path, (long long)shape[i]);
        size *= shape[i];
    }
    char hdr[256];
    size_t hlen = format_header(hdr, sizeof hdr, ndim, shape);
    rd_out out;
    RD_TRY(rd_out_open(&out, path, err));
    if (!(fwrite(hdr, 1, hlen, out.f) == hlen && write_le_f32(out.f, data, size))) {
        int saved = errno;
        rd_out_abort(&out);
        return rd_fail(err, RD_ERR_IO, "%s: write error: %s", path, strerror(saved));
    }
    return rd_out_commit(&out, err);
}
