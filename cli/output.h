/* cli/output.h - rwkv-decode's output formats: a table of writers.
 *
 * A format is one row of the table in output.c: its --format name, what the
 * options need to know of it, and its writer. Adding a format touches that
 * table (and the --format line of --help). */
#ifndef RD_CLI_OUTPUT_H
#define RD_CLI_OUTPUT_H

#include <stdint.h>
#include <stdio.h>

#include "decoder/decoder.h"
#include "lexicon/units.h"

/* One decoded utterance, as the writers see it. */
typedef struct out_utt {
    const char *id;
    const dec_decoder *d;   /* its n-best, after dec_end (and rescoring) */
    int64_t frames;
    int nbest;              /* hypotheses to print (--nbest) */
    int id_column;          /* 0: the text alone (one utterance from --logits) */
    double frame_shift;     /* seconds a frame, 0 when not given */
    int confidence;         /* --confidence */
    int token_times;        /* --token-times */
    int rescored;           /* --rescore: the first pass and rescoring scores too */
    const lex_units *units; /* the utterance's unit names (--token-times) */
} out_utt;

typedef struct out_format {
    const char *name;       /* --format NAME */
    int json;               /* one JSON object a line (--token-times, error lines of --keep-going, partials) */
    int needs_frame_shift;  /* refused without --frame-shift */
    int word_times;         /* prints word times: --frame-shift and --confidence apply */
    void (*write)(const out_utt *u, FILE *f);
} out_format;

/* The format called name, NULL when none is. */
const out_format *out_format_find(const char *name);
/* The names for a message: "text, json or ctm". */
void out_format_names(char *buf, size_t n);

#endif
