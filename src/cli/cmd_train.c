// cli/cmd_train: `qwick train` (a new model from a config.json shape, from scratch) and `qwick finetune MODEL`
// (full or LoRA), both on plain text or chat JSONL, writing an HF folder that qwick and transformers load.
#include "cli.h"
#include "train/train.h"

#include <errno.h>
#include <sys/stat.h>

typedef struct {
    const char *data, *val, *out, *dtype, *ckpt_dir, *tok_dir, *lora_targets, *config_from;
    int batch, accum, ctx, steps, warmup, seed, eval_every, eval_batches, log_every, ckpt_every, resume, threads;
    int no_shuffle, quiet, lora, hidden, ff, layers, heads, kv_heads, vocab;
    float lr, min_lr, epochs, wd, beta1, beta2, clip, lora_alpha;
} train_args;

#define COMMON_OPTS(a)                                                                                           \
    {"--data", NULL, QW_OPT_STR, &(a).data, "training data: .jsonl (prompt/answer or messages) or plain text"},   \
    {"--val", NULL, QW_OPT_STR, &(a).val, "validation data (same formats), evaluated every --eval-every steps"},   \
    {"--output", "-o", QW_OPT_STR, &(a).out, "folder to write the trained model to (HF layout)"},                 \
    {"--dtype", NULL, QW_OPT_STR, &(a).dtype, "weights written: f32 | bf16 | f16 (default bf16)"},                  \
    {"--lr", NULL, QW_OPT_FLOAT, &(a).lr, "peak learning rate (default 3e-4; finetune 1e-4, LoRA 1e-3)"},        \
    {"--min-lr", NULL, QW_OPT_FLOAT, &(a).min_lr, "learning rate at the end of the cosine (default lr / 10)"},     \
    {"--steps", NULL, QW_OPT_INT, &(a).steps, "optimiser steps (default: from --epochs)"},                       \
    {"--epochs", NULL, QW_OPT_FLOAT, &(a).epochs, "passes over the data when --steps is not given (default 1)"}, \
    {"--batch", "-b", QW_OPT_INT, &(a).batch, "sequences per micro-batch (default 8)"},                           \
    {"--accum", NULL, QW_OPT_INT, &(a).accum, "micro-batches per optimiser step (effective batch = batch x accum; default 1)"}, \
    {"--ctx", NULL, QW_OPT_INT, &(a).ctx, "context: text sequence length, longest JSONL example (default 256)"},   \
    {"--warmup", NULL, QW_OPT_INT, &(a).warmup, "linear warm-up steps (default 5% of the steps)"},               \
    {"--weight-decay", NULL, QW_OPT_FLOAT, &(a).wd, "AdamW weight decay on matrices and embeddings (default 0.1)"}, \
    {"--beta1", NULL, QW_OPT_FLOAT, &(a).beta1, "AdamW beta1 (default 0.9)"},                                    \
    {"--beta2", NULL, QW_OPT_FLOAT, &(a).beta2, "AdamW beta2 (default 0.95)"},                                   \
    {"--clip", NULL, QW_OPT_FLOAT, &(a).clip, "clip the global gradient norm to this (0: off; default 1)"},       \
    {"--seed", NULL, QW_OPT_INT, &(a).seed, "seed for initialisation and data order (default 1)"},               \
    {"--no-shuffle", NULL, QW_OPT_FLAG, &(a).no_shuffle, "keep the data in file order"},                          \
    {"--eval-every", NULL, QW_OPT_INT, &(a).eval_every, "evaluate on --val every N steps (default: at the end only)"}, \
    {"--eval-batches", NULL, QW_OPT_INT, &(a).eval_batches, "micro-batches of --val per evaluation (0: all; default 50)"}, \
    {"--log-every", NULL, QW_OPT_INT, &(a).log_every, "print a progress line every N steps (default 10)"},        \
    {"--ckpt-dir", NULL, QW_OPT_STR, &(a).ckpt_dir, "write DIR/checkpoint.bin (atomically) for resuming"},        \
    {"--ckpt-every", NULL, QW_OPT_INT, &(a).ckpt_every, "checkpoint every N steps (default: at the end only)"},    \
    {"--resume", NULL, QW_OPT_FLAG, &(a).resume, "continue from --ckpt-dir's checkpoint when there is one"},      \
    {"--tokenizer", NULL, QW_OPT_STR, &(a).tok_dir, "folder with tokenizer.json (default: the model's)"},         \
    {"--threads", "-t", QW_OPT_INT, &(a).threads, "threads (default: all cores)"},                                \
    {"--quiet", "-q", QW_OPT_FLAG, &(a).quiet, "no progress lines"}

static void args_default(train_args *a) {
    memset(a, 0, sizeof *a);
    a->dtype = "bf16";
    a->lr = NAN;
    a->min_lr = -1;
    a->epochs = 1;
    a->batch = 8;
    a->accum = 1;
    a->ctx = 256;
    a->warmup = -1;
    a->wd = 0.1f;
    a->beta1 = 0.9f;
    a->beta2 = 0.95f;
    a->clip = 1.0f;
    a->seed = 1;
    a->eval_batches = 50;
    a->log_every = 10;
    a->lora_alpha = NAN;
    a->lora_targets = "q,k,v,o,gate,up,down";
}

static qw_type parse_dtype(const char *s) {
    return strcmp(s, "bf16") == 0 ? QW_TYPE_BF16 : strcmp(s, "f16") == 0 ? QW_TYPE_F16
         : strcmp(s, "f32") == 0 ? QW_TYPE_F32 : QW_TYPE_COUNT;
}

// Loads the data, trains m, writes the model. Owns nothing of m.
static int train_and_export(qw_tmodel *m, const train_args *a, const qw_tokenizer *tok, const char *tok_dir,
                            float default_lr) {
    qw_type dt = parse_dtype(a->dtype);
    if (dt == QW_TYPE_COUNT) {
        fprintf(stderr, "qwick: --dtype must be f32, bf16 or f16\n");
        return 2;
    }
    if (a->out && mkdir(a->out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "qwick: %s: cannot create: %s\n", a->out, strerror(errno));
        return 1;
    }
    qw_dataset train, val;
    double t0 = qw_time_sec();
    qw_status s = qw_dataset_load(&train, tok, a->data, a->ctx);
    if (s != QW_OK) return qw_cli_fail(s);
    int have_val = 0;
    if (a->val) {
        s = qw_dataset_load(&val, tok, a->val, a->ctx);
        if (s != QW_OK) {
            qw_dataset_free(&train);
            return qw_cli_fail(s);
        }
        have_val = 1;
    }
    if (!a->quiet)
        fprintf(stderr, "data: %s: %lld sequences, %lld tokens%s (%.1f s)\n", a->data, (long long)train.n_seq,
                (long long)train.n_tok, train.seq_len ? " (packed text)" : " (chat JSONL, loss on answers)",
                qw_time_sec() - t0);
    qw_train_opts o;
    qw_train_opts_default(&o);
    o.batch = a->batch;
    o.accum = a->accum;
    o.ctx = a->ctx;
    o.steps = a->steps;
    o.epochs = a->epochs;
    o.lr = isnan(a->lr) ? default_lr : a->lr;
    o.min_lr = a->min_lr;
    o.weight_decay = a->wd;
    o.beta1 = a->beta1;
    o.beta2 = a->beta2;
    o.clip = a->clip;
    o.warmup = a->warmup;
    o.seed = (uint64_t)a->seed;
    o.shuffle = !a->no_shuffle;
    o.eval_every = a->eval_every;
    o.eval_batches = a->eval_batches;
    o.log_every = a->log_every;
    o.ckpt_dir = a->ckpt_dir;
    o.ckpt_every = a->ckpt_every;
    o.resume = a->resume;
    o.n_threads = a->threads > 0 ? a->threads : qw_threads_default();
    o.quiet = a->quiet;
    s = qw_train_run(m, &train, have_val ? &val : NULL, &o);
    qw_dataset_free(&train);
    if (have_val) qw_dataset_free(&val);
    if (s == QW_OK) s = qw_tmodel_export(m, a->out, dt, tok_dir);
    if (s != QW_OK) return qw_cli_fail(s);
    if (!a->quiet) fprintf(stderr, "qwick: wrote %s (%s) in %.1f s\n", a->out, a->dtype, qw_time_sec() - t0);
    return 0;
}

static int check_common(const train_args *a, const char *cmd) {
    if (!a->data || !a->out) {
        fprintf(stderr, "qwick: %s needs --data FILE and -o DIR (see qwick %s --help)\n", cmd, cmd);
        return 2;
    }
    if (a->batch < 1 || a->accum < 1 || a->ctx < 2 || a->steps < 0 || a->epochs <= 0) {
        fprintf(stderr, "qwick: --batch, --accum must be >= 1, --ctx >= 2, --steps >= 0, --epochs > 0\n");
        return 2;
    }
    if (a->resume && !a->ckpt_dir) {
        fprintf(stderr, "qwick: --resume needs --ckpt-dir DIR\n");
        return 2;
    }
    return 0;
}

int qw_cmd_train(int argc, char **argv) {
    train_args a;
    args_default(&a);
    const qw_opt opts[] = {
        {"--config-from", NULL, QW_OPT_STR, &a.config_from, "folder whose config.json gives the shape (e.g. from qwick init)"},
        {"--hidden", NULL, QW_OPT_INT, &a.hidden, "override: hidden size"},
        {"--ff", NULL, QW_OPT_INT, &a.ff, "override: intermediate (FFN) size"},
        {"--layers", NULL, QW_OPT_INT, &a.layers, "override: layers"},
        {"--heads", NULL, QW_OPT_INT, &a.heads, "override: attention heads (head_dim = hidden / heads)"},
        {"--kv-heads", NULL, QW_OPT_INT, &a.kv_heads, "override: key/value heads"},
        {"--vocab", NULL, QW_OPT_INT, &a.vocab, "override: vocabulary rows"},
        COMMON_OPTS(a),
    };
    qw_cmd_spec spec = {"qwick train --config-from DIR --data FILE -o OUT [options]",
                        "Trains a new Qwen2 model from scratch (random init, N(0, 0.02)) with the shape of DIR's "
                        "config.json and its tokenizer, on plain text (packed into --ctx tokens) or chat JSONL; AdamW, "
                        "warm-up + cosine, gradient clipping and accumulation, checkpoints that resume exactly. Writes "
                        "an HF folder (config.json, model.safetensors, tokenizer files).",
                        opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    const char *pos[1];
    int n_pos, r = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (r) return r == 1 ? 0 : 2;
    if (!a.config_from) {
        fprintf(stderr, "qwick: train needs --config-from DIR (a folder with config.json, e.g. from qwick init)\n");
        return 2;
    }
    if ((r = check_common(&a, "train"))) return r;
    qw_config c;
    qw_status s = qw_config_load(&c, a.config_from);
    if (s != QW_OK) return qw_cli_fail(s);
    if (a.hidden) c.hidden_size = a.hidden;
    if (a.ff) c.intermediate_size = a.ff;
    if (a.layers) c.n_layers = a.layers;
    if (a.heads) c.n_heads = a.heads;
    if (a.kv_heads) c.n_kv_heads = a.kv_heads;
    if (a.vocab) c.vocab_size = a.vocab;
    if (a.hidden || a.heads) c.head_dim = c.n_heads > 0 ? c.hidden_size / c.n_heads : 0;
    if (c.n_heads <= 0 || c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads || c.head_dim % 2 ||
        c.head_dim * c.n_heads != c.hidden_size) {
        fprintf(stderr, "qwick: shape needs hidden = heads x an even head_dim and heads a multiple of kv-heads\n");
        return 2;
    }
    c.dtype = QW_TYPE_F32;
    const char *tok_dir = a.tok_dir ? a.tok_dir : a.config_from;
    qw_tokenizer *tok;
    s = qw_cli_load_tokenizer(tok_dir, &tok);
    if (s != QW_OK) return qw_cli_fail(s);
    qw_tmodel m;
    s = qw_tmodel_init_random(&m, &c, (uint64_t)a.seed);
    if (s != QW_OK) {
        qw_tok_free(tok);
        return qw_cli_fail(s);
    }
    r = train_and_export(&m, &a, tok, tok_dir, 3e-4f);
    qw_tmodel_free(&m);
    qw_tok_free(tok);
    return r;
}

int qw_cmd_finetune(int argc, char **argv) {
    train_args a;
    args_default(&a);
    const qw_opt opts[] = {
        COMMON_OPTS(a),
        {"--lora", NULL, QW_OPT_INT, &a.lora, "train rank-R LoRA adapters instead of every weight (base frozen)"},
        {"--lora-alpha", NULL, QW_OPT_FLOAT, &a.lora_alpha, "LoRA scale numerator: updates are alpha / R x B A (default 2R)"},
        {"--lora-targets", NULL, QW_OPT_STR, &a.lora_targets, "comma list of q,k,v,o,gate,up,down or all (default all)"},
    };
    qw_cmd_spec spec = {"qwick finetune MODEL --data FILE -o OUT [--lora R] [options]",
                        "Fine-tunes MODEL (HF folder or GGUF; quantized matrices are dequantized, training is in f32) on "
                        "chat JSONL (loss on the answers) or "
                        "plain text: every weight, or rank-R LoRA adapters on the chosen projections, merged into the "
                        "weights on export. Writes an HF folder (config.json, model.safetensors, tokenizer files).",
                        opts, (int)(sizeof opts / sizeof opts[0]), 1, 1};
    const char *pos[1];
    int n_pos, r = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (r) return r == 1 ? 0 : 2;
    if ((r = check_common(&a, "finetune"))) return r;
    int targets = qw_lora_parse_targets(a.lora_targets);
    if (a.lora < 0 || (a.lora && targets < 0)) {
        fprintf(stderr, "qwick: --lora needs a rank >= 1 and --lora-targets from q,k,v,o,gate,up,down (or all)\n");
        return 2;
    }
    qw_model *src; // read once into the training weights: no resident copy (qw_model_load's) needed
    qw_status s = qw_model_load_for_convert(&src, pos[0]);
    if (s != QW_OK) return qw_cli_fail(s);
    const char *tok_dir = a.tok_dir ? a.tok_dir : qw_dir_exists(pos[0]) ? pos[0] : NULL;
    qw_tokenizer *tok = NULL;
    if (a.tok_dir) s = qw_cli_load_tokenizer(a.tok_dir, &tok);
    else if (!src->tok) s = qw_error(QW_ERR_ARG, "%s has no tokenizer: give --tokenizer DIR", pos[0]);
    if (s != QW_OK) {
        qw_model_free(src);
        return qw_cli_fail(s);
    }
    qw_tmodel m;
    s = qw_tmodel_from_model(&m, src);
    if (s == QW_OK && a.lora) s = qw_tmodel_add_lora(&m, a.lora, isnan(a.lora_alpha) ? 2.0f * a.lora : a.lora_alpha,
                                                     targets, (uint64_t)a.seed);
    if (s != QW_OK) {
        qw_tok_free(tok);
        qw_model_free(src);
        return qw_cli_fail(s);
    }
    r = train_and_export(&m, &a, tok ? tok : src->tok, tok_dir, a.lora ? 1e-3f : 1e-4f);
    qw_tmodel_free(&m);
    qw_tok_free(tok);
    qw_model_free(src);
    return r;
}
