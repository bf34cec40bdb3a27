/* tests/testrwkv.h - what the RWKV runtime's tests (test_rwkv.c,
 * test_rwkv_group.c, test_kernels.c) share: loading a model of
 * ../shared/data (skipped when absent) and state views of many slots laid out
 * [layer][slot][size] as the state cache lays them out. Include after
 * tests/testutil.h. */
#ifndef RD_TESTRWKV_H
#define RD_TESTRWKV_H

#include "lmstate/rwkv/rwkv.h"

/* The model at ../shared/data/REL; the test is skipped when it is absent. */
static inline rwkv_model *load_or_skip(const char *rel) {
    char path[512];
    RD_DATA_OR_SKIP(path, rel);
    rd_error err;
    rwkv_model *m = NULL;
    if (rwkv_load(path, &m, &err) != RD_OK) fail_msg("%s", err.msg);
    return m;
}

/* n slots of every kind in dtype dt (f32, f16 or bf16), each reset. */
typedef struct slots {
    rwkv_state_view v;
    void *mem[RWKV_MAX_KINDS];
    size_t bytes[RWKV_MAX_KINDS];
} slots;

static inline void slots_make(const rwkv_model *m, int n, rd_dtype dt, slots *s) {
    rwkv_kind_info info[RWKV_MAX_KINDS];
    memset(s, 0, sizeof *s);
    s->v.n_kinds = rwkv_state_kinds(m, info);
    for (int k = 0; k < s->v.n_kinds; k++) {
        s->bytes[k] = info[k].size * (size_t)n * (size_t)rwkv_n_layer(m) * (dt == RD_F32 ? 4 : 2);
        s->mem[k] = malloc(s->bytes[k]);
        assert_non_null(s->mem[k]);
        s->v.base[k] = s->mem[k];
        s->v.dtype[k] = dt;
        s->v.slot_stride[k] = info[k].size;
        s->v.layer_stride[k] = info[k].size * (size_t)n;
    }
    for (int i = 0; i < n; i++) rwkv_state_reset(m, &s->v, i);
}

static inline void slots_free(slots *s) {
    for (int k = 0; k < RWKV_MAX_KINDS; k++) free(s->mem[k]);
}

/* 1 when a and b (made alike) hold the same bytes in every slot. */
static inline int slots_equal(const slots *a, const slots *b) {
    for (int k = 0; k < a->v.n_kinds; k++)
        if (memcmp(a->mem[k], b->mem[k], a->bytes[k]) != 0) return 0;
    return 1;
}

#endif
