/* lmstate/lm_mix.c - several models as one (lm_mix, lm.h): --lm A --lm B.
 *
 * A mix's log-probability is the weighted sum of its parts' (natural log):
 * ln p(w | h) = sum_i weight[i] * ln p_i(w | h). A mix cache holds one cache
 * per part, all with the same slot count, so that slot s of the mix is slot
 * s of every part: every call goes to each part with the same slots, and the
 * decoder carries every part's state without knowing there are several.
 *
 * A mix word handle stands for the tuple of its parts' handles (texts whose
 * tuples are equal score alike, e.g. two unknown words of two n-grams). The
 * handles are interned in a string table (common/strtab.h) keyed by the
 * tuple's bytes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/strtab.h"
#include "lmstate/lm_impl.h"

typedef struct mix_model {
    int n;
    lm_model **part; /* not owned */
    float *weight;
} mix_model;

typedef struct mix_cache {
    const mix_model *m;
    lm_cache **part;
    int32_t *handles;      /* [n_words][n]: each part's handle of a mix word */
    int32_t n_words, cap_words;
    rd_strtab tuples;      /* the n handles' bytes -> mix word id (dense, in order) */
    int32_t *word_tmp;     /* tmp_cap part handles */
    float *score_tmp;      /* tmp_cap scores */
    float *floor_tmp;      /* tmp_cap floors */
    int tmp_cap;
} mix_cache;

static void mix_model_free(void *p) {
    mix_model *m = p;
    if (!m) return;
    free(m->part);
    free(m->weight);
    free(m);
}

static void mix_cache_free(void *p) {
    mix_cache *c = p;
    if (!c) return;
    for (int i = 0; c->part && i < c->m->n; i++) lm_cache_free(c->part[i]);
    free(c->part);
    free(c->handles);
    rd_strtab_free(&c->tuples);
    free(c->word_tmp);
    free(c->score_tmp);
    free(c->floor_tmp);
    free(c);
}

/* Scratch for n entries; 0 when out of memory. */
static int ensure_tmp(mix_cache *c, int n) {
    if (n <= c->tmp_cap) return 1;
    int32_t *w = rd_realloc_array(c->word_tmp, (size_t)n, sizeof *w);
    if (w) c->word_tmp = w;
    float *s = rd_realloc_array(c->score_tmp, (size_t)n, sizeof *s);
    if (s) c->score_tmp = s;
    float *f = rd_realloc_array(c->floor_tmp, (size_t)n, sizeof *f);
    if (f) c->floor_tmp = f;
    if (!w || !s || !f) return 0;
    c->tmp_cap = n;
    return 1;
}

static rd_status mix_cache_create(void *model, int n_slots, void **out, rd_error *err) {
    const mix_model *m = model;
    mix_cache *c = calloc(1, sizeof *c);
    if (!c) return rd_fail(err, RD_ERR_NOMEM, "out of memory for a mixed language-model cache");
    c->m = m;
    c->part = calloc((size_t)m->n, sizeof *c->part);
    if (!c->part || !ensure_tmp(c, n_slots)) {
        mix_cache_free(c);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for a mixed language-model cache");
    }
    for (int i = 0; i < m->n; i++) {
        rd_status st = lm_cache_create(m->part[i], n_slots, &c->part[i], err);
        if (st != RD_OK) {
            mix_cache_free(c);
            return st;
        }
    }
    *out = c;
    return RD_OK;
}

static int32_t mix_word(void *p, const char *text, size_t len) {
    mix_cache *c = p;
    int n = c->m->n;
    int32_t key[16] = {0};
    int32_t *h = n <= 16 ? key : malloc((size_t)n * sizeof *h);
    if (!h) return -1;
    int32_t id = -1;
    for (int i = 0; i < n; i++)
        if ((h[i] = lm_word(c->part[i], text, len)) < 0) goto done;
    const char *key_bytes = (const char *)h;
    size_t key_len = (size_t)n * sizeof *h;
    if ((id = rd_strtab_find(&c->tuples, key_bytes, key_len)) >= 0) goto done;
    if (c->n_words == c->cap_words) {
        int32_t cap = c->cap_words ? c->cap_words * 2 : 1024;
        int32_t *nh = rd_realloc_array(c->handles, (size_t)cap * n, sizeof *nh);
        if (!nh) goto done;
        c->handles = nh;
        c->cap_words = cap;
    }
    int added;
    if (rd_strtab_intern(&c->tuples, key_bytes, key_len, &added) != c->n_words) goto done; /* out of memory */
    memcpy(c->handles + (size_t)c->n_words * n, h, key_len);
    id = c->n_words++;
done:
    if (h != key) free(h);
    return id;
}

/* Known when every part knows it: an n-gram's <unk> is a guess. */
static bool mix_word_known(const void *p, int32_t word) {
    const mix_cache *c = p;
    if (word < 0 || word >= c->n_words) return false;
    for (int i = 0; i < c->m->n; i++)
        if (!lm_word_known(c->part[i], c->handles[(size_t)word * c->m->n + i])) return false;
    return true;
}

/* Fills word_tmp[0..n) with part i's handles of word[0..n). */
static rd_status part_words(mix_cache *c, int i, const int32_t *word, int n, rd_error *err) {
    for (int j = 0; j < n; j++) {
        if (word[j] < 0 || word[j] >= c->n_words)
            return rd_fail(err, RD_ERR_INTERNAL, "mixed LM: %d is not a word handle", (int)word[j]);
        c->word_tmp[j] = c->handles[(size_t)word[j] * c->m->n + i];
    }
    return RD_OK;
}

/* out[j] (+)= weight * score_tmp[j]: the first part sets, the others add. */
static void add_part(const mix_cache *c, int i, float *out, int n) {
    float w = c->m->weight[i];
    for (int j = 0; j < n; j++) out[j] = (i ? out[j] : 0.0f) + w * c->score_tmp[j];
}

static rd_status mix_unigrams(void *p, const int32_t *word, int n, float *out, int bound, rd_error *err) {
    mix_cache *c = p;
    if (!ensure_tmp(c, n)) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %d unigrams", n);
    for (int i = 0; i < c->m->n; i++) {
        RD_TRY(part_words(c, i, word, n, err));
        RD_TRY((bound ? lm_lookahead : lm_unigrams)(c->part[i], c->word_tmp, n, c->score_tmp, err));
        add_part(c, i, out, n);
    }
    return RD_OK;
}

static rd_status mix_start(void *p, const int32_t *slot, int n, rd_error *err) {
    mix_cache *c = p;
    for (int i = 0; i < c->m->n; i++) RD_TRY(lm_start(c->part[i], slot, n, err));
    return RD_OK;
}

static rd_status mix_score_words(void *p, const int32_t *parent, const int32_t *word, const int32_t *child, int n,
                                 float *score, rd_error *err) {
    mix_cache *c = p;
    if (!ensure_tmp(c, n)) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %d words", n);
    for (int i = 0; i < c->m->n; i++) {
        RD_TRY(part_words(c, i, word, n, err));
        RD_TRY(lm_score_words(c->part[i], parent, c->word_tmp, child, n, c->score_tmp, err));
        add_part(c, i, score, n);
    }
    return RD_OK;
}

/* With floors: the parts in order, each part's floor what is left of the
 * word's floor after the parts before it (every part's log-probability is at
 * most 0, so with weights >= 0 the parts still to come only lower the sum).
 * A word a part gives up (-inf) is -inf in the sum. */
static rd_status mix_score_words_floor(void *p, const int32_t *parent, const int32_t *word, const int32_t *child,
                                       int n, const float *floor, float *score, rd_error *err) {
    mix_cache *c = p;
    int ok = 1;
    for (int i = 0; i < c->m->n; i++) ok &= c->m->weight[i] >= 0.0f;
    if (!ok) return mix_score_words(p, parent, word, child, n, score, err);
    if (!ensure_tmp(c, n)) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %d words", n);
    for (int i = 0; i < c->m->n; i++) {
        float w = c->m->weight[i];
        for (int j = 0; j < n; j++) {
            float sum = i ? score[j] : 0.0f;
            c->floor_tmp[j] = w > 0.0f ? (floor[j] - sum - 1e-4f * (1.0f + fabsf(floor[j]) + fabsf(sum))) / w
                                       : -INFINITY;
            if (sum == -INFINITY) c->floor_tmp[j] = INFINITY;
        }
        RD_TRY(part_words(c, i, word, n, err));
        RD_TRY(lm_score_words_floor(c->part[i], parent, c->word_tmp, child, n, c->floor_tmp, c->score_tmp, err));
        add_part(c, i, score, n);
    }
    return RD_OK;
}

static rd_status mix_finish(void *p, const int32_t *slot, int n, float *score, rd_error *err) {
    mix_cache *c = p;
    if (!ensure_tmp(c, n)) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %d scores", n);
    for (int i = 0; i < c->m->n; i++) {
        RD_TRY(lm_finish(c->part[i], slot, n, c->score_tmp, err));
        add_part(c, i, score, n);
    }
    return RD_OK;
}

static rd_status mix_reorder(void *p, const int32_t *survivors, int n, rd_error *err) {
    mix_cache *c = p;
    for (int i = 0; i < c->m->n; i++) RD_TRY(lm_reorder(c->part[i], survivors, n, err));
    return RD_OK;
}

static rd_status mix_copy(void *p, int32_t src, int32_t dst, rd_error *err) {
    mix_cache *c = p;
    for (int i = 0; i < c->m->n; i++) RD_TRY(lm_copy(c->part[i], src, dst, err));
    return RD_OK;
}

/* The sum over parts; *per_slot: the sum of one state of each. */
static size_t mix_cache_bytes(const void *p, size_t *per_slot, int *n_stored) {
    const mix_cache *c = p;
    size_t total = 0, per = 0;
    int stored = 0;
    for (int i = 0; i < c->m->n; i++) {
        size_t one;
        int k;
        total += lm_cache_bytes(c->part[i], &one, &k);
        per += one;
        if (k > stored) stored = k;
    }
    if (per_slot) *per_slot = per;
    if (n_stored) *n_stored = stored;
    return total;
}

static const lm_cache *mix_cache_part(const void *p, int i) {
    const mix_cache *c = p;
    return i >= 0 && i < c->m->n ? c->part[i] : NULL;
}

static const lm_ops mix_ops = {
    .kind = "mix",
    .model_free = mix_model_free,
    .cache_create = mix_cache_create,
    .cache_free = mix_cache_free,
    .word = mix_word,
    .word_known = mix_word_known,
    .unigrams = mix_unigrams,
    .start = mix_start,
    .score_words = mix_score_words,
    .finish = mix_finish,
    .reorder = mix_reorder,
    .cache_bytes = mix_cache_bytes,
    .copy = mix_copy,
    .cache_part = mix_cache_part,
    .score_words_floor = mix_score_words_floor,
};

rd_status lm_mix(lm_model *const *parts, const float *weight, int n, lm_model **out, rd_error *err) {
    *out = NULL;
    if (n < 1 || !parts || !weight) return rd_fail(err, RD_ERR_INTERNAL, "lm_mix: %d parts (expected at least 1)", n);
    for (int i = 0; i < n; i++) {
        if (!parts[i]) return rd_fail(err, RD_ERR_INTERNAL, "lm_mix: part %d is NULL", i);
        if (!(weight[i] == weight[i])) return rd_fail(err, RD_ERR_USAGE, "lm_mix: weight %d is not a number", i + 1);
    }
    lm_model *m = calloc(1, sizeof *m);
    mix_model *x = calloc(1, sizeof *x);
    if (m && x) {
        x->part = rd_malloc_array((size_t)n, sizeof *x->part);
        x->weight = rd_malloc_array((size_t)n, sizeof *x->weight);
    }
    if (!m || !x || !x->part || !x->weight) {
        free(m);
        mix_model_free(x);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for a mixed language model");
    }
    x->n = n;
    memcpy(x->part, parts, (size_t)n * sizeof *parts);
    memcpy(x->weight, weight, (size_t)n * sizeof *weight);
    m->ops = &mix_ops;
    m->impl = x;
    m->n_parts = n;
    m->parts = x->part;
    size_t len = (size_t)snprintf(m->description, sizeof m->description, "mix of %d:", n);
    for (int i = 0; i < n && len < sizeof m->description; i++)
        len += (size_t)snprintf(m->description + len, sizeof m->description - len, "%s %g x %s", i ? ";" : "",
                                (double)weight[i], lm_describe(parts[i]));
    *out = m;
    return RD_OK;
}
