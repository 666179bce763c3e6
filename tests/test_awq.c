// tests/test_awq: folding AWQ scales into the preceding ops leaves the float model's logits unchanged
// (every fold: attn_norm for q/k/v, v_proj rows for o_proj, ffn_norm for gate/up, up_proj rows for
// down_proj), the scale search beats round to nearest on activations with outlier channels (on the
// linears' outputs, and on the FFN output that gate and up feed), and the clip search never does worse
// than the unclipped header on any block's output error.
#include "quant/quantize.h"
#include "test.h"

static void logits_of(const qw_model *m, const int32_t *toks, int n, float *out) {
    qw_state s;
    qw_kv_cache kv;
    qw_batch b;
    CHECK(qw_state_init(&s, m, n, n, 2) == QW_OK);
    CHECK(qw_kv_cache_init(&kv, m, 1, n) == QW_OK);
    CHECK(qw_batch_init(&b, n) == QW_OK);
    for (int i = 0; i < n; i++) qw_batch_add(&b, toks[i], i, 0, 1);
    CHECK(qw_forward(m, &s, &kv, &b, out) == QW_OK);
    qw_batch_free(&b);
    qw_kv_cache_free(&kv);
    qw_state_free(&s);
}

static void random_scales(qw_rng *r, float *s, int64_t n) {
    for (int64_t i = 0; i < n; i++) s[i] = 0.25f + 3.0f * qw_rng_uniform(r);
}

static void test_fold(void) {
    qw_model *m;
    CHECK(qw_model_load(&m, "tests/fixtures/gqa1_tied_f32") == QW_OK);
    if (!m) return;
    const qw_config *c = &m->config;
    CHECK(c->n_heads == c->n_kv_heads); // so the o_proj fold into v_proj is exercised too
    qw_qplan plan;
    CHECK(qw_qplan_init(&plan, m, QW_TYPE_F32) == QW_OK);
    qw_model *f;
    CHECK(qw_quant_dequantized_model(m, &plan, 2, &f) == QW_OK);
    qw_rng r;
    qw_rng_seed(&r, 5);
    float *s = malloc(sizeof(float) * 4096);
    for (int l = 0; l < c->n_layers; l++) {
        qw_layer *y = &f->layers[l];
        int64_t h = c->hidden_size, qd = (int64_t)y->n_heads * c->head_dim, kvd = (int64_t)y->n_kv_heads * c->head_dim;
        random_scales(&r, s, h); // q/k/v into attn_norm
        qw_awq_scale_cols(y->wq.data, qd, h, s);
        qw_awq_scale_cols(y->wk.data, kvd, h, s);
        qw_awq_scale_cols(y->wv.data, kvd, h, s);
        qw_awq_unscale_vec(y->attn_norm, h, s);
        random_scales(&r, s, qd); // o into v's rows (and bias)
        qw_awq_scale_cols(y->wo.data, h, qd, s);
        qw_awq_unscale_rows(y->wv.data, y->bv, kvd, h, s);
        random_scales(&r, s, h); // gate/up into ffn_norm
        qw_awq_scale_cols(y->w_gate.data, y->n_ff, h, s);
        qw_awq_scale_cols(y->w_up.data, y->n_ff, h, s);
        qw_awq_unscale_vec(y->ffn_norm, h, s);
        random_scales(&r, s, y->n_ff); // down into up's rows
        qw_awq_scale_cols(y->w_down.data, h, y->n_ff, s);
        qw_awq_unscale_rows(y->w_up.data, NULL, y->n_ff, h, s);
    }
    enum { N = 24 };
    int32_t toks[N];
    for (int i = 0; i < N; i++) toks[i] = (int32_t)(qw_rng_u64(&r) % (uint64_t)c->vocab_size);
    float *a = malloc(sizeof(float) * N * (size_t)c->vocab_size), *b = malloc(sizeof(float) * N * (size_t)c->vocab_size);
    logits_of(m, toks, N, a);
    logits_of(f, toks, N, b);
    double maxd = 0, maxa = 0;
    for (int64_t i = 0; i < (int64_t)N * c->vocab_size; i++) {
        maxd = fmax(maxd, fabs((double)a[i] - b[i]));
        maxa = fmax(maxa, fabs((double)a[i]));
    }
    printf("folded scales: max |logit difference| %.3g (max |logit| %.3g)\n", maxd, maxa);
    CHECKF(maxd <= 1e-5 * fmax(1.0, maxa), "folding changed the logits by %g", maxd);
    free(a);
    free(b);
    free(s);
    qw_quant_model_free(f);
    qw_qplan_free(&plan);
    qw_model_free(m);
}

static void test_search(void) {
    qw_rng r;
    qw_rng_seed(&r, 6);
    const int64_t rows = 64, cols = 256, n = 512;
    float *W1 = malloc(sizeof(float) * (size_t)(rows * cols)), *W2 = malloc(sizeof(float) * (size_t)(rows * cols));
    float *X = malloc(sizeof(float) * (size_t)(n * cols)), *s = malloc(sizeof(float) * (size_t)cols);
    double *mean_abs = calloc((size_t)cols, sizeof(double));
    for (int64_t i = 0; i < rows * cols; i++) W1[i] = 0.05f * qw_rng_normal(&r), W2[i] = 0.05f * qw_rng_normal(&r);
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < cols; c++) {
            float v = qw_rng_normal(&r) * (c % 41 == 3 ? 25.0f : 1.0f); // a few loud channels, as in LLMs
            X[t * cols + c] = v;
            mean_abs[c] += fabsf(v) / n;
        }
    const qw_type types[] = {QW_TYPE_Q4_0, QW_TYPE_Q4_K, QW_TYPE_IQ4_NL};
    for (int ti = 0; ti < 3; ti++) {
        qw_awq_linear lin[2] = {{W1, rows, types[ti]}, {W2, rows, types[ti]}};
        double e0, e1;
        float alpha = qw_awq_search(lin, 2, cols, X, n, mean_abs, 20, NULL, s, &e0, &e1, 2);
        printf("%-6s AWQ alpha %.2f: output error %.4g vs RTN %.4g (%.1f%%)\n", qw_type_name(types[ti]), alpha, e1, e0,
               100 * e1 / e0);
        CHECKF(alpha > 0 && e1 < 0.9 * e0, "%s: AWQ %g not below RTN %g", qw_type_name(types[ti]), e1, e0);
        double mx = 0, mn = INFINITY;
        for (int64_t c = 0; c < cols; c++) mx = fmax(mx, s[c]), mn = fmin(mn, s[c]);
        CHECK_NEAR(mx * mn, 1.0, 1e-3); // normalised as llm-awq does
    }
    // gate and up measured through the FFN: down(silu(gate) * up), down kept float
    const int64_t hidden = 48;
    float *Wd = malloc(sizeof(float) * (size_t)(hidden * rows));
    for (int64_t i = 0; i < hidden * rows; i++) Wd[i] = 0.1f * qw_rng_normal(&r);
    qw_awq_ffn ffn = {Wd, hidden, rows};
    qw_awq_linear gu[2] = {{W1, rows, QW_TYPE_Q4_0}, {W2, rows, QW_TYPE_Q4_0}};
    double e0, e1;
    float alpha = qw_awq_search(gu, 2, cols, X, n, mean_abs, 20, &ffn, s, &e0, &e1, 2);
    printf("Q4_0   AWQ alpha %.2f on the FFN output: error %.4g vs RTN %.4g (%.1f%%)\n", alpha, e1, e0, 100 * e1 / e0);
    CHECKF(alpha > 0 && e1 < 0.9 * e0, "FFN objective: AWQ %g not below RTN %g", e1, e0);
    free(Wd);
    free(W1);
    free(W2);
    free(X);
    free(s);
    free(mean_abs);
}

// sum over rows and blocks of (w - q)^T H_b (w - q): what the clip search minimises block by block
static double blockdiag_err(const float *W, const float *Q, int64_t rows, int64_t cols, int B, const double *H) {
    double e = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c0 = 0; c0 < cols; c0 += B)
            for (int i = 0; i < B; i++) {
                double a = 0;
                for (int j = 0; j < B; j++)
                    a += H[(c0 + i) * cols + c0 + j] * ((double)W[r * cols + c0 + j] - Q[r * cols + c0 + j]);
                e += a * ((double)W[r * cols + c0 + i] - Q[r * cols + c0 + i]);
            }
    return e;
}

static void test_clip(void) {
    qw_rng r;
    qw_rng_seed(&r, 7);
    const int64_t rows = 32, cols = 256, n = 256;
    float *W = malloc(sizeof(float) * (size_t)(rows * cols)), *X = malloc(sizeof(float) * (size_t)(n * cols));
    float *Qr = malloc(sizeof(float) * (size_t)(rows * cols)), *Qc = malloc(sizeof(float) * (size_t)(rows * cols));
    double *H = calloc((size_t)(cols * cols), sizeof(double));
    for (int64_t i = 0; i < rows * cols; i++) { // heavy tails: a few large weights stretch their block's grid
        float z = qw_rng_normal(&r);
        W[i] = 0.02f * z * (qw_rng_uniform(&r) < 0.02f ? 6.0f : 1.0f);
    }
    for (int64_t i = 0; i < n * cols; i++) X[i] = qw_rng_normal(&r) * (i % cols % 17 == 0 ? 4.0f : 1.0f);
    qw_quant_hessian_add(H, cols, X, n, 2.0 / (double)n, 2);
    qw_quant_hessian_symmetrize(H, cols);
    const qw_type types[] = {QW_TYPE_Q4_0, QW_TYPE_Q4_K, QW_TYPE_IQ4_NL};
    for (int ti = 0; ti < 3; ti++) {
        memcpy(Qr, W, sizeof(float) * (size_t)(rows * cols));
        memcpy(Qc, W, sizeof(float) * (size_t)(rows * cols));
        qw_rtn_quantize(Qr, rows, cols, types[ti], NULL, 2);
        size_t nb = qw_type_row_bytes(types[ti], cols) * (size_t)rows;
        void *blocks = malloc(nb);
        float *back = malloc(sizeof(float) * (size_t)(rows * cols));
        qw_awq_clip_quantize(Qc, rows, cols, types[ti], H, 20, blocks, 2);
        qw_type_get(types[ti])->to_float(blocks, back, rows * cols); // the blocks hold exactly the values returned
        CHECK(memcmp(back, Qc, sizeof(float) * (size_t)(rows * cols)) == 0);
        int B = qw_grid_block(types[ti]);
        double er = blockdiag_err(W, Qr, rows, cols, B, H), ec = blockdiag_err(W, Qc, rows, cols, B, H);
        printf("%-6s clip search: block output error %.4g vs RTN %.4g (%.1f%%)\n", qw_type_name(types[ti]), ec, er,
               100 * ec / er);
        CHECKF(ec <= er * (1 + 1e-9), "%s: clipped %g above RTN %g", qw_type_name(types[ti]), ec, er);
        if (types[ti] == QW_TYPE_Q4_0) CHECKF(ec < 0.95 * er, "Q4_0: clipping gained only %g -> %g", er, ec);
        free(blocks);
        free(back);
    }
    free(W);
    free(X);
    free(Qr);
    free(Qc);
    free(H);
}

int main(void) {
    test_fold();
    test_search();
    test_clip();
    TEST_DONE();
}
