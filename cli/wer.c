/* cli/wer.c - utt_id<TAB>text files, text normalization, Levenshtein
 * alignment with backtrace, error counts and their output formats. */
#include "cli/wer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "common/hash.h"
#include "common/text.h"

/* ---------- small helpers ---------- */

static int is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

static uint32_t hash_bytes(const char *s, size_t n) {
    return rd_fnv1a32(RD_FNV32_OFFSET, s, n);
}

/* Decodes one code point of valid UTF-8 at s (n > 0 bytes left); returns its
 * length in bytes. Input is validated before it gets here. */
static int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    int k = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    if ((size_t)k >= n) k = 0; /* defensive: never read past the end */
    uint32_t v = k == 0 ? c : k == 1 ? (c & 0x1F) : k == 2 ? (c & 0x0F) : (c & 0x07);
    for (int j = 1; j <= k; j++) v = (v << 6) | (s[j] & 0x3F);
    *cp = v;
    return k + 1;
}

static int utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Grows *p to hold at least n elements of size sz; keeps the contents. */
static int grow(void **p, size_t *cap, size_t n, size_t sz) {
    if (n <= *cap) return 1;
    size_t c = *cap ? *cap : 16;
    while (c < n) c *= 2;
    void *q = realloc(*p, c * sz);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

/* ---------- files ---------- */

void wer_file_free(wer_file *f) {
    if (!f) return;
    free(f->name);
    free(f->buf);
    free(f->utts);
    free(f->slots);
    memset(f, 0, sizeof *f);
}

/* Slot of id in the index: where it is, or the empty slot where it would go. */
static size_t index_slot(const wer_file *f, const char *id) {
    size_t mask = f->nslots - 1;
    size_t i = hash_bytes(id, strlen(id)) & mask;
    while (f->slots[i] && strcmp(f->utts[f->slots[i] - 1].id, id) != 0) i = (i + 1) & mask;
    return i;
}

const wer_utt *wer_file_find(const wer_file *f, const char *id) {
    if (!f->nslots) return NULL;
    uint32_t k = f->slots[index_slot(f, id)];
    return k ? &f->utts[k - 1] : NULL;
}

static size_t count_lines(const char *buf, size_t size) {
    size_t n = 1;
    for (const char *p = buf; (p = memchr(p, '\n', size - (size_t)(p - buf))) != NULL; p++) n++;
    return n;
}

static int all_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!is_space((unsigned char)s[i])) return 0;
    return 1;
}

/* Cuts one non-blank line (valid UTF-8, no NUL) in place into id and text. */
static rd_status parse_line(wer_file *f, char *line, size_t len, long lineno, rd_error *err) {
    if (is_space((unsigned char)line[0]))
        return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected utt_id<TAB>text", f->name, lineno);
    size_t id_end = 0;
    while (id_end < len && line[id_end] != ' ' && line[id_end] != '\t') id_end++;
    size_t t0 = id_end, t1 = len;
    while (t0 < len && is_space((unsigned char)line[t0])) t0++;
    while (t1 > t0 && is_space((unsigned char)line[t1 - 1])) t1--;
    line[t1] = '\0';
    line[id_end] = '\0';
    wer_utt *u = &f->utts[f->n];
    u->id = line;
    u->text = line + t0;
    u->line = lineno;
    size_t slot = index_slot(f, u->id);
    if (f->slots[slot]) {
        const wer_utt *first = &f->utts[f->slots[slot] - 1];
        return rd_fail(err, RD_ERR_INPUT, "%s:%ld: duplicate utterance id '%s' (first on line %ld)",
                       f->name, lineno, u->id, first->line);
    }
    f->slots[slot] = (uint32_t)(++f->n);
    return RD_OK;
}

static rd_status parse_lines(wer_file *f, size_t size, rd_error *err) {
    rd_line_iter it;
    rd_line_iter_init(&it, f->buf, size);
    const char *line;
    size_t len;
    while (rd_line_next(&it, &line, &len)) {
        if (memchr(line, '\0', len))
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: unexpected NUL byte", f->name, it.lineno);
        if (!rd_utf8_valid(line, len))
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected UTF-8 text (invalid byte sequence)",
                           f->name, it.lineno);
        if (all_space(line, len)) continue;
        RD_TRY(parse_line(f, f->buf + (line - f->buf), len, it.lineno, err));
    }
    return RD_OK;
}

/* Takes ownership of buf (size bytes, buf[size] == '\0'). */
static rd_status parse_owned(char *buf, size_t size, const char *name, wer_file *out, rd_error *err) {
    memset(out, 0, sizeof *out);
    out->buf = buf;
    out->name = strdup(name);
    size_t lines = count_lines(buf, size);
    if (lines > UINT32_MAX / 4) {
        wer_file_free(out);
        return rd_fail(err, RD_ERR_INPUT, "%s: too many lines (%zu)", name, lines);
    }
    out->nslots = 16;
    while (out->nslots < 2 * lines) out->nslots *= 2;
    out->utts = malloc(lines * sizeof *out->utts);
    out->slots = calloc(out->nslots, sizeof *out->slots);
    if (!out->name || !out->utts || !out->slots) {
        wer_file_free(out);
        return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", name);
    }
    rd_status st = parse_lines(out, size, err);
    if (st != RD_OK) wer_file_free(out);
    return st;
}

rd_status wer_file_parse(const char *buf, size_t size, const char *name, wer_file *out,
                         rd_error *err) {
    memset(out, 0, sizeof *out);
    char *copy = malloc(size + 1);
    if (!copy) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", name);
    if (size) memcpy(copy, buf, size);
    copy[size] = '\0';
    return parse_owned(copy, size, name, out, err);
}

rd_status wer_file_read(const char *path, wer_file *out, rd_error *err) {
    memset(out, 0, sizeof *out);
    rd_text t;
    RD_TRY(rd_text_read(path, &t, err));
    return parse_owned(t.data, t.size, path, out, err);
}

/* ---------- normalization and tokens ---------- */

static int is_punct(uint32_t c) {
    if (c < 0x80) return c != '\'' && ((c >= '!' && c <= '/') || (c >= ':' && c <= '@') ||
                                       (c >= '[' && c <= '`') || (c >= '{' && c <= '~'));
    if (c == 0xA1 || c == 0xAB || c == 0xBB || c == 0xBF) return 1;
    if (c >= 0x2010 && c <= 0x2027) return c != 0x2019;
    if (c >= 0x3001 && c <= 0x3003) return 1;
    if (c >= 0x3008 && c <= 0x3011) return 1;
    if (c >= 0x3014 && c <= 0x301F) return 1;
    if (c >= 0xFF01 && c <= 0xFF0F) return 1;
    if (c >= 0xFF1A && c <= 0xFF20) return 1;
    if (c >= 0xFF3B && c <= 0xFF40) return 1;
    return c >= 0xFF5B && c <= 0xFF65;
}

/* Simple lowercase for ASCII, Latin-1, Greek and Cyrillic capitals. */
static uint32_t fold_case(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    return c;
}

typedef struct wer_side {
    char *norm;          /* normalized text, words NUL-terminated in place */
    size_t norm_cap;
    wer_token *words, *chars;
    size_t words_cap, chars_cap;
    size_t n_words, n_chars;
} wer_side;

struct wer_scorer {
    wer_options opt;
    wer_side ref, hyp;
    uint8_t *back;       /* (n+1)*(m+1) backpointers, one byte a cell */
    size_t back_cap;
    uint32_t *rows;      /* two DP rows */
    size_t rows_cap;
    wer_step *steps;
    size_t steps_cap;
};

/* Writes the normalized text into side->norm; returns its length. */
static size_t normalize(const wer_options *o, const char *text, size_t n, char *out) {
    if (!o->case_insensitive && !o->remove_punct) {
        memcpy(out, text, n);
        return n;
    }
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, k = 0;
    while (i < n) {
        uint32_t cp;
        i += (size_t)utf8_decode(s + i, n - i, &cp);
        if (o->remove_punct && is_punct(cp)) continue;
        if (o->case_insensitive) cp = fold_case(cp);
        k += (size_t)utf8_encode(cp, out + k);
    }
    return k;
}

/* Code points; spaces are left out, or with count_spaces each run of them
 * between two words is one ' ' token. */
static void tokenize_chars(wer_side *sd, size_t len, int count_spaces) {
    const unsigned char *s = (const unsigned char *)sd->norm;
    sd->n_chars = 0;
    size_t space = 0; /* 1 + offset of the pending space run's first byte, 0 if none */
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_decode(s + i, len - i, &cp);
        if (is_space(s[i])) {
            if (count_spaces && sd->n_chars && !space) space = i + 1;
        } else {
            if (space) {
                wer_token *t = &sd->chars[sd->n_chars++];
                t->s = " ";
                t->len = 1;
                t->hash = hash_bytes(" ", 1);
                space = 0;
            }
            wer_token *t = &sd->chars[sd->n_chars++];
            t->s = sd->norm + i;
            t->len = (uint32_t)k;
            t->hash = hash_bytes(t->s, (size_t)k);
        }
        i += (size_t)k;
    }
}

/* Cuts norm[0..len) at spaces, NUL-terminating each word in place. */
static void tokenize_words(wer_side *sd, size_t len) {
    char *s = sd->norm;
    sd->n_words = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space((unsigned char)s[i])) i++;
        if (i >= len) break;
        size_t j = i;
        while (j < len && !is_space((unsigned char)s[j])) j++;
        wer_token *t = &sd->words[sd->n_words++];
        t->s = s + i;
        t->len = (uint32_t)(j - i);
        t->hash = hash_bytes(t->s, j - i);
        s[j] = '\0';
        i = j + 1;
    }
}

static rd_status prepare_side(const wer_options *o, wer_side *sd, const char *text, size_t n,
                              rd_error *err) {
    if (memchr(text, '\0', n)) return rd_fail(err, RD_ERR_INPUT, "unexpected NUL byte");
    if (!rd_utf8_valid(text, n))
        return rd_fail(err, RD_ERR_INPUT, "expected UTF-8 text (invalid byte sequence)");
    if (n > UINT32_MAX) return rd_fail(err, RD_ERR_INPUT, "text longer than 4 GiB");
    size_t need = n ? n : 1;
    if (!grow((void **)&sd->norm, &sd->norm_cap, n + 1, 1) ||
        !grow((void **)&sd->words, &sd->words_cap, need, sizeof(wer_token)) ||
        !grow((void **)&sd->chars, &sd->chars_cap, need, sizeof(wer_token)))
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for a text of %zu bytes", n);
    size_t len = normalize(o, text, n, sd->norm);
    sd->norm[len] = '\0';
    tokenize_chars(sd, len, o->count_spaces);
    tokenize_words(sd, len);
    return RD_OK;
}

/* ---------- alignment ---------- */

enum { BACK_C, BACK_S, BACK_D, BACK_I };

static int token_eq(const wer_token *a, const wer_token *b) {
    return a->hash == b->hash && a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

/* Fills the backpointer matrix (row-major, m+1 columns) of the Levenshtein DP. */
static void fill_dp(wer_scorer *s, const wer_token *r, size_t n, const wer_token *h, size_t m) {
    uint32_t *prev = s->rows, *cur = s->rows + (m + 1);
    uint8_t *back = s->back;
    for (size_t j = 0; j <= m; j++) {
        prev[j] = (uint32_t)j;
        back[j] = BACK_I;
    }
    for (size_t i = 1; i <= n; i++) {
        uint8_t *b = back + i * (m + 1);
        cur[0] = (uint32_t)i;
        b[0] = BACK_D;
        for (size_t j = 1; j <= m; j++) {
            int eq = token_eq(&r[i - 1], &h[j - 1]);
            uint32_t best = prev[j - 1] + (eq ? 0u : 1u);
            uint8_t op = eq ? BACK_C : BACK_S;
            if (prev[j] + 1 < best) { best = prev[j] + 1; op = BACK_D; }
            if (cur[j - 1] + 1 < best) { best = cur[j - 1] + 1; op = BACK_I; }
            cur[j] = best;
            b[j] = op;
        }
        uint32_t *t = prev;
        prev = cur;
        cur = t;
    }
}

/* Walks the backpointers from (n, m), counting ops; writes the steps in order
 * into s->steps when steps is set, and returns how many. */
static size_t backtrace(wer_scorer *s, size_t n, size_t m, int steps, wer_counts *c) {
    static const char op_char[] = {WER_OP_C, WER_OP_S, WER_OP_D, WER_OP_I};
    size_t i = n, j = m, k = 0;
    while (i > 0 || j > 0) {
        uint8_t op = i == 0 ? BACK_I : s->back[i * (m + 1) + j];
        if (steps) {
            wer_step *st = &s->steps[k];
            st->op = op_char[op];
            st->ref = op == BACK_I ? -1 : (int32_t)(i - 1);
            st->hyp = op == BACK_D ? -1 : (int32_t)(j - 1);
        }
        k++;
        if (op == BACK_S) c->sub++;
        else if (op == BACK_D) c->del++;
        else if (op == BACK_I) c->ins++;
        if (op != BACK_I) i--;
        if (op != BACK_D) j--;
    }
    for (size_t a = 0; steps && a < k / 2; a++) {
        wer_step t = s->steps[a];
        s->steps[a] = s->steps[k - 1 - a];
        s->steps[k - 1 - a] = t;
    }
    return k;
}

/* Aligns h against r into *c (and s->steps when steps is set). */
static rd_status align(wer_scorer *s, const wer_token *r, size_t n, const wer_token *h, size_t m,
                       int steps, wer_counts *c, size_t *n_steps, rd_error *err) {
    memset(c, 0, sizeof *c);
    c->ref = (long)n;
    c->hyp = (long)m;
    if (n >= INT32_MAX || m >= INT32_MAX || (m + 1) > WER_MAX_CELLS / (n + 1))
        return rd_fail(err, RD_ERR_NOMEM, "utterance too long to align: %zu x %zu tokens (limit %zu cells)",
                       n, m, (size_t)WER_MAX_CELLS);
    if (!grow((void **)&s->back, &s->back_cap, (n + 1) * (m + 1), 1) ||
        !grow((void **)&s->rows, &s->rows_cap, 2 * (m + 1), sizeof(uint32_t)) ||
        (steps && !grow((void **)&s->steps, &s->steps_cap, n + m + 1, sizeof(wer_step))))
        return rd_fail(err, RD_ERR_NOMEM, "out of memory aligning %zu x %zu tokens", n, m);
    fill_dp(s, r, n, h, m);
    size_t k = backtrace(s, n, m, steps, c);
    if (n_steps) *n_steps = k;
    return RD_OK;
}

double wer_rate_percent(const wer_counts *c) {
    long e = c->ins + c->del + c->sub;
    if (c->ref == 0) return e == 0 ? 0.0 : NAN;
    return 100.0 * (double)e / (double)c->ref;
}

/* ---------- scoring ---------- */

rd_status wer_scorer_create(const wer_options *opt, wer_scorer **out, rd_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return rd_fail(err, RD_ERR_NOMEM, "out of memory");
    if (opt) (*out)->opt = *opt;
    return RD_OK;
}

static void side_free(wer_side *sd) {
    free(sd->norm);
    free(sd->words);
    free(sd->chars);
}

void wer_scorer_free(wer_scorer *s) {
    if (!s) return;
    side_free(&s->ref);
    side_free(&s->hyp);
    free(s->back);
    free(s->rows);
    free(s->steps);
    free(s);
}

rd_status wer_score_text(wer_scorer *s, const char *ref, size_t rn, const char *hyp, size_t hn,
                         wer_utt_result *out, rd_error *err) {
    memset(out, 0, sizeof *out);
    RD_TRY(prepare_side(&s->opt, &s->ref, ref, rn, err));
    RD_TRY(prepare_side(&s->opt, &s->hyp, hyp, hn, err));
    wer_side *R = &s->ref, *H = &s->hyp;
    RD_TRY(align(s, R->chars, R->n_chars, H->chars, H->n_chars, 0, &out->chars, NULL, err));
    RD_TRY(align(s, R->words, R->n_words, H->words, H->n_words, 1, &out->words, &out->n_steps, err));
    out->ref_words = R->words;
    out->n_ref_words = R->n_words;
    out->hyp_words = H->words;
    out->n_hyp_words = H->n_words;
    out->steps = s->steps;
    return RD_OK;
}

static void counts_add(wer_counts *a, const wer_counts *b) {
    a->ref += b->ref;
    a->hyp += b->hyp;
    a->ins += b->ins;
    a->del += b->del;
    a->sub += b->sub;
}

static rd_status score_ref_utt(wer_scorer *s, const wer_file *ref, const wer_utt *r,
                               const wer_file *hyp, wer_utt_result *res, rd_error *err) {
    const wer_utt *h = wer_file_find(hyp, r->id);
    const char *ht = h ? h->text : "";
    rd_status st = wer_score_text(s, r->text, strlen(r->text), ht, strlen(ht), res, err);
    if (st != RD_OK) {
        char where[512];
        snprintf(where, sizeof where, "%s:%ld", ref->name, r->line);
        rd_error_prefix(err, where);
        return st;
    }
    res->ref = r;
    res->hyp = h;
    return RD_OK;
}

rd_status wer_score_files(wer_scorer *s, const wer_file *ref, const wer_file *hyp,
                          wer_utt_fn fn, void *ctx, wer_summary *out, rd_error *err) {
    memset(out, 0, sizeof *out);
    wer_utt_result res;
    for (size_t i = 0; i < ref->n; i++) {
        RD_TRY(score_ref_utt(s, ref, &ref->utts[i], hyp, &res, err));
        counts_add(&out->words, &res.words);
        counts_add(&out->chars, &res.chars);
        out->scored++;
        out->sent_err += res.words.ins + res.words.del + res.words.sub > 0;
        if (!res.hyp) out->missing++;
        if (fn) RD_TRY(fn(ctx, &res, err));
    }
    for (size_t i = 0; i < hyp->n; i++) {
        if (wer_file_find(ref, hyp->utts[i].id)) continue;
        out->extra++;
        memset(&res, 0, sizeof res);
        res.hyp = &hyp->utts[i];
        if (fn) RD_TRY(fn(ctx, &res, err));
    }
    return RD_OK;
}

/* ---------- output ---------- */

void wer_format_counts(char *buf, size_t n, const char *label, const wer_counts *c) {
    double r = wer_rate_percent(c);
    char rate[32];
    if (isnan(r)) snprintf(rate, sizeof rate, "n/a");
    else snprintf(rate, sizeof rate, "%.2f%%", r);
    snprintf(buf, n, "%s %s [ %ld / %ld, %ld ins, %ld del, %ld sub ]", label, rate,
             c->ins + c->del + c->sub, c->ref, c->ins, c->del, c->sub);
}

int wer_format_note(char *buf, size_t n, const wer_utt_result *r, const wer_file *ref,
                    const wer_file *hyp) {
    if (r->ref && !r->hyp) {
        snprintf(buf, n, "%s: missing utterance %s (counted as %ld deletion%s)", hyp->name,
                 r->ref->id, r->words.del, r->words.del == 1 ? "" : "s");
        return 1;
    }
    if (!r->ref && r->hyp) {
        snprintf(buf, n, "%s:%ld: utterance %s is not in %s (ignored)", hyp->name, r->hyp->line,
                 r->hyp->id, ref->name);
        return 1;
    }
    return 0;
}

/* Kaldi compute-wer's "%WER 12.34 [ 56 / 454, 3 ins, 10 del, 43 sub ]". */
static void print_kaldi_counts(FILE *out, const char *label, const wer_counts *c) {
    double r = wer_rate_percent(c);
    if (isnan(r)) fprintf(out, "%%%s n/a", label);
    else fprintf(out, "%%%s %.2f", label, r);
    fprintf(out, " [ %ld / %ld, %ld ins, %ld del, %ld sub ]\n", c->ins + c->del + c->sub, c->ref, c->ins, c->del,
            c->sub);
}

void wer_print_summary_text(FILE *out, const wer_summary *s) {
    print_kaldi_counts(out, "WER", &s->words);
    print_kaldi_counts(out, "CER", &s->chars);
    fprintf(out, "%%SER %.2f [ %ld / %ld ]\n", s->scored ? 100.0 * (double)s->sent_err / (double)s->scored : 0.0,
            s->sent_err, s->scored);
    fprintf(out, "Scored %ld sentences, %ld not present in hyp.\n", s->scored, s->missing);
}

/* Terminal columns of a UTF-8 string: East Asian wide characters take two,
 * combining diacritics none, everything else one. */
static int display_width(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str), i = 0;
    int w = 0;
    while (i < n) {
        uint32_t c;
        i += (size_t)utf8_decode(s + i, n - i, &c);
        if (c >= 0x300 && c <= 0x36F) continue;
        int wide = (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) ||
                   (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
                   (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
                   (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
                   (c >= 0x20000 && c <= 0x3FFFD);
        w += wide ? 2 : 1;
    }
    return w;
}

/* A line of padded columns; spaces are held back so lines never end in one. */
typedef struct col_line {
    FILE *out;
    int pending;
} col_line;

static void col_put(col_line *l, const char *s, int colw) {
    int w = display_width(s);
    if (*s) {
        fprintf(l->out, "%*s%s", l->pending, "", s);
        l->pending = 0;
    }
    l->pending += colw - w + 1;
}

static const char *step_token(const wer_token *t, int32_t i) {
    return i < 0 ? "***" : t[i].s;
}

static int column_width(const wer_utt_result *r, size_t k) {
    const wer_step *st = &r->steps[k];
    int a = display_width(step_token(r->ref_words, st->ref));
    int b = display_width(step_token(r->hyp_words, st->hyp));
    return a > b ? a : b;
}

/* Row 0: reference words, 1: hypothesis words, 2: ops (blank for a match). */
static void print_row(FILE *out, const wer_utt_result *r, int row) {
    static const char *label[] = {"REF:", "HYP:", "OP:"};
    col_line l = {out, row == 2 ? 2 : 1};
    fputs(label[row], out);
    for (size_t k = 0; k < r->n_steps; k++) {
        const wer_step *st = &r->steps[k];
        char op[2] = {st->op == WER_OP_C ? '\0' : st->op, '\0'};
        const char *s = row == 0 ? step_token(r->ref_words, st->ref)
                      : row == 1 ? step_token(r->hyp_words, st->hyp) : op;
        col_put(&l, s, column_width(r, k));
    }
    fputc('\n', out);
}

void wer_print_utt_text(FILE *out, const wer_utt_result *r) {
    if (!r->ref) return;
    char w[256], c[256];
    wer_format_counts(w, sizeof w, "WER", &r->words);
    wer_format_counts(c, sizeof c, "CER", &r->chars);
    fprintf(out, "%s %s %s%s\n", r->ref->id, w, c, r->hyp ? "" : " (missing from hyp)");
    for (int row = 0; row < 3; row++) print_row(out, r, row);
    fputc('\n', out);
}

static void json_counts(FILE *out, const wer_counts *c) {
    fprintf(out, "{\"ref\":%ld,\"hyp\":%ld,\"errors\":%ld,\"ins\":%ld,\"del\":%ld,\"sub\":%ld}",
            c->ref, c->hyp, c->ins + c->del + c->sub, c->ins, c->del, c->sub);
}

/* "wer":W,"cer":C,"words":{...},"chars":{...} with rates as fractions. */
static void json_rates(FILE *out, const wer_counts *words, const wer_counts *chars) {
    fputs("\"wer\":", out);
    cli_json_float(out, wer_rate_percent(words) / 100.0);
    fputs(",\"cer\":", out);
    cli_json_float(out, wer_rate_percent(chars) / 100.0);
    fputs(",\"words\":", out);
    json_counts(out, words);
    fputs(",\"chars\":", out);
    json_counts(out, chars);
}

static void json_token(FILE *out, const wer_token *t, int32_t i) {
    if (i < 0) fputs("null", out);
    else cli_json_string(out, t[i].s);
}

void wer_print_utt_json(FILE *out, const wer_utt_result *r) {
    if (!r->ref) return;
    fputs("{\"id\":", out);
    cli_json_string(out, r->ref->id);
    fputs(",\"ref\":", out);
    cli_json_string(out, r->ref->text);
    fputs(",\"hyp\":", out);
    if (r->hyp) cli_json_string(out, r->hyp->text);
    else fputs("null", out);
    fputc(',', out);
    json_rates(out, &r->words, &r->chars);
    fputs(",\"alignment\":[", out);
    for (size_t k = 0; k < r->n_steps; k++) {
        const wer_step *st = &r->steps[k];
        fprintf(out, "%s{\"op\":\"%c\",\"ref\":", k ? "," : "", st->op);
        json_token(out, r->ref_words, st->ref);
        fputs(",\"hyp\":", out);
        json_token(out, r->hyp_words, st->hyp);
        fputc('}', out);
    }
    fputs("]}", out);
}

void wer_print_summary_json(FILE *out, const wer_summary *s, const char *details_json) {
    fputc('{', out);
    json_rates(out, &s->words, &s->chars);
    fprintf(out, ",\"utterances\":{\"scored\":%ld,\"missing\":%ld,\"extra\":%ld,\"with_errors\":%ld}", s->scored,
            s->missing, s->extra, s->sent_err);
    if (details_json) fprintf(out, ",\"details\":[%s]", details_json);
    fputs("}\n", out);
}
