/* check.c — the failure count, the summary and the case runner of check.h. */
#include "check.h"

#include <stdlib.h>

_Atomic int check_failures;

int check_done(const char *name) {
    int failed = check_failures;
    if (failed) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, failed);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

static void (*case_teardown)(void);
static int case_torn_down = 1;

static void case_teardown_once(void) {
    if (case_torn_down || !case_teardown) return;
    case_torn_down = 1;
    case_teardown();
}

int check_main(int argc, char **argv, const check_case *cases, size_t n, int (*setup)(void),
               void (*teardown)(void)) {
    if (argc > 2) {
        fprintf(stderr, "usage: %s [CASE|--list]\n", argv[0]);
        return 2;
    }
    const char *only = argc > 1 ? argv[1] : NULL;
    if (only && !strcmp(only, "--list")) {
        for (size_t k = 0; k < n; k++)
            printf("%s\n", cases[k].name);
        return 0;
    }
    static int registered;
    if (teardown && !registered) {
        atexit(case_teardown_once);
        registered = 1;
    }
    case_teardown = teardown;
    int ran = 0, setup_failed = 0;
    for (size_t k = 0; k < n; k++) {
        if (only && strcmp(only, cases[k].name)) continue;
        ran++;
        int before = check_failures;
        case_torn_down = 0;
        if (setup && setup() != 0) {
            check_failures++;
            setup_failed = 1;
            case_teardown_once();
            fprintf(stderr, "%s: setup failed\n", cases[k].name);
            continue;
        }
        cases[k].fn();
        case_teardown_once();
        fprintf(stderr, "%s: %s\n", cases[k].name, check_failures == before ? "ok" : "FAILED");
    }
    if (!ran) {
        fprintf(stderr, "no case named %s\n", only ? only : "(any)");
        return 2;
    }
    if (setup_failed) return 1;
    return check_done(only ? only : argv[0]);
}
