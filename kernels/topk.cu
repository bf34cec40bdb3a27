/* kernels/topk.cu - per-row top-k, with or without log-softmax: one block
 * per row. Each thread keeps a sorted list of its K best (registers: the
 * list is indexed only by unrolled constants), then K rounds of a block
 * arg-max merge the lists. Order: higher value first, ties to the lower
 * index. NaN and -inf are never chosen; missing entries are idx -1, value
 * -INFINITY. The CPU references are in tests/test_kernels.c. */
#include <limits.h>
#include <math.h>

#include "kernels/kern_internal.cuh"

#define TOPK_THREADS 256

__device__ __forceinline__ bool better(float av, int ai, float bv, int bi) {
    return av > bv || (av == bv && ai < bi);
}

__device__ float block_max(float v, float *red) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float m = red[0];
    for (int i = 1; i < TOPK_THREADS / 32; i++) m = fmaxf(m, red[i]);
    return m;
}

__device__ float block_add(float v, float *red) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float s = 0;
    for (int i = 0; i < TOPK_THREADS / 32; i++) s += red[i];
    return s;
}

/* log sum exp of the row (max first; an all -inf row gives -inf). */
__device__ float row_lse(const float *x, int cols, float *red) {
    float m = -INFINITY;
    for (int c = threadIdx.x; c < cols; c += TOPK_THREADS) m = fmaxf(m, x[c]);
    m = block_max(m, red);
    if (m == -INFINITY) return -INFINITY;
    float s = 0;
    for (int c = threadIdx.x; c < cols; c += TOPK_THREADS) s += expf(x[c] - m);
    return m + logf(block_add(s, red));
}

/* Inserts (v, c) into the sorted list when it beats the last entry;
 * columns arrive in increasing order per thread, so equal values stay
 * behind earlier ones. */
template <int K>
__device__ __forceinline__ void insert(float (&val)[K], int (&id)[K], float v, int c) {
    if (!(v > val[K - 1])) return;
#pragma unroll
    for (int j = K - 1; j > 0; j--) {
        if (v > val[j - 1]) {
            val[j] = val[j - 1];
            id[j] = id[j - 1];
        } else if (v > val[j]) {
            val[j] = v;
            id[j] = c;
        }
    }
    if (v > val[0]) {
        val[0] = v;
        id[0] = c;
    }
}

template <int K>
__global__ void __launch_bounds__(TOPK_THREADS) topk_rows(const float *x, int cols, const int32_t *count, int k,
                                                          int softmax, float *out_val, int32_t *out_idx,
                                                          float *out_lse) {
    __shared__ float red[32], rv[32];
    __shared__ int ri[32];
    int row = blockIdx.x, n = count ? count[row] : cols;
    const float *xr = x + (size_t)row * cols;
    float val[K];
    int id[K];
#pragma unroll
    for (int j = 0; j < K; j++) val[j] = -INFINITY, id[j] = INT_MAX;
    for (int c = threadIdx.x; c < n; c += TOPK_THREADS) insert<K>(val, id, xr[c], c);
    float lse = softmax ? row_lse(xr, n, red) : 0.0f;
    if (softmax && out_lse && threadIdx.x == 0) out_lse[row] = lse;
    for (int r = 0; r < k; r++) {
        float bv = val[0];
        int bi = id[0];
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (better(ov, oi, bv, bi)) bv = ov, bi = oi;
        }
        __syncthreads();
        if ((threadIdx.x & 31) == 0) rv[threadIdx.x >> 5] = bv, ri[threadIdx.x >> 5] = bi;
        __syncthreads();
        bv = rv[0], bi = ri[0];
        for (int w = 1; w < TOPK_THREADS / 32; w++)
            if (better(rv[w], ri[w], bv, bi)) bv = rv[w], bi = ri[w];
        if (id[0] == bi && bi != INT_MAX) { /* the owner pops its head */
#pragma unroll
            for (int j = 0; j < K - 1; j++) val[j] = val[j + 1], id[j] = id[j + 1];
            val[K - 1] = -INFINITY, id[K - 1] = INT_MAX;
        }
        if (threadIdx.x == 0) {
            bool none = bi == INT_MAX;
            out_val[(size_t)row * k + r] = none ? -INFINITY : (softmax ? bv - lse : bv);
            out_idx[(size_t)row * k + r] = none ? -1 : bi;
        }
    }
}

rd_status kern_topk_rows(const float *x, int rows, int cols, const int32_t *count, int k, int softmax, float *val,
                         int32_t *idx, float *lse, rd_error *err) {
    unsigned g = (unsigned)rows;
    if (k <= 4) KERN_LAUNCH(g, TOPK_THREADS, topk_rows<4>)(x, cols, count, k, softmax, val, idx, lse);
    else if (k <= 8) KERN_LAUNCH(g, TOPK_THREADS, topk_rows<8>)(x, cols, count, k, softmax, val, idx, lse);
    else if (k <= 16) KERN_LAUNCH(g, TOPK_THREADS, topk_rows<16>)(x, cols, count, k, softmax, val, idx, lse);
    else if (k <= 32) KERN_LAUNCH(g, TOPK_THREADS, topk_rows<32>)(x, cols, count, k, softmax, val, idx, lse);
    else KERN_LAUNCH(g, TOPK_THREADS, topk_rows<64>)(x, cols, count, k, softmax, val, idx, lse);
    KERN_LAUNCHED(topk_rows);
    return RD_OK;
}

/* ---------- log P(token) of chosen (row, token) pairs ---------- */

__global__ void __launch_bounds__(TOPK_THREADS) lse_rows(const float *x, int cols, float *lse) {
    __shared__ float red[32];
    float l = row_lse(x + (size_t)blockIdx.x * cols, cols, red);
    if (threadIdx.x == 0) lse[blockIdx.x] = l;
}

__global__ void gather_logp(const float *x, int cols, const float *lse, const int32_t *row, const int32_t *tok, int nq,
                            float *out) {
    int q = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (q < nq) out[q] = x[(size_t)row[q] * cols + tok[q]] - lse[row[q]];
}

rd_status kern_logp_rows(const float *x, int rows, int cols, const int32_t *row, const int32_t *tok, int nq, float *out,
                         float *lse, rd_error *err) {
    KERN_LAUNCH((unsigned)rows, TOPK_THREADS, lse_rows)(x, cols, lse);
    KERN_LAUNCHED(lse_rows);
    if (nq == 0) return RD_OK;
    KERN_LAUNCH((unsigned)((nq + 255) / 256), 256, gather_logp)(x, cols, lse, row, tok, nq, out);
    KERN_LAUNCHED(gather_logp);
    return RD_OK;
}
