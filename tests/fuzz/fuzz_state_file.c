/* tests/fuzz/fuzz_state_file.c - libFuzzer target for RWKV state files
 * (sf_parse). Each input is parsed as it is and again with its checksum made
 * right, so mutations reach the checks behind the checksum. A file that
 * parses is measured, edited, re-encoded in its own dtype and parsed again
 * (fp32 must come back bit for bit). Seeds: tests/fuzz/corpus/fuzz_state_file/
 * (written by tests/test_state_file.c with RD_WRITE_CORPUS=1). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmstate/state_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.state"

static void check_failed(rd_status st, const sf_states *s, const rd_error *err) {
    if (st == RD_OK) return;
    /* every failure names the file and leaves nothing allocated */
    if (strncmp(err->msg, NAME ": ", sizeof NAME + 1) != 0 || s->block || s->data || s->n) __builtin_trap();
}

/* Re-encodes s in its dtype and parses it back against its own info. */
static void round_trip(const sf_states *s) {
    unsigned char *buf;
    size_t n;
    rd_error err;
    if (sf_encode(s, s->dtype, &buf, &n, &err) != RD_OK) {
        /* only int8 may refuse, and only for non-finite values: never for a parsed file */
        __builtin_trap();
    }
    sf_states back;
    if (sf_parse(buf, n, NAME, &s->info, &back, &err) != RD_OK) __builtin_trap();
    size_t elems = sf_state_size(&s->info) * (size_t)s->n;
    if (back.n != s->n || memcmp(back.pending, s->pending, (size_t)s->n * sizeof(int32_t)) != 0) __builtin_trap();
    if (s->dtype == SF_F32 && memcmp(back.data, s->data, elems * sizeof(float)) != 0) __builtin_trap();
    if (s->dtype == SF_F16 || s->dtype == SF_BF16)
        for (size_t i = 0; i < elems; i++)
            if (!(back.data[i] == s->data[i] || (isnan(back.data[i]) && isnan(s->data[i])))) __builtin_trap();
    if ((s->text == NULL) != (back.text == NULL) || (s->text && strcmp(s->text, back.text) != 0)) __builtin_trap();
    sf_free(&back);
    free(buf);
}

/* Statistics, distances and edits over the parsed states. */
static void exercise(sf_states *s) {
    const sf_model_info *in = &s->info;
    size_t size = sf_state_size(in);
    if (s->n < 1 || !s->data || !s->pending || size == 0) __builtin_trap();
    for (int i = 0; i < s->n; i++)
        if (s->pending[i] < 0 || s->pending[i] >= in->n_vocab) __builtin_trap();
    sf_stats st;
    sf_stats_of(in, s->data, -1, -1, &st);
    if (st.n != size || st.nan + st.inf > st.n) __builtin_trap();
    sf_stats_of(in, s->data, in->n_kinds - 1, in->n_layer - 1, &st);
    sf_distance d;
    sf_distance_of(in, s->data, s->data + (size_t)(s->n - 1) * size, -1, -1, &d);
    round_trip(s);
    float w[RD_STATE_MAX_KINDS] = {0.25f, 0.5f, 0.75f, 1.0f, 0.0f};
    float *last = s->data + (size_t)(s->n - 1) * size;
    sf_blend(in, s->data, last, w, s->data);
    sf_decay(in, last, 0.5f);
    sf_reset(in, s->data, NULL, 1u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sf_states s;
    rd_error err;
    rd_status st = sf_parse(data, size, NAME, NULL, &s, &err);
    check_failed(st, &s, &err);
    if (st == RD_OK) {
        sf_model_info info = s.info;
        exercise(&s);
        sf_free(&s);
        /* with the right model expected it parses again */
        if (sf_parse(data, size, NAME, &info, &s, &err) != RD_OK) __builtin_trap();
        sf_free(&s);
    }
    if (size < 8 || size > (1u << 20)) return 0;
    unsigned char *b = malloc(size);
    if (!b) return 0;
    memcpy(b, data, size);
    uint64_t h = sf_checksum(b, size - 8);
    for (int i = 0; i < 8; i++) b[size - 8 + i] = (unsigned char)(h >> (8 * i));
    st = sf_parse(b, size, NAME, NULL, &s, &err);
    check_failed(st, &s, &err);
    if (st == RD_OK) {
        exercise(&s);
        sf_free(&s);
    }
    free(b);
    return 0;
}
