// tensor: the type table and element access for the float types.
#include "tensor.h"

static const qw_type_traits g_types[QW_TYPE_COUNT] = {
    [QW_TYPE_F32] = {"F32", 1, 4},        [QW_TYPE_F16] = {"F16", 1, 2},
    [QW_TYPE_Q4_0] = {"Q4_0", 32, 18},    [QW_TYPE_Q8_0] = {"Q8_0", 32, 34},
    [QW_TYPE_Q4_K] = {"Q4_K", 256, 144},  [QW_TYPE_Q5_K] = {"Q5_K", 256, 176},
    [QW_TYPE_Q6_K] = {"Q6_K", 256, 210},  [QW_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18},
    [QW_TYPE_BF16] = {"BF16", 1, 2},
};

const qw_type_traits *qw_type_get(int type) {
    if (type < 0 || type >= QW_TYPE_COUNT || !g_types[type].name) return NULL;
    return &g_types[type];
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
