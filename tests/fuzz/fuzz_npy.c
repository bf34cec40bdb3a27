/* tests/fuzz/fuzz_npy.c - libFuzzer target for the .npy and text-matrix parsers.
 * Seeds: tests/fuzz/corpus/fuzz_npy/ (valid files from numpy, malformed ones). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rd_npy a;
    rd_error err;
    rd_error_clear(&err);
    rd_status s = rd_matrix_parse(data, size, "fuzz.npy", &a, &err); /* .npy or text, by content */
    if (s == RD_OK) {
        /* every element must be readable, and the result consistent */
        int64_t n = 1;
        for (int i = 0; i < a.ndim; i++) n *= a.shape[i];
        if (n != a.size || (a.size > 0) != (a.data != NULL)) __builtin_trap();
        volatile float sink = 0;
        for (int64_t i = 0; i < a.size; i++) sink += a.data[i];
        (void)sink;
    } else if (err.msg[0] == '\0' || strncmp(err.msg, "fuzz.npy:", 9) != 0) {
        __builtin_trap(); /* every failure names the file */
    }
    rd_npy_free(&a);
    return 0;
}
