// cli: the qwick command. Each subcommand is one file (cmd_<name>.c) with one entry point; this header
// holds the option table parser they share, so every command gets the same --help and error style.
#ifndef QW_CLI_H
#define QW_CLI_H

#include "generate/generate.h"

#include <math.h>
#include "model/model.h"

typedef enum { QW_OPT_FLAG, QW_OPT_INT, QW_OPT_FLOAT, QW_OPT_STR } qw_opt_kind;

typedef struct {
    const char *name;  // "--temp"
    const char *alias; // "-t" or NULL
    qw_opt_kind kind;
    void *dst;         // int* (FLAG, INT), float* (FLOAT), const char** (STR)
    const char *help;
} qw_opt;

typedef struct {
    const char *usage;       // "qwick run MODEL -p TEXT [options]"
    const char *description; // one paragraph
    const qw_opt *opts;
    int n_opts;
    int min_pos, max_pos;    // positional arguments accepted
} qw_cmd_spec;

// Parses argv (argv[0] is the subcommand name). Returns 0 on success, 1 when --help was printed (the
// command should exit 0), 2 on a usage error (already printed to stderr).
int qw_cli_parse(const qw_cmd_spec *spec, int argc, char **argv, const char **pos, int *n_pos);
// Prints "qwick: <message>" for the current error and returns the exit status for it.
int qw_cli_fail(qw_status s);
// True when stdout/stderr is a terminal (progress and colour only then).
int qw_cli_isatty(int fd);
// Where the shipped tokenizer files live (QWICK_MODELS, else the source tree's models/ folder).
const char *qw_cli_models_dir(void);
// Loads the tokenizer of MODEL: a tokenizer.json file or a folder holding one.
qw_status qw_cli_load_tokenizer(const char *model, qw_tokenizer **out);

// Sampling flags shared by run and chat. Unset values (NAN, -1, -2) keep generation_config.json's.
typedef struct {
    float temp, top_p, min_p, repeat_penalty;
    int top_k, repeat_last_n, seed;
} qw_cli_sampling;

#define QW_CLI_SAMPLING_INIT {NAN, NAN, NAN, NAN, -1, -2, 0}
// The option-table rows for a qw_cli_sampling named s (7 rows).
#define QW_CLI_SAMPLING_OPTS(s)                                                                              \
    {"--temp", NULL, QW_OPT_FLOAT, &(s).temp, "temperature, 0 = greedy (default: generation_config.json)"},   \
    {"--top-k", NULL, QW_OPT_INT, &(s).top_k, "keep the k most likely tokens (0 = off)"},                     \
    {"--top-p", NULL, QW_OPT_FLOAT, &(s).top_p, "nucleus sampling mass (1 = off)"},                           \
    {"--min-p", NULL, QW_OPT_FLOAT, &(s).min_p, "drop tokens under this fraction of the top one (0 = off)"},  \
    {"--repeat-penalty", NULL, QW_OPT_FLOAT, &(s).repeat_penalty, "repetition penalty (1 = off)"},            \
    {"--repeat-last-n", NULL, QW_OPT_INT, &(s).repeat_last_n, "tokens the penalty looks back on (-1 = all, default 64)"}, \
    {"--seed", NULL, QW_OPT_INT, &(s).seed, "random seed (default 0)"}
// The model's generation defaults with the given flags applied.
qw_sampler_params qw_cli_sampling_params(const qw_cli_sampling *s, const qw_config *c);

// The prompt's ids: text through the ChatML template when chat is set (system optional), then encoded.
qw_status qw_cli_prompt_tokens(const qw_model *m, const char *text, int chat, const char *system,
                               int32_t **ids, size_t *n);

// For GGUF writers: the model's folder or file name without its directory, into buf; its chat template
// (tokenizer_config.json's, or a GGUF source's own), malloc'd, or NULL.
void qw_cli_model_basename(const char *path, char *buf, size_t n);
char *qw_cli_chat_template(const char *model, const qw_model *m);

int qw_cmd_info(int argc, char **argv);
int qw_cmd_run(int argc, char **argv);
int qw_cmd_chat(int argc, char **argv);
int qw_cmd_init(int argc, char **argv);
int qw_cmd_tokenize(int argc, char **argv);
int qw_cmd_bench(int argc, char **argv);
int qw_cmd_eval(int argc, char **argv);
int qw_cmd_convert(int argc, char **argv);
int qw_cmd_report(int argc, char **argv);
int qw_cmd_train(int argc, char **argv);
int qw_cmd_finetune(int argc, char **argv);
int qw_cmd_quantize(int argc, char **argv);

#endif
