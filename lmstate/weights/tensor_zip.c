/* lmstate/weights/tensor_zip.c - the central directory of a zip archive (with zip64
 * records), as torch.save writes it: entries are located, not inflated.
 *
 * Layout read here: end of central directory record (PK\5\6, in the last
 * 64 KiB), optionally preceded by a zip64 locator (PK\6\7) pointing at a
 * zip64 end record (PK\6\6); central directory entries (PK\1\2), each naming
 * a local header (PK\3\4) followed by the entry's data. */
#include <stdlib.h>
#include <string.h>

#include "lmstate/weights/tensor_file_impl.h"

#define SIG_EOCD 0x06054b50u
#define SIG_Z64_LOCATOR 0x07064b50u
#define SIG_Z64_EOCD 0x06064b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_LOCAL 0x04034b50u

/* Where the central directory is, from the end records. */
typedef struct tz_dir {
    uint64_t count, size, offset;
} tz_dir;

static rd_status zip64_end(const unsigned char *b, size_t n, size_t eocd, const char *fname,
                           tz_dir *d, rd_error *err) {
    if (eocd < 20 || tf_le32(b + eocd - 20) != SIG_Z64_LOCATOR)
        return rd_fail(err, RD_ERR_INPUT, "%s: byte %zu: expected a zip64 end locator before the "
                       "end of central directory record", fname, eocd);
    uint64_t off = tf_le64(b + eocd - 12);
    if (off > n || n - off < 56 || tf_le32(b + off) != SIG_Z64_EOCD)
        return rd_fail(err, RD_ERR_INPUT, "%s: byte %llu: expected a zip64 end of central "
                       "directory record", fname, (unsigned long long)off);
    d->count = tf_le64(b + off + 32);
    d->size = tf_le64(b + off + 40);
    d->offset = tf_le64(b + off + 48);
    return RD_OK;
}

static rd_status find_dir(const unsigned char *b, size_t n, const char *fname, tz_dir *d,
                          rd_error *err) {
    size_t lo = n > 22 + 65535 ? n - 22 - 65535 : 0, pos = n >= 22 ? n - 22 : 0;
    while (n >= 22 && pos > lo && tf_le32(b + pos) != SIG_EOCD) pos--;
    if (n < 22 || tf_le32(b + pos) != SIG_EOCD)
        return rd_fail(err, RD_ERR_INPUT, "%s: expected a zip end of central directory record in "
                       "the last 64 KiB", fname);
    d->count = tf_le16(b + pos + 10);
    d->size = tf_le32(b + pos + 12);
    d->offset = tf_le32(b + pos + 16);
    if (d->count == 0xFFFF || d->size == 0xFFFFFFFFu || d->offset == 0xFFFFFFFFu)
        RD_TRY(zip64_end(b, n, pos, fname, d, err));
    if (d->offset > n || d->size > n - d->offset)
        return rd_fail(err, RD_ERR_INPUT, "%s: zip central directory at byte %llu (%llu bytes) "
                       "is outside the file", fname, (unsigned long long)d->offset,
                       (unsigned long long)d->size);
    if (d->count > d->size / 46)
        return rd_fail(err, RD_ERR_INPUT, "%s: zip central directory of %llu bytes cannot hold "
                       "%llu entries", fname, (unsigned long long)d->size,
                       (unsigned long long)d->count);
    return RD_OK;
}

/* Replaces 0xFFFFFFFF sizes/offset by their zip64 extra field values. */
static rd_status zip64_extra(const unsigned char *x, size_t xlen, uint64_t *v[3], size_t at,
                             const char *fname, rd_error *err) {
    while (xlen >= 4) {
        unsigned id = tf_le16(x), len = tf_le16(x + 2);
        if (len > xlen - 4) break;
        if (id == 1) {
            size_t k = 0;
            for (int i = 0; i < 3; i++) {
                if (*v[i] != 0xFFFFFFFFu) continue;
                if (len < k + 8)
                    return rd_fail(err, RD_ERR_INPUT, "%s: byte %zu: zip64 extra field too short",
                                   fname, at);
                *v[i] = tf_le64(x + 4 + k);
                k += 8;
            }
            return RD_OK;
        }
        x += 4 + len;
        xlen -= 4 + (size_t)len;
    }
    for (int i = 0; i < 3; i++)
        if (*v[i] == 0xFFFFFFFFu)
            return rd_fail(err, RD_ERR_INPUT, "%s: byte %zu: expected a zip64 extra field", fname,
                           at);
    return RD_OK;
}

/* Locates the data of an entry through its local header. */
static rd_status entry_data(const unsigned char *b, size_t n, uint64_t off, tz_entry *e,
                            const char *fname, rd_error *err) {
    char nm[200];
    tf_printable(nm, sizeof nm, e->name, e->name_len);
    if (off > n || n - off < 30 || tf_le32(b + off) != SIG_LOCAL)
        return rd_fail(err, RD_ERR_INPUT, "%s: zip entry %s: expected a local header at byte %llu",
                       fname, nm, (unsigned long long)off);
    uint64_t start = off + 30 + tf_le16(b + off + 26) + tf_le16(b + off + 28);
    if (start > n || e->size > n - start)
        return rd_fail(err, RD_ERR_INPUT, "%s: zip entry %s: expected %llu bytes of data at byte "
                       "%llu, found %llu", fname, nm, (unsigned long long)e->size,
                       (unsigned long long)start,
                       (unsigned long long)(start > n ? 0 : n - start));
    e->data = b + start;
    return RD_OK;
}

/* One central directory entry at *at. */
static rd_status central_entry(const unsigned char *b, size_t n, size_t end, size_t *at,
                               tz_entry *e, const char *fname, rd_error *err) {
    size_t p = *at;
    if (end - p < 46 || tf_le32(b + p) != SIG_CENTRAL)
        return rd_fail(err, RD_ERR_INPUT, "%s: byte %zu: expected a zip central directory entry",
                       fname, p);
    size_t nlen = tf_le16(b + p + 28), xlen = tf_le16(b + p + 30), clen = tf_le16(b + p + 32);
    if (end - p - 46 < nlen + xlen + clen)
        return rd_fail(err, RD_ERR_INPUT, "%s: byte %zu: zip central directory entry runs past "
                       "the directory", fname, p);
    memset(e, 0, sizeof *e);
    e->encrypted = tf_le16(b + p + 8) & 1;
    e->method = tf_le16(b + p + 10);
    e->size = tf_le32(b + p + 20);
    e->usize = tf_le32(b + p + 24);
    e->name = (const char *)b + p + 46;
    e->name_len = nlen;
    uint64_t off = tf_le32(b + p + 42);
    uint64_t *v[3] = {&e->usize, &e->size, &off};
    RD_TRY(zip64_extra(b + p + 46 + nlen, xlen, v, p, fname, err));
    RD_TRY(entry_data(b, n, off, e, fname, err));
    *at = p + 46 + nlen + xlen + clen;
    return RD_OK;
}

static int cmp_entry(const void *x, const void *y) {
    const tz_entry *a = x, *b = y;
    size_t k = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, k);
    if (c) return c;
    return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

rd_status tz_open(const unsigned char *b, size_t n, const char *fname, tz_archive *z,
                  rd_error *err) {
    memset(z, 0, sizeof *z);
    tz_dir d = {0, 0, 0};
    RD_TRY(find_dir(b, n, fname, &d, err));
    z->e = rd_malloc_array(d.count ? (size_t)d.count : 1, sizeof *z->e);
    if (!z->e) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory for the zip directory", fname);
    size_t at = (size_t)d.offset, end = (size_t)(d.offset + d.size);
    for (uint64_t i = 0; i < d.count; i++) {
        rd_status s = central_entry(b, n, end, &at, &z->e[i], fname, err);
        if (s != RD_OK) {
            tz_free(z);
            return s;
        }
        z->n++;
    }
    qsort(z->e, z->n, sizeof *z->e, cmp_entry);
    return RD_OK;
}

void tz_free(tz_archive *z) {
    free(z->e);
    memset(z, 0, sizeof *z);
}

const tz_entry *tz_find(const tz_archive *z, const char *name, size_t len) {
    tz_entry key;
    memset(&key, 0, sizeof key);
    key.name = name;
    key.name_len = len;
    return z->n ? bsearch(&key, z->e, z->n, sizeof *z->e, cmp_entry) : NULL;
}
