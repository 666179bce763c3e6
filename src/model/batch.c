// model/batch: the token batch and the multi-sequence KV cache that qw_forward reads and writes.
#include "model.h"

#include <stdlib.h>

qw_status qw_batch_init(qw_batch *b, int capacity) {
    memset(b, 0, sizeof *b);
    b->capacity = capacity;
    b->token = malloc(sizeof(int32_t) * (size_t)capacity);
    b->pos = malloc(sizeof(int32_t) * (size_t)capacity);
    b->seq = malloc(sizeof(int32_t) * (size_t)capacity);
    b->logits = malloc((size_t)capacity);
    if (!b->token || !b->pos || !b->seq || !b->logits) {
        qw_batch_free(b);
        return qw_error(QW_ERR_NOMEM, "batch of %d tokens: out of memory", capacity);
    }
    return QW_OK;
}

void qw_batch_free(qw_batch *b) {
    free(b->token);
    free(b->pos);
    free(b->seq);
    free(b->logits);
    memset(b, 0, sizeof *b);
}

void qw_batch_clear(qw_batch *b) { b->n_tokens = 0; }

int qw_batch_add(qw_batch *b, int32_t token, int32_t pos, int32_t seq, int want_logits) {
    if (b->n_tokens >= b->capacity) return 0;
    int i = b->n_tokens++;
    b->token[i] = token;
    b->pos[i] = pos;
    b->seq[i] = seq;
    b->logits[i] = (int8_t)(want_logits != 0);
    return 1;
}

int qw_batch_n_logits(const qw_batch *b) {
    int n = 0;
    for (int i = 0; i < b->n_tokens; i++) n += b->logits[i];
    return n;
}

qw_status qw_kv_cache_init(qw_kv_cache *kv, const qw_model *m, int n_seq, int n_ctx) {
    memset(kv, 0, sizeof *kv);
    const qw_config *c = &m->config;
    if (n_seq < 1 || n_ctx < 1) return qw_error(QW_ERR_ARG, "KV cache needs at least one sequence and position");
    kv->n_layers = c->n_layers;
    kv->n_seq = n_seq;
    kv->n_ctx = n_ctx;
    kv->head_dim = c->head_dim;
    kv->layer_offset = malloc(sizeof(size_t) * (size_t)c->n_layers);
    kv->kv_dim = malloc(sizeof(int) * (size_t)c->n_layers);
    if (!kv->layer_offset || !kv->kv_dim) goto nomem;
    size_t total = 0;
    for (int l = 0; l < c->n_layers; l++) {
        kv->layer_offset[l] = total;
        kv->kv_dim[l] = m->layers[l].n_kv_heads * c->head_dim;
        size_t layer;
        if (!qw_mul_size((size_t)n_seq * (size_t)n_ctx, (size_t)kv->kv_dim[l], &layer) ||
            !qw_add_size(total, layer, &total))
            goto nomem;
    }
    kv->bytes = total * 2 * sizeof(float);
    kv->k = qw_calloc_aligned(total * sizeof(float));
    kv->v = qw_calloc_aligned(total * sizeof(float));
    if (!kv->k || !kv->v) goto nomem;
    return QW_OK;
nomem:
    qw_kv_cache_free(kv);
    return qw_error(QW_ERR_NOMEM, "KV cache for %d sequences x %d positions: out of memory", n_seq, n_ctx);
}

void qw_kv_cache_free(qw_kv_cache *kv) {
    free(kv->layer_offset);
    free(kv->kv_dim);
    qw_free_aligned(kv->k);
    qw_free_aligned(kv->v);
    memset(kv, 0, sizeof *kv);
}
