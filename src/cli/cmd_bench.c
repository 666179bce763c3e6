// cli/cmd_bench: `qwick bench MODEL [--vs OTHER]`: prefill and batched-decode speed, time to first token,
// peak memory and GB/s against measured bandwidth, optionally alternating with a second model or PyTorch.
#include "cli.h"

#include "kernels/kernels.h"
#include "report/report.h"

#include <math.h>
#include <signal.h>
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
    qw_torch_peer *peer;  // or the PyTorch peer
    qw_bench_samples *s;
    qw_bench_result r;
} side;

static qw_status side_rep(side *x, int rep) {
    return x->run ? qw_bench_runner_rep(x->run, x->s, rep) : qw_torch_peer_rep(x->peer, x->s, rep);
}

static const char *torch_script(char *buf, size_t n) {
    const char *e = getenv("QWICK_TORCH_PEER");
    if (e && *e) return e;
    snprintf(buf, n, "%s/../bench/torch_peer.py", qw_cli_models_dir());
    return buf;
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
        {"--vs", NULL, QW_OPT_STR, &vs, "also measure OTHER, alternating: a model folder, or 'torch' (PyTorch "
                                        "eager on the same weights)"},
        {"--json", NULL, QW_OPT_FLAG, &json, "print one JSON object instead of the table"},
        {"--svg", NULL, QW_OPT_STR, &svg, "write charts (speed vs batch size and vs prompt length) to FILE"},
        {"--decode-ctx", NULL, QW_OPT_INT, &decode_ctx, "prompt tokens each decoding sequence holds first (default 32)"},
        {"--chunk", NULL, QW_OPT_INT, &chunk, "prompt tokens per forward (default 512)"},
        {"--seed", NULL, QW_OPT_INT, &seed, "seed of the random token ids (default 7)"},
        {"--no-bandwidth", NULL, QW_OPT_FLAG, &no_bw, "skip measuring the machine's read bandwidth"},
    };
    qw_cmd_spec spec = {"qwick bench MODEL [--vs OTHER|torch] [options]",
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
    if (vs && (strcmp(vs, "llama.cpp") == 0 || strcmp(vs, "llama") == 0 || strcmp(vs, "llamacpp") == 0)) {
        fprintf(stderr, "qwick: --vs llama.cpp is not built into bench yet; write the GGUF with `qwick convert` and "
                        "compare with scripts/llamacpp_check.mjs, or use --vs torch or --vs FOLDER here.\n");
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
    a.s = malloc(sizeof *a.s);
    b.s = malloc(sizeof *b.s);
    qw_status s = f && a.s && b.s ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
    if (s == QW_OK) {
        qw_bench_samples_clear(a.s);
        qw_bench_samples_clear(b.s);
        if (tty) fprintf(stderr, "qwick bench: loading %s\n", pos[0]);
        s = qw_bench_runner_init(&a.run, pos[0], &plan, &a.r);
    }
    int torch = vs && strcmp(vs, "torch") == 0;
    if (s == QW_OK && torch) {
        char buf[4096];
        const char *py = getenv("QWICK_PYTHON");
        signal(SIGPIPE, SIG_IGN); // a peer that dies mid-write must become an error, not kill qwick
        if (tty) fprintf(stderr, "qwick bench: starting the PyTorch peer (it loads and warms up first)\n");
        s = qw_torch_peer_start(&b.peer, py && *py ? py : "/usr/bin/python3", torch_script(buf, sizeof buf), pos[0],
                                &plan, &b.r);
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
    qw_torch_peer_stop(b.peer);
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
    qw_torch_peer_stop(b.peer);
    qw_bench_runner_free(b.run);
    qw_bench_runner_free(a.run);
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
        }
    }
    free(a.s);
    free(b.s);
    free(f);
    return s == QW_OK ? 0 : qw_cli_fail(s);
}
