// tok: the Hugging Face byte-level BPE tokenizer of Qwen2/Qwen2.5, loaded from tokenizer.json, and the
// ChatML prompt format of Qwen2.5-Instruct. Gives HF `tokenizers`' ids (tests/test_tok.c checks them).
#ifndef QW_TOK_H
#define QW_TOK_H

#include "../base/base.h"
#include "../io/io.h"

// A loaded tokenizer is immutable: every function below that takes a const qw_tokenizer * may be
// called from many threads at once.
typedef struct qw_tokenizer qw_tokenizer;

// Loads tokenizer.json. On error *out is NULL and the message names the file and the problem:
// QW_ERR_FORMAT for a file that is not a usable byte-level BPE tokenizer.json (bad JSON, missing
// model/vocab/merges, merges naming unknown tokens, a model type other than BPE, a regex PCRE2
// rejects), QW_ERR_UNSUPPORTED for BPE features qwick does not implement (another normalizer,
// dropout, subword prefixes). Free with qw_tok_free.
qw_status qw_tok_load(qw_tokenizer **out, const char *tokenizer_json_path);
// The same from a buffer (need not be NUL-terminated); name_for_errors stands in for the path.
qw_status qw_tok_load_from_memory(qw_tokenizer **out, const char *json, size_t len,
                                  const char *name_for_errors);
// From a GGUF file's tokenizer.ggml.* metadata (model "gpt2", pre "qwen2"): tokens by type (NORMAL
// and BYTE into the vocabulary, CONTROL as special added tokens, USER_DEFINED as added tokens, UNUSED
// left unassigned) and merges "left right", with Qwen2's pre-tokenizer. Errors name the GGUF file.
qw_status qw_tok_load_gguf(qw_tokenizer **out, const qw_gguf *g);
void qw_tok_free(qw_tokenizer *t);

// Highest token id + 1, added tokens included (151669 for Qwen's file). Ids below it may still be
// unassigned in other files: qw_tok_token_bytes returns NULL for those.
int32_t qw_tok_n_vocab(const qw_tokenizer *t);

// Text (UTF-8, len bytes, NUL allowed) to token ids, with no BOS/EOS added (Qwen adds none).
// parse_special: special tokens written in the text (<|im_start|>, <|endoftext|>...) become their ids,
// HF's default; when 0 they are tokenized as plain text. Added tokens that are not special (<think>,
// <tool_call>) always become their ids, as in HF and llama.cpp. Bytes that are not valid UTF-8 are
// kept, each as its own byte token, so any byte string round-trips. *ids is malloc'd; caller frees.
qw_status qw_tok_encode(const qw_tokenizer *t, const char *text, size_t len, int parse_special,
                        int32_t **ids, size_t *n_ids);

// The bytes a token decodes to (not NUL-terminated; may be part of a UTF-8 character). Owned by t.
// NULL if id is out of range or unassigned.
const char *qw_tok_token_bytes(const qw_tokenizer *t, int32_t id, size_t *len);
// The token as tokenizer.json spells it ("Ġthe", "<|im_end|>"), NUL-terminated, owned by t; NULL if
// out of range or unassigned. This is what GGUF's tokenizer.ggml.tokens holds.
const char *qw_tok_token_text(const qw_tokenizer *t, int32_t id);
// Exact token string (as tokenizer.json spells it) -> id, -1 if none.
int32_t qw_tok_find(const qw_tokenizer *t, const char *token);
int qw_tok_is_special(const qw_tokenizer *t, int32_t id); // special added token (skipped by decode)
int qw_tok_is_added(const qw_tokenizer *t, int32_t id);   // any added token, special or not
// Merges in rank order, as token ids: merge i joins left and right. For GGUF export.
int32_t qw_tok_n_merges(const qw_tokenizer *t);
void qw_tok_merge(const qw_tokenizer *t, int32_t i, int32_t *left, int32_t *right);

// Ids to text. Unassigned or out-of-range ids are skipped (HF does the same), so a model whose
// embedding has padding rows past the vocabulary cannot make decoding fail. Bytes that are not valid
// UTF-8, anywhere, are replaced by U+FFFD per maximal invalid subpart, as HF (Rust's
// from_utf8_lossy) and transformers.js (TextDecoder) do. *out is malloc'd and NUL-terminated; caller
// frees.
qw_status qw_tok_decode(const qw_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                        char **out, size_t *len);

// Streaming decode for token-by-token output: emits only whole UTF-8 characters, holding back the
// start of one that the next token may complete. The concatenation of every push and the final
// flush equals qw_tok_decode of the same ids (skip_special = 0).
typedef struct {
    unsigned char pending[8];
    int n_pending;
} qw_tok_stream;
void qw_tok_stream_init(qw_tok_stream *s);
// Writes the text that id completes into out and returns its length. Like snprintf, if that length
// is more than cap, nothing is written and the stream is left as it was, so the caller can retry
// with a larger buffer; 3 * (token length + 8) bytes always suffice (1024 for Qwen's vocabulary).
size_t qw_tok_stream_push(qw_tok_stream *s, const qw_tokenizer *t, int32_t id, char *out, size_t cap);
// Ends the stream: an unfinished character becomes U+FFFD. Same return convention (at most 3 bytes).
size_t qw_tok_stream_flush(qw_tok_stream *s, char *out, size_t cap);

// ChatML as Qwen2.5-Instruct's chat template renders it (without tools): the default system turn
// "You are Qwen, created by Alibaba Cloud. You are a helpful assistant." is inserted when the first
// message is not a system message; roles other than system/user/assistant/tool render nothing, as in
// the template; add_generation_prompt appends "<|im_start|>assistant\n". *out is malloc'd; caller frees.
typedef struct {
    const char *role;
    const char *content;
} qw_chat_message;
qw_status qw_chat_render(const qw_chat_message *msgs, int n, int add_generation_prompt, char **out);

#endif
