/* check.h — the check macro of src/common's unit tests: a failed check prints where and what, and
 * the test ends non-zero (check_done). Single-threaded tests: the count is not locked. */
#ifndef LEPTON_TESTS_COMMON_CHECK_H
#define LEPTON_TESTS_COMMON_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* main's return: 1 after saying how many checks failed, else 0 after printing passed_line. */
static int check_done(const char *passed_line) {
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("%s\n", passed_line);
    return 0;
}

#endif
