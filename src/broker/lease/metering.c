/* metering.c — billing math and lease due-time rules (metering.h). */
#include "metering.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "money.h"

lp_bill lp_meter(int64_t start_ms, int64_t end_ms, uint32_t gpu_count, double price, double max_cost) {
    lp_bill b = {0, 0, 0.0};
    if (end_ms <= start_ms) return b;
    b.billed_s = (end_ms - start_ms + 999) / 1000;
    b.gpu_seconds = b.billed_s * (int64_t)gpu_count;
    b.cost = (double)b.gpu_seconds * price / 3600.0;
    if (max_cost > 0 && b.cost > max_cost) b.cost = max_cost;
    return b;
}

int64_t lp_meter_cap_seconds(uint32_t gpu_count, double price, double max_cost) {
    if (max_cost <= 0 || price <= 0 || gpu_count == 0) return -1;
    double per_s = (double)gpu_count * price / 3600.0;
    /* the epsilon keeps 0.1-style decimal budgets from losing a second to rounding */
    double s = floor(max_cost / per_s + 1e-9);
    if (s > 1e15) return -1;
    return (int64_t)s;
}

/* When a lease with keepalive ends if not renewed again; INT64_MAX without keepalive. */
static int64_t keepalive_end_ms(const lp_lease *l) {
    return l->keepalive_s ? l->renewed_ms + (int64_t)l->keepalive_s * 1000 : INT64_MAX;
}

int64_t lp_lease_hard_end_ms(const lp_lease *l, int *by_cap) {
    int cap = l->cap_ms > 0 && l->cap_ms <= l->expires_ms; /* the cost cap wins a tie (lp_lease_due) */
    if (by_cap) *by_cap = cap;
    return cap ? l->cap_ms : l->expires_ms;
}

int64_t lp_lease_end_ms(const lp_lease *l) {
    int64_t end = lp_lease_hard_end_ms(l, NULL);
    int64_t ka = keepalive_end_ms(l);
    return ka < end ? ka : end;
}

/* 1 when the missing renewal comes first (before the TTL and the cost cap, which win ties). */
static int keepalive_first(const lp_lease *l) {
    int64_t ka = keepalive_end_ms(l);
    return l->keepalive_s && ka < l->expires_ms && !(l->cap_ms > 0 && l->cap_ms <= ka);
}

/* What the bill of a lease that ends at its due time stops at: its due time, except when its
 * holder stopped renewing (billed up to the last renewal). */
static int64_t billed_end_ms(const lp_lease *l) {
    return keepalive_first(l) ? l->renewed_ms : lp_lease_end_ms(l);
}

lp_bill lp_lease_bill(const lp_lease *l, int64_t now_ms) {
    int64_t end = l->ended_ms > 0 ? l->ended_ms : now_ms;
    if (l->ended_ms <= 0 && end >= lp_lease_end_ms(l)) end = billed_end_ms(l);
    return lp_meter(l->started_ms, end, l->gpu_count, l->price, l->max_cost);
}

int lp_lease_due(const lp_lease *l, int64_t now_ms, int *state, int64_t *ended_ms, char reason[256]) {
    if (l->state != LS_ACTIVE) return 0;
    int64_t end = lp_lease_end_ms(l);
    if (now_ms < end) return 0;
    *ended_ms = billed_end_ms(l);
    if (keepalive_first(l)) {
        *state = LS_EXPIRED;
        snprintf(reason, 256,
                 "its holder stopped answering: not renewed for %u s (keepalive); billed up to the last "
                 "renewal",
                 l->keepalive_s);
    } else if (l->cap_ms > 0 && l->cap_ms <= l->expires_ms) {
        char cap[LP_MONEY_MAX];
        *state = LS_EXHAUSTED;
        snprintf(reason, 256, "cost cap %s reached", lp_money_format(l->max_cost, cap, sizeof cap));
    } else {
        *state = LS_EXPIRED;
        snprintf(reason, 256, "TTL of %u s reached", l->ttl_s);
    }
    return 1;
}

void lp_lease_settle_view(lp_lease *l, int64_t now_ms) {
    int st;
    int64_t end;
    char reason[256];
    if (!lp_lease_due(l, now_ms, &st, &end, reason)) return;
    l->state = st;
    l->ended_ms = end;
    snprintf(l->end_reason, sizeof l->end_reason, "%s", reason);
}
