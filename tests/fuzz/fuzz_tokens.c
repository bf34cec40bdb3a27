/* tests/fuzz/fuzz_tokens.c - libFuzzer target for lex_units_parse: any
 * input either parses into a consistent table or fails with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lexicon/units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the first byte picks the blank/delimiter mode and the unit type; the
     * rest is tokens.txt */
    if (size == 0) return 0;
    static const char *const blanks[] = {NULL, "<blank>", "_", "x"};
    static const char *const delims[] = {NULL, "", "|", "<space>"};
    const char *blank = blanks[data[0] & 3], *delim = delims[(data[0] >> 2) & 3];
    lex_units *u = NULL;
    rd_error err;
    err.msg[0] = '\0';
    lex_unit_type type = (lex_unit_type)((data[0] >> 4) % 3);
    rd_status st = lex_units_parse_ex((const char *)data + 1, size - 1, "tokens.txt", blank, delim, type,
                                      &u, &err);
    if (st != RD_OK) {
        if (u || err.msg[0] == '\0' || strlen(err.msg) >= sizeof err.msg) abort();
        return 0;
    }
    int n = lex_units_count(u);
    if (lex_units_type(u) == LEX_UNITS_AUTO || (type != LEX_UNITS_AUTO && lex_units_type(u) != type)) abort();
    if (n <= 0 || lex_units_blank(u) < 0 || lex_units_blank(u) >= n) abort();
    if (lex_units_delimiter(u) >= n || lex_units_delimiter(u) == lex_units_blank(u)) abort();
    for (int i = 0; i < n; i++) {
        const char *name = lex_units_name(u, i);
        if (!name || lex_units_find(u, name, strlen(name)) != i || !lex_units_text(u, i)) abort();
        /* a word-start piece: SentencePiece only, its text the name without ▁ */
        if (lex_units_word_start(u, i) &&
            (lex_units_type(u) != LEX_UNITS_SENTENCEPIECE || strcmp(lex_units_text(u, i), name + 3) != 0))
            abort();
    }
    lex_units_free(u);
    return 0;
}
