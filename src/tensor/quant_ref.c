// quant_ref: the scalar reference quantizers and dequantizers of Q8_0, Q4_0, Q4_K, Q5_K, Q6_K and
// IQ4_NL. Dequantization follows GGUF's definitions bit for bit; quantization follows ggml's searches.
#include "quant.h"

#include <math.h>

// Below this a group is treated as all zeros (ggml's threshold, so both agree on empty groups).
#define GROUP_MAX_EPS 1e-15f

const int8_t qw_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                    1,    13,   25,  38,  53,  69,  89,  113};

// Round half to even, as ggml's nearest_int (the 1.5 * 2^23 trick) does for the values it sees;
// roundf would round halves away from zero and pick different codes on ties.
static inline int nearest_int(float v) { return (int)lrintf(v); }

static inline float h2f(qw_half h) { return qw_f16_to_f32(h); }
static inline qw_half f2h(float f) { return qw_f32_to_f16(f); }

// ---------------------------------------------------------------------------------------------------
// Q8_0

void qw_quantize_row_q8_0_ref(const float *x, void *vy, int64_t k) {
    qw_block_q8_0 *y = vy;
    for (int64_t i = 0; i < k / QW_QK8_0; i++, x += QW_QK8_0) {
        float amax = 0;
        for (int j = 0; j < QW_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        for (int j = 0; j < QW_QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void qw_dequantize_row_q8_0(const void *vx, float *y, int64_t k) {
    const qw_block_q8_0 *x = vx;
    for (int64_t i = 0; i < k / QW_QK8_0; i++) {
        const float d = h2f(x[i].d);
        for (int j = 0; j < QW_QK8_0; j++) *y++ = x[i].qs[j] * d;
    }
}

// ---------------------------------------------------------------------------------------------------
// Q4_0: the signed extreme maps to -8, so the full range [-8, 7] is used on the side that needs it.

void qw_quantize_row_q4_0_ref(const float *x, void *vy, int64_t k) {
    qw_block_q4_0 *y = vy;
    for (int64_t i = 0; i < k / QW_QK4_0; i++, x += QW_QK4_0) {
        float amax = 0, max = 0;
        for (int j = 0; j < QW_QK4_0; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        const float d = max / -8, id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        for (int j = 0; j < QW_QK4_0 / 2; j++) {
            // ggml truncates x + 8.5 (not rounds) and clamps the top; kept so codes match its files
            int a = (int8_t)(x[j] * id + 8.5f), b = (int8_t)(x[j + QW_QK4_0 / 2] * id + 8.5f);
            a = a > 15 ? 15 : a;
            b = b > 15 ? 15 : b;
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

void qw_dequantize_row_q4_0(const void *vx, float *y, int64_t k) {
    const qw_block_q4_0 *x = vx;
    for (int64_t i = 0; i < k / QW_QK4_0; i++, y += QW_QK4_0) {
        const float d = h2f(x[i].d);
        for (int j = 0; j < QW_QK4_0 / 2; j++) {
            y[j] = ((x[i].qs[j] & 0xF) - 8) * d;
            y[j + QW_QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// IQ4_NL

// Index of the grid value nearest to v (grid sorted ascending).
static int best_index_int8(int n, const int8_t *val, float v) {
    if (v <= val[0]) return 0;
    if (v >= val[n - 1]) return n - 1;
    int lo = 0, hi = n - 1;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < val[mid]) hi = mid;
        else lo = mid;
    }
    return v - val[hi - 1] < val[hi] - v ? hi - 1 : hi;
}

// One 32-element block: start from the scale that puts the extreme on the grid's end, then try
// 2 * ntry + 1 nearby scales and keep the least-squares one weighted by x^2 (ggml's search, ntry 7).
static void iq4_nl_block(const float *x, qw_block_iq4_nl *y) {
    const int n = QW_QK4_NL, ntry = 7;
    const int8_t *v = qw_iq4nl_values;
    float w[QW_QK4_NL];
    uint8_t L[QW_QK4_NL];
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        w[j] = x[j] * x[j];
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
    }
    memset(y, 0, sizeof *y);
    if (amax < GROUP_MAX_EPS) { // d = 0; codes of the grid value nearest zero, as ggml writes them
        memset(y->qs, 0x88, sizeof y->qs);
        return;
    }
    float d = -max / v[0], id = 1 / d, sumqx = 0, sumq2 = 0;
    for (int j = 0; j < n; j++) {
        float q = v[best_index_int8(16, v, id * x[j])];
        sumqx += w[j] * q * x[j];
        sumq2 += w[j] * q * q;
    }
    d = sumqx / sumq2;
    float best = d * sumqx;
    for (int t = -ntry; t <= ntry; t++) {
        id = (t + v[0]) / max;
        sumqx = sumq2 = 0;
        for (int j = 0; j < n; j++) {
            float q = v[best_index_int8(16, v, id * x[j])];
            sumqx += w[j] * q * x[j];
            sumq2 += w[j] * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) d = sumqx / sumq2, best = d * sumqx;
    }
    y->d = f2h(d);
    id = d ? 1 / d : 0;
    for (int j = 0; j < n; j++) L[j] = (uint8_t)best_index_int8(16, v, id * x[j]);
    for (int j = 0; j < n / 2; j++) y->qs[j] = (uint8_t)(L[j] | (L[j + n / 2] << 4));
}

void qw_quantize_row_iq4_nl_ref(const float *x, void *vy, int64_t k) {
    qw_block_iq4_nl *y = vy;
    for (int64_t i = 0; i < k / QW_QK4_NL; i++) iq4_nl_block(x + i * QW_QK4_NL, &y[i]);
}

void qw_dequantize_row_iq4_nl(const void *vx, float *y, int64_t k) {
    const qw_block_iq4_nl *x = vx;
    for (int64_t i = 0; i < k / QW_QK4_NL; i++, y += QW_QK4_NL) {
        const float d = h2f(x[i].d);
        for (int j = 0; j < QW_QK4_NL / 2; j++) {
            y[j] = d * qw_iq4nl_values[x[i].qs[j] & 0xF];
            y[j + QW_QK4_NL / 2] = d * qw_iq4nl_values[x[i].qs[j] >> 4];
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// K-quants: scale/min search per sub-block

// Asymmetric codes 0..nmax for n values: x ~ scale * L - min. Starts from the min/max grid, then
// tries nstep scales around it, each refit by weighted least squares for (scale, min) (ggml's
// make_qkx2_quants). Returns the scale; *the_min gets the (non-negative) offset.
static float make_qkx2_quants(int n, int nmax, const float *x, const float *w, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0; // the offset only ever subtracts, so a positive group starts at zero
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        float diff = scale * L[i] + min - x[i];
        best_error += w[i] * diff * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * (x[i] - min));
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) this_min = 0, this_scale = sum_xl / sum_l2;
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                err += w[i] * diff * diff;
            }
            if (err < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = err, scale = this_scale, min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// Symmetric codes in [-nmax, nmax - 1] for n values, weighted by x^2, trying 19 scales around
// -nmax / max (ggml's make_qx_quants with rmse_type 1). L gets code + nmax. Returns the scale.
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), max = x[i];
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + (l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Packs 8 six-bit scales and mins into 12 bytes: the first four pairs whole in bytes 0-7, the rest
// split into nibbles in bytes 8-11 with their top two bits in the spare bits of bytes 0-7.
static void pack_scale_min_k4(uint8_t *s, const uint8_t *ls, const uint8_t *lm) {
    memset(s, 0, QW_K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

// Shared by Q4_K and Q5_K: per sub-block (scale, min) search, 6-bit quantization of both against
// the super-block maxima, then codes 0..nmax recomputed with the scales as stored.
static void k_quant_superblock(const float *x, int nmax, float rmin, int nstep, qw_half *d_out,
                               qw_half *dmin_out, uint8_t *scales, uint8_t *L) {
    float w[32], mins[8], sc[8];
    uint8_t Laux[32], ls[8], lm[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xb = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xb[l] * xb[l];
        float av_x = sqrtf(sum_x2 / 32);
        // weight large values more, but never let small ones drop out entirely
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xb[l]);
        sc[j] = make_qkx2_quants(32, nmax, xb, w, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep);
        if (sc[j] > max_scale) max_scale = sc[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0, inv_min = max_min > 0 ? 63.f / max_min : 0;
    for (int j = 0; j < 8; j++) {
        int a = nearest_int(inv_scale * sc[j]), b = nearest_int(inv_min * mins[j]);
        ls[j] = (uint8_t)(a > 63 ? 63 : a);
        lm[j] = (uint8_t)(b > 63 ? 63 : b);
    }
    pack_scale_min_k4(scales, ls, lm);
    *d_out = f2h(max_scale / 63.f);
    *dmin_out = f2h(max_min / 63.f);
    const float d_all = h2f(*d_out), dmin_all = h2f(*dmin_out);
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        qw_get_scale_min_k4(j, scales, &s, &m);
        const float d = d_all * s;
        if (!d) continue;
        const float dm = dmin_all * m;
        for (int i = 0; i < 32; i++) {
            int l = nearest_int((x[32 * j + i] + dm) / d);
            L[32 * j + i] = (uint8_t)(l < 0 ? 0 : l > nmax ? nmax : l);
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Q4_K

void qw_quantize_row_q4_k_ref(const float *x, void *vy, int64_t k) {
    qw_block_q4_k *y = vy;
    uint8_t L[QW_QK_K];
    for (int64_t i = 0; i < k / QW_QK_K; i++, x += QW_QK_K) {
        k_quant_superblock(x, 15, -1.0f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QW_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void qw_dequantize_row_q4_k(const void *vx, float *y, int64_t k) {
    const qw_block_q4_k *x = vx;
    for (int64_t i = 0; i < k / QW_QK_K; i++) {
        const float d = h2f(x[i].d), min = h2f(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int j = 0, is = 0; j < QW_QK_K; j += 64, is += 2, q += 32) {
            uint8_t sc, m;
            qw_get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            qw_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Q5_K

void qw_quantize_row_q5_k_ref(const float *x, void *vy, int64_t k) {
    qw_block_q5_k *y = vy;
    uint8_t L[QW_QK_K];
    for (int64_t i = 0; i < k / QW_QK_K; i++, x += QW_QK_K) {
        k_quant_superblock(x, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *ql = y[i].qs, *qh = y[i].qh;
        memset(qh, 0, QW_QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int n = 0; n < QW_QK_K; n += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[n + j], l2 = L[n + j + 32];
                if (l1 > 15) l1 -= 16, qh[j] |= m1;
                if (l2 > 15) l2 -= 16, qh[j] |= m2;
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
        }
    }
}

void qw_dequantize_row_q5_k(const void *vx, float *y, int64_t k) {
    const qw_block_q5_k *x = vx;
    for (int64_t i = 0; i < k / QW_QK_K; i++) {
        const float d = h2f(x[i].d), min = h2f(x[i].dmin);
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < QW_QK_K; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            qw_get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            qw_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Q6_K

void qw_quantize_row_q6_k_ref(const float *x, void *vy, int64_t k) {
    qw_block_q6_k *y = vy;
    int8_t L[QW_QK_K];
    float scales[QW_QK_K / 16];
    for (int64_t i = 0; i < k / QW_QK_K; i++, x += QW_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QW_QK_K / 16; ib++) {
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            if (fabsf(scales[ib]) > max_abs_scale) max_abs_scale = fabsf(scales[ib]), max_scale = scales[ib];
        }
        memset(&y[i], 0, sizeof y[i]);
        if (max_abs_scale < GROUP_MAX_EPS) continue;
        // the largest sub-block scale maps to -128, so its sign is carried by d
        const float iscale = -128.f / max_scale;
        y[i].d = f2h(1 / iscale);
        for (int ib = 0; ib < QW_QK_K / 16; ib++) {
            int l = nearest_int(iscale * scales[ib]);
            y[i].scales[ib] = (int8_t)(l > 127 ? 127 : l);
        }
        for (int j = 0; j < QW_QK_K / 16; j++) {
            const float d = h2f(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)((l < -32 ? -32 : l > 31 ? 31 : l) + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QW_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const uint8_t a = (uint8_t)L[j + l], b = (uint8_t)L[j + l + 32];
                const uint8_t c = (uint8_t)L[j + l + 64], e = (uint8_t)L[j + l + 96];
                ql[l] = (uint8_t)((a & 0xF) | ((c & 0xF) << 4));
                ql[l + 32] = (uint8_t)((b & 0xF) | ((e & 0xF) << 4));
                qh[l] = (uint8_t)((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6));
            }
        }
    }
}

void qw_dequantize_row_q6_k(const void *vx, float *y, int64_t k) {
    const qw_block_q6_k *x = vx;
    for (int64_t i = 0; i < k / QW_QK_K; i++) {
        const float d = h2f(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < QW_QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}
