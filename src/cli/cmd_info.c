// cli/cmd_info: `qwick info MODEL`: what the folder holds: architecture, shape, dtype, sizes, the
// tokenizer, generation defaults, and what one token of KV cache costs.
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static const char *dtype_str(qw_type t) { return qw_type_name(t); }

int qw_cmd_info(int argc, char **argv) {
    int json = 0;
    const qw_opt opts[] = {{"--json", NULL, QW_OPT_FLAG, &json, "print one JSON object"}};
    qw_cmd_spec spec = {"qwick info MODEL [--json]", "Describes a model folder (Hugging Face layout).", opts, 1, 1, 1};
    const char *pos[1];
    int n_pos, r = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (r) return r == 1 ? 0 : 2;
    qw_model *m;
    qw_status s = qw_model_load_for_convert(&m, pos[0]); // info runs nothing: quantized GGUFs too
    if (s != QW_OK) return qw_cli_fail(s);
    const qw_config *c = &m->config;
    double kv_per_token = 2.0 * c->n_layers * c->n_kv_heads * c->head_dim * 4; // f32 cache
    size_t file_bytes = qw_model_file_bytes(m);
    int n_files = m->st.n_files + (m->gguf.map.data != NULL);
    int64_t n_tensors = m->st.n_tensors + m->gguf.n_tensors;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", m->path);
        cJSON_AddStringToObject(o, "architecture", c->architecture);
        cJSON_AddStringToObject(o, "dtype", dtype_str(c->dtype));
        cJSON_AddNumberToObject(o, "hidden_size", c->hidden_size);
        cJSON_AddNumberToObject(o, "intermediate_size", c->intermediate_size);
        cJSON_AddNumberToObject(o, "num_hidden_layers", c->n_layers);
        cJSON_AddNumberToObject(o, "num_attention_heads", c->n_heads);
        cJSON_AddNumberToObject(o, "num_key_value_heads", c->n_kv_heads);
        cJSON_AddNumberToObject(o, "head_dim", c->head_dim);
        cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
        cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_position_embeddings);
        cJSON_AddNumberToObject(o, "rope_theta", c->rope_theta);
        cJSON_AddNumberToObject(o, "rms_norm_eps", c->rms_norm_eps);
        cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_word_embeddings);
        cJSON_AddNumberToObject(o, "n_params", (double)m->n_params);
        cJSON_AddNumberToObject(o, "file_bytes", (double)file_bytes);
        cJSON_AddNumberToObject(o, "bits_per_weight", qw_model_bits_per_weight(m));
        cJSON_AddNumberToObject(o, "weight_bytes_per_token", (double)m->weight_bytes);
        cJSON_AddNumberToObject(o, "kv_bytes_per_token", kv_per_token);
        cJSON_AddNumberToObject(o, "n_tensors", (double)n_tensors);
        cJSON_AddNumberToObject(o, "n_files", n_files);
        cJSON_AddBoolToObject(o, "runnable", m->unrunnable_tensor == NULL);
        cJSON_AddNumberToObject(o, "tokenizer_vocab", m->tok ? qw_tok_n_vocab(m->tok) : 0);
        cJSON *eos = cJSON_AddArrayToObject(o, "eos_token_ids");
        for (int i = 0; i < c->n_eos; i++) cJSON_AddItemToArray(eos, cJSON_CreateNumber(c->eos_ids[i]));
        char *txt = cJSON_Print(o);
        puts(txt);
        free(txt);
        cJSON_Delete(o);
    } else {
        printf("model         %s\n", m->path);
        printf("architecture  %s, %s weights in %d file%s%s, %lld tensors\n", c->architecture,
               dtype_str(c->dtype), n_files, n_files == 1 ? "" : "s", m->gguf.map.data ? " (GGUF)" : "",
               (long long)n_tensors);
        printf("parameters    %.3f B (%.2f GB on disk, %.2f bits per weight)\n", m->n_params / 1e9, file_bytes / 1e9,
               qw_model_bits_per_weight(m));
        printf("shape         hidden %d, %d layers, %d heads / %d KV heads (head_dim %d), FFN %d, vocab %d\n",
               c->hidden_size, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->intermediate_size, c->vocab_size);
        printf("embeddings    %s\n", c->tie_word_embeddings ? "tied (lm_head = embed_tokens)" : "separate lm_head");
        printf("rope          theta %g, max positions %d; rms_norm_eps %g\n", c->rope_theta,
               c->max_position_embeddings, c->rms_norm_eps);
        printf("per token     %.2f GB of weights streamed per decode step, %.1f KiB of KV cache (f32)\n",
               m->weight_bytes / 1e9, kv_per_token / 1024);
        if (m->unrunnable_tensor)
            printf("runnable      no: tensor %s is %s (qwick's kernels for it are not built yet)\n",
                   m->unrunnable_tensor->name, qw_type_name(m->unrunnable_tensor->type));
        printf("tokenizer     %s", m->tok ? "" : "none (no tokenizer.json)\n");
        if (m->tok) printf("%d tokens\n", qw_tok_n_vocab(m->tok));
        printf("eos ids      ");
        for (int i = 0; i < c->n_eos; i++) printf(" %d", c->eos_ids[i]);
        printf("\ngeneration    %s, temperature %g, top_k %d, top_p %g, repetition_penalty %g\n",
               c->gen_do_sample ? "sampling" : "greedy", c->gen_temperature, c->gen_top_k, c->gen_top_p,
               c->gen_repetition_penalty);
    }
    qw_model_free(m);
    return 0;
}
