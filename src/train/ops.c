// train/ops: the layers of Qwen2 as forward/backward pairs over f32 arrays (llm.c style). Forward keeps
// what backward needs; backward adds into gradients. The math is exactly src/model/forward.c's.
#include "kernels/kernels.h"
#include "train.h"

#include <math.h>

#ifdef QW_HAVE_OPENBLAS
#include <cblas.h>
void openblas_set_num_threads(int);
#endif

// ---------------------------------------------------------------------------------------------------
// gemm

#ifdef QW_HAVE_OPENBLAS
void qw_gemm_set_threads(int nth) { openblas_set_num_threads(nth < 1 ? 1 : nth); }
const char *qw_gemm_backend(void) { return "openblas"; }
void qw_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
             const float *B, int64_t ldb, float beta, float *C, int64_t ldc, int nth) {
    (void)nth;
    if (M == 0 || N == 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}
#else
void qw_gemm_set_threads(int nth) { (void)nth; }
const char *qw_gemm_backend(void) { return "plain C"; }

typedef struct {
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_task;

// Rows of C split between threads; for each row, C[i,:] = beta C[i,:] + alpha sum_p A(i,p) B(p,:).
static void gemm_run(void *ctx, int ith, int nth) {
    gemm_task *g = ctx;
    int64_t i0, i1;
    qw_split_rows(g->M, 1, ith, nth, &i0, &i1);
    float *brow = NULL;
    if (g->tb) brow = malloc(sizeof(float) * (size_t)g->N);
    for (int64_t i = i0; i < i1; i++) {
        float *c = g->C + i * g->ldc;
        for (int64_t j = 0; j < g->N; j++) c[j] = g->beta == 0 ? 0 : g->beta * c[j];
        for (int64_t p = 0; p < g->K; p++) {
            float a = g->alpha * (g->ta ? g->A[p * g->lda + i] : g->A[i * g->lda + p]);
            const float *b = g->B + p * g->ldb;
            if (g->tb) {
                for (int64_t j = 0; j < g->N; j++) brow[j] = g->B[j * g->ldb + p];
                b = brow;
            }
            for (int64_t j = 0; j < g->N; j++) c[j] += a * b[j];
        }
    }
    free(brow);
}

void qw_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
             const float *B, int64_t ldb, float beta, float *C, int64_t ldc, int nth) {
    if (M == 0 || N == 0) return;
    gemm_task g = {ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C};
    qw_parallel(gemm_run, &g, M * N * K > (1 << 16) ? nth : 1);
}
#endif

// ---------------------------------------------------------------------------------------------------
// linear

void qw_linear_forward(float *out, const float *inp, const float *w, const float *bias, int64_t BT, int64_t K,
                       int64_t N, int nth) {
    qw_gemm(0, 1, BT, N, K, 1.0f, inp, K, w, K, 0.0f, out, N, nth);
    if (bias)
        for (int64_t t = 0; t < BT; t++)
            for (int64_t o = 0; o < N; o++) out[t * N + o] += bias[o];
}

void qw_linear_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                        const float *w, int64_t BT, int64_t K, int64_t N, int nth) {
    if (dinp) qw_gemm(0, 0, BT, K, N, 1.0f, dout, N, w, K, 1.0f, dinp, K, nth);
    if (dw) qw_gemm(1, 0, N, K, BT, 1.0f, dout, N, inp, K, 1.0f, dw, K, nth);
    if (dbias)
        for (int64_t t = 0; t < BT; t++)
            for (int64_t o = 0; o < N; o++) dbias[o] += dout[t * N + o];
}

// ---------------------------------------------------------------------------------------------------
// RMSNorm

void qw_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int64_t BT, int64_t C,
                        float eps) {
    for (int64_t t = 0; t < BT; t++) {
        const float *x = inp + t * C;
        float *o = out + t * C;
        float ss = qw_vec_dot_f32(C, x, x);
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        for (int64_t i = 0; i < C; i++) o[i] = w[i] * (x[i] * r);
        rstd[t] = r;
    }
}

// y_i = w_i x_i r, r = (mean x^2 + eps)^-1/2: dx_i = r w_i dy_i - r^3 x_i / C * sum_j w_j dy_j x_j.
void qw_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                         const float *rstd, int64_t BT, int64_t C) {
    for (int64_t t = 0; t < BT; t++) {
        const float *x = inp + t * C, *dy = dout + t * C;
        float *dx = dinp + t * C;
        float r = rstd[t];
        double dot = 0;
        for (int64_t i = 0; i < C; i++) {
            dot += (double)w[i] * dy[i] * x[i];
            if (dw) dw[i] += dy[i] * x[i] * r;
        }
        float c = (float)(dot * r * r * r / (double)C);
        for (int64_t i = 0; i < C; i++) dx[i] += r * w[i] * dy[i] - c * x[i];
    }
}

// ---------------------------------------------------------------------------------------------------
// RoPE: the table exactly as forward.c's rope_table (f32 inverse frequency and angle, as HF).

void qw_rope_table(float *tab, int T, int hd, double theta) {
    int half = hd / 2;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            float inv = 1.0f / powf((float)theta, (float)(2 * i) / (float)hd);
            float a = (float)t * inv;
            tab[t * hd + i] = cosf(a);
            tab[t * hd + half + i] = sinf(a);
        }
}

static void rope_rotate(float *x, const float *tab, int B, int T, int nh, int hd, float sign) {
    int half = hd / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *c = tab + (size_t)t * hd, *s = c + half;
            for (int h = 0; h < nh; h++) {
                float *v = x + (((size_t)b * T + t) * nh + h) * hd;
                for (int i = 0; i < half; i++) {
                    float x0 = v[i], x1 = v[i + half], si = sign * s[i];
                    v[i] = x0 * c[i] - x1 * si;
                    v[i + half] = x1 * c[i] + x0 * si;
                }
            }
        }
}

void qw_rope_forward(float *x, const float *tab, int B, int T, int nh, int hd) { rope_rotate(x, tab, B, T, nh, hd, 1.0f); }
// The rotation is orthogonal: its transpose is the rotation by -angle.
void qw_rope_backward(float *dx, const float *tab, int B, int T, int nh, int hd) { rope_rotate(dx, tab, B, T, nh, hd, -1.0f); }

// ---------------------------------------------------------------------------------------------------
// attention: one task per (sequence, kv head) so that the heads sharing a kv head write its dk, dv alone.

typedef struct {
    float *out, *probs, *dq, *dk, *dv;
    const float *q, *k, *v, *dout, *cprobs;
    int B, T, nh, nkv, hd;
} attn_task;

static void attn_fwd_run(void *ctx, int ith, int nth) {
    attn_task *a = ctx;
    int T = a->T, nh = a->nh, nkv = a->nkv, hd = a->hd, group = nh / nkv;
    size_t qd = (size_t)nh * hd, kvd = (size_t)nkv * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int task = ith; task < a->B * nkv; task += nth) {
        int b = task / nkv, kh = task % nkv;
        const float *K = a->k + (size_t)b * T * kvd + (size_t)kh * hd, *V = a->v + (size_t)b * T * kvd + (size_t)kh * hd;
        for (int h = kh * group; h < (kh + 1) * group; h++)
            for (int t = 0; t < T; t++) {
                const float *q = a->q + ((size_t)b * T + t) * qd + (size_t)h * hd;
                float *p = a->probs + (((size_t)b * nh + h) * T + t) * T;
                float mx = -INFINITY;
                for (int j = 0; j <= t; j++) {
                    p[j] = qw_vec_dot_f32(hd, q, K + (size_t)j * kvd) * scale;
                    if (p[j] > mx) mx = p[j];
                }
                float sum = 0;
                for (int j = 0; j <= t; j++) {
                    p[j] = expf(p[j] - mx);
                    sum += p[j];
                }
                float inv = 1.0f / sum;
                float *o = a->out + ((size_t)b * T + t) * qd + (size_t)h * hd;
                memset(o, 0, sizeof(float) * (size_t)hd);
                for (int j = 0; j <= t; j++) {
                    p[j] *= inv;
                    qw_vec_axpy_f32(hd, p[j], V + (size_t)j * kvd, o);
                }
            }
    }
}

void qw_attention_forward(float *out, float *probs, const float *q, const float *k, const float *v, int B, int T,
                          int nh, int nkv, int hd, int nth) {
    attn_task a = {.out = out, .probs = probs, .q = q, .k = k, .v = v, .B = B, .T = T, .nh = nh, .nkv = nkv, .hd = hd};
    qw_parallel(attn_fwd_run, &a, B * nkv > 1 ? nth : 1);
}

// o_t = sum_j p_tj v_j, p = softmax(s), s_tj = scale q_t.k_j:
// dv_j += p_tj do_t; dp_tj = do_t.v_j; ds_tj = p_tj (dp_tj - sum_i p_ti dp_ti); dq_t += scale ds_tj k_j;
// dk_j += scale ds_tj q_t.
static void attn_bwd_run(void *ctx, int ith, int nth) {
    attn_task *a = ctx;
    int T = a->T, nh = a->nh, nkv = a->nkv, hd = a->hd, group = nh / nkv;
    size_t qd = (size_t)nh * hd, kvd = (size_t)nkv * hd;
    float scale = 1.0f / sqrtf((float)hd);
    float *dp = malloc(sizeof(float) * (size_t)T);
    QW_ASSERT(dp);
    for (int task = ith; task < a->B * nkv; task += nth) {
        int b = task / nkv, kh = task % nkv;
        size_t kvbase = (size_t)b * T * kvd + (size_t)kh * hd;
        const float *K = a->k + kvbase, *V = a->v + kvbase;
        float *dK = a->dk + kvbase, *dV = a->dv + kvbase;
        for (int h = kh * group; h < (kh + 1) * group; h++)
            for (int t = 0; t < T; t++) {
                size_t qoff = ((size_t)b * T + t) * qd + (size_t)h * hd;
                const float *q = a->q + qoff, *dout = a->dout + qoff;
                float *dq = a->dq + qoff;
                const float *p = a->cprobs + (((size_t)b * nh + h) * T + t) * T;
                float s = 0;
                for (int j = 0; j <= t; j++) {
                    dp[j] = qw_vec_dot_f32(hd, dout, V + (size_t)j * kvd);
                    s += p[j] * dp[j];
                    qw_vec_axpy_f32(hd, p[j], dout, dV + (size_t)j * kvd);
                }
                for (int j = 0; j <= t; j++) {
                    float ds = p[j] * (dp[j] - s) * scale;
                    qw_vec_axpy_f32(hd, ds, K + (size_t)j * kvd, dq);
                    qw_vec_axpy_f32(hd, ds, q, dK + (size_t)j * kvd);
                }
            }
    }
    free(dp);
}

void qw_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs, const float *q,
                           const float *k, const float *v, int B, int T, int nh, int nkv, int hd, int nth) {
    attn_task a = {.dq = dq, .dk = dk, .dv = dv, .dout = dout, .cprobs = probs, .q = q, .k = k, .v = v,
                   .B = B, .T = T, .nh = nh, .nkv = nkv, .hd = hd};
    qw_parallel(attn_bwd_run, &a, B * nkv > 1 ? nth : 1);
}

// ---------------------------------------------------------------------------------------------------
// SwiGLU

typedef struct {
    float *out, *dgate, *dup;
    const float *gate, *up, *dout;
    int64_t n;
} swiglu_task;

static void swiglu_fwd_run(void *ctx, int ith, int nth) {
    swiglu_task *s = ctx;
    int64_t i0, i1;
    qw_split_rows(s->n, 64, ith, nth, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        float g = s->gate[i];
        s->out[i] = g / (1.0f + expf(-g)) * s->up[i];
    }
}

void qw_swiglu_forward(float *out, const float *gate, const float *up, int64_t n, int nth) {
    swiglu_task s = {.out = out, .gate = gate, .up = up, .n = n};
    qw_parallel(swiglu_fwd_run, &s, n > 4096 ? nth : 1);
}

// h = silu(g) u: du = dh silu(g); dg = dh u sig(g) (1 + g (1 - sig(g))).
static void swiglu_bwd_run(void *ctx, int ith, int nth) {
    swiglu_task *s = ctx;
    int64_t i0, i1;
    qw_split_rows(s->n, 64, ith, nth, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        float g = s->gate[i], sg = 1.0f / (1.0f + expf(-g)), dh = s->dout[i];
        s->dup[i] += dh * g * sg;
        s->dgate[i] += dh * s->up[i] * sg * (1.0f + g * (1.0f - sg));
    }
}

void qw_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n,
                        int nth) {
    swiglu_task s = {.dgate = dgate, .dup = dup, .gate = gate, .up = up, .dout = dout, .n = n};
    qw_parallel(swiglu_bwd_run, &s, n > 4096 ? nth : 1);
}

// ---------------------------------------------------------------------------------------------------
// cross-entropy

typedef struct {
    float *x, *losses;
    const int32_t *targets;
    int64_t n, V;
    float scale;
    double part[64];
} ce_task;

static void ce_fwd_run(void *ctx, int ith, int nth) {
    ce_task *c = ctx;
    int64_t r0, r1;
    qw_split_rows(c->n, 1, ith, nth, &r0, &r1);
    double sum = 0;
    for (int64_t r = r0; r < r1; r++) {
        float *x = c->x + r * c->V;
        float mx = -INFINITY;
        for (int64_t i = 0; i < c->V; i++) mx = x[i] > mx ? x[i] : mx;
        float xt = x[c->targets[r]] - mx; // -log p_t = log sum exp(x - mx) - (x_t - mx), exact for tiny p_t
        double s = 0;
        for (int64_t i = 0; i < c->V; i++) {
            x[i] = expf(x[i] - mx);
            s += x[i];
        }
        float inv = (float)(1.0 / s);
        for (int64_t i = 0; i < c->V; i++) x[i] *= inv;
        double loss = log(s) - (double)xt;
        c->losses[r] = (float)loss;
        sum += loss;
    }
    c->part[ith] = sum;
}

double qw_crossentropy_forward(float *probs_inout, float *losses, const int32_t *targets, int64_t n, int64_t V,
                               int nth) {
    if (nth > 64) nth = 64;
    ce_task c = {.x = probs_inout, .losses = losses, .targets = targets, .n = n, .V = V};
    qw_parallel(ce_fwd_run, &c, n * V > 65536 ? nth : 1);
    double s = 0;
    for (int i = 0; i < nth; i++) s += c.part[i];
    return s;
}

static void ce_bwd_run(void *ctx, int ith, int nth) {
    ce_task *c = ctx;
    int64_t r0, r1;
    qw_split_rows(c->n, 1, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        float *x = c->x + r * c->V;
        for (int64_t i = 0; i < c->V; i++) x[i] *= c->scale;
        x[c->targets[r]] -= c->scale;
    }
}

void qw_crossentropy_backward(float *probs_inout, const int32_t *targets, float scale, int64_t n, int64_t V,
                              int nth) {
    ce_task c = {.x = probs_inout, .targets = targets, .n = n, .V = V, .scale = scale};
    qw_parallel(ce_bwd_run, &c, n * V > 65536 ? nth : 1);
}
