/* lmstate/rwkv/rwkv_tokenizer.c - byte-level and World tokenizers (see the header).
 *
 * Tokens live in a byte trie: node 0 is the root, its children are in a
 * direct table of 256, and every other edge (parent node, byte) -> child is
 * in one open-addressing hash table keyed by parent * 256 + byte. Each node
 * holds the id of the token that ends there, or -1. Parsing counts lines
 * first and allocates once; the token bytes stay in one pool. */
#include "lmstate/rwkv/rwkv_tokenizer.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"

#define MAX_TRIE_BYTES ((1u << 24) - 2)  /* nodes must fit in 24 bits of a key */

typedef struct tok_edge {
    uint32_t key;    /* parent * 256 + byte */
    uint32_t child;  /* 0 = empty slot */
} tok_edge;

struct rwkv_tokenizer {
    int is_bytes;
    int32_t vocab_size;
    uint8_t *pool;                /* all token bytes */
    uint32_t *tok_off, *tok_len;  /* [vocab_size]; tok_len 0 = no token */
    int32_t *node_token;          /* [n_nodes]; -1 = no token ends here */
    uint32_t n_nodes;
    uint32_t root_child[256];     /* 0 = none */
    tok_edge *edges;
    uint32_t hash_mask;
    int hash_shift;
};

typedef struct vocab_entry {
    int32_t id;
    uint32_t off, len;   /* bytes in the pool */
    long line;
} vocab_entry;

/* Where a line error happens, for "name:line: expected ..." messages. */
typedef struct line_ctx {
    const char *name;
    long line;
    rd_error *err;
} line_ctx;

static rd_status bad_line(const line_ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static rd_status bad_line(const line_ctx *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rd_status st = rd_vfail_at(c->err, RD_ERR_INPUT, c->name, c->line, fmt, ap);
    va_end(ap);
    return st;
}

/* ---------- the trie ---------- */

static uint32_t edge_slot(const rwkv_tokenizer *t, uint32_t key) {
    uint32_t h = (key * 2654435761u) >> t->hash_shift;
    while (t->edges[h].child && t->edges[h].key != key) h = (h + 1) & t->hash_mask;
    return h;
}

static uint32_t child_of(const rwkv_tokenizer *t, uint32_t node, uint8_t byte) {
    if (node == 0) return t->root_child[byte];
    return t->edges[edge_slot(t, node * 256u + byte)].child;
}

/* Adds the edge node -byte-> a new node, returns the new node. */
static uint32_t add_child(rwkv_tokenizer *t, uint32_t node, uint8_t byte) {
    uint32_t child = t->n_nodes++;
    t->node_token[child] = -1;
    if (node == 0) {
        t->root_child[byte] = child;
    } else {
        uint32_t s = edge_slot(t, node * 256u + byte);
        t->edges[s].key = node * 256u + byte;
        t->edges[s].child = child;
    }
    return child;
}

/* Allocates the trie for at most total_bytes edges. */
static int trie_alloc(rwkv_tokenizer *t, size_t total_bytes) {
    int bits = 4;
    while (((size_t)1 << bits) < 2 * total_bytes) bits++;
    t->hash_mask = (1u << bits) - 1;
    t->hash_shift = 32 - bits;
    t->edges = calloc((size_t)1 << bits, sizeof *t->edges);
    t->node_token = malloc((total_bytes + 1) * sizeof *t->node_token);
    if (!t->edges || !t->node_token) return 0;
    t->n_nodes = 1;
    t->node_token[0] = -1;
    return 1;
}

/* Inserts token id with bytes s[0..n); returns the id already ending at that
 * node (a duplicate), or -1. */
static int32_t trie_insert(rwkv_tokenizer *t, const uint8_t *s, uint32_t n, int32_t id) {
    uint32_t node = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = child_of(t, node, s[i]);
        node = c ? c : add_child(t, node, s[i]);
    }
    if (t->node_token[node] >= 0) return t->node_token[node];
    t->node_token[node] = id;
    return -1;
}

/* ---------- building ---------- */

void rwkv_tok_free(rwkv_tokenizer *tok) {
    if (!tok) return;
    free(tok->pool);
    free(tok->tok_off);
    free(tok->tok_len);
    free(tok->node_token);
    free(tok->edges);
    free(tok);
}

/* The line of the first of entries e[0..i) with this id (0 if none). */
static long first_line_of(const vocab_entry *e, size_t i, int32_t id) {
    for (size_t j = 0; j < i; j++)
        if (e[j].id == id) return e[j].line;
    return 0;
}

/* Indexes the entries by id (checking ids are unique) into t. */
static rd_status index_ids(rwkv_tokenizer *t, const vocab_entry *e, size_t n, const char *name,
                           rd_error *err) {
    int32_t max_id = 0;
    for (size_t i = 0; i < n; i++) max_id = e[i].id > max_id ? e[i].id : max_id;
    t->vocab_size = max_id + 1;
    t->tok_off = calloc((size_t)t->vocab_size, sizeof *t->tok_off);
    t->tok_len = calloc((size_t)t->vocab_size, sizeof *t->tok_len);
    if (!t->tok_off || !t->tok_len) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", name);
    for (size_t i = 0; i < n; i++) {
        if (t->tok_len[e[i].id]) {
            line_ctx c = {name, e[i].line, err};
            return bad_line(&c, "expected a new token id, found %d again (first on line %ld)",
                            (int)e[i].id, first_line_of(e, i, e[i].id));
        }
        t->tok_off[e[i].id] = e[i].off;
        t->tok_len[e[i].id] = e[i].len;
    }
    return RD_OK;
}

/* Builds the tokenizer from entries whose bytes are in pool (taken over:
 * freed by the tokenizer, also on failure). */
static rd_status build(uint8_t *pool, const vocab_entry *e, size_t n, const char *name,
                       rwkv_tokenizer **out, rd_error *err) {
    *out = NULL;
    rwkv_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        free(pool);
        return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", name);
    }
    t->pool = pool;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += e[i].len;
    rd_status st = RD_OK;
    if (total > MAX_TRIE_BYTES)
        st = rd_fail(err, RD_ERR_INPUT, "%s: expected at most %u token bytes in all, found %zu", name,
                     MAX_TRIE_BYTES, total);
    if (st == RD_OK) st = index_ids(t, e, n, name, err);
    if (st == RD_OK && !trie_alloc(t, total)) st = rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", name);
    for (size_t i = 0; st == RD_OK && i < n; i++) {
        int32_t dup = trie_insert(t, pool + e[i].off, e[i].len, e[i].id);
        if (dup >= 0) {
            line_ctx c = {name, e[i].line, err};
            st = bad_line(&c, "expected distinct token bytes, found the bytes of token %d (line %ld) again",
                          (int)dup, first_line_of(e, i, dup));
        }
    }
    if (st != RD_OK) {
        rwkv_tok_free(t);
        return st;
    }
    *out = t;
    return RD_OK;
}

rd_status rwkv_tok_create_bytes(rwkv_tokenizer **out, rd_error *err) {
    *out = NULL;
    uint8_t *pool = malloc(256);
    vocab_entry e[256];
    if (!pool) return rd_fail(err, RD_ERR_NOMEM, "byte tokenizer: out of memory");
    for (int i = 0; i < 256; i++) {
        pool[i] = (uint8_t)i;
        e[i] = (vocab_entry){.id = i, .off = (uint32_t)i, .len = 1, .line = 0};
    }
    RD_TRY(build(pool, e, 256, "byte tokenizer", out, err));
    (*out)->is_bytes = 1;
    return RD_OK;
}

/* ---------- the vocab file ---------- */

static void put_utf8(uint32_t cp, uint8_t *dst, size_t *n) {
    if (cp < 0x80) {
        dst[(*n)++] = (uint8_t)cp;
    } else if (cp < 0x800) {
        dst[(*n)++] = (uint8_t)(0xc0 | (cp >> 6));
        dst[(*n)++] = (uint8_t)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        dst[(*n)++] = (uint8_t)(0xe0 | (cp >> 12));
        dst[(*n)++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        dst[(*n)++] = (uint8_t)(0x80 | (cp & 0x3f));
    } else {
        dst[(*n)++] = (uint8_t)(0xf0 | (cp >> 18));
        dst[(*n)++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        dst[(*n)++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        dst[(*n)++] = (uint8_t)(0x80 | (cp & 0x3f));
    }
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads exactly digits hex digits at s[*i..n) into *v. */
static int read_hex(const char *s, size_t n, size_t *i, int digits, uint32_t *v) {
    *v = 0;
    for (int k = 0; k < digits; k++) {
        int h = *i < n ? hex_value(s[*i]) : -1;
        if (h < 0) return 0;
        *v = *v * 16 + (uint32_t)h;
        (*i)++;
    }
    return 1;
}

static int simple_escape(char c) {
    switch (c) {
    case '\\': return '\\';
    case '\'': return '\'';
    case '"': return '"';
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    case 'a': return '\a';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'v': return '\v';
    }
    return -1;
}

/* Reads the \u / \U escape whose letter is at s[*i]; sets *cp. */
static rd_status unicode_escape(const line_ctx *c, const char *s, size_t n, size_t *i, uint32_t *cp) {
    int wide = s[(*i)++] == 'U';
    if (!read_hex(s, n, i, wide ? 8 : 4, cp))
        return bad_line(c, wide ? "expected eight hex digits after \\U" : "expected four hex digits after \\u");
    if (*cp > 0x10ffff) return bad_line(c, "expected a code point up to \\U0010ffff, found \\U%08x", (unsigned)*cp);
    if (*cp >= 0xd800 && *cp <= 0xdfff)
        return bad_line(c, "expected a code point outside the surrogates, found \\u%04x", (unsigned)*cp);
    return RD_OK;
}

/* Decodes the escape after a backslash at s[*i] (the character after the
 * backslash), appending its bytes to dst. */
static rd_status escape(const line_ctx *c, const char *s, size_t n, size_t *i, int bytes, uint8_t *dst,
                        size_t *dn) {
    char e = s[*i];
    uint32_t v = 0;
    int simple = simple_escape(e);
    if (simple >= 0) {
        (*i)++;
        v = (uint32_t)simple;
    } else if (e >= '0' && e <= '7') {
        for (int k = 0; k < 3 && *i < n && s[*i] >= '0' && s[*i] <= '7'; k++) v = v * 8 + (uint32_t)(s[(*i)++] - '0');
        if (bytes && v > 0xff) return bad_line(c, "expected an octal escape up to \\377 in a bytes literal");
    } else if (e == 'x') {
        (*i)++;
        if (!read_hex(s, n, i, 2, &v)) return bad_line(c, "expected two hex digits after \\x");
    } else if (!bytes && (e == 'u' || e == 'U')) {
        RD_TRY(unicode_escape(c, s, n, i, &v));
    } else if (e > ' ' && e < 0x7f) {
        return bad_line(c, "expected a known escape, found \\%c", e);
    } else {
        return bad_line(c, "expected a known escape, found byte 0x%02x after a backslash", (unsigned)(uint8_t)e);
    }
    if (bytes) dst[(*dn)++] = (uint8_t)v;
    else put_utf8(v, dst, dn);
    return RD_OK;
}

/* Checks the raw characters of a literal body: UTF-8 for str (ASCII for
 * bytes), no control characters but tab. */
static rd_status check_raw(const line_ctx *c, const char *s, size_t n, int bytes) {
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        if ((b < 0x20 && b != '\t') || b == 0x7f)
            return bad_line(c, "expected an escape for control character 0x%02x", (unsigned)b);
        if (bytes && b >= 0x80) return bad_line(c, "expected only ascii characters in a bytes literal");
    }
    if (!bytes && !rd_utf8_valid(s, n)) return bad_line(c, "expected valid utf-8 in a string literal");
    return RD_OK;
}

/* Decodes the Python literal s[0..n) into dst (room for n bytes). */
static rd_status parse_literal(const line_ctx *c, const char *s, size_t n, uint8_t *dst, size_t *dn) {
    size_t i = 0;
    int bytes = n > 0 && s[0] == 'b';
    i += (size_t)bytes;
    if (i >= n || (s[i] != '\'' && s[i] != '"'))
        return bad_line(c, "expected a python string or bytes literal ('...', \"...\" or b'...')");
    char quote = s[i++];
    RD_TRY(check_raw(c, s + i, n - i, bytes));
    *dn = 0;
    while (i < n && s[i] != quote) {
        if (s[i] != '\\') {
            dst[(*dn)++] = (uint8_t)s[i++];
            continue;
        }
        if (++i >= n) break;
        RD_TRY(escape(c, s, n, &i, bytes, dst, dn));
    }
    if (i >= n) return bad_line(c, "expected a closing %c quote", quote);
    if (i + 1 != n) return bad_line(c, "expected the end of the literal after its closing quote");
    return RD_OK;
}

/* Parses one line "id literal byte_length" into e, its bytes at pool + *used. */
static rd_status parse_line(const line_ctx *c, const char *s, size_t n, uint8_t *pool, size_t *used,
                            vocab_entry *e) {
    const char *sp1 = memchr(s, ' ', n);
    const char *sp2 = s + n;
    while (sp2 > s && sp2[-1] != ' ') sp2--;
    if (!sp1 || sp2 - 1 == sp1) return bad_line(c, "expected 'id literal byte_length'");
    sp2--;
    long id, len;
    size_t idn = (size_t)(sp1 - s), lenn = (size_t)(s + n - sp2 - 1);
    if (!rd_parse_long(s, idn, &id) || id < 0 || id > RWKV_TOK_MAX_ID)
        return bad_line(c, "expected a token id from 0 to %d, found '%.*s'", RWKV_TOK_MAX_ID,
                        (int)(idn > 40 ? 40 : idn), s);
    if (!rd_parse_long(sp2 + 1, lenn, &len) || len < 0 || len > RWKV_TOK_MAX_BYTES)
        return bad_line(c, "expected a byte length from 0 to %d, found '%.*s'", RWKV_TOK_MAX_BYTES,
                        (int)(lenn > 40 ? 40 : lenn), sp2 + 1);
    size_t dn = 0;
    RD_TRY(parse_literal(c, sp1 + 1, (size_t)(sp2 - sp1 - 1), pool + *used, &dn));
    if (dn != (size_t)len) return bad_line(c, "expected a byte length of %ld, found %zu", len, dn);
    if (dn == 0) return bad_line(c, "expected a non-empty token");
    *e = (vocab_entry){.id = (int32_t)id, .off = (uint32_t)*used, .len = (uint32_t)dn, .line = c->line};
    *used += dn;
    return RD_OK;
}

static size_t count_lines(const char *buf, size_t n) {
    size_t lines = 1;
    if (n == 0) return lines;
    for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))) != NULL; p++) lines++;
    return lines;
}

rd_status rwkv_tok_parse_world(const char *buf, size_t n, const char *name, rwkv_tokenizer **out,
                               rd_error *err) {
    *out = NULL;
    if (n >= UINT32_MAX) return rd_fail(err, RD_ERR_INPUT, "%s: expected a vocabulary under 4 GiB", name);
    vocab_entry *e = malloc(count_lines(buf, n) * sizeof *e);
    uint8_t *pool = malloc(n + 1);
    if (!e || !pool) {
        free(e);
        free(pool);
        return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", name);
    }
    rd_line_iter it;
    rd_line_iter_init(&it, buf, n);
    const char *line;
    size_t len, used = 0, count = 0;
    rd_status st = RD_OK;
    while (st == RD_OK && rd_line_next(&it, &line, &len)) {
        line_ctx c = {name, it.lineno, err};
        st = parse_line(&c, line, len, pool, &used, &e[count]);
        count += st == RD_OK;
    }
    if (st == RD_OK && count == 0) st = rd_fail(err, RD_ERR_INPUT, "%s: expected at least one token", name);
    if (st == RD_OK) st = build(pool, e, count, name, out, err);
    else free(pool);
    free(e);
    return st;
}

rd_status rwkv_tok_load_world(const char *path, rwkv_tokenizer **out, rd_error *err) {
    *out = NULL;
    rd_text text;
    RD_TRY(rd_text_read(path, &text, err));
    rd_status st = rwkv_tok_parse_world(text.data, text.size, path, out, err);
    rd_text_free(&text);
    return st;
}

/* ---------- queries, encode, decode ---------- */

int rwkv_tok_vocab_size(const rwkv_tokenizer *tok) { return tok->vocab_size; }

rd_status rwkv_tok_check_model(const rwkv_tokenizer *tok, int n_vocab, const char *model, rd_error *err) {
    if (n_vocab >= tok->vocab_size) return RD_OK;
    return rd_fail(err, RD_ERR_INPUT,
                   "%s: the model has %d vocabulary rows but its tokenizer (%s) emits ids up to %d: expected at least "
                   "%d rows", model, n_vocab, tok->is_bytes ? "bytes" : "World vocabulary", tok->vocab_size - 1,
                   tok->vocab_size);
}

int rwkv_tok_is_bytes(const rwkv_tokenizer *tok) { return tok->is_bytes; }

const uint8_t *rwkv_tok_token_bytes(const rwkv_tokenizer *tok, int32_t id, size_t *len) {
    int ok = id >= 0 && id < tok->vocab_size && tok->tok_len[id] > 0;
    if (len) *len = ok ? tok->tok_len[id] : 0;
    return ok ? tok->pool + tok->tok_off[id] : NULL;
}

/* The longest token starting at s[pos] (pos < len): its id, or -1; *end is
 * set past its last byte. */
static int32_t longest_match(const rwkv_tokenizer *t, const uint8_t *s, size_t len, size_t pos, size_t *end) {
    int32_t best = -1;
    uint32_t node = t->root_child[s[pos]];
    size_t p = pos + 1;
    while (node) {
        if (t->node_token[node] >= 0) {
            best = t->node_token[node];
            *end = p;
        }
        if (p == len) break;
        node = child_of(t, node, s[p++]);
    }
    return best;
}

int rwkv_tok_encode(const rwkv_tokenizer *tok, const void *bytes, size_t len, int32_t *out, int max_out) {
    if (len > (size_t)INT_MAX) return INT_MIN;
    const uint8_t *s = bytes;
    int count = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        int32_t id = longest_match(tok, s, len, pos, &end);
        if (id < 0) return -(int)pos - 1;
        if (count < max_out) out[count] = id;
        count++;
        pos = end;
    }
    return count;
}

rd_status rwkv_tok_decode(const rwkv_tokenizer *tok, const int32_t *ids, int n, char *out, size_t cap,
                          size_t *out_len, rd_error *err) {
    size_t total = 0;
    *out_len = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok->vocab_size)
            return rd_fail(err, RD_ERR_INPUT, "token id %d (at index %d) is outside the vocabulary (0 to %d)",
                           (int)ids[i], i, (int)tok->vocab_size - 1);
        size_t k = tok->tok_len[ids[i]];
        if (total < cap) memcpy(out + total, tok->pool + tok->tok_off[ids[i]], k < cap - total ? k : cap - total);
        total += k;
    }
    *out_len = total;
    return RD_OK;
}
