/* cli/cli_util.h - helpers shared by the command-line programs. */
#ifndef RD_CLI_UTIL_H
#define RD_CLI_UTIL_H

#include <stdio.h>
#include <stddef.h>

/* Writes s as a JSON string literal (with quotes), escaping as RFC 8259 asks. */
void cli_json_string(FILE *out, const char *s);

/* Strict option values; on failure print "PROG: --NAME: expected ..., got 'V'"
 * to stderr and return 0. */
int cli_parse_int(const char *prog, const char *name, const char *v, long lo, long hi, long *out);
int cli_parse_float(const char *prog, const char *name, const char *v, float *out);
/* "K/N" with 1 <= K <= N. */
int cli_parse_shard(const char *prog, const char *v, long *k, long *n);

/* A float for JSON output: "-Infinity" is not JSON, so -inf prints as null. */
void cli_json_float(FILE *out, double v);

/* Base name of a path without its directory and without a final ".npy". */
void cli_stem(const char *path, char *out, size_t n);

#endif
