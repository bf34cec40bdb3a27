/* tests/testutil.h - helpers shared by the cmocka tests. */
#ifndef RD_TESTUTIL_H
#define RD_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* Path of a file under the shared reference data (../shared/data, or
 * $RD_SHARED_DATA), written into buf; returns buf, or NULL when the file is
 * absent (the test should then call skip()). */
static inline const char *rd_test_data(char *buf, size_t n, const char *rel) {
    const char *root = getenv("RD_SHARED_DATA");
    if (!root || !*root) root = "../shared/data";
    snprintf(buf, n, "%s/%s", root, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

#define RD_DATA_OR_SKIP(buf, rel)                                   \
    do {                                                            \
        if (!rd_test_data((buf), sizeof(buf), (rel))) {             \
            fprintf(stderr, "skipping: %s not found\n", (rel));     \
            skip();                                                 \
        }                                                           \
    } while (0)

/* Writes text to a fresh temporary file; returns its path (static buffer
 * per call site is the caller's: pass buf). */
static inline const char *rd_test_tmpfile(char *buf, size_t n, const char *text,
                                          size_t len) {
    snprintf(buf, n, "/tmp/rd_test_XXXXXX");
    int fd = mkstemp(buf);
    if (fd < 0) return NULL;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w <= 0) { close(fd); return NULL; }
        off += (size_t)w;
    }
    close(fd);
    return buf;
}

#endif
