// base/pool: the thread pool behind qw_parallel. Workers spin for a short while after each job before
// sleeping, because a forward pass issues hundreds of jobs per token microseconds apart: waking a sleeping
// thread each time (OpenMP's default on this VM) cost milliseconds per job.
#include "base.h"

#include <pthread.h>
#include <stdatomic.h>
#include <immintrin.h>
#include <unistd.h>

#define QW_POOL_MAX 256
#define QW_SPIN_SECONDS 0.002 // how long an idle worker keeps polling before it sleeps

static struct {
    pthread_once_t once;
    pthread_mutex_t busy;  // one qw_parallel at a time; a second caller runs its job alone
    pthread_mutex_t mu;    // with cv: where idle workers sleep
    pthread_cond_t cv;
    int n_workers;         // threads besides the caller
    _Atomic uint64_t gen;  // bumped once per job
    _Atomic int pending;   // workers that have not finished the current job
    _Atomic int sleepers;
    qw_task_fn fn;
    void *ctx;
    int nth;
} g_pool = {.once = PTHREAD_ONCE_INIT, .busy = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER,
            .cv = PTHREAD_COND_INITIALIZER};

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg; // 1..n_workers; the caller is 0
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = atomic_load_explicit(&g_pool.gen, memory_order_acquire);
        if (g == seen) {
            double t0 = qw_time_sec();
            for (int k = 0; (g = atomic_load_explicit(&g_pool.gen, memory_order_acquire)) == seen; k++) {
                _mm_pause();
                if ((k & 1023) == 1023 && qw_time_sec() - t0 > QW_SPIN_SECONDS) {
                    pthread_mutex_lock(&g_pool.mu);
                    atomic_fetch_add(&g_pool.sleepers, 1);
                    while ((g = atomic_load(&g_pool.gen)) == seen) pthread_cond_wait(&g_pool.cv, &g_pool.mu);
                    atomic_fetch_sub(&g_pool.sleepers, 1);
                    pthread_mutex_unlock(&g_pool.mu);
                    break;
                }
            }
        }
        seen = g;
        if (id < g_pool.nth) g_pool.fn(g_pool.ctx, id, g_pool.nth);
        atomic_fetch_sub_explicit(&g_pool.pending, 1, memory_order_release);
    }
    return NULL;
}

static void pool_start(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = (qw_threads_default() > cpus ? qw_threads_default() : (int)cpus) - 1;
    if (n > QW_POOL_MAX - 1) n = QW_POOL_MAX - 1;
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, (void *)(intptr_t)(i + 1)) != 0) break;
        pthread_detach(t);
        g_pool.n_workers++;
    }
}

void qw_parallel(qw_task_fn fn, void *ctx, int nth) {
    if (nth > 1) pthread_once(&g_pool.once, pool_start);
    if (nth > g_pool.n_workers + 1) nth = g_pool.n_workers + 1;
    if (nth <= 1 || pthread_mutex_trylock(&g_pool.busy) != 0) {
        fn(ctx, 0, 1);
        return;
    }
    g_pool.fn = fn;
    g_pool.ctx = ctx;
    g_pool.nth = nth;
    atomic_store_explicit(&g_pool.pending, g_pool.n_workers, memory_order_relaxed);
    atomic_fetch_add(&g_pool.gen, 1); // seq_cst: pairs with a worker's sleepers++ then gen load
    if (atomic_load(&g_pool.sleepers) > 0) { // taking the mutex orders this against a worker going to sleep
        pthread_mutex_lock(&g_pool.mu);
        pthread_cond_broadcast(&g_pool.cv);
        pthread_mutex_unlock(&g_pool.mu);
    }
    fn(ctx, 0, nth);
    while (atomic_load_explicit(&g_pool.pending, memory_order_acquire) > 0) _mm_pause();
    pthread_mutex_unlock(&g_pool.busy);
}
