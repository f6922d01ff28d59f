/* domain.h — the broker's domain types: errors, principals and tokens, nodes and their GPUs, leases,
 * lease requests, offers and events; with the functions that free their owned parts. No SQL and no
 * HTTP: the lease rules (lease_state, rules, metering, match) work on these, and the store
 * (store/store.h) keeps them. */
#ifndef LEPTON_BROKER_DOMAIN_H
#define LEPTON_BROKER_DOMAIN_H

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

#endif
