/* rules.h — the lease rules every store operation follows, with no SQL, HTTP or clock in them:
 * who may act on a node, when a re-registration replaces a node's GPUs, what a fresh grant and an
 * extension look like, the reasons and events of endings, and the errors a tenant sees. The billing
 * math and due times are in metering.h, matching and refusals in match.h, state names in
 * lease_state.h. */
#ifndef LEPTON_BROKER_LEASE_RULES_H
#define LEPTON_BROKER_LEASE_RULES_H

#include "match.h"
#include "domain.h"

/* 1 when who may act on a node registered by owner (no principal and dev mode may act on any). */
int lp_principal_owns(const lp_principal *who, const char *owner);
/* 1 when a re-registration names the same GPUs, in the same order, as the node has. */
int lp_node_same_gpus(const lp_node *cur, const lp_node_reg *reg);

/* Fills a just-granted lease (active from now_ms) of tenant on the GPUs taken from pick; l->gpus
 * takes ownership of gpus. */
void lp_lease_fill_grant(lp_lease *l, const char *tenant, const lp_lease_req *req, const char *new_id,
                         const lp_pool *pick, const char *node_address, lp_lease_gpu *gpus, int64_t now_ms);
/* Adds seconds to an active lease's TTL (ttl_s and expires_ms), or -1 with invalid_request when the TTL
 * would pass the 30-day limit. */
int lp_lease_extend_apply(lp_lease *l, uint32_t seconds, lp_err *e);
/* Records in l that it ended in state at ended_ms for reason. */
void lp_lease_mark_ended(lp_lease *l, int state, int64_t ended_ms, const char *reason);
/* When an active lease whose node failed at ended_ms stops being billed: then, or its own due time
 * when that came first. */
int64_t lp_lease_fail_time(const lp_lease *l, int64_t ended_ms);

/* The not_found error of a lease that does not exist or is another tenant's: the same answer, so
 * that it does not tell whether another tenant's lease id exists. */
void lp_err_lease_not_found(lp_err *e, const char *id);
/* The lease_ended error of a renewal of a lease that has ended. */
void lp_err_lease_renew_ended(lp_err *e, const lp_lease *l);
/* The lease_ended errors: an end or failure report on a lease that had already ended, and an
 * extension of one. */
void lp_err_lease_already_ended(lp_err *e, const lp_lease *l);
void lp_err_lease_extend_ended(lp_err *e, const lp_lease *l);

/* The reasons the leases of a node end for. */
void lp_reason_node_lost(char out[256], const char *node, int64_t node_timeout_ms);
void lp_reason_node_deregistered(char out[256], const char *node);
void lp_reason_node_reregistered(char out[256], const char *node);
/* The event of a lease ending in state for reason, and of a node being lost. */
void lp_event_lease_ended(lp_event *ev, const lp_lease *l, int state, const char *reason);
void lp_event_node_lost(lp_event *ev, const char *node, const char *reason);
/* The summary line of a non-empty offer list (cheapest first). */
void lp_offer_list_describe(lp_offer_list *out, const lp_lease_req *req);

#endif
