// fuzz/fuzz_gguf: libFuzzer target for the GGUF parser. Any input must give QW_OK with every string
// and tensor inside the buffer, or an error; never a crash, leak or out-of-bounds read.
#include "base/base.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qw_gguf g;
    if (qw_gguf_parse(&g, data, size, "fuzz.gguf") != QW_OK) return 0;
    const uint8_t *end = data + size;
    unsigned acc = 0;
    for (int64_t i = 0; i < g.n_kv; i++) {
        const qw_gguf_kv *kv = &g.kv[i];
        QW_ASSERT(qw_gguf_find_kv(&g, kv->key) != NULL);
        if (kv->type == QW_GGUF_STRING && kv->str.len)
            acc += (uint8_t)kv->str.s[0] + (uint8_t)kv->str.s[kv->str.len - 1];
        for (uint64_t j = 0; kv->strs && j < kv->n; j++) {
            QW_ASSERT((const uint8_t *)kv->strs[j].s >= data && (const uint8_t *)kv->strs[j].s + kv->strs[j].len <= end);
            if (kv->strs[j].len) acc += (uint8_t)kv->strs[j].s[kv->strs[j].len - 1];
        }
        if (kv->type == QW_GGUF_ARRAY && kv->data && kv->n) acc += (unsigned)qw_gguf_arr_i64(kv, kv->n - 1);
    }
    for (int64_t i = 0; i < g.n_tensors; i++) {
        const qw_tensor *t = &g.tensors[i];
        const uint8_t *p = t->data;
        QW_ASSERT(p >= data && p + t->nbytes <= end);
        QW_ASSERT(qw_gguf_find_tensor(&g, t->name) == t);
        QW_ASSERT(qw_type_row_bytes(t->type, qw_tensor_cols(t)) * (size_t)qw_tensor_rows(t) == t->nbytes);
        // touch the first and last byte so ASan sees any range that escaped the checks
        if (t->nbytes) acc += p[0] + p[t->nbytes - 1];
    }
    qw_gguf_close(&g);
    return (int)(acc & 0);
}
