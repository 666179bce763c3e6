// bench/kern_bench: matmul speed on the Qwen2.5-3B shapes per dispatch level, as GFLOP/s, weight
// GB/s and % of the measured read bandwidth (qw_measure_bandwidth, printed first and last).
#include "../src/kernels/kernels.h"
#include "../src/tensor/quant.h"

#include <stdio.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int64_t N, K;
} shape;

static const shape shapes[] = {
    {"q/o 2048x2048", 2048, 2048},   {"k/v 256x2048", 256, 2048},       {"gate/up 11008x2048", 11008, 2048},
    {"down 2048x11008", 2048, 11008}, {"lm_head 151936x2048", 151936, 2048},
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void) {
    fprintf(stderr, "usage: kern_bench [--isa scalar|avx2|avx512f|avx512vnni|avx512|amx|all] [--type bf16|f16|f32|q8_0|q4_0|q4_k|...] [--n 1,4,16,512]\n"
                    "                  [--shape SUBSTRING] [--threads N] [--time SECONDS] [--r16]\n"
                    "                  [--hot]\n"
                    "--r16: quantized weights in the 16-row interleaved layout a loaded model uses\n"
                    "--hot: one copy of the weights, read again by every call (from cache where it fits): the\n"
                    "       kernel's compute ceiling, against the streaming figure without it\n");
}

int main(int argc, char **argv) {
    const char *isa = "best", *tname = "bf16", *nlist = "1,4,16,512", *only = NULL;
    int nth = qw_threads_default();
    double min_time = 0.5;
    int r16 = 0, hot = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa = argv[++i];
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) tname = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) nlist = argv[++i];
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) nth = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--time") && i + 1 < argc) min_time = atof(argv[++i]);
        else if (!strcmp(argv[i], "--r16")) r16 = 1;
        else if (!strcmp(argv[i], "--hot")) hot = 1;
        else {
            usage();
            return 2;
        }
    }
    int wti = qw_type_from_name(tname);
    if (wti < 0) {
        usage();
        return 2;
    }
    qw_type wt = (qw_type)wti;
    int64_t ns[16];
    int nn = 0;
    for (const char *p = nlist; *p && nn < 16;) {
        ns[nn++] = strtoll(p, (char **)&p, 10);
        if (*p == ',') p++;
    }
    int lv_lo = qw_cpu_max_level(), lv_hi = qw_cpu_max_level();
    if (!strcmp(isa, "all")) lv_lo = QW_ISA_AVX2 <= lv_hi ? QW_ISA_AVX2 : lv_hi;
    else if (strcmp(isa, "best"))
        for (int l = 0; l <= QW_ISA_AMX; l++)
            if (!strcmp(isa, qw_cpu_level_name(l))) lv_lo = lv_hi = l;

    qw_cpu_set_level(qw_cpu_max_level());
    double bw0 = qw_measure_bandwidth((size_t)1 << 30, nth, 5);
    printf("cpu: %s, %d threads; weights %s in 2 MB pages, as a loaded model's\n", qw_cpu_describe(), nth,
           qw_type_name(wt));
    printf("measured read bandwidth at the start: %.1f GB/s (%%bw below: against the best so far)\n\n", bw0);
    printf("%-10s %-20s %5s %10s %10s %9s %8s %7s\n", "isa", "shape", "n", "best ms", "median ms", "GFLOP/s", "GB/s",
           "%bw");

    qw_rng rng;
    qw_rng_seed(&rng, 7);
    for (int lv = lv_hi; lv >= lv_lo; lv--) {
        qw_cpu_set_level(lv);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const shape *sh = &shapes[s];
            if (only && !strstr(sh->name, only)) continue;
            // The ceiling is the best any read kernel reached so far in this run: measured again
            // before each shape, since other processes move it by tens of percent.
            qw_cpu_set_level(qw_cpu_max_level());
            double bw = qw_measure_bandwidth((size_t)1 << 30, nth, 2);
            if (bw > bw0) bw0 = bw;
            qw_cpu_set_level(lv);
            size_t wbytes = qw_type_row_bytes(wt, sh->K) * (size_t)sh->N;
            // Enough copies that together they overflow every cache: each call then streams its W
            // from memory, as in a forward pass (--hot: one, so that the kernel's compute shows). Four
            // times the L3 the OS reports, at least 256 MB: a Xeon's L3 holds up to 480 MB, where 256 MB
            // of copies came partly from cache.
            long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
            size_t span = l3 > 0 && (size_t)l3 * 4 > ((size_t)256 << 20) ? (size_t)l3 * 4 : (size_t)256 << 20;
            int copies = (int)((span + wbytes - 1) / wbytes);
            if (copies < 1 || hot) copies = 1;
            void **W = malloc(sizeof(void *) * (size_t)copies);
            // Quantized: a stripe of 16 rows quantized once and repeated (speed does not depend on values).
            const qw_type_traits *tr = qw_type_get(wt);
            size_t rb = qw_type_row_bytes(wt, sh->K);
            char *stripe = NULL;
            if (tr->is_quantized) {
                float *row = malloc(sizeof(float) * (size_t)sh->K);
                stripe = malloc(16 * rb);
                for (int r = 0; r < 16; r++) {
                    for (int64_t k = 0; k < sh->K; k++) row[k] = 0.02f * qw_rng_normal(&rng);
                    tr->from_float_ref(row, stripe + r * rb, sh->K);
                }
                free(row);
            }
            for (int c = 0; c < copies; c++) {
                W[c] = qw_alloc_huge(wbytes);
                uint16_t *h = W[c];
                float *f = W[c];
                if (tr->is_quantized) {
                    for (int64_t r = 0; r < sh->N; r++) memcpy((char *)W[c] + (size_t)r * rb, stripe + (r % 16) * rb, rb);
                    if (r16 && qw_r16_pack(wt, W[c], sh->N, sh->K, nth) != QW_OK) return 1;
                    continue;
                }
                size_t cnt = wbytes / (wt == QW_TYPE_F32 ? 4 : 2);
                for (size_t i = 0; i < cnt; i++) {
                    float v = 0.02f * (qw_rng_uniform(&rng) - 0.5f);
                    if (wt == QW_TYPE_F32) f[i] = v;
                    else h[i] = wt == QW_TYPE_F16 ? qw_f32_to_f16(v) : qw_f32_to_bf16(v);
                }
            }
            free(stripe);
            for (int in = 0; in < nn; in++) {
                int64_t n = ns[in];
                if (lv < QW_ISA_AVX2 && n > 16) continue; // the scalar path would take minutes
                float *x = qw_malloc_aligned(sizeof(float) * (size_t)(n * sh->K));
                float *y = qw_malloc_aligned(sizeof(float) * (size_t)(n * sh->N));
                for (int64_t i = 0; i < n * sh->K; i++) x[i] = qw_rng_normal(&rng);
                size_t ws = qw_matmul_work_size(wt, sh->N, sh->K, n);
                void *work = ws ? qw_malloc_aligned(ws) : NULL;
                qw_tensor tw = {.type = wt, .n_dims = 2, .shape = {sh->N, sh->K}, .layout = r16 && tr->is_quantized};
                tw.data = W[0];
                qw_matmul_w(&tw, x, n, y, work, nth); // warm-up
                // Per-call times; the best one is reported, since other processes on a small
                // machine stretch some calls by whole scheduler time slices. The median is shown too.
                double times[4096];
                int calls = 0;
                double t_start = qw_time_sec();
                do {
                    double t0 = qw_time_sec();
                    tw.data = W[(calls + 1) % copies];
                    qw_matmul_w(&tw, x, n, y, work, nth);
                    times[calls++] = qw_time_sec() - t0;
                } while (calls < 4096 && (qw_time_sec() - t_start < min_time || calls < 3));
                qsort(times, (size_t)calls, sizeof(double), cmp_double);
                double per = times[0], med = times[calls / 2];
                double gflops = 2.0 * (double)sh->N * (double)sh->K * (double)n / per * 1e-9;
                double gbs = (double)wbytes / per * 1e-9;
                printf("%-10s %-20s %5lld %10.3f %10.3f %9.1f %8.1f %6.1f%%\n", qw_cpu_level_name(lv), sh->name,
                       (long long)n, per * 1e3, med * 1e3, gflops, gbs, 100.0 * gbs / bw0);
                fflush(stdout);
                qw_free_aligned(work);
                qw_free_aligned(y);
                qw_free_aligned(x);
            }
            for (int c = 0; c < copies; c++) qw_free_huge(W[c], wbytes);
            free(W);
        }
    }
    qw_cpu_set_level(qw_cpu_max_level());
    double bw = qw_measure_bandwidth((size_t)1 << 30, nth, 5);
    printf("\nmeasured read bandwidth at the end: %.1f GB/s; best of the run (the %%bw base): %.1f GB/s\n", bw,
           bw > bw0 ? bw : bw0);
    return 0;
}
