// tests/test_report: the report layer without a model: HTML escaping, stats, bench JSON round trip and
// refusals, eval JSON reading and refusals, model matching and baseline choice, and the report itself
// (every model's rows, escaped paths, well-formed markup with inline SVG, nothing fetched).
#include "report/report.h"
#include "test.h"

#include <math.h>

// ---------------------------------------------------------------------------------------------------
// a small well-formedness check: tags nest and close, attribute values are quoted, entities are known

static int well_formed(const char *s, char *why, size_t n) {
    const char *stack[256];
    size_t len[256];
    int depth = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '&') {
            const char *ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#"};
            int ok = 0;
            for (int i = 0; i < 5; i++) ok |= strncmp(p, ents[i], strlen(ents[i])) == 0;
            if (!ok) return snprintf(why, n, "bad entity at %.20s", p), 0;
            continue;
        }
        if (*p == '>') return snprintf(why, n, "stray '>' at %.20s", p > s + 10 ? p - 10 : p), 0;
        if (*p != '<') continue;
        if (p[1] == '!') { // doctype or comment
            p = strchr(p, '>');
            if (!p) return snprintf(why, n, "unterminated <!"), 0;
            continue;
        }
        int closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t nl = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789");
        if (!nl) return snprintf(why, n, "bad tag at %.20s", p), 0;
        const char *q = name + nl;
        char quote = 0;
        for (; *q && (quote || *q != '>'); q++) {
            if (quote && *q == quote)
                quote = 0;
            else if (!quote && (*q == '"' || *q == '\''))
                quote = *q;
            else if (!quote && *q == '=' && q[1] != '"' && q[1] != '\'')
                return snprintf(why, n, "unquoted attribute at %.20s", q), 0;
            else if (!quote && *q == '<')
                return snprintf(why, n, "'<' inside a tag at %.20s", q), 0;
        }
        if (!*q) return snprintf(why, n, "unterminated tag %.20s", p), 0;
        if (closing) {
            if (!depth || len[depth - 1] != nl || strncmp(stack[depth - 1], name, nl) != 0)
                return snprintf(why, n, "</%.*s> does not close <%.*s>", (int)nl, name,
                                depth ? (int)len[depth - 1] : 0, depth ? stack[depth - 1] : ""),
                       0;
            depth--;
        } else if (q[-1] != '/') {
            if (depth == 256) return snprintf(why, n, "too deep"), 0;
            stack[depth] = name;
            len[depth++] = nl;
        }
        p = q;
    }
    if (depth) return snprintf(why, n, "<%.*s> never closed", (int)len[depth - 1], stack[depth - 1]), 0;
    return 1;
}

static int count(const char *s, const char *needle) {
    int c = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) c++;
    return c;
}

// ---------------------------------------------------------------------------------------------------

static void test_text_stats(void) {
    char why[200];
    // the checker itself refuses what it should
    CHECK(!well_formed("<a><b></a></b>", why, sizeof why));
    CHECK(!well_formed("<a x=1></a>", why, sizeof why));
    CHECK(!well_formed("<a>&nbsp;</a>", why, sizeof why));
    CHECK(!well_formed("<a>", why, sizeof why));
    CHECK(!well_formed("<a>1 > 0</a>", why, sizeof why));
    CHECK(well_formed("<!DOCTYPE html><a x=\"1>\"><b/>&amp;&#215;</a>", why, sizeof why));
    qw_text t;
    qw_text_init(&t);
    qw_text_escape(&t, "a<b> & \"c\" 'd'\x01");
    CHECKF(strcmp(t.p, "a&lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;?") == 0, "%s", t.p);
    for (int i = 0; i < 10000; i++) qw_text_printf(&t, "%d,", i);
    CHECK(qw_text_status(&t) == QW_OK);
    CHECK(strstr(t.p, ",9999,") != NULL);
    qw_text_free(&t);

    double v[] = {3, NAN, 1, 2, 10};
    qw_stat s = qw_stat_of(v, 5);
    CHECK(s.med == 2.5 && s.min == 1 && s.max == 10);
    s = qw_stat_of(v, 3); // 3, NaN, 1
    CHECK(s.med == 2 && s.min == 1 && s.max == 3);
    double none[] = {NAN};
    CHECK(isnan(qw_stat_of(none, 1).med));
    double a[] = {2, 4, 9, NAN}, b[] = {1, 1, 3, 5};
    CHECK(qw_stat_paired_ratio(a, b, 4) == 3); // ratios 2, 4, 3 -> median 3
}

static void fill_result(qw_bench_result *r, const char *engine, const char *model, double scale) {
    memset(r, 0, sizeof *r);
    snprintf(r->engine, sizeof r->engine, "%s", engine);
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->dtype, sizeof r->dtype, "bf16");
    snprintf(r->cpu, sizeof r->cpu, "Test CPU");
    snprintf(r->isa, sizeof r->isa, "avx512");
    r->model_bytes = 1e9;
    r->n_params = 5e8;
    r->bpw = 16;
    r->step_bytes = 9e8;
    r->bandwidth_gb_s = 20;
    r->foreign_cpu_load = NAN;
    (void)scale;
}

static void test_bench_summary_json(void) {
    qw_bench_plan p = {.n_prompt = 2, .prompt_len = {16, 64}, .n_batch = 2, .batch = {1, 4}, .n_gen = 8,
                       .decode_ctx = 4, .chunk = 64, .threads = 2, .reps = 3};
    qw_bench_samples *sa = malloc(sizeof *sa), *sb = malloc(sizeof *sb);
    qw_bench_samples_clear(sa);
    qw_bench_samples_clear(sb);
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < 2; i++) {
            sa->prefill_tok_s[i][r] = 100 + 10 * r + i;
            sa->ttft_s[i][r] = 0.5 + 0.1 * r;
            sb->prefill_tok_s[i][r] = (100 + 10 * r + i) / 2.0;
            sb->ttft_s[i][r] = 1.0 + 0.2 * r;
            sa->decode_tok_s[i][r] = 10.0 * (i * 3 + 1) + r;
            sa->tpot_s[i][r] = 0.1 / (r + 1);
            sb->decode_tok_s[i][r] = (10.0 * (i * 3 + 1) + r) / 4;
            sb->tpot_s[i][r] = 0.4 / (r + 1);
        }
    }
    sa->peak_rss_bytes = 1.5e9;
    sb->peak_rss_bytes = 2.5e9;
    qw_bench_file *f = calloc(1, sizeof *f), *g = calloc(1, sizeof *g);
    fill_result(&f->a, "qwick", "/m/a <&>", 1);
    fill_result(&f->b, "pytorch-eager", "/m/a <&>", 1);
    qw_bench_summarise(&p, sa, &f->a);
    qw_bench_summarise(&p, sb, &f->b);
    f->has_vs = 1;
    qw_bench_file_ratios(f, &p, sa, sb);
    CHECK(f->a.prefill[0].tok_s.med == 110 && f->a.prefill[0].tok_s.min == 100 && f->a.prefill[0].tok_s.max == 120);
    CHECK(f->a.decode[1].batch == 4 && f->a.decode[1].tok_s.med == 41);
    CHECK_NEAR(f->a.decode_gb_s, 9e8 / 0.05 / 1e9, 1e-9); // tpot median 0.1/2 at batch 1
    CHECK_NEAR(f->a.bandwidth_fraction, 18.0 / 20, 1e-12);
    CHECK_NEAR(f->prefill_ratio[0], 2, 1e-12);
    CHECK_NEAR(f->decode_ratio[1], 4, 1e-12);
    CHECK_NEAR(f->tpot_ratio[0], 0.25, 1e-12);
    CHECK(f->a.peak_rss_bytes == 1.5e9);

    char *txt = NULL;
    CHECK(qw_bench_json_write(f, &txt) == QW_OK);
    CHECK(txt && strstr(txt, "\"ratios\"") && strstr(txt, "\"decode_tok_s\"") && strstr(txt, "\"bandwidth_fraction\""));
    qw_status s = qw_bench_json_parse(txt, strlen(txt), "mem.json", g);
    CHECKF(s == QW_OK, "%s", qw_error_message());
    CHECK(g->has_vs && strcmp(g->a.model, "/m/a <&>") == 0 && strcmp(g->b.engine, "pytorch-eager") == 0);
    CHECK(g->a.n_prefill == 2 && g->a.prefill[1].prompt_len == 64 && g->a.n_decode == 2);
    CHECK_NEAR(g->a.prefill[1].tok_s.med, f->a.prefill[1].tok_s.med, 1e-3);
    CHECK_NEAR(g->a.decode[0].tpot_s.min, f->a.decode[0].tpot_s.min, 1e-7);
    CHECK_NEAR(g->decode_ratio[1], 4, 1e-9);
    CHECK(g->a.threads == 2 && g->a.reps == 3 && g->b.peak_rss_bytes == 2.5e9);
    free(txt);
    free(sa), free(sb), free(f), free(g);
}

// parse text as a bench file; expect failure with every needle in the message
static void expect_bench_error(const char *text, const char *needle) {
    qw_bench_file *f = malloc(sizeof *f);
    qw_status s = qw_bench_json_parse(text, strlen(text), "bad-bench.json", f);
    CHECKF(s != QW_OK, "accepted: %s", text);
    CHECKF(strstr(qw_error_message(), "bad-bench.json") && strstr(qw_error_message(), needle), "%s (want '%s')",
           qw_error_message(), needle);
    free(f);
}

static void expect_eval_error(const char *text, const char *needle) {
    qw_eval_result e;
    qw_status s = qw_eval_json_parse(text, strlen(text), "bad-eval.json", &e);
    CHECKF(s != QW_OK, "accepted: %s", text);
    CHECKF(strstr(qw_error_message(), "bad-eval.json") && strstr(qw_error_message(), needle), "%s (want '%s')",
           qw_error_message(), needle);
}

static void test_refusals(void) {
    const char *ok_row = "\"prefill\":[{\"prompt_len\":8,\"tok_s\":1}]";
    char buf[512];
    expect_bench_error("{\"engine\": \"qwick\",", "not valid JSON");
    expect_bench_error("[1, 2]", "one JSON object");
    expect_bench_error("{\"model\":\"m\",\"ppl\":{\"ppl\":3}}", "--eval");
    expect_bench_error("{\"engine\":\"qwick\",\"model\":\"m\"}", "not a qwick bench result");
    snprintf(buf, sizeof buf, "{\"engine\":\"qwick\",%s}", ok_row);
    expect_bench_error(buf, "\"model\"");
    expect_bench_error("{\"engine\":\"qwick\",\"model\":\"m\",\"prefill\":[{\"prompt_len\":8.5,\"tok_s\":1}]}",
                       "prompt_len");
    expect_bench_error("{\"engine\":\"qwick\",\"model\":\"m\",\"prefill\":[{\"prompt_len\":8,\"tok_s\":\"fast\"}]}",
                       "tok_s");
    expect_bench_error("{\"engine\":\"qwick\",\"model\":\"m\",\"decode\":[{\"batch\":1,\"tok_s\":-3}]}", "negative");
    expect_bench_error("{\"engine\":\"qwick\",\"model\":\"m\",\"decode\":{}}", "array");
    snprintf(buf, sizeof buf, "{\"engine\":\"qwick\",\"model\":\"m\",%s,\"vs\":{\"engine\":\"x\",%s}}", ok_row, ok_row);
    expect_bench_error(buf, "vs: ");
    snprintf(buf, sizeof buf, "{\"engine\":\"qwick\",\"model\":\"m\",%s,\"threads\":\"two\"}", ok_row);
    expect_bench_error(buf, "threads");
    char many[2048] = "{\"engine\":\"q\",\"model\":\"m\",\"decode\":[";
    for (int i = 0; i < QW_BENCH_MAX_ROWS + 1; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s{\"batch\":%d,\"tok_s\":1}", i ? "," : "", i + 1);
    strcat(many, "]}");
    expect_bench_error(many, "rows");

    expect_eval_error("{\"model\": ", "not valid JSON");
    expect_eval_error("{\"engine\":\"qwick\",\"model\":\"m\",\"decode\":[]}", "--bench");
    expect_eval_error("{\"model\":\"m\"}", "not a qwick eval result");
    expect_eval_error("{\"ppl\":{\"ppl\":3}}", "\"model\"");
    expect_eval_error("{\"model\":\"m\",\"ppl\":{\"ppl\":\"low\"}}", "ppl");
    expect_eval_error("{\"model\":\"m\",\"ref\":{\"top1_ci\":[0.9]}}", "top1_ci");
    expect_eval_error("{\"model\":\"m\",\"ref\":{\"top1_ci\":[0.9, 0.8]}}", "top1_ci");
    expect_eval_error("{\"model\":\"m\",\"tasks\":[{\"file\":\"t\",\"acc\":1.5}]}", "tasks[0]");
    expect_eval_error("{\"model\":\"m\",\"tasks\":[{\"file\":\"t\"}]}", "acc");
    expect_eval_error("{\"model\":\"m\",\"tasks\":[{\"file\":\"t\",\"acc\":0.5,\"paired\":[]}]}", "paired");
    expect_eval_error("{\"model\":\"m\",\"tasks\":{}}", "tasks");

    qw_bench_file *f = malloc(sizeof *f);
    CHECK(qw_bench_json_read("tests/data/report/no-such-file.json", f) != QW_OK);
    CHECK(strstr(qw_error_message(), "no-such-file.json") != NULL);
    free(f);
}

#define D "tests/data/report/"

static void test_eval_read(void) {
    qw_eval_result e;
    qw_status s = qw_eval_json_read(D "eval_q4.json", &e);
    CHECKF(s == QW_OK, "%s", qw_error_message());
    if (s != QW_OK) return;
    CHECK(strcmp(e.model, "/models/qwen2.5-3b-ft-q4") == 0 && e.bpw == 5);
    CHECK(e.has_ppl && e.ppl == 10.41 && e.has_ref && e.top1_lo == 0.909 && e.kld_max == 4.2);
    CHECK(e.n_tasks == 2 && strcmp(e.tasks[1].kind, "generative") == 0 && e.tasks[0].has_paired);
    CHECK(e.tasks[0].p_value == 0.0021 && e.tasks[0].diff_lo == -0.058 && isnan(e.tasks[0].acc_norm));
    CHECK(strcmp(e.ref_source, "/models/qwen2.5-3b-ft") == 0);
    qw_eval_result_free(&e);
}

typedef struct {
    qw_eval_result ev[3];
    qw_bench_file *bf;
} inputs;

static int load_inputs(inputs *in) {
    const char *ev[] = {D "eval_base.json", D "eval_q8.json", D "eval_q4.json"};
    in->bf = calloc(2, sizeof *in->bf);
    int ok = 1;
    for (int i = 0; i < 3; i++) ok &= qw_eval_json_read(ev[i], &in->ev[i]) == QW_OK;
    ok &= qw_bench_json_read(D "bench_base_vs_torch.json", &in->bf[0]) == QW_OK;
    ok &= qw_bench_json_read(D "bench_q8_vs_q4.json", &in->bf[1]) == QW_OK;
    CHECKF(ok, "%s", qw_error_message());
    return ok;
}

static void free_inputs(inputs *in) {
    for (int i = 0; i < 3; i++) qw_eval_result_free(&in->ev[i]);
    free(in->bf);
}

static void test_models(void) {
    inputs in;
    if (!load_inputs(&in)) return;
    qw_report_inputs ri = {in.ev, 3, in.bf, 2, NULL, NULL, NULL};
    qw_report_model *m;
    int n, base;
    CHECK(qw_report_models(&ri, &m, &n, &base) == QW_OK);
    CHECKF(n == 4, "%d models", n); // 3 evaluated qwick models + the PyTorch peer on the original
    CHECK(strcmp(m[base].name, "qwen2.5-3b-ft") == 0); // the evals' reference
    int matched = 0, torch = 0;
    for (int i = 0; i < n; i++) {
        matched += m[i].eval && m[i].bench;
        torch += strcmp(m[i].engine, "pytorch-eager") == 0 && !m[i].eval && m[i].bench;
    }
    CHECK(matched == 3 && torch == 1);
    free(m);
    ri.baseline = "qwen2.5-3b-ft-q4";
    CHECK(qw_report_models(&ri, &m, &n, &base) == QW_OK && strcmp(m[base].name, "qwen2.5-3b-ft-q4") == 0);
    free(m);
    ri.baseline = "/models/qwen2.5-3b-ft-q8 <&\"'>";
    CHECK(qw_report_models(&ri, &m, &n, &base) == QW_OK && strstr(m[base].name, "q8") != NULL);
    free(m);
    ri.baseline = "nope";
    CHECK(qw_report_models(&ri, &m, &n, &base) == QW_ERR_ARG && strstr(qw_error_message(), "nope"));
    // a model evaluated twice is refused, naming both files
    qw_eval_result two[2] = {in.ev[1], in.ev[1]};
    qw_report_inputs dup = {two, 2, NULL, 0, NULL, NULL, NULL};
    CHECK(qw_report_models(&dup, &m, &n, &base) == QW_ERR_ARG && strstr(qw_error_message(), "eval_q8.json"));
    qw_report_inputs none = {NULL, 0, NULL, 0, NULL, NULL, NULL};
    CHECK(qw_report_models(&none, &m, &n, &base) == QW_ERR_ARG);
    free_inputs(&in);
}

static void test_html(void) {
    inputs in;
    if (!load_inputs(&in)) return;
    qw_report_inputs ri = {in.ev, 3, in.bf, 2, NULL, "Team <report>", "written today"};
    qw_text t;
    qw_text_init(&t);
    qw_status s = qw_report_html(&ri, &t);
    CHECKF(s == QW_OK, "%s", qw_error_message());
    if (s != QW_OK) return;
    const char *h = t.p;
    char why[200] = "";
    CHECKF(well_formed(h, why, sizeof why), "%s", why);
    CHECK(strncmp(h, "<!DOCTYPE html>", 15) == 0 && strstr(h, "<meta charset=\"utf-8\"/>"));
    CHECK(strstr(h, "<title>Team &lt;report&gt;</title>") != NULL);
    // the awkward path only ever appears escaped
    CHECK(strstr(h, "q8 &lt;&amp;&quot;&#39;&gt;") != NULL);
    CHECK(strstr(h, "q8 <&") == NULL);
    // every model has a column, and the baseline comes first
    const char *cols[] = {"qwen2.5-3b-ft<br/>", "qwen2.5-3b-ft-q8 &lt;", "qwen2.5-3b-ft-q4</th>",
                          "qwen2.5-3b-ft (pytorch-eager)</th>"};
    for (int i = 0; i < 4; i++) CHECKF(strstr(h, cols[i]) != NULL, "column %s", cols[i]);
    CHECK(strstr(h, cols[0]) < strstr(h, cols[1]));
    const char *rows[] = {"Size", "Bits per weight", "Parameters", "Perplexity", "KL divergence, mean",
                          "KL divergence, 99th percentile", "KL divergence, max", "Top-1 agreement",
                          "support-intents.jsonl", "extract-fields.jsonl", "Change vs the original",
                          "Prefill, 128-token prompt", "Prefill, 512-token prompt", "Decode, one sequence",
                          "Decode, 4 sequences together", "Time per output token, batch 2", "Peak resident memory",
                          "Time to first token, 512-token prompt"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) CHECKF(strstr(h, rows[i]) != NULL, "row %s", rows[i]);
    // values: q4's size, top-1 interval, paired p-value, q8's decode speed-up over the baseline (4.8 / 2.61)
    CHECK(strstr(h, ">1.93<") != NULL);
    CHECK(strstr(h, "[90.9, 91.5]") != NULL);
    CHECK(strstr(h, "p = 0.002") != NULL);
    CHECK(strstr(h, "&#215;1.84") != NULL);
    CHECK(strstr(h, "9.812") != NULL && strstr(h, "74.2%") != NULL);
    // charts: two task scatters, top-1 scatter, decode-vs-batch and prefill-vs-length, all inline
    CHECKF(count(h, "<svg ") == 5 && count(h, "</svg>") == 5, "%d svg", count(h, "<svg "));
    CHECK(strstr(h, "Decode speed vs batch size") && strstr(h, "Top-1 agreement with the original vs speed"));
    CHECK(strstr(h, "Same-run comparisons") != NULL);
    // self-contained: nothing fetched, no script
    CHECK(strstr(h, "<script") == NULL && strstr(h, "https://") == NULL && strstr(h, "src=") == NULL);
    CHECK(count(h, "http://") == count(h, "xmlns=\"http://www.w3.org/2000/svg\""));
    qw_text_free(&t);

    // only bench inputs: no accuracy sections, speed still there
    qw_report_inputs rb = {NULL, 0, in.bf, 1, NULL, NULL, NULL};
    qw_text_init(&t);
    CHECK(qw_report_html(&rb, &t) == QW_OK);
    CHECK(strstr(t.p, "Top-1 agreement") == NULL && strstr(t.p, "Decode, one sequence") != NULL);
    CHECKF(well_formed(t.p, why, sizeof why), "%s", why);
    qw_text_free(&t);
    // only evals: no speed rows, no charts that need speed
    qw_report_inputs re = {in.ev, 3, NULL, 0, NULL, NULL, NULL};
    qw_text_init(&t);
    CHECK(qw_report_html(&re, &t) == QW_OK);
    CHECK(strstr(t.p, "Prefill,") == NULL && count(t.p, "<svg ") == 0 && strstr(t.p, "KL divergence"));
    CHECKF(well_formed(t.p, why, sizeof why), "%s", why);
    qw_text_free(&t);
    free_inputs(&in);
}

static void test_svg(void) {
    double x[] = {1, 2, 4, 8}, y[] = {2, 3.5, NAN, 9}, lo[] = {1.9, 3, 0, 8}, hi[] = {2.1, 4, 0, 10};
    const char *labels[] = {"a<b", NULL, NULL, "d"};
    qw_svg_series s[2] = {{"first & best", 4, x, y, NULL, NULL, lo, hi, labels, 1, 0},
                          {"second", 2, x, y, lo, hi, NULL, NULL, NULL, 0, 3}};
    qw_svg_chart c = {"Title \"q\"", "x", "y", 400, 300, 1, 1, 1, 0};
    qw_text t;
    qw_text_init(&t);
    qw_svg_chart_write(&t, &c, s, 2);
    char why[200] = "";
    CHECKF(well_formed(t.p, why, sizeof why), "%s", why);
    CHECK(strstr(t.p, "first &amp; best") && strstr(t.p, "a&lt;b") && strstr(t.p, "Title &quot;q&quot;"));
    CHECK(count(t.p, "<circle") == 3 + 2); // the NaN point is skipped
    CHECK(strstr(t.p, ">8</text>") != NULL); // log axis ticks at the data's x values
    qw_text_free(&t);
    // no data at all still draws a well-formed, labelled frame
    qw_text_init(&t);
    qw_svg_chart_write(&t, &c, NULL, 0);
    CHECK(strstr(t.p, "no data") != NULL && well_formed(t.p, why, sizeof why));
    qw_text_free(&t);
}

int main(void) {
    test_text_stats();
    test_bench_summary_json();
    test_refusals();
    test_eval_read();
    test_models();
    test_html();
    test_svg();
    TEST_DONE();
}
