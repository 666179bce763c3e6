// quant: post-training quantization methods on top of the GGUF block types: round to nearest (RTN), GPTQ
// (error compensation with the inverse Hessian, onto the exact grid of the target type), AWQ (activation-
// aware per-channel scales folded into the preceding op), mixed precision by sensitivity, and the
// layer-by-layer calibration driver that runs them on a whole model with bounded memory.
#ifndef QW_QUANTIZE_H
#define QW_QUANTIZE_H

#include "eval/eval.h"
#include "model/model.h"
#include "tensor/quant.h"

// ---------------------------------------------------------------------------------------------------
// grid (grid.c): the values a GGUF type can hold, one block at a time. A block's header (scales, mins)
// is chosen first from the values it should approximate (by the type's reference quantizer), then each
// element is rounded onto that header's grid on its own: this is what GPTQ needs, since it changes the
// not-yet-rounded elements of a block after the header is fixed.

// Elements per block whose header is chosen together: 32 (Q8_0, Q4_0, IQ4_NL) or 256 (K-quants).
int qw_grid_block(qw_type t);
// Sets the header of one block (block bytes at blk) from x[0 .. qw_grid_block(t)).
void qw_grid_choose(qw_type t, const float *x, void *blk);
// Rounds x to the nearest value element j of the block can take under its header, stores the code in the
// block and returns the value, bit-exactly what the type's dequantizer gives for it.
float qw_grid_round(qw_type t, void *blk, int j, float x);

// ---------------------------------------------------------------------------------------------------
// linear algebra (linalg.c), float matmuls from the kernels with double where sums get long.

// H(lower triangle) += scale * sum over the n rows x_t of x_t x_t^T, x: (n, dim) f32, H: (dim, dim) double.
// y (n, N) = x (n, K) W^T (N, K), f32 row-major, through qw_matmul with its scratch allocated here.
void qw_quant_mm(const float *W, int64_t N, int64_t K, const float *x, int64_t n, float *y, int nth);
void qw_quant_hessian_add(double *H, int64_t dim, const float *x, int64_t n, double scale, int nth);
// Mirrors the lower triangle of H into the upper one.
void qw_quant_hessian_symmetrize(double *H, int64_t dim);
// From the damped Hessian A (dim x dim f32, symmetric positive definite; overwritten) computes V, the
// lower-triangular transpose of the upper Cholesky factor U of A^-1 (U^T U = A^-1), into A's storage.
// Returns QW_ERR_ARG when A is not positive definite.
qw_status qw_quant_inverse_cholesky(float *A, int64_t dim, int nth);

// ---------------------------------------------------------------------------------------------------
// GPTQ (gptq.c): W (rows, cols) f32, overwritten with the quantized values (dequantized, f32); out gets
// rows * cols / qw_grid_block(type) blocks of the type, row by row, as GGUF stores them. H (cols, cols)
// double is the Hessian 2 X^T X / n of the layer's input (both triangles; overwritten). For each column
// in turn (by decreasing H diagonal with act_order), the header of the block it belongs to is chosen
// from the block's current, already error-updated values when the sweep first reaches the block; the
// column is rounded onto that grid and its error spread over the columns not yet rounded.

typedef struct {
    double percdamp; // dampening: this fraction of the mean diagonal is added to it (0.01)
    int block_size;  // lazy-update block (128; raised to the type's block when that is larger)
    int act_order;   // columns by decreasing H diagonal
    int n_threads;
} qw_gptq_params;

qw_status qw_gptq_quantize(float *W, int64_t rows, int64_t cols, double *H, qw_type type,
                           const qw_gptq_params *p, void *out);
// Round to nearest with the reference quantizer: W (rows, cols) overwritten with the dequantized values;
// out (may be NULL) gets the blocks.
void qw_rtn_quantize(float *W, int64_t rows, int64_t cols, qw_type type, void *out, int nth);

// ---------------------------------------------------------------------------------------------------
// AWQ (awq.c): for linears sharing one input X (n, cols), per input channel scales s = mean|x|^alpha
// (normalised so that max(s) * min(s) = 1), alpha searched on a grid of n_grid points in [0, 1): the one
// whose quantized layers (Q(W diag(s)) diag(s)^-1, each W in its own type) give the smallest squared
// error on X, measured on the linears' outputs, or with ffn on the FFN output down(silu(gate) * up) that
// gate and up (lin[0], lin[1]) feed, as llm-awq inspects the whole MLP: a plain sum of gate's and up's
// errors misweighs them (gate's pass through silu and both multiply). alpha = 0 (s = 1) is plain RTN,
// so the search never does worse on X. Returns the best alpha; s (cols) gets the scales; err_rtn /
// err_best (may be NULL) the errors.

typedef struct {
    float *W;  // (rows, cols) f32
    int64_t rows;
    qw_type type;
} qw_awq_linear;

typedef struct {
    const float *W_down; // (hidden, n_ff) f32, kept float in the search
    int64_t hidden, n_ff;
} qw_awq_ffn;

float qw_awq_search(const qw_awq_linear *lin, int n_lin, int64_t cols, const float *X, int64_t n,
                    const double *mean_abs, int n_grid, const qw_awq_ffn *ffn, float *s, double *err_rtn,
                    double *err_best, int nth);
// AWQ's clip search (llm-awq auto_clip) in place of RTN: for every row and block of the type, the header
// is chosen from the block's values clipped to ratio * max|w|, ratio in n_grid steps from 1 down to 0.5,
// and the values rounded onto it; the ratio kept is the one with the smallest output error
// (w - q)^T H_b (w - q), H_b the block's diagonal block of H (cols, cols, double; 2 X^T X / n of the
// input). Ratio 1 is the unclipped header, so no block does worse on X than rounding to nearest onto
// it. W (rows, cols) is overwritten with the values; out (may be NULL) gets the blocks.
void qw_awq_clip_quantize(float *W, int64_t rows, int64_t cols, qw_type type, const double *H, int n_grid, void *out,
                          int nth);
// Folding: W (rows, cols) columns times s; rows of W (and bias b when not NULL) divided by s (the
// preceding linear whose output is this input); a norm weight divided by s.
void qw_awq_scale_cols(float *W, int64_t rows, int64_t cols, const float *s);
void qw_awq_unscale_rows(float *W, float *b, int64_t rows, int64_t cols, const float *s);
void qw_awq_unscale_vec(float *w, int64_t n, const float *s);

// ---------------------------------------------------------------------------------------------------
// calibration text (calib.c): token sequences from a text file (split into n sequences of len tokens,
// evenly spread) or a task JSONL (each item chat-formatted with ChatML, prompt and answer, one sequence
// each, cut at len). The last part is held out for --eval: held_out gets up to n_eval sequences that the
// calibration never sees (the text's tail, the JSONL's last items).

typedef struct {
    int32_t **seq;
    int *len;
    int n;
} qw_calib_set;

qw_status qw_calib_load(const qw_model *m, const char *path, int n, int len, int n_eval, qw_calib_set *calib,
                        qw_calib_set *held_out);
void qw_calib_free(qw_calib_set *c);
int64_t qw_calib_tokens(const qw_calib_set *c);

// ---------------------------------------------------------------------------------------------------
// the whole model (pipeline.c)

typedef enum { QW_QMETHOD_RTN = 0, QW_QMETHOD_GPTQ, QW_QMETHOD_AWQ, QW_QMETHOD_AWQ_GPTQ } qw_qmethod;

// Matrices of a layer in a fixed order; QW_QT_EMBED and QW_QT_OUTPUT are the model's two others.
enum { QW_QT_Q = 0, QW_QT_K, QW_QT_V, QW_QT_O, QW_QT_GATE, QW_QT_UP, QW_QT_DOWN, QW_QT_PER_LAYER };
enum { QW_QT_EMBED = -1, QW_QT_OUTPUT = -2 };

// GGUF name of matrix `kind` of layer l ("blk.3.ffn_down.weight", "token_embd.weight") into buf.
const char *qw_qplan_name(char *buf, size_t n, int layer, int kind);

// Which type each matrix gets.
typedef struct {
    int n_layers;
    qw_type base;
    qw_type *layer; // (n_layers * QW_QT_PER_LAYER)
    uint8_t *kept;  // (n_layers * QW_QT_PER_LAYER) set by --keep: the bpw search leaves these alone
    qw_type embed, output; // output only matters when embeddings are untied
    uint8_t embed_kept, output_kept; // set by --keep embed / lm_head (both when tied)
} qw_qplan;

// Every matrix at base (or its per-tensor fallback when its rows are not whole blocks).
qw_status qw_qplan_init(qw_qplan *p, const qw_model *m, qw_type base);
void qw_qplan_free(qw_qplan *p);
// --keep: a comma-separated list of NAME[:TYPE] (TYPE defaults to q8_0). NAME is embed, lm_head, a
// matrix kind (attn_q, attn_k, attn_v, attn_output or attn_o, ffn_gate, ffn_up, ffn_down) for every
// layer, or blk.N.KIND for one layer. Errors name the bad item.
qw_status qw_qplan_keep(qw_qplan *p, const qw_model *m, const char *list);
// Bits per weight of the file the plan writes: every tensor's bytes (norms and biases F32) * 8 over the
// parameter count, as llama.cpp reports BPW.
double qw_qplan_bpw(const qw_qplan *p, const qw_model *m);
// The type of a matrix by its GGUF name (for qw_gguf_save_opts.tensor_type; ctx is the plan).
qw_type qw_qplan_tensor_type(void *ctx, const char *name, const qw_tensor *t);

typedef struct {
    qw_qmethod method;
    qw_gptq_params gptq;
    int awq_grid;        // alpha grid points (20)
    int awq_tokens;      // calibration tokens kept per input for the AWQ search and sensitivity (512)
    double bpw;          // > 0: upgrade the most sensitive matrices until the file has this many bits per weight
    int bpw_full;        // --bpw measures the KLD of every candidate type, not only of the base type (below)
    int n_threads;
    int verbose;
    int progress;        // draw a per-layer progress bar (on a terminal)
} qw_quant_params;

// What a run did, for the CLI's summary.
typedef struct {
    double seconds, bpw;
    size_t peak_rss;
    int64_t calib_tokens;
    double awq_alpha_mean;
    int n_upgraded; // matrices the bpw search moved above the base type
} qw_quant_report;

// The quantized model: the same config and tokenizer (borrowed from src, which must outlive it), its
// norms and biases (AWQ may have rescaled them) and every matrix in its planned type (pre-quantized, so
// qw_model_save_gguf with qw_qplan_tensor_type copies it). Free with qw_quant_model_free.
qw_status qw_quantize_model(const qw_model *src, const qw_calib_set *calib, qw_qplan *plan,
                            const qw_quant_params *p, qw_model **out, qw_quant_report *rep);
void qw_quant_model_free(qw_model *m);
// --bpw: spend bits where the calibration data says they buy the most: every matrix not kept, the
// embedding and lm_head included, is measured alone at its base type (KLD of the model's output against
// the float model's on calibration tokens, the matrix rounded to nearest); its KLD at each type of the
// ladder Q5_K, Q6_K, Q8_0 is that one scaled by the ratio of their local errors (rounding error weighted
// by the mean square of the matrix's input per column), or measured as well with p->bpw_full (four
// times the forwards). Then the matrices are upgraded greedily by KLD removed per extra bit while the
// file stays within p->bpw (plan updated in place).
qw_status qw_quant_allocate_bits(const qw_model *src, const qw_calib_set *calib, qw_qplan *plan,
                                 const qw_quant_params *p, qw_quant_report *rep);
// An F32 model whose matrices are q's matrices as the plan writes them, dequantized (every one, embeddings
// included; a matrix still in a float type is rounded to its planned type by the reference quantizer, as
// qw_model_save_gguf would write it): what the quantized file computes, exactly, run by the float engine.
// When the engine runs quantized GGUFs directly (integer kernels), --eval can load the written file
// instead. q is a qw_quantize_model result or the source model itself (RTN). Free with qw_quant_model_free.
qw_status qw_quant_dequantized_model(const qw_model *q, const qw_qplan *plan, int nth, qw_model **out);

#endif
