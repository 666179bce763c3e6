// generate/session: one conversation in its own KV cache. Setting the token list reuses the longest
// common prefix with what the cache holds, so a chat turn only prefills the new turn.
#include "generate.h"

#include <stdlib.h>

qw_status qw_session_init(qw_session *s, const qw_model *m, int n_ctx, int n_batch, int n_threads) {
    memset(s, 0, sizeof *s);
    s->m = m;
    s->n_ctx = n_ctx;
    qw_status st = qw_kv_cache_init(&s->kv, m, 1, n_ctx);
    if (st == QW_OK) st = qw_state_init(&s->st, m, n_batch, n_ctx, n_threads);
    if (st == QW_OK) st = qw_batch_init(&s->batch, n_batch);
    if (st == QW_OK) {
        s->tokens = malloc(sizeof(int32_t) * (size_t)n_ctx);
        s->logits = malloc(sizeof(float) * (size_t)m->config.vocab_size);
        if (!s->tokens || !s->logits) st = qw_error(QW_ERR_NOMEM, "session: out of memory");
    }
    if (st != QW_OK) qw_session_free(s);
    return st;
}

void qw_session_free(qw_session *s) {
    qw_kv_cache_free(&s->kv);
    qw_state_free(&s->st);
    qw_batch_free(&s->batch);
    free(s->tokens);
    free(s->logits);
    memset(s, 0, sizeof *s);
}

// Runs count tokens at positions start.., in chunks of the batch capacity. Logits of the last token go
// to s->logits; with all_logits, every token's row goes there (count rows) and the last also to s->logits.
static qw_status run_tokens(qw_session *s, const int32_t *toks, int count, int start, float *all_logits) {
    size_t V = (size_t)s->m->config.vocab_size;
    for (int i = 0; i < count;) {
        int end = i + s->batch.capacity < count ? i + s->batch.capacity : count;
        qw_batch_clear(&s->batch);
        for (int j = i; j < end; j++)
            qw_batch_add(&s->batch, toks[j], start + j, 0, all_logits || j == count - 1);
        QW_TRY(qw_forward(s->m, &s->st, &s->kv, &s->batch, all_logits ? all_logits + (size_t)i * V : s->logits));
        if (all_logits && end == count) memcpy(s->logits, all_logits + (size_t)(count - 1) * V, V * sizeof(float));
        memcpy(s->tokens + start + i, toks + i, sizeof(int32_t) * (size_t)(end - i));
        s->n_tokens = start + end;
        i = end;
    }
    return QW_OK;
}

qw_status qw_session_set_tokens(qw_session *s, const int32_t *tokens, int n) {
    return qw_session_prefill(s, tokens, n, NULL);
}

qw_status qw_session_prefill(qw_session *s, const int32_t *tokens, int n, float *all_logits) {
    if (n < 1) return qw_error(QW_ERR_ARG, "empty prompt");
    if (n > s->n_ctx)
        return qw_error(QW_ERR_ARG, "prompt of %d tokens does not fit the context of %d", n, s->n_ctx);
    int keep = 0;
    while (keep < s->n_tokens && keep < n && s->tokens[keep] == tokens[keep]) keep++;
    if (keep == n) keep = n - 1; // the last token is run again so that its logits are fresh
    if (all_logits) keep = 0;    // every position's logits were asked for
    s->n_tokens = keep;
    double t0 = qw_time_sec();
    qw_status st = run_tokens(s, tokens + keep, n - keep, keep, all_logits);
    s->t_prefill += qw_time_sec() - t0;
    s->n_prefilled += n - keep;
    return st;
}

qw_status qw_session_push(qw_session *s, int32_t token) {
    if (s->n_tokens >= s->n_ctx) return qw_error(QW_ERR_ARG, "context of %d tokens is full", s->n_ctx);
    double t0 = qw_time_sec();
    qw_status st = run_tokens(s, &token, 1, s->n_tokens, NULL);
    s->t_decode += qw_time_sec() - t0;
    s->n_decoded++;
    return st;
}

void qw_session_reset(qw_session *s) { s->n_tokens = 0; }
