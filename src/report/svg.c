// report/svg: one chart as an <svg> element (axes with round ticks or a log2 axis at the data's x
// values, series of points with error bars, optional lines and labels) that browsers show without script.
#include "report.h"

#include <math.h>

static const char *const g_colors[] = {"#1f6fb4", "#d62728", "#2ca02c", "#ff7f0e",
                                       "#9467bd", "#8c564b", "#e377c2", "#17becf"};
#define N_COLORS (int)(sizeof g_colors / sizeof g_colors[0])

typedef struct {
    double lo, hi, step; // axis range and tick spacing (linear axes)
    int log;
    double ticks[16];
    int n_ticks;
} axis;

static double nice_step(double range) {
    double raw = range / 5, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void linear_axis(axis *a, double lo, double hi, int from_zero) {
    if (from_zero && lo > 0) lo = 0;
    if (!(hi > lo)) { // one value, or none: a window around it
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
        lo -= from_zero && lo == 0 ? 0 : pad;
        hi += pad;
    }
    a->step = nice_step(hi - lo);
    a->lo = floor(lo / a->step) * a->step;
    a->hi = ceil(hi / a->step) * a->step;
    a->n_ticks = 0;
    for (double t = a->lo; t <= a->hi + a->step * 1e-9 && a->n_ticks < 16; t += a->step) a->ticks[a->n_ticks++] = t;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

// log2 axis: ticks at the distinct x values the series hold (at most 16)
static void log_axis(axis *a, const qw_svg_series *s, int n) {
    a->log = 1;
    a->n_ticks = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < s[i].n; j++) {
            double x = s[i].x[j];
            if (!(x > 0) || isnan(s[i].y[j])) continue;
            int seen = 0;
            for (int k = 0; k < a->n_ticks; k++) seen |= a->ticks[k] == x;
            if (!seen && a->n_ticks < 16) a->ticks[a->n_ticks++] = x;
        }
    qsort(a->ticks, (size_t)a->n_ticks, sizeof(double), cmp_double);
    a->lo = a->n_ticks ? log2(a->ticks[0]) : 0;
    a->hi = a->n_ticks ? log2(a->ticks[a->n_ticks - 1]) : 1;
    // a little room either side so end points and their bars are not on the frame
    double pad = a->hi > a->lo ? 0.08 * (a->hi - a->lo) : 0.5;
    a->lo -= pad;
    a->hi += pad;
}

static double pos(const axis *a, double v, double p0, double len) {
    double t = a->log ? log2(v) : v;
    return p0 + (t - a->lo) / (a->hi - a->lo) * len;
}

static void tick_label(char *buf, size_t n, const axis *a, double v) {
    if (a->log) {
        snprintf(buf, n, "%g", v);
        return;
    }
    int dec = a->step >= 1 ? 0 : (int)ceil(-log10(a->step) - 1e-9);
    snprintf(buf, n, "%.*f", dec, fabs(v) < a->step * 1e-9 ? 0.0 : v);
}

static int ok(double v) { return isfinite(v); }

void qw_svg_chart_write(qw_text *t, const qw_svg_chart *c, const qw_svg_series *s, int n_series) {
    int W = c->width > 0 ? c->width : 560, H = c->height > 0 ? c->height : 360;
    int n_legend = c->legend ? n_series : 0;
    double L = 64, R = 20, T = 34, B = 46 + 16.0 * n_legend;
    double pw = W - L - R, ph = H - T - B;
    if (ph < 40) ph = 40;

    // ranges from the points and their bars
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int n_points = 0;
    for (int i = 0; i < n_series; i++)
        for (int j = 0; j < s[i].n; j++) {
            double x = s[i].x[j], y = s[i].y[j];
            if (!ok(x) || !ok(y) || (c->log_x && !(x > 0))) continue;
            n_points++;
            double vx[3] = {x, s[i].x_lo ? s[i].x_lo[j] : x, s[i].x_hi ? s[i].x_hi[j] : x};
            double vy[3] = {y, s[i].y_lo ? s[i].y_lo[j] : y, s[i].y_hi ? s[i].y_hi[j] : y};
            for (int k = 0; k < 3; k++) {
                if (ok(vx[k])) xlo = fmin(xlo, vx[k]), xhi = fmax(xhi, vx[k]);
                if (ok(vy[k])) ylo = fmin(ylo, vy[k]), yhi = fmax(yhi, vy[k]);
            }
        }
    axis ax = {0}, ay = {0};
    if (!n_points) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
    if (c->log_x)
        log_axis(&ax, s, n_series);
    else
        linear_axis(&ax, xlo, xhi + (xhi - xlo) * 0.04, 0);
    linear_axis(&ay, ylo, yhi + (yhi - ylo) * 0.04, c->y_zero);
    if (c->y_max > 0 && ay.hi > c->y_max && yhi <= c->y_max) { // no "102%" tick above a 100% point
        double top = c->y_max + 0.04 * (c->y_max - ay.lo);    // but room for a point at 100%
        ay.hi = ay.hi < top ? ay.hi : top;
        while (ay.n_ticks > 0 && ay.ticks[ay.n_ticks - 1] > c->y_max + ay.step * 1e-9) ay.n_ticks--;
    }

    qw_text_printf(t, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                      "font-family=\"sans-serif\" font-size=\"12\" role=\"img\" aria-label=\"", W, H, W, H);
    qw_text_escape(t, c->title ? c->title : "chart");
    qw_text_put(t, "\">\n<title>");
    qw_text_escape(t, c->title ? c->title : "chart");
    qw_text_printf(t, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);
    if (c->title) {
        qw_text_printf(t, "<text x=\"%.1f\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">",
                       W / 2.0);
        qw_text_escape(t, c->title);
        qw_text_put(t, "</text>\n");
    }
    // grid and ticks
    char lab[64];
    for (int i = 0; i < ay.n_ticks; i++) {
        double y = T + ph - pos(&ay, ay.ticks[i], 0, ph);
        tick_label(lab, sizeof lab, &ay, ay.ticks[i]);
        qw_text_printf(t, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#444\">%s</text>\n",
                       L, y, L + pw, y, L - 6, y + 4, lab);
    }
    for (int i = 0; i < ax.n_ticks; i++) {
        double x = pos(&ax, ax.ticks[i], L, pw);
        tick_label(lab, sizeof lab, &ax, ax.ticks[i]);
        qw_text_printf(t, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#444\">%s</text>\n",
                       x, T, x, T + ph, x, T + ph + 16, lab);
    }
    qw_text_printf(t, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n",
                   L, T, pw, ph);
    if (c->x_label) {
        qw_text_printf(t, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", L + pw / 2, T + ph + 34);
        qw_text_escape(t, c->x_label);
        qw_text_put(t, "</text>\n");
    }
    if (c->y_label) {
        qw_text_printf(t, "<text transform=\"translate(16,%.1f) rotate(-90)\" text-anchor=\"middle\">", T + ph / 2);
        qw_text_escape(t, c->y_label);
        qw_text_put(t, "</text>\n");
    }
    if (!n_points)
        qw_text_printf(t, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n",
                       L + pw / 2, T + ph / 2);

    for (int i = 0; i < n_series; i++) {
        const qw_svg_series *se = &s[i];
        const char *col = g_colors[(se->color > 0 ? se->color - 1 : i) % N_COLORS];
        qw_text_put(t, "<g>");
        if (se->line) {
            int started = 0;
            for (int j = 0; j < se->n; j++) {
                if (!ok(se->x[j]) || !ok(se->y[j]) || (c->log_x && !(se->x[j] > 0))) continue;
                qw_text_printf(t, "%s%.1f,%.1f", started ? " " : "<polyline fill=\"none\" stroke-width=\"2\" points=\"",
                               pos(&ax, se->x[j], L, pw), T + ph - pos(&ay, se->y[j], 0, ph));
                started = 1;
            }
            if (started) qw_text_printf(t, "\" stroke=\"%s\"/>", col);
        }
        for (int j = 0; j < se->n; j++) {
            double x = se->x[j], y = se->y[j];
            if (!ok(x) || !ok(y) || (c->log_x && !(x > 0))) continue;
            double px = pos(&ax, x, L, pw), py = T + ph - pos(&ay, y, 0, ph);
            if (se->y_lo && se->y_hi && ok(se->y_lo[j]) && ok(se->y_hi[j])) {
                double a = T + ph - pos(&ay, se->y_lo[j], 0, ph), b = T + ph - pos(&ay, se->y_hi[j], 0, ph);
                qw_text_printf(t, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\" stroke=\"%s\"/>", px, a, b,
                               px - 4, a, px + 4, px - 4, b, px + 4, col);
            }
            if (se->x_lo && se->x_hi && ok(se->x_lo[j]) && ok(se->x_hi[j]) && (!c->log_x || se->x_lo[j] > 0)) {
                double a = pos(&ax, se->x_lo[j], L, pw), b = pos(&ax, se->x_hi[j], L, pw);
                qw_text_printf(t, "<path d=\"M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fV%.1f\" stroke=\"%s\"/>", a, py, b,
                               a, py - 4, py + 4, b, py - 4, py + 4, col);
            }
            qw_text_printf(t, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>", px, py, col);
            if (se->point_labels && se->point_labels[j]) {
                // labels right of the point, or left of it in the right third so they stay inside
                int left = px > L + pw * 0.67;
                qw_text_printf(t, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"%s\" fill=\"%s\">",
                               left ? px - 7 : px + 7, py - 6, left ? "end" : "start", col);
                qw_text_escape(t, se->point_labels[j]);
                qw_text_put(t, "</text>");
            }
        }
        qw_text_put(t, "</g>\n");
    }
    for (int i = 0; i < n_legend; i++) {
        double y = T + ph + 52 + 16.0 * i;
        qw_text_printf(t, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">",
                       L, y - 10, g_colors[(s[i].color > 0 ? s[i].color - 1 : i) % N_COLORS], L + 18, y);
        qw_text_escape(t, s[i].label ? s[i].label : "");
        qw_text_put(t, "</text>\n");
    }
    qw_text_put(t, "</svg>\n");
}
