// kernels/bandwidth: the machine's streaming read bandwidth, the best that any read kernel of the level
// in force reaches; decode speed is reported as a fraction of it.
#include "kernels_impl.h"

typedef struct {
    uint64_t (*read)(const void *p, size_t bytes);
    const char *buf;
    size_t per_thread;
    uint64_t sink[64];
} bw_ctx;

static void bw_task(void *ctx, int ith, int nth) {
    bw_ctx *c = ctx;
    (void)nth;
    c->sink[ith & 63] += c->read(c->buf + (size_t)ith * c->per_thread, c->per_thread);
}

double qw_measure_bandwidth(size_t bytes, int nth, int reps) {
    if (nth < 1) nth = 1;
    if (reps < 1) reps = 1;
    size_t per = bytes / (size_t)nth / 4096 * 4096;
    if (per == 0) return 0;
    char *buf = qw_alloc_huge(per * (size_t)nth); // the pages the weights live in (qw_mmap_make_resident)
    if (!buf) return 0;
    memset(buf, 1, per * (size_t)nth); // fault every page in before timing
    bw_ctx c = {.buf = buf, .per_thread = per};
    double best = 0;
    const qw_kernel_active *ka = qw_kernels();
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < 4 && ka->read[k]; k++) { // kernels interleaved: they share the noise
            c.read = ka->read[k];
            double t0 = qw_time_sec();
            qw_parallel(bw_task, &c, nth);
            double dt = qw_time_sec() - t0;
            double gbs = (double)(per * (size_t)nth) / dt * 1e-9;
            if (gbs > best) best = gbs;
        }
    qw_free_huge(buf, per * (size_t)nth);
    return best;
}
