// report/bench_result: from per-repetition samples to the medians, spreads, bandwidth figures and
// paired A/B ratios that the bench table, its JSON and the report show.
#include "report.h"

#include <math.h>

void qw_bench_samples_clear(qw_bench_samples *s) {
    for (int i = 0; i < QW_BENCH_MAX_ROWS; i++)
        for (int r = 0; r < QW_BENCH_MAX_REPS; r++)
            s->prefill_tok_s[i][r] = s->ttft_s[i][r] = s->decode_tok_s[i][r] = s->tpot_s[i][r] = NAN;
    s->peak_rss_bytes = NAN;
    s->foreign_cpu_load = NAN;
}

void qw_bench_summarise(const qw_bench_plan *p, const qw_bench_samples *s, qw_bench_result *r) {
    r->reps = p->reps;
    r->n_gen = p->n_gen;
    r->decode_ctx = p->decode_ctx;
    r->threads = p->threads;
    r->n_prefill = p->n_prompt;
    for (int i = 0; i < p->n_prompt; i++) {
        r->prefill[i].prompt_len = p->prompt_len[i];
        r->prefill[i].tok_s = qw_stat_of(s->prefill_tok_s[i], p->reps);
        r->prefill[i].ttft_s = qw_stat_of(s->ttft_s[i], p->reps);
    }
    r->n_decode = p->n_batch;
    int smallest = -1;
    for (int i = 0; i < p->n_batch; i++) {
        r->decode[i].batch = p->batch[i];
        r->decode[i].tok_s = qw_stat_of(s->decode_tok_s[i], p->reps);
        r->decode[i].tpot_s = qw_stat_of(s->tpot_s[i], p->reps);
        if (smallest < 0 || p->batch[i] < p->batch[smallest]) smallest = i;
    }
    r->peak_rss_bytes = s->peak_rss_bytes;
    r->foreign_cpu_load = s->foreign_cpu_load;
    // every decode step streams the weights once, whatever the batch: GB/s = bytes per step / tpot
    r->decode_gb_s = smallest >= 0 ? r->step_bytes / r->decode[smallest].tpot_s.med / 1e9 : NAN;
    r->bandwidth_fraction = r->bandwidth_gb_s > 0 ? r->decode_gb_s / r->bandwidth_gb_s : NAN;
}

void qw_bench_file_ratios(qw_bench_file *f, const qw_bench_plan *p, const qw_bench_samples *a,
                          const qw_bench_samples *b) {
    for (int i = 0; i < QW_BENCH_MAX_ROWS; i++)
        f->prefill_ratio[i] = f->ttft_ratio[i] = f->decode_ratio[i] = f->tpot_ratio[i] = NAN;
    for (int i = 0; i < p->n_prompt; i++) {
        f->prefill_ratio[i] = qw_stat_paired_ratio(a->prefill_tok_s[i], b->prefill_tok_s[i], p->reps);
        f->ttft_ratio[i] = qw_stat_paired_ratio(a->ttft_s[i], b->ttft_s[i], p->reps);
    }
    for (int i = 0; i < p->n_batch; i++) {
        f->decode_ratio[i] = qw_stat_paired_ratio(a->decode_tok_s[i], b->decode_tok_s[i], p->reps);
        f->tpot_ratio[i] = qw_stat_paired_ratio(a->tpot_s[i], b->tpot_s[i], p->reps);
    }
}
