// eval/task_mc: multiple-choice items scored by the log-likelihood of each choice after the prompt,
// every choice of many items in shared batches; acc and length-normalised acc as lm-evaluation-harness.
#include "eval.h"

#include <ctype.h>
#include <stdlib.h>

typedef struct {
    const qw_eval_seq *seqs;
    int V, nth, n_rows;
    const int32_t *seq, *pos;
    const float *logits;
    double *row_lp; // (n_batch)
    double *ll;     // (n_seqs)
    int *ntok;
} mc_ctx;

static void rows_run(void *c, int ith, int nth) {
    mc_ctx *x = c;
    int64_t r0, r1;
    qw_split_rows(x->n_rows, 1, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const float *z = x->logits + (size_t)r * x->V;
        int32_t target = x->seqs[x->seq[r]].tokens[x->pos[r] + 1];
        x->row_lp[r] = (double)z[target] - qw_eval_logsumexp(z, x->V, NULL);
    }
}

static qw_status on_rows(void *c, int n_rows, const int32_t *seq, const int32_t *pos, const float *logits,
                         const float *ref_logits) {
    mc_ctx *x = c;
    x->seq = seq, x->pos = pos, x->logits = logits, x->n_rows = n_rows;
    qw_parallel(rows_run, x, n_rows < x->nth ? n_rows : x->nth);
    for (int r = 0; r < n_rows; r++) x->ll[seq[r]] += x->row_lp[r], x->ntok[seq[r]]++; // in order: reproducible sums
    return QW_OK;
}

// lm-evaluation-harness's pair encoding: whitespace ending the context moves to the continuation, the
// context and context + continuation are tokenized separately, and the continuation is what the whole
// has past the context's token count. Appends context + continuation ids to *seq.
static qw_status encode_pair(const qw_model *m, const char *context, const char *choice, int raw, int32_t **seq,
                             int *len, int *score_from) {
    size_t cl = strlen(context), keep = cl;
    if (raw)
        while (keep > 0 && isspace((unsigned char)context[keep - 1])) keep--;
    size_t chl = strlen(choice);
    char *ctx = malloc(keep + 1), *whole = malloc(cl + chl + 1);
    int32_t *ci = NULL, *wi = NULL;
    size_t nc = 0, nw = 0;
    qw_status s = ctx && whole ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
    if (s == QW_OK) {
        memcpy(ctx, context, keep);
        ctx[keep] = 0;
        memcpy(whole, context, cl);
        memcpy(whole + cl, choice, chl + 1);
        s = qw_task_encode(m, ctx, &ci, &nc);
    }
    if (s == QW_OK) s = qw_task_encode(m, whole, &wi, &nw);
    if (s == QW_OK && nc == 0) s = qw_error(QW_ERR_FORMAT, "the prompt is empty (no token to score the choice after)");
    if (s == QW_OK && nw <= nc) s = qw_error(QW_ERR_FORMAT, "the choice adds no tokens to the prompt");
    if (s == QW_OK && nw > (1u << 30)) s = qw_error(QW_ERR_FORMAT, "prompt and choice are too long");
    if (s == QW_OK) {
        *seq = malloc(sizeof(int32_t) * nw);
        if (!*seq) s = qw_error(QW_ERR_NOMEM, "out of memory");
        else {
            memcpy(*seq, ci, sizeof(int32_t) * nc);
            memcpy(*seq + nc, wi + nc, sizeof(int32_t) * (nw - nc));
            *len = (int)nw;
            *score_from = (int)nc;
        }
    }
    free(ctx), free(whole), free(ci), free(wi);
    return s;
}

qw_status qw_eval_multiple_choice(const qw_model *m, const qw_task *t, const qw_task_params *p, qw_progress *prog,
                                  qw_task_result *out) {
    memset(out, 0, sizeof *out);
    out->kind = QW_TASK_MULTIPLE_CHOICE;
    int n = t->n_items;
    out->n = n;
    out->choice_off = malloc(sizeof(int) * (size_t)(n + 1));
    out->correct = calloc((size_t)n, 1);
    out->correct_norm = calloc((size_t)n, 1);
    if (!out->choice_off || !out->correct || !out->correct_norm) return qw_error(QW_ERR_NOMEM, "out of memory");
    out->choice_off[0] = 0;
    for (int i = 0; i < n; i++) out->choice_off[i + 1] = out->choice_off[i] + t->items[i].n_choices;
    int ns = out->choice_off[n];
    out->choice_ll = calloc((size_t)ns, sizeof(double));
    out->choice_ntok = calloc((size_t)ns, sizeof(int));
    qw_eval_seq *seqs = calloc((size_t)ns, sizeof *seqs);
    double *row_lp = malloc(sizeof(double) * (size_t)(p->run.n_batch > 0 ? p->run.n_batch : 1));
    qw_status s = out->choice_ll && out->choice_ntok && seqs && row_lp ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
    int64_t total = 0;
    for (int i = 0; i < n && s == QW_OK; i++) {
        const qw_task_item *it = &t->items[i];
        char *context = NULL;
        s = qw_task_prompt_text(it, p, &context);
        for (int j = 0; j < it->n_choices && s == QW_OK; j++) {
            qw_eval_seq *q = &seqs[out->choice_off[i] + j];
            int32_t *ids = NULL;
            s = encode_pair(m, context, it->choices[j], p->raw, &ids, &q->len, &q->score_from);
            q->tokens = ids;
            if (s == QW_OK && q->len > p->ctx_limit)
                s = qw_error(QW_ERR_FORMAT, "prompt and choice are %d tokens, past the context of %d", q->len,
                             p->ctx_limit);
            if (s != QW_OK && it->n_choices > 1) s = qw_error_wrap(s, "choice %d", j);
            total += q->len;
        }
        free(context);
        if (s != QW_OK) s = qw_error_wrap(s, "%s:%d", t->path, it->line);
    }
    mc_ctx x = {.seqs = seqs, .V = m->config.vocab_size, .nth = p->run.n_threads > 0 ? p->run.n_threads : 1,
                .row_lp = row_lp, .ll = out->choice_ll, .ntok = out->choice_ntok};
    if (s == QW_OK) {
        if (prog) prog->total = total;
        s = qw_eval_score_seqs(m, NULL, seqs, ns, &p->run, on_rows, &x, prog);
    }
    for (int i = 0; i < n && s == QW_OK; i++) {
        const qw_task_item *it = &t->items[i];
        const double *ll = out->choice_ll + out->choice_off[i];
        int best = 0, best_norm = 0;
        for (int j = 1; j < it->n_choices; j++) {
            if (ll[j] > ll[best]) best = j;
            if (ll[j] / (double)strlen(it->choices[j]) > ll[best_norm] / (double)strlen(it->choices[best_norm]))
                best_norm = j;
        }
        out->correct[i] = best == it->label;
        out->correct_norm[i] = best_norm == it->label;
        out->n_correct += out->correct[i];
        out->n_correct_norm += out->correct_norm[i];
        if (p->verbose) {
            fprintf(stderr, "%s:%d: label %d, picked %d (norm %d) %s; log-likelihoods", t->path, it->line, it->label,
                    best, best_norm, out->correct[i] ? "right" : "wrong");
            for (int j = 0; j < it->n_choices; j++) fprintf(stderr, " %.4f", ll[j]);
            fputc('\n', stderr);
        }
    }
    if (s == QW_OK) {
        out->acc = n ? (double)out->n_correct / n : 0;
        out->acc_norm = n ? (double)out->n_correct_norm / n : 0;
        out->acc_ci = qw_eval_wilson(out->n_correct, n, QW_Z95);
        out->acc_norm_ci = qw_eval_wilson(out->n_correct_norm, n, QW_Z95);
    }
    for (int i = 0; seqs && i < ns; i++) free((void *)seqs[i].tokens);
    free(seqs), free(row_lp);
    if (s != QW_OK) qw_task_result_free(out);
    return s;
}

void qw_task_result_free(qw_task_result *r) {
    for (int i = 0; r->outputs && i < r->n; i++) free(r->outputs[i]);
    free(r->outputs), free(r->correct), free(r->correct_norm), free(r->choice_ll), free(r->choice_off);
    free(r->choice_ntok);
    memset(r, 0, sizeof *r);
}
