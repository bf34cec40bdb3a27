/* lmstate/rwkv/rwkv_group.c - several threads' RWKV forward calls as one
 * batch (rwkv_group.h).
 *
 * The turn: g->turn is the one member that runs (-1: none). A member is
 * free, ready (entered, waiting for the turn), running, or waiting with a
 * forward call. Whoever gives the turn up hands it to a ready member; when
 * there is none but calls wait, it runs them all first (they become ready),
 * so a waiting call is never left behind by a member that stops. Everything
 * happens under g->mu, the batch too: the others are waiting anyway. */
#include "lmstate/rwkv/rwkv_group.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"

enum { M_FREE, M_READY, M_RUN, M_WAIT };

typedef struct request {
    rwkv_workspace *ws;
    int n;
    const int32_t *token, *src_slot, *dst_slot;
    const rwkv_state_view *src, *dst;
    float *logits;
    rd_error *err;
    rd_status st;
} request;

typedef struct member {
    int state;
    pthread_cond_t cv;
    request req;
} member;

/* A workspace per model the members call, made like the first caller's. */
typedef struct group_ws {
    const rwkv_model *m;
    rwkv_workspace *ws;
} group_ws;

/* Rows of one batch: bigger batches run in pieces this big. */
#define GROUP_ROWS 256

struct rwkv_group {
    pthread_mutex_t mu;
    int cap, turn;
    member *mem;
    group_ws *wss;
    int n_ws;
    int32_t tok[GROUP_ROWS], src_slot[GROUP_ROWS], dst_slot[GROUP_ROWS];
    const rwkv_state_view *sv[GROUP_ROWS], *dv[GROUP_ROWS];
    int req_of[GROUP_ROWS], row_of[GROUP_ROWS];
    float *logits;
    size_t logits_cap; /* floats */
    long long calls, batches, rows;
};

static _Thread_local rwkv_group *self_g;
static _Thread_local int self_me;

rd_status rwkv_group_create(int members, rwkv_group **out, rd_error *err) {
    *out = NULL;
    if (members < 1 || members > 1024)
        return rd_fail(err, RD_ERR_USAGE, "rwkv group: members must be 1..1024, got %d", members);
    rwkv_group *g = calloc(1, sizeof *g);
    if (!g || !(g->mem = calloc((size_t)members, sizeof *g->mem))) {
        free(g);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for an RWKV group of %d", members);
    }
    pthread_mutex_init(&g->mu, NULL);
    for (int i = 0; i < members; i++) pthread_cond_init(&g->mem[i].cv, NULL);
    g->cap = members;
    g->turn = -1;
    *out = g;
    return RD_OK;
}

void rwkv_group_free(rwkv_group *g) {
    if (!g) return;
    for (int i = 0; i < g->n_ws; i++) rwkv_workspace_free(g->wss[i].ws);
    for (int i = 0; i < g->cap; i++) pthread_cond_destroy(&g->mem[i].cv);
    pthread_mutex_destroy(&g->mu);
    free(g->wss);
    free(g->logits);
    free(g->mem);
    free(g);
}

rwkv_group *rwkv_group_current(void) { return self_g; }

/* The group's workspace for model m, made like ws; NULL when out of memory. */
static rwkv_workspace *group_workspace(rwkv_group *g, const rwkv_model *m, const rwkv_workspace *ws,
                                       rd_error *err) {
    for (int i = 0; i < g->n_ws; i++)
        if (g->wss[i].m == m) return g->wss[i].ws;
    group_ws *nw = rd_realloc_array(g->wss, (size_t)g->n_ws + 1, sizeof *nw);
    if (!nw) {
        rd_fail(err, RD_ERR_NOMEM, "out of memory for an RWKV group's workspace");
        return NULL;
    }
    g->wss = nw;
    rwkv_workspace *w;
    if (rwkv_workspace_like(ws, GROUP_ROWS, &w, err) != RD_OK) return NULL;
    g->wss[g->n_ws].m = m;
    g->wss[g->n_ws++].ws = w;
    return w;
}

/* Runs rows [0, n) gathered for model m (their requests' logits wanted or
 * not); a failure fails every request with a row here. */
static void run_piece(rwkv_group *g, const rwkv_model *m, rwkv_workspace *w, int n) {
    int V = rwkv_n_vocab(m), want = 0;
    for (int i = 0; i < n; i++) want |= g->mem[g->req_of[i]].req.logits != NULL;
    request *first = &g->mem[g->req_of[0]].req;
    rd_status st = RD_OK;
    if (want && g->logits_cap < (size_t)n * (size_t)V) {
        float *nl = rd_realloc_array(g->logits, (size_t)GROUP_ROWS * (size_t)V, sizeof *nl);
        if (!nl) st = rd_fail(first->err, RD_ERR_NOMEM, "out of memory for an RWKV group's logits");
        else g->logits = nl, g->logits_cap = (size_t)GROUP_ROWS * (size_t)V;
    }
    if (st == RD_OK)
        st = rwkv_forward_rows(m, w, n, g->tok, g->sv, g->src_slot, g->dv, g->dst_slot, want ? g->logits : NULL,
                               first->err);
    g->batches++;
    g->rows += n;
    for (int i = 0; i < n; i++) {
        request *r = &g->mem[g->req_of[i]].req;
        if (st != RD_OK) {
            if (r->st == RD_OK && r != first) *r->err = *first->err;
            r->st = st;
        } else if (r->logits) {
            memcpy(r->logits + (size_t)g->row_of[i] * (size_t)V, g->logits + (size_t)i * (size_t)V,
                   (size_t)V * sizeof(float));
        }
    }
}

/* Every waiting call, in as few batches as their models allow (a call the
 * checks refuse fails alone); the waiting members become ready. */
static void run_waiting(rwkv_group *g) {
    for (int i = 0; i < g->cap; i++) {
        request *r = &g->mem[i].req;
        if (g->mem[i].state == M_WAIT)
            r->st = rwkv_forward_check(rwkv_workspace_model(r->ws), r->n, r->token, r->src, r->dst, r->err);
    }
    for (int i = 0; i < g->cap; i++) {
        request *r = &g->mem[i].req;
        if (g->mem[i].state != M_WAIT || r->st != RD_OK || r->n == 0) continue;
        /* the first waiting call of a model not run yet: every call of its
         * model, rows in member order */
        const rwkv_model *m = rwkv_workspace_model(r->ws);
        rwkv_workspace *w = group_workspace(g, m, r->ws, r->err);
        int n = 0;
        for (int k = i; k < g->cap; k++) {
            request *q = &g->mem[k].req;
            if (g->mem[k].state != M_WAIT || q->st != RD_OK || rwkv_workspace_model(q->ws) != m) continue;
            if (!w) {
                if (q != r) *q->err = *r->err;
                q->st = r->err->status;
                continue;
            }
            g->mem[k].state = M_READY; /* taken: its rows go now */
            for (int e = 0; e < q->n; e++) {
                g->tok[n] = q->token[e];
                g->sv[n] = q->src;
                g->src_slot[n] = q->src_slot[e];
                g->dv[n] = q->dst;
                g->dst_slot[n] = q->dst_slot[e];
                g->req_of[n] = k;
                g->row_of[n++] = e;
                if (n == GROUP_ROWS) run_piece(g, m, w, n), n = 0;
            }
        }
        if (n) run_piece(g, m, w, n);
    }
    for (int i = 0; i < g->cap; i++)
        if (g->mem[i].state == M_WAIT) g->mem[i].state = M_READY;
}

/* Under g->mu, by the member me that gives the turn up (now free, ready or
 * waiting): to a ready member, me first, else round from me + 1; with none
 * ready, the waiting calls run first. */
static void pass_turn(rwkv_group *g, int me) {
    for (;;) {
        for (int k = 0; k < g->cap; k++) {
            int j = (me + k) % g->cap;
            if (g->mem[j].state != M_READY) continue;
            g->turn = j;
            g->mem[j].state = M_RUN;
            if (j != me) pthread_cond_signal(&g->mem[j].cv);
            return;
        }
        int waiting = 0;
        for (int k = 0; k < g->cap; k++) waiting |= g->mem[k].state == M_WAIT;
        if (!waiting) {
            g->turn = -1;
            return;
        }
        run_waiting(g);
    }
}

rd_status rwkv_group_enter(rwkv_group *g, rd_error *err) {
    if (self_g) return rd_fail(err, RD_ERR_INTERNAL, "rwkv group: this thread is in a group already");
    pthread_mutex_lock(&g->mu);
    int me = 0;
    while (me < g->cap && g->mem[me].state != M_FREE) me++;
    if (me == g->cap) {
        pthread_mutex_unlock(&g->mu);
        return rd_fail(err, RD_ERR_INTERNAL, "rwkv group: all %d members are in", g->cap);
    }
    self_g = g;
    self_me = me;
    if (g->turn < 0) {
        g->turn = me;
        g->mem[me].state = M_RUN;
    } else {
        g->mem[me].state = M_READY;
        while (g->turn != me) pthread_cond_wait(&g->mem[me].cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return RD_OK;
}

void rwkv_group_leave(void) {
    rwkv_group *g = self_g;
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    g->mem[self_me].state = M_FREE;
    pass_turn(g, self_me);
    pthread_mutex_unlock(&g->mu);
    self_g = NULL;
}

rd_status rwkv_group_forward(rwkv_group *g, rwkv_workspace *ws, int n, const int32_t *token,
                             const rwkv_state_view *src, const int32_t *src_slot, const rwkv_state_view *dst,
                             const int32_t *dst_slot, float *logits, rd_error *err) {
    if (g != self_g) return rd_fail(err, RD_ERR_INTERNAL, "rwkv group: forward by a thread not in the group");
    pthread_mutex_lock(&g->mu);
    int me = self_me;
    g->calls++;
    g->mem[me].req = (request){ws, n, token, src_slot, dst_slot, src, dst, logits, err, RD_OK};
    g->mem[me].state = M_WAIT;
    pass_turn(g, me);
    while (g->turn != me) pthread_cond_wait(&g->mem[me].cv, &g->mu);
    rd_status st = g->mem[me].req.st;
    pthread_mutex_unlock(&g->mu);
    return st;
}

int rwkv_group_ready(rwkv_group *g) {
    pthread_mutex_lock(&g->mu);
    int n = 0;
    for (int i = 0; i < g->cap; i++) n += g->mem[i].state == M_READY;
    pthread_mutex_unlock(&g->mu);
    return n;
}

void rwkv_group_counts(rwkv_group *g, long long *calls, long long *batches, long long *rows) {
    pthread_mutex_lock(&g->mu);
    if (calls) *calls = g->calls;
    if (batches) *batches = g->batches;
    if (rows) *rows = g->rows;
    pthread_mutex_unlock(&g->mu);
}
