// train/checkpoint: everything a run needs to continue bit for bit (weights, LoRA adapters, AdamW's m
// and v, step, data position, seed and generator) in one file, written atomically: temp + fsync + rename.
#include "train.h"

#define CK_MAGIC "QWICKCK1"
#define CK_END "QWCK_END"
enum { CK_VERSION = 1 };

typedef struct {
    int64_t version, vocab, hidden, layers, heads, kv_heads, head_dim, ff, tied, lora_rank, lora_targets;
    int64_t n_params, n_lora, n_trainable, step, data_pos, adam_t;
    uint64_t seed, rng[4];
    float lora_scale, pad_;
} ck_header;

static void fill_header(ck_header *h, const qw_tmodel *m, const qw_adamw *o, const qw_train_progress *p) {
    memset(h, 0, sizeof *h);
    const qw_tshape *s = &m->shape;
    h->version = CK_VERSION;
    h->vocab = s->vocab;
    h->hidden = s->hidden;
    h->layers = s->n_layers;
    h->heads = s->n_heads;
    h->kv_heads = s->n_kv_heads;
    h->head_dim = s->head_dim;
    h->ff = s->ff;
    h->tied = s->tied;
    h->lora_rank = m->lora_rank;
    h->lora_targets = m->lora_targets;
    h->n_params = (int64_t)m->n_params;
    h->n_lora = (int64_t)m->n_lora;
    h->n_trainable = (int64_t)m->n_trainable;
    h->lora_scale = m->lora_scale;
    if (p) {
        h->step = p->step;
        h->data_pos = p->data_pos;
        h->seed = p->seed;
        memcpy(h->rng, p->rng.s, sizeof h->rng);
    }
    if (o) h->adam_t = o->t;
}

qw_status qw_checkpoint_save(const char *path, const qw_tmodel *m, const qw_adamw *o, const qw_train_progress *p) {
    ck_header h;
    fill_header(&h, m, o, p);
    qw_atomic_file af;
    QW_TRY(qw_atomic_open(&af, path));
    qw_status s = qw_atomic_write(&af, CK_MAGIC, 8);
    if (s == QW_OK) s = qw_atomic_write(&af, &h, sizeof h);
    if (s == QW_OK) s = qw_atomic_write(&af, m->params_mem, m->n_params * sizeof(float));
    if (s == QW_OK && m->n_lora) s = qw_atomic_write(&af, m->lora_mem, m->n_lora * sizeof(float));
    if (s == QW_OK) s = qw_atomic_write(&af, o->m, m->n_trainable * sizeof(float));
    if (s == QW_OK) s = qw_atomic_write(&af, o->v, m->n_trainable * sizeof(float));
    if (s == QW_OK) s = qw_atomic_write(&af, CK_END, 8);
    if (s != QW_OK) {
        qw_atomic_abort(&af);
        return s;
    }
    return qw_atomic_commit(&af);
}

qw_status qw_checkpoint_load(const char *path, qw_tmodel *m, qw_adamw *o, qw_train_progress *p) {
    qw_mmap mm;
    QW_TRY(qw_mmap_open(&mm, path));
    const char *b = mm.data;
    size_t need = 8 + sizeof(ck_header) + (m->n_params + m->n_lora + 2 * m->n_trainable) * sizeof(float) + 8;
    ck_header want, h;
    fill_header(&want, m, o, NULL);
    qw_status s = QW_OK;
    if (mm.size < 8 + sizeof h || memcmp(b, CK_MAGIC, 8) != 0) {
        s = qw_error(QW_ERR_FORMAT, "%s: not a qwick checkpoint", path);
        goto done;
    }
    memcpy(&h, b + 8, sizeof h);
    if (h.version != CK_VERSION) {
        s = qw_error(QW_ERR_FORMAT, "%s: checkpoint version %lld (this qwick reads %d)", path, (long long)h.version,
                     CK_VERSION);
        goto done;
    }
    if (h.vocab != want.vocab || h.hidden != want.hidden || h.layers != want.layers || h.heads != want.heads ||
        h.kv_heads != want.kv_heads || h.head_dim != want.head_dim || h.ff != want.ff || h.tied != want.tied ||
        h.lora_rank != want.lora_rank || h.lora_targets != want.lora_targets || h.n_params != want.n_params ||
        h.n_lora != want.n_lora || h.n_trainable != want.n_trainable) {
        s = qw_error(QW_ERR_ARG, "%s: the checkpoint is of another model shape or LoRA setup than this run", path);
        goto done;
    }
    if (mm.size != need || memcmp(b + need - 8, CK_END, 8) != 0) {
        s = qw_error(QW_ERR_FORMAT, "%s: truncated or damaged checkpoint (%zu bytes, expected %zu)", path, mm.size, need);
        goto done;
    }
    const char *q = b + 8 + sizeof h;
    memcpy(m->params_mem, q, m->n_params * sizeof(float));
    q += m->n_params * sizeof(float);
    if (m->n_lora) memcpy(m->lora_mem, q, m->n_lora * sizeof(float));
    q += m->n_lora * sizeof(float);
    memcpy(o->m, q, m->n_trainable * sizeof(float));
    q += m->n_trainable * sizeof(float);
    memcpy(o->v, q, m->n_trainable * sizeof(float));
    o->t = h.adam_t;
    p->step = h.step;
    p->data_pos = h.data_pos;
    p->seed = h.seed;
    memcpy(p->rng.s, h.rng, sizeof h.rng);
done:
    qw_mmap_close(&mm);
    return s;
}
