/* tests/testdecode.h - what the search's tests (test_decoder.c,
 * test_subword.c) share: a bigram test LM plugged in through
 * lmstate/lm_impl.h, so that the beam search can be checked against brute
 * force without an ARPA file or a model, and the units and random emissions
 * they decode. Include after tests/testutil.h. */
#ifndef RD_TESTDECODE_H
#define RD_TESTDECODE_H

#include <math.h>

#include "decoder/emissions.h"
#include "lexicon/units.h"
#include "lmstate/lm_impl.h"

/* ln p(w | prev) in bigram table `table` (natural log): table 0 a fixed,
 * asymmetric one in [-4.5, -0.1]; table 1 another, disagreeing with table 0
 * (two-LM tests); tables 2 and 3 are table 1 broken: word 4 ("ba" in
 * test_decoder's vocabulary), or </s>, scores NaN. */
static inline float test_lm_bigram(int table, int32_t prev, int32_t w) {
    if (table == 2 && w == 4) return NAN;
    if (table == 3 && w == 1) return NAN;
    return table ? -0.2f - (float)((prev * 5 + w * 2 + 3) % 13) * 0.3f : -0.1f - (float)((prev * 7 + w * 3) % 11) * 0.4f;
}

/* A test LM: lm_model.impl for test_lm_ops. What differs between tests is
 * how a word's text becomes its id (0 is <s>, 1 </s>) and which ids are
 * known; every id is scored with test_lm_bigram's table. */
typedef struct test_lm {
    int32_t (*word)(const char *text, size_t len);
    bool (*known)(int32_t word);
    int table;
} test_lm;

typedef struct test_lm_cache {
    const test_lm *lm;
    int32_t *prev, *tmp; /* each slot's last word; reorder's scratch */
} test_lm_cache;

static inline void test_lm_model_free(void *m) { (void)m; }
static inline rd_status test_lm_cache_create(void *m, int n, void **out, rd_error *err) {
    test_lm_cache *c = calloc(1, sizeof *c);
    c->lm = m;
    c->prev = calloc((size_t)n, sizeof(int32_t));
    c->tmp = calloc((size_t)n, sizeof(int32_t));
    *out = c;
    return RD_OK;
}
static inline void test_lm_cache_free(void *p) {
    test_lm_cache *c = p;
    free(c->prev);
    free(c->tmp);
    free(c);
}
static inline int32_t test_lm_word(void *p, const char *t, size_t len) {
    return ((test_lm_cache *)p)->lm->word(t, len);
}
static inline bool test_lm_known(const void *p, int32_t w) { return ((const test_lm_cache *)p)->lm->known(w); }
static inline rd_status test_lm_unigrams(void *p, const int32_t *w, int n, float *out, int bound, rd_error *err) {
    const test_lm_cache *c = p;
    for (int i = 0; i < n; i++) out[i] = test_lm_bigram(c->lm->table, 0, w[i]);
    return RD_OK;
}
static inline rd_status test_lm_start(void *p, const int32_t *slot, int n, rd_error *err) {
    test_lm_cache *c = p;
    for (int i = 0; i < n; i++) c->prev[slot[i]] = 0;
    return RD_OK;
}
static inline rd_status test_lm_score(void *p, const int32_t *parent, const int32_t *word, const int32_t *child,
                                      int n, float *score, rd_error *err) {
    test_lm_cache *c = p;
    for (int i = 0; i < n; i++) score[i] = test_lm_bigram(c->lm->table, c->prev[parent[i]], word[i]);
    for (int i = 0; i < n; i++) c->tmp[i] = word[i];
    for (int i = 0; i < n; i++) c->prev[child[i]] = c->tmp[i];
    return RD_OK;
}
static inline rd_status test_lm_finish(void *p, const int32_t *slot, int n, float *score, rd_error *err) {
    test_lm_cache *c = p;
    for (int i = 0; i < n; i++) score[i] = test_lm_bigram(c->lm->table, c->prev[slot[i]], 1);
    return RD_OK;
}
static inline rd_status test_lm_reorder(void *p, const int32_t *surv, int n, rd_error *err) {
    test_lm_cache *c = p;
    for (int i = 0; i < n; i++) c->tmp[i] = c->prev[surv[i]];
    memcpy(c->prev, c->tmp, (size_t)n * sizeof(int32_t));
    return RD_OK;
}
static inline rd_status test_lm_copy(void *p, int32_t src, int32_t dst, rd_error *err) {
    test_lm_cache *c = p;
    c->prev[dst] = c->prev[src];
    return RD_OK;
}

static const lm_ops test_lm_ops = {"test", test_lm_model_free, test_lm_cache_create, test_lm_cache_free,
                                   test_lm_word, test_lm_known, test_lm_unigrams, test_lm_start, test_lm_score,
                                   test_lm_finish, test_lm_reorder, NULL, test_lm_copy, NULL, NULL, NULL, NULL,
                                   NULL, NULL};

/* ln p(the words of text (split at single spaces), then </s>) under lm, as
 * the search scores them; *n_words gets their count, *n_unk how many lm does
 * not know. */
static inline double test_lm_sentence(const test_lm *lm, const char *text, int *n_words, int *n_unk) {
    double s = 0;
    int32_t prev = 0;
    *n_words = *n_unk = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, " ");
        int32_t w = lm->word(p, len);
        s += test_lm_bigram(lm->table, prev, w);
        prev = w;
        ++*n_words;
        *n_unk += !lm->known(w);
        p += len + (p[len] == ' ');
    }
    return s + test_lm_bigram(lm->table, prev, 1);
}

/* ln(e^a + e^c) */
static inline double test_log_add(double a, double c) {
    if (a < c) { double t = a; a = c; c = t; }
    if (c == -INFINITY) return a;
    return a + log1p(exp(c - a));
}

/* T frames of V random logits (rand() after srand(seed)), made log-probabilities. */
static inline void random_logprobs(float *lp, int T, int V, unsigned seed) {
    srand(seed);
    for (int i = 0; i < T * V; i++) lp[i] = (float)(rand() % 1000) / 200.0f;
    assert_int_equal(dec_emissions_to_logprobs(lp, T, V, DEC_INPUT_LOGITS, "rand", NULL, NULL), RD_OK);
}

/* The units of a tokens text; the test fails (printing why) if it is refused. */
static inline lex_units *make_units(const char *text) {
    lex_units *u = NULL;
    rd_error err;
    rd_status st = lex_units_parse(text, strlen(text), "tokens", NULL, NULL, &u, &err);
    if (st != RD_OK) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(st, RD_OK);
    return u;
}

#endif
