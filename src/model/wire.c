// model/wire: wires the named tensors of a file into qw_model, for HF safetensors and GGUF alike.
#include "wire.h"

#include <stdlib.h>

const qw_tensor_names qw_names_hf = {
    "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
    "model.layers.%d.input_layernorm.weight",
    "model.layers.%d.self_attn.q_proj.weight", "model.layers.%d.self_attn.q_proj.bias",
    "model.layers.%d.self_attn.k_proj.weight", "model.layers.%d.self_attn.k_proj.bias",
    "model.layers.%d.self_attn.v_proj.weight", "model.layers.%d.self_attn.v_proj.bias",
    "model.layers.%d.self_attn.o_proj.weight", "model.layers.%d.post_attention_layernorm.weight",
    "model.layers.%d.mlp.gate_proj.weight", "model.layers.%d.mlp.up_proj.weight",
    "model.layers.%d.mlp.down_proj.weight",
};

const qw_tensor_names qw_names_gguf = {
    "token_embd.weight", "output_norm.weight", "output.weight",
    "blk.%d.attn_norm.weight",
    "blk.%d.attn_q.weight", "blk.%d.attn_q.bias",
    "blk.%d.attn_k.weight", "blk.%d.attn_k.bias",
    "blk.%d.attn_v.weight", "blk.%d.attn_v.bias",
    "blk.%d.attn_output.weight", "blk.%d.ffn_norm.weight",
    "blk.%d.ffn_gate.weight", "blk.%d.ffn_up.weight", "blk.%d.ffn_down.weight",
};

typedef struct {
    qw_model *m;
    qw_find_tensor_fn find;
    void *ctx;
    float *f32_next; // next free float in m->f32_block
    char name[128];
} wirer;

static const char *layer_name(wirer *w, const char *fmt, int l) {
    snprintf(w->name, sizeof w->name, fmt, l);
    return w->name;
}

static qw_status matrix(wirer *w, const char *name, int64_t rows, int64_t cols, qw_tensor *out) {
    const qw_tensor *t;
    QW_TRY(w->find(w->ctx, name, rows, cols, &t));
    *out = *t;
    w->m->weight_bytes += t->nbytes;
    w->m->n_params += rows * cols;
    return QW_OK;
}

static qw_status vector(wirer *w, const char *name, int64_t n, float **out) {
    const qw_tensor *t;
    QW_TRY(w->find(w->ctx, name, n, 0, &t));
    *out = w->f32_next;
    w->f32_next += n;
    qw_type_get(t->type)->to_float(t->data, *out, n);
    w->m->n_params += n;
    return QW_OK;
}

qw_status qw_model_wire(qw_model *m, const qw_tensor_names *nm, qw_find_tensor_fn find, void *ctx,
                        const char *path) {
    const qw_config *c = &m->config;
    int64_t h = c->hidden_size, hd = c->head_dim;
    // f32 vectors: per layer two norms and three biases, plus the final norm
    int64_t per_layer = 2 * h + (int64_t)(c->n_heads + 2 * c->n_kv_heads) * hd;
    m->f32_block = malloc(sizeof(float) * (size_t)(per_layer * c->n_layers + h));
    m->layers = calloc((size_t)c->n_layers, sizeof(qw_layer));
    if (!m->f32_block || !m->layers) return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    wirer w = {.m = m, .find = find, .ctx = ctx, .f32_next = m->f32_block};
    QW_TRY(matrix(&w, nm->embed, c->vocab_size, h, &m->tok_embd));
    m->weight_bytes -= m->tok_embd.nbytes; // a decode step reads one row of it, not the table
    for (int l = 0; l < c->n_layers; l++) {
        qw_layer *y = &m->layers[l];
        y->n_heads = c->n_heads;
        y->n_kv_heads = c->n_kv_heads;
        y->n_ff = c->intermediate_size;
        int64_t qd = (int64_t)y->n_heads * hd, kvd = (int64_t)y->n_kv_heads * hd;
        QW_TRY(vector(&w, layer_name(&w, nm->attn_norm, l), h, &y->attn_norm));
        QW_TRY(matrix(&w, layer_name(&w, nm->wq, l), qd, h, &y->wq));
        QW_TRY(vector(&w, layer_name(&w, nm->bq, l), qd, &y->bq));
        QW_TRY(matrix(&w, layer_name(&w, nm->wk, l), kvd, h, &y->wk));
        QW_TRY(vector(&w, layer_name(&w, nm->bk, l), kvd, &y->bk));
        QW_TRY(matrix(&w, layer_name(&w, nm->wv, l), kvd, h, &y->wv));
        QW_TRY(vector(&w, layer_name(&w, nm->bv, l), kvd, &y->bv));
        QW_TRY(matrix(&w, layer_name(&w, nm->wo, l), h, qd, &y->wo));
        QW_TRY(vector(&w, layer_name(&w, nm->ffn_norm, l), h, &y->ffn_norm));
        QW_TRY(matrix(&w, layer_name(&w, nm->w_gate, l), y->n_ff, h, &y->w_gate));
        QW_TRY(matrix(&w, layer_name(&w, nm->w_up, l), y->n_ff, h, &y->w_up));
        QW_TRY(matrix(&w, layer_name(&w, nm->w_down, l), h, y->n_ff, &y->w_down));
    }
    QW_TRY(vector(&w, nm->out_norm, h, &m->out_norm));
    if (c->tie_word_embeddings) {
        m->lm_head = m->tok_embd;
        m->weight_bytes += m->tok_embd.nbytes; // ...but all of it again as lm_head
        return QW_OK;
    }
    return matrix(&w, nm->lm_head, c->vocab_size, h, &m->lm_head);
}
