// kernels/x86/act_avx2: element-wise work of the forward pass with AVX2 + FMA: activations quantized to
// int8 blocks (the same bytes as qw_quantize_act_row) and SwiGLU's silu(a) * b with a vector exp. The
// generic versions took 2.6% and 1.5% of a 512-token prefill of the 3B shape (Q4_0, Zen 3).
#include "../kernels_impl.h"

#include <math.h>

#include "avx2_util.h"
#include "exp_avx2.h"

// Blocks of B (32 or 256) elements, each with its absmax / 127 scale, and code sums per SB (32 or 16):
// act_avx512.c's rules 8 wide (round to nearest even by cvtps2dq, clamp to +-127, a NaN never the
// block's amax). 32 codes leave at once: two saturating packs put them in the order 0-3 8-11 16-19
// 24-27 4-7 ..., which one dword permutation undoes.
void qw_act_quant_avx2(qw_type wtype, const float *x, void *y, int64_t k) {
    const qw_act_kind a = qw_act_kind_of(wtype);
    QW_ASSERT(a != QW_ACT_NONE && k % qw_act_block(a) == 0);
    const int B = qw_act_block(a), SB = qw_act_sum_block(a);
    int8_t *qs = y;
    float *d = (float *)((char *)y + k);
    int32_t *s = (int32_t *)(d + k / B);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127), order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < k / B; b++) {
        const float *xb = x + b * B;
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < B; j += 8) // max(v, m) keeps m where v is NaN, as the reference's a > amax
            m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(xb + j), absmask), m);
        const float amax = qw_hmax8(m);
        const float db = amax / 127, id = db ? 1.0f / db : 0.0f;
        d[b] = db;
        const __m256 vid = _mm256_set1_ps(id);
        for (int j = 0; j < B; j += 32) {
            __m256i q[4];
            for (int u = 0; u < 4; u++) {
                q[u] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 8 * u), vid));
                q[u] = _mm256_min_epi32(_mm256_max_epi32(q[u], lo), hi);
            }
            const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            _mm256_storeu_si256((__m256i *)(qs + b * B + j), _mm256_permutevar8x32_epi32(p, order));
            if (SB == 16) {
                s[(b * B + j) / 16] = qw_hsum8i(_mm256_add_epi32(q[0], q[1]));
                s[(b * B + j) / 16 + 1] = qw_hsum8i(_mm256_add_epi32(q[2], q[3]));
            } else {
                s[(b * B + j) / 32] = qw_hsum8i(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
            }
        }
    }
    size_t used = (size_t)k + 4 * (size_t)(k / B) + 4 * (size_t)(k / SB);
    memset((char *)y + used, 0, qw_act_row_bytes(wtype, k) - used);
}

// silu(a) = a * sigmoid(a); with t = e^-|a| <= 1 (exp256's domain), sigmoid(a) = (a >= 0 ? 1 : t) / (1 + t).
void qw_silu_mul_avx2(int64_t n, float *a, const float *b) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(a + i), v = _mm256_loadu_ps(b + i);
        const __m256 t = exp256(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_and_ps(g, absmask)));
        const __m256 num = _mm256_blendv_ps(t, one, _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_GE_OQ));
        _mm256_storeu_ps(a + i, _mm256_mul_ps(_mm256_mul_ps(g, _mm256_div_ps(num, _mm256_add_ps(one, t))), v));
    }
    for (; i < n; i++) a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}
