/* decoder/boost.c - the hotword file parser and the phrase automaton.
 *
 * A trie of phrases over word ids, with Aho-Corasick failure links. Edges
 * live in one open-addressing table keyed by (node, word); each node keeps
 * its first child and next sibling for the breadth-first pass that sets the
 * failure links. Per node, after building:
 *   out[v]     the bonus of every phrase that ends at v or at a suffix of v
 *              (own phrase + out[fail[v]]): paid when the automaton enters v;
 *   partial[v] credit held while at v: the edge weights along the path from
 *              the root (an edge weighs the largest weight of the phrases
 *              through it) less the bonuses of the phrases ending on that
 *              path, floored at 0.
 * Entering v from u pays out[v] + partial[v] - partial[u]. */
#include "decoder/boost.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/text.h"
#include "common/strtab.h"

typedef struct boost_pron_rec {
    int32_t word;
    int file;         /* index into names */
    size_t units_off; /* into pron_text */
    long line;
} boost_pron_rec;

struct boost_graph {
    char **names;    /* the files read, in order */
    int n_names, cur; /* cur: the file being parsed */
    rd_strtab words;
    int *word_file;  /* index into names, parallel to word_line */
    long *word_line;
    int32_t word_line_cap;
    boost_pron_rec *prons;
    int n_prons, prons_cap;
    char *pron_text;
    size_t pron_used, pron_cap;
    int n_phrases;

    int32_t n_nodes, cap_nodes;
    int32_t *parent, *first_child, *next_sibling, *fail;
    float *edge_w, *end_w; /* end_w: NAN where no phrase ends */
    int32_t *depth;
    float *out, *partial;

    uint64_t *ekey;      /* (node << 32 | word) + 1, 0 = empty */
    int32_t *echild;
    uint32_t emask;
    int32_t n_edges;
};

static int grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = rd_realloc_array(*p, c, size);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static inline uint32_t edge_hash(uint64_t k) {
    k *= 0x9E3779B97F4A7C15ull;
    k ^= k >> 29;
    return (uint32_t)(k >> 32);
}

static int32_t edge_find(const boost_graph *g, int32_t node, int32_t word) {
    if (!g->ekey) return -1;
    uint64_t k = ((uint64_t)(uint32_t)node << 32 | (uint32_t)word) + 1;
    for (uint32_t b = edge_hash(k) & g->emask;; b = (b + 1) & g->emask) {
        if (g->ekey[b] == 0) return -1;
        if (g->ekey[b] == k) return g->echild[b];
    }
}

static void edge_put(boost_graph *g, uint64_t k, int32_t child) {
    uint32_t b = edge_hash(k) & g->emask;
    while (g->ekey[b] != 0) b = (b + 1) & g->emask;
    g->ekey[b] = k;
    g->echild[b] = child;
}

static int edges_reserve(boost_graph *g, int32_t need) {
    size_t size = (size_t)g->emask + 1;
    if (g->ekey && (size_t)need * 2 <= size) return 1;
    size_t ns = 64;
    while (ns < (size_t)need * 2) ns <<= 1;
    uint64_t *ok = g->ekey;
    int32_t *oc = g->echild;
    g->ekey = rd_calloc_array(ns, sizeof *g->ekey);
    g->echild = rd_malloc_array(ns, sizeof *g->echild);
    if (!g->ekey || !g->echild) {
        free(g->ekey);
        free(g->echild);
        g->ekey = ok;
        g->echild = oc;
        return 0;
    }
    g->emask = (uint32_t)(ns - 1);
    for (size_t i = 0; ok && i < size; i++)
        if (ok[i]) edge_put(g, ok[i], oc[i]);
    free(ok);
    free(oc);
    return 1;
}

static int32_t new_node(boost_graph *g, int32_t parent, float w) {
    if (g->n_nodes == g->cap_nodes) {
        size_t c = (size_t)g->cap_nodes, c2 = c, c3 = c, c4 = c, c5 = c, c6 = c;
        size_t need = (size_t)g->n_nodes + 1;
        if (!grow((void **)&g->parent, &c, need, sizeof(int32_t)) ||
            !grow((void **)&g->first_child, &c2, need, sizeof(int32_t)) ||
            !grow((void **)&g->next_sibling, &c3, need, sizeof(int32_t)) ||
            !grow((void **)&g->edge_w, &c4, need, sizeof(float)) ||
            !grow((void **)&g->end_w, &c5, need, sizeof(float)) ||
            !grow((void **)&g->depth, &c6, need, sizeof(int32_t)))
            return -1;
        g->cap_nodes = (int32_t)c;
    }
    int32_t v = g->n_nodes++;
    g->parent[v] = parent;
    g->first_child[v] = -1;
    g->next_sibling[v] = -1;
    g->edge_w[v] = w;
    g->end_w[v] = NAN;
    g->depth[v] = parent >= 0 ? g->depth[parent] + 1 : 0;
    if (parent >= 0) {
        g->next_sibling[v] = g->first_child[parent];
        g->first_child[parent] = v;
    }
    return v;
}

static rd_status nomem(rd_error *err) {
    return rd_fail(err, RD_ERR_NOMEM, "out of memory building the hotword graph");
}

static rd_status insert_phrase(boost_graph *g, const int32_t *tok, int n, float w, rd_error *err) {
    int32_t v = 0;
    for (int i = 0; i < n; i++) {
        int32_t c = edge_find(g, v, tok[i]);
        if (c < 0) {
            if (!edges_reserve(g, g->n_edges + 1)) return nomem(err);
            c = new_node(g, v, w);
            if (c < 0) return nomem(err);
            edge_put(g, ((uint64_t)(uint32_t)v << 32 | (uint32_t)tok[i]) + 1, c);
            g->n_edges++;
        } else if (w > g->edge_w[c]) {
            g->edge_w[c] = w;
        }
        v = c;
    }
    if (isnan(g->end_w[v])) {
        g->end_w[v] = w;
        g->n_phrases++;
    } else if (w > g->end_w[v]) {
        g->end_w[v] = w;
    }
    return RD_OK;
}

/* Failure links, out and partial, breadth first. */
static rd_status finalize(boost_graph *g, rd_error *err) {
    int32_t n = g->n_nodes;
    g->fail = rd_malloc_array((size_t)n, sizeof *g->fail);
    g->out = rd_malloc_array((size_t)n, sizeof *g->out);
    g->partial = rd_malloc_array((size_t)n, sizeof *g->partial);
    int32_t *queue = rd_malloc_array((size_t)n, sizeof *queue);
    int32_t *word = rd_malloc_array((size_t)n, sizeof *word);
    float *path = rd_malloc_array((size_t)n, sizeof *path), *paid = rd_malloc_array((size_t)n, sizeof *paid);
    if (!g->fail || !g->out || !g->partial || !queue || !word || !path || !paid) {
        free(queue);
        free(word);
        free(path);
        free(paid);
        return nomem(err);
    }
    for (int32_t v = 0; v < n; v++) word[v] = -1;
    for (uint32_t b = 0; g->ekey && b <= g->emask; b++)
        if (g->ekey[b]) word[g->echild[b]] = (int32_t)(uint32_t)(g->ekey[b] - 1);
    int32_t head = 0, tail = 0;
    queue[tail++] = 0;
    g->fail[0] = 0;
    g->out[0] = 0;
    g->partial[0] = 0;
    path[0] = paid[0] = 0;
    while (head < tail) {
        int32_t u = queue[head++];
        for (int32_t v = g->first_child[u]; v >= 0; v = g->next_sibling[v]) {
            int32_t f = 0;
            if (u != 0) {
                f = g->fail[u];
                while (f != 0 && edge_find(g, f, word[v]) < 0) f = g->fail[f];
                int32_t c = edge_find(g, f, word[v]);
                f = c >= 0 ? c : 0;
            }
            float own = isnan(g->end_w[v]) ? 0.0f : g->end_w[v] * (float)g->depth[v];
            g->fail[v] = f;
            g->out[v] = own + g->out[f];
            path[v] = path[u] + g->edge_w[v];
            paid[v] = paid[u] + own;
            g->partial[v] = path[v] - paid[v] > 0 ? path[v] - paid[v] : 0.0f;
            queue[tail++] = v;
        }
    }
    free(queue);
    free(word);
    free(path);
    free(paid);
    return RD_OK;
}

/* Makes name the file being parsed. */
static int graph_add_name(boost_graph *g, const char *name) {
    char **nn = rd_realloc_array(g->names, (size_t)g->n_names + 1, sizeof *nn);
    if (!nn) return 0;
    g->names = nn;
    g->names[g->n_names] = strdup(name ? name : "");
    if (!g->names[g->n_names]) return 0;
    g->cur = g->n_names++;
    return 1;
}

static boost_graph *graph_new(const char *name) {
    boost_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    rd_strtab_init(&g->words);
    if (!graph_add_name(g, name) || new_node(g, -1, 0.0f) != 0) {
        boost_free(g);
        return NULL;
    }
    return g;
}

static int32_t intern_word(boost_graph *g, const char *s, size_t len, long line) {
    int added;
    int32_t id = rd_strtab_intern(&g->words, s, len, &added);
    if (id < 0) return -1;
    if (added) {
        size_t cap = (size_t)g->word_line_cap;
        size_t cap2 = cap;
        if (!grow((void **)&g->word_line, &cap, (size_t)id + 1, sizeof *g->word_line) ||
            !grow((void **)&g->word_file, &cap2, (size_t)id + 1, sizeof *g->word_file) || cap != cap2)
            return -1;
        g->word_line_cap = (int32_t)cap;
        g->word_line[id] = line;
        g->word_file[id] = g->cur;
    }
    return id;
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

static int add_pron(boost_graph *g, int32_t word, const char *u, size_t n, long line) {
    size_t cap = (size_t)g->prons_cap;
    if (!grow((void **)&g->prons, &cap, (size_t)g->n_prons + 1, sizeof *g->prons)) return 0;
    g->prons_cap = (int)cap;
    if (!grow((void **)&g->pron_text, &g->pron_cap, g->pron_used + n + 1, 1)) return 0;
    boost_pron_rec *p = &g->prons[g->n_prons++];
    p->word = word;
    p->file = g->cur;
    p->units_off = g->pron_used;
    p->line = line;
    /* units separated by single spaces */
    char *q = g->pron_text + g->pron_used;
    for (size_t i = 0; i < n;) {
        while (i < n && is_space(u[i])) i++;
        if (i == n) break;
        if (q > g->pron_text + g->pron_used) *q++ = ' ';
        while (i < n && !is_space(u[i])) *q++ = u[i++];
    }
    *q++ = '\0';
    g->pron_used = (size_t)(q - g->pron_text);
    return 1;
}

typedef struct phrase_buf {
    int32_t *tok;
    size_t n, cap;
} phrase_buf;

/* One line: words (some with {units}), then an optional ":W". */
static rd_status parse_line(boost_graph *g, phrase_buf *pb, const char *s, size_t n, long line,
                            float default_weight, rd_error *err) {
    const char *name = g->names[g->cur];
    size_t i = 0;
    float w = default_weight;
    int have_weight = 0;
    pb->n = 0;
    while (i < n) {
        while (i < n && is_space(s[i])) i++;
        if (i == n) break;
        if (have_weight)
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected the weight ':W' last on the line, found more after it",
                           name, line);
        size_t b = i;
        while (i < n && !is_space(s[i]) && s[i] != '{') i++;
        if (s[b] == ':') {
            if (!rd_parse_float(s + b + 1, i - b - 1, &w) || !isfinite(w))
                return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a weight after ':' (a finite number), found '%.*s'",
                               name, line, (int)(i - b > 32 ? 32 : i - b), s + b);
            if (fabsf(w) > BOOST_MAX_WEIGHT)
                return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a weight between -%g and %g, found '%.*s'", name,
                               line, (double)BOOST_MAX_WEIGHT, (double)BOOST_MAX_WEIGHT,
                               (int)(i - b > 32 ? 32 : i - b), s + b);
            if (i < n && s[i] == '{')
                return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a space after the weight, found '{'", name, line);
            have_weight = 1;
            continue;
        }
        if (i == b)
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a word before '{'", name, line);
        if (memchr(s + b, '\0', i - b) || !rd_utf8_valid(s + b, i - b))
            return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected words in utf-8", name, line);
        int32_t id = intern_word(g, s + b, i - b, line);
        if (id < 0) return nomem(err);
        if (i < n && s[i] == '{') {
            const char *close = memchr(s + i, '}', n - i);
            if (!close)
                return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected '}' closing the units of '%.*s'", name, line,
                               (int)(i - b), s + b);
            const char *f[1];
            size_t fl[1];
            size_t un = (size_t)(close - s - i - 1);
            if (memchr(s + i + 1, '\0', un) || !rd_utf8_valid(s + i + 1, un))
                return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected units in utf-8 after '%.*s'", name, line,
                               (int)(i - b), s + b);
            if (rd_split_ws(s + i + 1, un, f, fl, 1) == 0)
                return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected at least one unit in '{}' after '%.*s'", name,
                               line, (int)(i - b), s + b);
            if (!add_pron(g, id, s + i + 1, (size_t)(close - s - i - 1), line)) return nomem(err);
            i = (size_t)(close - s) + 1;
            if (i < n && !is_space(s[i]))
                return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a space after '}'", name, line);
        }
        if (!grow((void **)&pb->tok, &pb->cap, pb->n + 1, sizeof *pb->tok)) return nomem(err);
        pb->tok[pb->n++] = id;
    }
    if (pb->n == 0)
        return rd_fail(err, RD_ERR_INPUT, "%s:%ld: expected a phrase (one or more words) before the weight", name,
                       line);
    return insert_phrase(g, pb->tok, (int)pb->n, w, err);
}

static rd_status check_weight(float w, rd_error *err) {
    if (!isfinite(w) || fabsf(w) > BOOST_MAX_WEIGHT)
        return rd_fail(err, RD_ERR_USAGE, "hotword weight must be a number between -%g and %g, got %g",
                       (double)BOOST_MAX_WEIGHT, (double)BOOST_MAX_WEIGHT, (double)w);
    return RD_OK;
}

static rd_status parse_buffer(boost_graph *g, const char *buf, size_t n, float default_weight, rd_error *err) {
    phrase_buf pb = {0};
    rd_line_iter it;
    rd_line_iter_init(&it, buf, n);
    const char *line;
    size_t len;
    rd_status st = RD_OK;
    while (st == RD_OK && rd_line_next(&it, &line, &len)) {
        size_t i = 0;
        while (i < len && is_space(line[i])) i++;
        if (i == len || line[i] == '#') continue;
        st = parse_line(g, &pb, line, len, it.lineno, default_weight, err);
    }
    free(pb.tok);
    return st;
}

rd_status boost_parse(const char *buf, size_t n, const char *name, float default_weight,
                      boost_graph **out, rd_error *err) {
    *out = NULL;
    RD_TRY(check_weight(default_weight, err));
    boost_graph *g = graph_new(name);
    if (!g) return nomem(err);
    rd_status st = parse_buffer(g, buf, n, default_weight, err);
    if (st == RD_OK) st = finalize(g, err);
    if (st != RD_OK) {
        boost_free(g);
        return st;
    }
    *out = g;
    return RD_OK;
}

rd_status boost_load_files(const char *const *paths, int n, float default_weight, boost_graph **out,
                           rd_error *err) {
    *out = NULL;
    RD_TRY(check_weight(default_weight, err));
    boost_graph *g = graph_new(n > 0 ? paths[0] : "");
    if (!g) return nomem(err);
    rd_status st = RD_OK;
    for (int i = 0; i < n && st == RD_OK; i++) {
        rd_text t;
        if (i > 0 && !graph_add_name(g, paths[i])) st = nomem(err);
        if (st == RD_OK) st = rd_text_read(paths[i], &t, err);
        if (st != RD_OK) break;
        st = parse_buffer(g, t.data, t.size, default_weight, err);
        rd_text_free(&t);
    }
    if (st == RD_OK) st = finalize(g, err);
    if (st != RD_OK) {
        boost_free(g);
        return st;
    }
    *out = g;
    return RD_OK;
}

rd_status boost_load(const char *path, float default_weight, boost_graph **out, rd_error *err) {
    return boost_load_files(&path, 1, default_weight, out, err);
}

rd_status boost_from_phrases(const char *const *phrases, const float *weights, int n,
                             float default_weight, boost_graph **out, rd_error *err) {
    *out = NULL;
    RD_TRY(check_weight(default_weight, err));
    boost_graph *g = graph_new("");
    if (!g) return nomem(err);
    phrase_buf pb = {0};
    rd_status st = RD_OK;
    for (int p = 0; p < n && st == RD_OK; p++) {
        float w = weights ? weights[p] : default_weight;
        st = check_weight(w, err);
        const char *s = phrases[p];
        pb.n = 0;
        while (st == RD_OK && *s) {
            while (*s == ' ') s++;
            const char *b = s;
            while (*s && *s != ' ') s++;
            if (s == b) break;
            int32_t id = intern_word(g, b, (size_t)(s - b), p + 1);
            if (id < 0 || !grow((void **)&pb.tok, &pb.cap, pb.n + 1, sizeof *pb.tok)) st = nomem(err);
            else pb.tok[pb.n++] = id;
        }
        if (st == RD_OK && pb.n == 0) st = rd_fail(err, RD_ERR_USAGE, "hotword phrase %d is empty", p + 1);
        if (st == RD_OK) st = insert_phrase(g, pb.tok, (int)pb.n, w, err);
    }
    free(pb.tok);
    if (st == RD_OK) st = finalize(g, err);
    if (st != RD_OK) {
        boost_free(g);
        return st;
    }
    *out = g;
    return RD_OK;
}

void boost_free(boost_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_names; i++) free(g->names[i]);
    free(g->names);
    rd_strtab_free(&g->words);
    free(g->word_line);
    free(g->word_file);
    free(g->prons);
    free(g->pron_text);
    free(g->parent);
    free(g->first_child);
    free(g->next_sibling);
    free(g->fail);
    free(g->edge_w);
    free(g->end_w);
    free(g->depth);
    free(g->out);
    free(g->partial);
    free(g->ekey);
    free(g->echild);
    free(g);
}

int boost_phrase_count(const boost_graph *g) { return g->n_phrases; }
const char *boost_name(const boost_graph *g) { return g->names[0]; }
const char *boost_word_file(const boost_graph *g, int32_t id) { return g->names[g->word_file[id]]; }
int boost_word_count(const boost_graph *g) { return (int)g->words.count; }
const char *boost_word(const boost_graph *g, int32_t id) { return rd_strtab_get(&g->words, id); }
long boost_word_line(const boost_graph *g, int32_t id) { return g->word_line[id]; }
int32_t boost_state_count(const boost_graph *g) { return g->n_nodes; }

int32_t boost_token(const boost_graph *g, const char *s, size_t len) {
    return g->words.count ? rd_strtab_find(&g->words, s, len) : -1;
}

int boost_pron_count(const boost_graph *g) { return g->n_prons; }

void boost_pron(const boost_graph *g, int i, const char **word, const char **units, const char **file,
                long *line) {
    const boost_pron_rec *p = &g->prons[i];
    *file = g->names[p->file];
    *word = rd_strtab_get(&g->words, p->word);
    *units = g->pron_text + p->units_off;
    *line = p->line;
}

float boost_step(const boost_graph *g, int32_t state, int32_t token, int32_t *next) {
    int32_t s = state, c = -1;
    if (token >= 0) {
        for (;;) {
            c = edge_find(g, s, token);
            if (c >= 0 || s == 0) break;
            s = g->fail[s];
        }
    }
    int32_t v = c >= 0 ? c : 0;
    *next = v;
    return g->out[v] + g->partial[v] - g->partial[state];
}

float boost_partial(const boost_graph *g, int32_t state) { return g->partial[state]; }
