// kernels/matmul: the matmul specification (qw_matmul_ref), the portable generic version, and the
// driver that asks the level in force for a plan and runs it on nth threads.
#include "kernels_impl.h"

// ---------------------------------------------------------------------------------------------------
// reference

static float weight_f32(qw_type t, const void *W, int64_t i) {
    switch (t) {
    case QW_TYPE_F32: {
        float f;
        memcpy(&f, (const char *)W + 4 * i, 4);
        return f;
    }
    case QW_TYPE_F16:
    case QW_TYPE_BF16: {
        uint16_t h;
        memcpy(&h, (const char *)W + 2 * i, 2); // rows may sit at any 2-byte offset
        return t == QW_TYPE_F16 ? qw_f16_to_f32(h) : qw_bf16_to_f32(h);
    }
    default: QW_ASSERT(!"matmul: weight type not supported");
    }
    return 0;
}

void qw_matmul_ref(qw_type wtype, const void *W, int64_t N, int64_t K, const float *x, int64_t n,
                   float *y) {
    for (int64_t t = 0; t < n; t++)
        for (int64_t o = 0; o < N; o++) {
            double s = 0; // f32 x f32 products are exact in double; the sum is near exact
            for (int64_t k = 0; k < K; k++) s += (double)weight_f32(wtype, W, o * K + k) * x[t * K + k];
            y[t * N + o] = (float)s;
        }
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

void qw_mm_plan_generic(qw_mm *mm) {
    mm->prepare = NULL;
    mm->rows = mm_rows_generic;
    mm->row_align = 1;
}

// ---------------------------------------------------------------------------------------------------
// driver

size_t qw_mm_work_bytes(qw_type wtype, int64_t N, int64_t K, int64_t n) {
    (void)N;
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

void qw_matmul(qw_type wtype, const void *W, int64_t N, int64_t K, const float *x, int64_t n, float *y,
               void *work, int nth) {
    QW_ASSERT(wtype == QW_TYPE_F32 || wtype == QW_TYPE_F16 || wtype == QW_TYPE_BF16);
    QW_ASSERT(N >= 0 && K >= 0 && n >= 0);
    if (N == 0 || n == 0) return;
    if (K == 0) {
        memset(y, 0, (size_t)(N * n) * sizeof(float));
        return;
    }
    qw_mm mm = {.wtype = wtype, .W = W, .N = N, .K = K, .x = x, .n = n, .y = y};
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
    if (mm.prepare) qw_parallel(run_prepare, &mm, nth);
    qw_parallel(run_rows, &mm, nth);
}
