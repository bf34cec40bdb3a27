/* tests/bench/bench_rwkv.c - tokens/s of rwkv_forward on the CPU.
 *
 * Models: the tiny RWKV-7 from ../shared/data (skipped when absent) and a
 * random RWKV-7 shaped like the 0.1B release (L=12, C=768, head 64, vocab
 * 65536, FFN 3072, LoRA ranks 64/64/32/128), built in memory as an rwkv.cpp
 * FP16 .bin with a fixed-seed PRNG. Batches N = 1 (one state), 16, 64, 256.
 * When ../shared/data/rwkv/english-rwkv7-2m-bytes.pth exists, also the
 * trained byte-level RWKV-7 the homophone decode uses (L=4, C=192, head 64,
 * V=256, FP32) at N = 1, 4, 16, 64: the small batches the decoder sends.
 *
 *   cc -std=c11 -O2 -march=x86-64-v2 -D_GNU_SOURCE -I. -pthread tests/bench/bench_rwkv.c \
 *      lmstate/rwkv/rwkv.c lmstate/rwkv/rwkv_forward.c lmstate/weights/tensor_file.c common/[a-z]*.c -o /tmp/bench_rwkv -lm
 *   /tmp/bench_rwkv [threads] [seconds per case] [0.1B-shaped model.bin]
 *
 * With a model path, the 0.1B-shaped rows load that file (the one rwkv.cpp
 * reads) instead of building the random model in memory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "lmstate/rwkv/rwkv.h"

#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (all threads): on a busy machine less
 * inflated than the wall clock when this process waits for a core. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---------- a random model as an in-memory .bin ---------- */

typedef struct bin {
    unsigned char *p;
    size_t n, cap;
    uint64_t rng;
} bin;

static void put(bin *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static float urand(bin *b) {
    b->rng = b->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((b->rng >> 40) & 0xFFFFFF) / 16777216.0f;
}

/* A tensor of PyTorch shape dims[0..nd-1], values lo + (hi - lo) * U. */
static void tensor(bin *b, const char *name, int nd, const int *dims, float lo, float hi, int fp16) {
    int32_t h[3] = {nd, (int32_t)strlen(name), fp16};
    put(b, h, sizeof h);
    size_t numel = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int32_t v = dims[d];
        put(b, &v, 4);
        numel *= (size_t)dims[d];
    }
    put(b, name, strlen(name));
    for (size_t i = 0; i < numel; i++) {
        float v = lo + (hi - lo) * urand(b);
        if (fp16) {
            uint16_t x = rd_f32_to_f16(v);
            put(b, &x, 2);
        } else {
            put(b, &v, 4);
        }
    }
}

static void vec(bin *b, int l, const char *s, int C, float lo, float hi) {
    char name[96];
    snprintf(name, sizeof name, "blocks.%d.%s", l, s);
    int d[3] = {1, 1, C};
    tensor(b, name, 3, d, lo, hi, 0);
}

static void mat(bin *b, int l, const char *s, int out, int in) {
    char name[96];
    if (l >= 0) snprintf(name, sizeof name, "blocks.%d.%s", l, s);
    else snprintf(name, sizeof name, "%s", s);
    int d[2] = {out, in};
    float a = 1.0f / sqrtf((float)in);
    tensor(b, name, 2, d, -a, a, 1);
}

static void random_v7(bin *b, int L, int C, int V, int F) {
    int32_t hdr[6] = {0x67676d66, 101, V, C, L, 1};
    put(b, hdr, sizeof hdr);
    mat(b, -1, "emb.weight", V, C);
    static const char *const lora[4][3] = {
        {"att.w1", "att.w2", "att.w0"}, {"att.a1", "att.a2", "att.a0"}, {"att.v1", "att.v2", "att.v0"}, {"att.g1", "att.g2", ""}};
    const int rank[4] = {64, 64, 32, 128};
    for (int l = 0; l < L; l++) {
        vec(b, l, "ln1.weight", C, 0.9f, 1.1f);
        vec(b, l, "ln1.bias", C, -0.1f, 0.1f);
        vec(b, l, "ln2.weight", C, 0.9f, 1.1f);
        vec(b, l, "ln2.bias", C, -0.1f, 0.1f);
        if (l == 0) {
            vec(b, l, "ln0.weight", C, 0.9f, 1.1f);
            vec(b, l, "ln0.bias", C, -0.1f, 0.1f);
        }
        char name[96];
        snprintf(name, sizeof name, "blocks.%d.att.x_rwkvag", l);
        int d6[3] = {6, 1, C};
        tensor(b, name, 3, d6, 0.0f, 1.0f, 0);
        for (int q = 0; q < 4; q++) {
            if (q == 2 && l == 0) continue;
            mat(b, l, lora[q][0], rank[q], C);
            mat(b, l, lora[q][1], C, rank[q]);
            if (lora[q][2][0]) vec(b, l, lora[q][2], C, -1.0f, 0.5f);
        }
        vec(b, l, "att.k_k", C, 0.7f, 1.0f);
        vec(b, l, "att.k_a", C, 0.8f, 1.2f);
        snprintf(name, sizeof name, "blocks.%d.att.r_k", l);
        int dr[2] = {C / 64, 64};
        tensor(b, name, 2, dr, -0.1f, 0.1f, 0);
        mat(b, l, "att.receptance.weight", C, C);
        mat(b, l, "att.key.weight", C, C);
        mat(b, l, "att.value.weight", C, C);
        mat(b, l, "att.output.weight", C, C);
        vec(b, l, "att.ln_x.weight", C, 0.9f, 1.1f);
        vec(b, l, "att.ln_x.bias", C, -0.1f, 0.1f);
        vec(b, l, "ffn.x_k", C, 0.0f, 1.0f);
        mat(b, l, "ffn.key.weight", F, C);
        mat(b, l, "ffn.value.weight", C, F);
    }
    int dc[1] = {C};
    tensor(b, "ln_out.weight", 1, dc, 0.9f, 1.1f, 0);
    tensor(b, "ln_out.bias", 1, dc, -0.1f, 0.1f, 0);
    mat(b, -1, "head.weight", V, C);
}

/* ---------- timing ---------- */

/* Tokens/s of rwkv_forward at each batch size Ns[0..nn-1]. */
static void bench(const char *label, rwkv_model *m, int threads, double seconds, const int *Ns, int nn) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    int nk = rwkv_state_kinds(m, info);
    rd_error err;
    for (int c = 0; c < nn; c++) {
        int N = Ns[c];
        rwkv_workspace *ws;
        if (rwkv_workspace_create(m, N, threads, &ws, &err) != RD_OK) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        rwkv_state_view v;
        memset(&v, 0, sizeof v);
        v.n_kinds = nk;
        float *mem[RWKV_MAX_KINDS];
        for (int k = 0; k < nk; k++) {
            mem[k] = calloc(info[k].size * (size_t)N * (size_t)rwkv_n_layer(m), sizeof(float));
            v.base[k] = mem[k];
            v.dtype[k] = RD_F32;
            v.slot_stride[k] = info[k].size;
            v.layer_stride[k] = info[k].size * (size_t)N;
        }
        for (int i = 0; i < N; i++) rwkv_state_reset(m, &v, i);
        int32_t *tok = malloc(N * sizeof *tok), *slot = malloc(N * sizeof *slot);
        float *logits = malloc((size_t)N * rwkv_n_vocab(m) * sizeof(float));
        long steps = 0;
        double t0 = now_s(), c0 = cpu_s(), t;
        do {
            for (int i = 0; i < N; i++) {
                tok[i] = (int32_t)((steps * 31 + i * 7) % rwkv_n_vocab(m));
                slot[i] = i;
            }
            if (rwkv_forward(m, ws, N, tok, &v, slot, &v, slot, logits, &err) != RD_OK) {
                fprintf(stderr, "%s\n", err.msg);
                exit(1);
            }
            steps++;
            t = now_s() - t0;
        } while (t < seconds || steps < 2);
        printf("%-28s threads %d  N=%-4d %10.1f tokens/s  (%.2f ms/step, %ld steps, %.1f us/row, %.1f cpu us/row)\n",
               label, threads, N, (double)N * steps / t, 1e3 * t / steps, steps, 1e6 * t / ((double)N * steps),
               1e6 * (cpu_s() - c0) / ((double)N * steps));
        fflush(stdout);
        for (int k = 0; k < nk; k++) free(mem[k]);
        free(tok), free(slot), free(logits);
        rwkv_workspace_free(ws);
    }
}

/* bench() on the model at path, four batch sizes; skipped, saying why,
 * when it does not load. */
static void bench_file(const char *path, const char *label, int threads, double seconds, const int *Ns) {
    rd_error err;
    rwkv_model *m;
    if (rwkv_load(path, &m, &err) != RD_OK) {
        fprintf(stderr, "skipping %s: %s\n", label, err.msg);
        return;
    }
    bench(label, m, threads, seconds, Ns, 4);
    rwkv_free(m);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    rd_error err;
    rwkv_model *m = NULL;
    const int Ns[4] = {1, 16, 64, 256}, Ns_trained[4] = {1, 4, 16, 64};
    bench_file("../shared/data/rwkv/tiny-rwkv-7v0-834K-FP32.bin", "tiny v7 (L12 C64 V256)", threads, seconds, Ns);
    bench_file("../shared/data/rwkv/english-rwkv7-2m-bytes.pth", "trained-2m v7 (L4 C192 V256)", threads, seconds,
               Ns_trained);
    if (argc > 3) {
        if (rwkv_load(argv[3], &m, &err) != RD_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
    } else {
        bin b = {NULL, 0, 0, 12345};
        random_v7(&b, 12, 768, 65536, 3072);
        tf_file *f;
        if (tf_parse(b.p, b.n, "random-0.1b.bin", &f, &err) != RD_OK ||
            rwkv_from_tensors(f, "random-0.1b.bin", &m, &err) != RD_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        free(b.p);
        tf_close(f);
    }
    printf("random 0.1B-shaped v7: %.0f MB of weights in memory\n", rwkv_weight_bytes(m) / 1e6);
    bench("random v7 (L12 C768 V65536)", m, threads, seconds, Ns, 4);
    rwkv_free(m);
    return 0;
}
