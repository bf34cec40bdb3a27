/* cli/state_cmd.c - rwkv-lm state: save, inspect, diff, blend, decay, reset.
 *
 * Every subcommand parses its options with getopt_long (reset for each
 * call, so tests may call state_cmd_main repeatedly), loads its inputs whole
 * with sf_load, and writes its output with sf_save (common/safe_write.h: a
 * fresh temporary file renamed over a regular target; a FIFO or device is
 * written through). Library errors print as "rwkv-lm: MESSAGE". */
#include "cli/state_cmd.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "common/status.h"
#include "common/text.h"
#include "lmstate/lm.h"
#include "lmstate/rwkv/lm_rwkv.h"
#include "lmstate/state_file.h"

#define PROG "rwkv-lm"

static const char usage_state[] =
    "usage: rwkv-lm state SUBCOMMAND [options]   (rwkv-lm state SUBCOMMAND --help for each)\n"
    "\n"
    "RWKV recurrent states in files: the model's state after a text (all layers,\n"
    "all kinds: att_shift, wkv, ffn_shift for RWKV-7) plus the token it has not fed\n"
    "yet. A file records the model's fingerprint and is refused by any other model.\n"
    "\n"
    "  save     run a model over a text and save its state\n"
    "  inspect  per layer and kind: min, max, mean, L2 norm, NaN and Inf counts\n"
    "  diff     per layer and kind: L2 distance and cosine between two states\n"
    "  blend    a * (1 - w) + b * w, one w or one per kind\n"
    "  decay    move a state toward the initial state\n"
    "  reset    put chosen layers or kinds back to their initial state\n"
    "\n"
    "examples:\n"
    "  rwkv-lm state save --model rwkv7-0.1b.pth --text 'the meeting is about' -o meeting.state\n"
    "  rwkv-lm state inspect meeting.state\n"
    "  rwkv-lm state diff meeting.state sports.state\n"
    "  rwkv-lm state blend meeting.state sports.state -w 0.3 -o mixed.state\n"
    "  rwkv-lm state decay meeting.state -f 0.5 -o faded.state\n"
    "  rwkv-lm state reset meeting.state --layers 0,3-5 --kinds wkv -o partial.state\n"
    "\n"
    "exit status: 0 ok, 1 bad input or I/O, 2 usage, 3 out of memory\n";

static const char usage_save[] =
    "usage: rwkv-lm state save --model MODEL (--text TEXT | --text-file FILE) -o OUT [options]\n"
    "\n"
    "Starts the model in its sentence-start state, feeds the text's words (split at\n"
    "spaces, tabs and newlines; each word with a leading space, as the decoder's\n"
    "--lm-prefix feeds them) and saves the state and the pending token (the last\n"
    "token of the last word, not yet fed) with the text, for inspect.\n"
    "\n"
    "options:\n"
    "  --model FILE       RWKV weights (rwkv.cpp .bin, safetensors or .pth)\n"
    "  --vocab FILE       World tokenizer vocabulary (default: rwkv_vocab_v20230424.txt\n"
    "                     beside the model; byte-level models need none)\n"
    "  --text TEXT        the text (may be empty: the sentence-start state)\n"
    "  --text-file FILE   the text from a file ('-' = stdin)\n"
    "  -o, --output FILE  the state file to write\n"
    "  --dtype T          storage: fp32 (exact, default), fp16, bf16, or int8 (one scale\n"
    "                     per row of 64 wkv elements or per layer of a shift vector;\n"
    "                     about 4x smaller, error up to max|x|/254 of the row)\n"
    "  --threads N        CPU threads (default 1)\n"
    "\n"
    "examples:\n"
    "  rwkv-lm state save --model rwkv7-0.1b.pth --text 'the meeting is about' -o meeting.state\n"
    "  rwkv-lm state save --model rwkv7-0.1b.pth --text-file notes.txt --dtype int8 -o notes.state\n";

static const char usage_inspect[] =
    "usage: rwkv-lm state inspect FILE [--model MODEL]\n"
    "\n"
    "Prints the header (format, storage dtype, model dims and fingerprint, kinds, the\n"
    "text that made the state) and, for each state, its pending token and a table:\n"
    "  kind  layer  min  max  mean  l2  nan  inf\n"
    "one row per kind and layer, then each kind over all layers and the whole state\n"
    "(layer 'all'). min, max, mean and l2 (sqrt of the sum of squares) cover the\n"
    "finite elements; nan and inf count the others.\n"
    "\n"
    "options:\n"
    "  --model FILE   also check that the file belongs to this model\n"
    "  --vocab FILE   World tokenizer vocabulary of --model (see save)\n"
    "\n"
    "examples:\n"
    "  rwkv-lm state inspect meeting.state\n"
    "  rwkv-lm state inspect meeting.state | awk '$1 == \"wkv\"'\n";

static const char usage_diff[] =
    "usage: rwkv-lm state diff A B\n"
    "\n"
    "Compares two state files of one model (refused otherwise), state by state:\n"
    "  layer  kind  l2  cosine\n"
    "for every layer and kind, each layer over all kinds ('all'), and the whole\n"
    "state. l2 = sqrt(sum (a - b)^2); cosine = a.b / (|a| |b|), 1 when both are zero.\n"
    "\n"
    "example:\n"
    "  rwkv-lm state diff meeting.state sports.state | awk '$2 == \"all\"'\n";

static const char usage_blend[] =
    "usage: rwkv-lm state blend A B -w W[,W...] -o OUT [--dtype T]\n"
    "\n"
    "Writes a * (1 - w) + b * w, element by element: one weight for every kind, or one\n"
    "per kind in the file's order (inspect lists them). w = 0 gives A, w = 1 gives B;\n"
    "weights outside 0..1 extrapolate. A and B must come from one model and hold as\n"
    "many states. The pending token is A's (a note is printed when B's differs).\n"
    "\n"
    "options:\n"
    "  -w, --weight W[,W...]  the weight of B (finite; a blend that overflows is refused)\n"
    "  -o, --output FILE      the state file to write\n"
    "  --dtype T              fp32, fp16, bf16 or int8 (default: A's)\n"
    "\n"
    "examples:\n"
    "  rwkv-lm state blend meeting.state sports.state -w 0.3 -o mixed.state\n"
    "  rwkv-lm state blend a.state b.state -w 0,0.5,0 -o wkv-only.state   # RWKV-7 kinds\n";

static const char usage_decay[] =
    "usage: rwkv-lm state decay FILE -f FACTOR -o OUT [--dtype T]\n"
    "\n"
    "Moves every element toward its initial value: x = x * FACTOR + init * (1 - FACTOR).\n"
    "FACTOR 1 keeps the state, 0 gives the initial state (the pending token stays).\n"
    "\n"
    "options:\n"
    "  -f, --factor F    0 to 1\n"
    "  -o, --output FILE the state file to write\n"
    "  --dtype T         fp32, fp16, bf16 or int8 (default: the input's)\n"
    "\n"
    "example:\n"
    "  rwkv-lm state decay meeting.state -f 0.5 -o faded.state\n";

static const char usage_reset[] =
    "usage: rwkv-lm state reset FILE [--layers LIST] [--kinds LIST] -o OUT [--dtype T]\n"
    "\n"
    "Puts the chosen layers and kinds back to their initial value; the rest stays.\n"
    "Without --layers every layer, without --kinds every kind (give at least one).\n"
    "\n"
    "options:\n"
    "  --layers LIST     layer numbers and ranges from 0: 0,3-5\n"
    "  --kinds LIST      kind names: wkv,att_shift (inspect lists them)\n"
    "  -o, --output FILE the state file to write\n"
    "  --dtype T         fp32, fp16, bf16 or int8 (default: the input's)\n"
    "\n"
    "examples:\n"
    "  rwkv-lm state reset meeting.state --layers 0 -o no-first-layer.state\n"
    "  rwkv-lm state reset meeting.state --kinds att_shift,ffn_shift -o wkv-only.state\n";

/* ---------- shared helpers ---------- */

static int fail(const rd_error *err) {
    fprintf(stderr, PROG ": %s\n", err->msg);
    return rd_exit_code(err->status);
}

static int usage_error(const char *sub, const char *what, const char *arg) {
    fprintf(stderr, PROG " state %s: %s%s%s (see " PROG " state %s --help)\n", sub, what, arg ? " " : "",
            arg ? arg : "", sub);
    return 2;
}

/* Options every editing subcommand shares. */
typedef struct out_opts {
    const char *path;
    int have_dtype;
    sf_dtype dtype;
} out_opts;

static int parse_dtype(const char *sub, const char *v, out_opts *o) {
    if (!sf_dtype_parse(v, &o->dtype)) {
        fprintf(stderr, PROG " state %s: --dtype: expected fp32, fp16, bf16 or int8, got '%s'\n", sub, v);
        return 0;
    }
    o->have_dtype = 1;
    return 1;
}

/* Saves s to o->path in o's dtype (or dflt) and says so on stdout. */
static int write_states(const sf_states *s, const out_opts *o, sf_dtype dflt) {
    rd_error err;
    rd_error_clear(&err);
    sf_dtype t = o->have_dtype ? o->dtype : dflt;
    if (sf_save(o->path, s, t, &err) != RD_OK) return fail(&err);
    printf("wrote %s: %d state%s, %s\n", o->path, s->n, s->n == 1 ? "" : "s", sf_dtype_name(t));
    return 0;
}

/* A number for the tables: %.6g, or nan / inf / -inf. */
static void print_num(double v) { printf("  %-12.6g", v); }

/* ---------- save ---------- */

typedef struct save_args {
    const char *model, *vocab, *text, *text_file;
    long threads;
    out_opts out;
} save_args;

/* The text from --text or --text-file, as a NUL-terminated string the
 * caller frees. */
static rd_status read_text(const save_args *a, char **out, rd_error *err) {
    if (a->text) {
        *out = strdup(a->text);
        return *out ? RD_OK : rd_fail(err, RD_ERR_NOMEM, "out of memory");
    }
    rd_text t;
    RD_TRY(rd_text_read(a->text_file, &t, err));
    if (memchr(t.data, '\0', t.size)) {
        rd_text_free(&t);
        return rd_fail(err, RD_ERR_INPUT, "%s: expected text, found a NUL byte", a->text_file);
    }
    *out = t.data;
    return RD_OK;
}

/* The model's state after the text, into s (one state). */
static rd_status state_after_text(lm_model *m, const char *text, sf_states *s, rd_error *err) {
    sf_model_info info;
    RD_TRY(sf_info_of_model(lm_rwkv(m), &info, err));
    lm_cache *c;
    /* 2 slots, not 1: a 1-slot RWKV cache has too few scratch slots for a
     * word of several tokens ("0 free physical slots") */
    RD_TRY(lm_cache_create(m, 2, &c, err));
    int32_t slot = 0;
    rd_status st = lm_start(c, &slot, 1, err);
    if (st == RD_OK) st = lm_feed_text(c, slot, text, err);
    if (st == RD_OK) st = sf_alloc(s, &info, 1, text, err);
    if (st == RD_OK) st = lm_state_get(c, slot, s->data, &s->pending[0], err);
    lm_cache_free(c);
    return st;
}

static rd_status run_save(const save_args *a, rd_error *err) {
    lm_load_options lo = {0};
    lo.threads = (int)a->threads;
    lo.vocab = a->vocab;
    lm_model *m;
    RD_TRY(lm_load(a->model, &lo, &m, err));
    char *text = NULL;
    sf_states s = {0};
    rd_status st = lm_rwkv(m) ? RD_OK
                              : rd_fail(err, RD_ERR_INPUT, "%s: not an RWKV model (%s has no recurrent state)",
                                        a->model, lm_describe(m));
    if (st == RD_OK) st = read_text(a, &text, err);
    if (st == RD_OK) st = state_after_text(m, text, &s, err);
    if (st == RD_OK) st = sf_save(a->out.path, &s, a->out.dtype, err);
    if (st == RD_OK)
        printf("wrote %s: %s, pending token %d, %s\n", a->out.path, lm_describe(m), (int)s.pending[0],
               sf_dtype_name(a->out.dtype));
    sf_free(&s);
    free(text);
    lm_free(m);
    return st;
}

static int cmd_save(int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},     {"vocab", required_argument, NULL, 'v'},
        {"text", required_argument, NULL, 't'},      {"text-file", required_argument, NULL, 'T'},
        {"output", required_argument, NULL, 'o'},    {"dtype", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 'j'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    save_args a = {0};
    a.threads = 1;
    int c;
    if (!cli_check_long_options(PROG " state", argc, argv, "ho:", opts)) return 2;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a.model = optarg; break;
        case 'v': a.vocab = optarg; break;
        case 't': a.text = optarg; break;
        case 'T': a.text_file = optarg; break;
        case 'o': a.out.path = optarg; break;
        case 'd':
            if (!parse_dtype("save", optarg, &a.out)) return 2;
            break;
        case 'j':
            if (!cli_parse_int(PROG " state save", "threads", optarg, 1, 256, &a.threads)) return 2;
            break;
        case 'h': fputs(usage_save, stdout); return 0;
        default: return usage_error("save", "bad option", argv[optind - 1]);
        }
    }
    if (optind < argc) return usage_error("save", "unexpected argument", argv[optind]);
    if (!a.model) return usage_error("save", "--model is required", NULL);
    if (!a.text == !a.text_file) return usage_error("save", "give one of --text and --text-file", NULL);
    if (!a.out.path) return usage_error("save", "-o OUT is required", NULL);
    rd_error err;
    rd_error_clear(&err);
    return run_save(&a, &err) == RD_OK ? 0 : fail(&err);
}

/* ---------- inspect ---------- */

static void print_header(const char *path, const sf_states *s) {
    const sf_model_info *in = &s->info;
    printf("file        %s\n", path);
    printf("format      %d, %d state%s stored as %s\n", SF_FORMAT_VERSION, s->n, s->n == 1 ? "" : "s",
           sf_dtype_name(s->dtype));
    printf("model       rwkv-%d, %d layers, width %d, head size %d, vocabulary %d, fingerprint 0x%016llx\n",
           in->rwkv_version, in->n_layer, in->n_embd, in->head_size, in->n_vocab,
           (unsigned long long)in->fingerprint);
    printf("kinds      ");
    for (int k = 0; k < in->n_kinds; k++)
        printf(" %s [%llu per layer, rows of %llu, initial %g]%s", in->kind_name[k],
               (unsigned long long)in->kind_size[k], (unsigned long long)in->kind_row[k], (double)in->kind_init[k],
               k + 1 < in->n_kinds ? "," : "\n");
    printf("text        ");
    if (s->text) cli_json_string(stdout, s->text);
    else fputs("(none)", stdout);
    putchar('\n');
}

static void print_stats_row(const sf_model_info *in, const float *x, int k, int l) {
    sf_stats st;
    sf_stats_of(in, x, k, l, &st);
    printf("%-12s", k < 0 ? "all" : in->kind_name[k]);
    if (l < 0) printf("  %-6s", "all");
    else printf("  %-6d", l);
    print_num(st.min);
    print_num(st.max);
    print_num(st.mean);
    print_num(st.l2);
    printf("  %-6zu  %zu\n", st.nan, st.inf);
}

static void print_stats(const sf_states *s, int i) {
    const sf_model_info *in = &s->info;
    const float *x = s->data + (size_t)i * sf_state_size(in);
    printf("\nstate %d     pending token %d\n", i, (int)s->pending[i]);
    printf("%-12s  %-6s  %-12s  %-12s  %-12s  %-12s  %-6s  %s\n", "kind", "layer", "min", "max", "mean", "l2", "nan",
           "inf");
    for (int k = 0; k < in->n_kinds; k++) {
        for (int l = 0; l < in->n_layer; l++) print_stats_row(in, x, k, l);
        print_stats_row(in, x, k, -1);
    }
    print_stats_row(in, x, -1, -1);
}

/* The info of --model, for checking a file against it. */
static rd_status model_info(const char *path, const char *vocab, sf_model_info *info, rd_error *err) {
    lm_load_options lo = {0};
    lo.vocab = vocab;
    lm_model *m;
    RD_TRY(lm_load(path, &lo, &m, err));
    rd_status st = lm_rwkv(m) ? sf_info_of_model(lm_rwkv(m), info, err)
                              : rd_fail(err, RD_ERR_INPUT, "%s: not an RWKV model (%s has no recurrent state)",
                                        path, lm_describe(m));
    lm_free(m);
    return st;
}

static int cmd_inspect(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"vocab", required_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *model = NULL, *vocab = NULL;
    int c;
    if (!cli_check_long_options(PROG " state", argc, argv, "h", opts)) return 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'v': vocab = optarg; break;
        case 'h': fputs(usage_inspect, stdout); return 0;
        default: return usage_error("inspect", "bad option", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return usage_error("inspect", "expected one state file", NULL);
    rd_error err;
    rd_error_clear(&err);
    sf_model_info want;
    if (model && model_info(model, vocab, &want, &err) != RD_OK) return fail(&err);
    sf_states s;
    if (sf_load(argv[optind], model ? &want : NULL, &s, &err) != RD_OK) return fail(&err);
    print_header(argv[optind], &s);
    for (int i = 0; i < s.n; i++) print_stats(&s, i);
    sf_free(&s);
    return 0;
}

/* ---------- two inputs: diff and blend ---------- */

/* Loads a and b, refusing different models or counts of states. */
static rd_status load_pair(const char *pa, const char *pb, sf_states *a, sf_states *b, rd_error *err) {
    RD_TRY(sf_load(pa, NULL, a, err));
    rd_status st = sf_load(pb, NULL, b, err);
    if (st == RD_OK) st = sf_check_model(&b->info, &a->info, pb, pa, err);
    if (st == RD_OK && a->n != b->n)
        st = rd_fail(err, RD_ERR_INPUT, "%s holds %d states, %s %d (expected as many)", pa, a->n, pb, b->n);
    if (st != RD_OK) {
        sf_free(a);
        sf_free(b);
    }
    return st;
}

static void print_distance_row(const sf_model_info *in, const float *x, const float *y, int l, int k) {
    sf_distance d;
    sf_distance_of(in, x, y, k, l, &d);
    if (l < 0) printf("%-6s", "all");
    else printf("%-6d", l);
    printf("  %-12s", k < 0 ? "all" : in->kind_name[k]);
    print_num(d.l2);
    printf("  %.6g\n", d.cosine);
}

static int cmd_diff(int argc, char **argv) {
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    if (!cli_check_long_options(PROG " state", argc, argv, "h", opts)) return 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_diff, stdout);
            return 0;
        }
        return usage_error("diff", "bad option", argv[optind - 1]);
    }
    if (argc - optind != 2) return usage_error("diff", "expected two state files", NULL);
    rd_error err;
    rd_error_clear(&err);
    sf_states a, b;
    if (load_pair(argv[optind], argv[optind + 1], &a, &b, &err) != RD_OK) return fail(&err);
    const sf_model_info *in = &a.info;
    size_t size = sf_state_size(in);
    for (int i = 0; i < a.n; i++) {
        const float *x = a.data + (size_t)i * size, *y = b.data + (size_t)i * size;
        printf("%sstate %d     pending tokens %d and %d\n", i ? "\n" : "", i, (int)a.pending[i], (int)b.pending[i]);
        printf("%-6s  %-12s  %-12s  %s\n", "layer", "kind", "l2", "cosine");
        for (int l = 0; l < in->n_layer; l++) {
            for (int k = 0; k < in->n_kinds; k++) print_distance_row(in, x, y, l, k);
            print_distance_row(in, x, y, l, -1);
        }
        print_distance_row(in, x, y, -1, -1);
    }
    sf_free(&a);
    sf_free(&b);
    return 0;
}

/* "W" or "W,W,..." into w[0..max); returns the count, 0 on a bad list. */
static int parse_weights(const char *v, float *w, int max) {
    char buf[256];
    if (strlen(v) >= sizeof buf) return 0;
    strcpy(buf, v);
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *end;
        double x = strtod(t, &end);
        if (n == max || end == t || *end || !isfinite(x)) return 0;
        w[n++] = (float)x;
    }
    return n;
}

static int cmd_blend(int argc, char **argv) {
    static const struct option opts[] = {{"weight", required_argument, NULL, 'w'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"dtype", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    out_opts o = {0};
    const char *weights = NULL;
    int c;
    if (!cli_check_long_options(PROG " state", argc, argv, "hw:o:", opts)) return 2;
    while ((c = getopt_long(argc, argv, "hw:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'w': weights = optarg; break;
        case 'o': o.path = optarg; break;
        case 'd':
            if (!parse_dtype("blend", optarg, &o)) return 2;
            break;
        case 'h': fputs(usage_blend, stdout); return 0;
        default: return usage_error("blend", "bad option", argv[optind - 1]);
        }
    }
    if (argc - optind != 2) return usage_error("blend", "expected two state files", NULL);
    if (!weights) return usage_error("blend", "-w W is required", NULL);
    if (!o.path) return usage_error("blend", "-o OUT is required", NULL);
    float w[RWKV_MAX_KINDS];
    int nw = parse_weights(weights, w, RWKV_MAX_KINDS);
    if (nw == 0) return usage_error("blend", "-w: expected a finite number or a comma-separated list, got", weights);
    rd_error err;
    rd_error_clear(&err);
    sf_states a, b;
    if (load_pair(argv[optind], argv[optind + 1], &a, &b, &err) != RD_OK) return fail(&err);
    int rc = 0;
    if (nw != 1 && nw != a.info.n_kinds) {
        fprintf(stderr, PROG " state blend: -w: %d weights, expected 1 or one per kind (%d)\n", nw, a.info.n_kinds);
        rc = 2;
    }
    for (int k = nw; k < a.info.n_kinds; k++) w[k] = w[0];
    size_t size = sf_state_size(&a.info);
    for (int i = 0; i < a.n && rc == 0; i++) {
        if (a.pending[i] != b.pending[i])
            fprintf(stderr, PROG " state blend: note: state %d: pending tokens differ (%d, %d); keeping %s's\n", i,
                    (int)a.pending[i], (int)b.pending[i], argv[optind]);
        if (sf_blend(&a.info, a.data + (size_t)i * size, b.data + (size_t)i * size, w, a.data + (size_t)i * size)) {
            fprintf(stderr, PROG " state blend: -w %s: the blend overflows (state %d is not finite); use weights nearer "
                                 "0..1\n", weights, i);
            rc = 2;
        }
    }
    if (rc == 0) {
        a.text = NULL; /* no longer the state of that text */
        rc = write_states(&a, &o, a.dtype);
    }
    sf_free(&a);
    sf_free(&b);
    return rc;
}

/* ---------- one input: decay and reset ---------- */

static int cmd_decay(int argc, char **argv) {
    static const struct option opts[] = {{"factor", required_argument, NULL, 'f'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"dtype", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    out_opts o = {0};
    float factor = NAN;
    int c;
    if (!cli_check_long_options(PROG " state", argc, argv, "hf:o:", opts)) return 2;
    while ((c = getopt_long(argc, argv, "hf:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!cli_parse_float(PROG " state decay", "factor", optarg, &factor)) return 2;
            if (!(factor >= 0 && factor <= 1)) return usage_error("decay", "-f: expected 0 to 1, got", optarg);
            break;
        case 'o': o.path = optarg; break;
        case 'd':
            if (!parse_dtype("decay", optarg, &o)) return 2;
            break;
        case 'h': fputs(usage_decay, stdout); return 0;
        default: return usage_error("decay", "bad option", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return usage_error("decay", "expected one state file", NULL);
    if (isnan(factor)) return usage_error("decay", "-f FACTOR is required", NULL);
    if (!o.path) return usage_error("decay", "-o OUT is required", NULL);
    rd_error err;
    rd_error_clear(&err);
    sf_states s;
    if (sf_load(argv[optind], NULL, &s, &err) != RD_OK) return fail(&err);
    size_t size = sf_state_size(&s.info);
    for (int i = 0; i < s.n; i++) sf_decay(&s.info, s.data + (size_t)i * size, factor);
    int rc = write_states(&s, &o, s.dtype);
    sf_free(&s);
    return rc;
}

/* "0,3-5" into flags layers[0..n); 0 with a message on error. */
static int parse_layers(const char *v, unsigned char *layers, int n) {
    const char *p = v;
    for (;;) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p || a < 0) break;
        if (*end == '-') {
            const char *q = end + 1;
            b = strtol(q, &end, 10);
            if (end == q || b < a) break;
        }
        if (b >= n) {
            fprintf(stderr, PROG " state reset: --layers: layer %ld is out of range (the state has %d layers: 0 to %d)\n",
                    b, n, n - 1);
            return 0;
        }
        for (long l = a; l <= b; l++) layers[l] = 1;
        if (*end == '\0') return 1;
        if (*end != ',') break;
        p = end + 1;
    }
    fprintf(stderr, PROG " state reset: --layers: expected numbers and ranges such as 0,3-5, got '%s'\n", v);
    return 0;
}

/* "wkv,att_shift" into a kind mask; 0 with a message on error. */
static int parse_kinds(const char *v, const sf_model_info *in, unsigned *mask) {
    char buf[256];
    if (strlen(v) >= sizeof buf) return 0;
    strcpy(buf, v);
    *mask = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = sf_kind_index(in, t);
        if (k < 0) {
            fprintf(stderr, PROG " state reset: --kinds: no kind '%s' (the state has", t);
            for (int j = 0; j < in->n_kinds; j++) fprintf(stderr, " %s", in->kind_name[j]);
            fputs(")\n", stderr);
            return 0;
        }
        *mask |= 1u << k;
    }
    if (!*mask) fprintf(stderr, PROG " state reset: --kinds: expected kind names, got '%s'\n", v);
    return *mask != 0;
}

/* Applies --layers / --kinds to every state of s and writes it. */
static int reset_and_write(sf_states *s, const char *layer_list, const char *kind_list, const out_opts *o) {
    unsigned char *layers = NULL;
    unsigned kinds = (1u << s->info.n_kinds) - 1;
    if (layer_list) {
        layers = calloc((size_t)s->info.n_layer, 1);
        if (!layers) {
            fprintf(stderr, PROG ": out of memory\n");
            return 3;
        }
        if (!parse_layers(layer_list, layers, s->info.n_layer)) {
            free(layers);
            return 2;
        }
    }
    if (kind_list && !parse_kinds(kind_list, &s->info, &kinds)) {
        free(layers);
        return 2;
    }
    size_t size = sf_state_size(&s->info);
    for (int i = 0; i < s->n; i++) sf_reset(&s->info, s->data + (size_t)i * size, layers, kinds);
    free(layers);
    return write_states(s, o, s->dtype);
}

static int cmd_reset(int argc, char **argv) {
    static const struct option opts[] = {{"layers", required_argument, NULL, 'l'},
                                         {"kinds", required_argument, NULL, 'k'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"dtype", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    out_opts o = {0};
    const char *layer_list = NULL, *kind_list = NULL;
    int c;
    if (!cli_check_long_options(PROG " state", argc, argv, "ho:", opts)) return 2;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'l': layer_list = optarg; break;
        case 'k': kind_list = optarg; break;
        case 'o': o.path = optarg; break;
        case 'd':
            if (!parse_dtype("reset", optarg, &o)) return 2;
            break;
        case 'h': fputs(usage_reset, stdout); return 0;
        default: return usage_error("reset", "bad option", argv[optind - 1]);
        }
    }
    if (argc - optind != 1) return usage_error("reset", "expected one state file", NULL);
    if (!layer_list && !kind_list) return usage_error("reset", "give --layers, --kinds or both", NULL);
    if (!o.path) return usage_error("reset", "-o OUT is required", NULL);
    rd_error err;
    rd_error_clear(&err);
    sf_states s;
    if (sf_load(argv[optind], NULL, &s, &err) != RD_OK) return fail(&err);
    int rc = reset_and_write(&s, layer_list, kind_list, &o);
    sf_free(&s);
    return rc;
}

/* ---------- dispatch ---------- */

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
} subcommand;

static const subcommand subcommands[] = {
    {"save", cmd_save},   {"inspect", cmd_inspect}, {"diff", cmd_diff},
    {"blend", cmd_blend}, {"decay", cmd_decay},     {"reset", cmd_reset},
};

int state_cmd_main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage_state, stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage_state, stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0) {
            optind = 0; /* full getopt reset: state_cmd_main may run more than once */
            opterr = 0;
            return subcommands[i].run(argc - 1, argv + 1); /* the caller checks stdout */
        }
    fprintf(stderr, PROG " state: unknown subcommand '%s' (expected save, inspect, diff, blend, decay or reset; see "
            PROG " state --help)\n", argv[1]);
    return 2;
}
