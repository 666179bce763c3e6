// quant/grid: one GGUF block's grid: its header chosen by the type's reference quantizer, then single
// elements rounded onto it, with the value computed by the same float expression as the dequantizer.
#include "quantize.h"

#include <math.h>

static inline float h2f(qw_half h) { return qw_f16_to_f32(h); }

int qw_grid_block(qw_type t) {
    switch (t) {
    case QW_TYPE_Q8_0: return QW_QK8_0;
    case QW_TYPE_Q4_0: return QW_QK4_0;
    case QW_TYPE_IQ4_NL: return QW_QK4_NL;
    case QW_TYPE_Q4_K:
    case QW_TYPE_Q5_K:
    case QW_TYPE_Q6_K: return QW_QK_K;
    default: return 0;
    }
}

void qw_grid_choose(qw_type t, const float *x, void *blk) {
    const qw_type_traits *tr = qw_type_get(t);
    QW_ASSERT(tr && tr->is_quantized);
    tr->from_float_ref(x, blk, qw_grid_block(t)); // codes are overwritten element by element later
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// Nibble j of a 32-element Q4_0 / IQ4_NL block: the first 16 in the low nibbles, the rest in the high.
static void set_nibble32(uint8_t *qs, int j, int q) {
    if (j < 16) qs[j] = (uint8_t)((qs[j] & 0xF0) | q);
    else qs[j - 16] = (uint8_t)((qs[j - 16] & 0x0F) | (q << 4));
}

// K-quant 4-bit layout: per 64 elements, 32 bytes, low nibbles first.
static void set_nibble_k(uint8_t *qs, int j, int q) {
    int g = j / 64, r = j % 64;
    uint8_t *b = &qs[g * 32 + (r & 31)];
    if (r < 32) *b = (uint8_t)((*b & 0xF0) | q);
    else *b = (uint8_t)((*b & 0x0F) | (q << 4));
}

float qw_grid_round(qw_type t, void *vb, int j, float x) {
    switch (t) {
    case QW_TYPE_Q8_0: {
        qw_block_q8_0 *b = vb;
        const float d = h2f(b->d);
        int q = d ? clampi((int)lrintf(x / d), -127, 127) : 0;
        b->qs[j] = (int8_t)q;
        return b->qs[j] * d;
    }
    case QW_TYPE_Q4_0: {
        qw_block_q4_0 *b = vb;
        const float d = h2f(b->d);
        int q = d ? clampi((int)lrintf(x / d) + 8, 0, 15) : 8;
        set_nibble32(b->qs, j, q);
        return (q - 8) * d;
    }
    case QW_TYPE_IQ4_NL: {
        qw_block_iq4_nl *b = vb;
        const float d = h2f(b->d);
        int best = 0;
        float be = INFINITY;
        for (int k = 0; k < 16; k++) {
            float e = fabsf(d * qw_iq4nl_values[k] - x);
            if (e < be) be = e, best = k;
        }
        set_nibble32(b->qs, j, best);
        return d * qw_iq4nl_values[best];
    }
    case QW_TYPE_Q4_K:
    case QW_TYPE_Q5_K: {
        const int nmax = t == QW_TYPE_Q4_K ? 15 : 31;
        qw_block_q4_k *b4 = vb;
        qw_block_q5_k *b5 = vb;
        const uint8_t *scales = t == QW_TYPE_Q4_K ? b4->scales : b5->scales;
        const float d = h2f(t == QW_TYPE_Q4_K ? b4->d : b5->d), min = h2f(t == QW_TYPE_Q4_K ? b4->dmin : b5->dmin);
        uint8_t sc, m;
        qw_get_scale_min_k4(j / 32, scales, &sc, &m);
        const float d1 = d * sc, m1 = min * m;
        int q = d1 ? clampi((int)lrintf((x + m1) / d1), 0, nmax) : 0;
        if (t == QW_TYPE_Q4_K) {
            set_nibble_k(b4->qs, j, q);
        } else {
            set_nibble_k(b5->qs, j, q & 15);
            int n = j / 64, r = j % 64;
            uint8_t bit = (uint8_t)((r < 32 ? 1 : 2) << (2 * n));
            uint8_t *h = &b5->qh[r & 31];
            *h = (uint8_t)(q > 15 ? (*h | bit) : (*h & ~bit));
        }
        return d1 * q - m1;
    }
    case QW_TYPE_Q6_K: {
        qw_block_q6_k *b = vb;
        const float d = h2f(b->d);
        const float ds = d * b->scales[j / 16];
        int q = ds ? clampi((int)lrintf(x / ds), -32, 31) : 0;
        int u = q + 32; // 6 bits: low 4 in ql, high 2 in qh
        int half = j / 128, r = j % 128, quarter = r / 32, l = r % 32;
        uint8_t *ql = b->ql + 64 * half, *qh = b->qh + 32 * half;
        uint8_t *lo = &ql[l + (quarter & 1) * 32];
        if (quarter < 2) *lo = (uint8_t)((*lo & 0xF0) | (u & 15));
        else *lo = (uint8_t)((*lo & 0x0F) | ((u & 15) << 4));
        int sh = 2 * quarter;
        qh[l] = (uint8_t)((qh[l] & ~(3 << sh)) | ((u >> 4) << sh));
        return ds * q;
    }
    default: QW_ASSERT(!"grid: not a quantized type");
    }
    return 0;
}
