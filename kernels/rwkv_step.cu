/* kernels/rwkv_step.cu - one batched RWKV-7 / RWKV-4 step on the device.
 *
 * Same stages as lmstate/rwkv/rwkv_forward.c (the CPU reference the tests compare
 * against), fused where an intermediate would otherwise go through memory:
 *   row kernel   layer norm + token shift (read src slot, write dst slot)
 *                + all the mixes of the layer, one block per row;
 *   gemm_nt      Y[n][out] = X[n][in] W^T, W in fp32/fp16/bf16, fp32
 *                accumulation, epilogue (tanh, sigmoid, relu^2, residual
 *                add, gated add); each weight tile is read once per BM rows;
 *   wkv7         one block per (row, head): decay/gate/key prologue, the
 *                N x N state read from src slot and written to dst slot with
 *                16-byte accesses (fp32) and all loads of a chunk in flight
 *                before the first store, then group norm, bonus and gate;
 *   wkv4         elementwise over (row, channel).
 * Each output element is summed in the same order whatever the batch. */
#include <math.h>

#include "kernels/kern_internal.cuh"

enum { EPI_STORE, EPI_TANH, EPI_SIGMOID, EPI_RELU2, EPI_ADD, EPI_GATED_ADD };

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Sum over the block (blockDim.x a multiple of 32, at most 1024); red holds
 * 32 floats; every thread gets the result. */
__device__ float block_sum(float v, float *red) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[w] = v;
    __syncthreads();
    float s = 0;
    for (int i = 0; i < nw; i++) s += red[i];
    return s;
}

/* ---------- matrix products ---------- */

#define GEMM_BN 64
#define GEMM_BK 16

template <typename WT, int BM>
__global__ void __launch_bounds__(256) gemm_nt(const WT *__restrict__ W, int out, int in, const float *__restrict__ X,
                                               int n, float *Y, int epi, const float *__restrict__ aux) {
    constexpr int TM = BM / 16;
    __shared__ float sW[GEMM_BK][GEMM_BN + 4];
    __shared__ float sX[GEMM_BK][BM + 4];
    int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    int o0 = blockIdx.x * GEMM_BN, r0 = blockIdx.y * BM;
    float acc[TM][4];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
    for (int k0 = 0; k0 < in; k0 += GEMM_BK) {
#pragma unroll
        for (int q = 0; q < GEMM_BN * GEMM_BK / 256; q++) {
            int e = threadIdx.x + 256 * q, o = e / GEMM_BK, k = e % GEMM_BK;
            sW[k][o] = (o0 + o < out && k0 + k < in) ? kern_ld(W + (size_t)(o0 + o) * in + k0 + k) : 0.0f;
        }
#pragma unroll
        for (int q = 0; q < BM * GEMM_BK / 256; q++) {
            int e = threadIdx.x + 256 * q, r = e / GEMM_BK, k = e % GEMM_BK;
            sX[k][r] = (r0 + r < n && k0 + k < in) ? X[(size_t)(r0 + r) * in + k0 + k] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < GEMM_BK; k++) {
            float a[TM], b[4];
#pragma unroll
            for (int i = 0; i < TM; i++) a[i] = sX[k][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++) b[j] = sW[k][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int r = r0 + ty + 16 * i, o = o0 + tx + 16 * j;
            if (r >= n || o >= out) continue;
            size_t at = (size_t)r * out + o;
            float v = acc[i][j];
            switch (epi) {
            case EPI_TANH: Y[at] = tanhf(v); break;
            case EPI_SIGMOID: Y[at] = sigmoidf_(v); break;
            case EPI_RELU2: v = v > 0 ? v : 0; Y[at] = v * v; break;
            case EPI_ADD: Y[at] += v; break;
            case EPI_GATED_ADD: Y[at] += sigmoidf_(aux[at]) * v; break;
            default: Y[at] = v;
            }
        }
}

template <typename WT>
static void gemm_launch(const WT *W, int out, int in, const float *X, int n, float *Y, int epi, const float *aux) {
    unsigned gx = (unsigned)((out + GEMM_BN - 1) / GEMM_BN);
    if (n <= 64) KERN_LAUNCH(dim3(gx, (unsigned)((n + 15) / 16)), 256, gemm_nt<WT, 16>)(W, out, in, X, n, Y, epi, aux);
    else KERN_LAUNCH(dim3(gx, (unsigned)((n + 63) / 64)), 256, gemm_nt<WT, 64>)(W, out, in, X, n, Y, epi, aux);
}

/* Y = epi(X W^T) for a device matrix in the model's weight type. */
static rd_status gemm(const kern_rwkv *m, const kern_mat_desc *M, const float *X, int n, float *Y, int epi,
                      const float *aux, rd_error *err) {
    if (m->wtype == KERN_F32) gemm_launch((const float *)M->w, M->out, M->in, X, n, Y, epi, aux);
    else if (m->wtype == KERN_F16) gemm_launch((const __half *)M->w, M->out, M->in, X, n, Y, epi, aux);
    else gemm_launch((const __nv_bfloat16 *)M->w, M->out, M->in, X, n, Y, epi, aux);
    KERN_LAUNCHED(gemm_nt);
    return RD_OK;
}

/* ---------- per-row kernels ---------- */

#define ROW_THREADS 256

/* out = LN(in) over C (w, b may be NULL), two passes as the CPU. */
template <typename T>
__device__ void row_ln(const T *in, const float *w, const float *b, int C, float eps, float *out, float *red) {
    float s = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += kern_ld(in + c);
    float mean = block_sum(s, red) / (float)C;
    float q = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float d = kern_ld(in + c) - mean;
        q += d * d;
    }
    float inv = 1.0f / sqrtf(block_sum(q, red) / (float)C + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        out[c] = (kern_ld(in + c) - mean) * inv * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
}

template <typename WT>
__global__ void emb_ln(const WT *emb, const int32_t *token, int C, const float *w, const float *b, float *x) {
    __shared__ float red[32];
    int row = blockIdx.x;
    row_ln(emb + (size_t)token[row] * C, w, b, C, 1e-5f, x + (size_t)row * C, red);
}

/* The token shift of one kind and the layer's mixes. */
typedef struct shift_args {
    const float *ln_w, *ln_b;
    const void *src;        /* kind base or NULL (plain layer norm) */
    void *dst;
    int nmix, v4;           /* v4: xn*m + prev*(1-m); else xn + (prev-xn)*m */
    const float *mix[6];
    float *out[6];          /* nmix == 0: out[0] = LN(x) */
} shift_args;

template <typename ST>
__global__ void shift_mix(const float *x, int C, const int32_t *src_slot, const int32_t *dst_slot, shift_args a) {
    __shared__ float red[32];
    int row = blockIdx.x;
    size_t o = (size_t)row * C;
    float *xn = a.out[0] + o; /* LN output first lands in out[0] (in-place safe: read back per element) */
    row_ln(x + o, a.ln_w, a.ln_b, C, 1e-5f, xn, red);
    if (!a.src) return;
    const ST *ps = (const ST *)a.src + (size_t)src_slot[row] * C;
    ST *pd = (ST *)a.dst + (size_t)dst_slot[row] * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float v = xn[c], prev = kern_ld(ps + c);
        kern_st(pd + c, v);
        for (int q = a.nmix - 1; q >= 0; q--) { /* out[0] last: it holds xn */
            float m = a.mix[q][c];
            a.out[q][o + c] = a.v4 ? v * m + prev * (1.0f - m) : v + (prev - v) * m;
        }
    }
}

/* ---------- RWKV-7 WKV ---------- */

#define WKV_THREADS 128

typedef struct wkv7_args {
    const float *r, *w, *k, *v, *a, *g, *t;
    float *vf, *y;
    const float *w0, *a0, *v0, *k_k, *k_a, *r_k, *lnx_w, *lnx_b;
    int C, first_layer;
} wkv7_args;

/* Head prologue: thread j < N computes channel j's decay, key, value. */
template <int N>
__device__ void wkv7_prologue(const wkv7_args &A, size_t o, int h, float *sr, float *sw, float *sk, float *sv,
                              float *skk, float *sab, float *red) {
    int j = threadIdx.x, c = h * N + j;
    float kk = 0, a = 0, k = 0;
    if (j < N) {
        float v = A.v[o + c];
        if (A.first_layer) A.vf[o + c] = v;
        else v += (A.vf[o + c] - v) * sigmoidf_(A.v0[c] + A.t[o + c]);
        sv[j] = v;
        sw[j] = expf(-0.606531f * sigmoidf_(A.w0[c] + A.w[o + c]));
        a = sigmoidf_(A.a0[c] + A.a[o + c]);
        k = A.k[o + c];
        kk = k * A.k_k[c];
        sr[j] = A.r[o + c];
    }
    float inv = 1.0f / fmaxf(sqrtf(block_sum(kk * kk, red)), 1e-12f);
    if (j < N) {
        kk *= inv;
        skk[j] = kk;
        sab[j] = kk * a;
        sk[j] = k * (1.0f + (a - 1.0f) * A.k_a[c]);
    }
    __syncthreads();
}

template <typename ST> struct vec4 {
    static __device__ __forceinline__ void ld(const ST *p, float *f) {
        for (int i = 0; i < 4; i++) f[i] = kern_ld(p + i);
    }
    static __device__ __forceinline__ void st(ST *p, const float *f) {
        for (int i = 0; i < 4; i++) kern_st(p + i, f[i]);
    }
};
template <> struct vec4<float> {
    static __device__ __forceinline__ void ld(const float *p, float *f) {
        float4 q = *(const float4 *)p;
        f[0] = q.x, f[1] = q.y, f[2] = q.z, f[3] = q.w;
    }
    static __device__ __forceinline__ void st(float *p, const float *f) { *(float4 *)p = make_float4(f[0], f[1], f[2], f[3]); }
};
template <> struct vec4<__half> {
    static __device__ __forceinline__ void ld(const __half *p, float *f) {
        uint2 q = *(const uint2 *)p;
        float2 a = __half22float2(*(const __half2 *)&q.x), b = __half22float2(*(const __half2 *)&q.y);
        f[0] = a.x, f[1] = a.y, f[2] = b.x, f[3] = b.y;
    }
    static __device__ __forceinline__ void st(__half *p, const float *f) {
        __half2 a = __floats2half2_rn(f[0], f[1]), b = __floats2half2_rn(f[2], f[3]);
        uint2 q;
        q.x = *(const unsigned *)&a, q.y = *(const unsigned *)&b;
        *(uint2 *)p = q;
    }
};
template <> struct vec4<__nv_bfloat16> {
    static __device__ __forceinline__ void ld(const __nv_bfloat16 *p, float *f) {
        uint2 q = *(const uint2 *)p;
        float2 a = __bfloat1622float2(*(const __nv_bfloat162 *)&q.x), b = __bfloat1622float2(*(const __nv_bfloat162 *)&q.y);
        f[0] = a.x, f[1] = a.y, f[2] = b.x, f[3] = b.y;
    }
    static __device__ __forceinline__ void st(__nv_bfloat16 *p, const float *f) {
        __nv_bfloat162 a = __floats2bfloat162_rn(f[0], f[1]), b = __floats2bfloat162_rn(f[2], f[3]);
        uint2 q;
        q.x = *(const unsigned *)&a, q.y = *(const unsigned *)&b;
        *(uint2 *)p = q;
    }
};

/* grid (H, n). Lanes per state row LPR = N/4, each 4 columns; a chunk of CH
 * passes is loaded whole before any store (in-place rows are safe: a row's
 * elements are read and written by the same lane). */
template <typename ST, int N>
__global__ void __launch_bounds__(WKV_THREADS) wkv7(wkv7_args A, const ST *src, ST *dst, const int32_t *src_slot,
                                                    const int32_t *dst_slot) {
    constexpr int LPR = N / 4, RP = WKV_THREADS / LPR, PASSES = N / RP, CH = PASSES < 8 ? PASSES : 8;
    __shared__ float sr[N], sw[N], sk[N], sv[N], skk[N], sab[N], sy[N], red[32];
    int h = blockIdx.x, row = blockIdx.y;
    size_t o = (size_t)row * A.C;
    wkv7_prologue<N>(A, o, h, sr, sw, sk, sv, skk, sab, red);
    size_t hN = (size_t)h * N * N;
    const ST *S = src + (size_t)src_slot[row] * A.C * N + hN;
    ST *D = dst + (size_t)dst_slot[row] * A.C * N + hN;
    int lane = threadIdx.x % LPR, j0 = lane * 4, rsub = threadIdx.x / LPR;
    float w[4], kk[4], ab[4], k[4], r[4];
#pragma unroll
    for (int q = 0; q < 4; q++) w[q] = sw[j0 + q], kk[q] = skk[j0 + q], ab[q] = sab[j0 + q], k[q] = sk[j0 + q], r[q] = sr[j0 + q];
#pragma unroll
    for (int p0 = 0; p0 < PASSES; p0 += CH) {
        float s[CH][4];
#pragma unroll
        for (int p = 0; p < CH; p++) vec4<ST>::ld(S + (size_t)((p0 + p) * RP + rsub) * N + j0, s[p]);
#pragma unroll
        for (int p = 0; p < CH; p++) {
            int i = (p0 + p) * RP + rsub;
            float sa = 0;
#pragma unroll
            for (int q = 0; q < 4; q++) sa -= s[p][q] * kk[q];
#pragma unroll
            for (int off = LPR / 2; off > 0; off >>= 1) sa += __shfl_xor_sync(0xffffffffu, sa, off);
            float vi = sv[i], y = 0;
#pragma unroll
            for (int q = 0; q < 4; q++) {
                s[p][q] = s[p][q] * w[q] + sa * ab[q] + vi * k[q];
                y += s[p][q] * r[q];
            }
#pragma unroll
            for (int off = LPR / 2; off > 0; off >>= 1) y += __shfl_xor_sync(0xffffffffu, y, off);
            if (lane == 0) sy[i] = y;
            vec4<ST>::st(D + (size_t)i * N + j0, s[p]);
        }
    }
    __syncthreads();
    /* group norm over the head, bonus, gate */
    int j = threadIdx.x, c = h * N + j;
    float y = j < N ? sy[j] : 0.0f;
    float mean = block_sum(y, red) / (float)N;
    float d = j < N ? y - mean : 0.0f;
    float inv = 1.0f / sqrtf(block_sum(d * d, red) / (float)N + 64e-5f);
    float bonus = block_sum(j < N ? sr[j] * sk[j] * A.r_k[c] : 0.0f, red);
    if (j < N) A.y[o + c] = ((d * inv * A.lnx_w[c] + A.lnx_b[c]) + bonus * sv[j]) * A.g[o + c];
}

/* ---------- RWKV-4 WKV ---------- */

typedef struct wkv4_args {
    const float *r, *k, *v, *time_first, *time_decay;
    float *y;
    const void *src[3];
    void *dst[3];
    int C, n;
} wkv4_args;

template <typename ST>
__global__ void wkv4(wkv4_args A, const int32_t *src_slot, const int32_t *dst_slot) {
    size_t total = (size_t)A.n * A.C;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        int row = (int)(e / A.C), c = (int)(e % A.C);
        size_t so = (size_t)src_slot[row] * A.C + c, dof = (size_t)dst_slot[row] * A.C + c;
        float aa = kern_ld((const ST *)A.src[0] + so), bb = kern_ld((const ST *)A.src[1] + so);
        float pp = kern_ld((const ST *)A.src[2] + so);
        float k = A.k[e], v = A.v[e];
        float ww = A.time_first[c] + k, q = fmaxf(pp, ww);
        float e1 = expf(pp - q), e2 = expf(ww - q);
        float wkv = (e1 * aa + e2 * v) / (e1 * bb + e2);
        ww = pp + A.time_decay[c];
        q = fmaxf(ww, k);
        e1 = expf(ww - q);
        e2 = expf(k - q);
        kern_st((ST *)A.dst[0] + dof, e1 * aa + e2 * v);
        kern_st((ST *)A.dst[1] + dof, e1 * bb + e2);
        kern_st((ST *)A.dst[2] + dof, q);
        A.y[e] = sigmoidf_(A.r[e]) * wkv;
    }
}

/* ---------- launchers ---------- */

typedef struct step {
    const kern_rwkv *m;
    kern_workspace *ws;
    int n;
    const kern_state *src;
    kern_state *dst;
} step;

static rd_status shift(const step *s, int l, int kind, int ln, shift_args a, rd_error *err) {
    const kern_rwkv *m = s->m;
    kern_workspace *ws = s->ws;
    a.ln_w = m->vec[l][ln ? KV_LN2_W : KV_LN1_W];
    a.ln_b = m->vec[l][ln ? KV_LN2_B : KV_LN1_B];
    a.src = (const char *)s->src->base[kind] + kern_state_off(s->src, kind, l, 0) * kern_dtype_size(s->src->dtype);
    a.dst = (char *)s->dst->base[kind] + kern_state_off(s->dst, kind, l, 0) * kern_dtype_size(s->dst->dtype);
    if (s->src->dtype == KERN_F32)
        KERN_LAUNCH(s->n, ROW_THREADS, shift_mix<float>)(ws->x, m->n_embd, ws->d_src, ws->d_dst, a);
    else if (s->src->dtype == KERN_F16)
        KERN_LAUNCH(s->n, ROW_THREADS, shift_mix<__half>)(ws->x, m->n_embd, ws->d_src, ws->d_dst, a);
    else KERN_LAUNCH(s->n, ROW_THREADS, shift_mix<__nv_bfloat16>)(ws->x, m->n_embd, ws->d_src, ws->d_dst, a);
    KERN_LAUNCHED(shift_mix);
    return RD_OK;
}

template <typename ST>
static void wkv7_launch(const step *s, const wkv7_args &A, const ST *src, ST *dst) {
    dim3 grid((unsigned)s->m->n_head, (unsigned)s->n);
    int32_t *a = s->ws->d_src, *b = s->ws->d_dst;
    switch (s->m->head_size) {
    case 32: KERN_LAUNCH(grid, WKV_THREADS, wkv7<ST, 32>)(A, src, dst, a, b); break;
    case 64: KERN_LAUNCH(grid, WKV_THREADS, wkv7<ST, 64>)(A, src, dst, a, b); break;
    default: KERN_LAUNCH(grid, WKV_THREADS, wkv7<ST, 128>)(A, src, dst, a, b); break;
    }
}

static rd_status att7_wkv(const step *s, int l, rd_error *err) {
    const kern_rwkv *m = s->m;
    kern_workspace *ws = s->ws;
    const float *const *V = m->vec[l];
    wkv7_args A = {ws->r, ws->w, ws->k, ws->v, ws->a, ws->g, ws->t, ws->vf, ws->y, V[KV_W0], V[KV_A0], V[KV_V0],
                   V[KV_K_K], V[KV_K_A], V[KV_R_K], V[KV_LNX_W], V[KV_LNX_B], m->n_embd, l == 0};
    size_t es = kern_dtype_size(s->src->dtype);
    const char *src = (const char *)s->src->base[1] + kern_state_off(s->src, 1, l, 0) * es;
    char *dst = (char *)s->dst->base[1] + kern_state_off(s->dst, 1, l, 0) * es;
    if (s->src->dtype == KERN_F32) wkv7_launch(s, A, (const float *)src, (float *)dst);
    else if (s->src->dtype == KERN_F16) wkv7_launch(s, A, (const __half *)src, (__half *)dst);
    else wkv7_launch(s, A, (const __nv_bfloat16 *)src, (__nv_bfloat16 *)dst);
    KERN_LAUNCHED(wkv7);
    return RD_OK;
}

static rd_status layer7(const step *s, int l, rd_error *err) {
    const kern_rwkv *m = s->m;
    kern_workspace *ws = s->ws;
    const kern_mat_desc *M = m->mat[l];
    int n = s->n;
    shift_args a = {};
    a.nmix = 6;
    for (int q = 0; q < 6; q++) a.mix[q] = m->vec[l][KV_X_R + q], a.out[q] = ws->mix[q];
    RD_TRY(shift(s, l, 0, 0, a, err));
    RD_TRY(gemm(m, &M[KM_ATT_R], ws->mix[0], n, ws->r, EPI_STORE, NULL, err));
    RD_TRY(gemm(m, &M[KM_ATT_K], ws->mix[2], n, ws->k, EPI_STORE, NULL, err));
    RD_TRY(gemm(m, &M[KM_ATT_V], ws->mix[3], n, ws->v, EPI_STORE, NULL, err));
    RD_TRY(gemm(m, &M[KM_W1], ws->mix[1], n, ws->lo, EPI_TANH, NULL, err));
    RD_TRY(gemm(m, &M[KM_W2], ws->lo, n, ws->w, EPI_STORE, NULL, err));
    RD_TRY(gemm(m, &M[KM_A1], ws->mix[4], n, ws->lo, EPI_STORE, NULL, err));
    RD_TRY(gemm(m, &M[KM_A2], ws->lo, n, ws->a, EPI_STORE, NULL, err));
    if (l > 0) {
        RD_TRY(gemm(m, &M[KM_V1], ws->mix[3], n, ws->lo, EPI_STORE, NULL, err));
        RD_TRY(gemm(m, &M[KM_V2], ws->lo, n, ws->t, EPI_STORE, NULL, err));
    }
    RD_TRY(gemm(m, &M[KM_G1], ws->mix[5], n, ws->lo, EPI_SIGMOID, NULL, err));
    RD_TRY(gemm(m, &M[KM_G2], ws->lo, n, ws->g, EPI_STORE, NULL, err));
    RD_TRY(att7_wkv(s, l, err));
    RD_TRY(gemm(m, &M[KM_ATT_O], ws->y, n, ws->x, EPI_ADD, NULL, err));
    shift_args f = {};
    f.nmix = 1;
    f.mix[0] = m->vec[l][KV_FFN_X_K];
    f.out[0] = ws->mix[0];
    RD_TRY(shift(s, l, 2, 1, f, err));
    RD_TRY(gemm(m, &M[KM_FFN_K], ws->mix[0], n, ws->hid, EPI_RELU2, NULL, err));
    return gemm(m, &M[KM_FFN_V], ws->hid, n, ws->x, EPI_ADD, NULL, err);
}

static rd_status att4_wkv(const step *s, int l, rd_error *err) {
    const kern_rwkv *m = s->m;
    kern_workspace *ws = s->ws;
    wkv4_args A = {ws->r, ws->k, ws->v, m->vec[l][KV_TIME_FIRST], m->vec[l][KV_TIME_DECAY], ws->y, {}, {},
                   m->n_embd, s->n};
    size_t es = kern_dtype_size(s->src->dtype);
    for (int q = 0; q < 3; q++) {
        A.src[q] = (const char *)s->src->base[2 + q] + kern_state_off(s->src, 2 + q, l, 0) * es;
        A.dst[q] = (char *)s->dst->base[2 + q] + kern_state_off(s->dst, 2 + q, l, 0) * es;
    }
    unsigned blocks = (unsigned)(((size_t)s->n * m->n_embd + 255) / 256);
    if (blocks > 65535) blocks = 65535;
    if (s->src->dtype == KERN_F32) KERN_LAUNCH(blocks, 256, wkv4<float>)(A, ws->d_src, ws->d_dst);
    else if (s->src->dtype == KERN_F16) KERN_LAUNCH(blocks, 256, wkv4<__half>)(A, ws->d_src, ws->d_dst);
    else KERN_LAUNCH(blocks, 256, wkv4<__nv_bfloat16>)(A, ws->d_src, ws->d_dst);
    KERN_LAUNCHED(wkv4);
    return RD_OK;
}

static rd_status layer4(const step *s, int l, rd_error *err) {
    const kern_rwkv *m = s->m;
    kern_workspace *ws = s->ws;
    const kern_mat_desc *M = m->mat[l];
    int n = s->n;
    shift_args a = {};
    a.nmix = 3;
    a.v4 = 1;
    a.mix[0] = m->vec[l][KV_ATT_MIX_R], a.mix[1] = m->vec[l][KV_ATT_MIX_K], a.mix[2] = m->vec[l][KV_ATT_MIX_V];
    for (int q = 0; q < 3; q++) a.out[q] = ws->mix[q];
    RD_TRY(shift(s, l, 0, 0, a, err));
    RD_TRY(gemm(m, &M[KM_ATT_R], ws->mix[0], n, ws->r, EPI_STORE, NULL, err));
    RD_TRY(gemm(m, &M[KM_ATT_K], ws->mix[1], n, ws->k, EPI_STORE, NULL, err));
    RD_TRY(gemm(m, &M[KM_ATT_V], ws->mix[2], n, ws->v, EPI_STORE, NULL, err));
    RD_TRY(att4_wkv(s, l, err));
    RD_TRY(gemm(m, &M[KM_ATT_O], ws->y, n, ws->x, EPI_ADD, NULL, err));
    shift_args f = {};
    f.nmix = 2;
    f.v4 = 1;
    f.mix[0] = m->vec[l][KV_FFN_MIX_R], f.mix[1] = m->vec[l][KV_FFN_MIX_K];
    f.out[0] = ws->mix[0], f.out[1] = ws->mix[1];
    RD_TRY(shift(s, l, 1, 1, f, err));
    RD_TRY(gemm(m, &M[KM_FFN_R], ws->mix[0], n, ws->r, EPI_STORE, NULL, err));
    RD_TRY(gemm(m, &M[KM_FFN_K], ws->mix[1], n, ws->hid, EPI_RELU2, NULL, err));
    return gemm(m, &M[KM_FFN_V], ws->hid, n, ws->x, EPI_GATED_ADD, ws->r, err);
}

static rd_status embed(const kern_rwkv *m, kern_workspace *ws, int n, rd_error *err) {
    int C = m->n_embd;
    if (m->wtype == KERN_F32)
        KERN_LAUNCH(n, ROW_THREADS, emb_ln<float>)((const float *)m->emb, ws->d_token, C, m->ln0_w, m->ln0_b, ws->x);
    else if (m->wtype == KERN_F16)
        KERN_LAUNCH(n, ROW_THREADS, emb_ln<__half>)((const __half *)m->emb, ws->d_token, C, m->ln0_w, m->ln0_b, ws->x);
    else KERN_LAUNCH(n, ROW_THREADS, emb_ln<__nv_bfloat16>)((const __nv_bfloat16 *)m->emb, ws->d_token, C, m->ln0_w, m->ln0_b, ws->x);
    KERN_LAUNCHED(emb_ln);
    return RD_OK;
}

rd_status kern_rwkv_step(const kern_rwkv *m, kern_workspace *ws, int n, const kern_state *src, kern_state *dst,
                         rd_error *err) {
    step s = {m, ws, n, src, dst};
    RD_TRY(embed(m, ws, n, err));
    for (int l = 0; l < m->n_layer; l++) RD_TRY(m->version == 7 ? layer7(&s, l, err) : layer4(&s, l, err));
    shift_args o = {};
    o.ln_w = m->ln_out_w;
    o.ln_b = m->ln_out_b;
    o.out[0] = ws->xn;
    KERN_LAUNCH(n, ROW_THREADS, shift_mix<float>)(ws->x, m->n_embd, ws->d_src, ws->d_dst, o);
    KERN_LAUNCHED(shift_mix);
    return gemm(m, &m->head, ws->xn, n, ws->logits, EPI_STORE, NULL, err);
}
