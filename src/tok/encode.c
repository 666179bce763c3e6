// tok/encode: text to ids in HF's order: added tokens are cut out of the raw text first, the rest is
// NFC-normalized, split by the pre-tokenizer regex(es), and each piece is merged by bpe.c.
#include "tok_impl.h"

#include <pthread.h>
#include <utf8proc.h>

// ---------------------------------------------------------------------------------------------------
// NFC. Most text is NFC already and utf8proc allocates on every call, so a table marks the "stable"
// code points: combining class 0, unchanged by NFC, and never the second half of a composition (so
// nothing before them can absorb them). Only the stretches around other characters, from the stable
// character before to the stable character after, go through utf8proc.

#define QW_NFC_TABLE_END 0x30000 // past this only unassigned, private-use and tag characters: all stable

static uint8_t g_nfc_unstable[QW_NFC_TABLE_END / 8];
static pthread_once_t g_nfc_once = PTHREAD_ONCE_INIT;

static void nfc_mark(int32_t cp) {
    if (cp >= 0 && cp < QW_NFC_TABLE_END) g_nfc_unstable[cp >> 3] |= (uint8_t)(1u << (cp & 7));
}

static void nfc_table_init(void) {
    for (int32_t cp = 0; cp < QW_NFC_TABLE_END; cp++) {
        const utf8proc_property_t *p = utf8proc_get_property(cp);
        if (p->combining_class != 0) nfc_mark(cp);
        if (p->decomp_seqindex == UINT16_MAX) continue;
        // a decomposition: the character may change under NFC, and every part after the first of
        // its canonical decomposition may compose with what precedes it
        utf8proc_uint8_t in[4], *out = NULL;
        utf8proc_ssize_t l = utf8proc_encode_char(cp, in);
        utf8proc_ssize_t m = utf8proc_map(in, l, &out, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (m != l || memcmp(out, in, (size_t)l) != 0) nfc_mark(cp);
        free(out);
        utf8proc_int32_t parts[32];
        utf8proc_ssize_t np = utf8proc_decompose_char(cp, parts, 32, UTF8PROC_DECOMPOSE, NULL);
        for (utf8proc_ssize_t i = 1; i < np && i < 32; i++) nfc_mark(parts[i]);
    }
    // Hangul vowel and trailing jamo compose with the syllable or jamo before them (algorithmically,
    // so they are not in the decomposition table)
    for (int32_t cp = 0x1161; cp <= 0x1175; cp++) nfc_mark(cp);
    for (int32_t cp = 0x11a8; cp <= 0x11c2; cp++) nfc_mark(cp);
}

void qw_tok_nfc_init(void) { pthread_once(&g_nfc_once, nfc_table_init); }

// Length of the character at s (valid UTF-8) and whether it is stable.
static int nfc_stable_at(const unsigned char *s, size_t n, size_t *len) {
    if (s[0] < 0x80) {
        *len = 1;
        return 1;
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t l = utf8proc_iterate(s, (utf8proc_ssize_t)n, &cp);
    QW_ASSERT(l > 0);
    *len = (size_t)l;
    return cp >= QW_NFC_TABLE_END || !(g_nfc_unstable[cp >> 3] & (1u << (cp & 7)));
}

// NFC of s[0..n) (valid UTF-8). Returns s itself when nothing changes, else a malloc'd copy in *buf
// (NULL and w->nomem on failure).
static const unsigned char *nfc_apply(qw_tok_work *w, const unsigned char *s, size_t *n_io,
                                      unsigned char **buf) {
    size_t n = *n_io, i = 0, l, last_stable = 0, copied = 0, len = 0, cap = 0;
    int have_stable = 0;
    unsigned char *o = NULL;
    *buf = NULL;
    while (i < n) {
        if (nfc_stable_at(s + i, n - i, &l)) {
            last_stable = i;
            have_stable = 1;
            i += l;
            continue;
        }
        size_t a = have_stable && last_stable >= copied ? last_stable : copied, b = i + l;
        while (b < n && !nfc_stable_at(s + b, n - b, &l)) b += l;
        utf8proc_uint8_t *nfc = NULL;
        utf8proc_ssize_t m = utf8proc_map(s + a, (utf8proc_ssize_t)(b - a), &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        size_t need = len + (a - copied) + (m > 0 ? (size_t)m : 0) + (n - b);
        if (m < 0 || need > cap) {
            cap = need + 64;
            unsigned char *no = m < 0 ? NULL : realloc(o, cap);
            if (!no) {
                free(nfc);
                free(o);
                w->nomem = 1;
                return NULL;
            }
            o = no;
        }
        memcpy(o + len, s + copied, a - copied);
        len += a - copied;
        memcpy(o + len, nfc, (size_t)m);
        len += (size_t)m;
        free(nfc);
        copied = i = b;
        have_stable = 0;
    }
    if (!o) return s;
    memcpy(o + len, s + copied, n - copied);
    len += n - copied;
    *buf = o;
    *n_io = len;
    return o;
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
        // JIT's stack is small; the interpreter keeps its backtracking on the heap
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
            rc = pcre2_match(re, s, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, w->md, NULL);
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
    unsigned char *buf = NULL;
    if (t->nfc && !(s = nfc_apply(w, s, &n, &buf))) return;
    if (t->trie_norm.n > 1) split_added(t, w, &t->trie_norm, s, n, w->parse_special, encode_normalized);
    else split_level(t, w, s, n, 0);
    free(buf);
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
