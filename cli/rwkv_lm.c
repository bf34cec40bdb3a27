/* cli/rwkv_lm.c - rwkv-lm: score text with a language model from the shell.
 *
 * --lm FILE.arpa scores each stdin line the way KenLM's `query` does and
 * prints the same lines; --model FILE hands over to the RWKV mode
 * (cli/lm_model_cmd.c) and `rwkv-lm state ...` to the state files
 * (cli/state_cmd.c). All scoring lives in lmstate/ngram/arpa.c. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/lm_model_cmd.h"
#include "cli/state_cmd.h"
#include "cli/cli_util.h"
#include "common/status.h"
#include "lmstate/ngram/arpa.h"

#define PROG "rwkv-lm"
#define LN10 2.30258509299404568402

static const char usage_text[] =
    "usage: rwkv-lm --lm FILE.arpa [--null-context] < sentences.txt\n"
    "       rwkv-lm --model MODEL [options] < text.txt   (RWKV; see rwkv-lm --model x --help)\n"
    "       rwkv-lm state save|inspect|diff|blend|decay|reset ...   (RWKV state files;\n"
    "                                                    see rwkv-lm state --help)\n"
    "\n"
    "Scores each line of stdin (words split on whitespace) with an ARPA n-gram model,\n"
    "with KenLM's semantics and KenLM query's output: per line, tab-separated,\n"
    "  word=ID NGRAM_LENGTH LOG10_P   for every word and </s>  (ID 0 = <unk>, an OOV)\n"
    "  Total: LOG10_P OOV: COUNT\n"
    "and at the end the perplexity including and excluding OOVs, the OOV and token\n"
    "counts. Numbers are log10, with up to 7 significant digits.\n"
    "\n"
    "options:\n"
    "  --lm FILE          ARPA model (text starting with \\data\\)\n"
    "  -n, --null-context no <s> before each line and no </s> after it (KenLM query -n)\n"
    "  --model FILE       score with an RWKV model instead (its own options follow)\n"
    "  state ...          save, inspect, compare and edit RWKV states (first argument)\n"
    "  -h, --help         this text\n"
    "  --version          the version\n"
    "\n"
    "examples:\n"
    "  echo 'the cat sat on the mat' | rwkv-lm --lm librispeech-3gram-pruned.arpa\n"
    "  rwkv-lm --lm lm.arpa < test.txt | tail -4          # perplexity only\n"
    "  rwkv-lm --lm lm.arpa -n < phrases.txt              # no sentence boundaries\n"
    "  rwkv-lm state save --model m.pth --text 'the cat' -o cat.state\n"
    "\n"
    "exit status: 0 ok, 1 bad input or I/O, 2 usage, 3 out of memory\n";

/* Up to 7 significant digits, laid out as KenLM prints numbers (double-
 * conversion's shortest form): plain decimals for 1e-6 <= |v| < 1e21,
 * otherwise "1.5e-7". */
static void print_number(FILE *out, double v) {
    if (!isfinite(v)) {
        fputs(isnan(v) ? "NaN" : v < 0 ? "-inf" : "inf", out);
        return;
    }
    char sci[32];
    snprintf(sci, sizeof sci, "%.6e", v); /* [-]d.dddddde[+-]XX */
    int neg = sci[0] == '-';
    char digits[8];
    int nd = 0;
    for (const char *s = sci + neg; *s != 'e'; s++)
        if (*s != '.') digits[nd++] = *s;
    int exp10 = atoi(strchr(sci, 'e') + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    if (v == 0) exp10 = 0;
    if (neg) fputc('-', out);
    if (exp10 < -6 || exp10 >= 21) {
        fputc(digits[0], out);
        if (nd > 1) fprintf(out, ".%.*s", nd - 1, digits + 1);
        fprintf(out, "e%d", exp10);
    } else if (exp10 < 0) {
        fputs("0.", out);
        for (int i = 0; i < -exp10 - 1; i++) fputc('0', out);
        fprintf(out, "%.*s", nd, digits);
    } else {
        for (int i = 0; i <= exp10 || i < nd; i++) {
            if (i == exp10 + 1) fputc('.', out);
            fputc(i < nd ? digits[i] : '0', out);
        }
    }
}

typedef struct query_totals {
    double total, total_oov_only;
    unsigned long long oov, tokens;
} query_totals;

static void print_word(FILE *out, const char *w, size_t len, int32_t id, int ngram, float log10p) {
    fprintf(out, "%.*s=%d %d ", (int)len, w, (int)id, ngram);
    print_number(out, log10p);
    fputc('\t', out);
}

/* Scores one line and prints it; words split on whitespace. */
static void query_line(const arpa_model *m, char *line, size_t n, int sentence, query_totals *t, FILE *out) {
    arpa_state st;
    if (sentence) arpa_begin_state(m, &st);
    else arpa_null_state(&st);
    float total = 0;
    unsigned long long oov = 0;
    static const char *const ws = " \t\r\n\v\f";
    size_t i = 0;
    while (i < n) {
        i += strspn(line + i, ws);
        if (i >= n) break;
        size_t len = strcspn(line + i, ws);
        int32_t id = arpa_word_id(m, line + i, len);
        int ngram;
        float p = (float)(arpa_score(m, &st, id, &st, &ngram) / LN10);
        if (id == arpa_unk(m)) {
            oov++;
            t->total_oov_only += p;
        }
        total += p;
        t->tokens++;
        print_word(out, line + i, len, id, ngram, p);
        i += len;
    }
    if (sentence) {
        int ngram;
        float p = (float)(arpa_score(m, &st, arpa_eos(m), &st, &ngram) / LN10);
        total += p;
        t->tokens++;
        print_word(out, "</s>", 4, arpa_eos(m), ngram, p);
    }
    fputs("Total: ", out);
    print_number(out, total);
    fprintf(out, " OOV: %llu\n", oov);
    t->total += total;
    t->oov += oov;
}

static void print_summary(FILE *out, const query_totals *t) {
    fputs("Perplexity including OOVs:\t", out);
    print_number(out, pow(10.0, -(t->total / (double)t->tokens)));
    fputs("\nPerplexity excluding OOVs:\t", out);
    print_number(out, pow(10.0, -((t->total - t->total_oov_only) / (double)(t->tokens - t->oov))));
    fprintf(out, "\nOOVs:\t%llu\nTokens:\t%llu\n", t->oov, t->tokens);
}

static int run_query(const char *path, int sentence) {
    arpa_model *m;
    rd_error err;
    if (arpa_load(path, &m, &err) != RD_OK) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        return rd_exit_code(err.status);
    }
    query_totals t = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)n)) {
            fprintf(stderr, PROG ": <stdin>:%ld: expected text, found a NUL byte\n", lineno);
            free(line);
            arpa_free(m);
            return 1;
        }
        query_line(m, line, (size_t)n, sentence, &t, stdout);
    }
    free(line);
    arpa_free(m);
    print_summary(stdout, &t);
    return 0;
}

static int wants_model(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--model") == 0 || strncmp(argv[i], "--model=", 8) == 0) return 1;
    return 0;
}

/* Every path ends here: stdout flushed and closed, a failed write is exit 3. */
static int run_main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "state") == 0) return state_cmd_main(argc - 1, argv + 1);
    if (wants_model(argc, argv)) return rwkv_lm_model_main(argc, argv);
    static const struct option opts[] = {
        {"lm", required_argument, NULL, 'l'},
        {"null-context", no_argument, NULL, 'n'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *lm = NULL;
    int sentence = 1, c;
    if (!cli_check_long_options(PROG, argc, argv, "hn", opts)) return 2;
    while ((c = getopt_long(argc, argv, "hn", opts, NULL)) != -1) {
        switch (c) {
        case 'l': lm = optarg; break;
        case 'n': sentence = 0; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'V': puts(PROG " " RD_VERSION); return 0;
        default: fprintf(stderr, "try '" PROG " --help'\n"); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s' (try '" PROG " --help')\n", argv[optind]);
        return 2;
    }
    if (!lm) {
        fprintf(stderr, PROG ": give --lm FILE.arpa or --model FILE (try '" PROG " --help')\n");
        return 2;
    }
    return run_query(lm, sentence);
}

int main(int argc, char **argv) { return cli_finish_stdout(PROG, run_main(argc, argv), 0); }
