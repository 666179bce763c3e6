// report/bench_run: measures one qwick model in this process: prefill at each prompt length (one
// sequence), then batched decode (B sequences, one token each per forward), one repetition per call.
#include "report.h"

#include "kernels/kernels.h"
#include "model/model.h"

#include <limits.h>
#include <math.h>

struct qw_bench_runner {
    qw_model *m;
    qw_bench_plan p;
    qw_state st;
    qw_kv_cache kv_prefill; // 1 sequence x the longest prompt
    qw_kv_cache kv_decode;  // the largest batch x (decode_ctx + n_gen): short, so B slots stay cheap
    qw_batch batch;
    float *logits;  // (largest batch, vocab)
    int32_t *toks;  // (longest prompt or largest batch x decode_ctx)
    int32_t *next;  // (largest batch)
    qw_rng rng;
};

void qw_bench_cpu_name(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *v = strchr(line, ':');
        if (!v) break;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        snprintf(buf, n, "%s", v);
        buf[strcspn(buf, "\n")] = 0;
        break;
    }
    fclose(f);
}

static int max_of(const int *v, int n) {
    int m = 0;
    for (int i = 0; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

void qw_bench_runner_free(qw_bench_runner *r) {
    if (!r) return;
    qw_state_free(&r->st);
    qw_kv_cache_free(&r->kv_prefill);
    qw_kv_cache_free(&r->kv_decode);
    qw_batch_free(&r->batch);
    free(r->logits);
    free(r->toks);
    free(r->next);
    qw_model_free(r->m);
    free(r);
}

qw_status qw_bench_runner_init(qw_bench_runner **out, const char *model_dir, const qw_bench_plan *p,
                               qw_bench_result *info) {
    *out = NULL;
    qw_bench_runner *r = calloc(1, sizeof *r);
    if (!r) return qw_error(QW_ERR_NOMEM, "out of memory");
    r->p = *p;
    qw_rng_seed(&r->rng, p->seed);
    qw_status s = qw_model_load(&r->m, model_dir);
    if (s != QW_OK) {
        free(r);
        return s;
    }
    const qw_config *c = &r->m->config;
    int max_p = max_of(p->prompt_len, p->n_prompt), max_b = max_of(p->batch, p->n_batch);
    int dec_ctx = p->decode_ctx + p->n_gen;
    if (max_p > c->max_position_embeddings || dec_ctx > c->max_position_embeddings) {
        qw_bench_runner_free(r);
        return qw_error(QW_ERR_ARG, "%s: a prompt of %d tokens is longer than the model's %d positions", model_dir,
                        max_p > dec_ctx ? max_p : dec_ctx, c->max_position_embeddings);
    }
    // one forward holds a prompt chunk, or one token per decoding sequence
    int cap = p->chunk > max_b ? p->chunk : max_b;
    int n_ctx = max_p > dec_ctx ? max_p : dec_ctx;
    if (max_p > 0) s = qw_kv_cache_init(&r->kv_prefill, r->m, 1, max_p);
    if (s == QW_OK && max_b > 0) s = qw_kv_cache_init(&r->kv_decode, r->m, max_b, dec_ctx);
    if (s == QW_OK) s = qw_state_init(&r->st, r->m, cap, n_ctx, p->threads);
    if (s == QW_OK) s = qw_batch_init(&r->batch, cap);
    size_t n_tok = (size_t)(max_p > max_b * p->decode_ctx ? max_p : max_b * p->decode_ctx) + 1;
    if (s == QW_OK) {
        r->logits = malloc(sizeof(float) * (size_t)(max_b > 1 ? max_b : 1) * (size_t)c->vocab_size);
        r->toks = malloc(sizeof(int32_t) * n_tok);
        r->next = malloc(sizeof(int32_t) * (size_t)(max_b > 1 ? max_b : 1));
        if (!r->logits || !r->toks || !r->next) s = qw_error(QW_ERR_NOMEM, "bench buffers: out of memory");
    }
    if (s != QW_OK) {
        qw_bench_runner_free(r);
        return s;
    }
    memset(info, 0, sizeof *info);
    snprintf(info->engine, sizeof info->engine, "qwick");
    char abs[PATH_MAX];
    snprintf(info->model, sizeof info->model, "%s", realpath(model_dir, abs) ? abs : model_dir);
    snprintf(info->dtype, sizeof info->dtype, "%s", qw_type_name(c->dtype));
    for (char *q = info->dtype; *q; q++) *q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q); // "bf16", as torch
    qw_bench_cpu_name(info->cpu, sizeof info->cpu);
    snprintf(info->isa, sizeof info->isa, "%s", qw_cpu_describe());
    double file_bytes = (double)qw_model_file_bytes(r->m);
    info->model_bytes = file_bytes;
    info->n_params = (double)r->m->n_params;
    info->bpw = qw_model_bits_per_weight(r->m);
    info->step_bytes = (double)r->m->weight_bytes;
    info->bandwidth_gb_s = NAN;
    info->foreign_cpu_load = NAN;
    *out = r;
    return QW_OK;
}

static void random_tokens(qw_bench_runner *r, int32_t *t, size_t n) {
    for (size_t i = 0; i < n; i++) t[i] = (int32_t)(qw_rng_u64(&r->rng) % (uint64_t)r->m->config.vocab_size);
}

// A prompt of P tokens in sequence 0, in chunks; returns the prefill and first-token times.
static qw_status prefill(qw_bench_runner *r, int P, double *t_prefill, double *t_first) {
    random_tokens(r, r->toks, (size_t)P);
    double t0 = qw_time_sec();
    for (int i = 0; i < P;) {
        int end = i + r->batch.capacity < P ? i + r->batch.capacity : P;
        qw_batch_clear(&r->batch);
        for (int j = i; j < end; j++) qw_batch_add(&r->batch, r->toks[j], j, 0, j == P - 1);
        QW_TRY(qw_forward(r->m, &r->st, &r->kv_prefill, &r->batch, r->logits));
        i = end;
    }
    double t1 = qw_time_sec();
    r->next[0] = argmax(r->logits, r->m->config.vocab_size);
    *t_prefill = t1 - t0;
    *t_first = qw_time_sec() - t0;
    return QW_OK;
}

// B sequences each hold decode_ctx prompt tokens (prefilled together, untimed), then take n_gen greedy
// steps together: one forward of B tokens per step. Returns the seconds the steps took.
static qw_status decode(qw_bench_runner *r, int B, double *t_steps) {
    int ctx = r->p.decode_ctx, V = r->m->config.vocab_size;
    random_tokens(r, r->toks, (size_t)B * (size_t)ctx);
    int total = B * ctx;
    for (int i = 0; i < total;) {
        int end = i + r->batch.capacity < total ? i + r->batch.capacity : total;
        qw_batch_clear(&r->batch);
        for (int j = i; j < end; j++) qw_batch_add(&r->batch, r->toks[j], j % ctx, j / ctx, j % ctx == ctx - 1);
        QW_TRY(qw_forward(r->m, &r->st, &r->kv_decode, &r->batch, r->logits));
        int k = 0; // the logits rows of this chunk belong to the sequences whose last token it held
        for (int j = i; j < end; j++)
            if (j % ctx == ctx - 1) r->next[j / ctx] = argmax(r->logits + (size_t)k++ * (size_t)V, V);
        i = end;
    }
    double t0 = qw_time_sec();
    for (int step = 0; step < r->p.n_gen; step++) {
        qw_batch_clear(&r->batch);
        for (int b = 0; b < B; b++) qw_batch_add(&r->batch, r->next[b], ctx + step, b, 1);
        QW_TRY(qw_forward(r->m, &r->st, &r->kv_decode, &r->batch, r->logits));
        for (int b = 0; b < B; b++) r->next[b] = argmax(r->logits + (size_t)b * (size_t)V, V);
    }
    *t_steps = qw_time_sec() - t0;
    return QW_OK;
}

qw_status qw_bench_runner_rep(qw_bench_runner *r, qw_bench_samples *s, int rep) {
    QW_ASSERT(rep >= -1 && rep < QW_BENCH_MAX_REPS);
    for (int i = 0; i < r->p.n_prompt; i++) {
        double tp, tf;
        QW_TRY(prefill(r, r->p.prompt_len[i], &tp, &tf));
        if (rep >= 0) {
            s->prefill_tok_s[i][rep] = r->p.prompt_len[i] / tp;
            s->ttft_s[i][rep] = tf;
        }
    }
    for (int i = 0; i < r->p.n_batch; i++) {
        double t;
        QW_TRY(decode(r, r->p.batch[i], &t));
        if (rep >= 0) {
            s->decode_tok_s[i][rep] = (double)r->p.batch[i] * r->p.n_gen / t;
            s->tpot_s[i][rep] = t / r->p.n_gen;
        }
    }
    s->peak_rss_bytes = (double)qw_peak_rss();
    return QW_OK;
}
