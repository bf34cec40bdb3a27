/* kernels/kern_internal.cuh - what the .cu files of kernels/ share: error
 * helpers, the device model / state / workspace structs, dtype loads. */
#ifndef RD_KERN_INTERNAL_CUH
#define RD_KERN_INTERNAL_CUH

#ifdef RD_CUDA_CPU
#include "kernels/cuda_cpu.h" /* the CPU emulation CI runs the kernels with */
#else
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
/* KERN_LAUNCH(grid, block, kernel)(args...) is kernel<<<grid, block>>>(args...);
 * written so because kernels/cuda_cpu.h can define it for a C++ compiler. */
#define KERN_LAUNCH(g, b, ...) __VA_ARGS__<<<g, b>>>
#endif

extern "C" {
#include "common/status.h" /* a C header: rd_fail etc. keep C linkage */
}
#include "kernels/kernels.h"

/* A failed CUDA call: RD_ERR_DEVICE "cuda: <call>: <cudaGetErrorString>"
 * (RD_ERR_NOMEM for cudaErrorMemoryAllocation). */
rd_status kern_cuda_fail(rd_error *err, cudaError_t e, const char *call);
/* cudaMalloc of bytes; RD_ERR_NOMEM "cuda: out of device memory: <what>:
 * cudaMalloc of N bytes failed" when the device has no room. */
rd_status kern_alloc(void **p, size_t bytes, const char *what, rd_error *err);

#define KERN_CK(call)                                            \
    do {                                                         \
        cudaError_t kern_e_ = (call);                            \
        if (kern_e_ != cudaSuccess) return kern_cuda_fail(err, kern_e_, #call); \
    } while (0)

/* After a launch: the launch error, named by the kernel
 * ("cuda: launch of wkv7: invalid configuration argument"). */
#define KERN_LAUNCHED(name)                                                     \
    do {                                                                        \
        cudaError_t kern_e_ = cudaGetLastError();                               \
        if (kern_e_ != cudaSuccess) return kern_cuda_fail(err, kern_e_, "launch of " #name); \
    } while (0)

#define KERN_MAX_KINDS 5
#define KERN_MAX_LAYERS 64

struct kern_rwkv {
    int version, n_layer, n_embd, n_vocab, n_ffn, head_size, n_head;
    kern_dtype wtype;
    void *mem;                      /* the one device allocation */
    size_t mat_bytes;
    const void *emb;                /* [V][C] in wtype */
    const float *ln0_w, *ln0_b, *ln_out_w, *ln_out_b;
    kern_mat_desc head;             /* w: device, in wtype (cast) */
    const float *vec[KERN_MAX_LAYERS][KERN_N_VEC];      /* per layer, device; NULL absent */
    kern_mat_desc mat[KERN_MAX_LAYERS][KERN_N_MAT];     /* per layer, device, w in wtype */
    int n_kinds;
    size_t kind_size[KERN_MAX_KINDS];
    float kind_init[KERN_MAX_KINDS];
    int lora_max;
};

struct kern_state {
    const kern_rwkv *m;
    int n_slots;
    kern_dtype dtype;
    void *base[KERN_MAX_KINDS];     /* [layer][slot][size] each */
    void *mem;
    float *scratch;                 /* one host-layout slot, fp32 */
};

struct kern_workspace {
    const kern_rwkv *m;
    int max_rows, last_rows;
    void *mem;
    float *x, *xn, *mix[6], *r, *k, *v, *w, *a, *g, *vf, *y, *t, *lo, *hid;
    float *logits;                  /* [max_rows][n_vocab] */
    int32_t *d_token, *d_src, *d_dst;
    float *d_val;                   /* [max_rows][KERN_MAX_TOPK] */
    int32_t *d_idx;
    int32_t *d_qrow;                /* [max_rows][KERN_MAX_TOPK]: rows of rd_cuda_rwkv_logp */
    float *d_lse;
};

/* dtype-generic element access */
__device__ __forceinline__ float kern_ld(const float *p) { return *p; }
__device__ __forceinline__ float kern_ld(const __half *p) { return __half2float(*p); }
__device__ __forceinline__ float kern_ld(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ void kern_st(float *p, float v) { *p = v; }
__device__ __forceinline__ void kern_st(__half *p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void kern_st(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }

__device__ __forceinline__ float kern_ld_t(const void *p, kern_dtype t, size_t i) {
    if (t == KERN_F32) return ((const float *)p)[i];
    if (t == KERN_F16) return __half2float(((const __half *)p)[i]);
    return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
}
__device__ __forceinline__ void kern_st_t(void *p, kern_dtype t, size_t i, float v) {
    if (t == KERN_F32) ((float *)p)[i] = v;
    else if (t == KERN_F16) ((__half *)p)[i] = __float2half_rn(v);
    else ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
}

static inline size_t kern_dtype_size(kern_dtype t) { return t == KERN_F32 ? 4 : 2; }

/* Element 0 of kind k, layer l, slot s of a device state. */
static inline size_t kern_state_off(const kern_state *s, int k, int l, int slot) {
    return ((size_t)l * (size_t)s->n_slots + (size_t)slot) * s->m->kind_size[k];
}

/* Launchers shared between files (all on the default stream). */
rd_status kern_rwkv_step(const kern_rwkv *m, kern_workspace *ws, int n, const kern_state *src,
                         kern_state *dst, rd_error *err);
/* lse[i] = log sum exp of row i (i < rows), then out[q] = x[row[q]][tok[q]] - lse[row[q]] (q < nq). */
rd_status kern_logp_rows(const float *x, int rows, int cols, const int32_t *row, const int32_t *tok, int nq, float *out,
                         float *lse, rd_error *err);
rd_status kern_topk_rows(const float *x, int rows, int cols, const int32_t *count, int k, int softmax,
                         float *val, int32_t *idx, float *lse, rd_error *err);

#endif
