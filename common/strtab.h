/* common/strtab.h - the string-to-id table: interned strings with dense ids.
 *
 * Strings get ids 0..count-1 in order of first insertion; lookups go through
 * an open-addressing hash table. The characters live in one growing buffer,
 * each string NUL-terminated, so rd_strtab_str pointers stay valid only
 * until the next rd_strtab_intern (which may move the buffer). Used for unit
 * names and the lexicon's words (lexicon/), hotword words (decoder/boost.c)
 * and the RWKV LM's word handles (lmstate/rwkv/lm_rwkv.c). */
#ifndef RD_STRTAB_H
#define RD_STRTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct rd_strtab {
    char *chars;      /* every string followed by '\0' */
    size_t used, cap; /* bytes of chars */
    size_t *off;      /* off[id]: start of string id in chars */
    uint32_t *hash;   /* hash[id] */
    int32_t count, id_cap;
    int32_t *slot;    /* hash table of ids, -1 = empty; size mask + 1 */
    uint32_t mask;
} rd_strtab;

void rd_strtab_init(rd_strtab *t);
void rd_strtab_free(rd_strtab *t);

/* Id of s[0..len), or -1. */
int32_t rd_strtab_find(const rd_strtab *t, const char *s, size_t len);

/* Id of s[0..len), inserting it when absent (*added = 1 then, else 0).
 * Returns -1 when out of memory or past INT32_MAX strings. */
int32_t rd_strtab_intern(rd_strtab *t, const char *s, size_t len, int *added);

/* The NUL-terminated string of id, or NULL when id is not in 0..count-1. */
static inline const char *rd_strtab_get(const rd_strtab *t, int32_t id) {
    return id >= 0 && id < t->count ? t->chars + t->off[id] : NULL;
}

/* The NUL-terminated string of id (0 <= id < count) and its length. */
static inline const char *rd_strtab_str(const rd_strtab *t, int32_t id) {
    return t->chars + t->off[id];
}
static inline size_t rd_strtab_len(const rd_strtab *t, int32_t id) {
    size_t end = id + 1 < t->count ? t->off[id + 1] : t->used;
    return end - t->off[id] - 1;
}

#endif
