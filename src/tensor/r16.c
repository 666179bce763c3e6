// tensor/r16: the 16-row interleaved layout of a quantized matrix (quant.h) and the conversions to and
// from GGUF's row layout. Only byte positions move: the blocks' contents are untouched, so the layout
// costs no accuracy and no memory, and a group of 16 rows keeps the bytes its rows had.
#include "quant.h"

// Offset of the block's lone f16 scale, gathered apart from the rest; -1 where the whole block is cut
// into dwords (the K-quants with d and dmin: their first dword holds both).
static int lone_d_offset(qw_type t) {
    switch (t) {
    case QW_TYPE_Q8_0:
    case QW_TYPE_Q4_0:
    case QW_TYPE_IQ4_NL: return 0;
    case QW_TYPE_Q6_K: return (int)offsetof(qw_block_q6_k, d);
    default: return -1;
    }
}

int qw_r16_type_ok(qw_type t) {
    const qw_type_traits *tr = qw_type_get((int)t);
    if (!tr || !tr->is_quantized) return 0;
    int rest = tr->block_bytes - (lone_d_offset(t) >= 0 ? 2 : 0);
    return rest % 4 == 0;
}

// One block column: 16 rows' block b (rows rb apart at `rows`) <-> the interleaved block, its d's at ild
// and its dwords at ilc. Dword u of a block starts at byte 4u of it, or 4u + 2 past a leading d;
// fixed-size copies, so that a 3B model converts in a fraction of a second per thread.
static void block_move(int d_off, int bb, uint8_t *rows, size_t rb, uint8_t *ild, uint8_t *ilc, int to_r16) {
    const int nd = (bb - (d_off >= 0 ? 2 : 0)) / 4;
    const int skip = d_off == 0 ? 2 : 0; // only Q6_K has its d at the end, after every dword
    for (int r = 0; r < 16; r++) {
        uint8_t *row = rows + (size_t)r * rb;
        if (d_off >= 0) {
            if (to_r16) memcpy(ild + 2 * r, row + d_off, 2);
            else memcpy(row + d_off, ild + 2 * r, 2);
        }
        uint8_t *src = row + skip, *dst = ilc + 4 * r;
        if (to_r16)
            for (int u = 0; u < nd; u++) memcpy(dst + 64 * u, src + 4 * u, 4);
        else
            for (int u = 0; u < nd; u++) memcpy(src + 4 * u, dst + 64 * u, 4);
    }
}

// Where block b of a group at g keeps its d's (*d) and dwords (*c): super-groups for the 32-element
// types with a leading d (quant.h), the d's before each block's dwords for Q6_K, dwords only otherwise.
static void block_at(int d_off, int bb, const uint8_t *g, int64_t b, int64_t nb, const uint8_t **d, const uint8_t **c) {
    if (d_off == 0) {
        qw_r16_blk32(g, b, nb, bb, d, c);
        return;
    }
    *d = g + (size_t)b * 16 * bb;
    *c = *d + (d_off > 0 ? 32 : 0);
}

// 16 rows of k elements at `rows` <-> one r16 group.
static void group_move(qw_type t, void *rows, void *group, int64_t k, int to_r16) {
    const qw_type_traits *tr = qw_type_get((int)t);
    const int bb = tr->block_bytes, d_off = lone_d_offset(t);
    const int64_t nb = k / tr->block_size;
    const size_t rb = (size_t)nb * (size_t)bb;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *d, *c;
        block_at(d_off, bb, group, b, nb, &d, &c);
        block_move(d_off, bb, (uint8_t *)rows + (size_t)b * bb, rb, (uint8_t *)d, (uint8_t *)c, to_r16);
    }
}

void qw_r16_unpack_group(qw_type t, const void *group, void *rows, int64_t k) {
    group_move(t, rows, (void *)group, k, 0); // (reads group only)
}

typedef struct {
    qw_type t;
    uint8_t *data, *tmp; // tmp: one group's bytes per thread
    int64_t groups, k;
    size_t gb; // bytes per group of 16 rows
} pack_job;

static void pack_run(void *ctx, int ith, int nth) {
    const pack_job *j = ctx;
    int64_t g0, g1;
    qw_split_rows(j->groups, 1, ith, nth, &g0, &g1);
    uint8_t *tmp = j->tmp + (size_t)ith * j->gb;
    for (int64_t g = g0; g < g1; g++) {
        uint8_t *p = j->data + (size_t)g * j->gb;
        memcpy(tmp, p, j->gb);
        group_move(j->t, tmp, p, j->k, 1);
    }
}

qw_status qw_r16_pack(qw_type t, void *data, int64_t n_rows, int64_t k, int nth) {
    QW_ASSERT(qw_r16_type_ok(t) && n_rows % 16 == 0 && k % qw_type_get((int)t)->block_size == 0);
    if (nth < 1) nth = 1;
    pack_job j = {.t = t, .data = data, .groups = n_rows / 16, .k = k, .gb = 16 * qw_type_row_bytes(t, k)};
    // every buffer exists before the first byte moves: the matrix is converted whole or not at all
    j.tmp = malloc(j.gb * (size_t)nth);
    if (!j.tmp) return qw_error(QW_ERR_NOMEM, "r16 layout: %zu bytes: out of memory", j.gb * (size_t)nth);
    qw_parallel(pack_run, &j, nth);
    free(j.tmp);
    return QW_OK;
}

void qw_r16_row_to_float(qw_type t, const void *data, int64_t k, int64_t row, float *out) {
    const qw_type_traits *tr = qw_type_get((int)t);
    const int bb = tr->block_bytes, d_off = lone_d_offset(t), r = (int)(row % 16);
    const int nd = (bb - (d_off >= 0 ? 2 : 0)) / 4, skip = d_off == 0 ? 2 : 0;
    const int64_t nb = k / tr->block_size;
    const uint8_t *group = (const uint8_t *)data + (size_t)(row / 16) * 16 * (size_t)nb * (size_t)bb;
    uint8_t blk[256];
    QW_ASSERT(bb <= (int)sizeof blk);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *d, *c;
        block_at(d_off, bb, group, b, nb, &d, &c);
        if (d_off >= 0) memcpy(blk + d_off, d + 2 * r, 2);
        for (int u = 0; u < nd; u++) memcpy(blk + skip + 4 * u, c + 64 * u + 4 * r, 4);
        tr->to_float(blk, out + b * tr->block_size, tr->block_size);
    }
}
