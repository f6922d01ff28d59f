/* store.h — the broker's storage interface: the domain types (tenants, tokens, nodes, GPUs, leases)
 * and the table of domain operations every backend implements. Handlers call only these, never SQL,
 * so a second backend (PostgreSQL) plugs in without touching them.
 *
 * Every operation is atomic (one transaction) and takes the broker's notion of "now" as an
 * argument (the broker's clock, which tests can move), so the store itself never reads a clock.
 * Operations return 0, or -1 with err filled (a wire code from wire.h, a message naming what is
 * wrong, maybe a hint). */
#ifndef LEPTON_BROKER_STORE_H
#define LEPTON_BROKER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "lease_state.h" /* LS_*, lp_lease_state_name */

#define LP_NAME_MAX 128 /* node names, tenant names, GPU uuids and models */
#define LP_STR_MAX 256  /* addresses, labels, idempotency keys */
#define LP_ID_MAX 64
#define LP_KEEPALIVE_MAX 86400 /* keepalive_seconds: 0 (none) or 1 .. one day */

typedef struct lp_err {
    const char *code; /* wire code; NULL when no error */
    char message[768];
    char hint[256];
} lp_err;
void lp_err_set(lp_err *e, const char *code, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LP_TOKEN_ID_MAX 24 /* "tk_" and 16 hex digits */

typedef struct lp_principal {
    char tenant[LP_NAME_MAX + 1];
    int is_node;                    /* a node token: may only register/heartbeat/deregister nodes */
    int is_dev;                     /* dev mode without a token: acts as tenant and node */
    char token_id[LP_TOKEN_ID_MAX]; /* the token's public id; "" in dev mode */
    int64_t expires_ms;             /* the token's expiry (wall clock); 0 = never */
} lp_principal;

/* A token as an operator sees it (never its secret or hash). */
typedef struct lp_token_info {
    char id[LP_TOKEN_ID_MAX];
    char tenant[LP_NAME_MAX + 1];
    int is_node;
    int64_t created_ms;
    int64_t expires_ms; /* 0 = never */
    int64_t revoked_ms; /* 0 = not revoked */
} lp_token_info;

typedef struct lp_token_list {
    size_t n;
    lp_token_info *v; /* owned */
} lp_token_list;
void lp_token_list_clear(lp_token_list *l);

/* A token's public id from its hash (hex SHA-256): "tk_" and the hash's first 16 hex digits. It names
 * the token to an operator and reveals nothing of the secret (the hash is one-way). */
void lp_token_id(const char *hash_hex, char out[LP_TOKEN_ID_MAX]);

typedef struct lp_gpu {
    uint32_t index;
    char uuid[LP_NAME_MAX + 1];
    char model[LP_NAME_MAX + 1];
    uint64_t memory;
    char address[LP_STR_MAX + 1]; /* this GPU's lease-worker URL ("" = derive from the node's) */
    char lease_id[LP_ID_MAX];     /* "" when free */
} lp_gpu;

typedef struct lp_node {
    char name[LP_NAME_MAX + 1];
    char owner[LP_NAME_MAX + 1]; /* tenant of the node token that registered it */
    char state[8];               /* ready | lost | gone */
    char address[LP_STR_MAX + 1];
    double price;
    uint32_t gpus_total, gpus_free;
    int64_t registered_ms, last_heartbeat_ms;
    size_t gpu_count;
    lp_gpu *gpus; /* owned */
} lp_node;
void lp_node_clear(lp_node *n);

typedef struct lp_node_list {
    size_t n;
    lp_node *v; /* owned */
} lp_node_list;
void lp_node_list_clear(lp_node_list *l);

typedef struct lp_lease_gpu {
    uint32_t index; /* the node's index of the GPU */
    char uuid[LP_NAME_MAX + 1];
    char address[LP_STR_MAX + 1]; /* its worker's URL, "" when the node gave none */
} lp_lease_gpu;

typedef struct lp_lease {
    char id[LP_ID_MAX];
    char tenant[LP_NAME_MAX + 1];
    int state;
    char end_reason[256];
    char node[LP_NAME_MAX + 1];
    char node_address[LP_STR_MAX + 1];
    char gpu_model[LP_NAME_MAX + 1];
    uint32_t gpu_count;
    uint64_t gpu_memory;
    double price, max_price, max_cost;
    uint32_t ttl_s;
    char labels[LP_STR_MAX + 1];
    char idem_key[LP_STR_MAX + 1];
    int64_t created_ms, started_ms, expires_ms;
    int64_t cap_ms;       /* when max_cost is spent; 0 = no cap */
    int64_t ended_ms;     /* 0 while active */
    lp_lease_gpu *gpus;   /* gpu_count entries, owned */
    uint32_t keepalive_s; /* 0 = none; else it ends (expired) when not renewed for this long */
    int64_t renewed_ms;   /* the last renewal (the grant's time at first) */
} lp_lease;
void lp_lease_clear(lp_lease *l);

typedef struct lp_lease_list {
    size_t n;
    lp_lease *v; /* owned */
} lp_lease_list;
void lp_lease_list_clear(lp_lease_list *l);

/* A validated lease request (defaults applied). */
typedef struct lp_lease_req {
    uint32_t gpu_count;             /* 1..1024 */
    char gpu_model[LP_STR_MAX + 1]; /* "" = any; case-insensitive substring */
    uint64_t min_memory;
    double max_price; /* 0 = no limit */
    double max_cost;  /* 0 = none */
    uint32_t ttl_s;
    int32_t wait_ms;
    char labels[LP_STR_MAX + 1];
    char idem_key[LP_STR_MAX + 1]; /* "" = none */
    uint32_t keepalive_s;          /* 0 = none; else 1..86400 */
} lp_lease_req;

typedef struct lp_offer {
    char node[LP_NAME_MAX + 1];
    char gpu_model[LP_NAME_MAX + 1];
    uint64_t gpu_memory;
    uint32_t gpus_free;
    double price;
} lp_offer;

typedef struct lp_offer_list {
    size_t n;
    lp_offer *v; /* owned */
    char message[768];
} lp_offer_list;
void lp_offer_list_clear(lp_offer_list *l);

typedef struct lp_node_reg {
    const char *name, *address;
    double price;
    size_t gpu_count;
    const lp_gpu *gpus; /* uuid, model, memory, address used; index = position */
} lp_node_reg;

/* Something the store ended on its own or as a side effect (for logging and waking waiters). */
typedef struct lp_event {
    int is_node;        /* 1: node lost; 0: lease ended */
    char id[LP_ID_MAX]; /* lease id */
    char node[LP_NAME_MAX + 1];
    int state; /* lease's new state */
    char reason[256];
} lp_event;
typedef struct lp_event_list {
    size_t n, cap;
    lp_event *v; /* owned */
} lp_event_list;
void lp_event_list_clear(lp_event_list *l);
int lp_event_list_push(lp_event_list *l, const lp_event *e);

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
