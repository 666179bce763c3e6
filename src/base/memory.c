// base/memory: aligned allocation and overflow-checked size arithmetic.
#include "base.h"

#include <stdlib.h>

void *qw_malloc_aligned(size_t n) {
    void *p = NULL;
    if (n == 0) n = 64;
    size_t rounded = (n + 63) & ~(size_t)63;
    if (rounded < n) return NULL;
    if (posix_memalign(&p, 64, rounded) != 0) return NULL;
    return p;
}

void *qw_calloc_aligned(size_t n) {
    void *p = qw_malloc_aligned(n);
    if (p) memset(p, 0, n);
    return p;
}

void qw_free_aligned(void *p) { free(p); }

int qw_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int qw_add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}

char *qw_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
