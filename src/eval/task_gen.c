// eval/task_gen: generative items answered by greedy decoding, many at once: each item holds a slot of
// one shared KV cache and every step is one forward over all live sequences (prefill and decode mixed).
#include "eval.h"

#include <stdlib.h>

typedef struct {
    int item;     // -1: free
    int32_t *toks; // (slot ctx) prompt, then what was generated
    int n_toks, n_fed, n_prompt;
} gen_slot;

typedef struct {
    const qw_model *m;
    const qw_task *t;
    const qw_matcher *mt;
    const qw_task_params *p;
    qw_task_result *out;
    qw_progress *prog;
} gen_job;

static qw_status finish(gen_job *g, gen_slot *sl) {
    const qw_task_item *it = &g->t->items[sl->item];
    char *text = NULL;
    size_t len;
    QW_TRY(qw_tok_decode(g->m->tok, sl->toks + sl->n_prompt, (size_t)(sl->n_toks - sl->n_prompt), 1, &text, &len));
    int ok = qw_matcher_test(g->mt, text, it->answer);
    g->out->outputs[sl->item] = text;
    g->out->correct[sl->item] = (uint8_t)ok;
    g->out->n_correct += ok;
    if (g->p->verbose)
        fprintf(stderr, "%s:%d: %s: answer \"%s\", output \"%s\"\n", g->t->path, it->line, ok ? "right" : "wrong",
                it->answer, text);
    if (g->prog) qw_progress_add(g->prog, 1);
    sl->item = -1;
    return QW_OK;
}

qw_status qw_eval_generative(const qw_model *m, const qw_task *t, const qw_matcher *mt, const qw_task_params *p,
                             qw_progress *prog, qw_task_result *out) {
    memset(out, 0, sizeof *out);
    out->kind = QW_TASK_GENERATIVE;
    int n = t->n_items, V = m->config.vocab_size;
    out->n = n;
    if (p->max_new < 1) return qw_error(QW_ERR_ARG, "--max-new must be at least 1");
    out->correct = calloc((size_t)n, 1);
    out->outputs = calloc((size_t)n, sizeof(char *));
    int32_t **prompts = calloc((size_t)n, sizeof(int32_t *));
    int *plen = calloc((size_t)n, sizeof(int));
    qw_status s = out->correct && out->outputs && prompts && plen ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
    int max_prompt = 0;
    for (int i = 0; i < n && s == QW_OK; i++) {
        char *text = NULL;
        size_t k = 0;
        s = qw_task_prompt_text(&t->items[i], p, &text);
        if (s == QW_OK) s = qw_task_encode(m, text, &prompts[i], &k);
        free(text);
        if (s == QW_OK && k == 0) s = qw_error(QW_ERR_FORMAT, "the prompt is empty");
        if (s == QW_OK && k >= (size_t)p->ctx_limit)
            s = qw_error(QW_ERR_FORMAT, "prompt of %zu tokens leaves no room for an answer in the context of %d", k,
                         p->ctx_limit);
        if (s != QW_OK) s = qw_error_wrap(s, "%s:%d", t->path, t->items[i].line);
        else plen[i] = (int)k, max_prompt = (int)k > max_prompt ? (int)k : max_prompt;
    }
    int slot_ctx = max_prompt + p->max_new < p->ctx_limit ? max_prompt + p->max_new : p->ctx_limit;
    int n_slots = p->n_parallel < n ? p->n_parallel : n;
    if (n_slots < 1) n_slots = 1;
    int n_batch = p->run.n_batch > n_slots ? p->run.n_batch : n_slots; // room for every slot's decode token

    qw_kv_cache kv;
    qw_state st;
    qw_batch batch;
    qw_sampler smp;
    memset(&kv, 0, sizeof kv), memset(&st, 0, sizeof st), memset(&batch, 0, sizeof batch), memset(&smp, 0, sizeof smp);
    gen_slot *slots = calloc((size_t)n_slots, sizeof *slots);
    float *logits = malloc(sizeof(float) * (size_t)n_slots * (size_t)V);
    int *row_slot = malloc(sizeof(int) * (size_t)n_slots);
    if (s == QW_OK && (!slots || !logits || !row_slot)) s = qw_error(QW_ERR_NOMEM, "out of memory");
    for (int i = 0; s == QW_OK && i < n_slots; i++) {
        slots[i].item = -1;
        if (!(slots[i].toks = malloc(sizeof(int32_t) * (size_t)slot_ctx))) s = qw_error(QW_ERR_NOMEM, "out of memory");
    }
    if (s == QW_OK) s = qw_kv_cache_init(&kv, m, n_slots, slot_ctx);
    if (s == QW_OK) s = qw_state_init(&st, m, n_batch, slot_ctx, p->run.n_threads);
    if (s == QW_OK) s = qw_batch_init(&batch, n_batch);
    qw_sampler_params sp = qw_sampler_defaults();
    sp.temperature = 0; // greedy: the answer must not depend on a seed
    sp.repeat_penalty = 1;
    if (s == QW_OK) s = qw_sampler_init(&smp, &sp, V);
    int32_t stop[16];
    int n_stop = qw_model_stop_tokens(m, stop, 16);
    if (prog) prog->total = n;

    gen_job g = {m, t, mt, p, out, prog};
    int next = 0;
    while (s == QW_OK) {
        for (int i = 0; i < n_slots && next < n; i++)
            if (slots[i].item < 0) {
                gen_slot *sl = &slots[i];
                sl->item = next;
                memcpy(sl->toks, prompts[next], sizeof(int32_t) * (size_t)plen[next]);
                sl->n_toks = sl->n_prompt = plen[next];
                sl->n_fed = 0;
                next++;
            }
        qw_batch_clear(&batch);
        int n_rows = 0;
        for (int i = 0; i < n_slots; i++) {
            gen_slot *sl = &slots[i];
            if (sl->item < 0) continue;
            while (sl->n_fed < sl->n_toks) {
                int last = sl->n_fed == sl->n_toks - 1;
                if (!qw_batch_add(&batch, sl->toks[sl->n_fed], sl->n_fed, i, last)) break;
                sl->n_fed++;
                if (last) row_slot[n_rows++] = i;
            }
        }
        if (batch.n_tokens == 0) break; // every item is answered
        s = qw_forward(m, &st, &kv, &batch, logits);
        for (int r = 0; r < n_rows && s == QW_OK; r++) {
            gen_slot *sl = &slots[row_slot[r]];
            int32_t tok = qw_sampler_sample(&smp, logits + (size_t)r * V, NULL, 0);
            int stopped = 0;
            for (int k = 0; k < n_stop; k++) stopped |= tok == stop[k];
            if (!stopped) sl->toks[sl->n_toks++] = tok;
            if (stopped || sl->n_toks - sl->n_prompt >= p->max_new || sl->n_toks >= slot_ctx) s = finish(&g, sl);
        }
    }
    if (s == QW_OK) {
        out->acc = n ? (double)out->n_correct / n : 0;
        out->acc_ci = qw_eval_wilson(out->n_correct, n, QW_Z95);
    }
    for (int i = 0; slots && i < n_slots; i++) free(slots[i].toks);
    for (int i = 0; prompts && i < n; i++) free(prompts[i]);
    free(slots), free(logits), free(row_slot), free(prompts), free(plen);
    qw_sampler_free(&smp);
    qw_batch_free(&batch);
    qw_state_free(&st);
    qw_kv_cache_free(&kv);
    if (s != QW_OK) qw_task_result_free(out);
    return s;
}
