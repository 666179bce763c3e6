// tests/test_qkernels: the quantized-weight kernels at every dispatch level this CPU has: each level's
// multi-token dot against the scalar reference dot on the same int8 activations, and qw_matmul against
// qw_matmul_ref (dequantized weights, f32 x) within the bound activation quantization allows.
#include "../src/kernels/kernels_impl.h"
#include "test.h"

static const qw_type g_types[] = {QW_TYPE_Q8_0, QW_TYPE_Q4_0, QW_TYPE_IQ4_NL,
                                  QW_TYPE_Q4_K, QW_TYPE_Q5_K, QW_TYPE_Q6_K};
#define N_TYPES (int)(sizeof g_types / sizeof g_types[0])

static qw_rng rng;

// N rows of K quantized from Gaussian data with a few outliers (never all zero), at a 2-byte offset
// (GGUF data is 32-byte aligned, but blocks of 18 or 34 bytes leave rows only 2-byte aligned: every
// block size is even, so that much the structs may assume) and at the end of the allocation so the
// sanitizer sees reads past the last row.
typedef struct {
    char *block;
    void *W;
} qweights;

static qweights make_qweights(qw_type t, int64_t N, int64_t K) {
    size_t rb = qw_type_row_bytes(t, K);
    qweights w;
    w.block = malloc(rb * (size_t)N + 2);
    w.W = w.block + 2;
    float *tmp = malloc(sizeof(float) * (size_t)K);
    for (int64_t o = 0; o < N; o++) {
        float scale = 0.02f * (1 + (float)(o % 5));
        for (int64_t k = 0; k < K; k++) tmp[k] = scale * qw_rng_normal(&rng) * (qw_rng_uniform(&rng) < 0.01f ? 8 : 1);
        qw_type_get(t)->from_float_ref(tmp, (char *)w.W + (size_t)o * rb, K);
    }
    free(tmp);
    return w;
}

static void fill_x(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = qw_rng_normal(&rng) * (qw_rng_uniform(&rng) < 0.02f ? 10 : 1);
}

// Each level's qdot for nt = 1..QW_QDOT_NT_MAX against the reference dot per token. Both see the same
// int8 activations and their integer block sums are exact, so only the f32 combination of blocks
// differs: bound 1e-5 of sum over blocks |d_w d_x dot_b| <= 1e-5 * sum |w||x_q|.
static void test_dots(int level) {
    for (int ti = 0; ti < N_TYPES; ti++) {
        qw_type t = g_types[ti];
        const qw_type_traits *tr = qw_type_get(t);
        static const int64_t Ks[] = {256, 512, 2048 + 256};
        for (int ki = 0; ki < 3; ki++) {
            int64_t K = Ks[ki];
            qweights w = make_qweights(t, 1, K);
            size_t ab = qw_act_row_bytes(t, K);
            char *act = qw_malloc_aligned(ab * QW_QDOT_NT_MAX);
            float *x = malloc(sizeof(float) * (size_t)K), *wf = malloc(sizeof(float) * (size_t)K);
            tr->to_float(w.W, wf, K);
            float want[QW_QDOT_NT_MAX], bound[QW_QDOT_NT_MAX];
            for (int tok = 0; tok < QW_QDOT_NT_MAX; tok++) {
                fill_x(x, K);
                char *row = act + (size_t)tok * ab;
                qw_quantize_act_row(t, x, row, K);
                want[tok] = tr->vec_dot(K, w.W, row);
                double s = 0;
                const int8_t *q = qw_act_qs(row);
                const float *d = qw_act_d(row, K);
                for (int64_t k = 0; k < K; k++) s += fabs((double)wf[k] * q[k] * d[k / qw_act_block(qw_act_kind_of(t))]);
                bound[tok] = (float)(1e-5 * s + 1e-30);
            }
            qw_qdot_fn dot = qw_kernels()->qdot[t];
            for (int nt = 1; nt <= QW_QDOT_NT_MAX; nt++) {
                float got[QW_QDOT_NT_MAX * 3];
                dot(K, w.W, act, ab, nt, got, 3); // y stride 3: every third float
                for (int tok = 0; tok < nt; tok++)
                    CHECKF(fabsf(got[3 * tok] - want[tok]) <= bound[tok], "%s %s K=%lld nt=%d tok %d: %g vs ref %g (bound %g)",
                           qw_cpu_level_name(level), tr->name, (long long)K, nt, tok, got[3 * tok], want[tok], bound[tok]);
            }
            free(x);
            free(wf);
            qw_free_aligned(act);
            free(w.block);
        }
    }
}

// qw_matmul against qw_matmul_ref: rounding x to int8 moves each element by at most half a step,
// d_b / 2 = max|x in its block| / 254, so |y - y_ref| <= sum_k |w_k| amax_b(k) / 254, plus f32 rounding.
static void check_matmul(qw_type t, int64_t N, int64_t K, int64_t n, int nth, int level) {
    qweights w = make_qweights(t, N, K);
    float *x = malloc(sizeof(float) * (size_t)(n * K)), *y = malloc(sizeof(float) * (size_t)(n * N));
    float *yr = malloc(sizeof(float) * (size_t)(n * N)), *wf = malloc(sizeof(float) * (size_t)K);
    float *amax = malloc(sizeof(float) * (size_t)(n * K));
    fill_x(x, n * K);
    const int B = qw_act_block(qw_act_kind_of(t));
    for (int64_t i = 0; i < n * K; i += B) {
        float m = 0;
        for (int j = 0; j < B; j++) m = fmaxf(m, fabsf(x[i + j]));
        for (int j = 0; j < B; j++) amax[i + j] = m;
    }
    size_t ws = qw_matmul_work_size(t, N, K, n);
    CHECK(ws >= (size_t)n * qw_act_row_bytes(t, K));
    char *work = malloc(ws + 1); // any alignment: qw_matmul aligns it
    qw_matmul(t, w.W, N, K, x, n, y, work + 1, nth);
    qw_matmul_ref(t, w.W, N, K, x, n, yr);
    size_t rb = qw_type_row_bytes(t, K);
    int bad = 0;
    double worst = 0;
    for (int64_t o = 0; o < N; o++) {
        qw_type_get(t)->to_float((const char *)w.W + (size_t)o * rb, wf, K);
        for (int64_t tok = 0; tok < n; tok++) {
            double bound = 0, s = 0;
            for (int64_t k = 0; k < K; k++) {
                bound += fabs((double)wf[k]) * amax[tok * K + k] / 254;
                s += fabs((double)wf[k] * x[tok * K + k]);
            }
            bound = bound * 1.001 + 1e-5 * s + 1e-30;
            double e = fabs((double)y[tok * N + o] - yr[tok * N + o]);
            if (e / bound > worst) worst = e / bound;
            if (e > bound && !bad++)
                fprintf(stderr, "%s %s N=%lld K=%lld n=%lld nth=%d: y[%lld][%lld] = %g, ref %g, bound %g\n",
                        qw_cpu_level_name(level), qw_type_name(t), (long long)N, (long long)K, (long long)n, nth,
                        (long long)tok, (long long)o, y[tok * N + o], yr[tok * N + o], bound);
        }
    }
    CHECKF(!bad, "%s %s N=%lld K=%lld n=%lld: %d outputs past the bound (worst %.2f of it)", qw_cpu_level_name(level),
           qw_type_name(t), (long long)N, (long long)K, (long long)n, bad, worst);
    free(x);
    free(y);
    free(yr);
    free(wf);
    free(amax);
    free(work);
    free(w.block);
}

static void test_matmul(int level) {
    static const int64_t ns[] = {1, 2, 3, 7, 16, 37};
    for (int ti = 0; ti < N_TYPES; ti++) {
        qw_type t = g_types[ti];
        int64_t K = qw_type_get(t)->block_size == 32 ? 96 : 512;
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            check_matmul(t, 37, K, ns[i], 2, level); // odd N
            check_matmul(t, 1, K, ns[i], 1, level);
        }
        check_matmul(t, 67, 2048 + qw_type_get(t)->block_size * 3, 5, 2, level); // several blocks, odd count
    }
}

// The r16 layout: packing then unpacking gives the same bytes, a row read from r16 equals the row's
// dequantization, and qw_matmul_w on r16 equals qw_matmul on the rows: both see the same int8
// activations and exact integer block sums, so only the f32 combination of blocks differs (bound
// 1e-5 of sum |w x|). n covers decode (1..4 tokens at a time, 5 = 4 + 1) and the GEMM (n >= 8).
static void check_r16(qw_type t, int64_t N, int64_t K, int64_t n, int level) {
    qweights w = make_qweights(t, N, K);
    const size_t rb = qw_type_row_bytes(t, K), bytes = rb * (size_t)N;
    char *p = malloc(bytes), *back = malloc(16 * rb);
    memcpy(p, w.W, bytes);
    CHECK(qw_r16_pack(t, p, N, K, 2) == QW_OK);
    CHECKF(memcmp(p, w.W, bytes) != 0, "%s: r16 moved no byte", qw_type_name(t));
    int same = 1;
    for (int64_t g = 0; g < N / 16; g++) {
        qw_r16_unpack_group(t, p + (size_t)g * 16 * rb, back, K);
        same &= memcmp(back, (char *)w.W + (size_t)g * 16 * rb, 16 * rb) == 0;
    }
    CHECKF(same, "%s K=%lld: r16 round trip changed bytes", qw_type_name(t), (long long)K);
    float *a = malloc(sizeof(float) * (size_t)K), *b = malloc(sizeof(float) * (size_t)K);
    int rows_ok = 1;
    for (int64_t o = 0; o < N; o += 7) {
        qw_type_get(t)->to_float((char *)w.W + (size_t)o * rb, a, K);
        qw_r16_row_to_float(t, p, K, o, b);
        rows_ok &= memcmp(a, b, sizeof(float) * (size_t)K) == 0;
    }
    CHECKF(rows_ok, "%s: r16 row differs from the row's dequantization", qw_type_name(t));
    float *x = malloc(sizeof(float) * (size_t)(n * K)), *y = malloc(sizeof(float) * (size_t)(n * N));
    float *yr = malloc(sizeof(float) * (size_t)(n * N));
    fill_x(x, n * K);
    char *work = malloc(qw_matmul_work_size(t, N, K, n));
    qw_tensor tw = {.type = t, .n_dims = 2, .shape = {N, K}, .data = p, .nbytes = bytes, .layout = QW_LAYOUT_R16};
    qw_matmul_w(&tw, x, n, y, work, 2);
    qw_matmul(t, w.W, N, K, x, n, yr, work, 2);
    int bad = 0;
    for (int64_t o = 0; o < N; o++) {
        qw_type_get(t)->to_float((char *)w.W + (size_t)o * rb, a, K);
        for (int64_t tok = 0; tok < n; tok++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += fabs((double)a[k] * x[tok * K + k]);
            // The AMX-BF16 GEMM rounds weights and activations to bf16 where the rows' kernels quantize
            // activations to int8 blocks: it is checked against the products of the bf16 values instead,
            // exact in double, within its f32 accumulation.
            const int bf16 = level == QW_ISA_AMX && n >= qw_qgemm_bf16_min_n(t) && N % 32 == 0 &&
                             (qw_type_get(t)->block_size == 32 || t == QW_TYPE_Q4_K);
            double ref = yr[tok * N + o];
            if (bf16) {
                ref = 0;
                for (int64_t k = 0; k < K; k++)
                    ref += (double)qw_bf16_to_f32(qw_f32_to_bf16(a[k])) * qw_bf16_to_f32(qw_f32_to_bf16(x[tok * K + k]));
            }
            double e = fabs((double)y[tok * N + o] - ref);
            if (e > (bf16 ? 1e-4 : 1e-5) * s + 1e-30 && !bad++)
                fprintf(stderr, "%s %s r16 N=%lld K=%lld n=%lld: y[%lld][%lld] = %g, rows %g\n", qw_cpu_level_name(level),
                        qw_type_name(t), (long long)N, (long long)K, (long long)n, (long long)tok, (long long)o,
                        y[tok * N + o], yr[tok * N + o]);
        }
    }
    CHECKF(!bad, "%s %s r16 n=%lld: %d outputs differ from the row layout's", qw_cpu_level_name(level), qw_type_name(t),
           (long long)n, bad);
    free(work), free(x), free(y), free(yr), free(a), free(b), free(p), free(back), free(w.block);
}

static void test_r16(int level) {
    static const int64_t ns[] = {1, 2, 3, 4, 5, 8, 9, 13, 16, 17}; // (the decode kernels up to 16 at avx512)
    for (int ti = 0; ti < N_TYPES; ti++) {
        qw_type t = g_types[ti];
        CHECK(qw_r16_type_ok(t));
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) check_r16(t, 48, 512, ns[i], level);
        check_r16(t, 32, 2048 + 3 * 256, 3, level); // several blocks, odd count of super-blocks
        check_r16(t, 32, 2048 + 3 * 256, 37, level); // the GEMMs: three activation tiles, the last partial
        if (qw_type_get(t)->block_size == 32) {
            check_r16(t, 32, 32 * 37, 20, level); // an odd count of blocks
            // one token, two groups at a time and a last one alone: 16 chunks of 48 rows (matmul.c's
            // MM_CHUNKS_PER_THREAD, 2 threads) and one of 16
            check_r16(t, 784, 32 * 37, 1, level);
        }
        check_r16(t, 64, 1024, 33, level); // rows in 32s (the AMX Q4_K GEMM's pairs of groups), tokens padded
        check_r16(t, 64, 256, 8, level);
        check_r16(t, 64, 512, 70, level); // the AMX-BF16 GEMM (from 64 tokens): two pairs of tiles and a part
        // ... and an odd count of blocks of K (37; Q4_K 5 super-blocks)
        check_r16(t, 64, qw_type_get(t)->block_size == 32 ? 32 * 37 : 256 * 5, 70, level);
    }
    CHECK(!qw_r16_type_ok(QW_TYPE_BF16));
}

// qw_act_quantize at this level gives qw_quantize_act_row's bytes: random rows with outliers, an
// all-zero block and a huge finite value, for both activation formats. (No NaN: the reference's float
// to int conversion of one is undefined, and UBSan says so.)
static void test_act_quantize(int level) {
    const qw_type ts[] = {QW_TYPE_Q4_0, QW_TYPE_Q4_K};
    for (int i = 0; i < 2; i++)
        for (int64_t k = 256; k <= 2048 + 256; k += 2048) {
            float *x = malloc(sizeof(float) * (size_t)k);
            size_t ab = qw_act_row_bytes(ts[i], k);
            char *want = malloc(ab), *got = malloc(ab);
            fill_x(x, k);
            for (int j = 32; j < 64; j++) x[j] = 0;
            x[130] = 3e38f;
            x[131] = -1e-30f;
            qw_quantize_act_row(ts[i], x, want, k);
            memset(got, 0x55, ab);
            qw_act_quantize(ts[i], x, got, k);
            CHECKF(memcmp(want, got, ab) == 0, "%s %s k=%lld: activation bytes differ from the reference",
                   qw_cpu_level_name(level), qw_type_name(ts[i]), (long long)k);
            free(x), free(want), free(got);
        }
}

// qw_matmul_w_many equals one qw_matmul_w per matrix exactly (x is prepared once where the type repeats,
// into the same bytes): q4_k, q4_k (r16), q6_k, bf16 rows, for decode and GEMM sizes.
static void test_many(void) {
    const int64_t K = 512;
    const qw_type ts[4] = {QW_TYPE_Q4_K, QW_TYPE_Q4_K, QW_TYPE_Q6_K, QW_TYPE_BF16};
    const int64_t Ns[4] = {48, 32, 16, 40};
    for (int64_t n = 1; n <= 17; n += 8) {
        qweights w[4];
        qw_tensor tw[4];
        const qw_tensor *pw[4];
        float *y[4], *y1 = malloc(sizeof(float) * 48 * (size_t)n), *x = malloc(sizeof(float) * (size_t)(n * K));
        size_t ws = 0;
        fill_x(x, n * K);
        for (int i = 0; i < 4; i++) {
            if (ts[i] == QW_TYPE_BF16) {
                w[i].block = malloc(2 * (size_t)(Ns[i] * K));
                w[i].W = w[i].block;
                for (int64_t j = 0; j < Ns[i] * K; j++) ((uint16_t *)w[i].W)[j] = qw_f32_to_bf16(0.02f * qw_rng_normal(&rng));
            } else {
                w[i] = make_qweights(ts[i], Ns[i], K);
            }
            tw[i] = (qw_tensor){.type = ts[i], .n_dims = 2, .shape = {Ns[i], K}, .data = w[i].W};
            if (i == 1) {
                CHECK(qw_r16_pack(ts[i], w[i].W, Ns[i], K, 1) == QW_OK);
                tw[i].layout = QW_LAYOUT_R16;
            }
            pw[i] = &tw[i];
            y[i] = malloc(sizeof(float) * (size_t)(Ns[i] * n));
            size_t b = qw_matmul_work_size(ts[i], Ns[i], K, n);
            ws = b > ws ? b : ws;
        }
        char *work = malloc(ws + 1);
        const int nth[4] = {2, 1, 2, 2};
        qw_matmul_w_many(pw, 4, x, n, y, work, nth);
        int same = 1;
        for (int i = 0; i < 4; i++) {
            qw_matmul_w(&tw[i], x, n, y1, work, nth[i]);
            same &= memcmp(y1, y[i], sizeof(float) * (size_t)(Ns[i] * n)) == 0;
            free(y[i]);
            free(w[i].block);
        }
        CHECKF(same, "n=%lld: qw_matmul_w_many differs from qw_matmul_w", (long long)n);
        free(work), free(x), free(y1);
    }
}

// A zero row of activations quantizes to d = 0 and gives exact zeros.
static void test_zero_x(void) {
    for (int ti = 0; ti < N_TYPES; ti++) {
        qw_type t = g_types[ti];
        qweights w = make_qweights(t, 3, 256);
        float x[256] = {0}, y[3] = {1, 1, 1};
        char *work = malloc(qw_matmul_work_size(t, 3, 256, 1));
        qw_matmul(t, w.W, 3, 256, x, 1, y, work, 1);
        CHECK(y[0] == 0 && y[1] == 0 && y[2] == 0);
        free(work);
        free(w.block);
    }
}

int main(void) {
    qw_rng_seed(&rng, 1234);
    int max = qw_cpu_max_level();
    for (int level = QW_ISA_SCALAR; level <= max; level++) {
        qw_cpu_set_level(level);
        printf("level %s (%s)\n", qw_cpu_level_name(level), qw_cpu_describe());
        test_dots(level);
        test_matmul(level);
        test_r16(level);
        if (level >= QW_ISA_AVX512_VNNI) { // the other datapath's decode path too (one token: pair32 or not)
            int halves = qw_cpu_set_zmm_halves(!qw_cpu()->zmm_halves);
            test_r16(level);
            qw_cpu_set_zmm_halves(halves);
        }
        test_act_quantize(level);
    }
    qw_cpu_set_level(max);
    test_zero_x();
    test_many();
    TEST_DONE();
}
