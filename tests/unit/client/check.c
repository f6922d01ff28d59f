/* check.c — the case runner of the client's unit tests. */
#include "check.h"

int check_failures;

int run_cases(const test_case *cases, int argc, char **argv) {
    int ran = 0;
    for (const test_case *t = cases; t->name; t++) {
        if (argc > 1 && strcmp(argv[1], t->name)) continue;
        int before = check_failures;
        t->fn();
        ran++;
        fprintf(stderr, "%s: %s\n", t->name, check_failures == before ? "ok" : "FAILED");
    }
    if (!ran) {
        fprintf(stderr, "no case named %s\n", argc > 1 ? argv[1] : "(any)");
        return 2;
    }
    return check_failures ? 1 : 0;
}
