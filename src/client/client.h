/* client.h — the client handle (struct lepton_client) and what the other client files need of it:
 * its configuration, its HTTP handle pool, its list of open leases and its log callback. */
#ifndef LEPTON_CLIENT_CLIENT_H
#define LEPTON_CLIENT_CLIENT_H

#include <pthread.h>
#include <stdint.h>

#include "http.h"
#include "lepton/lepton.h"

struct lepton_lease;

/* Everything but `lock`, `leases` and the pool's own state is written once by lepton_client_open
 * and only read afterwards, so threads may read it without locking. */
struct lepton_client {
    lc_http http;      /* endpoint, headers, timeouts and the pool of curl handles */
    lepton_log_fn log; /* NULL = silent */
    void *log_user;
    pthread_mutex_t lock;        /* guards `leases` only; never held during I/O or a log call */
    struct lepton_lease *leases; /* open leases, doubly linked through lepton_lease.prev/next */
};

/* Calls the client's log callback with a formatted message, if there is a callback. Callers hold
 * no lock of the library while calling this, so the callback may block or log elsewhere. */
void lc_log(const lepton_client *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Adds an open lease to, or removes it from, the client's list (under c->lock). */
void lc_client_track(lepton_client *c, struct lepton_lease *l);
void lc_client_untrack(lepton_client *c, struct lepton_lease *l);

#endif
