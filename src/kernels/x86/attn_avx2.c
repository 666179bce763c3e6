// kernels/x86/attn_avx2: qw_attn_rows with AVX2 + FMA: scores of 4 rows x 16 keys in 8 registers,
// a vector exp, and p.V for 4 rows x 16 dims in 8 registers. Same algorithm as attn_tile.inc.
//
// The plain-C tiles (attn_tile.inc) compiled for AVX2 took 41% of a 512-token prefill of the 3B shape
// (Q4_0, Zen 3, against 49% for all the matmuls), with one expf call per score; this file took 3% of the
// same prefill, which then ran 1.8x as fast. Every inner loop is FMA-bound: per step 2 vector loads and
// 4 broadcasts feed 8 independent FMAs (16 registers leave no room for AVX-512's 4 x 64 tiles).
#include "../kernels_impl.h"

#include <math.h>

#include "avx2_util.h"
#include "exp_avx2.h"

// s[r][16c .. 16c + 15] = q[r] . kt[:, 16c ..] for rows 0..nr-1 (nr <= 4) and key chunks c < nc
static void scores4(int nr, int hd, int nc, const float *const *q, const float *kt, float *s) {
    const float *q0 = q[0], *q1 = q[nr > 1 ? 1 : 0], *q2 = q[nr > 2 ? 2 : 0], *q3 = q[nr > 3 ? 3 : 0];
    for (int c = 0; c < nc; c++) {
        __m256 a[4][2];
        for (int r = 0; r < 4; r++) a[r][0] = a[r][1] = _mm256_setzero_ps();
        for (int d = 0; d < hd; d++) {
            const float *kd = kt + (size_t)d * QW_ATTN_TILE + 16 * c;
            const __m256 k0 = _mm256_load_ps(kd), k1 = _mm256_load_ps(kd + 8);
            __m256 b = _mm256_broadcast_ss(q0 + d);
            a[0][0] = _mm256_fmadd_ps(b, k0, a[0][0]);
            a[0][1] = _mm256_fmadd_ps(b, k1, a[0][1]);
            b = _mm256_broadcast_ss(q1 + d);
            a[1][0] = _mm256_fmadd_ps(b, k0, a[1][0]);
            a[1][1] = _mm256_fmadd_ps(b, k1, a[1][1]);
            b = _mm256_broadcast_ss(q2 + d);
            a[2][0] = _mm256_fmadd_ps(b, k0, a[2][0]);
            a[2][1] = _mm256_fmadd_ps(b, k1, a[2][1]);
            b = _mm256_broadcast_ss(q3 + d);
            a[3][0] = _mm256_fmadd_ps(b, k0, a[3][0]);
            a[3][1] = _mm256_fmadd_ps(b, k1, a[3][1]);
        }
        for (int r = 0; r < nr; r++) {
            _mm256_store_ps(s + (size_t)r * QW_ATTN_TILE + 16 * c, a[r][0]);
            _mm256_store_ps(s + (size_t)r * QW_ATTN_TILE + 16 * c + 8, a[r][1]);
        }
    }
}

// o[r] = o[r] * corr[r] + sum_j p[r][j] V[j] for up to 4 rows (p, o: rows QW_ATTN_TILE and hd floats
// apart), 16 dims at a time: per key, 2 loads of V and 4 broadcasts feed 8 FMAs.
static void pv4(int nr, int hd, int nj, const float *p, const float *corr, const float *V, int64_t ld, float *o) {
    const float *pr[4];
    float *orow[4];
    for (int r = 0; r < 4; r++) { // missing rows repeat row 0 and are not stored
        pr[r] = p + (size_t)(r < nr ? r : 0) * QW_ATTN_TILE;
        orow[r] = o + (size_t)(r < nr ? r : 0) * hd;
    }
    for (int d0 = 0; d0 < hd; d0 += 16) {
        __m256 a[4][2];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m256 c = _mm256_set1_ps(corr[r < nr ? r : 0]);
            a[r][0] = _mm256_mul_ps(_mm256_load_ps(orow[r] + d0), c);
            a[r][1] = _mm256_mul_ps(_mm256_load_ps(orow[r] + d0 + 8), c);
        }
        for (int j = 0; j < nj; j++) {
            const float *vj = V + (size_t)j * ld + d0;
            const __m256 v0 = _mm256_loadu_ps(vj), v1 = _mm256_loadu_ps(vj + 8);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                const __m256 b = _mm256_broadcast_ss(pr[r] + j);
                a[r][0] = _mm256_fmadd_ps(b, v0, a[r][0]);
                a[r][1] = _mm256_fmadd_ps(b, v1, a[r][1]);
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            if (r < nr) {
                _mm256_store_ps(orow[r] + d0, a[r][0]);
                _mm256_store_ps(orow[r] + d0 + 8, a[r][1]);
            }
    }
}

// kt[d][j] = K[j][d] for the tile's nj keys, zero for j >= nj: 8 keys x 8 dims per register transpose
// (hd is a multiple of 16 here).
static void transpose_keys(int hd, int nj, const float *K, int64_t ld, float *kt) {
    for (int j0 = 0; j0 < QW_ATTN_TILE; j0 += 8)
        for (int d0 = 0; d0 < hd; d0 += 8) {
            __m256 r[8];
            for (int j = 0; j < 8; j++)
                r[j] = j0 + j < nj ? _mm256_loadu_ps(K + (size_t)(j0 + j) * ld + d0) : _mm256_setzero_ps();
            qw_transpose8(r);
            for (int i = 0; i < 8; i++) _mm256_store_ps(kt + (size_t)(d0 + i) * QW_ATTN_TILE + j0, r[i]);
        }
}

void qw_attn_rows_avx2(int R, int hd, const float *const *q, const int32_t *last, const float *K, const float *V,
                       int64_t ld, float scale, float *const *out, float *scratch) {
    enum { T = QW_ATTN_TILE };
    float *kt = scratch;                       // (hd, T)
    float *s = kt + (size_t)hd * T;            // (R, T)
    float *o = s + (size_t)R * T;              // (R, hd)
    float *m = o + (size_t)R * hd, *l = m + R; // (R) each
    float corr[QW_ATTN_MAX_ROWS];
    int32_t jmax = 0;
    for (int r = 0; r < R; r++) {
        if (last[r] > jmax) jmax = last[r];
        m[r] = -INFINITY;
        l[r] = 0;
    }
    memset(o, 0, sizeof(float) * (size_t)R * (size_t)hd);
    const __m256 vscale = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-INFINITY);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int32_t j0 = 0; j0 <= jmax; j0 += T) {
        int nj = jmax + 1 - j0 < T ? jmax + 1 - j0 : T;
        transpose_keys(hd, nj, K + (size_t)j0 * ld, ld, kt);
        for (int r0 = 0; r0 < R; r0 += 4) {
            int nr = R - r0 < 4 ? R - r0 : 4, nv = 0; // keys any of these rows sees in this tile
            for (int r = r0; r < r0 + nr; r++) {
                int v = last[r] - j0 + 1 < nj ? last[r] - j0 + 1 : nj;
                if (v > nv) nv = v;
            }
            if (nv > 0) scores4(nr, hd, (nv + 15) / 16, q + r0, kt, s + (size_t)r0 * T);
        }
        for (int r = 0; r < R; r++) {
            corr[r] = 1;
            if (last[r] < j0) continue;
            float *sr = s + (size_t)r * T;
            const int nv = last[r] - j0 + 1 < nj ? last[r] - j0 + 1 : nj, nc = (nv + 7) / 8;
            __m256 x[T / 8], mx = _mm256_set1_ps(m[r]);
            __m256 keep[T / 8]; // lanes of the first nv keys: all ones
            for (int i = 0; i < nc; i++) {
                keep[i] = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(nv - 8 * i), lane));
                x[i] = _mm256_blendv_ps(ninf, _mm256_mul_ps(_mm256_load_ps(sr + 8 * i), vscale), keep[i]);
                mx = _mm256_max_ps(mx, x[i]);
            }
            const float mnew = qw_hmax8(mx);
            const __m256 vm = _mm256_set1_ps(mnew);
            __m256 sum = _mm256_setzero_ps();
            for (int i = 0; i < nc; i++) {
                const __m256 e = _mm256_and_ps(keep[i], exp256(_mm256_sub_ps(x[i], vm)));
                _mm256_store_ps(sr + 8 * i, e);
                sum = _mm256_add_ps(sum, e);
            }
            for (int i = nc; i < T / 8; i++) _mm256_store_ps(sr + 8 * i, _mm256_setzero_ps());
            corr[r] = m[r] == -INFINITY ? 0.0f : expf(m[r] - mnew);
            m[r] = mnew;
            l[r] = l[r] * corr[r] + qw_hsum8(sum);
        }
        for (int r0 = 0; r0 < R; r0 += 4) {
            int nr = R - r0 < 4 ? R - r0 : 4, nvj = 0;
            for (int r = r0; r < r0 + nr; r++) {
                int nv = last[r] - j0 + 1 < nj ? last[r] - j0 + 1 : nj;
                if (nv > nvj) nvj = nv;
            }
            if (nvj <= 0) continue;
            // a row whose keys ended before this tile (beside one that goes on) adds nothing
            for (int r = r0; r < r0 + nr; r++)
                if (last[r] < j0) memset(s + (size_t)r * T, 0, sizeof(float) * T);
            pv4(nr, hd, nvj, s + (size_t)r0 * T, corr + r0, V + (size_t)j0 * ld, ld, o + (size_t)r0 * hd);
        }
    }
    for (int r = 0; r < R; r++) {
        const __m256 inv = _mm256_set1_ps(1.0f / l[r]);
        for (int d = 0; d < hd; d += 8)
            _mm256_storeu_ps(out[r] + d, _mm256_mul_ps(_mm256_load_ps(o + (size_t)r * hd + d), inv));
    }
}
