/* lmstate/rwkv/rwkv.h - RWKV-7 ("x070") and RWKV-4 language models on the CPU.
 *
 * rwkv_load reads rwkv.cpp .bin (FP32/FP16), safetensors (BlinkDL names or
 * Hugging Face "fla" names) or PyTorch .pth; version, layers, width and head
 * size come from the tensors. Weights are kept in their file precision
 * (fp32/fp16/bf16) and arithmetic is fp32.
 *
 * State. A model declares its recurrent state as a list of kinds; every layer
 * has every kind. RWKV-7: att_shift [C], wkv [H*N*N] (head h, row i, col j at
 * h*N*N + i*N + j), ffn_shift [C]. RWKV-4: att_shift [C], ffn_shift [C],
 * aa [C], bb [C], pp [C] (pp starts at -1e30, the rest at 0).
 *
 * A state view (common/state_view.h) says where each kind lives for many
 * slots. The state cache stores kinds as
 * [layer][slot][...]; a single state uses rwkv_state_view_single.
 *
 * rwkv_forward advances n rows at once: row i reads the state of slot
 * src_slot[i] in view src, feeds token[i], writes the new state to slot
 * dst_slot[i] of view dst (src and dst may be the same view; a row may
 * update in place), and writes its logits to logits + i * n_vocab (logits
 * may be NULL). Rows are independent: each has its own token and state;
 * two rows of a call must not write the same slot (with a thread pool they
 * would race). */
#ifndef RD_RWKV_H
#define RD_RWKV_H

#include <stddef.h>
#include <stdint.h>

#include "common/state_view.h"
#include "common/status.h"
#include "lmstate/weights/tensor_file.h"

#define RWKV_MAX_KINDS RD_STATE_MAX_KINDS

typedef struct rwkv_model rwkv_model;
typedef struct rwkv_workspace rwkv_workspace;

typedef struct rwkv_kind_info {
    const char *name;
    size_t size;          /* elements per layer per slot */
    float init;           /* initial value of every element */
} rwkv_kind_info;

typedef rd_state_view rwkv_state_view;

rd_status rwkv_load(const char *path, rwkv_model **out, rd_error *err);
/* Builds a model from an open tensor file (kept open by the caller until
 * rwkv_free when weights point into it; rwkv_load owns its file). */
rd_status rwkv_from_tensors(tf_file *f, const char *name, rwkv_model **out,
                            rd_error *err);
void rwkv_free(rwkv_model *m);

int rwkv_version(const rwkv_model *m);   /* 4 or 7 */
int rwkv_n_layer(const rwkv_model *m);
int rwkv_n_embd(const rwkv_model *m);
int rwkv_n_vocab(const rwkv_model *m);
int rwkv_head_size(const rwkv_model *m); /* RWKV-7; 0 for RWKV-4 */
size_t rwkv_weight_bytes(const rwkv_model *m);
/* A 64-bit fingerprint of the model: FNV-1a over its version, dimensions
 * (layers, width, head size, vocabulary, FFN width) and a fixed sample of its
 * weights as stored (the first and last 256 bytes of the embedding and of
 * the head, of every layer's ln1 weight and attention output matrix, and of
 * ln_out). Two checkpoints of one shape differ; the same weights loaded
 * from .pth, safetensors or rwkv.cpp .bin in the same precision agree; the
 * same checkpoint in fp16 and fp32 differs. State files (state_file.h)
 * record it to refuse states made by another model. */
uint64_t rwkv_fingerprint(const rwkv_model *m);

/* Kinds of state (count returned, info[] filled; at most RWKV_MAX_KINDS). */
int rwkv_state_kinds(const rwkv_model *m, rwkv_kind_info *info);
/* Elements of one whole state (all kinds, all layers). */
size_t rwkv_state_size(const rwkv_model *m);
/* A view over one state stored contiguously as [kind][layer][size] fp32 in
 * buf (rwkv_state_size floats); slot 0 is the only slot. */
void rwkv_state_view_single(const rwkv_model *m, float *buf, rwkv_state_view *v);
/* Sets every element of slot to its initial value (all zero; pp = -1e30). */
void rwkv_state_reset(const rwkv_model *m, const rwkv_state_view *v, int slot);

/* Scratch for batches of up to max_rows rows, using threads CPU threads
 * (0 or 1 = the calling thread only). */
rd_status rwkv_workspace_create(const rwkv_model *m, int max_rows, int threads,
                                rwkv_workspace **out, rd_error *err);
/* A workspace for ws's model, threads and product path, of max_rows rows. */
rd_status rwkv_workspace_like(const rwkv_workspace *ws, int max_rows,
                              rwkv_workspace **out, rd_error *err);
const rwkv_model *rwkv_workspace_model(const rwkv_workspace *ws);
void rwkv_workspace_free(rwkv_workspace *ws);
/* From now on the products use AVX2 at most, not AVX-512 (to compare the
 * two paths on one machine; the CLI: RWKV_NO_AVX512 in the environment). */
void rwkv_workspace_no_avx512(rwkv_workspace *ws);

rd_status rwkv_forward(const rwkv_model *m, rwkv_workspace *ws, int n,
                       const int32_t *token, const rwkv_state_view *src,
                       const int32_t *src_slot, const rwkv_state_view *dst,
                       const int32_t *dst_slot, float *logits, rd_error *err);
/* rwkv_forward with a view per row: row i reads slot src_slot[i] of view
 * src[i] and writes slot dst_slot[i] of view dst[i], so rows of several
 * state caches run as one batch (rwkv_group.h). A row's result does not
 * depend on the other rows of its batch, bit for bit. */
rd_status rwkv_forward_rows(const rwkv_model *m, rwkv_workspace *ws, int n,
                            const int32_t *token,
                            const rwkv_state_view *const *src,
                            const int32_t *src_slot,
                            const rwkv_state_view *const *dst,
                            const int32_t *dst_slot, float *logits,
                            rd_error *err);
/* What rwkv_forward refuses before it runs a row, but the row count: a
 * token out of range, a view whose kinds or dtypes do not fit the model. */
rd_status rwkv_forward_check(const rwkv_model *m, int n, const int32_t *token,
                             const rwkv_state_view *src,
                             const rwkv_state_view *dst, rd_error *err);

#endif
