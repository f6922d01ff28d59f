/* store_common.h — what every store backend shares beyond store.h: the lease rows' GPU list codec,
 * the rules for ownership, re-registration, a fresh grant, extensions and lease-ended errors, and the
 * quote's summary line. Pure functions (store.c), so that SQLite and PostgreSQL cannot drift apart. */
#ifndef LEPTON_BROKER_STORE_COMMON_H
#define LEPTON_BROKER_STORE_COMMON_H

#include "match.h"
#include "store.h"

/* The GPUs of a lease as stored in its row: a JSON array of [index, uuid, address]. */
char *lp_lease_gpus_json(const lp_lease_gpu *g, uint32_t n); /* malloc'd; NULL when out of memory */
int lp_lease_gpus_parse(const char *text, lp_lease *l);      /* fills l->gpus; -1 when corrupt */

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
/* The not_found error of a lease that does not exist or is another tenant's: the same answer, so
 * that it does not tell whether another tenant's lease id exists. */
void lp_err_lease_not_found(lp_err *e, const char *id);
/* The lease_ended error of a renewal of a lease that has ended. */
void lp_err_lease_renew_ended(lp_err *e, const lp_lease *l);
/* The lease_ended errors: an end or failure report on a lease that had already ended, and an
 * extension of one. */
void lp_err_lease_already_ended(lp_err *e, const lp_lease *l);
void lp_err_lease_extend_ended(lp_err *e, const lp_lease *l);
/* The event of a lease ending in state for reason. */
void lp_event_lease_ended(lp_event *ev, const lp_lease *l, int state, const char *reason);
/* The summary line of a non-empty offer list (cheapest first). */
void lp_offer_list_describe(lp_offer_list *out, const lp_lease_req *req);

#endif
