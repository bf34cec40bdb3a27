/* cli/batch_list.c - rwkv-decode's utterance list, read as a stream (see
 * batch_list.h). */
#include "cli/batch_list.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli_util.h"
#include "common/text.h"

/* stdin, a FIFO or a device cannot be read twice: copied to a temporary file. */
static rd_status spool(bl_list *l, FILE *in, rd_error *err) {
    FILE *t = tmpfile();
    if (!t) return rd_fail(err, RD_ERR_IO, "%s: cannot make a temporary copy of the list: %s", l->name,
                           strerror(errno));
    char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, got, t) != got) {
            int e = errno;
            fclose(t);
            return rd_fail(err, RD_ERR_IO, "%s: writing its temporary copy: %s", l->name, strerror(e));
        }
    if (ferror(in)) {
        fclose(t);
        return rd_fail(err, RD_ERR_IO, "%s: read error", l->path);
    }
    if (fflush(t) != 0) {
        int e = errno;
        fclose(t);
        return rd_fail(err, RD_ERR_IO, "%s: writing its temporary copy: %s", l->name, strerror(e));
    }
    l->f = t;
    return bl_rewind(l, err);
}

rd_status bl_open(bl_list *l, const char *path, rd_error *err) {
    memset(l, 0, sizeof *l);
    l->path = path;
    int is_stdin = strcmp(path, "-") == 0;
    l->name = is_stdin ? "<stdin>" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    int st_ok = fstat(fileno(f), &sb) == 0;
    if (st_ok && S_ISDIR(sb.st_mode)) {
        if (!is_stdin) fclose(f);
        return rd_fail(err, RD_ERR_IO, "%s: is a directory, not a file", path);
    }
    if (!is_stdin && st_ok && S_ISREG(sb.st_mode)) {
        l->f = f;
        return RD_OK;
    }
    rd_status st = spool(l, f, err);
    if (!is_stdin) fclose(f);
    return st;
}

rd_status bl_rewind(bl_list *l, rd_error *err) {
    if (fseeko(l->f, 0, SEEK_SET) != 0) return rd_fail(err, RD_ERR_IO, "%s: cannot read it again: %s", l->name,
                                                       strerror(errno));
    clearerr(l->f);
    l->lineno = 0;
    return RD_OK;
}

/* The next line without its '\n' and a '\r' before it (a first line without
 * its UTF-8 BOM): 1, 0 at the end, -1 on a read error. */
static int next_line(bl_list *l, const char **line, size_t *len) {
    errno = 0;
    ssize_t n = getline(&l->line, &l->line_cap, l->f);
    if (n < 0) return ferror(l->f) ? -1 : 0;
    const char *s = l->line;
    size_t k = (size_t)n;
    if (k && s[k - 1] == '\n') k--;
    if (k && s[k - 1] == '\r') k--;
    if (++l->lineno == 1 && k >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3, k -= 3;
    *line = s;
    *len = k;
    return 1;
}

int bl_next(bl_list *l, bl_entry *e, rd_status *st, rd_error *err) {
    const char *line;
    size_t len;
    int r;
    while ((r = next_line(l, &line, &len)) > 0) {
        const char *f[3];
        size_t fl[3];
        int n;
        const char *tab = memchr(line, '\t', len);
        if (tab) {
            f[0] = line;
            fl[0] = (size_t)(tab - line);
            f[1] = tab + 1;
            fl[1] = len - fl[0] - 1;
            while (fl[1] && (f[1][fl[1] - 1] == ' ')) fl[1]--;
            n = fl[1] ? 2 : 1;
            const char *tab2 = memchr(f[1], '\t', fl[1]);
            if (tab2) { /* a third column: the utterance's hotword file */
                f[2] = tab2 + 1;
                fl[2] = (size_t)(f[1] + fl[1] - f[2]);
                fl[1] = (size_t)(tab2 - f[1]);
                n = memchr(f[2], '\t', fl[2]) || fl[2] == 0 ? 4 : 3;
            }
        } else {
            n = rd_split_ws(line, len, f, fl, 3);
        }
        if (n == 0 || (len && line[0] == '#')) continue;
        memset(e, 0, sizeof *e);
        e->line = l->lineno;
        if (n == 1 && !tab) {
            char *p = malloc(fl[0] + 1);
            if (!p) return *st = rd_fail(err, RD_ERR_NOMEM, "out of memory"), -1;
            memcpy(p, f[0], fl[0]);
            p[fl[0]] = '\0';
            cli_stem(p, l->stem, sizeof l->stem);
            free(p);
            e->id = l->stem;
            e->id_len = strlen(l->stem);
            e->path = f[0];
            e->path_len = fl[0];
            return 1;
        }
        if ((n == 2 && fl[0] > 0) || (n == 3 && fl[0] > 0 && fl[1] > 0)) {
            e->id = f[0];
            e->id_len = fl[0];
            e->path = f[1];
            e->path_len = fl[1];
            if (n == 3) e->hot = f[2], e->hot_len = fl[2];
            return 1;
        }
        *st = rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected utt_id<TAB>path.npy[<TAB>hotwords.txt]", l->name,
                      l->lineno);
        return -1;
    }
    if (r < 0) return *st = rd_fail(err, RD_ERR_IO, "%s: read error", l->path), -1;
    return 0;
}

rd_status bl_find_id(bl_list *l, const char *id, long before, long *line, rd_error *err) {
    off_t pos = ftello(l->f);
    long lineno = l->lineno;
    size_t n = strlen(id);
    *line = 0;
    RD_TRY(bl_rewind(l, err));
    bl_entry e;
    rd_status st = RD_OK;
    while (bl_next(l, &e, &st, err) > 0 && e.line < before)
        if (strnlen(e.id, e.id_len) == n && memcmp(e.id, id, n) == 0) {
            *line = e.line;
            break;
        }
    if (fseeko(l->f, pos, SEEK_SET) != 0 && st == RD_OK)
        st = rd_fail(err, RD_ERR_IO, "%s: cannot read it again: %s", l->name, strerror(errno));
    l->lineno = lineno;
    return st;
}

void bl_close(bl_list *l) {
    if (l->f && l->f != stdin) fclose(l->f);
    free(l->line);
    memset(l, 0, sizeof *l);
}

/* FNV-1a, then a final mix so that the low bits index the table well. */
uint64_t bl_id_hash(const char *id) {
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 1099511628211ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static int put(uint64_t *t, size_t cap, uint64_t h) {
    size_t i = (size_t)h & (cap - 1);
    for (; t[i]; i = (i + 1) & (cap - 1))
        if (t[i] == h) return 1;
    t[i] = h;
    return 0;
}

int bl_id_set_add(bl_id_set *s, uint64_t h) {
    if (h == 0) h = 1; /* 0 marks an empty entry */
    if (8 * (s->n + 1) > 7 * s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 1024;
        uint64_t *nt = calloc(nc, sizeof *nt);
        if (!nt) return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->h[i]) put(nt, nc, s->h[i]);
        free(s->h);
        s->h = nt;
        s->cap = nc;
    }
    if (put(s->h, s->cap, h)) return 1;
    s->n++;
    return 0;
}

void bl_id_set_free(bl_id_set *s) {
    free(s->h);
    memset(s, 0, sizeof *s);
}
