/* rules.c — the lease rules with no SQL in them (rules.h). */
#include "rules.h"

#include <stdio.h>
#include <string.h>

#include "match.h"
#include "metering.h"
#include "money.h"
#include "wire.h"

int lp_principal_owns(const lp_principal *who, const char *owner) {
    return !who || who->is_dev || !strcmp(who->tenant, owner);
}

int lp_node_same_gpus(const lp_node *cur, const lp_node_reg *reg) {
    if (cur->gpu_count != reg->gpu_count) return 0;
    for (size_t i = 0; i < reg->gpu_count; i++) {
        const lp_gpu *a = &cur->gpus[i], *b = &reg->gpus[i];
        if (a->index != i || strcmp(a->uuid, b->uuid) || strcmp(a->model, b->model) ||
            a->memory != b->memory || strcmp(a->address, b->address))
            return 0;
    }
    return 1;
}

void lp_lease_fill_grant(lp_lease *l, const char *tenant, const lp_lease_req *req, const char *new_id,
                         const lp_pool *pick, const char *node_address, lp_lease_gpu *gpus, int64_t now_ms) {
    snprintf(l->id, sizeof l->id, "%s", new_id);
    snprintf(l->tenant, sizeof l->tenant, "%s", tenant);
    l->state = LS_ACTIVE;
    snprintf(l->node, sizeof l->node, "%s", pick->node);
    snprintf(l->node_address, sizeof l->node_address, "%s", node_address);
    snprintf(l->gpu_model, sizeof l->gpu_model, "%s", pick->model);
    l->gpu_count = req->gpu_count;
    l->gpu_memory = pick->memory;
    l->price = pick->price;
    l->max_price = req->max_price;
    l->max_cost = req->max_cost;
    l->ttl_s = req->ttl_s;
    snprintf(l->labels, sizeof l->labels, "%s", req->labels);
    snprintf(l->idem_key, sizeof l->idem_key, "%s", req->idem_key);
    l->created_ms = l->started_ms = now_ms;
    l->expires_ms = now_ms + (int64_t)req->ttl_s * 1000;
    int64_t cap_s = lp_meter_cap_seconds(req->gpu_count, pick->price, req->max_cost);
    l->cap_ms = cap_s >= 0 ? now_ms + cap_s * 1000 : 0;
    l->keepalive_s = req->keepalive_s;
    l->renewed_ms = now_ms;
    l->gpus = gpus;
}

int lp_lease_extend_apply(lp_lease *l, uint32_t seconds, lp_err *e) {
    if ((uint64_t)l->ttl_s + seconds > 2592000u) {
        lp_err_set(e, WIRE_INVALID, NULL,
                   "field 'seconds': the TTL would become %llu s; the limit is 2592000 (30 days)",
                   (unsigned long long)l->ttl_s + seconds);
        return -1;
    }
    l->ttl_s += seconds;
    l->expires_ms += (int64_t)seconds * 1000;
    return 0;
}

void lp_err_lease_already_ended(lp_err *e, const lp_lease *l) {
    lp_err_set(e, WIRE_LEASE_ENDED, NULL, "lease %s had already ended (%s: %s)", l->id,
               lp_lease_state_name(l->state), l->end_reason);
}

void lp_err_lease_not_found(lp_err *e, const char *id) {
    lp_err_set(e, WIRE_NOT_FOUND, "list your leases with GET /v1/leases", "no lease %s", id);
}

void lp_err_lease_renew_ended(lp_err *e, const lp_lease *l) {
    lp_err_set(e, WIRE_LEASE_ENDED, "open a new lease", "lease %s has ended (%s: %s); it cannot be renewed",
               l->id, lp_lease_state_name(l->state), l->end_reason);
}

void lp_err_lease_extend_ended(lp_err *e, const lp_lease *l) {
    lp_err_set(e, WIRE_LEASE_ENDED, "open a new lease", "lease %s has ended (%s: %s)", l->id,
               lp_lease_state_name(l->state), l->end_reason);
}

void lp_event_lease_ended(lp_event *ev, const lp_lease *l, int state, const char *reason) {
    memset(ev, 0, sizeof *ev);
    snprintf(ev->id, sizeof ev->id, "%s", l->id);
    snprintf(ev->node, sizeof ev->node, "%s", l->node);
    ev->state = state;
    snprintf(ev->reason, sizeof ev->reason, "%s", reason);
}

void lp_offer_list_describe(lp_offer_list *out, const lp_lease_req *req) {
    lp_err why = {0};
    if (lp_match_check_cost(req, out->v[0].price, &why) != 0) {
        snprintf(out->message, sizeof out->message, "%s", why.message);
    } else {
        char price[LP_MONEY_MAX];
        snprintf(out->message, sizeof out->message, "%zu offer%s; cheapest: node %s, %s at %s/h per GPU",
                 out->n, out->n == 1 ? "" : "s", out->v[0].node, out->v[0].gpu_model,
                 lp_money_format(out->v[0].price, price, sizeof price));
    }
}

void lp_reason_node_lost(char out[256], const char *node, int64_t node_timeout_ms) {
    snprintf(out, 256, "node %s lost (no heartbeat for %lld s)", node, (long long)(node_timeout_ms / 1000));
}

void lp_reason_node_deregistered(char out[256], const char *node) {
    snprintf(out, 256, "node %s deregistered", node);
}

void lp_reason_node_reregistered(char out[256], const char *node) {
    snprintf(out, 256, "node %s re-registered with different GPUs", node);
}

void lp_event_node_lost(lp_event *ev, const char *node, const char *reason) {
    memset(ev, 0, sizeof *ev);
    ev->is_node = 1;
    snprintf(ev->node, sizeof ev->node, "%s", node);
    snprintf(ev->reason, sizeof ev->reason, "%s", reason);
}

int64_t lp_lease_fail_time(const lp_lease *l, int64_t ended_ms) {
    int64_t due = lp_lease_end_ms(l);
    return ended_ms > due ? due : ended_ms;
}

void lp_lease_mark_ended(lp_lease *l, int state, int64_t ended_ms, const char *reason) {
    l->state = state;
    l->ended_ms = ended_ms;
    snprintf(l->end_reason, sizeof l->end_reason, "%s", reason);
}
