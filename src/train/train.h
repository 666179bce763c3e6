// train: training the Qwen2 architecture in f32, llm.c style: *_forward / *_backward pairs over float
// arrays, one parameter block and one gradient block, activations kept for backward; AdamW, schedules,
// LoRA, data (packed text, chat JSONL with answer-only loss), checkpoints that resume exactly, HF export.
#ifndef QW_TRAIN_H
#define QW_TRAIN_H

#include "model/model.h"

// Dimension legend: B sequences of T tokens (BT = B*T rows), C hidden, V vocab, L layers, NH query heads,
// KVH key/value heads, HD head_dim, QD = NH*HD, KVD = KVH*HD, F intermediate (FFN) size, R LoRA rank.

// ---------------------------------------------------------------------------------------------------
// ops: each *_forward writes its output; each *_backward ADDS into the gradients of its inputs and
// parameters (so callers zero them once per step). All f32, row-major; nth threads via qw_parallel.

// C (M, N) = alpha * op(A) op(B) + beta * C, row-major; op is a transpose when ta / tb is set. OpenBLAS
// when qwick was built with it (QW_HAVE_OPENBLAS), else a plain C version on qw_parallel.
void qw_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
             const float *B, int64_t ldb, float beta, float *C, int64_t ldc, int nth);
void qw_gemm_set_threads(int nth);
const char *qw_gemm_backend(void);

// out (BT, N) = inp (BT, K) W^T (W: (N, K)) + bias (N, may be NULL)
void qw_linear_forward(float *out, const float *inp, const float *w, const float *bias, int64_t BT, int64_t K,
                       int64_t N, int nth);
// dinp += dout W; dw += dout^T inp (skipped when dw is NULL: a frozen weight); dbias += column sums.
void qw_linear_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                        const float *w, int64_t BT, int64_t K, int64_t N, int nth);

// out = w * x / sqrt(mean(x^2) + eps) per row; rstd (BT) keeps 1/sqrt(...) for backward.
void qw_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int64_t BT, int64_t C,
                        float eps);
void qw_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                         const float *rstd, int64_t BT, int64_t C);

// The RoPE table for positions 0..T-1, as the forward computes it: (T, HD) cos | sin halves.
void qw_rope_table(float *tab, int T, int hd, double theta);
// In place over x (B*T, nh, hd), rotate_half layout (pairs i, i + hd/2); position of row b*T + t is t.
void qw_rope_forward(float *x, const float *tab, int B, int T, int nh, int hd);
// In place: dx = R^T dy.
void qw_rope_backward(float *dx, const float *tab, int B, int T, int nh, int hd);

// Causal GQA attention. q (BT, NH*HD), k, v (BT, KVH*HD) (q, k after RoPE); probs (B, NH, T, T) keeps
// the softmax for backward (only j <= t is written); out (BT, NH*HD).
void qw_attention_forward(float *out, float *probs, const float *q, const float *k, const float *v, int B, int T,
                          int nh, int nkv, int hd, int nth);
void qw_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs, const float *q,
                           const float *k, const float *v, int B, int T, int nh, int nkv, int hd, int nth);

// out = silu(gate) * up; backward adds into dgate and dup.
void qw_swiglu_forward(float *out, const float *gate, const float *up, int64_t n, int nth);
void qw_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n,
                        int nth);

// Cross-entropy of rows of logits (n, V) against targets: in place softmax (logits become probs),
// losses[i] = -log p[target]. Returns the sum of losses (double).
double qw_crossentropy_forward(float *probs_inout, float *losses, const int32_t *targets, int64_t n, int64_t V,
                               int nth);
// probs -> dlogits in place: (p - onehot(target)) * scale.
void qw_crossentropy_backward(float *probs_inout, const int32_t *targets, float scale, int64_t n, int64_t V,
                              int nth);

// ---------------------------------------------------------------------------------------------------
// the model

// What a trainable model looks like: every layer the same width (a pruned model with per-layer widths
// is refused by qw_tmodel_from_model).
typedef struct {
    int vocab, hidden, n_layers, n_heads, n_kv_heads, head_dim, ff, tied;
    float eps;
    double theta;
} qw_tshape;

enum { QW_LORA_Q, QW_LORA_K, QW_LORA_V, QW_LORA_O, QW_LORA_GATE, QW_LORA_UP, QW_LORA_DOWN, QW_LORA_N };
// Parses "q,k,v,o,gate,up,down" (or "all") into a bit mask of (1 << QW_LORA_*); -1 on a bad name.
int qw_lora_parse_targets(const char *s);

#define QW_TPARAMS_N 15
typedef struct {
    float *wte;     // (V, C) embedding; also lm_head when tied
    float *ln1;     // (L, C)
    float *wq;      // (L, QD, C)
    float *bq;      // (L, QD)
    float *wk;      // (L, KVD, C)
    float *bk;      // (L, KVD)
    float *wv;      // (L, KVD, C)
    float *bv;      // (L, KVD)
    float *wo;      // (L, C, QD)
    float *ln2;     // (L, C)
    float *wg;      // (L, F, C)
    float *wu;      // (L, F, C)
    float *wd;      // (L, C, F)
    float *lnf;     // (C)
    float *lm_head; // (V, C) when untied, NULL when tied
} qw_tparams;

// A named trainable array for the optimiser and checkpoints: n floats of value p, gradient g.
typedef struct {
    float *p, *g;
    size_t n;
    int decay; // AdamW weight decay applies (matrices and embeddings; not norms, biases)
} qw_tslot;

typedef struct {
    qw_tshape shape;
    qw_config config; // written on export (vocab, widths, ids, generation defaults)
    qw_tparams params, grads;
    float *params_mem, *grads_mem; // grads_mem is NULL while the base is frozen (LoRA)
    size_t n_params;
    size_t sizes[QW_TPARAMS_N];
    // LoRA: per target and layer A (R, in) and B (out, R); scale alpha / R. Zero rank: none.
    int lora_rank, lora_targets;
    float lora_scale;
    float *lora_mem, *lora_grad_mem;
    float *lora_a[QW_LORA_N], *lora_b[QW_LORA_N];   // (L, R, in), (L, out, R)
    float *lora_da[QW_LORA_N], *lora_db[QW_LORA_N];
    size_t n_lora;
    // what the optimiser updates
    qw_tslot *slots;
    int n_slots;
    size_t n_trainable;
    // activations for up to max_B x max_T
    int max_B, max_T, n_threads;
    float *acts_mem;
    float *resid;   // (L+1, BT, C) input of each layer; resid[L] is the final stream
    float *ln1, *ln1_rstd;  // (L, BT, C), (L, BT)
    float *q, *k, *v;       // (L, BT, QD), (L, BT, KVD) x2; q, k after RoPE
    float *probs;           // (L, B, NH, T, T)
    float *atty;            // (L, BT, QD)
    float *resid2;          // (L, BT, C) after the attention residual
    float *ln2, *ln2_rstd;  // (L, BT, C), (L, BT)
    float *gate, *up, *hact;// (L, BT, F)
    float *lnf, *lnf_rstd;  // (BT, C), (BT)
    float *lnf_active;      // (BT, C) the rows of lnf that count for the loss, gathered
    float *logits;          // (BT, V) of the active rows; softmax probs after forward, dlogits after backward
    float *losses;          // (BT)
    float *lora_xa;         // (L, QW_LORA_N, BT, R) x A^T of each adapter
    float *rope;            // (max_T, HD)
    // gradients of activations (scratch, reused by every layer)
    float *dmem;
    float *dresid, *dx2, *dln, *dq, *dk, *dv, *datty, *dgate, *dup, *dhact, *dxa;
    // the batch of the last forward
    int B, T;
    int64_t n_active;
    int64_t *active;   // (BT) rows that count for the loss
    int32_t *targets;  // (BT) target ids of the active rows
    const int32_t *tokens;
} qw_tmodel;

// A fresh model of config c's shape: N(0, 0.02) matrices and embeddings, norms 1, biases 0, from seed.
qw_status qw_tmodel_init_random(qw_tmodel *m, const qw_config *c, uint64_t seed);
// Copies a loaded model's weights (any float dtype) into f32.
qw_status qw_tmodel_from_model(qw_tmodel *m, const qw_model *src);
// LoRA adapters of rank R on the targets (mask of QW_LORA_*): A ~ U(-1/sqrt(in), 1/sqrt(in)) (as
// PEFT's kaiming init), B = 0, scale alpha / R; the base is frozen (its gradients are dropped).
qw_status qw_tmodel_add_lora(qw_tmodel *m, int rank, float alpha, int targets, uint64_t seed);
// Allocates activations for micro-batches up to B x T and sets up the optimiser's slots.
qw_status qw_tmodel_alloc(qw_tmodel *m, int B, int T, int n_threads);
void qw_tmodel_free(qw_tmodel *m);
void qw_tmodel_zero_grad(qw_tmodel *m);

// Forward over B x T tokens; targets (BT) with mask (BT, 0/1; NULL = all count). Returns the sum of the
// losses of the counted tokens and their number in *n_counted.
double qw_tmodel_forward(qw_tmodel *m, const int32_t *tokens, const int32_t *targets, const uint8_t *mask,
                         int B, int T, int64_t *n_counted);
// Backward of the last forward: gradients of loss_scale * (sum of counted losses) ADDED into the grads.
void qw_tmodel_backward(qw_tmodel *m, float loss_scale);
// Merges LoRA into the base (W += scale B A) and writes an HF directory: config.json,
// generation_config.json, model.safetensors (F32 or BF16), tokenizer files copied from tok_dir (may be NULL).
qw_status qw_tmodel_export(qw_tmodel *m, const char *dir, qw_type dtype, const char *tok_dir);

// ---------------------------------------------------------------------------------------------------
// optimiser: AdamW as torch.optim.AdamW (decoupled weight decay, bias correction, eps outside the sqrt)

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    float *m, *v; // (n_trainable)
    int64_t t;    // steps taken
} qw_adamw;

qw_status qw_adamw_init(qw_adamw *o, const qw_tmodel *m, float beta1, float beta2, float eps, float wd);
void qw_adamw_free(qw_adamw *o);
void qw_adamw_step(qw_adamw *o, qw_tmodel *m, float lr);
// Global L2 norm of every trainable gradient; when clip > 0 and the norm exceeds it, scales them by
// clip / (norm + 1e-6) as torch.nn.utils.clip_grad_norm_. Returns the norm before clipping.
double qw_clip_grad_norm(qw_tmodel *m, double clip);
// Linear warm-up over `warmup` steps, then cosine from lr to min_lr at step `total`.
float qw_lr_schedule(int64_t step, int64_t warmup, int64_t total, float lr, float min_lr);

// ---------------------------------------------------------------------------------------------------
// data: a list of sequences (token ids and a 0/1 loss mask), shuffled per epoch with a seed.

typedef struct {
    int64_t n_seq, n_tok;
    int64_t *off;    // (n_seq + 1) start of each sequence in tok/mask
    int32_t *tok;
    uint8_t *mask;   // 1: the token is a target (its loss counts)
    int seq_len;     // packed text: every sequence is seq_len + 1 tokens; JSONL: 0 (variable)
    int64_t n_skipped_long, n_skipped_empty;
    int32_t pad_id;
} qw_dataset;

// Plain text: the file is encoded (special tokens such as <|endoftext|> written in the text count), an
// <|endoftext|> (when the tokenizer has one) is appended, then cut into sequences of ctx + 1 tokens
// overlapping by one (inputs 0..ctx-1, targets 1..ctx). Empty file or fewer than ctx + 1 tokens: error.
qw_status qw_dataset_load_text(qw_dataset *d, const qw_tokenizer *tok, const char *path, int ctx);
// JSONL, one example per line: {"prompt": ..., "answer": ...} (optional "system") or {"messages": [{"role",
// "content"}, ...]}, rendered with the ChatML template; the loss counts on the assistant answers and their
// <|im_end|> only. A malformed line or an example without an answer is an error naming file and line;
// examples longer than ctx + 1 tokens are skipped and counted. Blank lines are ignored.
qw_status qw_dataset_load_jsonl(qw_dataset *d, const qw_tokenizer *tok, const char *path, int ctx);
// Either, by the file name: .jsonl / .json -> JSONL, anything else -> text.
qw_status qw_dataset_load(qw_dataset *d, const qw_tokenizer *tok, const char *path, int ctx);
void qw_dataset_free(qw_dataset *d);

// Fills a micro-batch of B sequences starting at global sequence index pos (epochs wrap; the order of
// epoch e is a permutation drawn from (seed, e); shuffle 0 keeps file order). Inputs and targets are
// (B, T) where T is the longest sequence of the batch minus one; shorter ones are padded with mask 0.
// Returns T. tokens, targets: (B * max_T); mask: (B * max_T).
typedef struct {
    uint64_t seed;
    int shuffle;
    int64_t epoch_cached;
    int64_t *perm;
} qw_data_order;
int qw_dataset_batch(const qw_dataset *d, qw_data_order *o, int64_t pos, int B, int32_t *tokens, int32_t *targets,
                     uint8_t *mask);
void qw_data_order_free(qw_data_order *o);

// ---------------------------------------------------------------------------------------------------
// checkpoints: the whole state that a resumed run needs to continue bit for bit. One file, written
// atomically (temp + rename), so a run killed while writing leaves the previous one intact.

typedef struct {
    int64_t step, data_pos;
    uint64_t seed;
    qw_rng rng;
} qw_train_progress;

qw_status qw_checkpoint_save(const char *path, const qw_tmodel *m, const qw_adamw *o, const qw_train_progress *p);
qw_status qw_checkpoint_load(const char *path, qw_tmodel *m, qw_adamw *o, qw_train_progress *p);

// ---------------------------------------------------------------------------------------------------
// the loop

typedef struct {
    int batch, accum, ctx;
    int64_t steps;       // optimiser steps (0: from epochs)
    double epochs;       // used when steps is 0
    float lr, min_lr, weight_decay, beta1, beta2, eps, clip;
    int64_t warmup;
    uint64_t seed;
    int shuffle;
    int64_t eval_every, eval_batches, log_every, ckpt_every;
    const char *ckpt_dir; // NULL: no checkpoints
    int resume;           // continue from ckpt_dir/checkpoint.bin when present
    int n_threads;
    int quiet;
    int64_t stop_after;   // testing: return after this many steps of this process (0: no limit)
    double *losses_out;   // optional: the loss of each step (steps entries), for tests
} qw_train_opts;

void qw_train_opts_default(qw_train_opts *o);
// Trains m on train (val may be NULL). Prints progress to stderr.
qw_status qw_train_run(qw_tmodel *m, const qw_dataset *train, const qw_dataset *val, const qw_train_opts *o);
// Mean loss over up to max_batches micro-batches of d (0: all of it), in file order.
double qw_train_eval(qw_tmodel *m, const qw_dataset *d, int B, int64_t max_batches, int64_t *n_tokens);

#endif
