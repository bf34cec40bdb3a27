/* tests/fuzz/fuzz_hotwords.c - libFuzzer target for boost_parse: any input
 * either parses into a graph whose every word is found again and whose
 * steps keep the partial credit non-negative, or fails with a message
 * naming the file. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decoder/boost.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    boost_graph *g = NULL;
    rd_error err;
    err.msg[0] = '\0';
    rd_status st = boost_parse((const char *)data, size, "hot.txt", 1.5f, &g, &err);
    if (st != RD_OK) {
        if (g || strncmp(err.msg, "hot.txt", 7) != 0 || strlen(err.msg) >= sizeof err.msg) abort();
        return 0;
    }
    int nw = boost_word_count(g);
    int32_t s = 0;
    for (int32_t i = 0; i < nw; i++) {
        const char *w = boost_word(g, i);
        if (!w || boost_token(g, w, strlen(w)) != i || boost_word_line(g, i) < 1) abort();
        float d = boost_step(g, s, i, &s);
        if (!isfinite(d) || s < 0 || s >= boost_state_count(g) || !(boost_partial(g, s) >= 0)) abort();
    }
    for (int i = 0; i < boost_pron_count(g); i++) {
        const char *w, *u, *f;
        long line;
        boost_pron(g, i, &w, &u, &f, &line);
        if (!w || !u || !u[0] || strcmp(f, "hot.txt") != 0 || line < 1) abort();
    }
    boost_free(g);
    return 0;
}
