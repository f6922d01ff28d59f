/* test_reaper.c — the reaper's failures are logged once, then at most once per 10 s with how many
 * were not logged, and once more when it works again (a database that is down must not flood the
 * log with a line every 100 ms). Drives lp_reaper_tick with a store whose expire_due fails on
 * demand and reads what the broker logged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_internal.h"
#include "check.h"
#include "wire.h"

typedef struct fake_store {
    lp_store base;
    int fail, calls;
} fake_store;

static int fake_expire_due(lp_store *s, int64_t now_ms, int64_t node_timeout_ms, lp_event_list *events,
                           lp_err *e) {
    (void)now_ms;
    (void)node_timeout_ms;
    (void)events;
    fake_store *f = (fake_store *)s;
    f->calls++;
    if (!f->fail) return 0;
    lp_err_set(e, WIRE_INTERNAL, NULL, "cannot reach the database (test)");
    return -1;
}

static const lp_store_ops FAKE_OPS = {.expire_due = fake_expire_due};

/* stderr (the log) goes to a file; returns the lines logged since the last call */
static FILE *g_log;
static long g_pos;
static int log_lines(const char *needle, char *last, size_t n) {
    fflush(stderr);
    fseek(g_log, g_pos, SEEK_SET);
    char line[1024];
    int k = 0;
    while (fgets(line, sizeof line, g_log))
        if (strstr(line, needle)) {
            k++;
            snprintf(last, n, "%s", line);
        }
    g_pos = ftell(g_log);
    return k;
}

int main(void) {
    char path[] = "/tmp/lepton-reaper-test.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return 1;
    unlink(path);
    int saved = dup(2);
    dup2(fd, 2);
    g_log = fdopen(dup(fd), "r");
    static lp_broker b;
    fake_store f = {{&FAKE_OPS}, 0, 0};
    b.store = &f.base;
    char last[1024] = "";

    lp_reaper_tick(&b); /* working: nothing logged */
    CHECK_EQ_INT(log_lines("reaper:", last, sizeof last), 0);

    f.fail = 1;
    for (int i = 0; i < 50; i++)
        lp_reaper_tick(&b);
    CHECK_EQ_INT(log_lines("reaper:", last, sizeof last), 1); /* the first failure only */
    CHECK(strstr(last, "cannot reach the database (test)") != NULL);

    b.reap_logged_ms -= 10000; /* as if 10 s had passed */
    lp_reaper_tick(&b);
    CHECK_EQ_INT(log_lines("reaper:", last, sizeof last), 1);
    CHECK(strstr(last, "49 more failures since the last line") != NULL);
    for (int i = 0; i < 20; i++)
        lp_reaper_tick(&b);
    CHECK_EQ_INT(log_lines("reaper:", last, sizeof last), 0);

    f.fail = 0;
    lp_reaper_tick(&b);
    CHECK_EQ_INT(log_lines("reaper:", last, sizeof last), 1);
    CHECK(strstr(last, "working again") != NULL);
    lp_reaper_tick(&b);
    CHECK_EQ_INT(log_lines("reaper:", last, sizeof last), 0);

    f.fail = 1; /* a new outage is logged at once */
    lp_reaper_tick(&b);
    CHECK_EQ_INT(log_lines("reaper:", last, sizeof last), 1);
    CHECK_EQ_INT(f.calls, 1 + 50 + 1 + 20 + 2 + 1);

    dup2(saved, 2);
    close(saved);
    if (check_failures) { /* the failed checks were written into the captured log too: show it */
        fseek(g_log, 0, SEEK_SET);
        char line[1024];
        while (fgets(line, sizeof line, g_log))
            fputs(line, stderr);
    }
    fclose(g_log);
    close(fd);
    if (!check_failures)
        fprintf(stderr, "ok   reaper failures logged once, then every 10 s, and the recovery\n");
    return check_done("unit.broker.reaper");
}
