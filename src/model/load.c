// model/load: builds a qw_model from a Hugging Face directory, checking every tensor's presence, dtype
// and shape against config.json so that a wrong file fails here, with its name, not mid-forward.
#include "model.h"

#include <stdlib.h>

typedef struct {
    qw_model *m;
    const char *dir;
    float *f32_next; // next free float in m->f32_block
} loader;

static const char *dtype_name(qw_type t) {
    return t == QW_TYPE_F32 ? "float32" : t == QW_TYPE_F16 ? "float16" : t == QW_TYPE_BF16 ? "bfloat16" : "?";
}

// Finds a tensor and checks its dtype against config.json and its shape against (d0, d1); d1 = 0 for 1-D.
static qw_status find_checked(loader *L, const char *name, int64_t d0, int64_t d1, qw_tensor *out) {
    const qw_tensor *t = qw_safetensors_find(&L->m->st, name);
    if (!t) return qw_error(QW_ERR_FORMAT, "%s: tensor %s is missing", L->dir, name);
    if (t->type != L->m->config.dtype)
        return qw_error(QW_ERR_FORMAT, "%s: tensor %s is %s but config.json says torch_dtype %s", L->dir,
                        name, qw_type_name(t->type), dtype_name(L->m->config.dtype));
    int want_dims = d1 ? 2 : 1;
    if (t->n_dims != want_dims || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        char got[96] = "[", want[64];
        for (int i = 0; i < t->n_dims; i++) {
            size_t l = strlen(got);
            snprintf(got + l, sizeof got - l, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        }
        strncat(got, "]", sizeof got - strlen(got) - 1);
        if (d1) snprintf(want, sizeof want, "[%lld, %lld]", (long long)d0, (long long)d1);
        else snprintf(want, sizeof want, "[%lld]", (long long)d0);
        return qw_error(QW_ERR_FORMAT, "%s: tensor %s has shape %s but config.json implies %s", L->dir,
                        name, got, want);
    }
    *out = *t;
    return QW_OK;
}

static qw_status matrix(loader *L, const char *name, int64_t rows, int64_t cols, qw_tensor *out) {
    QW_TRY(find_checked(L, name, rows, cols, out));
    L->m->weight_bytes += out->nbytes;
    L->m->n_params += rows * cols;
    return QW_OK;
}

static qw_status vector(loader *L, const char *name, int64_t n, float **out) {
    qw_tensor t;
    QW_TRY(find_checked(L, name, n, 0, &t));
    *out = L->f32_next;
    L->f32_next += n;
    qw_convert_to_f32(t.type, t.data, *out, n);
    L->m->n_params += n;
    return QW_OK;
}

static qw_status load_layers(loader *L) {
    qw_model *m = L->m;
    const qw_config *c = &m->config;
    int64_t hd = c->head_dim, h = c->hidden_size;
    char name[128];
#define NAME(fmt) (snprintf(name, sizeof name, "model.layers.%d." fmt, l), name)
    for (int l = 0; l < c->n_layers; l++) {
        qw_layer *y = &m->layers[l];
        y->n_heads = c->n_heads;
        y->n_kv_heads = c->n_kv_heads;
        y->n_ff = c->intermediate_size;
        int64_t qd = (int64_t)y->n_heads * hd, kvd = (int64_t)y->n_kv_heads * hd;
        QW_TRY(vector(L, NAME("input_layernorm.weight"), h, &y->attn_norm));
        QW_TRY(matrix(L, NAME("self_attn.q_proj.weight"), qd, h, &y->wq));
        QW_TRY(vector(L, NAME("self_attn.q_proj.bias"), qd, &y->bq));
        QW_TRY(matrix(L, NAME("self_attn.k_proj.weight"), kvd, h, &y->wk));
        QW_TRY(vector(L, NAME("self_attn.k_proj.bias"), kvd, &y->bk));
        QW_TRY(matrix(L, NAME("self_attn.v_proj.weight"), kvd, h, &y->wv));
        QW_TRY(vector(L, NAME("self_attn.v_proj.bias"), kvd, &y->bv));
        QW_TRY(matrix(L, NAME("self_attn.o_proj.weight"), h, qd, &y->wo));
        QW_TRY(vector(L, NAME("post_attention_layernorm.weight"), h, &y->ffn_norm));
        QW_TRY(matrix(L, NAME("mlp.gate_proj.weight"), y->n_ff, h, &y->w_gate));
        QW_TRY(matrix(L, NAME("mlp.up_proj.weight"), y->n_ff, h, &y->w_up));
        QW_TRY(matrix(L, NAME("mlp.down_proj.weight"), h, y->n_ff, &y->w_down));
    }
#undef NAME
    return QW_OK;
}

static qw_status load_weights(loader *L) {
    qw_model *m = L->m;
    const qw_config *c = &m->config;
    int64_t h = c->hidden_size, hd = c->head_dim;
    // f32 vectors: per layer two norms and three biases, plus the final norm
    int64_t per_layer = 2 * h + (int64_t)(c->n_heads + 2 * c->n_kv_heads) * hd;
    m->f32_block = malloc(sizeof(float) * (size_t)(per_layer * c->n_layers + h));
    m->layers = calloc((size_t)c->n_layers, sizeof(qw_layer));
    if (!m->f32_block || !m->layers) return qw_error(QW_ERR_NOMEM, "%s: out of memory", L->dir);
    L->f32_next = m->f32_block;
    QW_TRY(matrix(L, "model.embed_tokens.weight", c->vocab_size, h, &m->tok_embd));
    m->weight_bytes -= m->tok_embd.nbytes; // a decode step reads one row of it, not the table
    QW_TRY(load_layers(L));
    QW_TRY(vector(L, "model.norm.weight", h, &m->out_norm));
    if (c->tie_word_embeddings) {
        m->lm_head = m->tok_embd;
        m->weight_bytes += m->tok_embd.nbytes; // ...but all of it again as lm_head
    } else {
        if (!qw_safetensors_find(&m->st, "lm_head.weight"))
            return qw_error(QW_ERR_FORMAT,
                            "%s: tensor lm_head.weight is missing and config.json says "
                            "tie_word_embeddings is false",
                            L->dir);
        QW_TRY(matrix(L, "lm_head.weight", c->vocab_size, h, &m->lm_head));
    }
    return QW_OK;
}

qw_status qw_model_load(qw_model **out, const char *path) {
    *out = NULL;
    if (!qw_dir_exists(path) && qw_file_exists(path)) return qw_model_load_gguf(out, path);
    if (!qw_dir_exists(path))
        return qw_error(QW_ERR_IO, "%s: not a model (expected a Hugging Face folder with config.json "
                                   "and safetensors, or a GGUF file)", path);
    qw_model *m = calloc(1, sizeof *m);
    if (!m) return qw_error(QW_ERR_NOMEM, "out of memory");
    m->path = qw_strdup(path);
    loader L = {.m = m, .dir = path};
    qw_status s = qw_config_load(&m->config, path);
    if (s == QW_OK) s = qw_safetensors_open(&m->st, path);
    if (s == QW_OK) s = load_weights(&L);
    if (s == QW_OK) {
        char tp[4096];
        qw_path_join(tp, sizeof tp, path, "tokenizer.json");
        if (qw_file_exists(tp)) s = qw_tok_load(&m->tok, tp);
    }
    if (s == QW_OK && m->tok && qw_tok_n_vocab(m->tok) > m->config.vocab_size)
        qw_warn("%s: tokenizer has %d tokens but the model only %d rows; ids past that are refused",
                path, qw_tok_n_vocab(m->tok), m->config.vocab_size);
    if (s != QW_OK) {
        qw_model_free(m);
        return s;
    }
    *out = m;
    return QW_OK;
}

void qw_model_free(qw_model *m) {
    if (!m) return;
    if (m->tok) qw_tok_free(m->tok);
    qw_safetensors_close(&m->st);
    qw_gguf_close(&m->gguf);
    free(m->f32_block);
    free(m->layers);
    free(m->path);
    free(m);
}

int qw_model_is_eos(const qw_model *m, int32_t tok) {
    for (int i = 0; i < m->config.n_eos; i++)
        if (m->config.eos_ids[i] == tok) return 1;
    return 0;
}

int qw_model_stop_tokens(const qw_model *m, int32_t *out, int cap) {
    int n = 0;
    for (int i = 0; i < m->config.n_eos && n < cap; i++) out[n++] = m->config.eos_ids[i];
    static const char *const chatml[] = {"<|im_end|>", "<|endoftext|>"};
    for (int i = 0; i < 2 && m->tok; i++) {
        int32_t id = qw_tok_find(m->tok, chatml[i]);
        int dup = id < 0;
        for (int j = 0; j < n && !dup; j++) dup = out[j] == id;
        if (!dup && n < cap) out[n++] = id;
    }
    return n;
}
