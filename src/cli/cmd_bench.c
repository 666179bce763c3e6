// cli/cmd_bench: `qwick bench MODEL`: prefill and decode speed, time to first token, peak memory, and
// decode as GB/s of weights streamed against this machine's measured read bandwidth.
#include "cli.h"

#include "kernels/kernels.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int qw_cmd_bench(int argc, char **argv) {
    int n_prompt = 512, n_gen = 32, threads = 0, reps = 3, json = 0, no_bw = 0, batch = 512;
    const qw_opt opts[] = {
        {"--prompt-len", "-p", QW_OPT_INT, &n_prompt, "prompt tokens for the prefill measurement (default 512)"},
        {"--n-gen", "-n", QW_OPT_INT, &n_gen, "tokens to decode per repetition (default 32)"},
        {"--threads", "-t", QW_OPT_INT, &threads, "threads (default: QWICK_THREADS or all cores)"},
        {"--batch", "-b", QW_OPT_INT, &batch, "prompt tokens per forward (default 512)"},
        {"--reps", "-r", QW_OPT_INT, &reps, "repetitions after one warm-up (default 3); medians reported"},
        {"--no-bandwidth", NULL, QW_OPT_FLAG, &no_bw, "skip measuring the memory bandwidth ceiling"},
        {"--json", NULL, QW_OPT_FLAG, &json, "print one JSON object"},
    };
    qw_cmd_spec spec = {"qwick bench MODEL [options]",
                        "Measures prefill tok/s, time to first token, decode tok/s and peak memory on random "
                        "tokens (speed does not depend on their values).",
                        opts, (int)(sizeof opts / sizeof opts[0]), 1, 1};
    const char *pos[1];
    int n_pos, r = qw_cli_parse(&spec, argc, argv, pos, &n_pos);
    if (r) return r == 1 ? 0 : 2;
    if (n_prompt < 1 || n_gen < 1 || reps < 1 || batch < 1) {
        fprintf(stderr, "qwick: --prompt-len, --n-gen, --reps and --batch must be positive\n");
        return 2;
    }
    int nth = threads > 0 ? threads : qw_threads_default();
    double bw = no_bw ? 0 : qw_measure_bandwidth((size_t)1 << 30, nth, 5);

    qw_model *m;
    qw_status s = qw_model_load(&m, pos[0]);
    if (s != QW_OK) return qw_cli_fail(s);
    qw_session ses;
    s = qw_session_init(&ses, m, n_prompt + n_gen + 1, batch, nth);
    if (s != QW_OK) {
        qw_model_free(m);
        return qw_cli_fail(s);
    }
    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)n_prompt);
    double *pre = malloc(sizeof(double) * (size_t)reps), *dec = malloc(sizeof(double) * (size_t)reps);
    double *ttft = malloc(sizeof(double) * (size_t)reps);
    qw_rng rng;
    qw_rng_seed(&rng, 7);
    qw_sampler smp;
    qw_sampler_params sp = qw_sampler_defaults();
    sp.temperature = 0;
    sp.repeat_penalty = 1;
    s = prompt && pre && dec && ttft ? qw_sampler_init(&smp, &sp, m->config.vocab_size)
                                     : qw_error(QW_ERR_NOMEM, "out of memory");
    for (int rep = -1; rep < reps && s == QW_OK; rep++) { // rep -1 is the warm-up
        for (int i = 0; i < n_prompt; i++) prompt[i] = (int32_t)(qw_rng_u64(&rng) % (uint64_t)m->config.vocab_size);
        qw_session_reset(&ses);
        double t0 = qw_time_sec();
        s = qw_session_set_tokens(&ses, prompt, n_prompt);
        int32_t first = qw_sampler_sample(&smp, ses.logits, NULL, 0);
        double t1 = qw_time_sec();
        for (int i = 0; i < n_gen && s == QW_OK; i++) {
            s = qw_session_push(&ses, first);
            first = qw_sampler_sample(&smp, ses.logits, NULL, 0);
        }
        double t2 = qw_time_sec();
        if (rep >= 0) {
            pre[rep] = n_prompt / (t1 - t0);
            ttft[rep] = t1 - t0;
            dec[rep] = n_gen / (t2 - t1);
        }
    }
    if (s != QW_OK) {
        free(prompt), free(pre), free(dec), free(ttft);
        qw_sampler_free(&smp);
        qw_session_free(&ses);
        qw_model_free(m);
        return qw_cli_fail(s);
    }
    double pre_min = pre[0], pre_max = pre[0], dec_min = dec[0], dec_max = dec[0];
    for (int i = 1; i < reps; i++) {
        pre_min = pre[i] < pre_min ? pre[i] : pre_min, pre_max = pre[i] > pre_max ? pre[i] : pre_max;
        dec_min = dec[i] < dec_min ? dec[i] : dec_min, dec_max = dec[i] > dec_max ? dec[i] : dec_max;
    }
    double p_med = median(pre, reps), d_med = median(dec, reps), t_med = median(ttft, reps);
    double gbs = m->weight_bytes * d_med / 1e9;
    size_t peak = qw_peak_rss();
    size_t file_bytes = 0; // what the mapped weights can add to the resident set
    for (int i = 0; i < m->st.n_files; i++) file_bytes += m->st.maps[i].size;
    file_bytes += m->gguf.map.size;
    double overhead = (double)peak - (double)file_bytes - (double)ses.kv.bytes;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "engine", "qwick");
        cJSON_AddStringToObject(o, "model", m->path);
        cJSON_AddStringToObject(o, "dtype", qw_type_name(m->config.dtype));
        cJSON_AddStringToObject(o, "cpu", qw_cpu_describe());
        cJSON_AddNumberToObject(o, "threads", nth);
        cJSON_AddNumberToObject(o, "prompt_len", n_prompt);
        cJSON_AddNumberToObject(o, "n_gen", n_gen);
        cJSON_AddNumberToObject(o, "reps", reps);
        cJSON_AddNumberToObject(o, "prefill_tok_s", p_med);
        cJSON_AddNumberToObject(o, "prefill_tok_s_min", pre_min);
        cJSON_AddNumberToObject(o, "prefill_tok_s_max", pre_max);
        cJSON_AddNumberToObject(o, "ttft_s", t_med);
        cJSON_AddNumberToObject(o, "decode_tok_s", d_med);
        cJSON_AddNumberToObject(o, "decode_tok_s_min", dec_min);
        cJSON_AddNumberToObject(o, "decode_tok_s_max", dec_max);
        cJSON_AddNumberToObject(o, "weight_bytes_per_token", (double)m->weight_bytes);
        cJSON_AddNumberToObject(o, "decode_gb_s", gbs);
        cJSON_AddNumberToObject(o, "bandwidth_gb_s", bw);
        cJSON_AddNumberToObject(o, "bandwidth_fraction", bw > 0 ? gbs / bw : 0);
        cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)peak);
        cJSON_AddNumberToObject(o, "kv_bytes", (double)ses.kv.bytes);
        cJSON_AddNumberToObject(o, "weight_file_bytes", (double)file_bytes);
        cJSON_AddNumberToObject(o, "overhead_bytes", overhead);
        char *txt = cJSON_Print(o);
        puts(txt);
        free(txt);
        cJSON_Delete(o);
    } else {
        printf("model        %s (%s, %.2f GB streamed per token)\n", m->path, qw_type_name(m->config.dtype),
               m->weight_bytes / 1e9);
        printf("cpu          %s, %d threads\n", qw_cpu_describe(), nth);
        printf("prefill      %8.2f tok/s  (%d tokens; min %.2f, max %.2f over %d reps)\n", p_med, n_prompt,
               pre_min, pre_max, reps);
        printf("ttft         %8.3f s\n", t_med);
        printf("decode       %8.2f tok/s  (%d tokens; min %.2f, max %.2f)\n", d_med, n_gen, dec_min, dec_max);
        if (bw > 0) printf("bandwidth    %8.2f GB/s streamed = %.1f%% of the %.2f GB/s measured\n", gbs, 100 * gbs / bw, bw);
        printf("memory       peak RSS %.1f MB = weight files %.1f MB + KV %.1f MB + %.1f MB other\n", peak / 1e6,
               file_bytes / 1e6, ses.kv.bytes / 1e6, overhead / 1e6);
    }
    free(prompt), free(pre), free(dec), free(ttft);
    qw_sampler_free(&smp);
    qw_session_free(&ses);
    qw_model_free(m);
    return 0;
}
