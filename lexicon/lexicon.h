/* lexicon/lexicon.h - word vocabulary, pronunciations and the unit trie.
 *
 * Formats, detected per file:
 *   plain      word<TAB or spaces>unit unit ...      (repeated word = alternate)
 *   flashlight word l e t t e r s |                  (trailing delimiter dropped)
 *   CMUdict    word(2) PH O N E S                    ("(2)" dropped: an alternate)
 *   lexiconp   word 0.5 unit unit ...                (probability column, Kaldi)
 *   Rime       pinyin .dict.yaml: YAML header up to "...", then
 *              word<TAB>pin yin[<TAB>weight]        (weight: relative frequency)
 * Pronunciation log-probabilities (natural log): 0 for plain, flashlight and
 * CMUdict; ln(prob) for lexiconp (the format is chosen when every line has
 * >= 3 fields and a second field in (0, 1]); for Rime, ln(weight / sum of
 * the weights of the group, i.e. of every word with that pinyin), where a
 * missing weight counts as 1 and a weight of 0 as 0.5. A trailing unit equal
 * to the table's word delimiter (or "|" when the table has no unit "|") is
 * dropped; the blank or the delimiter elsewhere in a pronunciation is an
 * error. A repeated (word, pronunciation) is merged, keeping the best logp.
 * Lines starting with '#' or ';;;' and blank lines are skipped, and so is a
 * comment after a field "#" ("word W ER D # note") unless "#" is a unit.
 *
 * The trie is over unit sequences. A node where at least one pronunciation
 * ends holds a homophone group: every word with that unit sequence. */
#ifndef RD_LEX_LEXICON_H
#define RD_LEX_LEXICON_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "lexicon/units.h"

typedef struct lex_lexicon lex_lexicon;

typedef struct lex_load_stats {
    long lines;            /* lines read */
    long entries;          /* pronunciations kept */
    long skipped;          /* pronunciations dropped: unit not in the table */
    long first_skipped_line; /* line of the first dropped one, 0 if none */
    char first_skipped_unit[64]; /* the unit that was missing there */
} lex_load_stats;

/* Loads path, mapping units through u (which must outlive the lexicon).
 * A pronunciation using a unit that u lacks is dropped and counted in stats
 * (stats may be NULL); malformed lines are errors naming file and line. */
rd_status lex_lexicon_load(const char *path, const lex_units *u,
                           lex_lexicon **out, lex_load_stats *stats,
                           rd_error *err);
rd_status lex_lexicon_parse(const char *buf, size_t n, const char *name,
                            const lex_units *u, lex_lexicon **out,
                            lex_load_stats *stats, rd_error *err);
/* The same, with extra pronunciations added after the file's (a hotword
 * file's word{units}): each unit must be in the table, else an error naming
 * the extra's file and line. Value: 0 (Rime: weight 1). */
typedef struct lex_extra {
    const char *word, *units; /* units: names separated by spaces */
    const char *file;
    long line;
} lex_extra;
rd_status lex_lexicon_load_ex(const char *path, const lex_units *u, const lex_extra *extra, int n_extra,
                              lex_lexicon **out, lex_load_stats *stats, rd_error *err);
rd_status lex_lexicon_parse_ex(const char *buf, size_t n, const char *name, const lex_units *u,
                               const lex_extra *extra, int n_extra, lex_lexicon **out,
                               lex_load_stats *stats, rd_error *err);
void lex_lexicon_free(lex_lexicon *l);

/* Words: ids 0..count-1, in order of first appearance. */
int lex_word_count(const lex_lexicon *l);
const char *lex_word(const lex_lexicon *l, int32_t word);
int32_t lex_word_find(const lex_lexicon *l, const char *w, size_t len); /* -1 */

/* Trie. Node 0 is the root. Children of a node are kept sorted by unit. */
int32_t lex_trie_node_count(const lex_lexicon *l);
/* Child of node by unit, or -1. */
int32_t lex_trie_child(const lex_lexicon *l, int32_t node, int unit);
/* Number of children. */
int lex_trie_child_count(const lex_lexicon *l, int32_t node);
/* i-th child (0 <= i < child_count) and its unit. */
int32_t lex_trie_child_at(const lex_lexicon *l, int32_t node, int i, int *unit);
/* Homophone group at node: returns its size (0 if no pronunciation ends here)
 * and points *words at the word ids and *logp at each entry's pronunciation
 * log-probability (natural log; 0 when the lexicon gives none). Words in a
 * group are distinct. The pointers stay valid for the lexicon's lifetime. */
int lex_trie_group(const lex_lexicon *l, int32_t node, const int32_t **words,
                   const float **logp);
/* Rime lexicons: each entry's unigram prior ln(weight / total weight of the
 * lexicon), parallel to lex_trie_group's words; NULL for other formats. */
const float *lex_trie_group_prior(const lex_lexicon *l, int32_t node);
/* Largest group size in the trie. */
int lex_trie_max_group(const lex_lexicon *l);
/* Parent of a node (-1 for the root). */
int32_t lex_trie_parent(const lex_lexicon *l, int32_t node);

/* LM look-ahead: fills node_score[lex_trie_node_count] with, for each node,
 * the best word_score[w] + pronunciation logp over every group at or below
 * the node (-INFINITY where none). word_score has lex_word_count entries. */
void lex_lookahead(const lex_lexicon *l, const float *word_score,
                   float *node_score);

#endif
