/* decoder/rescore.h - n-best rescoring with a second LM (dec_rescore). */
#ifndef RD_DEC_RESCORE_H
#define RD_DEC_RESCORE_H

#include "common/status.h"
#include "decoder/decoder.h"
#include "lmstate/lm.h"

/* dec_rescore over a list: h[0..n) get rescore_lm and score = first_pass +
 * weight * rescore_lm + word_score * n_words (the rescoring LM's length
 * bonus, NeMo's beta: without it the added LM cost favours deletions), and
 * are re-ranked in place, best first. c needs 2 * n slots. */
rd_status dec_rescore_list(lm_cache *c, dec_hyp *h, int n, float weight, float word_score,
                           rd_error *err);

#endif
