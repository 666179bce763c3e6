// kernels/x86/avx2_util: small AVX2 pieces that several kernel files share: horizontal sum and max, an
// 8 x 8 dword transpose, and two compiler barriers that decide what lives in registers.
#ifndef QW_AVX2_UTIL_H
#define QW_AVX2_UTIL_H

#include <immintrin.h>

static inline float qw_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

static inline float qw_hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

static inline int32_t qw_hsum8i(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1)));
}

// r[i] lane j -> r[j] lane i for 8 x 8 dwords (floats or ints: the bits move, nothing is converted)
static inline __attribute__((always_inline)) void qw_transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

// A value the compiler must have in a register at this point. In the unrolled integer kernels gcc
// otherwise reassociates each token's chain of vpaddw into trees, and with 4 tokens x 2 halves the extra
// live products spill the sums themselves, which every step reads (qr16_avx2.c has the figures).
#define QW_KEEP(v) __asm__("" : "+x"(v))

// An array the compiler must keep in memory (a pointer it cannot see through): for sums touched once per
// block, so that the registers go to those touched every step.
#define QW_IN_MEMORY(p) __asm__("" : "+r"(p))

#endif
