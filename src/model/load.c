// model/load: builds a qw_model from a Hugging Face directory, checking every tensor's presence, dtype
// and shape against config.json so that a wrong file fails here, with its name, not mid-forward.
#include "wire.h"

#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "kernels/kernels.h"
#include "tensor/quant.h"

static const char *dtype_name(qw_type t) {
    return t == QW_TYPE_F32 ? "float32" : t == QW_TYPE_F16 ? "float16" : t == QW_TYPE_BF16 ? "bfloat16" : "?";
}

typedef struct {
    const qw_model *m;
    const char *dir;
} hf_ctx;

// Finds a tensor and checks its dtype against config.json and its shape against (d0, d1); d1 = 0 for 1-D.
static qw_status hf_find(void *ctx, const char *name, int64_t d0, int64_t d1, const qw_tensor **out) {
    const hf_ctx *H = ctx;
    const qw_tensor *t = qw_safetensors_find(&H->m->st, name);
    if (!t) {
        if (strcmp(name, qw_names_hf.lm_head) == 0)
            return qw_error(QW_ERR_FORMAT, "%s: tensor %s is missing and config.json says tie_word_embeddings "
                            "is false", H->dir, name);
        return qw_error(QW_ERR_FORMAT, "%s: tensor %s is missing", H->dir, name);
    }
    if (t->type != H->m->config.dtype)
        return qw_error(QW_ERR_FORMAT, "%s: tensor %s is %s but config.json says torch_dtype %s", H->dir,
                        name, qw_type_name(t->type), dtype_name(H->m->config.dtype));
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
        return qw_error(QW_ERR_FORMAT, "%s: tensor %s has shape %s but config.json implies %s", H->dir,
                        name, got, want);
    }
    *out = t;
    return QW_OK;
}

// An HF folder, its tensors left in their file mappings.
static qw_status load_hf(qw_model **out, const char *path) {
    *out = NULL;
    if (!qw_dir_exists(path))
        return qw_error(QW_ERR_IO, "%s: not a model (expected a Hugging Face folder with config.json "
                                   "and safetensors, or a GGUF file)", path);
    qw_model *m = calloc(1, sizeof *m);
    if (!m) return qw_error(QW_ERR_NOMEM, "out of memory");
    m->path = qw_strdup(path);
    hf_ctx H = {.m = m, .dir = path};
    qw_status s = qw_config_load(&m->config, path);
    if (s == QW_OK) s = qw_safetensors_open(&m->st, path);
    if (s == QW_OK) s = qw_model_wire(m, &qw_names_hf, hf_find, &H, path);
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

qw_status qw_model_load(qw_model **out, const char *path) {
    *out = NULL;
    int gguf = !qw_dir_exists(path) && qw_file_exists(path);
    QW_TRY(gguf ? qw_model_load_gguf(out, path) : load_hf(out, path));
    qw_status s = qw_model_make_resident(*out); // only a model that is to run: converting reads each weight once
    if (s != QW_OK) {
        qw_model_free(*out);
        *out = NULL;
    }
    return s;
}

qw_status qw_model_load_for_convert(qw_model **out, const char *path) {
    if (!qw_dir_exists(path) && qw_file_exists(path)) return qw_model_load_gguf_any(out, path);
    return load_hf(out, path);
}

// The mapping (of the model's files) that holds p, or NULL.
static qw_mmap *map_of(qw_model *m, const void *p) {
    const char *c = p;
    if (m->gguf.map.data && c >= (const char *)m->gguf.map.data && c < (const char *)m->gguf.map.data + m->gguf.map.size)
        return &m->gguf.map;
    for (int i = 0; i < m->st.n_files; i++) {
        qw_mmap *mp = &m->st.maps[i];
        if (c >= (const char *)mp->data && c < (const char *)mp->data + mp->size) return mp;
    }
    return NULL;
}

// Quantized matrices that the kernels in force read faster in the r16 layout (quant.h) are moved to it
// in the resident copy, which is private memory: the file is untouched.
static qw_status pack_one(qw_model *m, qw_tensor *t, int nth) {
    if (t->layout != QW_LAYOUT_ROWS || !qw_matmul_r16_fast(t->type) || qw_tensor_rows(t) % 16 != 0) return QW_OK;
    qw_mmap *mp = map_of(m, t->data);
    if (!mp) return QW_OK;
    // private anonymous memory since make_resident; should it refuse, the matrix simply stays rows
    if (mprotect(mp->data, mp->size, PROT_READ | PROT_WRITE) != 0) return QW_OK;
    qw_status s = qw_r16_pack(t->type, t->data, qw_tensor_rows(t), qw_tensor_cols(t), nth);
    mprotect(mp->data, mp->size, PROT_READ);
    QW_TRY(s);
    t->layout = QW_LAYOUT_R16;
    // a tied embedding is one matrix seen twice
    if (m->tok_embd.data == t->data) m->tok_embd.layout = QW_LAYOUT_R16;
    if (m->lm_head.data == t->data) m->lm_head.layout = QW_LAYOUT_R16;
    return QW_OK;
}

static qw_status pack_r16(qw_model *m, int nth) {
    QW_TRY(pack_one(m, &m->tok_embd, nth));
    QW_TRY(pack_one(m, &m->lm_head, nth));
    for (int l = 0; l < m->config.n_layers; l++) {
        qw_layer *y = &m->layers[l];
        qw_tensor *lt[] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->w_gate, &y->w_up, &y->w_down};
        for (int i = 0; i < 7; i++) QW_TRY(pack_one(m, lt[i], nth));
    }
    return QW_OK;
}

qw_status qw_model_make_resident(qw_model *m) {
    const char *e = getenv("QWICK_MMAP");
    if (e && *e && strcmp(e, "0") != 0) return QW_OK;
    int nth = qw_threads_default();
    for (int i = 0; i < m->st.n_files; i++) QW_TRY(qw_mmap_make_resident(&m->st.maps[i], m->st.paths[i], nth));
    if (m->gguf.map.data) QW_TRY(qw_mmap_make_resident(&m->gguf.map, m->gguf.path, nth));
    return pack_r16(m, nth);
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

size_t qw_model_file_bytes(const qw_model *m) {
    size_t n = m->gguf.map.size;
    for (int i = 0; i < m->st.n_files; i++) n += m->st.maps[i].size;
    return n;
}

static double tensor_bits(const qw_tensor *t) {
    return 8.0 * (double)qw_type_row_bytes(t->type, qw_tensor_cols(t)) * (double)qw_tensor_rows(t);
}

double qw_model_bits_per_weight(const qw_model *m) {
    if (m->n_params <= 0) return NAN;
    double bits = tensor_bits(&m->tok_embd), counted = (double)qw_tensor_numel(&m->tok_embd);
    if (m->lm_head.data != m->tok_embd.data) {
        bits += tensor_bits(&m->lm_head);
        counted += (double)qw_tensor_numel(&m->lm_head);
    }
    for (int l = 0; l < m->config.n_layers; l++) {
        const qw_layer *y = &m->layers[l];
        const qw_tensor *ts[] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->w_gate, &y->w_up, &y->w_down};
        for (int i = 0; i < 7; i++) {
            bits += tensor_bits(ts[i]);
            counted += (double)qw_tensor_numel(ts[i]);
        }
    }
    // norms and biases: GGUF keeps them F32, an HF folder in its dtype
    double vec_bits = m->gguf.map.data ? 32.0 : 8.0 * (double)qw_type_row_bytes(m->config.dtype, 1);
    return (bits + vec_bits * ((double)m->n_params - counted)) / (double)m->n_params;
}
