// eval/ppl: perplexity of a text in sliding windows, and, against a reference (a model run on the same
// batches or a saved logits file), the KL divergence and agreement of the two next-token distributions.
#include "eval.h"

#include <math.h>
#include <stdlib.h>

qw_status qw_eval_plan_windows(int64_t n_tokens, int ctx, int stride, int limit, qw_eval_window **out,
                               int *n_windows) {
    *out = NULL;
    *n_windows = 0;
    if (ctx < 2) return qw_error(QW_ERR_ARG, "--ctx %d: a window needs at least 2 tokens", ctx);
    if (stride < 1 || stride > ctx)
        return qw_error(QW_ERR_ARG, "--stride %d: must be between 1 and --ctx (%d)", stride, ctx);
    if (n_tokens < 2)
        return qw_error(QW_ERR_ARG, "the text has %lld token%s; perplexity needs at least 2", (long long)n_tokens,
                        n_tokens == 1 ? "" : "s");
    int64_t n = n_tokens <= ctx ? 1 : 1 + (n_tokens - ctx + stride - 1) / stride;
    if (limit > 0 && n > limit) n = limit;
    if (n > (1 << 30)) return qw_error(QW_ERR_ARG, "%lld windows: raise --stride or use --limit", (long long)n);
    qw_eval_window *w = malloc(sizeof *w * (size_t)n);
    if (!w) return qw_error(QW_ERR_NOMEM, "out of memory");
    int64_t begin = 0, prev_end = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t end = begin + ctx < n_tokens ? begin + ctx : n_tokens;
        // only what no earlier window scored; a window's first token has no context to be scored from
        w[i] = (qw_eval_window){begin, end, prev_end > begin + 1 ? prev_end : begin + 1};
        prev_end = end;
        begin += stride;
        if (w[i].score_from >= end) n = i; // a lone last token of non-overlapping windows: nothing to score
    }
    *out = w;
    *n_windows = (int)n;
    return QW_OK;
}

// ---------------------------------------------------------------------------------------------------

typedef struct {
    const qw_eval_window *win;
    const int32_t *tokens;
    int V, nth;
    int64_t next_row; // canonical index of the first row of the next call
    double *nll, *kld, *ref_nll, *dp;
    uint8_t *top1, *top5;
    int has_ref;
    const qw_logits_reader *rf;
    const qw_logits_reader *cf; // the candidate's saved log-probs (qw_eval_perplexity_files), else NULL
    qw_logits_writer *wr;
    uint8_t *enc; // (n_batch, row_bytes) records to save
    size_t rb;
    float *scratch; // (nth, V) decoded reference rows
    float *cand_scratch; // (nth, V) decoded candidate rows (cf only)
    // the call being processed
    const int32_t *seq, *pos;
    const float *logits, *ref_logits;
    int n_rows;
} ppl_ctx;

static void rows_run(void *c, int ith, int nth) {
    ppl_ctx *x = c;
    int V = x->V;
    int64_t r0, r1;
    qw_split_rows(x->n_rows, 1, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t row = x->next_row + r;
        int32_t target = x->tokens[x->win[x->seq[r]].begin + x->pos[r] + 1];
        const float *z = x->logits ? x->logits + (size_t)r * V : NULL;
        float lp_cand = 0;
        if (x->cf) { // decoded log-probs stand in for logits (softmax is shift-invariant)
            float *buf = x->cand_scratch + (size_t)ith * V;
            int32_t top_saved;
            qw_logits_decode_row(x->cf->h.encoding, V, qw_logits_reader_row(x->cf, row), buf, &lp_cand, &top_saved);
            z = buf;
        }
        int32_t top_c;
        double lse = qw_eval_logsumexp(z, V, &top_c);
        float lse_f = (float)lse;
        x->nll[row] = x->cf ? -(double)lp_cand : lse - z[target]; // the file's exact next-token log-prob
        if (x->wr) qw_logits_encode_row(x->wr->h.encoding, V, z, target, x->enc + (size_t)r * x->rb);
        if (!x->has_ref) continue;
        // the reference's log-probs are zr[i] - off: raw logits and their lse, or decoded log-probs
        const float *zr;
        float off;
        int32_t top_r;
        if (x->rf) {
            float *buf = x->scratch + (size_t)ith * V, lpt;
            qw_logits_decode_row(x->rf->h.encoding, V, qw_logits_reader_row(x->rf, row), buf, &lpt, &top_r);
            zr = buf, off = 0;
            x->ref_nll[row] = -(double)lpt;
        } else {
            zr = x->ref_logits + (size_t)r * V;
            double lse_r = qw_eval_logsumexp(zr, V, &top_r);
            off = (float)lse_r;
            x->ref_nll[row] = lse_r - zr[target];
        }
        double kl = 0;
        for (int i = 0; i < V; i++) {
            float lr = zr[i] - off, lc = z[i] - lse_f;
            kl += (double)expf(lr) * (double)(lr - lc);
        }
        x->kld[row] = kl;
        x->top1[row] = top_c == top_r;
        int rank = 0; // candidates ahead of the reference's top token (ties go to the lower id, as argmax)
        float zt = z[top_r];
        for (int i = 0; i < V && rank < 5; i++) rank += z[i] > zt || (z[i] == zt && i < top_r);
        x->top5[row] = rank < 5;
        // both sides as float log-probs, as the KLD sees them, so a model against itself gives exactly 0
        x->dp[row] = fabs(exp((double)(z[top_r] - lse_f)) - exp((double)(zr[top_r] - off)));
    }
}

static qw_status on_rows(void *c, int n_rows, const int32_t *seq, const int32_t *pos, const float *logits,
                         const float *ref_logits) {
    ppl_ctx *x = c;
    x->seq = seq, x->pos = pos, x->logits = logits, x->ref_logits = ref_logits, x->n_rows = n_rows;
    qw_parallel(rows_run, x, n_rows < x->nth ? n_rows : x->nth);
    qw_status s = x->wr ? qw_logits_writer_append(x->wr, x->enc, n_rows) : QW_OK;
    x->next_row += n_rows;
    return s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void finish(ppl_ctx *x, int64_t n, int nw, int64_t n_rows, qw_ppl_result *out) {
    out->n_tokens = n;
    out->n_windows = nw;
    out->n_scored = n_rows;
    qw_eval_mean_stderr(x->nll, n_rows, &out->nll_mean, &out->nll_stderr);
    out->ppl = exp(out->nll_mean);
    out->ppl_stderr = out->ppl * out->nll_stderr; // delta method, as llama.cpp reports it
    if (x->has_ref) {
        out->has_ref = 1;
        double se;
        qw_eval_mean_stderr(x->kld, n_rows, &out->kld_mean, &out->kld_stderr);
        qw_eval_mean_stderr(x->dp, n_rows, &out->delta_p_mean, &se);
        qw_eval_mean_stderr(x->ref_nll, n_rows, &out->ref_nll_mean, &se);
        for (int64_t i = 0; i < n_rows; i++) out->top1 += x->top1[i], out->top5 += x->top5[i];
        out->top1_agree = (double)out->top1 / (double)n_rows;
        out->top5_agree = (double)out->top5 / (double)n_rows;
        out->top1_ci = qw_eval_wilson(out->top1, n_rows, QW_Z95);
        qsort(x->kld, (size_t)n_rows, sizeof(double), cmp_double);
        out->kld_median = qw_eval_quantile(x->kld, n_rows, 0.5);
        out->kld_p99 = qw_eval_quantile(x->kld, n_rows, 0.99);
        out->kld_p999 = qw_eval_quantile(x->kld, n_rows, 0.999);
        out->kld_max = x->kld[n_rows - 1];
        out->ref_ppl = exp(out->ref_nll_mean);
        out->ppl_ratio = out->ppl / out->ref_ppl;
    }
}

static qw_status alloc_ref(ppl_ctx *x, int64_t n_rows) {
    size_t V = (size_t)x->V, nth = (size_t)x->nth;
    x->kld = malloc(sizeof(double) * (size_t)n_rows);
    x->ref_nll = malloc(sizeof(double) * (size_t)n_rows);
    x->dp = malloc(sizeof(double) * (size_t)n_rows);
    x->top1 = malloc((size_t)n_rows);
    x->top5 = malloc((size_t)n_rows);
    x->scratch = x->rf ? malloc(sizeof(float) * nth * V) : NULL;
    x->cand_scratch = x->cf ? malloc(sizeof(float) * nth * V) : NULL;
    if (!x->kld || !x->ref_nll || !x->dp || !x->top1 || !x->top5 || (x->rf && !x->scratch) ||
        (x->cf && !x->cand_scratch))
        return qw_error(QW_ERR_NOMEM, "out of memory");
    return QW_OK;
}

static void free_ctx(ppl_ctx *x) {
    free(x->nll), free(x->kld), free(x->ref_nll), free(x->dp), free(x->top1), free(x->top5);
    free(x->scratch), free(x->cand_scratch), free(x->enc);
}

// The saved reference must describe the same scoring problem, or its rows mean something else.
static qw_status check_ref_file(const qw_logits_reader *rf, const qw_model *m, const int32_t *tokens, int64_t n,
                                const qw_ppl_params *p) {
    const qw_logits_header *h = &rf->h;
    if (h->vocab != m->config.vocab_size)
        return qw_error(QW_ERR_ARG, "%s: saved from a model with %d vocabulary rows; this model has %d", rf->path,
                        h->vocab, m->config.vocab_size);
    if (h->ctx != p->ctx || h->stride != p->stride)
        return qw_error(QW_ERR_ARG, "%s: saved with --ctx %d --stride %d; this run uses --ctx %d --stride %d",
                        rf->path, h->ctx, h->stride, p->ctx, p->stride);
    if (h->n_tokens != n)
        return qw_error(QW_ERR_ARG, "%s: saved on a text of %lld tokens; this text is %lld tokens (a different "
                        "text or tokenizer)", rf->path, (long long)h->n_tokens, (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (rf->tokens[i] != tokens[i])
            return qw_error(QW_ERR_ARG, "%s: token %lld is %d in the file and %d here (a different text or "
                            "tokenizer)", rf->path, (long long)i, rf->tokens[i], tokens[i]);
    return QW_OK;
}

qw_status qw_eval_perplexity(const qw_model *m, const int32_t *tokens, int64_t n, const qw_ppl_params *p,
                             qw_progress *prog, qw_ppl_result *out) {
    memset(out, 0, sizeof *out);
    const qw_logits_reader *rf = p->ref_file;
    int limit = p->limit;
    if (rf) {
        QW_TRY(check_ref_file(rf, m, tokens, n, p));
        if (limit <= 0 || limit > rf->h.n_windows) limit = rf->h.n_windows;
    }
    if (p->ctx > m->config.max_position_embeddings)
        return qw_error(QW_ERR_ARG, "--ctx %d is past the model's %d positions", p->ctx,
                        m->config.max_position_embeddings);
    qw_eval_window *win;
    int nw;
    QW_TRY(qw_eval_plan_windows(n, p->ctx, p->stride, limit, &win, &nw));
    int64_t n_rows = 0;
    for (int i = 0; i < nw; i++) n_rows += win[i].end - win[i].score_from;
    if (rf && n_rows > rf->h.n_rows) {
        free(win);
        return qw_error(QW_ERR_FORMAT, "%s: %lld rows for %d windows; they need %lld", rf->path,
                        (long long)rf->h.n_rows, nw, (long long)n_rows);
    }

    int V = m->config.vocab_size, nth = p->run.n_threads > 0 ? p->run.n_threads : 1;
    ppl_ctx x = {.win = win, .tokens = tokens, .V = V, .nth = nth, .rf = rf};
    x.has_ref = rf || p->ref_model;
    qw_eval_seq *seqs = malloc(sizeof *seqs * (size_t)nw);
    x.nll = malloc(sizeof(double) * (size_t)n_rows);
    qw_status s = seqs && x.nll ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
    if (s == QW_OK && x.has_ref) s = alloc_ref(&x, n_rows);
    qw_logits_writer wr;
    memset(&wr, 0, sizeof wr);
    if (s == QW_OK && p->save_path) {
        qw_logits_header h = {p->save_encoding, V, p->ctx, p->stride, nw, n, n_rows};
        x.rb = qw_logits_row_bytes(p->save_encoding, V);
        x.enc = malloc(x.rb * (size_t)p->run.n_batch);
        s = x.enc ? qw_logits_writer_open(&wr, p->save_path, &h, tokens)
                  : qw_error(QW_ERR_NOMEM, "--save-logits: %d rows of %zu bytes: out of memory", p->run.n_batch, x.rb);
        if (s == QW_OK) x.wr = &wr;
    }
    for (int i = 0; s == QW_OK && i < nw; i++)
        seqs[i] = (qw_eval_seq){tokens + win[i].begin, (int)(win[i].end - win[i].begin),
                                (int)(win[i].score_from - win[i].begin)};
    if (s == QW_OK) {
        if (prog) {
            int64_t total = 0;
            for (int i = 0; i < nw; i++) total += seqs[i].len;
            prog->total = total;
        }
        s = qw_eval_score_seqs(m, rf ? NULL : p->ref_model, seqs, nw, &p->run, on_rows, &x, prog);
    }
    if (s == QW_OK) QW_ASSERT(x.next_row == n_rows);
    if (s == QW_OK && x.wr) s = qw_logits_writer_commit(&wr);
    else if (x.wr) qw_logits_writer_abort(&wr);

    if (s == QW_OK) finish(&x, n, nw, n_rows, out);
    free(win), free(seqs);
    free_ctx(&x);
    return s;
}

qw_status qw_eval_perplexity_files(const qw_logits_reader *cand, const qw_logits_reader *ref, int limit, int n_threads,
                                   qw_ppl_result *out) {
    memset(out, 0, sizeof *out);
    const qw_logits_header *a = &cand->h, *b = &ref->h;
    if (a->vocab != b->vocab || a->ctx != b->ctx || a->stride != b->stride || a->n_tokens != b->n_tokens)
        return qw_error(QW_ERR_ARG, "%s (vocab %d, ctx %d, stride %d, %lld tokens) and %s (vocab %d, ctx %d, "
                        "stride %d, %lld tokens) were not saved on the same windows",
                        cand->path, a->vocab, a->ctx, a->stride, (long long)a->n_tokens, ref->path, b->vocab, b->ctx,
                        b->stride, (long long)b->n_tokens);
    for (int64_t i = 0; i < a->n_tokens; i++)
        if (cand->tokens[i] != ref->tokens[i])
            return qw_error(QW_ERR_ARG, "%s and %s differ at token %lld (%d vs %d): different texts or tokenizers",
                            cand->path, ref->path, (long long)i, cand->tokens[i], ref->tokens[i]);
    int nw_max = a->n_windows < b->n_windows ? a->n_windows : b->n_windows;
    if (limit <= 0 || limit > nw_max) limit = nw_max;
    qw_eval_window *win;
    int nw;
    QW_TRY(qw_eval_plan_windows(a->n_tokens, a->ctx, a->stride, limit, &win, &nw));
    int64_t n_rows = 0;
    for (int i = 0; i < nw; i++) n_rows += win[i].end - win[i].score_from;
    if (n_rows > a->n_rows || n_rows > b->n_rows) {
        free(win);
        return qw_error(QW_ERR_FORMAT, "%s: %lld rows and %s: %lld rows; %d windows need %lld", cand->path,
                        (long long)a->n_rows, ref->path, (long long)b->n_rows, nw, (long long)n_rows);
    }
    int V = a->vocab, nth = n_threads > 0 ? n_threads : 1;
    ppl_ctx x = {.win = win, .tokens = cand->tokens, .V = V, .nth = nth, .rf = ref, .cf = cand, .has_ref = 1};
    enum { CHUNK = 256 };
    int32_t seq[CHUNK], pos[CHUNK];
    x.nll = malloc(sizeof(double) * (size_t)n_rows);
    qw_status s = x.nll ? alloc_ref(&x, n_rows) : qw_error(QW_ERR_NOMEM, "out of memory");
    // rows in canonical order: window, then the positions whose next token it scores
    int n = 0;
    for (int w = 0; s == QW_OK && w < nw; w++)
        for (int64_t p = win[w].score_from - 1; s == QW_OK && p + 1 < win[w].end; p++) {
            seq[n] = w, pos[n] = (int32_t)(p - win[w].begin), n++;
            if (n == CHUNK || (w == nw - 1 && p + 2 == win[w].end)) {
                s = on_rows(&x, n, seq, pos, NULL, NULL);
                n = 0;
            }
        }
    if (s == QW_OK) QW_ASSERT(x.next_row == n_rows);
    if (s == QW_OK) finish(&x, a->n_tokens, nw, n_rows, out);
    free(win);
    free_ctx(&x);
    return s;
}
