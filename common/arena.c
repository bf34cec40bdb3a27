#include "common/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rd_arena_chunk {
    struct rd_arena_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void rd_arena_init(rd_arena *a, size_t chunk_size) {
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : (size_t)1 << 20;
    a->used_total = 0;
}

void *rd_arena_alloc(rd_arena *a, size_t n) {
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) return NULL;
    struct rd_arena_chunk *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t size = need > a->chunk_size ? need : a->chunk_size;
        if (size > SIZE_MAX - sizeof *c) return NULL;
        c = malloc(sizeof *c + size);
        if (!c) return NULL;
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->used_total += need;
    return p;
}

char *rd_arena_strndup(rd_arena *a, const char *s, size_t n) {
    char *p = rd_arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void rd_arena_reset(rd_arena *a) {
    struct rd_arena_chunk *c = a->head;
    if (!c) return;
    while (c->next) {
        struct rd_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    c->used = 0;
    a->head = c;
    a->used_total = 0;
}

void rd_arena_free(rd_arena *a) {
    struct rd_arena_chunk *c = a->head;
    while (c) {
        struct rd_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->used_total = 0;
}

void *rd_malloc_array(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    size_t n = count * size;
    return malloc(n ? n : 1);
}

void *rd_calloc_array(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *rd_realloc_array(void *p, size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    size_t n = count * size;
    return realloc(p, n ? n : 1);
}
