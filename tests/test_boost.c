/* tests/test_boost.c - the hotword automaton against a brute-force scorer,
 * and the hotword file parser's errors. */
#include "tests/testutil.h"

#include <math.h>

#include "decoder/boost.h"

#define NW 4
static const char *const words[NW] = {"a", "b", "c", "d"};

typedef struct phrase {
    int n;
    int w[4];
    float weight;
} phrase;

/* Phrases after merging repeats (largest weight kept). */
static int dedup(const phrase *p, int n, phrase *out) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        for (; j < m; j++)
            if (out[j].n == p[i].n && memcmp(out[j].w, p[i].w, (size_t)p[i].n * sizeof(int)) == 0) break;
        if (j == m) out[m++] = p[i];
        else if (p[i].weight > out[j].weight) out[j].weight = p[i].weight;
    }
    return m;
}

/* Complete occurrences in seq[0..n): sum of weight * length. */
static double complete_bonus(const phrase *p, int np, const int *seq, int n) {
    double s = 0;
    for (int i = 0; i < np; i++)
        for (int at = 0; at + p[i].n <= n; at++)
            if (memcmp(seq + at, p[i].w, (size_t)p[i].n * sizeof(int)) == 0) s += p[i].weight * p[i].n;
    return s;
}

static int has_prefix(const phrase *p, const int *s, int k) {
    return p->n >= k && memcmp(p->w, s, (size_t)k * sizeof(int)) == 0;
}

/* Partial credit after seq[0..n): the longest suffix that begins some
 * phrase; along it, each word's largest weight of the phrases through it,
 * less the phrases that end on the way, floored at 0. */
static double partial_credit(const phrase *p, int np, const int *seq, int n) {
    for (int start = 0; start <= n; start++) {
        const int *s = seq + start;
        int k = n - start, any = 0;
        for (int i = 0; i < np && !any; i++) any = k > 0 && has_prefix(&p[i], s, k);
        if (!any) continue;
        double path = 0, paid = 0;
        for (int j = 1; j <= k; j++) {
            double best = -INFINITY;
            for (int i = 0; i < np; i++)
                if (has_prefix(&p[i], s, j) && p[i].weight > best) best = p[i].weight;
            path += best;
            for (int i = 0; i < np; i++)
                if (p[i].n == j && has_prefix(&p[i], s, j)) paid += p[i].weight * j;
        }
        return path - paid > 0 ? path - paid : 0;
    }
    return 0;
}

static void test_automaton_matches_brute_force(void **state) {
    srand(1234);
    for (int round = 0; round < 300; round++) {
        phrase p[8], u[8];
        int np = 1 + rand() % 8;
        const char *text[8];
        char buf[8][32];
        float wt[8];
        for (int i = 0; i < np; i++) {
            p[i].n = 1 + rand() % 4;
            char *q = buf[i];
            for (int j = 0; j < p[i].n; j++) {
                p[i].w[j] = rand() % (NW - 1); /* "d" is never boosted */
                q += sprintf(q, "%s%s", j ? " " : "", words[p[i].w[j]]);
            }
            p[i].weight = (float)(rand() % 9) * 0.5f - (round % 5 == 0 ? 1.0f : 0.0f);
            wt[i] = p[i].weight;
            text[i] = buf[i];
        }
        int nu = dedup(p, np, u);
        boost_graph *g;
        rd_error err;
        assert_int_equal(boost_from_phrases(text, wt, np, 1.0f, &g, &err), RD_OK);
        assert_int_equal(boost_phrase_count(g), nu);
        for (int trial = 0; trial < 20; trial++) {
            int seq[12], n = rand() % 12;
            int32_t s = 0;
            double total = 0;
            for (int k = 0; k < n; k++) {
                seq[k] = rand() % NW;
                int32_t tok = boost_token(g, words[seq[k]], 1);
                total += boost_step(g, s, tok, &s);
                double want = complete_bonus(u, nu, seq, k + 1) + partial_credit(u, nu, seq, k + 1);
                assert_float_equal(total, want, 1e-4);
                assert_float_equal(boost_partial(g, s), partial_credit(u, nu, seq, k + 1), 1e-4);
            }
            /* the end takes back the partial credit: exactly the complete phrases */
            assert_float_equal(total - boost_partial(g, s), complete_bonus(u, nu, seq, n), 1e-4);
        }
        boost_free(g);
    }
}

/* "new york city": "new york" earns partial credit, "new york state" takes
 * it back. */
static void test_partial_credit_revoked(void **state) {
    const char *ph[] = {"new york city"};
    boost_graph *g;
    rd_error err;
    assert_int_equal(boost_from_phrases(ph, NULL, 1, 2.0f, &g, &err), RD_OK);
    int32_t s = 0;
    float t = boost_step(g, s, boost_token(g, "new", 3), &s);
    t += boost_step(g, s, boost_token(g, "york", 4), &s);
    assert_float_equal(t, 4.0, 1e-6);
    t += boost_step(g, s, boost_token(g, "state", 5), &s);
    assert_float_equal(t, 0.0, 1e-6);
    assert_int_equal(s, 0);
    s = 0;
    t = 0;
    const char *w[] = {"new", "york", "city"};
    for (int i = 0; i < 3; i++) t += boost_step(g, s, boost_token(g, w[i], strlen(w[i])), &s);
    assert_float_equal(t - boost_partial(g, s), 6.0, 1e-6);
    boost_free(g);
}

static void expect_error(const char *text, const char *msg) {
    boost_graph *g = NULL;
    rd_error err;
    assert_int_equal(boost_parse(text, strlen(text), "hot.txt", 1.5f, &g, &err), RD_ERR_INPUT);
    assert_null(g);
    assert_string_equal(err.msg, msg);
}

static void test_parser(void **state) {
    const char *ok = "# names\n\nnew york :3\n  gnocchi{n y o k i}  alla :0.5\nsolo\nnew york :2\n";
    boost_graph *g;
    rd_error err;
    assert_int_equal(boost_parse(ok, strlen(ok), "hot.txt", 1.5f, &g, &err), RD_OK);
    assert_int_equal(boost_phrase_count(g), 3);
    assert_int_equal(boost_word_count(g), 5);
    assert_int_equal(boost_pron_count(g), 1);
    const char *w, *u;
    long line;
    const char *file;
    boost_pron(g, 0, &w, &u, &file, &line);
    assert_string_equal(file, "hot.txt");
    assert_string_equal(w, "gnocchi");
    assert_string_equal(u, "n y o k i");
    assert_int_equal(line, 4);
    assert_int_equal(boost_word_line(g, boost_token(g, "solo", 4)), 5);
    int32_t s = 0;
    float t = boost_step(g, 0, boost_token(g, "new", 3), &s);
    t += boost_step(g, s, boost_token(g, "york", 4), &s);
    assert_float_equal(t, 6.0, 1e-6); /* the larger weight, per word */
    assert_float_equal(boost_step(g, 0, boost_token(g, "solo", 4), &s), 1.5, 1e-6);
    boost_free(g);

    expect_error("a b\nc :x\n", "hot.txt:2: expected a weight after ':' (a finite number), found ':x'");
    expect_error("a :1 b\n", "hot.txt:1: expected the weight ':W' last on the line, found more after it");
    expect_error("\n:2\n", "hot.txt:2: expected a phrase (one or more words) before the weight");
    expect_error("x{a b\n", "hot.txt:1: expected '}' closing the units of 'x'");
    expect_error("x{ }\n", "hot.txt:1: expected at least one unit in '{}' after 'x'");
    expect_error("ok\n{a}\n", "hot.txt:2: expected a word before '{'");
    expect_error("x{a}y\n", "hot.txt:1: expected a space after '}'");
    expect_error("a :inf\n", "hot.txt:1: expected a weight after ':' (a finite number), found ':inf'");
    /* fuzz: a weight near FLT_MAX made a three-word phrase's partial credit inf, then NaN */
    expect_error("a b c :3.3e38\n", "hot.txt:1: expected a weight between -1000 and 1000, found ':3.3e38'");
    expect_error("a :-1001\n", "hot.txt:1: expected a weight between -1000 and 1000, found ':-1001'");
    expect_error("\xff\n", "hot.txt:1: expected words in utf-8");
    /* fuzz: units with a NUL byte were cut short */
    boost_graph *nul = NULL;
    assert_int_equal(boost_parse("x{a\0b}\n", 7, "hot.txt", 1.0f, &nul, &err), RD_ERR_INPUT);
    assert_string_equal(err.msg, "hot.txt:1: expected units in utf-8 after 'x'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_automaton_matches_brute_force),
        cmocka_unit_test(test_partial_credit_revoked),
        cmocka_unit_test(test_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
