/* log.c — timestamped, levelled, one-line-per-event logging to stderr for the daemons. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int g_level = -1;
static const char *g_prefix = "lepton";
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void lp_log_set_level(int level) { g_level = level; }
void lp_log_set_prefix(const char *prefix) { g_prefix = prefix ? prefix : "lepton"; }

static int current_level(void) {
    if (g_level >= 0) return g_level;
    const char *e = getenv("LEPTON_LOG_LEVEL");
    int lv = LOG_INFO;
    if (e) {
        if (!strcasecmp(e, "debug")) lv = LOG_DEBUG;
        else if (!strcasecmp(e, "warn")) lv = LOG_WARN;
        else if (!strcasecmp(e, "error")) lv = LOG_ERROR;
    }
    g_level = lv;
    return lv;
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
    pthread_mutex_lock(&g_lock);
    fprintf(stderr, "%s.%03ldZ %-5s %s: %s\n", when, ts.tv_nsec / 1000000L,
            names[level < 0 ? 0 : (level > 3 ? 3 : level)], g_prefix, msg);
    pthread_mutex_unlock(&g_lock);
}
