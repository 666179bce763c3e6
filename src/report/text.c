// report/text: the growing text buffer the HTML, SVG and JSON writers append to, with HTML escaping.
// Out-of-memory is sticky and reported once at the end, so writers need no check after every append.
#include "report.h"

#include <stdarg.h>

void qw_text_init(qw_text *t) { memset(t, 0, sizeof *t); }

void qw_text_free(qw_text *t) {
    free(t->p);
    memset(t, 0, sizeof *t);
}

static int reserve(qw_text *t, size_t extra) {
    size_t need;
    if (t->oom || !qw_add_size(t->len, extra, &need) || !qw_add_size(need, 1, &need)) {
        t->oom = 1;
        return 0;
    }
    if (need <= t->cap) return 1;
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < need)
        if (!qw_mul_size(cap, 2, &cap)) {
            t->oom = 1;
            return 0;
        }
    char *p = realloc(t->p, cap);
    if (!p) {
        t->oom = 1;
        return 0;
    }
    t->p = p;
    t->cap = cap;
    return 1;
}

void qw_text_putn(qw_text *t, const char *s, size_t n) {
    if (!reserve(t, n)) return;
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = 0;
}

void qw_text_put(qw_text *t, const char *s) { qw_text_putn(t, s, strlen(s)); }

void qw_text_printf(qw_text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(t, (size_t)n)) {
        t->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void qw_text_escape(qw_text *t, const char *s) {
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *ent = NULL;
        switch (*p) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default:
            // control characters are not allowed in XML 1.0; a path holding one is shown with '?'
            if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\n') ent = "?";
        }
        if (!ent) continue;
        qw_text_putn(t, run, (size_t)(p - run));
        qw_text_put(t, ent);
        run = p + 1;
    }
    qw_text_put(t, run);
}

qw_status qw_text_status(const qw_text *t) {
    return t->oom ? qw_error(QW_ERR_NOMEM, "out of memory while writing text") : QW_OK;
}
