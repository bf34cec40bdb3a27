/* cli/stream.h - rwkv-decode --stream (cli/stream.c). */
#ifndef RD_CLI_STREAM_H
#define RD_CLI_STREAM_H

#include "cli/decode_app.h"
#include "common/status.h"

/* Decodes a->items[0] (a file or "-" for stdin: .npy or raw float32 frames)
 * chunk by chunk as its data arrives, printing partial results to stdout,
 * then its result; a failed write to stdout is noted in a->out_errno. */
rd_status run_stream(app *a, rd_error *err);

#endif
