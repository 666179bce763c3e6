// kernels/x86/matmul_bf16_avx512bf16: BF16-weight matmul for n >= 2 with vdpbf16ps, x rounded to bf16
// once into work (kernels_impl.h gives both layouts), and the AVX512-BF16 kernel table.
#include "../kernels_impl.h"

#include <immintrin.h>

#include "transpose_avx512.h"

#define QW_INLINE static inline __attribute__((always_inline))

static inline uint32_t load_u32(const char *p) {
    uint32_t v;
    memcpy(&v, p, 4); // W rows sit at any 2-byte offset
    return v;
}
static inline uint32_t load_u16(const char *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

// ---------------------------------------------------------------------------------------------------
// prepare: x (f32) -> bf16, round to nearest even (vcvtne2ps2bf16; like every bf16 path it reads
// denormal inputs as zero).

static inline __mmask16 mask16(int64_t left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

// 32 elements of a row from k, zeros past K, as 32 bf16 (16 dwords: element 2i low, 2i+1 high).
static inline __m512i row32_bf16(const float *row, int64_t k, int64_t K) {
    __m512 lo = _mm512_maskz_loadu_ps(mask16(K - k), row + k);
    __m512 hi = _mm512_maskz_loadu_ps(mask16(K - k - 16), row + k + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

static void prepare_rows(const qw_mm *mm, int ith, int nth) {
    const int64_t K = mm->K, kp = qw_round_up(K, 32);
    int64_t t0, t1;
    qw_split_rows(mm->n, 1, ith, nth, &t0, &t1);
    uint16_t *xb = mm->work;
    for (int64_t t = t0; t < t1; t++)
        for (int64_t k = 0; k < kp; k += 32)
            _mm512_store_si512(xb + t * kp + k, row32_bf16(mm->x + t * K, k, K));
}


static void prepare_packed(const qw_mm *mm, int ith, int nth) {
    const int64_t K = mm->K, n = mm->n, kp = qw_round_up(K, 32), ng = (n + 15) / 16;
    int64_t g0, g1;
    qw_split_rows(ng, 1, ith, nth, &g0, &g1);
    for (int64_t g = g0; g < g1; g++) {
        __m512i *dst = (__m512i *)mm->work + g * (kp / 2);
        for (int64_t k = 0; k < kp; k += 32) {
            __m512i r[16];
            for (int j = 0; j < 16; j++) {
                int64_t t = g * 16 + j;
                r[j] = t < n ? row32_bf16(mm->x + t * K, k, K) : _mm512_setzero_si512();
            }
            qw_transpose16(r);
            for (int i = 0; i < 16; i++) _mm512_store_si512(dst + k / 2 + i, r[i]);
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// n <= QW_BF16_ROWS_MAX: tiles of MR rows x NT tokens, 32 k per vdpbf16ps, W and x in their natural
// layouts; memory-bound for small n, so the point is loading each W line once for all tokens.

QW_INLINE void tile_rows(int MR, int NT, const char *w, size_t rb, const uint16_t *xb, int64_t kp, int64_t K,
                         float *y, int64_t ldy) {
    __m512 acc[4][6];
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        __m512bh wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) wv[r] = (__m512bh)_mm512_loadu_si512(w + r * rb + 2 * k);
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) {
            __m512bh xv = (__m512bh)_mm512_load_si512(xb + t * kp + k);
#pragma GCC unroll 4
            for (int r = 0; r < MR; r++) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
        }
    }
    if (k < K) { // masked W (x is zero padded, but W past the row is the next row or unmapped)
        __mmask32 m = (__mmask32)((1ull << (K - k)) - 1);
        __m512bh wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) wv[r] = (__m512bh)_mm512_maskz_loadu_epi16(m, w + r * rb + 2 * k);
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) {
            __m512bh xv = (__m512bh)_mm512_load_si512(xb + t * kp + k);
#pragma GCC unroll 4
            for (int r = 0; r < MR; r++) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 6
        for (int t = 0; t < NT; t++) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

#define TILE_ROWS_NT(MR, nt, ...)                                                                    \
    switch (nt) {                                                                                    \
    case 1: tile_rows(MR, 1, __VA_ARGS__); break;                                                    \
    case 2: tile_rows(MR, 2, __VA_ARGS__); break;                                                    \
    case 3: tile_rows(MR, 3, __VA_ARGS__); break;                                                    \
    case 4: tile_rows(MR, 4, __VA_ARGS__); break;                                                    \
    case 5: tile_rows(MR, 5, __VA_ARGS__); break;                                                    \
    default: tile_rows(MR, 6, __VA_ARGS__); break;                                                   \
    }

static void rows_small(const qw_mm *mm, int64_t r0, int64_t r1) {
    const int64_t K = mm->K, N = mm->N, n = mm->n, kp = qw_round_up(K, 32);
    const size_t rb = (size_t)K * 2;
    const uint16_t *xb = mm->work;
    // One row at a time while x fits L1, as in the decode matvec: rows 4 KB apart side by side
    // thrash L1 sets (n = 4, gate/up: MR 4 ran at 56% of bandwidth).
    const int mr_max = K <= 4096 ? 1 : 4;
    for (int64_t r = r0; r < r1;) {
        int mr = r1 - r >= mr_max ? mr_max : 1;
        const char *w = (const char *)mm->W + (size_t)r * rb;
        for (int64_t t = 0; t < n; t += 6) {
            int nt = n - t < 6 ? (int)(n - t) : 6;
            if (mr == 4) {
                TILE_ROWS_NT(4, nt, w, rb, xb + t * kp, kp, K, mm->y + t * N + r, N)
            } else {
                TILE_ROWS_NT(1, nt, w, rb, xb + t * kp, kp, K, mm->y + t * N + r, N)
            }
        }
        r += mr;
    }
}

// ---------------------------------------------------------------------------------------------------
// larger n: register-blocked GEMM. A tile is MR = 8 W rows x NV groups of 16 tokens: 24 accumulators,
// each 16 tokens of one row; per k pair, NV packed x vectors are loaded and each row's (w[2p], w[2p+1])
// dword is broadcast straight from W (no repacking of W). Over K blocks whose x slice (all tokens)
// stays in L2, each W line comes from memory once per matmul.

#define GEMM_MR 8
#define GEMM_NV 3

// acc[r][v] += sum over pairs [p0, p1) of W[r] pair . X[group v] pair; `half` adds the lone last
// element of an odd K (pair p1). pf: the next row block's W at p0, prefetched as we go (or NULL).
QW_INLINE void gemm_tile(int MR, int NV, const char *w, size_t rb, const __m512i *xg, int64_t gstride, int64_t p0,
                         int64_t p1, int half, const char *pf, __m512 acc[GEMM_MR][GEMM_NV]) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (int64_t c = p0; c < p1; c += 16) { // chunks of 16 pairs: one W line per row
        int64_t ce = c + 16 < p1 ? c + 16 : p1;
        if (pf)
#pragma GCC unroll 8
            for (int r = 0; r < MR; r++) _mm_prefetch(pf + r * rb + 4 * (c - p0), _MM_HINT_T0);
        for (int64_t p = c; p < ce; p++) {
            __m512bh xv[GEMM_NV];
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++) xv[v] = (__m512bh)_mm512_load_si512(xg + v * gstride + p);
#pragma GCC unroll 8
            for (int r = 0; r < MR; r++) {
                __m512bh wb = (__m512bh)_mm512_set1_epi32((int)load_u32(w + r * rb + 4 * p));
#pragma GCC unroll 3
                for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], wb, xv[v]);
            }
        }
    }
    if (half) {
        __m512bh xv[GEMM_NV];
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) xv[v] = (__m512bh)_mm512_load_si512(xg + v * gstride + p1);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            __m512bh wb = (__m512bh)_mm512_set1_epi32((int)load_u16(w + r * rb + 4 * p1));
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], wb, xv[v]);
        }
    }
}

// y[t][r0 .. r0+7] (+)= acc for the 16 tokens of one group: 8 rows x 16 tokens transposed in
// registers into one 8-float run per token.
static inline void store_8x16(const __m512 a[GEMM_MR], float *y, int64_t ldy, int ntok, int add) {
    __m512 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_ps(a[i], a[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(a[i], a[i + 1]);
    }
    for (int h = 0; h < 2; h++) { // rows 0-3, then 4-7
        __m512 *tt = t + 4 * h, *uu = u + 4 * h;
        uu[0] = _mm512_shuffle_ps(tt[0], tt[2], 0x44);
        uu[1] = _mm512_shuffle_ps(tt[0], tt[2], 0xee);
        uu[2] = _mm512_shuffle_ps(tt[1], tt[3], 0x44);
        uu[3] = _mm512_shuffle_ps(tt[1], tt[3], 0xee);
    }
    // u[j] lane L = rows 0-3 of token 4L+j; u[4+j] lane L = rows 4-7 of the same token.
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i hi = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    for (int j = 0; j < 4; j++) {
        __m512 q[2] = {_mm512_permutex2var_ps(u[j], lo, u[4 + j]), _mm512_permutex2var_ps(u[j], hi, u[4 + j])};
        for (int h = 0; h < 4; h++) { // token 4h + j sits in half h&1 of q[h>>1]
            int tok = 4 * h + j;
            if (tok >= ntok) continue;
            __m256 v = (h & 1) ? _mm512_extractf32x8_ps(q[h >> 1], 1) : _mm512_castps512_ps256(q[h >> 1]);
            float *dst = y + tok * ldy;
            _mm256_storeu_ps(dst, add ? _mm256_add_ps(_mm256_loadu_ps(dst), v) : v);
        }
    }
}

static inline void store_1x16(__m512 a, float *y, int64_t ldy, int ntok, int add) {
    float tmp[16];
    _mm512_storeu_ps(tmp, a);
    for (int j = 0; j < ntok; j++) y[j * ldy] = add ? y[j * ldy] + tmp[j] : tmp[j];
}

QW_INLINE void gemm_block(int MR, int NV, const qw_mm *mm, int64_t r, int64_t g, int64_t p0, int64_t p1, int half,
                          const char *pf) {
    const int64_t K = mm->K, N = mm->N, n = mm->n, kp = qw_round_up(K, 32);
    const size_t rb = (size_t)K * 2;
    __m512 acc[GEMM_MR][GEMM_NV];
    gemm_tile(MR, NV, (const char *)mm->W + (size_t)r * rb, rb, (const __m512i *)mm->work + g * (kp / 2), kp / 2,
              p0, p1, half, pf, acc);
    for (int v = 0; v < NV; v++) {
        int64_t t = (g + v) * 16;
        int ntok = n - t < 16 ? (int)(n - t) : 16;
        if (MR == GEMM_MR) {
            __m512 a[GEMM_MR];
            for (int i = 0; i < GEMM_MR; i++) a[i] = acc[i][v];
            store_8x16(a, mm->y + t * N + r, N, ntok, p0 > 0);
        } else {
            for (int i = 0; i < MR; i++) store_1x16(acc[i][v], mm->y + t * N + r + i, N, ntok, p0 > 0);
        }
    }
}

static void rows_gemm(const qw_mm *mm, int64_t r0, int64_t r1) {
    const int64_t K = mm->K, ng = (mm->n + 15) / 16;
    const int64_t full = K / 2, np = (K + 1) / 2; // full pairs; all pairs with a lone last element
    const size_t rb = (size_t)K * 2;
    // K blocks of up to 2048 pairs, split evenly. Measured on Zen 4 (n = 512, one thread): blocks
    // sized for the x slice to fit L2 (256 pairs) ran at 67% of vdpbf16ps peak, 1024 pairs at 89%,
    // 2048 at 93%: x streams well enough from L3, while every block costs a pass over y and the
    // pipeline refill of each tile.
    int64_t nb = (np + 2047) / 2048, kc = qw_round_up((np + nb - 1) / nb, 16);
    (void)ng;
    for (int64_t p0 = 0; p0 < np; p0 += kc) {
        int64_t p1 = p0 + kc < np ? p0 + kc : np;
        int half = p1 > full; // this block ends with the lone element of an odd K
        int64_t pe = half ? full : p1;
        for (int64_t r = r0; r < r1;) {
            if (r1 - r >= GEMM_MR) {
                const char *pf = r + 2 * GEMM_MR <= r1 ? (const char *)mm->W + (size_t)(r + GEMM_MR) * rb + 4 * p0 : NULL;
                for (int64_t g = 0; g < ng; g += GEMM_NV) {
                    switch (ng - g >= GEMM_NV ? GEMM_NV : ng - g) {
                    case 1: gemm_block(GEMM_MR, 1, mm, r, g, p0, pe, half, g == 0 ? pf : NULL); break;
                    case 2: gemm_block(GEMM_MR, 2, mm, r, g, p0, pe, half, g == 0 ? pf : NULL); break;
                    default: gemm_block(GEMM_MR, 3, mm, r, g, p0, pe, half, g == 0 ? pf : NULL); break;
                    }
                }
                r += GEMM_MR;
            } else {
                for (int64_t g = 0; g < ng; g += GEMM_NV) {
                    switch (ng - g >= GEMM_NV ? GEMM_NV : ng - g) {
                    case 1: gemm_block(1, 1, mm, r, g, p0, pe, half, NULL); break;
                    case 2: gemm_block(1, 2, mm, r, g, p0, pe, half, NULL); break;
                    default: gemm_block(1, 3, mm, r, g, p0, pe, half, NULL); break;
                    }
                }
                r += 1;
            }
        }
    }
}

static void plan(qw_mm *mm) {
    if (mm->wtype != QW_TYPE_BF16 || mm->n < 2) return; // decode keeps x in f32 (matmul_avx512.c)
    if (mm->n <= QW_BF16_ROWS_MAX) {
        mm->prepare = prepare_rows;
        mm->rows = rows_small;
        mm->row_align = 4;
    } else {
        mm->prepare = prepare_packed;
        mm->rows = rows_gemm;
        mm->row_align = GEMM_MR;
    }
}

// (quantized weights: the VNNI level below, qdot_avx512vnni.c)
const qw_kernel_table qw_kernels_avx512bf16 = {.mm_plan = plan};
