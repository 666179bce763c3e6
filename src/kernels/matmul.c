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
    if (qw_act_kind_of(wtype) != QW_ACT_NONE) // the dot kernels' rows, or the GEMM's longer ones
        return n >= QW_QGEMM_MIN_N ? qw_qgemm_work_bytes(wtype, K, n) : (size_t)n * qw_act_row_bytes(wtype, K);
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

static void run_rows(void *ctx, int ith, int nth) {
    const qw_mm *mm = ctx;
    int64_t r0, r1;
    qw_split_rows(mm->N, mm->row_align, ith, nth, &r0, &r1);
    if (r0 < r1) mm->rows(mm, r0, r1);
}

// prev: the previous matmul of a qw_matmul_w_many call (same x, n, work), or NULL; when its prepare is
// this one's and for the same weight type, work already holds x as this one wants it. Returns the
// plan's prepare (NULL if none ran or the call did nothing), for the next one to compare.
typedef void (*qw_prepare_fn)(const qw_mm *mm, int ith, int nth);
static qw_prepare_fn run_matmul_after(qw_type wtype, int r16, const void *W, int64_t N, int64_t K, const float *x,
                                      int64_t n, float *y, void *work, int nth, qw_prepare_fn prev_prepare,
                                      qw_type prev_type) {
    const qw_type_traits *tr = qw_type_get((int)wtype);
    QW_ASSERT(tr && (!tr->is_quantized || qw_act_kind_of(wtype) != QW_ACT_NONE));
    QW_ASSERT(N >= 0 && K >= 0 && n >= 0 && K % tr->block_size == 0);
    if (N == 0 || n == 0) return NULL;
    if (K == 0) {
        memset(y, 0, (size_t)(N * n) * sizeof(float));
        return NULL;
    }
    qw_mm mm = {.wtype = wtype, .W = W, .r16 = r16, .N = N, .K = K, .x = x, .n = n, .y = y};
    if (qw_mm_work_bytes(wtype, N, K, n)) {
        QW_ASSERT(work != NULL);
        mm.work = (void *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    }
    const qw_kernel_active *ka = qw_kernels();
    for (int i = 0; i < ka->n_plan && !mm.rows; i++) ka->mm_plan[i](&mm);
    QW_ASSERT(mm.rows != NULL);
    if (nth < 1) nth = 1;
    // A thread needs enough rows to be worth waking.
    if ((int64_t)nth * mm.row_align > N) nth = (int)((N + mm.row_align - 1) / mm.row_align);
    if (nth < 1) nth = 1;
    // A small prepare (decode: one token's activations, a few microseconds) runs on this thread: a
    // parallel region of its own would cost a barrier per matmul for no gain.
    if (mm.prepare && !(mm.prepare == prev_prepare && wtype == prev_type)) {
        if (n * K <= (1 << 16)) mm.prepare(&mm, 0, 1);
        else qw_parallel(run_prepare, &mm, nth);
    }
    qw_parallel(run_rows, &mm, nth);
    return mm.prepare;
}

static void run_matmul(qw_type wtype, int r16, const void *W, int64_t N, int64_t K, const float *x, int64_t n,
                       float *y, void *work, int nth) {
    run_matmul_after(wtype, r16, W, N, K, x, n, y, work, nth, NULL, wtype);
}

void qw_matmul(qw_type wtype, const void *W, int64_t N, int64_t K, const float *x, int64_t n, float *y,
               void *work, int nth) {
    run_matmul(wtype, 0, W, N, K, x, n, y, work, nth);
}

void qw_matmul_w(const qw_tensor *w, const float *x, int64_t n, float *y, void *work, int nth) {
    QW_ASSERT(w->layout == QW_LAYOUT_ROWS || (w->layout == QW_LAYOUT_R16 && w->shape[0] % 16 == 0));
    run_matmul(w->type, w->layout == QW_LAYOUT_R16, w->data, w->shape[0], w->shape[1], x, n, y, work, nth);
}

void qw_matmul_w_many(const qw_tensor *const *w, int count, const float *x, int64_t n, float *const *y, void *work,
                      const int *nth) {
    qw_prepare_fn prev = NULL;
    qw_type prev_type = QW_TYPE_F32;
    for (int i = 0; i < count; i++) {
        QW_ASSERT(w[i]->shape[1] == w[0]->shape[1]);
        QW_ASSERT(w[i]->layout == QW_LAYOUT_ROWS || (w[i]->layout == QW_LAYOUT_R16 && w[i]->shape[0] % 16 == 0));
        prev = run_matmul_after(w[i]->type, w[i]->layout == QW_LAYOUT_R16, w[i]->data, w[i]->shape[0], w[i]->shape[1],
                                x, n, y[i], work, nth[i], prev, prev_type);
        prev_type = w[i]->type;
    }
}

int qw_matmul_r16_fast(qw_type t) {
#if defined(__x86_64__) || defined(__i386__) // the x86/ kernels are built there only
    if (qw_cpu_level() >= QW_ISA_AVX512_BF16) return qw_r16_vnni_has(t);
    if (qw_cpu_level() >= QW_ISA_AVX2) return qw_r16_avx2_has(t);
#endif
    (void)t;
    return 0;
}
