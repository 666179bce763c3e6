// quant/linalg: the Hessian X^T X of a layer's input and the upper Cholesky factor of its inverse that
// GPTQ sweeps with, blocked so that the O(n^3) work runs in the float matmul kernel; sums over many tokens
// and each diagonal block's factorization run in double.
#include "quantize.h"

#include "kernels/kernels.h"

#include <math.h>

#define NB 128 // block of the factorizations
#define CB 256 // column chunk of the symmetric products

void qw_quant_mm(const float *W, int64_t N, int64_t K, const float *x, int64_t n, float *y, int nth) {
    size_t wb = qw_matmul_work_size(QW_TYPE_F32, N, K, n);
    void *work = wb ? malloc(wb) : NULL;
    QW_ASSERT(!wb || work);
    qw_matmul(QW_TYPE_F32, W, N, K, x, n, y, work, nth);
    free(work);
}

void qw_quant_hessian_add(double *H, int64_t dim, const float *x, int64_t n, double scale, int nth) {
    if (n <= 0) return;
    float *xt = malloc(sizeof(float) * (size_t)(dim * n));
    float *tmp = malloc(sizeof(float) * (size_t)(dim * CB));
    QW_ASSERT(xt && tmp);
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < dim; c++) xt[c * n + t] = x[t * dim + c];
    // column chunk [c0, c0 + cb) of the lower triangle: rows c0.. of xt against rows c0..c0 + cb
    for (int64_t c0 = 0; c0 < dim; c0 += CB) {
        int64_t cb = dim - c0 < CB ? dim - c0 : CB, m = dim - c0;
        qw_quant_mm(xt + c0 * n, cb, n, xt + c0 * n, m, tmp, nth);
        for (int64_t t = 0; t < m; t++) {
            double *h = H + (c0 + t) * dim + c0;
            const float *r = tmp + t * cb;
            int64_t oe = t + 1 < cb ? t + 1 : cb;
            for (int64_t o = 0; o < oe; o++) h[o] += scale * r[o];
        }
    }
    free(xt);
    free(tmp);
}

void qw_quant_hessian_symmetrize(double *H, int64_t dim) {
    for (int64_t i = 0; i < dim; i++)
        for (int64_t j = 0; j < i; j++) H[j * dim + i] = H[i * dim + j];
}

static void reverse_flat(float *a, int64_t n) {
    for (int64_t i = 0, j = n - 1; i < j; i++, j--) {
        float t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

// Unblocked Cholesky of the kb x kb block at a (row stride lda), in double; lower factor back in place.
static int chol_block(float *a, int64_t lda, int64_t kb, double *d) {
    for (int64_t i = 0; i < kb; i++)
        for (int64_t j = 0; j <= i; j++) d[i * kb + j] = a[i * lda + j];
    for (int64_t j = 0; j < kb; j++) {
        double s = d[j * kb + j];
        for (int64_t p = 0; p < j; p++) s -= d[j * kb + p] * d[j * kb + p];
        if (!(s > 0)) return 0;
        double r = sqrt(s);
        d[j * kb + j] = r;
        for (int64_t i = j + 1; i < kb; i++) {
            double t = d[i * kb + j];
            for (int64_t p = 0; p < j; p++) t -= d[i * kb + p] * d[j * kb + p];
            d[i * kb + j] = t / r;
        }
    }
    for (int64_t i = 0; i < kb; i++)
        for (int64_t j = 0; j < kb; j++) a[i * lda + j] = j <= i ? (float)d[i * kb + j] : 0.0f;
    return 1;
}

typedef struct {
    float *A;
    int64_t n, k0, kb;
    const double *L11; // (kb, kb) the diagonal block's factor
} panel_task;

// Rows below the diagonal block: x L11^T = a by forward substitution, in double.
static void panel_run(void *ctx, int ith, int nth) {
    panel_task *t = ctx;
    int64_t r0, r1, kb = t->kb;
    qw_split_rows(t->n - t->k0 - kb, 1, ith, nth, &r0, &r1);
    double x[NB];
    for (int64_t r = r0; r < r1; r++) {
        float *a = t->A + (t->k0 + kb + r) * t->n + t->k0;
        for (int64_t j = 0; j < kb; j++) {
            double s = a[j];
            for (int64_t p = 0; p < j; p++) s -= x[p] * t->L11[j * kb + p];
            x[j] = s / t->L11[j * kb + j];
        }
        for (int64_t j = 0; j < kb; j++) a[j] = (float)x[j];
    }
}

// Lower Cholesky factor of A (n x n, row-major) in place; the upper triangle is zeroed.
static qw_status cholesky(float *A, int64_t n, int nth) {
    double *d = malloc(sizeof(double) * NB * NB);
    float *P = malloc(sizeof(float) * (size_t)(n * NB)), *tmp = malloc(sizeof(float) * (size_t)(n * CB));
    QW_ASSERT(d && P && tmp);
    qw_status st = QW_OK;
    for (int64_t k0 = 0; k0 < n && st == QW_OK; k0 += NB) {
        int64_t kb = n - k0 < NB ? n - k0 : NB, k1 = k0 + kb, m = n - k1;
        if (!chol_block(A + k0 * n + k0, n, kb, d)) {
            st = qw_error(QW_ERR_ARG, "Hessian is not positive definite (column %lld)", (long long)k0);
            break;
        }
        panel_task pt = {A, n, k0, kb, d};
        qw_parallel(panel_run, &pt, m * kb * kb > (1 << 16) ? nth : 1);
        if (m == 0) break;
        for (int64_t i = 0; i < m; i++) memcpy(P + i * kb, A + (k1 + i) * n + k0, sizeof(float) * (size_t)kb);
        for (int64_t c0 = 0; c0 < m; c0 += CB) { // A22 -= L21 L21^T, lower triangle, by column chunks
            int64_t cb = m - c0 < CB ? m - c0 : CB, rows = m - c0;
            qw_quant_mm(P + c0 * kb, cb, kb, P + c0 * kb, rows, tmp, nth);
            for (int64_t t = 0; t < rows; t++) {
                float *a = A + (k1 + c0 + t) * n + k1 + c0;
                const float *r = tmp + t * cb;
                int64_t oe = t + 1 < cb ? t + 1 : cb;
                for (int64_t o = 0; o < oe; o++) a[o] -= r[o];
            }
        }
    }
    for (int64_t i = 0; i < n && st == QW_OK; i++) memset(A + i * n + i + 1, 0, sizeof(float) * (size_t)(n - i - 1));
    free(d);
    free(P);
    free(tmp);
    return st;
}

// Inverse of the lower-triangular kb x kb block at l (stride ld) into out (kb x kb, contiguous), in double.
static void tri_inverse_block(const float *l, int64_t ld, int64_t kb, float *out, double *w) {
    memset(w, 0, sizeof(double) * (size_t)(kb * kb));
    for (int64_t c = 0; c < kb; c++) { // column c of the inverse: L x = e_c
        for (int64_t i = c; i < kb; i++) {
            double s = i == c ? 1.0 : 0.0;
            for (int64_t p = c; p < i; p++) s -= (double)l[i * ld + p] * w[p * kb + c];
            w[i * kb + c] = s / l[i * ld + i];
        }
    }
    for (int64_t i = 0; i < kb * kb; i++) out[i] = (float)w[i];
}

// XT = (L^-1)^T, upper triangular, by column blocks J of X = L^-1: X[J,J] = L[J,J]^-1, then for each
// row block I below, X[I,J] = -L[I,I]^-1 (L[I, j0:i0] X[j0:i0, J]), both products in the matmul kernel.
static void tri_inverse_t(const float *L, int64_t n, float *XT, int nth) {
    int64_t nbk = (n + NB - 1) / NB;
    float *Dinv = malloc(sizeof(float) * (size_t)(nbk * NB * NB));
    double *w = malloc(sizeof(double) * NB * NB);
    float *Lp = malloc(sizeof(float) * (size_t)(NB * n)), *Xp = malloc(sizeof(float) * (size_t)(NB * n));
    float *CT = malloc(sizeof(float) * NB * NB), *Y = malloc(sizeof(float) * NB * NB);
    QW_ASSERT(Dinv && w && Lp && Xp && CT && Y);
    memset(XT, 0, sizeof(float) * (size_t)(n * n));
    for (int64_t b = 0; b < nbk; b++) {
        int64_t b0 = b * NB, bb = n - b0 < NB ? n - b0 : NB;
        tri_inverse_block(L + b0 * n + b0, n, bb, Dinv + b * NB * NB, w);
        for (int64_t i = 0; i < bb; i++)
            for (int64_t j = 0; j <= i; j++) XT[(b0 + j) * n + b0 + i] = Dinv[b * NB * NB + i * bb + j];
    }
    for (int64_t J = 0; J < nbk; J++) {
        int64_t j0 = J * NB, jb = n - j0 < NB ? n - j0 : NB;
        for (int64_t I = J + 1; I < nbk; I++) {
            int64_t i0 = I * NB, ib = n - i0 < NB ? n - i0 : NB, k = i0 - j0;
            for (int64_t r = 0; r < ib; r++) memcpy(Lp + r * k, L + (i0 + r) * n + j0, sizeof(float) * (size_t)k);
            for (int64_t c = 0; c < jb; c++) memcpy(Xp + c * k, XT + (j0 + c) * n + j0, sizeof(float) * (size_t)k);
            qw_quant_mm(Lp, ib, k, Xp, jb, CT, nth);               // CT[c][r] = (L[I, j0:i0] X[j0:i0, J])[r][c]
            qw_quant_mm(Dinv + I * NB * NB, ib, ib, CT, jb, Y, nth); // Y[c][r] = (L[I,I]^-1 C)[r][c]
            for (int64_t c = 0; c < jb; c++)
                for (int64_t r = 0; r < ib; r++) XT[(j0 + c) * n + i0 + r] = -Y[c * ib + r];
        }
    }
    free(Dinv);
    free(w);
    free(Lp);
    free(Xp);
    free(CT);
    free(Y);
}

// With P the reversal permutation: P A P = L L^T gives A^-1 = U^T U for U = P L^-1 P (upper), so
// V = U^T = P (L^-1)^T P: one Cholesky and one triangular inverse instead of the reference's
// Cholesky, cholesky_inverse and a second Cholesky. P M P of a row-major matrix is its flat reversal.
qw_status qw_quant_inverse_cholesky(float *A, int64_t n, int nth) {
    reverse_flat(A, n * n);
    QW_TRY(cholesky(A, n, nth));
    float *XT = malloc(sizeof(float) * (size_t)(n * n));
    if (!XT) return qw_error(QW_ERR_NOMEM, "inverse of a %lld x %lld Hessian: out of memory", (long long)n, (long long)n);
    tri_inverse_t(A, n, XT, nth);
    memcpy(A, XT, sizeof(float) * (size_t)(n * n));
    free(XT);
    reverse_flat(A, n * n);
    return QW_OK;
}
