/* reaper.c — the background thread that ends what is due every reap interval (~100 ms): leases
 * past their TTL (expired) or cost cap (exhausted), and nodes without a heartbeat for the node
 * timeout (lost; their active leases fail, billed up to the last heartbeat). */
#include <time.h>

#include "broker_internal.h"
#include "clock.h"
#include "log.h"

void lp_reaper_tick(lp_broker *b) {
    lp_event_list ev = {0};
    lp_err e = {0};
    if (b->store->ops->expire_due(b->store, lp_broker_now(b), b->node_timeout_ms, &ev, &e) != 0)
        lp_log(LOG_ERROR, "reaper: %s", e.message);
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
