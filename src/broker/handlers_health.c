/* handlers_health.c — GET /healthz, GET /metrics and the test clock (POST /v1/debug/clock). */
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"
#include "json_field.h"
#include "lepton/lepton.h"
#include "log.h"
#include "wire.h"

static void h_healthz(lp_http_req *r, void *user) {
    lp_http_reply_json_take(r, 200,
                            json_pack("{s:s, s:s}", "status", "ok", "version", LEPTON_VERSION_STRING));
}

static void h_metrics(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_store_stats st;
    lp_err e = {0};
    if (b->store->ops->stats(b->store, &st, &e) != 0) {
        lp_reply_err(r, &e);
        return;
    }
    char *text = lp_metrics_render(b->metrics, &st);
    if (!text) {
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return;
    }
    lp_http_reply_bytes(r, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
}

static void h_clock(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_TENANT, &who) != 0) return;
    json_t *j = lp_http_json_body(r);
    if (!j) return;
    int64_t adv = 0;
    char err[256];
    if (lp_json_int(j, "advance_ms", 0, (int64_t)100 * 365 * 86400 * 1000, &adv, err, sizeof err) != 0) {
        json_decref(j);
        lp_http_reply_error(r, WIRE_INVALID, NULL, "%s", err);
        return;
    }
    json_decref(j);
    lp_broker_advance(b, adv);
    lp_log(LP_LOG_INFO, "test clock advanced by %lld ms", (long long)adv);
    lp_reaper_tick(b); /* so that what the jump made due ends before we answer */
    lp_http_reply_json_take(r, 200, json_pack("{s:I}", "now_ms", (json_int_t)lp_broker_now(b)));
}

int lp_routes_health(lp_broker *b, lp_http_server *s) {
    int rc = lp_http_server_route(s, "GET", "/healthz", h_healthz, b);
    rc |= lp_http_server_route(s, "GET", "/metrics", h_metrics, b);
    if (b->test_clock) rc |= lp_http_server_route(s, "POST", "/v1/debug/clock", h_clock, b);
    return rc;
}
