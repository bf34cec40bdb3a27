#include "cli/cli_util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"

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
            if (*p < 0x20) {
                fprintf(out, "\\u%04x", *p);
            } else if (*p < 0x80) {
                fputc(*p, out);
            } else {
                /* a whole UTF-8 character as is; a byte that is not one as \\udcXX
                 * (Python's surrogateescape), so the JSON stays valid */
                size_t n = *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : 2, k = 1;
                while (k < n && p[k]) k++;
                if (k == n && rd_utf8_valid((const char *)p, n)) {
                    fwrite(p, 1, n, out);
                    p += n - 1;
                } else {
                    fprintf(out, "\\udc%02x", *p);
                }
            }
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

int cli_parse_weight(const char *prog, const char *name, const char *v, double lo, double hi, int allow_neg_inf,
                     float *out) {
    char *end;
    double x = strtod(v, &end);
    int ok = *v && !*end && ((x >= lo && x <= hi) || (allow_neg_inf && isinf(x) && x < 0));
    if (!ok) {
        fprintf(stderr, "%s: --%s: expected a number from %g to %g%s, got '%s'\n", prog, name, lo, hi,
                allow_neg_inf ? " (or -inf)" : "", v);
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

/* Levenshtein distance of a and b (stops counting at 9). */
static int edit_distance(const char *a, size_t la, const char *b) {
    size_t lb = strlen(b);
    if (la > 40 || lb > 40) return 9;
    int row[41];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb] < 9 ? row[lb] : 9;
}

static const struct option *find_long(const struct option *longopts, const char *name, size_t len) {
    for (const struct option *o = longopts; o->name; o++)
        if (strlen(o->name) == len && memcmp(o->name, name, len) == 0) return o;
    return NULL;
}

/* Names the options a mistyped name may have meant, after "; did you mean ". */
static void suggest(FILE *out, const struct option *longopts, const char *name, size_t len) {
    char fixed[128];
    if (len < sizeof fixed) {
        for (size_t i = 0; i < len; i++) fixed[i] = name[i] == '_' ? '-' : (char)tolower((unsigned char)name[i]);
        const struct option *o = find_long(longopts, fixed, len);
        if (o && memcmp(fixed, name, len) != 0) {
            fprintf(out, "; did you mean --%s?", o->name);
            return;
        }
    }
    int n = 0;
    for (const struct option *o = longopts; o->name; o++)
        if (strlen(o->name) > len && memcmp(o->name, name, len) == 0)
            fprintf(out, "%s--%s", n++ ? ", " : " (options are spelled in full); did you mean ", o->name);
    if (n) {
        fputc('?', out);
        return;
    }
    int best = 3;
    const char *pick = NULL;
    for (const struct option *o = longopts; o->name; o++) {
        int dist = edit_distance(name, len, o->name);
        if (dist < best) best = dist, pick = o->name;
    }
    if (pick) fprintf(out, "; did you mean --%s?", pick);
}

int cli_check_long_options(const char *prog, int argc, char *const argv[], const char *shortopts,
                           const struct option *longopts) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) return 1;
        if (a[0] != '-' || a[1] == '\0') continue;
        if (a[1] != '-') {          /* short options: -x, -xVALUE, -x VALUE, -hx */
            for (const char *p = a + 1; *p; p++) {
                const char *s = strchr(shortopts, *p);
                if (s && s[1] == ':') {
                    if (!p[1] && s[2] != ':') i++;
                    break;
                }
            }
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct option *o = find_long(longopts, name, len);
        if (!o) {
            fprintf(stderr, "%s: unknown option '--%.*s'", prog, (int)len, name);
            suggest(stderr, longopts, name, len);
            fprintf(stderr, "\ntry '%s --help'\n", prog);
            return 0;
        }
        if (o->has_arg == required_argument && !eq) i++;
    }
    return 1;
}

int cli_write_stdout(const void *p, size_t n) {
    if (ferror(stdout)) return EIO;
    errno = 0;
    if ((n && fwrite(p, 1, n, stdout) != n) || fflush(stdout) != 0) return errno ? errno : EIO;
    return 0;
}

int cli_finish_stdout(const char *prog, int rc, int saved_errno) {
    int e = saved_errno;
    errno = 0;
    if (fflush(stdout) != 0 && !e) e = errno ? errno : EIO;
    if (ferror(stdout) && !e) e = EIO;
    if (fclose(stdout) != 0 && !e) e = errno ? errno : EIO;
    if (!e) return rc;
    fprintf(stderr, "%s: writing stdout: %s\n", prog, strerror(e));
    return 3;
}

/* ---------- reading our own JSON lines back (--resume) ---------- */

typedef struct json_in {
    const char *p, *end;
} json_in;

static void json_ws(json_in *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n')) j->p++;
}

static int json_hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return 0;
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 1;
}

/* A string at j->p (its opening quote); decoded into out (room for as many
 * bytes as the literal has) when out is not NULL, *n its length. The escape
 * \udcXX is cli_json_string's byte XX that is not UTF-8. */
static int json_str(json_in *j, char *out, size_t *n) {
    if (j->p >= j->end || *j->p != '"') return 0;
    j->p++;
    size_t k = 0;
    while (j->p < j->end && *j->p != '"') {
        unsigned c = (unsigned char)*j->p++;
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (j->p >= j->end) return 0;
            char e = *j->p++;
            if (e == 'u') {
                if (j->end - j->p < 4 || !json_hex4(j->p, &c)) return 0;
                j->p += 4;
                if (c >= 0xD800 && c <= 0xDBFF) {   /* a surrogate pair */
                    unsigned lo;
                    if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || !json_hex4(j->p + 2, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return 0;
                    j->p += 6;
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (out) {
                    if (c >= 0xDC80 && c <= 0xDCFF) out[k++] = (char)(c & 0xFF);
                    else if (c < 0x80) out[k++] = (char)c;
                    else if (c < 0x800) out[k++] = (char)(0xC0 | (c >> 6)), out[k++] = (char)(0x80 | (c & 0x3F));
                    else if (c < 0x10000)
                        out[k++] = (char)(0xE0 | (c >> 12)), out[k++] = (char)(0x80 | ((c >> 6) & 0x3F)),
                        out[k++] = (char)(0x80 | (c & 0x3F));
                    else
                        out[k++] = (char)(0xF0 | (c >> 18)), out[k++] = (char)(0x80 | ((c >> 12) & 0x3F)),
                        out[k++] = (char)(0x80 | ((c >> 6) & 0x3F)), out[k++] = (char)(0x80 | (c & 0x3F));
                }
                continue;
            }
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *at = strchr(from, e);
            if (!e || !at) return 0;
            c = (unsigned char)to[at - from];
        }
        if (out) out[k++] = (char)c;
    }
    if (j->p >= j->end) return 0;
    j->p++;
    if (out) out[k] = '\0';
    if (n) *n = k;
    return 1;
}

static int json_number(json_in *j) {
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p >= j->end || !isdigit((unsigned char)*j->p)) return 0;
    if (*j->p == '0') j->p++;
    else while (j->p < j->end && isdigit((unsigned char)*j->p)) j->p++;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (j->p >= j->end || !isdigit((unsigned char)*j->p)) return 0;
        while (j->p < j->end && isdigit((unsigned char)*j->p)) j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (j->p >= j->end || !isdigit((unsigned char)*j->p)) return 0;
        while (j->p < j->end && isdigit((unsigned char)*j->p)) j->p++;
    }
    return j->p > s;
}

static int json_value(json_in *j, int depth);

static int json_container(json_in *j, int depth, char close) {
    j->p++;
    json_ws(j);
    if (j->p < j->end && *j->p == close) return j->p++, 1;
    for (;;) {
        json_ws(j);
        if (close == '}') {
            if (!json_str(j, NULL, NULL)) return 0;
            json_ws(j);
            if (j->p >= j->end || *j->p++ != ':') return 0;
        }
        if (!json_value(j, depth + 1)) return 0;
        json_ws(j);
        if (j->p >= j->end) return 0;
        char c = *j->p++;
        if (c == close) return 1;
        if (c != ',') return 0;
    }
}

static int json_value(json_in *j, int depth) {
    json_ws(j);
    if (j->p >= j->end || depth > 64) return 0;
    switch (*j->p) {
    case '{': return json_container(j, depth, '}');
    case '[': return json_container(j, depth, ']');
    case '"': return json_str(j, NULL, NULL);
    case 't': return j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0 ? (j->p += 4, 1) : 0;
    case 'f': return j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0 ? (j->p += 5, 1) : 0;
    case 'n': return j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0 ? (j->p += 4, 1) : 0;
    default: return json_number(j);
    }
}

int cli_json_output_line(const char *s, size_t n, char **id, int *is_error) {
    *id = NULL;
    *is_error = 0;
    json_in j = {s, s + n};
    json_ws(&j);
    if (j.p >= j.end || *j.p != '{') return 0;
    json_in whole = j;
    if (!json_value(&whole, 0)) return 0;
    json_ws(&whole);
    if (whole.p != whole.end) return 0;
    /* the whole line parses: walk the top-level keys for "utt" and "error" */
    j.p++;
    for (;;) {
        json_ws(&j);
        if (*j.p == '}') break;
        const char *key = j.p;
        json_str(&j, NULL, NULL);
        size_t klen = (size_t)(j.p - key);
        json_ws(&j);
        j.p++; /* ':' */
        json_ws(&j);
        if (klen == 5 && memcmp(key, "\"utt\"", 5) == 0 && *j.p == '"' && !*id) {
            char *out = malloc(n + 1);
            if (!out) return -1;
            json_str(&j, out, NULL);
            *id = out;
        } else {
            if (klen == 7 && memcmp(key, "\"error\"", 7) == 0) *is_error = 1;
            json_value(&j, 0);
        }
        json_ws(&j);
        if (*j.p == ',') j.p++;
    }
    return *id ? 1 : 0;
}
