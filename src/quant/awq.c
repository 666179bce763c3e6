// quant/awq: activation-aware weight quantization (Lin et al. 2023, mit-han-lab/llm-awq auto_scale):
// per input channel scales from the mean activation magnitude, the exponent searched on calibration
// data against the output error of the quantized linears, folded into the op that produces the input.
#include "quantize.h"

#include "kernels/kernels.h"

#include <math.h>


// llm-awq: s = mean|x|^alpha clamped at 1e-4, divided by sqrt(max(s) min(s)) so the scales straddle 1.
static void scales_for(const double *mean_abs, int64_t cols, double alpha, float *s) {
    double mx = 0, mn = INFINITY;
    for (int64_t c = 0; c < cols; c++) {
        double v = pow(mean_abs[c] > 1e-4 ? mean_abs[c] : 1e-4, alpha);
        if (v < 1e-4) v = 1e-4;
        s[c] = (float)v;
        mx = v > mx ? v : mx;
        mn = v < mn ? v : mn;
    }
    double norm = sqrt(mx * mn);
    for (int64_t c = 0; c < cols; c++) s[c] = (float)(s[c] / norm);
}

float qw_awq_search(const qw_awq_linear *lin, int n_lin, int64_t cols, const float *X, int64_t n,
                    const double *mean_abs, int n_grid, float *s, double *err_rtn, double *err_best, int nth) {
    int64_t max_rows = 0;
    for (int i = 0; i < n_lin; i++) max_rows = lin[i].rows > max_rows ? lin[i].rows : max_rows;
    float *Wq = malloc(sizeof(float) * (size_t)(max_rows * cols));
    float *Y = malloc(sizeof(float) * (size_t)(n * max_rows)), *Yq = malloc(sizeof(float) * (size_t)(n * max_rows));
    float *cand = malloc(sizeof(float) * (size_t)cols);
    QW_ASSERT(Wq && Y && Yq && cand);
    if (n_grid < 1) n_grid = 1;
    double best = INFINITY, e0 = 0;
    int best_g = 0;
    for (int g = 0; g < n_grid; g++) {
        double alpha = (double)g / n_grid, err = 0;
        scales_for(mean_abs, cols, alpha, cand);
        for (int i = 0; i < n_lin; i++) {
            const qw_awq_linear *L = &lin[i];
            qw_quant_mm(L->W, L->rows, cols, X, n, Y, nth); // the float output (recomputed: cheaper than keeping all)
            for (int64_t r = 0; r < L->rows; r++)
                for (int64_t c = 0; c < cols; c++) Wq[r * cols + c] = L->W[r * cols + c] * cand[c];
            qw_rtn_quantize(Wq, L->rows, cols, L->type, NULL, nth);
            for (int64_t r = 0; r < L->rows; r++)
                for (int64_t c = 0; c < cols; c++) Wq[r * cols + c] /= cand[c];
            qw_quant_mm(Wq, L->rows, cols, X, n, Yq, nth);
            for (int64_t k = 0; k < n * L->rows; k++) {
                double d = (double)Yq[k] - Y[k];
                err += d * d;
            }
        }
        if (g == 0) e0 = err;
        if (err < best) best = err, best_g = g, memcpy(s, cand, sizeof(float) * (size_t)cols);
    }
    if (err_rtn) *err_rtn = e0;
    if (err_best) *err_best = best;
    free(Wq);
    free(Y);
    free(Yq);
    free(cand);
    return (float)best_g / n_grid;
}

void qw_awq_scale_cols(float *W, int64_t rows, int64_t cols, const float *s) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) W[r * cols + c] *= s[c];
}

void qw_awq_unscale_rows(float *W, float *b, int64_t rows, int64_t cols, const float *s) {
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) W[r * cols + c] /= s[r];
        if (b) b[r] /= s[r];
    }
}

void qw_awq_unscale_vec(float *w, int64_t n, const float *s) {
    for (int64_t i = 0; i < n; i++) w[i] /= s[i];
}
