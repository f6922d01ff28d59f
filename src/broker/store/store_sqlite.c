/* store_sqlite.c — the SQLite backend of store.h: the schema and its migrations, the database file's
 * permissions, WAL mode and checkpoints off the request path. The operations are ops.c's, over the
 * SQLite driver (sql_sqlite.c): one connection, writes in BEGIN IMMEDIATE transactions, a busy
 * timeout for other processes (`lepton-broker token create` while the broker runs).
 *
 * The schema is SQLite's own (types, the trigger's syntax); its tables and columns are those of
 * store_pg.c, which ops.c's statements need. A GPU row's lease_id column is the single source of truth
 * for "who holds this GPU": a trigger refuses to move a GPU from one lease to another. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops.h"
#include "store.h"
#include "wire.h"

/* 2: leases.keepalive_s and leases.renewed_ms (keepalive); 3: leases.seq (the order of insertion, as
 * PostgreSQL's schema has it, so that both order leases by the same column); 4: tokens.id,
 * tokens.expires_ms and tokens.revoked_ms (tokens an operator lists, revokes and lets expire) */
#define SCHEMA_VERSION 4

typedef struct sq {
    lp_sqlstore c;
    sqlite3 *ck; /* checkpoints only, so that requests never wait for an fsync */
} sq;

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tenants(name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tokens(hash TEXT PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants(name),"
    " is_node INTEGER NOT NULL, created_ms INTEGER NOT NULL, id TEXT, expires_ms INTEGER, revoked_ms "
    "INTEGER);"
    "CREATE UNIQUE INDEX IF NOT EXISTS tokens_id ON tokens(id);"
    "CREATE INDEX IF NOT EXISTS tokens_tenant ON tokens(tenant, created_ms);"
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

/* Schema version 1 → 2 (run on a database of version 1 only). */
static const char MIGRATE_1_TO_2[] = "ALTER TABLE leases ADD COLUMN keepalive_s INTEGER NOT NULL DEFAULT 0;"
                                     "ALTER TABLE leases ADD COLUMN renewed_ms INTEGER NOT NULL DEFAULT 0;";
/* Schema version 2 → 3 (run on a database of version 1 or 2). */
static const char MIGRATE_2_TO_3[] =
    "ALTER TABLE leases ADD COLUMN seq INTEGER; UPDATE leases SET seq = rowid;";
/* Schema version 3 → 4 (run on a database of version 1 to 3): a token's id is derived from its hash
 * (lp_token_id), so tokens created before get the id they would get now. */
static const char MIGRATE_3_TO_4[] =
    "ALTER TABLE tokens ADD COLUMN id TEXT; ALTER TABLE tokens ADD COLUMN expires_ms INTEGER;"
    " ALTER TABLE tokens ADD COLUMN revoked_ms INTEGER; UPDATE tokens SET id = 'tk_' || substr(hash, 1, 16);";

/* Brings the schema to SCHEMA_VERSION, inside one write transaction. */
static int migrate_body(lp_sql *db, void *vc, lp_err *e) {
    (void)vc;
    static const char meta[] = "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL)",
                      get[] = "SELECT value FROM meta WHERE key = 'schema_version'",
                      has_seq[] = "SELECT 1 FROM pragma_table_info('leases') WHERE name = 'seq'",
                      has_token_id[] = "SELECT 1 FROM pragma_table_info('tokens') WHERE name = 'id'",
                      put[] = "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?1)";
    const char *what = "creating the database schema";
    if (db->drv->exec(db, meta, what, e) != 0) return -1;
    int64_t version = 0, seq = 0, token_id = 0;
    if (lp_sql_one_i64(db, get, NULL, &version, what, e) < 0) return -1;
    if (version > SCHEMA_VERSION) {
        lp_err_set(e, WIRE_INTERNAL, "use a newer lepton-broker",
                   "database schema version %lld is newer than this broker's (%d)", (long long)version,
                   SCHEMA_VERSION);
        return -1;
    }
    if (version == 1 && db->drv->exec(db, MIGRATE_1_TO_2, what, e) != 0) return -1;
    if (version >= 1 && version < 3) { /* the seq column, unless a broker of version 3 added it already */
        int r = lp_sql_one_i64(db, has_seq, NULL, &seq, what, e);
        if (r < 0 || (r == 0 && db->drv->exec(db, MIGRATE_2_TO_3, what, e) != 0)) return -1;
    }
    if (version >= 1 && version < 4) {
        int r = lp_sql_one_i64(db, has_token_id, NULL, &token_id, what, e);
        if (r < 0 || (r == 0 && db->drv->exec(db, MIGRATE_3_TO_4, what, e) != 0)) return -1;
    }
    if (db->drv->exec(db, SCHEMA, what, e) != 0) return -1;
    lp_sql_args a = {0};
    lp_sql_arg_i64(&a, SCHEMA_VERSION);
    return lp_sql_run(db, put, &a, what, e) < 0 ? -1 : 0;
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

static void maintain(lp_sqlstore *base) {
    sq *s = (sq *)base;
    if (s->ck) sqlite3_wal_checkpoint_v2(s->ck, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

static void release(lp_sqlstore *base) { sqlite3_close(((sq *)base)->ck); }

int lp_store_sqlite_open(const char *path, lp_store **out, lp_err *e) {
    *out = NULL;
    if (check_private(path, e) != 0) return -1;
    lp_sql *db = lp_sql_sqlite_open(path, e);
    sq *s = db ? (sq *)lp_sqlstore_new(db, sizeof *s, e) : NULL;
    if (!s) return -1;
    s->c.maintain = maintain;
    s->c.release = release;
    if (db->drv->exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                      "configuring the database", e) != 0 ||
        lp_sql_transact(db, LP_SQL_TX_WRITE, migrate_body, NULL, e) != 0)
        goto fail;
    /* checkpoints move to the second connection (the reaper calls maintain); if it cannot be
     * opened, SQLite's automatic checkpoints stay on */
    if (sqlite3_open_v2(path, &s->ck, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(s->ck, 1000);
        lp_err ignored;
        db->drv->exec(db, "PRAGMA wal_autocheckpoint=0", "configuring the database", &ignored);
    } else {
        sqlite3_close(s->ck);
        s->ck = NULL;
    }
    *out = &s->c.base;
    return 0;
fail:
    lp_store_close(&s->c.base);
    return -1;
}
