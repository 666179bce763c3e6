// tests/test.h: the tiny harness every test program uses. CHECK records a failure and goes on;
// the program's exit status is the number of failures (capped), which CTest reads.
#ifndef QW_TEST_H
#define QW_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int qw_test_failures = 0;
static int qw_test_checks = 0;

#define CHECK(cond)                                                                                  \
    do {                                                                                             \
        qw_test_checks++;                                                                            \
        if (!(cond)) {                                                                               \
            qw_test_failures++;                                                                      \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                          \
        }                                                                                            \
    } while (0)

#define CHECKF(cond, ...)                                                                            \
    do {                                                                                             \
        qw_test_checks++;                                                                            \
        if (!(cond)) {                                                                               \
            qw_test_failures++;                                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                          \
            fprintf(stderr, __VA_ARGS__);                                                            \
            fputc('\n', stderr);                                                                     \
        }                                                                                            \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                        \
    CHECKF(fabs((double)(a) - (double)(b)) <= (tol), "%g vs %g (tol %g)", (double)(a), (double)(b), \
           (double)(tol))

#define TEST_DONE()                                                                                  \
    do {                                                                                             \
        printf("%d checks, %d failures\n", qw_test_checks, qw_test_failures);                       \
        return qw_test_failures > 100 ? 100 : qw_test_failures;                                      \
    } while (0)

#endif
