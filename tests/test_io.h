// tests/test_io.h: helpers the io tests share: a scratch directory removed at exit, raw file
// writes for crafted inputs, and whether a Python with numpy is there to cross-check against.
#ifndef QW_TEST_IO_H
#define QW_TEST_IO_H

#include "base/base.h"
#include "io/io.h"
#include "test.h"

#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

static char g_tmpdir[256];

static inline int tio_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static inline void tio_cleanup(void) {
    if (getenv("QWICK_TEST_KEEP")) fprintf(stderr, "kept %s\n", g_tmpdir);
    else if (g_tmpdir[0]) nftw(g_tmpdir, tio_rm, 16, FTW_DEPTH | FTW_PHYS);
}

// Makes a fresh scratch directory (removed at exit) and returns it.
static inline const char *tio_tmpdir(void) {
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/qwick_test_io_XXXXXX");
    if (!mkdtemp(g_tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
    atexit(tio_cleanup);
    return g_tmpdir;
}

// g_tmpdir/name in a static rotating buffer (so a few can be live at once).
static inline const char *tio_path(const char *name) {
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 512, "%s/%s", g_tmpdir, name);
    return b;
}

static inline void tio_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static inline void tio_write_str(const char *path, const char *s) { tio_write(path, s, strlen(s)); }

// Whole file into a malloc'd buffer (NULL if unreadable).
static inline char *tio_read(const char *path, size_t *n) {
    char *buf = NULL;
    if (qw_file_read_all(path, (size_t)1 << 30, &buf, n) != QW_OK) return NULL;
    return buf;
}

static inline int tio_have_numpy(void) {
    static int have = -1;
    if (have < 0)
        have = access("/usr/bin/python3", X_OK) == 0 &&
               system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
    return have;
}

#endif
