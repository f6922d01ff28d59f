/* keepalive.c — the renew thread of a lease handle (keepalive.h). One thread per lease with
 * keepalive; it sleeps on a condition variable (monotonic clock) so that closing the lease wakes and
 * joins it at once. A failed renewal is logged and tried again at the next tick (a third of the
 * keepalive leaves two more tries before the broker gives up); a lease that has ended (410) stops
 * the thread, and the data plane learns of the end. */
#include "keepalive.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "client.h"
#include "dataplane.h"
#include "errors.h"
#include "http.h"
#include "lease.h"

struct lc_keepalive {
    lepton_lease *lease;
    int64_t every_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    int stop;          /* under mu */
    pthread_t thread;
    char path[112]; /* "/v1/leases/<id>/renew" */
};

static void deadline_in(struct timespec *ts, int64_t ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* One renewal. Returns 1 when the lease has ended (stop renewing), else 0. */
static int renew_once(lc_keepalive *k) {
    static const char fn[] = "lepton keepalive";
    lepton_lease *l = k->lease;
    lc_request r = {fn, "POST", k->path, NULL, 0, LC_RETRY}; /* renewing twice is harmless */
    lc_response resp;
    int rc = lc_http_call(l->client, &r, &resp);
    int ended = 0;
    if (rc == LEPTON_EEXPIRED) {
        lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
        const char *why = NULL;
        if (lc_lease_parse(fn, json_object_get(resp.json, "lease"), &info, &why) == LEPTON_OK)
            lc_dp_note_ended(l->dp, info.state, why);
        lc_log(l->client, LEPTON_LOG_WARN, "lease %s: keepalive stopped: the lease has ended (%s)", l->id,
               why ? why : "no reason given");
        ended = 1;
    } else if (rc != LEPTON_OK) {
        lc_log(l->client, LEPTON_LOG_WARN, "lease %s: renewal failed (%s); trying again in %lld ms", l->id,
               lepton_last_error(), (long long)k->every_ms);
    }
    json_decref(resp.json);
    return ended;
}

static void *keepalive_main(void *arg) {
    lc_keepalive *k = arg;
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        struct timespec ts;
        deadline_in(&ts, k->every_ms);
        int w = 0;
        while (!k->stop && w != ETIMEDOUT)
            w = pthread_cond_timedwait(&k->cv, &k->mu, &ts);
        if (k->stop) break;
        pthread_mutex_unlock(&k->mu);
        int ended = renew_once(k);
        pthread_mutex_lock(&k->mu);
        if (ended) break;
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

lc_keepalive *lc_keepalive_start(lepton_lease *l, uint32_t seconds) {
    lc_keepalive *k = calloc(1, sizeof *k);
    if (!k) {
        lc_fail(LEPTON_ENOMEM, "lepton_lease_open: out of memory for the keepalive thread");
        return NULL;
    }
    k->lease = l;
    k->every_ms = (int64_t)seconds * 1000 / 3;
    if (k->every_ms < 100) k->every_ms = 100;
    snprintf(k->path, sizeof k->path, "%s/renew", l->path);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int ok = pthread_mutex_init(&k->mu, NULL) == 0;
    if (ok && pthread_cond_init(&k->cv, &ca) != 0) {
        pthread_mutex_destroy(&k->mu);
        ok = 0;
    }
    pthread_condattr_destroy(&ca);
    if (ok && pthread_create(&k->thread, NULL, keepalive_main, k) != 0) {
        pthread_cond_destroy(&k->cv);
        pthread_mutex_destroy(&k->mu);
        ok = 0;
    }
    if (!ok) {
        free(k);
        lc_fail(LEPTON_ENOMEM, "lepton_lease_open: cannot start the keepalive thread");
        return NULL;
    }
    return k;
}

void lc_keepalive_stop(lc_keepalive *k) {
    if (!k) return;
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
}
