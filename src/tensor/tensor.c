// tensor: the type table and element access for the float types.
#include "tensor.h"

#include <strings.h>

#include "quant.h"

static void f32_to_f32(const void *x, float *y, int64_t k) { qw_convert_to_f32(QW_TYPE_F32, x, y, k); }
static void f16_to_f32(const void *x, float *y, int64_t k) { qw_convert_to_f32(QW_TYPE_F16, x, y, k); }
static void bf16_to_f32(const void *x, float *y, int64_t k) { qw_convert_to_f32(QW_TYPE_BF16, x, y, k); }
static void f32_from_f32(const float *x, void *y, int64_t k) { qw_convert_from_f32(QW_TYPE_F32, x, y, k); }
static void f16_from_f32(const float *x, void *y, int64_t k) { qw_convert_from_f32(QW_TYPE_F16, x, y, k); }
static void bf16_from_f32(const float *x, void *y, int64_t k) { qw_convert_from_f32(QW_TYPE_BF16, x, y, k); }

// Block sizes and bytes as GGUF defines them; quant.h asserts the struct sizes match.
static const qw_type_traits g_types[QW_TYPE_COUNT] = {
    [QW_TYPE_F32] = {"F32", 1, 4, 0, f32_to_f32, f32_from_f32, NULL},
    [QW_TYPE_F16] = {"F16", 1, 2, 0, f16_to_f32, f16_from_f32, NULL},
    [QW_TYPE_BF16] = {"BF16", 1, 2, 0, bf16_to_f32, bf16_from_f32, NULL},
    [QW_TYPE_Q4_0] = {"Q4_0", QW_QK4_0, sizeof(qw_block_q4_0), 1, qw_dequantize_row_q4_0,
                      qw_quantize_row_q4_0_ref, qw_vec_dot_q4_0_ref},
    [QW_TYPE_Q8_0] = {"Q8_0", QW_QK8_0, sizeof(qw_block_q8_0), 1, qw_dequantize_row_q8_0,
                      qw_quantize_row_q8_0_ref, qw_vec_dot_q8_0_ref},
    [QW_TYPE_Q4_K] = {"Q4_K", QW_QK_K, sizeof(qw_block_q4_k), 1, qw_dequantize_row_q4_k,
                      qw_quantize_row_q4_k_ref, qw_vec_dot_q4_k_ref},
    [QW_TYPE_Q5_K] = {"Q5_K", QW_QK_K, sizeof(qw_block_q5_k), 1, qw_dequantize_row_q5_k,
                      qw_quantize_row_q5_k_ref, qw_vec_dot_q5_k_ref},
    [QW_TYPE_Q6_K] = {"Q6_K", QW_QK_K, sizeof(qw_block_q6_k), 1, qw_dequantize_row_q6_k,
                      qw_quantize_row_q6_k_ref, qw_vec_dot_q6_k_ref},
    [QW_TYPE_IQ4_NL] = {"IQ4_NL", QW_QK4_NL, sizeof(qw_block_iq4_nl), 1, qw_dequantize_row_iq4_nl,
                        qw_quantize_row_iq4_nl_ref, qw_vec_dot_iq4_nl_ref},
};

const qw_type_traits *qw_type_get(int type) {
    if (type < 0 || type >= QW_TYPE_COUNT || !g_types[type].name) return NULL;
    return &g_types[type];
}

int qw_type_from_name(const char *name) {
    for (int t = 0; t < QW_TYPE_COUNT; t++)
        if (g_types[t].name && strcasecmp(g_types[t].name, name) == 0) return t;
    return -1;
}
const char *qw_type_name(qw_type t) {
    const qw_type_traits *tr = qw_type_get((int)t);
    return tr ? tr->name : "?";
}

size_t qw_type_row_bytes(qw_type t, int64_t n) {
    const qw_type_traits *tr = qw_type_get((int)t);
    if (!tr || n < 0 || n % tr->block_size) return 0;
    size_t out;
    if (!qw_mul_size((size_t)(n / tr->block_size), (size_t)tr->block_bytes, &out)) return 0;
    return out;
}

int64_t qw_tensor_numel(const qw_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}

int64_t qw_tensor_cols(const qw_tensor *t) { return t->n_dims ? t->shape[t->n_dims - 1] : 1; }

int64_t qw_tensor_rows(const qw_tensor *t) {
    int64_t c = qw_tensor_cols(t);
    return c ? qw_tensor_numel(t) / c : 0;
}

void qw_tensor_row_to_float(const qw_tensor *t, int64_t r, float *out) {
    const int64_t k = qw_tensor_cols(t);
    if (t->layout == QW_LAYOUT_R16) {
        qw_r16_row_to_float(t->type, t->data, k, r, out);
        return;
    }
    qw_type_get((int)t->type)->to_float((const char *)t->data + (size_t)r * qw_type_row_bytes(t->type, k), out, k);
}

float qw_tensor_get_f32(const qw_tensor *t, int64_t i) {
    switch (t->type) {
    case QW_TYPE_F32: return ((const float *)t->data)[i];
    case QW_TYPE_F16: return qw_f16_to_f32(((const uint16_t *)t->data)[i]);
    case QW_TYPE_BF16: return qw_bf16_to_f32(((const uint16_t *)t->data)[i]);
    default: QW_ASSERT(!"qw_tensor_get_f32 on a block type");
    }
    return 0;
}

void qw_convert_to_f32(qw_type t, const void *src, float *dst, int64_t n) {
    switch (t) {
    case QW_TYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case QW_TYPE_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = qw_f16_to_f32(((const uint16_t *)src)[i]);
        break;
    case QW_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = qw_bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    default: QW_ASSERT(!"qw_convert_to_f32 on a block type");
    }
}

void qw_convert_from_f32(qw_type t, const float *src, void *dst, int64_t n) {
    switch (t) {
    case QW_TYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case QW_TYPE_F16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = qw_f32_to_f16(src[i]);
        break;
    case QW_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = qw_f32_to_bf16(src[i]);
        break;
    default: QW_ASSERT(!"qw_convert_from_f32 on a block type");
    }
}
