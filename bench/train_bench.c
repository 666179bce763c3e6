// bench/train_bench: training throughput of qwick's engine (forward + backward + AdamW, f32) on a random
// Qwen2 shape with random tokens: tokens per second over timed steps after one warm-up step.
//   train_bench [--hidden 384] [--layers 6] [--heads 6] [--kv-heads 2] [--ff 1024] [--vocab 16384]
//               [--ctx 256] [--batch 4] [--steps 5] [--threads 2]
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int hidden = 384, layers = 6, heads = 6, kv = 2, ff = 1024, vocab = 16384, ctx = 256, batch = 4, steps = 5, nth = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--hidden")) hidden = v;
        else if (!strcmp(argv[i], "--layers")) layers = v;
        else if (!strcmp(argv[i], "--heads")) heads = v;
        else if (!strcmp(argv[i], "--kv-heads")) kv = v;
        else if (!strcmp(argv[i], "--ff")) ff = v;
        else if (!strcmp(argv[i], "--vocab")) vocab = v;
        else if (!strcmp(argv[i], "--ctx")) ctx = v;
        else if (!strcmp(argv[i], "--batch")) batch = v;
        else if (!strcmp(argv[i], "--steps")) steps = v;
        else if (!strcmp(argv[i], "--threads")) nth = v;
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    qw_config c;
    memset(&c, 0, sizeof c);
    c.hidden_size = hidden;
    c.intermediate_size = ff;
    c.n_layers = layers;
    c.n_heads = heads;
    c.n_kv_heads = kv;
    c.head_dim = hidden / heads;
    c.vocab_size = vocab;
    c.rope_theta = 1e6;
    c.rms_norm_eps = 1e-6f;
    c.tie_word_embeddings = 1;
    qw_tmodel m;
    if (qw_tmodel_init_random(&m, &c, 1) != QW_OK || qw_tmodel_alloc(&m, batch, ctx, nth) != QW_OK) {
        fprintf(stderr, "%s\n", qw_error_message());
        return 1;
    }
    qw_adamw o;
    if (qw_adamw_init(&o, &m, 0.9f, 0.95f, 1e-8f, 0.1f) != QW_OK) return 1;
    size_t n = (size_t)batch * ctx;
    int32_t *tok = malloc(n * sizeof *tok), *tgt = malloc(n * sizeof *tgt);
    qw_rng r;
    qw_rng_seed(&r, 3);
    for (size_t i = 0; i < n; i++) {
        tok[i] = (int32_t)(qw_rng_u64(&r) % (uint64_t)vocab);
        tgt[i] = (int32_t)(qw_rng_u64(&r) % (uint64_t)vocab);
    }
    double t_fwd = 0, t_bwd = 0, t_opt = 0, t0 = 0, loss = 0;
    for (int s = 0; s <= steps; s++) {
        if (s == 1) t_fwd = t_bwd = t_opt = 0, t0 = qw_time_sec();
        double a = qw_time_sec();
        qw_tmodel_zero_grad(&m);
        int64_t cnt;
        loss = qw_tmodel_forward(&m, tok, tgt, NULL, batch, ctx, &cnt) / (double)cnt;
        double b = qw_time_sec();
        qw_tmodel_backward(&m, 1.0f / (float)cnt);
        double c2 = qw_time_sec();
        qw_clip_grad_norm(&m, 1.0);
        qw_adamw_step(&o, &m, 1e-4f);
        double d = qw_time_sec();
        t_fwd += b - a;
        t_bwd += c2 - b;
        t_opt += d - c2;
    }
    double el = qw_time_sec() - t0;
    printf("{\"engine\": \"qwick\", \"gemm\": \"%s\", \"params\": %zu, \"tok_s\": %.1f, \"step_s\": %.4f, \"forward_s\": %.4f, "
           "\"backward_s\": %.4f, \"optimizer_s\": %.4f, \"loss\": %.4f}\n",
           qw_gemm_backend(), m.n_params, (double)n * steps / el, el / steps, t_fwd / steps, t_bwd / steps,
           t_opt / steps, loss);
    qw_adamw_free(&o);
    qw_tmodel_free(&m);
    free(tok);
    free(tgt);
    return 0;
}
