// eval/task_prompt: what the model sees for a task item: the ChatML conversation Qwen2.5-Instruct was
// tuned on (or the plain prompt with --raw), as token ids.
#include "eval.h"

#include <stdlib.h>

qw_status qw_task_prompt_text(const qw_task_item *it, const qw_task_params *p, char **text) {
    *text = NULL;
    if (p->raw) {
        if (!it->prompt) return qw_error(QW_ERR_FORMAT, "'messages' items need the chat template (drop --raw)");
        *text = qw_strdup(it->prompt);
        return *text ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
    }
    int n = it->prompt ? 1 : it->n_messages;
    qw_chat_message *msgs = malloc(sizeof *msgs * (size_t)(n + 1));
    if (!msgs) return qw_error(QW_ERR_NOMEM, "out of memory");
    int k = 0;
    int own_system = !it->prompt && strcmp(it->messages[0].role, "system") == 0;
    if (p->system && !own_system) msgs[k++] = (qw_chat_message){"system", p->system};
    if (it->prompt) msgs[k++] = (qw_chat_message){"user", it->prompt};
    else
        for (int i = 0; i < it->n_messages; i++) msgs[k++] = it->messages[i];
    qw_status s = qw_chat_render(msgs, k, 1, text);
    free(msgs);
    return s;
}

qw_status qw_task_encode(const qw_model *m, const char *text, int32_t **ids, size_t *n) {
    if (!m->tok) return qw_error(QW_ERR_ARG, "%s: no tokenizer.json, so task text cannot be tokenized", m->path);
    return qw_tok_encode(m->tok, text, strlen(text), 1, ids, n);
}
