// cli/cmd_report: `qwick report --eval E.json --bench B.json ... -o report.html`: reads the results of
// qwick eval and qwick bench and writes the self-contained HTML report that compares the models.
#include "cli.h"

#include "report/report.h"

#include <time.h>

#define MAX_INPUTS 64

// --eval and --bench may be given many times; the shared parser keeps one value per option, so they are
// taken out of argv here first (the table still lists them for --help and spelling checks).
static int take_repeated(int *argc, char **argv, const char *name, const char **out, int *n) {
    size_t nl = strlen(name);
    int w = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) { // everything after is positional: keep it as it is
            while (i < *argc) argv[w++] = argv[i++];
            break;
        }
        const char *v = NULL;
        if (strncmp(a, name, nl) == 0 && a[nl] == '=')
            v = a + nl + 1;
        else if (strcmp(a, name) == 0) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "qwick: option %s needs a value\n", name);
                return 0;
            }
            v = argv[++i];
        }
        if (!v) {
            argv[w++] = argv[i];
            continue;
        }
        if (*n >= MAX_INPUTS) {
            fprintf(stderr, "qwick: at most %d %s files\n", MAX_INPUTS, name);
            return 0;
        }
        out[(*n)++] = v;
    }
    *argc = w;
    return 1;
}

int qw_cmd_report(int argc, char **argv) {
    const char *eval_files[MAX_INPUTS], *bench_files[MAX_INPUTS];
    int n_eval = 0, n_bench = 0;
    const char *out = NULL, *baseline = NULL, *title = NULL, *unused = NULL;
    const qw_opt opts[] = {
        {"--eval", NULL, QW_OPT_STR, &unused, "a `qwick eval --json` result (repeat for each model)"},
        {"--bench", NULL, QW_OPT_STR, &unused, "a `qwick bench --json` result (repeat; --vs runs give two models)"},
        {"--output", "-o", QW_OPT_STR, &out, "the HTML file to write (required)"},
        {"--baseline", NULL, QW_OPT_STR, &baseline, "model that speed-ups are measured from, by name or path "
                                                    "(default: the evals' reference, else the first model)"},
        {"--title", NULL, QW_OPT_STR, &title, "heading of the report (default: qwick report)"},
    };
    qw_cmd_spec spec = {"qwick report --eval E.json ... --bench B.json ... -o report.html [options]",
                        "Writes one self-contained HTML file (inline SVG charts, no script, nothing fetched) that "
                        "puts models side by side: size, bits per weight, perplexity, KL divergence and top-1 "
                        "agreement against the original, task accuracy with confidence intervals and paired "
                        "p-values, speed and speed-up over the baseline, an accuracy-vs-speed chart and the "
                        "speed-vs-batch chart. Eval and bench results are matched by model folder.",
                        opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    if (!take_repeated(&argc, argv, "--eval", eval_files, &n_eval) ||
        !take_repeated(&argc, argv, "--bench", bench_files, &n_bench))
        return 2;
    const char *pos[1];
    int n_pos, rc = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc) return rc == 1 ? 0 : 2;
    if (!out) {
        fprintf(stderr, "qwick: report needs -o FILE.html\nusage: %s\n", spec.usage);
        return 2;
    }
    if (!n_eval && !n_bench) {
        fprintf(stderr, "qwick: report needs at least one --eval or --bench file\nusage: %s\n", spec.usage);
        return 2;
    }
    qw_eval_result *evals = calloc((size_t)(n_eval ? n_eval : 1), sizeof *evals);
    qw_bench_file *benches = calloc((size_t)(n_bench ? n_bench : 1), sizeof *benches);
    qw_status s = evals && benches ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
    int n_read = 0;
    for (; n_read < n_eval && s == QW_OK; n_read++) {
        s = qw_eval_json_read(eval_files[n_read], &evals[n_read]);
        if (s != QW_OK) break;
    }
    for (int i = 0; i < n_bench && s == QW_OK; i++) s = qw_bench_json_read(bench_files[i], &benches[i]);
    qw_text html;
    qw_text_init(&html);
    if (s == QW_OK) {
        char when[96];
        time_t now = time(NULL);
        struct tm tm;
        strftime(when, sizeof when, "written %Y-%m-%d %H:%M %Z", localtime_r(&now, &tm));
        qw_report_inputs in = {evals, n_eval, benches, n_bench, baseline, title, when};
        s = qw_report_html(&in, &html);
    }
    if (s == QW_OK) s = qw_write_file_atomic(out, html.p, html.len);
    if (s == QW_OK) fprintf(stderr, "qwick report: wrote %s (%zu bytes)\n", out, html.len);
    qw_text_free(&html);
    for (int i = 0; i < n_read; i++) qw_eval_result_free(&evals[i]);
    free(evals);
    free(benches);
    return s == QW_OK ? 0 : qw_cli_fail(s);
}
