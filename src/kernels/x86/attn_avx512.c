// kernels/x86/attn_avx512: qw_attn_rows with AVX-512: scores of 4 rows x 64 keys in 16 registers,
// a vector exp, and p.V for 4 rows x 64 dims in 16 registers. Same algorithm as attn_tile.inc.
#include "../kernels_impl.h"

#include <math.h>

#include "exp_avx512.h"
#include "transpose_avx512.h"

// s[r][0..63] = q[r] . kt[:, 0..63] for rows r0..r0+nr-1 (nr <= 4)
static inline void scores4(int nr, int hd, const float *const *q, const float *kt, float *s) {
    __m512 a[4][4];
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < 4; i++) a[r][i] = _mm512_setzero_ps();
    const float *q0 = q[0], *q1 = q[nr > 1 ? 1 : 0], *q2 = q[nr > 2 ? 2 : 0], *q3 = q[nr > 3 ? 3 : 0];
    for (int d = 0; d < hd; d++) {
        const float *kd = kt + (size_t)d * QW_ATTN_TILE;
        __m512 k0 = _mm512_load_ps(kd), k1 = _mm512_load_ps(kd + 16), k2 = _mm512_load_ps(kd + 32),
               k3 = _mm512_load_ps(kd + 48);
        __m512 b0 = _mm512_set1_ps(q0[d]), b1 = _mm512_set1_ps(q1[d]), b2 = _mm512_set1_ps(q2[d]),
               b3 = _mm512_set1_ps(q3[d]);
#define QW_ROW(r, b)                                                                                         \
    a[r][0] = _mm512_fmadd_ps(b, k0, a[r][0]);                                                               \
    a[r][1] = _mm512_fmadd_ps(b, k1, a[r][1]);                                                               \
    a[r][2] = _mm512_fmadd_ps(b, k2, a[r][2]);                                                               \
    a[r][3] = _mm512_fmadd_ps(b, k3, a[r][3]);
        QW_ROW(0, b0) QW_ROW(1, b1) QW_ROW(2, b2) QW_ROW(3, b3)
#undef QW_ROW
    }
    for (int r = 0; r < nr; r++)
        for (int i = 0; i < 4; i++) _mm512_store_ps(s + (size_t)r * QW_ATTN_TILE + 16 * i, a[r][i]);
}

// o[r] = o[r] * corr[r] + sum_j p[r][j] V[j] for up to 4 rows (p, o: rows QW_ATTN_TILE and hd floats
// apart), dims 64 at a time (16 at the tail): per key, 4 loads of V and 4 broadcasts feed 16 fma.
static inline void pv4(int nr, int hd, int nj, const float *p, const float *corr, const float *V, int64_t ld,
                       float *o) {
    const float *pr[4];
    float *orow[4];
    for (int r = 0; r < 4; r++) { // missing rows repeat row 0 and are not stored
        pr[r] = p + (size_t)(r < nr ? r : 0) * QW_ATTN_TILE;
        orow[r] = o + (size_t)(r < nr ? r : 0) * hd;
    }
    int d0 = 0;
    for (; d0 + 64 <= hd; d0 += 64) {
        __m512 a[4][4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m512 c = _mm512_set1_ps(corr[r < nr ? r : 0]);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) a[r][i] = _mm512_mul_ps(_mm512_load_ps(orow[r] + d0 + 16 * i), c);
        }
        for (int j = 0; j < nj; j++) {
            const float *vj = V + (size_t)j * ld + d0;
            const __m512 v0 = _mm512_loadu_ps(vj), v1 = _mm512_loadu_ps(vj + 16), v2 = _mm512_loadu_ps(vj + 32),
                         v3 = _mm512_loadu_ps(vj + 48);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                const __m512 b = _mm512_set1_ps(pr[r][j]);
                a[r][0] = _mm512_fmadd_ps(b, v0, a[r][0]);
                a[r][1] = _mm512_fmadd_ps(b, v1, a[r][1]);
                a[r][2] = _mm512_fmadd_ps(b, v2, a[r][2]);
                a[r][3] = _mm512_fmadd_ps(b, v3, a[r][3]);
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++)
                if (r < nr) _mm512_store_ps(orow[r] + d0 + 16 * i, a[r][i]);
    }
    for (; d0 < hd; d0 += 16) {
        __m512 a[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) a[r] = _mm512_mul_ps(_mm512_load_ps(orow[r] + d0), _mm512_set1_ps(corr[r < nr ? r : 0]));
        for (int j = 0; j < nj; j++) {
            const __m512 v = _mm512_loadu_ps(V + (size_t)j * ld + d0);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) a[r] = _mm512_fmadd_ps(_mm512_set1_ps(pr[r][j]), v, a[r]);
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            if (r < nr) _mm512_store_ps(orow[r] + d0, a[r]);
    }
}

// kt[d][j] = K[j][d] for the tile's nj keys, zero for j >= nj: 16 keys x 16 dims per register transpose.
// Element by element it took as long as the scores themselves (a load and a store per element).
static void transpose_keys(int hd, int nj, const float *K, int64_t ld, float *kt) {
    for (int j0 = 0; j0 < QW_ATTN_TILE; j0 += 16) {
        for (int d0 = 0; d0 < hd; d0 += 16) {
            const __mmask16 dm = hd - d0 >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (hd - d0)) - 1);
            __m512i r[16];
            for (int j = 0; j < 16; j++)
                r[j] = j0 + j < nj ? _mm512_maskz_loadu_epi32(dm, K + (size_t)(j0 + j) * ld + d0) : _mm512_setzero_si512();
            qw_transpose16(r);
            for (int i = 0; i < 16 && d0 + i < hd; i++) _mm512_store_si512(kt + (size_t)(d0 + i) * QW_ATTN_TILE + j0, r[i]);
        }
    }
}

void qw_attn_rows_avx512(int R, int hd, const float *const *q, const int32_t *last, const float *K, const float *V,
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
    __m512 vscale = _mm512_set1_ps(scale);
    for (int32_t j0 = 0; j0 <= jmax; j0 += T) {
        int nj = jmax + 1 - j0 < T ? jmax + 1 - j0 : T;
        transpose_keys(hd, nj, K + (size_t)j0 * ld, ld, kt);
        for (int r0 = 0; r0 < R; r0 += 4) {
            int nr = R - r0 < 4 ? R - r0 : 4;
            int any = 0;
            for (int r = r0; r < r0 + nr; r++) any |= last[r] >= j0;
            if (any) scores4(nr, hd, q + r0, kt, s + (size_t)r0 * T);
        }
        for (int r = 0; r < R; r++) {
            corr[r] = 1;
            if (last[r] < j0) continue;
            float *sr = s + (size_t)r * T;
            int nv = last[r] - j0 + 1 < nj ? last[r] - j0 + 1 : nj;
            __m512 x[4], mx = _mm512_set1_ps(m[r]);
            __mmask16 k[4]; // keys this row may see: the first nv
            for (int i = 0; i < 4; i++) {
                k[i] = (__mmask16)(16 * i >= nv ? 0 : nv - 16 * i >= 16 ? 0xffff : (1u << (nv - 16 * i)) - 1);
                x[i] = _mm512_mask_mul_ps(_mm512_set1_ps(-INFINITY), k[i], _mm512_load_ps(sr + 16 * i), vscale);
                mx = _mm512_max_ps(mx, x[i]);
            }
            float mnew = _mm512_reduce_max_ps(mx);
            __m512 vm = _mm512_set1_ps(mnew), sum = _mm512_setzero_ps();
            for (int i = 0; i < 4; i++) {
                __m512 e = _mm512_maskz_mov_ps(k[i], exp512(_mm512_sub_ps(x[i], vm)));
                _mm512_store_ps(sr + 16 * i, e);
                sum = _mm512_add_ps(sum, e);
            }
            corr[r] = m[r] == -INFINITY ? 0.0f : expf(m[r] - mnew);
            m[r] = mnew;
            l[r] = l[r] * corr[r] + _mm512_reduce_add_ps(sum);
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
        __m512 inv = _mm512_set1_ps(1.0f / l[r]);
        for (int d = 0; d < hd; d += 16)
            _mm512_storeu_ps(out[r] + d, _mm512_mul_ps(_mm512_load_ps(o + (size_t)r * hd + d), inv));
    }
}
