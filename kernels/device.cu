/* kernels/device.cu - device query, error messages, the device model
 * (weights upload), state storage, workspaces, and the host side of the
 * batched step (argument checks, index uploads). Kernels live in
 * rwkv_step.cu and topk.cu. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kern_internal.cuh"

rd_status kern_cuda_fail(rd_error *err, cudaError_t e, const char *call) {
    (void)cudaGetLastError(); /* clear a sticky launch error for the next call */
    if (e == cudaErrorMemoryAllocation)
        return rd_fail(err, RD_ERR_NOMEM, "cuda: %s: %s", call, cudaGetErrorString(e));
    return rd_fail(err, RD_ERR_DEVICE, "cuda: %s: %s", call, cudaGetErrorString(e));
}

rd_status kern_alloc(void **p, size_t bytes, const char *what, rd_error *err) {
    *p = NULL;
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        *p = NULL;
        return rd_fail(err, RD_ERR_NOMEM, "cuda: out of device memory: %s: cudaMalloc of %zu bytes failed", what,
                       bytes);
    }
    if (e != cudaSuccess) return kern_cuda_fail(err, e, "cudaMalloc");
    return RD_OK;
}

/* ---------- device ---------- */

extern "C" int rd_cuda_available(rd_error *why) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        rd_fail(why, RD_ERR_DEVICE, "no cuda device: cudaGetDeviceCount: %s", cudaGetErrorString(e));
        return 0;
    }
    if (n < 1) {
        rd_fail(why, RD_ERR_DEVICE, "no cuda device: cudaGetDeviceCount found none");
        return 0;
    }
    if (why) rd_error_clear(why);
    return 1;
}

extern "C" rd_status rd_cuda_device_info(kern_device_info *out, rd_error *err) {
    memset(out, 0, sizeof *out);
    int dev = 0, clk = 0, bus = 0;
    KERN_CK(cudaGetDevice(&dev));
    cudaDeviceProp p;
    KERN_CK(cudaGetDeviceProperties(&p, dev));
    KERN_CK(cudaDeviceGetAttribute(&clk, cudaDevAttrMemoryClockRate, dev)); /* kHz */
    KERN_CK(cudaDeviceGetAttribute(&bus, cudaDevAttrGlobalMemoryBusWidth, dev)); /* bits */
    snprintf(out->name, sizeof out->name, "%s", p.name);
    out->cc_major = p.major;
    out->cc_minor = p.minor;
    out->sm_count = p.multiProcessorCount;
    out->global_bytes = p.totalGlobalMem;
    out->l2_bytes = (size_t)p.l2CacheSize;
    out->peak_bytes_per_s = 2.0 * (double)clk * 1000.0 * (double)bus / 8.0;
    return RD_OK;
}

extern "C" rd_status rd_cuda_sync(rd_error *err) {
    KERN_CK(cudaDeviceSynchronize());
    KERN_CK(cudaGetLastError());
    return RD_OK;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

extern "C" rd_status rd_cuda_copy_bandwidth(size_t bytes, int reps, double *bytes_per_s, rd_error *err) {
    *bytes_per_s = 0;
    if (reps < 1 || reps > 100 || bytes < 1024)
        return rd_fail(err, RD_ERR_USAGE, "rd_cuda_copy_bandwidth: %zu bytes %d times, expected >= 1024 bytes, 1..100 times",
                       bytes, reps);
    void *a = NULL, *b = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    float ms[100];
    rd_status st = kern_alloc(&a, bytes, "copy bandwidth source", err);
    if (st == RD_OK) st = kern_alloc(&b, bytes, "copy bandwidth destination", err);
    cudaError_t e = cudaSuccess;
    const char *call = "";
#define BW_CK(x) (e == cudaSuccess && (e = (x)) != cudaSuccess ? (call = #x, 0) : 0)
    if (st == RD_OK) {
        BW_CK(cudaMemset(a, 0x3c, bytes)); /* not zeros: a copy of zeros can run faster */
        BW_CK(cudaEventCreate(&e0));
        BW_CK(cudaEventCreate(&e1));
        BW_CK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
        for (int i = 0; i < reps && e == cudaSuccess; i++) {
            BW_CK(cudaEventRecord(e0, 0));
            BW_CK(cudaMemcpy(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice));
            BW_CK(cudaEventRecord(e1, 0));
            BW_CK(cudaEventSynchronize(e1));
            BW_CK(cudaEventElapsedTime(&ms[i], e0, e1));
        }
        if (e != cudaSuccess) st = kern_cuda_fail(err, e, call);
    }
#undef BW_CK
    if (st == RD_OK) {
        qsort(ms, (size_t)reps, sizeof *ms, cmp_float);
        double t = ms[reps / 2] * 1e-3;
        *bytes_per_s = t > 0 ? 2.0 * (double)bytes / t : 0;
    }
    if (e0) (void)cudaEventDestroy(e0);
    if (e1) (void)cudaEventDestroy(e1);
    (void)cudaFree(a);
    (void)cudaFree(b);
    return st;
}

/* ---------- model upload ---------- */

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

/* Blocks of 256 threads for a grid-stride loop over total elements: enough
 * to cover it, at most cap (no block without work). */
static unsigned blocks_for(size_t total, unsigned cap) {
    size_t b = (total + 255) / 256;
    return b < 1 ? 1 : b > cap ? cap : (unsigned)b;
}

/* Walks every tensor of the description: with dev NULL it only counts
 * bytes; otherwise it converts and copies each into dev, setting m's
 * pointers. stage is a host buffer of the largest matrix in wtype. */
typedef struct upload {
    kern_rwkv *m;
    char *dev;
    size_t used;
    void *stage;
    size_t stage_bytes;
    rd_error *err;
} upload;

static void convert_host(const float *src, size_t n, kern_dtype t, void *dst) {
    if (t == KERN_F32) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    if (t == KERN_F16)
        for (size_t i = 0; i < n; i++) ((__half *)dst)[i] = __float2half_rn(src[i]);
    else
        for (size_t i = 0; i < n; i++) ((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(src[i]);
}

static rd_status put(upload *u, const float *src, size_t n, kern_dtype t, const void **out) {
    rd_error *err = u->err;
    size_t bytes = n * kern_dtype_size(t);
    if (bytes > u->stage_bytes) u->stage_bytes = bytes;
    *out = NULL;
    if (!src) return RD_OK;
    if (u->dev) {
        convert_host(src, n, t, u->stage);
        KERN_CK(cudaMemcpy(u->dev + u->used, u->stage, bytes, cudaMemcpyHostToDevice));
        *out = u->dev + u->used;
    }
    u->used += align256(bytes);
    return RD_OK;
}

static rd_status put_mat(upload *u, const kern_mat_desc *d, kern_mat_desc *out) {
    const void *p;
    RD_TRY(put(u, d->w, (size_t)d->out * (size_t)d->in, u->m->wtype, &p));
    out->w = (const float *)p; /* points at wtype elements */
    out->out = d->w ? d->out : 0;
    out->in = d->w ? d->in : 0;
    if (d->w) u->m->mat_bytes += (size_t)d->out * (size_t)d->in * kern_dtype_size(u->m->wtype);
    return RD_OK;
}

static rd_status put_vec(upload *u, const float *src, size_t n, const float **out) {
    const void *p;
    RD_TRY(put(u, src, n, KERN_F32, &p));
    *out = (const float *)p;
    return RD_OK;
}

static rd_status put_all(upload *u, const kern_rwkv_desc *d) {
    kern_rwkv *m = u->m;
    size_t C = (size_t)d->n_embd;
    const void *p;
    m->mat_bytes = 0;
    RD_TRY(put(u, d->emb, (size_t)d->n_vocab * C, m->wtype, &p));
    m->emb = p;
    m->mat_bytes += (size_t)d->n_vocab * C * kern_dtype_size(m->wtype);
    RD_TRY(put_vec(u, d->ln0_w, C, &m->ln0_w));
    RD_TRY(put_vec(u, d->ln0_b, C, &m->ln0_b));
    RD_TRY(put_vec(u, d->ln_out_w, C, &m->ln_out_w));
    RD_TRY(put_vec(u, d->ln_out_b, C, &m->ln_out_b));
    RD_TRY(put_mat(u, &d->head, &m->head));
    for (int l = 0; l < d->n_layer; l++) {
        for (int v = 0; v < KERN_N_VEC; v++) RD_TRY(put_vec(u, d->layers[l].vec[v], C, &m->vec[l][v]));
        for (int k = 0; k < KERN_N_MAT; k++) RD_TRY(put_mat(u, &d->layers[l].mat[k], &m->mat[l][k]));
    }
    return RD_OK;
}

static const char *const vec_name[KERN_N_VEC] = {
    "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a",
    "att.x_g", "att.w0", "att.a0", "att.v0", "att.k_k", "att.k_a", "att.r_k", "att.ln_x.weight", "att.ln_x.bias",
    "ffn.x_k", "att.time_decay", "att.time_first", "att.time_mix_k", "att.time_mix_v", "att.time_mix_r",
    "ffn.time_mix_k", "ffn.time_mix_r"};
static const char *const mat_name[KERN_N_MAT] = {"att.receptance", "att.key", "att.value", "att.output",
                                                 "ffn.key", "ffn.value", "ffn.receptance", "att.w1", "att.w2",
                                                 "att.a1", "att.a2", "att.v1", "att.v2", "att.g1", "att.g2"};

/* A NaN or infinity in a tensor: RD_ERR_INPUT naming it and the element. */
static rd_status check_finite(const float *p, size_t n, int l, const char *name, rd_error *err) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i])) {
            if (l < 0)
                return rd_fail(err, RD_ERR_INPUT, "rd_cuda_rwkv_upload: %s: element %zu is %g, expected a finite value",
                               name, i, (double)p[i]);
            return rd_fail(err, RD_ERR_INPUT, "rd_cuda_rwkv_upload: layer %d: %s: element %zu is %g, expected a finite value",
                           l, name, i, (double)p[i]);
        }
    return RD_OK;
}

static rd_status check_mat(const kern_mat_desc *d, int out, int in, int k, int l, rd_error *err) {
    const char *name = mat_name[k];
    if (!d->w) return rd_fail(err, RD_ERR_INPUT, "rd_cuda_rwkv_upload: layer %d: matrix %s missing", l, name);
    if ((out > 0 && d->out != out) || (in > 0 && d->in != in) || d->out < 1 || d->in < 1)
        return rd_fail(err, RD_ERR_INPUT, "rd_cuda_rwkv_upload: layer %d: matrix %s is [%d][%d], expected [%d][%d]",
                       l, name, d->out, d->in, out, in);
    return check_finite(d->w, (size_t)d->out * (size_t)d->in, l, name, err);
}

/* The vectors a layer of this version reads: present and finite. */
static rd_status check_vecs(const kern_rwkv_desc *d, int l, rd_error *err) {
    for (int v = 0; v < KERN_N_VEC; v++) {
        int used = v <= KV_LN2_B || (d->version == 7 ? v <= KV_FFN_X_K && !(v == KV_V0 && l == 0) : v >= KV_TIME_DECAY);
        const float *p = d->layers[l].vec[v];
        if (!used) continue;
        if (!p) return rd_fail(err, RD_ERR_INPUT, "rd_cuda_rwkv_upload: layer %d: vector %s missing", l, vec_name[v]);
        RD_TRY(check_finite(p, (size_t)d->n_embd, l, vec_name[v], err));
    }
    return RD_OK;
}

static rd_status check_desc(const kern_rwkv_desc *d, rd_error *err) {
    if (d->version != 4 && d->version != 7)
        return rd_fail(err, RD_ERR_INPUT, "rd_cuda_rwkv_upload: version %d, expected 4 or 7", d->version);
    if (d->n_layer < 1 || d->n_layer > KERN_MAX_LAYERS)
        return rd_fail(err, RD_ERR_INPUT, "rd_cuda_rwkv_upload: %d layers, expected 1..%d", d->n_layer,
                       KERN_MAX_LAYERS);
    if (d->n_embd < 1 || d->n_embd % 4 || d->n_vocab < 1 || d->n_ffn < 1 || !d->emb || !d->head.w)
        return rd_fail(err, RD_ERR_INPUT, "rd_cuda_rwkv_upload: bad sizes (n_embd %d, a multiple of 4; vocab %d; ffn %d)",
                       d->n_embd, d->n_vocab, d->n_ffn);
    int N = d->head_size;
    if (d->version == 7 && ((N != 32 && N != 64 && N != 128) || d->n_embd % N))
        return rd_fail(err, RD_ERR_INPUT, "rd_cuda_rwkv_upload: head size %d, expected 32, 64 or 128 dividing %d",
                       N, d->n_embd);
    int C = d->n_embd, F = d->n_ffn;
    const float *glob[4] = {d->ln0_w, d->ln0_b, d->ln_out_w, d->ln_out_b};
    static const char *const gname[4] = {"ln0.weight", "ln0.bias", "ln_out.weight", "ln_out.bias"};
    for (int q = 0; q < 4; q++) {
        if (!glob[q]) return rd_fail(err, RD_ERR_INPUT, "rd_cuda_rwkv_upload: vector %s missing", gname[q]);
        RD_TRY(check_finite(glob[q], (size_t)C, -1, gname[q], err));
    }
    RD_TRY(check_finite(d->emb, (size_t)d->n_vocab * (size_t)C, -1, "emb.weight", err));
    if (d->head.out != d->n_vocab || d->head.in != C)
        return rd_fail(err, RD_ERR_INPUT, "rd_cuda_rwkv_upload: head is [%d][%d], expected [%d][%d]", d->head.out,
                       d->head.in, d->n_vocab, C);
    RD_TRY(check_finite(d->head.w, (size_t)d->n_vocab * (size_t)C, -1, "head.weight", err));
    for (int l = 0; l < d->n_layer; l++) {
        const kern_mat_desc *M = d->layers[l].mat;
        RD_TRY(check_vecs(d, l, err));
        RD_TRY(check_mat(&M[KM_ATT_R], C, C, KM_ATT_R, l, err));
        RD_TRY(check_mat(&M[KM_ATT_K], C, C, KM_ATT_K, l, err));
        RD_TRY(check_mat(&M[KM_ATT_V], C, C, KM_ATT_V, l, err));
        RD_TRY(check_mat(&M[KM_ATT_O], C, C, KM_ATT_O, l, err));
        RD_TRY(check_mat(&M[KM_FFN_K], F, C, KM_FFN_K, l, err));
        RD_TRY(check_mat(&M[KM_FFN_V], C, F, KM_FFN_V, l, err));
        if (d->version == 4) {
            RD_TRY(check_mat(&M[KM_FFN_R], C, C, KM_FFN_R, l, err));
            continue;
        }
        for (int q = 0; q < 8; q += 2) {
            if (q == 4 && l == 0) continue;
            RD_TRY(check_mat(&M[KM_W1 + q], 0, C, KM_W1 + q, l, err));
            RD_TRY(check_mat(&M[KM_W1 + q + 1], C, M[KM_W1 + q].out, KM_W1 + q + 1, l, err));
        }
    }
    return RD_OK;
}

static void set_kinds(kern_rwkv *m) {
    size_t C = (size_t)m->n_embd;
    if (m->version == 7) {
        m->n_kinds = 3;
        m->kind_size[0] = C;
        m->kind_size[1] = C * (size_t)m->head_size;
        m->kind_size[2] = C;
        return;
    }
    m->n_kinds = 5;
    for (int k = 0; k < 5; k++) m->kind_size[k] = C;
    m->kind_init[4] = -1e30f;
}

static int lora_max(const kern_rwkv_desc *d) {
    int mx = 1;
    for (int l = 0; l < d->n_layer; l++)
        for (int k = KM_W1; k <= KM_G1; k += 2)
            if (d->layers[l].mat[k].w && d->layers[l].mat[k].out > mx) mx = d->layers[l].mat[k].out;
    return mx;
}

extern "C" rd_status rd_cuda_rwkv_upload(const kern_rwkv_desc *d, kern_dtype wtype, kern_rwkv **out,
                                         rd_error *err) {
    *out = NULL;
    RD_TRY(check_desc(d, err));
    kern_rwkv *m = (kern_rwkv *)calloc(1, sizeof *m);
    if (!m) return rd_fail(err, RD_ERR_NOMEM, "out of memory for a device model");
    m->version = d->version;
    m->n_layer = d->n_layer;
    m->n_embd = d->n_embd;
    m->n_vocab = d->n_vocab;
    m->n_ffn = d->n_ffn;
    m->head_size = d->version == 7 ? d->head_size : 0;
    m->n_head = d->version == 7 ? d->n_embd / d->head_size : 0;
    m->wtype = wtype;
    m->lora_max = lora_max(d);
    set_kinds(m);
    upload u = {m, NULL, 0, NULL, 0, err};
    rd_status st = put_all(&u, d); /* counting pass */
    if (st == RD_OK) st = kern_alloc(&m->mem, u.used, "model weights", err);
    if (st == RD_OK && !(u.stage = malloc(u.stage_bytes)))
        st = rd_fail(err, RD_ERR_NOMEM, "out of memory: %zu bytes to stage weights", u.stage_bytes);
    if (st == RD_OK) {
        u.dev = (char *)m->mem;
        u.used = 0;
        st = put_all(&u, d);
    }
    free(u.stage);
    if (st != RD_OK) {
        rd_cuda_rwkv_free(m);
        return st;
    }
    *out = m;
    return RD_OK;
}

extern "C" void rd_cuda_rwkv_free(kern_rwkv *m) {
    if (!m) return;
    if (m->mem) (void)cudaFree(m->mem);
    free(m);
}

extern "C" size_t rd_cuda_rwkv_weight_bytes(const kern_rwkv *m) { return m->mat_bytes; }

/* ---------- state storage ---------- */

__global__ void fill_slots(void *base, kern_dtype t, size_t layer_elems, size_t first, size_t count, float v,
                           int n_layer, size_t slot_elems) {
    size_t per_layer = count * slot_elems;
    size_t total = per_layer * (size_t)n_layer;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t l = i / per_layer, e = i % per_layer;
        kern_st_t(base, t, l * layer_elems + first * slot_elems + e, v);
    }
}

extern "C" rd_status rd_cuda_state_create(const kern_rwkv *m, int n_slots, kern_dtype dtype, kern_state **out,
                                          rd_error *err) {
    *out = NULL;
    if (n_slots < 1) return rd_fail(err, RD_ERR_USAGE, "rd_cuda_state_create: %d slots, expected at least 1", n_slots);
    kern_state *s = (kern_state *)calloc(1, sizeof *s);
    if (!s) return rd_fail(err, RD_ERR_NOMEM, "out of memory for a device state");
    s->m = m;
    s->n_slots = n_slots;
    s->dtype = dtype;
    size_t total = 0, one = 0;
    for (int k = 0; k < m->n_kinds; k++) {
        total += align256(m->kind_size[k] * (size_t)m->n_layer * (size_t)n_slots * kern_dtype_size(dtype));
        one += m->kind_size[k] * (size_t)m->n_layer;
    }
    char what[96];
    snprintf(what, sizeof what, "state of %d slots", n_slots);
    rd_status st = kern_alloc(&s->mem, total + align256(one * sizeof(float)), what, err);
    if (st == RD_OK) {
        char *p = (char *)s->mem;
        for (int k = 0; k < m->n_kinds; k++) {
            s->base[k] = p;
            p += align256(m->kind_size[k] * (size_t)m->n_layer * (size_t)n_slots * kern_dtype_size(dtype));
        }
        s->scratch = (float *)p;
        st = rd_cuda_state_reset(s, 0, n_slots, err);
    }
    if (st != RD_OK) {
        rd_cuda_state_free(s);
        return st;
    }
    *out = s;
    return RD_OK;
}

extern "C" void rd_cuda_state_free(kern_state *s) {
    if (!s) return;
    if (s->mem) (void)cudaFree(s->mem);
    free(s);
}

extern "C" int rd_cuda_state_slots(const kern_state *s) { return s->n_slots; }

extern "C" size_t rd_cuda_state_slot_bytes(const kern_state *s) {
    size_t b = 0;
    for (int k = 0; k < s->m->n_kinds; k++) b += s->m->kind_size[k] * (size_t)s->m->n_layer;
    return b * kern_dtype_size(s->dtype);
}

extern "C" rd_status rd_cuda_state_reset(kern_state *s, int first, int count, rd_error *err) {
    if (first < 0 || count < 0 || first + count > s->n_slots)
        return rd_fail(err, RD_ERR_USAGE, "rd_cuda_state_reset: slots %d..%d outside 0..%d", first, first + count - 1,
                       s->n_slots - 1);
    if (count == 0) return RD_OK;
    const kern_rwkv *m = s->m;
    for (int k = 0; k < m->n_kinds; k++) {
        size_t sz = m->kind_size[k];
        KERN_LAUNCH(blocks_for(sz * (size_t)count * (size_t)m->n_layer, 1024), 256, fill_slots)(s->base[k], s->dtype, sz * (size_t)s->n_slots, (size_t)first, (size_t)count,
                                  m->kind_init[k], m->n_layer, sz);
        KERN_LAUNCHED(fill_slots);
    }
    return RD_OK;
}

/* Between one slot (all layers of kind k) and the host-layout scratch. */
__global__ void slot_to_scratch(const void *base, kern_dtype t, size_t layer_elems, size_t slot_off, size_t sz,
                                int n_layer, float *out, int dir) {
    size_t total = sz * (size_t)n_layer;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t l = i / sz, e = i % sz, at = l * layer_elems + slot_off + e;
        if (dir == 0) out[i] = kern_ld_t(base, t, at);
        else kern_st_t((void *)base, t, at, out[i]);
    }
}

static rd_status slot_io(const kern_state *s, int slot, int dir, const char *fn, rd_error *err) {
    if (slot < 0 || slot >= s->n_slots)
        return rd_fail(err, RD_ERR_USAGE, "%s: slot %d outside 0..%d", fn, slot, s->n_slots - 1);
    const kern_rwkv *m = s->m;
    float *at = s->scratch;
    for (int k = 0; k < m->n_kinds; k++) {
        size_t sz = m->kind_size[k];
        KERN_LAUNCH(blocks_for(sz * (size_t)m->n_layer, 256), 256, slot_to_scratch)(s->base[k], s->dtype, sz * (size_t)s->n_slots, (size_t)slot * sz, sz,
                                      m->n_layer, at, dir);
        KERN_LAUNCHED(slot_to_scratch);
        at += sz * (size_t)m->n_layer;
    }
    return RD_OK;
}

extern "C" rd_status rd_cuda_state_write(kern_state *s, int slot, const float *state, rd_error *err) {
    size_t bytes = rd_cuda_state_slot_bytes(s) / kern_dtype_size(s->dtype) * sizeof(float);
    KERN_CK(cudaMemcpy(s->scratch, state, bytes, cudaMemcpyHostToDevice));
    return slot_io(s, slot, 1, "rd_cuda_state_write", err);
}

extern "C" rd_status rd_cuda_state_read(const kern_state *s, int slot, float *state, rd_error *err) {
    RD_TRY(slot_io(s, slot, 0, "rd_cuda_state_read", err));
    size_t bytes = rd_cuda_state_slot_bytes(s) / kern_dtype_size(s->dtype) * sizeof(float);
    KERN_CK(cudaMemcpy(state, s->scratch, bytes, cudaMemcpyDeviceToHost));
    return RD_OK;
}

/* ---------- workspace ---------- */

extern "C" rd_status rd_cuda_workspace_create(const kern_rwkv *m, int max_rows, kern_workspace **out,
                                              rd_error *err) {
    *out = NULL;
    if (max_rows < 1 || max_rows > KERN_MAX_ROWS)
        return rd_fail(err, RD_ERR_USAGE, "rd_cuda_workspace_create: %d rows, expected 1..%d (a launch's grid limit)",
                       max_rows, KERN_MAX_ROWS);
    kern_workspace *ws = (kern_workspace *)calloc(1, sizeof *ws);
    if (!ws) return rd_fail(err, RD_ERR_NOMEM, "out of memory for a device workspace");
    ws->m = m;
    ws->max_rows = max_rows;
    size_t R = (size_t)max_rows, C = (size_t)m->n_embd;
    size_t rc = align256(R * C * 4), lo = align256(R * (size_t)m->lora_max * 4);
    size_t hid = align256(R * (size_t)m->n_ffn * 4), lg = align256(R * (size_t)m->n_vocab * 4);
    size_t ix = align256(R * 4), tk = align256(R * KERN_MAX_TOPK * 4);
    size_t total = rc * 17 + lo + hid + lg + 3 * ix + 3 * tk + ix;
    char what[96];
    snprintf(what, sizeof what, "workspace of %d rows", max_rows);
    rd_status st = kern_alloc(&ws->mem, total, what, err);
    if (st != RD_OK) {
        free(ws);
        return st;
    }
    char *p = (char *)ws->mem;
    float **cbuf[17] = {&ws->x, &ws->xn, &ws->mix[0], &ws->mix[1], &ws->mix[2], &ws->mix[3], &ws->mix[4], &ws->mix[5],
                        &ws->r, &ws->k, &ws->v, &ws->w, &ws->a, &ws->g, &ws->vf, &ws->y, &ws->t};
    for (int i = 0; i < 17; i++, p += rc) *cbuf[i] = (float *)p;
    ws->lo = (float *)p, p += lo;
    ws->hid = (float *)p, p += hid;
    ws->logits = (float *)p, p += lg;
    ws->d_token = (int32_t *)p, p += ix;
    ws->d_src = (int32_t *)p, p += ix;
    ws->d_dst = (int32_t *)p, p += ix;
    ws->d_val = (float *)p, p += tk;
    ws->d_idx = (int32_t *)p, p += tk;
    ws->d_qrow = (int32_t *)p, p += tk;
    ws->d_lse = (float *)p;
    *out = ws;
    return RD_OK;
}

extern "C" void rd_cuda_workspace_free(kern_workspace *ws) {
    if (!ws) return;
    if (ws->mem) (void)cudaFree(ws->mem);
    free(ws);
}

/* ---------- host side of the step ---------- */

static rd_status check_slots(const char *fn, const int32_t *slot, int n, const kern_state *s, const char *what,
                             rd_error *err) {
    for (int i = 0; i < n; i++)
        if (slot[i] < 0 || slot[i] >= s->n_slots)
            return rd_fail(err, RD_ERR_USAGE, "%s: row %d: %s slot %d outside 0..%d", fn, i, what, slot[i],
                           s->n_slots - 1);
    return RD_OK;
}

static rd_status check_rows(const char *fn, const kern_workspace *ws, int n, const kern_state *src,
                            const int32_t *src_slot, const kern_state *dst, const int32_t *dst_slot, rd_error *err) {
    if (n < 0 || n > ws->max_rows)
        return rd_fail(err, RD_ERR_USAGE, "%s: %d rows, workspace holds %d", fn, n, ws->max_rows);
    if (src->m != ws->m || dst->m != ws->m)
        return rd_fail(err, RD_ERR_USAGE, "%s: state made for another model", fn);
    RD_TRY(check_slots(fn, src_slot, n, src, "src", err));
    return check_slots(fn, dst_slot, n, dst, "dst", err);
}

static rd_status put_index(int32_t *dev, const int32_t *host, int n, rd_error *err) {
    KERN_CK(cudaMemcpy(dev, host, (size_t)n * sizeof(int32_t), cudaMemcpyHostToDevice));
    return RD_OK;
}

__global__ void copy_slots(const void *src, kern_dtype ts, size_t src_layer, const int32_t *src_slot, void *dst,
                           kern_dtype td, size_t dst_layer, const int32_t *dst_slot, size_t sz) {
    int row = blockIdx.y, l = blockIdx.z;
    const size_t so = l * src_layer + (size_t)src_slot[row] * sz, d0 = l * dst_layer + (size_t)dst_slot[row] * sz;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < sz; e += (size_t)gridDim.x * blockDim.x)
        kern_st_t(dst, td, d0 + e, kern_ld_t(src, ts, so + e));
}

extern "C" rd_status rd_cuda_state_copy(kern_workspace *ws, const kern_state *src, const int32_t *src_slot,
                                        kern_state *dst, const int32_t *dst_slot, int n, rd_error *err) {
    RD_TRY(check_rows("rd_cuda_state_copy", ws, n, src, src_slot, dst, dst_slot, err));
    if (n == 0) return RD_OK;
    RD_TRY(put_index(ws->d_src, src_slot, n, err));
    RD_TRY(put_index(ws->d_dst, dst_slot, n, err));
    const kern_rwkv *m = ws->m;
    for (int k = 0; k < m->n_kinds; k++) {
        size_t sz = m->kind_size[k];
        dim3 grid((unsigned)((sz + 1023) / 1024 < 64 ? (sz + 1023) / 1024 : 64), (unsigned)n, (unsigned)m->n_layer);
        KERN_LAUNCH(grid, 256, copy_slots)(src->base[k], src->dtype, sz * (size_t)src->n_slots, ws->d_src, dst->base[k],
                                  dst->dtype, sz * (size_t)dst->n_slots, ws->d_dst, sz);
        KERN_LAUNCHED(copy_slots);
    }
    return RD_OK;
}

extern "C" rd_status rd_cuda_rwkv_forward(const kern_rwkv *m, kern_workspace *ws, int n, const int32_t *token,
                                          const kern_state *src, const int32_t *src_slot, kern_state *dst,
                                          const int32_t *dst_slot, float *logits, rd_error *err) {
    static const char fn[] = "rd_cuda_rwkv_forward";
    if (ws->m != m) return rd_fail(err, RD_ERR_USAGE, "%s: workspace made for another model", fn);
    RD_TRY(check_rows(fn, ws, n, src, src_slot, dst, dst_slot, err));
    if (src->dtype != dst->dtype) return rd_fail(err, RD_ERR_USAGE, "%s: src and dst states differ in dtype", fn);
    for (int i = 0; i < n; i++)
        if (token[i] < 0 || token[i] >= m->n_vocab)
            return rd_fail(err, RD_ERR_INPUT, "%s: row %d: token %d out of range 0..%d", fn, i, token[i],
                           m->n_vocab - 1);
    ws->last_rows = n;
    if (n == 0) return RD_OK;
    RD_TRY(put_index(ws->d_token, token, n, err));
    RD_TRY(put_index(ws->d_src, src_slot, n, err));
    RD_TRY(put_index(ws->d_dst, dst_slot, n, err));
    RD_TRY(kern_rwkv_step(m, ws, n, src, dst, err));
    if (logits)
        KERN_CK(cudaMemcpy(logits, ws->logits, (size_t)n * (size_t)m->n_vocab * sizeof(float),
                           cudaMemcpyDeviceToHost));
    return RD_OK;
}

static rd_status copy_topk(int n, int k, const float *dval, const int32_t *didx, const float *dlse, float *val,
                           int32_t *idx, float *lse, rd_error *err) {
    size_t bytes = (size_t)n * (size_t)k * 4;
    KERN_CK(cudaMemcpy(val, dval, bytes, cudaMemcpyDeviceToHost));
    KERN_CK(cudaMemcpy(idx, didx, bytes, cudaMemcpyDeviceToHost));
    if (lse) KERN_CK(cudaMemcpy(lse, dlse, (size_t)n * 4, cudaMemcpyDeviceToHost));
    return RD_OK;
}

static rd_status check_k(const char *fn, int k, int cols, rd_error *err) {
    if (k < 1 || k > KERN_MAX_TOPK || k > cols)
        return rd_fail(err, RD_ERR_USAGE, "%s: k %d, expected 1..%d", fn, k, cols < KERN_MAX_TOPK ? cols : KERN_MAX_TOPK);
    return RD_OK;
}

extern "C" rd_status rd_cuda_rwkv_topk(kern_workspace *ws, int n, int k, float *logp, int32_t *idx, float *lse,
                                       rd_error *err) {
    RD_TRY(check_k("rd_cuda_rwkv_topk", k, ws->m->n_vocab, err));
    if (n < 0 || n > ws->last_rows)
        return rd_fail(err, RD_ERR_USAGE, "rd_cuda_rwkv_topk: %d rows, the last forward made %d", n, ws->last_rows);
    if (n == 0) return RD_OK;
    RD_TRY(kern_topk_rows(ws->logits, n, ws->m->n_vocab, NULL, k, 1, ws->d_val, ws->d_idx, ws->d_lse, err));
    return copy_topk(n, k, ws->d_val, ws->d_idx, ws->d_lse, logp, idx, lse, err);
}

extern "C" rd_status rd_cuda_rwkv_logp(kern_workspace *ws, int n, int nq, const int32_t *row, const int32_t *tok,
                                       float *logp, float *lse, rd_error *err) {
    static const char fn[] = "rd_cuda_rwkv_logp";
    if (n < 0 || n > ws->last_rows)
        return rd_fail(err, RD_ERR_USAGE, "%s: %d rows, the last forward made %d", fn, n, ws->last_rows);
    size_t most = (size_t)ws->max_rows * KERN_MAX_TOPK;
    if (nq < 0 || (size_t)nq > most)
        return rd_fail(err, RD_ERR_USAGE, "%s: %d queries, the workspace holds %zu", fn, nq, most);
    for (int q = 0; q < nq; q++) {
        if (row[q] < 0 || row[q] >= n)
            return rd_fail(err, RD_ERR_USAGE, "%s: query %d: row %d outside 0..%d", fn, q, row[q], n - 1);
        if (tok[q] < 0 || tok[q] >= ws->m->n_vocab)
            return rd_fail(err, RD_ERR_INPUT, "%s: query %d: token %d out of range 0..%d", fn, q, tok[q],
                           ws->m->n_vocab - 1);
    }
    if (n == 0) return RD_OK;
    if (nq > 0) {
        RD_TRY(put_index(ws->d_qrow, row, nq, err));
        RD_TRY(put_index(ws->d_idx, tok, nq, err));
    }
    RD_TRY(kern_logp_rows(ws->logits, n, ws->m->n_vocab, ws->d_qrow, ws->d_idx, nq, ws->d_val, ws->d_lse, err));
    if (nq > 0) KERN_CK(cudaMemcpy(logp, ws->d_val, (size_t)nq * sizeof(float), cudaMemcpyDeviceToHost));
    if (lse) KERN_CK(cudaMemcpy(lse, ws->d_lse, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost));
    return RD_OK;
}

/* ---------- top-k on host data ---------- */

struct kern_topk {
    int max_rows, max_cols;
    void *mem;
    float *x, *val, *lse;
    int32_t *idx, *count;
};

extern "C" rd_status rd_cuda_topk_create(int max_rows, int max_cols, kern_topk **out, rd_error *err) {
    *out = NULL;
    if (max_rows < 1 || max_cols < 1)
        return rd_fail(err, RD_ERR_USAGE, "rd_cuda_topk_create: %d rows of %d columns, expected at least 1 of 1",
                       max_rows, max_cols);
    kern_topk *t = (kern_topk *)calloc(1, sizeof *t);
    if (!t) return rd_fail(err, RD_ERR_NOMEM, "out of memory for a top-k context");
    t->max_rows = max_rows;
    t->max_cols = max_cols;
    size_t R = (size_t)max_rows, x = align256(R * (size_t)max_cols * 4), tk = align256(R * KERN_MAX_TOPK * 4);
    size_t r = align256(R * 4);
    rd_status st = kern_alloc(&t->mem, x + 2 * tk + 2 * r, "top-k buffers", err);
    if (st != RD_OK) {
        free(t);
        return st;
    }
    char *p = (char *)t->mem;
    t->x = (float *)p, p += x;
    t->val = (float *)p, p += tk;
    t->idx = (int32_t *)p, p += tk;
    t->lse = (float *)p, p += r;
    t->count = (int32_t *)p;
    *out = t;
    return RD_OK;
}

extern "C" void rd_cuda_topk_free(kern_topk *t) {
    if (!t) return;
    if (t->mem) (void)cudaFree(t->mem);
    free(t);
}

static rd_status topk_in(kern_topk *t, const char *fn, const float *x, int rows, int cols, int k, rd_error *err) {
    if (rows < 0 || rows > t->max_rows || cols < 1 || cols > t->max_cols)
        return rd_fail(err, RD_ERR_USAGE, "%s: %d rows of %d columns, context holds %d of %d", fn, rows, cols,
                       t->max_rows, t->max_cols);
    RD_TRY(check_k(fn, k, cols, err));
    if (rows > 0) KERN_CK(cudaMemcpy(t->x, x, (size_t)rows * (size_t)cols * 4, cudaMemcpyHostToDevice));
    return RD_OK;
}

extern "C" rd_status rd_cuda_logsoftmax_topk(kern_topk *t, const float *x, int rows, int cols, int k, float *logp,
                                             int32_t *idx, float *lse, rd_error *err) {
    RD_TRY(topk_in(t, "rd_cuda_logsoftmax_topk", x, rows, cols, k, err));
    if (rows == 0) return RD_OK;
    RD_TRY(kern_topk_rows(t->x, rows, cols, NULL, k, 1, t->val, t->idx, t->lse, err));
    return copy_topk(rows, k, t->val, t->idx, t->lse, logp, idx, lse, err);
}

extern "C" rd_status rd_cuda_beam_topk(kern_topk *t, const float *scores, int B, int M, const int32_t *count, int k,
                                       float *best, int32_t *idx, rd_error *err) {
    static const char fn[] = "rd_cuda_beam_topk";
    if (k < 1 || k > KERN_MAX_TOPK)
        return rd_fail(err, RD_ERR_USAGE, "%s: k %d, expected 1..%d", fn, k, KERN_MAX_TOPK);
    RD_TRY(topk_in(t, fn, scores, B, M, k < M ? k : M, err));
    if (B == 0) return RD_OK;
    if (count) {
        for (int b = 0; b < B; b++)
            if (count[b] < 0 || count[b] > M)
                return rd_fail(err, RD_ERR_USAGE, "%s: utterance %d: count %d outside 0..%d", fn, b, count[b], M);
        KERN_CK(cudaMemcpy(t->count, count, (size_t)B * 4, cudaMemcpyHostToDevice));
    }
    RD_TRY(kern_topk_rows(t->x, B, M, count ? t->count : NULL, k, 0, t->val, t->idx, NULL, err));
    return copy_topk(B, k, t->val, t->idx, NULL, best, idx, NULL, err);
}
