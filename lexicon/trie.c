/* lexicon/trie.c - the unit trie: built from sorted pronunciations in one
 * pass (nodes in depth-first order), queried by the decoder's inner loop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "lexicon/lexicon_impl.h"

/* Weight given to a Rime entry of weight 0, so its word stays reachable. */
#define LEX_RIME_ZERO_WEIGHT 0.5

static int trie_cmp_units(const lex_entry *a, const lex_entry *b) {
    int32_t n = a->n_units < b->n_units ? a->n_units : b->n_units;
    for (int32_t i = 0; i < n; i++)
        if (a->units[i] != b->units[i]) return a->units[i] < b->units[i] ? -1 : 1;
    return (a->n_units > b->n_units) - (a->n_units < b->n_units);
}

/* Unit sequence, then word, then best value first. */
static int trie_cmp_entry(const void *pa, const void *pb) {
    const lex_entry *a = pa, *b = pb;
    int c = trie_cmp_units(a, b);
    if (c) return c;
    if (a->word != b->word) return a->word < b->word ? -1 : 1;
    return (a->value < b->value) - (a->value > b->value);
}

/* Drops repeated (units, word) entries from the sorted array; returns the new count. */
static size_t trie_merge(lex_entry *e, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && e[k - 1].word == e[i].word && trie_cmp_units(&e[k - 1], &e[i]) == 0) continue;
        e[k++] = e[i];
    }
    return k;
}

static int32_t trie_lcp(const lex_entry *a, const lex_entry *b) {
    int32_t n = a->n_units < b->n_units ? a->n_units : b->n_units, i = 0;
    while (i < n && a->units[i] == b->units[i]) i++;
    return i;
}

/* Nodes the sorted entries need, root included; -1 past INT32_MAX. */
static int64_t trie_count_nodes(const lex_entry *e, size_t n, int32_t *max_depth) {
    int64_t nodes = 1;
    *max_depth = 0;
    for (size_t i = 0; i < n; i++) {
        nodes += e[i].n_units - (i ? trie_lcp(&e[i - 1], &e[i]) : 0);
        if (e[i].n_units > *max_depth) *max_depth = e[i].n_units;
        if (nodes >= INT32_MAX) return -1;
    }
    return nodes;
}

static int trie_alloc(lex_trie *t, int32_t nodes, size_t entries, int n_units) {
    size_t nn = (size_t)nodes;
    t->n_nodes = nodes;
    t->n_units = n_units;
    t->parent = rd_malloc_array(nn, sizeof(int32_t));
    t->child_start = rd_calloc_array(nn + 1, sizeof(int32_t));
    t->child_node = rd_malloc_array(nn, sizeof(int32_t));
    t->child_unit = rd_malloc_array(nn, sizeof(int32_t));
    t->group_start = rd_calloc_array(nn + 1, sizeof(int32_t));
    t->group_word = rd_malloc_array(entries, sizeof(int32_t));
    t->group_logp = rd_malloc_array(entries, sizeof(float));
    t->root_child = rd_malloc_array((size_t)n_units, sizeof(int32_t));
    return t->parent && t->child_start && t->child_node && t->child_unit && t->group_start &&
           t->group_word && t->group_logp && t->root_child;
}

/* Creates the nodes in depth-first order; node_unit[v] gets v's unit and
 * group_start[v + 1] the size of v's group (prefix-summed later). */
static void trie_make_nodes(lex_trie *t, const lex_entry *e, size_t n, int32_t *path,
                            int32_t *node_unit) {
    int32_t next = 1;
    t->parent[0] = -1;
    path[0] = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t d = i ? trie_lcp(&e[i - 1], &e[i]) : 0;
        for (; d < e[i].n_units; d++) {
            t->parent[next] = path[d];
            node_unit[next] = e[i].units[d];
            path[d + 1] = next++;
        }
        int32_t end = path[e[i].n_units];
        t->group_start[end + 1]++;
        t->group_word[i] = e[i].word;
        t->group_logp[i] = e[i].value;
    }
}

/* Children per node: a node's children have increasing ids and units. */
static void trie_link_children(lex_trie *t, const int32_t *node_unit) {
    int32_t n = t->n_nodes;
    for (int32_t v = 1; v < n; v++) t->child_start[t->parent[v] + 1]++;
    for (int32_t v = 0; v < n; v++) {
        t->child_start[v + 1] += t->child_start[v];
        t->group_start[v + 1] += t->group_start[v];
    }
    int32_t *fill = t->child_node; /* reuse as cursor: child_unit holds the next slot */
    for (int32_t v = 0; v < n; v++) t->child_unit[v] = t->child_start[v];
    for (int32_t v = 1; v < n; v++) fill[t->child_unit[t->parent[v]]++] = v;
    for (int32_t i = 0; i + 1 < n; i++) t->child_unit[i] = node_unit[t->child_node[i]];
    for (int u = 0; u < t->n_units; u++) t->root_child[u] = -1;
    for (int32_t i = t->child_start[0]; i < t->child_start[1]; i++)
        t->root_child[t->child_unit[i]] = t->child_node[i];
    t->max_group = 0;
    for (int32_t v = 0; v < n; v++) {
        int g = t->group_start[v + 1] - t->group_start[v];
        if (g > t->max_group) t->max_group = g;
    }
}

/* Rime weights -> ln(weight / total weight of the group), and the prior
 * ln(weight / total weight of the lexicon). */
static int trie_normalize_weights(lex_trie *t) {
    size_t n = (size_t)t->group_start[t->n_nodes];
    t->group_prior = rd_malloc_array(n ? n : 1, sizeof *t->group_prior);
    if (!t->group_prior) return 0;
    double all = 0;
    for (size_t i = 0; i < n; i++) {
        if (t->group_logp[i] <= 0) t->group_logp[i] = (float)LEX_RIME_ZERO_WEIGHT;
        all += t->group_logp[i];
    }
    for (size_t i = 0; i < n; i++) t->group_prior[i] = (float)log(t->group_logp[i] / all);
    for (int32_t v = 0; v < t->n_nodes; v++) {
        int32_t a = t->group_start[v], b = t->group_start[v + 1];
        double total = 0;
        for (int32_t i = a; i < b; i++) {
            if (t->group_logp[i] <= 0) t->group_logp[i] = (float)LEX_RIME_ZERO_WEIGHT;
            total += t->group_logp[i];
        }
        for (int32_t i = a; i < b; i++) t->group_logp[i] = (float)log(t->group_logp[i] / total);
    }
    return 1;
}

rd_status lex_trie_build(lex_lexicon *l, lex_entry *e, size_t n, int rime, long *kept,
                         const char *name, rd_error *err) {
    lex_trie *t = &l->trie;
    if (n > 1) qsort(e, n, sizeof *e, trie_cmp_entry);
    n = trie_merge(e, n);
    *kept = (long)n;
    int32_t depth;
    int64_t nodes = trie_count_nodes(e, n, &depth);
    if (nodes < 0 || n >= INT32_MAX)
        return rd_fail(err, RD_ERR_INPUT, "%s: too many pronunciations for one trie", name);
    int32_t *path = rd_malloc_array((size_t)depth + 1, sizeof *path);
    int32_t *node_unit = rd_malloc_array((size_t)nodes, sizeof *node_unit);
    int ok = path && node_unit &&
             trie_alloc(t, (int32_t)nodes, n, lex_units_count(l->units));
    if (ok) {
        trie_make_nodes(t, e, n, path, node_unit);
        trie_link_children(t, node_unit);
        if (rime) ok = trie_normalize_weights(t);
    }
    free(path);
    free(node_unit);
    return ok ? RD_OK : rd_fail(err, RD_ERR_NOMEM, "%s: out of memory building the trie", name);
}

void lex_trie_release(lex_trie *t) {
    free(t->parent);
    free(t->child_start);
    free(t->child_node);
    free(t->child_unit);
    free(t->group_start);
    free(t->group_word);
    free(t->group_logp);
    free(t->group_prior);
    free(t->root_child);
    memset(t, 0, sizeof *t);
}

int32_t lex_trie_node_count(const lex_lexicon *l) { return l->trie.n_nodes; }

int32_t lex_trie_child(const lex_lexicon *l, int32_t node, int unit) {
    const lex_trie *t = &l->trie;
    if (node == 0) return (unsigned)unit < (unsigned)t->n_units ? t->root_child[unit] : -1;
    int32_t lo = t->child_start[node], hi = t->child_start[node + 1];
    const int32_t *cu = t->child_unit;
    while (hi - lo > 8) { /* binary search down to a short run, then scan */
        int32_t mid = lo + (hi - lo) / 2;
        if (cu[mid] <= unit) lo = mid;
        else hi = mid;
    }
    for (int32_t i = lo; i < hi; i++)
        if (cu[i] == unit) return t->child_node[i];
    return -1;
}

int lex_trie_child_count(const lex_lexicon *l, int32_t node) {
    return l->trie.child_start[node + 1] - l->trie.child_start[node];
}

int32_t lex_trie_child_at(const lex_lexicon *l, int32_t node, int i, int *unit) {
    int32_t k = l->trie.child_start[node] + i;
    if (unit) *unit = l->trie.child_unit[k];
    return l->trie.child_node[k];
}

int lex_trie_group(const lex_lexicon *l, int32_t node, const int32_t **words, const float **logp) {
    const lex_trie *t = &l->trie;
    int32_t a = t->group_start[node];
    *words = t->group_word + a;
    *logp = t->group_logp + a;
    return t->group_start[node + 1] - a;
}

int lex_trie_max_group(const lex_lexicon *l) { return l->trie.max_group; }

const float *lex_trie_group_prior(const lex_lexicon *l, int32_t node) {
    return l->trie.group_prior ? l->trie.group_prior + l->trie.group_start[node] : NULL;
}

int32_t lex_trie_parent(const lex_lexicon *l, int32_t node) { return l->trie.parent[node]; }

/* Children have larger ids than their parent, so one backward sweep
 * carries each node's best up to its parent. */
void lex_lookahead(const lex_lexicon *l, const float *word_score, float *node_score) {
    const lex_trie *t = &l->trie;
    for (int32_t v = 0; v < t->n_nodes; v++) {
        float best = -INFINITY;
        for (int32_t i = t->group_start[v]; i < t->group_start[v + 1]; i++) {
            float s = word_score[t->group_word[i]] + t->group_logp[i];
            if (s > best) best = s;
        }
        node_score[v] = best;
    }
    for (int32_t v = t->n_nodes - 1; v > 0; v--) {
        int32_t p = t->parent[v];
        if (node_score[v] > node_score[p]) node_score[p] = node_score[v];
    }
}
