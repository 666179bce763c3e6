// io_internal: what the io writers share and nobody else needs: a growable text buffer that writes
// JSON strings and numbers the way Python's json module would, and directory creation.
#ifndef QW_IO_INTERNAL_H
#define QW_IO_INTERNAL_H

#include "io.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "qwick's file formats are little-endian and are mapped without byte swapping"
#endif

// Out-of-memory is sticky: appends after a failed allocation do nothing and `oom` stays set, so a
// writer checks once at the end instead of after every append.
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} qw_jbuf;

void qw_jbuf_printf(qw_jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void qw_jbuf_append(qw_jbuf *b, const char *s, size_t n);
void qw_jbuf_str(qw_jbuf *b, const char *s); // a quoted, escaped JSON string
// The shortest text that reads back to exactly v, in Python's repr style ("1e-06", "1000000.0").
// single: v is a float (round trip through strtof), else a double.
void qw_jbuf_num(qw_jbuf *b, double v, int single);
void qw_jbuf_free(qw_jbuf *b);

// Creates dir (one level) unless it exists.
qw_status qw_io_make_dir(const char *dir);

#endif
