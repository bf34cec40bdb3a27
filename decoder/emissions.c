#include "decoder/emissions.h"

#include <math.h>
#include <string.h>

#include "common/logsumexp.h"

static const char *const input_names[] = {"auto", "logits", "logprobs", "probs"};

int dec_input_parse(const char *s) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, input_names[i]) == 0) return i;
    return -1;
}

const char *dec_input_name(dec_input k) {
    return (unsigned)k < 4 ? input_names[k] : "?";
}

/* Classifies x; with refuse_neg_inf, -inf in what look like raw logits is an
 * error (an explicit --input kind turns that refusal off). */
static rd_status detect(const float *x, int64_t T, int64_t V, const char *name, int refuse_neg_inf,
                        dec_input *kind, rd_error *err) {
    int logprobs = 1, probs = 1, has_neg_inf = 0;
    int64_t stride = T > 64 ? T / 64 : 1;
    /* a log-probability row has max <= 0 and max >= -ln V (its best unit
     * holds at least 1/V): checked on every row, no exp needed */
    double min_max = -log((double)V) - 1e-3;
    for (int64_t t = 0; t < T; t++) {
        const float *r = x + t * V;
        double sum = 0;
        int bad = 0, out01 = 0;
        float mx = -INFINITY;
        for (int64_t v = 0; v < V; v++) { /* branch-free: the common case is clean */
            float a = r[v];
            bad |= (a != a) | (a == INFINITY);
            has_neg_inf |= a == -INFINITY;
            out01 |= (a < 0.0f) | (a > 1.0f);
            mx = a > mx ? a : mx;
            sum += a;
        }
        if (out01) probs = 0;
        for (int64_t v = 0; bad && v < V; v++)
            if (isnan(r[v]) || r[v] == INFINITY)
                return rd_fail(err, RD_ERR_INPUT, "%s: frame %lld, unit %lld: value is %s", name,
                               (long long)t, (long long)v, isnan(r[v]) ? "nan" : "inf");
        if (probs && fabs(sum - 1.0) > 1e-3) probs = 0;
        if (mx > 1e-3f || mx < min_max) logprobs = 0;
        /* and every sampled row's logsumexp is 0: up to 64 rows spread over
         * the utterance (exp is the cost here) */
        if (logprobs && (t % stride == 0 || t == T - 1) && fabs(rd_logsumexp(r, V)) > 1e-3) logprobs = 0;
    }
    if (logprobs) *kind = DEC_INPUT_LOGPROBS;
    else if (probs) *kind = DEC_INPUT_PROBS;
    else *kind = DEC_INPUT_LOGITS;
    if (refuse_neg_inf && *kind == DEC_INPUT_LOGITS && has_neg_inf) {
        /* -inf is fine in log-probabilities; logits must be finite */
        for (int64_t i = 0; i < T * V; i++)
            if (x[i] == -INFINITY)
                return rd_fail(err, RD_ERR_INPUT, "%s: frame %lld, unit %lld: value is -inf in what look like raw logits "
                               "(give --input logprobs if they are log-probabilities)",
                               name, (long long)(i / V), (long long)(i % V));
    }
    return RD_OK;
}

rd_status dec_input_detect(const float *x, int64_t T, int64_t V, const char *name,
                           dec_input *kind, rd_error *err) {
    return detect(x, T, V, name, 1, kind, err);
}

rd_status dec_emissions_to_logprobs(float *x, int64_t T, int64_t V, dec_input kind,
                                    const char *name, dec_input *used, rd_error *err) {
    dec_input detected;
    RD_TRY(detect(x, T, V, name, kind == DEC_INPUT_AUTO, &detected, err));
    if (kind == DEC_INPUT_AUTO) kind = detected;
    if (used) *used = kind;
    for (int64_t t = 0; t < T; t++) {
        float *r = x + t * V;
        if (kind == DEC_INPUT_PROBS) {
            for (int64_t v = 0; v < V; v++) {
                if (r[v] < 0.0f)
                    return rd_fail(err, RD_ERR_INPUT, "%s: frame %lld, unit %lld: probability %g is negative",
                                   name, (long long)t, (long long)v, (double)r[v]);
                r[v] = logf(r[v]);
            }
        } else if (kind == DEC_INPUT_LOGITS) {
            float lse = (float)rd_logsumexp(r, V);
            if (!isfinite(lse))
                return rd_fail(err, RD_ERR_INPUT, "%s: frame %lld: every logit is -inf", name, (long long)t);
            for (int64_t v = 0; v < V; v++) r[v] -= lse;
        }
    }
    return RD_OK;
}
