/* reaper.c — the background thread that ends what is due every reap interval (~100 ms): leases
 * past their TTL (expired) or cost cap (exhausted), and nodes without a heartbeat for the node
 * timeout (lost; their active leases fail, billed up to the last heartbeat). */
#include <time.h>

#include "broker_internal.h"
#include "clock.h"
#include "log.h"

#define REAP_LOG_EVERY_MS 10000

/* Logs a failure of the reaper: the first at once, then one line every REAP_LOG_EVERY_MS with how
 * many were not logged, and one when it works again. The reaper thread and the test clock's
 * handler both tick: under b->mu. */
static void reap_outcome_locked(lp_broker *b, int failed, const char *why);
static void reap_outcome(lp_broker *b, int failed, const char *why) {
    pthread_mutex_lock(&b->mu);
    reap_outcome_locked(b, failed, why);
    pthread_mutex_unlock(&b->mu);
}

static void reap_outcome_locked(lp_broker *b, int failed, const char *why) {
    int64_t now = lp_mono_ms();
    if (!failed) {
        if (b->reap_failing_since_ms)
            lp_log(LP_LOG_INFO, "reaper: working again after %.1f s of failures",
                   (double)(now - b->reap_failing_since_ms) / 1000);
        b->reap_failing_since_ms = 0;
        b->reap_failures_unlogged = 0;
        return;
    }
    if (!b->reap_failing_since_ms) {
        b->reap_failing_since_ms = b->reap_logged_ms = now;
        lp_log(LP_LOG_ERROR, "reaper: %s", why);
    } else if (now - b->reap_logged_ms >= REAP_LOG_EVERY_MS) {
        lp_log(LP_LOG_ERROR, "reaper: %s (failing for %.0f s; %ld more failures since the last line)", why,
               (double)(now - b->reap_failing_since_ms) / 1000, b->reap_failures_unlogged);
        b->reap_logged_ms = now;
        b->reap_failures_unlogged = 0;
    } else {
        b->reap_failures_unlogged++;
    }
}

void lp_reaper_tick(lp_broker *b) {
    lp_event_list ev = {0};
    lp_err e = {0};
    int failed = b->store->ops->expire_due(b->store, lp_broker_now(b), b->node_timeout_ms, &ev, &e) != 0;
    reap_outcome(b, failed, e.message);
    lp_broker_note_events(b, &ev);
    lp_event_list_clear(&ev);
}

static void *reaper_main(void *arg) {
    lp_broker *b = arg;
    int64_t next_maintain = lp_mono_ms() + 1000;
    pthread_mutex_lock(&b->mu);
    while (!b->stopping) {
        int64_t until = lp_mono_ms() + b->reap_interval_ms;
        struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000L};
        pthread_cond_timedwait(&b->reap_cv, &b->mu, &ts);
        if (b->stopping) break;
        pthread_mutex_unlock(&b->mu);
        lp_reaper_tick(b);
        if (lp_mono_ms() >= next_maintain) {
            b->store->ops->maintain(b->store);
            next_maintain = lp_mono_ms() + 1000;
        }
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int lp_reaper_start(lp_broker *b) {
    if (pthread_create(&b->reaper, NULL, reaper_main, b) != 0) return -1;
    b->reaper_started = 1;
    return 0;
}

void lp_reaper_stop(lp_broker *b) {
    if (!b->reaper_started) return;
    pthread_mutex_lock(&b->mu);
    b->stopping = 1;
    pthread_cond_broadcast(&b->reap_cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->reaper, NULL);
    b->reaper_started = 0;
}
