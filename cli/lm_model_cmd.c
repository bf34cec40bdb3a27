/* cli/lm_model_cmd.c - rwkv-lm --model: score text with an RWKV model, or
 * dump the logits after a text. */
#include "cli/lm_model_cmd.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "common/logsumexp.h"
#include "common/npy.h"
#include "common/status.h"
#include "lmstate/rwkv/rwkv.h"
#include "lmstate/rwkv/rwkv_tokenizer.h"

#define PROG "rwkv-lm"
#define MAX_LINE_TOKENS 65536

static void usage(FILE *out) {
    fputs("usage: rwkv-lm --model MODEL [options] < text.txt\n"
          "       rwkv-lm --model MODEL --dump-logits TEXT -o logits.npy\n"
          "\n"
          "Scores each line of stdin with an RWKV-7 or RWKV-4 model (rwkv.cpp .bin,\n"
          "safetensors or .pth). Every line starts from the model's initial state after\n"
          "its start token ('\\n' for byte-level models, token 0 for World models) and ends\n"
          "with that token as its end. Log-probabilities are natural logs (ln p).\n"
          "Output, tab-separated, per line:\n"
          "  tok   INDEX  ID  TEXT  LN_P          every token (TEXT as a JSON string)\n"
          "  word  WORD   LN_P                   whitespace-separated words; a word owns the\n"
          "                                       tokens that start in it or in the spaces before it\n"
          "  line  LN_P   TOKENS  PPL            PPL = exp(-LN_P / TOKENS), end token included\n"
          "and at the end:  total  LN_P  TOKENS  PPL\n"
          "\n"
          "options:\n"
          "  --model FILE         RWKV weights (required)\n"
          "  --vocab FILE         World tokenizer vocabulary (default: rwkv_vocab_v20230424.txt\n"
          "                       beside the model; byte-level models need none)\n"
          "  --threads N          CPU threads (default 1)\n"
          "  --no-tokens          do not print the tok lines\n"
          "  --dump-logits TEXT   write the logits after feeding TEXT (byte-level: from the\n"
          "                       all-zero state, TEXT as bytes; World: after token 0, then\n"
          "                       TEXT's tokens) as float32 .npy of shape [n_vocab]\n"
          "  -o, --output FILE    where --dump-logits writes\n"
          "  -h, --help           this text\n"
          "\n"
          "examples:\n"
          "  echo 'the cat sat' | rwkv-lm --model tiny-rwkv-7v0-834K-FP32.bin\n"
          "  rwkv-lm --model rwkv7-0.1b.pth --threads 4 --no-tokens < test.txt | tail -1\n"
          "  rwkv-lm --model tiny-rwkv-7v0-834K-FP32.bin --dump-logits '\"in' -o in.npy\n"
          "\n"
          "exit status: 0 ok, 1 bad input or I/O, 2 usage, 3 out of memory\n",
          out);
}

typedef struct runner {
    rwkv_model *m;
    rwkv_tokenizer *tok;
    rwkv_workspace *ws;
    float *state, *logits;
    rwkv_state_view view;
    int32_t start;       /* start/end token */
    int world;
} runner;

static void runner_free(runner *r) {
    rwkv_workspace_free(r->ws);
    rwkv_tok_free(r->tok);
    rwkv_free(r->m);
    free(r->state);
    free(r->logits);
}

static rd_status runner_open(runner *r, const char *model, const char *vocab, int threads, rd_error *err) {
    memset(r, 0, sizeof *r);
    RD_TRY(rwkv_load(model, &r->m, err));
    r->world = rwkv_n_vocab(r->m) > 256;
    if (!r->world) {
        r->start = '\n';
        RD_TRY(rwkv_tok_create_bytes(&r->tok, err));
    } else {
        char buf[4096];
        if (!vocab) {
            const char *slash = strrchr(model, '/');
            snprintf(buf, sizeof buf, "%.*s%srwkv_vocab_v20230424.txt", slash ? (int)(slash - model) : 0, model,
                     slash ? "/" : "");
            vocab = buf;
        }
        RD_TRY(rwkv_tok_load_world(vocab, &r->tok, err));
    }
    RD_TRY(rwkv_tok_check_model(r->tok, rwkv_n_vocab(r->m), model, err));
    RD_TRY(rwkv_workspace_create(r->m, 1, threads, &r->ws, err));
    r->state = malloc(rwkv_state_size(r->m) * sizeof(float));
    r->logits = malloc((size_t)rwkv_n_vocab(r->m) * sizeof(float));
    if (!r->state || !r->logits) return rd_fail(err, RD_ERR_NOMEM, "out of memory for a state");
    rwkv_state_view_single(r->m, r->state, &r->view);
    rwkv_state_reset(r->m, &r->view, 0);
    return RD_OK;
}

static rd_status step(runner *r, int32_t token, rd_error *err) {
    int32_t zero = 0;
    return rwkv_forward(r->m, r->ws, 1, &token, &r->view, &zero, &r->view, &zero, r->logits, err);
}

/* ln p(token) under the current logits. */
static double log_prob(const runner *r, int32_t token) {
    return (double)r->logits[token] - rd_logsumexp(r->logits, rwkv_n_vocab(r->m));
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static void print_token(const runner *r, int idx, int32_t id, double lp) {
    size_t n = 0;
    const uint8_t *b = rwkv_tok_token_bytes(r->tok, id, &n);
    char text[512];
    size_t k = n < sizeof text - 1 ? n : sizeof text - 1;
    if (b) memcpy(text, b, k);
    text[k] = 0;
    printf("tok\t%d\t%d\t", idx, id);
    cli_json_string(stdout, text);
    printf("\t%.6f\n", lp);
}

/* Words are runs of non-space bytes; word w owns the tokens that start
 * after the end of word w-1 and before the end of word w (its leading
 * spaces included); tokens after the last word go to the last word. */
static void print_words(const char *line, size_t len, const int32_t *start_of, const double *lp, int n) {
    size_t a = 0;
    int i = 0;
    while (a < len) {
        while (a < len && is_space(line[a])) a++;
        if (a == len) break;
        size_t e = a;
        while (e < len && !is_space(line[e])) e++;
        size_t rest = e;
        while (rest < len && is_space(line[rest])) rest++;
        double s = 0;
        for (; i < n && ((size_t)start_of[i] < e || rest == len); i++) s += lp[i];
        printf("word\t%.*s\t%.6f\n", (int)(e - a), line + a, s);
        a = e;
    }
}

typedef struct line_buf {
    int32_t *ids, *start_of;
    double *lp;
} line_buf;

/* Scores one line (its tokens, then the end token); adds to the totals. */
static rd_status score_line(runner *r, const char *line, size_t len, const line_buf *b, int tokens, double *total,
                            long *count, rd_error *err) {
    int n = rwkv_tok_encode(r->tok, line, len, b->ids, MAX_LINE_TOKENS);
    if (n < 0 || n > MAX_LINE_TOKENS)
        return rd_fail(err, RD_ERR_INPUT, "a line that cannot be tokenized (or of more than %d tokens)",
                       MAX_LINE_TOKENS);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        b->start_of[i] = (int32_t)off;
        size_t tl = 0;
        rwkv_tok_token_bytes(r->tok, b->ids[i], &tl);
        off += tl;
    }
    b->ids[n] = r->start;
    rwkv_state_reset(r->m, &r->view, 0);
    RD_TRY(step(r, r->start, err));
    double line_lp = 0;
    for (int i = 0; i <= n; i++) {
        b->lp[i] = log_prob(r, b->ids[i]);
        line_lp += b->lp[i];
        if (tokens) print_token(r, i, b->ids[i], b->lp[i]);
        if (i < n) RD_TRY(step(r, b->ids[i], err));
    }
    print_words(line, len, b->start_of, b->lp, n);
    printf("line\t%.6f\t%d\t%.4f\n", line_lp, n + 1, exp(-line_lp / (n + 1)));
    *total += line_lp;
    *count += n + 1;
    return RD_OK;
}

static rd_status score_stdin(runner *r, int tokens, rd_error *err) {
    line_buf b = {malloc((MAX_LINE_TOKENS + 1) * sizeof(int32_t)), malloc((MAX_LINE_TOKENS + 1) * sizeof(int32_t)),
                  malloc((MAX_LINE_TOKENS + 1) * sizeof(double))};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    double total = 0;
    long count = 0, lineno = 0;
    rd_status st = b.ids && b.start_of && b.lp ? RD_OK : rd_fail(err, RD_ERR_NOMEM, "out of memory");
    while (st == RD_OK && (len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        st = score_line(r, line, (size_t)len, &b, tokens, &total, &count, err);
        if (st != RD_OK) {
            char where[64];
            snprintf(where, sizeof where, "<stdin>:%ld", lineno);
            rd_error_prefix(err, where);
        }
    }
    if (st == RD_OK) printf("total\t%.6f\t%ld\t%.4f\n", total, count, count ? exp(-total / count) : 0.0);
    free(line);
    free(b.ids);
    free(b.start_of);
    free(b.lp);
    return st;
}

static rd_status dump_logits(runner *r, const char *text, const char *out, rd_error *err) {
    size_t len = strlen(text);
    int n = rwkv_tok_encode(r->tok, text, len, NULL, 0);
    if (n < 0) return rd_fail(err, RD_ERR_INPUT, "--dump-logits: the text cannot be tokenized");
    if (n == 0 && !r->world)
        return rd_fail(err, RD_ERR_USAGE, "--dump-logits: a byte-level model needs at least one byte of text");
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids) return rd_fail(err, RD_ERR_NOMEM, "out of memory");
    rwkv_tok_encode(r->tok, text, len, ids, n);
    rd_status st = r->world ? step(r, 0, err) : RD_OK;
    for (int i = 0; i < n && st == RD_OK; i++) st = step(r, ids[i], err);
    free(ids);
    int64_t shape[1] = {rwkv_n_vocab(r->m)};
    if (st == RD_OK) st = rd_npy_write_f32(out, r->logits, 1, shape, err);
    return st;
}

int rwkv_lm_model_main(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},   {"vocab", required_argument, NULL, 'v'},
        {"threads", required_argument, NULL, 't'}, {"dump-logits", required_argument, NULL, 'd'},
        {"output", required_argument, NULL, 'o'},  {"no-tokens", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    const char *model = NULL, *vocab = NULL, *dump = NULL, *out = NULL;
    long threads = 1;
    int tokens = 1, c;
    optind = 1;
    if (!cli_check_long_options(PROG, argc, argv, "ho:", opts)) return 2;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'v': vocab = optarg; break;
        case 't':
            if (!cli_parse_int(PROG, "threads", optarg, 1, 256, &threads)) return 2;
            break;
        case 'd': dump = optarg; break;
        case 'o': out = optarg; break;
        case 'n': tokens = 0; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    const char *bad = !model ? "--model is required"
                      : optind < argc ? "unexpected argument"
                      : dump && !out ? "--dump-logits needs -o FILE"
                      : out && !dump ? "-o is only for --dump-logits"
                                     : NULL;
    if (bad) {
        fprintf(stderr, PROG ": %s%s%s (see --help)\n", bad, optind < argc ? " " : "", optind < argc ? argv[optind] : "");
        return 2;
    }
    runner r;
    rd_error err;
    rd_error_clear(&err);
    rd_status st = runner_open(&r, model, vocab, (int)threads, &err);
    if (st == RD_OK) st = dump ? dump_logits(&r, dump, out, &err) : score_stdin(&r, tokens, &err);
    runner_free(&r);
    if (st != RD_OK) fprintf(stderr, PROG ": %s\n", err.msg);
    return rd_exit_code(st);
}
