// tok/encode: text to ids in HF's order: added tokens are cut out of the raw text first, the rest is
// NFC-normalized, split by the pre-tokenizer regex(es), and each piece is merged by bpe.c.
#include "tok_impl.h"

#include <utf8proc.h>

// ---------------------------------------------------------------------------------------------------
// NFC. Most text is already NFC and utf8proc allocates on every call, so we first check cheaply: a
// character that is below U+0300, or a CJK ideograph, a Hangul syllable or a kana, never changes
// under NFC and never combines with what precedes it. Anything else sends the run through utf8proc.

static int nfc_stable(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t l;
        if (qw_tok_utf8_next(s + i, n - i, &l) != 1) return 0;
        utf8proc_int32_t cp;
        utf8proc_iterate(s + i, (utf8proc_ssize_t)l, &cp);
        int ok = cp < 0x300 || (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xac00 && cp <= 0xd7a3) ||
                 (cp >= 0x3041 && cp <= 0x3096) || (cp >= 0x30a1 && cp <= 0x30fa);
        if (!ok) return 0;
        i += l;
    }
    return 1;
}

// ---------------------------------------------------------------------------------------------------
// pre-tokenizer: each regex splits the pieces the one before it made ("Isolated": both the matches and
// the text between them are pieces); the last level's pieces go to BPE.

static void split_level(const qw_tokenizer *t, qw_tok_work *w, const unsigned char *s, size_t n, int level) {
    if (n == 0 || w->nomem) return;
    if (level == t->n_split) {
        qw_tok_bpe_word(t, w, s, n);
        return;
    }
    const pcre2_code *re = t->split[level];
    size_t pos = 0, done = 0; // search from pos; text before done is emitted
    while (pos < n) {
        int rc = pcre2_match(re, s, n, pos, PCRE2_NO_UTF_CHECK, w->md, NULL);
        if (rc < 0) {
            // PCRE2_ERROR_NOMATCH ends the search; a resource limit (which a hostile text might hit)
            // should not fail the encode, so the rest becomes one piece: still a lossless encoding
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
        size_t a = ov[0], b = ov[1];
        if (b <= a) { // an empty match: step over one character and search again
            size_t l = 1;
            qw_tok_utf8_next(s + a, n - a, &l);
            pos = a + l;
            continue;
        }
        if (a > done) split_level(t, w, s + done, a - done, level + 1);
        split_level(t, w, s + a, b - a, level + 1);
        done = pos = b;
    }
    if (done < n) split_level(t, w, s + done, n - done, level + 1);
}

// ---------------------------------------------------------------------------------------------------
// added tokens

// Unicode White_Space, which is what HF's lstrip/rstrip trim (char::is_whitespace).
static int is_ws(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
           c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

static int is_word_char(const unsigned char *s, size_t n) {
    utf8proc_int32_t cp;
    if (utf8proc_iterate(s, (utf8proc_ssize_t)n, &cp) < 1) return 0;
    utf8proc_category_t cat = utf8proc_category(cp);
    return cp == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

// Start of the character that ends just before s + i (i > 0).
static size_t prev_char(const unsigned char *s, size_t i) {
    size_t j = i - 1;
    while (j > 0 && i - j < 4 && (s[j] & 0xc0) == 0x80) j--;
    return j;
}

// Longest added token starting at s[i]; returns its index into t->added and its end, or -1.
static int32_t trie_longest(const qw_tok_trie *tr, const unsigned char *s, size_t n, size_t i, size_t *end) {
    int32_t best = -1, cur = 0;
    for (size_t k = i; k < n; k++) {
        int32_t c = tr->node[cur].child;
        while (c >= 0 && tr->node[c].byte != s[k]) c = tr->node[c].sibling;
        if (c < 0) break;
        cur = c;
        if (tr->node[cur].added >= 0) {
            best = tr->node[cur].added;
            *end = k + 1;
        }
    }
    return best;
}

typedef void (*qw_tok_text_fn)(const qw_tokenizer *t, qw_tok_work *w, const unsigned char *s, size_t n);

// Cuts the added tokens of trie tr out of s: leftmost match first, longest at a position (HF's
// Aho-Corasick in LeftmostLongest mode), lstrip/rstrip widening a match over the whitespace beside it.
// The text between matches goes to fn. A special token when !parse_special is left in the text.
static void split_added(const qw_tokenizer *t, qw_tok_work *w, const qw_tok_trie *tr, const unsigned char *s,
                        size_t n, int parse_special, qw_tok_text_fn fn) {
    size_t done = 0; // s[done..] is not emitted yet
    for (size_t i = 0; i < n && !w->nomem;) {
        if (!(tr->first[s[i] >> 3] & (1u << (s[i] & 7)))) {
            i++;
            continue;
        }
        size_t e = i;
        int32_t k = trie_longest(tr, s, n, i, &e);
        if (k < 0) {
            i++;
            continue;
        }
        const qw_tok_added *a = &t->added[k];
        if (a->special && !parse_special) { // HF skips the match and goes on after it
            i = e;
            continue;
        }
        if (a->single_word) {
            int before = i > done && is_word_char(s + prev_char(s, i), i - prev_char(s, i));
            int after = e < n && is_word_char(s + e, n - e);
            if (before || after) {
                i = e;
                continue;
            }
        }
        size_t b = i;
        if (a->lstrip) {
            while (b > done) {
                size_t p = prev_char(s, b);
                utf8proc_int32_t cp;
                if (utf8proc_iterate(s + p, (utf8proc_ssize_t)(b - p), &cp) < 1 || !is_ws((uint32_t)cp)) break;
                b = p;
            }
        }
        if (a->rstrip) {
            while (e < n) {
                utf8proc_int32_t cp;
                utf8proc_ssize_t l = utf8proc_iterate(s + e, (utf8proc_ssize_t)(n - e), &cp);
                if (l < 1 || !is_ws((uint32_t)cp)) break;
                e += (size_t)l;
            }
        }
        if (b > done) fn(t, w, s + done, b - done);
        qw_tok_work_push(w, a->id);
        done = i = e;
    }
    if (done < n && !w->nomem) fn(t, w, s + done, n - done);
}

static void encode_normalized(const qw_tokenizer *t, qw_tok_work *w, const unsigned char *s, size_t n) {
    split_level(t, w, s, n, 0);
}

// A run of valid UTF-8 between added tokens: normalize, then cut out "normalized" added tokens, then
// split. (Qwen's added tokens are all unnormalized, so the second cut finds nothing there.)
static void encode_valid(const qw_tokenizer *t, qw_tok_work *w, const unsigned char *s, size_t n) {
    utf8proc_uint8_t *nfc = NULL;
    if (t->nfc && !nfc_stable(s, n)) {
        utf8proc_ssize_t m = utf8proc_map(s, (utf8proc_ssize_t)n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (m < 0) {
            w->nomem = m == UTF8PROC_ERROR_NOMEM;
            nfc = NULL; // cannot happen for valid UTF-8 short of memory; encode unnormalized
        } else {
            s = nfc;
            n = (size_t)m;
        }
    }
    if (t->trie_norm.n > 1) split_added(t, w, &t->trie_norm, s, n, w->parse_special, encode_normalized);
    else split_level(t, w, s, n, 0);
    free(nfc);
}

// Raw text between added tokens. Bytes that are not UTF-8 cannot go through NFC or the regex; each
// becomes its own byte token, which keeps the encoding lossless.
static void encode_raw(const qw_tokenizer *t, qw_tok_work *w, const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n && !w->nomem) {
        size_t j = i, l;
        while (j < n && qw_tok_utf8_next(s + j, n - j, &l) == 1) j += l;
        if (j > i) encode_valid(t, w, s + i, j - i);
        if (j < n) {
            if (t->byte_id[s[j]] >= 0) qw_tok_work_push(w, t->byte_id[s[j]]);
            j++;
        }
        i = j;
    }
}

qw_status qw_tok_encode(const qw_tokenizer *t, const char *text, size_t len, int parse_special, int32_t **ids,
                        size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    if (!text && len) return qw_error(QW_ERR_ARG, "encode: NULL text");
    qw_tok_work w;
    memset(&w, 0, sizeof w);
    w.parse_special = parse_special;
    w.cap = len / 3 + 16;
    w.ids = malloc(w.cap * sizeof *w.ids);
    if (t->n_split) w.md = pcre2_match_data_create(4, NULL);
    if (!w.ids || (t->n_split && !w.md) || (len >= 4096 && !qw_tok_work_cache_init(&w))) {
        qw_tok_work_free(&w);
        return qw_error(QW_ERR_NOMEM, "encode: out of memory");
    }
    split_added(t, &w, &t->trie_raw, (const unsigned char *)text, len, parse_special, encode_raw);
    if (w.nomem) {
        qw_tok_work_free(&w);
        return qw_error(QW_ERR_NOMEM, "encode: out of memory");
    }
    *ids = w.ids;
    *n_ids = w.n;
    w.ids = NULL;
    qw_tok_work_free(&w);
    return QW_OK;
}
