/* common/logsumexp.h - log-sum-exp of a float row, accumulated in double. */
#ifndef RD_LOGSUMEXP_H
#define RD_LOGSUMEXP_H

#include <math.h>
#include <stdint.h>

/* ln sum_i exp(x[i]) over n values; -inf when every value is -inf (or n is
 * 0). The row's maximum is subtracted first, so large logits do not
 * overflow. */
static inline double rd_logsumexp(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    if (m == -INFINITY) return -INFINITY;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += exp((double)(x[i] - m));
    return (double)m + log(s);
}

#endif
