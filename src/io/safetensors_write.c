// io/safetensors_write: writes tensors as safetensors, one file or transformers-style shards with
// their index, always through a temporary file so a killed run leaves no half-written model.
#include "io_internal.h"

#include <errno.h>
#include <unistd.h>

static const char *st_dtype_name(qw_type t) {
    switch (t) {
    case QW_TYPE_F32: return "F32";
    case QW_TYPE_F16: return "F16";
    case QW_TYPE_BF16: return "BF16";
    default: return NULL;
    }
}

static int st_cmp_name(const void *a, const void *b) {
    return strcmp((*(const qw_tensor *const *)a)->name, (*(const qw_tensor *const *)b)->name);
}

// What the reader would refuse, refused before anything is written.
static qw_status st_check_tensors(const char *path, const qw_tensor *ts, int n) {
    if (n < 0 || (n > 0 && !ts)) return qw_error(QW_ERR_ARG, "%s: bad tensor list", path);
    for (int i = 0; i < n; i++) {
        const qw_tensor *t = &ts[i];
        size_t nl = strnlen(t->name, sizeof t->name);
        if (nl == 0 || nl == sizeof t->name)
            return qw_error(QW_ERR_ARG, "%s: tensor %d has an empty or unterminated name", path, i);
        if (!st_dtype_name(t->type))
            return qw_error(QW_ERR_UNSUPPORTED,
                            "%s: tensor '%s' is %s; safetensors holds only F32, F16 and BF16 here", path,
                            t->name, qw_type_name(t->type));
        if (t->n_dims < 0 || t->n_dims > QW_MAX_DIMS)
            return qw_error(QW_ERR_ARG, "%s: tensor '%s' has %d dimensions", path, t->name, t->n_dims);
        size_t numel = 1;
        for (int d = 0; d < t->n_dims; d++)
            if (t->shape[d] < 0 || !qw_mul_size(numel, (size_t)t->shape[d], &numel))
                return qw_error(QW_ERR_ARG, "%s: tensor '%s' has a bad shape", path, t->name);
        size_t nbytes;
        if (!qw_mul_size(numel, t->type == QW_TYPE_F32 ? 4 : 2, &nbytes) || nbytes != t->nbytes)
            return qw_error(QW_ERR_ARG, "%s: tensor '%s': nbytes %zu does not match its shape and type", path,
                            t->name, t->nbytes);
        if (!t->data && nbytes) return qw_error(QW_ERR_ARG, "%s: tensor '%s' has no data", path, t->name);
    }
    const qw_tensor **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    if (!sorted) return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) sorted[i] = &ts[i];
    qsort(sorted, (size_t)n, sizeof *sorted, st_cmp_name);
    qw_status s = QW_OK;
    for (int i = 1; i < n && s == QW_OK; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            s = qw_error(QW_ERR_ARG, "%s: tensor '%s' given twice", path, sorted[i]->name);
    free(sorted);
    return s;
}

// Header JSON, padded with spaces to a multiple of 8 so the data section starts 8-aligned.
static void st_build_header(qw_jbuf *b, const qw_tensor *ts, int n, const char *const *meta_kv, int n_meta) {
    qw_jbuf_append(b, "{", 1);
    if (n_meta > 0) {
        qw_jbuf_append(b, "\"__metadata__\":{", 16);
        for (int i = 0; i < n_meta; i++) {
            if (i) qw_jbuf_append(b, ",", 1);
            qw_jbuf_str(b, meta_kv[2 * i]);
            qw_jbuf_append(b, ":", 1);
            qw_jbuf_str(b, meta_kv[2 * i + 1]);
        }
        qw_jbuf_append(b, "}", 1);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const qw_tensor *t = &ts[i];
        if (i || n_meta > 0) qw_jbuf_append(b, ",", 1);
        qw_jbuf_str(b, t->name);
        qw_jbuf_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(t->type));
        for (int d = 0; d < t->n_dims; d++) qw_jbuf_printf(b, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        qw_jbuf_printf(b, "],\"data_offsets\":[%zu,%zu]}", off, off + t->nbytes);
        off += t->nbytes;
    }
    qw_jbuf_append(b, "}", 1);
    while (b->len % 8) qw_jbuf_append(b, " ", 1);
}

qw_status qw_safetensors_write(const char *path, const qw_tensor *tensors, int n, const char *const *meta_kv,
                               int n_meta) {
    QW_TRY(st_check_tensors(path, tensors, n));
    if (n_meta < 0 || (n_meta > 0 && !meta_kv)) return qw_error(QW_ERR_ARG, "%s: bad metadata list", path);
    for (int i = 0; i < 2 * n_meta; i++)
        if (!meta_kv[i]) return qw_error(QW_ERR_ARG, "%s: metadata entry %d is NULL", path, i / 2);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (!qw_add_size(total, tensors[i].nbytes, &total))
            return qw_error(QW_ERR_ARG, "%s: data too large", path);

    qw_jbuf h = {0};
    st_build_header(&h, tensors, n, meta_kv, n_meta);
    if (h.oom) {
        qw_jbuf_free(&h);
        return qw_error(QW_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));

    qw_atomic_file af;
    qw_status s = qw_atomic_open(&af, path);
    if (s != QW_OK) {
        qw_jbuf_free(&h);
        return s;
    }
    s = qw_atomic_write(&af, len8, 8);
    if (s == QW_OK) s = qw_atomic_write(&af, h.p, h.len);
    for (int i = 0; i < n && s == QW_OK; i++) s = qw_atomic_write(&af, tensors[i].data, tensors[i].nbytes);
    qw_jbuf_free(&h);
    if (s != QW_OK) {
        qw_atomic_abort(&af);
        return s;
    }
    return qw_atomic_commit(&af);
}

// Removes dir/name if present: a stale entry point transformers would pick over what was just written.
static qw_status st_remove_stale(const char *dir, const char *name) {
    char p[4096];
    if (strlen(dir) + strlen(name) + 2 > sizeof p) return qw_error(QW_ERR_ARG, "%s: path too long", dir);
    qw_path_join(p, sizeof p, dir, name);
    if (unlink(p) != 0 && errno != ENOENT)
        return qw_error(QW_ERR_IO, "%s: cannot remove stale file: %s", p, strerror(errno));
    return QW_OK;
}

qw_status qw_safetensors_write_sharded(const char *dir, const qw_tensor *tensors, int n,
                                       size_t max_shard_bytes) {
    char path[4096];
    if (strlen(dir) + 64 > sizeof path) return qw_error(QW_ERR_ARG, "%s: path too long", dir);
    QW_TRY(st_check_tensors(dir, tensors, n));
    QW_TRY(qw_io_make_dir(dir));
    static const char *const fmt_pt[] = {"format", "pt"};

    // shard k holds tensors [first[k], first[k+1]): filled in order, a new one when the next
    // tensor would push a non-empty shard past the limit
    int *first = malloc((size_t)(n + 2) * sizeof *first);
    if (!first) return qw_error(QW_ERR_NOMEM, "%s: out of memory", dir);
    int n_shards = 1;
    size_t cur = 0, total = 0;
    first[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t nb = tensors[i].nbytes, next;
        if (max_shard_bytes && cur > 0 && (!qw_add_size(cur, nb, &next) || next > max_shard_bytes)) {
            first[n_shards++] = i;
            cur = 0;
        }
        if (!qw_add_size(cur, nb, &cur) || !qw_add_size(total, nb, &total)) {
            free(first);
            return qw_error(QW_ERR_ARG, "%s: tensors total more bytes than fit in size_t", dir);
        }
    }
    first[n_shards] = n;

    qw_status s = QW_OK;
    if (n_shards == 1) {
        s = qw_safetensors_write(qw_path_join(path, sizeof path, dir, "model.safetensors"), tensors, n,
                                 fmt_pt, 1);
        if (s == QW_OK) s = st_remove_stale(dir, "model.safetensors.index.json");
        free(first);
        return s;
    }
    if (n_shards > 99999) {
        free(first);
        return qw_error(QW_ERR_ARG, "%s: %d shards is more than the 5-digit shard names allow", dir,
                        n_shards);
    }

    // the index maps each tensor name, sorted as transformers writes it, to its shard
    const qw_tensor **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    int *shard_of = malloc((size_t)(n ? n : 1) * sizeof *shard_of);
    if (!sorted || !shard_of) s = qw_error(QW_ERR_NOMEM, "%s: out of memory", dir);
    for (int k = 0; k < n_shards && s == QW_OK; k++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k + 1, n_shards);
        s = qw_safetensors_write(qw_path_join(path, sizeof path, dir, name), tensors + first[k],
                                 first[k + 1] - first[k], fmt_pt, 1);
        for (int i = first[k]; i < first[k + 1] && s == QW_OK; i++) shard_of[i] = k;
    }
    if (s == QW_OK) {
        for (int i = 0; i < n; i++) sorted[i] = &tensors[i];
        qsort(sorted, (size_t)n, sizeof *sorted, st_cmp_name);
        qw_jbuf b = {0};
        qw_jbuf_printf(&b, "{\n  \"metadata\": {\n    \"total_size\": %zu\n  },\n  \"weight_map\": {\n",
                       total);
        for (int i = 0; i < n; i++) {
            qw_jbuf_append(&b, "    ", 4);
            qw_jbuf_str(&b, sorted[i]->name);
            qw_jbuf_printf(&b, ": \"model-%05d-of-%05d.safetensors\"%s\n", shard_of[sorted[i] - tensors] + 1,
                           n_shards, i + 1 < n ? "," : "");
        }
        qw_jbuf_append(&b, "  }\n}\n", 6);
        if (b.oom)
            s = qw_error(QW_ERR_NOMEM, "%s: out of memory", dir);
        else
            s = qw_write_file_atomic(qw_path_join(path, sizeof path, dir, "model.safetensors.index.json"),
                                     b.p, b.len);
        qw_jbuf_free(&b);
    }
    if (s == QW_OK) s = st_remove_stale(dir, "model.safetensors");
    free(sorted);
    free(shard_of);
    free(first);
    return s;
}
