/* common/dtype.h - element types of tensors and stored states, and their sizes.
 *
 * The values are part of files and of the kernels' interface: RD_F32 0,
 * RD_F16 1, RD_BF16 2 are also kern_dtype's (kernels/kernels.h) and the
 * state file's storage codes (lmstate/state_file.h). Conversions between
 * fp32 and fp16/bf16 are in common/half.h. */
#ifndef RD_DTYPE_H
#define RD_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/half.h"

typedef enum rd_dtype {
    RD_F32 = 0,
    RD_F16 = 1,
    RD_BF16 = 2,
    RD_F64 = 3,
    RD_I64 = 4,
    RD_I32 = 5,
    RD_U8 = 6
} rd_dtype;

/* Bytes of one element; 0 for a value outside the enum. */
size_t rd_dtype_size(rd_dtype t);
/* "f32", "f16", "bf16", "f64", "i64", "i32", "u8"; "unknown" otherwise. */
const char *rd_dtype_name(rd_dtype t);

/* Arrays of fp32, fp16 or bf16 in native byte order (state storage, packed
 * weights), read and written as fp32; any other t is taken as bf16. */

/* Element i as fp32. */
static inline float rd_load_f32(const void *p, rd_dtype t, size_t i) {
    if (t == RD_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return t == RD_F16 ? rd_f16_to_f32(h) : rd_bf16_to_f32(h);
}

/* Element i set to v, rounded to nearest even. */
static inline void rd_store_f32(void *p, rd_dtype t, size_t i, float v) {
    if (t == RD_F32) ((float *)p)[i] = v;
    else if (t == RD_F16) ((uint16_t *)p)[i] = rd_f32_to_f16(v);
    else ((uint16_t *)p)[i] = rd_f32_to_bf16(v);
}

/* n elements to fp32. */
static inline void rd_read_f32(const void *p, rd_dtype t, size_t n, float *out) {
    if (t == RD_F32) {
        memcpy(out, p, n * sizeof(float));
        return;
    }
    const uint16_t *h = p;
    if (t == RD_F16)
        for (size_t i = 0; i < n; i++) out[i] = rd_f16_to_f32(h[i]);
    else
        for (size_t i = 0; i < n; i++) out[i] = rd_bf16_to_f32(h[i]);
}

/* n elements from fp32 (for fp32, in may overlap p). */
static inline void rd_write_f32(void *p, rd_dtype t, size_t n, const float *in) {
    if (t == RD_F32) {
        memmove(p, in, n * sizeof(float));
        return;
    }
    uint16_t *h = p;
    if (t == RD_F16)
        for (size_t i = 0; i < n; i++) h[i] = rd_f32_to_f16(in[i]);
    else
        for (size_t i = 0; i < n; i++) h[i] = rd_f32_to_bf16(in[i]);
}

/* n elements set to v. */
static inline void rd_fill_f32(void *p, rd_dtype t, size_t n, float v) {
    if (t == RD_F32) {
        float *f = p;
        for (size_t i = 0; i < n; i++) f[i] = v;
        return;
    }
    uint16_t h = t == RD_F16 ? rd_f32_to_f16(v) : rd_f32_to_bf16(v);
    uint16_t *q = p;
    for (size_t i = 0; i < n; i++) q[i] = h;
}

#endif
