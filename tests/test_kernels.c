// tests/test_kernels: every dispatch level this CPU has, checked against the scalar specification on
// random data of awkward sizes (matmul for F32/F16/BF16 weights, vector helpers), in one program.
#include "../src/kernels/kernels.h"
#include "test.h"

#include <float.h>

static qw_rng rng;

// Weights as a caller would hand them: at a 2-byte offset (safetensors data may sit anywhere) and at
// the very end of their allocation, so the sanitizer sees any read past the last row.
typedef struct {
    char *block;
    void *W;
} weights;

static weights make_weights(qw_type t, int64_t N, int64_t K, float scale) {
    size_t rb = qw_type_row_bytes(t, K), bytes = rb * (size_t)N;
    weights w;
    w.block = malloc(bytes + 2);
    w.W = w.block + 2;
    float *tmp = malloc(sizeof(float) * (size_t)(K > 0 ? K : 1));
    for (int64_t o = 0; o < N; o++) {
        for (int64_t k = 0; k < K; k++) tmp[k] = scale * qw_rng_normal(&rng);
        qw_convert_from_f32(t, tmp, (char *)w.W + (size_t)o * rb, K);
    }
    free(tmp);
    return w;
}

static void set_weight(qw_type t, void *W, int64_t i, float v) {
    qw_convert_from_f32(t, &v, (char *)W + (size_t)i * (t == QW_TYPE_F32 ? 4 : 2), 1);
}

// sum_k |w||x| per output: the scale every error bound below is relative to.
static void abs_ref(qw_type t, const void *W, int64_t N, int64_t K, const float *x, int64_t n, float *s) {
    float *wa = malloc(sizeof(float) * (size_t)(N * K + 1)), *xa = malloc(sizeof(float) * (size_t)(n * K + 1));
    qw_convert_to_f32(t, W, wa, N * K);
    for (int64_t i = 0; i < N * K; i++) wa[i] = fabsf(wa[i]);
    for (int64_t i = 0; i < n * K; i++) xa[i] = fabsf(x[i]);
    qw_matmul_ref(QW_TYPE_F32, wa, N, K, xa, n, s);
    free(wa);
    free(xa);
}

static int failures_reported = 0;

// One matmul case at the current level and nth threads, against the reference.
// Error bounds, relative to S = sum |w||x| of the output:
// - f32 paths: every kernel keeps at least 8 independent partial sums per dot (the generic C code 8,
//   the SIMD ones 8-32 lanes), so each sum is a chain of at most K/8 + 16 roundings of 2^-24 (plus
//   the final tree and chunk adds), each bounded by 2^-24 S: tol = (K/8 + 16) 2^-24 S.
// - the vdpbf16ps path (BF16 weights, n >= 2) rounds x to bf16 first: compared with the reference on
//   the rounded x (x_b) the same bound holds, products of bf16 being exact in f32. Against the true
//   reference it adds |w||x - x_b| <= 2^-9 S; the test checks the tight bound against either ref.
static void check_case(qw_type t, int64_t N, int64_t K, int64_t n, int nth, const char *what) {
    weights w = make_weights(t, N, K, 1.0f);
    float *x = malloc(sizeof(float) * (size_t)(n * K + 1));
    float *xb = malloc(sizeof(float) * (size_t)(n * K + 1));
    for (int64_t i = 0; i < n * K; i++) {
        x[i] = qw_rng_normal(&rng);
        xb[i] = qw_bf16_to_f32(qw_f32_to_bf16(x[i]));
    }
    // A NaN at the start of row 1 must stay in row 1: a kernel that reads a pair past the end of row
    // 0 (odd K) and multiplies it by zero padding would spread it.
    int poison = N >= 3 && K >= 1;
    if (poison) set_weight(t, w.W, 1 * K + 0, NAN);
    float *ref = malloc(sizeof(float) * (size_t)(N * n)), *refb = malloc(sizeof(float) * (size_t)(N * n));
    float *S = malloc(sizeof(float) * (size_t)(N * n));
    qw_matmul_ref(t, w.W, N, K, x, n, ref);
    qw_matmul_ref(t, w.W, N, K, xb, n, refb);
    abs_ref(t, w.W, N, K, x, n, S);
    size_t ws = qw_matmul_work_size(t, N, K, n);
    char *work = ws ? malloc(ws + 8) : NULL;
    float *y = malloc(sizeof(float) * (size_t)(N * n + 16));
    for (int64_t i = 0; i < N * n + 16; i++) y[i] = -777.0f; // canaries past the end
    qw_matmul(t, w.W, N, K, x, n, y, work ? work + 8 : NULL, nth);
    int bad = 0;
    double worst = 0;
    for (int64_t t_ = 0; t_ < n; t_++)
        for (int64_t o = 0; o < N; o++) {
            int64_t i = t_ * N + o;
            if (poison && o == 1) {
                if (!isnan(y[i])) bad++;
                continue;
            }
            double tol = ((double)K / 8 + 16) * ldexp(1.0, -24) * S[i] + FLT_MIN;
            double e1 = fabs((double)y[i] - ref[i]), e2 = fabs((double)y[i] - refb[i]);
            double e = e1 < e2 ? e1 : e2;
            if (!(e <= tol)) {
                bad++;
                if (e / tol > worst || isnan(e)) worst = isnan(e) ? INFINITY : e / tol;
                if (bad <= 3 && failures_reported < 30) {
                    failures_reported++;
                    fprintf(stderr, "  %s %s N=%lld K=%lld n=%lld nth=%d: y[%lld][%lld] = %.9g, ref %.9g, ref(bf16 x) %.9g, tol %.3g\n",
                            what, qw_type_name(t), (long long)N, (long long)K, (long long)n, nth, (long long)t_,
                            (long long)o, y[i], ref[i], refb[i], tol);
                }
            }
        }
    for (int i = 0; i < 16; i++) bad += y[N * n + i] != -777.0f;
    CHECKF(bad == 0, "%s %s N=%lld K=%lld n=%lld nth=%d: %d wrong (worst %.3g x tol)", what, qw_type_name(t),
           (long long)N, (long long)K, (long long)n, nth, bad, worst);
    free(work);
    free(y);
    free(S);
    free(refb);
    free(ref);
    free(xb);
    free(x);
    free(w.block);
}

static void test_matmul_level(const char *lv) {
    static const qw_type types[] = {QW_TYPE_F32, QW_TYPE_F16, QW_TYPE_BF16};
    for (int ti = 0; ti < 3; ti++) {
        qw_type t = types[ti];
        // every n from 1 to 17 on a few awkward shapes
        static const int64_t NK[][2] = {{1, 1}, {3, 2}, {7, 31}, {13, 33}, {33, 65}, {19, 1031}, {67, 100}};
        for (size_t s = 0; s < sizeof NK / sizeof NK[0]; s++)
            for (int64_t n = 1; n <= 17; n++) check_case(t, NK[s][0], NK[s][1], n, 1 + (int)(n % 3), lv);
        // K around the vector and pair widths, odd and even
        for (int64_t K = 1; K <= 70; K += 3) check_case(t, 5, K, 3, 1, lv);
        for (int64_t K = 2; K <= 70; K += 7) check_case(t, 9, K, 1, 2, lv);
        // larger: tiles, K blocks and token groups with tails
        check_case(t, 37, 1000, 40, 2, lv);
        check_case(t, 130, 513, 100, 2, lv);
        check_case(t, 64, 2048, 1, 2, lv);
        check_case(t, 64, 2048, 33, 2, lv);
        check_case(t, 24, 4099, 70, 3, lv);
        check_case(t, 41, 257, 300, 2, lv);
        check_case(t, 256, 128, 512, 2, lv);
    }
}

static void test_ref_by_hand(void) {
    // W (2x3) = [[1, 2, 3], [-1, 0.5, 4]], x (2 tokens) = [[1, 1, 1], [2, 0, -1]]
    float wf[6] = {1, 2, 3, -1, 0.5f, 4}, x[6] = {1, 1, 1, 2, 0, -1}, y[4];
    uint16_t wh[6], wb[6];
    qw_convert_from_f32(QW_TYPE_F16, wf, wh, 6);
    qw_convert_from_f32(QW_TYPE_BF16, wf, wb, 6);
    const void *ws[3] = {wf, wh, wb};
    qw_type ts[3] = {QW_TYPE_F32, QW_TYPE_F16, QW_TYPE_BF16};
    for (int i = 0; i < 3; i++) {
        qw_matmul_ref(ts[i], ws[i], 2, 3, x, 2, y);
        CHECK(y[0] == 6 && y[1] == 3.5f && y[2] == -1 && y[3] == -6);
    }
}

static void test_vec(const char *lv) {
    for (int64_t n = 0; n <= 300; n += (n < 70 ? 1 : 23)) {
        float *a = malloc(sizeof(float) * (size_t)(n + 1)), *b = malloc(sizeof(float) * (size_t)(n + 1));
        float *y = malloc(sizeof(float) * (size_t)(n + 1));
        double d = 0, s = 0;
        for (int64_t i = 0; i < n; i++) {
            a[i] = qw_rng_normal(&rng);
            b[i] = qw_rng_normal(&rng);
            d += (double)a[i] * b[i];
            s += fabs((double)a[i] * b[i]);
        }
        // same chain-length bound as matmul
        CHECKF(fabs(qw_vec_dot_f32(n, a, b) - d) <= ((double)n / 8 + 16) * ldexp(1.0, -24) * s, "%s dot n=%lld", lv,
               (long long)n);
        memcpy(y, b, sizeof(float) * (size_t)n);
        y[n] = 12345.0f;
        qw_vec_axpy_f32(n, 0.75f, a, y);
        int bad = y[n] != 12345.0f;
        for (int64_t i = 0; i < n; i++) bad += fabsf(y[i] - (b[i] + 0.75f * a[i])) > 1e-6f * (fabsf(b[i]) + fabsf(a[i]));
        qw_vec_scale_f32(n, -2.5f, y);
        for (int64_t i = 0; i < n; i++) bad += fabsf(y[i] + 2.5f * (b[i] + 0.75f * a[i])) > 1e-5f * (fabsf(b[i]) + fabsf(a[i]));
        bad += y[n] != 12345.0f;
        CHECKF(bad == 0, "%s axpy/scale n=%lld: %d wrong", lv, (long long)n, bad);
        // silu(a) * b against double, a over [-30, 30] (both tails of the sigmoid) and a few extremes;
        // the element past n stays untouched
        for (int64_t i = 0; i < n; i++) a[i] = i % 17 == 5 ? (i % 2 ? -100.0f : 100.0f) : 30.0f * (2 * qw_rng_uniform(&rng) - 1);
        memcpy(y, a, sizeof(float) * (size_t)n);
        y[n] = 12345.0f;
        qw_vec_silu_mul_f32(n, y, b);
        bad = y[n] != 12345.0f;
        for (int64_t i = 0; i < n; i++) {
            double want = (double)a[i] / (1.0 + exp(-(double)a[i])) * b[i];
            bad += fabs(y[i] - want) > 4e-7 * fabs(want) + 1e-37;
        }
        CHECKF(bad == 0, "%s silu_mul n=%lld: %d wrong", lv, (long long)n, bad);
        free(a);
        free(b);
        free(y);
    }
}

// Tiled attention against the double reference: rows of one head group with different last keys
// (a prefill block's causal staircase, rows ending before or inside a later tile), head sizes with and
// without the SIMD paths, contexts across several tiles, random data with a few large scores.
static void test_attn(const char *lv) {
    static const int hds[] = {128, 64, 48, 40};
    static const int Rs[] = {1, 2, 3, 7, 16, 64};
    for (size_t ih = 0; ih < sizeof hds / sizeof hds[0]; ih++)
        for (size_t ir = 0; ir < sizeof Rs / sizeof Rs[0]; ir++) {
            int hd = hds[ih], R = Rs[ir];
            int n_keys = 1 + (int)(qw_rng_u64(&rng) % 300);
            int64_t ld = hd * 3 + 4; // the cache holds other heads between one key's rows
            float *K = malloc(sizeof(float) * (size_t)(n_keys * ld)), *V = malloc(sizeof(float) * (size_t)(n_keys * ld));
            float *qb = malloc(sizeof(float) * (size_t)(R * hd)), *ob = malloc(sizeof(float) * (size_t)(2 * R * hd));
            float *scratch = qw_malloc_aligned(sizeof(float) * qw_attn_scratch_floats(R, hd));
            const float *q[QW_ATTN_MAX_ROWS];
            float *o[QW_ATTN_MAX_ROWS], *oref[QW_ATTN_MAX_ROWS];
            int32_t last[QW_ATTN_MAX_ROWS];
            for (int64_t i = 0; i < n_keys * ld; i++) {
                K[i] = qw_rng_normal(&rng);
                V[i] = qw_rng_normal(&rng);
            }
            for (int i = 0; i < R * hd; i++) qb[i] = 0.3f * qw_rng_normal(&rng) * (i % 17 == 0 ? 8.0f : 1.0f);
            for (int r = 0; r < R; r++) {
                q[r] = qb + r * hd;
                o[r] = ob + r * hd;
                oref[r] = ob + (R + r) * hd;
                // alternate a staircase ending at the last key with arbitrary earlier ends
                last[r] = r % 2 ? n_keys - 1 - (R - 1 - r) / 2 : (int32_t)(qw_rng_u64(&rng) % (uint64_t)n_keys);
                if (last[r] < 0) last[r] = 0;
            }
            float scale = 1.0f / sqrtf((float)hd);
            qw_attn_rows(R, hd, q, last, K, V, ld, scale, o, scratch);
            qw_attn_rows_ref(R, hd, q, last, K, V, ld, scale, oref);
            double worst = 0;
            for (int r = 0; r < R; r++)
                for (int d = 0; d < hd; d++) {
                    double e = fabs((double)o[r][d] - oref[r][d]) / (fabs(oref[r][d]) + 0.05);
                    if (e > worst) worst = e;
                }
            CHECKF(worst < 2e-5, "%s attention hd=%d R=%d keys=%d: rel error %.3g", lv, hd, R, n_keys, worst);
            free(K);
            free(V);
            free(qb);
            free(ob);
            qw_free_aligned(scratch);
        }
}

static void test_cpu(void) {
    const qw_cpu_features *f = qw_cpu();
    int max = qw_cpu_max_level();
    CHECK(max >= QW_ISA_SCALAR && max <= QW_ISA_AMX);
    CHECK(qw_cpu_level() <= max);
    printf("cpu: %s (max level %s)\n", qw_cpu_describe(), qw_cpu_level_name(max));
    CHECK(qw_cpu_set_level(QW_ISA_SCALAR) == QW_ISA_SCALAR);
    CHECK(f->avx2 == 0 && f->avx512f == 0);
    CHECK(strcmp(qw_cpu_describe(), "scalar") == 0);
    CHECK(qw_cpu_set_level(99) == max);
    if (max >= QW_ISA_AVX512) CHECK(f->avx512f && f->avx512bw && f->avx2);
    // each level holds exactly its features: VNNI from AVX512_VNNI on, BF16 from AVX512_BF16 on (a CPU
    // with VNNI and no BF16, as Ice Lake, must reach the VNNI kernels)
    CHECK(f->avx512vnni == (max >= QW_ISA_AVX512_VNNI) && f->avx512bf16 == (max >= QW_ISA_AVX512_BF16));
    if (max >= QW_ISA_AVX512_VNNI) {
        CHECK(qw_cpu_set_level(QW_ISA_AVX512_VNNI) == QW_ISA_AVX512_VNNI);
        CHECK(f->avx512vnni && !f->avx512bf16 && !f->amx);
        CHECK(strcmp(qw_cpu_describe(), "avx512 (vnni)") == 0);
        CHECK(qw_cpu_set_level(QW_ISA_AVX512) == QW_ISA_AVX512);
        CHECK(!f->avx512vnni && f->avx512f);
        qw_cpu_set_level(99);
    }
}

int main(void) {
    qw_rng_seed(&rng, 1234);
    test_cpu();
    test_ref_by_hand();
    for (int lv = QW_ISA_SCALAR; lv <= qw_cpu_max_level(); lv++) {
        CHECK(qw_cpu_set_level(lv) == lv);
        printf("level %s: %s\n", qw_cpu_level_name(lv), qw_cpu_describe());
        test_vec(qw_cpu_level_name(lv));
        test_attn(qw_cpu_level_name(lv));
        test_matmul_level(qw_cpu_level_name(lv));
        double gbs = qw_measure_bandwidth((size_t)16 << 20, 2, 1);
        CHECK(gbs > 0 && isfinite(gbs));
    }
    TEST_DONE();
}
