/* lmstate/rwkv/rwkv_group.h - the RWKV forward calls of several threads run
 * as one batch.
 *
 * A decoder asks its RWKV model for a few rows at a time (a frame's word
 * ends, a token position of them), and a small call pays for streaming the
 * weights once: on the CPU a one-row call costs about twice a row of an
 * eight-row call. A group lets the decoders of several utterances, each on
 * its own thread, take turns on one core: a member runs until its next
 * forward call, which it leaves in the group and waits; when no member is
 * left to run, the last one runs every waiting call as one rwkv_forward_rows
 * batch (rows of different state caches side by side), and the members run
 * on in turn. Only one member runs at a time, so a group is one core's worth
 * of work, whatever its member count.
 *
 * Each row's result is bit for bit what its own call would give
 * (rwkv_forward_rows), so decoding in a group changes no score.
 *
 * A thread joins with rwkv_group_enter (waiting for its turn) and gives its
 * turn up with rwkv_group_leave; between the two, every RWKV forward call it
 * makes through lm_rwkv.c goes through the group (rwkv_group_current). A
 * member must leave before it blocks on anything else (a lock held by a
 * thread that waits for its turn, a condition only another member brings
 * about): a member that neither runs nor waits in the group stops the
 * others. */
#ifndef RD_RWKV_GROUP_H
#define RD_RWKV_GROUP_H

#include "lmstate/rwkv/rwkv.h"

typedef struct rwkv_group rwkv_group;

/* A group of at most members threads at once (1..1024). */
rd_status rwkv_group_create(int members, rwkv_group **out, rd_error *err);
/* Every member must have left. */
void rwkv_group_free(rwkv_group *g);

/* The calling thread joins g (it must not be in a group) and returns when it
 * is its turn to run. Fails only when members threads are in already. */
rd_status rwkv_group_enter(rwkv_group *g, rd_error *err);
/* The calling thread gives its turn up and leaves its group. */
void rwkv_group_leave(void);
/* The group the calling thread has entered, or NULL. */
rwkv_group *rwkv_group_current(void);

/* rwkv_forward for the calling member: waits until the group runs its rows
 * with the other members' waiting rows, then returns its own status. ws is
 * the caller's workspace: the group runs the batch in one like it
 * (rwkv_workspace_like), of any size; a call whose arguments
 * rwkv_forward_check refuses fails alone, with nothing run. */
rd_status rwkv_group_forward(rwkv_group *g, rwkv_workspace *ws, int n,
                             const int32_t *token, const rwkv_state_view *src,
                             const int32_t *src_slot,
                             const rwkv_state_view *dst,
                             const int32_t *dst_slot, float *logits,
                             rd_error *err);

/* Members that wait for their turn (entered, not running); for tests. */
int rwkv_group_ready(rwkv_group *g);
/* Forward calls the members made, batches run, and rows. */
void rwkv_group_counts(rwkv_group *g, long long *calls, long long *batches,
                       long long *rows);

#endif
