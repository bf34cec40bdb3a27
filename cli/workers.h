/* cli/workers.h - rwkv-decode's batch (cli/workers.c): worker threads, the
 * ring of results in flight, printing in input order, SIGINT/SIGTERM. */
#ifndef RD_CLI_WORKERS_H
#define RD_CLI_WORKERS_H

#include <stdint.h>
#include <stdio.h>

#include "cli/decode_app.h"
#include "common/status.h"
#include "decoder/decoder.h"
#include "lmstate/lm.h"

/* Decodes every utterance of a (a->items, or the list a->list) with
 * a->o.threads workers and prints the results to stdout in input order;
 * *code is the program's exit code (before the final stdout check). Fails
 * (err) only when the ring or the threads cannot be set up. After SIGINT or
 * SIGTERM it does not return: the process _exits with 128 + the signal. */
rd_status run_batch(app *a, int *code, rd_error *err);

/* The utterance's lines in the --format's writer, to f. */
void format_result(const app *a, const item *it, const dec_decoder *d, int64_t T, FILE *f);

/* --rescore: the n-best list re-ranked by the rescoring model; *cache (2
 * slots per hypothesis) is created on first use and kept by the caller. */
rd_status rescore_nbest(const app *a, dec_decoder *d, lm_cache **cache, rd_error *err);

/* Flushes stdout and notes a failed write in a->out_errno. */
void check_stdout(app *a);

#endif
