// cli/main: `qwick <command> ...`: finds the subcommand and hands it argv.
#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} g_cmds[] = {
    {"info", qw_cmd_info, "show what a model folder holds (config, tensors, sizes)"},
    {"run", qw_cmd_run, "generate text from a prompt, streaming tokens"},
    {"chat", qw_cmd_chat, "interactive multi-turn chat (ChatML)"},
    {"tokenize", qw_cmd_tokenize, "print the token ids of a text"},
    {"init", qw_cmd_init, "write a random-weight Qwen2 model of a given shape (HF layout)"},
    {"convert", qw_cmd_convert, "write a model as GGUF for llama.cpp (float or quantized)"},
    {"quantize", qw_cmd_quantize, "quantize with calibration (RTN, GPTQ, AWQ, mixed precision) to GGUF"},
    {"bench", qw_cmd_bench, "measure prefill and decode speed and memory"},
    {"eval", qw_cmd_eval, "perplexity, KL divergence against a reference, task accuracy"},
    {"report", qw_cmd_report, "write an HTML report comparing models (accuracy and speed)"},
    {"train", qw_cmd_train, "train a new small model from scratch on text or chat JSONL"},
    {"finetune", qw_cmd_finetune, "fine-tune a model (full or LoRA) on chat JSONL or text"},
};

static void usage(FILE *f) {
    fprintf(f, "qwick: make a fine-tuned Qwen2.5 fast, and prove it kept its accuracy\n\n"
               "usage: qwick <command> [options]   (qwick <command> --help for each)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++) fprintf(f, "  %-10s %s\n", g_cmds[i].name, g_cmds[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    qw_cleanup_install(); // Ctrl-C removes temporary outputs (the outputs themselves are renamed into place)
    for (size_t i = 0; i < sizeof g_cmds / sizeof g_cmds[0]; i++)
        if (strcmp(argv[1], g_cmds[i].name) == 0) return g_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "qwick: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
