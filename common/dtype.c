#include "common/dtype.h"

size_t rd_dtype_size(rd_dtype t) {
    switch (t) {
    case RD_F32: return 4;
    case RD_F16: return 2;
    case RD_BF16: return 2;
    case RD_F64: return 8;
    case RD_I64: return 8;
    case RD_I32: return 4;
    case RD_U8: return 1;
    }
    return 0;
}

const char *rd_dtype_name(rd_dtype t) {
    switch (t) {
    case RD_F32: return "f32";
    case RD_F16: return "f16";
    case RD_BF16: return "bf16";
    case RD_F64: return "f64";
    case RD_I64: return "i64";
    case RD_I32: return "i32";
    case RD_U8: return "u8";
    }
    return "unknown";
}
