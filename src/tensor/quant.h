// quant: the quantized block types exactly as GGUF lays them out (so llama.cpp runs what qwick writes),
// with a scalar reference quantizer and dequantizer per type that every faster kernel must match.
#ifndef QW_QUANT_H
#define QW_QUANT_H

#include "tensor.h"

// Element counts per block: the 32-element legacy/non-linear types and the 256-element K super-blocks.
#define QW_QK8_0 32
#define QW_QK4_0 32
#define QW_QK4_NL 32
#define QW_QK_K 256
#define QW_K_SCALE_SIZE 12

// Scales are IEEE half floats (ggml_half), stored as raw bits.
typedef uint16_t qw_half;

// Q8_0: x = d * q, q in [-127, 127].
typedef struct {
    qw_half d;
    int8_t qs[QW_QK8_0];
} qw_block_q8_0;
_Static_assert(sizeof(qw_block_q8_0) == 34, "Q8_0 block is 34 bytes in GGUF");

// Q4_0: x = d * (q - 8); element j in the low nibble of qs[j], element j + 16 in the high nibble.
typedef struct {
    qw_half d;
    uint8_t qs[QW_QK4_0 / 2];
} qw_block_q4_0;
_Static_assert(sizeof(qw_block_q4_0) == 18, "Q4_0 block is 18 bytes in GGUF");

// IQ4_NL: x = d * kvalues[q], a 16-entry non-uniform grid (the role NF4 plays in bitsandbytes);
// nibbles ordered as in Q4_0.
typedef struct {
    qw_half d;
    uint8_t qs[QW_QK4_NL / 2];
} qw_block_iq4_nl;
_Static_assert(sizeof(qw_block_iq4_nl) == 18, "IQ4_NL block is 18 bytes in GGUF");

// Q4_K: 8 sub-blocks of 32; x = d * sc[j] * q - dmin * m[j], with 6-bit sc/m packed in scales[12]
// (see qw_get_scale_min_k4). qs: per 64 elements, 32 bytes whose low nibbles are the first 32.
typedef struct {
    qw_half d;    // super-block scale of the sub-block scales
    qw_half dmin; // super-block scale of the sub-block mins
    uint8_t scales[QW_K_SCALE_SIZE];
    uint8_t qs[QW_QK_K / 2];
} qw_block_q4_k;
_Static_assert(sizeof(qw_block_q4_k) == 4 + QW_K_SCALE_SIZE + QW_QK_K / 2, "Q4_K block is 144 bytes");

// Q5_K: as Q4_K with a fifth bit per element in qh (bit 2*(j/64) or 2*(j/64)+1 of qh[j % 32]).
typedef struct {
    qw_half d;
    qw_half dmin;
    uint8_t scales[QW_K_SCALE_SIZE];
    uint8_t qh[QW_QK_K / 8];
    uint8_t qs[QW_QK_K / 2];
} qw_block_q5_k;
_Static_assert(sizeof(qw_block_q5_k) == 4 + QW_K_SCALE_SIZE + QW_QK_K / 8 + QW_QK_K / 2, "Q5_K is 176");

// Q6_K: 16 sub-blocks of 16; x = d * scales[j] * (q - 32), q 6 bits split into ql (4) and qh (2).
typedef struct {
    uint8_t ql[QW_QK_K / 2];
    uint8_t qh[QW_QK_K / 4];
    int8_t scales[QW_QK_K / 16];
    qw_half d;
} qw_block_q6_k;
_Static_assert(sizeof(qw_block_q6_k) == QW_QK_K / 2 + QW_QK_K / 4 + QW_QK_K / 16 + 2, "Q6_K is 210");

// The IQ4_NL grid, as GGUF defines it.
extern const int8_t qw_iq4nl_values[16];

// Sub-block j's 6-bit scale and min from a K-quant's packed scales[12].
static inline void qw_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// ---------------------------------------------------------------------------------------------------
// The 16-row interleaved layout ("r16"), for matrices in memory only (never in a file). Rows come in
// groups of 16 that keep their bytes (group g at g * 16 * row_bytes); inside a group, block b of all 16
// rows sits together (at b * 16 * block_bytes), arranged so that one 64-byte load gives one dword of each
// of the 16 rows: a type's lone f16 scale d (Q8_0, Q4_0, IQ4_NL, Q6_K) first, the 16 rows' d in row
// order (32 bytes); then the block's other bytes, in block order, cut into dwords, dword u of rows 0..15
// at 64 * u (after the d's). Q4_K and Q5_K have no lone d: all their bytes are dwords (the first holds
// d | dmin << 16). A kernel then computes 16 rows at once in the 16 int32 lanes of a zmm, with no
// horizontal sums, and the GEMM's row panels are these dwords as they are.
// The 32-element types with a leading d (Q8_0, Q4_0, IQ4_NL) go further: blocks come in super-groups of
// QW_R16_SG, the super-group's d's first (32 bytes a block) and then its blocks' dwords, so that a group
// is read as Q4_K's super-blocks are, a run of scales and then the codes on 64-byte boundaries. Streaming
// the lm_head shape from DRAM (kern_bench --r16 --n 1, Zen 5, 2 threads, three rounds alternating) Q4_0
// so took 2.76-2.81 ms against 3.31-3.49 with each block's d before its own codes (the same bytes), near
// Q4_K's time; whole-model decode 45-54 against 41-47 GB/s: see bench/RESULTS.md.
#define QW_R16_SG 8
int qw_r16_type_ok(qw_type t); // every quantized type qwick knows
// Where block b (of nb in a row, bb bytes each) of a Q8_0, Q4_0 or IQ4_NL r16 group at g keeps its 16
// rows' d (32 bytes) and its dwords (16 * (bb - 2) bytes).
static inline void qw_r16_blk32(const uint8_t *g, int64_t b, int64_t nb, int bb, const uint8_t **d,
                                const uint8_t **codes) {
    const int64_t s = b / QW_R16_SG * QW_R16_SG, n = nb - s < QW_R16_SG ? nb - s : QW_R16_SG;
    const uint8_t *base = g + (size_t)s * 16 * (size_t)bb;
    *d = base + 32 * (b - s);
    *codes = base + 32 * n + (size_t)(b - s) * 16 * (size_t)(bb - 2);
}
// In place, on nth threads: n_rows (a multiple of 16) rows of k elements, from rows to r16.
qw_status qw_r16_pack(qw_type t, void *data, int64_t n_rows, int64_t k, int nth);
// One group of 16 r16 rows back to 16 rows of GGUF blocks at rows (16 * row_bytes).
void qw_r16_unpack_group(qw_type t, const void *group, void *rows, int64_t k);
// Row `row` of an r16 matrix of k columns, dequantized.
void qw_r16_row_to_float(qw_type t, const void *data, int64_t k, int64_t row, float *out);

// Reference quantizers: k floats (a multiple of the type's block size) into k / block blocks at y.
// Deterministic and single-threaded; they define what qwick writes.
void qw_quantize_row_q8_0_ref(const float *x, void *y, int64_t k);
void qw_quantize_row_q4_0_ref(const float *x, void *y, int64_t k);
void qw_quantize_row_q4_k_ref(const float *x, void *y, int64_t k);
void qw_quantize_row_q5_k_ref(const float *x, void *y, int64_t k);
void qw_quantize_row_q6_k_ref(const float *x, void *y, int64_t k);
void qw_quantize_row_iq4_nl_ref(const float *x, void *y, int64_t k);

// Dequantizers: the specification of each type's values, bit-exact to GGUF's definition.
void qw_dequantize_row_q8_0(const void *x, float *y, int64_t k);
void qw_dequantize_row_q4_0(const void *x, float *y, int64_t k);
void qw_dequantize_row_q4_k(const void *x, float *y, int64_t k);
void qw_dequantize_row_q5_k(const void *x, float *y, int64_t k);
void qw_dequantize_row_q6_k(const void *x, float *y, int64_t k);
void qw_dequantize_row_iq4_nl(const void *x, float *y, int64_t k);

// ---------------------------------------------------------------------------------------------------
// Activations quantized on the fly for the integer dot kernels (never stored in a file). One row of k
// floats becomes int8 codes plus per-block scales and code sums, laid out as arrays (not blocks) so that
// SIMD loads of codes are contiguous and 64-byte aligned:
//   QW_ACT_Q8  for Q8_0, Q4_0, IQ4_NL (blocks of 32, as ggml's Q8_0):
//       qs[k] int8 | d[k/32] f32 | s[k/32] int32 (sum of the block's codes)
//   QW_ACT_Q8K for Q4_K, Q5_K, Q6_K (super-blocks of 256, as ggml's Q8_K):
//       qs[k] int8 | d[k/256] f32 | s[k/16] int32 (sum of each 16 codes: the K-quants' mins and
//       Q6_K's offset of 32 are applied through these sums instead of per element)
// Per block: d = max|x| / 127, q = round-to-nearest-even(x * (1/d)), so |q| <= 127 (never -128: the
// AVX2 kernels' sign trick needs |q| to fit int8). The code sums let a weight offset (Q4_0's 8, the
// zero points of the SIMD kernels) be subtracted once per block.
typedef enum { QW_ACT_NONE = 0, QW_ACT_Q8 = 1, QW_ACT_Q8K = 2 } qw_act_kind;

// The activation format a quantized weight type's dot kernels take (QW_ACT_NONE for float types).
qw_act_kind qw_act_kind_of(qw_type wtype);
// Elements per scale and per code sum of that format.
static inline int qw_act_block(qw_act_kind a) { return a == QW_ACT_Q8K ? QW_QK_K : 32; }
static inline int qw_act_sum_block(qw_act_kind a) { return a == QW_ACT_Q8K ? 16 : 32; }
// Bytes of one quantized row of k activations (k a multiple of the weight type's block), a multiple
// of 64 so that consecutive rows stay 64-byte aligned.
size_t qw_act_row_bytes(qw_type wtype, int64_t k);
static inline const int8_t *qw_act_qs(const void *row) { return (const int8_t *)row; }
static inline const float *qw_act_d(const void *row, int64_t k) { return (const float *)((const char *)row + k); }
static inline const int32_t *qw_act_s(const void *row, int64_t k, qw_act_kind a) {
    return (const int32_t *)((const char *)row + k + 4 * (k / qw_act_block(a)));
}
// Quantizes k activations for weights of type wtype into one row at y (qw_act_row_bytes bytes; any
// padding is zeroed). The specification: SIMD quantizers must give the same bytes.
void qw_quantize_act_row(qw_type wtype, const float *x, void *y, int64_t k);

// Reference dot products (the specification of every SIMD kernel): one weight row of k elements of
// the named type with one quantized activation row of the matching format. Integer sums per block are
// exact; the float combination of blocks is in block order.
float qw_vec_dot_q8_0_ref(int64_t k, const void *w, const void *a);
float qw_vec_dot_q4_0_ref(int64_t k, const void *w, const void *a);
float qw_vec_dot_iq4_nl_ref(int64_t k, const void *w, const void *a);
float qw_vec_dot_q4_k_ref(int64_t k, const void *w, const void *a);
float qw_vec_dot_q5_k_ref(int64_t k, const void *w, const void *a);
float qw_vec_dot_q6_k_ref(int64_t k, const void *w, const void *a);

#endif
