/* lmstate/rwkv/rwkv_cuda.c - see rwkv_cuda.h. */
#include "lmstate/rwkv/rwkv_cuda.h"

#include <stdlib.h>
#include <string.h>

#include "lmstate/rwkv/rwkv_internal.h"

typedef struct bridge {
    kern_rwkv_desc d;
    kern_layer_desc *L;
    float **buf; /* fp32 copies to free */
    int nbuf, cap;
    rd_error *err;
} bridge;

static float *keep(bridge *b, size_t n) {
    float *p = n ? malloc(n * sizeof(float)) : NULL;
    if (!p) return NULL;
    b->buf[b->nbuf++] = p;
    return p;
}

/* Unpacks RWKV_PANEL panels into a plain [out][in] fp32 matrix. */
static rd_status unpack(bridge *b, const rwkv_mat *m, kern_mat_desc *out) {
    memset(out, 0, sizeof *out);
    if (!m->w) return RD_OK;
    float *w = keep(b, (size_t)m->out * (size_t)m->in);
    if (!w)
        return rd_fail(b->err, RD_ERR_NOMEM, "out of memory: %zu bytes to stage a [%d][%d] matrix for the device",
                       (size_t)m->out * (size_t)m->in * sizeof(float), m->out, m->in);
    for (int o = 0; o < m->out; o++)
        for (int i = 0; i < m->in; i++)
            w[(size_t)o * m->in + i] = rd_load_f32(m->w, m->dtype,
                                              (size_t)(o / RWKV_PANEL) * m->in * RWKV_PANEL +
                                                  (size_t)i * RWKV_PANEL + o % RWKV_PANEL);
    *out = (kern_mat_desc){w, m->out, m->in};
    return RD_OK;
}

static rd_status describe(const rwkv_model *m, bridge *b) {
    kern_rwkv_desc *d = &b->d;
    d->version = m->version, d->n_layer = m->n_layer, d->n_embd = m->n_embd;
    d->n_vocab = m->n_vocab, d->n_ffn = m->n_ffn, d->head_size = m->head_size;
    size_t VC = (size_t)m->n_vocab * (size_t)m->n_embd;
    float *emb = keep(b, VC);
    if (!emb) return rd_fail(b->err, RD_ERR_NOMEM, "out of memory: %zu bytes to stage the embedding", VC * 4);
    for (size_t i = 0; i < VC; i++) emb[i] = rd_load_f32(m->emb, m->emb_dtype, i);
    d->emb = emb, d->ln0_w = m->ln0_w, d->ln0_b = m->ln0_b;
    d->ln_out_w = m->ln_out_w, d->ln_out_b = m->ln_out_b;
    RD_TRY(unpack(b, &m->head, &d->head));
    d->layers = b->L;
    for (int l = 0; l < m->n_layer; l++) {
        const rwkv_layer *s = &m->layers[l];
        kern_layer_desc *t = &b->L[l];
        const float *v[KERN_N_VEC] = {s->ln1_w, s->ln1_b, s->ln2_w, s->ln2_b, s->mix[0], s->mix[1], s->mix[2],
                                      s->mix[3], s->mix[4], s->mix[5], s->w0, s->a0, s->v0, s->k_k, s->k_a, s->r_k,
                                      s->lnx_w, s->lnx_b, s->ffn_x_k, s->time_decay, s->time_first, s->att_mix_k,
                                      s->att_mix_v, s->att_mix_r, s->ffn_mix_k, s->ffn_mix_r};
        memcpy(t->vec, v, sizeof v);
        const rwkv_mat *mm[KERN_N_MAT] = {&s->att_r, &s->att_k, &s->att_v, &s->att_o, &s->ffn_k, &s->ffn_v,
                                          &s->ffn_r, &s->w1, &s->w2, &s->a1, &s->a2, &s->v1, &s->v2, &s->g1, &s->g2};
        for (int k = 0; k < KERN_N_MAT; k++) RD_TRY(unpack(b, mm[k], &t->mat[k]));
    }
    return RD_OK;
}

rd_status rwkv_cuda_upload(const rwkv_model *m, kern_dtype wtype, kern_rwkv **out, rd_error *err) {
    *out = NULL;
    bridge b;
    memset(&b, 0, sizeof b);
    b.err = err;
    b.cap = 2 + m->n_layer * KERN_N_MAT;
    b.buf = calloc((size_t)b.cap, sizeof *b.buf);
    b.L = calloc((size_t)m->n_layer, sizeof *b.L);
    rd_status st = b.buf && b.L ? RD_OK : rd_fail(err, RD_ERR_NOMEM, "out of memory for a device model description");
    if (st == RD_OK) st = describe(m, &b);
    if (st == RD_OK) st = rd_cuda_rwkv_upload(&b.d, wtype, out, err);
    for (int i = 0; i < b.nbuf; i++) free(b.buf[i]);
    free(b.buf);
    free(b.L);
    return st;
}

kern_dtype rwkv_cuda_dtype(rd_dtype t) { return t == RD_F16 ? KERN_F16 : t == RD_BF16 ? KERN_BF16 : KERN_F32; }

/* ---------- a state cache's states in device memory ---------- */

struct rwkv_cuda_cache {
    const kern_rwkv *gm;
    sc_cache *c;
    kern_state *st;
    kern_workspace *ws;
    int max_rows;
    int32_t *src_phys, *dst_phys;
};

void rwkv_cuda_cache_free(rwkv_cuda_cache *d) {
    if (!d) return;
    rd_cuda_state_free(d->st);
    rd_cuda_workspace_free(d->ws);
    free(d->src_phys);
    free(d->dst_phys);
    free(d);
}

rd_status rwkv_cuda_cache_create(const kern_rwkv *gm, sc_cache *c, const float *initial, rwkv_cuda_cache **out,
                                 rd_error *err) {
    *out = NULL;
    const sc_config *cfg = sc_config_of(c);
    int n_phys = 0;
    sc_bytes(c, NULL, &n_phys);
    rwkv_cuda_cache *d = calloc(1, sizeof *d);
    if (!d) return rd_fail(err, RD_ERR_NOMEM, "out of memory for a device state cache");
    d->gm = gm, d->c = c, d->max_rows = cfg->max_rows;
    d->src_phys = malloc((size_t)d->max_rows * sizeof(int32_t));
    d->dst_phys = malloc((size_t)d->max_rows * sizeof(int32_t));
    rd_status st = d->src_phys && d->dst_phys
                       ? RD_OK
                       : rd_fail(err, RD_ERR_NOMEM, "out of memory for %d rows of slot indices", d->max_rows);
    if (st == RD_OK) st = rd_cuda_state_create(gm, n_phys, rwkv_cuda_dtype(cfg->dtype), &d->st, err);
    if (st == RD_OK) st = rd_cuda_workspace_create(gm, d->max_rows, &d->ws, err);
    if (st == RD_OK && initial) st = rd_cuda_state_write(d->st, 0, initial, err);
    if (st != RD_OK) {
        rwkv_cuda_cache_free(d);
        return st;
    }
    *out = d;
    return RD_OK;
}

rd_status rwkv_cuda_cache_step(rwkv_cuda_cache *d, int n, const int32_t *tok, const int32_t *src,
                               const int32_t *child, int nq, const int32_t *qrow, const int32_t *qtok, float *logp,
                               float *lse, rd_error *err) {
    if (n < 0 || n > d->max_rows)
        return rd_fail(err, RD_ERR_USAGE, "rwkv_cuda_cache_step: %d rows, the cache steps at most %d", n, d->max_rows);
    if (n == 0) return RD_OK;
    RD_TRY(sc_update_begin(d->c, src, n, d->src_phys, d->dst_phys, err));
    rd_status st = rd_cuda_rwkv_forward(d->gm, d->ws, n, tok, d->st, d->src_phys, d->st, d->dst_phys, NULL, err);
    if (st == RD_OK) st = rd_cuda_rwkv_logp(d->ws, n, nq, qrow, qtok, logp, lse, err);
    if (st != RD_OK) {
        sc_update_abort(d->c, d->dst_phys, n);
        return st;
    }
    sc_update_commit(d->c, child, d->dst_phys, n);
    return RD_OK;
}

rd_status rwkv_cuda_cache_read(const rwkv_cuda_cache *d, int32_t slot, float *state, rd_error *err) {
    const sc_config *cfg = sc_config_of(d->c);
    if (slot < 0 || slot >= cfg->n_slots)
        return rd_fail(err, RD_ERR_USAGE, "rwkv_cuda_cache_read: slot %d outside 0..%d", slot, cfg->n_slots - 1);
    return rd_cuda_state_read(d->st, sc_phys(d->c, slot), state, err);
}
