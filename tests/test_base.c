// tests/test_base: f16/bf16 conversion against exact known values, rng determinism, row splitting,
// atomic writes, bounded file reads.
#include "base/base.h"
#include "test.h"

#include <unistd.h>


static void add_rows(void *ctx, int ith, int nth) {
    int *hits = ctx;
    int64_t r0, r1;
    qw_split_rows(1000, 16, ith, nth, &r0, &r1);
    for (int64_t i = r0; i < r1; i++) __atomic_fetch_add(&hits[i], 1, __ATOMIC_RELAXED);
}

// A mapping made resident keeps its address and every byte, on 2 MB chunk edges and in the odd tail;
// when the file cannot be read the mapping is put back and still reads the file.
static void test_resident(void) {
    char path[] = "/tmp/qwick_test_resident_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    size_t size = (5u << 20) + 12345;
    unsigned char *want = malloc(size);
    qw_rng rng;
    qw_rng_seed(&rng, 3);
    for (size_t i = 0; i < size; i++) want[i] = (unsigned char)(qw_rng_u64(&rng) >> 56);
    CHECK(write(fd, want, size) == (ssize_t)size);
    close(fd);
    qw_mmap m;
    CHECK(qw_mmap_open(&m, path) == QW_OK);
    void *addr = m.data;
    CHECK(qw_mmap_make_resident(&m, path, 2) == QW_OK);
    CHECK(m.data == addr && m.size == size);
    CHECK(memcmp(m.data, want, size) == 0);
    qw_mmap_close(&m);
    CHECK(qw_mmap_open(&m, path) == QW_OK);
    CHECK(qw_mmap_make_resident(&m, "/nonexistent/weights", 2) == QW_ERR_IO);
    CHECK(strstr(qw_error_message(), "/nonexistent/weights") != NULL);
    CHECK(m.data && memcmp(m.data, want, size) == 0);
    // the file shrinks under the mapping: the copy comes up short and says so (the mapping is back
    // on the file, whose missing tail must not be touched)
    CHECK(truncate(path, 4096) == 0);
    CHECK(qw_mmap_make_resident(&m, path, 2) == QW_ERR_IO);
    CHECK(strstr(qw_error_message(), "read failed") != NULL);
    CHECK(m.data == NULL || memcmp(m.data, want, 4096) == 0);
    qw_mmap_close(&m);
    unlink(path);
    free(want);
}

int main(void) {
    // bf16: exact values and round-to-nearest-even
    CHECK(qw_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(qw_f32_to_bf16(-2.0f) == 0xc000);
    CHECK(qw_bf16_to_f32(0x3fc0) == 1.5f);
    CHECK(qw_f32_to_bf16(1.00390625f) == 0x3f80); // halfway, even stays
    CHECK(qw_f32_to_bf16(1.01171875f) == 0x3f82); // halfway, odd rounds up
    CHECK(isnan(qw_bf16_to_f32(qw_f32_to_bf16(NAN))));
    // f16: exact values, subnormals, overflow, and a round trip of every half value
    CHECK(qw_f32_to_f16(1.0f) == 0x3c00);
    CHECK(qw_f32_to_f16(-2.5f) == 0xc100);
    CHECK(qw_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(qw_f32_to_f16(70000.0f) == 0x7c00);
    CHECK(qw_f32_to_f16(5.9604644775390625e-08f) == 0x0001); // smallest subnormal
    CHECK(qw_f16_to_f32(0x0001) == 5.9604644775390625e-08f);
    CHECK(qw_f16_to_f32(0x3555) == 0.333251953125f);
    int rt_bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; // NaNs
        if (qw_f32_to_f16(qw_f16_to_f32((uint16_t)h)) != h) rt_bad++;
    }
    CHECKF(rt_bad == 0, "%d f16 values do not round-trip", rt_bad);
    // rounding of f32 -> f16 at halfway points between subnormals: 1.5 ulp rounds to 2 (even)
    CHECK(qw_f32_to_f16(1.5f * 5.9604644775390625e-08f) == 0x0002);
    CHECK(qw_f32_to_f16(2.5f * 5.9604644775390625e-08f) == 0x0002);

    // rng: same seed, same stream; normal has mean ~0 and variance ~1
    qw_rng a, b;
    qw_rng_seed(&a, 42);
    qw_rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= qw_rng_u64(&a) == qw_rng_u64(&b);
    CHECK(same);
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        double x = qw_rng_normal(&a);
        s += x;
        s2 += x * x;
    }
    CHECK_NEAR(s / 100000, 0.0, 0.02);
    CHECK_NEAR(s2 / 100000, 1.0, 0.03);

    // every row owned exactly once, for several thread counts
    for (int nth = 1; nth <= 5; nth++) {
        int hits[1000] = {0};
        for (int ith = 0; ith < nth; ith++) add_rows(hits, ith, nth);
        int ok = 1;
        for (int i = 0; i < 1000; i++) ok &= hits[i] == 1;
        CHECKF(ok, "nth=%d", nth);
    }
    int hits[1000] = {0};
    qw_parallel(add_rows, hits, 2);
    int ok = 1;
    for (int i = 0; i < 1000; i++) ok &= hits[i] == 1;
    CHECK(ok);

    // atomic write lands whole; abort leaves nothing; bounded read refuses large files
    char path[] = "/tmp/qwick_test_base_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(qw_write_file_atomic(path, "hello", 5) == QW_OK);
    char *buf;
    size_t n;
    CHECK(qw_file_read_all(path, 100, &buf, &n) == QW_OK && n == 5 && strcmp(buf, "hello") == 0);
    free(buf);
    CHECK(qw_file_read_all(path, 4, &buf, &n) == QW_ERR_FORMAT);
    CHECK(strstr(qw_error_message(), path) != NULL);
    qw_atomic_file af;
    CHECK(qw_atomic_open(&af, path) == QW_OK);
    qw_atomic_write(&af, "xx", 2);
    qw_atomic_abort(&af);
    CHECK(qw_file_read_all(path, 100, &buf, &n) == QW_OK && strcmp(buf, "hello") == 0);
    free(buf);
    unlink(path);
    CHECK(qw_file_read_all("/nonexistent/x", 100, &buf, &n) == QW_ERR_IO);
    CHECK(strstr(qw_error_message(), "/nonexistent/x") != NULL);
    test_resident();
    TEST_DONE();
}
