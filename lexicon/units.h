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

/* blank: unit name to use as the blank, or NULL to pick the first present of
 * "<blank>", "<pad>", "<s>", "_" (error if none). delimiter: unit name of the
 * word delimiter, NULL to pick the first present of "|", "<space>", "▁"
 * (none is fine), or "" for no delimiter. */
rd_status lex_units_load(const char *path, const char *blank,
                         const char *delimiter, lex_units **out, rd_error *err);
rd_status lex_units_parse(const char *buf, size_t n, const char *name,
                          const char *blank, const char *delimiter,
                          lex_units **out, rd_error *err);
void lex_units_free(lex_units *u);

int lex_units_count(const lex_units *u);
const char *lex_units_name(const lex_units *u, int id);
/* Unit id of the name (len bytes), or -1. */
int lex_units_find(const lex_units *u, const char *name, size_t len);
int lex_units_blank(const lex_units *u);
/* Word delimiter id, or -1 when the model has none. */
int lex_units_delimiter(const lex_units *u);
/* The text a unit contributes to a word spelled unit by unit (lexicon-free
 * decoding): the unit name, except "" for blank/delimiter. */
const char *lex_units_text(const lex_units *u, int id);

#endif
