/* tests/test_lexicon.c - unit tables (auto-detected and explicit blank and
 * delimiter, icefall form), lexicon formats (plain, flashlight, CMUdict,
 * lexiconp, Rime), the trie and its homophone groups, LM look-ahead, the
 * real reference lexicons, and exact error messages for malformed input. */
#include "tests/testutil.h"

#include <math.h>
#include <time.h>

#include "common/text.h"
#include "lexicon/lexicon.h"
#include "lexicon/units.h"

/* ---------- helpers ---------- */

static lex_units *units_ok(const char *text, const char *blank, const char *delim) {
    lex_units *u = NULL;
    rd_error err;
    rd_status st = lex_units_parse(text, strlen(text), "tokens.txt", blank, delim, &u, &err);
    if (st != RD_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, RD_OK);
    return u;
}

static lex_lexicon *lexicon_ok(const char *text, const lex_units *u, lex_load_stats *stats) {
    lex_lexicon *l = NULL;
    rd_error err;
    rd_status st = lex_lexicon_parse(text, strlen(text), "lex.txt", u, &l, stats, &err);
    if (st != RD_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, RD_OK);
    return l;
}

/* Node reached from the root by the space-separated unit names, or -1. */
static int32_t node_of(const lex_lexicon *l, const lex_units *u, const char *spelled) {
    int32_t node = 0;
    const char *p = spelled;
    while (*p && node >= 0) {
        size_t n = strcspn(p, " ");
        int id = lex_units_find(u, p, n);
        assert_true(id >= 0);
        node = lex_trie_child(l, node, id);
        p += n;
        while (*p == ' ') p++;
    }
    return node;
}

/* True if word w is in the group at node; its logp goes to *lp. */
static int group_has(const lex_lexicon *l, int32_t node, const char *w, float *lp) {
    const int32_t *words;
    const float *logp;
    int n = lex_trie_group(l, node, &words, &logp);
    for (int i = 0; i < n; i++)
        if (strcmp(lex_word(l, words[i]), w) == 0) {
            if (lp) *lp = logp[i];
            return 1;
        }
    return 0;
}

/* ---------- units ---------- */

static void test_units_shared_files(void **state) {
    static const struct {
        const char *file;
        int count, blank, delim;
    } cases[] = {
        {"emissions/librispeech-121-121726-0000.wav2vec2.tokens.txt", 32, 0, 4},
        {"emissions/librispeech-pyctcdecode-sample.tokens.txt", 29, 28, 0},
        {"emissions/ocr-handwriting-line.tokens.txt", 80, 79, 0},
    };
    char path[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        RD_DATA_OR_SKIP(path, cases[i].file);
        lex_units *u = NULL;
        rd_error err;
        assert_int_equal(lex_units_load(path, NULL, NULL, &u, &err), RD_OK);
        assert_int_equal(lex_units_count(u), cases[i].count);
        assert_int_equal(lex_units_blank(u), cases[i].blank);
        assert_int_equal(lex_units_delimiter(u), cases[i].delim);
        assert_string_equal(lex_units_text(u, cases[i].blank), "");
        assert_string_equal(lex_units_text(u, cases[i].delim), "");
        assert_int_equal(lex_units_find(u, "<blank>", 7), cases[i].blank);
        assert_string_equal(lex_units_name(u, lex_units_find(u, "e", 1)), "e");
        assert_string_equal(lex_units_text(u, lex_units_find(u, "e", 1)), "e");
        lex_units_free(u);
    }
}

static void test_units_wav2vec2_names(void **state) {
    char path[512];
    RD_DATA_OR_SKIP(path, "emissions/librispeech-121-121726-0000.wav2vec2.tokens.txt");
    lex_units *u = NULL;
    rd_error err;
    /* explicit names: <pad> as the blank, no delimiter */
    assert_int_equal(lex_units_load(path, "<pad>", "", &u, &err), RD_OK);
    assert_int_equal(lex_units_blank(u), 1);
    assert_int_equal(lex_units_delimiter(u), -1);
    assert_string_equal(lex_units_text(u, 4), "|");
    assert_string_equal(lex_units_text(u, 0), "<blank>");
    assert_int_equal(lex_units_find(u, "e", 1), 5);
    assert_int_equal(lex_units_find(u, "'", 1), 27);
    assert_int_equal(lex_units_find(u, "ee", 2), -1);
    lex_units_free(u);
}

static void test_units_auto_order(void **state) {
    lex_units *u = units_ok("x\n_\n<s>\n<pad>\n", NULL, NULL);
    assert_int_equal(lex_units_blank(u), 3);
    assert_int_equal(lex_units_delimiter(u), -1);
    lex_units_free(u);
    u = units_ok("_\n<s>\n\xe2\x96\x81\n<space>\n", NULL, NULL);
    assert_int_equal(lex_units_blank(u), 1);
    assert_int_equal(lex_units_delimiter(u), 3);
    lex_units_free(u);
    u = units_ok("_\n\xe2\x96\x81\n", NULL, NULL);
    assert_int_equal(lex_units_blank(u), 0);
    assert_int_equal(lex_units_delimiter(u), 1);
    lex_units_free(u);
}

static void test_units_explicit_and_lines(void **state) {
    /* CRLF, surrounding spaces, trailing blank lines, no final newline */
    lex_units *u = units_ok("a\r\n  <eps> \r\nb\n sil\n\n\n", "<eps>", "sil");
    assert_int_equal(lex_units_count(u), 4);
    assert_int_equal(lex_units_blank(u), 1);
    assert_int_equal(lex_units_delimiter(u), 3);
    assert_string_equal(lex_units_name(u, 1), "<eps>");
    assert_string_equal(lex_units_text(u, 2), "b");
    assert_null(lex_units_name(u, 4));
    lex_units_free(u);
    u = units_ok("<blank>\nc", NULL, NULL);
    assert_int_equal(lex_units_count(u), 2);
    assert_int_equal(lex_units_find(u, "c", 1), 1);
    lex_units_free(u);
}

static void test_units_icefall(void **state) {
    lex_units *u = units_ok("<blk> 0\nb 2\na 1\n<sp>\t3\n", "<blk>", "<sp>");
    assert_int_equal(lex_units_count(u), 4);
    assert_string_equal(lex_units_name(u, 0), "<blk>");
    assert_string_equal(lex_units_name(u, 1), "a");
    assert_string_equal(lex_units_name(u, 2), "b");
    assert_int_equal(lex_units_find(u, "b", 1), 2);
    assert_int_equal(lex_units_delimiter(u), 3);
    lex_units_free(u);
}

/* Token files as published: a UTF-8 BOM (it used to hide <blank>, so <pad>
 * became the blank), CRLF, trailing blank lines; Hugging Face vocab.json,
 * fairseq dict.ltr.txt ("unit count", four implicit units first), k2
 * tokens.txt ("unit id", <blk>). */
static void test_units_as_published(void **state) {
    lex_units *u = units_ok("\xEF\xBB\xBF<blank>\r\n<pad>\r\n|\r\na\r\n\r\n", NULL, NULL);
    assert_int_equal(lex_units_count(u), 4);
    assert_int_equal(lex_units_blank(u), 0);
    assert_int_equal(lex_units_delimiter(u), 2);
    assert_string_equal(lex_units_name(u, 0), "<blank>");
    lex_units_free(u);
    u = units_ok("\xEF\xBB\xBF{\"<pad>\": 0, \"<s>\": 1, \"</s>\": 2, \"<unk>\": 3, \"|\": 4,\r\n \"E\": 5,"
                 " \"\\u00e9\": 6, \"\\ud83d\\ude00\": 7, \"\\\"\\\\\": 8, \"'\": 9}\n", NULL, NULL);
    assert_int_equal(lex_units_count(u), 10);
    assert_int_equal(lex_units_blank(u), 0);
    assert_int_equal(lex_units_delimiter(u), 4);
    assert_int_equal(lex_units_find(u, "E", 1), 5);
    assert_int_equal(lex_units_find(u, "\xc3\xa9", 2), 6);
    assert_int_equal(lex_units_find(u, "\xf0\x9f\x98\x80", 4), 7);
    assert_int_equal(lex_units_find(u, "\"\\", 2), 8);
    assert_int_equal(lex_units_find(u, "'", 1), 9);
    lex_units_free(u);
    u = units_ok("{\"b\": 2, \"<pad>\": 0, \"a\": 1}", NULL, NULL);
    assert_string_equal(lex_units_name(u, 1), "a");
    assert_string_equal(lex_units_name(u, 2), "b");
    lex_units_free(u);
    /* fairseq: <s> <pad> </s> <unk> are ids 0-3, <s> the CTC blank */
    u = units_ok("| 94802\nE 51860\nT 38431 #fairseq:overwrite\n\n", NULL, NULL);
    assert_int_equal(lex_units_count(u), 7);
    assert_int_equal(lex_units_blank(u), 0);
    assert_string_equal(lex_units_name(u, 0), "<s>");
    assert_string_equal(lex_units_name(u, 3), "<unk>");
    assert_int_equal(lex_units_delimiter(u), 4);
    assert_string_equal(lex_units_name(u, 5), "E");
    assert_string_equal(lex_units_name(u, 6), "T");
    lex_units_free(u);
    u = units_ok("| 5\nE 3\n", "<pad>", NULL);
    assert_int_equal(lex_units_blank(u), 1);
    lex_units_free(u);
    /* k2/icefall BPE tokens: <blk> is found as the blank */
    u = units_ok("<blk> 0\n<sos/eos> 1\n\xe2\x96\x81THE 2\n", NULL, "");
    assert_int_equal(lex_units_count(u), 3);
    assert_int_equal(lex_units_blank(u), 0);
    assert_string_equal(lex_units_name(u, 2), "\xe2\x96\x81THE");
    lex_units_free(u);
    static const struct { const char *text, *msg; } bad[] = {
        {"{\"a\": 0,\n \"b\": 0}", "tokens.txt:2: id 0 already given on line 1"},
        {"{\"a\": 0, \"b\": 5}", "tokens.txt:1: expected an id from 0 to 1, found 5"},
        {"{\"a\": 0 \"b\": 1}", "tokens.txt:1: expected ',' or '}' after a unit's id"},
        {"{\"a\": -1}", "tokens.txt:1: expected \"unit\": id (a vocab.json object)"},
        {"{\"a\": 0,\n\"\\ud800\": 1}", "tokens.txt:2: expected \"unit\": id (a vocab.json object)"},
        {"{\"a\": 0}\nx", "tokens.txt:2: unexpected text after the vocab.json object"},
        {"{ }", "tokens.txt: expected at least one unit, found none"},
        {"{\"<pad>\": 0, \"\\u00ff\\u0000\": 1}", "tokens.txt:1: expected a unit name in utf-8"},
        {"E 5\n<unk> 3\n", "tokens.txt:2: '<unk>' is one of the units fairseq adds itself (<s> <pad> </s> <unk>, ids 0-3)"},
        {"E 5\nT\n", "tokens.txt:2: expected a unit and its count (fairseq dict), as on line 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rd_error err;
        u = (lex_units *)1;
        assert_int_equal(lex_units_parse(bad[i].text, strlen(bad[i].text), "tokens.txt", NULL, NULL, &u, &err),
                         RD_ERR_INPUT);
        assert_null(u);
        assert_string_equal(err.msg, bad[i].msg);
    }
}

/* The lexicon reader's sibling of the BOM bug: the first word kept its BOM. */
static void test_lexicon_bom(void **state) {
    lex_units *u = units_ok("<blank>\n|\na\nb\n", NULL, NULL);
    lex_load_stats st;
    lex_lexicon *l = lexicon_ok("\xEF\xBB\xBF" "ab a b\r\nba b a\r\n\r\n", u, &st);
    assert_int_equal(lex_word_count(l), 2);
    assert_string_equal(lex_word(l, 0), "ab");
    lex_lexicon_free(l);
    lex_units_free(u);
}

typedef struct err_case {
    const char *text, *blank, *delim, *msg;
} err_case;

static void test_units_errors(void **state) {
    static const err_case cases[] = {
        {"<blank>\na\n\nb\n", NULL, NULL, "tokens.txt:3: expected a unit name, found an empty line"},
        {"<blank>\na\nb\na\n", NULL, NULL, "tokens.txt:4: unit 'a' already on line 2"},
        {"<blank>\na b\n", NULL, NULL, "tokens.txt:2: expected one unit name, found 2 fields"},
        {"a\nb\n", NULL, NULL,
         "tokens.txt: no blank unit: expected one of <blank>, <pad>, <blk>, <s>, _ or a given name"},
        {"a\nb\n", "<b>", NULL, "tokens.txt: blank unit '<b>' not found"},
        {"<blank>\nb\n", NULL, "<sp>", "tokens.txt: word delimiter unit '<sp>' not found"},
        {"<blank>\nb\n", NULL, "<blank>",
         "tokens.txt: unit '<blank>' cannot be both the blank and the word delimiter"},
        {"\n \n", NULL, NULL, "tokens.txt: expected at least one unit, found none"},
        {"<blank>\n\xff\n", NULL, NULL, "tokens.txt:2: expected a unit name in utf-8"},
        {"<blank> 0\na 2\n", NULL, NULL, "tokens.txt:2: expected an id from 0 to 1, found 2"},
        {"<blank> 0\na 0\n", NULL, NULL, "tokens.txt:2: id 0 already given on line 1"},
        {"<blank> 0\na\n", NULL, NULL, "tokens.txt:2: expected a unit and its id, as on line 1"},
        {"<blank> 1\na 0\n<blank> 2\n", NULL, NULL, "tokens.txt:3: unit '<blank>' already on line 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lex_units *u = (lex_units *)1;
        rd_error err;
        rd_status st = lex_units_parse(cases[i].text, strlen(cases[i].text), "tokens.txt",
                                       cases[i].blank, cases[i].delim, &u, &err);
        assert_int_equal(st, RD_ERR_INPUT);
        assert_null(u);
        assert_string_equal(err.msg, cases[i].msg);
    }
    lex_units *u = NULL;
    rd_error err;
    assert_int_equal(lex_units_load("/nonexistent/tokens.txt", NULL, NULL, &u, &err), RD_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/tokens.txt: cannot open"));
}

/* ---------- lexicon formats ---------- */

static const char letters[] = "<blank>\n|\na\nb\nc\nd\ne\n";

static void test_lexicon_plain(void **state) {
    lex_units *u = units_ok(letters, NULL, NULL);
    lex_load_stats st;
    lex_lexicon *l = lexicon_ok("# comment\nbad b a d\ncab\tc a b\n\nab a b\nAB a  b\ncab c a b e\n"
                                "dab d a b\nab a b\n",
                                u, &st);
    assert_int_equal(lex_word_count(l), 5);
    assert_string_equal(lex_word(l, 0), "bad");
    assert_string_equal(lex_word(l, 1), "cab");
    assert_string_equal(lex_word(l, 2), "ab");
    assert_string_equal(lex_word(l, 3), "AB");
    assert_string_equal(lex_word(l, 4), "dab");
    assert_null(lex_word(l, 5));
    assert_int_equal(lex_word_find(l, "cab", 3), 1);
    assert_int_equal(lex_word_find(l, "ca", 2), -1);
    assert_int_equal(st.lines, 9);
    assert_int_equal(st.entries, 6); /* "ab a b" twice is merged */
    assert_int_equal(st.skipped, 0);
    /* nodes: root, a, ab, b, ba, bad, c, ca, cab, cabe, d, da, dab */
    assert_int_equal(lex_trie_node_count(l), 13);
    int32_t ab = node_of(l, u, "a b");
    const int32_t *w;
    const float *lp;
    assert_int_equal(lex_trie_group(l, ab, &w, &lp), 2);
    assert_true(group_has(l, ab, "ab", NULL) && group_has(l, ab, "AB", NULL));
    assert_float_equal(lp[0], 0.0f, 0);
    assert_int_equal(lex_trie_max_group(l), 2);
    int32_t cab = node_of(l, u, "c a b");
    assert_true(group_has(l, cab, "cab", NULL));
    assert_int_equal(lex_trie_child_count(l, cab), 1);
    assert_true(group_has(l, node_of(l, u, "c a b e"), "cab", NULL));
    assert_int_equal(lex_trie_group(l, node_of(l, u, "c a"), &w, &lp), 0);
    /* root children sorted by unit: a(2) b(3) c(4) d(5) */
    assert_int_equal(lex_trie_child_count(l, 0), 4);
    for (int i = 0; i < 4; i++) {
        int unit;
        int32_t c = lex_trie_child_at(l, 0, i, &unit);
        assert_int_equal(unit, 2 + i);
        assert_int_equal(lex_trie_parent(l, c), 0);
        assert_int_equal(lex_trie_child(l, 0, unit), c);
    }
    assert_int_equal(lex_trie_parent(l, 0), -1);
    assert_int_equal(lex_trie_parent(l, cab), node_of(l, u, "c a"));
    assert_int_equal(lex_trie_child(l, 0, 6), -1);  /* no word starts with e */
    assert_int_equal(lex_trie_child(l, 0, 99), -1); /* out of range */
    assert_int_equal(lex_trie_child(l, 0, -1), -1);
    assert_int_equal(node_of(l, u, "a a"), -1);
    lex_lexicon_free(l);
    lex_units_free(u);
}

static void test_lexicon_flashlight(void **state) {
    lex_units *u = units_ok(letters, NULL, NULL);
    lex_lexicon *l = lexicon_ok("ab a b |\nba b a |\na a |\n", u, NULL);
    assert_int_equal(lex_word_count(l), 3);
    assert_true(group_has(l, node_of(l, u, "a b"), "ab", NULL));
    assert_true(group_has(l, node_of(l, u, "a"), "a", NULL));
    assert_int_equal(lex_trie_node_count(l), 5);
    lex_lexicon_free(l);
    lex_units_free(u);
    /* a table whose delimiter is <space>: flashlight's "|" still ends a word */
    u = units_ok("<space>\na\nb\n<blank>\n", NULL, NULL);
    l = lexicon_ok("ab a b |\nba b a <space>\n", u, NULL);
    assert_true(group_has(l, node_of(l, u, "a b"), "ab", NULL));
    assert_true(group_has(l, node_of(l, u, "b a"), "ba", NULL));
    lex_lexicon_free(l);
    lex_units_free(u);
    /* "#" is a unit here, not the start of a comment */
    u = units_ok("<blank>\n|\n#\n1\n", NULL, NULL);
    l = lexicon_ok("n1 # 1 |\n", u, NULL);
    assert_true(group_has(l, node_of(l, u, "# 1"), "n1", NULL));
    lex_lexicon_free(l);
    lex_units_free(u);
}

static void test_lexicon_cmudict(void **state) {
    lex_units *u = units_ok("<blank>\nR\nEH\nD\nIY\nAH\n", NULL, "");
    lex_load_stats st;
    lex_lexicon *l = lexicon_ok(";;; CMUdict excerpt\nread R EH D\nread(2) R IY D\nred R EH D\n"
                                "(2) AH\nx(a) AH # a note\n",
                                u, &st);
    assert_int_equal(lex_word_count(l), 4);
    assert_int_equal(lex_word_find(l, "read(2)", 7), -1);
    assert_int_equal(lex_word_find(l, "(2)", 3), 2);
    assert_int_equal(lex_word_find(l, "x(a)", 4), 3);
    int32_t red = node_of(l, u, "R EH D");
    assert_true(group_has(l, red, "read", NULL) && group_has(l, red, "red", NULL));
    int32_t reed = node_of(l, u, "R IY D");
    const int32_t *w;
    const float *lp;
    assert_int_equal(lex_trie_group(l, reed, &w, &lp), 1);
    assert_int_equal(w[0], lex_word_find(l, "read", 4));
    assert_int_equal(st.entries, 5);
    lex_lexicon_free(l);
    lex_units_free(u);
}

static void test_lexicon_lexiconp(void **state) {
    lex_units *u = units_ok(letters, NULL, NULL);
    lex_lexicon *l = lexicon_ok("ab 0.5 a b\nab 1.0 b a\nAB 0.25\ta b\nab 0.125 a b\n", u, NULL);
    assert_int_equal(lex_word_count(l), 2);
    float lp;
    int32_t n = node_of(l, u, "a b");
    assert_true(group_has(l, n, "ab", &lp));
    assert_float_equal(lp, logf(0.5f), 1e-6); /* merged: the best of 0.5 and 0.125 */
    assert_true(group_has(l, n, "AB", &lp));
    assert_float_equal(lp, logf(0.25f), 1e-6);
    assert_true(group_has(l, node_of(l, u, "b a"), "ab", &lp));
    assert_float_equal(lp, 0.0f, 1e-6);
    lex_lexicon_free(l);
    /* one line without a probability: the whole file is plain, "0.5" is a missing unit */
    lex_load_stats st;
    l = lexicon_ok("ab 0.5 a b\nba b a\n", u, &st);
    assert_int_equal(lex_word_count(l), 1);
    assert_string_equal(lex_word(l, 0), "ba");
    assert_int_equal(st.skipped, 1);
    assert_int_equal(st.first_skipped_line, 1);
    assert_string_equal(st.first_skipped_unit, "0.5");
    lex_lexicon_free(l);
    lex_units_free(u);
}

static const char rime_units[] = "<blank>\nshi\nba\nma\n";
static const char rime_dict[] =
    "# Rime dictionary\n---\nname: test\nversion: \"0.1\"\n...\n\n"
    "是\tshi\t300\n十\tshi\t100\n时\tshi\t0\n# a comment\n爸爸\tba ba\t7\n吗\tma\n妈\tma\t3\n是\tshi\t50\n";

static void test_lexicon_rime(void **state) {
    lex_units *u = units_ok(rime_units, NULL, NULL);
    lex_load_stats st;
    lex_lexicon *l = lexicon_ok(rime_dict, u, &st);
    assert_int_equal(lex_word_count(l), 6);
    assert_string_equal(lex_word(l, 0), "是");
    assert_int_equal(st.entries, 6);
    assert_int_equal(st.lines, 14);
    int32_t shi = node_of(l, u, "shi");
    const int32_t *w;
    const float *lp;
    assert_int_equal(lex_trie_group(l, shi, &w, &lp), 3);
    float v;
    double total = 300 + 100 + 0.5; /* weight 0 counts as 0.5; the repeat keeps 300 */
    assert_true(group_has(l, shi, "是", &v));
    assert_float_equal(v, log(300 / total), 1e-5);
    assert_true(group_has(l, shi, "时", &v));
    assert_float_equal(v, log(0.5 / total), 1e-5);
    assert_true(group_has(l, node_of(l, u, "ba ba"), "爸爸", &v));
    assert_float_equal(v, 0.0f, 1e-6);
    assert_true(group_has(l, node_of(l, u, "ma"), "吗", &v)); /* no weight: counts as 1 */
    assert_float_equal(v, log(1.0 / 4.0), 1e-5);
    assert_int_equal(node_of(l, u, "ba"), lex_trie_parent(l, node_of(l, u, "ba ba")));
    lex_lexicon_free(l);
    lex_units_free(u);
}

static void test_lexicon_skipped_units(void **state) {
    lex_units *u = units_ok(letters, NULL, NULL);
    lex_load_stats st;
    lex_lexicon *l = lexicon_ok("ab a b\nax a x |\nbx b xyz\nba b a\nax a\n", u, &st);
    assert_int_equal(st.lines, 5);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.skipped, 2);
    assert_int_equal(st.first_skipped_line, 2);
    assert_string_equal(st.first_skipped_unit, "x");
    /* a word whose only pronunciation is dropped is not in the vocabulary */
    assert_int_equal(lex_word_count(l), 3);
    assert_int_equal(lex_word_find(l, "bx", 2), -1);
    assert_int_equal(lex_word_find(l, "ax", 2), 2);
    lex_lexicon_free(l);
    l = lexicon_ok("", u, &st);
    assert_int_equal(lex_word_count(l), 0);
    assert_int_equal(lex_trie_node_count(l), 1);
    assert_int_equal(lex_trie_max_group(l), 0);
    lex_lexicon_free(l);
    lex_units_free(u);
}

/* A node with many children exercises the binary search. */
static void test_trie_wide_node(void **state) {
    char tokens[4096] = "<blank>\n", lex[8192] = "";
    for (int i = 0; i < 40; i++) {
        char line[64];
        snprintf(line, sizeof line, "u%d\n", i);
        strcat(tokens, line);
        if (i % 3 == 0) continue; /* some units never follow u0 */
        snprintf(line, sizeof line, "w%d u0 u%d\n", i, i);
        strcat(lex, line);
    }
    lex_units *u = units_ok(tokens, NULL, NULL);
    lex_lexicon *l = lexicon_ok(lex, u, NULL);
    int32_t u0 = lex_trie_child(l, 0, lex_units_find(u, "u0", 2));
    assert_int_equal(lex_trie_child_count(l, u0), 26);
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", i);
        int32_t c = lex_trie_child(l, u0, lex_units_find(u, name, strlen(name)));
        if (i % 3 == 0) {
            assert_int_equal(c, -1);
            continue;
        }
        snprintf(name, sizeof name, "w%d", i);
        assert_true(c > 0 && group_has(l, c, name, NULL));
    }
    int prev = -1;
    for (int i = 0; i < lex_trie_child_count(l, u0); i++) {
        int unit;
        lex_trie_child_at(l, u0, i, &unit);
        assert_true(unit > prev);
        prev = unit;
    }
    lex_lexicon_free(l);
    lex_units_free(u);
}

static void test_lookahead(void **state) {
    lex_units *u = units_ok(letters, NULL, NULL);
    lex_lexicon *l =
        lexicon_ok("ab 0.5 a b\nabc 1 a b c\nb 0.25 b\nba 1 b a\nab2 1 a b\nd 1 d\n", u, NULL);
    float ws[6];
    ws[lex_word_find(l, "ab", 2)] = -1.0f;
    ws[lex_word_find(l, "abc", 3)] = -3.0f;
    ws[lex_word_find(l, "b", 1)] = -0.5f;
    ws[lex_word_find(l, "ba", 2)] = -2.0f;
    ws[lex_word_find(l, "ab2", 3)] = -2.5f;
    ws[lex_word_find(l, "d", 1)] = -INFINITY;
    float score[16];
    assert_int_equal(lex_trie_node_count(l), 7);
    lex_lookahead(l, ws, score);
    float best_ab = -1.0f + logf(0.5f);
    assert_float_equal(score[node_of(l, u, "a b")], best_ab, 1e-6);
    assert_float_equal(score[node_of(l, u, "a b c")], -3.0f, 1e-6);
    assert_float_equal(score[node_of(l, u, "a")], best_ab, 1e-6);
    assert_float_equal(score[node_of(l, u, "b a")], -2.0f, 1e-6);
    assert_float_equal(score[node_of(l, u, "b")], -0.5f + logf(0.25f), 1e-6);
    assert_float_equal(score[0], best_ab, 1e-6);
    float dv = score[node_of(l, u, "d")];
    assert_true(isinf(dv) && dv < 0);
    ws[lex_word_find(l, "abc", 3)] = 1.5f;
    lex_lookahead(l, ws, score);
    assert_float_equal(score[node_of(l, u, "a b")], 1.5f, 1e-6);
    assert_float_equal(score[0], 1.5f, 1e-6);
    lex_lexicon_free(l);
    lex_units_free(u);
}

static void test_lexicon_errors(void **state) {
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"ab a b\nba b a\nc\n", "lex.txt:3: expected a word and at least one unit"},
        {"ab a b\nc |\n", "lex.txt:2: expected a word and at least one unit"},
        {"ab a b\n\xc3\x28 a\n", "lex.txt:2: expected a word in utf-8"},
        {"ab a b\nba b | a\n", "lex.txt:2: expected units, found the word delimiter '|'"},
        {"ab a <blank> b\n", "lex.txt:1: expected units, found the blank '<blank>'"},
        {"# head\n---\nname: x\n", "lex.txt:2: expected '...' to end the yaml header started here"},
        {"---\n...\n是 shi\n", "lex.txt:3: expected a word, a tab and its pinyin"},
        {"---\n...\n是\t\n", "lex.txt:3: expected a word, a tab and its pinyin"},
        {"---\n...\n\tshi\t1\n", "lex.txt:3: expected a word, a tab and its pinyin"},
        {"---\n...\n是\tshi\t1\n十\tshi\tmany\n", "lex.txt:4: expected a weight (a number from 0 to 3.4e38), found 'many'"},
        {"---\n...\n是\tshi\t-2\n", "lex.txt:3: expected a weight (a number from 0 to 3.4e38), found '-2'"},
        {"---\n...\n是\tshi\t3\n十\tshi\t1e80\n", "lex.txt:4: expected a weight (a number from 0 to 3.4e38), found '1e80'"},
        {"---\n...\n\xff\tshi\t2\n", "lex.txt:3: expected a word in utf-8"},
    };
    lex_units *u = units_ok("<blank>\n|\na\nb\nshi\n", NULL, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lex_lexicon *l = (lex_lexicon *)1;
        rd_error err;
        rd_status st = lex_lexicon_parse(cases[i].text, strlen(cases[i].text), "lex.txt", u, &l,
                                         NULL, &err);
        assert_int_equal(st, RD_ERR_INPUT);
        assert_null(l);
        assert_string_equal(err.msg, cases[i].msg);
    }
    lex_lexicon *l = NULL;
    rd_error err;
    assert_int_equal(lex_lexicon_load("/nonexistent/lex.txt", u, &l, NULL, &err), RD_ERR_IO);
    lex_units_free(u);
}

/* ---------- the real reference lexicons ---------- */

/* A tokens buffer "<blank>\n" + every distinct space-separated unit found in
 * the file, starting at field `first` of each line (after the YAML header
 * and taking the second tab field, when rime). */
static char *tokens_from_file(const char *path, int rime) {
    rd_text t;
    rd_error err;
    assert_int_equal(rd_text_read(path, &t, &err), RD_OK);
    size_t cap = 1 << 16, used = 0;
    char *out = malloc(cap);
    used = (size_t)sprintf(out, "<blank>\n");
    rd_line_iter it;
    rd_line_iter_init(&it, t.data, t.size);
    const char *line;
    size_t len;
    int in_data = !rime;
    while (rd_line_next(&it, &line, &len)) {
        if (!in_data) {
            in_data = len == 3 && memcmp(line, "...", 3) == 0;
            continue;
        }
        const char *s = line, *e = line + len;
        if (rime) {
            s = memchr(line, '\t', len);
            if (!s) continue;
            s++;
            const char *tab = memchr(s, '\t', (size_t)(e - s));
            if (tab) e = tab;
        } else {
            s = memchr(line, ' ', len);
            if (!s) continue;
        }
        const char *f[64];
        size_t fl[64];
        int k = rd_split_ws(s, (size_t)(e - s), f, fl, 64);
        for (int i = 0; i < k; i++) {
            char key[80];
            snprintf(key, sizeof key, "\n%.*s\n", (int)fl[i], f[i]);
            out[used] = '\0';
            if (strstr(out, key + 1) == out || strstr(out, key)) continue;
            if (used + fl[i] + 2 > cap) out = realloc(out, cap *= 2);
            used += (size_t)sprintf(out + used, "%s", key + 1);
        }
    }
    out[used] = '\0';
    rd_text_free(&t);
    return out;
}

static void test_real_cmudict(void **state) {
    char path[512];
    RD_DATA_OR_SKIP(path, "lexicon/cmudict-en-us.dict");
    char *tokens = tokens_from_file(path, 0);
    lex_units *u = units_ok(tokens, NULL, NULL);
    free(tokens);
    assert_int_equal(lex_units_delimiter(u), -1);
    lex_lexicon *l = NULL;
    lex_load_stats st;
    rd_error err;
    assert_int_equal(lex_lexicon_load(path, u, &l, &st, &err), RD_OK);
    assert_int_equal(st.lines, 134723);
    assert_int_equal(st.skipped, 0);
    int32_t there = node_of(l, u, "DH EH R");
    assert_true(there > 0);
    const int32_t *w;
    const float *lp;
    int n = lex_trie_group(l, there, &w, &lp);
    assert_int_equal(n, 3);
    assert_true(group_has(l, there, "their", NULL));
    assert_true(group_has(l, there, "there", NULL));
    assert_true(group_has(l, there, "they're", NULL));
    assert_true(w[0] != w[1] && w[1] != w[2] && w[0] != w[2]);
    assert_float_equal(lp[0], 0.0f, 0);
    assert_int_equal(lex_word_count(l), 125945); /* 134723 lines less the "(2)" alternates */
    lex_lexicon_free(l);
    lex_units_free(u);
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void check_word_list(const char *rel, int words) {
    char path[512], tok[512];
    RD_DATA_OR_SKIP(path, rel);
    RD_DATA_OR_SKIP(tok, "emissions/librispeech-121-121726-0000.wav2vec2.tokens.txt");
    lex_units *u = NULL;
    lex_lexicon *l = NULL;
    lex_load_stats st;
    rd_error err;
    assert_int_equal(lex_units_load(tok, NULL, NULL, &u, &err), RD_OK);
    double t0 = seconds();
    assert_int_equal(lex_lexicon_load(path, u, &l, &st, &err), RD_OK);
    fprintf(stderr, "%s: %d words, %d nodes, loaded in %.3f s\n", rel, lex_word_count(l),
            lex_trie_node_count(l), seconds() - t0);
    assert_int_equal(lex_word_count(l), words);
    assert_int_equal(st.entries, words);
    assert_int_equal(st.skipped, 0);
    assert_true(group_has(l, node_of(l, u, "t h e"), "the", NULL));
    assert_int_equal(node_of(l, u, "t h e |"), -1); /* the delimiter is not in the trie */
    lex_lexicon_free(l);
    lex_units_free(u);
}

static void test_real_librispeech_words(void **state) { check_word_list("lexicon/librispeech-words.lst", 26709); }

static void test_real_lm_vocab(void **state) { check_word_list("lexicon/librispeech-lm-vocab.lst", 200000); }

static void test_real_pinyin(void **state) {
    char path[512];
    RD_DATA_OR_SKIP(path, "lexicon/pinyin_simp.dict.yaml");
    char *tokens = tokens_from_file(path, 1);
    lex_units *u = units_ok(tokens, NULL, NULL);
    free(tokens);
    lex_lexicon *l = NULL;
    lex_load_stats st;
    rd_error err;
    assert_int_equal(lex_lexicon_load(path, u, &l, &st, &err), RD_OK);
    assert_int_equal(st.skipped, 0);
    assert_int_equal(st.lines, 65138);
    int32_t shi = node_of(l, u, "shi");
    const int32_t *w;
    const float *lp;
    int n = lex_trie_group(l, shi, &w, &lp);
    assert_int_equal(n, 145); /* distinct words with the pinyin "shi" */
    assert_int_equal(lex_word_count(l), 64423);
    assert_int_equal(st.entries, 65123);
    double total = 0;
    for (int i = 0; i < n; i++) total += exp(lp[i]);
    assert_float_equal(total, 1.0, 1e-4);
    assert_true(group_has(l, shi, "是", NULL));
    assert_true(group_has(l, node_of(l, u, "ba ba"), "爸爸", NULL));
    lex_lexicon_free(l);
    lex_units_free(u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units_shared_files),
        cmocka_unit_test(test_units_wav2vec2_names),
        cmocka_unit_test(test_units_auto_order),
        cmocka_unit_test(test_units_explicit_and_lines),
        cmocka_unit_test(test_units_icefall),
        cmocka_unit_test(test_units_as_published),
        cmocka_unit_test(test_lexicon_bom),
        cmocka_unit_test(test_units_errors),
        cmocka_unit_test(test_lexicon_plain),
        cmocka_unit_test(test_lexicon_flashlight),
        cmocka_unit_test(test_lexicon_cmudict),
        cmocka_unit_test(test_lexicon_lexiconp),
        cmocka_unit_test(test_lexicon_rime),
        cmocka_unit_test(test_lexicon_skipped_units),
        cmocka_unit_test(test_trie_wide_node),
        cmocka_unit_test(test_lookahead),
        cmocka_unit_test(test_lexicon_errors),
        cmocka_unit_test(test_real_cmudict),
        cmocka_unit_test(test_real_librispeech_words),
        cmocka_unit_test(test_real_lm_vocab),
        cmocka_unit_test(test_real_pinyin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
