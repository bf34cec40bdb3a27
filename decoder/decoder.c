/* decoder/decoder.c - CTC prefix beam search over a unit trie, fused with an LM.
 *
 * A prefix (hypothesis identity) is a node of a persistent prefix tree
 * (hyp_store.h): the parent prefix, the unit it emitted and the word it
 * completed, so a homophone choice makes distinct prefixes of one unit
 * sequence. Each frame, every live prefix proposes candidates: itself (blank,
 * repeated unit, silence at a word boundary) and its extensions by the frame's
 * best units. Candidates with the same identity key (parent, unit, word) merge
 * by log-sum-exp, as in prefix beam search. The frame's word completions are
 * LM-scored in one batched call, the best `beam` candidates survive, and one
 * lm_reorder moves their LM states to slots 0..k-1. */
#include "decoder/decoder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/hash.h"
#include "decoder/boost.h"
#include "decoder/hyp_store.h"
#include "decoder/rescore.h"

#define NEG_INF (-INFINITY)
#define TRIE_SPELL (-1) /* spelling outside the lexicon, or lexicon-free */
#define TRIE_UNKNOWN (-2) /* extend(): look the trie child up */
#define SPELL_MAX 1024  /* bytes of a spelled word passed to the LM */

/* A live hypothesis (one per beam position) or a candidate of this frame. */
typedef struct hyp {
    int32_t parent, unit, word; /* identity key (node fields) */
    int32_t node;        /* persistent node id, -1 while new */
    int32_t trie;        /* trie node, or TRIE_SPELL */
    int32_t last_unit;   /* last unit of the prefix (CTC repeat rule) */
    int32_t spell_len;   /* units of the word in progress outside the lexicon */
    int32_t word_start;  /* first frame of the word in progress */
    int32_t unit_end;    /* last frame at which the prefix's likeliest path was in
                            its last unit (not a blank after it) */
    int32_t unit_start;  /* frame at which that path entered its last unit */
    int32_t parent_end;  /* the parent's unit_end when that path left it */
    int32_t slot;        /* LM slot holding this prefix's LM state */
    int32_t lm_word;     /* completion awaiting its LM score: handle, else -1 */
    int32_t n_words, n_unk;
    int32_t boost_state; /* hotword automaton state (boost.h), 0 = root */
    float boost;         /* hotword bonus so far, partial credit included */
    float partial_unk;   /* lexicon-free: unk_score (scaled by length) while the word
                            in progress is no prefix of an LM word, else 0 */
    float pb, pnb;       /* acoustic log-probs ending in blank / non-blank */
    float lm;            /* committed LM log-probability (unweighted) */
    float score;         /* ranking score */
} hyp;

struct dec_decoder {
    dec_options opt;
    const lex_units *units;
    const lex_lexicon *lex;
    lm_model *lm_model;
    lm_cache *lm;
    int32_t carry_slot;     /* LM slot of the last utterance's best result, -1 none */
    int V, blank, delim, K;
    size_t sep_len;      /* bytes of the longest word separator */
    int leaf_mode;       /* lexicon without delimiter: words end at trie nodes */
    int allow_spell;     /* lexicon mode: words outside the lexicon allowed */
    const char **vocab;  /* lexicon-free, an LM with a closed vocabulary and a
                            negative unk_score: its words, sorted (byte order) */
    int32_t n_vocab;
    int piece_words;     /* lexicon-free, SentencePiece units: a word-start piece
                            closes the word in progress and opens the next */

    int32_t *word_lm;    /* lexicon word -> LM handle */
    float *lookahead;    /* per trie node: best unigram below, minus the root's */
    int32_t *groups;     /* per trie node: homophones, best unigram first */
    int32_t *group_off;  /* node_count + 1 offsets into groups */
    float *group_uni;    /* per word: the unigram that orders groups (NULL: none) */
    float *word_prior;   /* no LM, Rime lexicon: per word ln(its weights / all weights),
                            scored as the LM would be (at lm_weight); else NULL */
    const boost_graph *boost; /* hotwords, NULL = none */
    int32_t *word_boost; /* lexicon word -> hotword token, -1 none */

    hyp *beam;           /* live hypotheses; beam[i]'s LM state is in slot i */
    int n_beam;
    hyp *cand;           /* candidates of the frame */
    int n_cand, cap_cand;
    int32_t *table;      /* open addressing: key -> candidate index */
    uint32_t *table_gen; /* bucket valid when its stamp equals gen */
    uint32_t gen;
    uint32_t table_mask;
    int32_t *order;      /* selection scratch, cap_cand entries */
    int32_t *top_units;
    unsigned char *unit_on;  /* per unit: selected this frame */
    int max_slots;
    int32_t *lm_parent, *lm_wordv, *lm_child, *lm_cidx;
    float *lm_score;
    float *lm_floor;
    char spell[SPELL_MAX + 8];

    dec_store store;
    int frame;           /* frames consumed in this utterance */
    int begun;
    /* results */
    dec_hyp *nbest;
    dec_word *words;
    dec_token *tokens;
    size_t tokens_cap;
    char *text;
    size_t text_cap, words_cap;
    int n_nbest;
};

/* ---------- helpers ---------- */

static inline float log_add(float a, float b) {
    if (a < b) { float t = a; a = b; b = t; }
    if (b == NEG_INF) return a;
    return a + log1pf(expf(b - a));
}

static inline uint32_t key_hash(int32_t p, int32_t u, int32_t w) {
    uint64_t h = (uint64_t)(uint32_t)p * 0x9E3779B97F4A7C15ull;
    h ^= ((uint64_t)(uint32_t)u << 32 | (uint32_t)w) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    return (uint32_t)(h >> 32);
}

void dec_options_default(dec_options *o) {
    memset(o, 0, sizeof *o);
    o->token_min_logp = NEG_INF;
    o->beam = 32;
    o->beam_size_token = 0;
    o->beam_threshold = 25.0f;
    o->lm_weight = 0.5f;
    o->word_score = 0.0f;
    o->unk_score = NEG_INF;
    o->homophones = DEC_HOMOPHONES_DEFAULT;
    o->word_separator = NULL;
    o->nbest = 1;
    o->lookahead = 1;
    o->blank = -2;
    o->delimiter = -2;
}

static int at_boundary(const dec_decoder *d, const hyp *h) {
    return d->lex ? h->trie == 0 : h->spell_len == 0;
}

/* ---------- setup ---------- */

static rd_status check_options(const dec_options *o, int V, rd_error *err) {
    if (o->beam < 1 || o->beam > 100000)
        return rd_fail(err, RD_ERR_USAGE, "beam must be 1..100000, got %d", o->beam);
    if (o->beam_size_token < 0)
        return rd_fail(err, RD_ERR_USAGE, "beam-size-token must be >= 0, got %d", o->beam_size_token);
    if (!(o->beam_threshold > 0))
        return rd_fail(err, RD_ERR_USAGE, "beam-threshold must be > 0, got %g", (double)o->beam_threshold);
    if (o->nbest < 1)
        return rd_fail(err, RD_ERR_USAGE, "nbest must be at least 1, got %d", o->nbest);
    if (o->homophones < 0)
        return rd_fail(err, RD_ERR_USAGE, "homophones must be >= 0, got %d", o->homophones);
    if (o->blank < -2 || o->blank >= V || o->blank == -1)
        return rd_fail(err, RD_ERR_USAGE, "blank id %d is not a unit (0..%d)", o->blank, V - 1);
    if (o->delimiter < -2 || o->delimiter >= V)
        return rd_fail(err, RD_ERR_USAGE, "word delimiter id %d is not a unit (0..%d)", o->delimiter, V - 1);
    if (!isfinite(o->lm_weight) || !isfinite(o->word_score) || isnan(o->unk_score) || (o->unk_score > 0 && isinf(o->unk_score)))
        return rd_fail(err, RD_ERR_USAGE, "lm-weight and word-score must be finite and unk-score finite or -inf, got %g, %g, %g",
                       (double)o->lm_weight, (double)o->word_score, (double)o->unk_score);
    return RD_OK;
}

static int max_group(const dec_decoder *d) {
    if (!d->lex) return 1;
    int g = lex_trie_max_group(d->lex);
    if (d->opt.homophones > 0 && g > d->opt.homophones) g = d->opt.homophones;
    return g > 0 ? g : 1;
}

typedef struct group_entry { int32_t word; float score; int idx; int boosted; } group_entry;

static int cmp_group_entry(const void *a, const void *b) {
    const group_entry *x = a, *y = b;
    if (x->boosted != y->boosted) return y->boosted - x->boosted;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->idx - y->idx;
}

/* Orders each homophone group best first (hotwords first, then unigram +
 * pronunciation logp, lexicon order on ties) and keeps the first
 * `homophones`, so a cap never cuts a hotword. Replaces existing groups. */
static rd_status build_groups(dec_decoder *d, const float *uni, rd_error *err) {
    int32_t nodes = lex_trie_node_count(d->lex);
    int gmax = lex_trie_max_group(d->lex);
    free(d->group_off);
    free(d->groups);
    d->groups = NULL;
    d->group_off = rd_malloc_array((size_t)nodes + 1, sizeof *d->group_off);
    group_entry *tmp = rd_malloc_array((size_t)(gmax > 0 ? gmax : 1), sizeof *tmp);
    if (!d->group_off || !tmp) {
        free(tmp);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for the homophone groups");
    }
    size_t total = 0;
    for (int32_t n = 0; n < nodes; n++) {
        const int32_t *w;
        const float *lp;
        int g = lex_trie_group(d->lex, n, &w, &lp);
        if (d->opt.homophones > 0 && g > d->opt.homophones) g = d->opt.homophones;
        d->group_off[n] = (int32_t)total;
        total += (size_t)g;
    }
    d->group_off[nodes] = (int32_t)total;
    d->groups = rd_malloc_array(total, sizeof *d->groups);
    if (!d->groups) {
        free(tmp);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for the homophone groups");
    }
    for (int32_t n = 0; n < nodes; n++) {
        const int32_t *w;
        const float *lp;
        int g = lex_trie_group(d->lex, n, &w, &lp);
        if (g == 0) continue;
        for (int i = 0; i < g; i++) {
            tmp[i].word = w[i];
            tmp[i].score = (uni ? uni[w[i]] : 0.0f) + lp[i];
            tmp[i].idx = i;
            tmp[i].boosted = d->word_boost && d->word_boost[w[i]] >= 0;
        }
        qsort(tmp, (size_t)g, sizeof *tmp, cmp_group_entry);
        int keep = d->group_off[n + 1] - d->group_off[n];
        for (int i = 0; i < keep; i++) d->groups[d->group_off[n] + i] = tmp[i].word;
    }
    free(tmp);
    return RD_OK;
}

/* uni[w] = the exact unigram of every word in a homophone group of two or
 * more (the order that --homophones cuts), 0 for the rest. */
static rd_status group_unigrams(dec_decoder *d, float *uni, rd_error *err) {
    int nw = lex_word_count(d->lex);
    int32_t nodes = lex_trie_node_count(d->lex), k = 0;
    int32_t *ask = rd_malloc_array((size_t)nw, sizeof *ask), *who = rd_malloc_array((size_t)nw, sizeof *who);
    float *val = rd_malloc_array((size_t)nw, sizeof *val);
    rd_status st = RD_OK;
    if (!ask || !who || !val) st = rd_fail(err, RD_ERR_NOMEM, "out of memory ranking homophones");
    for (int w = 0; w < nw; w++) uni[w] = 0.0f;
    for (int32_t n = 0; n < nodes && st == RD_OK; n++) {
        const int32_t *w;
        const float *lp;
        int g = lex_trie_group(d->lex, n, &w, &lp);
        for (int i = 0; i < g && g > 1; i++) {
            who[k] = w[i];
            ask[k++] = d->word_lm[w[i]];
        }
    }
    if (st == RD_OK && k > 0) st = lm_unigrams(d->lm, ask, (int)k, val, err);
    for (int32_t i = 0; i < k && st == RD_OK; i++) uni[who[i]] = val[i];
    free(ask);
    free(who);
    free(val);
    return st;
}

/* No LM, a Rime lexicon: each word's prior, the log of the sum of its
 * entries' weights over every weight (lex_trie_group_prior). */
static rd_status word_priors(dec_decoder *d, rd_error *err) {
    int nw = lex_word_count(d->lex);
    int32_t nodes = lex_trie_node_count(d->lex);
    if (nodes == 0 || !lex_trie_group_prior(d->lex, 0)) return RD_OK;
    d->word_prior = rd_malloc_array((size_t)nw, sizeof *d->word_prior);
    if (!d->word_prior) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %d word priors", nw);
    for (int w = 0; w < nw; w++) d->word_prior[w] = NEG_INF;
    for (int32_t n = 0; n < nodes; n++) {
        const int32_t *w;
        const float *lp;
        int g = lex_trie_group(d->lex, n, &w, &lp);
        const float *pr = lex_trie_group_prior(d->lex, n);
        for (int i = 0; i < g; i++) d->word_prior[w[i]] = log_add(d->word_prior[w[i]], pr[i]);
    }
    return RD_OK;
}

static rd_status bind_lexicon(dec_decoder *d, rd_error *err) {
    int nw = lex_word_count(d->lex);
    float *uni = NULL;
    if (!d->lm) RD_TRY(word_priors(d, err));
    if (d->lm) {
        d->word_lm = rd_malloc_array((size_t)nw, sizeof *d->word_lm);
        uni = rd_malloc_array((size_t)nw, sizeof *uni);
        if (!d->word_lm || !uni) {
            free(uni);
            return rd_fail(err, RD_ERR_NOMEM, "out of memory binding %d words to the LM", nw);
        }
        for (int w = 0; w < nw; w++) {
            const char *t = lex_word(d->lex, w);
            d->word_lm[w] = lm_word(d->lm, t, strlen(t));
            if (d->word_lm[w] < 0) {
                free(uni);
                return rd_fail(err, RD_ERR_NOMEM, "out of memory adding the word '%s' to the LM", t);
            }
        }
    }
    rd_status st = d->lm ? group_unigrams(d, uni, err) : RD_OK;
    const float *order = uni ? uni : d->word_prior;
    if (st == RD_OK) st = build_groups(d, order, err);
    if (st == RD_OK && uni) {
        d->group_uni = rd_malloc_array((size_t)nw, sizeof *d->group_uni);
        if (!d->group_uni) st = rd_fail(err, RD_ERR_NOMEM, "out of memory for the homophone groups");
        else memcpy(d->group_uni, uni, (size_t)nw * sizeof *uni);
    }
    if (st == RD_OK && d->lm && d->opt.lookahead) {
        st = lm_lookahead(d->lm, d->word_lm, nw, uni, err);
        /* a homophone's exact unigram (known from group_unigrams) is the
         * tighter bound: use it */
        int32_t nodes = lex_trie_node_count(d->lex);
        for (int32_t n = 0; n < nodes && st == RD_OK; n++) {
            const int32_t *w;
            const float *lp;
            int g = lex_trie_group(d->lex, n, &w, &lp);
            for (int i = 0; i < g && g > 1; i++) uni[w[i]] = d->group_uni[w[i]];
        }
    }
    if (st == RD_OK && (d->lm || d->word_prior) && d->opt.lookahead) {
        const float *la = d->lm ? uni : d->word_prior;
        int32_t nodes = lex_trie_node_count(d->lex);
        d->lookahead = rd_malloc_array((size_t)nodes, sizeof *d->lookahead);
        if (!d->lookahead) {
            st = rd_fail(err, RD_ERR_NOMEM, "out of memory for the look-ahead table");
        } else {
            lex_lookahead(d->lex, la, d->lookahead);
            float root = d->lookahead[0];
            for (int32_t n = 0; n < nodes; n++)
                d->lookahead[n] = isfinite(root) ? d->lookahead[n] - root : 0.0f;
            d->lookahead[0] = 0.0f;
        }
    }
    free(uni);
    return st;
}

static rd_status alloc_buffers(dec_decoder *d, rd_error *err) {
    int H = max_group(d);
    size_t beam = (size_t)d->opt.beam;
    size_t per = d->leaf_mode ? 1 + (size_t)d->K * (size_t)(1 + H) : 2 + (size_t)d->K + (size_t)H;
    size_t cap = beam * per;
    if (cap > ((size_t)1 << 24)) cap = (size_t)1 << 24;
    d->cap_cand = (int)cap;
    d->beam = rd_malloc_array(beam, sizeof *d->beam);
    d->cand = rd_malloc_array(cap, sizeof *d->cand);
    d->order = rd_malloc_array(cap, sizeof *d->order);
    d->top_units = rd_malloc_array((size_t)d->V, sizeof *d->top_units);
    d->unit_on = rd_calloc_array((size_t)d->V, 1);
    d->nbest = rd_malloc_array((size_t)d->opt.nbest, sizeof *d->nbest);
    size_t tsize = 64;
    while (tsize < cap * 2) tsize <<= 1;
    d->table_mask = (uint32_t)(tsize - 1);
    d->table = rd_malloc_array(tsize, sizeof *d->table);
    d->table_gen = rd_calloc_array(tsize, sizeof *d->table_gen);
    if (!d->beam || !d->cand || !d->order || !d->top_units || !d->unit_on || !d->nbest || !d->table || !d->table_gen)
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for a beam of %d (%zu candidates a frame)",
                       d->opt.beam, cap);
    if (!d->lm_model) return RD_OK;
    /* slots 0..beam-1 hold live hypotheses; beam.. receive completions */
    size_t slots = beam + beam * (size_t)H + beam;
    if (slots > beam + cap) slots = beam + cap;
    d->max_slots = (int)slots;
    RD_TRY(lm_cache_create(d->lm_model, d->max_slots, &d->lm, err));
    RD_TRY(lm_set_start(d->lm, &d->opt.lm_start, err));
    d->lm_parent = rd_malloc_array(slots, sizeof(int32_t));
    d->lm_wordv = rd_malloc_array(slots, sizeof(int32_t));
    d->lm_child = rd_malloc_array(slots, sizeof(int32_t));
    d->lm_cidx = rd_malloc_array(slots, sizeof(int32_t));
    d->lm_score = rd_malloc_array(slots, sizeof(float));
    d->lm_floor = rd_malloc_array(slots, sizeof(float));
    if (!d->lm_parent || !d->lm_wordv || !d->lm_child || !d->lm_cidx || !d->lm_score || !d->lm_floor)
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for %zu LM slots", slots);
    return RD_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lexicon-free: the LM's words, sorted, for the partial-word penalty (none
 * for an open vocabulary). */
static rd_status load_vocab(dec_decoder *d, rd_error *err) {
    int32_t n = lm_vocab_size(d->lm_model);
    if (n <= 0) return RD_OK;
    d->vocab = rd_malloc_array((size_t)n, sizeof *d->vocab);
    if (!d->vocab) return rd_fail(err, RD_ERR_NOMEM, "out of memory for the LM's %d words", (int)n);
    for (int32_t i = 0; i < n; i++) {
        const char *w = lm_vocab_word(d->lm_model, i);
        if (w && w[0] != '<') d->vocab[d->n_vocab++] = w; /* not <s>, </s>, <unk> */
    }
    qsort(d->vocab, (size_t)d->n_vocab, sizeof *d->vocab, cmp_str);
    return RD_OK;
}

rd_status dec_create(const dec_options *opt, const lex_units *units,
                     const lex_lexicon *lexicon, lm_model *lm,
                     dec_decoder **out, rd_error *err) {
    *out = NULL;
    int V = lex_units_count(units);
    RD_TRY(check_options(opt, V, err));
    dec_decoder *d = calloc(1, sizeof *d);
    if (!d) return rd_fail(err, RD_ERR_NOMEM, "out of memory creating the decoder");
    d->opt = *opt;
    d->units = units;
    d->lex = lexicon;
    d->lm_model = lm;
    d->V = V;
    d->K = opt->beam_size_token > 0 && opt->beam_size_token < V ? opt->beam_size_token : V;
    d->blank = opt->blank == -2 ? lex_units_blank(units) : opt->blank;
    d->delim = opt->delimiter == -2 ? lex_units_delimiter(units) : opt->delimiter;
    if (d->delim == d->blank) d->delim = -1;
    d->leaf_mode = lexicon && d->delim < 0;
    d->allow_spell = lexicon && d->delim >= 0 && opt->unk_score > NEG_INF;
    d->piece_words = !lexicon && lex_units_type(units) == LEX_UNITS_SENTENCEPIECE;
    d->carry_slot = -1;
    d->sep_len = opt->word_separator ? strlen(opt->word_separator) : 1;
    dec_store_init(&d->store);
    rd_status st = alloc_buffers(d, err);
    if (st == RD_OK && lexicon) st = bind_lexicon(d, err);
    if (st == RD_OK && !lexicon && lm && opt->unk_score < 0 && isfinite(opt->unk_score)) st = load_vocab(d, err);
    if (st != RD_OK) {
        dec_free(d);
        return st;
    }
    *out = d;
    return RD_OK;
}

void dec_free(dec_decoder *d) {
    if (!d) return;
    lm_cache_free(d->lm);
    free(d->word_lm);
    free(d->lookahead);
    free(d->groups);
    free(d->group_off);
    free(d->group_uni);
    free(d->word_prior);
    free(d->word_boost);
    free(d->vocab);
    free(d->beam);
    free(d->cand);
    free(d->table);
    free(d->table_gen);
    free(d->order);
    free(d->top_units);
    free(d->unit_on);
    free(d->lm_parent);
    free(d->lm_wordv);
    free(d->lm_child);
    free(d->lm_cidx);
    free(d->lm_score);
    free(d->lm_floor);
    free(d->nbest);
    free(d->words);
    free(d->tokens);
    free(d->text);
    dec_store_free(&d->store);
    free(d);
}

/* ---------- spelled words ---------- */

/* 1 when the unit adds text to a spelled word (a lone ▁ piece does not). */
static int unit_has_text(const dec_decoder *d, int unit) {
    return lex_units_text(d->units, unit)[0] != '\0';
}

/* Writes into d->spell the word that ends at prefix node `node` followed by
 * unit `extra` (-1 for none): the units since the last word boundary. With
 * piece_words, extra (the piece that closed the word) opens the next word
 * instead, and the word's own first piece is the one on the node that
 * closed the word before it. */
static size_t spell_word(dec_decoder *d, int32_t node, int extra) {
    int32_t units[256];
    int n = 0;
    if (extra >= 0 && extra != d->delim && !d->piece_words) units[n++] = extra;
    const dec_node *nodes = d->store.node;
    while (node > 0 && nodes[node].word == DEC_WORD_NONE && n < 256) {
        units[n++] = nodes[node].unit;
        node = nodes[node].parent;
    }
    if (d->piece_words && node > 0 && n < 256 && nodes[node].unit >= 0 &&
        lex_units_word_start(d->units, nodes[node].unit))
        units[n++] = nodes[node].unit;
    size_t len = 0;
    for (int i = n - 1; i >= 0; i--) {
        const char *t = lex_units_text(d->units, units[i]);
        size_t tl = strlen(t);
        if (len + tl > SPELL_MAX) break;
        memcpy(d->spell + len, t, tl);
        len += tl;
    }
    d->spell[len] = '\0';
    return len;
}

/* 1 when s[0..n) begins some word of d->vocab (binary search for the first
 * word >= s). */
static int vocab_has_prefix(const dec_decoder *d, const char *s, size_t n) {
    int32_t lo = 0, hi = d->n_vocab;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (strncmp(d->vocab[mid], s, n) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < d->n_vocab && strncmp(d->vocab[lo], s, n) == 0;
}

/* pyctcdecode's partial-word penalty: unk_score while the word in progress
 * (d->spell[0..n)) begins no word the LM knows, times its length in
 * characters over 6 beyond 6 characters; 0 otherwise. `known` is 0 when the
 * word's shorter prefix already was no prefix (then neither is this). */
static float partial_penalty(const dec_decoder *d, size_t n, int known) {
    if (known && vocab_has_prefix(d, d->spell, n)) return 0.0f;
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += ((unsigned char)d->spell[i] & 0xC0) != 0x80;
    return d->opt.unk_score * (chars > 6 ? (float)chars / 6.0f : 1.0f);
}

/* The word in progress after h emits unit (lexicon-free), into d->spell. */
static size_t spell_partial(dec_decoder *d, const hyp *h, int unit) {
    size_t len = spell_word(d, h->node, d->piece_words ? -1 : unit);
    if (d->piece_words) {
        const char *t = lex_units_text(d->units, unit);
        size_t tl = strlen(t);
        if (len + tl > SPELL_MAX) tl = SPELL_MAX - len;
        memcpy(d->spell + len, t, tl);
        len += tl;
        d->spell[len] = '\0';
    }
    return len;
}

/* ---------- candidates ---------- */

/* Finds the candidate with key (p,u,w) or appends one copied from the live
 * hypothesis `from` (with empty acoustic scores). Returns its index or -1
 * when the candidate table is full. *fresh tells whether it was appended. */
static int cand_get(dec_decoder *d, int32_t p, int32_t u, int32_t w,
                    const hyp *from, int *fresh) {
    uint32_t b = key_hash(p, u, w) & d->table_mask;
    for (;;) {
        if (d->table_gen[b] != d->gen) break;
        hyp *c = &d->cand[d->table[b]];
        if (c->parent == p && c->unit == u && c->word == w) {
            *fresh = 0;
            return d->table[b];
        }
        b = (b + 1) & d->table_mask;
    }
    if (d->n_cand >= d->cap_cand) return -1;
    int i = d->n_cand++;
    d->table_gen[b] = d->gen;
    d->table[b] = i;
    hyp *c = &d->cand[i];
    *c = *from;
    c->parent = p;
    c->unit = u;
    c->word = w;
    c->node = -1;
    c->pb = c->pnb = NEG_INF;
    c->lm_word = -1;
    *fresh = 1;
    return i;
}

/* First frame of the word that a unit emitted after h belongs to. With
 * piece_words, a word begins at its first piece: the piece on a node that
 * closed the word before, or a lone ▁ (a boundary that opens a word). */
static int32_t word_start_of(const dec_decoder *d, const hyp *h) {
    if (d->piece_words && h->unit >= 0 && lex_units_word_start(d->units, h->unit) &&
        (h->word != DEC_WORD_NONE || !unit_has_text(d, h->unit)))
        return h->unit_start;
    return at_boundary(d, h) ? d->frame : h->word_start;
}

/* Word timing follows the likeliest path: the contribution a from h sets
 * the candidate's word start when it beats everything merged so far. */
static void take_start(const dec_decoder *d, hyp *c, const hyp *h, float a) {
    if (a > c->pb && a > c->pnb) {
        c->word_start = word_start_of(d, h);
        c->unit_start = d->frame; /* the unit is emitted here */
        c->parent_end = h->unit_end;
    }
}

static void add_extension(dec_decoder *d, const hyp *h, int unit, int32_t trie,
                          float a) {
    int fresh;
    int i = cand_get(d, h->node, unit, DEC_WORD_NONE, h, &fresh);
    if (i < 0) return;
    hyp *c = &d->cand[i];
    if (fresh) {
        c->trie = trie;
        c->last_unit = unit;
        c->spell_len = trie == TRIE_SPELL ? h->spell_len + (!d->piece_words || unit_has_text(d, unit)) : 0;
        if (d->vocab && c->spell_len > 0) c->partial_unk = partial_penalty(d, spell_partial(d, h, unit), h->partial_unk == 0);
    }
    take_start(d, c, h, a);
    c->pnb = log_add(c->pnb, a);
}

/* A word ends: lexicon word `word` (>= 0) or a spelled word. */
static void add_completion(dec_decoder *d, const hyp *h, int unit, int32_t word,
                           float a) {
    int fresh;
    int i = cand_get(d, h->node, unit, word, h, &fresh);
    if (i < 0) return;
    hyp *c = &d->cand[i];
    if (fresh) {
        c->trie = d->lex ? 0 : TRIE_SPELL;
        c->last_unit = unit >= 0 ? unit : h->last_unit;
        c->spell_len = d->piece_words && unit >= 0 && unit != d->delim ? unit_has_text(d, unit) : 0;
        c->partial_unk = 0.0f; /* piece_words: the next word's, set below */
        c->n_words++;
        size_t len = word < 0 && (d->lm || d->boost) ? spell_word(d, h->node, unit) : 0;
        if (d->lm) c->lm_word = word >= 0 ? d->word_lm[word] : lm_word(d->lm, d->spell, len);
        else if (d->word_prior && word >= 0) c->lm += d->word_prior[word];
        if (d->boost) {
            int32_t tok = word >= 0 ? d->word_boost[word] : boost_token(d->boost, d->spell, len);
            c->boost += boost_step(d->boost, h->boost_state, tok, &c->boost_state);
        }
        /* unknown: outside the lexicon, or (lexicon-free) unknown to the LM */
        if (word == DEC_WORD_SPELLED && (d->lex || (d->lm && !lm_word_known(d->lm, c->lm_word)))) c->n_unk++;
        if (d->vocab && c->spell_len > 0) { /* piece_words: the word the piece opens */
            const char *t = lex_units_text(d->units, unit);
            size_t tl = strlen(t) < SPELL_MAX ? strlen(t) : SPELL_MAX;
            memcpy(d->spell, t, tl);
            c->partial_unk = partial_penalty(d, tl, 1);
        }
    }
    take_start(d, c, h, a);
    c->pnb = log_add(c->pnb, a);
}

static void complete_at(dec_decoder *d, const hyp *h, int unit, float a) {
    if (h->trie > 0) {
        int32_t lo = d->group_off[h->trie], hi = d->group_off[h->trie + 1];
        for (int32_t g = lo; g < hi; g++) add_completion(d, h, unit, d->groups[g], a);
        if (lo == hi && d->allow_spell) add_completion(d, h, unit, DEC_WORD_SPELLED, a);
    } else if (h->trie == TRIE_SPELL && h->spell_len > 0) {
        add_completion(d, h, unit, DEC_WORD_SPELLED, a);
    }
}

/* Prefix h emits unit c (not blank) with acoustic log-prob a. */
/* m: the trie child of the hypothesis' node by c when the caller knows it,
 * TRIE_UNKNOWN otherwise. */
static void extend(dec_decoder *d, int hi, int c, float a, int32_t m) {
    const hyp *h = &d->beam[hi];
    if (c == d->delim) {
        if (at_boundary(d, h)) d->cand[hi].pnb = log_add(d->cand[hi].pnb, a);
        else complete_at(d, h, c, a);
        return;
    }
    if (!d->lex) {
        if (d->piece_words ? h->spell_len > 0 && lex_units_word_start(d->units, c) : d->delim < 0)
            add_completion(d, h, c, DEC_WORD_SPELLED, a); /* piece_words: c opens the next word */
        else add_extension(d, h, c, TRIE_SPELL, a);
        return;
    }
    if (h->trie == TRIE_SPELL) {
        add_extension(d, h, c, TRIE_SPELL, a);
        return;
    }
    if (m == TRIE_UNKNOWN) m = lex_trie_child(d->lex, h->trie, c);
    if (m < 0) {
        if (d->allow_spell) add_extension(d, h, c, TRIE_SPELL, a);
        return;
    }
    if (!d->leaf_mode || lex_trie_child_count(d->lex, m) > 0) add_extension(d, h, c, m, a);
    if (d->leaf_mode)
        for (int32_t g = d->group_off[m]; g < d->group_off[m + 1]; g++)
            add_completion(d, h, c, d->groups[g], a);
}

/* The frame's best K units other than blank, into top_units; units below
 * token_min_logp are left out unless one is the frame's best unit. */
static int select_top(dec_decoder *d, const float *lp) {
    int n = 0;
    if (d->K >= d->V) {
        for (int u = 0; u < d->V; u++)
            if (u != d->blank && lp[u] > NEG_INF) d->top_units[n++] = u;
        return n;
    }
    int K = d->K;
    for (int u = 0; u < d->V; u++) {
        if (u == d->blank || !(lp[u] > NEG_INF)) continue;
        if (n < K) {
            int p = n++;
            while (p > 0 && lp[d->top_units[p - 1]] < lp[u]) {
                d->top_units[p] = d->top_units[p - 1];
                p--;
            }
            d->top_units[p] = u;
        } else if (lp[u] > lp[d->top_units[K - 1]]) {
            int p = K - 1;
            while (p > 0 && lp[d->top_units[p - 1]] < lp[u]) {
                d->top_units[p] = d->top_units[p - 1];
                p--;
            }
            d->top_units[p] = u;
        }
    }
    return n;
}

static int select_units(dec_decoder *d, const float *lp) {
    for (int u = 0; u < d->V; u++) d->unit_on[u] = 0;
    int n = select_top(d, lp);
    float floor = d->opt.token_min_logp;
    if (floor > NEG_INF) {
        int best = 0;
        float bv = lp[0];
        for (int u = 1; u < d->V; u++)
            if (lp[u] > bv) bv = lp[u], best = u;
        int k = 0;
        for (int i = 0; i < n; i++)
            if (lp[d->top_units[i]] >= floor || d->top_units[i] == best) d->top_units[k++] = d->top_units[i];
        n = k;
    }
    for (int i = 0; i < n; i++) d->unit_on[d->top_units[i]] = 1;
    return n;
}

/* 1 when a hypothesis in the trie can only go on by the units of its node's
 * children, its last unit (a repeat) and the delimiter: then the frame loop
 * visits those instead of every selected unit. */
static int follows_children(const dec_decoder *d, const hyp *h) {
    return d->lex && !d->allow_spell && !d->leaf_mode && h->trie > 0 && h->trie != TRIE_SPELL;
}

/* The frame's expansions of hypothesis i by unit c (c selected). */
static void expand_unit(dec_decoder *d, int i, const hyp *h, float tot, const float *lp, int c, int32_t m) {
    float a;
    if (c == h->last_unit) {
        d->cand[i].pnb = log_add(d->cand[i].pnb, h->pnb + lp[c]);
        a = h->pb + lp[c];
    } else {
        a = tot + lp[c];
    }
    if (a > NEG_INF) extend(d, i, c, a, m);
}

static float rank_score(const dec_decoder *d, const hyp *c) {
    float lmw = d->opt.lm_weight; /* without an LM, c->lm holds the word priors */
    float s = log_add(c->pb, c->pnb) + lmw * c->lm + d->opt.word_score * (float)c->n_words;
    if (c->n_unk) s += d->opt.unk_score * (float)c->n_unk;
    s += c->boost + c->partial_unk;
    if (d->lookahead && c->trie > 0) s += lmw * d->lookahead[c->trie];
    return s;
}

static int cmp_hyp_desc(const hyp *a, const hyp *b) {
    /* NaN sorts last, so the order stays total and the scans stay in bounds */
    if (isnan(a->score) || isnan(b->score)) {
        if (!isnan(a->score) || !isnan(b->score)) return isnan(a->score) ? 1 : -1;
    } else if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->parent != b->parent) return a->parent < b->parent ? -1 : 1;
    if (a->unit != b->unit) return a->unit < b->unit ? -1 : 1;
    return (a->word > b->word) - (a->word < b->word);
}

/* Sorts idx[0..n) best first (quicksort on the larger side's loop,
 * insertion sort for short runs). */
static void sort_idx(const hyp *c, int32_t *idx, int n) {
    while (n > 16) {
        const hyp *pv = &c[idx[n / 2]];
        int i = 0, j = n - 1;
        while (i <= j) {
            while (cmp_hyp_desc(&c[idx[i]], pv) < 0) i++;
            while (cmp_hyp_desc(&c[idx[j]], pv) > 0) j--;
            if (i <= j) {
                int32_t t = idx[i]; idx[i] = idx[j]; idx[j] = t;
                i++;
                j--;
            }
        }
        if (j + 1 < n - i) {
            sort_idx(c, idx, j + 1);
            idx += i;
            n -= i;
        } else {
            sort_idx(c, idx + i, n - i);
            n = j + 1;
        }
    }
    for (int a = 1; a < n; a++) {
        int32_t v = idx[a];
        int b = a;
        while (b > 0 && cmp_hyp_desc(&c[v], &c[idx[b - 1]]) < 0) {
            idx[b] = idx[b - 1];
            b--;
        }
        idx[b] = v;
    }
}

/* Moves the `keep` best of idx[0..n) to the front, sorted best first
 * (quickselect, then a sort of the kept part). */
static void select_best(const hyp *c, int32_t *idx, int n, int keep) {
    int lo = 0, hi = n - 1;
    while (keep < n && lo < hi) {
        const hyp *pv = &c[idx[(lo + hi) / 2]];
        int i = lo, j = hi;
        while (i <= j) {
            while (cmp_hyp_desc(&c[idx[i]], pv) < 0) i++;
            while (cmp_hyp_desc(&c[idx[j]], pv) > 0) j--;
            if (i <= j) {
                int32_t t = idx[i]; idx[i] = idx[j]; idx[j] = t;
                i++;
                j--;
            }
        }
        if (keep - 1 <= j) hi = j;
        else if (keep - 1 >= i) lo = i;
        else break;
    }
    sort_idx(c, idx, keep < n ? keep : n);
}

/* LM-scores every completion awaiting its score, in one batched call; the
 * children go to slots beam... When there are more completions than slots,
 * only the best by their score so far are kept; the rest are dropped. */
/* Drops the completions that cannot survive prune whatever their LM score
 * (with lm_weight >= 0 a word's LM term only lowers a score): those scoring,
 * before it, below the beam's worth of other candidates' final scores or
 * below the best of those minus the beam threshold. Exact: prune's result
 * is the same, without their LM calls. */
static float drop_hopeless_completions(dec_decoder *d) {
    if (d->opt.lm_weight < 0.0f) return NEG_INF;
    int n = 0;
    float best = NEG_INF;
    for (int i = 0; i < d->n_cand; i++) {
        hyp *c = &d->cand[i];
        c->score = rank_score(d, c);
        if (c->lm_word >= 0 || c->score == NEG_INF) continue;
        d->order[n++] = i;
        if (c->score > best) best = c->score;
    }
    float cut = best - d->opt.beam_threshold;
    if (n >= d->opt.beam) {
        select_best(d->cand, d->order, n, d->opt.beam);
        float kth = d->cand[d->order[d->opt.beam - 1]].score;
        if (kth > cut) cut = kth;
    }
    for (int i = 0; i < d->n_cand; i++) {
        hyp *c = &d->cand[i];
        if (c->lm_word < 0 || !(c->score < cut)) continue;
        c->pb = c->pnb = NEG_INF;
        c->lm_word = -1;
    }
    return cut;
}

static rd_status score_completions(dec_decoder *d, int use_floors, rd_error *err) {
    if (!d->lm) return RD_OK;
    float cut = drop_hopeless_completions(d);
    int n = 0, room = d->max_slots - d->opt.beam;
    for (int i = 0; i < d->n_cand; i++) {
        if (d->cand[i].lm_word < 0) continue;
        d->lm_cidx[n < room ? n : room - 1] = i;
        n++;
    }
    if (n > room) {
        n = 0;
        for (int i = 0; i < d->n_cand; i++)
            if (d->cand[i].lm_word >= 0) d->order[n++] = i;
        select_best(d->cand, d->order, n, room);
        for (int j = room; j < n; j++) {
            hyp *c = &d->cand[d->order[j]];
            c->pb = c->pnb = NEG_INF;
            c->lm_word = -1;
        }
        n = room;
        memcpy(d->lm_cidx, d->order, (size_t)n * sizeof *d->lm_cidx);
    }
    if (n == 0) return RD_OK;
    /* In a frame, the same cut bounds each word's LM score: below floor,
     * score + lm_weight * ln p is below the cut (with a margin for rounding),
     * so the LM may give the word up part way (score -inf: prune drops it).
     * Not at the end, where the n-best takes every candidate. */
    int floors = use_floors && d->opt.lm_weight > 0.0f && cut > NEG_INF;
    for (int j = 0; j < n; j++) {
        const hyp *c = &d->cand[d->lm_cidx[j]];
        d->lm_parent[j] = c->slot;
        d->lm_wordv[j] = c->lm_word;
        d->lm_child[j] = d->opt.beam + j;
        if (floors)
            d->lm_floor[j] = (cut - c->score - 1e-4f * (1.0f + fabsf(cut) + fabsf(c->score))) / d->opt.lm_weight;
    }
    RD_TRY(lm_score_words_floor(d->lm, d->lm_parent, d->lm_wordv, d->lm_child, n, floors ? d->lm_floor : NULL,
                                d->lm_score, err));
    for (int j = 0; j < n; j++) {
        hyp *c = &d->cand[d->lm_cidx[j]];
        if (isnan(d->lm_score[j]) || (d->lm_score[j] > 0 && isinf(d->lm_score[j])) ||
            isnan(d->lm_score[j] * d->opt.lm_weight))
            return rd_fail(err, RD_ERR_INPUT, "frame %d: the LM (%s) scored word '%s' %g: not a log-probability",
                           d->frame, lm_describe(lm_cache_model(d->lm)),
                           c->word >= 0 && d->lex ? lex_word(d->lex, c->word) : "(spelled)", (double)d->lm_score[j]);
        c->lm += d->lm_score[j];
        c->slot = d->lm_child[j];
        c->lm_word = -1;
    }
    return RD_OK;
}

/* Ranks the candidates, keeps the best `limit` within the threshold, gives
 * new survivors a node and returns their count (indices in d->order). */
static int prune(dec_decoder *d, int limit, rd_error *err, rd_status *st) {
    float best = NEG_INF;
    for (int i = 0; i < d->n_cand; i++) {
        hyp *c = &d->cand[i];
        c->score = rank_score(d, c);
        if (c->score > best) best = c->score;
    }
    int n = 0;
    for (int i = 0; i < d->n_cand; i++)
        if (d->cand[i].score > NEG_INF && d->cand[i].score >= best - d->opt.beam_threshold)
            d->order[n++] = i;
    select_best(d->cand, d->order, n, limit);
    int k = n < limit ? n : limit;
    for (int i = 0; i < k; i++) {
        hyp *c = &d->cand[d->order[i]];
        if (c->node >= 0) {
            if (c->word != DEC_WORD_NONE) d->store.node[c->node].start = c->word_start;
            d->store.node[c->node].end = c->unit_end;
            d->store.node[c->node].unit_start = c->unit_start;
            d->store.node[c->node].parent_end = c->parent_end;
            continue;
        }
        c->node = dec_store_add(&d->store, c->parent, c->unit, c->word, c->word_start, d->frame);
        if (c->node < 0) {
            *st = rd_fail(err, RD_ERR_NOMEM, "out of memory storing hypotheses at frame %d", d->frame);
            return 0;
        }
        d->store.node[c->node].end = c->unit_end;
        d->store.node[c->node].unit_start = c->unit_start;
        d->store.node[c->node].parent_end = c->parent_end;
    }
    *st = RD_OK;
    return k;
}

/* Survivors become the beam; their LM states move to slots 0..k-1. */
static rd_status adopt(dec_decoder *d, int k, rd_error *err) {
    for (int i = 0; i < k; i++) {
        d->beam[i] = d->cand[d->order[i]];
        if (d->lm) d->lm_parent[i] = d->beam[i].slot;
        d->beam[i].slot = i;
    }
    d->n_beam = k;
    if (!d->lm || k == 0) return RD_OK;
    int identity = 1;
    for (int i = 0; i < k && identity; i++) identity = d->lm_parent[i] == i;
    if (identity) return RD_OK;
    return lm_reorder(d->lm, d->lm_parent, k, err);
}

static void next_gen(dec_decoder *d) {
    if (++d->gen == 0) {
        memset(d->table_gen, 0, ((size_t)d->table_mask + 1) * sizeof *d->table_gen);
        d->gen = 1;
    }
    d->n_cand = 0;
}

/* Every live hypothesis becomes the first candidates, in beam order, so
 * candidate i is beam[i] (its blank/repeat/silence continuation). */
static void seed_candidates(dec_decoder *d) {
    next_gen(d);
    for (int i = 0; i < d->n_beam; i++) {
        int fresh;
        hyp *h = &d->beam[i];
        int c = cand_get(d, h->parent, h->unit, h->word, h, &fresh);
        d->cand[c].node = h->node;
    }
}

static rd_status step_frame(dec_decoder *d, const float *lp, rd_error *err) {
    seed_candidates(d);
    int nu = select_units(d, lp);
    float lb = lp[d->blank];
    /* Early cut for trie extensions: such a candidate's final score is
     * exactly tot + lp[u] + extra (its only contribution; look-ahead never
     * grows down the trie), and the best candidate scores at least any
     * hypothesis' blank continuation, so one below cut would fall to the
     * beam threshold anyway. A live hypothesis' score is its rank_score
     * (prune set it; dec_begin's root scores 0 either way). */
    float cut = NEG_INF;
    if (d->opt.lm_weight >= 0.0f) {
        for (int i = 0; i < d->n_beam; i++)
            if (d->beam[i].score + lb > cut) cut = d->beam[i].score + lb;
        cut -= d->opt.beam_threshold;
    }
    for (int i = 0; i < d->n_beam; i++) {
        const hyp *h = &d->beam[i];
        float tot = log_add(h->pb, h->pnb);
        float extra = h->score - tot;
        d->cand[i].pb = log_add(d->cand[i].pb, tot + lb);
        if (!follows_children(d, h)) {
            for (int k = 0; k < nu; k++) expand_unit(d, i, h, tot, lp, d->top_units[k], TRIE_UNKNOWN);
            continue;
        }
        int last = h->last_unit, nc = lex_trie_child_count(d->lex, h->trie);
        if (last >= 0 && d->unit_on[last]) expand_unit(d, i, h, tot, lp, last, TRIE_UNKNOWN);
        if (d->delim >= 0 && d->delim != last && d->unit_on[d->delim])
            expand_unit(d, i, h, tot, lp, d->delim, TRIE_UNKNOWN);
        for (int k = 0; k < nc; k++) {
            int u;
            int32_t m = lex_trie_child_at(d->lex, h->trie, k, &u);
            if (u == last || u == d->delim || !d->unit_on[u] || tot + lp[u] + extra < cut) continue;
            expand_unit(d, i, h, tot, lp, u, m);
        }
    }
    RD_TRY(score_completions(d, 1, err));
    for (int i = 0; i < d->n_cand; i++) /* the likeliest path is still in the last unit */
        if (d->cand[i].pnb > d->cand[i].pb) d->cand[i].unit_end = d->frame;
    rd_status st;
    int k = prune(d, d->opt.beam, err, &st);
    if (st != RD_OK) return st;
    if (k == 0)
        return rd_fail(err, RD_ERR_INPUT,
                       "frame %d: no hypothesis survived (every unit has probability 0?)", d->frame);
    if (d->cand[d->order[0]].score == INFINITY) /* weights and LM scores are bounded: emissions far above 0 */
        return rd_fail(err, RD_ERR_INPUT,
                       "frame %d: the score overflowed to +inf (emissions far above 0 are not log-probabilities)",
                       d->frame);
    return adopt(d, k, err);
}

/* ---------- utterance API ---------- */

rd_status dec_begin(dec_decoder *d, rd_error *err) { return dec_begin_ex(d, 0, err); }

rd_status dec_begin_ex(dec_decoder *d, int carry, rd_error *err) {
    RD_TRY(dec_store_reset(&d->store, d->opt.beam * 512, err));
    hyp *h = &d->beam[0];
    memset(h, 0, sizeof *h);
    h->parent = -1;
    h->unit = DEC_UNIT_END;
    h->word = DEC_WORD_ROOT;
    h->node = 0;
    h->trie = d->lex ? 0 : TRIE_SPELL;
    h->last_unit = d->delim >= 0 ? d->delim : -1;
    h->word_start = 0;
    h->unit_end = -1;
    h->unit_start = -1;
    h->parent_end = -1;
    h->slot = 0;
    h->lm_word = -1;
    h->pb = 0.0f;
    h->pnb = NEG_INF;
    d->n_beam = 1;
    d->frame = 0;
    d->n_nbest = 0;
    d->begun = 1;
    int32_t carry_slot = d->carry_slot, zero = 0;
    d->carry_slot = -1;
    /* slot 0: the last utterance's best context, or the LM's start (its warm
     * start, opt.lm_start, given to the cache in alloc_buffers) */
    if (d->lm) {
        if (carry && carry_slot >= 0) RD_TRY(lm_copy(d->lm, carry_slot, 0, err));
        else RD_TRY(lm_start(d->lm, &zero, 1, err));
    }
    return RD_OK;
}

rd_status dec_step(dec_decoder *d, const float *logprobs, int n_frames, rd_error *err) {
    if (!d->begun) return rd_fail(err, RD_ERR_INTERNAL, "dec_step called before dec_begin");
    for (int t = 0; t < n_frames; t++) {
        RD_TRY(step_frame(d, logprobs + (size_t)t * (size_t)d->V, err));
        d->frame++;
    }
    return RD_OK;
}

/* The utterance ends: every candidate gives back the partial credit of a
 * hotword phrase it is inside, so a half phrase earns nothing. */
static void revoke_partial_boost(dec_decoder *d) {
    if (!d->boost) return;
    for (int i = 0; i < d->n_cand; i++) {
        hyp *c = &d->cand[i];
        c->boost -= boost_partial(d->boost, c->boost_state);
        c->boost_state = 0;
    }
}

/* Closes every live hypothesis: words in progress end (all homophones), a
 * partial non-word is dropped, hotword partial credit is revoked, then </s>
 * is scored. */
/* The words of candidate c's path, last first, into *buf: a lexicon word
 * by its id, a spelled word by its text, so that readings of the same words
 * through other units read alike ("ab|" closed by a final delimiter and "ab"
 * closed by the utterance's end; "▁ca t" and "▁cat"; a word's alternate
 * pronunciations). A new candidate has no node yet: its own key comes first,
 * then its parent's path. Returns the length, or -1 when out of memory. */
static long path_words(dec_decoder *d, const hyp *c, int64_t **buf, size_t *cap) {
    long n = 0;
    int32_t x = c->node, parent = c->parent;
    int32_t word = c->word, unit = c->unit;
    if (x >= 0) {
        if (x == 0) return 0;
        word = d->store.node[x].word;
        unit = d->store.node[x].unit;
        parent = d->store.node[x].parent;
    }
    for (;;) {
        size_t len = word < 0 && word != DEC_WORD_NONE ? spell_word(d, parent, unit) : 0;
        size_t need = (size_t)n + 1 + (len + 7) / 8;
        if (need > *cap) {
            size_t nc = *cap ? 2 * *cap : 64;
            while (nc < need) nc *= 2;
            int64_t *p = realloc(*buf, nc * sizeof *p);
            if (!p) return -1;
            *buf = p;
            *cap = nc;
        }
        if (word >= 0) {
            (*buf)[n++] = -16 - (int64_t)word;
        } else if (word != DEC_WORD_NONE) {
            (*buf)[n++] = INT64_MIN + (int64_t)len; /* below every word id's mark */
            for (size_t i = 0; i < len; i += 8) {
                int64_t v = 0;
                memcpy(&v, d->spell + i, len - i < 8 ? len - i : 8);
                (*buf)[n++] = v;
            }
        }
        x = parent;
        if (x <= 0) return n;
        word = d->store.node[x].word;
        unit = d->store.node[x].unit;
        parent = d->store.node[x].parent;
    }
}

/* Candidates that read the same words become one, their probabilities
 * added (flashlight-text does the same): without this a word closed by a
 * final delimiter and the same word closed by the utterance's end were two
 * n-best entries, each with part of the probability. The likelier keeps its
 * timing. Their LM scores and boosts are equal (same words). */
static uint64_t hash_words(const int64_t *p, long n) {
    return rd_fnv1a64(RD_FNV64_OFFSET, p, (size_t)n * sizeof *p);
}

static rd_status merge_same_words(dec_decoder *d, rd_error *err) {
    int64_t *pa = NULL, *pb = NULL;
    size_t ca = 0, cb = 0;
    uint64_t *hash = rd_realloc_array(NULL, (size_t)d->n_cand + 1, sizeof *hash);
    if (!hash) goto nomem;
    for (int i = 0; i < d->n_cand; i++) { /* one walk each; full compare on equal hashes only */
        long n = path_words(d, &d->cand[i], &pa, &ca);
        if (n < 0) goto nomem;
        hash[i] = hash_words(pa, n);
    }
    for (int i = 0; i < d->n_cand; i++) {
        hyp *a = &d->cand[i];
        if (a->pb == NEG_INF && a->pnb == NEG_INF) continue;
        long na = -1;
        for (int j = i + 1; j < d->n_cand; j++) {
            hyp *b = &d->cand[j];
            if (hash[j] != hash[i] || (b->pb == NEG_INF && b->pnb == NEG_INF) || b->n_words != a->n_words) continue;
            if (na < 0 && (na = path_words(d, a, &pa, &ca)) < 0) goto nomem;
            long nb = path_words(d, b, &pb, &cb);
            if (nb < 0) goto nomem;
            if (nb != na || memcmp(pa, pb, (size_t)na * sizeof *pa) != 0) continue;
            float ta = log_add(a->pb, a->pnb), tb = log_add(b->pb, b->pnb);
            hyp *keep = ta >= tb ? a : b, *drop = ta >= tb ? b : a;
            keep->pb = NEG_INF;
            keep->pnb = log_add(ta, tb);
            drop->pb = drop->pnb = NEG_INF;
            if (drop == a) break;
        }
    }
    free(hash);
    free(pa);
    free(pb);
    return RD_OK;
nomem:
    free(hash);
    free(pa);
    free(pb);
    return rd_fail(err, RD_ERR_NOMEM, "out of memory merging the final hypotheses");
}

static rd_status finish_hyps(dec_decoder *d, rd_error *err) {
    seed_candidates(d);
    for (int i = 0; i < d->n_beam; i++) {
        const hyp *h = &d->beam[i];
        float tot = log_add(h->pb, h->pnb);
        if (at_boundary(d, h)) {
            d->cand[i].pb = h->pb;
            d->cand[i].pnb = h->pnb;
            continue;
        }
        if (!d->leaf_mode) complete_at(d, h, DEC_UNIT_END, tot);
    }
    RD_TRY(score_completions(d, 0, err));
    revoke_partial_boost(d);
    RD_TRY(merge_same_words(d, err));
    if (!d->lm) return RD_OK;
    int n = 0;
    for (int i = 0; i < d->n_cand; i++) {
        hyp *c = &d->cand[i];
        if (c->pb == NEG_INF && c->pnb == NEG_INF) continue;
        d->lm_parent[n] = c->slot;
        d->lm_cidx[n++] = i;
    }
    if (n == 0) return RD_OK;
    RD_TRY(lm_finish(d->lm, d->lm_parent, n, d->lm_score, err));
    for (int j = 0; j < n; j++) {
        float s = d->lm_score[j];
        if (isnan(s) || (s > 0 && isinf(s)) || isnan(s * d->opt.lm_weight))
            return rd_fail(err, RD_ERR_INPUT, "frame %d: the LM (%s) scored </s> %g: not a log-probability",
                           d->frame, lm_describe(lm_cache_model(d->lm)), (double)s);
        d->cand[d->lm_cidx[j]].lm += s;
    }
    return RD_OK;
}

static rd_status reserve_output(dec_decoder *d, size_t words, size_t text, rd_error *err) {
    if (words > d->words_cap) {
        dec_word *w = rd_realloc_array(d->words, words, sizeof *w);
        if (!w) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %zu output words", words);
        d->words = w;
        d->words_cap = words;
    }
    if (text > d->text_cap) {
        char *t = realloc(d->text, text);
        if (!t) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %zu bytes of output text", text);
        d->text = t;
        d->text_cap = text;
    }
    return RD_OK;
}

/* Number of completed words on the path to node. */
static int count_words(const dec_decoder *d, int32_t node) {
    int n = 0;
    for (int32_t x = node; x > 0; x = d->store.node[x].parent)
        n += d->store.node[x].word != DEC_WORD_NONE;
    return n;
}

/* Text of the word completed at node x (a lexicon word or a spelled one). */
static const char *node_word_text(dec_decoder *d, int32_t x, size_t *len) {
    const dec_node *nd = &d->store.node[x];
    if (nd->word >= 0) {
        const char *s = lex_word(d->lex, nd->word);
        *len = strlen(s);
        return s;
    }
    *len = spell_word(d, nd->parent, nd->unit);
    return d->spell;
}

/* 1 when the code point at s[0..] (UTF-8) is a CJK ideograph, CJK
 * punctuation or a full-width form. */
static int is_cjk(const unsigned char *s, size_t n) {
    if (n < 3 || s[0] < 0xE3 || s[0] > 0xF0) return 0;
    uint32_t c;
    if (s[0] >= 0xF0) {
        if (n < 4) return 0;
        c = (uint32_t)(s[0] & 7) << 18 | (uint32_t)(s[1] & 63) << 12 | (uint32_t)(s[2] & 63) << 6 | (s[3] & 63);
        return c >= 0x20000 && c <= 0x3FFFF;
    }
    c = (uint32_t)(s[0] & 15) << 12 | (uint32_t)(s[1] & 63) << 6 | (s[2] & 63);
    return (c >= 0x3000 && c <= 0x303F) || (c >= 0x3400 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0xFF00 && c <= 0xFFEF);
}

/* Start of the last UTF-8 character of s[0..n). */
static size_t last_char(const char *s, size_t n) {
    size_t i = n ? n - 1 : 0;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    return i;
}

/* Writes the separator between words a and b at q; returns its length.
 * opt.word_separator, or (NULL) automatic: nothing between two CJK
 * characters, else a space. */
static size_t word_separator(const dec_decoder *d, const char *a, const char *b, char *q) {
    const char *sep = d->opt.word_separator;
    if (!sep) {
        size_t la = strlen(a), i = last_char(a, la);
        if (is_cjk((const unsigned char *)a + i, la - i) && is_cjk((const unsigned char *)b, strlen(b))) return 0;
        sep = " ";
    }
    size_t n = strlen(sep);
    memcpy(q, sep, n);
    return n;
}

/* Fills one result's words (walking back from node) and its joined text.
 * Output buffers were reserved by the caller. */
/* Last frame of node x's unit along the path through its child y (-1: x
 * ends the path): the child's record, as x's own end may have moved on
 * since (x lived on as a hypothesis of its own, e.g. repeating its unit). */
static int32_t end_on_path(const dec_decoder *d, int32_t x, int32_t y) {
    return y > 0 ? d->store.node[y].parent_end : d->store.node[x].end;
}

static void fill_result(dec_decoder *d, const hyp *c, dec_hyp *r, size_t *wpos, size_t *tpos) {
    int nw = count_words(d, c->node);
    dec_word *w = d->words + *wpos;
    int m = nw;
    for (int32_t x = c->node, y = -1; x > 0; y = x, x = d->store.node[x].parent) {
        const dec_node *nd = &d->store.node[x];
        if (nd->word == DEC_WORD_NONE) continue;
        dec_word *o = &w[--m];
        o->lexicon_id = nd->word >= 0 ? nd->word : -1;
        o->start = nd->start;
        /* the end: the last frame of the word's last unit, which is this node's
         * unit (no delimiter) or its parent's (a delimiter, the utterance end
         * or, piece_words, the next word's first piece completed it); kept
         * before the next word's start below */
        int by_unit = nd->unit != d->delim && nd->unit != DEC_UNIT_END && !d->piece_words;
        o->end = by_unit ? end_on_path(d, x, y) : nd->parent_end;
        if (m + 1 < nw && o->end >= w[m + 1].start) o->end = w[m + 1].start - 1;
        if (o->end < o->start) o->end = o->start;
        o->text = (const char *)(intptr_t)x; /* node id until the text is placed */
    }
    char *q = d->text + *tpos;
    for (int j = 0; j < nw; j++) {
        size_t len;
        const char *s = node_word_text(d, (int32_t)(intptr_t)w[j].text, &len);
        memcpy(q, s, len);
        q[len] = '\0';
        w[j].oov = w[j].lexicon_id < 0 && (d->lex || (d->lm && !lm_word_known(d->lm, lm_word(d->lm, s, len))));
        w[j].text = q;
        q += len + 1;
    }
    char *start = q;
    for (int j = 0; j < nw; j++) {
        size_t len = strlen(w[j].text);
        if (j) q += word_separator(d, w[j - 1].text, w[j].text, q);
        memcpy(q, w[j].text, len);
        q += len;
    }
    *q++ = '\0';
    r->words = w;
    r->n_words = nw;
    r->text = start;
    r->score = c->score;
    r->first_pass = c->score;
    r->rescore_lm = 0.0f;
    r->fallback = 0;
    r->acoustic = log_add(c->pb, c->pnb);
    r->lm = c->lm;
    r->boost = c->boost;
    r->n_unk = c->n_unk;
    *wpos += (size_t)nw;
    *tpos = (size_t)(q - d->text);
}

/* The units of the path to node (blank and delimiter left out), with the
 * frames of the likeliest path: the first frame of each, and its last
 * before the next one starts. */
static void fill_tokens(dec_decoder *d, int32_t node, dec_hyp *r, size_t *kpos) {
    int n = 0;
    for (int32_t x = node; x > 0; x = d->store.node[x].parent) {
        int u = d->store.node[x].unit;
        n += u >= 0 && u != d->delim;
    }
    dec_token *t = d->tokens + *kpos;
    int m = n;
    for (int32_t x = node, y = -1; x > 0; y = x, x = d->store.node[x].parent) {
        const dec_node *nd = &d->store.node[x];
        if (nd->unit < 0 || nd->unit == d->delim) continue;
        dec_token *o = &t[--m];
        o->unit = nd->unit;
        o->start = nd->unit_start;
        o->end = end_on_path(d, x, y);
        if (m + 1 < n && o->end >= t[m + 1].start) o->end = t[m + 1].start - 1;
        if (o->end < o->start) o->end = o->start;
    }
    r->tokens = t;
    r->n_tokens = n;
    *kpos += (size_t)n;
}

/* Fills the n-best results from the candidates d->order[0..k). */
static rd_status build_results(dec_decoder *d, int k, rd_error *err) {
    size_t words = 1, text = 1, tokens = 1;
    for (int i = 0; i < k; i++) {
        int32_t node = d->cand[d->order[i]].node;
        for (int32_t x = node; x > 0; x = d->store.node[x].parent) {
            tokens++;
            if (d->store.node[x].word == DEC_WORD_NONE) continue;
            size_t len;
            node_word_text(d, x, &len);
            words++;
            text += 2 * (len + 1) + d->sep_len;
        }
        text += 1;
    }
    RD_TRY(reserve_output(d, words, text, err));
    if (tokens > d->tokens_cap) {
        dec_token *t = rd_realloc_array(d->tokens, tokens, sizeof *t);
        if (!t) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %zu output tokens", tokens);
        d->tokens = t;
        d->tokens_cap = tokens;
    }
    size_t wpos = 0, tpos = 0, kpos = 0;
    for (int i = 0; i < k; i++) {
        fill_result(d, &d->cand[d->order[i]], &d->nbest[i], &wpos, &tpos);
        fill_tokens(d, d->cand[d->order[i]].node, &d->nbest[i], &kpos);
    }
    d->n_nbest = k;
    return RD_OK;
}

rd_status dec_end(dec_decoder *d, rd_error *err) {
    if (!d->begun) return rd_fail(err, RD_ERR_INTERNAL, "dec_end called before dec_begin");
    d->begun = 0;
    RD_TRY(finish_hyps(d, err));
    rd_status st;
    int k = prune(d, d->opt.nbest, err, &st);
    if (st != RD_OK) return st;
    if (k == 0) {
        /* nothing ends on a word: keep the best prefixes' complete words */
        seed_candidates(d);
        for (int i = 0; i < d->n_beam; i++) {
            d->cand[i].pb = d->beam[i].pb;
            d->cand[i].pnb = d->beam[i].pnb;
            d->cand[i].partial_unk = 0.0f;
            d->cand[i].trie = 0; /* the score of what is printed: no look-ahead
                                    bonus for the unfinished word */
        }
        revoke_partial_boost(d);
        k = prune(d, d->opt.nbest, err, &st);
        if (st != RD_OK) return st;
        d->carry_slot = k > 0 && d->lm ? d->cand[d->order[0]].slot : -1;
        RD_TRY(build_results(d, k, err));
        for (int i = 0; i < k; i++) d->nbest[i].fallback = 1;
        return RD_OK;
    }
    d->carry_slot = k > 0 && d->lm ? d->cand[d->order[0]].slot : -1;
    return build_results(d, k, err);
}

rd_status dec_decode(dec_decoder *d, const float *logprobs, int n_frames, rd_error *err) {
    return dec_decode_ex(d, logprobs, n_frames, 0, err);
}

rd_status dec_decode_ex(dec_decoder *d, const float *logprobs, int n_frames, int carry, rd_error *err) {
    RD_TRY(dec_begin_ex(d, carry, err));
    RD_TRY(dec_store_reset(&d->store, d->opt.beam * (n_frames + 2) + 1, err));
    RD_TRY(dec_step(d, logprobs, n_frames, err));
    return dec_end(d, err);
}

int dec_nbest_count(const dec_decoder *d) { return d->n_nbest; }

const lm_cache *dec_lm_cache(const dec_decoder *d) { return d->lm; }

rd_status dec_rescore(dec_decoder *d, lm_cache *c, float weight, float word_score, rd_error *err) {
    return dec_rescore_list(c, d->nbest, d->n_nbest, weight, word_score, err);
}

const dec_hyp *dec_nbest(const dec_decoder *d, int i) {
    return i >= 0 && i < d->n_nbest ? &d->nbest[i] : NULL;
}

/* Words of node's path as text (d->text), n_nbest cleared. */
static const char *path_text(dec_decoder *d, const hyp *hp) {
    hyp h = *hp;
    size_t text = 1;
    for (int32_t x = h.node; x > 0; x = d->store.node[x].parent) {
        if (d->store.node[x].word == DEC_WORD_NONE) continue;
        size_t len;
        node_word_text(d, x, &len);
        text += 2 * (len + 1) + d->sep_len;
    }
    if (reserve_output(d, (size_t)count_words(d, h.node) + 1, text, NULL) != RD_OK) return "";
    dec_hyp r;
    size_t wpos = 0, tpos = 0;
    fill_result(d, &h, &r, &wpos, &tpos);
    d->n_nbest = 0;
    return r.text;
}

const char *dec_partial(dec_decoder *d) {
    if (d->n_beam == 0) return "";
    return path_text(d, &d->beam[0]);
}

static int node_depth(const dec_decoder *d, int32_t x) {
    int n = 0;
    for (; x > 0; x = d->store.node[x].parent) n++;
    return n;
}

const char *dec_stable(dec_decoder *d, int *n_words) {
    if (n_words) *n_words = 0;
    if (d->n_beam == 0) return "";
    /* the deepest node every live hypothesis descends from */
    int32_t a = d->beam[0].node;
    int da = node_depth(d, a);
    for (int i = 1; i < d->n_beam && a > 0; i++) {
        int32_t b = d->beam[i].node;
        int db = node_depth(d, b);
        while (da > db) a = d->store.node[a].parent, da--;
        while (db > da) b = d->store.node[b].parent, db--;
        while (a != b) a = d->store.node[a].parent, b = d->store.node[b].parent, da--;
    }
    hyp h = d->beam[0];
    h.node = a;
    if (n_words) *n_words = count_words(d, a);
    return path_text(d, &h);
}

rd_status dec_boost_check(const lex_lexicon *lex, const boost_graph *g, rd_error *err) {
    for (int32_t t = 0; t < boost_word_count(g); t++) {
        const char *w = boost_word(g, t);
        if (lex_word_find(lex, w, strlen(w)) < 0)
            return rd_fail(err, RD_ERR_INPUT,
                           "%s:%ld: hotword '%s' is not in the lexicon (give its units as %s{u n i t s})",
                           boost_word_file(g, t), boost_word_line(g, t), w, w);
    }
    return RD_OK;
}

rd_status dec_set_boost(dec_decoder *d, const boost_graph *g, rd_error *err) {
    if (d->begun) return rd_fail(err, RD_ERR_INTERNAL, "dec_set_boost called inside an utterance");
    if (g == d->boost) return RD_OK;
    if (d->lex && g && !d->allow_spell) RD_TRY(dec_boost_check(d->lex, g, err));
    d->boost = g;
    if (!d->lex) return RD_OK;
    int nw = lex_word_count(d->lex);
    if (!d->word_boost) {
        d->word_boost = rd_malloc_array((size_t)nw, sizeof *d->word_boost);
        if (!d->word_boost) return rd_fail(err, RD_ERR_NOMEM, "out of memory binding %d words to the hotwords", nw);
    }
    for (int w = 0; w < nw; w++) {
        const char *t = lex_word(d->lex, w);
        d->word_boost[w] = g ? boost_token(g, t, strlen(t)) : -1;
    }
    return build_groups(d, d->group_uni ? d->group_uni : d->word_prior, err);
}
