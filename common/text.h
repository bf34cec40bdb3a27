/* common/text.h - whole-file text buffers and line iteration with line numbers.
 *
 * Parsers take a memory buffer (so fuzz targets can drive them) and report
 * "name:line: expected ...". rd_text_read loads a file ("-" = stdin) into one
 * NUL-terminated buffer; rd_line_iter walks it line by line, in place. */
#ifndef RD_TEXT_H
#define RD_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef struct rd_text {
    char *data;   /* owned, NUL-terminated (data[size] == '\0') */
    size_t size;  /* bytes, without the terminator */
} rd_text;

/* Reads the whole file (or stdin for "-"). */
rd_status rd_text_read(const char *path, rd_text *out, rd_error *err);
/* The same for a file already open as fd (a FIFO or pipe must be opened
 * once: a second open waits for a new writer); fd is closed. */
rd_status rd_text_read_fd(int fd, const char *name, rd_text *out, rd_error *err);
void rd_text_free(rd_text *t);

typedef struct rd_line_iter {
    const char *p, *end;
    long lineno;        /* 1-based number of the line last returned */
} rd_line_iter;

/* A UTF-8 byte order mark at buf is skipped: every line reader (units,
 * lexicon, lists, ARPA, references) takes BOM files as editors write them. */
void rd_line_iter_init(rd_line_iter *it, const char *buf, size_t n);

/* Returns 1 and sets *line and *len to the next line (no '\n', no trailing '\r'),
 * or 0 at the end. The line is not NUL-terminated; it may contain NULs. */
int rd_line_next(rd_line_iter *it, const char **line, size_t *len);

/* Splits s[0..n) at runs of spaces and tabs into at most max fields;
 * returns the number of fields (up to max; more are not counted). */
int rd_split_ws(const char *s, size_t n, const char **field, size_t *flen, int max);

/* Strict numbers: the whole field must parse. Return 1 on success. */
int rd_parse_float(const char *s, size_t n, float *out);
int rd_parse_double(const char *s, size_t n, double *out);
int rd_parse_long(const char *s, size_t n, long *out);

/* True if the n bytes at s are valid UTF-8. */
int rd_utf8_valid(const char *s, size_t n);

#endif
