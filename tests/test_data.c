// tests/test_data: the data qwick's shipped model is made from: the Debian-sections task JSONL parses as
// qwick eval reads it, with the right splits and fields, and the trimmed tokenizer loads and round-trips.
#include "base/base.h"
#include "eval/eval.h"
#include "test.h"
#include "test_jsonl.h"
#include "tok/tok.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <utf8proc.h>

static const char *SECTIONS[] = {"admin", "devel", "doc",  "games",  "graphics", "libdevel",
                                 "libs",  "net",   "perl", "python", "science",  "sound",
                                 "text",  "utils", "web",  "x11"};
#define N_SECTIONS 16
#define TOK_DIR "models/qwick-debian/tokenizer.json"

static int section_index(const char *s) {
    for (int i = 0; i < N_SECTIONS; i++)
        if (!strcmp(s, SECTIONS[i])) return i;
    return -1;
}

static const char *str_field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

// The splits as qwick eval reads them: kinds, sizes, answers among the 16 sections, MC matching generative.
static void test_task_files(void) {
    static const struct {
        const char *path;
        qw_task_kind kind;
        int min, max;
    } files[] = {
        {"data/sections/train.jsonl", QW_TASK_GENERATIVE, 15000, 20000},
        {"data/sections/val.jsonl", QW_TASK_GENERATIVE, 1000, 1000},
        {"data/sections/test.jsonl", QW_TASK_GENERATIVE, 1000, 1000},
        {"data/sections/val_mc.jsonl", QW_TASK_MULTIPLE_CHOICE, 1000, 1000},
        {"data/sections/test_mc.jsonl", QW_TASK_MULTIPLE_CHOICE, 1000, 1000},
    };
    qw_task gen[3] = {0};
    for (int f = 0; f < 5; f++) {
        qw_task t;
        qw_status s = qw_task_load(&t, files[f].path, 0);
        CHECKF(s == QW_OK, "%s", qw_error_message());
        if (s != QW_OK) continue;
        CHECKF(t.kind == files[f].kind, "%s: kind %d", files[f].path, t.kind);
        CHECKF(t.n_items >= files[f].min && t.n_items <= files[f].max, "%s: %d items", files[f].path,
               t.n_items);
        int bad = 0;
        for (int i = 0; i < t.n_items; i++) {
            const qw_task_item *it = &t.items[i];
            if (!it->prompt || strncmp(it->prompt, "Which Debian section", 20) ||
                !strstr(it->prompt, "\nPackage: "))
                bad++;
            else if (t.kind == QW_TASK_GENERATIVE && section_index(it->answer) < 0)
                bad++;
            else if (t.kind == QW_TASK_MULTIPLE_CHOICE && it->n_choices != N_SECTIONS)
                bad++;
            else if (t.kind == QW_TASK_MULTIPLE_CHOICE && f >= 3 && gen[f - 2].n_items == t.n_items &&
                     (strcmp(it->prompt, gen[f - 2].items[i].prompt) ||
                      strcmp(it->choices[it->label], gen[f - 2].items[i].answer)))
                bad++; // val_mc/test_mc are val/test item for item
        }
        CHECKF(bad == 0, "%s: %d malformed items", files[f].path, bad);
        if (f < 3)
            gen[f] = t;
        else
            qw_task_free(&t);
    }
    for (int f = 0; f < 3; f++) qw_task_free(&gen[f]);
}

// No source package has items in two splits (siblings such as foo and foo-data would leak otherwise).
static void test_split_disjoint(void) {
    const char *paths[3] = {"data/sections/train.jsonl", "data/sections/val.jsonl",
                            "data/sections/test.jsonl"};
    cJSON *seen = cJSON_CreateObject(); // source -> split index
    int clash = 0, missing = 0;
    for (int f = 0; f < 3; f++) {
        int n;
        cJSON **v = read_jsonl(paths[f], &n);
        for (int i = 0; v && i < n; i++) {
            const char *src = str_field(v[i], "source");
            if (!src || !str_field(v[i], "package")) {
                missing++;
                continue;
            }
            const cJSON *prev = cJSON_GetObjectItemCaseSensitive(seen, src);
            if (prev && prev->valueint != f) clash++;
            if (!prev) cJSON_AddNumberToObject(seen, src, f);
        }
        if (v) free_jsonl(v, n);
    }
    CHECKF(missing == 0, "%d items without package/source", missing);
    CHECKF(clash == 0, "%d items whose source package is in another split", clash);
    cJSON_Delete(seen);
}

static int roundtrips(const qw_tokenizer *tok, const char *text, size_t len) {
    int32_t *ids = NULL;
    size_t n = 0, m = 0;
    char *back = NULL;
    int ok = qw_tok_encode(tok, text, len, 1, &ids, &n) == QW_OK &&
             qw_tok_decode(tok, ids, n, 0, &back, &m) == QW_OK && m == len && !memcmp(back, text, len);
    free(ids);
    free(back);
    return ok;
}

// The trimmed tokenizer: its size, its special tokens, transformers.js's ids, and lossless round trips.
static void test_tokenizer(void) {
    qw_tokenizer *tok = NULL;
    qw_status s = qw_tok_load(&tok, TOK_DIR);
    CHECKF(s == QW_OK, "%s", qw_error_message());
    if (s != QW_OK) return;
    CHECKF(qw_tok_n_vocab(tok) == 8192, "vocabulary of %d", qw_tok_n_vocab(tok));
    CHECK(qw_tok_find(tok, "<|endoftext|>") == 8189);
    CHECK(qw_tok_find(tok, "<|im_start|>") == 8190);
    CHECK(qw_tok_find(tok, "<|im_end|>") == 8191);

    int n, differ = 0, nfc = 0, lost = 0;
    cJSON **v = read_jsonl("tests/data/tok_debian_expected.jsonl", &n);
    CHECKF(n >= 300, "%d reference strings", n);
    for (int i = 0; v && i < n; i++) {
        const char *text = str_field(v[i], "text");
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(v[i], "ids");
        int32_t *ids = NULL;
        size_t k = 0;
        if (!text || qw_tok_encode(tok, text, strlen(text), 1, &ids, &k) != QW_OK) {
            differ++;
            continue;
        }
        int same = (int)k == cJSON_GetArraySize(ref);
        for (size_t j = 0; same && j < k; j++) same = cJSON_GetArrayItem(ref, (int)j)->valueint == ids[j];
        if (!same) {
            differ++;
            if (differ <= 3) fprintf(stderr, "ids differ from transformers.js on: %.80s\n", text);
        }
        free(ids);
        // decode(encode(s)) == s holds for text that is already NFC (the normaliser changes the rest)
        char *c = (char *)utf8proc_NFC((const utf8proc_uint8_t *)text);
        if (c && !strcmp(c, text)) {
            nfc++;
            if (!roundtrips(tok, text, strlen(text))) lost++;
        }
        free(c);
    }
    CHECKF(differ == 0, "%d of %d strings tokenized differently from transformers.js", differ, n);
    CHECKF(lost == 0, "%d of %d NFC strings do not round-trip", lost, nfc);
    if (v) free_jsonl(v, n);

    char *val;
    size_t len;
    s = qw_file_read_all("data/corpus_val.txt", (size_t)16 << 20, &val, &len);
    CHECKF(s == QW_OK, "%s", qw_error_message());
    if (s == QW_OK) {
        CHECKF(len > 200000 && len < 600000, "data/corpus_val.txt has %zu bytes", len);
        CHECK(roundtrips(tok, val, len));
        free(val);
    }
    qw_tok_free(tok);
}

int main(void) {
    test_task_files();
    test_split_disjoint();
    test_tokenizer();
    TEST_DONE();
}
