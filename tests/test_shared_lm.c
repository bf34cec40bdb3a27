/* One lm_model shared by several decoders, each in its own thread (what
 * rwkv-decode --threads does): every decoder gives, bit for bit, what a
 * decoder with a model of its own gives. The model's read-only part (the
 * RWKV word table with its unigram and look-ahead values) is built by
 * whichever thread asks first and read by the others; run under
 * make check-asan (and ThreadSanitizer by hand) this is the test of that
 * sharing. */
#include "tests/testutil.h"
#include <math.h>
#include <pthread.h>
#include "decoder/decoder.h"
#include "decoder/emissions.h"
#include "lexicon/lexicon.h"
#include "lexicon/units.h"
#include "lmstate/lm.h"

#define MODEL "data/rwkv/tiny-rwkv7-fp32.pth"
#define N_THREADS 3
#define N_UTT 4
#define T_FRAMES 30

static const char tokens[] = "<blank>\n|\na\nb\nc\nd\ne\nh\ni\nn\no\nr\ns\nt\n";
static const char lexicon[] = "the t h e\na a\nan a n\nand a n d\ncat c a t\nhat h a t\n"
                              "hot h o t\nnot n o t\nnote n o t e\nrat r a t\nrats r a t s\nsat s a t\n"
                              "tan t a n\nten t e n\nto t o\ntoo t o o\ntwo t o o\ndoes d o e s\n"
                              "dose d o s e\nhis h i s\nthis t h i s\nor o r\nore o r e\n";

typedef struct {
    char text[256];
    float score, lm;
} result;

typedef struct {
    const lex_units *u;
    const lex_lexicon *l;
    lm_model *m; /* shared, or NULL: load one of its own */
    const float *lp;
    int V;
    result r[N_UTT];
    rd_status st;
} job;

static void *run_job(void *p) {
    job *j = p;
    rd_error err;
    lm_model *own = NULL;
    lm_load_options lo = {0};
    if (!j->m && (j->st = lm_load(MODEL, &lo, &own, &err)) != RD_OK) return NULL;
    dec_options o;
    dec_options_default(&o);
    o.beam = 16;
    o.lm_weight = 0.6f;
    o.word_score = 0.5f;
    dec_decoder *d = NULL;
    j->st = dec_create(&o, j->u, j->l, j->m ? j->m : own, &d, &err);
    for (int k = 0; k < N_UTT && j->st == RD_OK; k++) {
        j->st = dec_decode(d, j->lp + (size_t)k * T_FRAMES * j->V, T_FRAMES, &err);
        const dec_hyp *h = j->st == RD_OK ? dec_nbest(d, 0) : NULL;
        if (!h) {
            j->st = j->st == RD_OK ? RD_ERR_INTERNAL : j->st;
            break;
        }
        snprintf(j->r[k].text, sizeof j->r[k].text, "%s", h->text);
        j->r[k].score = h->score;
        j->r[k].lm = h->lm;
    }
    dec_free(d);
    lm_free(own);
    return NULL;
}

static void test_shared_model_same_results(void **state) {
    rd_error err;
    lex_units *u = NULL;
    lex_lexicon *l = NULL;
    assert_int_equal(lex_units_parse(tokens, strlen(tokens), "tokens", NULL, NULL, &u, &err), RD_OK);
    assert_int_equal(lex_lexicon_parse(lexicon, strlen(lexicon), "lex", u, &l, NULL, &err), RD_OK);
    int V = lex_units_count(u);
    float *lp = calloc((size_t)N_UTT * T_FRAMES * V, sizeof *lp);
    assert_non_null(lp);
    srand(7);
    for (int i = 0; i < N_UTT * T_FRAMES * V; i++) lp[i] = (float)(rand() % 1000) / 150.0f;
    assert_int_equal(dec_emissions_to_logprobs(lp, N_UTT * T_FRAMES, V, DEC_INPUT_LOGITS, "rand", NULL, NULL),
                     RD_OK);
    lm_model *shared = NULL;
    lm_load_options lo = {0};
    if (lm_load(MODEL, &lo, &shared, &err) != RD_OK) fail_msg("%s", err.msg);
    /* each alone, one model each: the reference */
    job own[N_THREADS], sh[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        own[t] = (job){.u = u, .l = l, .m = NULL, .lp = lp, .V = V};
        run_job(&own[t]);
        assert_int_equal(own[t].st, RD_OK);
    }
    /* all at once, one model: its word table filled by the threads together */
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        sh[t] = (job){.u = u, .l = l, .m = shared, .lp = lp, .V = V};
        assert_int_equal(pthread_create(&th[t], NULL, run_job, &sh[t]), 0);
    }
    for (int t = 0; t < N_THREADS; t++) assert_int_equal(pthread_join(th[t], NULL), 0);
    int words = 0;
    for (int t = 0; t < N_THREADS; t++) {
        assert_int_equal(sh[t].st, RD_OK);
        for (int k = 0; k < N_UTT; k++) {
            assert_string_equal(sh[t].r[k].text, own[0].r[k].text);
            assert_string_equal(own[t].r[k].text, own[0].r[k].text);
            assert_memory_equal(&sh[t].r[k].score, &own[0].r[k].score, sizeof(float)); /* bit for bit */
            assert_memory_equal(&sh[t].r[k].lm, &own[0].r[k].lm, sizeof(float));
            words += sh[t].r[k].text[0] != '\0';
        }
    }
    assert_true(words > 0); /* the emissions decoded to words: the LM was asked */
    /* the shared model decodes on alone afterwards, the same again */
    job again = {.u = u, .l = l, .m = shared, .lp = lp, .V = V};
    run_job(&again);
    assert_int_equal(again.st, RD_OK);
    for (int k = 0; k < N_UTT; k++) {
        assert_string_equal(again.r[k].text, own[0].r[k].text);
        assert_memory_equal(&again.r[k].score, &own[0].r[k].score, sizeof(float));
    }
    lm_free(shared);
    free(lp);
    lex_lexicon_free(l);
    lex_units_free(u);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_shared_model_same_results)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
