/* lmstate/rwkv/lm_rwkv.h - what callers above the LM interface (the CLI's
 * state commands, tests) may see of an RWKV LM: the model behind an
 * lm_model and the state-file info of a model. The decoder does not include
 * this header; it sees slots, words and scores only (lmstate/lm.h). */
#ifndef RD_LM_RWKV_H
#define RD_LM_RWKV_H

#include "common/status.h"
#include "lmstate/lm.h"
#include "lmstate/rwkv/rwkv.h"
#include "lmstate/state_file.h"

/* The RWKV model behind m, or NULL (ARPA, a mix). */
const rwkv_model *lm_rwkv(const lm_model *m);

/* Forward rows an RWKV cache has run so far (every token fed, stems and
 * word tokens, look-ahead and </s> included), or -1 for another LM: the
 * measure of what the word memo, the bounds and resuming save. */
long long lm_rwkv_rows(const lm_cache *c);

/* The RWKV cache's slot bookkeeping between calls (sc_check_slots); RD_OK
 * for another LM. -DRD_DEBUG builds check it after every word scoring. */
rd_status lm_rwkv_check(const lm_cache *c, rd_error *err);

/* The state-file info of a loaded model (fingerprint, dims, kinds); fails
 * only on a kind name too long for the format (a bug). */
rd_status sf_info_of_model(const rwkv_model *m, sf_model_info *out, rd_error *err);

#endif
