// tok_impl: the inside of qw_tokenizer, shared by the tok/*.c files and no one else: tables built by
// load.c, the UTF-8 scanner used by encode and decode, and the per-call scratch that encode uses.
#ifndef QW_TOK_IMPL_H
#define QW_TOK_IMPL_H

#include "tok.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define QW_TOK_MAX_ID (1 << 22)  // refuse ids past this (vocabularies are < 300k): no giant tables for a bad file
#define QW_TOK_MAX_SPLITS 4      // pre-tokenizer regexes applied one after the other

// Flags per id.
enum {
    QW_TOK_F_ASSIGNED = 1,
    QW_TOK_F_ADDED = 2,
    QW_TOK_F_SPECIAL = 4,
    QW_TOK_F_BPE = 8, // in model.vocab and spelled in byte-level characters only: reachable by BPE
};

// Open-addressing map from a byte string to an id; the keys live in the tokenizer's arenas, so a
// slot holds only the id (-1 empty) and a lookup compares against the arena.
typedef struct {
    int32_t *slot;
    uint32_t mask;
} qw_tok_strmap;

// (left id, right id) -> (rank, merged id). key UINT64_MAX marks an empty slot.
typedef struct {
    uint64_t key;
    int32_t rank;
    int32_t id;
} qw_tok_merge_slot;

// Added tokens, matched in the text before anything else. A byte trie gives the longest match at a
// position in one walk; children are a sibling list, which is fine for the few dozen tokens files have.
typedef struct {
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} qw_tok_added;

typedef struct {
    int32_t child, sibling; // node indices, -1 none
    int32_t added;          // index into added[] if a token ends here, else -1
    uint8_t byte;
} qw_tok_trie_node;

typedef struct {
    qw_tok_trie_node *node; // node[0] is the root
    int32_t n, cap;
    uint8_t first[32];      // bitset of bytes that start some token: most positions are rejected here
} qw_tok_trie;

struct qw_tokenizer {
    char *name; // path, for messages
    int32_t n_vocab;
    // per id: the token as tokenizer.json spells it, and the bytes it decodes to
    char *text;               // arena of NUL-terminated strings
    uint32_t *text_off;       // (n_vocab)
    unsigned char *bytes;     // arena of decoded bytes
    uint32_t *bytes_off;      // (n_vocab + 1): bytes of id i are [bytes_off[i], bytes_off[i+1])
    uint8_t *flags;           // (n_vocab) QW_TOK_F_*
    size_t max_token_bytes;
    qw_tok_strmap by_text;    // token string -> id, every token
    qw_tok_strmap by_bytes;   // decoded bytes -> id, QW_TOK_F_BPE tokens only
    int32_t byte_id[256];     // id of the one-byte token for each byte, -1 if the vocab lacks it
    // merges
    qw_tok_merge_slot *merge; // (merge_mask + 1)
    uint32_t merge_mask;
    int32_t n_merges;
    int32_t *merge_pair;      // (n_merges, 2) in rank order
    int ignore_merges;        // a word that is a whole vocab token skips BPE (Llama-3 style files)
    // added tokens: raw ones are matched before normalization, normalized ones after it
    qw_tok_added *added;
    int32_t n_added;
    qw_tok_trie trie_raw, trie_norm;
    // normalizer and pre-tokenizer
    int nfc;
    pcre2_code *split[QW_TOK_MAX_SPLITS];
    int n_split;
};

// load.c
uint64_t qw_tok_hash(const void *p, size_t n);
int32_t qw_tok_strmap_get(const qw_tok_strmap *m, const char *arena, const uint32_t *off,
                          const uint32_t *next_off, const void *key, size_t n); // next_off: NULL for NUL-terminated keys
int32_t qw_tok_merge_get(const qw_tokenizer *t, int32_t a, int32_t b, int32_t *rank);

// UTF-8, per Unicode's table 3-7. At s[0..n): returns 1 and the length of a whole character; 0 and
// the length of the maximal invalid subpart (what one U+FFFD replaces); -1 and n when s is the valid
// start of a character that n bytes do not finish.
int qw_tok_utf8_next(const unsigned char *s, size_t n, size_t *len);

// encode.c: builds the table of code points NFC leaves alone (once per process)
void qw_tok_nfc_init(void);

// encode scratch, one per qw_tok_encode call (so encode needs no lock)
typedef struct {
    int32_t *ids;
    size_t n, cap;
    // bpe
    int32_t *sym_id, *sym_prev, *sym_next; // (sym_cap)
    uint64_t *heap;                        // (heap_cap) rank << 32 | position
    size_t sym_cap, heap_cap;
    // repeated words in long texts are looked up here instead of merged again (see bpe.c)
    struct qw_tok_cache *cache;
    pcre2_match_data *md;
    int parse_special;
    int nomem;
} qw_tok_work;

int qw_tok_work_push(qw_tok_work *w, int32_t id);
void qw_tok_bpe_word(const qw_tokenizer *t, qw_tok_work *w, const unsigned char *s, size_t n);
int qw_tok_work_cache_init(qw_tok_work *w); // 0 if out of memory
void qw_tok_work_free(qw_tok_work *w);

#endif
