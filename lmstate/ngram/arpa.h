/* lmstate/ngram/arpa.h - ARPA n-gram models with KenLM's semantics.
 *
 * The file holds log10 probabilities and backoffs; everything returned here is
 * natural log. Parsing is strict ("lm.arpa:12: expected ..."): the \data\
 * counts are read first and the whole model is one allocation sized from
 * them (arpa_memory_for_counts); n-grams live in probing hash tables keyed by
 * a 64-bit hash of their word ids, KenLM's "probing" structure.
 * A model without <unk> gets one with log10 p = -100 (as KenLM does). */
#ifndef RD_ARPA_H
#define RD_ARPA_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#define ARPA_MAX_ORDER 8

typedef struct arpa_model arpa_model;

/* Fixed-size state: the words that can still matter, most recent first
 * (KenLM's right state: the longest matched context, at most order-1 words). */
typedef struct arpa_state {
    int32_t words[ARPA_MAX_ORDER - 1];
    int32_t length;
} arpa_state;

/* Loads an ARPA file ("-" = stdin). On failure *out is NULL and err names
 * the file and line. The file is mapped, not copied, and its pages are given
 * back as they are read, so a load holds about arpa_memory() bytes. */
rd_status arpa_load(const char *path, arpa_model **out, rd_error *err);
/* The same, refusing (RD_ERR_NOMEM, "PATH: the model needs N bytes (X MiB)
 * for its counts, over the limit of L (Y MiB)") before allocating the model
 * when the \data\ counts say it would take more than max_bytes; 0 = no
 * limit. A model whose blanks outgrew its tables past the limit is freed
 * after loading ("PATH: the model takes N bytes, over the limit of L"). */
rd_status arpa_load_limited(const char *path, size_t max_bytes, arpa_model **out, rd_error *err);
/* Parses n bytes of ARPA text (need not be NUL-terminated); name is for
 * messages. */
rd_status arpa_parse(const char *buf, size_t n, const char *name,
                     arpa_model **out, rd_error *err);
void arpa_free(arpa_model *m);

/* Bytes a model of that order takes, from its counts (counts[0] 1-grams,
 * counts[order-1] the highest order) and the bytes of its 1-gram words
 * (their lengths plus one each): what arpa_load allocates, which
 * arpa_memory() then reports unless SRILM-style blanks outgrew a table.
 * SIZE_MAX when order is not 1..ARPA_MAX_ORDER, a count is negative or the
 * sum overflows. */
size_t arpa_memory_for_counts(int order, const long *counts, size_t word_bytes);

int arpa_order(const arpa_model *m);
long arpa_count(const arpa_model *m, int order);  /* n-grams of that order */
int32_t arpa_vocab_size(const arpa_model *m);
/* Word id, or the <unk> id when absent. */
int32_t arpa_word_id(const arpa_model *m, const char *w, size_t len);
const char *arpa_word_text(const arpa_model *m, int32_t id);
int32_t arpa_unk(const arpa_model *m);
int32_t arpa_bos(const arpa_model *m);
int32_t arpa_eos(const arpa_model *m);
/* Bytes held by the model (tables, vocabulary, word texts). */
size_t arpa_memory(const arpa_model *m);

/* State after <s> (sentence start); the empty state (no context). */
void arpa_begin_state(const arpa_model *m, arpa_state *s);
void arpa_null_state(arpa_state *s);

/* ln p(word | in). out receives the next state (may alias in). If ngram_len
 * is not NULL it receives the length of the n-gram that matched (1..order),
 * as KenLM's query prints it. */
float arpa_score(const arpa_model *m, const arpa_state *in, int32_t word,
                 arpa_state *out, int *ngram_len);

#endif
