/* render.c — the JSON of leases (with billing and the signed data-plane token), nodes and offers,
 * and the error reply of a store failure. */
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"
#include "lease_token.h"
#include "metering.h"
#include "wire.h"

static json_t *secs_or_null(int64_t ms) { return ms > 0 ? json_integer(ms / 1000) : json_null(); }

static json_t *data_plane(lp_broker *b, const lp_lease *l) {
    if (l->state != LS_ACTIVE) return json_null();
    json_t *uuids = json_array();
    for (uint32_t i = 0; i < l->gpu_count; i++)
        json_array_append_new(uuids, json_string(l->gpus[i].uuid));
    /* "exp" is the name docs/dataplane.md gives the expiry; "expires_at" the protocol's */
    json_t *p =
        json_pack("{s:s, s:s, s:o, s:I, s:I}", "lease", l->id, "node", l->node, "gpus", uuids, "exp",
                  (json_int_t)(l->expires_ms / 1000), "expires_at", (json_int_t)(l->expires_ms / 1000));
    char *payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (!payload) return json_null();
    unsigned char node_key[32], key[32];
    lp_node_key(b->secret, sizeof b->secret, l->node, node_key);
    lp_lease_key(node_key, l->id, key); /* only this lease's workers hold it */
    char *tok = lp_lease_token_sign(key, payload);
    free(payload);
    json_t *dp = json_pack("{s:s, s:s}", "address", l->node_address, "token", tok ? tok : "");
    free(tok);
    /* each GPU's worker address, when the node registered them (index = position in the lease) */
    int any = 0;
    for (uint32_t i = 0; i < l->gpu_count; i++)
        if (l->gpus[i].address[0]) any = 1;
    if (dp && any) {
        json_t *w = json_array();
        for (uint32_t i = 0; i < l->gpu_count; i++)
            json_array_append_new(w, json_pack("{s:I, s:s, s:s}", "index", (json_int_t)i, "uuid",
                                               l->gpus[i].uuid, "address", l->gpus[i].address));
        json_object_set_new(dp, "workers", w);
    }
    return dp ? dp : json_null();
}

json_t *lp_lease_json(lp_broker *b, const lp_lease *l, int64_t now_ms) {
    lp_bill bill = lp_lease_bill(l, now_ms);
    json_t *gpus = json_array();
    for (uint32_t i = 0; i < l->gpu_count; i++)
        json_array_append_new(
            gpus, json_pack("{s:I, s:s}", "index", (json_int_t)l->gpus[i].index, "uuid", l->gpus[i].uuid));
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(l->id));
    json_object_set_new(o, "tenant", json_string(l->tenant));
    json_object_set_new(o, "state", json_string(lp_lease_state_name(l->state)));
    json_object_set_new(o, "end_reason", l->state == LS_ACTIVE ? json_null() : json_string(l->end_reason));
    json_object_set_new(o, "node", json_string(l->node));
    json_object_set_new(o, "gpu_model", json_string(l->gpu_model));
    json_object_set_new(o, "gpu_count", json_integer(l->gpu_count));
    json_object_set_new(o, "gpu_memory", json_integer((json_int_t)l->gpu_memory));
    json_object_set_new(o, "gpus", gpus);
    json_object_set_new(o, "price_per_gpu_hour", json_real(l->price));
    json_object_set_new(o, "max_price_per_gpu_hour", json_real(l->max_price));
    json_object_set_new(o, "max_cost", json_real(l->max_cost));
    json_object_set_new(o, "cost", json_real(bill.cost));
    json_object_set_new(o, "gpu_seconds", json_integer(bill.gpu_seconds));
    json_object_set_new(o, "billed_seconds", json_integer(bill.billed_s));
    json_object_set_new(o, "ttl_seconds", json_integer(l->ttl_s));
    json_object_set_new(o, "keepalive_seconds", l->keepalive_s ? json_integer(l->keepalive_s) : json_null());
    json_object_set_new(o, "renewed_at", l->keepalive_s ? secs_or_null(l->renewed_ms) : json_null());
    json_object_set_new(o, "labels", json_string(l->labels));
    json_object_set_new(o, "created_at", secs_or_null(l->created_ms));
    json_object_set_new(o, "started_at", secs_or_null(l->started_ms));
    json_object_set_new(o, "expires_at", secs_or_null(l->expires_ms));
    json_object_set_new(o, "ended_at", l->state == LS_ACTIVE ? json_null() : secs_or_null(l->ended_ms));
    json_object_set_new(o, "data_plane", data_plane(b, l));
    return o;
}

json_t *lp_lease_node_json(const lp_lease *l) {
    json_t *gpus = json_array();
    for (uint32_t i = 0; i < l->gpu_count; i++)
        json_array_append_new(
            gpus, json_pack("{s:I, s:s}", "index", (json_int_t)l->gpus[i].index, "uuid", l->gpus[i].uuid));
    int by_cap = 0;
    int64_t ends = lp_lease_hard_end_ms(l, &by_cap);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(l->id));
    json_object_set_new(o, "gpus", gpus);
    json_object_set_new(o, "started_at", secs_or_null(l->started_ms));
    json_object_set_new(o, "expires_at", secs_or_null(l->expires_ms));
    /* rounded up: a node must never end a lease before the broker does */
    json_object_set_new(o, "ends_at", ends > 0 ? json_integer((ends + 999) / 1000) : json_null());
    json_object_set_new(o, "ends_by", json_string(by_cap ? "cost_cap" : "ttl"));
    return o;
}

json_t *lp_node_json(const lp_node *n) {
    json_t *gpus = json_array();
    for (size_t i = 0; i < n->gpu_count; i++) {
        const lp_gpu *g = &n->gpus[i];
        json_array_append_new(gpus, json_pack("{s:I, s:s, s:s, s:I, s:s, s:o}", "index", (json_int_t)g->index,
                                              "uuid", g->uuid, "model", g->model, "memory",
                                              (json_int_t)g->memory, "address", g->address, "lease_id",
                                              g->lease_id[0] ? json_string(g->lease_id) : json_null()));
    }
    return json_pack(
        "{s:s, s:s, s:s, s:f, s:I, s:I, s:o, s:o}", "name", n->name, "state", n->state, "address", n->address,
        "price_per_gpu_hour", n->price, "gpus_total", (json_int_t)n->gpus_total, "gpus_free",
        (json_int_t)(strcmp(n->state, "ready") ? 0 : n->gpus_free), "last_heartbeat_at",
        n->last_heartbeat_ms > 0 ? json_integer(n->last_heartbeat_ms / 1000) : json_null(), "gpus", gpus);
}

json_t *lp_offer_json(const lp_offer *o) {
    return json_pack("{s:s, s:s, s:I, s:I, s:f}", "node", o->node, "gpu_model", o->gpu_model, "gpu_memory",
                     (json_int_t)o->gpu_memory, "gpus_free", (json_int_t)o->gpus_free, "price_per_gpu_hour",
                     o->price);
}

void lp_reply_err(lp_http_req *r, const lp_err *e) {
    const char *code = e->code ? e->code : WIRE_INTERNAL;
    lp_http_reply_json_take(r, wire_http_status(code), lp_http_error_body(code, e->message, e->hint));
}

void lp_reply_lease_ended(lp_http_req *r, lp_broker *b, const lp_err *e, const lp_lease *l, int64_t now_ms) {
    json_t *body = lp_http_error_body(e->code, e->message, e->hint);
    json_object_set_new(body, "lease", lp_lease_json(b, l, now_ms));
    lp_http_reply_json_take(r, 410, body);
}
