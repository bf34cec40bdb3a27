/* tests/bench/bench_gpu.c - the batched RWKV-7 step on the GPU for a
 * 0.1B-shaped model (L=12, C=768, head 64, vocab 65536, ffn 3072; random
 * weights) at 64, 512 and 4096 slots: step time (median), bytes moved per
 * step (weights once + the state read and written; the logits write is
 * not counted: the decoder reads only chosen tokens' scores), achieved
 * bytes/s and its fraction of the measured device-to-device copy bandwidth
 * (bytes read + written), tokens/s; reorder fused into the update and an
 * explicit copy + update against update alone (extra time in %).
 *
 *   bench_gpu [fp16|bf16|fp32 weights] [fp32|fp16|bf16 state] [reps]
 * Prints "no CUDA device: skipped" and exits 0 without a GPU. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"

enum { L = 12, C = 768, HEAD = 64, V = 65536, F = 3072, DW = 64, DA = 64, DV = 32, DG = 128, MAXREPS = 200 };

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static float *rnd(size_t n, float scale, float offset) {
    float *p = malloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_gpu: out of host memory\n");
        exit(3);
    }
    for (size_t i = 0; i < n; i++) p[i] = offset + scale * frand();
    return p;
}

static kern_mat_desc mat(int out, int in) {
    return (kern_mat_desc){rnd((size_t)out * in, 1.0f / (float)in, 0.0f), out, in};
}

static void make_desc(kern_rwkv_desc *d, kern_layer_desc *Ls) {
    memset(d, 0, sizeof *d);
    *d = (kern_rwkv_desc){7, L, C, V, F, HEAD, rnd((size_t)V * C, 1.0f, 0.0f), rnd(C, 0.1f, 1.0f), rnd(C, 0.1f, 0.0f),
                          rnd(C, 0.1f, 1.0f), rnd(C, 0.1f, 0.0f), mat(V, C), Ls};
    for (int l = 0; l < L; l++) {
        kern_layer_desc *t = &Ls[l];
        memset(t, 0, sizeof *t);
        for (int v = 0; v <= KV_FFN_X_K; v++) t->vec[v] = rnd(C, 0.5f, v == KV_LN1_W || v == KV_LN2_W ? 1.0f : 0.0f);
        if (l == 0) t->vec[KV_V0] = NULL;
        t->mat[KM_ATT_R] = mat(C, C), t->mat[KM_ATT_K] = mat(C, C), t->mat[KM_ATT_V] = mat(C, C);
        t->mat[KM_ATT_O] = mat(C, C), t->mat[KM_FFN_K] = mat(F, C), t->mat[KM_FFN_V] = mat(C, F);
        t->mat[KM_W1] = mat(DW, C), t->mat[KM_W2] = mat(C, DW), t->mat[KM_A1] = mat(DA, C), t->mat[KM_A2] = mat(C, DA);
        t->mat[KM_G1] = mat(DG, C), t->mat[KM_G2] = mat(C, DG);
        if (l > 0) t->mat[KM_V1] = mat(DV, C), t->mat[KM_V2] = mat(C, DV);
    }
}

static void free_desc(kern_rwkv_desc *d, kern_layer_desc *Ls) {
    free((void *)d->emb), free((void *)d->ln0_w), free((void *)d->ln0_b);
    free((void *)d->ln_out_w), free((void *)d->ln_out_b), free((void *)d->head.w);
    for (int l = 0; l < L; l++) {
        for (int v = 0; v < KERN_N_VEC; v++) free((void *)Ls[l].vec[v]);
        for (int k = 0; k < KERN_N_MAT; k++) free((void *)Ls[l].mat[k].w);
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const rd_error *err) {
    fprintf(stderr, "bench_gpu: %s\n", err->msg);
    exit(rd_exit_code(err->status));
}

typedef enum { UPDATE, FUSED, COPY_THEN_UPDATE } mode;

typedef struct run {
    const kern_rwkv *m;
    kern_workspace *ws;
    kern_state *a, *b;
    int n;
    int32_t *tok, *id, *perm;
} run;

/* One step of the mode (state a and b swap roles for the reorders). */
static void one(run *r, mode md, int rep) {
    rd_error err;
    kern_state *s = rep % 2 ? r->b : r->a, *d = rep % 2 ? r->a : r->b;
    rd_status st = RD_OK;
    if (md == UPDATE) st = rd_cuda_rwkv_forward(r->m, r->ws, r->n, r->tok, r->a, r->id, r->a, r->id, NULL, &err);
    if (md == FUSED) st = rd_cuda_rwkv_forward(r->m, r->ws, r->n, r->tok, s, r->perm, d, r->id, NULL, &err);
    if (md == COPY_THEN_UPDATE) {
        st = rd_cuda_state_copy(r->ws, s, r->perm, d, r->id, r->n, &err);
        if (st == RD_OK) st = rd_cuda_rwkv_forward(r->m, r->ws, r->n, r->tok, d, r->id, d, r->id, NULL, &err);
    }
    if (st == RD_OK) st = rd_cuda_sync(&err);
    if (st != RD_OK) die(&err);
}

static void fill_tokens(run *r, int i) {
    for (int j = 0; j < r->n; j++) r->tok[j] = (int32_t)((uint32_t)(j * 2654435761u + (unsigned)i * 97u) % V);
}

static double median_time(run *r, mode md, int reps) {
    double t[MAXREPS];
    for (int i = 0; i < 3; i++) fill_tokens(r, 1000 + i), one(r, md, i); /* warm-up; makes the states non-zero */
    for (int i = 0; i < reps; i++) {
        fill_tokens(r, i);
        double t0 = now();
        one(r, md, i);
        t[i] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_d);
    return t[reps / 2];
}

static kern_dtype parse_dtype(const char *s, kern_dtype def) {
    if (!s) return def;
    if (!strcmp(s, "fp32")) return KERN_F32;
    if (!strcmp(s, "fp16")) return KERN_F16;
    if (!strcmp(s, "bf16")) return KERN_BF16;
    fprintf(stderr, "bench_gpu: dtype %s, expected fp32, fp16 or bf16\n", s);
    exit(2);
}

int main(int argc, char **argv) {
    rd_error err;
    if (!rd_cuda_available(&err)) {
        printf("no CUDA device: skipped (%s)\n", err.msg);
        return 0;
    }
    kern_dtype wt = parse_dtype(argc > 1 ? argv[1] : NULL, KERN_F16);
    kern_dtype stt = parse_dtype(argc > 2 ? argv[2] : NULL, KERN_F32);
    int reps = argc > 3 ? atoi(argv[3]) : 20;
    if (reps < 1 || reps > MAXREPS) reps = 20;
    kern_device_info info;
    if (rd_cuda_device_info(&info, &err) != RD_OK) die(&err);
    double copy_bw = 0;
    if (rd_cuda_copy_bandwidth((size_t)2 << 30, 10, &copy_bw, &err) != RD_OK) die(&err);
    printf("device %s (sm_%d%d, %d SMs, %.1f GiB, L2 %.0f MiB), peak memory bandwidth %.0f GB/s (datasheet "
           "formula), measured copy %.0f GB/s (read + write, 2 GiB, median of 10)\n", info.name, info.cc_major,
           info.cc_minor, info.sm_count, info.global_bytes / 1073741824.0, info.l2_bytes / 1048576.0,
           info.peak_bytes_per_s / 1e9, copy_bw / 1e9);
    static kern_layer_desc Ls[L];
    kern_rwkv_desc d;
    make_desc(&d, Ls);
    kern_rwkv *m;
    if (rd_cuda_rwkv_upload(&d, wt, &m, &err) != RD_OK) die(&err);
    free_desc(&d, Ls);
    size_t es_w = wt == KERN_F32 ? 4 : 2, wbytes = rd_cuda_rwkv_weight_bytes(m);
    static const int slots[] = {64, 512, 4096};
    printf("weights %s, state %s, %d reps, median per step\n", argc > 1 ? argv[1] : "fp16",
           argc > 2 ? argv[2] : "fp32", reps);
    printf("%6s %-18s %10s %12s %10s %8s %10s %7s\n", "slots", "mode", "ms/step", "MB/step", "GB/s", "of copy",
           "Mtok/s", "extra");
    for (size_t q = 0; q < sizeof slots / sizeof *slots; q++) {
        run r = {m, NULL, NULL, NULL, slots[q], NULL, NULL, NULL};
        if (rd_cuda_workspace_create(m, r.n, &r.ws, &err) != RD_OK) die(&err);
        if (rd_cuda_state_create(m, r.n, stt, &r.a, &err) != RD_OK) die(&err);
        if (rd_cuda_state_create(m, r.n, stt, &r.b, &err) != RD_OK) die(&err);
        r.tok = malloc((size_t)r.n * 4), r.id = malloc((size_t)r.n * 4), r.perm = malloc((size_t)r.n * 4);
        for (int j = 0; j < r.n; j++) r.id[j] = j, r.perm[j] = ((j * 7 + 3) % r.n) & ~1; /* survivors: each even parent twice */
        fill_tokens(&r, 0);
        /* weights once (the embedding: only the rows gathered) + state read and written; not the logits write */
        double w = (double)wbytes - (double)V * C * es_w + (double)r.n * C * es_w;
        double bytes = w + 2.0 * (double)r.n * (double)rd_cuda_state_slot_bytes(r.a);
        static const char *const names[] = {"update", "reorder+update", "copy, then update"};
        double t_update = 0;
        for (int md = 0; md < 3; md++) {
            double t = median_time(&r, (mode)md, reps);
            if (md == UPDATE) t_update = t;
            double b = bytes + (md == COPY_THEN_UPDATE ? 2.0 * r.n * (double)rd_cuda_state_slot_bytes(r.a) : 0.0);
            printf("%6d %-18s %10.3f %12.1f %10.1f %7.1f%% %10.3f %6.1f%%\n", r.n, names[md], t * 1e3, b / 1e6,
                   b / t / 1e9, 100.0 * b / t / copy_bw, r.n / t / 1e6, 100.0 * (t / t_update - 1.0));
        }
        rd_cuda_state_free(r.a), rd_cuda_state_free(r.b), rd_cuda_workspace_free(r.ws);
        free(r.tok), free(r.id), free(r.perm);
    }
    rd_cuda_rwkv_free(m);
    return 0;
}
