/* decoder/rescore.c - n-best rescoring: every hypothesis's words and </s>
 * scored by a second LM, prefixes shared, then a re-rank.
 *
 * The hypotheses are sorted by their word handles, so that those sharing a
 * prefix of t + 1 words are adjacent; at word position t, only the first of
 * each such run (a "leader") is scored, in one batched lm_score_words call,
 * and the others take its score and state. States alternate between two banks
 * of n slots (position t reads bank t % 2 and writes bank (t + 1) % 2), so a
 * call never overwrites a parent another row of it reads. A hypothesis that
 * ends at position t has </s> scored right after, before its slot can be
 * reused. */
#include "decoder/rescore.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"

typedef struct entry {
    const int32_t *w; /* word handles */
    int n, idx;
    float score;      /* for the re-rank */
} entry;

static int cmp_words(const void *x, const void *y) {
    const entry *a = x, *b = y;
    for (int i = 0; i < a->n && i < b->n; i++)
        if (a->w[i] != b->w[i]) return a->w[i] < b->w[i] ? -1 : 1;
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static int cmp_score(const void *x, const void *y) {
    const entry *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

typedef struct work {
    entry *e;
    int32_t *handles, *shared, *cur, *lead, *parent, *word, *child;
    float *score, *acc;
    dec_hyp *tmp;
} work;

static void work_free(work *w) {
    free(w->e);
    free(w->handles);
    free(w->shared);
    free(w->cur);
    free(w->lead);
    free(w->parent);
    free(w->word);
    free(w->child);
    free(w->score);
    free(w->acc);
    free(w->tmp);
}

static rd_status work_alloc(work *w, const dec_hyp *h, int n, rd_error *err) {
    size_t words = 1;
    for (int i = 0; i < n; i++) words += (size_t)h[i].n_words;
    size_t k = (size_t)n;
    w->e = rd_malloc_array(k, sizeof *w->e);
    w->handles = rd_malloc_array(words, sizeof *w->handles);
    w->shared = rd_malloc_array(k, sizeof(int32_t));
    w->cur = rd_malloc_array(k, sizeof(int32_t));
    w->lead = rd_malloc_array(k, sizeof(int32_t));
    w->parent = rd_malloc_array(k, sizeof(int32_t));
    w->word = rd_malloc_array(k, sizeof(int32_t));
    w->child = rd_malloc_array(k, sizeof(int32_t));
    w->score = rd_malloc_array(k, sizeof(float));
    w->acc = rd_malloc_array(k, sizeof(float));
    w->tmp = rd_malloc_array(k, sizeof *w->tmp);
    if (!w->e || !w->handles || !w->shared || !w->cur || !w->lead || !w->parent || !w->word || !w->child ||
        !w->score || !w->acc || !w->tmp)
        return rd_fail(err, RD_ERR_NOMEM, "out of memory rescoring %d hypotheses", n);
    return RD_OK;
}

/* Word handles of every hypothesis, sorted entries, shared prefix lengths. */
static rd_status prepare(lm_cache *c, const dec_hyp *h, int n, work *w, rd_error *err) {
    int32_t *p = w->handles;
    for (int i = 0; i < n; i++) {
        w->e[i] = (entry){p, h[i].n_words, i, 0.0f};
        for (int j = 0; j < h[i].n_words; j++) {
            const char *t = h[i].words[j].text;
            if ((*p++ = lm_word(c, t, strlen(t))) < 0)
                return rd_fail(err, RD_ERR_NOMEM, "out of memory adding word '%s' to the rescoring LM", t);
        }
    }
    qsort(w->e, (size_t)n, sizeof *w->e, cmp_words);
    for (int k = 0; k < n; k++) {
        int s = 0;
        if (k > 0)
            while (s < w->e[k].n && s < w->e[k - 1].n && w->e[k].w[s] == w->e[k - 1].w[s]) s++;
        w->shared[k] = s;
        w->cur[k] = 0;
        w->acc[k] = 0.0f;
    }
    return RD_OK;
}

/* acc[k] += ln p(</s>) for the sorted hypotheses of exactly len words. */
static rd_status finish_len(lm_cache *c, work *w, int n, int len, rd_error *err) {
    int m = 0;
    for (int k = 0; k < n; k++)
        if (w->e[k].n == len) {
            w->parent[m] = w->cur[k];
            w->lead[m++] = k;
        }
    if (m == 0) return RD_OK;
    RD_TRY(lm_finish(c, w->parent, m, w->score, err));
    for (int j = 0; j < m; j++) w->acc[w->lead[j]] += w->score[j];
    return RD_OK;
}

/* Word position t of every sorted hypothesis longer than t. */
static rd_status score_position(lm_cache *c, work *w, int n, int t, rd_error *err) {
    int m = 0;
    int32_t bank = ((t + 1) & 1) * n;
    for (int k = 0; k < n; k++) {
        if (w->e[k].n <= t) continue;
        if (w->shared[k] <= t) { /* a new (t + 1)-word prefix */
            w->parent[m] = w->cur[k];
            w->word[m] = w->e[k].w[t];
            w->child[m] = bank + k;
            w->lead[k] = m++;
        } else {
            w->lead[k] = w->lead[k - 1];
        }
    }
    RD_TRY(lm_score_words(c, w->parent, w->word, w->child, m, w->score, err));
    for (int k = 0; k < n; k++) {
        if (w->e[k].n <= t) continue;
        w->acc[k] += w->score[w->lead[k]];
        w->cur[k] = w->child[w->lead[k]];
    }
    return RD_OK;
}

static rd_status rescore(lm_cache *c, dec_hyp *h, int n, float weight, float word_score, work *w,
                         rd_error *err) {
    RD_TRY(prepare(c, h, n, w, err));
    int32_t zero = 0;
    RD_TRY(lm_start(c, &zero, 1, err));
    int longest = 0;
    for (int k = 0; k < n; k++)
        if (w->e[k].n > longest) longest = w->e[k].n;
    RD_TRY(finish_len(c, w, n, 0, err));
    for (int t = 0; t < longest; t++) {
        RD_TRY(score_position(c, w, n, t, err));
        RD_TRY(finish_len(c, w, n, t + 1, err));
    }
    for (int k = 0; k < n; k++) {
        dec_hyp *x = &h[w->e[k].idx];
        x->rescore_lm = w->acc[k];
        x->score = x->first_pass + weight * x->rescore_lm + word_score * (float)x->n_words;
    }
    for (int i = 0; i < n; i++) w->e[i] = (entry){NULL, 0, i, h[i].score};
    qsort(w->e, (size_t)n, sizeof *w->e, cmp_score);
    for (int i = 0; i < n; i++) w->tmp[i] = h[w->e[i].idx];
    memcpy(h, w->tmp, (size_t)n * sizeof *h);
    return RD_OK;
}

rd_status dec_rescore_list(lm_cache *c, dec_hyp *h, int n, float weight, float word_score,
                           rd_error *err) {
    if (n <= 0) return RD_OK;
    if (lm_cache_slots(c) < 2 * n)
        return rd_fail(err, RD_ERR_INTERNAL, "dec_rescore: %d slots for %d hypotheses (expected %d)",
                       lm_cache_slots(c), n, 2 * n);
    work w = {0};
    rd_status st = work_alloc(&w, h, n, err);
    if (st == RD_OK) st = rescore(c, h, n, weight, word_score, &w, err);
    work_free(&w);
    return st;
}
