// kernels/x86/qgemm_amx: quantized-weight matmul for many tokens (prefill, batched decode) with AMX-INT8
// tiles, for the r16 matrices of the types with one scale per 32 elements (Q8_0, Q4_0, IQ4_NL) and of
// Q4_K (below the first ones).
//
// One TDPBSSD multiplies a tile of 16 tokens x 32 activation codes (int8, as qw_act_quantize rounds them,
// regrouped by tile in prepare) by a tile of 32 x 16 weight codes (int8, rows of 4 codes of each of
// 16 weight rows: the dword interleave the r16 layout already has), 8192 multiply-adds into 16 x 16 int32.
// The weight codes are made signed once per matmul (c - Z: Q4_0's nibble - 8, Q8_0's bytes as they are,
// IQ4_NL's grid values), so no code-sum correction is needed. A tile's K is one block of 32 because each
// block has its own weight scale and activation scale: the int32 tile goes to memory after each
// TDPBSSD and AVX-512 scales it into 16 f32 accumulators (one per token, lanes the 16 weight rows):
// acc[t] += f32(C[t]) * (d_w[16 rows] * d_x[t]), three vector ops per token and block.
//
// Q4_K: per sub-block of 32, TDPBSUD of the signed activation codes with the unsigned nibbles; the
// sub-block's f32 scale d * sc_j is applied per row (one fma per token), and once per super-block its
// activation scale and the mins, -dmin * sum_j m_j * (code sum of sub-block j), which are 4 vpdpwssd of
// min pairs with code-sum pairs per token, as in the VNNI GEMM.
#include "amx_x86.h"

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define TOK QW_AMX_TOK

// Tile registers: 0-3 products (C); 4, 5 activations (A, 16 tokens x 32 bytes); 6, 7 weights (B,
// 8 rows of 64 bytes: 32 codes of 16 rows).
static const alignas(64) qw_amx_tile_config g_config = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 32, 32, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 8, 8},
};

static void tiles_configure(void) { _tile_loadconfig(&g_config); }

int qw_amx_enable(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    // Linux hands out the 8 KB of tile state only to a process that asks (once, for all its threads).
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#else
    return 0;
#endif
}

// ---------------------------------------------------------------------------------------------------
// prepare: each token's activations quantized (qw_act_quantize), then laid out by A tile: tile T's block
// b (of 32) is 16 tokens x 32 codes, 512 contiguous bytes at work + 512 (T nb + b), and after all the
// tiles' codes, their scales: tile T's scale s (per block; for Q4_K per super-block) has its 16 at
// dx + 16 (T ns + s). Q4_K's code sums follow: per tile and super-block 4 x 16 dwords, pair p of token i
// at 16 p + i holding the sums of sub-blocks j and j + 2 (j = 0, 1, 4, 5) as int16. Tokens are padded
// with zeros to a multiple of 32 (two tiles). A tile load then reads 8 whole lines in a row where the
// rows of qw_act_quantize put each token's 32 codes in its own line (Q4_0 gate/up, 512 tokens, one
// thread: 54 -> 47 ms; the VNNI GEMM: 65 ms).

static int64_t padded_n(const qw_mm *mm) { return qw_round_up(mm->n, 2 * TOK); }
static int64_t scales_per_row(const qw_mm *mm) { return mm->wtype == QW_TYPE_Q4_K ? mm->K / QW_QK_K : mm->K / 32; }
static int8_t *tile_codes(const qw_mm *mm) { return (int8_t *)mm->work; }
static float *tile_dx(const qw_mm *mm) { return (float *)((char *)mm->work + (size_t)padded_n(mm) * mm->K); }
static int32_t *tile_sums(const qw_mm *mm) { return (int32_t *)(tile_dx(mm) + padded_n(mm) * scales_per_row(mm)); }

static void prepare(const qw_mm *mm, int ith, int nth) {
    const int64_t K = mm->K, nb = K / 32, ns = scales_per_row(mm), ntiles = padded_n(mm) / TOK;
    const int kq = mm->wtype == QW_TYPE_Q4_K;
    const size_t ab = qw_act_row_bytes(mm->wtype, K);
    int64_t T0, T1;
    qw_split_rows(ntiles, 1, ith, nth, &T0, &T1);
    char *row = qw_malloc_aligned(ab);
    QW_ASSERT(row); // one row of activations; not recoverable inside a parallel region
    int8_t *codes = tile_codes(mm);
    float *dx = tile_dx(mm);
    int32_t *sums = tile_sums(mm);
    static const int first[4] = {0, 1, 4, 5};
    for (int64_t T = T0; T < T1; T++)
        for (int i = 0; i < TOK; i++) {
            const int64_t t = T * TOK + i;
            if (t < mm->n) qw_act_quantize(mm->wtype, mm->x + t * K, row, K);
            else memset(row, 0, ab);
            for (int64_t b = 0; b < nb; b++) memcpy(codes + 512 * (T * nb + b) + 32 * i, row + 32 * b, 32);
            const float *d = qw_act_d(row, K);
            for (int64_t sc = 0; sc < ns; sc++) dx[16 * (T * ns + sc) + i] = d[sc];
            if (!kq) continue;
            const int32_t *s16 = qw_act_s(row, K, QW_ACT_Q8K);
            for (int64_t sb = 0; sb < ns; sb++)
                for (int p = 0; p < 4; p++) {
                    const int j = first[p];
                    const int32_t a = s16[16 * sb + 2 * j] + s16[16 * sb + 2 * j + 1];
                    const int32_t c = s16[16 * sb + 2 * j + 4] + s16[16 * sb + 2 * j + 5];
                    sums[64 * (T * ns + sb) + 16 * p + i] = (int32_t)((uint32_t)(uint16_t)a | (uint32_t)(uint16_t)c << 16);
                }
        }
    qw_free_aligned(row);
}

// ---------------------------------------------------------------------------------------------------
// A panel: the 16 rows of one r16 group as B tiles, block b's 512 bytes at codes + 512 b, and the rows'
// scales, block b's 16 at S + 16 b.

typedef struct {
    int8_t *codes;
    const int8_t *B; // the B tiles: codes, or for Q8_0 the r16 group's own code vectors
    size_t bstride;  // bytes from one block's B tile to the next
    float *S;
    int32_t *M; // Q4_K, per super-block: 4 vectors of min pairs (m_j | m_j+2 << 16, j = 0, 1, 4, 5), then dmin
    int64_t cap; // blocks
} panel;

static _Thread_local panel g_panel[2];

static int panel_reserve(panel *p, int64_t nb) {
    if (p->cap >= nb) return 1;
    qw_free_aligned(p->codes);
    qw_free_aligned(p->S);
    qw_free_aligned(p->M);
    p->codes = qw_malloc_aligned((size_t)nb * 512);
    p->S = qw_malloc_aligned((size_t)nb * 16 * sizeof(float));
    p->M = qw_malloc_aligned((size_t)(nb / 8 + 1) * 5 * 64);
    p->cap = p->codes && p->S && p->M ? nb : 0;
    return p->cap > 0;
}

// Q8_0's r16 code vectors are already signed codes in B's layout, 8 rows of 64 bytes after the block's
// 16 scales: its B tiles are read in place and only the scales are converted (Q8_0 prefill: pack_panel
// took 5% of it).
static void pack_panel(panel *p, int kind, const uint8_t *g, int64_t nb) {
    const int bb = kind == K_Q8_0 ? 34 : 18;
    const __m512i z = _mm512_set1_epi8((char)zero32(kind));
    p->B = kind == K_Q8_0 ? (const int8_t *)g + 32 : p->codes;
    p->bstride = kind == K_Q8_0 ? 16 * 34 : 512;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = g + (size_t)b * 16 * bb;
        _mm512_store_ps(p->S + 16 * b, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk)));
        if (kind == K_Q8_0) continue;
        __m512i c[8];
        codes32(kind, blk + 32, c); // unsigned, dword q = elements 4q .. 4q + 3 of each row
        for (int q = 0; q < 8; q++) _mm512_store_si512(p->codes + 512 * b + 64 * q, _mm512_sub_epi8(c[q], z));
    }
}

// Q4_K's r16 group (144 bytes per row and super-block: d | dmin, 3 dwords of scales, 32 of nibbles: dword
// 8 ch + i holds elements 64 ch + 4 i .. in its low nibbles, 64 ch + 32 + 4 i .. in its high ones).
static void pack_panel_q4_k(panel *p, const uint8_t *g, int64_t nsb) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int64_t sb = 0; sb < nsb; sb++) {
        const uint8_t *blk = g + (size_t)sb * 16 * 144;
        __m512 d, dmin;
        q4k_d(blk, &d, &dmin);
        __m512i sc03, sc47, m03, m47;
        q4k_scales(blk, &sc03, &sc47, &m03, &m47);
        for (int j = 0; j < 8; j++)
            _mm512_store_ps(p->S + 16 * (8 * sb + j), _mm512_mul_ps(d, _mm512_cvtepi32_ps(q4k_sub(sc03, sc47, j))));
        int32_t *M = p->M + 80 * sb;
        __m512i mp[4];
        q4k_min_pairs(m03, m47, mp);
        for (int q = 0; q < 4; q++) _mm512_store_si512(M + 16 * q, mp[q]);
        _mm512_store_ps((float *)(M + 64), dmin);
        const uint8_t *qs = blk + 256;
        for (int ch = 0; ch < 4; ch++)
            for (int i = 0; i < 8; i++) {
                const __m512i v = _mm512_loadu_si512(qs + 64 * (8 * ch + i));
                _mm512_store_si512(p->codes + 512 * (8 * sb + 2 * ch) + 64 * i, _mm512_and_si512(v, m4));
                _mm512_store_si512(p->codes + 512 * (8 * sb + 2 * ch + 1) + 64 * i,
                                   _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
            }
    }
}

// ---------------------------------------------------------------------------------------------------

// acc[t] += f32(C[t]) * (S * d_x[t]) for the 16 tokens of a tile, C the int32 product stored at c,
// d_x[t] the tokens' scales of this block.
static inline __attribute__((always_inline)) void scale_into(__m512 acc[TOK], const int32_t *c, __m512 S,
                                                             const float *dx) {
#pragma GCC unroll 16
    for (int t = 0; t < TOK; t++) {
        const __m512 f = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * t));
        const __m512 s = _mm512_mul_ps(S, _mm512_set1_ps(dx[t]));
        acc[t] = _mm512_fmadd_ps(f, s, acc[t]);
    }
}

// y[t][r .. r + 15] for the 16 tokens of one A tile against one panel: four blocks at a time from four
// independent C tiles, so that the zeroing, product and store of one block overlap the others' (with
// one or two C tiles they ran one after the other), the 16 accumulators in registers. a: the A tile's
// codes (512 bytes per block), dx its scales (16 per block). Q4_0 gate/up, 512 tokens, one thread: two C
// tiles 47 ms; this 29-35 ms, as fast as two A tiles x two panels with the accumulators in L1 (30-34 ms
// alternating with it); the VNNI GEMM 63 ms.
static void tile_row(const panel *p, int64_t nb, const int8_t *a, const float *dx, float *y, int64_t N, int ntok) {
    alignas(64) int32_t cbuf[4][TOK * 16];
    __m512 acc[TOK];
    for (int t = 0; t < TOK; t++) acc[t] = _mm512_setzero_ps();
    int64_t b = 0;
// block bk's product into C tile tc through A tile ta and B tile tb (tile numbers must be literals)
#define BLOCK_PRODUCT(tc, ta, tb, bk)                                                                  \
    do {                                                                                               \
        _tile_loadd(ta, a + 512 * (bk), 32);                                                           \
        _tile_loadd(tb, p->B + p->bstride * (bk), 64);                                                 \
        _tile_zero(tc);                                                                                \
        _tile_dpbssd(tc, ta, tb);                                                                      \
    } while (0)
    for (; b + 4 <= nb; b += 4) {
        BLOCK_PRODUCT(0, 4, 6, b);
        BLOCK_PRODUCT(1, 5, 7, b + 1);
        BLOCK_PRODUCT(2, 4, 6, b + 2);
        BLOCK_PRODUCT(3, 5, 7, b + 3);
        _tile_stored(0, cbuf[0], 64);
        _tile_stored(1, cbuf[1], 64);
        _tile_stored(2, cbuf[2], 64);
        _tile_stored(3, cbuf[3], 64);
        scale_into(acc, cbuf[0], _mm512_load_ps(p->S + 16 * b), dx + 16 * b);
        scale_into(acc, cbuf[1], _mm512_load_ps(p->S + 16 * (b + 1)), dx + 16 * (b + 1));
        scale_into(acc, cbuf[2], _mm512_load_ps(p->S + 16 * (b + 2)), dx + 16 * (b + 2));
        scale_into(acc, cbuf[3], _mm512_load_ps(p->S + 16 * (b + 3)), dx + 16 * (b + 3));
    }
    for (; b < nb; b++) {
        BLOCK_PRODUCT(0, 4, 6, b);
        _tile_stored(0, cbuf[0], 64);
        scale_into(acc, cbuf[0], _mm512_load_ps(p->S + 16 * b), dx + 16 * b);
    }
    for (int t = 0; t < ntok; t++) _mm512_storeu_ps(y + (size_t)t * N, acc[t]);
#undef BLOCK_PRODUCT
}

// accsb[t][0 .. 15] (= or +=) f32(C[t]) * S, rows 32 floats apart.
static inline __attribute__((always_inline)) void sub_into(float *accsb, int first, const int32_t *c, __m512 S) {
#pragma GCC unroll 16
    for (int t = 0; t < TOK; t++) {
        const __m512 f = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * t));
        _mm512_store_ps(accsb + 32 * t, first ? _mm512_mul_ps(f, S) : _mm512_fmadd_ps(f, S, _mm512_load_ps(accsb + 32 * t)));
    }
}

// End of a super-block: acc[t] += (accsb[t] - dmin * sum_j m_j sx_j[t]) * d_x[t], rows 32 floats apart;
// M: the panel's min pairs and dmin of this super-block, sx: the tile's code-sum pairs, dx its scales.
static inline __attribute__((always_inline)) void sb_into(float *acc, const float *accsb, const int32_t *M,
                                                          const int32_t *sx, const float *dx) {
    const __m512i m0 = _mm512_load_si512(M), m1 = _mm512_load_si512(M + 16), m2 = _mm512_load_si512(M + 32),
                  m3 = _mm512_load_si512(M + 48);
    const __m512 dmin = _mm512_load_ps((const float *)(M + 64));
#pragma GCC unroll 16
    for (int t = 0; t < TOK; t++) {
        __m512i mi = _mm512_dpwssd_epi32(_mm512_setzero_si512(), m0, _mm512_set1_epi32(sx[t]));
        mi = _mm512_dpwssd_epi32(mi, m1, _mm512_set1_epi32(sx[16 + t]));
        mi = _mm512_dpwssd_epi32(mi, m2, _mm512_set1_epi32(sx[32 + t]));
        mi = _mm512_dpwssd_epi32(mi, m3, _mm512_set1_epi32(sx[48 + t]));
        const __m512 v = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mi), dmin, _mm512_load_ps(accsb + 32 * t));
        _mm512_store_ps(acc + 32 * t, _mm512_fmadd_ps(v, _mm512_set1_ps(dx[t]), _mm512_load_ps(acc + 32 * t)));
    }
}

// Q4_K: two A tiles (a0, a1: 32 tokens) against two panels (32 rows) by sub-block, the four products from
// four independent C tiles, each A and B tile loaded once for two of them; the accumulators (32 x 32 f32,
// per super-block and in all) in L1, with the super-block's terms at its end. (One tile against one
// panel, as tile_row, with the super-block's sums in registers measured no faster here.)
static void block22_q4_k(const panel *p0, const panel *p1, int64_t nsb, const int8_t *a0, const int8_t *a1,
                         const float *dx0, const float *dx1, const int32_t *sx0, const int32_t *sx1, float *y,
                         int64_t N, int ntok) {
    alignas(64) int32_t cbuf[4][TOK * 16];
    alignas(64) float acc[2 * TOK][32], accsb[2 * TOK][32];
    memset(acc, 0, sizeof acc);
    for (int64_t sb = 0; sb < nsb; sb++) {
        for (int j = 0; j < 8; j++) {
            const int64_t b = 8 * sb + j;
            _tile_loadd(4, a0 + 512 * b, 32);
            _tile_loadd(5, a1 + 512 * b, 32);
            _tile_loadd(6, p0->codes + 512 * b, 64);
            _tile_loadd(7, p1->codes + 512 * b, 64);
            _tile_zero(0);
            _tile_dpbsud(0, 4, 6);
            _tile_zero(1);
            _tile_dpbsud(1, 4, 7);
            _tile_zero(2);
            _tile_dpbsud(2, 5, 6);
            _tile_zero(3);
            _tile_dpbsud(3, 5, 7);
            _tile_stored(0, cbuf[0], 64);
            _tile_stored(1, cbuf[1], 64);
            _tile_stored(2, cbuf[2], 64);
            _tile_stored(3, cbuf[3], 64);
            const __m512 S0 = _mm512_load_ps(p0->S + 16 * b), S1 = _mm512_load_ps(p1->S + 16 * b);
            sub_into(&accsb[0][0], j == 0, cbuf[0], S0);
            sub_into(&accsb[0][16], j == 0, cbuf[1], S1);
            sub_into(&accsb[TOK][0], j == 0, cbuf[2], S0);
            sub_into(&accsb[TOK][16], j == 0, cbuf[3], S1);
        }
        sb_into(&acc[0][0], &accsb[0][0], p0->M + 80 * sb, sx0 + 64 * sb, dx0 + 16 * sb);
        sb_into(&acc[0][16], &accsb[0][16], p1->M + 80 * sb, sx0 + 64 * sb, dx0 + 16 * sb);
        sb_into(&acc[TOK][0], &accsb[TOK][0], p0->M + 80 * sb, sx1 + 64 * sb, dx1 + 16 * sb);
        sb_into(&acc[TOK][16], &accsb[TOK][16], p1->M + 80 * sb, sx1 + 64 * sb, dx1 + 16 * sb);
    }
    for (int t = 0; t < ntok; t++) {
        _mm512_storeu_ps(y + (size_t)t * N, _mm512_load_ps(&acc[t][0]));
        _mm512_storeu_ps(y + (size_t)t * N + 16, _mm512_load_ps(&acc[t][16]));
    }
}

// Q4_K rows: whole pairs of groups (the plan asks for rows in 32s) against whole pairs of tiles (prepare
// pads the tokens).
static void rows_q4_k(const qw_mm *mm, int64_t r1_0, int64_t r1_1) {
    const int64_t K = mm->K, N = mm->N, n = mm->n, nsb = K / QW_QK_K;
    const size_t gb = 16 * qw_type_row_bytes(mm->wtype, K);
    panel *p = g_panel;
    QW_ASSERT(panel_reserve(&p[0], K / 32) && panel_reserve(&p[1], K / 32));
    QW_ASSERT((r1_1 - r1_0) % 32 == 0);
    tiles_configure();
    const int8_t *codes = tile_codes(mm);
    const float *dx = tile_dx(mm);
    const int32_t *sx = tile_sums(mm);
    for (int64_t r = r1_0; r < r1_1; r += 32) {
        for (int j = 0; j < 2; j++) pack_panel_q4_k(&p[j], (const uint8_t *)mm->W + (size_t)(r / 16 + j) * gb, nsb);
        for (int64_t t0 = 0; t0 < n; t0 += 2 * TOK) {
            const int ntok = n - t0 < 2 * TOK ? (int)(n - t0) : 2 * TOK;
            block22_q4_k(&p[0], &p[1], nsb, codes + t0 * K, codes + (t0 + TOK) * K, dx + t0 * nsb, dx + (t0 + TOK) * nsb,
                         sx + 4 * t0 * nsb, sx + 4 * (t0 + TOK) * nsb, mm->y + t0 * N + r, N, ntok);
        }
    }
    _tile_release();
}

static void rows(const qw_mm *mm, int64_t r1_0, int64_t r1_1) {
    const int kind = qw_amx_kind(mm->wtype);
    const int64_t K = mm->K, N = mm->N, n = mm->n, nb = K / 32;
    const size_t gb = 16 * qw_type_row_bytes(mm->wtype, K);
    panel *p = g_panel;
    QW_ASSERT(panel_reserve(&p[0], nb) && panel_reserve(&p[1], nb)); // K bytes x 16 per thread, once
    tiles_configure();
    const int8_t *codes = tile_codes(mm);
    const float *dx = tile_dx(mm);
    // r16: whole groups of 16 rows, two at a time where there are two (each A tile read twice from L1)
    for (int64_t r = r1_0; r < r1_1;) {
        const int np = r1_1 - r >= 32 ? 2 : 1;
        for (int j = 0; j < np; j++) pack_panel(&p[j], kind, (const uint8_t *)mm->W + (size_t)(r / 16 + j) * gb, nb);
        for (int64_t t0 = 0; t0 < n; t0 += TOK) {
            const int ntok = n - t0 < TOK ? (int)(n - t0) : TOK;
            for (int j = 0; j < np; j++)
                tile_row(&p[j], nb, codes + t0 * K, dx + t0 * nb, mm->y + t0 * N + r + 16 * j, N, ntok);
        }
        r += 16 * np;
    }
    _tile_release(); // the tile state costs every context switch 8 KB until released
}

void qw_mm_plan_qgemm_amx(qw_mm *mm) {
    qw_mm_plan_qgemm_amx_bf16(mm); // long prompts (qgemm_bf16_amx.c)
    if (mm->rows || mm->n < QW_QGEMM_MIN_N || !mm->r16 || qw_amx_kind(mm->wtype) < 0) return;
    const int kq = mm->wtype == QW_TYPE_Q4_K;
    if (kq && mm->N % 32 != 0) return; // (every Qwen2.5 shape is a multiple of 32)
    mm->prepare = prepare;
    mm->rows = kq ? rows_q4_k : rows;
    mm->row_align = kq ? 32 : 16;
}

const qw_kernel_table qw_kernels_amx = {.mm_plan = qw_mm_plan_qgemm_amx};
