// train/data: training data as token sequences with a loss mask: plain text packed into fixed-length
// sequences, or JSONL examples rendered with the ChatML template (loss on the answers only); epochs
// shuffled by a seeded permutation so a run, and a resumed run, sees the same order.
#include "train.h"

#include <cjson/cJSON.h>

#define QW_DATA_MAX_FILE ((size_t)1 << 34) // 16 GB: larger is surely not meant as one training file

typedef struct {
    int32_t *tok;
    uint8_t *mask;
    size_t n, cap;
} tokbuf;

static int tb_push(tokbuf *b, const int32_t *ids, size_t n, uint8_t mask) {
    if (b->n + n > b->cap) {
        size_t c = (b->n + n) * 2 + 1024;
        int32_t *t = realloc(b->tok, c * sizeof *t);
        if (!t) return 0;
        b->tok = t;
        uint8_t *m = realloc(b->mask, c);
        if (!m) return 0;
        b->mask = m;
        b->cap = c;
    }
    memcpy(b->tok + b->n, ids, n * sizeof *ids);
    memset(b->mask + b->n, mask, n);
    b->n += n;
    return 1;
}

static qw_status encode_push(tokbuf *b, const qw_tokenizer *tok, const char *s, size_t len, uint8_t mask) {
    int32_t *ids;
    size_t n;
    QW_TRY(qw_tok_encode(tok, s, len, 1, &ids, &n));
    int ok = tb_push(b, ids, n, mask);
    free(ids);
    return ok ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
}

void qw_dataset_free(qw_dataset *d) {
    free(d->off);
    free(d->tok);
    free(d->mask);
    memset(d, 0, sizeof *d);
}

static int32_t pad_id(const qw_tokenizer *tok) {
    int32_t id = qw_tok_find(tok, "<|endoftext|>");
    return id >= 0 ? id : 0;
}

qw_status qw_dataset_load_text(qw_dataset *d, const qw_tokenizer *tok, const char *path, int ctx) {
    memset(d, 0, sizeof *d);
    char *text;
    size_t len;
    QW_TRY(qw_file_read_all(path, QW_DATA_MAX_FILE, &text, &len));
    if (len == 0) {
        free(text);
        return qw_error(QW_ERR_FORMAT, "%s: empty file: nothing to train on", path);
    }
    tokbuf b = {0};
    qw_status s = QW_OK;
    // encoded in pieces of about 1 MB cut after a blank line (or a newline), so memory stays bounded
    for (size_t i = 0; i < len && s == QW_OK;) {
        size_t end = i + ((size_t)1 << 20);
        if (end >= len) end = len;
        else {
            size_t win = len - end < 65536 ? len - end : 65536;
            const char *p = memmem(text + end, win, "\n\n", 2);
            if (p) end = (size_t)(p - text) + 2;
            else {
                const char *q = memchr(text + end, '\n', len - end);
                end = q ? (size_t)(q - text) + 1 : len;
            }
        }
        s = encode_push(&b, tok, text + i, end - i, 1);
        i = end;
    }
    free(text);
    int32_t eot = qw_tok_find(tok, "<|endoftext|>");
    if (s == QW_OK && eot >= 0 && !tb_push(&b, &eot, 1, 1)) s = qw_error(QW_ERR_NOMEM, "out of memory");
    if (s == QW_OK && b.n < (size_t)ctx + 1)
        s = qw_error(QW_ERR_FORMAT, "%s: %zu tokens, fewer than one sequence of %d + 1 (lower --ctx or give more text)",
                     path, b.n, ctx);
    if (s != QW_OK) {
        free(b.tok);
        free(b.mask);
        return s;
    }
    d->tok = b.tok;
    d->mask = b.mask;
    d->n_tok = (int64_t)b.n;
    d->seq_len = ctx;
    d->n_seq = (d->n_tok - 1) / ctx;
    d->pad_id = pad_id(tok);
    return QW_OK;
}

// ---------------------------------------------------------------------------------------------------
// JSONL

static qw_status bad(const char *path, int64_t line, const char *what) {
    return qw_error(QW_ERR_FORMAT, "%s:%lld: %s", path, (long long)line, what);
}

static const char *str_field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

// One example as tokens and mask; *n_answers counts the answer turns.
static qw_status encode_example(tokbuf *b, const qw_tokenizer *tok, const cJSON *o, const char *path, int64_t line) {
    if (!cJSON_IsObject(o)) return bad(path, line, "not a JSON object");
    qw_chat_message msgs[256];
    int n = 0;
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(o, "messages");
    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    if (jm && jp) return bad(path, line, "give either 'prompt'/'answer' or 'messages', not both");
    if (jp) {
        if (!cJSON_IsString(jp)) return bad(path, line, "'prompt' is not a string");
        const cJSON *ja = cJSON_GetObjectItemCaseSensitive(o, "answer");
        if (!ja) return bad(path, line, "a prompt without an 'answer'");
        if (!cJSON_IsString(ja)) return bad(path, line, "'answer' is not a string");
        if (!ja->valuestring[0]) return bad(path, line, "empty 'answer'");
        const char *sys = str_field(o, "system");
        if (sys) msgs[n++] = (qw_chat_message){"system", sys};
        msgs[n++] = (qw_chat_message){"user", jp->valuestring};
        msgs[n++] = (qw_chat_message){"assistant", ja->valuestring};
    } else if (jm) {
        if (!cJSON_IsArray(jm)) return bad(path, line, "'messages' is not an array");
        const cJSON *it;
        cJSON_ArrayForEach(it, jm) {
            if (n >= 256) return bad(path, line, "more than 256 messages");
            const char *role = str_field(it, "role"), *content = str_field(it, "content");
            if (!role || !content) return bad(path, line, "a message without a string 'role' and 'content'");
            msgs[n++] = (qw_chat_message){role, content};
        }
    } else {
        return bad(path, line, "no 'prompt'/'answer' and no 'messages'");
    }
    int n_answers = 0;
    size_t consumed = 0;
    char *prev = NULL; // the text rendered so far (prompt part of the last answer), for the prefix check
    for (int i = 1; i < n; i++) {
        if (strcmp(msgs[i].role, "assistant") != 0) continue;
        if (!msgs[i].content[0]) continue;
        char *p;
        QW_TRY(qw_chat_render(msgs, i, 1, &p));
        size_t pl = strlen(p);
        if (pl < consumed || (prev && strncmp(p, prev, consumed) != 0)) {
            free(p);
            free(prev);
            return bad(path, line, "the chat template does not render this conversation as a growing prefix");
        }
        qw_status s = encode_push(b, tok, p + consumed, pl - consumed, 0);
        // the answer and its <|im_end|> are the targets
        size_t al = strlen(msgs[i].content);
        char *ans = malloc(al + 16);
        if (!ans) s = qw_error(QW_ERR_NOMEM, "out of memory");
        if (s == QW_OK) {
            memcpy(ans, msgs[i].content, al);
            memcpy(ans + al, "<|im_end|>", 11);
            s = encode_push(b, tok, ans, al + 10, 1);
        }
        free(prev);
        prev = NULL;
        if (s == QW_OK) {
            prev = malloc(pl + al + 11);
            if (!prev) s = qw_error(QW_ERR_NOMEM, "out of memory");
            else {
                memcpy(prev, p, pl);
                memcpy(prev + pl, ans, al + 11);
            }
        }
        free(ans);
        free(p);
        if (s != QW_OK) {
            free(prev);
            return s;
        }
        consumed = pl + al + 10;
        n_answers++;
    }
    free(prev);
    if (n_answers == 0) return bad(path, line, "no assistant answer to learn (a prompt without an answer)");
    return QW_OK;
}

qw_status qw_dataset_load_jsonl(qw_dataset *d, const qw_tokenizer *tok, const char *path, int ctx) {
    memset(d, 0, sizeof *d);
    char *text;
    size_t len;
    QW_TRY(qw_file_read_all(path, QW_DATA_MAX_FILE, &text, &len));
    tokbuf all = {0}, ex = {0};
    size_t off_cap = 1024;
    d->off = malloc(off_cap * sizeof *d->off);
    qw_status s = d->off ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
    if (s == QW_OK) d->off[0] = 0;
    int64_t line = 0;
    for (char *p = text; s == QW_OK && p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *e = nl ? nl : text + len;
        line++;
        char *q = p;
        while (q < e && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q < e) {
            cJSON *o = cJSON_ParseWithLength(p, (size_t)(e - p));
            if (!o) {
                s = bad(path, line, "malformed JSON");
                break;
            }
            ex.n = 0;
            s = encode_example(&ex, tok, o, path, line);
            cJSON_Delete(o);
            if (s != QW_OK) break;
            if (ex.n > (size_t)ctx + 1) {
                if (d->n_skipped_long < 3)
                    qw_warn("%s:%lld: %zu tokens, longer than the context of %d + 1: skipped", path, (long long)line,
                            ex.n, ctx);
                d->n_skipped_long++;
            } else {
                if (!tb_push(&all, ex.tok, ex.n, 0)) s = qw_error(QW_ERR_NOMEM, "out of memory");
                else memcpy(all.mask + all.n - ex.n, ex.mask, ex.n);
                if ((size_t)d->n_seq + 2 > off_cap) {
                    off_cap *= 2;
                    int64_t *no = realloc(d->off, off_cap * sizeof *no);
                    if (!no) s = qw_error(QW_ERR_NOMEM, "out of memory");
                    else d->off = no;
                }
                if (s == QW_OK) d->off[++d->n_seq] = (int64_t)all.n;
            }
        }
        p = nl ? nl + 1 : text + len;
    }
    free(text);
    free(ex.tok);
    free(ex.mask);
    if (s == QW_OK && d->n_seq == 0)
        s = d->n_skipped_long ? qw_error(QW_ERR_FORMAT, "%s: every example (%lld) is longer than the context of %d",
                                         path, (long long)d->n_skipped_long, ctx)
                              : qw_error(QW_ERR_FORMAT, "%s: no examples (empty file)", path);
    d->tok = all.tok;
    d->mask = all.mask;
    d->n_tok = (int64_t)all.n;
    d->pad_id = pad_id(tok);
    if (s != QW_OK) {
        qw_dataset_free(d);
        return s;
    }
    if (d->n_skipped_long)
        qw_warn("%s: %lld of %lld examples skipped: longer than the context of %d tokens", path,
                (long long)d->n_skipped_long, (long long)(d->n_seq + d->n_skipped_long), ctx);
    return QW_OK;
}

qw_status qw_dataset_load(qw_dataset *d, const qw_tokenizer *tok, const char *path, int ctx) {
    size_t n = strlen(path);
    if ((n > 6 && strcmp(path + n - 6, ".jsonl") == 0) || (n > 5 && strcmp(path + n - 5, ".json") == 0))
        return qw_dataset_load_jsonl(d, tok, path, ctx);
    return qw_dataset_load_text(d, tok, path, ctx);
}

// ---------------------------------------------------------------------------------------------------
// batches

static void seq_span(const qw_dataset *d, int64_t i, int64_t *start, int64_t *len) {
    if (d->seq_len) {
        *start = i * d->seq_len;
        *len = d->seq_len + 1;
    } else {
        *start = d->off[i];
        *len = d->off[i + 1] - d->off[i];
    }
}

static int64_t seq_of(const qw_dataset *d, qw_data_order *o, int64_t pos) {
    int64_t e = pos / d->n_seq, w = pos % d->n_seq;
    if (!o->shuffle) return w;
    if (!o->perm || o->epoch_cached != e) {
        if (!o->perm) o->perm = malloc((size_t)d->n_seq * sizeof *o->perm);
        QW_ASSERT(o->perm);
        for (int64_t i = 0; i < d->n_seq; i++) o->perm[i] = i;
        qw_rng r;
        qw_rng_seed(&r, o->seed * 0x9e3779b97f4a7c15ull + (uint64_t)e + 1);
        for (int64_t i = d->n_seq - 1; i > 0; i--) {
            int64_t j = (int64_t)(qw_rng_u64(&r) % (uint64_t)(i + 1));
            int64_t t = o->perm[i];
            o->perm[i] = o->perm[j];
            o->perm[j] = t;
        }
        o->epoch_cached = e;
    }
    return o->perm[w];
}

int qw_dataset_batch(const qw_dataset *d, qw_data_order *o, int64_t pos, int B, int32_t *tokens, int32_t *targets,
                     uint8_t *mask) {
    int T = 1;
    for (int b = 0; b < B; b++) {
        int64_t st, len;
        seq_span(d, seq_of(d, o, pos + b), &st, &len);
        if (len - 1 > T) T = (int)(len - 1);
    }
    for (int b = 0; b < B; b++) {
        int64_t st, len;
        seq_span(d, seq_of(d, o, pos + b), &st, &len);
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)b * T + t;
            if (t + 1 < len) {
                tokens[i] = d->tok[st + t];
                targets[i] = d->tok[st + t + 1];
                mask[i] = d->mask[st + t + 1];
            } else {
                tokens[i] = t < len ? d->tok[st + t] : d->pad_id;
                targets[i] = d->pad_id;
                mask[i] = 0;
            }
        }
    }
    return T;
}

void qw_data_order_free(qw_data_order *o) {
    free(o->perm);
    o->perm = NULL;
}
