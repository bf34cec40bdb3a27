/* lmstate/arpa.c - ARPA n-gram models with KenLM's semantics (see arpa.h).
 *
 * Layout: unigrams are arrays indexed by word id (<unk> is id 0, the other
 * words follow in file order, as in KenLM); each higher order is one probing
 * hash table (open addressing, linear probing) of {key, prob, backoff}, keyed
 * by a 64-bit hash of the n-gram's word ids taken most recent word first, so
 * that a query extends one hash chain into the context. Only the hash is
 * stored (as KenLM does). The vocabulary is a probing table over string
 * hashes; the strings live in one buffer.
 *
 * As in KenLM, an n-gram whose suffixes are missing (SRILM pruning) gets
 * "blank" entries for those suffixes, holding the backed-off probability, so
 * a query walks up the orders and stops at the first missing one. A context
 * stays in a state only when it can matter: a non-zero backoff, or some
 * longer n-gram extends it. That flag rides on the sign of a zero backoff
 * (+0.0: extended, -0.0: not), KenLM's encoding. All values are natural log,
 * converted from the file's log10 at load. */
#include "lmstate/arpa.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/text.h"

#define ARPA_LN10 2.30258509299404568402
#define UNK_MISSING_LOG10 (-100.0)
#define FIELDS_MAX (ARPA_MAX_ORDER + 2)

__extension__ typedef unsigned __int128 arpa_u128;

typedef struct ngram_entry {
    uint64_t key; /* 0 = empty bucket */
    float prob;   /* ln */
    float backoff; /* ln; a zero's sign bit: -0.0 = not extended */
} ngram_entry;

typedef struct ngram_table {
    ngram_entry *e;
    size_t cap, used;
} ngram_table;

typedef struct vocab_bucket {
    uint64_t hash; /* 0 = empty */
    size_t off;    /* the text in strings, so a lookup touches no other array */
    int32_t id;
    uint32_t len;
} vocab_bucket;

struct arpa_model {
    int order;
    long counts[ARPA_MAX_ORDER + 1]; /* [1..order], as \data\ declares */
    int32_t n_words, unk, bos, eos;
    float *uni_prob, *uni_backoff;   /* [n_words], ln */
    size_t *word_off;                /* [n_words] into strings */
    char *strings;
    size_t strings_len, strings_cap;
    vocab_bucket *vocab;
    size_t vocab_cap;                /* power of two */
    ngram_table tables[ARPA_MAX_ORDER + 1]; /* [2..order] */
};

/* ---------- hashing ---------- */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t nonzero(uint64_t h) { return h ? h : 1; }

/* Key of the one-word sequence w; key_extend appends an older word. */
static uint64_t key_first(int32_t w) { return nonzero(mix64((uint64_t)(uint32_t)w + 0x9e3779b97f4a7c15ull)); }
static uint64_t key_extend(uint64_t h, int32_t w) {
    return nonzero(mix64((h * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uint32_t)w));
}

static uint64_t hash_text(const char *s, size_t n) {
    uint64_t h = 0x243f6a8885a308d3ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = mix64(h ^ v);
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, n);
    return nonzero(mix64(h ^ v ^ 0x5851f42d4c957f2dull));
}

static size_t bucket_of(uint64_t key, size_t cap) { return (size_t)(((arpa_u128)key * cap) >> 64); }

/* ---------- backoff flags ---------- */

static int keeps_state(float backoff) { return !(backoff == 0.0f && signbit(backoff)); }
static void set_extended(float *backoff) {
    if (*backoff == 0.0f) *backoff = 0.0f;
}

/* ---------- n-gram tables ---------- */

static ngram_entry *table_find(const ngram_table *t, uint64_t key) {
    size_t i = bucket_of(key, t->cap);
    for (;;) {
        ngram_entry *e = &t->e[i];
        if (e->key == key) return e;
        if (e->key == 0) return NULL;
        if (++i == t->cap) i = 0;
    }
}

/* Inserts a key known to be absent. */
static void table_put(ngram_table *t, ngram_entry v) {
    size_t i = bucket_of(v.key, t->cap);
    while (t->e[i].key != 0)
        if (++i == t->cap) i = 0;
    t->e[i] = v;
    t->used++;
}

static int table_init(ngram_table *t, long count) {
    t->cap = (size_t)count + (size_t)count / 2 + 4;
    t->used = 0;
    t->e = rd_calloc_array(t->cap, sizeof(ngram_entry));
    return t->e != NULL;
}

/* Room for one more entry: blanks may exceed the declared count. */
static int table_reserve(ngram_table *t) {
    if (t->used + 1 <= t->cap - t->cap / 8) return 1;
    ngram_table g = {rd_calloc_array(t->cap * 2, sizeof(ngram_entry)), t->cap * 2, 0};
    if (!g.e) return 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->e[i].key) table_put(&g, t->e[i]);
    free(t->e);
    *t = g;
    return 1;
}

/* ---------- vocabulary ---------- */

static int is_unk_text(const char *s, size_t n) {
    return n == 5 && (memcmp(s, "<unk>", 5) == 0 || memcmp(s, "<UNK>", 5) == 0);
}

/* Id of the text, or -1 when absent (the <unk> spellings are never stored). */
static int32_t vocab_find(const arpa_model *m, const char *s, size_t n, uint64_t h) {
    size_t mask = m->vocab_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const vocab_bucket *b = &m->vocab[i];
        if (b->hash == 0) return -1;
        if (b->hash == h && b->len == n && memcmp(m->strings + b->off, s, n) == 0) return b->id;
    }
}

static int strings_add(arpa_model *m, const char *s, size_t n, size_t *off) {
    if (m->strings_len + n + 1 > m->strings_cap) {
        size_t cap = m->strings_cap * 2 + n + 1;
        char *p = realloc(m->strings, cap);
        if (!p) return 0;
        m->strings = p;
        m->strings_cap = cap;
    }
    *off = m->strings_len;
    memcpy(m->strings + m->strings_len, s, n);
    m->strings[m->strings_len + n] = '\0';
    m->strings_len += n + 1;
    return 1;
}

/* ---------- parser ---------- */

typedef struct parser {
    rd_line_iter it;
    const char *name;
    size_t size;
    rd_error *err;
    arpa_model *m;
    const char *line;
    size_t len;
    int have_line; /* 0 at the end of the buffer */
    int held;      /* the current line is to be read again */
    int saw_unk;
} parser;

static int next_line(parser *p) {
    if (p->held) {
        p->held = 0;
        return p->have_line;
    }
    p->have_line = rd_line_next(&p->it, &p->line, &p->len);
    return p->have_line;
}

static int blank_line(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v') return 0;
    return 1;
}

/* Next line that is not blank; 0 at the end. */
static int next_content(parser *p) {
    while (next_line(p))
        if (!blank_line(p->line, p->len)) return 1;
    return 0;
}

/* 'text' for messages: at most 48 bytes, tabs as spaces, other control
 * bytes as '?'. */
static const char *shown(const char *s, size_t n, char *buf, size_t cap) {
    size_t k = 0, lim = n > 48 ? 48 : n;
    while (lim < n && lim > 0 && ((unsigned char)s[lim] & 0xC0) == 0x80) lim--;
    buf[k++] = '\'';
    for (size_t i = 0; i < lim && k + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[k++] = c == '\t' ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (lim < n) k += (size_t)snprintf(buf + k, cap - k, "...");
    snprintf(buf + k, cap - k, "'");
    return buf;
}

/* The current line for messages, or "the end of the file". */
static const char *shown_line(const parser *p, char *buf, size_t cap) {
    if (!p->have_line) return "the end of the file";
    return shown(p->line, p->len, buf, cap);
}

static rd_status perr(parser *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static rd_status perr(parser *p, const char *fmt, ...) {
    char msg[RD_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    long line = p->it.lineno > 0 ? p->it.lineno : 1;
    return rd_fail(p->err, RD_ERR_INPUT, "%s:%ld: %s", p->name, line, msg);
}

static rd_status nomem(parser *p) {
    return rd_fail(p->err, RD_ERR_NOMEM, "%s: out of memory loading the model", p->name);
}

/* Splits at runs of spaces and tabs; stores up to max fields, returns how
 * many there are in all. */
static int split_fields(const char *s, size_t n, const char **f, size_t *fl, int max) {
    int k = 0;
    size_t i = 0;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i >= n) return k;
        size_t j = i;
        while (j < n && s[j] != ' ' && s[j] != '\t') j++;
        if (k < max) {
            f[k] = s + i;
            fl[k] = j - i;
        }
        k++;
        i = j;
    }
}

/* A decimal number within +-1e30 (so that ln values and their sums stay
 * finite floats): the plain form fast, anything else via strtod. */
static int parse_number(const char *s, size_t n, double *out) {
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    int neg = 0, digits = 0, frac = 0, dot = 0;
    uint64_t mant = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    for (; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9' && digits < 15) {
            mant = mant * 10 + (uint64_t)(c - '0');
            digits++;
            frac += dot;
        } else if (c == '.' && !dot) {
            dot = 1;
        } else {
            break;
        }
    }
    if (i == n && digits > 0) {
        double v = (double)mant / pow10[frac];
        *out = neg ? -v : v;
        return 1;
    }
    return rd_parse_double(s, n, out) && fabs(*out) <= 1e30;
}

/* ---------- header ---------- */

static rd_status parse_count_line(parser *p, int *order) {
    char b[80];
    const char *s = p->line + 5;
    size_t n = p->len - 5;
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    const char *eq = memchr(s, '=', n);
    long ord, cnt;
    size_t on = eq ? (size_t)(eq - s) : 0;
    while (on && (s[on - 1] == ' ' || s[on - 1] == '\t')) on--;
    if (!eq || !rd_parse_long(s, on, &ord))
        return perr(p, "expected 'ngram N=count', found %s", shown(p->line, p->len, b, sizeof b));
    if (ord != *order + 1)
        return perr(p, "expected 'ngram %d=count' (orders in sequence from 1), found %s", *order + 1,
                    shown(p->line, p->len, b, sizeof b));
    if (ord > ARPA_MAX_ORDER)
        return perr(p, "expected n-gram orders up to %d, found %s", ARPA_MAX_ORDER, shown(p->line, p->len, b, sizeof b));
    const char *c = eq + 1;
    size_t cn = p->len - (size_t)(c - p->line);
    while (cn && (*c == ' ' || *c == '\t')) c++, cn--;
    while (cn && (c[cn - 1] == ' ' || c[cn - 1] == '\t')) cn--;
    if (!rd_parse_long(c, cn, &cnt) || cnt < 0)
        return perr(p, "expected a count >= 0 after '=', found %s", shown(p->line, p->len, b, sizeof b));
    /* every n-gram line takes at least 2(n+1) bytes: refuse absurd counts
     * before allocating for them */
    if (cnt > 0 && (size_t)cnt > p->size / (2 * (size_t)ord + 2) + 1)
        return perr(p, "the count %ld of %ld-grams cannot fit in a file of %zu bytes", cnt, ord, p->size);
    if (ord == 1 && cnt >= INT32_MAX - 1) return perr(p, "too many 1-grams (%ld)", cnt);
    p->m->counts[ord] = cnt;
    *order = (int)ord;
    return RD_OK;
}

static int is_line(const parser *p, const char *text) {
    size_t n = strlen(text), len = p->len;
    while (len > n && (p->line[len - 1] == ' ' || p->line[len - 1] == '\t')) len--;
    return len == n && memcmp(p->line, text, n) == 0;
}

static rd_status parse_header(parser *p) {
    char b[80];
    while (next_content(p) && p->line[0] == '#') {}
    if (!p->have_line || !is_line(p, "\\data\\"))
        return perr(p, "expected \\data\\ at the start of an ARPA file, found %s", shown_line(p, b, sizeof b));
    int order = 0;
    while (next_content(p) && p->len >= 5 && memcmp(p->line, "ngram", 5) == 0) RD_TRY(parse_count_line(p, &order));
    if (order == 0)
        return perr(p, "expected 'ngram 1=count' after \\data\\, found %s", shown_line(p, b, sizeof b));
    p->m->order = order;
    p->held = 1;
    return RD_OK;
}

/* ---------- allocation ---------- */

static rd_status allocate(parser *p) {
    arpa_model *m = p->m;
    size_t v = (size_t)m->counts[1] + 1; /* room for an added <unk> */
    m->uni_prob = rd_malloc_array(v * 2, sizeof(float));
    m->word_off = rd_malloc_array(v, sizeof(size_t));
    m->vocab_cap = 16;
    while (m->vocab_cap < 2 * v) m->vocab_cap *= 2;
    m->vocab = rd_calloc_array(m->vocab_cap, sizeof(vocab_bucket));
    m->strings_cap = v * 8 + 64;
    m->strings = malloc(m->strings_cap);
    if (!m->uni_prob || !m->word_off || !m->vocab || !m->strings) return nomem(p);
    m->uni_backoff = m->uni_prob + v;
    for (int n = 2; n <= m->order; n++)
        if (!table_init(&m->tables[n], m->counts[n])) return nomem(p);
    /* id 0 is <unk>, with KenLM's stand-in values until the file gives its own */
    if (!strings_add(m, "<unk>", 5, &m->word_off[0])) return nomem(p);
    m->uni_prob[0] = (float)(UNK_MISSING_LOG10 * ARPA_LN10);
    m->uni_backoff[0] = -0.0f;
    m->n_words = 1;
    m->unk = 0;
    return RD_OK;
}

/* ---------- n-gram lines ---------- */

typedef struct ngram_line {
    double prob, backoff; /* log10 */
    int has_backoff;
    const char *w[ARPA_MAX_ORDER];
    size_t wl[ARPA_MAX_ORDER];
} ngram_line;

static rd_status split_ngram(parser *p, int n, ngram_line *g) {
    char b[80];
    const char *f[FIELDS_MAX];
    size_t fl[FIELDS_MAX];
    int k = split_fields(p->line, p->len, f, fl, FIELDS_MAX);
    g->has_backoff = k == n + 2 && parse_number(f[k - 1], fl[k - 1], &g->backoff);
    int words = k - 1 - g->has_backoff;
    if (k == 0 || words != n)
        return perr(p, "expected %d word%s in a %d-gram, found %d", n, n == 1 ? "" : "s", n, words < 0 ? 0 : words);
    if (!parse_number(f[0], fl[0], &g->prob))
        return perr(p, "expected a log10 probability, found %s", shown(f[0], fl[0], b, sizeof b));
    if (g->prob > 0)
        return perr(p, "expected a log10 probability <= 0, found %s", shown(f[0], fl[0], b, sizeof b));
    if (g->has_backoff && g->backoff != 0 && n == p->m->order)
        return perr(p, "expected no backoff in a %d-gram (the highest order), found %s", n,
                    shown(f[k - 1], fl[k - 1], b, sizeof b));
    for (int i = 0; i < n; i++) {
        g->w[i] = f[i + 1];
        g->wl[i] = fl[i + 1];
    }
    return RD_OK;
}

static float ln_prob(double log10p) { return (float)(log10p * ARPA_LN10); }
static float ln_backoff(const ngram_line *g) {
    return g->has_backoff && g->backoff != 0 ? (float)(g->backoff * ARPA_LN10) : -0.0f;
}

static rd_status add_unigram(parser *p, const ngram_line *g) {
    arpa_model *m = p->m;
    char b[80];
    const char *s = g->w[0];
    size_t n = g->wl[0];
    if (memchr(s, '\0', n)) return perr(p, "expected a word without NUL bytes");
    if (n > UINT32_MAX) return perr(p, "expected a word shorter than 4 GB");
    int32_t id;
    if (is_unk_text(s, n)) {
        if (p->saw_unk) return perr(p, "duplicate 1-gram %s", shown(s, n, b, sizeof b));
        p->saw_unk = 1;
        id = 0;
    } else {
        uint64_t h = hash_text(s, n);
        if (vocab_find(m, s, n, h) >= 0) return perr(p, "duplicate 1-gram %s", shown(s, n, b, sizeof b));
        id = m->n_words++;
        if (!strings_add(m, s, n, &m->word_off[id])) return nomem(p);
        size_t mask = m->vocab_cap - 1, i = h & mask;
        while (m->vocab[i].hash) i = (i + 1) & mask;
        m->vocab[i] = (vocab_bucket){h, m->word_off[id], id, (uint32_t)n};
    }
    m->uni_prob[id] = ln_prob(g->prob);
    m->uni_backoff[id] = ln_backoff(g);
    return RD_OK;
}

/* The prob of the longest suffix of ids[0..n) (chronological) with a key in
 * sfx[] present, and its order; sfx[k] is the key of the last k words. */
static float longest_suffix(const arpa_model *m, const int32_t *ids, int n, const uint64_t *sfx, int *order) {
    for (int k = n - 1; k >= 2; k--) {
        const ngram_entry *e = table_find(&m->tables[k], sfx[k]);
        if (e) {
            *order = k;
            return e->prob;
        }
    }
    *order = 1;
    return m->uni_prob[ids[n - 1]];
}

/* The backoff of the context ids[n-1-len..n-1) (the len words before the
 * last), marking it extended; 0 when absent. ctx[k] is the key of the last
 * k of those words. */
static float context_backoff(arpa_model *m, const int32_t *ids, int n, const uint64_t *ctx, int len) {
    float *bo = NULL;
    if (len == 1) {
        bo = &m->uni_backoff[ids[n - 2]];
    } else {
        ngram_entry *e = table_find(&m->tables[len], ctx[len]);
        if (e) bo = &e->backoff;
    }
    if (!bo) return 0.0f;
    set_extended(bo);
    return *bo;
}

/* Inserts blank entries for the suffixes of ids[0..n) that are missing,
 * each with the probability that backing off gives it (KenLM's FixSRI). */
static rd_status add_blanks(parser *p, const int32_t *ids, int n, const uint64_t *sfx, const uint64_t *ctx) {
    arpa_model *m = p->m;
    int basis;
    float prob = longest_suffix(m, ids, n, sfx, &basis);
    for (int j = basis + 1; j < n; j++) {
        prob += context_backoff(m, ids, n, ctx, j - 1);
        if (!table_reserve(&m->tables[j])) return nomem(p);
        table_put(&m->tables[j], (ngram_entry){sfx[j], prob, -0.0f});
    }
    return RD_OK;
}

static rd_status add_ngram(parser *p, int n, const ngram_line *g) {
    arpa_model *m = p->m;
    char b[80];
    int32_t ids[ARPA_MAX_ORDER];
    uint64_t sfx[ARPA_MAX_ORDER + 1], ctx[ARPA_MAX_ORDER + 1];
    for (int i = 0; i < n; i++) {
        ids[i] = is_unk_text(g->w[i], g->wl[i]) ? 0 : vocab_find(m, g->w[i], g->wl[i], hash_text(g->w[i], g->wl[i]));
        if (ids[i] < 0)
            return perr(p, "word %s of this %d-gram is not among the 1-grams", shown(g->w[i], g->wl[i], b, sizeof b), n);
    }
    sfx[1] = key_first(ids[n - 1]);
    ctx[1] = key_first(ids[n - 2]);
    for (int k = 2; k <= n; k++) sfx[k] = key_extend(sfx[k - 1], ids[n - k]);
    for (int k = 2; k < n; k++) ctx[k] = key_extend(ctx[k - 1], ids[n - 1 - k]);
    ngram_table *t = &m->tables[n];
    if (table_find(t, sfx[n])) return perr(p, "duplicate %d-gram %s", n, shown(p->line, p->len, b, sizeof b));
    if (n >= 3) RD_TRY(add_blanks(p, ids, n, sfx, ctx));
    if (n >= 3 && !table_find(&m->tables[n - 1], ctx[n - 1]))
        return perr(p, "the context of this %d-gram is not a %d-gram: %s", n, n - 1, shown(p->line, p->len, b, sizeof b));
    context_backoff(m, ids, n, ctx, n - 1); /* marks it extended */
    if (!table_reserve(t)) return nomem(p);
    table_put(t, (ngram_entry){sfx[n], ln_prob(g->prob), ln_backoff(g)});
    return RD_OK;
}

/* ---------- sections ---------- */

static rd_status expect_section_header(parser *p, int n) {
    char b[80], want[24];
    snprintf(want, sizeof want, "\\%d-grams:", n);
    next_content(p);
    if (p->have_line && is_line(p, want)) return RD_OK;
    if (n == 1) return perr(p, "expected %s after the counts, found %s", want, shown_line(p, b, sizeof b));
    return perr(p, "expected %s after %ld %d-grams, found %s", want, p->m->counts[n - 1], n - 1,
                shown_line(p, b, sizeof b));
}

static rd_status short_section(parser *p, int n, long got) {
    char b[80];
    long want = p->m->counts[n];
    if (!p->have_line)
        return perr(p, "expected %ld %d-grams as \\data\\ declares, found %ld before the end of the file", want, n, got);
    if (blank_line(p->line, p->len))
        return perr(p, "expected %ld %d-grams as \\data\\ declares, found an empty line after %ld", want, n, got);
    return perr(p, "expected %ld %d-grams as \\data\\ declares, found %ld before %s", want, n, got,
                shown(p->line, p->len, b, sizeof b));
}

static rd_status check_specials(parser *p) {
    arpa_model *m = p->m;
    m->bos = vocab_find(m, "<s>", 3, hash_text("<s>", 3));
    m->eos = vocab_find(m, "</s>", 4, hash_text("</s>", 4));
    if (m->bos < 0) return perr(p, "expected <s> among the 1-grams");
    if (m->eos < 0) return perr(p, "expected </s> among the 1-grams");
    return RD_OK;
}

static rd_status parse_section(parser *p, int n) {
    RD_TRY(expect_section_header(p, n));
    ngram_line g;
    for (long i = 0; i < p->m->counts[n]; i++) {
        if (!next_line(p) || blank_line(p->line, p->len) || p->line[0] == '\\') return short_section(p, n, i);
        RD_TRY(split_ngram(p, n, &g));
        RD_TRY(n == 1 ? add_unigram(p, &g) : add_ngram(p, n, &g));
    }
    if (n == 1) RD_TRY(check_specials(p));
    return RD_OK;
}

static rd_status parse_end(parser *p) {
    char b[80];
    int n = p->m->order;
    next_content(p);
    if (!p->have_line || !is_line(p, "\\end\\"))
        return perr(p, "expected \\end\\ after %ld %d-grams, found %s", p->m->counts[n], n, shown_line(p, b, sizeof b));
    if (next_content(p)) return perr(p, "expected nothing after \\end\\, found %s", shown(p->line, p->len, b, sizeof b));
    return RD_OK;
}

/* ---------- public ---------- */

rd_status arpa_parse(const char *buf, size_t n, const char *name, arpa_model **out, rd_error *err) {
    *out = NULL;
    arpa_model *m = calloc(1, sizeof *m);
    if (!m) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory loading the model", name);
    m->unk = 0;
    parser p = {.name = name, .size = n, .err = err, .m = m};
    rd_line_iter_init(&p.it, buf, n);
    rd_status st = parse_header(&p);
    if (st == RD_OK) st = allocate(&p);
    for (int k = 1; st == RD_OK && k <= m->order; k++) st = parse_section(&p, k);
    if (st == RD_OK) st = parse_end(&p);
    if (st != RD_OK) {
        arpa_free(m);
        return st;
    }
    *out = m;
    return RD_OK;
}

rd_status arpa_load(const char *path, arpa_model **out, rd_error *err) {
    rd_text t;
    *out = NULL;
    RD_TRY(rd_text_read(path, &t, err));
    rd_status st = arpa_parse(t.data, t.size, path, out, err);
    rd_text_free(&t);
    return st;
}

void arpa_free(arpa_model *m) {
    if (!m) return;
    for (int n = 2; n <= ARPA_MAX_ORDER; n++) free(m->tables[n].e);
    free(m->uni_prob);
    free(m->word_off);
    free(m->vocab);
    free(m->strings);
    free(m);
}

int arpa_order(const arpa_model *m) { return m->order; }
long arpa_count(const arpa_model *m, int order) {
    return order >= 1 && order <= m->order ? m->counts[order] : 0;
}
int32_t arpa_vocab_size(const arpa_model *m) { return m->n_words; }
int32_t arpa_unk(const arpa_model *m) { return m->unk; }
int32_t arpa_bos(const arpa_model *m) { return m->bos; }
int32_t arpa_eos(const arpa_model *m) { return m->eos; }

int32_t arpa_word_id(const arpa_model *m, const char *w, size_t len) {
    int32_t id = vocab_find(m, w, len, hash_text(w, len));
    return id >= 0 ? id : m->unk;
}

const char *arpa_word_text(const arpa_model *m, int32_t id) {
    if (id < 0 || id >= m->n_words) return NULL;
    return m->strings + m->word_off[id];
}

size_t arpa_memory(const arpa_model *m) {
    size_t v = (size_t)m->counts[1] + 1;
    size_t bytes = sizeof *m + v * (2 * sizeof(float) + sizeof(size_t)) + m->strings_cap +
                   m->vocab_cap * sizeof(vocab_bucket);
    for (int n = 2; n <= m->order; n++) bytes += m->tables[n].cap * sizeof(ngram_entry);
    return bytes;
}

void arpa_begin_state(const arpa_model *m, arpa_state *s) {
    memset(s, 0, sizeof *s);
    s->words[0] = m->bos;
    s->length = m->order > 1 ? 1 : 0;
}

void arpa_null_state(arpa_state *s) { memset(s, 0, sizeof *s); }

/* Sum of the backoffs of the contexts ctx[0..k) for k = from..len
 * (ctx most recent first). */
static float context_backoffs(const arpa_model *m, const int32_t *ctx, int from, int len) {
    float sum = 0.0f;
    uint64_t h = key_first(ctx[0]);
    for (int k = 1; k <= len; k++) {
        if (k > 1) h = key_extend(h, ctx[k - 1]);
        if (k < from) continue;
        if (k == 1) {
            sum += m->uni_backoff[ctx[0]];
        } else {
            const ngram_entry *e = table_find(&m->tables[k], h);
            if (e) sum += e->backoff;
        }
    }
    return sum;
}

float arpa_score(const arpa_model *m, const arpa_state *in, int32_t word, arpa_state *out, int *ngram_len) {
    if (word < 0 || word >= m->n_words) word = m->unk;
    int32_t ctx[ARPA_MAX_ORDER - 1];
    int len = in->length < m->order - 1 ? in->length : m->order - 1;
    if (len < 0) len = 0;
    for (int k = 0; k < len; k++) ctx[k] = in->words[k] >= 0 && in->words[k] < m->n_words ? in->words[k] : m->unk;
    float prob = m->uni_prob[word];
    int match = 1, keep = m->order > 1 && keeps_state(m->uni_backoff[word]);
    uint64_t h = key_first(word);
    for (int k = 1; k <= len; k++) {
        h = key_extend(h, ctx[k - 1]);
        const ngram_entry *e = table_find(&m->tables[k + 1], h);
        if (!e) break;
        prob = e->prob;
        match = k + 1;
        if (match < m->order && keeps_state(e->backoff)) keep = match;
    }
    if (len >= match) prob += context_backoffs(m, ctx, match, len);
    out->words[0] = word;
    for (int k = 1; k < keep; k++) out->words[k] = ctx[k - 1];
    out->length = keep;
    if (ngram_len) *ngram_len = match;
    return prob;
}
