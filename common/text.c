#include "common/text.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static rd_status read_stream(FILE *f, int is_stdin, const char *path, rd_text *out, rd_error *err);

rd_status rd_text_read(const char *path, rd_text *out, rd_error *err) {
    out->data = NULL;
    out->size = 0;
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return read_stream(f, is_stdin, path, out, err);
}

rd_status rd_text_read_fd(int fd, const char *name, rd_text *out, rd_error *err) {
    out->data = NULL;
    out->size = 0;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return rd_fail(err, RD_ERR_IO, "%s: cannot read: %s", name, strerror(e));
    }
    return read_stream(f, 0, name, out, err);
}

/* Reads f to its end (closing it unless it is stdin). */
static rd_status read_stream(FILE *f, int is_stdin, const char *path, rd_text *out, rd_error *err) {
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) { /* fopen opens one; reading it fails oddly */
        if (!is_stdin) fclose(f);
        return rd_fail(err, RD_ERR_IO, "%s: is a directory, not a file", path);
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        if (!is_stdin) fclose(f);
        return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", path);
    }
    if (!is_stdin && fseek(f, 0, SEEK_END) == 0) {
        long sz = ftell(f);
        if (sz > 0 && (size_t)sz > cap) {
            char *nb = realloc(buf, (size_t)sz + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory reading %ld bytes", path, sz);
            }
            buf = nb;
            cap = (size_t)sz;
        }
        rewind(f);
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                if (!is_stdin) fclose(f);
                return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    if (!is_stdin) fclose(f);
    if (bad) {
        free(buf);
        return rd_fail(err, RD_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    out->data = buf;
    out->size = n;
    return RD_OK;
}

void rd_text_free(rd_text *t) {
    if (!t) return;
    free(t->data);
    t->data = NULL;
    t->size = 0;
}

void rd_line_iter_init(rd_line_iter *it, const char *buf, size_t n) {
    if (n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) buf += 3, n -= 3; /* a UTF-8 BOM is not text */
    it->p = buf;
    it->end = buf + n;
    it->lineno = 0;
}

int rd_line_next(rd_line_iter *it, const char **line, size_t *len) {
    if (it->p >= it->end) return 0;
    const char *s = it->p;
    const char *nl = memchr(s, '\n', (size_t)(it->end - s));
    const char *e = nl ? nl : it->end;
    it->p = nl ? nl + 1 : it->end;
    if (e > s && e[-1] == '\r') e--;
    *line = s;
    *len = (size_t)(e - s);
    it->lineno++;
    return 1;
}

int rd_split_ws(const char *s, size_t n, const char **field, size_t *flen, int max) {
    int k = 0;
    size_t i = 0;
    while (i < n && k < max) {
        while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i >= n) break;
        size_t j = i;
        while (j < n && s[j] != ' ' && s[j] != '\t') j++;
        field[k] = s + i;
        flen[k] = j - i;
        k++;
        i = j;
    }
    return k;
}

/* Copies a number field into tmp as a C string; 0 when it is empty, too long,
 * or starts with whitespace (which strtod/strtol would silently skip). */
static int field_to_cstr(const char *s, size_t n, char *tmp, size_t cap) {
    if (n == 0 || n >= cap || *s == ' ' || (*s >= '\t' && *s <= '\r')) return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return 1;
}

int rd_parse_double(const char *s, size_t n, double *out) {
    char tmp[64];
    if (!field_to_cstr(s, n, tmp, sizeof tmp)) return 0;
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + n || isnan(v)) return 0;
    if (errno == ERANGE && isinf(v)) return 0; /* "1e999": overflow, not "inf" */
    *out = v;
    return 1;
}

int rd_parse_float(const char *s, size_t n, float *out) {
    double v;
    if (!rd_parse_double(s, n, &v)) return 0;
    float f = (float)v;
    if (isinf(f) && !isinf(v)) return 0; /* finite but beyond float range */
    *out = f;
    return 1;
}

int rd_parse_long(const char *s, size_t n, long *out) {
    char tmp[32];
    if (!field_to_cstr(s, n, tmp, sizeof tmp)) return 0;
    char *end;
    errno = 0;
    long v = strtol(tmp, &end, 10);
    if (end != tmp + n || errno == ERANGE) return 0;
    *out = v;
    return 1;
}

int rd_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        int k;
        unsigned min;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { k = 1; min = 0x80; c &= 0x1F; }
        else if ((c & 0xF0) == 0xE0) { k = 2; min = 0x800; c &= 0x0F; }
        else if ((c & 0xF8) == 0xF0) { k = 3; min = 0x10000; c &= 0x07; }
        else return 0;
        if (i + (size_t)k >= n) return 0;
        for (int j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            c = (c << 6) | (s[i + j] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
        i += (size_t)k + 1;
    }
    return 1;
}
