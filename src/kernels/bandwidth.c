// kernels/bandwidth: the machine's streaming read bandwidth, the best that any read kernel of the level
// in force (or the bf16 decode matvec) reaches; decode speed is reported as a fraction of it.
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
    size_t total = per * (size_t)nth;
    memset(buf, 0x3c, total); // fault every page in before timing; as bf16, every weight is 0.0115
    bw_ctx c = {.buf = buf, .per_thread = per};
    // The decode matvec itself is one of the candidates (bf16 rows of 2048, the 3B shape's hidden size):
    // the ceiling is the best streaming kernel qwick has, not only the best plain read loop.
    const int64_t K = 2048, N = (int64_t)(total / (2 * (size_t)K));
    float *x = qw_malloc_aligned(sizeof(float) * (size_t)K), *y = qw_malloc_aligned(sizeof(float) * (size_t)N);
    size_t ws = qw_matmul_work_size(QW_TYPE_BF16, N, K, 1);
    void *work = ws ? qw_malloc_aligned(ws) : NULL;
    int mv = x && y && (!ws || work);
    for (int64_t i = 0; mv && i < K; i++) x[i] = (float)(i % 7) - 3.0f;
    double best = 0;
    const qw_kernel_active *ka = qw_kernels();
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < 5; k++) { // kernels interleaved: they share the noise
            if (k < 4 && !ka->read[k]) continue;
            if (k == 4 && !mv) continue;
            c.read = k < 4 ? ka->read[k] : NULL;
            double t0 = qw_time_sec();
            if (k < 4) qw_parallel(bw_task, &c, nth);
            else qw_matmul(QW_TYPE_BF16, buf, N, K, x, 1, y, work, nth);
            double dt = qw_time_sec() - t0;
            double gbs = (double)total / dt * 1e-9;
            if (gbs > best) best = gbs;
        }
    qw_free_aligned(x);
    qw_free_aligned(y);
    qw_free_aligned(work);
    qw_free_huge(buf, total);
    return best;
}
