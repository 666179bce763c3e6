// kernels/x86/q6k_many_avx2: Q6_K matrices (rows layout: AVX2 has no r16 kernel for them) against many
// tokens at once (prefill, batched decode), for CPUs without AVX-512 VNNI.
//
// Each group of 16 rows is unpacked once per matmul into a panel: codes q (0..63) as unsigned bytes,
// dword u of the 16 rows side by side, each row's 16 scales as int16 pairs, and d. Then 16 rows x up to
// 4 tokens go past it as in the r16 kernels (qr16_avx2.c): one 8-row code vector against one token's
// activation dword broadcast, by vpmaddubsw. Codes up to 63 let 2 pair sums add up in int16 (2 * 2 *
// 63 * 127 < 2^15); vpmaddwd against the 16-element group's scale widens them into int32 to the end of
// the super-block. The offset 32 is taken off once per super-block: 32 * sum_g sc_g * (code sum of g),
// 8 vpmaddwd of scale pairs with sum pairs, as Q4_K's mins.
//
// Why: the row kernel (qdot_x86.h) ran at a third to a half of Q4_K's r16 speed on 128 tokens (one
// Zen 3 thread: 42-65 against 96-181 GFLOP/s as the VM's phase went), and llama.cpp's Q4_K_M holds
// ffn_down and attn_v of half the layers (and the output matrix) in Q6_K. This panel: 2.2x the row
// kernel, alternating in one phase (65.6 -> 141 GFLOP/s, q/o 2048 x 2048).
#include "r16_act.h"

#include "avx2_util.h"

#define QW_INLINE static inline __attribute__((always_inline))

// The panel of one group of 16 rows over K (a multiple of 256): per super-block sb, 64 vectors of 16
// code dwords, then per group g of 16 elements a run of 16 int32 sc | sc << 16, per super-block 8 runs
// of scale pairs (sc_2p | sc_2p+1 << 16) and one of d.
typedef struct {
    uint8_t *codes;    // K * 16
    int32_t *sc, *scp; // (K / 16) * 16; (K / 32) * 16
    float *d;          // (K / 256) * 16
    uint8_t *rows;     // 16 rows' codes in element order, 16 K (packing scratch)
    size_t cap;
} panel;

static _Thread_local panel g_panel; // grown on demand per thread, kept for the next matmul

static int panel_reserve(panel *p, int64_t K) {
    const size_t need = (size_t)K * 16 + (size_t)(K / 16) * 64 + (size_t)(K / 32) * 64 + (size_t)(K / 256) * 64 + (size_t)K * 16;
    if (need > p->cap) {
        qw_free_aligned(p->codes);
        p->codes = qw_malloc_aligned(need);
        p->cap = p->codes ? need : 0;
        if (!p->codes) return 0;
    }
    p->sc = (int32_t *)(p->codes + (size_t)K * 16);
    p->scp = p->sc + (K / 16) * 16;
    p->d = (float *)(p->scp + (K / 32) * 16);
    p->rows = (uint8_t *)(p->d + (K / 256) * 16);
    return 1;
}

static inline __m256i ld(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

// One row's codes in element order (GGUF's Q6_K: per half of 128, ql's low nibbles are elements 0-31
// and 32-63 and its high nibbles 64-95 and 96-127, with 2 bits each from qh).
static void unpack_row(const qw_block_q6_k *b, int64_t K, uint8_t *c) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    for (int64_t i = 0; i < K / QW_QK_K; i++)
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h;
            const __m256i qh = ld(b[i].qh + 32 * h), l0 = ld(ql), l1 = ld(ql + 32);
            uint8_t *o = c + 256 * i + 128 * h;
            _mm256_storeu_si256((__m256i *)o, _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)));
            _mm256_storeu_si256((__m256i *)(o + 32), _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)));
            _mm256_storeu_si256((__m256i *)(o + 64),
                                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2)));
            _mm256_storeu_si256((__m256i *)(o + 96), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                                                      _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2)));
        }
}

// Rows r0 .. r0 + 15 of W (rows past N: zero codes and scales; their outputs are not stored).
static void pack_panel(panel *p, const char *W, int64_t N, int64_t r0, int64_t K) {
    const size_t rb = qw_type_row_bytes(QW_TYPE_Q6_K, K);
    for (int r = 0; r < 16; r++) {
        uint8_t *c = p->rows + (size_t)r * K;
        if (r0 + r >= N) {
            memset(c, 0, (size_t)K);
            for (int64_t i = 0; i < K / QW_QK_K; i++) {
                p->d[16 * i + r] = 0;
                for (int g = 0; g < 16; g++) p->sc[16 * (16 * i + g) + r] = 0;
                for (int g = 0; g < 8; g++) p->scp[16 * (8 * i + g) + r] = 0;
            }
            continue;
        }
        const qw_block_q6_k *b = (const qw_block_q6_k *)(W + (size_t)(r0 + r) * rb);
        unpack_row(b, K, c);
        for (int64_t i = 0; i < K / QW_QK_K; i++) {
            p->d[16 * i + r] = _cvtsh_ss(b[i].d);
            for (int g = 0; g < 16; g++) {
                const uint32_t s = (uint16_t)(int16_t)b[i].scales[g];
                p->sc[16 * (16 * i + g) + r] = (int32_t)(s | s << 16);
            }
            for (int g = 0; g < 8; g++)
                p->scp[16 * (8 * i + g) + r] =
                    (int32_t)((uint32_t)(uint16_t)(int16_t)b[i].scales[2 * g] | (uint32_t)(uint16_t)(int16_t)b[i].scales[2 * g + 1] << 16);
        }
    }
    for (int hf = 0; hf < 2; hf++) // dword q of rows 8 hf .. 8 hf + 7 to codes + 64 q + 32 hf
        for (int64_t q = 0; q < K / 4; q += 8) {
            __m256 v[8];
            for (int i = 0; i < 8; i++) v[i] = _mm256_loadu_ps((const float *)(p->rows + (size_t)(8 * hf + i) * K + 4 * q));
            qw_transpose8(v);
            for (int j = 0; j < 8; j++) _mm256_store_ps((float *)(p->codes + 64 * (q + j) + 32 * hf), v[j]);
        }
}

// 16 rows x NT tokens (a: their activation rows, QW_ACT_Q8K) over all of K; y: token t's 16 at y + t ys.
QW_INLINE void group16(int NT, const panel *p, int64_t K, const qw_r16_act *a, float *y, int64_t ys) {
    __m256 acc_r[2][QW_QDOT_NT_MAX], (*acc)[QW_QDOT_NT_MAX] = acc_r;
    if (NT > 2) QW_IN_MEMORY(acc); // touched once per super-block; the registers go to the sums
    for (int t = 0; t < NT; t++) acc[0][t] = acc[1][t] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < K / QW_QK_K; sb++) {
        __m256i isum[2][QW_QDOT_NT_MAX];
        for (int t = 0; t < NT; t++) isum[0][t] = isum[1][t] = _mm256_setzero_si256();
        for (int g = 0; g < 16; g++) {
            const __m256i sc[2] = {_mm256_load_si256((const __m256i *)(p->sc + 16 * (16 * sb + g))),
                                   _mm256_load_si256((const __m256i *)(p->sc + 16 * (16 * sb + g) + 8))};
            __m256i s16[2][QW_QDOT_NT_MAX];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                const int64_t q = 64 * sb + 4 * g + i;
                const __m256i c[2] = {_mm256_load_si256((const __m256i *)(p->codes + 64 * q)),
                                      _mm256_load_si256((const __m256i *)(p->codes + 64 * q + 32))};
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) {
                    const __m256i xb = _mm256_set1_epi32(a[t].q[q]);
#pragma GCC unroll 2
                    for (int hf = 0; hf < 2; hf++) {
                        const __m256i pr = _mm256_maddubs_epi16(c[hf], xb);
                        s16[hf][t] = i % 2 == 0 ? pr : _mm256_add_epi16(s16[hf][t], pr);
                        QW_KEEP(s16[hf][t]);
                        if (i % 2) isum[hf][t] = _mm256_add_epi32(isum[hf][t], _mm256_madd_epi16(s16[hf][t], sc[hf]));
                    }
                }
            }
        }
        // the offset: isum - 32 * sum_g sc_g * (code sum of g); then acc += that * (d * d_x)
#pragma GCC unroll 2
        for (int hf = 0; hf < 2; hf++) {
            const __m256 d = _mm256_load_ps(p->d + 16 * sb + 8 * hf);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                const int32_t *s = a[t].s + 16 * sb; // code sums per 16
                __m256i m = _mm256_setzero_si256();
                for (int g = 0; g < 8; g++) {
                    const int32_t pair = (int32_t)((uint32_t)(uint16_t)s[2 * g] | (uint32_t)(uint16_t)s[2 * g + 1] << 16);
                    m = _mm256_add_epi32(m, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(p->scp + 16 * (8 * sb + g) + 8 * hf)),
                                                              _mm256_set1_epi32(pair)));
                }
                const __m256i i32 = _mm256_sub_epi32(isum[hf][t], _mm256_slli_epi32(m, 5));
                acc[hf][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(d, _mm256_set1_ps(a[t].d[sb])), acc[hf][t]);
            }
        }
    }
    for (int hf = 0; hf < 2; hf++)
        for (int t = 0; t < NT; t++) _mm256_storeu_ps(y + t * ys + 8 * hf, acc[hf][t]);
}

static void rows(const qw_mm *mm, int64_t r0, int64_t r1) {
    const int64_t K = mm->K, N = mm->N;
    panel *p = &g_panel;
    QW_ASSERT(panel_reserve(p, K)); // about 33 K bytes per thread, once; not recoverable in a parallel region
    for (int64_t r = r0; r < r1; r += 16) {
        pack_panel(p, mm->W, N, r, K);
        const int nr = r1 - r < 16 ? (int)(r1 - r) : 16;
        for (int64_t t0 = 0; t0 < mm->n; t0 += QW_QDOT_NT_MAX) {
            const int nt = mm->n - t0 < QW_QDOT_NT_MAX ? (int)(mm->n - t0) : QW_QDOT_NT_MAX;
            qw_r16_act a[QW_QDOT_NT_MAX];
            qw_r16_acts(mm, t0, nt, a);
            if (nr == 16) {
#define G16(NT) group16(NT, p, K, a, mm->y + t0 * N + r, N)
                QW_R16_NT_CASES(nt, G16)
            } else { // the matrix's last, short group: through a buffer
                float yb[QW_QDOT_NT_MAX * 16];
#define G16B(NT) group16(NT, p, K, a, yb, 16)
                QW_R16_NT_CASES(nt, G16B)
                for (int t = 0; t < nt; t++) memcpy(mm->y + (t0 + t) * N + r, yb + 16 * t, sizeof(float) * (size_t)nr);
            }
        }
    }
}

// From this many tokens on: the VNNI GEMM's threshold, not measured again here (decode, 1-4 tokens, keeps
// the row kernel, which reads each weight once without a panel).
#define MIN_N 8

void qw_mm_plan_q6k_many_avx2(qw_mm *mm) {
    if (mm->r16 || mm->wtype != QW_TYPE_Q6_K || mm->n < MIN_N) return;
    mm->prepare = qw_mm_prepare_quant;
    mm->rows = rows;
    mm->row_align = 16;
}
