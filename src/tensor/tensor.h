// tensor: the element types qwick knows (numbered as GGUF numbers them, so files need no mapping)
// and qw_tensor, a named view of typed data that someone else owns (a mapping or a heap block).
#ifndef QW_TENSOR_H
#define QW_TENSOR_H

#include "../base/base.h"

typedef enum {
    QW_TYPE_F32 = 0,
    QW_TYPE_F16 = 1,
    QW_TYPE_Q4_0 = 2,
    QW_TYPE_Q8_0 = 8,
    QW_TYPE_Q4_K = 12,
    QW_TYPE_Q5_K = 13,
    QW_TYPE_Q6_K = 14,
    QW_TYPE_IQ4_NL = 20,
    QW_TYPE_BF16 = 30,
    QW_TYPE_COUNT = 31,
} qw_type;

// Row converters: k elements (a multiple of the block size) to or from f32.
typedef void (*qw_to_float_fn)(const void *x, float *y, int64_t k);
typedef void (*qw_from_float_fn)(const float *x, void *y, int64_t k);

typedef struct {
    const char *name;
    int block_size;  // elements per block (1 for plain floats)
    int block_bytes; // bytes per block
    int is_quantized;
    qw_to_float_fn to_float;           // dequantize (the specification of the type's values)
    qw_from_float_fn from_float_ref;   // the reference quantizer (what qwick writes)
    // Reference dot of a row of this type with a row of activations quantized by qw_quantize_act_row
    // (quant.h); NULL for the float types. The fast kernels are in src/kernels.
    float (*vec_dot)(int64_t k, const void *x, const void *y);
} qw_type_traits;

// NULL for a number that is not a known type.
const qw_type_traits *qw_type_get(int type);
const char *qw_type_name(qw_type t);
// Case-insensitive type name ("q4_k", "F16") -> type; -1 if unknown.
int qw_type_from_name(const char *name);
// Bytes for n elements (n must be a multiple of the block size); 0 on overflow.
size_t qw_type_row_bytes(qw_type t, int64_t n);

#define QW_MAX_DIMS 4

// Shapes are written outermost first, as in PyTorch and safetensors: a Linear weight is
// {out_features, in_features} and its rows (the last dim) are contiguous.
typedef struct {
    char name[96];
    qw_type type;
    int n_dims;
    int64_t shape[QW_MAX_DIMS];
    void *data; // not owned: the owner is the file mapping or the model that made the tensor
    size_t nbytes;
    int layout; // QW_LAYOUT_*: how a quantized matrix's blocks are ordered in memory (never in a file)
} qw_tensor;

// Rows one after another, as files store them; or the 16-row interleaved layout of quant.h
// (qw_r16_pack), which a model that runs may choose in memory for faster integer kernels.
enum { QW_LAYOUT_ROWS = 0, QW_LAYOUT_R16 = 1 };

int64_t qw_tensor_numel(const qw_tensor *t);
// Number of rows (product of all dims but the last) and row length.
int64_t qw_tensor_rows(const qw_tensor *t);
int64_t qw_tensor_cols(const qw_tensor *t);
// Row r of a matrix (either layout) converted or dequantized to f32: qw_tensor_cols(t) floats.
void qw_tensor_row_to_float(const qw_tensor *t, int64_t r, float *out);
// Element i of a float tensor (F32, F16, BF16) as f32.
float qw_tensor_get_f32(const qw_tensor *t, int64_t i);
// Converts n elements of a float row (F32/F16/BF16) to f32.
void qw_convert_to_f32(qw_type t, const void *src, float *dst, int64_t n);
void qw_convert_from_f32(qw_type t, const float *src, void *dst, int64_t n);

#endif
