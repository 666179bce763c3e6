// io: the files a Hugging Face Qwen2 checkpoint is made of (safetensors, sharded or not, config.json,
// generation_config.json) and .npy arrays for test fixtures. Every reader treats its input as hostile.
#ifndef QW_IO_H
#define QW_IO_H

#include "../base/base.h"
#include "../tensor/tensor.h"

// ---------------------------------------------------------------------------------------------------
// safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
// data_offsets}}, then the data. Reading maps the files and points the tensors into the mappings.

typedef struct {
    int n_tensors;
    qw_tensor *tensors; // data points into the mappings (or into `copies`, see below)
    int n_files;
    qw_mmap *maps;
    char **paths;
    // Indices of tensors sorted by name, for qw_safetensors_find.
    int *by_name;
    // Tensors whose data the file leaves misaligned for their element size (writers such as MLX pad
    // nothing) are copied here once, so every tensor's data is aligned for its type. Usually NULL.
    void *copies;
} qw_safetensors;

// path: a .safetensors file, a model directory (model.safetensors preferred, as transformers does,
// else model.safetensors.index.json), or an index.json. On failure *st is left empty (close is safe).
qw_status qw_safetensors_open(qw_safetensors *st, const char *path);
// NULL if absent.
const qw_tensor *qw_safetensors_find(const qw_safetensors *st, const char *name);
void qw_safetensors_close(qw_safetensors *st);

// The header parser alone, over a buffer holding a whole file (what the fuzzer drives). On success
// *tensors is a malloc'd array (caller frees) in header order whose data points into buf; nothing is
// allocated on failure. Holes between tensors and trailing bytes are accepted; overlaps are not.
qw_status qw_safetensors_parse(const uint8_t *buf, size_t size, const char *path_for_errors,
                               qw_tensor **tensors, int *n_tensors);

// Writes one file atomically, tensors laid out in the given order with no gaps. meta_kv holds
// n_meta key/value pairs (key, value, key, value, ...) for __metadata__; transformers refuses a file
// whose metadata lacks "format": "pt", so pass it for files meant for from_pretrained. Types must be
// F32, F16 or BF16; data may be NULL only for tensors with no elements.
qw_status qw_safetensors_write(const char *path, const qw_tensor *tensors, int n,
                               const char *const *meta_kv, int n_meta);
// Writes dir/model-0000k-of-0000N.safetensors plus model.safetensors.index.json, as transformers'
// save_pretrained names them, or a single dir/model.safetensors when the data fits in one shard
// (max_shard_bytes 0: no limit). Shards are filled in the given order; a tensor larger than the
// limit gets a shard of its own. dir is created if missing. A stale model.safetensors (when writing
// shards) or index (when writing one file) is removed, since transformers would load it instead.
qw_status qw_safetensors_write_sharded(const char *dir, const qw_tensor *tensors, int n,
                                       size_t max_shard_bytes);

// ---------------------------------------------------------------------------------------------------
// config.json + generation_config.json (Hugging Face Qwen2)

typedef struct {
    char architecture[64];          // "Qwen2ForCausalLM"
    int hidden_size, intermediate_size, n_layers, n_heads, n_kv_heads, head_dim, vocab_size;
    int max_position_embeddings;
    double rope_theta;
    float rms_norm_eps;
    int tie_word_embeddings;
    qw_type dtype;                  // torch_dtype: float32/float16/bfloat16 (F32 when absent)
    int32_t bos_token_id;           // -1 if null/absent
    int n_eos; int32_t eos_ids[8];  // from config, overridden by generation_config (int or list)
    int32_t pad_token_id;           // -1 if null/absent
    // generation_config (HF's defaults when absent: do_sample false, temperature 1, top_k 50,
    // top_p 1, repetition_penalty 1)
    int gen_do_sample, gen_top_k;
    float gen_temperature, gen_top_p, gen_repetition_penalty;
} qw_config;

// Parses config.json text (len bytes, no NUL needed); path only names the file in errors. Fills
// every field, with HF Qwen2Config's defaults for absent optional ones and the generation defaults.
qw_status qw_config_parse(qw_config *c, const char *json, size_t len, const char *path);
// Overrides c's generation fields (and bos/eos/pad ids) with those present in generation_config.json.
qw_status qw_generation_config_parse(qw_config *c, const char *json, size_t len, const char *path);
// config.json required, generation_config.json optional.
qw_status qw_config_load(qw_config *c, const char *model_dir);
// Writes dir/config.json and dir/generation_config.json atomically, with the fields transformers'
// Qwen2Config and GenerationConfig read. dir is created if missing.
qw_status qw_config_write(const qw_config *c, const char *dir);

// ---------------------------------------------------------------------------------------------------
// .npy (NumPy format 1.0/2.0/3.0): little-endian float32 or int32, C order. For fixtures that
// PyTorch scripts write and tests read, and for dumps that Python checks.

#define QW_NPY_MAX_DIMS 8

typedef struct {
    char dtype[4]; // "f4" or "i4"
    int n_dims;
    int64_t shape[QW_NPY_MAX_DIMS];
    int64_t numel;
    void *data; // malloc'd, numel elements; freed by qw_npy_free
} qw_npy;

qw_status qw_npy_write_f32(const char *path, const float *data, int n_dims, const int64_t *shape);
qw_status qw_npy_write_i32(const char *path, const int32_t *data, int n_dims, const int64_t *shape);
qw_status qw_npy_read(const char *path, qw_npy *out);
void qw_npy_free(qw_npy *a);

// ---------------------------------------------------------------------------------------------------
// GGUF (ggml's single-file format, versions 2 and 3): a header, typed key/value metadata, tensor
// infos, then the tensor data, each tensor at an offset aligned to general.alignment (default 32).
// Reading maps the file and points every tensor and string into the mapping; nothing is copied but
// the keys and the table of a string array's entries.

typedef enum {
    QW_GGUF_UINT8 = 0,
    QW_GGUF_INT8 = 1,
    QW_GGUF_UINT16 = 2,
    QW_GGUF_INT16 = 3,
    QW_GGUF_UINT32 = 4,
    QW_GGUF_INT32 = 5,
    QW_GGUF_FLOAT32 = 6,
    QW_GGUF_BOOL = 7,
    QW_GGUF_STRING = 8,
    QW_GGUF_ARRAY = 9,
    QW_GGUF_UINT64 = 10,
    QW_GGUF_INT64 = 11,
    QW_GGUF_FLOAT64 = 12,
    QW_GGUF_TYPE_COUNT = 13,
} qw_gguf_type;

#define QW_GGUF_DEFAULT_ALIGNMENT 32

// A string inside the file: len bytes at s, not NUL-terminated.
typedef struct {
    const char *s;
    uint64_t len;
} qw_gguf_str;

typedef struct {
    char *key;          // NUL-terminated copy
    qw_gguf_type type;  // of the value; for arrays QW_GGUF_ARRAY and elem_type says of what
    qw_gguf_type elem_type;
    uint64_t n;         // elements of an array (1 for a scalar)
    const void *data;   // the value's bytes in the file (scalars and numeric arrays; unaligned)
    qw_gguf_str str;    // STRING value
    qw_gguf_str *strs;  // array of STRING: n entries (heap)
} qw_gguf_kv;

typedef struct {
    char *path;
    uint32_t version;
    int64_t n_kv, n_tensors;
    qw_gguf_kv *kv;           // in file order
    qw_tensor *tensors;       // in file order; shape outermost first (GGUF's ne reversed)
    uint64_t *offsets;        // (n_tensors) offset of each tensor's data from data_offset
    size_t alignment, data_offset;
    int64_t *by_name;         // tensor indices sorted by name, for qw_gguf_find_tensor
    qw_mmap map;
} qw_gguf;

// Maps and validates path. On failure *g is left empty (close is safe) and the message names the file.
qw_status qw_gguf_open(qw_gguf *g, const char *path);
void qw_gguf_close(qw_gguf *g);
// The parser alone, over a buffer holding a whole file (what the fuzzer drives); the result points
// into buf, which must outlive it. Everything is checked: magic, version, counts against the bytes
// left, string and array lengths, value types, n_dims (1..4), dims (no overflow), tensor types,
// row lengths that are a whole number of blocks, alignment, data inside the file, duplicate names
// and overlapping tensors.
qw_status qw_gguf_parse(qw_gguf *g, const uint8_t *buf, size_t size, const char *path_for_errors);

// NULL if absent.
const qw_gguf_kv *qw_gguf_find_kv(const qw_gguf *g, const char *key);
const qw_tensor *qw_gguf_find_tensor(const qw_gguf *g, const char *name);
// Typed getters: QW_OK, or QW_ERR_FORMAT (naming the key) when the key is absent or its value does
// not fit. Integers of any GGUF width are accepted where they fit in the result.
qw_status qw_gguf_get_i64(const qw_gguf *g, const char *key, int64_t *out);
qw_status qw_gguf_get_f64(const qw_gguf *g, const char *key, double *out); // any number
qw_status qw_gguf_get_str(const qw_gguf *g, const char *key, qw_gguf_str *out);
// Element i of a numeric array as int64 (as double for floats); QW_ASSERT on a bad index.
int64_t qw_gguf_arr_i64(const qw_gguf_kv *kv, uint64_t i);
double qw_gguf_arr_f64(const qw_gguf_kv *kv, uint64_t i);
// Bytes of one element of a fixed-size GGUF type; 0 for STRING, ARRAY and unknown types.
size_t qw_gguf_type_size(qw_gguf_type t);

// Writing: collect metadata and tensors, then write the file atomically in one pass. Keys and
// strings are copied at once; tensor data is read only when written, either from data (which must
// stay valid until qw_gguf_write returns) or produced by fill, so a converter never holds the whole
// output model in memory.
typedef struct qw_gguf_writer qw_gguf_writer;
typedef qw_status (*qw_gguf_fill_fn)(void *ctx, int64_t index, void *dst, size_t nbytes);

qw_status qw_gguf_writer_init(qw_gguf_writer **w);
void qw_gguf_writer_free(qw_gguf_writer *w);
// Scalars. A key set twice keeps its first value and makes qw_gguf_write fail.
void qw_gguf_set_u32(qw_gguf_writer *w, const char *key, uint32_t v);
void qw_gguf_set_i32(qw_gguf_writer *w, const char *key, int32_t v);
void qw_gguf_set_u64(qw_gguf_writer *w, const char *key, uint64_t v);
void qw_gguf_set_f32(qw_gguf_writer *w, const char *key, float v);
void qw_gguf_set_bool(qw_gguf_writer *w, const char *key, int v);
void qw_gguf_set_str(qw_gguf_writer *w, const char *key, const char *v);
// Any scalar type from raw little-endian bytes (type not STRING/ARRAY).
void qw_gguf_set_val(qw_gguf_writer *w, const char *key, qw_gguf_type type, const void *v);
// Arrays of a fixed-size type (n elements at data) or of NUL-terminated strings.
void qw_gguf_set_arr(qw_gguf_writer *w, const char *key, qw_gguf_type elem, const void *data, uint64_t n);
void qw_gguf_set_arr_str(qw_gguf_writer *w, const char *key, const char *const *strs, uint64_t n);
// A tensor: name, type and shape (outermost first, as qw_tensor) from t; bytes from t->data, or from
// fill(ctx, index, dst, nbytes) when fill is not NULL. Returns the tensor's index.
int64_t qw_gguf_add_tensor(qw_gguf_writer *w, const qw_tensor *t, qw_gguf_fill_fn fill, void *ctx);
// Writes GGUF v3 with general.alignment (default 32) to path atomically.
qw_status qw_gguf_write(qw_gguf_writer *w, const char *path);

#endif
