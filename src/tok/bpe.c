// tok/bpe: byte-pair merging of one pre-tokenized word. A heap of candidate merges keyed by (rank,
// position) and a linked list of symbols make a word of n bytes cost O(n log n), never O(n^2).
#include "tok_impl.h"

int qw_tok_work_push(qw_tok_work *w, int32_t id) {
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 256;
        int32_t *ni = realloc(w->ids, nc * sizeof *ni);
        if (!ni) {
            w->nomem = 1;
            return 0;
        }
        w->ids = ni;
        w->cap = nc;
    }
    w->ids[w->n++] = id;
    return 1;
}

// ---------------------------------------------------------------------------------------------------
// word cache: natural text repeats its words, and a hit skips the merging entirely. Direct-mapped and
// per encode call, so it needs no lock; only made for long inputs, where it pays for its memory.

#define QW_TOK_CACHE_SLOTS 4096
#define QW_TOK_CACHE_KEY 22
#define QW_TOK_CACHE_IDS 8

typedef struct {
    uint8_t klen, nids; // klen 0: empty slot
    char key[QW_TOK_CACHE_KEY];
    int32_t ids[QW_TOK_CACHE_IDS];
} qw_tok_cache_slot;

struct qw_tok_cache {
    qw_tok_cache_slot slot[QW_TOK_CACHE_SLOTS];
};

int qw_tok_work_cache_init(qw_tok_work *w) {
    w->cache = calloc(1, sizeof *w->cache);
    return w->cache != NULL;
}

void qw_tok_work_free(qw_tok_work *w) {
    free(w->ids);
    free(w->sym_id);
    free(w->sym_prev);
    free(w->sym_next);
    free(w->heap);
    free(w->cache);
    if (w->md) pcre2_match_data_free(w->md);
    memset(w, 0, sizeof *w);
}

// ---------------------------------------------------------------------------------------------------
// min-heap of rank << 32 | position: lowest rank first, and for equal ranks (the same pair) the
// leftmost, which is the order HF applies merges in.

static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = v;
    return top;
}

static int work_reserve(qw_tok_work *w, size_t n) {
    if (n <= w->sym_cap) return 1;
    size_t c = w->sym_cap ? w->sym_cap : 64;
    while (c < n) c *= 2;
    int32_t *a = realloc(w->sym_id, c * sizeof *a);
    if (a) w->sym_id = a;
    int32_t *b = realloc(w->sym_prev, c * sizeof *b);
    if (b) w->sym_prev = b;
    int32_t *d = realloc(w->sym_next, c * sizeof *d);
    if (d) w->sym_next = d;
    // every merge adds at most two candidates, so n + 2n entries are enough
    uint64_t *h = realloc(w->heap, 3 * c * sizeof *h);
    if (h) w->heap = h;
    if (!a || !b || !d || !h) {
        w->nomem = 1;
        return 0;
    }
    w->sym_cap = c;
    w->heap_cap = 3 * c;
    return 1;
}

static void try_pair(const qw_tokenizer *t, qw_tok_work *w, size_t *hn, int32_t pos) {
    int32_t nx = w->sym_next[pos], rank;
    if (nx < 0) return;
    if (qw_tok_merge_get(t, w->sym_id[pos], w->sym_id[nx], &rank) >= 0) {
        QW_ASSERT(*hn < w->heap_cap);
        heap_push(w->heap, hn, (uint64_t)(uint32_t)rank << 32 | (uint32_t)pos);
    }
}

// Short words (most of them) skip the heap: the symbols sit in an array and each step scans it for
// the lowest-ranked pair, which for a few dozen symbols is cheaper than heap upkeep. Same merge order:
// lowest rank, leftmost first.
#define QW_BPE_SHORT 48

static void bpe_merge_short(const qw_tokenizer *t, qw_tok_work *w, const unsigned char *s, size_t n) {
    int32_t id[QW_BPE_SHORT], rank[QW_BPE_SHORT], merged[QW_BPE_SHORT];
    int m = 0;
    for (size_t i = 0; i < n; i++)
        if (t->byte_id[s[i]] >= 0) id[m++] = t->byte_id[s[i]];
    for (int i = 0; i + 1 < m; i++) merged[i] = qw_tok_merge_get(t, id[i], id[i + 1], &rank[i]);
    for (;;) {
        int best = -1;
        int32_t br = INT32_MAX;
        for (int i = 0; i + 1 < m; i++)
            if (merged[i] >= 0 && rank[i] < br) br = rank[i], best = i;
        if (best < 0) break;
        id[best] = merged[best];
        m--;
        for (int i = best + 1; i < m; i++) {
            id[i] = id[i + 1];
            rank[i] = rank[i + 1];
            merged[i] = merged[i + 1];
        }
        if (best > 0) merged[best - 1] = qw_tok_merge_get(t, id[best - 1], id[best], &rank[best - 1]);
        if (best + 1 < m) merged[best] = qw_tok_merge_get(t, id[best], id[best + 1], &rank[best]);
    }
    for (int i = 0; i < m; i++) qw_tok_work_push(w, id[i]);
}

static void bpe_merge(const qw_tokenizer *t, qw_tok_work *w, const unsigned char *s, size_t n) {
    if (t->ignore_merges) {
        int32_t id = qw_tok_strmap_get(&t->by_bytes, (const char *)t->bytes, t->bytes_off, t->bytes_off, s, n);
        if (id >= 0) {
            qw_tok_work_push(w, id);
            return;
        }
    }
    if (n <= QW_BPE_SHORT) {
        bpe_merge_short(t, w, s, n);
        return;
    }
    if (!work_reserve(w, n)) return;
    // one symbol per byte; a byte the vocab lacks is dropped, as HF drops it when there is no unk token
    int32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[s[i]];
        if (id < 0) continue;
        w->sym_id[m] = id;
        w->sym_prev[m] = m - 1;
        w->sym_next[m] = m + 1;
        m++;
    }
    if (m == 0) return;
    w->sym_next[m - 1] = -1;
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < m; i++) try_pair(t, w, &hn, i);
    while (hn > 0) {
        uint64_t top = heap_pop(w->heap, &hn);
        int32_t pos = (int32_t)(uint32_t)top, rank = (int32_t)(top >> 32), r;
        // a candidate is stale if either symbol has been merged away or changed since it was pushed;
        // a rank names one pair, so "same rank now" means "same pair now"
        if (w->sym_id[pos] < 0) continue;
        int32_t nx = w->sym_next[pos];
        if (nx < 0) continue;
        int32_t merged = qw_tok_merge_get(t, w->sym_id[pos], w->sym_id[nx], &r);
        if (merged < 0 || r != rank) continue;
        w->sym_id[pos] = merged;
        w->sym_id[nx] = -1;
        w->sym_next[pos] = w->sym_next[nx];
        if (w->sym_next[nx] >= 0) w->sym_prev[w->sym_next[nx]] = pos;
        if (w->sym_prev[pos] >= 0) try_pair(t, w, &hn, w->sym_prev[pos]);
        try_pair(t, w, &hn, pos);
    }
    for (int32_t i = 0; i >= 0; i = w->sym_next[i]) qw_tok_work_push(w, w->sym_id[i]);
}

void qw_tok_bpe_word(const qw_tokenizer *t, qw_tok_work *w, const unsigned char *s, size_t n) {
    if (n == 0) return;
    if (n == 1) {
        if (t->byte_id[s[0]] >= 0) qw_tok_work_push(w, t->byte_id[s[0]]);
        return;
    }
    qw_tok_cache_slot *slot = NULL;
    if (w->cache && n <= QW_TOK_CACHE_KEY) {
        slot = &w->cache->slot[qw_tok_hash(s, n) & (QW_TOK_CACHE_SLOTS - 1)];
        if (slot->klen == n && memcmp(slot->key, s, n) == 0) {
            for (int i = 0; i < slot->nids; i++) qw_tok_work_push(w, slot->ids[i]);
            return;
        }
    }
    size_t start = w->n;
    bpe_merge(t, w, s, n);
    size_t got = w->n - start;
    if (slot && !w->nomem && got <= QW_TOK_CACHE_IDS) {
        slot->klen = (uint8_t)n;
        slot->nids = (uint8_t)got;
        memcpy(slot->key, s, n);
        memcpy(slot->ids, w->ids + start, got * sizeof *w->ids);
    }
}
