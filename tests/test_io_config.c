// tests/test_io_config: config.json/generation_config.json against the published Qwen2.5 configs, the
// configs qwick must refuse (each by name), HF's defaults, and a write/load round trip.
#include "test_io.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>

static qw_status parse_file(qw_config *c, const char *path) {
    size_t n;
    char *text = tio_read(path, &n);
    if (!text) return QW_ERR_IO;
    qw_status s = qw_config_parse(c, text, n, path);
    free(text);
    return s;
}

static void expect_qwen(const char *path, int hidden, int inter, int layers, int heads, int kv, int head_dim,
                        int vocab, int tie, int eos) {
    qw_config c;
    qw_status s = parse_file(&c, path);
    CHECKF(s == QW_OK, "%s: %s", path, qw_error_message());
    if (s != QW_OK) return;
    CHECK(strcmp(c.architecture, "Qwen2ForCausalLM") == 0);
    CHECK(c.hidden_size == hidden && c.intermediate_size == inter && c.n_layers == layers);
    CHECK(c.n_heads == heads && c.n_kv_heads == kv && c.head_dim == head_dim && c.vocab_size == vocab);
    CHECK(c.tie_word_embeddings == tie && c.max_position_embeddings == 32768);
    CHECK(c.rope_theta == 1e6 && c.rms_norm_eps == 1e-6f && c.dtype == QW_TYPE_BF16);
    CHECK(c.bos_token_id == 151643 && c.n_eos == 1 && c.eos_ids[0] == eos && c.pad_token_id == -1);
    CHECK(c.gen_do_sample == 0 && c.gen_top_k == 50 && c.gen_temperature == 1.0f && c.gen_top_p == 1.0f &&
          c.gen_repetition_penalty == 1.0f);
}

static void test_published(void) {
    expect_qwen("tests/data/config_qwen2.5-0.5b.json", 896, 4864, 24, 14, 2, 64, 151936, 1, 151643);
    expect_qwen("tests/data/config_qwen2.5-3b.json", 2048, 11008, 36, 16, 2, 128, 151936, 1, 151643);
    expect_qwen("tests/data/config_qwen2.5-7b-instruct.json", 3584, 18944, 28, 28, 4, 128, 152064, 0, 151645);

    // the Instruct generation config overrides eos with a list and sets the sampling defaults
    qw_config c;
    CHECK(parse_file(&c, "tests/data/config_qwen2.5-3b.json") == QW_OK);
    size_t n;
    char *g = tio_read("tests/data/generation_config_qwen2.5-3b-instruct.json", &n);
    qw_status s = qw_generation_config_parse(&c, g, n, "generation_config.json");
    CHECKF(s == QW_OK, "%s", qw_error_message());
    free(g);
    CHECK(c.n_eos == 2 && c.eos_ids[0] == 151645 && c.eos_ids[1] == 151643);
    CHECK(c.pad_token_id == 151643 && c.bos_token_id == 151643);
    CHECK(c.gen_do_sample == 1 && c.gen_top_k == 20);
    CHECK(c.gen_temperature == 0.7f && c.gen_top_p == 0.8f && c.gen_repetition_penalty == 1.05f);
    CHECK(c.hidden_size == 2048); // the model fields stay
}

static void expect_refused(const char *json, qw_status want, const char *needle, int line) {
    qw_config c;
    qw_status s = qw_config_parse(&c, json, strlen(json), "my-model/config.json");
    const char *msg = qw_error_message();
    if (getenv("QWICK_TEST_VERBOSE")) printf("  %s: %s\n", qw_status_name(s), msg);
    CHECKF(s == want, "line %d: got %s, want %s (%s)", line, qw_status_name(s), qw_status_name(want), msg);
    CHECKF(strstr(msg, "my-model/config.json") != NULL, "line %d: no file name in: %s", line, msg);
    if (needle) CHECKF(strstr(msg, needle) != NULL, "line %d: '%s' not in: %s", line, needle, msg);
}
#define REFUSED(json, want, needle) expect_refused(json, want, needle, __LINE__)

// A minimal valid config, with the keys that extra gives taken from extra instead.
static const char *with(const char *extra) {
    static const char *base[] = {"\"architectures\": [\"Qwen2ForCausalLM\"]",
                                 "\"model_type\": \"qwen2\"",
                                 "\"hidden_size\": 64",
                                 "\"intermediate_size\": 128",
                                 "\"num_hidden_layers\": 2",
                                 "\"num_attention_heads\": 4",
                                 "\"vocab_size\": 1000"};
    static char buf[1024];
    snprintf(buf, sizeof buf, "{%s", extra ? extra : "");
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(strchr(base[i], ':') - base[i]), base[i]);
        if (extra && strstr(extra, key)) continue;
        strcat(buf, buf[1] ? ", " : "");
        strcat(buf, base[i]);
    }
    strcat(buf, "}");
    return buf;
}

static void test_refused(void) {
    size_t n;
    char *llama = tio_read("tests/data/config_llama-3.2-1b.json", &n);
    qw_config c;
    qw_status s = qw_config_parse(&c, llama, n, "llama/config.json");
    CHECK(s == QW_ERR_UNSUPPORTED);
    CHECK(
        strstr(qw_error_message(), "LlamaForCausalLM is not supported: qwick runs Qwen2 (Qwen2ForCausalLM)"));
    CHECK(strstr(qw_error_message(), "llama/config.json"));
    free(llama);
    char *yarn = tio_read("tests/data/config_qwen2.5-7b-instruct-yarn.json", &n);
    CHECK(qw_config_parse(&c, yarn, n, "yarn/config.json") == QW_ERR_UNSUPPORTED);
    CHECK(strstr(qw_error_message(), "rope_scaling of type yarn is not supported"));
    free(yarn);

    // malformed JSON says where
    REFUSED("{\n  \"hidden_size\": 64,\n  \"vocab_size\": ,\n}", QW_ERR_FORMAT, "line 3");
    REFUSED("", QW_ERR_FORMAT, "malformed JSON");
    REFUSED("[1, 2]", QW_ERR_FORMAT, "not a JSON object");
    REFUSED("{} {}", QW_ERR_FORMAT, "after the JSON");
    REFUSED("{\"hidden_size\": 64, \"vocab_size\": 1, \"hidden_size\": 32}", QW_ERR_FORMAT,
            "\"hidden_size\" appears twice");
    // architectures and features
    REFUSED("{\"model_type\": \"llama\", \"hidden_size\": 64}", QW_ERR_UNSUPPORTED, "model_type llama");
    REFUSED("{\"hidden_size\": 64}", QW_ERR_FORMAT, "model_type");
    REFUSED("{\"architectures\": \"Qwen2ForCausalLM\", \"model_type\": \"qwen2\"}", QW_ERR_FORMAT,
            "architectures");
    REFUSED("{\"architectures\": [\"Qwen2ForSequenceClassification\"]}", QW_ERR_UNSUPPORTED,
            "Qwen2ForSequenceClassification is not supported");
    REFUSED(with("\"hidden_act\": \"gelu\""), QW_ERR_UNSUPPORTED, "gelu");
    REFUSED(with("\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 2.0}"), QW_ERR_UNSUPPORTED,
            "dynamic");
    REFUSED(with("\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}"), QW_ERR_UNSUPPORTED, "linear");
    REFUSED(with("\"rope_scaling\": 2"), QW_ERR_FORMAT, "rope_scaling");
    REFUSED(with("\"use_sliding_window\": true"), QW_ERR_UNSUPPORTED, "sliding");
    REFUSED(with("\"use_sliding_window\": \"no\""), QW_ERR_FORMAT, "use_sliding_window");
    REFUSED(with("\"layer_types\": [\"full_attention\", \"sliding_attention\"]"), QW_ERR_UNSUPPORTED,
            "sliding_attention");
    REFUSED(with("\"attention_bias\": false"), QW_ERR_UNSUPPORTED, "attention_bias");
    REFUSED(with("\"quantization_config\": {\"quant_method\": \"gptq\", \"bits\": 4}"), QW_ERR_UNSUPPORTED,
            "gptq");
    REFUSED(with("\"torch_dtype\": \"float64\""), QW_ERR_UNSUPPORTED, "float64");
    // missing fields, wrong types, absurd sizes
    REFUSED("{\"model_type\": \"qwen2\", \"hidden_size\": 64}", QW_ERR_FORMAT, "intermediate_size");
    REFUSED(with("\"hidden_size\": \"64\""), QW_ERR_FORMAT, "hidden_size");
    REFUSED(with("\"num_key_value_heads\": 1.5"), QW_ERR_FORMAT, "num_key_value_heads");
    REFUSED(with("\"rope_theta\": \"1e6\""), QW_ERR_FORMAT, "rope_theta");
    REFUSED(with("\"rope_theta\": -5"), QW_ERR_FORMAT, "rope_theta");
    REFUSED(with("\"rms_norm_eps\": 0"), QW_ERR_FORMAT, "rms_norm_eps");
    REFUSED(with("\"rms_norm_eps\": 1e-46"), QW_ERR_FORMAT, "rms_norm_eps"); // 0 as a float
    REFUSED(with("\"tie_word_embeddings\": 1"), QW_ERR_FORMAT, "tie_word_embeddings");
    REFUSED(with("\"num_attention_heads\": 5"), QW_ERR_FORMAT, "not divisible");
    REFUSED(with("\"num_key_value_heads\": 3"), QW_ERR_FORMAT, "not divisible");
    REFUSED(with("\"hidden_size\": 0"), QW_ERR_FORMAT, "hidden_size");
    REFUSED(with("\"num_hidden_layers\": -1"), QW_ERR_FORMAT, "num_hidden_layers");
    REFUSED(with("\"intermediate_size\": 2097152"), QW_ERR_FORMAT, "intermediate_size");
    REFUSED(with("\"vocab_size\": 5000000"), QW_ERR_FORMAT, "vocab_size");
    REFUSED(with("\"hidden_size\": 1e300"), QW_ERR_FORMAT, "hidden_size");
    REFUSED(with("\"head_dim\": 15"), QW_ERR_FORMAT, "odd");
    REFUSED(with("\"bos_token_id\": 1000"), QW_ERR_FORMAT, "bos_token_id");
    REFUSED(with("\"eos_token_id\": [1, -2]"), QW_ERR_FORMAT, "eos_token_id");
    REFUSED(with("\"eos_token_id\": [1, 2, 3, 4, 5, 6, 7, 8, 9]"), QW_ERR_UNSUPPORTED, "eos_token_id");

    // a failed generation config leaves the config as it was
    CHECK(qw_config_parse(&c, with(NULL), strlen(with(NULL)), "x") == QW_OK);
    qw_config before;
    memcpy(&before, &c, sizeof c); // with the padding, for the memcmp below
    const char *bad[] = {"{\"temperature\": \"hot\"}",
                         "{\"top_k\": 2.5}",
                         "{\"top_p\": 1.5}",
                         "{\"do_sample\": 1}",
                         "{\"eos_token_id\": 5000, \"top_k\": 3}",
                         "{\"repetition_penalty\": 0}",
                         "{\"repetition_penalty\": 1e-50}",
                         "{\"top_k\": 3,",
                         "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = qw_generation_config_parse(&c, bad[i], strlen(bad[i]), "gen/generation_config.json");
        CHECKF(s == QW_ERR_FORMAT, "%s accepted", bad[i]);
        CHECK(strstr(qw_error_message(), "gen/generation_config.json") != NULL);
        CHECK(memcmp(&c, &before, sizeof c) == 0);
    }
}

static void test_defaults(void) {
    qw_config c;
    const char *j = with(NULL);
    qw_status s = qw_config_parse(&c, j, strlen(j), "min");
    CHECKF(s == QW_OK, "%s", qw_error_message());
    // HF Qwen2Config's defaults for what the file leaves out
    CHECK(c.n_kv_heads == 4 && c.head_dim == 16 && c.max_position_embeddings == 32768);
    CHECK(c.rope_theta == 10000.0 && c.rms_norm_eps == 1e-6f && c.tie_word_embeddings == 0);
    CHECK(c.dtype == QW_TYPE_F32 && c.bos_token_id == -1 && c.n_eos == 0 && c.pad_token_id == -1);
    // an explicit head_dim need not divide hidden_size (pruned heads); nulls mean absent
    j = with("\"head_dim\": 24, \"num_key_value_heads\": 2, \"bos_token_id\": null, \"rope_scaling\": null, "
             "\"sliding_window\": null, \"dtype\": \"float16\"");
    s = qw_config_parse(&c, j, strlen(j), "hd");
    CHECKF(s == QW_OK, "%s", qw_error_message());
    CHECK(c.head_dim == 24 && c.n_kv_heads == 2 && c.bos_token_id == -1 && c.dtype == QW_TYPE_F16);
    // transformers 5 keeps rope_theta in rope_parameters
    j = with("\"rope_scaling\": {\"rope_type\": \"default\"}");
    CHECK(qw_config_parse(&c, j, strlen(j), "rs") == QW_OK);
    j = with("\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1000000.0}");
    CHECK(qw_config_parse(&c, j, strlen(j), "v5") == QW_OK && c.rope_theta == 1e6);
    j = with("\"rope_parameters\": {\"rope_type\": \"yarn\", \"factor\": 4.0}");
    CHECK(qw_config_parse(&c, j, strlen(j), "v5") == QW_ERR_UNSUPPORTED);
    // eos given as one int
    j = with("\"eos_token_id\": 7");
    CHECK(qw_config_parse(&c, j, strlen(j), "e") == QW_OK && c.n_eos == 1 && c.eos_ids[0] == 7);
}

static int fields_equal(const qw_config *a, const qw_config *b) {
    int eq = strcmp(a->architecture, b->architecture) == 0 && a->hidden_size == b->hidden_size &&
             a->intermediate_size == b->intermediate_size && a->n_layers == b->n_layers &&
             a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads && a->head_dim == b->head_dim &&
             a->vocab_size == b->vocab_size && a->max_position_embeddings == b->max_position_embeddings &&
             a->rope_theta == b->rope_theta && a->rms_norm_eps == b->rms_norm_eps &&
             a->tie_word_embeddings == b->tie_word_embeddings && a->dtype == b->dtype &&
             a->bos_token_id == b->bos_token_id && a->n_eos == b->n_eos &&
             a->pad_token_id == b->pad_token_id && a->gen_do_sample == b->gen_do_sample &&
             a->gen_top_k == b->gen_top_k && a->gen_temperature == b->gen_temperature &&
             a->gen_top_p == b->gen_top_p && a->gen_repetition_penalty == b->gen_repetition_penalty;
    for (int i = 0; i < a->n_eos && eq; i++) eq = a->eos_ids[i] == b->eos_ids[i];
    return eq;
}

static void test_load_write(void) {
    // a model directory as HF leaves it
    const char *dir = tio_path("model");
    mkdir(dir, 0755);
    size_t n;
    char *t = tio_read("tests/data/config_qwen2.5-3b.json", &n);
    tio_write(tio_path("model/config.json"), t, n);
    free(t);
    qw_config c;
    CHECK(qw_config_load(&c, dir) == QW_OK && c.n_eos == 1 && c.gen_top_k == 50);
    t = tio_read("tests/data/generation_config_qwen2.5-3b-instruct.json", &n);
    tio_write(tio_path("model/generation_config.json"), t, n);
    free(t);
    qw_status s = qw_config_load(&c, dir);
    CHECKF(s == QW_OK, "%s", qw_error_message());
    CHECK(c.n_eos == 2 && c.gen_top_k == 20 && c.gen_temperature == 0.7f);
    CHECK(qw_config_load(&c, tio_path("nowhere")) == QW_ERR_IO);
    mkdir(tio_path("noconfig"), 0755);
    CHECK(qw_config_load(&c, tio_path("noconfig")) == QW_ERR_IO && strstr(qw_error_message(), "config.json"));
    tio_write_str(tio_path("model/generation_config.json"), "{\"top_k\": -1}");
    CHECK(qw_config_load(&c, dir) == QW_ERR_FORMAT &&
          strstr(qw_error_message(), "model/generation_config.json"));

    // round trips: the Instruct model with its generation config, and a pruned shape
    CHECK(qw_config_load(&c, dir) != QW_OK);
    CHECK(parse_file(&c, "tests/data/config_qwen2.5-3b.json") == QW_OK);
    t = tio_read("tests/data/generation_config_qwen2.5-3b-instruct.json", &n);
    CHECK(qw_generation_config_parse(&c, t, n, "g") == QW_OK);
    free(t);
    qw_config pruned = c;
    pruned.n_heads = 12, pruned.n_kv_heads = 3, pruned.intermediate_size = 9000, pruned.n_layers = 30;
    pruned.tie_word_embeddings = 0, pruned.dtype = QW_TYPE_F32, pruned.rms_norm_eps = 1e-5f;
    pruned.rope_theta = 12345.678, pruned.n_eos = 1, pruned.bos_token_id = -1, pruned.pad_token_id = -1;
    const qw_config *cases[] = {&c, &pruned};
    for (int k = 0; k < 2; k++) {
        const char *out = tio_path(k ? "out-pruned" : "out");
        s = qw_config_write(cases[k], out);
        CHECKF(s == QW_OK, "%s", qw_error_message());
        qw_config back;
        s = qw_config_load(&back, out);
        CHECKF(s == QW_OK, "%s", qw_error_message());
        CHECKF(fields_equal(&back, cases[k]), "round trip %d differs", k);
    }
    // what transformers reads: the usual Qwen2 keys with the right JSON types
    t = tio_read(tio_path("out/config.json"), &n);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    CHECK(j != NULL);
    const char *ints[] = {
        "hidden_size",         "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim",          "vocab_size",        "max_position_embeddings",
        "max_window_layers",   "sliding_window",    "bos_token_id",      "eos_token_id"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        CHECKF(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, ints[i])) ||
                   cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, ints[i])),
               "%s", ints[i]);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "rope_scaling")));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "use_sliding_window")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "tie_word_embeddings")));
    CHECK(strstr(t, "\"rope_theta\": 1000000.0") && strstr(t, "\"rms_norm_eps\": 1e-06"));
    CHECK(strstr(t, "\"torch_dtype\": \"bfloat16\"") && strstr(t, "\"model_type\": \"qwen2\""));
    cJSON_Delete(j);
    free(t);
    t = tio_read(tio_path("out/generation_config.json"), &n);
    CHECKF(t && strstr(t, "\"temperature\": 0.7,") && strstr(t, "\"top_p\": 0.8\n") &&
               strstr(t, "\"repetition_penalty\": 1.05,"),
           "%s", t ? t : "(unreadable)");
    free(t);
    if (tio_have_numpy()) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"import json,sys; c=json.load(open('%s')); g=json.load(open('%s')); "
                 "assert c['architectures']==['Qwen2ForCausalLM'] and c['rope_theta']==1e6 and "
                 "isinstance(c['rope_theta'], float) and c['eos_token_id']==[151645, 151643] and "
                 "g['top_k']==20 and g['temperature']==0.7 and g['do_sample'] is True, (c, g)\"",
                 tio_path("out/config.json"), tio_path("out/generation_config.json"));
        CHECKF(system(cmd) == 0, "python json check failed");
    }

    // an invalid config is refused and nothing is written
    qw_config bad = c;
    bad.n_kv_heads = 5;
    CHECK(qw_config_write(&bad, tio_path("out-bad")) == QW_ERR_ARG);
    CHECK(strstr(qw_error_message(), "num_key_value_heads") != NULL);
    CHECK(!qw_file_exists(tio_path("out-bad/config.json")));
    bad = c;
    bad.gen_temperature = -1;
    CHECK(qw_config_write(&bad, tio_path("out-bad")) == QW_ERR_ARG);
}

int main(void) {
    tio_tmpdir();
    test_published();
    test_refused();
    test_defaults();
    test_load_write();
    TEST_DONE();
}
