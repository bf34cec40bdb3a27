/* lmstate/rwkv/rwkv_internal.h - the RWKV model struct shared by lmstate/rwkv/rwkv.c
 * (building it from tensors) and lmstate/rwkv/rwkv_forward.c (running it).
 * Private to those two files.
 *
 * Every weight lives in one 64-byte aligned allocation owned by the model.
 * Vectors are fp32. Matrices (y = W x, W as torch.nn.Linear: out x in) keep
 * the file's precision (fp16, bf16 or fp32; fp64 becomes fp32) and are
 * packed in panels of RWKV_PANEL outputs: element (o, i) is at
 *   (o / RWKV_PANEL) * in * RWKV_PANEL + i * RWKV_PANEL + o % RWKV_PANEL
 * with the last panel padded with zeros, so a product reads RWKV_PANEL
 * outputs' weights for one input as one contiguous run. */
#ifndef RD_RWKV_INTERNAL_H
#define RD_RWKV_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/dtype.h"
#include "lmstate/rwkv/rwkv.h"

#define RWKV_PANEL 16

typedef struct rwkv_mat {
    const void *w;    /* panels, see above; NULL when absent */
    rd_dtype dtype;   /* RD_F32, RD_F16 or RD_BF16 */
    int out, in;
} rwkv_mat;

enum { RWKV_MIX_R, RWKV_MIX_W, RWKV_MIX_K, RWKV_MIX_V, RWKV_MIX_A, RWKV_MIX_G, RWKV_N_MIX };

typedef struct rwkv_layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    rwkv_mat att_r, att_k, att_v, att_o, ffn_k, ffn_v;
    /* RWKV-7 */
    const float *mix[RWKV_N_MIX];        /* x_r x_w x_k x_v x_a x_g, [C] each */
    const float *w0, *a0, *v0;           /* [C]; v0 NULL on layer 0 */
    const float *k_k, *k_a, *r_k;        /* [C] (r_k as [H][N]) */
    const float *lnx_w, *lnx_b;          /* group norm, [C] */
    const float *ffn_x_k;                /* [C] */
    rwkv_mat w1, w2, a1, a2, v1, v2, g1, g2; /* LoRAs; v1/v2 absent on layer 0 */
    /* RWKV-4 */
    const float *time_decay;             /* -exp(raw): log of the per-step decay */
    const float *time_first;
    const float *att_mix_k, *att_mix_v, *att_mix_r, *ffn_mix_k, *ffn_mix_r;
    rwkv_mat ffn_r;
} rwkv_layer;

struct rwkv_model {
    int version;              /* 4 or 7 */
    int n_layer, n_embd, n_vocab, n_ffn;
    int n_head, head_size;    /* RWKV-7 */
    int lora_max;             /* widest LoRA rank */
    const void *emb;          /* [V][C] rows, dtype emb_dtype (not packed) */
    rd_dtype emb_dtype;
    const float *ln0_w, *ln0_b, *ln_out_w, *ln_out_b;
    rwkv_mat head;            /* [V][C] */
    rwkv_layer *layers;
    unsigned char *weights;   /* the one allocation */
    size_t weight_bytes;
};

/* rd_read_f32 / rd_write_f32 for state, vectorized for fp16 where the CPU
 * allows (rwkv_forward.c); the same values. */
void rwkv_state_read(const void *p, rd_dtype t, size_t n, float *out);
void rwkv_state_write(void *p, rd_dtype t, size_t n, const float *in);

/* Y[n][W.out] = X[n][W.in] W^T with the portable kernel (kind 0), AVX2 (1)
 * or AVX-512 (2), or the best below that the CPU has; returns the kind used
 * (rwkv_forward.c; for tests). */
int rwkv_mat_product(const rwkv_mat *W, const float *X, int n, float *Y, int kind);

/* h = (h > 0 ? h : 0)^2 in place, portable (kind 0) or SSE (1, x86-64);
 * returns the kind used; the same bits either way (rwkv_forward.c; for
 * tests). */
int rwkv_relu_sq(float *h, size_t n, int kind);

#define RWKV_LN_EPS 1e-5f
#define RWKV7_GN_EPS 64e-5f

#endif
