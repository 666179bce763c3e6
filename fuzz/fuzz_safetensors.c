// fuzz/fuzz_safetensors: libFuzzer target for the safetensors header parser. Any input must give
// QW_OK with every tensor inside the buffer, or an error; never a crash, leak or out-of-bounds read.
#include "base/base.h"
#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qw_tensor *ts;
    int n;
    if (qw_safetensors_parse(data, size, "fuzz.safetensors", &ts, &n) != QW_OK) return 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *p = ts[i].data;
        QW_ASSERT(p >= data && ts[i].nbytes <= size && p + ts[i].nbytes <= data + size);
        QW_ASSERT(ts[i].n_dims >= 0 && ts[i].n_dims <= QW_MAX_DIMS && ts[i].name[0]);
        QW_ASSERT(qw_type_row_bytes(ts[i].type, qw_tensor_numel(&ts[i])) == ts[i].nbytes);
        // touch the first and last byte so ASan sees any range that escaped the checks
        if (ts[i].nbytes) QW_ASSERT((p[0] | p[ts[i].nbytes - 1]) < 256);
    }
    free(ts);
    return 0;
}
