/* handlers_usage.c — GET /v1/usage (a tenant's GPU-seconds and cost, per lease and in total) and
 * GET /v1/leases/{id}/usage. */
#include "broker_internal.h"
#include "metering.h"
#include "wire.h"

static json_t *usage_json(const lp_lease *l, int64_t now) {
    lp_bill bill = lp_lease_bill(l, now);
    return json_pack("{s:s, s:I, s:f, s:s}", "lease_id", l->id, "gpu_seconds", (json_int_t)bill.gpu_seconds,
                     "cost", bill.cost, "state", lp_lease_state_name(l->state));
}

static void h_usage(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_TENANT, &who) != 0) return;
    int64_t now = lp_broker_now(b);
    lp_lease_list ll;
    lp_err e = {0};
    if (b->store->ops->lease_list(b->store, who.tenant, -1, now, &ll, &e) != 0) {
        lp_reply_err(r, &e);
        return;
    }
    json_t *arr = json_array();
    int64_t gs = 0;
    double cost = 0;
    for (size_t i = 0; i < ll.n; i++) {
        lp_bill bill = lp_lease_bill(&ll.v[i], now);
        gs += bill.gpu_seconds;
        cost += bill.cost;
        json_array_append_new(arr, usage_json(&ll.v[i], now));
    }
    lp_lease_list_clear(&ll);
    lp_http_reply_json_take(r, 200,
                            json_pack("{s:s, s:I, s:f, s:o}", "tenant", who.tenant, "gpu_seconds",
                                      (json_int_t)gs, "cost", cost, "leases", arr));
}

static void h_lease_usage(lp_http_req *r, void *user) {
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
    lp_http_reply_json_take(r, 200, usage_json(&l, now));
    lp_lease_clear(&l);
}

int lp_routes_usage(lp_broker *b, lp_http_server *s) {
    int rc = lp_http_server_route(s, "GET", "/v1/usage", h_usage, b);
    rc |= lp_http_server_route(s, "GET", "/v1/leases/{id}/usage", h_lease_usage, b);
    return rc;
}
