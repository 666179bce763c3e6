// tests/test_jsonl: reading a JSON-lines fixture into parsed cJSON objects, for the test programs that
// compare against recorded reference outputs (test_tok, test_data). Include after test.h.
#ifndef QW_TEST_JSONL_H
#define QW_TEST_JSONL_H

#include "base/base.h"

#include <cjson/cJSON.h>
#include <string.h>

// Reads a JSON-lines file into parsed objects (NULL, with a failure recorded, when it cannot be read).
static cJSON **read_jsonl(const char *path, int *count) {
    char *buf;
    size_t len;
    *count = 0;
    if (qw_file_read_all(path, (size_t)64 << 20, &buf, &len) != QW_OK) {
        CHECKF(0, "%s", qw_error_message());
        return NULL;
    }
    int cap = 1024;
    cJSON **v = malloc(cap * sizeof *v);
    for (char *p = buf, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl) nl = p + strlen(p);
        if (nl > p) {
            cJSON *o = cJSON_ParseWithLength(p, (size_t)(nl - p));
            CHECKF(o != NULL, "%s: bad line %d", path, *count + 1);
            if (o) {
                if (*count == cap) v = realloc(v, (cap *= 2) * sizeof *v);
                v[(*count)++] = o;
            }
        }
        if (!*nl) break;
    }
    free(buf);
    return v;
}

static void free_jsonl(cJSON **v, int n) {
    for (int i = 0; i < n; i++) cJSON_Delete(v[i]);
    free(v);
}

#endif
