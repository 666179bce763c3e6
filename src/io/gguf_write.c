// io/gguf_write: builds a GGUF v3 file (metadata of every type, tensors of any qw_type, data aligned
// to 32) and writes it atomically in one pass, pulling each tensor's bytes only when it is written.
#include "io_internal.h"

typedef struct {
    qw_tensor t;
    qw_gguf_fill_fn fill;
    void *ctx;
    uint64_t offset;
} wtensor;

struct qw_gguf_writer {
    uint8_t *meta; // serialized key/value pairs, in the order they were set
    size_t len, cap;
    int64_t n_kv;
    char **keys;
    int oom;
    char *dup_key; // first key set twice
    wtensor *tensors;
    int64_t n_tensors, cap_tensors;
};

qw_status qw_gguf_writer_init(qw_gguf_writer **w) {
    *w = calloc(1, sizeof **w);
    return *w ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
}

void qw_gguf_writer_free(qw_gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    free(w->meta);
    free(w->dup_key);
    free(w->tensors);
    free(w);
}

static void put(qw_gguf_writer *w, const void *p, size_t n) {
    if (w->oom) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n) cap *= 2;
        uint8_t *m = realloc(w->meta, cap);
        if (!m) {
            w->oom = 1;
            return;
        }
        w->meta = m;
        w->cap = cap;
    }
    memcpy(w->meta + w->len, p, n);
    w->len += n;
}
static void put_u32(qw_gguf_writer *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(qw_gguf_writer *w, uint64_t v) { put(w, &v, 8); }
static void put_str(qw_gguf_writer *w, const char *s) {
    size_t n = strlen(s);
    put_u64(w, n);
    put(w, s, n);
}

// Starts a pair; returns 0 (and writes nothing) for a key already set.
static int begin_kv(qw_gguf_writer *w, const char *key, qw_gguf_type type) {
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0) {
            if (!w->dup_key) w->dup_key = qw_strdup(key);
            return 0;
        }
    char **k = realloc(w->keys, sizeof *k * (size_t)(w->n_kv + 1));
    char *copy = qw_strdup(key);
    if (!k || !copy) {
        if (k) w->keys = k;
        free(copy);
        w->oom = 1;
        return 0;
    }
    w->keys = k;
    w->keys[w->n_kv++] = copy;
    put_str(w, key);
    put_u32(w, (uint32_t)type);
    return 1;
}

void qw_gguf_set_val(qw_gguf_writer *w, const char *key, qw_gguf_type type, const void *v) {
    QW_ASSERT(qw_gguf_type_size(type) > 0);
    if (begin_kv(w, key, type)) put(w, v, qw_gguf_type_size(type));
}
void qw_gguf_set_u32(qw_gguf_writer *w, const char *key, uint32_t v) { qw_gguf_set_val(w, key, QW_GGUF_UINT32, &v); }
void qw_gguf_set_i32(qw_gguf_writer *w, const char *key, int32_t v) { qw_gguf_set_val(w, key, QW_GGUF_INT32, &v); }
void qw_gguf_set_u64(qw_gguf_writer *w, const char *key, uint64_t v) { qw_gguf_set_val(w, key, QW_GGUF_UINT64, &v); }
void qw_gguf_set_f32(qw_gguf_writer *w, const char *key, float v) { qw_gguf_set_val(w, key, QW_GGUF_FLOAT32, &v); }
void qw_gguf_set_bool(qw_gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    qw_gguf_set_val(w, key, QW_GGUF_BOOL, &b);
}
void qw_gguf_set_str(qw_gguf_writer *w, const char *key, const char *v) {
    if (begin_kv(w, key, QW_GGUF_STRING)) put_str(w, v);
}

void qw_gguf_set_arr(qw_gguf_writer *w, const char *key, qw_gguf_type elem, const void *data, uint64_t n) {
    size_t es = qw_gguf_type_size(elem);
    QW_ASSERT(es > 0);
    if (!begin_kv(w, key, QW_GGUF_ARRAY)) return;
    put_u32(w, (uint32_t)elem);
    put_u64(w, n);
    size_t bytes;
    if (!qw_mul_size((size_t)n, es, &bytes)) w->oom = 1;
    else put(w, data, bytes);
}

void qw_gguf_set_arr_str(qw_gguf_writer *w, const char *key, const char *const *strs, uint64_t n) {
    if (!begin_kv(w, key, QW_GGUF_ARRAY)) return;
    put_u32(w, QW_GGUF_STRING);
    put_u64(w, n);
    for (uint64_t i = 0; i < n; i++) put_str(w, strs[i]);
}

int64_t qw_gguf_add_tensor(qw_gguf_writer *w, const qw_tensor *t, qw_gguf_fill_fn fill, void *ctx) {
    if (w->n_tensors == w->cap_tensors) {
        int64_t cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
        wtensor *p = realloc(w->tensors, sizeof *p * (size_t)cap);
        if (!p) {
            w->oom = 1;
            return -1;
        }
        w->tensors = p;
        w->cap_tensors = cap;
    }
    wtensor *e = &w->tensors[w->n_tensors];
    e->t = *t;
    e->t.nbytes = qw_type_row_bytes(t->type, qw_tensor_cols(t));
    QW_ASSERT(e->t.nbytes || qw_tensor_cols(t) == 0); // rows must be whole blocks: the caller checks
    size_t nb;
    if (!qw_mul_size(e->t.nbytes, (size_t)qw_tensor_rows(t), &nb)) w->oom = 1;
    e->t.nbytes = nb;
    e->fill = fill;
    e->ctx = ctx;
    return w->n_tensors++;
}

static size_t pad_to(size_t n, size_t a) { return (n + a - 1) / a * a; }

static qw_status write_all(qw_gguf_writer *w, qw_atomic_file *af, const char *path) {
    static const uint8_t zeros[QW_GGUF_DEFAULT_ALIGNMENT];
    const size_t A = QW_GGUF_DEFAULT_ALIGNMENT;
    // header and tensor infos go into one buffer after the metadata, then out in one write
    qw_gguf_writer hdr = {0};
    put(&hdr, "GGUF", 4);
    put_u32(&hdr, 3);
    put_u64(&hdr, (uint64_t)w->n_tensors);
    put_u64(&hdr, (uint64_t)w->n_kv);
    put(&hdr, w->meta, w->len);
    uint64_t off = 0;
    size_t max_bytes = 0;
    for (int64_t i = 0; i < w->n_tensors; i++) {
        wtensor *e = &w->tensors[i];
        QW_ASSERT(strlen(e->t.name) > 0 && e->t.n_dims >= 1 && e->t.n_dims <= QW_MAX_DIMS);
        put_str(&hdr, e->t.name);
        put_u32(&hdr, (uint32_t)e->t.n_dims);
        for (int d = e->t.n_dims - 1; d >= 0; d--) put_u64(&hdr, (uint64_t)e->t.shape[d]);
        put_u32(&hdr, (uint32_t)e->t.type);
        put_u64(&hdr, off);
        e->offset = off;
        off = pad_to(off + e->t.nbytes, A);
        if (e->fill && e->t.nbytes > max_bytes) max_bytes = e->t.nbytes;
    }
    put(&hdr, zeros, pad_to(hdr.len, A) - hdr.len);
    if (hdr.oom) {
        free(hdr.meta);
        return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    }
    qw_status s = qw_atomic_write(af, hdr.meta, hdr.len);
    free(hdr.meta);
    void *buf = max_bytes ? malloc(max_bytes) : NULL;
    if (s == QW_OK && max_bytes && !buf) s = qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    for (int64_t i = 0; i < w->n_tensors && s == QW_OK; i++) {
        wtensor *e = &w->tensors[i];
        const void *src = e->t.data;
        if (e->fill) {
            s = e->fill(e->ctx, i, buf, e->t.nbytes);
            src = buf;
        } else if (e->t.nbytes) {
            QW_ASSERT(src);
        }
        if (s == QW_OK) s = qw_atomic_write(af, src, e->t.nbytes);
        if (s == QW_OK) s = qw_atomic_write(af, zeros, pad_to(e->t.nbytes, A) - e->t.nbytes);
    }
    free(buf);
    return s;
}

qw_status qw_gguf_write(qw_gguf_writer *w, const char *path) {
    if (w->oom) return qw_error(QW_ERR_NOMEM, "%s: out of memory building the GGUF header", path);
    if (w->dup_key) return qw_error(QW_ERR_ARG, "%s: metadata key %s set twice", path, w->dup_key);
    qw_atomic_file af;
    QW_TRY(qw_atomic_open(&af, path));
    qw_status s = write_all(w, &af, path);
    if (s != QW_OK) {
        qw_atomic_abort(&af);
        return s;
    }
    return qw_atomic_commit(&af);
}
