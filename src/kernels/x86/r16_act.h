// kernels/x86/r16_act: what the r16 decode kernels of every ISA share (qr16_avx2.c, qr16_avx512vnni.c):
// where each token's quantized activations are, and the dispatch on the number of tokens (1 to
// QW_QDOT_NT_MAX) that share one unpacking of the weights. No vector code, so any ISA may include it.
#ifndef QW_R16_ACT_H
#define QW_R16_ACT_H

#include "../kernels_impl.h"

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

#endif
