/* lexicon/units.h - the unit table: the acoustic model's output symbols.
 *
 * tokens.txt holds one unit a line; the line number (from 0) is the unit id.
 * Lines of the form "unit id" (k2/icefall) are accepted when every line has
 * that form and ids are 0..V-1. The blank and the word delimiter are found by
 * name or given by the caller. */
#ifndef RD_LEX_UNITS_H
#define RD_LEX_UNITS_H

#include <stddef.h>

#include "common/status.h"

typedef struct lex_units lex_units;

/* How units spell words (--unit-type).
 * LEX_UNITS_CHAR: a unit's name is its text; words end at the delimiter (or,
 *   without one, each unit is a word).
 * LEX_UNITS_SENTENCEPIECE: SentencePiece/BPE pieces ("▁the", "▁ca", "t"): a piece whose name begins with U+2581 starts a
 *   word, its text is the name without that mark; a lone U+2581 is no
 *   delimiter but a piece of empty text (a word's start).
 * LEX_UNITS_AUTO: SENTENCEPIECE when at least 2 units, and a tenth of them, are
 *   U+2581 followed by more text; else CHAR. */
typedef enum lex_unit_type { LEX_UNITS_AUTO, LEX_UNITS_CHAR, LEX_UNITS_SENTENCEPIECE } lex_unit_type;

/* blank: unit name to use as the blank, or NULL to pick the first present of
 * "<blank>", "<pad>", "<s>", "_" (error if none). delimiter: unit name of the
 * word delimiter, NULL to pick the first present of "|", "<space>", "▁"
 * (none is fine), or "" for no delimiter. */
rd_status lex_units_load(const char *path, const char *blank,
                         const char *delimiter, lex_units **out, rd_error *err);
rd_status lex_units_parse(const char *buf, size_t n, const char *name,
                          const char *blank, const char *delimiter,
                          lex_units **out, rd_error *err);
/* The same with a unit type (the two above: LEX_UNITS_AUTO). With
 * SENTENCEPIECE the automatic delimiter is "|" or "<space>" only; a given
 * delimiter is honoured. */
rd_status lex_units_load_ex(const char *path, const char *blank, const char *delimiter,
                            lex_unit_type type, lex_units **out, rd_error *err);
rd_status lex_units_parse_ex(const char *buf, size_t n, const char *name, const char *blank,
                             const char *delimiter, lex_unit_type type, lex_units **out,
                             rd_error *err);
void lex_units_free(lex_units *u);

int lex_units_count(const lex_units *u);
const char *lex_units_name(const lex_units *u, int id);
/* Unit id of the name (len bytes), or -1. */
int lex_units_find(const lex_units *u, const char *name, size_t len);
int lex_units_blank(const lex_units *u);
/* Word delimiter id, or -1 when the model has none. */
int lex_units_delimiter(const lex_units *u);
/* The text a unit contributes to a word spelled unit by unit (lexicon-free
 * decoding): the unit name, except "" for blank/delimiter, and a
 * SentencePiece word-start piece's name without its U+2581. */
const char *lex_units_text(const lex_units *u, int id);
/* LEX_UNITS_CHAR or LEX_UNITS_SENTENCEPIECE (never AUTO). */
lex_unit_type lex_units_type(const lex_units *u);
/* 1 when unit id starts a word: a SentencePiece piece beginning with U+2581
 * (not the delimiter); always 0 for CHAR units. */
int lex_units_word_start(const lex_units *u, int id);

#endif
