// tests/test_io_npy: .npy files byte-identical to numpy.save's (committed files numpy wrote), read
// back exactly, cross-checked with numpy itself when it is there, and every kind of bad file refused.
#include "test_io.h"

#include <stdint.h>

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = tio_read(a, &na), *y = tio_read(b, &nb);
    int eq = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return eq;
}

static void test_against_numpy_files(void) {
    // the committed files were written by numpy.save (numpy 1.24); ours must match byte for byte
    const float f23[] = {0.5f, -1.25f, 3.0f, 1e-3f, -0.0f, 65504.0f};
    const int64_t s23[] = {2, 3};
    CHECK(qw_npy_write_f32(tio_path("f23.npy"), f23, 2, s23) == QW_OK);
    CHECK(same_file(tio_path("f23.npy"), "tests/data/npy_f32_2x3.npy"));
    const int32_t i5[] = {1, -2, 2147483647, -2147483647 - 1, 0};
    const int64_t s5[] = {5};
    CHECK(qw_npy_write_i32(tio_path("i5.npy"), i5, 1, s5) == QW_OK);
    CHECK(same_file(tio_path("i5.npy"), "tests/data/npy_i32_5.npy"));
    const float sc = 3.5f;
    CHECK(qw_npy_write_f32(tio_path("sc.npy"), &sc, 0, NULL) == QW_OK);
    CHECK(same_file(tio_path("sc.npy"), "tests/data/npy_f32_scalar.npy"));
    const int64_t s0[] = {12, 0, 3};
    CHECK(qw_npy_write_f32(tio_path("e.npy"), NULL, 3, s0) == QW_OK);
    CHECK(same_file(tio_path("e.npy"), "tests/data/npy_f32_12x0x3.npy"));

    // and read what numpy wrote, format 2.0 included
    qw_npy a;
    CHECK(qw_npy_read("tests/data/npy_f32_2x3.npy", &a) == QW_OK);
    CHECK(strcmp(a.dtype, "f4") == 0 && a.n_dims == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.numel == 6);
    CHECK(a.data && memcmp(a.data, f23, sizeof f23) == 0);
    qw_npy_free(&a);
    CHECK(qw_npy_read("tests/data/npy_i32_5.npy", &a) == QW_OK);
    CHECK(strcmp(a.dtype, "i4") == 0 && a.n_dims == 1 && a.numel == 5 && memcmp(a.data, i5, sizeof i5) == 0);
    qw_npy_free(&a);
    CHECK(qw_npy_read("tests/data/npy_f32_scalar.npy", &a) == QW_OK);
    CHECK(a.n_dims == 0 && a.numel == 1 && ((float *)a.data)[0] == 3.5f);
    qw_npy_free(&a);
    CHECK(qw_npy_read("tests/data/npy_f32_12x0x3.npy", &a) == QW_OK);
    CHECK(a.n_dims == 3 && a.shape[0] == 12 && a.shape[1] == 0 && a.numel == 0);
    qw_npy_free(&a);
    CHECK(qw_npy_read("tests/data/npy_f32_v2.npy", &a) == QW_OK);
    CHECK(a.n_dims == 1 && a.numel == 3 && ((float *)a.data)[2] == -3.0f);
    qw_npy_free(&a);
}

static void test_roundtrip(void) {
    qw_rng r;
    qw_rng_seed(&r, 5);
    const int64_t shapes[][8] = {{7}, {3, 1, 4}, {2, 3, 4, 5, 6, 7, 8, 9}, {1000, 3}, {0, 5}};
    const int nd[] = {1, 3, 8, 2, 2};
    for (int k = 0; k < 5; k++) {
        int64_t n = 1;
        for (int d = 0; d < nd[k]; d++) n *= shapes[k][d];
        float *f = malloc((size_t)n * 4 + 4);
        int32_t *iv = malloc((size_t)n * 4 + 4);
        for (int64_t i = 0; i < n; i++) f[i] = qw_rng_normal(&r), iv[i] = (int32_t)qw_rng_u64(&r);
        qw_npy a, b;
        CHECK(qw_npy_write_f32(tio_path("rt_f.npy"), f, nd[k], shapes[k]) == QW_OK);
        CHECK(qw_npy_write_i32(tio_path("rt_i.npy"), iv, nd[k], shapes[k]) == QW_OK);
        CHECK(qw_npy_read(tio_path("rt_f.npy"), &a) == QW_OK &&
              qw_npy_read(tio_path("rt_i.npy"), &b) == QW_OK);
        CHECK(a.numel == n && a.n_dims == nd[k] && memcmp(a.shape, shapes[k], (size_t)nd[k] * 8) == 0);
        CHECK(b.numel == n && strcmp(b.dtype, "i4") == 0);
        CHECK(memcmp(a.data, f, (size_t)n * 4) == 0 && memcmp(b.data, iv, (size_t)n * 4) == 0);
        qw_npy_free(&a);
        qw_npy_free(&b);
        free(f);
        free(iv);
    }
    const int64_t neg[] = {-1};
    float one = 1;
    CHECK(qw_npy_write_f32(tio_path("neg.npy"), &one, 1, neg) == QW_ERR_ARG);
    CHECK(qw_npy_write_f32(tio_path("neg.npy"), &one, 9, neg) == QW_ERR_ARG);
    CHECK(!qw_file_exists(tio_path("neg.npy")));

    if (!tio_have_numpy()) {
        printf("note: /usr/bin/python3 with numpy not found; skipping the numpy.load check\n");
        return;
    }
    const int64_t s[] = {3, 1, 4};
    float f[12];
    for (int i = 0; i < 12; i++) f[i] = (float)i * 0.25f - 1.0f;
    CHECK(qw_npy_write_f32(tio_path("py.npy"), f, 3, s) == QW_OK);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np; a = np.load('%s'); "
             "assert a.dtype == np.float32 and a.shape == (3, 1, 4), a; "
             "assert (a.ravel() == np.arange(12, dtype=np.float32) * 0.25 - 1).all(), a\"",
             tio_path("py.npy"));
    CHECKF(system(cmd) == 0, "numpy.load disagrees");
}

static void expect_bad(const char *content, size_t n, qw_status want, const char *needle, int line) {
    const char *p = tio_path("bad.npy");
    tio_write(p, content, n);
    qw_npy a;
    qw_status s = qw_npy_read(p, &a);
    const char *msg = qw_error_message();
    CHECKF(s == want, "line %d: got %s want %s (%s)", line, qw_status_name(s), qw_status_name(want), msg);
    CHECKF(strstr(msg, "bad.npy") && (!needle || strstr(msg, needle)), "line %d: message: %s", line, msg);
    CHECK(a.data == NULL);
}
#define BAD(c, n, want, needle) expect_bad(c, n, want, needle, __LINE__)

// A v1 file with the given header dict and data_len zero bytes.
static size_t craft(char *buf, const char *dict, size_t data_len) {
    size_t hl = strlen(dict);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hl & 0xff), buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, dict, hl);
    memset(buf + 10 + hl, 0, data_len);
    return 10 + hl + data_len;
}

static void test_bad(void) {
    char b[512] = {0};
    size_t n;
    n = craft(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 24);
    BAD(b, n - 1, QW_ERR_FORMAT, "truncated");
    BAD(b, n - 24 + 28, QW_ERR_FORMAT, "after the array");
    BAD(b, 20, QW_ERR_FORMAT, "truncated");
    BAD("\x93NUMPX\x01\x00\x00\x00", 10, QW_ERR_FORMAT, "magic");
    BAD("\x93NUM", 4, QW_ERR_FORMAT, "magic");
    BAD("\x93NUMPY\x09\x00\x00\x00", 10, QW_ERR_UNSUPPORTED, "version");
    n = craft(b, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", 16);
    BAD(b, n, QW_ERR_UNSUPPORTED, "<f8");
    n = craft(b, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", 8);
    BAD(b, n, QW_ERR_UNSUPPORTED, ">f4");
    n = craft(b, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", 16);
    BAD(b, n, QW_ERR_UNSUPPORTED, "Fortran");
    n = craft(b, "{'descr': '<f4', 'shape': (2,), }\n", 8);
    BAD(b, n, QW_ERR_FORMAT, "fortran_order");
    n = craft(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }\n", 8);
    BAD(b, n, QW_ERR_FORMAT, "shape");
    n = craft(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }\n", 8);
    BAD(b, n, QW_ERR_FORMAT, "overflow");
    n = craft(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}\n", 8);
    BAD(b, n, QW_ERR_FORMAT, "extra");
    n = craft(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,) ", 8);
    BAD(b, n, QW_ERR_FORMAT, "dict");
    // a 1-D array is the same bytes in either order, so numpy's fortran_order True is fine there
    n = craft(b, "{'descr': '<i4', 'fortran_order': True, 'shape': (2,), }\n", 8);
    tio_write(tio_path("f1.npy"), b, n);
    qw_npy a;
    CHECK(qw_npy_read(tio_path("f1.npy"), &a) == QW_OK && a.numel == 2);
    qw_npy_free(&a);
    CHECK(qw_npy_read(tio_path("absent.npy"), &a) == QW_ERR_IO && strstr(qw_error_message(), "absent.npy"));
}

int main(void) {
    tio_tmpdir();
    test_against_numpy_files();
    test_roundtrip();
    test_bad();
    TEST_DONE();
}
