// model/save_gguf: writes a qw_model as GGUF with llama.cpp's qwen2 metadata, tensor names and
// tokenizer, so llama.cpp runs it; 2-D weights in any qw_type (round to nearest with the reference quantizers).
#include "model.h"

#include "tensor/quant.h"

typedef struct {
    const qw_tensor *src; // a matrix of the model, or NULL for an f32 vector
    const float *vec;
} source;

typedef struct {
    source *src;
    qw_tensor *dst;
    int nth;
} saver;

typedef struct {
    const qw_tensor *src;
    qw_type dst_type;
    void *dst;
    int64_t cols;
} convert_job;

// Rows are independent, so threads split them; each converts through one f32 row.
static void convert_rows(void *ctx, int ith, int nth) {
    const convert_job *j = ctx;
    int64_t r0, r1;
    qw_split_rows(qw_tensor_rows(j->src), 1, ith, nth, &r0, &r1);
    float *row = malloc(sizeof(float) * (size_t)j->cols);
    QW_ASSERT(row); // one row of floats; failing this small allocation is not recoverable mid-write
    const qw_type_traits *st = qw_type_get(j->src->type), *dt = qw_type_get(j->dst_type);
    size_t sb = qw_type_row_bytes(j->src->type, j->cols), db = qw_type_row_bytes(j->dst_type, j->cols);
    for (int64_t r = r0; r < r1; r++) {
        st->to_float((const char *)j->src->data + (size_t)r * sb, row, j->cols);
        dt->from_float_ref(row, (char *)j->dst + (size_t)r * db, j->cols);
    }
    free(row);
}

static qw_status fill(void *ctx, int64_t i, void *dst, size_t nbytes) {
    saver *S = ctx;
    const source *s = &S->src[i];
    const qw_tensor *d = &S->dst[i];
    if (!s->src) {
        memcpy(dst, s->vec, nbytes);
        return QW_OK;
    }
    if (s->src->type == d->type) {
        memcpy(dst, s->src->data, nbytes);
        return QW_OK;
    }
    convert_job j = {s->src, d->type, dst, qw_tensor_cols(s->src)};
    qw_parallel(convert_rows, &j, S->nth);
    return QW_OK;
}

// llama.cpp's general.file_type (LLAMA_FTYPE_*) for a model mostly of type t.
static uint32_t file_type(qw_type t) {
    switch (t) {
    case QW_TYPE_F32: return 0;
    case QW_TYPE_F16: return 1;
    case QW_TYPE_Q4_0: return 2;
    case QW_TYPE_Q8_0: return 7;
    case QW_TYPE_Q4_K: return 14; // Q4_K_S: every matrix Q4_K
    case QW_TYPE_Q5_K: return 16; // Q5_K_S
    case QW_TYPE_Q6_K: return 18;
    case QW_TYPE_IQ4_NL: return 25;
    case QW_TYPE_BF16: return 32;
    default: return 0;
    }
}

// The type a matrix gets: the one asked for, unless its rows are not whole blocks of it; then Q8_0
// (32-element blocks), then F16, with a warning, as llama.cpp falls back per tensor.
qw_type qw_model_matrix_type(const qw_tensor *t, qw_type want, const char *name) {
    int64_t cols = qw_tensor_cols(t);
    if (cols % qw_type_get(want)->block_size == 0) return want;
    qw_type fb = cols % QW_QK8_0 == 0 ? QW_TYPE_Q8_0 : QW_TYPE_F16;
    qw_warn("%s: row length %lld is not a multiple of %s's block of %d; writing it as %s", name,
            (long long)cols, qw_type_name(want), qw_type_get(want)->block_size, qw_type_name(fb));
    return fb;
}

static void put_tokenizer(qw_gguf_writer *w, const qw_model *m) {
    const qw_tokenizer *tok = m->tok;
    int64_t V = m->config.vocab_size;
    if (qw_tok_n_vocab(tok) > V)
        qw_warn("tokenizer has %d tokens but the model %lld rows; GGUF keeps the first %lld", qw_tok_n_vocab(tok),
                (long long)V, (long long)V);
    char **texts = calloc((size_t)V, sizeof *texts);
    const char **ptrs = calloc((size_t)V, sizeof *ptrs);
    int32_t *types = calloc((size_t)V, sizeof *types);
    int32_t nm = qw_tok_n_merges(tok);
    char **merges = calloc((size_t)nm + 1, sizeof *merges);
    if (!texts || !ptrs || !types || !merges) goto done;
    for (int64_t i = 0; i < V; i++) {
        const char *s = qw_tok_token_text(tok, (int32_t)i);
        if (!s) { // llama.cpp's convert pads the vocabulary to the embedding rows the same way
            char buf[32];
            snprintf(buf, sizeof buf, "[PAD%lld]", (long long)i);
            texts[i] = qw_strdup(buf);
            ptrs[i] = texts[i];
            types[i] = 5; // UNUSED
            continue;
        }
        ptrs[i] = s;
        types[i] = qw_tok_is_special(tok, (int32_t)i) ? 3 : qw_tok_is_added(tok, (int32_t)i) ? 4 : 1;
    }
    for (int32_t i = 0; i < nm; i++) {
        int32_t l, r;
        qw_tok_merge(tok, i, &l, &r);
        const char *a = qw_tok_token_text(tok, l), *b = qw_tok_token_text(tok, r);
        size_t n = strlen(a) + strlen(b) + 2;
        merges[i] = malloc(n);
        if (merges[i]) snprintf(merges[i], n, "%s %s", a, b);
        else merges[i] = qw_strdup("");
    }
    qw_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    qw_gguf_set_str(w, "tokenizer.ggml.pre", "qwen2");
    qw_gguf_set_arr_str(w, "tokenizer.ggml.tokens", ptrs, (uint64_t)V);
    qw_gguf_set_arr(w, "tokenizer.ggml.token_type", QW_GGUF_INT32, types, (uint64_t)V);
    qw_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, (uint64_t)nm);
done:
    for (int64_t i = 0; texts && i < V; i++) free(texts[i]);
    for (int32_t i = 0; merges && i < nm; i++) free(merges[i]);
    free(texts);
    free(ptrs);
    free(types);
    free(merges);
}

static void put_metadata(qw_gguf_writer *w, const qw_model *m, const qw_gguf_save_opts *o) {
    const qw_config *c = &m->config;
    qw_gguf_set_str(w, "general.architecture", "qwen2");
    if (o->name) qw_gguf_set_str(w, "general.name", o->name);
    qw_gguf_set_u32(w, "general.file_type", file_type(o->type));
    if (qw_type_get(o->type)->is_quantized) qw_gguf_set_u32(w, "general.quantization_version", 2);
    qw_gguf_set_u32(w, "qwen2.context_length", (uint32_t)c->max_position_embeddings);
    qw_gguf_set_u32(w, "qwen2.embedding_length", (uint32_t)c->hidden_size);
    qw_gguf_set_u32(w, "qwen2.block_count", (uint32_t)c->n_layers);
    qw_gguf_set_u32(w, "qwen2.feed_forward_length", (uint32_t)c->intermediate_size);
    qw_gguf_set_u32(w, "qwen2.attention.head_count", (uint32_t)c->n_heads);
    qw_gguf_set_u32(w, "qwen2.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    if (c->head_dim * c->n_heads != c->hidden_size) { // llama.cpp assumes hidden / heads otherwise
        qw_gguf_set_u32(w, "qwen2.attention.key_length", (uint32_t)c->head_dim);
        qw_gguf_set_u32(w, "qwen2.attention.value_length", (uint32_t)c->head_dim);
    }
    qw_gguf_set_f32(w, "qwen2.rope.freq_base", (float)c->rope_theta);
    qw_gguf_set_f32(w, "qwen2.attention.layer_norm_rms_epsilon", c->rms_norm_eps);
    if (m->tok) put_tokenizer(w, m);
    if (c->bos_token_id >= 0) qw_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)c->bos_token_id);
    if (c->n_eos > 0) qw_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)c->eos_ids[0]);
    int32_t pad = c->pad_token_id;
    if (pad < 0 && m->tok) pad = qw_tok_find(m->tok, "<|endoftext|>"); // Qwen's tokenizer_config pad
    if (pad >= 0) qw_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)pad);
    qw_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 0); // Qwen adds no BOS
    if (o->chat_template) qw_gguf_set_str(w, "tokenizer.chat_template", o->chat_template);
}

qw_status qw_model_save_gguf(const qw_model *m, const char *path, const qw_gguf_save_opts *o) {
    const qw_config *c = &m->config;
    if (!qw_type_get(o->type) || !qw_type_get(o->type)->from_float_ref)
        return qw_error(QW_ERR_ARG, "%s: cannot write type %d", path, (int)o->type);
    int64_t n_max = 2 + (int64_t)c->n_layers * 12 + 2;
    saver S = {calloc((size_t)n_max, sizeof(source)), calloc((size_t)n_max, sizeof(qw_tensor)),
               o->n_threads > 0 ? o->n_threads : qw_threads_default()};
    qw_gguf_writer *w = NULL;
    qw_status st = S.src && S.dst ? qw_gguf_writer_init(&w) : qw_error(QW_ERR_NOMEM, "out of memory");
    if (st != QW_OK) goto out;
    put_metadata(w, m, o);
    int64_t n = 0;
#define MAT(nm, t)                                                                                   \
    do {                                                                                             \
        qw_tensor *d = &S.dst[n];                                                                    \
        *d = *(t);                                                                                   \
        snprintf(d->name, sizeof d->name, "%s", nm);                                                 \
        qw_type want_ = o->tensor_type ? o->tensor_type(o->tensor_type_ctx, nm, t) : o->type;           \
        d->type = qw_type_get(want_)->is_quantized ? qw_model_matrix_type(t, want_, nm) : want_;       \
        S.src[n].src = (t);                                                                          \
        qw_gguf_add_tensor(w, d, fill, &S);                                                          \
        n++;                                                                                         \
    } while (0)
#define VEC(nm, p, len)                                                                              \
    do {                                                                                             \
        qw_tensor *d = &S.dst[n];                                                                    \
        memset(d, 0, sizeof *d);                                                                     \
        snprintf(d->name, sizeof d->name, "%s", nm);                                                 \
        d->type = QW_TYPE_F32;                                                                       \
        d->n_dims = 1;                                                                               \
        d->shape[0] = (len);                                                                         \
        S.src[n].vec = (p);                                                                          \
        qw_gguf_add_tensor(w, d, fill, &S);                                                          \
        n++;                                                                                         \
    } while (0)
    char name[96];
    MAT("token_embd.weight", &m->tok_embd);
    for (int l = 0; l < c->n_layers; l++) {
        const qw_layer *y = &m->layers[l];
        int64_t qd = (int64_t)y->n_heads * c->head_dim, kvd = (int64_t)y->n_kv_heads * c->head_dim;
#define NM(s) (snprintf(name, sizeof name, "blk.%d." s, l), name)
        VEC(NM("attn_norm.weight"), y->attn_norm, c->hidden_size);
        MAT(NM("attn_q.weight"), &y->wq);
        VEC(NM("attn_q.bias"), y->bq, qd);
        MAT(NM("attn_k.weight"), &y->wk);
        VEC(NM("attn_k.bias"), y->bk, kvd);
        MAT(NM("attn_v.weight"), &y->wv);
        VEC(NM("attn_v.bias"), y->bv, kvd);
        MAT(NM("attn_output.weight"), &y->wo);
        VEC(NM("ffn_norm.weight"), y->ffn_norm, c->hidden_size);
        MAT(NM("ffn_gate.weight"), &y->w_gate);
        MAT(NM("ffn_up.weight"), &y->w_up);
        MAT(NM("ffn_down.weight"), &y->w_down);
#undef NM
    }
    VEC("output_norm.weight", m->out_norm, c->hidden_size);
    if (!c->tie_word_embeddings) MAT("output.weight", &m->lm_head);
#undef MAT
#undef VEC
    st = qw_gguf_write(w, path);
out:
    qw_gguf_writer_free(w);
    free(S.src);
    free(S.dst);
    return st;
}
