// cli/cmd_bench: `qwick bench MODEL [--vs OTHER]`: prefill and batched-decode speed, time to first token,
// peak memory and GB/s against measured bandwidth, optionally alternating with a second model, PyTorch or
// llama.cpp (both peers run in a child process; see qw_bench_peer_spec).
#include "cli.h"

#include "kernels/kernels.h"
#include "report/report.h"

#include "model/model.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

// "128,512" -> {128, 512}; 0 on a malformed or out-of-range list.
static int parse_list(const char *s, int *out, int *n, int lo, int hi) {
    *n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < lo || v > hi || *n >= QW_BENCH_MAX_ROWS) return 0;
        out[(*n)++] = (int)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return 0;
    }
    return *n > 0;
}

static void fmt_stat(char *buf, size_t n, qw_stat s, double scale, int dec) {
    if (isnan(s.med)) {
        snprintf(buf, n, "-");
        return;
    }
    snprintf(buf, n, "%.*f [%.*f-%.*f]", dec, s.med * scale, dec, s.min * scale, dec, s.max * scale);
}

static void print_row(const char *label, const char *a, const char *b, const char *ratio, int has_b) {
    if (!has_b)
        printf("%-28s %s\n", label, a);
    else
        printf("%-28s %-32s %-32s %s\n", label, a, b, ratio);
}

static void print_ratio_row(const char *label, const char *a, const char *b, double ratio, int has_b) {
    char r[32] = "-";
    if (!isnan(ratio)) snprintf(r, sizeof r, "%.2f", ratio);
    print_row(label, a, b, r, has_b);
}

static void describe(const char *tag, const qw_bench_result *r) {
    printf("%-9s %s\n          %s, %s, %.2f B params, %.2f GB", tag, r->model, r->engine, r->isa,
           r->n_params / 1e9, r->model_bytes / 1e9);
    if (!isnan(r->step_bytes)) printf(", %.2f GB streamed per decode step", r->step_bytes / 1e9);
    printf("\n");
}

static void print_table(const qw_bench_file *f, const qw_bench_plan *p) {
    const qw_bench_result *a = &f->a, *b = &f->b;
    int hb = f->has_vs;
    describe("model A", a);
    if (hb) describe("model B", b);
    printf("cpu       %s, %d threads", a->cpu, p->threads);
    if (!isnan(a->bandwidth_gb_s)) printf(", read bandwidth %.1f GB/s (measured now)", a->bandwidth_gb_s);
    printf("\n          %d repetition%s after a warm-up%s; median [min-max]\n\n", p->reps, p->reps == 1 ? "" : "s",
           hb ? ", A and B alternating; A/B = median of paired ratios" : "");
    if (hb) print_row("", a->engine, b->engine, "A/B", 1);
    char label[64], va[64], vb[64];
    for (int i = 0; i < a->n_prefill; i++) {
        snprintf(label, sizeof label, "prefill %d tok/s", a->prefill[i].prompt_len);
        fmt_stat(va, sizeof va, a->prefill[i].tok_s, 1, 2);
        fmt_stat(vb, sizeof vb, b->prefill[i].tok_s, 1, 2);
        print_ratio_row(label, va, vb, f->prefill_ratio[i], hb);
        snprintf(label, sizeof label, "  time to first token s");
        fmt_stat(va, sizeof va, a->prefill[i].ttft_s, 1, 3);
        fmt_stat(vb, sizeof vb, b->prefill[i].ttft_s, 1, 3);
        print_ratio_row(label, va, vb, f->ttft_ratio[i], hb);
    }
    for (int i = 0; i < a->n_decode; i++) {
        snprintf(label, sizeof label, "decode x%d tok/s", a->decode[i].batch);
        fmt_stat(va, sizeof va, a->decode[i].tok_s, 1, 2);
        fmt_stat(vb, sizeof vb, b->decode[i].tok_s, 1, 2);
        print_ratio_row(label, va, vb, f->decode_ratio[i], hb);
        snprintf(label, sizeof label, "  time per output token ms");
        fmt_stat(va, sizeof va, a->decode[i].tpot_s, 1e3, 1);
        fmt_stat(vb, sizeof vb, b->decode[i].tpot_s, 1e3, 1);
        print_ratio_row(label, va, vb, f->tpot_ratio[i], hb);
    }
    snprintf(va, sizeof va, "%.2f", a->peak_rss_bytes / 1e9);
    snprintf(vb, sizeof vb, "%.2f", b->peak_rss_bytes / 1e9);
    print_ratio_row("peak RSS GB", va, vb, hb ? a->peak_rss_bytes / b->peak_rss_bytes : NAN, hb);
    snprintf(va, sizeof va, isnan(a->bandwidth_fraction) ? "%.1f" : "%.1f (%.0f%% of bandwidth)", a->decode_gb_s,
             100 * a->bandwidth_fraction);
    snprintf(vb, sizeof vb, isnan(b->bandwidth_fraction) ? "%.1f" : "%.1f (%.0f%% of bandwidth)", b->decode_gb_s,
             100 * b->bandwidth_fraction);
    print_ratio_row("decode GB/s streamed", va, vb, hb ? a->decode_gb_s / b->decode_gb_s : NAN, hb);
    if (hb && !isnan(b->foreign_cpu_load) && b->foreign_cpu_load > 0.1)
        printf("\nnote: other processes used up to %.0f%% of the CPUs while the peer measured; its figures are low\n",
               100 * b->foreign_cpu_load);
    if (hb) printf("\nA/B: above 1 for tok/s and below 1 for times mean A is faster.\n");
}

typedef struct {
    qw_bench_runner *run; // qwick model
    qw_bench_peer *peer;  // or a peer engine
    qw_bench_samples *s;
    qw_bench_result r;
} side;

static qw_status side_rep(side *x, int rep) {
    return x->run ? qw_bench_runner_rep(x->run, x->s, rep) : qw_bench_peer_rep(x->peer, x->s, rep);
}

static const char *torch_script(char *buf, size_t n) {
    const char *e = getenv("QWICK_TORCH_PEER");
    if (e && *e) return e;
    snprintf(buf, n, "%s/../bench/torch_peer.py", qw_cli_models_dir());
    return buf;
}

static const char *llamacpp_peer(char *buf, size_t n) {
    const char *e = getenv("QWICK_LLAMACPP_PEER");
    if (e && *e) snprintf(buf, n, "%s", e);
    else snprintf(buf, n, "%s/../.ref/llamacpp/bin/llamacpp_peer", qw_cli_models_dir());
    return buf;
}

static int is_llamacpp(const char *vs) {
    return vs && (strcmp(vs, "llama.cpp") == 0 || strcmp(vs, "llama") == 0 || strcmp(vs, "llamacpp") == 0);
}

static int g_tmp_slot[2] = {-1, -1}; // the temporary folder and GGUF below, for an interrupt to remove

// llama.cpp runs GGUF only: an HF folder is written to a temporary GGUF of its own dtype (bf16 stays bf16,
// bit for bit) in $TMPDIR, which both engines then run, so they share one copy of the weights in the page
// cache. dir receives the temporary folder to remove ("" when MODEL is a GGUF already, used as it is).
static qw_status gguf_for_llamacpp(const char *model, char *gguf, size_t n, char *dir, size_t dn, int threads,
                                   int tty) {
    dir[0] = 0;
    if (!qw_dir_exists(model)) {
        snprintf(gguf, n, "%s", model);
        return QW_OK;
    }
    const char *t = getenv("TMPDIR");
    snprintf(dir, dn, "%s/qwick-bench-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        qw_status s =
            qw_error(QW_ERR_IO, "%s: cannot create a temporary folder for the GGUF: %s", dir, strerror(errno));
        dir[0] = 0;
        return s;
    }
    snprintf(gguf, n, "%s/model.gguf", dir);
    g_tmp_slot[0] = qw_cleanup_add(dir, 1), g_tmp_slot[1] = qw_cleanup_add(gguf, 0); // Ctrl-C removes both
    qw_model *m;
    QW_TRY(qw_model_load_for_convert(&m, model));
    if (tty)
        fprintf(stderr, "qwick bench: writing %s as a %s GGUF for llama.cpp (%s)\n", model,
                qw_type_name(m->config.dtype), gguf);
    qw_gguf_save_opts o = {.type = m->config.dtype, .name = "bench", .n_threads = threads};
    qw_status s = qw_model_save_gguf(m, gguf, &o);
    qw_model_free(m);
    return s == QW_OK ? s : qw_error_wrap(s, "--vs llama.cpp: converting %s to GGUF", model);
}

static void remove_tmp(const char *dir) {
    if (!dir[0]) return;
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/model.gguf", dir);
    unlink(p);
    rmdir(dir);
    qw_cleanup_remove(g_tmp_slot[0]);
    qw_cleanup_remove(g_tmp_slot[1]);
}

int qw_cmd_bench(int argc, char **argv) {
    const char *plens = "128,512", *batches = "1,2,4", *vs = NULL, *svg = NULL;
    int n_gen = 32, threads = 0, reps = 3, json = 0, no_bw = 0, chunk = 512, decode_ctx = 32, seed = 7;
    const qw_opt opts[] = {
        {"--prompt-lens", "-p", QW_OPT_STR, &plens, "prompt lengths for prefill, e.g. 128,512 (default 128,512)"},
        {"--batches", "-B", QW_OPT_STR, &batches, "sequences decoding together, e.g. 1,2,4,8 (default 1,2,4)"},
        {"--n-gen", "-n", QW_OPT_INT, &n_gen, "decode steps per measurement (default 32)"},
        {"--reps", "-r", QW_OPT_INT, &reps, "repetitions after one warm-up (default 3): median, min, max"},
        {"--threads", "-t", QW_OPT_INT, &threads, "threads, for the peer too (default: QWICK_THREADS or all cores)"},
        {"--vs", NULL, QW_OPT_STR, &vs, "also measure OTHER, alternating: a model folder or GGUF, 'torch' (PyTorch "
                                        "eager on the same weights) or 'llama.cpp' (on the same GGUF; an HF "
                                        "folder is converted to a temporary GGUF of its dtype first)"},
        {"--json", NULL, QW_OPT_FLAG, &json, "print one JSON object instead of the table"},
        {"--svg", NULL, QW_OPT_STR, &svg, "write charts (speed vs batch size and vs prompt length) to FILE"},
        {"--decode-ctx", NULL, QW_OPT_INT, &decode_ctx, "prompt tokens each decoding sequence holds first (default 32)"},
        {"--chunk", NULL, QW_OPT_INT, &chunk, "prompt tokens per forward (default 512)"},
        {"--seed", NULL, QW_OPT_INT, &seed, "seed of the random token ids (default 7)"},
        {"--no-bandwidth", NULL, QW_OPT_FLAG, &no_bw, "skip measuring the machine's read bandwidth"},
    };
    qw_cmd_spec spec = {"qwick bench MODEL [--vs OTHER|torch|llama.cpp] [options]",
                        "Measures prefill tok/s and time to first token at each prompt length, decode tok/s and "
                        "time per output token with 1..N sequences decoding together, peak memory, and decode GB/s "
                        "as a share of this machine's read bandwidth (measured by the same run). Token ids are "
                        "random: speed does not depend on them. With --vs, both sides run in this invocation, "
                        "alternating repetition by repetition, and the table shows their ratios.",
                        opts, (int)(sizeof opts / sizeof opts[0]), 1, 1};
    const char *pos[1];
    int n_pos, rc = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (rc) return rc == 1 ? 0 : 2;
    qw_bench_plan plan = {0};
    if (!parse_list(plens, plan.prompt_len, &plan.n_prompt, 1, 1 << 20)) {
        fprintf(stderr, "qwick: --prompt-lens: '%s' is not a list of up to %d positive integers\n", plens,
                QW_BENCH_MAX_ROWS);
        return 2;
    }
    if (!parse_list(batches, plan.batch, &plan.n_batch, 1, 4096)) {
        fprintf(stderr, "qwick: --batches: '%s' is not a list of up to %d integers in 1..4096\n", batches,
                QW_BENCH_MAX_ROWS);
        return 2;
    }
    if (n_gen < 1 || reps < 1 || reps > QW_BENCH_MAX_REPS || chunk < 1 || decode_ctx < 1) {
        fprintf(stderr, "qwick: --n-gen, --chunk and --decode-ctx must be positive, --reps in 1..%d\n",
                QW_BENCH_MAX_REPS);
        return 2;
    }
    plan.n_gen = n_gen;
    plan.reps = reps;
    plan.chunk = chunk;
    plan.decode_ctx = decode_ctx;
    plan.threads = threads > 0 ? threads : qw_threads_default();
    plan.seed = (uint64_t)seed;
    int tty = qw_cli_isatty(2) && !getenv("QWICK_QUIET");

    qw_bench_file *f = calloc(1, sizeof *f);
    side a = {0}, b = {0};
    int llama = is_llamacpp(vs), torch = vs && strcmp(vs, "torch") == 0;
    char gguf[PATH_MAX + 16], tmpdir[PATH_MAX], peer_exe[4096] = "", chunk_s[16];
    const char *model = pos[0];
    tmpdir[0] = 0;
    a.s = malloc(sizeof *a.s);
    b.s = malloc(sizeof *b.s);
    qw_status s = f && a.s && b.s ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
    if (s == QW_OK) {
        qw_bench_samples_clear(a.s);
        qw_bench_samples_clear(b.s);
        llamacpp_peer(peer_exe, sizeof peer_exe);
        if (llama && access(peer_exe, X_OK) != 0) // before any conversion
            s = qw_error(QW_ERR_IO, "%s: the llama.cpp peer is not built (bash scripts/llamacpp_install.sh && bash "
                         "bench/llamacpp_peer_build.sh, or set QWICK_LLAMACPP_PEER)", peer_exe);
        if (s == QW_OK && llama) {
            s = gguf_for_llamacpp(pos[0], gguf, sizeof gguf, tmpdir, sizeof tmpdir, plan.threads, tty);
            model = gguf;
        }
    }
    if (s == QW_OK) {
        if (tty) fprintf(stderr, "qwick bench: loading %s\n", model);
        s = qw_bench_runner_init(&a.run, model, &plan, &a.r);
    }
    if (s == QW_OK && (torch || llama)) {
        char buf[4096];
        const char *py = getenv("QWICK_PYTHON");
        signal(SIGPIPE, SIG_IGN); // a peer that dies mid-write must become an error, not kill qwick
        snprintf(chunk_s, sizeof chunk_s, "%d", plan.chunk);
        const char *const llama_extra[] = {"--chunk", chunk_s, NULL};
        qw_bench_peer_spec ps = {"PyTorch peer", "pytorch-eager", py && *py ? py : "/usr/bin/python3",
                                 "scripts/install_torch.sh", torch_script(buf, sizeof buf),
                                 "set QWICK_TORCH_PEER", pos[0], NULL};
        if (llama)
            ps = (qw_bench_peer_spec){"llama.cpp peer", "llama.cpp", peer_exe,
                                      "bash scripts/llamacpp_install.sh && bash bench/llamacpp_peer_build.sh, or set "
                                      "QWICK_LLAMACPP_PEER", NULL, NULL, model, llama_extra};
        if (tty) fprintf(stderr, "qwick bench: starting the %s (it loads and warms up first)\n", ps.name);
        s = qw_bench_peer_start(&b.peer, &ps, &plan, &b.r);
    } else if (s == QW_OK && vs) {
        if (tty) fprintf(stderr, "qwick bench: loading %s\n", vs);
        s = qw_bench_runner_init(&b.run, vs, &plan, &b.r);
    }
    // one warm-up each (the peer ran its own before it said it was ready), then A and B alternate,
    // ABBA, so that a load that drifts during the run weighs on both sides alike
    if (s == QW_OK && tty) fprintf(stderr, "qwick bench: warm-up\n");
    if (s == QW_OK) s = side_rep(&a, -1);
    if (s == QW_OK && vs) s = side_rep(&b, -1);
    for (int r = 0; r < reps && s == QW_OK; r++) {
        if (tty) fprintf(stderr, "qwick bench: repetition %d of %d\n", r + 1, reps);
        side *first = vs && r % 2 ? &b : &a, *second = first == &a ? &b : &a;
        s = side_rep(first, r);
        if (s == QW_OK && vs) s = side_rep(second, r);
    }
    qw_bench_peer_stop(b.peer);
    b.peer = NULL;
    // after the measurements (and the peer's exit): its 1 GiB buffer must not count in the peak RSS
    double bw = NAN;
    if (s == QW_OK && !no_bw) {
        if (tty) fprintf(stderr, "qwick bench: measuring read bandwidth\n");
        bw = qw_measure_bandwidth((size_t)1 << 30, plan.threads, 5);
        if (!(bw > 0)) bw = NAN;
    }
    if (s == QW_OK) {
        a.r.bandwidth_gb_s = bw;
        qw_bench_summarise(&plan, a.s, &a.r);
        f->a = a.r;
        if (vs) {
            // the same machine: the peer's GB/s is measured against the same ceiling
            b.r.bandwidth_gb_s = bw;
            if (b.run) b.s->peak_rss_bytes = a.s->peak_rss_bytes; // one process holds both models
            qw_bench_summarise(&plan, b.s, &b.r);
            f->b = b.r;
            f->has_vs = 1;
            qw_bench_file_ratios(f, &plan, a.s, b.s);
        } else {
            qw_bench_file_ratios(f, &plan, a.s, a.s);
        }
    }
    qw_bench_peer_stop(b.peer);
    qw_bench_runner_free(b.run);
    qw_bench_runner_free(a.run);
    if (s == QW_OK && tmpdir[0]) { // the rows name what the user gave, not the temporary file
        char abs[PATH_MAX];
        const char *src = realpath(pos[0], abs) ? abs : pos[0];
        snprintf(f->a.model, sizeof f->a.model, "%s", src);
        snprintf(f->b.model, sizeof f->b.model, "%s", src);
    }
    remove_tmp(tmpdir);
    if (s == QW_OK && svg) {
        const qw_bench_result *rs[2] = {&f->a, &f->b};
        char na[300], nb[300];
        const char *an = strrchr(f->a.model, '/'), *bn = strrchr(f->b.model, '/');
        snprintf(na, sizeof na, "%.200s (%s)", an ? an + 1 : f->a.model, f->a.engine);
        snprintf(nb, sizeof nb, "%.200s (%s)", bn ? bn + 1 : f->b.model, f->b.engine);
        const char *names[2] = {na, nb};
        s = qw_svg_speed_file(svg, rs, names, 1 + f->has_vs);
    }
    if (s == QW_OK) {
        if (json) {
            char *txt;
            s = qw_bench_json_write(f, &txt);
            if (s == QW_OK) puts(txt);
            free(txt);
        } else {
            print_table(f, &plan);
            if (tmpdir[0])
                printf("llama.cpp runs GGUF only: both engines ran this folder written to a temporary %s GGUF "
                       "(the same weights, bit for bit).\n", f->a.dtype);
        }
    }
    free(a.s);
    free(b.s);
    free(f);
    return s == QW_OK ? 0 : qw_cli_fail(s);
}
