// io/safetensors: reads safetensors files (one file, or the shards an index names) by mapping them,
// and checks every number in each header against the file before any tensor points into it.
#include "io_internal.h"

#include <cjson/cJSON.h>
#include <stdint.h>

// The reference implementation's limit; real headers are a few MB at most.
#define ST_MAX_HEADER 100000000ull
// The index is a name -> file map; a few MB for the largest models.
#define ST_MAX_INDEX ((size_t)64 << 20)

static int st_dtype_parse(const char *s, qw_type *t) {
    if (strcmp(s, "F32") == 0)
        *t = QW_TYPE_F32;
    else if (strcmp(s, "F16") == 0)
        *t = QW_TYPE_F16;
    else if (strcmp(s, "BF16") == 0)
        *t = QW_TYPE_BF16;
    else
        return 0;
    return 1;
}

static size_t st_elem_size(qw_type t) { return t == QW_TYPE_F32 ? 4 : 2; }

// A JSON number that is a non-negative integer, small enough (2^53) to be exact in a double.
static int st_json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0)) return 0;
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return 0;
    *out = u;
    return 1;
}

static void st_shape_str(const qw_tensor *t, char *buf, size_t n) {
    size_t w = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->n_dims && w < n; i++)
        w += (size_t)snprintf(buf + w, n - w, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (w < n) snprintf(buf + w, n - w, "]");
}

// One tensor entry of the header: {"dtype": ..., "shape": [...], "data_offsets": [b, e]}.
static qw_status st_parse_entry(const cJSON *item, const char *path, const uint8_t *data, uint64_t data_size,
                                qw_tensor *t, uint64_t *begin, uint64_t *end) {
    const char *name = item->string;
    size_t nl = strlen(name);
    if (nl == 0) return qw_error(QW_ERR_FORMAT, "%s: a tensor has an empty name", path);
    if (nl >= sizeof t->name)
        return qw_error(QW_ERR_FORMAT,
                        "%s: tensor name '%.60s...' is %zu bytes long; qwick allows at most %zu", path, name,
                        nl, sizeof t->name - 1);
    if (!cJSON_IsObject(item))
        return qw_error(QW_ERR_FORMAT, "%s: tensor '%s': header entry is not a JSON object", path, name);
    memcpy(t->name, name, nl + 1);

    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dtype))
        return qw_error(QW_ERR_FORMAT, "%s: tensor '%s': missing or non-string \"dtype\"", path, name);
    if (!st_dtype_parse(dtype->valuestring, &t->type))
        return qw_error(QW_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %.32s; qwick reads F32, F16 and BF16",
                        path, name, dtype->valuestring);

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    if (!cJSON_IsArray(shape))
        return qw_error(QW_ERR_FORMAT, "%s: tensor '%s': missing or non-array \"shape\"", path, name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > QW_MAX_DIMS)
        return qw_error(QW_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dimensions; qwick handles at most %d",
                        path, name, nd, QW_MAX_DIMS);
    t->n_dims = nd;
    size_t numel = 1;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        uint64_t v;
        if (!st_json_u64(d, &v))
            return qw_error(QW_ERR_FORMAT, "%s: tensor '%s': shape entry %d is not a non-negative integer",
                            path, name, i);
        t->shape[i] = (int64_t)v;
        if (!qw_mul_size(numel, (size_t)v, &numel))
            return qw_error(QW_ERR_FORMAT, "%s: tensor '%s': shape overflows", path, name);
    }
    size_t nbytes;
    if (!qw_mul_size(numel, st_elem_size(t->type), &nbytes))
        return qw_error(QW_ERR_FORMAT, "%s: tensor '%s': shape overflows", path, name);

    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !st_json_u64(offs->child, begin) ||
        !st_json_u64(offs->child->next, end))
        return qw_error(QW_ERR_FORMAT,
                        "%s: tensor '%s': \"data_offsets\" is not a pair of non-negative integers", path,
                        name);
    if (*begin > *end || *end > data_size)
        return qw_error(QW_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] fall outside the %llu-byte data section",
                        path, name, (unsigned long long)*begin, (unsigned long long)*end,
                        (unsigned long long)data_size);
    if (*end - *begin != nbytes) {
        char sh[128];
        st_shape_str(t, sh, sizeof sh);
        return qw_error(QW_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s %s needs %zu",
                        path, name, (unsigned long long)*begin, (unsigned long long)*end,
                        (unsigned long long)(*end - *begin), dtype->valuestring, sh, nbytes);
    }
    t->nbytes = nbytes;
    t->data = (void *)(data + *begin);
    return QW_OK;
}

static int st_cmp_name(const void *a, const void *b) {
    return strcmp((*(const qw_tensor *const *)a)->name, (*(const qw_tensor *const *)b)->name);
}

typedef struct {
    uint64_t begin, end;
    int idx;
} st_range;

static int st_cmp_range(const void *a, const void *b) {
    const st_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

// Names appear once; non-empty byte ranges are disjoint.
static qw_status st_check_unique(const qw_tensor *ts, st_range *ranges, int n, const char *path) {
    qw_status s = QW_OK;
    const qw_tensor **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    if (!sorted) return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) sorted[i] = &ts[i];
    qsort(sorted, (size_t)n, sizeof *sorted, st_cmp_name);
    for (int i = 1; i < n && s == QW_OK; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            s = qw_error(QW_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", path, sorted[i]->name);
    free(sorted);
    if (s != QW_OK) return s;

    qsort(ranges, (size_t)n, sizeof *ranges, st_cmp_range);
    int last = -1; // the non-empty range reaching furthest so far
    for (int i = 0; i < n; i++) {
        if (ranges[i].begin == ranges[i].end) continue;
        if (last >= 0 && ranges[i].begin < ranges[last].end)
            return qw_error(QW_ERR_FORMAT, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap",
                            path, ts[ranges[last].idx].name, (unsigned long long)ranges[last].begin,
                            (unsigned long long)ranges[last].end, ts[ranges[i].idx].name,
                            (unsigned long long)ranges[i].begin, (unsigned long long)ranges[i].end);
        if (last < 0 || ranges[i].end > ranges[last].end) last = i;
    }
    return QW_OK;
}

static qw_status st_check_metadata(const cJSON *meta, const char *path) {
    if (!cJSON_IsObject(meta))
        return qw_error(QW_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", path);
    for (const cJSON *m = meta->child; m; m = m->next)
        if (!cJSON_IsString(m))
            return qw_error(QW_ERR_FORMAT, "%s: \"__metadata__\" value for '%.60s' is not a string", path,
                            m->string);
    return QW_OK;
}

qw_status qw_safetensors_parse(const uint8_t *buf, size_t size, const char *path, qw_tensor **tensors,
                               int *n_tensors) {
    *tensors = NULL;
    *n_tensors = 0;
    if (size < 8)
        return qw_error(QW_ERR_FORMAT, "%s: truncated: %zu bytes, too short for the 8-byte header length",
                        path, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    if (hlen > ST_MAX_HEADER)
        return qw_error(QW_ERR_FORMAT,
                        "%s: header length %llu is over the 100 MB limit (not a safetensors file?)", path,
                        (unsigned long long)hlen);
    if (hlen > size - 8)
        return qw_error(QW_ERR_FORMAT,
                        "%s: header length %llu runs past the end of the file (%zu bytes): truncated?", path,
                        (unsigned long long)hlen, size);
    const char *h = (const char *)buf + 8;
    if (hlen == 0 || h[0] != '{')
        return qw_error(QW_ERR_FORMAT, "%s: header does not start with '{' (not a safetensors file?)", path);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= h && end <= h + hlen ? (size_t)(end - h) : 0;
        return qw_error(QW_ERR_FORMAT, "%s: header is not valid JSON (error near byte %zu of %llu)", path, at,
                        (unsigned long long)hlen);
    }
    // transformers pads the header with spaces; anything else after the JSON is damage
    for (const char *p = end; p < h + hlen; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return qw_error(QW_ERR_FORMAT, "%s: unexpected bytes after the JSON header (at byte %zu of %llu)",
                            path, (size_t)(p - h), (unsigned long long)hlen);
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return qw_error(QW_ERR_FORMAT, "%s: header is not a JSON object", path);
    }

    const uint8_t *data = buf + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    int cap = cJSON_GetArraySize(root);
    qw_tensor *ts = calloc((size_t)(cap ? cap : 1), sizeof *ts);
    st_range *ranges = malloc((size_t)(cap ? cap : 1) * sizeof *ranges);
    qw_status s = QW_OK;
    int n = 0;
    if (!ts || !ranges) s = qw_error(QW_ERR_NOMEM, "%s: out of memory for %d tensors", path, cap);
    for (const cJSON *item = root->child; item && s == QW_OK; item = item->next) {
        if (strcmp(item->string, "__metadata__") == 0) {
            s = st_check_metadata(item, path);
            continue;
        }
        s = st_parse_entry(item, path, data, data_size, &ts[n], &ranges[n].begin, &ranges[n].end);
        ranges[n].idx = n;
        n++;
    }
    cJSON_Delete(root);
    if (s == QW_OK) s = st_check_unique(ts, ranges, n, path);
    free(ranges);
    if (s != QW_OK) {
        free(ts);
        return s;
    }
    *tensors = ts;
    *n_tensors = n;
    return QW_OK;
}

// ---------------------------------------------------------------------------------------------------
// open: one file or the shards of an index

void qw_safetensors_close(qw_safetensors *st) {
    for (int i = 0; i < st->n_files; i++) {
        qw_mmap_close(&st->maps[i]);
        free(st->paths[i]);
    }
    free(st->maps);
    free(st->paths);
    free(st->tensors);
    free(st->by_name);
    qw_free_aligned(st->copies);
    memset(st, 0, sizeof *st);
}

// Maps path as file number st->n_files (arrays already sized) and appends its tensors.
static qw_status st_add_file(qw_safetensors *st, const char *path) {
    int f = st->n_files;
    st->paths[f] = qw_strdup(path);
    if (!st->paths[f]) return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    qw_status s = qw_mmap_open(&st->maps[f], path);
    if (s != QW_OK) {
        free(st->paths[f]);
        st->paths[f] = NULL;
        return s;
    }
    st->n_files++;
    qw_tensor *ts;
    int n;
    QW_TRY(qw_safetensors_parse(st->maps[f].data, st->maps[f].size, path, &ts, &n));
    if (n > INT32_MAX - st->n_tensors) {
        free(ts);
        return qw_error(QW_ERR_FORMAT, "%s: too many tensors", path);
    }
    qw_tensor *all = realloc(st->tensors, (size_t)(st->n_tensors + n + 1) * sizeof *all);
    if (!all) {
        free(ts);
        return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(all + st->n_tensors, ts, (size_t)n * sizeof *ts);
    free(ts);
    st->tensors = all;
    st->n_tensors += n;
    return QW_OK;
}

// Fills st->by_name; two files holding the same tensor is an error.
static qw_status st_index_names(qw_safetensors *st, const int *file_of, const char *path) {
    int n = st->n_tensors;
    const qw_tensor **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    st->by_name = malloc((size_t)(n ? n : 1) * sizeof *st->by_name);
    if (!sorted || !st->by_name) {
        free(sorted);
        return qw_error(QW_ERR_NOMEM, "%s: out of memory for the tensor index", path);
    }
    for (int i = 0; i < n; i++) sorted[i] = &st->tensors[i];
    qsort(sorted, (size_t)n, sizeof *sorted, st_cmp_name);
    for (int i = 0; i < n; i++) st->by_name[i] = (int)(sorted[i] - st->tensors);
    free(sorted);
    for (int i = 1; i < n; i++) {
        int a = st->by_name[i - 1], b = st->by_name[i];
        if (strcmp(st->tensors[a].name, st->tensors[b].name) == 0)
            return qw_error(QW_ERR_FORMAT, "%s and %s both hold tensor '%s'", st->paths[file_of[a]],
                            st->paths[file_of[b]], st->tensors[a].name);
    }
    return QW_OK;
}

// Copies tensors that are misaligned for their element size into one aligned block.
static qw_status st_align(qw_safetensors *st, const char *path) {
    size_t total = 0;
    for (int i = 0; i < st->n_tensors; i++) {
        qw_tensor *t = &st->tensors[i];
        if (t->nbytes && (uintptr_t)t->data % st_elem_size(t->type))
            if (!qw_add_size(total, (t->nbytes + 63) & ~(size_t)63, &total))
                return qw_error(QW_ERR_NOMEM, "%s: misaligned tensors too large to copy", path);
    }
    if (!total) return QW_OK;
    st->copies = qw_malloc_aligned(total);
    if (!st->copies)
        return qw_error(QW_ERR_NOMEM, "%s: out of memory copying %zu bytes of misaligned tensors", path,
                        total);
    char *p = st->copies;
    for (int i = 0; i < st->n_tensors; i++) {
        qw_tensor *t = &st->tensors[i];
        if (t->nbytes && (uintptr_t)t->data % st_elem_size(t->type)) {
            memcpy(p, t->data, t->nbytes);
            t->data = p;
            p += (t->nbytes + 63) & ~(size_t)63;
        }
    }
    return QW_OK;
}

static qw_status st_open_file(qw_safetensors *st, const char *path) {
    st->maps = calloc(1, sizeof *st->maps);
    st->paths = calloc(1, sizeof *st->paths);
    if (!st->maps || !st->paths) return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    QW_TRY(st_add_file(st, path));
    int *file_of = calloc((size_t)st->n_tensors + 1, sizeof *file_of);
    if (!file_of) return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    qw_status s = st_index_names(st, file_of, path);
    free(file_of);
    return s;
}

static int st_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// A shard name must stay inside the index's directory.
static int st_shard_name_ok(const char *s) {
    return s[0] && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static qw_status st_open_index_json(qw_safetensors *st, const char *path, const cJSON *root,
                                    const char *dir) {
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) return qw_error(QW_ERR_FORMAT, "%s: missing or non-object \"weight_map\"", path);
    int n_entries = cJSON_GetArraySize(wm);
    if (n_entries == 0) return qw_error(QW_ERR_FORMAT, "%s: \"weight_map\" is empty", path);
    const char **shards = malloc((size_t)n_entries * sizeof *shards);
    if (!shards) return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    int n_shards = 0;
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e)) {
            free(shards);
            return qw_error(QW_ERR_FORMAT, "%s: weight_map entry for '%.100s' is not a file name", path,
                            e->string);
        }
        if (!st_shard_name_ok(e->valuestring)) {
            free(shards);
            return qw_error(QW_ERR_FORMAT,
                            "%s: weight_map names shard '%.200s' for tensor '%.100s': a shard must be "
                            "a plain file name in the index's directory",
                            path, e->valuestring, e->string);
        }
        shards[n_shards++] = e->valuestring;
    }
    qsort(shards, (size_t)n_shards, sizeof *shards, st_cmp_str);
    int u = 0;
    for (int i = 0; i < n_shards; i++)
        if (u == 0 || strcmp(shards[u - 1], shards[i]) != 0) shards[u++] = shards[i];
    n_shards = u;

    qw_status s = QW_OK;
    int *file_of = NULL;
    st->maps = calloc((size_t)n_shards, sizeof *st->maps);
    st->paths = calloc((size_t)n_shards, sizeof *st->paths);
    if (!st->maps || !st->paths) s = qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    size_t plen = strlen(dir) + 2;
    char *shard_path = NULL;
    for (int i = 0; i < n_shards && s == QW_OK; i++) {
        char *sp = realloc(shard_path, plen + strlen(shards[i]));
        if (!sp) {
            s = qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        shard_path = sp;
        qw_path_join(shard_path, plen + strlen(shards[i]), dir, shards[i]);
        int before = st->n_tensors;
        s = st_add_file(st, shard_path);
        if (s != QW_OK) {
            s = qw_error_wrap(s, "%s names shard %s", path, shards[i]);
            break;
        }
        int *fo = realloc(file_of, (size_t)(st->n_tensors + 1) * sizeof *fo);
        if (!fo) {
            s = qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        file_of = fo;
        for (int k = before; k < st->n_tensors; k++) file_of[k] = st->n_files - 1;
    }
    free(shard_path);
    free(shards);
    if (s == QW_OK && (s = st_index_names(st, file_of, path)) != QW_OK && s != QW_ERR_NOMEM)
        s = qw_error_wrap(s, "%s", path);
    // every weight_map entry must be in the file it names
    for (const cJSON *e = wm->child; e && s == QW_OK; e = e->next) {
        const qw_tensor *t = qw_safetensors_find(st, e->string);
        const char *base = NULL;
        if (t) {
            const char *p = st->paths[file_of[t - st->tensors]];
            base = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
        }
        if (!t || strcmp(base, e->valuestring) != 0)
            s = qw_error(QW_ERR_FORMAT, "%s: weight_map puts tensor '%.100s' in %s, which does not hold it",
                         path, e->string, e->valuestring);
    }
    free(file_of);
    return s;
}

static qw_status st_open_index(qw_safetensors *st, const char *path) {
    char *text;
    size_t len;
    QW_TRY(qw_file_read_all(path, ST_MAX_INDEX, &text, &len));
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        free(text);
        return qw_error(QW_ERR_FORMAT, "%s: not valid JSON (error near byte %zu)", path, at);
    }
    free(text);
    char *dir = qw_strdup(path);
    if (!dir) {
        cJSON_Delete(root);
        return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = 0;
    else
        strcpy(dir, ".");
    qw_status s = cJSON_IsObject(root) ? st_open_index_json(st, path, root, dir)
                                       : qw_error(QW_ERR_FORMAT, "%s: not a JSON object", path);
    free(dir);
    cJSON_Delete(root);
    return s;
}

static int st_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

qw_status qw_safetensors_open(qw_safetensors *st, const char *path) {
    memset(st, 0, sizeof *st);
    qw_status s;
    if (qw_dir_exists(path)) {
        size_t n = strlen(path) + 64;
        char *p = malloc(n);
        if (!p) return qw_error(QW_ERR_NOMEM, "%s: out of memory", path);
        // transformers prefers the single file when both are present
        if (qw_file_exists(qw_path_join(p, n, path, "model.safetensors")))
            s = st_open_file(st, p);
        else if (qw_file_exists(qw_path_join(p, n, path, "model.safetensors.index.json")))
            s = st_open_index(st, p);
        else
            s = qw_error(QW_ERR_IO,
                         "%s: no model.safetensors or model.safetensors.index.json in this directory", path);
        free(p);
    } else if (st_ends_with(path, ".json")) {
        s = st_open_index(st, path);
    } else {
        s = st_open_file(st, path);
    }
    if (s == QW_OK) s = st_align(st, path);
    if (s != QW_OK) qw_safetensors_close(st);
    return s;
}

const qw_tensor *qw_safetensors_find(const qw_safetensors *st, const char *name) {
    int lo = 0, hi = st->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const qw_tensor *t = &st->tensors[st->by_name[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}
