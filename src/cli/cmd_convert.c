// cli/cmd_convert: `qwick convert MODEL -o OUT.gguf [--type T]`: a model (HF folder or GGUF, quantized
// or not) to a GGUF file that llama.cpp runs, float or quantized by round to nearest with the reference quantizers.
#include "cli.h"

#include <strings.h>

static const char *const g_types[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "iq4_nl"};

int qw_cmd_convert(int argc, char **argv) {
    const char *out = NULL, *type = NULL, *name = NULL;
    int threads = 0;
    const qw_opt opts[] = {
        {"--outfile", "-o", QW_OPT_STR, &out, "the GGUF file to write"},
        {"--type", NULL, QW_OPT_STR, &type,
         "f32|f16|bf16|q8_0|q4_0|q4_k|q5_k|q6_k|iq4_nl for 2-D weights (default: the model's dtype)"},
        {"--name", NULL, QW_OPT_STR, &name, "general.name (default: the model's folder name)"},
        {"--threads", "-t", QW_OPT_INT, &threads, "threads (default: QWICK_THREADS or all cores)"},
    };
    qw_cmd_spec spec = {"qwick convert MODEL -o OUT.gguf [--type TYPE]",
                        "Writes MODEL as GGUF with llama.cpp's qwen2 metadata, tensor names, tokenizer and "
                        "chat template, so llama.cpp and tools built on it run it. Norms and biases stay "
                        "F32; a matrix whose rows are not whole blocks of TYPE falls back to Q8_0 or F16.",
                        opts, 4, 1, 1};
    const char *pos[1];
    int n_pos, r = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (r) return r == 1 ? 0 : 2;
    if (!out) {
        fprintf(stderr, "qwick: convert needs --outfile OUT.gguf\nusage: %s\n", spec.usage);
        return 2;
    }
    int t = -1;
    for (size_t i = 0; type && i < sizeof g_types / sizeof g_types[0]; i++)
        if (strcasecmp(type, g_types[i]) == 0) t = qw_type_from_name(type);
    if (type && t < 0) {
        fprintf(stderr, "qwick: unknown --type '%s' (f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, iq4_nl)\n", type);
        return 2;
    }
    qw_model *m;
    qw_status s = qw_model_load_for_convert(&m, pos[0]);
    if (s != QW_OK) return qw_cli_fail(s);
    char base[256];
    qw_cli_model_basename(pos[0], base, sizeof base);
    char *tmpl = qw_cli_chat_template(pos[0], m);
    qw_gguf_save_opts o = {.type = t >= 0 ? (qw_type)t : m->config.dtype, .name = name ? name : base, .chat_template = tmpl,
                           .n_threads = threads};
    double t0 = qw_time_sec();
    s = qw_model_save_gguf(m, out, &o);
    if (s == QW_OK)
        fprintf(stderr, "qwick: wrote %s (%s) in %.1f s\n", out, qw_type_name(o.type), qw_time_sec() - t0);
    free(tmpl);
    qw_model_free(m);
    return s == QW_OK ? 0 : qw_cli_fail(s);
}
