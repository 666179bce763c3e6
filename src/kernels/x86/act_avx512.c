// kernels/x86/act_avx512: element-wise work of the forward pass in AVX-512: activations quantized to
// int8 blocks (the same bytes as qw_quantize_act_row, which the integer kernels' results depend on)
// and SwiGLU's silu(a) * b with a vector exp.
#include "../kernels_impl.h"

#include "exp_avx512.h"

// Blocks of B (32 or 256) elements, each with its absmax / 127 scale, and code sums per SB (32 or 16).
// Round to nearest even as the reference's round_even (cvtps2dq under the default MXCSR), clamp to
// +-127, and the NaN rule of the reference's max (a NaN element never becomes the block's amax).
void qw_act_quant_avx512(qw_type wtype, const float *x, void *y, int64_t k) {
    const qw_act_kind a = qw_act_kind_of(wtype);
    QW_ASSERT(a != QW_ACT_NONE && k % qw_act_block(a) == 0);
    const int B = qw_act_block(a), SB = qw_act_sum_block(a);
    int8_t *qs = y;
    float *d = (float *)((char *)y + k);
    int32_t *s = (int32_t *)(d + k / B);
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    for (int64_t b = 0; b < k / B; b++) {
        const float *xb = x + b * B;
        __m512 m = _mm512_setzero_ps();
        for (int j = 0; j < B; j += 16) // max(v, m) keeps m where v is NaN, as the reference's a > amax
            m = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(xb + j), absmask), m);
        const float amax = _mm512_reduce_max_ps(m);
        const float db = amax / 127, id = db ? 1.0f / db : 0.0f;
        d[b] = db;
        const __m512 vid = _mm512_set1_ps(id);
        for (int j = 0; j < B; j += 16) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + j), vid));
            q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
            _mm_storeu_si128((__m128i *)(qs + b * B + j), _mm512_cvtepi32_epi8(q));
            if (SB == 16) s[(b * B + j) / 16] = _mm512_reduce_add_epi32(q);
            else if (j % 32 == 0) s[(b * B + j) / 32] = _mm512_reduce_add_epi32(q);
            else s[(b * B + j) / 32] += _mm512_reduce_add_epi32(q);
        }
    }
    size_t used = (size_t)k + 4 * (size_t)(k / B) + 4 * (size_t)(k / SB);
    memset((char *)y + used, 0, qw_act_row_bytes(wtype, k) - used);
}

// silu(a) = a * sigmoid(a); with t = e^-|a| <= 1 (exp512's domain), sigmoid(a) = (a >= 0 ? 1 : t) / (1 + t).
void qw_silu_mul_avx512(int64_t n, float *a, const float *b) {
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff)), one = _mm512_set1_ps(1.0f);
    int64_t i = 0;
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 g = _mm512_maskz_loadu_ps(k, a + i), v = _mm512_maskz_loadu_ps(k, b + i);
        const __m512 t = exp512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_and_ps(g, absmask)));
        const __mmask16 pos = _mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_GE_OQ);
        const __m512 num = _mm512_mask_blend_ps(pos, t, one);
        _mm512_mask_storeu_ps(a + i, k, _mm512_mul_ps(_mm512_mul_ps(g, _mm512_div_ps(num, _mm512_add_ps(one, t))), v));
    }
}
