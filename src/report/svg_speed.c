// report/svg_speed: the two speed charts of a set of bench results (decode tok/s against batch size,
// prefill tok/s against prompt length), inline in the report or as a standalone file from qwick bench.
#include "report.h"

typedef struct {
    double x[QW_BENCH_MAX_ROWS], y[QW_BENCH_MAX_ROWS], lo[QW_BENCH_MAX_ROWS], hi[QW_BENCH_MAX_ROWS];
} cols;

void qw_svg_speed_charts(qw_text *t, const qw_bench_result *const *r, const char *const *names, int n,
                         int width, int height) {
    cols *c = calloc((size_t)(n ? n : 1), sizeof *c);
    qw_svg_series *s = calloc((size_t)(n ? n : 1), sizeof *s);
    if (!c || !s) {
        free(c), free(s);
        t->oom = 1;
        return;
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < r[i]->n_decode; j++) {
            c[i].x[j] = r[i]->decode[j].batch;
            c[i].y[j] = r[i]->decode[j].tok_s.med;
            c[i].lo[j] = r[i]->decode[j].tok_s.min;
            c[i].hi[j] = r[i]->decode[j].tok_s.max;
        }
        s[i] = (qw_svg_series){names[i], r[i]->n_decode, c[i].x, c[i].y, NULL, NULL, c[i].lo, c[i].hi, NULL, 1, 0};
    }
    qw_svg_chart dc = {"Decode speed vs batch size", "sequences decoding together (batch size)",
                       "tokens/s, all sequences", width, height, 1, 1, 1, 0};
    qw_svg_chart_write(t, &dc, s, n);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < r[i]->n_prefill; j++) {
            c[i].x[j] = r[i]->prefill[j].prompt_len;
            c[i].y[j] = r[i]->prefill[j].tok_s.med;
            c[i].lo[j] = r[i]->prefill[j].tok_s.min;
            c[i].hi[j] = r[i]->prefill[j].tok_s.max;
        }
        s[i].n = r[i]->n_prefill;
    }
    qw_svg_chart pc = {"Prefill speed vs prompt length", "prompt length (tokens)", "prompt tokens/s",
                       width, height, 1, 1, 1, 0};
    qw_svg_chart_write(t, &pc, s, n);
    free(c);
    free(s);
}

qw_status qw_svg_speed_file(const char *path, const qw_bench_result *const *r, const char *const *names,
                            int n) {
    const int w = 560, h = 380 + 16 * n;
    qw_text charts, t;
    qw_text_init(&charts);
    qw_text_init(&t);
    qw_svg_speed_charts(&charts, r, names, n, w, h);
    // the two chart elements side by side: nested <svg> elements placed with x
    qw_text_printf(&t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
                       "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", 2 * w, h, 2 * w, h);
    const char *second = charts.p ? strstr(charts.p + 1, "<svg ") : NULL;
    if (second) {
        qw_text_put(&t, "<svg x=\"0\" y=\"0\"");
        qw_text_putn(&t, charts.p + 4, (size_t)(second - charts.p) - 4);
        qw_text_printf(&t, "<svg x=\"%d\" y=\"0\"", w);
        qw_text_put(&t, second + 4);
    }
    qw_text_put(&t, "</svg>\n");
    qw_status s = qw_text_status(&charts);
    if (s == QW_OK) s = qw_text_status(&t);
    if (s == QW_OK) s = qw_write_file_atomic(path, t.p, t.len);
    qw_text_free(&charts);
    qw_text_free(&t);
    return s;
}
