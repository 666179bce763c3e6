// tests/test_io_errors: one crafted bad safetensors file (or index) per failure class; each must give
// the right status and a message naming the file (and tensor), and leave the file byte-identical.
#include "test_io.h"

#include <stdint.h>
#include <sys/stat.h>

// A safetensors file from a header text and data_len bytes of data (0x5a), header length as given
// (or the true length when hlen_override is 0).
static void craft(const char *path, const char *header, size_t data_len, uint64_t hlen_override) {
    size_t hl = strlen(header);
    uint64_t hlen = hlen_override ? hlen_override : hl;
    size_t n = 8 + hl + data_len;
    uint8_t *b = malloc(n);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, 0x5a, data_len);
    tio_write(path, b, n);
    free(b);
}

// Opens path expecting status want, a message containing each of the needles, st left empty, and the
// file untouched.
static void expect_fail(const char *path, qw_status want, const char *needle1, const char *needle2,
                        int line) {
    size_t n0 = 0, n1 = 0;
    char *before = qw_file_exists(path) ? tio_read(path, &n0) : NULL;
    qw_safetensors st;
    memset(&st, 0x7f, sizeof st);
    qw_status s = qw_safetensors_open(&st, path);
    const char *msg = qw_error_message();
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (getenv("QWICK_TEST_VERBOSE")) printf("  %s: %s\n", qw_status_name(s), msg);
    CHECKF(s == want, "line %d: got %s, want %s (%s)", line, qw_status_name(s), qw_status_name(want), msg);
    CHECKF(strstr(msg, base) != NULL, "line %d: message does not name the file: %s", line, msg);
    if (needle1) CHECKF(strstr(msg, needle1) != NULL, "line %d: message lacks '%s': %s", line, needle1, msg);
    if (needle2) CHECKF(strstr(msg, needle2) != NULL, "line %d: message lacks '%s': %s", line, needle2, msg);
    CHECKF(st.n_tensors == 0 && st.tensors == NULL && st.maps == NULL, "line %d: st not emptied", line);
    if (s == QW_OK) qw_safetensors_close(&st);
    if (before) {
        char *after = tio_read(path, &n1);
        CHECKF(after && n0 == n1 && memcmp(before, after, n0) == 0, "line %d: input file changed", line);
        free(after);
    }
    free(before);
}
#define EXPECT_FAIL(path, want, n1, n2) expect_fail(path, want, n1, n2, __LINE__)

#define T1 "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}"

static void test_bad_files(void) {
    const char *p = tio_path("bad.safetensors");
    tio_write(p, "\x01\x00\x00", 3);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "truncated", NULL);
    tio_write(p, "", 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "truncated", NULL);
    craft(p, "{" T1 "}", 16, 1000);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "past the end", NULL);
    craft(p, "{" T1 "}", 16, (uint64_t)1 << 40);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "100 MB", NULL);
    craft(p, "{\"w\":{\"dtype\":\"F32\",", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "not valid JSON", NULL);
    craft(p, "[1, 2]  ", 0, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'{'", NULL);
    craft(p, "{} junk", 0, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "after the JSON", NULL);
    craft(p, "{\"w\":[1]}", 0, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "not a JSON object");
    // offsets out of range, reversed, fractional, missing
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,400]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "outside");
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,0]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "outside");
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0.5,16]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "data_offsets");
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16,32]}}", 32, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "data_offsets");
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "data_offsets");
    // size mismatch between shape and offsets
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "needs 16");
    craft(p, "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "needs 8");
    // overlap
    craft(p, "{" T1 ",\"v\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[8,16]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "overlap", "'v'");
    craft(p, "{\"v\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[2,10]}," T1 "}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "overlap", "'w'");
    // dtypes qwick does not read
    craft(p, "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_UNSUPPORTED, "'ids'", "I64");
    craft(p, "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[16],\"data_offsets\":[0,16]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_UNSUPPORTED, "'w'", "F8_E4M3");
    craft(p, "{\"w\":{\"dtype\":7,\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "dtype");
    // shapes
    craft(p, "{\"w5\":{\"dtype\":\"F32\",\"shape\":[1,1,2,1,2],\"data_offsets\":[0,16]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_UNSUPPORTED, "'w5'", "5 dimensions");
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,-2],\"data_offsets\":[0,16]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "shape");
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\",2],\"data_offsets\":[0,16]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "shape");
    craft(p,
          "{\"w\":{\"dtype\":\"F32\",\"shape\":[4503599627370496,4503599627370496,4096],\"data_offsets\":[0,"
          "16]}}",
          16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "overflow");
    craft(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,16]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "shape");
    // names: duplicate, too long, empty
    craft(p, "{" T1 "," T1 "}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "'w'", "twice");
    char hdr[512], longname[101];
    memset(longname, 'x', 100);
    longname[100] = 0;
    snprintf(hdr, sizeof hdr, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", longname);
    craft(p, hdr, 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "100 bytes", "xxxxxxxx");
    craft(p, "{\"\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "empty name", NULL);
    // metadata must be a string map
    craft(p, "{\"__metadata__\":{\"format\":1}," T1 "}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "__metadata__", "format");
    craft(p, "{\"__metadata__\":[]," T1 "}", 16, 0);
    EXPECT_FAIL(p, QW_ERR_FORMAT, "__metadata__", NULL);
    // files that are not there
    EXPECT_FAIL(tio_path("missing.safetensors"), QW_ERR_IO, NULL, NULL);
    mkdir(tio_path("emptydir"), 0755);
    EXPECT_FAIL(tio_path("emptydir"), QW_ERR_IO, "model.safetensors", NULL);
}

// Accepted oddities: holes, trailing bytes, padding, a 0-D tensor, an empty header, misalignment.
static void test_odd_but_valid(void) {
    const char *p = tio_path("odd.safetensors");
    qw_safetensors st;
    craft(p,
          "{\"a\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[4,6]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
          "\"z\":{\"dtype\":\"BF16\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
          "\"__metadata__\":{\"k\":\"v\"}}     \n ",
          40, 0);
    qw_status s = qw_safetensors_open(&st, p);
    CHECKF(s == QW_OK, "%s", qw_error_message());
    if (s == QW_OK) {
        const qw_tensor *a = qw_safetensors_find(&st, "a"), *b = qw_safetensors_find(&st, "b");
        const qw_tensor *z = qw_safetensors_find(&st, "z");
        CHECK(st.n_tensors == 3 && a && b && z);
        if (a && b && z) {
            CHECK(a->n_dims == 0 && qw_tensor_numel(a) == 1 && a->nbytes == 2);
            CHECK(*(const uint16_t *)a->data == 0x5a5a);
            CHECK(b->type == QW_TYPE_F32 && *(const uint32_t *)b->data == 0x5a5a5a5a);
            CHECK((uintptr_t)b->data % 4 == 0);
            CHECK(z->nbytes == 0 && z->n_dims == 2 && z->shape[0] == 0 && z->shape[1] == 3);
        }
    }
    qw_safetensors_close(&st);
    craft(p, "{}", 0, 0);
    CHECK(qw_safetensors_open(&st, p) == QW_OK && st.n_tensors == 0);
    CHECK(qw_safetensors_find(&st, "x") == NULL);
    qw_safetensors_close(&st);

    // the parser alone over a buffer: data points into it
    uint8_t buf[8 + 64 + 16];
    const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    memset(buf, ' ', sizeof buf);
    buf[0] = 64;
    memset(buf + 1, 0, 7);
    memcpy(buf + 8, h, strlen(h));
    qw_tensor *ts;
    int n;
    CHECK(qw_safetensors_parse(buf, sizeof buf, "mem", &ts, &n) == QW_OK && n == 1);
    if (n == 1) CHECK(ts[0].data == buf + 72 && ts[0].shape[1] == 2 && strcmp(ts[0].name, "w") == 0);
    free(ts);
    CHECK(qw_safetensors_parse(buf, 40, "mem-truncated", &ts, &n) == QW_ERR_FORMAT && ts == NULL && n == 0);
    CHECK(strstr(qw_error_message(), "mem-truncated") != NULL);
}

static const char *shard_hdr(const char *name, int nbytes, char *buf, size_t n) {
    snprintf(buf, n, "{\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[0,%d]}}", name, nbytes / 4,
             nbytes);
    return buf;
}

static void test_bad_index(void) {
    char h[256];
    mkdir(tio_path("idx"), 0755);
    craft(tio_path("idx/s1.safetensors"), shard_hdr("x", 16, h, sizeof h), 16, 0);
    craft(tio_path("idx/s2.safetensors"), shard_hdr("y", 8, h, sizeof h), 8, 0);
    const char *ip = tio_path("idx/model.safetensors.index.json");

    // a good index first, so the failures below are each about one thing
    tio_write_str(ip, "{\"metadata\":{\"total_size\":24},\"weight_map\":{\"x\":\"s1.safetensors\",\"y\":\"s2."
                      "safetensors\"}}");
    qw_safetensors st;
    CHECKF(qw_safetensors_open(&st, tio_path("idx")) == QW_OK, "%s", qw_error_message());
    CHECK(st.n_tensors == 2 && st.n_files == 2 && qw_safetensors_find(&st, "y") != NULL);
    qw_safetensors_close(&st);

    tio_write_str(ip, "{\"weight_map\":{\"x\":\"s1.safetensors\",\"y\":\"s3.safetensors\"}}");
    EXPECT_FAIL(ip, QW_ERR_IO, "s3.safetensors", NULL);
    tio_write_str(ip, "{\"weight_map\":{\"x\":\"s1.safetensors\",\"q\":\"s2.safetensors\"}}");
    EXPECT_FAIL(ip, QW_ERR_FORMAT, "'q'", "s2.safetensors");
    tio_write_str(ip, "{\"weight_map\":{\"x\":\"s1.safetensors\",\"y\":\"s1.safetensors\"}}");
    EXPECT_FAIL(ip, QW_ERR_FORMAT, "'y'", "s1.safetensors");
    tio_write_str(ip, "{\"weight_map\":{\"x\":\"../idx/s1.safetensors\"}}");
    EXPECT_FAIL(ip, QW_ERR_FORMAT, "../idx/s1.safetensors", "plain file name");
    tio_write_str(ip, "{\"weight_map\":{\"x\":\"..\"}}");
    EXPECT_FAIL(ip, QW_ERR_FORMAT, "plain file name", NULL);
    tio_write_str(ip, "{\"weight_map\":{\"x\":1}}");
    EXPECT_FAIL(ip, QW_ERR_FORMAT, "'x'", NULL);
    tio_write_str(ip, "{\"weight_map\":{}}");
    EXPECT_FAIL(ip, QW_ERR_FORMAT, "empty", NULL);
    tio_write_str(ip, "{\"metadata\":{}}");
    EXPECT_FAIL(ip, QW_ERR_FORMAT, "weight_map", NULL);
    tio_write_str(ip, "{\"weight_map\":{\"x\":\"s1.safetensors\",");
    EXPECT_FAIL(ip, QW_ERR_FORMAT, "JSON", NULL);
    // a shard that is itself broken: the message names the shard
    craft(tio_path("idx/s2.safetensors"), "{\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99]}}",
          8, 0);
    tio_write_str(ip, "{\"weight_map\":{\"x\":\"s1.safetensors\",\"y\":\"s2.safetensors\"}}");
    EXPECT_FAIL(ip, QW_ERR_FORMAT, "s2.safetensors", "'y'");
    // two shards holding the same tensor
    craft(tio_path("idx/s2.safetensors"), shard_hdr("x", 8, h, sizeof h), 8, 0);
    EXPECT_FAIL(ip, QW_ERR_FORMAT, "'x'", "both");
    // the directory form reports the same problems
    EXPECT_FAIL(tio_path("idx"), QW_ERR_FORMAT, "'x'", "both");
}

int main(void) {
    tio_tmpdir();
    test_bad_files();
    test_odd_but_valid();
    test_bad_index();
    TEST_DONE();
}
