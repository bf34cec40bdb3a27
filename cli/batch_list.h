/* cli/batch_list.h - rwkv-decode's utterance list, read as a stream.
 *
 * A list line is "id<TAB>path[<TAB>hotwords]", "id path" or a lone path (the
 * id is its stem); blank lines and '#' lines are skipped. The list is read
 * line by line, never held in memory: a regular file is read again from its
 * start (bl_rewind) for each pass, stdin or a FIFO is first copied to an
 * unnamed temporary file. Memory does not grow with the list's length. */
#ifndef RD_CLI_BATCH_LIST_H
#define RD_CLI_BATCH_LIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/status.h"

typedef struct bl_list {
    FILE *f;             /* the list, or its copy */
    const char *path;    /* as given ("-" = stdin) */
    const char *name;    /* in messages: path, or "<stdin>" */
    char *line;          /* getline's buffer */
    size_t line_cap;
    long lineno;         /* the line last read */
    char stem[512];      /* the id of a lone-path line */
} bl_list;

/* One utterance of the list; the strings point into the list's buffers and
 * live until the next bl_next. hot is NULL when the line has no third column. */
typedef struct bl_entry {
    const char *id, *path, *hot;
    size_t id_len, path_len, hot_len;
    long line;
} bl_entry;

/* Opens path ("-": stdin). Errors as reading a text file: cannot open, is a
 * directory, read error. */
rd_status bl_open(bl_list *l, const char *path, rd_error *err);
/* Back to the first line. */
rd_status bl_rewind(bl_list *l, rd_error *err);
/* The next utterance: 1, or 0 at the end; on a malformed line or a read error
 * returns -1 with *st and err set ("LIST:LINE: expected ..."). */
int bl_next(bl_list *l, bl_entry *e, rd_status *st, rd_error *err);
/* The first list line before line `before` whose id is id, 0 when none;
 * the read position is kept. */
rd_status bl_find_id(bl_list *l, const char *id, long before, long *line, rd_error *err);
void bl_close(bl_list *l);

/* The ids seen so far, as 64-bit hashes only: 8 bytes an entry, the table
 * grown at 7/8 full, so 9-18 bytes a line (27 while it grows). A hash seen
 * before may be another id: the caller rereads the list (bl_find_id). */
typedef struct bl_id_set {
    uint64_t *h;         /* 0: empty */
    size_t cap, n;
} bl_id_set;

uint64_t bl_id_hash(const char *id);
/* Adds h: 1 when it was there already, 0 when added, -1 out of memory. */
int bl_id_set_add(bl_id_set *s, uint64_t h);
void bl_id_set_free(bl_id_set *s);

#endif
