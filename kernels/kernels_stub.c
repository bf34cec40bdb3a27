/* kernels/kernels_stub.c - the kernels.h API for builds without CUDA: every
 * call fails with RD_ERR_DEVICE; rd_cuda_available says why. */
#ifndef RD_HAVE_CUDA

#include "kernels/kernels.h"

#define NO_CUDA "this build has no CUDA support (rebuild with nvcc on PATH)"

static rd_status no_cuda(rd_error *err) { return rd_fail(err, RD_ERR_DEVICE, NO_CUDA); }

int rd_cuda_available(rd_error *why) {
    no_cuda(why);
    return 0;
}

rd_status rd_cuda_device_info(kern_device_info *out, rd_error *err) { return no_cuda(err); }
rd_status rd_cuda_sync(rd_error *err) { return no_cuda(err); }
rd_status rd_cuda_copy_bandwidth(size_t bytes, int reps, double *bytes_per_s, rd_error *err) { return no_cuda(err); }

rd_status rd_cuda_rwkv_upload(const kern_rwkv_desc *d, kern_dtype wtype, kern_rwkv **out, rd_error *err) {
    *out = NULL;
    return no_cuda(err);
}
void rd_cuda_rwkv_free(kern_rwkv *m) { (void)m; }
size_t rd_cuda_rwkv_weight_bytes(const kern_rwkv *m) { return 0; }

rd_status rd_cuda_state_create(const kern_rwkv *m, int n_slots, kern_dtype dtype, kern_state **out,
                               rd_error *err) {
    *out = NULL;
    return no_cuda(err);
}
void rd_cuda_state_free(kern_state *s) { (void)s; }
int rd_cuda_state_slots(const kern_state *s) { return 0; }
size_t rd_cuda_state_slot_bytes(const kern_state *s) { return 0; }
rd_status rd_cuda_state_reset(kern_state *s, int first, int count, rd_error *err) { return no_cuda(err); }
rd_status rd_cuda_state_write(kern_state *s, int slot, const float *state, rd_error *err) { return no_cuda(err); }
rd_status rd_cuda_state_read(const kern_state *s, int slot, float *state, rd_error *err) { return no_cuda(err); }

rd_status rd_cuda_workspace_create(const kern_rwkv *m, int max_rows, kern_workspace **out, rd_error *err) {
    *out = NULL;
    return no_cuda(err);
}
void rd_cuda_workspace_free(kern_workspace *ws) { (void)ws; }

rd_status rd_cuda_state_copy(kern_workspace *ws, const kern_state *src, const int32_t *src_slot, kern_state *dst,
                             const int32_t *dst_slot, int n, rd_error *err) {
    return no_cuda(err);
}

rd_status rd_cuda_rwkv_forward(const kern_rwkv *m, kern_workspace *ws, int n, const int32_t *token,
                               const kern_state *src, const int32_t *src_slot, kern_state *dst,
                               const int32_t *dst_slot, float *logits, rd_error *err) {
    return no_cuda(err);
}

rd_status rd_cuda_rwkv_topk(kern_workspace *ws, int n, int k, float *logp, int32_t *idx, float *lse,
                            rd_error *err) {
    return no_cuda(err);
}

rd_status rd_cuda_rwkv_logp(kern_workspace *ws, int n, int nq, const int32_t *row, const int32_t *tok, float *logp,
                            float *lse, rd_error *err) {
    return no_cuda(err);
}

rd_status rd_cuda_topk_create(int max_rows, int max_cols, kern_topk **out, rd_error *err) {
    *out = NULL;
    return no_cuda(err);
}
void rd_cuda_topk_free(kern_topk *t) { (void)t; }

rd_status rd_cuda_logsoftmax_topk(kern_topk *t, const float *x, int rows, int cols, int k, float *logp,
                                  int32_t *idx, float *lse, rd_error *err) {
    return no_cuda(err);
}

rd_status rd_cuda_beam_topk(kern_topk *t, const float *scores, int B, int M, const int32_t *count, int k,
                            float *best, int32_t *idx, rd_error *err) {
    return no_cuda(err);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int rd_kernels_stub_unused;
#endif
