// eval/task_parse: the user's task file (JSONL, as fine-tuning data already is) into items, refusing
// anything malformed with the file, the line and the problem, never with a crash.
#include "eval.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

#define MAX_FIELD_BYTES ((size_t)1 << 26) // one prompt or answer; larger is surely not a task item

static qw_status bad(const char *path, int line, const char *what) {
    return qw_error(QW_ERR_FORMAT, "%s:%d: %s", path, line, what);
}

static void item_free(qw_task_item *it) {
    free(it->prompt);
    free(it->answer);
    for (int i = 0; i < it->n_messages; i++) {
        free((char *)it->messages[i].role);
        free((char *)it->messages[i].content);
    }
    free(it->messages);
    for (int i = 0; i < it->n_choices; i++) free(it->choices[i]);
    free(it->choices);
    memset(it, 0, sizeof *it);
}

void qw_task_free(qw_task *t) {
    for (int i = 0; i < t->n_items; i++) item_free(&t->items[i]);
    free(t->items);
    free(t->path);
    memset(t, 0, sizeof *t);
}

// A string field's value (copied), or an error naming the key. Returns QW_OK with *out NULL if absent.
static qw_status get_string(const cJSON *o, const char *key, const char *path, int line, char **out) {
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return QW_OK;
    if (!cJSON_IsString(v) || !v->valuestring)
        return qw_error(QW_ERR_FORMAT, "%s:%d: '%s' must be a string", path, line, key);
    if (strlen(v->valuestring) > MAX_FIELD_BYTES)
        return qw_error(QW_ERR_FORMAT, "%s:%d: '%s' is longer than %zu bytes", path, line, key, MAX_FIELD_BYTES);
    *out = qw_strdup(v->valuestring);
    return *out ? QW_OK : qw_error(QW_ERR_NOMEM, "out of memory");
}

static qw_status parse_messages(const cJSON *arr, const char *path, int line, qw_task_item *it) {
    if (!cJSON_IsArray(arr)) return bad(path, line, "'messages' must be an array of {\"role\", \"content\"} objects");
    int n = cJSON_GetArraySize(arr);
    if (n == 0) return bad(path, line, "'messages' is empty");
    it->messages = calloc((size_t)n, sizeof *it->messages);
    if (!it->messages) return qw_error(QW_ERR_NOMEM, "out of memory");
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, arr) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role) || !cJSON_IsString(content))
            return qw_error(QW_ERR_FORMAT, "%s:%d: message %d needs string 'role' and 'content'", path, line, i);
        it->messages[i].role = qw_strdup(role->valuestring);
        it->messages[i].content = qw_strdup(content->valuestring);
        it->n_messages = ++i;
        if (!it->messages[i - 1].role || !it->messages[i - 1].content) return qw_error(QW_ERR_NOMEM, "out of memory");
    }
    return QW_OK;
}

static qw_status parse_choices(const cJSON *o, const char *path, int line, qw_task_item *it) {
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "choices");
    if (!cJSON_IsArray(ch)) return bad(path, line, "'choices' must be an array of strings");
    int n = cJSON_GetArraySize(ch);
    if (n == 0) return bad(path, line, "'choices' is empty");
    it->choices = calloc((size_t)n, sizeof(char *));
    if (!it->choices) return qw_error(QW_ERR_NOMEM, "out of memory");
    const cJSON *c;
    cJSON_ArrayForEach(c, ch) {
        if (!cJSON_IsString(c))
            return qw_error(QW_ERR_FORMAT, "%s:%d: choice %d is not a string", path, line, it->n_choices);
        if (!c->valuestring[0]) return qw_error(QW_ERR_FORMAT, "%s:%d: choice %d is empty", path, line, it->n_choices);
        if (!(it->choices[it->n_choices++] = qw_strdup(c->valuestring))) return qw_error(QW_ERR_NOMEM, "out of memory");
    }
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(o, "label");
    if (!lab) return bad(path, line, "missing 'label' (the index of the right choice)");
    if (!cJSON_IsNumber(lab) || !(fabs(lab->valuedouble) < 1e15) || lab->valuedouble != floor(lab->valuedouble))
        return bad(path, line, "'label' must be an integer (the index of the right choice)");
    if (lab->valuedouble < 0 || lab->valuedouble >= n)
        return qw_error(QW_ERR_FORMAT, "%s:%d: label %.0f is out of range: %d choices (0..%d)", path, line,
                        lab->valuedouble, n, n - 1);
    it->label = (int)lab->valuedouble;
    return QW_OK;
}

static qw_status parse_item(const cJSON *o, const char *path, int line, qw_task_kind kind, qw_task_item *it) {
    it->line = line;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(o, "messages");
    QW_TRY(get_string(o, "prompt", path, line, &it->prompt));
    if (it->prompt && msgs) return bad(path, line, "give either 'prompt' or 'messages', not both");
    if (!it->prompt && !msgs) return bad(path, line, "missing 'prompt' (or 'messages')");
    if (msgs) QW_TRY(parse_messages(msgs, path, line, it));
    if (kind == QW_TASK_MULTIPLE_CHOICE) return parse_choices(o, path, line, it);
    QW_TRY(get_string(o, "answer", path, line, &it->answer));
    if (it->answer) return QW_OK;
    if (!msgs) return bad(path, line, "missing 'answer'");
    // messages form: the last turn, the assistant's, is the answer; the turns before it the prompt
    qw_chat_message *last = &it->messages[it->n_messages - 1];
    if (strcmp(last->role, "assistant") != 0 || it->n_messages < 2)
        return bad(path, line, "no 'answer', and the last message is not an assistant reply after a prompt");
    it->answer = (char *)last->content;
    free((char *)last->role);
    it->n_messages--;
    return QW_OK;
}

qw_status qw_task_parse(qw_task *t, const char *text, size_t len, const char *path, int limit) {
    memset(t, 0, sizeof *t);
    t->path = qw_strdup(path);
    if (!t->path) return qw_error(QW_ERR_NOMEM, "out of memory");
    int cap = 0, line = 0, have_kind = 0;
    qw_status s = QW_OK;
    size_t i = 0;
    while (i < len && s == QW_OK && (limit <= 0 || t->n_items < limit)) {
        size_t b = i;
        while (i < len && text[i] != '\n') i++;
        size_t e = i++;
        line++;
        if (e > b && text[e - 1] == '\r') e--;
        size_t k = b;
        while (k < e && (text[k] == ' ' || text[k] == '\t')) k++;
        if (k == e) continue; // blank line
        if (memchr(text + b, 0, e - b)) {
            s = bad(path, line, "contains a NUL byte");
            break;
        }
        const char *end = NULL;
        cJSON *o = cJSON_ParseWithLengthOpts(text + b, e - b, &end, 0);
        if (!o) {
            s = qw_error(QW_ERR_FORMAT, "%s:%d: malformed JSON near column %d", path, line,
                         (int)((end ? end : text + b) - (text + b)) + 1);
            break;
        }
        while (end && end < text + e && (*end == ' ' || *end == '\t')) end++;
        if (end && end < text + e) s = qw_error(QW_ERR_FORMAT, "%s:%d: text after the JSON object at column %d "
                                                "(one item per line)", path, line, (int)(end - (text + b)) + 1);
        else if (!cJSON_IsObject(o)) s = bad(path, line, "expected a JSON object");
        if (s == QW_OK) {
            qw_task_kind kind = cJSON_HasObjectItem(o, "choices") ? QW_TASK_MULTIPLE_CHOICE : QW_TASK_GENERATIVE;
            if (!have_kind) t->kind = kind, have_kind = 1;
            else if (kind != t->kind)
                s = bad(path, line, kind == QW_TASK_MULTIPLE_CHOICE
                                        ? "has 'choices' but earlier items are generative (one kind per file)"
                                        : "has no 'choices' but earlier items are multiple choice (one kind per file)");
        }
        if (s == QW_OK && t->n_items == cap) {
            int nc = cap ? 2 * cap : 64;
            qw_task_item *g = realloc(t->items, sizeof *g * (size_t)nc);
            if (!g) s = qw_error(QW_ERR_NOMEM, "out of memory");
            else t->items = g, cap = nc;
        }
        if (s == QW_OK) {
            qw_task_item *it = &t->items[t->n_items];
            memset(it, 0, sizeof *it);
            s = parse_item(o, path, line, t->kind, it);
            if (s == QW_OK) t->n_items++;
            else item_free(it);
        }
        cJSON_Delete(o);
    }
    if (s == QW_OK && t->n_items == 0)
        s = qw_error(QW_ERR_FORMAT, "%s: no items (%s)", path, len == 0 ? "the file is empty" : "only blank lines");
    if (s != QW_OK) qw_task_free(t);
    return s;
}

qw_status qw_task_load(qw_task *t, const char *path, int limit) {
    memset(t, 0, sizeof *t);
    char *text;
    size_t len;
    QW_TRY(qw_file_read_all(path, (size_t)1 << 31, &text, &len));
    qw_status s = qw_task_parse(t, text, len, path, limit);
    free(text);
    return s;
}
