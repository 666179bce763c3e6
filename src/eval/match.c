// eval/match: whether a generated reply counts as the answer: exact after normalisation, containment,
// or a user's regex whose capture is compared to the answer; normalisation is Unicode-aware.
#include "eval.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <utf8proc.h>

static int is_space(int32_t c) {
    if (c == ' ' || (c >= 0x09 && c <= 0x0d)) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

// Quotes, brackets and sentence punctuation: what wraps or ends an answer without being part of it.
// A leading '-' (a negative number), '%', '$' and '#' are kept.
static int is_strippable(int32_t c) {
    if (c < 0x80) return c && strchr(".,;:!?\"'`()[]{}<>", (int)c) != NULL;
    utf8proc_category_t k = utf8proc_category(c);
    if (k == UTF8PROC_CATEGORY_PS || k == UTF8PROC_CATEGORY_PE || k == UTF8PROC_CATEGORY_PI ||
        k == UTF8PROC_CATEGORY_PF)
        return 1;
    return k == UTF8PROC_CATEGORY_PO && c >= 0x2000; // … 、 。 ！ ， ： ； ？ and their kin
}

char *qw_eval_normalize(const char *s) {
    size_t n = strlen(s);
    // 1. valid UTF-8 (each invalid byte becomes U+FFFD), so utf8proc can case-fold it
    utf8proc_uint8_t *valid = malloc(3 * n + 1);
    if (!valid) return NULL;
    size_t vn = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) c = 0xfffd, k = 1;
        vn += (size_t)utf8proc_encode_char(c, valid + vn);
        i += (size_t)k;
    }
    valid[vn] = 0;
    utf8proc_uint8_t *folded = NULL;
    utf8proc_ssize_t fn = utf8proc_map(valid, (utf8proc_ssize_t)vn, &folded,
                                       UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD);
    free(valid);
    if (fn < 0) return NULL;
    // 2. to code points, 3. strip both ends, 4. collapse inner whitespace while re-encoding
    int32_t *cp = malloc(sizeof(int32_t) * ((size_t)fn + 1));
    char *out = malloc(4 * (size_t)fn + 1);
    if (!cp || !out) {
        free(cp), free(out), free(folded);
        return NULL;
    }
    size_t nc = 0;
    for (utf8proc_ssize_t i = 0; i < fn;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(folded + i, fn - i, &c);
        if (k <= 0) c = 0xfffd, k = 1;
        cp[nc++] = c;
        i += k;
    }
    free(folded);
    size_t b = 0, e = nc;
    while (b < e && (is_space(cp[b]) || is_strippable(cp[b]))) b++;
    while (e > b && (is_space(cp[e - 1]) || is_strippable(cp[e - 1]))) e--;
    size_t on = 0;
    for (size_t i = b; i < e; i++) {
        if (is_space(cp[i])) {
            if (!is_space(cp[i - 1])) out[on++] = ' '; // cp[b] is never a space, so i - 1 >= b
            continue;
        }
        on += (size_t)utf8proc_encode_char(cp[i], (utf8proc_uint8_t *)out + on);
    }
    out[on] = 0;
    free(cp);
    return out;
}

qw_status qw_matcher_init(qw_matcher *mt, const char *spec) {
    memset(mt, 0, sizeof *mt);
    if (strcmp(spec, "exact") == 0) mt->kind = QW_MATCH_EXACT;
    else if (strcmp(spec, "contains") == 0) mt->kind = QW_MATCH_CONTAINS;
    else if (strncmp(spec, "regex:", 6) == 0) {
        int err;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)(spec + 6), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err,
                                       &off, NULL);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            return qw_error(QW_ERR_ARG, "--match %s: %s at offset %zu", spec, (const char *)msg, (size_t)off);
        }
        mt->kind = QW_MATCH_REGEX;
        mt->re = re;
    } else {
        return qw_error(QW_ERR_ARG, "--match '%s': expected exact, contains or regex:PATTERN", spec);
    }
    mt->spec = qw_strdup(spec);
    if (!mt->spec) {
        qw_matcher_free(mt);
        return qw_error(QW_ERR_NOMEM, "out of memory");
    }
    return QW_OK;
}

void qw_matcher_free(qw_matcher *mt) {
    if (mt->re) pcre2_code_free(mt->re);
    free(mt->spec);
    memset(mt, 0, sizeof *mt);
}

// The text the regex picks out of output (its first group if it has one and it took part), or NULL.
static char *regex_pick(const qw_matcher *mt, const char *output) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(mt->re, NULL);
    if (!md) return NULL;
    char *r = NULL;
    int rc = pcre2_match(mt->re, (PCRE2_SPTR)output, strlen(output), 0, 0, md, NULL);
    if (rc > 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        int g = rc > 1 && ov[2] != PCRE2_UNSET ? 1 : 0;
        size_t len = ov[2 * g + 1] - ov[2 * g];
        if ((r = malloc(len + 1))) {
            memcpy(r, output + ov[2 * g], len);
            r[len] = 0;
        }
    }
    pcre2_match_data_free(md);
    return r;
}

int qw_matcher_test(const qw_matcher *mt, const char *output, const char *answer) {
    char *picked = mt->kind == QW_MATCH_REGEX ? regex_pick(mt, output) : NULL;
    if (mt->kind == QW_MATCH_REGEX && !picked) return 0;
    char *o = qw_eval_normalize(picked ? picked : output), *a = qw_eval_normalize(answer);
    int ok = 0;
    if (o && a) ok = mt->kind == QW_MATCH_CONTAINS ? strstr(o, a) != NULL : strcmp(o, a) == 0;
    free(o), free(a), free(picked);
    return ok;
}
