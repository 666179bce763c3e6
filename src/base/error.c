// base/error: the thread-local error message behind every qw_status, and stderr logging.
#include "base.h"

#include <stdlib.h>

static _Thread_local char g_msg[1024];
static int g_log_level = -1;

qw_status qw_error(qw_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return s;
}

qw_status qw_error_wrap(qw_status s, const char *fmt, ...) {
    char prefix[512], old[sizeof g_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    size_t pl = strlen(prefix);
    if (pl > sizeof g_msg - 3) pl = sizeof g_msg - 3;
    memcpy(g_msg, prefix, pl);
    memcpy(g_msg + pl, ": ", 2);
    size_t room = sizeof g_msg - pl - 3, ol = strlen(old);
    if (ol > room) ol = room;
    memcpy(g_msg + pl + 2, old, ol);
    g_msg[pl + 2 + ol] = 0;
    return s;
}

const char *qw_error_message(void) { return g_msg[0] ? g_msg : "no error"; }

const char *qw_status_name(qw_status s) {
    switch (s) {
    case QW_OK: return "ok";
    case QW_ERR_IO: return "i/o error";
    case QW_ERR_FORMAT: return "bad format";
    case QW_ERR_NOMEM: return "out of memory";
    case QW_ERR_UNSUPPORTED: return "unsupported";
    case QW_ERR_ARG: return "bad argument";
    }
    return "unknown";
}

void qw_log_set_level(int level) { g_log_level = level; }

int qw_log_level(void) {
    if (g_log_level < 0) {
        const char *e = getenv("QWICK_LOG");
        g_log_level = e ? atoi(e) : QW_LOG_WARN;
    }
    return g_log_level;
}

void qw_log(int level, const char *fmt, ...) {
    if (level > qw_log_level()) return;
    static const char *tag[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "qwick: %s: ", tag[level < 0 ? 0 : level > 3 ? 3 : level]);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
