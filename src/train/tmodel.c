// train/tmodel: the trainable Qwen2: one f32 parameter block carved into named arrays, its gradient block,
// optional LoRA adapters, the activations of a micro-batch, and the full forward and backward passes.
#include "train.h"

#include <errno.h>
#include <math.h>
#include <sys/stat.h>

#define L_ m->shape.n_layers
#define C_ ((int64_t)m->shape.hidden)
#define V_ ((int64_t)m->shape.vocab)
#define F_ ((int64_t)m->shape.ff)
#define HD_ m->shape.head_dim
#define QD_ ((int64_t)m->shape.n_heads * m->shape.head_dim)
#define KVD_ ((int64_t)m->shape.n_kv_heads * m->shape.head_dim)

// The address of parameter array i (in the order of qw_tparams).
static float **pfield(qw_tparams *p, int i) {
    float **a[QW_TPARAMS_N] = {&p->wte, &p->ln1, &p->wq, &p->bq, &p->wk, &p->bk, &p->wv, &p->bv,
                               &p->wo, &p->ln2, &p->wg, &p->wu, &p->wd, &p->lnf, &p->lm_head};
    return a[i];
}
#define PTR(p, i) pfield(p, i)

// decay: matrices and embeddings (index -> 1)
static const int g_decay[QW_TPARAMS_N] = {1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1};

static void set_sizes(qw_tmodel *m) {
    int64_t L = L_, C = C_, V = V_, F = F_, QD = QD_, KVD = KVD_;
    size_t s[QW_TPARAMS_N] = {(size_t)(V * C), (size_t)(L * C), (size_t)(L * QD * C), (size_t)(L * QD),
                              (size_t)(L * KVD * C), (size_t)(L * KVD), (size_t)(L * KVD * C), (size_t)(L * KVD),
                              (size_t)(L * C * QD), (size_t)(L * C), (size_t)(L * F * C), (size_t)(L * F * C),
                              (size_t)(L * C * F), (size_t)C, m->shape.tied ? 0 : (size_t)(V * C)};
    memcpy(m->sizes, s, sizeof s);
    m->n_params = 0;
    for (int i = 0; i < QW_TPARAMS_N; i++) m->n_params += s[i];
}

static void carve(qw_tmodel *m, qw_tparams *p, float *mem) {
    for (int i = 0; i < QW_TPARAMS_N; i++) {
        *PTR(p, i) = m->sizes[i] ? mem : NULL;
        mem += m->sizes[i];
    }
}

static qw_status shape_from_config(qw_tmodel *m, const qw_config *c) {
    memset(m, 0, sizeof *m);
    m->config = *c;
    qw_tshape *s = &m->shape;
    s->vocab = c->vocab_size;
    s->hidden = c->hidden_size;
    s->n_layers = c->n_layers;
    s->n_heads = c->n_heads;
    s->n_kv_heads = c->n_kv_heads;
    s->head_dim = c->head_dim;
    s->ff = c->intermediate_size;
    s->tied = c->tie_word_embeddings;
    s->eps = c->rms_norm_eps;
    s->theta = c->rope_theta;
    if (s->vocab < 1 || s->hidden < 1 || s->n_layers < 1 || s->n_heads < 1 || s->n_kv_heads < 1 || s->ff < 1 ||
        s->head_dim < 2 || s->head_dim % 2 || s->n_heads % s->n_kv_heads)
        return qw_error(QW_ERR_ARG, "model shape cannot be trained (sizes must be positive, head_dim even, "
                                    "heads a multiple of kv heads)");
    set_sizes(m);
    m->params_mem = qw_calloc_aligned(m->n_params * sizeof(float));
    m->grads_mem = qw_calloc_aligned(m->n_params * sizeof(float));
    if (!m->params_mem || !m->grads_mem) {
        qw_tmodel_free(m);
        return qw_error(QW_ERR_NOMEM, "%zu parameters: out of memory", m->n_params);
    }
    carve(m, &m->params, m->params_mem);
    carve(m, &m->grads, m->grads_mem);
    return QW_OK;
}

qw_status qw_tmodel_init_random(qw_tmodel *m, const qw_config *c, uint64_t seed) {
    QW_TRY(shape_from_config(m, c));
    qw_rng r;
    qw_rng_seed(&r, seed);
    for (int i = 0; i < QW_TPARAMS_N; i++) {
        float *p = *PTR(&m->params, i);
        int norm = i == 1 || i == 9 || i == 13, bias = i == 3 || i == 5 || i == 7;
        for (size_t j = 0; j < m->sizes[i]; j++) p[j] = norm ? 1.0f : bias ? 0.0f : 0.02f * qw_rng_normal(&r);
    }
    return QW_OK;
}

// A matrix of any type (a quantized GGUF base is dequantized: training runs in f32) and layout.
static void matrix_to_f32(const qw_tensor *t, float *dst, int64_t n) {
    QW_ASSERT(qw_tensor_numel(t) == n); // the loader checked every shape against the config
    const int64_t rows = qw_tensor_rows(t), cols = qw_tensor_cols(t);
    for (int64_t r = 0; r < rows; r++) qw_tensor_row_to_float(t, r, dst + r * cols);
}

qw_status qw_tmodel_from_model(qw_tmodel *m, const qw_model *src) {
    const qw_config *c = &src->config;
    for (int l = 0; l < c->n_layers; l++) {
        const qw_layer *y = &src->layers[l];
        if (y->n_heads != c->n_heads || y->n_kv_heads != c->n_kv_heads || y->n_ff != c->intermediate_size)
            return qw_error(QW_ERR_UNSUPPORTED, "%s: layer %d has its own widths (a pruned model); training needs "
                                                "every layer the same", src->path, l);
    }
    QW_TRY(shape_from_config(m, c));
    int64_t C = C_, QD = QD_, KVD = KVD_, F = F_;
    qw_tparams *p = &m->params;
    matrix_to_f32(&src->tok_embd, p->wte, V_ * C);
    for (int l = 0; l < L_; l++) {
        const qw_layer *y = &src->layers[l];
        memcpy(p->ln1 + l * C, y->attn_norm, sizeof(float) * (size_t)C);
        memcpy(p->ln2 + l * C, y->ffn_norm, sizeof(float) * (size_t)C);
        memcpy(p->bq + l * QD, y->bq, sizeof(float) * (size_t)QD);
        memcpy(p->bk + l * KVD, y->bk, sizeof(float) * (size_t)KVD);
        memcpy(p->bv + l * KVD, y->bv, sizeof(float) * (size_t)KVD);
        matrix_to_f32(&y->wq, p->wq + l * QD * C, QD * C);
        matrix_to_f32(&y->wk, p->wk + l * KVD * C, KVD * C);
        matrix_to_f32(&y->wv, p->wv + l * KVD * C, KVD * C);
        matrix_to_f32(&y->wo, p->wo + l * C * QD, C * QD);
        matrix_to_f32(&y->w_gate, p->wg + l * F * C, F * C);
        matrix_to_f32(&y->w_up, p->wu + l * F * C, F * C);
        matrix_to_f32(&y->w_down, p->wd + l * C * F, C * F);
    }
    memcpy(p->lnf, src->out_norm, sizeof(float) * (size_t)C);
    if (!m->shape.tied) matrix_to_f32(&src->lm_head, p->lm_head, V_ * C);
    return QW_OK;
}

// (in, out) widths of each LoRA target
static void lora_dims(const qw_tmodel *m, int t, int64_t *in, int64_t *out) {
    int64_t C = C_, QD = QD_, KVD = KVD_, F = F_;
    int64_t d[QW_LORA_N][2] = {{C, QD}, {C, KVD}, {C, KVD}, {QD, C}, {C, F}, {C, F}, {F, C}};
    *in = d[t][0];
    *out = d[t][1];
}

int qw_lora_parse_targets(const char *s) {
    static const char *names[QW_LORA_N] = {"q", "k", "v", "o", "gate", "up", "down"};
    if (strcmp(s, "all") == 0) return (1 << QW_LORA_N) - 1;
    int mask = 0;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < QW_LORA_N; i++)
            if (strlen(names[i]) == n && strncmp(p, names[i], n) == 0) found = i;
        if (found < 0) return -1;
        mask |= 1 << found;
        p += n;
        if (*p == ',') p++;
    }
    return mask ? mask : -1;
}

qw_status qw_tmodel_add_lora(qw_tmodel *m, int rank, float alpha, int targets, uint64_t seed) {
    if (rank < 1 || targets <= 0) return qw_error(QW_ERR_ARG, "LoRA needs a rank >= 1 and at least one target");
    m->lora_rank = rank;
    m->lora_targets = targets;
    m->lora_scale = alpha / (float)rank;
    size_t n = 0;
    for (int t = 0; t < QW_LORA_N; t++)
        if (targets & (1 << t)) {
            int64_t in, out;
            lora_dims(m, t, &in, &out);
            n += (size_t)L_ * (size_t)rank * (size_t)(in + out);
        }
    m->n_lora = n;
    m->lora_mem = qw_calloc_aligned(n * sizeof(float));
    m->lora_grad_mem = qw_calloc_aligned(n * sizeof(float));
    if (!m->lora_mem || !m->lora_grad_mem) return qw_error(QW_ERR_NOMEM, "LoRA: out of memory");
    qw_rng r;
    qw_rng_seed(&r, seed ^ 0x10a10a10aull);
    float *p = m->lora_mem, *g = m->lora_grad_mem;
    for (int t = 0; t < QW_LORA_N; t++)
        if (targets & (1 << t)) {
            int64_t in, out;
            lora_dims(m, t, &in, &out);
            size_t na = (size_t)L_ * (size_t)rank * (size_t)in, nb = (size_t)L_ * (size_t)out * (size_t)rank;
            m->lora_a[t] = p;
            m->lora_da[t] = g;
            float bound = 1.0f / sqrtf((float)in);
            for (size_t i = 0; i < na; i++) p[i] = bound * (2.0f * qw_rng_uniform(&r) - 1.0f);
            p += na;
            g += na;
            m->lora_b[t] = p; // zero: the adapted model starts as the base
            m->lora_db[t] = g;
            p += nb;
            g += nb;
        }
    // the base is frozen: no gradients for it
    qw_free_aligned(m->grads_mem);
    m->grads_mem = NULL;
    memset(&m->grads, 0, sizeof m->grads);
    return QW_OK;
}

qw_status qw_tmodel_alloc(qw_tmodel *m, int B, int T, int n_threads) {
    m->max_B = B;
    m->max_T = T;
    m->n_threads = n_threads < 1 ? 1 : n_threads;
    size_t BT = (size_t)B * T, L = (size_t)L_, C = (size_t)C_, QD = (size_t)QD_, KVD = (size_t)KVD_, F = (size_t)F_;
    size_t V = (size_t)V_, NH = (size_t)m->shape.n_heads, R = (size_t)m->lora_rank;
    size_t sizes[] = {(L + 1) * BT * C, L * BT * C, L * BT, L * BT * QD, L * BT * KVD, L * BT * KVD,
                      L * B * NH * T * T, L * BT * QD, L * BT * C, L * BT * C, L * BT, L * BT * F, L * BT * F,
                      L * BT * F, BT * C, BT, BT * C, BT * V, BT, L * QW_LORA_N * BT * R, (size_t)T * HD_};
    float **dst[] = {&m->resid, &m->ln1, &m->ln1_rstd, &m->q, &m->k, &m->v, &m->probs, &m->atty, &m->resid2,
                     &m->ln2, &m->ln2_rstd, &m->gate, &m->up, &m->hact, &m->lnf, &m->lnf_rstd, &m->lnf_active,
                     &m->logits, &m->losses, &m->lora_xa, &m->rope};
    size_t n = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) n += (sizes[i] + 15) & ~(size_t)15;
    m->acts_mem = qw_calloc_aligned(n * sizeof(float));
    size_t dsz[] = {BT * C, BT * C, BT * C, BT * QD, BT * KVD, BT * KVD, BT * QD, BT * F, BT * F, BT * F, BT * R};
    float **ddst[] = {&m->dresid, &m->dx2, &m->dln, &m->dq, &m->dk, &m->dv, &m->datty, &m->dgate, &m->dup,
                      &m->dhact, &m->dxa};
    size_t nd = 0;
    for (size_t i = 0; i < sizeof dsz / sizeof dsz[0]; i++) nd += (dsz[i] + 15) & ~(size_t)15;
    m->dmem = qw_calloc_aligned(nd * sizeof(float));
    m->active = malloc(BT * sizeof(int64_t));
    m->targets = malloc(BT * sizeof(int32_t));
    if (!m->acts_mem || !m->dmem || !m->active || !m->targets)
        return qw_error(QW_ERR_NOMEM, "activations for %d x %d tokens (%.1f GB): out of memory", B, T,
                        (double)(n + nd) * 4e-9);
    float *p = m->acts_mem;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *dst[i] = p;
        p += (sizes[i] + 15) & ~(size_t)15;
    }
    p = m->dmem;
    for (size_t i = 0; i < sizeof dsz / sizeof dsz[0]; i++) {
        *ddst[i] = p;
        p += (dsz[i] + 15) & ~(size_t)15;
    }
    qw_rope_table(m->rope, T, HD_, m->shape.theta);

    // the optimiser's view: what is trained
    free(m->slots);
    m->slots = calloc(2 * QW_LORA_N + QW_TPARAMS_N, sizeof *m->slots);
    if (!m->slots) return qw_error(QW_ERR_NOMEM, "out of memory");
    m->n_slots = 0;
    m->n_trainable = 0;
    if (m->lora_rank) {
        for (int t = 0; t < QW_LORA_N; t++)
            if (m->lora_targets & (1 << t)) {
                int64_t in, out;
                lora_dims(m, t, &in, &out);
                size_t na = (size_t)L_ * R * (size_t)in, nb = (size_t)L_ * (size_t)out * R;
                m->slots[m->n_slots++] = (qw_tslot){m->lora_a[t], m->lora_da[t], na, 1};
                m->slots[m->n_slots++] = (qw_tslot){m->lora_b[t], m->lora_db[t], nb, 1};
            }
    } else {
        for (int i = 0; i < QW_TPARAMS_N; i++)
            if (m->sizes[i])
                m->slots[m->n_slots++] = (qw_tslot){*PTR(&m->params, i), *PTR(&m->grads, i), m->sizes[i], g_decay[i]};
    }
    for (int i = 0; i < m->n_slots; i++) m->n_trainable += m->slots[i].n;
    qw_gemm_set_threads(m->n_threads);
    return QW_OK;
}

void qw_tmodel_free(qw_tmodel *m) {
    qw_free_aligned(m->params_mem);
    qw_free_aligned(m->grads_mem);
    qw_free_aligned(m->lora_mem);
    qw_free_aligned(m->lora_grad_mem);
    qw_free_aligned(m->acts_mem);
    qw_free_aligned(m->dmem);
    free(m->active);
    free(m->targets);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

void qw_tmodel_zero_grad(qw_tmodel *m) {
    for (int i = 0; i < m->n_slots; i++) memset(m->slots[i].g, 0, m->slots[i].n * sizeof(float));
}

// ---------------------------------------------------------------------------------------------------
// linear layers with their optional adapter

static void lin_fwd(qw_tmodel *m, int l, int tgt, float *out, const float *inp, const float *w, const float *b,
                    int64_t K, int64_t N) {
    int64_t BT = (int64_t)m->B * m->T;
    qw_linear_forward(out, inp, w, b, BT, K, N, m->n_threads);
    if (m->lora_rank && (m->lora_targets & (1 << tgt))) {
        int64_t R = m->lora_rank;
        float *xa = m->lora_xa + ((size_t)l * QW_LORA_N + tgt) * (size_t)BT * R;
        const float *A = m->lora_a[tgt] + (size_t)l * R * K, *Bm = m->lora_b[tgt] + (size_t)l * N * R;
        qw_gemm(0, 1, BT, R, K, 1.0f, inp, K, A, K, 0.0f, xa, R, m->n_threads);
        qw_gemm(0, 1, BT, N, R, m->lora_scale, xa, R, Bm, R, 1.0f, out, N, m->n_threads);
    }
}

static void lin_bwd(qw_tmodel *m, int l, int tgt, float *dinp, float *dw, float *db, const float *dout,
                    const float *inp, const float *w, int64_t K, int64_t N) {
    int64_t BT = (int64_t)m->B * m->T;
    qw_linear_backward(dinp, dw, db, dout, inp, w, BT, K, N, m->n_threads);
    if (m->lora_rank && (m->lora_targets & (1 << tgt))) {
        int64_t R = m->lora_rank;
        const float *xa = m->lora_xa + ((size_t)l * QW_LORA_N + tgt) * (size_t)BT * R;
        const float *A = m->lora_a[tgt] + (size_t)l * R * K, *Bm = m->lora_b[tgt] + (size_t)l * N * R;
        float *dA = m->lora_da[tgt] + (size_t)l * R * K, *dB = m->lora_db[tgt] + (size_t)l * N * R;
        float s = m->lora_scale;
        qw_gemm(0, 0, BT, R, N, s, dout, N, Bm, R, 0.0f, m->dxa, R, m->n_threads);
        qw_gemm(1, 0, N, R, BT, s, dout, N, xa, R, 1.0f, dB, R, m->n_threads);
        qw_gemm(1, 0, R, K, BT, 1.0f, m->dxa, R, inp, K, 1.0f, dA, K, m->n_threads);
        qw_gemm(0, 0, BT, K, R, 1.0f, m->dxa, R, A, K, 1.0f, dinp, K, m->n_threads);
    }
}

static int lora_on(const qw_tmodel *m, int tgt) {
    return tgt >= 0 && tgt < QW_LORA_N && m->lora_rank && (m->lora_targets & (1 << tgt));
}

static float *lay(float *base, int l, int64_t per) { return base ? base + (size_t)l * (size_t)per : NULL; }

// ---------------------------------------------------------------------------------------------------
// forward / backward

double qw_tmodel_forward(qw_tmodel *m, const int32_t *tokens, const int32_t *targets, const uint8_t *mask,
                         int B, int T, int64_t *n_counted) {
    QW_ASSERT(B >= 1 && B <= m->max_B && T >= 1 && T <= m->max_T);
    m->B = B;
    m->T = T;
    m->tokens = tokens;
    int64_t BT = (int64_t)B * T, C = C_, V = V_, QD = QD_, KVD = KVD_, F = F_;
    int NH = m->shape.n_heads, NKV = m->shape.n_kv_heads, HD = HD_, nth = m->n_threads;
    const qw_tparams *p = &m->params;
    for (int64_t t = 0; t < BT; t++) {
        QW_ASSERT(tokens[t] >= 0 && tokens[t] < V);
        memcpy(m->resid + t * C, p->wte + (size_t)tokens[t] * C, sizeof(float) * (size_t)C);
    }
    for (int l = 0; l < L_; l++) {
        float *x = m->resid + (size_t)l * BT * C, *ln1 = m->ln1 + (size_t)l * BT * C;
        float *q = m->q + (size_t)l * BT * QD, *k = m->k + (size_t)l * BT * KVD, *v = m->v + (size_t)l * BT * KVD;
        float *probs = m->probs + (size_t)l * B * NH * T * T, *atty = m->atty + (size_t)l * BT * QD;
        float *x2 = m->resid2 + (size_t)l * BT * C, *ln2 = m->ln2 + (size_t)l * BT * C;
        float *gate = m->gate + (size_t)l * BT * F, *up = m->up + (size_t)l * BT * F, *h = m->hact + (size_t)l * BT * F;
        float *xo = m->resid + (size_t)(l + 1) * BT * C;
        qw_rmsnorm_forward(ln1, m->ln1_rstd + (size_t)l * BT, x, p->ln1 + l * C, BT, C, m->shape.eps);
        lin_fwd(m, l, QW_LORA_Q, q, ln1, p->wq + l * QD * C, p->bq + l * QD, C, QD);
        lin_fwd(m, l, QW_LORA_K, k, ln1, p->wk + l * KVD * C, p->bk + l * KVD, C, KVD);
        lin_fwd(m, l, QW_LORA_V, v, ln1, p->wv + l * KVD * C, p->bv + l * KVD, C, KVD);
        qw_rope_forward(q, m->rope, B, T, NH, HD);
        qw_rope_forward(k, m->rope, B, T, NKV, HD);
        qw_attention_forward(atty, probs, q, k, v, B, T, NH, NKV, HD, nth);
        lin_fwd(m, l, QW_LORA_O, x2, atty, p->wo + l * C * QD, NULL, QD, C);
        for (int64_t i = 0; i < BT * C; i++) x2[i] += x[i];
        qw_rmsnorm_forward(ln2, m->ln2_rstd + (size_t)l * BT, x2, p->ln2 + l * C, BT, C, m->shape.eps);
        lin_fwd(m, l, QW_LORA_GATE, gate, ln2, p->wg + l * F * C, NULL, C, F);
        lin_fwd(m, l, QW_LORA_UP, up, ln2, p->wu + l * F * C, NULL, C, F);
        qw_swiglu_forward(h, gate, up, BT * F, nth);
        lin_fwd(m, l, QW_LORA_DOWN, xo, h, p->wd + l * C * F, NULL, F, C);
        for (int64_t i = 0; i < BT * C; i++) xo[i] += x2[i];
    }
    qw_rmsnorm_forward(m->lnf, m->lnf_rstd, m->resid + (size_t)L_ * BT * C, p->lnf, BT, C, m->shape.eps);
    // only the rows whose loss counts go through lm_head (a fine-tune on answers skips most of them)
    m->n_active = 0;
    for (int64_t t = 0; t < BT; t++)
        if (!mask || mask[t]) {
            QW_ASSERT(targets[t] >= 0 && targets[t] < V);
            memcpy(m->lnf_active + m->n_active * C, m->lnf + t * C, sizeof(float) * (size_t)C);
            m->targets[m->n_active] = targets[t];
            m->active[m->n_active++] = t;
        }
    *n_counted = m->n_active;
    if (m->n_active == 0) return 0;
    const float *lm = m->shape.tied ? p->wte : p->lm_head;
    qw_linear_forward(m->logits, m->lnf_active, lm, NULL, m->n_active, C, V, nth);
    return qw_crossentropy_forward(m->logits, m->losses, m->targets, m->n_active, V, nth);
}

void qw_tmodel_backward(qw_tmodel *m, float loss_scale) {
    int B = m->B, T = m->T;
    int64_t BT = (int64_t)B * T, C = C_, V = V_, QD = QD_, KVD = KVD_, F = F_;
    int NH = m->shape.n_heads, NKV = m->shape.n_kv_heads, HD = HD_, nth = m->n_threads;
    const qw_tparams *p = &m->params;
    qw_tparams *g = &m->grads; // all NULL when the base is frozen
    size_t fC = sizeof(float) * (size_t)C;

    memset(m->dx2, 0, fC * (size_t)BT);
    if (m->n_active > 0) {
        qw_crossentropy_backward(m->logits, m->targets, loss_scale, m->n_active, V, nth);
        const float *lm = m->shape.tied ? p->wte : p->lm_head;
        float *dlm = m->shape.tied ? g->wte : g->lm_head;
        memset(m->dln, 0, fC * (size_t)m->n_active);
        qw_linear_backward(m->dln, dlm, NULL, m->logits, m->lnf_active, lm, m->n_active, C, V, nth);
        for (int64_t i = 0; i < m->n_active; i++) memcpy(m->dx2 + m->active[i] * C, m->dln + i * C, fC);
    }
    memset(m->dresid, 0, fC * (size_t)BT);
    qw_rmsnorm_backward(m->dresid, g->lnf, m->dx2, m->resid + (size_t)L_ * BT * C, p->lnf, m->lnf_rstd, BT, C);

    for (int l = L_ - 1; l >= 0; l--) {
        float *x = m->resid + (size_t)l * BT * C, *ln1 = m->ln1 + (size_t)l * BT * C;
        float *q = m->q + (size_t)l * BT * QD, *k = m->k + (size_t)l * BT * KVD, *v = m->v + (size_t)l * BT * KVD;
        float *probs = m->probs + (size_t)l * B * NH * T * T, *atty = m->atty + (size_t)l * BT * QD;
        float *x2 = m->resid2 + (size_t)l * BT * C, *ln2 = m->ln2 + (size_t)l * BT * C;
        float *gate = m->gate + (size_t)l * BT * F, *up = m->up + (size_t)l * BT * F, *h = m->hact + (size_t)l * BT * F;
        // xo = x2 + down(h): dresid flows to x2 unchanged
        memset(m->dhact, 0, sizeof(float) * (size_t)(BT * F));
        lin_bwd(m, l, QW_LORA_DOWN, m->dhact, lay(g->wd, l, C * F), NULL, m->dresid, h, p->wd + l * C * F, F, C);
        memset(m->dgate, 0, sizeof(float) * (size_t)(BT * F));
        memset(m->dup, 0, sizeof(float) * (size_t)(BT * F));
        qw_swiglu_backward(m->dgate, m->dup, m->dhact, gate, up, BT * F, nth);
        memset(m->dln, 0, fC * (size_t)BT);
        lin_bwd(m, l, QW_LORA_GATE, m->dln, lay(g->wg, l, F * C), NULL, m->dgate, ln2, p->wg + l * F * C, C, F);
        lin_bwd(m, l, QW_LORA_UP, m->dln, lay(g->wu, l, F * C), NULL, m->dup, ln2, p->wu + l * F * C, C, F);
        qw_rmsnorm_backward(m->dresid, lay(g->ln2, l, C), m->dln, x2, p->ln2 + l * C, m->ln2_rstd + (size_t)l * BT, BT, C);
        // x2 = x + o(atty)
        memset(m->datty, 0, sizeof(float) * (size_t)(BT * QD));
        lin_bwd(m, l, QW_LORA_O, m->datty, lay(g->wo, l, C * QD), NULL, m->dresid, atty, p->wo + l * C * QD, QD, C);
        memset(m->dq, 0, sizeof(float) * (size_t)(BT * QD));
        memset(m->dk, 0, sizeof(float) * (size_t)(BT * KVD));
        memset(m->dv, 0, sizeof(float) * (size_t)(BT * KVD));
        qw_attention_backward(m->dq, m->dk, m->dv, m->datty, probs, q, k, v, B, T, NH, NKV, HD, nth);
        qw_rope_backward(m->dq, m->rope, B, T, NH, HD);
        qw_rope_backward(m->dk, m->rope, B, T, NKV, HD);
        memset(m->dln, 0, fC * (size_t)BT);
        lin_bwd(m, l, QW_LORA_Q, m->dln, lay(g->wq, l, QD * C), lay(g->bq, l, QD), m->dq, ln1, p->wq + l * QD * C, C, QD);
        lin_bwd(m, l, QW_LORA_K, m->dln, lay(g->wk, l, KVD * C), lay(g->bk, l, KVD), m->dk, ln1, p->wk + l * KVD * C, C, KVD);
        lin_bwd(m, l, QW_LORA_V, m->dln, lay(g->wv, l, KVD * C), lay(g->bv, l, KVD), m->dv, ln1, p->wv + l * KVD * C, C, KVD);
        qw_rmsnorm_backward(m->dresid, lay(g->ln1, l, C), m->dln, x, p->ln1 + l * C, m->ln1_rstd + (size_t)l * BT, BT, C);
    }
    if (g->wte)
        for (int64_t t = 0; t < BT; t++) {
            float *d = g->wte + (size_t)m->tokens[t] * C;
            const float *s = m->dresid + t * C;
            for (int64_t i = 0; i < C; i++) d[i] += s[i];
        }
}

// ---------------------------------------------------------------------------------------------------
// export


qw_status qw_tmodel_export(qw_tmodel *m, const char *dir, qw_type dtype, const char *tok_dir) {
    if (dtype != QW_TYPE_F32 && dtype != QW_TYPE_BF16 && dtype != QW_TYPE_F16)
        return qw_error(QW_ERR_ARG, "export dtype must be f32, f16 or bf16");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return qw_error(QW_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    int64_t C = C_, V = V_, QD = QD_, KVD = KVD_, F = F_;
    int max_t = 3 + 12 * L_;
    qw_tensor *ts = calloc((size_t)max_t, sizeof *ts);
    void **owned = calloc((size_t)max_t, sizeof *owned);
    if (!ts || !owned) {
        free(ts);
        free(owned);
        return qw_error(QW_ERR_NOMEM, "out of memory");
    }
    int n = 0;
    qw_status s = QW_OK;
    const qw_tparams *p = &m->params;
    // one tensor: the f32 source, merged with its adapter (tgt >= 0) and converted when needed
#define ADD(src, d0, d1, l, tgt, ...)                                                                        \
    do {                                                                                                     \
        if (s != QW_OK) break;                                                                               \
        qw_tensor *t = &ts[n];                                                                               \
        snprintf(t->name, sizeof t->name, __VA_ARGS__);                                                      \
        t->type = dtype;                                                                                     \
        t->n_dims = (d1) ? 2 : 1;                                                                            \
        t->shape[0] = (d0);                                                                                  \
        t->shape[1] = (d1);                                                                                  \
        int64_t ne = (int64_t)(d0) * ((d1) ? (d1) : 1);                                                      \
        t->nbytes = qw_type_row_bytes(dtype, ne);                                                            \
        int merge = lora_on(m, (tgt));                        \
        if (dtype == QW_TYPE_F32 && !merge) {                                                                \
            t->data = (void *)(src);                                                                         \
        } else {                                                                                             \
            float *tmp = qw_malloc_aligned(sizeof(float) * (size_t)ne);                                      \
            owned[n] = qw_malloc_aligned(t->nbytes);                                                         \
            if (!tmp || !owned[n]) {                                                                         \
                qw_free_aligned(tmp);                                                                        \
                s = qw_error(QW_ERR_NOMEM, "out of memory");                                                 \
                break;                                                                                       \
            }                                                                                                \
            memcpy(tmp, (src), sizeof(float) * (size_t)ne);                                                  \
            if (merge) {                                                                                     \
                int64_t R = m->lora_rank, K = (d1), N = (d0);                                                \
                qw_gemm(0, 0, N, K, R, m->lora_scale, m->lora_b[(tgt) < 0 ? 0 : (tgt)] + (size_t)(l) * N * R, R,               \
                        m->lora_a[(tgt) < 0 ? 0 : (tgt)] + (size_t)(l) * R * K, K, 1.0f, tmp, K, m->n_threads); /* merge: tgt >= 0 */                \
            }                                                                                                \
            qw_convert_from_f32(dtype, tmp, owned[n], ne);                                                   \
            qw_free_aligned(tmp);                                                                            \
            t->data = owned[n];                                                                              \
        }                                                                                                    \
        n++;                                                                                                 \
    } while (0)
    ADD(p->wte, V, C, 0, -1, "model.embed_tokens.weight");
    for (int l = 0; l < L_; l++) {
        ADD(p->ln1 + l * C, C, 0, l, -1, "model.layers.%d.input_layernorm.weight", l);
        ADD(p->wq + l * QD * C, QD, C, l, QW_LORA_Q, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(p->bq + l * QD, QD, 0, l, -1, "model.layers.%d.self_attn.q_proj.bias", l);
        ADD(p->wk + l * KVD * C, KVD, C, l, QW_LORA_K, "model.layers.%d.self_attn.k_proj.weight", l);
        ADD(p->bk + l * KVD, KVD, 0, l, -1, "model.layers.%d.self_attn.k_proj.bias", l);
        ADD(p->wv + l * KVD * C, KVD, C, l, QW_LORA_V, "model.layers.%d.self_attn.v_proj.weight", l);
        ADD(p->bv + l * KVD, KVD, 0, l, -1, "model.layers.%d.self_attn.v_proj.bias", l);
        ADD(p->wo + l * C * QD, C, QD, l, QW_LORA_O, "model.layers.%d.self_attn.o_proj.weight", l);
        ADD(p->ln2 + l * C, C, 0, l, -1, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(p->wg + l * F * C, F, C, l, QW_LORA_GATE, "model.layers.%d.mlp.gate_proj.weight", l);
        ADD(p->wu + l * F * C, F, C, l, QW_LORA_UP, "model.layers.%d.mlp.up_proj.weight", l);
        ADD(p->wd + l * C * F, C, F, l, QW_LORA_DOWN, "model.layers.%d.mlp.down_proj.weight", l);
    }
    ADD(p->lnf, C, 0, 0, -1, "model.norm.weight");
    if (!m->shape.tied) ADD(p->lm_head, V, C, 0, -1, "lm_head.weight");
#undef ADD
    qw_config c = m->config;
    c.dtype = dtype;
    if (s == QW_OK) s = qw_config_write(&c, dir);
    if (s == QW_OK) s = qw_safetensors_write_sharded(dir, ts, n, 0);
    static const char *const tok_files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2 && s == QW_OK && tok_dir; i++) {
        char from[4096], to[4096];
        qw_path_join(from, sizeof from, tok_dir, tok_files[i]);
        qw_path_join(to, sizeof to, dir, tok_files[i]);
        if (qw_file_exists(from) && strcmp(from, to) != 0) s = qw_file_copy(from, to);
    }
    for (int i = 0; i < n; i++) qw_free_aligned(owned[i]);
    free(owned);
    free(ts);
    return s;
}
