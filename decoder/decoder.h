/* decoder/decoder.h - CTC prefix beam search with a lexicon and an LM.
 *
 * begin / step / end, like flashlight-text's decoders: dec_begin starts an
 * utterance, dec_step takes any number of frames (log-probabilities, natural
 * log, [n_frames, V] row-major), dec_end closes it (word ends and </s> scored)
 * and fills the n-best list. dec_decode does the three at once.
 *
 * Lexicon mode (a lexicon is given): prefixes follow the unit trie; a word
 * ends at the word delimiter or, for models without one, at a trie node that
 * holds a homophone group. Every word of that group becomes a candidate.
 * Lexicon-free mode: prefixes are any unit sequence; words are split at the
 * delimiter (SentencePiece units, lex_units_type: where a ▁-initial piece
 * starts) and each spelled word is scored by the LM, whole.
 *
 * Every frame's word candidates go to the LM in ONE lm_score_words call.
 * Scores: total = acoustic + lm_weight * lm + word_score * words
 *                 + unk_score * out-of-lexicon words + hotword bonus;
 * all natural log. Hotwords (boost.h): each word completion steps the
 * hypothesis' automaton state next to the LM; the state is a function of the
 * word sequence, hence of the prefix, so merged candidates always share it. */
#ifndef RD_DECODER_H
#define RD_DECODER_H

#include <stdint.h>

#include "common/status.h"
#include "decoder/boost.h"
#include "lexicon/lexicon.h"
#include "lexicon/units.h"
#include "lmstate/lm.h"

/* --homophones default: a cap large enough for every English homophone
 * group, small enough that a huge group (a Rime key, a generated lexicon)
 * costs what it looks like. */
#define DEC_HOMOPHONES_DEFAULT 32

typedef struct dec_options {
    int beam;               /* hypotheses kept per frame (default 32) */
    int beam_size_token;    /* units tried per frame, best first; 0 = all (default 0) */
    float beam_threshold;   /* drop hypotheses this far below the best (default 25) */
    float lm_weight;        /* weight of the LM log-probability (default 0.5 with an LM) */
    float word_score;       /* added per word (default 0) */
    float unk_score;        /* added per word spelled outside the lexicon; -INFINITY
                               forbids them in lexicon mode (default -INFINITY with a
                               lexicon, 0 without). Lexicon-free: added per word the
                               LM does not know (pyctcdecode's unk_score_offset);
                               if negative, also while the word in progress begins
                               no word of the LM's vocabulary (lm_vocab_size), times
                               its characters / 6 beyond 6 (pyctcdecode's partial
                               penalty; ranking only, gone when the word ends) */
    int homophones;         /* candidates per hypothesis at a word end, best unigram
                               first; 0 = the whole group (default
                               DEC_HOMOPHONES_DEFAULT: English groups stay whole,
                               CMUdict's largest is 14; a Rime key has up to 312
                               words, and a recurrent LM's state cache grows with it) */
    int nbest;              /* hypotheses returned (default 1) */
    int lookahead;          /* 1: rank partial words by their best unigram below the
                               trie node (LM look-ahead); 0: off (default 1) */
    int blank;              /* blank unit id (default: the unit table's) */
    int delimiter;          /* word delimiter id, -1 none (default: the table's) */
    float token_min_logp;   /* units with a log-probability below this in a frame are
                               not tried, unless one is the frame's best unit
                               (pyctcdecode's token_min_logp; default -inf: off) */
    lm_start_spec lm_start; /* where each utterance's LM context begins (lm.h):
                               a recurrent state (e.g. a state file) and words
                               fed unscored (context for domain biasing); all
                               zero = the model's sentence start (default).
                               What it points to must outlive the decoder. */
    const char *word_separator; /* between words in dec_hyp.text; NULL = automatic:
                               none between two CJK characters (是 / 妈 -> 是妈), else
                               a space (default NULL) */
} dec_options;

/* Fills the documented defaults; blank/delimiter are set to -2 meaning "take
 * them from the unit table". */
void dec_options_default(dec_options *o);

typedef struct dec_decoder dec_decoder;

typedef struct dec_word {
    const char *text;   /* the word (valid until the next dec_begin/free) */
    int32_t lexicon_id; /* id in the lexicon, -1 for a spelled word */
    int oov;            /* counted in n_unk: spelled outside the lexicon, or
                           (lexicon-free) a word the LM does not know */
    int start, end;     /* frames: first unit's first frame, last unit's last frame,
                           along the likeliest CTC path into the word (merged
                           prefixes keep the timing of their best contribution) */
} dec_word;

typedef struct dec_token {
    int unit;           /* unit id (never the blank or the delimiter) */
    int start, end;     /* frames: the first, and the last before the next unit,
                           along the likeliest CTC path (trailing blanks excluded) */
} dec_token;

typedef struct dec_hyp {
    float score;        /* total, as above */
    float acoustic;     /* CTC log-probability of the prefix (natural log) */
    float lm;           /* LM log-probability including </s> (unweighted) */
    float boost;        /* hotword bonus (complete phrases only; in the score) */
    int n_words;
    int n_unk;          /* words spelled outside the lexicon (lexicon-free: words
                           the LM does not know) */
    const dec_word *words;
    const char *text;   /* words joined by opt.word_separator (automatic: a space,
                           none between CJK characters) */
    int n_tokens;
    const dec_token *tokens; /* the units of the prefix, in order */
    float first_pass;   /* the search's total; score differs after dec_rescore */
    float rescore_lm;   /* dec_rescore's LM log-probability including </s>
                           (unweighted); 0 when not rescored */
    int fallback;       /* 1: no hypothesis could finish its last word; the
                           result is the complete words of the best one, its
                           score acoustic (whole prefix) + weighted LM of those
                           words (no </s>) + word and unk scores, without the
                           look-ahead bonus of the unfinished word */
} dec_hyp;

/* lexicon may be NULL (lexicon-free); lm may be NULL (no LM). units, lexicon
 * and lm must outlive the decoder; lm may be shared by several decoders. */
rd_status dec_create(const dec_options *opt, const lex_units *units,
                     const lex_lexicon *lexicon, lm_model *lm,
                     dec_decoder **out, rd_error *err);
void dec_free(dec_decoder *d);

/* Sets the hotwords for the next utterances (NULL: none). g stays in use
 * while set: set NULL (or another graph) before freeing it (setting the
 * graph already set does nothing, so a new graph at a freed one's address
 * would not be bound). In lexicon mode every hotword must be a lexicon word
 * (unless spelled words are allowed): else an error naming the hotword file
 * and line. Homophone groups are reordered so that hotwords come first (a
 * --homophones cap never cuts one). Call between utterances. */
rd_status dec_set_boost(dec_decoder *d, const boost_graph *g, rd_error *err);
/* The check dec_set_boost makes: every hotword is a word of lex. */
rd_status dec_boost_check(const lex_lexicon *lex, const boost_graph *g, rd_error *err);

rd_status dec_begin(dec_decoder *d, rd_error *err);
/* dec_begin; with carry = 1 the LM context continues from the best result
 * of the previous utterance (its state after its last word, </s> not fed),
 * so that context spans the utterances of one session. */
rd_status dec_begin_ex(dec_decoder *d, int carry, rd_error *err);
rd_status dec_step(dec_decoder *d, const float *logprobs, int n_frames,
                   rd_error *err);
rd_status dec_end(dec_decoder *d, rd_error *err);
rd_status dec_decode(dec_decoder *d, const float *logprobs, int n_frames,
                     rd_error *err);
/* dec_decode starting with dec_begin_ex(d, carry). */
rd_status dec_decode_ex(dec_decoder *d, const float *logprobs, int n_frames,
                        int carry, rd_error *err);

/* Results of the last dec_end: n-best, best first. */
int dec_nbest_count(const dec_decoder *d);
const dec_hyp *dec_nbest(const dec_decoder *d, int i);
/* N-best rescoring (decoder/rescore.c): each hypothesis of the last dec_end
 * gets rescore_lm = ln p(its words, </s>) under the model of cache c (from its
 * start state), score = first_pass + weight * rescore_lm + word_score *
 * n_words, and the list is
 * re-ranked, best first (ties keep the search's order). Hypotheses with a
 * common word prefix share its states: one batched lm_score_words call per
 * word position over the distinct prefixes. c needs 2 * dec_nbest_count(d)
 * slots at least; its states are overwritten. */
rd_status dec_rescore(dec_decoder *d, lm_cache *c, float weight, float word_score, rd_error *err);
/* The decoder's LM state cache (NULL without an LM). */
const lm_cache *dec_lm_cache(const dec_decoder *d);
/* The current best partial hypothesis's text, for streaming (may still
 * change). */
const char *dec_partial(dec_decoder *d);
/* The stable part: the words every live hypothesis shares. They can no
 * longer change, whatever frames follow (every later hypothesis, and the
 * final result, descends from a live one). *n_words (may be NULL) receives
 * their count. Valid until the next call into the decoder. */
const char *dec_stable(dec_decoder *d, int *n_words);

#endif
