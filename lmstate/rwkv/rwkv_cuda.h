/* lmstate/rwkv/rwkv_cuda.h - an RWKV model (lmstate/rwkv/rwkv.h) onto the device
 * kernels (kernels/kernels.h): the bridge from the CPU model's packed
 * panels to the kernels' plain [out][in] description.
 *
 * Dependency direction (DESIGN.md): lmstate -> kernels -> common. In a
 * build without CUDA the kernels' stub answers, so this fails with
 * RD_ERR_DEVICE "this build has no CUDA support ...". */
#ifndef RD_RWKV_CUDA_H
#define RD_RWKV_CUDA_H

#include "common/status.h"
#include "kernels/kernels.h"
#include "lmstate/rwkv/rwkv.h"
#include "lmstate/state_cache.h"

/* Uploads m's weights: matrices and the embedding in wtype, vectors fp32.
 * Host memory for the fp32 copies is taken and freed here (the largest is
 * the embedding or the head, n_vocab x n_embd floats). */
rd_status rwkv_cuda_upload(const rwkv_model *m, kern_dtype wtype, kern_rwkv **out, rd_error *err);

/* The kernels' state dtype for a state-cache dtype (RD_F32/F16/BF16). */
kern_dtype rwkv_cuda_dtype(rd_dtype t);

/* ---------- a state cache's states in device memory ----------
 * The state cache (lmstate/state_cache.h) keeps its slot map, reference
 * counts and copy-on-write protocol on the host, as for the CPU; this holds
 * the physical slots' states on the device instead ([layer][phys][size] per
 * kind, the cache's dtype; physical slot 0 the initial state). Reorder,
 * clone and reset stay host map operations on the cache (sc_reorder etc.:
 * no state moves); a step crosses to the device only tokens and slot
 * indices, and back only the log-probabilities asked for and each row's
 * log-sum-exp. The cache's own host storage is not used for these states.
 * Not wired into lm_rwkv / the decoder yet (rwkv-decode --device cuda exits
 * 3). Unverified on a GPU: tests run it on the CPU emulation. */
typedef struct rwkv_cuda_cache rwkv_cuda_cache;

/* Device states for cache c (not owned; must outlive this) of model gm:
 * every physical slot at the kinds' initial values, or physical slot 0 set
 * from initial (fp32 [kind][layer][size]) when not NULL. max_rows of the
 * cache's config bounds a step. */
rd_status rwkv_cuda_cache_create(const kern_rwkv *gm, sc_cache *c, const float *initial, rwkv_cuda_cache **out,
                                 rd_error *err);
void rwkv_cuda_cache_free(rwkv_cuda_cache *d);

/* One batched step: row i reads slot src[i], feeds tok[i], and its new state
 * becomes slot child[i] (sc_update_begin / commit; child slots distinct).
 * Then logp[q] = log P(qtok[q] | row qrow[q]) for q < nq and lse[i] (may be
 * NULL) for each row. On failure nothing is committed. */
rd_status rwkv_cuda_cache_step(rwkv_cuda_cache *d, int n, const int32_t *tok, const int32_t *src,
                               const int32_t *child, int nq, const int32_t *qrow, const int32_t *qtok, float *logp,
                               float *lse, rd_error *err);

/* One slot's state, fp32 [kind][layer][size] (tests, state files). */
rd_status rwkv_cuda_cache_read(const rwkv_cuda_cache *d, int32_t slot, float *state, rd_error *err);

#endif
