// generate: turning logits into tokens (greedy or sampled, with the usual filters), and a session that
// keeps one conversation's KV cache so that each new turn only prefills what is new.
#ifndef QW_GENERATE_H
#define QW_GENERATE_H

#include "model/model.h"

typedef struct {
    float temperature;    // 0 = greedy
    int top_k;            // 0 = off
    float top_p;          // 1 = off
    float min_p;          // 0 = off
    float repeat_penalty; // 1 = off; HF's rule: positive logits divided, negative multiplied
    int repeat_last_n;    // how many recent tokens the penalty looks at; -1 = all
    uint64_t seed;
} qw_sampler_params;

qw_sampler_params qw_sampler_defaults(void);
// The model's generation_config.json defaults (do_sample false means greedy).
qw_sampler_params qw_sampler_from_config(const qw_config *c);

typedef struct {
    qw_sampler_params p;
    qw_rng rng;
    int vocab;
    int32_t *idx;  // (vocab) candidate ids
    float *prob;   // (vocab) candidate probabilities
} qw_sampler;

qw_status qw_sampler_init(qw_sampler *s, const qw_sampler_params *p, int vocab);
void qw_sampler_free(qw_sampler *s);
// Picks the next token. logits (vocab) may be modified. history: tokens seen so far (prompt and
// output), used by the repetition penalty.
int32_t qw_sampler_sample(qw_sampler *s, float *logits, const int32_t *history, int n_history);

// ---------------------------------------------------------------------------------------------------
// A session: one sequence in its own KV cache, its token history, and the state to run it.

typedef struct {
    const qw_model *m;
    qw_kv_cache kv;
    qw_state st;
    qw_batch batch;
    int32_t *tokens; // (n_ctx) what the cache holds, position by position
    int n_tokens, n_ctx;
    float *logits;   // (vocab) logits after the last token
    double t_prefill, t_decode; // seconds spent, for reports
    int n_prefilled, n_decoded;
} qw_session;

qw_status qw_session_init(qw_session *s, const qw_model *m, int n_ctx, int n_batch, int n_threads);
void qw_session_free(qw_session *s);
// Makes the cache hold exactly `tokens`: keeps the longest common prefix with what it holds and runs
// the rest through the model in chunks of n_batch. Leaves the last token's logits in s->logits.
qw_status qw_session_set_tokens(qw_session *s, const int32_t *tokens, int n);
// As qw_session_set_tokens, but runs the whole list and writes every position's logits into all_logits
// (n rows of vocab_size floats), e.g. to compare with another implementation.
qw_status qw_session_prefill(qw_session *s, const int32_t *tokens, int n, float *all_logits);
// Forgets what the cache holds (the next prefill starts at position 0).
void qw_session_reset(qw_session *s);
// Appends one token and runs it (decode). Leaves its logits in s->logits.
qw_status qw_session_push(qw_session *s, int32_t token);



// Called with each generated token; a non-zero return stops generation.
typedef int (*qw_token_fn)(void *ctx, int32_t token);

// Samples up to max_new tokens after what the session holds, running each through the model before the
// next is drawn. A token in stop[] ends generation (it is neither passed to fn nor run). *n_out counts
// the tokens passed to fn.
qw_status qw_generate(qw_session *s, qw_sampler *smp, int max_new, const int32_t *stop, int n_stop,
                      qw_token_fn fn, void *ctx, int *n_out);
#endif
