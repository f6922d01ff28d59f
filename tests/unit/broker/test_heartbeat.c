/* test_heartbeat.c — heartbeats and the end of a lost node's billing (docs/protocol.md "Heartbeats
 * and fencing"): the registration and heartbeat answers carry the node timeout, and a long-polling
 * heartbeat is recorded when it is answered, so that a node lost after it is billed up to the end of
 * that long-poll (it was alive then), not to its start. The broker runs in-process with the test clock. */
#include <curl/curl.h>
#include <jansson.h>
#include <unistd.h>

#include "broker.h"
#include "broker_call.h"
#include "check.h"
#include "proc.h"
#include "clock.h"

static char g_base[64], g_tok[128], g_node_tok[128];

static json_t *req(CURL *c, const char *method, const char *path, const char *tok, const char *body,
                   long *status) {
    return bt_call(c, g_base, method, path, tok, body, status, NULL);
}

static json_int_t int_of(const json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

int main(void) {
    char dir[] = "/tmp/lepton-heartbeat-test-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char db[128], err[256];
    snprintf(db, sizeof db, "%s/broker.db", dir);
    CHECK_EQ_INT(lp_broker_token_create(db, "acme", 0, g_tok, sizeof g_tok, err, sizeof err), 0);
    CHECK_EQ_INT(lp_broker_token_create(db, "acme", 1, g_node_tok, sizeof g_node_tok, err, sizeof err), 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    lp_broker_config cfg = {0};
    cfg.listen = "127.0.0.1:0";
    cfg.db = db;
    cfg.test_clock = 1;
    cfg.node_timeout_ms = 4000; /* long-polls are cut to 2000 ms */
    cfg.max_body = 4096;
    lp_broker *b = NULL;
    if (lp_broker_start(&cfg, &b, err, sizeof err) != 0) {
        fprintf(stderr, "broker: %s\n", err);
        return 1;
    }
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", lp_broker_port(b));
    CURL *c = curl_easy_init();
    long st;

    json_t *j = req(c, "POST", "/v1/nodes", g_node_tok,
                    "{\"name\":\"n1\",\"address\":\"http://10.0.0.5:7710\",\"price_per_gpu_hour\":3.6,"
                    "\"gpus\":[{\"uuid\":\"GPU-0\",\"model\":\"H100\",\"memory\":1000}]}",
                    &st);
    CHECK_EQ_INT(st, 201);
    CHECK_EQ_INT(int_of(j, "node_timeout_ms"), 4000); /* the agent fences itself from it */
    json_decref(j);

    j = req(c, "POST", "/v1/leases", g_tok, "{\"gpu_count\":1,\"ttl_seconds\":600}", &st);
    CHECK_EQ_INT(st, 201);
    char id[64], path[160], body[200];
    snprintf(id, sizeof id, "%s",
             json_string_value(json_object_get(json_object_get(j, "lease"), "id")) ?: "");
    json_decref(j);

    /* a long-poll that sees no change: it ends when its wait (2000 ms) runs out */
    snprintf(body, sizeof body, "{\"wait_ms\":2000,\"known\":[\"%s\"]}", id);
    int64_t t0 = lp_mono_ms();
    j = req(c, "POST", "/v1/nodes/n1/heartbeat", g_node_tok, body, &st);
    int64_t took = lp_mono_ms() - t0;
    CHECK_EQ_INT(st, 200);
    CHECK(took >= 1900);
    CHECK_EQ_INT(int_of(j, "node_timeout_ms"), 4000);
    CHECK_EQ_INT(json_array_size(json_object_get(j, "leases")), 1);
    /* the node's view of the lease: which GPUs and when it ends, no tenant and no money */
    const json_t *nl = json_array_get(json_object_get(j, "leases"), 0);
    CHECK_STR(json_string_value(json_object_get(nl, "id")), id);
    CHECK_EQ_INT(json_array_size(json_object_get(nl, "gpus")), 1);
    CHECK(json_is_string(json_object_get(json_array_get(json_object_get(nl, "gpus"), 0), "uuid")));
    CHECK_STR(json_string_value(json_object_get(nl, "ends_by")), "ttl");
    json_int_t ends = json_integer_value(json_object_get(nl, "ends_at")),
               exp = json_integer_value(json_object_get(nl, "expires_at"));
    CHECK(ends == exp || ends == exp + 1); /* the expiry, rounded up to the second (exp is rounded down) */
    CHECK(json_integer_value(json_object_get(nl, "expires_at")) > 0);
    CHECK(json_object_get(nl, "tenant") == NULL && json_object_get(nl, "cost") == NULL &&
          json_object_get(nl, "max_cost") == NULL && json_object_get(nl, "price_per_gpu_hour") == NULL);
    json_decref(j);

    /* the node goes silent: a minute later it is lost and its lease failed */
    j = req(c, "POST", "/v1/debug/clock", g_tok, "{\"advance_ms\":60000}", &st);
    CHECK_EQ_INT(st, 200);
    json_decref(j);
    snprintf(path, sizeof path, "/v1/leases/%s", id);
    j = req(c, "GET", path, g_tok, NULL, &st);
    CHECK_EQ_INT(st, 200);
    const json_t *l = json_object_get(j, "lease");
    CHECK_STR(json_string_value(json_object_get(l, "state")), "failed");
    /* billed up to the answer of the last heartbeat (>= 2 s after the grant), not its arrival (~0 s) */
    json_int_t billed = int_of(l, "billed_seconds");
    if (billed < 2)
        fprintf(stderr, "billed_seconds %lld: the lost node was billed to the start of its long-poll\n",
                (long long)billed);
    CHECK(billed >= 2 && billed <= 4);
    CHECK(int_of(l, "ended_at") - int_of(l, "started_at") >= 1);
    json_decref(j);

    curl_easy_cleanup(c);
    lp_broker_stop(b);
    curl_global_cleanup();
    unlink(db);
    tc_remove_dir(dir);
    return check_done("unit.broker.heartbeat");
}
