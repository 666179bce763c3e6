// bench/llamacpp_quantize: llama.cpp's own quantizer (llama_model_quantize in the prebuilt libllama of the
// pinned node-llama-cpp), so qwick's quantized files can be compared with llama.cpp's of the same model.
//
//   llamacpp_quantize IN.gguf OUT.gguf TYPE [--threads T] [-v]
//       TYPE: Q8_0, Q4_0, Q4_K_M, Q4_K_S, Q5_K_M, Q6_K, IQ4_NL, F16, BF16 (as llama-quantize names them).
//       IN is a float GGUF (F32, F16 or BF16), e.g. from `qwick convert MODEL -o IN.gguf --type f32`.
//       No importance matrix: this is llama-quantize without --imatrix.
//
// Built by bench/llamacpp_peer_build.sh.
#define _POSIX_C_SOURCE 200809L
#include "ggml-backend.h"
#include "llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifndef QW_LLAMA_LIBDIR
#define QW_LLAMA_LIBDIR "."
#endif

static int g_verbose;

static void log_cb(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (g_verbose || level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static const struct {
    const char *name;
    enum llama_ftype ftype;
} g_types[] = {
    {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},     {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},
    {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S},
    {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S},
    {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},     {"IQ4_NL", LLAMA_FTYPE_MOSTLY_IQ4_NL},
    {"F16", LLAMA_FTYPE_MOSTLY_F16},       {"BF16", LLAMA_FTYPE_MOSTLY_BF16},
    {"F32", LLAMA_FTYPE_ALL_F32},
};

int main(int argc, char **argv) {
    const char *pos[3] = {0};
    int n_pos = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 || strcmp(argv[i], "-t") == 0) {
            if (i + 1 >= argc) break;
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-v") == 0) {
            g_verbose = 1;
        } else if (n_pos < 3 && argv[i][0] != '-') {
            pos[n_pos++] = argv[i];
        } else {
            n_pos = -1;
            break;
        }
    }
    int t = -1;
    for (size_t i = 0; n_pos == 3 && i < sizeof g_types / sizeof g_types[0]; i++)
        if (strcasecmp(pos[2], g_types[i].name) == 0) t = (int)i;
    if (n_pos != 3 || t < 0) {
        fprintf(stderr, "usage: llamacpp_quantize IN.gguf OUT.gguf TYPE [--threads T] [-v]\n  TYPE:");
        for (size_t i = 0; i < sizeof g_types / sizeof g_types[0]; i++)
            fprintf(stderr, " %s", g_types[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    llama_log_set(log_cb, NULL);
    const char *dir = getenv("QWICK_LLAMACPP_LIBDIR");
    ggml_backend_load_all_from_path(dir && *dir ? dir : QW_LLAMA_LIBDIR);
    llama_backend_init();
    llama_model_quantize_params p = llama_model_quantize_default_params();
    p.ftype = g_types[t].ftype;
    p.nthread = threads;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    uint32_t rc = llama_model_quantize(pos[0], pos[1], &p);
    clock_gettime(CLOCK_MONOTONIC, &b);
    llama_backend_free();
    if (rc != 0) {
        fprintf(
            stderr,
            "llamacpp_quantize: llama_model_quantize(%s -> %s, %s) failed (%u); run with -v for its log\n",
            pos[0], pos[1], g_types[t].name, rc);
        return 1;
    }
    fprintf(stderr, "llamacpp_quantize: wrote %s (%s) in %.1f s\n", pos[1], g_types[t].name,
            (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec));
    return 0;
}
