// kernels/x86/r16_act: what the r16 decode kernels of every ISA share (qr16_avx2.c, qr16_avx512vnni.c):
// where each token's quantized activations are, and the dispatch on the number of tokens (1 to
// QW_QDOT_NT_MAX) that share one unpacking of the weights, and their prefetch. No vector code past SSE's
// prefetch, so any ISA may include it.
#ifndef QW_R16_ACT_H
#define QW_R16_ACT_H

#include "../kernels_impl.h"

#include <xmmintrin.h>

typedef struct {
    const int32_t *q; // codes, as dwords
    const float *d;   // per activation block
    const int32_t *s; // code sums per block (QW_ACT_Q8) or per 16 (QW_ACT_Q8K)
} qw_r16_act;

// Tokens t0 .. t0 + nt - 1 of mm's work (qw_mm_prepare_quant's rows).
static inline void qw_r16_acts(const qw_mm *mm, int64_t t0, int nt, qw_r16_act *a) {
    const qw_act_kind ak = qw_act_kind_of(mm->wtype);
    const size_t ab = qw_act_row_bytes(mm->wtype, mm->K);
    for (int t = 0; t < nt; t++) {
        const char *row = (const char *)mm->work + (size_t)(t0 + t) * ab;
        a[t].q = (const int32_t *)row;
        a[t].d = qw_act_d(row, mm->K);
        a[t].s = qw_act_s(row, mm->K, ak);
    }
}

// call(NT) with NT the compile-time value of nt (1..4).
#define QW_R16_NT_CASES(nt, call)                                                                      \
    switch (nt) {                                                                                      \
    case 1: call(1); break;                                                                            \
    case 2: call(2); break;                                                                            \
    case 3: call(3); break;                                                                            \
    default: call(4); break;                                                                           \
    }

// One group of 16 rows (g) against nt tokens (a), results at y (token t's 16 at y + t * ys): the kernel
// file's dispatch on the weight type and nt. pf: how far past the block it reads a kernel that prefetches
// should, in bytes; 0 where the weights come from cache (the later passes over a group, or over all the
// rows for many tokens), where prefetches are only more instructions.
typedef void (*qw_r16_group_fn)(qw_type t, int nt, int64_t K, const uint8_t *g, const qw_r16_act *a, float *y,
                                int64_t ys, int pf);

// The prefetch distance of a single pass over the weights. Measured with the AVX2 kernels on Zen 3
// (kern_bench --n 1 --threads 2 --r16 --shape gate, five rounds alternating, best call): Q4_K 0.51 ->
// 0.40 ms, Q4_0 0.48 -> 0.38, Q8_0 0.85 -> 0.72; 768 to 3072 bytes did about the same. At 128 tokens
// the same prefetches cost 10%, hence pf = 0 there.
#define QW_R16_PF_BYTES 1536

// The n bytes lying `bytes` past p fetched into L1, a line at a time (bytes = 0: nothing).
static inline void qw_r16_prefetch(const uint8_t *p, int n, int bytes) {
    if (!bytes) return;
    for (int l = 0; l < n; l += 64) _mm_prefetch((const char *)p + bytes + l, _MM_HINT_T0);
}

// Up to this many chunks of QW_QDOT_NT_MAX tokens, qw_r16_rows takes each group past all of them.
#define QW_R16_FEW_CHUNKS 4

// The decode driver both ISAs' kernels share: tokens QW_QDOT_NT_MAX at a time past each 16-row group of
// rows [r0, r1) (one indirect call per group of 16 x K weights and chunk of tokens: nothing next to the
// group's work).
static inline void qw_r16_rows(const qw_mm *mm, int64_t r0, int64_t r1, qw_r16_group_fn group) {
    const int64_t K = mm->K, N = mm->N;
    const size_t gb = 16 * qw_type_row_bytes(mm->wtype, K);
    const int nchunks = (int)((mm->n + QW_QDOT_NT_MAX - 1) / QW_QDOT_NT_MAX);
    if (nchunks <= QW_R16_FEW_CHUNKS) {
        // Each group against all the tokens before the next group: the weights come from memory once,
        // the later passes over a group (16 x K: 18 KB for Q4_0 and K = 2048) from L1, and only the first
        // pass prefetches.
        qw_r16_act a[QW_R16_FEW_CHUNKS][QW_QDOT_NT_MAX];
        for (int c = 0; c < nchunks; c++) {
            const int64_t t0 = (int64_t)c * QW_QDOT_NT_MAX;
            qw_r16_acts(mm, t0, mm->n - t0 < QW_QDOT_NT_MAX ? (int)(mm->n - t0) : QW_QDOT_NT_MAX, a[c]);
        }
        for (int64_t r = r0; r < r1; r += 16) {
            const uint8_t *g = (const uint8_t *)mm->W + (size_t)(r / 16) * gb;
            for (int c = 0; c < nchunks; c++) {
                const int64_t t0 = (int64_t)c * QW_QDOT_NT_MAX;
                const int nt = mm->n - t0 < QW_QDOT_NT_MAX ? (int)(mm->n - t0) : QW_QDOT_NT_MAX;
                group(mm->wtype, nt, K, g, a[c], mm->y + t0 * N + r, N, c == 0 ? QW_R16_PF_BYTES : 0);
            }
        }
        return;
    }
    // Many tokens (AVX2's prompts: it has no GEMM): the tokens QW_QDOT_NT_MAX at a time past all the rows.
    for (int64_t t0 = 0; t0 < mm->n; t0 += QW_QDOT_NT_MAX) {
        const int nt = mm->n - t0 < QW_QDOT_NT_MAX ? (int)(mm->n - t0) : QW_QDOT_NT_MAX;
        qw_r16_act a[QW_QDOT_NT_MAX];
        qw_r16_acts(mm, t0, nt, a);
        for (int64_t r = r0; r < r1; r += 16)
            group(mm->wtype, nt, K, (const uint8_t *)mm->W + (size_t)(r / 16) * gb, a, mm->y + t0 * N + r, N, 0);
    }
}

#endif
