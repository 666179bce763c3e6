// tests/test_io: safetensors round trips (every float type, 0-D to 4-D, empty and misaligned
// tensors), sharded writes, and a check of our files by an independent Python reader.
#include "test_io.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/stat.h>

typedef struct {
    const char *name;
    qw_type type;
    int n_dims;
    int64_t shape[4];
} spec;

// Varied on purpose: 0-D, 1-D, 4-D, zero-size, and an odd-length F16 before an F32 so the F32 lands
// misaligned in the file and the reader must copy it.
static const spec g_specs[] = {
    {"model.embed_tokens.weight", QW_TYPE_BF16, 2, {37, 16}},
    {"model.layers.0.self_attn.q_proj.bias", QW_TYPE_F32, 1, {16}},
    {"odd.f16", QW_TYPE_F16, 1, {5}},
    {"after_odd.f32", QW_TYPE_F32, 2, {3, 7}},
    {"scalar", QW_TYPE_F16, 0, {0}},
    {"empty.f32", QW_TYPE_F32, 1, {0}},
    {"empty.bf16.3d", QW_TYPE_BF16, 3, {4, 0, 2}},
    {"four.d", QW_TYPE_F32, 4, {2, 3, 1, 5}},
    {"weird \"name\" \\ with\tescapes/\xc3\xa9", QW_TYPE_BF16, 2, {2, 2}},
    {"lm_head.weight", QW_TYPE_F16, 2, {33, 16}},
};
#define N_SPECS ((int)(sizeof g_specs / sizeof g_specs[0]))

// Fills tensors from the specs: raw random bits (NaNs included) when raw, else finite values.
static void make_tensors(qw_tensor *ts, qw_rng *rng, int raw) {
    for (int i = 0; i < N_SPECS; i++) {
        qw_tensor *t = &ts[i];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "%s", g_specs[i].name);
        t->type = g_specs[i].type;
        t->n_dims = g_specs[i].n_dims;
        memcpy(t->shape, g_specs[i].shape, sizeof t->shape);
        int64_t n = qw_tensor_numel(t);
        t->nbytes = qw_type_row_bytes(t->type, n);
        t->data = malloc(t->nbytes + 1);
        float *f = malloc((size_t)n * 4 + 4);
        for (int64_t k = 0; k < n; k++) f[k] = qw_rng_normal(rng) * (k % 3 ? 1.0f : 1e-3f);
        if (n > 2) f[0] = 0.0f, f[1] = -0.0f, f[2] = 6e-8f; // zero signs and an f16 subnormal
        qw_convert_from_f32(t->type, f, t->data, n);
        if (raw)
            for (size_t k = 0; k < t->nbytes; k++) ((uint8_t *)t->data)[k] = (uint8_t)qw_rng_u64(rng);
        free(f);
    }
}

static void free_tensors(qw_tensor *ts, int n) {
    for (int i = 0; i < n; i++) free(ts[i].data);
}

// Every tensor of want[] found in st with the same type, shape and bytes, and aligned data.
static void check_same(const qw_safetensors *st, const qw_tensor *want, int n, const char *what) {
    CHECKF(st->n_tensors == n, "%s: %d tensors, want %d", what, st->n_tensors, n);
    for (int i = 0; i < n; i++) {
        const qw_tensor *t = qw_safetensors_find(st, want[i].name);
        CHECKF(t != NULL, "%s: tensor '%s' not found", what, want[i].name);
        if (!t) continue;
        int ok = t->type == want[i].type && t->n_dims == want[i].n_dims && t->nbytes == want[i].nbytes;
        for (int d = 0; d < t->n_dims && ok; d++) ok = t->shape[d] == want[i].shape[d];
        CHECKF(ok, "%s: tensor '%s' type/shape/size differ", what, want[i].name);
        if (ok)
            CHECKF(memcmp(t->data, want[i].data, t->nbytes) == 0, "%s: '%s' data differ", what, want[i].name);
        size_t align = t->type == QW_TYPE_F32 ? 4 : 2;
        CHECKF(t->nbytes == 0 || (uintptr_t)t->data % align == 0, "%s: '%s' misaligned", what, want[i].name);
    }
}

static void test_roundtrip(void) {
    qw_rng rng;
    qw_rng_seed(&rng, 1234);
    qw_tensor ts[N_SPECS];
    make_tensors(ts, &rng, 1);
    const char *path = tio_path("one.safetensors");
    const char *meta[] = {"format", "pt", "note", "quote \" and \\ kept"};
    CHECK(qw_safetensors_write(path, ts, N_SPECS, meta, 2) == QW_OK);

    qw_safetensors st;
    qw_status s = qw_safetensors_open(&st, path);
    CHECKF(s == QW_OK, "%s", qw_error_message());
    if (s == QW_OK) {
        check_same(&st, ts, N_SPECS, "roundtrip");
        CHECK(qw_safetensors_find(&st, "nope") == NULL);
        CHECK(qw_safetensors_find(&st, "") == NULL);
        CHECK(st.n_files == 1 && strcmp(st.paths[0], path) == 0);
        CHECK(st.copies != NULL); // after_odd.f32 sits at an odd offset in the file
        // header order is the given order
        for (int i = 0; i < st.n_tensors && i < N_SPECS; i++)
            CHECK(strcmp(st.tensors[i].name, ts[i].name) == 0);
    }
    qw_safetensors_close(&st);
    CHECK(st.n_tensors == 0 && st.tensors == NULL);

    // the raw layout: header padded to 8, tensors back to back in the given order, metadata kept
    size_t n;
    char *buf = tio_read(path, &n);
    CHECK(buf != NULL);
    if (buf) {
        uint64_t hlen;
        memcpy(&hlen, buf, 8);
        CHECK(hlen % 8 == 0);
        CHECK(memcmp(buf + 8, "{\"__metadata__\":{\"format\":\"pt\"", 30) == 0);
        size_t total = 0;
        for (int i = 0; i < N_SPECS; i++) total += ts[i].nbytes;
        CHECK(n == 8 + hlen + total);
        qw_tensor *pt;
        int np;
        CHECK(qw_safetensors_parse((const uint8_t *)buf, n, path, &pt, &np) == QW_OK && np == N_SPECS);
        const char *expect = buf + 8 + hlen;
        for (int i = 0; i < np; i++) {
            CHECKF((const char *)pt[i].data == expect, "tensor %d not contiguous", i);
            expect += pt[i].nbytes;
        }
        cJSON *h = cJSON_ParseWithLength(buf + 8, hlen);
        cJSON *m = cJSON_GetObjectItemCaseSensitive(h, "__metadata__");
        cJSON *note = cJSON_GetObjectItemCaseSensitive(m, "note");
        CHECK(cJSON_IsString(note) && strcmp(note->valuestring, "quote \" and \\ kept") == 0);
        cJSON_Delete(h);
        free(pt);
        free(buf);
    }
    // no temporary file left behind
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(!qw_file_exists(tmp));
    free_tensors(ts, N_SPECS);
}

static int count_files(const char *dir_path, const char *prefix) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c '^%s' > %s/count.txt", dir_path, prefix, dir_path);
    if (system(cmd) < 0) return -1;
    size_t n;
    char *c = tio_read(tio_path("shards/count.txt"), &n);
    int k = c ? atoi(c) : -1;
    free(c);
    remove(tio_path("shards/count.txt"));
    return k;
}

static void test_sharded(void) {
    // sizes 400, 400, 400, 1500, 100 bytes with a 1000-byte limit: {a, b}, {c}, {big}, {tail}
    const int64_t cols[] = {100, 100, 100, 375, 25};
    const char *names[] = {"a", "b", "c", "big", "tail"};
    qw_tensor ts[5];
    qw_rng rng;
    qw_rng_seed(&rng, 7);
    for (int i = 0; i < 5; i++) {
        memset(&ts[i], 0, sizeof ts[i]);
        snprintf(ts[i].name, sizeof ts[i].name, "%s", names[i]);
        ts[i].type = QW_TYPE_F32;
        ts[i].n_dims = 1;
        ts[i].shape[0] = cols[i];
        ts[i].nbytes = (size_t)cols[i] * 4;
        ts[i].data = malloc(ts[i].nbytes);
        for (int64_t k = 0; k < cols[i]; k++) ((float *)ts[i].data)[k] = qw_rng_normal(&rng);
    }
    const char *dir = tio_path("shards");
    // a stale single file would shadow the shards for transformers, so the writer removes it
    mkdir(dir, 0755);
    tio_write_str(tio_path("shards/model.safetensors"), "stale");
    qw_status s = qw_safetensors_write_sharded(dir, ts, 5, 1000);
    CHECKF(s == QW_OK, "%s", qw_error_message());
    CHECK(!qw_file_exists(tio_path("shards/model.safetensors")));
    CHECK(qw_file_exists(tio_path("shards/model.safetensors.index.json")));
    CHECK(count_files(dir, "model-0000") == 4);
    const char *shard_of[] = {"model-00001-of-00004.safetensors", "model-00001-of-00004.safetensors",
                              "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors",
                              "model-00004-of-00004.safetensors"};
    for (int i = 0; i < 5; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, shard_of[i]);
        qw_safetensors one;
        CHECKF(qw_safetensors_open(&one, p) == QW_OK, "%s", qw_error_message());
        CHECKF(qw_safetensors_find(&one, names[i]) != NULL, "%s not in %s", names[i], shard_of[i]);
        qw_safetensors_close(&one);
    }
    // the index: total_size and a sorted weight_map, as transformers writes them
    size_t n;
    char *idx = tio_read(tio_path("shards/model.safetensors.index.json"), &n);
    cJSON *root = idx ? cJSON_Parse(idx) : NULL;
    cJSON *ts_json =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "metadata"), "total_size");
    CHECK(cJSON_IsNumber(ts_json) && ts_json->valuedouble == 4 * (100 + 100 + 100 + 375 + 25));
    cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    CHECK(cJSON_GetArraySize(wm) == 5);
    const char *prev = "";
    for (cJSON *e = wm ? wm->child : NULL; e; e = e->next) {
        CHECK(strcmp(prev, e->string) < 0);
        prev = e->string;
    }
    cJSON_Delete(root);
    free(idx);

    qw_safetensors st;
    CHECKF(qw_safetensors_open(&st, dir) == QW_OK, "%s", qw_error_message());
    check_same(&st, ts, 5, "sharded dir");
    CHECK(st.n_files == 4);
    qw_safetensors_close(&st);
    CHECKF(qw_safetensors_open(&st, tio_path("shards/model.safetensors.index.json")) == QW_OK, "%s",
           qw_error_message());
    check_same(&st, ts, 5, "sharded index path");
    qw_safetensors_close(&st);

    // everything fits: one model.safetensors, and the stale index goes
    CHECK(qw_safetensors_write_sharded(dir, ts, 5, 0) == QW_OK);
    CHECK(qw_file_exists(tio_path("shards/model.safetensors")));
    CHECK(!qw_file_exists(tio_path("shards/model.safetensors.index.json")));
    CHECKF(qw_safetensors_open(&st, dir) == QW_OK, "%s", qw_error_message());
    check_same(&st, ts, 5, "single in dir");
    CHECK(st.n_files == 1);
    qw_safetensors_close(&st);
    CHECK(qw_safetensors_write_sharded(tio_path("fits"), ts, 5, 1 << 20) == QW_OK);
    CHECK(qw_file_exists(tio_path("fits/model.safetensors")));

    // a tensor without data is the caller's bug; nothing is written
    void *keep = ts[2].data;
    ts[2].data = NULL;
    CHECK(qw_safetensors_write_sharded(tio_path("nodata"), ts, 5, 1000) == QW_ERR_ARG);
    CHECK(strstr(qw_error_message(), "'c'") != NULL);
    CHECK(!qw_file_exists(tio_path("nodata/model-00001-of-00004.safetensors")));
    ts[2].data = keep;
    free_tensors(ts, 5);
}

static void test_writer_refuses(void) {
    qw_tensor t = {.name = "q", .type = QW_TYPE_Q8_0, .n_dims = 1, .shape = {32}, .nbytes = 34};
    uint8_t blk[34] = {0};
    t.data = blk;
    const char *path = tio_path("refused.safetensors");
    CHECK(qw_safetensors_write(path, &t, 1, NULL, 0) == QW_ERR_UNSUPPORTED);
    t.type = QW_TYPE_F32;
    CHECK(qw_safetensors_write(path, &t, 1, NULL, 0) == QW_ERR_ARG); // nbytes does not match
    t.nbytes = 128;
    float f[32] = {0};
    t.data = f;
    qw_tensor two[2] = {t, t};
    CHECK(qw_safetensors_write(path, two, 2, NULL, 0) == QW_ERR_ARG); // same name twice
    CHECK(strstr(qw_error_message(), "'q'") != NULL);
    CHECK(!qw_file_exists(path));
    t.n_dims = 0; // a 0-D tensor holds one element, not 32
    CHECK(qw_safetensors_write(path, &t, 1, NULL, 0) == QW_ERR_ARG);
    qw_tensor empty = {.name = "e", .type = QW_TYPE_BF16, .n_dims = 1, .shape = {0}};
    CHECK(qw_safetensors_write(path, &empty, 1, NULL, 0) == QW_OK); // no data needed for no elements
    CHECK(qw_safetensors_write(path, NULL, 0, NULL, 0) == QW_OK);   // an empty file is valid
    qw_safetensors st;
    CHECK(qw_safetensors_open(&st, path) == QW_OK && st.n_tensors == 0);
    qw_safetensors_close(&st);
}

// An independent reader (json + numpy only) must accept the file under HF's rules (header padded to
// 8, no holes, no trailing bytes) and decode every tensor to the values qwick decodes.
static const char *g_py_reader =
    "import json, struct, sys\n"
    "import numpy as np\n"
    "path, out = sys.argv[1], sys.argv[2]\n"
    "raw = open(path, 'rb').read()\n"
    "(n,) = struct.unpack('<Q', raw[:8])\n"
    "assert n % 8 == 0, 'header not padded'\n"
    "hdr = json.loads(raw[8:8 + n].decode('utf-8'))\n"
    "data = raw[8 + n:]\n"
    "assert hdr.pop('__metadata__') == {'format': 'pt'}\n"
    "pos = 0\n"
    "for i, (name, e) in enumerate(sorted(hdr.items(), key=lambda kv: kv[1]['data_offsets'][0])):\n"
    "    b, end = e['data_offsets']\n"
    "    assert b == pos, (name, b, pos)\n"
    "    pos = end\n"
    "    a = np.frombuffer(data[b:end], dtype={'F32': '<f4', 'F16': '<f2', 'BF16': '<u2'}[e['dtype']])\n"
    "    if e['dtype'] == 'BF16':\n"
    "        a = (a.astype('<u4') << 16).view('<f4')\n"
    "    np.save('%s/%d.npy' % (out, list(hdr).index(name)), a.astype('<f4').reshape(e['shape']))\n"
    "assert pos == len(data), 'trailing bytes'\n";

static void test_python_reader(void) {
    if (!tio_have_numpy()) {
        printf("note: /usr/bin/python3 with numpy not found; skipping the independent Python reader check\n");
        return;
    }
    qw_rng rng;
    qw_rng_seed(&rng, 99);
    qw_tensor ts[N_SPECS];
    make_tensors(ts, &rng, 0);
    const char *path = tio_path("py.safetensors");
    const char *meta[] = {"format", "pt"};
    CHECK(qw_safetensors_write(path, ts, N_SPECS, meta, 1) == QW_OK);
    tio_write_str(tio_path("reader.py"), g_py_reader);
    mkdir(tio_path("py"), 0755);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s", tio_path("reader.py"), path, tio_path("py"));
    CHECKF(system(cmd) == 0, "python reader failed: %s", cmd);
    for (int i = 0; i < N_SPECS; i++) {
        char name[32];
        snprintf(name, sizeof name, "py/%d.npy", i);
        qw_npy a;
        qw_status s = qw_npy_read(tio_path(name), &a);
        CHECKF(s == QW_OK, "%s", qw_error_message());
        if (s != QW_OK) continue;
        int64_t n = qw_tensor_numel(&ts[i]);
        int ok = a.n_dims == ts[i].n_dims && a.numel == n && strcmp(a.dtype, "f4") == 0;
        for (int d = 0; d < a.n_dims && ok; d++) ok = a.shape[d] == ts[i].shape[d];
        CHECKF(ok, "tensor '%s': python sees another shape", ts[i].name);
        float *mine = malloc((size_t)n * 4 + 4);
        qw_convert_to_f32(ts[i].type, ts[i].data, mine, n);
        if (ok)
            CHECKF(memcmp(mine, a.data, (size_t)n * 4) == 0, "tensor '%s': python decodes other values",
                   ts[i].name);
        free(mine);
        qw_npy_free(&a);
    }
    free_tensors(ts, N_SPECS);
}

int main(void) {
    tio_tmpdir();
    test_roundtrip();
    test_sharded();
    test_writer_refuses();
    test_python_reader();
    TEST_DONE();
}
