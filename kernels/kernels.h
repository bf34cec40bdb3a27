/* kernels/kernels.h - CUDA kernels behind C functions: a batched RWKV-7 /
 * RWKV-4 step with the slot gather fused in, log-softmax + top-k over the
 * vocabulary, and per-utterance top-k over beam x candidates.
 *
 * Built from the .cu files of kernels/ when nvcc is found (RD_HAVE_CUDA); otherwise
 * kernels/kernels_stub.c supplies the same functions, each failing with
 * RD_ERR_DEVICE "this build has no CUDA support (rebuild with nvcc on PATH)".
 *
 * Errors: every CUDA call is checked; a failure returns RD_ERR_DEVICE with
 * the failing call and cudaGetErrorString ("cuda: cudaMemcpy(...): an
 * illegal memory access was encountered"); device out-of-memory returns
 * RD_ERR_NOMEM naming the bytes asked for. Nothing here prints or exits.
 *
 * Allocation: models, states, workspaces and top-k contexts allocate when
 * created; the per-step calls allocate nothing (host or device). Every call
 * runs on the default stream; a call that returns data to the host returns
 * after the device finished, others may return before (rd_cuda_sync waits).
 *
 * Dependency direction (DESIGN.md): kernels depend on common only. The model
 * is described by host pointers (kern_rwkv_desc) that lmstate fills from its
 * rwkv_model; this header knows nothing of lmstate. Scores are natural log. */
#ifndef RD_KERNELS_H
#define RD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Same values as rd_dtype's RD_F32 / RD_F16 / RD_BF16 (lmstate/weights/tensor_file.h). */
typedef enum kern_dtype { KERN_F32 = 0, KERN_F16 = 1, KERN_BF16 = 2 } kern_dtype;

#define KERN_MAX_TOPK 64   /* largest k of the top-k functions */
#define KERN_MAX_ROWS 65535 /* rows of one step: a launch's grid y limit (one block per row and head) */

/* ---------- device ---------- */

/* 1 when a CUDA device can be used; 0 otherwise, with the reason in why
 * (may be NULL): "this build has no CUDA support ...", "no cuda device:
 * cudaGetDeviceCount: no CUDA-capable device is detected". */
int rd_cuda_available(rd_error *why);

typedef struct kern_device_info {
    char name[256];
    int cc_major, cc_minor, sm_count;
    size_t global_bytes, l2_bytes;
    double peak_bytes_per_s;   /* 2 * memory clock * bus width (DDR), from the device */
} kern_device_info;

rd_status rd_cuda_device_info(kern_device_info *out, rd_error *err);
/* The device-to-device copy bandwidth (bytes read + bytes written per
 * second): a copy of bytes between two fresh buffers, reps times after one
 * warm-up, timed with device events; the median. The ceiling bench_gpu
 * compares a step's bytes against. */
rd_status rd_cuda_copy_bandwidth(size_t bytes, int reps, double *bytes_per_s, rd_error *err);
/* Waits for the device; reports any error of earlier asynchronous work. */
rd_status rd_cuda_sync(rd_error *err);

/* ---------- model description (host, fp32) ---------- */

/* Per-layer vectors, [n_embd] each (KV_R_K is [head][head_size] flattened).
 * RWKV-7 uses LN*, X_*, W0 A0 V0 K_K K_A R_K LNX_* FFN_X_K (V0 NULL on layer 0);
 * RWKV-4 uses LN*, TIME_DECAY (already -exp(raw)), TIME_FIRST, *_MIX_*. */
enum kern_vec {
    KV_LN1_W, KV_LN1_B, KV_LN2_W, KV_LN2_B,
    KV_X_R, KV_X_W, KV_X_K, KV_X_V, KV_X_A, KV_X_G,
    KV_W0, KV_A0, KV_V0, KV_K_K, KV_K_A, KV_R_K, KV_LNX_W, KV_LNX_B, KV_FFN_X_K,
    KV_TIME_DECAY, KV_TIME_FIRST, KV_ATT_MIX_K, KV_ATT_MIX_V, KV_ATT_MIX_R,
    KV_FFN_MIX_K, KV_FFN_MIX_R,
    KERN_N_VEC
};

/* Per-layer matrices, stored as nn.Linear weights ([out][in], y = W x).
 * RWKV-7: ATT_R K V O, FFN_K V, and the LoRAs W1 W2 A1 A2 V1 V2 G1 G2
 * (V1/V2 absent on layer 0); RWKV-4: ATT_R K V O, FFN_R K V. */
enum kern_mat {
    KM_ATT_R, KM_ATT_K, KM_ATT_V, KM_ATT_O, KM_FFN_K, KM_FFN_V, KM_FFN_R,
    KM_W1, KM_W2, KM_A1, KM_A2, KM_V1, KM_V2, KM_G1, KM_G2,
    KERN_N_MAT
};

typedef struct kern_mat_desc {
    const float *w;   /* [out][in], NULL when absent */
    int out, in;
} kern_mat_desc;

typedef struct kern_layer_desc {
    const float *vec[KERN_N_VEC];     /* NULL when absent */
    kern_mat_desc mat[KERN_N_MAT];
} kern_layer_desc;

typedef struct kern_rwkv_desc {
    int version;                       /* 4 or 7 */
    int n_layer, n_embd, n_vocab, n_ffn;
    int head_size;                     /* RWKV-7; n_embd a multiple of it */
    const float *emb;                  /* [n_vocab][n_embd] */
    const float *ln0_w, *ln0_b, *ln_out_w, *ln_out_b;
    kern_mat_desc head;                /* [n_vocab][n_embd] */
    const kern_layer_desc *layers;     /* [n_layer] */
} kern_rwkv_desc;

/* ---------- device model ---------- */

typedef struct kern_rwkv kern_rwkv;

/* Checks the description first (shapes; every tensor the version reads
 * present; every value finite), refusing a bad one with RD_ERR_INPUT that
 * names the layer, tensor and element ("rd_cuda_rwkv_upload: layer 1:
 * att.key: element 5 is nan, expected a finite value") before any device
 * memory is taken. Then copies the weights: matrices and the embedding in wtype
 * (fp32, fp16 or bf16, rounded to nearest even), vectors in fp32. The
 * description's memory is not kept. Arithmetic is fp32 whatever wtype. */
rd_status rd_cuda_rwkv_upload(const kern_rwkv_desc *d, kern_dtype wtype, kern_rwkv **out,
                              rd_error *err);
void rd_cuda_rwkv_free(kern_rwkv *m);
/* Device bytes of the matrices (embedding and head included). */
size_t rd_cuda_rwkv_weight_bytes(const kern_rwkv *m);

/* ---------- device state storage ----------
 * The state view layout of lmstate/rwkv/rwkv.h: kinds (RWKV-7 att_shift [C],
 * wkv [H*N*N], ffn_shift [C]; RWKV-4 att_shift, ffn_shift, aa, bb, pp [C]),
 * each stored [layer][slot][size] in one dtype. A host state ("one slot")
 * is [kind][layer][size] fp32, as rwkv_state_view_single. */

typedef struct kern_state kern_state;

rd_status rd_cuda_state_create(const kern_rwkv *m, int n_slots, kern_dtype dtype, kern_state **out,
                               rd_error *err);
void rd_cuda_state_free(kern_state *s);
int rd_cuda_state_slots(const kern_state *s);
/* Bytes of one slot in the storage dtype (all kinds and layers). */
size_t rd_cuda_state_slot_bytes(const kern_state *s);
/* Slots first..first+count-1 take the initial value of each kind
 * (0; RWKV-4 pp -1e30). */
rd_status rd_cuda_state_reset(kern_state *s, int first, int count, rd_error *err);
/* One slot from / to a host fp32 state laid out [kind][layer][size]. */
rd_status rd_cuda_state_write(kern_state *s, int slot, const float *state, rd_error *err);
rd_status rd_cuda_state_read(const kern_state *s, int slot, float *state, rd_error *err);

/* ---------- workspace and the step ---------- */

typedef struct kern_workspace kern_workspace;

/* Device scratch for batches of up to max_rows rows (1..KERN_MAX_ROWS; more
 * is refused before anything is allocated) (activations, logits
 * [max_rows][n_vocab] fp32, index buffers, top-k outputs). */
rd_status rd_cuda_workspace_create(const kern_rwkv *m, int max_rows, kern_workspace **out,
                                   rd_error *err);
void rd_cuda_workspace_free(kern_workspace *ws);

/* Slot copy (the unfused reorder): dst slot dst_slot[i] takes src slot
 * src_slot[i], i < n <= max_rows (host arrays). src and dst may be one state
 * when no dst slot is also a src slot. Dtypes may differ (converted). */
rd_status rd_cuda_state_copy(kern_workspace *ws, const kern_state *src, const int32_t *src_slot,
                             kern_state *dst, const int32_t *dst_slot, int n, rd_error *err);

/* One token for n rows (0 <= n <= max_rows; host arrays): row i reads slot
 * src_slot[i] of src, feeds token[i], writes slot dst_slot[i] of dst, as
 * rwkv_forward. Same contract on slots: dst slots are distinct; a row may
 * update in place (dst_slot[i] == src_slot[i], same state), but a slot
 * written by one row must not be read by another row of the same call.
 * src and dst have the same dtype. Logits (raw, fp32) stay in the
 * workspace for rd_cuda_rwkv_topk and are copied to logits[n][n_vocab]
 * when logits is not NULL. Tokens are checked on the host first:
 * RD_ERR_INPUT "rd_cuda_rwkv_forward: row 3: token 70000 out of range 0..65535". */
rd_status rd_cuda_rwkv_forward(const kern_rwkv *m, kern_workspace *ws, int n, const int32_t *token,
                               const kern_state *src, const int32_t *src_slot, kern_state *dst,
                               const int32_t *dst_slot, float *logits, rd_error *err);

/* Log-softmax of each of the last forward's n rows, then its k best:
 * logp[i*k + j] (natural log, best first), idx[i*k + j] (token id); ties go
 * to the lower id. lse[i] (may be NULL) = log sum exp of row i. k <= KERN_MAX_TOPK
 * and k <= n_vocab; n no more than the last forward's rows. */
rd_status rd_cuda_rwkv_topk(kern_workspace *ws, int n, int k, float *logp, int32_t *idx, float *lse,
                            rd_error *err);

/* log P(token) for the decoder, which needs chosen tokens' scores, not the
 * top k: of the last forward's first n rows, lse[i] (may be NULL) = log sum
 * exp of row i, and logp[q] = logit[row[q]][tok[q]] - lse[row[q]] for each
 * query q < nq (nq <= max_rows * KERN_MAX_TOPK; a row may be asked for many
 * tokens). Only the nq scores and n sums cross to the host. Queries are
 * checked first: RD_ERR_USAGE "rd_cuda_rwkv_logp: query 2: row 9 outside
 * 0..3", RD_ERR_INPUT for a token out of range. */
rd_status rd_cuda_rwkv_logp(kern_workspace *ws, int n, int nq, const int32_t *row, const int32_t *tok, float *logp,
                            float *lse, rd_error *err);

/* ---------- top-k on host data ---------- */

typedef struct kern_topk kern_topk;

rd_status rd_cuda_topk_create(int max_rows, int max_cols, kern_topk **out, rd_error *err);
void rd_cuda_topk_free(kern_topk *t);

/* x [rows][cols] (host): per row, log-softmax then the k best, as
 * rd_cuda_rwkv_topk. */
rd_status rd_cuda_logsoftmax_topk(kern_topk *t, const float *x, int rows, int cols, int k, float *logp,
                                  int32_t *idx, float *lse, rd_error *err);

/* Per-utterance survivors: scores [B][M] (host; M = beam x candidates),
 * utterance b has count[b] <= M valid entries (count NULL: all M). Writes
 * the k best of each utterance: best[b*k + j] (score, best first) and
 * idx[b*k + j] (index into the utterance's M; ties to the lower index);
 * when count[b] < k the tail is idx -1, score -INFINITY. NaN scores are
 * never chosen. */
rd_status rd_cuda_beam_topk(kern_topk *t, const float *scores, int B, int M, const int32_t *count, int k,
                            float *best, int32_t *idx, rd_error *err);

#ifdef __cplusplus
}
#endif

#endif
