/* ops.h — the store's operations written once over the SQL driver (ops.c), and what a backend gives
 * them: its driver's connection, a lock, and its own housekeeping. */
#ifndef LEPTON_BROKER_STORE_OPS_H
#define LEPTON_BROKER_STORE_OPS_H

#include <pthread.h>

#include "sql.h"
#include "store.h"

/* A store over an SQL connection. Backends start their struct with it. */
typedef struct lp_sqlstore {
    lp_store base;
    lp_sql *db;         /* owned */
    pthread_mutex_t mu; /* one connection: one operation at a time */
} lp_sqlstore;

/* The operations of store.h over a store that starts with lp_sqlstore. */
int lp_sqlstore_secret(lp_store *s, unsigned char out[32], lp_err *e);
int lp_sqlstore_tenant_ensure(lp_store *s, const char *tenant, int64_t now_ms, lp_err *e);
int lp_sqlstore_token_create(lp_store *s, const char *tenant, int is_node, const char *hash_hex, int64_t now_ms, lp_err *e);
int lp_sqlstore_token_lookup(lp_store *s, const char *hash_hex, lp_principal *out, lp_err *e);
int lp_sqlstore_node_register(lp_store *s, const lp_principal *who, const lp_node_reg *reg, int64_t now_ms, lp_node *out, int *created, lp_event_list *ended, lp_err *e);
int lp_sqlstore_node_heartbeat(lp_store *s, const lp_principal *who, const char *name, int64_t now_ms, lp_node *out, lp_lease_list *leases, lp_err *e);
int lp_sqlstore_node_deregister(lp_store *s, const lp_principal *who, const char *name, int64_t now_ms, lp_node *out, lp_event_list *ended, lp_err *e);
int lp_sqlstore_node_list(lp_store *s, lp_node_list *out, lp_err *e);
int lp_sqlstore_quote(lp_store *s, const lp_lease_req *req, lp_offer_list *out, lp_err *e);
int lp_sqlstore_lease_grant(lp_store *s, const char *tenant, const lp_lease_req *req, const char *new_id, int64_t now_ms, lp_lease *out, int *replayed, lp_err *e);
int lp_sqlstore_lease_get(lp_store *s, const char *tenant, const char *id, int64_t now_ms, lp_lease *out, lp_err *e);
int lp_sqlstore_lease_list(lp_store *s, const char *tenant, int state, int64_t now_ms, lp_lease_list *out, lp_err *e);
int lp_sqlstore_lease_extend(lp_store *s, const char *tenant, const char *id, uint32_t seconds, const char *key, int64_t now_ms, lp_lease *out, lp_err *e);
int lp_sqlstore_lease_renew(lp_store *s, const char *tenant, const char *id, int64_t now_ms, lp_lease *out, lp_err *e);
int lp_sqlstore_lease_end(lp_store *s, const char *tenant, const char *id, int state, const char *reason, int64_t now_ms, lp_lease *out, lp_err *e);
int lp_sqlstore_lease_fail_on_node(lp_store *s, const lp_principal *who, const char *node, const char *id, const char *reason, int64_t now_ms, lp_lease *out, lp_err *e);
int lp_sqlstore_expire_due(lp_store *base, int64_t now_ms, int64_t node_timeout_ms, lp_event_list *events, lp_err *e);
int lp_sqlstore_stats(lp_store *s, lp_store_stats *out, lp_err *e);

#endif
