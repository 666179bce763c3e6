// base/file: read-only mappings, bounded whole-file reads, and atomic (temp + rename) writes.
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

qw_status qw_mmap_open(qw_mmap *m, const char *path) {
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return qw_error(QW_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return qw_error(QW_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return qw_error(QW_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        }
        m->data = p;
        m->size = (size_t)st.st_size;
    }
    close(fd);
    return QW_OK;
}

void qw_mmap_close(qw_mmap *m) {
    if (m->data) munmap(m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

qw_status qw_file_read_all(const char *path, size_t max_size, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return qw_error(QW_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = max_size < 4096 ? max_size : 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max_size) {
                if (fgetc(f) == EOF) break; // exactly max_size bytes: accepted
                free(buf);
                fclose(f);
                return qw_error(QW_ERR_FORMAT, "%s: larger than the %zu bytes accepted", path, max_size);
            }
            cap = cap * 2 > max_size ? max_size : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return qw_error(QW_ERR_IO, "%s: read error", path);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return QW_OK;
}

int qw_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int qw_dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *qw_path_join(char *buf, size_t n, const char *dir, const char *name) {
    size_t dl = strlen(dir);
    int need_slash = dl > 0 && dir[dl - 1] != '/';
    int w = snprintf(buf, n, "%s%s%s", dir, need_slash ? "/" : "", name);
    QW_ASSERT(w >= 0 && (size_t)w < n);
    return buf;
}

qw_status qw_atomic_open(qw_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->path = qw_strdup(path);
    af->tmp = malloc(n);
    if (!af->path || !af->tmp) {
        free(af->path);
        free(af->tmp);
        return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(af->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    af->cleanup = qw_cleanup_add(af->tmp, 0); // before the file exists: an interrupt never misses it
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        qw_status s = qw_error(QW_ERR_IO, "%s: cannot create: %s", af->tmp, strerror(errno));
        qw_cleanup_remove(af->cleanup);
        free(af->path);
        free(af->tmp);
        return s;
    }
    return QW_OK;
}

qw_status qw_atomic_write(qw_atomic_file *af, const void *data, size_t n) {
    if (n && fwrite(data, 1, n, af->f) != n)
        return qw_error(QW_ERR_IO, "%s: write failed: %s", af->tmp, strerror(errno));
    return QW_OK;
}

qw_status qw_atomic_commit(qw_atomic_file *af) {
    qw_status s = QW_OK;
    if (fflush(af->f) != 0 || fsync(fileno(af->f)) != 0)
        s = qw_error(QW_ERR_IO, "%s: write failed: %s", af->tmp, strerror(errno));
    if (fclose(af->f) != 0 && s == QW_OK) s = qw_error(QW_ERR_IO, "%s: close failed", af->tmp);
    if (s == QW_OK && rename(af->tmp, af->path) != 0)
        s = qw_error(QW_ERR_IO, "%s: cannot rename to %s: %s", af->tmp, af->path, strerror(errno));
    if (s != QW_OK) unlink(af->tmp);
    qw_cleanup_remove(af->cleanup);
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
    return s;
}

void qw_atomic_abort(qw_atomic_file *af) {
    if (af->f) fclose(af->f);
    if (af->tmp) unlink(af->tmp);
    if (af->tmp) qw_cleanup_remove(af->cleanup);
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
}

qw_status qw_write_file_atomic(const char *path, const void *data, size_t n) {
    qw_atomic_file af;
    QW_TRY(qw_atomic_open(&af, path));
    qw_status s = qw_atomic_write(&af, data, n);
    if (s != QW_OK) {
        qw_atomic_abort(&af);
        return s;
    }
    return qw_atomic_commit(&af);
}

qw_status qw_file_copy(const char *from, const char *to) {
    char *buf;
    size_t len;
    QW_TRY(qw_file_read_all(from, (size_t)1 << 28, &buf, &len));
    qw_status s = qw_write_file_atomic(to, buf, len);
    free(buf);
    return s;
}
