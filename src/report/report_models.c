// report/report_models: gathers eval and bench inputs into one entry per (engine, model folder), gives
// each a short unique name, and picks the baseline that speed-ups and accuracy changes are measured from.
#include "report.h"

#include <limits.h>

// The same folder written two ways (relative, trailing slash, symlink) must match: realpath when the
// folder is here, else the path without trailing slashes.
static void canon(const char *p, char *out, size_t n) {
    char buf[PATH_MAX];
    if (realpath(p, buf)) {
        snprintf(out, n, "%s", buf);
        return;
    }
    snprintf(out, n, "%s", p);
    size_t l = strlen(out);
    while (l > 1 && out[l - 1] == '/') out[--l] = 0;
}

typedef struct {
    char key[4096 + 40]; // "engine<TAB>canonical path"
} key_buf;

static void make_key(key_buf *k, const char *engine, const char *path) {
    char c[4096];
    canon(path, c, sizeof c);
    snprintf(k->key, sizeof k->key, "%s\t%s", engine, c);
}

static int find(const key_buf *keys, int n, const key_buf *k) {
    for (int i = 0; i < n; i++)
        if (strcmp(keys[i].key, k->key) == 0) return i;
    return -1;
}

// The last `parts` components of a path ("a/b/c", 2 -> "b/c").
static const char *tail(const char *p, int parts) {
    size_t l = strlen(p);
    while (l > 1 && p[l - 1] == '/') l--;
    const char *s = p + l;
    for (int seen = 0; s > p; s--)
        if (s[-1] == '/' && ++seen == parts) break;
    return s;
}

static void set_name(qw_report_model *m, int parts) {
    const char *t = tail(m->path, parts);
    size_t l = strlen(t);
    while (l > 1 && t[l - 1] == '/') l--;
    if (strcmp(m->engine, "qwick") == 0)
        snprintf(m->name, sizeof m->name, "%.*s", (int)(l < 200 ? l : 200), t);
    else
        snprintf(m->name, sizeof m->name, "%.*s (%s)", (int)(l < 200 ? l : 200), t, m->engine);
}

static int name_clash(const qw_report_model *m, int n, int i) {
    for (int j = 0; j < n; j++)
        if (j != i && strcmp(m[i].name, m[j].name) == 0) return 1;
    return 0;
}

qw_status qw_report_models(const qw_report_inputs *in, qw_report_model **out, int *n_out, int *baseline) {
    int cap = in->n_evals + 2 * in->n_benches;
    qw_report_model *m = calloc((size_t)(cap ? cap : 1), sizeof *m);
    key_buf *keys = calloc((size_t)(cap ? cap : 1), sizeof *keys);
    if (!m || !keys) {
        free(m), free(keys);
        return qw_error(QW_ERR_NOMEM, "out of memory");
    }
    int n = 0;
    key_buf k;
    for (int i = 0; i < in->n_evals; i++) {
        make_key(&k, "qwick", in->evals[i].model);
        int j = find(keys, n, &k);
        if (j >= 0) {
            qw_status s = qw_error(QW_ERR_ARG, "%s: a second eval result for %s (the first is in %s)",
                                   in->evals[i].source, in->evals[i].model, m[j].eval->source);
            free(m), free(keys);
            return s;
        }
        keys[n] = k;
        m[n].path = in->evals[i].model;
        m[n].engine = "qwick";
        m[n++].eval = &in->evals[i];
    }
    for (int i = 0; i < in->n_benches; i++) {
        const qw_bench_file *f = &in->benches[i];
        for (int side = 0; side < 1 + f->has_vs; side++) {
            const qw_bench_result *r = side ? &f->b : &f->a;
            make_key(&k, r->engine, r->model);
            int j = find(keys, n, &k);
            if (j < 0) {
                j = n++;
                keys[j] = k;
                m[j].path = r->model;
                m[j].engine = r->engine;
            }
            // the same model measured twice (as A of one run and B of another): the first input wins
            if (!m[j].bench) m[j].bench = r;
        }
    }
    free(keys);
    if (!n) {
        free(m);
        return qw_error(QW_ERR_ARG, "nothing to report: give at least one --eval or --bench file");
    }
    for (int i = 0; i < n; i++) set_name(&m[i], 1);
    for (int parts = 2; parts <= 4; parts++)
        for (int i = 0; i < n; i++)
            if (name_clash(m, n, i)) set_name(&m[i], parts);

    // baseline: as asked; else the model the evals compared against, when it is in the report
    int b = -1;
    if (in->baseline) {
        key_buf want;
        make_key(&want, "qwick", in->baseline);
        for (int i = 0; i < n && b < 0; i++)
            if (strcmp(m[i].name, in->baseline) == 0 || strcmp(m[i].path, in->baseline) == 0) b = i;
        for (int i = 0; i < n && b < 0; i++) {
            make_key(&k, m[i].engine, m[i].path);
            if (strcmp(k.key, want.key) == 0) b = i;
        }
        if (b < 0) {
            qw_text names;
            qw_text_init(&names);
            for (int i = 0; i < n; i++) qw_text_printf(&names, "%s'%s'", i ? ", " : "", m[i].name);
            qw_status s = qw_error(QW_ERR_ARG, "--baseline %s: no such model in the inputs (models: %s)", in->baseline,
                                   names.p ? names.p : "");
            qw_text_free(&names);
            free(m);
            return s;
        }
    }
    for (int i = 0; i < in->n_evals && b < 0; i++) {
        if (!in->evals[i].ref_source) continue;
        key_buf want;
        make_key(&want, "qwick", in->evals[i].ref_source);
        for (int j = 0; j < n && b < 0; j++) {
            make_key(&k, m[j].engine, m[j].path);
            if (strcmp(k.key, want.key) == 0) b = j;
        }
    }
    *baseline = b < 0 ? 0 : b;
    *out = m;
    *n_out = n;
    return QW_OK;
}
