// kernels/x86/qgemm_avx512vnni: quantized-weight matmul for many tokens (prefill, batched decode) with
// AVX-512 VNNI: 16 weight rows in the 16 int32 lanes of a zmm, their codes unpacked once per matmul.
//
// Every type is brought to one form per group of G elements (32; 16 for Q6_K): for row r and group g,
// w_k = S[g][r] * (c_k - Z) + M[g][r] with unsigned byte codes
// c_k, a type-wide zero point Z and M only for the K-quants' mins. A panel of 16 rows holds the codes
// dword-interleaved (dword q of all 16 rows in one 64-byte vector), so one vpdpbusd with 4 activation
// bytes broadcast does 16 rows x 4 elements; per group, the int32 lanes are scaled once by S * d_x.
// The activations are the same int8 codes the dot kernels use, regrouped in prepare into tiles of NT
// tokens (kernels_impl.h): dword q of the NT tokens side by side (K/4 runs of NT dwords), then per group
// NT values each of -Z * (code sum) and d_x, and for the K-quants with mins (Q4_K, Q5_K) the code sums
// as int16 pairs (below). A tile then reads everything at constant offsets from one pointer.
//
// The mins of Q4_K and Q5_K are kept in integers to the end of each super-block: row r's mins term
// there is -dmin * sum_j m_j * (code sum of sub-block j), a dot of 8 6-bit mins with 8 sums (each
// |sum| <= 32 * 127, so int16), which is 4 vpdpwssd of sub-block pairs per row and token vector,
// then one f32 scaling, where an f32 term per group cost one fma per group (leaving the mins out
// altogether, a bound, took 9% off the Q4_K GEMM; this form took 3%).
#include "r16_x86.h"
#include "transpose_avx512.h"

#define NT_MAX QW_QGEMM_NT // tokens per activation tile: one zmm of int32 or f32

static int group_of(qw_type t) { return t == QW_TYPE_Q6_K ? 16 : 32; }

#define MINS_VECS 5 // per super-block in a panel's M: 4 vectors of min pairs, 1 of -dmin

static int has_mins(qw_type t) { return t == QW_TYPE_Q4_K || t == QW_TYPE_Q5_K; }

static int zero_of(qw_type t) {
    switch (t) {
    case QW_TYPE_Q8_0:
    case QW_TYPE_IQ4_NL: return 128;
    case QW_TYPE_Q4_0: return 8;
    case QW_TYPE_Q6_K: return 32;
    default: return 0; // Q4_K, Q5_K: codes are unsigned, the offset is the min (M)
    }
}

// ---------------------------------------------------------------------------------------------------
// prepare: a tile's 16 tokens quantized (qw_act_quantize) side by side, then their codes turned into the
// tile's layout 16 dwords x 16 tokens at a time (qw_transpose16), and the per-group runs filled.


static void prepare(const qw_mm *mm, int ith, int nth) {
    const qw_type wt = mm->wtype;
    const int64_t K = mm->K, ng = K / group_of(wt), nq = K / 4;
    const int G = group_of(wt), Z = zero_of(wt);
    const qw_act_kind ak = qw_act_kind_of(wt);
    const int B = qw_act_block(ak), SB = qw_act_sum_block(ak);
    const size_t tb = qw_qgemm_tile_bytes(wt, K), ab = qw_act_row_bytes(wt, K);
    // split by whole tiles, so that a tile's padding tokens are zeroed by the one thread writing it
    int64_t g0, g1;
    qw_split_rows((mm->n + NT_MAX - 1) / NT_MAX, 1, ith, nth, &g0, &g1);
    char *rows = qw_malloc_aligned(ab * NT_MAX);
    QW_ASSERT(rows); // a tile's rows of codes; not recoverable inside a parallel region
    for (int64_t tile = g0; tile < g1; tile++) {
        char *base = (char *)mm->work + (size_t)tile * tb;
        int32_t *corr = (int32_t *)(base + K * NT_MAX);
        float *dx = (float *)(corr + ng * NT_MAX);
        int32_t *dxs = (int32_t *)(dx + ng * NT_MAX);
        for (int i = 0; i < NT_MAX; i++) {
            int64_t t = tile * NT_MAX + i;
            char *row = rows + (size_t)i * ab;
            if (t >= mm->n) { // padding: zero codes, sums and scales
                memset(row, 0, ab);
                continue;
            }
            qw_act_quantize(wt, mm->x + t * K, row, K);
        }
        for (int64_t q = 0; q < nq; q += 16) { // dwords q .. q + 15 of the 16 tokens
            const __mmask16 m = nq - q >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (nq - q)) - 1);
            __m512i v[16];
            for (int i = 0; i < NT_MAX; i++) v[i] = _mm512_maskz_loadu_epi32(m, rows + (size_t)i * ab + 4 * q);
            qw_transpose16(v);
            for (int j = 0; j < 16 && q + j < nq; j++) _mm512_store_si512(base + 64 * (q + j), v[j]);
        }
        for (int i = 0; i < NT_MAX; i++) {
            const char *row = rows + (size_t)i * ab;
            const float *d = qw_act_d(row, K);
            const int32_t *sm = qw_act_s(row, K, ak);
            for (int64_t g = 0; g < ng; g++) {
                int32_t sum = 0;
                for (int64_t j = g * G / SB; j < (g + 1) * G / SB; j++) sum += sm[j];
                corr[g * NT_MAX + i] = -Z * sum;
                dx[g * NT_MAX + i] = d[g * G / B];
                // sums of groups 2p, 2p + 1 as the low, high int16 of dword p (groups of 32: pairs in a
                // super-block)
                if (has_mins(wt)) ((uint16_t *)dxs)[(g / 2 * NT_MAX + i) * 2 + g % 2] = (uint16_t)sum;
            }
        }
    }
    qw_free_aligned(rows);
}

// ---------------------------------------------------------------------------------------------------
// unpacking one row into codes (K bytes) and per-group S, M (strided by 16 floats: the panel's layout)

static inline __m256i nib32(const uint8_t *p) {
    __m128i q = _mm_loadu_si128((const __m128i *)p);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static void unpack_row(qw_type wt, const char *w, int64_t K, uint8_t *c, float *S, float *M) {
    switch (wt) {
    case QW_TYPE_Q8_0: {
        const qw_block_q8_0 *b = (const void *)w;
        for (int64_t i = 0; i < K / 32; i++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)b[i].qs);
            _mm256_storeu_si256((__m256i *)(c + 32 * i), _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)));
            S[16 * i] = h2f(b[i].d);
        }
        break;
    }
    case QW_TYPE_Q4_0: {
        const qw_block_q4_0 *b = (const void *)w;
        for (int64_t i = 0; i < K / 32; i++) {
            _mm256_storeu_si256((__m256i *)(c + 32 * i), nib32(b[i].qs));
            S[16 * i] = h2f(b[i].d);
        }
        break;
    }
    case QW_TYPE_IQ4_NL: {
        const qw_block_iq4_nl *b = (const void *)w;
        __m128i grid = _mm_xor_si128(_mm_loadu_si128((const __m128i *)qw_iq4nl_values), _mm_set1_epi8((char)0x80));
        __m256i tbl = _mm256_broadcastsi128_si256(grid);
        for (int64_t i = 0; i < K / 32; i++) {
            _mm256_storeu_si256((__m256i *)(c + 32 * i), _mm256_shuffle_epi8(tbl, nib32(b[i].qs)));
            S[16 * i] = h2f(b[i].d);
        }
        break;
    }
    case QW_TYPE_Q4_K:
    case QW_TYPE_Q5_K: {
        const int five = wt == QW_TYPE_Q5_K;
        const size_t bb = five ? sizeof(qw_block_q5_k) : sizeof(qw_block_q4_k);
        const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
        for (int64_t i = 0; i < K / QW_QK_K; i++) {
            const uint8_t *blk = (const uint8_t *)w + (size_t)i * bb;
            const uint16_t *dd = (const uint16_t *)blk;
            const uint8_t *qh = blk + 4 + QW_K_SCALE_SIZE, *qs = five ? qh + QW_QK_K / 8 : qh;
            const float d = h2f(dd[0]), dmin = h2f(dd[1]);
            __m256i hb = five ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
            uint32_t *Mp = (uint32_t *)M + 16 * MINS_VECS * i; // the panel's mins layout, below
            for (int j = 0; j < 8; j++) {
                uint8_t sc, m;
                qw_get_scale_min_k4(j, blk + 4, &sc, &m);
                S[16 * (8 * i + j)] = d * sc;
                if (j % 2 == 0) Mp[16 * (j / 2)] = m;
                else Mp[16 * (j / 2)] |= (uint32_t)m << 16;
            }
            M[16 * (MINS_VECS * i + 4)] = -dmin;
            for (int ch = 0; ch < 4; ch++) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * ch));
                __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if (five) {
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
                    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
                    hb = _mm256_srli_epi16(hb, 2);
                }
                _mm256_storeu_si256((__m256i *)(c + 256 * i + 64 * ch), lo);
                _mm256_storeu_si256((__m256i *)(c + 256 * i + 64 * ch + 32), hi);
            }
        }
        break;
    }
    case QW_TYPE_Q6_K: {
        const qw_block_q6_k *b = (const void *)w;
        const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
        for (int64_t i = 0; i < K / QW_QK_K; i++) {
            const float d = h2f(b[i].d);
            for (int g = 0; g < 16; g++) S[16 * (16 * i + g)] = d * b[i].scales[g];
            for (int h = 0; h < 2; h++) {
                const uint8_t *ql = b[i].ql + 64 * h;
                __m256i qh = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));
                __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
                uint8_t *o = c + 256 * i + 128 * h;
                _mm256_storeu_si256((__m256i *)o, _mm256_or_si256(_mm256_and_si256(l0, m4),
                                                                   _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)));
                _mm256_storeu_si256((__m256i *)(o + 32), _mm256_or_si256(_mm256_and_si256(l1, m4),
                                                                          _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)));
                _mm256_storeu_si256((__m256i *)(o + 64), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                                                          _mm256_and_si256(qh, m2)));
                _mm256_storeu_si256((__m256i *)(o + 96),
                                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                                    _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2)));
            }
        }
        break;
    }
    default: QW_ASSERT(!"qgemm: type without a panel unpacker");
    }
}


// The panel of rows [r0, r0 + nr) (nr <= 16; missing rows get zero codes and scales): codes as
// K/4 vectors of 16 dwords, then S as K/G vectors of 16 floats, then for Q4_K and Q5_K per super-block
// MINS_VECS vectors: 4 of the rows' mins as int16 pairs (sub-blocks 2p, 2p + 1 in dword p) and one of
// -dmin (f32). M has room for K/G vectors.
typedef struct {
    uint8_t *codes; // K * 16 bytes, 64-byte aligned
    float *S, *M;   // (K / G) * 16 each
    uint8_t *tmp;   // 16 rows of K codes
    size_t cap;
} panel;

static _Thread_local panel g_panel; // grown on demand per thread, kept for the next matmul

static int panel_reserve(panel *p, qw_type wt, int64_t K) {
    size_t need = (size_t)K * 16 * 2 + (size_t)(K / group_of(wt)) * 16 * 4 * 2;
    if (need <= p->cap) return 1;
    qw_free_aligned(p->codes);
    p->codes = qw_malloc_aligned(need);
    if (!p->codes) {
        p->cap = 0;
        return 0;
    }
    p->cap = need;
    return 1;
}

static void pack_panel(panel *p, qw_type wt, const char *W, int64_t r0, int nr, int64_t K) {
    const size_t rb = qw_type_row_bytes(wt, K);
    const int64_t ng = K / group_of(wt);
    p->tmp = p->codes + (size_t)K * 16;
    p->S = (float *)(p->tmp + (size_t)K * 16);
    p->M = p->S + ng * 16;
    memset(p->M, 0, sizeof(float) * (size_t)ng * 16);
    for (int r = 0; r < 16; r++) {
        if (r < nr) {
            unpack_row(wt, W + (size_t)(r0 + r) * rb, K, p->tmp + (size_t)r * K, p->S + r, p->M + r);
        } else {
            memset(p->tmp + (size_t)r * K, 0, (size_t)K);
            for (int64_t g = 0; g < ng; g++) p->S[16 * g + r] = 0;
        }
    }
    for (int64_t q = 0; q < K / 4; q += 16) { // 16 dwords (64 codes) of each row at a time
        __m512i v[16];
        __mmask16 m = K / 4 - q >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K / 4 - q)) - 1);
        for (int r = 0; r < 16; r++) v[r] = _mm512_maskz_loadu_epi32(m, p->tmp + (size_t)r * K + 4 * q);
        qw_transpose16(v);
        for (int i = 0; i < 16 && q + i < K / 4; i++) _mm512_store_si512(p->codes + 64 * (q + i), v[i]);
    }
}

// A panel straight from an r16 group (quant.h): its dwords already are the panel's, so only the codes
// are made unsigned bytes and the scales f32, for the types the decode kernels read (qw_r16_vnni_has).
static void pack_panel_r16(panel *p, qw_type wt, const uint8_t *g, int64_t K) {
    const int64_t ng = K / 32;
    p->tmp = p->codes + (size_t)K * 16;
    p->S = (float *)(p->tmp + (size_t)K * 16);
    p->M = p->S + ng * 16;
    __m512i *codes = (__m512i *)p->codes;
    if (wt == QW_TYPE_Q4_K) {
        const __m512i m4 = _mm512_set1_epi8(0x0F), byte0 = _mm512_set1_epi32(0xFF);
        const __m512i byte1 = _mm512_set1_epi32(0xFF00);
        for (int64_t i = 0; i < K / QW_QK_K; i++) {
            const uint8_t *blk = g + (size_t)i * 16 * 144;
            __m512 d, dmin;
            __m512i sc[2], m[2];
            q4k_d(blk, &d, &dmin);
            q4k_scales(blk, &sc[0], &sc[1], &m[0], &m[1]);
            for (int j = 0; j < 8; j++) {
                const __m512i s = _mm512_and_si512(_mm512_srli_epi32(sc[j / 4], 8 * (j % 4)), byte0);
                _mm512_store_ps(p->S + 16 * (8 * i + j), _mm512_mul_ps(d, _mm512_cvtepi32_ps(s)));
            }
            // min bytes (m0 m1 m2 m3) of a dword to the pairs (m0 | m1 << 16), (m2 | m3 << 16)
            float *Mi = p->M + 16 * MINS_VECS * i;
            for (int h = 0; h < 4; h++) {
                const __m512i u = _mm512_srli_epi32(m[h / 2], 16 * (h % 2)); // bytes m_2h', m_2h'+1 at the bottom
                _mm512_store_si512(Mi + 16 * h, _mm512_or_si512(_mm512_and_si512(u, byte0),
                                                                _mm512_slli_epi32(_mm512_and_si512(u, byte1), 8)));
            }
            _mm512_store_ps(Mi + 16 * 4, _mm512_sub_ps(_mm512_setzero_ps(), dmin));
            // nibble dword 8 ch + u: low nibbles are panel dword 64 i + 16 ch + u, high ones + 8
            for (int ch = 0; ch < 4; ch++)
                for (int u = 0; u < 8; u++) {
                    const __m512i q = _mm512_loadu_si512(blk + 256 + 64 * (8 * ch + u));
                    codes[64 * i + 16 * ch + u] = _mm512_and_si512(q, m4);
                    codes[64 * i + 16 * ch + 8 + u] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
                }
        }
        return;
    }
    const int kind = wt == QW_TYPE_Q4_0 ? K_Q4_0 : wt == QW_TYPE_IQ4_NL ? K_IQ4_NL : K_Q8_0;
    const int bb = kind == K_Q8_0 ? 34 : 18;
    memset(p->M, 0, sizeof(float) * (size_t)ng * 16);
    for (int64_t b = 0; b < ng; b++) {
        const uint8_t *d, *c;
        qw_r16_blk32(g, b, ng, bb, &d, &c);
        _mm512_store_ps(p->S + 16 * b, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)d)));
        codes32(kind, c, codes + 8 * b);
    }
}

// ---------------------------------------------------------------------------------------------------
// The tile: MR = 4 rows x NV vectors of 16 tokens (tokens in the lanes, as the BF16 GEMM), over all
// of K. Per 4 codes: NV activation loads and 4 weight-dword broadcasts feed 4 * NV vpdpbusd; per
// group, the int32 lanes are scaled into f32 by S[row] * d_x[token]. 24 accumulators + 3 x vectors.
#define MR 4
#define NV_MAX 3

// A panel's results for NV_MAX x 16 tokens as they leave the tiles: yb[v][row][token], lanes are tokens.
QW_INLINE void store_tile(int NV, __m512 fa[MR][NV_MAX], int r0, float *yb) {
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) _mm512_store_ps(yb + 16 * (16 * v + r0 + r), fa[r][v]);
}

// yb (above) to y[t][0 .. nr - 1], token t's rows N floats apart: 16 x 16 transposes, whole rows out.
// Written straight to y element by element, N a multiple of 1024 (q, o: 2048) put all of a tile's
// tokens in one L1 set and the scattered stores missed: 263 against 317 GFLOP/s at N = 2064.
static void flush_tile(const float *yb, int nr, int ntok, float *y, int64_t N) {
    const __mmask16 rm = (__mmask16)((1u << nr) - 1);
    for (int v = 0; 16 * v < ntok; v++) {
        __m512i t[16];
        for (int r = 0; r < 16; r++) t[r] = _mm512_load_si512(yb + 16 * (16 * v + r));
        qw_transpose16(t);
        for (int j = 0; j < 16 && 16 * v + j < ntok; j++)
            _mm512_mask_storeu_ps(y + (size_t)(16 * v + j) * N, rm, _mm512_castsi512_ps(t[j]));
    }
}

// 4 codes (dword q) of rows r0 .. r0 + MR - 1 into ia against the NV token vectors
QW_INLINE void group_step(int NV, const uint32_t *codes, int r0, const char *const *xv0, int64_t q,
                          __m512i ia[MR][NV_MAX]) {
    __m512i xv[NV_MAX];
#pragma GCC unroll 3
    for (int v = 0; v < NV; v++) xv[v] = _mm512_load_si512(xv0[v] + 64 * q);
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++) {
        const __m512i wb = _mm512_set1_epi32((int)codes[q * 16 + r0 + r]);
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) ia[r][v] = _mm512_dpbusd_epi32(ia[r][v], wb, xv[v]);
    }
}

// ia[r][v] = the int32 dots of group g: panel rows r0 + r (r < MR) with the 16 tokens of tile v, from
// -Z * code sums on. Per 4 codes: NV activation loads and MR weight-dword broadcasts feed MR * NV vpdpbusd.
QW_INLINE void group_dots(int NV, int G, const uint32_t *codes, int r0, const char *const *xv0, int64_t K, int64_t g,
                          __m512i ia[MR][NV_MAX]) {
#pragma GCC unroll 3
    for (int v = 0; v < NV; v++) {
        const __m512i c = _mm512_load_si512(xv0[v] + K * NT_MAX + 64 * g);
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) ia[r][v] = c;
    }
    // the steps written out, no loop: as a loop (unrolled or not) GCC 12 copied all accumulators to
    // other registers on every iteration, 24 moves per 12 vpdpbusd
    const int64_t q = g * (G / 4);
    group_step(NV, codes, r0, xv0, q, ia);
    group_step(NV, codes, r0, xv0, q + 1, ia);
    group_step(NV, codes, r0, xv0, q + 2, ia);
    group_step(NV, codes, r0, xv0, q + 3, ia);
    if (G == 32) {
        group_step(NV, codes, r0, xv0, q + 4, ia);
        group_step(NV, codes, r0, xv0, q + 5, ia);
        group_step(NV, codes, r0, xv0, q + 6, ia);
        group_step(NV, codes, r0, xv0, q + 7, ia);
    }
}

QW_INLINE void tile(int NV, int G, const panel *p, int r0, int64_t K, const char *x0, size_t tb, float *yb) {
    const int64_t ng = K / G;
    const uint32_t *codes = (const uint32_t *)p->codes;
    __m512 fa[MR][NV_MAX];
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) fa[r][v] = _mm512_setzero_ps();
    const char *xv0[NV_MAX];
    for (int v = 0; v < NV; v++) xv0[v] = x0 + v * tb;
    for (int64_t g = 0; g < ng; g++) {
        __m512i ia[MR][NV_MAX];
        group_dots(NV, G, codes, r0, xv0, K, g, ia);
        __m512 dxv[NV_MAX];
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) dxv[v] = _mm512_load_ps((const float *)(xv0[v] + K * NT_MAX + 64 * ng) + 16 * g);
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) {
            const __m512 S = _mm512_set1_ps(p->S[16 * g + r0 + r]);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++)
                fa[r][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[r][v]), _mm512_mul_ps(S, dxv[v]), fa[r][v]);
        }
    }
    store_tile(NV, fa, r0, yb);
}

// The K-quants (Q4_K, Q5_K, Q6_K): their activations have one d_x per 256, so a super-block's groups are
// summed in f32 without it, S * dot, the mins (header) and d_x are applied once per super-block: 1 op
// per group and accumulator where tile() spends 2. That takes a third set of accumulators, so NV <= 2
// here. Measured (gate/up, n = 512, one thread): Q4_K 82 -> 74 ms; with the integer mins 72 -> 70 ms.
#define NVK_MAX 2

QW_INLINE void tile_k(int NV, int G, int mins, const panel *p, int r0, int64_t K, const char *x0, size_t tb,
                      float *yb) {
    const int64_t ng = K / G, per_sb = QW_QK_K / G;
    const uint32_t *codes = (const uint32_t *)p->codes;
    __m512 fa[MR][NV_MAX], fs[MR][NV_MAX];
#pragma GCC unroll 4
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) fa[r][v] = fs[r][v] = _mm512_setzero_ps();
    const char *xv0[NV_MAX];
    for (int v = 0; v < NV; v++) xv0[v] = x0 + v * tb;
    for (int64_t g = 0; g < ng; g++) {
        __m512i ia[MR][NV_MAX];
        group_dots(NV, G, codes, r0, xv0, K, g, ia);
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++) {
            const __m512 S = _mm512_set1_ps(p->S[16 * g + r0 + r]);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) fs[r][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[r][v]), S, fs[r][v]);
        }
        if (g % per_sb != per_sb - 1) continue;
        // end of a super-block: its mins (header), then its d_x (the same in all its groups' runs)
        const int64_t sb = g / per_sb;
        if (mins) {
            const uint32_t *mp = (const uint32_t *)p->M + 16 * MINS_VECS * sb;
#pragma GCC unroll 4
            for (int r = 0; r < MR; r++) {
                __m512i mi[NVK_MAX];
#pragma GCC unroll 2
                for (int v = 0; v < NV; v++) mi[v] = _mm512_setzero_si512();
                for (int q = 0; q < 4; q++) {
                    const __m512i mw = _mm512_set1_epi32((int)mp[16 * q + r0 + r]);
#pragma GCC unroll 2
                    for (int v = 0; v < NV; v++) {
                        const __m512i sums = _mm512_load_si512(xv0[v] + K * NT_MAX + 64 * 2 * ng + 64 * (4 * sb + q));
                        mi[v] = _mm512_dpwssd_epi32(mi[v], mw, sums);
                    }
                }
                const __m512 ndmin = _mm512_set1_ps(((const float *)mp)[16 * 4 + r0 + r]);
#pragma GCC unroll 2
                for (int v = 0; v < NV; v++) fs[r][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mi[v]), ndmin, fs[r][v]);
            }
        }
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) {
            const __m512 dx = _mm512_load_ps((const float *)(xv0[v] + K * NT_MAX + 64 * ng) + 16 * g);
#pragma GCC unroll 4
            for (int r = 0; r < MR; r++) fa[r][v] = _mm512_fmadd_ps(fs[r][v], dx, fa[r][v]), fs[r][v] = _mm512_setzero_ps();
        }
    }
    store_tile(NV, fa, r0, yb);
}

#define TILE_CASES(G)                                                                                  \
    switch (nv) {                                                                                      \
    case 1: tile(1, G, p, r0, K, x0, tb, yb); break;                                     \
    case 2: tile(2, G, p, r0, K, x0, tb, yb); break;                                     \
    default: tile(3, G, p, r0, K, x0, tb, yb); break;                                    \
    }

static void rows(const qw_mm *mm, int64_t r1_0, int64_t r1_1) {
    const qw_type wt = mm->wtype;
    const int64_t K = mm->K, N = mm->N, n = mm->n, ntiles = (n + NT_MAX - 1) / NT_MAX;
    const size_t tb = qw_qgemm_tile_bytes(wt, K);
    panel *p = &g_panel;
    QW_ASSERT(panel_reserve(p, wt, K)); // a few hundred KB per thread, once
    const int G = group_of(wt);
    // r16 weights: each group back to 16 GGUF rows first (cheap next to n >= 8 tokens of dots)
    const size_t gb = 16 * qw_type_row_bytes(wt, K);
    char *grows = mm->r16 ? malloc(gb) : NULL;
    QW_ASSERT(!mm->r16 || grows);
    _Alignas(64) float yb[NV_MAX * 16 * NT_MAX] = {0}; // rows past a short panel's end stay 0
    for (int64_t r = r1_0; r < r1_1; r += 16) {
        int nr = r1_1 - r < 16 ? (int)(r1_1 - r) : 16;
        if (mm->r16 && qw_r16_vnni_has(wt) && wt != QW_TYPE_Q6_K && wt != QW_TYPE_Q5_K) {
            pack_panel_r16(p, wt, (const uint8_t *)mm->W + (size_t)(r / 16) * gb, K);
        } else if (mm->r16) {
            qw_r16_unpack_group(wt, (const char *)mm->W + (size_t)(r / 16) * gb, grows, K);
            pack_panel(p, wt, grows, 0, nr, K);
        } else {
            pack_panel(p, wt, mm->W, r, nr, K);
        }
        // 48 (32 for tile_k) tokens at a time (their activations stay in L2) past the panel's row groups
        const int kq = qw_act_kind_of(wt) == QW_ACT_Q8K, nvm = kq ? NVK_MAX : NV_MAX;
        for (int64_t tt = 0; tt < ntiles; tt += nvm) {
            int nv = ntiles - tt < nvm ? (int)(ntiles - tt) : nvm;
            int ntok = n - tt * NT_MAX < nvm * NT_MAX ? (int)(n - tt * NT_MAX) : nvm * NT_MAX;
            const char *x0 = (const char *)mm->work + (size_t)tt * tb;
            float *y = mm->y + tt * NT_MAX * N + r;
            for (int r0 = 0; r0 < nr; r0 += MR) {
                if (G == 16) { // Q6_K
                    if (nv == 1) tile_k(1, 16, 0, p, r0, K, x0, tb, yb);
                    else tile_k(2, 16, 0, p, r0, K, x0, tb, yb);
                } else if (kq) { // Q4_K, Q5_K: with mins
                    if (nv == 1) tile_k(1, 32, 1, p, r0, K, x0, tb, yb);
                    else tile_k(2, 32, 1, p, r0, K, x0, tb, yb);
                } else {
                    TILE_CASES(32)
                }
            }
            flush_tile(yb, nr, ntok, y, N);
        }
    }
    free(grows);
}

void qw_mm_plan_qgemm_vnni(qw_mm *mm) {
    // (below QW_QGEMM_VNNI_MIN_N the r16 decode kernels are faster; the row layout's dots are not)
    const int64_t min_n = mm->r16 && qw_r16_vnni_has(mm->wtype) ? QW_QGEMM_VNNI_MIN_N : QW_QGEMM_MIN_N;
    if (mm->n < min_n || qw_act_kind_of(mm->wtype) == QW_ACT_NONE) return;
    mm->prepare = prepare;
    mm->rows = rows;
    mm->row_align = 16;
}
