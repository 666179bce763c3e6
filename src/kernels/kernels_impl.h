// kernels_impl: what the generic and per-ISA kernel files share: the matmul plan that a level fills
// in, and the table of functions each level provides. Not for use outside src/kernels.
#ifndef QW_KERNELS_IMPL_H
#define QW_KERNELS_IMPL_H

#include "kernels.h"

#include "../tensor/quant.h"

// One matmul call. A level's plan function picks `prepare` (converts x into work once, before any
// row is computed; split over threads by token) and `rows` (all n outputs of rows [r0, r1)); the
// driver runs prepare on all threads, then splits the N rows in multiples of row_align.
typedef struct qw_mm qw_mm;
struct qw_mm {
    qw_type wtype;
    const void *W; // N x K of wtype
    int r16;       // W is in the 16-row interleaved layout of quant.h (N a multiple of 16)
    int64_t N, K;
    const float *x; // n x K
    int64_t n;
    float *y;   // n x N
    void *work; // 64-byte aligned scratch of qw_mm_work_bytes(), or NULL
    void (*prepare)(const qw_mm *mm, int ith, int nth);
    void (*rows)(const qw_mm *mm, int64_t r0, int64_t r1);
    int64_t row_align;
};

// x as bf16 for the vdpbf16ps paths (written by prepare):
// - n <= QW_BF16_ROWS_MAX: "rows" layout, token t at xb + t * kp32, kp32 = K rounded up to 32, zero
//   padded, so a 32-element load never needs a mask;
// - larger n: "packed" layout for the register-blocked GEMM, 16 tokens per group; group g holds for
//   each k pair p the 16 tokens' (x[2p], x[2p+1]) as one dword: 64 bytes per pair, kp32/2 pairs.
//   Tokens past n and k past K are zero.
#define QW_BF16_ROWS_MAX 4 // measured (gate/up, 2 threads): n = 8 takes 3.4 ms as rows, 1.9 ms in the GEMM
static inline int64_t qw_round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
size_t qw_mm_work_bytes(qw_type wtype, int64_t N, int64_t K, int64_t n);

typedef void (*qw_attn_fn)(int R, int hd, const float *const *q, const int32_t *last, const float *K,
                           const float *V, int64_t ld, float scale, float *const *out, float *scratch);
void qw_attn_rows_generic(int R, int hd, const float *const *q, const int32_t *last, const float *K,
                          const float *V, int64_t ld, float scale, float *const *out, float *scratch);
void qw_attn_rows_avx2(int R, int hd, const float *const *q, const int32_t *last, const float *K,
                       const float *V, int64_t ld, float scale, float *const *out, float *scratch);
void qw_attn_rows_avx512(int R, int hd, const float *const *q, const int32_t *last, const float *K,
                         const float *V, int64_t ld, float scale, float *const *out, float *scratch);

// Quantized weights: prepare quantizes each token's x once into work (qw_quantize_act_row rows of
// qw_act_row_bytes, token t at work + t * that), then rows run a multi-token dot per weight row:
// y[t * ys] = W row . activation row (a + t * as) for t < nt, with nt <= QW_QDOT_NT_MAX, so the row's
// blocks are loaded (and unpacked) once for nt tokens.
#define QW_QDOT_NT_MAX 4
typedef void (*qw_qdot_fn)(int64_t k, const void *w, const void *a, size_t as, int nt, float *y, int64_t ys);
void qw_mm_plan_quant(qw_mm *mm, qw_qdot_fn dot); // the prepare + rows pair above, for any level
void qw_mm_prepare_quant(const qw_mm *mm, int ith, int nth); // that prepare alone

// Decode against r16 matrices with VNNI (x86/qr16_avx512vnni.c), for the types qw_r16_vnni_has;
// other r16 types, and the scalar level, unpack each group of 16 rows and use the dots above.
int qw_r16_vnni_has(qw_type t);
void qw_mm_plan_r16_vnni(qw_mm *mm);
// The same with AVX2 (x86/qr16_avx2.c; AVX2 and AVX-512F levels), for every n: no AVX2 GEMM.
int qw_r16_avx2_has(qw_type t);
void qw_mm_plan_r16_avx2(qw_mm *mm);
// Q6_K in rows against many tokens with AVX2 (x86/q6k_many_avx2.c): a panel of 16 rows unpacked once.
void qw_mm_plan_q6k_many_avx2(qw_mm *mm);

// The fewest tokens any quantized GEMM takes; below, every level runs the decode kernels, and matmuls
// need no more work than the activation rows (qw_mm_work_bytes).
#define QW_QGEMM_MIN_N 8
// From this many tokens on, the AVX-512 VNNI level uses its GEMM (x86/qgemm_avx512vnni.c); below, the
// r16 decode kernels, which take each group of 16 rows past up to 16 tokens, 4 at a time from L1
// (r16_act.h). Intel Xeon at the avx512 level, 2 threads, lm_head 151936 x 2048 from DRAM: 16 tokens
// Q4_0 23.7 ms against the GEMM's 30.6, Q4_K 26.6 against 31.7, Q8_0 34.7 against 36.4. The GEMM's work
// holds the activations in tiles of QW_QGEMM_NT tokens: dword q (4 codes) of the tile's tokens side by
// side, then per group of 32 elements (16 for Q6_K) three runs of QW_QGEMM_NT values (see that file).
#define QW_QGEMM_VNNI_MIN_N 17
// From this many tokens on, the AMX level's int8 GEMM (x86/qgemm_amx.c) takes Q4_0, IQ4_NL and Q8_0:
// same machine and shape, Q4_0 12 tokens 19.1 ms with the decode kernels against 20.8, 16 tokens 24 against
// 21.5; Q8_0 8 tokens 22.3 against 24.1, 12 tokens 29.2 against 24.4.
static inline int64_t qw_qgemm_amx_min_n(qw_type wtype) { return wtype == QW_TYPE_Q8_0 ? 9 : 13; }
// From this many tokens on, the AMX level dequantizes Q8_0, Q4_0, IQ4_NL and Q4_K panels to bf16 once per
// matmul and multiplies in AMX-BF16 tiles (x86/qgemm_bf16_amx.c; activations as bf16, not int8); below,
// it takes the int8 AMX GEMM (Q4_K: the decode kernels; from DRAM, lm_head shape, 12 tokens 20.8 ms
// against 25.7, 16 tokens 26.9 against 25.3). Where bf16 and int8 cross, measured on an Intel Xeon
// (gate/up, 2 threads, kern_bench --r16 --isa amx): Q4_K's bf16 GEMM is faster from 8 tokens (1.5
// against 1.7 ms; 48: 2.0 against 2.8), Q4_0's from 32 (1.7 against 1.75; 16: 1.65 against 1.2), Q8_0's
// from 48 (2.4 against 2.5).
static inline int64_t qw_qgemm_bf16_min_n(qw_type wtype) {
    return wtype == QW_TYPE_Q4_K ? 13 : wtype == QW_TYPE_Q8_0 ? 48 : 32;
}
void qw_mm_plan_qgemm_amx_bf16(qw_mm *mm);
#define QW_QGEMM_NT 16
static inline size_t qw_qgemm_tile_bytes(qw_type wtype, int64_t K) {
    int64_t groups = K / (wtype == QW_TYPE_Q6_K ? 16 : 32);
    return (size_t)(K * QW_QGEMM_NT + groups * 3 * 4 * QW_QGEMM_NT);
}
static inline size_t qw_qgemm_work_bytes(qw_type wtype, int64_t K, int64_t n) {
    return (size_t)((n + QW_QGEMM_NT - 1) / QW_QGEMM_NT) * qw_qgemm_tile_bytes(wtype, K);
}
void qw_mm_plan_qgemm_vnni(qw_mm *mm);

// The functions one dispatch level provides. A NULL entry falls back to the level below.
typedef struct {
    void (*mm_plan)(qw_mm *mm); // may leave mm->rows NULL to decline (type or shape it lacks)
    qw_qdot_fn qdot[QW_TYPE_COUNT]; // quantized weight type x its activation format
    float (*dot)(int64_t n, const float *a, const float *b);
    void (*axpy)(int64_t n, float alpha, const float *x, float *y);
    void (*scale)(int64_t n, float alpha, float *y);
    qw_attn_fn attn; // qw_attn_rows for hd a multiple of 16
    void (*silu_mul)(int64_t n, float *a, const float *b);
    void (*act_quant)(qw_type wtype, const float *x, void *y, int64_t k); // qw_quantize_act_row's bytes
    // Read kernels: each reads bytes (a multiple of 4096, 64-byte aligned) once; the result only
    // defeats dead-code elimination. qw_measure_bandwidth reports the best of them.
    uint64_t (*read[4])(const void *p, size_t bytes);
} qw_kernel_table;

extern const qw_kernel_table qw_kernels_generic;
extern const qw_kernel_table qw_kernels_avx2;
extern const qw_kernel_table qw_kernels_avx512;
extern const qw_kernel_table qw_kernels_avx512vnni;
extern const qw_kernel_table qw_kernels_avx512bf16;
extern const qw_kernel_table qw_kernels_amx;
// Asks the OS for the AMX tile state (Linux: arch_prctl); 0 where it is refused (x86/qgemm_amx.c).
int qw_amx_enable(void);

// What is in force (chosen by qw_cpu at first use, again by qw_cpu_set_level): the vector and read
// kernels resolved to the highest level that has them, and the matmul planners highest level first.
typedef struct {
    void (*mm_plan[QW_ISA_AMX + 1])(qw_mm *mm); // one per level at most
    int n_plan;
    qw_qdot_fn qdot[QW_TYPE_COUNT];
    float (*dot)(int64_t n, const float *a, const float *b);
    void (*axpy)(int64_t n, float alpha, const float *x, float *y);
    void (*scale)(int64_t n, float alpha, float *y);
    qw_attn_fn attn;
    void (*silu_mul)(int64_t n, float *a, const float *b);
    void (*act_quant)(qw_type wtype, const float *x, void *y, int64_t k);
    uint64_t (*read[4])(const void *p, size_t bytes);
} qw_kernel_active;
const qw_kernel_active *qw_kernels(void);

void qw_mm_plan_generic(qw_mm *mm);

// Per-type multi-token dots of each level (qdot.c: generic; x86/qdot_*.c).
#define QW_QDOT_DECLARE(isa)                                                                           \
    void qw_qdot_q8_0_##isa(int64_t, const void *, const void *, size_t, int, float *, int64_t);      \
    void qw_qdot_q4_0_##isa(int64_t, const void *, const void *, size_t, int, float *, int64_t);      \
    void qw_qdot_iq4_nl_##isa(int64_t, const void *, const void *, size_t, int, float *, int64_t);    \
    void qw_qdot_q4_k_##isa(int64_t, const void *, const void *, size_t, int, float *, int64_t);      \
    void qw_qdot_q5_k_##isa(int64_t, const void *, const void *, size_t, int, float *, int64_t);      \
    void qw_qdot_q6_k_##isa(int64_t, const void *, const void *, size_t, int, float *, int64_t);
#define QW_QDOT_TABLE(isa)                                                                             \
    {[QW_TYPE_Q8_0] = qw_qdot_q8_0_##isa, [QW_TYPE_Q4_0] = qw_qdot_q4_0_##isa,                          \
     [QW_TYPE_IQ4_NL] = qw_qdot_iq4_nl_##isa, [QW_TYPE_Q4_K] = qw_qdot_q4_k_##isa,                      \
     [QW_TYPE_Q5_K] = qw_qdot_q5_k_##isa, [QW_TYPE_Q6_K] = qw_qdot_q6_k_##isa}
QW_QDOT_DECLARE(generic)
QW_QDOT_DECLARE(avx2)
QW_QDOT_DECLARE(vnni)

#endif
