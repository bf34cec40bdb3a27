/* lmstate/state_file.h - RWKV recurrent states saved to and loaded from files,
 * edited (blend, decay, reset) and measured (statistics, distances).
 *
 * A state is the model's recurrent state as fp32 laid out [kind][layer][size]
 * (what lm_state_get returns; kinds as rwkv_state_kinds declares them) plus
 * an int32 pending token (lm_rwkv.c: the last token of the last word, not
 * yet fed). A file holds n >= 1 states of one model and, optionally, the
 * text that made them.
 *
 * File format, version 1. Little-endian; integers unsigned unless said.
 *
 *   offset  bytes        field
 *   0       8            magic "RWKVSTAT"
 *   8       4            format version (1)
 *   12      4            header bytes H = 68 + 48 * n_kinds
 *   16      8            model fingerprint (rwkv_fingerprint)
 *   24      8            payload bytes P (all state records below)
 *   32      4 x 5        rwkv version (4 or 7), layers, width, head size
 *                        (0 for RWKV-4), vocabulary
 *   52      4            n_kinds (1..5)
 *   56      4            storage dtype: 0 fp32, 1 fp16, 2 bf16, 3 int8
 *   60      4            n states (>= 1)
 *   64      4            text bytes T (0 = no text)
 *   68      48 x n_kinds kinds: name (24 bytes, NUL-padded, at most 23
 *                        characters), u64 elements per layer, u64 elements
 *                        per int8 scale row (divides the size: the head
 *                        size for wkv, else the kind's size), f32 initial
 *                        value, 4 zero bytes
 *   H       4 x n        each state's pending token (int32, 0..vocabulary-1)
 *   H+4n    T            the text (bytes, no NUL)
 *   ...     P            states one after another, each [kind][layer][size]:
 *                        fp32/fp16/bf16 elements, or for int8 each row of
 *                        `row` elements as an f32 scale (max |x| / 127,
 *                        0 to 0x1.020406p+121, so 127 * scale is finite)
 *                        then `row` int8 values q,
 *                        -127 to 127 (x = q * scale)
 *   end-8   8            checksum: 64-bit FNV-1a of every byte before it
 *
 * Precision: fp32 round-trips bit for bit. fp16 and bf16 round to nearest
 * even (relative error at most 2^-11 and 2^-8; fp16 turns magnitudes above
 * 65504 into infinities, so RWKV-4's pp initial -1e30 is stored as -inf,
 * which the model treats alike). int8 errs by at most half a scale step,
 * max |x| / 254 of the element's row, and cannot store NaN or Inf.
 *
 * Errors name the file and what was wrong and expected, e.g.
 *   "s.state: truncated: the header says the file has 1234 bytes (1100 bytes
 *    of states), it has 1000"
 * Parsing validates everything into a fresh buffer before returning, so a
 * caller loads atomically: on error nothing is returned. */
#ifndef RD_STATE_FILE_H
#define RD_STATE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/state_view.h"
#include "common/status.h"

#define SF_FORMAT_VERSION 1
#define SF_KIND_NAME_MAX 24   /* bytes, NUL included */

typedef enum sf_dtype { SF_F32 = 0, SF_F16 = 1, SF_BF16 = 2, SF_I8 = 3 } sf_dtype;

/* What a state belongs to: the model and the layout of its state. */
typedef struct sf_model_info {
    uint64_t fingerprint;
    int rwkv_version, n_layer, n_embd, head_size, n_vocab;
    int n_kinds;
    char kind_name[RD_STATE_MAX_KINDS][SF_KIND_NAME_MAX];
    uint64_t kind_size[RD_STATE_MAX_KINDS];  /* elements per layer */
    uint64_t kind_row[RD_STATE_MAX_KINDS];   /* elements per int8 scale row */
    float kind_init[RD_STATE_MAX_KINDS];     /* initial value of every element */
} sf_model_info;

/* n states of one model. From sf_alloc / sf_parse / sf_load, data, pending
 * and text live in one block (block) that sf_free releases; a caller may
 * also fill the struct with its own pointers for sf_save / sf_encode (block
 * NULL; then it must not call sf_free). */
typedef struct sf_states {
    sf_model_info info;
    sf_dtype dtype;     /* how the file stored it (set by sf_parse) */
    int n;
    int32_t *pending;   /* n pending tokens */
    float *data;        /* n x sf_state_size(&info) fp32, state i at i * size */
    char *text;         /* NUL-terminated, or NULL: the text that made it */
    void *block;
} sf_states;

/* ---- model and layout ---- */

/* The info of a loaded RWKV model: sf_info_of_model in lmstate/rwkv/lm_rwkv.h. */
/* Elements of one state. */
size_t sf_state_size(const sf_model_info *info);
/* Offset (in elements) of (kind, layer) in a state. */
size_t sf_block_offset(const sf_model_info *info, int kind, int layer);
/* Index of the kind named name, or -1. */
int sf_kind_index(const sf_model_info *info, const char *name);
/* RD_OK when got and want describe the same model and layout; otherwise
 * RD_ERR_INPUT and "NAME: made for another model (fingerprint 0x..,
 * WANT_NAME 0x..; layers 2 vs 12)" (want_name NULL = "this model"). */
rd_status sf_check_model(const sf_model_info *got, const sf_model_info *want, const char *name,
                         const char *want_name, rd_error *err);

/* "fp32", "fp16", "bf16", "int8". */
const char *sf_dtype_name(sf_dtype t);
/* Parses one of those names; 0 when s is none of them. */
int sf_dtype_parse(const char *s, sf_dtype *out);

/* ---- states in memory ---- */

/* Allocates n states (each the initial state, pending token 0) and a copy of
 * text (may be NULL) in one block. */
rd_status sf_alloc(sf_states *s, const sf_model_info *info, int n, const char *text, rd_error *err);
void sf_free(sf_states *s);
/* Writes the initial state (every element its kind's initial value). */
void sf_initial(const sf_model_info *info, float *state);

/* ---- files ---- */

/* 64-bit FNV-1a of n bytes (the file checksum). */
uint64_t sf_checksum(const void *buf, size_t n);
/* Serializes s into a fresh malloc'd buffer (*out, *n bytes; the caller
 * frees it). Refuses int8 for states holding NaN or Inf, pending tokens out
 * of the vocabulary and n < 1. */
rd_status sf_encode(const sf_states *s, sf_dtype dtype, unsigned char **out, size_t *n, rd_error *err);
/* sf_encode, written with rd_write_file (common/safe_write.h): a fresh
 * temporary file renamed over a regular path, so a reader never sees a
 * half-written file and on error path is untouched; a FIFO or device at path
 * is written through, "-" is stdout. */
rd_status sf_save(const char *path, const sf_states *s, sf_dtype dtype, rd_error *err);
/* Parses n bytes (name for messages). expect: the model the states must
 * belong to, or NULL to accept any. On success *out owns its block; on
 * error *out is empty (nothing to free). */
rd_status sf_parse(const void *buf, size_t n, const char *name, const sf_model_info *expect, sf_states *out,
                   rd_error *err);
/* Reads path whole and sf_parse's it. */
rd_status sf_load(const char *path, const sf_model_info *expect, sf_states *out, rd_error *err);

/* ---- editing (fp32 states of one layout; out may alias an input) ---- */

/* out = a * (1 - w[k]) + b * w[k] for every element of kind k
 * (w: info->n_kinds weights; any finite value, 0..1 interpolates).
 * Returns how many elements came out non-finite (weights that overflow);
 * the caller must not save such a state. */
size_t sf_blend(const sf_model_info *info, const float *a, const float *b, const float *w, float *out);
/* x = x * factor + init * (1 - factor): factor 1 keeps the state, 0 gives
 * the initial state (both exactly). Linear in every kind: RWKV-4's pp (a
 * log-scale exponent, initial -1e30) decays toward -1e30 too, which fades
 * aa and bb's weight much faster than the factor says. */
void sf_decay(const sf_model_info *info, float *state, float factor);
/* Elements of the layers with layers[l] != 0 (NULL = every layer) and the
 * kinds with bit k set in kinds go back to their initial value. */
void sf_reset(const sf_model_info *info, float *state, const unsigned char *layers, unsigned kinds);

/* ---- measuring ---- */

typedef struct sf_stats {
    size_t n, nan, inf;  /* elements; NaN and +-Inf counts */
    float min, max;      /* over the finite elements; NaN when there are none */
    double mean, l2;     /* likewise; l2 = sqrt(sum x^2) */
} sf_stats;

/* Statistics of one kind (-1 = every kind) of one layer (-1 = every layer). */
void sf_stats_of(const sf_model_info *info, const float *state, int kind, int layer, sf_stats *out);

typedef struct sf_distance {
    double l2;      /* sqrt(sum (a - b)^2) */
    double cosine;  /* a.b / (|a| |b|); 1 when both are zero, 0 when one is */
} sf_distance;

/* Distance between two states over one kind (-1 = every kind) of one layer
 * (-1 = every layer). NaN and Inf elements propagate into the results. */
void sf_distance_of(const sf_model_info *info, const float *a, const float *b, int kind, int layer,
                    sf_distance *out);

#endif
