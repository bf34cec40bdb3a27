#include "common/pool.h"

#include <stdlib.h>
#include <string.h>

struct rd_pool_worker {
    rd_pool *p;
    int t;
};

static void *pool_worker(void *arg) {
    rd_pool_worker *wa = arg;
    rd_pool *p = wa->p;
    unsigned seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        pthread_mutex_unlock(&p->mu);
        p->fn(p->ctx, wa->t, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

rd_status rd_pool_start(rd_pool *p, int threads, rd_error *err) {
    memset(p, 0, sizeof *p);
    p->n = threads < 1 ? 1 : threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->inited = 1;
    p->th = calloc((size_t)p->n, sizeof *p->th);
    p->args = calloc((size_t)p->n, sizeof *p->args);
    if (!p->th || !p->args) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %d threads", p->n);
    for (int i = 1; i < p->n; i++) {
        p->args[i] = (rd_pool_worker){p, i};
        if (pthread_create(&p->th[i - 1], NULL, pool_worker, &p->args[i]) != 0) {
            p->n = i;
            return rd_fail(err, RD_ERR_NOMEM, "cannot start thread %d of %d", i + 1, threads);
        }
        p->started = i;
    }
    return RD_OK;
}

void rd_pool_run(rd_pool *p, rd_pool_fn fn, void *ctx) {
    if (p->n <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void rd_pool_stop(rd_pool *p) {
    if (!p->inited) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p->th);
    free(p->args);
    memset(p, 0, sizeof *p);
}
