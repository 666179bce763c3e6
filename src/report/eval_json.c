// report/eval_json: reads what `qwick eval --json` writes (perplexity, KLD and agreement against the
// original, task accuracies with intervals) for the report; every refusal names the file and the field.
//
// Schema (fields absent when not measured):
//   {"model", "model_bytes", "n_params", "bpw",
//    "ppl": {"file", "ctx", "stride", "n_tokens", "ppl", "ppl_stderr", "nll_mean", "nll_stderr"},
//    "ref": {"source", "kld_mean", "kld_stderr", "kld_median", "kld_p99", "kld_p999", "kld_max",
//            "top1_agree", "top1_ci": [lo, hi], "top5_agree", "delta_p_mean", "ref_ppl", "ppl_ratio"},
//    "tasks": [{"file", "kind": "generative" | "multiple_choice", "match", "n", "acc", "acc_ci": [lo, hi],
//               "acc_norm", "acc_norm_ci", "paired": {"ref_acc", "diff", "diff_ci", "p_value",
//               "n_discordant"}}],
//    "time_s"}
#include "report.h"

#include <cjson/cJSON.h>
#include <math.h>

typedef struct {
    const char *path;
} ctx;

static qw_status num(const ctx *c, const cJSON *o, const char *where, const char *key, int required, double *out) {
    return qw_report_json_num(o, c->path, where, key, required, out);
}

static qw_status ci(const ctx *c, const cJSON *o, const char *where, const char *key, double *lo, double *hi) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *lo = *hi = NAN;
    if (!v || cJSON_IsNull(v)) return QW_OK;
    const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) ||
        a->valuedouble > b->valuedouble)
        return qw_error(QW_ERR_FORMAT, "%s: %s: \"%s\" must be [low, high]", c->path, where, key);
    *lo = a->valuedouble;
    *hi = b->valuedouble;
    return QW_OK;
}

// A copy of a string field (NULL when absent).
static qw_status str(const ctx *c, const cJSON *o, const char *where, const char *key, int required, char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v) return required ? qw_error(QW_ERR_FORMAT, "%s: %s has no \"%s\"", c->path, where, key) : QW_OK;
    if (!cJSON_IsString(v)) return qw_error(QW_ERR_FORMAT, "%s: %s: \"%s\" must be a string", c->path, where, key);
    *out = qw_strdup(v->valuestring);
    return *out ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
}

static qw_status object(const ctx *c, const cJSON *o, const char *key, const cJSON **out) {
    *out = cJSON_GetObjectItemCaseSensitive(o, key);
    if (*out && !cJSON_IsObject(*out)) return qw_error(QW_ERR_FORMAT, "%s: \"%s\" must be an object", c->path, key);
    return QW_OK;
}

static qw_status read_task(const ctx *c, const cJSON *o, int i, qw_eval_task *t) {
    char where[64];
    snprintf(where, sizeof where, "tasks[%d]", i);
    if (!cJSON_IsObject(o)) return qw_error(QW_ERR_FORMAT, "%s: %s is not an object", c->path, where);
    QW_TRY(str(c, o, where, "file", 1, &t->file));
    QW_TRY(str(c, o, where, "kind", 0, &t->kind));
    QW_TRY(str(c, o, where, "match", 0, &t->match));
    QW_TRY(num(c, o, where, "n", 0, &t->n));
    QW_TRY(num(c, o, where, "acc", 1, &t->acc));
    if (t->acc < 0 || t->acc > 1) return qw_error(QW_ERR_FORMAT, "%s: %s: \"acc\" must lie in [0, 1]", c->path, where);
    QW_TRY(ci(c, o, where, "acc_ci", &t->acc_lo, &t->acc_hi));
    QW_TRY(num(c, o, where, "acc_norm", 0, &t->acc_norm));
    QW_TRY(ci(c, o, where, "acc_norm_ci", &t->acc_norm_lo, &t->acc_norm_hi));
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "paired");
    t->ref_acc = t->diff = t->diff_lo = t->diff_hi = t->p_value = t->n_discordant = NAN;
    if (p) {
        snprintf(where, sizeof where, "tasks[%d].paired", i);
        if (!cJSON_IsObject(p)) return qw_error(QW_ERR_FORMAT, "%s: %s must be an object", c->path, where);
        t->has_paired = 1;
        QW_TRY(num(c, p, where, "ref_acc", 0, &t->ref_acc));
        QW_TRY(num(c, p, where, "diff", 0, &t->diff));
        QW_TRY(ci(c, p, where, "diff_ci", &t->diff_lo, &t->diff_hi));
        QW_TRY(num(c, p, where, "p_value", 0, &t->p_value));
        QW_TRY(num(c, p, where, "n_discordant", 0, &t->n_discordant));
    }
    return QW_OK;
}

static qw_status read_eval(const ctx *c, const cJSON *o, qw_eval_result *e) {
    if (!cJSON_IsObject(o))
        return qw_error(QW_ERR_FORMAT, "%s: expected one JSON object (what qwick eval --json prints)", c->path);
    const cJSON *ppl, *ref, *tasks = cJSON_GetObjectItemCaseSensitive(o, "tasks");
    QW_TRY(object(c, o, "ppl", &ppl));
    QW_TRY(object(c, o, "ref", &ref));
    if (!ppl && !ref && !tasks) {
        if (cJSON_GetObjectItemCaseSensitive(o, "prefill") || cJSON_GetObjectItemCaseSensitive(o, "decode"))
            return qw_error(QW_ERR_FORMAT, "%s: this is a qwick bench result, not an eval result (pass it with --bench)",
                            c->path);
        return qw_error(QW_ERR_FORMAT, "%s: not a qwick eval result (none of \"ppl\", \"ref\", \"tasks\")", c->path);
    }
    QW_TRY(str(c, o, "the result", "model", 1, &e->model));
    QW_TRY(num(c, o, "the result", "model_bytes", 0, &e->model_bytes));
    QW_TRY(num(c, o, "the result", "n_params", 0, &e->n_params));
    QW_TRY(num(c, o, "the result", "bpw", 0, &e->bpw));
    QW_TRY(num(c, o, "the result", "time_s", 0, &e->time_s));
    e->ppl_ctx = e->ppl_n_tokens = e->ppl = e->ppl_stderr = NAN;
    if (ppl) {
        e->has_ppl = 1;
        QW_TRY(str(c, ppl, "ppl", "file", 0, &e->ppl_file));
        QW_TRY(num(c, ppl, "ppl", "ctx", 0, &e->ppl_ctx));
        QW_TRY(num(c, ppl, "ppl", "n_tokens", 0, &e->ppl_n_tokens));
        QW_TRY(num(c, ppl, "ppl", "ppl", 1, &e->ppl));
        QW_TRY(num(c, ppl, "ppl", "ppl_stderr", 0, &e->ppl_stderr));
    }
    e->kld_mean = e->kld_stderr = e->kld_median = e->kld_p99 = e->kld_p999 = e->kld_max = NAN;
    e->top1 = e->top1_lo = e->top1_hi = e->top5 = e->delta_p_mean = e->ref_ppl = e->ppl_ratio = NAN;
    if (ref) {
        e->has_ref = 1;
        QW_TRY(str(c, ref, "ref", "source", 0, &e->ref_source));
        QW_TRY(num(c, ref, "ref", "kld_mean", 0, &e->kld_mean));
        QW_TRY(num(c, ref, "ref", "kld_stderr", 0, &e->kld_stderr));
        QW_TRY(num(c, ref, "ref", "kld_median", 0, &e->kld_median));
        QW_TRY(num(c, ref, "ref", "kld_p99", 0, &e->kld_p99));
        QW_TRY(num(c, ref, "ref", "kld_p999", 0, &e->kld_p999));
        QW_TRY(num(c, ref, "ref", "kld_max", 0, &e->kld_max));
        QW_TRY(num(c, ref, "ref", "top1_agree", 0, &e->top1));
        QW_TRY(ci(c, ref, "ref", "top1_ci", &e->top1_lo, &e->top1_hi));
        QW_TRY(num(c, ref, "ref", "top5_agree", 0, &e->top5));
        QW_TRY(num(c, ref, "ref", "delta_p_mean", 0, &e->delta_p_mean));
        QW_TRY(num(c, ref, "ref", "ref_ppl", 0, &e->ref_ppl));
        QW_TRY(num(c, ref, "ref", "ppl_ratio", 0, &e->ppl_ratio));
    }
    if (tasks) {
        if (!cJSON_IsArray(tasks)) return qw_error(QW_ERR_FORMAT, "%s: \"tasks\" must be an array", c->path);
        int n = cJSON_GetArraySize(tasks);
        if (n > 1000) return qw_error(QW_ERR_FORMAT, "%s: %d tasks (at most 1000)", c->path, n);
        e->tasks = calloc((size_t)(n ? n : 1), sizeof *e->tasks);
        if (!e->tasks) return qw_error(QW_ERR_NOMEM, "out of memory");
        e->n_tasks = n;
        for (int i = 0; i < n; i++) QW_TRY(read_task(c, cJSON_GetArrayItem(tasks, i), i, &e->tasks[i]));
    }
    return QW_OK;
}

void qw_eval_result_free(qw_eval_result *e) {
    for (int i = 0; i < e->n_tasks; i++) {
        free(e->tasks[i].file);
        free(e->tasks[i].kind);
        free(e->tasks[i].match);
    }
    free(e->tasks);
    free(e->model);
    free(e->source);
    free(e->ppl_file);
    free(e->ref_source);
    memset(e, 0, sizeof *e);
}

qw_status qw_eval_json_parse(const char *text, size_t len, const char *path, qw_eval_result *e) {
    memset(e, 0, sizeof *e);
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!o) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        return qw_error(QW_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", path, at);
    }
    ctx c = {path};
    qw_status s = read_eval(&c, o, e);
    cJSON_Delete(o);
    if (s == QW_OK && !(e->source = qw_strdup(path))) s = qw_error(QW_ERR_NOMEM, "out of memory");
    if (s != QW_OK) qw_eval_result_free(e);
    return s;
}

qw_status qw_eval_json_read(const char *path, qw_eval_result *e) {
    char *text;
    size_t len;
    memset(e, 0, sizeof *e);
    QW_TRY(qw_file_read_all(path, (size_t)64 << 20, &text, &len));
    qw_status s = qw_eval_json_parse(text, len, path, e);
    free(text);
    return s;
}
