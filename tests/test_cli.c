/* tests/test_cli.c - the programs end to end: real emissions decoded to their
 * transcripts, batch lists, shards, threads, JSON, and the errors a user
 * meets (exit status and message). Runs bin/rwkv-decode from the project
 * root; golden cases skip when ../shared/data is absent. */
#include "tests/testutil.h"

#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cli/cli_util.h"
#include "common/npy.h"

#define PROG "bin/rwkv-decode"

typedef struct run_result {
    int status;
    char out[65536];
    char err[8192];
    char cmd[8192]; /* the command, shown when a check of it fails */
} run_result;

static char *slurp(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    size_t len = 0;
    if (f) {
        len = fread(buf, 1, n - 1, f);
        fclose(f);
    }
    buf[len] = '\0';
    return buf;
}

/* Runs a shell command, capturing stdout and stderr separately. */
static void run(run_result *r, const char *fmt, ...) {
    char full[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->cmd, sizeof r->cmd, fmt, ap);
    va_end(ap);
    /* per-process capture files: two test runs side by side must not mix */
    char out[64], errf[64];
    snprintf(out, sizeof out, "/tmp/rd_cli_out.%d", (int)getpid());
    snprintf(errf, sizeof errf, "/tmp/rd_cli_err.%d", (int)getpid());
    snprintf(full, sizeof full, "( %s ) >%s 2>%s </dev/null", r->cmd, out, errf);
    int st = system(full);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    slurp(out, r->out, sizeof r->out);
    slurp(errf, r->err, sizeof r->err);
    unlink(out);
    unlink(errf);
}

/* Asserts the exit status of the command run into r and, where out / err
 * are not NULL, its whole stdout / stderr; names the command and the line of
 * the test that ran it if one fails. */
static void check_run(const run_result *r, int status, const char *out, const char *err, int line) {
    if (r->status != status || (out && strcmp(r->out, out) != 0) || (err && strcmp(r->err, err) != 0))
        print_message("test_cli.c:%d: command: %s\n", line, r->cmd);
    assert_int_equal(r->status, status);
    if (out) assert_string_equal(r->out, out);
    if (err) assert_string_equal(r->err, err);
}

/* run(), then check_run(): its exit status alone, or with its whole stdout
 * or its whole stderr. */
#define run_exit(r, status, ...) (run((r), __VA_ARGS__), check_run((r), (status), NULL, NULL, __LINE__))
#define run_out(r, status, out, ...) (run((r), __VA_ARGS__), check_run((r), (status), (out), NULL, __LINE__))
#define run_err(r, status, err, ...) (run((r), __VA_ARGS__), check_run((r), (status), NULL, (err), __LINE__))

static int have_prog(void) { return access(PROG, X_OK) == 0; }

#define NEED_PROG()                                      \
    do {                                                 \
        if (!have_prog()) {                              \
            fprintf(stderr, "skipping: " PROG " not built\n"); \
            skip();                                      \
        }                                                \
    } while (0)

/* NEED_PROG(), then RD_DATA_OR_SKIP for each (buf, rel) pair of the
 * NULL-ended list, in its order: each buf (a char[512]) gets the path of its
 * shared data file rel, or the test is skipped. */
static void need_prog_and_data(char *buf, const char *rel, ...) {
    NEED_PROG();
    va_list ap;
    va_start(ap, rel);
    while (buf) {
        if (!rd_test_data(buf, 512, rel)) {
            va_end(ap);
            fprintf(stderr, "skipping: %s not found\n", rel);
            skip();
        }
        buf = va_arg(ap, char *);
        if (buf) rel = va_arg(ap, const char *);
    }
    va_end(ap);
}

/* The shared data files most tests decode with (need_prog_and_data's rel). */
static const char *W2V = "emissions/librispeech-121-121726-0000.wav2vec2.npy";
static const char *TOK121 = "emissions/librispeech-121-121726-0000.wav2vec2.tokens.txt";
static const char *LEX_VOCAB = "lexicon/librispeech-lm-vocab.lst";
static const char *LEX_WORDS = "lexicon/librispeech-words.lst";
static const char *ARPA3 = "lm/librispeech-3gram-pruned.arpa";
static const char *RWKV7 = "rwkv/tiny-rwkv-7v0-834K-FP32.bin";
static const char *REF121 =
    "also a popular contrivance whereby love making may be suspended but not stopped during the picnic season";

static void test_librispeech_with_3gram(void **state) {
    char npy[512], lex[512], lm[512];
    need_prog_and_data(npy, W2V, lex, LEX_VOCAB, lm, ARPA3, NULL);
    run_result r;
    run_exit(&r, 0, PROG " --logits %s --lexicon %s --lm %s", npy, lex, lm);
    char want[512];
    snprintf(want, sizeof want, "%s\n", REF121);
    assert_string_equal(r.out, want);
}

/* librispeech-words.lst lacks "contrivance": by default the decoder stays in
 * the lexicon; with a finite --unk-score it spells the missing word. */
static void test_missing_word(void **state) {
    char npy[512], lex[512], lm[512];
    need_prog_and_data(npy, W2V, lex, LEX_WORDS, lm, ARPA3, NULL);
    run_result r;
    run_exit(&r, 0, PROG " --logits %s --lexicon %s --lm %s", npy, lex, lm);
    assert_null(strstr(r.out, "contrivance"));
    assert_non_null(strstr(r.out, "also a popular "));
    assert_non_null(strstr(r.out, " whereby love making may be suspended but not stopped during the picnic season"));
    run_exit(&r, 0, PROG " --logits %s --lexicon %s --lm %s --unk-score -5 --format json", npy, lex, lm);
    assert_non_null(strstr(r.out, "\"text\":\"also a popular contrivance whereby love making"));
    assert_non_null(strstr(r.out, "{\"word\":\"contrivance\""));
    assert_non_null(strstr(r.out, "\"oov\":true"));
}

/* --hotwords: a word the lexicon lacks, added with its units, is decoded;
 * without units, or with a unit the model lacks, it is refused with the
 * hotword file's line. */
static void test_hotwords(void **state) {
    char npy[512], lex[512], lm[512], hot[64];
    need_prog_and_data(npy, W2V, lex, LEX_WORDS, lm, ARPA3, NULL);
    const char ok[] = "# units for a word the lexicon lacks\ncontrivance{c o n t r i v a n c e} :2\n";
    assert_non_null(rd_test_tmpfile(hot, sizeof hot, ok, strlen(ok)));
    run_result r;
    run(&r, PROG " --logits %s --lexicon %s --lm %s --hotwords %s", npy, lex, lm, hot);
    unlink(hot);
    assert_int_equal(r.status, 0);
    char want[512];
    snprintf(want, sizeof want, "%s\n", REF121);
    assert_string_equal(r.out, want);
    const char nounits[] = "picnic\n\ncontrivance :2\n";
    assert_non_null(rd_test_tmpfile(hot, sizeof hot, nounits, strlen(nounits)));
    run_exit(&r, 1, PROG " --logits %s --lexicon %s --hotwords %s", npy, lex, hot);
    char msg[512];
    snprintf(msg, sizeof msg, "rwkv-decode: %s:3: hotword 'contrivance' is not in the lexicon (give its units as "
             "contrivance{u n i t s})\n", hot);
    assert_non_null(strstr(r.err, msg));
    unlink(hot);
    const char badunit[] = "contrivance{c o n Q}\n";
    assert_non_null(rd_test_tmpfile(hot, sizeof hot, badunit, strlen(badunit)));
    run(&r, PROG " --logits %s --lexicon %s --hotwords %s", npy, lex, hot);
    unlink(hot);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, ":1: unit 'Q' of 'contrivance' is not in the tokens"));
    /* a list's third column: that utterance's own hotwords (here a negative
     * weight that bans "stopped"), the other utterance decodes as without */
    const char neg[] = "stopped :-30\n";
    char list[600];
    assert_non_null(rd_test_tmpfile(hot, sizeof hot, neg, strlen(neg)));
    int ln = snprintf(list, sizeof list, "u1\t%s\t%s\nu2\t%s\n", npy, hot, npy);
    char listpath[64];
    assert_non_null(rd_test_tmpfile(listpath, sizeof listpath, list, (size_t)ln));
    run(&r, PROG " --list %s --lexicon %s --lm %s", listpath, lex, lm);
    unlink(hot);
    unlink(listpath);
    assert_int_equal(r.status, 0);
    const char *u2 = strstr(r.out, "u2\t");
    assert_non_null(u2);
    assert_null(strstr(r.out, "u1\talso a popular whereby love making may be suspended but not stopped"));
    assert_non_null(strstr(r.out, "u1\talso a popular"));
    assert_non_null(strstr(u2, " but not stopped during the picnic season"));
    run_exit(&r, 2, PROG " --logits %s --hotword-weight 2", npy);
    assert_non_null(strstr(r.err, "--hotword-weight does nothing without --hotwords or --list"));
}

static void test_ocr_line_real_words(void **state) {
    char npy[512], lm[512];
    need_prog_and_data(npy, "emissions/ocr-handwriting-line.npy", lm, "lm/ocr-bigram.arpa", NULL);
    /* the lexicon: the LM's words spelled with the OCR model's units */
    const char lex[] = "the t h e\nfake f a k e\nfriend f r i e n d\nof o f\nfamily, f a m i l y ,\nlike l i k e\n";
    char lexpath[64];
    assert_non_null(rd_test_tmpfile(lexpath, sizeof lexpath, lex, strlen(lex)));
    run_result r;
    run(&r, PROG " --logits %s --lexicon %s --lm %s", npy, lexpath, lm);
    unlink(lexpath);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "the fake friend of the family, like the\n");
}

static void test_all_emissions_one_command(void **state) {
    char dir[512];
    need_prog_and_data(dir, "emissions", NULL);
    run_result r;
    run_exit(&r, 0, PROG " %s/*.npy", dir);
    assert_non_null(strstr(r.out, "librispeech-pyctcdecode-sample\ti have a good deal of will you remember and what "
                                  "i have set my mind upon no doubt i shall some day achieve\n"));
    assert_non_null(strstr(r.out, "librispeech-121-121726-0000.wav2vec2\talso a popular contrivance"));
    assert_non_null(strstr(r.err, "rwkv-decode: decoded 3 utterances (0 failed)"));
}

/* A list decoded with 1 or 2 threads, and as the sorted concatenation of 3
 * shards, gives identical output. */
static void test_threads_and_shards_identical(void **state) {
    char npy[512], tok[512];
    need_prog_and_data(npy, W2V, tok, TOK121, NULL);
    char list[64];
    char text[8192];
    size_t n = 0;
    for (int i = 0; i < 7; i++) n += (size_t)snprintf(text + n, sizeof text - n, "u%d\t%s\n", i, npy);
    assert_non_null(rd_test_tmpfile(list, sizeof list, text, n));
    run_result a, b;
    run(&a, PROG " --list %s --tokens %s --threads 1 --beam 8", list, tok);
    run(&b, PROG " --list %s --tokens %s --threads 2 --beam 8", list, tok);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.out, b.out);
    run(&b, PROG " --list %s --tokens %s --threads 8 --beam 8", list, tok);
    assert_string_equal(a.out, b.out);
    run(&b, "for k in 1 2 3; do " PROG " --list %s --tokens %s --beam 8 --shard $k/3 --quiet; done | sort", list, tok);
    run_result s;
    run(&s, PROG " --list %s --tokens %s --beam 8 --quiet | sort", list, tok);
    assert_string_equal(b.out, s.out);
    unlink(list);
}

static void test_errors_name_file_and_exit(void **state) {
    NEED_PROG();
    run_result r;
    run_exit(&r, 1, PROG " --logits /nonexistent/x.npy --tokens /dev/null");
    assert_non_null(strstr(r.err, "/nonexistent/x.npy"));
    run_err(&r, 2, "rwkv-decode: --beam: expected a whole number from 1 to 100000, got '0'\n",
        PROG " --beam 0 --logits x.npy");
    run_err(&r, 2, "rwkv-decode: --format: expected text, json or ctm, got 'xml'\n",
        PROG " --format xml --logits x.npy");
    run_exit(&r, 2, PROG " --shard 4/3 --logits x.npy");
    run_exit(&r, 0, PROG " --help");
    assert_non_null(strstr(r.out, "--homophones H"));
}

/* A bad utterance in a list: named, skipped with --keep-going, counted. */
static void test_keep_going_counts_failures(void **state) {
    char npy[512], tok[512];
    need_prog_and_data(npy, W2V, tok, TOK121, NULL);
    char other[512];
    RD_DATA_OR_SKIP(other, "emissions/librispeech-pyctcdecode-sample.npy");
    char list[64], text[4096];
    int n = snprintf(text, sizeof text, "good1\t%s\nmissing\t/nonexistent.npy\nwrongvocab\t%s\ngood2\t%s\n", npy,
                     other, npy);
    assert_non_null(rd_test_tmpfile(list, sizeof list, text, (size_t)n));
    run_result r;
    run_exit(&r, 1, PROG " --list %s --tokens %s --keep-going --beam 4", list, tok);
    assert_non_null(strstr(r.out, "good1\talso a popular"));
    assert_non_null(strstr(r.out, "good2\talso a popular"));
    assert_null(strstr(r.out, "missing"));
    assert_non_null(strstr(r.err, "/nonexistent.npy: cannot open"));
    char want[1024];
    snprintf(want, sizeof want, "%s: has 29 units a frame but %s lists 32", other, tok);
    assert_non_null(strstr(r.err, want));
    assert_non_null(strstr(r.err, "decoded 2 utterances (2 failed)"));
    /* without --keep-going the first failure stops the run, after good1 */
    run_exit(&r, 1, PROG " --list %s --tokens %s --beam 4", list, tok);
    assert_non_null(strstr(r.out, "good1\t"));
    assert_null(strstr(r.out, "good2\t"));
    unlink(list);
}

/* With the 3-gram and JSON scores: byte-identical for 1, 2 and 8 threads and
 * for sorted shards; a session list with --session-carry too. */
static void test_determinism_with_lm(void **state) {
    char npy[512], tok[512], lex[512], lm[512], other[512];
    need_prog_and_data(npy, W2V, other, "emissions/librispeech-pyctcdecode-sample.npy", tok, TOK121, lex, LEX_VOCAB,
                       lm, ARPA3, NULL);
    (void)other;
    char list[64], text[8192];
    size_t n = 0;
    for (int i = 0; i < 12; i++) n += (size_t)snprintf(text + n, sizeof text - n, "s%d/u%d %s\n", i / 4, i, npy);
    assert_non_null(rd_test_tmpfile(list, sizeof list, text, n));
    char opts[2048];
    snprintf(opts, sizeof opts, "--list %s --tokens %s --lexicon %s --lm %s --beam 8 --format json --quiet", list, tok,
             lex, lm);
    run_result a, b;
    run_exit(&a, 0, PROG " %s --threads 1", opts);
    assert_non_null(strstr(a.out, "\"text\":\"also a popular contrivance"));
    for (int t = 2; t <= 8; t *= 4) {
        run(&b, PROG " %s --threads %d", opts, t);
        assert_string_equal(a.out, b.out);
    }
    run(&a, PROG " %s | sort", opts);
    run(&b, "for k in 1 2 3 4 5; do " PROG " %s --shard $k/5 --threads 2; done | sort", opts);
    assert_string_equal(a.out, b.out);
    /* --session-carry: one worker per session, same bytes for any thread count;
     * the second utterance of a session is scored in context (its LM score differs) */
    run(&a, PROG " %s --session-carry --threads 1", opts);
    run(&b, PROG " %s --session-carry --threads 8", opts);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.out, b.out);
    run(&b, PROG " %s --threads 1", opts);
    assert_string_not_equal(a.out, b.out);
    unlink(list);
}

/* Plain-text emissions (by content, any name; '-' = stdin) decode like the .npy. */
static void test_text_matrix_input(void **state) {
    char npy[512], tok[512];
    need_prog_and_data(npy, W2V, tok, TOK121, NULL);
    rd_npy x;
    rd_error err;
    assert_int_equal(rd_npy_read(npy, &x, &err), RD_OK);
    char mat[64];
    snprintf(mat, sizeof mat, "/tmp/rd_cli_mat.%d.csv", (int)getpid());
    FILE *f = fopen(mat, "w");
    assert_non_null(f);
    for (int64_t t = 0; t < x.shape[0]; t++)
        for (int64_t v = 0; v < x.shape[1]; v++)
            fprintf(f, "%.9g%s", (double)x.data[t * x.shape[1] + v], v + 1 < x.shape[1] ? (t % 2 ? ", " : "\t") : "\n");
    fclose(f);
    rd_npy_free(&x);
    run_result a, b;
    run(&a, PROG " --logits %s --beam 8", npy);
    run_exit(&b, 0, PROG " --logits %s --tokens %s --beam 8", mat, tok);
    assert_string_equal(a.out, b.out);
    run(&b, "cat %s | " PROG " --logits - --tokens %s --beam 8", mat, tok);
    assert_string_equal(a.out, b.out);
    run_err(&b, 1, "rwkv-decode: <stdin>:2: expected 3 values (as on line 1), found 2\n",
        "printf '1 2 3\\n4 5\\n' | " PROG " --logits - --tokens %s", tok);
    unlink(mat);
}

/* --stream in chunks of 1, 7, 50 frames ends with the whole decode's line. */
static void test_stream_equals_whole(void **state) {
    char npy[512], lex[512], lm[512], tok[512];
    need_prog_and_data(npy, W2V, tok, TOK121, lex, LEX_VOCAB, lm, ARPA3, NULL);
    run_result w, s;
    run_exit(&w, 0, PROG " --logits %s --lexicon %s --lm %s --format json --quiet", npy, lex, lm);
    int chunks[] = {1, 7, 50};
    for (int i = 0; i < 3; i++) {
        run(&s, "cat %s | " PROG " --stream --chunk-frames %d --logits - --tokens %s --lexicon %s --lm %s --format json "
            "--quiet | tail -1 | sed 's/\"utt\":\"-\"/\"utt\":\"librispeech-121-121726-0000.wav2vec2\"/'",
            npy, chunks[i], tok, lex, lm);
        assert_string_equal(s.out, w.out);
    }
    run_exit(&s, 0, PROG " --stream --logits %s --lexicon %s --lm %s --beam 8 --beam-threshold 10", npy, lex, lm);
    assert_non_null(strstr(s.out, "\tpartial\talso a popular\n"));
    /* a .npy stream cut short: an error naming how many frames came */
    run_exit(&s, 1, "head -c 3000 %s | " PROG " --stream --logits - --tokens %s --stream-timeout 0.1", npy, tok);
    assert_non_null(strstr(s.err, "-: truncated: the header says 422 frames, 22 arrived"));
}

/* SIGTERM mid-batch: finished lines written, 143, how far it got; --resume
 * then completes the output; "| head" ends quietly. No timing: the 11th
 * utterance of the list is a FIFO, and the test's own open of it for writing
 * returns only once the decoder (one thread, in order) has finished the first
 * ten and opened it; the signal comes then. (It used to poll for a non-empty
 * output and expect "utterances": a loaded machine could have written one.) */
static void test_signals_and_resume(void **state) {
    char npy[512], tok[512], lex[512], lm[512];
    need_prog_and_data(npy, W2V, tok, TOK121, lex, LEX_VOCAB, lm, ARPA3, NULL);
    char dir[] = "/tmp/rd_cli_sigXXXXXX", path[600];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/fifo.npy", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    /* list: 30 utterances, u00010 the FIFO; list2: the same ids, all real */
    for (int k = 0; k < 2; k++) {
        char name[600];
        snprintf(name, sizeof name, "%s/list%d", dir, k);
        FILE *f = fopen(name, "w");
        assert_non_null(f);
        for (int i = 0; i < 30; i++) fprintf(f, "u%05d\t%s\n", i, i == 10 && k == 0 ? path : npy);
        fclose(f);
    }
    char opts[2048];
    snprintf(opts, sizeof opts, "--tokens %s --lexicon %s --lm %s --beam 4 --threads 1", tok, lex, lm);
    run_result r;
    run(&r, PROG " --list %s/list0 %s > %s/part.tsv & p=$!; exec 3> %s; kill -TERM $p; wait $p; echo status=$?; "
        "exec 3>&-; wc -l < %s/part.tsv", dir, opts, dir, path, dir);
    assert_string_equal(r.out, "status=143\n10\n");
    assert_non_null(strstr(r.err, "rwkv-decode: interrupted by SIGTERM: 10 of 30 utterances written, 0 failed, 20 not "
                                  "finished (first: u00010); go on with --resume\n"));
    run(&r, PROG " --list %s/list1 %s --resume %s/part.tsv >> %s/part.tsv; echo status=$?; cut -f1 %s/part.tsv | sort "
        "| uniq | wc -l; wc -l < %s/part.tsv", dir, opts, dir, dir, dir, dir);
    assert_string_equal(r.out, "status=0\n30\n30\n");
    char want[700];
    snprintf(want, sizeof want, "rwkv-decode: --resume: 10 utterances already in %s/part.tsv, 20 to decode\n", dir);
    assert_non_null(strstr(r.err, want));
    /* | head: the output (4000 lines) is larger than a pipe holds, so the
     * decoder is still writing when head exits, whatever the machine's speed */
    snprintf(want, sizeof want, "%s/big", dir);
    FILE *f = fopen(want, "w");
    assert_non_null(f);
    for (int i = 0; i < 4000; i++) fprintf(f, "u%05d\t%s\n", i, npy);
    fclose(f);
    run_exit(&r, 0, PROG " --list %s %s | head -2", want, opts);
    assert_int_equal(strlen(r.out), 2 * (strlen("u00000\t") + strlen(REF121) + 1));
    assert_null(strstr(r.err, "rror")); /* no "Broken pipe" / write error: it just ends */
    assert_null(strstr(r.err, "decoded"));
    run(&r, "rm -r %s", dir);
}

/* --lm-state FILE from 'rwkv-lm state save' decodes exactly as --lm-prefix
 * with the same text; a corrupt or foreign state file is refused. */
static void test_lm_state_equals_prefix(void **state) {
    char npy[512], model[512], other[512];
    need_prog_and_data(npy, W2V, model, RWKV7, other, "rwkv/tiny-rwkv-4v0-660K-FP32.bin", NULL);
    /* a small lexicon: the transcript's words spelled in the model's letters, plus distractors */
    char lex[64], text[8192];
    size_t n = 0;
    const char *words = "also a popular contrivance whereby love making may be suspended but not stopped during "
                        "the picnic season pop poplar contrive making",
               *w = words;
    while (*w) {
        size_t k = strcspn(w, " ");
        n += (size_t)snprintf(text + n, sizeof text - n, "%.*s\t", (int)k, w);
        for (size_t i = 0; i < k; i++) n += (size_t)snprintf(text + n, sizeof text - n, "%c ", w[i]);
        text[n - 1] = '\n';
        w += k + (w[k] == ' ');
    }
    assert_non_null(rd_test_tmpfile(lex, sizeof lex, text, n));
    const char *prefix = "the picnic was about love";
    run_result a, b;
    char stf[64];
    snprintf(stf, sizeof stf, "/tmp/rd_cli.%d.state", (int)getpid());
    run_exit(&a, 0, "bin/rwkv-lm state save --model %s --text '%s' -o %s", model, prefix, stf);
    run(&a, PROG " --logits %s --lexicon %s --lm %s --lm-prefix '%s' --format json", npy, lex, model, prefix);
    run(&b, PROG " --logits %s --lexicon %s --lm %s --lm-state %s --format json", npy, lex, model, stf);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_string_equal(a.out, b.out);
    assert_non_null(strstr(a.out, REF121));
    /* a state and a prefix: the prefix continues the state */
    run(&a, PROG " --logits %s --lexicon %s --lm %s --lm-prefix '%s season' --format json", npy, lex, model, prefix);
    run(&b, PROG " --logits %s --lexicon %s --lm %s --lm-state %s --lm-prefix season --format json",
        npy, lex, model, stf);
    assert_string_equal(a.out, b.out);
    /* refused: another model's state, a corrupt file, an ARPA LM */
    run_exit(&b, 1, PROG " --logits %s --lexicon %s --lm %s --lm-state %s", npy, lex, other, stf);
    assert_non_null(strstr(b.err, ".state: made for another model"));
    run_exit(&b, 1, "printf 'X' | dd of=%s bs=1 seek=$(($(stat -c %%s %s) - 20)) conv=notrunc 2>/dev/null; " PROG
        " --logits %s --lexicon %s --lm %s --lm-state %s", stf, stf, npy, lex, model, stf);
    assert_non_null(strstr(b.err, ".state: checksum"));
    unlink(stf);
    unlink(lex);
}

static void test_list_parse_error(void **state) {
    NEED_PROG();
    char list[64];
    const char text[] = "a\tx.npy\n\tonly-a-path-after-tab\n";
    assert_non_null(rd_test_tmpfile(list, sizeof list, text, strlen(text)));
    run_result r;
    run_exit(&r, 1, PROG " --list %s --tokens /dev/null", list);
    char want[256];
    snprintf(want, sizeof want, "rwkv-decode: %s:2: expected utt_id<TAB>path.npy[<TAB>hotwords.txt]\n", list);
    assert_string_equal(r.err, want);
    unlink(list);
}

/* Options as users type them: no silent abbreviation, aliases, "did you
 * mean", --version, options that would do nothing refused (exit 2). */
/* --device: cpu is the default; auto decodes on the CPU here (no GPU, or a
 * build without CUDA) with the same output; cuda exits 3 saying what is
 * missing; --batch is refused with --device cpu. */
static void test_device_option(void **state) {
    char npy[512], lex[512];
    need_prog_and_data(npy, W2V, lex, LEX_VOCAB, NULL);
    run_result base, r;
    run_exit(&base, 0, PROG " --logits %s --lexicon %s --quiet", npy, lex);
    run_out(&r, 0, base.out, PROG " --device cpu --logits %s --lexicon %s --quiet", npy, lex);
    run_out(&r, 0, base.out, PROG " --device auto --logits %s --lexicon %s --quiet", npy, lex);
    assert_string_equal(r.err, "");
    /* cuda: exit 3 naming what is missing, whatever the program's build and
     * machine (the program, not this test binary, decides: check-asan runs
     * the main build's bin/rwkv-decode) */
    run_out(&r, 3, "", PROG " --device cuda --logits %s --lexicon %s", npy, lex);
    static const char found[] = "rwkv-decode: --device cuda: a CUDA device was found, but this version decodes on "
                                "the CPU only (the GPU decode path is not wired yet); use --device cpu\n";
    int gpu = strcmp(r.err, found) == 0;
    if (!gpu && strcmp(r.err, "rwkv-decode: --device cuda: this build has no CUDA support (rebuild with nvcc on "
                              "PATH)\n") != 0 &&
        strncmp(r.err, "rwkv-decode: --device cuda: no cuda device: ", 44) != 0)
        fail_msg("unexpected --device cuda message: %s", r.err);
    run_out(&r, 0, base.out, PROG " --device auto --logits %s --lexicon %s", npy, lex);
    assert_int_equal(strstr(r.err, "--device auto: a CUDA device was found") != NULL, gpu);
    run_err(&r, 2, "rwkv-decode: --device: expected auto, cpu or cuda, got 'gpu'\n",
        PROG " --device gpu --logits %s", npy);
}

/* --batch B: a thread's B utterances at once, their RWKV forward calls
 * batched, decode exactly as one at a time (byte for byte): an RWKV LM in
 * the search, RWKV rescoring, two threads, more members than utterances;
 * stderr counts the batches. Refused where it does nothing. */
static void test_batch_same_output(void **state) {
    char a[512], b[512], c[512], model[512], arpa[512], m2[512], m4[512];
    need_prog_and_data(a, W2V, b, "emissions/librispeech-pyctcdecode-sample.npy", c,
                       "emissions/ocr-handwriting-line.npy", model, RWKV7, arpa, "lm/kenlm-test.arpa", m2,
                       "rwkv/english-rwkv7-2m-bytes.pth", m4, "rwkv/tiny-rwkv-4v0-660K-FP32.bin", NULL);
    char list[64], text[8192];
    const char *f[3] = {a, b, c};
    size_t n = 0;
    for (int i = 0; i < 7; i++) n += (size_t)snprintf(text + n, sizeof text - n, "u%d\t%s\n", i, f[i % 3]);
    assert_non_null(rd_test_tmpfile(list, sizeof list, text, n));
    /* (the reviewer's third: two RWKV models and an RWKV-4 rescorer in one group) */
    static const char *const runs[] = {
        "--lm %s --beam 8",
        "--nbest 4 --rescore %s --format json",
        "--lm %s --lm %s --lm-weight 0.3,0.5 --rescore %s --nbest 3 --format json",
    };
    for (size_t k = 0; k < sizeof runs / sizeof *runs; k++) {
        run_result one, r;
        char opts[2048];
        snprintf(opts, sizeof opts, runs[k], model, m2, m4);
        run_exit(&one, 0, PROG " --list %s %s --quiet", list, opts);
        assert_non_null(strstr(one.out, "u6"));
        run_exit(&r, 0, PROG " --list %s %s --batch 3", list, opts);
        assert_string_equal(r.out, one.out);
        assert_non_null(strstr(r.err, "rwkv-decode: --batch 3: "));
        assert_non_null(strstr(r.err, " RWKV forward calls ran as "));
        assert_non_null(strstr(r.err, "state cache per utterance decoded at once (up to 3 a thread)"));
        run_exit(&r, 0, PROG " --list %s %s --batch 2 --threads 2 --quiet", list, opts);
        assert_string_equal(r.out, one.out);
        run_exit(&r, 0, PROG " --list %s %s --batch 9 --quiet", list, opts);
        assert_string_equal(r.out, one.out);
    }
    run_result r;
    run_err(&r, 2, "rwkv-decode: --batch does nothing without --lm\n", PROG " --batch 8 --logits %s", a);
    run_err(&r, 2, "rwkv-decode: --batch does nothing with an ARPA --lm (it is for RWKV models)\n",
        PROG " --batch 8 --list %s --lm %s", list, arpa);
    run_err(&r, 2, "rwkv-decode: --batch does nothing with --stream (one utterance)\n",
        PROG " --batch 8 --stream --logits %s --lm %s", a, model);
    run_err(&r, 2, "rwkv-decode: --batch: expected a whole number from 1 to 256, got '0'\n",
        PROG " --batch 0 --list %s --lm %s", list, model);
    unlink(list);
}

/* Worker threads that cannot all be started (tests/fail_threads.c, beside
 * this program, makes every pthread_create past the first N fail) leave the
 * run to those that started, which it says, with the output of one thread.
 * It used to stop with "cannot start thread N" (exit 3), freeing what the
 * started threads were using (a crash, exit 139, in some runs). None at all
 * is an error naming why. */
static void test_threads_that_cannot_start(void **state) {
    char npy[512], tok[512], shim[4096];
    need_prog_and_data(npy, W2V, tok, TOK121, NULL);
    ssize_t k = readlink("/proc/self/exe", shim, sizeof shim - 32);
    assert_true(k > 0);
    shim[k] = '\0';
    strcpy(strrchr(shim, '/') + 1, "fail_threads.so");
    assert_int_equal(access(shim, R_OK), 0);
    char list[64];
    static char text[40 * 600];
    size_t n = 0;
    for (int i = 0; i < 40; i++) n += (size_t)snprintf(text + n, sizeof text - n, "u%d\t%s\n", i, npy);
    assert_non_null(rd_test_tmpfile(list, sizeof list, text, n));
    static run_result one, r;
    run_exit(&one, 0, PROG " --list %s --tokens %s --beam 2 --quiet", list, tok);
    /* the signal thread and three workers start, the fourth does not */
    run_out(&r, 0, one.out, "RD_FAIL_THREADS_AFTER=4 LD_PRELOAD=%s " PROG " --list %s --tokens %s --beam 2 --quiet "
            "--threads 8", shim, list, tok);
    assert_string_equal(r.err, "rwkv-decode: started 3 of 8 worker threads (Resource temporarily unavailable); "
                               "decoding with those\n");
    run_err(&r, 3, "rwkv-decode: cannot start a worker thread: Resource temporarily unavailable\n",
            "RD_FAIL_THREADS_AFTER=1 LD_PRELOAD=%s " PROG " --list %s --tokens %s --beam 2 --threads 2", shim,
            list, tok);
    unlink(list);
}

static void test_options_as_typed(void **state) {
    NEED_PROG();
    struct { const char *args, *err; } bad[] = {
        {"--beam-s 3", "rwkv-decode: unknown option '--beam-s' (options are spelled in full); did you mean "
                       "--beam-size, --beam-size-token?\ntry 'rwkv-decode --help'\n"},
        {"--beam_size 3", "rwkv-decode: unknown option '--beam_size'; did you mean --beam-size?\n"
                          "try 'rwkv-decode --help'\n"},
        {"--lm_weight=1", "rwkv-decode: unknown option '--lm_weight'; did you mean --lm-weight?\n"
                          "try 'rwkv-decode --help'\n"},
        {"--lm-wieght 1", "rwkv-decode: unknown option '--lm-wieght'; did you mean --lm-weight?\n"
                          "try 'rwkv-decode --help'\n"},
        {"--frobnicate", "rwkv-decode: unknown option '--frobnicate'\ntry 'rwkv-decode --help'\n"},
        {"--lm-weight 1", "rwkv-decode: --lm-weight does nothing without --lm\n"},
        {"--lm-prefix 'the'", "rwkv-decode: --lm-prefix does nothing without --lm\n"},
        {"--lm-threads 2", "rwkv-decode: --lm-threads does nothing without --lm\n"},
        {"--session-carry", "rwkv-decode: --session-carry does nothing without --lm\n"},
        {"--homophones 2", "rwkv-decode: --homophones does nothing without --lexicon\n"},
        {"--chunk-frames 4", "rwkv-decode: --chunk-frames does nothing without --stream\n"},
        {"--stream-timeout 1", "rwkv-decode: --stream-timeout does nothing without --stream\n"},
        {"--unk-score -5", "rwkv-decode: --unk-score does nothing without --lexicon or --lm (it scores words the "
                           "lexicon or the LM lacks)\n"},
    };
    run_result r;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        run_err(&r, 2, bad[i].err, PROG " %s --logits x.npy", bad[i].args);
    }
    /* an option's value that looks like an option is a value, not a typo */
    run_err(&r, 2, "rwkv-decode: --lm-prefix does nothing without --lm\n",
        PROG " --lm-prefix --beam-s --logits /nonexistent.npy --tokens /dev/null");
    run_out(&r, 0, "rwkv-decode " RD_VERSION "\n", PROG " --version");
    run(&r, "bin/rwkv-lm --version && bin/rwkv-wer --version");
    assert_string_equal(r.out, "rwkv-lm " RD_VERSION "\nrwkv-wer " RD_VERSION "\n");
    run_err(&r, 2, "rwkv-wer: unknown option '--case_insensitive'; did you mean --case-insensitive?\n"
        "try 'rwkv-wer --help'\n",
        "bin/rwkv-wer --case_insensitive a b");
    run_err(&r, 2, "rwkv-lm state: unknown option '--mod' (options are spelled in full); did you mean "
        "--model?\ntry 'rwkv-lm state --help'\n",
        "bin/rwkv-lm state save --mod x");
    run_exit(&r, 2, "bin/rwkv-lm --model x --thread 2");
    assert_non_null(strstr(r.err, "unknown option '--thread' (options are spelled in full); did you mean --threads?"));
    /* --beam-size and --beam-width are --beam (not --beam-size-token) */
    char npy[512], lm[512], model[512];
    RD_DATA_OR_SKIP(npy, W2V);
    run_result a, b;
    run_exit(&a, 0, PROG " --logits %s --beam 1 --format json", npy);
    run(&b, PROG " --logits %s --beam-size 1 --format json", npy);
    assert_string_equal(a.out, b.out);
    run(&b, PROG " --logits %s --beam-width 1 --format json", npy);
    assert_string_equal(a.out, b.out);
    run_exit(&b, 0, PROG " --logits %s --beam-size-token 1 --format json", npy);
    assert_string_not_equal(a.out, b.out);
    RD_DATA_OR_SKIP(lm, ARPA3);
    run_err(&r, 2, "rwkv-decode: --lm-threads does nothing with an ARPA --lm (it is for RWKV models)\n",
        PROG " --logits %s --lm %s --lm-threads 2", npy, lm);
    RD_DATA_OR_SKIP(model, RWKV7);
    run_err(&r, 2, "rwkv-decode: --unk-score does nothing with an RWKV --lm and no --lexicon (an RWKV "
        "model knows every word)\n",
        PROG " --logits %s --lm %s --unk-score -5", npy, model);
}

/* --unk-score without a lexicon: added per word the ARPA LM does not know
 * (pyctcdecode's unk_score_offset); JSON marks those words "oov". It used to
 * be ignored there (the same text whatever the value). */
static void test_unk_score_lexicon_free(void **state) {
    char npy[512], lm[512];
    need_prog_and_data(npy, "emissions/ocr-handwriting-line.npy", lm, "lm/ocr-bigram.arpa", NULL);
    run_result a, b;
    run_exit(&a, 0, PROG " --logits %s --lm %s --format json --quiet", npy, lm);
    assert_non_null(strstr(a.out, "\"text\":\"the fake friend of the fomcly hae tC\""));
    assert_non_null(strstr(a.out, "\"unk\":3,"));
    assert_non_null(strstr(a.out, "{\"word\":\"fomcly\",\"start\":"));
    assert_non_null(strstr(a.out, ",\"oov\":true}"));
    assert_null(strstr(a.out, "\"word\":\"fake\",\"start\":22,\"end\":30,\"oov\""));
    /* a penalty per unknown word, and (pyctcdecode's partial-word penalty)
     * while a word in progress begins no LM word: fewer unknown words, and
     * "fomcly" gives way to the LM's "family," */
    run_exit(&b, 0, PROG " --logits %s --lm %s --unk-score -5 --format json --quiet", npy, lm);
    assert_non_null(strstr(b.out, "\"text\":\"the fake friend of the family, haetC\""));
    assert_non_null(strstr(b.out, "\"unk\":1,"));
}

/* --nbest N in text output: 'id<TAB>rank<TAB>score<TAB>text', best first. */
static void test_nbest_text(void **state) {
    char npy[512];
    need_prog_and_data(npy, W2V, NULL);
    run_result r, j;
    run_exit(&r, 0, PROG " %s --nbest 3 --beam 8 --quiet", npy);
    run(&j, PROG " %s --nbest 3 --beam 8 --quiet --format json", npy);
    const char *p = r.out;
    for (int rank = 1; rank <= 3; rank++) {
        char want[64];
        snprintf(want, sizeof want, "librispeech-121-121726-0000.wav2vec2\t%d\t", rank);
        assert_memory_equal(p, want, strlen(want));
        const char *score = p + strlen(want), *tab = strchr(score, '\t'), *nl = strchr(score, '\n');
        assert_non_null(tab);
        assert_non_null(nl);
        /* the same score and text as the JSON n-best's entry */
        char js[1024];
        snprintf(js, sizeof js, "\"text\":\"%.*s\",\"score\":%.*s,", (int)(nl - tab - 1), tab + 1,
                 (int)(tab - score), score);
        assert_non_null(strstr(j.out, js));
        p = nl + 1;
    }
    assert_string_equal(p, "");
}

/* Value of "key": after p (a number), or NAN. */
static double json_number(const char *p, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *q = strstr(p, k);
    return q ? strtod(q + strlen(k), NULL) : NAN;
}

/* --rescore: each n-best entry's rescore_lm is what rwkv-lm gives its text
 * (" text": the decoder feeds words with a leading space, then the end
 * token), its score the first pass plus weight times that, the list
 * re-ranked; first_pass is the score the same search gives without
 * --rescore. Two LMs: refused weight counts; the lm of --lm A --lm B is the
 * weighted sum of what each gives that text alone. */
static void test_rescore_and_two_lms(void **state) {
    char npy[512], lex[512], model[512], arpa[512];
    need_prog_and_data(npy, W2V, lex, LEX_VOCAB, model, "rwkv/english-rwkv7-2m-bytes.pth", arpa, ARPA3, NULL);
    run_result r, first, one;
    run_exit(&r, 0,
        PROG " --logits %s --lexicon %s --nbest 6 --rescore %s --rescore-weight 0.7 --format json --quiet", npy,
        lex, model);
    run(&first, PROG " --logits %s --lexicon %s --nbest 6 --format json --quiet", npy, lex);
    const char *p = strstr(r.out, "{\"text\":\"");
    double prev = INFINITY;
    int n = 0;
    for (; p; p = strstr(p + 1, "{\"text\":\""), n++) {
        const char *t = p + 9, *e = strchr(t, '"');
        char text[512], entry[600];
        snprintf(text, sizeof text, "%.*s", (int)(e - t), t);
        double score = json_number(p, "score"), fp = json_number(p, "first_pass"), re = json_number(p, "rescore_lm");
        assert_true(score <= prev);
        prev = score;
        assert_float_equal(score, fp + 0.7 * re, 2e-3);
        snprintf(entry, sizeof entry, "{\"text\":\"%s\",\"score\":", text);
        const char *f = strstr(first.out, entry);
        assert_non_null(f);
        assert_float_equal(json_number(f, "score"), fp, 1e-4 * fabs(fp) + 1e-6);
        run_exit(&one, 0, "printf ' %%s\\n' '%s' | bin/rwkv-lm --model %s --no-tokens | grep '^line'", text, model);
        assert_float_equal(strtod(one.out + 5, NULL), re, 2e-3);
    }
    assert_int_equal(n, 6);
    /* two LMs: the weights' count must match */
    run_err(&r, 2, "rwkv-decode: --lm-weight: 1 weight for 2 --lm (expected one per model, in their "
        "order)\n",
        PROG " --logits %s --lm %s --lm %s --lm-weight 0.5", npy, arpa, model);
    run_err(&r, 2, "rwkv-decode: --rescore-weight does nothing without --rescore\n",
        PROG " --logits %s --rescore-weight 0.5", npy);
    run_exit(&r, 0,
        PROG " --logits %s --lexicon %s --lm %s --lm %s --lm-weight 0.5,0.25 --format json", npy, lex, model,
        model);
    /* one state cache line per model */
    const char *line = strstr(r.err, "state cache per thread");
    assert_non_null(line);
    assert_non_null(strstr(line + 1, "state cache per thread"));
    run(&one, PROG " --logits %s --lexicon %s --lm %s --lm-weight 0.75 --format json --quiet", npy, lex, model);
    /* the same model twice at 0.5 and 0.25 is that model at 0.75 */
    assert_float_equal(json_number(r.out, "score"), json_number(one.out, "score"), 1e-3);
    assert_float_equal(json_number(r.out, "lm"), 0.75 * json_number(one.out, "lm"), 2e-3);
}

/* The wav2vec2 tokens as published elsewhere decode exactly as tokens.txt:
 * with a BOM and CRLF (the BOM used to make <pad> the blank: exit 0, garbage),
 * as a Hugging Face vocab.json, a fairseq dict.ltr.txt and a k2 tokens.txt;
 * a list and an ARPA file with a BOM too. */
static void test_token_files_as_published(void **state) {
    char npy[512], tok[512], lm[512];
    need_prog_and_data(npy, W2V, tok, TOK121, lm, ARPA3, NULL);
    char dir[] = "/tmp/rd_cli_tokXXXXXX";
    assert_non_null(mkdtemp(dir));
    run_result want, r;
    run_out(&want, 0, "also a popular contrivance whereby love making may be suspended but not stopped "
        "during the picnic season\n",
        PROG " --logits %s --tokens %s --beam 8", npy, tok);
    run_exit(&r, 0, "{ printf '\\357\\273\\277'; sed 's/$/\\r/' %s; echo; } > %s/bom.txt && "
        "awk 'BEGIN{printf \"{\"} {printf \"%%s\\\"%%s\\\": %%d\", (NR>1?\", \":\"\"), $1, NR-1} "
        "END{print \"}\"}' %s > %s/vocab.json && awk 'NR>4{print $1, 1000-NR}' %s > %s/dict.ltr.txt && "
        "awk '{print $1, NR-1}' %s > %s/k2.txt", tok, dir, tok, dir, tok, dir, tok, dir);
    const char *files[] = {"bom.txt", "vocab.json", "dict.ltr.txt", "k2.txt"};
    for (int i = 0; i < 4; i++) {
        run_out(&r, 0, want.out, PROG " --logits %s --tokens %s/%s --beam 8", npy, dir, files[i]);
    }
    /* a list and an ARPA model with a BOM */
    run(&want, PROG " --logits %s --lm %s --beam 8 --format json", npy, lm);
    char list[600], bomlm[600];
    snprintf(list, sizeof list, "%s/list", dir);
    snprintf(bomlm, sizeof bomlm, "%s/lm.arpa", dir);
    run_exit(&r, 0, "printf '\\357\\273\\277u1\\t%s\\r\\n' > %s && { printf '\\357\\273\\277'; cat %s; } > %s && " PROG
        " --list %s --tokens %s --lm %s --beam 8 --format json --quiet", npy, list, lm, bomlm, list, tok, bomlm);
    assert_memory_equal(r.out, "{\"utt\":\"u1\",", 11);
    assert_string_equal(strchr(r.out, ','), strchr(want.out, ','));
    run(&r, "rm -r %s", dir);
}

/* Errors that tell the truth, each with its exit status. */
static void test_errors_tell_the_truth(void **state) {
    char npy[512], tok[512], lex[512], lm[512];
    need_prog_and_data(npy, W2V, tok, TOK121, lex, LEX_WORDS, lm, ARPA3, NULL);
    char dir[] = "/tmp/rd_cli_errXXXXXX", want[2048];
    assert_non_null(mkdtemp(dir));
    run_result r;
    /* a directory given as a file: it said "out of memory reading 9223372036854775807 bytes", exit 3 */
    const char *as_dir[] = {"--logits %s", "--logits %s --tokens %s", "--logits %s --lexicon %s",
                            "--logits %s --lm %s", "--list %s --tokens %s"};
    for (int i = 0; i < 5; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, as_dir[i], i == 0 || i == 4 ? dir : npy, dir);
        snprintf(want, sizeof want, "rwkv-decode: %s: is a directory, not a file\n", dir);
        run_err(&r, 1, want, PROG " %s", cmd);
    }
    snprintf(want, sizeof want, "rwkv-wer: %s: is a directory, not a file\n", dir);
    run_err(&r, 1, want, "bin/rwkv-wer %s %s", dir, dir);
    snprintf(want, sizeof want, "rwkv-lm: %s: is a directory, not a file\n", dir);
    run_err(&r, 1, want, "bin/rwkv-lm --lm %s", dir);
    /* a missing .npy is missing (it said "no tokens file") */
    run_err(&r, 1, "rwkv-decode: /nonexistent/a.npy: cannot open: No such file or directory\n",
        PROG " /nonexistent/a.npy --quiet");
    /* a lexicon spelled in units the model lacks: an error with counts */
    snprintf(want, sizeof want, "rwkv-decode: %s/up.lst: only 1 of 26709 pronunciations use units in %s (first "
             "unusable: line 1, unit 'I'): is it the lexicon for this model?\n", dir, tok);
    run_err(&r, 1, want, "tr a-z A-Z < %s > %s/up.lst && " PROG " --logits %s --lexicon %s/up.lst", lex, dir, npy, dir);
    /* mostly usable: a warning with counts, and it decodes */
    run_exit(&r, 0,
        "{ head -3 %s; echo 'zz3 z z 3'; } > %s/part.lst && " PROG " --logits %s --lexicon %s/part.lst --beam 4",
        lex, dir, npy, dir);
    snprintf(want, sizeof want, "rwkv-decode: warning: %s/part.lst: 1 of 4 pronunciations skipped: they use units "
             "that %s lacks (first: line 4, unit '3')\n", dir, tok);
    assert_string_equal(r.err, want);
    /* words the LM lacks (upper case against a lower-case ARPA): a warning with the share */
    run_exit(&r, 0,
        "awk '{ $1 = toupper($1); print }' %s > %s/upw.lst && " PROG " --logits %s --lexicon %s/upw.lst --lm %s "
        "--beam 4 --quiet", lex, dir, npy, dir, lm);
    snprintf(want, sizeof want, "rwkv-decode: warning: only 0.0%% of the 26709 words of %s/upw.lst are in the "
             "vocabulary of %s (the others are scored as <unk>); 87.4%% are when lower-cased: a case mismatch?\n",
             dir, lm);
    assert_string_equal(r.err, want);
    /* --keep-going JSON: a line for the failed utterance too; --resume redoes it */
    run(&r, "printf 'good\\t%s\\nbad\\t/nonexistent.npy\\n' > %s/l && " PROG " --list %s/l --tokens %s --beam 4 "
        "--format json --keep-going --quiet > %s/out; echo $?; grep -c frames %s/out; grep error %s/out",
        npy, dir, dir, tok, dir, dir, dir);
    assert_string_equal(r.out, "1\n1\n{\"utt\":\"bad\",\"error\":\"/nonexistent.npy: cannot open: No such file or "
                               "directory\"}\n");
    run_exit(&r, 1, PROG " --list %s/l --tokens %s --beam 4 --format json --keep-going --resume %s/out", dir, tok, dir);
    snprintf(want, sizeof want, "--resume: 1 utterance already in %s/out, 1 to decode", dir);
    assert_non_null(strstr(r.err, want));
    /* an id that is not UTF-8: escaped (\udcXX), the JSON stays valid, --resume reads it back */
    run(&r, "printf 'ok\\377\\t%s\\nid\\303\\251\\t%s\\n' > %s/l8 && " PROG
        " --list %s/l8 --tokens %s --beam 4 --format json --quiet > %s/o8; cut -d, -f1 %s/o8", npy, npy, dir, dir, tok,
        dir, dir);
    assert_string_equal(r.out, "{\"utt\":\"ok\\udcff\"\n{\"utt\":\"id\xc3\xa9\"\n");
    run_exit(&r, 0, PROG " --list %s/l8 --tokens %s --beam 4 --format json --resume %s/o8", dir, tok, dir);
    snprintf(want, sizeof want, "--resume: 2 utterances already in %s/o8, 0 to decode", dir);
    assert_non_null(strstr(r.err, want));
    run(&r, "rm -r %s", dir);
}

/* LM files as published: .arpa.gz decodes as the .arpa; a file that is no
 * model says what it looks like (it said "unknown tensor file format"). */
static void test_lm_files_as_published(void **state) {
    char npy[512], lex[512], lm[512];
    need_prog_and_data(npy, W2V, lex, LEX_WORDS, lm, ARPA3, NULL);
    char dir[] = "/tmp/rd_cli_lmXXXXXX", want[2048];
    assert_non_null(mkdtemp(dir));
    run_result a, b;
    run_exit(&a, 0, PROG " --logits %s --lexicon %s --lm %s --beam 8 --format json --quiet", npy, lex, lm);
    run_exit(&b, 0,
        "gzip -c %s > %s/lm.arpa.gz && " PROG " --logits %s --lexicon %s --lm %s/lm.arpa.gz --beam 8 --format json "
        "--quiet", lm, dir, npy, lex, dir);
    assert_string_equal(a.out, b.out);
    snprintf(want, sizeof want, "rwkv-decode: %s/t.txt: not a language model: expected an ARPA file (\\data\\ first; "
             "also .gz/.xz/.bz2) or an RWKV model (rwkv.cpp .bin, .pth, .safetensors); found text starting 'hello "
             "world'\n", dir);
    run_err(&b, 1, want, "printf 'hello world\\n' > %s/t.txt && " PROG " --logits %s --lm %s/t.txt", dir, npy, dir);
    snprintf(want, sizeof want, "rwkv-decode: %s: not a language model: expected an ARPA file (\\data\\ first; also "
             ".gz/.xz/.bz2) or an RWKV model (rwkv.cpp .bin, .pth, .safetensors); found a NumPy .npy array "
             "(emissions?)\n", npy);
    run_err(&b, 1, want, PROG " --logits %s --lm %s", npy, npy);
    snprintf(want, sizeof want, "rwkv-decode: %s/k.bin: KenLM binary: give the ARPA file (build_binary's output "
             "cannot be read; .arpa, .arpa.gz, .arpa.xz and .arpa.bz2 can)\n", dir);
    run_err(&b, 1, want, "printf 'mmap lm http://kheafield.com/code format version 5\\n' > %s/k.bin && " PROG
        " --logits %s --lm %s/k.bin", dir, npy, dir);
    run(&b, "rm -r %s", dir);
}

/* Timestamps: seconds with --frame-shift, token times, word confidence,
 * CTM; and the options refused where they would do nothing. */
static void test_timestamps(void **state) {
    char npy[512];
    need_prog_and_data(npy, W2V, NULL);
    run_result r;
    run_exit(&r, 0, PROG " --logits %s --beam 8 --format json --frame-shift 0.02 --token-times --confidence", npy);
    /* also: frames 17-33 -> 0.34 s to 0.68 s (the end of frame 33) */
    assert_non_null(strstr(r.out, "{\"word\":\"also\",\"start\":17,\"end\":33,\"start_time\":0.340,"
                                  "\"end_time\":0.680,\"conf\":1.0000}"));
    assert_non_null(strstr(r.out, "\"tokens\":[{\"token\":\"a\",\"start\":17,\"end\":17,\"start_time\":0.340,"
                                  "\"end_time\":0.360},{\"token\":\"l\",\"start\":18,\"end\":19,"));
    /* one hypothesis printed, however many the confidence used */
    assert_null(strstr(r.out, "}]},{\"text\""));
    run_out(&r, 0, "librispeech-121-121726-0000.wav2vec2 1 0.340 0.340 also\n"
        "librispeech-121-121726-0000.wav2vec2 1 0.960 0.020 a\n",
        PROG " --logits %s --beam 8 --format ctm --frame-shift 0.02 | head -2", npy);
    struct { const char *args, *err; } bad[] = {
        {"--format ctm", "rwkv-decode: --format ctm needs --frame-shift SECONDS (seconds per frame, e.g. 0.02 for "
                         "wav2vec2)\n"},
        {"--frame-shift 0.02", "rwkv-decode: --frame-shift does nothing without --format json or ctm\n"},
        {"--token-times --format ctm --frame-shift 0.02", "rwkv-decode: --token-times does nothing without --format "
                                                          "json\n"},
        {"--confidence", "rwkv-decode: --confidence does nothing without --format json or ctm\n"},
        {"--frame-shift 0 --format json", "rwkv-decode: --frame-shift: expected seconds per frame above 0 (e.g. "
                                          "0.02), got '0'\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        run_err(&r, 2, bad[i].err, PROG " --logits %s %s", npy, bad[i].args);
    }
}

/* --partial best: the current best each time it changes (the stable words
 * gave one partial for this 422-frame utterance with the 3-gram); JSON key
 * "partial"; the last line is still the whole decode's. */
static void test_partial_best(void **state) {
    char npy[512], lex[512], lm[512];
    need_prog_and_data(npy, W2V, lex, LEX_VOCAB, lm, ARPA3, NULL);
    run_result r, w;
    const char *opts = "--beam 8 --chunk-frames 25 --quiet";
    run(&r, PROG " --stream --logits %s --lexicon %s --lm %s %s | grep -c partial", npy, lex, lm, opts);
    int stable = atoi(r.out);
    run_exit(&r, 0, PROG " --stream --logits %s --lexicon %s --lm %s %s --partial best", npy, lex, lm, opts);
    int best = 0;
    for (const char *p = r.out; (p = strstr(p, "\tpartial\t")); p++) best++;
    assert_true(best >= 8);
    assert_true(best > stable);
    assert_non_null(strstr(r.out, "\tpartial\talso a popular contrivance\n"));
    char want[512];
    snprintf(want, sizeof want, "librispeech-121-121726-0000.wav2vec2\t%s\n", REF121);
    assert_string_equal(r.out + strlen(r.out) - strlen(want), want);
    run(&r, PROG " --stream --logits %s --lexicon %s --lm %s %s --partial best --format json | head -1", npy, lex, lm,
        opts);
    const char *head = "{\"utt\":\"librispeech-121-121726-0000.wav2vec2\",\"frame\":";
    assert_memory_equal(r.out, head, strlen(head));
    assert_non_null(strstr(r.out, ",\"partial\":\""));
    run_err(&w, 2, "rwkv-decode: --partial does nothing without --stream\n", PROG " --logits %s --partial best", npy);
    run_err(&w, 2, "rwkv-decode: --partial: expected best or stable, got 'all'\n",
        PROG " --stream --logits %s --partial all", npy);
}

/* Item 1 of issue 17: 'rwkv-lm state save|decay -o OUT' writes a fresh
 * temporary file next to OUT (a planted OUT.tmp symlink is not followed),
 * writes straight through to a FIFO at OUT (not replaced by a regular file),
 * and leaves no temporary file behind when it fails. */
static void test_state_output_written_safely(void **state) {
    char model[512];
    need_prog_and_data(model, RWKV7, NULL);
    run_result r;
    run(&r, "rm -rf /tmp/rd_cli_sw && mkdir /tmp/rd_cli_sw && echo precious > /tmp/rd_cli_sw/victim && "
        "ln -s /tmp/rd_cli_sw/victim /tmp/rd_cli_sw/out.state.tmp && "
        "bin/rwkv-lm state save --model %s --text 'the cat' -o /tmp/rd_cli_sw/out.state >/dev/null; echo status=$?; "
        "cat /tmp/rd_cli_sw/victim; test -L /tmp/rd_cli_sw/out.state.tmp && echo link-kept; "
        "bin/rwkv-lm state inspect /tmp/rd_cli_sw/out.state >/dev/null && echo state-ok; ls /tmp/rd_cli_sw", model);
    assert_string_equal(r.out, "status=0\nprecious\nlink-kept\nstate-ok\nout.state\nout.state.tmp\nvictim\n");
    /* a FIFO at OUT: written through to its reader, still a FIFO afterwards */
    run(&r, "D=/tmp/rd_cli_sw; mkfifo $D/fifo && { cat $D/fifo > $D/from-fifo & } && "
        "bin/rwkv-lm state decay $D/out.state -f 0.5 -o $D/fifo >/dev/null; echo status=$?; wait; "
        "test -p $D/fifo && echo fifo-kept; bin/rwkv-lm state inspect $D/from-fifo >/dev/null && echo state-ok; ls $D");
    assert_string_equal(r.out, "status=0\nfifo-kept\nstate-ok\nfifo\nfrom-fifo\nout.state\nout.state.tmp\nvictim\n");
    /* a failed write (file size limit) leaves OUT as it was and no temporary file */
    run(&r, "D=/tmp/rd_cli_sw; rm -f $D/fifo $D/from-fifo $D/out.state.tmp && cp $D/out.state $D/before && "
        "(ulimit -f 1; trap '' XFSZ; bin/rwkv-lm state decay $D/out.state -f 0.5 -o $D/out.state); "
        "echo status=$?; cmp $D/before $D/out.state && echo unchanged; ls $D");
    assert_string_equal(r.out, "status=1\nunchanged\nbefore\nout.state\nvictim\n");
    assert_non_null(strstr(r.err, "out.state: write error: File too large"));
    run(&r, "rm -rf /tmp/rd_cli_sw");
}

/* Item 2 of issue 17: stdout on /dev/full is an error (exit 3, "writing
 * stdout: No space left on device") in every mode of both programs, and the
 * summary does not count lines that were not written. */
static void test_stdout_full_is_an_error(void **state) {
    char npy[512], tok[512], arpa[512], model[512];
    need_prog_and_data(npy, W2V, tok, TOK121, arpa, "lm/kenlm-test.arpa", model, RWKV7, NULL);
    char list[64], text[2048];
    snprintf(text, sizeof text, "a\t%s\nb\t%s\nc\t%s\n", npy, npy, npy);
    assert_non_null(rd_test_tmpfile(list, sizeof list, text, strlen(text)));
    const char *decode[] = {"--logits %s --beam 4",
                            "--logits %s --beam 4 --format json --nbest 3",
                            "--stream --logits %s --tokens %s --beam 4",
                            "--stream --logits %s --tokens %s --beam 4 --format json"};
    run_result r;
    for (int i = 0; i < 4; i++) {
        char cmd[2048];
        int n = snprintf(cmd, sizeof cmd, PROG " ");
        snprintf(cmd + n, sizeof cmd - (size_t)n, decode[i], npy, tok);
        run_exit(&r, 3, "%s > /dev/full", cmd);
        assert_non_null(strstr(r.err, "rwkv-decode: writing stdout: No space left on device\n"));
    }
    run_exit(&r, 3, PROG " --list %s --beam 4 --threads 2 > /dev/full", list);
    assert_non_null(strstr(r.err, "rwkv-decode: writing stdout: No space left on device\n"));
    assert_non_null(strstr(r.err, "rwkv-decode: decoded 0 utterances (0 failed)"));
    run_exit(&r, 3, PROG " --list %s --beam 4 --format json > /dev/full", list);
    assert_non_null(strstr(r.err, "rwkv-decode: decoded 0 utterances (0 failed)"));
    const char *lm[] = {"bin/rwkv-lm --lm %s < /dev/null",
                        "bin/rwkv-lm --model %s",
                        "bin/rwkv-lm state save --model %s --text 'the cat' -o /tmp/rd_cli_full.state",
                        "bin/rwkv-lm state inspect /tmp/rd_cli_full.state"};
    for (int i = 0; i < 4; i++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, lm[i], i == 0 ? arpa : model);
        run_exit(&r, 3, "echo 'the cat' | %s > /dev/full", cmd);
        assert_non_null(strstr(r.err, "rwkv-lm: writing stdout: No space left on device\n"));
    }
    unlink("/tmp/rd_cli_full.state");
    unlink(list);
}

/* Item 5 of issue 17: --resume is exact after any crash. A cut-off last line
 * is dropped (not glued to the next line), a JSON line counts only if it
 * parses, ids that start with '{' or are 4 KB long are read back, duplicate
 * ids in a list and ids with a tab or newline are refused. */
static void test_resume_exact(void **state) {
    char rel[512], npy[4096];
    need_prog_and_data(rel, W2V, NULL);
    assert_non_null(realpath(rel, npy)); /* the commands run in a temporary directory */
    char dir[] = "/tmp/rd_cli_resXXXXXX", cwd[1024];
    assert_non_null(mkdtemp(dir));
    assert_non_null(getcwd(cwd, sizeof cwd));
    char list[700], want[4096];
    snprintf(list, sizeof list, "%s/list", dir);
    FILE *f = fopen(list, "w");
    assert_non_null(f);
    fprintf(f, "a\t%s\nb\t%s\nc\t%s\n", npy, npy, npy);
    fclose(f);
    run_result r;
    /* a crash left "b<TAB>also a pop" without its newline */
    run(&r, "cd %s && printf 'a\\t%s\\nb\\talso a pop' > out && %s/" PROG " --list list --beam 4 --resume out >> out; "
        "echo status=$?; cat out", dir, REF121, cwd);
    snprintf(want, sizeof want, "status=0\na\t%s\nb\t%s\nc\t%s\n", REF121, REF121, REF121);
    assert_string_equal(r.out, want);
    assert_non_null(strstr(r.err, "out:2: the last line has no newline (cut off?): dropped it"));
    /* JSON: a line glued by an older version does not parse: refused, named */
    run_exit(&r, 1,
        "cd %s && printf '{\"utt\":\"a\",\"frames\":5,\"nbest\":[]}\\n{\"utt\":\"b\",\"frames\":5,\"nbest\":[{\"text\":\"al"
        "{\"utt\":\"c\",\"frames\":5,\"nbest\":[]}\\n' > out.json && %s/" PROG " --list list --format json --resume out.json",
        dir, cwd);
    assert_non_null(strstr(r.err, "out.json:2: expected an earlier output line"));
    /* a JSON error line of --keep-going is decoded again; valid lines count */
    run_out(&r, 0, "{\"utt\":\"b\",\"\n{\"utt\":\"c\",\"\n",
        "cd %s && printf '{\"utt\":\"a\",\"frames\":5,\"nbest\":[]}\\n{\"utt\":\"b\",\"error\":\"x\"}\\n' > out.json && "
        "%s/" PROG " --list list --format json --resume out.json --beam 4 | cut -c1-12", dir, cwd);
    /* ids that start with '{' or are 4 KB long: our own output is read back */
    char id[4200];
    memset(id, 'x', 4100);
    id[4100] = '\0';
    f = fopen(list, "w");
    assert_non_null(f);
    fprintf(f, "{a}\t%s\n%s\t%s\n{\"utt\":\"q\"}\t%s\n", npy, id, npy, npy);
    fclose(f);
    for (int json = 0; json < 2; json++) {
        run(&r, "cd %s && rm -f out && %s/" PROG " --list list --beam 4 %s > out && %s/" PROG
            " --list list --beam 4 %s --resume out >> out; echo status=$?; wc -l < out", dir, cwd,
            json ? "--format json" : "", cwd, json ? "--format json" : "");
        assert_string_equal(r.out, "status=0\n3\n");
        assert_non_null(strstr(r.err, "--resume: 3 utterances already in out, 0 to decode"));
    }
    /* duplicate ids in a list: an error naming both lines */
    f = fopen(list, "w");
    assert_non_null(f);
    fprintf(f, "a\t%s\nb\t%s\na\t%s\n", npy, npy, npy);
    fclose(f);
    snprintf(want, sizeof want, "rwkv-decode: %s:3: utterance id 'a' is also on line 1\n", list);
    run_err(&r, 1, want, PROG " --list %s --beam 4", list);
    assert_string_equal(r.out, "");
    /* two files with one stem are two utterances with one id */
    run_exit(&r, 1,
        "mkdir -p %s/d1 %s/d2 && ln -s %s %s/d1/x.npy && ln -s %s %s/d2/x.npy && " PROG " %s/d1/x.npy %s/d2/x.npy",
        dir, dir, npy, dir, npy, dir, dir, dir);
    snprintf(want, sizeof want, "rwkv-decode: %s/d2/x.npy: utterance id 'x' is also the id of %s/d1/x.npy\n", dir, dir);
    assert_string_equal(r.err, want);
    /* an id with a tab or a newline (from a file name) is refused */
    run_exit(&r, 1, "ln -s %s \"%s/t$(printf '\\t')ab.npy\" && " PROG " %s/t*ab.npy --beam 4", npy, dir, dir);
    assert_non_null(strstr(r.err, "ab.npy: the utterance id would hold a tab or a newline; give ids with --list\n"));
    run(&r, "rm -rf %s", dir);
}

/* Item 7 of issue 17: a FIFO given as --logits or as a list entry is opened
 * once (a second open waited for a writer that had already gone); a text
 * matrix on --stream --logits - is refused, not read as raw float32. The
 * writers exit after writing; 'timeout' only bounds a hang. */
static void test_fifo_opened_once(void **state) {
    char rel[512], npy[4096], tok[512];
    need_prog_and_data(rel, W2V, tok, TOK121, NULL);
    assert_non_null(realpath(rel, npy));
    char dir[] = "/tmp/rd_cli_fifoXXXXXX", want[4096];
    assert_non_null(mkdtemp(dir));
    run_result r;
    for (int i = 0; i < 3; i++) {
        run(&r, "mkfifo %s/f.npy && { cat %s > %s/f.npy & } && timeout 60 " PROG " --logits %s/f.npy --tokens %s --beam 4; "
            "echo status=$?; rm -f %s/f.npy", dir, npy, dir, dir, tok, dir);
        snprintf(want, sizeof want, "%s\nstatus=0\n", REF121);
        assert_string_equal(r.out, want);
    }
    run(&r, "mkfifo %s/f.npy && printf 'a\\t%s\\nb\\t%s/f.npy\\n' > %s/list && { cat %s > %s/f.npy & } && "
        "timeout 60 " PROG " --list %s/list --tokens %s --beam 4; echo status=$?", dir, npy, dir, dir, npy, dir, dir, tok);
    snprintf(want, sizeof want, "a\t%s\nb\t%s\nstatus=0\n", REF121, REF121);
    assert_string_equal(r.out, want);
    /* a text matrix on --stream --logits -: refused */
    run_exit(&r, 1,
        "awk 'BEGIN { for (t = 0; t < 20; t++) { for (v = 0; v < 32; v++) printf \"%%s-%%d.5\", v ? \" \" : \"\", v; "
        "print \"\" } }' | " PROG " --stream --logits - --tokens %s", tok);
    assert_non_null(strstr(r.err, "rwkv-decode: -: looks like a text matrix: --stream reads .npy or raw float32 "
                                  "frames; decode a text matrix without --stream\n"));
    run(&r, "rm -rf %s", dir);
}

/* Issue 17 item 4: weights that overflow are refused at parse time, naming
 * the option; the search never sees NaN (this crashed in select_best). */
static void test_weights_refused_at_parse(void **state) {
    NEED_PROG();
    char tok[64], lex[64], lm[64], em[64];
    const char tt[] = "<blank>\nA\nB\nC\n", lt[] = "ab A B\nba B A\nc C\ncab C A B\n";
    const char at[] = "\\data\\\nngram 1=6\n\n\\1-grams:\n-1.0\t<s>\n-1.0\t</s>\n-0.5\tab\n-0.7\tba\n-0.6\tc\n"
                      "-0.9\tcab\n\n\\end\\\n";
    char et[2048] = "";
    for (int t = 0; t < 30; t++)
        snprintf(et + strlen(et), sizeof et - strlen(et), "%d %d %d %d\n", -(t % 3), -1 - t % 4, -2, -(t * 7 % 5));
    assert_non_null(rd_test_tmpfile(tok, sizeof tok, tt, strlen(tt)));
    assert_non_null(rd_test_tmpfile(lex, sizeof lex, lt, strlen(lt)));
    assert_non_null(rd_test_tmpfile(lm, sizeof lm, at, strlen(at)));
    assert_non_null(rd_test_tmpfile(em, sizeof em, et, strlen(et)));
    run_result r;
    const char *bad[][2] = {{"lm-weight", "1e39"}, {"lm-weight", "inf"}, {"lm-weight", "-1"},
                            {"word-score", "1e39"}, {"word-score", "-inf"}, {"unk-score", "inf"},
                            {"hotword-weight", "1e39"}, {"rescore-weight", "nan"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_exit(&r, 2,
            PROG " --logits %s --tokens %s --lexicon %s --lm %s --%s %s", em, tok, lex, lm, bad[i][0], bad[i][1]);
        char want[128];
        snprintf(want, sizeof want, "rwkv-decode: --%s:", bad[i][0]);
        assert_non_null(strstr(r.err, want));
        assert_null(strstr(r.err, "AddressSanitizer"));
    }
    run_exit(&r, 0,
        PROG " --logits %s --tokens %s --lexicon %s --lm %s --lm-weight 1000 --unk-score -inf", em, tok, lex, lm);
    unlink(tok);
    unlink(lex);
    unlink(lm);
    unlink(em);
}

/* Issue 17 item 6: a 128-byte .npy of shape (2^40, 0, 32) is refused before
 * anything is reserved for its rows (it asked for GBs of utterance slots). */
static void test_zero_dim_3d_refused(void **state) {
    NEED_PROG();
    char hdr[128];
    const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 0, 32), }";
    memcpy(hdr, "\x93NUMPY\x01\x00\x76\x00", 10);
    memcpy(hdr + 10, dict, strlen(dict));
    memset(hdr + 10 + strlen(dict), ' ', 117 - strlen(dict));
    hdr[127] = '\n';
    char npy[64], tok[64];
    assert_non_null(rd_test_tmpfile(npy, sizeof npy, hdr, 128));
    char tt[512] = "<blank>\n";
    for (int i = 1; i < 32; i++) snprintf(tt + strlen(tt), sizeof tt - strlen(tt), "u%d\n", i);
    assert_non_null(rd_test_tmpfile(tok, sizeof tok, tt, strlen(tt)));
    run_result r;
    run_exit(&r, 1, "ulimit -v 1000000; " PROG " --logits %s --tokens %s", npy, tok);
    char want[256];
    snprintf(want, sizeof want, "rwkv-decode: %s: shape (1099511627776, 0, 32) has a zero dimension: expected "
                                "utterances, frames and units all at least 1\n", npy);
    assert_string_equal(r.err, want);
    unlink(npy);
    unlink(tok);
}

#define SP_MARK "\xe2\x96\x81" /* ▁ */

/* SentencePiece pieces (data/subword/, issue 13 item 1): detected from the
 * tokens, decoded to words lexicon-free and with a lexicon spelled in pieces;
 * JSON and n-best show words, not pieces; --unit-type char reads the same
 * units as characters; a lexicon with pieces the tokens lack is named with
 * its line. */
static void test_subword_pieces(void **state) {
    NEED_PROG();
    run_result r;
    run_out(&r, 0, "the cat sat on the mat\n", PROG " --logits data/subword/cat.npy");
    run_out(&r, 0, "a quick zebra jumps over the lazy dog\n",
        PROG " --logits data/subword/zebra.npy --lexicon data/subword/lexicon.txt --lm data/subword/lm.arpa");
    run_exit(&r, 0, PROG " --logits data/subword/zebra.npy --unit-type sentencepiece --lm data/subword/lm.arpa "
        "--unk-score -10 --format json --nbest 3 --token-times");
    assert_non_null(strstr(r.out, "{\"text\":\"a quick zebra jumps over the lazy dog\""));
    assert_non_null(strstr(r.out, "{\"word\":\"quick\",\"start\":4,\"end\":10}"));
    assert_non_null(strstr(r.out, "{\"token\":\"" SP_MARK "\",\"start\":4,")); /* pieces only in tokens */
    const char *t = r.out;
    int texts = 0;
    while ((t = strstr(t, "\"text\":\""))) {
        t += 8;
        size_t n = strcspn(t, "\"");
        assert_null(memmem(t, n, SP_MARK, 3));
        texts++;
    }
    assert_int_equal(texts, 3);
    run_out(&r, 0, SP_MARK "the" SP_MARK "cat" SP_MARK "sat" SP_MARK "on" SP_MARK "the" SP_MARK "mat\n",
        PROG " --logits data/subword/cat.npy --unit-type char");
    run_err(&r, 2, "rwkv-decode: --unit-type: expected auto, char or sentencepiece, got 'bpe'\n",
        PROG " --logits data/subword/cat.npy --unit-type bpe");
    char lex[64];
    static const char some[] = "the\t" SP_MARK "the\ncat\t" SP_MARK "ca t\n";
    assert_non_null(rd_test_tmpfile(lex, sizeof lex, some, sizeof some - 1));
    run_exit(&r, 0, PROG " --logits data/subword/cat.npy --lexicon %s", lex);
    char want[512];
    snprintf(want, sizeof want, "rwkv-decode: warning: %s: 1 of 2 pronunciations skipped: they use units that "
             "data/subword/tokens.txt lacks (first: line 2, unit '" SP_MARK "ca')\n", lex);
    assert_non_null(strstr(r.err, want));
    unlink(lex);
    static const char none[] = "cat\t" SP_MARK "ca t\n";
    assert_non_null(rd_test_tmpfile(lex, sizeof lex, none, sizeof none - 1));
    snprintf(want, sizeof want, "rwkv-decode: %s: only 0 of 1 pronunciations use units in data/subword/tokens.txt "
             "(first unusable: line 1, unit '" SP_MARK "ca'): is it the lexicon for this model?\n", lex);
    run_err(&r, 1, want, PROG " --logits data/subword/cat.npy --lexicon %s", lex);
    unlink(lex);
    /* words cannot be spelled outside a pieces lexicon: --unk-score is refused */
    run_err(&r, 2, "rwkv-decode: --unk-score does nothing with the units of data/subword/tokens.txt: "
        "without a word delimiter no word can be spelled outside the lexicon\n",
        PROG " --logits data/subword/cat.npy --lexicon data/subword/lexicon.txt --unk-score -5");
    run(&r, PROG " --help");
    assert_non_null(strstr(r.out, "--unit-type TYPE"));
}

/* Issue 17 item 6: a list is read as the workers take its lines, not held in
 * memory (make bench-listmem measures that). What a list did before must
 * still hold for lists longer than the utterances kept in flight (1024):
 * output in list order with threads, shards, --resume, session runs, ids
 * checked (a carriage return, then duplicates) on stdin too, the counts. */
static void test_long_list_streamed(void **state) {
    NEED_PROG();
    char dir[] = "/tmp/rd_cli_listXXXXXX", cwd[1024];
    assert_non_null(mkdtemp(dir));
    assert_non_null(getcwd(cwd, sizeof cwd));
    run_result r;
    /* 32 units; every frame says "a" (unit 1) */
    run_exit(&r, 0,
        "cd %s && { echo '<blank>'; for c in a b c d e f g h i j k l m n o p q r s t u v w x y z \"'\" '|' x1 x2 x3; "
        "do echo \"$c\"; done; } > tokens.txt && awk 'BEGIN { for (t = 0; t < 2; t++) { for (v = 0; v < 32; v++) "
        "printf \"%%s%%s\", v ? \" \" : \"\", v == 1 ? \"-0.1\" : \"-9\"; print \"\" } }' > tiny.txt && "
        "printf '\\\\data\\\\\\nngram 1=3\\n\\n\\\\1-grams:\\n-1.0\\t<s>\\n-1.0\\t</s>\\n-0.5\\ta\\n\\n\\\\end\\\\\\n' > lm.arpa && "
        "awk 'BEGIN { print \"# ids\"; for (i = 0; i < 3000; i++) { printf \"u%%05d\\ttiny.txt\\n\", i; if (i == 5) print \"\" } }' > list",
        dir);
    /* every line, in list order, at 3 threads; the summary counts them */
    run(&r, "cd %s && %s/" PROG " --list list --threads 3 > all && grep -c '\ta$' all && grep -v '^#' list | grep . | cut -f1 > ids && "
        "cut -f1 all | cmp - ids && echo same", dir, cwd);
    assert_string_equal(r.out, "3000\nsame\n");
    assert_non_null(strstr(r.err, "decoded 3000 utterances (0 failed), 6000 frames"));
    /* a shard: every third utterance from the second */
    run(&r, "cd %s && %s/" PROG " --list list --threads 2 --shard 2/3 --quiet > s2 && awk 'NR %% 3 == 2' all | cmp - s2 && "
        "echo same",
        dir, cwd);
    assert_string_equal(r.out, "same\n");
    assert_string_equal(r.err, "");
    /* --resume after 1100 lines, the list on stdin, with a shard-free run: the rest, appended, in order */
    run(&r, "cd %s && head -n 1100 all > out && cat list | %s/" PROG " --threads 2 --resume out >> out && cmp out all "
        "&& echo same", dir, cwd);
    assert_string_equal(r.out, "same\n");
    assert_non_null(strstr(r.err, "--resume: 1100 utterances already in out, 1900 to decode\n"));
    assert_non_null(strstr(r.err, "decoded 1900 utterances (0 failed)"));
    /* a session run longer than what is kept in flight */
    run(&r, "cd %s && sed 's,^u,s/u,' list > slist && %s/" PROG " --list slist --lm lm.arpa --session-carry --threads 2 "
        "--quiet | cut -f1 > got && sed 's,^u,s/u,' ids | cmp - got && echo same", dir, cwd);
    assert_string_equal(r.out, "same\n");
    /* a duplicate late in a list on stdin: both lines named, nothing decoded */
    run_out(&r, 1, "", "cd %s && { cat list; printf 'u00007\\ttiny.txt\\n'; } | %s/" PROG, dir, cwd);
    assert_string_equal(r.err, "rwkv-decode: <stdin>:3003: utterance id 'u00007' is also on line 10\n");
    /* an id with a carriage return is reported before an earlier duplicate; a bad line before both */
    run_err(&r, 1, "rwkv-decode: <stdin>:3004: the utterance id holds a carriage return\n",
        "cd %s && { cat list; printf 'u00007\\ttiny.txt\\nx\\ry\\ttiny.txt\\n'; } | %s/" PROG, dir, cwd);
    run_err(&r, 1, "rwkv-decode: bad:3005: expected utt_id<TAB>path.npy[<TAB>hotwords.txt]\n",
        "cd %s && { cat list; printf 'u00007\\ttiny.txt\\nx\\ry\\ttiny.txt\\n\\tno-id\\n'; } > bad && %s/" PROG
        " --list bad", dir, cwd);
    run(&r, "rm -rf %s", dir);
}

/* The last --format given is the format (before, a ctm given earlier stayed
 * on under a later --format text and asked for --frame-shift). */
static void test_last_format_wins(void **state) {
    char npy[512], want[4096];
    need_prog_and_data(npy, W2V, NULL);
    run_result r;
    snprintf(want, sizeof want, "%s\n", REF121);
    run_out(&r, 0, want, PROG " --logits %s --beam 4 --format ctm --format text", npy);
    run_err(&r, 2, "rwkv-decode: --format ctm needs --frame-shift SECONDS (seconds per frame, e.g. 0.02 for "
        "wav2vec2)\n",
        PROG " --logits %s --beam 4 --format text --format ctm", npy);
    run_err(&r, 2, "rwkv-decode: --format: expected text, json or ctm, got 'xml'\n",
        PROG " --logits %s --format xml", npy);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_as_typed),
        cmocka_unit_test(test_device_option), cmocka_unit_test(test_batch_same_output),
        cmocka_unit_test(test_threads_that_cannot_start),
        cmocka_unit_test(test_unk_score_lexicon_free),
        cmocka_unit_test(test_nbest_text),
        cmocka_unit_test(test_token_files_as_published),
        cmocka_unit_test(test_errors_tell_the_truth),
        cmocka_unit_test(test_lm_files_as_published),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_partial_best),
        cmocka_unit_test(test_librispeech_with_3gram),
        cmocka_unit_test(test_missing_word), cmocka_unit_test(test_hotwords),
        cmocka_unit_test(test_ocr_line_real_words),
        cmocka_unit_test(test_all_emissions_one_command),
        cmocka_unit_test(test_threads_and_shards_identical),
        cmocka_unit_test(test_errors_name_file_and_exit),
        cmocka_unit_test(test_keep_going_counts_failures),
        cmocka_unit_test(test_list_parse_error),
        cmocka_unit_test(test_determinism_with_lm),
        cmocka_unit_test(test_text_matrix_input),
        cmocka_unit_test(test_stream_equals_whole),
        cmocka_unit_test(test_signals_and_resume),
        cmocka_unit_test(test_lm_state_equals_prefix),
        cmocka_unit_test(test_rescore_and_two_lms),
        cmocka_unit_test(test_state_output_written_safely),
        cmocka_unit_test(test_stdout_full_is_an_error),
        cmocka_unit_test(test_resume_exact),
        cmocka_unit_test(test_fifo_opened_once),
        cmocka_unit_test(test_weights_refused_at_parse),
        cmocka_unit_test(test_zero_dim_3d_refused),
        cmocka_unit_test(test_subword_pieces),
        cmocka_unit_test(test_long_list_streamed),
        cmocka_unit_test(test_last_format_wins),
    };
    if (getenv("RD_TEST_FILTER")) cmocka_set_test_filter(getenv("RD_TEST_FILTER")); /* tests/gpu/run.sh */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
