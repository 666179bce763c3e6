// io/config: reads and writes Hugging Face Qwen2 config.json and generation_config.json, refusing
// clearly what qwick cannot run rather than running it wrong.
#include "io_internal.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>

#define CFG_MAX_FILE ((size_t)16 << 20)
#define CFG_MAX_SIZE (1 << 20) // widths, layers, positions
#define CFG_MAX_VOCAB (1 << 22)

static const char *cfg_type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "invalid";
}

// Absent and null both mean "not given", as they do for transformers.
static const cJSON *cfg_get(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int cfg_is_int(const cJSON *v, int64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0)) return 0;
    int64_t i = (int64_t)d;
    if ((double)i != d) return 0;
    *out = i;
    return 1;
}

// An integer in [lo, hi]; def when absent (required: absent is an error).
static qw_status cfg_int(const cJSON *o, const char *path, const char *key, int required, int def, int lo,
                         int hi, int *out) {
    const cJSON *v = cfg_get(o, key);
    if (!v) {
        if (required) return qw_error(QW_ERR_FORMAT, "%s: missing required field \"%s\"", path, key);
        *out = def;
        return QW_OK;
    }
    int64_t i;
    if (!cfg_is_int(v, &i))
        return qw_error(QW_ERR_FORMAT, "%s: \"%s\" must be an integer, not %s", path, key, cfg_type_name(v));
    if (i < lo || i > hi)
        return qw_error(QW_ERR_FORMAT, "%s: \"%s\" is %lld; it must be in [%d, %d]", path, key, (long long)i,
                        lo, hi);
    *out = (int)i;
    return QW_OK;
}

static qw_status cfg_num(const cJSON *o, const char *path, const char *key, double def, double *out) {
    const cJSON *v = cfg_get(o, key);
    if (!v) {
        *out = def;
        return QW_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return qw_error(QW_ERR_FORMAT, "%s: \"%s\" must be a finite number, not %s", path, key,
                        cfg_type_name(v));
    *out = v->valuedouble;
    return QW_OK;
}

static qw_status cfg_bool(const cJSON *o, const char *path, const char *key, int def, int *out) {
    const cJSON *v = cfg_get(o, key);
    if (!v) {
        *out = def;
        return QW_OK;
    }
    if (!cJSON_IsBool(v))
        return qw_error(QW_ERR_FORMAT, "%s: \"%s\" must be true or false, not %s", path, key,
                        cfg_type_name(v));
    *out = cJSON_IsTrue(v);
    return QW_OK;
}

// A token id must index the vocabulary (when its size is known).
static qw_status cfg_token(const cJSON *v, const char *path, const char *key, int vocab, int32_t *out) {
    int64_t i;
    if (!cfg_is_int(v, &i))
        return qw_error(QW_ERR_FORMAT, "%s: \"%s\" must be a token id, not %s", path, key, cfg_type_name(v));
    if (i < 0 || i > INT32_MAX || (vocab > 0 && i >= vocab))
        return qw_error(QW_ERR_FORMAT, "%s: \"%s\" %lld is not a token id (vocab_size %d)", path, key,
                        (long long)i, vocab);
    *out = (int32_t)i;
    return QW_OK;
}

// bos/pad: an id, or null/absent (leaves *out alone).
static qw_status cfg_token_opt(const cJSON *o, const char *path, const char *key, int vocab, int32_t *out) {
    const cJSON *v = cfg_get(o, key);
    return v ? cfg_token(v, path, key, vocab, out) : QW_OK;
}

// eos_token_id: an id or a list of ids; null/absent leaves the ids alone.
static qw_status cfg_eos(const cJSON *o, const char *path, int vocab, int *n, int32_t *ids) {
    const cJSON *v = cfg_get(o, "eos_token_id");
    if (!v) return QW_OK;
    if (!cJSON_IsArray(v)) {
        QW_TRY(cfg_token(v, path, "eos_token_id", vocab, &ids[0]));
        *n = 1;
        return QW_OK;
    }
    int m = cJSON_GetArraySize(v);
    if (m > 8)
        return qw_error(QW_ERR_UNSUPPORTED, "%s: \"eos_token_id\" lists %d ids; qwick keeps at most 8", path,
                        m);
    int32_t tmp[8];
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next)
        QW_TRY(cfg_token(e, path, "eos_token_id", vocab, &tmp[i++]));
    memcpy(ids, tmp, sizeof tmp);
    *n = m;
    return QW_OK;
}

static int cfg_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static qw_status cfg_parse_json(const char *json, size_t len, const char *path, cJSON **root) {
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!*root) {
        if (!end || end < json || end > json + len) end = json;
        int line = 1, col = 1;
        for (const char *p = json; p < end; p++) {
            if (*p == '\n')
                line++, col = 1;
            else
                col++;
        }
        return qw_error(QW_ERR_FORMAT, "%s: malformed JSON at line %d, column %d", path, line, col);
    }
    for (const char *p = end; p < json + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(*root);
            *root = NULL;
            return qw_error(QW_ERR_FORMAT, "%s: unexpected text after the JSON object (byte %zu)", path,
                            (size_t)(p - json));
        }
    }
    if (!cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        return qw_error(QW_ERR_FORMAT, "%s: not a JSON object", path);
    }
    // Python keeps the last of two equal keys and cJSON finds the first: refuse rather than guess
    int n = cJSON_GetArraySize(*root);
    const char **keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    if (!keys) {
        cJSON_Delete(*root);
        *root = NULL;
        return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    }
    int k = 0;
    for (const cJSON *e = (*root)->child; e; e = e->next) keys[k++] = e->string;
    qsort(keys, (size_t)n, sizeof *keys, cfg_cmp_str);
    qw_status s = QW_OK;
    for (int i = 1; i < n && s == QW_OK; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            s = qw_error(QW_ERR_FORMAT, "%s: key \"%.60s\" appears twice", path, keys[i]);
    free(keys);
    if (s != QW_OK) {
        cJSON_Delete(*root);
        *root = NULL;
    }
    return s;
}

static void cfg_set_generation_defaults(qw_config *c) {
    c->gen_do_sample = 0;
    c->gen_temperature = 1.0f;
    c->gen_top_k = 50;
    c->gen_top_p = 1.0f;
    c->gen_repetition_penalty = 1.0f;
}

// What qwick does not run, refused by name before any size is looked at.
static qw_status cfg_check_supported(const cJSON *o, const char *path, qw_config *c) {
    const cJSON *arch = cfg_get(o, "architectures");
    const cJSON *mt = cfg_get(o, "model_type");
    if (!arch && !mt)
        return qw_error(QW_ERR_FORMAT, "%s: neither \"architectures\" nor \"model_type\" is given", path);
    snprintf(c->architecture, sizeof c->architecture, "Qwen2ForCausalLM");
    if (arch) {
        if (!cJSON_IsArray(arch) || !cJSON_IsString(arch->child))
            return qw_error(QW_ERR_FORMAT, "%s: \"architectures\" must be a list of names", path);
        const char *a = arch->child->valuestring;
        if (strcmp(a, "Qwen2ForCausalLM") != 0)
            return qw_error(QW_ERR_UNSUPPORTED,
                            "%s: %.80s is not supported: qwick runs Qwen2 (Qwen2ForCausalLM)", path, a);
    }
    if (mt) {
        if (!cJSON_IsString(mt)) return qw_error(QW_ERR_FORMAT, "%s: \"model_type\" must be a string", path);
        if (strcmp(mt->valuestring, "qwen2") != 0)
            return qw_error(QW_ERR_UNSUPPORTED,
                            "%s: model_type %.80s is not supported: qwick runs Qwen2 (qwen2)", path,
                            mt->valuestring);
    }

    const cJSON *act = cfg_get(o, "hidden_act");
    if (act && !cJSON_IsString(act))
        return qw_error(QW_ERR_FORMAT, "%s: \"hidden_act\" must be a string", path);
    if (act && strcmp(act->valuestring, "silu") != 0 && strcmp(act->valuestring, "swish") != 0)
        return qw_error(QW_ERR_UNSUPPORTED, "%s: hidden_act %.40s is not supported: qwick implements silu",
                        path, act->valuestring);

    // rope_scaling (and transformers 5's rope_parameters): only plain RoPE
    const char *keys[2] = {"rope_scaling", "rope_parameters"};
    for (int k = 0; k < 2; k++) {
        const cJSON *rs = cfg_get(o, keys[k]);
        if (!rs) continue;
        if (!cJSON_IsObject(rs))
            return qw_error(QW_ERR_FORMAT, "%s: \"%s\" must be an object or null", path, keys[k]);
        const cJSON *ty = cfg_get(rs, "rope_type");
        if (!ty) ty = cfg_get(rs, "type");
        if (ty && !cJSON_IsString(ty))
            return qw_error(QW_ERR_FORMAT, "%s: %s type must be a string", path, keys[k]);
        const char *name = ty ? ty->valuestring : k == 0 ? "(unnamed)" : "default";
        if (strcmp(name, "default") != 0)
            return qw_error(
                QW_ERR_UNSUPPORTED,
                "%s: %s of type %.40s is not supported: qwick does not yet implement yarn/dynamic/linear "
                "RoPE scaling",
                path, keys[k], name);
    }

    int sw;
    QW_TRY(cfg_bool(o, path, "use_sliding_window", 0, &sw));
    if (sw)
        return qw_error(QW_ERR_UNSUPPORTED,
                        "%s: use_sliding_window is true: qwick does not implement sliding-window "
                        "attention",
                        path);
    const cJSON *lt = cfg_get(o, "layer_types");
    if (lt) {
        if (!cJSON_IsArray(lt)) return qw_error(QW_ERR_FORMAT, "%s: \"layer_types\" must be a list", path);
        for (const cJSON *e = lt->child; e; e = e->next)
            if (!cJSON_IsString(e) || strcmp(e->valuestring, "full_attention") != 0)
                return qw_error(QW_ERR_UNSUPPORTED,
                                "%s: layer_types has %.40s: qwick implements full_attention only", path,
                                cJSON_IsString(e) ? e->valuestring : cfg_type_name(e));
    }
    int bias;
    QW_TRY(cfg_bool(o, path, "attention_bias", 1, &bias));
    if (!bias)
        return qw_error(QW_ERR_UNSUPPORTED, "%s: attention_bias is false: qwick's Qwen2 has q/k/v biases",
                        path);
    const cJSON *q = cfg_get(o, "quantization_config");
    if (q) {
        const cJSON *m = cJSON_IsObject(q) ? cfg_get(q, "quant_method") : NULL;
        return qw_error(QW_ERR_UNSUPPORTED,
                        "%s: quantization_config (%.40s) is not supported: qwick reads float checkpoints",
                        path, cJSON_IsString(m) ? m->valuestring : "unknown method");
    }
    return QW_OK;
}

static qw_status cfg_parse_object(qw_config *c, const cJSON *o, const char *path) {
    memset(c, 0, sizeof *c);
    QW_TRY(cfg_check_supported(o, path, c));

    QW_TRY(cfg_int(o, path, "hidden_size", 1, 0, 1, CFG_MAX_SIZE, &c->hidden_size));
    QW_TRY(cfg_int(o, path, "intermediate_size", 1, 0, 1, CFG_MAX_SIZE, &c->intermediate_size));
    QW_TRY(cfg_int(o, path, "num_hidden_layers", 1, 0, 1, CFG_MAX_SIZE, &c->n_layers));
    QW_TRY(cfg_int(o, path, "num_attention_heads", 1, 0, 1, CFG_MAX_SIZE, &c->n_heads));
    QW_TRY(cfg_int(o, path, "num_key_value_heads", 0, c->n_heads, 1, CFG_MAX_SIZE, &c->n_kv_heads));
    QW_TRY(cfg_int(o, path, "vocab_size", 1, 0, 1, CFG_MAX_VOCAB, &c->vocab_size));
    QW_TRY(
        cfg_int(o, path, "max_position_embeddings", 0, 32768, 1, CFG_MAX_SIZE, &c->max_position_embeddings));
    // head_dim given explicitly (pruned heads, Qwen3-style configs) need not divide hidden_size
    if (cfg_get(o, "head_dim")) {
        QW_TRY(cfg_int(o, path, "head_dim", 0, 0, 1, CFG_MAX_SIZE, &c->head_dim));
    } else {
        if (c->hidden_size % c->n_heads)
            return qw_error(QW_ERR_FORMAT, "%s: hidden_size %d is not divisible by num_attention_heads %d",
                            path, c->hidden_size, c->n_heads);
        c->head_dim = c->hidden_size / c->n_heads;
    }
    if (c->head_dim % 2)
        return qw_error(QW_ERR_FORMAT, "%s: head_dim %d is odd; RoPE rotates pairs of dimensions", path,
                        c->head_dim);
    if (c->n_heads % c->n_kv_heads)
        return qw_error(QW_ERR_FORMAT,
                        "%s: num_attention_heads %d is not divisible by num_key_value_heads %d", path,
                        c->n_heads, c->n_kv_heads);
    if ((int64_t)c->n_heads * c->head_dim > CFG_MAX_SIZE)
        return qw_error(QW_ERR_FORMAT, "%s: num_attention_heads %d x head_dim %d is too large", path,
                        c->n_heads, c->head_dim);

    // transformers 5 moves rope_theta into rope_parameters
    const cJSON *rp = cfg_get(o, "rope_parameters");
    QW_TRY(cfg_num(o, path, "rope_theta", 10000.0, &c->rope_theta));
    if (!cfg_get(o, "rope_theta") && rp) QW_TRY(cfg_num(rp, path, "rope_theta", 10000.0, &c->rope_theta));
    if (!(c->rope_theta > 0))
        return qw_error(QW_ERR_FORMAT, "%s: rope_theta %g must be positive", path, c->rope_theta);
    double eps;
    QW_TRY(cfg_num(o, path, "rms_norm_eps", 1e-6, &eps));
    c->rms_norm_eps = (float)eps;
    if (!(c->rms_norm_eps > 0 && eps < 1)) // judged as the float the model uses: 1e-46 is 0 there
        return qw_error(QW_ERR_FORMAT, "%s: rms_norm_eps %g must be in (0, 1) as a float", path, eps);
    QW_TRY(cfg_bool(o, path, "tie_word_embeddings", 0, &c->tie_word_embeddings));

    const char *dkey = cfg_get(o, "torch_dtype") ? "torch_dtype" : "dtype"; // transformers 4.56 renamed it
    const cJSON *dt = cfg_get(o, dkey);
    c->dtype = QW_TYPE_F32;
    if (dt) {
        if (!cJSON_IsString(dt)) return qw_error(QW_ERR_FORMAT, "%s: \"%s\" must be a string", path, dkey);
        if (strcmp(dt->valuestring, "bfloat16") == 0)
            c->dtype = QW_TYPE_BF16;
        else if (strcmp(dt->valuestring, "float16") == 0)
            c->dtype = QW_TYPE_F16;
        else if (strcmp(dt->valuestring, "float32") != 0)
            return qw_error(QW_ERR_UNSUPPORTED, "%s: %s %.40s is not supported (float32, float16, bfloat16)",
                            path, dkey, dt->valuestring);
    }

    c->bos_token_id = -1;
    c->pad_token_id = -1;
    QW_TRY(cfg_token_opt(o, path, "bos_token_id", c->vocab_size, &c->bos_token_id));
    QW_TRY(cfg_token_opt(o, path, "pad_token_id", c->vocab_size, &c->pad_token_id));
    QW_TRY(cfg_eos(o, path, c->vocab_size, &c->n_eos, c->eos_ids));
    cfg_set_generation_defaults(c);
    return QW_OK;
}

qw_status qw_config_parse(qw_config *c, const char *json, size_t len, const char *path) {
    cJSON *root;
    memset(c, 0, sizeof *c);
    QW_TRY(cfg_parse_json(json, len, path, &root));
    qw_config tmp;
    qw_status s = cfg_parse_object(&tmp, root, path);
    cJSON_Delete(root);
    if (s == QW_OK) *c = tmp;
    return s;
}

qw_status qw_generation_config_parse(qw_config *c, const char *json, size_t len, const char *path) {
    cJSON *root;
    QW_TRY(cfg_parse_json(json, len, path, &root));
    // all or nothing: work on a copy
    qw_config g = *c;
    double v;
    qw_status s = cfg_bool(root, path, "do_sample", g.gen_do_sample, &g.gen_do_sample);
    if (s == QW_OK) s = cfg_int(root, path, "top_k", 0, g.gen_top_k, 0, INT_MAX, &g.gen_top_k);
    if (s == QW_OK && (s = cfg_num(root, path, "temperature", g.gen_temperature, &v)) == QW_OK) {
        if (v < 0 || v > 1e6) s = qw_error(QW_ERR_FORMAT, "%s: temperature %g must be in [0, 1e6]", path, v);
        g.gen_temperature = (float)v;
    }
    if (s == QW_OK && (s = cfg_num(root, path, "top_p", g.gen_top_p, &v)) == QW_OK) {
        if (v < 0 || v > 1) s = qw_error(QW_ERR_FORMAT, "%s: top_p %g must be in [0, 1]", path, v);
        g.gen_top_p = (float)v;
    }
    if (s == QW_OK &&
        (s = cfg_num(root, path, "repetition_penalty", g.gen_repetition_penalty, &v)) == QW_OK) {
        g.gen_repetition_penalty = (float)v;
        if (!(g.gen_repetition_penalty > 0) || v > 1e6)
            s = qw_error(QW_ERR_FORMAT, "%s: repetition_penalty %g must be in (0, 1e6]", path, v);
    }
    if (s == QW_OK) s = cfg_token_opt(root, path, "bos_token_id", g.vocab_size, &g.bos_token_id);
    if (s == QW_OK) s = cfg_token_opt(root, path, "pad_token_id", g.vocab_size, &g.pad_token_id);
    if (s == QW_OK) s = cfg_eos(root, path, g.vocab_size, &g.n_eos, g.eos_ids);
    cJSON_Delete(root);
    if (s == QW_OK) *c = g;
    return s;
}

qw_status qw_config_load(qw_config *c, const char *model_dir) {
    char path[4096];
    if (strlen(model_dir) + 32 > sizeof path) return qw_error(QW_ERR_ARG, "%s: path too long", model_dir);
    if (!qw_dir_exists(model_dir)) return qw_error(QW_ERR_IO, "%s: not a directory", model_dir);
    qw_path_join(path, sizeof path, model_dir, "config.json");
    if (!qw_file_exists(path))
        return qw_error(QW_ERR_IO, "%s: no config.json in this model directory", model_dir);
    char *text;
    size_t len;
    QW_TRY(qw_file_read_all(path, CFG_MAX_FILE, &text, &len));
    qw_status s = qw_config_parse(c, text, len, path);
    free(text);
    if (s != QW_OK) return s;
    qw_path_join(path, sizeof path, model_dir, "generation_config.json");
    if (!qw_file_exists(path)) return QW_OK;
    QW_TRY(qw_file_read_all(path, CFG_MAX_FILE, &text, &len));
    s = qw_generation_config_parse(c, text, len, path);
    free(text);
    return s;
}

// ---------------------------------------------------------------------------------------------------
// writing: sorted keys and two-space indent, as transformers' to_json_string writes them

// Each put writes one "key": value line; *first tells whether the object has just been opened.
static void cfg_key(qw_jbuf *b, int *first, const char *key) {
    qw_jbuf_append(b, *first ? "{\n  " : ",\n  ", 4);
    *first = 0;
    qw_jbuf_str(b, key);
    qw_jbuf_append(b, ": ", 2);
}

static void cfg_put_raw(qw_jbuf *b, int *first, const char *key, const char *raw) {
    cfg_key(b, first, key);
    qw_jbuf_append(b, raw, strlen(raw));
}

static void cfg_put_int(qw_jbuf *b, int *first, const char *key, int v) {
    cfg_key(b, first, key);
    qw_jbuf_printf(b, "%d", v);
}

static void cfg_put_num(qw_jbuf *b, int *first, const char *key, double v, int single) {
    cfg_key(b, first, key);
    qw_jbuf_num(b, v, single);
}

static void cfg_put_str(qw_jbuf *b, int *first, const char *key, const char *v) {
    cfg_key(b, first, key);
    qw_jbuf_str(b, v);
}

// A token id, or null for -1.
static void cfg_put_id(qw_jbuf *b, int *first, const char *key, int32_t id) {
    if (id >= 0)
        cfg_put_int(b, first, key, id);
    else
        cfg_put_raw(b, first, key, "null");
}

// One eos id as an int, several as a list, as transformers writes them.
static void cfg_put_eos(qw_jbuf *b, int *first, const qw_config *c) {
    if (c->n_eos <= 1) {
        cfg_put_id(b, first, "eos_token_id", c->n_eos == 1 ? c->eos_ids[0] : -1);
        return;
    }
    cfg_key(b, first, "eos_token_id");
    qw_jbuf_append(b, "[", 1);
    for (int i = 0; i < c->n_eos && i < 8; i++) qw_jbuf_printf(b, "%s\n    %d", i ? "," : "", c->eos_ids[i]);
    qw_jbuf_append(b, "\n  ]", 4);
}

static void cfg_build_config(qw_jbuf *b, const qw_config *c) {
    int f = 1;
    const char *dtype = c->dtype == QW_TYPE_BF16  ? "bfloat16"
                        : c->dtype == QW_TYPE_F16 ? "float16"
                                                  : "float32";
    cfg_key(b, &f, "architectures");
    qw_jbuf_append(b, "[\n    ", 6);
    qw_jbuf_str(b, c->architecture[0] ? c->architecture : "Qwen2ForCausalLM");
    qw_jbuf_append(b, "\n  ]", 4);
    cfg_put_raw(b, &f, "attention_dropout", "0.0");
    cfg_put_id(b, &f, "bos_token_id", c->bos_token_id);
    cfg_put_eos(b, &f, c);
    cfg_put_int(b, &f, "head_dim", c->head_dim);
    cfg_put_str(b, &f, "hidden_act", "silu");
    cfg_put_int(b, &f, "hidden_size", c->hidden_size);
    cfg_put_raw(b, &f, "initializer_range", "0.02");
    cfg_put_int(b, &f, "intermediate_size", c->intermediate_size);
    cfg_put_int(b, &f, "max_position_embeddings", c->max_position_embeddings);
    cfg_put_int(b, &f, "max_window_layers", c->n_layers);
    cfg_put_str(b, &f, "model_type", "qwen2");
    cfg_put_int(b, &f, "num_attention_heads", c->n_heads);
    cfg_put_int(b, &f, "num_hidden_layers", c->n_layers);
    cfg_put_int(b, &f, "num_key_value_heads", c->n_kv_heads);
    if (c->pad_token_id >= 0) cfg_put_id(b, &f, "pad_token_id", c->pad_token_id);
    cfg_put_num(b, &f, "rms_norm_eps", c->rms_norm_eps, 1);
    cfg_put_raw(b, &f, "rope_scaling", "null");
    cfg_put_num(b, &f, "rope_theta", c->rope_theta, 0);
    // what Qwen2.5's own configs say: a window as long as the context, and not used
    cfg_put_int(b, &f, "sliding_window", c->max_position_embeddings);
    cfg_put_raw(b, &f, "tie_word_embeddings", c->tie_word_embeddings ? "true" : "false");
    cfg_put_str(b, &f, "torch_dtype", dtype);
    cfg_put_raw(b, &f, "use_cache", "true");
    cfg_put_raw(b, &f, "use_sliding_window", "false");
    cfg_put_int(b, &f, "vocab_size", c->vocab_size);
    qw_jbuf_append(b, "\n}\n", 3);
}

static void cfg_build_generation(qw_jbuf *b, const qw_config *c) {
    int f = 1;
    cfg_put_id(b, &f, "bos_token_id", c->bos_token_id);
    cfg_put_raw(b, &f, "do_sample", c->gen_do_sample ? "true" : "false");
    cfg_put_eos(b, &f, c);
    if (c->pad_token_id >= 0) cfg_put_id(b, &f, "pad_token_id", c->pad_token_id);
    cfg_put_num(b, &f, "repetition_penalty", c->gen_repetition_penalty, 1);
    cfg_put_num(b, &f, "temperature", c->gen_temperature, 1);
    cfg_put_int(b, &f, "top_k", c->gen_top_k);
    cfg_put_num(b, &f, "top_p", c->gen_top_p, 1);
    qw_jbuf_append(b, "\n}\n", 3);
}

qw_status qw_config_write(const qw_config *c, const char *dir) {
    char path[4096];
    if (strlen(dir) + 32 > sizeof path) return qw_error(QW_ERR_ARG, "%s: path too long", dir);
    if (c->n_eos < 0 || c->n_eos > 8) return qw_error(QW_ERR_ARG, "%s: config has %d eos ids", dir, c->n_eos);
    qw_jbuf cb = {0}, gb = {0};
    cfg_build_config(&cb, c);
    cfg_build_generation(&gb, c);
    qw_status s = QW_OK;
    if (cb.oom || gb.oom) s = qw_error(QW_ERR_NOMEM, "%s: out of memory", dir);
    // A config this parser would refuse is refused here too, so what qwick writes it can read back.
    qw_config check;
    if (s == QW_OK) {
        s = qw_config_parse(&check, cb.p, cb.len, "config.json");
        if (s == QW_OK) s = qw_generation_config_parse(&check, gb.p, gb.len, "generation_config.json");
        if (s != QW_OK) s = qw_error_wrap(QW_ERR_ARG, "%s: refusing to write an invalid config", dir);
    }
    if (s == QW_OK) s = qw_io_make_dir(dir);
    if (s == QW_OK)
        s = qw_write_file_atomic(qw_path_join(path, sizeof path, dir, "config.json"), cb.p, cb.len);
    if (s == QW_OK)
        s = qw_write_file_atomic(qw_path_join(path, sizeof path, dir, "generation_config.json"), gb.p,
                                 gb.len);
    qw_jbuf_free(&cb);
    qw_jbuf_free(&gb);
    return s;
}
