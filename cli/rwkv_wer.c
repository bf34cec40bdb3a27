/* cli/rwkv_wer.c - rwkv-wer: word and character error rates of a hypothesis
 * file against a reference file. Parsing, alignment and formats live in
 * cli/wer.c; this file reads the options and wires them together. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/wer.h"
#include "cli/cli_util.h"
#include "common/status.h"

#define PROG "rwkv-wer"

static const char usage_text[] =
    "usage: rwkv-wer [options] REF HYP\n"
    "\n"
    "Word error rate (WER) and character error rate (CER) of HYP against REF.\n"
    "Both files hold lines 'utt_id<TAB>text' (a space after the id also works;\n"
    "the text may be empty; blank lines are skipped). Utterances are matched by id.\n"
    "Words are separated by spaces or tabs. The CER counts Unicode code points and\n"
    "ignores spaces, so it works for Chinese or Japanese text written without them.\n"
    "An utterance missing from HYP counts as all deletions (named on stderr); one\n"
    "only in HYP is named on stderr and ignored. '-' reads one of the files from stdin.\n"
    "\n"
    "Output (as Kaldi's compute-wer, which scripts such as utils/best_wer.sh read;\n"
    "%SER: utterances with a word error):\n"
    "  %WER 12.34 [ 56 / 454, 3 ins, 10 del, 43 sub ]\n"
    "  %CER 5.67 [ 120 / 2116, 30 ins, 40 del, 50 sub ]\n"
    "  %SER 45.00 [ 9 / 20 ]\n"
    "  Scored 20 sentences, 0 not present in hyp.\n"
    "A rate with an empty reference and some insertions is undefined: 'n/a' (JSON null).\n"
    "\n"
    "Options:\n"
    "  --details                per-utterance alignment: REF/HYP lines with *** for gaps\n"
    "                           and an OP line with S (substitution), D (deletion),\n"
    "                           I (insertion); blank for a match\n"
    "  --format text|json       text (above), or one JSON object: wer and cer as fractions\n"
    "                           (0.25 = 25%), word and char counts, utterance counts, and\n"
    "                           with --details a 'details' list (alignment per utterance) [text]\n"
    "  -i, --case-insensitive   fold case of ASCII, Latin-1, Greek and Cyrillic letters\n"
    "  --cer-spaces             count the space between two words as a character in the\n"
    "                           CER (runs of spaces are one; none at the ends)\n"
    "  --remove-punct           delete punctuation before scoring (ASCII except the\n"
    "                           apostrophe, general, CJK and full-width punctuation)\n"
    "  -h, --help               this text\n"
    "  --version                the version\n"
    "\n"
    "Alignment: Levenshtein distance (unit costs); among equally good alignments the\n"
    "one preferring substitutions, then deletions, then insertions, from the end, is\n"
    "reported.\n"
    "\n"
    "Exit status: 0 ok, 1 bad input (malformed file, duplicate id, invalid UTF-8),\n"
    "2 usage, 3 resources.\n"
    "\n"
    "Examples:\n"
    "  rwkv-wer ref.txt hyp.txt\n"
    "  rwkv-decode --list test.tsv --tokens tokens.txt | rwkv-wer ref.txt -\n"
    "  rwkv-wer --details -i --remove-punct ref.txt hyp.txt | less\n"
    "  rwkv-wer --format json --details ref.txt hyp.txt > wer.json\n";

typedef struct options {
    int details, json;
    wer_options wer;
} options;

enum { OPT_DETAILS = 256, OPT_FORMAT, OPT_PUNCT, OPT_CER_SPACES };

/* Returns 1 and sets *first to the index of REF in argv, or 0 on a usage error. */
static int parse_options(int argc, char **argv, options *o, int *first) {
    static const struct option longopts[] = {
        {"details", no_argument, 0, OPT_DETAILS}, {"format", required_argument, 0, OPT_FORMAT},
        {"case-insensitive", no_argument, 0, 'i'}, {"remove-punct", no_argument, 0, OPT_PUNCT},
        {"cer-spaces", no_argument, 0, OPT_CER_SPACES},
        {"version", no_argument, 0, 'V'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    int c;
    if (!cli_check_long_options(PROG, argc, argv, "hi", longopts)) return 0;
    while ((c = getopt_long(argc, argv, "hi", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_DETAILS: o->details = 1; break;
        case OPT_FORMAT:
            if (strcmp(optarg, "json") == 0) o->json = 1;
            else if (strcmp(optarg, "text") == 0) o->json = 0;
            else { fprintf(stderr, PROG ": --format: expected text or json, got '%s'\n", optarg); return 0; }
            break;
        case 'i': o->wer.case_insensitive = 1; break;
        case OPT_PUNCT: o->wer.remove_punct = 1; break;
        case OPT_CER_SPACES: o->wer.count_spaces = 1; break;
        case 'h': fputs(usage_text, stdout); exit(0);
        case 'V': puts(PROG " " RD_VERSION); exit(0);
        default: fprintf(stderr, "try '" PROG " --help'\n"); return 0;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, PROG ": expected two files, REF and HYP, got %d (try '" PROG " --help')\n",
                argc - optind);
        return 0;
    }
    if (strcmp(argv[optind], "-") == 0 && strcmp(argv[optind + 1], "-") == 0) {
        fprintf(stderr, PROG ": only one of REF and HYP can be '-' (stdin)\n");
        return 0;
    }
    *first = optind;
    return 1;
}

typedef struct run_ctx {
    const options *o;
    const wer_file *ref, *hyp;
    FILE *details;    /* stdout (text) or a memory stream (json) */
    long n_details;
} run_ctx;

static rd_status on_utterance(void *arg, const wer_utt_result *r, rd_error *err) {
    run_ctx *c = arg;
    char note[1024];
    if (wer_format_note(note, sizeof note, r, c->ref, c->hyp)) fprintf(stderr, PROG ": %s\n", note);
    if (!c->o->details || !r->ref) return RD_OK;
    if (c->o->json) {
        if (c->n_details++) fputc(',', c->details);
        wer_print_utt_json(c->details, r);
    } else {
        wer_print_utt_text(c->details, r);
    }
    return RD_OK;
}

static int fail(const rd_error *err) {
    fprintf(stderr, PROG ": %s\n", err->msg);
    return rd_exit_code(err->status);
}

/* Scores and prints; the files are already read. */
static int run(const options *o, const wer_file *ref, const wer_file *hyp) {
    rd_error err;
    rd_error_clear(&err);
    wer_scorer *s;
    if (wer_scorer_create(&o->wer, &s, &err) != RD_OK) return fail(&err);
    run_ctx c = {o, ref, hyp, stdout, 0};
    char *json = NULL;
    size_t json_len = 0;
    if (o->json && o->details && !(c.details = open_memstream(&json, &json_len))) {
        wer_scorer_free(s);
        rd_fail(&err, RD_ERR_NOMEM, "out of memory");
        return fail(&err);
    }
    wer_summary sum;
    rd_status st = wer_score_files(s, ref, hyp, on_utterance, &c, &sum, &err);
    if (c.details != stdout) fclose(c.details);
    wer_scorer_free(s);
    if (st == RD_OK) {
        if (o->json) wer_print_summary_json(stdout, &sum, json);
        else wer_print_summary_text(stdout, &sum);
    }
    free(json);
    if (st != RD_OK) return fail(&err);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG ": error writing the output\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    options o;
    int first;
    if (!parse_options(argc, argv, &o, &first)) return rd_exit_code(RD_ERR_USAGE);
    rd_error err;
    rd_error_clear(&err);
    wer_file ref, hyp;
    if (wer_file_read(argv[first], &ref, &err) != RD_OK) return fail(&err);
    if (wer_file_read(argv[first + 1], &hyp, &err) != RD_OK) {
        wer_file_free(&ref);
        return fail(&err);
    }
    int rc = run(&o, &ref, &hyp);
    wer_file_free(&ref);
    wer_file_free(&hyp);
    return rc;
}
