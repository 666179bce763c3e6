// base: errors, logging, aligned memory, mmap, whole-file reads, atomic writes, fp16/bf16, time, rng,
// and the one place where threads are started (qw_parallel). Everything else in qwick stands on this.
#ifndef QW_BASE_H
#define QW_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------------
// errors: two tiers. QW_ASSERT for broken invariants (a bug in qwick); a returned qw_status plus a
// thread-local message naming the file and the problem for anything a user can cause.

typedef enum {
    QW_OK = 0,
    QW_ERR_IO,          // cannot open/read/write a file
    QW_ERR_FORMAT,      // the file is there but its content is wrong (truncated, bad JSON, bad header)
    QW_ERR_NOMEM,       // an allocation failed
    QW_ERR_UNSUPPORTED, // valid input that qwick does not handle (architecture, rope_scaling, dtype)
    QW_ERR_ARG,         // bad argument from the caller or the command line
} qw_status;

// Sets the thread's error message (printf-style) and returns s, so callers write
// `return qw_error(QW_ERR_FORMAT, "%s: header length %llu past end of file", path, n);`
qw_status qw_error(qw_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Prepends context to the current message: "ctx: <old message>". Returns s.
qw_status qw_error_wrap(qw_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *qw_error_message(void);
const char *qw_status_name(qw_status s);

#define QW_ASSERT(x)                                                                                 \
    do {                                                                                             \
        if (!(x)) {                                                                                  \
            fprintf(stderr, "qwick: internal error at %s:%d: %s\n", __FILE__, __LINE__, #x);        \
            abort();                                                                                 \
        }                                                                                            \
    } while (0)

// Propagate a non-OK status.
#define QW_TRY(expr)                                                                                 \
    do {                                                                                             \
        qw_status qw_try_s_ = (expr);                                                                \
        if (qw_try_s_ != QW_OK) return qw_try_s_;                                                    \
    } while (0)

// ---------------------------------------------------------------------------------------------------
// logging (to stderr); level from QWICK_LOG or qw_log_set_level

enum { QW_LOG_ERROR = 0, QW_LOG_WARN = 1, QW_LOG_INFO = 2, QW_LOG_DEBUG = 3 };
void qw_log_set_level(int level);
int qw_log_level(void);
void qw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define qw_warn(...) qw_log(QW_LOG_WARN, __VA_ARGS__)
#define qw_info(...) qw_log(QW_LOG_INFO, __VA_ARGS__)

// ---------------------------------------------------------------------------------------------------
// memory. Aligned blocks are 64-byte aligned (one cache line, one zmm); free with qw_free_aligned.

void *qw_malloc_aligned(size_t n);
void *qw_calloc_aligned(size_t n);
void qw_free_aligned(void *p);
// Overflow-checked size arithmetic: returns 0 and leaves *out untouched on overflow.
int qw_mul_size(size_t a, size_t b, size_t *out);
int qw_add_size(size_t a, size_t b, size_t *out);
char *qw_strdup(const char *s);

// ---------------------------------------------------------------------------------------------------
// files

// A read-only mapping of a whole file. size 0 files map to data == NULL.
typedef struct {
    void *data;
    size_t size;
} qw_mmap;
qw_status qw_mmap_open(qw_mmap *m, const char *path);
void qw_mmap_close(qw_mmap *m);
// Replaces a mapping of path by a private copy of the file in anonymous memory at the same address
// (pointers into it stay valid), backed by 2 MB pages where the kernel grants them. Streaming weights
// from 4 KB file pages costs a TLB miss every 4 KB: on the machines measured the copy reads 30-50%
// faster. The page cache's copy is no longer mapped, so resident memory stays one copy. On a read
// error the file is mapped back and the error returned. nth threads copy.
qw_status qw_mmap_make_resident(qw_mmap *m, const char *path, int nth);
// Anonymous memory of n bytes (rounded up to a page), asking for 2 MB pages; NULL when out of memory.
// For large buffers that are streamed (the bandwidth probe). Free with qw_free_huge(p, n).
void *qw_alloc_huge(size_t n);
void qw_free_huge(void *p, size_t n);

// Reads a whole file into a NUL-terminated heap buffer (caller frees with free()). max_size bounds
// what is accepted, so a hostile path (a device, a huge file) is refused rather than swallowed.
qw_status qw_file_read_all(const char *path, size_t max_size, char **out, size_t *len);
int qw_file_exists(const char *path);
// Copies a file of at most 256 MB (tokenizer and config files) atomically onto to.
qw_status qw_file_copy(const char *from, const char *to);
int qw_dir_exists(const char *path);
// Joins dir and name with one '/', into buf of size n. Returns buf (truncation is an assert).
char *qw_path_join(char *buf, size_t n, const char *dir, const char *name);

// Atomic write: output goes to "<path>.tmp.<pid>" and is renamed onto path only by commit, so a
// killed run never leaves a half-written file under the final name.
typedef struct {
    FILE *f;
    char *path;
    char *tmp;
    int cleanup; // qw_cleanup_add slot of tmp
} qw_atomic_file;
qw_status qw_atomic_open(qw_atomic_file *af, const char *path);
qw_status qw_atomic_write(qw_atomic_file *af, const void *data, size_t n);
qw_status qw_atomic_commit(qw_atomic_file *af); // fsync, close, rename; frees af
void qw_atomic_abort(qw_atomic_file *af);       // close, unlink tmp; frees af
// Temporary outputs removed if the process is interrupted: qw_cleanup_install (once, in main) sets
// handlers for SIGINT, SIGTERM and SIGHUP that remove every registered path (files, then folders) and
// die of the signal. qw_cleanup_add returns a slot (-1 if none is free: then nothing is removed) for
// qw_cleanup_remove once the path is renamed or removed. Atomic files register their tmp themselves.
void qw_cleanup_install(void);
int qw_cleanup_add(const char *path, int is_dir);
void qw_cleanup_remove(int slot);
// Convenience: write a whole buffer atomically.
qw_status qw_write_file_atomic(const char *path, const void *data, size_t n);

// ---------------------------------------------------------------------------------------------------
// 16-bit floats. bf16: round to nearest even, NaN kept quiet. f16: IEEE half with subnormals.

static inline float qw_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint16_t qw_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
float qw_f16_to_f32(uint16_t h);
uint16_t qw_f32_to_f16(float f);

// ---------------------------------------------------------------------------------------------------
// time, random numbers

double qw_time_sec(void); // monotonic seconds
// Peak resident set size of this process in bytes (VmHWM), 0 if unknown.
size_t qw_peak_rss(void);
size_t qw_current_rss(void);

// xoshiro-style generator seeded by splitmix64; identical streams on every platform.
typedef struct {
    uint64_t s[4];
} qw_rng;
void qw_rng_seed(qw_rng *r, uint64_t seed);
uint64_t qw_rng_u64(qw_rng *r);
float qw_rng_uniform(qw_rng *r); // [0, 1)
float qw_rng_normal(qw_rng *r);  // N(0, 1)

// ---------------------------------------------------------------------------------------------------
// threads. Kernels never create threads: they take (ith, nth) and split their rows. qw_parallel runs
// fn on nth threads (the caller is thread 0) and returns when all are done.

typedef void (*qw_task_fn)(void *ctx, int ith, int nth);
void qw_parallel(qw_task_fn fn, void *ctx, int nth);
int qw_threads_default(void); // QWICK_THREADS, else the number of online CPUs
// The rows [*r0, *r1) of n rows that thread ith of nth owns, in chunks that are multiples of align.
void qw_split_rows(int64_t n, int64_t align, int ith, int nth, int64_t *r0, int64_t *r1);

// ---------------------------------------------------------------------------------------------------
// progress: one line on stderr, redrawn in place ("label  [#####.....]  42%  120/300 items  3.1 s, ETA 4.2 s"),
// only when stderr is a terminal (and QWICK_PROGRESS is not 0), so piped runs and logs stay clean.
// Redraws at most ten times a second, so callers may update after every step.

typedef struct {
    char label[32], unit[16];
    int64_t total, done;
    double t_start, t_drawn;
    int enabled, drawn;
} qw_progress;

void qw_progress_init(qw_progress *p, const char *label, const char *unit, int64_t total);
// Forces the bar on or off (tests, --quiet); init decides from the terminal.
void qw_progress_enable(qw_progress *p, int on);
void qw_progress_update(qw_progress *p, int64_t done);
void qw_progress_add(qw_progress *p, int64_t n);
// Erases the line, so what is printed next starts clean.
void qw_progress_end(qw_progress *p);

#endif
