// io/json_write: the small JSON text builder behind the safetensors header, the shard index and the
// config writers. Numbers come out as Python writes them so the files read like transformers' own.
#include "io_internal.h"

#include <errno.h>
#include <sys/stat.h>

static int jbuf_reserve(qw_jbuf *b, size_t extra) {
    if (b->oom) return 0;
    size_t need;
    if (!qw_add_size(b->len, extra + 1, &need)) {
        b->oom = 1;
        return 0;
    }
    if (need <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (!qw_mul_size(cap, 2, &cap)) {
            b->oom = 1;
            return 0;
        }
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

void qw_jbuf_append(qw_jbuf *b, const char *s, size_t n) {
    if (!jbuf_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void qw_jbuf_printf(qw_jbuf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        qw_jbuf_append(b, small, (size_t)n);
        return;
    }
    if (!jbuf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void qw_jbuf_str(qw_jbuf *b, const char *s) {
    qw_jbuf_append(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
        qw_jbuf_append(b, run, (size_t)(p - run));
        if (ch == '"')
            qw_jbuf_append(b, "\\\"", 2);
        else if (ch == '\\')
            qw_jbuf_append(b, "\\\\", 2);
        else if (ch == '\n')
            qw_jbuf_append(b, "\\n", 2);
        else if (ch == '\t')
            qw_jbuf_append(b, "\\t", 2);
        else
            qw_jbuf_printf(b, "\\u%04x", ch);
        run = p + 1;
    }
    qw_jbuf_append(b, run, strlen(run));
    qw_jbuf_append(b, "\"", 1);
}

void qw_jbuf_num(qw_jbuf *b, double v, int single) {
    char s[64];
    if (v != v || v - v != 0) { // NaN or infinity: not JSON; the caller's validation refuses it
        qw_jbuf_append(b, "NaN", 3);
        return;
    }
    // fewest significant digits that read back exactly
    int p = 1;
    for (; p < 17; p++) {
        snprintf(s, sizeof s, "%.*e", p - 1, v);
        if (single ? strtof(s, NULL) == (float)v : strtod(s, NULL) == v) break;
    }
    snprintf(s, sizeof s, "%.*e", p - 1, v);
    int x = atoi(strchr(s, 'e') + 1);
    // Python's repr: positional notation for exponents in [-4, 16), always with a decimal point
    if (x >= -4 && x < 16) {
        int decimals = p - 1 - x > 0 ? p - 1 - x : 0;
        snprintf(s, sizeof s, "%.*f", decimals, v);
        if (!strchr(s, '.')) strcat(s, ".0");
    }
    qw_jbuf_append(b, s, strlen(s));
}

void qw_jbuf_free(qw_jbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

qw_status qw_io_make_dir(const char *dir) {
    if (qw_dir_exists(dir)) return QW_OK;
    if (mkdir(dir, 0777) != 0 && !(errno == EEXIST && qw_dir_exists(dir)))
        return qw_error(QW_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    return QW_OK;
}
