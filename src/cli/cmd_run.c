// cli/cmd_run: `qwick run MODEL -p TEXT`: prompt (plain or ChatML), generation streamed to stdout,
// optionally every prompt position's logits dumped to .npy for comparison with other implementations.
#include "cli.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    const char *prompt, *file, *tokens, *system, *dump;
    int chat, n_predict, threads, ctx, batch, quiet;
    qw_cli_sampling samp;
} run_opts;

// Parses "1,2,3" into ids. Returns the count, or -1 on a malformed list.
static int parse_ids(const char *s, int32_t **out) {
    int cap = 16, n = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap);
    while (ids && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > 0x7fffffff) break;
        if (n == cap) {
            int32_t *g = realloc(ids, sizeof(int32_t) * (size_t)(cap *= 2));
            if (!g) break;
            ids = g;
        }
        ids[n++] = (int32_t)v;
        s = end;
        while (*s == ',' || *s == ' ') s++;
        if (!*s) {
            *out = ids;
            return n;
        }
    }
    free(ids);
    return -1;
}

// The prompt's token ids, from --tokens, or from the text (-p or --file) through the chat template when
// --chat is given.
qw_status qw_cli_prompt_tokens(const qw_model *m, const char *text, int chat, const char *system,
                               int32_t **ids, size_t *n) {
    if (!m->tok) return qw_error(QW_ERR_ARG, "%s: no tokenizer.json; give the prompt as --tokens", m->path);
    char *rendered = NULL;
    if (chat) {
        qw_chat_message msgs[2];
        int k = 0;
        if (system) msgs[k++] = (qw_chat_message){"system", system};
        msgs[k++] = (qw_chat_message){"user", text};
        QW_TRY(qw_chat_render(msgs, k, 1, &rendered));
        text = rendered;
    }
    qw_status s = qw_tok_encode(m->tok, text, strlen(text), chat, ids, n);
    free(rendered);
    return s;
}

typedef struct {
    const qw_tokenizer *tok;
    qw_tok_stream stream;
} printer;

static int print_token(void *ctx, int32_t t) {
    printer *p = ctx;
    if (!p->tok) {
        printf("%d ", t);
    } else {
        char buf[512];
        size_t n = qw_tok_stream_push(&p->stream, p->tok, t, buf, sizeof buf);
        fwrite(buf, 1, n, stdout);
    }
    fflush(stdout);
    return 0;
}

static qw_status dump_logits(const char *path, const float *logits, int n, int vocab) {
    int64_t shape[2] = {n, vocab};
    return qw_npy_write_f32(path, logits, 2, shape);
}

static int run(const run_opts *o, const char *model_path) {
    qw_model *m = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    float *all = NULL;
    qw_session s;
    qw_sampler smp;
    memset(&s, 0, sizeof s);
    memset(&smp, 0, sizeof smp);
    char *file_text = NULL;
    qw_status st = qw_model_load(&m, model_path);
    if (st != QW_OK) return qw_cli_fail(st);

    if (o->tokens) {
        int k = parse_ids(o->tokens, &ids);
        if (k <= 0) {
            st = qw_error(QW_ERR_ARG, "--tokens: expected a comma-separated list of ids, got '%s'", o->tokens);
            goto done;
        }
        n_ids = (size_t)k;
    } else {
        const char *text = o->prompt;
        if (o->file) {
            st = qw_file_read_all(o->file, (size_t)1 << 30, &file_text, NULL);
            if (st != QW_OK) goto done;
            text = file_text;
        }
        if (!text) {
            st = qw_error(QW_ERR_ARG, "no prompt: give -p TEXT, --file F or --tokens IDS");
            goto done;
        }
        st = qw_cli_prompt_tokens(m, text, o->chat, o->system, &ids, &n_ids);
        if (st != QW_OK) goto done;
    }
    if (n_ids == 0) {
        st = qw_error(QW_ERR_ARG, "the prompt is empty");
        goto done;
    }

    int n_predict = o->n_predict < 0 ? 0 : o->n_predict;
    int ctx = o->ctx > 0 ? o->ctx : (int)n_ids + n_predict;
    if (ctx > m->config.max_position_embeddings) ctx = m->config.max_position_embeddings;
    if ((int)n_ids > ctx) {
        st = qw_error(QW_ERR_ARG, "prompt of %zu tokens exceeds the context of %d", n_ids, ctx);
        goto done;
    }
    int batch = o->batch > 0 ? o->batch : 512;
    if (o->dump && batch > 64) batch = 64; // every row's logits are kept: bound the per-chunk buffer
    st = qw_session_init(&s, m, ctx, batch, o->threads > 0 ? o->threads : qw_threads_default());
    if (st != QW_OK) goto done;

    qw_sampler_params sp = qw_cli_sampling_params(&o->samp, &m->config);
    st = qw_sampler_init(&smp, &sp, m->config.vocab_size);
    if (st != QW_OK) goto done;

    if (o->dump) {
        all = malloc(sizeof(float) * n_ids * (size_t)m->config.vocab_size);
        if (!all) {
            st = qw_error(QW_ERR_NOMEM, "--dump-logits: %zu x %d floats: out of memory", n_ids, m->config.vocab_size);
            goto done;
        }
    }
    st = qw_session_prefill(&s, ids, (int)n_ids, all);
    if (st != QW_OK) goto done;
    if (o->dump) {
        st = dump_logits(o->dump, all, (int)n_ids, m->config.vocab_size);
        if (st != QW_OK) goto done;
    }

    int32_t stop[16];
    int n_stop = qw_model_stop_tokens(m, stop, 16);
    printer pr = {.tok = m->tok};
    qw_tok_stream_init(&pr.stream);
    int n_gen = 0;
    st = qw_generate(&s, &smp, n_predict, stop, n_stop, print_token, &pr, &n_gen);
    if (m->tok) {
        char tail[16];
        fwrite(tail, 1, qw_tok_stream_flush(&pr.stream, tail, sizeof tail), stdout);
    }
    if (n_gen > 0) putchar('\n');
    fflush(stdout);
    if (st != QW_OK) goto done;
    if (!o->quiet)
        fprintf(stderr, "qwick: prompt %d tokens in %.3f s (%.2f tok/s), generated %d tokens in %.3f s (%.2f tok/s)\n",
                s.n_prefilled, s.t_prefill, s.t_prefill > 0 ? s.n_prefilled / s.t_prefill : 0.0, n_gen,
                s.t_decode, s.t_decode > 0 ? s.n_decoded / s.t_decode : 0.0);
done:
    free(all);
    free(ids);
    free(file_text);
    qw_sampler_free(&smp);
    qw_session_free(&s);
    qw_model_free(m);
    return st == QW_OK ? 0 : qw_cli_fail(st);
}

int qw_cmd_run(int argc, char **argv) {
    run_opts o = {.n_predict = 128, .samp = QW_CLI_SAMPLING_INIT};
    const qw_opt opts[] = {
        {"--prompt", "-p", QW_OPT_STR, &o.prompt, "prompt text"},
        {"--file", "-f", QW_OPT_STR, &o.file, "read the prompt from a file, verbatim"},
        {"--tokens", NULL, QW_OPT_STR, &o.tokens, "prompt as comma-separated token ids (no tokenizer)"},
        {"--chat", NULL, QW_OPT_FLAG, &o.chat, "wrap the prompt in the ChatML template (Qwen2.5-Instruct)"},
        {"--system", NULL, QW_OPT_STR, &o.system, "system prompt with --chat (default: Qwen's)"},
        {"--n-predict", "-n", QW_OPT_INT, &o.n_predict, "tokens to generate (default 128; 0: prompt only)"},
        QW_CLI_SAMPLING_OPTS(o.samp),
        {"--threads", "-t", QW_OPT_INT, &o.threads, "threads (default: QWICK_THREADS or all cores)"},
        {"--ctx", "-c", QW_OPT_INT, &o.ctx, "context length (default: prompt + n-predict)"},
        {"--batch", "-b", QW_OPT_INT, &o.batch, "prompt tokens per forward (default 512)"},
        {"--dump-logits", NULL, QW_OPT_STR, &o.dump, "write every prompt position's logits to FILE.npy (float32)"},
        {"--quiet", "-q", QW_OPT_FLAG, &o.quiet, "no timing line on stderr"},
    };
    qw_cmd_spec spec = {"qwick run MODEL (-p TEXT | -f FILE | --tokens IDS) [options]",
                        "Runs the prompt through the model and streams the generated text to stdout.", opts,
                        (int)(sizeof opts / sizeof opts[0]), 1, 1};
    const char *pos[1];
    int n_pos, r = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (r) return r == 1 ? 0 : 2;
    return run(&o, pos[0]);
}
