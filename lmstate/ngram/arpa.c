/* lmstate/ngram/arpa.c - ARPA n-gram models with KenLM's semantics (see arpa.h).
 *
 * Layout: unigrams are arrays indexed by word id (<unk> is id 0, the other
 * words follow in file order, as in KenLM); each higher order is one probing
 * hash table (open addressing, linear probing) keyed by a 64-bit hash of the
 * n-gram's word ids taken most recent word first, so that a query extends
 * one hash chain into the context. Only the hash is stored (as KenLM does):
 * entries are {key, prob, backoff} (16 bytes) below the highest order and
 * {key, prob} (12 bytes) at it, in tables of 1.5x the count, which is
 * KenLM's probing structure byte for byte. The vocabulary is a probing table
 * of {text hash, offset of the word's record}; the records (length, id,
 * text) lie in one buffer, so a lookup reads two places, and the text is
 * compared (KenLM trusts the hash).
 *
 * Loading: the \data\ counts are read first; a pass over the 1-gram lines
 * adds up the words' bytes; then everything above lives in one zeroed
 * allocation of arpa_memory_for_counts() bytes (huge pages when big),
 * carved into its parts, and nothing is allocated per n-gram (a table
 * outgrown by blanks, below, is the one exception). arpa_load maps the file
 * and hands the pages it has read back to the kernel as it goes, so the
 * file does not stay resident. Lines go in batches whose hash-table reads
 * are prefetched before they are used (parse_section).
 *
 * As in KenLM, an n-gram whose suffixes are missing (SRILM pruning) gets
 * "blank" entries for those suffixes, holding the backed-off probability, so
 * a query walks up the orders and stops at the first missing one. A context
 * stays in a state only when it can matter: a non-zero backoff, or some
 * longer n-gram extends it. That flag rides on the sign of a zero backoff
 * (+0.0: extended, -0.0: not), KenLM's encoding. All values are natural log,
 * converted from the file's log10 at load. */
#include "lmstate/ngram/arpa.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/compress.h"
#include "common/text.h"

#define ARPA_LN10 2.30258509299404568402
#define UNK_MISSING_LOG10 (-100.0)
#define FIELDS_MAX (ARPA_MAX_ORDER + 2)
#define UNK_TEXT_BYTES 6             /* "<unk>" and its NUL, always stored */
#define RELEASE_EVERY (256u << 10)   /* bytes of a mapped file read between releases */
#define BLOCK_MAP_MIN (4u << 20)     /* models from this size get huge pages (block_alloc) */
#define RELEASE_LAG (256u << 10)     /* bytes before the current line kept mapped; a power of two */

__extension__ typedef unsigned __int128 arpa_u128;

/* A probing hash table of fixed-size entries: a uint64 key (0 = empty
 * bucket) at offset 0, then a 4-byte value at 8 (ln prob, or a word id) and,
 * when stride is 16, an ln backoff at 12 whose zero's sign bit says "not
 * extended" (-0.0). Entries are 4-byte aligned; keys are read with memcpy. */
typedef struct probe_table {
    unsigned char *e;
    size_t cap, used, stride;
    int owned; /* e is its own allocation (grown), not part of the block */
} probe_table;

struct arpa_model {
    int order;
    long counts[ARPA_MAX_ORDER + 1]; /* [1..order], as \data\ declares */
    int32_t n_words, unk, bos, eos;
    void *block;                     /* the one allocation everything below lives in */
    size_t block_bytes;
    int block_mapped;                /* block came from mmap (block_alloc) */
    float *uni_prob, *uni_backoff;   /* [counts[1] + 1], ln */
    uint32_t *word_record;           /* [counts[1] + 1]: offset of id's record in words */
    char *words;                     /* the words' records (see record_at), < 4 GiB */
    size_t words_len, words_cap;
    probe_table vocab;               /* {text hash, record offset} */
    probe_table tables[ARPA_MAX_ORDER + 1]; /* [2..order] */
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

/* ---------- probing tables ---------- */

static uint64_t entry_key(const unsigned char *e) {
    uint64_t k;
    memcpy(&k, e, sizeof k);
    return k;
}
static float *entry_prob(unsigned char *e) { return (float *)(void *)(e + 8); }
static float *entry_backoff(unsigned char *e) { return (float *)(void *)(e + 12); }

static size_t table_cap(size_t count) { return count + count / 2 + 4; }

static void table_init(probe_table *t, void *e, size_t cap, size_t stride) {
    *t = (probe_table){e, cap, 0, stride, 0};
}

/* The entry with that key, or NULL. */
static unsigned char *table_find(const probe_table *t, uint64_t key) {
    size_t i = bucket_of(key, t->cap);
    for (;;) {
        unsigned char *e = t->e + i * t->stride;
        uint64_t k = entry_key(e);
        if (k == key) return e;
        if (k == 0) return NULL;
        if (++i == t->cap) i = 0;
    }
}

/* A new entry holding key (its values zero), or NULL when key is there
 * already; allow_same adds it anyway (the vocabulary, whose keys are text
 * hashes that may collide). The table must have room (table_reserve). */
static unsigned char *table_claim(probe_table *t, uint64_t key, int allow_same) {
    size_t i = bucket_of(key, t->cap);
    for (;;) {
        unsigned char *e = t->e + i * t->stride;
        uint64_t k = entry_key(e);
        if (k == 0) {
            memcpy(e, &key, sizeof key);
            t->used++;
            return e;
        }
        if (k == key && !allow_same) return NULL;
        if (++i == t->cap) i = 0;
    }
}

/* Room for one more entry, and an empty bucket left for lookups to stop
 * at: blanks may exceed the declared count, and then the table moves to an
 * allocation of its own, twice the size. */
static int table_reserve(probe_table *t) {
    if (t->used + 1 < t->cap && t->used + 1 <= t->cap - t->cap / 8) return 1;
    probe_table g = {rd_calloc_array(t->cap * 2, t->stride), t->cap * 2, 0, t->stride, 1};
    if (!g.e) return 0;
    for (size_t i = 0; i < t->cap; i++) {
        const unsigned char *e = t->e + i * t->stride;
        if (entry_key(e)) memcpy(table_claim(&g, entry_key(e), 1), e, t->stride);
    }
    if (t->owned) free(t->e);
    *t = g;
    return 1;
}

/* ---------- vocabulary ---------- */

/* memcmp(a, b, n) == 0 without a call: words are short. */
static int same_text(const char *a, const char *b, size_t n) {
    for (; n >= 8; a += 8, b += 8, n -= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return 0;
    }
    while (n--)
        if (*a++ != *b++) return 0;
    return 1;
}

static int is_unk_text(const char *s, size_t n) {
    return n == 5 && (memcmp(s, "<unk>", 5) == 0 || memcmp(s, "<UNK>", 5) == 0);
}

/* A word's record in m->words: uint32 length, int32 id, the text, a NUL;
 * unaligned, read with memcpy. The vocabulary's entries hold a record's
 * offset (uint32) after the text hash. */
#define RECORD_HEAD 8

static const char *record_at(const arpa_model *m, uint32_t off) { return m->words + off; }

static uint32_t entry_record(const unsigned char *e) {
    uint32_t off;
    memcpy(&off, e + 8, sizeof off);
    return off;
}

/* The record's word id if its text is s[0..n), else -1. */
static int32_t record_match(const char *r, const char *s, size_t n) {
    uint32_t len;
    int32_t id;
    memcpy(&len, r, sizeof len);
    memcpy(&id, r + 4, sizeof id);
    return len == n && same_text(r + RECORD_HEAD, s, n) ? id : -1;
}

/* Id of the text, or -1 when absent (the <unk> spellings are never stored). */
static int32_t vocab_find(const arpa_model *m, const char *s, size_t n, uint64_t h) {
    const probe_table *t = &m->vocab;
    size_t i = bucket_of(h, t->cap);
    for (;;) {
        const unsigned char *e = t->e + i * t->stride;
        uint64_t k = entry_key(e);
        if (k == 0) return -1;
        int32_t id = k == h ? record_match(record_at(m, entry_record(e)), s, n) : -1;
        if (id >= 0) return id;
        if (++i == t->cap) i = 0;
    }
}

/* Appends the record of the next word id (m->n_words). The room was counted
 * before allocating; 0 if a word would pass it all the same. */
static int words_add(arpa_model *m, const char *s, size_t n) {
    if (n > m->words_cap - m->words_len || RECORD_HEAD + 1 > m->words_cap - m->words_len - n) return 0;
    char *r = m->words + m->words_len;
    uint32_t len = (uint32_t)n;
    int32_t id = m->n_words;
    memcpy(r, &len, sizeof len);
    memcpy(r + 4, &id, sizeof id);
    memcpy(r + RECORD_HEAD, s, n);
    r[RECORD_HEAD + n] = '\0';
    m->word_record[id] = (uint32_t)m->words_len;
    m->words_len += RECORD_HEAD + n + 1;
    return 1;
}

/* ---------- the block ---------- */

/* Offsets of the model's parts in its block, and the block's size. */
typedef struct block_layout {
    size_t uni, word_record, vocab, words, tables[ARPA_MAX_ORDER + 1], total;
} block_layout;

static size_t entry_size(int n, int order) { return n < order ? 16 : 12; }

/* Bytes of the records of v words (<unk> included) whose texts take
 * text_bytes with a NUL each, <unk>'s not counted. */
static size_t words_bytes(size_t v, size_t text_bytes) { return text_bytes + UNK_TEXT_BYTES + v * RECORD_HEAD; }

/* Places count items of size bytes at *at (16-byte aligned); 0 on overflow. */
static int place(size_t *at, size_t count, size_t size, size_t *off) {
    if (size && count > (SIZE_MAX - *at - 15) / size) return 0;
    *off = *at;
    *at = (*at + count * size + 15) & ~(size_t)15;
    return 1;
}

/* word_bytes: the 1-gram words' lengths plus one each (arpa.h). */
static int layout_block(int order, const long *counts, size_t word_bytes, block_layout *l) {
    if (order < 1 || order > ARPA_MAX_ORDER) return 0;
    for (int n = 1; n <= order; n++)
        if (counts[n] < 0) return 0;
    size_t v = (size_t)counts[1] + 1, at = 0; /* room for an added <unk> */
    int ok = place(&at, 2 * v, sizeof(float), &l->uni) && place(&at, v, sizeof(uint32_t), &l->word_record) &&
             place(&at, table_cap(v), 12, &l->vocab);
    for (int n = 2; ok && n <= order; n++)
        ok = place(&at, table_cap((size_t)counts[n]), entry_size(n, order), &l->tables[n]);
    /* the records last: pages past the ones written are never touched */
    ok = ok && word_bytes <= SIZE_MAX - UNK_TEXT_BYTES && v <= (SIZE_MAX - UNK_TEXT_BYTES - word_bytes) / RECORD_HEAD &&
         place(&at, words_bytes(v, word_bytes), 1, &l->words);
    l->total = at;
    return ok;
}

/* The model's bytes for counts[1..order]; SIZE_MAX when they overflow. */
static size_t memory_for(int order, const long *counts, size_t word_bytes) {
    block_layout l;
    if (!layout_block(order, counts, word_bytes, &l) || l.total > SIZE_MAX - sizeof(arpa_model)) return SIZE_MAX;
    return sizeof(arpa_model) + l.total;
}

size_t arpa_memory_for_counts(int order, const long *counts, size_t word_bytes) {
    long c[ARPA_MAX_ORDER + 1] = {0};
    if (order < 1 || order > ARPA_MAX_ORDER) return SIZE_MAX;
    for (int n = 1; n <= order; n++) c[n] = counts[n - 1];
    return memory_for(order, c, word_bytes);
}

/* ---------- parser ---------- */

typedef struct parser {
    rd_line_iter it;
    const char *name;
    size_t size;
    size_t max_bytes; /* refuse a model larger than this; 0 = no limit */
    rd_error *err;
    arpa_model *m;
    const char *line;
    size_t len;
    long lineno;   /* of line, for messages */
    int have_line; /* 0 at the end of the buffer */
    int held;      /* the current line is to be read again */
    int saw_unk;
    const char *map;  /* the buffer when it maps a file, else NULL */
    size_t released;  /* map[0..released) was handed back */
} parser;

/* Hands the mapped pages well before the current line back to the kernel:
 * they stay in the page cache, and a later read maps them again. The lines
 * of a batch are still read, and a fault maps its neighbours too (64 KiB;
 * huge pages are refused for the file), so the last RELEASE_LAG bytes are
 * kept: a page faulted in again behind the released mark would stay. */
static void release_read_pages(parser *p) {
#ifdef MADV_DONTNEED
    size_t off = (size_t)(p->line - p->map);
    if (off < 2 * RELEASE_LAG) return;
    size_t upto = (off - RELEASE_LAG) & ~(size_t)(RELEASE_LAG - 1);
    if (upto <= p->released) return;
    madvise((void *)(uintptr_t)(p->map + p->released), upto - p->released, MADV_DONTNEED);
    p->released = upto;
#else
    (void)p;
#endif
}

static int next_line(parser *p) {
    if (p->held) {
        p->held = 0;
        return p->have_line;
    }
    p->have_line = rd_line_next(&p->it, &p->line, &p->len);
    p->lineno = p->it.lineno;
    if (p->map && p->have_line && (size_t)(p->line - p->map) - p->released >= RELEASE_EVERY + RELEASE_LAG)
        release_read_pages(p);
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
    va_list ap;
    va_start(ap, fmt);
    rd_status st = rd_vfail_at(p->err, RD_ERR_INPUT, p->name, p->lineno > 0 ? p->lineno : 1, fmt, ap);
    va_end(ap);
    return st;
}

static rd_status nomem(parser *p) {
    return rd_fail(p->err, RD_ERR_NOMEM, "%s: out of memory loading the model", p->name);
}

/* The first space or tab in s[i..n), or n; eight bytes at a time (a byte
 * equal to c shows as a zero byte of x ^ c*0x01..01). */
static size_t field_end(const char *s, size_t i, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    for (; i + 8 <= n; i += 8) {
        uint64_t v, sp, tab;
        memcpy(&v, s + i, 8);
        sp = v ^ (ones * ' ');
        tab = v ^ (ones * '\t');
        uint64_t hit = ((sp - ones) & ~sp & highs) | ((tab - ones) & ~tab & highs);
        if (hit) return i + (size_t)__builtin_ctzll(hit) / 8; /* the first byte is the lowest */
    }
#endif
    while (i < n && s[i] != ' ' && s[i] != '\t') i++;
    return i;
}

/* Splits at runs of spaces and tabs; stores up to max fields, returns how
 * many there are in all. */
static int split_fields(const char *s, size_t n, const char **f, size_t *fl, int max) {
    int k = 0;
    size_t i = 0;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i >= n) return k;
        size_t j = field_end(s, i, n);
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

/* Bytes of the 1-gram words and their NULs: the second field of each line
 * the 1-gram section may hold (split as split_ngram splits it), so at least
 * what the words will take; 0 when the section header does not follow. */
static size_t unigram_word_bytes(const parser *p) {
    if (!p->have_line || !is_line(p, "\\1-grams:")) return 0;
    rd_line_iter it = p->it;
    const char *line, *f[FIELDS_MAX];
    size_t len, fl[FIELDS_MAX], bytes = 0;
    for (long i = 0; i < p->m->counts[1] && rd_line_next(&it, &line, &len);) {
        int k = split_fields(line, len, f, fl, FIELDS_MAX);
        if (k == 0) continue; /* a blank line: the parse stops there */
        if (line[0] == '\\') break;
        if (k >= 2) bytes += fl[1] + 1;
        i++;
    }
    return bytes;
}

/* Zeroed memory for the model. A big block is mapped and asks for huge
 * pages (as KenLM's HugeMalloc does): table lookups are random, and with 4
 * KiB pages nearly each one misses the TLB. */
static char *block_alloc(size_t bytes, int *mapped) {
    *mapped = 0;
#if defined(MAP_ANONYMOUS) && defined(MADV_HUGEPAGE)
    if (bytes >= BLOCK_MAP_MIN) {
        void *b = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (b != MAP_FAILED) {
            madvise(b, bytes, MADV_HUGEPAGE);
            *mapped = 1;
            return b;
        }
    }
#endif
    return calloc(1, bytes);
}

static void block_free(void *b, size_t bytes, int mapped) {
    if (mapped)
        munmap(b, bytes);
    else
        free(b);
}

static rd_status allocate(parser *p) {
    arpa_model *m = p->m;
    block_layout l;
    size_t words = unigram_word_bytes(p);
    size_t need = memory_for(m->order, m->counts, words);
    if (need == SIZE_MAX || !layout_block(m->order, m->counts, words, &l)) return nomem(p);
    if (words_bytes((size_t)m->counts[1] + 1, words) > UINT32_MAX)
        return rd_fail(p->err, RD_ERR_INPUT, "%s: the 1-gram words take over 4 GiB, more than this reader holds", p->name);
    if (p->max_bytes && need > p->max_bytes)
        return rd_fail(p->err, RD_ERR_NOMEM, "%s: the model needs %zu bytes (%.1f MiB) for its counts, over the limit of %zu (%.1f MiB)",
                       p->name, need, need / 1048576.0, p->max_bytes, p->max_bytes / 1048576.0);
    char *b = block_alloc(l.total, &m->block_mapped);
    if (!b) return nomem(p);
    size_t v = (size_t)m->counts[1] + 1;
    m->block = b;
    m->block_bytes = l.total;
    m->uni_prob = (float *)(void *)(b + l.uni);
    m->uni_backoff = m->uni_prob + v;
    m->word_record = (uint32_t *)(void *)(b + l.word_record);
    table_init(&m->vocab, b + l.vocab, table_cap(v), 12);
    for (int n = 2; n <= m->order; n++)
        table_init(&m->tables[n], b + l.tables[n], table_cap((size_t)m->counts[n]), entry_size(n, m->order));
    m->words = b + l.words;
    m->words_cap = words_bytes(v, words);
    /* id 0 is <unk>, with KenLM's stand-in values until the file gives its own */
    words_add(m, "<unk>", 5);
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
        if (!words_add(m, s, n))
            return rd_fail(p->err, RD_ERR_INTERNAL, "%s: the 1-gram words outgrew the room counted for them", p->name);
        id = m->n_words++;
        uint32_t off = m->word_record[id];
        memcpy(table_claim(&m->vocab, h, 1) + 8, &off, sizeof off);
    }
    m->uni_prob[id] = ln_prob(g->prob);
    m->uni_backoff[id] = ln_backoff(g);
    return RD_OK;
}

/* The prob of the longest suffix of ids[0..n) (chronological) with a key in
 * sfx[] present, and its order; sfx[k] is the key of the last k words. */
static float longest_suffix(const arpa_model *m, const int32_t *ids, int n, const uint64_t *sfx, int *order) {
    for (int k = n - 1; k >= 2; k--) {
        unsigned char *e = table_find(&m->tables[k], sfx[k]);
        if (e) {
            *order = k;
            return *entry_prob(e);
        }
    }
    *order = 1;
    return m->uni_prob[ids[n - 1]];
}

/* The backoff of the context ids[n-1-len..n-1) (the len words before the
 * last), or NULL when absent. ctx[k] is the key of the last k of those
 * words. */
static float *context_backoff(arpa_model *m, const int32_t *ids, int n, const uint64_t *ctx, int len) {
    if (len == 1) return &m->uni_backoff[ids[n - 2]];
    unsigned char *e = table_find(&m->tables[len], ctx[len]);
    return e ? entry_backoff(e) : NULL;
}

/* The same, marked extended; 0 when absent. */
static float extend_context(arpa_model *m, const int32_t *ids, int n, const uint64_t *ctx, int len) {
    float *bo = context_backoff(m, ids, n, ctx, len);
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
        prob += extend_context(m, ids, n, ctx, j - 1);
        if (!table_reserve(&m->tables[j])) return nomem(p);
        unsigned char *e = table_claim(&m->tables[j], sfx[j], 1);
        *entry_prob(e) = prob;
        *entry_backoff(e) = -0.0f;
    }
    return RD_OK;
}

/* An n-gram line between its parse and its insertion (see parse_section). */
typedef struct pending {
    const char *line;
    size_t len;
    long lineno;
    ngram_line g;
    int32_t ids[ARPA_MAX_ORDER];   /* or one of the WORD_ states below */
    uint64_t hash[ARPA_MAX_ORDER]; /* of the texts looked up */
    const unsigned char *hit[ARPA_MAX_ORDER]; /* the first entry with that hash, or NULL */
    uint64_t sfx[ARPA_MAX_ORDER + 1], ctx[ARPA_MAX_ORDER + 1]; /* keys of the last k words, of the context's */
} pending;

#define WORD_SAME (-2)   /* spelled as at the same place in the line before */
#define WORD_LOOKUP (-3) /* to be looked up */

static void table_prefetch(const probe_table *t, uint64_t key) {
    __builtin_prefetch(t->e + bucket_of(key, t->cap) * t->stride);
}

/* Word ids go in three steps over a batch, each prefetching what the next
 * reads, so that the batch's cache misses overlap. First, per word: the
 * line before's id (sorted files share contexts), <unk>, or a text hash
 * whose vocabulary bucket is prefetched. */
static void words_hash(const parser *p, int n, pending *q, const pending *prev) {
    const ngram_line *g = &q->g;
    for (int i = 0; i < n; i++) {
        if (prev && g->wl[i] == prev->g.wl[i] && same_text(g->w[i], prev->g.w[i], g->wl[i])) {
            q->ids[i] = WORD_SAME;
        } else if (is_unk_text(g->w[i], g->wl[i])) {
            q->ids[i] = 0;
        } else {
            q->ids[i] = WORD_LOOKUP;
            q->hash[i] = hash_text(g->w[i], g->wl[i]);
            table_prefetch(&p->m->vocab, q->hash[i]);
        }
    }
}

/* Second: the first vocabulary entry with each hash, its record prefetched. */
static void words_probe(const arpa_model *m, int n, pending *q) {
    const probe_table *t = &m->vocab;
    for (int i = 0; i < n; i++) {
        if (q->ids[i] != WORD_LOOKUP) continue;
        size_t j = bucket_of(q->hash[i], t->cap);
        const unsigned char *e;
        while ((e = t->e + j * t->stride), entry_key(e) != q->hash[i] && entry_key(e) != 0)
            if (++j == t->cap) j = 0;
        q->hit[i] = entry_key(e) ? e : NULL;
        if (q->hit[i]) __builtin_prefetch(record_at(m, entry_record(e)));
    }
}

/* Third, in line order: the ids (an entry whose text differs, a 64-bit hash
 * collision, falls back to vocab_find), the keys, and the table buckets
 * add_ngram reads, prefetched. */
static rd_status words_resolve(parser *p, int n, pending *q, const pending *prev) {
    arpa_model *m = p->m;
    char b[80];
    const ngram_line *g = &q->g;
    for (int i = 0; i < n; i++) {
        if (q->ids[i] == WORD_SAME) {
            q->ids[i] = prev->ids[i];
        } else if (q->ids[i] == WORD_LOOKUP) {
            q->ids[i] = q->hit[i] ? record_match(record_at(m, entry_record(q->hit[i])), g->w[i], g->wl[i]) : -1;
            if (q->ids[i] < 0 && q->hit[i]) q->ids[i] = vocab_find(m, g->w[i], g->wl[i], q->hash[i]);
        }
        if (q->ids[i] < 0)
            return perr(p, "word %s of this %d-gram is not among the 1-grams", shown(g->w[i], g->wl[i], b, sizeof b), n);
    }
    const int32_t *ids = q->ids;
    uint64_t *sfx = q->sfx, *ctx = q->ctx;
    sfx[1] = key_first(ids[n - 1]);
    ctx[1] = key_first(ids[n - 2]);
    for (int k = 2; k <= n; k++) sfx[k] = key_extend(sfx[k - 1], ids[n - k]);
    for (int k = 2; k < n; k++) ctx[k] = key_extend(ctx[k - 1], ids[n - 1 - k]);
    table_prefetch(&m->tables[n], sfx[n]);
    if (n >= 3) {
        table_prefetch(&m->tables[n - 1], sfx[n - 1]);
        table_prefetch(&m->tables[n - 1], ctx[n - 1]);
    }
    return RD_OK;
}

static rd_status add_ngram(parser *p, int n, const pending *q) {
    arpa_model *m = p->m;
    char b[80];
    probe_table *t = &m->tables[n];
    if (!table_reserve(t)) return nomem(p);
    /* blanks go to lower orders only, so e stays where it is */
    unsigned char *e = table_claim(t, q->sfx[n], 0);
    if (!e) return perr(p, "duplicate %d-gram %s", n, shown(p->line, p->len, b, sizeof b));
    *entry_prob(e) = ln_prob(q->g.prob);
    if (n < m->order) *entry_backoff(e) = ln_backoff(&q->g);
    if (n >= 3) RD_TRY(add_blanks(p, q->ids, n, q->sfx, q->ctx));
    float *bo = context_backoff(m, q->ids, n, q->ctx, n - 1);
    if (!bo)
        return perr(p, "the context of this %d-gram is not a %d-gram: %s", n, n - 1, shown(p->line, p->len, b, sizeof b));
    set_extended(bo);
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

/* Reads the i-th line of section n into q, split. */
static rd_status read_ngram(parser *p, int n, long i, pending *q) {
    if (!next_line(p) || blank_line(p->line, p->len) || p->line[0] == '\\') return short_section(p, n, i);
    q->line = p->line;
    q->len = p->len;
    q->lineno = p->lineno;
    return split_ngram(p, n, &q->g);
}

/* Points p's line (for messages) at q's. */
static void at_line(parser *p, const pending *q) {
    p->line = q->line;
    p->len = q->len;
    p->lineno = q->lineno;
}

/* The n-grams go in batches: the lines of a batch are read, their words
 * resolved and their table buckets prefetched (three steps, see
 * words_hash), then they are inserted in order. An error ends a batch at
 * its line and is returned after the lines before it went in (whose own
 * errors come first): the errors are those of a line-by-line parse. */
#define BATCH 16

/* Reads and resolves up to BATCH lines from the i-th into q; *k gets how
 * many are ready, and the status is that of line *k (RD_OK if none failed). */
static rd_status read_batch(parser *p, int n, long i, pending *q, pending *last, int *k) {
    int want = n == 1 ? 1 : BATCH, got = 0;
    long left = p->m->counts[n] - i;
    rd_status st = RD_OK;
    for (; got < want && got < left; got++) {
        if ((st = read_ngram(p, n, i + got, &q[got])) != RD_OK) break;
        if (n > 1) words_hash(p, n, &q[got], got ? &q[got - 1] : last);
    }
    *k = got;
    if (n == 1) return st;
    for (int j = 0; j < got; j++) words_probe(p->m, n, &q[j]);
    pending here = {.line = p->line, .len = p->len, .lineno = p->lineno};
    for (int j = 0; j < got; j++) {
        at_line(p, &q[j]);
        rd_status rs = words_resolve(p, n, &q[j], j ? &q[j - 1] : last);
        if (rs != RD_OK) {
            *k = j;
            return rs;
        }
    }
    at_line(p, &here);
    return st;
}

static rd_status parse_section(parser *p, int n) {
    RD_TRY(expect_section_header(p, n));
    pending q[BATCH], last;
    int have_last = 0;
    for (long i = 0; i < p->m->counts[n];) {
        int k;
        rd_status read = read_batch(p, n, i, q, have_last ? &last : NULL, &k);
        pending here = {.line = p->line, .len = p->len, .lineno = p->lineno};
        for (int j = 0; j < k; j++) {
            at_line(p, &q[j]);
            RD_TRY(n == 1 ? add_unigram(p, &q[j].g) : add_ngram(p, n, &q[j]));
        }
        at_line(p, &here);
        RD_TRY(read);
        i += k;
        last = q[k - 1];
        have_last = 1;
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

static rd_status parse_model(const char *buf, size_t n, const char *name, size_t max_bytes, int mapped,
                             arpa_model **out, rd_error *err) {
    *out = NULL;
    arpa_model *m = calloc(1, sizeof *m);
    if (!m) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory loading the model", name);
    m->unk = 0;
    parser p = {.name = name, .size = n, .max_bytes = max_bytes, .err = err, .m = m};
    if (mapped) p.map = buf;
    rd_line_iter_init(&p.it, buf, n);
    rd_status st = parse_header(&p);
    if (st == RD_OK) st = allocate(&p);
    for (int k = 1; st == RD_OK && k <= m->order; k++) st = parse_section(&p, k);
    if (st == RD_OK) st = parse_end(&p);
    if (st == RD_OK && max_bytes && arpa_memory(m) > max_bytes) /* tables outgrown by blanks */
        st = rd_fail(err, RD_ERR_NOMEM, "%s: the model takes %zu bytes, over the limit of %zu", name, arpa_memory(m),
                     max_bytes);
    if (st != RD_OK) {
        arpa_free(m);
        return st;
    }
    *out = m;
    return RD_OK;
}

rd_status arpa_parse(const char *buf, size_t n, const char *name, arpa_model **out, rd_error *err) {
    return parse_model(buf, n, name, 0, 0, out, err);
}

/* Reads a file that cannot be mapped (stdin, a pipe, an empty file). */
static rd_status load_read(const char *path, size_t max_bytes, arpa_model **out, rd_error *err) {
    rd_text t;
    RD_TRY(rd_text_read(path, &t, err));
    rd_status st = parse_model(t.data, t.size, path, max_bytes, 0, out, err);
    rd_text_free(&t);
    return st;
}

rd_status arpa_load_limited(const char *path, size_t max_bytes, arpa_model **out, rd_error *err) {
    *out = NULL;
    struct stat sb;
    /* stat, not open: opening a pipe twice would lose what it held */
    if (strcmp(path, "-") == 0 || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
        (uintmax_t)sb.st_size > SIZE_MAX)
        return load_read(path, max_bytes, out, err);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[8];
    ssize_t got = pread(fd, magic, sizeof magic, 0);
    if (got == (ssize_t)sizeof magic && memcmp(magic, "mmap lm ", 8) == 0) {
        close(fd);
        return rd_fail(err, RD_ERR_INPUT, "%s: KenLM binary: give the ARPA file (build_binary's output cannot be "
                       "read; .arpa, .arpa.gz, .arpa.xz and .arpa.bz2 can)", path);
    }
    rd_compression comp = got > 0 ? rd_compression_of(magic, (size_t)got) : RD_PLAIN;
    if (comp != RD_PLAIN) { /* .arpa.gz, .arpa.xz, .arpa.bz2: decompressed whole, then parsed */
        close(fd);
        rd_text t;
        RD_TRY(rd_decompress_file(path, comp, 0, &t, err)); /* text, not the model: not counted */
        rd_status st = parse_model(t.data, t.size, path, max_bytes, 0, out, err);
        rd_text_free(&t);
        return st;
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return load_read(path, max_bytes, out, err);
#ifdef MADV_SEQUENTIAL
    madvise(map, size, MADV_SEQUENTIAL);
#endif
#ifdef MADV_NOHUGEPAGE
    madvise(map, size, MADV_NOHUGEPAGE); /* 2 MiB at a fault would outlast release_read_pages */
#endif
    rd_status st = parse_model(map, size, path, max_bytes, 1, out, err);
    munmap(map, size);
    return st;
}

rd_status arpa_load(const char *path, arpa_model **out, rd_error *err) { return arpa_load_limited(path, 0, out, err); }

void arpa_free(arpa_model *m) {
    if (!m) return;
    for (int n = 2; n <= ARPA_MAX_ORDER; n++)
        if (m->tables[n].owned) free(m->tables[n].e);
    block_free(m->block, m->block_bytes, m->block_mapped);
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
    return record_at(m, m->word_record[id]) + RECORD_HEAD;
}

size_t arpa_memory(const arpa_model *m) {
    size_t bytes = sizeof *m + m->block_bytes;
    for (int n = 2; n <= m->order; n++)
        if (m->tables[n].owned) bytes += m->tables[n].cap * m->tables[n].stride;
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
            unsigned char *e = table_find(&m->tables[k], h);
            if (e) sum += *entry_backoff(e);
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
        unsigned char *e = table_find(&m->tables[k + 1], h);
        if (!e) break;
        prob = *entry_prob(e);
        match = k + 1;
        if (match < m->order && keeps_state(*entry_backoff(e))) keep = match;
    }
    if (len >= match) prob += context_backoffs(m, ctx, match, len);
    out->words[0] = word;
    for (int k = 1; k < keep; k++) out->words[k] = ctx[k - 1];
    out->length = keep;
    if (ngram_len) *ngram_len = match;
    return prob;
}
