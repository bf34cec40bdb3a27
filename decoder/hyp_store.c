#include "decoder/hyp_store.h"

#include <stdlib.h>

#include "common/arena.h"

void dec_store_init(dec_store *s) {
    s->node = NULL;
    s->n = s->cap = 0;
}

void dec_store_free(dec_store *s) {
    free(s->node);
    dec_store_init(s);
}

static int grow(dec_store *s, int32_t need) {
    if (need <= s->cap) return 1;
    int64_t cap = s->cap ? s->cap : 1024;
    while (cap < need) cap *= 2;
    if (cap > INT32_MAX) return 0;
    dec_node *n = rd_realloc_array(s->node, (size_t)cap, sizeof *n);
    if (!n) return 0;
    s->node = n;
    s->cap = (int32_t)cap;
    return 1;
}

rd_status dec_store_reset(dec_store *s, int32_t reserve, rd_error *err) {
    s->n = 0;
    if (!grow(s, reserve > 1 ? reserve : 1))
        return rd_fail(err, RD_ERR_NOMEM, "out of memory reserving %d hypothesis nodes", reserve);
    dec_store_add(s, -1, DEC_UNIT_END, DEC_WORD_ROOT, 0, 0);
    return RD_OK;
}

int32_t dec_store_add(dec_store *s, int32_t parent, int32_t unit, int32_t word,
                      int32_t start, int32_t frame) {
    if (s->n == INT32_MAX || !grow(s, s->n + 1)) return -1;
    dec_node *d = &s->node[s->n];
    d->parent = parent;
    d->unit = unit;
    d->word = word;
    d->start = start;
    d->frame = frame;
    d->end = frame;
    d->unit_start = frame;
    d->parent_end = frame - 1;
    return s->n++;
}
