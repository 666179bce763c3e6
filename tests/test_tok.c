// tests/test_tok: the C tokenizer against references: transformers.js's ids, decodes and chat renderings
// (tests/data/tok_*expected.jsonl), llama.cpp's Qwen2 cases, round trips, streaming, hostile inputs, bad files.
#include "base/base.h"
#include "test.h"
#include "test_jsonl.h"
#include "tok/tok.h"

#include <cjson/cJSON.h>
#include <unistd.h>
#include <utf8proc.h>

static qw_tokenizer *g_tok;

// ---------------------------------------------------------------------------------------------------
// helpers

static int ids_equal_json(const int32_t *ids, size_t n, const cJSON *arr) {
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != n) return 0;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if (!cJSON_IsNumber(e) || e->valueint != ids[i++]) return 0;
    return 1;
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

// Streams ids through qw_tok_stream with a buffer of cap bytes and returns the text (malloc'd).
static char *stream_decode(const int32_t *ids, size_t n, size_t cap, size_t *len) {
    size_t total = 0, room = 256;
    char *all = malloc(room), *buf = malloc(cap + 1);
    qw_tok_stream s;
    qw_tok_stream_init(&s);
    for (size_t i = 0; i <= n; i++) {
        size_t w = i < n ? qw_tok_stream_push(&s, g_tok, ids[i], buf, cap) : qw_tok_stream_flush(&s, buf, cap);
        QW_ASSERT(w <= cap); // the tests use a cap that is always enough
        while (total + w + 1 > room) all = realloc(all, room *= 2);
        memcpy(all + total, buf, w);
        total += w;
    }
    all[total] = 0;
    free(buf);
    *len = total;
    return all;
}

// ---------------------------------------------------------------------------------------------------
// basics of Qwen's file

static void test_basics(void) {
    CHECK(qw_tok_n_vocab(g_tok) == 151669);
    CHECK(qw_tok_find(g_tok, "<|endoftext|>") == 151643);
    CHECK(qw_tok_find(g_tok, "<|im_start|>") == 151644);
    CHECK(qw_tok_find(g_tok, "<|im_end|>") == 151645);
    CHECK(qw_tok_find(g_tok, "<think>") == 151667);
    CHECK(qw_tok_find(g_tok, "</think>") == 151668);
    CHECK(qw_tok_find(g_tok, "Hello") == 9707);
    CHECK(qw_tok_find(g_tok, "ĠHello") == 21927);
    CHECK(qw_tok_find(g_tok, "no such token, surely") == -1);
    CHECK(qw_tok_is_special(g_tok, 151643) && qw_tok_is_special(g_tok, 151645));
    CHECK(!qw_tok_is_special(g_tok, 151667) && qw_tok_is_added(g_tok, 151667)); // <think> is added, not special
    CHECK(!qw_tok_is_special(g_tok, 9707) && !qw_tok_is_added(g_tok, 9707));
    CHECK(!qw_tok_is_special(g_tok, -1) && !qw_tok_is_special(g_tok, 1 << 30));
    size_t l;
    const char *b = qw_tok_token_bytes(g_tok, 21927, &l);
    CHECK(b && l == 6 && memcmp(b, " Hello", 6) == 0);
    b = qw_tok_token_bytes(g_tok, 198, &l);
    CHECK(b && l == 1 && b[0] == '\n');
    b = qw_tok_token_bytes(g_tok, 151644, &l);
    CHECK(b && l == 12 && memcmp(b, "<|im_start|>", 12) == 0);
    CHECK(qw_tok_token_bytes(g_tok, 151669, &l) == NULL && l == 0);
    CHECK(qw_tok_token_bytes(g_tok, -5, NULL) == NULL);
    CHECK(strcmp(qw_tok_token_text(g_tok, 21927), "ĠHello") == 0);
    CHECK(qw_tok_token_text(g_tok, 151669) == NULL);
    CHECK(qw_tok_n_merges(g_tok) == 151387);
    int32_t a, c;
    qw_tok_merge(g_tok, 0, &a, &c);
    CHECK(strcmp(qw_tok_token_text(g_tok, a), "Ġ") == 0 && strcmp(qw_tok_token_text(g_tok, c), "Ġ") == 0);
    // every one of the 256 bytes has a token, and the single-byte tokens decode to distinct bytes
    int seen[256] = {0}, singles = 0;
    for (int32_t id = 0; id < 151643; id++) {
        b = qw_tok_token_bytes(g_tok, id, &l);
        if (b && l == 1) {
            seen[(unsigned char)b[0]]++;
            singles++;
        }
    }
    int all = 1;
    for (int i = 0; i < 256; i++) all &= seen[i] == 1;
    CHECKF(all && singles == 256, "%d single-byte tokens", singles);
}

// ---------------------------------------------------------------------------------------------------
// llama.cpp's Qwen2 vocab tests: inputs separated by "\n__ggml_vocab_test__\n", ids one line each

static void test_llamacpp(void) {
    char *inp, *out;
    size_t ni, no;
    if (qw_file_read_all("tests/data/tok_llamacpp_qwen2.inp", 1 << 20, &inp, &ni) != QW_OK ||
        qw_file_read_all("tests/data/tok_llamacpp_qwen2.out", 1 << 20, &out, &no) != QW_OK) {
        CHECKF(0, "%s", qw_error_message());
        return;
    }
    const char *sep = "\n__ggml_vocab_test__\n";
    int total = 0, ok = 0;
    char *p = inp, *line = out;
    for (char *q; (q = strstr(p, sep)) != NULL; p = q + strlen(sep)) {
        char *nl = strchr(line, '\n');
        if (!nl) break;
        *nl = 0;
        int32_t *ids;
        size_t n;
        CHECK(qw_tok_encode(g_tok, p, (size_t)(q - p), 1, &ids, &n) == QW_OK);
        // expected: " id id id" (each id after a space); compare as a list
        int32_t want[4096];
        size_t nw = 0;
        for (char *s = line, *e; nw < 4096; s = e) {
            long v = strtol(s, &e, 10);
            if (e == s) break;
            want[nw++] = (int32_t)v;
        }
        int same = n == nw && memcmp(ids, want, n * sizeof *ids) == 0;
        ok += same;
        total++;
        if (!same) {
            fprintf(stderr, "llama.cpp case %d differs: \"%.*s\"\n", total, (int)(q - p), p);
            print_ids("got ", ids, n);
            print_ids("want", want, nw);
        }
        free(ids);
        line = nl + 1;
    }
    CHECKF(total == 43 && ok == total, "%d of %d llama.cpp cases", ok, total);
    printf("llama.cpp Qwen2 cases: %d/%d match\n", ok, total);
    free(inp);
    free(out);
}

// ---------------------------------------------------------------------------------------------------
// transformers.js expectations

static void test_expected(void) {
    int n;
    cJSON **rec = read_jsonl("tests/data/tok_expected.jsonl", &n);
    CHECKF(n >= 300, "only %d strings", n);
    int match = 0, match_plain = 0, n_plain = 0, dec_ok = 0, rt_ok = 0, stream_ok = 0;
    for (int i = 0; i < n; i++) {
        const char *text = cJSON_GetObjectItem(rec[i], "text")->valuestring;
        size_t tl = strlen(text);
        // where HF's Rust tokenizer disagrees with transformers.js, Rust is what Qwen was trained with
        const cJSON *want = cJSON_GetObjectItem(rec[i], "rust_ids");
        if (!want) want = cJSON_GetObjectItem(rec[i], "ids");
        int32_t *ids;
        size_t ni;
        CHECK(qw_tok_encode(g_tok, text, tl, 1, &ids, &ni) == QW_OK);
        if (ids_equal_json(ids, ni, want)) match++;
        else {
            char *w = cJSON_PrintUnformatted(want);
            fprintf(stderr, "string %d differs: \"%.120s\"\n", i, text);
            print_ids("got ", ids, ni);
            fprintf(stderr, "  want: %.300s\n", w);
            free(w);
        }
        const cJSON *plain = cJSON_GetObjectItem(rec[i], "ids_plain");
        if (plain) {
            int32_t *pids;
            size_t np;
            n_plain++;
            CHECK(qw_tok_encode(g_tok, text, tl, 0, &pids, &np) == QW_OK);
            if (ids_equal_json(pids, np, plain)) match_plain++;
            else fprintf(stderr, "string %d differs with parse_special=0: \"%.120s\"\n", i, text);
            free(pids);
        }
        // decode of the reference ids, with and without special tokens
        int32_t *rids = malloc((cJSON_GetArraySize(want) + 1) * sizeof *rids);
        size_t nr = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(rec[i], "ids")) rids[nr++] = e->valueint;
        char *d, *ds;
        size_t dl, dsl;
        CHECK(qw_tok_decode(g_tok, rids, nr, 0, &d, &dl) == QW_OK);
        CHECK(qw_tok_decode(g_tok, rids, nr, 1, &ds, &dsl) == QW_OK);
        const char *wd = cJSON_GetObjectItem(rec[i], "decoded")->valuestring;
        const char *wds = cJSON_GetObjectItem(rec[i], "decoded_skip")->valuestring;
        int dok = strcmp(d, wd) == 0 && strcmp(ds, wds) == 0 && dl == strlen(d);
        dec_ok += dok;
        CHECKF(dok, "decode of string %d: \"%.80s\"", i, text);
        // decode(encode(s)) == NFC(s)
        char *rt;
        size_t rl;
        CHECK(qw_tok_decode(g_tok, ids, ni, 0, &rt, &rl) == QW_OK);
        utf8proc_uint8_t *nfc = utf8proc_NFC((const utf8proc_uint8_t *)text);
        int rok = nfc && strcmp(rt, (char *)nfc) == 0;
        rt_ok += rok;
        CHECKF(rok, "round trip of string %d: \"%.80s\" -> \"%.80s\"", i, text, rt);
        // streaming equals one-shot
        size_t sl;
        char *st = stream_decode(ids, ni, 1024, &sl);
        int sok = sl == rl && memcmp(st, rt, rl) == 0;
        stream_ok += sok;
        CHECKF(sok, "stream decode of string %d", i);
        free(st);
        free(nfc);
        free(rt);
        free(d);
        free(ds);
        free(rids);
        free(ids);
    }
    printf("transformers.js strings: %d/%d ids match, %d/%d with parse_special=0, %d/%d decodes, "
           "%d/%d round trips, %d/%d streams\n",
           match, n, match_plain, n_plain, dec_ok, n, rt_ok, n, stream_ok, n);
    CHECK(match == n && match_plain == n_plain);
    free_jsonl(rec, n);
}

static void test_chat(void) {
    int n;
    cJSON **rec = read_jsonl("tests/data/tok_chat_expected.jsonl", &n);
    CHECK(n >= 8);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *msgs = cJSON_GetObjectItem(rec[i], "messages"), *m;
        qw_chat_message mv[16];
        int nm = 0;
        cJSON_ArrayForEach(m, msgs) {
            mv[nm].role = cJSON_GetObjectItem(m, "role")->valuestring;
            mv[nm].content = cJSON_GetObjectItem(m, "content")->valuestring;
            nm++;
        }
        int gen = cJSON_IsTrue(cJSON_GetObjectItem(rec[i], "add_generation_prompt"));
        char *out;
        CHECK(qw_chat_render(mv, nm, gen, &out) == QW_OK);
        const char *want = cJSON_GetObjectItem(rec[i], "text")->valuestring;
        int same = strcmp(out, want) == 0;
        ok += same;
        CHECKF(same, "chat %d:\n--- got\n%s\n--- want\n%s", i, out, want);
        free(out);
    }
    printf("chat renderings: %d/%d match\n", ok, n);
    char *out;
    CHECK(qw_chat_render(NULL, 0, 1, &out) == QW_ERR_ARG && out == NULL);
    qw_chat_message bad = {"user", NULL};
    CHECK(qw_chat_render(&bad, 1, 1, &out) == QW_ERR_ARG);
    free_jsonl(rec, n);
}

// ---------------------------------------------------------------------------------------------------
// decoding edge cases and the stream against one-shot decode on random id sequences

static void test_decode_edges(void) {
    char *d;
    size_t l;
    // U+1F600 is four byte tokens here; cut short it is one U+FFFD, as HF's from_utf8_lossy gives
    int32_t *ids;
    size_t n;
    CHECK(qw_tok_encode(g_tok, "\xf0\x9f\x98\x80", 4, 1, &ids, &n) == QW_OK);
    CHECK(qw_tok_decode(g_tok, ids, n, 0, &d, &l) == QW_OK && l == 4 && memcmp(d, "\xf0\x9f\x98\x80", 4) == 0);
    free(d);
    if (n >= 2) {
        CHECK(qw_tok_decode(g_tok, ids, n - 1, 0, &d, &l) == QW_OK && strcmp(d, "\xef\xbf\xbd") == 0);
        free(d);
        qw_tok_stream s;
        qw_tok_stream_init(&s);
        char buf[64];
        size_t w = 0;
        for (size_t i = 0; i + 1 < n; i++) w += qw_tok_stream_push(&s, g_tok, ids[i], buf, sizeof buf);
        CHECK(w == 0 && s.n_pending > 0); // nothing emitted yet: the character is not finished
        CHECK(qw_tok_stream_push(&s, g_tok, ids[n - 1], buf, sizeof buf) == 4 && memcmp(buf, "\xf0\x9f\x98\x80", 4) == 0);
        CHECK(s.n_pending == 0 && qw_tok_stream_flush(&s, buf, sizeof buf) == 0);
    }
    free(ids);
    // unassigned and out-of-range ids are skipped; skip_special drops only special tokens
    int32_t mixed[] = {9707, 151700, -3, 151644, 151667, 1879};
    CHECK(qw_tok_decode(g_tok, mixed, 6, 0, &d, &l) == QW_OK && strcmp(d, "Hello<|im_start|><think> world") == 0);
    free(d);
    CHECK(qw_tok_decode(g_tok, mixed, 6, 1, &d, &l) == QW_OK && strcmp(d, "Hello<think> world") == 0);
    free(d);
    CHECK(qw_tok_decode(g_tok, NULL, 0, 0, &d, &l) == QW_OK && l == 0 && d[0] == 0);
    free(d);
    // a push that does not fit returns the size needed and leaves the stream as it was
    qw_tok_stream s;
    qw_tok_stream_init(&s);
    char small[4];
    size_t need = qw_tok_stream_push(&s, g_tok, 21927, small, sizeof small); // " Hello"
    CHECK(need == 6 && s.n_pending == 0);
    char big[16];
    CHECK(qw_tok_stream_push(&s, g_tok, 21927, big, sizeof big) == 6 && memcmp(big, " Hello", 6) == 0);

    // random ids, byte tokens over-represented so that characters are split and broken often
    int32_t byte_tok[256];
    for (int32_t id = 0, k = 0; id < 151643 && k < 256; id++) {
        size_t bl;
        if (qw_tok_token_bytes(g_tok, id, &bl) && bl == 1) byte_tok[k++] = id;
    }
    qw_rng r;
    qw_rng_seed(&r, 7);
    int bad = 0;
    for (int it = 0; it < 2000; it++) {
        int32_t seq[24];
        size_t m = 1 + qw_rng_u64(&r) % 24;
        for (size_t i = 0; i < m; i++) {
            uint64_t k = qw_rng_u64(&r) % 10;
            seq[i] = k < 6 ? byte_tok[qw_rng_u64(&r) % 256] : k < 9 ? (int32_t)(qw_rng_u64(&r) % 151643)
                                                                    : (int32_t)(151643 + qw_rng_u64(&r) % 30);
        }
        char *one;
        size_t ol, sl;
        qw_tok_decode(g_tok, seq, m, 0, &one, &ol);
        char *st = stream_decode(seq, m, 1024, &sl);
        // and every piece the stream emits is valid UTF-8 on its own
        qw_tok_stream s2;
        qw_tok_stream_init(&s2);
        int pieces_valid = 1;
        for (size_t i = 0; i < m; i++) {
            char buf[1024];
            size_t w = qw_tok_stream_push(&s2, g_tok, seq[i], buf, sizeof buf);
            if (w && utf8proc_decompose((const utf8proc_uint8_t *)buf, (utf8proc_ssize_t)w, NULL, 0, 0) < 0)
                pieces_valid = 0;
        }
        if (sl != ol || memcmp(st, one, ol) != 0 || !pieces_valid) {
            if (bad++ < 3) {
                fprintf(stderr, "stream/decode differ (pieces valid %d):", pieces_valid);
                for (size_t i = 0; i < m; i++) {
                    size_t bl;
                    const unsigned char *b = (const unsigned char *)qw_tok_token_bytes(g_tok, seq[i], &bl);
                    fprintf(stderr, " [");
                    for (size_t j = 0; b && j < bl; j++) fprintf(stderr, "%02x", b[j]);
                    fprintf(stderr, "]");
                }
                fprintf(stderr, "\n  one  %zu:", ol);
                for (size_t j = 0; j < ol; j++) fprintf(stderr, "%02x", (unsigned char)one[j]);
                fprintf(stderr, "\n  strm %zu:", sl);
                for (size_t j = 0; j < sl; j++) fprintf(stderr, "%02x", (unsigned char)st[j]);
                fprintf(stderr, "\n");
            }
        }
        free(one);
        free(st);
    }
    CHECKF(bad == 0, "%d random sequences where stream and one-shot decode differ", bad);
}

// ---------------------------------------------------------------------------------------------------
// NFC is applied only around the characters that need it: random strings rich in those characters
// must still come back exactly as utf8proc's NFC of the whole string

static void test_nfc_random(void) {
    static const int32_t pool[] = {
        'a', 'e', 'o', 'A', ' ', '1', 0x300, 0x301, 0x308, 0x323, 0x327, 0x344, 0x345, 0x1100, 0x1112, 0x1161,
        0x1175, 0x11a8, 0x11c2, 0xac00, 0xac01, 0xd7a3, 0x304b, 0x3099, 0x309a, 0x30ab, 0x3b1, 0x1f71, 0x212b,
        0x2126, 0xf900, 0x915, 0x93c, 0x958, 0xc5, 0xe9, 0x1e9b, 0x0b47, 0x0b3e, 0x0b57, 0x0dd9, 0x0dcf, 0x0ddf,
        0x1b05, 0x1b35, 0x4e2d, 0x20d7, 0x1d15e, 0x1d165, 0x2f800, 0xfb1d, 0x5d9, 0x5b4};
    qw_rng r;
    qw_rng_seed(&r, 99);
    int bad = 0;
    for (int it = 0; it < 3000; it++) {
        unsigned char s[64];
        size_t n = 0, m = 1 + qw_rng_u64(&r) % 12;
        for (size_t i = 0; i < m; i++)
            n += (size_t)utf8proc_encode_char(pool[qw_rng_u64(&r) % (sizeof pool / sizeof *pool)], s + n);
        s[n] = 0;
        int32_t *ids;
        size_t ni;
        char *d;
        size_t dl;
        qw_tok_encode(g_tok, (const char *)s, n, 1, &ids, &ni);
        qw_tok_decode(g_tok, ids, ni, 0, &d, &dl);
        utf8proc_uint8_t *nfc = utf8proc_NFC(s);
        if (!nfc || strcmp(d, (char *)nfc) != 0) {
            if (bad++ < 3) fprintf(stderr, "NFC differs for \"%s\": got \"%s\" want \"%s\"\n", s, d, nfc);
        }
        free(nfc);
        free(d);
        free(ids);
    }
    CHECKF(bad == 0, "%d random strings where encode+decode is not NFC", bad);
}

// ---------------------------------------------------------------------------------------------------
// inputs that are not text a JSON file could hold: invalid UTF-8, NUL

static void test_bytes(void) {
    const char *cases[] = {"\xff", "abc\x80xyz", "\xe4\xb8", "caf\xe9 ol\xe9", "\xf0\x9f\x98", "\xc0\xaf",
                           "\xed\xa0\x80 surrogate", "<|im_start|>\xfe<|im_end|>"};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *s = cases[c];
        size_t sl = strlen(s);
        int32_t *ids;
        size_t n;
        CHECK(qw_tok_encode(g_tok, s, sl, 1, &ids, &n) == QW_OK);
        // byte-exact: token bytes concatenated give the input back
        char buf[256];
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            size_t l;
            const char *b = qw_tok_token_bytes(g_tok, ids[i], &l);
            memcpy(buf + k, b, l);
            k += l;
        }
        CHECKF(k == sl && memcmp(buf, s, sl) == 0, "bytes case %zu does not round-trip", c);
        free(ids);
    }
    int32_t *ids;
    size_t n;
    CHECK(qw_tok_encode(g_tok, "a\0b", 3, 1, &ids, &n) == QW_OK);
    char *d;
    size_t l;
    CHECK(qw_tok_decode(g_tok, ids, n, 0, &d, &l) == QW_OK && l == 3 && memcmp(d, "a\0b", 3) == 0);
    free(d);
    free(ids);
    CHECK(qw_tok_encode(g_tok, NULL, 0, 1, &ids, &n) == QW_OK && n == 0);
    free(ids);
}

// ---------------------------------------------------------------------------------------------------
// hostile inputs: long words must not go quadratic (timings are printed, never asserted)

static void test_hostile(void) {
    const size_t N = 100000;
    char *s = malloc(N + 1);
    qw_rng r;
    qw_rng_seed(&r, 1);
    const char *kinds[] = {"one letter", "random letters", "spaces", "digits", "punctuation", "im_start soup",
                           "CJK", "combining marks"};
    for (int k = 0; k < 8; k++) {
        size_t n = N;
        for (size_t i = 0; i < N; i++) {
            switch (k) {
            case 0: s[i] = 'a'; break;
            case 1: s[i] = (char)('a' + qw_rng_u64(&r) % 26); break;
            case 2: s[i] = ' '; break;
            case 3: s[i] = (char)('0' + qw_rng_u64(&r) % 10); break;
            case 4: s[i] = "!@#$%^&*()_+-=[]{};:,./<>?"[qw_rng_u64(&r) % 26]; break;
            case 5: s[i] = "<|im_start"[i % 10]; break;
            case 6: // 的 (e7 9a 84) over and over
                s[i] = "\xe7\x9a\x84"[i % 3];
                n = N - N % 3;
                break;
            case 7: // a + U+0301 pairs: NFC composes every one
                s[i] = "a\xcc\x81"[i % 3];
                n = N - N % 3;
                break;
            }
        }
        s[n] = 0;
        double t0 = qw_time_sec();
        int32_t *ids;
        size_t ni;
        CHECK(qw_tok_encode(g_tok, s, n, 1, &ids, &ni) == QW_OK);
        double dt = qw_time_sec() - t0;
        char *d;
        size_t dl;
        CHECK(qw_tok_decode(g_tok, ids, ni, 0, &d, &dl) == QW_OK);
        utf8proc_uint8_t *nfc = utf8proc_NFC((const utf8proc_uint8_t *)s);
        CHECKF(nfc && strcmp(d, (char *)nfc) == 0, "hostile %s does not round-trip", kinds[k]);
        printf("hostile %zu bytes of %s: %zu tokens in %.3f s\n", n, kinds[k], ni, dt);
        free(nfc);
        free(d);
        free(ids);
    }
    free(s);
}

// ---------------------------------------------------------------------------------------------------
// speed on a large mixed text, and several threads encoding at once give the same ids

typedef struct {
    const char *text;
    size_t len;
    int32_t *ids[4];
    size_t n[4];
} par_ctx;

static void par_encode(void *ctx, int ith, int nth) {
    par_ctx *c = ctx;
    qw_tok_encode(g_tok, c->text, c->len, 1, &c->ids[ith], &c->n[ith]);
}

static void test_speed(void) {
    int n;
    cJSON **rec = read_jsonl("tests/data/tok_strings.jsonl", &n);
    size_t cap = 1 << 20, len = 0;
    char *big = malloc(cap + 1);
    // the test strings over and over, until the next one would not fit
    for (int i = 0;; i = (i + 1) % n) {
        const char *t = cJSON_GetObjectItem(rec[i], "text")->valuestring;
        size_t l = strlen(t);
        if (len + l + 1 > cap) break;
        memcpy(big + len, t, l);
        big[len + l] = '\n';
        len += l + 1;
    }
    big[len] = 0;
    free_jsonl(rec, n);
    double t0 = qw_time_sec();
    int32_t *ids;
    size_t ni;
    CHECK(qw_tok_encode(g_tok, big, len, 1, &ids, &ni) == QW_OK);
    double dt = qw_time_sec() - t0;
    char *d;
    size_t dl;
    t0 = qw_time_sec();
    CHECK(qw_tok_decode(g_tok, ids, ni, 0, &d, &dl) == QW_OK);
    double dt2 = qw_time_sec() - t0;
    printf("encode %.2f MB mixed text: %zu tokens in %.3f s (%.1f MB/s); decode %.3f s\n", len / 1e6, ni, dt,
           len / 1e6 / dt, dt2);
    // the same text in pieces gives the same ids as long as the cut is at a special token; here just
    // check that concurrent encodes agree with the single one
    par_ctx c = {big, len, {0}, {0}};
    qw_parallel(par_encode, &c, 2);
    CHECK(c.n[0] == ni && c.n[1] == ni && memcmp(c.ids[0], ids, ni * 4) == 0 && memcmp(c.ids[1], ids, ni * 4) == 0);
    free(c.ids[0]);
    free(c.ids[1]);
    free(d);
    free(ids);
    free(big);
}

// ---------------------------------------------------------------------------------------------------
// a small synthetic tokenizer for the features Qwen's file does not use: "a b" merges, lstrip/rstrip,
// normalized added tokens, gaps in ids, bytes missing from the vocab, ignore_merges

static const char *k_small =
    "{\"added_tokens\": ["
    "  {\"id\": 10, \"content\": \"<X>\", \"special\": true, \"lstrip\": true, \"rstrip\": true, \"normalized\": false},"
    "  {\"id\": 11, \"content\": \"\xc3\xa9t\xc3\xa9\", \"special\": false, \"normalized\": true},"
    "  {\"id\": 12, \"content\": \"<X>>\", \"special\": false}],"
    " \"normalizer\": {\"type\": \"NFC\"},"
    " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true},"
    " \"decoder\": {\"type\": \"ByteLevel\"},"
    " \"model\": {\"type\": \"BPE\", \"dropout\": null, \"ignore_merges\": false,"
    "  \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"\xc4\xa0\": 3, \"ab\": 4, \"abc\": 5, \"\xc4\xa0" "a\": 6,"
    "            \"<\": 7, \"X\": 8, \">\": 9, \"\xc3\x83\": 13, \"\xc2\xa9\": 14, \"t\": 15},"
    "  \"merges\": [\"a b\", \"ab c\", \"\xc4\xa0 a\"]}}";

static void test_small(void) {
    qw_tokenizer *t;
    CHECKF(qw_tok_load_from_memory(&t, k_small, strlen(k_small), "small.json") == QW_OK, "%s", qw_error_message());
    if (!t) return;
    CHECK(qw_tok_n_vocab(t) == 16);
    CHECK(qw_tok_token_bytes(t, 16, NULL) == NULL);
    int32_t *ids;
    size_t n;
    // lstrip/rstrip swallow the spaces around <X>; "<X>>" is longer and wins where it matches
    CHECK(qw_tok_encode(t, "ab <X> c", 8, 1, &ids, &n) == QW_OK);
    CHECK(n == 3 && ids[0] == 4 && ids[1] == 10 && ids[2] == 2);
    free(ids);
    CHECK(qw_tok_encode(t, "<X>>", 4, 1, &ids, &n) == QW_OK && n == 1 && ids[0] == 12);
    free(ids);
    // parse_special = 0: <X> is text (its bytes), the non-special <X>> still matches
    CHECK(qw_tok_encode(t, "<X>", 3, 0, &ids, &n) == QW_OK && n == 3 && ids[0] == 7 && ids[1] == 8 && ids[2] == 9);
    free(ids);
    // " abc" -> "Ġa" wins over "ab"? ranks: "a b" is 0, so (a,b) merges first, then (ab,c): Ġ + abc
    CHECK(qw_tok_encode(t, " abc", 4, 1, &ids, &n) == QW_OK && n == 2 && ids[0] == 3 && ids[1] == 5);
    free(ids);
    // a normalized added token matches after NFC: "e\u0301te\u0301" is "été"
    CHECK(qw_tok_encode(t, "e\xcc\x81te\xcc\x81", 7, 1, &ids, &n) == QW_OK && n == 1 && ids[0] == 11);
    free(ids);
    // bytes with no token are dropped (no unk token), as HF does
    CHECK(qw_tok_encode(t, "zz", 2, 1, &ids, &n) == QW_OK && n == 0);
    free(ids);
    char *d;
    size_t l;
    int32_t seq[] = {4, 10, 2, 16, 99};
    CHECK(qw_tok_decode(t, seq, 5, 0, &d, &l) == QW_OK && strcmp(d, "ab<X>c") == 0);
    free(d);
    CHECK(qw_tok_find(t, "\xc4\xa0" "a") == 6 && qw_tok_find(t, "<X>") == 10);
    qw_tok_free(t);
}

// ---------------------------------------------------------------------------------------------------
// bad files

static void expect_error(const char *json, qw_status want, const char *what) {
    qw_tokenizer *t = (qw_tokenizer *)1;
    qw_status st = qw_tok_load_from_memory(&t, json, strlen(json), "bad-tokenizer.json");
    CHECKF(st == want && t == NULL, "%s: got %s (%s)", what, qw_status_name(st), qw_error_message());
    CHECKF(strstr(qw_error_message(), "bad-tokenizer.json") != NULL, "%s: message does not name the file: %s", what,
           qw_error_message());
    if (st != QW_OK && qw_log_level() >= QW_LOG_INFO) printf("  %s -> %s\n", what, qw_error_message());
    if (st == QW_OK) qw_tok_free(t);
}

#define BPE_BODY "\"model\": {\"type\": \"BPE\", "
#define BPE_HEAD "{" BPE_BODY

static void test_errors(void) {
    expect_error("{\"model\": ", QW_ERR_FORMAT, "truncated JSON");
    expect_error("not json at all", QW_ERR_FORMAT, "not JSON");
    expect_error("[1, 2]", QW_ERR_FORMAT, "array at top");
    expect_error("{} trailing", QW_ERR_FORMAT, "trailing data");
    expect_error("{}", QW_ERR_FORMAT, "no model");
    expect_error(BPE_HEAD "\"merges\": []}}", QW_ERR_FORMAT, "no vocab");
    expect_error(BPE_HEAD "\"vocab\": {\"a\": 0}}}", QW_ERR_FORMAT, "no merges");
    expect_error(BPE_HEAD "\"vocab\": [\"a\"], \"merges\": []}}", QW_ERR_FORMAT, "vocab not an object");
    expect_error(BPE_HEAD "\"vocab\": {}, \"merges\": []}}", QW_ERR_FORMAT, "empty vocab");
    expect_error(BPE_HEAD "\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a c\"]}}", QW_ERR_FORMAT,
                 "merge with an unknown token");
    expect_error(BPE_HEAD "\"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", \"b\"]]}}", QW_ERR_FORMAT,
                 "merge whose result is not in the vocab");
    expect_error(BPE_HEAD "\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"ab\"]}}", QW_ERR_FORMAT,
                 "merge that is one token");
    expect_error(BPE_HEAD "\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [[\"a\"]]}}", QW_ERR_FORMAT,
                 "merge pair of one");
    expect_error(BPE_HEAD "\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [7]}}", QW_ERR_FORMAT,
                 "merge that is a number");
    expect_error(BPE_HEAD "\"vocab\": {\"a\": -1}, \"merges\": []}}", QW_ERR_FORMAT, "negative id");
    expect_error(BPE_HEAD "\"vocab\": {\"a\": 1.5}, \"merges\": []}}", QW_ERR_FORMAT, "fractional id");
    expect_error(BPE_HEAD "\"vocab\": {\"a\": \"0\"}, \"merges\": []}}", QW_ERR_FORMAT, "string id");
    expect_error(BPE_HEAD "\"vocab\": {\"a\": 2000000000}, \"merges\": []}}", QW_ERR_FORMAT, "huge id");
    expect_error(BPE_HEAD "\"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", QW_ERR_FORMAT, "duplicated id");
    expect_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", QW_ERR_FORMAT, "WordPiece model");
    expect_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}", QW_ERR_FORMAT, "Unigram model");
    expect_error("{\"added_tokens\": [{\"id\": 5}], " BPE_BODY "\"vocab\": {\"a\": 0}, \"merges\": []}}", QW_ERR_FORMAT,
                 "added token without content");
    expect_error("{\"added_tokens\": {}, " BPE_BODY "\"vocab\": {\"a\": 0}, \"merges\": []}}", QW_ERR_FORMAT,
                 "added_tokens not an array");
    expect_error("{\"normalizer\": {\"type\": \"NFKC\"}, " BPE_BODY "\"vocab\": {\"a\": 0}, \"merges\": []}}",
                 QW_ERR_UNSUPPORTED, "NFKC normalizer");
    expect_error("{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, " BPE_BODY "\"vocab\": {\"a\": 0}, \"merges\": []}}",
                 QW_ERR_UNSUPPORTED, "Metaspace pre-tokenizer");
    expect_error(BPE_HEAD "\"dropout\": 0.1, \"vocab\": {\"a\": 0}, \"merges\": []}}", QW_ERR_UNSUPPORTED, "dropout");

    // a file on disk: the message names its path; a missing file is an I/O error
    char path[] = "/tmp/qwick_test_tok_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "{\"model\": {\"type\": \"BPE\"}}", 26) == 26);
    close(fd);
    qw_tokenizer *t;
    CHECK(qw_tok_load(&t, path) == QW_ERR_FORMAT && t == NULL);
    CHECKF(strstr(qw_error_message(), path) != NULL, "%s", qw_error_message());
    unlink(path);
    CHECK(qw_tok_load(&t, "tests/data/no-such-tokenizer.json") == QW_ERR_IO && t == NULL);
    CHECK(strstr(qw_error_message(), "no-such-tokenizer.json") != NULL);
}

static void test_bad_regex(void) {
    const char *j = "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a|\"}, \"behavior\": "
                    "\"Isolated\", \"invert\": false}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
                    "\"merges\": []}}";
    expect_error(j, QW_ERR_FORMAT, "regex PCRE2 rejects");
    CHECK(strstr(qw_error_message(), "regex") != NULL);
}

int main(void) {
    double t0 = qw_time_sec();
    if (qw_tok_load(&g_tok, "models/tokenizer.json") != QW_OK) {
        fprintf(stderr, "cannot load models/tokenizer.json: %s\n", qw_error_message());
        return 1;
    }
    printf("loaded models/tokenizer.json in %.3f s\n", qw_time_sec() - t0);
    test_basics();
    test_llamacpp();
    test_expected();
    test_chat();
    test_decode_edges();
    test_nfc_random();
    test_bytes();
    test_hostile();
    test_speed();
    test_small();
    test_errors();
    test_bad_regex();
    qw_tok_free(g_tok);
    TEST_DONE();
}
