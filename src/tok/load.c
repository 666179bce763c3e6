// tok/load: reads tokenizer.json (cJSON) into the lookup tables encode and decode use: id -> string and
// bytes, string -> id, byte-level alphabet, merge ranks, the added-token trie and the compiled regexes.
#include "tok_impl.h"

#include <cjson/cJSON.h>
#include <utf8proc.h>

// ---------------------------------------------------------------------------------------------------
// byte-level alphabet (GPT-2's bytes_to_unicode): printable Latin-1 bytes stand for themselves, the
// other 68 bytes are shifted to U+0100.. in byte order, so every byte string is a printable string.

static int g_cp_byte_init;
static int16_t g_cp_byte[256 + 68]; // code point -> byte, -1 if not in the alphabet

static int bytelevel_printable(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

static void bytelevel_init(void) {
    // Racing threads write the same values, so no lock is needed for correctness.
    if (__atomic_load_n(&g_cp_byte_init, __ATOMIC_ACQUIRE)) return;
    int16_t m[256 + 68];
    for (int i = 0; i < 256 + 68; i++) m[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) m[bytelevel_printable(b) ? b : 256 + extra++] = (int16_t)b;
    memcpy(g_cp_byte, m, sizeof m);
    __atomic_store_n(&g_cp_byte_init, 1, __ATOMIC_RELEASE);
}

// Decodes a token string as HF's ByteLevel decoder does: each character back to its byte; a token
// with any character outside the alphabet (an added token like "<|im_start|>" has none, but a file
// may) is kept as its own UTF-8. Returns the length written to out (at most strlen(s)); *mapped says
// which case it was.
static size_t bytelevel_decode(const char *s, unsigned char *out, int *mapped) {
    size_t n = strlen(s), k = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t cl;
        int32_t cp = -1;
        if (qw_tok_utf8_next(u + i, n - i, &cl) == 1) {
            utf8proc_int32_t c;
            utf8proc_iterate(u + i, (utf8proc_ssize_t)cl, &c);
            cp = c;
        }
        if (cp < 0 || cp >= 256 + 68 || g_cp_byte[cp] < 0) {
            memcpy(out, s, n);
            *mapped = 0;
            return n;
        }
        out[k++] = (unsigned char)g_cp_byte[cp];
        i += cl;
    }
    *mapped = 1;
    return k;
}

// ---------------------------------------------------------------------------------------------------
// hashing and the two maps

uint64_t qw_tok_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

// off[] gives where each id's key starts in arena; its length is len_or_null (bytes_off style: the
// next offset) or strlen for the NUL-terminated text arena.
static size_t key_len(const char *arena, const uint32_t *off, const uint32_t *next_off, int32_t id) {
    return next_off ? next_off[id + 1] - off[id] : strlen(arena + off[id]);
}

int32_t qw_tok_strmap_get(const qw_tok_strmap *m, const char *arena, const uint32_t *off,
                          const uint32_t *next_off, const void *key, size_t n) {
    if (!m->slot) return -1;
    for (uint32_t i = (uint32_t)qw_tok_hash(key, n) & m->mask;; i = (i + 1) & m->mask) {
        int32_t id = m->slot[i];
        if (id < 0) return -1;
        if (key_len(arena, off, next_off, id) == n && memcmp(arena + off[id], key, n) == 0) return id;
    }
}

// Inserts id unless its key is there already (then the first id keeps it, which is what a reader of
// the file would expect from duplicated strings).
static void strmap_put(qw_tok_strmap *m, const char *arena, const uint32_t *off, const uint32_t *next_off,
                       int32_t id) {
    size_t n = key_len(arena, off, next_off, id);
    const char *key = arena + off[id];
    for (uint32_t i = (uint32_t)qw_tok_hash(key, n) & m->mask;; i = (i + 1) & m->mask) {
        int32_t o = m->slot[i];
        if (o < 0) {
            m->slot[i] = id;
            return;
        }
        if (key_len(arena, off, next_off, o) == n && memcmp(arena + off[o], key, n) == 0) return;
    }
}

static int strmap_init(qw_tok_strmap *m, size_t count) {
    size_t cap = 16;
    while (cap < count * 2) cap *= 2;
    m->slot = malloc(cap * sizeof *m->slot);
    if (!m->slot) return 0;
    memset(m->slot, 0xff, cap * sizeof *m->slot);
    m->mask = (uint32_t)(cap - 1);
    return 1;
}

static uint64_t merge_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

int32_t qw_tok_merge_get(const qw_tokenizer *t, int32_t a, int32_t b, int32_t *rank) {
    uint64_t key = merge_key(a, b);
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    for (uint32_t i = (uint32_t)(h >> 32) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        const qw_tok_merge_slot *s = &t->merge[i];
        if (s->key == key) {
            *rank = s->rank;
            return s->id;
        }
        if (s->key == UINT64_MAX) return -1;
    }
}

// A pair listed twice keeps its last rank, as HF's HashMap collect (and transformers.js's Map) do.
static void merge_put(qw_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t id) {
    uint64_t key = merge_key(a, b);
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    for (uint32_t i = (uint32_t)(h >> 32) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        qw_tok_merge_slot *s = &t->merge[i];
        if (s->key == key || s->key == UINT64_MAX) {
            s->key = key;
            s->rank = rank;
            s->id = id;
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// added-token trie

static int trie_init(qw_tok_trie *tr) {
    tr->cap = 64;
    tr->node = malloc((size_t)tr->cap * sizeof *tr->node);
    if (!tr->node) return 0;
    tr->n = 1;
    tr->node[0] = (qw_tok_trie_node){-1, -1, -1, 0};
    memset(tr->first, 0, sizeof tr->first);
    return 1;
}

static int trie_add(qw_tok_trie *tr, const unsigned char *s, size_t n, int32_t added) {
    if (n == 0) return 1;
    tr->first[s[0] >> 3] |= (uint8_t)(1u << (s[0] & 7));
    int32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = tr->node[cur].child;
        while (c >= 0 && tr->node[c].byte != s[i]) c = tr->node[c].sibling;
        if (c < 0) {
            if (tr->n == tr->cap) {
                qw_tok_trie_node *nn = realloc(tr->node, (size_t)tr->cap * 2 * sizeof *nn);
                if (!nn) return 0;
                tr->node = nn;
                tr->cap *= 2;
            }
            c = tr->n++;
            tr->node[c] = (qw_tok_trie_node){-1, tr->node[cur].child, -1, s[i]};
            tr->node[cur].child = c;
        }
        cur = c;
    }
    if (tr->node[cur].added < 0) tr->node[cur].added = added; // the first of duplicated contents wins
    return 1;
}

// ---------------------------------------------------------------------------------------------------
// pre-tokenizer regexes

// GPT-2's pattern, used by a ByteLevel pre-tokenizer whose use_regex is true.
static const char *k_gpt2_regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// PCRE2's \s in UCP mode is White_Space plus U+180E (kept from old Unicode); HF's regex engine
// (Oniguruma) uses White_Space exactly. We spell \s out so that a Mongolian vowel separator splits
// as HF splits it. \S inside a class has no such spelling and is left to PCRE2.
#define QW_WS_CLASS "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

static char *regex_translate(const char *p) {
    size_t n = strlen(p), cap = n * (sizeof QW_WS_CLASS + 4) / 2 + 64; // every 2 bytes may grow to a class
    char *o = malloc(cap), *w = o;
    if (!o) return NULL;
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            if (d == 's' || (d == 'S' && !in_class)) {
                const char *pre = in_class ? "" : d == 's' ? "[" : "[^";
                w += sprintf(w, "%s%s%s", pre, QW_WS_CLASS, in_class ? "" : "]");
            } else {
                *w++ = c;
                *w++ = d;
            }
            i++;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            *w++ = c;
            // a ']' right after '[' or '[^' is a literal
            if (i + 1 < n && p[i + 1] == '^') *w++ = p[++i];
            if (i + 1 < n && p[i + 1] == ']') *w++ = p[++i];
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && p[i + 1] == ':') { // POSIX [:alpha:] inside a class
            const char *end = strstr(p + i + 2, ":]");
            if (end) {
                size_t k = (size_t)(end + 2 - (p + i));
                memcpy(w, p + i, k);
                w += k;
                i += k - 1;
                continue;
            }
        }
        if (in_class && c == ']') in_class = 0;
        *w++ = c;
    }
    *w = 0;
    return o;
}

static qw_status regex_add(qw_tokenizer *t, const char *pattern, int literal) {
    if (t->n_split == QW_TOK_MAX_SPLITS)
        return qw_error(QW_ERR_UNSUPPORTED, "%s: more than %d Split pre-tokenizers", t->name, QW_TOK_MAX_SPLITS);
    char *pat = literal ? qw_strdup(pattern) : regex_translate(pattern);
    if (!pat) return qw_error(QW_ERR_NOMEM, "%s: out of memory", t->name);
    int err;
    PCRE2_SIZE eoff;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &err, &eoff, NULL);
    free(pat);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return qw_error(QW_ERR_FORMAT, "%s: pre_tokenizer regex \"%.200s\" rejected by PCRE2: %s", t->name,
                        pattern, (const char *)msg);
    }
    // JIT makes the split several times faster; without it (no JIT on this CPU) matching still works.
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    t->split[t->n_split++] = re;
    return QW_OK;
}

// ---------------------------------------------------------------------------------------------------
// JSON helpers

static const char *json_type(const cJSON *o) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

static int json_flag(const cJSON *o, const char *key, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

// An id must be a whole number in [0, QW_TOK_MAX_ID).
static int json_id(const cJSON *v, int32_t *id) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d < QW_TOK_MAX_ID) || d != (double)(int32_t)d) return 0;
    *id = (int32_t)d;
    return 1;
}

static int json_empty_string_or_null(const cJSON *v) {
    return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == 0);
}

// ---------------------------------------------------------------------------------------------------
// building

static qw_status parse_normalizer(qw_tokenizer *t, const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return QW_OK;
    const char *ty = json_type(n);
    if (ty && strcmp(ty, "NFC") == 0) {
        t->nfc = 1;
        return QW_OK;
    }
    if (ty && strcmp(ty, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers"), *e;
        if (!cJSON_IsArray(list)) return qw_error(QW_ERR_FORMAT, "%s: normalizer Sequence without a list", t->name);
        cJSON_ArrayForEach(e, list) QW_TRY(parse_normalizer(t, e));
        return QW_OK;
    }
    return qw_error(QW_ERR_UNSUPPORTED, "%s: normalizer \"%s\" is not supported (only NFC)", t->name,
                    ty ? ty : "?");
}

static qw_status parse_pretokenizer(qw_tokenizer *t, const cJSON *p) {
    if (!p || cJSON_IsNull(p)) return QW_OK;
    const char *ty = json_type(p);
    if (!ty) return qw_error(QW_ERR_FORMAT, "%s: pre_tokenizer without a type", t->name);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"), *e;
        if (!cJSON_IsArray(list))
            return qw_error(QW_ERR_FORMAT, "%s: pre_tokenizer Sequence without a list", t->name);
        cJSON_ArrayForEach(e, list) QW_TRY(parse_pretokenizer(t, e));
        return QW_OK;
    }
    if (strcmp(ty, "ByteLevel") == 0) {
        if (json_flag(p, "add_prefix_space", 0))
            return qw_error(QW_ERR_UNSUPPORTED, "%s: ByteLevel add_prefix_space is not supported", t->name);
        return json_flag(p, "use_regex", 1) ? regex_add(t, k_gpt2_regex, 0) : QW_OK;
    }
    if (strcmp(ty, "Split") == 0) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(p, "behavior");
        if (!cJSON_IsString(re) && !cJSON_IsString(str))
            return qw_error(QW_ERR_FORMAT, "%s: Split pre-tokenizer without a Regex or String pattern", t->name);
        if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated") != 0 || json_flag(p, "invert", 0))
            return qw_error(QW_ERR_UNSUPPORTED, "%s: Split behavior \"%s\"%s is not supported (only Isolated)",
                            t->name, cJSON_IsString(beh) ? beh->valuestring : "?",
                            json_flag(p, "invert", 0) ? " inverted" : "");
        return cJSON_IsString(re) ? regex_add(t, re->valuestring, 0) : regex_add(t, str->valuestring, 1);
    }
    return qw_error(QW_ERR_UNSUPPORTED, "%s: pre_tokenizer \"%s\" is not supported", t->name, ty);
}

static qw_status parse_decoder(qw_tokenizer *t, const cJSON *d) {
    if (!d || cJSON_IsNull(d)) return QW_OK;
    const char *ty = json_type(d);
    if (ty && strcmp(ty, "ByteLevel") == 0) return QW_OK;
    return qw_error(QW_ERR_UNSUPPORTED, "%s: decoder \"%s\" is not supported (only ByteLevel)", t->name,
                    ty ? ty : "?");
}

static qw_status parse_model_options(qw_tokenizer *t, const cJSON *model) {
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (dropout && !cJSON_IsNull(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
        return qw_error(QW_ERR_UNSUPPORTED, "%s: BPE dropout is not supported", t->name);
    if (!json_empty_string_or_null(cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix")) ||
        !json_empty_string_or_null(cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix")))
        return qw_error(QW_ERR_UNSUPPORTED, "%s: BPE subword prefixes/suffixes are not supported", t->name);
    t->ignore_merges = json_flag(model, "ignore_merges", 0);
    return QW_OK;
}

static qw_status parse_merges(qw_tokenizer *t, const cJSON *merges) {
    int n = cJSON_GetArraySize(merges);
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    t->merge = malloc(cap * sizeof *t->merge);
    t->merge_pair = malloc(((size_t)n + 1) * 2 * sizeof *t->merge_pair);
    if (!t->merge || !t->merge_pair) return qw_error(QW_ERR_NOMEM, "%s: out of memory", t->name);
    memset(t->merge, 0xff, cap * sizeof *t->merge);
    t->merge_mask = (uint32_t)(cap - 1);

    char *buf = NULL;
    size_t buf_cap = 0;
    qw_status st = QW_OK;
    int32_t rank = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        const char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        if (cJSON_IsString(m)) { // "a b"
            const char *s = m->valuestring, *sp = strchr(s, ' ');
            if (sp && !strchr(sp + 1, ' ')) {
                a = s, la = (size_t)(sp - s), b = sp + 1, lb = strlen(b);
            }
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2) { // ["a", "b"]
            const cJSON *x = cJSON_GetArrayItem(m, 0), *y = cJSON_GetArrayItem(m, 1);
            if (cJSON_IsString(x) && cJSON_IsString(y)) {
                a = x->valuestring, la = strlen(a), b = y->valuestring, lb = strlen(b);
            }
        }
        if (!a || la == 0 || lb == 0) {
            char *s = cJSON_PrintUnformatted(m);
            st = qw_error(QW_ERR_FORMAT, "%s: model.merges[%d] = %.80s is not a pair of tokens", t->name, rank,
                          s ? s : "?");
            free(s);
            break;
        }
        if (la + lb + 1 > buf_cap) {
            buf_cap = (la + lb + 1) * 2;
            char *nb = realloc(buf, buf_cap);
            if (!nb) {
                st = qw_error(QW_ERR_NOMEM, "%s: out of memory", t->name);
                break;
            }
            buf = nb;
        }
        // the three tokens must be in model.vocab (added tokens are not BPE's to make)
        int32_t ids[3];
        const char *what[3] = {a, b, buf};
        size_t lens[3] = {la, lb, la + lb};
        memcpy(buf, a, la);
        memcpy(buf + la, b, lb);
        buf[la + lb] = 0;
        for (int k = 0; k < 3; k++) {
            ids[k] = qw_tok_strmap_get(&t->by_text, t->text, t->text_off, NULL, what[k], lens[k]);
            if (ids[k] >= 0 && (t->flags[ids[k]] & QW_TOK_F_ADDED)) ids[k] = -1;
            if (ids[k] < 0) {
                st = qw_error(QW_ERR_FORMAT, "%s: model.merges[%d] (\"%.*s\" \"%.*s\"): \"%.*s\" is not in model.vocab",
                              t->name, rank, (int)(la > 60 ? 60 : la), a, (int)(lb > 60 ? 60 : lb), b,
                              (int)(lens[k] > 120 ? 120 : lens[k]), what[k]);
                break;
            }
        }
        if (st != QW_OK) break;
        merge_put(t, ids[0], ids[1], rank, ids[2]);
        t->merge_pair[2 * rank] = ids[0];
        t->merge_pair[2 * rank + 1] = ids[1];
        rank++;
    }
    free(buf);
    t->n_merges = rank;
    return st;
}

static qw_status build(qw_tokenizer *t, const cJSON *root) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return qw_error(QW_ERR_FORMAT, "%s: no \"model\" object", t->name);
    const char *mtype = json_type(model);
    if (mtype && strcmp(mtype, "BPE") != 0)
        return qw_error(QW_ERR_FORMAT, "%s: model type is \"%s\", not BPE (qwick reads byte-level BPE tokenizers)",
                        t->name, mtype);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(vocab)) return qw_error(QW_ERR_FORMAT, "%s: model.vocab missing or not an object", t->name);
    if (!cJSON_IsArray(merges)) return qw_error(QW_ERR_FORMAT, "%s: model.merges missing or not an array", t->name);
    QW_TRY(parse_model_options(t, model));
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return qw_error(QW_ERR_FORMAT, "%s: added_tokens is not an array", t->name);

    // sizes: highest id and the arena of strings
    int32_t max_id = -1, id;
    size_t text_bytes = 0, n_tokens = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!json_id(e, &id))
            return qw_error(QW_ERR_FORMAT, "%s: model.vocab[\"%.80s\"] is not a token id in [0, %d)", t->name,
                            e->string, QW_TOK_MAX_ID);
        if (id > max_id) max_id = id;
        text_bytes += strlen(e->string) + 1;
        n_tokens++;
    }
    int n_added = 0;
    cJSON_ArrayForEach(e, added) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &id) || !cJSON_IsString(c) || !c->valuestring[0])
            return qw_error(QW_ERR_FORMAT, "%s: added_tokens[%d] needs an id in [0, %d) and a non-empty content",
                            t->name, n_added, QW_TOK_MAX_ID);
        if (id > max_id) max_id = id;
        text_bytes += strlen(c->valuestring) + 1;
        n_tokens++;
        n_added++;
    }
    if (max_id < 0) return qw_error(QW_ERR_FORMAT, "%s: model.vocab is empty", t->name);
    if (text_bytes >= UINT32_MAX / 2) return qw_error(QW_ERR_FORMAT, "%s: vocabulary strings too large", t->name);

    size_t nv = (size_t)max_id + 1;
    t->n_vocab = (int32_t)nv;
    t->text = malloc(text_bytes);
    t->text_off = malloc(nv * sizeof *t->text_off);
    t->bytes = malloc(text_bytes + 1);
    t->bytes_off = malloc((nv + 1) * sizeof *t->bytes_off);
    t->flags = calloc(nv, 1);
    t->added = malloc(((size_t)n_added + 1) * sizeof *t->added);
    if (!t->text || !t->text_off || !t->bytes || !t->bytes_off || !t->flags || !t->added)
        return qw_error(QW_ERR_NOMEM, "%s: out of memory", t->name);

    // id -> string. A duplicated id is an error (which string would decode?); an added token may
    // repeat its vocab entry's id, and then the added token's content is what the id stands for.
    size_t tw = 0;
    cJSON_ArrayForEach(e, vocab) {
        json_id(e, &id);
        if (t->flags[id])
            return qw_error(QW_ERR_FORMAT, "%s: model.vocab gives id %d to both \"%.60s\" and \"%.60s\"", t->name,
                            id, t->text + t->text_off[id], e->string);
        size_t l = strlen(e->string) + 1;
        memcpy(t->text + tw, e->string, l);
        t->text_off[id] = (uint32_t)tw;
        tw += l;
        t->flags[id] = QW_TOK_F_ASSIGNED;
    }
    t->n_added = 0;
    cJSON_ArrayForEach(e, added) {
        json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &id);
        const char *c = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
        if (t->flags[id] & QW_TOK_F_ADDED)
            return qw_error(QW_ERR_FORMAT, "%s: added_tokens gives id %d twice", t->name, id);
        size_t l = strlen(c) + 1;
        memcpy(t->text + tw, c, l);
        t->text_off[id] = (uint32_t)tw;
        tw += l;
        int special = json_flag(e, "special", 0);
        t->flags[id] = QW_TOK_F_ASSIGNED | QW_TOK_F_ADDED | (special ? QW_TOK_F_SPECIAL : 0);
        t->added[t->n_added++] = (qw_tok_added){id, (uint8_t)special, (uint8_t)json_flag(e, "lstrip", 0),
                                                (uint8_t)json_flag(e, "rstrip", 0),
                                                (uint8_t)json_flag(e, "single_word", 0),
                                                (uint8_t)json_flag(e, "normalized", 0)};
    }

    // id -> decoded bytes; vocab tokens spelled in the byte-level alphabet are the ones BPE can reach
    bytelevel_init();
    size_t bw = 0;
    for (size_t i = 0; i < nv; i++) {
        t->bytes_off[i] = (uint32_t)bw;
        if (!t->flags[i]) {
            t->text_off[i] = UINT32_MAX;
            continue;
        }
        int mapped;
        size_t l = bytelevel_decode(t->text + t->text_off[i], t->bytes + bw, &mapped);
        if (mapped && !(t->flags[i] & QW_TOK_F_ADDED)) t->flags[i] |= QW_TOK_F_BPE;
        if (l > t->max_token_bytes) t->max_token_bytes = l;
        bw += l;
    }
    t->bytes_off[nv] = (uint32_t)bw;

    if (!strmap_init(&t->by_text, n_tokens) || !strmap_init(&t->by_bytes, n_tokens))
        return qw_error(QW_ERR_NOMEM, "%s: out of memory", t->name);
    for (size_t i = 0; i < nv; i++) {
        if (t->flags[i] & QW_TOK_F_ASSIGNED) strmap_put(&t->by_text, t->text, t->text_off, NULL, (int32_t)i);
        if (t->flags[i] & QW_TOK_F_BPE)
            strmap_put(&t->by_bytes, (const char *)t->bytes, t->bytes_off, t->bytes_off, (int32_t)i);
    }
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        t->byte_id[b] = qw_tok_strmap_get(&t->by_bytes, (const char *)t->bytes, t->bytes_off, t->bytes_off, &c, 1);
    }

    QW_TRY(parse_merges(t, merges));
    QW_TRY(parse_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer")));
    if (t->nfc) qw_tok_nfc_init();
    QW_TRY(parse_pretokenizer(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")));
    QW_TRY(parse_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder")));

    // added tokens: "normalized" ones are matched in normalized text, so their content is normalized too
    if (!trie_init(&t->trie_raw) || !trie_init(&t->trie_norm)) return qw_error(QW_ERR_NOMEM, "%s: out of memory", t->name);
    for (int32_t i = 0; i < t->n_added; i++) {
        const qw_tok_added *a = &t->added[i];
        const char *c = t->text + t->text_off[a->id];
        int ok;
        if (a->normalized && t->nfc) {
            utf8proc_uint8_t *nfc = utf8proc_NFC((const utf8proc_uint8_t *)c);
            const char *s = nfc ? (const char *)nfc : c;
            ok = trie_add(&t->trie_norm, (const unsigned char *)s, strlen(s), i);
            free(nfc);
        } else {
            ok = trie_add(a->normalized ? &t->trie_norm : &t->trie_raw, (const unsigned char *)c, strlen(c), i);
        }
        if (!ok) return qw_error(QW_ERR_NOMEM, "%s: out of memory", t->name);
    }
    return QW_OK;
}

qw_status qw_tok_load_from_memory(qw_tokenizer **out, const char *json, size_t len, const char *name) {
    *out = NULL;
    if (!name) name = "tokenizer.json";
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        size_t at = ep && ep >= json && ep <= json + len ? (size_t)(ep - json) : 0;
        return qw_error(QW_ERR_FORMAT, "%s: not valid JSON (error near byte %zu)", name, at);
    }
    while (end && end < json + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t' || *end == 0))
        end++;
    if (end && end < json + len) {
        cJSON_Delete(root);
        return qw_error(QW_ERR_FORMAT, "%s: not valid JSON (extra data at byte %zu)", name, (size_t)(end - json));
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return qw_error(QW_ERR_FORMAT, "%s: not a JSON object", name);
    }
    qw_tokenizer *t = calloc(1, sizeof *t);
    if (!t || !(t->name = qw_strdup(name))) {
        free(t);
        cJSON_Delete(root);
        return qw_error(QW_ERR_NOMEM, "%s: out of memory", name);
    }
    qw_status st = build(t, root);
    cJSON_Delete(root);
    if (st != QW_OK) {
        qw_tok_free(t);
        return st;
    }
    *out = t;
    return QW_OK;
}

qw_status qw_tok_load(qw_tokenizer **out, const char *path) {
    *out = NULL;
    char *buf;
    size_t len;
    QW_TRY(qw_file_read_all(path, (size_t)1 << 30, &buf, &len));
    qw_status st = qw_tok_load_from_memory(out, buf, len, path);
    free(buf);
    return st;
}

void qw_tok_free(qw_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_split; i++) pcre2_code_free(t->split[i]);
    free(t->trie_raw.node);
    free(t->trie_norm.node);
    free(t->added);
    free(t->merge_pair);
    free(t->merge);
    free(t->by_bytes.slot);
    free(t->by_text.slot);
    free(t->flags);
    free(t->bytes_off);
    free(t->bytes);
    free(t->text_off);
    free(t->text);
    free(t->name);
    free(t);
}

// ---------------------------------------------------------------------------------------------------
// lookups

int32_t qw_tok_n_vocab(const qw_tokenizer *t) { return t->n_vocab; }

static int assigned(const qw_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (t->flags[id] & QW_TOK_F_ASSIGNED);
}

const char *qw_tok_token_bytes(const qw_tokenizer *t, int32_t id, size_t *len) {
    if (!assigned(t, id)) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->bytes_off[id + 1] - t->bytes_off[id];
    return (const char *)t->bytes + t->bytes_off[id];
}

const char *qw_tok_token_text(const qw_tokenizer *t, int32_t id) {
    return assigned(t, id) ? t->text + t->text_off[id] : NULL;
}

int32_t qw_tok_find(const qw_tokenizer *t, const char *token) {
    if (!token) return -1;
    return qw_tok_strmap_get(&t->by_text, t->text, t->text_off, NULL, token, strlen(token));
}

int qw_tok_is_special(const qw_tokenizer *t, int32_t id) {
    return assigned(t, id) && (t->flags[id] & QW_TOK_F_SPECIAL);
}

int qw_tok_is_added(const qw_tokenizer *t, int32_t id) { return assigned(t, id) && (t->flags[id] & QW_TOK_F_ADDED); }

int32_t qw_tok_n_merges(const qw_tokenizer *t) { return t->n_merges; }

void qw_tok_merge(const qw_tokenizer *t, int32_t i, int32_t *left, int32_t *right) {
    QW_ASSERT(i >= 0 && i < t->n_merges);
    *left = t->merge_pair[2 * i];
    *right = t->merge_pair[2 * i + 1];
}
