// quant_dot: activations quantized on the fly to int8 blocks (QW_ACT_Q8 / QW_ACT_Q8K of quant.h) and
// the scalar dot products of every quantized weight type with them: the specification SIMD kernels match.
#include "quant.h"

#include <math.h>

static inline float h2f(qw_half h) { return qw_f16_to_f32(h); }

// Round half to even for |v| < 2^22: adding 1.5 * 2^23 leaves no fraction bits, so the FPU's default
// rounding does the work. Same result as lrintf but inline (a libm call per element cost ~6 ns, more
// than the matmul's share of a decode step for small matrices) and vectorisable.
static inline int32_t round_even(float v) { return (int32_t)((v + 12582912.0f) - 12582912.0f); }

qw_act_kind qw_act_kind_of(qw_type wtype) {
    switch (wtype) {
    case QW_TYPE_Q8_0:
    case QW_TYPE_Q4_0:
    case QW_TYPE_IQ4_NL: return QW_ACT_Q8;
    case QW_TYPE_Q4_K:
    case QW_TYPE_Q5_K:
    case QW_TYPE_Q6_K: return QW_ACT_Q8K;
    default: return QW_ACT_NONE;
    }
}

size_t qw_act_row_bytes(qw_type wtype, int64_t k) {
    qw_act_kind a = qw_act_kind_of(wtype);
    if (a == QW_ACT_NONE || k < 0) return 0;
    size_t b = (size_t)k + 4 * (size_t)(k / qw_act_block(a)) + 4 * (size_t)(k / qw_act_sum_block(a));
    return (b + 63) & ~(size_t)63;
}

void qw_quantize_act_row(qw_type wtype, const float *x, void *y, int64_t k) {
    qw_act_kind a = qw_act_kind_of(wtype);
    QW_ASSERT(a != QW_ACT_NONE && k % qw_act_block(a) == 0);
    const int B = qw_act_block(a), SB = qw_act_sum_block(a);
    int8_t *qs = y;
    float *d = (float *)((char *)y + k);
    int32_t *s = (int32_t *)(d + k / B);
    for (int64_t b = 0; b < k / B; b++) {
        const float *xb = x + b * B;
        float amax = 0;
        for (int j = 0; j < B; j++) { // (not fmaxf: that is a call where NaNs must be honoured)
            float a = fabsf(xb[j]);
            amax = a > amax ? a : amax;
        }
        const float db = amax / 127, id = db ? 1.0f / db : 0.0f;
        d[b] = db;
        for (int j = 0; j < B; j++) {
            int32_t q = round_even(xb[j] * id); // |x * id| <= 127 up to rounding of id; clamp anyway
            qs[b * B + j] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
        }
    }
    for (int64_t g = 0; g < k / SB; g++) {
        int32_t sum = 0;
        for (int j = 0; j < SB; j++) sum += qs[g * SB + j];
        s[g] = sum;
    }
    size_t used = (size_t)k + 4 * (size_t)(k / B) + 4 * (size_t)(k / SB);
    memset((char *)y + used, 0, qw_act_row_bytes(wtype, k) - used);
}

// ---------------------------------------------------------------------------------------------------
// 32-element block types with QW_ACT_Q8: sum over blocks of (d_w * d_x) * (integer dot of the block).

float qw_vec_dot_q8_0_ref(int64_t k, const void *vw, const void *a) {
    const qw_block_q8_0 *w = vw;
    const int8_t *x = qw_act_qs(a);
    const float *dx = qw_act_d(a, k);
    float sum = 0;
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        int32_t isum = 0;
        for (int j = 0; j < 32; j++) isum += w[b].qs[j] * x[j];
        sum += h2f(w[b].d) * dx[b] * (float)isum;
    }
    return sum;
}

float qw_vec_dot_q4_0_ref(int64_t k, const void *vw, const void *a) {
    const qw_block_q4_0 *w = vw;
    const int8_t *x = qw_act_qs(a);
    const float *dx = qw_act_d(a, k);
    float sum = 0;
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) isum += ((w[b].qs[j] & 0xF) - 8) * x[j] + ((w[b].qs[j] >> 4) - 8) * x[j + 16];
        sum += h2f(w[b].d) * dx[b] * (float)isum;
    }
    return sum;
}

float qw_vec_dot_iq4_nl_ref(int64_t k, const void *vw, const void *a) {
    const qw_block_iq4_nl *w = vw;
    const int8_t *x = qw_act_qs(a);
    const float *dx = qw_act_d(a, k);
    float sum = 0;
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        int32_t isum = 0;
        for (int j = 0; j < 16; j++)
            isum += qw_iq4nl_values[w[b].qs[j] & 0xF] * x[j] + qw_iq4nl_values[w[b].qs[j] >> 4] * x[j + 16];
        sum += h2f(w[b].d) * dx[b] * (float)isum;
    }
    return sum;
}

// ---------------------------------------------------------------------------------------------------
// K-quants with QW_ACT_Q8K: per super-block, sub-block dots weighted by their integer scales summed
// exactly in int32, then d * d_x once; mins (Q4_K, Q5_K) through the per-16 code sums.

float qw_vec_dot_q4_k_ref(int64_t k, const void *vw, const void *a) {
    const qw_block_q4_k *w = vw;
    const int8_t *x = qw_act_qs(a);
    const float *dx = qw_act_d(a, k);
    const int32_t *s16 = qw_act_s(a, k, QW_ACT_Q8K);
    float sum = 0;
    for (int64_t i = 0; i < k / QW_QK_K; i++, x += QW_QK_K, s16 += 16) {
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            qw_get_scale_min_k4(j, w[i].scales, &sc, &m);
            const uint8_t *q = w[i].qs + 32 * (j / 2);
            const int8_t *xj = x + 32 * j;
            int32_t dot = 0;
            for (int l = 0; l < 32; l++) dot += (j & 1 ? q[l] >> 4 : q[l] & 0xF) * xj[l];
            sumi += sc * dot;
            summ += m * (s16[2 * j] + s16[2 * j + 1]);
        }
        sum += h2f(w[i].d) * dx[i] * (float)sumi - h2f(w[i].dmin) * dx[i] * (float)summ;
    }
    return sum;
}

float qw_vec_dot_q5_k_ref(int64_t k, const void *vw, const void *a) {
    const qw_block_q5_k *w = vw;
    const int8_t *x = qw_act_qs(a);
    const float *dx = qw_act_d(a, k);
    const int32_t *s16 = qw_act_s(a, k, QW_ACT_Q8K);
    float sum = 0;
    for (int64_t i = 0; i < k / QW_QK_K; i++, x += QW_QK_K, s16 += 16) {
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            qw_get_scale_min_k4(j, w[i].scales, &sc, &m);
            const uint8_t *q = w[i].qs + 32 * (j / 2);
            const int8_t *xj = x + 32 * j;
            int32_t dot = 0;
            for (int l = 0; l < 32; l++) {
                int v = (j & 1 ? q[l] >> 4 : q[l] & 0xF) + ((w[i].qh[l] >> j) & 1) * 16;
                dot += v * xj[l];
            }
            sumi += sc * dot;
            summ += m * (s16[2 * j] + s16[2 * j + 1]);
        }
        sum += h2f(w[i].d) * dx[i] * (float)sumi - h2f(w[i].dmin) * dx[i] * (float)summ;
    }
    return sum;
}

// Q6_K element e of a super-block: half h = e / 128, i = (e % 128) / 32, l = e % 32; scale e / 16.
float qw_vec_dot_q6_k_ref(int64_t k, const void *vw, const void *a) {
    const qw_block_q6_k *w = vw;
    const int8_t *x = qw_act_qs(a);
    const float *dx = qw_act_d(a, k);
    const int32_t *s16 = qw_act_s(a, k, QW_ACT_Q8K);
    float sum = 0;
    for (int64_t i = 0; i < k / QW_QK_K; i++, x += QW_QK_K, s16 += 16) {
        int32_t sumi = 0;
        for (int g = 0; g < 16; g++) {
            int32_t dot = 0;
            for (int e = 16 * g; e < 16 * g + 16; e++) {
                int h = e / 128, ii = (e % 128) / 32, l = e % 32;
                const uint8_t *ql = w[i].ql + 64 * h, *qh = w[i].qh + 32 * h;
                int lo = ii & 1 ? ql[l + 32] : ql[l];
                lo = ii < 2 ? lo & 0xF : lo >> 4;
                int q = lo | (((qh[l] >> (2 * ii)) & 3) << 4); // 0..63; the value is q - 32
                dot += q * x[e];
            }
            sumi += w[i].scales[g] * (dot - 32 * s16[g]);
        }
        sum += h2f(w[i].d) * dx[i] * (float)sumi;
    }
    return sum;
}
