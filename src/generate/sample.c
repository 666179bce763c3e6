// generate/sample: logits to a token. The order of filters is Hugging Face's: repetition penalty,
// temperature, top-k, top-p, min-p, then a draw from what is left; temperature 0 is greedy argmax.
#include "generate.h"

#include <math.h>
#include <stdlib.h>

qw_sampler_params qw_sampler_defaults(void) {
    qw_sampler_params p = {.temperature = 0.7f, .top_k = 20, .top_p = 0.8f, .min_p = 0.0f,
                           .repeat_penalty = 1.05f, .repeat_last_n = 64, .seed = 0};
    return p;
}

qw_sampler_params qw_sampler_from_config(const qw_config *c) {
    qw_sampler_params p = qw_sampler_defaults();
    p.temperature = c->gen_do_sample ? c->gen_temperature : 0.0f;
    p.top_k = c->gen_top_k;
    p.top_p = c->gen_top_p;
    p.repeat_penalty = c->gen_repetition_penalty;
    return p;
}

qw_status qw_sampler_init(qw_sampler *s, const qw_sampler_params *p, int vocab) {
    memset(s, 0, sizeof *s);
    s->p = *p;
    s->vocab = vocab;
    qw_rng_seed(&s->rng, p->seed);
    s->idx = malloc(sizeof(int32_t) * (size_t)vocab);
    s->prob = calloc((size_t)vocab, sizeof(float));
    if (!s->idx || !s->prob) {
        qw_sampler_free(s);
        return qw_error(QW_ERR_NOMEM, "sampler: out of memory");
    }
    return QW_OK;
}

void qw_sampler_free(qw_sampler *s) {
    free(s->idx);
    free(s->prob);
    memset(s, 0, sizeof *s);
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

// Sorts candidate ids by their logit, highest first (ties by id). The logits come as qsort_r's argument,
// not a global, so samplers on different threads (a server's sequences) do not share state.
static int by_logit_desc(const void *a, const void *b, void *keys) {
    const float *logits = keys;
    float x = logits[*(const int32_t *)a], y = logits[*(const int32_t *)b];
    return x < y ? 1 : x > y ? -1 : (*(const int32_t *)a - *(const int32_t *)b);
}

int32_t qw_sampler_sample(qw_sampler *s, float *logits, const int32_t *history, int n_history) {
    const qw_sampler_params *p = &s->p;
    int V = s->vocab;
    if (p->repeat_penalty != 1.0f && n_history > 0) {
        int from = p->repeat_last_n < 0 || p->repeat_last_n > n_history ? 0 : n_history - p->repeat_last_n;
        // A token seen twice is penalised once, as in HF. prob[] (all zero between calls) marks the
        // ids already collected in idx[], so this is linear in the history.
        int n_seen = 0;
        for (int i = from; i < n_history; i++) {
            int32_t t = history[i];
            if (t < 0 || t >= V || s->prob[t] != 0.0f) continue;
            s->prob[t] = 1.0f;
            s->idx[n_seen++] = t;
        }
        for (int j = 0; j < n_seen; j++) {
            float *l = &logits[s->idx[j]];
            *l = *l > 0 ? *l / p->repeat_penalty : *l * p->repeat_penalty;
            s->prob[s->idx[j]] = 0.0f;
        }
    }
    if (p->temperature <= 0.0f) return argmax(logits, V);

    // candidates: top-k first (a partial selection keeps the sort small), then sort them
    int n = V;
    for (int i = 0; i < V; i++) s->idx[i] = i;
    int k = p->top_k > 0 && p->top_k < V ? p->top_k : V;
    if (k < V) { // quickselect: the k largest to the front in O(V), so only k are sorted
        int lo = 0, hi = V - 1, want = k - 1;
        while (lo < hi) {
            float pivot = logits[s->idx[(lo + hi) / 2]];
            int i = lo, j = hi;
            while (i <= j) {
                while (logits[s->idx[i]] > pivot) i++;
                while (logits[s->idx[j]] < pivot) j--;
                if (i <= j) {
                    int32_t tmp = s->idx[i];
                    s->idx[i] = s->idx[j];
                    s->idx[j] = tmp;
                    i++;
                    j--;
                }
            }
            if (want <= j) hi = j;
            else if (want >= i) lo = i;
            else break;
        }
        n = k;
    }
    qsort_r(s->idx, (size_t)n, sizeof(int32_t), by_logit_desc, logits);

    // softmax at temperature over the candidates
    float mx = logits[s->idx[0]], sum = 0;
    for (int i = 0; i < n; i++) {
        s->prob[i] = expf((logits[s->idx[i]] - mx) / p->temperature);
        sum += s->prob[i];
    }
    for (int i = 0; i < n; i++) s->prob[i] /= sum;
    if (p->top_p < 1.0f) { // smallest prefix whose mass reaches top_p (at least one token)
        float cum = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += s->prob[i];
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0.0f) { // drop tokens under min_p times the top probability
        float cut = p->min_p * s->prob[0];
        int keep = 1;
        while (keep < n && s->prob[keep] >= cut) keep++;
        n = keep;
    }
    float mass = 0;
    for (int i = 0; i < n; i++) mass += s->prob[i];
    float r = qw_rng_uniform(&s->rng) * mass, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += s->prob[i];
        if (r < acc) return s->idx[i];
    }
    return s->idx[n - 1];
}
