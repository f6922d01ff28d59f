/* store.h — the broker's storage interface: the table of domain operations every backend implements
 * over the domain types of lease/domain.h (tenants, tokens, nodes, GPUs, leases). Handlers call only these,
 * never SQL, so a second backend (PostgreSQL) plugs in without touching them.
 *
 * Every operation is atomic (one transaction) and takes the broker's notion of "now" as an
 * argument (the broker's clock, which tests can move), so the store itself never reads a clock.
 * Operations return 0, or -1 with err filled (a wire code from wire.h, a message naming what is
 * wrong, maybe a hint). */
#ifndef LEPTON_BROKER_STORE_H
#define LEPTON_BROKER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "domain.h" /* the domain types the operations take and fill */

typedef struct lp_store_stats {
    int64_t leases_by_state[LS_COUNT];
    int64_t nodes_ready, nodes_lost, nodes_gone;
    int64_t gpus_total, gpus_free, gpus_leased; /* over ready nodes for total/free */
} lp_store_stats;

typedef struct lp_store lp_store;
typedef struct lp_store_ops {
    const char *name;
    void (*close)(lp_store *s);
    /* The broker's 32-byte HMAC secret, created on first use and persisted. */
    int (*secret)(lp_store *s, unsigned char out[32], lp_err *e);
    /* Creates the tenant if needed. */
    int (*tenant_ensure)(lp_store *s, const char *tenant, int64_t now_ms, lp_err *e);
    /* Stores a token hash (hex SHA-256) for tenant (created if needed), created at now_ms, valid until
     * expires_ms (0 = no expiry); its id is lp_token_id(hash_hex). */
    int (*token_create)(lp_store *s, const char *tenant, int is_node, const char *hash_hex, int64_t now_ms,
                        int64_t expires_ms, lp_err *e);
    /* Finds the principal of a token hash (out->expires_ms: the caller, who knows "now", refuses an
     * expired token); -1 with "unauthorized" when unknown or revoked. */
    int (*token_lookup)(lp_store *s, const char *hash_hex, lp_principal *out, lp_err *e);
    /* Tokens of tenant (NULL: all), oldest first. */
    int (*token_list)(lp_store *s, const char *tenant, lp_token_list *out, lp_err *e);
    /* Revokes the token with public id `id` at now_ms; a token revoked before keeps its time and
     * *already is set. out (may be NULL) is the token afterwards. not_found when no token has that id. */
    int (*token_revoke)(lp_store *s, const char *id, int64_t now_ms, lp_token_info *out, int *already,
                        lp_err *e);

    /* Registers or re-registers a node (*created says which). Re-registering with a different GPU
     * set fails the node's active leases (listed in ended). */
    int (*node_register)(lp_store *s, const lp_principal *who, const lp_node_reg *reg, int64_t now_ms,
                         lp_node *out, int *created, lp_event_list *ended, lp_err *e);
    /* Records a heartbeat (a lost node becomes ready again); returns the node and its active leases. */
    int (*node_heartbeat)(lp_store *s, const lp_principal *who, const char *name, int64_t now_ms,
                          lp_node *out, lp_lease_list *leases, lp_err *e);
    /* Marks the node gone; its active leases end failed (listed in ended). */
    int (*node_deregister)(lp_store *s, const lp_principal *who, const char *name, int64_t now_ms,
                           lp_node *out, lp_event_list *ended, lp_err *e);
    int (*node_list)(lp_store *s, lp_node_list *out, lp_err *e);

    /* Offers for a request, cheapest first; when none, out->message explains why. */
    int (*quote)(lp_store *s, const lp_lease_req *req, lp_offer_list *out, lp_err *e);
    /* Grants a lease with id new_id on the cheapest fitting GPUs of one node, or refuses with
     * no_capacity / over_budget and an explanation. When req->idem_key was seen for this tenant,
     * returns that lease and sets *replayed. */
    int (*lease_grant)(lp_store *s, const char *tenant, const lp_lease_req *req, const char *new_id,
                       int64_t now_ms, lp_lease *out, int *replayed, lp_err *e);
    /* A lease of tenant (404 not_found when unknown or another tenant's: the answer does not tell
     * whether it exists). An active
     * lease past its end is shown as ended (the reaper persists the same values). tenant NULL: any. */
    int (*lease_get)(lp_store *s, const char *tenant, const char *id, int64_t now_ms, lp_lease *out,
                     lp_err *e);
    /* Leases of tenant, newest first; state -1 = all. */
    int (*lease_list)(lp_store *s, const char *tenant, int state, int64_t now_ms, lp_lease_list *out,
                      lp_err *e);
    /* Adds seconds to the TTL of an active lease; lease_ended (with out filled) if it has ended.
     * With a key (may be NULL), an extension already made under the same key for this lease is not
     * made again: out is the lease as it is. */
    int (*lease_extend)(lp_store *s, const char *tenant, const char *id, uint32_t seconds, const char *key,
                        int64_t now_ms, lp_lease *out, lp_err *e);
    /* Records that the holder of an active lease is still there (its keepalive starts again at
     * now_ms); lease_ended (out filled) if it has ended. */
    int (*lease_renew)(lp_store *s, const char *tenant, const char *id, int64_t now_ms, lp_lease *out,
                       lp_err *e);
    /* Ends an active lease with state (closed or failed) and reason; lease_ended (out filled) if it
     * had already ended. */
    int (*lease_end)(lp_store *s, const char *tenant, const char *id, int state, const char *reason,
                     int64_t now_ms, lp_lease *out, lp_err *e);
    /* Ends an active lease of node `node` failed, as reported by that node's agent (who must own the
     * node). lease_ended (out filled) if it had already ended. */
    int (*lease_fail_on_node)(lp_store *s, const lp_principal *who, const char *node, const char *id,
                              const char *reason, int64_t now_ms, lp_lease *out, lp_err *e);
    /* Ends what is due at now: leases past TTL (expired) or cost cap (exhausted), nodes silent for
     * node_timeout_ms (lost; their leases failed, billed to the last heartbeat). */
    int (*expire_due)(lp_store *s, int64_t now_ms, int64_t node_timeout_ms, lp_event_list *events, lp_err *e);
    int (*stats)(lp_store *s, lp_store_stats *out, lp_err *e);
    /* Housekeeping off the request path (SQLite: checkpoints the WAL from a second connection so
     * that no request pays for the fsync). Called by the reaper about once a second. */
    void (*maintain)(lp_store *s);
} lp_store_ops;

struct lp_store {
    const lp_store_ops *ops; /* every backend's struct starts with this */
};

/* Opens the store named by url: a file path or sqlite://PATH (SQLite), or a libpq connection URI
 * postgres://… | postgresql://… (PostgreSQL). */
int lp_store_open(const char *url, lp_store **out, lp_err *e);
static inline void lp_store_close(lp_store *s) {
    if (s) s->ops->close(s);
}

/* The SQLite backend (store_sqlite.c). */
int lp_store_sqlite_open(const char *path, lp_store **out, lp_err *e);
/* The PostgreSQL backend (store_pg.c); url is passed to libpq as it is. */
int lp_store_pg_open(const char *url, lp_store **out, lp_err *e);
/* Copies a database URL for messages and logs: a libpq URL loses its password (user:password@host
 * becomes user@host, ?password=… is dropped); a file path is copied as is. */
void lp_store_url_redact(const char *url, char *out, size_t n);

#endif
