// bench/llamacpp_peer: llama.cpp (the prebuilt libllama of the pinned node-llama-cpp) as a speed peer for
// `qwick bench --vs llama.cpp`, and as a source of llama.cpp's log-probs for `qwick eval`'s KLD.
//
//   llamacpp_peer MODEL.gguf --serve --threads T --prompt-lens 128,512 --batches 1,4 --decode N
//                 --decode-ctx C [--chunk K] [--seed S] [--kv f16|f32] [--flash-attn auto|on|off]
//       the line protocol of bench/torch_peer.py --serve: loads, runs one warm-up repetition, prints
//       {"ready": true, ...}, then answers each "rep" line on stdin with one JSON line of measurements.
//       Prefill: the whole prompt in one llama_decode (n_batch >= the prompt, n_ubatch = --chunk);
//       decode: B sequences, each holding C random tokens, one token each per llama_decode.
//   llamacpp_peer logits MODEL.gguf --like REF.qwl -o OUT.qwl [--threads T] [--f32] [--kv f16|f32]
//       llama.cpp's log-probs over the same token windows as REF.qwl (a file from `qwick eval --ppl TEXT
//       --save-logits`), in the same format, so that `qwick eval OUT.qwl --ref REF.qwl` gives its KLD.
//
// Built by bench/llamacpp_peer_build.sh (not part of qwick's CMake build). Errors go to stdout as one
// {"error": ...} line in --serve mode (qwick names them), to stderr otherwise; the exit status is non-zero.
#define _GNU_SOURCE
#include "ggml-backend.h"
#include "gguf.h"
#include "llama.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef QW_LLAMA_LIBDIR
#define QW_LLAMA_LIBDIR "."
#endif
#ifndef QW_LLAMA_TAG
#define QW_LLAMA_TAG "?"
#endif

static int g_serve;   // errors as JSON lines on stdout
static int g_verbose; // llama.cpp's own log on stderr

static void die(const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_serve) {
        printf("{\"error\": \"");
        for (const char *p = msg; *p; p++) {
            if (*p == '"' || *p == '\\') putchar('\\');
            putchar(*p == '\n' ? ' ' : *p);
        }
        printf("\"}\n");
        fflush(stdout);
    } else {
        fprintf(stderr, "llamacpp_peer: %s\n", msg);
    }
    exit(1);
}

static void log_cb(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (g_verbose || level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void) { // splitmix64
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// "128,512" -> ints; exits on a malformed list.
static int parse_list(const char *s, int *out, int cap, const char *what) {
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > (1 << 20) || n >= cap)
            die("%s: '%s' is not a list of positive integers", what, s);
        out[n++] = (int)v;
        s = end;
        if (*s == ',') s++;
    }
    if (!n) die("%s: empty list", what);
    return n;
}

static int max_of(const int *v, int n) {
    int m = 0;
    for (int i = 0; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

// ---------------------------------------------------------------------------------------------------
// what the file holds (read with ggml's own GGUF reader): bytes a decode step streams, and its type

typedef struct {
    double file_bytes, step_bytes;
    char dtype[32];
} file_info;

static const char *ftype_name(uint32_t ft) {
    switch (ft) {
    case LLAMA_FTYPE_ALL_F32:
        return "f32";
    case LLAMA_FTYPE_MOSTLY_F16:
        return "f16";
    case LLAMA_FTYPE_MOSTLY_BF16:
        return "bf16";
    case LLAMA_FTYPE_MOSTLY_Q8_0:
        return "q8_0";
    case LLAMA_FTYPE_MOSTLY_Q4_0:
        return "q4_0";
    case LLAMA_FTYPE_MOSTLY_Q4_K_S:
        return "q4_k_s";
    case LLAMA_FTYPE_MOSTLY_Q4_K_M:
        return "q4_k_m";
    case LLAMA_FTYPE_MOSTLY_Q5_K_S:
        return "q5_k_s";
    case LLAMA_FTYPE_MOSTLY_Q5_K_M:
        return "q5_k_m";
    case LLAMA_FTYPE_MOSTLY_Q6_K:
        return "q6_k";
    case LLAMA_FTYPE_MOSTLY_IQ4_NL:
        return "iq4_nl";
    default:
        return NULL;
    }
}

static void read_file_info(const char *path, file_info *fi) {
    struct stat st;
    if (stat(path, &st) != 0) die("%s: cannot stat it", path);
    fi->file_bytes = (double)st.st_size;
    struct gguf_init_params gp = {true, NULL};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    if (!g) die("%s: not a GGUF file llama.cpp can read", path);
    double total = 0, embd = 0;
    int has_output = 0;
    enum ggml_type ffn = GGML_TYPE_COUNT;
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) {
        const char *name = gguf_get_tensor_name(g, i);
        double sz = (double)gguf_get_tensor_size(g, i);
        total += sz;
        if (strcmp(name, "token_embd.weight") == 0) embd = sz;
        if (strcmp(name, "output.weight") == 0) has_output = 1;
        if (strcmp(name, "blk.0.ffn_up.weight") == 0) ffn = gguf_get_tensor_type(g, i);
    }
    // a step reads every matrix but the embedding table (one row of it), and lm_head (the table when tied)
    fi->step_bytes = has_output ? total - embd : total;
    int64_t k = gguf_find_key(g, "general.file_type");
    const char *n =
        k >= 0 && gguf_get_kv_type(g, k) == GGUF_TYPE_UINT32 ? ftype_name(gguf_get_val_u32(g, k)) : NULL;
    if (!n && ffn != GGML_TYPE_COUNT) n = ggml_type_name(ffn);
    snprintf(fi->dtype, sizeof fi->dtype, "%s", n ? n : "?");
    for (char *p = fi->dtype; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    gguf_free(g);
}

// ---------------------------------------------------------------------------------------------------
// loading

typedef struct {
    const char *model;
    int threads, seed, chunk, decode, decode_ctx, no_mmap;
    const char *kv, *fa;
    int plens[64], n_plens, batches[64], n_batches;
    // logits mode
    const char *like, *out;
    int f32;
} opts;

static void backend_init(void) {
    llama_log_set(log_cb, NULL);
    const char *dir = getenv("QWICK_LLAMACPP_LIBDIR");
    ggml_backend_load_all_from_path(dir && *dir ? dir : QW_LLAMA_LIBDIR);
    if (ggml_backend_dev_count() == 0)
        die("no ggml backend could be loaded from %s (set QWICK_LLAMACPP_LIBDIR to the folder with "
            "libggml-cpu-*.so)",
            dir && *dir ? dir : QW_LLAMA_LIBDIR);
    llama_backend_init();
}

static struct llama_model *load_model(const opts *o) {
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    if (o->no_mmap) mp.load_mode = LLAMA_LOAD_MODE_NONE;
    struct llama_model *m = llama_model_load_from_file(o->model, mp);
    if (!m) die("%s: llama.cpp cannot load it (run with -v for its log)", o->model);
    return m;
}

static struct llama_context *new_context(struct llama_model *m, const opts *o, int n_ctx, int n_batch,
                                         int n_ubatch, int n_seq) {
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = (uint32_t)n_batch;
    cp.n_ubatch = (uint32_t)n_ubatch;
    cp.n_seq_max = (uint32_t)n_seq;
    cp.kv_unified = true; // one cache of n_ctx cells shared by the sequences
    cp.n_threads = o->threads;
    cp.n_threads_batch = o->threads;
    cp.no_perf = true;
    if (strcmp(o->kv, "f32") == 0)
        cp.type_k = cp.type_v = GGML_TYPE_F32;
    else if (strcmp(o->kv, "f16") != 0)
        die("--kv %s: f16 or f32", o->kv);
    if (strcmp(o->fa, "on") == 0)
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
    else if (strcmp(o->fa, "off") == 0)
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    else if (strcmp(o->fa, "auto") != 0)
        die("--flash-attn %s: auto, on or off", o->fa);
    struct llama_context *c = llama_init_from_model(m, cp);
    if (!c)
        die("%s: llama.cpp cannot create a context of %d tokens (run with -v for its log)", o->model, n_ctx);
    return c;
}

static void batch_add(struct llama_batch *b, llama_token t, llama_pos pos, llama_seq_id seq, int logits) {
    int i = b->n_tokens++;
    b->token[i] = t;
    b->pos[i] = pos;
    b->n_seq_id[i] = 1;
    b->seq_id[i][0] = seq;
    b->logits[i] = (int8_t)logits;
}

static void decode(struct llama_context *c, struct llama_batch *b) {
    int rc = llama_decode(c, *b);
    if (rc != 0) die("llama_decode of %d tokens failed (%d)", b->n_tokens, rc);
    llama_synchronize(c);
}

// ---------------------------------------------------------------------------------------------------
// --serve

// Share of the machine's CPU time other processes used between two samples (as torch_peer.py's CpuMonitor).
typedef struct {
    double busy, own, wall;
} cpu_sample;

static cpu_sample cpu_now(void) {
    cpu_sample s = {0, 0, now()};
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[10] = {0};
    if (f) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]) == 8)
            s.busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
        fclose(f);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s.own = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
            1e-6 * (double)ru.ru_stime.tv_usec;
    return s;
}

static double foreign_load(cpu_sample a, cpu_sample b) {
    double ncpu = (double)sysconf(_SC_NPROCESSORS_ONLN), wall = b.wall - a.wall;
    double x = wall > 0 && ncpu > 0 ? ((b.busy - a.busy) - (b.own - a.own)) / (wall * ncpu) : 0;
    return x > 0 ? x : 0;
}

typedef struct {
    struct llama_model *m;
    struct llama_context *c;
    struct llama_batch batch;
    int V;
    llama_token *next;
} peer;

static void random_tokens(const peer *p, struct llama_batch *b, int n, llama_pos pos0, llama_seq_id seq,
                          int last_logits) {
    for (int i = 0; i < n; i++)
        batch_add(b, (llama_token)(rng_next() % (uint64_t)p->V), pos0 + i, seq, last_logits && i == n - 1);
}

// One repetition of the plan as one JSON line on stdout (rep < 0: the warm-up, printed nowhere).
static void one_rep(peer *p, const opts *o, int print) {
    llama_memory_t mem = llama_get_memory(p->c);
    char line[8192];
    size_t n = 0;
    n += (size_t)snprintf(line + n, sizeof line - n, "{\"prefill\": [");
    cpu_sample c0 = cpu_now();
    for (int i = 0; i < o->n_plens; i++) {
        int P = o->plens[i];
        llama_memory_clear(mem, true);
        p->batch.n_tokens = 0;
        random_tokens(p, &p->batch, P, 0, 0, 1);
        double t0 = now();
        decode(p->c, &p->batch);
        double t1 = now();
        p->next[0] = argmax(llama_get_logits_ith(p->c, -1), p->V);
        double t2 = now();
        n += (size_t)snprintf(line + n, sizeof line - n,
                              "%s{\"prompt_len\": %d, \"tok_s\": %.6g, \"ttft_s\": %.6g}", i ? ", " : "", P,
                              P / (t1 - t0), t2 - t0);
    }
    n += (size_t)snprintf(line + n, sizeof line - n, "], \"decode\": [");
    for (int i = 0; i < o->n_batches; i++) {
        int B = o->batches[i], C = o->decode_ctx;
        llama_memory_clear(mem, true);
        p->batch.n_tokens = 0;
        for (int b = 0; b < B; b++) random_tokens(p, &p->batch, C, 0, b, 1);
        decode(p->c, &p->batch);
        for (int b = 0; b < B; b++) p->next[b] = argmax(llama_get_logits_ith(p->c, (b + 1) * C - 1), p->V);
        double t0 = now();
        for (int step = 0; step < o->decode; step++) {
            p->batch.n_tokens = 0;
            for (int b = 0; b < B; b++) batch_add(&p->batch, p->next[b], C + step, b, 1);
            decode(p->c, &p->batch);
            for (int b = 0; b < B; b++) p->next[b] = argmax(llama_get_logits_ith(p->c, b), p->V);
        }
        double dt = now() - t0;
        n += (size_t)snprintf(line + n, sizeof line - n,
                              "%s{\"batch\": %d, \"tok_s\": %.6g, \"tpot_s\": %.6g}", i ? ", " : "", B,
                              (double)B * o->decode / dt, dt / o->decode);
    }
    double load = foreign_load(c0, cpu_now());
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    n += (size_t)snprintf(line + n, sizeof line - n,
                          "], \"foreign_cpu_load\": %.3f, \"peak_rss_bytes\": %.0f}", load,
                          (double)ru.ru_maxrss * 1024.0);
    if (n >= sizeof line) die("internal: reply longer than %zu bytes", sizeof line);
    if (print) {
        puts(line);
        fflush(stdout);
    }
}

// The CPU features ggml reports (those set to 1), for the "version" field.
static void cpu_features(char *buf, size_t n) {
    const char *s = llama_print_system_info();
    size_t used = 0;
    buf[0] = 0;
    // "CPU : SSE3 = 1 | AVX = 1 | ... |": keep the AVX-512, AMX and AVX2 names that are on
    for (const char *p = s; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        char item[128];
        snprintf(item, sizeof item, "%.*s", (int)(len < 127 ? len : 127), p);
        char name[64];
        int v;
        const char *colon = strrchr(item, ':'); // "CPU : SSE3 = 1": the first item carries the device name
        if (sscanf(colon ? colon + 1 : item, " %63s = %d", name, &v) == 2 && v == 1 &&
            (strncmp(name, "AVX512", 6) == 0 || strncmp(name, "AMX", 3) == 0 || strcmp(name, "AVX2") == 0) &&
            used + strlen(name) + 2 < n)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? " " : "", name);
        p = bar ? bar + 1 : NULL;
    }
}

static void serve(const opts *o) {
    g_serve = 1;
    file_info fi;
    read_file_info(o->model, &fi);
    backend_init();
    peer p = {0};
    p.m = load_model(o);
    const struct llama_vocab *vocab = llama_model_get_vocab(p.m);
    p.V = llama_vocab_n_tokens(vocab);
    int maxP = max_of(o->plens, o->n_plens), maxB = max_of(o->batches, o->n_batches);
    int dec_cells = maxB * (o->decode_ctx + o->decode);
    int n_ctx = maxP > dec_cells ? maxP : dec_cells;
    int n_batch = maxP > maxB * o->decode_ctx ? maxP : maxB * o->decode_ctx;
    if (n_ctx > llama_model_n_ctx_train(p.m))
        die("%s: %d tokens of context are past the model's %d positions", o->model, n_ctx,
            llama_model_n_ctx_train(p.m));
    p.c = new_context(p.m, o, n_ctx, n_batch, o->chunk < n_batch ? o->chunk : n_batch, maxB);
    p.batch = llama_batch_init(n_batch, 0, 1);
    p.next = malloc(sizeof(llama_token) * (size_t)maxB);
    if (!p.next) die("out of memory");
    g_rng ^= (uint64_t)o->seed * 0x2545F4914F6CDD1Dull;
    one_rep(&p, o, 0); // warm-up: pages the weights in, before qwick starts measuring
    char feat[96], abs[4096];
    cpu_features(feat, sizeof feat);
    printf("{\"ready\": true, \"peer\": \"llama.cpp\", \"version\": \"%s, %s\", \"model\": \"%s\", "
           "\"dtype\": \"%s\", \"threads\": %d, \"model_bytes\": %.0f, \"n_params\": %.0f, \"step_bytes\": "
           "%.0f, "
           "\"kv\": \"%s\", \"flash_attn\": \"%s\", \"n_ubatch\": %u}\n",
           QW_LLAMA_TAG, feat, realpath(o->model, abs) ? abs : o->model, fi.dtype, o->threads, fi.file_bytes,
           (double)llama_model_n_params(p.m), fi.step_bytes, o->kv, o->fa, llama_n_ubatch(p.c));
    fflush(stdout);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        if (strcmp(line, "rep\n") != 0 && strcmp(line, "rep") != 0) break;
        one_rep(&p, o, 1);
    }
    free(line);
    free(p.next);
    llama_batch_free(p.batch);
    llama_free(p.c);
    llama_model_free(p.m);
    llama_backend_free();
}

// ---------------------------------------------------------------------------------------------------
// logits: the format of qwick's src/eval/logits_file.c (see eval.h): header, tokens, one record per scored
// position. Windows and row order are those of qw_eval_plan_windows / qw_eval_perplexity.

#define HEADER_BYTES 48
#define RECORD_HEAD 16
#define RANGE_NATS 64.0f

static uint32_t get_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

// One record for a row of raw logits (as qw_logits_encode_row).
static void encode_row(int f32, int V, const float *z, int target, uint8_t *o) {
    int top = 0;
    float mx = z[0];
    for (int i = 1; i < V; i++)
        if (z[i] > mx) mx = z[i], top = i;
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)(z[i] - mx));
    float lse = (float)((double)mx + log(sum));
    float head[3] = {0, 0, z[target] - lse};
    if (f32) {
        for (int i = 0; i < V; i++) {
            float lp = z[i] - lse;
            memcpy(o + RECORD_HEAD + (size_t)i * 4, &lp, 4);
        }
    } else {
        float top_lp = z[top] - lse, lo = top_lp;
        for (int i = 0; i < V; i++)
            if (z[i] - lse < lo) lo = z[i] - lse;
        if (lo < top_lp - RANGE_NATS) lo = top_lp - RANGE_NATS;
        float scale = (top_lp - lo) / 65535.0f;
        uint16_t *q = (uint16_t *)(o + RECORD_HEAD);
        for (int i = 0; i < V; i++) {
            float x = scale > 0 ? (z[i] - lse - lo) / scale : 0;
            q[i] = (uint16_t)(x <= 0 ? 0 : x >= 65535 ? 65535 : lrintf(x));
        }
        head[0] = scale;
        head[1] = lo;
    }
    memcpy(o, head, 12);
    memcpy(o + 12, &top, 4);
}

static void logits_mode(const opts *o) {
    if (!o->like || !o->out) die("logits needs --like REF.qwl and -o OUT.qwl");
    FILE *f = fopen(o->like, "rb");
    if (!f) die("%s: cannot open it", o->like);
    uint8_t h[HEADER_BYTES];
    if (fread(h, 1, sizeof h, f) != sizeof h || memcmp(h, "QWLOGPRB", 8) != 0 || get_u32(h + 8) != 1)
        die("%s: not a qwick logits file (version 1) from `qwick eval --ppl TEXT --save-logits FILE`",
            o->like);
    int V = (int)get_u32(h + 16), ctx = (int)get_u32(h + 20), stride = (int)get_u32(h + 24);
    int nw = (int)get_u32(h + 28);
    int64_t nt = (int64_t)get_u64(h + 32), nr = (int64_t)get_u64(h + 40);
    if (V < 1 || ctx < 2 || stride < 1 || stride > ctx || nt < 2 || nt > ((int64_t)1 << 32) || nw < 1)
        die("%s: corrupt header", o->like);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)nt);
    if (!tok) die("out of memory");
    if (fread(tok, 4, (size_t)nt, f) != (size_t)nt) die("%s: truncated", o->like);
    fclose(f);

    backend_init();
    struct llama_model *m = load_model(o);
    int Vm = llama_vocab_n_tokens(llama_model_get_vocab(m));
    if (Vm != V) die("%s: %d vocabulary rows; %s was saved from a model with %d", o->model, Vm, o->like, V);
    for (int64_t i = 0; i < nt; i++)
        if (tok[i] < 0 || tok[i] >= V)
            die("%s: token %lld is %d, outside the vocabulary", o->like, (long long)i, tok[i]);
    struct llama_context *c = new_context(m, o, ctx, ctx, o->chunk < ctx ? o->chunk : ctx, 1);
    struct llama_batch b = llama_batch_init(ctx, 0, 1);
    size_t rb = RECORD_HEAD + (size_t)V * (o->f32 ? 4 : 2);
    uint8_t *rec = malloc(rb);
    if (!rec) die("out of memory");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", o->out, (int)getpid());
    FILE *w = fopen(tmp, "wb");
    if (!w) die("%s: cannot write it", tmp);
    memcpy(h + 12, &(uint32_t){(uint32_t)(o->f32 ? 1 : 0)}, 4);
    int ok = fwrite(h, 1, sizeof h, w) == sizeof h && fwrite(tok, 4, (size_t)nt, w) == (size_t)nt;
    // the windows of qw_eval_plan_windows, limited to the file's count
    int64_t begin = 0, prev_end = 0, rows = 0;
    double t0 = now();
    for (int wi = 0; wi < nw && ok; wi++) {
        int64_t end = begin + ctx < nt ? begin + ctx : nt;
        int64_t from = prev_end > begin + 1 ? prev_end : begin + 1;
        prev_end = end;
        llama_memory_clear(llama_get_memory(c), true);
        b.n_tokens = 0;
        for (int64_t j = begin; j < end; j++)
            batch_add(&b, tok[j], (llama_pos)(j - begin), 0, j + 1 >= from && j + 1 < end);
        decode(c, &b);
        for (int64_t j = from - 1; j + 1 < end && ok; j++) {
            const float *z = llama_get_logits_ith(c, (int32_t)(j - begin));
            if (!z) die("no logits for position %lld", (long long)(j - begin));
            encode_row(o->f32, V, z, tok[j + 1], rec);
            ok = fwrite(rec, 1, rb, w) == rb;
            rows++;
        }
        begin += stride;
        if (isatty(2))
            fprintf(stderr, "\rllamacpp_peer logits: window %d of %d (%.0f s)", wi + 1, nw, now() - t0);
    }
    if (isatty(2)) fprintf(stderr, "\n");
    if (ok && rows != nr) {
        fclose(w);
        remove(tmp);
        die("%s: wrote %lld rows but the reference has %lld (its windows differ from this plan)", o->out,
            (long long)rows, (long long)nr);
    }
    if (fclose(w) != 0 || !ok) {
        remove(tmp);
        die("%s: write failed", tmp);
    }
    if (rename(tmp, o->out) != 0) die("%s: cannot rename into place", o->out);
    fprintf(stderr, "llamacpp_peer: wrote %s (%lld rows, %d windows) in %.1f s\n", o->out, (long long)rows,
            nw, now() - t0);
    free(rec);
    free(tok);
    llama_batch_free(b);
    llama_free(c);
    llama_model_free(m);
    llama_backend_free();
}

// ---------------------------------------------------------------------------------------------------

static void usage(void) {
    fprintf(stderr, "usage: llamacpp_peer MODEL.gguf --serve [--threads T] [--prompt-lens L,..] [--batches "
                    "B,..] [--decode N]\n"
                    "                     [--decode-ctx C] [--chunk K] [--seed S] [--kv f16|f32] "
                    "[--flash-attn auto|on|off]\n"
                    "                     [--no-mmap] [-v]\n"
                    "       llamacpp_peer logits MODEL.gguf --like REF.qwl -o OUT.qwl [--threads T] [--f32] "
                    "[--kv f16|f32]\n"
                    "       llamacpp_peer --version\n");
}

int main(int argc, char **argv) {
    opts o = {
        .threads = 2, .seed = 7, .chunk = 512, .decode = 32, .decode_ctx = 32, .kv = "f16", .fa = "auto"};
    int serve_mode = 0, logits = 0;
    const char *plens = "512", *batches = "1";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VAL() (v ? (i++, v) : (die("%s needs a value", a), ""))
        if (strcmp(a, "--serve") == 0)
            serve_mode = 1, g_serve = 1;
        else if (strcmp(a, "logits") == 0 && i == 1)
            logits = 1;
        else if (strcmp(a, "--version") == 0) {
            printf("llama.cpp %s (libllama from %s)\n", QW_LLAMA_TAG, QW_LLAMA_LIBDIR);
            return 0;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            return 0;
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0)
            o.threads = atoi(VAL());
        else if (strcmp(a, "--prompt-lens") == 0)
            plens = VAL();
        else if (strcmp(a, "--batches") == 0)
            batches = VAL();
        else if (strcmp(a, "--decode") == 0)
            o.decode = atoi(VAL());
        else if (strcmp(a, "--decode-ctx") == 0)
            o.decode_ctx = atoi(VAL());
        else if (strcmp(a, "--chunk") == 0)
            o.chunk = atoi(VAL());
        else if (strcmp(a, "--seed") == 0)
            o.seed = atoi(VAL());
        else if (strcmp(a, "--kv") == 0)
            o.kv = VAL();
        else if (strcmp(a, "--flash-attn") == 0)
            o.fa = VAL();
        else if (strcmp(a, "--no-mmap") == 0)
            o.no_mmap = 1;
        else if (strcmp(a, "--like") == 0)
            o.like = VAL();
        else if (strcmp(a, "-o") == 0)
            o.out = VAL();
        else if (strcmp(a, "--f32") == 0)
            o.f32 = 1;
        else if (strcmp(a, "-v") == 0)
            g_verbose = 1;
        else if (a[0] == '-')
            die("unknown option %s", a);
        else if (!o.model)
            o.model = a;
        else
            die("unexpected argument %s", a);
#undef VAL
    }
    if (!o.model || (!serve_mode && !logits)) {
        usage();
        return 2;
    }
    if (o.threads < 1 || o.decode < 1 || o.decode_ctx < 1 || o.chunk < 1)
        die("--threads, --decode, --decode-ctx and --chunk must be positive");
    o.n_plens = parse_list(plens, o.plens, 64, "--prompt-lens");
    o.n_batches = parse_list(batches, o.batches, 64, "--batches");
    if (access(o.model, R_OK) != 0) die("%s: no such file", o.model);
    if (serve_mode)
        serve(&o);
    else
        logits_mode(&o);
    return 0;
}
