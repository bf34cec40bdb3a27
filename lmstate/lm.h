/* lmstate/lm.h - the language-model interface the decoder calls.
 *
 * Two handles (a change from DESIGN.md's single lm_model, so that threads
 * share weights): an lm_model is the loaded model (read-only once loaded,
 * shared by every thread); an lm_cache holds one decoder's state slots and
 * is used by one thread at a time. The decoder sees only slot indices, word
 * handles and scores; it never sees n-gram contexts or RWKV states.
 *
 * Scores are natural-log probabilities. */
#ifndef RD_LM_H
#define RD_LM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef struct lm_model lm_model;
typedef struct lm_cache lm_cache;

typedef struct lm_load_options {
    int threads;          /* CPU threads inside one batched call (RWKV); 0 = 1 */
    size_t max_memory;    /* refuse models/caches larger than this; 0 = no limit */
    const char *vocab;    /* RWKV World tokenizer vocabulary; NULL = look for
                             rwkv_vocab_v20230424.txt beside the model */
    int state_dtype;      /* RWKV state storage: 0 fp32, 1 fp16, 2 bf16 (rd_dtype) */
    int lookahead_tokens; /* RWKV look-ahead bound: a word's first N tokens;
                             0 = 4, negative = the whole word (exact) */
    int no_avx512;        /* RWKV: CPU products without AVX-512 (AVX2 at most),
                             to compare the two paths on one machine */
    int state_int8_sim;   /* RWKV, a measurement aid: every state the model
                             writes is rounded as int8 storage at rest would
                             be (sc_config.int8_sim; tests/bench/bench_state.sh) */
} lm_load_options;

/* Loads an ARPA file (text starting with "\data\") or an RWKV model, chosen by
 * content. Errors name the file, line or tensor. */
rd_status lm_load(const char *path, const lm_load_options *opt, lm_model **out,
                  rd_error *err);
void lm_free(lm_model *m);
/* One line describing the model: "arpa 3-gram, 200003 words". */
const char *lm_describe(const lm_model *m);

/* A model whose log-probability is the weighted sum of n models' (n >= 1):
 * ln p(w | h) = sum_i weight[i] * ln p_i(w | h), </s>, unigrams and
 * look-ahead alike. Each slot carries every part's state (each part keeps its
 * own cache, same slots). The parts are not owned: they must outlive the mix
 * and are freed by the caller after lm_free(mix). A mix has no recurrent
 * state (lm_state_get refuses); a word is known when every part knows it. */
rd_status lm_mix(lm_model *const *parts, const float *weight, int n,
                 lm_model **out, rd_error *err);
/* Parts of a mix: their count (1 for a single model), the i-th model and its
 * cache within a mix cache (m / c itself for a single model, i = 0). */
int lm_part_count(const lm_model *m);
const lm_model *lm_part(const lm_model *m, int i);
const lm_cache *lm_cache_part(const lm_cache *c, int i);

/* A cache of n_slots state slots. All slots start in the sentence-start
 * state. */
rd_status lm_cache_create(lm_model *m, int n_slots, lm_cache **out,
                          rd_error *err);
void lm_cache_free(lm_cache *c);
int lm_cache_slots(const lm_cache *c);
/* The model the cache was created for (for messages). */
const lm_model *lm_cache_model(const lm_cache *c);
/* Bytes of state the cache holds; *per_slot: one stored state; *n_stored:
 * states stored (RWKV: slots + scratch rows + the initial state). */
size_t lm_cache_bytes(const lm_cache *c, size_t *per_slot, int *n_stored);

/* Word handle for a word's text (len bytes, no NUL needed): >= 0, or -1 if
 * out of memory. Looking up the same text twice gives the same handle,
 * stable for the cache's lifetime. A single model's handles are the model's:
 * the same in every cache of it (threads may call this at once; RWKV keeps
 * one word table per model). A mix numbers its words per cache (tuples of
 * its parts' handles). */
int32_t lm_word(lm_cache *c, const char *text, size_t len);
/* False when the model does not know the word (ARPA: not in its vocabulary,
 * scored as <unk>). RWKV models know every word. */
bool lm_word_known(const lm_cache *c, int32_t word);
/* The words the model knows, for lexicon-free prefix checks (pyctcdecode's
 * partial-word penalty): their count, or -1 for an open vocabulary (RWKV:
 * every word known); lm_vocab_word gives word i's text (0 <= i < count;
 * <s>, </s> and <unk> may be among them), valid for the model's lifetime.
 * A mix answers with its first part that has a closed vocabulary. */
int32_t lm_vocab_size(const lm_model *m);
const char *lm_vocab_word(const lm_model *m, int32_t i);
/* out[i] = context-free log-probability of word[i] (ARPA: its unigram; RWKV:
 * the word after the initial state), for homophone ordering. One batched
 * call: RWKV feeds each distinct token prefix once. */
rd_status lm_unigrams(lm_cache *c, const int32_t *word, int n, float *out,
                      rd_error *err);
/* out[i] >= lm_unigrams' value, cheaper, for LM look-ahead over the lexicon
 * trie (ARPA: the unigram itself; RWKV: the log-probability of the word's
 * first lookahead_tokens tokens, exact for shorter words). */
rd_status lm_lookahead(lm_cache *c, const int32_t *word, int n, float *out,
                       rd_error *err);
/* lm_unigrams for one word; -inf on error. */
float lm_unigram(lm_cache *c, int32_t word);

/* Where every lm_start begins (a warm start): the model's sentence start, or
 * the recurrent state `state` (lm_state_size floats, see lm_state_get; NULL =
 * the model's start) with its pending token, then the words of `text` fed
 * unscored (NULL or "" = none), e.g. --lm-state and --lm-prefix. */
typedef struct lm_start_spec {
    const float *state;  /* must outlive the cache */
    int32_t pending;
    const char *text;    /* must outlive the cache */
} lm_start_spec;

/* Every later lm_start on c begins from *s (NULL: the model's sentence
 * start). Nothing is computed here: the first lm_start does it (a state
 * that does not fit the model fails there, as lm_state_set), and a model
 * with a recurrent state keeps the result, so later starts copy it instead
 * of feeding the text again. */
rd_status lm_set_start(lm_cache *c, const lm_start_spec *s, rd_error *err);
/* Sets slots to the start state: the model's sentence start, or the warm
 * start of lm_set_start. */
rd_status lm_start(lm_cache *c, const int32_t *slot, int n, rd_error *err);
/* For each i: score[i] = ln p(word[i] | state of slot parent[i]), and slot
 * child[i] receives the advanced state. A child may equal its parent (the
 * parent is then overwritten); two children must differ. One batched call. */
rd_status lm_score_words(lm_cache *c, const int32_t *parent,
                         const int32_t *word, const int32_t *child, int n,
                         float *score, rd_error *err);
/* lm_score_words where word i is only wanted if its log-probability is at
 * least floor[i] (a decoder's beam cut): the model may stop scoring a word
 * as soon as a part of it is already below its floor, and then gives it
 * score -inf and leaves child[i] undefined (to be dropped). Words it
 * finishes are scored exactly as lm_score_words does. floor NULL: none. */
rd_status lm_score_words_floor(lm_cache *c, const int32_t *parent,
                               const int32_t *word, const int32_t *child, int n,
                               const float *floor, float *score, rd_error *err);
/* score[i] = ln p(</s> | state of slot[i]); states are unchanged. */
rd_status lm_finish(lm_cache *c, const int32_t *slot, int n, float *score,
                    rd_error *err);
/* Slot i takes the state that slot survivors[i] held, for i in 0..n-1
 * (survivors may repeat and may be in any order). Other slots become
 * undefined. */
rd_status lm_reorder(lm_cache *c, const int32_t *survivors, int n,
                     rd_error *err);
/* Feeds text's words (split at spaces, tabs and newlines) into slot, one
 * lm_score_words(slot -> slot) each; the scores are dropped. This is how
 * context is given: --lm-prefix, and the text of a saved state. */
rd_status lm_feed_text(lm_cache *c, int32_t slot, const char *text, rd_error *err);
/* Slot dst takes slot src's state (RWKV: a remap, no state is copied). */
rd_status lm_copy(lm_cache *c, int32_t src, int32_t dst, rd_error *err);

/* ---- recurrent state access (RWKV; an ARPA model has none) ----
 * A state is the model's recurrent state, fp32 laid out [kind][layer][size]
 * (rwkv.h), plus the pending token (lm_rwkv.c: the last token of the last
 * word, not yet fed). The RWKV model behind an lm_model, for state files:
 * lm_rwkv() in lmstate/rwkv/lm_rwkv.h. */
/* Elements of one state; 0 for a model without recurrent state. */
size_t lm_state_size(const lm_model *m);
/* Copies slot's state (lm_state_size floats) and pending token. */
rd_status lm_state_get(const lm_cache *c, int32_t slot, float *state,
                       int32_t *pending, rd_error *err);
/* Sets slot's state and pending token; checked first, so on error nothing
 * changes. */
rd_status lm_state_set(lm_cache *c, int32_t slot, const float *state,
                       int32_t pending, rd_error *err);

#endif
