// report: speed measurement (qwick models and the PyTorch peer), bench and eval results as JSON, and the
// self-contained HTML report and SVG charts that put models side by side for a user's team.
#ifndef QW_REPORT_H
#define QW_REPORT_H

#include "base/base.h"

// ---------------------------------------------------------------------------------------------------
// text: a growing NUL-terminated buffer. Appends never fail loudly; an out-of-memory is remembered and
// reported once by qw_text_status, so writers can append freely and check at the end.

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} qw_text;

void qw_text_init(qw_text *t);
void qw_text_free(qw_text *t);
void qw_text_putn(qw_text *t, const char *s, size_t n);
void qw_text_put(qw_text *t, const char *s);
void qw_text_printf(qw_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// s escaped for HTML/XML text and attribute values (& < > " ' become entities).
void qw_text_escape(qw_text *t, const char *s);
qw_status qw_text_status(const qw_text *t);

// ---------------------------------------------------------------------------------------------------
// stats over repetitions. NaN marks "not measured" everywhere in this layer; a stat of no values is NaN.

typedef struct {
    double med, min, max;
} qw_stat;

qw_stat qw_stat_of(const double *v, int n); // NaN entries are skipped
// Median of the ratios a[i] / b[i] over the pairs where both are measured: robust to load that drifts
// across an alternating run, since each pair was measured close together in time.
double qw_stat_paired_ratio(const double *a, const double *b, int n);

// ---------------------------------------------------------------------------------------------------
// bench: what is measured (a plan), raw samples per repetition, and the summary written as JSON.

#define QW_BENCH_MAX_ROWS 16  // prompt lengths, and batch sizes
#define QW_BENCH_MAX_REPS 100

typedef struct {
    int n_prompt, prompt_len[QW_BENCH_MAX_ROWS]; // prefill measurements
    int n_batch, batch[QW_BENCH_MAX_ROWS];       // decode measurements: B sequences decoding together
    int n_gen;      // decode steps per measurement
    int decode_ctx; // tokens each decoding sequence holds (prefilled, untimed) before its first step
    int chunk;      // prompt tokens per forward
    int threads, reps;
    uint64_t seed;
} qw_bench_plan;

// One value per row and repetition (NaN until measured).
typedef struct {
    double prefill_tok_s[QW_BENCH_MAX_ROWS][QW_BENCH_MAX_REPS];
    double ttft_s[QW_BENCH_MAX_ROWS][QW_BENCH_MAX_REPS];
    double decode_tok_s[QW_BENCH_MAX_ROWS][QW_BENCH_MAX_REPS]; // all sequences together
    double tpot_s[QW_BENCH_MAX_ROWS][QW_BENCH_MAX_REPS];       // per sequence: seconds per step
    double peak_rss_bytes;
    double foreign_cpu_load; // share of the CPUs other processes used while measuring (peer only)
} qw_bench_samples;

void qw_bench_samples_clear(qw_bench_samples *s); // every value NaN

typedef struct {
    int prompt_len;
    qw_stat tok_s, ttft_s;
} qw_bench_prefill;

typedef struct {
    int batch;
    qw_stat tok_s, tpot_s;
} qw_bench_decode;

// One engine on one model. Strings are bounded; readers refuse longer ones rather than cut them.
typedef struct {
    char engine[32];   // "qwick", "pytorch-eager"
    char model[4096];  // absolute path of the model folder
    char dtype[16];    // "bf16"
    char cpu[256];     // CPU model name
    char isa[128];     // qwick's kernel level, or the peer's library version
    int threads, reps, n_gen, decode_ctx;
    double model_bytes, n_params, bpw;
    double step_bytes;      // weight bytes one decode step streams
    double bandwidth_gb_s;  // the machine's measured read bandwidth (NaN when skipped)
    double peak_rss_bytes;
    double decode_gb_s;     // step_bytes x steps/s at the smallest batch
    double bandwidth_fraction;
    double foreign_cpu_load;
    int n_prefill, n_decode;
    qw_bench_prefill prefill[QW_BENCH_MAX_ROWS];
    qw_bench_decode decode[QW_BENCH_MAX_ROWS];
} qw_bench_result;

// Fills r's rows and derived figures from the samples (r's static fields, step_bytes and
// bandwidth_gb_s included, must be set already).
void qw_bench_summarise(const qw_bench_plan *p, const qw_bench_samples *s, qw_bench_result *r);

// A bench file: one result, and optionally the other side of a --vs comparison with the paired ratios
// A/B per row (tok/s ratios above 1 and time ratios below 1 mean A is faster).
typedef struct {
    qw_bench_result a;
    int has_vs;
    qw_bench_result b;
    double prefill_ratio[QW_BENCH_MAX_ROWS], ttft_ratio[QW_BENCH_MAX_ROWS];
    double decode_ratio[QW_BENCH_MAX_ROWS], tpot_ratio[QW_BENCH_MAX_ROWS];
    char source[4096]; // the file it was read from ("" when measured)
} qw_bench_file;

void qw_bench_file_ratios(qw_bench_file *f, const qw_bench_plan *p, const qw_bench_samples *a,
                          const qw_bench_samples *b);
// JSON text of f (caller frees with free()), and the validating reader; errors name the file.
qw_status qw_bench_json_write(const qw_bench_file *f, char **out);
qw_status qw_bench_json_read(const char *path, qw_bench_file *f);
qw_status qw_bench_json_parse(const char *text, size_t len, const char *path, qw_bench_file *f);

// The CPU's model name from /proc/cpuinfo ("unknown" elsewhere), into buf.
void qw_bench_cpu_name(char *buf, size_t n);

// ---------------------------------------------------------------------------------------------------
// bench runners: a qwick model measured in this process, and a peer engine in a child process.
// Each runs one repetition of the whole plan per call (rep -1 is the warm-up, not recorded), so that a
// comparison can alternate between them repetition by repetition.

typedef struct qw_bench_runner qw_bench_runner;
// Loads the model and allocates everything the plan needs; fills info's static fields.
qw_status qw_bench_runner_init(qw_bench_runner **out, const char *model_dir, const qw_bench_plan *p,
                               qw_bench_result *info);
qw_status qw_bench_runner_rep(qw_bench_runner *r, qw_bench_samples *s, int rep);
void qw_bench_runner_free(qw_bench_runner *r);

// A peer in a child process speaking the line protocol of bench/torch_peer.py --serve: started as
//   EXE [SCRIPT] MODEL --serve --threads T --prompt-lens L,.. --batches B,.. --decode N --decode-ctx C
//       --seed S [EXTRA...]
// it loads the model, runs its own warm-up, prints {"ready": true, "peer", "version", "model", "dtype",
// "model_bytes", "n_params", "step_bytes"}, then answers each "rep" line on stdin with one JSON line
// {"prefill": [{"prompt_len", "tok_s", "ttft_s"}...], "decode": [{"batch", "tok_s", "tpot_s"}...],
// "peak_rss_bytes", "foreign_cpu_load"} in the plan's order, or {"error": "..."}; EOF on stdin ends it.
// Peers: bench/torch_peer.py (PyTorch eager), bench/llamacpp_peer.c (llama.cpp).
typedef struct {
    const char *name;        // "PyTorch peer": names it in errors
    const char *engine;      // engine name when the peer's ready line has no "peer"
    const char *exe;         // the program to run
    const char *exe_hint;    // how to get it, for the error when it is not there
    const char *script;      // NULL, or a script EXE runs (its first argument)
    const char *script_hint;
    const char *model;       // the model argument
    const char *const *extra; // NULL-terminated further arguments, or NULL
} qw_bench_peer_spec;

typedef struct qw_bench_peer qw_bench_peer;
// Starts the peer, waits until it has loaded the model and run its warm-up, and fills info's static
// fields from its ready line.
qw_status qw_bench_peer_start(qw_bench_peer **out, const qw_bench_peer_spec *spec, const qw_bench_plan *p,
                              qw_bench_result *info);
qw_status qw_bench_peer_rep(qw_bench_peer *t, qw_bench_samples *s, int rep);
void qw_bench_peer_stop(qw_bench_peer *t); // closes its stdin, waits for it

// ---------------------------------------------------------------------------------------------------
// eval results (what `qwick eval --json` writes). Absent numbers are NaN.

typedef struct {
    char *file, *kind, *match;
    double n, acc, acc_lo, acc_hi, acc_norm, acc_norm_lo, acc_norm_hi;
    int has_paired;
    double ref_acc, diff, diff_lo, diff_hi, p_value, n_discordant;
} qw_eval_task;

typedef struct {
    char *model, *source; // source: the file it was read from
    double model_bytes, n_params, bpw, time_s;
    int has_ppl;
    char *ppl_file;
    double ppl_ctx, ppl_n_tokens, ppl, ppl_stderr;
    int has_ref;
    char *ref_source;
    double kld_mean, kld_stderr, kld_median, kld_p99, kld_p999, kld_max;
    double top1, top1_lo, top1_hi, top5, delta_p_mean, ref_ppl, ppl_ratio;
    int n_tasks;
    qw_eval_task *tasks;
} qw_eval_result;

qw_status qw_eval_json_read(const char *path, qw_eval_result *e);
qw_status qw_eval_json_parse(const char *text, size_t len, const char *path, qw_eval_result *e);
void qw_eval_result_free(qw_eval_result *e);

// ---------------------------------------------------------------------------------------------------
// the report: models gathered from eval and bench inputs, matched by (engine, model path).

typedef struct {
    char name[256];             // short display name, unique within the report
    const char *path, *engine;
    const qw_eval_result *eval; // NULL when the model has no eval input
    const qw_bench_result *bench; // NULL when it has no bench input
} qw_report_model;

typedef struct {
    const qw_eval_result *evals;
    int n_evals;
    const qw_bench_file *benches;
    int n_benches;
    const char *baseline; // a model's name or path; NULL: the eval reference when present, else the first
    const char *title;    // NULL: "qwick report"
    const char *generated; // date line shown under the title (NULL: none), so tests stay reproducible
} qw_report_inputs;

// Gathers the models (array freed with free()); *baseline is the index of the baseline model.
qw_status qw_report_models(const qw_report_inputs *in, qw_report_model **out, int *n, int *baseline);
// The whole HTML document (inline SVG, inline CSS, no script, nothing fetched).
qw_status qw_report_html(const qw_report_inputs *in, qw_text *out);

// ---------------------------------------------------------------------------------------------------
// SVG charts. A chart is one <svg> element; series are points (NaN skipped) with optional error bars.

typedef struct {
    const char *label;
    int n;
    const double *x, *y;
    const double *x_lo, *x_hi, *y_lo, *y_hi; // NULL: no bars on that axis
    const char *const *point_labels;         // NULL: none (the legend names the series)
    int line;                                // join the points in order
    int color;                               // palette index + 1 (0: by series order), so a model keeps
                                             // its colour across charts that leave some models out
} qw_svg_series;

typedef struct {
    const char *title, *x_label, *y_label;
    int width, height;
    int log_x;     // log2 axis with ticks at the data's x values (batch sizes, prompt lengths)
    int y_zero;    // the y axis starts at 0
    int legend;
    double y_max;  // upper bound of the y axis (0: none), e.g. 100 for percentages
} qw_svg_chart;

void qw_svg_chart_write(qw_text *t, const qw_svg_chart *c, const qw_svg_series *s, int n_series);

// The two speed charts for a set of bench results (decode tok/s vs batch size, prefill tok/s vs
// prompt length), each an <svg> element of the given size; names label the series.
void qw_svg_speed_charts(qw_text *t, const qw_bench_result *const *r, const char *const *names, int n,
                         int width, int height);
// A standalone SVG file holding both speed charts side by side (atomic write).
qw_status qw_svg_speed_file(const char *path, const qw_bench_result *const *r, const char *const *names,
                            int n);

// A number field of a result file's JSON object: NAN when absent or null (an error when required), an
// error naming path, where and key when it is not a finite number. Both readers (bench, eval) use it.
struct cJSON;
qw_status qw_report_json_num(const struct cJSON *o, const char *path, const char *where, const char *key, int required,
                             double *out);

#endif
