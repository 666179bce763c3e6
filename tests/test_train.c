// tests/test_train: every *_backward of src/train against central finite differences of its forward
// (loss = sum(out * r) accumulated in double, f32 forward at x +- h), the whole model's and LoRA's gradients
// the same way, the training forward against the inference forward on the exported model, bad data,
// and a resumed run that must give bit-identical losses.
#include "test.h"
#include "train/train.h"

#include <unistd.h>

static qw_rng g_rng;
static float urand(void) { return 2.0f * qw_rng_uniform(&g_rng) - 1.0f; }
static float *rand_vec(size_t n, float scale) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = scale * urand();
    return p;
}
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }
static double dot_d(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

// max |analytic - fd| / max |fd| over (up to max_checks evenly spread) elements of x
static double fd_check(const char *name, float *x, size_t n, const float *an, loss_fn f, void *ctx, float h,
                       size_t max_checks) {
    double maxdiff = 0, maxfd = 0;
    size_t stride = n > max_checks ? n / max_checks : 1;
    for (size_t i = 0; i < n; i += stride) {
        float s = x[i], xp = s + h, xm = s - h;
        x[i] = xp;
        double lp = f(ctx);
        x[i] = xm;
        double lm = f(ctx);
        x[i] = s;
        double fd = (lp - lm) / ((double)xp - (double)xm);
        double d = fabs(fd - an[i]);
        if (d > maxdiff) maxdiff = d;
        if (fabs(fd) > maxfd) maxfd = fabs(fd);
    }
    double rel = maxdiff / (maxfd + 1e-12);
    printf("  %-28s max|grad - fd| %.3e  max|fd| %.3e  rel %.2e\n", name, maxdiff, maxfd, rel);
    return rel;
}

#define FD_TOL 2e-3

// ---------------------------------------------------------------------------------------------------
// ops

typedef struct {
    int64_t BT, K, N;
    float *x, *w, *b, *out, *r;
} lin_ctx;
static double lin_loss(void *c) {
    lin_ctx *l = c;
    qw_linear_forward(l->out, l->x, l->w, l->b, l->BT, l->K, l->N, 2);
    return dot_d(l->out, l->r, (size_t)(l->BT * l->N));
}

static void test_linear(void) {
    lin_ctx l = {.BT = 5, .K = 7, .N = 6};
    l.x = rand_vec(35, 1);
    l.w = rand_vec(42, 1);
    l.b = rand_vec(6, 1);
    l.out = zeros(30);
    l.r = rand_vec(30, 1);
    float *dx = zeros(35), *dw = zeros(42), *db = zeros(6);
    qw_linear_backward(dx, dw, db, l.r, l.x, l.w, 5, 7, 6, 2);
    CHECK(fd_check("linear dinp", l.x, 35, dx, lin_loss, &l, 1e-2f, 1000) < FD_TOL);
    CHECK(fd_check("linear dweight", l.w, 42, dw, lin_loss, &l, 1e-2f, 1000) < FD_TOL);
    CHECK(fd_check("linear dbias", l.b, 6, db, lin_loss, &l, 1e-2f, 1000) < FD_TOL);
    free(l.x), free(l.w), free(l.b), free(l.out), free(l.r), free(dx), free(dw), free(db);
}

typedef struct {
    int64_t BT, C;
    float *x, *w, *out, *rstd, *r;
} rms_ctx;
static double rms_loss(void *c) {
    rms_ctx *l = c;
    qw_rmsnorm_forward(l->out, l->rstd, l->x, l->w, l->BT, l->C, 1e-6f);
    return dot_d(l->out, l->r, (size_t)(l->BT * l->C));
}

static void test_rmsnorm(void) {
    rms_ctx l = {.BT = 4, .C = 9};
    l.x = rand_vec(36, 1);
    l.w = rand_vec(9, 1);
    l.out = zeros(36);
    l.rstd = zeros(4);
    l.r = rand_vec(36, 1);
    rms_loss(&l);
    float *dx = zeros(36), *dw = zeros(9);
    qw_rmsnorm_backward(dx, dw, l.r, l.x, l.w, l.rstd, 4, 9);
    CHECK(fd_check("rmsnorm dinp", l.x, 36, dx, rms_loss, &l, 1e-3f, 1000) < FD_TOL);
    CHECK(fd_check("rmsnorm dweight", l.w, 9, dw, rms_loss, &l, 1e-3f, 1000) < FD_TOL);
    free(l.x), free(l.w), free(l.out), free(l.rstd), free(l.r), free(dx), free(dw);
}

typedef struct {
    int B, T, nh, hd;
    float *x, *y, *tab, *r;
} rope_ctx;
static double rope_loss(void *c) {
    rope_ctx *l = c;
    size_t n = (size_t)l->B * l->T * l->nh * l->hd;
    memcpy(l->y, l->x, n * sizeof(float));
    qw_rope_forward(l->y, l->tab, l->B, l->T, l->nh, l->hd);
    return dot_d(l->y, l->r, n);
}

static void test_rope(void) {
    rope_ctx l = {.B = 2, .T = 5, .nh = 3, .hd = 8};
    size_t n = 2 * 5 * 3 * 8;
    l.x = rand_vec(n, 1);
    l.y = zeros(n);
    l.tab = zeros(5 * 8);
    qw_rope_table(l.tab, 5, 8, 10000.0);
    l.r = rand_vec(n, 1);
    float *dx = malloc(n * sizeof(float));
    memcpy(dx, l.r, n * sizeof(float));
    qw_rope_backward(dx, l.tab, 2, 5, 3, 8);
    CHECK(fd_check("rope dinp", l.x, n, dx, rope_loss, &l, 1e-2f, 1000) < FD_TOL);
    free(l.x), free(l.y), free(l.tab), free(l.r), free(dx);
}

typedef struct {
    int B, T, nh, nkv, hd;
    float *q, *k, *v, *out, *probs, *r;
} attn_ctx;
static double attn_loss(void *c) {
    attn_ctx *l = c;
    qw_attention_forward(l->out, l->probs, l->q, l->k, l->v, l->B, l->T, l->nh, l->nkv, l->hd, 2);
    return dot_d(l->out, l->r, (size_t)l->B * l->T * l->nh * l->hd);
}

static void test_attention(void) {
    attn_ctx l = {.B = 2, .T = 6, .nh = 4, .nkv = 2, .hd = 8};
    size_t nq = 2 * 6 * 4 * 8, nk = 2 * 6 * 2 * 8;
    l.q = rand_vec(nq, 1);
    l.k = rand_vec(nk, 1);
    l.v = rand_vec(nk, 1);
    l.out = zeros(nq);
    l.probs = zeros(2 * 4 * 6 * 6);
    l.r = rand_vec(nq, 1);
    attn_loss(&l);
    float *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk);
    qw_attention_backward(dq, dk, dv, l.r, l.probs, l.q, l.k, l.v, 2, 6, 4, 2, 8, 2);
    CHECK(fd_check("attention dq", l.q, nq, dq, attn_loss, &l, 1e-2f, 1000) < FD_TOL);
    CHECK(fd_check("attention dk", l.k, nk, dk, attn_loss, &l, 1e-2f, 1000) < FD_TOL);
    CHECK(fd_check("attention dv", l.v, nk, dv, attn_loss, &l, 1e-2f, 1000) < FD_TOL);
    free(l.q), free(l.k), free(l.v), free(l.out), free(l.probs), free(l.r), free(dq), free(dk), free(dv);
}

typedef struct {
    int64_t n;
    float *g, *u, *out, *r;
} sw_ctx;
static double sw_loss(void *c) {
    sw_ctx *l = c;
    qw_swiglu_forward(l->out, l->g, l->u, l->n, 2);
    return dot_d(l->out, l->r, (size_t)l->n);
}

static void test_swiglu(void) {
    sw_ctx l = {.n = 40};
    l.g = rand_vec(40, 3);
    l.u = rand_vec(40, 1);
    l.out = zeros(40);
    l.r = rand_vec(40, 1);
    float *dg = zeros(40), *du = zeros(40);
    qw_swiglu_backward(dg, du, l.r, l.g, l.u, 40, 2);
    CHECK(fd_check("swiglu dgate", l.g, 40, dg, sw_loss, &l, 1e-2f, 1000) < FD_TOL);
    CHECK(fd_check("swiglu dup", l.u, 40, du, sw_loss, &l, 1e-2f, 1000) < FD_TOL);
    free(l.g), free(l.u), free(l.out), free(l.r), free(dg), free(du);
}

typedef struct {
    int64_t n, V;
    float *x, *work, *losses;
    int32_t *tg;
} ce_ctx;
static double ce_loss(void *c) {
    ce_ctx *l = c;
    memcpy(l->work, l->x, sizeof(float) * (size_t)(l->n * l->V));
    return 0.5 * qw_crossentropy_forward(l->work, l->losses, l->tg, l->n, l->V, 2);
}

static void test_crossentropy(void) {
    ce_ctx l = {.n = 3, .V = 11};
    l.x = rand_vec(33, 3);
    l.work = zeros(33);
    l.losses = zeros(3);
    int32_t tg[3] = {0, 5, 10};
    l.tg = tg;
    ce_loss(&l);
    qw_crossentropy_backward(l.work, tg, 0.5f, 3, 11, 2);
    float *dx = malloc(33 * sizeof(float));
    memcpy(dx, l.work, 33 * sizeof(float));
    CHECK(fd_check("crossentropy dlogits", l.x, 33, dx, ce_loss, &l, 1e-2f, 1000) < FD_TOL);
    // extreme logits: the loss stays finite and exact
    float big[3] = {0, 200, -200};
    float lo;
    int32_t t0 = 2;
    double L = qw_crossentropy_forward(big, &lo, &t0, 1, 3, 1);
    CHECK_NEAR(L, 400.0, 1e-3);
    free(l.x), free(l.work), free(l.losses), free(dx);
}

// ---------------------------------------------------------------------------------------------------
// whole model

static qw_config tiny_config(int tied) {
    qw_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.architecture, sizeof c.architecture, "Qwen2ForCausalLM");
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 4;
    c.vocab_size = 37;
    c.max_position_embeddings = 64;
    c.rope_theta = 10000.0;
    c.rms_norm_eps = 1e-6f;
    c.tie_word_embeddings = tied;
    c.dtype = QW_TYPE_F32;
    c.bos_token_id = -1;
    c.n_eos = 1;
    c.eos_ids[0] = 1;
    c.pad_token_id = -1;
    c.gen_temperature = 1;
    c.gen_top_k = 50;
    c.gen_top_p = 1;
    c.gen_repetition_penalty = 1;
    return c;
}

typedef struct {
    qw_tmodel *m;
    int32_t tok[12], tgt[12];
    uint8_t mask[12];
    int B, T;
} model_ctx;
static double model_loss(void *c) {
    model_ctx *x = c;
    int64_t n;
    double l = qw_tmodel_forward(x->m, x->tok, x->tgt, x->mask, x->B, x->T, &n);
    return l / (double)n;
}

static void fill_batch(model_ctx *x, int V) {
    x->B = 2;
    x->T = 6;
    for (int i = 0; i < 12; i++) {
        x->tok[i] = (int32_t)(qw_rng_u64(&g_rng) % (uint64_t)V);
        x->tgt[i] = (int32_t)(qw_rng_u64(&g_rng) % (uint64_t)V);
        x->mask[i] = i % 4 != 1; // some tokens do not count
    }
}

static void test_model_grads(int tied) {
    printf("model (%s):\n", tied ? "tied" : "untied");
    qw_config c = tiny_config(tied);
    qw_tmodel m;
    CHECK(qw_tmodel_init_random(&m, &c, 7) == QW_OK);
    for (size_t i = 0; i < m.n_params; i++) m.params_mem[i] += 0.05f * urand(); // norms and biases off 1 and 0
    for (size_t i = 0; i < m.n_params; i++) m.params_mem[i] *= 2.0f; // activations of a useful size
    CHECK(qw_tmodel_alloc(&m, 2, 6, 2) == QW_OK);
    model_ctx x = {.m = &m};
    fill_batch(&x, c.vocab_size);
    qw_tmodel_zero_grad(&m);
    int64_t n;
    double l = qw_tmodel_forward(&m, x.tok, x.tgt, x.mask, 2, 6, &n);
    qw_tmodel_backward(&m, 1.0f / (float)n);
    CHECK(n == 9 && isfinite(l));
    static const char *names[QW_TPARAMS_N] = {"wte", "ln1", "wq", "bq", "wk", "bk", "wv", "bv",
                                              "wo", "ln2", "wg", "wu", "wd", "lnf", "lm_head"};
    float *g = malloc(m.n_params * sizeof(float));
    memcpy(g, m.grads_mem, m.n_params * sizeof(float));
    size_t off = 0;
    for (int i = 0; i < QW_TPARAMS_N; i++) {
        if (m.sizes[i]) {
            char nm[64];
            snprintf(nm, sizeof nm, "model d%s", names[i]);
            CHECKF(fd_check(nm, m.params_mem + off, m.sizes[i], g + off, model_loss, &x, 1e-3f, 60) < 1e-2, "%s", nm);
        }
        off += m.sizes[i];
    }
    free(g);
    qw_tmodel_free(&m);
}

static void test_lora_grads(void) {
    printf("LoRA:\n");
    qw_config c = tiny_config(1);
    qw_tmodel m;
    CHECK(qw_tmodel_init_random(&m, &c, 9) == QW_OK);
    for (size_t i = 0; i < m.n_params; i++) m.params_mem[i] *= 2.0f;
    CHECK(qw_tmodel_add_lora(&m, 3, 6.0f, (1 << QW_LORA_N) - 1, 3) == QW_OK);
    for (size_t i = 0; i < m.n_lora; i++) m.lora_mem[i] = 0.2f * urand(); // B != 0, so A gets a gradient too
    CHECK(qw_tmodel_alloc(&m, 2, 6, 2) == QW_OK);
    CHECK(m.n_trainable == m.n_lora && m.grads_mem == NULL);
    model_ctx x = {.m = &m};
    fill_batch(&x, c.vocab_size);
    qw_tmodel_zero_grad(&m);
    int64_t n;
    qw_tmodel_forward(&m, x.tok, x.tgt, x.mask, 2, 6, &n);
    qw_tmodel_backward(&m, 1.0f / (float)n);
    float *g = malloc(m.n_lora * sizeof(float));
    memcpy(g, m.lora_grad_mem, m.n_lora * sizeof(float));
    CHECK(fd_check("lora dA, dB (all targets)", m.lora_mem, m.n_lora, g, model_loss, &x, 1e-3f, 400) < 1e-2);
    free(g);

    // export merges the adapters: the merged model's loss through the inference engine equals the LoRA model's
    char dir[] = "/tmp/qwick_test_lora_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK(qw_tmodel_export(&m, dir, QW_TYPE_F32, NULL) == QW_OK);
    double want = model_loss(&x);
    qw_model *im = NULL;
    CHECK(qw_model_load(&im, dir) == QW_OK);
    if (im) {
        qw_state st;
        qw_kv_cache kv;
        qw_batch b;
        CHECK(qw_state_init(&st, im, 6, 6, 2) == QW_OK);
        CHECK(qw_kv_cache_init(&kv, im, 1, 6) == QW_OK);
        CHECK(qw_batch_init(&b, 6) == QW_OK);
        float *logits = malloc(6 * 37 * sizeof(float));
        double sum = 0;
        int cnt = 0;
        for (int s = 0; s < 2; s++) {
            qw_batch_clear(&b);
            for (int t = 0; t < 6; t++) qw_batch_add(&b, x.tok[s * 6 + t], t, 0, 1);
            CHECK(qw_forward(im, &st, &kv, &b, logits) == QW_OK);
            for (int t = 0; t < 6; t++) {
                if (!x.mask[s * 6 + t]) continue;
                const float *z = logits + t * 37;
                double mx = -1e30, se = 0;
                for (int i = 0; i < 37; i++) mx = z[i] > mx ? z[i] : mx;
                for (int i = 0; i < 37; i++) se += exp(z[i] - mx);
                sum += log(se) + mx - z[x.tgt[s * 6 + t]];
                cnt++;
            }
        }
        printf("  exported merged model: loss %.7f, LoRA model %.7f\n", sum / cnt, want);
        CHECK(fabs(sum / cnt - want) < 1e-4 * fabs(want) + 1e-5);
        free(logits);
        qw_batch_free(&b);
        qw_kv_cache_free(&kv);
        qw_state_free(&st);
        qw_model_free(im);
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    qw_tmodel_free(&m);
}

// ---------------------------------------------------------------------------------------------------
// data

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_data(qw_tokenizer *tok) {
    char dir[] = "/tmp/qwick_test_data_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char p[512];
    qw_dataset d;
    snprintf(p, sizeof p, "%s/bad.jsonl", dir);
    write_file(p, "{\"prompt\": \"hi\", \"answer\": \"yes\"}\n{\"prompt\": \"oops\"\n");
    CHECK(qw_dataset_load(&d, tok, p, 64) == QW_ERR_FORMAT);
    CHECKF(strstr(qw_error_message(), "bad.jsonl:2: malformed JSON") != NULL, "%s", qw_error_message());
    write_file(p, "{\"prompt\": \"hi\", \"answer\": \"yes\"}\n\n{\"prompt\": \"no answer\"}\n");
    CHECK(qw_dataset_load(&d, tok, p, 64) == QW_ERR_FORMAT);
    CHECKF(strstr(qw_error_message(), "bad.jsonl:3: a prompt without an 'answer'") != NULL, "%s", qw_error_message());
    write_file(p, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n");
    CHECK(qw_dataset_load(&d, tok, p, 64) == QW_ERR_FORMAT);
    CHECKF(strstr(qw_error_message(), "bad.jsonl:1: no assistant answer") != NULL, "%s", qw_error_message());
    write_file(p, "");
    CHECK(qw_dataset_load(&d, tok, p, 64) == QW_ERR_FORMAT);
    CHECKF(strstr(qw_error_message(), "empty file") != NULL, "%s", qw_error_message());
    snprintf(p, sizeof p, "%s/empty.txt", dir);
    write_file(p, "");
    CHECK(qw_dataset_load(&d, tok, p, 64) == QW_ERR_FORMAT);
    CHECKF(strstr(qw_error_message(), "empty.txt: empty file") != NULL, "%s", qw_error_message());
    CHECK(qw_dataset_load(&d, tok, "/nonexistent/x.txt", 64) == QW_ERR_IO);

    // a long example is skipped and counted; answers (and their <|im_end|>) are the only targets
    snprintf(p, sizeof p, "%s/ok.jsonl", dir);
    char big[4096] = "{\"prompt\": \"";
    for (int i = 0; i < 300; i++) strcat(big, "word ");
    strcat(big, "\", \"answer\": \"x\"}\n");
    char text[8192];
    snprintf(text, sizeof text,
             "{\"prompt\": \"Which section?\", \"answer\": \"libs\"}\n%s"
             "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"a\"}, "
             "{\"role\": \"assistant\", \"content\": \"b\"}, {\"role\": \"user\", \"content\": \"c\"}, "
             "{\"role\": \"assistant\", \"content\": \"d e\"}]}\n",
             big);
    write_file(p, text);
    CHECK(qw_dataset_load(&d, tok, p, 64) == QW_OK);
    CHECK(d.n_seq == 2 && d.n_skipped_long == 1);
    if (d.n_seq == 2) {
        // the targets of example 0 decode to "libs<|im_end|>"
        int32_t ids[64];
        size_t n = 0;
        for (int64_t i = d.off[0]; i < d.off[1]; i++)
            if (d.mask[i]) ids[n++] = d.tok[i];
        char *s;
        size_t sl;
        CHECK(qw_tok_decode(tok, ids, n, 0, &s, &sl) == QW_OK);
        CHECKF(strcmp(s, "libs<|im_end|>") == 0, "%s", s);
        free(s);
        // and the whole example is the rendered chat
        CHECK(qw_tok_decode(tok, d.tok + d.off[0], (size_t)(d.off[1] - d.off[0]), 0, &s, &sl) == QW_OK);
        CHECKF(strstr(s, "<|im_start|>user\nWhich section?<|im_end|>\n<|im_start|>assistant\nlibs<|im_end|>") != NULL,
               "%s", s);
        free(s);
        n = 0;
        for (int64_t i = d.off[1]; i < d.off[2]; i++)
            if (d.mask[i]) ids[n++] = d.tok[i];
        CHECK(qw_tok_decode(tok, ids, n, 0, &s, &sl) == QW_OK);
        CHECKF(strcmp(s, "b<|im_end|>d e<|im_end|>") == 0, "%s", s);
        free(s);
        // a batch pads the shorter sequence with mask 0
        qw_data_order o = {.seed = 1, .shuffle = 0, .epoch_cached = -1};
        int32_t tk[2 * 64], tg[2 * 64];
        uint8_t mk[2 * 64];
        int T = qw_dataset_batch(&d, &o, 0, 2, tk, tg, mk);
        int64_t l0 = d.off[1] - d.off[0], l1 = d.off[2] - d.off[1];
        CHECK(T == (l0 > l1 ? l0 : l1) - 1);
        int cnt = 0;
        for (int i = 0; i < 2 * T; i++) cnt += mk[i];
        CHECK(cnt == (int)(n + 2));
        qw_data_order_free(&o);
    }
    qw_dataset_free(&d);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

// ---------------------------------------------------------------------------------------------------
// training runs: reproducible, resumable bit for bit, loss goes down

static qw_dataset synthetic_text(int V, int n_tok, int ctx) {
    qw_dataset d;
    memset(&d, 0, sizeof d);
    d.n_tok = n_tok;
    d.tok = malloc(sizeof(int32_t) * (size_t)n_tok);
    d.mask = malloc((size_t)n_tok);
    for (int i = 0; i < n_tok; i++) {
        d.tok[i] = (int32_t)((i * 7 + (i / 5) * 3) % V); // learnable pattern
        d.mask[i] = 1;
    }
    d.seq_len = ctx;
    d.n_seq = (n_tok - 1) / ctx;
    return d;
}

static void run_train(const qw_dataset *d, double *losses, int64_t stop_after, const char *ckdir, int resume) {
    qw_config c = tiny_config(1);
    qw_tmodel m;
    CHECK(qw_tmodel_init_random(&m, &c, 5) == QW_OK);
    qw_train_opts o;
    qw_train_opts_default(&o);
    o.batch = 2;
    o.accum = 2;
    o.ctx = 8;
    o.steps = 12;
    o.lr = 1e-2f;
    o.warmup = 2;
    o.n_threads = 2;
    o.quiet = 1;
    o.losses_out = losses;
    o.stop_after = stop_after;
    o.ckpt_dir = ckdir;
    o.ckpt_every = 1;
    o.resume = resume;
    CHECK(qw_train_run(&m, d, NULL, &o) == QW_OK);
    qw_tmodel_free(&m);
}

static void test_resume(void) {
    qw_dataset d = synthetic_text(37, 400, 8);
    double a[12] = {0}, b[12] = {0};
    run_train(&d, a, 0, NULL, 0);
    printf("losses:");
    for (int i = 0; i < 12; i++) printf(" %.4f", a[i]);
    printf("\n");
    CHECK(a[11] < a[0] - 0.3);
    char dir[] = "/tmp/qwick_test_ckpt_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    run_train(&d, b, 5, dir, 1); // "killed" after 5 steps
    char p[512], tmp[600];
    snprintf(p, sizeof p, "%s/checkpoint.bin", dir);
    // a half-written temp file from a killed save must not matter
    snprintf(tmp, sizeof tmp, "%s.tmp.999999", p);
    write_file(tmp, "garbage");
    run_train(&d, b, 0, dir, 1);
    int same = 1;
    for (int i = 0; i < 12; i++) same &= a[i] == b[i];
    CHECKF(same, "resumed losses differ from an uninterrupted run");
    // a damaged checkpoint is refused with a message
    FILE *f = fopen(p, "r+");
    CHECK(f && ftruncate(fileno(f), 1000) == 0);
    if (f) fclose(f);
    qw_config c = tiny_config(1);
    qw_tmodel m;
    qw_adamw o;
    qw_train_progress pr;
    CHECK(qw_tmodel_init_random(&m, &c, 5) == QW_OK);
    CHECK(qw_tmodel_alloc(&m, 1, 4, 1) == QW_OK);
    CHECK(qw_adamw_init(&o, &m, 0.9f, 0.95f, 1e-8f, 0.1f) == QW_OK);
    CHECK(qw_checkpoint_load(p, &m, &o, &pr) == QW_ERR_FORMAT);
    CHECKF(strstr(qw_error_message(), "truncated") != NULL, "%s", qw_error_message());
    qw_adamw_free(&o);
    qw_tmodel_free(&m);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    qw_dataset_free(&d);
}

static void test_schedule(void) {
    CHECK_NEAR(qw_lr_schedule(0, 10, 100, 1.0f, 0.1f), 0.1, 1e-6);
    CHECK_NEAR(qw_lr_schedule(9, 10, 100, 1.0f, 0.1f), 1.0, 1e-6);
    CHECK_NEAR(qw_lr_schedule(10, 10, 100, 1.0f, 0.1f), 1.0, 1e-6);
    CHECK_NEAR(qw_lr_schedule(55, 10, 100, 1.0f, 0.1f), 0.55, 1e-6);
    CHECK_NEAR(qw_lr_schedule(100, 10, 100, 1.0f, 0.1f), 0.1, 1e-6);
    CHECK(qw_lora_parse_targets("q,v") == ((1 << QW_LORA_Q) | (1 << QW_LORA_V)));
    CHECK(qw_lora_parse_targets("all") == 127);
    CHECK(qw_lora_parse_targets("q,x") == -1);
}

int main(void) {
    qw_rng_seed(&g_rng, 12345);
    printf("ops (central differences, h = 1e-2 or 1e-3):\n");
    test_linear();
    test_rmsnorm();
    test_rope();
    test_attention();
    test_swiglu();
    test_crossentropy();
    test_model_grads(1);
    test_model_grads(0);
    test_lora_grads();
    test_schedule();
    qw_tokenizer *tok = NULL;
    if (qw_tok_load(&tok, "models/tokenizer.json") == QW_OK) {
        test_data(tok);
        qw_tok_free(tok);
    } else {
        CHECKF(0, "models/tokenizer.json: %s", qw_error_message());
    }
    test_resume();
    TEST_DONE();
}
