/* log.c — timestamped, levelled, one-line-per-event logging to stderr (or a descriptor set with
 * lp_log_set_fd) for the daemons. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static _Atomic int g_level = -1; /* read by every thread; -1 until set or read from the environment */
static const char *_Atomic g_prefix = "lepton";
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void lp_log_set_level(int level) { atomic_store(&g_level, level); }
void lp_log_set_prefix(const char *prefix) { atomic_store(&g_prefix, prefix ? prefix : "lepton"); }

static _Atomic int g_fd = -1; /* where the lines go: stderr (-1), or this descriptor */
void lp_log_set_fd(int fd) { atomic_store(&g_fd, fd); }

int lp_log_parse_level(const char *name) {
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; name && i < 4; i++)
        if (!strcasecmp(name, names[i])) return i;
    return -1;
}

int lp_log_check_env(char *err, size_t n) {
    const char *e = getenv("LEPTON_LOG_LEVEL");
    if (!e || !*e || lp_log_parse_level(e) >= 0) return 0;
    snprintf(err, n, "LEPTON_LOG_LEVEL: '%s' is not one of error, warn, info, debug", e);
    return -1;
}

static int current_level(void) {
    int lv = atomic_load(&g_level);
    if (lv >= 0) return lv;
    lv = lp_log_parse_level(getenv("LEPTON_LOG_LEVEL"));
    if (lv < 0) lv = LP_LOG_INFO; /* the daemons refuse a bad one at start (lp_log_check_env) */
    int unset = -1;               /* a level set meanwhile wins */
    atomic_compare_exchange_strong(&g_level, &unset, lv);
    return atomic_load(&g_level);
}

void lp_log(int level, const char *fmt, ...) {
    if (level > current_level()) return;
    static const char *names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    int fd = atomic_load(&g_fd);
    pthread_mutex_lock(&g_lock);
    if (fd >= 0)
        dprintf(fd, "%s.%03ldZ %-5s %s: %s\n", when, ts.tv_nsec / 1000000L,
                names[level < 0 ? 0 : (level > 3 ? 3 : level)], atomic_load(&g_prefix), msg);
    else
        fprintf(stderr, "%s.%03ldZ %-5s %s: %s\n", when, ts.tv_nsec / 1000000L,
                names[level < 0 ? 0 : (level > 3 ? 3 : level)], atomic_load(&g_prefix), msg);
    pthread_mutex_unlock(&g_lock);
}
