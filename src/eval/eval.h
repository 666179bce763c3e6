// eval: how good a model is, with its uncertainty: perplexity over a text, divergence from a reference
// model (run live or saved to a logits file), and accuracy on the user's JSONL tasks, paired to a reference.
#ifndef QW_EVAL_H
#define QW_EVAL_H

#include "generate/generate.h"

// ---------------------------------------------------------------------------------------------------
// statistics (stats.c). Intervals are two-sided; z = 1.959964 gives 95%.

#define QW_Z95 1.959963984540054

typedef struct {
    double lo, hi;
} qw_interval;

// Wilson score interval for k successes in n trials ({0, 1} when n is 0).
qw_interval qw_eval_wilson(int64_t k, int64_t n, double z);
// Exact two-sided McNemar test: b and c are the discordant counts; the p-value is
// min(1, 2 * P(X <= min(b, c))) for X ~ Binomial(b + c, 1/2). 1 when b + c is 0.
double qw_eval_mcnemar_p(int64_t b, int64_t c);
// Tango's score interval (1998) for the difference of two paired proportions p1 - p2 = (b - c) / n,
// where b pairs are right only in the first and c only in the second: the Δ whose score statistic
// stays within z. Unlike Wald or Newcombe's square-and-add it does not collapse to [0, 0] when no pair
// disagrees (it then matches Wilson's 0/n bound).
qw_interval qw_eval_paired_diff_ci(int64_t b, int64_t c, int64_t n, double z);
// Mean and standard error of the mean (sample standard deviation / sqrt(n); 0 when n < 2).
void qw_eval_mean_stderr(const double *x, int64_t n, double *mean, double *stderr_);
// Quantile q in [0, 1] of sorted values by linear interpolation (numpy's default). 0 when n is 0.
double qw_eval_quantile(const double *sorted, int64_t n, double q);
// log(sum(exp(z))) over n logits, accumulated in double; the index of the largest in *argmax (may be NULL).
double qw_eval_logsumexp(const float *z, int64_t n, int32_t *argmax);

// ---------------------------------------------------------------------------------------------------
// scoring many token sequences (score.c): sequences are packed into batches (several per forward, a
// long one spread over several), run through one or two models, and every scored position's logits
// are handed to a callback. Sequence s scores tokens[score_from .. len): the logits row at position
// p - 1 predicts token p. Rows reach the callback in canonical order (sequence, then position).

typedef struct {
    const int32_t *tokens;
    int len, score_from; // 1 <= score_from <= len
} qw_eval_seq;

// One batch worth of rows: row r is sequence seq[r] at position pos[r]; its logits (vocab floats) are
// logits + r * vocab, and ref_logits + r * vocab when a reference model runs alongside (else NULL).
typedef qw_status (*qw_eval_rows_fn)(void *ctx, int n_rows, const int32_t *seq, const int32_t *pos,
                                     const float *logits, const float *ref_logits);

typedef struct {
    int n_batch;   // tokens per forward
    int n_threads;
} qw_eval_run_params;

// ref may be NULL; when given it must have the same vocabulary size. prog (may be NULL) advances by
// the tokens fed.
qw_status qw_eval_score_seqs(const qw_model *m, const qw_model *ref, const qw_eval_seq *seqs, int n_seqs,
                             const qw_eval_run_params *p, qw_eval_rows_fn fn, void *ctx, qw_progress *prog);

// ---------------------------------------------------------------------------------------------------
// saved reference log-probs (logits_file.c), so a large reference need not sit in memory beside the
// candidate. Little-endian layout:
//   "QWLOGPRB" | u32 version (1) | u32 encoding | u32 vocab | u32 ctx | u32 stride | u32 n_windows |
//   u64 n_tokens | u64 n_rows | i32 tokens[n_tokens] | n_rows records
// A record: f32 scale, f32 offset, f32 exact log-prob of the next token, i32 exact argmax, then vocab
// values: f32 log-probs (QW_LOGITS_F32) or u16 q with log-prob = offset + scale * q (QW_LOGITS_U16),
// offset clamped to 64 nats below the top so one absurd logit cannot spoil the resolution
// (64 / 65535 nats, half that in error at most). Rows are in the order qw_eval_perplexity scores them.

enum { QW_LOGITS_U16 = 0, QW_LOGITS_F32 = 1 };
#define QW_LOGITS_HEADER_BYTES 48
#define QW_LOGITS_RECORD_HEAD 16

typedef struct {
    int encoding, vocab, ctx, stride, n_windows;
    int64_t n_tokens, n_rows;
} qw_logits_header;

size_t qw_logits_row_bytes(int encoding, int vocab);
// Writes one record for a row of raw logits whose next token is target.
void qw_logits_encode_row(int encoding, int vocab, const float *logits, int32_t target, void *out);
// Reads a record back: vocab log-probs (renormalised, so they form a distribution even after 16-bit
// rounding), the exact next-token log-prob and argmax.
void qw_logits_decode_row(int encoding, int vocab, const void *rec, float *logprobs, float *lp_target,
                          int32_t *top);

typedef struct {
    qw_logits_header h;
    qw_atomic_file af;
    int open;
    int64_t rows_written;
} qw_logits_writer;

qw_status qw_logits_writer_open(qw_logits_writer *w, const char *path, const qw_logits_header *h,
                                const int32_t *tokens);
// Appends n records (already encoded, row_bytes each).
qw_status qw_logits_writer_append(qw_logits_writer *w, const void *records, int64_t n);
// Renames the file into place; refuses if fewer rows than the header promised were written.
qw_status qw_logits_writer_commit(qw_logits_writer *w);
void qw_logits_writer_abort(qw_logits_writer *w);

typedef struct {
    qw_logits_header h;
    qw_mmap map;
    const int32_t *tokens; // (n_tokens) into the mapping, which is page-aligned: offset 48 is aligned
    const uint8_t *records;
    char *path;
} qw_logits_reader;

// True when the file at path starts with the magic (so --ref can tell a file from a model folder).
int qw_logits_file_is(const char *path);
qw_status qw_logits_reader_open(qw_logits_reader *r, const char *path);
void qw_logits_reader_close(qw_logits_reader *r);
const void *qw_logits_reader_row(const qw_logits_reader *r, int64_t row);

// ---------------------------------------------------------------------------------------------------
// perplexity and divergence from a reference over a text (ppl.c)

// A window holds tokens [begin, end) and scores [score_from, end): the tokens no earlier window scored.
typedef struct {
    int64_t begin, end, score_from;
} qw_eval_window;

// Windows of ctx tokens advancing by stride, as Hugging Face's perplexity guide lays them out (the
// first scores all but its first token; the last ends at the text's end). With stride < ctx every token
// but the text's first is scored exactly once; with stride == ctx (no overlap) each window's first token
// has no context and is not scored. limit > 0 keeps that many. *out is malloc'd.
qw_status qw_eval_plan_windows(int64_t n_tokens, int ctx, int stride, int limit, qw_eval_window **out,
                               int *n_windows);

typedef struct {
    int ctx, stride, limit;
    qw_eval_run_params run;
    const qw_model *ref_model;         // live reference, or
    const qw_logits_reader *ref_file;  // saved reference (windows must match: see qw_eval_perplexity)
    const char *save_path;             // write this model's log-probs here (NULL: no)
    int save_encoding;
} qw_ppl_params;

typedef struct {
    int64_t n_tokens, n_scored;
    int n_windows;
    double nll_mean, nll_stderr, ppl, ppl_stderr;
    int has_ref;
    double kld_mean, kld_stderr, kld_median, kld_p99, kld_p999, kld_max;
    int64_t top1, top5;
    double top1_agree, top5_agree;
    qw_interval top1_ci;
    double delta_p_mean; // mean |p(candidate) - p(reference)| of the reference's top token
    double ref_nll_mean, ref_ppl, ppl_ratio;
} qw_ppl_result;

// Scores the text's tokens window by window. With a saved reference the file must hold the same
// tokens, vocabulary, ctx and stride (refused with a message saying which differs); its window count
// caps the run.
qw_status qw_eval_perplexity(const qw_model *m, const int32_t *tokens, int64_t n_tokens, const qw_ppl_params *p,
                             qw_progress *prog, qw_ppl_result *out);
// The same figures from two saved files: cand's log-probs (another engine's, e.g. bench/llamacpp_peer
// logits) against ref's. Both must hold the same tokens, vocabulary, ctx and stride; the smaller window
// count (or limit > 0) caps the run. The candidate's PPL uses its exact saved next-token log-probs.
qw_status qw_eval_perplexity_files(const qw_logits_reader *cand, const qw_logits_reader *ref, int limit, int n_threads,
                                   qw_ppl_result *out);

// ---------------------------------------------------------------------------------------------------
// tasks from JSONL (task_parse.c). One item per line; blank lines are skipped. A file holds one kind:
//   generative:       {"prompt": str, "answer": str}  or  {"messages": [{"role", "content"}...]}
//                     (the last message, the assistant's, is the answer; or give "answer" beside them)
//   multiple choice:  {"prompt" | "messages", "choices": [str, ...], "label": int}
// Other keys are ignored. Errors name FILE:LINE and the problem.

typedef enum { QW_TASK_GENERATIVE = 0, QW_TASK_MULTIPLE_CHOICE = 1 } qw_task_kind;

typedef struct {
    int line;
    char *prompt;                // NULL when the item gives messages
    qw_chat_message *messages;   // the turns the model sees (strings owned by the task)
    int n_messages;
    char *answer;                // generative
    char **choices;              // multiple choice
    int n_choices, label;
} qw_task_item;

typedef struct {
    char *path;
    qw_task_kind kind;
    int n_items;
    qw_task_item *items;
} qw_task;

// Parses JSONL text (len bytes); path names the file in errors. limit > 0 stops after that many items.
// On failure *t is left empty (free is safe).
qw_status qw_task_parse(qw_task *t, const char *text, size_t len, const char *path, int limit);
qw_status qw_task_load(qw_task *t, const char *path, int limit);
void qw_task_free(qw_task *t);

// ---------------------------------------------------------------------------------------------------
// answer matching (match.c)

typedef enum { QW_MATCH_EXACT = 0, QW_MATCH_CONTAINS, QW_MATCH_REGEX } qw_match_kind;

typedef struct {
    qw_match_kind kind;
    void *re; // pcre2_code *
    char *spec;
} qw_matcher;

// spec: "exact" | "contains" | "regex:PATTERN" (PCRE2, UTF-8 with Unicode classes).
qw_status qw_matcher_init(qw_matcher *mt, const char *spec);
void qw_matcher_free(qw_matcher *mt);
// exact: normalised output == normalised answer; contains: the normalised answer occurs in the
// normalised output; regex: the first match's first capture group (or the whole match), normalised,
// equals the normalised answer.
int qw_matcher_test(const qw_matcher *mt, const char *output, const char *answer);
// Trims, case-folds (Unicode), collapses runs of whitespace to one space and strips quotes, brackets
// and sentence punctuation (ASCII and CJK) from both ends; a minus sign or % stays. malloc'd (NULL
// only when out of memory).
char *qw_eval_normalize(const char *s);

// ---------------------------------------------------------------------------------------------------
// running a task (task_prompt.c, task_gen.c, task_mc.c)

typedef struct {
    int raw;              // prompts as plain text instead of the ChatML template
    const char *system;   // system turn for ChatML (NULL: the template's default)
    int max_new;          // generative: tokens to generate at most
    int n_parallel;       // generative: sequences decoded together
    int ctx_limit;        // longest prompt (+ answer) accepted, in tokens
    int verbose;          // print each item's result on stderr
    qw_eval_run_params run;
} qw_task_params;

typedef struct {
    qw_task_kind kind;
    int n;
    uint8_t *correct;      // (n)
    uint8_t *correct_norm; // (n) multiple choice: by length-normalised log-likelihood
    char **outputs;        // (n) generative: the decoded reply
    double *choice_ll;     // multiple choice: summed log-probs, choice_off[i] + j for item i, choice j
    int *choice_off;       // (n + 1)
    int *choice_ntok;      // tokens scored per choice (same indexing as choice_ll)
    int64_t n_correct, n_correct_norm;
    double acc, acc_norm;
    qw_interval acc_ci, acc_norm_ci;
} qw_task_result;

// The tokens an item's prompt renders to: ChatML (system turn, the user prompt or the given messages,
// then the assistant's opening) unless raw. Special tokens written in the text are parsed, as HF does.
qw_status qw_task_prompt_text(const qw_task_item *it, const qw_task_params *p, char **text);
qw_status qw_task_encode(const qw_model *m, const char *text, int32_t **ids, size_t *n);

qw_status qw_eval_generative(const qw_model *m, const qw_task *t, const qw_matcher *mt, const qw_task_params *p,
                             qw_progress *prog, qw_task_result *out);
qw_status qw_eval_multiple_choice(const qw_model *m, const qw_task *t, const qw_task_params *p, qw_progress *prog,
                                  qw_task_result *out);
void qw_task_result_free(qw_task_result *r);

typedef struct {
    double ref_acc, diff;
    qw_interval diff_ci;
    double p_value;
    int64_t n_discordant, only_model, only_ref;
} qw_paired;

// Model against reference on the same items (correct[i] of each).
qw_paired qw_eval_paired(const uint8_t *model_correct, const uint8_t *ref_correct, int n);

#endif
