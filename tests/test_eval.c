// tests/test_eval: the parts of qwick eval that need no model: intervals and tests against hand-computed
// values, answer normalisation and matching, the JSONL task parser (every refusal names FILE:LINE), windows.
#include "eval/eval.h"
#include "test.h"

// ---------------------------------------------------------------------------------------------------

static void test_stats(void) {
    // Wilson 95%: the published values for 0/10 and 1/10, and z^2-formula values for 8/10 and 50/100
    qw_interval w = qw_eval_wilson(0, 10, QW_Z95);
    CHECK_NEAR(w.lo, 0, 1e-12);
    CHECK_NEAR(w.hi, 0.2775327998628892, 1e-9);
    w = qw_eval_wilson(1, 10, QW_Z95);
    CHECK_NEAR(w.lo, 0.017876213095072868, 1e-9);
    CHECK_NEAR(w.hi, 0.4041500267952385, 1e-9);
    w = qw_eval_wilson(8, 10, QW_Z95);
    CHECK_NEAR(w.lo, 0.4901624715366418, 1e-9);
    CHECK_NEAR(w.hi, 0.9433178485456248, 1e-9);
    w = qw_eval_wilson(50, 100, QW_Z95);
    CHECK_NEAR(w.lo, 0.4038315303659956, 1e-9);
    CHECK_NEAR(w.hi, 0.5961684696340044, 1e-9);
    w = qw_eval_wilson(10, 10, QW_Z95);
    CHECK(w.hi == 1.0 && w.lo > 0.69 && w.lo < 0.73);
    w = qw_eval_wilson(0, 0, QW_Z95);
    CHECK(w.lo == 0 && w.hi == 1);

    // exact McNemar: 2 * P(X <= min(b, c)), X ~ Bin(b + c, 1/2)
    CHECK_NEAR(qw_eval_mcnemar_p(1, 6), 2.0 * (1 + 7) / 128, 1e-12);   // 0.125
    CHECK_NEAR(qw_eval_mcnemar_p(6, 1), 0.125, 1e-12);                  // symmetric
    CHECK_NEAR(qw_eval_mcnemar_p(0, 10), 2.0 / 1024, 1e-12);
    CHECK_NEAR(qw_eval_mcnemar_p(8, 22), 0.016124801710247993, 1e-10);
    CHECK(qw_eval_mcnemar_p(0, 0) == 1.0);
    CHECK(qw_eval_mcnemar_p(5, 5) == 1.0); // capped, never above 1
    CHECK(qw_eval_mcnemar_p(0, 2000) < 1e-300 || qw_eval_mcnemar_p(0, 2000) == 0); // large n: no overflow

    // Tango's score interval: Fagerland, Lydersen & Laake (2014)'s airway example (a, b, c, d) = (1, 1, 7, 12)
    // has -0.517 to -0.026; more values from the same formula solved in Python
    qw_interval d = qw_eval_paired_diff_ci(1, 7, 21, QW_Z95);
    CHECK_NEAR(d.lo, -0.5172322764213774, 1e-9);
    CHECK_NEAR(d.hi, -0.026003032480868604, 1e-9);
    d = qw_eval_paired_diff_ci(10, 3, 60, QW_Z95);
    CHECK_NEAR(d.lo, -0.0012572205510084605, 1e-9);
    CHECK_NEAR(d.hi, 0.24177279040677668, 1e-9);
    d = qw_eval_paired_diff_ci(0, 0, 10, QW_Z95); // nobody disagrees: Wilson's 0/10 bound on each side
    CHECK_NEAR(d.lo, -0.2775327998628892, 1e-9);
    CHECK_NEAR(d.hi, 0.2775327998628892, 1e-9);
    d = qw_eval_paired_diff_ci(10, 0, 10, QW_Z95); // all disagree one way: T = sqrt(10 (1-Δ)/(1+Δ)) = z
    double g = QW_Z95 * QW_Z95 / 10;
    CHECK_NEAR(d.lo, (1 - g) / (1 + g), 1e-9);
    CHECK(d.hi == 1);

    uint8_t mine[10] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 1}, ref[10] = {1, 1, 1, 0, 0, 0, 0, 0, 1, 1};
    qw_paired p = qw_eval_paired(mine, ref, 10);
    CHECK(p.only_model == 3 && p.only_ref == 1 && p.n_discordant == 4);
    CHECK_NEAR(p.ref_acc, 0.5, 1e-12);
    CHECK_NEAR(p.diff, 0.2, 1e-12);
    CHECK_NEAR(p.p_value, 2.0 * (1 + 4) / 16, 1e-12); // 0.625

    double x[5] = {1, 2, 3, 4, 10}, mean, se;
    qw_eval_mean_stderr(x, 5, &mean, &se);
    CHECK_NEAR(mean, 4, 1e-12);
    CHECK_NEAR(se, sqrt(50.0 / 4 / 5), 1e-12); // sum of squared deviations 9+4+1+0+36 = 50
    CHECK_NEAR(qw_eval_quantile(x, 5, 0.5), 3, 1e-12);
    CHECK_NEAR(qw_eval_quantile(x, 5, 0.99), 4 + 0.96 * 6, 1e-12); // numpy: pos 3.96
    CHECK_NEAR(qw_eval_quantile(x, 5, 1.0), 10, 1e-12);

    float z[4] = {0, 0, 0, 0};
    int32_t am;
    CHECK_NEAR(qw_eval_logsumexp(z, 4, &am), log(4.0), 1e-12);
    float z2[3] = {1000, 1001, -1e30f};
    CHECK_NEAR(qw_eval_logsumexp(z2, 3, &am), 1001 + log1p(exp(-1.0)), 1e-4);
    CHECK(am == 1);
}

// ---------------------------------------------------------------------------------------------------

static void check_norm(const char *in, const char *want) {
    char *o = qw_eval_normalize(in);
    CHECKF(o && strcmp(o, want) == 0, "normalize(\"%s\") = \"%s\", want \"%s\"", in, o ? o : "(null)", want);
    free(o);
}

static int match(const char *spec, const char *out, const char *ans) {
    qw_matcher mt;
    if (qw_matcher_init(&mt, spec) != QW_OK) return -1;
    int r = qw_matcher_test(&mt, out, ans);
    qw_matcher_free(&mt);
    return r;
}

static void test_match(void) {
    check_norm("  Paris. ", "paris");
    check_norm("\"The  Answer\tIS\n42!\"", "the answer is 42");
    check_norm("(B)", "b");
    check_norm("-5", "-5");
    check_norm("50%", "50%");
    check_norm("「北京」。", "北京");
    check_norm("ÉCOLE", "école");
    check_norm("Straße", "strasse"); // case folding, not just lower-casing
    check_norm("...", "");
    check_norm("", "");
    check_norm("a\xff" "b", "a\xef\xbf\xbd" "b"); // an invalid byte becomes U+FFFD, no crash

    CHECK(match("exact", "Paris.", "paris") == 1);
    CHECK(match("exact", "Paris is the capital", "paris") == 0);
    CHECK(match("contains", "I think it is Paris, France.", "Paris") == 1);
    CHECK(match("contains", "London", "Paris") == 0);
    CHECK(match("regex:answer is (\\w+)", "so the answer is Blue because", "blue") == 1);
    CHECK(match("regex:answer is (\\w+)", "so the answer is Red", "blue") == 0);
    CHECK(match("regex:answer is (\\w+)", "no answer here", "blue") == 0);
    CHECK(match("regex:\\d+", "there are 42 of them", "42") == 1); // no group: the whole match
    CHECK(match("regex:(x)?(\\d+)", "7", "7") == 1);            // group 1 did not take part: whole match
    CHECK(match("regex:([", "x", "x") == -1);                    // bad pattern refused at init
    qw_matcher mt;
    CHECK(qw_matcher_init(&mt, "fuzzy") == QW_ERR_ARG);
    CHECK(strstr(qw_error_message(), "exact, contains or regex") != NULL);
}

// ---------------------------------------------------------------------------------------------------

static qw_status parse(const char *text, qw_task *t) { return qw_task_parse(t, text, strlen(text), "t.jsonl", 0); }

static void expect_refusal(const char *text, const char *want) {
    qw_task t;
    qw_status s = parse(text, &t);
    const char *msg = qw_error_message();
    CHECKF(s == QW_ERR_FORMAT && strstr(msg, want) != NULL, "for %s: status %d, message \"%s\", want \"%s\"", text,
           (int)s, msg, want);
    CHECK(t.n_items == 0 && t.items == NULL); // nothing left behind
    qw_task_free(&t);
}

static void test_parse(void) {
    qw_task t;
    const char *gen = "{\"prompt\": \"Q1\", \"answer\": \"A1\", \"extra\": 5}\n"
                      "\n   \r\n"
                      "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"U\"},"
                      " {\"role\": \"assistant\", \"content\": \"A2\"}]}\r\n"
                      "{\"messages\": [{\"role\": \"user\", \"content\": \"U3\"}], \"answer\": \"A3\"}";
    CHECK(parse(gen, &t) == QW_OK);
    CHECK(t.kind == QW_TASK_GENERATIVE && t.n_items == 3);
    if (t.n_items == 3) {
        CHECK(strcmp(t.items[0].prompt, "Q1") == 0 && strcmp(t.items[0].answer, "A1") == 0 && t.items[0].line == 1);
        CHECK(t.items[1].line == 4 && !t.items[1].prompt && t.items[1].n_messages == 2);
        CHECK(strcmp(t.items[1].answer, "A2") == 0 && strcmp(t.items[1].messages[1].content, "U") == 0);
        CHECK(t.items[2].line == 5 && t.items[2].n_messages == 1 && strcmp(t.items[2].answer, "A3") == 0);
    }
    qw_task_free(&t);
    CHECK(qw_task_parse(&t, gen, strlen(gen), "t.jsonl", 2) == QW_OK && t.n_items == 2); // --limit
    qw_task_free(&t);

    const char *mc = "{\"prompt\": \"P\", \"choices\": [\"a\", \"b\", \"c\"], \"label\": 2}\n"
                     "{\"prompt\": \"P2\", \"choices\": [\"x\"], \"label\": 0.0}\n";
    CHECK(parse(mc, &t) == QW_OK);
    CHECK(t.kind == QW_TASK_MULTIPLE_CHOICE && t.n_items == 2);
    if (t.n_items == 2) CHECK(t.items[0].n_choices == 3 && t.items[0].label == 2 && strcmp(t.items[0].choices[2], "c") == 0);
    qw_task_free(&t);

    expect_refusal("", "t.jsonl: no items (the file is empty)");
    expect_refusal("\n  \n", "t.jsonl: no items (only blank lines)");
    expect_refusal("{\"prompt\": \"a\", \"answer\": \"b\"}\n{\"prompt\": \"a\", \"answer\": }\n", "t.jsonl:2: malformed JSON");
    expect_refusal("{\"prompt\": \"a\"", "t.jsonl:1: malformed JSON");
    expect_refusal("[1, 2]", "t.jsonl:1: expected a JSON object");
    expect_refusal("{\"prompt\": \"a\", \"answer\": \"b\"} {\"x\": 1}", "t.jsonl:1: text after the JSON object");
    expect_refusal("{\"answer\": \"b\"}", "t.jsonl:1: missing 'prompt' (or 'messages')");
    expect_refusal("{\"prompt\": \"a\"}", "t.jsonl:1: missing 'answer'");
    expect_refusal("{\"prompt\": 5, \"answer\": \"b\"}", "t.jsonl:1: 'prompt' must be a string");
    expect_refusal("{\"prompt\": \"a\", \"answer\": [\"b\"]}", "t.jsonl:1: 'answer' must be a string");
    expect_refusal("{\"prompt\": \"a\", \"messages\": [], \"answer\": \"b\"}", "not both");
    expect_refusal("{\"messages\": {\"role\": \"user\"}}", "'messages' must be an array");
    expect_refusal("{\"messages\": []}", "'messages' is empty");
    expect_refusal("{\"messages\": [{\"role\": \"user\", \"content\": 3}]}", "message 0 needs string 'role' and 'content'");
    expect_refusal("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}", "last message is not an assistant reply");
    expect_refusal("{\"messages\": [{\"role\": \"assistant\", \"content\": \"q\"}]}", "last message is not an assistant reply");
    expect_refusal("{\"prompt\": \"a\", \"choices\": [\"x\", \"y\"]}", "t.jsonl:1: missing 'label'");
    expect_refusal("{\"prompt\": \"a\", \"choices\": [\"x\", \"y\"], \"label\": 2}",
                   "t.jsonl:1: label 2 is out of range: 2 choices (0..1)");
    expect_refusal("{\"prompt\": \"a\", \"choices\": [\"x\", \"y\"], \"label\": -1}", "label -1 is out of range");
    expect_refusal("{\"prompt\": \"a\", \"choices\": [\"x\", \"y\"], \"label\": 0.5}", "'label' must be an integer");
    expect_refusal("{\"prompt\": \"a\", \"choices\": [\"x\", \"y\"], \"label\": 1e300}", "'label' must be an integer");
    expect_refusal("{\"prompt\": \"a\", \"choices\": [\"x\", \"y\"], \"label\": \"1\"}", "'label' must be an integer");
    expect_refusal("{\"prompt\": \"a\", \"choices\": [], \"label\": 0}", "t.jsonl:1: 'choices' is empty");
    expect_refusal("{\"prompt\": \"a\", \"choices\": \"xy\", \"label\": 0}", "'choices' must be an array of strings");
    expect_refusal("{\"prompt\": \"a\", \"choices\": [\"x\", 7], \"label\": 0}", "choice 1 is not a string");
    expect_refusal("{\"prompt\": \"a\", \"choices\": [\"x\", \"\"], \"label\": 0}", "choice 1 is empty");
    expect_refusal("{\"prompt\": \"a\", \"answer\": \"b\"}\n{\"prompt\": \"a\", \"choices\": [\"x\"], \"label\": 0}",
                   "t.jsonl:2: has 'choices' but earlier items are generative");
    expect_refusal("{\"prompt\": \"a\", \"choices\": [\"x\"], \"label\": 0}\n\n{\"prompt\": \"a\", \"answer\": \"b\"}",
                   "t.jsonl:3: has no 'choices' but earlier items are multiple choice");
    const char nul[] = "{\"prompt\": \"a\", \"answer\": \"b\"}\n{\"prompt\": \"a\0\"}";
    CHECK(qw_task_parse(&t, nul, sizeof nul - 1, "t.jsonl", 0) == QW_ERR_FORMAT);
    CHECK(strstr(qw_error_message(), "t.jsonl:2: contains a NUL byte") != NULL);
    qw_task_free(&t);
}

// ---------------------------------------------------------------------------------------------------

static void test_windows(void) {
    qw_eval_window *w;
    int n;
    // 10 tokens, ctx 4, stride 2: [0,4) scores 1..3, [2,6) scores 4..5, [4,8) 6..7, [6,10) 8..9
    CHECK(qw_eval_plan_windows(10, 4, 2, 0, &w, &n) == QW_OK && n == 4);
    if (n == 4) {
        CHECK(w[0].begin == 0 && w[0].end == 4 && w[0].score_from == 1);
        CHECK(w[1].begin == 2 && w[1].end == 6 && w[1].score_from == 4);
        CHECK(w[3].begin == 6 && w[3].end == 10 && w[3].score_from == 8);
    }
    free(w);
    // every token but the first scored exactly once, for many shapes; when windows do not overlap
    // (stride == ctx) each window's first token has no context and goes unscored, as in HF's guide
    int ok = 1;
    for (int64_t len = 2; len < 40; len++)
        for (int ctx = 2; ctx < 12; ctx++)
            for (int stride = 1; stride <= ctx; stride++) {
                if (qw_eval_plan_windows(len, ctx, stride, 0, &w, &n) != QW_OK) {
                    ok = 0;
                    continue;
                }
                int count[40] = {0};
                for (int i = 0; i < n; i++) {
                    ok &= w[i].end - w[i].begin <= ctx && w[i].score_from > w[i].begin && w[i].score_from < w[i].end;
                    for (int64_t k = w[i].score_from; k < w[i].end; k++) count[k]++;
                }
                ok &= count[0] == 0 && (w[n - 1].end == len || (stride == ctx && w[n - 1].end == len - 1));
                for (int64_t k = 1; k < len; k++) ok &= count[k] == (stride == ctx && k % ctx == 0 ? 0 : 1);
                free(w);
            }
    CHECK(ok);
    CHECK(qw_eval_plan_windows(100, 10, 5, 3, &w, &n) == QW_OK && n == 3); // --limit
    free(w);
    CHECK(qw_eval_plan_windows(1, 10, 5, 0, &w, &n) == QW_ERR_ARG);
    CHECK(strstr(qw_error_message(), "at least 2") != NULL);
    CHECK(qw_eval_plan_windows(100, 10, 11, 0, &w, &n) == QW_ERR_ARG);
    CHECK(qw_eval_plan_windows(100, 1, 1, 0, &w, &n) == QW_ERR_ARG);
}

// A u16 record decodes to within half a step of every log-prob, keeps the exact target and argmax.
static void test_logits_codec(void) {
    enum { V = 1000 };
    float z[V], lp[V], lpt;
    qw_rng r;
    qw_rng_seed(&r, 3);
    for (int i = 0; i < V; i++) z[i] = 3 * qw_rng_normal(&r);
    z[17] = 12;
    z[5] = -1e6f; // one absurd logit must not spoil the resolution of the others
    uint8_t rec[QW_LOGITS_RECORD_HEAD + 4 * V];
    double lse = qw_eval_logsumexp(z, V, NULL);
    for (int enc = 0; enc < 2; enc++) {
        int32_t top;
        qw_logits_encode_row(enc, V, z, 42, rec);
        qw_logits_decode_row(enc, V, rec, lp, &lpt, &top);
        CHECK(top == 17);
        CHECK_NEAR(lpt, z[42] - lse, 1e-5);
        double worst = 0;
        for (int i = 0; i < V; i++)
            if (i != 5 && fabs(lp[i] - (z[i] - lse)) > worst) worst = fabs(lp[i] - (z[i] - lse));
        CHECKF(worst <= (enc == QW_LOGITS_F32 ? 4e-6 : 64.0 / 65535), "encoding %d: worst error %g", enc, worst);
    }
}

int main(void) {
    test_stats();
    test_match();
    test_parse();
    test_windows();
    test_logits_codec();
    TEST_DONE();
}
