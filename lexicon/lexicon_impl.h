/* lexicon/lexicon_impl.h - the lexicon's layout, shared by lexicon.c (parsing,
 * words) and trie.c (trie build and queries). Internal to lexicon/. */
#ifndef RD_LEX_LEXICON_IMPL_H
#define RD_LEX_LEXICON_IMPL_H

#include <stdint.h>

#include "lexicon/lexicon.h"
#include "common/strtab.h"

/* One pronunciation while building: units[0..n_units) (pointer into the
 * parser's unit pool, set once the pool stops moving), its word and value
 * (natural-log probability; for Rime, the raw weight until normalized). */
typedef struct lex_entry {
    const int32_t *units;
    size_t unit_off;
    int32_t n_units;
    int32_t word;
    float value;
} lex_entry;

/* The trie, nodes in depth-first order (a parent's id is below its
 * children's; siblings in increasing unit order). Every array is allocated
 * once, after counting. */
typedef struct lex_trie {
    int32_t n_nodes;
    int32_t *parent;       /* [n_nodes], -1 for the root */
    int32_t *child_start;  /* [n_nodes + 1]: children of v are child_node[child_start[v]..child_start[v+1]) */
    int32_t *child_node;   /* [n_nodes - 1] */
    int32_t *child_unit;   /* [n_nodes - 1], the unit of child_node[i], sorted per node */
    int32_t *group_start;  /* [n_nodes + 1]: group of v is group_word[group_start[v]..group_start[v+1]) */
    int32_t *group_word;   /* [entries] */
    float *group_logp;     /* [entries], natural log */
    float *group_prior;    /* [entries], Rime: ln(weight / every weight), else NULL */
    int32_t *root_child;   /* [n_units]: dense child table of the root, -1 = none */
    int n_units;
    int max_group;
} lex_trie;

struct lex_lexicon {
    const lex_units *units;
    rd_strtab words; /* id = word id */
    lex_trie trie;
};

/* Builds l->trie from entries (sorted and merged in place: a repeated
 * (word, unit sequence) keeps its best value). rime: values are weights,
 * turned into ln(weight / total weight of the group); see lexicon.h.
 * Sets *kept to the number of entries kept. */
rd_status lex_trie_build(lex_lexicon *l, lex_entry *entries, size_t n, int rime, long *kept,
                         const char *name, rd_error *err);
void lex_trie_release(lex_trie *t);

#endif
