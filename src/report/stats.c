// report/stats: the median and spread of repeated measurements, and paired ratios between two engines
// measured alternately. NaN means "not measured" and is skipped everywhere.
#include "report.h"

#include <math.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_sorted(const double *v, int n) {
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

qw_stat qw_stat_of(const double *v, int n) {
    qw_stat s = {NAN, NAN, NAN};
    double w[QW_BENCH_MAX_REPS];
    int m = 0;
    for (int i = 0; i < n && m < QW_BENCH_MAX_REPS; i++)
        if (!isnan(v[i])) w[m++] = v[i];
    if (!m) return s;
    qsort(w, (size_t)m, sizeof *w, cmp_double);
    s.med = median_sorted(w, m);
    s.min = w[0];
    s.max = w[m - 1];
    return s;
}

double qw_stat_paired_ratio(const double *a, const double *b, int n) {
    double r[QW_BENCH_MAX_REPS];
    int m = 0;
    for (int i = 0; i < n && m < QW_BENCH_MAX_REPS; i++)
        if (!isnan(a[i]) && !isnan(b[i]) && b[i] != 0) r[m++] = a[i] / b[i];
    if (!m) return NAN;
    qsort(r, (size_t)m, sizeof *r, cmp_double);
    return median_sorted(r, m);
}
