#include "common/strtab.h"

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/hash.h"

static uint32_t strtab_hash(const char *s, size_t len) { return rd_fnv1a32(RD_FNV32_OFFSET, s, len); }

void rd_strtab_init(rd_strtab *t) { memset(t, 0, sizeof *t); }

void rd_strtab_free(rd_strtab *t) {
    free(t->chars);
    free(t->off);
    free(t->hash);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

static int strtab_equal(const rd_strtab *t, int32_t id, const char *s, size_t len) {
    return rd_strtab_len(t, id) == len && memcmp(t->chars + t->off[id], s, len) == 0;
}

static int32_t strtab_lookup(const rd_strtab *t, const char *s, size_t len, uint32_t h,
                             uint32_t *pos) {
    uint32_t i = h & t->mask;
    for (;;) {
        int32_t id = t->slot[i];
        if (id < 0 || (t->hash[id] == h && strtab_equal(t, id, s, len))) {
            *pos = i;
            return id;
        }
        i = (i + 1) & t->mask;
    }
}

int32_t rd_strtab_find(const rd_strtab *t, const char *s, size_t len) {
    if (!t->slot) return -1;
    uint32_t pos;
    return strtab_lookup(t, s, len, strtab_hash(s, len), &pos);
}

/* Doubles the hash table (kept at most half full) and re-inserts every id. */
static int strtab_rehash(rd_strtab *t) {
    uint32_t size = t->slot ? (t->mask + 1) * 2 : 64;
    if (size == 0) return 0;
    int32_t *slot = rd_malloc_array(size, sizeof *slot);
    if (!slot) return 0;
    memset(slot, 0xff, (size_t)size * sizeof *slot);
    for (int32_t id = 0; id < t->count; id++) {
        uint32_t i = t->hash[id] & (size - 1);
        while (slot[i] >= 0) i = (i + 1) & (size - 1);
        slot[i] = id;
    }
    free(t->slot);
    t->slot = slot;
    t->mask = size - 1;
    return 1;
}

static int strtab_reserve(rd_strtab *t, size_t len) {
    if (t->count == t->id_cap) {
        if (t->id_cap >= INT32_MAX / 2) return 0;
        int32_t cap = t->id_cap ? t->id_cap * 2 : 64;
        size_t *off = rd_realloc_array(t->off, (size_t)cap, sizeof *off);
        if (!off) return 0;
        t->off = off;
        uint32_t *hash = rd_realloc_array(t->hash, (size_t)cap, sizeof *hash);
        if (!hash) return 0;
        t->hash = hash;
        t->id_cap = cap;
    }
    if (len >= SIZE_MAX / 4 - t->used) return 0;
    if (t->cap - t->used < len + 1) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap - t->used < len + 1) cap *= 2;
        char *chars = realloc(t->chars, cap);
        if (!chars) return 0;
        t->chars = chars;
        t->cap = cap;
    }
    if (!t->slot || (uint32_t)t->count + 1 > (t->mask + 1) / 2) return strtab_rehash(t);
    return 1;
}

int32_t rd_strtab_intern(rd_strtab *t, const char *s, size_t len, int *added) {
    *added = 0;
    uint32_t h = strtab_hash(s, len), pos;
    int32_t id = t->slot ? strtab_lookup(t, s, len, h, &pos) : -1;
    if (id >= 0) return id;
    if (!strtab_reserve(t, len)) return -1;
    strtab_lookup(t, s, len, h, &pos); /* the table may have been rebuilt */
    id = t->count++;
    t->off[id] = t->used;
    t->hash[id] = h;
    memcpy(t->chars + t->used, s, len);
    t->chars[t->used + len] = '\0';
    t->used += len + 1;
    t->slot[pos] = id;
    *added = 1;
    return id;
}
