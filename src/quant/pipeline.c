// quant/pipeline: quantizes a whole model layer by layer, GPTQ-style: every calibration token's residual
// stream is kept; per layer the inputs of its linears are gathered (Hessians, AWQ statistics), the layer's
// matrices are scaled (AWQ) and quantized (RTN or GPTQ), and the stream moves on through the QUANTIZED
// layer. Only one layer's float copy and Hessians are in memory at a time.
#include "quantize.h"

#include "kernels/kernels.h"

#include <math.h>
#include <sys/mman.h>
#include <unistd.h>

// ---------------------------------------------------------------------------------------------------
// models this file makes: a qw_model (first member) plus the blocks it owns; the tokenizer is borrowed

typedef struct {
    qw_model m;
    void **owned;
    int n_owned, cap_owned;
} qmodel;

static qw_status own(qmodel *q, void *p) {
    if (!p) return qw_error(QW_ERR_NOMEM, "out of memory");
    if (q->n_owned == q->cap_owned) {
        int cap = q->cap_owned ? 2 * q->cap_owned : 64;
        void **o = realloc(q->owned, sizeof *o * (size_t)cap);
        if (!o) {
            free(p);
            return qw_error(QW_ERR_NOMEM, "out of memory");
        }
        q->owned = o, q->cap_owned = cap;
    }
    q->owned[q->n_owned++] = p;
    return QW_OK;
}

void qw_quant_model_free(qw_model *m) {
    if (!m) return;
    qmodel *q = (qmodel *)m;
    for (int i = 0; i < q->n_owned; i++) free(q->owned[i]);
    free(q->owned);
    free(m->f32_block);
    free(m->layers);
    free(m->path);
    free(q);
}

// A model with src's config, tokenizer (borrowed), matrices (views into src) and a copy of its vectors.
static qw_status model_shell(const qw_model *src, qmodel **out) {
    const qw_config *c = &src->config;
    qmodel *q = calloc(1, sizeof *q);
    if (!q) return qw_error(QW_ERR_NOMEM, "out of memory");
    qw_model *m = &q->m;
    m->config = *c;
    m->tok = src->tok;
    m->tok_embd = src->tok_embd;
    m->lm_head = src->lm_head;
    m->weight_bytes = src->weight_bytes;
    m->n_params = src->n_params;
    m->path = qw_strdup(src->path ? src->path : "quantized");
    m->layers = calloc((size_t)c->n_layers, sizeof(qw_layer));
    int64_t nf = c->hidden_size, hd = c->head_dim;
    for (int l = 0; l < c->n_layers; l++)
        nf += 2 * (int64_t)c->hidden_size + (src->layers[l].n_heads + 2 * (int64_t)src->layers[l].n_kv_heads) * hd;
    m->f32_block = malloc(sizeof(float) * (size_t)nf);
    if (!m->path || !m->layers || !m->f32_block) {
        qw_quant_model_free(m);
        return qw_error(QW_ERR_NOMEM, "out of memory");
    }
    float *f = m->f32_block;
#define COPY(dst, srcp, n) (memcpy(f, (srcp), sizeof(float) * (size_t)(n)), (dst) = f, f += (n))
    for (int l = 0; l < c->n_layers; l++) {
        const qw_layer *s = &src->layers[l];
        qw_layer *y = &m->layers[l];
        *y = *s;
        int64_t qd = (int64_t)s->n_heads * hd, kvd = (int64_t)s->n_kv_heads * hd;
        COPY(y->attn_norm, s->attn_norm, c->hidden_size);
        COPY(y->bq, s->bq, qd);
        COPY(y->bk, s->bk, kvd);
        COPY(y->bv, s->bv, kvd);
        COPY(y->ffn_norm, s->ffn_norm, c->hidden_size);
    }
    COPY(m->out_norm, src->out_norm, c->hidden_size);
#undef COPY
    *out = q;
    return QW_OK;
}

static qw_tensor *layer_mat(qw_layer *y, int kind) {
    qw_tensor *t[QW_QT_PER_LAYER] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->w_gate, &y->w_up, &y->w_down};
    return t[kind];
}

// ---------------------------------------------------------------------------------------------------
// matrices in f32, in the plan's types

typedef struct {
    const qw_tensor *src;
    qw_type type;  // the type it is written in
    float *dst;    // (rows, cols): the values that type holds
} deq_task;

static void deq_run(void *ctx, int ith, int nth) {
    const deq_task *t = ctx;
    int64_t rows = qw_tensor_rows(t->src), cols = qw_tensor_cols(t->src), r0, r1;
    qw_split_rows(rows, 1, ith, nth, &r0, &r1);
    const qw_type_traits *st = qw_type_get(t->src->type), *wt = qw_type_get(t->type);
    size_t sb = qw_type_row_bytes(t->src->type, cols), wb = qw_type_row_bytes(t->type, cols);
    void *tmp = malloc(wb);
    QW_ASSERT(tmp);
    for (int64_t r = r0; r < r1; r++) {
        float *d = t->dst + r * cols;
        st->to_float((const char *)t->src->data + (size_t)r * sb, d, cols);
        if (t->src->type != t->type && t->type != QW_TYPE_F32) { // what the writer would round it to
            wt->from_float_ref(d, tmp, cols);
            wt->to_float(tmp, d, cols);
        }
    }
    free(tmp);
}

static qw_status dequantized(qmodel *q, const qw_tensor *src, qw_type type, const char *name, int nth, qw_tensor *out) {
    size_t n = (size_t)qw_tensor_numel(src);
    float *d = malloc(sizeof(float) * n);
    QW_TRY(own(q, d));
    deq_task t = {src, type, d};
    qw_parallel(deq_run, &t, n > (1 << 16) ? nth : 1);
    *out = *src;
    snprintf(out->name, sizeof out->name, "%s", name);
    out->type = QW_TYPE_F32;
    out->data = d;
    out->nbytes = n * sizeof(float);
    return QW_OK;
}

qw_status qw_quant_dequantized_model(const qw_model *src, const qw_qplan *plan, int nth, qw_model **out) {
    *out = NULL;
    qmodel *q;
    QW_TRY(model_shell(src, &q));
    qw_model *m = &q->m;
    char nm[96];
    qw_status s = dequantized(q, &src->tok_embd, plan->embed, "token_embd.weight", nth, &m->tok_embd);
    if (s == QW_OK && !src->config.tie_word_embeddings)
        s = dequantized(q, &src->lm_head, plan->output, "output.weight", nth, &m->lm_head);
    else m->lm_head = m->tok_embd;
    for (int l = 0; s == QW_OK && l < src->config.n_layers; l++)
        for (int k = 0; s == QW_OK && k < QW_QT_PER_LAYER; k++)
            s = dequantized(q, layer_mat(&src->layers[l], k), plan->layer[l * QW_QT_PER_LAYER + k],
                            qw_qplan_name(nm, sizeof nm, l, k), nth, layer_mat(&m->layers[l], k));
    m->quantized_tensor = m->unrunnable_tensor = NULL;
    m->weight_bytes = 0;
    for (int l = 0; l < src->config.n_layers; l++)
        for (int k = 0; k < QW_QT_PER_LAYER; k++) m->weight_bytes += layer_mat(&m->layers[l], k)->nbytes;
    m->weight_bytes += m->lm_head.nbytes;
    if (s != QW_OK) {
        qw_quant_model_free(m);
        return s;
    }
    *out = m;
    return QW_OK;
}

// ---------------------------------------------------------------------------------------------------
// calibration runner: the residual stream of every calibration token, one sequence per forward

typedef struct {
    const qw_model *m;
    const qw_calib_set *cs;
    qw_state st;
    qw_kv_cache kv;
    qw_batch b;
    float *R;     // (total, hidden)
    int64_t *off; // (n) first token of each sequence
    int64_t total;
    int max_len;
} runner;

static void runner_free(runner *r) {
    qw_state_free(&r->st);
    qw_kv_cache_free(&r->kv);
    qw_batch_free(&r->b);
    free(r->R);
    free(r->off);
}

static void runner_batch(runner *r, int i) {
    qw_batch_clear(&r->b);
    for (int j = 0; j < r->cs->len[i]; j++) qw_batch_add(&r->b, r->cs->seq[i][j], j, 0, 0);
}

static qw_status runner_init(runner *r, const qw_model *m, const qw_calib_set *cs, int nth) {
    memset(r, 0, sizeof *r);
    r->m = m, r->cs = cs;
    for (int i = 0; i < cs->n; i++) {
        r->total += cs->len[i];
        r->max_len = cs->len[i] > r->max_len ? cs->len[i] : r->max_len;
    }
    if (r->total == 0) return qw_error(QW_ERR_ARG, "no calibration tokens");
    int64_t h = m->config.hidden_size;
    qw_status s = qw_state_init(&r->st, m, r->max_len, r->max_len, nth);
    if (s == QW_OK) s = qw_kv_cache_init(&r->kv, m, 1, r->max_len);
    if (s == QW_OK) s = qw_batch_init(&r->b, r->max_len);
    if (s == QW_OK && (!(r->R = malloc(sizeof(float) * (size_t)(r->total * h))) || !(r->off = malloc(sizeof(int64_t) * (size_t)cs->n))))
        s = qw_error(QW_ERR_NOMEM, "residual stream of %lld calibration tokens: out of memory", (long long)r->total);
    for (int i = 0, o = 0; s == QW_OK && i < cs->n; o += cs->len[i], i++) {
        r->off[i] = o;
        runner_batch(r, i);
        s = qw_forward_begin(m, &r->st, &r->kv, &r->b);
        if (s == QW_OK) memcpy(r->R + o * h, r->st.x, sizeof(float) * (size_t)(cs->len[i] * h));
    }
    if (s != QW_OK) runner_free(r);
    return s;
}

// Sequence i through layer y (at cache layer l): its stream is read from R, the result goes to out, or
// back to R when out is NULL.
static void runner_layer(runner *r, int i, const qw_layer *y, int l, const qw_layer_capture *cap, float *out) {
    int64_t h = r->m->config.hidden_size, n = r->cs->len[i];
    runner_batch(r, i);
    qw_status s = qw_forward_begin(r->m, &r->st, &r->kv, &r->b); // rope table; the batch was checked at init
    QW_ASSERT(s == QW_OK);
    memcpy(r->st.x, r->R + r->off[i] * h, sizeof(float) * (size_t)(n * h));
    qw_forward_layer(r->m, y, l, &r->st, &r->kv, &r->b, cap);
    memcpy(out ? out : r->R + r->off[i] * h, r->st.x, sizeof(float) * (size_t)(n * h));
}

// ---------------------------------------------------------------------------------------------------
// a layer as f32 matrices the methods can change

typedef struct {
    qw_layer L;                   // vectors point where the caller says; matrices at w
    float *w[QW_QT_PER_LAYER];
    int64_t rows[QW_QT_PER_LAYER], cols[QW_QT_PER_LAYER];
} wlayer;

static void wlayer_free(wlayer *w) {
    for (int k = 0; k < QW_QT_PER_LAYER; k++) free(w->w[k]);
    memset(w, 0, sizeof *w);
}

// Matrices of src converted to f32; vectors from vec (a layer whose vectors may be changed).
static qw_status wlayer_init(wlayer *w, const qw_layer *src, const qw_layer *vec) {
    memset(w, 0, sizeof *w);
    w->L = *vec;
    for (int k = 0; k < QW_QT_PER_LAYER; k++) {
        qw_tensor *t = layer_mat(&w->L, k);
        const qw_tensor *s = layer_mat((qw_layer *)src, k);
        w->rows[k] = qw_tensor_rows(s), w->cols[k] = qw_tensor_cols(s);
        size_t n = (size_t)(w->rows[k] * w->cols[k]);
        if (!(w->w[k] = malloc(sizeof(float) * n))) {
            wlayer_free(w);
            return qw_error(QW_ERR_NOMEM, "a layer in f32: out of memory");
        }
        qw_type_get(s->type)->to_float(s->data, w->w[k], (int64_t)n);
        *t = *s;
        t->type = QW_TYPE_F32;
        t->data = w->w[k];
        t->nbytes = n * sizeof(float);
    }
    return QW_OK;
}

// The file's pages of a matrix that is done with: dropped from memory (they are read-only file pages,
// so nothing is lost), which keeps the process at one layer of the model at a time.
static void release(const qw_model *m, const qw_tensor *t) {
    uintptr_t a = (uintptr_t)t->data, e = a + t->nbytes;
    int mapped = 0;
    for (int i = 0; i < m->st.n_files && !mapped; i++)
        mapped = a >= (uintptr_t)m->st.maps[i].data && e <= (uintptr_t)m->st.maps[i].data + m->st.maps[i].size;
    if (m->gguf.map.data) mapped |= a >= (uintptr_t)m->gguf.map.data && e <= (uintptr_t)m->gguf.map.data + m->gguf.map.size;
    if (!mapped) return;
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    a = (a + pg - 1) / pg * pg;
    e = e / pg * pg;
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
}

// ---------------------------------------------------------------------------------------------------
// per-layer statistics of the four inputs

enum { G_QKV = 0, G_O, G_GU, G_DOWN, G_COUNT };
static const int g_group_of[QW_QT_PER_LAYER] = {G_QKV, G_QKV, G_QKV, G_O, G_GU, G_GU, G_DOWN};

typedef struct {
    int64_t dim;
    double *H;        // (dim, dim) GPTQ
    double *mean_abs; // (dim)
    float *X;         // (n_sub, dim) the tokens kept for the AWQ search
    int64_t n_sub;
    float *cap;       // (max_len, dim) capture buffer
} group;

static void groups_free(group *g) {
    for (int i = 0; i < G_COUNT; i++) {
        free(g[i].H);
        free(g[i].mean_abs);
        free(g[i].X);
        free(g[i].cap);
    }
    memset(g, 0, sizeof(group) * G_COUNT);
}

static qw_status groups_init(group *g, const qw_model *m, int l, int max_len, int64_t n_sub, int want_h) {
    const qw_layer *y = &m->layers[l];
    int64_t dims[G_COUNT] = {m->config.hidden_size, (int64_t)y->n_heads * m->config.head_dim, m->config.hidden_size, y->n_ff};
    memset(g, 0, sizeof(group) * G_COUNT);
    for (int i = 0; i < G_COUNT; i++) {
        int64_t d = dims[i];
        g[i].dim = d;
        g[i].mean_abs = calloc((size_t)d, sizeof(double));
        g[i].X = malloc(sizeof(float) * (size_t)(n_sub * d));
        g[i].cap = malloc(sizeof(float) * (size_t)((int64_t)max_len * d));
        if (want_h) g[i].H = calloc((size_t)(d * d), sizeof(double));
        if (!g[i].mean_abs || !g[i].X || !g[i].cap || (want_h && !g[i].H)) {
            groups_free(g);
            return qw_error(QW_ERR_NOMEM, "calibration statistics of layer %d: out of memory (lower --calib-samples "
                            "or --calib-len)", l);
        }
    }
    return QW_OK;
}

// Folds s into the group's statistics, as if the input had been divided by s from the start.
static void group_rescale(group *g, const float *s) {
    for (int64_t t = 0; t < g->n_sub; t++)
        for (int64_t c = 0; c < g->dim; c++) g->X[t * g->dim + c] /= s[c];
    if (g->H)
        for (int64_t i = 0; i < g->dim; i++)
            for (int64_t j = 0; j < g->dim; j++) g->H[i * g->dim + j] /= (double)s[i] * s[j];
    for (int64_t c = 0; c < g->dim; c++) g->mean_abs[c] /= s[c];
}

// ---------------------------------------------------------------------------------------------------
// AWQ on one layer: scales searched on the float layer, folded (the float function is unchanged), in
// llm-awq's order: q/k/v (into attn_norm), o (into v_proj's rows, only without GQA), gate/up (into
// ffn_norm), down (into up_proj's rows).

static double awq_layer(wlayer *w, group *g, const qw_qplan *plan, int l, int n_grid, int nth, int verbose, int *n_searched) {
    const qw_type *types = plan->layer + l * QW_QT_PER_LAYER;
    double alpha_sum = 0;
    float *s = NULL;
    struct {
        int grp, kinds[3], n;
    } plan_g[] = {{G_QKV, {QW_QT_Q, QW_QT_K, QW_QT_V}, 3}, {G_O, {QW_QT_O}, 1},
                  {G_GU, {QW_QT_GATE, QW_QT_UP}, 2}, {G_DOWN, {QW_QT_DOWN}, 1}};
    for (int pg = 0; pg < 4; pg++) {
        group *G = &g[plan_g[pg].grp];
        if (plan_g[pg].grp == G_O && w->L.n_heads != w->L.n_kv_heads) continue; // v rows cannot carry per-head scales
        int quantized = 1;
        qw_awq_linear lin[3];
        for (int i = 0; i < plan_g[pg].n; i++) {
            int k = plan_g[pg].kinds[i];
            lin[i] = (qw_awq_linear){w->w[k], w->rows[k], types[k]};
            quantized &= qw_type_get(types[k])->is_quantized;
        }
        if (!quantized || G->n_sub == 0) continue;
        free(s);
        s = malloc(sizeof(float) * (size_t)G->dim);
        QW_ASSERT(s);
        double e0, e1;
        qw_awq_ffn ffn = {w->w[QW_QT_DOWN], w->rows[QW_QT_DOWN], w->cols[QW_QT_DOWN]};
        float alpha = qw_awq_search(lin, plan_g[pg].n, G->dim, G->X, G->n_sub, G->mean_abs, n_grid,
                                    plan_g[pg].grp == G_GU ? &ffn : NULL, s, &e0, &e1, nth);
        alpha_sum += alpha;
        (*n_searched)++;
        if (verbose)
            qw_info("layer %d %-8s AWQ alpha %.2f: output error %.4g -> %.4g (%.1f%%)", l,
                    pg == 0 ? "q/k/v" : pg == 1 ? "o" : pg == 2 ? "gate/up" : "down", alpha, e0, e1,
                    e0 > 0 ? 100.0 * (e1 - e0) / e0 : 0.0);
        for (int i = 0; i < plan_g[pg].n; i++) {
            int k = plan_g[pg].kinds[i];
            qw_awq_scale_cols(w->w[k], w->rows[k], w->cols[k], s);
        }
        switch (plan_g[pg].grp) {
        case G_QKV: qw_awq_unscale_vec(w->L.attn_norm, G->dim, s); break;
        case G_O: qw_awq_unscale_rows(w->w[QW_QT_V], w->L.bv, w->rows[QW_QT_V], w->cols[QW_QT_V], s); break;
        case G_GU: qw_awq_unscale_vec(w->L.ffn_norm, G->dim, s); break;
        case G_DOWN: qw_awq_unscale_rows(w->w[QW_QT_UP], NULL, w->rows[QW_QT_UP], w->cols[QW_QT_UP], s); break;
        }
        group_rescale(G, s);
    }
    free(s);
    return alpha_sum;
}

// ---------------------------------------------------------------------------------------------------

qw_status qw_quantize_model(const qw_model *src, const qw_calib_set *calib, qw_qplan *plan,
                            const qw_quant_params *p, qw_model **out, qw_quant_report *rep) {
    *out = NULL;
    if (src->quantized_tensor)
        return qw_error(QW_ERR_UNSUPPORTED, "%s: tensor %s is already %s; calibrated methods start from float "
                        "weights (use --method rtn to requantize)", src->path, src->quantized_tensor->name,
                        qw_type_name(src->quantized_tensor->type));
    double t0 = qw_time_sec();
    const int nth = p->n_threads > 0 ? p->n_threads : 1, L = src->config.n_layers;
    const int awq = p->method == QW_QMETHOD_AWQ || p->method == QW_QMETHOD_AWQ_GPTQ;
    const int gptq = p->method == QW_QMETHOD_GPTQ || p->method == QW_QMETHOD_AWQ_GPTQ;
    qmodel *q;
    QW_TRY(model_shell(src, &q));
    runner r;
    qw_status s = runner_init(&r, src, calib, nth);
    if (s != QW_OK) {
        qw_quant_model_free(&q->m);
        return s;
    }
    int64_t h = src->config.hidden_size, n_sub = p->awq_tokens > 0 ? p->awq_tokens : 512;
    if (!awq) n_sub = 0;
    if (n_sub > r.total) n_sub = r.total;
    int64_t stride = n_sub > 0 ? r.total / n_sub : 1;
    float *scratch = malloc(sizeof(float) * (size_t)((int64_t)r.max_len * h));
    if (!scratch) s = qw_error(QW_ERR_NOMEM, "out of memory");
    qw_gptq_params gp = p->gptq;
    gp.n_threads = nth;
    qw_progress pg;
    qw_progress_init(&pg, "quantize", "layers", L);
    if (!p->progress) qw_progress_enable(&pg, 0);
    double alpha_sum = 0;
    int n_searched = 0;
    for (int l = 0; s == QW_OK && l < L; l++) {
        wlayer w;
        group g[G_COUNT];
        s = wlayer_init(&w, &src->layers[l], &q->m.layers[l]);
        if (s != QW_OK) break;
        s = groups_init(g, src, l, r.max_len, n_sub, gptq || awq); // AWQ's clip search weighs errors by H too
        if (s != QW_OK) {
            wlayer_free(&w);
            break;
        }
        double tl0 = qw_time_sec(), tl1, tl2;
        // 1. the float layer: Hessians, mean |x| and AWQ's token sample of every linear's input
        for (int i = 0; i < calib->n; i++) {
            qw_layer_capture cap = {g[G_QKV].cap, g[G_O].cap, g[G_GU].cap, g[G_DOWN].cap};
            runner_layer(&r, i, &w.L, l, &cap, scratch);
            int64_t n = calib->len[i];
            for (int k = 0; k < G_COUNT; k++) {
                group *G = &g[k];
                if (G->H) qw_quant_hessian_add(G->H, G->dim, G->cap, n, 2.0 / (double)r.total, nth);
                for (int64_t t = 0; t < n; t++) {
                    const float *x = G->cap + t * G->dim;
                    for (int64_t c = 0; c < G->dim; c++) G->mean_abs[c] += fabsf(x[c]) / (double)r.total;
                    int64_t gt = r.off[i] + t;
                    if (n_sub > 0 && gt % stride == 0 && G->n_sub < n_sub)
                        memcpy(G->X + G->n_sub++ * G->dim, x, sizeof(float) * (size_t)G->dim);
                }
            }
        }
        for (int k = 0; k < G_COUNT && g[k].H; k++) qw_quant_hessian_symmetrize(g[k].H, g[k].dim);
        tl1 = qw_time_sec();
        // 2. AWQ scales, folded into the float layer
        if (awq) alpha_sum += awq_layer(&w, g, plan, l, p->awq_grid, nth, p->verbose, &n_searched);
        // 3. each matrix onto its type's grid; w keeps the values the file will hold
        for (int k = 0; s == QW_OK && k < QW_QT_PER_LAYER; k++) {
            qw_type t = plan->layer[l * QW_QT_PER_LAYER + k];
            int64_t rows = w.rows[k], cols = w.cols[k];
            size_t nb = qw_type_row_bytes(t, cols) * (size_t)rows;
            void *bytes = malloc(nb);
            if ((s = own(q, bytes)) != QW_OK) break;
            if (!qw_type_get(t)->is_quantized) {
                qw_convert_from_f32(t, w.w[k], bytes, rows * cols);
                qw_convert_to_f32(t, bytes, w.w[k], rows * cols);
            } else if (gptq) {
                group *G = &g[g_group_of[k]];
                s = qw_gptq_quantize(w.w[k], rows, cols, G->H, t, &gp, bytes);
                if (s == QW_ERR_ARG) { // no positive definite Hessian even with more dampening: RTN for this one
                    char nm[96];
                    qw_warn("%s: %s; rounding to nearest instead", qw_qplan_name(nm, sizeof nm, l, k), qw_error_message());
                    qw_rtn_quantize(w.w[k], rows, cols, t, bytes, nth);
                    s = QW_OK;
                }
            } else if (awq && qw_grid_block(t) > 0 && cols % qw_grid_block(t) == 0) {
                qw_awq_clip_quantize(w.w[k], rows, cols, t, g[g_group_of[k]].H, p->awq_grid, bytes, nth);
            } else {
                qw_rtn_quantize(w.w[k], rows, cols, t, bytes, nth);
            }
            qw_tensor *d = layer_mat(&q->m.layers[l], k);
            d->type = t;
            d->data = bytes;
            d->nbytes = nb;
            if (k == QW_QT_V || k == QW_QT_O) { // the Hessians of q/k/v and o are done with
                free(g[g_group_of[k]].H);
                g[g_group_of[k]].H = NULL;
            }
        }
        groups_free(g);
        tl2 = qw_time_sec();
        // 4. the stream moves on through the quantized layer (w now holds its values)
        for (int i = 0; s == QW_OK && i < calib->n; i++) runner_layer(&r, i, &w.L, l, NULL, NULL);
        wlayer_free(&w);
        const qw_tensor *ts[] = {&src->layers[l].wq, &src->layers[l].wk, &src->layers[l].wv, &src->layers[l].wo,
                                 &src->layers[l].w_gate, &src->layers[l].w_up, &src->layers[l].w_down};
        for (int k = 0; k < QW_QT_PER_LAYER; k++) release(src, ts[k]);
        if (p->verbose)
            qw_info("layer %d: statistics %.1f s, quantization %.1f s, quantized forward %.1f s", l, tl1 - tl0,
                    tl2 - tl1, qw_time_sec() - tl2);
        qw_progress_update(&pg, l + 1);
    }
    qw_progress_end(&pg);
    free(scratch);
    int64_t total = r.total;
    runner_free(&r);
    if (s != QW_OK) {
        qw_quant_model_free(&q->m);
        return s;
    }
    if (rep) {
        rep->seconds = qw_time_sec() - t0;
        rep->calib_tokens = total;
        rep->awq_alpha_mean = n_searched ? alpha_sum / n_searched : 0;
        rep->peak_rss = qw_peak_rss();
        rep->bpw = qw_qplan_bpw(plan, src);
    }
    *out = &q->m;
    return QW_OK;
}

// ---------------------------------------------------------------------------------------------------
// --bpw: what each matrix costs at each type it could take, measured where it matters: the KLD of the
// model's next-token distribution against the float model's, on calibration tokens, with that matrix
// alone rounded (everything else float). Small perturbations' KLDs add up nearly, so the sum over the
// matrices predicts the whole file's, and a greedy allocation by KLD removed per extra bit spends the
// budget well. The embedding (and lm_head) compete with the layers' matrices on the same scale.
//
// A layer matrix's KLD is measured at its base type; at the ladder's types it is that KLD times the ratio
// of local errors (rounding error weighted by the input's mean square per column): what the rest of the
// model makes of an error in this matrix is the measured part, and how much smaller a finer type makes
// the error is local. That takes one forward of the model's tail per matrix instead of four. Measured
// on the shipped model (--bpw 5.3, GPTQ): the same allocation counts and held-out KLD (0.000223 against
// 0.000226), the whole quantize 9.3 s against 19.2 s. --bpw-full measures every candidate.

#define N_LADDER 3
static const qw_type g_ladder[N_LADDER] = {QW_TYPE_Q5_K, QW_TYPE_Q6_K, QW_TYPE_Q8_0};

static double type_bits(qw_type t, int64_t cols) { return 8.0 * (double)qw_type_row_bytes(t, cols) / (double)cols; }

static void log_softmax(float *x, int64_t n) {
    float mx = x[0];
    for (int64_t i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double z = 0;
    for (int64_t i = 0; i < n; i++) z += exp((double)x[i] - mx);
    float lz = mx + (float)log(z);
    for (int64_t i = 0; i < n; i++) x[i] -= lz;
}

// KLD(ref || this) of one token's distribution, ref as log-probabilities, this as logits (overwritten).
static double token_kld(const float *ref_lp, float *logits, int64_t n) {
    log_softmax(logits, n);
    double d = 0;
    for (int64_t i = 0; i < n; i++) d += exp((double)ref_lp[i]) * ((double)ref_lp[i] - logits[i]);
    return d;
}

typedef struct {
    runner *r;
    float *S;      // (n_layers, total, hidden) the float residual stream at each layer's input
    float *ref_lp; // (total, vocab) the float model's log-probabilities
    float *logits; // (max_len, vocab)
} sens_ctx;

// Sequence i as the batch (every token wanting logits), and in r->st.x its stream at layer l0's input:
// the float model's, or m's embeddings when l0 is 0.
static void sens_begin(sens_ctx *c, const qw_model *m, int l0, int i) {
    runner *r = c->r;
    int64_t h = m->config.hidden_size, n = r->cs->len[i];
    qw_batch_clear(&r->b);
    for (int j = 0; j < n; j++) qw_batch_add(&r->b, r->cs->seq[i][j], j, 0, 1);
    qw_status s = qw_forward_begin(m, &r->st, &r->kv, &r->b);
    QW_ASSERT(s == QW_OK); // the batch was checked at init
    if (l0 > 0) memcpy(r->st.x, c->S + ((int64_t)l0 * r->total + r->off[i]) * h, sizeof(float) * (size_t)(n * h));
}

// Sequence i through model m from layer l0 on (sens_begin), with layer l0 replaced by y when y is not
// NULL; logits of every token.
static void sens_tail(sens_ctx *c, const qw_model *m, int l0, const qw_layer *y, int i) {
    runner *r = c->r;
    sens_begin(c, m, l0, i);
    for (int l = l0; l < m->config.n_layers; l++)
        qw_forward_layer(m, l == l0 && y ? y : &m->layers[l], l, &r->st, &r->kv, &r->b, NULL);
    qw_forward_end(m, &r->st, &r->b, c->logits);
}

// Mean KLD over the calibration tokens of model m with layer l0 replaced by y (see sens_tail).
static double sens_kld(sens_ctx *c, const qw_model *m, int l0, const qw_layer *y) {
    int64_t V = m->config.vocab_size;
    double sum = 0;
    for (int i = 0; i < c->r->cs->n; i++) {
        sens_tail(c, m, l0, y, i);
        for (int64_t t = 0; t < c->r->cs->len[i]; t++)
            sum += token_kld(c->ref_lp + (c->r->off[i] + t) * V, c->logits + t * V, V);
    }
    return sum / (double)c->r->total;
}

static qw_status sens_init(sens_ctx *c, runner *r, const qw_model *m) {
    memset(c, 0, sizeof *c);
    c->r = r;
    int64_t h = m->config.hidden_size, V = m->config.vocab_size, L = m->config.n_layers;
    c->S = malloc(sizeof(float) * (size_t)(L * r->total * h));
    c->ref_lp = malloc(sizeof(float) * (size_t)(r->total * V));
    c->logits = malloc(sizeof(float) * (size_t)((int64_t)r->max_len * V));
    if (!c->S || !c->ref_lp || !c->logits)
        return qw_error(QW_ERR_NOMEM, "--bpw: float streams and log-probabilities of %lld tokens: out of memory "
                        "(lower --awq-tokens)", (long long)r->total);
    for (int64_t l = 0; l < L; l++) { // r->R holds the embeddings; move it on layer by layer
        memcpy(c->S + l * r->total * h, r->R, sizeof(float) * (size_t)(r->total * h));
        for (int i = 0; i < r->cs->n; i++) runner_layer(r, i, &m->layers[l], (int)l, NULL, NULL);
    }
    for (int i = 0; i < r->cs->n; i++) {
        sens_tail(c, m, (int)L - 1, NULL, i); // the last layer again: cheaper than a head-only path
        for (int64_t t = 0; t < r->cs->len[i]; t++) {
            float *lp = c->ref_lp + (r->off[i] + t) * V;
            memcpy(lp, c->logits + t * V, sizeof(float) * (size_t)V);
            log_softmax(lp, V);
        }
    }
    return QW_OK;
}

static void sens_free(sens_ctx *c) {
    free(c->S);
    free(c->ref_lp);
    free(c->logits);
}

// Candidate c of a matrix: 0 is the plan's type, then the ladder; NULL where the ladder type does not
// fit the rows or is no larger.
static int candidate(qw_type cur, int c, int64_t cols, qw_type *t) {
    *t = c == 0 ? cur : g_ladder[c - 1];
    return c == 0 || (cols % qw_type_get(*t)->block_size == 0 && type_bits(*t, cols) > type_bits(cur, cols));
}

// Mean square per column of the inputs of layer l's four linear groups (msq[G_*], dim each), over
// the calibration tokens, the stream at the layer's input taken from the float model's.
static qw_status input_msq(sens_ctx *c, const qw_model *m, int l, double *const *msq) {
    runner *r = c->r;
    const qw_layer *y = &m->layers[l];
    int64_t h = m->config.hidden_size, dim[G_COUNT] = {h, (int64_t)y->n_heads * m->config.head_dim, h, y->n_ff};
    float *buf[G_COUNT] = {0};
    qw_status s = QW_OK;
    for (int g = 0; g < G_COUNT && s == QW_OK; g++) {
        memset(msq[g], 0, sizeof(double) * (size_t)dim[g]);
        if (!(buf[g] = malloc(sizeof(float) * (size_t)(r->max_len * dim[g])))) s = qw_error(QW_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; s == QW_OK && i < r->cs->n; i++) {
        int64_t n = r->cs->len[i];
        sens_begin(c, m, l, i);
        qw_layer_capture cap = {buf[G_QKV], buf[G_O], buf[G_GU], buf[G_DOWN]};
        qw_forward_layer(m, y, l, &r->st, &r->kv, &r->b, &cap);
        for (int g = 0; g < G_COUNT; g++)
            for (int64_t t = 0; t < n; t++)
                for (int64_t j = 0; j < dim[g]; j++) msq[g][j] += (double)buf[g][t * dim[g] + j] * buf[g][t * dim[g] + j];
    }
    for (int g = 0; g < G_COUNT; g++) {
        for (int64_t j = 0; s == QW_OK && j < dim[g]; j++) msq[g][j] /= (double)r->total;
        free(buf[g]);
    }
    return s;
}

// sum over the matrix of (rounded - original)^2 * msq[column]
static double local_err(const float *q, const float *w, int64_t rows, int64_t cols, const double *msq) {
    double e = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            double d = (double)q[i * cols + j] - w[i * cols + j];
            e += d * d * msq[j];
        }
    return e;
}

// err[i * (1 + N_LADDER) + c] for layer matrix i (l * NK + k): KLD with it alone at candidate c; measured
// for every c with full, else for c = 0 and scaled by local errors for the others (qw_quant_allocate_bits).
static qw_status sens_layers(sens_ctx *c, const qw_model *src, const qw_qplan *plan, int nth, int full, double *err,
                             qw_progress *pg) {
    const int L = src->config.n_layers, NK = QW_QT_PER_LAYER;
    int64_t h = src->config.hidden_size, max_ff = 0, max_q = 0;
    for (int l = 0; l < L; l++) {
        max_ff = src->layers[l].n_ff > max_ff ? src->layers[l].n_ff : max_ff;
        int64_t q = (int64_t)src->layers[l].n_heads * src->config.head_dim;
        max_q = q > max_q ? q : max_q;
    }
    double *msq[G_COUNT] = {malloc(sizeof(double) * (size_t)h), malloc(sizeof(double) * (size_t)max_q),
                            malloc(sizeof(double) * (size_t)h), malloc(sizeof(double) * (size_t)max_ff)};
    qw_status s = msq[0] && msq[1] && msq[2] && msq[3] ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
    for (int l = 0; s == QW_OK && l < L; l++) {
        wlayer w;
        if (!full && (s = input_msq(c, src, l, msq)) != QW_OK) break;
        if ((s = wlayer_init(&w, &src->layers[l], &src->layers[l])) != QW_OK) break;
        for (int k = 0; k < NK && s == QW_OK; k++) {
            int64_t rows = w.rows[k], cols = w.cols[k];
            float *orig = w.w[k], *tmp = malloc(sizeof(float) * (size_t)(rows * cols));
            double local0 = 0;
            if (!tmp) s = qw_error(QW_ERR_NOMEM, "out of memory");
            for (int ci = 0; s == QW_OK && ci <= N_LADDER; ci++) {
                qw_type t;
                double *e = &err[(l * NK + k) * (1 + N_LADDER) + ci];
                *e = NAN;
                if (plan->kept[l * NK + k] || !candidate(plan->layer[l * NK + k], ci, cols, &t)) continue;
                if (!qw_type_get(t)->is_quantized) { // a float type: no error to speak of
                    *e = 0;
                    continue;
                }
                memcpy(tmp, orig, sizeof(float) * (size_t)(rows * cols));
                qw_rtn_quantize(tmp, rows, cols, t, NULL, nth);
                if (full || ci == 0) {
                    layer_mat(&w.L, k)->data = tmp;
                    *e = sens_kld(c, src, l, &w.L);
                    layer_mat(&w.L, k)->data = orig;
                }
                if (full) continue;
                double local = local_err(tmp, orig, rows, cols, msq[g_group_of[k]]);
                if (ci == 0) local0 = local;
                else *e = local0 > 0 ? err[(l * NK + k) * (1 + N_LADDER)] * local / local0 : 0;
            }
            free(tmp);
        }
        wlayer_free(&w);
        qw_progress_update(pg, l + 1);
    }
    for (int g = 0; g < G_COUNT; g++) free(msq[g]);
    return s;
}

// The same for the embedding (its rows, and lm_head's when tied) or an untied lm_head: e[c].
static qw_status sens_table(sens_ctx *c, const qw_model *src, int output, qw_type cur, int nth, double *e) {
    const qw_tensor *t = output ? &src->lm_head : &src->tok_embd;
    int64_t rows = qw_tensor_rows(t), cols = qw_tensor_cols(t);
    float *f = malloc(sizeof(float) * (size_t)(rows * cols));
    if (!f) return qw_error(QW_ERR_NOMEM, "--bpw: %s in f32: out of memory", t->name);
    for (int ci = 0; ci <= N_LADDER; ci++) {
        qw_type ty;
        e[ci] = NAN;
        if (!candidate(cur, ci, cols, &ty)) continue;
        if (!qw_type_get(ty)->is_quantized) {
            e[ci] = 0;
            continue;
        }
        qw_convert_to_f32(t->type, t->data, f, rows * cols);
        qw_rtn_quantize(f, rows, cols, ty, NULL, nth);
        qw_model v = *src; // a view with this one table swapped
        qw_tensor *dst = output ? &v.lm_head : &v.tok_embd;
        dst->type = QW_TYPE_F32, dst->data = f, dst->nbytes = sizeof(float) * (size_t)(rows * cols);
        if (!output && src->config.tie_word_embeddings) v.lm_head = v.tok_embd;
        e[ci] = sens_kld(c, &v, output ? src->config.n_layers - 1 : 0, NULL);
    }
    free(f);
    return QW_OK;
}

// The greedy allocation over items (layer matrices, then the embedding, then an untied lm_head): the
// upgrade with the most KLD removed per extra bit that still fits, until none does. cur_type[i] is
// updated in place; returns the matrices moved above their starting type.
static int allocate_greedy(const double *err, const double *numel, const int64_t *cols, qw_type *cur_type,
                           int n_items, double budget, int verbose, int L) {
    int *cur_c = calloc((size_t)n_items, sizeof(int)), n_up = 0;
    QW_ASSERT(cur_c);
    for (;;) {
        double best = 0, best_bits = 0;
        int bi = -1, bc = -1;
        for (int i = 0; i < n_items; i++) {
            const double *e = &err[i * (1 + N_LADDER)];
            if (isnan(e[0])) continue; // kept, or nothing measured
            for (int c = cur_c[i] + 1; c <= N_LADDER; c++) {
                if (isnan(e[c])) continue;
                double dbits = (type_bits(g_ladder[c - 1], cols[i]) - type_bits(cur_type[i], cols[i])) * numel[i];
                if (dbits <= 0 || dbits > budget) continue;
                double gain = (e[cur_c[i]] - e[c]) / dbits;
                if (gain > best) best = gain, bi = i, bc = c, best_bits = dbits;
            }
        }
        if (bi < 0) break;
        if (cur_c[bi] == 0) n_up++;
        if (verbose) {
            char nm[96];
            int kind = bi < L * QW_QT_PER_LAYER ? bi % QW_QT_PER_LAYER : bi == L * QW_QT_PER_LAYER ? QW_QT_EMBED : QW_QT_OUTPUT;
            qw_info("--bpw: %s %s -> %s (KLD %.3g -> %.3g)", qw_qplan_name(nm, sizeof nm, bi / QW_QT_PER_LAYER, kind),
                    qw_type_name(cur_type[bi]), qw_type_name(g_ladder[bc - 1]), err[bi * (1 + N_LADDER) + cur_c[bi]],
                    err[bi * (1 + N_LADDER) + bc]);
        }
        cur_c[bi] = bc;
        cur_type[bi] = g_ladder[bc - 1];
        budget -= best_bits;
    }
    free(cur_c);
    return n_up;
}

qw_status qw_quant_allocate_bits(const qw_model *src, const qw_calib_set *calib, qw_qplan *plan,
                                 const qw_quant_params *p, qw_quant_report *rep) {
    const int nth = p->n_threads > 0 ? p->n_threads : 1, L = src->config.n_layers, NK = QW_QT_PER_LAYER;
    const int tied = src->config.tie_word_embeddings, n_items = L * NK + 1 + !tied;
    if (src->quantized_tensor)
        return qw_error(QW_ERR_UNSUPPORTED, "%s: --bpw measures sensitivity on float weights; this model is already "
                        "quantized", src->path);
    double budget = (p->bpw - qw_qplan_bpw(plan, src)) * (double)src->n_params;
    if (budget <= 0) {
        qw_warn("--bpw %.3f: the plan already takes %.3f bits per weight; nothing to upgrade", p->bpw, qw_qplan_bpw(plan, src));
        return QW_OK;
    }
    // a few sequences are enough to rank the matrices
    qw_calib_set sub = *calib;
    int64_t tok = 0, want = p->awq_tokens > 0 ? p->awq_tokens : 512;
    for (sub.n = 0; sub.n < calib->n && tok < want; sub.n++) tok += calib->len[sub.n];
    double *err = malloc(sizeof(double) * (size_t)(n_items * (1 + N_LADDER))), *numel = malloc(sizeof(double) * (size_t)n_items);
    int64_t *cols = malloc(sizeof(int64_t) * (size_t)n_items);
    qw_type *types = malloc(sizeof(qw_type) * (size_t)n_items);
    if (!err || !numel || !cols || !types) {
        free(err), free(numel), free(cols), free(types);
        return qw_error(QW_ERR_NOMEM, "out of memory");
    }
    runner r;
    sens_ctx c;
    memset(&c, 0, sizeof c);
    qw_status s = runner_init(&r, src, &sub, nth);
    const int have_runner = s == QW_OK;
    if (s == QW_OK) s = sens_init(&c, &r, src);
    qw_progress pg;
    qw_progress_init(&pg, "sensitivity", "layers", L);
    if (!p->progress) qw_progress_enable(&pg, 0);
    if (s == QW_OK) s = sens_layers(&c, src, plan, nth, p->bpw_full, err, &pg);
    qw_progress_end(&pg);
    for (int i = 0; i < L * NK; i++) {
        const qw_tensor *t = layer_mat((qw_layer *)&src->layers[i / NK], i % NK);
        numel[i] = (double)qw_tensor_numel(t), cols[i] = qw_tensor_cols(t), types[i] = plan->layer[i];
    }
    for (int o = 0; o <= !tied; o++) { // the embedding, then an untied lm_head
        int i = L * NK + o;
        const qw_tensor *t = o ? &src->lm_head : &src->tok_embd;
        numel[i] = (double)qw_tensor_numel(t), cols[i] = qw_tensor_cols(t), types[i] = o ? plan->output : plan->embed;
        for (int ci = 0; ci <= N_LADDER; ci++) err[i * (1 + N_LADDER) + ci] = NAN;
        if (s == QW_OK && !(o ? plan->output_kept : plan->embed_kept))
            s = sens_table(&c, src, o, types[i], nth, err + i * (1 + N_LADDER));
    }
    if (s == QW_OK) {
        int n_up = allocate_greedy(err, numel, cols, types, n_items, budget, p->verbose, L);
        for (int i = 0; i < L * NK; i++) plan->layer[i] = types[i];
        plan->embed = types[L * NK];
        plan->output = tied ? plan->embed : types[L * NK + 1];
        if (rep) rep->n_upgraded = n_up;
    }
    sens_free(&c);
    if (have_runner) runner_free(&r);
    free(err), free(numel), free(cols), free(types);
    return s;
}
