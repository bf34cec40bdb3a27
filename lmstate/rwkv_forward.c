/* lmstate/rwkv_forward.c - batched RWKV-7 / RWKV-4 steps on the CPU.
 *
 * A batch of n rows moves through the network together: the big products
 * are matrix-matrix (each weight row is read once per block of 64 rows), the
 * per-row parts (layer norms, WKV) are plain loops. Products split their
 * output rows over a small pthread pool owned by the workspace. Each output
 * element is computed in the same order whatever the batch size or thread
 * count, so a row's result does not depend on the rows beside it.
 *
 * Semantics follow the rwkv package's RWKV_x070 and RWKV-4 (numerically
 * stable aa/bb/pp form) one-token paths. */
#include "lmstate/rwkv.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lmstate/rwkv_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define RWKV_X86 1
#endif

/* ---------- matrix products: Y[r][o] = sum_i W[o][i] X[r][i] ---------- */

typedef void (*mm_fn)(const float *W, int in, const float *X, int n, float *Y, int ldy, int o0, int o1);

#define MM_ROW_BLOCK 64

static float dot_ref(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Portable reference: one dot product per element. */
static void mm_ref(const float *W, int in, const float *X, int n, float *Y, int ldy, int o0, int o1) {
    for (int r0 = 0; r0 < n; r0 += MM_ROW_BLOCK) {
        int r1 = r0 + MM_ROW_BLOCK < n ? r0 + MM_ROW_BLOCK : n;
        for (int o = o0; o < o1; o++)
            for (int r = r0; r < r1; r++)
                Y[(size_t)r * ldy + o] = dot_ref(W + (size_t)o * in, X + (size_t)r * in, in);
    }
}

#ifdef RWKV_X86
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* R rows of X against 4 rows of W (R = 1..3: 4R accumulators stay in the
 * 16 ymm registers), 8 lanes per element. */
#define MM_KERNEL(NAME, R)                                                                     \
    AVX2 static void NAME(const float *W, int in, const float *X, float *Y, int ldy) {        \
        __m256 acc[4][R];                                                                      \
        for (int a = 0; a < 4; a++)                                                            \
            for (int b = 0; b < R; b++) acc[a][b] = _mm256_setzero_ps();                       \
        int i = 0;                                                                             \
        for (; i + 8 <= in; i += 8) {                                                          \
            __m256 x[R];                                                                       \
            for (int b = 0; b < R; b++) x[b] = _mm256_loadu_ps(X + (size_t)b * in + i);        \
            for (int a = 0; a < 4; a++) {                                                      \
                __m256 w = _mm256_loadu_ps(W + (size_t)a * in + i);                            \
                for (int b = 0; b < R; b++) acc[a][b] = _mm256_fmadd_ps(w, x[b], acc[a][b]);   \
            }                                                                                  \
        }                                                                                      \
        for (int a = 0; a < 4; a++)                                                            \
            for (int b = 0; b < R; b++) {                                                      \
                float s = hsum8(acc[a][b]);                                                    \
                for (int j = i; j < in; j++) s += W[(size_t)a * in + j] * X[(size_t)b * in + j]; \
                Y[(size_t)b * ldy + a] = s;                                                    \
            }                                                                                  \
    }
MM_KERNEL(mm_4x3, 3)
MM_KERNEL(mm_4x1, 1)

AVX2 static void mm_1x1(const float *W, int in, const float *X, float *Y) {
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= in; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(W + i), _mm256_loadu_ps(X + i), acc);
    float s = hsum8(acc);
    for (; i < in; i++) s += W[i] * X[i];
    *Y = s;
}

AVX2 static void mm_avx2(const float *W, int in, const float *X, int n, float *Y, int ldy, int o0, int o1) {
    for (int r0 = 0; r0 < n; r0 += MM_ROW_BLOCK) {
        int r1 = r0 + MM_ROW_BLOCK < n ? r0 + MM_ROW_BLOCK : n;
        int o = o0;
        for (; o + 4 <= o1; o += 4) {
            const float *w = W + (size_t)o * in;
            int r = r0;
            for (; r + 3 <= r1; r += 3) mm_4x3(w, in, X + (size_t)r * in, Y + (size_t)r * ldy + o, ldy);
            for (; r < r1; r++) mm_4x1(w, in, X + (size_t)r * in, Y + (size_t)r * ldy + o, ldy);
        }
        for (; o < o1; o++)
            for (int r = r0; r < r1; r++)
                mm_1x1(W + (size_t)o * in, in, X + (size_t)r * in, Y + (size_t)r * ldy + o);
    }
}
#endif

/* ---------- thread pool ---------- */

typedef void (*job_fn)(void *ctx, int t, int nt);

typedef struct pool {
    int n;                 /* threads including the caller */
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned gen;
    int pending, quit;
    job_fn fn;
    void *ctx;
} pool;

typedef struct worker_arg {
    pool *p;
    int t;
} worker_arg;

static void *worker(void *arg) {
    worker_arg *wa = arg;
    pool *p = wa->p;
    unsigned seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        pthread_mutex_unlock(&p->mu);
        p->fn(p->ctx, wa->t, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pool_run(pool *p, job_fn fn, void *ctx) {
    if (p->n <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* ---------- workspace ---------- */

enum { B_X, B_XN, B_SX, B_R, B_K, B_V, B_W, B_A, B_G, B_KK, B_VF, B_Y, B_T, B_MIX0, N_CBUF = B_MIX0 + RWKV_N_MIX };

struct rwkv_workspace {
    const rwkv_model *m;
    int max_rows;
    float *mem;
    float *c[N_CBUF];      /* [max_rows][C] each */
    float *lo;             /* [max_rows][lora_max] */
    float *hid;            /* [max_rows][n_ffn] */
    float *srow;           /* one WKV row, [head_size] */
    mm_fn mm;
    pool pool;
    worker_arg *args;
};

static void pool_stop(pool *p, int started) {
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < started; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p->th);
}

static rd_status pool_start(rwkv_workspace *ws, int threads, rd_error *err) {
    pool *p = &ws->pool;
    p->n = threads < 1 ? 1 : threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->th = calloc((size_t)p->n, sizeof *p->th);
    ws->args = calloc((size_t)p->n, sizeof *ws->args);
    if (!p->th || !ws->args) return rd_fail(err, RD_ERR_NOMEM, "out of memory for %d threads", p->n);
    for (int i = 1; i < p->n; i++) {
        ws->args[i] = (worker_arg){p, i};
        if (pthread_create(&p->th[i - 1], NULL, worker, &ws->args[i]) != 0) {
            p->n = i;
            return rd_fail(err, RD_ERR_NOMEM, "cannot start thread %d of %d", i + 1, threads);
        }
    }
    return RD_OK;
}

rd_status rwkv_workspace_create(const rwkv_model *m, int max_rows, int threads, rwkv_workspace **out,
                                rd_error *err) {
    *out = NULL;
    if (max_rows < 1) return rd_fail(err, RD_ERR_USAGE, "rwkv workspace: max_rows must be at least 1, got %d", max_rows);
    rwkv_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) return rd_fail(err, RD_ERR_NOMEM, "out of memory for an RWKV workspace");
    ws->m = m;
    ws->max_rows = max_rows;
    size_t R = (size_t)max_rows, C = (size_t)m->n_embd;
    size_t per = (R * C + 15) & ~(size_t)15;
    size_t lo = (R * (size_t)(m->lora_max > 0 ? m->lora_max : 1) + 15) & ~(size_t)15;
    size_t hid = (R * (size_t)m->n_ffn + 15) & ~(size_t)15;
    size_t total = per * N_CBUF + lo + hid + (size_t)m->head_size + 16;
    ws->mem = aligned_alloc(64, ((total * sizeof(float)) + 63) & ~(size_t)63);
    if (!ws->mem) {
        free(ws);
        return rd_fail(err, RD_ERR_NOMEM, "out of memory for an RWKV workspace of %d rows", max_rows);
    }
    for (int i = 0; i < N_CBUF; i++) ws->c[i] = ws->mem + per * (size_t)i;
    ws->lo = ws->mem + per * N_CBUF;
    ws->hid = ws->lo + lo;
    ws->srow = ws->hid + hid;
    ws->mm = mm_ref;
#ifdef RWKV_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ws->mm = mm_avx2;
#endif
    rd_status st = pool_start(ws, threads, err);
    if (st != RD_OK) {
        rwkv_workspace_free(ws);
        return st;
    }
    *out = ws;
    return RD_OK;
}

void rwkv_workspace_free(rwkv_workspace *ws) {
    if (!ws) return;
    if (ws->pool.th) pool_stop(&ws->pool, ws->pool.n - 1);
    free(ws->args);
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
    int out = j->W->out;
    int chunk = ((out + nt - 1) / nt + 3) & ~3;
    int o0 = t * chunk, o1 = o0 + chunk < out ? o0 + chunk : out;
    if (o0 < o1) j->mm(j->W->w, j->W->in, j->X, j->n, j->Y, out, o0, o1);
}

/* Y[n][W.out] = X[n][W.in] times W transposed. */
static void matmul(rwkv_workspace *ws, const rwkv_mat *W, const float *X, int n, float *Y) {
    mm_job j = {ws->mm, W, X, n, Y};
    if ((double)W->out * W->in * n < 65536.0 || ws->pool.n <= 1) mm_part(&j, 0, 1);
    else pool_run(&ws->pool, mm_part, &j);
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

static void *state_at(const rwkv_state_view *v, int kind, int layer, int slot) {
    return (char *)v->base[kind] +
           ((size_t)layer * v->layer_stride[kind] + (size_t)slot * v->slot_stride[kind]) *
               rwkv_elem_size(v->dtype[kind]);
}

typedef struct batch {
    int n;
    const rwkv_state_view *src, *dst;
    const int32_t *src_slot, *dst_slot;
} batch;

/* For every row: xn = LN(x); prev = shift state (read); the state takes xn.
 * Leaves xn in ws->c[B_XN] and prev in ws->c[B_SX]. */
static void shift_in(rwkv_workspace *ws, const batch *b, int l, int kind, const float *lw, const float *lb) {
    int C = ws->m->n_embd;
    for (int i = 0; i < b->n; i++) {
        size_t o = (size_t)i * C;
        layer_norm(ws->c[B_X] + o, lw, lb, C, RWKV_LN_EPS, ws->c[B_XN] + o);
        rwkv_read(state_at(b->src, kind, l, b->src_slot[i]), b->src->dtype[kind], (size_t)C, ws->c[B_SX] + o);
        rwkv_write(state_at(b->dst, kind, l, b->dst_slot[i]), b->dst->dtype[kind], (size_t)C, ws->c[B_XN] + o);
    }
}

static void add_into(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* ---------- RWKV-7 ---------- */

enum { K7_ATT = 0, K7_WKV = 1, K7_FFN = 2 };

/* One head of one row: S (N x N, row i = value index) advances; out[i] = S r. */
static void wkv7_head(rwkv_workspace *ws, const float *r, const float *w, const float *k, const float *v,
                      const float *kk, const float *ab, const void *s_src, void *s_dst, rd_dtype ts,
                      rd_dtype td, float *out) {
    int N = ws->m->head_size;
    float *s = ws->srow;
    for (int i = 0; i < N; i++) {
        rwkv_read((const char *)s_src + (size_t)i * N * rwkv_elem_size(ts), ts, (size_t)N, s);
        float sa = 0;
        for (int j = 0; j < N; j++) sa -= s[j] * kk[j];
        float y = 0;
        for (int j = 0; j < N; j++) {
            s[j] = s[j] * w[j] + sa * ab[j] + v[i] * k[j];
            y += s[j] * r[j];
        }
        out[i] = y;
        rwkv_write((char *)s_dst + (size_t)i * N * rwkv_elem_size(td), td, (size_t)N, s);
    }
}

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
    float *xn = ws->c[B_XN], *sx = ws->c[B_SX];
    for (size_t e = 0; e < nc; e++) sx[e] -= xn[e];
    for (int q = 0; q < RWKV_N_MIX; q++) {
        float *mx = ws->c[B_MIX0 + q];
        const float *mix = L->mix[q];
        for (size_t e = 0; e < nc; e++) mx[e] = xn[e] + sx[e] * mix[e % (size_t)C];
    }
    matmul(ws, &L->att_r, ws->c[B_MIX0 + RWKV_MIX_R], n, ws->c[B_R]);
    matmul(ws, &L->att_k, ws->c[B_MIX0 + RWKV_MIX_K], n, ws->c[B_K]);
    matmul(ws, &L->att_v, ws->c[B_MIX0 + RWKV_MIX_V], n, ws->c[B_V]);
    lora(ws, &L->w1, &L->w2, 1, ws->c[B_MIX0 + RWKV_MIX_W], n, ws->c[B_W]);
    lora(ws, &L->a1, &L->a2, 0, ws->c[B_MIX0 + RWKV_MIX_A], n, ws->c[B_A]);
    lora(ws, &L->g1, &L->g2, 2, ws->c[B_MIX0 + RWKV_MIX_G], n, ws->c[B_G]);
    float *w = ws->c[B_W], *a = ws->c[B_A], *v = ws->c[B_V], *vf = ws->c[B_VF], *t = ws->c[B_T];
    for (size_t e = 0; e < nc; e++) {
        size_t c = e % (size_t)C;
        w[e] = expf(-0.606531f * sigmoidf(L->w0[c] + w[e]));
        a[e] = sigmoidf(L->a0[c] + a[e]);
    }
    if (l == 0) {
        memcpy(vf, v, nc * sizeof *v);
        return;
    }
    lora(ws, &L->v1, &L->v2, 0, ws->c[B_MIX0 + RWKV_MIX_V], n, t);
    for (size_t e = 0; e < nc; e++) v[e] += (vf[e] - v[e]) * sigmoidf(L->v0[e % (size_t)C] + t[e]);
}

/* kk = normalize(k * k_k) per head; ab = kk * a (kept in B_T); k *= 1 + (a-1) k_a. */
static void att7_keys(rwkv_workspace *ws, const rwkv_layer *L, int n) {
    int C = ws->m->n_embd, N = ws->m->head_size;
    for (int i = 0; i < n; i++) {
        float *k = ws->c[B_K] + (size_t)i * C, *kk = ws->c[B_KK] + (size_t)i * C;
        float *a = ws->c[B_A] + (size_t)i * C, *ab = ws->c[B_T] + (size_t)i * C;
        for (int h = 0; h < C; h += N) {
            float ss = 0;
            for (int j = h; j < h + N; j++) {
                kk[j] = k[j] * L->k_k[j];
                ss += kk[j] * kk[j];
            }
            float inv = 1.0f / fmaxf(sqrtf(ss), 1e-12f);
            for (int j = h; j < h + N; j++) kk[j] *= inv;
        }
        for (int j = 0; j < C; j++) {
            ab[j] = kk[j] * a[j];
            k[j] *= 1.0f + (a[j] - 1.0f) * L->k_a[j];
        }
    }
}

/* WKV, group norm, bonus term and gate; x += O y. */
static void att7_out(rwkv_workspace *ws, const rwkv_layer *L, int l, const batch *b) {
    const rwkv_model *m = ws->m;
    int C = m->n_embd, N = m->head_size, n = b->n;
    size_t hb = (size_t)N * N;
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * C;
        const char *ss = state_at(b->src, K7_WKV, l, b->src_slot[i]);
        char *sd = state_at(b->dst, K7_WKV, l, b->dst_slot[i]);
        size_t es = rwkv_elem_size(b->src->dtype[K7_WKV]), ed = rwkv_elem_size(b->dst->dtype[K7_WKV]);
        float *r = ws->c[B_R] + o, *k = ws->c[B_K] + o, *v = ws->c[B_V] + o, *y = ws->c[B_Y] + o;
        for (int h = 0; h < C; h += N)
            wkv7_head(ws, r + h, ws->c[B_W] + o + h, k + h, v + h, ws->c[B_KK] + o + h, ws->c[B_T] + o + h,
                      ss + (size_t)(h / N) * hb * es, sd + (size_t)(h / N) * hb * ed, b->src->dtype[K7_WKV],
                      b->dst->dtype[K7_WKV], y + h);
        for (int h = 0; h < C; h += N) {
            layer_norm(y + h, L->lnx_w + h, L->lnx_b + h, N, RWKV7_GN_EPS, y + h);
            float bonus = 0;
            for (int j = h; j < h + N; j++) bonus += r[j] * k[j] * L->r_k[j];
            for (int j = h; j < h + N; j++) y[j] = (y[j] + bonus * v[j]) * ws->c[B_G][o + j];
        }
    }
    matmul(ws, &L->att_o, ws->c[B_Y], n, ws->c[B_T]);
    add_into(ws->c[B_X], ws->c[B_T], (size_t)n * C);
}

static void ffn7(rwkv_workspace *ws, const rwkv_layer *L, int l, const batch *b) {
    int C = ws->m->n_embd, n = b->n;
    size_t nc = (size_t)n * C, nf = (size_t)n * ws->m->n_ffn;
    shift_in(ws, b, l, K7_FFN, L->ln2_w, L->ln2_b);
    float *xn = ws->c[B_XN], *sx = ws->c[B_SX], *xk = ws->c[B_MIX0];
    for (size_t e = 0; e < nc; e++) xk[e] = xn[e] + (sx[e] - xn[e]) * L->ffn_x_k[e % (size_t)C];
    matmul(ws, &L->ffn_k, xk, n, ws->hid);
    for (size_t e = 0; e < nf; e++) {
        float z = ws->hid[e] > 0 ? ws->hid[e] : 0;
        ws->hid[e] = z * z;
    }
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
    for (size_t e = 0; e < nc; e++) {
        float m = mix[e % C];
        out[e] = xn[e] * m + prev[e] * (1.0f - m);
    }
}

/* The stable WKV: per channel, aa/bb scaled by exp(-pp). Leaves r * wkv in B_Y. */
static void wkv4(rwkv_workspace *ws, const rwkv_layer *L, int l, const batch *b) {
    int C = ws->m->n_embd;
    float *aa = ws->c[B_W], *bb = ws->c[B_A], *pp = ws->c[B_G];
    for (int i = 0; i < b->n; i++) {
        size_t o = (size_t)i * C;
        const rwkv_state_view *s = b->src, *d = b->dst;
        rwkv_read(state_at(s, K4_AA, l, b->src_slot[i]), s->dtype[K4_AA], (size_t)C, aa + o);
        rwkv_read(state_at(s, K4_BB, l, b->src_slot[i]), s->dtype[K4_BB], (size_t)C, bb + o);
        rwkv_read(state_at(s, K4_PP, l, b->src_slot[i]), s->dtype[K4_PP], (size_t)C, pp + o);
        for (int c = 0; c < C; c++) {
            float k = ws->c[B_K][o + c], v = ws->c[B_V][o + c];
            float A = aa[o + c], B = bb[o + c], P = pp[o + c];
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
        rwkv_write(state_at(d, K4_AA, l, b->dst_slot[i]), d->dtype[K4_AA], (size_t)C, aa + o);
        rwkv_write(state_at(d, K4_BB, l, b->dst_slot[i]), d->dtype[K4_BB], (size_t)C, bb + o);
        rwkv_write(state_at(d, K4_PP, l, b->dst_slot[i]), d->dtype[K4_PP], (size_t)C, pp + o);
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
    for (size_t e = 0; e < nf; e++) {
        float z = ws->hid[e] > 0 ? ws->hid[e] : 0;
        ws->hid[e] = z * z;
    }
    matmul(ws, &L->ffn_v, ws->hid, n, ws->c[B_T]);
    for (size_t e = 0; e < nc; e++) ws->c[B_X][e] += sigmoidf(ws->c[B_R][e]) * ws->c[B_T][e];
}

/* ---------- the step ---------- */

static rd_status check_args(const rwkv_model *m, rwkv_workspace *ws, int n, const int32_t *token,
                            const rwkv_state_view *src, const rwkv_state_view *dst, rd_error *err) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    int nk = rwkv_state_kinds(m, info);
    if (ws->m != m) return rd_fail(err, RD_ERR_INTERNAL, "rwkv_forward: workspace made for another model");
    if (n < 0 || n > ws->max_rows)
        return rd_fail(err, RD_ERR_INTERNAL, "rwkv_forward: %d rows, workspace holds %d", n, ws->max_rows);
    if (src->n_kinds != nk || dst->n_kinds != nk)
        return rd_fail(err, RD_ERR_INTERNAL, "rwkv_forward: state view has %d kinds, model has %d",
                       src->n_kinds != nk ? src->n_kinds : dst->n_kinds, nk);
    for (int k = 0; k < nk; k++)
        if ((src->dtype[k] != RD_F32 && src->dtype[k] != RD_F16 && src->dtype[k] != RD_BF16) ||
            (dst->dtype[k] != RD_F32 && dst->dtype[k] != RD_F16 && dst->dtype[k] != RD_BF16))
            return rd_fail(err, RD_ERR_INTERNAL, "rwkv_forward: state kind %s: dtype must be f32, f16 or bf16",
                           info[k].name);
    for (int i = 0; i < n; i++)
        if (token[i] < 0 || token[i] >= m->n_vocab)
            return rd_fail(err, RD_ERR_INPUT, "rwkv_forward: row %d: token %d out of range 0..%d", i, token[i],
                           m->n_vocab - 1);
    return RD_OK;
}

rd_status rwkv_forward(const rwkv_model *m, rwkv_workspace *ws, int n, const int32_t *token,
                       const rwkv_state_view *src, const int32_t *src_slot, const rwkv_state_view *dst,
                       const int32_t *dst_slot, float *logits, rd_error *err) {
    RD_TRY(check_args(m, ws, n, token, src, dst, err));
    if (n == 0) return RD_OK;
    int C = m->n_embd;
    batch b = {n, src, dst, src_slot, dst_slot};
    for (int i = 0; i < n; i++)
        layer_norm(m->emb + (size_t)token[i] * C, m->ln0_w, m->ln0_b, C, RWKV_LN_EPS, ws->c[B_X] + (size_t)i * C);
    for (int l = 0; l < m->n_layer; l++) {
        if (m->version == 7) layer7(ws, l, &b);
        else layer4(ws, l, &b);
    }
    if (!logits) return RD_OK;
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * C;
        layer_norm(ws->c[B_X] + o, m->ln_out_w, m->ln_out_b, C, RWKV_LN_EPS, ws->c[B_XN] + o);
    }
    matmul(ws, &m->head, ws->c[B_XN], n, logits);
    return RD_OK;
}
