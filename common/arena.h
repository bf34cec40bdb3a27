/* common/arena.h - bump allocation for objects that die together.
 *
 * An arena hands out aligned blocks from big chunks and frees them all at
 * once. Used for lexicon strings, trie nodes and per-utterance scratch. */
#ifndef RD_ARENA_H
#define RD_ARENA_H

#include <stddef.h>

typedef struct rd_arena {
    struct rd_arena_chunk *head;
    size_t chunk_size;   /* default size of a new chunk */
    size_t used_total;   /* bytes handed out, for memory reports */
} rd_arena;

void rd_arena_init(rd_arena *a, size_t chunk_size);
/* Returns 16-byte aligned memory, or NULL when out of memory. */
void *rd_arena_alloc(rd_arena *a, size_t n);
/* Copies n bytes and a NUL terminator. */
char *rd_arena_strndup(rd_arena *a, const char *s, size_t n);
/* Frees every chunk but keeps the first, ready for reuse. */
void rd_arena_reset(rd_arena *a);
void rd_arena_free(rd_arena *a);

/* Checked helpers for plain heap allocation: NULL on overflow or failure. */
void *rd_malloc_array(size_t count, size_t size);
void *rd_calloc_array(size_t count, size_t size);
void *rd_realloc_array(void *p, size_t count, size_t size);

#endif
