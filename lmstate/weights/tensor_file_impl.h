/* lmstate/weights/tensor_file_impl.h - private: the tf_file object and the helpers
 * the format readers (tensor_file.c, tensor_pth.c, tensor_zip.c) share.
 * Not part of the public interface. */
#ifndef RD_TENSOR_FILE_IMPL_H
#define RD_TENSOR_FILE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "lmstate/weights/tensor_file.h"

struct tf_file {
    tf_format format;
    int32_t hdr[5];              /* rwkv.cpp header words, zeros otherwise */
    const unsigned char *buf;    /* the whole file */
    size_t size;
    void *owned;                 /* malloc'd copy of buf, or NULL */
    void *map;                   /* mmap'd buf, or NULL */
    tf_tensor *t;                /* file order */
    int n, cap;
    const tf_tensor **sorted;    /* by name, for tf_find */
    rd_arena names;              /* tensor names */
};

/* Counts elements and bytes of a shape; 0 on a negative dim or when the
 * byte count would exceed INT64_MAX. */
int tf_shape_bytes(rd_dtype dt, int ndim, const int64_t *shape, int64_t *numel,
                   uint64_t *bytes);

/* Appends a tensor named name[0..len) (copied; must hold no NUL byte), with
 * t->dtype/ndim/shape/data set (numel is recomputed). fname names the file
 * in messages. */
rd_status tf_push(tf_file *f, const char *fname, const char *name, size_t len,
                  const tf_tensor *t, rd_error *err);

/* Copies s[0..n) into dst for messages, non-printable bytes as '?', cut at
 * cap - 1 bytes. */
void tf_printable(char *dst, size_t cap, const char *s, size_t n);

/* Little-endian loads from unaligned bytes. */
static inline uint16_t tf_le16(const unsigned char *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t tf_le32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t tf_le64(const unsigned char *p) {
    return (uint64_t)tf_le32(p) | ((uint64_t)tf_le32(p + 4) << 32);
}

/* ---- zip archives (tensor_zip.c) ---- */

typedef struct tz_entry {
    const char *name;            /* not NUL-terminated; points into the file */
    size_t name_len;
    const unsigned char *data;   /* the entry's bytes as stored */
    uint64_t size;               /* stored (compressed) size */
    uint64_t usize;              /* uncompressed size */
    int method;                  /* 0 stored, 8 deflate, ... */
    int encrypted;
} tz_entry;

typedef struct tz_archive {
    tz_entry *e;                 /* sorted by name; owned */
    size_t n;
} tz_archive;

/* Reads the central directory (zip64 too) of b[0..n); every entry's data
 * is checked to lie inside the buffer. Free with tz_free. */
rd_status tz_open(const unsigned char *b, size_t n, const char *fname, tz_archive *z,
                  rd_error *err);
void tz_free(tz_archive *z);
/* The entry named name[0..len), or NULL. */
const tz_entry *tz_find(const tz_archive *z, const char *name, size_t len);

/* Format readers: fill f (already holding buf/size) or fail. */
rd_status tf_parse_safetensors(tf_file *f, const char *fname, rd_error *err);
rd_status tf_parse_pth(tf_file *f, const char *fname, rd_error *err);

#endif
