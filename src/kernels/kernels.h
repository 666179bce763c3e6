// kernels: the CPU compute kernels (matmul by weight type, small vector helpers, a bandwidth probe)
// with run-time dispatch: a scalar specification, *_generic C versions and x86 overrides chosen once.
#ifndef QW_KERNELS_H
#define QW_KERNELS_H

#include "../tensor/tensor.h"

// ---------------------------------------------------------------------------------------------------
// CPU features and the dispatch level

typedef struct {
    int avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16, amx;
    // 512-bit operations run as two 256-bit halves (AMD Zen 4, and AMD parts whose cpuid reports a 256-bit
    // FP datapath): a fact kernels tune by, not a level (QWICK_ISA leaves it)
    int zmm_halves;
} qw_cpu_features;

// Dispatch levels, each a superset of the one below. AVX512 means F/BW/VL/DQ (Skylake-X class);
// AVX512_VNNI adds VNNI, for the quantized kernels (Cascade Lake, Ice Lake, and VMs that hide BF16);
// AVX512_BF16 adds BF16 for the bf16 matmuls (Zen 4, Sapphire Rapids, Cooper Lake); AMX adds the
// AMX-INT8/BF16 tiles (Sapphire Rapids and later, where the OS grants them) for the quantized GEMMs.
enum {
    QW_ISA_SCALAR = 0,
    QW_ISA_AVX2 = 1,
    QW_ISA_AVX512 = 2,
    QW_ISA_AVX512_VNNI = 3,
    QW_ISA_AVX512_BF16 = 4,
    QW_ISA_AMX = 5
};

// Features of this CPU (cpuid + xgetbv, so AVX-512 counts only where the OS saves zmm state), capped
// by the dispatch level: the env QWICK_ISA=scalar|avx2|avx512f|avx512vnni|avx512|amx caps it at start
// ("avx512" leaves out AMX, "avx512vnni" BF16 too, "avx512f" VNNI too, to exercise those paths where the
// CPU has more).
const qw_cpu_features *qw_cpu(void);
// Human-readable level for logs and bench reports, e.g. "avx512 (vnni bf16)".
const char *qw_cpu_describe(void);
// The level in force, and a setter for tests and benches: the level becomes min(level, what the CPU
// has); returns the level in force. Not thread-safe: call it while no kernel runs.
int qw_cpu_level(void);
int qw_cpu_max_level(void);
int qw_cpu_set_level(int level);
const char *qw_cpu_level_name(int level);
// Sets the datapath flag that kernels tune by (qw_cpu_features.zmm_halves), so that tests run both
// paths on one machine; returns the flag before. Not thread-safe, as qw_cpu_set_level.
int qw_cpu_set_zmm_halves(int halves);

// ---------------------------------------------------------------------------------------------------
// matmul: y[t*N + o] = sum_k W[o*K + k] * x[t*K + k]  for t < n, o < N.
// W: N rows of K elements of type wtype, rows contiguous: F32, F16 or BF16 at any 2-byte alignment
// (safetensors data), or a quantized type (Q8_0, Q4_0, IQ4_NL, Q4_K, Q5_K, Q6_K; K a multiple of its
// block) with GGUF's blocks at any alignment. x, y: f32, row-major. `work` is scratch of qw_matmul_work_size() bytes (may be
// NULL when that is 0; any alignment). The whole operation runs on nth threads via qw_parallel.
// F32 and F16 weights and the n == 1 BF16 path compute in f32 throughout. For BF16 weights and n >= 2
// the AVX512-BF16 path rounds x to bf16 (round to nearest even) and accumulates bf16 x bf16 products in
// f32 with vdpbf16ps, as PyTorch's and llama.cpp's bf16 paths do: relative error up to ~2^-9 of
// sum |w||x| instead of ~2^-24. Quantized weights: each token's x is quantized once to int8 blocks
// (qw_quantize_act_row, as llama.cpp does: relative error ~2^-8 per element of x) and the dots are
// integer per block, scaled in f32.
size_t qw_matmul_work_size(qw_type wtype, int64_t N, int64_t K, int64_t n);
void qw_matmul(qw_type wtype, const void *W, int64_t N, int64_t K, const float *x, int64_t n, float *y,
               void *work, int nth);
// The same for a model's matrix (type, data, shape {N, K}), in either layout (tensor.h): rows, or the
// r16 layout of quant.h, which only moves bytes: the integer block sums are those of the same blocks in
// rows, and only the order of their f32 scaling differs. qw_matmul_r16_fast says whether the level in force has integer kernels that
// read r16 directly (elsewhere r16 works, through a slower unpacking path).
void qw_matmul_w(const qw_tensor *w, const float *x, int64_t n, float *y, void *work, int nth);
int qw_matmul_r16_fast(qw_type t);
// y[i] = w[i] x on nth[i] threads for count matrices that read the same x (q, k, v; gate, up), with one
// work buffer sized for the largest: where consecutive ones have the same type, x is quantized (or
// converted) once.
void qw_matmul_w_many(const qw_tensor *const *w, int count, const float *x, int64_t n, float *const *y, void *work,
                      const int *nth);
// The scalar reference (the specification), single-threaded: weights widened (or dequantized) to f32
// exactly, products and sums in double, rounded to f32 once. x is used as given (not quantized).
void qw_matmul_ref(qw_type wtype, const void *W, int64_t N, int64_t K, const float *x, int64_t n,
                   float *y);

// ---------------------------------------------------------------------------------------------------
// small vector helpers for attention and norms, dispatched once

float qw_vec_dot_f32(int64_t n, const float *a, const float *b);
void qw_vec_axpy_f32(int64_t n, float alpha, const float *x, float *y); // y += alpha * x
void qw_vec_scale_f32(int64_t n, float alpha, float *y);                // y *= alpha
// a = silu(a) * b = a / (1 + e^-a) * b, SwiGLU's gate; within a few ulp of that formula in f32.
void qw_vec_silu_mul_f32(int64_t n, float *a, const float *b);
// qw_quantize_act_row (quant.h) at the level in force: the same bytes, faster.
void qw_act_quantize(qw_type wtype, const float *x, void *y, int64_t k);

// ---------------------------------------------------------------------------------------------------
// attention: R query rows of one KV head (a GQA group's heads, for one or several tokens of one
// sequence) against that head's keys and values. Row r attends to keys 0..last[r]:
//   out[r] = sum_j softmax_j(scale * q[r] . K[j]) V[j]
// K and V rows are ld floats apart (the cache's layout). Keys are walked in tiles of QW_ATTN_TILE with
// an online softmax, so the cost is one pass over K and V per call, shared by all R rows.
// scratch: qw_attn_scratch_floats(R, hd) floats, 64-byte aligned. R <= QW_ATTN_MAX_ROWS.
#define QW_ATTN_MAX_ROWS 64
#define QW_ATTN_TILE 64
size_t qw_attn_scratch_floats(int R, int hd);
void qw_attn_rows(int R, int hd, const float *const *q, const int32_t *last, const float *K, const float *V,
                  int64_t ld, float scale, float *const *out, float *scratch);
// The reference: exact two-pass softmax in double.
void qw_attn_rows_ref(int R, int hd, const float *const *q, const int32_t *last, const float *K, const float *V,
                      int64_t ld, float scale, float *const *out);

// ---------------------------------------------------------------------------------------------------
// Streaming read bandwidth with nth threads in GB/s (1e9 bytes/s): the best of `reps` passes of every read
// kernel of the current level and of the bf16 decode matvec over a fresh buffer of `bytes` in 2 MB pages
// (>= 1 GB recommended so no cache holds it): the ceiling is the best streaming kernel qwick has.
// Returns 0 if the buffer cannot be allocated.
double qw_measure_bandwidth(size_t bytes, int nth, int reps);

#endif
