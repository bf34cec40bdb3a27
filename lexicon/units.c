#include "lexicon/units.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/text.h"
#include "common/strtab.h"

struct lex_units {
    rd_strtab names; /* id = unit id */
    int blank, delimiter;
    lex_unit_type type;  /* CHAR or SENTENCEPIECE */
};

static const char *const units_auto_blank[] = {"<blank>", "<pad>", "<blk>", "<s>", "_"};
/* fairseq's Dictionary puts these four before the file's units (ids 0-3);
 * its CTC models take <s> as the blank */
static const char *const units_fairseq_special[] = {"<s>", "<pad>", "</s>", "<unk>"};
#define FAIRSEQ_SPECIAL 4

enum { FORM_PLAIN, FORM_IDS, FORM_COUNTS };
static const char *const units_auto_delimiter[] = {"|", "<space>", "\xe2\x96\x81"};
#define WORD_MARK "\xe2\x96\x81" /* U+2581, SentencePiece's word-start mark */
#define WORD_MARK_LEN 3

/* A unit name: valid UTF-8 without NUL bytes. */
static int units_name_ok(const char *s, size_t n) {
    return memchr(s, '\0', n) == NULL && rd_utf8_valid(s, n);
}

/* The number after the unit on a "unit NUMBER" line, or -1. */
static long units_line_number(const char *line, size_t len) {
    const char *f[3];
    size_t fl[3];
    long id;
    int k = rd_split_ws(line, len, f, fl, 3);
    if (k == 3 && !(fl[2] == 18 && memcmp(f[2], "#fairseq:overwrite", 18) == 0)) return -1;
    return k >= 2 && rd_parse_long(f[1], fl[1], &id) && id >= 0 ? id : -1;
}

/* The form of a line file, decided by the first line: one name a line;
 * "unit id" (k2/icefall tokens.txt: ids 0..V-1, the first line's id 0 or the
 * ids a permutation); else "unit count" (fairseq dict.ltr.txt). */
static int units_line_form(const char *buf, size_t n, long lines) {
    rd_line_iter it;
    rd_line_iter_init(&it, buf, n);
    const char *line;
    size_t len;
    rd_line_next(&it, &line, &len);
    long first = units_line_number(line, len);
    if (first < 0) return FORM_PLAIN;
    if (first == 0) return FORM_IDS;
    unsigned char *seen = calloc((size_t)lines, 1);
    int perm = seen != NULL;
    rd_line_iter_init(&it, buf, n);
    while (perm && it.lineno < lines && rd_line_next(&it, &line, &len)) {
        long v = units_line_number(line, len);
        if (v < 0 || v >= lines || seen[v]) perm = 0;
        else seen[v] = 1;
    }
    free(seen);
    return perm ? FORM_IDS : FORM_COUNTS;
}

/* Number of lines up to the last non-blank one (later blank lines are ignored). */
static long units_last_line(const char *buf, size_t n) {
    rd_line_iter it;
    rd_line_iter_init(&it, buf, n);
    const char *line, *f[1];
    size_t len, fl[1];
    long last = 0;
    while (rd_line_next(&it, &line, &len))
        if (rd_split_ws(line, len, f, fl, 1) > 0) last = it.lineno;
    return last;
}

typedef struct units_parse {
    const char *name;   /* file name for messages */
    int form;           /* FORM_PLAIN, FORM_IDS (icefall), FORM_COUNTS (fairseq) */
    long count;         /* lines = units */
    const char **unit;  /* unit[id]: the name's bytes in the buffer, NULL until seen */
    size_t *unit_len;
    long *line_of_id;   /* line number that gave each id */
} units_parse;

/* Parses one line into its name (and id when with_ids; else id = line - 1). */
static rd_status units_parse_line(units_parse *p, long lineno, const char *line,
                             size_t len, long *id, rd_error *err) {
    const char *f[3];
    size_t fl[3];
    int k = rd_split_ws(line, len, f, fl, 3);
    if (k == 0)
        return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a unit name, found an empty line",
                       p->name, lineno);
    *id = lineno - 1;
    if (p->form == FORM_COUNTS) {
        long count;
        if ((k != 2 && !(k == 3 && units_line_number(line, len) >= 0)) || !rd_parse_long(f[1], fl[1], &count) ||
            count < 0)
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a unit and its count (fairseq dict), as on line 1",
                           p->name, lineno);
        for (int i = 0; i < FAIRSEQ_SPECIAL; i++)
            if (fl[0] == strlen(units_fairseq_special[i]) && memcmp(f[0], units_fairseq_special[i], fl[0]) == 0)
                return rd_fail(err, RD_ERR_INPUT, "%s:%ld: '%s' is one of the units fairseq adds itself "
                               "(<s> <pad> </s> <unk>, ids 0-3)", p->name, lineno, units_fairseq_special[i]);
        *id = lineno - 1 + FAIRSEQ_SPECIAL;
    } else if (p->form == FORM_IDS) {
        if (k != 2 || !rd_parse_long(f[1], fl[1], id))
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a unit and its id, as on line 1",
                           p->name, lineno);
        if (*id < 0 || *id >= p->count)
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected an id from 0 to %ld, found %ld",
                           p->name, lineno, p->count - 1, *id);
    } else if (k != 1) {
        return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected one unit name, found %d fields",
                       p->name, lineno, k);
    }
    if (!units_name_ok(f[0], fl[0]))
        return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a unit name in utf-8", p->name, lineno);
    if (p->unit[*id])
        return rd_fail(err, RD_ERR_INPUT, "%s:%ld: id %ld already given on line %ld", p->name,
                       lineno, *id, p->line_of_id[*id]);
    p->unit[*id] = f[0];
    p->unit_len[*id] = fl[0];
    p->line_of_id[*id] = lineno;
    return RD_OK;
}

/* First pass: checks every line and records each id's name and line. */
static rd_status units_collect(units_parse *p, const char *buf, size_t n, rd_error *err) {
    rd_line_iter it;
    rd_line_iter_init(&it, buf, n);
    const char *line;
    size_t len;
    long id, lines = p->count - (p->form == FORM_COUNTS ? FAIRSEQ_SPECIAL : 0);
    while (it.lineno < lines && rd_line_next(&it, &line, &len))
        RD_TRY(units_parse_line(p, it.lineno, line, len, &id, err));
    return RD_OK;
}

/* Second pass: interns names in id order; a repeated name is an error naming both lines. */
static rd_status units_intern_all(const units_parse *p, lex_units *u, rd_error *err) {
    for (long id = 0; id < p->count; id++) {
        int added;
        int32_t got = rd_strtab_intern(&u->names, p->unit[id], p->unit_len[id], &added);
        if (got < 0) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", p->name);
        if (!added) {
            long a = p->line_of_id[got], b = p->line_of_id[id];
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: unit '%s' already on line %ld", p->name,
                           a > b ? a : b, rd_strtab_str(&u->names, got), a > b ? b : a);
        }
    }
    return RD_OK;
}

static rd_status units_pick(lex_units *u, const char *name, const char *want,
                            const char *const *autos, int n_auto, const char *what,
                            int required, int *out, rd_error *err) {
    *out = -1;
    if (want) {
        if (!*want && !required) return RD_OK;
        *out = lex_units_find(u, want, strlen(want));
        if (*out < 0)
            return rd_fail(err, RD_ERR_INPUT, "%s: %s unit '%s' not found", name, what, want);
        return RD_OK;
    }
    for (int i = 0; i < n_auto && *out < 0; i++) *out = lex_units_find(u, autos[i], strlen(autos[i]));
    if (*out < 0 && required)
        return rd_fail(err, RD_ERR_INPUT,
                       "%s: no blank unit: expected one of <blank>, <pad>, <blk>, <s>, _ or a given name",
                       name);
    return RD_OK;
}

/* ---------- Hugging Face vocab.json: {"unit": id, ...} ---------- */

static long json_line(const char *buf, const char *at) {
    long line = 1;
    for (const char *q = buf; q < at; q++) line += *q == '\n';
    return line;
}

static const char *json_ws(const char *q, const char *end) {
    while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
    return q;
}

static int json_hex4(const char *q, const char *end, unsigned *v) {
    if (end - q < 4) return 0;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = q[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return 0;
        *v = *v * 16 + (unsigned)d;
    }
    return 1;
}

/* Decodes the string at *q (after its opening quote) into out; returns its
 * length, or -1 when malformed. *q ends after the closing quote. */
static long json_string(const char **q, const char *end, char *out) {
    const char *s = *q;
    long k = 0;
    while (s < end && *s != '"') {
        unsigned c = (unsigned char)*s++;
        if (c < 0x20) return -1;
        if (c == '\\') {
            if (s >= end) return -1;
            char e = *s++;
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e && simple) {
                out[k++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
                continue;
            }
            if (e != 'u' || !json_hex4(s, end, &c)) return -1;
            s += 4;
            if (c >= 0xD800 && c < 0xDC00) {  /* a surrogate pair */
                unsigned lo;
                if (end - s < 6 || s[0] != '\\' || s[1] != 'u' || !json_hex4(s + 2, end, &lo) || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    return -1;
                s += 6;
                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
            } else if (c >= 0xDC00 && c < 0xE000) {
                return -1;
            }
            if (c < 0x80) out[k++] = (char)c;
            else if (c < 0x800) out[k++] = (char)(0xC0 | c >> 6), out[k++] = (char)(0x80 | (c & 0x3F));
            else if (c < 0x10000)
                out[k++] = (char)(0xE0 | c >> 12), out[k++] = (char)(0x80 | ((c >> 6) & 0x3F)),
                out[k++] = (char)(0x80 | (c & 0x3F));
            else
                out[k++] = (char)(0xF0 | c >> 18), out[k++] = (char)(0x80 | ((c >> 12) & 0x3F)),
                out[k++] = (char)(0x80 | ((c >> 6) & 0x3F)), out[k++] = (char)(0x80 | (c & 0x3F));
            continue;
        }
        out[k++] = (char)c;
    }
    if (s >= end) return -1;
    *q = s + 1;
    return k;
}

/* Counts the object's members (an upper bound: quoted colons are counted too). */
static long json_members(const char *buf, size_t n) {
    long k = 0;
    for (size_t i = 0; i < n; i++) k += buf[i] == ':';
    return k;
}

/* Parses {"unit": id, ...}; the ids must be 0..V-1, each once. Names are
 * decoded into names (n bytes at least). */
static rd_status units_collect_json(units_parse *p, const char *buf, size_t n, char *names, rd_error *err) {
    const char *q = json_ws(buf, buf + n), *end = buf + n;
    q++; /* '{' */
    long count = 0;
    struct { long id, line; const char *name; long len; } *m = rd_malloc_array((size_t)(p->count + 1), sizeof *m);
    if (!m) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", p->name);
    rd_status st = RD_OK;
    q = json_ws(q, end);
    if (q < end && *q == '}') q++;
    else for (;;) {
        const char *at = q;
        long len = q < end && *q == '"' ? (q++, json_string(&q, end, names)) : -1;
        q = json_ws(q, end);
        const char *stop = NULL;
        long id = -1;
        if (len >= 0 && q < end && *q == ':') {
            q = json_ws(q + 1, end);
            for (id = 0; q < end && *q >= '0' && *q <= '9' && id < INT32_MAX; q++) id = id * 10 + (*q - '0'), stop = q + 1;
        }
        if (len < 0 || !stop) {
            st = rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected \"unit\": id (a vocab.json object)", p->name,
                         json_line(buf, at));
            break;
        }
        m[count].id = id;
        m[count].line = json_line(buf, at);
        m[count].name = names;
        m[count].len = len;
        count++;
        names += len;
        q = json_ws(stop, end);
        if (q < end && *q == ',') { q = json_ws(q + 1, end); continue; }
        if (q < end && *q == '}') { q++; break; }
        st = rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected ',' or '}' after a unit's id", p->name, json_line(buf, q));
        break;
    }
    if (st == RD_OK && (q = json_ws(q, end)) != end)
        st = rd_fail(err, RD_ERR_INPUT, "%s:%ld: unexpected text after the vocab.json object", p->name,
                     json_line(buf, q));
    if (st == RD_OK && count == 0) st = rd_fail(err, RD_ERR_INPUT, "%s: expected at least one unit, found none", p->name);
    p->count = count;
    for (long i = 0; st == RD_OK && i < count; i++) {
        long id = m[i].id;
        if (id >= count)
            st = rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected an id from 0 to %ld, found %ld", p->name, m[i].line,
                         count - 1, id);
        else if (!units_name_ok(m[i].name, (size_t)m[i].len))
            st = rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a unit name in utf-8", p->name, m[i].line);
        else if (p->unit[id])
            st = rd_fail(err, RD_ERR_INPUT, "%s:%ld: id %ld already given on line %ld", p->name, m[i].line, id,
                         p->line_of_id[id]);
        else
            p->unit[id] = m[i].name, p->unit_len[id] = (size_t)m[i].len, p->line_of_id[id] = m[i].line;
    }
    free(m);
    return st;
}

static rd_status units_build(lex_units *u, const char *buf, size_t n, const char *name, int *fairseq,
                             rd_error *err) {
    if (n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) buf += 3, n -= 3; /* a UTF-8 BOM */
    const char *first = json_ws(buf, buf + n);
    int json = first < buf + n && *first == '{';
    units_parse p = {name, FORM_PLAIN, json ? json_members(buf, n) : units_last_line(buf, n), NULL, NULL, NULL};
    if (p.count == 0 && !json)
        return rd_fail(err, RD_ERR_INPUT, "%s: expected at least one unit, found none", name);
    if (p.count >= INT32_MAX - FAIRSEQ_SPECIAL) return rd_fail(err, RD_ERR_INPUT, "%s: too many units", name);
    if (!json) p.form = units_line_form(buf, n, p.count);
    if (p.form == FORM_COUNTS) p.count += FAIRSEQ_SPECIAL;
    p.unit = rd_calloc_array((size_t)p.count + 1, sizeof *p.unit);
    p.unit_len = rd_malloc_array((size_t)p.count + 1, sizeof *p.unit_len);
    p.line_of_id = rd_malloc_array((size_t)p.count + 1, sizeof *p.line_of_id);
    char *names = json ? malloc(n + 1) : NULL;
    rd_status st = RD_OK;
    if (!p.unit || !p.unit_len || !p.line_of_id || (json && !names))
        st = rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", name);
    if (st == RD_OK && p.form == FORM_COUNTS)
        for (int i = 0; i < FAIRSEQ_SPECIAL; i++)
            p.unit[i] = units_fairseq_special[i], p.unit_len[i] = strlen(units_fairseq_special[i]), p.line_of_id[i] = 0;
    if (st == RD_OK) st = json ? units_collect_json(&p, buf, n, names, err) : units_collect(&p, buf, n, err);
    if (st == RD_OK) st = units_intern_all(&p, u, err);
    *fairseq = p.form == FORM_COUNTS;
    free(names);
    free(p.unit);
    free(p.unit_len);
    free(p.line_of_id);
    return st;
}

/* A unit whose name is the word-start mark followed by more text. */
static int units_is_piece(const lex_units *u, int id) {
    const char *s = lex_units_name(u, id);
    return strncmp(s, WORD_MARK, WORD_MARK_LEN) == 0 && s[WORD_MARK_LEN] != '\0';
}

/* LEX_UNITS_AUTO: SentencePiece when at least 2 units, and a tenth of all,
 * are the mark followed by text (a character model has at most the lone mark). */
static lex_unit_type units_detect(const lex_units *u) {
    int n = lex_units_count(u), pieces = 0;
    for (int id = 0; id < n; id++) pieces += units_is_piece(u, id);
    return pieces >= 2 && pieces * 10 >= n ? LEX_UNITS_SENTENCEPIECE : LEX_UNITS_CHAR;
}

rd_status lex_units_parse(const char *buf, size_t n, const char *name, const char *blank,
                          const char *delimiter, lex_units **out, rd_error *err) {
    return lex_units_parse_ex(buf, n, name, blank, delimiter, LEX_UNITS_AUTO, out, err);
}

rd_status lex_units_parse_ex(const char *buf, size_t n, const char *name, const char *blank,
                             const char *delimiter, lex_unit_type type, lex_units **out, rd_error *err) {
    *out = NULL;
    lex_units *u = calloc(1, sizeof *u);
    if (!u) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", name);
    rd_strtab_init(&u->names);
    int fairseq = 0;
    rd_status st = units_build(u, buf, n, name, &fairseq, err);
    if (st == RD_OK && !blank && fairseq) blank = "<s>";
    if (st == RD_OK)
        st = units_pick(u, name, blank, units_auto_blank, 5, "blank", 1, &u->blank, err);
    if (st == RD_OK) u->type = type == LEX_UNITS_AUTO ? units_detect(u) : type;
    if (st == RD_OK) /* SentencePiece: a lone mark is a piece, not the automatic delimiter */
        st = units_pick(u, name, delimiter, units_auto_delimiter, u->type == LEX_UNITS_SENTENCEPIECE ? 2 : 3,
                        "word delimiter", 0, &u->delimiter, err);
    if (st == RD_OK && u->delimiter == u->blank)
        st = rd_fail(err, RD_ERR_INPUT, "%s: unit '%s' cannot be both the blank and the word delimiter",
                     name, lex_units_name(u, u->blank));
    if (st != RD_OK) {
        lex_units_free(u);
        return st;
    }
    *out = u;
    return RD_OK;
}

rd_status lex_units_load(const char *path, const char *blank, const char *delimiter,
                         lex_units **out, rd_error *err) {
    return lex_units_load_ex(path, blank, delimiter, LEX_UNITS_AUTO, out, err);
}

rd_status lex_units_load_ex(const char *path, const char *blank, const char *delimiter,
                            lex_unit_type type, lex_units **out, rd_error *err) {
    rd_text t;
    *out = NULL;
    RD_TRY(rd_text_read(path, &t, err));
    rd_status st = lex_units_parse_ex(t.data, t.size, path, blank, delimiter, type, out, err);
    rd_text_free(&t);
    return st;
}

void lex_units_free(lex_units *u) {
    if (!u) return;
    rd_strtab_free(&u->names);
    free(u);
}

int lex_units_count(const lex_units *u) { return (int)u->names.count; }

const char *lex_units_name(const lex_units *u, int id) { return rd_strtab_get(&u->names, id); }

int lex_units_find(const lex_units *u, const char *name, size_t len) {
    return (int)rd_strtab_find(&u->names, name, len);
}

int lex_units_blank(const lex_units *u) { return u->blank; }

int lex_units_delimiter(const lex_units *u) { return u->delimiter; }

int lex_units_word_start(const lex_units *u, int id) {
    if (u->type != LEX_UNITS_SENTENCEPIECE || id == u->blank || id == u->delimiter) return 0;
    return strncmp(lex_units_name(u, id), WORD_MARK, WORD_MARK_LEN) == 0;
}

lex_unit_type lex_units_type(const lex_units *u) { return u->type; }

const char *lex_units_text(const lex_units *u, int id) {
    if (id == u->blank || id == u->delimiter) return "";
    const char *s = lex_units_name(u, id);
    return lex_units_word_start(u, id) ? s + WORD_MARK_LEN : s;
}
