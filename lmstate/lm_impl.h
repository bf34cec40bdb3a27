/* lmstate/lm_impl.h - how a model kind plugs into lm.h (private to lmstate/). */
#ifndef RD_LM_IMPL_H
#define RD_LM_IMPL_H

#include "lmstate/lm.h"

typedef struct lm_ops {
    const char *kind; /* "arpa", "rwkv" */
    void (*model_free)(void *model);
    rd_status (*cache_create)(void *model, int n_slots, void **cache,
                              rd_error *err);
    void (*cache_free)(void *cache);
    int32_t (*word)(void *cache, const char *text, size_t len);
    bool (*word_known)(const void *cache, int32_t word);
    /* out[i]: the word's context-free log-probability (bound = 0) or a
     * cheaper upper bound of it for look-ahead (bound = 1). */
    rd_status (*unigrams)(void *cache, const int32_t *word, int n, float *out,
                          int bound, rd_error *err);
    rd_status (*start)(void *cache, const int32_t *slot, int n, rd_error *err);
    rd_status (*score_words)(void *cache, const int32_t *parent,
                             const int32_t *word, const int32_t *child, int n,
                             float *score, rd_error *err);
    rd_status (*finish)(void *cache, const int32_t *slot, int n, float *score,
                        rd_error *err);
    rd_status (*reorder)(void *cache, const int32_t *survivors, int n,
                         rd_error *err);
    size_t (*cache_bytes)(const void *cache, size_t *per_slot, int *n_stored);
    rd_status (*copy)(void *cache, int32_t src, int32_t dst, rd_error *err);
    /* state access; NULL for models without recurrent state */
    rd_status (*state_get)(const void *cache, int32_t slot, float *state,
                           int32_t *pending, rd_error *err);
    rd_status (*state_set)(void *cache, int32_t slot, const float *state,
                           int32_t pending, rd_error *err);
    /* a mix's part i's cache; NULL for single models */
    const lm_cache *(*cache_part)(const void *cache, int i);
    /* the vocabulary (lm_vocab_size, lm_vocab_word); NULL: an open one */
    int32_t (*vocab_size)(const void *model);
    const char *(*vocab_word)(const void *model, int32_t i);
    /* score_words that may stop a word once its log-probability is below
     * floor[i] (lm_score_words_floor); NULL: score_words is used */
    rd_status (*score_words_floor)(void *cache, const int32_t *parent,
                                   const int32_t *word, const int32_t *child,
                                   int n, const float *floor, float *score,
                                   rd_error *err);
} lm_ops;

struct lm_model {
    const lm_ops *ops;
    void *impl;
    const struct rwkv_model *rwkv; /* NULL for ARPA and mixes */
    size_t state_size;             /* lm_state_size: 0 without recurrent state */
    int n_parts;                   /* a mix's parts (lm_mix), else 0 */
    lm_model *const *parts;
    char description[256];
};

struct lm_cache {
    const lm_ops *ops;
    void *impl;
    int n_slots;
    const lm_model *model;
    lm_start_spec start;  /* lm_set_start's warm start */
    int warm;             /* start has a state or a non-empty text */
    float *start_state;   /* the warm start computed by the first lm_start
                             (models with a recurrent state), else NULL */
    int32_t start_pending;
};

/* Model kinds' loaders, called by lm_load. */
rd_status lm_arpa_open(const char *path, const lm_load_options *opt,
                       lm_model *m, rd_error *err);
rd_status lm_rwkv_open(const char *path, const lm_load_options *opt,
                       lm_model *m, rd_error *err);

#endif
