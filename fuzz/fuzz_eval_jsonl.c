// fuzz/fuzz_eval_jsonl: libFuzzer target for the eval task parser (JSONL) and answer normalisation. An
// accepted file must hold only well-formed items; a refused one must name itself and leave nothing behind.
#include "eval/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qw_task t;
    if (qw_task_parse(&t, (const char *)data, size, "fuzz.jsonl", 0) != QW_OK) {
        QW_ASSERT(t.n_items == 0 && t.items == NULL);
        QW_ASSERT(strncmp(qw_error_message(), "fuzz.jsonl", 10) == 0 || strstr(qw_error_message(), "out of memory"));
        return 0;
    }
    QW_ASSERT(t.n_items > 0);
    qw_matcher mt;
    QW_ASSERT(qw_matcher_init(&mt, "contains") == QW_OK);
    for (int i = 0; i < t.n_items; i++) {
        const qw_task_item *it = &t.items[i];
        QW_ASSERT(it->line >= 1 && (it->prompt != NULL) != (it->n_messages > 0));
        if (t.kind == QW_TASK_MULTIPLE_CHOICE) {
            QW_ASSERT(it->n_choices > 0 && it->label >= 0 && it->label < it->n_choices);
            for (int j = 0; j < it->n_choices; j++) QW_ASSERT(it->choices[j] && it->choices[j][0]);
        } else {
            QW_ASSERT(it->answer != NULL);
            char *n = qw_eval_normalize(it->answer);
            QW_ASSERT(n != NULL);
            char *again = qw_eval_normalize(n); // normalising is idempotent
            QW_ASSERT(again && strcmp(n, again) == 0);
            QW_ASSERT(qw_matcher_test(&mt, it->answer, it->answer));
            free(n), free(again);
        }
    }
    qw_matcher_free(&mt);
    qw_task_free(&t);
    return 0;
}
