/* decoder/rescore.h - n-best rescoring with a second LM (dec_rescore). */
#ifndef RD_DEC_RESCORE_H
#define RD_DEC_RESCORE_H

#include "common/status.h"
#include "decoder/decoder.h"
#include "lmstate/lm.h"

/* dec_rescore over a list: h[0..n) get rescore_lm and score (from first_pass)
 * and are re-ranked in place, best first. c needs 2 * n slots. */
rd_status dec_rescore_list(lm_cache *c, dec_hyp *h, int n, float weight, rd_error *err);

#endif
