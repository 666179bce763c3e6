// kernels/x86/qr16_avx2: matrices in the r16 layout (quant.h) with AVX2, for CPUs without AVX-512
// VNNI: each group of 16 rows as two halves of 8, one row per int32 lane of a ymm, so a block's
// scaling is one vector op for 8 rows and no horizontal sums remain. Up to QW_QDOT_NT_MAX tokens share
// one unpacking of the weights (larger n goes past in chunks: there is no AVX2 GEMM).
//
// u8 x s8 products go through vpmaddubsw, whose int16 pair sums saturate at 2^15: Q4_0's codes (below
// 16) let 8 of them add up in int16 (8 * 2 * 15 * 127 < 2^15) before one vpmaddwd widens them; IQ4_NL
// takes its signed grid values by the sign trick (|w| * sign(x, w), pairs at most 2 * 127^2) and widens
// every product, and so does Q8_0.
#include "r16_act.h"

#include "avx2_util.h"

#define QW_INLINE static inline __attribute__((always_inline))

// QW_KEEP (avx2_util.h) on the int16 sums measured, kern_bench --type q4_0 --n 128 --shape q/o
// --threads 1 --r16 on Zen 3, three runs alternating with the build before: 85-92 -> 129-133 GFLOP/s
// (IQ4_NL +15%, Q4_K within the noise or better).
static inline __m256i ones16(void) { return _mm256_set1_epi16(1); }
static inline __m256i ld(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m256 d8(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

// ---------------------------------------------------------------------------------------------------
// 32-element blocks with one f16 d per row (Q4_0, IQ4_NL, Q8_0): the half's 8 d's at blk + 16 hf, and
// dword u of its 8 rows at v + 64 u + 32 hf (blk, v: the block's d's and codes, quant.h's qw_r16_blk32).

enum { A_Q4_0, A_IQ4_NL, A_Q8_0 };

// Both halves of the group in one pass: each activation dword is broadcast once for 16 rows, and the
// two halves' sums are two independent chains. Measured on Zen 4 at the AVX2 level (one thread, gate/up)
// against one half at a time: Q4_0 decode 0.85 -> 0.38 ms, 128 tokens 46 -> 34 ms; IQ4_NL decode 1.05 ->
// 0.53 ms. Q8_0 (its signed codes by the sign trick, as IQ4_NL's grid values) against the row kernels:
// decode 1.34 -> 0.71 ms, 128 tokens 85 -> 53 ms.
QW_INLINE void group32(int kind, int NT, int64_t K, const uint8_t *g, const qw_r16_act *a, float *y, int64_t ys, int pf) {
    const int bb = kind == A_Q8_0 ? 34 : 18;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i grid = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qw_iq4nl_values));
    __m256 acc[2][QW_QDOT_NT_MAX];
    for (int t = 0; t < NT; t++) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / 32; b++) {
        const uint8_t *blk, *v; // the block's d's, its codes (quant.h: qw_r16_blk32)
        qw_r16_blk32(g, b, K / 32, bb, &blk, &v);
        qw_r16_prefetch(g + (size_t)b * 16 * bb, 16 * bb, pf); // at the stream's position, read in order
        __m256i s[2][QW_QDOT_NT_MAX];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) { // code dword i: Q8_0's vector i; the nibble types' low nibbles of
            __m256i c[2];              // vector i (i < 4), high of vector i - 4
#pragma GCC unroll 2
            for (int hf = 0; hf < 2; hf++) {
                if (kind == A_Q8_0) {
                    c[hf] = ld(v + 64 * i + 32 * hf);
                    continue;
                }
                const __m256i q = ld(v + 64 * (i & 3) + 32 * hf);
                c[hf] = i < 4 ? _mm256_and_si256(q, m4) : _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if (kind == A_IQ4_NL) c[hf] = _mm256_shuffle_epi8(grid, c[hf]);
            }
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                const __m256i xb = _mm256_set1_epi32(a[t].q[8 * b + i]);
#pragma GCC unroll 2
                for (int hf = 0; hf < 2; hf++) {
                    __m256i p;
                    if (kind == A_Q4_0) p = _mm256_maddubs_epi16(c[hf], xb); // 8 pair sums fit int16
                    else p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(c[hf], c[hf]), _mm256_sign_epi8(xb, c[hf])), ones16());
                    s[hf][t] = i == 0 ? p : kind == A_Q4_0 ? _mm256_add_epi16(s[hf][t], p) : _mm256_add_epi32(s[hf][t], p);
                    QW_KEEP(s[hf][t]);
                }
            }
        }
#pragma GCC unroll 2
        for (int hf = 0; hf < 2; hf++) {
            const __m256 dw = d8(blk + 16 * hf);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                __m256i i32 = s[hf][t];
                if (kind == A_Q4_0) i32 = _mm256_add_epi32(_mm256_madd_epi16(i32, ones16()), _mm256_set1_epi32(-8 * a[t].s[b]));
                acc[hf][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(dw, _mm256_set1_ps(a[t].d[b])), acc[hf][t]);
            }
        }
    }
    for (int hf = 0; hf < 2; hf++)
        for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ys + 8 * hf, acc[hf][t]);
}

// ---------------------------------------------------------------------------------------------------
// Q4_K (super-block layout in qr16_avx512vnni.c): dword 0 of a super-block is d | dmin << 16 of each row,
// dwords 1..3 the scale bytes A, B, C, dwords 4 + 8 ch + i the nibbles (low: sub-block 2 ch, high:
// 2 ch + 1); half hf's 8 rows are the 32 bytes at + 32 hf of each 64. A sub-block's 8 vpmaddubsw pair
// sums add up in int16 as Q4_0's do, and one vpmaddwd against its 6-bit scale (in both 16-bit halves of
// each dword) widens them and applies the scale at once; the mins meet the activation sums the same way.
// Against the row kernels (one thread, gate/up): decode 0.68 -> 0.42 ms, 128 tokens 65 -> 33 ms.
// Q5_K (five): 8 dwords of qh between the scales and the nibbles, bit j of qh dword i being bit 4 of
// sub-block j's codes; codes up to 31 let only 4 pair sums add up in int16. Against the row kernels:
// decode 0.95 -> 0.65 ms, 128 tokens 82 -> 47 ms.

// The 8 rows' d and dmin as f32.
QW_INLINE void q4k_d8(const uint8_t *p, __m256 *d, __m256 *dmin) {
    const __m256i dd = ld(p);
    __m256i h = _mm256_packus_epi32(_mm256_and_si256(dd, _mm256_set1_epi32(0xFFFF)), _mm256_srli_epi32(dd, 16));
    h = _mm256_permute4x64_epi64(h, 0xD8); // d of rows 0..7, then dmin of rows 0..7
    *d = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
    *dmin = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
}

// byte j of every dword, in both 16-bit halves of it (one shuffle: byte 4k + j of the lane, a zero byte)
QW_INLINE __m256i byte_pair(__m256i v, int j) {
    const __m256i at = _mm256_setr_epi32(0, 0x40004, 0x80008, 0xC000C, 0, 0x40004, 0x80008, 0xC000C);
    return _mm256_shuffle_epi8(v, _mm256_add_epi32(at, _mm256_set1_epi32((int)(0x80008000u | (unsigned)j * 0x10001u))));
}

// The 6-bit scales (sc) and mins (mn) of sub-blocks 0..3 and 4..7, a byte each per row dword.
QW_INLINE void q4k_scales8(const uint8_t *p, __m256i sc[2], __m256i mn[2]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m6 = _mm256_set1_epi8(0x3F), hi2 = _mm256_set1_epi8(0x30);
    const __m256i A = ld(p), B = ld(p + 64), C = ld(p + 128);
    sc[0] = _mm256_and_si256(A, m6);
    mn[0] = _mm256_and_si256(B, m6);
    sc[1] = _mm256_or_si256(_mm256_and_si256(C, m4), _mm256_and_si256(_mm256_srli_epi32(A, 2), hi2));
    mn[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(C, 4), m4), _mm256_and_si256(_mm256_srli_epi32(B, 2), hi2));
}

// Q4_K's codes against one token (decode): each nibble dword loaded once for both of its sub-blocks (2 jp
// from the low nibbles, 2 jp + 1 from the high), as four int16 chains, and the loop over sub-block pairs
// unrolled so that every index and scale byte is a constant; the super-block's prefetches are spread
// over it, 9 lines per pair. The tokens of n > 1 keep the loop over single sub-blocks (their sums would
// not fit the registers). One thread, q/o from L3 (kern_bench --hot), alternating: 0.099 -> 0.069 ms.
QW_INLINE void q4k_codes_1(int64_t b, const uint8_t *blk, const uint8_t *qs, const __m256i sc[2][2], const qw_r16_act *a,
                           __m256i isum[2][QW_QDOT_NT_MAX], int pf) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const int32_t *xq = a[0].q + 64 * b;
#pragma GCC unroll 4
    for (int jp = 0; jp < 4; jp++) {
        qw_r16_prefetch(blk + 576 * jp, 576, pf); // a quarter of the 16 rows' 2304 bytes
        __m256i s16[2][2];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            const __m256i xl = _mm256_set1_epi32(xq[16 * jp + i]), xh = _mm256_set1_epi32(xq[16 * jp + 8 + i]);
#pragma GCC unroll 2
            for (int hf = 0; hf < 2; hf++) {
                const __m256i q = ld(qs + 64 * (8 * jp + i) + 32 * hf);
                const __m256i pl = _mm256_maddubs_epi16(_mm256_and_si256(q, m4), xl);
                const __m256i ph = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), xh);
                s16[0][hf] = i == 0 ? pl : _mm256_add_epi16(s16[0][hf], pl);
                s16[1][hf] = i == 0 ? ph : _mm256_add_epi16(s16[1][hf], ph);
                QW_KEEP(s16[0][hf]);
                QW_KEEP(s16[1][hf]);
            }
        }
#pragma GCC unroll 2
        for (int hf = 0; hf < 2; hf++) {
            const __m256i scv = sc[hf][jp / 2];
            isum[hf][0] = _mm256_add_epi32(isum[hf][0], _mm256_madd_epi16(s16[0][hf], byte_pair(scv, 2 * (jp % 2))));
            isum[hf][0] = _mm256_add_epi32(isum[hf][0], _mm256_madd_epi16(s16[1][hf], byte_pair(scv, 2 * (jp % 2) + 1)));
        }
    }
}

QW_INLINE void group_q4k(int five, int NT, int64_t K, const uint8_t *g, const qw_r16_act *a, float *y, int64_t ys, int pf) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), word0 = _mm256_set1_epi32(0x00FF00FF), bit4 = _mm256_set1_epi8(0x10);
    const size_t bb = five ? 176 : 144;
    __m256 acc[2][QW_QDOT_NT_MAX];
    for (int t = 0; t < NT; t++) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / QW_QK_K; b++) {
        const uint8_t *blk = g + (size_t)b * 16 * bb, *qs = blk + (five ? 768 : 256), *qh = blk + 256;
        if (NT > 1 || five) qw_r16_prefetch(blk, 16 * (int)bb, pf); // (one token: q4k_codes_1 spreads them)
        // each token's activation sums of sub-blocks (j, j + 2) as int16 pairs, j = 0, 1, 4, 5
        int32_t sp[QW_QDOT_NT_MAX][4];
        for (int t = 0; t < NT; t++) {
            const int32_t *s = a[t].s + 16 * b; // sums per 16 elements
            static const int first[4] = {0, 1, 4, 5};
            for (int p = 0; p < 4; p++) {
                const int j = first[p];
                const int32_t lo = s[2 * j] + s[2 * j + 1], hi = s[2 * j + 4] + s[2 * j + 5];
                sp[t][p] = (int32_t)((uint16_t)lo | (uint32_t)(uint16_t)hi << 16);
            }
        }
        __m256i sc[2][2], isum[2][QW_QDOT_NT_MAX];
        __m256 d[2];
        for (int hf = 0; hf < 2; hf++) {
            __m256i mn[2];
            __m256 dmin;
            q4k_scales8(blk + 64 + 32 * hf, sc[hf], mn);
            q4k_d8(blk + 32 * hf, &d[hf], &dmin);
            // mins as int16 pairs (m0, m2), (m1, m3), (m4, m6), (m5, m7) against the sums' pairs, taken off
            // acc at once (their scale is dmin; the codes' sums below wait for d)
            const __m256i mp[4] = {_mm256_and_si256(mn[0], word0), _mm256_and_si256(_mm256_srli_epi32(mn[0], 8), word0),
                                   _mm256_and_si256(mn[1], word0), _mm256_and_si256(_mm256_srli_epi32(mn[1], 8), word0)};
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                __m256i m = _mm256_setzero_si256();
                for (int p = 0; p < 4; p++) m = _mm256_add_epi32(m, _mm256_madd_epi16(mp[p], _mm256_set1_epi32(sp[t][p])));
                acc[hf][t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m), _mm256_mul_ps(dmin, _mm256_set1_ps(a[t].d[b])), acc[hf][t]);
                isum[hf][t] = _mm256_setzero_si256();
            }
        }
        if (NT == 1 && !five) {
            q4k_codes_1(b, blk, qs, sc, a, isum, pf);
        } else {
            for (int j = 0; j < 8; j++) { // sub-block j: nibble dwords 8 (j / 2) + i, low nibbles for even j
                __m256i s16[2][QW_QDOT_NT_MAX], scj[2];
#pragma GCC unroll 2
                for (int hf = 0; hf < 2; hf++) scj[hf] = byte_pair(sc[hf][j / 4], j % 4);
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) {
                    __m256i c[2];
#pragma GCC unroll 2
                    for (int hf = 0; hf < 2; hf++) {
                        const __m256i q = ld(qs + 64 * (8 * (j / 2) + i) + 32 * hf);
                        c[hf] = j % 2 ? _mm256_and_si256(_mm256_srli_epi16(q, 4), m4) : _mm256_and_si256(q, m4);
                        if (five) // bit j of qh dword i is bit 4 of these codes
                            c[hf] = _mm256_or_si256(c[hf], _mm256_and_si256(_mm256_slli_epi16(_mm256_srl_epi16(ld(qh + 64 * i + 32 * hf),
                                                                                                         _mm_cvtsi32_si128(j)), 4), bit4));
                    }
#pragma GCC unroll 4
                    for (int t = 0; t < NT; t++) {
                        const __m256i xb = _mm256_set1_epi32(a[t].q[64 * b + 8 * j + i]);
#pragma GCC unroll 2
                        for (int hf = 0; hf < 2; hf++) {
                            const __m256i p = _mm256_maddubs_epi16(c[hf], xb);
                            s16[hf][t] = i % 4 == 0 && (five || i == 0) ? p : _mm256_add_epi16(s16[hf][t], p);
                            if (!five) QW_KEEP(s16[hf][t]); // Q5_K: no difference that this machine could resolve
                            // Q5_K's codes reach 31: 4 pair sums fit int16, not 8
                            if (i == 7 || (five && i == 3))
                                isum[hf][t] = _mm256_add_epi32(isum[hf][t], _mm256_madd_epi16(s16[hf][t], scj[hf]));
                        }
                    }
                }
            }
        }
#pragma GCC unroll 2
        for (int hf = 0; hf < 2; hf++)
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++)
                acc[hf][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[hf][t]), _mm256_mul_ps(d[hf], _mm256_set1_ps(a[t].d[b])), acc[hf][t]);
    }
    for (int hf = 0; hf < 2; hf++)
        for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ys + 8 * hf, acc[hf][t]);
}

// ---------------------------------------------------------------------------------------------------

static void group(qw_type t, int nt, int64_t K, const uint8_t *g, const qw_r16_act *a, float *y, int64_t ys, int pf) {
    switch (t) {
#define C4_0(NT) group32(A_Q4_0, NT, K, g, a, y, ys, pf)
#define CNL(NT) group32(A_IQ4_NL, NT, K, g, a, y, ys, pf)
#define C8_0(NT) group32(A_Q8_0, NT, K, g, a, y, ys, pf)
#define C4_K(NT) group_q4k(0, NT, K, g, a, y, ys, pf)
#define C5_K(NT) group_q4k(1, NT, K, g, a, y, ys, pf)
    case QW_TYPE_Q4_0: QW_R16_NT_CASES(nt, C4_0) break;
    case QW_TYPE_Q4_K: QW_R16_NT_CASES(nt, C4_K) break;
    case QW_TYPE_Q5_K: QW_R16_NT_CASES(nt, C5_K) break;
    case QW_TYPE_Q8_0: QW_R16_NT_CASES(nt, C8_0) break;
    case QW_TYPE_IQ4_NL: QW_R16_NT_CASES(nt, CNL) break;
    default: QW_ASSERT(!"r16 AVX2: type without a kernel");
    }
}

static void rows(const qw_mm *mm, int64_t r0, int64_t r1) { qw_r16_rows(mm, r0, r1, group); }

// Q6_K stays in rows at this level: r16 kernels lost to the row kernel (gate/up decode 1.10 ms): one half
// at a time 1.42 ms, both halves per pass (with the offset 32 taken off per super-block and the
// quarters prefetched as the AVX-512 kernel does) 2.7 ms, compute-bound on unpacking ql and qh per 4
// codes of 8 rows; at 128 tokens it was 92 against the row kernel's 70 ms.
int qw_r16_avx2_has(qw_type t) {
    return t == QW_TYPE_Q4_0 || t == QW_TYPE_IQ4_NL || t == QW_TYPE_Q8_0 || t == QW_TYPE_Q4_K || t == QW_TYPE_Q5_K;
}

void qw_mm_plan_r16_avx2(qw_mm *mm) {
    if (!mm->r16 || !qw_r16_avx2_has(mm->wtype)) return;
    mm->prepare = qw_mm_prepare_quant;
    mm->rows = rows;
    mm->row_align = 16;
}
