// tok/decode: token ids back to UTF-8 text, one-shot and streaming. Both replace invalid UTF-8 the way
// HF does (one U+FFFD per maximal invalid subpart), so a stream's output equals the one-shot decode.
#include "tok_impl.h"

int qw_tok_utf8_next(const unsigned char *s, size_t n, size_t *len) {
    unsigned c = s[0];
    if (c < 0x80) {
        *len = 1;
        return 1;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xbf; // range allowed for the second byte
    if (c >= 0xc2 && c <= 0xdf) need = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0) lo = 0xa0;      // no overlongs
        else if (c == 0xed) hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0) lo = 0x90;
        else if (c == 0xf4) hi = 0x8f; // nothing past U+10FFFF
    } else {
        *len = 1;
        return 0;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n) {
            *len = n;
            return -1;
        }
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) {
            *len = i;
            return 0;
        }
    }
    *len = need;
    return 1;
}

static const char k_fffd[3] = {(char)0xef, (char)0xbf, (char)0xbd};

// Copies the valid characters of s[0..n) to out (if out), U+FFFD for each invalid subpart. With
// keep_tail, an unfinished character at the end is not written and its length goes to *tail;
// without, it becomes U+FFFD. Returns the bytes written (or that would be).
static size_t utf8_lossy(const unsigned char *s, size_t n, char *out, int keep_tail, size_t *tail) {
    size_t w = 0;
    if (tail) *tail = 0;
    for (size_t i = 0; i < n;) {
        size_t l;
        int r = qw_tok_utf8_next(s + i, n - i, &l);
        if (r == 1) {
            if (out) memcpy(out + w, s + i, l);
            w += l;
        } else if (r == -1 && keep_tail) {
            *tail = l;
            return w;
        } else {
            if (out) memcpy(out + w, k_fffd, 3);
            w += 3;
        }
        i += l;
    }
    return w;
}

qw_status qw_tok_decode(const qw_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **out,
                        size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        if (!qw_tok_token_bytes(t, ids[i], &l) || (skip_special && qw_tok_is_special(t, ids[i]))) continue;
        total += l;
    }
    unsigned char *raw = malloc(total + 1);
    if (!raw) return qw_error(QW_ERR_NOMEM, "decode: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *b = qw_tok_token_bytes(t, ids[i], &l);
        if (!b || (skip_special && qw_tok_is_special(t, ids[i]))) continue;
        memcpy(raw + k, b, l);
        k += l;
    }
    size_t need = utf8_lossy(raw, k, NULL, 0, NULL);
    char *o = malloc(need + 1);
    if (!o) {
        free(raw);
        return qw_error(QW_ERR_NOMEM, "decode: out of memory");
    }
    utf8_lossy(raw, k, o, 0, NULL);
    o[need] = 0;
    free(raw);
    *out = o;
    if (len) *len = need;
    return QW_OK;
}

void qw_tok_stream_init(qw_tok_stream *s) { memset(s, 0, sizeof *s); }

// The held-back bytes are always the valid start of one character (at most 3 bytes), so only the
// first character of a new token can straddle; it is completed in a small buffer, the rest of the
// token is scanned in place.
size_t qw_tok_stream_push(qw_tok_stream *s, const qw_tokenizer *t, int32_t id, char *out, size_t cap) {
    size_t tl;
    const unsigned char *tok = (const unsigned char *)qw_tok_token_bytes(t, id, &tl);
    if (!tok) return 0;
    QW_ASSERT(s->n_pending >= 0 && s->n_pending <= 3);
    size_t np = (size_t)s->n_pending, used = 0, w = 0;
    unsigned char head[8];
    size_t head_w = 0, head_n = 0; // output of the straddling character, and whether it was resolved
    char head_out[4];
    int head_pending = 0;
    if (np > 0) {
        size_t take = tl < 4 ? tl : 4, l;
        memcpy(head, s->pending, np);
        memcpy(head + np, tok, take);
        int r = qw_tok_utf8_next(head, np + take, &l);
        if (r == -1) {
            head_pending = 1; // still unfinished: all of the token joins the pending bytes
            used = take;
            head_n = np + take;
        } else {
            if (r == 1) memcpy(head_out, head, l);
            else memcpy(head_out, k_fffd, 3);
            head_w = r == 1 ? l : 3;
            used = l > np ? l - np : 0; // an invalid subpart never ends inside the pending bytes
        }
    }
    size_t tail = 0, body = 0;
    if (!head_pending) body = utf8_lossy(tok + used, tl - used, NULL, 1, &tail);
    w = head_w + body;
    if (w > cap) return w;
    if (head_pending) {
        memcpy(s->pending, head, head_n);
        s->n_pending = (int)head_n;
        return 0;
    }
    memcpy(out, head_out, head_w);
    utf8_lossy(tok + used, tl - used, out + head_w, 1, &tail);
    memcpy(s->pending, tok + tl - tail, tail);
    s->n_pending = (int)tail;
    return w;
}

size_t qw_tok_stream_flush(qw_tok_stream *s, char *out, size_t cap) {
    if (s->n_pending == 0) return 0;
    if (cap < 3) return 3;
    memcpy(out, k_fffd, 3);
    s->n_pending = 0;
    return 3;
}
