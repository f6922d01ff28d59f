/* check.h — the assertions and case table of the client's unit tests. */
#ifndef LEPTON_TEST_CHECK_H
#define LEPTON_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lepton/lepton.h"

extern int check_failures;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                         \
            check_failures++;                                                                                \
        }                                                                                                    \
    } while (0)

/* Checks a status and, on a mismatch, prints both names and the last error. */
#define CHECK_RC(expr, want)                                                                                 \
    do {                                                                                                     \
        int rc_ = (expr);                                                                                    \
        if (rc_ != (want)) {                                                                                 \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n", __FILE__, __LINE__,     \
                    #expr, lepton_status_name(rc_), lepton_status_name(want), lepton_last_error());          \
            check_failures++;                                                                                \
        }                                                                                                    \
    } while (0)

/* Checks that the last error contains `needle`. */
#define CHECK_MSG(needle)                                                                                    \
    do {                                                                                                     \
        if (!strstr(lepton_last_error(), (needle))) {                                                        \
            fprintf(stderr, "%s:%d: last error \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,                   \
                    lepton_last_error(), (needle));                                                          \
            check_failures++;                                                                                \
        }                                                                                                    \
    } while (0)

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

/* Runs the case named argv[1] (or all of them) and returns the exit status. */
int run_cases(const test_case *cases, int argc, char **argv);

#endif
