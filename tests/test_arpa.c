/* tests/test_arpa.c - the ARPA n-gram model (lmstate/ngram/arpa.h), its lm.h face
 * (lmstate/ngram/lm_arpa.c, lmstate/lm.c) and rwkv-lm --lm.
 *
 * The per-word numbers on kenlm-test*.arpa are KenLM's own expectations
 * (lm/model_test.cc: Starters, Continuation, Blanks, Unknowns, MinimalState,
 * Stateless, NoUnkCheck); the others are computed by hand from the lines of
 * the files, quoted next to each check. */
#include "tests/testutil.h"

#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lmstate/ngram/arpa.h"
#include "lmstate/lm.h"

#define LN10 2.30258509299404568402

/* KenLM's tolerance (0.001 percent), and at least 1e-5 absolute. */
static void assert_log10(float ln_got, double want) {
    double got = ln_got / LN10;
    double tol = 1e-5 * (fabs(want) > 1 ? fabs(want) : 1);
    if (fabs(got - want) > tol) fail_msg("log10 p = %.8f, expected %.8f", got, want);
}

static arpa_model *load(const char *rel) {
    char path[512];
    if (!rd_test_data(path, sizeof path, rel)) return NULL;
    arpa_model *m = NULL;
    rd_error err;
    if (arpa_load(path, &m, &err) != RD_OK) fail_msg("%s", err.msg);
    return m;
}

#define LOAD_OR_SKIP(m, rel)                                    \
    arpa_model *m = load(rel);                                  \
    if (!m) {                                                   \
        fprintf(stderr, "skipping: %s not found\n", (rel));     \
        skip();                                                 \
    }

static int32_t id_of(const arpa_model *m, const char *w) { return arpa_word_id(m, w, strlen(w)); }

/* KenLM's StartTest: scores word from *state into *out; checks the log10
 * probability, the n-gram length and that the state is no longer than
 * min(ngram, order - 1). */
static void start_test(const arpa_model *m, const arpa_state *state, const char *word, int ngram, double want,
                       arpa_state *out) {
    int len = 0;
    float p = arpa_score(m, state, id_of(m, word), out, &len);
    assert_log10(p, want);
    assert_int_equal(len, ngram);
    int cap = ngram < arpa_order(m) - 1 ? ngram : arpa_order(m) - 1;
    assert_true(out->length <= cap);
    assert_int_equal(out->words[0], id_of(m, word));
}

/* KenLM's AppendTest: the same, and the state moves on (in place). */
static void append_test(const arpa_model *m, arpa_state *state, const char *word, int ngram, double want) {
    start_test(m, state, word, ngram, want, state);
}

/* ---------- KenLM model_test.cc on test.arpa ---------- */

static void test_kenlm_starters(void **st) {
    (void)st;
    LOAD_OR_SKIP(m, "lm/kenlm-test.arpa");
    arpa_state s, out;
    arpa_begin_state(m, &s);
    start_test(m, &s, "looking", 2, -0.4846522, &out);
    start_test(m, &s, ",", 1, -1.383514 + -0.4149733, &out);             /* , plus <s> backoff */
    start_test(m, &s, "this_is_not_found", 1, -1.995635 + -0.4149733, &out); /* <unk> plus <s> backoff */
    arpa_free(m);
}

static void test_kenlm_continuation(void **st) {
    (void)st;
    LOAD_OR_SKIP(m, "lm/kenlm-test.arpa");
    arpa_state s;
    arpa_begin_state(m, &s);
    append_test(m, &s, "looking", 2, -0.484652);
    append_test(m, &s, "on", 3, -0.348837);
    append_test(m, &s, "a", 4, -0.0155266);
    append_test(m, &s, "little", 5, -0.00306122);
    arpa_state preserve = s;
    append_test(m, &s, "the", 1, -4.04005);
    append_test(m, &s, "biarritz", 1, -1.9889);
    append_test(m, &s, "not_found", 1, -2.29666);
    append_test(m, &s, "more", 1, -1.20632 - 20.0);
    append_test(m, &s, ".", 2, -0.51363);
    append_test(m, &s, "</s>", 3, -0.0191651);
    assert_int_equal(s.length, 0);
    s = preserve;
    append_test(m, &s, "more", 5, -0.00181395);
    assert_int_equal(s.length, 4);
    append_test(m, &s, "loin", 5, -0.0432557);
    assert_int_equal(s.length, 1);
    arpa_free(m);
}

static void test_kenlm_blanks(void **st) {
    (void)st;
    LOAD_OR_SKIP(m, "lm/kenlm-test.arpa");
    arpa_state s;
    arpa_null_state(&s);
    append_test(m, &s, "also", 1, -1.687872);
    append_test(m, &s, "would", 2, -2);
    append_test(m, &s, "consider", 3, -3);
    arpa_state preserve = s;
    append_test(m, &s, "higher", 4, -4);
    append_test(m, &s, "looking", 5, -5);
    assert_int_equal(s.length, 1);
    s = preserve; /* also would consider not_found */
    append_test(m, &s, "not_found", 1, -1.995635 - 7.0 - 0.30103);
    arpa_null_state(&s); /* higher looking is a blank */
    append_test(m, &s, "higher", 1, -1.509559);
    append_test(m, &s, "looking", 2, -1.285941 - 0.30103);
    arpa_state higher_looking = s;
    assert_int_equal(s.length, 1);
    append_test(m, &s, "not_found", 1, -1.995635 - 0.4771212);
    s = higher_looking; /* higher looking consider */
    append_test(m, &s, "consider", 1, -1.687872 - 0.4771212);
    arpa_null_state(&s);
    append_test(m, &s, "would", 1, -1.687872);
    assert_int_equal(s.length, 1);
    append_test(m, &s, "consider", 2, -1.687872 - 0.30103);
    assert_int_equal(s.length, 2);
    append_test(m, &s, "higher", 3, -1.509559 - 0.30103);
    assert_int_equal(s.length, 3);
    append_test(m, &s, "looking", 4, -1.285941 - 0.30103);
    arpa_free(m);
}

static void test_kenlm_unknowns(void **st) {
    (void)st;
    LOAD_OR_SKIP(m, "lm/kenlm-test.arpa");
    arpa_state s;
    arpa_null_state(&s);
    append_test(m, &s, "not_found", 1, -1.995635);
    arpa_state preserve = s;
    append_test(m, &s, "not_found2", 2, -15.0);
    append_test(m, &s, "not_found3", 2, -15.0 - 2.0);
    s = preserve;
    append_test(m, &s, "however", 2, -4);
    append_test(m, &s, "not_found3", 3, -6);
    arpa_free(m);
}

static void test_kenlm_minimal_state(void **st) {
    (void)st;
    LOAD_OR_SKIP(m, "lm/kenlm-test.arpa");
    arpa_state s;
    arpa_null_state(&s);
    append_test(m, &s, "baz", 1, -6.535897);
    assert_int_equal(s.length, 0);
    arpa_null_state(&s);
    append_test(m, &s, "foo", 1, -3.141592);
    assert_int_equal(s.length, 1);
    append_test(m, &s, "bar", 2, -6.0);
    assert_int_equal(s.length, 1); /* has to include the backoff weight */
    append_test(m, &s, "bar", 1, -2.718281 + 3.0);
    assert_int_equal(s.length, 1);
    arpa_null_state(&s);
    append_test(m, &s, "to", 1, -1.687872);
    append_test(m, &s, "look", 2, -0.2922095);
    assert_int_equal(s.length, 2);
    append_test(m, &s, "a", 3, -7);
    arpa_free(m);
}

/* KenLM's Stateless: a raw (not minimized) context state scores the same. */
static void stateless(const arpa_model *m, int word, int provide, int ngram, double want) {
    static const char *const words[] = {"<s>", "looking", "on", "a", "little", "the", "biarritz", "not_found", "more", ".", "</s>"};
    arpa_state ctx, out;
    arpa_null_state(&ctx);
    for (int k = 0; k < provide && k < 7; k++) ctx.words[k] = id_of(m, words[word - 1 - k]);
    ctx.length = provide;
    int len;
    assert_log10(arpa_score(m, &ctx, id_of(m, words[word]), &out, &len), want);
    assert_int_equal(len, ngram);
}

static void test_kenlm_stateless(void **st) {
    (void)st;
    LOAD_OR_SKIP(m, "lm/kenlm-test.arpa");
    stateless(m, 1, 1, 2, -0.484652);
    stateless(m, 2, 2, 3, -0.348837);
    stateless(m, 2, 1, 2, -0.4638903);
    stateless(m, 3, 3, 4, -0.0155266);
    stateless(m, 4, 4, 5, -0.00306122);
    stateless(m, 5, 5, 1, -4.04005);   /* five words of context: only four count */
    stateless(m, 5, 0, 1, -1.687872);  /* no context of the */
    stateless(m, 6, 1, 1, -1.9889);
    stateless(m, 7, 1, 1, -2.29666);
    stateless(m, 7, 0, 1, -1.995635);
    arpa_free(m);
}

static void test_kenlm_vocabulary(void **st) {
    (void)st;
    LOAD_OR_SKIP(m, "lm/kenlm-test.arpa");
    assert_int_equal(arpa_order(m), 5);
    assert_int_equal(arpa_vocab_size(m), 37);
    assert_int_equal(arpa_count(m, 1), 37);
    assert_int_equal(arpa_count(m, 2), 47);
    assert_int_equal(arpa_count(m, 5), 4);
    assert_int_equal(arpa_count(m, 6), 0);
    assert_int_equal(arpa_unk(m), 0);
    assert_string_equal(arpa_word_text(m, 0), "<unk>");
    /* KenLM's ids: <unk> 0, then file order */
    assert_int_equal(id_of(m, ","), 1);
    assert_int_equal(arpa_eos(m), 3);
    assert_int_equal(arpa_bos(m), 4);
    assert_int_equal(id_of(m, "looking"), 23);
    assert_int_equal(id_of(m, "baz"), 36);
    assert_int_equal(id_of(m, "nowhere"), 0);
    assert_null(arpa_word_text(m, 37));
    for (int32_t i = 0; i < arpa_vocab_size(m); i++) assert_int_equal(id_of(m, arpa_word_text(m, i)), i);
    assert_true(arpa_memory(m) > 37 * 2 * sizeof(float));
    arpa_free(m);
}

static void test_kenlm_nounk(void **st) {
    (void)st;
    LOAD_OR_SKIP(m, "lm/kenlm-test-nounk.arpa");
    assert_int_equal(arpa_vocab_size(m), 37); /* 36 words and the added <unk> */
    assert_int_equal(arpa_count(m, 1), 36);
    /* NoUnkCheck: <unk> after <unk> is log10 p = -100 */
    arpa_state s, out;
    arpa_null_state(&s);
    s.words[0] = 0;
    s.length = 1;
    assert_log10(arpa_score(m, &s, 0, &out, NULL), -100.0);
    /* -1.206319 more: no <unk> backoff of -20 in this file */
    arpa_begin_state(m, &s);
    append_test(m, &s, "not_found", 1, -100.0 - 0.4149733);
    append_test(m, &s, "more", 1, -1.206319);
    arpa_free(m);
}

/* ---------- the other models, by hand from their lines ---------- */

typedef struct step {
    const char *word;
    int ngram;
    double log10p;
} step;

static void sentence(const arpa_model *m, const step *steps, int n) {
    arpa_state s;
    arpa_begin_state(m, &s);
    for (int i = 0; i < n; i++) append_test(m, &s, steps[i].word, steps[i].ngram, steps[i].log10p);
}

static void test_toy_models(void **st) {
    (void)st;
    LOAD_OR_SKIP(toy0, "lm/kenlm-toy0.arpa");
    const step aab[] = {
        {"a", 2, -0.37712017},    /* <s> a */
        {"a", 3, -0.14885087},    /* <s> a a */
        {"b", 3, -0.20102891},    /* a a b */
        {"</s>", 3, -0.397617},   /* a b </s> */
    };
    sentence(toy0, aab, 4);
    arpa_free(toy0);
    LOAD_OR_SKIP(toy1, "lm/kenlm-toy1.arpa");
    const step c[] = {{"c", 2, -0.4740302}, {"</s>", 3, -0.09113217}};
    sentence(toy1, c, 2);
    const step b[] = {
        {"b", 1, -0.6146491 - 0.30103},  /* no "<s> b": b plus <s>'s backoff */
        {"b", 2, -0.3422159},            /* b b */
        {"b", 3, -0.13375957},           /* b b b */
        {"c", 1, -0.7659168 - 0.47712123 - 0.30103}, /* c, backoffs of "b b" and b */
    };
    sentence(toy1, b, 4);
    arpa_free(toy1);
}

static void test_bugs_bunny(void **st) {
    (void)st;
    LOAD_OR_SKIP(m, "lm/bugs-bunny.arpa");
    const step good[] = {{"bugs", 2, 0}, {"bunny", 2, 0}, {"</s>", 2, 0}};
    sentence(m, good, 3);
    const step bad[] = {{"bunny", 2, -10}, {"bugs", 1, 0}, {"</s>", 2, -10}};
    sentence(m, bad, 3);
    const step oov[] = {{"elmer", 1, -10}, {"</s>", 1, 0}};
    sentence(m, oov, 2);
    arpa_free(m);
}

static void test_ocr_bigram(void **st) {
    (void)st;
    LOAD_OR_SKIP(m, "lm/ocr-bigram.arpa");
    const step line[] = {
        {"the", 2, -0.44824514},   {"fake", 2, -0.6518575}, {"friend", 2, -0.25473},
        {"of", 2, -0.25473},       {"the", 2, -0.21734826}, {"family,", 2, -0.6518575},
        {"</s>", 1, -0.78914666 - 0.30103}, /* no "family, </s>" */
    };
    sentence(m, line, 7);
    arpa_free(m);
}

static void test_librispeech(void **st) {
    (void)st;
    LOAD_OR_SKIP(m, "lm/librispeech-3gram-pruned.arpa");
    assert_int_equal(arpa_order(m), 3);
    assert_int_equal(arpa_count(m, 1), 200003);
    assert_int_equal(arpa_count(m, 2), 433);
    assert_int_equal(arpa_count(m, 3), 17);
    assert_int_equal(arpa_vocab_size(m), 200003);
    const step it_was[] = {
        {"it", 2, -1.414601},      /* <s> it */
        {"was", 3, -0.4366179},    /* <s> it was */
        {"</s>", 1, -2.348754 - 0.006307177}, /* </s> plus was's backoff */
    };
    sentence(m, it_was, 3);
    const step shook[] = {
        {"shook", 1, -3.51114 - 0.3371602}, /* shook plus <s>'s backoff */
        {"his", 2, -0.544998},              /* shook his */
        {"head", 3, -0.07986544},           /* shook his head */
    };
    sentence(m, shook, 3);
    arpa_free(m);
}

/* ---------- parsing ---------- */

static rd_status parse(const char *text, arpa_model **m, rd_error *err) {
    return arpa_parse(text, strlen(text), "x.arpa", m, err);
}

static void test_parse_lenient_forms(void **st) {
    (void)st;
    /* comments before \data\, spaces between fields, CRLF, blank lines */
    const char *text =
        "# made by hand\n\n\\data\\\r\nngram 1=3\r\nngram  2 = 1\r\n\r\n\\1-grams:\r\n"
        "-1 <s> -0.5\r\n-0.5 </s>\r\n-0.25\tx\t0\r\n\r\n\\2-grams:\r\n-0.1 <s> x\r\n\r\n\\end\\\r\n\r\n";
    arpa_model *m;
    rd_error err;
    if (parse(text, &m, &err) != RD_OK) fail_msg("%s", err.msg);
    assert_int_equal(arpa_order(m), 2);
    assert_int_equal(arpa_vocab_size(m), 4);
    arpa_state s;
    arpa_begin_state(m, &s);
    int len;
    assert_log10(arpa_score(m, &s, id_of(m, "x"), &s, &len), -0.1);
    assert_int_equal(len, 2);
    assert_int_equal(s.length, 0); /* x's backoff is 0 and no 2-gram extends it */
    assert_log10(arpa_score(m, &s, arpa_eos(m), &s, &len), -0.5);
    assert_log10(arpa_score(m, &s, arpa_unk(m), &s, &len), -100.0); /* <unk> was added */
    arpa_free(m);
}

typedef struct bad_case {
    const char *text, *msg;
} bad_case;

#define HEAD2 "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1\t<s>\t-0.5\n-0.5\t</s>\n-0.25\tx\n\n"

static const bad_case bad_cases[] = {
    {"", "x.arpa:1: expected \\data\\ at the start of an ARPA file, found the end of the file"},
    {"hello\n", "x.arpa:1: expected \\data\\ at the start of an ARPA file, found 'hello'"},
    {"\\data\\\n\\1-grams:\n", "x.arpa:2: expected 'ngram 1=count' after \\data\\, found '\\1-grams:'"},
    {"\\data\\\nngram 2=4\n", "x.arpa:2: expected 'ngram 1=count' (orders in sequence from 1), found 'ngram 2=4'"},
    {"\\data\\\nngram 1=x\n", "x.arpa:2: expected a count >= 0 after '=', found 'ngram 1=x'"},
    {"\\data\\\nngram 1=5000\n", "x.arpa:2: the count 5000 of 1-grams cannot fit in a file of 20 bytes"},
    {"\\data\\\nngram 1=1\nngram 2=1\nngram 3=1\nngram 4=1\nngram 5=1\nngram 6=1\nngram 7=1\nngram 8=1\n"
     "ngram 9=1\n",
     "x.arpa:10: expected n-gram orders up to 8, found 'ngram 9=1'"},
    {"\\data\\\nngram 1=1\n\n\\2-grams:\n", "x.arpa:4: expected \\1-grams: after the counts, found '\\2-grams:'"},
    {"\\data\\\nngram 1=3\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n\\end\\\n",
     "x.arpa:7: expected 3 1-grams as \\data\\ declares, found 2 before '\\end\\'"},
    {"\\data\\\nngram 1=3\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n",
     "x.arpa:6: expected 3 1-grams as \\data\\ declares, found 2 before the end of the file"},
    {"\\data\\\nngram 1=2\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n-1\ty\n\\end\\\n",
     "x.arpa:7: expected \\end\\ after 2 1-grams, found '-1 y'"},
    {HEAD2 "-1\t</s>\n\\end\\\n", "x.arpa:10: expected \\2-grams: after 3 1-grams, found '-1 </s>'"},
    {HEAD2 "\\2-grams:\n-0.1\t<s> x y\n\n\\end\\\n", "x.arpa:11: expected 2 words in a 2-gram, found 3"},
    {HEAD2 "\\2-grams:\n-0.1\t<s>\n\n\\end\\\n", "x.arpa:11: expected 2 words in a 2-gram, found 1"},
    {HEAD2 "\\2-grams:\n-0.1\t<s> y\n\n\\end\\\n", "x.arpa:11: word 'y' of this 2-gram is not among the 1-grams"},
    {HEAD2 "\\2-grams:\nabc\t<s> x\n\n\\end\\\n", "x.arpa:11: expected a log10 probability, found 'abc'"},
    {HEAD2 "\\2-grams:\n0.5\t<s> x\n\n\\end\\\n", "x.arpa:11: expected a log10 probability <= 0, found '0.5'"},
    {HEAD2 "\\2-grams:\n-0.1\t<s> x\t-0.2\n\n\\end\\\n",
     "x.arpa:11: expected no backoff in a 2-gram (the highest order), found '-0.2'"},
    {HEAD2 "\\2-grams:\n-0.1\t<s> x\n", "x.arpa:11: expected \\end\\ after 1 2-grams, found the end of the file"},
    {HEAD2 "\\2-grams:\n-0.1\t<s> x\n\\end\\\nmore\n", "x.arpa:13: expected nothing after \\end\\, found 'more'"},
    {"\\data\\\nngram 1=3\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n-1\t<s>\n\\end\\\n", "x.arpa:7: duplicate 1-gram '<s>'"},
    {"\\data\\\nngram 1=3\nngram 2=2\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n-1\tx\n\n\\2-grams:\n-1\tx x\n-2\tx x\n\\end\\\n",
     "x.arpa:12: duplicate 2-gram '-2 x x'"},
    {"\\data\\\nngram 1=2\n\n\\1-grams:\n-1\t<s>\n-1\tx\n\\end\\\n", "x.arpa:6: expected </s> among the 1-grams"},
    {"\\data\\\nngram 1=3\nngram 2=1\nngram 3=1\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n-1\tx\n\n\\2-grams:\n"
     "-1\tx x\n\n\\3-grams:\n-1\t<s> x x\n\\end\\\n",
     "x.arpa:15: the context of this 3-gram is not a 2-gram: '-1 <s> x x'"},
    {"\\data\\\nngram 1=3\n\n\\1-grams:\n-1\t<s>\t1e999\n-1\t</s>\n-1\tx\n\\end\\\n",
     "x.arpa:5: expected 1 word in a 1-gram, found 2"},
};

static void test_parse_errors(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        arpa_model *m = (arpa_model *)&m;
        rd_error err;
        rd_error_clear(&err);
        rd_status s = parse(bad_cases[i].text, &m, &err);
        if (s != RD_ERR_INPUT) fail_msg("case %zu: status %d (%s)", i, (int)s, err.msg);
        assert_null(m);
        if (strcmp(err.msg, bad_cases[i].msg) != 0) fail_msg("case %zu:\n got '%s'\nwant '%s'", i, err.msg, bad_cases[i].msg);
    }
}

static void test_load_missing_file(void **st) {
    (void)st;
    arpa_model *m;
    rd_error err;
    assert_int_equal(arpa_load("/nonexistent/x.arpa", &m, &err), RD_ERR_IO);
    assert_string_equal(err.msg, "/nonexistent/x.arpa: cannot open: No such file or directory");
}

/* ---------- LM files as published: .gz/.xz/.bz2, BOM, KenLM binary ---------- */

static const char small_arpa[] = "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1.0\t<s>\t-0.5\n-0.5\t</s>\n"
                                 "-0.3\ta\t-0.2\n\n\\2-grams:\n-0.1\t<s> a\n\n\\end\\\n";

static void write_file(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Loads path and checks p(a | <s>) = 10^-0.1 and p(</s> | a). */
static void check_small(const char *path) {
    arpa_model *m = NULL;
    rd_error err;
    if (arpa_load(path, &m, &err) != RD_OK) fail_msg("%s: %s", path, err.msg);
    arpa_state s;
    arpa_begin_state(m, &s);
    int len;
    assert_log10(arpa_score(m, &s, id_of(m, "a"), &s, &len), -0.1);
    assert_log10(arpa_score(m, &s, arpa_eos(m), &s, &len), -0.2 - 0.5);
    arpa_free(m);
}

static void test_compressed_and_bom(void **st) {
    (void)st;
    char dir[] = "/tmp/rd_arpa_zXXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    size_t n = strlen(small_arpa);
    snprintf(path, sizeof path, "%s/lm.arpa.gz", dir);
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, small_arpa, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
    check_small(path);
    /* cut off: an error naming the file, not a model of what arrived */
    char cut[128];
    snprintf(cut, sizeof cut, "%s/cut.gz", dir);
    unsigned char buf[4096];
    FILE *f = fopen(path, "rb");
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_file(cut, buf, got - 12);
    arpa_model *m = NULL;
    rd_error err;
    assert_int_equal(arpa_load(cut, &m, &err), RD_ERR_INPUT);
    char want[256];
    snprintf(want, sizeof want, "%s: gzip data cut off or corrupt", cut);
    assert_string_equal(err.msg, want);
    size_t out = 0;
    assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, (const uint8_t *)small_arpa, n, buf, &out,
                                             sizeof buf), LZMA_OK);
    snprintf(path, sizeof path, "%s/lm.arpa.xz", dir);
    write_file(path, buf, out);
    check_small(path);
    unsigned bz = sizeof buf;
    assert_int_equal(BZ2_bzBuffToBuffCompress((char *)buf, &bz, (char *)small_arpa, (unsigned)n, 9, 0, 0), BZ_OK);
    snprintf(path, sizeof path, "%s/lm.arpa.bz2", dir);
    write_file(path, buf, bz);
    check_small(path);
    /* a BOM (editors on Windows write one) */
    snprintf(path, sizeof path, "%s/bom.arpa", dir);
    memcpy(buf, "\xEF\xBB\xBF", 3);
    memcpy(buf + 3, small_arpa, n);
    write_file(path, buf, n + 3);
    check_small(path);
    /* a KenLM binary is named as one */
    snprintf(path, sizeof path, "%s/lm.binary", dir);
    static const char kenlm[] = "mmap lm http://kheafield.com/code format version 5\n\0\0\0\0";
    write_file(path, kenlm, sizeof kenlm);
    assert_int_equal(arpa_load(path, &m, &err), RD_ERR_INPUT);
    snprintf(want, sizeof want, "%s: KenLM binary: give the ARPA file (build_binary's output cannot be read; .arpa, "
             ".arpa.gz, .arpa.xz and .arpa.bz2 can)", path);
    assert_string_equal(err.msg, want);
    char rm[160];
    snprintf(rm, sizeof rm, "rm -r %s", dir);
    assert_int_equal(system(rm), 0);
}

/* ---------- memory: counts first, one block ---------- */

/* The bytes of the 1-gram words, as arpa_memory_for_counts takes them: each
 * word's length plus one, <unk> counted when the file lists it. */
static size_t word_bytes(const arpa_model *m, int file_has_unk) {
    size_t bytes = file_has_unk ? 6 : 0;
    for (int32_t id = 1; id < arpa_vocab_size(m); id++) bytes += strlen(arpa_word_text(m, id)) + 1;
    return bytes;
}

static size_t memory_from_counts(const arpa_model *m, size_t words) {
    long counts[ARPA_MAX_ORDER];
    for (int n = 1; n <= arpa_order(m); n++) counts[n - 1] = arpa_count(m, n);
    return arpa_memory_for_counts(arpa_order(m), counts, words);
}

static void test_memory_for_counts(void **st) {
    (void)st;
    LOAD_OR_SKIP(m, "lm/kenlm-test.arpa");
    /* what the load allocated, from the counts alone */
    assert_int_equal(arpa_memory(m), memory_from_counts(m, word_bytes(m, 1)));
    /* 5-gram: tables of count * 1.5 + 4 buckets, 16-byte entries below the
     * highest order and 12-byte ones at it, each table 16-byte aligned */
    long c[5] = {37, 46, 27, 8, 4};
    size_t base = arpa_memory_for_counts(5, c, 0);
    c[4] = 4000;
    assert_int_equal(arpa_memory_for_counts(5, c, 0) - base, 6004 * 12 - 128); /* 10 * 12, aligned: 128 */
    c[3] = 8000;
    assert_int_equal(arpa_memory_for_counts(5, c, 0) - base, 6004 * 12 - 128 + (12004 - 16) * 16);
    assert_int_equal(arpa_memory_for_counts(5, c, 96) - arpa_memory_for_counts(5, c, 0), 96);
    arpa_free(m);
    LOAD_OR_SKIP(nounk, "lm/kenlm-test-nounk.arpa");
    assert_int_equal(arpa_memory(nounk), memory_from_counts(nounk, word_bytes(nounk, 0)));
    arpa_free(nounk);
    /* nonsense */
    long bad[2] = {3, -1}, huge[2] = {3, LONG_MAX};
    assert_int_equal(arpa_memory_for_counts(0, c, 0), SIZE_MAX);
    assert_int_equal(arpa_memory_for_counts(ARPA_MAX_ORDER + 1, c, 0), SIZE_MAX);
    assert_int_equal(arpa_memory_for_counts(2, bad, 0), SIZE_MAX);
    assert_int_equal(arpa_memory_for_counts(2, huge, 0), SIZE_MAX);
    assert_int_equal(arpa_memory_for_counts(1, c, SIZE_MAX - 2), SIZE_MAX);
}

/* A file that declares 10^8 2-grams, padded to 1 GB with a hole: the limit
 * refuses it from the counts, before anything is allocated or read past
 * the 1-grams (a load would need 1.8 GB and then fail on the hole). */
static void test_memory_limit_refused(void **st) {
    (void)st;
    const char text[] = "\\data\\\nngram 1=3\nngram 2=100000000\n\n\\1-grams:\n-1\t<s>\t-0.5\n-0.5\t</s>\n"
                        "-0.25\tx\n\n\\2-grams:\n";
    char path[64];
    assert_non_null(rd_test_tmpfile(path, sizeof path, text, sizeof text - 1));
    assert_int_equal(truncate(path, 1000000000), 0);
    long counts[2] = {3, 100000000};
    size_t need = arpa_memory_for_counts(2, counts, 4 + 5 + 2);
    assert_true(need > 100000000u * 3 / 2 * 12);
    char want[512];
    snprintf(want, sizeof want, "%s: the model needs %zu bytes (%.1f MiB) for its counts, over the limit of 10485760 (10.0 MiB)",
             path, need, need / 1048576.0);
    arpa_model *a = (arpa_model *)&a;
    rd_error err;
    assert_int_equal(arpa_load_limited(path, 10 << 20, &a, &err), RD_ERR_NOMEM);
    assert_null(a);
    assert_string_equal(err.msg, want);
    /* the same through lm_load, as rwkv-decode --lm FILE --max-memory 10 */
    lm_model *m = (lm_model *)&m;
    lm_load_options lo = {0};
    lo.max_memory = 10 << 20;
    assert_int_equal(lm_load(path, &lo, &m, &err), RD_ERR_NOMEM);
    assert_null(m);
    assert_string_equal(err.msg, want);
    unlink(path);
}

/* 1-grams <s> </s> a b w1..w7, the 2-gram "a b", the 3-grams "a b wI": each
 * 3-gram's suffix "b wI" is missing and becomes a blank; seven of them
 * outgrow the 2-gram table sized for one (5 buckets). */
static const char *blanks_text(char *buf, size_t cap) {
    int k = snprintf(buf, cap, "\\data\\\nngram 1=11\nngram 2=1\nngram 3=7\n\n\\1-grams:\n-1\t<s>\t-0.5\n"
                               "-1\t</s>\n-1\ta\t-0.25\n-1\tb\t-0.125\n");
    for (int i = 1; i <= 7; i++) k += snprintf(buf + k, cap - (size_t)k, "-%d\tw%d\n", i, i);
    k += snprintf(buf + k, cap - (size_t)k, "\n\\2-grams:\n-0.5\ta b\t-0.75\n\n\\3-grams:\n");
    for (int i = 1; i <= 7; i++) k += snprintf(buf + k, cap - (size_t)k, "-0.%d\ta b w%d\n", i, i);
    snprintf(buf + k, cap - (size_t)k, "\n\\end\\\n");
    return buf;
}

static void test_blanks_outgrow_table(void **st) {
    (void)st;
    char text[1024];
    arpa_model *m;
    rd_error err;
    if (parse(blanks_text(text, sizeof text), &m, &err) != RD_OK) fail_msg("%s", err.msg);
    size_t declared = memory_from_counts(m, 4 + 5 + 2 + 2 + 7 * 3);
    assert_true(arpa_memory(m) > declared); /* the grown 2-gram table */
    arpa_state s, a_b;
    int len;
    arpa_null_state(&a_b);
    arpa_score(m, &a_b, id_of(m, "a"), &a_b, NULL);
    assert_log10(arpa_score(m, &a_b, id_of(m, "b"), &a_b, &len), -0.5);
    for (int i = 1; i <= 7; i++) {
        char w[8];
        snprintf(w, sizeof w, "w%d", i);
        assert_log10(arpa_score(m, &a_b, id_of(m, w), &s, &len), -0.1 * i); /* a b wI */
        assert_int_equal(len, 3);
        arpa_null_state(&s);
        arpa_score(m, &s, id_of(m, "b"), &s, NULL);
        assert_int_equal(s.length, 1); /* b is extended by the blanks */
        assert_log10(arpa_score(m, &s, id_of(m, w), &s, &len), -i - 0.125); /* blank "b wI": wI plus b's backoff */
        assert_int_equal(len, 2);
    }
    /* a limit the counts fit but the grown table passes */
    char path[64];
    assert_non_null(rd_test_tmpfile(path, sizeof path, text, strlen(text)));
    arpa_model *limited = (arpa_model *)&limited;
    assert_int_equal(arpa_load_limited(path, declared, &limited, &err), RD_ERR_NOMEM);
    assert_null(limited);
    char want[256];
    snprintf(want, sizeof want, "%s: the model takes %zu bytes, over the limit of %zu", path, arpa_memory(m), declared);
    assert_string_equal(err.msg, want);
    assert_int_equal(arpa_load_limited(path, arpa_memory(m), &limited, &err), RD_OK);
    arpa_free(limited);
    unlink(path);
    arpa_free(m);
}

/* log10 p of the 2-gram "wI wJ" in big_file */
static double big_prob(int i, int j) { return -((i * 1000 + j) % 9973) / 1000.0; }

/* 1000 words and all their 10^6 2-grams, 19 MB: the loader hands the pages
 * it has read back as it goes; the last lines must read as the first. */
static void test_big_file(void **st) {
    (void)st;
    char path[64];
    assert_non_null(rd_test_tmpfile(path, sizeof path, "", 0));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "\\data\\\nngram 1=1002\nngram 2=1000000\n\n\\1-grams:\n-1\t<s>\t0\n-1\t</s>\n");
    for (int i = 0; i < 1000; i++) fprintf(f, "-3\tw%d\t-0.5\n", i);
    fprintf(f, "\n\\2-grams:\n");
    for (int i = 0; i < 1000; i++)
        for (int j = 0; j < 1000; j++) fprintf(f, "%.3f\tw%d w%d\n", big_prob(i, j), i, j);
    fprintf(f, "\n\\end\\\n");
    assert_int_equal(fclose(f), 0);
    arpa_model *m;
    rd_error err;
    if (arpa_load(path, &m, &err) != RD_OK) fail_msg("%s", err.msg);
    unlink(path);
    assert_int_equal(arpa_vocab_size(m), 1003);
    assert_int_equal(arpa_memory(m), memory_from_counts(m, word_bytes(m, 0)));
    static const int pairs[][2] = {{0, 0}, {0, 999}, {500, 123}, {998, 7}, {999, 998}, {999, 999}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        char a[8], b[8];
        snprintf(a, sizeof a, "w%d", pairs[k][0]);
        snprintf(b, sizeof b, "w%d", pairs[k][1]);
        arpa_state s;
        int len;
        arpa_null_state(&s);
        arpa_score(m, &s, id_of(m, a), &s, NULL);
        assert_log10(arpa_score(m, &s, id_of(m, b), &s, &len), big_prob(pairs[k][0], pairs[k][1]));
        assert_int_equal(len, 2);
    }
    arpa_free(m);
}

/* A pipe cannot be mapped: it is read whole instead. */
static void test_load_fifo(void **st) {
    (void)st;
    char path[64];
    snprintf(path, sizeof path, "/tmp/rd_test_fifo_%ld", (long)getpid());
    assert_int_equal(mkfifo(path, 0600), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        const char text[] = "\\data\\\nngram 1=3\n\n\\1-grams:\n-1\t<s>\n-0.5\t</s>\n-0.25\tx\n\n\\end\\\n";
        int fd = open(path, O_WRONLY);
        _exit(fd >= 0 && write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1) ? 0 : 1);
    }
    arpa_model *m;
    rd_error err;
    rd_status s = arpa_load(path, &m, &err);
    int status;
    waitpid(child, &status, 0);
    unlink(path);
    if (s != RD_OK) fail_msg("%s", err.msg);
    assert_int_equal(arpa_order(m), 1);
    assert_int_equal(arpa_vocab_size(m), 4);
    arpa_state n;
    arpa_null_state(&n);
    assert_log10(arpa_score(m, &n, id_of(m, "x"), &n, NULL), -0.25);
    arpa_free(m);
}

/* ---------- lm.h over an ARPA model ---------- */

static lm_model *lm_open(const char *rel) {
    char path[512];
    if (!rd_test_data(path, sizeof path, rel)) return NULL;
    lm_model *m;
    rd_error err;
    lm_load_options lo = {0};
    if (lm_load(path, &lo, &m, &err) != RD_OK) fail_msg("%s", err.msg);
    return m;
}

static void test_lm_interface(void **st) {
    (void)st;
    lm_model *m = lm_open("lm/kenlm-test.arpa");
    if (!m) skip();
    assert_string_equal(lm_describe(m), "arpa 5-gram, 37 words");
    lm_cache *c;
    rd_error err;
    assert_int_equal(lm_cache_create(m, 4, &c, &err), RD_OK);
    assert_int_equal(lm_cache_slots(c), 4);
    int32_t looking = lm_word(c, "looking", 7), on = lm_word(c, "on", 2), a = lm_word(c, "a", 1);
    int32_t nf = lm_word(c, "not_found", 9);
    assert_int_equal(looking, lm_word(c, "looking", 7));
    assert_true(lm_word_known(c, looking));
    assert_false(lm_word_known(c, nf));
    assert_log10(lm_unigram(c, lm_word(c, "also", 4)), -1.687872);
    assert_log10(lm_unigram(c, nf), -1.995635);
    /* every slot starts after <s>; a child may be its parent */
    int32_t par[3] = {0, 0, 1}, wd[3] = {looking, on, looking}, ch[3] = {0, 2, 1};
    float sc[3];
    assert_int_equal(lm_score_words(c, par, wd, ch, 3, sc, &err), RD_OK);
    assert_log10(sc[0], -0.4846522);            /* <s> looking */
    assert_log10(sc[1], -1.509559 - 0.4149733); /* on, plus <s>'s backoff (from the old slot 0) */
    assert_log10(sc[2], -0.4846522);
    int32_t par2[2] = {0, 1}, wd2[2] = {on, on}, ch2[2] = {1, 3};
    assert_int_equal(lm_score_words(c, par2, wd2, ch2, 2, sc, &err), RD_OK);
    assert_log10(sc[0], -0.348837); /* <s> looking on */
    assert_log10(sc[1], -0.348837);
    /* slots: 0 <s> looking, 1 <s> looking on, 2 <s> on, 3 <s> looking on */
    int32_t surv[3] = {1, 1, 2};
    assert_int_equal(lm_reorder(c, surv, 3, &err), RD_OK);
    int32_t p3[3] = {0, 1, 2}, w3[3] = {a, a, a}, c3[3] = {0, 1, 2};
    assert_int_equal(lm_score_words(c, p3, w3, c3, 3, sc, &err), RD_OK);
    assert_log10(sc[0], -0.0155266); /* <s> looking on a */
    assert_log10(sc[1], -0.0155266);
    assert_log10(sc[2], -0.1649931); /* on a */
    int32_t fs[2] = {0, 2};
    assert_int_equal(lm_finish(c, fs, 2, sc, &err), RD_OK);
    /* </s> after "<s> looking on a": backoffs of a, on a, looking on a, <s> looking on a */
    assert_log10(sc[0], -1.029493 - 0.69897 - 0.4771213 - 0.4771212 - 0.4771212);
    assert_log10(sc[1], -1.029493 - 0.69897 - 0.4771213); /* after "on a" */
    int32_t z = 3;
    assert_int_equal(lm_start(c, &z, 1, &err), RD_OK);
    assert_int_equal(lm_finish(c, &z, 1, sc, &err), RD_OK);
    assert_log10(sc[0], -1.029493 - 0.4149733);
    lm_cache_free(c);
    lm_free(m);
}

static void test_lm_argument_errors(void **st) {
    (void)st;
    lm_model *m = lm_open("lm/kenlm-toy0.arpa");
    if (!m) skip();
    assert_string_equal(lm_describe(m), "arpa 3-gram, 5 words");
    lm_cache *c;
    rd_error err;
    assert_int_equal(lm_cache_create(m, 0, &c, &err), RD_ERR_INTERNAL);
    assert_string_equal(err.msg, "lm_cache_create: 0 slots (expected at least 1)");
    assert_int_equal(lm_cache_create(m, 2, &c, &err), RD_OK);
    int32_t bad = 2, ok = 1, w = lm_word(c, "a", 1);
    float sc;
    assert_int_equal(lm_score_words(c, &ok, &w, &bad, 1, &sc, &err), RD_ERR_INTERNAL);
    assert_string_equal(err.msg, "lm_score_words: child[0] = 2 is not a slot (expected 0..1)");
    bad = -1;
    assert_int_equal(lm_finish(c, &bad, 1, &sc, &err), RD_ERR_INTERNAL);
    assert_string_equal(err.msg, "lm_finish: slot[0] = -1 is not a slot (expected 0..1)");
    int32_t surv[3] = {0, 1, 0};
    assert_int_equal(lm_reorder(c, surv, 3, &err), RD_ERR_INTERNAL);
    assert_string_equal(err.msg, "lm_reorder: 3 survivors for 2 slots");
    assert_int_equal(lm_start(c, &ok, -1, &err), RD_ERR_INTERNAL);
    assert_string_equal(err.msg, "lm_start: negative count -1");
    lm_cache_free(c);
    lm_free(m);
}

static void test_lm_load_errors(void **st) {
    (void)st;
    lm_model *m = (lm_model *)&m;
    rd_error err;
    lm_load_options lo = {0};
    assert_int_equal(lm_load("/nonexistent/lm.arpa", &lo, &m, &err), RD_ERR_IO);
    assert_null(m);
    assert_string_equal(err.msg, "/nonexistent/lm.arpa: cannot open: No such file or directory");
    char path[64];
    const char text[] = "  \n\\data\\\nngram 1=x\n";
    assert_non_null(rd_test_tmpfile(path, sizeof path, text, sizeof text - 1));
    assert_int_equal(lm_load(path, &lo, &m, &err), RD_ERR_INPUT);
    char want[256];
    snprintf(want, sizeof want, "%s:3: expected a count >= 0 after '=', found 'ngram 1=x'", path);
    assert_string_equal(err.msg, want);
    unlink(path);
    char model[512];
    if (!rd_test_data(model, sizeof model, "lm/kenlm-test.arpa")) return;
    lo.max_memory = 100;
    assert_int_equal(lm_load(model, &lo, &m, &err), RD_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "over the limit of 100"));
}

/* ---------- rwkv-lm --lm (when bin/rwkv-lm is built) ---------- */

static void test_rwkv_lm_query(void **st) {
    (void)st;
    char model[512], cmd[1200];
    RD_DATA_OR_SKIP(model, "lm/kenlm-test.arpa");
    if (access("bin/rwkv-lm", X_OK) != 0) {
        fprintf(stderr, "skipping: bin/rwkv-lm not built\n");
        skip();
    }
    snprintf(cmd, sizeof cmd, "printf 'looking on a little\\nnot_found\\n' | bin/rwkv-lm --lm %s", model);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char out[2048];
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    assert_int_equal(pclose(f), 0);
    /* </s> after "looking on a little": -1.029493 plus the backoffs of little,
     * a little, on a little, looking on a little; not_found: <unk> plus <s>'s
     * backoff, then </s> plus <unk>'s backoff (-20). Perplexities: 10^(-total/7)
     * and 10^(-(total - oov)/6), KenLM query's formulas. */
    assert_string_equal(out,
                        "looking=23 2 -0.4846522\ton=25 3 -0.3488368\ta=5 4 -0.01552657\tlittle=20 5 -0.003061223\t"
                        "</s>=3 1 -3.381675\tTotal: -4.233752 OOV: 0\n"
                        "not_found=0 1 -2.410608\t</s>=3 1 -21.02949\tTotal: -23.4401 OOV: 1\n"
                        "Perplexity including OOVs:\t8982.711\n"
                        "Perplexity excluding OOVs:\t16238.3\n"
                        "OOVs:\t1\nTokens:\t7\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kenlm_starters),     cmocka_unit_test(test_kenlm_continuation),
        cmocka_unit_test(test_kenlm_blanks),       cmocka_unit_test(test_kenlm_unknowns),
        cmocka_unit_test(test_kenlm_minimal_state), cmocka_unit_test(test_kenlm_stateless),
        cmocka_unit_test(test_kenlm_vocabulary),   cmocka_unit_test(test_kenlm_nounk),
        cmocka_unit_test(test_toy_models),         cmocka_unit_test(test_bugs_bunny),
        cmocka_unit_test(test_ocr_bigram),         cmocka_unit_test(test_librispeech),
        cmocka_unit_test(test_parse_lenient_forms), cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_compressed_and_bom),  cmocka_unit_test(test_memory_for_counts),
        cmocka_unit_test(test_memory_limit_refused), cmocka_unit_test(test_blanks_outgrow_table),
        cmocka_unit_test(test_big_file),           cmocka_unit_test(test_load_fifo),
        cmocka_unit_test(test_lm_interface),
        cmocka_unit_test(test_lm_argument_errors), cmocka_unit_test(test_lm_load_errors),
        cmocka_unit_test(test_rwkv_lm_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
