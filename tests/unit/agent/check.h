/* check.h — assertion macros of the agent's unit tests: a failed check prints where and why and
 * makes the test exit non-zero. SKIP_CODE is CTest's SKIP_RETURN_CODE for these tests. */
#ifndef LEPTON_TESTS_AGENT_CHECK_H
#define LEPTON_TESTS_AGENT_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SKIP_CODE 77

static int check_failures;

#define CHECK(cond)                                                                                       \
    do {                                                                                                  \
        if (!(cond)) {                                                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                      \
            check_failures++;                                                                             \
        }                                                                                                 \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                                \
    do {                                                                                                  \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                             \
        if (va_ != vb_) {                                                                                 \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, va_, #b, vb_); \
            check_failures++;                                                                             \
        }                                                                                                 \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                       \
    do {                                                                                                  \
        const char *h_ = (hay), *n_ = (needle);                                                           \
        if (!h_ || !strstr(h_, n_)) {                                                                     \
            fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__, h_ ? h_ : "(null)", n_); \
            check_failures++;                                                                             \
        }                                                                                                 \
    } while (0)

#define CHECK_DONE()                                                                                      \
    do {                                                                                                  \
        if (check_failures) {                                                                             \
            fprintf(stderr, "%d check(s) failed\n", check_failures);                                      \
            return 1;                                                                                     \
        }                                                                                                 \
        printf("all checks passed\n");                                                                    \
        return 0;                                                                                         \
    } while (0)

#endif
