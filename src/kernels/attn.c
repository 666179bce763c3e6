// kernels/attn: causal attention over tiles of keys (qw_attn_rows), its double-precision reference, and
// the dispatch to the per-ISA versions.
#include "kernels_impl.h"

#define QW_ATTN_FN qw_attn_rows_generic
#include "attn_tile.inc"

size_t qw_attn_scratch_floats(int R, int hd) {
    return (size_t)hd * QW_ATTN_TILE + (size_t)R * QW_ATTN_TILE + (size_t)R * hd + 2 * (size_t)R + 16;
}

void qw_attn_rows(int R, int hd, const float *const *q, const int32_t *last, const float *K, const float *V,
                  int64_t ld, float scale, float *const *out, float *scratch) {
    QW_ASSERT(R >= 1 && R <= QW_ATTN_MAX_ROWS && hd >= 1);
    const qw_kernel_active *ka = qw_kernels();
    if (hd % 16 == 0) ka->attn(R, hd, q, last, K, V, ld, scale, out, scratch);
    else qw_attn_rows_generic(R, hd, q, last, K, V, ld, scale, out, scratch);
}

void qw_attn_rows_ref(int R, int hd, const float *const *q, const int32_t *last, const float *K, const float *V,
                      int64_t ld, float scale, float *const *out) {
    for (int r = 0; r < R; r++) {
        int n = last[r] + 1;
        double *p = malloc(sizeof(double) * (size_t)n), mx = -INFINITY, sum = 0;
        QW_ASSERT(p);
        for (int j = 0; j < n; j++) {
            double dot = 0;
            for (int d = 0; d < hd; d++) dot += (double)q[r][d] * K[(size_t)j * ld + d];
            p[j] = dot * scale;
            if (p[j] > mx) mx = p[j];
        }
        for (int j = 0; j < n; j++) sum += (p[j] = exp(p[j] - mx));
        for (int d = 0; d < hd; d++) {
            double acc = 0;
            for (int j = 0; j < n; j++) acc += p[j] * V[(size_t)j * ld + d];
            out[r][d] = (float)(acc / sum);
        }
        free(p);
    }
}
