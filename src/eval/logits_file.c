// eval/logits_file: a reference model's log-probs saved once (16-bit per value with a per-row scale and
// offset, or exact f32) with the tokens they were computed on, so later runs compare against the file.
#include "eval.h"

#include <math.h>
#include <stdlib.h>

static const char g_magic[8] = {'Q', 'W', 'L', 'O', 'G', 'P', 'R', 'B'};
#define RANGE_NATS 64.0f // log-probs further than this below the top are stored as the bottom value

size_t qw_logits_row_bytes(int encoding, int vocab) {
    return QW_LOGITS_RECORD_HEAD + (size_t)vocab * (encoding == QW_LOGITS_F32 ? 4 : 2);
}

void qw_logits_encode_row(int encoding, int vocab, const float *logits, int32_t target, void *out) {
    int32_t top;
    float lse = (float)qw_eval_logsumexp(logits, vocab, &top);
    float head[3] = {0, 0, logits[target] - lse};
    uint8_t *o = out;
    if (encoding == QW_LOGITS_F32) {
        for (int i = 0; i < vocab; i++) {
            float lp = logits[i] - lse;
            memcpy(o + QW_LOGITS_RECORD_HEAD + (size_t)i * 4, &lp, 4);
        }
    } else {
        float top_lp = logits[top] - lse, lo = top_lp;
        for (int i = 0; i < vocab; i++)
            if (logits[i] - lse < lo) lo = logits[i] - lse;
        if (lo < top_lp - RANGE_NATS) lo = top_lp - RANGE_NATS;
        float scale = (top_lp - lo) / 65535.0f;
        uint16_t *q = (uint16_t *)(o + QW_LOGITS_RECORD_HEAD); // records keep 2-byte alignment
        for (int i = 0; i < vocab; i++) {
            float x = scale > 0 ? (logits[i] - lse - lo) / scale : 0;
            q[i] = (uint16_t)(x <= 0 ? 0 : x >= 65535 ? 65535 : lrintf(x));
        }
        head[0] = scale;
        head[1] = lo;
    }
    memcpy(o, head, 12);
    memcpy(o + 12, &top, 4);
}

void qw_logits_decode_row(int encoding, int vocab, const void *rec, float *logprobs, float *lp_target,
                          int32_t *top) {
    const uint8_t *r = rec;
    float head[3];
    memcpy(head, r, 12);
    memcpy(top, r + 12, 4);
    *lp_target = head[2];
    if (encoding == QW_LOGITS_F32) {
        memcpy(logprobs, r + QW_LOGITS_RECORD_HEAD, (size_t)vocab * 4);
        return;
    }
    const uint16_t *q = (const uint16_t *)(r + QW_LOGITS_RECORD_HEAD);
    for (int i = 0; i < vocab; i++) logprobs[i] = head[1] + head[0] * (float)q[i];
    // rounding leaves the values a little off a distribution; renormalise so KL stays >= 0
    float lse = (float)qw_eval_logsumexp(logprobs, vocab, NULL);
    for (int i = 0; i < vocab; i++) logprobs[i] -= lse;
}

// ---------------------------------------------------------------------------------------------------

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

qw_status qw_logits_writer_open(qw_logits_writer *w, const char *path, const qw_logits_header *h,
                                const int32_t *tokens) {
    memset(w, 0, sizeof *w);
    w->h = *h;
    uint8_t hd[QW_LOGITS_HEADER_BYTES] = {0};
    memcpy(hd, g_magic, 8);
    put_u32(hd + 8, 1);
    put_u32(hd + 12, (uint32_t)h->encoding);
    put_u32(hd + 16, (uint32_t)h->vocab);
    put_u32(hd + 20, (uint32_t)h->ctx);
    put_u32(hd + 24, (uint32_t)h->stride);
    put_u32(hd + 28, (uint32_t)h->n_windows);
    put_u64(hd + 32, (uint64_t)h->n_tokens);
    put_u64(hd + 40, (uint64_t)h->n_rows);
    QW_TRY(qw_atomic_open(&w->af, path));
    w->open = 1;
    qw_status s = qw_atomic_write(&w->af, hd, sizeof hd);
    if (s == QW_OK) s = qw_atomic_write(&w->af, tokens, sizeof(int32_t) * (size_t)h->n_tokens);
    if (s != QW_OK) qw_logits_writer_abort(w);
    return s;
}

qw_status qw_logits_writer_append(qw_logits_writer *w, const void *records, int64_t n) {
    QW_ASSERT(w->open && w->rows_written + n <= w->h.n_rows);
    w->rows_written += n;
    return qw_atomic_write(&w->af, records, (size_t)n * qw_logits_row_bytes(w->h.encoding, w->h.vocab));
}

qw_status qw_logits_writer_commit(qw_logits_writer *w) {
    QW_ASSERT(w->open);
    if (w->rows_written != w->h.n_rows) {
        int64_t got = w->rows_written;
        qw_logits_writer_abort(w);
        return qw_error(QW_ERR_IO, "logits file: %lld of %lld rows written", (long long)got, (long long)w->h.n_rows);
    }
    w->open = 0;
    return qw_atomic_commit(&w->af);
}

void qw_logits_writer_abort(qw_logits_writer *w) {
    if (w->open) qw_atomic_abort(&w->af);
    w->open = 0;
}

// ---------------------------------------------------------------------------------------------------

int qw_logits_file_is(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[8];
    int ok = fread(m, 1, 8, f) == 8 && memcmp(m, g_magic, 8) == 0;
    fclose(f);
    return ok;
}

qw_status qw_logits_reader_open(qw_logits_reader *r, const char *path) {
    memset(r, 0, sizeof *r);
    QW_TRY(qw_mmap_open(&r->map, path));
    const uint8_t *d = r->map.data;
    size_t size = r->map.size;
    qw_status s = QW_OK;
    if (size < QW_LOGITS_HEADER_BYTES || memcmp(d, g_magic, 8) != 0) {
        s = qw_error(QW_ERR_FORMAT, "%s: not a qwick logits file (save one with qwick eval REF --ppl TEXT "
                     "--save-logits FILE)", path);
        goto fail;
    }
    uint32_t ver = get_u32(d + 8);
    if (ver != 1) {
        s = qw_error(QW_ERR_UNSUPPORTED, "%s: logits file version %u (this qwick reads version 1)", path, ver);
        goto fail;
    }
    qw_logits_header *h = &r->h;
    uint32_t enc = get_u32(d + 12), vocab = get_u32(d + 16), ctx = get_u32(d + 20), stride = get_u32(d + 24),
             nw = get_u32(d + 28);
    uint64_t nt = get_u64(d + 32), nr = get_u64(d + 40);
    if (enc > 1 || vocab < 1 || vocab > (1u << 30) || ctx < 2 || ctx > (1u << 30) || stride < 1 || stride > ctx ||
        nw > (1u << 30) || nt > ((uint64_t)1 << 40) || nr > ((uint64_t)1 << 40)) {
        s = qw_error(QW_ERR_FORMAT, "%s: corrupt header (encoding %u, vocab %u, ctx %u, stride %u)", path, enc,
                     vocab, ctx, stride);
        goto fail;
    }
    *h = (qw_logits_header){(int)enc, (int)vocab, (int)ctx, (int)stride, (int)nw, (int64_t)nt, (int64_t)nr};
    size_t rb = qw_logits_row_bytes(h->encoding, h->vocab), need, rows;
    if (!qw_mul_size(rb, (size_t)nr, &rows) || !qw_add_size(QW_LOGITS_HEADER_BYTES + 4 * (size_t)nt, rows, &need) ||
        need != size) {
        s = qw_error(QW_ERR_FORMAT, "%s: %zu bytes, but its header describes %llu tokens and %llu rows of %zu bytes "
                     "(truncated or corrupt)", path, size, (unsigned long long)nt, (unsigned long long)nr, rb);
        goto fail;
    }
    r->tokens = (const int32_t *)(d + QW_LOGITS_HEADER_BYTES);
    r->records = d + QW_LOGITS_HEADER_BYTES + 4 * (size_t)nt;
    r->path = qw_strdup(path);
    for (int64_t i = 0; i < h->n_tokens; i++)
        if (r->tokens[i] < 0 || r->tokens[i] >= h->vocab) {
            s = qw_error(QW_ERR_FORMAT, "%s: token %lld has id %d, outside the vocabulary of %d", path, (long long)i,
                         r->tokens[i], h->vocab);
            goto fail;
        }
    return QW_OK;
fail:
    qw_logits_reader_close(r);
    return s;
}

void qw_logits_reader_close(qw_logits_reader *r) {
    qw_mmap_close(&r->map);
    free(r->path);
    memset(r, 0, sizeof *r);
}

const void *qw_logits_reader_row(const qw_logits_reader *r, int64_t row) {
    QW_ASSERT(row >= 0 && row < r->h.n_rows);
    return r->records + (size_t)row * qw_logits_row_bytes(r->h.encoding, r->h.vocab);
}
