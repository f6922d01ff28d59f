/* test_leases.c — end-to-end tests of the control plane: a real lepton-broker process, nodes
 * registered over HTTP exactly as an agent does, and liblepton's C API. One case per run:
 * `test_leases CASE`; CTest registers each case separately. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"
#include "lepton/lepton.h"

#define GiB (1024ULL * 1024 * 1024)
#define H100 "NVIDIA H100 80GB HBM3"
#define A100 "NVIDIA A100-SXM4-40GB"

static h_broker B;
static char T_ALICE[128], T_BOB[128], T_NODE[128];

static int setup(const char *extra) {
    if (h_broker_start(&B, extra) != 0) return -1;
    if (h_token(&B, "alice", 0, T_ALICE, sizeof T_ALICE) || h_token(&B, "bob", 0, T_BOB, sizeof T_BOB) ||
        h_token(&B, "fleet", 1, T_NODE, sizeof T_NODE)) {
        fprintf(stderr, "token create failed (see %s)\n", B.log);
        return -1;
    }
    return 0;
}

static lepton_client *client_for(const char *token) {
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = B.url;
    o.token = token;
    o.timeout_ms = 10000;
    lepton_client *c = NULL;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    return c;
}

static double cost_of(const lepton_lease_info *i) { return i->cost; }

static int info(lepton_lease *l, lepton_lease_info *out) {
    lepton_lease_info init = LEPTON_LEASE_INFO_INIT;
    *out = init;
    return lepton_lease_get_info(l, out);
}

static int near(double a, double b) { return fabs(a - b) <= 1e-6 * (fabs(b) > 1 ? fabs(b) : 1); }

/* ---- grant: matching, quote order, refusal when full, capacity returns on close ---------------- */
static void case_grant(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "h100-box", 2, H100, 80 * GiB, 2.5), 201);
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "a100-box", 4, A100, 40 * GiB, 1.2), 201);
    lepton_client *c = client_for(T_ALICE);

    lepton_lease_request any = LEPTON_LEASE_REQUEST_INIT;
    lepton_offer *offers = NULL;
    size_t n = 0;
    CHECK_RC(lepton_quote(c, &any, &offers, &n), LEPTON_OK);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK(!strcmp(offers[0].node, "a100-box")); /* cheapest first */
        CHECK(near(offers[0].price_per_gpu_hour, 1.2));
        CHECK_EQ_INT(offers[0].gpus_free, 4);
        CHECK(!strcmp(offers[1].node, "h100-box"));
        CHECK_EQ_INT(offers[1].gpu_memory, 80 * GiB);
    }
    lepton_offers_free(offers);

    lepton_lease_request req = LEPTON_LEASE_REQUEST_INIT;
    req.gpu_count = 2;
    req.gpu_model = "h100"; /* case-insensitive substring */
    req.ttl_seconds = 600;
    req.labels = "team=ml,run=7";
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &req, &l), LEPTON_OK);
    lepton_lease_info i;
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK(!strcmp(i.node, "h100-box"));
    CHECK(!strcmp(i.gpu_model, H100));
    CHECK_EQ_INT(i.gpu_count, 2);
    CHECK_EQ_INT(i.gpu_memory, 80 * GiB);
    CHECK(near(i.price_per_gpu_hour, 2.5));
    CHECK_EQ_INT(i.state, LEPTON_LEASE_ACTIVE);
    CHECK(strlen(i.id) > 0);
    CHECK(llabs((long long)(i.started_at - time(NULL))) <= 5);
    CHECK_EQ_INT(i.expires_at - i.started_at, 600);
    CHECK(i.cost >= 0 && i.cost < 0.01);

    /* No H100 left: the quote is empty and a second lease is refused with an explanation. */
    CHECK_RC(lepton_quote(c, &req, &offers, &n), LEPTON_OK);
    CHECK_EQ_INT(n, 0);
    lepton_offers_free(offers);
    lepton_lease *l2 = (lepton_lease *)&l2; /* must be set to NULL on failure */
    req.gpu_count = 1;
    CHECK_RC(lepton_lease_open(c, &req, &l2), LEPTON_ENOCAPACITY);
    CHECK(l2 == NULL);
    CHECK(strstr(lepton_last_error(), "free") != NULL);

    /* Another model still fits: the cheaper node. */
    lepton_lease_request a = LEPTON_LEASE_REQUEST_INIT;
    a.gpu_count = 3;
    CHECK_RC(lepton_lease_open(c, &a, &l2), LEPTON_OK);
    CHECK_RC(info(l2, &i), LEPTON_OK);
    CHECK(!strcmp(i.node, "a100-box"));
    CHECK_RC(lepton_lease_close(l2), LEPTON_OK);

    /* Closing gives the GPUs back. */
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    CHECK_RC(lepton_lease_open(c, &req, &l), LEPTON_OK);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
}

/* ---- refuse: the right code and a message that names the problem ------------------------------ */
static void case_refuse(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "h100-box", 2, H100, 80 * GiB, 2.5), 201);
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "a100-box", 4, A100, 40 * GiB, 1.2), 201);
    lepton_client *c = client_for(T_ALICE);
    lepton_lease *l = NULL;

    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.gpu_count = 8; /* more than any node has */
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_ENOCAPACITY);
    CHECK(l == NULL);
    CHECK(strstr(lepton_last_error(), "8") != NULL);

    lepton_lease_request m = LEPTON_LEASE_REQUEST_INIT;
    m.gpu_model = "TPU";
    CHECK_RC(lepton_lease_open(c, &m, &l), LEPTON_ENOCAPACITY);
    CHECK(strstr(lepton_last_error(), "TPU") != NULL);

    lepton_lease_request mem = LEPTON_LEASE_REQUEST_INIT;
    mem.min_gpu_memory = 100 * GiB;
    CHECK_RC(lepton_lease_open(c, &mem, &l), LEPTON_ENOCAPACITY);

    lepton_lease_request price = LEPTON_LEASE_REQUEST_INIT;
    price.gpu_model = "H100";
    price.max_price_per_gpu_hour = 1.0;
    CHECK_RC(lepton_lease_open(c, &price, &l), LEPTON_EBUDGET);
    CHECK(strstr(lepton_last_error(), "2.5") != NULL); /* names the cheapest price that would fit */

    lepton_lease_request cap = LEPTON_LEASE_REQUEST_INIT;
    cap.max_cost = 1e-7; /* buys less than a second anywhere */
    CHECK_RC(lepton_lease_open(c, &cap, &l), LEPTON_EBUDGET);

    /* Invalid requests never reach a decision. */
    lepton_lease_request bad = LEPTON_LEASE_REQUEST_INIT;
    bad.gpu_count = 5000;
    CHECK_RC(lepton_lease_open(c, &bad, &l), LEPTON_EINVAL);
    CHECK(strstr(lepton_last_error(), "gpu_count") != NULL);
    bad = (lepton_lease_request)LEPTON_LEASE_REQUEST_INIT;
    bad.max_price_per_gpu_hour = NAN;
    CHECK_RC(lepton_lease_open(c, &bad, &l), LEPTON_EINVAL);
    bad = (lepton_lease_request)LEPTON_LEASE_REQUEST_INIT;
    bad.max_cost = -1;
    CHECK_RC(lepton_lease_open(c, &bad, &l), LEPTON_EINVAL);
    bad = (lepton_lease_request)LEPTON_LEASE_REQUEST_INIT;
    bad.version = 0;
    CHECK_RC(lepton_lease_open(c, &bad, &l), LEPTON_EINVAL);
    bad.version = 999;
    CHECK_RC(lepton_lease_open(c, &bad, &l), LEPTON_EINVAL);
    CHECK_RC(lepton_lease_open(c, NULL, &l), LEPTON_EINVAL);
    CHECK_RC(lepton_lease_open(c, &r, NULL), LEPTON_EINVAL);
    CHECK_RC(lepton_lease_open(NULL, &r, &l), LEPTON_EINVAL);

    /* Nothing was granted by any of that. */
    h_resp resp;
    CHECK(h_http(&B, "GET", "/v1/leases", T_ALICE, NULL, NULL, 0, &resp) == 0);
    CHECK_EQ_INT(json_array_size(json_object_get(resp.json, "leases")), 0);
    h_resp_free(&resp);
    lepton_client_close(c);
}

/* ---- ttl: the broker ends the lease by itself and bills exactly the TTL ------------------------ */
static void case_ttl(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 1, H100, 80 * GiB, 36.0), 201); /* $0.01/s */
    lepton_client *c = client_for(T_ALICE);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.ttl_seconds = 60;
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    CHECK(h_advance(&B, T_ALICE, 61000) == 0);
    lepton_lease_info i;
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK_EQ_INT(i.state, LEPTON_LEASE_EXPIRED);
    CHECK(near(cost_of(&i), 60 * 0.01)); /* exactly the TTL, not the 61 s that passed */
    CHECK_RC(lepton_lease_extend(l, 60), LEPTON_EEXPIRED);
    /* The GPU is free again. */
    lepton_lease *l2 = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &l2), LEPTON_OK);
    CHECK_RC(lepton_lease_close(l2), LEPTON_OK);
    CHECK_RC(lepton_lease_close(l), LEPTON_EEXPIRED);
    lepton_client_close(c);
}

/* ---- extend ---------------------------------------------------------------------------------- */
static void case_extend(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 1, H100, 80 * GiB, 36.0), 201);
    lepton_client *c = client_for(T_ALICE);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.ttl_seconds = 60;
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    lepton_lease_info a, b;
    CHECK_RC(info(l, &a), LEPTON_OK);
    CHECK_RC(lepton_lease_extend(l, 100), LEPTON_OK);
    CHECK_RC(info(l, &b), LEPTON_OK);
    CHECK_EQ_INT(b.expires_at - a.expires_at, 100);
    CHECK_RC(lepton_lease_extend(l, 0), LEPTON_EINVAL);
    CHECK_RC(lepton_lease_extend(l, 4000000000u), LEPTON_EINVAL);
    CHECK_RC(lepton_lease_extend(NULL, 10), LEPTON_EINVAL);
    /* A keyed extension sent twice (a retry) is made once; another key makes another. */
    char path[128];
    snprintf(path, sizeof path, "/v1/leases/%s/extend", a.id);
    int64_t ttl[3] = {0, 0, 0};
    const char *keys[3] = {"ek-same", "ek-same", "ek-other"};
    for (int i = 0; i < 3; i++) {
        h_resp resp;
        CHECK(h_httpf(&B, "POST", path, T_ALICE, &resp, "{\"seconds\": 7, \"idempotency_key\": \"%s\"}",
                      keys[i]) == 0);
        CHECK_EQ_INT(resp.status, 200);
        ttl[i] = json_integer_value(json_object_get(json_object_get(resp.json, "lease"), "ttl_seconds"));
        h_resp_free(&resp);
    }
    CHECK_EQ_INT(ttl[0], 60 + 100 + 7);
    CHECK_EQ_INT(ttl[1], 60 + 100 + 7);
    CHECK_EQ_INT(ttl[2], 60 + 100 + 14);
    CHECK_RC(info(l, &b), LEPTON_OK);
    CHECK_EQ_INT(b.expires_at - a.expires_at, 114);
    /* Past the old expiry but before the new one the lease lives on. */
    CHECK(h_advance(&B, T_ALICE, 90000) == 0);
    CHECK_RC(info(l, &b), LEPTON_OK);
    CHECK_EQ_INT(b.state, LEPTON_LEASE_ACTIVE);
    CHECK(h_advance(&B, T_ALICE, 94000) == 0);
    CHECK_RC(info(l, &b), LEPTON_OK);
    CHECK_EQ_INT(b.state, LEPTON_LEASE_EXPIRED);
    CHECK(near(b.cost, 174 * 0.01));
    lepton_lease_close(l);
    lepton_client_close(c);
}

/* ---- cost cap: exhausted exactly at max_cost -------------------------------------------------- */
static void case_cost_cap(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 2, H100, 80 * GiB, 36.0), 201); /* $0.01/s/GPU */
    lepton_client *c = client_for(T_ALICE);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.gpu_count = 2;
    r.max_cost = 0.1; /* 5 s of 2 GPUs */
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    CHECK(h_advance(&B, T_ALICE, 3000) == 0);
    lepton_lease_info i;
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK_EQ_INT(i.state, LEPTON_LEASE_ACTIVE);
    CHECK(i.cost > 0.05 && i.cost < 0.1);
    CHECK(h_advance(&B, T_ALICE, 3000) == 0);
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK_EQ_INT(i.state, LEPTON_LEASE_EXHAUSTED);
    CHECK(near(i.cost, 0.1));
    CHECK(h_advance(&B, T_ALICE, 60000) == 0);
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK(near(i.cost, 0.1)); /* never more than the cap */
    CHECK_RC(lepton_lease_extend(l, 10), LEPTON_EEXPIRED);
    lepton_lease_close(l);
    lepton_client_close(c);
}

/* ---- billing: per started second, per GPU, nothing after the end ------------------------------ */
static void case_billing(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 2, H100, 80 * GiB, 3600.0), 201); /* $1/s/GPU */
    lepton_client *c = client_for(T_ALICE);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.gpu_count = 2;
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    lepton_lease_info i;
    CHECK_RC(info(l, &i), LEPTON_OK);
    char id[64];
    snprintf(id, sizeof id, "%s", i.id);
    CHECK(h_advance(&B, T_ALICE, 10000) == 0);
    CHECK_RC(info(l, &i), LEPTON_OK);
    /* 10 s of test clock plus well under a second of real time: 11 started seconds × 2 GPUs. */
    CHECK(near(i.cost, 22.0));
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    char path[128];
    snprintf(path, sizeof path, "/v1/leases/%s/usage", id);
    h_resp u;
    CHECK(h_http(&B, "GET", path, T_ALICE, NULL, NULL, 0, &u) == 0);
    CHECK_EQ_INT(u.status, 200);
    double billed = json_number_value(json_object_get(u.json, "cost"));
    CHECK(near(billed, 22.0));
    CHECK_EQ_INT(json_integer_value(json_object_get(u.json, "gpu_seconds")), 22);
    h_resp_free(&u);
    CHECK(h_advance(&B, T_ALICE, 100000) == 0);
    CHECK(h_http(&B, "GET", "/v1/usage", T_ALICE, NULL, NULL, 0, &u) == 0);
    CHECK_EQ_INT(u.status, 200);
    CHECK(near(json_number_value(json_object_get(u.json, "cost")), 22.0)); /* nothing after the end */
    CHECK_EQ_INT(json_array_size(json_object_get(u.json, "leases")), 1);
    h_resp_free(&u);
    CHECK(h_http(&B, "GET", "/v1/usage", T_BOB, NULL, NULL, 0, &u) == 0);
    CHECK(near(json_number_value(json_object_get(u.json, "cost")), 0.0));
    h_resp_free(&u);
    lepton_client_close(c);
}

/* ---- tenants see and touch only their own leases; tokens are checked -------------------------- */
static void case_isolation(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 2, H100, 80 * GiB, 2.0), 201);
    lepton_client *ca = client_for(T_ALICE);
    lepton_lease *l = NULL;
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    CHECK_RC(lepton_lease_open(ca, &r, &l), LEPTON_OK);
    lepton_lease_info i;
    CHECK_RC(info(l, &i), LEPTON_OK);
    char path[160];
    h_resp x;
    /* Another tenant's lease id answers exactly as an id that does not exist (404, the same body
     * but for the id), on every /v1/leases/{id} route: nothing tells Bob that it exists. */
    static const char *const routes[][3] = {{"GET", "", NULL},
                                            {"POST", "/close", "{}"},
                                            {"POST", "/extend", "{\"seconds\": 60}"},
                                            {"POST", "/renew", "{}"},
                                            {"GET", "/usage", NULL}};
    for (size_t k = 0; k < sizeof routes / sizeof routes[0]; k++) {
        const char *ids[2] = {i.id, "ls_000000000000"};
        char bodies[2][1024];
        for (int w = 0; w < 2; w++) {
            snprintf(path, sizeof path, "/v1/leases/%s%s", ids[w], routes[k][1]);
            const char *body = routes[k][2];
            CHECK(h_http(&B, routes[k][0], path, T_BOB, NULL, body, body ? strlen(body) : 0, &x) == 0);
            CHECK_EQ_INT(x.status, 404);
            CHECK(!strcmp(h_err_code(&x), "not_found"));
            /* the body with the id taken out */
            char *text = x.json ? json_dumps(x.json, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
            snprintf(bodies[w], sizeof bodies[w], "%s", text ? text : "");
            free(text);
            char *at = strstr(bodies[w], ids[w]);
            if (at) memmove(at, at + strlen(ids[w]), strlen(at + strlen(ids[w])) + 1);
            h_resp_free(&x);
        }
        CHECK(!strcmp(bodies[0], bodies[1]));
    }
    CHECK_RC(info(l, &i), LEPTON_OK); /* and Alice's lease is untouched */
    CHECK_EQ_INT(i.state, LEPTON_LEASE_ACTIVE);
    CHECK(h_http(&B, "GET", "/v1/leases", T_BOB, NULL, NULL, 0, &x) == 0);
    CHECK_EQ_INT(x.status, 200);
    CHECK_EQ_INT(json_array_size(json_object_get(x.json, "leases")), 0);
    h_resp_free(&x);
    CHECK(h_http(&B, "GET", "/v1/leases", T_ALICE, NULL, NULL, 0, &x) == 0);
    CHECK_EQ_INT(json_array_size(json_object_get(x.json, "leases")), 1);
    h_resp_free(&x);
    /* No token, a wrong token, a node token on a tenant route, a tenant token on a node route. */
    CHECK(h_http(&B, "GET", "/v1/leases", NULL, NULL, NULL, 0, &x) == 0);
    CHECK_EQ_INT(x.status, 401);
    h_resp_free(&x);
    CHECK(h_http(&B, "GET", "/v1/leases", "not-a-token", NULL, NULL, 0, &x) == 0);
    CHECK_EQ_INT(x.status, 401);
    h_resp_free(&x);
    CHECK(h_http(&B, "GET", "/v1/leases", T_NODE, NULL, NULL, 0, &x) == 0);
    CHECK_EQ_INT(x.status, 403);
    h_resp_free(&x);
    CHECK_EQ_INT(h_register_node(&B, T_ALICE, "rogue", 8, H100, 80 * GiB, 0.01), 403);
    /* Through the C API: a client with a bad token gets LEPTON_EAUTH. */
    lepton_client *bad = client_for("wrong");
    lepton_lease *bl = NULL;
    CHECK_RC(lepton_lease_open(bad, &r, &bl), LEPTON_EAUTH);
    lepton_client_close(bad);
    /* Bob's lease does not disturb Alice's. */
    lepton_client *cb = client_for(T_BOB);
    CHECK_RC(lepton_lease_open(cb, &r, &bl), LEPTON_OK);
    CHECK_RC(lepton_lease_close(bl), LEPTON_OK);
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK_EQ_INT(i.state, LEPTON_LEASE_ACTIVE);
    lepton_client_close(cb);
    lepton_client_close(ca);
}

/* ---- race: many threads, few GPUs; no GPU is ever in two active leases ------------------------ */
enum { RACE_THREADS = 16, RACE_GPUS = 8 };
static lepton_client *race_client;
static _Atomic int race_stop;
static int race_granted[RACE_THREADS];
static int race_errors;
static pthread_mutex_t race_lock = PTHREAD_MUTEX_INITIALIZER;

static void *race_grab(void *arg) {
    int idx = (int)(intptr_t)arg;
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    lepton_lease *l = NULL;
    int rc = lepton_lease_open(race_client, &r, &l);
    if (rc == LEPTON_OK)
        race_granted[idx] = 1;
    else if (rc != LEPTON_ENOCAPACITY) {
        pthread_mutex_lock(&race_lock);
        fprintf(stderr, "race: unexpected %s: %s\n", lepton_status_name(rc), lepton_last_error());
        race_errors++;
        pthread_mutex_unlock(&race_lock);
    }
    return NULL;
}

static void *race_churn(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int k = 0; k < 25; k++) {
        lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
        r.gpu_count = 1 + (rand_r(&seed) % 2);
        lepton_lease *l = NULL;
        int rc = lepton_lease_open(race_client, &r, &l);
        if (rc == LEPTON_OK) {
            if (lepton_lease_close(l) != LEPTON_OK) {
                pthread_mutex_lock(&race_lock);
                race_errors++;
                pthread_mutex_unlock(&race_lock);
            }
        } else if (rc != LEPTON_ENOCAPACITY) {
            pthread_mutex_lock(&race_lock);
            fprintf(stderr, "churn: unexpected %s: %s\n", lepton_status_name(rc), lepton_last_error());
            race_errors++;
            pthread_mutex_unlock(&race_lock);
        }
    }
    return NULL;
}

/* Reads the active leases and checks that no GPU uuid appears twice. Returns the GPUs in use. */
static int check_no_double_lease(void) {
    h_resp x;
    if (h_http(&B, "GET", "/v1/leases?state=active", T_ALICE, NULL, NULL, 0, &x) != 0) return -1;
    json_t *leases = json_object_get(x.json, "leases");
    const char *seen[RACE_GPUS * 4];
    int n = 0;
    size_t i;
    json_t *le;
    json_array_foreach(leases, i, le) {
        CHECK(!strcmp(json_string_value(json_object_get(le, "state")), "active"));
        size_t j;
        json_t *g;
        json_array_foreach(json_object_get(le, "gpus"), j, g) {
            const char *u = json_string_value(json_object_get(g, "uuid"));
            CHECK(u != NULL);
            for (int k = 0; u && k < n; k++)
                if (!strcmp(seen[k], u)) {
                    fprintf(stderr, "GPU %s is in two active leases\n", u);
                    check_failures++;
                }
            if (u && n < (int)(sizeof seen / sizeof seen[0])) seen[n++] = u;
        }
    }
    h_resp_free(&x);
    return n;
}

static void *race_watch(void *arg) {
    (void)arg;
    while (!race_stop) {
        int used = check_no_double_lease();
        CHECK(used <= RACE_GPUS);
    }
    return NULL;
}

static void case_race(void) {
    for (int n = 0; n < RACE_GPUS / 2; n++) {
        char name[32];
        snprintf(name, sizeof name, "node-%d", n);
        CHECK_EQ_INT(h_register_node(&B, T_NODE, name, 2, H100, 80 * GiB, 1.0 + n), 201);
    }
    race_client = client_for(T_ALICE);
    /* Phase 1: 16 threads grab at once; exactly 8 win, and hold distinct GPUs. */
    pthread_t th[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_create(&th[i], NULL, race_grab, (void *)(intptr_t)i);
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(th[i], NULL);
    int won = 0;
    for (int i = 0; i < RACE_THREADS; i++)
        won += race_granted[i];
    CHECK_EQ_INT(won, RACE_GPUS);
    CHECK_EQ_INT(check_no_double_lease(), RACE_GPUS);
    lepton_client_close(race_client); /* closes the 8 leases */
    race_client = client_for(T_ALICE);
    CHECK_EQ_INT(check_no_double_lease(), 0);
    /* Phase 2: churn with a watcher checking the invariant all along. */
    pthread_t watch;
    pthread_create(&watch, NULL, race_watch, NULL);
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_create(&th[i], NULL, race_churn, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(th[i], NULL);
    race_stop = 1;
    pthread_join(watch, NULL);
    CHECK_EQ_INT(race_errors, 0);
    CHECK_EQ_INT(check_no_double_lease(), 0);
    lepton_lease_request all = LEPTON_LEASE_REQUEST_INIT;
    lepton_offer *offers = NULL;
    size_t n = 0;
    CHECK_RC(lepton_quote(race_client, &all, &offers, &n), LEPTON_OK);
    unsigned free_gpus = 0;
    for (size_t i = 0; i < n; i++)
        free_gpus += offers[i].gpus_free;
    CHECK_EQ_INT(free_gpus, RACE_GPUS);
    lepton_offers_free(offers);
    lepton_client_close(race_client);
}

/* ---- restart: leases, nodes, tokens and usage survive a broker restart ------------------------ */
static void case_restart(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 2, H100, 80 * GiB, 36.0), 201);
    lepton_client *c = client_for(T_ALICE);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.ttl_seconds = 100;
    lepton_lease *keep = NULL, *done = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &keep), LEPTON_OK);
    CHECK_RC(lepton_lease_open(c, &r, &done), LEPTON_OK);
    /* No test-clock moves before the restart: the offset lives in the broker's memory only. */
    usleep(200 * 1000);
    CHECK_RC(lepton_lease_close(done), LEPTON_OK);
    lepton_lease_info before;
    CHECK_RC(info(keep, &before), LEPTON_OK);
    h_resp u1;
    CHECK(h_http(&B, "GET", "/v1/usage", T_ALICE, NULL, NULL, 0, &u1) == 0);

    h_broker_kill(&B); /* the hardest way down */
    CHECK(h_broker_restart(&B) == 0);

    lepton_lease_info after;
    CHECK_RC(info(keep, &after), LEPTON_OK); /* same client, same handle */
    CHECK(!strcmp(after.id, before.id));
    CHECK_EQ_INT(after.state, LEPTON_LEASE_ACTIVE);
    CHECK_EQ_INT(after.expires_at, before.expires_at);
    CHECK(after.cost >= before.cost);
    h_resp u2;
    CHECK(h_http(&B, "GET", "/v1/usage", T_ALICE, NULL, NULL, 0, &u2) == 0);
    CHECK_EQ_INT(json_array_size(json_object_get(u2.json, "leases")), 2);
    CHECK(json_number_value(json_object_get(u2.json, "cost")) >=
          json_number_value(json_object_get(u1.json, "cost")));
    h_resp_free(&u1);
    h_resp_free(&u2);
    /* Only one GPU is free: the kept lease still holds the other. */
    lepton_lease_request two = LEPTON_LEASE_REQUEST_INIT;
    two.gpu_count = 2;
    lepton_lease *x = NULL;
    CHECK_RC(lepton_lease_open(c, &two, &x), LEPTON_ENOCAPACITY);
    /* The node is known (heartbeat accepted), and the TTL is still enforced after the restart. */
    CHECK_EQ_INT(h_heartbeat(&B, T_NODE, "n1"), 200);
    CHECK(h_advance(&B, T_ALICE, 100000) == 0);
    CHECK_RC(info(keep, &after), LEPTON_OK);
    CHECK_EQ_INT(after.state, LEPTON_LEASE_EXPIRED);
    CHECK(near(after.cost, 100 * 0.01));
    lepton_lease_close(keep);
    lepton_client_close(c);
}

/* ---- malformed: 4xx with a message, nothing changes, the broker stays healthy ----------------- */
static void case_malformed(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 1, H100, 80 * GiB, 2.0), 201);
    struct {
        const char *method, *path, *body;
        long status;
        const char *mention;
    } cases[] = {
        {"POST", "/v1/leases", "{not json", 400, NULL},
        {"POST", "/v1/leases", "[1,2,3]", 400, NULL},
        {"POST", "/v1/leases", "{\"gpu_count\": \"two\"}", 400, "gpu_count"},
        {"POST", "/v1/leases", "{\"gpu_count\": -1}", 400, "gpu_count"},
        {"POST", "/v1/leases", "{\"gpu_count\": 1e30}", 400, "gpu_count"},
        {"POST", "/v1/leases", "{\"ttl_seconds\": 0.5}", 400, "ttl_seconds"},
        {"POST", "/v1/leases", "{\"max_cost\": -3}", 400, "max_cost"},
        {"POST", "/v1/leases", "{\"gpu_model\": 7}", 400, "gpu_model"},
        {"POST", "/v1/leases", "{\"wait_ms\": 99999999}", 400, "wait_ms"},
        {"POST", "/v1/quote", "{\"min_gpu_memory\": \"lots\"}", 400, "min_gpu_memory"},
        {"POST", "/v1/leases/ls_nope/extend", "{\"seconds\": 10}", 404, NULL},
        {"POST", "/v1/nodes", "{\"name\": 5}", 403, NULL}, /* tenant token on a node route */
        {"GET", "/v1/no-such-thing", NULL, 404, NULL},
        {"DELETE", "/v1/quote", NULL, 405, NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        h_resp x;
        CHECK(h_http(&B, cases[k].method, cases[k].path, T_ALICE, NULL, cases[k].body,
                     cases[k].body ? strlen(cases[k].body) : 0, &x) == 0);
        if (x.status != cases[k].status)
            fprintf(stderr, "case %zu: %s %s %s → %ld %s\n", k, cases[k].method, cases[k].path,
                    cases[k].body ? cases[k].body : "", x.status, x.body ? x.body : "");
        CHECK_EQ_INT(x.status, cases[k].status);
        CHECK(json_is_object(json_object_get(x.json, "error")));
        const char *msg = json_string_value(json_object_get(json_object_get(x.json, "error"), "message"));
        CHECK(msg && *msg);
        if (cases[k].mention && msg && !strstr(msg, cases[k].mention)) {
            fprintf(stderr, "case %zu: message does not name %s: %s\n", k, cases[k].mention, msg);
            check_failures++;
        }
        h_resp_free(&x);
    }
    /* Node registration with broken shapes, by a real node token. */
    const char *bad_nodes[] = {
        "{\"name\": \"x\"}",
        "{\"name\": \"x\", \"address\": \"http://a:1\", \"price_per_gpu_hour\": -1, \"gpus\": []}",
        "{\"name\": \"x\", \"address\": \"http://a:1\", \"price_per_gpu_hour\": 1, \"gpus\": [{\"uuid\": "
        "3}]}",
        "{\"name\": \"\", \"address\": \"http://a:1\", \"price_per_gpu_hour\": 1, \"gpus\": []}",
    };
    for (size_t k = 0; k < sizeof bad_nodes / sizeof bad_nodes[0]; k++) {
        h_resp x;
        CHECK(h_http(&B, "POST", "/v1/nodes", T_NODE, NULL, bad_nodes[k], strlen(bad_nodes[k]), &x) == 0);
        CHECK_EQ_INT(x.status, 400);
        h_resp_free(&x);
    }
    /* An oversized body: 413, answered without reading it all. */
    size_t big = 4u << 20;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    h_resp x;
    CHECK(h_http(&B, "POST", "/v1/leases", T_ALICE, NULL, huge, big, &x) == 0);
    CHECK_EQ_INT(x.status, 413);
    h_resp_free(&x);
    free(huge);
    /* Nothing changed and everything still works. */
    CHECK(h_healthy(&B));
    CHECK(h_http(&B, "GET", "/v1/leases", T_ALICE, NULL, NULL, 0, &x) == 0);
    CHECK_EQ_INT(json_array_size(json_object_get(x.json, "leases")), 0);
    h_resp_free(&x);
    CHECK(h_http(&B, "GET", "/v1/nodes", T_ALICE, NULL, NULL, 0, &x) == 0);
    CHECK_EQ_INT(json_array_size(json_object_get(x.json, "nodes")), 1);
    h_resp_free(&x);
    lepton_client *c = client_for(T_ALICE);
    lepton_lease *l = NULL;
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
    CHECK(h_http(&B, "GET", "/metrics", NULL, NULL, NULL, 0, &x) == 0);
    CHECK_EQ_INT(x.status, 200);
    CHECK(x.body && strstr(x.body, "lepton_") != NULL);
    h_resp_free(&x);
}

/* ---- idempotency: a retried open does not create a second lease ------------------------------- */
static void case_idempotency(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 2, H100, 80 * GiB, 2.0), 201);
    h_resp a, b2, c2;
    const char *body = "{\"gpu_count\": 1, \"idempotency_key\": \"run-42\"}";
    CHECK(h_http(&B, "POST", "/v1/leases", T_ALICE, NULL, body, strlen(body), &a) == 0);
    CHECK_EQ_INT(a.status, 201);
    CHECK(h_http(&B, "POST", "/v1/leases", T_ALICE, NULL, body, strlen(body), &b2) == 0);
    CHECK_EQ_INT(b2.status, 200);
    const char *ida = json_string_value(json_object_get(json_object_get(a.json, "lease"), "id"));
    const char *idb = json_string_value(json_object_get(json_object_get(b2.json, "lease"), "id"));
    CHECK(ida && idb && !strcmp(ida, idb));
    /* The same key from another tenant is another lease. */
    CHECK(h_http(&B, "POST", "/v1/leases", T_BOB, NULL, body, strlen(body), &c2) == 0);
    CHECK_EQ_INT(c2.status, 201);
    h_resp_free(&a);
    h_resp_free(&b2);
    h_resp_free(&c2);
    CHECK(h_http(&B, "GET", "/v1/leases", T_ALICE, NULL, NULL, 0, &a) == 0);
    CHECK_EQ_INT(json_array_size(json_object_get(a.json, "leases")), 1);
    h_resp_free(&a);
}

/* ---- node lost: leases fail, billing stops at the last heartbeat ------------------------------ */
static void case_node_lost(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 1, H100, 80 * GiB, 3600.0), 201); /* $1/s */
    lepton_client *c = client_for(T_ALICE);
    lepton_lease *l = NULL;
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    CHECK(h_advance(&B, T_ALICE, 1500) == 0);
    CHECK_EQ_INT(h_heartbeat(&B, T_NODE, "n1"), 200);
    CHECK(h_advance(&B, T_ALICE, 1500) == 0);
    lepton_lease_info i;
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK_EQ_INT(i.state, LEPTON_LEASE_ACTIVE); /* 1.5 s since the heartbeat, timeout is 2 s */
    CHECK(h_advance(&B, T_ALICE, 5000) == 0);
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK_EQ_INT(i.state, LEPTON_LEASE_FAILED);
    CHECK(i.cost >= 1.0 && i.cost <= 3.0); /* ~1.5 s until the last heartbeat, never the 8 s */
    double cost = i.cost;
    CHECK(h_advance(&B, T_ALICE, 60000) == 0);
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK(near(i.cost, cost));
    h_resp x;
    CHECK(h_http(&B, "GET", "/v1/nodes", T_ALICE, NULL, NULL, 0, &x) == 0);
    json_t *n0 = json_array_get(json_object_get(x.json, "nodes"), 0);
    CHECK(!strcmp(json_string_value(json_object_get(n0, "state")) ?: "", "lost"));
    h_resp_free(&x);
    lepton_lease *l2 = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &l2), LEPTON_ENOCAPACITY); /* a lost node offers nothing */
    /* The agent comes back: registering again makes the node ready and its GPU leasable. */
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 1, H100, 80 * GiB, 3600.0) / 100, 2);
    CHECK_RC(lepton_lease_open(c, &r, &l2), LEPTON_OK);
    lepton_lease_close(l2);
    lepton_lease_close(l);
    lepton_client_close(c);
}

/* ---- wait: a request with wait_ms gets the GPU when another lease frees it -------------------- */
static lepton_lease *wait_holder;
static void *close_later(void *arg) {
    (void)arg;
    usleep(300 * 1000);
    lepton_lease_close(wait_holder);
    return NULL;
}

static void case_wait(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 1, H100, 80 * GiB, 2.0), 201);
    lepton_client *c = client_for(T_ALICE);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    CHECK_RC(lepton_lease_open(c, &r, &wait_holder), LEPTON_OK);
    /* Nobody frees it: the wait runs out after wait_ms and explains. */
    lepton_lease_request w = LEPTON_LEASE_REQUEST_INIT;
    w.wait_ms = 500;
    lepton_lease *l = NULL;
    double t0 = tc_now_ms();
    CHECK_RC(lepton_lease_open(c, &w, &l), LEPTON_ENOCAPACITY);
    double waited = (tc_now_ms() - t0) / 1e3;
    CHECK(waited >= 0.45 && waited < 5.0);
    /* Somebody frees it after 300 ms: granted well before the 20 s wait. */
    pthread_t th;
    pthread_create(&th, NULL, close_later, NULL);
    w.wait_ms = 20000;
    t0 = tc_now_ms();
    CHECK_RC(lepton_lease_open(c, &w, &l), LEPTON_OK);
    waited = (tc_now_ms() - t0) / 1e3;
    CHECK(waited >= 0.2 && waited < 10.0);
    pthread_join(th, NULL);
    lepton_lease_close(l);
    lepton_client_close(c);
}

/* ---- GET /v1/leases in pages: limit and after, following next to the end ------------------------ */
static void case_list_pages(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 1, H100, 80 * GiB, 3.6), 201);
    lepton_client *c = client_for(T_ALICE);
    for (int i = 0; i < 7; i++) { /* one GPU: each lease is closed before the next */
        lepton_lease *l = NULL;
        CHECK_RC(lepton_lease_open(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l), LEPTON_OK);
        if (l) CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    }
    h_resp all;
    CHECK(h_http(&B, "GET", "/v1/leases", T_ALICE, NULL, NULL, 0, &all) == 0);
    CHECK_EQ_INT(all.status, 200);
    json_t *every = json_object_get(all.json, "leases");
    CHECK_EQ_INT((int)json_array_size(every), 7);
    CHECK(json_is_null(json_object_get(all.json, "next")));
    /* pages of 3: 3 + 3 + 1, the same leases in the same order, next null at the end */
    char after[96] = "";
    size_t seen = 0;
    int pages = 0;
    for (; pages < 10; pages++) {
        char path[200];
        snprintf(path, sizeof path, "/v1/leases?limit=3%s%s", *after ? "&after=" : "", after);
        h_resp p;
        CHECK(h_http(&B, "GET", path, T_ALICE, NULL, NULL, 0, &p) == 0);
        CHECK_EQ_INT(p.status, 200);
        json_t *arr = json_object_get(p.json, "leases");
        CHECK_EQ_INT((int)json_array_size(arr), pages < 2 ? 3 : 1);
        for (size_t i = 0; i < json_array_size(arr) && seen < 7; i++, seen++) {
            const char *a = json_string_value(json_object_get(json_array_get(arr, i), "id"));
            const char *b = json_string_value(json_object_get(json_array_get(every, seen), "id"));
            CHECK(a && b && !strcmp(a, b));
        }
        const char *next = json_string_value(json_object_get(p.json, "next"));
        CHECK(pages < 2 ? next != NULL : next == NULL);
        snprintf(after, sizeof after, "%s", next ? next : "");
        h_resp_free(&p);
        if (!*after) break;
    }
    CHECK_EQ_INT((int)seen, 7);
    CHECK_EQ_INT(pages, 2); /* three pages: 0, 1, 2 */
    /* bad pages are refused, clearly */
    const char *bad[] = {"/v1/leases?limit=0", "/v1/leases?limit=1001", "/v1/leases?limit=x",
                         "/v1/leases?limit=2&after=ls_nope"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h_resp p;
        CHECK(h_http(&B, "GET", bad[i], T_ALICE, NULL, NULL, 0, &p) == 0);
        CHECK_EQ_INT(p.status, 400);
        CHECK(!strcmp(h_err_code(&p), "invalid_request"));
        h_resp_free(&p);
    }
    /* another tenant's pages hold none of them */
    h_resp o;
    CHECK(h_http(&B, "GET", "/v1/leases?limit=5", T_BOB, NULL, NULL, 0, &o) == 0);
    CHECK_EQ_INT((int)json_array_size(json_object_get(o.json, "leases")), 0);
    h_resp_free(&o);
    h_resp_free(&all);
    lepton_client_close(c);
}

/* ---- lepton_lease_list: the tenant's leases through liblepton, newest first, in pages ----------- */
static void case_list_api(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 2, H100, 80 * GiB, 3.6), 201);
    lepton_client *c = client_for(T_ALICE), *other = client_for(T_BOB);
    char ids[5][64];
    lepton_lease *keep[2] = {NULL, NULL};
    for (int i = 0; i < 5; i++) { /* five leases: the last two stay active */
        lepton_lease *l = NULL;
        CHECK_RC(lepton_lease_open(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l), LEPTON_OK);
        if (!l) return;
        lepton_lease_info li = LEPTON_LEASE_INFO_INIT;
        CHECK_RC(lepton_lease_get_info(l, &li), LEPTON_OK);
        snprintf(ids[i], sizeof ids[i], "%s", li.id);
        if (i < 3)
            CHECK_RC(lepton_lease_close(l), LEPTON_OK);
        else
            keep[i - 3] = l;
    }
    /* all of them, newest first, as lepton_lease_get_info would describe each */
    lepton_lease_info out[8];
    for (int i = 0; i < 8; i++)
        out[i] = (lepton_lease_info)LEPTON_LEASE_INFO_INIT;
    size_t n = 99;
    CHECK_RC(lepton_lease_list(c, -1, NULL, out, 8, &n), LEPTON_OK);
    CHECK_EQ_INT((int)n, 5);
    for (int i = 0; i < 5 && i < (int)n; i++) {
        CHECK_STR(out[i].id, ids[4 - i]);
        CHECK_EQ_INT(out[i].state, i < 2 ? LEPTON_LEASE_ACTIVE : LEPTON_LEASE_CLOSED);
        CHECK_EQ_INT((int)out[i].gpu_count, 1);
        CHECK_EQ_INT((int)out[i].version, LEPTON_LEASE_INFO_VERSION);
    }
    /* only the active ones */
    CHECK_RC(lepton_lease_list(c, LEPTON_LEASE_ACTIVE, NULL, out, 8, &n), LEPTON_OK);
    CHECK_EQ_INT((int)n, 2);
    if (n == 2) CHECK(!strcmp(out[0].id, ids[4]) && !strcmp(out[1].id, ids[3]));
    CHECK_RC(lepton_lease_list(c, LEPTON_LEASE_EXPIRED, NULL, out, 8, &n), LEPTON_OK);
    CHECK_EQ_INT((int)n, 0);
    /* pages of two: 2 + 2 + 1, each going on after the last id of the one before */
    char after[64] = "";
    size_t seen = 0;
    for (int page = 0; page < 5; page++) {
        CHECK_RC(lepton_lease_list(c, -1, after[0] ? after : NULL, out, 2, &n), LEPTON_OK);
        for (size_t i = 0; i < n; i++, seen++)
            if (seen < 5) CHECK_STR(out[i].id, ids[4 - seen]);
        if (n < 2) break;
        snprintf(after, sizeof after, "%s", out[n - 1].id);
    }
    CHECK_EQ_INT((int)seen, 5);
    /* another tenant sees none of them */
    CHECK_RC(lepton_lease_list(other, -1, NULL, out, 8, &n), LEPTON_OK);
    CHECK_EQ_INT((int)n, 0);
    /* bad input: a clear EINVAL, out untouched, *count 0 */
    lepton_lease_info probe = LEPTON_LEASE_INFO_INIT;
    snprintf(probe.id, sizeof probe.id, "untouched");
    n = 7;
    CHECK_RC(lepton_lease_list(c, 42, NULL, &probe, 1, &n), LEPTON_EINVAL);
    CHECK_CONTAINS(lepton_last_error(), "state 42");
    CHECK_EQ_INT((int)n, 0);
    CHECK_STR(probe.id, "untouched");
    CHECK_RC(lepton_lease_list(c, -1, "ls_nope", &probe, 1, &n), LEPTON_EINVAL); /* the broker's 400 */
    CHECK_CONTAINS(lepton_last_error(), "ls_nope");
    CHECK_STR(probe.id, "untouched");
    CHECK_RC(lepton_lease_list(c, -1, "bad id!", &probe, 1, &n), LEPTON_EINVAL);
    probe.version = 0;
    CHECK_RC(lepton_lease_list(c, -1, NULL, &probe, 1, &n), LEPTON_EINVAL);
    CHECK_CONTAINS(lepton_last_error(), "version");
    CHECK_RC(lepton_lease_list(c, -1, NULL, NULL, 1, &n), LEPTON_EINVAL);
    CHECK_RC(lepton_lease_list(c, -1, NULL, out, 1, NULL), LEPTON_EINVAL);
    CHECK_RC(lepton_lease_list(NULL, -1, NULL, out, 1, &n), LEPTON_EINVAL);
    CHECK_RC(lepton_lease_list(c, -1, NULL, NULL, 0, &n), LEPTON_OK); /* no room: nothing asked */
    CHECK_EQ_INT((int)n, 0);
    for (int i = 0; i < 2; i++)
        if (keep[i]) CHECK_RC(lepton_lease_close(keep[i]), LEPTON_OK);
    lepton_client_close(other);
    lepton_client_close(c);
}

/* ---- client close ends the leases still open through it --------------------------------------- */
static void case_client_close(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 2, H100, 80 * GiB, 2.0), 201);
    lepton_client *c = client_for(T_ALICE);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    lepton_lease *a = NULL, *b2 = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &a), LEPTON_OK);
    CHECK_RC(lepton_lease_open(c, &r, &b2), LEPTON_OK);
    lepton_client_close(c);
    h_resp x;
    CHECK(h_http(&B, "GET", "/v1/leases?state=active", T_ALICE, NULL, NULL, 0, &x) == 0);
    CHECK_EQ_INT(json_array_size(json_object_get(x.json, "leases")), 0);
    h_resp_free(&x);
    CHECK(h_http(&B, "GET", "/v1/leases", T_ALICE, NULL, NULL, 0, &x) == 0);
    size_t i;
    json_t *le;
    CHECK_EQ_INT(json_array_size(json_object_get(x.json, "leases")), 2);
    json_array_foreach(json_object_get(x.json, "leases"), i, le)
        CHECK(!strcmp(json_string_value(json_object_get(le, "state")) ?: "", "closed"));
    h_resp_free(&x);
}

/* The broker's view of a lease (any tenant's token of its holder). */
static json_t *broker_lease(const char *token, const char *id) {
    char path[128];
    snprintf(path, sizeof path, "/v1/leases/%s", id);
    h_resp x;
    json_t *l = NULL;
    if (h_http(&B, "GET", path, token, NULL, NULL, 0, &x) == 0 && x.status == 200)
        l = json_incref(json_object_get(x.json, "lease"));
    h_resp_free(&x);
    return l;
}

static long long gpus_free(const char *node) {
    h_resp x;
    long long n = -1;
    size_t i;
    json_t *nd;
    if (h_http(&B, "GET", "/v1/nodes", T_ALICE, NULL, NULL, 0, &x) == 0)
        json_array_foreach(json_object_get(x.json, "nodes"), i,
                           nd) if (!strcmp(json_string_value(json_object_get(nd, "name")) ?: "", node)) n =
            json_integer_value(json_object_get(nd, "gpus_free"));
    h_resp_free(&x);
    return n;
}

/* ---- keepalive: renewed while the handle is open; a version-1 request has none --------------- */
static void case_keepalive(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 2, H100, 80 * GiB, 2.0), 201);
    lepton_client *c = client_for(T_ALICE);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.keepalive_seconds = 2;
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    lepton_lease_info i;
    CHECK_RC(info(l, &i), LEPTON_OK);
    json_t *bl = broker_lease(T_ALICE, i.id);
    CHECK_EQ_INT(json_integer_value(json_object_get(bl, "keepalive_seconds")), 2);
    long long first = json_integer_value(json_object_get(bl, "renewed_at"));
    json_decref(bl);
    /* three times the keepalive: still active, renewed meanwhile */
    for (int k = 0; k < 6; k++) {
        tc_sleep_ms(1000);
        CHECK_RC(info(l, &i), LEPTON_OK);
        CHECK_EQ_INT(i.state, LEPTON_LEASE_ACTIVE);
    }
    bl = broker_lease(T_ALICE, i.id);
    CHECK_STR(json_string_value(json_object_get(bl, "state")), "active");
    CHECK(json_integer_value(json_object_get(bl, "renewed_at")) >= first + 4);
    json_decref(bl);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    bl = broker_lease(T_ALICE, i.id);
    CHECK_STR(json_string_value(json_object_get(bl, "state")), "closed");
    json_decref(bl);
    /* a caller built against the 1.0 header (version 1) sends no keepalive */
    r.version = 1;
    r.keepalive_seconds = 2; /* past the end of a version-1 struct: not read */
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    CHECK_RC(info(l, &i), LEPTON_OK);
    bl = broker_lease(T_ALICE, i.id);
    CHECK(json_is_null(json_object_get(bl, "keepalive_seconds")));
    json_decref(bl);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
}

/* ---- keepalive: a process that holds a lease and is SIGKILLed loses it within ~keepalive -------- */
static void case_keepalive_kill(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 1, H100, 80 * GiB, 36.0), 201);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) { /* the holder: opens a lease with keepalive 2 s, says its id, then waits */
        close(fds[0]);
        lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
        o.endpoint = B.url;
        o.token = T_ALICE;
        lepton_client *c = NULL;
        lepton_lease *l = NULL;
        lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
        r.keepalive_seconds = 2;
        r.ttl_seconds = 3600;
        lepton_lease_info i = LEPTON_LEASE_INFO_INIT;
        if (lepton_client_open(&c, &o) || lepton_lease_open(c, &r, &l) || lepton_lease_get_info(l, &i))
            _exit(3);
        if (write(fds[1], i.id, sizeof i.id) != (ssize_t)sizeof i.id) _exit(4);
        for (;;)
            pause();
    }
    close(fds[1]);
    char id[64] = "";
    CHECK(read(fds[0], id, sizeof id) == (ssize_t)sizeof id);
    close(fds[0]);
    tc_sleep_ms(1500); /* a renewal or two happen */
    json_t *bl = broker_lease(T_ALICE, id);
    CHECK_STR(json_string_value(json_object_get(bl, "state")), "active");
    json_decref(bl);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    double t0 = tc_now_ms();
    /* the reaper ends it (its GPU is free again) within the keepalive (2 s, from the last renewal
     * before the kill) plus a reaper tick (~100 ms); 4 s is the limit with slack for a slow host */
    long long freed = 0;
    double took = 0;
    while (took < 10.0) {
        freed = gpus_free("n1");
        took = (tc_now_ms() - t0) / 1e3;
        if (freed == 1) break;
        tc_sleep_ms(50);
    }
    fprintf(stderr, "keepalive_kill: lease ended %.2f s after the holder was killed\n", took);
    CHECK_EQ_INT(freed, 1);
    CHECK(took <= 4.0);
    bl = broker_lease(T_ALICE, id);
    CHECK_STR(json_string_value(json_object_get(bl, "state")), "expired");
    const char *why = json_string_value(json_object_get(bl, "end_reason"));
    CHECK(why && strstr(why, "holder stopped answering"));
    /* billed up to the last renewal: at most the ~1.5 s it was held, plus rounding */
    CHECK(json_integer_value(json_object_get(bl, "billed_seconds")) <= 3);
    json_decref(bl);
}

/* ---- attach / detach: a second handle on a lease of the same tenant (LEPTON_1.1) ------------- */
static const char *state_of(const char *token, const char *id, char *out, size_t n) {
    json_t *bl = broker_lease(token, id);
    snprintf(out, n, "%s", bl ? json_string_value(json_object_get(bl, "state")) ?: "?" : "(none)");
    json_decref(bl);
    return out;
}

static void case_attach(void) {
    CHECK_EQ_INT(h_register_node(&B, T_NODE, "n1", 2, H100, 80 * GiB, 2.0), 201);
    lepton_client *ca = client_for(T_ALICE), *ca2 = client_for(T_ALICE), *cb = client_for(T_BOB);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.gpu_count = 2;
    lepton_lease *l = NULL, *a = NULL, *x = (lepton_lease *)&r;
    CHECK_RC(lepton_lease_open(ca, &r, &l), LEPTON_OK);
    lepton_lease_info i, j;
    CHECK_RC(info(l, &i), LEPTON_OK);
    char st[32];

    /* another client of the same tenant sees the same lease */
    CHECK_RC(lepton_lease_attach(ca2, i.id, &a), LEPTON_OK);
    CHECK(a != NULL && a != l);
    CHECK_RC(info(a, &j), LEPTON_OK);
    CHECK(!strcmp(j.id, i.id) && !strcmp(j.node, "n1") && !strcmp(j.gpu_model, H100));
    CHECK_EQ_INT(j.gpu_count, 2);
    CHECK_EQ_INT(j.state, LEPTON_LEASE_ACTIVE);
    CHECK(near(j.price_per_gpu_hour, 2.0));
    CHECK_RC(lepton_lease_extend(a, 60), LEPTON_OK); /* the attached handle acts on the lease */
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK_EQ_INT(i.expires_at, j.expires_at + 60);
    /* detach leaves it running, for the broker and for the other handle */
    CHECK_RC(lepton_lease_detach(a), LEPTON_OK);
    CHECK(!strcmp(state_of(T_ALICE, i.id, st, sizeof st), "active"));
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK_EQ_INT(i.state, LEPTON_LEASE_ACTIVE);
    CHECK_RC(lepton_lease_detach(NULL), LEPTON_OK);

    /* another tenant cannot attach: the broker answers as for a lease that does not exist */
    CHECK_RC(lepton_lease_attach(cb, i.id, &x), LEPTON_ENOTFOUND);
    CHECK(x == NULL);
    CHECK(strstr(lepton_last_error(), "lepton_lease_attach") != NULL);
    x = (lepton_lease *)&r;
    CHECK_RC(lepton_lease_attach(ca2, "ls_000000000000", &x), LEPTON_ENOTFOUND);
    CHECK(x == NULL);
    /* a client without a valid token */
    lepton_client *bad = client_for("wrong");
    CHECK_RC(lepton_lease_attach(bad, i.id, &x), LEPTON_EAUTH);
    lepton_client_close(bad);
    /* bad arguments */
    static const char *const bad_ids[] = {
        "", "ls_a/b", "ls a", "ls_0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t k = 0; k < sizeof bad_ids / sizeof bad_ids[0]; k++) {
        x = (lepton_lease *)&r;
        CHECK_RC(lepton_lease_attach(ca2, bad_ids[k], &x), LEPTON_EINVAL);
        CHECK(x == NULL);
    }
    CHECK_RC(lepton_lease_attach(ca2, NULL, &x), LEPTON_EINVAL);
    CHECK_RC(lepton_lease_attach(NULL, i.id, &x), LEPTON_EINVAL);
    CHECK_RC(lepton_lease_attach(ca2, i.id, NULL), LEPTON_EINVAL);

    /* lepton_client_close detaches attached handles (the lease keeps running) */
    lepton_client *c3 = client_for(T_ALICE);
    CHECK_RC(lepton_lease_attach(c3, i.id, &a), LEPTON_OK);
    lepton_client_close(c3);
    CHECK(!strcmp(state_of(T_ALICE, i.id, st, sizeof st), "active"));

    /* closing through an attached handle ends the lease; the opener's close then still succeeds
     * (closed by its holder) */
    CHECK_RC(lepton_lease_attach(ca2, i.id, &a), LEPTON_OK);
    CHECK_RC(lepton_lease_close(a), LEPTON_OK);
    CHECK(!strcmp(state_of(T_ALICE, i.id, st, sizeof st), "closed"));
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK_EQ_INT(i.state, LEPTON_LEASE_CLOSED);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    /* an ended lease cannot be attached */
    x = (lepton_lease *)&r;
    CHECK_RC(lepton_lease_attach(ca2, i.id, &x), LEPTON_EEXPIRED);
    CHECK(x == NULL);
    CHECK(strstr(lepton_last_error(), "closed") != NULL);

    /* keepalive: an attached handle renews the lease while it is attached */
    r.gpu_count = 1;
    r.keepalive_seconds = 2;
    CHECK_RC(lepton_lease_open(ca, &r, &l), LEPTON_OK);
    CHECK_RC(info(l, &i), LEPTON_OK);
    CHECK_RC(lepton_lease_attach(ca2, i.id, &a), LEPTON_OK);
    CHECK_RC(lepton_lease_detach(l), LEPTON_OK); /* the opener stops renewing */
    tc_sleep_ms(5000);                           /* 2.5 keepalives */
    CHECK(!strcmp(state_of(T_ALICE, i.id, st, sizeof st), "active"));
    CHECK_RC(lepton_lease_detach(a), LEPTON_OK); /* nobody renews now */
    for (int k = 0; k < 100 && !strcmp(state_of(T_ALICE, i.id, st, sizeof st), "active"); k++)
        tc_sleep_ms(100);
    CHECK(!strcmp(st, "expired"));
    lepton_client_close(cb);
    lepton_client_close(ca2);
    lepton_client_close(ca);
}

static const struct {
    const char *name;
    void (*fn)(void);
    const char *broker_args;
} CASES[] = {
    {"keepalive", case_keepalive, "--node-timeout-ms 100000000"},
    {"keepalive_kill", case_keepalive_kill, "--node-timeout-ms 100000000"},
    {"grant", case_grant, NULL},
    {"refuse", case_refuse, NULL},
    {"ttl", case_ttl, "--node-timeout-ms 100000000"},
    {"extend", case_extend, "--node-timeout-ms 100000000"},
    {"cost_cap", case_cost_cap, "--node-timeout-ms 100000000"},
    {"billing", case_billing, "--node-timeout-ms 100000000"},
    {"isolation", case_isolation, NULL},
    {"race", case_race, NULL},
    {"restart", case_restart, "--node-timeout-ms 100000000"},
    {"malformed", case_malformed, NULL},
    {"idempotency", case_idempotency, NULL},
    {"node_lost", case_node_lost, "--node-timeout-ms 2000"},
    {"wait", case_wait, NULL},
    {"client_close", case_client_close, NULL},
    {"list_pages", case_list_pages, NULL},
    {"list_api", case_list_api, NULL},
    {"attach", case_attach, "--node-timeout-ms 100000000"},
};

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE|--list\n", argv[0]);
        return 2;
    }
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        if (!strcmp(argv[1], "--list")) {
            printf("%s\n", CASES[k].name);
            continue;
        }
        if (strcmp(argv[1], CASES[k].name)) continue;
        if (setup(CASES[k].broker_args) != 0) {
            h_broker_cleanup(&B);
            return 1;
        }
        CASES[k].fn();
        CHECK(h_healthy(&B));
        int st = h_broker_stop(&B);
        CHECK(st == 0); /* a clean exit on SIGTERM */
        if (check_failures)
            fprintf(stderr, "broker log kept in %s\n", B.log), setenv("LEPTON_KEEP_TEST_DIRS", "1", 1);
        h_broker_cleanup(&B);
        return check_done(CASES[k].name);
    }
    if (!strcmp(argv[1], "--list")) return 0;
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}
