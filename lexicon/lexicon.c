/* lexicon/lexicon.c - lexicon files (plain, flashlight, CMUdict, lexiconp,
 * Rime) into the word vocabulary and the pronunciation list; trie.c turns
 * the list into the trie. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/text.h"
#include "lexicon/lexicon_impl.h"

typedef enum lex_format { LEX_PLAIN, LEX_PROB, LEX_RIME } lex_format;

typedef struct lex_field {
    const char *s;
    size_t n;
} lex_field;

typedef struct lex_parser {
    const char *name;
    const lex_units *u;
    lex_lexicon *l;
    lex_format format;
    long lineno;
    int32_t *pool; /* unit ids of every kept pronunciation */
    size_t pool_n, pool_cap;
    lex_entry *ent;
    size_t n_ent, ent_cap;
    lex_field *field; /* the current line's unit fields */
    size_t field_cap;
    lex_load_stats stats;
    const lex_extra *extra;
    int n_extra;
} lex_parser;

/* ---------- format detection ---------- */

static int lex_is_comment(const char *s, size_t n) {
    const char *f[1];
    size_t fl[1];
    if (rd_split_ws(s, n, f, fl, 1) == 0) return 1;
    return s[0] == '#' || (n >= 3 && memcmp(s, ";;;", 3) == 0);
}

static int lex_line_is(const char *s, size_t n, const char *what) {
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    return n == strlen(what) && memcmp(s, what, n) == 0;
}

/* lexiconp: every line has a word, a probability in (0, 1] and a unit. */
static int lex_has_prob_column(const char *buf, size_t n) {
    rd_line_iter it;
    rd_line_iter_init(&it, buf, n);
    const char *line, *f[3];
    size_t len, fl[3];
    int any = 0;
    while (rd_line_next(&it, &line, &len)) {
        if (lex_is_comment(line, len)) continue;
        double p;
        if (rd_split_ws(line, len, f, fl, 3) < 3 || !rd_parse_double(f[1], fl[1], &p) ||
            !(p > 0 && p <= 1))
            return 0;
        any = 1;
    }
    return any;
}

/* Rime: the first line that is not a comment is "---"; the data starts
 * after the line "...". Sets *skip to the number of header lines. */
static rd_status lex_detect(const char *buf, size_t n, const char *name, lex_format *fmt,
                            long *skip, rd_error *err) {
    rd_line_iter it;
    rd_line_iter_init(&it, buf, n);
    const char *line;
    size_t len;
    *skip = 0;
    *fmt = LEX_PLAIN;
    while (rd_line_next(&it, &line, &len) && lex_is_comment(line, len)) {}
    if (it.lineno == 0 || !lex_line_is(line, len, "---")) {
        if (lex_has_prob_column(buf, n)) *fmt = LEX_PROB;
        return RD_OK;
    }
    long start = it.lineno;
    while (rd_line_next(&it, &line, &len))
        if (lex_line_is(line, len, "...")) {
            *fmt = LEX_RIME;
            *skip = it.lineno;
            return RD_OK;
        }
    return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected '...' to end the yaml header started here",
                   name, start);
}

/* ---------- growing arrays ---------- */

static int lex_grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 256;
    while (c < need) {
        if (c > SIZE_MAX / 2) return 0;
        c *= 2;
    }
    void *q = rd_realloc_array(*p, c, size);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static rd_status lex_nomem(const lex_parser *p, rd_error *err) {
    return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", p->name);
}

/* ---------- one line ---------- */

static rd_status lex_bad(const lex_parser *p, rd_error *err, const char *what) {
    return rd_fail_at(err, RD_ERR_INPUT, p->name, p->lineno, "expected %s", what);
}

/* Splits s[0..n) at spaces/tabs into p->field; returns the count or -1. */
static long lex_split(lex_parser *p, const char *s, size_t n) {
    size_t k = 0, i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i >= n) break;
        size_t j = i;
        while (j < n && s[j] != ' ' && s[j] != '\t') j++;
        if (!lex_grow((void **)&p->field, &p->field_cap, k + 1, sizeof *p->field)) return -1;
        p->field[k].s = s + i;
        p->field[k].n = j - i;
        k++;
        i = j;
    }
    return (long)k;
}

/* CMUdict alternates: "word(2)" is "word". */
static size_t lex_strip_alternate(const char *w, size_t n) {
    if (n < 4 || w[n - 1] != ')') return n;
    size_t i = n - 2;
    while (i > 0 && w[i] >= '0' && w[i] <= '9') i--;
    return (w[i] == '(' && i < n - 2 && i > 0) ? i : n;
}

static int lex_field_is(const lex_field *f, const char *s) {
    return s && f->n == strlen(s) && memcmp(f->s, s, f->n) == 0;
}

/* Drops a trailing word delimiter: the table's own, or flashlight's "|"
 * when the table has no unit "|". Returns the units left. */
static long lex_drop_delimiter(const lex_parser *p, long k) {
    if (k == 0) return 0;
    const lex_field *last = &p->field[k - 1];
    int d = lex_units_delimiter(p->u);
    if ((d >= 0 && lex_field_is(last, lex_units_name(p->u, d))) ||
        (lex_field_is(last, "|") && lex_units_find(p->u, "|", 1) < 0))
        return k - 1;
    return k;
}

static void lex_count_skip(lex_parser *p, const lex_field *f) {
    if (p->stats.skipped++ == 0) {
        size_t n = f->n < sizeof p->stats.first_skipped_unit - 1 ? f->n
                                                                  : sizeof p->stats.first_skipped_unit - 1;
        memcpy(p->stats.first_skipped_unit, f->s, n);
        p->stats.first_skipped_unit[n] = '\0';
        p->stats.first_skipped_line = p->lineno;
    }
}

/* Maps the k unit fields into the pool; 0 when one is not in the table. */
static rd_status lex_map_units(lex_parser *p, long k, int *kept, rd_error *err) {
    *kept = 0;
    if (!lex_grow((void **)&p->pool, &p->pool_cap, p->pool_n + (size_t)k, sizeof *p->pool))
        return lex_nomem(p, err);
    int blank = lex_units_blank(p->u), delim = lex_units_delimiter(p->u);
    for (long i = 0; i < k; i++) {
        int id = lex_units_find(p->u, p->field[i].s, p->field[i].n);
        if (id < 0) {
            lex_count_skip(p, &p->field[i]);
            return RD_OK;
        }
        if (id == blank || id == delim)
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected units, found the %s '%s'", p->name,
                           p->lineno, id == blank ? "blank" : "word delimiter",
                           lex_units_name(p->u, id));
        p->pool[p->pool_n + (size_t)i] = id;
    }
    *kept = 1;
    return RD_OK;
}

/* Adds word w[0..wn) with the k unit fields and value. */
static rd_status lex_add(lex_parser *p, const char *w, size_t wn, long k, float value,
                         rd_error *err) {
    if (memchr(w, '\0', wn) || !rd_utf8_valid(w, wn)) return lex_bad(p, err, "a word in utf-8");
    int kept;
    RD_TRY(lex_map_units(p, k, &kept, err));
    if (!kept) return RD_OK;
    int added;
    int32_t word = rd_strtab_intern(&p->l->words, w, wn, &added);
    if (word < 0 || !lex_grow((void **)&p->ent, &p->ent_cap, p->n_ent + 1, sizeof *p->ent))
        return lex_nomem(p, err);
    if (k >= INT32_MAX) return lex_bad(p, err, "fewer units");
    lex_entry *e = &p->ent[p->n_ent++];
    e->units = NULL;
    e->unit_off = p->pool_n;
    e->n_units = (int32_t)k;
    e->word = word;
    e->value = value;
    p->pool_n += (size_t)k;
    return RD_OK;
}

/* Cuts the fields at an end-of-line comment (a field "#", as in
 * "word W ER D # note") unless "#" is a unit of the table. */
static long lex_cut_comment(const lex_parser *p, long k) {
    if (lex_units_find(p->u, "#", 1) >= 0) return k;
    for (long i = 1; i < k; i++)
        if (p->field[i].n == 1 && p->field[i].s[0] == '#') return i;
    return k;
}

/* plain, flashlight, CMUdict, lexiconp: word [prob] unit unit ... [|] [# comment] */
static rd_status lex_parse_plain(lex_parser *p, const char *line, size_t len, rd_error *err) {
    long k = lex_split(p, line, len);
    if (k < 0) return lex_nomem(p, err);
    k = lex_cut_comment(p, k);
    const char *w = p->field[0].s;
    size_t wn = lex_strip_alternate(w, p->field[0].n);
    float value = 0;
    long first = 1;
    if (p->format == LEX_PROB) {
        double prob = 1;
        if (k < 3) return lex_bad(p, err, "a word, a probability and at least one unit");
        rd_parse_double(p->field[1].s, p->field[1].n, &prob); /* checked by the detection */
        value = (float)log(prob);
        first = 2;
    }
    memmove(p->field, p->field + first, (size_t)(k - first < 0 ? 0 : k - first) * sizeof *p->field);
    k = lex_drop_delimiter(p, k - first < 0 ? 0 : k - first);
    if (k == 0) return lex_bad(p, err, "a word and at least one unit");
    return lex_add(p, w, wn, k, value, err);
}

/* Rime: word<TAB>pin yin[<TAB>weight[<TAB>...]]; a missing weight counts as 1. */
static rd_status lex_parse_rime(lex_parser *p, const char *line, size_t len, rd_error *err) {
    const char *tab1 = memchr(line, '\t', len);
    if (!tab1 || tab1 == line) return lex_bad(p, err, "a word, a tab and its pinyin");
    const char *code = tab1 + 1, *end = line + len;
    const char *tab2 = memchr(code, '\t', (size_t)(end - code));
    const char *code_end = tab2 ? tab2 : end;
    double weight = 1;
    if (tab2) {
        const char *ws = tab2 + 1, *tab3 = memchr(ws, '\t', (size_t)(end - ws));
        size_t wl = (size_t)((tab3 ? tab3 : end) - ws);
        if (!rd_parse_double(ws, wl, &weight) || !(weight >= 0) || !(weight <= FLT_MAX))
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a weight (a number from 0 to 3.4e38), found '%.*s'",
                           p->name, p->lineno, (int)(wl > 32 ? 32 : wl), ws);
    }
    long k = lex_split(p, code, (size_t)(code_end - code));
    if (k < 0) return lex_nomem(p, err);
    if (k == 0) return lex_bad(p, err, "a word, a tab and its pinyin");
    return lex_add(p, line, (size_t)(tab1 - line), k, (float)weight, err);
}

static rd_status lex_parse_lines(lex_parser *p, const char *buf, size_t n, long skip,
                                 rd_error *err) {
    rd_line_iter it;
    rd_line_iter_init(&it, buf, n);
    const char *line;
    size_t len;
    while (rd_line_next(&it, &line, &len)) {
        p->lineno = it.lineno;
        if (it.lineno <= skip || lex_is_comment(line, len)) continue;
        if (p->format == LEX_RIME) RD_TRY(lex_parse_rime(p, line, len, err));
        else RD_TRY(lex_parse_plain(p, line, len, err));
    }
    p->stats.lines = it.lineno;
    return RD_OK;
}

/* ---------- public ---------- */

/* Pronunciations from elsewhere (e.g. a hotword file): every unit must be
 * in the table; messages name the extra's own file and line. */
static rd_status lex_add_extra(lex_parser *p, const lex_extra *x, rd_error *err) {
    const char *name = p->name;
    p->name = x->file;
    p->lineno = x->line;
    long k = lex_split(p, x->units, strlen(x->units));
    rd_status st = k < 0 ? lex_nomem(p, err) : RD_OK;
    for (long i = 0; i < k && st == RD_OK; i++)
        if (lex_units_find(p->u, p->field[i].s, p->field[i].n) < 0)
            st = rd_fail(err, RD_ERR_INPUT, "%s:%ld: unit '%.*s' of '%s' is not in the tokens", x->file, x->line,
                         (int)p->field[i].n, p->field[i].s, x->word);
    if (st == RD_OK && k == 0) st = lex_bad(p, err, "at least one unit");
    if (st == RD_OK) st = lex_add(p, x->word, strlen(x->word), k, p->format == LEX_RIME ? 1.0f : 0.0f, err);
    p->name = name;
    return st;
}

static rd_status lex_build(lex_parser *p, const char *buf, size_t n, rd_error *err) {
    long skip;
    RD_TRY(lex_detect(buf, n, p->name, &p->format, &skip, err));
    RD_TRY(lex_parse_lines(p, buf, n, skip, err));
    for (int i = 0; i < p->n_extra; i++) RD_TRY(lex_add_extra(p, &p->extra[i], err));
    for (size_t i = 0; i < p->n_ent; i++) p->ent[i].units = p->pool + p->ent[i].unit_off;
    return lex_trie_build(p->l, p->ent, p->n_ent, p->format == LEX_RIME, &p->stats.entries,
                          p->name, err);
}

rd_status lex_lexicon_parse(const char *buf, size_t n, const char *name, const lex_units *u,
                            lex_lexicon **out, lex_load_stats *stats, rd_error *err) {
    return lex_lexicon_parse_ex(buf, n, name, u, NULL, 0, out, stats, err);
}

rd_status lex_lexicon_parse_ex(const char *buf, size_t n, const char *name, const lex_units *u,
                               const lex_extra *extra, int n_extra, lex_lexicon **out,
                               lex_load_stats *stats, rd_error *err) {
    *out = NULL;
    lex_parser p;
    memset(&p, 0, sizeof p);
    p.extra = extra;
    p.n_extra = n_extra;
    p.name = name;
    p.u = u;
    p.l = calloc(1, sizeof *p.l);
    if (!p.l) return lex_nomem(&p, err);
    p.l->units = u;
    rd_strtab_init(&p.l->words);
    rd_status st = lex_build(&p, buf, n, err);
    free(p.pool);
    free(p.ent);
    free(p.field);
    if (stats) *stats = p.stats;
    if (st != RD_OK) {
        lex_lexicon_free(p.l);
        return st;
    }
    *out = p.l;
    return RD_OK;
}

rd_status lex_lexicon_load(const char *path, const lex_units *u, lex_lexicon **out,
                           lex_load_stats *stats, rd_error *err) {
    return lex_lexicon_load_ex(path, u, NULL, 0, out, stats, err);
}

rd_status lex_lexicon_load_ex(const char *path, const lex_units *u, const lex_extra *extra, int n_extra,
                              lex_lexicon **out, lex_load_stats *stats, rd_error *err) {
    rd_text t;
    *out = NULL;
    if (stats) memset(stats, 0, sizeof *stats);
    RD_TRY(rd_text_read(path, &t, err));
    rd_status st = lex_lexicon_parse_ex(t.data, t.size, path, u, extra, n_extra, out, stats, err);
    rd_text_free(&t);
    return st;
}

void lex_lexicon_free(lex_lexicon *l) {
    if (!l) return;
    rd_strtab_free(&l->words);
    lex_trie_release(&l->trie);
    free(l);
}

int lex_word_count(const lex_lexicon *l) { return (int)l->words.count; }

const char *lex_word(const lex_lexicon *l, int32_t word) { return rd_strtab_get(&l->words, word); }

int32_t lex_word_find(const lex_lexicon *l, const char *w, size_t len) {
    return rd_strtab_find(&l->words, w, len);
}
