/* store_pg.c — the PostgreSQL backend of store.h (libpq), for several brokers sharing one database: the
 * schema and its migration. The operations are ops.c's, over the PostgreSQL driver (sql_pg.c).
 *
 * Every operation that writes runs in one SERIALIZABLE transaction, so whatever other brokers do at
 * the same time, the outcome is that of some serial order: a GPU cannot end up in two active leases,
 * an idempotency key grants (or extends) once, and a lease that several reapers end at once is ended
 * and billed once. PostgreSQL reports the interleavings it cannot serialize as serialization failures
 * or deadlocks; the transaction is then run again (sql.c's lp_sql_transact).
 *
 * The schema is PostgreSQL's own (types, collations, the trigger's function); its tables and columns
 * are those of store_sqlite.c, which ops.c's statements need. A GPU row's lease_id column is the
 * single source of truth for "who holds this GPU"; a trigger refuses to move a GPU from one lease to
 * another, as in the SQLite schema. */
#include <stdio.h>

#include "ops.h"
#include "store.h"
#include "wire.h"

/* 2: leases.keepalive_s and leases.renewed_ms (keepalive; added to a version-1 database); 3: the same
 * schema (SQLite's version 3 added the seq column PostgreSQL's leases always had); 4: tokens.id,
 * tokens.expires_ms and tokens.revoked_ms (added to an older database; a token's id is derived from
 * its hash, lp_token_id, so tokens created before get the id they would get now) */
#define SCHEMA_VERSION 4
#define SCHEMA_LOCK "7776500447" /* pg_advisory_xact_lock key taken while creating the schema */

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS tenants(name TEXT COLLATE \"C\" PRIMARY KEY, created_ms BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tokens(hash TEXT PRIMARY KEY, tenant TEXT COLLATE \"C\" NOT NULL"
    " REFERENCES tenants(name), is_node INTEGER NOT NULL, created_ms BIGINT NOT NULL);"
    "ALTER TABLE tokens ADD COLUMN IF NOT EXISTS id TEXT COLLATE \"C\";"
    "ALTER TABLE tokens ADD COLUMN IF NOT EXISTS expires_ms BIGINT;"
    "ALTER TABLE tokens ADD COLUMN IF NOT EXISTS revoked_ms BIGINT;"
    "UPDATE tokens SET id = 'tk_' || substr(hash, 1, 16) WHERE id IS NULL;"
    "CREATE UNIQUE INDEX IF NOT EXISTS tokens_id ON tokens(id);"
    "CREATE INDEX IF NOT EXISTS tokens_tenant ON tokens(tenant, created_ms);"
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

/* Creates the schema (or checks it) under an advisory lock, so that brokers starting together on an
 * empty database do not trip over each other's CREATE statements. Runs at READ COMMITTED: what the
 * broker that held the lock before created is visible once the lock is ours. */
static int migrate_body(lp_sql *db, void *vc, lp_err *e) {
    (void)vc;
    static const char lock[] = "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ")",
                      meta[] = "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                      get[] = "SELECT CAST(value AS BIGINT) FROM meta WHERE key = ?1",
                      put[] = "INSERT INTO meta(key, value) VALUES (?1, ?2)"
                              " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value";
    if (lp_sql_run(db, lock, NULL, "locking the schema", e) < 0) return -1;
    if (lp_sql_run(db, meta, NULL, "creating the schema", e) < 0) return -1;
    lp_sql_args a = {0};
    lp_sql_arg_text(&a, "schema_version");
    int64_t version = 0;
    if (lp_sql_one_i64(db, get, &a, &version, "reading the schema version", e) < 0) return -1;
    if (version > SCHEMA_VERSION) {
        lp_err_set(e, WIRE_INTERNAL, "use a newer lepton-broker",
                   "database schema version %lld is newer than this broker's (%d)", (long long)version,
                   SCHEMA_VERSION);
        return -1;
    }
    if (version == SCHEMA_VERSION) return 0;
    if (db->drv->exec(db, SCHEMA, "creating the schema", e) != 0) return -1;
    char v[16];
    snprintf(v, sizeof v, "%d", SCHEMA_VERSION);
    lp_sql_arg_text(&a, v);
    return lp_sql_run(db, put, &a, "recording the schema version", e) < 0 ? -1 : 0;
}

int lp_store_pg_open(const char *url, lp_store **out, lp_err *e) {
    *out = NULL;
    lp_sql *db = lp_sql_pg_open(url, e);
    lp_sqlstore *s = db ? lp_sqlstore_new(db, sizeof *s, e) : NULL;
    if (!s) return -1;
    if (lp_sql_transact(db, LP_SQL_TX_PLAIN, migrate_body, NULL, e) != 0) {
        lp_store_close(&s->base);
        return -1;
    }
    *out = &s->base;
    return 0;
}
