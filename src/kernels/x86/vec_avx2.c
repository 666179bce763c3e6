// kernels/x86/vec_avx2: dot, axpy, scale and the streaming read kernel with AVX2 + FMA, and the
// AVX2 kernel table (its matmul planner lives in matmul_avx2.c).
#include "../kernels_impl.h"

#include "avx2_util.h"

static float dot_avx2(int64_t n, const float *a, const float *b) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0; // 4 chains hide the FMA latency
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = qw_hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_avx2(int64_t n, float alpha, const float *x, float *y) {
    __m256 va = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += alpha * x[i];
}

static void scale_avx2(int64_t n, float alpha, float *y) {
    __m256 va = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] *= alpha;
}

// Read kernels: four 32-byte loads per 128 bytes into independent adds; plain (the hardware
// prefetcher alone, which the one-row decode matvec also relies on), and with software prefetch of
// each line (T0 1 KB / NTA 4 KB ahead), which measured better on some runs on Zen 4, worse on others.
static inline __attribute__((always_inline)) uint64_t read_body(const void *p, size_t bytes, int pf) {
    const char *c = p;
    __m256i a = _mm256_setzero_si256(), b = a, d = a, e = a;
    for (size_t i = 0; i < bytes; i += 128) {
#pragma GCC unroll 4
        for (int o = 0; o < 128; o += 64) {
            if (pf == 1) _mm_prefetch(c + i + 1024 + o, _MM_HINT_T0);
            if (pf == 2) _mm_prefetch(c + i + 4096 + o, _MM_HINT_NTA);
        }
        a = _mm256_add_epi32(a, _mm256_load_si256((const __m256i *)(c + i)));
        b = _mm256_add_epi32(b, _mm256_load_si256((const __m256i *)(c + i + 32)));
        d = _mm256_add_epi32(d, _mm256_load_si256((const __m256i *)(c + i + 64)));
        e = _mm256_add_epi32(e, _mm256_load_si256((const __m256i *)(c + i + 96)));
    }
    a = _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(d, e));
    return (uint64_t)_mm256_extract_epi64(a, 0) ^ (uint64_t)_mm256_extract_epi64(a, 3);
}

static uint64_t read_plain(const void *p, size_t bytes) { return read_body(p, bytes, 0); }
static uint64_t read_t0_1k(const void *p, size_t bytes) { return read_body(p, bytes, 1); }
static uint64_t read_nta_4k(const void *p, size_t bytes) { return read_body(p, bytes, 2); }

void qw_mm_plan_avx2(qw_mm *mm);
void qw_silu_mul_avx2(int64_t n, float *a, const float *b);
void qw_act_quant_avx2(qw_type wtype, const float *x, void *y, int64_t k);

const qw_kernel_table qw_kernels_avx2 = {
    .mm_plan = qw_mm_plan_avx2,
    .qdot = QW_QDOT_TABLE(avx2),
    .dot = dot_avx2,
    .axpy = axpy_avx2,
    .scale = scale_avx2,
    .attn = qw_attn_rows_avx2,
    .silu_mul = qw_silu_mul_avx2,
    .act_quant = qw_act_quant_avx2,
    .read = {read_plain, read_t0_1k, read_nta_4k},
};
