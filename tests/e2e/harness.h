/* harness.h — end-to-end test support: start and stop a real lepton-broker on a free loopback
 * port with its own SQLite file (or, when LEPTON_TEST_PG_URL names a PostgreSQL server, its own fresh
 * database there, as tests/unit/broker/pg_fixture.sh provides), make tokens, talk raw HTTP to it (as
 * a node agent would), move its test clock. Checks: tests/common/check.h. */
#ifndef LEPTON_TESTS_HARNESS_H
#define LEPTON_TESTS_HARNESS_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "check.h"

typedef struct h_broker {
    pid_t pid;
    int port;
    char dir[256];  /* temporary directory (db, logs) */
    char db[300];   /* the --db argument: a SQLite file in dir, or a PostgreSQL URL */
    char pg_db[64]; /* the PostgreSQL database made for this broker ("" with SQLite) */
    char url[64];
    char log[300];
    char extra_args[256]; /* as given to h_broker_start, reused by h_broker_restart */
} h_broker;

/* Starts lepton-broker with --test-clock on a free port; extra_args are appended (space separated;
 * may be NULL). With LEPTON_TEST_PG_URL set, its store is a new database on that server, kept across
 * restarts and dropped by h_broker_cleanup (or at exit). Returns 0, or -1 with a message on stderr. */
int h_broker_start(h_broker *b, const char *extra_args);
/* Stops it (SIGTERM, then SIGKILL after 5 s) and reaps it. Keeps the directory. Returns the exit status. */
int h_broker_stop(h_broker *b);
/* Kills it with SIGKILL and reaps it. */
void h_broker_kill(h_broker *b);
/* Starts it again on the same database (a new port). */
int h_broker_restart(h_broker *b);
/* Stops it if running and removes its directory (and its PostgreSQL database). */
void h_broker_cleanup(h_broker *b);
/* Runs `lepton-broker token create` against its db; writes the token into out. 0 on success. */
int h_token(h_broker *b, const char *tenant, int node, char *out, size_t out_size);

typedef struct h_resp {
    long status;
    char *body; /* NUL-terminated, owned */
    size_t len;
    json_t *json; /* parsed body or NULL */
} h_resp;

/* One raw HTTP request to the broker; token may be NULL; body may be NULL (no body) and is sent as
 * given (content_type NULL → application/json). Returns 0 when a response arrived. */
int h_http(h_broker *b, const char *method, const char *path, const char *token, const char *content_type,
           const char *body, size_t body_len, h_resp *out);
/* The same with a JSON body given as a printf format. */
int h_httpf(h_broker *b, const char *method, const char *path, const char *token, h_resp *out,
            const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void h_resp_free(h_resp *r);
/* The "error"."code" of a response, or "". */
const char *h_err_code(const h_resp *r);

/* Registers a node: n GPUs named model with mem bytes each, at price; uuids "GPU-<name>-<i>".
 * Returns the HTTP status. */
long h_register_node(h_broker *b, const char *node_token, const char *name, int n, const char *model,
                     unsigned long long mem, double price);
long h_heartbeat(h_broker *b, const char *node_token, const char *name);
/* Moves the broker's test clock forward and gives its reaper time to act. */
int h_advance(h_broker *b, const char *token, long long ms);
/* True when GET /healthz answers 200. */
int h_healthy(h_broker *b);

#endif
