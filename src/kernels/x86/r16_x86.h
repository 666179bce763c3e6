// kernels/x86/r16_x86: unpacking blocks of the r16 layout (quant.h) into zmm vectors, shared by the
// VNNI decode kernels (qr16_avx512vnni.c) and the VNNI GEMM's panels (qgemm_avx512vnni.c). Every lane
// is one of the 16 rows; codes come out as unsigned bytes, 4 per lane (one dword of the row).
#ifndef QW_R16_X86_H
#define QW_R16_X86_H

#include "r16_act.h"

#include <immintrin.h>

#define QW_INLINE static inline __attribute__((always_inline))

// 32-element blocks with one f16 scale per row: Q4_0 (18 bytes), IQ4_NL (18), Q8_0 (34). A block of 16
// rows is 16 d's (32 bytes) and then 4 (nibble types) or 8 (Q8_0) vectors of code dwords.
enum { K_Q4_0, K_IQ4_NL, K_Q8_0 };

// The code offset z of each kind: w = d (c - z).
QW_INLINE int zero32(int kind) { return kind == K_Q4_0 ? 8 : 128; }

// The 8 code vectors of a block, in activation dword order (dword i = elements 4i .. 4i + 3).
QW_INLINE void codes32(int kind, const uint8_t *v, __m512i c[8]) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    if (kind == K_Q8_0) {
        for (int u = 0; u < 8; u++) c[u] = _mm512_xor_si512(_mm512_loadu_si512(v + 64 * u), _mm512_set1_epi8((char)0x80));
        return;
    }
    // nibble dword i: low nibbles are elements 4i.., high nibbles 16 + 4i..
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        __m512i q = _mm512_loadu_si512(v + 64 * i);
        c[i] = _mm512_and_si512(q, m4);
        c[4 + i] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    }
    if (kind == K_IQ4_NL) { // codes -> grid values + 128 (unsigned)
        const __m128i g = _mm_xor_si128(_mm_loadu_si128((const __m128i *)qw_iq4nl_values), _mm_set1_epi8((char)0x80));
        const __m512i tbl = _mm512_broadcast_i32x4(g);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) c[i] = _mm512_shuffle_epi8(tbl, c[i]);
    }
}

// Q4_K's 6-bit scales and mins of a super-block of 16 rows (dwords 1..3 of it, the scale bytes as
// qw_get_scale_min_k4 reads them: A = bytes 0..3, B = 4..7, C = 8..11): per lane, bytes 0..3 of sc03
// are the scales of sub-blocks 0..3, of sc47 those of 4..7; m03 and m47 the mins.
QW_INLINE void q4k_scales(const uint8_t *blk, __m512i *sc03, __m512i *sc47, __m512i *m03, __m512i *m47) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m6 = _mm512_set1_epi8(0x3F), hi2 = _mm512_set1_epi8(0x30);
    const __m512i A = _mm512_loadu_si512(blk + 64), B = _mm512_loadu_si512(blk + 128), C = _mm512_loadu_si512(blk + 192);
    *sc03 = _mm512_and_si512(A, m6);
    *m03 = _mm512_and_si512(B, m6);
    // the top two bits of A's and B's bytes are bits 4..5 of the scales and mins of sub-blocks 4..7
    *sc47 = _mm512_or_si512(_mm512_and_si512(C, m4), _mm512_and_si512(_mm512_srli_epi32(A, 2), hi2));
    *m47 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(C, 4), m4), _mm512_and_si512(_mm512_srli_epi32(B, 2), hi2));
}

// Sub-block j's scale (or min) of 16 rows as int32 lanes, from q4k_scales' sc03/sc47 (or m03/m47).
QW_INLINE __m512i q4k_sub(__m512i v03, __m512i v47, int j) {
    return _mm512_and_si512(_mm512_srli_epi32(j < 4 ? v03 : v47, 8 * (j & 3)), _mm512_set1_epi32(0xFF));
}

// The mins as int16 pairs for vpdpwssd against code-sum pairs: (m0, m2), (m1, m3), (m4, m6), (m5, m7).
QW_INLINE void q4k_min_pairs(__m512i m03, __m512i m47, __m512i mp[4]) {
    const __m512i word0 = _mm512_set1_epi32(0x00FF00FF);
    mp[0] = _mm512_and_si512(m03, word0);
    mp[1] = _mm512_and_si512(_mm512_srli_epi32(m03, 8), word0);
    mp[2] = _mm512_and_si512(m47, word0);
    mp[3] = _mm512_and_si512(_mm512_srli_epi32(m47, 8), word0);
}

// Q4_K's d and dmin of 16 rows (dword 0 of a super-block: d | dmin << 16) as f32.
QW_INLINE void q4k_d(const uint8_t *blk, __m512 *d, __m512 *dmin) {
    const __m512i dd = _mm512_loadu_si512(blk);
    *d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd));
    *dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));
}

#endif
