// eval/stats: the uncertainty that comes with every number eval reports: Wilson intervals, the exact
// McNemar test and Tango's interval for paired accuracies, means with standard errors, quantiles.
#include "eval.h"

#include <math.h>

qw_interval qw_eval_wilson(int64_t k, int64_t n, double z) {
    if (n <= 0) return (qw_interval){0, 1};
    double nn = (double)n, p = (double)k / nn, z2 = z * z;
    double den = 1 + z2 / nn;
    double center = (p + z2 / (2 * nn)) / den;
    double half = z / den * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    qw_interval r = {center - half, center + half};
    // at k = 0 or k = n one end is exactly 0 or 1; rounding must not push it past
    if (k == 0 || r.lo < 0) r.lo = 0;
    if (k == n || r.hi > 1) r.hi = 1;
    return r;
}

double qw_eval_mcnemar_p(int64_t b, int64_t c) {
    int64_t n = b + c, k = b < c ? b : c;
    if (n == 0) return 1;
    // P(X <= k), X ~ Binomial(n, 1/2), term by term in log space so that large n cannot overflow
    double lfn = lgamma((double)n + 1), sum = 0;
    for (int64_t i = 0; i <= k; i++)
        sum += exp(lfn - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) - (double)n * M_LN2);
    double p = 2 * sum;
    return p > 1 ? 1 : p;
}

// Tango's statistic at Δ: (b - c - nΔ) / sqrt(n (2 q + Δ(1 - Δ))), q the restricted maximum-likelihood
// estimate of the second discordant cell's probability given Δ. Decreasing in Δ.
static double tango_stat(double b, double c, double n, double D) {
    double A = 2 * n, B = -b - c + (2 * n - b + c) * D, C = -c * D * (1 - D);
    double disc = B * B - 4 * A * C;
    double q = (sqrt(disc > 0 ? disc : 0) - B) / (2 * A);
    double var = n * (2 * q + D * (1 - D)), num = b - c - n * D;
    if (var <= 0) return num == 0 ? 0 : num > 0 ? INFINITY : -INFINITY;
    return num / sqrt(var);
}

qw_interval qw_eval_paired_diff_ci(int64_t b, int64_t c, int64_t n, double z) {
    if (n <= 0) return (qw_interval){-1, 1};
    double B = (double)b, C = (double)c, N = (double)n, d = (B - C) / N;
    qw_interval r = {-1, 1};
    if (tango_stat(B, C, N, -1) > z) { // lower end: where the statistic falls to z, left of the estimate
        double lo = -1, hi = d;
        for (int i = 0; i < 100; i++) {
            double m = 0.5 * (lo + hi);
            if (tango_stat(B, C, N, m) > z) lo = m;
            else hi = m;
        }
        r.lo = hi;
    }
    if (tango_stat(B, C, N, 1) < -z) {
        double lo = d, hi = 1;
        for (int i = 0; i < 100; i++) {
            double m = 0.5 * (lo + hi);
            if (tango_stat(B, C, N, m) < -z) hi = m;
            else lo = m;
        }
        r.hi = lo;
    }
    return r;
}

void qw_eval_mean_stderr(const double *x, int64_t n, double *mean, double *stderr_) {
    *mean = 0;
    *stderr_ = 0;
    if (n <= 0) return;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    double m = s / (double)n, ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m); // two passes: no cancellation
    *mean = m;
    if (n >= 2) *stderr_ = sqrt(ss / (double)(n - 1) / (double)n);
}

double qw_eval_quantile(const double *sorted, int64_t n, double q) {
    if (n <= 0) return 0;
    double pos = q * (double)(n - 1);
    int64_t i = (int64_t)floor(pos);
    if (i >= n - 1) return sorted[n - 1];
    if (i < 0) return sorted[0];
    double f = pos - (double)i;
    return sorted[i] + f * (sorted[i + 1] - sorted[i]);
}

double qw_eval_logsumexp(const float *z, int64_t n, int32_t *argmax) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (z[i] > z[best]) best = i;
    float mx = z[best];
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += expf(z[i] - mx);
    if (argmax) *argmax = (int32_t)best;
    return (double)mx + log(s);
}

qw_paired qw_eval_paired(const uint8_t *model_correct, const uint8_t *ref_correct, int n) {
    int64_t a = 0, b = 0, c = 0;
    for (int i = 0; i < n; i++) {
        int x = model_correct[i] != 0, y = ref_correct[i] != 0;
        a += x && y, b += x && !y, c += !x && y;
    }
    qw_paired r;
    r.ref_acc = n ? (double)(a + c) / n : 0;
    r.diff = n ? (double)(b - c) / n : 0;
    r.diff_ci = qw_eval_paired_diff_ci(b, c, (int64_t)n, QW_Z95);
    r.p_value = qw_eval_mcnemar_p(b, c);
    r.n_discordant = b + c;
    r.only_model = b;
    r.only_ref = c;
    return r;
}
