/* lmstate/rwkv/rwkv_forward.c - batched RWKV-7 / RWKV-4 steps on the CPU.
 *
 * A batch of n rows moves through the network together: the big products
 * are matrix-matrix (each weight row is read once per block of 64 rows), the
 * per-row parts (layer norms, WKV) are plain loops. Products split their
 * output rows over a small thread pool (common/pool.h) owned by the
 * workspace. Each output element is computed in the same order whatever the
 * batch size or thread count, so a row's result does not depend on the rows
 * beside it.
 *
 * Semantics follow the rwkv package's RWKV_x070 and RWKV-4 (numerically
 * stable aa/bb/pp form) one-token paths. */
/* The per-row element-wise loops (mixes, activations, norms' scaling) are
 * what -O2 leaves scalar; -O3 vectorizes them. Element-wise only: no sum is
 * reassociated, so results are bit-identical to -O2. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include "lmstate/rwkv/rwkv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/pool.h"
#include "lmstate/rwkv/rwkv_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define RWKV_X86 1
#endif

/* ---------- matrix products: Y[r][o] = sum_i W(o, i) X[r][i] ----------
 *
 * W is packed in panels of RWKV_PANEL (16) outputs (rwkv_internal.h). Every
 * output is one fp32 chain over i in increasing order, whatever the batch
 * size, tile shape or thread split, so a row's result does not depend on the
 * rows beside it. A kernel computes R rows x P panels: per input i it loads
 * the P panels' 16 weights once and broadcasts each row's x[i]. */

/* Products of panels [p0, p1) for rows [0, n): Y[r * ldy + o], X[r * in + i]. */
typedef void (*mm_fn)(const rwkv_mat *W, const float *X, int n, float *Y, int ldy, int p0, int p1);

static float w_at(const rwkv_mat *W, size_t k) { return rd_load_f32(W->w, W->dtype, k); }

/* Copies a tile of rows x cols from t (stride ts) to Y (stride ldy). */
static void tile_out(const float *t, int ts, int rows, int cols, float *Y, int ldy) {
    for (int r = 0; r < rows; r++) memcpy(Y + (size_t)r * ldy, t + (size_t)r * ts, (size_t)cols * sizeof(float));
}

/* Portable reference: one row, one panel at a time. */
static void mm_ref(const rwkv_mat *W, const float *X, int n, float *Y, int ldy, int p0, int p1) {
    int in = W->in;
    for (int p = p0; p < p1; p++) {
        size_t base = (size_t)p * in * RWKV_PANEL;
        int cols = W->out - p * RWKV_PANEL < RWKV_PANEL ? W->out - p * RWKV_PANEL : RWKV_PANEL;
        for (int r = 0; r < n; r++) {
            float acc[RWKV_PANEL] = {0};
            const float *x = X + (size_t)r * in;
            for (int i = 0; i < in; i++)
                for (int o = 0; o < RWKV_PANEL; o++) acc[o] += w_at(W, base + (size_t)i * RWKV_PANEL + o) * x[i];
            tile_out(acc, RWKV_PANEL, 1, cols, Y + (size_t)r * ldy + p * RWKV_PANEL, ldy);
        }
    }
}

#ifdef RWKV_X86
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 8 weights from element k of a panel array of dtype DT, as fp32. */
#define LD8_F32(w, k) _mm256_loadu_ps((const float *)(w) + (k))
#define LD8_F16(w, k) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)(w) + (k))))
#define LD8_BF16(w, k)                                                                                           \
    _mm256_castsi256_ps(                                                                                         \
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)(w) + (k)))), 16))

/* R rows x P panels over all `in` inputs; w points at the first panel. */
#define MM_KERNEL(NAME, LD, R, P)                                                                            \
    AVX2 static void NAME(const void *w, int in, const float *X, float *Y, int ldy) {                       \
        __m256 acc[R][2 * P];                                                                                \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                                 \
            _Pragma("GCC unroll 8") for (int q = 0; q < 2 * P; q++) acc[r][q] = _mm256_setzero_ps();         \
        size_t ps = (size_t)in * RWKV_PANEL;                                                                 \
        for (int i = 0; i < in; i++) {                                                                       \
            __m256 wv[2 * P];                                                                                \
            _Pragma("GCC unroll 8") for (int q = 0; q < 2 * P; q++)                                         \
                wv[q] = LD(w, (size_t)(q >> 1) * ps + (size_t)i * RWKV_PANEL + (size_t)(q & 1) * 8);         \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                           \
                __m256 x = _mm256_broadcast_ss(X + (size_t)r * in + i);                                      \
                _Pragma("GCC unroll 8") for (int q = 0; q < 2 * P; q++) acc[r][q] =                         \
                    _mm256_fmadd_ps(wv[q], x, acc[r][q]);                                                    \
            }                                                                                                \
        }                                                                                                    \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                                 \
            _Pragma("GCC unroll 8") for (int q = 0; q < 2 * P; q++)                                         \
                _mm256_storeu_ps(Y + (size_t)r * ldy + (q >> 1) * RWKV_PANEL + (q & 1) * 8, acc[r][q]);      \
    }

typedef void (*mm_kernel)(const void *w, int in, const float *X, float *Y, int ldy);

/* Kernels of one weight dtype: [0] 1 row x 4 panels, [R] R rows x 1 panel. */
#define MM_KERNELS(T, LD)                                                                                    \
    MM_KERNEL(mm_##T##_1x4, LD, 1, 4)                                                                        \
    MM_KERNEL(mm_##T##_1x1, LD, 1, 1)                                                                        \
    MM_KERNEL(mm_##T##_2x1, LD, 2, 1)                                                                        \
    MM_KERNEL(mm_##T##_3x1, LD, 3, 1)                                                                        \
    MM_KERNEL(mm_##T##_4x1, LD, 4, 1)                                                                        \
    MM_KERNEL(mm_##T##_5x1, LD, 5, 1)                                                                        \
    MM_KERNEL(mm_##T##_6x1, LD, 6, 1)                                                                        \
    static const mm_kernel mm_##T[7] = {mm_##T##_1x4, mm_##T##_1x1, mm_##T##_2x1, mm_##T##_3x1,             \
                                        mm_##T##_4x1, mm_##T##_5x1, mm_##T##_6x1};
MM_KERNELS(f32, LD8_F32)
MM_KERNELS(f16, LD8_F16)
MM_KERNELS(bf16, LD8_BF16)

#define MM_TILE_ROWS 6

/* Rows [r0, r1) against panel p, through a scratch tile when it is the
 * partial last panel. */
static void mm_rows(const mm_kernel *k, const rwkv_mat *W, const float *X, int r0, int r1, float *Y, int ldy,
                    int p) {
    size_t es = rd_dtype_size(W->dtype);
    const char *w = (const char *)W->w + (size_t)p * W->in * RWKV_PANEL * es;
    int cols = W->out - p * RWKV_PANEL;
    for (int r = r0; r < r1; r += MM_TILE_ROWS) {
        int R = r1 - r < MM_TILE_ROWS ? r1 - r : MM_TILE_ROWS;
        const float *x = X + (size_t)r * W->in;
        if (cols >= RWKV_PANEL) {
            k[R](w, W->in, x, Y + (size_t)r * ldy + p * RWKV_PANEL, ldy);
        } else {
            float t[MM_TILE_ROWS * RWKV_PANEL];
            k[R](w, W->in, x, t, RWKV_PANEL);
            tile_out(t, RWKV_PANEL, R, cols, Y + (size_t)r * ldy + p * RWKV_PANEL, ldy);
        }
    }
}

static void mm_avx2(const rwkv_mat *W, const float *X, int n, float *Y, int ldy, int p0, int p1) {
    const mm_kernel *k = W->dtype == RD_F16 ? mm_f16 : W->dtype == RD_BF16 ? mm_bf16 : mm_f32;
    size_t es = rd_dtype_size(W->dtype);
    int full = W->out / RWKV_PANEL; /* panels with 16 real outputs */
    if (n == 1) {
        int p = p0;
        for (; p + 4 <= p1 && p + 4 <= full; p += 4)
            k[0]((const char *)W->w + (size_t)p * W->in * RWKV_PANEL * es, W->in, X, Y + p * RWKV_PANEL, ldy);
        for (; p < p1; p++) mm_rows(k, W, X, 0, 1, Y, ldy, p);
        return;
    }
    /* rows in blocks whose inputs stay in the L2 cache (about 1 MB) */
    int rb = (1 << 20) / (int)(sizeof(float) * (size_t)W->in) / MM_TILE_ROWS * MM_TILE_ROWS;
    if (rb < MM_TILE_ROWS) rb = MM_TILE_ROWS;
    for (int r0 = 0; r0 < n; r0 += rb) {
        int r1 = r0 + rb < n ? r0 + rb : n;
        for (int p = p0; p < p1; p++) mm_rows(k, W, X, r0, r1, Y, ldy, p);
    }
}

/* ---- AVX-512: one panel of 16 outputs is one register ---- */
#define AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))

#define LD16_F32(w, k) _mm512_loadu_ps((const float *)(w) + (k))
#define LD16_F16(w, k) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)(w) + (k))))
#define LD16_BF16(w, k)                                                                                          \
    _mm512_castsi512_ps(_mm512_slli_epi32(                                                                       \
        _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)(w) + (k)))), 16))

#define MM512_KERNEL(NAME, LD, R, P)                                                                         \
    AVX512 static void NAME(const void *w, int in, const float *X, float *Y, int ldy) {                     \
        __m512 acc[R][P];                                                                                    \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                                 \
            _Pragma("GCC unroll 8") for (int q = 0; q < P; q++) acc[r][q] = _mm512_setzero_ps();             \
        size_t ps = (size_t)in * RWKV_PANEL;                                                                 \
        for (int i = 0; i < in; i++) {                                                                       \
            __m512 wv[P];                                                                                    \
            _Pragma("GCC unroll 8") for (int q = 0; q < P; q++) wv[q] = LD(w, (size_t)q * ps + (size_t)i * RWKV_PANEL); \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                           \
                __m512 x = _mm512_set1_ps(X[(size_t)r * in + i]);                                            \
                _Pragma("GCC unroll 8") for (int q = 0; q < P; q++) acc[r][q] =                             \
                    _mm512_fmadd_ps(wv[q], x, acc[r][q]);                                                    \
            }                                                                                                \
        }                                                                                                    \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                                 \
            _Pragma("GCC unroll 8") for (int q = 0; q < P; q++)                                             \
                _mm512_storeu_ps(Y + (size_t)r * ldy + q * RWKV_PANEL, acc[r][q]);                           \
    }

/* [0] 1 row x 4 panels, [R] R rows x 2 panels, [8 + R] R rows x 1 panel. */
#define MM512_KERNELS(T, LD)                                                                                 \
    MM512_KERNEL(mm5_##T##_1x4, LD, 1, 4)                                                                    \
    MM512_KERNEL(mm5_##T##_1x2, LD, 1, 2)                                                                    \
    MM512_KERNEL(mm5_##T##_2x2, LD, 2, 2)                                                                    \
    MM512_KERNEL(mm5_##T##_3x2, LD, 3, 2)                                                                    \
    MM512_KERNEL(mm5_##T##_4x2, LD, 4, 2)                                                                    \
    MM512_KERNEL(mm5_##T##_5x2, LD, 5, 2)                                                                    \
    MM512_KERNEL(mm5_##T##_6x2, LD, 6, 2)                                                                    \
    MM512_KERNEL(mm5_##T##_7x2, LD, 7, 2)                                                                    \
    MM512_KERNEL(mm5_##T##_8x2, LD, 8, 2)                                                                    \
    MM512_KERNEL(mm5_##T##_1x1, LD, 1, 1)                                                                    \
    MM512_KERNEL(mm5_##T##_2x1, LD, 2, 1)                                                                    \
    MM512_KERNEL(mm5_##T##_3x1, LD, 3, 1)                                                                    \
    MM512_KERNEL(mm5_##T##_4x1, LD, 4, 1)                                                                    \
    MM512_KERNEL(mm5_##T##_5x1, LD, 5, 1)                                                                    \
    MM512_KERNEL(mm5_##T##_6x1, LD, 6, 1)                                                                    \
    MM512_KERNEL(mm5_##T##_7x1, LD, 7, 1)                                                                    \
    MM512_KERNEL(mm5_##T##_8x1, LD, 8, 1)                                                                    \
    static const mm_kernel mm5_##T[17] = {                                                                   \
        mm5_##T##_1x4, mm5_##T##_1x2, mm5_##T##_2x2, mm5_##T##_3x2, mm5_##T##_4x2, mm5_##T##_5x2,            \
        mm5_##T##_6x2, mm5_##T##_7x2, mm5_##T##_8x2, mm5_##T##_1x1, mm5_##T##_2x1, mm5_##T##_3x1,            \
        mm5_##T##_4x1, mm5_##T##_5x1, mm5_##T##_6x1, mm5_##T##_7x1, mm5_##T##_8x1};
MM512_KERNELS(f32, LD16_F32)
MM512_KERNELS(f16, LD16_F16)
MM512_KERNELS(bf16, LD16_BF16)

#define MM5_TILE_ROWS 8

/* Rows [r0, r1) against np (1 or 2) panels from p; through a scratch tile
 * when a panel is the partial last one. */
static void mm5_rows(const mm_kernel *k, const rwkv_mat *W, const float *X, int r0, int r1, float *Y, int ldy,
                     int p, int np) {
    size_t es = rd_dtype_size(W->dtype);
    const char *w = (const char *)W->w + (size_t)p * W->in * RWKV_PANEL * es;
    int cols = W->out - p * RWKV_PANEL;
    for (int r = r0; r < r1; r += MM5_TILE_ROWS) {
        int R = r1 - r < MM5_TILE_ROWS ? r1 - r : MM5_TILE_ROWS;
        const float *x = X + (size_t)r * W->in;
        mm_kernel f = k[np == 2 ? R : 8 + R];
        if (cols >= np * RWKV_PANEL) {
            f(w, W->in, x, Y + (size_t)r * ldy + p * RWKV_PANEL, ldy);
        } else {
            float t[MM5_TILE_ROWS * 2 * RWKV_PANEL];
            f(w, W->in, x, t, 2 * RWKV_PANEL);
            tile_out(t, 2 * RWKV_PANEL, R, cols, Y + (size_t)r * ldy + p * RWKV_PANEL, ldy);
        }
    }
}

static void mm_avx512(const rwkv_mat *W, const float *X, int n, float *Y, int ldy, int p0, int p1) {
    const mm_kernel *k = W->dtype == RD_F16 ? mm5_f16 : W->dtype == RD_BF16 ? mm5_bf16 : mm5_f32;
    size_t es = rd_dtype_size(W->dtype);
    int full = W->out / RWKV_PANEL;
    int p = p0;
    if (n == 1) {
        for (; p + 4 <= p1 && p + 4 <= full; p += 4)
            k[0]((const char *)W->w + (size_t)p * W->in * RWKV_PANEL * es, W->in, X, Y + p * RWKV_PANEL, ldy);
        for (; p < p1; p++) mm5_rows(k, W, X, 0, 1, Y, ldy, p, 1);
        return;
    }
    int rb = (1 << 20) / (int)(sizeof(float) * (size_t)W->in) / MM5_TILE_ROWS * MM5_TILE_ROWS;
    if (rb < MM5_TILE_ROWS) rb = MM5_TILE_ROWS;
    for (int r0 = 0; r0 < n; r0 += rb) {
        int r1 = r0 + rb < n ? r0 + rb : n;
        for (p = p0; p + 2 <= p1; p += 2) mm5_rows(k, W, X, r0, r1, Y, ldy, p, 2);
        if (p < p1) mm5_rows(k, W, X, r0, r1, Y, ldy, p, 1);
    }
}
#endif

/* ---------- state reads and writes ----------
 * fp16 state through F16C where the CPU has it (8 at a time, the same
 * round-to-nearest-even as rd_f32_to_f16, exact both ways for every finite
 * value and infinity), else rd_read_f32 / rd_write_f32. */

#ifdef RWKV_X86
AVX2 static void f16_read_f16c(const uint16_t *h, size_t n, float *out) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) out[i] = rd_f16_to_f32(h[i]);
}

AVX2 static void f16_write_f16c(uint16_t *h, size_t n, const float *in) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) h[i] = rd_f32_to_f16(in[i]);
}

static int have_f16c(void) {
    __builtin_cpu_init();
    /* every x86 CPU with AVX2 and FMA has F16C (clang 14 cannot test for it) */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

void rwkv_state_read(const void *p, rd_dtype t, size_t n, float *out) {
#ifdef RWKV_X86
    if (t == RD_F16 && have_f16c()) {
        f16_read_f16c(p, n, out);
        return;
    }
#endif
    rd_read_f32(p, t, n, out);
}

void rwkv_state_write(void *p, rd_dtype t, size_t n, const float *in) {
#ifdef RWKV_X86
    if (t == RD_F16 && have_f16c()) {
        f16_write_f16c(p, n, in);
        return;
    }
#endif
    rd_write_f32(p, t, n, in);
}

/* Y[n][W.out] = X[n][W.in] W^T on the calling thread: kind 0 the portable
 * kernel, 1 AVX2, 2 AVX-512 (falling back to the best the CPU has). For
 * tests: the dispatched kernels against the portable one. Returns the kind
 * used. */
int rwkv_mat_product(const rwkv_mat *W, const float *X, int n, float *Y, int kind) {
    mm_fn mm = mm_ref;
    int used = 0;
#ifdef RWKV_X86
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (kind >= 1 && avx2) mm = mm_avx2, used = 1;
    if (kind >= 2 && avx2 && __builtin_cpu_supports("avx512f")) mm = mm_avx512, used = 2;
#endif
    (void)kind;
    mm(W, X, n, Y, W->out, 0, (W->out + RWKV_PANEL - 1) / RWKV_PANEL);
    return used;
}

/* ---------- RWKV-7 WKV: one head of one row ----------
 * S (N x N, row i = value index) advances from src to dst (the same memory
 * or apart); y[i] = (new S) r. The vectors are the head's N-element slices
 * of the row's w, k, v, kk, ab = kk * a and r. */


static void wkv7_head_ref(const float *src, float *dst, int N, const float *w, const float *k, const float *v,
                          const float *kk, const float *ab, const float *r, float *y) {
    for (int i = 0; i < N; i++) {
        const float *s = src + (size_t)i * N;
        float *d = dst + (size_t)i * N;
        float sa = 0, acc = 0;
        for (int j = 0; j < N; j++) sa -= s[j] * kk[j];
        for (int j = 0; j < N; j++) {
            d[j] = s[j] * w[j] + sa * ab[j] + v[i] * k[j];
            acc += d[j] * r[j];
        }
        y[i] = acc;
    }
}

#ifdef RWKV_X86
/* The same with 8 lanes over j; N a multiple of 8. */
AVX2 static void wkv7_head_avx2(const float *src, float *dst, int N, const float *w, const float *k,
                                const float *v, const float *kk, const float *ab, const float *r, float *y) {
    for (int i = 0; i < N; i++) {
        const float *s = src + (size_t)i * N;
        float *d = dst + (size_t)i * N;
        __m256 sa = _mm256_setzero_ps(), acc = _mm256_setzero_ps();
        for (int j = 0; j < N; j += 8) sa = _mm256_fmadd_ps(_mm256_loadu_ps(s + j), _mm256_loadu_ps(kk + j), sa);
        __m256 sab = _mm256_set1_ps(-hsum8(sa)), vi = _mm256_set1_ps(v[i]);
        for (int j = 0; j < N; j += 8) {
            __m256 t = _mm256_fmadd_ps(sab, _mm256_loadu_ps(ab + j), _mm256_mul_ps(vi, _mm256_loadu_ps(k + j)));
            t = _mm256_fmadd_ps(_mm256_loadu_ps(s + j), _mm256_loadu_ps(w + j), t);
            _mm256_storeu_ps(d + j, t);
            acc = _mm256_fmadd_ps(t, _mm256_loadu_ps(r + j), acc);
        }
        y[i] = hsum8(acc);
    }
}
#endif

/* ---------- workspace ---------- */

typedef void (*wkv_fn)(const float *src, float *dst, int N, const float *w, const float *k, const float *v,
                       const float *kk, const float *ab, const float *r, float *y);

enum { B_X, B_XN, B_SX, B_R, B_K, B_V, B_W, B_A, B_G, B_KK, B_VF, B_Y, B_T, B_MIX0, N_CBUF = B_MIX0 + RWKV_N_MIX };

struct rwkv_workspace {
    const rwkv_model *m;
    int max_rows, threads;
    const rwkv_state_view **views; /* [2 * max_rows]: rwkv_forward's src views, then dst */
    float *mem;
    float *c[N_CBUF];      /* [max_rows][C] each */
    float *lo;             /* [max_rows][lora_max] */
    float *hid;            /* [max_rows][n_ffn] */
    float *shead;          /* per thread, one WKV head [head_size^2] */
    wkv_fn wkv;
    mm_fn mm;
    rd_pool pool;
};

rd_status rwkv_workspace_create(const rwkv_model *m, int max_rows, int threads, rwkv_workspace **out,
                                rd_error *err) {
    *out = NULL;
    if (max_rows < 1) return rd_fail(err, RD_ERR_USAGE, "rwkv workspace: max_rows must be at least 1, got %d", max_rows);
    rwkv_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) return rd_fail(err, RD_ERR_NOMEM, "out of memory for an RWKV workspace");
    ws->m = m;
    ws->max_rows = max_rows;
    ws->threads = threads;
    ws->views = malloc(2 * (size_t)max_rows * sizeof *ws->views);
    size_t R = (size_t)max_rows, C = (size_t)m->n_embd;
    size_t per = (R * C + 15) & ~(size_t)15;
    size_t lo = (R * (size_t)(m->lora_max > 0 ? m->lora_max : 1) + 15) & ~(size_t)15;
    size_t hid = (R * (size_t)m->n_ffn + 15) & ~(size_t)15;
    size_t nt = threads < 1 ? 1 : (size_t)threads;
    size_t total = per * N_CBUF + lo + hid + nt * (size_t)m->head_size * (size_t)m->head_size + 16;
    ws->mem = aligned_alloc(64, ((total * sizeof(float)) + 63) & ~(size_t)63);
    if (!ws->mem || !ws->views) {
        free(ws->mem);
        free(ws->views);
        free(ws);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for an RWKV workspace of %d rows", max_rows);
    }
    for (int i = 0; i < N_CBUF; i++) ws->c[i] = ws->mem + per * (size_t)i;
    ws->lo = ws->mem + per * N_CBUF;
    ws->hid = ws->lo + lo;
    ws->shead = ws->hid + hid;
    ws->mm = mm_ref;
    ws->wkv = wkv7_head_ref;
#ifdef RWKV_X86
    __builtin_cpu_init();
    /* every x86 CPU with AVX2 and FMA has F16C (clang 14 cannot test for it) */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        ws->mm = mm_avx2;
    if (ws->mm == mm_avx2 && __builtin_cpu_supports("avx512f")) ws->mm = mm_avx512;
    if (ws->mm != mm_ref && m->head_size % 8 == 0) ws->wkv = wkv7_head_avx2;
#endif
    rd_status st = rd_pool_start(&ws->pool, threads, err);
    if (st != RD_OK) {
        rwkv_workspace_free(ws);
        return st;
    }
    *out = ws;
    return RD_OK;
}

void rwkv_workspace_no_avx512(rwkv_workspace *ws) {
#ifdef RWKV_X86
    if (ws->mm == mm_avx512) ws->mm = mm_avx2;
#else
    (void)ws;
#endif
}

rd_status rwkv_workspace_like(const rwkv_workspace *ws, int max_rows, rwkv_workspace **out, rd_error *err) {
    RD_TRY(rwkv_workspace_create(ws->m, max_rows, ws->threads, out, err));
    (*out)->mm = ws->mm;
    return RD_OK;
}

const rwkv_model *rwkv_workspace_model(const rwkv_workspace *ws) { return ws->m; }

void rwkv_workspace_free(rwkv_workspace *ws) {
    if (!ws) return;
    rd_pool_stop(&ws->pool);
    free(ws->views);
    free(ws->mem);
    free(ws);
}

/* ---------- batched products over the pool ---------- */

typedef struct mm_job {
    mm_fn mm;
    const rwkv_mat *W;
    const float *X;
    int n;
    float *Y;
} mm_job;

static void mm_part(void *ctx, int t, int nt) {
    const mm_job *j = ctx;
    int np = (j->W->out + RWKV_PANEL - 1) / RWKV_PANEL;
    int chunk = ((np + nt - 1) / nt + 3) & ~3;
    int p0 = t * chunk, p1 = p0 + chunk < np ? p0 + chunk : np;
    if (p0 < p1) j->mm(j->W, j->X, j->n, j->Y, j->W->out, p0, p1);
}

/* Products smaller than this many multiply-adds run on the calling thread:
 * waking the pool costs more than it saves. */
#define MM_THREAD_MIN 1000000.0

/* Y[n][W.out] = X[n][W.in] times W transposed. */
static void matmul(rwkv_workspace *ws, const rwkv_mat *W, const float *X, int n, float *Y) {
    mm_job j = {ws->mm, W, X, n, Y};
    if ((double)W->out * W->in * n < MM_THREAD_MIN || ws->pool.n <= 1) mm_part(&j, 0, 1);
    else rd_pool_run(&ws->pool, mm_part, &j);
}

/* ---------- per-row pieces ---------- */

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

static void layer_norm(const float *x, const float *w, const float *b, int n, float eps, float *out) {
    float mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= (float)n;
    for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    float inv = 1.0f / sqrtf(var / (float)n + eps);
    for (int i = 0; i < n; i++) out[i] = (x[i] - mean) * inv * (w ? w[i] : 1.0f) + (b ? b[i] : 0.0f);
}

/* layer_norm of g <= 4 vectors at once: the same operations for each, the
 * four sums as independent chains (one vector's sum waits on its previous
 * add, not on the others'). Lanes g..3 must point at valid data (a copy of
 * lane 0); only lanes below g are written. */
static void layer_norm4(const float *const x[4], const float *const w[4], const float *const b[4], int g, int n,
                        float eps, float *const out[4]) {
    float mean[4] = {0, 0, 0, 0}, var[4] = {0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        mean[0] += x[0][i];
        mean[1] += x[1][i];
        mean[2] += x[2][i];
        mean[3] += x[3][i];
    }
    for (int q = 0; q < 4; q++) mean[q] /= (float)n;
    for (int i = 0; i < n; i++) {
        var[0] += (x[0][i] - mean[0]) * (x[0][i] - mean[0]);
        var[1] += (x[1][i] - mean[1]) * (x[1][i] - mean[1]);
        var[2] += (x[2][i] - mean[2]) * (x[2][i] - mean[2]);
        var[3] += (x[3][i] - mean[3]) * (x[3][i] - mean[3]);
    }
    for (int q = 0; q < g; q++) {
        float inv = 1.0f / sqrtf(var[q] / (float)n + eps);
        const float *xq = x[q], *wq = w[q], *bq = b[q];
        float *o = out[q];
        for (int i = 0; i < n; i++) o[i] = (xq[i] - mean[q]) * inv * (wq ? wq[i] : 1.0f) + (bq ? bq[i] : 0.0f);
    }
}

/* layer_norm of count vectors of n: vector s at x + s * xs, written to
 * out + s * os (may be x), weights w + s * wbs and b + s * wbs (wbs 0: the
 * same for all); four at a time. */
static void layer_norm_many(const float *x, size_t xs, int count, const float *w, const float *b, size_t wbs, int n,
                            float eps, float *out, size_t os) {
    if (count == 1) {
        layer_norm(x, w, b, n, eps, out);
        return;
    }
    for (int s0 = 0; s0 < count; s0 += 4) {
        int g = count - s0 < 4 ? count - s0 : 4;
        const float *xv[4], *wv[4], *bv[4];
        float *ov[4];
        for (int q = 0; q < 4; q++) {
            size_t s = (size_t)s0 + (size_t)(q < g ? q : 0);
            xv[q] = x + s * xs;
            wv[q] = w ? w + s * wbs : NULL;
            bv[q] = b ? b + s * wbs : NULL;
            ov[q] = out + s * os;
        }
        layer_norm4(xv, wv, bv, g, n, eps, ov);
    }
}

static void *state_at(const rwkv_state_view *v, int kind, int layer, int slot) {
    return (char *)v->base[kind] +
           ((size_t)layer * v->layer_stride[kind] + (size_t)slot * v->slot_stride[kind]) *
               rd_dtype_size(v->dtype[kind]);
}

/* Row i reads slot src_slot[i] of view src[i] and writes slot dst_slot[i]
 * of view dst[i]. */
typedef struct batch {
    int n;
    const rwkv_state_view *const *src, *const *dst;
    const int32_t *src_slot, *dst_slot;
} batch;

/* For every row: xn = LN(x); prev = shift state (read); the state takes xn.
 * Leaves xn in ws->c[B_XN] and prev in ws->c[B_SX]. */
static void shift_in(rwkv_workspace *ws, const batch *b, int l, int kind, const float *lw, const float *lb) {
    int C = ws->m->n_embd;
    layer_norm_many(ws->c[B_X], (size_t)C, b->n, lw, lb, 0, C, RWKV_LN_EPS, ws->c[B_XN], (size_t)C);
    for (int i = 0; i < b->n; i++) {
        size_t o = (size_t)i * C;
        rwkv_state_read(state_at(b->src[i], kind, l, b->src_slot[i]), b->src[i]->dtype[kind], (size_t)C,
                        ws->c[B_SX] + o);
        rwkv_state_write(state_at(b->dst[i], kind, l, b->dst_slot[i]), b->dst[i]->dtype[kind], (size_t)C,
                         ws->c[B_XN] + o);
    }
}

/* h = (h > 0 ? h : 0)^2 in place, "relu squared": portable (kind 0) or SSE
 * (1). MAXPS(h, 0) is h > 0 ? h : 0 exactly (NaN and -0 give +0), with no
 * branch to mispredict on random signs. */
static void relu_sq_ref(float *h, size_t n) {
    for (size_t e = 0; e < n; e++) {
        float z = h[e] > 0.0f ? h[e] : 0.0f; /* not fmaxf: a libm call, not vectorized */
        h[e] = z * z;
    }
}

static void relu_sq(float *h, size_t n, int kind) {
    size_t e = 0;
#ifdef RWKV_X86
    if (kind >= 1) {
        __m128 zero = _mm_setzero_ps();
        for (; e + 4 <= n; e += 4) {
            __m128 z = _mm_max_ps(_mm_loadu_ps(h + e), zero);
            _mm_storeu_ps(h + e, _mm_mul_ps(z, z));
        }
    }
#endif
    relu_sq_ref(h + e, n - e);
}

int rwkv_relu_sq(float *h, size_t n, int kind) {
#ifdef RWKV_X86
    kind = kind >= 1;
#else
    kind = 0;
#endif
    relu_sq(h, n, kind);
    return kind;
}

static void add_into(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* ---------- RWKV-7 ---------- */

enum { K7_ATT = 0, K7_WKV = 1, K7_FFN = 2 };

/* LoRA: out = up(act(down(x))); act 0 none, 1 tanh, 2 sigmoid. */
static void lora(rwkv_workspace *ws, const rwkv_mat *down, const rwkv_mat *up, int act, const float *x, int n,
                 float *out) {
    matmul(ws, down, x, n, ws->lo);
    size_t m = (size_t)n * (size_t)down->out;
    if (act == 1)
        for (size_t i = 0; i < m; i++) ws->lo[i] = tanhf(ws->lo[i]);
    if (act == 2)
        for (size_t i = 0; i < m; i++) ws->lo[i] = sigmoidf(ws->lo[i]);
    matmul(ws, up, ws->lo, n, out);
}

static void att7_inputs(rwkv_workspace *ws, const rwkv_layer *L, int l, int n) {
    const rwkv_model *m = ws->m;
    int C = m->n_embd;
    size_t nc = (size_t)n * C;
    for (int i = 0; i < n; i++) {
        float *xn = ws->c[B_XN] + (size_t)i * C, *sx = ws->c[B_SX] + (size_t)i * C;
        for (int c = 0; c < C; c++) sx[c] -= xn[c];
        for (int q = 0; q < RWKV_N_MIX; q++) {
            float *mx = ws->c[B_MIX0 + q] + (size_t)i * C;
            const float *mix = L->mix[q];
            for (int c = 0; c < C; c++) mx[c] = xn[c] + sx[c] * mix[c];
        }
    }
    matmul(ws, &L->att_r, ws->c[B_MIX0 + RWKV_MIX_R], n, ws->c[B_R]);
    matmul(ws, &L->att_k, ws->c[B_MIX0 + RWKV_MIX_K], n, ws->c[B_K]);
    matmul(ws, &L->att_v, ws->c[B_MIX0 + RWKV_MIX_V], n, ws->c[B_V]);
    lora(ws, &L->w1, &L->w2, 1, ws->c[B_MIX0 + RWKV_MIX_W], n, ws->c[B_W]);
    lora(ws, &L->a1, &L->a2, 0, ws->c[B_MIX0 + RWKV_MIX_A], n, ws->c[B_A]);
    lora(ws, &L->g1, &L->g2, 2, ws->c[B_MIX0 + RWKV_MIX_G], n, ws->c[B_G]);
    for (int i = 0; i < n; i++) {
        float *w = ws->c[B_W] + (size_t)i * C, *a = ws->c[B_A] + (size_t)i * C;
        for (int c = 0; c < C; c++) {
            w[c] = expf(-0.606531f * sigmoidf(L->w0[c] + w[c]));
            a[c] = sigmoidf(L->a0[c] + a[c]);
        }
    }
    if (l == 0) {
        memcpy(ws->c[B_VF], ws->c[B_V], nc * sizeof(float));
        return;
    }
    lora(ws, &L->v1, &L->v2, 0, ws->c[B_MIX0 + RWKV_MIX_V], n, ws->c[B_T]);
    for (int i = 0; i < n; i++) {
        float *v = ws->c[B_V] + (size_t)i * C;
        const float *vf = ws->c[B_VF] + (size_t)i * C, *t = ws->c[B_T] + (size_t)i * C;
        for (int c = 0; c < C; c++) v[c] += (vf[c] - v[c]) * sigmoidf(L->v0[c] + t[c]);
    }
}

/* kk = normalize(k * k_k) per head; ab = kk * a (kept in B_T); k *= 1 + (a-1) k_a. */
static void att7_keys(rwkv_workspace *ws, const rwkv_layer *L, int n) {
    int C = ws->m->n_embd, N = ws->m->head_size;
    for (int i = 0; i < n; i++) {
        float *k = ws->c[B_K] + (size_t)i * C, *kk = ws->c[B_KK] + (size_t)i * C;
        float *a = ws->c[B_A] + (size_t)i * C, *ab = ws->c[B_T] + (size_t)i * C;
        for (int j = 0; j < C; j++) kk[j] = k[j] * L->k_k[j];
        for (int h0 = 0; h0 < C; h0 += 4 * N) { /* four heads' sums as independent chains */
            int g = (C - h0) / N < 4 ? (C - h0) / N : 4;
            float *p[4], ss[4] = {0, 0, 0, 0};
            for (int q = 0; q < 4; q++) p[q] = kk + h0 + (q < g ? q : 0) * N;
            for (int j = 0; j < N; j++) {
                ss[0] += p[0][j] * p[0][j];
                ss[1] += p[1][j] * p[1][j];
                ss[2] += p[2][j] * p[2][j];
                ss[3] += p[3][j] * p[3][j];
            }
            for (int q = 0; q < g; q++) {
                float inv = 1.0f / fmaxf(sqrtf(ss[q]), 1e-12f);
                for (int j = 0; j < N; j++) p[q][j] *= inv;
            }
        }
        for (int j = 0; j < C; j++) {
            ab[j] = kk[j] * a[j];
            k[j] *= 1.0f + (a[j] - 1.0f) * L->k_a[j];
        }
    }
}

typedef struct att7_job {
    rwkv_workspace *ws;
    const rwkv_layer *L;
    int l;
    const batch *b;
} att7_job;

/* Row i's WKV heads: straight on fp32 state, else through scratch sh. */
static void att7_wkv_row(rwkv_workspace *ws, int l, const batch *b, int i, float *sh) {
    const rwkv_model *m = ws->m;
    int C = m->n_embd, N = m->head_size;
    size_t o = (size_t)i * C, hb = (size_t)N * N;
    rd_dtype ts = b->src[i]->dtype[K7_WKV], td = b->dst[i]->dtype[K7_WKV];
    const char *ss = state_at(b->src[i], K7_WKV, l, b->src_slot[i]);
    char *sd = state_at(b->dst[i], K7_WKV, l, b->dst_slot[i]);
    for (int h = 0; h < C; h += N) {
        size_t hi = (size_t)(h / N) * hb;
        const float *src = sh;
        float *dst = sh;
        if (ts == RD_F32) src = (const float *)ss + hi;
        else rwkv_state_read(ss + hi * 2, ts, hb, sh);
        if (td == RD_F32) dst = (float *)sd + hi;
        ws->wkv(src, dst, N, ws->c[B_W] + o + h, ws->c[B_K] + o + h, ws->c[B_V] + o + h, ws->c[B_KK] + o + h,
                ws->c[B_T] + o + h, ws->c[B_R] + o + h, ws->c[B_Y] + o + h);
        if (td != RD_F32) rwkv_state_write(sd + hi * 2, td, hb, dst);
    }
}

/* WKV, group norm, bonus term and gate for rows t, t + nt, ... */
static void att7_rows(void *ctx, int t, int nt) {
    const att7_job *j = ctx;
    rwkv_workspace *ws = j->ws;
    const rwkv_layer *L = j->L;
    int C = ws->m->n_embd, N = ws->m->head_size;
    float *sh = ws->shead + (size_t)t * N * N;
    for (int i = t; i < j->b->n; i += nt) {
        size_t o = (size_t)i * C;
        att7_wkv_row(ws, j->l, j->b, i, sh);
        float *r = ws->c[B_R] + o, *k = ws->c[B_K] + o, *v = ws->c[B_V] + o, *y = ws->c[B_Y] + o;
        const float *g = ws->c[B_G] + o;
        layer_norm_many(y, (size_t)N, C / N, L->lnx_w, L->lnx_b, (size_t)N, N, RWKV7_GN_EPS, y, (size_t)N);
        for (int h0 = 0; h0 < C; h0 += 4 * N) { /* four heads' bonus sums as independent chains */
            int nh = (C - h0) / N < 4 ? (C - h0) / N : 4;
            int hq[4];
            float bonus[4] = {0, 0, 0, 0};
            for (int q = 0; q < 4; q++) hq[q] = h0 + (q < nh ? q : 0) * N;
            for (int e = 0; e < N; e++) {
                bonus[0] += r[hq[0] + e] * k[hq[0] + e] * L->r_k[hq[0] + e];
                bonus[1] += r[hq[1] + e] * k[hq[1] + e] * L->r_k[hq[1] + e];
                bonus[2] += r[hq[2] + e] * k[hq[2] + e] * L->r_k[hq[2] + e];
                bonus[3] += r[hq[3] + e] * k[hq[3] + e] * L->r_k[hq[3] + e];
            }
            for (int q = 0; q < nh; q++)
                for (int e = hq[q]; e < hq[q] + N; e++) y[e] = (y[e] + bonus[q] * v[e]) * g[e];
        }
    }
}

/* Rows of WKV work (state elements) below which one thread does them all. */
#define WKV_THREAD_MIN 32768.0

/* WKV, group norm, bonus term and gate; x += O y. */
static void att7_out(rwkv_workspace *ws, const rwkv_layer *L, int l, const batch *b) {
    int C = ws->m->n_embd, n = b->n;
    att7_job j = {ws, L, l, b};
    if (ws->pool.n <= 1 || n < 2 || (double)n * C * ws->m->head_size < WKV_THREAD_MIN) att7_rows(&j, 0, 1);
    else rd_pool_run(&ws->pool, att7_rows, &j);
    matmul(ws, &L->att_o, ws->c[B_Y], n, ws->c[B_T]);
    add_into(ws->c[B_X], ws->c[B_T], (size_t)n * C);
}

static void ffn7(rwkv_workspace *ws, const rwkv_layer *L, int l, const batch *b) {
    int C = ws->m->n_embd, n = b->n;
    size_t nc = (size_t)n * C, nf = (size_t)n * ws->m->n_ffn;
    shift_in(ws, b, l, K7_FFN, L->ln2_w, L->ln2_b);
    for (int i = 0; i < n; i++) {
        const float *xn = ws->c[B_XN] + (size_t)i * C, *sx = ws->c[B_SX] + (size_t)i * C;
        float *xk = ws->c[B_MIX0] + (size_t)i * C;
        for (int c = 0; c < C; c++) xk[c] = xn[c] + (sx[c] - xn[c]) * L->ffn_x_k[c];
    }
    matmul(ws, &L->ffn_k, ws->c[B_MIX0], n, ws->hid);
    relu_sq(ws->hid, nf, 1);
    matmul(ws, &L->ffn_v, ws->hid, n, ws->c[B_T]);
    add_into(ws->c[B_X], ws->c[B_T], nc);
}

static void layer7(rwkv_workspace *ws, int l, const batch *b) {
    const rwkv_layer *L = &ws->m->layers[l];
    shift_in(ws, b, l, K7_ATT, L->ln1_w, L->ln1_b);
    att7_inputs(ws, L, l, b->n);
    att7_keys(ws, L, b->n);
    att7_out(ws, L, l, b);
    ffn7(ws, L, l, b);
}

/* ---------- RWKV-4 ---------- */

enum { K4_ATT = 0, K4_FFN = 1, K4_AA = 2, K4_BB = 3, K4_PP = 4 };

static void mix4(const float *xn, const float *prev, const float *mix, size_t nc, size_t C, float *out) {
    for (size_t e0 = 0; e0 < nc; e0 += C)
        for (size_t c = 0; c < C; c++) out[e0 + c] = xn[e0 + c] * mix[c] + prev[e0 + c] * (1.0f - mix[c]);
}

/* The stable WKV: per channel, aa/bb scaled by exp(-pp). Leaves r * wkv in B_Y. */
static void wkv4(rwkv_workspace *ws, const rwkv_layer *L, int l, const batch *b) {
    int C = ws->m->n_embd;
    float *aa = ws->c[B_W], *bb = ws->c[B_A], *pp = ws->c[B_G];
    for (int i = 0; i < b->n; i++) {
        size_t o = (size_t)i * C;
        const rwkv_state_view *s = b->src[i], *d = b->dst[i];
        rwkv_state_read(state_at(s, K4_AA, l, b->src_slot[i]), s->dtype[K4_AA], (size_t)C, aa + o);
        rwkv_state_read(state_at(s, K4_BB, l, b->src_slot[i]), s->dtype[K4_BB], (size_t)C, bb + o);
        rwkv_state_read(state_at(s, K4_PP, l, b->src_slot[i]), s->dtype[K4_PP], (size_t)C, pp + o);
        for (int c = 0; c < C; c++) {
            float k = ws->c[B_K][o + c], v = ws->c[B_V][o + c];
            float A = aa[o + c], B = bb[o + c], P = pp[o + c];
            /* overflow guard: pp starts at -1e30, which fp16 storage (or an
             * edited state) turns into -inf; -inf - -inf would be NaN */
            P = P < -1e30f ? -1e30f : P;
            float ww = L->time_first[c] + k, q = fmaxf(P, ww);
            float e1 = expf(P - q), e2 = expf(ww - q);
            float wkv = (e1 * A + e2 * v) / (e1 * B + e2);
            ww = P + L->time_decay[c];
            q = fmaxf(ww, k);
            e1 = expf(ww - q);
            e2 = expf(k - q);
            aa[o + c] = e1 * A + e2 * v;
            bb[o + c] = e1 * B + e2;
            pp[o + c] = q;
            ws->c[B_Y][o + c] = sigmoidf(ws->c[B_R][o + c]) * wkv;
        }
        rwkv_state_write(state_at(d, K4_AA, l, b->dst_slot[i]), d->dtype[K4_AA], (size_t)C, aa + o);
        rwkv_state_write(state_at(d, K4_BB, l, b->dst_slot[i]), d->dtype[K4_BB], (size_t)C, bb + o);
        rwkv_state_write(state_at(d, K4_PP, l, b->dst_slot[i]), d->dtype[K4_PP], (size_t)C, pp + o);
    }
}

static void layer4(rwkv_workspace *ws, int l, const batch *b) {
    const rwkv_layer *L = &ws->m->layers[l];
    int n = b->n;
    size_t C = (size_t)ws->m->n_embd, nc = (size_t)n * C, nf = (size_t)n * ws->m->n_ffn;
    float *xn = ws->c[B_XN], *sx = ws->c[B_SX], *m0 = ws->c[B_MIX0], *m1 = ws->c[B_MIX0 + 1],
          *m2 = ws->c[B_MIX0 + 2];
    shift_in(ws, b, l, K4_ATT, L->ln1_w, L->ln1_b);
    mix4(xn, sx, L->att_mix_r, nc, C, m0);
    mix4(xn, sx, L->att_mix_k, nc, C, m1);
    mix4(xn, sx, L->att_mix_v, nc, C, m2);
    matmul(ws, &L->att_r, m0, n, ws->c[B_R]);
    matmul(ws, &L->att_k, m1, n, ws->c[B_K]);
    matmul(ws, &L->att_v, m2, n, ws->c[B_V]);
    wkv4(ws, L, l, b);
    matmul(ws, &L->att_o, ws->c[B_Y], n, ws->c[B_T]);
    add_into(ws->c[B_X], ws->c[B_T], nc);

    shift_in(ws, b, l, K4_FFN, L->ln2_w, L->ln2_b);
    mix4(xn, sx, L->ffn_mix_r, nc, C, m0);
    mix4(xn, sx, L->ffn_mix_k, nc, C, m1);
    matmul(ws, &L->ffn_r, m0, n, ws->c[B_R]);
    matmul(ws, &L->ffn_k, m1, n, ws->hid);
    relu_sq(ws->hid, nf, 1);
    matmul(ws, &L->ffn_v, ws->hid, n, ws->c[B_T]);
    for (size_t e = 0; e < nc; e++) ws->c[B_X][e] += sigmoidf(ws->c[B_R][e]) * ws->c[B_T][e];
}

/* ---------- the step ---------- */

static rd_status check_view(const rwkv_state_view *v, int nk, const rwkv_kind_info *info, rd_error *err) {
    if (v->n_kinds != nk)
        return rd_fail(err, RD_ERR_INTERNAL, "rwkv_forward: state view has %d kinds, model has %d", v->n_kinds, nk);
    for (int k = 0; k < nk; k++)
        if (v->dtype[k] != RD_F32 && v->dtype[k] != RD_F16 && v->dtype[k] != RD_BF16)
            return rd_fail(err, RD_ERR_INTERNAL, "rwkv_forward: state kind %s: dtype must be f32, f16 or bf16",
                           info[k].name);
    return RD_OK;
}

static rd_status check_tokens(const rwkv_model *m, int n, const int32_t *token, rd_error *err) {
    for (int i = 0; i < n; i++)
        if (token[i] < 0 || token[i] >= m->n_vocab)
            return rd_fail(err, RD_ERR_INPUT, "rwkv_forward: row %d: token %d out of range 0..%d", i, token[i],
                           m->n_vocab - 1);
    return RD_OK;
}

rd_status rwkv_forward_check(const rwkv_model *m, int n, const int32_t *token, const rwkv_state_view *src,
                             const rwkv_state_view *dst, rd_error *err) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    int nk = rwkv_state_kinds(m, info);
    if (n < 0) return rd_fail(err, RD_ERR_INTERNAL, "rwkv_forward: %d rows", n);
    RD_TRY(check_view(src, nk, info, err));
    RD_TRY(check_view(dst, nk, info, err));
    return check_tokens(m, n, token, err);
}

rd_status rwkv_forward_rows(const rwkv_model *m, rwkv_workspace *ws, int n, const int32_t *token,
                            const rwkv_state_view *const *src, const int32_t *src_slot,
                            const rwkv_state_view *const *dst, const int32_t *dst_slot, float *logits,
                            rd_error *err) {
    if (ws->m != m) return rd_fail(err, RD_ERR_INTERNAL, "rwkv_forward: workspace made for another model");
    if (n > ws->max_rows)
        return rd_fail(err, RD_ERR_INTERNAL, "rwkv_forward: %d rows, workspace holds %d", n, ws->max_rows);
    if (n < 0) return rd_fail(err, RD_ERR_INTERNAL, "rwkv_forward: %d rows", n);
    rwkv_kind_info info[RWKV_MAX_KINDS];
    int nk = rwkv_state_kinds(m, info);
    for (int i = 0; i < n; i++) {
        if (i == 0 || src[i] != src[i - 1]) RD_TRY(check_view(src[i], nk, info, err));
        if (i == 0 || dst[i] != dst[i - 1]) RD_TRY(check_view(dst[i], nk, info, err));
    }
    RD_TRY(check_tokens(m, n, token, err));
    if (n == 0) return RD_OK;
    int C = m->n_embd;
    batch b = {n, src, dst, src_slot, dst_slot};
    for (int i = 0; i < n; i++)
        rd_read_f32((const char *)m->emb + (size_t)token[i] * C * rd_dtype_size(m->emb_dtype), m->emb_dtype,
                    (size_t)C, ws->c[B_X] + (size_t)i * C);
    layer_norm_many(ws->c[B_X], (size_t)C, n, m->ln0_w, m->ln0_b, 0, C, RWKV_LN_EPS, ws->c[B_X], (size_t)C);
    for (int l = 0; l < m->n_layer; l++) {
        if (m->version == 7) layer7(ws, l, &b);
        else layer4(ws, l, &b);
    }
    if (!logits) return RD_OK;
    layer_norm_many(ws->c[B_X], (size_t)C, n, m->ln_out_w, m->ln_out_b, 0, C, RWKV_LN_EPS, ws->c[B_XN], (size_t)C);
    matmul(ws, &m->head, ws->c[B_XN], n, logits);
    return RD_OK;
}

rd_status rwkv_forward(const rwkv_model *m, rwkv_workspace *ws, int n, const int32_t *token,
                       const rwkv_state_view *src, const int32_t *src_slot, const rwkv_state_view *dst,
                       const int32_t *dst_slot, float *logits, rd_error *err) {
    if (n < 0 || n > ws->max_rows)
        return rd_fail(err, RD_ERR_INTERNAL, "rwkv_forward: %d rows, workspace holds %d", n, ws->max_rows);
    const rwkv_state_view **sv = ws->views, **dv = ws->views + ws->max_rows;
    for (int i = 0; i < n; i++) sv[i] = src, dv[i] = dst;
    return rwkv_forward_rows(m, ws, n, token, sv, src_slot, dv, dst_slot, logits, err);
}
