// kernels/x86/vec_avx512: dot, axpy, scale and the streaming read kernel with AVX-512, tails done with
// masks, and the AVX-512 kernel table (its matmul planner lives in matmul_avx512.c).
#include "../kernels_impl.h"

#include <immintrin.h>

static float dot_avx512(int64_t n, const float *a, const float *b) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static void axpy_avx512(int64_t n, float alpha, const float *x, float *y) {
    __m512 va = _mm512_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

static void scale_avx512(int64_t n, float alpha, float *y) {
    __m512 va = _mm512_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(va, _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(va, _mm512_maskz_loadu_ps(m, y + i)));
    }
}

// Read kernels: four 64-byte loads per 256 bytes into independent adds; plain (the hardware
// prefetcher alone, which the one-row decode matvec also relies on), and with software prefetch of
// each line (T0 1 KB / NTA 4 KB ahead), which measured better on some runs on Zen 4, worse on others.
static inline __attribute__((always_inline)) uint64_t read_body(const void *p, size_t bytes, int pf) {
    const char *c = p;
    __m512i a = _mm512_setzero_si512(), b = a, d = a, e = a;
    for (size_t i = 0; i < bytes; i += 256) {
#pragma GCC unroll 4
        for (int o = 0; o < 256; o += 64) {
            if (pf == 1) _mm_prefetch(c + i + 1024 + o, _MM_HINT_T0);
            if (pf == 2) _mm_prefetch(c + i + 4096 + o, _MM_HINT_NTA);
        }
        a = _mm512_add_epi32(a, _mm512_load_si512((c + i)));
        b = _mm512_add_epi32(b, _mm512_load_si512((c + i + 64)));
        d = _mm512_add_epi32(d, _mm512_load_si512((c + i + 128)));
        e = _mm512_add_epi32(e, _mm512_load_si512((c + i + 192)));
    }
    a = _mm512_add_epi32(_mm512_add_epi32(a, b), _mm512_add_epi32(d, e));
    // the intrinsic reduce adds as signed 64-bit (UB on wrap); a checksum wants modular arithmetic
    uint64_t lanes[8], sum = 0;
    _mm512_storeu_si512((void *)lanes, a);
    for (int i = 0; i < 8; i++) sum += lanes[i];
    return sum;
}

static uint64_t read_plain(const void *p, size_t bytes) { return read_body(p, bytes, 0); }

// 32-byte loads, the width the decode matvec loads bf16 weights with: on Zen 4 (512-bit ops split in
// two) this read faster than 64-byte loads on some runs.
static uint64_t read_plain_ymm(const void *p, size_t bytes) {
    const char *c = p;
    __m256i a = _mm256_setzero_si256(), b = a, d = a, e = a;
    for (size_t i = 0; i < bytes; i += 128) {
        a = _mm256_add_epi32(a, _mm256_load_si256((const __m256i *)(c + i)));
        b = _mm256_add_epi32(b, _mm256_load_si256((const __m256i *)(c + i + 32)));
        d = _mm256_add_epi32(d, _mm256_load_si256((const __m256i *)(c + i + 64)));
        e = _mm256_add_epi32(e, _mm256_load_si256((const __m256i *)(c + i + 96)));
    }
    a = _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(d, e));
    return (uint64_t)_mm256_extract_epi64(a, 0) ^ (uint64_t)_mm256_extract_epi64(a, 3);
}
static uint64_t read_t0_1k(const void *p, size_t bytes) { return read_body(p, bytes, 1); }
static uint64_t read_nta_4k(const void *p, size_t bytes) { return read_body(p, bytes, 2); }

void qw_mm_plan_avx512(qw_mm *mm);
void qw_act_quant_avx512(qw_type wtype, const float *x, void *y, int64_t k);
void qw_silu_mul_avx512(int64_t n, float *a, const float *b);

const qw_kernel_table qw_kernels_avx512 = {
    .mm_plan = qw_mm_plan_avx512,
    .dot = dot_avx512,
    .axpy = axpy_avx512,
    .scale = scale_avx512,
    .attn = qw_attn_rows_avx512,
    .silu_mul = qw_silu_mul_avx512,
    .act_quant = qw_act_quant_avx512,
    .read = {read_plain, read_plain_ymm, read_t0_1k, read_nta_4k},
};
