/* tests/fuzz/fuzz_tensor_file.c - libFuzzer target for the tensor file
 * readers (rwkv.cpp .bin, safetensors, PyTorch .pth zip + pickle).
 * Seeds: tests/fuzz/corpus/fuzz_tensor_file/ (from data/make_tensor_fixtures.py). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmstate/weights/tensor_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every tensor must be findable by name and readable in full. */
static void check(const tf_file *f) {
    for (int i = 0; i < tf_count(f); i++) {
        const tf_tensor *t = tf_at(f, i);
        if (tf_find(f, t->name) != t || t->ndim < 0 || t->ndim > TF_MAX_DIMS) __builtin_trap();
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
        if (n != t->numel) __builtin_trap();
        if (t->numel > (1 << 20)) continue;
        float *v = malloc((size_t)t->numel * sizeof *v + 1);
        if (!v) continue;
        tf_to_f32(t, v);
        free(v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tf_file *f = NULL;
    rd_error err;
    rd_error_clear(&err);
    if (tf_parse(data, size, "fuzz.pth", &f, &err) == RD_OK) {
        check(f);
        tf_close(f);
    } else if (f || strncmp(err.msg, "fuzz.pth: ", 10) != 0) {
        __builtin_trap(); /* every failure names the file */
    }
    return 0;
}
