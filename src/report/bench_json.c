// report/bench_json: the bench result as JSON (what `qwick bench --json` prints and `qwick report
// --bench` reads), and its validating reader. Every refusal names the file and the field.
//
// Schema (absent fields were not measured; times in seconds, sizes in bytes, speeds in tokens/s):
//   {"engine": "qwick" | "pytorch-eager", "model": absolute folder path, "dtype", "cpu" (model name),
//    "isa" (kernel level or peer library), "threads", "reps", "n_gen", "decode_ctx",
//    "model_bytes", "n_params", "bpw", "step_bytes" (weight bytes one decode step streams),
//    "bandwidth_gb_s" (read bandwidth measured by the same command), "peak_rss_bytes",
//    "prefill": [{"prompt_len", "tok_s", "tok_s_min", "tok_s_max", "ttft_s", "ttft_s_min", "ttft_s_max"}],
//    "decode": [{"batch", "tok_s" (all sequences), "tok_s_min", "tok_s_max", "tpot_s" (per sequence),
//                "tpot_s_min", "tpot_s_max"}],
//    "decode_gb_s" (at the smallest batch), "bandwidth_fraction", "foreign_cpu_load" (peer only),
//    "prefill_tok_s", "decode_tok_s" (the first prefill row's and the smallest batch's medians),
//    "vs": {the same fields for the other side of --vs,
//           "ratios": {"prefill": [{"prompt_len", "tok_s", "ttft_s"}], "decode": [{"batch", "tok_s",
//                      "tpot_s"}]}}}   ratios are this side / the other, medians of paired repetitions
// Medians are over "reps" repetitions after one warm-up; min and max are the spread.
#include "report.h"

#include <cjson/cJSON.h>
#include <math.h>

// ---------------------------------------------------------------------------------------------------
// writing

// Measurements with six significant digits (more would only print their noise); counts such as bytes
// and parameters exactly.
static void add_num(cJSON *o, const char *key, double v) {
    if (!isfinite(v)) return;
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        cJSON_AddNumberToObject(o, key, v);
        return;
    }
    char buf[64];
    snprintf(buf, sizeof buf, "%.6g", v);
    cJSON_AddNumberToObject(o, key, strtod(buf, NULL));
}

static void add_stat(cJSON *o, const char *key, qw_stat s) {
    char k[64];
    add_num(o, key, s.med);
    snprintf(k, sizeof k, "%s_min", key);
    add_num(o, k, s.min);
    snprintf(k, sizeof k, "%s_max", key);
    add_num(o, k, s.max);
}

static int smallest_batch(const qw_bench_result *r) {
    int b = -1;
    for (int i = 0; i < r->n_decode; i++)
        if (b < 0 || r->decode[i].batch < r->decode[b].batch) b = i;
    return b;
}

static cJSON *result_json(const qw_bench_result *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "engine", r->engine);
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON_AddStringToObject(o, "dtype", r->dtype);
    cJSON_AddStringToObject(o, "cpu", r->cpu);
    cJSON_AddStringToObject(o, "isa", r->isa);
    add_num(o, "threads", r->threads);
    add_num(o, "reps", r->reps);
    add_num(o, "n_gen", r->n_gen);
    add_num(o, "decode_ctx", r->decode_ctx);
    add_num(o, "model_bytes", r->model_bytes);
    add_num(o, "n_params", r->n_params);
    add_num(o, "bpw", r->bpw);
    add_num(o, "step_bytes", r->step_bytes);
    add_num(o, "bandwidth_gb_s", r->bandwidth_gb_s);
    add_num(o, "peak_rss_bytes", r->peak_rss_bytes);
    cJSON *pre = cJSON_AddArrayToObject(o, "prefill");
    for (int i = 0; pre && i < r->n_prefill; i++) {
        cJSON *row = cJSON_CreateObject();
        add_num(row, "prompt_len", r->prefill[i].prompt_len);
        add_stat(row, "tok_s", r->prefill[i].tok_s);
        add_stat(row, "ttft_s", r->prefill[i].ttft_s);
        cJSON_AddItemToArray(pre, row);
    }
    cJSON *dec = cJSON_AddArrayToObject(o, "decode");
    for (int i = 0; dec && i < r->n_decode; i++) {
        cJSON *row = cJSON_CreateObject();
        add_num(row, "batch", r->decode[i].batch);
        add_stat(row, "tok_s", r->decode[i].tok_s);
        add_stat(row, "tpot_s", r->decode[i].tpot_s);
        cJSON_AddItemToArray(dec, row);
    }
    add_num(o, "decode_gb_s", r->decode_gb_s);
    add_num(o, "bandwidth_fraction", r->bandwidth_fraction);
    add_num(o, "foreign_cpu_load", r->foreign_cpu_load);
    if (r->n_prefill) add_num(o, "prefill_tok_s", r->prefill[0].tok_s.med);
    int b = smallest_batch(r);
    if (b >= 0) add_num(o, "decode_tok_s", r->decode[b].tok_s.med);
    return o;
}

qw_status qw_bench_json_write(const qw_bench_file *f, char **out) {
    *out = NULL;
    cJSON *o = result_json(&f->a);
    if (o && f->has_vs) {
        cJSON *vs = result_json(&f->b);
        cJSON *ratios = vs ? cJSON_AddObjectToObject(vs, "ratios") : NULL;
        cJSON *pre = ratios ? cJSON_AddArrayToObject(ratios, "prefill") : NULL;
        for (int i = 0; pre && i < f->a.n_prefill; i++) {
            cJSON *row = cJSON_CreateObject();
            add_num(row, "prompt_len", f->a.prefill[i].prompt_len);
            add_num(row, "tok_s", f->prefill_ratio[i]);
            add_num(row, "ttft_s", f->ttft_ratio[i]);
            cJSON_AddItemToArray(pre, row);
        }
        cJSON *dec = ratios ? cJSON_AddArrayToObject(ratios, "decode") : NULL;
        for (int i = 0; dec && i < f->a.n_decode; i++) {
            cJSON *row = cJSON_CreateObject();
            add_num(row, "batch", f->a.decode[i].batch);
            add_num(row, "tok_s", f->decode_ratio[i]);
            add_num(row, "tpot_s", f->tpot_ratio[i]);
            cJSON_AddItemToArray(dec, row);
        }
        cJSON_AddItemToObject(o, "vs", vs);
    }
    *out = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    return *out ? QW_OK : qw_error(QW_ERR_NOMEM, "bench JSON: out of memory");
}

// ---------------------------------------------------------------------------------------------------
// reading

typedef struct {
    const char *path;
    const char *where; // "" or "vs." for messages
} ctx;

static qw_status get_num(const ctx *c, const cJSON *o, const char *obj, const char *key, int required,
                         double *out) {
    char where[96];
    snprintf(where, sizeof where, "%s%s", c->where, obj);
    return qw_report_json_num(o, c->path, where, key, required, out);
}

static qw_status get_str(const ctx *c, const cJSON *o, const char *key, int required, char *buf, size_t n) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    buf[0] = 0;
    if (!v) return required ? qw_error(QW_ERR_FORMAT, "%s: %sno \"%s\"", c->path, c->where, key) : QW_OK;
    if (!cJSON_IsString(v)) return qw_error(QW_ERR_FORMAT, "%s: %s\"%s\" must be a string", c->path, c->where, key);
    if (strlen(v->valuestring) >= n)
        return qw_error(QW_ERR_FORMAT, "%s: %s\"%s\" is longer than %zu bytes", c->path, c->where, key, n - 1);
    memcpy(buf, v->valuestring, strlen(v->valuestring) + 1);
    return QW_OK;
}

static qw_status get_int(const ctx *c, const cJSON *o, const char *obj, const char *key, int min, int *out) {
    double v;
    QW_TRY(get_num(c, o, obj, key, 1, &v));
    if (v != floor(v) || v < min || v > 1e9)
        return qw_error(QW_ERR_FORMAT, "%s: %s%s: \"%s\" must be an integer >= %d", c->path, c->where, obj, key, min);
    *out = (int)v;
    return QW_OK;
}

static qw_status get_stat(const ctx *c, const cJSON *o, const char *obj, const char *key, int required,
                          qw_stat *s) {
    char k[64];
    QW_TRY(get_num(c, o, obj, key, required, &s->med));
    if (!isnan(s->med) && s->med < 0)
        return qw_error(QW_ERR_FORMAT, "%s: %s%s: \"%s\" is negative", c->path, c->where, obj, key);
    snprintf(k, sizeof k, "%s_min", key);
    QW_TRY(get_num(c, o, obj, k, 0, &s->min));
    snprintf(k, sizeof k, "%s_max", key);
    QW_TRY(get_num(c, o, obj, k, 0, &s->max));
    // a file without the spread shows none rather than a made-up one
    if (isnan(s->min)) s->min = s->med;
    if (isnan(s->max)) s->max = s->med;
    return QW_OK;
}

static qw_status rows(const ctx *c, const cJSON *o, const char *name, const cJSON **arr, int *n) {
    *arr = cJSON_GetObjectItemCaseSensitive(o, name);
    *n = 0;
    if (!*arr) return QW_OK;
    if (!cJSON_IsArray(*arr)) return qw_error(QW_ERR_FORMAT, "%s: %s\"%s\" must be an array", c->path, c->where, name);
    *n = cJSON_GetArraySize(*arr);
    if (*n > QW_BENCH_MAX_ROWS)
        return qw_error(QW_ERR_FORMAT, "%s: %s\"%s\" has %d rows (at most %d)", c->path, c->where, name, *n,
                        QW_BENCH_MAX_ROWS);
    for (int i = 0; i < *n; i++)
        if (!cJSON_IsObject(cJSON_GetArrayItem(*arr, i)))
            return qw_error(QW_ERR_FORMAT, "%s: %s\"%s\" row %d is not an object", c->path, c->where, name, i);
    return QW_OK;
}

static qw_status read_result(const ctx *c, const cJSON *o, qw_bench_result *r) {
    memset(r, 0, sizeof *r);
    const cJSON *pre, *dec;
    int np, nd;
    QW_TRY(rows(c, o, "prefill", &pre, &np));
    QW_TRY(rows(c, o, "decode", &dec, &nd));
    if (!pre && !dec) {
        if (cJSON_GetObjectItemCaseSensitive(o, "ppl") || cJSON_GetObjectItemCaseSensitive(o, "ref") ||
            cJSON_GetObjectItemCaseSensitive(o, "tasks"))
            return qw_error(QW_ERR_FORMAT, "%s: this is a qwick eval result, not a bench result (pass it with --eval)",
                            c->path);
        return qw_error(QW_ERR_FORMAT, "%s: %snot a qwick bench result (no \"prefill\" or \"decode\" rows)", c->path,
                        c->where);
    }
    QW_TRY(get_str(c, o, "engine", 1, r->engine, sizeof r->engine));
    QW_TRY(get_str(c, o, "model", 1, r->model, sizeof r->model));
    QW_TRY(get_str(c, o, "dtype", 0, r->dtype, sizeof r->dtype));
    QW_TRY(get_str(c, o, "cpu", 0, r->cpu, sizeof r->cpu));
    QW_TRY(get_str(c, o, "isa", 0, r->isa, sizeof r->isa));
    double v;
    QW_TRY(get_num(c, o, "result", "threads", 0, &v));
    r->threads = isnan(v) ? 0 : (int)v;
    QW_TRY(get_num(c, o, "result", "reps", 0, &v));
    r->reps = isnan(v) ? 0 : (int)v;
    QW_TRY(get_num(c, o, "result", "n_gen", 0, &v));
    r->n_gen = isnan(v) ? 0 : (int)v;
    QW_TRY(get_num(c, o, "result", "decode_ctx", 0, &v));
    r->decode_ctx = isnan(v) ? 0 : (int)v;
    QW_TRY(get_num(c, o, "result", "model_bytes", 0, &r->model_bytes));
    QW_TRY(get_num(c, o, "result", "n_params", 0, &r->n_params));
    QW_TRY(get_num(c, o, "result", "bpw", 0, &r->bpw));
    QW_TRY(get_num(c, o, "result", "step_bytes", 0, &r->step_bytes));
    QW_TRY(get_num(c, o, "result", "bandwidth_gb_s", 0, &r->bandwidth_gb_s));
    QW_TRY(get_num(c, o, "result", "peak_rss_bytes", 0, &r->peak_rss_bytes));
    QW_TRY(get_num(c, o, "result", "decode_gb_s", 0, &r->decode_gb_s));
    QW_TRY(get_num(c, o, "result", "bandwidth_fraction", 0, &r->bandwidth_fraction));
    QW_TRY(get_num(c, o, "result", "foreign_cpu_load", 0, &r->foreign_cpu_load));
    char where[64];
    r->n_prefill = np;
    for (int i = 0; i < np; i++) {
        const cJSON *row = cJSON_GetArrayItem(pre, i);
        snprintf(where, sizeof where, "prefill row %d", i);
        QW_TRY(get_int(c, row, where, "prompt_len", 1, &r->prefill[i].prompt_len));
        QW_TRY(get_stat(c, row, where, "tok_s", 1, &r->prefill[i].tok_s));
        QW_TRY(get_stat(c, row, where, "ttft_s", 0, &r->prefill[i].ttft_s));
    }
    r->n_decode = nd;
    for (int i = 0; i < nd; i++) {
        const cJSON *row = cJSON_GetArrayItem(dec, i);
        snprintf(where, sizeof where, "decode row %d", i);
        QW_TRY(get_int(c, row, where, "batch", 1, &r->decode[i].batch));
        QW_TRY(get_stat(c, row, where, "tok_s", 1, &r->decode[i].tok_s));
        QW_TRY(get_stat(c, row, where, "tpot_s", 0, &r->decode[i].tpot_s));
    }
    return QW_OK;
}

static void read_ratios(const cJSON *vs, qw_bench_file *f) {
    for (int i = 0; i < QW_BENCH_MAX_ROWS; i++)
        f->prefill_ratio[i] = f->ttft_ratio[i] = f->decode_ratio[i] = f->tpot_ratio[i] = NAN;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(vs, "ratios");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(r, "prefill");
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(r, "decode");
    // ratios are derived data: rows that do not line up with A's are left out rather than refused
    for (int i = 0; i < f->a.n_prefill && i < cJSON_GetArraySize(pre); i++) {
        const cJSON *row = cJSON_GetArrayItem(pre, i), *t = cJSON_GetObjectItemCaseSensitive(row, "tok_s"),
                    *tt = cJSON_GetObjectItemCaseSensitive(row, "ttft_s");
        if (cJSON_IsNumber(t)) f->prefill_ratio[i] = t->valuedouble;
        if (cJSON_IsNumber(tt)) f->ttft_ratio[i] = tt->valuedouble;
    }
    for (int i = 0; i < f->a.n_decode && i < cJSON_GetArraySize(dec); i++) {
        const cJSON *row = cJSON_GetArrayItem(dec, i), *t = cJSON_GetObjectItemCaseSensitive(row, "tok_s"),
                    *tp = cJSON_GetObjectItemCaseSensitive(row, "tpot_s");
        if (cJSON_IsNumber(t)) f->decode_ratio[i] = t->valuedouble;
        if (cJSON_IsNumber(tp)) f->tpot_ratio[i] = tp->valuedouble;
    }
}

qw_status qw_bench_json_parse(const char *text, size_t len, const char *path, qw_bench_file *f) {
    memset(f, 0, sizeof *f);
    snprintf(f->source, sizeof f->source, "%s", path);
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!o) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        return qw_error(QW_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", path, at);
    }
    qw_status s = QW_OK;
    ctx c = {path, ""};
    if (!cJSON_IsObject(o))
        s = qw_error(QW_ERR_FORMAT, "%s: expected one JSON object (what qwick bench --json prints)", path);
    if (s == QW_OK) s = read_result(&c, o, &f->a);
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(o, "vs");
    if (s == QW_OK && vs) {
        ctx cv = {path, "vs: "};
        if (!cJSON_IsObject(vs)) s = qw_error(QW_ERR_FORMAT, "%s: \"vs\" must be an object", path);
        if (s == QW_OK) s = read_result(&cv, vs, &f->b);
        if (s == QW_OK) {
            f->has_vs = 1;
            read_ratios(vs, f);
        }
    }
    cJSON_Delete(o);
    return s;
}

qw_status qw_bench_json_read(const char *path, qw_bench_file *f) {
    char *text;
    size_t len;
    QW_TRY(qw_file_read_all(path, (size_t)64 << 20, &text, &len));
    qw_status s = qw_bench_json_parse(text, len, path, f);
    free(text);
    return s;
}
