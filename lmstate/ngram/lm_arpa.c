/* lmstate/ngram/lm_arpa.c - an ARPA n-gram model behind lm.h.
 *
 * Word handles are the model's vocabulary ids (unknown text -> the <unk> id).
 * A cache is n_slots arpa_state values, double-buffered: lm_reorder gathers
 * into the other buffer and swaps the pointers; score_words computes every
 * child into the other buffer first, so a child may be its own parent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "lmstate/ngram/arpa.h"
#include "lmstate/lm_impl.h"

typedef struct arpa_cache {
    const arpa_model *m;
    int n_slots;
    arpa_state *cur, *spare; /* two buffers of n_slots, one allocation */
} arpa_cache;

static void arpa_lm_free(void *model) { arpa_free(model); }

static rd_status arpa_cache_create(void *model, int n_slots, void **out, rd_error *err) {
    arpa_cache *c = calloc(1, sizeof *c);
    arpa_state *states = rd_malloc_array((size_t)n_slots * 2, sizeof(arpa_state));
    if (!c || !states) {
        free(c);
        free(states);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for %d language-model slots", n_slots);
    }
    c->m = model;
    c->n_slots = n_slots;
    c->cur = states;
    c->spare = states + n_slots;
    for (int i = 0; i < n_slots; i++) arpa_begin_state(c->m, &c->cur[i]);
    *out = c;
    return RD_OK;
}

static void arpa_cache_free(void *cache) {
    arpa_cache *c = cache;
    if (!c) return;
    free(c->cur < c->spare ? c->cur : c->spare);
    free(c);
}

static int32_t arpa_lm_word(void *cache, const char *text, size_t len) {
    const arpa_cache *c = cache;
    return arpa_word_id(c->m, text, len);
}

static bool arpa_lm_word_known(const void *cache, int32_t word) {
    const arpa_cache *c = cache;
    return word != arpa_unk(c->m) && word >= 0 && word < arpa_vocab_size(c->m);
}

static rd_status arpa_lm_unigrams(void *cache, const int32_t *word, int n, float *out, int bound, rd_error *err) {
    const arpa_cache *c = cache;
    arpa_state null, ignored;
    arpa_null_state(&null);
    for (int i = 0; i < n; i++) {
        if (word[i] < 0 || word[i] >= arpa_vocab_size(c->m))
            return rd_fail(err, RD_ERR_INTERNAL, "lm_unigrams: %d is not a word handle", (int)word[i]);
        out[i] = arpa_score(c->m, &null, word[i], &ignored, NULL);
    }
    return RD_OK;
}

static rd_status arpa_lm_start(void *cache, const int32_t *slot, int n, rd_error *err) {
    arpa_cache *c = cache;
    for (int i = 0; i < n; i++) arpa_begin_state(c->m, &c->cur[slot[i]]);
    return RD_OK;
}

static rd_status arpa_lm_score_words(void *cache, const int32_t *parent, const int32_t *word, const int32_t *child,
                                     int n, float *score, rd_error *err) {
    arpa_cache *c = cache;
    if (n > c->n_slots)
        return rd_fail(err, RD_ERR_INTERNAL, "lm_score_words: %d children for %d slots (children must differ)", n,
                       c->n_slots);
    for (int i = 0; i < n; i++) score[i] = arpa_score(c->m, &c->cur[parent[i]], word[i], &c->spare[i], NULL);
    for (int i = 0; i < n; i++) c->cur[child[i]] = c->spare[i];
    return RD_OK;
}

static rd_status arpa_lm_finish(void *cache, const int32_t *slot, int n, float *score, rd_error *err) {
    const arpa_cache *c = cache;
    arpa_state ignored;
    int32_t eos = arpa_eos(c->m);
    for (int i = 0; i < n; i++) score[i] = arpa_score(c->m, &c->cur[slot[i]], eos, &ignored, NULL);
    return RD_OK;
}

static rd_status arpa_lm_reorder(void *cache, const int32_t *survivors, int n, rd_error *err) {
    arpa_cache *c = cache;
    for (int i = 0; i < n; i++) c->spare[i] = c->cur[survivors[i]];
    arpa_state *t = c->cur;
    c->cur = c->spare;
    c->spare = t;
    return RD_OK;
}

static size_t arpa_cache_bytes(const void *cache, size_t *per_slot, int *n_stored) {
    const arpa_cache *c = cache;
    if (per_slot) *per_slot = sizeof(arpa_state);
    if (n_stored) *n_stored = 2 * c->n_slots;
    return 2 * (size_t)c->n_slots * sizeof(arpa_state);
}

static rd_status arpa_lm_copy(void *cache, int32_t src, int32_t dst, rd_error *err) {
    arpa_cache *c = cache;
    c->cur[dst] = c->cur[src];
    return RD_OK;
}

static int32_t arpa_lm_vocab_size(const void *model) { return arpa_vocab_size(model); }

static const char *arpa_lm_vocab_word(const void *model, int32_t i) { return arpa_word_text(model, i); }

static const lm_ops arpa_ops = {
    .kind = "arpa",
    .model_free = arpa_lm_free,
    .cache_create = arpa_cache_create,
    .cache_free = arpa_cache_free,
    .word = arpa_lm_word,
    .word_known = arpa_lm_word_known,
    .unigrams = arpa_lm_unigrams,
    .start = arpa_lm_start,
    .score_words = arpa_lm_score_words,
    .finish = arpa_lm_finish,
    .reorder = arpa_lm_reorder,
    .cache_bytes = arpa_cache_bytes,
    .copy = arpa_lm_copy,
    .vocab_size = arpa_lm_vocab_size,
    .vocab_word = arpa_lm_vocab_word,
};

rd_status lm_arpa_open(const char *path, const lm_load_options *opt, lm_model *m, rd_error *err) {
    arpa_model *a;
    /* refused from the \data\ counts, before the model is allocated */
    RD_TRY(arpa_load_limited(path, opt ? opt->max_memory : 0, &a, err));
    m->ops = &arpa_ops;
    m->impl = a;
    snprintf(m->description, sizeof m->description, "arpa %d-gram, %d words", arpa_order(a), (int)arpa_vocab_size(a));
    return RD_OK;
}
