/* cli/output.c - rwkv-decode's output formats (see output.h). */
#include "cli/output.h"

#include <math.h>
#include <string.h>

#include "cli/cli_util.h"

/* Confidence of word j of hypothesis 0: the posterior, over the final
 * n-best (softmax of the total scores), of the hypotheses that have the same
 * word at overlapping frames. */
static double word_confidence(const dec_decoder *d, int j) {
    const dec_word *w = &dec_nbest(d, 0)->words[j];
    double best = dec_nbest(d, 0)->score, all = 0, with = 0;
    for (int i = 0; i < dec_nbest_count(d); i++) {
        const dec_hyp *h = dec_nbest(d, i);
        double p = exp((double)h->score - best);
        all += p;
        for (int k = 0; k < h->n_words; k++)
            if (h->words[k].start <= w->end && h->words[k].end >= w->start && strcmp(h->words[k].text, w->text) == 0) {
                with += p;
                break;
            }
    }
    return all > 0 ? with / all : 1.0;
}

static int shown(const out_utt *u) {
    int n = dec_nbest_count(u->d);
    return n > u->nbest ? u->nbest : n;
}

/* text: 'id<TAB>text' (the text alone for one --logits utterance); with
 * --nbest N > 1 'id<TAB>rank<TAB>score<TAB>text', best first. */
static void write_text(const out_utt *u, FILE *f) {
    if (u->nbest > 1) {
        for (int i = 0, n = shown(u); i < n; i++) {
            const dec_hyp *h = dec_nbest(u->d, i);
            fprintf(f, "%s\t%d\t%.6g\t%s\n", u->id, i + 1, (double)h->score, h->text);
        }
        return;
    }
    const dec_hyp *h = dec_nbest(u->d, 0);
    const char *text = h ? h->text : "";
    if (!u->id_column) fprintf(f, "%s\n", text);
    else fprintf(f, "%s\t%s\n", u->id, text);
}

/* A JSON hypothesis' "tokens": the units with their frames. */
static void write_json_tokens(const out_utt *u, const dec_hyp *h, FILE *f) {
    fputs(",\"tokens\":[", f);
    for (int k = 0; k < h->n_tokens; k++) {
        const dec_token *t = &h->tokens[k];
        fputs(k ? ",{\"token\":" : "{\"token\":", f);
        cli_json_string(f, lex_units_name(u->units, t->unit));
        fprintf(f, ",\"start\":%d,\"end\":%d", t->start, t->end);
        if (u->frame_shift)
            fprintf(f, ",\"start_time\":%.3f,\"end_time\":%.3f", t->start * u->frame_shift, (t->end + 1) * u->frame_shift);
        fputc('}', f);
    }
    fputc(']', f);
}

/* json: one object a line, the n-best with scores, words and their frames. */
static void write_json(const out_utt *u, FILE *f) {
    fputs("{\"utt\":", f);
    cli_json_string(f, u->id);
    fprintf(f, ",\"frames\":%lld,\"nbest\":[", (long long)u->frames);
    for (int i = 0, n = shown(u); i < n; i++) {
        const dec_hyp *h = dec_nbest(u->d, i);
        if (i) fputc(',', f);
        fputs("{\"text\":", f);
        cli_json_string(f, h->text);
        fputs(",\"score\":", f);
        cli_json_float(f, h->score);
        fputs(",\"acoustic\":", f);
        cli_json_float(f, h->acoustic);
        fputs(",\"lm\":", f);
        cli_json_float(f, h->lm);
        if (u->rescored) {
            fputs(",\"first_pass\":", f);
            cli_json_float(f, h->first_pass);
            fputs(",\"rescore_lm\":", f);
            cli_json_float(f, h->rescore_lm);
        }
        if (h->fallback) fputs(",\"fallback\":true", f); /* no hypothesis finished its last word */
        fprintf(f, ",\"unk\":%d,\"words\":[", h->n_unk);
        for (int j = 0; j < h->n_words; j++) {
            const dec_word *w = &h->words[j];
            if (j) fputc(',', f);
            fputs("{\"word\":", f);
            cli_json_string(f, w->text);
            fprintf(f, ",\"start\":%d,\"end\":%d%s", w->start, w->end, w->oov ? ",\"oov\":true" : "");
            if (u->frame_shift) /* seconds: the first frame's start, the last frame's end */
                fprintf(f, ",\"start_time\":%.3f,\"end_time\":%.3f", w->start * u->frame_shift,
                        (w->end + 1) * u->frame_shift);
            if (u->confidence && i == 0) fprintf(f, ",\"conf\":%.4f", word_confidence(u->d, j));
            fputc('}', f);
        }
        fputc(']', f);
        if (u->token_times) write_json_tokens(u, h, f);
        fputc('}', f);
    }
    fputs("]}\n", f);
}

/* ctm: 'id 1 start duration word [confidence]' a word, seconds. */
static void write_ctm(const out_utt *u, FILE *f) {
    const dec_hyp *h = dec_nbest_count(u->d) ? dec_nbest(u->d, 0) : NULL;
    double fs = u->frame_shift;
    for (int j = 0; h && j < h->n_words; j++) {
        const dec_word *w = &h->words[j];
        fprintf(f, "%s 1 %.3f %.3f %s", u->id, w->start * fs, (w->end - w->start + 1) * fs, w->text);
        if (u->confidence) fprintf(f, " %.4f", word_confidence(u->d, j));
        fputc('\n', f);
    }
}

/* The formats; the first is the default. */
static const out_format formats[] = {
    {"text", 0, 0, 0, write_text},
    {"json", 1, 0, 1, write_json},
    {"ctm", 0, 1, 1, write_ctm},
};
#define N_FORMATS (sizeof formats / sizeof formats[0])

const out_format *out_format_find(const char *name) {
    for (size_t i = 0; i < N_FORMATS; i++)
        if (strcmp(formats[i].name, name) == 0) return &formats[i];
    return NULL;
}

void out_format_names(char *buf, size_t n) {
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_FORMATS && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i == 0 ? "" : i + 1 == N_FORMATS ? " or " : ", ", formats[i].name);
}
