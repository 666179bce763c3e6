// generate/generate: the decode loop: sample, hand the token out, run it, until a stop token, the
// limit, a full context, or the caller says stop.
#include "generate.h"

qw_status qw_generate(qw_session *s, qw_sampler *smp, int max_new, const int32_t *stop, int n_stop,
                      qw_token_fn fn, void *ctx, int *n_out) {
    *n_out = 0;
    while (*n_out < max_new) {
        int32_t tok = qw_sampler_sample(smp, s->logits, s->tokens, s->n_tokens);
        for (int i = 0; i < n_stop; i++)
            if (tok == stop[i]) return QW_OK;
        (*n_out)++;
        if (fn && fn(ctx, tok)) return QW_OK;
        if (*n_out == max_new || s->n_tokens >= s->n_ctx) return QW_OK;
        QW_TRY(qw_session_push(s, tok));
    }
    return QW_OK;
}
