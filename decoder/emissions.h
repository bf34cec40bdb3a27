/* decoder/emissions.h - turning acoustic-model outputs into log-probabilities.
 *
 * Emissions are [T, V] float32, row-major. What they hold is given or
 * detected: log-probabilities (every row's log-sum-exp is 0), probabilities
 * (every value in [0,1], rows summing to 1) or raw logits (anything else),
 * which are log-softmaxed. */
#ifndef RD_EMISSIONS_H
#define RD_EMISSIONS_H

#include <stdint.h>

#include "common/status.h"

typedef enum dec_input {
    DEC_INPUT_AUTO = 0,
    DEC_INPUT_LOGITS,
    DEC_INPUT_LOGPROBS,
    DEC_INPUT_PROBS
} dec_input;

/* Parses "auto", "logits", "logprobs", "probs"; returns -1 when unknown. */
int dec_input_parse(const char *s);
const char *dec_input_name(dec_input k);

/* Detects what x holds (never returns AUTO). NaN or +Inf anywhere, or -Inf
 * in what must be logits, is an error naming the frame and unit (name is
 * used in the message). */
rd_status dec_input_detect(const float *x, int64_t T, int64_t V, const char *name,
                           dec_input *kind, rd_error *err);

/* Converts x in place to natural-log probabilities. kind AUTO detects first;
 * *used (may be NULL) receives the kind that was applied. */
rd_status dec_emissions_to_logprobs(float *x, int64_t T, int64_t V, dec_input kind,
                                    const char *name, dec_input *used, rd_error *err);

#endif
