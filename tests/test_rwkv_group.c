/* tests/test_rwkv_group.c - rwkv_group: several threads' forward calls as
 * one batch. Every call's status, logits and written states must equal, bit
 * for bit, the same call made alone (rwkv_forward), whatever the
 * interleaving, so no test depends on timing:
 * - members all ready before the first runs: each round's calls run as one
 *   batch a model, counted exactly (test_group_v7, test_group_two_models);
 * - the reviewer's stress test: six threads, two models, 0..300 rows a call
 *   (batches past the group's 256 rows), with and without logits, some
 *   refused, members leaving and entering between calls, states stored as
 *   f32, f16 or bf16, workspaces with and without a thread pool;
 * - misuse: a call from outside the group, entering twice. */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>

#include "lmstate/rwkv/rwkv.h"
#include "lmstate/rwkv/rwkv_group.h"
#include "testrwkv.h"

#define LANES 6
#define SLOTS 24
#ifndef STEPS
#define STEPS 24
#endif
#define MAX_N 300

static const char *const V7_FP32 = "rwkv/tiny-rwkv-7v0-834K-FP32.bin";
static const char *const V4_FP32 = "rwkv/tiny-rwkv-4v0-660K-FP32.bin";

enum { NM = 2 };

typedef struct lane {
    int id;
    rwkv_group *g;
    rwkv_model *const *m;
    slots s[NM], d[NM], s2[NM], d2[NM]; /* group's, then mirror */
    rwkv_workspace *ws[NM], *solo[NM];
    float *lg, *lg2;
    int distinct; /* each row of a call writes its own slot (n <= SLOTS) */
    int bad;
    char msg[300];
    long long calls, rows;
} lane;

static uint32_t rnd(uint32_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void *lane_main(void *arg) {
    lane *L = arg;
    uint32_t r = 0x9e3779b9u * (uint32_t)(L->id + 1);
    rd_error e, e2;
    if (rwkv_group_enter(L->g, &e) != RD_OK) {
        L->bad = 1;
        snprintf(L->msg, sizeof L->msg, "enter: %s", e.msg);
        return NULL;
    }
    static const int sizes[] = {0, 1, 2, 3, 7, 40, 129, 255, 256, 257, 300};
    int32_t tok[MAX_N], src[MAX_N], dst[MAX_N];
    for (int step = 0; step < STEPS && !L->bad; step++) {
        int mi = (int)(rnd(&r) % NM);
        const rwkv_model *m = L->m[mi];
        int V = rwkv_n_vocab(m);
        int n = sizes[rnd(&r) % (sizeof sizes / sizeof *sizes)];
        if ((size_t)n * (size_t)V > 300u * 256u) n = 300 * 256 / V;
        if (L->distinct && n > SLOTS) n = SLOTS;
        for (int i = 0; i < n; i++) {
            tok[i] = (int32_t)(rnd(&r) % (uint32_t)V);
            src[i] = (int32_t)(rnd(&r) % SLOTS);
            dst[i] = i;
        }
        for (int i = n - 1; i > 0; i--) { /* shuffled; repeats unless distinct */
            int j = (int)(rnd(&r) % (uint32_t)(i + 1));
            int32_t t = dst[i];
            dst[i] = dst[j], dst[j] = t;
            if (!L->distinct) dst[i] = (int32_t)(rnd(&r) % SLOTS);
        }
        for (int i = 0; i < n; i++) dst[i] %= SLOTS;
        int refuse = n > 0 && rnd(&r) % 10 == 0;
        if (refuse) tok[rnd(&r) % (uint32_t)n] = V; /* out of range */
        int want = rnd(&r) % 4 != 0;
        rd_status a = rwkv_group_forward(L->g, L->ws[mi], n, tok, &L->s[mi].v, src, &L->d[mi].v, dst,
                                         want ? L->lg : NULL, &e);
        rd_status b = rwkv_forward(m, L->solo[mi], n, tok, &L->s2[mi].v, src, &L->d2[mi].v, dst,
                                   want ? L->lg2 : NULL, &e2);
        L->calls++;
        L->rows += n;
        if (a != b) {
            L->bad = 1;
            snprintf(L->msg, sizeof L->msg, "lane %d step %d: status %d, solo %d (%s / %s)", L->id, step, a, b,
                     a ? e.msg : "", b ? e2.msg : "");
        } else if (a == RD_OK && want && memcmp(L->lg, L->lg2, (size_t)n * (size_t)V * sizeof(float)) != 0) {
            L->bad = 1;
            snprintf(L->msg, sizeof L->msg, "lane %d step %d: logits differ (n %d, model %d)", L->id, step, n, mi);
        } else if (!slots_equal(&L->d[mi], &L->d2[mi])) {
            L->bad = 1;
            snprintf(L->msg, sizeof L->msg, "lane %d step %d: states differ (n %d, model %d, status %d)", L->id,
                     step, n, mi, a);
        }
        if (a == RD_OK) { /* the new states are next call's sources */
            slots t = L->s[mi];
            L->s[mi] = L->d[mi], L->d[mi] = t;
            t = L->s2[mi];
            L->s2[mi] = L->d2[mi], L->d2[mi] = t;
        }
        if (rnd(&r) % 8 == 0) { /* leave and come back: the turn passes on */
            rwkv_group_leave();
            if (rwkv_group_current() != NULL) L->bad = 1;
            if (rwkv_group_enter(L->g, &e) != RD_OK) {
                L->bad = 1;
                snprintf(L->msg, sizeof L->msg, "re-enter: %s", e.msg);
                return NULL;
            }
        }
    }
    rwkv_group_leave();
    return NULL;
}

static void run_lanes(int members, int threads_per_ws) {
    rwkv_model *m[NM];
    m[0] = load_or_skip("rwkv/english-rwkv7-2m-bytes.pth");
    m[1] = load_or_skip(V4_FP32);
    rwkv_group *g;
    rd_error err;
    assert_int_equal(rwkv_group_create(members, &g, &err), RD_OK);
    static lane L[LANES];
    pthread_t th[LANES];
    size_t maxv = 0;
    for (int i = 0; i < NM; i++)
        if ((size_t)rwkv_n_vocab(m[i]) > maxv) maxv = (size_t)rwkv_n_vocab(m[i]);
    for (int t = 0; t < LANES; t++) {
        memset(&L[t], 0, sizeof L[t]);
        L[t].id = t;
        L[t].g = g;
        L[t].m = m;
        /* with a pool, rows of one call run side by side: two writing one
         * slot would race (in rwkv_forward alone too) */
        L[t].distinct = threads_per_ws > 1;
        /* lanes store states as f32, f16 or bf16: one batch mixes them */
        rd_dtype dt = t % 3 == 0 ? RD_F32 : t % 3 == 1 ? RD_F16 : RD_BF16;
        for (int i = 0; i < NM; i++) {
            slots_make(m[i], SLOTS, dt, &L[t].s[i]);
            slots_make(m[i], SLOTS, dt, &L[t].d[i]);
            slots_make(m[i], SLOTS, dt, &L[t].s2[i]);
            slots_make(m[i], SLOTS, dt, &L[t].d2[i]);
            /* the callers' own workspaces are small: the group's is its own */
            assert_int_equal(rwkv_workspace_create(m[i], 4, threads_per_ws, &L[t].ws[i], &err), RD_OK);
            assert_int_equal(rwkv_workspace_create(m[i], MAX_N, 1, &L[t].solo[i], &err), RD_OK);
        }
        L[t].lg = malloc(300u * 256u * sizeof(float) > MAX_N * maxv * sizeof(float) ? 300u * 256u * sizeof(float)
                                                                                     : MAX_N * maxv * sizeof(float));
        L[t].lg2 = malloc(300u * 256u * sizeof(float) > MAX_N * maxv * sizeof(float) ? 300u * 256u * sizeof(float)
                                                                                      : MAX_N * maxv * sizeof(float));
    }
    int lanes = members < LANES ? members : LANES;
    for (int t = 0; t < lanes; t++) assert_int_equal(pthread_create(&th[t], NULL, lane_main, &L[t]), 0);
    for (int t = 0; t < lanes; t++) pthread_join(th[t], NULL);
    long long calls = 0, rows = 0;
    for (int t = 0; t < lanes; t++) {
        if (L[t].bad) fail_msg("%s", L[t].msg);
        calls += L[t].calls;
        rows += L[t].rows;
    }
    long long gc, gb, gr;
    rwkv_group_counts(g, &gc, &gb, &gr);
    if (getenv("GROUP_VERBOSE")) fprintf(stderr, "calls %lld batches %lld rows %lld\n", gc, gb, gr);
    assert_int_equal(gc, calls);
    assert_true(gr <= rows); /* refused calls run nothing */
    assert_int_equal(rwkv_group_ready(g), 0);
    for (int t = 0; t < LANES; t++) {
        for (int i = 0; i < NM; i++) {
            slots_free(&L[t].s[i]), slots_free(&L[t].d[i]), slots_free(&L[t].s2[i]), slots_free(&L[t].d2[i]);
            rwkv_workspace_free(L[t].ws[i]);
            rwkv_workspace_free(L[t].solo[i]);
        }
        free(L[t].lg), free(L[t].lg2);
    }
    rwkv_group_free(g);
    for (int i = 0; i < NM; i++) rwkv_free(m[i]);
}

#define G_ROUNDS 6
#define G_ROWS 100 /* rows of a member's biggest call: three members pass GROUP_ROWS */

/* One member's calls: round r feeds n[r] rows of its own slots (fresh
 * children 5.. from parents 0..4, or in place), wanting logits or not. */
typedef struct gscript {
    const rwkv_model *m;
    rwkv_workspace *ws;
    rwkv_group *g; /* NULL: each call alone (the reference) */
    slots s;
    int n[G_ROUNDS];
    int32_t tok[G_ROUNDS][G_ROWS], src[G_ROUNDS][G_ROWS], dst[G_ROUNDS][G_ROWS];
    float *logits[G_ROUNDS];
    rd_status st[G_ROUNDS];
    char msg[G_ROUNDS][RD_ERROR_MSG_MAX];
} gscript;

static void gscript_make(gscript *x, const rwkv_model *m, int k, rd_dtype dt, int big, int bad) {
    rd_error err;
    memset(x, 0, sizeof *x);
    x->m = m;
    assert_int_equal(rwkv_workspace_create(m, G_ROWS, 1, &x->ws, &err), RD_OK);
    slots_make(m, 5 + G_ROWS, dt, &x->s);
    for (int i = 0; i < 5; i++) /* parents with histories of their own */
        for (int t = 0; t <= (i + k) % 3; t++) {
            int32_t tok = (int32_t)((i * 37 + t * 11 + k * 5) % 256), slot = i;
            assert_int_equal(rwkv_forward(m, x->ws, 1, &tok, &x->s.v, &slot, &x->s.v, &slot, NULL, &err), RD_OK);
        }
    for (int r = 0; r < G_ROUNDS; r++) {
        int n = r == G_ROUNDS - 1 && big ? G_ROWS : 1 + (r * 3 + k) % 5;
        x->n[r] = n;
        for (int i = 0; i < n; i++) {
            x->tok[r][i] = (int32_t)((r * 31 + i * 7 + k) % 256);
            x->src[r][i] = r % 2 && n <= 5 ? i : (i + r) % 5;
            x->dst[r][i] = r % 2 && n <= 5 ? i : 5 + i;
        }
        if (bad && r == 2) x->tok[r][n - 1] = 300;
        if (r % 3 != 2) x->logits[r] = calloc((size_t)n * (size_t)rwkv_n_vocab(m), sizeof(float));
    }
}

static void gscript_free(gscript *x) {
    for (int r = 0; r < G_ROUNDS; r++) free(x->logits[r]);
    slots_free(&x->s);
    rwkv_workspace_free(x->ws);
}

static void gscript_run(gscript *x) {
    for (int r = 0; r < G_ROUNDS; r++) {
        rd_error err;
        rd_error_clear(&err);
        x->st[r] = x->g ? rwkv_group_forward(x->g, x->ws, x->n[r], x->tok[r], &x->s.v, x->src[r], &x->s.v,
                                             x->dst[r], x->logits[r], &err)
                        : rwkv_forward(x->m, x->ws, x->n[r], x->tok[r], &x->s.v, x->src[r], &x->s.v, x->dst[r],
                                       x->logits[r], &err);
        snprintf(x->msg[r], sizeof x->msg[r], "%s", x->st[r] == RD_OK ? "" : err.msg);
    }
}

static void *gscript_member(void *p) {
    gscript *x = p;
    rd_error err;
    if (rwkv_group_enter(x->g, &err) != RD_OK) return p; /* x->st[0] stays RD_OK: the comparison fails */
    gscript_run(x);
    rwkv_group_leave();
    return NULL;
}

/* K members (models[k], state dtype dts[k]) in one group, every member
 * ready before the first runs: each round's calls run as one batch a model
 * (pieces of at most 256 rows), and every call's logits, states and status
 * are bit for bit those of the same calls made alone. Member 1's third call
 * has a token out of range: it alone fails, with rwkv_forward's message. */
static void group_equals_alone(const char *const *models, const rd_dtype *dts, int K, int big,
                               long long want_batches) {
    rwkv_model *m[4] = {NULL};
    for (int k = 0; k < K; k++) {
        for (int j = 0; j < k && !m[k]; j++)
            if (strcmp(models[j], models[k]) == 0) m[k] = m[j];
        if (!m[k]) m[k] = load_or_skip(models[k]);
    }
    static gscript alone[3], in[3];
    assert_true(K >= 1 && K <= 3);
    for (int k = 0; k < K; k++) {
        gscript_make(&alone[k], m[k], k, dts[k], big, k == 1);
        gscript_make(&in[k], m[k], k, dts[k], big, k == 1);
        gscript_run(&alone[k]);
    }
    rd_error err;
    rwkv_group *g;
    assert_int_equal(rwkv_group_create(K + 1, &g, &err), RD_OK);
    /* this thread holds the turn until every member waits for it */
    assert_int_equal(rwkv_group_enter(g, &err), RD_OK);
    assert_ptr_equal(rwkv_group_current(), g);
    pthread_t th[4];
    for (int k = 0; k < K; k++) {
        in[k].g = g;
        assert_int_equal(pthread_create(&th[k], NULL, gscript_member, &in[k]), 0);
    }
    while (rwkv_group_ready(g) < K) sched_yield();
    rwkv_group_leave();
    assert_null(rwkv_group_current());
    for (int k = 0; k < K; k++) {
        void *ret;
        assert_int_equal(pthread_join(th[k], &ret), 0);
        assert_null(ret);
    }
    assert_int_equal(alone[1].st[2], RD_ERR_INPUT);
    long long calls, batches, rows, want_rows = 0;
    rwkv_group_counts(g, &calls, &batches, &rows);
    for (int k = 0; k < K; k++)
        for (int r = 0; r < G_ROUNDS; r++) want_rows += in[k].st[r] == RD_OK ? in[k].n[r] : 0;
    assert_int_equal(calls, K * G_ROUNDS);
    assert_int_equal(batches, want_batches);
    assert_int_equal(rows, want_rows);
    rwkv_group_free(g);
    for (int k = 0; k < K; k++) {
        size_t V = (size_t)rwkv_n_vocab(m[k]);
        for (int r = 0; r < G_ROUNDS; r++) {
            assert_int_equal(in[k].st[r], alone[k].st[r]);
            assert_string_equal(in[k].msg[r], alone[k].msg[r]);
            if (in[k].logits[r] && in[k].st[r] == RD_OK)
                assert_memory_equal(in[k].logits[r], alone[k].logits[r], (size_t)in[k].n[r] * V * sizeof(float));
        }
        size_t es = dts[k] == RD_F32 ? 4 : 2;
        rwkv_kind_info info[RWKV_MAX_KINDS];
        int nk = rwkv_state_kinds(m[k], info);
        for (int q = 0; q < nk; q++) /* every slot of every kind, as stored */
            assert_memory_equal(in[k].s.mem[q], alone[k].s.mem[q],
                                info[q].size * (size_t)(5 + G_ROWS) * (size_t)rwkv_n_layer(m[k]) * es);
        gscript_free(&alone[k]);
        gscript_free(&in[k]);
    }
    for (int k = 0; k < K; k++) {
        int first = 1;
        for (int j = 0; j < k; j++) first &= m[j] != m[k];
        if (first) rwkv_free(m[k]);
    }
}

static void test_group_v7(void **s) {
    const char *models[3] = {V7_FP32, V7_FP32, V7_FP32};
    const rd_dtype dts[3] = {RD_F32, RD_F16, RD_F32};
    /* a batch a round; the last round's 300 rows run as 256 + 44 */
    group_equals_alone(models, dts, 3, 1, G_ROUNDS + 1);
}

static void test_group_two_models(void **s) {
    const char *models[3] = {V7_FP32, V4_FP32, V7_FP32};
    const rd_dtype dts[3] = {RD_F32, RD_F32, RD_F16};
    /* a batch a model a round (member 1, the only RWKV-4 one, fails alone
     * in round 2: no RWKV-4 batch then) */
    group_equals_alone(models, dts, 3, 0, 2 * G_ROUNDS - 1);
}

static void test_group_misuse(void **s) {
    rwkv_model *m = load_or_skip(V7_FP32);
    rd_error err;
    rwkv_group *g = NULL;
    assert_int_equal(rwkv_group_create(0, &g, &err), RD_ERR_USAGE);
    assert_string_equal(err.msg, "rwkv group: members must be 1..1024, got 0");
    assert_int_equal(rwkv_group_create(1, &g, &err), RD_OK);
    rwkv_workspace *ws;
    assert_int_equal(rwkv_workspace_create(m, 1, 1, &ws, &err), RD_OK);
    int32_t tok = 1, slot = 0;
    float *st = malloc(rwkv_state_size(m) * sizeof(float));
    rwkv_state_view v;
    rwkv_state_view_single(m, st, &v);
    rwkv_state_reset(m, &v, 0);
    assert_int_equal(rwkv_group_forward(g, ws, 1, &tok, &v, &slot, &v, &slot, NULL, &err), RD_ERR_INTERNAL);
    assert_string_equal(err.msg, "rwkv group: forward by a thread not in the group");
    assert_int_equal(rwkv_group_enter(g, &err), RD_OK);
    assert_int_equal(rwkv_group_enter(g, &err), RD_ERR_INTERNAL);
    assert_string_equal(err.msg, "rwkv group: this thread is in a group already");
    /* a member alone: its call runs at once */
    assert_int_equal(rwkv_group_forward(g, ws, 1, &tok, &v, &slot, &v, &slot, NULL, &err), RD_OK);
    rwkv_group_leave();
    long long calls, batches, rows;
    rwkv_group_counts(g, &calls, &batches, &rows);
    assert_int_equal(calls, 1);
    assert_int_equal(batches, 1);
    assert_int_equal(rows, 1);
    free(st);
    rwkv_workspace_free(ws);
    rwkv_group_free(g);
    rwkv_free(m);
}

static void test_group_matches_solo(void **s) { run_lanes(LANES, 1); }
static void test_group_of_one(void **s) { run_lanes(1, 1); }
/* the callers' workspaces have a pool of 3 threads: so has the group's */
static void test_group_pool(void **s) { run_lanes(LANES, 3); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_v7),
        cmocka_unit_test(test_group_two_models),
        cmocka_unit_test(test_group_misuse),
        cmocka_unit_test(test_group_matches_solo),
        cmocka_unit_test(test_group_of_one),
        cmocka_unit_test(test_group_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
