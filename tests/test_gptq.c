// tests/test_gptq: the grid (single elements rounded onto a block's header give what the dequantizer
// says), the Hessian and the inverse Cholesky factor against plain double arithmetic, and GPTQ against
// round to nearest on a random layer with correlated activations: lower output error at every type,
// with blocks that dequantize to exactly the values GPTQ used.
#include "quant/quantize.h"
#include "test.h"

static const qw_type g_types[] = {QW_TYPE_Q8_0, QW_TYPE_Q4_0, QW_TYPE_IQ4_NL, QW_TYPE_Q4_K, QW_TYPE_Q5_K, QW_TYPE_Q6_K};
#define N_TYPES (int)(sizeof g_types / sizeof g_types[0])

static void test_grid(void) {
    qw_rng r;
    qw_rng_seed(&r, 1);
    float x[QW_QK_K], v[QW_QK_K], d[QW_QK_K];
    uint8_t blk[256];
    for (int ti = 0; ti < N_TYPES; ti++) {
        qw_type t = g_types[ti];
        int B = qw_grid_block(t);
        for (int rep = 0; rep < 20; rep++) {
            float scale = rep == 0 ? 1e-3f : 1.0f + (float)rep;
            for (int i = 0; i < B; i++) x[i] = scale * qw_rng_normal(&r) + (rep % 3 == 1 ? 0.5f * scale : 0);
            qw_grid_choose(t, x, blk);
            // elements rounded one at a time, after perturbing the values (as GPTQ's updates do)
            for (int i = 0; i < B; i++) v[i] = qw_grid_round(t, blk, i, x[i] + 0.1f * scale * qw_rng_normal(&r));
            qw_type_get(t)->to_float(blk, d, B);
            int same = 1;
            for (int i = 0; i < B; i++) same &= memcmp(&v[i], &d[i], 4) == 0;
            CHECKF(same, "%s: grid values differ from the dequantized block", qw_type_name(t));
            // rounding the unperturbed values onto the reference's own header gives the reference's error or better
            uint8_t ref[256];
            float dr[QW_QK_K];
            qw_type_get(t)->from_float_ref(x, ref, B);
            qw_type_get(t)->to_float(ref, dr, B);
            qw_grid_choose(t, x, blk);
            double e_ref = 0, e_grid = 0;
            for (int i = 0; i < B; i++) {
                float g = qw_grid_round(t, blk, i, x[i]);
                e_ref += (dr[i] - x[i]) * (dr[i] - x[i]);
                e_grid += (g - x[i]) * (g - x[i]);
            }
            CHECKF(e_grid <= e_ref * 1.0001 + 1e-12, "%s: nearest on the header %g vs reference %g", qw_type_name(t), e_grid, e_ref);
        }
    }
}

// Activations with correlated channels (a random mixing of fewer latent factors) and a few loud ones.
static float *activations(qw_rng *r, int64_t n, int64_t cols) {
    int64_t f = cols / 4;
    float *M = malloc(sizeof(float) * (size_t)(f * cols)), *X = malloc(sizeof(float) * (size_t)(n * cols));
    for (int64_t i = 0; i < f * cols; i++) M[i] = qw_rng_normal(r) / sqrtf((float)f);
    float z[1024];
    for (int64_t t = 0; t < n; t++) {
        for (int64_t k = 0; k < f; k++) z[k] = qw_rng_normal(r);
        for (int64_t c = 0; c < cols; c++) {
            double s = 0.3 * qw_rng_normal(r);
            for (int64_t k = 0; k < f; k++) s += z[k] * M[k * cols + c];
            X[t * cols + c] = (float)(s * (c % 37 == 5 ? 8 : 1));
        }
    }
    free(M);
    return X;
}

// ||(W - Q) X^T||^2 over the tokens.
static double out_err(const float *W, const float *Q, int64_t rows, int64_t cols, const float *X, int64_t n) {
    double e = 0;
    for (int64_t o = 0; o < rows; o++)
        for (int64_t t = 0; t < n; t++) {
            double s = 0;
            for (int64_t c = 0; c < cols; c++) s += ((double)W[o * cols + c] - Q[o * cols + c]) * X[t * cols + c];
            e += s * s;
        }
    return e;
}

static void test_linalg(void) {
    qw_rng r;
    qw_rng_seed(&r, 2);
    const int64_t n = 300, T = 500; // not a multiple of the 128 blocks
    float *X = activations(&r, T, n);
    double *H = calloc((size_t)(n * n), sizeof(double));
    qw_quant_hessian_add(H, n, X, 200, 1.0, 2);
    qw_quant_hessian_add(H, n, X + 200 * n, T - 200, 1.0, 2);
    qw_quant_hessian_symmetrize(H, n);
    double maxd = 0;
    for (int64_t i = 0; i < n; i += 7)
        for (int64_t j = 0; j < n; j += 5) {
            double s = 0;
            for (int64_t t = 0; t < T; t++) s += (double)X[t * n + i] * X[t * n + j];
            double d = fabs(s - H[i * n + j]) / (fabs(s) + 1);
            maxd = d > maxd ? d : maxd;
        }
    CHECKF(maxd < 1e-4, "Hessian vs double sums: relative %g", maxd);
    // V = U^T with U^T U = A^-1: A V V^T = I
    float *A = malloc(sizeof(float) * (size_t)(n * n));
    double mean = 0;
    for (int64_t i = 0; i < n; i++) mean += H[i * n + i] / n;
    for (int64_t i = 0; i < n * n; i++) A[i] = (float)H[i];
    for (int64_t i = 0; i < n; i++) A[i * n + i] += (float)(0.01 * mean), H[i * n + i] += 0.01 * mean;
    CHECK(qw_quant_inverse_cholesky(A, n, 2) == QW_OK);
    int upper_zero = 1;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) upper_zero &= A[i * n + j] == 0;
    CHECK(upper_zero);
    double *VVt = calloc((size_t)(n * n), sizeof(double));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t k = 0; k <= (i < j ? i : j); k++) s += (double)A[i * n + k] * A[j * n + k];
            VVt[i * n + j] = s;
        }
    double maxe = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t k = 0; k < n; k++) s += H[i * n + k] * VVt[k * n + j];
            double e = fabs(s - (i == j));
            maxe = e > maxe ? e : maxe;
        }
    CHECKF(maxe < 2e-3, "H (U^T U) vs identity: max error %g", maxe);
    // not positive definite: a clear error, not a crash
    for (int64_t i = 0; i < n * n; i++) A[i] = 0;
    for (int64_t i = 0; i < n; i++) A[i * n + i] = i == 150 ? -1.0f : 1.0f;
    CHECK(qw_quant_inverse_cholesky(A, n, 2) == QW_ERR_ARG);
    free(X);
    free(H);
    free(A);
    free(VVt);
}

static void test_gptq_vs_rtn(void) {
    qw_rng r;
    qw_rng_seed(&r, 3);
    const int64_t rows = 48, cols = 512, n = 1024;
    float *X = activations(&r, n, cols);
    float *W = malloc(sizeof(float) * (size_t)(rows * cols)), *Q = malloc(sizeof(float) * (size_t)(rows * cols));
    float *Rq = malloc(sizeof(float) * (size_t)(rows * cols)), *D = malloc(sizeof(float) * (size_t)(rows * cols));
    for (int64_t i = 0; i < rows * cols; i++) W[i] = 0.05f * qw_rng_normal(&r);
    double *H0 = calloc((size_t)(cols * cols), sizeof(double)), *H = malloc(sizeof(double) * (size_t)(cols * cols));
    qw_quant_hessian_add(H0, cols, X, n, 2.0 / n, 2);
    qw_quant_hessian_symmetrize(H0, cols);
    for (int ti = 0; ti < N_TYPES; ti++) {
        qw_type t = g_types[ti];
        memcpy(Rq, W, sizeof(float) * (size_t)(rows * cols));
        qw_rtn_quantize(Rq, rows, cols, t, NULL, 2);
        double e_rtn = out_err(W, Rq, rows, cols, X, n);
        for (int act = 0; act < 2; act++) {
            size_t nb = qw_type_row_bytes(t, cols) * (size_t)rows;
            void *blocks = malloc(nb);
            memcpy(Q, W, sizeof(float) * (size_t)(rows * cols));
            memcpy(H, H0, sizeof(double) * (size_t)(cols * cols));
            qw_gptq_params p = {.percdamp = 0.01, .block_size = 128, .act_order = act, .n_threads = 2};
            CHECK(qw_gptq_quantize(Q, rows, cols, H, t, &p, blocks) == QW_OK);
            double e = out_err(W, Q, rows, cols, X, n);
            printf("%-6s act_order %d: output error GPTQ %.4g, RTN %.4g (%.1f%%)\n", qw_type_name(t), act, e, e_rtn,
                   100 * e / e_rtn);
            CHECKF(e < 0.9 * e_rtn, "%s act_order %d: GPTQ %g not below RTN %g", qw_type_name(t), act, e, e_rtn);
            qw_type_get(t)->to_float(blocks, D, rows * cols);
            CHECKF(memcmp(D, Q, sizeof(float) * (size_t)(rows * cols)) == 0, "%s: blocks do not dequantize to GPTQ's values",
                   qw_type_name(t));
            free(blocks);
        }
    }
    // a dead input channel (never active) gets weight zero and does not break the factorization
    memcpy(H, H0, sizeof(double) * (size_t)(cols * cols));
    for (int64_t i = 0; i < cols; i++) H[i * cols + 7] = H[7 * cols + i] = 0;
    memcpy(Q, W, sizeof(float) * (size_t)(rows * cols));
    qw_gptq_params p = {.percdamp = 0.01, .block_size = 128, .n_threads = 1};
    void *blocks = malloc(qw_type_row_bytes(QW_TYPE_Q4_0, cols) * (size_t)rows);
    CHECK(qw_gptq_quantize(Q, rows, cols, H, QW_TYPE_Q4_0, &p, blocks) == QW_OK);
    int dead_zero = 1;
    for (int64_t o = 0; o < rows; o++) dead_zero &= Q[o * cols + 7] == 0;
    CHECK(dead_zero);
    // rows that are not whole blocks are refused
    CHECK(qw_gptq_quantize(Q, rows, 100, H, QW_TYPE_Q4_0, &p, blocks) == QW_ERR_ARG);
    free(blocks);
    free(X);
    free(W);
    free(Q);
    free(Rq);
    free(D);
    free(H0);
    free(H);
}

int main(void) {
    test_grid();
    test_linalg();
    test_gptq_vs_rtn();
    TEST_DONE();
}
