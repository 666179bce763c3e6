// tok/chat: the ChatML prompt that Qwen2.5-Instruct's Jinja chat template renders for a conversation
// without tools, written out in C so that qwick needs no template engine. Checked against transformers.js.
#include "tok.h"

#define QW_CHAT_DEFAULT_SYSTEM "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

typedef struct {
    char *s;
    size_t n, cap;
    int nomem;
} qw_chat_buf;

static void put(qw_chat_buf *b, const char *s) {
    size_t l = strlen(s);
    if (b->nomem) return;
    if (b->n + l + 1 > b->cap) {
        size_t c = (b->n + l + 1) * 2;
        char *ns = realloc(b->s, c);
        if (!ns) {
            b->nomem = 1;
            return;
        }
        b->s = ns;
        b->cap = c;
    }
    memcpy(b->s + b->n, s, l + 1);
    b->n += l;
}

static int is(const char *role, const char *r) { return strcmp(role, r) == 0; }

qw_status qw_chat_render(const qw_chat_message *msgs, int n, int add_generation_prompt, char **out) {
    *out = NULL;
    if (n <= 0 || !msgs) return qw_error(QW_ERR_ARG, "chat: no messages");
    for (int i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content) return qw_error(QW_ERR_ARG, "chat: message %d has no role or content", i);
    qw_chat_buf b = {0};
    put(&b, "<|im_start|>system\n");
    put(&b, is(msgs[0].role, "system") ? msgs[0].content : QW_CHAT_DEFAULT_SYSTEM);
    put(&b, "<|im_end|>\n");
    for (int i = 0; i < n; i++) {
        const char *role = msgs[i].role;
        if (is(role, "user") || is(role, "assistant") || (is(role, "system") && i > 0)) {
            put(&b, "<|im_start|>");
            put(&b, role);
            put(&b, "\n");
            put(&b, msgs[i].content);
            put(&b, "<|im_end|>\n");
        } else if (is(role, "tool")) {
            // consecutive tool results share one user turn
            if (i == 0 || !is(msgs[i - 1].role, "tool")) put(&b, "<|im_start|>user");
            put(&b, "\n<tool_response>\n");
            put(&b, msgs[i].content);
            put(&b, "\n</tool_response>");
            if (i == n - 1 || !is(msgs[i + 1].role, "tool")) put(&b, "<|im_end|>\n");
        }
        // any other role: the template writes nothing for it
    }
    if (add_generation_prompt) put(&b, "<|im_start|>assistant\n");
    if (b.nomem) {
        free(b.s);
        return qw_error(QW_ERR_NOMEM, "chat: out of memory");
    }
    *out = b.s;
    return QW_OK;
}
