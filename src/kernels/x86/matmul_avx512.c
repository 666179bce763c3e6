// kernels/x86/matmul_avx512: matmul for F32/F16/BF16 weights with AVX-512 F/BW/VL/DQ, all in f32:
// tiles of MR rows x NT tokens whose W loads are shared by the tokens and x loads by the rows.
#include "../kernels_impl.h"

#include <immintrin.h>

#define QW_INLINE static inline __attribute__((always_inline))

// 16 weights from k as f32. bf16 -> f32 is a 16-bit shift; f16 -> f32 is vcvtph2ps. Rows may sit at
// any 2-byte offset, so every load is unaligned.
QW_INLINE __m512 load_w16(qw_type wt, const char *row, int64_t k) {
    if (wt == QW_TYPE_F32) return _mm512_loadu_ps((const float *)row + k);
    __m256i h = _mm256_loadu_si256((const __m256i *)(row + 2 * k));
    if (wt == QW_TYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

QW_INLINE __m512 load_w16_mask(qw_type wt, const char *row, int64_t k, __mmask16 m) {
    if (wt == QW_TYPE_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + k);
    __m256i h = _mm256_maskz_loadu_epi16(m, row + 2 * k);
    if (wt == QW_TYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// y[t*ldy + r] = W[r] . x[t] for r < MR, t < NT. 16 lanes per dot: chains of K/16 adds.
QW_INLINE void tile(qw_type wt, int MR, int NT, const char *w, size_t rb, const float *x, int64_t K,
                    float *y, int64_t ldy) {
    __m512 acc[8][6];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 wv[8];
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) wv[r] = load_w16(wt, w + r * rb, k);
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) {
            __m512 xv = _mm512_loadu_ps(x + t * K + k);
#pragma GCC unroll 8
            for (int r = 0; r < MR; r++) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    if (k < K) {
        __mmask16 m = (__mmask16)((1u << (K - k)) - 1);
        __m512 wv[8];
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) wv[r] = load_w16_mask(wt, w + r * rb, k, m);
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x + t * K + k);
#pragma GCC unroll 8
            for (int r = 0; r < MR; r++) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

#define TILE_NT_SWITCH(wt, MR, nt, ...)                                                              \
    switch (nt) {                                                                                    \
    case 1: tile(wt, MR, 1, __VA_ARGS__); break;                                                     \
    case 2: tile(wt, MR, 2, __VA_ARGS__); break;                                                     \
    case 3: tile(wt, MR, 3, __VA_ARGS__); break;                                                     \
    case 4: tile(wt, MR, 4, __VA_ARGS__); break;                                                     \
    case 5: tile(wt, MR, 5, __VA_ARGS__); break;                                                     \
    default: tile(wt, MR, 6, __VA_ARGS__); break;                                                    \
    }

// Decode (n = 1). Measured on Zen 4, one thread, BF16: rows 4 KB apart (K = 2048) stream at 28 GB/s
// one row at a time but at 13-20 GB/s with 2-8 rows side by side (their lines share L1 sets), while for
// K = 11008 x no longer fits L1 and 8 rows sharing each x load reach 23 GB/s against 13 for one.
QW_INLINE void matvec_1row(qw_type wt, const char *w, const float *x, int64_t K, float *y) {
    __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a; // 4 chains of K/64 FMAs
    int64_t k = 0;
    for (; k + 64 <= K; k += 64) {
        a = _mm512_fmadd_ps(load_w16(wt, w, k), _mm512_loadu_ps(x + k), a);
        b = _mm512_fmadd_ps(load_w16(wt, w, k + 16), _mm512_loadu_ps(x + k + 16), b);
        c = _mm512_fmadd_ps(load_w16(wt, w, k + 32), _mm512_loadu_ps(x + k + 32), c);
        d = _mm512_fmadd_ps(load_w16(wt, w, k + 48), _mm512_loadu_ps(x + k + 48), d);
    }
    for (; k < K; k += 16) {
        __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        a = _mm512_fmadd_ps(load_w16_mask(wt, w, k, m), _mm512_maskz_loadu_ps(m, x + k), a);
    }
    *y = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
}

QW_INLINE void rows_decode(qw_type wt, const qw_mm *mm, int64_t r0, int64_t r1) {
    const int64_t K = mm->K;
    const size_t rb = qw_type_row_bytes(wt, K);
    const char *W = mm->W;
    int64_t r = r0;
    if (K > 4096)
        for (; r + 8 <= r1; r += 8) tile(wt, 8, 1, W + (size_t)r * rb, rb, mm->x, K, mm->y + r, mm->N);
    for (; r < r1; r++) matvec_1row(wt, W + (size_t)r * rb, mm->x, K, mm->y + r);
}

// n >= 2: tokens in blocks of 64 so that a block of x stays in L2 while the rows stream past it;
// within a block, 4 rows x up to 6 tokens per tile (24 accumulators + 4 weight vectors of 32).
QW_INLINE void rows_t(qw_type wt, const qw_mm *mm, int64_t r0, int64_t r1) {
    const int64_t K = mm->K, N = mm->N, n = mm->n;
    const size_t rb = qw_type_row_bytes(wt, K);
    if (n == 1) {
        rows_decode(wt, mm, r0, r1);
        return;
    }
    for (int64_t tb = 0; tb < n; tb += 64) {
        int64_t te = n - tb < 64 ? n : tb + 64;
        for (int64_t r = r0; r < r1;) {
            int mr = r1 - r >= 4 ? 4 : 1;
            const char *w = (const char *)mm->W + (size_t)r * rb;
            for (int64_t t = tb; t < te; t += 6) {
                int nt = te - t < 6 ? (int)(te - t) : 6;
                const float *x = mm->x + t * K;
                float *y = mm->y + t * N + r;
                if (mr == 4) {
                    TILE_NT_SWITCH(wt, 4, nt, w, rb, x, K, y, N)
                } else {
                    TILE_NT_SWITCH(wt, 1, nt, w, rb, x, K, y, N)
                }
            }
            r += mr;
        }
    }
}

static void rows_f32(const qw_mm *mm, int64_t r0, int64_t r1) { rows_t(QW_TYPE_F32, mm, r0, r1); }
static void rows_f16(const qw_mm *mm, int64_t r0, int64_t r1) { rows_t(QW_TYPE_F16, mm, r0, r1); }
static void rows_bf16(const qw_mm *mm, int64_t r0, int64_t r1) { rows_t(QW_TYPE_BF16, mm, r0, r1); }

void qw_mm_plan_avx512(qw_mm *mm) {
    mm->prepare = NULL;
    mm->row_align = 4;
    switch (mm->wtype) {
    case QW_TYPE_F32: mm->rows = rows_f32; break;
    case QW_TYPE_F16: mm->rows = rows_f16; break;
    case QW_TYPE_BF16: mm->rows = rows_bf16; break;
    default: break;
    }
}
