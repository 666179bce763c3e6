// tests/test_gguf: GGUF write -> read round trips (every metadata type, tensors of every qw_type) and
// hand-crafted hostile files, each refused with a clear message naming the file, never a crash.
#include "io/io.h"
#include "tensor/quant.h"
#include "test.h"

#include <unistd.h>

// ---------------------------------------------------------------------------------------------------
// a byte builder for crafted files

typedef struct {
    uint8_t b[4096];
    size_t n;
} bb;
static void b_raw(bb *b, const void *p, size_t n) {
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void b_u32(bb *b, uint32_t v) { b_raw(b, &v, 4); }
static void b_u64(bb *b, uint64_t v) { b_raw(b, &v, 8); }
static void b_str(bb *b, const char *s) {
    b_u64(b, strlen(s));
    b_raw(b, s, strlen(s));
}
static void b_pad(bb *b, size_t a) {
    while (b->n % a) b->b[b->n++] = 0;
}
static void b_header(bb *b, uint32_t version, uint64_t nt, uint64_t nkv) {
    b->n = 0;
    b_raw(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, nt);
    b_u64(b, nkv);
}
// tensor info: 2-D F32 (cols innermost)
static void b_tensor(bb *b, const char *name, uint32_t n_dims, uint64_t ne0, uint64_t ne1, uint32_t type,
                     uint64_t off) {
    b_str(b, name);
    b_u32(b, n_dims);
    b_u64(b, ne0);
    if (n_dims > 1) b_u64(b, ne1);
    for (uint32_t d = 2; d < n_dims; d++) b_u64(b, 1);
    b_u32(b, type);
    b_u64(b, off);
}

static void expect(const bb *b, qw_status want, const char *needle, int line) {
    qw_gguf g;
    qw_status s = qw_gguf_parse(&g, b->b, b->n, "crafted.gguf");
    const char *msg = qw_error_message();
    if (getenv("QWICK_TEST_VERBOSE")) printf("  line %d: %s: %s\n", line, qw_status_name(s), msg);
    CHECKF(s == want, "line %d: got %s, want %s (%s)", line, qw_status_name(s), qw_status_name(want), msg);
    if (want != QW_OK) {
        CHECKF(strstr(msg, "crafted.gguf") != NULL, "line %d: message does not name the file: %s", line, msg);
        if (needle) CHECKF(strstr(msg, needle) != NULL, "line %d: message lacks '%s': %s", line, needle, msg);
        CHECK(g.tensors == NULL && g.kv == NULL);
    }
    if (s == QW_OK) qw_gguf_close(&g);
}
#define EXPECT(b, s, needle) expect(b, s, needle, __LINE__)

static void test_crafted(void) {
    bb b;
    // a valid minimal file: one 2x4 F32 tensor
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "w", 2, 4, 2, QW_TYPE_F32, 0);
    b_pad(&b, 32);
    memset(b.b + b.n, 0, 32);
    b.n += 32;
    EXPECT(&b, QW_OK, NULL);
    bb ok = b;

    b = ok;
    b.b[0] = 'X';
    EXPECT(&b, QW_ERR_FORMAT, "bad magic");
    b.n = 3;
    EXPECT(&b, QW_ERR_FORMAT, "bad magic");
    b = ok;
    b.b[4] = 1;
    EXPECT(&b, QW_ERR_UNSUPPORTED, "version 1");
    b = ok;
    b.b[4] = 2; // v2 has v3's layout
    EXPECT(&b, QW_OK, NULL);

    b_header(&b, 3, (uint64_t)1 << 60, 0);
    EXPECT(&b, QW_ERR_FORMAT, "more than");
    b_header(&b, 3, 0, UINT64_MAX);
    EXPECT(&b, QW_ERR_FORMAT, "more than");

    // string lengths past the end, huge arrays, unknown value types, nested arrays
    b_header(&b, 3, 0, 1);
    b_u64(&b, 1000);
    b_raw(&b, "key", 3);
    b.n += 16;
    EXPECT(&b, QW_ERR_FORMAT, "past the end");
    b_header(&b, 3, 0, 1);
    b_u64(&b, UINT64_MAX);
    b.n += 16;
    EXPECT(&b, QW_ERR_FORMAT, "past the end");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, QW_GGUF_ARRAY);
    b_u32(&b, QW_GGUF_UINT64);
    b_u64(&b, (uint64_t)1 << 61);
    EXPECT(&b, QW_ERR_FORMAT, "past the end");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, QW_GGUF_ARRAY);
    b_u32(&b, QW_GGUF_STRING);
    b_u64(&b, (uint64_t)1 << 62);
    EXPECT(&b, QW_ERR_FORMAT, "cannot fit");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, 99);
    b_u64(&b, 0);
    EXPECT(&b, QW_ERR_FORMAT, "unknown value type 99");
    b_header(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, QW_GGUF_ARRAY);
    b_u32(&b, QW_GGUF_ARRAY);
    b_u64(&b, 1);
    b_u64(&b, 0);
    EXPECT(&b, QW_ERR_FORMAT, "unsupported element type");
    b_header(&b, 3, 0, 2);
    b_str(&b, "k");
    b_u32(&b, QW_GGUF_UINT8);
    b_raw(&b, "\1", 1);
    b_str(&b, "k");
    b_u32(&b, QW_GGUF_UINT8);
    b_raw(&b, "\1", 1);
    EXPECT(&b, QW_ERR_FORMAT, "appears twice");
    // alignment that is not a power of two
    b_header(&b, 3, 0, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, QW_GGUF_UINT32);
    b_u32(&b, 48);
    EXPECT(&b, QW_ERR_UNSUPPORTED, "general.alignment 48");

    // tensor infos
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "w", 5, 4, 2, QW_TYPE_F32, 0);
    b_pad(&b, 32);
    EXPECT(&b, QW_ERR_FORMAT, "5 dims");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "w", 2, (uint64_t)1 << 40, (uint64_t)1 << 40, QW_TYPE_F32, 0);
    EXPECT(&b, QW_ERR_FORMAT, "overflow");
    b_header(&b, 3, 1, 0); // a zero dim hides nothing: found by the fuzzer
    b_str(&b, "w");
    b_u32(&b, 3);
    b_u64(&b, 0);
    b_u64(&b, (uint64_t)1 << 40);
    b_u64(&b, (uint64_t)1 << 40);
    b_u32(&b, QW_TYPE_F32);
    b_u64(&b, 0);
    EXPECT(&b, QW_ERR_FORMAT, "overflow");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "w", 2, 4, 2, 77, 0);
    EXPECT(&b, QW_ERR_UNSUPPORTED, "type 77");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "w", 2, 4, 2, 3 /* Q4_1: GGUF has it, qwick does not */, 0);
    EXPECT(&b, QW_ERR_UNSUPPORTED, "type 3 (Q4_1)");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "w", 2, 33, 2, QW_TYPE_Q8_0, 0);
    EXPECT(&b, QW_ERR_FORMAT, "multiple of");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "w", 2, 4, 2, QW_TYPE_F32, 8);
    EXPECT(&b, QW_ERR_FORMAT, "alignment");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "w", 2, 4, 2, QW_TYPE_F32, 64);
    b_pad(&b, 32);
    b.n += 32;
    EXPECT(&b, QW_ERR_FORMAT, "past the end");
    b_header(&b, 3, 1, 0);
    b_tensor(&b, "w", 2, 4, 2, QW_TYPE_F32, UINT64_MAX - 31);
    b_pad(&b, 32);
    EXPECT(&b, QW_ERR_FORMAT, "past the end");
    b_header(&b, 3, 2, 0);
    b_tensor(&b, "a", 1, 16, 0, QW_TYPE_F32, 0);
    b_tensor(&b, "b", 1, 8, 0, QW_TYPE_F32, 32);
    b_pad(&b, 32);
    b.n += 64;
    EXPECT(&b, QW_ERR_FORMAT, "overlap");
    b_header(&b, 3, 2, 0);
    b_tensor(&b, "a", 1, 8, 0, QW_TYPE_F32, 0);
    b_tensor(&b, "a", 1, 8, 0, QW_TYPE_F32, 32);
    b_pad(&b, 32);
    b.n += 64;
    EXPECT(&b, QW_ERR_FORMAT, "appears twice");

    // every truncation of the valid file is refused cleanly
    for (size_t n = 0; n < ok.n; n++) {
        qw_gguf g;
        qw_status s = qw_gguf_parse(&g, ok.b, n, "crafted.gguf");
        CHECKF(s == QW_ERR_FORMAT, "truncated to %zu bytes: %s", n, qw_status_name(s));
    }
}

// ---------------------------------------------------------------------------------------------------
// write -> read

static void test_round_trip(void) {
    const char *path = "build/test_gguf_rt.gguf";
    qw_gguf_writer *w;
    CHECK(qw_gguf_writer_init(&w) == QW_OK);
    qw_gguf_set_str(w, "general.architecture", "qwen2");
    qw_gguf_set_u32(w, "qwen2.block_count", 36);
    qw_gguf_set_i32(w, "i32", -5);
    qw_gguf_set_u64(w, "u64", (uint64_t)1 << 40);
    qw_gguf_set_f32(w, "qwen2.rope.freq_base", 1e6f);
    qw_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 0);
    int8_t i8 = -3;
    qw_gguf_set_val(w, "i8", QW_GGUF_INT8, &i8);
    double f64 = 0.1;
    qw_gguf_set_val(w, "f64", QW_GGUF_FLOAT64, &f64);
    const char *toks[] = {"a", "Ġthe", "", "<|im_end|>"};
    qw_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    int32_t types[] = {1, 1, 5, 3};
    qw_gguf_set_arr(w, "tokenizer.ggml.token_type", QW_GGUF_INT32, types, 4);
    qw_gguf_set_u32(w, "qwen2.block_count", 1); // duplicate: write must refuse

    // tensors: F32, F16, BF16 and every quantized type
    enum { R = 2, C = 512 };
    static float x[R * C];
    qw_rng r;
    qw_rng_seed(&r, 3);
    for (int i = 0; i < R * C; i++) x[i] = qw_rng_normal(&r);
    const qw_type types_t[] = {QW_TYPE_F32, QW_TYPE_F16, QW_TYPE_BF16, QW_TYPE_Q8_0, QW_TYPE_Q4_0,
                               QW_TYPE_Q4_K, QW_TYPE_Q5_K, QW_TYPE_Q6_K, QW_TYPE_IQ4_NL};
    enum { NT = sizeof types_t / sizeof types_t[0] };
    void *data[NT];
    for (int i = 0; i < NT; i++) {
        const qw_type_traits *tr = qw_type_get(types_t[i]);
        size_t rb = qw_type_row_bytes(types_t[i], C);
        data[i] = malloc(rb * R);
        for (int row = 0; row < R; row++) tr->from_float_ref(x + row * C, (uint8_t *)data[i] + row * rb, C);
        qw_tensor t = {.type = types_t[i], .n_dims = 2, .shape = {R, C}, .data = data[i]};
        snprintf(t.name, sizeof t.name, "t.%s", tr->name);
        CHECK(qw_gguf_add_tensor(w, &t, NULL, NULL) == i);
    }
    qw_tensor v = {.name = "vec", .type = QW_TYPE_F32, .n_dims = 1, .shape = {3}, .data = x};
    qw_gguf_add_tensor(w, &v, NULL, NULL);
    CHECK(qw_gguf_write(w, path) == QW_ERR_ARG && strstr(qw_error_message(), "qwen2.block_count"));
    CHECK(!qw_file_exists(path));
    qw_gguf_writer_free(w);

    // again without the duplicate
    CHECK(qw_gguf_writer_init(&w) == QW_OK);
    qw_gguf_set_str(w, "general.architecture", "qwen2");
    qw_gguf_set_u32(w, "qwen2.block_count", 36);
    qw_gguf_set_i32(w, "i32", -5);
    qw_gguf_set_u64(w, "u64", (uint64_t)1 << 40);
    qw_gguf_set_f32(w, "qwen2.rope.freq_base", 1e6f);
    qw_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 0);
    qw_gguf_set_val(w, "i8", QW_GGUF_INT8, &i8);
    qw_gguf_set_val(w, "f64", QW_GGUF_FLOAT64, &f64);
    qw_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    qw_gguf_set_arr(w, "tokenizer.ggml.token_type", QW_GGUF_INT32, types, 4);
    for (int i = 0; i < NT; i++) {
        qw_tensor t = {.type = types_t[i], .n_dims = 2, .shape = {R, C}, .data = data[i]};
        snprintf(t.name, sizeof t.name, "t.%s", qw_type_name(types_t[i]));
        qw_gguf_add_tensor(w, &t, NULL, NULL);
    }
    qw_gguf_add_tensor(w, &v, NULL, NULL);
    CHECKF(qw_gguf_write(w, path) == QW_OK, "%s", qw_error_message());
    qw_gguf_writer_free(w);

    qw_gguf g;
    CHECKF(qw_gguf_open(&g, path) == QW_OK, "%s", qw_error_message());
    CHECK(g.version == 3 && g.n_kv == 10 && g.n_tensors == NT + 1 && g.alignment == 32);
    int64_t iv;
    double dv;
    qw_gguf_str sv;
    CHECK(qw_gguf_get_str(&g, "general.architecture", &sv) == QW_OK && sv.len == 5 && !memcmp(sv.s, "qwen2", 5));
    CHECK(qw_gguf_get_i64(&g, "qwen2.block_count", &iv) == QW_OK && iv == 36);
    CHECK(qw_gguf_get_i64(&g, "i32", &iv) == QW_OK && iv == -5);
    CHECK(qw_gguf_get_i64(&g, "i8", &iv) == QW_OK && iv == -3);
    CHECK(qw_gguf_get_i64(&g, "u64", &iv) == QW_OK && iv == (int64_t)1 << 40);
    CHECK(qw_gguf_get_i64(&g, "tokenizer.ggml.add_bos_token", &iv) == QW_OK && iv == 0);
    CHECK(qw_gguf_get_f64(&g, "qwen2.rope.freq_base", &dv) == QW_OK && dv == 1e6);
    CHECK(qw_gguf_get_f64(&g, "f64", &dv) == QW_OK && dv == 0.1);
    CHECK(qw_gguf_get_i64(&g, "general.architecture", &iv) == QW_ERR_FORMAT);
    CHECK(qw_gguf_get_i64(&g, "nope", &iv) == QW_ERR_FORMAT && strstr(qw_error_message(), "nope"));
    const qw_gguf_kv *kv = qw_gguf_find_kv(&g, "tokenizer.ggml.tokens");
    CHECK(kv && kv->type == QW_GGUF_ARRAY && kv->elem_type == QW_GGUF_STRING && kv->n == 4);
    CHECK(kv && kv->strs[1].len == strlen("Ġthe") && !memcmp(kv->strs[1].s, "Ġthe", kv->strs[1].len));
    CHECK(kv && kv->strs[2].len == 0);
    kv = qw_gguf_find_kv(&g, "tokenizer.ggml.token_type");
    CHECK(kv && kv->n == 4 && qw_gguf_arr_i64(kv, 3) == 3);
    for (int i = 0; i < NT; i++) {
        char name[32];
        snprintf(name, sizeof name, "t.%s", qw_type_name(types_t[i]));
        const qw_tensor *t = qw_gguf_find_tensor(&g, name);
        CHECKF(t && t->type == types_t[i] && t->n_dims == 2 && t->shape[0] == R && t->shape[1] == C, "%s", name);
        if (!t) continue;
        CHECK(t->nbytes == qw_type_row_bytes(types_t[i], C) * R);
        CHECK(memcmp(t->data, data[i], t->nbytes) == 0);
        CHECK(((uintptr_t)t->data - (uintptr_t)g.map.data) % 32 == 0);
    }
    const qw_tensor *t = qw_gguf_find_tensor(&g, "vec");
    CHECK(t && t->n_dims == 1 && t->shape[0] == 3 && ((float *)t->data)[2] == x[2]);
    CHECK(qw_gguf_find_tensor(&g, "absent") == NULL);

    // every truncation of a real file and random corruptions: an error or success, never a crash
    size_t n = g.map.size;
    uint8_t *copy = malloc(n);
    memcpy(copy, g.map.data, n);
    qw_gguf_close(&g);
    for (size_t cut = 0; cut < n; cut += 7) {
        qw_gguf h;
        qw_status s = qw_gguf_parse(&h, copy, cut, "cut.gguf");
        CHECK(s != QW_OK || cut >= n - 32); // only the last padding may go unread
        if (s == QW_OK) qw_gguf_close(&h);
    }
    for (int it = 0; it < 2000; it++) {
        uint8_t *m = malloc(n);
        memcpy(m, copy, n);
        for (int k = 0; k < 4; k++) m[qw_rng_u64(&r) % 600] = (uint8_t)qw_rng_u64(&r);
        qw_gguf h;
        if (qw_gguf_parse(&h, m, n, "flip.gguf") == QW_OK) qw_gguf_close(&h);
        free(m);
    }
    free(copy);
    for (int i = 0; i < NT; i++) free(data[i]);
    unlink(path);

    CHECK(qw_gguf_open(&g, "build/does-not-exist.gguf") == QW_ERR_IO);
}

int main(void) {
    test_crafted();
    test_round_trip();
    TEST_DONE();
}
