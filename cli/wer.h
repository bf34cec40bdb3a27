/* cli/wer.h - word and character error rates (the library part of rwkv-wer).
 *
 * Input files hold one utterance a line: `utt_id<TAB>text` (a space instead
 * of the tab is accepted; the id ends at the first space or tab; the text may
 * be empty). Words are runs of non-space characters (ASCII space, tab, \v,
 * \f, \r separate them); characters for the CER are the Unicode code points
 * of the text without those spaces, so CJK text is scored per character.
 *
 * Alignment is Levenshtein distance with unit costs for substitution,
 * deletion and insertion. Among alignments of equal cost the choice is
 * deterministic: the backtrace walks from the end of both sequences and, at
 * each cell, takes the first of (match or substitution, deletion, insertion)
 * that keeps the minimum cost. So a substitution is preferred over a deletion
 * plus an insertion, and trailing errors are placed as late as possible:
 * ref "a b", hyp "c" aligns as D(a) S(b/c); ref "a", hyp "b a" as I(b) C(a).
 * Memory: one byte per DP cell plus two rows; the buffers of a wer_scorer
 * grow to the largest utterance and are reused across utterances.
 *
 * Output helpers take a FILE* from the caller; nothing here prints to
 * stderr or exits. */
#ifndef RD_WER_H
#define RD_WER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/status.h"

/* ---------- input files ---------- */

typedef struct wer_utt {
    const char *id;    /* NUL-terminated, non-empty, inside the file's buffer */
    const char *text;  /* NUL-terminated, trimmed of surrounding spaces; may be "" */
    long line;         /* 1-based line number */
} wer_utt;

typedef struct wer_file {
    char *name;        /* owned copy of the name used in messages */
    char *buf;         /* owned text, lines cut in place */
    wer_utt *utts;     /* owned, in file order */
    size_t n;
    uint32_t *slots;   /* owned hash index over ids: utt index + 1, 0 = empty */
    size_t nslots;     /* a power of two */
} wer_file;

/* Parses a copy of buf[0..size) named `name` (used in messages: "ref.txt:4:
 * expected utt_id<TAB>text"). Blank lines (only spaces) are skipped; a UTF-8
 * byte-order mark on line 1 is skipped. Errors (RD_ERR_INPUT): a line that
 * starts with a space or tab, invalid UTF-8, a NUL byte, a duplicate id
 * (naming the line of its first use). On failure *out is left empty
 * (wer_file_free on it is harmless). */
rd_status wer_file_parse(const char *buf, size_t size, const char *name, wer_file *out,
                         rd_error *err);

/* Reads and parses a file ("-" = stdin). */
rd_status wer_file_read(const char *path, wer_file *out, rd_error *err);

void wer_file_free(wer_file *f);

/* The utterance with this id, or NULL. */
const wer_utt *wer_file_find(const wer_file *f, const char *id);

/* ---------- scoring ---------- */

typedef struct wer_options {
    int case_insensitive; /* fold case: ASCII, Latin-1, Greek and Cyrillic letters */
    int remove_punct;     /* delete punctuation (ASCII except the apostrophe, general
                             punctuation U+2010..U+2027 except U+2019, CJK and
                             full-width punctuation, ¡ ¿ « ») before scoring */
    int count_spaces;     /* CER: a run of spaces between words is one character */
} wer_options;

typedef struct wer_counts {
    long ref;               /* tokens (words or code points) in the references */
    long hyp;               /* tokens in the hypotheses */
    long ins, del, sub;     /* errors = ins + del + sub */
} wer_counts;

/* 100 * errors / ref; 0 when ref == 0 and there is no error; NAN when
 * ref == 0 and there are insertions (the rate is undefined). */
double wer_rate_percent(const wer_counts *c);

/* One token: a word, or one code point for the CER. */
typedef struct wer_token {
    const char *s;    /* for words: NUL-terminated, owned by the scorer */
    uint32_t len;     /* bytes */
    uint32_t hash;
} wer_token;

typedef enum wer_op { WER_OP_C = 'C', WER_OP_S = 'S', WER_OP_D = 'D', WER_OP_I = 'I' } wer_op;

/* One column of an alignment: ref/hyp are token indices, -1 for a gap. */
typedef struct wer_step {
    char op;          /* a wer_op */
    int32_t ref, hyp;
} wer_step;

/* Scoring of one utterance. Pointers are valid until the next call on the
 * scorer that produced it. */
typedef struct wer_utt_result {
    const wer_utt *ref;      /* NULL for an utterance only in the hyp file */
    const wer_utt *hyp;      /* NULL for an utterance missing from the hyp file */
    wer_counts words, chars;
    const wer_token *ref_words, *hyp_words; /* normalized words */
    size_t n_ref_words, n_hyp_words;
    const wer_step *steps;   /* word alignment, in order */
    size_t n_steps;
} wer_utt_result;

typedef struct wer_scorer wer_scorer; /* opaque; reusable buffers */

rd_status wer_scorer_create(const wer_options *opt, wer_scorer **out, rd_error *err);
void wer_scorer_free(wer_scorer *s);

/* Aligns hyp against ref (UTF-8 text, n bytes each; NUL bytes are refused),
 * words and characters, and fills *out (ref/hyp utterance pointers NULL).
 * Errors: RD_ERR_INPUT for invalid UTF-8, RD_ERR_NOMEM for an alignment
 * beyond WER_MAX_CELLS or out of memory. */
rd_status wer_score_text(wer_scorer *s, const char *ref, size_t rn, const char *hyp, size_t hn,
                         wer_utt_result *out, rd_error *err);

/* Largest DP matrix (cells = (ref tokens + 1) * (hyp tokens + 1)) allowed. */
#define WER_MAX_CELLS ((size_t)1 << 30)

typedef struct wer_summary {
    wer_counts words, chars;
    long scored;    /* utterances of the ref file (missing ones included) */
    long missing;   /* of those, absent from the hyp file: all deletions */
    long extra;     /* utterances only in the hyp file: ignored */
    long sent_err;  /* scored utterances with a word error (Kaldi's %SER) */
} wer_summary;

/* Called once per utterance: every ref utterance in file order (hyp NULL when
 * missing), then every hyp-only utterance in file order (ref NULL, zero
 * counts). A non-OK return stops the scoring and is returned. */
typedef rd_status (*wer_utt_fn)(void *ctx, const wer_utt_result *r, rd_error *err);

/* Scores every utterance of ref against hyp, summing into *out; fn may be
 * NULL. Errors name the ref file and line of the utterance. */
rd_status wer_score_files(wer_scorer *s, const wer_file *ref, const wer_file *hyp,
                          wer_utt_fn fn, void *ctx, wer_summary *out, rd_error *err);

/* ---------- output ---------- */

/* "WER 12.34% [ 56 / 454, 3 ins, 10 del, 43 sub ]" (no newline); an undefined
 * rate prints as "n/a". label is e.g. "WER" or "CER". */
void wer_format_counts(char *buf, size_t n, const char *label, const wer_counts *c);

/* For a missing or extra utterance, the note for stderr (without program name
 * or newline), e.g. "hyp.txt: missing utterance u3 (counted as 17 deletions)";
 * returns 0 (buf untouched) for an utterance present in both. */
int wer_format_note(char *buf, size_t n, const wer_utt_result *r, const wer_file *ref,
                    const wer_file *hyp);

/* Three lines: WER, CER, "Scored N utterances, M missing from hyp, K extra in hyp (ignored)". */
void wer_print_summary_text(FILE *out, const wer_summary *s);

/* Per-utterance alignment for --details: "id WER ... CER ...", then REF:, HYP:
 * and OP: lines (columns padded, *** for gaps, S/D/I; blank for a match),
 * then an empty line. Nothing for an extra utterance. */
void wer_print_utt_text(FILE *out, const wer_utt_result *r);

/* One JSON object for an utterance: {"id","ref","hyp" (null when missing),
 * "words","chars" (counts), "alignment":[{"op","ref","hyp"}...]}. */
void wer_print_utt_json(FILE *out, const wer_utt_result *r);

/* One JSON object and a newline: {"wer","cer" (fractions, null when
 * undefined),"words","chars" (counts),"utterances":{"scored","missing",
 * "extra"}, then ,"details":[details_json] when details_json is not NULL
 * (the comma-separated per-utterance objects). */
void wer_print_summary_json(FILE *out, const wer_summary *s, const char *details_json);

#endif
