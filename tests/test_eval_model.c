// tests/test_eval_model: qwick eval on tiny random models from `qwick init`: PPL of a zero lm_head, windows vs a
// plain prefill, KLD (live and saved), MC log-likelihoods vs PyTorch (eval_ref.py), batched greedy generation.
#include "eval/eval.h"
#include "kernels/kernels.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <unistd.h>

static char g_tmp[64];
static int g_nth;

static const char *g_text =
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it "
    "was the season of Darkness, it was the spring of hope, it was the winter of despair, we had everything "
    "before us, we had nothing before us, we were all going direct to Heaven, we were all going direct the "
    "other way. 春眠不觉晓，处处闻啼鸟。";

static int qwick(const char *args) {
    const char *bin = getenv("QWICK_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/qwick %s > /dev/null 2>&1", bin ? bin : "build", args);
    return system(cmd);
}

static char *path(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    return qw_path_join(buf[k], sizeof buf[k], g_tmp, name);
}

static qw_status copy_file(const char *from, const char *to) {
    char *b;
    size_t n;
    QW_TRY(qw_file_read_all(from, (size_t)1 << 28, &b, &n));
    qw_status s = qw_write_file_atomic(to, b, n);
    free(b);
    return s;
}

// A copy of model src in dst, written with the io writer: ZERO_HEAD unties the embeddings and adds an all-zero
// lm_head (so every distribution is uniform); PERTURB scales the final norm's weights by 1 + 0.3 N(0, 1).
enum { ZERO_HEAD, PERTURB };
static qw_status write_variant(const char *src, const char *dst, int kind) {
    qw_safetensors st;
    QW_TRY(qw_safetensors_open(&st, src));
    qw_config c;
    qw_status s = qw_config_load(&c, src);
    qw_tensor *ts = calloc((size_t)st.n_tensors + 1, sizeof *ts);
    void *owned = NULL;
    int n = st.n_tensors;
    for (int i = 0; i < n; i++) ts[i] = st.tensors[i];
    if (kind == ZERO_HEAD) {
        const qw_tensor *e = qw_safetensors_find(&st, "model.embed_tokens.weight");
        ts[n] = *e;
        snprintf(ts[n].name, sizeof ts[n].name, "lm_head.weight");
        ts[n].data = owned = calloc(1, e->nbytes);
        n++;
        c.tie_word_embeddings = 0;
    } else {
        for (int i = 0; i < n; i++)
            if (strcmp(ts[i].name, "model.norm.weight") == 0) {
                int64_t k = qw_tensor_numel(&ts[i]);
                float *f = malloc(sizeof(float) * (size_t)k);
                owned = malloc(ts[i].nbytes);
                qw_rng r;
                qw_rng_seed(&r, 11);
                for (int64_t j = 0; j < k; j++) f[j] = qw_tensor_get_f32(&ts[i], j) * (1 + 0.3f * qw_rng_normal(&r));
                qw_convert_from_f32(ts[i].type, f, owned, k);
                ts[i].data = owned;
                free(f);
            }
    }
    char p[512], q[512];
    const char *meta[] = {"format", "pt"};
    if (s == QW_OK) s = qw_config_write(&c, dst);
    if (s == QW_OK) s = qw_safetensors_write(qw_path_join(p, sizeof p, dst, "model.safetensors"), ts, n, meta, 1);
    if (s == QW_OK)
        s = copy_file(qw_path_join(p, sizeof p, src, "tokenizer.json"), qw_path_join(q, sizeof q, dst, "tokenizer.json"));
    free(owned);
    free(ts);
    qw_safetensors_close(&st);
    return s;
}

static qw_model *load(const char *dir) {
    qw_model *m = NULL;
    qw_status s = qw_model_load(&m, dir);
    CHECKF(s == QW_OK, "%s: %s", dir, qw_error_message());
    return m;
}

static int32_t *encode(const qw_model *m, const char *text, size_t *n) {
    int32_t *ids = NULL;
    CHECK(qw_tok_encode(m->tok, text, strlen(text), 0, &ids, n) == QW_OK);
    return ids;
}

static qw_ppl_params ppl_params(int ctx, int stride, int n_batch) {
    qw_ppl_params p = {.ctx = ctx, .stride = stride, .run = {n_batch, g_nth}};
    return p;
}

// ---------------------------------------------------------------------------------------------------

static void test_uniform(void) {
    qw_model *m = load(path("zero"));
    if (!m) return;
    size_t n;
    int32_t *ids = encode(m, g_text, &n);
    qw_ppl_params p = ppl_params(32, 16, 64);
    qw_ppl_result r;
    CHECKF(qw_eval_perplexity(m, ids, (int64_t)n, &p, NULL, &r) == QW_OK, "%s", qw_error_message());
    printf("zero lm_head: %lld tokens scored, PPL %.6f (vocab %d)\n", (long long)r.n_scored, r.ppl, m->config.vocab_size);
    CHECK(r.n_scored == (int64_t)n - 1);
    CHECK_NEAR(r.ppl / m->config.vocab_size, 1.0, 1e-9);
    CHECK_NEAR(r.nll_mean, log((double)m->config.vocab_size), 1e-9);
    CHECK(r.nll_stderr < 1e-12 && r.ppl_stderr < 1e-6);
    free(ids);
    qw_model_free(m);
}

// The windows against a plain reading: each window prefilled on its own through a session, every scored
// position's NLL summed in double. Then the same run with one window per batch and several per batch.
static void test_windows_match_prefill(qw_model *m) {
    size_t n;
    int32_t *ids = encode(m, g_text, &n);
    int ctx = 40, stride = 24;
    qw_eval_window *w;
    int nw;
    CHECK(qw_eval_plan_windows((int64_t)n, ctx, stride, 0, &w, &nw) == QW_OK);
    qw_session ses;
    CHECK(qw_session_init(&ses, m, ctx, ctx, g_nth) == QW_OK);
    int V = m->config.vocab_size;
    float *all = malloc(sizeof(float) * (size_t)ctx * (size_t)V);
    double sum = 0;
    int64_t cnt = 0;
    for (int i = 0; i < nw; i++) {
        int len = (int)(w[i].end - w[i].begin);
        qw_session_reset(&ses);
        CHECK(qw_session_prefill(&ses, ids + w[i].begin, len, all) == QW_OK);
        for (int64_t t = w[i].score_from; t < w[i].end; t++) {
            const float *z = all + (size_t)(t - 1 - w[i].begin) * V;
            double mx = z[0], s = 0;
            for (int k = 1; k < V; k++) mx = z[k] > mx ? z[k] : mx;
            for (int k = 0; k < V; k++) s += exp((double)z[k] - mx);
            sum += mx + log(s) - z[ids[t]];
            cnt++;
        }
    }
    qw_ppl_result a, b;
    qw_ppl_params p1 = ppl_params(ctx, stride, ctx), p2 = ppl_params(ctx, stride, 256);
    CHECK(qw_eval_perplexity(m, ids, (int64_t)n, &p1, NULL, &a) == QW_OK);
    CHECK(qw_eval_perplexity(m, ids, (int64_t)n, &p2, NULL, &b) == QW_OK);
    printf("windows: %d of ctx %d stride %d over %zu tokens; mean NLL %.9f (prefill) %.9f (1/batch) %.9f (packed)\n",
           nw, ctx, stride, n, sum / cnt, a.nll_mean, b.nll_mean);
    CHECK(a.n_scored == cnt && a.n_windows == nw && b.n_scored == cnt);
    CHECK_NEAR(a.nll_mean, sum / cnt, 1e-5);
    CHECK_NEAR(b.nll_mean, a.nll_mean, 1e-6);
    CHECK(a.nll_stderr > 0);
    free(all);
    free(w);
    free(ids);
    qw_session_free(&ses);
}

static void test_kld(qw_model *m) {
    qw_model *pert = load(path("perturbed"));
    if (!pert) return;
    size_t n;
    int32_t *ids = encode(m, g_text, &n);
    qw_ppl_params p = ppl_params(48, 32, 96);
    qw_ppl_result self, live, u16, f32, lim;

    p.ref_model = m;
    CHECK(qw_eval_perplexity(m, ids, (int64_t)n, &p, NULL, &self) == QW_OK);
    CHECK(self.has_ref && self.kld_mean == 0 && self.kld_max == 0 && self.top1 == self.n_scored);
    CHECKF(self.top5 == self.n_scored && self.delta_p_mean == 0 && self.ppl_ratio == 1.0, "%lld %g %.17g",
           (long long)self.top5, self.delta_p_mean, self.ppl_ratio);
    CHECK(self.top1_ci.hi == 1 && self.top1_ci.lo > 0.95);

    // save the base model's log-probs both ways while measuring it
    p.ref_model = NULL;
    p.save_path = path("base.u16");
    p.save_encoding = QW_LOGITS_U16;
    CHECKF(qw_eval_perplexity(m, ids, (int64_t)n, &p, NULL, &self) == QW_OK, "%s", qw_error_message());
    p.save_path = path("base.f32");
    p.save_encoding = QW_LOGITS_F32;
    CHECK(qw_eval_perplexity(m, ids, (int64_t)n, &p, NULL, &self) == QW_OK);
    p.save_path = NULL;

    p.ref_model = m;
    CHECK(qw_eval_perplexity(pert, ids, (int64_t)n, &p, NULL, &live) == QW_OK);
    printf("perturbed vs base (live): KLD %.6g ± %.2g, median %.6g, p99 %.6g, max %.6g, top1 %.4f, top5 %.4f, "
           "|dp| %.3g, PPL %.2f vs %.2f\n", live.kld_mean, live.kld_stderr, live.kld_median, live.kld_p99,
           live.kld_max, live.top1_agree, live.top5_agree, live.delta_p_mean, live.ppl, live.ref_ppl);
    CHECK(live.kld_mean > 1e-4 && live.kld_stderr > 0);
    CHECK(live.kld_median <= live.kld_p99 && live.kld_p99 <= live.kld_p999 && live.kld_p999 <= live.kld_max);
    CHECK(live.delta_p_mean > 0 && live.top5_agree >= live.top1_agree);
    CHECK_NEAR(live.ref_ppl, self.ppl, 1e-9 * self.ppl);

    qw_logits_reader rf;
    p.ref_model = NULL;
    CHECKF(qw_logits_reader_open(&rf, path("base.f32")) == QW_OK, "%s", qw_error_message());
    p.ref_file = &rf;
    CHECK(qw_eval_perplexity(pert, ids, (int64_t)n, &p, NULL, &f32) == QW_OK);
    qw_logits_reader_close(&rf);
    CHECK(qw_logits_reader_open(&rf, path("base.u16")) == QW_OK);
    CHECK(qw_eval_perplexity(pert, ids, (int64_t)n, &p, NULL, &u16) == QW_OK);
    printf("from saved logits: KLD %.9g (f32 file) %.9g (16-bit file) vs %.9g live\n", f32.kld_mean, u16.kld_mean,
           live.kld_mean);
    CHECK(f32.kld_mean == live.kld_mean && f32.kld_max == live.kld_max && f32.top1 == live.top1);
    CHECK_NEAR(f32.ref_ppl, live.ref_ppl, 1e-6 * live.ref_ppl);
    CHECK_NEAR(u16.kld_mean, live.kld_mean, 1e-3 * live.kld_mean);
    CHECK_NEAR(u16.kld_p99, live.kld_p99, 1e-3 * live.kld_p99);
    CHECK(u16.top1 == live.top1 && u16.top5 == live.top5);
    CHECK_NEAR(u16.ref_ppl, live.ref_ppl, 1e-6 * live.ref_ppl);
    CHECK_NEAR(u16.delta_p_mean, live.delta_p_mean, 1e-2 * live.delta_p_mean);
    // a run limited to fewer windows than the file holds reads the same rows
    p.limit = 2;
    CHECK(qw_eval_perplexity(pert, ids, (int64_t)n, &p, NULL, &lim) == QW_OK && lim.n_windows == 2);
    p.limit = 0;

    // refusals: another window layout, another text, another vocabulary
    qw_ppl_params bad = p;
    bad.stride = 16;
    CHECK(qw_eval_perplexity(pert, ids, (int64_t)n, &bad, NULL, &lim) == QW_ERR_ARG);
    CHECKF(strstr(qw_error_message(), "saved with --ctx 48 --stride 32; this run uses --ctx 48 --stride 16"), "%s",
           qw_error_message());
    ids[5] ^= 1;
    CHECK(qw_eval_perplexity(pert, ids, (int64_t)n, &p, NULL, &lim) == QW_ERR_ARG);
    CHECKF(strstr(qw_error_message(), "token 5 is"), "%s", qw_error_message());
    ids[5] ^= 1;
    CHECK(qw_eval_perplexity(pert, ids, (int64_t)n - 1, &p, NULL, &lim) == QW_ERR_ARG);
    CHECKF(strstr(qw_error_message(), "a different text or tokenizer"), "%s", qw_error_message());
    qw_logits_reader_close(&rf);

    // damaged files
    char *buf;
    size_t len;
    CHECK(qw_file_read_all(path("base.u16"), (size_t)1 << 30, &buf, &len) == QW_OK);
    CHECK(qw_write_file_atomic(path("cut.u16"), buf, len - 7) == QW_OK);
    CHECK(qw_logits_reader_open(&rf, path("cut.u16")) == QW_ERR_FORMAT);
    CHECKF(strstr(qw_error_message(), "truncated or corrupt"), "%s", qw_error_message());
    buf[16] = 7; // vocab 7: the rows no longer add up either way
    CHECK(qw_write_file_atomic(path("bad.u16"), buf, len) == QW_OK);
    CHECK(qw_logits_reader_open(&rf, path("bad.u16")) == QW_ERR_FORMAT);
    CHECK(qw_logits_file_is(path("bad.u16")) && !qw_logits_file_is(path("zero/config.json")));
    CHECK(qw_logits_reader_open(&rf, path("zero/config.json")) == QW_ERR_FORMAT);
    CHECKF(strstr(qw_error_message(), "not a qwick logits file"), "%s", qw_error_message());
    free(buf);
    free(ids);
    qw_model_free(pert);
}

// ---------------------------------------------------------------------------------------------------

// tol_abs bounds |ll - PyTorch's| per choice, tol_tok the same per scored token (the bf16 path rounds
// activations, so its error grows with the tokens summed).
static void check_mc_mode(qw_model *m, const char *mode, const cJSON *rows, int raw, double tol_abs, double tol_tok) {
    char *text;
    size_t len;
    CHECK(qw_file_read_all("tests/data/eval_mc.jsonl", 1 << 20, &text, &len) == QW_OK);
    if (raw) { // the raw reference skips 'messages' items: blank their lines, keeping line numbers
        for (char *l = text; (l = strstr(l, "\"messages\"")) != NULL;) {
            char *b = l;
            while (b > text && b[-1] != '\n') b--;
            while (*b && *b != '\n') *b++ = ' ';
            l = b;
        }
    }
    qw_task t;
    CHECKF(qw_task_parse(&t, text, len, "eval_mc.jsonl", 0) == QW_OK, "%s", qw_error_message());
    qw_task_params p = {.raw = raw, .ctx_limit = 4096, .run = {64, g_nth}};
    qw_task_result r;
    qw_status s = qw_eval_multiple_choice(m, &t, &p, NULL, &r);
    CHECKF(s == QW_OK, "%s", qw_error_message());
    CHECK(cJSON_GetArraySize(rows) == t.n_items);
    double worst = 0, worst_tok = 0;
    int i = 0, right = 0, right_norm = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        if (s != QW_OK || i >= t.n_items) break;
        CHECK(cJSON_GetObjectItem(row, "line")->valueint == t.items[i].line);
        const cJSON *ll = cJSON_GetObjectItem(row, "ll"), *nt = cJSON_GetObjectItem(row, "n_tokens");
        CHECK(cJSON_GetArraySize(ll) == t.items[i].n_choices);
        for (int j = 0; j < t.items[i].n_choices && j < cJSON_GetArraySize(ll); j++) {
            double want = cJSON_GetArrayItem(ll, j)->valuedouble, got = r.choice_ll[r.choice_off[i] + j];
            int nt_j = r.choice_ntok[r.choice_off[i] + j];
            worst = fabs(got - want) > worst ? fabs(got - want) : worst;
            if (nt_j > 0 && fabs(got - want) / nt_j > worst_tok) worst_tok = fabs(got - want) / nt_j;
            CHECKF(r.choice_ntok[r.choice_off[i] + j] == cJSON_GetArrayItem(nt, j)->valueint, "line %d choice %d",
                   t.items[i].line, j);
        }
        CHECK(r.correct[i] == cJSON_IsTrue(cJSON_GetObjectItem(row, "acc")));
        CHECK(r.correct_norm[i] == cJSON_IsTrue(cJSON_GetObjectItem(row, "acc_norm")));
        right += cJSON_IsTrue(cJSON_GetObjectItem(row, "acc"));
        right_norm += cJSON_IsTrue(cJSON_GetObjectItem(row, "acc_norm"));
        i++;
    }
    printf("multiple choice (%s, %s): %d items, worst |log-likelihood - PyTorch| %.2e (%.2e per token), acc %.3f, "
           "acc_norm %.3f\n", mode, qw_cpu_describe(), t.n_items, worst, worst_tok, r.acc, r.acc_norm);
    CHECK(worst <= tol_abs && worst_tok <= tol_tok);
    CHECK(r.n_correct == right && r.n_correct_norm == right_norm);
    if (s == QW_OK) qw_task_result_free(&r);
    qw_task_free(&t);
    free(text);
}

static void test_mc_vs_torch(void) {
    qw_model *m = load(path("tiny"));
    char *txt;
    if (!m || qw_file_read_all("tests/data/eval_mc_expected.json", 1 << 22, &txt, NULL) != QW_OK) {
        CHECK(!"model or expected file missing");
        qw_model_free(m);
        return;
    }
    cJSON *j = cJSON_Parse(txt);
    const cJSON *modes = cJSON_GetObjectItem(j, "modes");
    // The reference computes in f32 from the bf16 weights; so does qwick below the AVX512-BF16 level, where
    // the sums must agree to 1e-3. At the machine's own level (bf16 activations in batched matmuls where the
    // CPU has AVX512-BF16) the error per token stays at the bf16 scale.
    int level = qw_cpu_level();
    qw_cpu_set_level(level < QW_ISA_AVX512 ? level : QW_ISA_AVX512);
    check_mc_mode(m, "chat", cJSON_GetObjectItem(modes, "chat"), 0, 1e-3, 1e-3);
    check_mc_mode(m, "raw", cJSON_GetObjectItem(modes, "raw"), 1, 1e-3, 1e-3);
    qw_cpu_set_level(level);
    check_mc_mode(m, "chat", cJSON_GetObjectItem(modes, "chat"), 0, 1e-2, 2e-3);
    check_mc_mode(m, "raw", cJSON_GetObjectItem(modes, "raw"), 1, 1e-2, 2e-3);
    cJSON_Delete(j);
    free(txt);

    // too long for the context: the item's line is named
    const char *mc = "{\"prompt\": \"a b c d e f g h\", \"choices\": [\" x\", \" y z\"], \"label\": 0}";
    qw_task t;
    CHECK(qw_task_parse(&t, mc, strlen(mc), "long.jsonl", 0) == QW_OK);
    qw_task_params p = {.raw = 1, .ctx_limit = 9, .run = {64, g_nth}};
    qw_task_result r;
    CHECK(qw_eval_multiple_choice(m, &t, &p, NULL, &r) == QW_ERR_FORMAT);
    CHECKF(strstr(qw_error_message(), "long.jsonl:1: choice 1: prompt and choice are 10 tokens, past the context of 9"),
           "%s", qw_error_message());
    qw_task_free(&t);
    qw_model_free(m);
}

// ---------------------------------------------------------------------------------------------------

typedef struct {
    int32_t ids[64];
    int n;
} collected;

static int collect(void *ctx, int32_t tok) {
    collected *c = ctx;
    if (c->n < 64) c->ids[c->n++] = tok;
    return 0;
}

// What one sequence generates greedily through the ordinary session path, decoded.
static char *greedy_alone(qw_model *m, const qw_task_item *it, const qw_task_params *tp) {
    char *text = NULL, *out = NULL;
    int32_t *ids = NULL;
    size_t n = 0, len;
    CHECK(qw_task_prompt_text(it, tp, &text) == QW_OK && qw_task_encode(m, text, &ids, &n) == QW_OK);
    qw_session ses;
    qw_sampler smp;
    qw_sampler_params sp = qw_sampler_defaults();
    sp.temperature = 0, sp.repeat_penalty = 1;
    CHECK(qw_session_init(&ses, m, 256, 64, g_nth) == QW_OK && qw_sampler_init(&smp, &sp, m->config.vocab_size) == QW_OK);
    CHECK(qw_session_set_tokens(&ses, ids, (int)n) == QW_OK);
    int32_t stop[16];
    int n_stop = qw_model_stop_tokens(m, stop, 16), got;
    collected c = {.n = 0};
    CHECK(qw_generate(&ses, &smp, tp->max_new, stop, n_stop, collect, &c, &got) == QW_OK);
    CHECK(qw_tok_decode(m->tok, c.ids, (size_t)c.n, 1, &out, &len) == QW_OK);
    qw_sampler_free(&smp);
    qw_session_free(&ses);
    free(text), free(ids);
    return out;
}

// JSON string literal of s (quotes included) into buf.
static void json_str(char *buf, size_t cap, const char *s) {
    cJSON *j = cJSON_CreateString(s);
    char *t = cJSON_PrintUnformatted(j);
    snprintf(buf, cap, "%s", t);
    free(t);
    cJSON_Delete(j);
}

static void check_generative(qw_model *m, int raw, const char *const *prompts, int n_prompts) {
    enum { MAX_ITEMS = 16 };
    qw_task_params tp = {.raw = raw, .max_new = 4, .n_parallel = 3, .ctx_limit = 256, .run = {8, g_nth}};
    char *expect[MAX_ITEMS], jsonl[8192] = "";
    for (int i = 0; i < n_prompts; i++) {
        qw_task_item it = {.prompt = (char *)prompts[i]};
        expect[i] = greedy_alone(m, &it, &tp);
        char p[256], a[512];
        json_str(p, sizeof p, prompts[i]);
        json_str(a, sizeof a, i % 2 == 0 ? expect[i] : "certainly not this");
        size_t l = strlen(jsonl);
        snprintf(jsonl + l, sizeof jsonl - l, "{\"prompt\": %s, \"answer\": %s}\n", p, a);
    }
    qw_task t;
    CHECK(qw_task_parse(&t, jsonl, strlen(jsonl), "gen.jsonl", 0) == QW_OK);
    static const char *const specs[] = {"exact", "contains", "regex:(?s)^(.*)$"};
    for (int k = 0; k < 3; k++) {
        qw_matcher mt;
        CHECK(qw_matcher_init(&mt, specs[k]) == QW_OK);
        qw_task_result r;
        qw_status s = qw_eval_generative(m, &t, &mt, &tp, NULL, &r);
        CHECKF(s == QW_OK, "%s", qw_error_message());
        for (int i = 0; s == QW_OK && i < n_prompts; i++) {
            CHECKF(strcmp(r.outputs[i], expect[i]) == 0, "%s item %d: batched \"%s\", alone \"%s\"", raw ? "raw" : "chat",
                   i, r.outputs[i], expect[i]);
            CHECKF(r.correct[i] == (i % 2 == 0), "%s %s item %d (\"%s\")", raw ? "raw" : "chat", specs[k], i, expect[i]);
        }
        if (s == QW_OK) {
            CHECK(r.n_correct == (n_prompts + 1) / 2);
            if (k == 0)
                printf("generative (%s): %d items, e.g. \"%s\" -> \"%s\"\n", raw ? "raw" : "chat", n_prompts, prompts[0],
                       r.outputs[0]);
            qw_task_result_free(&r);
        }
        qw_matcher_free(&mt);
    }
    for (int i = 0; i < n_prompts; i++) free(expect[i]);
    qw_task_free(&t);
}

static void test_generative(void) {
    qw_model *m = load(path("tiny32"));
    if (!m) return;
    static const char *const raw[] = {"The answer is blue", "Hello world", "one two three four", "Paris is in France",
                                      "你好，世界", "x", "The capital of Italy is Rome. The capital of Spain is"};
    check_generative(m, 1, raw, 7);
    static const char *const chat[] = {"What is 2+2?", "Name a color.", "Say hi"};
    check_generative(m, 0, chat, 3);

    const char *g = "{\"prompt\": \"a b c d e f g h i j\", \"answer\": \"x\"}";
    qw_task t;
    CHECK(qw_task_parse(&t, g, strlen(g), "long.jsonl", 0) == QW_OK);
    qw_task_params tp = {.raw = 1, .max_new = 4, .n_parallel = 2, .ctx_limit = 10, .run = {8, g_nth}};
    qw_matcher mt;
    CHECK(qw_matcher_init(&mt, "exact") == QW_OK);
    qw_task_result r;
    CHECK(qw_eval_generative(m, &t, &mt, &tp, NULL, &r) == QW_ERR_FORMAT);
    CHECKF(strstr(qw_error_message(), "long.jsonl:1: prompt of 10 tokens leaves no room"), "%s", qw_error_message());
    qw_matcher_free(&mt);
    qw_task_free(&t);
    qw_model_free(m);
}

int main(void) {
    g_nth = qw_threads_default();
    snprintf(g_tmp, sizeof g_tmp, "/tmp/qwick_test_eval_XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    char a[1024];
    snprintf(a, sizeof a, "init --shape tiny --seed 1 -o %s", path("tiny"));
    CHECK(qwick(a) == 0);
    snprintf(a, sizeof a, "init --shape tiny --seed 1 --dtype f32 -o %s", path("tiny32"));
    CHECK(qwick(a) == 0);
    CHECKF(write_variant(path("tiny"), path("zero"), ZERO_HEAD) == QW_OK, "%s", qw_error_message());
    CHECKF(write_variant(path("tiny"), path("perturbed"), PERTURB) == QW_OK, "%s", qw_error_message());

    test_uniform();
    qw_model *m = load(path("tiny"));
    if (m) {
        test_windows_match_prefill(m);
        test_kld(m);
        qw_model_free(m);
    }
    test_mc_vs_torch();
    test_generative();

    snprintf(a, sizeof a, "rm -rf %s", g_tmp);
    if (system(a) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    TEST_DONE();
}
