/* tests/fuzz/fuzz_arpa.c - libFuzzer target for arpa_parse: any input either
 * loads into a consistent model (every word's id round-trips, scores are
 * finite, states stay within the order) or fails with one message. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmstate/ngram/arpa.h"

static void check_model(const arpa_model *m) {
    int order = arpa_order(m);
    int32_t v = arpa_vocab_size(m);
    if (order < 1 || order > ARPA_MAX_ORDER || v < 3 || arpa_unk(m) != 0) abort();
    for (int32_t i = 0; i < v; i++) {
        const char *w = arpa_word_text(m, i);
        if (!w || (i != 0 && arpa_word_id(m, w, strlen(w)) != i)) abort();
    }
    /* a short walk over the vocabulary from <s> */
    arpa_state s;
    arpa_begin_state(m, &s);
    for (int32_t k = 0; k < 3 * v && k < 64; k++) {
        int len;
        float p = arpa_score(m, &s, (k * 7) % v, &s, &len);
        if (!isfinite(p) || len < 1 || len > order || s.length < 0 || s.length > order - 1) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    arpa_model *m = NULL;
    rd_error err;
    err.msg[0] = '\0';
    rd_status st = arpa_parse((const char *)data, size, "fuzz.arpa", &m, &err);
    if (st != RD_OK) {
        if (m || err.msg[0] == '\0' || strncmp(err.msg, "fuzz.arpa", 9) != 0) abort();
        return 0;
    }
    check_model(m);
    arpa_free(m);
    return 0;
}
