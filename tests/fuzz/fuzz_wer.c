/* tests/fuzz/fuzz_wer.c - libFuzzer target for the rwkv-wer utt_id<TAB>text
 * parser, and for scoring what it accepts.
 * Seeds: tests/fuzz/corpus/fuzz_wer/ (valid and malformed files). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/wer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every accepted utterance: a non-empty id without spaces, found again by id. */
static void check_file(const wer_file *f) {
    for (size_t i = 0; i < f->n; i++) {
        const wer_utt *u = &f->utts[i];
        if (!u->id[0] || strpbrk(u->id, " \t") || wer_file_find(f, u->id) != u) __builtin_trap();
    }
}

static void check_counts(const wer_counts *c) {
    if (c->hyp != c->ref - c->del + c->ins || c->ins < 0 || c->del < 0 || c->sub < 0) __builtin_trap();
}

static rd_status on_utt(void *ctx, const wer_utt_result *r, rd_error *err) {
    FILE *sink = ctx;
    (void)err;
    check_counts(&r->words);
    check_counts(&r->chars);
    if (r->ref && r->n_steps < (size_t)(r->words.ref > r->words.hyp ? r->words.ref : r->words.hyp))
        __builtin_trap();
    wer_print_utt_text(sink, r);
    wer_print_utt_json(sink, r);
    return RD_OK;
}

/* Scores ref against hyp; scoring a file against itself must find no error. */
static void score(const wer_file *ref, const wer_file *hyp, size_t size, FILE *sink) {
    wer_options o = {(int)(size & 1), (int)((size >> 1) & 1)};
    wer_scorer *s;
    rd_error err;
    if (wer_scorer_create(&o, &s, &err) != RD_OK) return;
    wer_summary sum;
    if (wer_score_files(s, ref, hyp, on_utt, sink, &sum, &err) == RD_OK) {
        long e = sum.words.ins + sum.words.del + sum.words.sub + sum.chars.ins + sum.chars.del + sum.chars.sub;
        if (ref == hyp && (e != 0 || sum.missing || sum.extra)) __builtin_trap();
        wer_print_summary_text(sink, &sum);
        wer_print_summary_json(sink, &sum, NULL);
    }
    wer_scorer_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wer_file ref, hyp;
    rd_error err;
    rd_error_clear(&err);
    if (wer_file_parse((const char *)data, size, "fuzz.txt", &ref, &err) != RD_OK) {
        if (strncmp(err.msg, "fuzz.txt:", 9) != 0 || ref.utts) __builtin_trap();
        return 0;
    }
    check_file(&ref);
    FILE *sink = fopen("/dev/null", "w");
    if (sink) {
        score(&ref, &ref, size, sink);
        /* the second half as a hypothesis file */
        if (wer_file_parse((const char *)data + size / 2, size - size / 2, "hyp.txt", &hyp, &err) == RD_OK) {
            score(&ref, &hyp, size, sink);
            wer_file_free(&hyp);
        }
        fclose(sink);
    }
    wer_file_free(&ref);
    return 0;
}
