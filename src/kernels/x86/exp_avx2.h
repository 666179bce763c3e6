// kernels/x86/exp_avx2: a vector exp for arguments <= 0 (softmax, sigmoid) with AVX2 + FMA, shared by
// the AVX2 attention and SwiGLU kernels; exp_avx512.h's algorithm, 8 wide.
#ifndef QW_EXP_AVX2_H
#define QW_EXP_AVX2_H

#include <immintrin.h>

// exp(x) for x <= 0, ~2 ulp: x = n ln2 + r, |r| <= ln2/2, e^r by Cephes' degree-6 polynomial, times
// 2^n. AVX2 has no scalef, so 2^n is built in the exponent field, in two halves (n down to -150, each
// half a normal number) so that results below 2^-126 come out as the right subnormals. Clamped at
// -104, so -inf gives 0 or the smallest subnormal (callers that need an exact 0 mask it).
static inline __m256 exp256(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-104.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i ni = _mm256_cvtps_epi32(n), na = _mm256_srai_epi32(ni, 1), nb = _mm256_sub_epi32(ni, na);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 ea = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(na, bias), 23));
    const __m256 eb = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(nb, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, ea), eb);
}

#endif
