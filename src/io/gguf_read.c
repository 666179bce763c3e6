// io/gguf_read: parses and validates a GGUF file (v2/v3) over a mapping: metadata of every value type,
// tensor infos and data offsets. The input is hostile: every count and offset is checked before use.
#include "io_internal.h"

#include <limits.h>

#define MAX_NAME 96 // qw_tensor's name buffer; llama.cpp's own limit (64) is smaller

typedef struct {
    const uint8_t *p;
    size_t size, pos;
    const char *path;
} reader;

static qw_status truncated(const reader *r, const char *what) {
    return qw_error(QW_ERR_FORMAT, "%s: truncated GGUF: %s at byte %zu runs past the end (%zu bytes)",
                    r->path, what, r->pos, r->size);
}

static size_t left(const reader *r) { return r->size - r->pos; }

static qw_status rd_bytes(reader *r, size_t n, const void **out, const char *what) {
    if (n > left(r)) return truncated(r, what);
    *out = r->p + r->pos;
    r->pos += n;
    return QW_OK;
}

static qw_status rd_u32(reader *r, uint32_t *v, const char *what) {
    const void *p = NULL;
    QW_TRY(rd_bytes(r, 4, &p, what));
    memcpy(v, p, 4);
    return QW_OK;
}

static qw_status rd_u64(reader *r, uint64_t *v, const char *what) {
    const void *p = NULL;
    QW_TRY(rd_bytes(r, 8, &p, what));
    memcpy(v, p, 8);
    return QW_OK;
}

static qw_status rd_str(reader *r, qw_gguf_str *s, const char *what) {
    uint64_t n;
    QW_TRY(rd_u64(r, &n, what));
    if (n > left(r))
        return qw_error(QW_ERR_FORMAT, "%s: %s has length %llu, past the end of the file", r->path, what,
                        (unsigned long long)n);
    const void *p = NULL;
    QW_TRY(rd_bytes(r, (size_t)n, &p, what));
    s->s = p;
    s->len = n;
    return QW_OK;
}

size_t qw_gguf_type_size(qw_gguf_type t) {
    switch (t) {
    case QW_GGUF_UINT8: case QW_GGUF_INT8: case QW_GGUF_BOOL: return 1;
    case QW_GGUF_UINT16: case QW_GGUF_INT16: return 2;
    case QW_GGUF_UINT32: case QW_GGUF_INT32: case QW_GGUF_FLOAT32: return 4;
    case QW_GGUF_UINT64: case QW_GGUF_INT64: case QW_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static qw_status read_kv(reader *r, qw_gguf_kv *kv) {
    qw_gguf_str key;
    QW_TRY(rd_str(r, &key, "metadata key"));
    kv->key = malloc((size_t)key.len + 1);
    if (!kv->key) return qw_error(QW_ERR_NOMEM, "%s: out of memory", r->path);
    memcpy(kv->key, key.s, (size_t)key.len);
    kv->key[key.len] = 0;
    if (strlen(kv->key) != key.len)
        return qw_error(QW_ERR_FORMAT, "%s: metadata key holds a NUL byte", r->path);
    uint32_t t;
    QW_TRY(rd_u32(r, &t, "metadata value type"));
    kv->type = (qw_gguf_type)t;
    kv->n = 1;
    if (t == QW_GGUF_STRING) return rd_str(r, &kv->str, kv->key);
    if (t == QW_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        QW_TRY(rd_u32(r, &et, "array element type"));
        QW_TRY(rd_u64(r, &n, "array length"));
        kv->elem_type = (qw_gguf_type)et;
        kv->n = n;
        if (et == QW_GGUF_STRING) {
            if (n > left(r) / 8) // every string takes at least its 8-byte length
                return qw_error(QW_ERR_FORMAT, "%s: %s: array of %llu strings cannot fit in the file",
                                r->path, kv->key, (unsigned long long)n);
            kv->strs = malloc(sizeof(qw_gguf_str) * (size_t)(n ? n : 1));
            if (!kv->strs) return qw_error(QW_ERR_NOMEM, "%s: out of memory", r->path);
            for (uint64_t i = 0; i < n; i++) QW_TRY(rd_str(r, &kv->strs[i], kv->key));
            return QW_OK;
        }
        size_t es = qw_gguf_type_size((qw_gguf_type)et);
        if (!es)
            return qw_error(QW_ERR_FORMAT, "%s: %s: array of unsupported element type %u", r->path,
                            kv->key, et);
        if (n > left(r) / es)
            return qw_error(QW_ERR_FORMAT, "%s: %s: array of %llu elements runs past the end of the file",
                            r->path, kv->key, (unsigned long long)n);
        return rd_bytes(r, (size_t)n * es, &kv->data, kv->key);
    }
    size_t es = qw_gguf_type_size((qw_gguf_type)t);
    if (!es) return qw_error(QW_ERR_FORMAT, "%s: %s: unknown value type %u", r->path, kv->key, t);
    return rd_bytes(r, es, &kv->data, kv->key);
}

static int64_t scalar_i64(const void *p, qw_gguf_type t, int *ok) {
    *ok = 1;
    switch (t) {
    case QW_GGUF_UINT8: case QW_GGUF_BOOL: return *(const uint8_t *)p;
    case QW_GGUF_INT8: return *(const int8_t *)p;
    case QW_GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case QW_GGUF_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case QW_GGUF_UINT32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case QW_GGUF_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case QW_GGUF_INT64: { int64_t v; memcpy(&v, p, 8); return v; }
    case QW_GGUF_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v > INT64_MAX) *ok = 0;
        return (int64_t)v;
    }
    default: *ok = 0; return 0;
    }
}

static double scalar_f64(const void *p, qw_gguf_type t, int *ok) {
    if (t == QW_GGUF_FLOAT32) {
        float v;
        memcpy(&v, p, 4);
        *ok = 1;
        return v;
    }
    if (t == QW_GGUF_FLOAT64) {
        double v;
        memcpy(&v, p, 8);
        *ok = 1;
        return v;
    }
    return (double)scalar_i64(p, t, ok);
}

int64_t qw_gguf_arr_i64(const qw_gguf_kv *kv, uint64_t i) {
    QW_ASSERT(kv->type == QW_GGUF_ARRAY && i < kv->n && kv->data);
    int ok;
    return scalar_i64((const uint8_t *)kv->data + i * qw_gguf_type_size(kv->elem_type), kv->elem_type, &ok);
}

double qw_gguf_arr_f64(const qw_gguf_kv *kv, uint64_t i) {
    QW_ASSERT(kv->type == QW_GGUF_ARRAY && i < kv->n && kv->data);
    int ok;
    return scalar_f64((const uint8_t *)kv->data + i * qw_gguf_type_size(kv->elem_type), kv->elem_type, &ok);
}

static int cmp_str(const char *a, const char *b) { return strcmp(a, b); }

const qw_gguf_kv *qw_gguf_find_kv(const qw_gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (cmp_str(g->kv[i].key, key) == 0) return &g->kv[i];
    return NULL;
}

qw_status qw_gguf_get_i64(const qw_gguf *g, const char *key, int64_t *out) {
    const qw_gguf_kv *kv = qw_gguf_find_kv(g, key);
    if (!kv) return qw_error(QW_ERR_FORMAT, "%s: metadata %s is missing", g->path, key);
    int ok = 0;
    int64_t v = kv->type != QW_GGUF_ARRAY && kv->type != QW_GGUF_STRING ? scalar_i64(kv->data, kv->type, &ok) : 0;
    if (!ok) return qw_error(QW_ERR_FORMAT, "%s: metadata %s is not an integer", g->path, key);
    *out = v;
    return QW_OK;
}

qw_status qw_gguf_get_f64(const qw_gguf *g, const char *key, double *out) {
    const qw_gguf_kv *kv = qw_gguf_find_kv(g, key);
    if (!kv) return qw_error(QW_ERR_FORMAT, "%s: metadata %s is missing", g->path, key);
    int ok = 0;
    double v = kv->type != QW_GGUF_ARRAY && kv->type != QW_GGUF_STRING ? scalar_f64(kv->data, kv->type, &ok) : 0;
    if (!ok) return qw_error(QW_ERR_FORMAT, "%s: metadata %s is not a number", g->path, key);
    *out = v;
    return QW_OK;
}

qw_status qw_gguf_get_str(const qw_gguf *g, const char *key, qw_gguf_str *out) {
    const qw_gguf_kv *kv = qw_gguf_find_kv(g, key);
    if (!kv) return qw_error(QW_ERR_FORMAT, "%s: metadata %s is missing", g->path, key);
    if (kv->type != QW_GGUF_STRING) return qw_error(QW_ERR_FORMAT, "%s: metadata %s is not a string", g->path, key);
    *out = kv->str;
    return QW_OK;
}

// One tensor's name and data range, sorted once by name (duplicates, lookup) and once by offset
// (overlaps), so hostile files with many tensors cost n log n, not n^2.
typedef struct {
    const char *name;
    int64_t idx;
    uint64_t begin, end;
} sort_item;

static int by_name(const void *a, const void *b) {
    return strcmp(((const sort_item *)a)->name, ((const sort_item *)b)->name);
}
static int by_begin(const void *a, const void *b) {
    uint64_t x = ((const sort_item *)a)->begin, y = ((const sort_item *)b)->begin;
    return x < y ? -1 : x > y;
}

// ggml's names for the types qwick lacks, so a refusal says what the file holds.
static const char *ggml_type_name(uint32_t t) {
    static const char *const names[] = {
        [3] = "Q4_1",     [6] = "Q5_0",     [7] = "Q5_1",    [9] = "Q8_1",    [10] = "Q2_K",  [11] = "Q3_K",
        [15] = "Q8_K",    [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S", [21] = "IQ3_S",
        [22] = "IQ2_S",   [23] = "IQ4_XS",  [24] = "I8",     [25] = "I16",    [26] = "I32",   [27] = "I64",
        [28] = "F64",     [29] = "IQ1_M",   [34] = "TQ1_0",  [35] = "TQ2_0",  [39] = "MXFP4",
    };
    return t < sizeof names / sizeof names[0] ? names[t] : NULL;
}

static qw_status read_tensor_info(reader *r, qw_gguf *g, int64_t i) {
    qw_tensor *t = &g->tensors[i];
    qw_gguf_str name;
    QW_TRY(rd_str(r, &name, "tensor name"));
    if (name.len >= MAX_NAME || memchr(name.s, 0, (size_t)name.len))
        return qw_error(QW_ERR_FORMAT, "%s: tensor %lld has a name longer than %d bytes or with a NUL byte",
                        r->path, (long long)i, MAX_NAME - 1);
    memcpy(t->name, name.s, (size_t)name.len);
    t->name[name.len] = 0;
    uint32_t n_dims, type;
    QW_TRY(rd_u32(r, &n_dims, "tensor n_dims"));
    if (n_dims < 1 || n_dims > QW_MAX_DIMS)
        return qw_error(QW_ERR_FORMAT, "%s: tensor %s has %u dims (1 to %d allowed)", r->path, t->name,
                        n_dims, QW_MAX_DIMS);
    t->n_dims = (int)n_dims;
    uint64_t ne[QW_MAX_DIMS];
    for (uint32_t d = 0; d < n_dims; d++) QW_TRY(rd_u64(r, &ne[d], "tensor dims"));
    QW_TRY(rd_u32(r, &type, "tensor type"));
    QW_TRY(rd_u64(r, &g->offsets[i], "tensor offset"));
    const qw_type_traits *tr = qw_type_get((int)type);
    if (!tr)
        return qw_error(QW_ERR_UNSUPPORTED, "%s: tensor %s has type %u%s%s%s, which qwick does not know", r->path,
                        t->name, type, ggml_type_name(type) ? " (" : "", ggml_type_name(type) ? ggml_type_name(type) : "",
                        ggml_type_name(type) ? ")" : "");
    t->type = (qw_type)type;
    size_t numel = 1, bound = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        // a zero dim must not hide an overflow in the others: products of any subset must fit
        if (ne[d] > INT64_MAX || !qw_mul_size(bound, ne[d] ? (size_t)ne[d] : 1, &bound) || bound > INT64_MAX)
            return qw_error(QW_ERR_FORMAT, "%s: tensor %s: dims overflow", r->path, t->name);
        numel *= (size_t)ne[d];
        // GGUF lists the innermost dim first; qw_tensor outermost first
        t->shape[n_dims - 1 - d] = (int64_t)ne[d];
    }
    if (ne[0] % (uint64_t)tr->block_size)
        return qw_error(QW_ERR_FORMAT, "%s: tensor %s: row length %llu is not a multiple of %s's block of %d",
                        r->path, t->name, (unsigned long long)ne[0], tr->name, tr->block_size);
    if (!qw_mul_size(numel / (size_t)tr->block_size, (size_t)tr->block_bytes, &t->nbytes))
        return qw_error(QW_ERR_FORMAT, "%s: tensor %s: size overflows", r->path, t->name);
    if (g->offsets[i] % g->alignment)
        return qw_error(QW_ERR_FORMAT, "%s: tensor %s: offset %llu is not a multiple of the alignment %zu",
                        r->path, t->name, (unsigned long long)g->offsets[i], g->alignment);
    return QW_OK;
}

// Checks names are unique and the data ranges are inside the file and disjoint; builds by_name.
static qw_status check_tensors(qw_gguf *g, size_t size) {
    int64_t n = g->n_tensors;
    sort_item *it = malloc(sizeof *it * (size_t)(n ? n : 1));
    g->by_name = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!it || !g->by_name) {
        free(it);
        return qw_error(QW_ERR_NOMEM, "%s: out of memory", g->path);
    }
    qw_status s = QW_OK;
    for (int64_t i = 0; i < n && s == QW_OK; i++) {
        qw_tensor *t = &g->tensors[i];
        size_t begin = 0, end = 0;
        if (!qw_add_size(g->data_offset, (size_t)g->offsets[i], &begin) || g->offsets[i] > SIZE_MAX ||
            !qw_add_size(begin, t->nbytes, &end) || end > size)
            s = qw_error(QW_ERR_FORMAT, "%s: tensor %s: data (offset %llu, %zu bytes) runs past the end of "
                         "the file (%zu bytes)", g->path, t->name, (unsigned long long)g->offsets[i],
                         t->nbytes, size);
        it[i] = (sort_item){t->name, i, begin, end};
    }
    if (s == QW_OK) {
        qsort(it, (size_t)n, sizeof *it, by_name);
        for (int64_t i = 0; i < n; i++) g->by_name[i] = it[i].idx;
        for (int64_t i = 1; i < n && s == QW_OK; i++)
            if (strcmp(it[i - 1].name, it[i].name) == 0)
                s = qw_error(QW_ERR_FORMAT, "%s: tensor %s appears twice", g->path, it[i].name);
    }
    if (s == QW_OK) {
        qsort(it, (size_t)n, sizeof *it, by_begin);
        for (int64_t i = 1; i < n && s == QW_OK; i++)
            if (it[i].begin < it[i - 1].end && it[i].end > it[i].begin && it[i - 1].end > it[i - 1].begin)
                s = qw_error(QW_ERR_FORMAT, "%s: tensors %s and %s overlap", g->path, it[i - 1].name, it[i].name);
    }
    free(it);
    return s;
}

static int by_key(const void *a, const void *b) {
    return strcmp((*(const qw_gguf_kv *const *)a)->key, (*(const qw_gguf_kv *const *)b)->key);
}

static qw_status check_keys(qw_gguf *g) {
    const qw_gguf_kv **p = malloc(sizeof *p * (size_t)(g->n_kv ? g->n_kv : 1));
    if (!p) return qw_error(QW_ERR_NOMEM, "%s: out of memory", g->path);
    for (int64_t i = 0; i < g->n_kv; i++) p[i] = &g->kv[i];
    qsort(p, (size_t)g->n_kv, sizeof *p, by_key);
    qw_status s = QW_OK;
    for (int64_t i = 1; i < g->n_kv && s == QW_OK; i++)
        if (strcmp(p[i - 1]->key, p[i]->key) == 0)
            s = qw_error(QW_ERR_FORMAT, "%s: metadata key %s appears twice", g->path, p[i]->key);
    free(p);
    return s;
}

static qw_status parse(qw_gguf *g, const uint8_t *buf, size_t size) {
    reader r = {buf, size, 0, g->path};
    const void *magic = NULL;
    if (size < 4 || (rd_bytes(&r, 4, &magic, "magic"), memcmp(magic, "GGUF", 4) != 0))
        return qw_error(QW_ERR_FORMAT, "%s: not a GGUF file (bad magic)", g->path);
    QW_TRY(rd_u32(&r, &g->version, "version"));
    if (g->version != 2 && g->version != 3)
        return qw_error(QW_ERR_UNSUPPORTED, "%s: GGUF version %u (qwick reads versions 2 and 3)", g->path,
                        g->version);
    uint64_t nt, nkv;
    QW_TRY(rd_u64(&r, &nt, "tensor count"));
    QW_TRY(rd_u64(&r, &nkv, "metadata count"));
    // a key/value takes at least 8 + 1 + 4 + 1 bytes, a tensor info at least 8 + 1 + 4 + 8 + 4 + 8
    if (nkv > left(&r) / 14 || nt > left(&r) / 33)
        return qw_error(QW_ERR_FORMAT, "%s: header claims %llu tensors and %llu metadata entries, more "
                        "than the file's %zu bytes can hold", g->path, (unsigned long long)nt,
                        (unsigned long long)nkv, size);
    g->n_kv = (int64_t)nkv;
    g->kv = calloc((size_t)(nkv ? nkv : 1), sizeof *g->kv);
    if (!g->kv) return qw_error(QW_ERR_NOMEM, "%s: out of memory", g->path);
    for (int64_t i = 0; i < g->n_kv; i++) {
        qw_status s = read_kv(&r, &g->kv[i]);
        if (s != QW_OK) {
            g->n_kv = i + 1; // free what was read
            return s;
        }
    }
    QW_TRY(check_keys(g));
    g->alignment = QW_GGUF_DEFAULT_ALIGNMENT;
    if (qw_gguf_find_kv(g, "general.alignment")) {
        int64_t a;
        QW_TRY(qw_gguf_get_i64(g, "general.alignment", &a));
        // below 8 a tensor's floats would sit misaligned in the mapping
        if (a < 8 || a > (1 << 24) || (a & (a - 1)))
            return qw_error(QW_ERR_UNSUPPORTED, "%s: general.alignment %lld is not a power of two from 8 "
                            "to 2^24", g->path, (long long)a);
        g->alignment = (size_t)a;
    }
    g->n_tensors = (int64_t)nt;
    g->tensors = calloc((size_t)(nt ? nt : 1), sizeof *g->tensors);
    g->offsets = calloc((size_t)(nt ? nt : 1), sizeof *g->offsets);
    if (!g->tensors || !g->offsets) return qw_error(QW_ERR_NOMEM, "%s: out of memory", g->path);
    for (int64_t i = 0; i < g->n_tensors; i++) QW_TRY(read_tensor_info(&r, g, i));
    g->data_offset = (r.pos + g->alignment - 1) / g->alignment * g->alignment;
    QW_TRY(check_tensors(g, size));
    for (int64_t i = 0; i < g->n_tensors; i++)
        g->tensors[i].data = (void *)(buf + g->data_offset + g->offsets[i]);
    return QW_OK;
}

qw_status qw_gguf_parse(qw_gguf *g, const uint8_t *buf, size_t size, const char *path) {
    memset(g, 0, sizeof *g);
    g->path = qw_strdup(path);
    if (!g->path) return qw_error(QW_ERR_NOMEM, "out of memory");
    qw_status s = parse(g, buf, size);
    if (s != QW_OK) qw_gguf_close(g);
    return s;
}

qw_status qw_gguf_open(qw_gguf *g, const char *path) {
    memset(g, 0, sizeof *g);
    qw_mmap m;
    QW_TRY(qw_mmap_open(&m, path));
    qw_status s = qw_gguf_parse(g, m.data, m.size, path);
    if (s != QW_OK) {
        qw_mmap_close(&m);
        return s;
    }
    g->map = m;
    return QW_OK;
}

const qw_tensor *qw_gguf_find_tensor(const qw_gguf *g, const char *name) {
    int64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->tensors[g->by_name[mid]].name, name);
        if (c == 0) return &g->tensors[g->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

void qw_gguf_close(qw_gguf *g) {
    for (int64_t i = 0; g->kv && i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].strs);
    }
    free(g->kv);
    free(g->tensors);
    free(g->offsets);
    free(g->by_name);
    free(g->path);
    if (g->map.data) qw_mmap_close(&g->map);
    memset(g, 0, sizeof *g);
}
