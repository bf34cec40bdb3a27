/* decoder/boost.h - phrase boosting (hotwords): an Aho-Corasick automaton over
 * word sequences, stepped at word boundaries. Model-agnostic: it knows words
 * as strings, nothing of units, lexicons or LMs.
 *
 * Hotword file, one phrase a line:
 *     # comment (a line whose first non-space character is '#'), blank lines skipped
 *     new york city :2.5      words separated by spaces; ":W" last = the phrase's weight
 *     gnocchi{n y o k i} :4   "{units}" right after a word gives its units (space-
 *                             separated unit names), for a word the lexicon lacks
 * A phrase without ":W" takes the default weight. A repeated phrase keeps its
 * largest weight. Malformed lines are errors naming file and line.
 *
 * Scoring (natural-log units, added to the hypothesis score as is): a complete
 * occurrence of phrase p in a word sequence earns W_p per word (W_p * |p|);
 * every occurrence counts, overlapping ones included. While a hypothesis is
 * inside a phrase it holds partial credit (the weights of the words matched so
 * far, less what completed sub-phrases already paid); when the phrase breaks
 * off the credit is taken back, and boost_finish takes back what is left at the
 * end, so the final bonus of a word sequence is exactly the sum over its
 * complete occurrences. The state of a hypothesis is one int32 (0 = the root);
 * it is a function of the word sequence alone. */
#ifndef RD_BOOST_H
#define RD_BOOST_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/* Largest |weight| of a phrase (natural log, per word): with phrases of many
 * words, a weight near FLT_MAX would make the partial credit overflow to inf. */
#define BOOST_MAX_WEIGHT 1000.0f

typedef struct boost_graph boost_graph;

/* Parses a hotword file held in buf[0..n) (name for messages). */
rd_status boost_parse(const char *buf, size_t n, const char *name, float default_weight,
                      boost_graph **out, rd_error *err);
/* Reads and parses path ("-" = stdin). */
rd_status boost_load(const char *path, float default_weight, boost_graph **out, rd_error *err);
/* One graph of the phrases of every file (e.g. --hotwords and an
 * utterance's own list); messages name the file of each line. */
rd_status boost_load_files(const char *const *paths, int n, float default_weight, boost_graph **out,
                           rd_error *err);
/* Builds a graph from phrases given as strings of space-separated words
 * (weights[i], or default_weight when weights is NULL); for tests and APIs. */
rd_status boost_from_phrases(const char *const *phrases, const float *weights, int n,
                             float default_weight, boost_graph **out, rd_error *err);
void boost_free(boost_graph *g);

int boost_phrase_count(const boost_graph *g);
/* The (first) file name given to boost_parse / boost_load_files ("" for
 * boost_from_phrases). */
const char *boost_name(const boost_graph *g);

/* Words of the phrases: ids 0..boost_word_count-1. */
int boost_word_count(const boost_graph *g);
const char *boost_word(const boost_graph *g, int32_t id);
/* File and line of the word's first use. */
const char *boost_word_file(const boost_graph *g, int32_t id);
long boost_word_line(const boost_graph *g, int32_t id);
/* Id of the word s[0..len), -1 when no phrase uses it. */
int32_t boost_token(const boost_graph *g, const char *s, size_t len);

/* Pronunciations given in the file as word{units}: count, then each one's
 * word, units text (unit names separated by single spaces), file and line. */
int boost_pron_count(const boost_graph *g);
void boost_pron(const boost_graph *g, int i, const char **word, const char **units, const char **file,
                long *line);

/* Steps state by word token (-1: a word no phrase uses); *next receives the
 * new state. Returns the change of the hypothesis' boost (may be negative:
 * partial credit taken back). */
float boost_step(const boost_graph *g, int32_t state, int32_t token, int32_t *next);
/* The partial credit a state holds (>= 0); at the end of an utterance the
 * decoder subtracts it. */
float boost_partial(const boost_graph *g, int32_t state);
/* Number of automaton states (root included). */
int32_t boost_state_count(const boost_graph *g);

#endif
