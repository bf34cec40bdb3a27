/* lmstate/rwkv_cuda.h - an RWKV model (lmstate/rwkv.h) onto the device
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
#include "lmstate/rwkv.h"

/* Uploads m's weights: matrices and the embedding in wtype, vectors fp32.
 * Host memory for the fp32 copies is taken and freed here (the largest is
 * the embedding or the head, n_vocab x n_embd floats). */
rd_status rwkv_cuda_upload(const rwkv_model *m, kern_dtype wtype, kern_rwkv **out, rd_error *err);

/* The kernels' state dtype for a state-cache dtype (RD_F32/F16/BF16). */
kern_dtype rwkv_cuda_dtype(rd_dtype t);

#endif
