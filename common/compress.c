#include "common/compress.h"

#include <bzlib.h>
#include <errno.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

rd_compression rd_compression_of(const unsigned char *b, size_t n) {
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return RD_GZIP;
    if (n >= 6 && memcmp(b, "\xFD" "7zXZ\0", 6) == 0) return RD_XZ;
    if (n >= 4 && b[0] == 'B' && b[1] == 'Z' && b[2] == 'h' && b[3] >= '1' && b[3] <= '9') return RD_BZIP2;
    return RD_PLAIN;
}

const char *rd_compression_name(rd_compression c) {
    return c == RD_GZIP ? "gzip" : c == RD_XZ ? "xz" : c == RD_BZIP2 ? "bzip2" : "plain";
}

/* The output buffer: grows by doubling, keeps room for the NUL. */
typedef struct outbuf {
    char *data;
    size_t len, cap, max;
    int over;    /* 1: over max, 2: out of memory */
} outbuf;

/* Makes room for at least one more byte; returns 0 when out of memory or over max. */
static int outbuf_room(outbuf *o, rd_status *st) {
    if (o->len + 1 < o->cap) return 1;
    size_t nc = o->cap ? o->cap * 2 : 1 << 20;
    if (o->max && o->len >= o->max) {
        *st = RD_ERR_NOMEM;
        o->over = 1;
        return 0;
    }
    char *nd = realloc(o->data, nc);
    if (!nd) {
        *st = RD_ERR_NOMEM;
        o->over = 2;
        return 0;
    }
    o->data = nd;
    o->cap = nc;
    return 1;
}

static rd_status read_gzip(FILE *f, const char *path, outbuf *o, rd_error *err) {
    gzFile g = gzdopen(dup(fileno(f)), "rb");
    if (!g) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory opening gzip", path);
    rd_status st = RD_OK;
    for (;;) {
        if (!outbuf_room(o, &st)) break;
        size_t want = o->cap - 1 - o->len;
        int got = gzread(g, o->data + o->len, want > (1u << 30) ? 1u << 30 : (unsigned)want);
        if (got < 0) {
            int code;
            const char *m = gzerror(g, &code);
            gzclose(g);
            return rd_fail(err, RD_ERR_INPUT, "%s: corrupt gzip data: %s", path, m);
        }
        if (got == 0) break;
        o->len += (size_t)got;
    }
    int eof_ok = gzclose(g) == Z_OK;
    if (st == RD_OK && !eof_ok) return rd_fail(err, RD_ERR_INPUT, "%s: gzip data cut off or corrupt", path);
    return st;
}

static rd_status read_xz(FILE *f, const char *path, outbuf *o, rd_error *err) {
    lzma_stream z = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&z, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
        return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory opening xz", path);
    unsigned char in[1 << 16];
    rd_status st = RD_OK;
    lzma_action act = LZMA_RUN;
    for (;;) {
        if (z.avail_in == 0 && act == LZMA_RUN) {
            z.avail_in = fread(in, 1, sizeof in, f);
            z.next_in = in;
            if (z.avail_in == 0) act = LZMA_FINISH;
        }
        if (!outbuf_room(o, &st)) break;
        z.next_out = (uint8_t *)o->data + o->len;
        z.avail_out = o->cap - 1 - o->len;
        lzma_ret r = lzma_code(&z, act);
        o->len = o->cap - 1 - z.avail_out;
        if (r == LZMA_STREAM_END) break;
        if (r != LZMA_OK) {
            lzma_end(&z);
            return rd_fail(err, r == LZMA_MEM_ERROR ? RD_ERR_NOMEM : RD_ERR_INPUT, "%s: corrupt or cut-off xz data (liblzma error %d)",
                           path, (int)r);
        }
    }
    lzma_end(&z);
    return st;
}

static rd_status read_bzip2(FILE *f, const char *path, outbuf *o, rd_error *err) {
    bz_stream z;
    memset(&z, 0, sizeof z);
    if (BZ2_bzDecompressInit(&z, 0, 0) != BZ_OK) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory opening bzip2", path);
    char in[1 << 16];
    rd_status st = RD_OK;
    int eof = 0;
    for (;;) {
        if (z.avail_in == 0 && !eof) {
            z.avail_in = (unsigned)fread(in, 1, sizeof in, f);
            z.next_in = in;
            eof = z.avail_in == 0;
        }
        if (!outbuf_room(o, &st)) break;
        size_t room = o->cap - 1 - o->len;
        z.next_out = o->data + o->len;
        z.avail_out = room > (1u << 30) ? 1u << 30 : (unsigned)room;
        unsigned before = z.avail_out;
        int r = BZ2_bzDecompress(&z);
        o->len += before - z.avail_out;
        if (r == BZ_STREAM_END) {
            if (z.avail_in == 0 && !eof) { /* concatenated streams (pbzip2): go on */
                z.avail_in = (unsigned)fread(in, 1, sizeof in, f);
                z.next_in = in;
                eof = z.avail_in == 0;
            }
            if (eof && z.avail_in == 0) break;
            char *keep_in = z.next_in;
            unsigned keep_n = z.avail_in;
            BZ2_bzDecompressEnd(&z);
            memset(&z, 0, sizeof z);
            if (BZ2_bzDecompressInit(&z, 0, 0) != BZ_OK) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", path);
            z.next_in = keep_in;
            z.avail_in = keep_n;
            continue;
        }
        if (r != BZ_OK || (eof && z.avail_in == 0 && before == z.avail_out)) {
            BZ2_bzDecompressEnd(&z);
            return rd_fail(err, RD_ERR_INPUT, "%s: corrupt or cut-off bzip2 data", path);
        }
    }
    BZ2_bzDecompressEnd(&z);
    return st;
}

rd_status rd_decompress_file(const char *path, rd_compression c, size_t max_bytes, rd_text *out, rd_error *err) {
    out->data = NULL;
    out->size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    outbuf o = {NULL, 0, 0, max_bytes, 0};
    rd_status st = c == RD_GZIP ? read_gzip(f, path, &o, err) : c == RD_XZ ? read_xz(f, path, &o, err)
                                                                          : read_bzip2(f, path, &o, err);
    int bad = ferror(f);
    fclose(f);
    if (st == RD_OK && bad) st = rd_fail(err, RD_ERR_IO, "%s: read error", path);
    if (o.over == 1)
        st = rd_fail(err, RD_ERR_NOMEM, "%s: decompressed %s data over the limit of %zu bytes", path,
                     rd_compression_name(c), o.max);
    else if (o.over == 2)
        st = rd_fail(err, RD_ERR_NOMEM, "%s: out of memory decompressing (%zu bytes so far)", path, o.len);
    if (st != RD_OK) {
        free(o.data);
        return st;
    }
    if (!o.data && !(o.data = malloc(1))) return rd_fail(err, RD_ERR_NOMEM, "%s: out of memory", path);
    o.data[o.len] = '\0';
    out->data = o.data;
    out->size = o.len;
    return RD_OK;
}
