// cli/cmd_init: `qwick init --shape 3b -o DIR`: a random-weight Qwen2 model in the Hugging Face layout
// with the real tokenizer, for tests and for speed benchmarks (speed does not depend on weight values).
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef struct {
    const char *name;
    int hidden, ff, layers, heads, kv_heads, vocab, tied;
} shape;

// Qwen2.5's published shapes (DESIGN.md), and a tiny one for tests.
static const shape g_shapes[] = {
    {"tiny", 64, 160, 2, 4, 2, 151936, 1},
    {"0.5b", 896, 4864, 24, 14, 2, 151936, 1},
    {"1.5b", 1536, 8960, 28, 12, 2, 151936, 1},
    {"3b", 2048, 11008, 36, 16, 2, 151936, 1},
    {"7b", 3584, 18944, 28, 28, 4, 152064, 0},
};

typedef struct {
    qw_tensor *t;
    uint64_t seed;
    float scale, offset; // values offset + scale * u, u uniform in [-1, 1)
} fill_task;

// Chunks of 1M elements each get their own generator, so the values do not depend on the thread count.
static void fill_run(void *ctx, int ith, int nth) {
    fill_task *f = ctx;
    int64_t n = qw_tensor_numel(f->t), chunk = 1 << 20, nchunks = (n + chunk - 1) / chunk;
    int64_t c0, c1;
    qw_split_rows(nchunks, 1, ith, nth, &c0, &c1);
    float buf[4096];
    for (int64_t c = c0; c < c1; c++) {
        qw_rng r;
        qw_rng_seed(&r, f->seed * 0x9e3779b97f4a7c15ull + (uint64_t)c);
        int64_t e0 = c * chunk, e1 = e0 + chunk < n ? e0 + chunk : n;
        for (int64_t i = e0; i < e1; i += 4096) {
            int64_t k = e1 - i < 4096 ? e1 - i : 4096;
            for (int64_t j = 0; j < k; j++) buf[j] = f->offset + f->scale * (2.0f * qw_rng_uniform(&r) - 1.0f);
            size_t es = qw_type_row_bytes(f->t->type, 1);
            qw_convert_from_f32(f->t->type, buf, (char *)f->t->data + (size_t)i * es, k);
        }
    }
}

static qw_status add_tensor(qw_tensor *ts, int *n, const char *name, qw_type type, int64_t d0, int64_t d1,
                            float scale, float offset, uint64_t seed, int nth) {
    qw_tensor *t = &ts[(*n)++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->nbytes = qw_type_row_bytes(type, d0 * (d1 ? d1 : 1));
    t->data = qw_malloc_aligned(t->nbytes);
    if (!t->data) return qw_error(QW_ERR_NOMEM, "%s: %zu bytes: out of memory", name, t->nbytes);
    fill_task f = {t, seed * 1000003u + (uint64_t)*n, scale, offset};
    qw_parallel(fill_run, &f, nth);
    return QW_OK;
}


static qw_status write_model(const char *out, const qw_config *c, qw_type type, uint64_t seed, int nth,
                             double shard_gb, const char *tok_dir) {
    int max_t = 3 + 12 * c->n_layers;
    qw_tensor *ts = calloc((size_t)max_t, sizeof *ts);
    if (!ts) return qw_error(QW_ERR_NOMEM, "out of memory");
    int n = 0;
    qw_status s = QW_OK;
    int64_t h = c->hidden_size, qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    float w = 0.035f, wb = 0.02f; // uniform half-widths: std 0.02 for matrices, as HF initialises
    char name[128];
#define ADD(d0, d1, sc, off, ...) \
    (snprintf(name, sizeof name, __VA_ARGS__), s = s ? s : add_tensor(ts, &n, name, type, d0, d1, sc, off, seed, nth))
    ADD(c->vocab_size, h, w, 0, "model.embed_tokens.weight");
    for (int l = 0; l < c->n_layers; l++) {
        ADD(h, 0, 0.1f, 1.0f, "model.layers.%d.input_layernorm.weight", l);
        ADD(qd, h, w, 0, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(qd, 0, wb, 0, "model.layers.%d.self_attn.q_proj.bias", l);
        ADD(kvd, h, w, 0, "model.layers.%d.self_attn.k_proj.weight", l);
        ADD(kvd, 0, wb, 0, "model.layers.%d.self_attn.k_proj.bias", l);
        ADD(kvd, h, w, 0, "model.layers.%d.self_attn.v_proj.weight", l);
        ADD(kvd, 0, wb, 0, "model.layers.%d.self_attn.v_proj.bias", l);
        ADD(h, qd, w, 0, "model.layers.%d.self_attn.o_proj.weight", l);
        ADD(h, 0, 0.1f, 1.0f, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(c->intermediate_size, h, w, 0, "model.layers.%d.mlp.gate_proj.weight", l);
        ADD(c->intermediate_size, h, w, 0, "model.layers.%d.mlp.up_proj.weight", l);
        ADD(h, c->intermediate_size, w, 0, "model.layers.%d.mlp.down_proj.weight", l);
    }
    ADD(h, 0, 0.1f, 1.0f, "model.norm.weight");
    if (!c->tie_word_embeddings) ADD(c->vocab_size, h, w, 0, "lm_head.weight");
#undef ADD
    if (s == QW_OK) s = qw_config_write(c, out);
    if (s == QW_OK) s = qw_safetensors_write_sharded(out, ts, n, (size_t)(shard_gb * 1e9));
    static const char *const tok_files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2 && s == QW_OK; i++) {
        char from[4096], to[4096];
        qw_path_join(from, sizeof from, tok_dir, tok_files[i]);
        qw_path_join(to, sizeof to, out, tok_files[i]);
        s = qw_file_copy(from, to);
    }
    for (int i = 0; i < n; i++) qw_free_aligned(ts[i].data);
    free(ts);
    return s;
}

int qw_cmd_init(int argc, char **argv) {
    const char *shape_name = "tiny", *out = NULL, *dtype = "bf16", *tok_dir = NULL;
    int seed = 1, threads = 0, hidden = 0, ff = 0, layers = 0, heads = 0, kv_heads = 0, vocab = 0, untied = 0;
    float shard_gb = 5.0f;
    const qw_opt opts[] = {
        {"--shape", NULL, QW_OPT_STR, &shape_name, "tiny | 0.5b | 1.5b | 3b | 7b | custom (default tiny)"},
        {"--output", "-o", QW_OPT_STR, &out, "folder to write (created; must not hold a model already)"},
        {"--dtype", NULL, QW_OPT_STR, &dtype, "bf16 | f16 | f32 (default bf16)"},
        {"--seed", NULL, QW_OPT_INT, &seed, "random seed (default 1)"},
        {"--shard-gb", NULL, QW_OPT_FLOAT, &shard_gb, "largest safetensors shard in GB (default 5, as HF)"},
        {"--tokenizer", NULL, QW_OPT_STR, &tok_dir, "folder with tokenizer.json and tokenizer_config.json (default: qwick's models/)"},
        {"--hidden", NULL, QW_OPT_INT, &hidden, "custom or override: hidden size"},
        {"--ff", NULL, QW_OPT_INT, &ff, "custom or override: intermediate (FFN) size"},
        {"--layers", NULL, QW_OPT_INT, &layers, "custom or override: layers"},
        {"--heads", NULL, QW_OPT_INT, &heads, "custom or override: attention heads"},
        {"--kv-heads", NULL, QW_OPT_INT, &kv_heads, "custom or override: key/value heads"},
        {"--vocab", NULL, QW_OPT_INT, &vocab, "custom or override: vocabulary rows"},
        {"--untied", NULL, QW_OPT_FLAG, &untied, "separate lm_head instead of tied embeddings"},
        {"--threads", "-t", QW_OPT_INT, &threads, "threads"},
    };
    qw_cmd_spec spec = {"qwick init --shape SHAPE -o DIR [options]",
                        "Writes a random-weight Qwen2 model in the Hugging Face layout (config.json, "
                        "generation_config.json, safetensors, the real Qwen tokenizer).",
                        opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    const char *pos[1];
    int n_pos, r = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (r) return r == 1 ? 0 : 2;
    if (!out) {
        fprintf(stderr, "qwick: init needs -o DIR\n");
        return 2;
    }
    shape sh = {"custom", 0, 0, 0, 0, 0, 151936, 1};
    int found = strcmp(shape_name, "custom") == 0;
    for (size_t i = 0; i < sizeof g_shapes / sizeof g_shapes[0]; i++)
        if (strcmp(shape_name, g_shapes[i].name) == 0) {
            sh = g_shapes[i];
            found = 1;
        }
    if (!found) {
        fprintf(stderr, "qwick: unknown shape '%s' (tiny, 0.5b, 1.5b, 3b, 7b, custom)\n", shape_name);
        return 2;
    }
    if (hidden) sh.hidden = hidden;
    if (ff) sh.ff = ff;
    if (layers) sh.layers = layers;
    if (heads) sh.heads = heads;
    if (kv_heads) sh.kv_heads = kv_heads;
    if (vocab) sh.vocab = vocab;
    if (untied) sh.tied = 0;
    if (sh.hidden <= 0 || sh.ff <= 0 || sh.layers <= 0 || sh.heads <= 0 || sh.kv_heads <= 0 || sh.vocab <= 0 ||
        sh.hidden % sh.heads || sh.heads % sh.kv_heads || (sh.hidden / sh.heads) % 2) {
        fprintf(stderr, "qwick: shape needs positive sizes, hidden divisible by heads into an even head_dim, "
                        "heads divisible by kv-heads\n");
        return 2;
    }
    qw_type type = strcmp(dtype, "bf16") == 0 ? QW_TYPE_BF16 : strcmp(dtype, "f16") == 0 ? QW_TYPE_F16
                 : strcmp(dtype, "f32") == 0 ? QW_TYPE_F32 : QW_TYPE_COUNT;
    if (type == QW_TYPE_COUNT) {
        fprintf(stderr, "qwick: --dtype must be bf16, f16 or f32\n");
        return 2;
    }
    char probe[4096];
    if (qw_file_exists(qw_path_join(probe, sizeof probe, out, "config.json"))) {
        fprintf(stderr, "qwick: %s already holds a model (config.json); refusing to overwrite it\n", out);
        return 1;
    }
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "qwick: %s: cannot create: %s\n", out, strerror(errno));
        return 1;
    }
    qw_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.architecture, sizeof c.architecture, "Qwen2ForCausalLM");
    c.hidden_size = sh.hidden;
    c.intermediate_size = sh.ff;
    c.n_layers = sh.layers;
    c.n_heads = sh.heads;
    c.n_kv_heads = sh.kv_heads;
    c.head_dim = sh.hidden / sh.heads;
    c.vocab_size = sh.vocab;
    c.max_position_embeddings = 32768;
    c.rope_theta = 1000000.0;
    c.rms_norm_eps = 1e-6f;
    c.tie_word_embeddings = sh.tied;
    c.dtype = type;
    // <|endoftext|> and <|im_end|> as the tokenizer numbers them: a trimmed vocabulary renumbers them
    int32_t eot = 151643, im_end = 151645;
    if (tok_dir) {
        char path[4096];
        qw_path_join(path, sizeof path, tok_dir, "tokenizer.json");
        qw_tokenizer *tok = NULL;
        qw_status ts = qw_tok_load(&tok, path);
        if (ts != QW_OK) return qw_cli_fail(ts);
        eot = qw_tok_find(tok, "<|endoftext|>");
        im_end = qw_tok_find(tok, "<|im_end|>");
        qw_tok_free(tok);
        if (eot < 0 || im_end < 0) {
            fprintf(stderr, "qwick: %s: the tokenizer has no <|endoftext|> or <|im_end|> token\n", path);
            return 1;
        }
    }
    c.bos_token_id = eot;
    c.n_eos = 2;
    c.eos_ids[0] = im_end;
    c.eos_ids[1] = eot;
    c.pad_token_id = eot;
    c.gen_do_sample = 1;
    c.gen_temperature = 0.7f;
    c.gen_top_k = 20;
    c.gen_top_p = 0.8f;
    c.gen_repetition_penalty = 1.05f;
    double t0 = qw_time_sec();
    qw_status s = write_model(out, &c, type, (uint64_t)seed, threads > 0 ? threads : qw_threads_default(),
                              shard_gb, tok_dir ? tok_dir : qw_cli_models_dir());
    if (s != QW_OK) return qw_cli_fail(s);
    fprintf(stderr, "qwick: wrote %s (%s, %s) in %.1f s\n", out, sh.name, dtype, qw_time_sec() - t0);
    return 0;
}
