/* ops.c — every operation of store.h, written once over the SQL driver (sql.h), for SQLite and
 * PostgreSQL alike. The rules the operations follow (who may act, billing, due times, matching,
 * errors) are in lease/; what is here is which rows they read and write, in which transaction.
 *
 * One transaction style: an operation is a body that lp_sql_transact runs in a transaction (WRITE:
 * serializable, SQLite's BEGIN IMMEDIATE; READ: a read-only snapshot; NONE: one statement on its own),
 * again when the database could not serialize it. A body resets its outputs first, as it may run more
 * than once. Bodies return 0 (commit), 1 (commit, but the operation fails with the error the body set:
 * lease_ended with the lease as it is) or -1 (roll back). One connection per store, serialized by the
 * store's mutex.
 *
 * A GPU row's lease_id column is the single source of truth for "who holds this GPU" (a trigger in
 * either schema refuses to move a GPU from one lease to another). Pools (a node's GPUs of one model and
 * memory size) carry the free count and the price, indexed so that matching reads a handful of rows
 * whatever the fleet size. */
#include "ops.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "match.h"
#include "metering.h"
#include "rand.h"
#include "rules.h"
#include "wire.h"

/* ---- statements (one dialect: ?N parameters, strpos, collation "C"; see sql.h) ---- */
#define LEASE_COLS                                                                                           \
    "id, tenant, state, end_reason, node, node_address, gpu_model, gpu_count, gpu_memory, gpus, price,"      \
    " max_price, max_cost, ttl_s, labels, idem_key, created_ms, started_ms, expires_ms, cap_ms, ended_ms,"   \
    " keepalive_s, renewed_ms"
#define NODE_COLS "name, owner, state, address, price, registered_ms, last_hb_ms"

static const char SQL_META_GET[] = "SELECT value FROM meta WHERE key = ?1";
static const char SQL_META_PUT[] =
    "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING";
static const char SQL_TENANT_ENSURE[] =
    "INSERT INTO tenants(name, created_ms) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING";
static const char SQL_TOKEN_PUT[] = "INSERT INTO tokens(hash, tenant, is_node, created_ms, id, expires_ms)"
                                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_TOKEN_GET[] = "SELECT tenant, is_node, id, coalesce(expires_ms, 0), "
                                    "coalesce(revoked_ms, 0) FROM tokens WHERE hash = ?1";
#define TOKEN_COLS "id, tenant, is_node, created_ms, coalesce(expires_ms, 0), coalesce(revoked_ms, 0)"
static const char SQL_TOKENS_ALL[] = "SELECT " TOKEN_COLS " FROM tokens ORDER BY created_ms, id";
static const char SQL_TOKENS_TENANT[] =
    "SELECT " TOKEN_COLS " FROM tokens WHERE tenant = ?1 ORDER BY created_ms, id";
static const char SQL_TOKEN_BY_ID[] = "SELECT " TOKEN_COLS " FROM tokens WHERE id = ?1";
static const char SQL_TOKEN_REVOKE[] =
    "UPDATE tokens SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL";
static const char SQL_NODE_GET[] = "SELECT " NODE_COLS " FROM nodes WHERE name = ?1";
static const char SQL_NODE_ALL[] = "SELECT " NODE_COLS " FROM nodes ORDER BY name";
static const char SQL_NODE_INSERT[] = "INSERT INTO nodes(name, owner, state, address, price, registered_ms, "
                                      "last_hb_ms) VALUES (?1, ?2, 'ready', ?3, ?4, ?5, ?5)";
static const char SQL_NODE_UPDATE[] =
    "UPDATE nodes SET address = ?2, price = ?3, state = 'ready', last_hb_ms = ?4 WHERE name = ?1";
static const char SQL_NODE_HB[] = "UPDATE nodes SET last_hb_ms = ?2, state = 'ready' WHERE name = ?1";
static const char SQL_NODE_STATE[] = "UPDATE nodes SET state = ?2 WHERE name = ?1";
static const char SQL_NODE_SILENT[] =
    "SELECT name, last_hb_ms FROM nodes WHERE state = 'ready' AND last_hb_ms < ?1 ORDER BY name LIMIT 1000";
static const char SQL_GPUS_OF[] =
    "SELECT idx, uuid, model, memory, address, lease_id FROM gpus WHERE node = ?1 ORDER BY idx";
static const char SQL_GPUS_ALL[] =
    "SELECT node, idx, uuid, model, memory, address, lease_id FROM gpus ORDER BY node, idx";
static const char SQL_GPU_OWNER[] = "SELECT node FROM gpus WHERE uuid = ?1";
static const char SQL_GPUS_DELETE[] = "DELETE FROM gpus WHERE node = ?1";
static const char SQL_GPU_INSERT[] =
    "INSERT INTO gpus(node, idx, uuid, model, memory, address) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_GPUS_FREE[] =
    "SELECT idx, uuid, address FROM gpus WHERE node = ?1 AND model = ?2 AND memory = ?3 AND lease_id IS NULL"
    " ORDER BY idx LIMIT ?4";
static const char SQL_GPU_TAKE[] =
    "UPDATE gpus SET lease_id = ?3 WHERE node = ?1 AND idx = ?2 AND lease_id IS NULL";
static const char SQL_GPUS_RELEASE[] = "UPDATE gpus SET lease_id = NULL WHERE lease_id = ?1";
static const char SQL_POOLS_DELETE[] = "DELETE FROM pools WHERE node = ?1";
static const char SQL_POOLS_BUILD[] =
    "INSERT INTO pools(node, model, memory, price, ready, total, free)"
    " SELECT g.node, g.model, g.memory, n.price, CASE WHEN n.state = 'ready' THEN 1 ELSE 0 END, count(*),"
    " sum(CASE WHEN g.lease_id IS NULL THEN 1 ELSE 0 END)"
    " FROM gpus g JOIN nodes n ON n.name = g.node WHERE g.node = ?1"
    " GROUP BY g.node, g.model, g.memory, n.price, n.state";
static const char SQL_POOLS_REFRESH[] =
    "UPDATE pools SET free = (SELECT count(*) FROM gpus g WHERE g.node = pools.node AND g.model = pools.model"
    " AND g.memory = pools.memory AND g.lease_id IS NULL),"
    " ready = (SELECT CASE WHEN n.state = 'ready' THEN 1 ELSE 0 END FROM nodes n WHERE n.name = pools.node),"
    " price = (SELECT n.price FROM nodes n WHERE n.name = pools.node) WHERE node = ?1";
/* lower() folds ASCII only in both (PostgreSQL: under the C collation), like lp_model_matches */
static const char SQL_POOL_PICK[] =
    "SELECT node, model, memory, free, price FROM pools WHERE ready = 1 AND free >= ?1 AND memory >= ?2"
    " AND (?3 = '' OR strpos(lower(model), lower(CAST(?3 AS TEXT) COLLATE \"C\")) > 0)"
    " AND (?4 <= 0 OR price <= ?4) ORDER BY price, node, model LIMIT ?5";
static const char SQL_POOLS_READY[] = "SELECT node, model, memory, total, free, price, ready FROM pools"
                                      " WHERE ready = 1 ORDER BY node, model, memory";
static const char SQL_LEASE_GET[] = "SELECT " LEASE_COLS " FROM leases WHERE id = ?1";
static const char SQL_LEASE_IDEM[] = "SELECT " LEASE_COLS " FROM leases WHERE tenant = ?1 AND idem_key = ?2";
/* seq: the order of insertion (several leases may be granted in one millisecond) */
static const char SQL_LEASES_TENANT[] =
    "SELECT " LEASE_COLS " FROM leases WHERE tenant = ?1 ORDER BY created_ms DESC, seq DESC";
static const char SQL_LEASES_NODE_ACTIVE[] =
    "SELECT " LEASE_COLS " FROM leases WHERE node = ?1 AND state = 1 ORDER BY created_ms, seq";
static const char SQL_LEASES_DUE[] =
    "SELECT id FROM leases WHERE state = 1 AND end_ms <= ?1 ORDER BY end_ms, id LIMIT 1000";
static const char SQL_ANYTHING_DUE[] =
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM leases WHERE state = 1 AND end_ms <= ?1)"
    " OR (?2 > 0 AND EXISTS (SELECT 1 FROM nodes WHERE state = 'ready' AND last_hb_ms < ?1 - ?2))"
    " THEN 1 ELSE 0 END";
static const char SQL_LEASE_INSERT[] =
    "INSERT INTO leases(id, tenant, state, node, node_address, gpu_model, gpu_count, gpu_memory, gpus, price,"
    " max_price, max_cost, ttl_s, labels, idem_key, created_ms, started_ms, expires_ms, cap_ms, end_ms,"
    " keepalive_s, renewed_ms)"
    " VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, ?16, ?17, ?18, ?19, "
    "?15)";
static const char SQL_LEASE_END[] =
    "UPDATE leases SET state = ?2, end_reason = ?3, ended_ms = ?4, billed_s = ?5, gpu_seconds = ?6, cost = ?7"
    " WHERE id = ?1 AND state = 1";
static const char SQL_EXTEND_KEY_SEEN[] = "SELECT 1 FROM lease_extends WHERE lease = ?1 AND key = ?2";
static const char SQL_EXTEND_KEY_ADD[] = "INSERT INTO lease_extends(lease, key) VALUES (?1, ?2)";
static const char SQL_LEASE_EXTEND[] =
    "UPDATE leases SET ttl_s = ?2, expires_ms = ?3, end_ms = ?4 WHERE id = ?1 AND state = 1";
static const char SQL_LEASE_RENEW[] =
    "UPDATE leases SET renewed_ms = ?2, end_ms = ?3 WHERE id = ?1 AND state = 1";
static const char SQL_STATS_LEASES[] = "SELECT state, count(*) FROM leases GROUP BY state";
static const char SQL_STATS_NODES[] = "SELECT state, count(*) FROM nodes GROUP BY state";
static const char SQL_STATS_GPUS[] =
    "SELECT coalesce(sum(total), 0), coalesce(sum(free), 0) FROM pools WHERE ready = 1";
static const char SQL_STATS_LEASED[] = "SELECT count(*) FROM gpus WHERE lease_id IS NOT NULL";

/* ---- plumbing ---- */
static int oom(lp_err *e, const char *what) {
    lp_err_set(e, WIRE_INTERNAL, NULL, "out of memory while %s", what);
    return -1;
}

/* Runs an operation's body under the store's lock. */
static int transact(lp_store *base, int mode, lp_sql_body body, void *ctx, lp_err *e) {
    lp_sqlstore *s = (lp_sqlstore *)base;
    pthread_mutex_lock(&s->mu);
    int rc = lp_sql_transact(s->db, mode, body, ctx, e);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static lp_sql_args args1(const char *text) {
    lp_sql_args a = {0};
    lp_sql_arg_text(&a, text);
    return a;
}

/* ---- rows ---- */
/* The GPUs of a lease as stored in its row: a JSON array of [index, uuid, address]. NULL when out of
 * memory. */
static char *gpus_json(const lp_lease_gpu *g, uint32_t n) {
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_pack("[I, s, s]", (json_int_t)g[i].index, g[i].uuid, g[i].address));
    char *t = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return t;
}

/* Fills l->gpus from a row's GPU list; -1 when it is corrupt. */
static int gpus_parse(const char *text, lp_lease *l) {
    json_t *a = json_loads(text, 0, NULL);
    if (!json_is_array(a)) {
        json_decref(a);
        return -1;
    }
    size_t n = json_array_size(a);
    l->gpus = calloc(n ? n : 1, sizeof *l->gpus);
    if (!l->gpus) {
        json_decref(a);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *g = json_array_get(a, i);
        l->gpus[i].index = (uint32_t)json_integer_value(json_array_get(g, 0));
        const char *u = json_string_value(json_array_get(g, 1)),
                   *addr = json_string_value(json_array_get(g, 2));
        snprintf(l->gpus[i].uuid, sizeof l->gpus[i].uuid, "%s", u ? u : "");
        snprintf(l->gpus[i].address, sizeof l->gpus[i].address, "%s", addr ? addr : "");
    }
    json_decref(a);
    return 0;
}

static int row_to_lease(lp_sql *db, lp_sql_stmt *st, lp_lease *l) {
    memset(l, 0, sizeof *l);
    lp_sql_text_copy(db, st, 0, l->id, sizeof l->id);
    lp_sql_text_copy(db, st, 1, l->tenant, sizeof l->tenant);
    l->state = (int)lp_sql_i64(db, st, 2);
    lp_sql_text_copy(db, st, 3, l->end_reason, sizeof l->end_reason);
    lp_sql_text_copy(db, st, 4, l->node, sizeof l->node);
    lp_sql_text_copy(db, st, 5, l->node_address, sizeof l->node_address);
    lp_sql_text_copy(db, st, 6, l->gpu_model, sizeof l->gpu_model);
    l->gpu_count = (uint32_t)lp_sql_i64(db, st, 7);
    l->gpu_memory = (uint64_t)lp_sql_i64(db, st, 8);
    l->price = lp_sql_double(db, st, 10);
    l->max_price = lp_sql_double(db, st, 11);
    l->max_cost = lp_sql_double(db, st, 12);
    l->ttl_s = (uint32_t)lp_sql_i64(db, st, 13);
    lp_sql_text_copy(db, st, 14, l->labels, sizeof l->labels);
    lp_sql_text_copy(db, st, 15, l->idem_key, sizeof l->idem_key);
    l->created_ms = lp_sql_i64(db, st, 16);
    l->started_ms = lp_sql_i64(db, st, 17);
    l->expires_ms = lp_sql_i64(db, st, 18);
    l->cap_ms = lp_sql_i64(db, st, 19);
    l->ended_ms = lp_sql_i64(db, st, 20);
    l->keepalive_s = (uint32_t)lp_sql_i64(db, st, 21);
    l->renewed_ms = lp_sql_i64(db, st, 22);
    const char *g = lp_sql_text(db, st, 9);
    return gpus_parse(*g ? g : "[]", l);
}

/* Loads the one lease a query selects. 1 found, 0 not, -1 error. */
static int load_lease(lp_sql *db, const char *sql, const lp_sql_args *a, lp_lease *out, lp_err *e) {
    memset(out, 0, sizeof *out); /* nothing stale in it whatever the outcome */
    lp_sql_stmt *st = lp_sql_query(db, sql, a, "reading a lease", e);
    if (!st) return -1;
    int r = lp_sql_step(db, st, e);
    if (r == 1 && row_to_lease(db, st, out) != 0) {
        lp_lease_clear(out);
        lp_err_set(e, WIRE_INTERNAL, NULL, "lease row is corrupt");
        r = -1;
    }
    lp_sql_finish(db, st);
    return r;
}

/* Loads the leases a query selects, each as it shows at now_ms, keeping those in want_state (-1: all). */
static int load_leases(lp_sql *db, const char *sql, const lp_sql_args *a, int64_t now_ms, int want_state,
                       lp_lease_list *out, lp_err *e) {
    out->n = 0;
    out->v = NULL;
    lp_sql_stmt *st = lp_sql_query(db, sql, a, "listing leases", e);
    if (!st) return -1;
    size_t cap = 0;
    int r;
    while ((r = lp_sql_step(db, st, e)) == 1) {
        void *nv = lp_grow(out->v, &cap, out->n + 1, sizeof *out->v, 16);
        if (!nv) {
            r = oom(e, "listing leases");
            break;
        }
        out->v = nv;
        lp_lease *l = &out->v[out->n];
        if (row_to_lease(db, st, l) != 0) {
            lp_lease_clear(l);
            r = oom(e, "listing leases");
            break;
        }
        lp_lease_settle_view(l, now_ms);
        if (want_state >= 0 && l->state != want_state)
            lp_lease_clear(l);
        else
            out->n++;
    }
    lp_sql_finish(db, st);
    if (r != 0) lp_lease_list_clear(out);
    return r;
}

static void row_to_node(lp_sql *db, lp_sql_stmt *st, lp_node *n) {
    memset(n, 0, sizeof *n);
    lp_sql_text_copy(db, st, 0, n->name, sizeof n->name);
    lp_sql_text_copy(db, st, 1, n->owner, sizeof n->owner);
    lp_sql_text_copy(db, st, 2, n->state, sizeof n->state);
    lp_sql_text_copy(db, st, 3, n->address, sizeof n->address);
    n->price = lp_sql_double(db, st, 4);
    n->registered_ms = lp_sql_i64(db, st, 5);
    n->last_heartbeat_ms = lp_sql_i64(db, st, 6);
}

/* Appends the GPU of a row (columns from col0: idx, uuid, model, memory, address, lease_id). */
static int push_gpu(lp_sql *db, lp_node *n, size_t *cap, lp_sql_stmt *st, int col0) {
    lp_gpu *nv = lp_grow(n->gpus, cap, n->gpu_count + 1, sizeof *n->gpus, 16);
    if (!nv) return -1;
    n->gpus = nv;
    lp_gpu *g = &n->gpus[n->gpu_count++];
    memset(g, 0, sizeof *g);
    g->index = (uint32_t)lp_sql_i64(db, st, col0);
    lp_sql_text_copy(db, st, col0 + 1, g->uuid, sizeof g->uuid);
    lp_sql_text_copy(db, st, col0 + 2, g->model, sizeof g->model);
    g->memory = (uint64_t)lp_sql_i64(db, st, col0 + 3);
    lp_sql_text_copy(db, st, col0 + 4, g->address, sizeof g->address);
    lp_sql_text_copy(db, st, col0 + 5, g->lease_id, sizeof g->lease_id);
    n->gpus_total++;
    if (!g->lease_id[0]) n->gpus_free++;
    return 0;
}

/* Loads a node with its GPUs. 1 found, 0 not, -1 error. */
static int load_node(lp_sql *db, const char *name, lp_node *out, lp_err *e) {
    lp_sql_args a = args1(name);
    lp_sql_stmt *st = lp_sql_query(db, SQL_NODE_GET, &a, "reading a node", e);
    if (!st) return -1;
    int r = lp_sql_step(db, st, e);
    if (r == 1) row_to_node(db, st, out);
    lp_sql_finish(db, st);
    if (r != 1) return r;
    if (!(st = lp_sql_query(db, SQL_GPUS_OF, &a, "reading a node's GPUs", e))) return -1;
    size_t cap = 0;
    while ((r = lp_sql_step(db, st, e)) == 1)
        if (push_gpu(db, out, &cap, st, 0) != 0) break;
    lp_sql_finish(db, st);
    if (r != 0) {
        lp_node_clear(out);
        lp_err_set(e, WIRE_INTERNAL, NULL, "cannot read the GPUs of node %s", name);
        return -1;
    }
    return 1;
}

static int refresh_pools(lp_sql *db, const char *node, lp_err *e) {
    lp_sql_args a = args1(node);
    return lp_sql_run(db, SQL_POOLS_REFRESH, &a, "updating GPU pools", e) < 0 ? -1 : 0;
}

static int rebuild_pools(lp_sql *db, const char *node, lp_err *e) {
    lp_sql_args a = args1(node);
    if (lp_sql_run(db, SQL_POOLS_DELETE, &a, "rebuilding GPU pools", e) < 0) return -1;
    return lp_sql_run(db, SQL_POOLS_BUILD, &a, "rebuilding GPU pools", e) < 0 ? -1 : 0;
}

/* Ends an active lease inside the caller's transaction, bills it and frees its GPUs. */
static int end_lease_tx(lp_sql *db, const lp_lease *l, int state, const char *reason, int64_t ended_ms,
                        lp_event_list *ev, lp_err *e) {
    if (ended_ms < l->started_ms) ended_ms = l->started_ms;
    lp_bill b = lp_meter(l->started_ms, ended_ms, l->gpu_count, l->price, l->max_cost);
    lp_sql_args a = args1(l->id);
    lp_sql_arg_i64(&a, state);
    lp_sql_arg_text(&a, reason);
    lp_sql_arg_i64(&a, ended_ms);
    lp_sql_arg_i64(&a, b.billed_s);
    lp_sql_arg_i64(&a, b.gpu_seconds);
    lp_sql_arg_double(&a, b.cost);
    if (lp_sql_run(db, SQL_LEASE_END, &a, "ending a lease", e) < 0) return -1;
    a.n = 1;
    if (lp_sql_run(db, SQL_GPUS_RELEASE, &a, "releasing GPUs", e) < 0) return -1;
    if (refresh_pools(db, l->node, e) != 0) return -1;
    lp_event ee;
    lp_event_lease_ended(&ee, l, state, reason);
    return lp_event_list_push(ev, &ee) == 0 ? 0 : oom(e, "ending a lease");
}

/* Fails every active lease of node (inside the caller's transaction), billed up to ended_ms. */
static int fail_node_leases_tx(lp_sql *db, const char *node, int64_t ended_ms, const char *reason,
                               lp_event_list *ev, lp_err *e) {
    lp_sql_args a = args1(node);
    lp_lease_list ll;
    if (load_leases(db, SQL_LEASES_NODE_ACTIVE, &a, INT64_MIN, -1, &ll, e) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < ll.n && rc == 0; i++)
        rc = end_lease_tx(db, &ll.v[i], LS_FAILED, reason, lp_lease_fail_time(&ll.v[i], ended_ms), ev, e);
    lp_lease_list_clear(&ll);
    return rc;
}

/* Persists the end of a lease that is due (TTL, cost cap, keepalive) inside the caller's transaction;
 * updates l. */
static int settle_tx(lp_sql *db, lp_lease *l, int64_t now_ms, lp_err *e) {
    int st;
    int64_t end;
    char reason[256];
    if (!lp_lease_due(l, now_ms, &st, &end, reason)) return 0;
    if (end_lease_tx(db, l, st, reason, end, NULL, e) != 0) return -1;
    lp_lease_mark_ended(l, st, end, reason);
    return 0;
}

/* With *l loaded: ends it (state, reason) at now. A body's result: 0; 1 when it had already ended
 * (l filled, lease_ended in e); -1 on error. */
static int finish_end_tx(lp_sql *db, lp_lease *l, int state, const char *reason, int64_t now_ms, lp_err *e) {
    if (settle_tx(db, l, now_ms, e) != 0) return -1;
    if (l->state != LS_ACTIVE) {
        lp_err_lease_already_ended(e, l);
        return 1;
    }
    if (end_lease_tx(db, l, state, reason, now_ms, NULL, e) != 0) return -1;
    lp_lease_mark_ended(l, state, now_ms, reason);
    return 0;
}

/* Loads a lease of tenant (NULL: any): 0 found, -1 with not_found (also for another tenant's) or
 * internal. */
static int find_lease(lp_sql *db, const char *tenant, const char *id, lp_lease *out, lp_err *e) {
    lp_sql_args a = args1(id);
    int found = load_lease(db, SQL_LEASE_GET, &a, out, e);
    if (found < 0) return -1;
    if (found && tenant && strcmp(tenant, out->tenant)) { /* answered as if it did not exist */
        lp_lease_clear(out);
        found = 0;
    }
    if (!found) lp_err_lease_not_found(e, id);
    return found ? 0 : -1;
}

/* Loads a registered node that who may act on. */
static int check_node(lp_sql *db, const lp_principal *who, const char *name, lp_node *cur, lp_err *e) {
    int found = load_node(db, name, cur, e);
    if (found < 0) return -1;
    if (!found || !strcmp(cur->state, "gone")) {
        lp_err_set(e, WIRE_NOT_FOUND, "register it with POST /v1/nodes", "node %s is not registered", name);
        return -1;
    }
    if (!lp_principal_owns(who, cur->owner)) {
        lp_err_set(e, WIRE_FORBIDDEN, NULL, "node %s is registered by another tenant", name);
        return -1;
    }
    return 0;
}

/* ---- secret, tenants, tokens ---- */
static int hex_to_bytes(const char *hex, size_t len, unsigned char *out, size_t n) {
    if (len != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                                : 16u;
            if (d > 15) return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* Reads the secret; 1 when present and well formed. Stored as 64 hex digits; a SQLite database of an
 * earlier broker holds it as 32 raw bytes, read as they are. */
static int read_secret(lp_sql *db, unsigned char out[32], lp_err *e) {
    lp_sql_args a = args1("hmac_secret");
    lp_sql_stmt *st = lp_sql_query(db, SQL_META_GET, &a, "reading the HMAC secret", e);
    if (!st) return -1;
    int r = lp_sql_step(db, st, e);
    if (r == 1) {
        size_t len = 0;
        const void *v = db->drv->col_blob(st, 0, &len);
        if (v && len == 32)
            memcpy(out, v, 32);
        else
            r = v && hex_to_bytes(v, len, out, 32) == 0;
    }
    lp_sql_finish(db, st);
    return r;
}

static int secret_body(lp_sql *db, void *out, lp_err *e) {
    int have = read_secret(db, out, e);
    if (have != 0) return have > 0 ? 0 : -1;
    unsigned char fresh[32];
    if (lp_random_bytes(fresh, sizeof fresh) != 0) {
        lp_err_set(e, WIRE_INTERNAL, NULL, "no randomness for the HMAC secret");
        return -1;
    }
    char hex[65];
    lp_hex(hex, fresh, sizeof fresh);
    lp_sql_args a = args1("hmac_secret");
    lp_sql_arg_text(&a, hex);
    if (lp_sql_run(db, SQL_META_PUT, &a, "storing the HMAC secret", e) < 0) return -1;
    have = read_secret(db, out, e);
    if (have == 0) lp_err_set(e, WIRE_INTERNAL, NULL, "cannot read the HMAC secret");
    return have > 0 ? 0 : -1;
}

static int op_secret(lp_store *s, unsigned char out[32], lp_err *e) {
    return transact(s, LP_SQL_TX_WRITE, secret_body, out, e);
}

typedef struct tenant_ctx {
    const char *tenant;
    int is_node;
    const char *hash;
    int64_t now_ms, expires_ms;
    lp_principal *who;
} tenant_ctx;

static int tenant_body(lp_sql *db, void *vc, lp_err *e) {
    tenant_ctx *c = vc;
    lp_sql_args a = args1(c->tenant);
    lp_sql_arg_i64(&a, c->now_ms);
    return lp_sql_run(db, SQL_TENANT_ENSURE, &a, "creating a tenant", e) < 0 ? -1 : 0;
}

static int op_tenant_ensure(lp_store *s, const char *tenant, int64_t now_ms, lp_err *e) {
    tenant_ctx c = {.tenant = tenant, .now_ms = now_ms};
    return transact(s, LP_SQL_TX_NONE, tenant_body, &c, e);
}

static int token_body(lp_sql *db, void *vc, lp_err *e) {
    tenant_ctx *c = vc;
    if (tenant_body(db, c, e) != 0) return -1;
    char id[LP_TOKEN_ID_MAX];
    lp_token_id(c->hash, id);
    lp_sql_args a = args1(c->hash);
    lp_sql_arg_text(&a, c->tenant);
    lp_sql_arg_i64(&a, c->is_node ? 1 : 0);
    lp_sql_arg_i64(&a, c->now_ms);
    lp_sql_arg_text(&a, id);
    if (c->expires_ms > 0)
        lp_sql_arg_i64(&a, c->expires_ms);
    else
        lp_sql_arg_text(&a, NULL);
    return lp_sql_run(db, SQL_TOKEN_PUT, &a, "storing a token", e) < 0 ? -1 : 0;
}

static int op_token_create(lp_store *s, const char *tenant, int is_node, const char *hash_hex, int64_t now_ms,
                           int64_t expires_ms, lp_err *e) {
    tenant_ctx c = {
        .tenant = tenant, .is_node = is_node, .hash = hash_hex, .now_ms = now_ms, .expires_ms = expires_ms};
    return transact(s, LP_SQL_TX_WRITE, token_body, &c, e);
}

static int lookup_body(lp_sql *db, void *vc, lp_err *e) {
    tenant_ctx *c = vc;
    lp_sql_args a = args1(c->hash);
    lp_sql_stmt *st = lp_sql_query(db, SQL_TOKEN_GET, &a, "looking up a token", e);
    if (!st) return -1;
    int r = lp_sql_step(db, st, e);
    if (r == 1) {
        memset(c->who, 0, sizeof *c->who);
        lp_sql_text_copy(db, st, 0, c->who->tenant, sizeof c->who->tenant);
        c->who->is_node = (int)lp_sql_i64(db, st, 1);
        lp_sql_text_copy(db, st, 2, c->who->token_id, sizeof c->who->token_id);
        c->who->expires_ms = lp_sql_i64(db, st, 3);
        if (lp_sql_i64(db, st, 4) != 0) {
            lp_err_set(e, WIRE_UNAUTHORIZED, "ask the operator for a new token (lepton-broker token create)",
                       "token revoked: token %s of tenant %s was revoked by an operator", c->who->token_id,
                       c->who->tenant);
            r = -1;
        }
    } else if (r == 0) {
        lp_err_set(e, WIRE_UNAUTHORIZED, "create one with: lepton-broker token create --db DB --tenant NAME",
                   "unknown token");
    }
    lp_sql_finish(db, st);
    return r == 1 ? 0 : -1;
}

static int op_token_lookup(lp_store *s, const char *hash_hex, lp_principal *out, lp_err *e) {
    tenant_ctx c = {.hash = hash_hex, .who = out};
    return transact(s, LP_SQL_TX_NONE, lookup_body, &c, e);
}

static void row_to_token(lp_sql *db, lp_sql_stmt *st, lp_token_info *t) {
    memset(t, 0, sizeof *t);
    lp_sql_text_copy(db, st, 0, t->id, sizeof t->id);
    lp_sql_text_copy(db, st, 1, t->tenant, sizeof t->tenant);
    t->is_node = (int)lp_sql_i64(db, st, 2);
    t->created_ms = lp_sql_i64(db, st, 3);
    t->expires_ms = lp_sql_i64(db, st, 4);
    t->revoked_ms = lp_sql_i64(db, st, 5);
}

typedef struct token_list_ctx {
    const char *tenant;
    lp_token_list *out;
} token_list_ctx;

static int token_list_body(lp_sql *db, void *vc, lp_err *e) {
    token_list_ctx *c = vc;
    lp_token_list_clear(c->out);
    lp_sql_args a = args1(c->tenant);
    lp_sql_stmt *st = lp_sql_query(db, c->tenant ? SQL_TOKENS_TENANT : SQL_TOKENS_ALL, c->tenant ? &a : NULL,
                                   "listing tokens", e);
    if (!st) return -1;
    size_t cap = 0;
    int r;
    while ((r = lp_sql_step(db, st, e)) == 1) {
        void *nv = lp_grow(c->out->v, &cap, c->out->n + 1, sizeof *c->out->v, 16);
        if (!nv) {
            r = oom(e, "listing tokens");
            break;
        }
        c->out->v = nv;
        row_to_token(db, st, &c->out->v[c->out->n++]);
    }
    lp_sql_finish(db, st);
    return r == 0 ? 0 : -1;
}

static int op_token_list(lp_store *s, const char *tenant, lp_token_list *out, lp_err *e) {
    out->n = 0;
    out->v = NULL;
    token_list_ctx c = {.tenant = tenant, .out = out};
    int rc = transact(s, LP_SQL_TX_READ, token_list_body, &c, e);
    if (rc != 0) lp_token_list_clear(out);
    return rc;
}

typedef struct revoke_ctx {
    const char *id;
    int64_t now_ms;
    lp_token_info *out;
    int *already;
} revoke_ctx;

/* 1: found (*t filled), 0: no token has that id, -1: error. */
static int token_by_id(lp_sql *db, const char *id, lp_token_info *t, lp_err *e) {
    lp_sql_args a = args1(id);
    lp_sql_stmt *st = lp_sql_query(db, SQL_TOKEN_BY_ID, &a, "reading a token", e);
    if (!st) return -1;
    int r = lp_sql_step(db, st, e);
    if (r == 1) row_to_token(db, st, t);
    lp_sql_finish(db, st);
    return r;
}

static int revoke_body(lp_sql *db, void *vc, lp_err *e) {
    revoke_ctx *c = vc;
    lp_token_info t;
    int found = token_by_id(db, c->id, &t, e);
    if (found < 0) return -1;
    if (!found) {
        lp_err_set(e, WIRE_NOT_FOUND, "see the ids with: lepton-broker token list --db DB",
                   "no token has id '%s'", c->id);
        return -1;
    }
    *c->already = t.revoked_ms != 0;
    if (!*c->already) {
        lp_sql_args a = args1(c->id);
        lp_sql_arg_i64(&a, c->now_ms);
        if (lp_sql_run(db, SQL_TOKEN_REVOKE, &a, "revoking a token", e) < 0) return -1;
        t.revoked_ms = c->now_ms;
    }
    if (c->out) *c->out = t;
    return 0;
}

static int op_token_revoke(lp_store *s, const char *id, int64_t now_ms, lp_token_info *out, int *already,
                           lp_err *e) {
    int ignored = 0;
    revoke_ctx c = {.id = id, .now_ms = now_ms, .out = out, .already = already ? already : &ignored};
    return transact(s, LP_SQL_TX_WRITE, revoke_body, &c, e);
}

/* ---- nodes ---- */
typedef struct node_ctx {
    const lp_principal *who;
    const lp_node_reg *reg;
    const char *name;
    int64_t now_ms;
    lp_node *out;
    lp_node cur;
    int *created;
    lp_event_list *ended;
    size_t ended0; /* events before the operation (a body run again drops its own) */
    lp_lease_list *leases;
} node_ctx;

static void node_ctx_reset(node_ctx *c) {
    lp_node_clear(&c->cur);
    memset(&c->cur, 0, sizeof c->cur);
    lp_node_clear(c->out);
    memset(c->out, 0, sizeof *c->out);
    if (c->created) *c->created = 0;
    if (c->ended) c->ended->n = c->ended0;
    if (c->leases) lp_lease_list_clear(c->leases);
}

/* Refuses GPUs that another node registered, or that the registration names twice. */
static int check_gpus_free(lp_sql *db, const lp_node_reg *reg, lp_err *e) {
    for (size_t i = 0; i < reg->gpu_count; i++) {
        lp_sql_args a = args1(reg->gpus[i].uuid);
        lp_sql_stmt *st = lp_sql_query(db, SQL_GPU_OWNER, &a, "looking up a GPU", e);
        if (!st) return -1;
        char owner[LP_NAME_MAX + 1] = "";
        int r = lp_sql_step(db, st, e);
        if (r == 1) lp_sql_text_copy(db, st, 0, owner, sizeof owner);
        lp_sql_finish(db, st);
        if (r < 0) return -1;
        if (*owner && strcmp(owner, reg->name)) {
            lp_err_set(e, WIRE_CONFLICT, "every GPU uuid must be unique across nodes",
                       "GPU %s is already registered by node %s", reg->gpus[i].uuid, owner);
            return -1;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(reg->gpus[k].uuid, reg->gpus[i].uuid)) {
                lp_err_set(e, WIRE_INVALID, NULL, "field 'gpus': uuid %s appears twice", reg->gpus[i].uuid);
                return -1;
            }
    }
    return 0;
}

static int insert_gpus(lp_sql *db, const lp_node_reg *reg, lp_err *e) {
    for (size_t i = 0; i < reg->gpu_count; i++) {
        lp_sql_args a = args1(reg->name);
        lp_sql_arg_i64(&a, (int64_t)i);
        lp_sql_arg_text(&a, reg->gpus[i].uuid);
        lp_sql_arg_text(&a, reg->gpus[i].model);
        lp_sql_arg_i64(&a, (int64_t)reg->gpus[i].memory);
        lp_sql_arg_text(&a, reg->gpus[i].address);
        if (lp_sql_run(db, SQL_GPU_INSERT, &a, "adding a GPU", e) < 0) return -1;
    }
    return 0;
}

static int register_body(lp_sql *db, void *vc, lp_err *e) {
    node_ctx *c = vc;
    const lp_node_reg *reg = c->reg;
    node_ctx_reset(c);
    int found = load_node(db, reg->name, &c->cur, e);
    if (found < 0) return -1;
    if (found && !lp_principal_owns(c->who, c->cur.owner)) {
        lp_err_set(e, WIRE_FORBIDDEN, NULL, "node %s is registered by another tenant", reg->name);
        return -1;
    }
    if (check_gpus_free(db, reg, e) != 0) return -1;
    int replace_gpus = !found;
    lp_sql_args a = args1(reg->name);
    if (found) {
        if (!lp_node_same_gpus(&c->cur, reg)) {
            char reason[256];
            lp_reason_node_reregistered(reason, reg->name);
            if (fail_node_leases_tx(db, reg->name, c->now_ms, reason, c->ended, e) != 0) return -1;
            if (lp_sql_run(db, SQL_GPUS_DELETE, &a, "replacing GPUs", e) < 0) return -1;
            replace_gpus = 1;
        }
        lp_sql_arg_text(&a, reg->address);
        lp_sql_arg_double(&a, reg->price);
        lp_sql_arg_i64(&a, c->now_ms);
        if (lp_sql_run(db, SQL_NODE_UPDATE, &a, "updating a node", e) < 0) return -1;
    } else {
        lp_sql_arg_text(&a, c->who ? c->who->tenant : "");
        lp_sql_arg_text(&a, reg->address);
        lp_sql_arg_double(&a, reg->price);
        lp_sql_arg_i64(&a, c->now_ms);
        if (lp_sql_run(db, SQL_NODE_INSERT, &a, "adding a node", e) < 0) return -1;
        *c->created = 1;
    }
    if (replace_gpus && insert_gpus(db, reg, e) != 0) return -1;
    if (rebuild_pools(db, reg->name, e) != 0) return -1;
    return load_node(db, reg->name, c->out, e) == 1 ? 0 : -1;
}

static int op_node_register(lp_store *s, const lp_principal *who, const lp_node_reg *reg, int64_t now_ms,
                            lp_node *out, int *created, lp_event_list *ended, lp_err *e) {
    node_ctx c = {.who = who, .reg = reg, .now_ms = now_ms, .out = out, .created = created, .ended = ended};
    c.ended0 = ended ? ended->n : 0;
    memset(out, 0, sizeof *out);
    int rc = transact(s, LP_SQL_TX_WRITE, register_body, &c, e);
    if (rc != 0) lp_node_clear(out);
    lp_node_clear(&c.cur);
    return rc;
}

static int heartbeat_body(lp_sql *db, void *vc, lp_err *e) {
    node_ctx *c = vc;
    node_ctx_reset(c);
    if (check_node(db, c->who, c->name, &c->cur, e) != 0) return -1;
    lp_sql_args a = args1(c->name);
    lp_sql_arg_i64(&a, c->now_ms);
    if (lp_sql_run(db, SQL_NODE_HB, &a, "recording a heartbeat", e) < 0) return -1;
    if (strcmp(c->cur.state, "ready") && refresh_pools(db, c->name, e) != 0) return -1;
    if (load_node(db, c->name, c->out, e) != 1) return -1;
    a.n = 1;
    return load_leases(db, SQL_LEASES_NODE_ACTIVE, &a, c->now_ms, LS_ACTIVE, c->leases, e);
}

static int op_node_heartbeat(lp_store *s, const lp_principal *who, const char *name, int64_t now_ms,
                             lp_node *out, lp_lease_list *leases, lp_err *e) {
    node_ctx c = {.who = who, .name = name, .now_ms = now_ms, .out = out, .leases = leases};
    memset(out, 0, sizeof *out);
    leases->n = 0;
    leases->v = NULL;
    int rc = transact(s, LP_SQL_TX_WRITE, heartbeat_body, &c, e);
    if (rc != 0) {
        lp_node_clear(out);
        lp_lease_list_clear(leases);
    }
    lp_node_clear(&c.cur);
    return rc;
}

static int deregister_body(lp_sql *db, void *vc, lp_err *e) {
    node_ctx *c = vc;
    node_ctx_reset(c);
    if (check_node(db, c->who, c->name, &c->cur, e) != 0) return -1;
    char reason[256];
    lp_reason_node_deregistered(reason, c->name);
    if (fail_node_leases_tx(db, c->name, c->now_ms, reason, c->ended, e) != 0) return -1;
    lp_sql_args a = args1(c->name);
    lp_sql_arg_text(&a, "gone");
    if (lp_sql_run(db, SQL_NODE_STATE, &a, "deregistering a node", e) < 0) return -1;
    if (refresh_pools(db, c->name, e) != 0) return -1;
    return load_node(db, c->name, c->out, e) == 1 ? 0 : -1;
}

static int op_node_deregister(lp_store *s, const lp_principal *who, const char *name, int64_t now_ms,
                              lp_node *out, lp_event_list *ended, lp_err *e) {
    node_ctx c = {.who = who, .name = name, .now_ms = now_ms, .out = out, .ended = ended};
    c.ended0 = ended ? ended->n : 0;
    memset(out, 0, sizeof *out);
    int rc = transact(s, LP_SQL_TX_WRITE, deregister_body, &c, e);
    if (rc != 0) lp_node_clear(out);
    lp_node_clear(&c.cur);
    return rc;
}

static int node_list_body(lp_sql *db, void *vc, lp_err *e) {
    lp_node_list *out = vc;
    lp_node_list_clear(out);
    lp_sql_stmt *st = lp_sql_query(db, SQL_NODE_ALL, NULL, "listing nodes", e);
    if (!st) return -1;
    size_t cap = 0;
    int r;
    while ((r = lp_sql_step(db, st, e)) == 1) {
        void *nv = lp_grow(out->v, &cap, out->n + 1, sizeof *out->v, 16);
        if (!nv) {
            r = oom(e, "listing nodes");
            break;
        }
        out->v = nv;
        row_to_node(db, st, &out->v[out->n++]);
    }
    lp_sql_finish(db, st);
    if (r != 0) return -1;
    /* one pass over all GPUs, merged by node name (both ordered bytewise, as strcmp does) */
    if (!(st = lp_sql_query(db, SQL_GPUS_ALL, NULL, "listing GPUs", e))) return -1;
    size_t k = 0, gcap = 0;
    while ((r = lp_sql_step(db, st, e)) == 1) {
        const char *node = lp_sql_text(db, st, 0);
        while (k < out->n && strcmp(out->v[k].name, node) < 0) {
            k++;
            gcap = 0;
        }
        if (k < out->n && !strcmp(out->v[k].name, node) && push_gpu(db, &out->v[k], &gcap, st, 1) != 0) {
            r = oom(e, "listing nodes");
            break;
        }
    }
    lp_sql_finish(db, st);
    return r == 0 ? 0 : -1;
}

static int op_node_list(lp_store *s, lp_node_list *out, lp_err *e) {
    out->n = 0;
    out->v = NULL;
    int rc = transact(s, LP_SQL_TX_READ, node_list_body, out, e);
    if (rc != 0) lp_node_list_clear(out);
    return rc;
}

/* ---- matching: quotes and grants ---- */

/* Fills e with why nothing fits req, from every ready pool. */
static int explain(lp_sql *db, const lp_lease_req *req, lp_err *e) {
    lp_pool *pools = NULL;
    size_t n = 0, cap = 0;
    lp_sql_stmt *st = lp_sql_query(db, SQL_POOLS_READY, NULL, "reading GPU pools", e);
    if (!st) return -1;
    int r;
    while ((r = lp_sql_step(db, st, e)) == 1) {
        void *nv = lp_grow(pools, &cap, n + 1, sizeof *pools, 16);
        if (!nv) {
            r = oom(e, "reading GPU pools");
            break;
        }
        pools = nv;
        lp_pool *p = &pools[n++];
        memset(p, 0, sizeof *p);
        lp_sql_text_copy(db, st, 0, p->node, sizeof p->node);
        lp_sql_text_copy(db, st, 1, p->model, sizeof p->model);
        p->memory = (uint64_t)lp_sql_i64(db, st, 2);
        p->total = (uint32_t)lp_sql_i64(db, st, 3);
        p->free = (uint32_t)lp_sql_i64(db, st, 4);
        p->price = lp_sql_double(db, st, 5);
        p->ready = (int)lp_sql_i64(db, st, 6);
    }
    lp_sql_finish(db, st);
    if (r == 0) lp_match_explain(pools, n, req, e);
    free(pools);
    return r == 0 ? 0 : -1;
}

/* The cheapest pools that fit req (at most limit), cheapest first: node, model, memory, free, price. */
static lp_sql_stmt *pick_pools(lp_sql *db, const lp_lease_req *req, int limit, lp_err *e) {
    lp_sql_args a = {0};
    lp_sql_arg_i64(&a, req->gpu_count);
    lp_sql_arg_i64(&a, (int64_t)req->min_memory);
    lp_sql_arg_text(&a, req->gpu_model);
    lp_sql_arg_double(&a, req->max_price);
    lp_sql_arg_i64(&a, limit);
    /* the driver binds a's values when it runs the query and keeps no pointer to a */
    // cppcheck-suppress returnDanglingLifetime
    return lp_sql_query(db, SQL_POOL_PICK, &a, "matching GPUs", e);
}

typedef struct quote_ctx {
    const lp_lease_req *req;
    lp_offer_list *out;
} quote_ctx;

static int quote_body(lp_sql *db, void *vc, lp_err *e) {
    quote_ctx *c = vc;
    lp_offer_list *out = c->out;
    lp_offer_list_clear(out);
    memset(out, 0, sizeof *out);
    lp_sql_stmt *st = pick_pools(db, c->req, 100, e);
    if (!st) return -1;
    size_t cap = 0;
    int r;
    while ((r = lp_sql_step(db, st, e)) == 1) {
        void *nv = lp_grow(out->v, &cap, out->n + 1, sizeof *out->v, 16);
        if (!nv) {
            r = oom(e, "listing offers");
            break;
        }
        out->v = nv;
        lp_offer *o = &out->v[out->n++];
        memset(o, 0, sizeof *o);
        lp_sql_text_copy(db, st, 0, o->node, sizeof o->node);
        lp_sql_text_copy(db, st, 1, o->gpu_model, sizeof o->gpu_model);
        o->gpu_memory = (uint64_t)lp_sql_i64(db, st, 2);
        o->gpus_free = (uint32_t)lp_sql_i64(db, st, 3);
        o->price = lp_sql_double(db, st, 4);
    }
    lp_sql_finish(db, st);
    if (r != 0) return -1;
    if (out->n > 0) {
        lp_offer_list_describe(out, c->req);
        return 0;
    }
    lp_err why = {0};
    if (explain(db, c->req, &why) != 0) {
        *e = why;
        return -1;
    }
    snprintf(out->message, sizeof out->message, "%s", why.message);
    return 0;
}

static int op_quote(lp_store *s, const lp_lease_req *req, lp_offer_list *out, lp_err *e) {
    quote_ctx c = {req, out};
    memset(out, 0, sizeof *out);
    int rc = transact(s, LP_SQL_TX_READ, quote_body, &c, e);
    if (rc != 0) lp_offer_list_clear(out);
    return rc;
}

/* Takes count free GPUs of the picked pool for lease id; returns them (calloc'd) or NULL. */
static lp_lease_gpu *take_gpus(lp_sql *db, const lp_pool *pick, uint32_t count, const char *id, lp_err *e) {
    lp_lease_gpu *taken = calloc(count ? count : 1, sizeof *taken);
    if (!taken) {
        oom(e, "taking GPUs");
        return NULL;
    }
    lp_sql_args a = args1(pick->node);
    lp_sql_arg_text(&a, pick->model);
    lp_sql_arg_i64(&a, (int64_t)pick->memory);
    lp_sql_arg_i64(&a, count);
    lp_sql_stmt *st = lp_sql_query(db, SQL_GPUS_FREE, &a, "matching GPUs", e);
    if (!st) goto fail;
    uint32_t got = 0;
    while (got < count && lp_sql_step(db, st, e) == 1) {
        taken[got].index = (uint32_t)lp_sql_i64(db, st, 0);
        lp_sql_text_copy(db, st, 1, taken[got].uuid, sizeof taken[got].uuid);
        lp_sql_text_copy(db, st, 2, taken[got].address, sizeof taken[got].address);
        got++;
    }
    lp_sql_finish(db, st);
    if (got < count) {
        if (!e->code) lp_err_set(e, WIRE_INTERNAL, NULL, "GPU pool of node %s is out of date", pick->node);
        goto fail;
    }
    for (uint32_t i = 0; i < got; i++) {
        lp_sql_args t = args1(pick->node);
        lp_sql_arg_i64(&t, taken[i].index);
        lp_sql_arg_text(&t, id);
        int64_t n = lp_sql_run(db, SQL_GPU_TAKE, &t, "taking a GPU", e);
        if (n < 0) goto fail;
        if (n != 1) {
            lp_err_set(e, WIRE_INTERNAL, NULL, "GPU %s was taken concurrently", taken[i].uuid);
            goto fail;
        }
    }
    return taken;
fail:
    free(taken);
    return NULL;
}

static int insert_lease(lp_sql *db, const lp_lease *l, lp_err *e) {
    char *gpus_text = gpus_json(l->gpus, l->gpu_count);
    if (!gpus_text) return oom(e, "recording a lease");
    lp_sql_args a = args1(l->id);
    lp_sql_arg_text(&a, l->tenant);
    lp_sql_arg_text(&a, l->node);
    lp_sql_arg_text(&a, l->node_address);
    lp_sql_arg_text(&a, l->gpu_model);
    lp_sql_arg_i64(&a, l->gpu_count);
    lp_sql_arg_i64(&a, (int64_t)l->gpu_memory);
    lp_sql_arg_text(&a, gpus_text);
    lp_sql_arg_double(&a, l->price);
    lp_sql_arg_double(&a, l->max_price);
    lp_sql_arg_double(&a, l->max_cost);
    lp_sql_arg_i64(&a, l->ttl_s);
    lp_sql_arg_text(&a, l->labels);
    lp_sql_arg_text_or_null(&a, l->idem_key);
    lp_sql_arg_i64(&a, l->created_ms);
    lp_sql_arg_i64(&a, l->expires_ms);
    lp_sql_arg_i64(&a, l->cap_ms);
    lp_sql_arg_i64(&a, lp_lease_end_ms(l));
    lp_sql_arg_i64(&a, l->keepalive_s);
    int64_t n = lp_sql_run(db, SQL_LEASE_INSERT, &a, "recording a lease", e);
    free(gpus_text);
    return n < 0 ? -1 : 0;
}

typedef struct grant_ctx {
    const char *tenant;
    const lp_lease_req *req;
    const char *new_id;
    int64_t now_ms;
    lp_lease *out;
    int *replayed;
} grant_ctx;

static int grant_body(lp_sql *db, void *vc, lp_err *e) {
    grant_ctx *c = vc;
    const lp_lease_req *req = c->req;
    lp_lease_clear(c->out);
    memset(c->out, 0, sizeof *c->out);
    *c->replayed = 0;
    if (*req->idem_key) {
        lp_sql_args a = args1(c->tenant);
        lp_sql_arg_text(&a, req->idem_key);
        int found = load_lease(db, SQL_LEASE_IDEM, &a, c->out, e);
        if (found < 0) return -1;
        if (found) {
            lp_lease_settle_view(c->out, c->now_ms);
            *c->replayed = 1;
            return 0;
        }
    }
    lp_sql_stmt *st = pick_pools(db, req, 1, e);
    if (!st) return -1;
    lp_pool pick;
    memset(&pick, 0, sizeof pick);
    int found = lp_sql_step(db, st, e);
    if (found == 1) {
        lp_sql_text_copy(db, st, 0, pick.node, sizeof pick.node);
        lp_sql_text_copy(db, st, 1, pick.model, sizeof pick.model);
        pick.memory = (uint64_t)lp_sql_i64(db, st, 2);
        pick.free = (uint32_t)lp_sql_i64(db, st, 3);
        pick.price = lp_sql_double(db, st, 4);
    }
    lp_sql_finish(db, st);
    if (found < 0) return -1;
    if (!found) {
        explain(db, req, e);
        return -1;
    }
    if (lp_match_check_cost(req, pick.price, e) != 0) return -1;
    lp_lease_gpu *taken = take_gpus(db, &pick, req->gpu_count, c->new_id, e);
    if (!taken) return -1;
    lp_node node;
    memset(&node, 0, sizeof node);
    lp_sql_args a = args1(pick.node);
    lp_sql_stmt *ns = NULL;
    int r =
        refresh_pools(db, pick.node, e) == 0 && (ns = lp_sql_query(db, SQL_NODE_GET, &a, "reading a node", e))
            ? lp_sql_step(db, ns, e)
            : -1;
    if (r == 1) row_to_node(db, ns, &node);
    lp_sql_finish(db, ns);
    if (r < 0) {
        free(taken);
        return -1;
    }
    lp_lease_fill_grant(c->out, c->tenant, req, c->new_id, &pick, node.address, taken, c->now_ms);
    return insert_lease(db, c->out, e);
}

static int op_lease_grant(lp_store *s, const char *tenant, const lp_lease_req *req, const char *new_id,
                          int64_t now_ms, lp_lease *out, int *replayed, lp_err *e) {
    grant_ctx c = {tenant, req, new_id, now_ms, out, replayed};
    memset(out, 0, sizeof *out);
    *replayed = 0;
    int rc = transact(s, LP_SQL_TX_WRITE, grant_body, &c, e);
    if (rc != 0) lp_lease_clear(out);
    return rc;
}

/* ---- one lease ---- */
typedef struct lease_ctx {
    const char *tenant, *id, *key, *reason, *node;
    const lp_principal *who;
    uint32_t seconds;
    int state;
    int64_t now_ms;
    lp_lease *out;
    lp_lease_list *list;
} lease_ctx;

static void lease_ctx_reset(lease_ctx *c) {
    lp_lease_clear(c->out);
    memset(c->out, 0, sizeof *c->out);
}

/* What an operation on one lease returns: on lease_ended (a body's 1) out stays filled. */
static int lease_op(lp_store *s, int mode, lp_sql_body body, lease_ctx *c, lp_err *e) {
    memset(c->out, 0, sizeof *c->out);
    int rc = transact(s, mode, body, c, e);
    if (rc == 1) return -1;
    if (rc != 0) lp_lease_clear(c->out);
    return rc;
}

static int get_body(lp_sql *db, void *vc, lp_err *e) {
    lease_ctx *c = vc;
    lease_ctx_reset(c);
    return find_lease(db, c->tenant, c->id, c->out, e);
}

static int op_lease_get(lp_store *s, const char *tenant, const char *id, int64_t now_ms, lp_lease *out,
                        lp_err *e) {
    lease_ctx c = {.tenant = tenant, .id = id, .out = out};
    int rc = lease_op(s, LP_SQL_TX_NONE, get_body, &c, e);
    if (rc == 0) lp_lease_settle_view(out, now_ms);
    return rc;
}

static int list_body(lp_sql *db, void *vc, lp_err *e) {
    lease_ctx *c = vc;
    lp_lease_list_clear(c->list);
    lp_sql_args a = args1(c->tenant);
    /* an active lease past its end shows as ended: filter on the settled view */
    return load_leases(db, SQL_LEASES_TENANT, &a, c->now_ms, c->state, c->list, e);
}

static int op_lease_list(lp_store *s, const char *tenant, int state, int64_t now_ms, lp_lease_list *out,
                         lp_err *e) {
    lease_ctx c = {.tenant = tenant, .state = state, .now_ms = now_ms, .list = out};
    out->n = 0;
    out->v = NULL;
    return transact(s, LP_SQL_TX_NONE, list_body, &c, e);
}

/* Loads an active lease of c->tenant, ending it first when it is due; 1 with e filled by ended()
 * when it has ended. */
static int load_active(lp_sql *db, lease_ctx *c, void (*ended)(lp_err *, const lp_lease *), lp_err *e) {
    lease_ctx_reset(c);
    if (find_lease(db, c->tenant, c->id, c->out, e) != 0) return -1;
    if (settle_tx(db, c->out, c->now_ms, e) != 0) return -1;
    if (c->out->state == LS_ACTIVE) return 0;
    ended(e, c->out);
    return 1;
}

static int extend_body(lp_sql *db, void *vc, lp_err *e) {
    lease_ctx *c = vc;
    int r = load_active(db, c, lp_err_lease_extend_ended, e);
    if (r != 0) return r;
    lp_sql_args a = args1(c->id);
    if (c->key) { /* an extension already made under this key: answer the lease as it is */
        lp_sql_arg_text(&a, c->key);
        int64_t seen = 0;
        int found = lp_sql_one_i64(db, SQL_EXTEND_KEY_SEEN, &a, &seen, "looking up an extension's key", e);
        if (found != 0) return found > 0 ? 0 : -1;
        if (lp_sql_run(db, SQL_EXTEND_KEY_ADD, &a, "recording an extension's key", e) < 0) return -1;
    }
    if (lp_lease_extend_apply(c->out, c->seconds, e) != 0) return -1;
    a.n = 1;
    lp_sql_arg_i64(&a, c->out->ttl_s);
    lp_sql_arg_i64(&a, c->out->expires_ms);
    lp_sql_arg_i64(&a, lp_lease_end_ms(c->out));
    return lp_sql_run(db, SQL_LEASE_EXTEND, &a, "extending a lease", e) < 0 ? -1 : 0;
}

static int op_lease_extend(lp_store *s, const char *tenant, const char *id, uint32_t seconds, const char *key,
                           int64_t now_ms, lp_lease *out, lp_err *e) {
    lease_ctx c = {.tenant = tenant, .id = id, .key = key, .seconds = seconds, .now_ms = now_ms, .out = out};
    return lease_op(s, LP_SQL_TX_WRITE, extend_body, &c, e);
}

static int renew_body(lp_sql *db, void *vc, lp_err *e) {
    lease_ctx *c = vc;
    int r = load_active(db, c, lp_err_lease_renew_ended, e);
    if (r != 0) return r;
    c->out->renewed_ms = c->now_ms;
    lp_sql_args a = args1(c->id);
    lp_sql_arg_i64(&a, c->now_ms);
    lp_sql_arg_i64(&a, lp_lease_end_ms(c->out));
    return lp_sql_run(db, SQL_LEASE_RENEW, &a, "renewing a lease", e) < 0 ? -1 : 0;
}

static int op_lease_renew(lp_store *s, const char *tenant, const char *id, int64_t now_ms, lp_lease *out,
                          lp_err *e) {
    lease_ctx c = {.tenant = tenant, .id = id, .now_ms = now_ms, .out = out};
    return lease_op(s, LP_SQL_TX_WRITE, renew_body, &c, e);
}

static int end_body(lp_sql *db, void *vc, lp_err *e) {
    lease_ctx *c = vc;
    lease_ctx_reset(c);
    if (find_lease(db, c->tenant, c->id, c->out, e) != 0) return -1;
    return finish_end_tx(db, c->out, c->state, c->reason, c->now_ms, e);
}

static int op_lease_end(lp_store *s, const char *tenant, const char *id, int state, const char *reason,
                        int64_t now_ms, lp_lease *out, lp_err *e) {
    lease_ctx c = {
        .tenant = tenant, .id = id, .state = state, .reason = reason, .now_ms = now_ms, .out = out};
    return lease_op(s, LP_SQL_TX_WRITE, end_body, &c, e);
}

static int fail_on_node_body(lp_sql *db, void *vc, lp_err *e) {
    lease_ctx *c = vc;
    lease_ctx_reset(c);
    lp_node cur;
    memset(&cur, 0, sizeof cur);
    int rc = check_node(db, c->who, c->node, &cur, e);
    lp_node_clear(&cur);
    if (rc != 0) return -1;
    if (find_lease(db, NULL, c->id, c->out, e) != 0) return -1;
    if (strcmp(c->out->node, c->node)) {
        lp_lease_clear(c->out);
        lp_err_set(e, WIRE_NOT_FOUND, NULL, "lease %s is not on node %s", c->id, c->node);
        return -1;
    }
    return finish_end_tx(db, c->out, LS_FAILED, c->reason, c->now_ms, e);
}

static int op_lease_fail_on_node(lp_store *s, const lp_principal *who, const char *node, const char *id,
                                 const char *reason, int64_t now_ms, lp_lease *out, lp_err *e) {
    lease_ctx c = {.who = who, .node = node, .id = id, .reason = reason, .now_ms = now_ms, .out = out};
    return lease_op(s, LP_SQL_TX_WRITE, fail_on_node_body, &c, e);
}

/* ---- the reaper's work, statistics ---- */
typedef struct expire_ctx {
    int64_t now_ms, node_timeout_ms;
    lp_event_list *events;
    size_t events0;
    int64_t due; /* the quick look found something */
} expire_ctx;

static int anything_due_body(lp_sql *db, void *vc, lp_err *e) {
    expire_ctx *c = vc;
    lp_sql_args a = {0};
    lp_sql_arg_i64(&a, c->now_ms);
    lp_sql_arg_i64(&a, c->node_timeout_ms);
    c->due = 0;
    return lp_sql_one_i64(db, SQL_ANYTHING_DUE, &a, &c->due, "looking for due leases", e) < 0 ? -1 : 0;
}

/* The first column (text) of every row of a query, in fixed-size slots of n bytes. */
static int load_names(lp_sql *db, const char *sql, const lp_sql_args *a, char **out, int64_t **second,
                      size_t n, size_t *count, const char *what, lp_err *e) {
    *out = NULL;
    *count = 0;
    if (second) *second = NULL;
    size_t cap = 0, cap2 = 0;
    lp_sql_stmt *st = lp_sql_query(db, sql, a, what, e);
    if (!st) return -1;
    int r;
    while ((r = lp_sql_step(db, st, e)) == 1) {
        char *nv = lp_grow(*out, &cap, *count + 1, n, 16);
        if (nv) *out = nv;
        int64_t *nv2 = nv && second ? lp_grow(*second, &cap2, *count + 1, sizeof **second, 16) : NULL;
        if (nv2) *second = nv2;
        if (!nv || (second && !nv2)) {
            r = oom(e, what);
            break;
        }
        lp_sql_text_copy(db, st, 0, *out + *count * n, n);
        if (second) (*second)[*count] = lp_sql_i64(db, st, 1);
        (*count)++;
    }
    lp_sql_finish(db, st);
    if (r != 0) { /* nothing is returned on failure: the caller frees nothing */
        free(*out);
        *out = NULL;
        if (second) {
            free(*second);
            *second = NULL;
        }
        *count = 0;
    }
    return r;
}

static int expire_leases_tx(lp_sql *db, expire_ctx *c, lp_err *e) {
    lp_sql_args a = {0};
    lp_sql_arg_i64(&a, c->now_ms);
    char *ids;
    size_t n;
    if (load_names(db, SQL_LEASES_DUE, &a, &ids, NULL, LP_ID_MAX, &n, "listing due leases", e) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        lp_lease l;
        if ((rc = find_lease(db, NULL, ids + i * LP_ID_MAX, &l, e)) != 0) break;
        int st;
        int64_t end;
        char reason[256];
        if (lp_lease_due(&l, c->now_ms, &st, &end, reason))
            rc = end_lease_tx(db, &l, st, reason, end, c->events, e);
        lp_lease_clear(&l);
    }
    free(ids);
    return rc;
}

static int expire_nodes_tx(lp_sql *db, expire_ctx *c, lp_err *e) {
    lp_sql_args a = {0};
    lp_sql_arg_i64(&a, c->now_ms - c->node_timeout_ms);
    char *names;
    int64_t *last;
    size_t n;
    const size_t sz = LP_NAME_MAX + 1;
    if (load_names(db, SQL_NODE_SILENT, &a, &names, &last, sz, &n, "listing silent nodes", e) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *name = names + i * sz;
        char reason[256];
        lp_reason_node_lost(reason, name, c->node_timeout_ms);
        rc = fail_node_leases_tx(db, name, last[i], reason, c->events, e);
        lp_sql_args s = args1(name);
        lp_sql_arg_text(&s, "lost");
        if (rc == 0 && lp_sql_run(db, SQL_NODE_STATE, &s, "marking a node lost", e) < 0) rc = -1;
        if (rc == 0) rc = refresh_pools(db, name, e);
        lp_event ev;
        lp_event_node_lost(&ev, name, reason);
        if (rc == 0 && lp_event_list_push(c->events, &ev) != 0) rc = oom(e, "marking a node lost");
    }
    free(names);
    free(last);
    return rc;
}

static int expire_body(lp_sql *db, void *vc, lp_err *e) {
    expire_ctx *c = vc;
    if (c->events) c->events->n = c->events0;
    if (expire_leases_tx(db, c, e) != 0) return -1;
    return c->node_timeout_ms > 0 ? expire_nodes_tx(db, c, e) : 0;
}

static int op_expire_due(lp_store *base, int64_t now_ms, int64_t node_timeout_ms, lp_event_list *events,
                         lp_err *e) {
    lp_sqlstore *s = (lp_sqlstore *)base;
    expire_ctx c = {now_ms, node_timeout_ms, events, events ? events->n : 0, 0};
    pthread_mutex_lock(&s->mu);
    /* a cheap look first: the reaper calls this ~10 times a second on every broker */
    int rc = lp_sql_transact(s->db, LP_SQL_TX_NONE, anything_due_body, &c, e);
    if (rc == 0 && c.due) rc = lp_sql_transact(s->db, LP_SQL_TX_WRITE, expire_body, &c, e);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int stats_body(lp_sql *db, void *vc, lp_err *e) {
    lp_store_stats *out = vc;
    memset(out, 0, sizeof *out);
    lp_sql_stmt *st = lp_sql_query(db, SQL_STATS_LEASES, NULL, "counting leases", e);
    if (!st) return -1;
    int r;
    while ((r = lp_sql_step(db, st, e)) == 1) {
        int64_t k = lp_sql_i64(db, st, 0);
        if (k >= 0 && k < LS_COUNT) out->leases_by_state[k] = lp_sql_i64(db, st, 1);
    }
    lp_sql_finish(db, st);
    if (r != 0 || !(st = lp_sql_query(db, SQL_STATS_NODES, NULL, "counting nodes", e))) return -1;
    while ((r = lp_sql_step(db, st, e)) == 1) {
        const char *k = lp_sql_text(db, st, 0);
        int64_t v = lp_sql_i64(db, st, 1);
        if (!strcmp(k, "ready"))
            out->nodes_ready = v;
        else if (!strcmp(k, "lost"))
            out->nodes_lost = v;
        else
            out->nodes_gone += v;
    }
    lp_sql_finish(db, st);
    if (r != 0 || !(st = lp_sql_query(db, SQL_STATS_GPUS, NULL, "counting GPUs", e))) return -1;
    if ((r = lp_sql_step(db, st, e)) == 1) {
        out->gpus_total = lp_sql_i64(db, st, 0);
        out->gpus_free = lp_sql_i64(db, st, 1);
    }
    lp_sql_finish(db, st);
    if (r < 0) return -1;
    return lp_sql_one_i64(db, SQL_STATS_LEASED, NULL, &out->gpus_leased, "counting leased GPUs", e) < 0 ? -1
                                                                                                        : 0;
}

static int op_stats(lp_store *s, lp_store_stats *out, lp_err *e) {
    return transact(s, LP_SQL_TX_READ, stats_body, out, e);
}

/* ---- the store ---- */
static void op_close(lp_store *base) {
    lp_sqlstore *s = (lp_sqlstore *)base;
    if (s->release) s->release(s);
    lp_sql_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void op_maintain(lp_store *base) {
    lp_sqlstore *s = (lp_sqlstore *)base;
    if (s->maintain) s->maintain(s);
}

#define OPS(backend)                                                                                         \
    {                                                                                                        \
        .name = backend, .close = op_close, .secret = op_secret, .tenant_ensure = op_tenant_ensure,          \
        .token_create = op_token_create, .token_lookup = op_token_lookup, .token_list = op_token_list,       \
        .token_revoke = op_token_revoke, .node_register = op_node_register,                                  \
        .node_heartbeat = op_node_heartbeat, .node_deregister = op_node_deregister,                          \
        .node_list = op_node_list, .quote = op_quote, .lease_grant = op_lease_grant,                         \
        .lease_get = op_lease_get, .lease_list = op_lease_list, .lease_extend = op_lease_extend,             \
        .lease_renew = op_lease_renew, .lease_end = op_lease_end,                                            \
        .lease_fail_on_node = op_lease_fail_on_node, .expire_due = op_expire_due, .stats = op_stats,         \
        .maintain = op_maintain,                                                                             \
    }
/* one table a backend, for its name only (the driver's) */
static const lp_store_ops SQLITE_OPS = OPS("sqlite"), PG_OPS = OPS("postgresql");

lp_sqlstore *lp_sqlstore_new(lp_sql *db, size_t size, lp_err *e) {
    lp_sqlstore *s = size >= sizeof *s ? calloc(1, size) : NULL;
    if (!s) {
        lp_sql_close(db);
        lp_err_set(e, WIRE_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    s->base.ops = !strcmp(db->drv->name, PG_OPS.name) ? &PG_OPS : &SQLITE_OPS;
    s->db = db;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}
