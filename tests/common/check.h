/* check.h — the one assertion vocabulary of Lepton's C tests (tests/unit, tests/e2e, tests/remote):
 * a failed check prints file:line and what failed, counts the failure and lets the test go on; the
 * test's main ends with check_done (or check_main for a program of named cases), which turns the
 * count into the exit status. The count is atomic: checks may fail on several threads.
 *
 * Variants that need a library's declarations name it: CHECK_RC and CHECK_LAST_ERROR read
 * liblepton's status names and last error (include lepton/lepton.h), CHECK_CU and CHECK_CU_RC the
 * CUDA driver API's error names (include cuda.h). Macros expand where they are used, so a test that
 * does not use them does not need those headers. */
#ifndef LEPTON_TESTS_COMMON_CHECK_H
#define LEPTON_TESTS_COMMON_CHECK_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CTest's SKIP_RETURN_CODE of the tests that cannot run here (no CPU driver, no PostgreSQL). */
#define CHECK_SKIP 77

/* How many checks failed so far (check.c). */
extern _Atomic int check_failures;

#define CHECK_FAIL_AT_(...)                                                                                  \
    do {                                                                                                     \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                                      \
        fprintf(stderr, __VA_ARGS__);                                                                        \
        fputc('\n', stderr);                                                                                 \
        check_failures++;                                                                                    \
    } while (0)

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) CHECK_FAIL_AT_("CHECK failed: %s", #cond);                                              \
    } while (0)

/* CHECK with a printf-style message saying what was being checked and what was found. */
#define CHECKF(cond, ...)                                                                                    \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);                         \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
            check_failures++;                                                                                \
        }                                                                                                    \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                                   \
    do {                                                                                                     \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                                \
        if (va_ != vb_) CHECK_FAIL_AT_("%s == %lld, expected %s == %lld", #a, va_, #b, vb_);                 \
    } while (0)

/* Equal to 1e-9 relative. */
#define CHECK_NEAR(a, b)                                                                                     \
    do {                                                                                                     \
        double va_ = (a), vb_ = (b);                                                                         \
        if (fabs(va_ - vb_) > 1e-9 * (1 + fabs(vb_)))                                                        \
            CHECK_FAIL_AT_("%s == %.12g, expected %.12g", #a, va_, vb_);                                     \
    } while (0)

/* Both strings exist and are equal. */
#define CHECK_STR(a, b)                                                                                      \
    do {                                                                                                     \
        const char *va_ = (a), *vb_ = (b);                                                                   \
        if (!va_ || !vb_ || strcmp(va_, vb_))                                                                \
            CHECK_FAIL_AT_("%s == \"%s\", expected \"%s\"", #a, va_ ? va_ : "(null)", vb_ ? vb_ : "(null)"); \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                          \
    do {                                                                                                     \
        const char *h_ = (hay), *n_ = (needle);                                                              \
        if (!h_ || !strstr(h_, n_))                                                                          \
            CHECK_FAIL_AT_("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);                        \
    } while (0)

/* A liblepton status, both named on a mismatch with lepton_last_error(). */
#define CHECK_RC(expr, want)                                                                                 \
    do {                                                                                                     \
        int rc_ = (expr);                                                                                    \
        if (rc_ != (want))                                                                                   \
            CHECK_FAIL_AT_("%s returned %s, expected %s (last error: %s)", #expr, lepton_status_name(rc_),   \
                           lepton_status_name(want), lepton_last_error());                                   \
    } while (0)

/* liblepton's last error on this thread contains needle. */
#define CHECK_LAST_ERROR(needle)                                                                             \
    do {                                                                                                     \
        if (!strstr(lepton_last_error(), (needle)))                                                          \
            CHECK_FAIL_AT_("last error \"%s\" lacks \"%s\"", lepton_last_error(), (needle));                 \
    } while (0)

/* A CUDA driver API call returns want (CHECK_CU: CUDA_SUCCESS), else its error is named. */
#define CHECK_CU_RC(call, want)                                                                              \
    do {                                                                                                     \
        CUresult r_ = (call);                                                                                \
        if (r_ != (want)) {                                                                                  \
            const char *n_ = "?", *w_ = "?";                                                                 \
            cuGetErrorName(r_, &n_);                                                                         \
            cuGetErrorName((want), &w_);                                                                     \
            CHECK_FAIL_AT_("%s -> %s (%d), expected %s (%d)", #call, n_, (int)r_, w_, (int)(want));          \
        }                                                                                                    \
    } while (0)
#define CHECK_CU(call) CHECK_CU_RC(call, CUDA_SUCCESS)

/* main's return: 1 after saying how many checks failed, else 0 after saying all passed; name is
 * the test's (or case's) name. */
int check_done(const char *name);

/* Runs a test function and says "ok" or "FAIL" with its name on stderr. */
#define CHECK_RUN(test)                                                                                      \
    do {                                                                                                     \
        int before_ = check_failures;                                                                        \
        test();                                                                                              \
        fprintf(stderr, "%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #test);                      \
    } while (0)

/* One case of a test program, named on its command line. */
typedef struct check_case {
    const char *name;
    void (*fn)(void);
} check_case;

/* The main of a test program of cases: `PROGRAM CASE` runs that case, `PROGRAM` all of them, each
 * between setup() (0 = go on; else the case fails) and teardown() (also at exit, for a case that
 * exits from inside); `PROGRAM --list` lists them. setup and teardown may be NULL. Returns the exit
 * status: check_done's, 1 when a setup failed, 2 for a bad command line or an unknown case. */
int check_main(int argc, char **argv, const check_case *cases, size_t n, int (*setup)(void),
               void (*teardown)(void));

#endif
