/* lmstate/weights/tensor_file.c - named tensors from model files (see tensor_file.h):
 * the tf_file object, format detection, the rwkv.cpp .bin reader and dtype
 * helpers, and safetensors with its JSON header. PyTorch .pth is in
 * tensor_pth.c (pickle) and tensor_zip.c (zip directory). */
#include "lmstate/weights/tensor_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/half.h"
#include "common/text.h"
#include "lmstate/weights/tensor_file_impl.h"

#define BIN_MAGIC 0x67676d66u /* "ggmf" */
#define BIN_MAX_NAME 4096

static float elem_to_f32(rd_dtype dt, const unsigned char *p) {
    switch (dt) {
    case RD_F32: return rd_bits_to_f32(tf_le32(p));
    case RD_F16: return rd_f16_to_f32(tf_le16(p));
    case RD_BF16: return rd_bf16_to_f32(tf_le16(p));
    case RD_F64: {
        uint64_t u = tf_le64(p);
        double d;
        memcpy(&d, &u, 8);
        return (float)d;
    }
    case RD_I64: return (float)(int64_t)tf_le64(p);
    case RD_I32: return (float)(int32_t)tf_le32(p);
    case RD_U8: return (float)p[0];
    }
    return 0.0f;
}

void tf_to_f32(const tf_tensor *t, float *out) {
    const unsigned char *p = t->data;
    size_t es = rd_dtype_size(t->dtype);
    if (t->numel <= 0) return;
    if (t->dtype == RD_F32) {
        memcpy(out, p, (size_t)t->numel * 4); /* host is little-endian */
        return;
    }
    for (int64_t i = 0; i < t->numel; i++) out[i] = elem_to_f32(t->dtype, p + (size_t)i * es);
}

/* ---- building ------------------------------------------------------------- */

int tf_shape_bytes(rd_dtype dt, int ndim, const int64_t *shape, int64_t *numel,
                   uint64_t *bytes) {
    int64_t es = (int64_t)rd_dtype_size(dt), n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return 0;
        if (shape[d] > 0 && n > INT64_MAX / es / shape[d]) return 0;
        n *= shape[d];
    }
    *numel = n;
    *bytes = (uint64_t)n * (uint64_t)es;
    return 1;
}

void tf_printable(char *dst, size_t cap, const char *s, size_t n) {
    size_t k = n < cap - 1 ? n : cap - 1;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    dst[k] = '\0';
}

rd_status tf_push(tf_file *f, const char *fname, const char *name, size_t len,
                  const tf_tensor *t, rd_error *err) {
    if (memchr(name, '\0', len))
        return rd_fail(err, RD_ERR_INPUT, "%s: tensor name contains a NUL byte", fname);
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 64;
        tf_tensor *nt = f->cap < (1 << 28) ? rd_realloc_array(f->t, (size_t)cap, sizeof *nt) : NULL;
        if (!nt) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory for %d tensors", fname, cap);
        f->t = nt;
        f->cap = cap;
    }
    tf_tensor *d = &f->t[f->n];
    *d = *t;
    uint64_t bytes = 0;
    if (!tf_shape_bytes(t->dtype, t->ndim, t->shape, &d->numel, &bytes))
        return rd_fail(err, RD_ERR_INTERNAL, "%s: unchecked shape", fname);
    d->name = rd_arena_strndup(&f->names, name, len);
    if (!d->name) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory for tensor names", fname);
    f->n++;
    return RD_OK;
}

static int cmp_name(const void *a, const void *b) {
    const tf_tensor *x = *(const tf_tensor *const *)a, *y = *(const tf_tensor *const *)b;
    return strcmp(x->name, y->name);
}

/* Sorts the name index; rejects a name that occurs twice. */
static rd_status finish(tf_file *f, const char *fname, rd_error *err) {
    f->sorted = rd_malloc_array(f->n ? (size_t)f->n : 1, sizeof *f->sorted);
    if (!f->sorted) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", fname);
    for (int i = 0; i < f->n; i++) f->sorted[i] = &f->t[i];
    qsort(f->sorted, (size_t)f->n, sizeof *f->sorted, cmp_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->sorted[i - 1]->name, f->sorted[i]->name) == 0) {
            char nm[200];
            tf_printable(nm, sizeof nm, f->sorted[i]->name, strlen(f->sorted[i]->name));
            return rd_fail(err, RD_ERR_INPUT, "%s: tensor %s appears twice", fname, nm);
        }
    return RD_OK;
}

/* ---- rwkv.cpp .bin ---------------------------------------------------------- */

/* One tensor block at *off: header words, dims, name, data. */
static rd_status bin_tensor(tf_file *f, const char *fname, size_t *off, rd_error *err) {
    const unsigned char *b = f->buf;
    size_t o = *off, left = f->size - o;
    if (left < 12)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: byte %zu: expected a 12-byte tensor header, found %zu bytes", fname, o,
                       left);
    int32_t nd = (int32_t)tf_le32(b + o), klen = (int32_t)tf_le32(b + o + 4);
    int32_t type = (int32_t)tf_le32(b + o + 8);
    if (nd < 1 || nd > TF_MAX_DIMS)
        return rd_fail(err, RD_ERR_INPUT, "%s: byte %zu: expected 1 to %d dimensions, found %d",
                       fname, o, TF_MAX_DIMS, (int)nd);
    o += 12;
    left -= 12;
    if (left < (size_t)nd * 4)
        return rd_fail(err, RD_ERR_INPUT, "%s: byte %zu: expected %d dimensions, found end of file",
                       fname, o, (int)nd);
    tf_tensor t;
    memset(&t, 0, sizeof t);
    t.ndim = nd;
    for (int d = 0; d < nd; d++) t.shape[nd - 1 - d] = (int32_t)tf_le32(b + o + 4 * (size_t)d);
    o += (size_t)nd * 4;
    left -= (size_t)nd * 4;
    if (klen < 1 || klen > BIN_MAX_NAME || (size_t)klen > left)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: byte %zu: expected a tensor name of 1 to %d bytes, found length %d "
                       "with %zu bytes left", fname, o, BIN_MAX_NAME, (int)klen, left);
    const char *name = (const char *)b + o;
    if (memchr(name, '\0', (size_t)klen))
        return rd_fail(err, RD_ERR_INPUT, "%s: byte %zu: tensor name contains a NUL byte", fname, o);
    char nm[200];
    tf_printable(nm, sizeof nm, name, (size_t)klen);
    o += (size_t)klen;
    left -= (size_t)klen;
    if (type != 0 && type != 1)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: tensor %s: unsupported data type %d (expected 0 = FP32 or 1 = FP16; "
                       "quantized files are not supported)", fname, nm, (int)type);
    t.dtype = type == 0 ? RD_F32 : RD_F16;
    uint64_t bytes = 0;
    if (!tf_shape_bytes(t.dtype, nd, t.shape, &t.numel, &bytes))
        return rd_fail(err, RD_ERR_INPUT, "%s: tensor %s: bad dimensions (negative or too large)",
                       fname, nm);
    if (bytes > left)
        return rd_fail(err, RD_ERR_INPUT, "%s: tensor %s: expected %llu bytes of data, found %zu",
                       fname, nm, (unsigned long long)bytes, left);
    t.data = b + o;
    RD_TRY(tf_push(f, fname, name, (size_t)klen, &t, err));
    *off = o + (size_t)bytes;
    return RD_OK;
}

static rd_status parse_bin(tf_file *f, const char *fname, rd_error *err) {
    if (f->size < 24)
        return rd_fail(err, RD_ERR_INPUT, "%s: expected a 24-byte rwkv.cpp header, found %zu bytes",
                       fname, f->size);
    for (int i = 0; i < 5; i++) f->hdr[i] = (int32_t)tf_le32(f->buf + 4 + 4 * i);
    if (f->hdr[0] != 100 && f->hdr[0] != 101)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: unsupported rwkv.cpp format version %d (expected 100 or 101)", fname,
                       (int)f->hdr[0]);
    size_t off = 24;
    while (off < f->size) RD_TRY(bin_tensor(f, fname, &off, err));
    return RD_OK;
}

/* ---- safetensors ------------------------------------------------------------ */

#define JS_MAX_DEPTH 64

/* Cursor over the JSON header; base is its offset in the file. */
typedef struct js_parser {
    const unsigned char *s;
    size_t n, pos, base;
    const char *fname;
    rd_error *err;
    char *scratch;  /* decoded strings; as long as the header */
} js_parser;

static rd_status js_fail(js_parser *p, const char *what) {
    return rd_fail(p->err, RD_ERR_INPUT, "%s: byte %zu: expected %s", p->fname, p->base + p->pos,
                   what);
}

static void js_ws(js_parser *p) {
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                             p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int js_accept(js_parser *p, char c) {
    js_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != (unsigned char)c) return 0;
    p->pos++;
    return 1;
}

static int hex4(const unsigned char *s, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int c = s[i], d = c >= '0' && c <= '9' ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return 0;
        *v = *v << 4 | (uint32_t)d;
    }
    return 1;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A \uXXXX escape at p->pos (after the backslash), with a surrogate pair. */
static rd_status js_uescape(js_parser *p, uint32_t *cp) {
    if (p->n - p->pos < 5 || !hex4(p->s + p->pos + 1, cp))
        return js_fail(p, "four hex digits after \\u");
    p->pos += 5;
    if (*cp >= 0xDC00 && *cp < 0xE000) return js_fail(p, "a high surrogate before a low one");
    if (*cp < 0xD800 || *cp >= 0xDC00) return RD_OK;
    uint32_t lo = 0;
    if (p->n - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
        !hex4(p->s + p->pos + 2, &lo) || lo < 0xDC00 || lo >= 0xE000)
        return js_fail(p, "a \\u low surrogate after a high surrogate");
    p->pos += 6;
    *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
    return RD_OK;
}

/* A string, decoded into p->scratch (NUL-terminated); *len its length. */
static rd_status js_string(js_parser *p, size_t *len, const char *what) {
    if (!js_accept(p, '"')) return js_fail(p, what);
    size_t k = 0;
    for (;;) {
        if (p->pos >= p->n) return js_fail(p, "a closing '\"'");
        unsigned char c = p->s[p->pos];
        if (c == '"') break;
        if (c < 0x20) return js_fail(p, "no control character inside a string");
        if (c != '\\') {
            p->scratch[k++] = (char)c;
            p->pos++;
            continue;
        }
        if (++p->pos >= p->n) return js_fail(p, "an escape after '\\'");
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *e = strchr(from, p->s[p->pos]);
        if (e && p->s[p->pos]) {
            p->scratch[k++] = to[e - from];
            p->pos++;
        } else if (p->s[p->pos] == 'u') {
            uint32_t cp = 0;
            RD_TRY(js_uescape(p, &cp));
            k += put_utf8(p->scratch + k, cp);
        } else {
            return js_fail(p, "one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u after '\\'");
        }
    }
    p->pos++;
    p->scratch[k] = '\0';
    *len = k;
    return RD_OK;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* Skips a number in JSON's grammar. */
static rd_status js_number(js_parser *p) {
    size_t i = p->pos;
    if (i < p->n && p->s[i] == '-') i++;
    if (i >= p->n || !is_digit(p->s[i])) return js_fail(p, "a JSON value");
    if (p->s[i] == '0') i++;
    else while (i < p->n && is_digit(p->s[i])) i++;
    if (i < p->n && p->s[i] == '.') {
        if (++i >= p->n || !is_digit(p->s[i])) { p->pos = i; return js_fail(p, "a digit after '.'"); }
        while (i < p->n && is_digit(p->s[i])) i++;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->n && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (i >= p->n || !is_digit(p->s[i])) { p->pos = i; return js_fail(p, "a digit in the exponent"); }
        while (i < p->n && is_digit(p->s[i])) i++;
    }
    p->pos = i;
    return RD_OK;
}

/* A non-negative integer below 2^63 (no fraction, no exponent). */
static rd_status js_uint(js_parser *p, int64_t *v, const char *what) {
    js_ws(p);
    size_t i = p->pos;
    if (i >= p->n || !is_digit(p->s[i])) return js_fail(p, what);
    int64_t x = 0;
    while (i < p->n && is_digit(p->s[i])) {
        int d = p->s[i] - '0';
        if (x > (INT64_MAX - d) / 10) return js_fail(p, "an integer below 2^63");
        x = x * 10 + d;
        i++;
    }
    if ((p->s[p->pos] == '0' && i - p->pos > 1) ||
        (i < p->n && (p->s[i] == '.' || p->s[i] == 'e' || p->s[i] == 'E'))) return js_fail(p, what);
    p->pos = i;
    *v = x;
    return RD_OK;
}

static rd_status js_value(js_parser *p, int depth);

/* '[' or '{' already consumed; skips the members. */
static rd_status js_container(js_parser *p, int obj, int depth) {
    char close = obj ? '}' : ']';
    if (js_accept(p, close)) return RD_OK;
    for (;;) {
        size_t len;
        if (obj) RD_TRY(js_string(p, &len, "a quoted key"));
        if (obj && !js_accept(p, ':')) return js_fail(p, "':' after a key");
        RD_TRY(js_value(p, depth + 1));
        if (js_accept(p, close)) return RD_OK;
        if (!js_accept(p, ',')) return js_fail(p, obj ? "',' or '}'" : "',' or ']'");
    }
}

/* Skips any JSON value, nested at most JS_MAX_DEPTH deep. */
static rd_status js_value(js_parser *p, int depth) {
    if (depth > JS_MAX_DEPTH) return js_fail(p, "at most 64 levels of nesting");
    js_ws(p);
    if (p->pos >= p->n) return js_fail(p, "a JSON value");
    unsigned char c = p->s[p->pos];
    size_t len;
    if (c == '"') return js_string(p, &len, "a string");
    if (c == '{' || c == '[') {
        p->pos++;
        return js_container(p, c == '{', depth);
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(words[i]);
        if (p->n - p->pos >= k && memcmp(p->s + p->pos, words[i], k) == 0) {
            p->pos += k;
            return RD_OK;
        }
    }
    return js_number(p);
}

static int st_dtype(const char *s, rd_dtype *dt) {
    static const char *const names[] = {"F32", "F16", "BF16", "F64", "I64", "I32", "U8"};
    static const rd_dtype types[] = {RD_F32, RD_F16, RD_BF16, RD_F64, RD_I64, RD_I32, RD_U8};
    for (int i = 0; i < 7; i++)
        if (strcmp(s, names[i]) == 0) {
            *dt = types[i];
            return 1;
        }
    return 0;
}

/* What one tensor entry says. */
typedef struct st_entry {
    char name[200];       /* printable, for messages */
    char dtype[16];       /* printable */
    int have_dtype, have_shape, have_offsets, ndim;
    int64_t shape[TF_MAX_DIMS], begin, end;
} st_entry;

static rd_status st_shape(js_parser *p, st_entry *e) {
    if (!js_accept(p, '[')) return js_fail(p, "'[' to open a shape");
    e->ndim = 0;
    if (js_accept(p, ']')) return RD_OK;
    for (;;) {
        int64_t d = 0;
        RD_TRY(js_uint(p, &d, "a non-negative integer dimension"));
        if (e->ndim == TF_MAX_DIMS)
            return rd_fail(p->err, RD_ERR_INPUT, "%s: tensor %s: more than %d dimensions",
                           p->fname, e->name, TF_MAX_DIMS);
        e->shape[e->ndim++] = d;
        if (js_accept(p, ']')) return RD_OK;
        if (!js_accept(p, ',')) return js_fail(p, "',' or ']' in a shape");
    }
}

static rd_status st_offsets(js_parser *p, st_entry *e) {
    if (!js_accept(p, '[')) return js_fail(p, "'[' to open data_offsets");
    RD_TRY(js_uint(p, &e->begin, "a non-negative integer offset"));
    if (!js_accept(p, ',')) return js_fail(p, "',' between the two data_offsets");
    RD_TRY(js_uint(p, &e->end, "a non-negative integer offset"));
    if (!js_accept(p, ']')) return js_fail(p, "']' after two data_offsets");
    return RD_OK;
}

/* One member of a tensor entry; unknown keys are skipped. */
static rd_status st_member(js_parser *p, st_entry *e) {
    size_t len;
    RD_TRY(js_string(p, &len, "a quoted key"));
    if (!js_accept(p, ':')) return js_fail(p, "':' after a key");
    if (strcmp(p->scratch, "dtype") == 0) {
        RD_TRY(js_string(p, &len, "a quoted dtype"));
        tf_printable(e->dtype, sizeof e->dtype, p->scratch, len);
        e->have_dtype = 1;
    } else if (strcmp(p->scratch, "shape") == 0) {
        RD_TRY(st_shape(p, e));
        e->have_shape = 1;
    } else if (strcmp(p->scratch, "data_offsets") == 0) {
        RD_TRY(st_offsets(p, e));
        e->have_offsets = 1;
    } else {
        RD_TRY(js_value(p, 2));
    }
    return RD_OK;
}

/* Checks an entry against the data section and adds it. */
static rd_status st_add(js_parser *p, tf_file *f, const st_entry *e, const char *name, size_t nlen,
                        const unsigned char *data, size_t dlen) {
    const char *fn = p->fname;
    if (!e->have_dtype || !e->have_shape || !e->have_offsets)
        return rd_fail(p->err, RD_ERR_INPUT, "%s: tensor %s: expected 'dtype', 'shape' and "
                       "'data_offsets'", fn, e->name);
    tf_tensor t;
    memset(&t, 0, sizeof t);
    if (!st_dtype(e->dtype, &t.dtype))
        return rd_fail(p->err, RD_ERR_INPUT, "%s: tensor %s: unsupported dtype '%s' (expected F32, "
                       "F16, BF16, F64, I64, I32 or U8)", fn, e->name, e->dtype);
    t.ndim = e->ndim;
    memcpy(t.shape, e->shape, sizeof t.shape);
    uint64_t bytes = 0;
    if (!tf_shape_bytes(t.dtype, t.ndim, t.shape, &t.numel, &bytes))
        return rd_fail(p->err, RD_ERR_INPUT, "%s: tensor %s: shape is too large", fn, e->name);
    if (e->begin > e->end || (uint64_t)e->end > dlen)
        return rd_fail(p->err, RD_ERR_INPUT, "%s: tensor %s: data_offsets [%lld, %lld] are outside "
                       "the %zu bytes of data", fn, e->name, (long long)e->begin,
                       (long long)e->end, dlen);
    if ((uint64_t)(e->end - e->begin) != bytes)
        return rd_fail(p->err, RD_ERR_INPUT, "%s: tensor %s: expected %llu bytes of data for its "
                       "shape, data_offsets give %lld", fn, e->name, (unsigned long long)bytes,
                       (long long)(e->end - e->begin));
    t.data = data + e->begin;
    return tf_push(f, fn, name, nlen, &t, p->err);
}

/* "name": {...} for one tensor, or "__metadata__": anything. */
static rd_status st_tensor(js_parser *p, tf_file *f, char *name, const unsigned char *data,
                           size_t dlen) {
    size_t nlen;
    RD_TRY(js_string(p, &nlen, "a quoted tensor name"));
    memcpy(name, p->scratch, nlen + 1);
    if (!js_accept(p, ':')) return js_fail(p, "':' after a tensor name");
    if (strcmp(name, "__metadata__") == 0) return js_value(p, 1);
    st_entry e;
    memset(&e, 0, sizeof e);
    tf_printable(e.name, sizeof e.name, name, nlen);
    if (!js_accept(p, '{')) return js_fail(p, "'{' to open a tensor entry");
    if (!js_accept(p, '}'))
        for (;;) {
            RD_TRY(st_member(p, &e));
            if (js_accept(p, '}')) break;
            if (!js_accept(p, ',')) return js_fail(p, "',' or '}' in a tensor entry");
        }
    return st_add(p, f, &e, name, nlen, data, dlen);
}

static rd_status st_header(js_parser *p, tf_file *f, char *name, const unsigned char *data,
                           size_t dlen) {
    if (!js_accept(p, '{')) return js_fail(p, "'{' to open the header");
    if (!js_accept(p, '}'))
        for (;;) {
            RD_TRY(st_tensor(p, f, name, data, dlen));
            if (js_accept(p, '}')) break;
            if (!js_accept(p, ',')) return js_fail(p, "',' or '}' after a tensor entry");
        }
    js_ws(p);
    if (p->pos != p->n) return js_fail(p, "only spaces after the header object");
    return RD_OK;
}

rd_status tf_parse_safetensors(tf_file *f, const char *fname, rd_error *err) {
    uint64_t hlen = tf_le64(f->buf);
    if (hlen > f->size - 8)
        return rd_fail(err, RD_ERR_INPUT, "%s: expected a header of %llu bytes, found %zu", fname,
                       (unsigned long long)hlen, f->size - 8);
    const char *h = (const char *)f->buf + 8;
    if (!rd_utf8_valid(h, (size_t)hlen))
        return rd_fail(err, RD_ERR_INPUT, "%s: the JSON header is not valid UTF-8", fname);
    char *scratch = malloc((size_t)hlen + 1), *name = malloc((size_t)hlen + 1);
    rd_status s = RD_ERR_NOMEM;
    if (!scratch || !name) {
        rd_fail(err, RD_ERR_NOMEM, "%s: out of memory for the header", fname);
    } else {
        js_parser p = {f->buf + 8, (size_t)hlen, 0, 8, fname, err, scratch};
        s = st_header(&p, f, name, f->buf + 8 + hlen, f->size - 8 - (size_t)hlen);
    }
    free(scratch);
    free(name);
    return s;
}

/* ---- detection and the file object -------------------------------------- */

static rd_status parse_any(tf_file *f, const char *fname, rd_error *err) {
    const unsigned char *b = f->buf;
    size_t n = f->size;
    if (n >= 4 && tf_le32(b) == BIN_MAGIC) {
        f->format = TF_RWKV_CPP;
        return parse_bin(f, fname, err);
    }
    if (n >= 4 && b[0] == 'P' && b[1] == 'K' &&
        ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6))) {
        f->format = TF_PTH;
        return tf_parse_pth(f, fname, err);
    }
    if (n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: a bare pickle (legacy torch.save format) is not supported: expected "
                       "the zip format of torch 1.6+", fname);
    if (n >= 9 && b[8] == '{') {
        f->format = TF_SAFETENSORS;
        return tf_parse_safetensors(f, fname, err);
    }
    return rd_fail(err, RD_ERR_INPUT,
                   "%s: unknown tensor file format: expected an rwkv.cpp .bin (magic ggmf), "
                   "safetensors (length + JSON header) or a PyTorch zip (PK)", fname);
}

static tf_file *file_new(void) {
    tf_file *f = calloc(1, sizeof *f);
    if (f) rd_arena_init(&f->names, 1 << 16);
    return f;
}

/* Parses f's buffer; frees f on failure. */
static rd_status parse_into(tf_file *f, const char *name, tf_file **out, rd_error *err) {
    rd_status s = parse_any(f, name, err);
    if (s == RD_OK) s = finish(f, name, err);
    if (s != RD_OK) {
        tf_close(f);
        return s;
    }
    *out = f;
    return RD_OK;
}

rd_status tf_parse(const void *buf, size_t n, const char *name, tf_file **out, rd_error *err) {
    *out = NULL;
    tf_file *f = file_new();
    void *copy = f ? malloc(n ? n : 1) : NULL;
    if (!copy) {
        free(f);
        return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory for %zu bytes", name, n);
    }
    if (n) memcpy(copy, buf, n);
    f->owned = copy;
    f->buf = copy;
    f->size = n;
    return parse_into(f, name, out, err);
}

rd_status tf_open(const char *path, tf_file **out, rd_error *err) {
    *out = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (m == MAP_FAILED)
            return rd_fail(err, RD_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        tf_file *f = file_new();
        if (!f) {
            munmap(m, (size_t)st.st_size);
            return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", path);
        }
        f->map = m;
        f->buf = m;
        f->size = (size_t)st.st_size;
        return parse_into(f, path, out, err);
    }
    if (fd >= 0) close(fd);
    rd_text t;
    RD_TRY(rd_text_read(path, &t, err));
    rd_status s = tf_parse(t.data, t.size, path, out, err);
    rd_text_free(&t);
    return s;
}

void tf_close(tf_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->size);
    free(f->owned);
    free(f->t);
    free(f->sorted);
    rd_arena_free(&f->names);
    free(f);
}

tf_format tf_file_format(const tf_file *f) { return f->format; }
int tf_count(const tf_file *f) { return f->n; }
const tf_tensor *tf_at(const tf_file *f, int i) { return i >= 0 && i < f->n ? &f->t[i] : NULL; }

const tf_tensor *tf_find(const tf_file *f, const char *name) {
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->sorted[mid]->name);
        if (c == 0) return f->sorted[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

void tf_rwkv_cpp_header(const tf_file *f, int32_t hdr[5]) {
    for (int i = 0; i < 5; i++) hdr[i] = f->format == TF_RWKV_CPP ? f->hdr[i] : 0;
}
