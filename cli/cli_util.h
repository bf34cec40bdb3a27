/* cli/cli_util.h - helpers shared by the command-line programs. */
#ifndef RD_CLI_UTIL_H
#define RD_CLI_UTIL_H

#include <getopt.h>
#include <stdio.h>
#include <stddef.h>

/* The programs' version, printed by --version. */
#define RD_VERSION "0.3.0"

/* Writes s as a JSON string literal (with quotes), escaping as RFC 8259 asks;
 * a byte that is not part of valid UTF-8 is written as \udcXX (XX = the byte,
 * Python's surrogateescape), so the output stays valid JSON whatever s is. */
void cli_json_string(FILE *out, const char *s);

/* Strict option values; on failure print "PROG: --NAME: expected ..., got 'V'"
 * to stderr and return 0. */
int cli_parse_int(const char *prog, const char *name, const char *v, long lo, long hi, long *out);
int cli_parse_float(const char *prog, const char *name, const char *v, float *out);
/* A score weight or bonus: a number in [lo, hi] (or -inf when allow_neg_inf),
 * so that no overflow or NaN can reach the search. Prints the error. */
int cli_parse_weight(const char *prog, const char *name, const char *v, double lo, double hi, int allow_neg_inf,
                     float *out);
/* "K/N" with 1 <= K <= N. */
int cli_parse_shard(const char *prog, const char *v, long *k, long *n);

/* A float for JSON output: "-Infinity" is not JSON, so -inf prints as null. */
void cli_json_float(FILE *out, double v);

/* Run before getopt_long, which would take any unambiguous prefix of a long
 * option for the option ("--beam-s" for --beam-size-token): every "--name" in
 * argv[1..] (up to "--"; values of options that take one are skipped) must be
 * a longopts name spelled in full. Otherwise prints
 * "PROG: unknown option '--x'; did you mean --y?" (for an underscore
 * spelling, a prefix, or a near spelling) and "try 'PROG --help'" on stderr
 * and returns 0. shortopts is getopt's string (to skip short options' values). */
int cli_check_long_options(const char *prog, int argc, char *const argv[], const char *shortopts,
                           const struct option *longopts);
/* Writes n bytes to stdout and flushes them; returns 0, or the errno of the
 * failed write (EIO when the stream had failed earlier). */
int cli_write_stdout(const void *p, size_t n);

/* The end of a program's output: flushes and closes stdout. Returns rc when
 * every write succeeded; otherwise prints "PROG: writing stdout: REASON"
 * (REASON from saved_errno when nonzero, else from the failure found now)
 * and returns 3. */
int cli_finish_stdout(const char *prog, int rc, int saved_errno);

/* Reads back one of rwkv-decode's JSON output lines s[0..n): returns 1 when
 * the whole line parses as a JSON object with a string "utt" (*id: that id,
 * decoded, malloc'd; *is_error: the object has an "error" key, a failed
 * utterance of --keep-going), 0 when it does not parse or has no "utt", -1
 * when out of memory. */
int cli_json_output_line(const char *s, size_t n, char **id, int *is_error);

/* Base name of a path without its directory and without a final ".npy". */
void cli_stem(const char *path, char *out, size_t n);

#endif
