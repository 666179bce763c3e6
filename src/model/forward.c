// model/forward: the Qwen2 forward pass over a batch of tokens from any number of sequences:
// embed, then per layer RMSNorm -> Q/K/V(+bias) -> RoPE -> GQA attention over the KV cache -> o_proj ->
// residual -> RMSNorm -> SwiGLU MLP -> residual; final RMSNorm and lm_head for the tokens that want logits.
#include "kernels/kernels.h"
#include "model.h"

#include <math.h>
#include <stdlib.h>

static int64_t max_q_dim(const qw_model *m) {
    int64_t q = 0;
    for (int l = 0; l < m->config.n_layers; l++)
        if ((int64_t)m->layers[l].n_heads * m->config.head_dim > q) q = (int64_t)m->layers[l].n_heads * m->config.head_dim;
    return q;
}

static int64_t max_kv_dim(const qw_model *m) {
    int64_t k = 0;
    for (int l = 0; l < m->config.n_layers; l++)
        if ((int64_t)m->layers[l].n_kv_heads * m->config.head_dim > k) k = (int64_t)m->layers[l].n_kv_heads * m->config.head_dim;
    return k;
}

static int64_t max_ff(const qw_model *m) {
    int64_t f = 0;
    for (int l = 0; l < m->config.n_layers; l++)
        if (m->layers[l].n_ff > f) f = m->layers[l].n_ff;
    return f;
}

static size_t max_work(size_t cur, const qw_tensor *w, int64_t n) {
    size_t need = qw_matmul_work_size(w->type, w->shape[0], w->shape[1], n);
    return need > cur ? need : cur;
}

qw_status qw_state_init(qw_state *s, const qw_model *m, int max_tokens, int n_ctx, int n_threads) {
    memset(s, 0, sizeof *s);
    if (m->unrunnable_tensor) // loaded by qw_model_load_for_convert: no kernels for this type
        return qw_error(QW_ERR_UNSUPPORTED, "%s: tensor %s is %s; qwick's kernels for it are not built yet",
                        m->path, m->unrunnable_tensor->name, qw_type_name(m->unrunnable_tensor->type));
    const qw_config *c = &m->config;
    for (int l = 0; l < c->n_layers; l++)
        if (m->layers[l].n_kv_heads < 1 || m->layers[l].n_heads % m->layers[l].n_kv_heads ||
            m->layers[l].n_heads / m->layers[l].n_kv_heads > QW_ATTN_MAX_ROWS)
            return qw_error(QW_ERR_UNSUPPORTED, "%s: layer %d has %d query heads for %d KV heads (qwick "
                            "takes groups of at most %d)", m->path, l, m->layers[l].n_heads,
                            m->layers[l].n_kv_heads, QW_ATTN_MAX_ROWS);
    s->max_tokens = max_tokens;
    s->n_threads = n_threads < 1 ? 1 : n_threads;
    s->scores_ctx = n_ctx;
    size_t T = (size_t)max_tokens, h = (size_t)c->hidden_size;
    size_t qd = (size_t)max_q_dim(m), kvd = (size_t)max_kv_dim(m), ff = (size_t)max_ff(m);
    size_t work = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const qw_layer *y = &m->layers[l];
        const qw_tensor *ws[] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->w_gate, &y->w_up, &y->w_down};
        for (int i = 0; i < 7; i++) work = max_work(work, ws[i], max_tokens);
    }
    work = max_work(work, &m->lm_head, max_tokens);
    s->work_bytes = work;
    s->x = qw_malloc_aligned(T * h * 4);
    s->xb = qw_malloc_aligned(T * h * 4);
    s->q = qw_malloc_aligned(T * qd * 4);
    s->k = qw_malloc_aligned(T * kvd * 4);
    s->v = qw_malloc_aligned(T * kvd * 4);
    s->att = qw_malloc_aligned(T * qd * 4);
    s->hb = qw_malloc_aligned(T * ff * 4);
    s->hb2 = qw_malloc_aligned(T * ff * 4);
    s->rope = qw_malloc_aligned(T * (size_t)c->head_dim * 4);
    s->scores = qw_malloc_aligned((size_t)s->n_threads * qw_attn_scratch_floats(QW_ATTN_MAX_ROWS, c->head_dim) * 4);
    s->blocks = malloc(sizeof(int) * 2 * T);
    s->work = work ? qw_malloc_aligned(work) : NULL;
    s->bytes = 4 * (T * (2 * h + 2 * qd + 2 * kvd + 2 * ff + (size_t)c->head_dim) +
                    (size_t)s->n_threads * qw_attn_scratch_floats(QW_ATTN_MAX_ROWS, c->head_dim)) + work;
    if (!s->x || !s->xb || !s->q || !s->k || !s->v || !s->att || !s->hb || !s->hb2 || !s->rope ||
        !s->scores || !s->blocks || (work && !s->work)) {
        qw_state_free(s);
        return qw_error(QW_ERR_NOMEM, "activations for %d tokens: out of memory", max_tokens);
    }
    return QW_OK;
}

void qw_state_free(qw_state *s) {
    void *p[] = {s->x, s->xb, s->q, s->k, s->v, s->att, s->hb, s->hb2, s->rope, s->scores, s->work};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) qw_free_aligned(p[i]);
    free(s->blocks);
    memset(s, 0, sizeof *s);
}

// ---------------------------------------------------------------------------------------------------
// small ops over (n, dim) rows

static void rmsnorm(float *out, const float *x, const float *w, int64_t n, int64_t dim, float eps) {
    for (int64_t t = 0; t < n; t++) {
        const float *xt = x + t * dim;
        float *ot = out + t * dim;
        float ss = qw_vec_dot_f32(dim, xt, xt);
        float r = 1.0f / sqrtf(ss / (float)dim + eps);
        for (int64_t i = 0; i < dim; i++) ot[i] = w[i] * (xt[i] * r);
    }
}

static void add_bias(float *y, const float *b, int64_t n, int64_t dim) {
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < dim; i++) y[t * dim + i] += b[i];
}

// cos | sin of every (token, frequency) pair, computed as Hugging Face does: f32 inverse frequencies
// theta^(-2i/d), f32 angle pos * inv_freq.
static void rope_table(float *tab, const int32_t *pos, int64_t n, int hd, double theta) {
    int half = hd / 2;
    for (int64_t t = 0; t < n; t++)
        for (int i = 0; i < half; i++) {
            float inv = 1.0f / powf((float)theta, (float)(2 * i) / (float)hd);
            float a = (float)pos[t] * inv;
            tab[t * hd + i] = cosf(a);
            tab[t * hd + half + i] = sinf(a);
        }
}

// Rotates each head of each token: pairs (i, i + d/2), the "rotate_half" layout of HF and llama.cpp NEOX.
static void rope_apply(float *x, const float *tab, int64_t n, int n_heads, int hd) {
    int half = hd / 2;
    for (int64_t t = 0; t < n; t++) {
        const float *c = tab + t * hd, *s = c + half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (t * n_heads + h) * hd;
            for (int i = 0; i < half; i++) {
                float x0 = v[i], x1 = v[i + half];
                v[i] = x0 * c[i] - x1 * s[i];
                v[i + half] = x1 * c[i] + x0 * s[i];
            }
        }
    }
}

typedef struct {
    float *a;       // (n, dim) gate in, result out
    const float *b; // (n, dim) up
    int64_t count;
} swiglu_task;

static void swiglu_run(void *ctx, int ith, int nth) {
    swiglu_task *t = ctx;
    int64_t i0, i1;
    qw_split_rows(t->count, 64, ith, nth, &i0, &i1);
    if (i1 > i0) qw_vec_silu_mul_f32(i1 - i0, t->a + i0, t->b + i0);
}

// ---------------------------------------------------------------------------------------------------
// attention: the batch is cut into blocks of consecutive tokens of one sequence; one task is a block
// and a KV head, i.e. the rows of that head's query group for those tokens, all reading the same keys
// and values once (qw_attn_rows). Tasks go heaviest first to whichever thread is free, since a
// prefill's later blocks attend over many more positions than its first.

typedef struct {
    int t0, nt; // batch tokens [t0, t0 + nt), one sequence
} attn_block;

typedef struct {
    const qw_batch *b;
    const qw_kv_cache *kv;
    int layer, n_heads, n_kv_heads, hd;
    const float *q; // (n, n_heads * hd), roped
    float *out;     // (n, n_heads * hd)
    float *scratch; // (nth, scratch_floats)
    size_t scratch_floats;
    const attn_block *blocks;
    int n_blocks;
    int next; // tasks handed out so far (atomic)
} attn_task;

static void attn_run(void *ctx, int ith, int nth) {
    attn_task *a = ctx;
    (void)nth;
    const qw_kv_cache *kv = a->kv;
    int hd = a->hd, group = a->n_heads / a->n_kv_heads;
    int kvd = kv->kv_dim[a->layer];
    float scale = 1.0f / sqrtf((float)hd);
    float *scratch = a->scratch + (size_t)ith * a->scratch_floats;
    int n_tasks = a->n_blocks * a->n_kv_heads;
    for (;;) {
        int task = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED);
        if (task >= n_tasks) break;
        const attn_block *bl = &a->blocks[a->n_blocks - 1 - task / a->n_kv_heads]; // last (heaviest) first
        int kh = task % a->n_kv_heads;
        const float *q[QW_ATTN_MAX_ROWS];
        float *o[QW_ATTN_MAX_ROWS];
        int32_t last[QW_ATTN_MAX_ROWS];
        int R = 0;
        for (int t = bl->t0; t < bl->t0 + bl->nt; t++)
            for (int g = 0; g < group; g++, R++) {
                size_t row = ((size_t)t * a->n_heads + (size_t)kh * group + g) * hd;
                q[R] = a->q + row;
                o[R] = a->out + row;
                last[R] = a->b->pos[t];
            }
        size_t base = kv->layer_offset[a->layer] + (size_t)a->b->seq[bl->t0] * (size_t)kv->n_ctx * (size_t)kvd +
                      (size_t)kh * hd;
        qw_attn_rows(R, hd, q, last, kv->k + base, kv->v + base, kvd, scale, o, scratch);
    }
}

// Cuts the batch into blocks of at most max_nt consecutive tokens of one sequence.
static int attn_blocks(const qw_batch *b, int max_nt, attn_block *out) {
    int n = 0;
    for (int t = 0; t < b->n_tokens; t++) {
        if (n > 0 && out[n - 1].nt < max_nt && b->seq[t] == b->seq[out[n - 1].t0]) out[n - 1].nt++;
        else out[n++] = (attn_block){t, 1};
    }
    return n;
}

// ---------------------------------------------------------------------------------------------------

// Below this many multiply-adds an operation runs on one thread: waking the others costs more than it
// saves, and far more when another process holds a core (every barrier then waits for a time slice).
#define QW_PARALLEL_MIN_WORK (1 << 18)

static int threads_for(const qw_state *s, int64_t work) { return work >= QW_PARALLEL_MIN_WORK ? s->n_threads : 1; }

static void matmul(qw_state *s, const qw_tensor *w, const float *x, int64_t n, float *y) {
    qw_matmul_w(w, x, n, y, s->work, threads_for(s, w->shape[0] * w->shape[1] * n));
}

// Matrices that read the same x: it is quantized once, each keeps its own thread count.
static void matmul_many(qw_state *s, const qw_tensor *const *w, int count, const float *x, int64_t n, float *const *y) {
    int nth[4];
    QW_ASSERT(count <= 4);
    for (int i = 0; i < count; i++) nth[i] = threads_for(s, w[i]->shape[0] * w[i]->shape[1] * n);
    qw_matmul_w_many(w, count, x, n, y, s->work, nth);
}

static qw_status check_batch(const qw_model *m, const qw_state *s, const qw_kv_cache *kv, const qw_batch *b) {
    if (b->n_tokens < 1 || b->n_tokens > s->max_tokens)
        return qw_error(QW_ERR_ARG, "batch of %d tokens (this state holds 1..%d)", b->n_tokens, s->max_tokens);
    for (int i = 0; i < b->n_tokens; i++) {
        if (b->token[i] < 0 || b->token[i] >= m->config.vocab_size)
            return qw_error(QW_ERR_ARG, "token id %d out of range (vocabulary has %d rows)", b->token[i],
                            m->config.vocab_size);
        if (b->seq[i] < 0 || b->seq[i] >= kv->n_seq)
            return qw_error(QW_ERR_ARG, "sequence id %d out of range (cache has %d slots)", b->seq[i], kv->n_seq);
        if (b->pos[i] < 0 || b->pos[i] >= kv->n_ctx || b->pos[i] >= s->scores_ctx)
            return qw_error(QW_ERR_ARG, "position %d past the context of %d", b->pos[i], kv->n_ctx);
    }
    return QW_OK;
}

qw_status qw_forward_begin(const qw_model *m, qw_state *s, const qw_kv_cache *kv, const qw_batch *b) {
    QW_TRY(check_batch(m, s, kv, b));
    const qw_config *c = &m->config;
    int64_t n = b->n_tokens, h = c->hidden_size;
    for (int64_t t = 0; t < n; t++) qw_tensor_row_to_float(&m->tok_embd, b->token[t], s->x + t * h);
    rope_table(s->rope, b->pos, n, c->head_dim, c->rope_theta);
    return QW_OK;
}

static void capture(float *dst, const float *src, int64_t count) {
    if (dst) memcpy(dst, src, sizeof(float) * (size_t)count);
}

void qw_forward_layer(const qw_model *m, const qw_layer *y, int l, qw_state *s, qw_kv_cache *kv, const qw_batch *b,
                      const qw_layer_capture *cap) {
    const qw_config *c = &m->config;
    int64_t n = b->n_tokens, h = c->hidden_size;
    int hd = c->head_dim;
    int64_t qd = (int64_t)y->n_heads * hd, kvd = (int64_t)y->n_kv_heads * hd;

    rmsnorm(s->xb, s->x, y->attn_norm, n, h, c->rms_norm_eps);
    if (cap) capture(cap->attn_in, s->xb, n * h);
    const qw_tensor *qkv[3] = {&y->wq, &y->wk, &y->wv};
    float *qkv_out[3] = {s->q, s->k, s->v};
    matmul_many(s, qkv, 3, s->xb, n, qkv_out);
    add_bias(s->q, y->bq, n, qd);
    add_bias(s->k, y->bk, n, kvd);
    add_bias(s->v, y->bv, n, kvd);
    rope_apply(s->q, s->rope, n, y->n_heads, hd);
    rope_apply(s->k, s->rope, n, y->n_kv_heads, hd);
    for (int64_t t = 0; t < n; t++) { // store this batch's keys and values before anyone attends
        size_t off = kv->layer_offset[l] + ((size_t)b->seq[t] * (size_t)kv->n_ctx + (size_t)b->pos[t]) * (size_t)kvd;
        memcpy(kv->k + off, s->k + t * kvd, sizeof(float) * (size_t)kvd);
        memcpy(kv->v + off, s->v + t * kvd, sizeof(float) * (size_t)kvd);
    }
    int group = y->n_heads / y->n_kv_heads;
    int max_nt = group <= QW_ATTN_MAX_ROWS ? QW_ATTN_MAX_ROWS / group : 1;
    attn_task at = {.b = b, .kv = kv, .layer = l, .n_heads = y->n_heads, .n_kv_heads = y->n_kv_heads,
                    .hd = hd, .q = s->q, .out = s->att, .scratch = s->scores,
                    .scratch_floats = qw_attn_scratch_floats(QW_ATTN_MAX_ROWS, hd),
                    .blocks = s->blocks, .n_blocks = attn_blocks(b, max_nt, s->blocks)};
    int64_t attn_work = 0; // multiply-adds of q.k and p.v over every (token, head)
    for (int64_t t = 0; t < n; t++) attn_work += 2 * (int64_t)(b->pos[t] + 1) * y->n_heads * hd;
    qw_parallel(attn_run, &at, threads_for(s, attn_work));
    if (cap) capture(cap->o_in, s->att, n * qd);
    matmul(s, &y->wo, s->att, n, s->xb);
    for (int64_t i = 0; i < n * h; i++) s->x[i] += s->xb[i];

    rmsnorm(s->xb, s->x, y->ffn_norm, n, h, c->rms_norm_eps);
    if (cap) capture(cap->ffn_in, s->xb, n * h);
    const qw_tensor *gu[2] = {&y->w_gate, &y->w_up};
    float *gu_out[2] = {s->hb, s->hb2};
    matmul_many(s, gu, 2, s->xb, n, gu_out);
    swiglu_task sw = {.a = s->hb, .b = s->hb2, .count = n * y->n_ff};
    qw_parallel(swiglu_run, &sw, threads_for(s, 16 * sw.count)); // expf costs ~16 multiply-adds
    if (cap) capture(cap->down_in, s->hb, n * y->n_ff);
    matmul(s, &y->w_down, s->hb, n, s->xb);
    for (int64_t i = 0; i < n * h; i++) s->x[i] += s->xb[i];
}

void qw_forward_end(const qw_model *m, qw_state *s, const qw_batch *b, float *logits) {
    const qw_config *c = &m->config;
    int64_t n = b->n_tokens, h = c->hidden_size;
    // final norm of the tokens that want logits, gathered into consecutive rows, then lm_head
    int64_t nl = 0;
    for (int64_t t = 0; t < n; t++)
        if (b->logits[t]) {
            rmsnorm(s->xb + nl * h, s->x + t * h, m->out_norm, 1, h, c->rms_norm_eps);
            nl++;
        }
    if (nl > 0) matmul(s, &m->lm_head, s->xb, nl, logits);
}

qw_status qw_forward(const qw_model *m, qw_state *s, qw_kv_cache *kv, const qw_batch *b, float *logits) {
    QW_TRY(qw_forward_begin(m, s, kv, b));
    for (int l = 0; l < m->config.n_layers; l++) qw_forward_layer(m, &m->layers[l], l, s, kv, b, NULL);
    qw_forward_end(m, s, b, logits);
    return QW_OK;
}
