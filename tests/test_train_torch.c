// tests/test_train_torch: qwick's training step against PyTorch autograd (scripts/train_ref.py wrote the
// fixtures in tests/train_fixtures/, or in $QWICK_TRAIN_FIXTURES): the loss and every parameter gradient
// (torch in float64) within 1e-4 relative per tensor, and the losses of ten AdamW steps (torch float32,
// accumulated micro-batches, clipping, warm-up + cosine) within 1e-4 relative.
#include "test.h"
#include "train/train.h"

#include <cjson/cJSON.h>

static const char *g_names[QW_TPARAMS_N] = {"model.embed_tokens.weight", "input_layernorm.weight",
                                            "self_attn.q_proj.weight", "self_attn.q_proj.bias",
                                            "self_attn.k_proj.weight", "self_attn.k_proj.bias",
                                            "self_attn.v_proj.weight", "self_attn.v_proj.bias",
                                            "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                                            "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
                                            "model.norm.weight", "lm_head.weight"};

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void run_case(const char *dir) {
    printf("%s\n", dir);
    char p[1200];
    char *meta_s;
    size_t ml;
    snprintf(p, sizeof p, "%s/meta.json", dir);
    if (qw_file_read_all(p, 1 << 20, &meta_s, &ml) != QW_OK) {
        CHECKF(0, "%s", qw_error_message());
        return;
    }
    cJSON *meta = cJSON_Parse(meta_s);
    free(meta_s);
    CHECK(meta != NULL);
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(meta, "opt"), *cs = cJSON_GetObjectItemCaseSensitive(meta, "case");
    qw_npy tk, tg, mk;
    snprintf(p, sizeof p, "%s/tokens.npy", dir);
    CHECK(qw_npy_read(p, &tk) == QW_OK);
    snprintf(p, sizeof p, "%s/targets.npy", dir);
    CHECK(qw_npy_read(p, &tg) == QW_OK);
    snprintf(p, sizeof p, "%s/mask.npy", dir);
    CHECK(qw_npy_read(p, &mk) == QW_OK);
    int nb = (int)tk.shape[0], B = (int)tk.shape[1], T = (int)tk.shape[2];
    CHECK(B == (int)jnum(cs, "B") && T == (int)jnum(cs, "T"));
    uint8_t *mask = malloc(mk.numel);
    for (int64_t i = 0; i < mk.numel; i++) mask[i] = (uint8_t)((int32_t *)mk.data)[i];
    const int32_t *tokens = tk.data, *targets = tg.data;
    size_t per = (size_t)B * T;

    qw_model *im = NULL;
    CHECK(qw_model_load(&im, dir) == QW_OK);
    qw_tmodel m;
    CHECK(qw_tmodel_from_model(&m, im) == QW_OK);
    qw_model_free(im);
    CHECK(qw_tmodel_alloc(&m, B, T, 2) == QW_OK);

    // one step's loss and gradients against float64 autograd
    qw_tmodel_zero_grad(&m);
    int64_t n;
    double loss = qw_tmodel_forward(&m, tokens, targets, mask, B, T, &n) / (double)n;
    qw_tmodel_backward(&m, 1.0f / (float)n);
    double want = jnum(meta, "loss");
    printf("  loss %.7f  torch f64 %.7f  rel %.2e\n", loss, want, fabs(loss - want) / want);
    CHECK(fabs(loss - want) <= 1e-5 * fabs(want));
    qw_safetensors gs;
    snprintf(p, sizeof p, "%s/grads.safetensors", dir);
    CHECK(qw_safetensors_open(&gs, p) == QW_OK);
    double worst = 0;
    for (int i = 0; i < QW_TPARAMS_N; i++) {
        if (!m.sizes[i]) continue;
        int per_layer = i != 0 && i != 13 && i != 14;
        int nl = per_layer ? m.shape.n_layers : 1;
        size_t chunk = m.sizes[i] / (size_t)nl;
        double maxd = 0, maxr = 0;
        for (int l = 0; l < nl; l++) {
            char name[160];
            if (per_layer) snprintf(name, sizeof name, "model.layers.%d.%s", l, g_names[i]);
            else snprintf(name, sizeof name, "%s", g_names[i]);
            const qw_tensor *t = qw_safetensors_find(&gs, name);
            CHECKF(t && (size_t)qw_tensor_numel(t) == chunk, "%s", name);
            if (!t) continue;
            const float *ref = t->data;
            size_t off = 0; // the gradient block is carved in qw_tparams order, as sizes[]
            for (int j = 0; j < i; j++) off += m.sizes[j];
            const float *gbase = m.grads_mem + off + (size_t)l * chunk;
            for (size_t k = 0; k < chunk; k++) {
                double d = fabs((double)gbase[k] - ref[k]);
                if (d > maxd) maxd = d;
                if (fabs(ref[k]) > maxr) maxr = fabs(ref[k]);
            }
        }
        double rel = maxd / (maxr + 1e-30);
        if (rel > worst) worst = rel;
        printf("  grad %-34s max|diff| %.2e  max|ref| %.2e  rel %.2e\n", g_names[i], maxd, maxr, rel);
        CHECKF(rel < 1e-4, "%s rel %g", g_names[i], rel);
    }
    printf("  worst gradient relative error %.2e (limit 1e-4)\n", worst);
    qw_safetensors_close(&gs);

    // ten AdamW steps, as train_ref.py takes them
    int steps = (int)jnum(opt, "steps"), accum = (int)jnum(opt, "accum");
    CHECK(nb >= 1 + steps * accum);
    qw_adamw o;
    CHECK(qw_adamw_init(&o, &m, (float)jnum(opt, "beta1"), (float)jnum(opt, "beta2"), (float)jnum(opt, "eps"),
                        (float)jnum(opt, "weight_decay")) == QW_OK);
    const cJSON *wl = cJSON_GetObjectItemCaseSensitive(meta, "adamw_losses");
    double worst_l = 0;
    printf("  AdamW losses (qwick / torch):");
    for (int s = 0; s < steps; s++) {
        float lr = qw_lr_schedule(s, (int64_t)jnum(opt, "warmup"), steps, (float)jnum(opt, "lr"), (float)jnum(opt, "min_lr"));
        qw_tmodel_zero_grad(&m);
        int64_t cnt = 0;
        for (int a = 0; a < accum; a++) {
            size_t b = (size_t)(1 + accum * s + a);
            for (size_t i = 0; i < per; i++) cnt += mask[b * per + i];
        }
        double sum = 0;
        for (int a = 0; a < accum; a++) {
            size_t b = (size_t)(1 + accum * s + a);
            int64_t c;
            sum += qw_tmodel_forward(&m, tokens + b * per, targets + b * per, mask + b * per, B, T, &c);
            qw_tmodel_backward(&m, 1.0f / (float)cnt);
        }
        qw_clip_grad_norm(&m, jnum(opt, "clip"));
        qw_adamw_step(&o, &m, lr);
        double got = sum / (double)cnt, ref = cJSON_GetArrayItem(wl, s)->valuedouble;
        double rel = fabs(got - ref) / fabs(ref);
        if (rel > worst_l) worst_l = rel;
        printf(" %.5f/%.5f", got, ref);
    }
    printf("\n  worst AdamW loss relative error %.2e (limit 1e-4)\n", worst_l);
    CHECK(worst_l < 1e-4);
    qw_adamw_free(&o);
    qw_tmodel_free(&m);
    free(mask);
    qw_npy_free(&tk);
    qw_npy_free(&tg);
    qw_npy_free(&mk);
    cJSON_Delete(meta);
}

int main(void) {
    const char *root = getenv("QWICK_TRAIN_FIXTURES");
    if (!root || !*root) root = "tests/train_fixtures";
    static const char *cases[] = {"gqa2_tied", "gqa4_untied"};
    for (int i = 0; i < 2; i++) {
        char d[1024];
        snprintf(d, sizeof d, "%s/%s", root, cases[i]);
        run_case(d);
    }
    TEST_DONE();
}
