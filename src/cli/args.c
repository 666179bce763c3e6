// cli/args: the option-table parser every subcommand uses, and small shared CLI helpers.
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static void print_help(const qw_cmd_spec *spec) {
    printf("usage: %s\n\n%s\n\noptions:\n", spec->usage, spec->description);
    for (int i = 0; i < spec->n_opts; i++) {
        const qw_opt *o = &spec->opts[i];
        const char *arg = o->kind == QW_OPT_INT ? " N" : o->kind == QW_OPT_FLOAT ? " X" : o->kind == QW_OPT_STR ? " S" : "";
        char left[64];
        snprintf(left, sizeof left, "%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name, arg);
        printf("  %-26s %s\n", left, o->help);
    }
    printf("  %-26s %s\n", "-h, --help", "show this help");
}

static int parse_value(const qw_opt *o, const char *v) {
    char *end;
    errno = 0;
    if (o->kind == QW_OPT_INT) {
        long x = strtol(v, &end, 10);
        if (errno || *end || end == v || x < -2147483647L || x > 2147483647L) return 0;
        *(int *)o->dst = (int)x;
    } else if (o->kind == QW_OPT_FLOAT) {
        float x = strtof(v, &end);
        if (errno || *end || end == v) return 0;
        *(float *)o->dst = x;
    } else {
        *(const char **)o->dst = v;
    }
    return 1;
}

int qw_cli_parse(const qw_cmd_spec *spec, int argc, char **argv, const char **pos, int *n_pos) {
    *n_pos = 0;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            print_help(spec);
            return 1;
        }
        if (!only_pos && a[0] == '-' && a[1] != 0) {
            const char *eq = strchr(a, '=');
            size_t nl = eq ? (size_t)(eq - a) : strlen(a);
            const qw_opt *o = NULL;
            for (int j = 0; j < spec->n_opts && !o; j++) {
                const qw_opt *c = &spec->opts[j];
                if ((strlen(c->name) == nl && strncmp(c->name, a, nl) == 0) ||
                    (c->alias && strlen(c->alias) == nl && strncmp(c->alias, a, nl) == 0))
                    o = c;
            }
            if (!o) {
                fprintf(stderr, "qwick: unknown option %.*s (see %s --help)\n", (int)nl, a, argv[0]);
                return 2;
            }
            if (o->kind == QW_OPT_FLAG) {
                *(int *)o->dst = 1;
                continue;
            }
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                fprintf(stderr, "qwick: option %s needs a value\n", o->name);
                return 2;
            }
            if (!parse_value(o, v)) {
                fprintf(stderr, "qwick: option %s: '%s' is not a valid %s\n", o->name, v,
                        o->kind == QW_OPT_INT ? "integer" : "number");
                return 2;
            }
            continue;
        }
        if (*n_pos >= spec->max_pos) {
            fprintf(stderr, "qwick: unexpected argument '%s'\nusage: %s\n", a, spec->usage);
            return 2;
        }
        pos[(*n_pos)++] = a;
    }
    if (*n_pos < spec->min_pos) {
        fprintf(stderr, "qwick: missing argument\nusage: %s\n", spec->usage);
        return 2;
    }
    return 0;
}

int qw_cli_fail(qw_status s) {
    fprintf(stderr, "qwick: %s\n", qw_error_message());
    return s == QW_ERR_ARG ? 2 : 1;
}

int qw_cli_isatty(int fd) { return isatty(fd); }

const char *qw_cli_models_dir(void) {
    const char *e = getenv("QWICK_MODELS");
    if (e && *e) return e;
#ifdef QW_MODELS_DIR
    return QW_MODELS_DIR;
#else
    return "models";
#endif
}

qw_status qw_cli_load_tokenizer(const char *model, qw_tokenizer **out) {
    char p[4096];
    if (qw_dir_exists(model)) {
        qw_path_join(p, sizeof p, model, "tokenizer.json");
        if (!qw_file_exists(p)) return qw_error(QW_ERR_IO, "%s: no tokenizer.json in this folder", model);
        return qw_tok_load(out, p);
    }
    size_t n = strlen(model);
    if (n > 5 && strcmp(model + n - 5, ".gguf") == 0) {
        qw_gguf g;
        QW_TRY(qw_gguf_open(&g, model));
        qw_status s = qw_tok_load_gguf(out, &g);
        qw_gguf_close(&g);
        return s;
    }
    return qw_tok_load(out, model);
}

qw_sampler_params qw_cli_sampling_params(const qw_cli_sampling *s, const qw_config *c) {
    qw_sampler_params p = qw_sampler_from_config(c);
    if (!isnan(s->temp)) p.temperature = s->temp;
    if (s->top_k >= 0) p.top_k = s->top_k;
    if (!isnan(s->top_p)) p.top_p = s->top_p;
    if (!isnan(s->min_p)) p.min_p = s->min_p;
    if (!isnan(s->repeat_penalty)) p.repeat_penalty = s->repeat_penalty;
    if (s->repeat_last_n != -2) p.repeat_last_n = s->repeat_last_n;
    p.seed = (uint64_t)s->seed;
    return p;
}
