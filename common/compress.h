/* common/compress.h - reading gzip, xz and bzip2 files whole (LM files as
 * they are published: librispeech-3-gram.arpa.gz and the like).
 *
 * zlib, liblzma and libbzip2 do the decompression; this module only detects
 * the format by its magic bytes and grows one buffer. */
#ifndef RD_COMPRESS_H
#define RD_COMPRESS_H

#include <stddef.h>

#include "common/status.h"
#include "common/text.h"

typedef enum rd_compression { RD_PLAIN = 0, RD_GZIP, RD_XZ, RD_BZIP2 } rd_compression;

/* The compression a file starting with b[0..n) uses (RD_PLAIN if none). */
rd_compression rd_compression_of(const unsigned char *b, size_t n);
/* "gzip", "xz", "bzip2" or "plain". */
const char *rd_compression_name(rd_compression c);

/* Reads and decompresses path whole into out (NUL-terminated, as
 * rd_text_read). max_bytes > 0 refuses more decompressed bytes than that
 * (RD_ERR_NOMEM). Errors name the file and the format. */
rd_status rd_decompress_file(const char *path, rd_compression c, size_t max_bytes, rd_text *out, rd_error *err);

#endif
