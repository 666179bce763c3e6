// kernels/x86/qr16_avx512vnni: decode (1 to QW_QDOT_NT_MAX tokens) against matrices in the r16 layout
// (quant.h) with AVX-512 VNNI. One 64-byte load holds one dword of codes of each of 16 rows, so one
// vpdpbusd with 4 activation codes broadcast is 4 elements x 16 rows into the 16 int32 lanes, and a
// block's scaling is one vector op for 16 rows: no horizontal sums, no shuffles to gather scales.
//
// Codes enter vpdpbusd unsigned (Q4_0's nibbles as they are, Q8_0 and IQ4_NL shifted by 128, Q4_K's
// nibbles), and a code offset z is taken off through the activation block's code sum: the int32 lanes
// start at -z * sum x. Integer sums are exact; only their f32 scaling rounds.
#include "r16_x86.h"

// How far ahead the kernels of 32-element blocks fetch a group's blocks for 2 to 4 tokens (pf != 0: one
// pass over the weights). Intel Xeon, 2 threads, lm_head 151936 x 2048 from DRAM, 4 tokens: Q4_0 11.7 ->
// 8.8 ms, Q8_0 18.5 -> 14.6 (2 and 3 tokens 15-25% less); 2304 bytes about the same, 4608 little gain.
// (pair32, one token, has its own distance.) Written out with the distance a constant: the same
// prefetches through qw_r16_prefetch (distance pf) measured no gain. In pair32, the helper with a constant
// distance left no prefetch at all in the object (GCC 12 -O2, seen in the disassembly of rows), which may
// be why; not understood further.
#define PF32_BYTES 1152

// y[t][r0 .. r0 + 15] = acc[t]
QW_INLINE void store16(int NT, const __m512 *acc, float *y, int64_t ys) {
    for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ys, acc[t]);
}

// ---------------------------------------------------------------------------------------------------
// 32-element blocks with one f16 scale per row: Q4_0 (18 bytes), IQ4_NL (18), Q8_0 (34). A block of 16
// rows is 16 d's (32 bytes) and 4 (nibble types) or 8 (Q8_0) vectors of code dwords, the d's of a
// super-group of QW_R16_SG blocks together before their codes (quant.h: qw_r16_blk32).

// Block b of a group, its d's at dp and codes at cp, against NT tokens, into acc.
QW_INLINE void block32(int kind, int NT, const uint8_t *dp, const uint8_t *cp, int64_t b, const qw_r16_act *a,
                       __m512 *acc) {
    const int z = zero32(kind);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dp));
    __m512i c[8];
    if (kind == K_Q4_0) {
        // The high nibbles stay in place (q & 0xF0: 16 times the code), one op per vector less; their
        // dot, an exact multiple of 16, is shifted back. With fewer ops per byte the stream runs closer
        // to the memory's rate: one token, gate/up, 2 threads, Intel Xeon: 0.424 -> 0.39 ms.
        const __m512i m4 = _mm512_set1_epi8(0x0F), mh = _mm512_set1_epi8((char)0xF0);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            const __m512i q = _mm512_loadu_si512(cp + 64 * i);
            c[i] = _mm512_and_si512(q, m4);
            c[4 + i] = _mm512_and_si512(q, mh);
        }
    } else
        codes32(kind, cp, c);
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        const int32_t *x = a[t].q + 8 * b;
        // two chains of 4 dependent vpdpbusd: elements 0..15 and 16..31
        __m512i s0 = _mm512_set1_epi32(-z * a[t].s[b]), s1 = _mm512_setzero_si512();
        if (kind == K_Q8_0 && NT == 1) { // rolled: 3-6% faster than unrolled for Q8_0 (gate/up, 2 threads)
#pragma GCC unroll 1
            for (int i = 0; i < 4; i++) {
                s0 = _mm512_dpbusd_epi32(s0, c[i], _mm512_set1_epi32(x[i]));
                s1 = _mm512_dpbusd_epi32(s1, c[4 + i], _mm512_set1_epi32(x[4 + i]));
            }
        } else {
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                s0 = _mm512_dpbusd_epi32(s0, c[i], _mm512_set1_epi32(x[i]));
                s1 = _mm512_dpbusd_epi32(s1, c[4 + i], _mm512_set1_epi32(x[4 + i]));
            }
        }
        if (kind == K_Q4_0) s1 = _mm512_srai_epi32(s1, 4);
        const __m512 f = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
        acc[t] = _mm512_fmadd_ps(f, _mm512_mul_ps(dw, _mm512_set1_ps(a[t].d[b])), acc[t]);
    }
}

QW_INLINE void group32(int kind, int NT, int64_t K, const uint8_t *g, const qw_r16_act *a, float *y,
                       int64_t ys, int pf) {
    const int bb = kind == K_Q8_0 ? 34 : 18;
    const int64_t nb = K / 32;
    const uint8_t *dp, *cp, *dq, *cq;
    // One token: even and odd blocks into their own accumulators, so that one fmadd chain does not bound
    // it (Q4_0 and IQ4_NL; Q8_0's longer block measured 3-6% slower so). More tokens are chains enough.
    __m512 even[QW_QDOT_NT_MAX], odd[QW_QDOT_NT_MAX];
    for (int t = 0; t < NT; t++) even[t] = odd[t] = _mm512_setzero_ps();
    int64_t b = 0;
    if (NT > 1 || kind == K_Q8_0)
        for (; b < nb; b++) {
            qw_r16_blk32(g, b, nb, bb, &dp, &cp);
            if (pf)
                for (int l = 0; l < 16 * bb; l += 64)
                    _mm_prefetch((const char *)g + (size_t)b * 16 * bb + PF32_BYTES + l, _MM_HINT_T0);
            block32(kind, NT, dp, cp, b, a, even);
        }
    for (; b + 1 < nb; b += 2) {
        qw_r16_blk32(g, b, nb, bb, &dp, &cp);
        qw_r16_blk32(g, b + 1, nb, bb, &dq, &cq);
        block32(kind, NT, dp, cp, b, a, even);
        block32(kind, NT, dq, cq, b + 1, a, odd);
    }
    if (b < nb) {
        qw_r16_blk32(g, b, nb, bb, &dp, &cp);
        block32(kind, NT, dp, cp, b, a, even);
    }
    for (int t = 0; t < NT; t++) even[t] = _mm512_add_ps(even[t], odd[t]);
    store16(NT, even, y, ys);
}

// One token against two adjacent groups (32 rows; the second group at g + gb), block by block: two
// streams of reads, 16 KB apart for the 3B shape, where one group at a time is one. Gate/up, 2 threads,
// Intel Xeon, medians: Q4_0 0.53 -> 0.46 ms, IQ4_NL 0.61 -> 0.48, Q8_0 0.91 -> 0.86 (a model of the loop
// alone: 25.9 -> 28.4 GB/s, four groups 29.0). Q4_K's super-blocks so, two groups at a time, gained nothing.
// Each stream prefetches PAIR_PF_BYTES ahead: on a Xeon without AMX (kern_bench --r16 --n 1 --threads 2,
// weights from DRAM, two alternating rounds) gate/up Q4_0 0.50/0.60 -> 0.44/0.45 ms, Q8_0 0.92/1.13 ->
// 0.80/0.82, lm_head Q8_0 13.9/13.2 -> 11.0/13.4; 2304 to 6912 bytes did about the same; one-token decode
// of the 3B shape Q4_0 14.8/14.4 -> 15.6/16.5 tok/s, Q8_0 7.5/8.0 -> 8.6/9.3.
// On Zen 4 the two streams are slower than one: on a Zen 4 VM (same kern_bench, five rounds alternating,
// paired medians) group() took 0.85x pair32's time for lm_head Q4_0 (0.80-0.87 in every round), 0.71x
// for lm_head Q8_0, 0.82x for gate/up Q4_0, and the prefetch distance in its one stream (none, 1152 to
// 4608 bytes) made no difference; whole-model decode, three rounds: Q4_0 14.96/14.39/13.51 ->
// 18.60/22.73/20.36 tok/s, Q8_0 7.36/8.61/7.22 -> 8.04/9.73/9.50. On a Zen 5 EPYC (full-width 512-bit
// units) it is the other way, as on the Xeons: whole-model decode, three rounds alternating, Q8_0
// 11.65/13.67/14.06 tok/s one group at a time against 16.91/17.16/16.56 with pair32, Q4_0 the same within
// the noise. So pair32 runs except where 512-bit operations are split into halves (qw_cpu_features).
// A super-group's d's are loaded first, so that demand reads run in address order as the prefetches do:
// reading each block's d beside its codes, the super-group layout was slower than the old one (lm_head
// Q4_0 3.4-3.5 against 3.0-3.3 ms), with them first faster (2.8 against 3.3-3.5).
#define PAIR_PF_BYTES 3456
QW_INLINE void pair32(int kind, int64_t K, const uint8_t *g, size_t gb, const qw_r16_act *a, float *y) {
    const int bb = kind == K_Q8_0 ? 34 : 18, cb = 16 * (bb - 2);
    const int64_t nb = K / 32;
    __m512 e0 = _mm512_setzero_ps(), o0 = e0, e1 = e0, o1 = e0; // group 0, 1; even and odd blocks
    for (int64_t s = 0; s < nb; s += QW_R16_SG) {
        const int n = nb - s < QW_R16_SG ? (int)(nb - s) : QW_R16_SG;
        const uint8_t *base = g + (size_t)s * 16 * bb, *codes = base + 32 * n;
        __m256i d0[QW_R16_SG], d1[QW_R16_SG];
        for (int j = 0; j < n; j++) {
            d0[j] = _mm256_loadu_si256((const __m256i *)(base + 32 * j));
            d1[j] = _mm256_loadu_si256((const __m256i *)(base + gb + 32 * j));
        }
        int j = 0;
        for (; j + 1 < n; j += 2) {
            const uint8_t *p = base + (size_t)j * 16 * bb + PAIR_PF_BYTES;
            for (int l = 0; l < 32 * bb; l += 64) {
                _mm_prefetch((const char *)p + l, _MM_HINT_T0);
                _mm_prefetch((const char *)p + gb + l, _MM_HINT_T0);
            }
            const uint8_t *cp = codes + (size_t)j * cb;
            block32(kind, 1, (const uint8_t *)&d0[j], cp, s + j, a, &e0);
            block32(kind, 1, (const uint8_t *)&d1[j], cp + gb, s + j, a, &e1);
            block32(kind, 1, (const uint8_t *)&d0[j + 1], cp + cb, s + j + 1, a, &o0);
            block32(kind, 1, (const uint8_t *)&d1[j + 1], cp + cb + gb, s + j + 1, a, &o1);
        }
        if (j < n) {
            const uint8_t *cp = codes + (size_t)j * cb;
            block32(kind, 1, (const uint8_t *)&d0[j], cp, s + j, a, &e0);
            block32(kind, 1, (const uint8_t *)&d1[j], cp + gb, s + j, a, &e1);
        }
    }
    _mm512_storeu_ps(y, _mm512_add_ps(e0, o0));
    _mm512_storeu_ps(y + 16, _mm512_add_ps(e1, o1));
}

// ---------------------------------------------------------------------------------------------------
// Q4_K: super-blocks of 256 as 36 dwords per row: d | dmin << 16, the 12 scale bytes (3 dwords: A, B,
// C as qw_get_scale_min_k4 reads them), then 32 dwords of nibbles: dword 8 ch + i holds elements
// 64 ch + 4 i .. (low nibbles, sub-block 2 ch) and 64 ch + 32 + 4 i .. (high, sub-block 2 ch + 1).
// Per sub-block j the 16 rows' int32 dots are multiplied by their 6-bit scales in integers and summed
// over the super-block; the mins meet the activation sums through vpdpwssd (int16 pairs).
// Q5_K (five): 44 dwords per row, the same as Q4_K's with 8 dwords of qh between the scales and the
// nibbles: bits 2 ch and 2 ch + 1 of qh dword i are bit 4 of the codes of nibble dword 8 ch + i. One
// thread, gate/up decode: 0.83 ms with the row kernel, 0.48 in r16 (Q4_K: 0.37). The i loops must be
// unrolled: left rolled, lo and hi went through the stack and Q5_K took 1.6 ms.

QW_INLINE void group_q4_k(int five, int NT, int64_t K, const uint8_t *g, const qw_r16_act *a, float *y,
                          int64_t ys) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), mh = _mm512_set1_epi8((char)0xF0),
                  bit4 = _mm512_set1_epi8(0x10);
    const size_t bb = five ? 176 : 144;
    // Q4_K, 1 or 2 tokens: the high nibbles in place, as Q4_0's (block32), dh shifted back per token.
    // Gate/up, 2 threads, Xeon: one token 0.435-0.462 -> 0.404-0.416 ms; at 4 tokens 5% slower (the
    // shifts per token, and the mask's register), so not there.
    const int inplace = !five && NT <= 2;
    __m512 acc[QW_QDOT_NT_MAX];
    for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < K / QW_QK_K; b++) {
        const uint8_t *blk = g + (size_t)b * 16 * bb;
        __m512 d, dmin;
        q4k_d(blk, &d, &dmin);
        __m512i sc03, sc47, m03, m47;
        q4k_scales(blk, &sc03, &sc47, &m03, &m47);
        // mins as int16 pairs: (m0, m2), (m1, m3), (m4, m6), (m5, m7)
        __m512i mp[4];
        q4k_min_pairs(m03, m47, mp);
        __m512i isum[QW_QDOT_NT_MAX], msum[QW_QDOT_NT_MAX];
        for (int t = 0; t < NT; t++) {
            const int32_t *s = a[t].s + 16 * b; // sums per 16 elements
            int32_t bs[8];
            for (int j = 0; j < 8; j++) bs[j] = s[2 * j] + s[2 * j + 1];
            // pair p of mp holds sub-blocks (j, j + 2) with j = {0, 1, 4, 5}[p]
            __m512i m = _mm512_setzero_si512();
            static const int first[4] = {0, 1, 4, 5};
            for (int p = 0; p < 4; p++) {
                const int j = first[p];
                const uint32_t pair = (uint16_t)bs[j] | (uint32_t)(uint16_t)bs[j + 2] << 16;
                m = _mm512_dpwssd_epi32(m, mp[p], _mm512_set1_epi32((int)pair));
            }
            msum[t] = m;
            isum[t] = _mm512_setzero_si512();
        }
        const uint8_t *qs = blk + (five ? 768 : 256), *qh = blk + 256;
        for (int ch = 0; ch < 4; ch++) {
            // The next super-block (past the group's end: the next group's) is fetched, a quarter per
            // chunk. Intel Xeon, 2 threads, lm_head 151936 x 2048 from DRAM: one token 6.8 -> 6.0 ms,
            // 4 tokens 11.0 -> 8.4; two super-blocks ahead was slower than none (8.9 ms).
            const char *next = (const char *)blk + 16 * bb + 4 * bb * ch;
            for (size_t l = 0; l < 4 * bb; l += 64) _mm_prefetch(next + l, _MM_HINT_T0);
            const __m512i sl = q4k_sub(sc03, sc47, 2 * ch), sh_ = q4k_sub(sc03, sc47, 2 * ch + 1);
            __m512i lo[8], hi[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                __m512i q = _mm512_loadu_si512(qs + 64 * (8 * ch + i));
                lo[i] = _mm512_and_si512(q, m4);
                hi[i] = inplace ? _mm512_and_si512(q, mh) : _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
                if (five) { // bits 2 ch and 2 ch + 1 of qh dword i to bit 4 of lo's and hi's codes
                    const __m512i h =
                        _mm512_srl_epi16(_mm512_loadu_si512(qh + 64 * i), _mm_cvtsi32_si128(2 * ch));
                    lo[i] = _mm512_or_si512(lo[i], _mm512_and_si512(_mm512_slli_epi16(h, 4), bit4));
                    hi[i] = _mm512_or_si512(hi[i], _mm512_and_si512(_mm512_slli_epi16(h, 3), bit4));
                }
            }
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                const int32_t *x = a[t].q + 64 * b + 16 * ch;
                __m512i dl = _mm512_setzero_si512(), dh = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) {
                    dl = _mm512_dpbusd_epi32(dl, lo[i], _mm512_set1_epi32(x[i]));
                    dh = _mm512_dpbusd_epi32(dh, hi[i], _mm512_set1_epi32(x[8 + i]));
                }
                if (inplace) dh = _mm512_srai_epi32(dh, 4);
                isum[t] = _mm512_add_epi32(
                    isum[t], _mm512_add_epi32(_mm512_mullo_epi32(dl, sl), _mm512_mullo_epi32(dh, sh_)));
            }
        }
        for (int t = 0; t < NT; t++) {
            const __m512 dx = _mm512_set1_ps(a[t].d[b]);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, dx), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[t]), _mm512_mul_ps(dmin, dx), acc[t]);
        }
    }
    store16(NT, acc, y, ys);
}

// ---------------------------------------------------------------------------------------------------
// Q6_K: super-blocks of 256 as the 16 rows' d (32 bytes) and 52 dwords per row: ql (dwords 0..31), qh
// (32..47), the 16 int8 sub-block scales (48..51). Element 128 h + 32 q + l (half h, quarter q, l < 32)
// has its low 4 bits in ql[64 h + l + 32 (q & 1)] (low nibble for q < 2, high for q >= 2) and bits 4..5
// in qh[32 h + l] >> 2 q; its sub-block of 16 is 8 h + 2 q + l / 16, value d * scale * (code - 32).

// The codes of quarter q of half h, dwords i = 0..7 (elements 128 h + 32 q + 4 i ..), unsigned 0..63.
QW_INLINE void q6k_codes(const uint8_t *v, int h, int q, __m512i c[8]) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x30);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        __m512i lo = _mm512_loadu_si512(v + 64 * (16 * h + 8 * (q & 1) + i));
        __m512i hb = _mm512_loadu_si512(v + 64 * (32 + 8 * h + i));
        lo = q < 2 ? _mm512_and_si512(lo, m4) : _mm512_and_si512(_mm512_srli_epi16(lo, 4), m4);
        // bits 2q, 2q + 1 of qh to bits 4, 5 (16-bit shifts: the mask drops what crosses bytes)
        hb = q == 0   ? _mm512_slli_epi16(hb, 4)
             : q == 1 ? _mm512_slli_epi16(hb, 2)
             : q == 2 ? hb
                      : _mm512_srli_epi16(hb, 2);
        c[i] = _mm512_or_si512(lo, _mm512_and_si512(hb, m2));
    }
}

QW_INLINE void group_q6_k(int NT, int64_t K, const uint8_t *g, const qw_r16_act *a, float *y, int64_t ys) {
    __m512 acc[QW_QDOT_NT_MAX];
    for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < K / QW_QK_K; b++) {
        const uint8_t *blk = g + (size_t)b * 16 * 210, *v = blk + 32;
        // The quarters read ql and qh out of address order, which the hardware prefetcher does not
        // follow (measured from DRAM: 7 GB/s per thread, against 30 from L3): the next super-block
        // (past the group's end: the next group's, which follows it) is fetched, 7 lines per quarter,
        // so that the misses overlap without filling the miss buffers at once. One ahead rather than
        // two: on an Intel Xeon (2 threads, lm_head 151936 x 2048 from DRAM, one token) 13.9 -> 11.0
        // ms, down 0.89 -> 0.81 (none ahead: 13.5).
        const char *ahead = (const char *)blk + 16 * 210;
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk));
        __m512i isum[QW_QDOT_NT_MAX];
        for (int t = 0; t < NT; t++) isum[t] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++)
            for (int q = 0; q < 4; q++) { // (not unrolled: 8 x 8 code vectors would all spill)
                for (int l = 0; l < 7; l++) _mm_prefetch(ahead + 64 * (7 * (4 * h + q) + l), _MM_HINT_T0);
                __m512i c[8];
                q6k_codes(v, h, q, c);
                // the scales of sub-blocks j and j + 1: bytes (2q) & 3 and +1 of scale dword 48 + 2h + q / 2,
                // sign-extended to int32 lanes
                const int j = 8 * h + 2 * q;
                const __m512i sw = _mm512_loadu_si512(v + 64 * (48 + j / 4));
                const __m512i sc0 = _mm512_srai_epi32(_mm512_slli_epi32(sw, 24 - 8 * (j % 4)), 24);
                const __m512i sc1 = _mm512_srai_epi32(_mm512_slli_epi32(sw, 16 - 8 * (j % 4)), 24);
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) {
                    const int32_t *x = a[t].q + 64 * b + 32 * h + 8 * q;
                    const int32_t *s16 = a[t].s + 16 * b + 8 * h + 2 * q;
                    __m512i d0 = _mm512_set1_epi32(-32 * s16[0]), d1 = _mm512_set1_epi32(-32 * s16[1]);
                    for (int i = 0; i < 4; i++) {
                        d0 = _mm512_dpbusd_epi32(d0, c[i], _mm512_set1_epi32(x[i]));
                        d1 = _mm512_dpbusd_epi32(d1, c[4 + i], _mm512_set1_epi32(x[4 + i]));
                    }
                    isum[t] = _mm512_add_epi32(
                        isum[t], _mm512_add_epi32(_mm512_mullo_epi32(d0, sc0), _mm512_mullo_epi32(d1, sc1)));
                }
            }
        for (int t = 0; t < NT; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, _mm512_set1_ps(a[t].d[b])),
                                     acc[t]);
    }
    store16(NT, acc, y, ys);
}

// ---------------------------------------------------------------------------------------------------

static void group(qw_type t, int nt, int64_t K, const uint8_t *g, const qw_r16_act *a, float *y, int64_t ys,
                  int pf) {
    // Software prefetch: Q4_K/Q5_K's next super-block, Q6_K's, and for 2 to 4 tokens the 32-element
    // types' blocks (PF32_BYTES) where pf says the weights are read once. Measured from DRAM (the lm_head
    // shape: kern_bench's smaller matrices partly come from this Xeon's 480 MB L3), where the gate/up
    // shape had shown no difference. One token, two groups at a time: pair32's own.
    switch (t) {
#define C4_0(NT) group32(K_Q4_0, NT, K, g, a, y, ys, pf)
#define CNL(NT) group32(K_IQ4_NL, NT, K, g, a, y, ys, pf)
#define C8_0(NT) group32(K_Q8_0, NT, K, g, a, y, ys, pf)
#define C4_K(NT) group_q4_k(0, NT, K, g, a, y, ys)
#define C5_K(NT) group_q4_k(1, NT, K, g, a, y, ys)
#define C6_K(NT) group_q6_k(NT, K, g, a, y, ys)
    case QW_TYPE_Q6_K: QW_R16_NT_CASES(nt, C6_K) break;
    case QW_TYPE_Q4_0: QW_R16_NT_CASES(nt, C4_0) break;
    case QW_TYPE_IQ4_NL: QW_R16_NT_CASES(nt, CNL) break;
    case QW_TYPE_Q8_0: QW_R16_NT_CASES(nt, C8_0) break;
    case QW_TYPE_Q4_K: QW_R16_NT_CASES(nt, C4_K) break;
    case QW_TYPE_Q5_K: QW_R16_NT_CASES(nt, C5_K) break;
    default: QW_ASSERT(!"r16 decode: type without a kernel");
    }
}

static void rows(const qw_mm *mm, int64_t r0, int64_t r1) { qw_r16_rows(mm, r0, r1, group); }

// One token against Q4_0, IQ4_NL or Q8_0, two groups at a time (pair32).
static void rows_pairs(const qw_mm *mm, int64_t r0, int64_t r1) {
    const qw_type t = mm->wtype;
    const int kind = t == QW_TYPE_Q4_0 ? K_Q4_0 : t == QW_TYPE_IQ4_NL ? K_IQ4_NL : K_Q8_0;
    const size_t gb = 16 * qw_type_row_bytes(t, mm->K);
    qw_r16_act a;
    qw_r16_acts(mm, 0, 1, &a);
    int64_t r = r0;
    for (; r + 32 <= r1; r += 32) {
        const uint8_t *g = (const uint8_t *)mm->W + (size_t)(r / 16) * gb;
        switch (kind) { // (constant kinds, for the inlined code)
        case K_Q4_0:
            pair32(K_Q4_0, mm->K, g, gb, &a, mm->y + r);
            break;
        case K_IQ4_NL:
            pair32(K_IQ4_NL, mm->K, g, gb, &a, mm->y + r);
            break;
        default:
            pair32(K_Q8_0, mm->K, g, gb, &a, mm->y + r);
            break;
        }
    }
    if (r < r1) group(t, 1, mm->K, (const uint8_t *)mm->W + (size_t)(r / 16) * gb, &a, mm->y + r, mm->N, 0);
}

int qw_r16_vnni_has(qw_type t) {
    return t == QW_TYPE_Q4_0 || t == QW_TYPE_IQ4_NL || t == QW_TYPE_Q8_0 || t == QW_TYPE_Q4_K ||
           t == QW_TYPE_Q5_K || t == QW_TYPE_Q6_K;
}

void qw_mm_plan_r16_vnni(qw_mm *mm) {
    if (!mm->r16 || mm->n >= QW_QGEMM_VNNI_MIN_N || !qw_r16_vnni_has(mm->wtype)) return;
    mm->prepare = qw_mm_prepare_quant;
    const qw_type t = mm->wtype;
    const int pairs = mm->n == 1 && (t == QW_TYPE_Q4_0 || t == QW_TYPE_IQ4_NL || t == QW_TYPE_Q8_0);
    mm->rows = pairs && !qw_cpu()->zmm_halves ? rows_pairs : rows; // (pair32's comment: Zen 4 reads one stream faster)
    mm->row_align = 16;
}
