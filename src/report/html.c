// report/html: the self-contained report a user sends to their team: one table with a column per model
// (size, accuracy against the original, tasks, speed), accuracy-vs-speed and speed charts as inline SVG.
#include "report.h"

#include <math.h>

static const char *g_css =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:28px auto;max-width:1180px;"
    "padding:0 20px;color:#1d1d1f}\n"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;"
    "padding-bottom:4px}\n"
    ".meta{color:#666;margin:0 0 16px}\n"
    "table{border-collapse:collapse;margin:8px 0}\n"
    "th,td{padding:5px 12px;border-bottom:1px solid #e6e6e6;text-align:right;vertical-align:top}\n"
    "thead th{background:#f6f6f6;border-bottom:2px solid #ccc;text-align:right}\n"
    "th.label,td.label{text-align:left;font-weight:normal;max-width:330px}\n"
    "tr.section th{background:#fafafa;text-align:left;font-weight:600;padding-top:12px}\n"
    "th.base,td.base{background:#f0f6ff}\n"
    ".hint,.ci{color:#777;font-size:12px}.path{color:#777;font-size:11px;word-break:break-all;font-weight:normal}\n"
    ".up{color:#17803d;font-size:12px}.down{color:#b42318;font-size:12px}\n"
    ".charts svg{margin:6px 14px 6px 0;border:1px solid #eee;vertical-align:top}\n"
    "ul.notes li{margin:3px 0;color:#444}\n";

typedef struct {
    qw_text *t;
    const qw_report_model *m;
    int n, base;
    int *order; // column order: the baseline first
} doc;

#define EM_DASH "&#8212;"

// v with `sig` significant digits and no exponent (0.0123, 4.52, 45.2, 4521).
static void fmt_sig(char *buf, size_t n, double v, int sig) {
    if (!isfinite(v)) {
        snprintf(buf, n, "%s", EM_DASH);
        return;
    }
    int mag = v == 0 ? 0 : (int)floor(log10(fabs(v)));
    int dec = sig - 1 - mag;
    snprintf(buf, n, "%.*f", dec < 0 ? 0 : dec > 9 ? 9 : dec, v);
}

static const qw_report_model *col(const doc *d, int k) { return &d->m[d->order[k]]; }

static void section(doc *d, const char *title) {
    qw_text_printf(d->t, "<tr class=\"section\"><th colspan=\"%d\">", d->n + 1);
    qw_text_escape(d->t, title);
    qw_text_put(d->t, "</th></tr>\n");
}

static void row_start(doc *d, const char *label, const char *hint) {
    qw_text_put(d->t, "<tr><th class=\"label\" scope=\"row\">");
    qw_text_escape(d->t, label);
    if (hint && *hint) {
        qw_text_put(d->t, " <span class=\"hint\">");
        qw_text_escape(d->t, hint);
        qw_text_put(d->t, "</span>");
    }
    qw_text_put(d->t, "</th>");
}

static void cell_open(doc *d, int k) { qw_text_put(d->t, d->order[k] == d->base ? "<td class=\"base\">" : "<td>"); }

// A cell holding a number with an optional small note (already HTML) after it.
static void cell_num(doc *d, int k, double v, int sig, const char *unit, const char *note) {
    char b[64];
    cell_open(d, k);
    fmt_sig(b, sizeof b, v, sig);
    qw_text_put(d->t, b);
    if (isfinite(v) && unit) qw_text_put(d->t, unit);
    if (isfinite(v) && note && *note) qw_text_printf(d->t, " %s", note);
    qw_text_put(d->t, "</td>");
}

static double model_bytes(const qw_report_model *m) {
    if (m->eval && isfinite(m->eval->model_bytes)) return m->eval->model_bytes;
    return m->bench ? m->bench->model_bytes : NAN;
}
static double model_bpw(const qw_report_model *m) {
    if (m->eval && isfinite(m->eval->bpw)) return m->eval->bpw;
    if (m->bench && isfinite(m->bench->bpw)) return m->bench->bpw;
    double p = m->eval && isfinite(m->eval->n_params) ? m->eval->n_params : m->bench ? m->bench->n_params : NAN;
    return 8 * model_bytes(m) / p;
}
static double model_params(const qw_report_model *m) {
    if (m->eval && isfinite(m->eval->n_params)) return m->eval->n_params;
    return m->bench ? m->bench->n_params : NAN;
}

static const qw_eval_task *task_of(const qw_report_model *m, const char *file) {
    for (int i = 0; m->eval && i < m->eval->n_tasks; i++)
        if (strcmp(m->eval->tasks[i].file, file) == 0) return &m->eval->tasks[i];
    return NULL;
}

static const qw_bench_prefill *prefill_of(const qw_report_model *m, int plen) {
    for (int i = 0; m->bench && i < m->bench->n_prefill; i++)
        if (m->bench->prefill[i].prompt_len == plen) return &m->bench->prefill[i];
    return NULL;
}

static const qw_bench_decode *decode_of(const qw_report_model *m, int batch) {
    for (int i = 0; m->bench && i < m->bench->n_decode; i++)
        if (m->bench->decode[i].batch == batch) return &m->bench->decode[i];
    return NULL;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s && s[1] ? s + 1 : p;
}

// "×1.52" against the baseline's value (higher is better when up_good).
static void speedup(char *buf, size_t n, double v, double base, int up_good) {
    buf[0] = 0;
    if (!isfinite(v) || !isfinite(base) || base <= 0) return;
    double r = v / base;
    int good = up_good ? r >= 1 : r <= 1;
    snprintf(buf, n, "<span class=\"%s\">&#215;%.2f</span>", good ? "up" : "down", r);
}

static void spread(char *buf, size_t n, qw_stat s, int sig) {
    char a[32], b[32];
    buf[0] = 0;
    if (!isfinite(s.min) || !isfinite(s.max) || s.min == s.max) return;
    fmt_sig(a, sizeof a, s.min, sig);
    fmt_sig(b, sizeof b, s.max, sig);
    snprintf(buf, n, "<span class=\"ci\">%s&#8211;%s</span>", a, b);
}

static int add_unique(int *v, int n, int x) {
    for (int i = 0; i < n; i++)
        if (v[i] == x) return n;
    if (n >= 64) return n;
    int i = n;
    while (i > 0 && v[i - 1] > x) v[i] = v[i - 1], i--;
    v[i] = x;
    return n + 1;
}

// ---------------------------------------------------------------------------------------------------
// table sections

static void rows_model(doc *d) {
    qw_text *t = d->t;
    section(d, "Model");
    row_start(d, "Engine", "and weight type");
    for (int k = 0; k < d->n; k++) {
        cell_open(d, k);
        qw_text_escape(t, col(d, k)->engine);
        if (col(d, k)->bench && col(d, k)->bench->dtype[0]) {
            qw_text_put(t, " <span class=\"hint\">");
            qw_text_escape(t, col(d, k)->bench->dtype);
            qw_text_put(t, "</span>");
        }
        qw_text_put(t, "</td>");
    }
    qw_text_put(t, "</tr>\n");
    row_start(d, "Size", "GB");
    for (int k = 0; k < d->n; k++) cell_num(d, k, model_bytes(col(d, k)) / 1e9, 3, NULL, NULL);
    qw_text_put(t, "</tr>\n");
    row_start(d, "Bits per weight", NULL);
    for (int k = 0; k < d->n; k++) cell_num(d, k, model_bpw(col(d, k)), 3, NULL, NULL);
    qw_text_put(t, "</tr>\n");
    row_start(d, "Parameters", "billions");
    for (int k = 0; k < d->n; k++) cell_num(d, k, model_params(col(d, k)) / 1e9, 3, NULL, NULL);
    qw_text_put(t, "</tr>\n");
}

static void rows_accuracy(doc *d) {
    qw_text *t = d->t;
    int any_ppl = 0, any_ref = 0;
    const char *ppl_file = NULL, *ref = NULL;
    for (int k = 0; k < d->n; k++) {
        const qw_eval_result *e = col(d, k)->eval;
        if (e && e->has_ppl) any_ppl = 1, ppl_file = ppl_file ? ppl_file : e->ppl_file;
        if (e && e->has_ref) any_ref = 1, ref = ref ? ref : e->ref_source;
    }
    if (!any_ppl && !any_ref) return;
    char title[300];
    snprintf(title, sizeof title, "Accuracy against the original%s%.200s%s", ref ? " (" : "", ref ? base_name(ref) : "",
             ref ? ")" : "");
    section(d, title);
    char note[160], a[32];
    if (any_ppl) {
        row_start(d, "Perplexity", ppl_file ? base_name(ppl_file) : NULL);
        for (int k = 0; k < d->n; k++) {
            const qw_eval_result *e = col(d, k)->eval;
            note[0] = 0;
            if (e && isfinite(e->ppl_stderr)) {
                fmt_sig(a, sizeof a, e->ppl_stderr, 2);
                snprintf(note, sizeof note, "<span class=\"ci\">&#177; %s</span>", a);
            }
            cell_num(d, k, e && e->has_ppl ? e->ppl : NAN, 4, NULL, note);
        }
        qw_text_put(t, "</tr>\n");
    }
    if (!any_ref) return;
    struct {
        const char *label, *hint;
        size_t off;
        int pct;
    } rows[] = {
        {"Perplexity ratio", "this / original", offsetof(qw_eval_result, ppl_ratio), 0},
        {"KL divergence, mean", "nats per token", offsetof(qw_eval_result, kld_mean), 0},
        {"KL divergence, 99th percentile", NULL, offsetof(qw_eval_result, kld_p99), 0},
        {"KL divergence, max", NULL, offsetof(qw_eval_result, kld_max), 0},
        {"Top-1 agreement", "same next token as the original, 95% CI", offsetof(qw_eval_result, top1), 1},
        {"Top-5 agreement", NULL, offsetof(qw_eval_result, top5), 1},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        row_start(d, rows[r].label, rows[r].hint);
        for (int k = 0; k < d->n; k++) {
            const qw_eval_result *e = col(d, k)->eval;
            double v = e && e->has_ref ? *(const double *)((const char *)e + rows[r].off) : NAN;
            note[0] = 0;
            if (e && rows[r].off == offsetof(qw_eval_result, kld_mean) && isfinite(e->kld_stderr)) {
                fmt_sig(a, sizeof a, e->kld_stderr, 2);
                snprintf(note, sizeof note, "<span class=\"ci\">&#177; %s</span>", a);
            }
            if (e && rows[r].off == offsetof(qw_eval_result, top1) && isfinite(e->top1_lo)) {
                snprintf(note, sizeof note, "<span class=\"ci\">[%.1f, %.1f]</span>", 100 * e->top1_lo,
                         100 * e->top1_hi);
            }
            if (rows[r].pct)
                cell_num(d, k, 100 * v, 3, "%", note);
            else
                cell_num(d, k, v, 3, NULL, note);
        }
        qw_text_put(t, "</tr>\n");
    }
}

static void rows_tasks(doc *d) {
    qw_text *t = d->t;
    const char *files[256];
    int nf = 0;
    for (int k = 0; k < d->n; k++) {
        const qw_eval_result *e = col(d, k)->eval;
        for (int i = 0; e && i < e->n_tasks && nf < 256; i++) {
            int seen = 0;
            for (int j = 0; j < nf; j++) seen |= strcmp(files[j], e->tasks[i].file) == 0;
            if (!seen) files[nf++] = e->tasks[i].file;
        }
    }
    if (!nf) return;
    section(d, "Tasks (accuracy with 95% confidence interval)");
    char note[256], a[32], b[32], c[32];
    for (int f = 0; f < nf; f++) {
        const qw_eval_task *any = NULL;
        for (int k = 0; k < d->n && !any; k++) any = task_of(col(d, k), files[f]);
        char hint[96] = "";
        if (any && any->kind) snprintf(hint, sizeof hint, "%.40s", any->kind);
        if (any && isfinite(any->n))
            snprintf(hint + strlen(hint), sizeof hint - strlen(hint), "%sn = %.0f", hint[0] ? ", " : "", any->n);
        row_start(d, base_name(files[f]), hint);
        for (int k = 0; k < d->n; k++) {
            const qw_eval_task *tk = task_of(col(d, k), files[f]);
            note[0] = 0;
            if (tk && isfinite(tk->acc_lo))
                snprintf(note, sizeof note, "<span class=\"ci\">[%.1f, %.1f]</span>", 100 * tk->acc_lo, 100 * tk->acc_hi);
            cell_num(d, k, tk ? 100 * tk->acc : NAN, 3, "%", note);
        }
        qw_text_put(t, "</tr>\n");
        int any_paired = 0;
        for (int k = 0; k < d->n; k++) {
            const qw_eval_task *tk = task_of(col(d, k), files[f]);
            any_paired |= tk && tk->has_paired;
        }
        if (!any_paired) continue;
        row_start(d, "Change vs the original", "points, 95% CI, paired p-value");
        for (int k = 0; k < d->n; k++) {
            const qw_eval_task *tk = task_of(col(d, k), files[f]);
            cell_open(d, k);
            if (!tk || !tk->has_paired || !isfinite(tk->diff)) {
                qw_text_put(t, EM_DASH "</td>");
                continue;
            }
            snprintf(a, sizeof a, "%+.1f", 100 * tk->diff);
            qw_text_put(t, a);
            if (isfinite(tk->diff_lo)) {
                snprintf(b, sizeof b, "%+.1f", 100 * tk->diff_lo);
                snprintf(c, sizeof c, "%+.1f", 100 * tk->diff_hi);
                qw_text_printf(t, " <span class=\"ci\">[%s, %s]</span>", b, c);
            }
            if (isfinite(tk->p_value)) {
                if (tk->p_value < 0.001)
                    qw_text_put(t, " <span class=\"ci\">p &lt; 0.001</span>");
                else
                    qw_text_printf(t, " <span class=\"ci\">p = %.3f</span>", tk->p_value);
            }
            qw_text_put(t, "</td>");
        }
        qw_text_put(t, "</tr>\n");
    }
}

static void rows_speed(doc *d) {
    qw_text *t = d->t;
    int plens[64], batches[64], np = 0, nb = 0, threads = 0, mixed = 0;
    for (int k = 0; k < d->n; k++) {
        const qw_bench_result *r = col(d, k)->bench;
        if (!r) continue;
        for (int i = 0; i < r->n_prefill; i++) np = add_unique(plens, np, r->prefill[i].prompt_len);
        for (int i = 0; i < r->n_decode; i++) nb = add_unique(batches, nb, r->decode[i].batch);
        if (threads && r->threads != threads) mixed = 1;
        threads = r->threads;
    }
    if (!np && !nb) return;
    char title[128];
    if (mixed)
        snprintf(title, sizeof title, "Speed (medians; thread counts differ, see the threads row)");
    else
        snprintf(title, sizeof title, "Speed (medians over repetitions, %d thread%s)", threads, threads == 1 ? "" : "s");
    section(d, title);
    const qw_report_model *bm = &d->m[d->base];
    char label[96], note[320], sp[128], up[160];
    for (int i = 0; i < np; i++) {
        snprintf(label, sizeof label, "Prefill, %d-token prompt", plens[i]);
        row_start(d, label, "tokens/s");
        const qw_bench_prefill *bp = prefill_of(bm, plens[i]);
        for (int k = 0; k < d->n; k++) {
            const qw_bench_prefill *p = prefill_of(col(d, k), plens[i]);
            note[0] = 0;
            if (p) {
                spread(sp, sizeof sp, p->tok_s, 3);
                up[0] = 0;
                if (d->order[k] != d->base && bp) speedup(up, sizeof up, p->tok_s.med, bp->tok_s.med, 1);
                snprintf(note, sizeof note, "%s %s", sp, up);
            }
            cell_num(d, k, p ? p->tok_s.med : NAN, 3, NULL, note);
        }
        qw_text_put(t, "</tr>\n");
        snprintf(label, sizeof label, "Time to first token, %d-token prompt", plens[i]);
        row_start(d, label, "seconds");
        for (int k = 0; k < d->n; k++) {
            const qw_bench_prefill *p = prefill_of(col(d, k), plens[i]);
            note[0] = 0;
            if (p && d->order[k] != d->base && bp) speedup(note, sizeof note, p->ttft_s.med, bp->ttft_s.med, 0);
            cell_num(d, k, p ? p->ttft_s.med : NAN, 3, NULL, note);
        }
        qw_text_put(t, "</tr>\n");
    }
    for (int i = 0; i < nb; i++) {
        if (batches[i] == 1)
            snprintf(label, sizeof label, "Decode, one sequence");
        else
            snprintf(label, sizeof label, "Decode, %d sequences together", batches[i]);
        row_start(d, label, "tokens/s, all sequences");
        const qw_bench_decode *bd = decode_of(bm, batches[i]);
        for (int k = 0; k < d->n; k++) {
            const qw_bench_decode *p = decode_of(col(d, k), batches[i]);
            note[0] = 0;
            if (p) {
                spread(sp, sizeof sp, p->tok_s, 3);
                up[0] = 0;
                if (d->order[k] != d->base && bd) speedup(up, sizeof up, p->tok_s.med, bd->tok_s.med, 1);
                snprintf(note, sizeof note, "%s %s", sp, up);
            }
            cell_num(d, k, p ? p->tok_s.med : NAN, 3, NULL, note);
        }
        qw_text_put(t, "</tr>\n");
        snprintf(label, sizeof label, "Time per output token, batch %d", batches[i]);
        row_start(d, label, "ms per sequence");
        for (int k = 0; k < d->n; k++) {
            const qw_bench_decode *p = decode_of(col(d, k), batches[i]);
            cell_num(d, k, p ? 1e3 * p->tpot_s.med : NAN, 3, NULL, NULL);
        }
        qw_text_put(t, "</tr>\n");
    }
    row_start(d, "Weights streamed in decode", "GB/s, share of measured bandwidth");
    for (int k = 0; k < d->n; k++) {
        const qw_bench_result *r = col(d, k)->bench;
        note[0] = 0;
        if (r && isfinite(r->bandwidth_fraction))
            snprintf(note, sizeof note, "<span class=\"ci\">%.0f%% of %.1f</span>", 100 * r->bandwidth_fraction,
                     r->bandwidth_gb_s);
        cell_num(d, k, r ? r->decode_gb_s : NAN, 3, NULL, note);
    }
    qw_text_put(t, "</tr>\n");
    row_start(d, "Peak resident memory", "GB");
    for (int k = 0; k < d->n; k++) {
        const qw_bench_result *r = col(d, k)->bench;
        cell_num(d, k, r ? r->peak_rss_bytes / 1e9 : NAN, 3, NULL, NULL);
    }
    qw_text_put(t, "</tr>\n");
    row_start(d, "Threads", NULL);
    for (int k = 0; k < d->n; k++) {
        const qw_bench_result *r = col(d, k)->bench;
        cell_num(d, k, r && r->threads ? r->threads : NAN, 1, NULL, NULL);
    }
    qw_text_put(t, "</tr>\n");
}

// ---------------------------------------------------------------------------------------------------
// charts

// The decode row that accuracy is plotted against: batch 1 when measured, else the smallest batch.
static int chart_batch(const doc *d) {
    int b = 0;
    for (int k = 0; k < d->n; k++) {
        const qw_bench_result *r = col(d, k)->bench;
        for (int i = 0; r && i < r->n_decode; i++)
            if (!b || r->decode[i].batch < b) b = r->decode[i].batch;
    }
    return b;
}

// One scatter: a series per model so each has its colour, labelled by name.
static void accuracy_chart(doc *d, const char *title, const char *y_label, const char *task_file, int batch) {
    double x[64], y[64], xl[64], xh[64], yl[64], yh[64];
    const char *labels[64];
    qw_svg_series s[64];
    int n = 0;
    for (int k = 0; k < d->n && n < 64; k++) {
        const qw_report_model *m = col(d, k);
        const qw_bench_decode *dc = decode_of(m, batch);
        double v = NAN, lo = NAN, hi = NAN;
        if (task_file) {
            const qw_eval_task *tk = task_of(m, task_file);
            if (tk) v = tk->acc, lo = tk->acc_lo, hi = tk->acc_hi;
        } else if (m->eval && m->eval->has_ref) {
            v = m->eval->top1, lo = m->eval->top1_lo, hi = m->eval->top1_hi;
        } else if (d->order[k] == d->base && m->eval) {
            v = lo = hi = 1; // the original agrees with itself
        }
        if (!dc || !isfinite(v)) continue;
        x[n] = dc->tok_s.med, xl[n] = dc->tok_s.min, xh[n] = dc->tok_s.max;
        y[n] = 100 * v, yl[n] = 100 * lo, yh[n] = 100 * hi;
        labels[n] = m->name;
        s[n] = (qw_svg_series){m->name, 1, &x[n], &y[n], &xl[n], &xh[n], &yl[n], &yh[n], &labels[n], 0, k + 1};
        n++;
    }
    if (!n) return;
    char xlab[96];
    snprintf(xlab, sizeof xlab, "decode tokens/s (%d sequence%s)", batch, batch == 1 ? "" : "s");
    qw_svg_chart c = {title, xlab, y_label, 560, 380, 0, 0, 0, 100};
    qw_svg_chart_write(d->t, &c, s, n);
}

static void charts(doc *d) {
    qw_text *t = d->t;
    int batch = chart_batch(d);
    if (batch) {
        int any_ref = 0;
        const char *files[8];
        int nf = 0;
        for (int k = 0; k < d->n; k++) {
            const qw_eval_result *e = col(d, k)->eval;
            any_ref |= e && e->has_ref;
            for (int i = 0; e && i < e->n_tasks && nf < 8; i++) {
                int seen = 0;
                for (int j = 0; j < nf; j++) seen |= strcmp(files[j], e->tasks[i].file) == 0;
                if (!seen) files[nf++] = e->tasks[i].file;
            }
        }
        if (any_ref || nf) {
            qw_text_put(t, "<h2>Accuracy vs speed</h2>\n<div class=\"charts\">\n");
            char title[160];
            for (int f = 0; f < nf; f++) {
                snprintf(title, sizeof title, "%.120s: accuracy vs speed", base_name(files[f]));
                accuracy_chart(d, title, "accuracy, % (95% CI)", files[f], batch);
            }
            if (any_ref) accuracy_chart(d, "Top-1 agreement with the original vs speed", "top-1 agreement, %", NULL, batch);
            qw_text_put(t, "</div>\n");
        }
    }
    const qw_bench_result *r[64];
    const char *names[64];
    int n = 0;
    for (int k = 0; k < d->n && n < 64; k++)
        if (col(d, k)->bench) r[n] = col(d, k)->bench, names[n++] = col(d, k)->name;
    if (!n) return;
    qw_text_put(t, "<h2>Speed</h2>\n<div class=\"charts\">\n");
    qw_svg_speed_charts(t, r, names, n, 560, 380 + 16 * n);
    qw_text_put(t, "</div>\n");
}

static const char *name_of(const doc *d, const qw_bench_result *r) {
    for (int i = 0; i < d->n; i++)
        if (d->m[i].bench == r) return d->m[i].name;
    return base_name(r->model); // a model measured twice: the report's column shows the other run
}

// Ratios measured in one alternating run are steadier than ratios of separate runs: shown as they are.
static void paired_runs(const qw_report_inputs *in, const doc *d, qw_text *t) {
    int any = 0;
    for (int i = 0; i < in->n_benches; i++) any |= in->benches[i].has_vs;
    if (!any) return;
    qw_text_put(t, "<h2>Same-run comparisons</h2>\n<p class=\"meta\">From <code>qwick bench A --vs B</code>: A and B "
                   "measured alternately in one run; each ratio is the median of the per-repetition A/B ratios of "
                   "tokens/s (above 1: A is faster).</p>\n<table><thead><tr><th class=\"label\">A</th>"
                   "<th class=\"label\">B</th><th class=\"label\">measurement</th><th class=\"label\">A/B</th>"
                   "</tr></thead>\n<tbody>\n");
    for (int i = 0; i < in->n_benches; i++) {
        const qw_bench_file *f = &in->benches[i];
        if (!f->has_vs) continue;
        for (int kind = 0; kind < 2; kind++) {
            int n = kind ? f->a.n_decode : f->a.n_prefill;
            if (!n) continue;
            qw_text_put(t, "<tr><td class=\"label\">");
            qw_text_escape(t, name_of(d, &f->a));
            qw_text_put(t, "</td><td class=\"label\">");
            qw_text_escape(t, name_of(d, &f->b));
            qw_text_printf(t, "</td><td class=\"label\">%s</td><td class=\"label\">",
                           kind ? "decode, by batch size" : "prefill, by prompt length");
            for (int j = 0; j < n; j++) {
                double v = kind ? f->decode_ratio[j] : f->prefill_ratio[j];
                char b[32];
                if (isfinite(v))
                    snprintf(b, sizeof b, "%.2f", v);
                else
                    snprintf(b, sizeof b, EM_DASH);
                qw_text_printf(t, "%s<span class=\"hint\">%s%d:</span> %s", j ? " &#183; " : "", kind ? "&#215;" : "",
                               kind ? f->a.decode[j].batch : f->a.prefill[j].prompt_len, b);
            }
            qw_text_put(t, "</td></tr>\n");
        }
    }
    qw_text_put(t, "</tbody></table>\n");
}

static void sources(const qw_report_inputs *in, const doc *d, qw_text *t) {
    qw_text_put(t, "<h2>Inputs and machine</h2>\n<ul class=\"notes\">\n");
    for (int k = 0; k < d->n; k++) {
        const qw_report_model *m = col(d, k);
        qw_text_put(t, "<li><b>");
        qw_text_escape(t, m->name);
        qw_text_put(t, "</b>: <code>");
        qw_text_escape(t, m->path);
        qw_text_put(t, "</code>");
        if (m->eval) {
            qw_text_put(t, "; eval <code>");
            qw_text_escape(t, m->eval->source);
            qw_text_put(t, "</code>");
        }
        if (m->bench) {
            qw_text_put(t, "; bench on ");
            qw_text_escape(t, m->bench->cpu[0] ? m->bench->cpu : "unknown CPU");
            if (m->bench->isa[0]) {
                qw_text_put(t, " (");
                qw_text_escape(t, m->bench->isa);
                qw_text_put(t, ")");
            }
            qw_text_printf(t, ", %d threads, %d repetitions", m->bench->threads, m->bench->reps);
            if (isfinite(m->bench->bandwidth_gb_s))
                qw_text_printf(t, ", measured bandwidth %.1f GB/s", m->bench->bandwidth_gb_s);
            if (isfinite(m->bench->foreign_cpu_load) && m->bench->foreign_cpu_load > 0.1)
                qw_text_printf(t, "; <span class=\"down\">other processes used %.0f%% of the CPUs meanwhile</span>",
                               100 * m->bench->foreign_cpu_load);
        }
        qw_text_put(t, "</li>\n");
    }
    for (int i = 0; i < in->n_benches; i++) {
        qw_text_put(t, "<li>bench file <code>");
        qw_text_escape(t, in->benches[i].source);
        qw_text_put(t, "</code></li>\n");
    }
    qw_text_put(t, "</ul>\n<h2>How to read this</h2>\n<ul class=\"notes\">\n"
                   "<li>Intervals in brackets are 95% confidence intervals from <code>qwick eval</code>; "
                   "&#177; is one standard error.</li>\n"
                   "<li>Changes in task accuracy are paired: the same questions answered by this model and the "
                   "original; the p-value tests that the two agree as often as they disagree.</li>\n"
                   "<li>KL divergence and top-1 agreement compare next-token distributions with the original's on "
                   "the same text; 0 and 100% mean no change.</li>\n"
                   "<li>Speeds are medians over repetitions after a warm-up, with the fastest and slowest "
                   "repetition beside them in grey; &#215; is the speed-up over the baseline column (green when "
                   "better).</li>\n"
                   "<li>Decode speed counts the tokens of all sequences decoding together; time per output token "
                   "is what each sequence waits per token.</li>\n</ul>\n");
}

qw_status qw_report_html(const qw_report_inputs *in, qw_text *t) {
    qw_report_model *m;
    int n, base;
    QW_TRY(qw_report_models(in, &m, &n, &base));
    int *order = malloc(sizeof(int) * (size_t)n);
    if (!order) {
        free(m);
        return qw_error(QW_ERR_NOMEM, "out of memory");
    }
    order[0] = base;
    for (int i = 0, k = 1; i < n; i++)
        if (i != base) order[k++] = i;
    doc d = {t, m, n, base, order};
    const char *title = in->title ? in->title : "qwick report";

    qw_text_put(t, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>");
    qw_text_escape(t, title);
    qw_text_printf(t, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", g_css);
    qw_text_escape(t, title);
    qw_text_put(t, "</h1>\n<p class=\"meta\">");
    qw_text_printf(t, "%d model%s side by side; baseline <b>", n, n == 1 ? "" : "s");
    qw_text_escape(t, m[base].name);
    qw_text_put(t, "</b>");
    if (in->generated) {
        qw_text_put(t, "; ");
        qw_text_escape(t, in->generated);
    }
    qw_text_put(t, "</p>\n<table>\n<thead><tr><th class=\"label\"></th>");
    for (int k = 0; k < n; k++) {
        qw_text_put(t, order[k] == base ? "<th class=\"base\" scope=\"col\">" : "<th scope=\"col\">");
        qw_text_escape(t, m[order[k]].name);
        if (order[k] == base) qw_text_put(t, "<br/><span class=\"hint\">baseline</span>");
        qw_text_put(t, "</th>");
    }
    qw_text_put(t, "</tr></thead>\n<tbody>\n");
    rows_model(&d);
    rows_accuracy(&d);
    rows_tasks(&d);
    rows_speed(&d);
    qw_text_put(t, "</tbody>\n</table>\n");
    charts(&d);
    paired_runs(in, &d, t);
    sources(in, &d, t);
    qw_text_put(t, "<p class=\"meta\">Written by qwick report. Self-contained: no script, nothing fetched.</p>\n"
                   "</body>\n</html>\n");
    free(order);
    free(m);
    return qw_text_status(t);
}
