/* match.h — pure lease matching over GPU pools (a pool = one node's GPUs of one model and memory
 * size, at the node's price) and the explanation of a refusal. No SQL, no clock: unit-testable.
 * The SQLite backend finds the pick with an index and calls lp_match_explain only to refuse. */
#ifndef LEPTON_BROKER_MATCH_H
#define LEPTON_BROKER_MATCH_H

#include "domain.h"

typedef struct lp_pool {
    char node[LP_NAME_MAX + 1];
    char model[LP_NAME_MAX + 1];
    uint64_t memory;
    uint32_t total, free;
    double price;
    int ready;
} lp_pool;

/* 1 when model contains want, ignoring ASCII case ("" matches everything). */
int lp_model_matches(const char *model, const char *want);
/* 1 when the pool's GPUs are of the kind asked for (model, memory), whatever is free or the price. */
int lp_match_kind(const lp_pool *p, const lp_lease_req *req);
/* 1 when the pool can serve the request now (ready, kind, enough free, within max price). */
int lp_match_fits(const lp_pool *p, const lp_lease_req *req);
/* Index of the cheapest fitting pool (ties: node name, then model), or -1. */
long lp_match_pick(const lp_pool *pools, size_t n, const lp_lease_req *req);
/* Fills e with why no pool fits: over_budget when some fit but above max_price, else
 * no_capacity saying what exists, what is free and the closest match. */
void lp_match_explain(const lp_pool *pools, size_t n, const lp_lease_req *req, lp_err *e);
/* 0 when max_cost (if any) buys at least one second of gpu_count GPUs at price, else -1 with
 * over_budget in e. */
int lp_match_check_cost(const lp_lease_req *req, double price, lp_err *e);

#endif
