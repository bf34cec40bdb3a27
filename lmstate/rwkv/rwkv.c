/* lmstate/rwkv/rwkv.c - RWKV models built from named tensors; state kinds and views.
 *
 * Three naming schemes, found by content:
 *   BlinkDL (.pth, safetensors): blocks.L.att.x_r, att.w1 [C][D] (x @ w1), ...
 *   rwkv.cpp .bin: BlinkDL names, but att.x_r..x_g fused into att.x_rwkvag
 *     [6][1][C], the LoRAs w1..g2 stored transposed (as nn.Linear weights)
 *     and RWKV-4's time_decay stored as -exp(time_decay);
 *   Hugging Face "fla": model.layers.L.attn.r_proj.weight,
 *     attn.w_lora.lora.0.weight (nn.Linear), lora.2.bias = w0, ...
 * Each tensor is looked up by its BlinkDL name, translated for fla. Loading
 * runs twice over the same code: a first pass checks names and shapes and
 * counts bytes, a second converts into the one allocation. Matrices keep the
 * file's fp16/bf16/fp32 elements and are packed in panels (rwkv_internal.h). */
#include "lmstate/rwkv/rwkv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "lmstate/rwkv/rwkv_internal.h"

typedef enum { NAMES_BLINK, NAMES_FLA } rwkv_names;

typedef struct loader {
    const tf_file *f;
    const char *fname;
    rwkv_names names;
    int lora_transposed;  /* LoRAs stored as x @ W (BlinkDL .pth/safetensors) */
    int rwkv_cpp;         /* .bin conventions (fused mixes, -exp(time_decay)) */
    unsigned char *buf;   /* NULL during the counting pass */
    size_t used;          /* bytes handed out (both passes) */
    rd_error *err;
} loader;

/* ---------- names ---------- */

static const char *const fla_map[][2] = {
    {"ln0.", "pre_norm."},
    {"ln1.", "attn_norm."},
    {"ln2.", "ffn_norm."},
    {"att.receptance.weight", "attn.r_proj.weight"},
    {"att.key.weight", "attn.k_proj.weight"},
    {"att.value.weight", "attn.v_proj.weight"},
    {"att.output.weight", "attn.o_proj.weight"},
    {"att.w1", "attn.w_lora.lora.0.weight"},
    {"att.w2", "attn.w_lora.lora.2.weight"},
    {"att.w0", "attn.w_lora.lora.2.bias"},
    {"att.a1", "attn.a_lora.lora.0.weight"},
    {"att.a2", "attn.a_lora.lora.2.weight"},
    {"att.a0", "attn.a_lora.lora.2.bias"},
    {"att.v1", "attn.v_lora.lora.0.weight"},
    {"att.v2", "attn.v_lora.lora.2.weight"},
    {"att.v0", "attn.v_lora.lora.2.bias"},
    {"att.g1", "attn.g_lora.lora.0.weight"},
    {"att.g2", "attn.g_lora.lora.2.weight"},
    {"att.ln_x.", "attn.g_norm."},
    {"att.", "attn."},
    {"ffn.", "ffn."},
};

static const char *const fla_global[][2] = {
    {"emb.weight", "model.embeddings.weight"},
    {"ln_out.weight", "model.norm.weight"},
    {"ln_out.bias", "model.norm.bias"},
    {"head.weight", "lm_head.weight"},
};

/* The file's name of BlinkDL tensor `suffix` of layer (or a global, layer < 0). */
static void tensor_name(const loader *ld, int layer, const char *suffix, char *out, size_t n) {
    if (ld->names == NAMES_BLINK) {
        if (layer < 0) snprintf(out, n, "%s", suffix);
        else snprintf(out, n, "blocks.%d.%s", layer, suffix);
        return;
    }
    if (layer < 0) {
        for (size_t i = 0; i < sizeof fla_global / sizeof *fla_global; i++)
            if (strcmp(suffix, fla_global[i][0]) == 0) {
                snprintf(out, n, "%s", fla_global[i][1]);
                return;
            }
        snprintf(out, n, "%s", suffix);
        return;
    }
    for (size_t i = 0; i < sizeof fla_map / sizeof *fla_map; i++) {
        size_t k = strlen(fla_map[i][0]);
        if (strncmp(suffix, fla_map[i][0], k) == 0) {
            snprintf(out, n, "model.layers.%d.%s%s", layer, fla_map[i][1], suffix + k);
            return;
        }
    }
    snprintf(out, n, "model.layers.%d.%s", layer, suffix);
}

static const tf_tensor *find(const loader *ld, int layer, const char *suffix, char *name, size_t n) {
    tensor_name(ld, layer, suffix, name, n);
    return tf_find(ld->f, name);
}

static void shape_text(const tf_tensor *t, char *out, size_t n) {
    size_t o = (size_t)snprintf(out, n, "[");
    for (int d = 0; d < t->ndim && o < n; d++)
        o += (size_t)snprintf(out + o, n - o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (o < n) snprintf(out + o, n - o, "]");
}

static rd_status missing(loader *ld, const char *name) {
    return rd_fail(ld->err, RD_ERR_INPUT, "%s: missing tensor %s", ld->fname, name);
}

static rd_status bad_shape(loader *ld, const tf_tensor *t, const char *want) {
    char got[96];
    shape_text(t, got, sizeof got);
    return rd_fail(ld->err, RD_ERR_INPUT, "%s: tensor %s: expected shape %s, got %s", ld->fname, t->name,
                   want, got);
}

static int is_float(rd_dtype d) { return d == RD_F32 || d == RD_F16 || d == RD_BF16 || d == RD_F64; }

/* Room for n bytes, rounded up to 64; NULL in the counting pass. */
static void *take_bytes(loader *ld, size_t n) {
    void *p = ld->buf ? ld->buf + ld->used : NULL;
    ld->used += (n + 63) & ~(size_t)63;
    return p;
}

static float *take(loader *ld, size_t n) { return take_bytes(ld, n * sizeof(float)); }

/* The precision a matrix keeps: fp16 and bf16 as they are, the rest fp32. */
static rd_dtype kept_dtype(rd_dtype t) { return t == RD_F16 || t == RD_BF16 ? t : RD_F32; }

/* Element k of t in dtype kept_dtype(t), written to dst. */
static void copy_elem(const tf_tensor *t, size_t k, void *dst) {
    const unsigned char *src = t->data;
    if (t->dtype == RD_F64) {
        double d;
        memcpy(&d, src + k * 8, 8);
        float f = (float)d;
        memcpy(dst, &f, 4);
        return;
    }
    size_t es = rd_dtype_size(t->dtype);
    memcpy(dst, src + k * es, es);
}

/* Packs t (out x in, or in x out when transposed) into panels at p. */
static void pack_mat(const tf_tensor *t, int out, int in, int transposed, unsigned char *p) {
    size_t es = rd_dtype_size(kept_dtype(t->dtype));
    size_t padded = (size_t)(out + RWKV_PANEL - 1) / RWKV_PANEL * RWKV_PANEL;
    memset(p, 0, padded * (size_t)in * es);
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) {
            size_t k = transposed ? (size_t)i * out + o : (size_t)o * in + i;
            size_t at = (size_t)(o / RWKV_PANEL) * in * RWKV_PANEL + (size_t)i * RWKV_PANEL + o % RWKV_PANEL;
            copy_elem(t, k, p + at * es);
        }
}

/* A vector of n floats: any shape with n elements and at most one dim > 1
 * (or `rows` x n when rows > 1, for the fused mixes). */
static rd_status load_vec(loader *ld, int layer, const char *suffix, size_t n, int optional,
                          const float **out) {
    char name[160];
    const tf_tensor *t = find(ld, layer, suffix, name, sizeof name);
    *out = NULL;
    if (!t) return optional ? RD_OK : missing(ld, name);
    int big = 0;
    for (int d = 0; d < t->ndim; d++) big += t->shape[d] > 1;
    if ((size_t)t->numel != n || big > 1 || !is_float(t->dtype)) {
        char want[48];
        snprintf(want, sizeof want, "[%zu]", n);
        return bad_shape(ld, t, want);
    }
    float *p = take(ld, n);
    if (p) tf_to_f32(t, p);
    *out = p;
    return RD_OK;
}

/* A matrix stored [out][in], or [in][out] when transposed; packed. */
static rd_status load_mat(loader *ld, int layer, const char *suffix, int out, int in, int transposed,
                          int optional, rwkv_mat *m) {
    char name[160];
    const tf_tensor *t = find(ld, layer, suffix, name, sizeof name);
    memset(m, 0, sizeof *m);
    if (!t) return optional ? RD_OK : missing(ld, name);
    int64_t r = transposed ? in : out, c = transposed ? out : in;
    if (t->ndim != 2 || t->shape[0] != r || t->shape[1] != c || !is_float(t->dtype)) {
        char want[48];
        snprintf(want, sizeof want, "[%lld, %lld]", (long long)r, (long long)c);
        return bad_shape(ld, t, want);
    }
    m->dtype = kept_dtype(t->dtype);
    size_t padded = (size_t)(out + RWKV_PANEL - 1) / RWKV_PANEL * RWKV_PANEL;
    unsigned char *p = take_bytes(ld, padded * (size_t)in * rd_dtype_size(m->dtype));
    if (p) pack_mat(t, out, in, transposed, p);
    m->w = p;
    m->out = out;
    m->in = in;
    return RD_OK;
}

/* LoRA rank of a down-projection (C -> D) named suffix, or 0 if absent. */
static int lora_rank(const loader *ld, int layer, const char *suffix, int C) {
    char name[160];
    const tf_tensor *t = find(ld, layer, suffix, name, sizeof name);
    if (!t || t->ndim != 2) return 0;
    return (int)(ld->lora_transposed ? t->shape[1] : t->shape[0]);
}

/* A LoRA pair: down C -> D, up D -> C. */
static rd_status load_lora(loader *ld, rwkv_model *m, int layer, const char *d1, const char *d2, int optional,
                           rwkv_mat *down, rwkv_mat *up) {
    int C = m->n_embd, D = lora_rank(ld, layer, d1, C);
    if (D <= 0) {
        char name[160];
        find(ld, layer, d1, name, sizeof name);
        if (optional && !tf_find(ld->f, name)) {
            memset(down, 0, sizeof *down);
            memset(up, 0, sizeof *up);
            return RD_OK;
        }
        D = 1; /* lets load_mat name the tensor and its shape */
    }
    if (D > m->lora_max) m->lora_max = D;
    RD_TRY(load_mat(ld, layer, d1, D, C, ld->lora_transposed, 0, down));
    return load_mat(ld, layer, d2, C, D, ld->lora_transposed, 0, up);
}

/* ---------- layers ---------- */

static rd_status load_mixes7(loader *ld, const rwkv_model *m, int l, rwkv_layer *L) {
    static const char *const names[RWKV_N_MIX] = {"att.x_r", "att.x_w", "att.x_k",
                                                  "att.x_v", "att.x_a", "att.x_g"};
    size_t C = (size_t)m->n_embd;
    char name[160];
    const tf_tensor *t = find(ld, l, "att.x_rwkvag", name, sizeof name);
    if (!t) {
        for (int k = 0; k < RWKV_N_MIX; k++) RD_TRY(load_vec(ld, l, names[k], C, 0, &L->mix[k]));
        return RD_OK;
    }
    if ((size_t)t->numel != 6 * C || t->ndim < 2 || t->shape[0] != 6 || !is_float(t->dtype)) {
        char want[48];
        snprintf(want, sizeof want, "[6, 1, %zu]", C);
        return bad_shape(ld, t, want);
    }
    float *p = take(ld, 6 * C);
    if (p) tf_to_f32(t, p);
    for (int k = 0; k < RWKV_N_MIX; k++) L->mix[k] = p ? p + (size_t)k * C : NULL;
    return RD_OK;
}

/* The matrices both versions share: attention r, k, v, output and the
 * channel mix's key [F][C] and value [C][F]. */
static rd_status load_shared_mats(loader *ld, int l, int C, int F, rwkv_layer *L) {
    RD_TRY(load_mat(ld, l, "att.receptance.weight", C, C, 0, 0, &L->att_r));
    RD_TRY(load_mat(ld, l, "att.key.weight", C, C, 0, 0, &L->att_k));
    RD_TRY(load_mat(ld, l, "att.value.weight", C, C, 0, 0, &L->att_v));
    RD_TRY(load_mat(ld, l, "att.output.weight", C, C, 0, 0, &L->att_o));
    RD_TRY(load_mat(ld, l, "ffn.key.weight", F, C, 0, 0, &L->ffn_k));
    return load_mat(ld, l, "ffn.value.weight", C, F, 0, 0, &L->ffn_v);
}

static rd_status load_layer7(loader *ld, rwkv_model *m, int l, rwkv_layer *L) {
    int C = m->n_embd, F = m->n_ffn;
    size_t c = (size_t)C;
    RD_TRY(load_mixes7(ld, m, l, L));
    RD_TRY(load_lora(ld, m, l, "att.w1", "att.w2", 0, &L->w1, &L->w2));
    RD_TRY(load_lora(ld, m, l, "att.a1", "att.a2", 0, &L->a1, &L->a2));
    RD_TRY(load_lora(ld, m, l, "att.v1", "att.v2", l == 0, &L->v1, &L->v2));
    RD_TRY(load_lora(ld, m, l, "att.g1", "att.g2", 0, &L->g1, &L->g2));
    RD_TRY(load_vec(ld, l, "att.w0", c, 0, &L->w0));
    RD_TRY(load_vec(ld, l, "att.a0", c, 0, &L->a0));
    RD_TRY(load_vec(ld, l, "att.v0", c, l == 0, &L->v0));
    RD_TRY(load_vec(ld, l, "att.k_k", c, 0, &L->k_k));
    RD_TRY(load_vec(ld, l, "att.k_a", c, 0, &L->k_a));
    RD_TRY(load_vec(ld, l, "att.ln_x.weight", c, 0, &L->lnx_w));
    RD_TRY(load_vec(ld, l, "att.ln_x.bias", c, 0, &L->lnx_b));
    RD_TRY(load_vec(ld, l, "ffn.x_k", c, 0, &L->ffn_x_k));
    /* r_k is [H][N]: any shape of C elements with the head size last */
    char name[160];
    const tf_tensor *t = find(ld, l, "att.r_k", name, sizeof name);
    if (!t) return missing(ld, name);
    if (t->numel != C || t->ndim < 1 || t->shape[t->ndim - 1] != m->head_size) {
        char want[48];
        snprintf(want, sizeof want, "[%d, %d]", m->n_head, m->head_size);
        return bad_shape(ld, t, want);
    }
    float *p = take(ld, c);
    if (p) tf_to_f32(t, p);
    L->r_k = p;
    return load_shared_mats(ld, l, C, F, L);
}

static rd_status load_layer4(loader *ld, rwkv_model *m, int l, rwkv_layer *L) {
    int C = m->n_embd, F = m->n_ffn;
    size_t c = (size_t)C;
    RD_TRY(load_vec(ld, l, "att.time_decay", c, 0, &L->time_decay));
    RD_TRY(load_vec(ld, l, "att.time_first", c, 0, &L->time_first));
    RD_TRY(load_vec(ld, l, "att.time_mix_k", c, 0, &L->att_mix_k));
    RD_TRY(load_vec(ld, l, "att.time_mix_v", c, 0, &L->att_mix_v));
    RD_TRY(load_vec(ld, l, "att.time_mix_r", c, 0, &L->att_mix_r));
    RD_TRY(load_vec(ld, l, "ffn.time_mix_k", c, 0, &L->ffn_mix_k));
    RD_TRY(load_vec(ld, l, "ffn.time_mix_r", c, 0, &L->ffn_mix_r));
    if (L->time_decay && !ld->rwkv_cpp) {
        float *td = (float *)L->time_decay;
        for (size_t i = 0; i < c; i++) td[i] = -expf(td[i]);
    }
    RD_TRY(load_shared_mats(ld, l, C, F, L));
    return load_mat(ld, l, "ffn.receptance.weight", C, C, 0, 0, &L->ffn_r);
}

/* The embedding: rows [V][C] as stored (fp16/bf16 kept, else fp32). */
static rd_status load_emb(loader *ld, rwkv_model *m) {
    char name[160];
    const tf_tensor *t = find(ld, -1, "emb.weight", name, sizeof name);
    if (!t) return missing(ld, name);
    if (!is_float(t->dtype)) return bad_shape(ld, t, "[n_vocab, n_embd] of floats");
    m->emb_dtype = kept_dtype(t->dtype);
    size_t n = (size_t)m->n_vocab * (size_t)m->n_embd, es = rd_dtype_size(m->emb_dtype);
    unsigned char *p = take_bytes(ld, n * es);
    if (p)
        for (size_t k = 0; k < n; k++) copy_elem(t, k, p + k * es);
    m->emb = p;
    return RD_OK;
}

static rd_status load_all(loader *ld, rwkv_model *m) {
    size_t c = (size_t)m->n_embd;
    ld->used = 0;
    m->lora_max = 0;
    RD_TRY(load_emb(ld, m));
    RD_TRY(load_vec(ld, 0, "ln0.weight", c, 0, &m->ln0_w));
    RD_TRY(load_vec(ld, 0, "ln0.bias", c, 0, &m->ln0_b));
    for (int l = 0; l < m->n_layer; l++) {
        rwkv_layer *L = &m->layers[l];
        RD_TRY(load_vec(ld, l, "ln1.weight", c, 0, &L->ln1_w));
        RD_TRY(load_vec(ld, l, "ln1.bias", c, 0, &L->ln1_b));
        RD_TRY(load_vec(ld, l, "ln2.weight", c, 0, &L->ln2_w));
        RD_TRY(load_vec(ld, l, "ln2.bias", c, 0, &L->ln2_b));
        RD_TRY(m->version == 7 ? load_layer7(ld, m, l, L) : load_layer4(ld, m, l, L));
    }
    RD_TRY(load_vec(ld, -1, "ln_out.weight", c, 0, &m->ln_out_w));
    RD_TRY(load_vec(ld, -1, "ln_out.bias", c, 0, &m->ln_out_b));
    return load_mat(ld, -1, "head.weight", m->n_vocab, m->n_embd, 0, 0, &m->head);
}

/* ---------- dimensions ---------- */

/* The highest layer number among the file's per-layer tensor names, or -1. */
static int last_layer(const loader *ld) {
    const char *prefix = ld->names == NAMES_BLINK ? "blocks." : "model.layers.";
    size_t k = strlen(prefix);
    int last = -1;
    for (int i = 0; i < tf_count(ld->f); i++) {
        const char *nm = tf_at(ld->f, i)->name;
        if (strncmp(nm, prefix, k) != 0 || nm[k] < '0' || nm[k] > '9') continue;
        char *end;
        long l = strtol(nm + k, &end, 10);
        if (*end == '.' && l > last && l < 1000000) last = (int)l;
    }
    return last;
}

static rd_status find_dims(loader *ld, rwkv_model *m) {
    char name[160];
    const tf_tensor *emb = find(ld, -1, "emb.weight", name, sizeof name);
    if (!emb) return missing(ld, name);
    if (emb->ndim != 2 || emb->shape[0] < 1 || emb->shape[1] < 1 || emb->shape[0] > (1 << 24) ||
        emb->shape[1] > (1 << 16))
        return bad_shape(ld, emb, "[n_vocab, n_embd]");
    m->n_vocab = (int)emb->shape[0];
    m->n_embd = (int)emb->shape[1];
    while (m->n_layer < 4096 && find(ld, m->n_layer, "ln1.weight", name, sizeof name)) m->n_layer++;
    if (m->n_layer == 0) return missing(ld, name);
    int last = last_layer(ld);
    if (last >= m->n_layer) /* a gap must not truncate the model */
        return rd_fail(ld->err, RD_ERR_INPUT, "%s: missing tensor %s (the file has tensors up to layer %d)", ld->fname,
                       name, last);
    m->version = find(ld, 0, "att.k_k", name, sizeof name) ? 7 : 4;
    const tf_tensor *fk = find(ld, 0, "ffn.key.weight", name, sizeof name);
    if (!fk) return missing(ld, name);
    if (fk->ndim != 2 || fk->shape[1] != m->n_embd || fk->shape[0] < 1 || fk->shape[0] > (1 << 20)) {
        char want[48];
        snprintf(want, sizeof want, "[n_ffn, %d]", m->n_embd);
        return bad_shape(ld, fk, want);
    }
    m->n_ffn = (int)fk->shape[0];
    if (m->version == 4) return RD_OK;
    const tf_tensor *rk = find(ld, 0, "att.r_k", name, sizeof name);
    if (!rk) return missing(ld, name);
    int64_t N = rk->ndim >= 1 ? rk->shape[rk->ndim - 1] : 0;
    if (rk->numel != m->n_embd || N < 1 || m->n_embd % N != 0) {
        char want[48];
        snprintf(want, sizeof want, "[n_head, head_size] of %d elements", m->n_embd);
        return bad_shape(ld, rk, want);
    }
    m->head_size = (int)N;
    m->n_head = m->n_embd / (int)N;
    return RD_OK;
}

rd_status rwkv_from_tensors(tf_file *f, const char *name, rwkv_model **out, rd_error *err) {
    *out = NULL;
    loader ld = {f, name ? name : "model", NAMES_BLINK, 0, 0, NULL, 0, err};
    if (!tf_find(f, "emb.weight") && tf_find(f, "model.embeddings.weight")) ld.names = NAMES_FLA;
    ld.rwkv_cpp = tf_file_format(f) == TF_RWKV_CPP;
    ld.lora_transposed = ld.names == NAMES_BLINK && !ld.rwkv_cpp;
    rwkv_model *m = calloc(1, sizeof *m);
    if (!m) return rd_fail(err, RD_ERR_NOMEM, "out of memory for an RWKV model");
    rd_status st = find_dims(&ld, m);
    if (st == RD_OK) {
        m->layers = calloc((size_t)m->n_layer, sizeof *m->layers);
        if (!m->layers) st = rd_fail(err, RD_ERR_NOMEM, "out of memory for %d layers", m->n_layer);
    }
    if (st == RD_OK) st = load_all(&ld, m);
    if (st == RD_OK) {
        m->weight_bytes = ld.used;
        m->weights = aligned_alloc(64, ld.used ? ld.used : 64);
        if (!m->weights)
            st = rd_fail(err, RD_ERR_NOMEM, "%s: out of memory for %zu MB of weights", ld.fname, ld.used >> 20);
    }
    if (st == RD_OK) {
        ld.buf = m->weights;
        st = load_all(&ld, m);
    }
    if (st != RD_OK) {
        rwkv_free(m);
        return st;
    }
    *out = m;
    return RD_OK;
}

rd_status rwkv_load(const char *path, rwkv_model **out, rd_error *err) {
    tf_file *f = NULL;
    *out = NULL;
    RD_TRY(tf_open(path, &f, err));
    rd_status st = rwkv_from_tensors(f, path, out, err);
    tf_close(f);
    return st;
}

void rwkv_free(rwkv_model *m) {
    if (!m) return;
    free(m->weights);
    free(m->layers);
    free(m);
}

int rwkv_version(const rwkv_model *m) { return m->version; }
int rwkv_n_layer(const rwkv_model *m) { return m->n_layer; }
int rwkv_n_embd(const rwkv_model *m) { return m->n_embd; }
int rwkv_n_vocab(const rwkv_model *m) { return m->n_vocab; }
int rwkv_head_size(const rwkv_model *m) { return m->version == 7 ? m->head_size : 0; }
size_t rwkv_weight_bytes(const rwkv_model *m) { return m->weight_bytes; }

/* ---------- fingerprint ---------- */

static uint64_t fnv1a_u32(uint64_t h, uint32_t v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return rd_fnv1a64(h, b, 4);
}

/* The first and last (up to) 256 bytes of n bytes at p. */
static uint64_t hash_ends(uint64_t h, const void *p, size_t n) {
    if (!p) return fnv1a_u32(h, 0);
    size_t k = n < 256 ? n : 256;
    h = rd_fnv1a64(h, p, k);
    return rd_fnv1a64(h, (const unsigned char *)p + n - k, k);
}

/* Bytes of a packed matrix: panels padded with zeros (pack_mat clears them). */
static size_t mat_bytes(const rwkv_mat *w) {
    size_t padded = (size_t)(w->out + RWKV_PANEL - 1) / RWKV_PANEL * RWKV_PANEL;
    return padded * (size_t)w->in * rd_dtype_size(w->dtype);
}

uint64_t rwkv_fingerprint(const rwkv_model *m) {
    uint64_t h = RD_FNV64_OFFSET;
    const int dims[] = {m->version, m->n_layer, m->n_embd, rwkv_head_size(m), m->n_vocab, m->n_ffn,
                        (int)m->emb_dtype, (int)m->head.dtype};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) h = fnv1a_u32(h, (uint32_t)dims[i]);
    size_t C = (size_t)m->n_embd;
    h = hash_ends(h, m->emb, (size_t)m->n_vocab * C * rd_dtype_size(m->emb_dtype));
    h = hash_ends(h, m->head.w, mat_bytes(&m->head));
    for (int l = 0; l < m->n_layer; l++) {
        h = hash_ends(h, m->layers[l].ln1_w, C * sizeof(float));
        h = hash_ends(h, m->layers[l].att_o.w, mat_bytes(&m->layers[l].att_o));
    }
    return hash_ends(h, m->ln_out_w, C * sizeof(float));
}

/* ---------- state ---------- */

int rwkv_state_kinds(const rwkv_model *m, rwkv_kind_info *info) {
    size_t C = (size_t)m->n_embd;
    if (m->version == 7) {
        info[0] = (rwkv_kind_info){"att_shift", C, 0.0f};
        info[1] = (rwkv_kind_info){"wkv", C * (size_t)m->head_size, 0.0f};
        info[2] = (rwkv_kind_info){"ffn_shift", C, 0.0f};
        return 3;
    }
    info[0] = (rwkv_kind_info){"att_shift", C, 0.0f};
    info[1] = (rwkv_kind_info){"ffn_shift", C, 0.0f};
    info[2] = (rwkv_kind_info){"aa", C, 0.0f};
    info[3] = (rwkv_kind_info){"bb", C, 0.0f};
    info[4] = (rwkv_kind_info){"pp", C, -1e30f};
    return 5;
}

size_t rwkv_state_size(const rwkv_model *m) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    int n = rwkv_state_kinds(m, info);
    size_t total = 0;
    for (int k = 0; k < n; k++) total += info[k].size;
    return total * (size_t)m->n_layer;
}

void rwkv_state_view_single(const rwkv_model *m, float *buf, rwkv_state_view *v) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    memset(v, 0, sizeof *v);
    v->n_kinds = rwkv_state_kinds(m, info);
    float *p = buf;
    for (int k = 0; k < v->n_kinds; k++) {
        v->base[k] = p;
        v->dtype[k] = RD_F32;
        v->layer_stride[k] = info[k].size;
        v->slot_stride[k] = 0;
        p += info[k].size * (size_t)m->n_layer;
    }
}

void rwkv_state_reset(const rwkv_model *m, const rwkv_state_view *v, int slot) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    int n = rwkv_state_kinds(m, info);
    for (int k = 0; k < n && k < v->n_kinds; k++) {
        size_t es = rd_dtype_size(v->dtype[k]);
        for (int l = 0; l < m->n_layer; l++) {
            char *p = (char *)v->base[k] +
                      ((size_t)l * v->layer_stride[k] + (size_t)slot * v->slot_stride[k]) * es;
            rd_fill_f32(p, v->dtype[k], info[k].size, info[k].init);
        }
    }
}
