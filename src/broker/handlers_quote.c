/* handlers_quote.c — POST /v1/quote: the offers a lease request would get now, cheapest first. */
#include "broker_internal.h"
#include "wire.h"

static void h_quote(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_TENANT, &who) != 0) return;
    json_t *j = lp_http_json_body(r);
    if (!j) return;
    lp_lease_req req;
    int bad = lp_lease_req_parse(r, j, &req);
    json_decref(j);
    if (bad) return;
    lp_offer_list offers;
    lp_err e = {0};
    if (b->store->ops->quote(b->store, &req, &offers, &e) != 0) {
        lp_reply_err(r, &e);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < offers.n; i++)
        json_array_append_new(arr, lp_offer_json(&offers.v[i]));
    lp_http_reply_json_take(r, 200, json_pack("{s:o, s:s}", "offers", arr, "message", offers.message));
    lp_offer_list_clear(&offers);
}

int lp_routes_quote(lp_broker *b, lp_http_server *s) {
    return lp_http_server_route(s, "POST", "/v1/quote", h_quote, b);
}
