/* common/pool.h - a fork-join thread pool: rd_pool_run calls fn(ctx, t, n)
 * once for every t in 0..n-1 (t = 0 on the calling thread, the others on the
 * pool's threads) and returns when every call has returned. One run at a
 * time, from one thread (the owner). Used by the RWKV CPU forward
 * (lmstate/rwkv/rwkv_forward.c) to split a batched product by rows. */
#ifndef RD_POOL_H
#define RD_POOL_H

#include <pthread.h>

#include "common/status.h"

typedef void (*rd_pool_fn)(void *ctx, int t, int n);

typedef struct rd_pool_worker rd_pool_worker;

typedef struct rd_pool {
    int n;                 /* threads including the caller */
    int started;           /* threads running (n - 1 once started) */
    pthread_t *th;
    rd_pool_worker *args;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned gen;
    int pending, quit, inited;
    rd_pool_fn fn;
    void *ctx;
} rd_pool;

/* Starts threads - 1 threads (threads < 1 counts as 1: no thread, every
 * run on the caller). On error *p holds what started: rd_pool_stop it. */
rd_status rd_pool_start(rd_pool *p, int threads, rd_error *err);
/* fn(ctx, t, p->n) for t = 0..p->n-1; returns when all have returned. */
void rd_pool_run(rd_pool *p, rd_pool_fn fn, void *ctx);
/* Joins the threads and frees the pool (a zeroed pool is fine). */
void rd_pool_stop(rd_pool *p);

#endif
