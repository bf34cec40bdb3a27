/* lmstate/state_file.c - RWKV state files (format in state_file.h), state
 * editing and measuring.
 *
 * Parsing checks, in order: magic, format version, header (sizes, dims,
 * dtype, count, kinds), that the payload size agrees with the kinds and that
 * the file has exactly the bytes the header promises, the checksum, the
 * model (when one is expected), pending tokens and text, and while decoding
 * the int8 scales. Decoding writes a fresh block that is handed out only
 * when everything passed. */
#include "lmstate/state_file.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/half.h"
#include "common/hash.h"
#include "common/safe_write.h"
#include "common/text.h"

static const char sf_magic[8] = {'R', 'W', 'K', 'V', 'S', 'T', 'A', 'T'};

#define FIXED_HEADER 68u
#define KIND_ENTRY 48u
#define MAX_LAYERS 65536
#define MAX_EMBD (1 << 20)
#define MAX_VOCAB (1 << 24)
#define MAX_KIND_SIZE (1ull << 32)
#define MAX_PAYLOAD (1ull << 62)
#define MAX_I8_SCALE 0x1.020406p+121f /* the largest scale with 127 * scale finite (FLT_MAX / 127 rounds up) */

/* "NAME: message", status RD_ERR_INPUT. */
static rd_status bad(rd_error *err, const char *name, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static rd_status bad(rd_error *err, const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rd_status st = rd_vfail_at(err, RD_ERR_INPUT, name, 0, fmt, ap);
    va_end(ap);
    return st;
}

/* ---------- little-endian fields ---------- */

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static float get_f32(const unsigned char *p) { return rd_bits_to_f32(get_u32(p)); }

static unsigned char *put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
    return p + 4;
}

static unsigned char *put_u64(unsigned char *p, uint64_t v) {
    put_u32(p, (uint32_t)v);
    return put_u32(p + 4, (uint32_t)(v >> 32));
}

static unsigned char *put_f32(unsigned char *p, float v) { return put_u32(p, rd_f32_to_bits(v)); }

uint64_t sf_checksum(const void *buf, size_t n) {
    const unsigned char *b = buf;
    return rd_fnv1a64(RD_FNV64_OFFSET, b, n);
}

/* ---------- model and layout ---------- */

size_t sf_state_size(const sf_model_info *info) {
    size_t n = 0;
    for (int k = 0; k < info->n_kinds; k++) n += (size_t)info->kind_size[k] * (size_t)info->n_layer;
    return n;
}

size_t sf_block_offset(const sf_model_info *info, int kind, int layer) {
    size_t off = 0;
    for (int k = 0; k < kind; k++) off += (size_t)info->kind_size[k] * (size_t)info->n_layer;
    return off + (size_t)layer * (size_t)info->kind_size[kind];
}

int sf_kind_index(const sf_model_info *info, const char *name) {
    for (int k = 0; k < info->n_kinds; k++)
        if (strcmp(info->kind_name[k], name) == 0) return k;
    return -1;
}

const char *sf_dtype_name(sf_dtype t) {
    switch (t) {
    case SF_F32: return "fp32";
    case SF_F16: return "fp16";
    case SF_BF16: return "bf16";
    case SF_I8: return "int8";
    }
    return "?";
}

int sf_dtype_parse(const char *s, sf_dtype *out) {
    for (int t = SF_F32; t <= SF_I8; t++)
        if (strcmp(s, sf_dtype_name((sf_dtype)t)) == 0) {
            *out = (sf_dtype)t;
            return 1;
        }
    return 0;
}

/* Appends ", WHAT A vs B" to buf when a != b. */
static void dim_diff(char *buf, size_t n, const char *what, int a, int b) {
    if (a == b) return;
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, "%s%s %d vs %d", len ? ", " : "", what, a, b);
}

static int same_kind(const sf_model_info *a, const sf_model_info *b, int k) {
    return strcmp(a->kind_name[k], b->kind_name[k]) == 0 && a->kind_size[k] == b->kind_size[k] &&
           a->kind_row[k] == b->kind_row[k] && rd_f32_to_bits(a->kind_init[k]) == rd_f32_to_bits(b->kind_init[k]);
}

rd_status sf_check_model(const sf_model_info *got, const sf_model_info *want, const char *name,
                         const char *want_name, rd_error *err) {
    const char *other = want_name ? want_name : "this model";
    char dims[256] = "";
    dim_diff(dims, sizeof dims, "rwkv version", got->rwkv_version, want->rwkv_version);
    dim_diff(dims, sizeof dims, "layers", got->n_layer, want->n_layer);
    dim_diff(dims, sizeof dims, "width", got->n_embd, want->n_embd);
    dim_diff(dims, sizeof dims, "head size", got->head_size, want->head_size);
    dim_diff(dims, sizeof dims, "vocabulary", got->n_vocab, want->n_vocab);
    if (got->fingerprint != want->fingerprint || dims[0])
        return bad(err, name, "made for another model (fingerprint 0x%016llx, %s 0x%016llx; %s)",
                   (unsigned long long)got->fingerprint, other, (unsigned long long)want->fingerprint,
                   dims[0] ? dims : "same dims, other weights");
    if (got->n_kinds != want->n_kinds)
        return bad(err, name, "%d kinds of state, %s has %d", got->n_kinds, other, want->n_kinds);
    for (int k = 0; k < got->n_kinds; k++)
        if (!same_kind(got, want, k))
            return bad(err, name,
                       "kind %d is '%s' of %llu elements in rows of %llu, initial %g; %s has '%s' of %llu in rows "
                       "of %llu, initial %g",
                       k, got->kind_name[k], (unsigned long long)got->kind_size[k],
                       (unsigned long long)got->kind_row[k], (double)got->kind_init[k], other, want->kind_name[k],
                       (unsigned long long)want->kind_size[k], (unsigned long long)want->kind_row[k],
                       (double)want->kind_init[k]);
    return RD_OK;
}

/* ---------- states in memory ---------- */

void sf_initial(const sf_model_info *info, float *state) {
    for (int k = 0; k < info->n_kinds; k++) {
        size_t n = (size_t)info->kind_size[k] * (size_t)info->n_layer;
        float *p = state + sf_block_offset(info, k, 0);
        for (size_t i = 0; i < n; i++) p[i] = info->kind_init[k];
    }
}

/* One block: n states, n pending tokens, text_len + 1 bytes of text (when
 * text is not NULL). */
static rd_status alloc_states(sf_states *s, const sf_model_info *info, int n, const char *text, size_t text_len,
                              rd_error *err) {
    memset(s, 0, sizeof *s);
    if (n < 1) return rd_fail(err, RD_ERR_USAGE, "a state file holds at least one state (asked for %d)", n);
    size_t size = sf_state_size(info);
    if (size > (SIZE_MAX / 4 - text_len - 16) / ((size_t)n + 1))
        return rd_fail(err, RD_ERR_NOMEM, "%d states of %zu elements are too large", n, size);
    size_t bytes = (size_t)n * size * sizeof(float) + (size_t)n * sizeof(int32_t) + (text ? text_len + 1 : 0);
    unsigned char *block = malloc(bytes ? bytes : 1);
    if (!block) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %d states (%zu bytes)", n, bytes);
    s->info = *info;
    s->dtype = SF_F32;
    s->n = n;
    s->block = block;
    s->data = (float *)block;
    s->pending = (int32_t *)(block + (size_t)n * size * sizeof(float));
    for (int i = 0; i < n; i++) {
        sf_initial(info, s->data + (size_t)i * size);
        s->pending[i] = 0;
    }
    if (text) {
        s->text = (char *)(s->pending + n);
        memcpy(s->text, text, text_len);
        s->text[text_len] = '\0';
    }
    return RD_OK;
}

rd_status sf_alloc(sf_states *s, const sf_model_info *info, int n, const char *text, rd_error *err) {
    return alloc_states(s, info, n, text, text ? strlen(text) : 0, err);
}

void sf_free(sf_states *s) {
    if (!s) return;
    free(s->block);
    memset(s, 0, sizeof *s);
}

/* Length of a kind name (1 to 23 of [A-Za-z0-9_] before a NUL within 24
 * bytes), or 0 when p holds none. */
static size_t kind_name_len(const unsigned char *p) {
    size_t len = 0;
    while (len < SF_KIND_NAME_MAX && p[len]) {
        unsigned char c = p[len++];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return 0;
    }
    return len < SF_KIND_NAME_MAX ? len : 0;
}

/* ---------- encoding ---------- */

static size_t elem_bytes(sf_dtype t) { return t == SF_F32 ? 4 : t == SF_I8 ? 1 : 2; }

/* Bytes of one (kind, layer) block in dtype t. */
static uint64_t block_bytes(const sf_model_info *info, int k, sf_dtype t) {
    if (t == SF_I8) return info->kind_size[k] / info->kind_row[k] * (4 + info->kind_row[k]);
    return info->kind_size[k] * elem_bytes(t);
}

/* Bytes of one state record. */
static uint64_t state_bytes(const sf_model_info *info, sf_dtype t) {
    uint64_t n = 0;
    for (int k = 0; k < info->n_kinds; k++) n += block_bytes(info, k, t) * (uint64_t)info->n_layer;
    return n;
}

/* One int8 row: scale = max |x| / 127, q = round(x / scale). */
static unsigned char *put_row_i8(unsigned char *p, const float *x, size_t n) {
    float amax = 0;
    for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    float scale = fminf(amax / 127.0f, MAX_I8_SCALE);
    p = put_f32(p, scale);
    for (size_t i = 0; i < n; i++) {
        long q = scale > 0 ? lrintf(x[i] / scale) : 0;
        q = q > 127 ? 127 : q < -127 ? -127 : q;
        *p++ = (unsigned char)(int8_t)q;
    }
    return p;
}

static unsigned char *put_elems(unsigned char *p, const float *x, size_t n, size_t row, sf_dtype t) {
    for (size_t i = 0; t == SF_I8 && i < n; i += row) p = put_row_i8(p, x + i, row);
    for (size_t i = 0; t == SF_F32 && i < n; i++) p = put_f32(p, x[i]);
    for (size_t i = 0; (t == SF_F16 || t == SF_BF16) && i < n; i++) {
        uint16_t h = t == SF_F16 ? rd_f32_to_f16(x[i]) : rd_f32_to_bf16(x[i]);
        *p++ = (unsigned char)h;
        *p++ = (unsigned char)(h >> 8);
    }
    return p;
}

static unsigned char *put_header(unsigned char *p, const sf_states *s, sf_dtype t, uint32_t text_len) {
    const sf_model_info *in = &s->info;
    memcpy(p, sf_magic, 8);
    p = put_u32(p + 8, SF_FORMAT_VERSION);
    p = put_u32(p, FIXED_HEADER + KIND_ENTRY * (uint32_t)in->n_kinds);
    p = put_u64(p, in->fingerprint);
    p = put_u64(p, state_bytes(in, t) * (uint64_t)s->n);
    const int words[] = {in->rwkv_version, in->n_layer, in->n_embd, in->head_size, in->n_vocab, in->n_kinds,
                         (int)t, s->n};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) p = put_u32(p, (uint32_t)words[i]);
    p = put_u32(p, text_len);
    for (int k = 0; k < in->n_kinds; k++) {
        memset(p, 0, SF_KIND_NAME_MAX);
        memcpy(p, in->kind_name[k], strlen(in->kind_name[k]));
        p = put_u64(p + SF_KIND_NAME_MAX, in->kind_size[k]);
        p = put_u64(p, in->kind_row[k]);
        p = put_f32(p, in->kind_init[k]);
        p = put_u32(p, 0);
    }
    return p;
}

/* What sf_encode refuses before writing anything. */
static rd_status check_encodable(const sf_states *s, sf_dtype t, rd_error *err) {
    if (t < SF_F32 || t > SF_I8) return rd_fail(err, RD_ERR_USAGE, "unknown state dtype %d", (int)t);
    if (s->n < 1 || s->info.n_kinds < 1 || s->info.n_kinds > RD_STATE_MAX_KINDS)
        return rd_fail(err, RD_ERR_USAGE, "cannot save %d states of %d kinds (expected at least 1 state, 1 to %d "
                       "kinds)", s->n, s->info.n_kinds, RD_STATE_MAX_KINDS);
    for (int k = 0; k < s->info.n_kinds; k++)
        if (s->info.kind_size[k] < 1 || s->info.kind_row[k] < 1 || s->info.kind_size[k] % s->info.kind_row[k] ||
            !kind_name_len((const unsigned char *)s->info.kind_name[k]))
            return rd_fail(err, RD_ERR_USAGE, "cannot save kind %d ('%.*s', %llu elements in rows of %llu)", k,
                           SF_KIND_NAME_MAX - 1, s->info.kind_name[k], (unsigned long long)s->info.kind_size[k],
                           (unsigned long long)s->info.kind_row[k]);
    if (s->text && strlen(s->text) > UINT32_MAX)
        return rd_fail(err, RD_ERR_USAGE, "the text of a state file is limited to 4 GB");
    for (int i = 0; i < s->n; i++)
        if (s->pending[i] < 0 || s->pending[i] >= s->info.n_vocab)
            return rd_fail(err, RD_ERR_INPUT, "state %d: pending token %d is not in the vocabulary (0..%d)", i,
                           (int)s->pending[i], s->info.n_vocab - 1);
    if (t != SF_I8) return RD_OK;
    size_t size = sf_state_size(&s->info);
    for (size_t e = 0; e < size * (size_t)s->n; e++)
        if (!isfinite(s->data[e]))
            return rd_fail(err, RD_ERR_INPUT, "state %zu holds NaN or Inf, which int8 cannot store (use fp32, fp16 "
                           "or bf16)", e / size);
    return RD_OK;
}

rd_status sf_encode(const sf_states *s, sf_dtype t, unsigned char **out, size_t *n, rd_error *err) {
    *out = NULL;
    *n = 0;
    RD_TRY(check_encodable(s, t, err));
    size_t text_len = s->text ? strlen(s->text) : 0;
    uint64_t total = FIXED_HEADER + KIND_ENTRY * (uint64_t)s->info.n_kinds + 4 * (uint64_t)s->n + text_len +
                     state_bytes(&s->info, t) * (uint64_t)s->n + 8;
    unsigned char *buf = total <= SIZE_MAX ? malloc((size_t)total) : NULL;
    if (!buf) return rd_fail(err, RD_ERR_NOMEM, "out of memory for a state file of %llu bytes",
                             (unsigned long long)total);
    unsigned char *p = put_header(buf, s, t, (uint32_t)text_len);
    for (int i = 0; i < s->n; i++) p = put_u32(p, (uint32_t)s->pending[i]);
    if (text_len) memcpy(p, s->text, text_len);
    p += text_len;
    size_t size = sf_state_size(&s->info);
    for (int i = 0; i < s->n; i++)
        for (int k = 0; k < s->info.n_kinds; k++) {
            const float *x = s->data + (size_t)i * size + sf_block_offset(&s->info, k, 0);
            p = put_elems(p, x, (size_t)s->info.kind_size[k] * (size_t)s->info.n_layer, (size_t)s->info.kind_row[k], t);
        }
    put_u64(p, sf_checksum(buf, (size_t)(p - buf)));
    *out = buf;
    *n = (size_t)total;
    return RD_OK;
}

rd_status sf_save(const char *path, const sf_states *s, sf_dtype dtype, rd_error *err) {
    unsigned char *buf;
    size_t n;
    RD_TRY(sf_encode(s, dtype, &buf, &n, err));
    rd_status st = rd_write_file(path, buf, n, err);
    free(buf);
    return st;
}

/* ---------- parsing ---------- */

typedef struct sf_header {
    sf_model_info info;
    sf_dtype dtype;
    int n;
    uint64_t header_bytes, text_bytes, payload, total;
} sf_header;

static rd_status check_range(const char *name, const char *what, uint32_t v, uint32_t lo, uint32_t hi,
                             rd_error *err) {
    if (v >= lo && v <= hi) return RD_OK;
    return bad(err, name, "%s %lu (expected %lu to %lu)", what, (unsigned long)v, (unsigned long)lo,
               (unsigned long)hi);
}

static rd_status parse_dims(const unsigned char *b, const char *name, sf_header *h, rd_error *err) {
    sf_model_info *in = &h->info;
    uint32_t ver = get_u32(b + 32), layers = get_u32(b + 36), embd = get_u32(b + 40), head = get_u32(b + 44);
    uint32_t vocab = get_u32(b + 48);
    if (ver != 4 && ver != 7) return bad(err, name, "rwkv version %lu (expected 4 or 7)", (unsigned long)ver);
    RD_TRY(check_range(name, "layers", layers, 1, MAX_LAYERS, err));
    RD_TRY(check_range(name, "width", embd, 1, MAX_EMBD, err));
    RD_TRY(check_range(name, "vocabulary", vocab, 1, MAX_VOCAB, err));
    if (ver == 4 && head != 0) return bad(err, name, "head size %lu (expected 0 for rwkv-4)", (unsigned long)head);
    if (ver == 7 && (head == 0 || embd % head != 0))
        return bad(err, name, "head size %lu (expected a divisor of the width %lu)", (unsigned long)head,
                   (unsigned long)embd);
    in->fingerprint = get_u64(b + 16);
    in->rwkv_version = (int)ver;
    in->n_layer = (int)layers;
    in->n_embd = (int)embd;
    in->head_size = (int)head;
    in->n_vocab = (int)vocab;
    return RD_OK;
}

static rd_status parse_kind(const unsigned char *p, const char *name, int k, sf_model_info *in, rd_error *err) {
    size_t len = kind_name_len(p), pad = len;
    while (len && pad < SF_KIND_NAME_MAX && !p[pad]) pad++;
    if (!len || pad < SF_KIND_NAME_MAX)
        return bad(err, name, "kind %d: expected a name of 1 to %d letters, digits or '_', NUL-padded", k,
                   SF_KIND_NAME_MAX - 1);
    memcpy(in->kind_name[k], p, SF_KIND_NAME_MAX);
    const char *kn = in->kind_name[k];
    uint64_t size = get_u64(p + 24), row = get_u64(p + 32);
    float init = get_f32(p + 40);
    for (int j = 0; j < k; j++)
        if (strcmp(in->kind_name[j], kn) == 0) return bad(err, name, "kind %d: name '%s' repeats kind %d", k, kn, j);
    if (size < 1 || size > MAX_KIND_SIZE)
        return bad(err, name, "kind %d '%s': size %llu (expected 1 to %llu elements per layer)", k, kn,
                   (unsigned long long)size, (unsigned long long)MAX_KIND_SIZE);
    if (row < 1 || size % row != 0)
        return bad(err, name, "kind %d '%s': rows of %llu elements (expected a divisor of its size %llu)", k, kn,
                   (unsigned long long)row, (unsigned long long)size);
    if (!isfinite(init)) return bad(err, name, "kind %d '%s': initial value %g (expected a finite value)", k, kn,
                                    (double)init);
    if (get_u32(p + 44) != 0) return bad(err, name, "kind %d '%s': reserved bytes are not zero", k, kn);
    in->kind_size[k] = size;
    in->kind_row[k] = row;
    in->kind_init[k] = init;
    return RD_OK;
}

/* Everything up to the payload: sizes, dims, kinds; then the file's length. */
static rd_status parse_header(const unsigned char *b, size_t n, const char *name, sf_header *h, rd_error *err) {
    memset(h, 0, sizeof *h);
    if (n < 8 || memcmp(b, sf_magic, 8) != 0)
        return bad(err, name, "not a state file (bad magic: expected \"RWKVSTAT\" at the start)");
    if (n < 12) return bad(err, name, "truncated: %zu bytes, the header alone has %u", n, FIXED_HEADER);
    uint32_t version = get_u32(b + 8);
    if (version != SF_FORMAT_VERSION)
        return bad(err, name, "format version %lu, this program reads %d", (unsigned long)version, SF_FORMAT_VERSION);
    if (n < FIXED_HEADER) return bad(err, name, "truncated: %zu bytes, the header alone has %u", n, FIXED_HEADER);
    RD_TRY(parse_dims(b, name, h, err));
    uint32_t n_kinds = get_u32(b + 52), dtype = get_u32(b + 56), count = get_u32(b + 60);
    RD_TRY(check_range(name, "kinds of state", n_kinds, 1, RD_STATE_MAX_KINDS, err));
    h->header_bytes = get_u32(b + 12);
    if (h->header_bytes != FIXED_HEADER + KIND_ENTRY * n_kinds)
        return bad(err, name, "header of %llu bytes (expected %u for %lu kinds)", (unsigned long long)h->header_bytes,
                   FIXED_HEADER + KIND_ENTRY * n_kinds, (unsigned long)n_kinds);
    if (dtype > SF_I8)
        return bad(err, name, "unknown storage dtype %lu (expected 0 fp32, 1 fp16, 2 bf16 or 3 int8)",
                   (unsigned long)dtype);
    if (count == 0) return bad(err, name, "holds no states (n = 0, expected at least 1)");
    RD_TRY(check_range(name, "states", count, 1, INT32_MAX, err));
    if (n < h->header_bytes)
        return bad(err, name, "truncated: %zu bytes, the header alone has %llu", n, (unsigned long long)h->header_bytes);
    h->info.n_kinds = (int)n_kinds;
    for (int k = 0; k < (int)n_kinds; k++) RD_TRY(parse_kind(b + FIXED_HEADER + KIND_ENTRY * k, name, k, &h->info, err));
    h->dtype = (sf_dtype)dtype;
    h->n = (int)count;
    h->text_bytes = get_u32(b + 64);
    h->payload = get_u64(b + 24);
    uint64_t per_state = state_bytes(&h->info, h->dtype); /* <= 5 * 2^16 * 2^34: no overflow */
    if (per_state > MAX_PAYLOAD / count)
        return bad(err, name, "%d states of %llu bytes are too large", h->n, (unsigned long long)per_state);
    if (h->payload != per_state * count)
        return bad(err, name, "the header says %llu bytes of states; %d %s states of its kinds and layers make %llu",
                   (unsigned long long)h->payload, h->n, sf_dtype_name(h->dtype),
                   (unsigned long long)(per_state * count));
    h->total = h->header_bytes + 4ull * count + h->text_bytes + h->payload + 8;
    if (n < h->total)
        return bad(err, name, "truncated: the header says the file has %llu bytes (%llu bytes of states), it has %zu",
                   (unsigned long long)h->total, (unsigned long long)h->payload, n);
    if (n > h->total)
        return bad(err, name, "%llu trailing bytes after the checksum (expected %llu bytes in all)",
                   (unsigned long long)(n - h->total), (unsigned long long)h->total);
    return RD_OK;
}

/* Pending tokens and text, after the checksum passed. */
static rd_status check_tokens_text(const unsigned char *b, const char *name, const sf_header *h, rd_error *err) {
    const unsigned char *p = b + h->header_bytes;
    for (int i = 0; i < h->n; i++) {
        int32_t t = (int32_t)get_u32(p + 4 * (size_t)i);
        if (t < 0 || t >= h->info.n_vocab)
            return bad(err, name, "state %d: pending token %ld is out of range (expected 0 to %d)", i, (long)t,
                       h->info.n_vocab - 1);
    }
    const unsigned char *text = p + 4 * (size_t)h->n, *nul = memchr(text, 0, (size_t)h->text_bytes);
    if (nul) return bad(err, name, "the text holds a NUL byte at offset %zu", (size_t)(nul - text));
    return RD_OK;
}

/* Where a block being decoded sits, for messages. */
typedef struct block_at {
    const char *name, *kind;
    int state, layer;
} block_at;

/* Decodes n elements (rows of row for int8) into x; *pp advances. */
static rd_status get_elems(const unsigned char **pp, float *x, size_t n, size_t row, sf_dtype t,
                           const block_at *at, rd_error *err) {
    const unsigned char *p = *pp;
    if (t == SF_F32)
        for (size_t i = 0; i < n; i++, p += 4) x[i] = get_f32(p);
    else if (t == SF_F16 || t == SF_BF16)
        for (size_t i = 0; i < n; i++, p += 2) {
            uint16_t v = (uint16_t)(p[0] | p[1] << 8);
            x[i] = t == SF_F16 ? rd_f16_to_f32(v) : rd_bf16_to_f32(v);
        }
    else
        for (size_t r = 0; r < n; r += row) {
            float scale = get_f32(p);
            if (!(scale >= 0 && scale <= MAX_I8_SCALE))
                return bad(err, at->name, "state %d, kind '%s', layer %d, row %zu: int8 scale %g (expected 0 to %g)",
                           at->state, at->kind, at->layer, r / row, (double)scale, (double)MAX_I8_SCALE);
            for (size_t i = 0; i < row; i++) {
                if (p[4 + i] == 0x80) /* -128: q * scale could overflow, and the writer never makes it */
                    return bad(err, at->name, "state %d, kind '%s', layer %d, row %zu: int8 value -128 (expected -127 "
                               "to 127)", at->state, at->kind, at->layer, r / row);
                x[r + i] = (float)(int8_t)p[4 + i] * scale;
            }
            p += 4 + row;
        }
    *pp = p;
    return RD_OK;
}

rd_status sf_parse(const void *buf, size_t n, const char *name, const sf_model_info *expect, sf_states *out,
                   rd_error *err) {
    memset(out, 0, sizeof *out);
    const unsigned char *b = buf;
    sf_header h;
    RD_TRY(parse_header(b, n, name, &h, err));
    uint64_t stored = get_u64(b + h.total - 8), computed = sf_checksum(b, (size_t)h.total - 8);
    if (stored != computed)
        return bad(err, name, "checksum mismatch (file corrupt): stored 0x%016llx, computed 0x%016llx",
                   (unsigned long long)stored, (unsigned long long)computed);
    if (expect) RD_TRY(sf_check_model(&h.info, expect, name, NULL, err));
    RD_TRY(check_tokens_text(b, name, &h, err));
    const unsigned char *p = b + h.header_bytes;
    sf_states s;
    rd_status st = alloc_states(&s, &h.info, h.n, h.text_bytes ? (const char *)p + 4 * (size_t)h.n : NULL,
                                (size_t)h.text_bytes, err);
    if (st != RD_OK) {
        rd_error_prefix(err, name);
        return st;
    }
    s.dtype = h.dtype;
    for (int i = 0; i < h.n; i++) s.pending[i] = (int32_t)get_u32(p + 4 * (size_t)i);
    p += 4 * (size_t)h.n + h.text_bytes;
    size_t size = sf_state_size(&h.info);
    for (int i = 0; i < h.n && st == RD_OK; i++)
        for (int k = 0; k < h.info.n_kinds && st == RD_OK; k++)
            for (int l = 0; l < h.info.n_layer && st == RD_OK; l++) {
                block_at at = {name, h.info.kind_name[k], i, l};
                st = get_elems(&p, s.data + (size_t)i * size + sf_block_offset(&h.info, k, l),
                               (size_t)h.info.kind_size[k], (size_t)h.info.kind_row[k], h.dtype, &at, err);
            }
    if (st != RD_OK) {
        sf_free(&s);
        return st;
    }
    *out = s;
    return RD_OK;
}

rd_status sf_load(const char *path, const sf_model_info *expect, sf_states *out, rd_error *err) {
    memset(out, 0, sizeof *out);
    rd_text t;
    RD_TRY(rd_text_read(path, &t, err));
    rd_status st = sf_parse(t.data, t.size, path, expect, out, err);
    rd_text_free(&t);
    return st;
}

/* ---------- editing ---------- */

size_t sf_blend(const sf_model_info *info, const float *a, const float *b, const float *w, float *out) {
    size_t bad = 0;
    for (int k = 0; k < info->n_kinds; k++) {
        size_t off = sf_block_offset(info, k, 0), n = (size_t)info->kind_size[k] * (size_t)info->n_layer;
        float wk = w[k];
        for (size_t i = off; i < off + n; i++) {
            out[i] = a[i] * (1.0f - wk) + b[i] * wk;
            bad += !isfinite(out[i]);
        }
    }
    return bad;
}

void sf_decay(const sf_model_info *info, float *state, float factor) {
    for (int k = 0; k < info->n_kinds; k++) {
        size_t off = sf_block_offset(info, k, 0), n = (size_t)info->kind_size[k] * (size_t)info->n_layer;
        float init = info->kind_init[k];
        for (size_t i = off; i < off + n; i++) state[i] = state[i] * factor + init * (1.0f - factor);
    }
}

void sf_reset(const sf_model_info *info, float *state, const unsigned char *layers, unsigned kinds) {
    for (int k = 0; k < info->n_kinds; k++) {
        if (!(kinds >> k & 1u)) continue;
        for (int l = 0; l < info->n_layer; l++) {
            if (layers && !layers[l]) continue;
            float *p = state + sf_block_offset(info, k, l);
            for (uint64_t i = 0; i < info->kind_size[k]; i++) p[i] = info->kind_init[k];
        }
    }
}

/* ---------- measuring ---------- */

/* Walks the (kind, layer) blocks that kind and layer (-1 = all) select. */
typedef struct block_iter {
    const sf_model_info *info;
    int kind, layer, k, l;
} block_iter;

static block_iter blocks(const sf_model_info *info, int kind, int layer) {
    return (block_iter){info, kind, layer, 0, -1};
}

static int next_block(block_iter *it, size_t *off, size_t *n) {
    for (;;) {
        if (++it->l >= it->info->n_layer) {
            it->l = 0;
            it->k++;
        }
        if (it->k >= it->info->n_kinds) return 0;
        if ((it->kind < 0 || it->k == it->kind) && (it->layer < 0 || it->l == it->layer)) break;
    }
    *off = sf_block_offset(it->info, it->k, it->l);
    *n = (size_t)it->info->kind_size[it->k];
    return 1;
}

void sf_stats_of(const sf_model_info *info, const float *state, int kind, int layer, sf_stats *out) {
    memset(out, 0, sizeof *out);
    double sum = 0, sq = 0;
    float lo = INFINITY, hi = -INFINITY;
    size_t finite = 0, off, n;
    block_iter it = blocks(info, kind, layer);
    while (next_block(&it, &off, &n)) {
        out->n += n;
        for (size_t i = off; i < off + n; i++) {
            float x = state[i];
            if (isnan(x)) out->nan++;
            else if (isinf(x)) out->inf++;
            if (!isfinite(x)) continue;
            finite++;
            lo = fminf(lo, x);
            hi = fmaxf(hi, x);
            sum += x;
            sq += (double)x * x;
        }
    }
    out->min = finite ? lo : NAN;
    out->max = finite ? hi : NAN;
    out->mean = finite ? sum / (double)finite : NAN;
    out->l2 = finite ? sqrt(sq) : NAN;
}

void sf_distance_of(const sf_model_info *info, const float *a, const float *b, int kind, int layer,
                    sf_distance *out) {
    double d2 = 0, dot = 0, na = 0, nb = 0;
    size_t off, n;
    block_iter it = blocks(info, kind, layer);
    while (next_block(&it, &off, &n))
        for (size_t i = off; i < off + n; i++) {
            double x = a[i], y = b[i];
            d2 += (x - y) * (x - y);
            dot += x * y;
            na += x * x;
            nb += y * y;
        }
    out->l2 = sqrt(d2);
    if (isnan(dot) || isnan(na) || isnan(nb) || isinf(na) || isinf(nb)) out->cosine = NAN;
    else if (na == 0 && nb == 0) out->cosine = 1;
    else if (na == 0 || nb == 0) out->cosine = 0;
    else out->cosine = dot / (sqrt(na) * sqrt(nb));
}
