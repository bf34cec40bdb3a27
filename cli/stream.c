/* cli/stream.c - rwkv-decode --stream: one utterance decoded as it arrives.
 *
 * Reads a growing .npy file, stdin or raw float32 frames chunk by chunk,
 * feeds the decoder's begin/step/end API and prints the partial result (the
 * stable words, or the current best with --partial best) as it changes, then
 * the final result in the --format's writer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/decode_app.h"
#include "cli/stream.h"
#include "cli/workers.h"
#include "common/npy.h"
#include "common/status.h"
#include "common/timer.h"
#include "decoder/decoder.h"
#include "decoder/emissions.h"
#include "lexicon/units.h"
#include "lmstate/lm.h"

typedef struct stream_in {
    int fd, regular, raw;
    const char *name;
    unsigned char *buf;
    size_t len, cap;
    double timeout;
} stream_in;

/* Reads until s->len >= want or end of data; a regular file that has not
 * grown for s->timeout seconds counts as ended. Returns 0 on a read error. */
static int stream_fill(stream_in *s, size_t want) {
    double idle = 0;
    while (s->len < want) {
        if (want > s->cap) {
            size_t nc = s->cap ? s->cap : 1 << 16;
            while (nc < want) nc *= 2;
            unsigned char *nb = realloc(s->buf, nc);
            if (!nb) return 0;
            s->buf = nb;
            s->cap = nc;
        }
        ssize_t r = read(s->fd, s->buf + s->len, s->cap - s->len);
        if (r < 0) return 0;
        if (r > 0) {
            s->len += (size_t)r;
            idle = 0;
            continue;
        }
        if (!s->regular || idle >= s->timeout) break;
        usleep(20000); /* a file still being written: wait for more */
        idle += 0.02;
    }
    return 1;
}

static void stream_consume(stream_in *s, size_t n) {
    memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
}

static void print_partial(app *a, const item *it, const char *text, int64_t frame) {
    if (a->o.json) {
        fputs("{\"utt\":", stdout);
        cli_json_string(stdout, it->id);
        fprintf(stdout, ",\"frame\":%lld,\"%s\":", (long long)frame, a->o.partial_best ? "partial" : "stable");
        cli_json_string(stdout, text);
        fputs("}\n", stdout);
    } else {
        printf("%s\tpartial\t%s\n", it->id, text);
    }
    check_stdout(a);
}

/* True when the first bytes of a stream read as numbers in text (digits,
 * signs, points, exponents, separators): raw float32 logits never start so
 * (their first 4 bytes would be a float near 1e-19). */
static int looks_like_text(const unsigned char *b, size_t n) {
    if (n < 4) return 0;
    for (size_t i = 0; i < n && i < 64; i++)
        if (!b[i] || !strchr("0123456789+-.eE \t,\r\n", b[i])) return 0;
    return 1;
}

/* Decodes a->items[0] frame by frame as its data arrives. */
rd_status run_stream(app *a, rd_error *err) {
    const item *it = &a->items[0];
    if (it->ctx < 0) {
        char tok[4096];
        if (strcmp(it->path, "-") != 0 && access(it->path, F_OK) != 0)
            return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", it->path, strerror(errno));
        tokens_for(a, it->path, tok, sizeof tok);
        return rd_fail(err, RD_ERR_USAGE, "%s: no tokens file: give --tokens (looked for %s)", it->path, tok);
    }
    const model_ctx *c = &a->ctx[it->ctx];
    int64_t V = lex_units_count(c->units);
    stream_in s = {.fd = strcmp(it->path, "-") == 0 ? 0 : open(it->path, O_RDONLY), .name = it->path,
                   .timeout = a->o.stream_timeout};
    if (s.fd < 0) return rd_fail(err, RD_ERR_IO, "%s: cannot open: %s", it->path, strerror(errno));
    struct stat stt;
    s.regular = fstat(s.fd, &stt) == 0 && S_ISREG(stt.st_mode);
    dec_decoder *d = NULL;
    float *x = NULL;
    rd_status st = dec_create(&a->o.dec, c->units, c->lex, a->lm, &d, err);
    if (st == RD_OK) st = dec_set_boost(d, a->boost, err);
    rd_npy_hdr h = {0};
    int64_t total = -1; /* frames announced by a .npy header */
    if (st == RD_OK && !stream_fill(&s, 6)) st = rd_fail(err, RD_ERR_IO, "%s: read error: %s", s.name, strerror(errno));
    if (st == RD_OK && s.len >= 1 && s.buf[0] == 0x93) {
        for (;;) {
            st = rd_npy_header(s.buf, s.len, s.name, &h, err);
            if (st != RD_OK || h.need == 0) break;
            size_t had = s.len;
            if (!stream_fill(&s, h.need)) st = rd_fail(err, RD_ERR_IO, "%s: read error: %s", s.name, strerror(errno));
            else if (s.len == had) st = rd_fail(err, RD_ERR_INPUT, "%s: the .npy header is cut off (%zu bytes)", s.name, s.len);
            if (st != RD_OK) break;
        }
        if (st == RD_OK && (h.ndim != 2 || h.shape[1] != V))
            st = rd_fail(err, RD_ERR_INPUT, "%s: expected a [T,%lld] array (%s lists %lld units), found %d-D shape [%lld,%lld]",
                         s.name, (long long)V, c->tokens_path, (long long)V, h.ndim, (long long)h.shape[0],
                         (long long)h.shape[1]);
        if (st == RD_OK) {
            stream_consume(&s, h.data_offset);
            total = h.shape[0];
        }
    } else if (st == RD_OK && looks_like_text(s.buf, s.len)) {
        st = rd_fail(err, RD_ERR_INPUT, "%s: looks like a text matrix: --stream reads .npy or raw float32 frames; "
                     "decode a text matrix without --stream", s.name);
    } else if (st == RD_OK) {
        s.raw = 1; /* raw little-endian float32 frames */
        h.kind = 'f';
        h.elem_size = 4;
    }
    int64_t chunk = a->o.chunk_frames, t = 0;
    size_t row_bytes = (size_t)V * h.elem_size;
    if (st == RD_OK) x = calloc((size_t)(chunk * V), sizeof *x);
    if (st == RD_OK && !x) st = rd_fail(err, RD_ERR_NOMEM, "out of memory for %lld frames", (long long)chunk);
    if (st == RD_OK) st = dec_begin(d, err);
    dec_input kind = a->o.input;
    int shown = 0;
    char *last_best = strdup("");
    if (!last_best) st = rd_fail(err, RD_ERR_NOMEM, "out of memory");
    double t0 = rd_now();
    while (st == RD_OK && !a->out_errno && (total < 0 || t < total)) {
        int64_t want = total < 0 || total - t > chunk ? chunk : total - t;
        if (!stream_fill(&s, (size_t)want * row_bytes)) {
            st = rd_fail(err, RD_ERR_IO, "%s: read error: %s", s.name, strerror(errno));
            break;
        }
        int64_t n = (int64_t)(s.len / row_bytes);
        if (n > want) n = want;
        if (n == 0) {
            if (total >= 0)
                st = rd_fail(err, RD_ERR_INPUT, "%s: truncated: the header says %lld frames, %lld arrived%s", s.name,
                             (long long)total, (long long)t, s.regular ? " (and the file stopped growing)" : "");
            else if (s.len)
                st = rd_fail(err, RD_ERR_INPUT, "%s: %zu bytes after frame %lld are not a whole frame of %lld float32 values",
                             s.name, s.len, (long long)t, (long long)V);
            break;
        }
        rd_npy_convert(&h, s.buf, (size_t)(n * V), x);
        stream_consume(&s, (size_t)n * row_bytes);
        dec_input used = kind;
        st = dec_emissions_to_logprobs(x, n, V, kind, s.name, &used, err);
        if (st != RD_OK) {
            char where[64];
            snprintf(where, sizeof where, "chunk from frame %lld", (long long)t);
            rd_error_prefix(err, where);
            break;
        }
        kind = used; /* decided on the first chunk, kept for the rest */
        st = dec_step(d, x, (int)n, err);
        t += n;
        if (st == RD_OK && a->o.partial_best) { /* the current best, each time it changes */
            const char *best = dec_partial(d);
            if (strcmp(best, last_best) != 0) {
                print_partial(a, it, best, t);
                free(last_best);
                last_best = strdup(best);
                if (!last_best) st = rd_fail(err, RD_ERR_NOMEM, "out of memory");
            }
            continue;
        }
        int nw;
        const char *stable = st == RD_OK ? dec_stable(d, &nw) : "";
        if (st == RD_OK && nw > shown) {
            print_partial(a, it, stable, t);
            shown = nw;
        }
    }
    if (st == RD_OK && t == 0 && !a->out_errno) st = rd_fail(err, RD_ERR_INPUT, "%s: no frames (T = 0)", s.name);
    lm_cache *rescore = NULL;
    if (st == RD_OK && !a->out_errno) st = dec_end(d, err);
    if (st == RD_OK && !a->out_errno) st = rescore_nbest(a, d, &rescore, err);
    if (st == RD_OK && !a->out_errno) {
        a->single = 0;
        format_result(a, it, d, t, stdout);
        check_stdout(a);
        double el = rd_now() - t0;
        if (!a->o.quiet && !a->out_errno)
            fprintf(stderr, PROG ": streamed %lld frames in chunks of %lld, %.3f s (%.0f frames/s)\n", (long long)t,
                    (long long)chunk, el, el > 0 ? (double)t / el : 0.0);
    } else if (err->msg[0] && !strstr(err->msg, s.name)) {
        rd_error_prefix(err, s.name);
    }
    if (s.fd > 0) close(s.fd);
    free(last_best);
    free(s.buf);
    free(x);
    dec_free(d);
    lm_cache_free(rescore);
    return st;
}
