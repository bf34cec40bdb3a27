/* lmstate/rwkv/lm_rwkv.c - an RWKV model as a word LM (lm.h), over the state cache.
 *
 * A word is its tokens with a leading space (" word"), by the World
 * tokenizer or as bytes. Each slot holds a recurrent state and one pending
 * token: the last token of the last word, not yet fed. Scoring word w from a
 * slot feeds the pending token (giving p(first token of w)), then w's tokens
 * but its last, summing natural-log probabilities; the last token becomes the
 * child's pending token. The initial state is all zeros with the start token
 * pending (0 for World models, '\n' for byte-level ones); </s> is the end
 * token's probability (the same tokens).
 *
 * One lm_score_words call is batched twice over: "stems" (distinct parent
 * state + pending token: every homophone of one hypothesis shares its first
 * step) and then rows (distinct stem + word), by token position, words of
 * different lengths together. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/strtab.h"
#include "common/logsumexp.h"
#include "lmstate/lm_impl.h"
#include "lmstate/rwkv/rwkv.h"
#include "lmstate/rwkv/rwkv_group.h"
#include "lmstate/rwkv/rwkv_tokenizer.h"
#include "lmstate/state_cache.h"

#define WORD_MAX_TOKENS 64
#define WORD_CHUNK_BITS 12
#define WORD_CHUNK (1 << WORD_CHUNK_BITS)
#define WORD_CHUNKS 8192 /* 33.5M words */

typedef struct rwkv_lm {
    rwkv_model *m;
    rwkv_tokenizer *tok;
    int V, start_token, end_token, threads, lookahead_tokens, no_avx512, state_int8_sim;
    rd_dtype state_dtype;
    /* --max-memory is the process's limit: the weights and the state caches
     * of every thread (each cache reserves its bytes at create, frees them
     * at free) share it; 0 = no limit */
    size_t max_memory;
    pthread_mutex_t budget_mu;
    size_t budget_used;
    /* The word table, one per model, shared by every thread's cache (issue
     * 15: a 200k-word lexicon is tokenized and its unigram and look-ahead
     * scores computed once, not once per thread). Entries live in chunks
     * that never move, so a word handle's entry (text, tokens) is read
     * without a lock once lm_word returned it; words_mu guards adding words
     * (the hash table grows) and the unigram/bound values (fill_scores
     * computes them under it, so the second thread finds them done). */
    pthread_mutex_t words_mu;
    struct word_entry *chunk[WORD_CHUNKS];
    int32_t n_words;
    rd_strtab names;                 /* word text -> word handle */
    rd_arena text;                   /* token sequences */
} rwkv_lm;

typedef struct word_entry {
    const int32_t *tok; /* the word's tokens (the model's arena) */
    int32_t len;
    float unigram;      /* exact context-free log-probability, NAN until computed */
    float bound;        /* log-probability of the first lookahead_tokens tokens, NAN until computed */
} word_entry;

/* Word handle w's entry (w < n_words). */
#define WORD(c, w) ((c)->lm->chunk[(uint32_t)(w) >> WORD_CHUNK_BITS][(uint32_t)(w) & (WORD_CHUNK - 1)])

typedef struct rwkv_lm_cache {
    rwkv_lm *lm;
    size_t reserved;                 /* bytes of the model's --max-memory budget held */
    sc_cache *sc;
    rwkv_workspace *ws;
    rwkv_state_view view;
    int n_slots, max_rows, n_stems;
    int32_t *pending, *pending_tmp;  /* per logical slot */
    /* batch scratch, max_rows each */
    int32_t *fw_next, *row_of, *stem_phys, *stem_src, *stem_tok, *row_stem, *row_word, *row_phys;
    int32_t *fw_tok, *fw_src, *fw_dst, *fw_row, *order;
    float *stem_lse, *row_score, *logits;
    int32_t *tmp_slot;
    int32_t *node_phys;              /* run_words' fresh slots past the stems */
    int n_nodes, cap_nodes;
    /* word memo: (parent state, pending token, word) -> the word's score
     * (or a bound on it) and the child's state (see memo_entry) */
    struct memo_entry *memo;
    uint32_t memo_mask;
    int32_t *hit;                    /* per score_words row: memo entry, -1 none, -2 below its floor (a bound) */
    /* prefixes: (parent state, pending token, a word's first depth tokens)
     * -> the state after them, the log-probability of those tokens and the
     * logits of the next; the states the last call wrote (and those it
     * used) are held until the end of this call, so a word asked for again,
     * or another word with the same beginning, starts from the deepest one
     * (see prefix_find). Models with more than PREFIX_MAX_VOCAB tokens keep
     * none (a logits row each would be too big). */
    struct prefix_entry *prefix;
    float *prefix_logits;            /* V per entry */
    uint32_t prefix_mask;
    int32_t *held, *held_new;
    int n_held, n_held_new, cap_held;
    const int32_t *cur_src, *cur_pend; /* run_words' rows: parent state and pending token */
    /* per run_words row: tokens already fed past the stem (a resumed row's
     * depth, else 0) and the stem state it resumes from (-1: a fresh row) */
    int32_t *row_depth, *row_init, *row_reach, *fw_lead;
    long long rows_fed;              /* forward rows run (lm_rwkv_rows) */
    int solo;                        /* forward alone, not in the thread's group (under words_mu) */
    /* early stop: rows whose score falls below row_floor[r] (when not NULL)
     * are given up (dead[r]) before their last token */
    float *row_floor;
    uint8_t *dead;
} rwkv_lm_cache;

/* ---------- helpers ---------- */

/* One remembered word from one parent state. A physical slot with the same
 * version holds the same state for as long as it is live (state_cache.h),
 * so an entry speaks for its word while its parent is live at parent_ver.
 * score is the log-probability of the word's first tokens: all of them for
 * a word scored to its end, whose child state (child >= 0) then serves too
 * while live at child_ver, exactly what feeding the word again would give;
 * for a word given up part way (child -1) it is an upper bound, and still a
 * bound on the whole word after the child's slot is gone: asked again with a
 * floor above it, the word is given up at once, without a forward row.
 * Direct-mapped; a newer entry overwrites an older one. */
typedef struct memo_entry {
    int32_t parent, pending, word, child; /* physical slots, token, word id */
    uint32_t parent_ver, child_ver;
    float score;
} memo_entry;

/* A state part way into words: after the pending token and the first depth
 * tokens of word (any word with those tokens) from parent. partial is their
 * log-probability (summed as a scoring sums it), lse and the entry's logits
 * row give the next token's. Good while parent and state live at their
 * versions. */
typedef struct prefix_entry {
    int32_t parent, pending, depth, word, state;
    uint32_t parent_ver, state_ver;
    float partial, lse;
} prefix_entry;

#define PREFIX_MAX_VOCAB 1024

/* Log-sum-exp of a logits row: ln softmax(x)[tok] = x[tok] - row_lse(x). */
static float row_lse(const float *x, int V) { return (float)rd_logsumexp(x, V); }

/* ---------- model ---------- */

static void rwkv_lm_free(void *p) {
    rwkv_lm *l = p;
    if (!l) return;
    rwkv_free(l->m);
    rwkv_tok_free(l->tok);
    pthread_mutex_destroy(&l->budget_mu);
    pthread_mutex_destroy(&l->words_mu);
    for (int i = 0; i < WORD_CHUNKS && l->chunk[i]; i++) free(l->chunk[i]);
    rd_strtab_free(&l->names);
    rd_arena_free(&l->text);
    free(l);
}

static rd_status load_tokenizer(rwkv_lm *l, const char *path, const lm_load_options *opt, rd_error *err) {
    if (l->V <= 256) {
        l->start_token = '\n';
        l->end_token = '\n';
        RD_TRY(rwkv_tok_create_bytes(&l->tok, err));
        return rwkv_tok_check_model(l->tok, l->V, path, err);
    }
    char buf[4096];
    const char *vocab = opt ? opt->vocab : NULL;
    if (!vocab) {
        const char *slash = strrchr(path, '/');
        snprintf(buf, sizeof buf, "%.*s%srwkv_vocab_v20230424.txt", slash ? (int)(slash - path) : 0, path,
                 slash ? "/" : "");
        vocab = buf;
    }
    l->start_token = 0;
    l->end_token = 0;
    rd_status st = rwkv_tok_load_world(vocab, &l->tok, err);
    if (st != RD_OK && (!opt || !opt->vocab))
        rd_error_prefix(err, "the model has a World vocabulary and needs its tokenizer (--lm-vocab)");
    if (st == RD_OK) st = rwkv_tok_check_model(l->tok, l->V, path, err);
    return st;
}

/* ---------- words ---------- */

/* The handle of text in the model's word table, added (tokenized) if new;
 * -1 when out of memory. Called with words_mu held. */
static int32_t find_or_add_word(rwkv_lm *l, const char *text, size_t len) {
    int32_t id = rd_strtab_find(&l->names, text, len);
    if (id >= 0) return id;
    id = l->n_words;
    int32_t ch = id >> WORD_CHUNK_BITS;
    if (ch >= WORD_CHUNKS || len > (size_t)INT32_MAX - 2) return -1;
    if (!l->chunk[ch] && !(l->chunk[ch] = rd_malloc_array(WORD_CHUNK, sizeof(word_entry)))) return -1;
    /* the tokenizer reads the word with its leading space */
    char *sp = malloc(len + 2);
    if (!sp) return -1;
    sp[0] = ' ';
    memcpy(sp + 1, text, len);
    sp[len + 1] = '\0';
    int32_t tok[WORD_MAX_TOKENS];
    int n = rwkv_tok_encode(l->tok, sp, len + 1, tok, WORD_MAX_TOKENS);
    free(sp);
    if (n > WORD_MAX_TOKENS) n = WORD_MAX_TOKENS; /* a longer word is cut: its tail is not scored */
    if (n < 1) return -1;
    int32_t *tp = rd_arena_alloc(&l->text, (size_t)n * sizeof *tp);
    if (!tp) return -1;
    memcpy(tp, tok, (size_t)n * sizeof *tp);
    int added;
    if (rd_strtab_intern(&l->names, text, len, &added) != id) return -1; /* ids are dense: a new word is the next */
    word_entry *w = &l->chunk[ch][id & (WORD_CHUNK - 1)];
    w->tok = tp;
    w->len = n;
    w->unigram = NAN;
    w->bound = NAN;
    return l->n_words++;
}

static int32_t rwkv_word(void *p, const char *text, size_t len) {
    rwkv_lm *l = ((rwkv_lm_cache *)p)->lm;
    pthread_mutex_lock(&l->words_mu);
    int32_t id = find_or_add_word(l, text, len);
    pthread_mutex_unlock(&l->words_mu);
    return id;
}

static bool rwkv_word_known(const void *c, int32_t w) {
    (void)c;
    (void)w;
    return true;
}

/* ---------- the batched engine ---------- */

/* 1 when physical slot p is live at version ver: it still holds the state
 * it held then (state_cache.h). */
static int live_at(const rwkv_lm_cache *c, int32_t p, uint32_t ver) {
    return sc_phys_live(c->sc, p) && sc_phys_version(c->sc, p) == ver;
}

/* The hash of a prefix: parent state, pending token, then tokens. */
static uint64_t prefix_seed(const rwkv_lm_cache *c, int32_t ph, int32_t pend) {
    return ((uint64_t)(uint32_t)ph << 32 | sc_phys_version(c->sc, ph)) * 0x9e3779b97f4a7c15ull ^
           (uint64_t)(uint32_t)pend * 0xc2b2ae3d27d4eb4full;
}

static uint64_t prefix_step(uint64_t h, int32_t tok) { return (h ^ (uint32_t)tok) * 0x100000001b3ull + 0x9e37ull; }

static uint32_t prefix_slot(const rwkv_lm_cache *c, uint64_t h) { return (uint32_t)(h ^ h >> 29) & c->prefix_mask; }

/* The held states give way when a call needs their room (their prefixes
 * then start afresh): every call that takes physical slots asks first. */
static void make_room(rwkv_lm_cache *c, int need) {
    if (c->n_held > 0 && sc_phys_free(c->sc) < need) {
        sc_phys_drop(c->sc, c->held, c->n_held);
        c->n_held = 0;
    }
}

/* Holds state until the end of the next call (past the cap: not held,
 * so its entries simply lapse). */
static void hold_next(rwkv_lm_cache *c, int32_t state) {
    if (c->n_held_new < c->cap_held) c->held_new[c->n_held_new++] = state;
}

/* Remembers the state after the pending token and word's first depth
 * tokens from ph (live), with partial and the next token's logits row x. */
static void prefix_put(rwkv_lm_cache *c, int32_t ph, int32_t pend, int32_t word, int depth, int32_t state,
                       float partial, const float *x, float lse) {
    if (!c->prefix) return;
    uint64_t h = prefix_seed(c, ph, pend);
    for (int q = 0; q < depth; q++) h = prefix_step(h, WORD(c, word).tok[q]);
    uint32_t i = prefix_slot(c, h);
    c->prefix[i] = (prefix_entry){ph, pend, depth, word, state, sc_phys_version(c->sc, ph),
                                  sc_phys_version(c->sc, state), partial, lse};
    memcpy(c->prefix_logits + (size_t)i * (size_t)c->lm->V, x, (size_t)c->lm->V * sizeof(float));
    hold_next(c, state);
}

/* The deepest remembered prefix of word from ph (pending pend) short of
 * its last token: its entry, or -1. */
static int32_t prefix_find(const rwkv_lm_cache *c, int32_t ph, int32_t pend, int32_t word) {
    if (!c->prefix) return -1;
    const word_entry *w = &WORD(c, word);
    uint64_t h[WORD_MAX_TOKENS];
    h[0] = prefix_seed(c, ph, pend);
    for (int q = 1; q < w->len; q++) h[q] = prefix_step(h[q - 1], w->tok[q - 1]);
    uint32_t ver = sc_phys_version(c->sc, ph);
    for (int d = w->len - 1; d >= 0; d--) {
        uint32_t i = prefix_slot(c, h[d]);
        const prefix_entry *e = &c->prefix[i];
        if (e->parent != ph || e->parent_ver != ver || e->pending != pend || e->depth != d) continue;
        if (d > 0 && (WORD(c, e->word).len < d || memcmp(WORD(c, e->word).tok, w->tok, (size_t)d * sizeof(int32_t)) != 0))
            continue;
        if (!live_at(c, e->state, e->state_ver)) continue;
        return (int32_t)i;
    }
    return -1;
}

/* rwkv_forward on the cache's model and workspace, counted; in the calling
 * thread's group when it has entered one (rwkv_group.h: batched with the
 * other members' calls, the same results), but under words_mu: a member
 * waiting in its group with the lock held would stop the member that runs
 * as soon as it asks for a word. */
static rd_status forward(rwkv_lm_cache *c, int n, const int32_t *tok, const rwkv_state_view *sv, const int32_t *src,
                         const rwkv_state_view *dv, const int32_t *dst, float *logits, rd_error *err) {
    c->rows_fed += n;
    rwkv_group *g = c->solo ? NULL : rwkv_group_current();
    if (g) return rwkv_group_forward(g, c->ws, n, tok, sv, src, dv, dst, logits, err);
    return rwkv_forward(c->lm->m, c->ws, n, tok, sv, src, dv, dst, logits, err);
}

static int cmp_tokens(const int32_t *a, int la, const int32_t *b, int lb);

/* Sorts rows by stem, then by their words' tokens (rows sharing a token
 * prefix from one stem side by side). */
static int cmp_rows(const void *pa, const void *pb, void *ctx) {
    const rwkv_lm_cache *c = ctx;
    int32_t ra = *(const int32_t *)pa, rb = *(const int32_t *)pb;
    if (c->row_stem[ra] != c->row_stem[rb]) return c->row_stem[ra] < c->row_stem[rb] ? -1 : 1;
    const word_entry *x = &WORD(c, c->row_word[ra]), *y = &WORD(c, c->row_word[rb]);
    int t = cmp_tokens(x->tok, x->len, y->tok, y->len);
    return t ? t : (ra > rb) - (ra < rb);
}

/* 1 when sorted row r shares row q's state after j - 1 tokens and its token j - 1. */
static int same_run(const rwkv_lm_cache *c, const int32_t *word, int32_t q, int32_t r, int j) {
    const word_entry *x = &WORD(c, word[q]), *y = &WORD(c, word[r]);
    return c->row_stem[q] == c->row_stem[r] &&
           memcmp(x->tok, y->tok, (size_t)j * sizeof(int32_t)) == 0;
}

/* Forward rows of the sorted rows order[0..nl) at token positions 1.. with
 * sharing (the fresh slots feed_tails needs when sharing). */
static int count_runs(const rwkv_lm_cache *c, const int32_t *word, int nl, int maxlen) {
    int runs = 0;
    for (int j = 1; j < maxlen; j++) {
        int prev = -1;
        for (int i = 0; i < nl; i++) {
            int r = c->order[i];
            if (WORD(c, word[r]).len <= j || j <= c->row_depth[r]) continue;
            if (prev < 0 || !same_run(c, word, prev, r, j)) runs++;
            prev = r;
        }
    }
    return runs;
}

/* Feeds the tokens of every row's word but its first and last, a token
 * position at a time over the rows sorted by stem and tokens (cmp_rows).
 * Rows with the same stem and the same tokens so far share one forward row
 * and its state (a hypothesis' homophones, its words with a common
 * beginning), each in a fresh slot; when the cache lacks free slots for that,
 * every row has one slot, advanced in place. row_phys[r]: the state after
 * the row's word (its stem's for one-token words); score[r] gains the
 * log-probability of the word's tokens after the first. A resumed row
 * (row_depth[r] = d > 0) starts from its stem's state at token d + 1. The
 * fresh slots are node_phys[0..n_nodes); a row's first forward always writes
 * a fresh slot (a resumed row's stem is held, never written). On return
 * row_reach[r] is the depth the row reached (its state row_phys[r] holds
 * the pending token and that many of the word's tokens). */
static rd_status feed_tails(rwkv_lm_cache *c, int n, const int32_t *word, float *score, rd_error *err) {
    int nl = 0, maxlen = 1;
    c->n_nodes = 0;
    for (int r = 0; r < n; r++) {
        int len = WORD(c, word[r]).len;
        c->row_phys[r] = c->stem_phys[c->row_stem[r]];
        c->row_reach[r] = c->row_depth[r];
        if (len > c->row_depth[r] + 1 && !c->dead[r]) c->order[nl++] = r;
        if (len > maxlen) maxlen = len;
    }
    if (nl == 0) return RD_OK;
    qsort_r(c->order, (size_t)nl, sizeof *c->order, cmp_rows, c);
    int n_phys, runs = count_runs(c, word, nl, maxlen);
    sc_bytes(c->sc, NULL, &n_phys);
    int share = runs <= n_phys - sc_phys_in_use(c->sc);
    int need = share ? runs : nl;
    if (need > c->cap_nodes) {
        int32_t *np = rd_realloc_array(c->node_phys, (size_t)need, sizeof *np);
        if (!np) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %d RWKV rows", need);
        c->node_phys = np;
        c->cap_nodes = need;
    }
    int V = c->lm->V;
    for (int j = 1; j < maxlen; j++) {
        int m = 0, prev = -1;
        for (int i = 0; i < nl; i++) {
            int r = c->order[i];
            const word_entry *w = &WORD(c, word[r]);
            if (w->len <= j || c->dead[r] || j <= c->row_depth[r]) continue;
            if (share && prev >= 0 && same_run(c, word, prev, r, j)) {
                c->fw_next[r] = m - 1;
            } else {
                c->fw_tok[m] = w->tok[j - 1];
                c->fw_src[m] = c->row_phys[r];
                c->fw_row[m] = j == c->row_depth[r] + 1; /* the row's first forward */
                c->fw_lead[m] = r;
                c->fw_next[r] = m++;
            }
            prev = r;
        }
        int32_t *dst = c->fw_dst;
        int fresh = 0;
        for (int f = 0; f < m; f++) fresh += share || c->fw_row[f];
        RD_TRY(sc_phys_alloc(c->sc, fresh, c->node_phys + c->n_nodes, err));
        for (int f = 0; f < m; f++) /* without sharing, one row a slot, advanced in place */
            dst[f] = share || c->fw_row[f] ? c->node_phys[c->n_nodes++] : c->fw_src[f];
        for (int i0 = 0; i0 < m; i0 += c->max_rows) {
            int k = m - i0 < c->max_rows ? m - i0 : c->max_rows;
            RD_TRY(forward(c, k, c->fw_tok + i0, &c->view, c->fw_src + i0, &c->view, dst + i0,
                                c->logits, err));
            for (int i = 0; i < k; i++) c->stem_lse[i] = row_lse(c->logits + (size_t)i * V, V);
            /* with sharing every state is its own slot: remember each (before
             * its rows add the next token) */
            for (int i = 0; i < k && share; i++) {
                int r = c->fw_lead[i0 + i];
                prefix_put(c, c->cur_src[r], c->cur_pend[r], word[r], j, dst[i0 + i], score[r],
                           c->logits + (size_t)i * V, c->stem_lse[i]);
            }
            for (int i = 0; i < nl; i++) {
                int r = c->order[i];
                const word_entry *w = &WORD(c, word[r]);
                int f = c->fw_next[r];
                if (w->len <= j || c->dead[r] || j <= c->row_depth[r] || f < i0 || f >= i0 + k) continue;
                score[r] += c->logits[(size_t)(f - i0) * V + w->tok[j]] - c->stem_lse[f - i0];
            }
        }
        for (int i = 0; i < nl; i++) {
            int r = c->order[i];
            int len = WORD(c, word[r]).len;
            if (len <= j || c->dead[r] || j <= c->row_depth[r]) continue;
            c->row_phys[r] = dst[c->fw_next[r]];
            c->row_reach[r] = j;
            /* a row with tokens left stops once below its floor */
            if (c->row_floor && len > j + 1 && score[r] < c->row_floor[r]) c->dead[r] = 1;
        }
    }
    return RD_OK;
}

/* Scores n (src physical slot, pending token, word) triples. Stems are the
 * distinct (src, pending) pairs: each is fed once into a fresh slot. Rows
 * then feed the word's tokens but its last. On return row_phys[r] is the
 * slot holding the row's final state (the stem's for one-token words) and
 * score[r] its log-probability; when keep is 0 every fresh slot is given
 * back. Rows must be distinct. */
static rd_status run_words(rwkv_lm_cache *c, int n, const int32_t *src, const int32_t *pend,
                           const int32_t *word, float *score, int keep, rd_error *err) {
    int ns = 0;
    c->cur_src = src;
    c->cur_pend = pend;
    for (int r = 0; r < n; r++) {
        if (c->row_init[r] >= 0) continue;
        int s = 0;
        while (s < ns && !(c->stem_src[s] == src[r] && c->stem_tok[s] == pend[r])) s++;
        if (s == ns) {
            c->stem_src[ns] = src[r];
            c->stem_tok[ns++] = pend[r];
        }
        c->row_stem[r] = s;
        score[r] = 0;
    }
    RD_TRY(sc_phys_alloc(c->sc, ns, c->stem_phys, err));
    c->n_stems = ns;
    /* resumed rows: past the fed stems, one stem per remembered state they
     * start from (rows from one state may share rows); their scores so far
     * are the caller's */
    for (int r = 0, k = ns; r < n; r++)
        if (c->row_init[r] >= 0) {
            int s = ns;
            while (s < k && c->stem_phys[s] != c->row_init[r]) s++;
            if (s == k) {
                c->stem_phys[k] = c->row_init[r];
                c->stem_src[k] = -1;
                c->stem_tok[k++] = -1;
            }
            c->row_stem[r] = s;
        }
    /* step 0: stems; every row scores its first token from its stem */
    for (int s = 0; s < ns; s++) {
        c->fw_tok[s] = c->stem_tok[s];
        c->fw_src[s] = c->stem_src[s];
        c->fw_dst[s] = c->stem_phys[s];
        c->fw_row[s] = s;
    }
    int V = c->lm->V;
    for (int s0 = 0; s0 < ns; s0 += c->max_rows) {
        int m = ns - s0 < c->max_rows ? ns - s0 : c->max_rows;
        rd_status st = forward(c, m, c->fw_tok + s0, &c->view, c->fw_src + s0, &c->view,
                                    c->fw_dst + s0, c->logits, err);
        if (st != RD_OK) {
            sc_update_abort(c->sc, c->stem_phys, ns);
            return st;
        }
        for (int s = 0; s < m; s++) c->stem_lse[s] = row_lse(c->logits + (size_t)s * (size_t)V, V);
        for (int s = 0; s < m; s++)
            prefix_put(c, c->stem_src[s0 + s], c->stem_tok[s0 + s], -1, 0, c->stem_phys[s0 + s], 0.0f,
                       c->logits + (size_t)s * (size_t)V, c->stem_lse[s]);
        for (int r = 0; r < n; r++) { /* the homophones of one stem share its row */
            int s = c->row_stem[r];
            if (c->row_init[r] >= 0 || s < s0 || s >= s0 + m) continue;
            const float *x = c->logits + (size_t)(s - s0) * (size_t)V;
            score[r] += x[WORD(c, word[r]).tok[0]] - c->stem_lse[s - s0];
        }
    }
    for (int r = 0; r < n; r++)
        c->dead[r] = c->row_floor && WORD(c, word[r]).len > c->row_depth[r] + 1 && score[r] < c->row_floor[r];
    rd_status st = feed_tails(c, n, word, score, err);
    if (st != RD_OK || !keep) {
        sc_update_abort(c->sc, c->node_phys, c->n_nodes);
        sc_update_abort(c->sc, c->stem_phys, ns);
    }
    return st;
}

/* ---------- lm_ops ---------- */

static void rwkv_cache_free(void *p) {
    rwkv_lm_cache *c = p;
    if (!c) return;
    if (c->reserved) {
        pthread_mutex_lock(&c->lm->budget_mu);
        c->lm->budget_used -= c->reserved;
        pthread_mutex_unlock(&c->lm->budget_mu);
    }
    sc_free(c->sc);
    rwkv_workspace_free(c->ws);
    free(c->pending);
    free(c->pending_tmp);
    int32_t *bufs[] = {c->fw_next, c->row_of, c->stem_phys, c->stem_src, c->stem_tok, c->row_stem,
                       c->row_word, c->row_phys, c->fw_tok, c->fw_src, c->fw_dst, c->fw_row,
                       c->order, c->tmp_slot};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(c->node_phys);
    free(c->memo);
    free(c->prefix);
    free(c->prefix_logits);
    free(c->held);
    free(c->held_new);
    free(c->fw_lead);
    free(c->row_depth);
    free(c->row_init);
    free(c->row_reach);
    free(c->hit);
    free(c->row_floor);
    free(c->dead);
    free(c->stem_lse);
    free(c->row_score);
    free(c->logits);
    free(c);
}

/* Takes bytes from the model's --max-memory budget (shared by every thread's
 * cache), or refuses naming what is left. */
static rd_status reserve_budget(rwkv_lm *l, size_t bytes, int n_slots, size_t *reserved, rd_error *err) {
    *reserved = 0;
    if (!l->max_memory) return RD_OK;
    pthread_mutex_lock(&l->budget_mu);
    size_t used = l->budget_used, left = used < l->max_memory ? l->max_memory - used : 0;
    if (bytes <= left) l->budget_used += bytes;
    pthread_mutex_unlock(&l->budget_mu);
    if (bytes > left)
        return rd_fail(err, RD_ERR_NOMEM,
                       "state cache of %d slots needs %zu bytes, over what --max-memory leaves: %zu of %zu bytes "
                       "(the model's weights and every cache share it, one a thread times --batch; slots = beam x "
                       "homophones: lower --beam or --homophones, --threads or --batch, or raise --max-memory)", n_slots, bytes, left,
                       l->max_memory);
    *reserved = bytes;
    return RD_OK;
}

static rd_status rwkv_cache_create(void *model, int n_slots, void **out, rd_error *err) {
    rwkv_lm *l = model;
    rwkv_lm_cache *c = calloc(1, sizeof *c);
    if (!c) return rd_fail(err, RD_ERR_NOMEM, "out of memory for an RWKV cache");
    c->lm = l;
    c->n_slots = n_slots;
    c->max_rows = n_slots < 256 ? n_slots : 256;
    rwkv_kind_info info[RWKV_MAX_KINDS];
    sc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.n_kinds = rwkv_state_kinds(l->m, info);
    for (int k = 0; k < cfg.n_kinds; k++) {
        cfg.kind[k].name = info[k].name;
        cfg.kind[k].size = info[k].size;
        cfg.kind[k].init = info[k].init;
        cfg.kind[k].row = strcmp(info[k].name, "wkv") == 0 ? (size_t)rwkv_head_size(l->m) : info[k].size;
    }
    /* measurement aid (tests/bench/bench_state.sh): states rounded as int8 at rest would be */
    cfg.int8_sim = l->state_int8_sim;
    cfg.n_layers = rwkv_n_layer(l->m);
    cfg.n_slots = n_slots;
    /* a multi-token word needs a stem and a row slot at once: small caches get room */
    cfg.max_rows = n_slots < 64 ? 2 * n_slots + 2 : n_slots;
    cfg.dtype = l->state_dtype;
    rd_status st = reserve_budget(l, sc_total_bytes(&cfg), n_slots, &c->reserved, err);
    if (st == RD_OK) st = sc_create(&cfg, &c->sc, err);
    if (st == RD_OK) st = rwkv_workspace_create(l->m, c->max_rows, l->threads, &c->ws, err);
    if (st == RD_OK && l->no_avx512) rwkv_workspace_no_avx512(c->ws);
    if (st != RD_OK) {
        rwkv_cache_free(c);
        return st;
    }
    sc_view(c->sc, &c->view);
    size_t n = (size_t)n_slots;
    c->pending = rd_malloc_array(n, sizeof(int32_t));
    c->pending_tmp = rd_malloc_array(n, sizeof(int32_t));
    int32_t **bufs[] = {&c->fw_next, &c->row_of, &c->stem_phys, &c->stem_src, &c->stem_tok, &c->row_stem,
                        &c->row_word, &c->row_phys, &c->fw_tok, &c->fw_src, &c->fw_dst, &c->fw_row,
                        &c->order, &c->tmp_slot};
    int ok = c->pending && c->pending_tmp;
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) ok &= (*bufs[i] = rd_malloc_array(n, sizeof(int32_t))) != NULL;
    c->stem_lse = rd_malloc_array(n, sizeof(float));
    c->row_score = rd_malloc_array(n, sizeof(float));
    c->logits = rd_malloc_array((size_t)c->max_rows * (size_t)l->V, sizeof(float));
    size_t memo_n = 4096;
    while (memo_n < 16 * n) memo_n *= 2;
    c->memo = rd_malloc_array(memo_n, sizeof *c->memo);
    c->memo_mask = (uint32_t)memo_n - 1;
    c->hit = rd_malloc_array(n, sizeof(int32_t));
    /* a call holds at most every physical slot once per use */
    c->cap_held = 2 * n_slots + 2;
    c->held = rd_malloc_array((size_t)c->cap_held, sizeof(int32_t));
    c->held_new = rd_malloc_array((size_t)c->cap_held, sizeof(int32_t));
    c->fw_lead = rd_malloc_array(n, sizeof(int32_t));
    /* no prefixes under the int8 simulation: the commit rounds a state it
     * binds in place, which a prefix entry may name (and a held one it
     * would not round) */
    if (l->V <= PREFIX_MAX_VOCAB && !l->state_int8_sim) {
        size_t pn = 1024;
        while (pn < 2 * n) pn *= 2;
        c->prefix = rd_malloc_array(pn, sizeof *c->prefix);
        c->prefix_logits = rd_malloc_array(pn * (size_t)l->V, sizeof(float));
        c->prefix_mask = (uint32_t)pn - 1;
        if (c->prefix)
            for (size_t i = 0; i < pn; i++) c->prefix[i].parent = -1;
        ok &= c->prefix && c->prefix_logits;
    }
    c->row_depth = rd_calloc_array(n, sizeof(int32_t));
    c->row_init = rd_malloc_array(n, sizeof(int32_t));
    c->row_reach = rd_malloc_array(n, sizeof(int32_t));
    c->row_floor = rd_malloc_array(n, sizeof(float));
    c->dead = rd_calloc_array(n, 1);
    if (c->memo)
        for (size_t i = 0; i < memo_n; i++) c->memo[i].parent = -1;
    if (!ok || !c->stem_lse || !c->row_score || !c->logits || !c->memo || !c->held || !c->held_new || !c->fw_lead || !c->row_depth || !c->row_init || !c->row_reach || !c->hit || !c->row_floor ||
        !c->dead) {
        rwkv_cache_free(c);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for an RWKV cache of %d slots", n_slots);
    }
    for (int i = 0; i < n_slots; i++) c->pending[i] = l->start_token;
    *out = c;
    return RD_OK;
}

/* Orders word ids by their token sequences (shared prefixes side by side). */
static int cmp_tokens(const int32_t *a, int la, const int32_t *b, int lb) {
    for (int i = 0; i < la && i < lb; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return la < lb ? -1 : la > lb;
}

static int cmp_word_tokens(const void *pa, const void *pb, void *ctx) {
    const rwkv_lm_cache *c = ctx;
    const word_entry *x = &WORD(c, *(const int32_t *)pa), *y = &WORD(c, *(const int32_t *)pb);
    return cmp_tokens(x->tok, x->len, y->tok, y->len);
}

static void sort_words(rwkv_lm_cache *c, int32_t *w, int n) { qsort_r(w, (size_t)n, sizeof *w, cmp_word_tokens, c); }

/* 1 when words a and b share their first j tokens. */
static int same_prefix(const rwkv_lm_cache *c, int32_t a, int32_t b, int j) {
    const word_entry *x = &WORD(c, a), *y = &WORD(c, b);
    return x->len >= j && y->len >= j && memcmp(x->tok, y->tok, (size_t)j * sizeof(int32_t)) == 0;
}

/* out[r] = ln p(first min(depth, len) tokens of word w[r]) from the initial
 * state (depth <= 0: the whole word). The n words must be sorted by tokens;
 * each distinct prefix is fed once (a token trie walked level by level),
 * at most B rows at a time. */
static rd_status prefix_scores(rwkv_lm_cache *c, const int32_t *w, int n, int depth, float *out, rd_error *err) {
    int V = c->lm->V, B = (c->max_rows - 1) / 2 > 0 ? (c->max_rows - 1) / 2 : 1;
    int32_t zero = 0, stem, tok = c->lm->start_token;
    make_room(c, 2 * B + 2); /* the stem and two levels of B rows */
    RD_TRY(sc_phys_alloc(c->sc, 1, &stem, err));
    rd_status st = forward(c, 1, &tok, &c->view, &zero, &c->view, &stem, c->logits, err);
    if (st != RD_OK) {
        sc_update_abort(c->sc, &stem, 1);
        return st;
    }
    float lse0 = row_lse(c->logits, V);
    for (int r = 0; r < n; r++) out[r] = c->logits[WORD(c, w[r]).tok[0]] - lse0;
    int32_t *node = c->row_stem, *prev = c->stem_src, *cur = c->fw_dst;
    for (int r0 = 0; r0 < n && st == RD_OK; r0 += B) {
        int m0 = n - r0 < B ? n - r0 : B, np = 0, maxlen = 1;
        for (int r = 0; r < m0; r++) {
            int len = WORD(c, w[r0 + r]).len;
            if (depth > 0 && len > depth) len = depth;
            if (len > maxlen) maxlen = len;
            node[r] = 0;
        }
        prev[0] = stem; /* every row's depth-0 state */
        for (int j = 1; j < maxlen && st == RD_OK; j++) {
            int m = 0, last = -1;
            for (int r = 0; r < m0; r++) {
                const word_entry *e = &WORD(c, w[r0 + r]);
                int len = depth > 0 && e->len > depth ? depth : e->len;
                if (len <= j) continue;
                if (last >= 0 && same_prefix(c, w[r0 + last], w[r0 + r], j)) {
                    c->row_of[r] = c->row_of[last];
                } else {
                    c->fw_tok[m] = e->tok[j - 1];
                    c->fw_src[m] = prev[node[r]];
                    c->row_of[r] = m++;
                }
                last = r;
            }
            st = sc_phys_alloc(c->sc, m, cur, err);
            if (st != RD_OK) break;
            st = forward(c, m, c->fw_tok, &c->view, c->fw_src, &c->view, cur, c->logits, err);
            for (int i = 0; i < m && st == RD_OK; i++) c->stem_lse[i] = row_lse(c->logits + (size_t)i * V, V);
            for (int r = 0; r < m0 && st == RD_OK; r++) {
                const word_entry *e = &WORD(c, w[r0 + r]);
                int len = depth > 0 && e->len > depth ? depth : e->len;
                if (len <= j) continue;
                int k = c->row_of[r];
                out[r0 + r] += c->logits[(size_t)k * V + e->tok[j]] - c->stem_lse[k];
                node[r] = k;
            }
            if (j > 1) sc_update_abort(c->sc, prev, np);
            int32_t *t = prev;
            prev = cur;
            cur = t;
            np = m;
        }
        if (maxlen > 1 && np > 0) sc_update_abort(c->sc, prev, np);
        prev = c->stem_src;
        cur = c->fw_dst;
    }
    sc_update_abort(c->sc, &stem, 1);
    return st;
}

/* Fills the exact (depth 0) or bound (depth > 0) values of every word in
 * w[0..n) whose value is NAN, in one trie walk. */
static rd_status fill_scores(rwkv_lm_cache *c, const int32_t *w, int n, int depth, rd_error *err) {
    int32_t *todo = rd_malloc_array((size_t)(n > 0 ? n : 1), sizeof *todo);
    float *val = rd_malloc_array((size_t)(n > 0 ? n : 1), sizeof *val);
    if (!todo || !val) {
        free(todo);
        free(val);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for %d unigram scores", n);
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        const word_entry *e = &WORD(c, w[i]);
        float v = depth > 0 ? e->bound : e->unigram;
        if (isnan(v)) todo[k++] = w[i];
    }
    sort_words(c, todo, k);
    /* drop repeats (a word asked for twice) */
    int u = 0;
    for (int i = 0; i < k; i++)
        if (u == 0 || todo[u - 1] != todo[i]) todo[u++] = todo[i];
    rd_status st = prefix_scores(c, todo, u, depth, val, err);
    for (int i = 0; i < u && st == RD_OK; i++) {
        word_entry *e = &WORD(c, todo[i]);
        /* each value from its own computation only, never the other's: with
         * the table shared by threads, which is asked first must not matter */
        if (depth > 0) e->bound = val[i];
        else e->unigram = val[i];
    }
    free(todo);
    free(val);
    return st;
}

static rd_status rwkv_unigrams(void *p, const int32_t *w, int n, float *out, int bound, rd_error *err) {
    rwkv_lm_cache *c = p;
    rwkv_lm *l = c->lm;
    int depth = bound ? l->lookahead_tokens : 0;
    /* under words_mu: the values are the model's, computed once for every
     * thread (a second thread waits, then finds them) */
    pthread_mutex_lock(&l->words_mu);
    rd_status st = RD_OK;
    for (int i = 0; i < n && st == RD_OK; i++)
        if (w[i] < 0 || w[i] >= l->n_words)
            st = rd_fail(err, RD_ERR_INTERNAL, "lm_unigrams: %d is not a word handle", (int)w[i]);
    c->solo = 1;
    if (st == RD_OK) st = fill_scores(c, w, n, depth, err);
    c->solo = 0;
    for (int i = 0; i < n && st == RD_OK; i++) out[i] = depth > 0 ? WORD(c, w[i]).bound : WORD(c, w[i]).unigram;
    pthread_mutex_unlock(&l->words_mu);
    return st;
}

static rd_status rwkv_start(void *p, const int32_t *slot, int n, rd_error *err) {
    (void)err;
    rwkv_lm_cache *c = p;
    sc_reset(c->sc, slot, n);
    for (int i = 0; i < n; i++) c->pending[slot[i]] = c->lm->start_token;
    return RD_OK;
}

static uint32_t memo_index(const rwkv_lm_cache *c, int32_t ph, uint32_t ver, int32_t pend, int32_t word) {
    uint64_t h = ((uint64_t)(uint32_t)ph << 32 | ver) * 0x9e3779b97f4a7c15ull;
    h ^= ((uint64_t)(uint32_t)pend << 32 | (uint32_t)word) * 0xc2b2ae3d27d4eb4full;
    return (uint32_t)(h ^ h >> 31) & c->memo_mask;
}

/* The entry remembering word from live physical slot ph (pending pend), or
 * -1. */
static int32_t memo_key(const rwkv_lm_cache *c, int32_t ph, int32_t pend, int32_t word) {
    uint32_t ver = sc_phys_version(c->sc, ph), i = memo_index(c, ph, ver, pend, word);
    const memo_entry *e = &c->memo[i];
    return e->parent == ph && e->parent_ver == ver && e->pending == pend && e->word == word ? (int32_t)i : -1;
}

/* 1 when entry i's child state serves too (the word was scored to its end
 * and its child is live at child_ver). */
static int memo_child_serves(const rwkv_lm_cache *c, int32_t i) {
    const memo_entry *e = &c->memo[i];
    return e->child >= 0 && live_at(c, e->child, e->child_ver);
}

static rd_status rwkv_score_words_floor(void *p, const int32_t *parent, const int32_t *word, const int32_t *child,
                                        int n, const float *floor, float *score, rd_error *err) {
    rwkv_lm_cache *c = p;
    make_room(c, 2 * n + 2); /* a stem and a row slot per word at most */
    /* distinct (parent state, pending, word) rows not remembered; duplicates share a row */
    int nr = 0;
    c->n_held_new = 0;
    for (int i = 0; i < n; i++) {
        int32_t ph = sc_phys(c->sc, parent[i]), pt = c->pending[parent[i]];
        int32_t b = memo_key(c, ph, pt, word[i]);
        c->hit[i] = b >= 0 && memo_child_serves(c, b) ? b : -1;
        if (c->hit[i] >= 0) continue;
        if (floor && b >= 0 && c->memo[b].score < floor[i]) {
            c->hit[i] = -2;
            int32_t pe = prefix_find(c, ph, pt, word[i]); /* where it stopped: still of use */
            if (pe >= 0) hold_next(c, c->prefix[pe].state);
            continue;
        }
        int r = 0;
        for (r = 0; r < nr; r++)
            if (c->fw_src[r] == ph && c->fw_tok[r] == pt && c->row_word[r] == word[i]) break;
        if (r == nr) {
            c->fw_src[nr] = ph;
            c->fw_tok[nr] = pt;
            c->row_floor[nr] = floor ? floor[i] : -INFINITY;
            c->row_word[nr] = word[i];
            /* start from the deepest remembered prefix (held one call more) */
            int32_t pe = prefix_find(c, ph, pt, word[i]);
            c->row_init[nr] = -1;
            c->row_depth[nr] = 0;
            if (pe >= 0) {
                const prefix_entry *e = &c->prefix[pe];
                const float *x = c->prefix_logits + (size_t)pe * (size_t)c->lm->V;
                c->row_init[nr] = e->state;
                c->row_depth[nr] = e->depth;
                c->row_score[nr] = e->partial + (x[WORD(c, word[i]).tok[e->depth]] - e->lse);
                hold_next(c, e->state);
            }
            nr++;
        } else if (floor && floor[i] < c->row_floor[r]) {
            c->row_floor[r] = floor[i];
        }
        c->row_of[i] = r;
    }
    c->n_stems = c->n_nodes = 0;
    if (nr > 0) {
        memcpy(c->tmp_slot, c->fw_src, (size_t)nr * sizeof(int32_t));
        memcpy(c->pending_tmp, c->fw_tok, (size_t)nr * sizeof(int32_t));
        float *keep_floor = c->row_floor;
        if (!floor) c->row_floor = NULL;
        rd_status st = run_words(c, nr, c->tmp_slot, c->pending_tmp, c->row_word, c->row_score, 1, err);
        c->row_floor = keep_floor;
        RD_TRY(st);
    }
    for (int i = 0; i < n; i++) {
        if (c->hit[i] >= 0) {
            const memo_entry *e = &c->memo[c->hit[i]];
            score[i] = e->score;
            c->tmp_slot[i] = e->child;
        } else if (c->hit[i] == -2) { /* given up: the child shares the parent's state */
            score[i] = -INFINITY;
            c->tmp_slot[i] = sc_phys(c->sc, parent[i]);
        } else {
            int r = c->row_of[i];
            score[i] = floor && c->dead[r] ? -INFINITY : c->row_score[r];
            c->tmp_slot[i] = c->row_phys[r];
        }
    }
    /* remember the new rows, after the hits are read (an entry may take a
     * hit's place): the score and child, or for a row given up the bound
     * where it stopped (the parents live on: they belong to the caller's
     * slots; the children are bound below) */
    for (int i = 0; i < n; i++) {
        if (c->hit[i] != -1) continue;
        int r = c->row_of[i];
        int32_t ph = sc_phys(c->sc, parent[i]), pt = c->pending[parent[i]], at = floor && c->dead[r] ? -1 : c->tmp_slot[i];
        uint32_t ver = sc_phys_version(c->sc, ph);
        c->memo[memo_index(c, ph, ver, pt, word[i])] =
            (memo_entry){ph, pt, word[i], at, ver, at >= 0 ? sc_phys_version(c->sc, at) : 0, c->row_score[r]};
    }
    /* the states this call started from (live already) are held before the
     * children are bound: a child slot may be their last reference, and
     * a state freed there and held again would be handed out twice. The
     * states it wrote are held after, so that the commit sees them fresh */
    int n_live = 0;
    for (int q = 0; q < c->n_held_new; q++)
        if (sc_phys_live(c->sc, c->held_new[q])) {
            int32_t t = c->held_new[n_live];
            c->held_new[n_live++] = c->held_new[q];
            c->held_new[q] = t;
        }
    sc_phys_hold(c->sc, c->held_new, n_live);
    /* bind children (each adds a reference); slots no child took go back */
    sc_update_commit(c->sc, child, c->tmp_slot, n);
    /* hold where the dead rows stopped until the next call, then let the
     * last call's go (before the unreferenced fresh slots go back) */
    sc_phys_hold(c->sc, c->held_new + n_live, c->n_held_new - n_live);
    sc_phys_drop(c->sc, c->held, c->n_held);
    int32_t *t = c->held;
    c->held = c->held_new;
    c->held_new = t;
    c->n_held = c->n_held_new;
    sc_phys_release_unreferenced(c->sc, c->stem_phys, c->n_stems);
    sc_phys_release_unreferenced(c->sc, c->node_phys, c->n_nodes);
    for (int i = 0; i < n; i++) {
        const word_entry *w = &WORD(c, word[i]);
        c->pending[child[i]] = w->tok[w->len - 1];
    }
#ifdef RD_DEBUG
    RD_TRY(sc_check_finite(c->sc, child, n, err));
    RD_TRY(sc_check_slots(c->sc, err));
#endif
    return RD_OK;
}

static rd_status rwkv_score_words(void *p, const int32_t *parent, const int32_t *word, const int32_t *child,
                                  int n, float *score, rd_error *err) {
    return rwkv_score_words_floor(p, parent, word, child, n, NULL, score, err);
}

static rd_status rwkv_finish(void *p, const int32_t *slot, int n, float *score, rd_error *err) {
    rwkv_lm_cache *c = p;
    int V = c->lm->V;
    for (int i0 = 0; i0 < n; i0 += c->max_rows) {
        int m = n - i0 < c->max_rows ? n - i0 : c->max_rows;
        for (int i = 0; i < m; i++) {
            c->fw_src[i] = sc_phys(c->sc, slot[i0 + i]);
            c->fw_tok[i] = c->pending[slot[i0 + i]];
        }
        make_room(c, m);
        RD_TRY(sc_phys_alloc(c->sc, m, c->fw_dst, err));
        rd_status st = forward(c, m, c->fw_tok, &c->view, c->fw_src, &c->view, c->fw_dst,
                                    c->logits, err);
        sc_update_abort(c->sc, c->fw_dst, m);
        RD_TRY(st);
        for (int i = 0; i < m; i++) {
            const float *x = c->logits + (size_t)i * (size_t)V;
            score[i0 + i] = x[c->lm->end_token] - row_lse(x, V);
        }
    }
    return RD_OK;
}

static rd_status rwkv_reorder(void *p, const int32_t *surv, int n, rd_error *err) {
    rwkv_lm_cache *c = p;
    RD_TRY(sc_reorder(c->sc, surv, n, err));
    for (int i = 0; i < n; i++) c->pending_tmp[i] = c->pending[surv[i]];
    memcpy(c->pending, c->pending_tmp, (size_t)n * sizeof(int32_t));
    /* slots past the survivors are undefined: let their states go */
    for (int i = n; i < c->n_slots; i++) c->tmp_slot[i - n] = i;
    sc_reset(c->sc, c->tmp_slot, c->n_slots - n);
    return RD_OK;
}

static size_t rwkv_cache_bytes(const void *p, size_t *per_slot, int *n_stored) {
    const rwkv_lm_cache *c = p;
    return sc_bytes(c->sc, per_slot, n_stored);
}

static rd_status rwkv_copy(void *p, int32_t src, int32_t dst, rd_error *err) {
    (void)err;
    rwkv_lm_cache *c = p;
    sc_clone(c->sc, src, dst);
    c->pending[dst] = c->pending[src];
    return RD_OK;
}

static rd_status rwkv_state_get(const void *p, int32_t slot, float *state, int32_t *pending, rd_error *err) {
    (void)err;
    const rwkv_lm_cache *c = p;
    sc_gather(c->sc, &slot, 1, state);
    if (pending) *pending = c->pending[slot];
    return RD_OK;
}

static rd_status rwkv_state_set(void *p, int32_t slot, const float *state, int32_t pending, rd_error *err) {
    rwkv_lm_cache *c = p;
    if (pending < 0 || pending >= c->lm->V)
        return rd_fail(err, RD_ERR_INPUT, "pending token %d is not in the model's vocabulary (0..%d)", (int)pending,
                       c->lm->V - 1);
    make_room(c, 1);
    RD_TRY(sc_load_slot(c->sc, slot, state, err));
    c->pending[slot] = pending;
    return RD_OK;
}

static const lm_ops rwkv_ops;

rd_status lm_rwkv_check(const lm_cache *c, rd_error *err) {
    if (c->ops != &rwkv_ops) return RD_OK;
    return sc_check_slots(((const rwkv_lm_cache *)c->impl)->sc, err);
}

long long lm_rwkv_rows(const lm_cache *c) {
    return c->ops == &rwkv_ops ? ((const rwkv_lm_cache *)c->impl)->rows_fed : -1;
}

static const lm_ops rwkv_ops = {"rwkv", rwkv_lm_free, rwkv_cache_create, rwkv_cache_free, rwkv_word,
                                rwkv_word_known, rwkv_unigrams, rwkv_start, rwkv_score_words, rwkv_finish,
                                rwkv_reorder, rwkv_cache_bytes, rwkv_copy, rwkv_state_get, rwkv_state_set, NULL, NULL, NULL,
                                rwkv_score_words_floor};

rd_status lm_rwkv_open(const char *path, const lm_load_options *opt, lm_model *m, rd_error *err) {
    rwkv_lm *l = calloc(1, sizeof *l);
    if (!l) return rd_fail(err, RD_ERR_NOMEM, "out of memory loading %s", path);
    pthread_mutex_init(&l->budget_mu, NULL);
    pthread_mutex_init(&l->words_mu, NULL);
    rd_arena_init(&l->text, 1 << 16);
    rd_strtab_init(&l->names);
    rd_status st = rwkv_load(path, &l->m, err);
    if (st == RD_OK) {
        l->V = rwkv_n_vocab(l->m);
        l->threads = opt && opt->threads > 0 ? opt->threads : 1;
        l->state_dtype = opt ? (rd_dtype)opt->state_dtype : RD_F32;
        l->max_memory = opt ? opt->max_memory : 0;
        l->budget_used = rwkv_weight_bytes(l->m);
        if (l->max_memory && l->budget_used > l->max_memory)
            st = rd_fail(err, RD_ERR_NOMEM, "%s: the weights need %zu bytes, over --max-memory (%zu bytes)", path,
                         l->budget_used, l->max_memory);
        l->lookahead_tokens = opt && opt->lookahead_tokens != 0 ? opt->lookahead_tokens : 4;
        if (l->lookahead_tokens < 0) l->lookahead_tokens = 0; /* exact */
        l->no_avx512 = opt && opt->no_avx512;
        l->state_int8_sim = opt && opt->state_int8_sim;
        if (st == RD_OK) st = load_tokenizer(l, path, opt, err);
    }
    if (st != RD_OK) {
        rwkv_lm_free(l);
        return st;
    }
    m->ops = &rwkv_ops;
    m->impl = l;
    m->rwkv = l->m;
    m->state_size = rwkv_state_size(l->m);
    snprintf(m->description, sizeof m->description, "rwkv-%d, %d layers, %d wide, vocabulary %d",
             rwkv_version(l->m), rwkv_n_layer(l->m), rwkv_n_embd(l->m), l->V);
    return RD_OK;
}
