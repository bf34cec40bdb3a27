/* tests/test_decoder.c - the CTC prefix beam search against brute force.
 *
 * On tiny random inputs, an exhaustive beam must find exactly the best
 * hypothesis of a brute-force enumeration of every CTC alignment, parsed into
 * every lexicon word sequence (homophones included) and scored with the same
 * LM. A small bigram LM plugged in through lm_impl.h keeps the test
 * independent of the ARPA reader. */
#include "tests/testutil.h"
#include "tests/testdecode.h"

#include <math.h>

#include "decoder/decoder.h"
#include "decoder/emissions.h"
#include "lexicon/lexicon.h"
#include "lexicon/units.h"
#include "lmstate/lm.h"
#include "lmstate/rwkv/lm_rwkv.h"

/* ---------- a bigram table LM (tests/testdecode.h) ---------- */

#define TLM_WORDS 8
static const char *const tlm_vocab[TLM_WORDS] = {"<s>", "</s>", "ab", "AB", "ba", "a", "b", "bab"};

static int32_t tlm_find(const char *t, size_t len) {
    for (int i = 0; i < TLM_WORDS; i++)
        if (strlen(tlm_vocab[i]) == len && memcmp(tlm_vocab[i], t, len) == 0) return i;
    return 6; /* unknown words score like "b" */
}

static bool tlm_known(int32_t w) { return w != 6; }

/* The table LM with each of test_lm_bigram's tables (2 and 3 broken). */
static const test_lm table_lm[4] = {{tlm_find, tlm_known, 0}, {tlm_find, tlm_known, 1}, {tlm_find, tlm_known, 2},
                                    {tlm_find, tlm_known, 3}};

/* An lm_model of table_lm[table], described "table" ("table 1" for table 1). */
static lm_model table_model(int table) {
    lm_model m = {.ops = &test_lm_ops, .impl = (void *)&table_lm[table]};
    snprintf(m.description, sizeof m.description, "%s", table == 1 ? "table 1" : "table");
    return m;
}

/* The table LM's score_words_floor: gives up every word below its floor (as
 * lm_score_words_floor allows: score -inf, child undefined); tlm_gave_up
 * counts them. */
static int tlm_gave_up;
static rd_status tlm_score_floor(void *p, const int32_t *parent, const int32_t *word, const int32_t *child, int n,
                                 const float *floor, float *score, rd_error *err) {
    RD_TRY(test_lm_score(p, parent, word, child, n, score, err));
    for (int i = 0; i < n; i++)
        if (score[i] < floor[i]) {
            score[i] = -INFINITY;
            tlm_gave_up++;
        }
    return RD_OK;
}

/* ---------- brute force ---------- */

#define MAXT 8
#define MAXSEQ 64

typedef struct seq_entry {
    int len;
    int u[MAXT];
    double logp;
} seq_entry;

/* One word sequence and the log-sum of its readings' probabilities. */
typedef struct word_seq {
    int n;
    int32_t w[MAXT + 1];
    double ac;
} word_seq;

typedef struct bf {
    const lex_units *units;
    const lex_lexicon *lex;
    int use_lm;
    float lmw, ws;
    int blank, delim;
    double best;
    char best_text[256];
    float mix_a, mix_b; /* mix_b != 0: the LM is mix_a * table 0 + mix_b * table 1 */
} bf;

/* Collapses an alignment (repeats, then blanks), drops leading delimiters
 * and runs of delimiters, as the decoder's prefix identity does. */
static int normalize(const int *al, int T, int blank, int delim, int *out) {
    int n = 0, prev = -1;
    for (int t = 0; t < T; t++) {
        int u = al[t];
        if (u != prev && u != blank) {
            if (u == delim && (n == 0 || out[n - 1] == delim)) { prev = u; continue; }
            out[n++] = u;
        }
        prev = u;
    }
    return n;
}

/* ln p of words[0..n) and </s> under table_lm[variant]. */
static double table_lm_of(const lex_lexicon *lex, int variant, const int32_t *words, int n) {
    char text[256] = "";
    for (int i = 0; i < n; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", i ? " " : "", lex_word(lex, words[i]));
    int nw, nu;
    return test_lm_sentence(&table_lm[variant], text, &nw, &nu);
}

static double lm_of(const bf *b, const int32_t *words, int n) {
    if (!b->use_lm) return 0;
    if (b->mix_b != 0)
        return b->mix_a * table_lm_of(b->lex, 0, words, n) + b->mix_b * table_lm_of(b->lex, 1, words, n);
    return table_lm_of(b->lex, 0, words, n);
}

static int32_t node_of(const lex_lexicon *lex, const int *u, int n) {
    int32_t node = 0;
    for (int i = 0; i < n && node >= 0; i++) node = lex_trie_child(lex, node, u[i]);
    return node;
}

/* Readings with the same words are one result whose probability is their
 * sum (a word closed by a final delimiter and the same word closed by the
 * utterance's end: "ab|" and "ab"), as in flashlight-text. */
static word_seq seen_words[20000];
static int n_seen_words;

static void consider(bf *b, double ac, const int32_t *words, int nw) {
    for (int i = 0; i < n_seen_words; i++)
        if (seen_words[i].n == nw && memcmp(seen_words[i].w, words, (size_t)nw * sizeof *words) == 0) {
            seen_words[i].ac = test_log_add(seen_words[i].ac, ac);
            return;
        }
    assert_true(n_seen_words < (int)(sizeof seen_words / sizeof *seen_words));
    word_seq *e = &seen_words[n_seen_words++];
    e->n = nw;
    memcpy(e->w, words, (size_t)nw * sizeof *words);
    e->ac = ac;
}

static void consider_sum(bf *b, double ac, const int32_t *words, int nw) {
    double s = ac + b->lmw * lm_of(b, words, nw) + b->ws * nw;
    if (s > b->best + 1e-9) {
        b->best = s;
        b->best_text[0] = '\0';
        for (int i = 0; i < nw; i++) {
            if (i) strcat(b->best_text, " ");
            strcat(b->best_text, lex_word(b->lex, words[i]));
        }
    }
}

/* Every way to read seq[pos..n) as words (delimiter mode: segments between
 * delimiters; leaf mode: any segmentation into pronunciations). */
static void parse(bf *b, const int *seq, int n, int pos, double ac, int32_t *words, int nw) {
    if (pos == n) {
        consider(b, ac, words, nw);
        return;
    }
    if (b->delim >= 0) {
        int e = pos;
        while (e < n && seq[e] != b->delim) e++;
        int32_t node = node_of(b->lex, seq + pos, e - pos);
        if (node <= 0) return;
        const int32_t *g;
        const float *lp;
        int gn = lex_trie_group(b->lex, node, &g, &lp);
        for (int i = 0; i < gn; i++) {
            words[nw] = g[i];
            parse(b, seq, n, e < n ? e + 1 : e, ac, words, nw + 1);
        }
        return;
    }
    for (int e = pos + 1; e <= n; e++) {
        int32_t node = node_of(b->lex, seq + pos, e - pos);
        if (node < 0) break;
        const int32_t *g;
        const float *lp;
        int gn = lex_trie_group(b->lex, node, &g, &lp);
        for (int i = 0; i < gn; i++) {
            words[nw] = g[i];
            parse(b, seq, n, e, ac, words, nw + 1);
        }
    }
}

static void brute_force(bf *b, const float *lp, int T, int V) {
    static seq_entry seqs[20000];
    int ns = 0;
    int al[MAXT] = {0};
    long total = 1;
    for (int t = 0; t < T; t++) total *= V;
    for (long k = 0; k < total; k++) {
        long x = k;
        double s = 0;
        for (int t = 0; t < T; t++) {
            al[t] = (int)(x % V);
            x /= V;
            s += lp[t * V + al[t]];
        }
        int u[MAXT];
        int n = normalize(al, T, b->blank, b->delim, u);
        int found = -1;
        for (int i = 0; i < ns && found < 0; i++)
            if (seqs[i].len == n && memcmp(seqs[i].u, u, (size_t)n * sizeof(int)) == 0) found = i;
        if (found < 0) {
            found = ns++;
            seqs[found].len = n;
            memcpy(seqs[found].u, u, (size_t)n * sizeof(int));
            seqs[found].logp = -INFINITY;
        }
        seqs[found].logp = test_log_add(seqs[found].logp, s);
    }
    b->best = -INFINITY;
    b->best_text[0] = '\0';
    int32_t words[MAXT + 1];
    n_seen_words = 0;
    for (int i = 0; i < ns; i++) parse(b, seqs[i].u, seqs[i].len, 0, seqs[i].logp, words, 0);
    for (int i = 0; i < n_seen_words; i++) consider_sum(b, seen_words[i].ac, seen_words[i].w, seen_words[i].n);
}

/* ---------- fixtures ---------- */

static lex_lexicon *make_lexicon(const char *text, const lex_units *u) {
    lex_lexicon *l = NULL;
    rd_error err;
    rd_status st = lex_lexicon_parse(text, strlen(text), "lex", u, &l, NULL, &err);
    if (st != RD_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, RD_OK);
    return l;
}

/* Peaky emissions: in frame t, unit path[t] has probability p and every
 * other unit other; lp gets T frames of V natural-log probabilities. */
static void peaky_logprobs(float *lp, const int *path, int T, int V, float p, float other) {
    for (int t = 0; t < T; t++)
        for (int v = 0; v < V; v++) lp[t * V + v] = logf(v == path[t] ? p : other);
}

/* dec_create (which must succeed) with o, u, l and lm, then dec_decode of T
 * frames of lp, which must succeed (error NULL) or fail with RD_ERR_INPUT
 * saying error. Returns the decoder, for the caller to free. */
static dec_decoder *decode(const dec_options *o, const lex_units *u, const lex_lexicon *l, lm_model *lm,
                           const float *lp, int T, const char *error) {
    dec_decoder *d = NULL;
    rd_error err;
    assert_int_equal(dec_create(o, u, l, lm, &d, &err), RD_OK);
    assert_int_equal(dec_decode(d, lp, T, &err), error ? RD_ERR_INPUT : RD_OK);
    if (error) assert_non_null(strstr(err.msg, error));
    return d;
}

/* mix_b != 0: the LM is lm_mix of toy tables 0 and 1 with weights mix_a,
 * mix_b (and the search's lm_weight 1). */
static void run_case_mix(const char *tokens, const char *lexicon, int use_lm, unsigned seed, int T, float mix_a,
                         float mix_b) {
    lex_units *u = make_units(tokens);
    lex_lexicon *l = make_lexicon(lexicon, u);
    int V = lex_units_count(u);
    float lp[MAXT * 8];
    random_logprobs(lp, T, V, seed);
    lm_model lm = table_model(0), lm1 = table_model(1);
    lm_model *parts[2] = {&lm, &lm1}, *mix = NULL;
    float weights[2] = {mix_a, mix_b};
    rd_error err;
    if (mix_b != 0) assert_int_equal(lm_mix(parts, weights, 2, &mix, &err), RD_OK);
    dec_options o;
    dec_options_default(&o);
    o.beam = 20000;
    o.beam_threshold = 1e9f;
    o.lm_weight = !use_lm ? 0.0f : mix ? 1.0f : 0.7f;
    o.nbest = 8;
    o.word_score = 0.3f;
    dec_decoder *d = NULL;
    d = decode(&o, u, l, !use_lm ? NULL : mix ? mix : &lm, lp, T, NULL);
    bf b = {u, l, use_lm, o.lm_weight, o.word_score, lex_units_blank(u), lex_units_delimiter(u), 0, "", mix_a, mix_b};
    brute_force(&b, lp, T, V);
    const dec_hyp *h = dec_nbest(d, 0);
    assert_non_null(h);
    for (int i = 0; i < dec_nbest_count(d); i++) /* one entry per text */
        for (int j = 0; j < i; j++) assert_string_not_equal(dec_nbest(d, i)->text, dec_nbest(d, j)->text);
    if (fabs(h->score - b.best) > 1e-4 || strcmp(h->text, b.best_text) != 0)
        fprintf(stderr, "seed %u: decoder '%s' %.6f, brute force '%s' %.6f\n", seed, h->text,
                (double)h->score, b.best_text, b.best);
    assert_float_equal(h->score, b.best, 1e-4);
    assert_string_equal(h->text, b.best_text);
    if (mix) { /* its lm: the weighted sum of each table alone over its words */
        int32_t ids[MAXT + 1];
        for (int j = 0; j < h->n_words; j++) ids[j] = h->words[j].lexicon_id;
        double want = mix_a * table_lm_of(l, 0, ids, h->n_words) + mix_b * table_lm_of(l, 1, ids, h->n_words);
        assert_float_equal(h->lm, want, 1e-4);
    }
    dec_free(d);
    lm_free(mix);
    lex_lexicon_free(l);
    lex_units_free(u);
}

static void run_case(const char *tokens, const char *lexicon, int use_lm, unsigned seed, int T) {
    run_case_mix(tokens, lexicon, use_lm, seed, T, 0.0f, 0.0f);
}

static const char tok_delim[] = "<blank>\n|\na\nb\n";
static const char lex_delim[] = "ab a b\nAB a b\nba b a\na a\nb b\nbab b a b\n";
static const char tok_leaf[] = "<blank>\na\nb\n";

static void test_exhaustive_delimiter_lm(void **state) {
    for (unsigned s = 1; s <= 12; s++) run_case(tok_delim, lex_delim, 1, s, 7);
}

static void test_exhaustive_delimiter_no_lm(void **state) {
    for (unsigned s = 20; s <= 26; s++) run_case(tok_delim, lex_delim, 0, s, 7);
}

static void test_exhaustive_leaf_mode(void **state) {
    for (unsigned s = 40; s <= 49; s++) run_case(tok_leaf, lex_delim, 1, s, 7);
}

/* A word with two pronunciations is one result, its probability the sum of
 * both readings' (the brute force sums by words): the final merge used to
 * compare unit sequences, giving two entries for "ab" each with part of it. */
static void test_exhaustive_alternates(void **state) {
    static const char lex_alt[] = "ab a b\nab b a b\nba b a\na a\nb b\nab a b a\n";
    for (unsigned s = 80; s <= 87; s++) run_case(tok_leaf, lex_alt, 1, s, 7);
    for (unsigned s = 90; s <= 95; s++) run_case(tok_delim, lex_alt, 1, s, 7);
}

/* Two LMs at once (lm_mix): the exhaustive beam finds the brute force's best
 * under wA * table 0 + wB * table 1, in both modes, and its lm is that
 * weighted sum of each table alone over its words. */
static void test_exhaustive_two_lms(void **state) {
    for (unsigned s = 60; s <= 67; s++) run_case_mix(tok_delim, lex_delim, 1, s, 7, 0.6f, 0.9f);
    for (unsigned s = 70; s <= 75; s++) run_case_mix(tok_leaf, lex_delim, 1, s, 7, 1.3f, -0.4f);
}

/* The decoder passes each word its beam cut as a floor: an LM that gives up
 * every word below it (tlm_score_floor) decodes exactly as one that scores
 * everything, with pruning active (small beam and threshold), one table or a
 * mix of two; and it did give words up. */
static void test_lm_floors_keep_results(void **state) {
    lex_units *u = make_units(tok_delim);
    lex_lexicon *l = make_lexicon(lex_delim, u);
    int V = lex_units_count(u), T = 8;
    float lp[MAXT * 8];
    lm_ops floor_ops = test_lm_ops;
    floor_ops.score_words_floor = tlm_score_floor;
    tlm_gave_up = 0;
    for (unsigned seed = 200; seed < 230; seed++) {
        random_logprobs(lp, T, V, seed);
        dec_options o;
        dec_options_default(&o);
        o.beam = 2 + (int)(seed % 3);
        o.beam_threshold = 2.0f + (float)(seed % 4);
        o.nbest = 4;
        o.word_score = 0.3f;
        int mixed = seed % 2;
        o.lm_weight = mixed ? 1.0f : 0.7f;
        const dec_hyp *got[2][4];
        int count[2];
        dec_decoder *d[2];
        lm_model *mix[2] = {NULL, NULL};
        lm_model t0[2] = {table_model(0), table_model(0)}, t1[2] = {table_model(1), table_model(1)};
        t0[1].ops = t1[1].ops = &floor_ops;
        rd_error err;
        for (int k = 0; k < 2; k++) {
            lm_model *parts[2] = {&t0[k], &t1[k]};
            float wts[2] = {0.6f, 0.9f};
            if (mixed) assert_int_equal(lm_mix(parts, wts, 2, &mix[k], &err), RD_OK);
            d[k] = decode(&o, u, l, mixed ? mix[k] : &t0[k], lp, T, NULL);
            count[k] = dec_nbest_count(d[k]);
            for (int i = 0; i < count[k] && i < 4; i++) got[k][i] = dec_nbest(d[k], i);
        }
        assert_int_equal(count[0], count[1]);
        for (int i = 0; i < count[0] && i < 4; i++) {
            assert_string_equal(got[0][i]->text, got[1][i]->text);
            assert_true(got[0][i]->score == got[1][i]->score);
            assert_true(got[0][i]->lm == got[1][i]->lm);
        }
        for (int k = 0; k < 2; k++) {
            dec_free(d[k]);
            lm_free(mix[k]);
        }
    }
    assert_true(tlm_gave_up > 0);
    lex_lexicon_free(l);
    lex_units_free(u);
}

/* Peaky emissions spelling "ab ba" must decode to it; the homophone AB of
 * ab wins only when the LM prefers it. */
static void test_homophone_choice_follows_lm(void **state) {
    lex_units *u = make_units(tok_delim);
    lex_lexicon *l = make_lexicon(lex_delim, u);
    int path[] = {2, 0, 3, 1, 3, 2, 0};
    int T = 7, V = 4;
    float lp[7 * 4];
    peaky_logprobs(lp, path, T, V, 0.97f, 0.01f);
    lm_model lm = table_model(0);
    dec_options o;
    dec_options_default(&o);
    o.lm_weight = 1.0f;
    dec_decoder *d = decode(&o, u, l, &lm, lp, T, NULL);
    /* bigram(<s>,ab)=-0.1-(6%11)*.4=-2.5, bigram(<s>,AB)=-0.1-(9%11)*.4=-3.7,
     * then ba after ab: (14+12)%11=4 -> -1.7; after AB: (21+12)%11=0 -> -0.1:
     * AB ba (-3.8) beats ab ba (-4.2) before </s>: </s> after ba: (28+3)%11=9 */
    const dec_hyp *h = dec_nbest(d, 0);
    assert_string_equal(h->text, "AB ba");
    assert_int_equal(h->n_words, 2);
    assert_int_equal(h->words[0].start, 0);
    assert_int_equal(h->words[1].start, 4);
    dec_free(d);
    lex_lexicon_free(l);
    lex_units_free(u);
}

/* Decodes a peaky path (one unit a frame at 0.97) and returns the best. */
static const dec_hyp *decode_path(dec_decoder **d, const lex_units *u, const lex_lexicon *l, lm_model *lm,
                                  const int *path, int T) {
    int V = lex_units_count(u);
    float lp[64 * 8];
    peaky_logprobs(lp, path, T, V, 0.97f, 0.03f / (float)(V - 1));
    dec_options o;
    dec_options_default(&o);
    o.lm_weight = lm ? 1.0f : 0.0f;
    *d = decode(&o, u, l, lm, lp, T, NULL);
    return dec_nbest(*d, 0);
}

/* A word's end is the last frame of its last unit, in every mode: without a
 * delimiter the word completes when its last unit starts, and the frames
 * that repeat that unit used to be left out (CMUdict "there" 15-19 instead
 * of 15-21); with a delimiter, blanks before it used to count. */
static void test_word_ends(void **state) {
    lm_model lm = table_model(0);
    lex_units *u = make_units(tok_leaf);
    lex_lexicon *l = make_lexicon(lex_delim, u);
    /* a a b b b _ _ b b a a a _ : ab [0,4], ba [7,11] */
    int leaf[] = {1, 1, 2, 2, 2, 0, 0, 2, 2, 1, 1, 1, 0};
    for (int with_lm = 0; with_lm < 2; with_lm++) {
        dec_decoder *d;
        const dec_hyp *h = decode_path(&d, u, l, with_lm ? &lm : NULL, leaf, 13);
        assert_int_equal(h->n_words, 2);
        assert_string_equal(h->words[1].text, "ba");
        assert_int_equal(h->words[0].start, 0);
        assert_int_equal(h->words[0].end, 4);
        assert_int_equal(h->words[1].start, 7);
        assert_int_equal(h->words[1].end, 11);
        /* the units: a [0,1] b [2,4] b [7,8] a [9,11] */
        static const int tok[4][3] = {{1, 0, 1}, {2, 2, 4}, {2, 7, 8}, {1, 9, 11}};
        assert_int_equal(h->n_tokens, 4);
        for (int k = 0; k < 4; k++) {
            assert_int_equal(h->tokens[k].unit, tok[k][0]);
            assert_int_equal(h->tokens[k].start, tok[k][1]);
            assert_int_equal(h->tokens[k].end, tok[k][2]);
        }
        dec_free(d);
    }
    /* lexicon-free without a delimiter: every unit a word; a a _ b b b -> a [0,1], b [3,5] */
    int chars[] = {1, 1, 0, 2, 2, 2};
    dec_decoder *d;
    const dec_hyp *h = decode_path(&d, u, NULL, NULL, chars, 6);
    assert_string_equal(h->text, "a b");
    assert_int_equal(h->words[0].end, 1);
    assert_int_equal(h->words[1].start, 3);
    assert_int_equal(h->words[1].end, 5);
    dec_free(d);
    lex_lexicon_free(l);
    lex_units_free(u);
    /* with a delimiter: a b b _ _ | b a a _ -> ab [0,2], ba [6,8] */
    u = make_units(tok_delim);
    l = make_lexicon(lex_delim, u);
    int delim[] = {2, 3, 3, 0, 0, 1, 3, 2, 2, 0};
    for (int with_lm = 0; with_lm < 2; with_lm++) {
        h = decode_path(&d, u, l, with_lm ? &lm : NULL, delim, 10);
        assert_int_equal(h->n_words, 2);
        assert_int_equal(h->words[0].start, 0);
        assert_int_equal(h->words[0].end, 2);
        assert_int_equal(h->words[1].start, 6);
        assert_int_equal(h->words[1].end, 8);
        assert_int_equal(h->n_tokens, 4); /* the delimiter is no token */
        assert_int_equal(h->tokens[1].start, 1);
        assert_int_equal(h->tokens[1].end, 2);
        assert_int_equal(h->tokens[2].start, 6);
        dec_free(d);
    }
    lex_lexicon_free(l);
    lex_units_free(u);
}

/* Lexicon-free: words are spelled from units and split at the delimiter. */
static void test_lexicon_free_spells_words(void **state) {
    lex_units *u = make_units(tok_delim);
    int path[] = {2, 2, 0, 3, 1, 1, 3, 0, 2};
    int T = 9, V = 4;
    float lp[9 * 4];
    peaky_logprobs(lp, path, T, V, 0.97f, 0.01f);
    dec_options o;
    dec_options_default(&o);
    dec_decoder *d = decode(&o, u, NULL, NULL, lp, T, NULL);
    const dec_hyp *h = dec_nbest(d, 0);
    assert_string_equal(h->text, "ab ba");
    assert_int_equal(h->n_words, 2);
    dec_free(d);
    lex_units_free(u);
}

/* Streaming: frames fed in chunks give the same result as all at once. */
static void test_chunks_equal_whole(void **state) {
    lex_units *u = make_units(tok_delim);
    lex_lexicon *l = make_lexicon(lex_delim, u);
    int T = 40, V = 4;
    float lp[40 * 4];
    srand(7);
    for (int i = 0; i < T * V; i++) lp[i] = (float)(rand() % 1000) / 100.0f;
    assert_int_equal(dec_emissions_to_logprobs(lp, T, V, DEC_INPUT_LOGITS, "x", NULL, NULL), RD_OK);
    lm_model lm = table_model(0);
    dec_options o;
    dec_options_default(&o);
    o.beam = 8;
    o.nbest = 3;
    dec_decoder *d;
    rd_error err;
    d = decode(&o, u, l, &lm, lp, T, NULL);
    char whole[256];
    snprintf(whole, sizeof whole, "%s", dec_nbest(d, 0)->text);
    float whole_score = dec_nbest(d, 0)->score;
    int chunks[] = {1, 7, 50};
    for (int c = 0; c < 3; c++) {
        assert_int_equal(dec_begin(d, &err), RD_OK);
        int shown = 0;
        for (int t = 0; t < T; t += chunks[c]) {
            int n = T - t < chunks[c] ? T - t : chunks[c];
            assert_int_equal(dec_step(d, lp + t * V, n, &err), RD_OK);
            /* the stable words never shrink and are a prefix of the final text */
            int nw;
            const char *stable = dec_stable(d, &nw);
            size_t sl = strlen(stable);
            assert_true(nw >= shown);
            shown = nw;
            assert_memory_equal(stable, whole, sl);
            assert_true(sl == 0 || whole[sl] == ' ' || whole[sl] == '\0');
        }
        assert_int_equal(dec_end(d, &err), RD_OK);
        assert_string_equal(dec_nbest(d, 0)->text, whole);
        assert_float_equal(dec_nbest(d, 0)->score, whole_score, 1e-6);
    }
    dec_free(d);
    lex_lexicon_free(l);
    lex_units_free(u);
}

/* --session-carry: utterance B after A with carry scores exactly as B with
 * A's words as --lm-prefix (the toy LM is a bigram); without carry as B
 * alone. */
static void test_session_carry(void **state) {
    lex_units *u = make_units(tok_delim);
    lex_lexicon *l = make_lexicon(lex_delim, u);
    int T = 24, V = 4;
    float a[24 * 4], b[24 * 4];
    random_logprobs(a, T, V, 91);
    random_logprobs(b, T, V, 92);
    lm_model lm = table_model(0);
    dec_options o;
    dec_options_default(&o);
    o.beam = 16;
    o.lm_weight = 1.0f;
    dec_decoder *d, *p, *fresh;
    rd_error err;
    assert_int_equal(dec_create(&o, u, l, &lm, &d, &err), RD_OK);
    assert_int_equal(dec_create(&o, u, l, &lm, &fresh, &err), RD_OK);
    assert_int_equal(dec_decode(d, a, T, &err), RD_OK);
    char a_text[256];
    snprintf(a_text, sizeof a_text, "%s", dec_nbest(d, 0)->text);
    assert_true(a_text[0] != '\0');
    assert_int_equal(dec_decode_ex(d, b, T, 1, &err), RD_OK);
    o.lm_start.text = a_text;
    p = decode(&o, u, l, &lm, b, T, NULL);
    assert_string_equal(dec_nbest(d, 0)->text, dec_nbest(p, 0)->text);
    assert_float_equal(dec_nbest(d, 0)->score, dec_nbest(p, 0)->score, 1e-6);
    assert_float_equal(dec_nbest(d, 0)->lm, dec_nbest(p, 0)->lm, 1e-6);
    /* no carry: as a fresh decoder, whatever came before */
    assert_int_equal(dec_decode_ex(d, b, T, 0, &err), RD_OK);
    assert_int_equal(dec_decode(fresh, b, T, &err), RD_OK);
    assert_float_equal(dec_nbest(d, 0)->score, dec_nbest(fresh, 0)->score, 0);
    dec_free(d);
    dec_free(p);
    dec_free(fresh);
    lex_lexicon_free(l);
    lex_units_free(u);
}

/* --lm-prefix: the first word is scored after the prefix words, and the
 * prefix itself adds nothing. */
static void test_lm_prefix(void **state) {
    lex_units *u = make_units(tok_delim);
    lex_lexicon *l = make_lexicon(lex_delim, u);
    int T = 30, V = 4;
    float lp[30 * 4];
    srand(5);
    for (int i = 0; i < T * V; i++) lp[i] = (float)(rand() % 1000) / 100.0f;
    assert_int_equal(dec_emissions_to_logprobs(lp, T, V, DEC_INPUT_LOGITS, "x", NULL, NULL), RD_OK);
    lm_model lm = table_model(0);
    static const char *const prefixes[] = {NULL, "ab", " ba  bab "};
    for (int k = 0; k < 3; k++) {
        dec_options o;
        dec_options_default(&o);
        o.beam = 16;
        o.lm_start.text = prefixes[k];
        dec_decoder *d = decode(&o, u, l, &lm, lp, T, NULL);
        const dec_hyp *h = dec_nbest(d, 0);
        int32_t prev = 0;
        const char *p = prefixes[k];
        while (p && *p) { /* the last prefix word is the context */
            while (*p == ' ') p++;
            size_t n = strcspn(p, " ");
            if (n) prev = tlm_find(p, n);
            p += n;
        }
        float want = 0;
        for (int i = 0; i < h->n_words; i++) {
            int32_t w = tlm_find(h->words[i].text, strlen(h->words[i].text));
            want += test_lm_bigram(0, prev, w);
            prev = w;
        }
        want += test_lm_bigram(0, prev, 1);
        assert_true(h->n_words > 0);
        assert_float_equal(h->lm, want, 1e-4);
        dec_free(d);
    }
    lex_lexicon_free(l);
    lex_units_free(u);
}

/* --token-min-logp: a unit below the floor is never tried (unless it is the
 * frame's best), so hypotheses needing it vanish from the n-best. */
static void test_token_min_logp(void **state) {
    lex_units *u = make_units(tok_delim); /* <blank> | a b */
    /* frame 0: a; frame 1: blank, b at p = 0.01; frame 2: blank */
    float p[3][4] = {{0.01f, 0.01f, 0.97f, 0.01f}, {0.98f, 0.005f, 0.005f, 0.01f}, {0.97f, 0.01f, 0.01f, 0.01f}};
    float lp[12];
    for (int i = 0; i < 12; i++) lp[i] = logf(p[i / 4][i % 4]);
    for (int k = 0; k < 2; k++) {
        dec_options o;
        dec_options_default(&o);
        o.unk_score = 0.0f;
        o.nbest = 8;
        if (k) o.token_min_logp = -4.0f; /* ln 0.01 = -4.6 is below, ln 0.97 above */
        dec_decoder *d = decode(&o, u, NULL, NULL, lp, 3, NULL);
        int has_ab = 0;
        for (int i = 0; i < dec_nbest_count(d); i++) has_ab |= strcmp(dec_nbest(d, i)->text, "ab") == 0;
        assert_string_equal(dec_nbest(d, 0)->text, "a");
        assert_int_equal(has_ab, !k);
        for (int i = 0; k && i < dec_nbest_count(d); i++) { /* only a and blanks were tried */
            const char *t = dec_nbest(d, i)->text;
            assert_true(strcmp(t, "a") == 0 || t[0] == '\0');
        }
        dec_free(d);
    }
    lex_units_free(u);
}

static void test_emissions_detection(void **state) {
    float probs[] = {0.25f, 0.75f, 1.0f, 0.0f};
    dec_input k;
    assert_int_equal(dec_input_detect(probs, 2, 2, "p", &k, NULL), RD_OK);
    assert_int_equal(k, DEC_INPUT_PROBS);
    float lps[] = {logf(0.25f), logf(0.75f), 0.0f, -INFINITY};
    assert_int_equal(dec_input_detect(lps, 2, 2, "l", &k, NULL), RD_OK);
    assert_int_equal(k, DEC_INPUT_LOGPROBS);
    float logits[] = {3.0f, 1.0f, -2.0f, 5.0f};
    assert_int_equal(dec_emissions_to_logprobs(logits, 2, 2, DEC_INPUT_AUTO, "x", &k, NULL), RD_OK);
    assert_int_equal(k, DEC_INPUT_LOGITS);
    assert_float_equal(logits[0], 3.0 - log(exp(3.0) + exp(1.0)), 1e-5);
    float bad[] = {0.0f, NAN};
    rd_error err;
    assert_int_equal(dec_input_detect(bad, 1, 2, "x.npy", &k, &err), RD_ERR_INPUT);
    assert_string_equal(err.msg, "x.npy: frame 0, unit 1: value is nan");
}

/* Issue 17 item 8c: raw logits after the first 64 rows of log-probabilities
 * are seen (every row is checked), and --input logprobs wins over the
 * "-inf in raw logits" refusal. */
static void test_emissions_detection_all_rows(void **state) {
    enum { T = 1000, V = 4 };
    float *x = malloc(sizeof(float) * T * V);
    assert_non_null(x);
    for (int t = 0; t < T; t++)
        for (int v = 0; v < V; v++) x[t * V + v] = logf(0.25f);
    for (int v = 0; v < V; v++) x[517 * V + v] = 2.0f + (float)v; /* raw logits in one row off the sample grid */
    dec_input k;
    assert_int_equal(dec_input_detect(x, T, V, "x", &k, NULL), RD_OK);
    assert_int_equal(k, DEC_INPUT_LOGITS);
    float lp[] = {0.0f, -INFINITY, 0.0f, -INFINITY, 0.5f, 0.7f}; /* last row: not normalized */
    rd_error err;
    assert_int_equal(dec_emissions_to_logprobs(lp, 3, 2, DEC_INPUT_AUTO, "x", &k, &err), RD_ERR_INPUT);
    assert_int_equal(dec_emissions_to_logprobs(lp, 3, 2, DEC_INPUT_LOGPROBS, "x", &k, &err), RD_OK);
    assert_int_equal(k, DEC_INPUT_LOGPROBS);
    assert_float_equal(lp[0], 0.0f, 0);
    free(x);
}

/* lm_mix over a real ARPA model and the RWKV fixture: every call gives the
 * weighted sum of each model alone (own caches, same slots), through a
 * batch with shared parents, a child that is its own parent, </s>,
 * unigrams, look-ahead and a reorder. */
static void test_mix_scores_are_weighted_sums(void **state) {
    static const char arpa[] = "\\data\\\nngram 1=5\nngram 2=3\n\n\\1-grams:\n-1.0\t<s>\t-0.3\n-0.7\t</s>\n"
                               "-0.5\tthe\t-0.2\n-0.9\tcat\t-0.1\n-1.2\t<unk>\n\n\\2-grams:\n-0.2\t<s> the\n"
                               "-0.3\tthe cat\n-0.4\tcat </s>\n\n\\end\\\n";
    char path[64];
    assert_non_null(rd_test_tmpfile(path, sizeof path, arpa, strlen(arpa)));
    lm_load_options lo = {0};
    lm_model *a = NULL, *r = NULL, *mix = NULL;
    rd_error err;
    if (lm_load(path, &lo, &a, &err) != RD_OK) fail_msg("%s", err.msg);
    if (lm_load("data/rwkv/tiny-rwkv7-fp32.pth", &lo, &r, &err) != RD_OK) fail_msg("%s", err.msg);
    lm_model *parts[2] = {a, r};
    float w[2] = {0.8f, 0.35f};
    assert_int_equal(lm_mix(parts, w, 2, &mix, &err), RD_OK);
    assert_int_equal(lm_part_count(mix), 2);
    assert_ptr_equal(lm_part(mix, 1), r);
    assert_int_equal(lm_part_count(a), 1);
    assert_null(lm_rwkv(mix));
    lm_cache *cm, *ca, *cr;
    assert_int_equal(lm_cache_create(mix, 6, &cm, &err), RD_OK);
    assert_int_equal(lm_cache_create(a, 6, &ca, &err), RD_OK);
    assert_int_equal(lm_cache_create(r, 6, &cr, &err), RD_OK);
    assert_non_null(lm_cache_part(cm, 1));
    assert_null(lm_cache_part(cm, 2));
    lm_cache *c3[3] = {cm, ca, cr};
    const char *text[5] = {"the", "cat", "dog", "the", "cat"};
    int32_t word[3][5];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 5; i++) word[k][i] = lm_word(c3[k], text[i], strlen(text[i]));
    assert_int_equal(word[0][0], word[0][3]); /* the same text, the same handle */
    for (int i = 0; i < 3; i++) assert_int_equal(word[0][i], i); /* mix handles: dense, in order */
    assert_true(lm_word_known(cm, word[0][0]));
    assert_false(lm_word_known(cm, word[0][2])); /* "dog": unknown to the n-gram */
    /* three rounds of batches, from the start state then from the children */
    int32_t parent[3][5] = {{0, 0, 0, 1, 1}, {2, 3, 2, 4, 5}, {5, 1, 1, 2, 0}};
    int32_t child[3][5] = {{1, 2, 3, 4, 5}, {0, 2, 1, 5, 3}, {4, 5, 2, 1, 0}};
    float s[3][5];
    for (int k = 0; k < 3; k++) {
        int32_t zero = 0;
        assert_int_equal(lm_start(c3[k], &zero, 1, &err), RD_OK);
    }
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 3; k++)
            assert_int_equal(lm_score_words(c3[k], parent[round], word[k], child[round], 5, s[k], &err), RD_OK);
        for (int i = 0; i < 5; i++) assert_float_equal(s[0][i], w[0] * s[1][i] + w[1] * s[2][i], 1e-4);
    }
    int32_t surv[4] = {3, 3, 0, 5};
    for (int k = 0; k < 3; k++) assert_int_equal(lm_reorder(c3[k], surv, 4, &err), RD_OK);
    int32_t slots[4] = {0, 1, 2, 3};
    for (int k = 0; k < 3; k++) assert_int_equal(lm_finish(c3[k], slots, 4, s[k], &err), RD_OK);
    for (int i = 0; i < 4; i++) assert_float_equal(s[0][i], w[0] * s[1][i] + w[1] * s[2][i], 1e-4);
    for (int k = 0; k < 3; k++) assert_int_equal(lm_unigrams(c3[k], word[k], 5, s[k], &err), RD_OK);
    for (int i = 0; i < 5; i++) assert_float_equal(s[0][i], w[0] * s[1][i] + w[1] * s[2][i], 1e-4);
    for (int k = 0; k < 3; k++) assert_int_equal(lm_lookahead(c3[k], word[k], 5, s[k], &err), RD_OK);
    for (int i = 0; i < 5; i++) assert_float_equal(s[0][i], w[0] * s[1][i] + w[1] * s[2][i], 1e-4);
    size_t per_m, per_a, per_r;
    int n;
    size_t bytes = lm_cache_bytes(cm, &per_m, &n);
    assert_int_equal(bytes, lm_cache_bytes(ca, &per_a, &n) + lm_cache_bytes(cr, &per_r, &n));
    assert_int_equal(per_m, per_a + per_r);
    float st[4];
    assert_int_equal(lm_state_get(cm, 0, st, NULL, &err), RD_ERR_USAGE);
    for (int k = 0; k < 3; k++) lm_cache_free(c3[k]);
    lm_free(mix);
    lm_free(a);
    lm_free(r);
    unlink(path);
}

/* dec_rescore: every n-best hypothesis gets exactly its words' and </s>'s
 * log-probability under the second LM (table 1), scored alone; score =
 * first pass + weight * that + word score * words, re-ranked; the texts are
 * the search's. */
static void test_rescore_nbest(void **state) {
    lex_units *u = make_units(tok_delim);
    lex_lexicon *l = make_lexicon(lex_delim, u);
    int V = lex_units_count(u), T = 7;
    lm_model lm0 = table_model(0), lm1 = table_model(1);
    for (unsigned seed = 80; seed < 86; seed++) {
        float lp[MAXT * 8];
        random_logprobs(lp, T, V, seed);
        dec_options o;
        dec_options_default(&o);
        o.beam = 2000;
        o.beam_threshold = 1e9f;
        o.nbest = 12;
        o.lm_weight = seed % 2 ? 0.5f : 0.0f;
        dec_decoder *d;
        rd_error err;
        d = decode(&o, u, l, seed % 2 ? &lm0 : NULL, lp, T, NULL);
        int n = dec_nbest_count(d);
        assert_true(n >= 6);
        char before[16][64];
        float first[16];
        for (int i = 0; i < n; i++) {
            snprintf(before[i], sizeof before[i], "%s", dec_nbest(d, i)->text);
            first[i] = dec_nbest(d, i)->score;
        }
        lm_cache *c;
        assert_int_equal(lm_cache_create(&lm1, 2 * n, &c, &err), RD_OK);
        float ws = seed % 3 ? 1.5f : 0.0f; /* the rescoring's per-word bonus */
        assert_int_equal(dec_rescore(d, c, 0.8f, ws, &err), RD_OK);
        int seen[16] = {0};
        for (int i = 0; i < n; i++) {
            const dec_hyp *h = dec_nbest(d, i);
            int32_t ids[MAXT + 1];
            for (int j = 0; j < h->n_words; j++) ids[j] = h->words[j].lexicon_id;
            assert_float_equal(h->rescore_lm, table_lm_of(l, 1, ids, h->n_words), 1e-5);
            assert_float_equal(h->score, h->first_pass + 0.8f * h->rescore_lm + ws * (float)h->n_words, 1e-4);
            if (i) assert_true(dec_nbest(d, i - 1)->score >= h->score);
            int k = 0;
            while (k < n && (seen[k] || strcmp(before[k], h->text) != 0 || first[k] != h->first_pass)) k++;
            assert_true(k < n); /* one of the search's hypotheses, each once */
            seen[k] = 1;
        }
        lm_cache_free(c);
        dec_free(d);
    }
    lex_lexicon_free(l);
    lex_units_free(u);
}

/* When no live hypothesis can finish its last word, dec_end gives the
 * complete words of the best one, marked as a fallback, with the score of
 * what it prints: no look-ahead bonus for the unfinished word (issue 17
 * item 8b: the partial's ranking score was reported). */
static void test_fallback_score(void **state) {
    lex_units *u = make_units(tok_delim); /* <blank> | a b */
    lex_lexicon *l = make_lexicon("ab a b\nbab b a b\n", u);
    enum { T = 5, V = 4 };
    static const int path[T] = {2, 3, 1, 3, 2}; /* a b | b a: "ab", then "ba" of "bab" */
    float lp[T * V];
    peaky_logprobs(lp, path, T, V, 0.97f, 0.01f);
    lm_model lm = table_model(0);
    dec_options o;
    dec_options_default(&o);
    o.lm_weight = 0.7f;
    o.word_score = 0.3f;
    o.beam_threshold = 5; /* "ab|" then blanks (ln 0.01^2) is pruned */
    dec_decoder *d = decode(&o, u, l, &lm, lp, T, NULL);
    const dec_hyp *h = dec_nbest(d, 0);
    assert_non_null(h);
    assert_string_equal(h->text, "ab");
    assert_int_equal(h->fallback, 1);
    assert_float_equal(h->score, h->acoustic + 0.7f * h->lm + 0.3f * (float)h->n_words, 1e-4);
    dec_free(d);
    /* a normal result is not a fallback */
    static const int whole[T] = {2, 3, 1, 2, 0}; /* a b | a: "ab a" */
    peaky_logprobs(lp, whole, T, V, 0.97f, 0.01f);
    lex_lexicon_free(l);
    l = make_lexicon("ab a b\na a\n", u);
    d = decode(&o, u, l, &lm, lp, T, NULL);
    assert_string_equal(dec_nbest(d, 0)->text, "ab a");
    assert_int_equal(dec_nbest(d, 0)->fallback, 0);
    dec_free(d);
    lex_lexicon_free(l);
    lex_units_free(u);
}

/* --homophones has a default cap (DEC_HOMOPHONES_DEFAULT): a pronunciation
 * shared by 100 words gives at most that many candidates per hypothesis, the
 * best unigram first (a Rime key has up to 312 words; 100k homophones on one
 * pronunciation took 75 s and a huge RWKV state cache with the whole group). */
static void test_homophone_cap(void **state) {
    lex_units *u = make_units(tok_delim); /* <blank> | a b */
    char lex[100 * 16] = "";
    for (int i = 0; i < 100; i++) snprintf(lex + strlen(lex), sizeof lex - strlen(lex), "w%d a b\n", i);
    lex_lexicon *l = make_lexicon(lex, u);
    enum { T = 3, V = 4 };
    static const int path[T] = {2, 3, 1}; /* a b | */
    float lp[T * V];
    peaky_logprobs(lp, path, T, V, 0.97f, 0.01f);
    dec_options o;
    dec_options_default(&o);
    assert_int_equal(o.homophones, DEC_HOMOPHONES_DEFAULT);
    o.beam = 1000;
    o.beam_threshold = 1e9f;
    o.nbest = 200;
    for (int cap = 0; cap < 2; cap++) {
        o.homophones = cap ? DEC_HOMOPHONES_DEFAULT : 0; /* 0: the whole group */
        dec_decoder *d = decode(&o, u, l, NULL, lp, T, NULL);
        int n = 0;
        for (int i = 0; i < dec_nbest_count(d); i++) n += dec_nbest(d, i)->n_words == 1;
        assert_int_equal(n, cap ? DEC_HOMOPHONES_DEFAULT : 100);
        assert_string_equal(dec_nbest(d, 0)->text, "w0"); /* lexicon order on ties */
        dec_free(d);
    }
    lex_lexicon_free(l);
    lex_units_free(u);
}

/* A non-finite LM score is an error naming the frame, the model and the
 * word, never an empty transcript (issue 17 item 4). */
/* Decodes T frames of lp (<blank> | a b, lexicon "a b"-style words) with the
 * table LM broken the given way; the decode must fail naming want. */
static void expect_lm_error(const float *lp, int T, int broken, const char *desc, const char *want) {
    lex_units *u = make_units(tok_delim); /* <blank> | a b */
    lex_lexicon *l = make_lexicon(lex_delim, u);
    lm_model lm = table_model(broken);
    snprintf(lm.description, sizeof lm.description, "%s", desc);
    dec_options o;
    dec_options_default(&o);
    dec_decoder *d = decode(&o, u, l, &lm, lp, T, want);
    dec_free(d);
    lex_lexicon_free(l);
    lex_units_free(u);
}

static void test_nonfinite_lm_score(void **state) {
    enum { T = 3, V = 4 };
    static const int path[T] = {3, 2, 1}; /* b a | */
    float lp[T * V];
    peaky_logprobs(lp, path, T, V, 0.97f, 0.01f);
    expect_lm_error(lp, T, 2, "table 2", "the LM (table 2) scored word 'ba' nan: not a log-probability");
}

/* A non-finite </s> score is an error too: with nothing but blanks no word is
 * ever scored, and the NaN total dropped every hypothesis, so a NaN state file
 * (--lm-state) decoded to an empty "fallback" transcript with exit 0. */
static void test_nonfinite_end_score(void **state) {
    enum { T = 3, V = 4 };
    float lp[T * V];
    for (int t = 0; t < T; t++)
        for (int v = 0; v < V; v++) lp[t * V + v] = v == 0 ? 0.0f : -INFINITY; /* blanks only */
    expect_lm_error(lp, T, 3, "table 3", "frame 3: the LM (table 3) scored </s> nan: not a log-probability");
}

/* The ends of the beam selection (select_best under prune): a frame where
 * every unit has probability 0 or NaN leaves no candidate (an error, not a
 * read past the list); a beam of 1 keeps the single best path; a beam and an
 * n-best far larger than the hypotheses there are give each distinct text
 * once, best first; no frames at all give the empty text. Issue 17 item 4
 * (an ASan heap overflow in select_best when NaN scores broke its order). */
static void test_beam_selection_edges(void **state) {
    lex_units *u = make_units(tok_delim); /* <blank> | a b */
    lex_lexicon *l = make_lexicon(lex_delim, u);
    enum { T = 3, V = 4 };
    static const int path[T] = {2, 3, 1}; /* a b | */
    float lp[T * V];
    lm_model lm = table_model(0);
    dec_decoder *d;
    dec_options o;
    rd_error err;
    for (int bad = 0; bad < 2; bad++) { /* frame 1: all -inf, then all NaN */
        for (int t = 0; t < T; t++)
            for (int v = 0; v < V; v++)
                lp[t * V + v] = t == 1 ? (bad ? NAN : -INFINITY) : logf(v == path[t] ? 0.7f : 0.1f);
        dec_options_default(&o);
        d = decode(&o, u, l, &lm, lp, T, "frame 1: no hypothesis survived");
        assert_int_equal(dec_nbest_count(d), 0);
        dec_free(d);
    }
    peaky_logprobs(lp, path, T, V, 0.7f, 0.1f);
    dec_options_default(&o);
    o.beam = 1;
    d = decode(&o, u, l, &lm, lp, T, NULL);
    assert_int_equal(dec_nbest_count(d), 1);
    assert_string_equal(dec_nbest(d, 0)->text, "ab");
    assert_true(isfinite(dec_nbest(d, 0)->score));
    dec_free(d);
    dec_options_default(&o);
    o.beam = 5000;
    o.nbest = 1000;
    o.beam_threshold = 1e30f;
    d = decode(&o, u, l, &lm, lp, T, NULL);
    int n = dec_nbest_count(d);
    assert_in_range(n, 2, 999); /* fewer than asked: every reading of 3 frames */
    /* the best of all: AB (its </s> outweighs ab's better word score, which
     * the beam of 1 had to choose by) */
    assert_string_equal(dec_nbest(d, 0)->text, "AB");
    assert_true(dec_nbest(d, 0)->score > dec_nbest(d, 1)->score);
    for (int i = 0; i < n; i++) {
        assert_true(isfinite(dec_nbest(d, i)->score));
        if (i) assert_true(dec_nbest(d, i)->score <= dec_nbest(d, i - 1)->score);
        for (int j = 0; j < i; j++) assert_string_not_equal(dec_nbest(d, i)->text, dec_nbest(d, j)->text);
    }
    assert_int_equal(dec_decode(d, lp, 0, &err), RD_OK);
    assert_int_equal(dec_nbest_count(d), 1);
    assert_string_equal(dec_nbest(d, 0)->text, "");
    assert_float_equal(dec_nbest(d, 0)->acoustic, 0.0f, 1e-6);
    dec_free(d);
    lex_lexicon_free(l);
    lex_units_free(u);
}

/* Emissions given as log-probabilities but far above 0 (--input logprobs
 * wins over detection) overflow the score to +inf: an error naming the
 * frame, not a transcript with score null and exit 0. */
static void test_score_overflow(void **state) {
    lex_units *u = make_units(tok_delim); /* <blank> | a b */
    lex_lexicon *l = make_lexicon(lex_delim, u);
    enum { T = 4, V = 4 };
    float lp[T * V];
    for (int t = 0; t < T; t++)
        for (int v = 0; v < V; v++) lp[t * V + v] = v == 0 ? 1e38f : -1e38f;
    dec_options o;
    dec_options_default(&o);
    dec_decoder *d = decode(&o, u, l, NULL, lp, T, "frame 3: the score overflowed to +inf");
    dec_free(d);
    lex_lexicon_free(l);
    lex_units_free(u);
}

static void test_bad_options(void **state) {
    lex_units *u = make_units(tok_delim);
    dec_options o;
    dec_options_default(&o);
    o.beam = 0;
    dec_decoder *d;
    rd_error err;
    assert_int_equal(dec_create(&o, u, NULL, NULL, &d, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "beam must be 1..100000, got 0");
    dec_options_default(&o);
    o.blank = 9;
    assert_int_equal(dec_create(&o, u, NULL, NULL, &d, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "blank id 9 is not a unit (0..3)");
    lex_units_free(u);
}

/* Hotwords (boost.h) in the search: a boosted homophone wins its group, even
 * when a --homophones cap would cut it; a phrase left half done at the end
 * earns nothing; a complete one earns weight per word. */
static void test_hotwords(void **state) {
    lex_units *u = make_units(tok_delim);
    lex_lexicon *l = make_lexicon(lex_delim, u);
    int path[] = {2, 0, 3, 1, 3, 2, 0};
    int T = 7, V = 4;
    float lp[7 * 4];
    peaky_logprobs(lp, path, T, V, 0.97f, 0.01f);
    lm_model lm = table_model(0);
    rd_error err;
    for (int with_lm = 0; with_lm < 2; with_lm++) {
        dec_options o;
        dec_options_default(&o);
        o.lm_weight = 1.0f;
        o.homophones = 1; /* without hotwords: ab (lexicon order) or AB (the LM's choice) only */
        dec_decoder *d = decode(&o, u, l, with_lm ? &lm : NULL, lp, T, NULL);
        float plain = dec_nbest(d, 0)->score;
        assert_string_equal(dec_nbest(d, 0)->text, "ab ba");
        const char *other = "AB";
        boost_graph *g;
        /* ab is the group's best unigram, so the cap of 1 keeps it; AB must
         * come first once boosted */
        assert_int_equal(boost_from_phrases(&other, NULL, 1, 6.0f, &g, &err), RD_OK);
        assert_int_equal(dec_set_boost(d, g, &err), RD_OK);
        assert_int_equal(dec_decode(d, lp, T, &err), RD_OK);
        assert_string_equal(dec_nbest(d, 0)->text, "AB ba");
        assert_float_equal(dec_nbest(d, 0)->boost, 6.0, 1e-6);
        assert_int_equal(dec_set_boost(d, NULL, &err), RD_OK); /* before freeing g */
        boost_free(g);
        /* half a phrase: "ba ab" stops after ba, "ab ba bab" after ab ba */
        const char *half[] = {"ba ab", "ab ba bab"};
        assert_int_equal(boost_from_phrases(half, NULL, 2, 3.0f, &g, &err), RD_OK);
        assert_int_equal(dec_set_boost(d, g, &err), RD_OK);
        assert_int_equal(dec_decode(d, lp, T, &err), RD_OK);
        assert_string_equal(dec_nbest(d, 0)->text, "ab ba");
        assert_float_equal(dec_nbest(d, 0)->boost, 0.0, 1e-6);
        assert_float_equal(dec_nbest(d, 0)->score, plain, 1e-5);
        assert_int_equal(dec_set_boost(d, NULL, &err), RD_OK); /* before freeing g */
        boost_free(g);
        const char *full[] = {"ab ba"};
        assert_int_equal(boost_from_phrases(full, NULL, 1, 2.5f, &g, &err), RD_OK);
        assert_int_equal(dec_set_boost(d, g, &err), RD_OK);
        assert_int_equal(dec_decode(d, lp, T, &err), RD_OK);
        assert_string_equal(dec_nbest(d, 0)->text, "ab ba");
        assert_float_equal(dec_nbest(d, 0)->boost, 5.0, 1e-6);
        assert_float_equal(dec_nbest(d, 0)->score, plain + 5.0f, 1e-5);
        /* a hotword the lexicon lacks is refused with its line */
        assert_int_equal(dec_set_boost(d, NULL, &err), RD_OK); /* before freeing g */
        boost_free(g);
        const char *bad = "ab\nab zz :2\n";
        assert_int_equal(boost_parse(bad, strlen(bad), "hot.txt", 1.0f, &g, &err), RD_OK);
        assert_int_equal(dec_set_boost(d, g, &err), RD_ERR_INPUT);
        assert_string_equal(err.msg, "hot.txt:2: hotword 'zz' is not in the lexicon (give its units as zz{u n i t s})");
        assert_int_equal(dec_set_boost(d, NULL, &err), RD_OK); /* before freeing g */
        boost_free(g);
        dec_free(d);
    }
    lex_lexicon_free(l);
    lex_units_free(u);
}

/* Streaming with hotwords: chunks give the whole decode's result. */
static void test_hotwords_chunks_equal_whole(void **state) {
    for (int lexicon = 0; lexicon < 2; lexicon++) {
        lex_units *u = make_units(tok_delim);
        lex_lexicon *l = lexicon ? make_lexicon(lex_delim, u) : NULL;
        int T = 48, V = 4;
        float lp[48 * 4];
        random_logprobs(lp, T, V, 77);
        lm_model lm = table_model(0);
        const char *ph[] = {"ab ba", "ba", "a b a", "bab AB"};
        boost_graph *g;
        rd_error err;
        assert_int_equal(boost_from_phrases(ph, NULL, 4, 2.0f, &g, &err), RD_OK);
        dec_options o;
        dec_options_default(&o);
        o.beam = 8;
        o.unk_score = lexicon ? -INFINITY : 0.0f;
        dec_decoder *d;
        assert_int_equal(dec_create(&o, u, l, &lm, &d, &err), RD_OK);
        assert_int_equal(dec_set_boost(d, g, &err), RD_OK);
        assert_int_equal(dec_decode(d, lp, T, &err), RD_OK);
        char whole[256];
        snprintf(whole, sizeof whole, "%s", dec_nbest(d, 0)->text);
        float ws = dec_nbest(d, 0)->score, wb = dec_nbest(d, 0)->boost;
        int chunks[] = {1, 5, 13};
        for (int c = 0; c < 3; c++) {
            assert_int_equal(dec_begin(d, &err), RD_OK);
            for (int t = 0; t < T; t += chunks[c]) {
                int n = T - t < chunks[c] ? T - t : chunks[c];
                assert_int_equal(dec_step(d, lp + t * V, n, &err), RD_OK);
                (void)dec_partial(d);
            }
            assert_int_equal(dec_end(d, &err), RD_OK);
            assert_string_equal(dec_nbest(d, 0)->text, whole);
            assert_float_equal(dec_nbest(d, 0)->score, ws, 1e-6);
            assert_float_equal(dec_nbest(d, 0)->boost, wb, 1e-6);
        }
        dec_free(d);
        boost_free(g);
        lex_lexicon_free(l);
        lex_units_free(u);
    }
}

/* Chinese without an LM: the Rime weights are the unigram prior, so "shi"
 * reads 是 (weight 300), not 十 (first in the file) or 时; CJK words are
 * joined without spaces, unless a separator is given. */
static void test_rime_prior_and_cjk_join(void **state) {
    static const char toks[] = "<blank>\nshi\nba\nma\n";
    static const char dict[] = "---\nname: t\n...\n十\tshi\t100\n是\tshi\t300\n时\tshi\t1\n"
                               "吗\tma\t1\n妈\tma\t3\nOK\tba\t1\n";
    lex_units *u = make_units(toks);
    lex_lexicon *l = make_lexicon(dict, u);
    int path[] = {1, 1, 0, 3, 0, 2, 0, 1};
    float lp[8 * 4];
    peaky_logprobs(lp, path, 8, 4, 0.97f, 0.01f);
    dec_options o;
    dec_options_default(&o); /* lm_weight 0.5 weighs the prior */
    dec_decoder *d = decode(&o, u, l, NULL, lp, 8, NULL);
    const dec_hyp *h = dec_nbest(d, 0);
    assert_string_equal(h->text, "是妈 OK 是");
    assert_int_equal(h->n_words, 4);
    assert_float_equal(h->lm, log(300.0 / 406) * 2 + log(3.0 / 406) + log(1.0 / 406), 1e-4);
    dec_free(d);
    o.word_separator = "/";
    d = decode(&o, u, l, NULL, lp, 8, NULL);
    assert_string_equal(dec_nbest(d, 0)->text, "是/妈/OK/是");
    dec_free(d);
    lex_lexicon_free(l);
    lex_units_free(u);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exhaustive_delimiter_lm),
        cmocka_unit_test(test_exhaustive_delimiter_no_lm),
        cmocka_unit_test(test_exhaustive_leaf_mode),
        cmocka_unit_test(test_exhaustive_two_lms), cmocka_unit_test(test_lm_floors_keep_results),
        cmocka_unit_test(test_exhaustive_alternates),
        cmocka_unit_test(test_mix_scores_are_weighted_sums),
        cmocka_unit_test(test_rescore_nbest),
        cmocka_unit_test(test_fallback_score),
        cmocka_unit_test(test_homophone_cap),
        cmocka_unit_test(test_nonfinite_lm_score),
        cmocka_unit_test(test_nonfinite_end_score),
        cmocka_unit_test(test_beam_selection_edges),
        cmocka_unit_test(test_score_overflow),
        cmocka_unit_test(test_homophone_choice_follows_lm),
        cmocka_unit_test(test_lexicon_free_spells_words),
        cmocka_unit_test(test_word_ends),
        cmocka_unit_test(test_chunks_equal_whole),
        cmocka_unit_test(test_emissions_detection),
        cmocka_unit_test(test_emissions_detection_all_rows),
        cmocka_unit_test(test_bad_options), cmocka_unit_test(test_lm_prefix),
        cmocka_unit_test(test_hotwords), cmocka_unit_test(test_hotwords_chunks_equal_whole),
        cmocka_unit_test(test_rime_prior_and_cjk_join),
        cmocka_unit_test(test_token_min_logp), cmocka_unit_test(test_session_carry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
