/* cli/decode_app.h - rwkv-decode's run, shared by the files of the program:
 * the options, the utterances, the results in flight and the few functions
 * the streaming mode (cli/stream.c), the batch (cli/workers.c) and main
 * (cli/rwkv_decode.c) call. Internal to the program: no contract beyond rwkv-decode's own code. */
#ifndef RD_CLI_DECODE_APP_H
#define RD_CLI_DECODE_APP_H

#include <getopt.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/batch_list.h"
#include "cli/output.h"
#include "common/npy.h"
#include "common/status.h"
#include "decoder/boost.h"
#include "decoder/decoder.h"
#include "decoder/emissions.h"
#include "lexicon/lexicon.h"
#include "lexicon/units.h"
#include "lmstate/lm.h"
#include "lmstate/state_file.h"

#define PROG "rwkv-decode"

#define MAX_LMS 8

typedef struct options {
    const char *lm_paths[MAX_LMS]; /* --lm, in order; lm is the first */
    float lm_weights[MAX_LMS];     /* --lm-weight, n_lm_weights of them */
    int n_lm, n_lm_weights;
    const char *rescore;           /* --rescore MODEL */
    float rescore_weight;
    float rescore_word_score;      /* --rescore-word-score */
    const char *logits, *list, *lengths, *tokens, *blank, *delim, *lexicon, *lm, *vocab, *resume, *lm_state;
    const char *hotwords;        /* --hotwords FILE */
    float hotword_weight;        /* --hotword-weight: per word of a phrase without ":W" */
    int lm_threads, state_dtype, lookahead_tokens;
    long max_memory_mb;
    int delim_given, json, threads, keep_going, quiet, unk_given, lm_weight_given;
    int stream, session_carry;
    lex_unit_type unit_type;     /* --unit-type */
    int device, batch;           /* --device (DEV_*), --batch */
    const out_format *format;    /* --format */
    int token_times, confidence, nbest_out; /* hypotheses printed */
    int partial_best;            /* --partial best: the current best, not the stable words */
    float frame_shift;           /* seconds per frame, 0 = not given */
    unsigned char given[1024];   /* given[OPT_x]: the option was on the command line */
    const struct option *longopts;
    long chunk_frames;
    float stream_timeout;
    long shard_k, shard_n;
    dec_input input;
    dec_options dec;
} options;

/* One unit table with its lexicon: emissions files may differ in tokens. */
typedef struct model_ctx {
    char *tokens_path;
    lex_units *units;
    lex_lexicon *lex;
} model_ctx;

typedef struct item {
    char *id, *path;  /* one allocation: path points into id's block */
    int ctx;
    int row;          /* row of a 3-D array, -1 for a 2-D file */
    int64_t length;   /* frames of that row, -1 for all */
    int hot;          /* the list's hotword file for it: index into app.hot, -1 none */
    long line;        /* its line in the list, 0 when it is not from a list */
} item;

#define ROW_FILE (-1)     /* item.row: read the item's own file */
#define ROW_LOADED (-2)   /* item.row: the 2-D --logits array already read */

typedef struct result {
    char *out;        /* formatted output line(s) */
    size_t out_len;
    char *msg;        /* the failure's message (malloc'd; NULL: see status) */
    int64_t frames;
    rd_status status; /* RD_OK, or why it failed */
    int done;
} result;

/* An utterance in flight: taken by a worker, not yet printed. */
typedef struct slot {
    item it;          /* its strings are the slot's (owned) or a->items' */
    int owned;
    result r;
} slot;

typedef struct app {
    options o;
    model_ctx *ctx;
    int n_ctx;
    item *items;      /* files, --logits rows, --stream: every utterance; a list: none */
    long n_items;     /* utterances to decode (a list: its lines kept by --shard and --resume) */
    bl_list list;     /* --list / stdin, read as the workers take utterances */
    int listed;       /* the utterances come from list */
    long list_total;  /* the list's utterances (before --shard and --resume) */
    long list_k;      /* list utterances read in this pass */
    char **done_ids;  /* --resume with a list: the ids already out, sorted */
    size_t n_done_ids;
    long src;         /* the next utterance of a->items to take */
    item pending;     /* a list utterance read ahead (session runs, interrupt report) */
    int has_pending;
    rd_npy batch3d;   /* --logits: the array read (3-D: one item a row) */
    lm_model *lm;     /* the search's: lm_parts[0], or their mix */
    lm_model *lm_parts[MAX_LMS];
    lm_model *rescore;
    boost_graph *boost; /* --hotwords */
    struct { char *path; boost_graph *g; } *hot; /* a list's third column: each file with --hotwords */
    int n_hot;
    lex_extra *extra;   /* their word{units}, added to the lexicon */
    int n_extra;
    sf_states start;  /* --lm-state */
    slot *ring;       /* utterances base..next-1 live in ring[i % ring_cap] */
    long ring_cap, base, window;
    long next;        /* the next utterance index to take */
    rd_status fatal;  /* reading the list failed while decoding (fatal_msg) */
    char *fatal_msg;
    int stop;
    int lm_reported;  /* the LM line was printed */
    int single;       /* one utterance from --logits: print its text alone */
    int interrupted;  /* the signal that stopped the batch, 0 if none */
    int out_errno;    /* errno of the first failed write to stdout, 0 if none */
    const char *list_name; /* the list's name in messages ("<stdin>" for -) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} app;

/* Utterance i's slot in the ring of results in flight. */
static inline slot *slot_of(const app *a, long i) { return &a->ring[i % a->ring_cap]; }

/* The tokens file expected next to emissions file npy (out, n bytes):
 * 1 when it exists. */
int tokens_for(const app *a, const char *npy, char *out, size_t n);

/* Under a->mu: the list's next utterance kept by --shard and --resume
 * (its strings owned by *it): 1, 0 at the end, -1 when reading failed. */
int list_take(app *a, item *it, rd_error *err);

#endif
