// cli/gguf_out: what convert and quantize both put in the GGUF files they write besides the tensors: the
// model's name and its chat template.
#include "cli.h"

#include <cjson/cJSON.h>

void qw_cli_model_basename(const char *path, char *buf, size_t n) {
    const char *p = path + strlen(path);
    while (p > path && p[-1] == '/') p--; // "dir/" names dir
    const char *e = p;
    while (p > path && p[-1] != '/') p--;
    snprintf(buf, n, "%.*s", (int)(e - p), p);
}

char *qw_cli_chat_template(const char *model, const qw_model *m) {
    char *out = NULL;
    if (qw_dir_exists(model)) { // an HF folder: tokenizer_config.json's chat_template
        char p[4096], *txt = NULL;
        qw_path_join(p, sizeof p, model, "tokenizer_config.json");
        if (!qw_file_exists(p) || qw_file_read_all(p, (size_t)64 << 20, &txt, NULL) != QW_OK) return NULL;
        cJSON *j = cJSON_Parse(txt);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "chat_template");
        if (cJSON_IsString(t)) out = qw_strdup(t->valuestring);
        cJSON_Delete(j);
        free(txt);
        return out;
    }
    qw_gguf_str gs; // a GGUF source keeps its own
    if (m->gguf.map.data && qw_gguf_get_str(&m->gguf, "tokenizer.chat_template", &gs) == QW_OK &&
        !memchr(gs.s, 0, (size_t)gs.len) && (out = malloc((size_t)gs.len + 1))) {
        memcpy(out, gs.s, (size_t)gs.len);
        out[gs.len] = 0;
    }
    return out;
}
