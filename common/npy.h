/* common/npy.h - NumPy .npy reader and writer.
 *
 * Reads format versions 1.0, 2.0 and 3.0; dtypes float16/float32/float64
 * (and int32/int64, converted to float), either byte order, C or Fortran
 * order, 1-D to 3-D. Whatever is on disk, the result is float32 in C order. */
#ifndef RD_NPY_H
#define RD_NPY_H

#include <stdint.h>
#include <stddef.h>

#include "common/status.h"

#define RD_NPY_MAX_DIMS 3

typedef struct rd_npy {
    float *data;                     /* owned; C order; NULL when size is 0 */
    int ndim;                        /* 1..RD_NPY_MAX_DIMS */
    int64_t shape[RD_NPY_MAX_DIMS];  /* unused dims are 1 */
    int64_t size;                    /* product of shape[0..ndim-1] */
} rd_npy;

/* Reads path into out (out->data owned by the caller, free with rd_npy_free).
 * Errors name the file and what was expected, e.g.
 * "x.npy: expected the magic string \x93NUMPY". */
rd_status rd_npy_read(const char *path, rd_npy *out, rd_error *err);

/* The same from a memory buffer; name is used in messages only. */
rd_status rd_npy_parse(const void *buf, size_t n, const char *name, rd_npy *out,
                       rd_error *err);

/* Emissions by content: a .npy file (magic \x93NUMPY), else a plain-text
 * matrix: one frame a line, values separated by blanks (spaces, tabs) or by
 * one ',' or ';'; blank lines and lines starting with '#' are skipped; every
 * row has as many values as the first. The result is 2-D [rows, cols] (rows
 * may be 0). path "-" reads stdin. Errors name file:line and the value. */
rd_status rd_matrix_read(const char *path, rd_npy *out, rd_error *err);
rd_status rd_matrix_parse(const void *buf, size_t n, const char *name, rd_npy *out,
                          rd_error *err);
rd_status rd_matrix_parse_text(const void *buf, size_t n, const char *name, rd_npy *out,
                               rd_error *err);

void rd_npy_free(rd_npy *a);

/* Reading a .npy frame by frame (a growing file, a pipe): rd_npy_header
 * parses the header from the first n bytes. When more bytes are needed it
 * returns RD_OK with out->need > n; else out->need is 0 and the data starts
 * at out->data_offset. C order only. rd_npy_convert turns n elements of that
 * data into float32. */
typedef struct rd_npy_hdr {
    size_t need;         /* bytes needed before the header can be read; 0 when read */
    int ndim;
    int64_t shape[RD_NPY_MAX_DIMS];
    size_t data_offset, elem_size;
    char kind;           /* 'f', 'i', 'u' */
    int big;             /* big-endian data */
} rd_npy_hdr;
rd_status rd_npy_header(const void *buf, size_t n, const char *name, rd_npy_hdr *out,
                        rd_error *err);
void rd_npy_convert(const rd_npy_hdr *h, const void *src, size_t n, float *dst);

/* Writes a float32 C-order array of ndim (1..3) dims (format version 1.0),
 * safely (common/safe_write.h: temporary file renamed over path). */
rd_status rd_npy_write_f32(const char *path, const float *data, int ndim,
                           const int64_t *shape, rd_error *err);

#endif
