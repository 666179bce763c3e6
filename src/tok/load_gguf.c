// tok/load_gguf: the tokenizer of a GGUF file (tokenizer.ggml.*, llama.cpp's "gpt2" model with the
// "qwen2" pre-tokenizer), rebuilt as the tokenizer.json it came from and loaded like one.
#include "tok_impl.h"

#include <cjson/cJSON.h>

// llama.cpp's token types (gguf-py's TokenType)
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

// Qwen2's split regex, as its tokenizer.json writes it; llama.cpp's "qwen2" pre-tokenizer is this one.
static const char *const QWEN2_REGEX =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static char *gguf_strdup(const qw_gguf_str *s) {
    if (memchr(s->s, 0, (size_t)s->len)) return NULL;
    char *p = malloc((size_t)s->len + 1);
    if (p) {
        memcpy(p, s->s, (size_t)s->len);
        p[s->len] = 0;
    }
    return p;
}

static cJSON *bytelevel(void) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "ByteLevel");
    cJSON_AddFalseToObject(o, "add_prefix_space");
    cJSON_AddFalseToObject(o, "trim_offsets");
    cJSON_AddFalseToObject(o, "use_regex");
    return o;
}

// The tokenizer.json skeleton of Qwen2: NFC, the split regex then byte-level, byte-level decoding.
static cJSON *skeleton(void) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "normalizer"), "type", "NFC");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *list = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(split, "pattern"), "Regex", QWEN2_REGEX);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddFalseToObject(split, "invert");
    cJSON_AddItemToArray(list, split);
    cJSON_AddItemToArray(list, bytelevel());
    cJSON_AddItemToObject(root, "decoder", bytelevel());
    return root;
}

static qw_status build_json(const qw_gguf *g, const qw_gguf_kv *tokens, const qw_gguf_kv *types,
                            const qw_gguf_kv *merges, cJSON *root) {
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddFalseToObject(model, "ignore_merges");
    cJSON_AddFalseToObject(model, "byte_fallback");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    cJSON *marr = cJSON_AddArrayToObject(model, "merges");
    if (!added || !vocab || !marr) return qw_error(QW_ERR_NOMEM, "%s: out of memory", g->path);
    for (uint64_t i = 0; i < tokens->n; i++) {
        int64_t ty = types ? qw_gguf_arr_i64(types, i) : TT_NORMAL;
        if (ty == TT_UNUSED) continue; // padding rows past the vocabulary: unassigned ids
        char *s = gguf_strdup(&tokens->strs[i]);
        if (!s) return qw_error(QW_ERR_FORMAT, "%s: token %llu holds a NUL byte", g->path, (unsigned long long)i);
        if (ty == TT_CONTROL || ty == TT_USER_DEFINED || ty == TT_UNKNOWN) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "id", (double)i);
            cJSON_AddStringToObject(a, "content", s);
            cJSON_AddFalseToObject(a, "single_word");
            cJSON_AddFalseToObject(a, "lstrip");
            cJSON_AddFalseToObject(a, "rstrip");
            cJSON_AddFalseToObject(a, "normalized");
            cJSON_AddBoolToObject(a, "special", ty != TT_USER_DEFINED);
            cJSON_AddItemToArray(added, a);
        } else {
            cJSON_AddItemToObject(vocab, s, cJSON_CreateNumber((double)i));
        }
        free(s);
    }
    for (uint64_t i = 0; merges && i < merges->n; i++) {
        char *s = gguf_strdup(&merges->strs[i]);
        // "left right": split at the first space after the first character, as llama.cpp does
        char *sp = s && s[0] ? strchr(s + 1, ' ') : NULL;
        if (!sp) {
            free(s);
            return qw_error(QW_ERR_FORMAT, "%s: tokenizer.ggml.merges[%llu] is not \"left right\"", g->path,
                            (unsigned long long)i);
        }
        *sp = 0;
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(s));
        cJSON_AddItemToArray(pair, cJSON_CreateString(sp + 1));
        cJSON_AddItemToArray(marr, pair);
        free(s);
    }
    return QW_OK;
}

qw_status qw_tok_load_gguf(qw_tokenizer **out, const qw_gguf *g) {
    *out = NULL;
    const qw_gguf_kv *tokens = qw_gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (!tokens) return qw_error(QW_ERR_FORMAT, "%s: no tokenizer.ggml.tokens", g->path);
    if (tokens->type != QW_GGUF_ARRAY || tokens->elem_type != QW_GGUF_STRING)
        return qw_error(QW_ERR_FORMAT, "%s: tokenizer.ggml.tokens is not an array of strings", g->path);
    if (tokens->n > QW_TOK_MAX_ID)
        return qw_error(QW_ERR_FORMAT, "%s: %llu tokens, more than qwick's limit %d", g->path,
                        (unsigned long long)tokens->n, QW_TOK_MAX_ID);
    qw_gguf_str s;
    if (qw_gguf_get_str(g, "tokenizer.ggml.model", &s) != QW_OK || s.len != 4 || memcmp(s.s, "gpt2", 4))
        return qw_error(QW_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model is not \"gpt2\" (byte-level BPE), the "
                        "only kind qwick reads", g->path);
    if (qw_gguf_get_str(g, "tokenizer.ggml.pre", &s) == QW_OK && !(s.len == 5 && !memcmp(s.s, "qwen2", 5)))
        return qw_error(QW_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre is \"%.*s\"; qwick implements \"qwen2\"",
                        g->path, (int)(s.len > 64 ? 64 : s.len), s.s);
    const qw_gguf_kv *types = qw_gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (types && (types->type != QW_GGUF_ARRAY || !types->data || types->n != tokens->n))
        return qw_error(QW_ERR_FORMAT, "%s: tokenizer.ggml.token_type is not an integer array as long as "
                        "the token list", g->path);
    const qw_gguf_kv *merges = qw_gguf_find_kv(g, "tokenizer.ggml.merges");
    if (merges && (merges->type != QW_GGUF_ARRAY || merges->elem_type != QW_GGUF_STRING))
        return qw_error(QW_ERR_FORMAT, "%s: tokenizer.ggml.merges is not an array of strings", g->path);

    cJSON *root = skeleton();
    qw_status st = root ? build_json(g, tokens, types, merges, root) : qw_error(QW_ERR_NOMEM, "out of memory");
    char *json = st == QW_OK ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (st == QW_OK && !json) st = qw_error(QW_ERR_NOMEM, "%s: out of memory", g->path);
    if (st == QW_OK) st = qw_tok_load_from_memory(out, json, strlen(json), g->path);
    free(json);
    return st;
}
