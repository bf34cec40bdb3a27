/* tests/test_wer.c - rwkv-wer library: alignment counts, files, formats. */
#include "tests/testutil.h"

#include <math.h>
#include <sys/wait.h>

#include "cli/wer.h"

/* ---------- helpers ---------- */

static wer_scorer *new_scorer(int case_insensitive, int remove_punct) {
    wer_options o = {case_insensitive, remove_punct, 0};
    wer_scorer *s = NULL;
    rd_error err;
    assert_int_equal(wer_scorer_create(&o, &s, &err), RD_OK);
    return s;
}

static void score(wer_scorer *s, const char *ref, const char *hyp, wer_utt_result *r) {
    rd_error err;
    rd_error_clear(&err);
    rd_status st = wer_score_text(s, ref, strlen(ref), hyp, strlen(hyp), r, &err);
    if (st != RD_OK) fail_msg("%s", err.msg);
}

static void assert_counts(const wer_counts *c, long ref, long hyp, long ins, long del, long sub) {
    assert_int_equal(c->ref, ref);
    assert_int_equal(c->hyp, hyp);
    assert_int_equal(c->ins, ins);
    assert_int_equal(c->del, del);
    assert_int_equal(c->sub, sub);
}

/* The ops of the word alignment as a string, e.g. "CSCDI". */
static void ops(const wer_utt_result *r, char *buf) {
    for (size_t k = 0; k < r->n_steps; k++) buf[k] = r->steps[k].op;
    buf[r->n_steps] = '\0';
}

static void parse_ok(const char *text, const char *name, wer_file *f) {
    rd_error err;
    rd_error_clear(&err);
    if (wer_file_parse(text, strlen(text), name, f, &err) != RD_OK) fail_msg("%s", err.msg);
}

/* Runs fn(out) into a memory stream; returns the malloc'ed text. */
#define CAPTURE(var, stmt)                                   \
    do {                                                     \
        size_t cap_len_;                                     \
        FILE *out = open_memstream(&(var), &cap_len_);       \
        assert_non_null(out);                                \
        stmt;                                                \
        fclose(out);                                         \
    } while (0)

/* ---------- alignment counts ---------- */

static void test_sub_ins_del(void **state) {
    wer_scorer *s = new_scorer(0, 0);
    wer_utt_result r;
    char o[64];
    score(s, "a b c d", "a x c d e", &r);
    assert_counts(&r.words, 4, 5, 1, 0, 1);
    ops(&r, o);
    assert_string_equal(o, "CSCCI");
    /* "the cat sat on the mat" vs "the cat on a mat": del sat, sub the/a */
    score(s, "the cat sat on the mat", "the cat on a mat", &r);
    assert_counts(&r.words, 6, 5, 0, 1, 1);
    ops(&r, o);
    assert_string_equal(o, "CCDCSC");
    assert_int_equal(r.steps[2].ref, 2);
    assert_int_equal(r.steps[2].hyp, -1);
    assert_string_equal(r.ref_words[r.steps[4].ref].s, "the");
    assert_string_equal(r.hyp_words[r.steps[4].hyp].s, "a");
    /* characters: "thecatsatonthemat" (17) vs "thecatonamat" (12): at least 5
     * deletions, and "thecatonamat" is no subsequence of the reference */
    assert_counts(&r.chars, 17, 12, 0, 5, 1);
    assert_float_equal(wer_rate_percent(&r.words), 100.0 * 2 / 6, 1e-9);
    wer_scorer_free(s);
}

static void test_tie_breaking(void **state) {
    wer_scorer *s = new_scorer(0, 0);
    wer_utt_result r;
    char o[64];
    score(s, "a b", "c", &r); /* documented: D(a) S(b/c) */
    ops(&r, o);
    assert_string_equal(o, "DS");
    score(s, "a", "b a", &r); /* documented: I(b) C(a) */
    ops(&r, o);
    assert_string_equal(o, "IC");
    score(s, "a b", "b c", &r); /* substitutions rather than D + I */
    ops(&r, o);
    assert_string_equal(o, "SS");
    assert_counts(&r.words, 2, 2, 0, 0, 2);
    wer_scorer_free(s);
}

static void test_empty_ref_and_hyp(void **state) {
    wer_scorer *s = new_scorer(0, 0);
    wer_utt_result r;
    char o[64], line[128];
    score(s, "", "x  yz", &r);
    assert_counts(&r.words, 0, 2, 2, 0, 0);
    assert_counts(&r.chars, 0, 3, 3, 0, 0);
    assert_true(isnan(wer_rate_percent(&r.words)));
    wer_format_counts(line, sizeof line, "WER", &r.words);
    assert_string_equal(line, "WER n/a [ 2 / 0, 2 ins, 0 del, 0 sub ]");
    score(s, "one two  three ", "", &r);
    assert_counts(&r.words, 3, 0, 0, 3, 0);
    assert_counts(&r.chars, 11, 0, 0, 11, 0);
    ops(&r, o);
    assert_string_equal(o, "DDD");
    score(s, "   ", "", &r);
    assert_counts(&r.words, 0, 0, 0, 0, 0);
    assert_int_equal(r.n_steps, 0);
    wer_format_counts(line, sizeof line, "CER", &r.chars);
    assert_string_equal(line, "CER 0.00% [ 0 / 0, 0 ins, 0 del, 0 sub ]");
    wer_scorer_free(s);
}

static void test_cjk_cer(void **state) {
    wer_scorer *s = new_scorer(0, 0);
    wer_utt_result r;
    /* 今天天气很好 -> 今天天汽很好啊: 气/汽 substituted, 啊 inserted */
    score(s, "今天天气很好", "今天天汽很好啊", &r);
    assert_counts(&r.chars, 6, 7, 1, 0, 1);
    assert_counts(&r.words, 1, 1, 0, 0, 1);
    char line[128];
    wer_format_counts(line, sizeof line, "CER", &r.chars);
    assert_string_equal(line, "CER 33.33% [ 2 / 6, 1 ins, 0 del, 1 sub ]");
    /* spaces do not count for the CER, but split words */
    score(s, "北京 欢迎 你", "北京欢迎你", &r);
    assert_counts(&r.chars, 5, 5, 0, 0, 0);
    assert_counts(&r.words, 3, 1, 0, 2, 1);
    /* 4-byte code points are one character each */
    score(s, "a\xF0\x9F\x98\x80" "b", "a\xF0\x9F\x98\x81" "b", &r);
    assert_counts(&r.chars, 3, 3, 0, 0, 1);
    wer_scorer_free(s);
}

static void test_case_and_punct(void **state) {
    wer_scorer *plain = new_scorer(0, 0), *fold = new_scorer(1, 0), *both = new_scorer(1, 1);
    wer_utt_result r;
    score(plain, "Hello, World! don't", "hello world don't", &r);
    assert_counts(&r.words, 3, 3, 0, 0, 2);
    score(fold, "Hello, World! don't", "hello world don't", &r);
    assert_counts(&r.words, 3, 3, 0, 0, 2); /* punctuation still differs */
    score(both, "Hello, World! don't", "hello world don't", &r);
    assert_counts(&r.words, 3, 3, 0, 0, 0);
    assert_string_equal(r.ref_words[2].s, "don't"); /* apostrophe kept */
    score(fold, "ПРИВЕТ Ёлка ÉTÉ ΣΟΦΙΑ", "привет ёлка été σοφια", &r);
    assert_counts(&r.words, 4, 4, 0, 0, 0);
    score(both, "你好，世界。", "你好世界", &r);
    assert_counts(&r.chars, 4, 4, 0, 0, 0);
    score(both, " , ", "", &r); /* only punctuation: nothing left */
    assert_counts(&r.words, 0, 0, 0, 0, 0);
    wer_scorer_free(plain);
    wer_scorer_free(fold);
    wer_scorer_free(both);
}

/* Plain Levenshtein distance over bytes, for comparison with the scorer. */
static long ref_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    long d[32][32];
    for (size_t i = 0; i <= n; i++) d[i][0] = (long)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (long)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            long x = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            long y = d[i - 1][j] + 1, z = d[i][j - 1] + 1;
            d[i][j] = x < y ? (x < z ? x : z) : (y < z ? y : z);
        }
    return d[n][m];
}

static void test_random_against_reference(void **state) {
    wer_scorer *s = new_scorer(0, 0);
    unsigned seed = 12345;
    for (int t = 0; t < 2000; t++) {
        char a[32], b[32];
        int n = 0, m = 0;
        seed = seed * 1103515245u + 12345u;
        n = (int)((seed >> 16) % 20);
        seed = seed * 1103515245u + 12345u;
        m = (int)((seed >> 16) % 20);
        for (int i = 0; i < n; i++) { seed = seed * 1103515245u + 12345u; a[i] = (char)('a' + (seed >> 16) % 3); }
        for (int i = 0; i < m; i++) { seed = seed * 1103515245u + 12345u; b[i] = (char)('a' + (seed >> 16) % 3); }
        a[n] = b[m] = '\0';
        wer_utt_result r;
        score(s, a, b, &r);
        assert_int_equal(r.chars.ins + r.chars.del + r.chars.sub, ref_distance(a, b));
        assert_int_equal(r.chars.hyp, r.chars.ref - r.chars.del + r.chars.ins);
    }
    wer_scorer_free(s);
}

static void test_scorer_reuse(void **state) {
    wer_scorer *s = new_scorer(0, 0), *fresh = new_scorer(0, 0);
    char big_ref[4000], big_hyp[4000];
    size_t k = 0, l = 0;
    for (int i = 0; i < 500; i++) {
        k += (size_t)snprintf(big_ref + k, sizeof big_ref - k, "w%d ", i % 37);
        l += (size_t)snprintf(big_hyp + l, sizeof big_hyp - l, "w%d ", i % 41);
    }
    wer_utt_result r1, r2, r3;
    score(s, big_ref, big_hyp, &r1);
    wer_counts big = r1.words;
    score(s, "a b c", "a c", &r2);
    assert_counts(&r2.words, 3, 2, 0, 1, 0);
    score(fresh, big_ref, big_hyp, &r3);
    assert_memory_equal(&big, &r3.words, sizeof big);
    assert_int_equal(big.ref, 500);
    wer_scorer_free(s);
    wer_scorer_free(fresh);
}

static void test_too_long(void **state) {
    size_t n = 40000;
    char *t = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) { t[2 * i] = 'x'; t[2 * i + 1] = ' '; }
    t[2 * n] = '\0';
    wer_scorer *s = new_scorer(0, 0);
    wer_utt_result r;
    rd_error err;
    rd_error_clear(&err);
    assert_int_equal(wer_score_text(s, t, 2 * n, t, 2 * n, &r, &err), RD_ERR_NOMEM);
    assert_string_equal(err.msg, "utterance too long to align: 40000 x 40000 tokens (limit 1073741824 cells)");
    wer_scorer_free(s);
    free(t);
}

/* ---------- files ---------- */

static void test_file_parse(void **state) {
    wer_file f;
    parse_ok("\xEF\xBB\xBFu1\thello world \r\n\n   \nu2 space sep\nu3\nu4\t\t  padded\ttext\t\nu5\t", "r.txt", &f);
    assert_int_equal(f.n, 5);
    assert_string_equal(f.utts[0].id, "u1");
    assert_string_equal(f.utts[0].text, "hello world");
    assert_string_equal(f.utts[1].id, "u2");
    assert_string_equal(f.utts[1].text, "space sep");
    assert_int_equal(f.utts[1].line, 4);
    assert_string_equal(f.utts[2].text, "");
    assert_string_equal(f.utts[3].text, "padded\ttext");
    assert_string_equal(f.utts[4].text, "");
    assert_ptr_equal(wer_file_find(&f, "u4"), &f.utts[3]);
    assert_null(wer_file_find(&f, "u6"));
    assert_null(wer_file_find(&f, "u"));
    wer_file_free(&f);
    parse_ok("", "empty.txt", &f);
    assert_int_equal(f.n, 0);
    assert_null(wer_file_find(&f, "u1"));
    wer_file_free(&f);
}

static void test_file_many_ids(void **state) {
    char *buf = malloc(3000 * 24);
    size_t k = 0;
    for (int i = 0; i < 3000; i++) k += (size_t)sprintf(buf + k, "utt-%05d\tw%d\n", i, i);
    wer_file f;
    parse_ok(buf, "big.txt", &f);
    assert_int_equal(f.n, 3000);
    const wer_utt *u = wer_file_find(&f, "utt-02999");
    assert_non_null(u);
    assert_string_equal(u->text, "w2999");
    assert_int_equal(u->line, 3000);
    wer_file_free(&f);
    free(buf);
}

typedef struct bad_case {
    const char *text;
    size_t len; /* 0: strlen */
    const char *msg;
} bad_case;

static void test_malformed_files(void **state) {
    static const bad_case cases[] = {
        {"u1\ta\nu2\tb\nu3\tc\n\tno id\n", 0, "ref.txt:4: expected utt_id<TAB>text"},
        {" u1 leading space\n", 0, "ref.txt:1: expected utt_id<TAB>text"},
        {"u1\ta\n\n u2\n", 0, "ref.txt:3: expected utt_id<TAB>text"},
        {"\xEF\xBB\xBF\tbom then tab\n", 0, "ref.txt:1: expected utt_id<TAB>text"},
        {"u1\ta\nu2\tb\nu1\tc\n", 0, "ref.txt:3: duplicate utterance id 'u1' (first on line 1)"},
        {"a b\r\nc d\r\n\r\na e\r\n", 0, "ref.txt:4: duplicate utterance id 'a' (first on line 1)"},
        {"x\ny\nx\n", 0, "ref.txt:3: duplicate utterance id 'x' (first on line 1)"},
        {"u1\tcaf\xE9\n", 0, "ref.txt:1: expected UTF-8 text (invalid byte sequence)"},
        {"u1\tok\nu2\t\xC3\n", 0, "ref.txt:2: expected UTF-8 text (invalid byte sequence)"},
        {"u1\ta\nu2\tb\nu\xC0\xAF\tc\n", 0, "ref.txt:3: expected UTF-8 text (invalid byte sequence)"},
        {"u1\t\xED\xA0\x80\n", 0, "ref.txt:1: expected UTF-8 text (invalid byte sequence)"},
        {"u1\t\x80\n", 0, "ref.txt:1: expected UTF-8 text (invalid byte sequence)"},
        {"u1\t\xF4\x90\x80\x80\n", 0, "ref.txt:1: expected UTF-8 text (invalid byte sequence)"},
        {"u1\ta\nu2\tb\0c\n", 11, "ref.txt:2: unexpected NUL byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *c = &cases[i];
        wer_file f;
        rd_error err;
        rd_error_clear(&err);
        size_t len = c->len ? c->len : strlen(c->text);
        rd_status st = wer_file_parse(c->text, len, "ref.txt", &f, &err);
        if (st != RD_ERR_INPUT) fail_msg("case %zu: status %d (%s)", i, (int)st, err.msg);
        assert_string_equal(err.msg, c->msg);
        assert_null(f.utts);
        wer_file_free(&f);
    }
}

static void test_file_read(void **state) {
    wer_file f;
    rd_error err;
    rd_error_clear(&err);
    assert_int_equal(wer_file_read("/nonexistent/ref.txt", &f, &err), RD_ERR_IO);
    assert_string_equal(err.msg, "/nonexistent/ref.txt: cannot open: No such file or directory");
    char path[64];
    const char *text = "u1\tone two\nu1\tthree\n";
    assert_non_null(rd_test_tmpfile(path, sizeof path, text, strlen(text)));
    assert_int_equal(wer_file_read(path, &f, &err), RD_ERR_INPUT);
    char want[128];
    snprintf(want, sizeof want, "%s:2: duplicate utterance id 'u1' (first on line 1)", path);
    assert_string_equal(err.msg, want);
    text = "u1\tone two\n";
    unlink(path);
    assert_non_null(rd_test_tmpfile(path, sizeof path, text, strlen(text)));
    assert_int_equal(wer_file_read(path, &f, &err), RD_OK);
    assert_string_equal(f.utts[0].text, "one two");
    assert_string_equal(f.name, path);
    wer_file_free(&f);
    unlink(path);
}

/* ---------- scoring files ---------- */

typedef struct seen {
    char log[1024];
    char err[RD_ERROR_MSG_MAX];
    size_t len;
    const wer_file *ref, *hyp;
} seen;

static rd_status record(void *ctx, const wer_utt_result *r, rd_error *err) {
    seen *s = ctx;
    char note[256] = "-";
    wer_format_note(note, sizeof note, r, s->ref, s->hyp);
    s->len += (size_t)snprintf(s->log + s->len, sizeof s->log - s->len, "%s %s %ld/%ld|%s\n",
                               r->ref ? r->ref->id : "(none)", r->hyp ? r->hyp->id : "(none)",
                               r->words.ins + r->words.del + r->words.sub, r->words.ref, note);
    return RD_OK;
}

/* Parses both texts, scores them with record(), and checks the status. */
static void score_logged(const char *ref_text, const char *hyp_text, seen *log, wer_summary *sum,
                         rd_status want) {
    wer_file ref, hyp;
    parse_ok(ref_text, "ref.txt", &ref);
    parse_ok(hyp_text, "hyp.txt", &hyp);
    wer_scorer *s = new_scorer(0, 0);
    memset(log, 0, sizeof *log);
    log->ref = &ref;
    log->hyp = &hyp;
    rd_error err;
    rd_error_clear(&err);
    rd_status st = wer_score_files(s, &ref, &hyp, record, log, sum, &err);
    snprintf(log->err, sizeof log->err, "%s", err.msg);
    wer_scorer_free(s);
    wer_file_free(&ref);
    wer_file_free(&hyp);
    assert_int_equal(st, want);
}

static void test_missing_and_extra(void **state) {
    seen log;
    wer_summary sum;
    score_logged("u1\ta b c\n1272-128104-0003\tone two three four\nu3\tx y\n",
                 "u9\tnot in ref\nu3\tx z\nu1\ta b c\n", &log, &sum, RD_OK);
    assert_string_equal(log.log,
                        "u1 u1 0/3|-\n"
                        "1272-128104-0003 (none) 4/4|hyp.txt: missing utterance 1272-128104-0003 (counted as 4 deletions)\n"
                        "u3 u3 1/2|-\n"
                        "(none) u9 0/0|hyp.txt:1: utterance u9 is not in ref.txt (ignored)\n");
    assert_counts(&sum.words, 9, 5, 0, 4, 1);
    assert_counts(&sum.chars, 20, 5, 0, 15, 1);
    assert_int_equal(sum.scored, 3);
    assert_int_equal(sum.missing, 1);
    assert_int_equal(sum.extra, 1);
    char *txt;
    CAPTURE(txt, wer_print_summary_text(out, &sum));
    assert_string_equal(txt,
                        "%WER 55.56 [ 5 / 9, 0 ins, 4 del, 1 sub ]\n"
                        "%CER 80.00 [ 16 / 20, 0 ins, 15 del, 1 sub ]\n"
                        "%SER 66.67 [ 2 / 3 ]\n"
                        "Scored 3 sentences, 1 not present in hyp.\n");
    free(txt);
}

/* --cer-spaces: the space between two words is a character (jiwer's cer
 * counts them too); runs of spaces are one, none at the ends. */
static void test_cer_spaces(void **state) {
    wer_options o = {0, 0, 1};
    wer_scorer *s = NULL;
    rd_error err;
    assert_int_equal(wer_scorer_create(&o, &s, &err), RD_OK);
    wer_utt_result r;
    const char *ref = "  a b   c ", *hyp = "a b d e";
    assert_int_equal(wer_score_text(s, ref, strlen(ref), hyp, strlen(hyp), &r, &err), RD_OK);
    assert_counts(&r.chars, 5, 7, 2, 0, 1); /* a_b_c vs a_b_d_e: c->d, +_e */
    wer_scorer_free(s);
    s = new_scorer(0, 0);
    assert_int_equal(wer_score_text(s, ref, strlen(ref), hyp, strlen(hyp), &r, &err), RD_OK);
    assert_counts(&r.chars, 3, 4, 1, 0, 1);
    wer_scorer_free(s);
}

static void test_one_deletion_note_and_long_error(void **state) {
    seen log;
    wer_summary sum;
    score_logged("a\tword\n", "", &log, &sum, RD_OK);
    assert_string_equal(log.log, "a (none) 1/1|hyp.txt: missing utterance a (counted as 1 deletion)\n");
    /* an utterance too long to align is named by file and line */
    size_t n = 40000;
    char *t = malloc(2 * n + 16);
    memcpy(t, "ok\ta\nlong\t", 10);
    for (size_t i = 0; i < n; i++) { t[10 + 2 * i] = 'x'; t[11 + 2 * i] = ' '; }
    t[10 + 2 * n] = '\0';
    score_logged(t, t, &log, &sum, RD_ERR_NOMEM);
    assert_string_equal(log.err, "ref.txt:2: utterance too long to align: 40000 x 40000 tokens (limit 1073741824 cells)");
    assert_string_equal(log.log, "ok ok 0/1|-\n");
    free(t);
}

/* ---------- output formats ---------- */

/* The --details text of ref utterance i against the hyp utterance of that id. */
static char *details_of(wer_scorer *s, const wer_file *ref, size_t i, const wer_file *hyp) {
    wer_utt_result r;
    const wer_utt *h = wer_file_find(hyp, ref->utts[i].id);
    score(s, ref->utts[i].text, h ? h->text : "", &r);
    r.ref = &ref->utts[i];
    r.hyp = h;
    char *txt;
    CAPTURE(txt, wer_print_utt_text(out, &r));
    return txt;
}

static void test_details_text(void **state) {
    static const char *want[] = {
        "u1 WER 75.00% [ 3 / 4, 1 ins, 1 del, 1 sub ] CER 36.36% [ 4 / 11, 1 ins, 2 del, 1 sub ]\n"
        "REF: *** the cat sat on\n"
        "HYP: a   the bat sat ***\n"
        "OP:  I       S       D\n"
        "\n",
        "u2 WER 50.00% [ 1 / 2, 1 ins, 0 del, 0 sub ] CER 25.00% [ 1 / 4, 1 ins, 0 del, 0 sub ]\n"
        "REF: 你好 *** 世界\n"
        "HYP: 你好 大  世界\n"
        "OP:       I\n"
        "\n",
        "u3 WER 100.00% [ 1 / 1, 0 ins, 1 del, 0 sub ] CER 100.00% [ 4 / 4, 0 ins, 4 del, 0 sub ] (missing from hyp)\n"
        "REF: gone\n"
        "HYP: ***\n"
        "OP:  D\n"
        "\n",
    };
    wer_file ref, hyp;
    parse_ok("u1\tthe cat sat on\nu2\t你好 世界\nu3\tgone\n", "ref.txt", &ref);
    parse_ok("u1\ta the bat sat\nu2\t你好 大 世界\n", "hyp.txt", &hyp);
    wer_scorer *s = new_scorer(0, 0);
    for (size_t i = 0; i < 3; i++) {
        char *txt = details_of(s, &ref, i, &hyp);
        assert_string_equal(txt, want[i]);
        free(txt);
    }
    wer_scorer_free(s);
    wer_file_free(&ref);
    wer_file_free(&hyp);
}

static rd_status json_details(void *ctx, const wer_utt_result *r, rd_error *err) {
    FILE *out = ctx;
    if (!r->ref) return RD_OK;
    if (ftell(out) > 0) fputc(',', out);
    wer_print_utt_json(out, r);
    return RD_OK;
}

static void test_json_output(void **state) {
    wer_file ref, hyp;
    parse_ok("u1\tA \"cat\"\nu2\tb\n", "ref.txt", &ref);
    parse_ok("u1\ta dog x\n", "hyp.txt", &hyp);
    wer_scorer *s = new_scorer(1, 0);
    char *details, *txt;
    wer_summary sum;
    rd_error err;
    CAPTURE(details, assert_int_equal(wer_score_files(s, &ref, &hyp, json_details, out, &sum, &err), RD_OK));
    CAPTURE(txt, wer_print_summary_json(out, &sum, details));
    assert_string_equal(txt,
        "{\"wer\":1,\"cer\":0.857143,"
        "\"words\":{\"ref\":3,\"hyp\":3,\"errors\":3,\"ins\":1,\"del\":1,\"sub\":1},"
        "\"chars\":{\"ref\":7,\"hyp\":5,\"errors\":6,\"ins\":0,\"del\":2,\"sub\":4},"
        "\"utterances\":{\"scored\":2,\"missing\":1,\"extra\":0,\"with_errors\":2},"
        "\"details\":["
        "{\"id\":\"u1\",\"ref\":\"A \\\"cat\\\"\",\"hyp\":\"a dog x\",\"wer\":1,\"cer\":0.833333,"
        "\"words\":{\"ref\":2,\"hyp\":3,\"errors\":2,\"ins\":1,\"del\":0,\"sub\":1},"
        "\"chars\":{\"ref\":6,\"hyp\":5,\"errors\":5,\"ins\":0,\"del\":1,\"sub\":4},"
        "\"alignment\":[{\"op\":\"C\",\"ref\":\"a\",\"hyp\":\"a\"},"
        "{\"op\":\"I\",\"ref\":null,\"hyp\":\"dog\"},"
        "{\"op\":\"S\",\"ref\":\"\\\"cat\\\"\",\"hyp\":\"x\"}]},"
        "{\"id\":\"u2\",\"ref\":\"b\",\"hyp\":null,\"wer\":1,\"cer\":1,"
        "\"words\":{\"ref\":1,\"hyp\":0,\"errors\":1,\"ins\":0,\"del\":1,\"sub\":0},"
        "\"chars\":{\"ref\":1,\"hyp\":0,\"errors\":1,\"ins\":0,\"del\":1,\"sub\":0},"
        "\"alignment\":[{\"op\":\"D\",\"ref\":\"b\",\"hyp\":null}]}]}\n");
    free(txt);
    free(details);
    /* without details, and an undefined rate */
    wer_summary empty = {{0, 2, 2, 0, 0}, {0, 0, 0, 0, 0}, 1, 0, 0, 1};
    CAPTURE(txt, wer_print_summary_json(out, &empty, NULL));
    assert_string_equal(txt,
        "{\"wer\":null,\"cer\":0,"
        "\"words\":{\"ref\":0,\"hyp\":2,\"errors\":2,\"ins\":2,\"del\":0,\"sub\":0},"
        "\"chars\":{\"ref\":0,\"hyp\":0,\"errors\":0,\"ins\":0,\"del\":0,\"sub\":0},"
        "\"utterances\":{\"scored\":1,\"missing\":0,\"extra\":0,\"with_errors\":1}}\n");
    free(txt);
    wer_scorer_free(s);
    wer_file_free(&ref);
    wer_file_free(&hyp);
}

/* ---------- the built program ---------- */

/* Runs cmd, returns its exit status; its stdout+stderr go to out. */
static int run_cmd(const char *cmd, char *out, size_t n) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t k = fread(out, 1, n - 1, p);
    out[k] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_binary(void **state) {
    if (access("bin/rwkv-wer", X_OK) != 0) {
        fprintf(stderr, "skipping: bin/rwkv-wer not built\n");
        skip();
    }
    char ref[64], hyp[64], bad[64], cmd[512], out[4096];
    const char *r = "u1\tthe cat sat\nu2\tgone away\n", *h = "u1\tthe cat sad\nu3\textra\n";
    assert_non_null(rd_test_tmpfile(ref, sizeof ref, r, strlen(r)));
    assert_non_null(rd_test_tmpfile(hyp, sizeof hyp, h, strlen(h)));
    assert_non_null(rd_test_tmpfile(bad, sizeof bad, "u1\tx\n\ty\n", 8));
    snprintf(cmd, sizeof cmd, "bin/rwkv-wer %s %s 2>&1", ref, hyp);
    assert_int_equal(run_cmd(cmd, out, sizeof out), 0);
    char want[1024];
    snprintf(want, sizeof want,
             "rwkv-wer: %s: missing utterance u2 (counted as 2 deletions)\n"
             "rwkv-wer: %s:2: utterance u3 is not in %s (ignored)\n"
             "%%WER 60.00 [ 3 / 5, 0 ins, 2 del, 1 sub ]\n"
             "%%CER 52.94 [ 9 / 17, 0 ins, 8 del, 1 sub ]\n"
             "%%SER 100.00 [ 2 / 2 ]\n"
             "Scored 2 sentences, 1 not present in hyp.\n",
             hyp, hyp, ref);
    assert_string_equal(out, want);
    snprintf(cmd, sizeof cmd, "bin/rwkv-wer %s %s 2>&1", ref, bad);
    assert_int_equal(run_cmd(cmd, out, sizeof out), 1);
    snprintf(want, sizeof want, "rwkv-wer: %s:2: expected utt_id<TAB>text\n", bad);
    assert_string_equal(out, want);
    assert_int_equal(run_cmd("bin/rwkv-wer onlyone 2>&1", out, sizeof out), 2);
    assert_string_equal(out, "rwkv-wer: expected two files, REF and HYP, got 1 (try 'rwkv-wer --help')\n");
    assert_int_equal(run_cmd("bin/rwkv-wer --format xml a b 2>&1", out, sizeof out), 2);
    assert_int_equal(run_cmd("bin/rwkv-wer --help", out, sizeof out), 0);
    assert_non_null(strstr(out, "ignores spaces"));
    unlink(ref);
    unlink(hyp);
    unlink(bad);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sub_ins_del),
        cmocka_unit_test(test_tie_breaking),
        cmocka_unit_test(test_empty_ref_and_hyp),
        cmocka_unit_test(test_cjk_cer),
        cmocka_unit_test(test_case_and_punct),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_scorer_reuse),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_file_parse),
        cmocka_unit_test(test_file_many_ids),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_file_read),
        cmocka_unit_test(test_missing_and_extra),
        cmocka_unit_test(test_one_deletion_note_and_long_error),
        cmocka_unit_test(test_cer_spaces),
        cmocka_unit_test(test_details_text),
        cmocka_unit_test(test_json_output),
        cmocka_unit_test(test_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
