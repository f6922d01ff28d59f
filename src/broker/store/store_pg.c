/* store_pg.c — the PostgreSQL backend of store.h (libpq), for several brokers sharing one database.
 * Same schema shape and the same rules as store_sqlite.c (the reference semantics), op by op.
 *
 * One connection per store, serialized by a mutex. Every operation that writes runs in one
 * SERIALIZABLE transaction, so whatever other brokers do at the same time, the outcome is that of some
 * serial order: a GPU cannot end up in two active leases, an idempotency key grants (or extends) once,
 * and a lease that several reapers end at once is ended and billed once. PostgreSQL reports the
 * interleavings it cannot serialize as serialization failures or deadlocks (SQLSTATE 40001, 40P01);
 * the transaction is then run again from the start, a bounded number of times with a short random
 * backoff. Reads of several statements run in a REPEATABLE READ READ ONLY snapshot. A lost connection
 * is re-established once per operation (not after an ambiguous COMMIT, whose outcome is unknown).
 *
 * A GPU row's lease_id column is the single source of truth for "who holds this GPU"; a trigger
 * refuses to move a GPU from one lease to another, as in the SQLite schema. */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "match.h"
#include "ops.h"
#include "metering.h"
#include "rand.h"
#include "store.h"
#include "store_common.h"
#include "wire.h"

/* 2: leases.keepalive_s and leases.renewed_ms (keepalive; added to a version-1 database); 3: the same
 * schema (SQLite's version 3 added the seq column PostgreSQL's leases always had) */
#define SCHEMA_VERSION 3
#define MAX_ATTEMPTS 40 /* runs of one transaction that meets serialization failures */
#define MAX_UNIQUE_RETRIES 3
#define MAX_PARAMS 20
#define SCHEMA_LOCK "7776500447" /* pg_advisory_xact_lock key taken while creating the schema */

typedef struct pgs {
    lp_sqlstore c;
    PGconn *conn; /* c.db's connection */
    char where[512]; /* the URL without its password, for messages */
    int retry;       /* the last error was a serialization failure or a deadlock */
    int unique;      /* the last error was a unique violation (a concurrent insert of the same key) */
    int lost;        /* the connection was lost */
    int down;        /* reconnecting failed (logged once until it works again) */
} pgs;

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS tenants(name TEXT COLLATE \"C\" PRIMARY KEY, created_ms BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tokens(hash TEXT PRIMARY KEY, tenant TEXT COLLATE \"C\" NOT NULL"
    " REFERENCES tenants(name), is_node INTEGER NOT NULL, created_ms BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS nodes(name TEXT COLLATE \"C\" PRIMARY KEY, owner TEXT NOT NULL,"
    " state TEXT NOT NULL, address TEXT NOT NULL, price DOUBLE PRECISION NOT NULL, registered_ms BIGINT NOT"
    " NULL, last_hb_ms BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS nodes_hb ON nodes(state, last_hb_ms);"
    "CREATE TABLE IF NOT EXISTS gpus(node TEXT COLLATE \"C\" NOT NULL REFERENCES nodes(name),"
    " idx BIGINT NOT NULL, uuid TEXT COLLATE \"C\" NOT NULL UNIQUE, model TEXT COLLATE \"C\" NOT NULL,"
    " memory BIGINT NOT NULL, address TEXT NOT NULL DEFAULT '', lease_id TEXT COLLATE \"C\","
    " PRIMARY KEY(node, idx));"
    "CREATE INDEX IF NOT EXISTS gpus_lease ON gpus(lease_id) WHERE lease_id IS NOT NULL;"
    "CREATE OR REPLACE FUNCTION lepton_gpus_one_lease() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF OLD.lease_id IS NOT NULL AND NEW.lease_id IS NOT NULL AND NEW.lease_id <> OLD.lease_id THEN"
    "   RAISE EXCEPTION 'GPU already belongs to an active lease';"
    "  END IF;"
    "  RETURN NEW;"
    " END $$;"
    "DO $$ BEGIN"
    " IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'gpus_one_lease'"
    "                AND tgrelid = 'gpus'::regclass) THEN"
    "  CREATE TRIGGER gpus_one_lease BEFORE UPDATE OF lease_id ON gpus"
    "   FOR EACH ROW EXECUTE FUNCTION lepton_gpus_one_lease();"
    " END IF;"
    "END $$;"
    "CREATE TABLE IF NOT EXISTS pools(node TEXT COLLATE \"C\" NOT NULL, model TEXT COLLATE \"C\" NOT NULL,"
    " memory BIGINT NOT NULL, price DOUBLE PRECISION NOT NULL, ready INTEGER NOT NULL, total INTEGER NOT"
    " NULL, free INTEGER NOT NULL, PRIMARY KEY(node, model, memory));"
    "CREATE INDEX IF NOT EXISTS pools_match ON pools(ready, price, node, model, memory, free);"
    "CREATE TABLE IF NOT EXISTS leases(id TEXT COLLATE \"C\" PRIMARY KEY, seq BIGSERIAL NOT NULL,"
    " tenant TEXT COLLATE \"C\" NOT NULL, state INTEGER NOT NULL, end_reason TEXT NOT NULL DEFAULT '',"
    " node TEXT COLLATE \"C\" NOT NULL, node_address TEXT NOT NULL, gpu_model TEXT NOT NULL,"
    " gpu_count BIGINT NOT NULL, gpu_memory BIGINT NOT NULL, gpus TEXT NOT NULL,"
    " price DOUBLE PRECISION NOT NULL, max_price DOUBLE PRECISION NOT NULL,"
    " max_cost DOUBLE PRECISION NOT NULL, ttl_s BIGINT NOT NULL, labels TEXT NOT NULL,"
    " idem_key TEXT COLLATE \"C\", created_ms BIGINT NOT NULL, started_ms BIGINT NOT NULL,"
    " expires_ms BIGINT NOT NULL, cap_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL, ended_ms BIGINT,"
    " billed_s BIGINT NOT NULL DEFAULT 0, gpu_seconds BIGINT NOT NULL DEFAULT 0,"
    " cost DOUBLE PRECISION NOT NULL DEFAULT 0);"
    "ALTER TABLE leases ADD COLUMN IF NOT EXISTS keepalive_s BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE leases ADD COLUMN IF NOT EXISTS renewed_ms BIGINT NOT NULL DEFAULT 0;"
    "CREATE UNIQUE INDEX IF NOT EXISTS leases_idem ON leases(tenant, idem_key) WHERE idem_key IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS leases_due ON leases(end_ms) WHERE state = 1;"
    "CREATE INDEX IF NOT EXISTS leases_node_active ON leases(node) WHERE state = 1;"
    "CREATE INDEX IF NOT EXISTS leases_tenant ON leases(tenant, created_ms);"
    "CREATE INDEX IF NOT EXISTS leases_state ON leases(state);"
    "CREATE TABLE IF NOT EXISTS lease_extends(lease TEXT COLLATE \"C\" NOT NULL, key TEXT COLLATE \"C\""
    " NOT NULL, PRIMARY KEY(lease, key));";

#define LEASE_COLS                                                                                           \
    "id, tenant, state, end_reason, node, node_address, gpu_model, gpu_count, gpu_memory, gpus, price,"      \
    " max_price, max_cost, ttl_s, labels, idem_key, created_ms, started_ms, expires_ms, cap_ms, ended_ms,"   \
    " keepalive_s, renewed_ms"

static const char SQL_BEGIN_WRITE[] = "BEGIN ISOLATION LEVEL SERIALIZABLE";
static const char SQL_BEGIN_READ[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
static const char SQL_META_GET[] = "SELECT value FROM meta WHERE key = $1";

/* ---- plumbing ---- */

/* Query parameters, all sent as text. */
typedef struct pp {
    int n;
    const char *v[MAX_PARAMS];
    char buf[MAX_PARAMS][32];
} pp;

static void p_text(pp *p, const char *v) { p->v[p->n++] = v; }
/* libpq's messages end in newlines and may span lines: one line for ours. */
static void one_line(char *out, size_t n, const char *msg) {
    size_t k = 0;
    for (const char *c = msg ? msg : ""; *c && k + 1 < n; c++) {
        int space = *c == '\n' || *c == '\t' || *c == '\r' || *c == ' ';
        if (space && (k == 0 || out[k - 1] == ' ')) continue;
        out[k++] = space ? ' ' : *c;
    }
    while (k && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

static void db_err(pgs *s, const PGresult *r, lp_err *e, const char *what) {
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01"))) s->retry = 1;
    if (state && !strcmp(state, "23505")) s->unique = 1;
    if (PQstatus(s->conn) != CONNECTION_OK) s->lost = 1;
    char msg[600];
    one_line(msg, sizeof msg,
             r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(s->conn));
    lp_err_set(e, WIRE_INTERNAL, NULL, "database error while %s: %s", what, msg);
}

/* Runs a statement; returns its result (PQclear it) or NULL with e filled. */
static PGresult *q(pgs *s, const char *sql, const pp *p, lp_err *e, const char *what) {
    PGresult *r = PQexecParams(s->conn, sql, p ? p->n : 0, NULL, p ? p->v : NULL, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    db_err(s, r, e, what);
    PQclear(r);
    return NULL;
}

/* Runs a statement without results. Returns the number of rows it touched, or -1. */
static long run(pgs *s, const char *sql, const pp *p, lp_err *e, const char *what) {
    PGresult *r = q(s, sql, p, e, what);
    if (!r) return -1;
    long n = atol(PQcmdTuples(r));
    PQclear(r);
    return n;
}

#define LOCK(s) pthread_mutex_lock(&(s)->c.mu)
#define UNLOCK(s) pthread_mutex_unlock(&(s)->c.mu)

static void quiet_notices(void *arg, const char *message) {
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like */
}

/* Settings of every session, also after a reconnect: no statement may block forever. */
static int session_setup(pgs *s, lp_err *e) {
    PQsetNoticeProcessor(s->conn, quiet_notices, NULL);
    return run(s, "SET statement_timeout = 30000", NULL, e, "configuring the session") < 0 ? -1 : 0;
}

static void conn_err(pgs *s, lp_err *e, const char *what) {
    char msg[600];
    one_line(msg, sizeof msg, PQerrorMessage(s->conn));
    lp_err_set(e, WIRE_INTERNAL, "check the --db URL, and that the server runs and accepts the connection",
               "%s PostgreSQL database %s: %s", what, s->where, msg);
}

/* Reconnects once per operation when the connection was lost. */
static int ensure_conn(pgs *s, int *reconnected, lp_err *e) {
    if (PQstatus(s->conn) == CONNECTION_OK) return 0;
    if (*reconnected) {
        conn_err(s, e, "lost the connection again to");
        return -1;
    }
    *reconnected = 1;
    if (!s->down)
        lp_log(LP_LOG_WARN, "store: lost the connection to PostgreSQL database %s; reconnecting", s->where);
    PQreset(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        conn_err(s, e, "lost the connection to, and cannot reconnect to,");
        s->down = 1;
        return -1;
    }
    if (s->down) lp_log(LP_LOG_INFO, "store: reconnected to PostgreSQL database %s", s->where);
    s->down = 0;
    return session_setup(s, e);
}

static void backoff(int attempt) {
    unsigned r = 0;
    lp_random_bytes(&r, sizeof r);
    long cap_ms = attempt < 6 ? 1L << attempt : 64;
    long us = (long)(r % (unsigned)(cap_ms * 1000)) + 200;
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

enum { TX_NONE, TX_WRITE, TX_READ, TX_PLAIN };
/* A transaction's body: 0 commit and succeed; 1 commit, but the operation fails with the error the body
 * set (lease_ended: what it found is persisted and returned); -1 roll back and fail. A body may run
 * several times (after a serialization failure): it starts by resetting its outputs. */
typedef int (*tx_body)(pgs *s, void *ctx, lp_err *e);

static const char *const TX_BEGIN[] = {NULL, SQL_BEGIN_WRITE, SQL_BEGIN_READ, "BEGIN"};

/* Runs body in a transaction of kind mode (TX_NONE: its statements run on their own; TX_PLAIN: READ
 * COMMITTED, each statement sees what committed before it), again after a serialization failure, a
 * deadlock or a concurrent insert of the same key, and once more after a reconnect. Call with the lock
 * held. Returns what the body returned (-1 also for a database error). */
static int run_tx(pgs *s, int mode, tx_body body, void *ctx, lp_err *e) {
    int reconnected = 0, uniques = 0;
    for (int attempt = 1;; attempt++) {
        memset(e, 0, sizeof *e);
        s->retry = s->unique = s->lost = 0;
        if (ensure_conn(s, &reconnected, e) != 0) return -1;
        int r = -1;
        if (mode == TX_NONE || run(s, TX_BEGIN[mode], NULL, e, "starting a transaction") >= 0) {
            r = body(s, ctx, e);
            if (r >= 0 && mode != TX_NONE) {
                lp_err ce = {0};
                PGresult *c = q(s, "COMMIT", NULL, &ce, "committing");
                if (c && strcmp(PQcmdStatus(c), "COMMIT") != 0) /* the transaction had failed */
                    lp_err_set(&ce, WIRE_INTERNAL, NULL, "database error while committing: rolled back");
                if (!c || ce.code) {
                    PQclear(c);
                    if (s->lost) {
                        lp_err_set(e, WIRE_INTERNAL, "retry; an idempotency key makes the retry safe",
                                   "lost the connection to PostgreSQL database %s while committing; the "
                                   "outcome is unknown",
                                   s->where);
                        return -1;
                    }
                    *e = ce;
                    r = -1;
                } else {
                    PQclear(c);
                }
            }
        }
        if (r >= 0) return r;
        if (mode != TX_NONE && !s->lost) PQclear(PQexec(s->conn, "ROLLBACK"));
        if (s->lost && !reconnected) continue; /* ensure_conn reconnects */
        if (s->unique && ++uniques <= MAX_UNIQUE_RETRIES) s->retry = 1;
        if (!s->retry) return -1;
        if (attempt >= MAX_ATTEMPTS) {
            size_t len = strlen(e->message);
            snprintf(e->message + len, sizeof e->message - len, " (gave up after %d attempts)", attempt);
            return -1;
        }
        lp_log(LP_LOG_DEBUG, "store: %s; running the transaction again (attempt %d)", e->message,
               attempt + 1);
        backoff(attempt);
    }
}

/* ---- operations ---- */
static void op_close(lp_store *base) {
    pgs *s = (pgs *)base;
    lp_sql_close(s->c.db);
    pthread_mutex_destroy(&s->c.mu);
    free(s);
}

/* PostgreSQL does its own housekeeping (autovacuum, checkpoints). */
static void op_maintain(lp_store *base) { (void)base; }

static const lp_store_ops PG_OPS = {
    .name = "postgresql",
    .close = op_close,
    .secret = lp_sqlstore_secret,
    .tenant_ensure = lp_sqlstore_tenant_ensure,
    .token_create = lp_sqlstore_token_create,
    .token_lookup = lp_sqlstore_token_lookup,
    .node_register = lp_sqlstore_node_register,
    .node_heartbeat = lp_sqlstore_node_heartbeat,
    .node_deregister = lp_sqlstore_node_deregister,
    .node_list = lp_sqlstore_node_list,
    .quote = lp_sqlstore_quote,
    .lease_grant = lp_sqlstore_lease_grant,
    .lease_get = lp_sqlstore_lease_get,
    .lease_list = lp_sqlstore_lease_list,
    .lease_extend = lp_sqlstore_lease_extend,
    .lease_renew = lp_sqlstore_lease_renew,
    .lease_end = lp_sqlstore_lease_end,
    .lease_fail_on_node = lp_sqlstore_lease_fail_on_node,
    .expire_due = lp_sqlstore_expire_due,
    .stats = lp_sqlstore_stats,
    .maintain = op_maintain,
};

/* Creates the schema (or checks it) under an advisory lock, so that brokers starting together on an
 * empty database do not trip over each other's CREATE statements. Runs at READ COMMITTED: what the
 * broker that held the lock before created is visible once the lock is ours. */
static int migrate_body(pgs *s, void *vc, lp_err *e) {
    (void)vc;
    if (run(s, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ")", NULL, e, "locking the schema") < 0) return -1;
    if (run(s, "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)", NULL, e,
            "creating the schema") < 0)
        return -1;
    pp p = {0};
    p_text(&p, "schema_version");
    PGresult *r = q(s, SQL_META_GET, &p, e, "reading the schema version");
    if (!r) return -1;
    long version = PQntuples(r) > 0 ? atol(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    if (version > SCHEMA_VERSION) {
        lp_err_set(e, WIRE_INTERNAL, "use a newer lepton-broker",
                   "database schema version %ld is newer than this broker's (%d)", version, SCHEMA_VERSION);
        return -1;
    }
    if (version == SCHEMA_VERSION) return 0;
    r = PQexec(s->conn, SCHEMA); /* several statements: the simple query protocol */
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        db_err(s, r, e, "creating the schema");
        PQclear(r);
        return -1;
    }
    PQclear(r);
    char v[16];
    snprintf(v, sizeof v, "%d", SCHEMA_VERSION);
    p_text(&p, v);
    static const char put[] =
        "INSERT INTO meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value";
    return run(s, put, &p, e, "recording the schema version") < 0 ? -1 : 0;
}

int lp_store_pg_open(const char *url, lp_store **out, lp_err *e) {
    *out = NULL;
    pgs *s = calloc(1, sizeof *s);
    if (!s) {
        lp_err_set(e, WIRE_INTERNAL, NULL, "out of memory");
        return -1;
    }
    s->c.base.ops = &PG_OPS;
    pthread_mutex_init(&s->c.mu, NULL);
    lp_store_url_redact(url, s->where, sizeof s->where);
    if (!(s->c.db = lp_sql_pg_open(url, e))) goto fail;
    s->conn = lp_sql_pg_handle(s->c.db);
    if (session_setup(s, e) != 0 || run_tx(s, TX_PLAIN, migrate_body, NULL, e) != 0) goto fail;
    *out = &s->c.base;
    return 0;
fail:
    lp_sql_close(s->c.db);
    pthread_mutex_destroy(&s->c.mu);
    free(s);
    return -1;
}
