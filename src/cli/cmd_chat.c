// cli/cmd_chat: `qwick chat MODEL`: a multi-turn ChatML conversation on stdin/stdout. The session keeps
// the KV cache between turns, so each turn only prefills the new user message.
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
    const qw_tokenizer *tok;
    qw_tok_stream stream;
    char *text;
    size_t len, cap;
} reply;

static void reply_append(reply *r, const char *s, size_t n) {
    if (r->len + n + 1 > r->cap) {
        size_t cap = (r->len + n + 1) * 2;
        char *t = realloc(r->text, cap);
        if (!t) return; // the reply is still printed; only the history copy is cut
        r->text = t;
        r->cap = cap;
    }
    memcpy(r->text + r->len, s, n);
    r->len += n;
    r->text[r->len] = 0;
}

static int on_token(void *ctx, int32_t t) {
    reply *r = ctx;
    char buf[512];
    size_t n = qw_tok_stream_push(&r->stream, r->tok, t, buf, sizeof buf);
    fwrite(buf, 1, n, stdout);
    fflush(stdout);
    reply_append(r, buf, n);
    return 0;
}

typedef struct {
    qw_chat_message *msgs;
    int n, cap;
} history;

static int history_add(history *h, const char *role, const char *content) {
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 8;
        qw_chat_message *m = realloc(h->msgs, sizeof *m * (size_t)cap);
        if (!m) return 0;
        h->msgs = m;
        h->cap = cap;
    }
    char *c = qw_strdup(content);
    if (!c) return 0;
    h->msgs[h->n++] = (qw_chat_message){role, c};
    return 1;
}

static void history_clear(history *h, int keep) {
    for (int i = keep; i < h->n; i++) free((char *)h->msgs[i].content);
    h->n = keep;
}

// One turn: render the whole conversation, let the session reuse the cached prefix, generate the reply.
static qw_status turn(qw_session *s, qw_sampler *smp, history *h, int n_predict, const int32_t *stop,
                      int n_stop, int verbose) {
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    QW_TRY(qw_chat_render(h->msgs, h->n, 1, &text));
    qw_status st = qw_tok_encode(s->m->tok, text, strlen(text), 1, &ids, &n);
    free(text);
    if (st != QW_OK) return st;
    int before = s->n_prefilled;
    double t0 = s->t_prefill, d0 = s->t_decode;
    int dec0 = s->n_decoded;
    st = qw_session_set_tokens(s, ids, (int)n);
    free(ids);
    if (st != QW_OK) return st;
    reply r = {.tok = s->m->tok};
    qw_tok_stream_init(&r.stream);
    int n_gen = 0;
    int room = s->n_ctx - s->n_tokens;
    st = qw_generate(s, smp, n_predict < room ? n_predict : room, stop, n_stop, on_token, &r, &n_gen);
    char tail[16];
    size_t k = qw_tok_stream_flush(&r.stream, tail, sizeof tail);
    fwrite(tail, 1, k, stdout);
    reply_append(&r, tail, k);
    printf("\n");
    fflush(stdout);
    if (st == QW_OK && !history_add(h, "assistant", r.text ? r.text : "")) st = qw_error(QW_ERR_NOMEM, "out of memory");
    free(r.text);
    if (verbose)
        fprintf(stderr, "[%d new prompt tokens (%zu reused from the cache) in %.2f s; %d tokens at %.2f tok/s]\n",
                s->n_prefilled - before, n - (size_t)(s->n_prefilled - before), s->t_prefill - t0, n_gen,
                s->t_decode > d0 ? (s->n_decoded - dec0) / (s->t_decode - d0) : 0.0);
    return st;
}

int qw_cmd_chat(int argc, char **argv) {
    const char *system = NULL;
    int n_predict = 512, threads = 0, ctx = 4096, verbose = 0;
    qw_cli_sampling samp = QW_CLI_SAMPLING_INIT;
    const qw_opt opts[] = {
        {"--system", NULL, QW_OPT_STR, &system, "system prompt (default: Qwen's)"},
        {"--n-predict", "-n", QW_OPT_INT, &n_predict, "most tokens per reply (default 512)"},
        {"--ctx", "-c", QW_OPT_INT, &ctx, "context length for the whole conversation (default 4096)"},
        QW_CLI_SAMPLING_OPTS(samp),
        {"--threads", "-t", QW_OPT_INT, &threads, "threads"},
        {"--verbose", "-v", QW_OPT_FLAG, &verbose, "print cache reuse and speed after each reply"},
    };
    qw_cmd_spec spec = {"qwick chat MODEL [options]",
                        "Multi-turn chat: each line on stdin is a user turn; the reply streams to stdout. "
                        "/reset starts over, /exit (or end of input) quits.",
                        opts, (int)(sizeof opts / sizeof opts[0]), 1, 1};
    const char *pos[1];
    int n_pos, r = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (r) return r == 1 ? 0 : 2;

    qw_model *m;
    qw_status st = qw_model_load(&m, pos[0]);
    if (st != QW_OK) return qw_cli_fail(st);
    if (!m->tok) {
        qw_error(QW_ERR_ARG, "%s: chat needs tokenizer.json in the model folder", pos[0]);
        qw_model_free(m);
        return qw_cli_fail(QW_ERR_ARG);
    }
    if (ctx > m->config.max_position_embeddings) ctx = m->config.max_position_embeddings;
    qw_session s;
    qw_sampler smp;
    memset(&smp, 0, sizeof smp);
    st = qw_session_init(&s, m, ctx, 512, threads > 0 ? threads : qw_threads_default());
    qw_sampler_params sp = qw_cli_sampling_params(&samp, &m->config);
    if (st == QW_OK) st = qw_sampler_init(&smp, &sp, m->config.vocab_size);
    int32_t stop[16];
    int n_stop = qw_model_stop_tokens(m, stop, 16);
    history h = {0};
    int keep = 0;
    if (st == QW_OK && system) {
        if (!history_add(&h, "system", system)) st = qw_error(QW_ERR_NOMEM, "out of memory");
        keep = h.n;
    }
    int tty = isatty(0);
    char *line = NULL;
    size_t lcap = 0;
    while (st == QW_OK) {
        if (tty) fputs("> ", stderr);
        ssize_t len = getline(&line, &lcap, stdin);
        if (len < 0) break;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        if (strcmp(line, "/exit") == 0 || strcmp(line, "/quit") == 0) break;
        if (strcmp(line, "/reset") == 0) {
            history_clear(&h, keep);
            continue;
        }
        if (!history_add(&h, "user", line)) {
            st = qw_error(QW_ERR_NOMEM, "out of memory");
            break;
        }
        st = turn(&s, &smp, &h, n_predict, stop, n_stop, verbose);
        if (st == QW_ERR_ARG) { // the conversation outgrew the context: say so and carry on fresh
            fprintf(stderr, "qwick: %s; starting a new conversation (use -c to allow more)\n", qw_error_message());
            history_clear(&h, keep);
            st = QW_OK;
        }
    }
    free(line);
    history_clear(&h, 0);
    free(h.msgs);
    qw_sampler_free(&smp);
    qw_session_free(&s);
    qw_model_free(m);
    return st == QW_OK ? 0 : qw_cli_fail(st);
}
