// train/loop: the training loop: micro-batches accumulated into one AdamW step (the loss normalised by
// the counted tokens of the whole step), clipping, schedule, evaluation, progress lines and checkpoints.
#include "train.h"

#include <errno.h>
#include <math.h>
#include <sys/stat.h>

void qw_train_opts_default(qw_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch = 8;
    o->accum = 1;
    o->ctx = 256;
    o->epochs = 1;
    o->lr = 3e-4f;
    o->min_lr = -1; // 0.1 * lr
    o->weight_decay = 0.1f;
    o->beta1 = 0.9f;
    o->beta2 = 0.95f;
    o->eps = 1e-8f;
    o->clip = 1.0f;
    o->warmup = -1; // 5% of the steps
    o->seed = 1;
    o->shuffle = 1;
    o->eval_batches = 50;
    o->log_every = 10;
    o->n_threads = 0;
}

double qw_train_eval(qw_tmodel *m, const qw_dataset *d, int B, int64_t max_batches, int64_t *n_tokens) {
    qw_data_order ord = {.seed = 0, .shuffle = 0, .epoch_cached = -1};
    size_t cap = (size_t)B * m->max_T;
    int32_t *tok = malloc(cap * sizeof *tok), *tgt = malloc(cap * sizeof *tgt);
    uint8_t *mask = malloc(cap);
    QW_ASSERT(tok && tgt && mask);
    double sum = 0;
    int64_t n = 0;
    for (int64_t i = 0, nb = 0; i < d->n_seq && (max_batches <= 0 || nb < max_batches); i += B, nb++) {
        int b = d->n_seq - i < B ? (int)(d->n_seq - i) : B;
        int T = qw_dataset_batch(d, &ord, i, b, tok, tgt, mask);
        int64_t c;
        sum += qw_tmodel_forward(m, tok, tgt, mask, b, T, &c);
        n += c;
    }
    qw_data_order_free(&ord);
    free(tok);
    free(tgt);
    free(mask);
    if (n_tokens) *n_tokens = n;
    return n ? sum / (double)n : NAN;
}

static qw_status check_ids(const qw_dataset *d, int vocab, const char *what) {
    for (int64_t i = 0; i < d->n_tok; i++)
        if (d->tok[i] < 0 || d->tok[i] >= vocab)
            return qw_error(QW_ERR_ARG, "%s data has token id %d but the model has %d vocabulary rows (tokenizer and "
                                        "model do not match)", what, d->tok[i], vocab);
    if (d->pad_id >= vocab) return qw_error(QW_ERR_ARG, "pad id %d past the vocabulary of %d", d->pad_id, vocab);
    return QW_OK;
}

static void fmt_time(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) snprintf(buf, n, "?");
    else if (s < 90) snprintf(buf, n, "%.0fs", s);
    else if (s < 5400) snprintf(buf, n, "%.1fm", s / 60);
    else snprintf(buf, n, "%.1fh", s / 3600);
}

qw_status qw_train_run(qw_tmodel *m, const qw_dataset *train, const qw_dataset *val, const qw_train_opts *o) {
    int nth = o->n_threads > 0 ? o->n_threads : qw_threads_default();
    if (o->batch < 1 || o->accum < 1 || o->ctx < 1) return qw_error(QW_ERR_ARG, "batch, accumulation and context must be >= 1");
    QW_TRY(check_ids(train, m->shape.vocab, "training"));
    if (val) QW_TRY(check_ids(val, m->shape.vocab, "validation"));
    if (m->max_B < o->batch || m->max_T < o->ctx) QW_TRY(qw_tmodel_alloc(m, o->batch, o->ctx, nth));
    int64_t per_step = (int64_t)o->batch * o->accum;
    int64_t total = o->steps > 0 ? o->steps : (int64_t)ceil(o->epochs * (double)train->n_seq / (double)per_step);
    if (total < 1) total = 1;
    int64_t warmup = o->warmup >= 0 ? o->warmup : total / 20;
    float min_lr = o->min_lr >= 0 ? o->min_lr : 0.1f * o->lr;

    qw_adamw opt;
    QW_TRY(qw_adamw_init(&opt, m, o->beta1, o->beta2, o->eps, o->weight_decay));
    qw_train_progress pr = {.step = 0, .data_pos = 0, .seed = o->seed};
    qw_rng_seed(&pr.rng, o->seed);
    char ckpt[4096] = "";
    qw_status s = QW_OK;
    if (o->ckpt_dir) {
        if (mkdir(o->ckpt_dir, 0755) != 0 && errno != EEXIST) {
            qw_adamw_free(&opt);
            return qw_error(QW_ERR_IO, "%s: cannot create: %s", o->ckpt_dir, strerror(errno));
        }
        qw_path_join(ckpt, sizeof ckpt, o->ckpt_dir, "checkpoint.bin");
        if (o->resume && qw_file_exists(ckpt)) {
            s = qw_checkpoint_load(ckpt, m, &opt, &pr);
            if (s != QW_OK) {
                qw_adamw_free(&opt);
                return s;
            }
            if (pr.seed != o->seed) qw_warn("resuming with the checkpoint's seed %llu", (unsigned long long)pr.seed);
            if (!o->quiet) fprintf(stderr, "resumed from %s at step %lld\n", ckpt, (long long)pr.step);
        }
    }
    qw_data_order ord = {.seed = pr.seed, .shuffle = o->shuffle, .epoch_cached = -1};
    size_t cap = (size_t)per_step * o->ctx;
    int32_t *tok = malloc(cap * sizeof *tok), *tgt = malloc(cap * sizeof *tgt);
    uint8_t *mask = malloc(cap);
    int *Ts = malloc(sizeof(int) * (size_t)o->accum);
    if (!tok || !tgt || !mask || !Ts) s = qw_error(QW_ERR_NOMEM, "out of memory");
    if (s == QW_OK && !o->quiet)
        fprintf(stderr, "training %zu of %zu parameters%s: %lld steps of %d x %d sequences (context %d), %lld "
                        "sequences per epoch; %d threads, GEMM %s\n",
                m->n_trainable, m->n_params + m->n_lora, m->lora_rank ? " (LoRA)" : "", (long long)total, o->accum,
                o->batch, o->ctx, (long long)train->n_seq, nth, qw_gemm_backend());
    double t0 = qw_time_sec(), tokens_done = 0;
    int64_t first = pr.step, this_run = 0;
    double log_loss = 0;
    int64_t log_n = 0;
    while (s == QW_OK && pr.step < total && (o->stop_after <= 0 || this_run < o->stop_after)) {
        float lr = qw_lr_schedule(pr.step, warmup, total, o->lr, min_lr);
        qw_tmodel_zero_grad(m);
        int64_t counted = 0;
        for (int a = 0; a < o->accum; a++) {
            size_t off = (size_t)a * o->batch * o->ctx;
            Ts[a] = qw_dataset_batch(train, &ord, pr.data_pos + (int64_t)a * o->batch, o->batch, tok + off, tgt + off,
                                     mask + off);
            for (size_t i = 0; i < (size_t)o->batch * Ts[a]; i++) counted += mask[off + i];
        }
        double loss_sum = 0;
        for (int a = 0; a < o->accum && counted > 0; a++) {
            size_t off = (size_t)a * o->batch * o->ctx;
            int64_t c;
            loss_sum += qw_tmodel_forward(m, tok + off, tgt + off, mask + off, o->batch, Ts[a], &c);
            qw_tmodel_backward(m, 1.0f / (float)counted);
            tokens_done += (double)o->batch * Ts[a];
        }
        double loss = counted ? loss_sum / (double)counted : NAN;
        double norm = qw_clip_grad_norm(m, o->clip);
        if (counted) qw_adamw_step(&opt, m, lr);
        pr.data_pos += per_step;
        if (o->losses_out) o->losses_out[pr.step] = loss;
        pr.step++;
        this_run++;
        log_loss += counted ? loss : 0;
        log_n += counted ? 1 : 0;
        if (!isfinite(loss) && counted) {
            s = qw_error(QW_ERR_ARG, "step %lld: loss is %g (diverged; lower --lr)", (long long)pr.step, loss);
            break;
        }
        int last = pr.step == total;
        if (!o->quiet && (last || (o->log_every > 0 && pr.step % o->log_every == 0))) {
            double el = qw_time_sec() - t0;
            char eta[32], ela[32];
            fmt_time(eta, sizeof eta, el / (double)this_run * (double)(total - pr.step));
            fmt_time(ela, sizeof ela, el);
            fprintf(stderr, "step %lld/%lld | loss %.4f | lr %.3g | grad norm %.3f | %.0f tok/s | %s elapsed, ETA %s\n",
                    (long long)pr.step, (long long)total, log_n ? log_loss / (double)log_n : NAN, (double)lr, norm,
                    tokens_done / el, ela, eta);
            log_loss = 0;
            log_n = 0;
        }
        if (val && ((o->eval_every > 0 && pr.step % o->eval_every == 0) || last)) {
            int64_t nt;
            double vl = qw_train_eval(m, val, o->batch, o->eval_batches, &nt);
            if (!o->quiet)
                fprintf(stderr, "step %lld | val loss %.4f | val ppl %.2f | %lld tokens\n", (long long)pr.step, vl,
                        exp(vl), (long long)nt);
        }
        if (ckpt[0] && ((o->ckpt_every > 0 && pr.step % o->ckpt_every == 0) || last)) {
            s = qw_checkpoint_save(ckpt, m, &opt, &pr);
            if (s == QW_OK && !o->quiet && o->log_every > 0) fprintf(stderr, "checkpoint: %s (step %lld)\n", ckpt, (long long)pr.step);
        }
    }
    (void)first;
    qw_data_order_free(&ord);
    free(tok);
    free(tgt);
    free(mask);
    free(Ts);
    qw_adamw_free(&opt);
    return s;
}
