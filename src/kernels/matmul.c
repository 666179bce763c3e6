// kernels/matmul: the matmul specification (qw_matmul_ref), the portable generic version, and the
// driver that asks the level in force for a plan and runs it on nth threads.
#include "kernels_impl.h"

// ---------------------------------------------------------------------------------------------------
// reference

void qw_matmul_ref(qw_type wtype, const void *W, int64_t N, int64_t K, const float *x, int64_t n,
                   float *y) {
    const qw_type_traits *tr = qw_type_get((int)wtype);
    QW_ASSERT(tr && K % tr->block_size == 0);
    const size_t rb = qw_type_row_bytes(wtype, K);
    float *w = malloc(sizeof(float) * (size_t)(K > 0 ? K : 1));
    QW_ASSERT(w);
    for (int64_t o = 0; o < N; o++) {
        tr->to_float((const char *)W + (size_t)o * rb, w, K); // exact: the type's own definition
        for (int64_t t = 0; t < n; t++) {
            double s = 0; // f32 x f32 products are exact in double; the sum is near exact
            for (int64_t k = 0; k < K; k++) s += (double)w[k] * x[t * K + k];
            y[t * N + o] = (float)s;
        }
    }
    free(w);
}

// ---------------------------------------------------------------------------------------------------
// generic: rows converted to f32 in chunks, 8 partial sums per dot so that the chain of dependent
// adds (and so the rounding error) stays near K/8 and a compiler can vectorise it.

#define GEN_CHUNK 256

static void convert_chunk(qw_type t, const char *row, int64_t k0, int64_t len, float *dst) {
    if (t == QW_TYPE_F32) {
        memcpy(dst, row + 4 * k0, (size_t)len * 4);
        return;
    }
    for (int64_t i = 0; i < len; i++) {
        uint16_t h;
        memcpy(&h, row + 2 * (k0 + i), 2);
        dst[i] = t == QW_TYPE_F16 ? qw_f16_to_f32(h) : qw_bf16_to_f32(h);
    }
}

static void mm_rows_generic(const qw_mm *mm, int64_t r0, int64_t r1) {
    const int64_t K = mm->K, N = mm->N, n = mm->n;
    const size_t rb = qw_type_row_bytes(mm->wtype, K);
    float w[GEN_CHUNK];
    for (int64_t o = r0; o < r1; o++) {
        const char *row = (const char *)mm->W + (size_t)o * rb;
        for (int64_t k0 = 0; k0 < K; k0 += GEN_CHUNK) {
            int64_t len = K - k0 < GEN_CHUNK ? K - k0 : GEN_CHUNK;
            convert_chunk(mm->wtype, row, k0, len, w);
            for (int64_t t = 0; t < n; t++) {
                const float *xt = mm->x + t * K + k0;
                float acc[8] = {0};
                int64_t i = 0;
                for (; i + 8 <= len; i += 8)
                    for (int j = 0; j < 8; j++) acc[j] += w[i + j] * xt[i + j];
                for (; i < len; i++) acc[i & 7] += w[i] * xt[i];
                float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
                mm->y[t * N + o] = k0 == 0 ? s : mm->y[t * N + o] + s;
            }
        }
    }
}

// Quantized weights at any level: the activations quantized once, then one multi-token dot per row.
void qw_mm_prepare_quant(const qw_mm *mm, int ith, int nth) {
    int64_t t0, t1;
    qw_split_rows(mm->n, 1, ith, nth, &t0, &t1);
    const size_t ab = qw_act_row_bytes(mm->wtype, mm->K);
    for (int64_t t = t0; t < t1; t++) qw_act_quantize(mm->wtype, mm->x + t * mm->K, (char *)mm->work + t * ab, mm->K);
}

// Rows [r0, r1) of the output, the weights of row r0 at w (rows contiguous from there).
static void quant_rows_at(const qw_mm *mm, const char *w, int64_t r0, int64_t r1) {
    const qw_qdot_fn dot = qw_kernels()->qdot[mm->wtype];
    const size_t rb = qw_type_row_bytes(mm->wtype, mm->K), ab = qw_act_row_bytes(mm->wtype, mm->K);
    // the row stays in L1 while up to QW_QDOT_NT_MAX tokens at a time go past it
    for (int64_t o = r0; o < r1; o++)
        for (int64_t t = 0; t < mm->n; t += QW_QDOT_NT_MAX) {
            int nt = mm->n - t < QW_QDOT_NT_MAX ? (int)(mm->n - t) : QW_QDOT_NT_MAX;
            dot(mm->K, w + (size_t)(o - r0) * rb, (const char *)mm->work + (size_t)t * ab, ab, nt, mm->y + t * mm->N + o,
                mm->N);
        }
}

static void rows_quant(const qw_mm *mm, int64_t r0, int64_t r1) {
    quant_rows_at(mm, (const char *)mm->W + (size_t)r0 * qw_type_row_bytes(mm->wtype, mm->K), r0, r1);
}

// r16 weights at any level: each group of 16 rows back to GGUF rows in a buffer, then the same dots.
static void rows_quant_r16(const qw_mm *mm, int64_t r0, int64_t r1) {
    const size_t gb = 16 * qw_type_row_bytes(mm->wtype, mm->K);
    char *rows = malloc(gb);
    QW_ASSERT(rows); // one group, tens of KB; not recoverable inside a parallel region
    for (int64_t r = r0; r < r1; r += 16) {
        qw_r16_unpack_group(mm->wtype, (const char *)mm->W + (size_t)(r / 16) * gb, rows, mm->K);
        quant_rows_at(mm, rows, r, r + 16);
    }
    free(rows);
}

void qw_mm_plan_quant(qw_mm *mm, qw_qdot_fn dot) {
    (void)dot;
    mm->prepare = qw_mm_prepare_quant;
    mm->rows = mm->r16 ? rows_quant_r16 : rows_quant;
    mm->row_align = mm->r16 ? 16 : 1;
}

void qw_mm_plan_generic(qw_mm *mm) {
    if (qw_type_get((int)mm->wtype)->is_quantized) {
        qw_mm_plan_quant(mm, NULL);
        return;
    }
    mm->prepare = NULL;
    mm->rows = mm_rows_generic;
    mm->row_align = 1;
}

// ---------------------------------------------------------------------------------------------------
// driver

size_t qw_mm_work_bytes(qw_type wtype, int64_t N, int64_t K, int64_t n) {
    (void)N;
    if (qw_act_kind_of(wtype) != QW_ACT_NONE) { // the dot kernels' rows, or the GEMMs': the VNNI one's
        // tiles, or the AMX one's rows in whole pairs of tiles of 16
        if (n < QW_QGEMM_MIN_N) return (size_t)n * qw_act_row_bytes(wtype, K);
        size_t ab = qw_act_row_bytes(wtype, K), bf = (size_t)K * 2, tiles = qw_qgemm_work_bytes(wtype, K, n);
        size_t rows = (size_t)qw_round_up(n, 32) * (ab > bf ? ab : bf); // (bf16 rows: qgemm_bf16_amx.c)
        return tiles > rows ? tiles : rows;
    }
    if (wtype != QW_TYPE_BF16 || n < 2) return 0;
    // Either bf16 layout of kernels_impl.h: at most round_up(n, 16) tokens of kp32 bf16 each.
    return (size_t)qw_round_up(n, 16) * (size_t)qw_round_up(K, 32) * 2;
}

size_t qw_matmul_work_size(qw_type wtype, int64_t N, int64_t K, int64_t n) {
    size_t b = qw_mm_work_bytes(wtype, N, K, n);
    return b ? b + 64 : 0; // room to align the caller's block to 64 bytes
}

static void run_prepare(void *ctx, int ith, int nth) {
    const qw_mm *mm = ctx;
    mm->prepare(mm, ith, nth);
}

// Matmuls that read the same prepared x, run as one parallel region: their rows are cut into chunks,
// each thread owns a contiguous run of them and takes them from its front, and a thread that has
// finished its own takes the next ones of the others'. One region instead of one per matrix saves a
// barrier per matrix (q, k and v; gate and up), and taking over work keeps both threads busy to the
// end where a fixed half each left one waiting whenever the other was slowed (another process on its
// core, an unfair share of memory bandwidth). Owning a contiguous run keeps each thread's reads one
// long stream, which the hardware prefetchers follow: chunks dealt out in turn measured 9% slower.
#define MM_GROUP_MAX 4
#define MM_CHUNKS_PER_THREAD 8
#define MM_THREADS_MAX 64

typedef struct {
    const qw_mm *mm[MM_GROUP_MAX];
    int count, nth; // nth: runs of chunks (the pool may start fewer threads; they then take them all)
    int64_t rows_per_chunk[MM_GROUP_MAX];
    int64_t chunk_end[MM_GROUP_MAX]; // chunks of matrices 0..i together
    struct {
        _Alignas(64) int next; // atomic: the thread's next chunk; its run ends at the next thread's start
    } own[MM_THREADS_MAX + 1];
} mm_group;

static void run_chunk(const mm_group *g, int64_t c) {
    int i = 0;
    while (c >= g->chunk_end[i]) i++;
    const qw_mm *mm = g->mm[i];
    int64_t r0 = (c - (i > 0 ? g->chunk_end[i - 1] : 0)) * g->rows_per_chunk[i];
    int64_t r1 = r0 + g->rows_per_chunk[i] < mm->N ? r0 + g->rows_per_chunk[i] : mm->N;
    mm->rows(mm, r0, r1);
}

// The first chunk of thread j's run (of nth over total chunks); the run ends where j + 1's starts.
static int run_start(int64_t total, int j, int nth) { return (int)(total * j / nth); }

static void run_group(void *ctx, int ith, int nth) {
    mm_group *g = ctx;
    (void)nth;
    for (int k = 0; k < g->nth; k++) { // own run first, then the others' in turn
        int j = (ith + k) % g->nth, end = run_start(g->chunk_end[g->count - 1], j + 1, g->nth);
        for (;;) {
            int c = __atomic_fetch_add(&g->own[j].next, 1, __ATOMIC_RELAXED);
            if (c >= end) break;
            run_chunk(g, c);
        }
    }
}

// Chunks of about the same number of weight bytes across the group's matrices, nth * 8 in all: few
// enough that taking one costs nothing next to computing it, enough that the last ones even out.
static void run_rows_of(const qw_mm *const *mm, int count, int nth) {
    mm_group g = {.count = count};
    double bytes = 0;
    for (int i = 0; i < count; i++) bytes += (double)mm[i]->N * (double)qw_type_row_bytes(mm[i]->wtype, mm[i]->K);
    double chunk_bytes = bytes / (nth * MM_CHUNKS_PER_THREAD);
    int64_t total = 0;
    for (int i = 0; i < count; i++) {
        const qw_mm *m = mm[i];
        int64_t rows = (int64_t)(chunk_bytes / (double)qw_type_row_bytes(m->wtype, m->K));
        rows = rows < m->row_align ? m->row_align : rows / m->row_align * m->row_align;
        g.mm[i] = m;
        g.rows_per_chunk[i] = rows;
        total += (m->N + rows - 1) / rows;
        g.chunk_end[i] = total;
    }
    if (total < nth) nth = (int)total;
    if (nth > MM_THREADS_MAX) nth = MM_THREADS_MAX;
    if (nth <= 1) {
        for (int i = 0; i < count; i++) mm[i]->rows(mm[i], 0, mm[i]->N);
        return;
    }
    g.nth = nth;
    for (int j = 0; j < nth; j++) g.own[j].next = run_start(total, j, nth);
    qw_parallel(run_group, &g, nth);
}

// Fills mm's plan for one matmul; returns 0 when there is nothing to compute (y is then written).
static int plan_matmul(qw_mm *mm, qw_type wtype, int r16, const void *W, int64_t N, int64_t K, const float *x,
                       int64_t n, float *y, void *work) {
    const qw_type_traits *tr = qw_type_get((int)wtype);
    QW_ASSERT(tr && (!tr->is_quantized || qw_act_kind_of(wtype) != QW_ACT_NONE));
    QW_ASSERT(N >= 0 && K >= 0 && n >= 0 && K % tr->block_size == 0);
    if (N == 0 || n == 0) return 0;
    if (K == 0) {
        memset(y, 0, (size_t)(N * n) * sizeof(float));
        return 0;
    }
    *mm = (qw_mm){.wtype = wtype, .W = W, .r16 = r16, .N = N, .K = K, .x = x, .n = n, .y = y};
    if (qw_mm_work_bytes(wtype, N, K, n)) {
        QW_ASSERT(work != NULL);
        mm->work = (void *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    }
    const qw_kernel_active *ka = qw_kernels();
    for (int i = 0; i < ka->n_plan && !mm->rows; i++) ka->mm_plan[i](mm);
    QW_ASSERT(mm->rows != NULL);
    return 1;
}

// Threads worth waking for mm: a thread needs at least a row_align of rows.
static int threads_for_rows(const qw_mm *mm, int nth) {
    if (nth < 1) nth = 1;
    if ((int64_t)nth * mm->row_align > mm->N) nth = (int)((mm->N + mm->row_align - 1) / mm->row_align);
    return nth < 1 ? 1 : nth;
}

// A small prepare (decode: one token's activations, a few microseconds) runs on this thread: a
// parallel region of its own would cost a barrier per matmul for no gain.
static void prepare_x(qw_mm *mm, int nth) {
    if (!mm->prepare) return;
    if (mm->n * mm->K <= (1 << 16)) mm->prepare(mm, 0, 1);
    else qw_parallel(run_prepare, mm, nth);
}

static void run_matmul(qw_type wtype, int r16, const void *W, int64_t N, int64_t K, const float *x, int64_t n,
                       float *y, void *work, int nth) {
    qw_mm mm;
    if (!plan_matmul(&mm, wtype, r16, W, N, K, x, n, y, work)) return;
    nth = threads_for_rows(&mm, nth);
    prepare_x(&mm, nth);
    const qw_mm *one = &mm;
    run_rows_of(&one, 1, nth);
}

void qw_matmul(qw_type wtype, const void *W, int64_t N, int64_t K, const float *x, int64_t n, float *y,
               void *work, int nth) {
    run_matmul(wtype, 0, W, N, K, x, n, y, work, nth);
}

void qw_matmul_w(const qw_tensor *w, const float *x, int64_t n, float *y, void *work, int nth) {
    QW_ASSERT(w->layout == QW_LAYOUT_ROWS || (w->layout == QW_LAYOUT_R16 && w->shape[0] % 16 == 0));
    run_matmul(w->type, w->layout == QW_LAYOUT_R16, w->data, w->shape[0], w->shape[1], x, n, y, work, nth);
}

// Consecutive matrices whose plans prepare x the same way (same prepare, same weight type) share one
// prepare and one parallel region; a matrix that wants x otherwise starts a new run.
void qw_matmul_w_many(const qw_tensor *const *w, int count, const float *x, int64_t n, float *const *y, void *work,
                      const int *nth) {
    QW_ASSERT(count <= MM_GROUP_MAX);
    qw_mm mm[MM_GROUP_MAX];
    const qw_mm *run[MM_GROUP_MAX];
    int nrun = 0, run_nth = 1;
    for (int i = 0; i <= count; i++) {
        int planned = 0;
        if (i < count) {
            QW_ASSERT(w[i]->shape[1] == w[0]->shape[1]);
            QW_ASSERT(w[i]->layout == QW_LAYOUT_ROWS || (w[i]->layout == QW_LAYOUT_R16 && w[i]->shape[0] % 16 == 0));
            planned = plan_matmul(&mm[i], w[i]->type, w[i]->layout == QW_LAYOUT_R16, w[i]->data, w[i]->shape[0],
                                  w[i]->shape[1], x, n, y[i], work);
        }
        const qw_mm *prev = nrun > 0 ? run[nrun - 1] : NULL;
        int joins = planned && prev && mm[i].prepare == prev->prepare && mm[i].wtype == prev->wtype;
        if (nrun > 0 && !joins && (planned || i == count)) { // the run so far ends here
            run_rows_of(run, nrun, run_nth);
            nrun = 0;
        }
        if (!planned) continue;
        int t = threads_for_rows(&mm[i], nth[i]);
        if (nrun == 0) {
            run_nth = t;
            prepare_x(&mm[i], t);
        } else if (t > run_nth) {
            run_nth = t;
        }
        run[nrun++] = &mm[i];
    }
}

int qw_matmul_r16_fast(qw_type t) {
#if defined(__x86_64__) || defined(__i386__) // the x86/ kernels are built there only
    if (qw_cpu_level() >= QW_ISA_AVX512_VNNI) return qw_r16_vnni_has(t);
    if (qw_cpu_level() >= QW_ISA_AVX2) return qw_r16_avx2_has(t);
#endif
    (void)t;
    return 0;
}
