/* broker_internal.h — what the broker's files share: the lp_broker object, its clock, capacity
 * signalling, authentication, JSON rendering and the route tables of each handlers_*.c file. */
#ifndef LEPTON_BROKER_INTERNAL_H
#define LEPTON_BROKER_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "broker.h"
#include "http_server.h"
#include "metrics.h"
#include "store.h"

struct lp_broker {
    char listen[300];
    char db[1024];
    char dev_tenant[LP_NAME_MAX + 1];
    int has_dev_tenant;
    int test_clock;
    int64_t node_timeout_ms;
    int64_t reap_interval_ms;
    /* the reaper's failures (a database that is down): logged once, then at most every 10 s (mu) */
    int64_t reap_failing_since_ms, reap_logged_ms;
    long reap_failures_unlogged;
    size_t max_body;

    lp_store *store;
    lp_http_server *http;
    lp_metrics *metrics;
    unsigned char secret[32];
    _Atomic int64_t clock_offset_ms;

    /* capacity changes wake long-polling lease requests; also the reaper's sleep */
    pthread_mutex_t mu;
    pthread_cond_t cap_cv;
    pthread_cond_t reap_cv;
    uint64_t cap_gen;
    int stopping;
    pthread_t reaper;
    int reaper_started;

    /* which nodes' lease sets changed lately, for long-polling heartbeats (a ring; under mu) */
    pthread_cond_t node_cv;
    uint64_t change_gen;
    struct {
        uint64_t gen;
        char node[LP_NAME_MAX + 1];
    } changes[256];
};

/* The broker's notion of now (wall clock plus the test clock's offset), unix ms. */
int64_t lp_broker_now(lp_broker *b);
/* Moves the test clock forward. */
void lp_broker_advance(lp_broker *b, int64_t ms);
uint64_t lp_broker_capacity_gen(lp_broker *b);
/* Wakes every request waiting for capacity. */
void lp_broker_capacity_changed(lp_broker *b);
/* Waits until capacity changes after gen, the monotonic deadline passes or the broker stops.
 * Returns 0, or -1 when the broker is stopping. May return early (at most 1 s): callers loop. */
int lp_broker_wait_capacity(lp_broker *b, uint64_t gen, int64_t deadline_mono_ms);
/* Records that node's set of leases (or their expiry) changed: wakes its long-polling heartbeat. */
void lp_broker_node_changed(lp_broker *b, const char *node);
uint64_t lp_broker_change_gen(lp_broker *b);
/* Waits until node changes after gen (1), the monotonic deadline passes (0) or the broker stops (-1). */
int lp_broker_wait_node(lp_broker *b, const char *node, uint64_t gen, int64_t deadline_mono_ms);
/* Logs what the store ended and wakes waiters if GPUs were freed. */
void lp_broker_note_events(lp_broker *b, const lp_event_list *ev);

/* reaper.c: one pass (also run by the debug clock), and the thread. */
void lp_reaper_tick(lp_broker *b);
int lp_reaper_start(lp_broker *b);
void lp_reaper_stop(lp_broker *b);

/* auth.c */
enum { AUTH_TENANT = 1, AUTH_NODE = 2 };
/* Authenticates the request for a tenant or a node endpoint; on failure answers 401/403 and
 * returns -1. */
int lp_auth(lp_broker *b, lp_http_req *r, int need, lp_principal *out);

/* render.c: JSON of the domain objects and the store's errors. */
json_t *lp_lease_json(lp_broker *b, const lp_lease *l, int64_t now_ms);
/* A node's view of one of its leases (heartbeat answers): id, GPUs, when it ends; no tenant, no money. */
json_t *lp_lease_node_json(const lp_lease *l);
json_t *lp_node_json(const lp_node *n);
json_t *lp_offer_json(const lp_offer *o);
void lp_reply_err(lp_http_req *r, const lp_err *e);
/* 410 lease_ended with the lease beside the error. */
void lp_reply_lease_ended(lp_http_req *r, lp_broker *b, const lp_err *e, const lp_lease *l, int64_t now_ms);

/* lease_request.c: parses a lease request body (defaults applied); answers 400 and returns -1. */
int lp_lease_req_parse(lp_http_req *r, const json_t *body, lp_lease_req *out);
/* The same without a request: idem_header is the Idempotency-Key header (or NULL); -1 with err. */
int lp_lease_req_decode(const json_t *body, const char *idem_header, lp_lease_req *out, char *err,
                        size_t err_size);

/* handlers_nodes.c: the bodies of POST /v1/nodes and of a heartbeat, checked. 0, or -1 with a
 * message naming the field in err, or -2 when out of memory. *gpus (malloc'd, caller frees) and the
 * strings of reg are borrowed from body. */
int lp_node_reg_decode(const json_t *body, lp_node_reg *reg, lp_gpu **gpus, char *err, size_t err_size);
int lp_heartbeat_decode(const json_t *body, int64_t *wait_ms, const json_t **known, char *err,
                        size_t err_size);

/* Route registration of each handlers file. */
int lp_routes_health(lp_broker *b, lp_http_server *s);
int lp_routes_nodes(lp_broker *b, lp_http_server *s);
int lp_routes_leases(lp_broker *b, lp_http_server *s);
int lp_routes_quote(lp_broker *b, lp_http_server *s);
int lp_routes_usage(lp_broker *b, lp_http_server *s);
int lp_routes_ui(lp_broker *b, lp_http_server *s);

#endif
