// kernels/x86/qgemm_bf16_amx: quantized-weight matmul for long prompts with AMX-BF16 tiles, for the r16
// matrices of Q8_0, Q4_0, IQ4_NL and Q4_K.
//
// The int8 AMX GEMM (qgemm_amx.c) must take each block's int32 tile out to memory and scale it with
// AVX-512, because every block of 32 has its own weight and activation scale: one tile store per 8192
// multiply-adds bounds it. Here each panel of 16 rows is dequantized once per matmul to bf16 (d * (c - z),
// rounded to nearest even) and the activations are rounded to bf16, so the f32 C tiles accumulate over
// all of K and are stored once, straight into y. bf16 keeps 8 significant bits: each product is within
// 2^-8 of exact, where the int8 activations of the other kernels are within max|x of the block| / 254.
// Four C tiles (two A tiles of 16 tokens x two panels) hide the products' latency.
#include "amx_x86.h"

#define TOK QW_AMX_TOK

// Tiles 0-3 C (16 x 16 f32), 4-5 A (16 tokens x 32 bf16), 6-7 B (16 pairs x 16 rows x 2 bf16).
static const alignas(64) qw_amx_tile_config g_config = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

// ---------------------------------------------------------------------------------------------------
// prepare: tile T's block b (of 32) is 16 tokens x 32 bf16, 1 KB at work + 1024 (T nb + b); tokens past
// n are zero, up to a multiple of 32.

static void prepare(const qw_mm *mm, int ith, int nth) {
    const int64_t K = mm->K, nb = K / 32, ntiles = qw_round_up(mm->n, 2 * TOK) / TOK;
    int64_t T0, T1;
    qw_split_rows(ntiles, 1, ith, nth, &T0, &T1);
    uint16_t *out = mm->work;
    for (int64_t T = T0; T < T1; T++)
        for (int i = 0; i < TOK; i++) {
            const int64_t t = T * TOK + i;
            const float *x = mm->x + t * K;
            for (int64_t b = 0; b < nb; b++) {
                __m512i v = _mm512_setzero_si512();
                if (t < mm->n)
                    v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + 32 * b + 16),
                                                     _mm512_loadu_ps(x + 32 * b));
                _mm512_store_si512(out + 512 * (T * nb + b) + 32 * i, v);
            }
        }
}

// ---------------------------------------------------------------------------------------------------
// A panel: block b's B tile at 512 b bf16: row p (elements 2p, 2p + 1) holds the pair of each of the 16
// weight rows, as TDPBF16PS reads B.

static _Thread_local struct {
    uint16_t *B;
    int64_t cap;
} g_panel[2];

static uint16_t *panel_reserve(int j, int64_t nb) {
    if (g_panel[j].cap < nb) {
        qw_free_aligned(g_panel[j].B);
        g_panel[j].B = qw_malloc_aligned((size_t)nb * 1024);
        g_panel[j].cap = g_panel[j].B ? nb : 0;
    }
    return g_panel[j].B;
}

// lane l of part k: the scale of row 4k + l / 4
static inline __attribute__((always_inline)) void expand_rows(__m512 v, __m512 e[4]) {
    const __m512i i0 = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
                  four = _mm512_set1_epi32(4);
    e[0] = _mm512_permutexvar_ps(i0, v);
    e[1] = _mm512_permutexvar_ps(_mm512_add_epi32(i0, four), v);
    e[2] = _mm512_permutexvar_ps(_mm512_add_epi32(i0, _mm512_add_epi32(four, four)), v);
    e[3] = _mm512_permutexvar_ps(_mm512_add_epi32(i0, _mm512_set1_epi32(12)), v);
}

// f: dword q of 16 rows as 4 vectors of 4 rows x 4 f32 (part k: rows 4k .. 4k + 3); its bf16 pairs 2q
// (even dwords) and 2q + 1 (odd ones) to out.
static inline __attribute__((always_inline)) void store_pairs(const __m512 f[4], uint16_t *out, int q) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i lo = (__m512i)_mm512_cvtne2ps_pbh(f[1], f[0]),
                  hi = (__m512i)_mm512_cvtne2ps_pbh(f[3], f[2]);
    _mm512_store_si512(out + 32 * (2 * q), _mm512_permutex2var_epi32(lo, even, hi));
    _mm512_store_si512(out + 32 * (2 * q + 1), _mm512_permutex2var_epi32(lo, odd, hi));
}

// The 4 parts of 64 code bytes as f32.
static inline __attribute__((always_inline)) void parts_f32(__m512i v, __m512 f[4]) {
    f[0] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_castsi512_si128(v)));
    f[1] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 1)));
    f[2] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 2)));
    f[3] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 3)));
}

// The codes of dword q of 16 rows (v, signed) times their rows' scales, less their mins where M is not
// NULL (S, M as expand_rows), as bf16 pairs 2q and 2q + 1 of out. Written out, not as loops over
// arrays: gcc kept those on the stack, and a panel's dequantization took longer than its products (Q4_0
// gate/up, 128 tokens, one thread: 6.6 -> 5.7 ms for the matmul; Q8_0 7.8 -> 6.35).
static inline __attribute__((always_inline)) void scale_pairs(__m512i v, const __m512 S[4], const __m512 *M,
                                                              uint16_t *out, int q) {
    __m512 f[4];
    parts_f32(v, f);
    f[0] = _mm512_mul_ps(f[0], S[0]);
    f[1] = _mm512_mul_ps(f[1], S[1]);
    f[2] = _mm512_mul_ps(f[2], S[2]);
    f[3] = _mm512_mul_ps(f[3], S[3]);
    if (M) { // (gcc fuses these with the products: one rounding where the reference rounds twice)
        f[0] = _mm512_sub_ps(f[0], M[0]);
        f[1] = _mm512_sub_ps(f[1], M[1]);
        f[2] = _mm512_sub_ps(f[2], M[2]);
        f[3] = _mm512_sub_ps(f[3], M[3]);
    }
    store_pairs(f, out, q);
}

// d * (c - z) of one r16 group's 16 rows as bf16 pairs. The codes of dword q (elements 4q .. 4q + 3 of
// each row, row r at bytes 4r ..) become 4 bf16 per row; the even dwords of those are pair 2q, the odd
// ones pair 2q + 1.
static void dequant_panel(uint16_t *B, int kind, const uint8_t *g, int64_t nb) {
    const int bb = kind == K_Q8_0 ? 34 : 18;
    const __m512i z = _mm512_set1_epi8((char)zero32(kind));
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk, *v; // the block's d's and codes (quant.h: qw_r16_blk32)
        qw_r16_blk32(g, b, nb, bb, &blk, &v);
        __m512 S[4];
        expand_rows(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk)), S);
        uint16_t *out = B + 512 * b;
        if (kind == K_Q8_0) { // the codes are signed already
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++) scale_pairs(_mm512_loadu_si512(v + 64 * q), S, NULL, out, q);
            continue;
        }
        __m512i c[8];
        codes32(kind, v, c);
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) scale_pairs(_mm512_sub_epi8(c[q], z), S, NULL, out, q);
    }
}

// Q4_K: d * sc_j * c - dmin * m_j per sub-block j of 32 (d * sc_j and dmin * m_j rounded first, as the
// reference dequantizes; the multiply-subtract after them fused), from the r16 group of 144 bytes per
// row and super-block (see qr16_avx512vnni.c).
static void dequant_panel_q4_k(uint16_t *B, const uint8_t *g, int64_t nsb) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int64_t sb = 0; sb < nsb; sb++) {
        const uint8_t *blk = g + (size_t)sb * 16 * 144, *qs = blk + 256;
        __m512 d, dmin;
        q4k_d(blk, &d, &dmin);
        __m512i sc03, sc47, m03, m47;
        q4k_scales(blk, &sc03, &sc47, &m03, &m47);
        for (int j = 0; j < 8; j++) {
            __m512 S[4], M[4];
            expand_rows(_mm512_mul_ps(d, _mm512_cvtepi32_ps(q4k_sub(sc03, sc47, j))), S);
            expand_rows(_mm512_mul_ps(dmin, _mm512_cvtepi32_ps(q4k_sub(m03, m47, j))), M);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) { // dword i of sub-block j: nibble dword 8 (j / 2) + i, low or high
                const __m512i v = _mm512_loadu_si512(qs + 64 * (8 * (j / 2) + i));
                scale_pairs(j & 1 ? _mm512_and_si512(_mm512_srli_epi16(v, 4), m4) : _mm512_and_si512(v, m4),
                            S, M, B + 512 * (8 * sb + j), i);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------

// y rows t0 .. t0 + ntok (ntok <= 32) x weight rows r .. r + 31: tokens a0 (16) and a1 (16) against
// panels B0, B1. Results go straight from the tiles to y when all 32 tokens are real.
static void block22(const uint16_t *B0, const uint16_t *B1, int64_t nb, const uint16_t *a0,
                    const uint16_t *a1, float *y, int64_t N, int ntok) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t b = 0; b < nb; b++) {
        _tile_loadd(4, a0 + 512 * b, 64);
        _tile_loadd(5, a1 + 512 * b, 64);
        _tile_loadd(6, B0 + 512 * b, 64);
        _tile_loadd(7, B1 + 512 * b, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    const long ys = (long)(N * sizeof(float));
    if (ntok == 2 * TOK) {
        _tile_stored(0, y, ys);
        _tile_stored(1, y + 16, ys);
        _tile_stored(2, y + TOK * N, ys);
        _tile_stored(3, y + TOK * N + 16, ys);
        return;
    }
    alignas(64) float c[4][TOK * 16];
    _tile_stored(0, c[0], 64);
    _tile_stored(1, c[1], 64);
    _tile_stored(2, c[2], 64);
    _tile_stored(3, c[3], 64);
    for (int t = 0; t < ntok; t++) {
        const int i = t / TOK, u = t % TOK;
        memcpy(y + (size_t)t * N, c[2 * i] + 16 * u, 64);
        memcpy(y + (size_t)t * N + 16, c[2 * i + 1] + 16 * u, 64);
    }
}

static void rows(const qw_mm *mm, int64_t r1_0, int64_t r1_1) {
    const int kind = qw_amx_kind(mm->wtype);
    const int64_t K = mm->K, N = mm->N, n = mm->n, nb = K / 32;
    const size_t gb = 16 * qw_type_row_bytes(mm->wtype, K);
    uint16_t *B0 = panel_reserve(0, nb), *B1 = panel_reserve(1, nb);
    QW_ASSERT(B0 && B1); // 32 K bytes per panel and thread, once
    QW_ASSERT((r1_1 - r1_0) % 32 == 0);
    _tile_loadconfig(&g_config);
    const uint16_t *a = mm->work;
    for (int64_t r = r1_0; r < r1_1; r += 32) {
        for (int j = 0; j < 2; j++) {
            const uint8_t *g = (const uint8_t *)mm->W + (size_t)(r / 16 + j) * gb;
            if (kind == K_Q4_K)
                dequant_panel_q4_k(j ? B1 : B0, g, K / QW_QK_K);
            else
                dequant_panel(j ? B1 : B0, kind, g, nb);
        }
        for (int64_t t0 = 0; t0 < n; t0 += 2 * TOK) {
            const int ntok = n - t0 < 2 * TOK ? (int)(n - t0) : 2 * TOK;
            block22(B0, B1, nb, a + t0 * K, a + (t0 + TOK) * K, mm->y + t0 * N + r, N, ntok);
        }
    }
    _tile_release();
}

void qw_mm_plan_qgemm_amx_bf16(qw_mm *mm) {
    if (mm->n < qw_qgemm_bf16_min_n(mm->wtype) || !mm->r16 || qw_amx_kind(mm->wtype) < 0 || mm->N % 32 != 0) return;
    mm->prepare = prepare;
    mm->rows = rows;
    mm->row_align = 32;
}
