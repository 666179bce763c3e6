// base/cleanup: what an interrupted qwick leaves behind. Outputs are written to a temporary name and
// renamed when complete (qw_atomic_file), so Ctrl-C never leaves a truncated output; this removes the
// temporary files and folders themselves on SIGINT, SIGTERM and SIGHUP, then dies of the same signal.
// The handler only calls unlink, rmdir, signal and raise (async-signal-safe) on fixed storage.
#include "base.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#define CLEANUP_SLOTS 8

static char g_path[CLEANUP_SLOTS][PATH_MAX];
static volatile sig_atomic_t g_kind[CLEANUP_SLOTS]; // 0 free, 1 file, 2 folder (removed after the files)
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_signal(int sig) {
    for (int k = 1; k <= 2; k++)
        for (int i = 0; i < CLEANUP_SLOTS; i++)
            if (g_kind[i] == k) k == 1 ? unlink(g_path[i]) : rmdir(g_path[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

void qw_cleanup_install(void) {
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

int qw_cleanup_add(const char *path, int is_dir) {
    if (strlen(path) >= PATH_MAX) return -1;
    pthread_mutex_lock(&g_lock);
    int slot = -1;
    for (int i = 0; i < CLEANUP_SLOTS && slot < 0; i++)
        if (!g_kind[i]) slot = i;
    if (slot >= 0) {
        memcpy(g_path[slot], path, strlen(path) + 1);
        g_kind[slot] = is_dir ? 2 : 1; // set last: the handler reads a complete path
    }
    pthread_mutex_unlock(&g_lock);
    return slot;
}

void qw_cleanup_remove(int slot) {
    if (slot < 0 || slot >= CLEANUP_SLOTS) return;
    pthread_mutex_lock(&g_lock);
    g_kind[slot] = 0;
    pthread_mutex_unlock(&g_lock);
}
