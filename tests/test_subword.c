/* tests/test_subword.c - SentencePiece/BPE units (issue 13 item 1).
 *
 * Lexicon-free, pieces like "▁the ▁ca t" must decode to words split where a
 * ▁-initial piece starts (a lone ▁ is a piece of empty text), each word
 * LM-scored whole: an exhaustive beam must find exactly the best reading of
 * a brute-force enumeration of every CTC alignment, with a toy LM that would
 * score pieces differently from words. Real pieces: data/subword/ (made by
 * data/make_sp_fixture.py with PyPI sentencepiece) decode to the sentences,
 * with the word timings the fixture was built with, lexicon-free and with a
 * lexicon spelled in pieces, and the LM term is the ARPA's sum over the
 * sentence's words. */
#include "tests/testutil.h"
#include "tests/testdecode.h"

#include <math.h>

#include "common/npy.h"
#include "decoder/decoder.h"
#include "decoder/emissions.h"
#include "lexicon/lexicon.h"
#include "lexicon/units.h"
#include "lmstate/lm.h"

#define MARK "\xe2\x96\x81" /* ▁ */
#define FIX "data/subword/"

/* ---------- a bigram LM over word texts (ids by hash; tests/testdecode.h) ---------- */

static int hlm_saw_piece; /* a text with ▁, or an empty word, reached the LM */

static int32_t hlm_id(const char *t, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)t[i]) * 16777619u;
    return 2 + (int32_t)(h % 97); /* 0 <s>, 1 </s> */
}

static int32_t hlm_word(const char *t, size_t len) {
    if (len == 0 || memmem(t, len, MARK, 3)) hlm_saw_piece = 1;
    return hlm_id(t, len);
}
static bool hlm_known(int32_t w) { return w % 3 != 0; }

static const test_lm hash_lm = {hlm_word, hlm_known, 0};

/* ---------- brute force over every alignment ---------- */

#define MAXT 6
#define MAXREAD 8192

typedef struct reading {
    char text[64]; /* words joined by spaces */
    double ac;     /* log-sum of its alignments' probabilities */
} reading;

static reading readings[MAXREAD];
static int n_readings;

/* The words of a collapsed piece sequence, SentencePiece style: a ▁-initial
 * piece starts a word unless the word so far has no text. */
static void words_of(const lex_units *u, const int *seq, int n, char *out) {
    char word[64] = "";
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (lex_units_word_start(u, seq[i]) && word[0]) {
            if (out[0]) strcat(out, " ");
            strcat(out, word);
            word[0] = '\0';
        }
        strcat(word, lex_units_text(u, seq[i]));
    }
    if (word[0]) {
        if (out[0]) strcat(out, " ");
        strcat(out, word);
    }
}

static void add_reading(const char *text, double ac) {
    for (int i = 0; i < n_readings; i++)
        if (strcmp(readings[i].text, text) == 0) {
            readings[i].ac = test_log_add(readings[i].ac, ac);
            return;
        }
    assert_true(n_readings < MAXREAD);
    snprintf(readings[n_readings].text, sizeof readings[n_readings].text, "%s", text);
    readings[n_readings++].ac = ac;
}

typedef struct bf_opts {
    int use_lm;
    float lmw, ws, unk;
} bf_opts;

/* Best total over every reading; its text into best. */
static double brute_force(const lex_units *u, const float *lp, int T, const bf_opts *o, char *best) {
    int V = lex_units_count(u), blank = lex_units_blank(u);
    long total = 1;
    for (int t = 0; t < T; t++) total *= V;
    n_readings = 0;
    for (long k = 0; k < total; k++) {
        long x = k;
        double ac = 0;
        int seq[MAXT], n = 0, prev = -1;
        for (int t = 0; t < T; t++) {
            int a = (int)(x % V);
            x /= V;
            ac += lp[t * V + a];
            if (a != prev && a != blank) seq[n++] = a;
            prev = a;
        }
        char text[64];
        words_of(u, seq, n, text);
        add_reading(text, ac);
    }
    double bs = -INFINITY;
    for (int i = 0; i < n_readings; i++) {
        int nw, nu;
        double lm = test_lm_sentence(&hash_lm, readings[i].text, &nw, &nu);
        double s = readings[i].ac + o->ws * nw + (o->use_lm ? o->lmw * lm + o->unk * nu : 0);
        if (s > bs + 1e-9) {
            bs = s;
            strcpy(best, readings[i].text);
        }
    }
    return bs;
}

/* ---------- unit tables ---------- */

static const char tok_pieces[] = "<blank>\n" MARK "\n" MARK "a\n" MARK "b\na\nb\n";

/* A table of pieces is SentencePiece by itself: a lone ▁ is then a piece,
 * not the delimiter, and a piece's text drops its mark. A character table
 * with ▁ as its delimiter stays as it was. */
static void test_unit_type_detection(void **state) {
    lex_units *u = make_units(tok_pieces);
    assert_int_equal(lex_units_type(u), LEX_UNITS_SENTENCEPIECE);
    assert_int_equal(lex_units_delimiter(u), -1);
    assert_string_equal(lex_units_text(u, 2), "a");
    assert_string_equal(lex_units_text(u, 1), "");
    assert_string_equal(lex_units_text(u, 4), "a");
    assert_true(lex_units_word_start(u, 1) && lex_units_word_start(u, 2));
    assert_false(lex_units_word_start(u, 4) || lex_units_word_start(u, 0));
    lex_units_free(u);

    static const char chars[] = "<blank>\n" MARK "\na\nb\nc\n";
    u = make_units(chars);
    assert_int_equal(lex_units_type(u), LEX_UNITS_CHAR);
    assert_int_equal(lex_units_delimiter(u), 1);
    assert_false(lex_units_word_start(u, 2));
    lex_units_free(u);

    /* given types win; a given delimiter is honoured in SentencePiece mode */
    rd_error err;
    assert_int_equal(lex_units_parse_ex(tok_pieces, strlen(tok_pieces), "t", NULL, NULL, LEX_UNITS_CHAR, &u, &err),
                     RD_OK);
    assert_int_equal(lex_units_delimiter(u), 1);
    assert_string_equal(lex_units_text(u, 2), MARK "a");
    lex_units_free(u);
    static const char bar[] = "<blank>\n|\nx\ny\n";
    assert_int_equal(lex_units_parse_ex(bar, strlen(bar), "t", NULL, NULL, LEX_UNITS_SENTENCEPIECE, &u, &err), RD_OK);
    assert_int_equal(lex_units_type(u), LEX_UNITS_SENTENCEPIECE);
    assert_int_equal(lex_units_delimiter(u), 1);
    lex_units_free(u);
    /* one piece in many units is not a SentencePiece table */
    static const char one[] = "<blank>\n|\n" MARK "x\na\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
    u = make_units(one);
    assert_int_equal(lex_units_type(u), LEX_UNITS_CHAR);
    lex_units_free(u);
}

/* ---------- exhaustive search against brute force ---------- */

static void run_exhaustive(unsigned seed, int use_lm) {
    lex_units *u = make_units(tok_pieces);
    int V = lex_units_count(u), T = MAXT;
    float lp[MAXT * 6];
    random_logprobs(lp, T, V, seed);
    lm_model lm = {.ops = &test_lm_ops, .impl = (void *)&hash_lm, .description = "hash"};
    dec_options o;
    dec_options_default(&o);
    o.beam = 20000;
    o.beam_threshold = 1e9f;
    o.nbest = 6;
    o.word_score = 0.3f;
    o.lm_weight = use_lm ? 0.7f : 0.0f;
    o.unk_score = -1.5f;
    bf_opts b = {use_lm, o.lm_weight, o.word_score, o.unk_score};
    char want[64];
    double best = brute_force(u, lp, T, &b, want);
    dec_decoder *d = NULL;
    rd_error err;
    hlm_saw_piece = 0;
    assert_int_equal(dec_create(&o, u, NULL, use_lm ? &lm : NULL, &d, &err), RD_OK);
    assert_int_equal(dec_decode(d, lp, T, &err), RD_OK);
    const dec_hyp *h = dec_nbest(d, 0);
    if (fabs(h->score - best) > 1e-4 || strcmp(h->text, want) != 0)
        fprintf(stderr, "seed %u: decoder '%s' %.6f, brute force '%s' %.6f\n", seed, h->text, (double)h->score, want,
                best);
    assert_string_equal(h->text, want);
    assert_float_equal(h->score, best, 1e-4);
    for (int i = 0; i < dec_nbest_count(d); i++) { /* words, never pieces; one entry per text */
        const dec_hyp *x = dec_nbest(d, i);
        assert_null(strstr(x->text, MARK));
        for (int j = 0; j < x->n_words; j++) assert_true(x->words[j].text[0] && !strstr(x->words[j].text, MARK));
        for (int j = 0; j < i; j++) assert_string_not_equal(x->text, dec_nbest(d, j)->text);
    }
    assert_int_equal(hlm_saw_piece, 0);
    dec_free(d);
    lex_units_free(u);
}

static void test_exhaustive_pieces_lm(void **state) {
    for (unsigned s = 1; s <= 10; s++) run_exhaustive(s, 1);
}

static void test_exhaustive_pieces_no_lm(void **state) {
    for (unsigned s = 30; s <= 34; s++) run_exhaustive(s, 0);
}

/* ---------- real SentencePiece pieces (data/subword/) ---------- */

typedef struct fixture {
    lex_units *u;
    lex_lexicon *lex;
    lm_model *lm;
    rd_npy x;
    char words[16][32];
    int start[16], end[16], n_words;
    char text[256];
} fixture;

static void fixture_load(fixture *f, const char *name, int with_lexicon, int with_lm) {
    rd_error err;
    char path[256];
    memset(f, 0, sizeof *f);
    assert_int_equal(lex_units_load(FIX "tokens.txt", NULL, NULL, &f->u, &err), RD_OK);
    assert_int_equal(lex_units_type(f->u), LEX_UNITS_SENTENCEPIECE);
    if (with_lexicon) {
        lex_load_stats stats;
        memset(&stats, 0, sizeof stats);
        assert_int_equal(lex_lexicon_load(FIX "lexicon.txt", f->u, &f->lex, &stats, &err), RD_OK);
        assert_int_equal(stats.skipped, 0);
    }
    if (with_lm) assert_int_equal(lm_load(FIX "lm.arpa", NULL, &f->lm, &err), RD_OK);
    snprintf(path, sizeof path, FIX "%s.npy", name);
    assert_int_equal(rd_npy_read(path, &f->x, &err), RD_OK);
    assert_int_equal(f->x.shape[1], lex_units_count(f->u));
    snprintf(path, sizeof path, FIX "%s.words.txt", name);
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    size_t len = 0;
    while (f->n_words < 16 &&
           fscanf(in, "%31s %d %d", f->words[f->n_words], &f->start[f->n_words], &f->end[f->n_words]) == 3) {
        len += (size_t)snprintf(f->text + len, sizeof f->text - len, "%s%s", f->n_words ? " " : "",
                                f->words[f->n_words]);
        f->n_words++;
    }
    fclose(in);
    assert_true(f->n_words >= 6);
}

static void fixture_free(fixture *f) {
    rd_npy_free(&f->x);
    lm_free(f->lm);
    lex_lexicon_free(f->lex);
    lex_units_free(f->u);
}

/* ln p(text's words, </s>) by the ARPA model, fed word by word. */
static double arpa_sentence(lm_model *m, const char *text) {
    lm_cache *c;
    rd_error err;
    assert_int_equal(lm_cache_create(m, 2, &c, &err), RD_OK);
    int32_t slot = 0;
    assert_int_equal(lm_start(c, &slot, 1, &err), RD_OK);
    double sum = 0;
    int32_t at = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, " ");
        int32_t w = lm_word(c, p, len), child = 1 - at;
        float s;
        assert_int_equal(lm_score_words(c, &at, &w, &child, 1, &s, &err), RD_OK);
        sum += s;
        at = child;
        p += len + (p[len] == ' ');
    }
    float s;
    assert_int_equal(lm_finish(c, &at, 1, &s, &err), RD_OK);
    lm_cache_free(c);
    return sum + s;
}

static const dec_hyp *fixture_decode(fixture *f, dec_decoder **d, int nbest) {
    dec_options o;
    dec_options_default(&o);
    o.lm_weight = f->lm ? 0.5f : 0.0f;
    o.word_score = 0.5f;
    o.unk_score = f->lex ? -INFINITY : -10.0f; /* pyctcdecode's unk_score_offset */
    o.nbest = nbest;
    rd_error err;
    assert_int_equal(dec_create(&o, f->u, f->lex, f->lm, d, &err), RD_OK);
    assert_int_equal(dec_decode(*d, f->x.data, (int)f->x.shape[0], &err), RD_OK);
    const dec_hyp *h = dec_nbest(*d, 0);
    assert_non_null(h);
    return h;
}

/* The sentence's words, each from its first piece's first frame to its
 * last piece's last frame; with an LM, score = acoustic + 0.5 * the ARPA's
 * sum over the words and </s> + 0.5 per word: the LM saw whole words. */
static void check_fixture(const char *name, int with_lexicon, int with_lm) {
    fixture f;
    fixture_load(&f, name, with_lexicon, with_lm);
    dec_decoder *d;
    const dec_hyp *h = fixture_decode(&f, &d, 4);
    assert_string_equal(h->text, f.text);
    assert_int_equal(h->n_words, f.n_words);
    for (int i = 0; i < f.n_words; i++) {
        assert_string_equal(h->words[i].text, f.words[i]);
        if (h->words[i].start != f.start[i] || h->words[i].end != f.end[i])
            fprintf(stderr, "%s lexicon %d lm %d: '%s' %d-%d, expected %d-%d\n", name, with_lexicon, with_lm,
                    f.words[i], h->words[i].start, h->words[i].end, f.start[i], f.end[i]);
        assert_int_equal(h->words[i].start, f.start[i]);
        assert_int_equal(h->words[i].end, f.end[i]);
        assert_int_equal(h->words[i].lexicon_id, with_lexicon ? lex_word_find(f.lex, f.words[i], strlen(f.words[i])) : -1);
    }
    if (with_lm) {
        double lm = arpa_sentence(f.lm, f.text);
        assert_float_equal(h->lm, lm, 1e-3);
        assert_float_equal(h->score, h->acoustic + 0.5 * lm + 0.5 * f.n_words, 1e-3);
        assert_int_equal(h->n_unk, 0);
    }
    for (int i = 0; i < dec_nbest_count(d); i++) {
        const dec_hyp *x = dec_nbest(d, i);
        assert_null(strstr(x->text, MARK));
        for (int j = 0; j < i; j++) assert_string_not_equal(x->text, dec_nbest(d, j)->text);
    }
    dec_free(d);
    fixture_free(&f);
}

static void test_fixture_lexicon_free(void **state) {
    for (int lm = 0; lm < 2; lm++) {
        check_fixture("cat", 0, lm);
        check_fixture("zebra", 0, lm); /* quick = "▁ q u ic k": a lone ▁ opens it */
    }
}

/* A lexicon spelled in pieces (lexicon/spell_lexicon.py) gives the same words
 * and timings. With an LM, "cat" (▁c at, a blank after it) ended one frame
 * late: the parent node's end moved on while "the cat" lived on as its own
 * hypothesis after "▁s" branched off it. */
static void test_fixture_lexicon(void **state) {
    for (int lm = 0; lm < 2; lm++) {
        check_fixture("cat", 1, lm);
        check_fixture("zebra", 1, lm);
    }
}

/* pyctcdecode's partial-word penalty: at LM weight 0.8 the ARPA makes every
 * word cost more than the pieces that glue the sentence into one unknown
 * word ("the catoratouentninglyperat", paying --unk-score once at its end);
 * charging --unk-score while the word in progress begins no LM word keeps
 * the words. The penalty is gone once words complete: the score is still
 * acoustic + weight * LM. */
static void test_partial_word_penalty(void **state) {
    static const char *const names[] = {"cat", "zebra"};
    for (int i = 0; i < 2; i++) {
        fixture f;
        fixture_load(&f, names[i], 0, 1);
        dec_options o;
        dec_options_default(&o);
        o.lm_weight = 0.8f;
        o.unk_score = -10.0f;
        dec_decoder *d;
        rd_error err;
        assert_int_equal(dec_create(&o, f.u, NULL, f.lm, &d, &err), RD_OK);
        assert_int_equal(dec_decode(d, f.x.data, (int)f.x.shape[0], &err), RD_OK);
        const dec_hyp *h = dec_nbest(d, 0);
        assert_string_equal(h->text, f.text);
        assert_int_equal(h->n_unk, 0);
        assert_float_equal(h->score, h->acoustic + 0.8 * arpa_sentence(f.lm, f.text), 1e-3);
        dec_free(d);
        fixture_free(&f);
    }
}

/* A pronunciation with a piece the tokens lack is skipped, counted, and
 * named by its line and piece. */
static void test_lexicon_missing_piece(void **state) {
    lex_units *u;
    rd_error err;
    assert_int_equal(lex_units_load(FIX "tokens.txt", NULL, NULL, &u, &err), RD_OK);
    static const char text[] = "the\t" MARK "the\ncat\t" MARK "ca t\nquick\t" MARK " q u ic k\n";
    lex_lexicon *l;
    lex_load_stats stats;
    memset(&stats, 0, sizeof stats);
    assert_int_equal(lex_lexicon_parse(text, strlen(text), "pieces.lex", u, &l, &stats, &err), RD_OK);
    assert_int_equal(stats.entries, 2);
    assert_int_equal(stats.skipped, 1);
    assert_int_equal(stats.first_skipped_line, 2);
    assert_string_equal(stats.first_skipped_unit, MARK "ca");
    assert_true(lex_word_find(l, "quick", 5) >= 0); /* a lone ▁ is a unit of its spelling */
    lex_lexicon_free(l);
    lex_units_free(u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unit_type_detection),
        cmocka_unit_test(test_exhaustive_pieces_lm),
        cmocka_unit_test(test_exhaustive_pieces_no_lm),
        cmocka_unit_test(test_fixture_lexicon_free),
        cmocka_unit_test(test_fixture_lexicon),
        cmocka_unit_test(test_partial_word_penalty),
        cmocka_unit_test(test_lexicon_missing_piece),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
