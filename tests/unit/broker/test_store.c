/* test_store.c — a store backend through the store.h operations: tokens, grants and refusals,
 * cheapest-first on one node, idempotency, close/extend, TTL expiry, cost cap, node loss,
 * deregistration, persistence across reopen, the one-lease-per-GPU invariant under many threads, and
 * the same invariants across two store handles (two connections, as two brokers would have).
 *
 * `broker_test_store [PG_URL]`: SQLite files in a temporary directory by default; with a PostgreSQL
 * server URL (the argument, or LEPTON_TEST_PG_URL as pg_fixture.sh sets it) every case runs against
 * PostgreSQL instead, each in a fresh database that is dropped at the end. */
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <unistd.h>

#include "check.h"
#include "proc.h"
#include "metering.h"
#include "pg_testdb.h"
#include "sha256.h"
#include "store.h"
#include "wire.h"

static char g_dir[256];
static int g_seq;
static const char *g_pg;   /* the PostgreSQL server's URL, or NULL for SQLite */
static char g_dbs[64][64]; /* the databases made on it */
static int g_ndbs;

static lp_store *open_store(const char *path) {
    lp_store *s = NULL;
    lp_err e = {0};
    if (lp_store_open(path, &s, &e) != 0) {
        fprintf(stderr, "open %s: %s\n", path, e.message);
        exit(1);
    }
    return s;
}

/* A store on a new, empty database; its path (or URL) in path, to open it again. */
static lp_store *open_fresh(char *path, size_t n) {
    if (!g_pg) {
        snprintf(path, n, "%s/store%d.db", g_dir, ++g_seq);
    } else if (g_ndbs == (int)(sizeof g_dbs / sizeof g_dbs[0]) ||
               pgt_create(g_pg, g_dbs[g_ndbs], sizeof g_dbs[0], path, n) != 0) {
        fprintf(stderr, "cannot create a test database on %s\n", g_pg);
        exit(1);
    } else {
        g_ndbs++;
    }
    return open_store(path);
}

/* The first column of the first row of a query on the store's database, as an integer. */
static long long sql_i64(const char *path, const char *sql) {
    long long v = -1;
    if (g_pg) {
        PGconn *c = PQconnectdb(path);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
            v = atoll(PQgetvalue(r, 0, 0));
        else if (PQresultStatus(r) == PGRES_COMMAND_OK)
            v = atoll(PQcmdTuples(r));
        else
            fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return v;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        else if (rc == SQLITE_DONE)
            v = sqlite3_changes(db);
    } else {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static const lp_principal NODE_P = {.tenant = "acme", .is_node = 1};

static void add_node(lp_store *s, const char *name, int ngpu, const char *model, uint64_t mem, double price,
                     int64_t now) {
    lp_gpu g[16];
    memset(g, 0, sizeof g);
    for (int i = 0; i < ngpu; i++) {
        snprintf(g[i].uuid, sizeof g[i].uuid, "GPU-%s-%d", name, i);
        snprintf(g[i].model, sizeof g[i].model, "%s", model);
        g[i].memory = mem;
    }
    lp_node_reg reg = {name, "http://10.0.0.1:7710", price, (size_t)ngpu, g};
    lp_node out;
    lp_event_list ev = {0};
    lp_err e = {0};
    int created = 0;
    CHECK_EQ_INT(s->ops->node_register(s, &NODE_P, &reg, now, &out, &created, &ev, &e), 0);
    lp_node_clear(&out);
    lp_event_list_clear(&ev);
}

static lp_lease_req req(uint32_t n, const char *model) {
    lp_lease_req r;
    memset(&r, 0, sizeof r);
    r.gpu_count = n;
    snprintf(r.gpu_model, sizeof r.gpu_model, "%s", model ? model : "");
    r.ttl_s = 3600;
    return r;
}

static int grant(lp_store *s, const char *tenant, const lp_lease_req *r, const char *id, int64_t now,
                 lp_lease *out, lp_err *e) {
    int replayed;
    memset(e, 0, sizeof *e);
    return s->ops->lease_grant(s, tenant, r, id, now, out, &replayed, e);
}

static int64_t leased_gpus(lp_store *s) {
    lp_store_stats st;
    lp_err e = {0};
    CHECK_EQ_INT(s->ops->stats(s, &st, &e), 0);
    return st.gpus_leased;
}

static void test_tokens(void) {
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    char h1[65], h2[65];
    lp_sha256_hex("tok-tenant", 10, h1);
    lp_sha256_hex("tok-node", 8, h2);
    lp_err e = {0};
    CHECK_EQ_INT(s->ops->token_create(s, "acme", 0, h1, 1000, 0, &e), 0);
    CHECK_EQ_INT(s->ops->token_create(s, "acme", 1, h2, 1000, 0, &e), 0);
    lp_principal p;
    CHECK_EQ_INT(s->ops->token_lookup(s, h1, &p, &e), 0);
    CHECK_STR(p.tenant, "acme");
    CHECK_EQ_INT(p.is_node, 0);
    CHECK_EQ_INT(s->ops->token_lookup(s, h2, &p, &e), 0);
    CHECK_EQ_INT(p.is_node, 1);
    char h3[65];
    lp_sha256_hex("tok-other", 9, h3);
    CHECK_EQ_INT(s->ops->token_lookup(s, h3, &p, &e), -1);
    CHECK_STR(e.code, WIRE_UNAUTHORIZED);
    unsigned char k1[32], k2[32];
    CHECK_EQ_INT(s->ops->secret(s, k1, &e), 0);
    CHECK_EQ_INT(s->ops->secret(s, k2, &e), 0);
    CHECK(!memcmp(k1, k2, 32));
    lp_store_close(s);
}

/* Tokens an operator manages: each has a public id (not its secret), a tenant, a kind, a creation
 * time and an optional expiry; list shows them (all, or one tenant's), revoke refuses the token from
 * the next lookup on, again changes nothing, and names an unknown id. */
static void test_token_manage(void) {
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    char h1[65], h2[65], h3[65], id1[LP_TOKEN_ID_MAX], id2[LP_TOKEN_ID_MAX];
    lp_sha256_hex("lpt_one", 7, h1);
    lp_sha256_hex("lpn_two", 7, h2);
    lp_sha256_hex("lpt_three", 9, h3);
    lp_token_id(h1, id1);
    lp_token_id(h2, id2);
    CHECK_EQ_INT(strlen(id1), 19);
    CHECK(!strncmp(id1, "tk_", 3) && !strncmp(id1 + 3, h1, 16));
    lp_err e = {0};
    CHECK_EQ_INT(s->ops->token_create(s, "acme", 0, h1, 1000, 0, &e), 0);
    CHECK_EQ_INT(s->ops->token_create(s, "acme", 1, h2, 2000, 5000, &e), 0);
    CHECK_EQ_INT(s->ops->token_create(s, "bobcorp", 0, h3, 3000, 0, &e), 0);

    lp_principal p;
    CHECK_EQ_INT(s->ops->token_lookup(s, h2, &p, &e), 0);
    CHECK_STR(p.token_id, id2);
    CHECK_EQ_INT(p.expires_ms, 5000); /* the caller refuses it from then on (auth.c) */
    CHECK_EQ_INT(s->ops->token_lookup(s, h1, &p, &e), 0);
    CHECK_EQ_INT(p.expires_ms, 0);

    lp_token_list l;
    CHECK_EQ_INT(s->ops->token_list(s, NULL, &l, &e), 0);
    CHECK_EQ_INT(l.n, 3);
    if (l.n == 3) {
        CHECK_STR(l.v[0].id, id1);
        CHECK_STR(l.v[0].tenant, "acme");
        CHECK_EQ_INT(l.v[0].is_node, 0);
        CHECK_EQ_INT(l.v[0].created_ms, 1000);
        CHECK_EQ_INT(l.v[0].expires_ms, 0);
        CHECK_EQ_INT(l.v[0].revoked_ms, 0);
        CHECK_STR(l.v[1].id, id2);
        CHECK_EQ_INT(l.v[1].is_node, 1);
        CHECK_EQ_INT(l.v[1].created_ms, 2000);
        CHECK_EQ_INT(l.v[1].expires_ms, 5000);
        CHECK_STR(l.v[2].tenant, "bobcorp");
    }
    lp_token_list_clear(&l);
    CHECK_EQ_INT(s->ops->token_list(s, "bobcorp", &l, &e), 0);
    CHECK_EQ_INT(l.n, 1);
    lp_token_list_clear(&l);
    CHECK_EQ_INT(s->ops->token_list(s, "nobody", &l, &e), 0);
    CHECK_EQ_INT(l.n, 0);
    lp_token_list_clear(&l);

    lp_token_info t;
    int already = -1;
    CHECK_EQ_INT(s->ops->token_revoke(s, id1, 7000, &t, &already, &e), 0);
    CHECK_EQ_INT(already, 0);
    CHECK_STR(t.id, id1);
    CHECK_STR(t.tenant, "acme");
    CHECK_EQ_INT(t.revoked_ms, 7000);
    memset(&e, 0, sizeof e);
    CHECK_EQ_INT(s->ops->token_lookup(s, h1, &p, &e), -1);
    CHECK_STR(e.code, WIRE_UNAUTHORIZED);
    CHECK_CONTAINS(e.message, "token revoked");
    CHECK_CONTAINS(e.message, id1);
    /* again: nothing changes, the first time stays */
    CHECK_EQ_INT(s->ops->token_revoke(s, id1, 9000, &t, &already, &e), 0);
    CHECK_EQ_INT(already, 1);
    CHECK_EQ_INT(t.revoked_ms, 7000);
    /* the others still work */
    CHECK_EQ_INT(s->ops->token_lookup(s, h3, &p, &e), 0);
    CHECK_STR(p.tenant, "bobcorp");
    CHECK_EQ_INT(s->ops->token_revoke(s, "tk_0000000000000000", 9000, &t, &already, &e), -1);
    CHECK_STR(e.code, WIRE_NOT_FOUND);
    CHECK_CONTAINS(e.message, "no token has id 'tk_0000000000000000'");
    CHECK_EQ_INT(s->ops->token_list(s, "acme", &l, &e), 0);
    CHECK_EQ_INT(l.n, 2);
    if (l.n == 2) {
        CHECK_EQ_INT(l.v[0].revoked_ms, 7000);
        CHECK_EQ_INT(l.v[1].revoked_ms, 0);
    }
    lp_token_list_clear(&l);
    /* persisted: another handle sees the revocation */
    lp_store_close(s);
    s = open_store(path);
    CHECK_EQ_INT(s->ops->token_lookup(s, h1, &p, &e), -1);
    CHECK_CONTAINS(e.message, "token revoked");
    lp_store_close(s);
}

/* A database of schema version 3 (tokens without id, expiry or revocation) gets the columns when
 * opened; its tokens keep working and get the id they would get now. */
static void test_migrate_tokens_v3(void) {
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    char h[65], id[LP_TOKEN_ID_MAX];
    lp_sha256_hex("lpt_old", 7, h);
    lp_token_id(h, id);
    lp_err e = {0};
    CHECK_EQ_INT(s->ops->token_create(s, "acme", 0, h, 1000, 0, &e), 0);
    lp_store_close(s);
    if (!g_pg) CHECK(sql_i64(path, "DROP INDEX tokens_id") >= 0);
    CHECK(sql_i64(path, "ALTER TABLE tokens DROP COLUMN id") >= 0);
    CHECK(sql_i64(path, "ALTER TABLE tokens DROP COLUMN expires_ms") >= 0);
    CHECK(sql_i64(path, "ALTER TABLE tokens DROP COLUMN revoked_ms") >= 0);
    CHECK_EQ_INT(sql_i64(path, "UPDATE meta SET value = '3' WHERE key = 'schema_version'"), 1);
    s = open_store(path);
    CHECK_EQ_INT(sql_i64(path, "SELECT value FROM meta WHERE key = 'schema_version'"), 4);
    lp_principal p;
    CHECK_EQ_INT(s->ops->token_lookup(s, h, &p, &e), 0);
    CHECK_STR(p.tenant, "acme");
    CHECK_STR(p.token_id, id);
    lp_token_info t;
    int already = -1;
    CHECK_EQ_INT(s->ops->token_revoke(s, id, 2000, &t, &already, &e), 0);
    CHECK_EQ_INT(already, 0);
    CHECK_EQ_INT(t.created_ms, 1000);
    CHECK_EQ_INT(s->ops->token_lookup(s, h, &p, &e), -1);
    lp_store_close(s);
}

static void test_grant_cheapest_one_node(void) {
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    add_node(s, "small", 2, "NVIDIA H100 80GB HBM3", 80, 1.0, 0);
    add_node(s, "big", 4, "NVIDIA H100 80GB HBM3", 80, 3.0, 0);
    add_node(s, "mid", 4, "NVIDIA A100", 40, 2.0, 0);
    lp_lease l;
    lp_err e;
    lp_lease_req r = req(3, "h100");
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_1", 1000, &l, &e), 0);
    CHECK_STR(l.node, "big"); /* small is cheaper but has only 2 GPUs: never split across nodes */
    CHECK_EQ_INT(l.gpu_count, 3);
    CHECK_NEAR(l.price, 3.0);
    CHECK_EQ_INT(l.state, LS_ACTIVE);
    CHECK_EQ_INT(l.expires_ms, 1000 + 3600 * 1000);
    lp_lease_clear(&l);
    r = req(1, NULL);
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_2", 1000, &l, &e), 0);
    CHECK_STR(l.node, "small");
    lp_lease_clear(&l);
    r = req(2, "h100");
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_3", 1000, &l, &e), -1);
    CHECK_STR(e.code, WIRE_NO_CAPACITY);
    CHECK_CONTAINS(e.message, "6 GPUs of matching model exist on 2 nodes, 2 are free");
    r = req(1, "a100");
    r.max_price = 1.5;
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_4", 1000, &l, &e), -1);
    CHECK_STR(e.code, WIRE_OVER_BUDGET);
    CHECK_CONTAINS(e.message, "$2.00/h");
    r = req(1, "a100");
    r.max_cost = 0.0000001;
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_5", 1000, &l, &e), -1);
    CHECK_STR(e.code, WIRE_OVER_BUDGET);
    CHECK_EQ_INT(leased_gpus(s), 4); /* refusals changed nothing */
    lp_offer_list ol;
    r = req(1, NULL);
    CHECK_EQ_INT(s->ops->quote(s, &r, &ol, &e), 0);
    CHECK_EQ_INT(ol.n, 3);
    if (ol.n == 3) {
        CHECK_STR(ol.v[0].node, "small");
        CHECK_STR(ol.v[1].node, "mid");
        CHECK_STR(ol.v[2].node, "big");
        CHECK_EQ_INT(ol.v[2].gpus_free, 1);
    }
    lp_offer_list_clear(&ol);
    lp_store_close(s);
}

static void test_idempotency_close_extend(void) {
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    add_node(s, "n", 4, "X", 1, 3.6, 0);
    lp_lease l, l2;
    lp_err e;
    lp_lease_req r = req(1, NULL);
    snprintf(r.idem_key, sizeof r.idem_key, "k1");
    int replayed = 0;
    memset(&e, 0, sizeof e);
    CHECK_EQ_INT(s->ops->lease_grant(s, "acme", &r, "ls_a", 0, &l, &replayed, &e), 0);
    CHECK_EQ_INT(replayed, 0);
    CHECK_EQ_INT(s->ops->lease_grant(s, "acme", &r, "ls_b", 500, &l2, &replayed, &e), 0);
    CHECK_EQ_INT(replayed, 1);
    CHECK_STR(l2.id, "ls_a");
    lp_lease_clear(&l2);
    CHECK_EQ_INT(s->ops->lease_grant(s, "other", &r, "ls_c", 500, &l2, &replayed, &e), 0);
    CHECK_EQ_INT(replayed, 0); /* keys are per tenant */
    CHECK_STR(l2.id, "ls_c");
    lp_lease_clear(&l2);
    CHECK_EQ_INT(leased_gpus(s), 2);
    /* another tenant may not touch it, nor learn that it exists */
    CHECK_EQ_INT(s->ops->lease_get(s, "other", "ls_a", 0, &l2, &e), -1);
    CHECK_STR(e.code, WIRE_NOT_FOUND);
    CHECK_STR(e.message, "no lease ls_a");
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_nope", 0, &l2, &e), -1);
    CHECK_STR(e.code, WIRE_NOT_FOUND);
    /* extend */
    CHECK_EQ_INT(s->ops->lease_extend(s, "acme", "ls_a", 60, NULL, 1000, &l2, &e), 0);
    CHECK_EQ_INT(l2.ttl_s, 3660);
    CHECK_EQ_INT(l2.expires_ms, 3660 * 1000);
    lp_lease_clear(&l2);
    /* a keyed extension is made once: the same key again answers the lease as it is */
    CHECK_EQ_INT(s->ops->lease_extend(s, "acme", "ls_a", 40, "ek_1", 1100, &l2, &e), 0);
    CHECK_EQ_INT(l2.ttl_s, 3700);
    lp_lease_clear(&l2);
    CHECK_EQ_INT(s->ops->lease_extend(s, "acme", "ls_a", 40, "ek_1", 1200, &l2, &e), 0);
    CHECK_EQ_INT(l2.ttl_s, 3700);
    CHECK_EQ_INT(l2.expires_ms, 3700 * 1000);
    lp_lease_clear(&l2);
    CHECK_EQ_INT(s->ops->lease_extend(s, "acme", "ls_a", 40, "ek_2", 1300, &l2, &e), 0);
    CHECK_EQ_INT(l2.ttl_s, 3740);
    lp_lease_clear(&l2);
    CHECK_EQ_INT(s->ops->lease_extend(s, "acme", "ls_a", 1, "ek_1", 1400, &l2, &e), 0); /* still made once */
    CHECK_EQ_INT(l2.ttl_s, 3740);
    lp_lease_clear(&l2);
    /* close at 2.5 s: 3 started seconds at $0.001/s */
    CHECK_EQ_INT(s->ops->lease_end(s, "acme", "ls_a", LS_CLOSED, "closed by its holder", 2500, &l2, &e), 0);
    CHECK_EQ_INT(l2.state, LS_CLOSED);
    lp_bill b = lp_lease_bill(&l2, 999999);
    CHECK_EQ_INT(b.billed_s, 3);
    CHECK_NEAR(b.cost, 0.003);
    lp_lease_clear(&l2);
    /* ended leases are immutable */
    memset(&e, 0, sizeof e);
    CHECK_EQ_INT(s->ops->lease_end(s, "acme", "ls_a", LS_CLOSED, "again", 9000, &l2, &e), -1);
    CHECK_STR(e.code, WIRE_LEASE_ENDED);
    CHECK_STR(l2.id, "ls_a");
    CHECK_EQ_INT(l2.ended_ms, 2500);
    CHECK_STR(l2.end_reason, "closed by its holder");
    lp_lease_clear(&l2);
    CHECK_EQ_INT(s->ops->lease_extend(s, "acme", "ls_a", 60, NULL, 9000, &l2, &e), -1);
    CHECK_STR(e.code, WIRE_LEASE_ENDED);
    lp_lease_clear(&l2);
    /* replaying the key of an ended lease returns the ended lease, it grants nothing */
    CHECK_EQ_INT(s->ops->lease_grant(s, "acme", &r, "ls_d", 9000, &l2, &replayed, &e), 0);
    CHECK_EQ_INT(replayed, 1);
    CHECK_EQ_INT(l2.state, LS_CLOSED);
    lp_lease_clear(&l2);
    CHECK_EQ_INT(leased_gpus(s), 1);
    lp_lease_clear(&l);
    lp_store_close(s);
}

static void test_ttl_and_cost_cap(void) {
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    add_node(s, "n", 2, "X", 1, 3.6, 0); /* $0.001 per GPU-second */
    lp_lease l;
    lp_err e;
    lp_lease_req r = req(1, NULL);
    r.ttl_s = 10;
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_ttl", 1000, &l, &e), 0);
    lp_lease_clear(&l);
    r = req(1, NULL);
    r.max_cost = 0.0055; /* buys 5 s */
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_cap", 1000, &l, &e), 0);
    CHECK_EQ_INT(l.cap_ms, 6000);
    lp_lease_clear(&l);
    lp_event_list ev = {0};
    CHECK_EQ_INT(s->ops->expire_due(s, 5999, 0, &ev, &e), 0);
    CHECK_EQ_INT(ev.n, 0);
    /* the get view already shows the cap once due, before the reaper persists it */
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_cap", 6000, &l, &e), 0);
    CHECK_EQ_INT(l.state, LS_EXHAUSTED);
    lp_lease_clear(&l);
    CHECK_EQ_INT(s->ops->expire_due(s, 6500, 0, &ev, &e), 0);
    CHECK_EQ_INT(ev.n, 1);
    if (ev.n == 1) {
        CHECK_STR(ev.v[0].id, "ls_cap");
        CHECK_EQ_INT(ev.v[0].state, LS_EXHAUSTED);
    }
    lp_event_list_clear(&ev);
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_cap", 99999, &l, &e), 0);
    CHECK_EQ_INT(l.state, LS_EXHAUSTED);
    CHECK_EQ_INT(l.ended_ms, 6000);
    lp_bill b = lp_lease_bill(&l, 99999);
    CHECK_EQ_INT(b.billed_s, 5);
    CHECK(b.cost <= 0.0055);
    CHECK_NEAR(b.cost, 0.005);
    lp_lease_clear(&l);
    CHECK_EQ_INT(leased_gpus(s), 1);
    CHECK_EQ_INT(s->ops->expire_due(s, 11000, 0, &ev, &e), 0);
    CHECK_EQ_INT(ev.n, 1);
    lp_event_list_clear(&ev);
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_ttl", 50000, &l, &e), 0);
    CHECK_EQ_INT(l.state, LS_EXPIRED);
    CHECK_EQ_INT(l.ended_ms, 11000); /* at its TTL, not when the reaper ran */
    CHECK_STR(l.end_reason, "TTL of 10 s reached");
    CHECK_EQ_INT(lp_lease_bill(&l, 50000).billed_s, 10);
    lp_lease_clear(&l);
    CHECK_EQ_INT(leased_gpus(s), 0);
    lp_store_close(s);
}

static void test_node_lost_and_persistence(void) {
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    add_node(s, "n1", 2, "X", 1, 3.6, 0);
    lp_lease l;
    lp_err e;
    lp_lease_req r = req(2, NULL);
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_n", 1000, &l, &e), 0);
    lp_lease_clear(&l);
    lp_node n;
    lp_lease_list ll;
    CHECK_EQ_INT(s->ops->node_heartbeat(s, &NODE_P, "n1", 5000, &n, &ll, &e), 0);
    CHECK_EQ_INT(ll.n, 1);
    lp_node_clear(&n);
    lp_lease_list_clear(&ll);
    lp_principal other = {.tenant = "evil", .is_node = 1};
    CHECK_EQ_INT(s->ops->node_heartbeat(s, &other, "n1", 5000, &n, &ll, &e), -1);
    CHECK_STR(e.code, WIRE_FORBIDDEN);
    /* restart the store: everything is still there */
    lp_store_close(s);
    lp_err oe = {0};
    CHECK_EQ_INT(lp_store_open(path, &s, &oe), 0);
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_n", 6000, &l, &e), 0);
    CHECK_EQ_INT(l.state, LS_ACTIVE);
    CHECK_EQ_INT(l.gpu_count, 2);
    lp_lease_clear(&l);
    CHECK_EQ_INT(leased_gpus(s), 2);
    lp_event_list ev = {0};
    CHECK_EQ_INT(s->ops->expire_due(s, 19999, 15000, &ev, &e), 0);
    CHECK_EQ_INT(ev.n, 0);
    CHECK_EQ_INT(s->ops->expire_due(s, 20001, 15000, &ev, &e), 0);
    CHECK_EQ_INT(ev.n, 2); /* the lease, then the node */
    lp_event_list_clear(&ev);
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_n", 30000, &l, &e), 0);
    CHECK_EQ_INT(l.state, LS_FAILED);
    CHECK_EQ_INT(l.ended_ms, 5000); /* billed up to the last heartbeat */
    CHECK_CONTAINS(l.end_reason, "node n1 lost");
    CHECK_EQ_INT(lp_lease_bill(&l, 30000).gpu_seconds, 8);
    lp_lease_clear(&l);
    CHECK_EQ_INT(leased_gpus(s), 0);
    r = req(1, NULL);
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_x", 30000, &l, &e), -1); /* lost nodes are not offered */
    CHECK_STR(e.code, WIRE_NO_CAPACITY);
    /* a heartbeat brings it back */
    CHECK_EQ_INT(s->ops->node_heartbeat(s, &NODE_P, "n1", 31000, &n, &ll, &e), 0);
    CHECK_STR(n.state, "ready");
    CHECK_EQ_INT(ll.n, 0);
    lp_node_clear(&n);
    lp_lease_list_clear(&ll);
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_y", 31000, &l, &e), 0);
    lp_lease_clear(&l);
    /* deregistering fails its leases */
    CHECK_EQ_INT(s->ops->node_deregister(s, &NODE_P, "n1", 33000, &n, &ev, &e), 0);
    CHECK_STR(n.state, "gone");
    CHECK_EQ_INT(ev.n, 1);
    lp_node_clear(&n);
    lp_event_list_clear(&ev);
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_y", 40000, &l, &e), 0);
    CHECK_EQ_INT(l.state, LS_FAILED);
    CHECK_EQ_INT(l.ended_ms, 33000);
    lp_lease_clear(&l);
    lp_lease_list all;
    CHECK_EQ_INT(s->ops->lease_list(s, "acme", -1, 40000, &all, &e), 0);
    CHECK_EQ_INT(all.n, 2);
    if (all.n == 2) CHECK_STR(all.v[0].id, "ls_y"); /* newest first */
    lp_lease_list_clear(&all);
    lp_store_close(s);
}

static void test_register_rules(void) {
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    add_node(s, "a", 2, "X", 1, 1.0, 0);
    lp_lease l;
    lp_err e;
    lp_lease_req r = req(1, NULL);
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_r", 0, &l, &e), 0);
    lp_lease_clear(&l);
    /* same GPUs again (agent restart): the lease survives, the price changes */
    add_node(s, "a", 2, "X", 1, 2.0, 100);
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_r", 200, &l, &e), 0);
    CHECK_EQ_INT(l.state, LS_ACTIVE);
    CHECK_NEAR(l.price, 1.0); /* the price agreed at grant */
    lp_lease_clear(&l);
    CHECK_EQ_INT(leased_gpus(s), 1);
    /* a GPU uuid of node a claimed by node b */
    lp_gpu g;
    memset(&g, 0, sizeof g);
    snprintf(g.uuid, sizeof g.uuid, "GPU-a-0");
    snprintf(g.model, sizeof g.model, "X");
    lp_node_reg reg = {"b", "addr", 1.0, 1, &g};
    lp_node n;
    lp_event_list ev = {0};
    int created;
    memset(&e, 0, sizeof e);
    CHECK_EQ_INT(s->ops->node_register(s, &NODE_P, &reg, 300, &n, &created, &ev, &e), -1);
    CHECK_STR(e.code, WIRE_CONFLICT);
    /* another tenant cannot take over node a */
    lp_principal other = {.tenant = "evil", .is_node = 1};
    reg.name = "a";
    snprintf(g.uuid, sizeof g.uuid, "GPU-new");
    CHECK_EQ_INT(s->ops->node_register(s, &other, &reg, 300, &n, &created, &ev, &e), -1);
    CHECK_STR(e.code, WIRE_FORBIDDEN);
    /* different GPUs: the node's leases fail */
    CHECK_EQ_INT(s->ops->node_register(s, &NODE_P, &reg, 400, &n, &created, &ev, &e), 0);
    CHECK_EQ_INT(created, 0);
    CHECK_EQ_INT(n.gpus_total, 1);
    CHECK_EQ_INT(ev.n, 1);
    lp_node_clear(&n);
    lp_event_list_clear(&ev);
    CHECK_EQ_INT(leased_gpus(s), 0);
    lp_store_close(s);
}

/* ---- the invariant under concurrency ---- */
#define THREADS 16
#define ATTEMPTS 200
static lp_store *g_store;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_held[64][LP_NAME_MAX + 1]; /* uuids currently held according to grants seen */
static int g_nheld, g_conflicts, g_granted, g_closed, g_refused, g_errors;

static void *hammer(void *arg) {
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < ATTEMPTS; i++) {
        lp_lease_req r = req((uint32_t)(1 + (t + i) % 3), NULL);
        char id[LP_ID_MAX];
        snprintf(id, sizeof id, "ls_t%d_%d", t, i);
        lp_lease l;
        lp_err e;
        if (grant(g_store, "acme", &r, id, 1000, &l, &e) != 0) {
            pthread_mutex_lock(&g_mu);
            if (e.code && !strcmp(e.code, WIRE_NO_CAPACITY))
                g_refused++;
            else
                g_errors++;
            pthread_mutex_unlock(&g_mu);
            continue;
        }
        pthread_mutex_lock(&g_mu);
        g_granted++;
        for (uint32_t k = 0; k < l.gpu_count; k++) {
            for (int h = 0; h < g_nheld; h++)
                if (!strcmp(g_held[h], l.gpus[k].uuid)) g_conflicts++;
            snprintf(g_held[g_nheld++], sizeof g_held[0], "%s", l.gpus[k].uuid);
        }
        pthread_mutex_unlock(&g_mu);
        pthread_mutex_lock(&g_mu);
        for (uint32_t k = 0; k < l.gpu_count; k++)
            for (int h = 0; h < g_nheld; h++)
                if (!strcmp(g_held[h], l.gpus[k].uuid)) {
                    memmove(g_held[h], g_held[g_nheld - 1], sizeof g_held[0]);
                    g_nheld--;
                    break;
                }
        pthread_mutex_unlock(&g_mu);
        lp_lease ended;
        if (g_store->ops->lease_end(g_store, "acme", l.id, LS_CLOSED, "closed by its holder", 2000, &ended,
                                    &e) == 0) {
            pthread_mutex_lock(&g_mu);
            g_closed++;
            pthread_mutex_unlock(&g_mu);
            lp_lease_clear(&ended);
        }
        lp_lease_clear(&l);
    }
    return NULL;
}

static void test_concurrent_invariant(void) {
    char path[300];
    g_store = open_fresh(path, sizeof path);
    add_node(g_store, "c1", 4, "X", 1, 1.0, 0);
    add_node(g_store, "c2", 4, "X", 1, 2.0, 0);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(g_conflicts, 0);
    CHECK_EQ_INT(g_errors, 0);
    CHECK_EQ_INT(g_granted + g_refused, THREADS * ATTEMPTS);
    CHECK_EQ_INT(g_closed, g_granted);
    CHECK(g_granted >= 100); /* real contention, yet progress */
    lp_store_stats st;
    lp_err e = {0};
    CHECK_EQ_INT(g_store->ops->stats(g_store, &st, &e), 0);
    CHECK_EQ_INT(st.gpus_leased, 0);
    CHECK_EQ_INT(st.gpus_free, 8);
    CHECK_EQ_INT(st.leases_by_state[LS_CLOSED], g_granted);
    CHECK_EQ_INT(st.leases_by_state[LS_ACTIVE], 0);
    fprintf(stderr, "     %d granted, %d refused, 0 conflicts\n", g_granted, g_refused);
    lp_store_close(g_store);
}

/* ---- the invariants across two handles on one database (two brokers) ---- */
#define XTHREADS 8
static lp_store *g_x[2];
static pthread_barrier_t g_bar;
static int g_round;
static char g_ids[XTHREADS * 8][LP_ID_MAX];
static int g_nids, g_fresh;
static lp_event_list g_events;

static lp_store *x_store(int t) { return g_x[t % 2]; }

/* Each thread asks for 1 GPU four times, never closing: 8 GPUs for 32 requests. */
static void *x_grab(void *arg) {
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&g_bar);
    for (int i = 0; i < 4; i++) {
        lp_lease_req r = req(1, NULL);
        char id[LP_ID_MAX];
        snprintf(id, sizeof id, "ls_x%d_%d", t, i);
        lp_lease l;
        lp_err e;
        int rc = grant(x_store(t), "acme", &r, id, 1000, &l, &e);
        pthread_mutex_lock(&g_mu);
        if (rc != 0 && e.code && !strcmp(e.code, WIRE_NO_CAPACITY)) {
            g_refused++;
        } else if (rc != 0) {
            fprintf(stderr, "     grant: %s: %s\n", e.code, e.message);
            g_errors++;
        } else {
            g_granted++;
            for (int h = 0; h < g_nheld; h++)
                if (!strcmp(g_held[h], l.gpus[0].uuid)) g_conflicts++;
            snprintf(g_held[g_nheld++], sizeof g_held[0], "%s", l.gpus[0].uuid);
            lp_lease_clear(&l);
        }
        pthread_mutex_unlock(&g_mu);
    }
    return NULL;
}

/* Every thread opens a lease under the round's key at once; one grant, the others replay it. */
static void *x_same_key(void *arg) {
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&g_bar);
    lp_lease_req r = req(1, NULL);
    snprintf(r.idem_key, sizeof r.idem_key, "key-%d", g_round);
    char id[LP_ID_MAX];
    snprintf(id, sizeof id, "ls_k%d_%d", g_round, t);
    lp_lease l;
    lp_err e = {0};
    int replayed = 0;
    int rc = x_store(t)->ops->lease_grant(x_store(t), "acme", &r, id, 1000, &l, &replayed, &e);
    pthread_mutex_lock(&g_mu);
    if (rc != 0) {
        fprintf(stderr, "     grant: %s: %s\n", e.code, e.message);
        g_errors++;
    } else {
        if (!replayed) g_fresh++;
        snprintf(g_ids[g_nids++], LP_ID_MAX, "%s", l.id);
        lp_lease_clear(&l);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* Every thread extends lease ls_ext by 10 s under the round's key at once. */
static void *x_extend(void *arg) {
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&g_bar);
    char key[32];
    snprintf(key, sizeof key, "ext-%d", g_round);
    lp_lease l;
    lp_err e = {0};
    int rc = x_store(t)->ops->lease_extend(x_store(t), "acme", "ls_ext", 10, key, 2000, &l, &e);
    pthread_mutex_lock(&g_mu);
    if (rc != 0) {
        fprintf(stderr, "     extend: %s: %s\n", e.code, e.message);
        g_errors++;
    } else {
        lp_lease_clear(&l);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* Every thread runs the reaper's expire_due at the same moment. */
static void *x_expire(void *arg) {
    int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&g_bar);
    lp_event_list ev = {0};
    lp_err e = {0};
    int rc = x_store(t)->ops->expire_due(x_store(t), 30000, 10000, &ev, &e);
    pthread_mutex_lock(&g_mu);
    if (rc != 0) {
        fprintf(stderr, "     expire_due: %s: %s\n", e.code, e.message);
        g_errors++;
    }
    for (size_t i = 0; i < ev.n; i++)
        lp_event_list_push(&g_events, &ev.v[i]);
    pthread_mutex_unlock(&g_mu);
    lp_event_list_clear(&ev);
    return NULL;
}

static void x_run(void *(*fn)(void *)) {
    pthread_t th[XTHREADS];
    pthread_barrier_init(&g_bar, NULL, XTHREADS);
    for (int i = 0; i < XTHREADS; i++)
        pthread_create(&th[i], NULL, fn, (void *)(intptr_t)i);
    for (int i = 0; i < XTHREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&g_bar);
}

/* PostgreSQL only: several brokers on one database is what it is for. (SQLite keeps the lease
 * invariants across handles too, but its expire_due picks silent nodes before its transaction, so two
 * processes reaping at once may both report the same node lost.) */
static void test_two_handles(void) {
    if (!g_pg) return;
    char path[300];
    g_x[0] = open_fresh(path, sizeof path);
    g_x[1] = open_store(path);
    add_node(g_x[0], "x1", 4, "X", 1, 3.6, 0);
    add_node(g_x[1], "x2", 4, "X", 1, 3.6, 0);
    lp_err e = {0};

    /* grants for fewer GPUs than requests: each GPU in one lease, as many grants as GPUs */
    g_granted = g_refused = g_errors = g_conflicts = g_nheld = 0;
    x_run(x_grab);
    CHECK_EQ_INT(g_errors, 0);
    CHECK_EQ_INT(g_conflicts, 0);
    CHECK_EQ_INT(g_granted, 8);
    CHECK_EQ_INT(g_refused, XTHREADS * 4 - 8);
    CHECK_EQ_INT(leased_gpus(g_x[1]), 8);
    CHECK_EQ_INT(sql_i64(path, "SELECT count(*) FROM leases WHERE state = 1"), 8);
    CHECK_EQ_INT(sql_i64(path, "SELECT count(DISTINCT lease_id) FROM gpus"), 8);
    for (int t = 0; t < XTHREADS; t++)
        for (int i = 0; i < 4; i++) {
            char id[LP_ID_MAX];
            snprintf(id, sizeof id, "ls_x%d_%d", t, i);
            lp_lease l;
            if (g_x[0]->ops->lease_end(g_x[0], "acme", id, LS_CLOSED, "done", 1500, &l, &e) == 0)
                lp_lease_clear(&l);
        }
    CHECK_EQ_INT(leased_gpus(g_x[0]), 0);

    /* one idempotency key from both handles at once: granted once */
    for (g_round = 0; g_round < 5; g_round++) {
        g_nids = g_fresh = g_errors = 0;
        x_run(x_same_key);
        CHECK_EQ_INT(g_errors, 0);
        CHECK_EQ_INT(g_fresh, 1);
        CHECK_EQ_INT(g_nids, XTHREADS);
        for (int i = 1; i < g_nids; i++)
            CHECK_STR(g_ids[i], g_ids[0]);
        CHECK_EQ_INT(leased_gpus(g_x[0]), g_round + 1);
    }
    CHECK_EQ_INT(sql_i64(path, "SELECT count(*) FROM leases WHERE idem_key IS NOT NULL"), 5);

    /* one extension key from both handles at once: extended once */
    lp_lease_req r = req(1, NULL);
    lp_lease l;
    CHECK_EQ_INT(grant(g_x[0], "acme", &r, "ls_ext", 1000, &l, &e), 0);
    lp_lease_clear(&l);
    for (g_round = 0; g_round < 5; g_round++) {
        g_errors = 0;
        x_run(x_extend);
        CHECK_EQ_INT(g_errors, 0);
        CHECK_EQ_INT(g_x[1]->ops->lease_get(g_x[1], "acme", "ls_ext", 2000, &l, &e), 0);
        CHECK_EQ_INT(l.ttl_s, 3600 + 10 * (g_round + 1));
        lp_lease_clear(&l);
    }
    CHECK_EQ_INT(g_x[0]->ops->lease_end(g_x[0], "acme", "ls_ext", LS_CLOSED, "done", 2000, &l, &e), 0);
    lp_lease_clear(&l);

    /* expire_due from both handles at once: every due lease ends once, billed once */
    lp_lease_list open;
    CHECK_EQ_INT(g_x[0]->ops->lease_list(g_x[0], "acme", LS_ACTIVE, 2000, &open, &e), 0);
    for (size_t i = 0; i < open.n; i++) {
        CHECK_EQ_INT(g_x[0]->ops->lease_end(g_x[0], "acme", open.v[i].id, LS_CLOSED, "done", 2000, &l, &e),
                     0);
        lp_lease_clear(&l);
    }
    lp_lease_list_clear(&open);
    for (int i = 0; i < 6; i++) { /* TTLs of 10..15 s from t=3 s */
        r = req(1, NULL);
        r.ttl_s = (uint32_t)(10 + i);
        char id[LP_ID_MAX];
        snprintf(id, sizeof id, "ls_due%d", i);
        CHECK_EQ_INT(grant(g_x[i % 2], "acme", &r, id, 3000, &l, &e), 0);
        lp_lease_clear(&l);
    }
    add_node(g_x[1], "x3", 2, "Y", 1, 3.6, 4000); /* silent from now on: lost at 30 s */
    r = req(2, "Y");
    CHECK_EQ_INT(grant(g_x[1], "acme", &r, "ls_lost", 4000, &l, &e), 0);
    lp_lease_clear(&l);
    lp_node n;
    lp_lease_list ll;
    for (int i = 1; i <= 2; i++) { /* x1, x2 stay alive */
        char name[8];
        snprintf(name, sizeof name, "x%d", i);
        CHECK_EQ_INT(g_x[0]->ops->node_heartbeat(g_x[0], &NODE_P, name, 25000, &n, &ll, &e), 0);
        lp_node_clear(&n);
        lp_lease_list_clear(&ll);
    }
    memset(&g_events, 0, sizeof g_events);
    g_errors = 0;
    x_run(x_expire);
    CHECK_EQ_INT(g_errors, 0);
    CHECK_EQ_INT(g_events.n, 6 + 1 + 1); /* the leases past their TTL, the lost node's lease, the node */
    int node_events = 0;
    for (size_t i = 0; i < g_events.n; i++) {
        node_events += g_events.v[i].is_node;
        for (size_t k = 0; k < i; k++)
            if (!g_events.v[i].is_node && !strcmp(g_events.v[i].id, g_events.v[k].id))
                CHECK(!"a lease ended twice");
    }
    CHECK_EQ_INT(node_events, 1);
    lp_event_list_clear(&g_events);
    CHECK_EQ_INT(sql_i64(path, "SELECT count(*) FROM leases WHERE state = 3"), 6);
    CHECK_EQ_INT(sql_i64(path, "SELECT sum(billed_s) FROM leases WHERE state = 3"),
                 10 + 11 + 12 + 13 + 14 + 15);
    /* the lost node's lease: billed from 4 s to its last heartbeat (4 s): nothing */
    CHECK_EQ_INT(sql_i64(path, "SELECT billed_s FROM leases WHERE id = 'ls_lost' AND state = 5"), 0);
    CHECK_EQ_INT(leased_gpus(g_x[1]), 0);
    lp_store_close(g_x[0]);
    lp_store_close(g_x[1]);
}

/* PostgreSQL: a store whose connection is cut (a server restart, a failover) reconnects and goes on. */
static void test_reconnect(void) {
    if (!g_pg) return; /* SQLite has no connection to lose */
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    add_node(s, "r", 2, "X", 1, 1.0, 0);
    CHECK_EQ_INT(sql_i64(path, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                               " WHERE datname = current_database() AND application_name = 'lepton-broker'"),
                 1);
    usleep(100 * 1000);
    lp_lease l;
    lp_err e;
    lp_lease_req r = req(1, NULL);
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_after", 1000, &l, &e), 0);
    lp_lease_clear(&l);
    CHECK_EQ_INT(leased_gpus(s), 1);
    lp_store_close(s);
}

static void test_open_errors(void) {
    lp_store *s = NULL;
    lp_err e = {0};
    /* nothing listens on port 1: the message names the server, never the password */
    CHECK_EQ_INT(lp_store_open("postgresql://lepton:s3cret@127.0.0.1:1/nodb?connect_timeout=5", &s, &e), -1);
    CHECK(s == NULL);
    CHECK_STR(e.code, WIRE_INTERNAL);
    CHECK_CONTAINS(e.message, "cannot connect to PostgreSQL database postgresql://lepton@127.0.0.1:1/nodb");
    CHECK(!strstr(e.message, "s3cret"));
    memset(&e, 0, sizeof e);
    CHECK_EQ_INT(lp_store_open("postgres://127.0.0.1:1/x?password=s3cret&connect_timeout=5", &s, &e), -1);
    CHECK_CONTAINS(e.message, "postgres://127.0.0.1:1/x?connect_timeout=5");
    CHECK(!strstr(e.message, "s3cret"));
    memset(&e, 0, sizeof e);
    CHECK_EQ_INT(lp_store_open("", &s, &e), -1);
    CHECK_STR(e.code, WIRE_INVALID);
}

/* keepalive: renewals keep a lease alive; without one for keepalive_s it ends expired, billed up to
 * the last renewal, with an end_reason that says its holder stopped answering. */
static void test_keepalive(void) {
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    add_node(s, "n", 2, "X", 1, 3.6, 0); /* $0.001 per GPU-second */
    lp_lease_req r = req(1, NULL);
    r.keepalive_s = 30;
    lp_lease l;
    lp_err e;
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_k", 0, &l, &e), 0);
    CHECK_EQ_INT(l.keepalive_s, 30);
    CHECK_EQ_INT(l.renewed_ms, 0);
    lp_lease_clear(&l);
    lp_event_list ev = {0};
    for (int64_t t = 20000; t <= 200000; t += 20000) { /* renewed every 20 s: alive */
        CHECK_EQ_INT(s->ops->lease_renew(s, "acme", "ls_k", t, &l, &e), 0);
        CHECK_EQ_INT(l.renewed_ms, t);
        lp_lease_clear(&l);
        CHECK_EQ_INT(s->ops->expire_due(s, t + 19999, 0, &ev, &e), 0);
        CHECK_EQ_INT((int)ev.n, 0);
    }
    /* another tenant cannot renew it (and learns nothing) */
    CHECK_EQ_INT(s->ops->lease_renew(s, "other", "ls_k", 200000, &l, &e), -1);
    CHECK_STR(e.code, WIRE_NOT_FOUND);
    /* the holder goes away after the renewal at 200 s: at 230 s the reaper ends it */
    CHECK_EQ_INT(s->ops->expire_due(s, 229999, 0, &ev, &e), 0);
    CHECK_EQ_INT((int)ev.n, 0);
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_k", 229999, &l, &e), 0);
    CHECK_EQ_INT(l.state, LS_ACTIVE);
    lp_lease_clear(&l);
    CHECK_EQ_INT(s->ops->expire_due(s, 230000, 0, &ev, &e), 0);
    CHECK_EQ_INT((int)ev.n, 1);
    if (ev.n) CHECK_EQ_INT(ev.v[0].state, LS_EXPIRED);
    lp_event_list_clear(&ev);
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_k", 500000, &l, &e), 0);
    CHECK_EQ_INT(l.state, LS_EXPIRED);
    CHECK_CONTAINS(l.end_reason, "holder stopped answering");
    CHECK_EQ_INT(l.ended_ms, 200000); /* billed to the last renewal */
    CHECK_EQ_INT(lp_lease_bill(&l, 500000).billed_s, 200);
    lp_lease_clear(&l);
    CHECK_EQ_INT(leased_gpus(s), 0);
    CHECK_EQ_INT(s->ops->lease_renew(s, "acme", "ls_k", 500000, &l, &e), -1);
    CHECK_STR(e.code, WIRE_LEASE_ENDED);
    CHECK_EQ_INT(l.state, LS_EXPIRED);
    lp_lease_clear(&l);
    /* a lease without keepalive is not touched by renewals, nor ended for lack of them */
    r.keepalive_s = 0;
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_n", 0, &l, &e), 0);
    lp_lease_clear(&l);
    CHECK_EQ_INT(s->ops->expire_due(s, 3599999, 0, &ev, &e), 0);
    CHECK_EQ_INT((int)ev.n, 0);
    CHECK_EQ_INT(s->ops->lease_renew(s, "acme", "ls_n", 1000, &l, &e), 0);
    CHECK_EQ_INT(l.state, LS_ACTIVE);
    lp_lease_clear(&l);
    /* the keepalive view before the reaper runs: shown ended at the last renewal */
    r.keepalive_s = 5;
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_v", 1000, &l, &e), 0);
    lp_lease_clear(&l);
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_v", 7000, &l, &e), 0);
    CHECK_EQ_INT(l.state, LS_EXPIRED);
    CHECK_EQ_INT(l.ended_ms, 1000);
    CHECK_EQ_INT(lp_lease_bill(&l, 7000).billed_s, 0);
    lp_lease_clear(&l);
    lp_store_close(s);
}

/* A database of schema version 1 (before keepalive) gets the keepalive columns when opened; its
 * leases keep working and have no keepalive. */
static void test_migrate_v1(void) {
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    add_node(s, "n", 2, "X", 1, 3.6, 0);
    lp_lease_req r = req(1, NULL);
    lp_lease l;
    lp_err e;
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_old", 0, &l, &e), 0);
    lp_lease_clear(&l);
    lp_store_close(s);
    /* back to version 1: the columns gone */
    CHECK(sql_i64(path, "ALTER TABLE leases DROP COLUMN keepalive_s") >= 0);
    CHECK(sql_i64(path, "ALTER TABLE leases DROP COLUMN renewed_ms") >= 0);
    CHECK_EQ_INT(sql_i64(path, "UPDATE meta SET value = '1' WHERE key = 'schema_version'"), 1);
    s = open_store(path);
    CHECK_EQ_INT(sql_i64(path, "SELECT value FROM meta WHERE key = 'schema_version'"), 4);
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_old", 1000, &l, &e), 0);
    CHECK_EQ_INT(l.state, LS_ACTIVE);
    CHECK_EQ_INT(l.keepalive_s, 0);
    lp_lease_clear(&l);
    r.keepalive_s = 10;
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_new", 1000, &l, &e), 0);
    lp_lease_clear(&l);
    CHECK_EQ_INT(s->ops->lease_get(s, "acme", "ls_new", 2000, &l, &e), 0);
    CHECK_EQ_INT(l.keepalive_s, 10);
    CHECK_EQ_INT(l.renewed_ms, 1000);
    lp_lease_clear(&l);
    lp_store_close(s);
}

/* A SQLite database of schema version 2 (no leases.seq) gets the column when opened, numbered in the
 * order its leases were made: a tenant's leases made in one millisecond list newest first, before and
 * after. (PostgreSQL's leases always had seq.) */
static void test_migrate_v2(void) {
    if (g_pg) return;
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    add_node(s, "n", 4, "X", 1, 3.6, 0);
    lp_lease_req r = req(1, NULL);
    lp_lease l;
    lp_err e;
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_c", 0, &l, &e), 0);
    lp_lease_clear(&l);
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_a", 0, &l, &e), 0);
    lp_lease_clear(&l);
    lp_store_close(s);
    CHECK(sql_i64(path, "DROP TRIGGER leases_seq") >= 0);
    CHECK(sql_i64(path, "ALTER TABLE leases DROP COLUMN seq") >= 0);
    CHECK_EQ_INT(sql_i64(path, "UPDATE meta SET value = 2 WHERE key = 'schema_version'"), 1);
    s = open_store(path);
    CHECK_EQ_INT(sql_i64(path, "SELECT value FROM meta WHERE key = 'schema_version'"), 4);
    CHECK_EQ_INT(grant(s, "acme", &r, "ls_b", 0, &l, &e), 0);
    lp_lease_clear(&l);
    lp_lease_list ll;
    CHECK_EQ_INT(s->ops->lease_list(s, "acme", -1, 0, &ll, &e), 0);
    CHECK_EQ_INT(ll.n, 3);
    if (ll.n == 3) {
        CHECK_STR(ll.v[0].id, "ls_b");
        CHECK_STR(ll.v[1].id, "ls_a");
        CHECK_STR(ll.v[2].id, "ls_c");
    }
    lp_lease_list_clear(&ll);
    lp_store_close(s);
}

static void test_newer_schema_refused(void) {
    char path[300];
    lp_store *s = open_fresh(path, sizeof path);
    lp_store_close(s);
    CHECK_EQ_INT(sql_i64(path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'"), 1);
    lp_err e = {0};
    CHECK_EQ_INT(lp_store_open(path, &s, &e), -1);
    CHECK_CONTAINS(e.message, "database schema version 99 is newer than this broker's (4)");
}

int main(int argc, char **argv) {
    g_pg = argc > 1 ? argv[1] : getenv("LEPTON_TEST_PG_URL");
    if (g_pg && !*g_pg) g_pg = NULL;
    fprintf(stderr, "store backend: %s\n", g_pg ? g_pg : "SQLite");
    snprintf(g_dir, sizeof g_dir, "/tmp/lepton-store-test-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    CHECK_RUN(test_tokens);
    CHECK_RUN(test_token_manage);
    CHECK_RUN(test_migrate_tokens_v3);
    CHECK_RUN(test_grant_cheapest_one_node);
    CHECK_RUN(test_idempotency_close_extend);
    CHECK_RUN(test_ttl_and_cost_cap);
    CHECK_RUN(test_node_lost_and_persistence);
    CHECK_RUN(test_register_rules);
    CHECK_RUN(test_concurrent_invariant);
    CHECK_RUN(test_two_handles);
    CHECK_RUN(test_reconnect);
    CHECK_RUN(test_open_errors);
    CHECK_RUN(test_newer_schema_refused);
    CHECK_RUN(test_keepalive);
    CHECK_RUN(test_migrate_v1);
    CHECK_RUN(test_migrate_v2);
    tc_remove_dir(g_dir);
    for (int i = 0; i < g_ndbs; i++)
        pgt_drop(g_pg, g_dbs[i]);
    return check_done("unit.broker.store");
}
