/* common/safe_write.h - output files written whole or not at all.
 *
 * rd_out_open gives a FILE* to write OUT through; rd_out_commit makes it OUT.
 * A regular OUT (or a new name) is written to a fresh temporary file made
 * with mkstemp in OUT's directory (O_CREAT|O_EXCL: a planted file or symlink
 * there is never followed or reused), flushed, fsync'ed and renamed over OUT
 * only then; a symlink at OUT is replaced, not followed. A FIFO, a character
 * or block device, a socket, or "-" (stdout) is written straight through and
 * never replaced. Any failure removes the temporary file. */
#ifndef RD_SAFE_WRITE_H
#define RD_SAFE_WRITE_H

#include <stdio.h>

#include "common/status.h"

typedef struct rd_out {
    FILE *f;      /* write here between open and commit/abort */
    char *path;   /* OUT (owned copy) */
    char *tmp;    /* the temporary file, NULL when written straight through */
    int is_stdout;
} rd_out;

/* Opens OUT for writing (see above). On failure nothing is left behind. */
rd_status rd_out_open(rd_out *o, const char *path, rd_error *err);

/* Flushes, syncs and closes; renames the temporary file over OUT. Every
 * failure ("OUT: write error: ...") removes the temporary file. o is freed. */
rd_status rd_out_commit(rd_out *o, rd_error *err);

/* Drops what was written: closes and removes the temporary file. */
void rd_out_abort(rd_out *o);

/* Writes n bytes to OUT with rd_out_open / rd_out_commit. */
rd_status rd_write_file(const char *path, const void *data, size_t n, rd_error *err);

#endif
