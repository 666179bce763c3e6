// kernels/vec: generic versions of the small vector helpers (dot, axpy, scale) and their dispatch.
// Attention and norms call these once per head or row, so dispatch is one pointer load.
#include "kernels_impl.h"

#include <math.h>

static float dot_generic(int64_t n, const float *a, const float *b) {
    float acc[8] = {0}; // 8 chains: error grows with n/8, and compilers vectorise it
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    for (; i < n; i++) acc[i & 7] += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static void axpy_generic(int64_t n, float alpha, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

static void scale_generic(int64_t n, float alpha, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] *= alpha;
}

static void silu_mul_generic(int64_t n, float *a, const float *b) {
    for (int64_t i = 0; i < n; i++) a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

static uint64_t read_generic(const void *p, size_t bytes) {
    const uint64_t *q = p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < bytes / 8; i += 4) {
        s0 += q[i];
        s1 += q[i + 1];
        s2 += q[i + 2];
        s3 += q[i + 3];
    }
    return s0 ^ s1 ^ s2 ^ s3;
}

const qw_kernel_table qw_kernels_generic = {
    .mm_plan = qw_mm_plan_generic,
    .qdot = QW_QDOT_TABLE(generic),
    .dot = dot_generic,
    .axpy = axpy_generic,
    .scale = scale_generic,
    .attn = qw_attn_rows_generic,
    .silu_mul = silu_mul_generic,
    .act_quant = qw_quantize_act_row,
    .read = {read_generic},
};

float qw_vec_dot_f32(int64_t n, const float *a, const float *b) { return qw_kernels()->dot(n, a, b); }
void qw_vec_axpy_f32(int64_t n, float alpha, const float *x, float *y) { qw_kernels()->axpy(n, alpha, x, y); }
void qw_vec_scale_f32(int64_t n, float alpha, float *y) { qw_kernels()->scale(n, alpha, y); }
void qw_vec_silu_mul_f32(int64_t n, float *a, const float *b) { qw_kernels()->silu_mul(n, a, b); }
void qw_act_quantize(qw_type wtype, const float *x, void *y, int64_t k) { qw_kernels()->act_quant(wtype, x, y, k); }
