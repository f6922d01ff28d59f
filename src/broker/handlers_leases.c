/* handlers_leases.c — the lease endpoints: open (with wait_ms long-poll and idempotency keys),
 * list, get, extend, renew (keepalive), close. Another tenant's lease id answers 404 exactly as an
 * unknown one (the store's rule). */
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"
#include "clock.h"
#include "json_field.h"
#include "log.h"
#include "money.h"
#include "rand.h"
#include "wire.h"

static void reply_lease(lp_http_req *r, lp_broker *b, int status, const lp_lease *l, int64_t now) {
    lp_http_reply_json_take(r, status, json_pack("{s:o}", "lease", lp_lease_json(b, l, now)));
}

/* Answers a lease request refused for want of capacity or price, counted as a refusal rather than
 * an error, with the time it waited (metrics.h). */
static void reply_refused(lp_http_req *r, lp_broker *b, const lp_err *e, int64_t since_mono) {
    lp_metrics_lease_refused(b->metrics, e->code);
    lp_metrics_capacity_wait(b->metrics, 0, (double)(lp_mono_ms() - since_mono) / 1000);
    lp_prom_http_refused();
    lp_reply_err(r, e);
}

static void h_open(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_TENANT, &who) != 0) return;
    json_t *j = lp_http_json_body(r);
    if (!j) return;
    lp_lease_req req;
    int bad = lp_lease_req_parse(r, j, &req);
    json_decref(j);
    if (bad) return;
    int64_t since = lp_mono_ms(), deadline = since + req.wait_ms;
    for (;;) {
        uint64_t gen = lp_broker_capacity_gen(b);
        char id[LP_ID_MAX];
        lp_err e = {0};
        if (lp_random_id(id, sizeof id, "ls_", 12) != 0) {
            lp_http_reply_error(r, WIRE_INTERNAL, NULL, "no randomness for a lease id");
            return;
        }
        int64_t now = lp_broker_now(b);
        lp_lease l;
        int replayed = 0;
        if (b->store->ops->lease_grant(b->store, who.tenant, &req, id, now, &l, &replayed, &e) == 0) {
            char price[LP_MONEY_MAX];
            if (replayed) {
                lp_log(LP_LOG_DEBUG, "lease %s replayed for tenant %s (idempotency key)", l.id, who.tenant);
            } else {
                lp_metrics_lease_granted(b->metrics, l.gpu_model);
                lp_metrics_capacity_wait(b->metrics, 1, (double)(lp_mono_ms() - since) / 1000);
                lp_broker_node_changed(b, l.node);
                lp_log(LP_LOG_INFO,
                       "lease %s granted to tenant %s: %u x %s on node %s at %s/h per GPU, ttl %u s, "
                       "keepalive %u s",
                       l.id, who.tenant, l.gpu_count, l.gpu_model, l.node,
                       lp_money_format(l.price, price, sizeof price), l.ttl_s, l.keepalive_s);
            }
            reply_lease(r, b, replayed ? 200 : 201, &l, now);
            lp_lease_clear(&l);
            return;
        }
        int retryable = e.code && (!strcmp(e.code, WIRE_NO_CAPACITY) || !strcmp(e.code, WIRE_OVER_BUDGET));
        if (!retryable) {
            lp_reply_err(r, &e);
            return;
        }
        if (req.wait_ms <= 0 || lp_mono_ms() >= deadline || lp_broker_wait_capacity(b, gen, deadline) != 0) {
            reply_refused(r, b, &e, since);
            return;
        }
        if (lp_http_client_gone(r)) { /* nobody would learn of a lease granted now */
            lp_log(LP_LOG_DEBUG, "lease request of tenant %s: the client left while waiting", who.tenant);
            reply_refused(r, b, &e, since);
            return;
        }
    }
}

#define LEASE_PAGE_MAX 1000

static void h_list(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_TENANT, &who) != 0) return;
    int state = -1;
    const char *q = lp_http_query(r, "state");
    if (q && *q) {
        state = lp_lease_state_parse(q);
        if (state < 0) {
            lp_http_reply_error(r, WIRE_INVALID, lp_lease_state_names_hint(),
                                "query 'state': unknown lease state '%.64s'", q);
            return;
        }
    }
    /* Pages: ?limit=N (1..1000) and ?after=ID (the "next" of the previous page). Without limit,
     * every lease in one answer, as before. */
    long long limit = 0;
    const char *ql = lp_http_query(r, "limit");
    if (ql) {
        char *end = NULL;
        limit = strtoll(ql, &end, 10);
        if (!*ql || *end || limit < 1 || limit > LEASE_PAGE_MAX) {
            lp_http_reply_error(r, WIRE_INVALID, NULL, "query 'limit': '%.32s' is not an integer in 1..%d",
                                ql, LEASE_PAGE_MAX);
            return;
        }
    }
    const char *after = lp_http_query(r, "after");
    if (after && !*after) after = NULL;
    int64_t now = lp_broker_now(b);
    lp_lease_list ll;
    lp_err e = {0};
    if (b->store->ops->lease_list(b->store, who.tenant, state, now, &ll, &e) != 0) {
        lp_reply_err(r, &e);
        return;
    }
    size_t from = 0;
    if (after) {
        while (from < ll.n && strcmp(ll.v[from].id, after) != 0)
            from++;
        if (from == ll.n) {
            lp_lease_list_clear(&ll);
            lp_http_reply_error(r, WIRE_INVALID,
                                "start again without 'after', or use the 'next' of the last page",
                                "query 'after': no lease '%.64s' in this list", after);
            return;
        }
        from++; /* the page starts after it */
    }
    size_t to = limit && ll.n - from > (size_t)limit ? from + (size_t)limit : ll.n;
    json_t *arr = json_array();
    for (size_t i = from; i < to; i++)
        json_array_append_new(arr, lp_lease_json(b, &ll.v[i], now));
    json_t *next = to < ll.n && to > from ? json_string(ll.v[to - 1].id) : json_null();
    lp_lease_list_clear(&ll);
    lp_http_reply_json_take(r, 200, json_pack("{s:o, s:o}", "leases", arr, "next", next));
}

static void h_get(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_TENANT, &who) != 0) return;
    int64_t now = lp_broker_now(b);
    lp_lease l;
    lp_err e = {0};
    if (b->store->ops->lease_get(b->store, who.tenant, lp_http_param(r, "id"), now, &l, &e) != 0) {
        lp_reply_err(r, &e);
        return;
    }
    reply_lease(r, b, 200, &l, now);
    lp_lease_clear(&l);
}

static void h_extend(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_TENANT, &who) != 0) return;
    json_t *j = lp_http_json_body(r);
    if (!j) return;
    int64_t secs = -1;
    char err[256], key[LP_STR_MAX + 1] = "";
    const char *k = NULL;
    int bad = lp_json_int(j, "seconds", 1, 2592000, &secs, err, sizeof err) ||
              lp_json_str(j, "idempotency_key", LP_STR_MAX, &k, err, sizeof err);
    if (!bad && k) snprintf(key, sizeof key, "%s", k);
    json_decref(j);
    if (bad || secs < 0) {
        lp_http_reply_error(r, WIRE_INVALID, NULL, "%s",
                            bad ? err : "field 'seconds' is required (1..2592000)");
        return;
    }
    if (!*key) {
        const char *h = lp_http_header(r, "Idempotency-Key");
        if (h && strlen(h) > LP_STR_MAX) {
            lp_http_reply_error(r, WIRE_INVALID, NULL, "header 'Idempotency-Key' is longer than %d bytes",
                                LP_STR_MAX);
            return;
        }
        if (h) snprintf(key, sizeof key, "%s", h);
    }
    int64_t now = lp_broker_now(b);
    lp_lease l;
    lp_err e = {0};
    const char *id = lp_http_param(r, "id");
    if (b->store->ops->lease_extend(b->store, who.tenant, id, (uint32_t)secs, *key ? key : NULL, now, &l,
                                    &e) != 0) {
        if (e.code && !strcmp(e.code, WIRE_LEASE_ENDED)) {
            lp_reply_lease_ended(r, b, &e, &l, now);
            lp_lease_clear(&l);
        } else {
            lp_reply_err(r, &e);
        }
        return;
    }
    lp_broker_node_changed(b, l.node);
    lp_log(LP_LOG_INFO, "lease %s extended by %lld s (ttl now %u s)", l.id, (long long)secs, l.ttl_s);
    reply_lease(r, b, 200, &l, now);
    lp_lease_clear(&l);
}

/* The holder is still there: a lease with keepalive_seconds lives on for that long again. */
static void h_renew(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_TENANT, &who) != 0) return;
    int64_t now = lp_broker_now(b);
    lp_lease l;
    lp_err e = {0};
    const char *id = lp_http_param(r, "id");
    if (b->store->ops->lease_renew(b->store, who.tenant, id, now, &l, &e) != 0) {
        if (e.code && !strcmp(e.code, WIRE_LEASE_ENDED)) {
            lp_reply_lease_ended(r, b, &e, &l, now);
            lp_lease_clear(&l);
        } else {
            lp_reply_err(r, &e);
        }
        return;
    }
    lp_log(LP_LOG_DEBUG, "lease %s renewed by tenant %s", l.id, who.tenant);
    reply_lease(r, b, 200, &l, now);
    lp_lease_clear(&l);
}

static void h_close(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_TENANT, &who) != 0) return;
    int64_t now = lp_broker_now(b);
    lp_lease l;
    lp_err e = {0};
    const char *id = lp_http_param(r, "id");
    if (b->store->ops->lease_end(b->store, who.tenant, id, LS_CLOSED, "closed by its holder", now, &l, &e) !=
        0) {
        if (e.code && !strcmp(e.code, WIRE_LEASE_ENDED)) {
            lp_reply_lease_ended(r, b, &e, &l, now);
            lp_lease_clear(&l);
        } else {
            lp_reply_err(r, &e);
        }
        return;
    }
    lp_metrics_lease_ended(b->metrics, &l, now);
    lp_broker_capacity_changed(b);
    lp_broker_node_changed(b, l.node);
    lp_log(LP_LOG_INFO, "lease %s closed by tenant %s on node %s", l.id, who.tenant, l.node);
    reply_lease(r, b, 200, &l, now);
    lp_lease_clear(&l);
}

int lp_routes_leases(lp_broker *b, lp_http_server *s) {
    int rc = lp_http_server_route(s, "POST", "/v1/leases", h_open, b);
    rc |= lp_http_server_route(s, "GET", "/v1/leases", h_list, b);
    rc |= lp_http_server_route(s, "GET", "/v1/leases/{id}", h_get, b);
    rc |= lp_http_server_route(s, "POST", "/v1/leases/{id}/extend", h_extend, b);
    rc |= lp_http_server_route(s, "POST", "/v1/leases/{id}/renew", h_renew, b);
    rc |= lp_http_server_route(s, "POST", "/v1/leases/{id}/close", h_close, b);
    return rc;
}
