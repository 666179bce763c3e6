// eval/score: runs many token sequences through a model (and optionally a reference beside it),
// packed several to a forward, and hands the logits of every scored position to the caller in order.
#include "eval.h"

#include <stdlib.h>

#define QW_EVAL_KV_BUDGET (1024.0 * 1024 * 1024) // bytes of KV cache worth packing more sequences for

typedef struct {
    const qw_model *m;
    qw_kv_cache kv;
    qw_state st;
    float *logits; // (n_batch, vocab)
} runner;

static qw_status runner_init(runner *r, const qw_model *m, int n_slots, int n_ctx, const qw_eval_run_params *p) {
    memset(r, 0, sizeof *r);
    r->m = m;
    QW_TRY(qw_kv_cache_init(&r->kv, m, n_slots, n_ctx));
    QW_TRY(qw_state_init(&r->st, m, p->n_batch, n_ctx, p->n_threads));
    size_t n;
    if (!qw_mul_size((size_t)p->n_batch * sizeof(float), (size_t)m->config.vocab_size, &n) || !(r->logits = malloc(n)))
        return qw_error(QW_ERR_NOMEM, "logits for %d tokens x %d: out of memory (lower --batch)", p->n_batch,
                        m->config.vocab_size);
    return QW_OK;
}

static void runner_free(runner *r) {
    qw_kv_cache_free(&r->kv);
    qw_state_free(&r->st);
    free(r->logits);
}

qw_status qw_eval_score_seqs(const qw_model *m, const qw_model *ref, const qw_eval_seq *seqs, int n_seqs,
                             const qw_eval_run_params *p, qw_eval_rows_fn fn, void *ctx, qw_progress *prog) {
    if (n_seqs <= 0) return QW_OK;
    if (p->n_batch < 1) return qw_error(QW_ERR_ARG, "batch of %d tokens", p->n_batch);
    if (ref && ref->config.vocab_size != m->config.vocab_size)
        return qw_error(QW_ERR_ARG, "the reference has %d vocabulary rows, the model %d: their distributions "
                        "cannot be compared", ref->config.vocab_size, m->config.vocab_size);
    int max_len = 0;
    int64_t total = 0;
    for (int i = 0; i < n_seqs; i++) {
        const qw_eval_seq *q = &seqs[i];
        QW_ASSERT(q->len >= 1 && q->score_from >= 1 && q->score_from <= q->len);
        max_len = q->len > max_len ? q->len : max_len;
        total += q->len;
    }
    // Enough slots that short sequences fill a batch, plus one for a sequence spilling into the next.
    int64_t mean_len = total / n_seqs > 0 ? total / n_seqs : 1;
    int64_t n_slots = p->n_batch / mean_len + 2;
    if (n_slots > n_seqs) n_slots = n_seqs;
    if (n_slots > 64) n_slots = 64;
    // Every slot holds max_len positions: one long item among short ones must not make the cache huge.
    double kv_pos = 0; // bytes per cached position, both models
    for (int l = 0; l < m->config.n_layers; l++) kv_pos += 8.0 * m->layers[l].n_kv_heads * m->config.head_dim;
    for (int l = 0; ref && l < ref->config.n_layers; l++) kv_pos += 8.0 * ref->layers[l].n_kv_heads * ref->config.head_dim;
    int64_t fit = (int64_t)(QW_EVAL_KV_BUDGET / (kv_pos * max_len));
    if (n_slots > fit) n_slots = fit > 2 ? fit : 2;
    if (n_slots > n_seqs) n_slots = n_seqs;

    runner a, b;
    memset(&b, 0, sizeof b);
    qw_batch batch;
    memset(&batch, 0, sizeof batch);
    int32_t *row_seq = malloc(sizeof(int32_t) * (size_t)p->n_batch), *row_pos = malloc(sizeof(int32_t) * (size_t)p->n_batch);
    int *slot_seq = malloc(sizeof(int) * (size_t)n_slots), *slot_next = malloc(sizeof(int) * (size_t)n_slots);
    qw_status s = runner_init(&a, m, (int)n_slots, max_len, p);
    if (s == QW_OK && ref) s = runner_init(&b, ref, (int)n_slots, max_len, p);
    if (s == QW_OK) s = qw_batch_init(&batch, p->n_batch);
    if (s == QW_OK && (!row_seq || !row_pos || !slot_seq || !slot_next)) s = qw_error(QW_ERR_NOMEM, "out of memory");
    for (int i = 0; s == QW_OK && i < n_slots; i++) slot_seq[i] = -1;

    int next = 0, active = 0;
    while (s == QW_OK && (next < n_seqs || active > 0)) {
        for (int i = 0; i < n_slots && next < n_seqs; i++)
            if (slot_seq[i] < 0) slot_seq[i] = next++, slot_next[i] = 0, active++;
        // Fill in sequence order and stop at the first that does not fit, so rows come out in
        // canonical order: a later sequence never gets a row before an earlier one is finished.
        qw_batch_clear(&batch);
        int n_rows = 0, full = 0;
        int order[64], n_order = 0;
        for (int i = 0; i < n_slots; i++) { // active slots by sequence index (insertion sort of <= 64)
            if (slot_seq[i] < 0) continue;
            int k = n_order++;
            while (k > 0 && slot_seq[order[k - 1]] > slot_seq[i]) order[k] = order[k - 1], k--;
            order[k] = i;
        }
        for (int o = 0; o < n_order && !full; o++) {
            int sl = order[o], want = slot_seq[sl];
            const qw_eval_seq *q = &seqs[want];
            while (slot_next[sl] < q->len) {
                int j = slot_next[sl];
                int scored = j >= q->score_from - 1 && j <= q->len - 2;
                if (!qw_batch_add(&batch, q->tokens[j], j, sl, scored)) {
                    full = 1;
                    break;
                }
                if (scored) row_seq[n_rows] = want, row_pos[n_rows++] = j;
                slot_next[sl]++;
            }
        }
        s = qw_forward(m, &a.st, &a.kv, &batch, a.logits);
        if (s == QW_OK && ref) s = qw_forward(ref, &b.st, &b.kv, &batch, b.logits);
        if (s == QW_OK && n_rows > 0) s = fn(ctx, n_rows, row_seq, row_pos, a.logits, ref ? b.logits : NULL);
        if (prog) qw_progress_add(prog, batch.n_tokens);
        for (int i = 0; i < n_slots; i++) // a finished slot is reused from the next batch on
            if (slot_seq[i] >= 0 && slot_next[i] == seqs[slot_seq[i]].len) slot_seq[i] = -1, active--;
    }
    free(row_seq), free(row_pos), free(slot_seq), free(slot_next);
    qw_batch_free(&batch);
    runner_free(&a);
    if (ref) runner_free(&b);
    return s;
}
