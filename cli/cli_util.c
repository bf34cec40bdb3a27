#include "cli/cli_util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (*p < 0x20) fprintf(out, "\\u%04x", *p);
            else fputc(*p, out);
        }
    }
    fputc('"', out);
}

void cli_json_float(FILE *out, double v) {
    if (isfinite(v)) fprintf(out, "%.6g", v);
    else fputs("null", out);
}

int cli_parse_int(const char *prog, const char *name, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno == ERANGE || x < lo || x > hi) {
        fprintf(stderr, "%s: --%s: expected a whole number from %ld to %ld, got '%s'\n", prog, name, lo, hi, v);
        return 0;
    }
    *out = x;
    return 1;
}

int cli_parse_float(const char *prog, const char *name, const char *v, float *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || isnan(x)) {
        fprintf(stderr, "%s: --%s: expected a number (or -inf), got '%s'\n", prog, name, v);
        return 0;
    }
    *out = (float)x;
    return 1;
}

int cli_parse_shard(const char *prog, const char *v, long *k, long *n) {
    char *end;
    long a = strtol(v, &end, 10);
    if (end == v || *end != '/') goto bad;
    char *end2;
    long b = strtol(end + 1, &end2, 10);
    if (end2 == end + 1 || *end2 || b < 1 || a < 1 || a > b) goto bad;
    *k = a;
    *n = b;
    return 1;
bad:
    fprintf(stderr, "%s: --shard: expected K/N with 1 <= K <= N (e.g. 2/8), got '%s'\n", prog, v);
    return 0;
}

void cli_stem(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strlen(b);
    if (len > 4 && strcmp(b + len - 4, ".npy") == 0) len -= 4;
    if (len >= n) len = n - 1;
    memcpy(out, b, len);
    out[len] = '\0';
}
