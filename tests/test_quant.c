// tests/test_quant: the reference quantizers and dequantizers of every block type: error on Gaussian
// rows within each type's expected RMSE, hand-built blocks that decode to known values, odd inputs.
#include "tensor/quant.h"
#include "test.h"

#define N (QW_QK_K * 64)

static const qw_type g_quant[] = {QW_TYPE_Q8_0, QW_TYPE_Q4_0, QW_TYPE_Q4_K,
                                  QW_TYPE_Q5_K, QW_TYPE_Q6_K, QW_TYPE_IQ4_NL};

// Round trip through the type table; returns RMSE / rms(x).
static double rel_rmse(qw_type t, const float *x, float *y, int64_t n) {
    const qw_type_traits *tr = qw_type_get(t);
    void *q = malloc(qw_type_row_bytes(t, n));
    tr->from_float_ref(x, q, n);
    tr->to_float(q, y, n);
    free(q);
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) e += (double)(x[i] - y[i]) * (x[i] - y[i]), s += (double)x[i] * x[i];
    return s ? sqrt(e / s) : sqrt(e / (double)n);
}

static void test_gaussian(void) {
    // Expected relative RMSE on N(0,1) data, measured, with about 20% margin above the measurement.
    static const struct {
        qw_type t;
        double bound;
    } want[] = {{QW_TYPE_Q8_0, 0.0065}, {QW_TYPE_Q4_0, 0.105}, {QW_TYPE_Q4_K, 0.086},
                {QW_TYPE_Q5_K, 0.044},  {QW_TYPE_Q6_K, 0.022}, {QW_TYPE_IQ4_NL, 0.093}};
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    qw_rng r;
    qw_rng_seed(&r, 42);
    for (int i = 0; i < N; i++) x[i] = qw_rng_normal(&r) * 0.02f;
    double e[QW_TYPE_COUNT] = {0};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        e[want[i].t] = rel_rmse(want[i].t, x, y, N);
        printf("%-7s relative RMSE %.4f%%\n", qw_type_name(want[i].t), 100 * e[want[i].t]);
        CHECKF(e[want[i].t] < want[i].bound, "%s: %g >= %g", qw_type_name(want[i].t), e[want[i].t],
               want[i].bound);
    }
    CHECK(e[QW_TYPE_Q6_K] < e[QW_TYPE_Q5_K] && e[QW_TYPE_Q5_K] < e[QW_TYPE_Q4_K]);
    CHECK(e[QW_TYPE_Q8_0] < e[QW_TYPE_Q6_K]);
    // the searches must beat plain round-to-nearest at the same bits
    CHECK(e[QW_TYPE_Q4_K] < e[QW_TYPE_Q4_0] && e[QW_TYPE_IQ4_NL] < e[QW_TYPE_Q4_0]);
    free(x);
    free(y);
}

// Odd inputs: zeros decode to zeros; a constant row is exact or nearly so; one huge outlier stays
// finite and is itself reproduced closely.
static void test_odd_inputs(void) {
    float x[QW_QK_K], y[QW_QK_K];
    for (size_t ti = 0; ti < sizeof g_quant / sizeof g_quant[0]; ti++) {
        qw_type t = g_quant[ti];
        memset(x, 0, sizeof x);
        rel_rmse(t, x, y, QW_QK_K);
        int ok = 1;
        for (int i = 0; i < QW_QK_K; i++) ok &= y[i] == 0;
        CHECKF(ok, "%s: zeros do not decode to zeros", qw_type_name(t));

        for (int i = 0; i < QW_QK_K; i++) x[i] = 0.5f;
        double e = rel_rmse(t, x, y, QW_QK_K);
        CHECKF(e < 0.01, "%s: constant row error %g", qw_type_name(t), e);

        for (int i = 0; i < QW_QK_K; i++) x[i] = (float)((i * 37) % 11 - 5) * 1e-3f;
        x[77] = 1000.0f;
        rel_rmse(t, x, y, QW_QK_K);
        ok = 1;
        for (int i = 0; i < QW_QK_K; i++) ok &= isfinite(y[i]);
        CHECKF(ok, "%s: outlier row decodes to a non-finite value", qw_type_name(t));
        CHECKF(fabsf(y[77] - 1000.0f) < 1000.0f * 0.07f, "%s: outlier %g", qw_type_name(t), y[77]);

        // negative extreme: the symmetric types put the signed extreme on the grid's end
        for (int i = 0; i < QW_QK_K; i++) x[i] = -(float)(i % 32) / 31.0f;
        e = rel_rmse(t, x, y, QW_QK_K);
        CHECKF(e < 0.12, "%s: ramp error %g", qw_type_name(t), e);
    }
}

// Hand-built blocks with known values: the decoder is the specification, so these pin its layout.
static void test_known_blocks(void) {
    float y[QW_QK_K];
    {
        qw_block_q8_0 b;
        b.d = qw_f32_to_f16(0.5f);
        for (int j = 0; j < 32; j++) b.qs[j] = (int8_t)(j - 16);
        qw_dequantize_row_q8_0(&b, y, 32);
        CHECK(y[0] == -8.0f && y[31] == 7.5f);
    }
    {
        qw_block_q4_0 b;
        b.d = qw_f32_to_f16(2.0f);
        for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
        qw_dequantize_row_q4_0(&b, y, 32);
        CHECK(y[0] == -16.0f && y[15] == 14.0f && y[16] == 14.0f && y[31] == -16.0f);
    }
    {
        qw_block_iq4_nl b;
        b.d = qw_f32_to_f16(0.25f);
        for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
        qw_dequantize_row_iq4_nl(&b, y, 32);
        CHECK(y[0] == -127 * 0.25f && y[8] == 0.25f && y[15] == 113 * 0.25f && y[16] == 113 * 0.25f);
    }
    {
        // Q4_K: sub-block j has scale j + 1 and min 2 * j (6 bits each, packed), codes = l % 16
        qw_block_q4_k b;
        memset(&b, 0, sizeof b);
        b.d = qw_f32_to_f16(1.0f);
        b.dmin = qw_f32_to_f16(0.5f);
        uint8_t ls[8], lm[8];
        for (int j = 0; j < 8; j++) ls[j] = (uint8_t)(j + 1 + (j >= 4 ? 40 : 0)), lm[j] = (uint8_t)(2 * j + (j >= 6 ? 33 : 0));
        for (int j = 0; j < 8; j++) {
            if (j < 4) b.scales[j] = ls[j], b.scales[j + 4] = lm[j];
            else {
                b.scales[j + 4] = (uint8_t)((ls[j] & 15) | ((lm[j] & 15) << 4));
                b.scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
                b.scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
            }
        }
        for (int j = 0; j < 8; j++) {
            uint8_t s, m;
            qw_get_scale_min_k4(j, b.scales, &s, &m);
            CHECKF(s == ls[j] && m == lm[j], "scale/min %d: %d %d", j, s, m);
        }
        for (int i = 0; i < 128; i++) b.qs[i] = (uint8_t)((i % 16) | ((15 - i % 16) << 4));
        qw_dequantize_row_q4_k(&b, y, QW_QK_K);
        // element 0: sub-block 0, code 0 -> 1*1*0 - 0.5*0; element 33: sub-block 1, high nibble 14
        CHECK(y[0] == 0.0f && y[5] == 5.0f);
        CHECK(y[33] == 2.0f * 14 - 0.5f * 2);
        CHECK(y[255] == (float)ls[7] * 0 - 0.5f * lm[7]); // qs[127]: 127 % 16 = 15 -> high nibble 0
    }
    {
        // Q5_K: all low nibbles 3, fifth bit set only for sub-block 2 (bit 4 of qh)
        qw_block_q5_k b;
        memset(&b, 0, sizeof b);
        b.d = qw_f32_to_f16(1.0f);
        for (int j = 0; j < 4; j++) b.scales[j] = 1;
        for (int j = 8; j < 12; j++) b.scales[j] = 1;
        memset(b.qs, 0x33, sizeof b.qs);
        memset(b.qh, 0x04, sizeof b.qh);
        qw_dequantize_row_q5_k(&b, y, QW_QK_K);
        CHECK(y[0] == 3.0f && y[63] == 3.0f && y[64] == 19.0f && y[95] == 19.0f && y[96] == 3.0f);
    }
    {
        // Q6_K: every code 33 (value +1), scales = sub-block index + 1
        qw_block_q6_k b;
        memset(&b, 0, sizeof b);
        b.d = qw_f32_to_f16(0.5f);
        memset(b.ql, 0x11, sizeof b.ql);
        memset(b.qh, 0xAA, sizeof b.qh); // 2 in every 2-bit field -> code 32 + 1 = 33
        for (int j = 0; j < 16; j++) b.scales[j] = (int8_t)(j + 1);
        qw_dequantize_row_q6_k(&b, y, QW_QK_K);
        int ok = 1;
        for (int i = 0; i < QW_QK_K; i++) ok &= y[i] == 0.5f * (float)(i / 16 + 1);
        CHECK(ok);
    }
}

// Quantizing what a block decodes to gives back a block that decodes to the same values: the
// quantizers land on the grid they define.
static void test_fixed_point(void) {
    float x[QW_QK_K], y[QW_QK_K], z[QW_QK_K];
    qw_rng r;
    qw_rng_seed(&r, 7);
    for (int i = 0; i < QW_QK_K; i++) x[i] = qw_rng_normal(&r);
    const qw_type t[] = {QW_TYPE_Q8_0, QW_TYPE_Q4_0, QW_TYPE_IQ4_NL};
    for (size_t k = 0; k < 3; k++) {
        rel_rmse(t[k], x, y, QW_QK_K);
        double e = rel_rmse(t[k], y, z, QW_QK_K);
        CHECKF(e < 1e-3, "%s: requantizing its own output moves it by %g", qw_type_name(t[k]), e);
    }
}

static void test_table(void) {
    for (size_t i = 0; i < sizeof g_quant / sizeof g_quant[0]; i++) {
        const qw_type_traits *tr = qw_type_get(g_quant[i]);
        CHECK(tr && tr->is_quantized && tr->to_float && tr->from_float_ref);
        CHECK(qw_type_from_name(tr->name) == (int)g_quant[i]);
    }
    CHECK(qw_type_from_name("q4_k") == QW_TYPE_Q4_K && qw_type_from_name("nope") == -1);
    CHECK(qw_type_row_bytes(QW_TYPE_Q6_K, 512) == 420 && qw_type_row_bytes(QW_TYPE_Q4_K, 100) == 0);
}

int main(void) {
    test_table();
    test_known_blocks();
    test_gaussian();
    test_odd_inputs();
    test_fixed_point();
    TEST_DONE();
}
