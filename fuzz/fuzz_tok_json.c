// fuzz/fuzz_tok_json: libFuzzer target that loads arbitrary bytes as tokenizer.json: it must fail with
// a message or load a tokenizer that can encode and decode without crashing.
#include "base/base.h"
#include "tok/tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qw_tokenizer *t;
    qw_status st = qw_tok_load_from_memory(&t, (const char *)data, size, "fuzz.json");
    if (st != QW_OK) {
        QW_ASSERT(t == NULL && strstr(qw_error_message(), "fuzz.json") != NULL);
        return 0;
    }
    static const char *texts[] = {"Hello world", "ab abc <X> <|im_start|>x", "  \n\t 123 caf\xc3\xa9 \xff", ""};
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        int32_t *ids;
        size_t n;
        QW_ASSERT(qw_tok_encode(t, texts[k], strlen(texts[k]), (int)(k & 1), &ids, &n) == QW_OK);
        for (size_t i = 0; i < n; i++) QW_ASSERT(qw_tok_token_bytes(t, ids[i], NULL) != NULL);
        char *d;
        size_t dl;
        QW_ASSERT(qw_tok_decode(t, ids, n, 1, &d, &dl) == QW_OK);
        free(d);
        free(ids);
    }
    for (int32_t id = -1; id <= qw_tok_n_vocab(t) && id < 64; id++) {
        const char *s = qw_tok_token_text(t, id);
        if (s) QW_ASSERT(qw_tok_find(t, s) >= 0);
    }
    for (int32_t i = 0; i < qw_tok_n_merges(t) && i < 16; i++) {
        int32_t a, b;
        qw_tok_merge(t, i, &a, &b);
        QW_ASSERT(qw_tok_token_text(t, a) && qw_tok_token_text(t, b));
    }
    qw_tok_free(t);
    return 0;
}
