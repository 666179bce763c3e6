// io/npy: NumPy .npy files (float32 and int32, C order), the exchange format with the PyTorch
// scripts that make reference fixtures. The writer produces the same bytes numpy.save does.
#include "io_internal.h"

// ---------------------------------------------------------------------------------------------------
// writing

static qw_status npy_write(const char *path, const char *descr, const void *data, int n_dims,
                           const int64_t *shape) {
    if (n_dims < 0 || n_dims > QW_NPY_MAX_DIMS || (n_dims > 0 && !shape))
        return qw_error(QW_ERR_ARG, "%s: %d dimensions (at most %d)", path, n_dims, QW_NPY_MAX_DIMS);
    size_t numel = 1, nbytes;
    for (int i = 0; i < n_dims; i++)
        if (shape[i] < 0 || !qw_mul_size(numel, (size_t)shape[i], &numel))
            return qw_error(QW_ERR_ARG, "%s: bad shape", path);
    if (!qw_mul_size(numel, 4, &nbytes)) return qw_error(QW_ERR_ARG, "%s: array too large", path);
    if (nbytes && !data) return qw_error(QW_ERR_ARG, "%s: no data", path);

    // numpy's header: the dict's repr, room for the first dim to grow to 21 digits, then spaces
    // and a newline so the data starts 64-aligned
    char h[512];
    int n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < n_dims; i++)
        n += snprintf(h + n, sizeof h - (size_t)n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    n += snprintf(h + n, sizeof h - (size_t)n, "%s), }", n_dims == 1 ? "," : "");
    if (n_dims > 0) {
        char first[32];
        int grow = 21 - snprintf(first, sizeof first, "%lld", (long long)shape[0]);
        for (int i = 0; i < grow; i++) h[n++] = ' ';
    }
    int pad = 64 - (10 + n + 1) % 64;
    for (int i = 0; i < pad; i++) h[n++] = ' ';
    h[n++] = '\n';
    QW_ASSERT(n < (int)sizeof h && (10 + n) % 64 == 0);

    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(n & 0xff), (uint8_t)(n >> 8)};
    qw_atomic_file af;
    QW_TRY(qw_atomic_open(&af, path));
    qw_status s = qw_atomic_write(&af, pre, sizeof pre);
    if (s == QW_OK) s = qw_atomic_write(&af, h, (size_t)n);
    if (s == QW_OK) s = qw_atomic_write(&af, data, nbytes);
    if (s != QW_OK) {
        qw_atomic_abort(&af);
        return s;
    }
    return qw_atomic_commit(&af);
}

qw_status qw_npy_write_f32(const char *path, const float *data, int n_dims, const int64_t *shape) {
    return npy_write(path, "<f4", data, n_dims, shape);
}

qw_status qw_npy_write_i32(const char *path, const int32_t *data, int n_dims, const int64_t *shape) {
    return npy_write(path, "<i4", data, n_dims, shape);
}

// ---------------------------------------------------------------------------------------------------
// reading: the header is a Python dict literal; only the three keys numpy writes are accepted

typedef struct {
    const char *p, *end;
} npy_lex;

static void npy_ws(npy_lex *l) {
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r')) l->p++;
}

static int npy_eat(npy_lex *l, char ch) {
    npy_ws(l);
    if (l->p < l->end && *l->p == ch) {
        l->p++;
        return 1;
    }
    return 0;
}

// A quoted Python string without escapes, into buf.
static int npy_string(npy_lex *l, char *buf, size_t n) {
    npy_ws(l);
    if (l->p >= l->end || (*l->p != '\'' && *l->p != '"')) return 0;
    char q = *l->p++;
    size_t i = 0;
    while (l->p < l->end && *l->p != q) {
        if (*l->p == '\\' || i + 1 >= n) return 0;
        buf[i++] = *l->p++;
    }
    if (l->p >= l->end) return 0;
    l->p++;
    buf[i] = 0;
    return 1;
}

static int npy_word(npy_lex *l, const char *w) {
    npy_ws(l);
    size_t n = strlen(w);
    if ((size_t)(l->end - l->p) < n || memcmp(l->p, w, n) != 0) return 0;
    l->p += n;
    return 1;
}

// (d0, d1, ...) with an optional trailing comma.
static int npy_shape(npy_lex *l, int *n_dims, int64_t *shape) {
    if (!npy_eat(l, '(')) return 0;
    *n_dims = 0;
    for (;;) {
        if (npy_eat(l, ')')) return 1;
        npy_ws(l);
        if (l->p >= l->end || *l->p < '0' || *l->p > '9' || *n_dims == QW_NPY_MAX_DIMS) return 0;
        int64_t v = 0;
        while (l->p < l->end && *l->p >= '0' && *l->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return 0;
            v = v * 10 + (*l->p++ - '0');
        }
        shape[(*n_dims)++] = v;
        if (!npy_eat(l, ',')) return npy_eat(l, ')');
    }
}

static qw_status npy_parse_header(const char *h, size_t n, const char *path, char *descr, int *fortran,
                                  int *n_dims, int64_t *shape) {
    npy_lex l = {h, h + n};
    int have = 0; // bits: descr, fortran_order, shape
    if (!npy_eat(&l, '{')) return qw_error(QW_ERR_FORMAT, "%s: header is not a dict", path);
    while (!npy_eat(&l, '}')) {
        char key[32];
        if (!npy_string(&l, key, sizeof key) || !npy_eat(&l, ':'))
            return qw_error(QW_ERR_FORMAT, "%s: malformed header dict", path);
        if (strcmp(key, "descr") == 0 && npy_string(&l, descr, 16))
            have |= 1;
        else if (strcmp(key, "fortran_order") == 0 && npy_word(&l, "True"))
            have |= 2, *fortran = 1;
        else if (strcmp(key, "fortran_order") == 0 && npy_word(&l, "False"))
            have |= 2, *fortran = 0;
        else if (strcmp(key, "shape") == 0 && npy_shape(&l, n_dims, shape))
            have |= 4;
        else
            return qw_error(QW_ERR_FORMAT, "%s: bad or unknown header entry '%s'", path, key);
        if (!npy_eat(&l, ',')) {
            if (!npy_eat(&l, '}')) return qw_error(QW_ERR_FORMAT, "%s: malformed header dict", path);
            break;
        }
    }
    npy_ws(&l);
    if (l.p != l.end) return qw_error(QW_ERR_FORMAT, "%s: text after the header dict", path);
    if (have != 7) return qw_error(QW_ERR_FORMAT, "%s: header lacks descr, fortran_order or shape", path);
    return QW_OK;
}

void qw_npy_free(qw_npy *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}

qw_status qw_npy_read(const char *path, qw_npy *out) {
    memset(out, 0, sizeof *out);
    qw_mmap m;
    QW_TRY(qw_mmap_open(&m, path));
    const uint8_t *b = m.data;
    qw_status s = QW_OK;
    size_t hlen = 0, pre = 0;
    if (m.size < 10 || memcmp(b, "\x93NUMPY", 6) != 0) {
        s = qw_error(QW_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", path);
    } else if (b[6] == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        pre = 10;
    } else if ((b[6] == 2 || b[6] == 3) && m.size >= 12) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        pre = 12;
    } else {
        s = qw_error(QW_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported", path, b[6], b[7]);
    }
    if (s == QW_OK && hlen > m.size - pre)
        s = qw_error(QW_ERR_FORMAT, "%s: truncated: header of %zu bytes runs past the end of the file", path,
                     hlen);
    char descr[16] = "";
    int fortran = 0;
    if (s == QW_OK)
        s = npy_parse_header((const char *)b + pre, hlen, path, descr, &fortran, &out->n_dims, out->shape);
    if (s == QW_OK) {
        if (strcmp(descr, "<f4") != 0 && strcmp(descr, "<i4") != 0)
            s = qw_error(QW_ERR_UNSUPPORTED,
                         "%s: dtype '%s' is not supported: qwick reads little-endian float32 "
                         "('<f4') and int32 ('<i4')",
                         path, descr);
        else if (fortran && out->n_dims > 1)
            s = qw_error(QW_ERR_UNSUPPORTED,
                         "%s: Fortran-order arrays are not supported; save a C-order copy", path);
    }
    size_t numel = 1, nbytes = 0;
    for (int i = 0; i < out->n_dims && s == QW_OK; i++)
        if (!qw_mul_size(numel, (size_t)out->shape[i], &numel))
            s = qw_error(QW_ERR_FORMAT, "%s: shape overflows", path);
    if (s == QW_OK && !qw_mul_size(numel, 4, &nbytes))
        s = qw_error(QW_ERR_FORMAT, "%s: shape overflows", path);
    if (s == QW_OK) {
        size_t have = m.size - pre - hlen;
        if (have < nbytes)
            s = qw_error(QW_ERR_FORMAT, "%s: truncated: %zu bytes of data, the shape needs %zu", path, have,
                         nbytes);
        else if (have > nbytes)
            s = qw_error(QW_ERR_FORMAT, "%s: %zu bytes after the array data (wrong shape?)", path,
                         have - nbytes);
    }
    if (s == QW_OK) {
        out->data = malloc(nbytes ? nbytes : 1);
        if (!out->data)
            s = qw_error(QW_ERR_NOMEM, "%s: out of memory for %zu bytes", path, nbytes);
        else if (nbytes)
            memcpy(out->data, b + pre + hlen, nbytes);
    }
    qw_mmap_close(&m);
    if (s != QW_OK) {
        qw_npy_free(out);
        return s;
    }
    memcpy(out->dtype, descr + 1, 3);
    out->numel = (int64_t)numel;
    return QW_OK;
}
