/* broker.h — lepton-broker as an embeddable object: start it on an address with a database, read
 * back its port, stop it. `lepton-broker serve` and `lepton dev` both use this. */
#ifndef LEPTON_BROKER_BROKER_H
#define LEPTON_BROKER_BROKER_H

#include <stddef.h>
#include <stdint.h>

typedef struct lp_broker_config {
    const char *listen;       /* "ADDR:PORT"; port 0 picks a free one; NULL → "127.0.0.1:7700" */
    const char *db;           /* SQLite file path, or postgres://… / postgresql://… */
    int64_t node_timeout_ms;  /* a node silent this long is lost; 0 → 15000 */
    int test_clock;           /* enables POST /v1/debug/clock */
    const char *dev_tenant;   /* requests without a token act as this tenant; NULL = tokens required */
    size_t max_body;          /* request body limit in bytes; 0 → 65536 */
    int64_t reap_interval_ms; /* how often TTLs, cost caps and heartbeats are checked; 0 → 100 */
    /* HTTPS: the PEM certificate (chain) and its unencrypted key, both or neither (NULL → plain
     * HTTP); read once at start */
    const char *tls_cert_file;
    const char *tls_key_file;
    /* connection limits (see http_server.h): 0 → 1024 in all, 128 per client address, 5 s to send
     * a request head */
    unsigned max_connections;
    unsigned max_conn_per_ip;
    unsigned head_timeout_s;
} lp_broker_config;

typedef struct lp_broker lp_broker;

/* Opens the store, starts the HTTP server and the reaper. Returns 0, or -1 with a message in err
 * (err_size bytes). The config's strings are copied. */
int lp_broker_start(const lp_broker_config *cfg, lp_broker **out, char *err, size_t err_size);
/* The port the broker listens on. */
int lp_broker_port(const lp_broker *b);
/* Stops serving (waking long-polls), stops the reaper, closes the store, frees b. NULL is a no-op. */
void lp_broker_stop(lp_broker *b);

/* Creates a random token for tenant (creating the tenant if needed) and stores only its SHA-256.
 * Writes the token (NUL-terminated) to out. Returns 0, or -1 with a message in err. */
int lp_broker_token_create(const char *db, const char *tenant, int is_node, char *out, size_t out_size,
                           char *err, size_t err_size);

#define LP_BROKER_TOKEN_ID_MAX 24 /* = store.h's LP_TOKEN_ID_MAX */
#define LP_BROKER_TOKEN_EXPIRES_MAX_S (10LL * 366 * 86400)
/* As lp_broker_token_create, valid for expires_in_s seconds from now (0: no expiry; at most
 * LP_BROKER_TOKEN_EXPIRES_MAX_S); writes the token's public id (for `token revoke`) to id unless
 * it is NULL. */
int lp_broker_token_mint(const char *db, const char *tenant, int is_node, int64_t expires_in_s, char *out,
                         size_t out_size, char id[LP_BROKER_TOKEN_ID_MAX], char *err, size_t err_size);

#define LP_BROKER_TIME_TEXT_MAX 32
/* A wall-clock time (unix milliseconds) as operators read it: UTC, ISO 8601, "2026-01-31T09:05:00Z". */
void lp_broker_time_text(int64_t unix_ms, char out[LP_BROKER_TIME_TEXT_MAX]);

#endif
