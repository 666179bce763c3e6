// model: the Qwen2 network: weights (mmapped views), a KV cache shared by many sequences, a batch of
// tokens from any of them, and one forward that serves prefill, decode and continuous batching alike.
#ifndef QW_MODEL_H
#define QW_MODEL_H

#include "base/base.h"
#include "io/io.h"
#include "tensor/tensor.h"
#include "tok/tok.h"

// One transformer block. Widths are per layer so that pruning can change them layer by layer.
// Matrices are views into the model file's mapping (never copied); small vectors are f32 copies.
typedef struct {
    int n_heads, n_kv_heads, n_ff;
    float *attn_norm; // (hidden)
    qw_tensor wq;     // (n_heads * head_dim, hidden)
    qw_tensor wk;     // (n_kv_heads * head_dim, hidden)
    qw_tensor wv;     // (n_kv_heads * head_dim, hidden)
    float *bq;        // (n_heads * head_dim)
    float *bk, *bv;   // (n_kv_heads * head_dim)
    qw_tensor wo;     // (hidden, n_heads * head_dim)
    float *ffn_norm;  // (hidden)
    qw_tensor w_gate; // (n_ff, hidden)
    qw_tensor w_up;   // (n_ff, hidden)
    qw_tensor w_down; // (hidden, n_ff)
} qw_layer;

typedef struct {
    qw_config config;
    qw_tensor tok_embd; // (vocab, hidden)
    qw_tensor lm_head;  // (vocab, hidden); the same view as tok_embd when embeddings are tied
    float *out_norm;    // (hidden)
    qw_layer *layers;   // (n_layers)
    qw_tokenizer *tok;  // NULL when the model folder has no tokenizer.json
    qw_safetensors st;  // owns the mappings the matrices point into (HF folder)
    qw_gguf gguf;       // ...or the GGUF file's mapping (model loaded from a .gguf)
    float *f32_block;   // owns every f32 vector above
    size_t weight_bytes; // bytes one decode step streams: every matrix but the embedding table, plus lm_head
    int64_t n_params;
    char *path;
    // The first matrix of a quantized type (GGUF), or NULL: calibrated quantization starts from floats.
    const qw_tensor *quantized_tensor;
    // Set only by qw_model_load_for_convert: the first matrix of a quantized type that qwick has no
    // integer kernels for. Such a model can be written again (qw_model_save_gguf dequantizes or
    // requantizes) but not run: qw_state_init refuses it. (Every quantized type qwick knows has kernels.)
    const qw_tensor *unrunnable_tensor;
} qw_model;

// Loads an HF directory (config.json, safetensors or shards, optional tokenizer.json and
// generation_config.json). Every shape and dtype is checked against config.json before anything runs.
// A GGUF file (llama.cpp's qwen2 metadata and tensor names) loads the same way: every shape is checked
// against its metadata; quantized matrices (Q8_0, Q4_0, IQ4_NL, Q4_K, Q5_K, Q6_K) stay in the mapping
// and run on the integer kernels, token_embd included (its rows are dequantized one at a time).
// Once checked, the weights are copied into huge pages (see qw_model_make_resident in wire.h).
qw_status qw_model_load(qw_model **out, const char *path);
// A GGUF as qw_model_load reads it, left in its file mapping.
qw_status qw_model_load_gguf(qw_model **out, const char *path);
// As qw_model_load, but the weights stay in their file mappings (a tool that reads each weight once, and
// may drop pages it is done with) and a GGUF's matrices may be of any type (`qwick convert`: Q4_K -> F32).
qw_status qw_model_load_for_convert(qw_model **out, const char *path);
void qw_model_free(qw_model *m);

// Writes m as GGUF (llama.cpp's qwen2 metadata, tensor names and tokenizer) atomically. 2-D weights
// get `type` (quantized ones by round to nearest with the reference quantizers; a matrix whose rows
// are not whole blocks falls back to Q8_0, then F16, with a warning); norms and biases stay F32.
typedef struct {
    qw_type type;
    const char *name;          // general.name, or NULL
    const char *chat_template; // tokenizer.chat_template (Jinja, as tokenizer_config.json holds it), or NULL
    int n_threads;             // 0: qw_threads_default()
    // Optional: the type of each matrix (by its GGUF name; t is the model's tensor), instead of `type` for
    // all (mixed precision). A matrix already of the type returned is copied as it is (pre-quantized
    // tensors, as `qwick quantize` makes them); `type` still names the file's general.file_type.
    qw_type (*tensor_type)(void *ctx, const char *name, const qw_tensor *t);
    void *tensor_type_ctx;
} qw_gguf_save_opts;
qw_status qw_model_save_gguf(const qw_model *m, const char *path, const qw_gguf_save_opts *o);
// The type a matrix is written in: want, unless its rows are not whole blocks of it; then Q8_0 (32-element
// blocks), then F16, with a warning naming the tensor (llama.cpp's per-tensor fallback).
qw_type qw_model_matrix_type(const qw_tensor *t, qw_type want, const char *name);
int qw_model_is_eos(const qw_model *m, int32_t tok);
// Bytes of the files the weights come from (safetensors shards or the GGUF file): the model's size on disk.
size_t qw_model_file_bytes(const qw_model *m);
// Bits per weight of the tensors alone (every matrix at its type's block size, vectors at the width the
// file stores them), not the file: a small model's GGUF carries a tokenizer that would count otherwise.
double qw_model_bits_per_weight(const qw_model *m);
// The ids that end a reply: the eos ids of config/generation_config plus ChatML's <|im_end|> and
// <|endoftext|> when the tokenizer has them. Returns how many were written (at most cap).
int qw_model_stop_tokens(const qw_model *m, int32_t *out, int cap);

// ---------------------------------------------------------------------------------------------------
// A batch: tokens from one or several sequences, each with its position and sequence id, and whether
// its logits are wanted. Positions of one sequence must be filled in order: a token at position p
// attends to positions 0..p of its sequence, all of which are in the cache or earlier in this batch.

typedef struct {
    int n_tokens, capacity;
    int32_t *token;  // (capacity)
    int32_t *pos;    // (capacity)
    int32_t *seq;    // (capacity)
    int8_t *logits;  // (capacity) 1 = compute this token's logits
} qw_batch;

qw_status qw_batch_init(qw_batch *b, int capacity);
void qw_batch_free(qw_batch *b);
void qw_batch_clear(qw_batch *b);
// Returns 0 when the batch is full.
int qw_batch_add(qw_batch *b, int32_t token, int32_t pos, int32_t seq, int want_logits);
int qw_batch_n_logits(const qw_batch *b);

// ---------------------------------------------------------------------------------------------------
// KV cache: per layer, per sequence slot, n_ctx positions of keys and values in f32.

typedef struct {
    int n_layers, n_seq, n_ctx, head_dim;
    size_t *layer_offset; // (n_layers) offset of layer l in k/v, in floats
    int *kv_dim;          // (n_layers) n_kv_heads * head_dim of layer l
    float *k, *v;
    size_t bytes;
} qw_kv_cache;

qw_status qw_kv_cache_init(qw_kv_cache *kv, const qw_model *m, int n_seq, int n_ctx);
void qw_kv_cache_free(qw_kv_cache *kv);

// ---------------------------------------------------------------------------------------------------
// Activations for batches of up to max_tokens tokens. One per thread of control (not shared).

typedef struct {
    int max_tokens, n_threads;
    float *x;      // (max_tokens, hidden) residual stream
    float *xb;     // (max_tokens, hidden) normed input / projections out
    float *q;      // (max_tokens, max q_dim)
    float *k, *v;  // (max_tokens, max kv_dim)
    float *att;    // (max_tokens, max q_dim) attention output
    float *hb;     // (max_tokens, max n_ff)
    float *hb2;    // (max_tokens, max n_ff)
    float *rope;   // (max_tokens, head_dim) cos | sin per token
    float *scores; // (n_threads, qw_attn_scratch_floats(QW_ATTN_MAX_ROWS, head_dim)) attention scratch
    int scores_ctx; // positions must stay below this (the n_ctx the state was made for)
    void *blocks;   // (max_tokens) attention blocks of the batch
    void *work;    // matmul scratch
    size_t work_bytes;
    size_t bytes;
} qw_state;

qw_status qw_state_init(qw_state *s, const qw_model *m, int max_tokens, int n_ctx, int n_threads);
void qw_state_free(qw_state *s);

// Runs the batch through the model: writes its keys and values into kv and, for every token whose
// logits flag is set, in batch order, one row of vocab_size floats into logits (which must have room
// for qw_batch_n_logits(b) rows). The batch may hold at most s->max_tokens tokens.
qw_status qw_forward(const qw_model *m, qw_state *s, qw_kv_cache *kv, const qw_batch *b, float *logits);

// The same forward in its three steps, for tools that walk a model one layer at a time (quantization
// calibration keeps every calibration token's residual stream and runs it through one layer, possibly a
// modified copy y of layer l with f32 matrices). begin checks the batch, writes the embedding rows into
// s->x and the RoPE table; layer runs block y (at cache layer l) over s->x in place, copying the inputs
// of its linears into the capture buffers that are not NULL; end writes the logits as qw_forward does.
typedef struct {
    float *attn_in; // (n_tokens, hidden) normed input of q/k/v
    float *o_in;    // (n_tokens, n_heads * head_dim) attention output, input of o_proj
    float *ffn_in;  // (n_tokens, hidden) normed input of gate/up
    float *down_in; // (n_tokens, n_ff) silu(gate) * up, input of down_proj
} qw_layer_capture;
qw_status qw_forward_begin(const qw_model *m, qw_state *s, const qw_kv_cache *kv, const qw_batch *b);
void qw_forward_layer(const qw_model *m, const qw_layer *y, int l, qw_state *s, qw_kv_cache *kv, const qw_batch *b,
                      const qw_layer_capture *cap);
void qw_forward_end(const qw_model *m, qw_state *s, const qw_batch *b, float *logits);

#endif
