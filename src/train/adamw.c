// train/adamw: torch.optim.AdamW's update (PyTorch 1.13 single-tensor path, the same f32 operations in the
// same order), global-norm gradient clipping as clip_grad_norm_, and the warm-up + cosine schedule.
#include "train.h"

#include <math.h>

qw_status qw_adamw_init(qw_adamw *o, const qw_tmodel *m, float beta1, float beta2, float eps, float wd) {
    memset(o, 0, sizeof *o);
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = wd;
    o->m = qw_calloc_aligned(m->n_trainable * sizeof(float));
    o->v = qw_calloc_aligned(m->n_trainable * sizeof(float));
    if (!o->m || !o->v) {
        qw_adamw_free(o);
        return qw_error(QW_ERR_NOMEM, "optimiser state for %zu parameters: out of memory", m->n_trainable);
    }
    return QW_OK;
}

void qw_adamw_free(qw_adamw *o) {
    qw_free_aligned(o->m);
    qw_free_aligned(o->v);
    o->m = o->v = NULL;
}

typedef struct {
    float *p, *mm, *vv;
    const float *g;
    size_t n;
    float decay_mul, b1, omb1, b2, omb2, step_size, bc2_sqrt, eps;
} adam_task;

static void adam_run(void *ctx, int ith, int nth) {
    adam_task *a = ctx;
    int64_t i0, i1;
    qw_split_rows((int64_t)a->n, 64, ith, nth, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        float g = a->g[i];
        float p = a->p[i] * a->decay_mul;
        float m = a->mm[i] * a->b1 + g * a->omb1;
        float v = a->vv[i] * a->b2 + g * g * a->omb2;
        float denom = sqrtf(v) / a->bc2_sqrt + a->eps;
        a->p[i] = p + (-a->step_size) * (m / denom);
        a->mm[i] = m;
        a->vv[i] = v;
    }
}

void qw_adamw_step(qw_adamw *o, qw_tmodel *m, float lr) {
    o->t++;
    o->lr = lr;
    double bc1 = 1.0 - pow((double)o->beta1, (double)o->t), bc2 = 1.0 - pow((double)o->beta2, (double)o->t);
    size_t off = 0;
    for (int s = 0; s < m->n_slots; s++) {
        qw_tslot *sl = &m->slots[s];
        double wd = sl->decay ? o->weight_decay : 0.0;
        adam_task a = {.p = sl->p, .g = sl->g, .mm = o->m + off, .vv = o->v + off, .n = sl->n,
                       .decay_mul = (float)(1.0 - (double)lr * wd), .b1 = o->beta1, .omb1 = (float)(1.0 - o->beta1),
                       .b2 = o->beta2, .omb2 = (float)(1.0 - o->beta2), .step_size = (float)(lr / bc1),
                       .bc2_sqrt = (float)sqrt(bc2), .eps = o->eps};
        qw_parallel(adam_run, &a, sl->n > 65536 ? m->n_threads : 1);
        off += sl->n;
    }
}

double qw_clip_grad_norm(qw_tmodel *m, double clip) {
    double ss = 0;
    for (int s = 0; s < m->n_slots; s++) {
        const float *g = m->slots[s].g;
        for (size_t i = 0; i < m->slots[s].n; i++) ss += (double)g[i] * g[i];
    }
    double norm = sqrt(ss);
    if (clip > 0 && norm > clip) {
        float c = (float)(clip / (norm + 1e-6));
        for (int s = 0; s < m->n_slots; s++) {
            float *g = m->slots[s].g;
            for (size_t i = 0; i < m->slots[s].n; i++) g[i] *= c;
        }
    }
    return norm;
}

float qw_lr_schedule(int64_t step, int64_t warmup, int64_t total, float lr, float min_lr) {
    if (step < warmup) return lr * (float)(step + 1) / (float)warmup;
    if (total <= warmup) return lr;
    double r = (double)(step - warmup) / (double)(total - warmup);
    if (r > 1) r = 1;
    return (float)(min_lr + 0.5 * (lr - min_lr) * (1.0 + cos(M_PI * r)));
}
