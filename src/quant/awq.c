// quant/awq: activation-aware weight quantization (Lin et al. 2023, mit-han-lab/llm-awq auto_scale):
// per input channel scales from the mean activation magnitude, the exponent searched on calibration
// data against the output error of the quantized linears, folded into the op that produces the input.
#include "quantize.h"

#include "kernels/kernels.h"

#include <math.h>
#include <string.h>


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

// Y (n, rows) = X (Q(W diag(s)) diag(s)^-1)^T: what the linear computes once scaled and rounded. Wq is
// scratch of rows * cols.
static void scaled_output(const qw_awq_linear *L, int64_t cols, const float *s, const float *X, int64_t n,
                          float *Wq, float *Y, int nth) {
    for (int64_t r = 0; r < L->rows; r++)
        for (int64_t c = 0; c < cols; c++) Wq[r * cols + c] = L->W[r * cols + c] * s[c];
    qw_rtn_quantize(Wq, L->rows, cols, L->type, NULL, nth);
    for (int64_t r = 0; r < L->rows; r++)
        for (int64_t c = 0; c < cols; c++) Wq[r * cols + c] /= s[c];
    qw_quant_mm(Wq, L->rows, cols, X, n, Y, nth);
}

static double sq_diff(const float *a, const float *b, int64_t n) {
    double e = 0;
    for (int64_t k = 0; k < n; k++) {
        double d = (double)a[k] - b[k];
        e += d * d;
    }
    return e;
}

// The FFN's output (n, hidden) from gate and up outputs G, U (n, n_ff): down(silu(G) * U); G is overwritten.
static void ffn_output(const qw_awq_ffn *f, float *G, const float *U, int64_t n, float *out, int nth) {
    for (int64_t k = 0; k < n * f->n_ff; k++) G[k] = G[k] / (1.0f + expf(-G[k])) * U[k];
    qw_quant_mm(f->W_down, f->hidden, f->n_ff, G, n, out, nth);
}

float qw_awq_search(const qw_awq_linear *lin, int n_lin, int64_t cols, const float *X, int64_t n,
                    const double *mean_abs, int n_grid, const qw_awq_ffn *ffn, float *s, double *err_rtn,
                    double *err_best, int nth) {
    QW_ASSERT(!ffn || (n_lin == 2 && lin[0].rows == ffn->n_ff && lin[1].rows == ffn->n_ff));
    int64_t max_rows = 0, total_rows = 0;
    for (int i = 0; i < n_lin; i++) {
        max_rows = lin[i].rows > max_rows ? lin[i].rows : max_rows;
        total_rows += lin[i].rows;
    }
    int64_t out_w = ffn ? ffn->hidden : total_rows; // what the error is measured on, per token
    float *Wq = malloc(sizeof(float) * (size_t)(max_rows * cols));
    float *Y = malloc(sizeof(float) * (size_t)(n * total_rows)), *Yq = malloc(sizeof(float) * (size_t)(n * total_rows));
    float *F = malloc(sizeof(float) * (size_t)(n * out_w)), *Fq = ffn ? malloc(sizeof(float) * (size_t)(n * out_w)) : NULL;
    float *cand = malloc(sizeof(float) * (size_t)cols);
    QW_ASSERT(Wq && Y && Yq && F && cand && (!ffn || Fq));
    // the float outputs, linear after linear in Y, and what the error is measured against in F
    for (int i = 0, o = 0; i < n_lin; o += (int)lin[i].rows, i++) qw_quant_mm(lin[i].W, lin[i].rows, cols, X, n, Y + o * n, nth);
    if (ffn) ffn_output(ffn, Y, Y + n * ffn->n_ff, n, F, nth);
    else memcpy(F, Y, sizeof(float) * (size_t)(n * out_w));
    if (n_grid < 1) n_grid = 1;
    double best = INFINITY, e0 = 0;
    int best_g = 0;
    for (int g = 0; g < n_grid; g++) {
        scales_for(mean_abs, cols, (double)g / n_grid, cand);
        for (int i = 0, o = 0; i < n_lin; o += (int)lin[i].rows, i++) scaled_output(&lin[i], cols, cand, X, n, Wq, Yq + o * n, nth);
        if (ffn) ffn_output(ffn, Yq, Yq + n * ffn->n_ff, n, Fq, nth);
        double err = sq_diff(ffn ? Fq : Yq, F, n * out_w);
        if (g == 0) e0 = err;
        if (err < best) best = err, best_g = g, memcpy(s, cand, sizeof(float) * (size_t)cols);
    }
    if (err_rtn) *err_rtn = e0;
    if (err_best) *err_best = best;
    free(Wq);
    free(Y);
    free(Yq);
    free(F);
    free(Fq);
    free(cand);
    return (float)best_g / n_grid;
}

// ---------------------------------------------------------------------------------------------------
// clipping (llm-awq auto_clip): a block's header chosen from its values clipped to ratio * max|w| trades
// the error of its largest values for a finer grid for the rest; the ratio is chosen per row and block.

typedef struct {
    float *W;
    int64_t rows, cols;
    qw_type type;
    const double *H;
    uint8_t *out;
    int n_grid;
} clip_task;

// (w - q)^T H_b (w - q) over one block of B columns starting at c0: the output error it causes on X.
static double block_err(const double *H, int64_t dim, int64_t c0, int B, const float *d) {
    double e = 0;
    for (int i = 0; i < B; i++) {
        const double *h = H + (c0 + i) * dim + c0;
        double a = 0;
        for (int j = 0; j < B; j++) a += h[j] * d[j];
        e += a * d[i];
    }
    return e;
}

static void clip_run(void *ctx, int ith, int nth) {
    const clip_task *t = ctx;
    const int B = qw_grid_block(t->type);
    const size_t bb = (size_t)qw_type_get(t->type)->block_bytes;
    int64_t r0, r1;
    qw_split_rows(t->rows, 1, ith, nth, &r0, &r1);
    float xc[QW_QK_K], q[QW_QK_K], dq[QW_QK_K], best_q[QW_QK_K];
    uint8_t blk[512], best_blk[512];
    QW_ASSERT(bb <= sizeof blk && B <= QW_QK_K);
    for (int64_t r = r0; r < r1; r++)
        for (int64_t c0 = 0; c0 < t->cols; c0 += B) {
            float *w = t->W + r * t->cols + c0, mx = 0;
            for (int j = 0; j < B; j++) mx = fabsf(w[j]) > mx ? fabsf(w[j]) : mx;
            double best = INFINITY;
            for (int g = 0; g < t->n_grid; g++) {
                float lim = mx * (1.0f - 0.5f * (float)g / (float)t->n_grid); // 1 down to 0.5, as llm-awq
                for (int j = 0; j < B; j++) xc[j] = w[j] > lim ? lim : w[j] < -lim ? -lim : w[j];
                qw_grid_choose(t->type, xc, blk);
                for (int j = 0; j < B; j++) {
                    q[j] = qw_grid_round(t->type, blk, j, w[j]);
                    dq[j] = w[j] - q[j];
                }
                double e = block_err(t->H, t->cols, c0, B, dq);
                if (e < best) {
                    best = e;
                    memcpy(best_blk, blk, bb);
                    memcpy(best_q, q, sizeof(float) * (size_t)B);
                }
            }
            memcpy(w, best_q, sizeof(float) * (size_t)B);
            if (t->out) memcpy(t->out + (size_t)(r * (t->cols / B) + c0 / B) * bb, best_blk, bb);
        }
}

void qw_awq_clip_quantize(float *W, int64_t rows, int64_t cols, qw_type type, const double *H, int n_grid, void *out,
                          int nth) {
    QW_ASSERT(qw_grid_block(type) > 0 && cols % qw_grid_block(type) == 0);
    clip_task t = {W, rows, cols, type, H, out, n_grid > 0 ? n_grid : 1};
    qw_parallel(clip_run, &t, rows * cols > (1 << 14) && nth > 1 ? nth : 1);
}

// ---------------------------------------------------------------------------------------------------

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
