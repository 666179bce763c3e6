// kernels/x86/matmul_avx2: matmul for F32/F16/BF16 weights with AVX2 + FMA + F16C, all in f32: tiles
// of 4 rows x up to 2 tokens (16 ymm registers), W loads shared by the tokens and x loads by the rows.
#include "../kernels_impl.h"

#include <immintrin.h>

#define QW_INLINE static inline __attribute__((always_inline))

// 8 weights from k as f32 (bf16: a 16-bit shift; f16: vcvtph2ps). Rows sit at any 2-byte offset.
QW_INLINE __m256 load_w8(qw_type wt, const char *row, int64_t k) {
    if (wt == QW_TYPE_F32) return _mm256_loadu_ps((const float *)row + k);
    __m128i h = _mm_loadu_si128((const __m128i *)(row + 2 * k));
    if (wt == QW_TYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

QW_INLINE float load_w1(qw_type wt, const char *row, int64_t k) {
    if (wt == QW_TYPE_F32) {
        float f;
        memcpy(&f, row + 4 * k, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, row + 2 * k, 2);
    return wt == QW_TYPE_F16 ? _cvtsh_ss(h) : qw_bf16_to_f32(h);
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// y[t*ldy + r] = W[r] . x[t] for r < MR, t < NT: 8 lanes per dot (chains of K/8 adds), the last
// K % 8 elements added in scalar after the lanes are summed.
QW_INLINE void tile(qw_type wt, int MR, int NT, const char *w, size_t rb, const float *x, int64_t K, float *y,
                    int64_t ldy) {
    __m256 acc[8][2];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
        for (int t = 0; t < NT; t++) acc[r][t] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 wv[8];
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) wv[r] = load_w8(wt, w + r * rb, k);
#pragma GCC unroll 2
        for (int t = 0; t < NT; t++) {
            __m256 xv = _mm256_loadu_ps(x + t * K + k);
#pragma GCC unroll 8
            for (int r = 0; r < MR; r++) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
        for (int t = 0; t < NT; t++) {
            float s = hsum8(acc[r][t]);
            for (int64_t j = k; j < K; j++) s += load_w1(wt, w + r * rb, j) * x[t * K + j];
            y[t * ldy + r] = s;
        }
}

// Decode with x in L1: one row at a time keeps W a single stream (see matmul_avx512.c).
QW_INLINE void matvec_1row(qw_type wt, const char *w, const float *x, int64_t K, float *y) {
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a; // 4 chains of K/32 FMAs
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        a = _mm256_fmadd_ps(load_w8(wt, w, k), _mm256_loadu_ps(x + k), a);
        b = _mm256_fmadd_ps(load_w8(wt, w, k + 8), _mm256_loadu_ps(x + k + 8), b);
        c = _mm256_fmadd_ps(load_w8(wt, w, k + 16), _mm256_loadu_ps(x + k + 16), c);
        d = _mm256_fmadd_ps(load_w8(wt, w, k + 24), _mm256_loadu_ps(x + k + 24), d);
    }
    for (; k + 8 <= K; k += 8) a = _mm256_fmadd_ps(load_w8(wt, w, k), _mm256_loadu_ps(x + k), a);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    for (; k < K; k++) s += load_w1(wt, w, k) * x[k];
    *y = s;
}

// Tokens in blocks of 64 so that a block of x stays in cache while the rows stream past it.
QW_INLINE void rows_t(qw_type wt, const qw_mm *mm, int64_t r0, int64_t r1) {
    const int64_t K = mm->K, N = mm->N, n = mm->n;
    const size_t rb = qw_type_row_bytes(wt, K);
    if (n == 1 && K <= 4096) {
        for (int64_t r = r0; r < r1; r++) matvec_1row(wt, (const char *)mm->W + (size_t)r * rb, mm->x, K, mm->y + r);
        return;
    }
    if (n == 1) { // x past L1: 8 rows share each x load
        int64_t r = r0;
        for (; r + 8 <= r1; r += 8) tile(wt, 8, 1, (const char *)mm->W + (size_t)r * rb, rb, mm->x, K, mm->y + r, N);
        for (; r < r1; r++) tile(wt, 1, 1, (const char *)mm->W + (size_t)r * rb, rb, mm->x, K, mm->y + r, N);
        return;
    }
    for (int64_t tb = 0; tb < n; tb += 64) {
        int64_t te = n - tb < 64 ? n : tb + 64;
        for (int64_t r = r0; r < r1;) {
            int mr = r1 - r >= 4 ? 4 : 1;
            const char *w = (const char *)mm->W + (size_t)r * rb;
            for (int64_t t = tb; t < te; t += 2) {
                const float *x = mm->x + t * K;
                float *y = mm->y + t * N + r;
                int two = te - t >= 2;
                if (mr == 4) {
                    if (two) tile(wt, 4, 2, w, rb, x, K, y, N);
                    else tile(wt, 4, 1, w, rb, x, K, y, N);
                } else {
                    if (two) tile(wt, 1, 2, w, rb, x, K, y, N);
                    else tile(wt, 1, 1, w, rb, x, K, y, N);
                }
            }
            r += mr;
        }
    }
}

static void rows_f32(const qw_mm *mm, int64_t r0, int64_t r1) { rows_t(QW_TYPE_F32, mm, r0, r1); }
static void rows_f16(const qw_mm *mm, int64_t r0, int64_t r1) { rows_t(QW_TYPE_F16, mm, r0, r1); }
static void rows_bf16(const qw_mm *mm, int64_t r0, int64_t r1) { rows_t(QW_TYPE_BF16, mm, r0, r1); }

void qw_mm_plan_avx2(qw_mm *mm) {
    if (mm->r16) {
        qw_mm_plan_r16_avx2(mm);
        return;
    }
    qw_mm_plan_q6k_many_avx2(mm);
    if (mm->rows) return;
    mm->prepare = NULL;
    mm->row_align = 4;
    switch (mm->wtype) {
    case QW_TYPE_F32: mm->rows = rows_f32; break;
    case QW_TYPE_F16: mm->rows = rows_f16; break;
    case QW_TYPE_BF16: mm->rows = rows_bf16; break;
    default: break;
    }
}
