// cli/cmd_eval: `qwick eval MODEL`: perplexity over a text, divergence from a reference (model or saved
// logits), accuracy on JSONL tasks paired against the reference; a table on stdout or one JSON object.
#include "cli.h"

#include "eval/eval.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

typedef struct {
    const char *ppl, *ref, *save, *tasks, *match, *system;
    int ctx, stride, save_f32, raw, max_new, parallel, batch, limit, threads, json, verbose, no_progress;
} eval_opts;

typedef struct {
    const char *file;
    qw_task_kind kind;
    qw_task_result r;
    int has_paired;
    qw_paired paired;
} task_report;

static void progress_begin(qw_progress *pg, const eval_opts *o, const char *label, const char *unit) {
    qw_progress_init(pg, label, unit, 0);
    if (o->no_progress) qw_progress_enable(pg, 0);
}

// ---------------------------------------------------------------------------------------------------
// perplexity and divergence

static qw_status tokenize_text(const qw_model *m, const char *path, const char *text, size_t len, int32_t **ids,
                               size_t *n) {
    if (!m->tok) return qw_error(QW_ERR_ARG, "%s: no tokenizer.json, so %s cannot be tokenized", m->path, path);
    return qw_tok_encode(m->tok, text, len, 0, ids, n); // a text file is text: no control tokens in it
}

static qw_status run_ppl(const eval_opts *o, const qw_model *m, const qw_model *ref_m, const qw_logits_reader *rf,
                         qw_ppl_result *res) {
    char *text = NULL;
    int32_t *ids = NULL, *ref_ids = NULL;
    size_t n = 0, n_ref = 0, len = 0;
    qw_status s = qw_file_read_all(o->ppl, (size_t)1 << 31, &text, &len);
    if (s == QW_OK) s = tokenize_text(m, o->ppl, text, len, &ids, &n);
    if (s == QW_OK && ref_m && ref_m->tok) { // the reference must read the same text as the same tokens
        s = tokenize_text(ref_m, o->ppl, text, len, &ref_ids, &n_ref);
        if (s == QW_OK && (n_ref != n || memcmp(ids, ref_ids, n * sizeof(int32_t)) != 0))
            s = qw_error(QW_ERR_ARG, "%s and %s tokenize %s differently: their distributions cannot be compared",
                         m->path, ref_m->path, o->ppl);
    }
    if (s == QW_OK) {
        qw_ppl_params p = {.ctx = o->ctx, .stride = o->stride, .limit = o->limit,
                           .run = {o->batch, o->threads}, .ref_model = ref_m, .ref_file = rf,
                           .save_path = o->save, .save_encoding = o->save_f32 ? QW_LOGITS_F32 : QW_LOGITS_U16};
        qw_progress pg;
        progress_begin(&pg, o, "perplexity", "tokens");
        s = qw_eval_perplexity(m, ids, (int64_t)n, &p, &pg, res);
        qw_progress_end(&pg);
        if (s != QW_OK) s = qw_error_wrap(s, "%s", o->ppl);
    }
    free(text), free(ids), free(ref_ids);
    return s;
}

// ---------------------------------------------------------------------------------------------------
// tasks

static qw_status run_task_on(const qw_model *m, const qw_task *t, const qw_matcher *mt, const qw_task_params *tp,
                             const eval_opts *o, const char *who, qw_task_result *r) {
    char label[64];
    const char *base = strrchr(t->path, '/');
    snprintf(label, sizeof label, "%s %s", who, base ? base + 1 : t->path);
    qw_progress pg;
    progress_begin(&pg, o, label, t->kind == QW_TASK_GENERATIVE ? "items" : "tokens");
    qw_status s = t->kind == QW_TASK_GENERATIVE ? qw_eval_generative(m, t, mt, tp, &pg, r)
                                                : qw_eval_multiple_choice(m, t, tp, &pg, r);
    qw_progress_end(&pg);
    return s;
}

static qw_status run_task(const eval_opts *o, const char *file, const qw_model *m, const qw_model *ref_m,
                          const qw_matcher *mt, task_report *rep) {
    qw_task t;
    QW_TRY(qw_task_load(&t, file, o->limit));
    qw_task_params tp = {.raw = o->raw, .system = o->system, .max_new = o->max_new, .n_parallel = o->parallel,
                         .ctx_limit = o->ctx > 0 ? o->ctx : m->config.max_position_embeddings,
                         .verbose = o->verbose, .run = {o->batch, o->threads}};
    rep->file = file;
    rep->kind = t.kind;
    qw_status s = run_task_on(m, &t, mt, &tp, o, "task", &rep->r);
    if (s == QW_OK && ref_m) {
        qw_task_result rr;
        if (!o->ctx) tp.ctx_limit = ref_m->config.max_position_embeddings;
        s = run_task_on(ref_m, &t, mt, &tp, o, "ref", &rr);
        if (s == QW_OK) {
            rep->has_paired = 1;
            rep->paired = qw_eval_paired(rep->r.correct, rr.correct, rr.n);
            qw_task_result_free(&rr);
        }
    }
    qw_task_free(&t);
    return s;
}

// ---------------------------------------------------------------------------------------------------
// output

static cJSON *pair(double a, double b) {
    double v[2] = {a, b};
    return cJSON_CreateDoubleArray(v, 2);
}

static void print_json(const eval_opts *o, const qw_model *m, double model_bytes, const qw_ppl_result *pr,
                       const task_report *tr, int n_tasks, double secs) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", m->path);
    cJSON_AddNumberToObject(j, "model_bytes", model_bytes);
    cJSON_AddNumberToObject(j, "n_params", m->n_params ? (double)m->n_params : NAN); // NaN prints as null
    cJSON_AddNumberToObject(j, "bpw", qw_model_bits_per_weight(m));
    if (o->ppl) {
        cJSON *p = cJSON_AddObjectToObject(j, "ppl");
        cJSON_AddStringToObject(p, "file", o->ppl);
        cJSON_AddNumberToObject(p, "ctx", o->ctx);
        cJSON_AddNumberToObject(p, "stride", o->stride);
        cJSON_AddNumberToObject(p, "n_tokens", (double)pr->n_scored);
        cJSON_AddNumberToObject(p, "n_windows", pr->n_windows);
        cJSON_AddNumberToObject(p, "ppl", pr->ppl);
        cJSON_AddNumberToObject(p, "ppl_stderr", pr->ppl_stderr);
        cJSON_AddNumberToObject(p, "nll_mean", pr->nll_mean);
        cJSON_AddNumberToObject(p, "nll_stderr", pr->nll_stderr);
    }
    if (o->ref) {
        cJSON *r = cJSON_AddObjectToObject(j, "ref");
        cJSON_AddStringToObject(r, "source", o->ref);
        if (o->ppl && pr->has_ref) {
            cJSON_AddNumberToObject(r, "kld_mean", pr->kld_mean);
            cJSON_AddNumberToObject(r, "kld_stderr", pr->kld_stderr);
            cJSON_AddNumberToObject(r, "kld_median", pr->kld_median);
            cJSON_AddNumberToObject(r, "kld_p99", pr->kld_p99);
            cJSON_AddNumberToObject(r, "kld_p999", pr->kld_p999);
            cJSON_AddNumberToObject(r, "kld_max", pr->kld_max);
            cJSON_AddNumberToObject(r, "top1_agree", pr->top1_agree);
            cJSON_AddItemToObject(r, "top1_ci", pair(pr->top1_ci.lo, pr->top1_ci.hi));
            cJSON_AddNumberToObject(r, "top5_agree", pr->top5_agree);
            cJSON_AddNumberToObject(r, "delta_p_mean", pr->delta_p_mean);
            cJSON_AddNumberToObject(r, "ref_ppl", pr->ref_ppl);
            cJSON_AddNumberToObject(r, "ppl_ratio", pr->ppl_ratio);
        }
    }
    if (n_tasks) {
        cJSON *ts = cJSON_AddArrayToObject(j, "tasks");
        for (int i = 0; i < n_tasks; i++) {
            const task_report *t = &tr[i];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "file", t->file);
            int gen = t->kind == QW_TASK_GENERATIVE;
            cJSON_AddStringToObject(x, "kind", gen ? "generative" : "multiple_choice");
            if (gen) cJSON_AddStringToObject(x, "match", o->match);
            cJSON_AddNumberToObject(x, "n", t->r.n);
            cJSON_AddNumberToObject(x, "acc", t->r.acc);
            cJSON_AddItemToObject(x, "acc_ci", pair(t->r.acc_ci.lo, t->r.acc_ci.hi));
            if (!gen) {
                cJSON_AddNumberToObject(x, "acc_norm", t->r.acc_norm);
                cJSON_AddItemToObject(x, "acc_norm_ci", pair(t->r.acc_norm_ci.lo, t->r.acc_norm_ci.hi));
            }
            if (t->has_paired) {
                cJSON *pp = cJSON_AddObjectToObject(x, "paired");
                cJSON_AddNumberToObject(pp, "ref_acc", t->paired.ref_acc);
                cJSON_AddNumberToObject(pp, "diff", t->paired.diff);
                cJSON_AddItemToObject(pp, "diff_ci", pair(t->paired.diff_ci.lo, t->paired.diff_ci.hi));
                cJSON_AddNumberToObject(pp, "p_value", t->paired.p_value);
                cJSON_AddNumberToObject(pp, "n_discordant", (double)t->paired.n_discordant);
            }
            cJSON_AddItemToArray(ts, x);
        }
    }
    cJSON_AddNumberToObject(j, "time_s", secs);
    char *txt = cJSON_Print(j);
    puts(txt);
    free(txt);
    cJSON_Delete(j);
}

static void print_table(const eval_opts *o, const qw_model *m, double model_bytes, const qw_ppl_result *pr,
                        const task_report *tr, int n_tasks, double secs) {
    if (isnan(model_bytes))
        printf("model        %s  (saved log-probs)\n", m->path);
    else
        printf("model        %s  (%.3f B params, %.1f MB, %.2f bits/weight)\n", m->path, m->n_params / 1e9,
               model_bytes / 1e6, m->n_params ? 8 * model_bytes / (double)m->n_params : 0);
    if (o->ppl) {
        printf("\nperplexity   %s  (ctx %d, stride %d: %lld tokens scored in %d windows)\n", o->ppl, o->ctx, o->stride,
               (long long)pr->n_scored, pr->n_windows);
        printf("  PPL          %.4f ± %.4f\n", pr->ppl, pr->ppl_stderr);
        printf("  mean NLL     %.6f ± %.6f\n", pr->nll_mean, pr->nll_stderr);
        if (pr->has_ref) {
            printf("\nreference    %s\n", o->ref);
            printf("  ref PPL      %.4f   PPL ratio %.6f\n", pr->ref_ppl, pr->ppl_ratio);
            printf("  KLD mean     %.6f ± %.6f\n", pr->kld_mean, pr->kld_stderr);
            printf("  KLD median   %.6f   p99 %.6f   p99.9 %.6f   max %.6f\n", pr->kld_median, pr->kld_p99,
                   pr->kld_p999, pr->kld_max);
            printf("  top-1 agree  %.3f%%  [%.3f, %.3f] 95%% CI\n", 100 * pr->top1_agree, 100 * pr->top1_ci.lo,
                   100 * pr->top1_ci.hi);
            printf("  top-5 agree  %.3f%%  (reference's top token in the model's top 5)\n", 100 * pr->top5_agree);
            printf("  mean |Δp|    %.6f  (probability of the reference's top token)\n", pr->delta_p_mean);
        }
    }
    for (int i = 0; i < n_tasks; i++) {
        const task_report *t = &tr[i];
        int gen = t->kind == QW_TASK_GENERATIVE;
        printf("\ntask         %s  (%s%s, %d items)\n", t->file, gen ? "generative, match " : "multiple choice",
               gen ? o->match : "", t->r.n);
        printf("  acc          %.2f%%  [%.2f, %.2f] 95%% CI  (%lld right)\n", 100 * t->r.acc, 100 * t->r.acc_ci.lo,
               100 * t->r.acc_ci.hi, (long long)t->r.n_correct);
        if (!gen)
            printf("  acc_norm     %.2f%%  [%.2f, %.2f] 95%% CI\n", 100 * t->r.acc_norm, 100 * t->r.acc_norm_ci.lo,
                   100 * t->r.acc_norm_ci.hi);
        if (t->has_paired) {
            const qw_paired *p = &t->paired;
            printf("  ref acc      %.2f%%   difference %+.2f%%  [%+.2f, %+.2f] 95%% CI\n", 100 * p->ref_acc,
                   100 * p->diff, 100 * p->diff_ci.lo, 100 * p->diff_ci.hi);
            printf("  McNemar      p = %.4g  (%lld discordant: %lld right only here, %lld only in the reference)%s\n",
                   p->p_value, (long long)p->n_discordant, (long long)p->only_model, (long long)p->only_ref,
                   p->p_value < 0.05 ? "" : "  no significant difference");
        }
    }
    printf("\ntime         %.2f s\n", secs);
}

// ---------------------------------------------------------------------------------------------------

// MODEL is a saved-logits file (another engine's log-probs, e.g. from bench/llamacpp_peer logits): only its
// divergence from a --ref logits file saved on the same windows can be measured.
static int run_files(eval_opts *o, const char *cand_path) {
    double t0 = qw_time_sec();
    const char *why = NULL;
    if (!o->ref || qw_dir_exists(o->ref) || !qw_logits_file_is(o->ref))
        why = "MODEL is a saved-logits file: compare it with --ref REF_LOGITS (saved on the same text and windows)";
    else if (o->tasks) why = "MODEL is a saved-logits file: it cannot answer --task items";
    else if (o->save) why = "MODEL is a saved-logits file: --save-logits does not apply";
    if (why) {
        fprintf(stderr, "qwick: %s\n", why);
        return 2;
    }
    qw_logits_reader cf, rf;
    memset(&rf, 0, sizeof rf);
    qw_ppl_result pr;
    memset(&pr, 0, sizeof pr);
    qw_status s = qw_logits_reader_open(&cf, cand_path);
    if (s == QW_OK) {
        s = qw_logits_reader_open(&rf, o->ref);
        if (s == QW_OK) {
            s = qw_eval_perplexity_files(&cf, &rf, o->limit, o->threads, &pr);
            if (s == QW_OK) {
                qw_model m; // only its path is shown: size and parameters are not in the file
                memset(&m, 0, sizeof m);
                m.path = (char *)cand_path;
                eval_opts out = *o;
                out.ctx = cf.h.ctx;
                out.stride = cf.h.stride;
                if (!out.ppl) out.ppl = o->ref; // the text is known only as the tokens both files hold
                if (o->json) print_json(&out, &m, NAN, &pr, NULL, 0, qw_time_sec() - t0);
                else print_table(&out, &m, NAN, &pr, NULL, 0, qw_time_sec() - t0);
            }
            qw_logits_reader_close(&rf);
        }
        qw_logits_reader_close(&cf);
    }
    return s == QW_OK ? 0 : qw_cli_fail(s);
}

static int run(eval_opts *o, const char *model_path) {
    double t0 = qw_time_sec();
    qw_model *m = NULL, *ref_m = NULL;
    qw_logits_reader rf;
    memset(&rf, 0, sizeof rf);
    int have_rf = 0, n_tasks = 0;
    qw_matcher mt;
    memset(&mt, 0, sizeof mt);
    task_report *tr = NULL;
    char *task_list = NULL;
    qw_ppl_result pr;
    memset(&pr, 0, sizeof pr);

    qw_status s = qw_matcher_init(&mt, o->match);
    if (s == QW_OK) s = qw_model_load(&m, model_path);
    if (s == QW_OK && o->ref) {
        if (!qw_dir_exists(o->ref) && qw_logits_file_is(o->ref)) {
            s = qw_logits_reader_open(&rf, o->ref);
            have_rf = s == QW_OK;
            if (s == QW_OK && o->tasks)
                s = qw_error(QW_ERR_ARG, "--ref %s is a saved-logits file: it can serve --ppl only; give the "
                             "reference model folder to compare --task accuracy", o->ref);
            if (s == QW_OK && !o->ppl) s = qw_error(QW_ERR_ARG, "--ref %s is a saved-logits file: give --ppl TEXT", o->ref);
            if (s == QW_OK && !o->ctx) o->ctx = rf.h.ctx; // the file says how it was scored
            if (s == QW_OK && !o->stride && o->ctx == rf.h.ctx) o->stride = rf.h.stride;
        } else {
            s = qw_model_load(&ref_m, o->ref);
            if (s != QW_OK) s = qw_error_wrap(s, "--ref");
        }
    }
    int ppl_ctx = o->ctx > 0 ? o->ctx : 512;
    if (o->ppl) {
        if (!o->stride) o->stride = ppl_ctx / 2 > 0 ? ppl_ctx / 2 : 1;
        eval_opts po = *o;
        po.ctx = ppl_ctx;
        if (s == QW_OK) s = run_ppl(&po, m, ref_m, have_rf ? &rf : NULL, &pr);
    }
    if (s == QW_OK && o->tasks) {
        task_list = qw_strdup(o->tasks);
        int cap = 1;
        for (const char *c = o->tasks; *c; c++) cap += *c == ',';
        tr = calloc((size_t)cap, sizeof *tr);
        if (!task_list || !tr) s = qw_error(QW_ERR_NOMEM, "out of memory");
        char *save = NULL;
        for (char *f = task_list ? strtok_r(task_list, ",", &save) : NULL; f && s == QW_OK; f = strtok_r(NULL, ",", &save)) {
            s = run_task(o, f, m, ref_m, &mt, &tr[n_tasks]);
            if (s == QW_OK) n_tasks++;
        }
    }
    if (s == QW_OK) {
        double model_bytes = (double)qw_model_file_bytes(m);
        eval_opts out = *o;
        out.ctx = ppl_ctx;
        if (o->json) print_json(&out, m, model_bytes, &pr, tr, n_tasks, qw_time_sec() - t0);
        else print_table(&out, m, model_bytes, &pr, tr, n_tasks, qw_time_sec() - t0);
        if (o->save) fprintf(stderr, "qwick: saved this model's log-probs to %s\n", o->save);
    }
    for (int i = 0; tr && i < n_tasks; i++) qw_task_result_free(&tr[i].r);
    free(tr), free(task_list);
    qw_matcher_free(&mt);
    if (have_rf) qw_logits_reader_close(&rf);
    qw_model_free(ref_m);
    qw_model_free(m);
    return s == QW_OK ? 0 : qw_cli_fail(s);
}

int qw_cmd_eval(int argc, char **argv) {
    eval_opts o = {.match = "exact", .max_new = 64, .parallel = 16, .batch = 256};
    const qw_opt opts[] = {
        {"--ppl", NULL, QW_OPT_STR, &o.ppl, "perplexity over this text file (sliding windows)"},
        {"--ctx", "-c", QW_OPT_INT, &o.ctx, "window length in tokens (default 512, or the --ref file's); with --task, the longest prompt accepted (default: the model's maximum)"},
        {"--stride", NULL, QW_OPT_INT, &o.stride, "tokens a window advances (default ctx/2); windows score only tokens not scored before"},
        {"--ref", NULL, QW_OPT_STR, &o.ref, "reference: a model folder (KLD with --ppl, paired test with --task) or a file from --save-logits"},
        {"--save-logits", NULL, QW_OPT_STR, &o.save, "with --ppl: save this model's log-probs to FILE, for later --ref FILE"},
        {"--save-logits-f32", NULL, QW_OPT_FLAG, &o.save_f32, "save exact f32 log-probs (default: 16 bits each, per-row scale)"},
        {"--task", NULL, QW_OPT_STR, &o.tasks, "JSONL task file(s), comma-separated: prompt/answer, messages, or prompt/choices/label"},
        {"--match", NULL, QW_OPT_STR, &o.match, "generative scoring: exact | contains | regex:PATTERN (default exact; normalised)"},
        {"--raw", NULL, QW_OPT_FLAG, &o.raw, "task prompts as plain text (default: the ChatML template)"},
        {"--system", NULL, QW_OPT_STR, &o.system, "system turn for task prompts (default: Qwen's)"},
        {"--max-new", "-n", QW_OPT_INT, &o.max_new, "generative: tokens to generate at most (default 64)"},
        {"--parallel", "-P", QW_OPT_INT, &o.parallel, "generative: items decoded together (default 16)"},
        {"--batch", "-b", QW_OPT_INT, &o.batch, "tokens per forward (default 256)"},
        {"--limit", NULL, QW_OPT_INT, &o.limit, "at most N windows (--ppl) and N items (each --task)"},
        {"--threads", "-t", QW_OPT_INT, &o.threads, "threads (default: QWICK_THREADS or all cores)"},
        {"--json", NULL, QW_OPT_FLAG, &o.json, "print one JSON object instead of the table"},
        {"--verbose", "-v", QW_OPT_FLAG, &o.verbose, "print every task item's result on stderr"},
        {"--no-progress", NULL, QW_OPT_FLAG, &o.no_progress, "no progress bar (it shows only on a terminal anyway)"},
    };
    qw_cmd_spec spec = {"qwick eval MODEL [--ppl TEXT] [--task FILE.jsonl] [--ref MODEL|LOGITS] [options]",
                        "Measures a model's accuracy: perplexity over a text (with its standard error), KL divergence "
                        "and top-token agreement against a reference model or its saved logits, and accuracy on "
                        "JSONL tasks with 95% confidence intervals and a paired McNemar test against the reference. "
                        "MODEL may itself be saved logits (another engine's, e.g. from bench/llamacpp_peer logits "
                        "--like REF): then --ref REF_LOGITS gives its KLD, agreement and PPL on the same windows.",
                        opts, (int)(sizeof opts / sizeof opts[0]), 1, 1};
    const char *pos[1];
    int n_pos, r = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (r) return r == 1 ? 0 : 2;
    const char *why = NULL;
    int files = !qw_dir_exists(pos[0]) && qw_logits_file_is(pos[0]); // MODEL is saved logits: --ppl optional
    if (!o.ppl && !o.tasks && !files) why = "nothing to evaluate: give --ppl TEXT and/or --task FILE.jsonl";
    else if (o.save && !o.ppl) why = "--save-logits needs --ppl TEXT";
    else if (o.ctx < 0 || o.stride < 0 || o.limit < 0) why = "--ctx, --stride and --limit must not be negative";
    else if (o.max_new < 1 || o.parallel < 1 || o.batch < 1) why = "--max-new, --parallel and --batch must be positive";
    if (why) {
        fprintf(stderr, "qwick: %s (see qwick eval --help)\n", why);
        return 2;
    }
    if (o.threads <= 0) o.threads = qw_threads_default();
    if (!qw_dir_exists(pos[0]) && qw_logits_file_is(pos[0])) return run_files(&o, pos[0]);
    return run(&o, pos[0]);
}
