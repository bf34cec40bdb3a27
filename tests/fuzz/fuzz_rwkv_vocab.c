/* tests/fuzz/fuzz_rwkv_vocab.c - libFuzzer target for the World vocab parser.
 *
 * Parses the input as a vocab file; when it parses, encodes the input itself
 * with it and checks that every token decodes back to the bytes it covered. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmstate/rwkv/rwkv_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const rwkv_tokenizer *tok, const uint8_t *data, size_t size) {
    int n = rwkv_tok_encode(tok, data, size, NULL, 0);
    if (n <= 0) return;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    char *back = malloc(size + 1);
    if (ids && back) {
        rd_error err;
        size_t len = 0;
        if (rwkv_tok_encode(tok, data, size, ids, n) != n) abort();
        if (rwkv_tok_decode(tok, ids, n, back, size + 1, &len, &err) != RD_OK) abort();
        if (len != size || memcmp(back, data, size) != 0) abort();
    }
    free(ids);
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rwkv_tokenizer *tok = NULL;
    rd_error err;
    if (rwkv_tok_parse_world((const char *)data, size, "fuzz.txt", &tok, &err) != RD_OK) {
        if (tok || strncmp(err.msg, "fuzz.txt", 8) != 0) abort();
        return 0;
    }
    if (rwkv_tok_vocab_size(tok) < 1) abort();
    check_round_trip(tok, data, size);
    rwkv_tok_free(tok);
    return 0;
}
