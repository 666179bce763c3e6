// quant/plan: which GGUF type each matrix of a model gets: the base type with llama.cpp's per-tensor
// fallback, --keep overrides, and the size of the file that results (bits per weight).
#include "quantize.h"

#include <stdlib.h>
#include <strings.h>

static const char *const g_kinds[QW_QT_PER_LAYER] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                     "ffn_gate", "ffn_up", "ffn_down"};

const char *qw_qplan_name(char *buf, size_t n, int layer, int kind) {
    if (kind == QW_QT_EMBED) snprintf(buf, n, "token_embd.weight");
    else if (kind == QW_QT_OUTPUT) snprintf(buf, n, "output.weight");
    else snprintf(buf, n, "blk.%d.%s.weight", layer, g_kinds[kind]);
    return buf;
}

static const qw_tensor *layer_tensor(const qw_layer *y, int kind) {
    const qw_tensor *t[QW_QT_PER_LAYER] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->w_gate, &y->w_up, &y->w_down};
    return t[kind];
}

// want, or the fallback qw_model_matrix_type picks (without its warning per tensor: one summary is
// printed for the plan instead). *n_fallback counts the matrices that fell back.
static qw_type fit_count(const qw_tensor *t, qw_type want, int *n_fallback) {
    int64_t cols = qw_tensor_cols(t);
    if (!qw_type_get(want)->is_quantized || cols % qw_type_get(want)->block_size == 0) return want;
    if (n_fallback) (*n_fallback)++;
    return cols % QW_QK8_0 == 0 ? QW_TYPE_Q8_0 : QW_TYPE_F16;
}

static qw_type fit(const qw_tensor *t, qw_type want, int layer, int kind) {
    char nm[96];
    (void)layer, (void)kind;
    qw_type f = fit_count(t, want, NULL);
    if (f != want) // a single --keep choice that does not fit: say so by name
        qw_warn("%s: row length %lld is not a multiple of %s's block of %d; writing it as %s",
                qw_qplan_name(nm, sizeof nm, layer, kind), (long long)qw_tensor_cols(t), qw_type_name(want),
                qw_type_get(want)->block_size, qw_type_name(f));
    return f;
}

qw_status qw_qplan_init(qw_qplan *p, const qw_model *m, qw_type base) {
    memset(p, 0, sizeof *p);
    int L = m->config.n_layers;
    p->n_layers = L;
    p->base = base;
    p->layer = malloc(sizeof(qw_type) * (size_t)(L * QW_QT_PER_LAYER));
    p->kept = calloc((size_t)(L * QW_QT_PER_LAYER), 1);
    if (!p->layer || !p->kept) return qw_error(QW_ERR_NOMEM, "out of memory");
    int nf = 0;
    for (int l = 0; l < L; l++)
        for (int k = 0; k < QW_QT_PER_LAYER; k++)
            p->layer[l * QW_QT_PER_LAYER + k] = fit_count(layer_tensor(&m->layers[l], k), base, &nf);
    p->embed = fit_count(&m->tok_embd, base, &nf);
    p->output = m->config.tie_word_embeddings ? p->embed : fit_count(&m->lm_head, base, &nf);
    if (nf > 0)
        qw_warn("%d of %d matrices have rows that are not whole %s blocks of %d; they are written as Q8_0 (or F16)",
                nf, L * QW_QT_PER_LAYER + 1 + !m->config.tie_word_embeddings, qw_type_name(base),
                qw_type_get(base)->block_size);
    return QW_OK;
}

void qw_qplan_free(qw_qplan *p) {
    free(p->layer);
    free(p->kept);
    memset(p, 0, sizeof *p);
}

static int kind_from_name(const char *s, size_t n) {
    for (int k = 0; k < QW_QT_PER_LAYER; k++)
        if (strlen(g_kinds[k]) == n && strncmp(s, g_kinds[k], n) == 0) return k;
    if (n == 6 && strncmp(s, "attn_o", 6) == 0) return QW_QT_O;
    return -1;
}

qw_status qw_qplan_keep(qw_qplan *p, const qw_model *m, const char *list) {
    const char *s = list;
    while (s && *s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char item[128];
        if (n == 0 || n >= sizeof item) return qw_error(QW_ERR_ARG, "--keep: empty or overlong item in '%s'", list);
        memcpy(item, s, n);
        item[n] = 0;
        qw_type t = QW_TYPE_Q8_0;
        char *colon = strchr(item, ':');
        if (colon) {
            *colon = 0;
            int tt = qw_type_from_name(colon + 1);
            if (tt < 0 || !qw_type_get(tt)->from_float_ref)
                return qw_error(QW_ERR_ARG, "--keep: unknown type '%s' in '%s' (f32, f16, bf16, q8_0, q6_k, q5_k, "
                                "q4_k, q4_0, iq4_nl)", colon + 1, list);
            t = (qw_type)tt;
        }
        int layer = -1, kind;
        const char *k = item;
        if (strncmp(item, "blk.", 4) == 0) {
            char *end;
            long v = strtol(item + 4, &end, 10);
            if (end == item + 4 || *end != '.' || v < 0 || v >= p->n_layers)
                return qw_error(QW_ERR_ARG, "--keep: '%s' names no layer of this model (0..%d)", item, p->n_layers - 1);
            layer = (int)v;
            k = end + 1;
        }
        if (layer < 0 && (strcmp(k, "embed") == 0 || strcmp(k, "token_embd") == 0)) {
            p->embed = fit(&m->tok_embd, t, 0, QW_QT_EMBED);
            p->embed_kept = 1;
            if (m->config.tie_word_embeddings) p->output = p->embed, p->output_kept = 1;
        } else if (layer < 0 && (strcmp(k, "lm_head") == 0 || strcmp(k, "output") == 0)) {
            if (m->config.tie_word_embeddings) p->embed = p->output = fit(&m->tok_embd, t, 0, QW_QT_EMBED);
            else p->output = fit(&m->lm_head, t, 0, QW_QT_OUTPUT);
            p->output_kept = 1;
            if (m->config.tie_word_embeddings) p->embed_kept = 1;
        } else if ((kind = kind_from_name(k, strlen(k))) >= 0) {
            for (int l = 0; l < p->n_layers; l++)
                if (layer < 0 || l == layer) {
                    p->layer[l * QW_QT_PER_LAYER + kind] = fit(layer_tensor(&m->layers[l], kind), t, l, kind);
                    p->kept[l * QW_QT_PER_LAYER + kind] = 1;
                }
        } else {
            return qw_error(QW_ERR_ARG, "--keep: unknown tensor '%s' (embed, lm_head, attn_q, attn_k, attn_v, "
                            "attn_output, ffn_gate, ffn_up, ffn_down, or blk.N.<one of those>)", item);
        }
        s = e ? e + 1 : NULL;
    }
    return QW_OK;
}

static double matrix_bits(const qw_tensor *t, qw_type type) {
    return 8.0 * (double)qw_type_row_bytes(type, qw_tensor_cols(t)) * (double)qw_tensor_rows(t);
}

double qw_qplan_bpw(const qw_qplan *p, const qw_model *m) {
    double bits = matrix_bits(&m->tok_embd, p->embed), mat_params = (double)qw_tensor_numel(&m->tok_embd);
    if (!m->config.tie_word_embeddings) {
        bits += matrix_bits(&m->lm_head, p->output);
        mat_params += (double)qw_tensor_numel(&m->lm_head);
    }
    for (int l = 0; l < p->n_layers; l++)
        for (int k = 0; k < QW_QT_PER_LAYER; k++) {
            const qw_tensor *t = layer_tensor(&m->layers[l], k);
            bits += matrix_bits(t, p->layer[l * QW_QT_PER_LAYER + k]);
            mat_params += (double)qw_tensor_numel(t);
        }
    bits += 32.0 * ((double)m->n_params - mat_params); // norms and biases stay F32
    return bits / (double)m->n_params;
}

qw_type qw_qplan_tensor_type(void *ctx, const char *name, const qw_tensor *t) {
    const qw_qplan *p = ctx;
    (void)t;
    if (strcmp(name, "token_embd.weight") == 0) return p->embed;
    if (strcmp(name, "output.weight") == 0) return p->output;
    int l, off = 0;
    if (sscanf(name, "blk.%d.%n", &l, &off) == 1 && off > 0 && l >= 0 && l < p->n_layers) {
        const char *k = name + off, *dot = strchr(k, '.');
        int kind = kind_from_name(k, dot ? (size_t)(dot - k) : strlen(k));
        if (kind >= 0) return p->layer[l * QW_QT_PER_LAYER + kind];
    }
    return p->base;
}
