// tests/test_model: qwick's forward pass against the PyTorch reference fixtures (scripts/make_fixtures.py)
// for every case in tests/fixtures: prefill logits, each KV-cached decode step, several sequences in one
// batch mixing prefill and decode, chunked prefill, and 1 vs 2 threads.
#include "generate/generate.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <dirent.h>

// max|a - b| / max|ref|, the definition the fixtures' meta.json states
static double rel_err(const float *a, const float *ref, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    return md / mr;
}

static int load_npy(const char *dir, const char *name, qw_npy *out) {
    char p[1024];
    qw_path_join(p, sizeof p, dir, name);
    qw_status s = qw_npy_read(p, out);
    CHECKF(s == QW_OK, "%s", qw_error_message());
    return s == QW_OK;
}

static double tolerance(const char *dir, const qw_model *m) {
    if (m->config.dtype != QW_TYPE_BF16) return 1e-4; // f32 and f16 weights are exact in f32
    char p[1024], *txt;
    qw_path_join(p, sizeof p, dir, "meta.json");
    double tol = 1e-2;
    if (qw_file_read_all(p, 1 << 20, &txt, NULL) == QW_OK) {
        cJSON *j = cJSON_Parse(txt);
        const cJSON *v = cJSON_GetObjectItem(j, "bf16_scale");
        if (cJSON_IsNumber(v)) tol = v->valuedouble;
        else if (cJSON_IsObject(v)) {
            const cJSON *pre = cJSON_GetObjectItem(v, "prefill");
            if (cJSON_IsNumber(pre)) tol = pre->valuedouble;
        }
        cJSON_Delete(j);
        free(txt);
    }
    return tol;
}

static void check_case(const char *dir, int nth) {
    qw_model *m;
    qw_status s = qw_model_load(&m, dir);
    CHECKF(s == QW_OK, "%s: %s", dir, qw_error_message());
    if (s != QW_OK) return;
    qw_npy prompt, pre, dtok, dlog, prompt2, pre2;
    if (!load_npy(dir, "prompt.npy", &prompt) || !load_npy(dir, "logits_prefill.npy", &pre) ||
        !load_npy(dir, "decode_tokens.npy", &dtok) || !load_npy(dir, "logits_decode.npy", &dlog) ||
        !load_npy(dir, "prompt2.npy", &prompt2) || !load_npy(dir, "logits_prefill2.npy", &pre2)) {
        qw_model_free(m);
        return;
    }
    int V = m->config.vocab_size, P = (int)prompt.shape[0], D = (int)dtok.shape[0], P2 = (int)prompt2.shape[0];
    const int32_t *ptok = prompt.data, *dt = dtok.data, *ptok2 = prompt2.data;
    double tol = tolerance(dir, m);
    float *all = malloc(sizeof(float) * (size_t)(P + P2) * (size_t)V);

    // 1. prefill all positions, then decode step by step through the cache
    qw_session ses;
    CHECK(qw_session_init(&ses, m, 64, 64, nth) == QW_OK);
    CHECK(qw_session_prefill(&ses, ptok, P, all) == QW_OK);
    double e = rel_err(all, pre.data, (size_t)P * V);
    printf("%-28s t=%d prefill   rel err %.2e (tol %.1e)\n", dir, nth, e, tol);
    CHECKF(e <= tol, "%s prefill %.3e", dir, e);
    double worst = 0;
    for (int i = 0; i < D; i++) {
        CHECK(qw_session_push(&ses, dt[i]) == QW_OK);
        double ei = rel_err(ses.logits, (const float *)dlog.data + (size_t)i * V, (size_t)V);
        worst = ei > worst ? ei : worst;
    }
    printf("%-28s t=%d decode    rel err %.2e over %d steps\n", dir, nth, worst, D);
    CHECKF(worst <= tol, "%s decode %.3e", dir, worst);
    qw_session_free(&ses);

    // 2. chunked prefill (3 tokens per forward) gives the same logits
    CHECK(qw_session_init(&ses, m, 64, 3, nth) == QW_OK);
    CHECK(qw_session_prefill(&ses, ptok, P, all) == QW_OK);
    e = rel_err(all, pre.data, (size_t)P * V);
    CHECKF(e <= tol, "%s chunked prefill %.3e", dir, e);
    qw_session_free(&ses);

    // 3. two sequences in one batch, interleaved; then one batch mixing seq 0's decode with seq 1's prompt
    qw_kv_cache kv;
    qw_state st;
    qw_batch b;
    CHECK(qw_kv_cache_init(&kv, m, 2, 64) == QW_OK);
    CHECK(qw_state_init(&st, m, P + P2, 64, nth) == QW_OK);
    CHECK(qw_batch_init(&b, P + P2) == QW_OK);
    int i0 = 0, i1 = 0;
    int *which = malloc(sizeof(int) * (size_t)(P + P2));
    while (i0 < P || i1 < P2) { // alternate tokens of the two sequences
        if (i0 < P) which[b.n_tokens] = 0, qw_batch_add(&b, ptok[i0], i0, 0, 1), i0++;
        if (i1 < P2) which[b.n_tokens] = 1, qw_batch_add(&b, ptok2[i1], i1, 1, 1), i1++;
    }
    CHECK(qw_forward(m, &st, &kv, &b, all) == QW_OK);
    double e0 = 0, e1 = 0;
    i0 = i1 = 0;
    for (int t = 0; t < b.n_tokens; t++) {
        const float *row = all + (size_t)t * V;
        if (which[t] == 0) {
            double x = rel_err(row, (const float *)pre.data + (size_t)i0++ * V, (size_t)V);
            e0 = x > e0 ? x : e0;
        } else {
            double x = rel_err(row, (const float *)pre2.data + (size_t)i1++ * V, (size_t)V);
            e1 = x > e1 ? x : e1;
        }
    }
    printf("%-28s t=%d batch     rel err %.2e (seq 0), %.2e (seq 1)\n", dir, nth, e0, e1);
    CHECKF(e0 <= 2 * tol && e1 <= 2 * tol, "%s batched %.3e %.3e", dir, e0, e1);
    // seq 1 starts again in the same slot, next to seq 0's first decode step
    qw_batch_clear(&b);
    qw_batch_add(&b, dt[0], P, 0, 1);
    for (int j = 0; j < P2; j++) qw_batch_add(&b, ptok2[j], j, 1, j == P2 - 1);
    CHECK(qw_forward(m, &st, &kv, &b, all) == QW_OK);
    e0 = rel_err(all, dlog.data, (size_t)V);
    e1 = rel_err(all + V, (const float *)pre2.data + (size_t)(P2 - 1) * V, (size_t)V);
    printf("%-28s t=%d mixed     rel err %.2e (decode), %.2e (prefill)\n", dir, nth, e0, e1);
    CHECKF(e0 <= 2 * tol && e1 <= 2 * tol, "%s mixed %.3e %.3e", dir, e0, e1);
    // out-of-range input is refused, not run
    qw_batch_clear(&b);
    qw_batch_add(&b, V, 0, 0, 1);
    CHECK(qw_forward(m, &st, &kv, &b, all) == QW_ERR_ARG);
    qw_batch_clear(&b);
    qw_batch_add(&b, 1, 64, 0, 1);
    CHECK(qw_forward(m, &st, &kv, &b, all) == QW_ERR_ARG);
    qw_batch_clear(&b);
    qw_batch_add(&b, 1, 0, 2, 1);
    CHECK(qw_forward(m, &st, &kv, &b, all) == QW_ERR_ARG);

    free(which);
    qw_batch_free(&b);
    qw_state_free(&st);
    qw_kv_cache_free(&kv);
    free(all);
    qw_npy_free(&prompt), qw_npy_free(&pre), qw_npy_free(&dtok), qw_npy_free(&dlog);
    qw_npy_free(&prompt2), qw_npy_free(&pre2);
    qw_model_free(m);
}

int main(void) {
    DIR *d = opendir("tests/fixtures");
    CHECKF(d != NULL, "tests/fixtures missing (run from the repo root)");
    if (!d) TEST_DONE();
    int n_cases = 0;
    struct dirent *e;
    char names[32][256];
    while ((e = readdir(d)) && n_cases < 32)
        if (e->d_name[0] != '.' && e->d_type == DT_DIR) snprintf(names[n_cases++], 256, "%.255s", e->d_name);
    closedir(d);
    for (int i = 0; i < n_cases; i++) {
        char dir[300];
        snprintf(dir, sizeof dir, "tests/fixtures/%.255s", names[i]);
        check_case(dir, 1);
        check_case(dir, 2);
    }
    CHECKF(n_cases >= 5, "only %d fixture cases", n_cases);
    TEST_DONE();
}
