/* lmstate/state_cache.h - one recurrent LM state per (utterance, beam, homophone) slot.
 *
 * A model declares its state as kinds (RWKV-7: att_shift, wkv, ffn_shift),
 * each with a per-layer size; every layer has every kind. Storage per kind is
 * [layer][physical slot][size], contiguous, in fp32, fp16 or bf16 (arithmetic
 * stays fp32 in the model).
 *
 * Slots are logical: each maps to a physical slot, reference-counted. So
 *   reorder(survivors)  slot i takes survivors[i]'s state by remapping: no
 *                       state is copied, whatever the state size;
 *   clone(src, dst)     likewise a remap;
 *   update              copy-on-write: a row reads its parent's physical slot
 *                       and writes a fresh one (the gather fused into the
 *                       model's step), so a state shared by several slots is
 *                       never overwritten.
 * (DESIGN.md planned a double buffer with a gather fused into the next update;
 * the map does the same job without the copy of states that are not updated.)
 *
 * Slot index of (utterance u, beam b, homophone h): u * (beam * H) + b * H + h.
 * Not thread-safe: one cache per decoding thread. */
#ifndef RD_STATE_CACHE_H
#define RD_STATE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/dtype.h"
#include "common/state_view.h"
#include "common/status.h"

#define SC_MAX_KINDS RD_STATE_MAX_KINDS

typedef struct sc_kind {
    const char *name;   /* for messages and inspection */
    size_t size;        /* elements per layer per slot */
    float init;         /* initial value of every element (before set_initial) */
    size_t row;         /* elements per int8 scale row (0 = size): RWKV-7 wkv: head size */
} sc_kind;

typedef struct sc_config {
    int n_kinds;
    sc_kind kind[SC_MAX_KINDS];
    int n_layers;
    int n_slots;        /* logical slots */
    int max_rows;       /* most rows one update may write (default n_slots) */
    rd_dtype dtype;     /* RD_F32, RD_F16 or RD_BF16 storage */
    size_t max_bytes;   /* refuse a cache larger than this; 0 = no limit */
    int int8_sim;       /* measurement aid: every state an update writes is rounded
                           to int8 with one fp32 scale per row (max|x|/127), as int8
                           storage at rest would give back; kinds whose initial value
                           is not 0 (RWKV-4 pp) stay exact. Storage stays cfg.dtype:
                           sc_int8_bytes_per_slot says what int8 would take. */
} sc_config;

typedef struct sc_cache sc_cache;

static inline int32_t sc_slot_index(int32_t utt, int32_t b, int32_t h, int32_t beam, int32_t H) {
    return utt * (beam * H) + b * H + h;
}
static inline void sc_slot_split(int32_t slot, int32_t beam, int32_t H, int32_t *utt,
                                 int32_t *b, int32_t *h) {
    *utt = slot / (beam * H);
    *b = slot % (beam * H) / H;
    *h = slot % H;
}

/* Bytes of one physical slot (all kinds and layers) in the storage dtype. */
size_t sc_bytes_per_slot(const sc_config *cfg);
/* Bytes one slot would take stored as int8 with a 4-byte scale a row (kinds
 * with a nonzero initial value in fp32). */
size_t sc_int8_bytes_per_slot(const sc_config *cfg);
/* Rounds n floats, row by row, to int8 with a per-row scale, in place. */
void sc_int8_round(float *x, size_t n, size_t row);
/* Bytes the whole cache allocates (physical slots = n_slots + max_rows + 1). */
size_t sc_total_bytes(const sc_config *cfg);

/* Allocates the cache; refuses before allocating when it would exceed
 * cfg->max_bytes, naming the sizes. Every slot starts in the initial state. */
rd_status sc_create(const sc_config *cfg, sc_cache **out, rd_error *err);
/* Bytes the cache holds (sc_total_bytes of its config); *per_slot and
 * *n_phys (when not NULL) receive the bytes of one slot and the number of
 * physical slots. */
size_t sc_bytes(const sc_cache *c, size_t *per_slot, int *n_phys);
void sc_free(sc_cache *c);
const sc_config *sc_config_of(const sc_cache *c);

/* Sets the initial state (fp32, laid out [kind][layer][size]); every slot
 * reset afterwards starts from it. */
void sc_set_initial(sc_cache *c, const float *state);
/* Slots return to the initial state. */
void sc_reset(sc_cache *c, const int32_t *slot, int n);
/* Slot i takes the state of survivors[i] (repeats allowed), i < n; slots
 * n.. keep their states. */
rd_status sc_reorder(sc_cache *c, const int32_t *survivors, int n, rd_error *err);
void sc_clone(sc_cache *c, int32_t src, int32_t dst);

/* The physical storage as a state view (a model's step reads and writes it). */
void sc_view(const sc_cache *c, rd_state_view *v);
int32_t sc_phys(const sc_cache *c, int32_t slot);

/* Update protocol: sc_update_begin gives each row a fresh physical slot to
 * write (dst_phys) and the physical slot to read (src_phys = the slot
 * src[i]'s state). The model then reads src_phys and writes dst_phys;
 * sc_update_commit maps slot child[i] to dst_phys[i]. Rows may also chain:
 * reading their own dst_phys in later steps. n <= max_rows. */
rd_status sc_update_begin(sc_cache *c, const int32_t *src, int n, int32_t *src_phys,
                          int32_t *dst_phys, rd_error *err);
void sc_update_commit(sc_cache *c, const int32_t *child, const int32_t *dst_phys, int n);
/* Gives back physical slots from sc_update_begin that were not committed. */
void sc_update_abort(sc_cache *c, const int32_t *dst_phys, int n);
/* Raw physical slots for a model's scratch rows: n fresh ones (to give back
 * with sc_update_abort, or bind with sc_update_commit). */
rd_status sc_phys_alloc(sc_cache *c, int n, int32_t *phys, rd_error *err);
/* Gives back those of phys[0..n) that no slot references (distinct ids). */
void sc_phys_release_unreferenced(sc_cache *c, const int32_t *phys, int n);

/* Copies the states of slots into out, fp32, [n][kind][layer][size]. */
void sc_gather(const sc_cache *c, const int32_t *slot, int n, float *out);
/* Writes one slot's state from fp32 [kind][layer][size] (a fresh physical
 * slot; nothing else changes). */
rd_status sc_load_slot(sc_cache *c, int32_t slot, const float *state, rd_error *err);
/* Elements of one state: sum of kind sizes times layers. */
size_t sc_state_size(const sc_config *cfg);
/* A model's own references to physical slots, beside the slots': a held
 * slot stays live (its contents and version kept) until dropped, whatever
 * happens to the slots that pointed at it. Each hold needs its drop. A slot
 * held with no reference yet is one the model just wrote: it counts as
 * written (its layers initialized, rounded under int8_sim) as
 * sc_update_commit counts a fresh one. */
void sc_phys_hold(sc_cache *c, const int32_t *phys, int n);
void sc_phys_drop(sc_cache *c, const int32_t *phys, int n);
/* Between updates: the free list holds each unreferenced physical slot
 * (but 0, the initial state) exactly once and nothing else, and every slot
 * maps to a referenced one. An error names the first slot that breaks it. */
rd_status sc_check_slots(const sc_cache *c, rd_error *err);
/* Physical slots free for sc_phys_alloc. */
int sc_phys_free(const sc_cache *c);
/* Physical slots in use (for tests and memory reports). */
int sc_phys_in_use(const sc_cache *c);
/* A physical slot's version: it changes whenever the slot is handed out
 * afresh or written in place, so (phys, version) names one state's contents
 * for as long as the slot is live (referenced by a slot). Lets a model
 * remember results per state across updates (lm_rwkv's word memo). */
uint32_t sc_phys_version(const sc_cache *c, int32_t phys);
int sc_phys_live(const sc_cache *c, int32_t phys);

/* Per-layer access. A layer of a slot is "initialized" once an update (the
 * model's step), sc_load_slot or sc_layer_set wrote it; a reset slot shares
 * the initial state and writes nothing until its first update (lazy), so
 * every layer reports uninitialized until then. set and reset copy a shared
 * state first (copy-on-write); kind -1 in reset means every kind (and clears
 * the layer's flag; one kind alone leaves the flag set). */
int sc_layer_is_initialized(const sc_cache *c, int32_t slot, int layer);
rd_status sc_layer_get(const sc_cache *c, int32_t slot, int layer, int kind, float *out,
                       rd_error *err);
rd_status sc_layer_set(sc_cache *c, int32_t slot, int layer, int kind, const float *v,
                       rd_error *err);
rd_status sc_layer_reset(sc_cache *c, int32_t slot, int layer, int kind, rd_error *err);
/* Fails naming slot, layer, kind and element of the first NaN or infinity
 * in the slots' states (-inf is tolerated in fp16/bf16 storage: RWKV-4's pp
 * starts at -1e30). Called after every update in RD_DEBUG builds. */
rd_status sc_check_finite(const sc_cache *c, const int32_t *slot, int n, rd_error *err);

#endif
