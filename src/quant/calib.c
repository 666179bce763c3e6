// quant/calib: calibration token sequences from a plain text (cut into evenly spread windows) or a task
// JSONL (one ChatML conversation per item, answer included), with a held-out tail for --eval.
#include "quantize.h"

#include <ctype.h>
#include <stdlib.h>

static qw_status add_seq(qw_calib_set *c, const int32_t *ids, int64_t n) {
    int32_t **s = realloc(c->seq, sizeof *s * (size_t)(c->n + 1));
    if (!s) return qw_error(QW_ERR_NOMEM, "out of memory");
    c->seq = s;
    int *l = realloc(c->len, sizeof *l * (size_t)(c->n + 1));
    if (!l) return qw_error(QW_ERR_NOMEM, "out of memory");
    c->len = l;
    if (!(c->seq[c->n] = malloc(sizeof(int32_t) * (size_t)n))) return qw_error(QW_ERR_NOMEM, "out of memory");
    memcpy(c->seq[c->n], ids, sizeof(int32_t) * (size_t)n);
    c->len[c->n++] = (int)n;
    return QW_OK;
}

void qw_calib_free(qw_calib_set *c) {
    for (int i = 0; i < c->n; i++) free(c->seq[i]);
    free(c->seq);
    free(c->len);
    memset(c, 0, sizeof *c);
}

int64_t qw_calib_tokens(const qw_calib_set *c) {
    int64_t t = 0;
    for (int i = 0; i < c->n; i++) t += c->len[i];
    return t;
}

static int is_jsonl(const char *path, const char *text) {
    size_t n = strlen(path);
    if (n >= 6 && strcmp(path + n - 6, ".jsonl") == 0) return 1;
    while (*text && isspace((unsigned char)*text)) text++;
    return *text == '{';
}

// Windows of len tokens over ids[0, n): as many as fit up to want, spread evenly over the text.
static qw_status windows(qw_calib_set *c, const int32_t *ids, int64_t n, int want, int len) {
    if (n < 2 || want <= 0) return QW_OK;
    if (n <= len) return add_seq(c, ids, n);
    int64_t fit = n / len;
    int k = want < fit ? want : (int)fit;
    for (int i = 0; i < k; i++) {
        int64_t start = k > 1 ? (int64_t)i * (n - len) / (k - 1) : 0;
        QW_TRY(add_seq(c, ids + start, len));
    }
    return QW_OK;
}

static qw_status load_text(const qw_model *m, const char *path, const char *text, size_t tlen, int n, int len,
                           int n_eval, qw_calib_set *calib, qw_calib_set *held) {
    int32_t *ids = NULL;
    size_t nid = 0;
    QW_TRY(qw_tok_encode(m->tok, text, tlen, 0, &ids, &nid));
    int64_t eval_tok = n_eval > 0 ? (int64_t)n_eval * len : 0;
    if (eval_tok > (int64_t)nid / 5) eval_tok = (int64_t)nid / 5; // the calibration keeps most of a short text
    int64_t avail = (int64_t)nid - eval_tok;
    qw_status s = QW_OK;
    if (avail < 16) s = qw_error(QW_ERR_ARG, "%s: %zu tokens are too few to calibrate on", path, nid);
    if (s == QW_OK) s = windows(calib, ids, avail, n, len);
    if (s == QW_OK && held && eval_tok >= 2) s = windows(held, ids + avail, eval_tok, n_eval, len);
    free(ids);
    return s;
}

static qw_status load_jsonl(const qw_model *m, const char *path, const char *text, size_t tlen, int n, int len,
                            int n_eval, qw_calib_set *calib, qw_calib_set *held) {
    qw_task t;
    QW_TRY(qw_task_parse(&t, text, tlen, path, 0));
    int n_held = held && n_eval > 0 && t.n_items >= 2 ? (n_eval < t.n_items / 5 ? n_eval : t.n_items / 5) : 0;
    if (held && n_eval > 0 && t.n_items >= 2 && n_held < 1) n_held = 1;
    int n_cal = t.n_items - n_held < n ? t.n_items - n_held : n;
    qw_task_params tp = {0};
    qw_status s = QW_OK;
    for (int i = 0; s == QW_OK && i < t.n_items; i++) {
        int is_held = i >= t.n_items - n_held;
        if (!is_held && i >= n_cal) continue;
        const qw_task_item *it = &t.items[i];
        char *prompt = NULL;
        s = qw_task_prompt_text(it, &tp, &prompt);
        if (s != QW_OK) break;
        const char *ans = t.kind == QW_TASK_GENERATIVE ? it->answer
                          : it->label >= 0 && it->label < it->n_choices ? it->choices[it->label] : "";
        size_t need = strlen(prompt) + (ans ? strlen(ans) : 0) + 16;
        char *full = malloc(need);
        if (!full) {
            free(prompt);
            s = qw_error(QW_ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(full, need, "%s%s<|im_end|>\n", prompt, ans ? ans : "");
        int32_t *ids = NULL;
        size_t nid = 0;
        s = qw_task_encode(m, full, &ids, &nid);
        if (s == QW_OK && nid >= 2) s = add_seq(is_held ? held : calib, ids, (int64_t)nid < len ? (int64_t)nid : len);
        free(ids);
        free(full);
        free(prompt);
    }
    qw_task_free(&t);
    if (s == QW_OK && calib->n == 0) s = qw_error(QW_ERR_ARG, "%s: no item to calibrate on", path);
    return s;
}

qw_status qw_calib_load(const qw_model *m, const char *path, int n, int len, int n_eval, qw_calib_set *calib,
                        qw_calib_set *held_out) {
    memset(calib, 0, sizeof *calib);
    if (held_out) memset(held_out, 0, sizeof *held_out);
    if (!m->tok) return qw_error(QW_ERR_ARG, "%s: the model has no tokenizer, so calibration text cannot be tokenized", m->path);
    if (n < 1 || len < 2) return qw_error(QW_ERR_ARG, "calibration needs at least 1 sample of 2 tokens");
    char *text = NULL;
    size_t tlen = 0;
    QW_TRY(qw_file_read_all(path, (size_t)1 << 30, &text, &tlen));
    qw_status s = is_jsonl(path, text) ? load_jsonl(m, path, text, tlen, n, len, n_eval, calib, held_out)
                                       : load_text(m, path, text, tlen, n, len, n_eval, calib, held_out);
    free(text);
    if (s != QW_OK) {
        qw_calib_free(calib);
        if (held_out) qw_calib_free(held_out);
    }
    return s;
}
