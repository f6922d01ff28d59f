/* store_sqlite.c — the SQLite backend of store.h: schema, migrations and every domain operation.
 * One connection in WAL mode, serialized by a mutex; writes in BEGIN IMMEDIATE transactions; a
 * busy timeout for other processes (`lepton-broker token create` while the broker runs).
 *
 * A GPU row's lease_id column is the single source of truth for "who holds this GPU": a trigger
 * refuses to move a GPU from one lease to another, so a GPU can never be in two active leases.
 * Pools (a node's GPUs of one model and memory size) carry the free count and the price, indexed
 * so that matching reads a handful of rows whatever the fleet size. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "ops.h"
#include "metering.h"
#include "rand.h"
#include "store.h"
#include "store_common.h"
#include "wire.h"

/* 2: leases.keepalive_s and leases.renewed_ms (keepalive); 3: leases.seq (the order of insertion, as
 * PostgreSQL's schema has it, so that both order leases by the same column) */
#define SCHEMA_VERSION 3
#define MAX_STMTS 64

typedef struct sq {
    lp_sqlstore c;
    sqlite3 *db; /* c.db's connection */
    sqlite3 *ck; /* checkpoints only, so that requests never wait for an fsync */
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } cache[MAX_STMTS];
    int ncache;
} sq;

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tenants(name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tokens(hash TEXT PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants(name),"
    " is_node INTEGER NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS nodes(name TEXT PRIMARY KEY, owner TEXT NOT NULL, state TEXT NOT NULL,"
    " address TEXT NOT NULL, price REAL NOT NULL, registered_ms INTEGER NOT NULL, last_hb_ms INTEGER NOT "
    "NULL);"
    "CREATE INDEX IF NOT EXISTS nodes_hb ON nodes(state, last_hb_ms);"
    "CREATE TABLE IF NOT EXISTS gpus(node TEXT NOT NULL REFERENCES nodes(name), idx INTEGER NOT NULL,"
    " uuid TEXT NOT NULL UNIQUE, model TEXT NOT NULL, memory INTEGER NOT NULL,"
    " address TEXT NOT NULL DEFAULT '', lease_id TEXT,"
    " PRIMARY KEY(node, idx));"
    "CREATE INDEX IF NOT EXISTS gpus_lease ON gpus(lease_id) WHERE lease_id IS NOT NULL;"
    "CREATE TRIGGER IF NOT EXISTS gpus_one_lease BEFORE UPDATE OF lease_id ON gpus"
    " WHEN OLD.lease_id IS NOT NULL AND NEW.lease_id IS NOT NULL AND NEW.lease_id <> OLD.lease_id"
    " BEGIN SELECT RAISE(ABORT, 'GPU already belongs to an active lease'); END;"
    "CREATE TABLE IF NOT EXISTS pools(node TEXT NOT NULL, model TEXT NOT NULL, memory INTEGER NOT NULL,"
    " price REAL NOT NULL, ready INTEGER NOT NULL, total INTEGER NOT NULL, free INTEGER NOT NULL,"
    " PRIMARY KEY(node, model, memory));"
    "CREATE INDEX IF NOT EXISTS pools_match ON pools(ready, price, node, model, memory, free);"
    "CREATE TABLE IF NOT EXISTS leases(id TEXT PRIMARY KEY, tenant TEXT NOT NULL, state INTEGER NOT NULL,"
    " end_reason TEXT NOT NULL DEFAULT '', node TEXT NOT NULL, node_address TEXT NOT NULL,"
    " gpu_model TEXT NOT NULL, gpu_count INTEGER NOT NULL, gpu_memory INTEGER NOT NULL, gpus TEXT NOT NULL,"
    " price REAL NOT NULL, max_price REAL NOT NULL, max_cost REAL NOT NULL, ttl_s INTEGER NOT NULL,"
    " labels TEXT NOT NULL, idem_key TEXT, created_ms INTEGER NOT NULL, started_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL, cap_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, ended_ms INTEGER,"
    " billed_s INTEGER NOT NULL DEFAULT 0, gpu_seconds INTEGER NOT NULL DEFAULT 0, cost REAL NOT NULL "
    "DEFAULT 0, keepalive_s INTEGER NOT NULL DEFAULT 0, renewed_ms INTEGER NOT NULL DEFAULT 0, seq INTEGER);"
    "CREATE TRIGGER IF NOT EXISTS leases_seq AFTER INSERT ON leases WHEN NEW.seq IS NULL"
    " BEGIN UPDATE leases SET seq = NEW.rowid WHERE rowid = NEW.rowid; END;"
    "CREATE UNIQUE INDEX IF NOT EXISTS leases_idem ON leases(tenant, idem_key) WHERE idem_key IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS leases_due ON leases(end_ms) WHERE state = 1;"
    "CREATE INDEX IF NOT EXISTS leases_node_active ON leases(node) WHERE state = 1;"
    "CREATE INDEX IF NOT EXISTS leases_tenant ON leases(tenant, created_ms);"
    "CREATE INDEX IF NOT EXISTS leases_state ON leases(state);"
    "CREATE TABLE IF NOT EXISTS lease_extends(lease TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY(lease, "
    "key));";

#define LEASE_COLS                                                                                           \
    "id, tenant, state, end_reason, node, node_address, gpu_model, gpu_count, gpu_memory, gpus, price,"      \
    " max_price, max_cost, ttl_s, labels, idem_key, created_ms, started_ms, expires_ms, cap_ms, ended_ms,"   \
    " keepalive_s, renewed_ms"

/* Schema version 1 → 2 (run on a database of version 1 only). */
static const char MIGRATE_1_TO_2[] = "ALTER TABLE leases ADD COLUMN keepalive_s INTEGER NOT NULL DEFAULT 0;"
                                     "ALTER TABLE leases ADD COLUMN renewed_ms INTEGER NOT NULL DEFAULT 0;";
/* Schema version 2 → 3 (run on a database of version 1 or 2). */
static const char MIGRATE_2_TO_3[] = "ALTER TABLE leases ADD COLUMN seq INTEGER; UPDATE leases SET seq = rowid;";

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_NODE_STILL_SILENT[] =
    "SELECT 1 FROM nodes WHERE name = ?1 AND state = 'ready' AND last_hb_ms < ?2";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_NODE_STATE[] = "UPDATE nodes SET state = ?2 WHERE name = ?1";
static const char SQL_NODE_SILENT[] =
    "SELECT name, last_hb_ms FROM nodes WHERE state = 'ready' AND last_hb_ms < ?1 LIMIT 1000";
static const char SQL_GPUS_RELEASE[] = "UPDATE gpus SET lease_id = NULL WHERE lease_id = ?1";
static const char SQL_POOLS_REFRESH[] =
    "UPDATE pools SET free = (SELECT count(*) FROM gpus g WHERE g.node = pools.node AND g.model = pools.model"
    " AND g.memory = pools.memory AND g.lease_id IS NULL),"
    " ready = (SELECT state = 'ready' FROM nodes WHERE name = pools.node),"
    " price = (SELECT price FROM nodes WHERE name = pools.node) WHERE node = ?1";
static const char SQL_LEASE_GET[] = "SELECT " LEASE_COLS " FROM leases WHERE id = ?1";
static const char SQL_LEASES_NODE_ACTIVE[] =
    "SELECT " LEASE_COLS " FROM leases WHERE node = ?1 AND state = 1 ORDER BY created_ms";
static const char SQL_LEASES_DUE[] = "SELECT id FROM leases WHERE state = 1 AND end_ms <= ?1 LIMIT 1000";
static const char SQL_LEASE_END[] =
    "UPDATE leases SET state = ?2, end_reason = ?3, ended_ms = ?4, billed_s = ?5, gpu_seconds = ?6, cost = ?7"
    " WHERE id = ?1 AND state = 1";
static const char SQL_STATS_LEASES[] = "SELECT state, count(*) FROM leases GROUP BY state";
static const char SQL_STATS_NODES[] = "SELECT state, count(*) FROM nodes GROUP BY state";
static const char SQL_STATS_GPUS[] =
    "SELECT coalesce(sum(total), 0), coalesce(sum(free), 0) FROM pools WHERE ready = 1";
static const char SQL_STATS_LEASED[] = "SELECT count(*) FROM gpus WHERE lease_id IS NOT NULL";

/* ---- plumbing ---- */
static void db_err(sq *s, lp_err *e, const char *what) {
    lp_err_set(e, WIRE_INTERNAL, NULL, "database error while %s: %s", what, sqlite3_errmsg(s->db));
}

static sqlite3_stmt *prep(sq *s, const char *sql, lp_err *e) {
    for (int i = 0; i < s->ncache; i++)
        if (s->cache[i].sql == sql) {
            sqlite3_reset(s->cache[i].st);
            sqlite3_clear_bindings(s->cache[i].st);
            return s->cache[i].st;
        }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        db_err(s, e, "preparing a statement");
        return NULL;
    }
    if (s->ncache < MAX_STMTS) {
        s->cache[s->ncache].sql = sql;
        s->cache[s->ncache].st = st;
        s->ncache++;
    }
    return st;
}

/* Runs a statement without results. Returns 0 or -1. */
static int run(sq *s, sqlite3_stmt *st, lp_err *e, const char *what) {
    if (!st) return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        db_err(s, e, what);
        return -1;
    }
    return 0;
}

static int simple(sq *s, const char *sql, lp_err *e) { return run(s, prep(s, sql, e), e, sql); }
static int begin(sq *s, lp_err *e) { return simple(s, SQL_BEGIN, e); }
static int commit(sq *s, lp_err *e) { return simple(s, SQL_COMMIT, e); }
static void rollback(sq *s) {
    if (!sqlite3_get_autocommit(s->db)) {
        lp_err ignored;
        simple(s, SQL_ROLLBACK, &ignored);
    }
}

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
    sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}
static void col_text(sqlite3_stmt *st, int i, char *out, size_t n) {
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, n, "%s", t ? (const char *)t : "");
}

#define LOCK(s) pthread_mutex_lock(&(s)->c.mu)
#define UNLOCK(s) pthread_mutex_unlock(&(s)->c.mu)

/* ---- rows ---- */
static int row_to_lease(sqlite3_stmt *st, lp_lease *l) {
    memset(l, 0, sizeof *l);
    col_text(st, 0, l->id, sizeof l->id);
    col_text(st, 1, l->tenant, sizeof l->tenant);
    l->state = sqlite3_column_int(st, 2);
    col_text(st, 3, l->end_reason, sizeof l->end_reason);
    col_text(st, 4, l->node, sizeof l->node);
    col_text(st, 5, l->node_address, sizeof l->node_address);
    col_text(st, 6, l->gpu_model, sizeof l->gpu_model);
    l->gpu_count = (uint32_t)sqlite3_column_int64(st, 7);
    l->gpu_memory = (uint64_t)sqlite3_column_int64(st, 8);
    const unsigned char *g = sqlite3_column_text(st, 9);
    l->price = sqlite3_column_double(st, 10);
    l->max_price = sqlite3_column_double(st, 11);
    l->max_cost = sqlite3_column_double(st, 12);
    l->ttl_s = (uint32_t)sqlite3_column_int64(st, 13);
    col_text(st, 14, l->labels, sizeof l->labels);
    col_text(st, 15, l->idem_key, sizeof l->idem_key);
    l->created_ms = sqlite3_column_int64(st, 16);
    l->started_ms = sqlite3_column_int64(st, 17);
    l->expires_ms = sqlite3_column_int64(st, 18);
    l->cap_ms = sqlite3_column_int64(st, 19);
    l->ended_ms = sqlite3_column_int64(st, 20);
    l->keepalive_s = (uint32_t)sqlite3_column_int64(st, 21);
    l->renewed_ms = sqlite3_column_int64(st, 22);
    return lp_lease_gpus_parse(g ? (const char *)g : "[]", l);
}

/* Loads one lease by a prepared statement whose parameters are bound. 1 found, 0 not, -1 error. */
static int load_lease(sq *s, sqlite3_stmt *st, lp_lease *out, lp_err *e) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        db_err(s, e, "reading a lease");
        sqlite3_reset(st);
        return -1;
    }
    int ok = row_to_lease(st, out);
    sqlite3_reset(st);
    if (ok != 0) {
        lp_lease_clear(out);
        lp_err_set(e, WIRE_INTERNAL, NULL, "lease row is corrupt");
        return -1;
    }
    return 1;
}

static int load_leases(sq *s, sqlite3_stmt *st, int64_t now_ms, int want_state, lp_lease_list *out,
                       lp_err *e) {
    size_t cap = 0;
    out->n = 0;
    out->v = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            lp_lease *nv = realloc(out->v, nc * sizeof *nv);
            if (!nv) goto oom;
            out->v = nv;
            cap = nc;
        }
        if (row_to_lease(st, &out->v[out->n]) != 0) {
            lp_lease_clear(&out->v[out->n]);
            goto oom;
        }
        lp_lease_settle_view(&out->v[out->n], now_ms);
        if (want_state >= 0 && out->v[out->n].state != want_state) {
            lp_lease_clear(&out->v[out->n]);
            continue;
        }
        out->n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        db_err(s, e, "listing leases");
        lp_lease_list_clear(out);
        return -1;
    }
    return 0;
oom:
    sqlite3_reset(st);
    lp_lease_list_clear(out);
    lp_err_set(e, WIRE_INTERNAL, NULL, "out of memory listing leases");
    return -1;
}

static int refresh_pools(sq *s, const char *node, lp_err *e) {
    sqlite3_stmt *st = prep(s, SQL_POOLS_REFRESH, e);
    if (!st) return -1;
    bind_text(st, 1, node);
    return run(s, st, e, "updating GPU pools");
}

/* Ends an active lease inside the caller's transaction and frees its GPUs. */
static int end_lease_tx(sq *s, const lp_lease *l, int state, const char *reason, int64_t ended_ms,
                        lp_event_list *ev, lp_err *e) {
    if (ended_ms < l->started_ms) ended_ms = l->started_ms;
    lp_bill b = lp_meter(l->started_ms, ended_ms, l->gpu_count, l->price, l->max_cost);
    sqlite3_stmt *st = prep(s, SQL_LEASE_END, e);
    if (!st) return -1;
    bind_text(st, 1, l->id);
    sqlite3_bind_int(st, 2, state);
    bind_text(st, 3, reason);
    sqlite3_bind_int64(st, 4, ended_ms);
    sqlite3_bind_int64(st, 5, b.billed_s);
    sqlite3_bind_int64(st, 6, b.gpu_seconds);
    sqlite3_bind_double(st, 7, b.cost);
    if (run(s, st, e, "ending a lease") != 0) return -1;
    st = prep(s, SQL_GPUS_RELEASE, e);
    if (!st) return -1;
    bind_text(st, 1, l->id);
    if (run(s, st, e, "releasing GPUs") != 0) return -1;
    if (refresh_pools(s, l->node, e) != 0) return -1;
    lp_event ee;
    lp_event_lease_ended(&ee, l, state, reason);
    if (lp_event_list_push(ev, &ee) != 0) {
        lp_err_set(e, WIRE_INTERNAL, NULL, "out of memory");
        return -1;
    }
    return 0;
}

/* Fails every active lease of node (inside the caller's transaction). */
static int fail_node_leases_tx(sq *s, const char *node, int64_t ended_ms, const char *reason,
                               lp_event_list *ev, lp_err *e) {
    sqlite3_stmt *st = prep(s, SQL_LEASES_NODE_ACTIVE, e);
    if (!st) return -1;
    bind_text(st, 1, node);
    lp_lease_list ll;
    if (load_leases(s, st, INT64_MIN, -1, &ll, e) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < ll.n && rc == 0; i++) {
        int64_t end = ended_ms, due = lp_lease_end_ms(&ll.v[i]);
        if (end > due) end = due;
        rc = end_lease_tx(s, &ll.v[i], LS_FAILED, reason, end, ev, e);
    }
    lp_lease_list_clear(&ll);
    return rc;
}

/* ---- operations ---- */
static void op_close(lp_store *base) {
    sq *s = (sq *)base;
    for (int i = 0; i < s->ncache; i++)
        sqlite3_finalize(s->cache[i].st);
    lp_sql_close(s->c.db);
    sqlite3_close(s->ck);
    pthread_mutex_destroy(&s->c.mu);
    free(s);
}

static void op_maintain(lp_store *base) {
    sq *s = (sq *)base;
    if (s->ck) sqlite3_wal_checkpoint_v2(s->ck, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

/* Loads a lease of tenant inside the lock: 0 found, -1 with not_found (also for another tenant's)
 * or internal. */
static int find_lease(sq *s, const char *tenant, const char *id, lp_lease *out, lp_err *e) {
    sqlite3_stmt *st = prep(s, SQL_LEASE_GET, e);
    if (!st) return -1;
    bind_text(st, 1, id);
    int found = load_lease(s, st, out, e);
    if (found < 0) return -1;
    if (!found) {
        lp_err_lease_not_found(e, id);
        return -1;
    }
    if (tenant && strcmp(tenant, out->tenant)) { /* answered as if it did not exist */
        lp_lease_clear(out);
        lp_err_lease_not_found(e, id);
        return -1;
    }
    return 0;
}

static int op_expire_due(lp_store *base, int64_t now_ms, int64_t node_timeout_ms, lp_event_list *events,
                         lp_err *e) {
    sq *s = (sq *)base;
    char(*due)[LP_ID_MAX] = NULL;
    struct silent {
        char name[LP_NAME_MAX + 1];
        int64_t last;
    } *lost = NULL;
    size_t ndue = 0, nlost = 0;
    LOCK(s);
    int rc = -1;
    sqlite3_stmt *st = prep(s, SQL_LEASES_DUE, e);
    if (!st) goto done;
    sqlite3_bind_int64(st, 1, now_ms);
    while (sqlite3_step(st) == SQLITE_ROW) {
        void *nv = realloc(due, (ndue + 1) * sizeof *due);
        if (!nv) break;
        due = nv;
        col_text(st, 0, due[ndue++], LP_ID_MAX);
    }
    sqlite3_reset(st);
    if (node_timeout_ms > 0) {
        st = prep(s, SQL_NODE_SILENT, e);
        if (!st) goto done;
        sqlite3_bind_int64(st, 1, now_ms - node_timeout_ms);
        while (sqlite3_step(st) == SQLITE_ROW) {
            void *nv = realloc(lost, (nlost + 1) * sizeof *lost);
            if (!nv) break;
            lost = nv;
            col_text(st, 0, lost[nlost].name, sizeof lost[nlost].name);
            lost[nlost++].last = sqlite3_column_int64(st, 1);
        }
        sqlite3_reset(st);
    }
    if (!ndue && !nlost) {
        rc = 0;
        goto done;
    }
    if (begin(s, e) != 0) goto done;
    for (size_t i = 0; i < ndue; i++) {
        lp_lease l;
        if (find_lease(s, NULL, due[i], &l, e) != 0) goto fail;
        int stt;
        int64_t end;
        char reason[256];
        int r = 0;
        if (lp_lease_due(&l, now_ms, &stt, &end, reason))
            r = end_lease_tx(s, &l, stt, reason, end, events, e);
        lp_lease_clear(&l);
        if (r != 0) goto fail;
    }
    for (size_t i = 0; i < nlost; i++) {
        /* Read before the write lock: another process sharing the file may have reaped the node,
         * or it may have sent a heartbeat, meanwhile. */
        st = prep(s, SQL_NODE_STILL_SILENT, e);
        if (!st) goto fail;
        bind_text(st, 1, lost[i].name);
        sqlite3_bind_int64(st, 2, now_ms - node_timeout_ms);
        int still = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_reset(st);
        if (!still) continue;
        char reason[256];
        snprintf(reason, sizeof reason, "node %s lost (no heartbeat for %lld s)", lost[i].name,
                 (long long)(node_timeout_ms / 1000));
        if (fail_node_leases_tx(s, lost[i].name, lost[i].last, reason, events, e) != 0) goto fail;
        st = prep(s, SQL_NODE_STATE, e);
        if (!st) goto fail;
        bind_text(st, 1, lost[i].name);
        bind_text(st, 2, "lost");
        if (run(s, st, e, "marking a node lost") != 0) goto fail;
        if (refresh_pools(s, lost[i].name, e) != 0) goto fail;
        lp_event ev;
        memset(&ev, 0, sizeof ev);
        ev.is_node = 1;
        snprintf(ev.node, sizeof ev.node, "%s", lost[i].name);
        snprintf(ev.reason, sizeof ev.reason, "%s", reason);
        lp_event_list_push(events, &ev);
    }
    if (commit(s, e) != 0) goto fail;
    rc = 0;
    goto done;
fail:
    rollback(s);
done:
    UNLOCK(s);
    free(due);
    free(lost);
    return rc;
}

static int op_stats(lp_store *base, lp_store_stats *out, lp_err *e) {
    sq *s = (sq *)base;
    memset(out, 0, sizeof *out);
    LOCK(s);
    int rc = -1;
    sqlite3_stmt *st = prep(s, SQL_STATS_LEASES, e);
    if (!st) goto done;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int k = sqlite3_column_int(st, 0);
        if (k >= 0 && k < 6) out->leases_by_state[k] = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    st = prep(s, SQL_STATS_NODES, e);
    if (!st) goto done;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        int64_t v = sqlite3_column_int64(st, 1);
        if (!strcmp(k, "ready"))
            out->nodes_ready = v;
        else if (!strcmp(k, "lost"))
            out->nodes_lost = v;
        else
            out->nodes_gone += v;
    }
    sqlite3_reset(st);
    st = prep(s, SQL_STATS_GPUS, e);
    if (!st) goto done;
    if (sqlite3_step(st) == SQLITE_ROW) {
        out->gpus_total = sqlite3_column_int64(st, 0);
        out->gpus_free = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    st = prep(s, SQL_STATS_LEASED, e);
    if (!st) goto done;
    if (sqlite3_step(st) == SQLITE_ROW) out->gpus_leased = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    rc = 0;
done:
    UNLOCK(s);
    return rc;
}

static const lp_store_ops SQLITE_OPS = {
    .name = "sqlite",
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
    .expire_due = op_expire_due,
    .stats = op_stats,
    .maintain = op_maintain,
};

/* 1 when the leases table has its seq column. */
static int has_seq(sqlite3 *db) {
    sqlite3_stmt *st = NULL;
    int has = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('leases') WHERE name = 'seq'", -1, &st,
                                 NULL) == SQLITE_OK &&
              sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return has;
}

static int migrate(sq *s, lp_err *e) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) goto fail;
    int version = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(s->db, "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL)",
                     NULL, NULL, &msg) != SQLITE_OK)
        goto fail;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st, NULL) !=
        SQLITE_OK)
        goto fail;
    if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > SCHEMA_VERSION) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        lp_err_set(e, WIRE_INTERNAL, "use a newer lepton-broker",
                   "database schema version %d is newer than this broker's (%d)", version, SCHEMA_VERSION);
        return -1;
    }
    if (version == 1 && sqlite3_exec(s->db, MIGRATE_1_TO_2, NULL, NULL, &msg) != SQLITE_OK) goto fail;
    if (version >= 1 && version < 3 && !has_seq(s->db) &&
        sqlite3_exec(s->db, MIGRATE_2_TO_3, NULL, NULL, &msg) != SQLITE_OK)
        goto fail;
    if (sqlite3_exec(s->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) goto fail;
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', %d)",
             SCHEMA_VERSION);
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) goto fail;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) goto fail;
    return 0;
fail:
    lp_err_set(e, WIRE_INTERNAL, NULL, "cannot create the database schema: %s",
               msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* 1 for a path SQLite opens as a plain file (not ":memory:", "" or a file: URI). */
static int plain_file(const char *path) {
    return *path && strcmp(path, ":memory:") && strncmp(path, "file:", 5);
}

/* The database holds the token-signing secret and the token hashes: it and its -wal and -shm files
 * are for the broker's user only. Creates the database file 0600 when it does not exist (SQLite
 * gives the -wal and -shm files the database's mode; no process-wide umask is changed, which other
 * threads would see), and refuses one that group or others may access. */
static int check_private(const char *path, lp_err *e) {
    if (!plain_file(path)) return 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        lp_err_set(e, WIRE_INTERNAL, "check the --db path and its directory's permissions",
                   "cannot open database %s: %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char f[4200];
        snprintf(f, sizeof f, "%s%s", path, suffix[i]);
        struct stat st;
        if (stat(f, &st) != 0) continue; /* no -wal or -shm yet */
        if (st.st_mode & 0077) {
            lp_err_set(e, WIRE_INTERNAL, NULL,
                       "database file %s may be read by group or others (mode %04o); it holds the broker's "
                       "token-signing secret, so the broker refuses it: run chmod 600 %s",
                       f, (unsigned)(st.st_mode & 07777), f);
            return -1;
        }
    }
    return 0;
}

int lp_store_sqlite_open(const char *path, lp_store **out, lp_err *e) {
    *out = NULL;
    if (check_private(path, e) != 0) return -1;
    sq *s = calloc(1, sizeof *s);
    if (!s) {
        lp_err_set(e, WIRE_INTERNAL, NULL, "out of memory");
        return -1;
    }
    s->c.base.ops = &SQLITE_OPS;
    pthread_mutex_init(&s->c.mu, NULL);
    if (!(s->c.db = lp_sql_sqlite_open(path, e))) goto fail;
    s->db = lp_sql_sqlite_handle(s->c.db);
    char *msg = NULL;
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        lp_err_set(e, WIRE_INTERNAL, NULL, "cannot configure database %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        goto fail;
    }
    if (migrate(s, e) != 0) goto fail;
    /* checkpoints move to the second connection (the reaper calls maintain); if it cannot be
     * opened, SQLite's automatic checkpoints stay on */
    if (sqlite3_open_v2(path, &s->ck, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(s->ck, 1000);
        sqlite3_exec(s->db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL);
    } else {
        sqlite3_close(s->ck);
        s->ck = NULL;
    }
    *out = &s->c.base;
    return 0;
fail:
    lp_sql_close(s->c.db);
    sqlite3_close(s->ck);
    pthread_mutex_destroy(&s->c.mu);
    free(s);
    return -1;
}
