// report/bench_torch: drives bench/torch_peer.py --serve in a child process: it loads the weights and
// warms up once, then answers "rep" with one JSON line of samples, so qwick and PyTorch can alternate.
#include "report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct qw_torch_peer {
    pid_t pid;
    FILE *to, *from; // the child's stdin and stdout
    char *line;
    size_t line_cap;
    qw_bench_plan p;
};

void qw_torch_peer_stop(qw_torch_peer *t) {
    if (!t) return;
    if (t->to) fclose(t->to); // EOF on its stdin ends the serve loop
    if (t->from) fclose(t->from);
    if (t->pid > 0) {
        int st;
        while (waitpid(t->pid, &st, 0) < 0 && errno == EINTR) {}
    }
    free(t->line);
    free(t);
}

// Reads the peer's next message; an {"error": ...} line or an early exit becomes a qwick error.
static qw_status read_msg(qw_torch_peer *t, cJSON **out) {
    *out = NULL;
    for (;;) {
        ssize_t n = getline(&t->line, &t->line_cap, t->from);
        if (n < 0) return qw_error(QW_ERR_IO, "torch peer: exited early (its messages are above)");
        if (t->line[0] == '{') break; // anything else a library printed on stdout is skipped
    }
    cJSON *o = cJSON_Parse(t->line);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return qw_error(QW_ERR_FORMAT, "torch peer: not a JSON object: %.200s", t->line);
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (cJSON_IsString(e)) {
        qw_status s = qw_error(QW_ERR_IO, "torch peer: %s", e->valuestring);
        cJSON_Delete(o);
        return s;
    }
    *out = o;
    return QW_OK;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void list(char *buf, size_t n, const int *v, int count) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < count && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%d", i ? "," : "", v[i]);
}

qw_status qw_torch_peer_start(qw_torch_peer **out, const char *python, const char *script,
                              const char *model_dir, const qw_bench_plan *p, qw_bench_result *info) {
    *out = NULL;
    if (access(script, R_OK) != 0)
        return qw_error(QW_ERR_IO, "%s: the PyTorch peer script is not there (set QWICK_TORCH_PEER)", script);
    if (access(python, X_OK) != 0)
        return qw_error(QW_ERR_IO, "%s: no Python to run the PyTorch peer (scripts/install_torch.sh)", python);
    qw_torch_peer *t = calloc(1, sizeof *t);
    if (!t) return qw_error(QW_ERR_NOMEM, "out of memory");
    t->p = *p;
    char plens[256], batches[256], threads[16], ngen[16], ctx[16], seed[32];
    list(plens, sizeof plens, p->prompt_len, p->n_prompt);
    list(batches, sizeof batches, p->batch, p->n_batch);
    snprintf(threads, sizeof threads, "%d", p->threads);
    snprintf(ngen, sizeof ngen, "%d", p->n_gen);
    snprintf(ctx, sizeof ctx, "%d", p->decode_ctx);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)(p->seed % 1000000007ull));
    char *argv[] = {(char *)python, (char *)script, (char *)model_dir, "--serve", "--threads", threads,
                    "--prompt-lens", plens, "--batches", batches, "--decode", ngen, "--decode-ctx", ctx,
                    "--seed", seed, NULL};
    int in[2] = {-1, -1}, outp[2] = {-1, -1};
    if (pipe(in) != 0 || pipe(outp) != 0) {
        qw_status s = qw_error(QW_ERR_IO, "torch peer: pipe: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0) close(in[i]);
            if (outp[i] >= 0) close(outp[i]);
        }
        free(t);
        return s;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, outp[0]);
    int rc = posix_spawn(&t->pid, python, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(outp[1]);
    if (rc != 0) {
        close(in[1]);
        close(outp[0]);
        free(t);
        return qw_error(QW_ERR_IO, "%s: cannot start the PyTorch peer: %s", python, strerror(rc));
    }
    t->to = fdopen(in[1], "w");
    t->from = fdopen(outp[0], "r");
    if (!t->to || !t->from) {
        if (!t->to) close(in[1]);
        if (!t->from) close(outp[0]);
        qw_torch_peer_stop(t);
        return qw_error(QW_ERR_NOMEM, "torch peer: out of memory");
    }
    cJSON *o;
    qw_status s = read_msg(t, &o);
    if (s != QW_OK) {
        qw_torch_peer_stop(t);
        return s;
    }
    memset(info, 0, sizeof *info);
    const cJSON *v;
    snprintf(info->engine, sizeof info->engine, "%s",
             cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "peer")) ? v->valuestring : "pytorch-eager");
    snprintf(info->model, sizeof info->model, "%s",
             cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "model")) ? v->valuestring : model_dir);
    snprintf(info->dtype, sizeof info->dtype, "%s",
             cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "dtype")) ? v->valuestring : "?");
    snprintf(info->isa, sizeof info->isa, "torch %s",
             cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "torch")) ? v->valuestring : "?");
    qw_bench_cpu_name(info->cpu, sizeof info->cpu);
    info->model_bytes = num(o, "model_bytes");
    info->n_params = num(o, "n_params");
    info->bpw = info->n_params > 0 ? 8 * info->model_bytes / info->n_params : NAN;
    info->step_bytes = num(o, "step_bytes");
    info->bandwidth_gb_s = NAN;
    cJSON_Delete(o);
    *out = t;
    return QW_OK;
}

// Fills one sample column from rows [{key_name: N, a: x, b: y}] in the plan's order.
static qw_status take_rows(const cJSON *o, const char *rows, const char *key, const int *want, int n,
                           const char *fa, const char *fb, double (*a)[QW_BENCH_MAX_REPS],
                           double (*b)[QW_BENCH_MAX_REPS], int rep) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, rows);
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n)
        return qw_error(QW_ERR_FORMAT, "torch peer: expected %d \"%s\" rows", n, rows);
    for (int i = 0; i < n; i++) {
        const cJSON *r = cJSON_GetArrayItem(arr, i);
        if (num(r, key) != want[i])
            return qw_error(QW_ERR_FORMAT, "torch peer: \"%s\" row %d is not %s %d", rows, i, key, want[i]);
        if (rep >= 0) {
            a[i][rep] = num(r, fa);
            b[i][rep] = num(r, fb);
        }
    }
    return QW_OK;
}

qw_status qw_torch_peer_rep(qw_torch_peer *t, qw_bench_samples *s, int rep) {
    if (rep < 0) return QW_OK; // the peer ran its warm-up before it said it was ready
    if (fputs("rep\n", t->to) == EOF || fflush(t->to) != 0)
        return qw_error(QW_ERR_IO, "torch peer: cannot write to it (did it exit?)");
    cJSON *o;
    QW_TRY(read_msg(t, &o));
    qw_status st = take_rows(o, "prefill", "prompt_len", t->p.prompt_len, t->p.n_prompt, "tok_s", "ttft_s",
                             s->prefill_tok_s, s->ttft_s, rep);
    if (st == QW_OK)
        st = take_rows(o, "decode", "batch", t->p.batch, t->p.n_batch, "tok_s", "tpot_s", s->decode_tok_s,
                       s->tpot_s, rep);
    double rss = num(o, "peak_rss_bytes"), load = num(o, "foreign_cpu_load");
    if (!isnan(rss)) s->peak_rss_bytes = isnan(s->peak_rss_bytes) || rss > s->peak_rss_bytes ? rss : s->peak_rss_bytes;
    if (!isnan(load))
        s->foreign_cpu_load = isnan(s->foreign_cpu_load) || load > s->foreign_cpu_load ? load : s->foreign_cpu_load;
    cJSON_Delete(o);
    return st;
}
