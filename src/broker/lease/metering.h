/* metering.h — the billing math: per started second of being active, at the price agreed at
 * grant, never above max_cost; and when a lease is due to end (TTL or cost cap). Pure functions. */
#ifndef LEPTON_BROKER_METERING_H
#define LEPTON_BROKER_METERING_H

#include <stdint.h>

#include "domain.h"

typedef struct lp_bill {
    int64_t billed_s;    /* ceil(active time / 1 s) */
    int64_t gpu_seconds; /* billed_s × gpu_count */
    double cost;         /* USD, capped at max_cost when one is set */
} lp_bill;

lp_bill lp_meter(int64_t start_ms, int64_t end_ms, uint32_t gpu_count, double price_per_gpu_hour,
                 double max_cost);
/* Whole seconds max_cost buys of gpu_count GPUs at price; -1 when unlimited (no cap or free). */
int64_t lp_meter_cap_seconds(uint32_t gpu_count, double price_per_gpu_hour, double max_cost);
/* When the lease ends whatever its holder does: its expiry or, earlier, its cost cap (*by_cap set
 * to 1 then; may be NULL). What a node is told, so it can end the lease on its own (docs/protocol.md). */
int64_t lp_lease_hard_end_ms(const lp_lease *l, int *by_cap);
/* When the lease ends by itself: min(expires, cost cap, last renewal + keepalive when it has one). */
int64_t lp_lease_end_ms(const lp_lease *l);
/* The bill of a lease at now (up to ended_ms once ended, never past its end). */
lp_bill lp_lease_bill(const lp_lease *l, int64_t now_ms);
/* 1 when an active lease is due at now: fills the state it ends in, when its bill stops (its due
 * time; the last renewal when its holder stopped renewing) and the reason. */
int lp_lease_due(const lp_lease *l, int64_t now_ms, int *state, int64_t *ended_ms, char reason[256]);
/* Shows an active lease that is due as ended (what the reaper will persist). */
void lp_lease_settle_view(lp_lease *l, int64_t now_ms);

#endif
