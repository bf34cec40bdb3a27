#include "lexicon/units.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/text.h"
#include "lexicon/strtab.h"

struct lex_units {
    lex_strtab names; /* id = unit id */
    int blank, delimiter;
};

static const char *const units_auto_blank[] = {"<blank>", "<pad>", "<s>", "_"};
static const char *const units_auto_delimiter[] = {"|", "<space>", "\xe2\x96\x81"};

/* A unit name: valid UTF-8 without NUL bytes. */
static int units_name_ok(const char *s, size_t n) {
    return memchr(s, '\0', n) == NULL && rd_utf8_valid(s, n);
}

/* Icefall form "unit id": decided by the first line, then required of all. */
static int units_line_has_id(const char *line, size_t len) {
    const char *f[3];
    size_t fl[3];
    long id;
    return rd_split_ws(line, len, f, fl, 3) == 2 && rd_parse_long(f[1], fl[1], &id);
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
    int with_ids;       /* icefall "unit id" lines */
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
    if (p->with_ids) {
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
    long id;
    while (it.lineno < p->count && rd_line_next(&it, &line, &len))
        RD_TRY(units_parse_line(p, it.lineno, line, len, &id, err));
    return RD_OK;
}

/* Second pass: interns names in id order; a repeated name is an error naming both lines. */
static rd_status units_intern_all(const units_parse *p, lex_units *u, rd_error *err) {
    for (long id = 0; id < p->count; id++) {
        int added;
        int32_t got = lex_strtab_intern(&u->names, p->unit[id], p->unit_len[id], &added);
        if (got < 0) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", p->name);
        if (!added) {
            long a = p->line_of_id[got], b = p->line_of_id[id];
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: unit '%s' already on line %ld", p->name,
                           a > b ? a : b, lex_strtab_str(&u->names, got), a > b ? b : a);
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
                       "%s: no blank unit: expected one of <blank>, <pad>, <s>, _ or a given name",
                       name);
    return RD_OK;
}

static rd_status units_build(lex_units *u, const char *buf, size_t n, const char *name,
                             rd_error *err) {
    units_parse p = {name, 0, units_last_line(buf, n), NULL, NULL, NULL};
    if (p.count == 0)
        return rd_fail(err, RD_ERR_INPUT, "%s: expected at least one unit, found none", name);
    if (p.count >= INT32_MAX) return rd_fail(err, RD_ERR_INPUT, "%s: too many units", name);
    rd_line_iter it;
    rd_line_iter_init(&it, buf, n);
    const char *line;
    size_t len;
    rd_line_next(&it, &line, &len);
    p.with_ids = units_line_has_id(line, len);
    p.unit = rd_calloc_array((size_t)p.count, sizeof *p.unit);
    p.unit_len = rd_malloc_array((size_t)p.count, sizeof *p.unit_len);
    p.line_of_id = rd_malloc_array((size_t)p.count, sizeof *p.line_of_id);
    rd_status st = RD_OK;
    if (!p.unit || !p.unit_len || !p.line_of_id)
        st = rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", name);
    if (st == RD_OK) st = units_collect(&p, buf, n, err);
    if (st == RD_OK) st = units_intern_all(&p, u, err);
    free(p.unit);
    free(p.unit_len);
    free(p.line_of_id);
    return st;
}

rd_status lex_units_parse(const char *buf, size_t n, const char *name, const char *blank,
                          const char *delimiter, lex_units **out, rd_error *err) {
    *out = NULL;
    lex_units *u = calloc(1, sizeof *u);
    if (!u) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", name);
    lex_strtab_init(&u->names);
    rd_status st = units_build(u, buf, n, name, err);
    if (st == RD_OK)
        st = units_pick(u, name, blank, units_auto_blank, 4, "blank", 1, &u->blank, err);
    if (st == RD_OK)
        st = units_pick(u, name, delimiter, units_auto_delimiter, 3, "word delimiter", 0,
                        &u->delimiter, err);
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
    rd_text t;
    *out = NULL;
    RD_TRY(rd_text_read(path, &t, err));
    rd_status st = lex_units_parse(t.data, t.size, path, blank, delimiter, out, err);
    rd_text_free(&t);
    return st;
}

void lex_units_free(lex_units *u) {
    if (!u) return;
    lex_strtab_free(&u->names);
    free(u);
}

int lex_units_count(const lex_units *u) { return (int)u->names.count; }

const char *lex_units_name(const lex_units *u, int id) { return lex_strtab_get(&u->names, id); }

int lex_units_find(const lex_units *u, const char *name, size_t len) {
    return (int)lex_strtab_find(&u->names, name, len);
}

int lex_units_blank(const lex_units *u) { return u->blank; }

int lex_units_delimiter(const lex_units *u) { return u->delimiter; }

const char *lex_units_text(const lex_units *u, int id) {
    if (id == u->blank || id == u->delimiter) return "";
    return lex_units_name(u, id);
}
