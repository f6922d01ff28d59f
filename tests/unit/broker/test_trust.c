/* test_trust.c — the broker in-process through HTTP, with the test clock: keepalive (a lease whose
 * holder stops renewing ends expired with an end_reason that says so, billed to the last renewal;
 * renewals keep it alive), what tenants can learn of each other (GET /v1/nodes shows only the
 * caller's lease ids; /metrics, which needs no token, shows no tenant name or lease id), and the
 * database's permissions (created 0600 with its -wal and -shm; a group/world-readable one is
 * refused with the chmod to run). */
#include <curl/curl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker.h"
#include "broker_call.h"
#include "check.h"
#include "proc.h"

static char g_base[64], g_alice[128], g_bob[128], g_node[128];

/* One request on a fresh connection; the raw body goes to raw (when not NULL; valid until the next
 * call), the JSON is returned. */
static json_t *call(const char *method, const char *path, const char *tok, const char *body, long *status,
                    char **raw) {
    static char *last_raw;
    free(last_raw);
    last_raw = NULL;
    CURL *c = curl_easy_init();
    json_t *j = bt_call(c, g_base, method, path, tok, body, status, raw ? &last_raw : NULL);
    curl_easy_cleanup(c);
    if (raw) *raw = last_raw;
    return j;
}

static json_t *lease_of(json_t *j) { return json_object_get(j, "lease"); }
static const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static long long num(json_t *o, const char *k) {
    return (long long)json_integer_value(json_object_get(o, k));
}

static void advance(int64_t ms) {
    char body[64];
    snprintf(body, sizeof body, "{\"advance_ms\": %lld}", (long long)ms);
    long st;
    json_decref(call("POST", "/v1/debug/clock", g_alice, body, &st, NULL));
    CHECK_EQ_INT(st, 200);
}

/* Opens a lease; its id into id. */
static void open_lease(const char *tok, const char *body, char id[64]) {
    long st;
    json_t *j = call("POST", "/v1/leases", tok, body, &st, NULL);
    CHECK_EQ_INT(st, 201);
    snprintf(id, 64, "%s", str(lease_of(j), "id") ? str(lease_of(j), "id") : "?");
    json_decref(j);
}

static json_t *get_lease(const char *tok, const char *id) {
    char path[128];
    snprintf(path, sizeof path, "/v1/leases/%s", id);
    long st;
    json_t *j = call("GET", path, tok, NULL, &st, NULL);
    CHECK_EQ_INT(st, 200);
    json_t *l = json_incref(lease_of(j));
    json_decref(j);
    return l;
}

static long renew(const char *tok, const char *id) {
    char path[128];
    snprintf(path, sizeof path, "/v1/leases/%s/renew", id);
    long st;
    json_decref(call("POST", path, tok, "{}", &st, NULL));
    return st;
}

static void test_keepalive(void) {
    char ka[64], plain[64], kept[64];
    long st;
    /* out of range */
    json_decref(call("POST", "/v1/leases", g_alice, "{\"keepalive_seconds\": 86401}", &st, NULL));
    CHECK_EQ_INT(st, 400);
    open_lease(g_alice, "{\"keepalive_seconds\": 30, \"ttl_seconds\": 3600}", ka);
    open_lease(g_alice, "{\"ttl_seconds\": 3600}", plain);
    open_lease(g_alice, "{\"keepalive_seconds\": 30, \"ttl_seconds\": 3600}", kept);
    json_t *l = get_lease(g_alice, ka);
    CHECK_EQ_INT(num(l, "keepalive_seconds"), 30);
    json_decref(l);
    advance(20000);
    CHECK_EQ_INT(renew(g_alice, ka), 200);
    CHECK_EQ_INT(renew(g_bob, ka), 404); /* another tenant's: as if unknown */
    /* `kept` is renewed every 20 s throughout; `ka` is not renewed again after 20 s */
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(renew(g_alice, kept), 200);
        advance(20000);
    }
    l = get_lease(g_alice, ka);
    CHECK_STR(str(l, "state"), "expired");
    CHECK_CONTAINS(str(l, "end_reason"), "holder stopped answering");
    /* billed up to the last renewal (20 s of test clock, plus the real milliseconds in between,
     * billed per started second), not the 30 s of keepalive after it */
    CHECK(num(l, "billed_seconds") >= 20 && num(l, "billed_seconds") <= 21);
    CHECK_EQ_INT(num(l, "ended_at"), num(l, "renewed_at"));
    json_decref(l);
    CHECK_EQ_INT(renew(g_alice, ka), 410);
    l = get_lease(g_alice, kept);
    CHECK_STR(str(l, "state"), "active");
    json_decref(l);
    l = get_lease(g_alice, plain);
    CHECK_STR(str(l, "state"), "active"); /* no keepalive: only its TTL ends it */
    json_decref(l);
    /* the reaper (ticked by the test clock) freed its GPU: 2 of 3 leased */
    char *raw = NULL;
    json_decref(call("GET", "/metrics", NULL, NULL, &st, &raw));
    CHECK_CONTAINS(raw, "\nlepton_broker_gpus{model=\"X\",state=\"leased\"} 2\n");
    CHECK_CONTAINS(raw, "\nlepton_broker_gpus{model=\"X\",state=\"free\"} 1\n");
    CHECK_CONTAINS(raw, "\nlepton_broker_leases_ended_total{state=\"expired\"} 1\n");
    char path[128];
    snprintf(path, sizeof path, "/v1/leases/%s/close", kept);
    json_decref(call("POST", path, g_alice, "{}", &st, NULL));
    CHECK_EQ_INT(st, 200);
    snprintf(path, sizeof path, "/v1/leases/%s/close", plain);
    json_decref(call("POST", path, g_alice, "{}", &st, NULL));
    CHECK_EQ_INT(st, 200);
}

/* Two tenants' leases open: Bob sees his lease id in GET /v1/nodes, not Alice's; /metrics (no
 * token) names neither tenant nor any lease. */
static void test_what_tenants_see(void) {
    char a[64], b[64];
    open_lease(g_alice, "{}", a);
    open_lease(g_bob, "{}", b);
    long st;
    char *raw = NULL;
    json_t *j = call("GET", "/v1/nodes", g_bob, NULL, &st, &raw);
    CHECK_EQ_INT(st, 200);
    CHECK(raw && strstr(raw, b) != NULL);
    CHECK(raw && strstr(raw, a) == NULL);
    json_t *gpus = json_object_get(json_array_get(json_object_get(j, "nodes"), 0), "gpus");
    int leased = 0, shown = 0;
    json_t *g;
    size_t k;
    json_array_foreach(gpus, k, g) {
        if (json_is_true(json_object_get(g, "leased"))) leased++;
        if (json_is_string(json_object_get(g, "lease_id"))) shown++;
    }
    CHECK_EQ_INT(leased, 2);
    CHECK_EQ_INT(shown, 1);
    json_decref(j);
    j = call("GET", "/v1/nodes", g_alice, NULL, &st, &raw);
    CHECK(raw && strstr(raw, a) != NULL);
    CHECK(raw && strstr(raw, b) == NULL);
    json_decref(j);
    /* requests that put names and ids in paths, and an odd method */
    char path[128];
    snprintf(path, sizeof path, "/v1/leases/%s", a);
    json_decref(call("GET", path, g_bob, NULL, &st, NULL));
    CHECK_EQ_INT(st, 404);
    json_decref(call(b, path, g_alice, NULL, &st, NULL)); /* a lease id as the method */
    json_decref(call("GET", "/metrics", NULL, NULL, &st, &raw));
    CHECK_EQ_INT(st, 200);
    CHECK_CONTAINS(raw, "\nlepton_broker_leases{state=\"active\"} 2\n");
    CHECK(raw && strstr(raw, "alice") == NULL); /* no tenant names (bobcorp, alice) */
    CHECK(raw && strstr(raw, "bobcorp") == NULL);
    CHECK(raw && strstr(raw, "n1") == NULL); /* nor node names */
    CHECK(raw && strstr(raw, "tenant") == NULL);
    CHECK(raw && strstr(raw, a) == NULL);
    CHECK(raw && strstr(raw, b) == NULL);
    CHECK(raw && strstr(raw, "\"ls_") == NULL); /* no label value is a lease id */
    CHECK(raw && strstr(raw, "alice") == NULL);
    CHECK(raw && strstr(raw, "bobcorp") == NULL);
    CHECK(raw && strstr(raw, "method=\"other\"") != NULL);
}

static void test_db_permissions(const char *dir) {
    char db[300], f[320];
    snprintf(db, sizeof db, "%s/perm.db", dir);
    char tok[128], err[512];
    CHECK_EQ_INT(lp_broker_token_create(db, "carol", 0, tok, sizeof tok, err, sizeof err), 0);
    lp_broker_config cfg = {0};
    cfg.listen = "127.0.0.1:0";
    cfg.db = db;
    cfg.node_timeout_ms = 60000;
    lp_broker *b = NULL;
    CHECK_EQ_INT(lp_broker_start(&cfg, &b, err, sizeof err), 0);
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s%s", db, sfx[i]);
        struct stat st;
        CHECK_EQ_INT(stat(f, &st), 0);
        CHECK_EQ_INT(st.st_mode & 0777, 0600);
    }
    if (b) lp_broker_stop(b);
    CHECK_EQ_INT(chmod(db, 0644), 0);
    b = NULL;
    CHECK_EQ_INT(lp_broker_start(&cfg, &b, err, sizeof err), -1);
    CHECK_CONTAINS(err, "chmod 600 ");
    CHECK_CONTAINS(err, db);
    CHECK_CONTAINS(err, "0644");
    if (b) lp_broker_stop(b);
    CHECK_EQ_INT(chmod(db, 0600), 0);
    snprintf(f, sizeof f, "%s-wal", db);
    if (access(f, F_OK) == 0) { /* a readable -wal is refused too */
        CHECK_EQ_INT(chmod(f, 0640), 0);
        CHECK_EQ_INT(lp_broker_start(&cfg, &b, err, sizeof err), -1);
        CHECK_CONTAINS(err, "-wal");
        CHECK_EQ_INT(chmod(f, 0600), 0);
    }
    b = NULL;
    CHECK_EQ_INT(lp_broker_start(&cfg, &b, err, sizeof err), 0);
    if (b) lp_broker_stop(b);
}

int main(void) {
    char dir[] = "/tmp/lepton-trust-test-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char db[128], err[256];
    snprintf(db, sizeof db, "%s/broker.db", dir);
    CHECK_EQ_INT(lp_broker_token_create(db, "alice", 0, g_alice, sizeof g_alice, err, sizeof err), 0);
    CHECK_EQ_INT(lp_broker_token_create(db, "bobcorp", 0, g_bob, sizeof g_bob, err, sizeof err), 0);
    CHECK_EQ_INT(lp_broker_token_create(db, "alice", 1, g_node, sizeof g_node, err, sizeof err), 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    lp_broker_config cfg = {0};
    cfg.listen = "127.0.0.1:0";
    cfg.db = db;
    cfg.test_clock = 1;
    cfg.node_timeout_ms = 3600000;
    cfg.max_body = 4096;
    lp_broker *b = NULL;
    if (lp_broker_start(&cfg, &b, err, sizeof err) != 0) {
        fprintf(stderr, "broker: %s\n", err);
        return 1;
    }
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", lp_broker_port(b));
    long st;
    json_decref(call("POST", "/v1/nodes", g_node,
                     "{\"name\":\"n1\",\"address\":\"http://10.0.0.5:7710\",\"price_per_gpu_hour\":3.6,"
                     "\"gpus\":[{\"uuid\":\"GPU-0\",\"model\":\"X\",\"memory\":1},"
                     "{\"uuid\":\"GPU-1\",\"model\":\"X\",\"memory\":1},"
                     "{\"uuid\":\"GPU-2\",\"model\":\"X\",\"memory\":1}]}",
                     &st, NULL));
    CHECK_EQ_INT(st, 201);
    test_keepalive();
    test_what_tenants_see();
    lp_broker_stop(b);
    test_db_permissions(dir);
    curl_global_cleanup();
    tc_remove_dir(dir);
    return check_done("unit.broker.trust");
}
