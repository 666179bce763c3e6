// quant/gptq: GPTQ (Frantar et al. 2022, IST-DASLab/gptq fasterquant) onto the exact grid of a GGUF type:
// dampened Hessian, upper Cholesky factor of its inverse, lazy block updates, optional activation order;
// a block's scales are chosen from its current, error-updated values when the sweep first reaches it.
#include "quantize.h"

#include "kernels/kernels.h"

#include <math.h>

typedef struct {
    qw_type type;
    int64_t rows, cols, nblk, B;
    size_t block_bytes;
    float *Wp;            // (rows, cols) weights, columns in sweep order, updated as the sweep goes
    float *Qv;            // (rows, cols) the values chosen, sweep order
    float *Err;           // (rows, bs) scaled errors of the lazy block
    const float *V;       // (cols, cols) U^T, lower, sweep order
    const float *Ub;      // (bs, bs) U of the lazy block
    const int64_t *perm, *invperm;
    const uint8_t *first; // (cols) the sweep reaches this column's type block here first
    uint8_t *out;
    int64_t i1, i2, bs;
} sweep;

// The current value of every element of row r's type block tb, as the sweep stands before column i:
// columns of the lazy block are up to date in Wp; later ones still miss this block's pending updates.
static void block_values(const sweep *S, int64_t r, int64_t tb, int64_t i, float *vals) {
    const float *w = S->Wp + r * S->cols, *err = S->Err + r * S->bs;
    for (int64_t e = 0; e < S->B; e++) {
        int64_t pos = S->invperm[tb * S->B + e];
        double v = w[pos];
        if (pos >= S->i2) {
            const float *vr = S->V + pos * S->cols; // U[q][pos] = V[pos][q]
            for (int64_t q = S->i1; q < i; q++) v -= (double)err[q - S->i1] * vr[q];
        }
        vals[e] = (float)v;
    }
}

static void sweep_run(void *ctx, int ith, int nth) {
    const sweep *S = ctx;
    int64_t r0, r1;
    qw_split_rows(S->rows, 1, ith, nth, &r0, &r1);
    float vals[QW_QK_K];
    for (int64_t r = r0; r < r1; r++) {
        float *w = S->Wp + r * S->cols, *err = S->Err + r * S->bs;
        for (int64_t i = S->i1; i < S->i2; i++) {
            int64_t oc = S->perm[i], tb = oc / S->B, a = i - S->i1;
            void *blk = S->out + (size_t)(r * S->nblk + tb) * S->block_bytes;
            if (S->first[i]) {
                block_values(S, r, tb, i, vals);
                qw_grid_choose(S->type, vals, blk);
            }
            float q = qw_grid_round(S->type, blk, (int)(oc % S->B), w[i]);
            S->Qv[r * S->cols + i] = q;
            const float *u = S->Ub + a * S->bs;
            float e = (w[i] - q) / u[a];
            err[a] = e;
            for (int64_t j = a + 1; j < S->i2 - S->i1; j++) w[S->i1 + j] -= e * u[j];
        }
    }
}

static int cmp_desc(const void *a, const void *b, void *ctx) {
    const double *d = ctx;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    if (d[i] != d[j]) return d[i] < d[j] ? 1 : -1;
    return i < j ? -1 : i > j; // stable: equal diagonals keep their order
}

typedef struct {
    float *W;
    int64_t rows, cols;
    qw_type type;
    uint8_t *out;
} rtn_task;

static void rtn_run(void *ctx, int ith, int nth) {
    const rtn_task *t = ctx;
    const qw_type_traits *tr = qw_type_get(t->type);
    size_t rb = qw_type_row_bytes(t->type, t->cols);
    int64_t r0, r1;
    qw_split_rows(t->rows, 1, ith, nth, &r0, &r1);
    void *tmp = t->out ? NULL : malloc(rb);
    QW_ASSERT(t->out || tmp);
    for (int64_t r = r0; r < r1; r++) {
        void *dst = t->out ? t->out + (size_t)r * rb : tmp;
        tr->from_float_ref(t->W + r * t->cols, dst, t->cols);
        tr->to_float(dst, t->W + r * t->cols, t->cols);
    }
    free(tmp);
}

void qw_rtn_quantize(float *W, int64_t rows, int64_t cols, qw_type type, void *out, int nth) {
    rtn_task t = {W, rows, cols, type, out};
    qw_parallel(rtn_run, &t, rows * cols > (1 << 16) && nth > 1 ? nth : 1);
}

qw_status qw_gptq_quantize(float *W, int64_t rows, int64_t cols, double *H, qw_type type,
                           const qw_gptq_params *p, void *out) {
    const int64_t B = qw_grid_block(type);
    if (!B || cols % B) return qw_error(QW_ERR_ARG, "GPTQ: rows of %lld are not whole %s blocks", (long long)cols, qw_type_name(type));
    const int nth = p->n_threads > 0 ? p->n_threads : 1;
    int64_t n = cols, bs = p->block_size > 0 ? p->block_size : 128;
    if (bs < B) bs = B; // a K-quant super-block then lies within one lazy block (without act-order)
    bs = (bs + B - 1) / B * B;
    // dead inputs (never active in the calibration data): nothing to compensate, weight set to zero
    double *diag = malloc(sizeof(double) * (size_t)n);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)n), *invperm = malloc(sizeof(int64_t) * (size_t)n);
    uint8_t *first = calloc((size_t)n, 1), *seen = calloc((size_t)(n / B), 1);
    float *A = malloc(sizeof(float) * (size_t)(n * n));
    float *Wp = malloc(sizeof(float) * (size_t)(rows * n)), *Qv = malloc(sizeof(float) * (size_t)(rows * n));
    float *Err = malloc(sizeof(float) * (size_t)(rows * bs)), *Ub = malloc(sizeof(float) * (size_t)(bs * bs));
    int64_t dchunk = 256;
    float *Vp = malloc(sizeof(float) * (size_t)(n * bs)), *D = malloc(sizeof(float) * (size_t)(dchunk * n));
    qw_status st = QW_OK;
    if (!diag || !perm || !invperm || !first || !seen || !A || !Wp || !Qv || !Err || !Ub || !Vp || !D) {
        st = qw_error(QW_ERR_NOMEM, "GPTQ on a %lld x %lld matrix: out of memory", (long long)rows, (long long)cols);
        goto done;
    }
    double mean = 0;
    for (int64_t i = 0; i < n; i++) {
        if (H[i * n + i] == 0) {
            H[i * n + i] = 1;
            for (int64_t r = 0; r < rows; r++) W[r * n + i] = 0;
        }
        diag[i] = H[i * n + i];
        mean += diag[i] / (double)n;
        perm[i] = i;
    }
    if (p->act_order) qsort_r(perm, (size_t)n, sizeof *perm, cmp_desc, diag);
    for (int64_t i = 0; i < n; i++) invperm[perm[i]] = i;
    for (int64_t i = 0; i < n; i++) {
        int64_t tb = perm[i] / B;
        first[i] = !seen[tb];
        seen[tb] = 1;
    }
    double damp = (p->percdamp > 0 ? p->percdamp : 0.01) * mean;
    for (int attempt = 0;; attempt++) {
        for (int64_t i = 0; i < n; i++) {
            const double *hr = H + perm[i] * n;
            for (int64_t j = 0; j < n; j++) A[i * n + j] = (float)hr[perm[j]];
            A[i * n + i] = (float)(hr[perm[i]] + damp);
        }
        st = qw_quant_inverse_cholesky(A, n, nth);
        if (st == QW_OK) break;
        if (attempt == 3) goto done;
        damp *= 10; // llm-compressor's remedy: more dampening until the factorization succeeds
        qw_warn("GPTQ: %s; retrying with dampening %g", qw_error_message(), damp);
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < n; i++) Wp[r * n + i] = W[r * n + perm[i]];

    sweep S = {.type = type, .rows = rows, .cols = n, .nblk = n / B, .B = B,
               .block_bytes = (size_t)qw_type_get(type)->block_bytes, .Wp = Wp, .Qv = Qv, .Err = Err, .V = A,
               .Ub = Ub, .perm = perm, .invperm = invperm, .first = first, .out = out, .bs = bs};
    for (int64_t i1 = 0; i1 < n; i1 += bs) {
        int64_t i2 = i1 + bs < n ? i1 + bs : n, b = i2 - i1, rest = n - i2;
        for (int64_t a = 0; a < b; a++) // Ub[a][c] = U[i1 + a][i1 + c] = V[i1 + c][i1 + a]
            for (int64_t c = 0; c < b; c++) Ub[a * bs + c] = c >= a ? A[(i1 + c) * n + i1 + a] : 0.0f;
        S.i1 = i1, S.i2 = i2;
        qw_parallel(sweep_run, &S, rows * b * b > (1 << 16) ? nth : 1);
        if (!rest) break;
        // W[:, i2:] -= Err U[i1:i2, i2:]  (Vp = that block of U, transposed: rows of V)
        for (int64_t j = 0; j < rest; j++) memcpy(Vp + j * b, A + (i2 + j) * n + i1, sizeof(float) * (size_t)b);
        float *E = Err; // b == bs here: only the last lazy block is short, and nothing follows it
        for (int64_t r0 = 0; r0 < rows; r0 += dchunk) {
            int64_t nr = rows - r0 < dchunk ? rows - r0 : dchunk;
            float *x = E + r0 * bs;
            size_t wb = qw_matmul_work_size(QW_TYPE_F32, rest, b, nr);
            void *work = wb ? malloc(wb) : NULL;
            qw_matmul(QW_TYPE_F32, Vp, rest, b, x, nr, D, work, nth);
            free(work);
            for (int64_t r = 0; r < nr; r++) {
                float *w = Wp + (r0 + r) * n + i2;
                const float *d = D + r * rest;
                for (int64_t j = 0; j < rest; j++) w[j] -= d[j];
            }
        }
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < n; i++) W[r * n + perm[i]] = Qv[r * n + i];
done:
    free(diag);
    free(perm);
    free(invperm);
    free(first);
    free(seen);
    free(A);
    free(Wp);
    free(Qv);
    free(Err);
    free(Ub);
    free(Vp);
    free(D);
    return st;
}
