// cli/cmd_quantize: `qwick quantize MODEL --type T --method rtn|gptq|awq [--calib F] [--keep ...] [--bpw X]
// [--eval] -o OUT.gguf`: post-training quantization with calibration data, written as GGUF.
#include "cli.h"

#include "quant/quantize.h"

#include <strings.h>
#include <sys/stat.h>

static const char *const g_types[] = {"q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "iq4_nl"};

typedef struct {
    const char *out, *type, *method, *calib, *keep, *name;
    float bpw, damp;
    int samples, len, eval, eval_samples, act_order, block, grid, awq_tokens, threads, quiet, verbose, bpw_full;
} opts;

static int parse_method(const char *s) {
    static const char *const names[] = {"rtn", "gptq", "awq", "awq+gptq"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0) return i;
    return -1;
}

static void print_types(const qw_qplan *p, const qw_model *m) {
    int count[QW_TYPE_COUNT] = {0};
    for (int i = 0; i < p->n_layers * QW_QT_PER_LAYER; i++) count[p->layer[i]]++;
    count[p->embed]++;
    if (!m->config.tie_word_embeddings) count[p->output]++;
    const char *sep = "";
    for (int t = 0; t < QW_TYPE_COUNT; t++)
        if (count[t]) fprintf(stderr, "%s%s: %d", sep, qw_type_name((qw_type)t), count[t]), sep = ", ";
}

// KLD and top-1 agreement against the input model on held-out text, of the file just written as the
// engine runs it (integer kernels, activations rounded to 8 bits): what a user of the file gets.
static qw_status evaluate(const qw_model *src, const qw_calib_set *held, const opts *o) {
    if (held->n == 0) return qw_error(QW_ERR_ARG, "--eval: the calibration data left no held-out text");
    if (src->quantized_tensor)
        return qw_error(QW_ERR_UNSUPPORTED, "--eval: the input model is quantized and cannot serve as the reference");
    qw_model *deq;
    QW_TRY(qw_model_load(&deq, o->out));
    int64_t n = qw_calib_tokens(held), k = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    qw_status s = ids ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
    int ctx = 0;
    for (int i = 0; s == QW_OK && i < held->n; i++) {
        memcpy(ids + k, held->seq[i], sizeof(int32_t) * (size_t)held->len[i]);
        k += held->len[i];
        ctx = held->len[i] > ctx ? held->len[i] : ctx;
    }
    qw_ppl_result res;
    memset(&res, 0, sizeof res);
    if (s == QW_OK) {
        qw_ppl_params pp = {.ctx = ctx, .stride = ctx, .run = {.n_batch = ctx, .n_threads = o->threads}, .ref_model = src};
        qw_progress pg;
        qw_progress_init(&pg, "eval", "tokens", n);
        if (o->quiet) qw_progress_enable(&pg, 0);
        s = qw_eval_perplexity(deq, ids, n, &pp, &pg, &res);
        qw_progress_end(&pg);
    }
    if (s == QW_OK)
        printf("eval on %lld held-out tokens: KLD mean %.6f (p99 %.5f, max %.4f), top-1 agreement %.2f%% "
               "[%.2f, %.2f], perplexity %.3f vs %.3f (x%.4f)\n",
               (long long)res.n_scored, res.kld_mean, res.kld_p99, res.kld_max, 100 * res.top1_agree,
               100 * res.top1_ci.lo, 100 * res.top1_ci.hi, res.ppl, res.ref_ppl, res.ppl_ratio);
    free(ids);
    qw_model_free(deq);
    return s;
}

int qw_cmd_quantize(int argc, char **argv) {
    opts o = {.type = "q4_k", .method = "gptq", .samples = 64, .len = 256, .eval_samples = 8, .block = 128,
              .grid = 20, .awq_tokens = 512, .damp = 0.01f};
    const qw_opt table[] = {
        {"--outfile", "-o", QW_OPT_STR, &o.out, "the GGUF file to write"},
        {"--type", NULL, QW_OPT_STR, &o.type, "q4_k (default) | q4_0 | iq4_nl | q5_k | q6_k | q8_0"},
        {"--method", NULL, QW_OPT_STR, &o.method, "rtn | gptq (default) | awq | awq+gptq"},
        {"--calib", NULL, QW_OPT_STR, &o.calib, "calibration text (.txt) or task JSONL (default: the shipped "
                                                "English + Chinese + code text)"},
        {"--calib-samples", NULL, QW_OPT_INT, &o.samples, "calibration sequences (default 64)"},
        {"--calib-len", NULL, QW_OPT_INT, &o.len, "tokens per calibration sequence (default 256)"},
        {"--keep", NULL, QW_OPT_STR, &o.keep, "NAME[:TYPE],... kept at TYPE (default q8_0): embed, lm_head, attn_q, "
                                              "attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down, blk.N.KIND"},
        {"--bpw", NULL, QW_OPT_FLOAT, &o.bpw, "target bits per weight: upgrade the matrices (embedding included) whose "
                                              "KLD on calibration text drops most per bit to "
                                              "Q5_K/Q6_K/Q8_0 until the file has this many"},
        {"--bpw-full", NULL, QW_OPT_FLAG, &o.bpw_full, "--bpw: measure each matrix's KLD at every candidate type (4x "
                                                       "the forwards) instead of scaling its base type's KLD by "
                                                       "the candidates' local errors"},
        {"--eval", NULL, QW_OPT_FLAG, &o.eval, "KLD and top-1 agreement against MODEL on held-out calibration text"},
        {"--eval-samples", NULL, QW_OPT_INT, &o.eval_samples, "held-out sequences for --eval (default 8)"},
        {"--act-order", NULL, QW_OPT_FLAG, &o.act_order, "GPTQ: columns by decreasing Hessian diagonal"},
        {"--damp", NULL, QW_OPT_FLOAT, &o.damp, "GPTQ dampening, fraction of the mean diagonal (default 0.01)"},
        {"--block", NULL, QW_OPT_INT, &o.block, "GPTQ lazy-update block (default 128)"},
        {"--awq-grid", NULL, QW_OPT_INT, &o.grid, "AWQ: exponents tried in [0, 1) (default 20)"},
        {"--awq-tokens", NULL, QW_OPT_INT, &o.awq_tokens, "tokens AWQ's search and --bpw's sensitivity use (default 512)"},
        {"--name", NULL, QW_OPT_STR, &o.name, "general.name (default: the model's folder name)"},
        {"--threads", "-t", QW_OPT_INT, &o.threads, "threads (default: QWICK_THREADS or all cores)"},
        {"--quiet", "-q", QW_OPT_FLAG, &o.quiet, "no progress bar"},
        {"--verbose", "-v", QW_OPT_FLAG, &o.verbose, "per-layer AWQ errors and --bpw choices"},
    };
    qw_cmd_spec spec = {"qwick quantize MODEL -o OUT.gguf [--type T] [--method rtn|gptq|awq|awq+gptq] [options]",
                        "Quantizes MODEL's matrices to a GGUF type. rtn rounds each block to nearest, as convert "
                        "does. gptq runs calibration text through the model one layer at a time and rounds each "
                        "column onto the type's exact grid while compensating its error in the columns not yet "
                        "rounded (inverse Hessian of the layer's inputs). awq scales input channels by their "
                        "activation size, folded into the preceding norm or linear, before rounding. Embeddings "
                        "and lm_head are rounded to nearest; norms and biases stay F32.",
                        table, (int)(sizeof table / sizeof table[0]), 1, 1};
    const char *pos[1];
    int n_pos, r = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (r) return r == 1 ? 0 : 2;
    if (!o.out) {
        fprintf(stderr, "qwick: quantize needs --outfile OUT.gguf\nusage: %s\n", spec.usage);
        return 2;
    }
    int t = -1, method = parse_method(o.method);
    for (size_t i = 0; i < sizeof g_types / sizeof g_types[0]; i++)
        if (strcasecmp(o.type, g_types[i]) == 0) t = qw_type_from_name(o.type);
    if (t < 0) {
        fprintf(stderr, "qwick: unknown --type '%s' (q4_k, q4_0, iq4_nl, q5_k, q6_k, q8_0)\n", o.type);
        return 2;
    }
    if (method < 0) {
        fprintf(stderr, "qwick: unknown --method '%s' (rtn, gptq, awq, awq+gptq)\n", o.method);
        return 2;
    }
    if (o.samples < 1 || o.len < 8 || o.eval_samples < 1 || o.block < 1 || o.grid < 1 || o.awq_tokens < 1 ||
        o.damp < 0 || o.bpw < 0 || (o.bpw > 0 && o.bpw < 1)) {
        fprintf(stderr, "qwick: out-of-range option (--calib-samples/--eval-samples/--block/--awq-grid/--awq-tokens "
                        ">= 1, --calib-len >= 8, --damp >= 0, --bpw >= 1)\n");
        return 2;
    }
    if (o.threads <= 0) o.threads = qw_threads_default();
    if (o.verbose) qw_log_set_level(QW_LOG_INFO);
    char calib_path[4096];
    if (o.calib) snprintf(calib_path, sizeof calib_path, "%s", o.calib);
    else qw_path_join(calib_path, sizeof calib_path, qw_cli_models_dir(), "calib.txt");
    int need_calib = method != QW_QMETHOD_RTN || o.bpw > 0 || o.eval;

    double t0 = qw_time_sec();
    qw_model *m = NULL, *qm = NULL;
    qw_qplan plan;
    memset(&plan, 0, sizeof plan);
    qw_calib_set calib, held;
    memset(&calib, 0, sizeof calib);
    memset(&held, 0, sizeof held);
    char *tmpl = NULL;
    qw_quant_report rep;
    memset(&rep, 0, sizeof rep);
    qw_status s = qw_model_load_for_convert(&m, pos[0]);
    if (s == QW_OK) s = qw_qplan_init(&plan, m, (qw_type)t);
    if (s == QW_OK && o.keep) s = qw_qplan_keep(&plan, m, o.keep);
    if (s == QW_OK && need_calib) s = qw_calib_load(m, calib_path, o.samples, o.len, o.eval ? o.eval_samples : 0, &calib, &held);
    qw_quant_params qp = {.method = (qw_qmethod)method,
                          .gptq = {.percdamp = o.damp, .block_size = o.block, .act_order = o.act_order},
                          .awq_grid = o.grid, .awq_tokens = o.awq_tokens, .bpw = o.bpw, .bpw_full = o.bpw_full,
                          .n_threads = o.threads,
                          .verbose = o.verbose, .progress = !o.quiet};
    if (s == QW_OK && need_calib && !o.quiet)
        fprintf(stderr, "qwick: %d calibration sequences (%lld tokens) from %s\n", calib.n,
                (long long)qw_calib_tokens(&calib), calib_path);
    if (s == QW_OK && o.bpw > 0) s = qw_quant_allocate_bits(m, &calib, &plan, &qp, &rep);
    if (s == QW_OK && method != QW_QMETHOD_RTN) s = qw_quantize_model(m, &calib, &plan, &qp, &qm, &rep);
    if (s == QW_OK) {
        char base[256];
        qw_cli_model_basename(pos[0], base, sizeof base);
        tmpl = qw_cli_chat_template(pos[0], m);
        // RTN writes the source model through the plan, as convert does; the calibrated methods write
        // their pre-quantized model, whose matrices the plan's types copy unchanged
        qw_gguf_save_opts so = {.type = (qw_type)t, .name = o.name ? o.name : base, .chat_template = tmpl,
                                .n_threads = o.threads, .tensor_type = qw_qplan_tensor_type, .tensor_type_ctx = &plan};
        s = qw_model_save_gguf(qm ? qm : m, o.out, &so);
    }
    if (s == QW_OK) {
        struct stat sb;
        double mb = stat(o.out, &sb) == 0 ? (double)sb.st_size / 1e6 : 0;
        static const char *const names[] = {"RTN", "GPTQ", "AWQ", "AWQ+GPTQ"};
        fprintf(stderr, "qwick: wrote %s: %.1f MB, %.3f bits per weight (", o.out, mb, qw_qplan_bpw(&plan, m));
        print_types(&plan, m);
        fprintf(stderr, "), %s", names[method]);
        if (method != QW_QMETHOD_RTN) fprintf(stderr, " on %lld calibration tokens", (long long)rep.calib_tokens);
        if (method == QW_QMETHOD_AWQ || method == QW_QMETHOD_AWQ_GPTQ) fprintf(stderr, " (mean AWQ alpha %.2f)", rep.awq_alpha_mean);
        if (o.bpw > 0) fprintf(stderr, ", %d matrices upgraded for --bpw %.2f", rep.n_upgraded, o.bpw);
        fprintf(stderr, ", in %.1f s, peak memory %.2f GB\n", qw_time_sec() - t0, (double)qw_peak_rss() / 1e9);
    }
    if (s == QW_OK && o.eval) s = evaluate(m, &held, &o);
    free(tmpl);
    qw_quant_model_free(qm);
    qw_calib_free(&calib);
    qw_calib_free(&held);
    qw_qplan_free(&plan);
    qw_model_free(m);
    return s == QW_OK ? 0 : qw_cli_fail(s);
}
