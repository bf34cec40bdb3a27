/* tests/fuzz/fuzz_lexicon.c - libFuzzer target for lex_lexicon_parse over a
 * fixed small unit table; checks the trie's invariants on success. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lexicon/lexicon.h"

static const char fuzz_tokens[] = "<blank>\n|\na\nb\nc\nd\ne\nshi\nba\n0.5\n\xe2\x96\x81\n";

static void fuzz_check_trie(const lex_lexicon *l) {
    int32_t nodes = lex_trie_node_count(l);
    int words = lex_word_count(l);
    float *ws = malloc(sizeof(float) * (size_t)(words ? words : 1));
    float *score = malloc(sizeof(float) * (size_t)nodes);
    for (int i = 0; i < words; i++) ws[i] = (float)-(i % 7);
    lex_lookahead(l, ws, score);
    for (int32_t v = 0; v < nodes; v++) {
        int prev = -1;
        for (int i = 0; i < lex_trie_child_count(l, v); i++) {
            int unit;
            int32_t c = lex_trie_child_at(l, v, i, &unit);
            if (unit <= prev || lex_trie_child(l, v, unit) != c || lex_trie_parent(l, c) != v) abort();
            if (score[c] > score[v]) abort();
            prev = unit;
        }
        const int32_t *w;
        const float *lp;
        int g = lex_trie_group(l, v, &w, &lp);
        if (g > lex_trie_max_group(l)) abort();
        for (int i = 0; i < g; i++)
            if (w[i] < 0 || w[i] >= words || isnan(lp[i]) || ws[w[i]] + lp[i] > score[v]) abort();
    }
    for (int i = 0; i < words; i++) {
        const char *s = lex_word(l, i);
        if (lex_word_find(l, s, strlen(s)) != i) abort();
    }
    free(ws);
    free(score);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lex_units *u = NULL;
    rd_error err;
    if (lex_units_parse(fuzz_tokens, sizeof fuzz_tokens - 1, "tokens.txt", NULL, NULL, &u, &err))
        abort();
    lex_lexicon *l = NULL;
    lex_load_stats st;
    err.msg[0] = '\0';
    rd_status s = lex_lexicon_parse((const char *)data, size, "lex.txt", u, &l, &st, &err);
    if (s != RD_OK) {
        if (l || err.msg[0] == '\0') abort();
    } else {
        if (st.entries < 0 || st.skipped < 0 || st.lines < 0) abort();
        fuzz_check_trie(l);
        lex_lexicon_free(l);
    }
    lex_units_free(u);
    return 0;
}
