// kernels/x86/qgemm_amx: quantized-weight matmul for a few tokens (short prompts, batched decode) with
// AMX-INT8 tiles, for the r16 matrices of the types with one scale per 32 elements (Q8_0, Q4_0, IQ4_NL),
// up to where the AMX-BF16 GEMM (qgemm_bf16_amx.c) is faster (qw_qgemm_bf16_min_n). Q4_K had an int8
// path here too (TDPBSUD per sub-block, mins per super-block); the bf16 GEMM measured faster for it from
// 8 tokens on, and it was removed.
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
// tiles' codes, their scales: tile T's block b has its 16 at dx + 16 (T nb + b). Tokens are padded
// with zeros to a multiple of 32 (two tiles). A tile load then reads 8 whole lines in a row where the
// rows of qw_act_quantize put each token's 32 codes in its own line (Q4_0 gate/up, 512 tokens, one
// thread: 54 -> 47 ms; the VNNI GEMM: 65 ms).

static int64_t padded_n(const qw_mm *mm) { return qw_round_up(mm->n, 2 * TOK); }
static int8_t *tile_codes(const qw_mm *mm) { return (int8_t *)mm->work; }
static float *tile_dx(const qw_mm *mm) { return (float *)((char *)mm->work + (size_t)padded_n(mm) * mm->K); }

static void prepare(const qw_mm *mm, int ith, int nth) {
    const int64_t K = mm->K, nb = K / 32, ntiles = padded_n(mm) / TOK;
    const size_t ab = qw_act_row_bytes(mm->wtype, K);
    int64_t T0, T1;
    qw_split_rows(ntiles, 1, ith, nth, &T0, &T1);
    char *row = qw_malloc_aligned(ab);
    QW_ASSERT(row); // one row of activations; not recoverable inside a parallel region
    int8_t *codes = tile_codes(mm);
    float *dx = tile_dx(mm);
    for (int64_t T = T0; T < T1; T++)
        for (int i = 0; i < TOK; i++) {
            const int64_t t = T * TOK + i;
            if (t < mm->n)
                qw_act_quantize(mm->wtype, mm->x + t * K, row, K);
            else
                memset(row, 0, ab);
            for (int64_t b = 0; b < nb; b++) memcpy(codes + 512 * (T * nb + b) + 32 * i, row + 32 * b, 32);
            const float *d = qw_act_d(row, K);
            for (int64_t b = 0; b < nb; b++) dx[16 * (T * nb + b) + i] = d[b];
        }
    qw_free_aligned(row);
}

// ---------------------------------------------------------------------------------------------------
// A panel: the 16 rows of one r16 group as B tiles, block b's 512 bytes at codes + 512 b, and the rows'
// scales, block b's 16 at S + 16 b.

typedef struct {
    int8_t *codes;
    const uint8_t *group; // Q8_0: the r16 group whose own code vectors are the B tiles (else NULL)
    int64_t nb;           // its blocks
    float *S;
    int64_t cap; // blocks
} panel;

static _Thread_local panel g_panel[2];

static int panel_reserve(panel *p, int64_t nb) {
    if (p->cap >= nb) return 1;
    qw_free_aligned(p->codes);
    qw_free_aligned(p->S);
    p->codes = qw_malloc_aligned((size_t)nb * 512);
    p->S = qw_malloc_aligned((size_t)nb * 16 * sizeof(float));
    p->cap = p->codes && p->S ? nb : 0;
    return p->cap > 0;
}

// Q8_0's r16 code vectors are already signed codes in B's layout, 8 rows of 64 bytes after the block's
// 16 scales: its B tiles are read in place and only the scales are converted (Q8_0 prefill: pack_panel
// took 5% of it).
static void pack_panel(panel *p, int kind, const uint8_t *g, int64_t nb) {
    const int bb = kind == K_Q8_0 ? 34 : 18;
    const __m512i z = _mm512_set1_epi8((char)zero32(kind));
    p->group = kind == K_Q8_0 ? g : NULL;
    p->nb = nb;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *d, *v; // the block's d's and codes (quant.h: qw_r16_blk32)
        qw_r16_blk32(g, b, nb, bb, &d, &v);
        _mm512_store_ps(p->S + 16 * b, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)d)));
        if (kind == K_Q8_0) continue;
        __m512i c[8];
        codes32(kind, v, c); // unsigned, dword q = elements 4q .. 4q + 3 of each row
        for (int q = 0; q < 8; q++) _mm512_store_si512(p->codes + 512 * b + 64 * q, _mm512_sub_epi8(c[q], z));
    }
}

// Block b's B tile: the panel's codes, or Q8_0's code vectors in the group itself.
static inline const int8_t *panel_b(const panel *p, int64_t b) {
    if (!p->group) return p->codes + 512 * b;
    const uint8_t *d, *v;
    qw_r16_blk32(p->group, b, p->nb, 34, &d, &v);
    return (const int8_t *)v;
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
static void tile_row(const panel *p, int64_t nb, const int8_t *a, const float *dx, float *y, int64_t N,
                     int ntok) {
    alignas(64) int32_t cbuf[4][TOK * 16];
    __m512 acc[TOK];
    for (int t = 0; t < TOK; t++) acc[t] = _mm512_setzero_ps();
    int64_t b = 0;
// block bk's product into C tile tc through A tile ta and B tile tb (tile numbers must be literals)
#define BLOCK_PRODUCT(tc, ta, tb, bk)                                                                        \
    do {                                                                                                     \
        _tile_loadd(ta, a + 512 * (bk), 32);                                                                 \
        _tile_loadd(tb, panel_b(p, bk), 64);                                                                 \
        _tile_zero(tc);                                                                                      \
        _tile_dpbssd(tc, ta, tb);                                                                            \
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
        for (int j = 0; j < np; j++)
            pack_panel(&p[j], kind, (const uint8_t *)mm->W + (size_t)(r / 16 + j) * gb, nb);
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
    qw_mm_plan_qgemm_amx_bf16(mm); // from qw_qgemm_bf16_min_n tokens (qgemm_bf16_amx.c)
    if (mm->rows || mm->n < qw_qgemm_amx_min_n(mm->wtype) || !mm->r16 || qw_amx_kind(mm->wtype) < 0) return;
    if (mm->wtype == QW_TYPE_Q4_K) return; // (the decode kernels, or where N % 32 != 0 the VNNI GEMM)
    mm->prepare = prepare;
    mm->rows = rows;
    mm->row_align = 16;
}

const qw_kernel_table qw_kernels_amx = {.mm_plan = qw_mm_plan_qgemm_amx};
