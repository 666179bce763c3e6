// model/wire: the one place that knows which tensors make a Qwen2 model and how they are shaped; the
// HF and GGUF loaders differ only in names and in how they find and check a tensor.
#ifndef QW_MODEL_WIRE_H
#define QW_MODEL_WIRE_H

#include "model.h"

// Tensor names of one file format. Per-layer names are printf formats taking the layer index.
typedef struct {
    const char *embed, *out_norm, *lm_head;
    const char *attn_norm, *wq, *bq, *wk, *bk, *wv, *bv, *wo, *ffn_norm, *w_gate, *w_up, *w_down;
} qw_tensor_names;

extern const qw_tensor_names qw_names_hf;   // model.layers.N.self_attn.q_proj.weight, ...
extern const qw_tensor_names qw_names_gguf; // blk.N.attn_q.weight, ...

// How a loader finds a tensor by name and checks it has shape (d0, d1) (d1 = 0 for a vector), with
// the error message its format calls for.
typedef qw_status (*qw_find_tensor_fn)(void *ctx, const char *name, int64_t d0, int64_t d1, const qw_tensor **out);

// Fills m->tok_embd, m->layers, m->out_norm, m->lm_head (tied when m->config says so), the f32 copies of
// norms and biases, weight_bytes and n_params, from m->config's shape. Matrices of any type are kept as
// views; vectors are converted to f32 with their type's to_float.
qw_status qw_model_wire(qw_model *m, const qw_tensor_names *names, qw_find_tensor_fn find, void *ctx,
                        const char *path);

// Copies the model's files into huge-page memory in place of their mappings (qw_mmap_make_resident),
// unless the environment sets QWICK_MMAP=1: decode streams every weight once per token, and the copy
// streams it 30-50% faster than 4 KB file pages. Done after wiring so a bad file fails before any copy.
qw_status qw_model_make_resident(qw_model *m);
// A GGUF with matrices of any type, even those without kernels (for qw_model_load_for_convert).
qw_status qw_model_load_gguf_any(qw_model **out, const char *path);

#endif
