/* tests/test_lm_start.c - lm_set_start: the warm start (--lm-state,
 * --lm-prefix) behind the LM interface; and the load options that replaced
 * the library's environment switches (no_avx512, state_int8_sim). A cache given a start begins every
 * lm_start there: the given state, then the text fed; an RWKV model keeps
 * the computed start and copies it into later slots; an n-gram model
 * rebuilds its context; a state given to a model without one fails at the
 * start, naming the call. */
#include "tests/testutil.h"

#include <math.h>

#include "lmstate/lm.h"

#define RWKV_MODEL "data/rwkv/tiny-rwkv7-fp32.pth"

static const char arpa_text[] =
    "\\data\\\nngram 1=5\nngram 2=3\n\n\\1-grams:\n-1.0\t<s>\t-0.3\n-0.7\t</s>\n"
    "-0.5\tthe\t-0.2\n-0.9\tcat\t-0.1\n-1.2\t<unk>\n\n\\2-grams:\n-0.2\t<s> the\n"
    "-0.3\tthe cat\n-0.4\tcat </s>\n\n\\end\\\n";

static lm_model *load(const char *path) {
    lm_load_options lo = {0};
    lm_model *m = NULL;
    rd_error err;
    if (lm_load(path, &lo, &m, &err) != RD_OK) fail_msg("%s", err.msg);
    return m;
}

/* ln p(word | slot) for one word, the slot unchanged (scored into slot 2). */
static float next_score(lm_cache *c, int32_t slot, const char *word) {
    rd_error err;
    int32_t w = lm_word(c, word, strlen(word)), child = 2;
    float s;
    assert_true(w >= 0);
    if (lm_score_words(c, &slot, &w, &child, 1, &s, &err) != RD_OK) fail_msg("%s", err.msg);
    return s;
}

/* RWKV: a start of (text) equals the model's start with the text fed, in
 * the first slot started (computed) and in a later one (copied); a start of
 * (state, text) continues from that state; NULL returns to the model's. */
static void test_rwkv_warm_start(void **state) {
    if (access(RWKV_MODEL, R_OK) != 0) skip();
    lm_model *m = load(RWKV_MODEL);
    size_t ss = lm_state_size(m);
    assert_true(ss > 0);
    lm_cache *ref, *c;
    rd_error err;
    assert_int_equal(lm_cache_create(m, 3, &ref, &err), RD_OK);
    assert_int_equal(lm_cache_create(m, 3, &c, &err), RD_OK);
    float *want = malloc(ss * sizeof *want), *got = malloc(ss * sizeof *got);
    assert_non_null(want);
    assert_non_null(got);
    int32_t wp, gp, s0 = 0, s1 = 1;

    assert_int_equal(lm_start(ref, &s0, 1, &err), RD_OK);
    assert_int_equal(lm_feed_text(ref, 0, "the cat", &err), RD_OK);
    assert_int_equal(lm_state_get(ref, 0, want, &wp, &err), RD_OK);
    lm_start_spec spec = {.text = " the  cat "};
    assert_int_equal(lm_set_start(c, &spec, &err), RD_OK);
    int32_t both[2] = {1, 0};
    assert_int_equal(lm_start(c, both, 2, &err), RD_OK);
    for (int s = 0; s < 2; s++) {
        assert_int_equal(lm_state_get(c, s, got, &gp, &err), RD_OK);
        assert_int_equal(gp, wp);
        assert_memory_equal(got, want, ss * sizeof *got);
    }
    assert_float_equal(next_score(c, 0, "sat"), next_score(ref, 0, "sat"), 0);

    /* a state, then text: as setting the state and feeding the text */
    float *given = malloc(ss * sizeof *given);
    assert_non_null(given);
    memcpy(given, want, ss * sizeof *given);
    lm_start_spec both_spec = {.state = given, .pending = wp, .text = "sat"};
    assert_int_equal(lm_set_start(c, &both_spec, &err), RD_OK);
    assert_int_equal(lm_feed_text(ref, 0, "sat", &err), RD_OK);
    assert_int_equal(lm_state_get(ref, 0, want, &wp, &err), RD_OK);
    for (int k = 0; k < 2; k++) { /* computed, then copied */
        assert_int_equal(lm_start(c, &s1, 1, &err), RD_OK);
        assert_int_equal(lm_state_get(c, 1, got, &gp, &err), RD_OK);
        assert_int_equal(gp, wp);
        assert_memory_equal(got, want, ss * sizeof *got);
    }

    /* NULL: the model's own start again */
    assert_int_equal(lm_set_start(c, NULL, &err), RD_OK);
    assert_int_equal(lm_start(c, &s1, 1, &err), RD_OK);
    assert_int_equal(lm_start(ref, &s0, 1, &err), RD_OK);
    assert_int_equal(lm_state_get(ref, 0, want, &wp, &err), RD_OK);
    assert_int_equal(lm_state_get(c, 1, got, &gp, &err), RD_OK);
    assert_int_equal(gp, wp);
    assert_memory_equal(got, want, ss * sizeof *got);

    free(given);
    free(want);
    free(got);
    lm_cache_free(ref);
    lm_cache_free(c);
    lm_free(m);
}

/* ARPA: a text start makes the next word's score the bigram after the
 * text's last word, at every start; a state fails at lm_start. */
static void test_arpa_warm_start(void **state) {
    char path[64];
    assert_non_null(rd_test_tmpfile(path, sizeof path, arpa_text, strlen(arpa_text)));
    lm_model *m = load(path);
    assert_int_equal(lm_state_size(m), 0);
    lm_cache *c;
    rd_error err;
    assert_int_equal(lm_cache_create(m, 3, &c, &err), RD_OK);
    int32_t s0 = 0, s1 = 1;
    assert_int_equal(lm_start(c, &s0, 1, &err), RD_OK);
    float cold = next_score(c, 0, "cat");
    lm_start_spec spec = {.text = "the"};
    assert_int_equal(lm_set_start(c, &spec, &err), RD_OK);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(lm_start(c, k ? &s1 : &s0, 1, &err), RD_OK);
        /* ln p(cat | the) = -0.3 * ln 10 */
        assert_float_equal(next_score(c, k, "cat"), -0.3f * (float)M_LN10, 1e-5);
    }
    assert_true(cold != next_score(c, 0, "cat"));

    float st[1] = {0};
    lm_start_spec bad = {.state = st};
    assert_int_equal(lm_set_start(c, &bad, &err), RD_OK);
    assert_int_equal(lm_start(c, &s0, 1, &err), RD_ERR_USAGE);
    assert_non_null(strstr(err.msg, "lm_state_set"));
    assert_non_null(strstr(err.msg, "no recurrent state"));
    lm_cache_free(c);
    lm_free(m);
    unlink(path);
}

/* The state after a text with lm_load_options (threads 1, and extra). */
static void state_after(const lm_load_options *extra, const char *text, float *state, size_t ss) {
    lm_load_options lo = *extra;
    lm_model *m = NULL;
    lm_cache *c = NULL;
    rd_error err;
    if (lm_load(RWKV_MODEL, &lo, &m, &err) != RD_OK) fail_msg("%s", err.msg);
    assert_int_equal(lm_state_size(m), ss);
    assert_int_equal(lm_cache_create(m, 3, &c, &err), RD_OK);
    int32_t s0 = 0, pending;
    assert_int_equal(lm_start(c, &s0, 1, &err), RD_OK);
    assert_int_equal(lm_feed_text(c, 0, text, &err), RD_OK);
    assert_int_equal(lm_state_get(c, 0, state, &pending, &err), RD_OK);
    lm_cache_free(c);
    lm_free(m);
}

/* state_int8_sim (was RD_STATE_INT8_SIM) rounds the states the model
 * writes: they move, by at most a step of the row's int8 scale; no_avx512
 * (was RWKV_NO_AVX512) changes the product path only, not the result
 * beyond rounding. Without either, two loads agree bit for bit. */
static void test_load_options(void **state) {
    if (access(RWKV_MODEL, R_OK) != 0) skip();
    lm_load_options plain = {0}, sim = {.state_int8_sim = 1}, no512 = {.no_avx512 = 1};
    lm_model *m = load(RWKV_MODEL);
    size_t ss = lm_state_size(m);
    lm_free(m);
    float *a = malloc(ss * sizeof *a), *b = malloc(ss * sizeof *b), *r = malloc(ss * sizeof *r);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(r);
    const char *text = "the cat sat on the mat";
    state_after(&plain, text, a, ss);
    state_after(&plain, text, b, ss);
    assert_memory_equal(a, b, ss * sizeof *a);
    state_after(&sim, text, r, ss);
    float amax = 0, dmax = 0;
    for (size_t i = 0; i < ss; i++) {
        amax = fmaxf(amax, fabsf(a[i]));
        dmax = fmaxf(dmax, fabsf(a[i] - r[i]));
    }
    assert_true(dmax > 0);
    assert_true(dmax <= 0.05f * amax);
    state_after(&no512, text, b, ss);
    for (size_t i = 0; i < ss; i++) assert_float_equal(a[i], b[i], 1e-3 + 1e-3 * fabsf(a[i]));
    free(a);
    free(b);
    free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rwkv_warm_start),
        cmocka_unit_test(test_arpa_warm_start),
        cmocka_unit_test(test_load_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
