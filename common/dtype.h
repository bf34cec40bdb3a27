/* common/dtype.h - element types of tensors and stored states, and their sizes.
 *
 * The values are part of files and of the kernels' interface: RD_F32 0,
 * RD_F16 1, RD_BF16 2 are also kern_dtype's (kernels/kernels.h) and the
 * state file's storage codes (lmstate/state_file.h). Conversions between
 * fp32 and fp16/bf16 are in common/half.h. */
#ifndef RD_DTYPE_H
#define RD_DTYPE_H

#include <stddef.h>

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

#endif
