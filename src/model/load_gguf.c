// model/load_gguf: builds a qw_model from a GGUF file with llama.cpp's qwen2 metadata and tensor names
// (qwick's own or llama.cpp's), checking every shape; quantized matrices run on the integer kernels.
#include "wire.h"

#include "tensor/quant.h"

#define MAX_DIM (1 << 20)

typedef struct {
    qw_model *m;
    const char *path;
    int allow_quantized;
} gloader;

static qw_status meta_int(const qw_gguf *g, const char *key, int required, int def, int lo, int hi, int *out) {
    if (!qw_gguf_find_kv(g, key)) {
        if (required) return qw_error(QW_ERR_FORMAT, "%s: metadata %s is missing", g->path, key);
        *out = def;
        return QW_OK;
    }
    int64_t v;
    QW_TRY(qw_gguf_get_i64(g, key, &v));
    if (v < lo || v > hi)
        return qw_error(QW_ERR_FORMAT, "%s: metadata %s = %lld is out of range [%d, %d]", g->path, key,
                        (long long)v, lo, hi);
    *out = (int)v;
    return QW_OK;
}

static qw_status meta_f64(const qw_gguf *g, const char *key, int required, double def, double *out) {
    if (!qw_gguf_find_kv(g, key)) {
        if (required) return qw_error(QW_ERR_FORMAT, "%s: metadata %s is missing", g->path, key);
        *out = def;
        return QW_OK;
    }
    QW_TRY(qw_gguf_get_f64(g, key, out));
    if (!(*out > 0) || *out > 1e30)
        return qw_error(QW_ERR_FORMAT, "%s: metadata %s = %g is not a positive number", g->path, key, *out);
    return QW_OK;
}

// qwen2.* hyper-parameters into qw_config, with llama.cpp's defaults for the optional ones.
static qw_status read_config(const qw_gguf *g, qw_config *c) {
    qw_gguf_str arch;
    if (qw_gguf_get_str(g, "general.architecture", &arch) != QW_OK)
        return qw_error(QW_ERR_FORMAT, "%s: metadata general.architecture is missing", g->path);
    if (!(arch.len == 5 && memcmp(arch.s, "qwen2", 5) == 0))
        return qw_error(QW_ERR_UNSUPPORTED, "%s: architecture \"%.*s\"; qwick runs qwen2", g->path,
                        (int)(arch.len > 64 ? 64 : arch.len), arch.s);
    memset(c, 0, sizeof *c);
    snprintf(c->architecture, sizeof c->architecture, "Qwen2ForCausalLM");
    QW_TRY(meta_int(g, "qwen2.embedding_length", 1, 0, 1, MAX_DIM, &c->hidden_size));
    QW_TRY(meta_int(g, "qwen2.block_count", 1, 0, 1, 4096, &c->n_layers));
    QW_TRY(meta_int(g, "qwen2.feed_forward_length", 1, 0, 1, MAX_DIM, &c->intermediate_size));
    QW_TRY(meta_int(g, "qwen2.attention.head_count", 1, 0, 1, 4096, &c->n_heads));
    QW_TRY(meta_int(g, "qwen2.attention.head_count_kv", 0, c->n_heads, 1, c->n_heads, &c->n_kv_heads));
    QW_TRY(meta_int(g, "qwen2.context_length", 0, 32768, 1, 1 << 24, &c->max_position_embeddings));
    int def_hd = c->hidden_size % c->n_heads ? 0 : c->hidden_size / c->n_heads;
    QW_TRY(meta_int(g, "qwen2.attention.key_length", def_hd == 0, def_hd, 2, MAX_DIM, &c->head_dim));
    int vl;
    QW_TRY(meta_int(g, "qwen2.attention.value_length", 0, c->head_dim, 2, MAX_DIM, &vl));
    if (vl != c->head_dim || c->head_dim % 2 || c->n_heads % c->n_kv_heads)
        return qw_error(QW_ERR_FORMAT, "%s: head shape not supported (key_length %d, value_length %d, %d heads, "
                        "%d kv heads)", g->path, c->head_dim, vl, c->n_heads, c->n_kv_heads);
    QW_TRY(meta_f64(g, "qwen2.rope.freq_base", 0, 10000.0, &c->rope_theta)); // llama.cpp's default
    double eps;
    QW_TRY(meta_f64(g, "qwen2.attention.layer_norm_rms_epsilon", 1, 0, &eps));
    c->rms_norm_eps = (float)eps;
    if (qw_gguf_find_kv(g, "qwen2.rope.scaling.type")) {
        qw_gguf_str st;
        if (qw_gguf_get_str(g, "qwen2.rope.scaling.type", &st) != QW_OK ||
            !(st.len == 4 && memcmp(st.s, "none", 4) == 0))
            return qw_error(QW_ERR_UNSUPPORTED, "%s: qwen2.rope.scaling.type is set; qwick implements plain RoPE",
                            g->path);
    }
    // ids: absent means none; the HF generation defaults (greedy off, temperature 1, top_k 50)
    int bos, eos, pad, eot;
    QW_TRY(meta_int(g, "tokenizer.ggml.bos_token_id", 0, -1, 0, INT32_MAX, &bos));
    QW_TRY(meta_int(g, "tokenizer.ggml.eos_token_id", 0, -1, 0, INT32_MAX, &eos));
    QW_TRY(meta_int(g, "tokenizer.ggml.padding_token_id", 0, -1, 0, INT32_MAX, &pad));
    QW_TRY(meta_int(g, "tokenizer.ggml.eot_token_id", 0, -1, 0, INT32_MAX, &eot));
    c->bos_token_id = bos;
    c->pad_token_id = pad;
    if (eos >= 0) c->eos_ids[c->n_eos++] = eos;
    if (eot >= 0 && eot != eos) c->eos_ids[c->n_eos++] = eot;
    c->gen_top_k = 50;
    c->gen_temperature = 1;
    c->gen_top_p = 1;
    c->gen_repetition_penalty = 1;
    return QW_OK;
}

static int is_float_type(qw_type t) { return t == QW_TYPE_F32 || t == QW_TYPE_F16 || t == QW_TYPE_BF16; }

// Finds a tensor and checks its shape; a matrix of a quantized type without integer kernels is refused
// unless converting. (The GGUF reader already checked that rows are whole blocks and that the data
// fits the file.)
static qw_status gguf_find(void *ctx, const char *name, int64_t d0, int64_t d1, const qw_tensor **out) {
    gloader *L = ctx;
    const qw_tensor *t = qw_gguf_find_tensor(&L->m->gguf, name);
    if (!t) return qw_error(QW_ERR_FORMAT, "%s: tensor %s is missing", L->path, name);
    int ok = d1 ? t->n_dims == 2 && t->shape[0] == d0 && t->shape[1] == d1
                : t->n_dims == 1 && t->shape[0] == d0;
    if (!ok) {
        // GGUF lists dims innermost first; say so in its own order so the message matches gguf tools
        return qw_error(QW_ERR_FORMAT, "%s: tensor %s has ne [%lld%s%lld] but the metadata implies [%lld, %lld]",
                        L->path, name, (long long)t->shape[t->n_dims - 1], t->n_dims > 1 ? ", " : "",
                        t->n_dims > 1 ? (long long)t->shape[t->n_dims - 2] : 0LL, (long long)(d1 ? d1 : d0),
                        (long long)(d1 ? d0 : 1));
    }
    if (d1 && !is_float_type(t->type) && !L->m->quantized_tensor) L->m->quantized_tensor = t;
    if (d1 && !is_float_type(t->type) && qw_act_kind_of(t->type) == QW_ACT_NONE) {
        if (!L->allow_quantized)
            return qw_error(QW_ERR_UNSUPPORTED, "%s: tensor %s is %s; qwick's kernels for it are not built yet",
                            L->path, name, qw_type_name(t->type));
        if (!L->m->unrunnable_tensor) L->m->unrunnable_tensor = t;
    }
    *out = t;
    return QW_OK;
}

static qw_status load(qw_model *m, const char *path, int allow_quantized) {
    QW_TRY(qw_gguf_open(&m->gguf, path));
    const qw_gguf *g = &m->gguf;
    qw_config *c = &m->config;
    QW_TRY(read_config(g, c));
    // vocab: the token list when there is one (llama.cpp's n_vocab), else the embedding's rows
    const qw_tensor *emb = qw_gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->n_dims != 2) return qw_error(QW_ERR_FORMAT, "%s: tensor token_embd.weight is missing or not 2-D", path);
    const qw_gguf_kv *toks = qw_gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (toks && toks->n != (uint64_t)emb->shape[0])
        return qw_error(QW_ERR_FORMAT, "%s: %llu tokens but token_embd.weight has %lld rows", path,
                        (unsigned long long)toks->n, (long long)emb->shape[0]);
    if (emb->shape[0] < 1 || emb->shape[0] > (1 << 24))
        return qw_error(QW_ERR_FORMAT, "%s: token_embd.weight has %lld rows", path, (long long)emb->shape[0]);
    c->vocab_size = (int)emb->shape[0];
    c->tie_word_embeddings = qw_gguf_find_tensor(g, "output.weight") == NULL;
    c->dtype = emb->type;
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] >= c->vocab_size)
            return qw_error(QW_ERR_FORMAT, "%s: eos id %d is past the vocabulary (%d)", path, c->eos_ids[i], c->vocab_size);
    gloader L = {.m = m, .path = path, .allow_quantized = allow_quantized};
    QW_TRY(qw_model_wire(m, &qw_names_gguf, gguf_find, &L, path));
    if (toks) QW_TRY(qw_tok_load_gguf(&m->tok, g));
    return QW_OK;
}

static qw_status load_gguf(qw_model **out, const char *path, int allow_quantized) {
    *out = NULL;
    qw_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = qw_strdup(path))) {
        free(m);
        return qw_error(QW_ERR_NOMEM, "out of memory");
    }
    qw_status s = load(m, path, allow_quantized);
    if (s != QW_OK) {
        qw_model_free(m);
        return s;
    }
    *out = m;
    return QW_OK;
}

qw_status qw_model_load_gguf(qw_model **out, const char *path) { return load_gguf(out, path, 0); }

qw_status qw_model_load_gguf_any(qw_model **out, const char *path) { return load_gguf(out, path, 1); }
