// base/progress: a terminal progress bar with rate and ETA on stderr, shared by every long step
// (eval, quantize, train); silent when stderr is not a terminal.
#include "base.h"

#include <unistd.h>

void qw_progress_init(qw_progress *p, const char *label, const char *unit, int64_t total) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
    p->total = total;
    p->t_start = qw_time_sec();
    const char *e = getenv("QWICK_PROGRESS");
    p->enabled = isatty(2) && !(e && strcmp(e, "0") == 0);
}

void qw_progress_enable(qw_progress *p, int on) { p->enabled = on; }

// Seconds as "4.2 s", "3m05s" or "2h03m": an ETA of hours needs no decimals.
static void fmt_secs(char *buf, size_t n, double s) {
    if (s < 0) s = 0;
    if (s < 100) snprintf(buf, n, "%.1f s", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

static void draw(qw_progress *p, double now) {
    enum { WIDTH = 24 };
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
    if (frac > 1) frac = 1;
    char bar[WIDTH + 1];
    int fill = (int)(frac * WIDTH);
    for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = 0;
    double el = now - p->t_start;
    char els[32], eta[32] = "?";
    fmt_secs(els, sizeof els, el);
    if (p->done > 0 && p->total > 0) fmt_secs(eta, sizeof eta, el * (double)(p->total - p->done) / (double)p->done);
    // \033[K clears what a longer previous line left on the right
    fprintf(stderr, "\r%s [%s] %3d%%  %lld/%lld %s  %s, ETA %s\033[K", p->label, bar, (int)(100 * frac),
            (long long)p->done, (long long)p->total, p->unit, els, eta);
    fflush(stderr);
    p->t_drawn = now;
    p->drawn = 1;
}

void qw_progress_update(qw_progress *p, int64_t done) {
    p->done = done;
    if (!p->enabled) return;
    double now = qw_time_sec();
    if (p->drawn && now - p->t_drawn < 0.1 && done < p->total) return;
    draw(p, now);
}

void qw_progress_add(qw_progress *p, int64_t n) { qw_progress_update(p, p->done + n); }

void qw_progress_end(qw_progress *p) {
    if (p->enabled && p->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    p->drawn = 0;
}
