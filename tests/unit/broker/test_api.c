/* test_api.c — the broker in-process through HTTP (libcurl, keep-alive): routing errors (404, 405,
 * 413, 415), auth, register → quote → open → long-poll → close, idempotency, TTL expiry with the
 * test clock, the signed lease token, and a restart on the same database. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <unistd.h>

#include "broker.h"
#include "broker_call.h"
#include "check.h"
#include "proc.h"
#include "clock.h"
#include "lease_token.h"

static char g_base[64], g_tok[128], g_node_tok[128];

/* One request on a shared handle (keep-alive). body NULL = no body. */
static json_t *req(CURL *c, const char *method, const char *path, const char *tok, const char *body,
                   long *status) {
    return bt_call(c, g_base, method, path, tok, body, status, NULL);
}

static const char *err_code(json_t *j) {
    return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}
static json_t *lease_of(json_t *j) { return json_object_get(j, "lease"); }
static const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

typedef struct closer {
    char id[64];
    int delay_ms;
} closer;

static void *close_later(void *arg) {
    closer *cl = arg;
    lp_sleep_ms(cl->delay_ms);
    CURL *c = curl_easy_init();
    char path[128];
    snprintf(path, sizeof path, "/v1/leases/%s/close", cl->id);
    long st;
    json_t *j = req(c, "POST", path, g_tok, "{}", &st);
    CHECK_EQ_INT(st, 200);
    json_decref(j);
    curl_easy_cleanup(c);
    return NULL;
}

typedef struct hb_poll {
    long status;
    size_t leases;
    int64_t took_ms;
} hb_poll;

static void *heartbeat_poll(void *arg) {
    hb_poll *p = arg;
    CURL *c = curl_easy_init();
    int64_t t0 = lp_mono_ms();
    json_t *j = req(c, "POST", "/v1/nodes/n1/heartbeat", g_node_tok, "{\"wait_ms\": 5000}", &p->status);
    p->took_ms = lp_mono_ms() - t0;
    p->leases = json_array_size(json_object_get(j, "leases"));
    json_decref(j);
    curl_easy_cleanup(c);
    return NULL;
}

static lp_broker *start(const char *db) {
    lp_broker_config cfg = {0};
    cfg.listen = "127.0.0.1:0";
    cfg.db = db;
    cfg.test_clock = 1;
    cfg.node_timeout_ms = 60000;
    cfg.max_body = 4096;
    lp_broker *b = NULL;
    char err[512];
    if (lp_broker_start(&cfg, &b, err, sizeof err) != 0) {
        fprintf(stderr, "broker: %s\n", err);
        exit(1);
    }
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", lp_broker_port(b));
    return b;
}

int main(void) {
    char dir[] = "/tmp/lepton-api-test-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char db[128];
    snprintf(db, sizeof db, "%s/broker.db", dir);
    char err[256];
    CHECK_EQ_INT(lp_broker_token_create(db, "acme", 0, g_tok, sizeof g_tok, err, sizeof err), 0);
    CHECK_EQ_INT(lp_broker_token_create(db, "acme", 1, g_node_tok, sizeof g_node_tok, err, sizeof err), 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    lp_broker *b = start(db);
    CURL *c = curl_easy_init();
    long st;
    json_t *j;

    j = req(c, "GET", "/healthz", NULL, NULL, &st);
    CHECK_EQ_INT(st, 200);
    CHECK_STR(str(j, "status"), "ok");
    json_decref(j);
    j = req(c, "GET", "/v1/nope", g_tok, NULL, &st);
    CHECK_EQ_INT(st, 404);
    CHECK_STR(err_code(j), "not_found");
    json_decref(j);
    j = req(c, "PUT", "/v1/leases", g_tok, "{}", &st);
    CHECK_EQ_INT(st, 405);
    CHECK_STR(err_code(j), "method_not_allowed");
    json_decref(j);
    j = req(c, "GET", "/v1/leases", NULL, NULL, &st);
    CHECK_EQ_INT(st, 401);
    json_decref(j);
    j = req(c, "GET", "/v1/leases", "bogus", NULL, &st);
    CHECK_EQ_INT(st, 401);
    json_decref(j);
    j = req(c, "GET", "/v1/leases", g_node_tok, NULL, &st);
    CHECK_EQ_INT(st, 403);
    json_decref(j);
    /* an unknown state filter: 400 naming it, the hint listing every state (lease/lease_state.c) */
    j = req(c, "GET", "/v1/leases?state=bogus", g_tok, NULL, &st);
    CHECK_EQ_INT(st, 400);
    CHECK_STR(err_code(j), "invalid_request");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "hint")),
              "one of pending, active, closed, expired, exhausted, failed");
    CHECK(
        strstr(json_string_value(json_object_get(json_object_get(j, "error"), "message")) ?: "", "'bogus'"));
    json_decref(j);
    char big[8192];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = 0;
    j = req(c, "POST", "/v1/quote", g_tok, big, &st);
    CHECK_EQ_INT(st, 413);
    CHECK_STR(err_code(j), "too_large");
    json_decref(j);
    j = req(c, "POST", "/v1/quote", g_tok, "{\"gpu_count\": -1}", &st);
    CHECK_EQ_INT(st, 400);
    CHECK_CONTAINS(json_string_value(json_object_get(json_object_get(j, "error"), "message")), "gpu_count");
    json_decref(j);

    /* registration is validated field by field: 400 invalid_request naming the field */
    static const struct {
        const char *body, *field;
    } bad_reg[] = {
        {"{\"name\":\"nx\",\"gpus\":[{\"uuid\":\"GPU-0\"}]}", "'address'"},
        {"{\"name\":\"nx\",\"address\":\"\",\"gpus\":[{\"uuid\":\"GPU-0\"}]}", "'address'"},
        {"{\"name\":\"nx\",\"address\":\"10.0.0.5:7710\",\"gpus\":[{\"uuid\":\"GPU-0\"}]}", "'address'"},
        {"{\"name\":\"nx\",\"address\":\"http://\",\"gpus\":[{\"uuid\":\"GPU-0\"}]}", "'address'"},
        {"{\"name\":\"nx\",\"address\":\"http://a b:1\",\"gpus\":[{\"uuid\":\"GPU-0\"}]}", "'address'"},
        {"{\"name\":\"nx\",\"address\":\"http://h:1\",\"gpus\":[{\"uuid\":\"\"}]}", "'gpus[0].uuid'"},
        {"{\"name\":\"nx\",\"address\":\"http://h:1\",\"gpus\":[{\"uuid\":\"GPU-0\"},{\"uuid\":\"GPU 1\"}]}",
         "'gpus[1].uuid'"},
        {"{\"name\":\"nx\",\"address\":\"http://h:1\",\"gpus\":[{\"uuid\":\"GPU-0\\n\"}]}", "'gpus[0].uuid'"},
        {"{\"name\":\"nx\",\"address\":\"http://h:1\",\"gpus\":[{\"uuid\":\"GPU-0\"},{\"uuid\":\"GPU-0\"}]}",
         "'gpus[1].uuid' repeats"},
        {"{\"name\":\"nx\",\"address\":\"http://h:1\",\"gpus\":[{\"uuid\":\"<script>\"}]}", "'gpus[0].uuid'"},
    };
    for (size_t k = 0; k < sizeof bad_reg / sizeof bad_reg[0]; k++) {
        j = req(c, "POST", "/v1/nodes", g_node_tok, bad_reg[k].body, &st);
        CHECK_EQ_INT(st, 400);
        CHECK_STR(err_code(j), "invalid_request");
        CHECK_CONTAINS(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                       bad_reg[k].field);
        json_decref(j);
    }
    j = req(c, "GET", "/v1/nodes", g_tok, NULL, &st);
    CHECK_EQ_INT(st, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "nodes")), 0); /* none of them registered */
    json_decref(j);
    j = req(c, "POST", "/v1/nodes", g_node_tok,
            "{\"name\":\"n1\",\"address\":\"http://10.0.0.5:7710\",\"price_per_gpu_hour\":3.6,"
            "\"gpus\":[{\"uuid\":\"GPU-0\",\"model\":\"NVIDIA H100 80GB HBM3\",\"memory\":85899345920,"
            "\"address\":\"http://10.0.0.5:7711\"},"
            "{\"uuid\":\"GPU-1\",\"model\":\"NVIDIA H100 80GB HBM3\",\"memory\":85899345920,"
            "\"address\":\"http://10.0.0.5:7712\"}]}",
            &st);
    CHECK_EQ_INT(st, 201);
    const char *key_hex = str(j, "node_key");
    unsigned char key[32];
    CHECK(key_hex && strlen(key_hex) == 64);
    for (int i = 0; key_hex && i < 32; i++)
        sscanf(key_hex + 2 * i, "%2hhx", &key[i]);
    json_decref(j);

    j = req(c, "POST", "/v1/quote", g_tok, "{\"gpu_count\":2,\"gpu_model\":\"h100\"}", &st);
    CHECK_EQ_INT(st, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "offers")), 1);
    json_decref(j);

    j = req(c, "POST", "/v1/leases", g_tok,
            "{\"gpu_count\":2,\"ttl_seconds\":10,\"idempotency_key\":\"abc\"}", &st);
    CHECK_EQ_INT(st, 201);
    json_t *l = lease_of(j);
    CHECK_STR(str(l, "state"), "active");
    CHECK_STR(str(l, "node"), "n1");
    closer cl = {"", 300};
    snprintf(cl.id, sizeof cl.id, "%s", str(l, "id") ? str(l, "id") : "");
    /* the lease token verifies with the lease key (derived from the node key) and names the lease */
    const char *tok = str(json_object_get(l, "data_plane"), "token");
    unsigned char lease_key[32];
    lp_lease_key(key, str(l, "id") ? str(l, "id") : "", lease_key);
    char *payload = tok ? lp_lease_token_verify(lease_key, tok) : NULL;
    CHECK(payload != NULL);
    CHECK(!tok || lp_lease_token_verify(key, tok) == NULL); /* the node key itself does not verify it */
    CHECK_CONTAINS(payload, cl.id);
    free(payload);
    json_t *workers = json_object_get(json_object_get(l, "data_plane"), "workers");
    CHECK_EQ_INT(json_array_size(workers), 2);
    CHECK_STR(str(json_array_get(workers, 1), "address"), "http://10.0.0.5:7712");
    json_decref(j);

    j = req(c, "POST", "/v1/leases", g_tok,
            "{\"gpu_count\":2,\"ttl_seconds\":10,\"idempotency_key\":\"abc\"}", &st);
    CHECK_EQ_INT(st, 200);
    CHECK_STR(str(lease_of(j), "id"), cl.id);
    json_decref(j);

    j = req(c, "POST", "/v1/leases", g_tok, "{\"gpu_count\":1}", &st);
    CHECK_EQ_INT(st, 503);
    CHECK_STR(err_code(j), "no_capacity");
    json_decref(j);

    /* long-poll: another client closes the lease after 300 ms */
    pthread_t th;
    pthread_create(&th, NULL, close_later, &cl);
    int64_t t0 = lp_mono_ms();
    j = req(c, "POST", "/v1/leases", g_tok, "{\"gpu_count\":1,\"wait_ms\":5000,\"ttl_seconds\":5}", &st);
    int64_t waited = lp_mono_ms() - t0;
    pthread_join(th, NULL);
    CHECK_EQ_INT(st, 201);
    CHECK(waited >= 250 && waited < 3000);
    char id2[64];
    snprintf(id2, sizeof id2, "%s", str(lease_of(j), "id") ? str(lease_of(j), "id") : "");
    json_decref(j);

    char path[160];
    snprintf(path, sizeof path, "/v1/leases/%s/close", cl.id);
    j = req(c, "POST", path, g_tok, "{}", &st);
    CHECK_EQ_INT(st, 410);
    CHECK_STR(err_code(j), "lease_ended");
    CHECK_STR(str(lease_of(j), "state"), "closed");
    json_decref(j);

    /* the TTL ends the second lease when the clock jumps */
    j = req(c, "POST", "/v1/debug/clock", g_tok, "{\"advance_ms\":6000}", &st);
    CHECK_EQ_INT(st, 200);
    json_decref(j);
    snprintf(path, sizeof path, "/v1/leases/%s", id2);
    j = req(c, "GET", path, g_tok, NULL, &st);
    CHECK_EQ_INT(st, 200);
    CHECK_STR(str(lease_of(j), "state"), "expired");
    CHECK_EQ_INT(json_integer_value(json_object_get(lease_of(j), "billed_seconds")), 5);
    json_decref(j);

    /* a long-polling heartbeat answers as soon as its node gets a lease */
    hb_poll hp = {0, 0, 0};
    pthread_create(&th, NULL, heartbeat_poll, &hp);
    lp_sleep_ms(200);
    j = req(c, "POST", "/v1/leases", g_tok, "{\"gpu_count\":1}", &st);
    CHECK_EQ_INT(st, 201);
    char id4[64];
    snprintf(id4, sizeof id4, "%s", str(lease_of(j), "id") ? str(lease_of(j), "id") : "");
    json_decref(j);
    pthread_join(th, NULL);
    CHECK_EQ_INT(hp.status, 200);
    CHECK_EQ_INT(hp.leases, 1);
    CHECK(hp.took_ms >= 150 && hp.took_ms < 3000);
    /* the agent reports the lease failed */
    snprintf(path, sizeof path, "/v1/nodes/n1/leases/%s/fail", id4);
    j = req(c, "POST", path, g_node_tok, "{\"reason\":\"worker crashed 3 times\"}", &st);
    CHECK_EQ_INT(st, 200);
    CHECK_STR(str(lease_of(j), "state"), "failed");
    CHECK_CONTAINS(str(lease_of(j), "end_reason"), "worker crashed");
    json_decref(j);
    j = req(c, "POST", path, g_node_tok, "{}", &st);
    CHECK_EQ_INT(st, 410);
    json_decref(j);

    /* a lease left open across a restart */
    j = req(c, "POST", "/v1/leases", g_tok, "{\"gpu_count\":1,\"ttl_seconds\":3600}", &st);
    CHECK_EQ_INT(st, 201);
    char id3[64];
    snprintf(id3, sizeof id3, "%s", str(lease_of(j), "id") ? str(lease_of(j), "id") : "");
    json_decref(j);
    lp_broker_stop(b); /* with the keep-alive connection still open */
    b = start(db);
    snprintf(path, sizeof path, "/v1/leases/%s", id3);
    j = req(c, "GET", path, g_tok, NULL, &st);
    CHECK_EQ_INT(st, 200);
    CHECK_STR(str(lease_of(j), "state"), "active");
    json_decref(j);
    j = req(c, "GET", "/v1/usage", g_tok, NULL, &st);
    CHECK_EQ_INT(st, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "leases")), 4);
    json_decref(j);
    j = req(c, "GET", "/metrics", NULL, NULL, &st);
    CHECK_EQ_INT(st, 200);
    CHECK(j == NULL); /* Prometheus text, not JSON */
    json_decref(j);

    curl_easy_cleanup(c);
    lp_broker_stop(b);
    curl_global_cleanup();
    tc_remove_dir(dir);
    return check_done("unit.broker.api");
}
