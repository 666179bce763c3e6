// base/resident: model files copied into anonymous huge-page memory, in place of their file mapping.
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

void *qw_alloc_huge(size_t n) {
    if (n == 0) return NULL;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE); // a hint: without it (or without THP) the memory is still usable
#endif
    return p;
}

void qw_free_huge(void *p, size_t n) {
    if (p) munmap(p, n);
}

typedef struct {
    int fd;
    char *dst;
    size_t size;
    int failed_errno; // first error seen by any thread, 0 if none
} copy_ctx;

static void copy_task(void *ctx, int ith, int nth) {
    copy_ctx *c = ctx;
    int64_t c0, c1; // in 2 MB chunks, so each thread faults in whole huge pages
    qw_split_rows((int64_t)((c->size + (2u << 20) - 1) >> 21), 1, ith, nth, &c0, &c1);
    size_t off = (size_t)c0 << 21, end = (size_t)c1 << 21;
    if (end > c->size) end = c->size;
    while (off < end) {
        ssize_t r = pread(c->fd, c->dst + off, end - off, (off_t)off);
        if (r <= 0) {
            __atomic_store_n(&c->failed_errno, r < 0 ? errno : EIO, __ATOMIC_RELAXED);
            return;
        }
        off += (size_t)r;
    }
}

qw_status qw_mmap_make_resident(qw_mmap *m, const char *path, int nth) {
    if (!m->data || m->size == 0) return QW_OK;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return qw_error(QW_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    // MAP_FIXED swaps the file pages for zeroed anonymous ones at the same address in one step
    void *p = mmap(m->data, m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) {
        close(fd);
        return qw_error(QW_ERR_NOMEM, "%s: cannot allocate %zu bytes to hold it: %s", path, m->size,
                        strerror(errno));
    }
#ifdef MADV_HUGEPAGE
    madvise(p, m->size, MADV_HUGEPAGE);
#endif
    copy_ctx c = {.fd = fd, .dst = p, .size = m->size};
    qw_parallel(copy_task, &c, nth < 1 ? 1 : nth);
    if (c.failed_errno) { // put the file mapping back so the caller's pointers still read the file
        void *q = mmap(m->data, m->size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
        close(fd);
        if (q == MAP_FAILED) { // the address range is ours but unusable: drop it
            munmap(m->data, m->size);
            m->data = NULL;
            m->size = 0;
        }
        return qw_error(QW_ERR_IO, "%s: read failed: %s", path, strerror(c.failed_errno));
    }
    close(fd);
    mprotect(p, m->size, PROT_READ); // weights stay read-only, as the mapping was
    return QW_OK;
}
