/* common/status.h - status codes and the caller-owned error buffer.
 *
 * Every library function that can fail returns rd_status and, on failure,
 * writes one lowercase message into an rd_error the caller owns, naming what
 * and where: "lex.txt:12: expected a word and at least one unit".
 * Library code never prints and never exits. */
#ifndef RD_STATUS_H
#define RD_STATUS_H

#include <stdarg.h>
#include <stddef.h>

typedef enum rd_status {
    RD_OK = 0,
    RD_ERR_INPUT,    /* malformed or inconsistent input data (exit 1) */
    RD_ERR_IO,       /* a file could not be opened/read/written (exit 1) */
    RD_ERR_USAGE,    /* bad option or argument combination (exit 2) */
    RD_ERR_NOMEM,    /* out of memory or over a memory limit (exit 3) */
    RD_ERR_DEVICE,   /* GPU/device failure (exit 3) */
    RD_ERR_INTERNAL, /* a broken invariant: a bug (exit 3) */
    RD_ERR_INTERRUPTED /* stopped by a signal (exit 130) */
} rd_status;

#define RD_ERROR_MSG_MAX 1024

typedef struct rd_error {
    rd_status status;
    char msg[RD_ERROR_MSG_MAX];
} rd_error;

/* A short name for a status ("bad input", "out of memory", ...). */
const char *rd_strerror(rd_status s);

/* Process exit code for a status: 0 ok, 1 bad input or I/O, 2 usage,
 * 3 resources (memory, device) and internal errors, 130 interrupted. */
int rd_exit_code(rd_status s);

/* Formats a message into err (if err is not NULL), sets err->status and
 * returns st, so callers can write `return rd_fail(err, RD_ERR_INPUT, ...)`. */
rd_status rd_fail(rd_error *err, rd_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* rd_fail with the place first: "FILE:LINE: message" when line > 0, else
 * "FILE: message". The one formatter of the parsers' errors; the arguments
 * may point into err->msg. */
rd_status rd_fail_at(rd_error *err, rd_status st, const char *file, long line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
rd_status rd_vfail_at(rd_error *err, rd_status st, const char *file, long line, const char *fmt, va_list ap);

/* Clears err to RD_OK with an empty message. err may be NULL. */
void rd_error_clear(rd_error *err);

/* Prefixes err->msg with "prefix: " (e.g. a file name), keeping the status. */
void rd_error_prefix(rd_error *err, const char *prefix);

#define RD_TRY(expr)                      \
    do {                                  \
        rd_status rd_try_s_ = (expr);     \
        if (rd_try_s_ != RD_OK) return rd_try_s_; \
    } while (0)

#endif
