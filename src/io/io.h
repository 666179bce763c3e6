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

#endif
