// report/bench_peer: drives a speed peer in a child process over a line protocol: bench/torch_peer.py
// --serve (PyTorch) or bench/llamacpp_peer --serve (llama.cpp). The peer loads the model and warms up once,
// says {"ready": ...}, then answers each "rep" line with one JSON line of samples, so qwick and the peer
// alternate repetition by repetition.
#include "report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct qw_bench_peer {
    char name[64]; // "PyTorch peer", names it in errors
    pid_t pid;
    FILE *to, *from; // the child's stdin and stdout
    char *line;
    size_t line_cap;
    qw_bench_plan p;
};

void qw_bench_peer_stop(qw_bench_peer *t) {
    if (!t) return;
    if (t->to) fclose(t->to); // EOF on its stdin ends the serve loop
    if (t->from) fclose(t->from);
    if (t->pid > 0) {
        int st;
        while (waitpid(t->pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    free(t->line);
    free(t);
}

// Reads the peer's next message; an {"error": ...} line or an early exit becomes a qwick error.
static qw_status read_msg(qw_bench_peer *t, cJSON **out) {
    *out = NULL;
    for (;;) {
        ssize_t n = getline(&t->line, &t->line_cap, t->from);
        if (n < 0) return qw_error(QW_ERR_IO, "%s: exited early (its messages are above)", t->name);
        if (t->line[0] == '{') break; // anything else a library printed on stdout is skipped
    }
    cJSON *o = cJSON_Parse(t->line);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return qw_error(QW_ERR_FORMAT, "%s: not a JSON object: %.200s", t->name, t->line);
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (cJSON_IsString(e)) {
        qw_status s = qw_error(QW_ERR_IO, "%s: %s", t->name, e->valuestring);
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

qw_status qw_bench_peer_start(qw_bench_peer **out, const qw_bench_peer_spec *spec, const qw_bench_plan *p,
                              qw_bench_result *info) {
    *out = NULL;
    if (spec->script && access(spec->script, R_OK) != 0)
        return qw_error(QW_ERR_IO, "%s: the %s script is not there (%s)", spec->script, spec->name,
                        spec->script_hint);
    if (access(spec->exe, X_OK) != 0)
        return qw_error(QW_ERR_IO, "%s: no program to run the %s (%s)", spec->exe, spec->name,
                        spec->exe_hint);
    qw_bench_peer *t = calloc(1, sizeof *t);
    if (!t) return qw_error(QW_ERR_NOMEM, "out of memory");
    t->p = *p;
    snprintf(t->name, sizeof t->name, "%s", spec->name);
    char plens[256], batches[256], threads[16], ngen[16], ctx[16], seed[32];
    list(plens, sizeof plens, p->prompt_len, p->n_prompt);
    list(batches, sizeof batches, p->batch, p->n_batch);
    snprintf(threads, sizeof threads, "%d", p->threads);
    snprintf(ngen, sizeof ngen, "%d", p->n_gen);
    snprintf(ctx, sizeof ctx, "%d", p->decode_ctx);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)(p->seed % 1000000007ull));
    char *argv[40];
    int argc = 0;
    argv[argc++] = (char *)spec->exe;
    if (spec->script) argv[argc++] = (char *)spec->script;
    char *common[] = {
        (char *)spec->model, "--serve", "--threads",    threads, "--prompt-lens", plens, "--batches", batches,
        "--decode",          ngen,      "--decode-ctx", ctx,     "--seed",        seed};
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) argv[argc++] = common[i];
    for (int i = 0; spec->extra && spec->extra[i] && argc < 39; i++) argv[argc++] = (char *)spec->extra[i];
    argv[argc] = NULL;
    int in[2] = {-1, -1}, outp[2] = {-1, -1};
    if (pipe(in) != 0 || pipe(outp) != 0) {
        qw_status s = qw_error(QW_ERR_IO, "%s: pipe: %s", spec->name, strerror(errno));
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
    int rc = posix_spawn(&t->pid, spec->exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(outp[1]);
    if (rc != 0) {
        close(in[1]);
        close(outp[0]);
        free(t);
        return qw_error(QW_ERR_IO, "%s: cannot start the %s: %s", spec->exe, spec->name, strerror(rc));
    }
    t->to = fdopen(in[1], "w");
    t->from = fdopen(outp[0], "r");
    if (!t->to || !t->from) {
        if (!t->to) close(in[1]);
        if (!t->from) close(outp[0]);
        qw_bench_peer_stop(t);
        return qw_error(QW_ERR_NOMEM, "%s: out of memory", spec->name);
    }
    cJSON *o;
    qw_status s = read_msg(t, &o);
    if (s != QW_OK) {
        qw_bench_peer_stop(t);
        return s;
    }
    memset(info, 0, sizeof *info);
    const cJSON *v;
    snprintf(info->engine, sizeof info->engine, "%s",
             cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "peer")) ? v->valuestring : spec->engine);
    snprintf(info->model, sizeof info->model, "%s",
             cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "model")) ? v->valuestring : spec->model);
    snprintf(info->dtype, sizeof info->dtype, "%s",
             cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "dtype")) ? v->valuestring : "?");
    // "version": the peer's library and build, e.g. "torch 1.13.1" or "llama.cpp v0.5.0 ... AVX512"
    snprintf(info->isa, sizeof info->isa, "%s",
             cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(o, "version")) ? v->valuestring : "?");
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
static qw_status take_rows(const qw_bench_peer *t, const cJSON *o, const char *rows, const char *key,
                           const int *want, int n, const char *fa, const char *fb,
                           double (*a)[QW_BENCH_MAX_REPS], double (*b)[QW_BENCH_MAX_REPS], int rep) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, rows);
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n)
        return qw_error(QW_ERR_FORMAT, "%s: expected %d \"%s\" rows", t->name, n, rows);
    for (int i = 0; i < n; i++) {
        const cJSON *r = cJSON_GetArrayItem(arr, i);
        if (num(r, key) != want[i])
            return qw_error(QW_ERR_FORMAT, "%s: \"%s\" row %d is not %s %d", t->name, rows, i, key, want[i]);
        if (rep >= 0) {
            a[i][rep] = num(r, fa);
            b[i][rep] = num(r, fb);
        }
    }
    return QW_OK;
}

qw_status qw_bench_peer_rep(qw_bench_peer *t, qw_bench_samples *s, int rep) {
    if (rep < 0) return QW_OK; // the peer ran its warm-up before it said it was ready
    if (fputs("rep\n", t->to) == EOF || fflush(t->to) != 0)
        return qw_error(QW_ERR_IO, "%s: cannot write to it (did it exit?)", t->name);
    cJSON *o;
    QW_TRY(read_msg(t, &o));
    qw_status st = take_rows(t, o, "prefill", "prompt_len", t->p.prompt_len, t->p.n_prompt, "tok_s", "ttft_s",
                             s->prefill_tok_s, s->ttft_s, rep);
    if (st == QW_OK)
        st = take_rows(t, o, "decode", "batch", t->p.batch, t->p.n_batch, "tok_s", "tpot_s", s->decode_tok_s,
                       s->tpot_s, rep);
    double rss = num(o, "peak_rss_bytes"), load = num(o, "foreign_cpu_load");
    if (!isnan(rss))
        s->peak_rss_bytes = isnan(s->peak_rss_bytes) || rss > s->peak_rss_bytes ? rss : s->peak_rss_bytes;
    if (!isnan(load))
        s->foreign_cpu_load =
            isnan(s->foreign_cpu_load) || load > s->foreign_cpu_load ? load : s->foreign_cpu_load;
    cJSON_Delete(o);
    return st;
}
