// kernels/x86/qdot_x86: the multi-token dots of every quantized weight type with int8 activations, in
// 256-bit vectors, one 32-element block per vector. Included by qdot_avx2.c and qdot_avx512vnni.c,
// which define QDOT_ISA (the name suffix) and, for VNNI, QDOT_VNNI; they differ only in dpbusd below.
//
// The weights' codes are made unsigned bytes c (Q4_0's nibbles as they are, Q8_0 and IQ4_NL shifted by
// 128, the K-quants' codes as they are) so that one u8 x s8 dot gives sum c * x; a code offset z is
// taken off through the activation block's code sum (sum (c - z) x = sum c x - z sum x), which with
// VNNI costs nothing: the int32 accumulator starts at -z * sum x instead of zero.
#include "../kernels_impl.h"

#include <immintrin.h>

#define QW_INLINE static inline __attribute__((always_inline))
#define QDOT_CAT2(a, b) a##b
#define QDOT_CAT(a, b) QDOT_CAT2(a, b)
#define QDOT_NAME(type) QDOT_CAT(qw_qdot_##type##_, QDOT_ISA)

// acc + sum over each 4 bytes of u (unsigned) * s (signed), in 8 int32 lanes.
#ifdef QDOT_VNNI
QW_INLINE __m256i dpbusd(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
#else
// vpmaddubsw saturates at 16 bits: callers keep u * s pairs below 2^15 (u <= 63 with |s| <= 127).
QW_INLINE __m256i dpbusd(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
#endif

QW_INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

QW_INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

// 16 bytes of nibbles -> 32 bytes: the low nibbles (elements 0-15), then the high ones (16-31).
QW_INLINE __m256i nibbles32(const uint8_t *p) {
    __m128i q = _mm_loadu_si128((const __m128i *)p);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

// ---------------------------------------------------------------------------------------------------
// 32-element block types (QW_ACT_Q8 activations): per block and token, the int32 dot of codes and
// activations, then f32: acc += (d_w * d_x) * dot.

// c: the block's 32 codes as unsigned bytes, with w = d (c - z) for Q4_0 (z = 8) and the shifted types
// under VNNI (z = 128). Without VNNI the shifted types pass signed codes and z = 0 (sign trick below).
QW_INLINE void block32(__m256i c, int z, int sgn, float dw, int NT, const int8_t *const *x, const float *const *dx,
                       const int32_t *const *sx, int64_t b, __m256 *acc) {
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        __m256i xv = _mm256_loadu_si256((const __m256i *)(x[t] + 32 * b));
        __m256i i;
        if (sgn) { // AVX2, signed codes: |c| * sign(x, c), pairs below 2 * 127 * 127 < 2^15
            i = dpbusd(_mm256_setzero_si256(), _mm256_sign_epi8(c, c), _mm256_sign_epi8(xv, c));
        } else {
            i = dpbusd(z ? _mm256_zextsi128_si256(_mm_cvtsi32_si128(-z * sx[t][b])) : _mm256_setzero_si256(), c, xv);
        }
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(dw * dx[t][b]), acc[t]);
    }
}

QW_INLINE void q8_0_nt(int NT, int64_t k, const qw_block_q8_0 *w, const int8_t *const *x, const float *const *dx,
                       const int32_t *const *sx, float *y, int64_t ys) {
    __m256 acc[2][QW_QDOT_NT_MAX]; // two sets, alternating by block: the f32 adds are not one chain
    for (int t = 0; t < NT; t++) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 32; b++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)w[b].qs);
#ifdef QDOT_VNNI
        block32(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), 128, 0, h2f(w[b].d), NT, x, dx, sx, b, acc[b & 1]);
#else
        block32(q, 0, 1, h2f(w[b].d), NT, x, dx, sx, b, acc[b & 1]);
#endif
    }
    for (int t = 0; t < NT; t++) y[t * ys] = hsum8(_mm256_add_ps(acc[0][t], acc[1][t]));
}

QW_INLINE void q4_0_nt(int NT, int64_t k, const qw_block_q4_0 *w, const int8_t *const *x, const float *const *dx,
                       const int32_t *const *sx, float *y, int64_t ys) {
    __m256 acc[2][QW_QDOT_NT_MAX]; // two sets, alternating by block: the f32 adds are not one chain
    for (int t = 0; t < NT; t++) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 32; b++) {
        __m256i c = nibbles32(w[b].qs);
#ifdef QDOT_VNNI
        block32(c, 8, 0, h2f(w[b].d), NT, x, dx, sx, b, acc[b & 1]);
#else
        block32(_mm256_sub_epi8(c, _mm256_set1_epi8(8)), 0, 1, h2f(w[b].d), NT, x, dx, sx, b, acc[b & 1]);
#endif
    }
    for (int t = 0; t < NT; t++) y[t * ys] = hsum8(_mm256_add_ps(acc[0][t], acc[1][t]));
}

QW_INLINE void iq4_nl_nt(int NT, int64_t k, const qw_block_iq4_nl *w, const int8_t *const *x, const float *const *dx,
                         const int32_t *const *sx, float *y, int64_t ys) {
    __m256 acc[2][QW_QDOT_NT_MAX]; // two sets, alternating by block: the f32 adds are not one chain
    for (int t = 0; t < NT; t++) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    const __m128i grid = _mm_loadu_si128((const __m128i *)qw_iq4nl_values);
#ifdef QDOT_VNNI
    const __m256i tbl = _mm256_broadcastsi128_si256(_mm_xor_si128(grid, _mm_set1_epi8((char)0x80))); // grid + 128
#else
    const __m256i tbl = _mm256_broadcastsi128_si256(grid);
#endif
    for (int64_t b = 0; b < k / 32; b++) {
        __m256i c = _mm256_shuffle_epi8(tbl, nibbles32(w[b].qs));
#ifdef QDOT_VNNI
        block32(c, 128, 0, h2f(w[b].d), NT, x, dx, sx, b, acc[b & 1]);
#else
        block32(c, 0, 1, h2f(w[b].d), NT, x, dx, sx, b, acc[b & 1]);
#endif
    }
    for (int t = 0; t < NT; t++) y[t * ys] = hsum8(_mm256_add_ps(acc[0][t], acc[1][t]));
}

#ifdef QDOT_VNNI
// Q4_0 and IQ4_NL (18-byte blocks) with VNNI, 8 blocks at a time: their 8 f16 scales sit at words 0, 9,
// ..., 63 of the 128 bytes from the first block, so one two-source word permute fetches them (the loads
// stay inside the 8 blocks); d_w * d_x for 8 blocks is one vector multiply, and the code offset z is
// taken off per 8 blocks in f32 (sum_b d_w d_x z s_b) instead of per block. Per block there remain the
// nibble unpack, one vpdpbusd per token and its f32 scaling.
QW_INLINE __m256 d8_of_18(const uint8_t *blocks) {
    // word indices 0, 9, ..., 63 in the low 8 words (dwords: lo word | hi word << 16)
    const __m512i idx = _mm512_setr_epi32(0 | 9 << 16, 18 | 27 << 16, 36 | 45 << 16, 54 | 63 << 16, 0, 0, 0, 0, 0, 0,
                                          0, 0, 0, 0, 0, 0);
    __m512i a = _mm512_loadu_si512(blocks), b = _mm512_loadu_si512(blocks + 64);
    return _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi16(a, idx, b)));
}

QW_INLINE void q4_18_vnni_nt(int NT, int nl, int64_t k, const uint8_t *w, const int8_t *const *x,
                             const float *const *dx, const int32_t *const *sx, float *y, int64_t ys) {
    // two accumulators per token (pairs of blocks alternate): one chain of dependent FMAs, 4 cycles
    // each, would cap a thread near 16 weights a cycle
    __m512 acc[2][QW_QDOT_NT_MAX];
    __m256 cacc[QW_QDOT_NT_MAX];
    for (int t = 0; t < NT; t++) acc[0][t] = acc[1][t] = _mm512_setzero_ps(), cacc[t] = _mm256_setzero_ps();
    const __m128i grid = _mm_xor_si128(_mm_loadu_si128((const __m128i *)qw_iq4nl_values), _mm_set1_epi8((char)0x80));
    const __m512i tbl = _mm512_broadcast_i32x4(grid), m4 = _mm512_set1_epi8(0x0F);
    // two blocks' 16 bytes of nibbles [A | B] -> [A, A, B, B], shifted by [0, 4, 0, 4]: the codes of A
    // then B in element order, matching 64 consecutive activations
    const __m512i dup = _mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), sh = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
    const int z = nl ? 128 : 8;
    const int64_t nb = k / 32;
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8) {
        const uint8_t *wb = w + 18 * b;
        const __m256 dw = d8_of_18(wb);
        __m512 s8[QW_QDOT_NT_MAX];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            __m256 s = _mm256_mul_ps(dw, _mm256_loadu_ps(dx[t] + b));
            s8[t] = _mm512_castps256_ps512(s);
            cacc[t] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(sx[t] + b))), cacc[t]);
        }
#pragma GCC unroll 4
        for (int j = 0; j < 8; j += 2) {
            __m256i ab = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(wb + 18 * (j + 1) + 2)),
                                          _mm_loadu_si128((const __m128i *)(wb + 18 * j + 2)));
            __m512i c = _mm512_and_si512(_mm512_srlv_epi64(_mm512_permutexvar_epi64(dup, _mm512_castsi256_si512(ab)), sh), m4);
            if (nl) c = _mm512_shuffle_epi8(tbl, c);
            // lanes 0-7 take block j's scale, 8-15 block j + 1's
            const __m512i pick = _mm512_setr_epi32(j, j, j, j, j, j, j, j, j + 1, j + 1, j + 1, j + 1, j + 1, j + 1,
                                                   j + 1, j + 1);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                __m512i i = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c, _mm512_loadu_si512(x[t] + 32 * (b + j)));
                acc[(j >> 1) & 1][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_permutexvar_ps(pick, s8[t]),
                                                       acc[(j >> 1) & 1][t]);
            }
        }
    }
    __m256 tail[QW_QDOT_NT_MAX];
    for (int t = 0; t < NT; t++) tail[t] = _mm256_setzero_ps();
    const __m256i tbl256 = _mm256_broadcastsi128_si256(grid);
    for (; b < nb; b++) { // the last blocks one at a time
        const uint8_t *wb = w + 18 * b;
        uint16_t dh;
        memcpy(&dh, wb, 2);
        __m256i c = nibbles32(wb + 2);
        if (nl) c = _mm256_shuffle_epi8(tbl256, c);
        block32(c, z, 0, h2f(dh), NT, x, dx, sx, b, tail);
    }
    for (int t = 0; t < NT; t++)
        y[t * ys] = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][t], acc[1][t])) + hsum8(tail[t]) - (float)z * hsum8(cacc[t]);
}

// Q8_0 with VNNI, 4 blocks (34 bytes each) at a time: their f16 scales at words 0, 17, 34, 51 of the
// 128 bytes from the first (inside the 136 bytes of the 4 blocks); two blocks' codes per 512-bit vector,
// shifted by 128 to unsigned; the offset taken off per 4 blocks in f32, as above.
QW_INLINE __m128 d4_of_34(const uint8_t *blocks) {
    const __m512i idx = _mm512_setr_epi32(0 | 17 << 16, 34 | 51 << 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512i a = _mm512_loadu_si512(blocks), b = _mm512_loadu_si512(blocks + 64);
    return _mm_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi16(a, idx, b)));
}

QW_INLINE void q8_0_vnni_nt(int NT, int64_t k, const uint8_t *w, const int8_t *const *x, const float *const *dx,
                            const int32_t *const *sx, float *y, int64_t ys) {
    __m512 acc[2][QW_QDOT_NT_MAX];
    __m128 cacc[QW_QDOT_NT_MAX];
    for (int t = 0; t < NT; t++) acc[0][t] = acc[1][t] = _mm512_setzero_ps(), cacc[t] = _mm_setzero_ps();
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const int64_t nb = k / 32;
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        const uint8_t *wb = w + 34 * b;
        const __m128 dw = d4_of_34(wb);
        __m512 s4[QW_QDOT_NT_MAX];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            __m128 s = _mm_mul_ps(dw, _mm_loadu_ps(dx[t] + b));
            s4[t] = _mm512_castps128_ps512(s);
            cacc[t] = _mm_fmadd_ps(s, _mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *)(sx[t] + b))), cacc[t]);
        }
#pragma GCC unroll 2
        for (int j = 0; j < 4; j += 2) {
            __m512i c = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(wb + 34 * j + 2))),
                                           _mm256_loadu_si256((const __m256i *)(wb + 34 * (j + 1) + 2)), 1);
            c = _mm512_xor_si512(c, flip);
            const __m512i pick = _mm512_setr_epi32(j, j, j, j, j, j, j, j, j + 1, j + 1, j + 1, j + 1, j + 1, j + 1,
                                                   j + 1, j + 1);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                __m512i i = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c, _mm512_loadu_si512(x[t] + 32 * (b + j)));
                acc[j >> 1][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_permutexvar_ps(pick, s4[t]), acc[j >> 1][t]);
            }
        }
    }
    __m256 tail[QW_QDOT_NT_MAX];
    for (int t = 0; t < NT; t++) tail[t] = _mm256_setzero_ps();
    for (; b < nb; b++) {
        const uint8_t *wb = w + 34 * b;
        uint16_t dh;
        memcpy(&dh, wb, 2);
        __m256i q = _mm256_loadu_si256((const __m256i *)(wb + 2));
        block32(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), 128, 0, h2f(dh), NT, x, dx, sx, b, tail);
    }
    for (int t = 0; t < NT; t++) {
        __m128 c = cacc[t];
        c = _mm_add_ps(c, _mm_movehl_ps(c, c));
        c = _mm_add_ss(c, _mm_movehdup_ps(c));
        y[t * ys] = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][t], acc[1][t])) + hsum8(tail[t]) - 128.0f * _mm_cvtss_f32(c);
    }
}
#endif

// ---------------------------------------------------------------------------------------------------
// K-quants (QW_ACT_Q8K activations): per super-block and token, sub-block dots times their integer
// scales summed in int32 lanes (|sum| < 2^31: 256 codes <= 63 times 127 times scales <= 127), then
// d * d_x once; the mins through the activations' per-16 sums.

// The 8 six-bit scales and 8 mins of a Q4_K/Q5_K super-block, as two 8-byte runs (ggml's packing
// undone with 32-bit shifts instead of eight qw_get_scale_min_k4 calls).
QW_INLINE void k4_scales(const uint8_t *s, uint8_t sc[8], uint8_t m[8]) {
    uint32_t u[3];
    memcpy(u, s, 12);
    const uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
    uint32_t sc0 = u[0] & k1, m0 = u[1] & k1;
    uint32_t sc1 = (u[2] & k2) | (((u[0] >> 6) & k3) << 4);
    uint32_t m1 = ((u[2] >> 4) & k2) | (((u[1] >> 6) & k3) << 4);
    memcpy(sc, &sc0, 4);
    memcpy(sc + 4, &sc1, 4);
    memcpy(m, &m0, 4);
    memcpy(m + 4, &m1, 4);
}

// sum_j m_j * (s16[2j] + s16[2j+1]) as 8 int32 lanes (the caller sums them with the rest): mins widened
// and repeated per pair of 16-sums.
QW_INLINE __m256i k4_mins(const uint8_t m[8], const int32_t *s16) {
    __m128i mb = _mm_loadl_epi64((const __m128i *)m);
    __m128i rep = _mm_unpacklo_epi8(mb, mb); // m0 m0 m1 m1 ... m7 m7
    __m256i lo = _mm256_cvtepu8_epi32(rep), hi = _mm256_cvtepu8_epi32(_mm_srli_si128(rep, 8));
    return _mm256_add_epi32(_mm256_mullo_epi32(lo, _mm256_loadu_si256((const __m256i *)s16)),
                            _mm256_mullo_epi32(hi, _mm256_loadu_si256((const __m256i *)(s16 + 8))));
}

// Q4_K and Q5_K share everything but the fifth bit (qh, NULL for Q4_K).
QW_INLINE void k45_nt(int NT, int64_t k, const uint8_t *blocks, size_t bb, int five, const int8_t *const *x,
                      const float *const *dx, const int32_t *const *sx, float *y, int64_t ys) {
    __m256 acc[QW_QDOT_NT_MAX];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < k / QW_QK_K; i++) {
        const uint8_t *blk = blocks + (size_t)i * bb;
        // Q4_K: d, dmin, scales, qs; Q5_K: d, dmin, scales, qh, qs
        const uint16_t *dd = (const uint16_t *)blk;
        const uint8_t *qh = blk + 4 + QW_K_SCALE_SIZE, *qs = five ? qh + QW_QK_K / 8 : qh;
        uint8_t sc[8], m[8];
        k4_scales(blk + 4, sc, m);
        __m256i hb = five ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
        __m256i isum[QW_QDOT_NT_MAX];
        for (int t = 0; t < NT; t++) isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) { // 64 elements: sub-blocks 2c (low nibbles) and 2c + 1 (high)
            __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (five) { // bit j of qh[l] is bit 4 of element l of sub-block j
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
                hb = _mm256_srli_epi16(hb, 2);
            }
            const __m256i s_lo = _mm256_set1_epi32(sc[2 * c]), s_hi = _mm256_set1_epi32(sc[2 * c + 1]);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                const int8_t *xs = x[t] + (size_t)i * QW_QK_K + 64 * c;
                __m256i a = dpbusd(_mm256_setzero_si256(), lo, _mm256_loadu_si256((const __m256i *)xs));
                __m256i b = dpbusd(_mm256_setzero_si256(), hi, _mm256_loadu_si256((const __m256i *)(xs + 32)));
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_mullo_epi32(a, s_lo), _mm256_mullo_epi32(b, s_hi)));
            }
        }
        const float d = h2f(dd[0]), dmin = h2f(dd[1]);
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            const float dxt = dx[t][i];
            __m256 mins = _mm256_cvtepi32_ps(k4_mins(m, sx[t] + 16 * i));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(d * dxt), acc[t]);
            acc[t] = _mm256_fnmadd_ps(mins, _mm256_set1_ps(dmin * dxt), acc[t]);
        }
    }
    for (int t = 0; t < NT; t++) y[t * ys] = hsum8(acc[t]);
}

// Q6_K: per half of 128 elements, four vectors of 32 (codes 0..63 from 4 bits of ql and 2 of qh);
// lanes 0-3 of a vector's dot are its first 16 elements (scale 2i of the half), lanes 4-7 the next 16.
// The offset of 32 is taken off through the per-16 sums: -32 * sum_g sc_g * s_g.
QW_INLINE void q6_k_nt(int NT, int64_t k, const qw_block_q6_k *w, const int8_t *const *x, const float *const *dx,
                       const int32_t *const *sx, float *y, int64_t ys) {
    __m256 acc[QW_QDOT_NT_MAX];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    for (int64_t i = 0; i < k / QW_QK_K; i++) {
        const qw_block_q6_k *blk = &w[i];
        __m256i isum[QW_QDOT_NT_MAX];
        // offset: -32 * sc_g per 16-sum, in two vectors of 8
        __m128i scb = _mm_loadu_si128((const __m128i *)blk->scales);
        __m256i sc_lo = _mm256_cvtepi8_epi32(scb), sc_hi = _mm256_cvtepi8_epi32(_mm_srli_si128(scb, 8));
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            const int32_t *s16 = sx[t] + 16 * i;
            __m256i off = _mm256_add_epi32(_mm256_mullo_epi32(sc_lo, _mm256_loadu_si256((const __m256i *)s16)),
                                           _mm256_mullo_epi32(sc_hi, _mm256_loadu_si256((const __m256i *)(s16 + 8))));
            isum[t] = _mm256_mullo_epi32(off, _mm256_set1_epi32(-32));
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = blk->ql + 64 * h;
            __m256i qh = _mm256_loadu_si256((const __m256i *)(blk->qh + 32 * h));
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2));
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) {
                const int g = 8 * h + 2 * v; // scales g (lanes 0-3) and g + 1 (lanes 4-7)
                const __m256i s = _mm256_set_m128i(_mm_set1_epi32(blk->scales[g + 1]), _mm_set1_epi32(blk->scales[g]));
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) {
                    const int8_t *xs = x[t] + (size_t)i * QW_QK_K + 128 * h + 32 * v;
                    __m256i a = dpbusd(_mm256_setzero_si256(), q[v], _mm256_loadu_si256((const __m256i *)xs));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(a, s));
                }
            }
        }
        const float d = h2f(blk->d);
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(d * dx[t][i]), acc[t]);
    }
    for (int t = 0; t < NT; t++) y[t * ys] = hsum8(acc[t]);
}

#ifndef QDOT_VNNI
// Q6_K without VNNI, in int16 until each 16-element group's scale: vpmaddubsw's pair sums of codes
// (0..63) and activations stay below 2 * 63 * 128 < 2^15, and one vpmaddwd against a vector holding
// scale g in words 0-7 and g + 1 in words 8-15 widens and scales them at once (the VNNI form above
// needs a vpmulld per vector and built each scale vector from scalars). The offset 32 is taken off
// once per super-block: -32 * sum_g sc_g * s_g, one vpmaddwd of the scales and the 16 sums. One
// thread, q/o from L3 (kern_bench --type q6_k --hot, Zen 3), three rounds alternating: decode 0.247 ->
// 0.160 ms, 4 tokens 0.460 -> 0.357 ms.
QW_INLINE void q6_k_i16_nt(int NT, int64_t k, const qw_block_q6_k *w, const int8_t *const *x, const float *const *dx,
                           const int32_t *const *sx, float *y, int64_t ys) {
    __m256 acc[QW_QDOT_NT_MAX];
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    for (int64_t i = 0; i < k / QW_QK_K; i++) {
        const qw_block_q6_k *blk = &w[i];
        // 2 KB ahead (the rows follow each other: past a row's end is the next row's start). Without
        // it the hardware prefetchers left 25% on the table (gate/up, 2 threads: best 0.85 -> 0.65 ms,
        // 2 to 4 KB alike). Tokens past QW_QDOT_NT_MAX re-read a row from L1 and prefetch again:
        // a few instructions per 210 bytes.
        for (int l = 0; l < 4; l++) _mm_prefetch((const char *)blk + 2048 + 64 * l, _MM_HINT_T0);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)blk->scales)); // sc 0..15
        __m256i isum[QW_QDOT_NT_MAX];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            const int32_t *s16 = sx[t] + 16 * i; // |sum| <= 16 * 128: int16
            const __m256i sp = _mm256_packs_epi32(_mm256_loadu_si256((const __m256i *)s16),
                                                  _mm256_loadu_si256((const __m256i *)(s16 + 8)));
            const __m256i off = _mm256_madd_epi16(sc16, _mm256_permute4x64_epi64(sp, 0xD8)); // (packs: per lane)
            isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            // scales 8h.. in both lanes (two calls: an -O1 build does not fold h into the immediate)
            const __m256i sch = h ? _mm256_permute4x64_epi64(sc16, 0xEE) : _mm256_permute4x64_epi64(sc16, 0x44);
            const uint8_t *ql = blk->ql + 64 * h;
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk->qh + 32 * h));
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2));
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) { // scale 2v of the half in the low lane's words, 2v + 1 in the high
                const __m256i scv = _mm256_shuffle_epi8(
                    sch, _mm256_set_m128i(_mm_set1_epi16((short)((4 * v + 2) | (4 * v + 3) << 8)),
                                          _mm_set1_epi16((short)(4 * v | (4 * v + 1) << 8))));
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) {
                    const __m256i xv = _mm256_loadu_si256((const __m256i *)(x[t] + (size_t)i * QW_QK_K + 128 * h + 32 * v));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(q[v], xv), scv));
                }
            }
        }
        const float d = h2f(blk->d);
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(d * dx[t][i]), acc[t]);
    }
    for (int t = 0; t < NT; t++) y[t * ys] = hsum8(acc[t]);
}
#endif

// ---------------------------------------------------------------------------------------------------
// entry points: per-token pointers into the activation rows, then the kernel with NT a constant

#define QDOT_ENTRY(type, kind, call)                                                                   \
    void QDOT_NAME(type)(int64_t k, const void *w, const void *a, size_t as, int nt, float *y, int64_t ys) { \
        const int8_t *x[QW_QDOT_NT_MAX];                                                               \
        const float *dx[QW_QDOT_NT_MAX];                                                               \
        const int32_t *sx[QW_QDOT_NT_MAX];                                                             \
        for (int t = 0; t < nt; t++) {                                                                 \
            const char *r = (const char *)a + (size_t)t * as;                                          \
            x[t] = qw_act_qs(r), dx[t] = qw_act_d(r, k), sx[t] = qw_act_s(r, k, kind);                  \
        }                                                                                              \
        switch (nt) {                                                                                  \
        case 1: call(1); break;                                                                        \
        case 2: call(2); break;                                                                        \
        case 3: call(3); break;                                                                        \
        default: call(4); break;                                                                       \
        }                                                                                              \
    }

#ifdef QDOT_VNNI
#define CALL_Q8_0(NT) q8_0_vnni_nt(NT, k, w, x, dx, sx, y, ys)
#else
#define CALL_Q8_0(NT) q8_0_nt(NT, k, w, x, dx, sx, y, ys)
#endif
#ifdef QDOT_VNNI
#define CALL_Q4_0(NT) q4_18_vnni_nt(NT, 0, k, w, x, dx, sx, y, ys)
#define CALL_IQ4_NL(NT) q4_18_vnni_nt(NT, 1, k, w, x, dx, sx, y, ys)
#else
#define CALL_Q4_0(NT) q4_0_nt(NT, k, w, x, dx, sx, y, ys)
#define CALL_IQ4_NL(NT) iq4_nl_nt(NT, k, w, x, dx, sx, y, ys)
#endif
#define CALL_Q4_K(NT) k45_nt(NT, k, w, sizeof(qw_block_q4_k), 0, x, dx, sx, y, ys)
#define CALL_Q5_K(NT) k45_nt(NT, k, w, sizeof(qw_block_q5_k), 1, x, dx, sx, y, ys)
#ifdef QDOT_VNNI
#define CALL_Q6_K(NT) q6_k_nt(NT, k, w, x, dx, sx, y, ys)
#else
#define CALL_Q6_K(NT) q6_k_i16_nt(NT, k, w, x, dx, sx, y, ys)
#endif

QDOT_ENTRY(q8_0, QW_ACT_Q8, CALL_Q8_0)
QDOT_ENTRY(q4_0, QW_ACT_Q8, CALL_Q4_0)
QDOT_ENTRY(iq4_nl, QW_ACT_Q8, CALL_IQ4_NL)
QDOT_ENTRY(q4_k, QW_ACT_Q8K, CALL_Q4_K)
QDOT_ENTRY(q5_k, QW_ACT_Q8K, CALL_Q5_K)
QDOT_ENTRY(q6_k, QW_ACT_Q8K, CALL_Q6_K)
