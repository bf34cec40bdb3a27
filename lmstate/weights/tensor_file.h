/* lmstate/weights/tensor_file.h - named tensors from model files, format by content.
 *
 *   rwkv.cpp .bin   little-endian header of int32 words (magic 0x67676d66,
 *                   version, n_vocab, n_embed, n_layer, data_type), then
 *                   tensors: n_dims, name_len, data_type, dims[n_dims]
 *                   (innermost first, as ggml), name, data (0 FP32, 1 FP16)
 *   safetensors     u64 header length, JSON header, data
 *   PyTorch .pth    a zip (stored entries) holding data.pkl (pickle protocol
 *                   2+; tensors rebuilt by torch._utils._rebuild_tensor_v2
 *                   over persistent storages) and data/<key> storage files
 *
 * The file is read (or mapped) whole; tensors point into it. Errors name the
 * file and the tensor or offset: "m.pth: data.pkl: unsupported opcode 0x93". */
#ifndef RD_TENSOR_FILE_H
#define RD_TENSOR_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/dtype.h"
#include "common/status.h"

#define TF_MAX_DIMS 4

typedef struct tf_tensor {
    const char *name;            /* NUL-terminated, owned by the file */
    rd_dtype dtype;
    int ndim;
    int64_t shape[TF_MAX_DIMS];  /* outermost first (PyTorch order; .bin dims reversed) */
    int64_t numel;
    const void *data;            /* contiguous, row-major, little-endian */
} tf_tensor;

typedef enum tf_format { TF_RWKV_CPP = 1, TF_SAFETENSORS = 2, TF_PTH = 3 } tf_format;

typedef struct tf_file tf_file;

rd_status tf_open(const char *path, tf_file **out, rd_error *err);
/* From memory (copied); name is used in messages only. */
rd_status tf_parse(const void *buf, size_t n, const char *name, tf_file **out,
                   rd_error *err);
void tf_close(tf_file *f);

tf_format tf_file_format(const tf_file *f);
int tf_count(const tf_file *f);
const tf_tensor *tf_at(const tf_file *f, int i);
/* By exact name, or NULL. */
const tf_tensor *tf_find(const tf_file *f, const char *name);
/* rwkv.cpp header words (version, n_vocab, n_embed, n_layer, data_type);
 * zeros for other formats. */
void tf_rwkv_cpp_header(const tf_file *f, int32_t hdr[5]);

/* Converts element i.. of a tensor to float32 (f16/bf16/f32/f64). */
void tf_to_f32(const tf_tensor *t, float *out);

#endif
