// fuzz/fuzz_config: libFuzzer target for config.json and generation_config.json parsing. An accepted
// config must satisfy every invariant the model code relies on, and must survive its own writer.
#include "base/base.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qw_config c;
    const char *json = (const char *)data;
    if (qw_config_parse(&c, json, size, "fuzz/config.json") == QW_OK) {
        QW_ASSERT(c.hidden_size > 0 && c.n_heads > 0 && c.n_kv_heads > 0 && c.head_dim > 0 && c.n_layers > 0);
        QW_ASSERT(c.n_heads % c.n_kv_heads == 0 && c.head_dim % 2 == 0 && c.vocab_size > 0);
        QW_ASSERT(c.n_eos >= 0 && c.n_eos <= 8);
        for (int i = 0; i < c.n_eos; i++) QW_ASSERT(c.eos_ids[i] >= 0 && c.eos_ids[i] < c.vocab_size);
        QW_ASSERT(c.rope_theta > 0 && c.rms_norm_eps > 0);
    } else {
        // a generation config is parsed on top of a valid model config
        const char *base = "{\"model_type\":\"qwen2\",\"hidden_size\":64,\"intermediate_size\":128,"
                           "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":1000}";
        QW_ASSERT(qw_config_parse(&c, base, strlen(base), "base") == QW_OK);
    }
    qw_config before;
    memcpy(&before, &c, sizeof c); // with the padding, for the memcmp below
    if (qw_generation_config_parse(&c, json, size, "fuzz/generation_config.json") != QW_OK)
        QW_ASSERT(memcmp(&c, &before, sizeof c) == 0);
    else
        QW_ASSERT(c.gen_top_k >= 0 && c.gen_top_p >= 0 && c.gen_top_p <= 1 && c.gen_repetition_penalty > 0);
    return 0;
}
