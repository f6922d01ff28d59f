/* check.h — the broker unit tests' tiny assertion macros: a failed check prints where and why and
 * makes the test exit non-zero (each test is one executable run by CTest). */
#ifndef LEPTON_TESTS_BROKER_CHECK_H
#define LEPTON_TESTS_BROKER_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                         \
            check_failures++;                                                                                \
        }                                                                                                    \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                                   \
    do {                                                                                                     \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                                \
        if (va_ != vb_) {                                                                                    \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, va_, #b,     \
                    vb_);                                                                                    \
            check_failures++;                                                                                \
        }                                                                                                    \
    } while (0)

#define CHECK_NEAR(a, b)                                                                                     \
    do {                                                                                                     \
        double va_ = (a), vb_ = (b);                                                                         \
        if (fabs(va_ - vb_) > 1e-9 * (1 + fabs(vb_))) {                                                      \
            fprintf(stderr, "%s:%d: %s == %.12g, expected %.12g\n", __FILE__, __LINE__, #a, va_, vb_);       \
            check_failures++;                                                                                \
        }                                                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                                                      \
    do {                                                                                                     \
        const char *va_ = (a), *vb_ = (b);                                                                   \
        if (!va_ || !vb_ || strcmp(va_, vb_)) {                                                              \
            fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,                \
                    va_ ? va_ : "(null)", vb_ ? vb_ : "(null)");                                             \
            check_failures++;                                                                                \
        }                                                                                                    \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                          \
    do {                                                                                                     \
        const char *h_ = (hay);                                                                              \
        if (!h_ || !strstr(h_, (needle))) {                                                                  \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,                   \
                    h_ ? h_ : "(null)", (needle));                                                           \
            check_failures++;                                                                                \
        }                                                                                                    \
    } while (0)

#define RUN(test)                                                                                            \
    do {                                                                                                     \
        int before_ = check_failures;                                                                        \
        test();                                                                                              \
        fprintf(stderr, "%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #test);                      \
    } while (0)

#define CHECK_DONE() (check_failures ? (fprintf(stderr, "%d check(s) failed\n", check_failures), 1) : 0)

#endif
