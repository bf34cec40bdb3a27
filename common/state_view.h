/* common/state_view.h - where a recurrent model's state lives, for many slots.
 *
 * A state is a list of kinds (RWKV-7: att_shift, wkv, ffn_shift); every
 * layer has every kind. A view says where each kind is stored:
 * element e of kind k, layer l, slot s is at
 *   base[k] + l * layer_stride[k] + s * slot_stride[k] + e
 * (in elements of dtype[k]). The state cache (lmstate/state_cache.h) hands
 * out views of its storage; a model (lmstate/rwkv/rwkv.h) reads and writes
 * through them. Neither needs the other's header: a device storage back end
 * can fill a view too. */
#ifndef RD_STATE_VIEW_H
#define RD_STATE_VIEW_H

#include <stddef.h>

#include "common/dtype.h"

#define RD_STATE_MAX_KINDS 5

typedef struct rd_state_view {
    int n_kinds;
    void *base[RD_STATE_MAX_KINDS];
    rd_dtype dtype[RD_STATE_MAX_KINDS];   /* RD_F32, RD_F16 or RD_BF16 */
    size_t layer_stride[RD_STATE_MAX_KINDS];
    size_t slot_stride[RD_STATE_MAX_KINDS];
} rd_state_view;

#endif
