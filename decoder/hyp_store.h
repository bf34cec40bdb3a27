/* decoder/hyp_store.h - the prefix tree of one utterance's hypotheses.
 *
 * Each surviving prefix is one node: its parent prefix, the unit it emitted,
 * and the word it completed (if any). Nodes are never freed during an
 * utterance; text is read back along parent pointers, so hypotheses never
 * copy strings. Storage grows by doubling (reserve up front to avoid it). */
#ifndef RD_HYP_STORE_H
#define RD_HYP_STORE_H

#include <stdint.h>

#include "common/status.h"

#define DEC_UNIT_END (-1)   /* a completion made at the end of the utterance */
#define DEC_WORD_NONE (-1)  /* the node completes no word */
#define DEC_WORD_SPELLED (-2) /* completes a word spelled unit by unit */
#define DEC_WORD_ROOT (-3)  /* the root: the empty prefix */

typedef struct dec_node {
    int32_t parent;   /* node id, -1 for the root */
    int32_t unit;     /* unit emitted, or DEC_UNIT_END */
    int32_t word;     /* lexicon word id, or DEC_WORD_* */
    int32_t start;    /* completions: first frame of the word */
    int32_t frame;    /* frame at which the node was created */
    int32_t end;      /* last frame at which the prefix's likeliest path was in
                         its last unit (set by the decoder) */
    int32_t unit_start; /* frame at which that path entered its last unit */
    int32_t parent_end; /* the parent's end along this node's likeliest path
                           (the parent's own end moves on while it lives on as a
                           hypothesis of its own; set by the decoder) */
} dec_node;

typedef struct dec_store {
    dec_node *node;
    int32_t n, cap;
} dec_store;

void dec_store_init(dec_store *s);
void dec_store_free(dec_store *s);
/* Drops every node and adds the root (id 0). */
rd_status dec_store_reset(dec_store *s, int32_t reserve, rd_error *err);
/* Appends a node; returns its id, or -1 when out of memory. */
int32_t dec_store_add(dec_store *s, int32_t parent, int32_t unit, int32_t word,
                      int32_t start, int32_t frame);

#endif
