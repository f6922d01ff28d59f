/* test_client_http.c — liblepton's control plane against a fake broker on loopback: request
 * validation (nothing sent), transport failures, error mapping, malformed answers, deadlines,
 * the keyed retry, the lease life cycle, quotes, logging, keep-alive reuse and many threads. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "lepton/lepton.h"
#include "net.h"
#include "proc.h"
#include "fake_broker.h"

static lepton_client *client_for(const char *url, int32_t timeout_ms) {
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = url;
    o.timeout_ms = timeout_ms;
    o.token = "t0ken";
    lepton_client *c = NULL;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    return c;
}

static fb_mini *mini_new(void) { return calloc(1, sizeof(fb_mini)); }

/* Every bad request fails with EINVAL, names the field and its value, and sends nothing. */
static void validation(void) {
    fb_mini *m = mini_new();
    fake_broker *fb = fb_start(fb_mini_handler, m);
    lepton_client *c = client_for(fb_url(fb), 0);
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l), LEPTON_OK);
    int sent = fb_requests(fb);

    lepton_lease *x = (lepton_lease *)&x;
    char long_text[300];
    memset(long_text, 'a', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
#define BAD(field_edit, mention)                                                                             \
    do {                                                                                                     \
        r = (lepton_lease_request)LEPTON_LEASE_REQUEST_INIT;                                                 \
        field_edit;                                                                                          \
        CHECK_RC(lepton_lease_open(c, &r, &x), LEPTON_EINVAL);                                               \
        CHECK_LAST_ERROR(mention);                                                                           \
        CHECK(x == NULL);                                                                                    \
    } while (0)
    BAD(r.version = 0, "req->version 0");
    BAD(r.version = 3, "req->version 3");
    BAD(r.keepalive_seconds = 86401, "req->keepalive_seconds 86401");
    BAD(r.gpu_count = 1025, "req->gpu_count 1025");
    BAD(r.gpu_count = 4000000000u, "req->gpu_count 4000000000");
    BAD(r.max_price_per_gpu_hour = -1, "req->max_price_per_gpu_hour -1");
    BAD(r.max_price_per_gpu_hour = NAN, "req->max_price_per_gpu_hour nan");
    BAD(r.max_price_per_gpu_hour = INFINITY, "req->max_price_per_gpu_hour inf");
    BAD(r.max_cost = -0.5, "req->max_cost -0.5");
    BAD(r.max_cost = NAN, "req->max_cost nan");
    BAD(r.ttl_seconds = 2592001, "req->ttl_seconds 2592001");
    BAD(r.wait_ms = -1, "req->wait_ms -1");
    BAD(r.wait_ms = 600001, "req->wait_ms 600001");
    BAD(r.labels = long_text, "req->labels is 299 bytes");
    BAD(r.gpu_model = long_text, "req->gpu_model is 299 bytes");
    BAD(r.gpu_model = "\xff\xfe", "req->gpu_model is not valid UTF-8");
    BAD(r.min_gpu_memory = UINT64_MAX, "req->min_gpu_memory");
#undef BAD
    /* Quote checks what it uses and ignores the rest (lepton.h). */
    lepton_offer *offers;
    size_t n;
    r = (lepton_lease_request)LEPTON_LEASE_REQUEST_INIT;
    r.gpu_count = 2000;
    CHECK_RC(lepton_quote(c, &r, &offers, &n), LEPTON_EINVAL);
    CHECK_LAST_ERROR("lepton_quote: req->gpu_count 2000");
    r.gpu_count = 0;
    r.max_price_per_gpu_hour = -3;
    CHECK_RC(lepton_quote(c, &r, &offers, &n), LEPTON_EINVAL);
    CHECK_LAST_ERROR("max_price_per_gpu_hour -3");

    CHECK_RC(lepton_lease_extend(l, 0), LEPTON_EINVAL);
    CHECK_LAST_ERROR("seconds 0");
    CHECK_RC(lepton_lease_extend(l, 2592001), LEPTON_EINVAL);
    CHECK_LAST_ERROR("seconds 2592001");
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    info.version = 0;
    CHECK_RC(lepton_lease_get_info(l, &info), LEPTON_EINVAL);
    CHECK_LAST_ERROR("out->version 0");
    info.version = 9;
    CHECK_RC(lepton_lease_get_info(l, &info), LEPTON_EINVAL);
    CHECK_LAST_ERROR("out->version 9");
    CHECK_RC(lepton_lease_get_info(l, NULL), LEPTON_EINVAL);
    CHECK(fb_requests(fb) == sent); /* none of the above reached the broker */

    /* Limits themselves are accepted. */
    r = (lepton_lease_request)LEPTON_LEASE_REQUEST_INIT;
    r.gpu_count = 1024;
    r.ttl_seconds = 2592000;
    r.labels = "team=ml";
    r.gpu_model = "H100";
    CHECK_RC(lepton_quote(c, &r, &offers, &n), LEPTON_OK);
    lepton_offers_free(offers);
    lepton_client_close(c);
    fb_stop(fb);
    free(m);
}

static void enet_closed_port(void) {
    char url[64];
    int port = tc_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    lepton_client *c = client_for(url, 5000);
    lepton_lease *l = (lepton_lease *)&l;
    double t0 = tc_now_ms();
    CHECK_RC(lepton_lease_open(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l), LEPTON_ENET);
    CHECK(tc_now_ms() - t0 < 1000); /* refused at once, not retried */
    CHECK(l == NULL);
    CHECK_LAST_ERROR("lepton_lease_open: POST");
    CHECK_LAST_ERROR(url);
    lepton_offer *offers;
    size_t n;
    CHECK_RC(lepton_quote(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &offers, &n), LEPTON_ENET);
    CHECK_LAST_ERROR("/v1/quote");
    lepton_client_close(c);
}

static char last_msg[4096]; /* the last error of the last open_against */

/* A canned answer for every request. */
typedef struct canned {
    int status;
    const char *body;
    int delay_ms;
} canned;
static void canned_handler(const fb_request *req, fb_reply *rep, void *user) {
    const canned *k = user;
    rep->status = k->status;
    snprintf(rep->body, sizeof rep->body, "%s", k->body);
    rep->delay_ms = k->delay_ms;
}

static int open_against(const canned *k, int32_t timeout_ms, int32_t wait_ms) {
    fake_broker *fb = fb_start(canned_handler, (void *)k);
    lepton_client *c = client_for(fb_url(fb), timeout_ms);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.wait_ms = wait_ms;
    lepton_lease *l = NULL;
    int rc = lepton_lease_open(c, &r, &l);
    if (rc) CHECK(l == NULL);
    /* Keep the message: the teardown below may replace it. */
    snprintf(last_msg, sizeof last_msg, "%s", lepton_last_error());
    lepton_lease_close(l);
    lepton_client_close(c);
    fb_stop(fb);
    return rc;
}
/* The message kept by open_against contains needle. */
#define CHECK_LAST(needle) CHECK_CONTAINS(last_msg, needle)

static void error_mapping(void) {
    canned k = {
        503,
        "{\"error\": {\"code\": \"no_capacity\", \"message\": \"2 GPUs requested: 3 exist, 0 are free; "
        "closest: node b has 1 free H100 at $2.50/h\", \"hint\": \"ask for 1 GPU or wait\"}}",
        0};
    CHECK_RC(open_against(&k, 0, 0), LEPTON_ENOCAPACITY);
    CHECK_LAST("2 GPUs requested: 3 exist, 0 are free; closest: node b has 1 free H100 at $2.50/h");
    CHECK_LAST("ask for 1 GPU or wait");

    static const struct {
        int status;
        const char *code;
        int want;
    } table[] = {
        {400, "invalid_request", LEPTON_EINVAL},        {401, "unauthorized", LEPTON_EAUTH},
        {402, "over_budget", LEPTON_EBUDGET},           {403, "forbidden", LEPTON_EAUTH},
        {404, "not_found", LEPTON_ENOTFOUND},           {409, "conflict", LEPTON_EINVAL},
        {410, "lease_ended", LEPTON_EEXPIRED},          {413, "too_large", LEPTON_ETOOLARGE},
        {415, "unsupported_media_type", LEPTON_EINVAL}, {500, "internal", LEPTON_EPROTO},
        {503, "no_capacity", LEPTON_ENOCAPACITY},       {503, "some_future_code", LEPTON_ENOCAPACITY},
        {402, "some_future_code", LEPTON_EBUDGET},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"error\": {\"code\": \"%s\", \"message\": \"msg %zu\"}}",
                 table[i].code, i);
        canned e = {table[i].status, body, 0};
        CHECK_RC(open_against(&e, 0, 0), table[i].want);
        char want[32];
        snprintf(want, sizeof want, "msg %zu", i);
        CHECK_LAST(want);
    }
}

static void malformed_answers(void) {
    static const struct {
        int status;
        const char *body;
        const char *mention;
    } table[] = {
        {200, "this is not json", "not a JSON object"},
        {201, "[1, 2]", "not a JSON object"},
        {201, "", "not a JSON object"},
        {201, "{\"lease\": 3}", "no \"lease\" object"},
        {201, "{}", "no \"lease\" object"},
        {201, "{\"lease\": {\"id\": \"ls_1\", \"state\": \"dancing\"}}", "unknown state \"dancing\""},
        {201, "{\"lease\": {\"id\": 7, \"state\": \"active\"}}", "'id'"},
        {201, "{\"lease\": {\"id\": \"../../x\", \"state\": \"active\"}}", "\"id\""},
        {201, "{\"lease\": {\"id\": \"ls_1\", \"state\": \"active\", \"gpu_count\": \"two\"}}", "gpu_count"},
        {502, "<html>Bad Gateway</html>", "HTTP 502"},
        {503, "{\"message\": \"no error object\"}", "without a Lepton error body"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        canned k = {table[i].status, table[i].body, 0};
        CHECK_RC(open_against(&k, 0, 0), LEPTON_EPROTO);
        CHECK_LAST(table[i].mention);
    }
}

static void deadlines(void) {
    /* The broker answers after 3 s; a 300 ms timeout ends the request near 300 ms. */
    canned slow = {201, "{}", 3000};
    double t0 = tc_now_ms();
    CHECK_RC(open_against(&slow, 300, 0), LEPTON_ENET);
    double took = tc_now_ms() - t0;
    CHECK(took >= 250 && took < 1500);
    CHECK_LAST("timed out");
    CHECK_LAST("deadline 300 ms");
    /* wait_ms extends the deadline: the broker may hold the request that long. */
    canned late = {201, "{\"lease\": {\"id\": \"ls_1\", \"state\": \"active\"}}", 600};
    CHECK_RC(open_against(&late, 300, 1000), LEPTON_OK);
}

/* The connection breaks after the broker created the lease: the retry carries the same
 * idempotency key, and the broker answers with the same lease, so there is only one. */
typedef struct log_lines {
    pthread_mutex_t lock;
    char text[16384];
} log_lines;
static void on_log(int level, const char *msg, void *user) {
    log_lines *ll = user;
    pthread_mutex_lock(&ll->lock);
    size_t n = strlen(ll->text);
    snprintf(ll->text + n, sizeof ll->text - n, "%d %s\n", level, msg);
    pthread_mutex_unlock(&ll->lock);
}

static void keyed_retry(void) {
    fb_mini *m = mini_new();
    fake_broker *fb = fb_start(fb_mini_handler, m);
    log_lines ll = {PTHREAD_MUTEX_INITIALIZER, ""};
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = fb_url(fb);
    o.log = on_log;
    o.log_user = &ll;
    lepton_client *c;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    m->drop_next_open_answer = 1; /* on a fresh connection: the library's own retry */
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l), LEPTON_OK);
    CHECK(m->opens == 2);
    CHECK(m->next_id == 1); /* one lease */
    CHECK(m->nkeys == 1);   /* one key, sent twice */
    CHECK(!strncmp(m->last_key, "ik_", 3) && strlen(m->last_key) > 20);
    CHECK(strstr(ll.text, "1 POST /v1/leases: connection broken") != NULL);
    CHECK(strstr(ll.text, "retrying once") != NULL);
    char first_key[128];
    strcpy(first_key, m->last_key);
    lepton_lease *l2 = NULL;
    CHECK_RC(lepton_lease_open(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l2), LEPTON_OK);
    CHECK(strcmp(first_key, m->last_key) != 0); /* a new call, a new key */
    CHECK(m->next_id == 2);

    /* Close: the answer is lost, the retry gets 410 with the lease closed — that is success. */
    m->drop_next_close_answer = 1;
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    CHECK(m->closes == 2);
    CHECK_RC(lepton_lease_close(l2), LEPTON_OK);
    lepton_client_close(c);
    fb_stop(fb);
    free(m);
}

static void lifecycle(void) {
    fb_mini *m = mini_new();
    fake_broker *fb = fb_start(fb_mini_handler, m);
    lepton_client *c = client_for(fb_url(fb), 0);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.gpu_count = 2;
    r.gpu_model = "H100";
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    CHECK(!strcmp(m->last_auth, "Bearer t0ken"));
    /* The request carries the caller's fields and the documented defaults. */
    CHECK(strstr(m->last_open_body, "\"gpu_count\":2") != NULL);
    CHECK(strstr(m->last_open_body, "\"gpu_model\":\"H100\"") != NULL);
    CHECK(strstr(m->last_open_body, "\"ttl_seconds\":3600") != NULL);
    CHECK(strstr(m->last_open_body, "\"wait_ms\":0") != NULL);
    CHECK(strstr(m->last_open_body, "\"idempotency_key\":\"ik_") != NULL);
    CHECK(strstr(m->last_open_body, "labels") == NULL);
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    CHECK_RC(lepton_lease_get_info(l, &info), LEPTON_OK);
    CHECK(info.version == LEPTON_LEASE_INFO_VERSION);
    CHECK(!strcmp(info.id, "ls_1"));
    CHECK(!strcmp(info.node, "node-a"));
    CHECK(!strcmp(info.gpu_model, "NVIDIA H100 80GB HBM3"));
    CHECK(info.gpu_count == 2);
    CHECK(info.gpu_memory == 85899345920ull);
    CHECK(info.price_per_gpu_hour == 2.5);
    CHECK(info.cost == 0.0014);
    CHECK(info.started_at == 1790000000);
    CHECK(info.expires_at == 1790000600);
    CHECK(info.state == LEPTON_LEASE_ACTIVE);
    CHECK_RC(lepton_lease_extend(l, 60), LEPTON_OK);
    CHECK_RC(lepton_lease_get_info(l, &info), LEPTON_OK);
    CHECK(info.expires_at == 1790000660);

    /* The broker ends the lease behind the client's back: extend and close say EEXPIRED, and
     * close frees the handle all the same (ASan/valgrind would see a leak otherwise). */
    m->leases[1].open = 0;
    m->leases[1].ended = "expired";
    CHECK_RC(lepton_lease_get_info(l, &info), LEPTON_OK);
    CHECK(info.state == LEPTON_LEASE_EXPIRED);
    CHECK(info.expires_at == 1790000100); /* once ended: when it ended */
    CHECK_RC(lepton_lease_extend(l, 60), LEPTON_EEXPIRED);
    CHECK_LAST_ERROR("lease has ended");
    CHECK_RC(lepton_lease_close(l), LEPTON_EEXPIRED);
    CHECK_LAST_ERROR("already ended");
    /* A lease closed elsewhere by its holder (the tenant): closing it here is a success. */
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    m->leases[2].open = 0;
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
    fb_stop(fb);
    free(m);
}

/* The token comes from the options, else $LEPTON_TOKEN, else there is none. */
static void token_sources(void) {
    fb_mini *m = mini_new();
    fake_broker *fb = fb_start(fb_mini_handler, m);
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = fb_url(fb);
    lepton_offer *offers;
    size_t n;
    setenv("LEPTON_TOKEN", "from-env", 1);
    lepton_client *c;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    CHECK_RC(lepton_quote(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &offers, &n), LEPTON_OK);
    lepton_offers_free(offers);
    CHECK(!strcmp(m->last_auth, "Bearer from-env"));
    lepton_client_close(c);
    unsetenv("LEPTON_TOKEN");
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    CHECK_RC(lepton_quote(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &offers, &n), LEPTON_OK);
    lepton_offers_free(offers);
    CHECK(m->last_auth[0] == '\0');
    lepton_client_close(c);
    fb_stop(fb);
    free(m);
}

static void client_close_ends_leases(void) {
    fb_mini *m = mini_new();
    fake_broker *fb = fb_start(fb_mini_handler, m);
    lepton_client *c = client_for(fb_url(fb), 0);
    lepton_lease *l[3];
    for (int i = 0; i < 3; i++)
        CHECK_RC(lepton_lease_open(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l[i]), LEPTON_OK);
    CHECK_RC(lepton_lease_close(l[1]), LEPTON_OK); /* closed by hand: not closed again */
    lepton_client_close(c);
    CHECK(m->closes == 3);
    for (int i = 1; i <= 3; i++)
        CHECK(m->leases[i].open == 0);

    /* A broker that went away: closing the client is still quick (one refused connection). */
    c = client_for(fb_url(fb), 2000);
    for (int i = 0; i < 3; i++)
        CHECK_RC(lepton_lease_open(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l[i]), LEPTON_OK);
    fb_stop(fb);
    double t0 = tc_now_ms();
    lepton_client_close(c);
    CHECK(tc_now_ms() - t0 < 1000);
    free(m);
}

static void quote(void) {
    fb_mini *m = mini_new();
    fake_broker *fb = fb_start(fb_mini_handler, m);
    lepton_client *c = client_for(fb_url(fb), 0);
    lepton_offer *offers = NULL;
    size_t n = 0;
    CHECK_RC(lepton_quote(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &offers, &n), LEPTON_OK);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(offers[0].price_per_gpu_hour == 0.7 && !strcmp(offers[0].node, "c"));
        CHECK(offers[1].price_per_gpu_hour == 1.9 && !strcmp(offers[1].gpu_model, "A100"));
        CHECK(offers[2].gpus_free == 8 && offers[2].gpu_memory == 85899345920ull);
    }
    lepton_offers_free(offers);
    lepton_client_close(c);
    fb_stop(fb);
    free(m);

    canned none = {200, "{\"offers\": [], \"message\": \"0 of 4 H100 GPUs are free\"}", 0};
    fb = fb_start(canned_handler, &none);
    c = client_for(fb_url(fb), 0);
    offers = (lepton_offer *)&offers;
    CHECK_RC(lepton_quote(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &offers, &n), LEPTON_OK);
    CHECK(n == 0 && offers == NULL);
    CHECK_LAST_ERROR("0 of 4 H100 GPUs are free");
    lepton_client_close(c);
    fb_stop(fb);
}

static void logging(void) {
    fb_mini *m = mini_new();
    fake_broker *fb = fb_start(fb_mini_handler, m);
    log_lines ll = {PTHREAD_MUTEX_INITIALIZER, ""};
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = fb_url(fb);
    o.log = on_log;
    o.log_user = &ll;
    lepton_client *c;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    lepton_lease *l;
    CHECK_RC(lepton_lease_open(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l), LEPTON_OK);
    CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    lepton_client_close(c);
    CHECK(strstr(ll.text, "3 POST /v1/leases -> 201 in ") != NULL);
    CHECK(strstr(ll.text, " µs") != NULL);
    CHECK(strstr(ll.text, "2 lease ls_1 granted") != NULL);
    CHECK(strstr(ll.text, "3 POST /v1/leases/ls_1/close -> 200") != NULL);
    CHECK(strstr(ll.text, "2 lease ls_1 closed") != NULL);
    if (check_failures) fprintf(stderr, "log:\n%s", ll.text);
    fb_stop(fb);
    free(m);
}

/* lepton_lease_attach against canned answers of GET /v1/leases/{id}: the lease's state decides;
 * an answer about another lease, or a malformed one, is a protocol error; out is NULL on failure. */
static int attach_against(const canned *k, const char *id) {
    fake_broker *fb = fb_start(canned_handler, (void *)k);
    lepton_client *c = client_for(fb_url(fb), 0);
    lepton_lease *l = (lepton_lease *)c; /* not NULL: the call must set it */
    int rc = lepton_lease_attach(c, id, &l);
    if (rc) CHECK(l == NULL);
    snprintf(last_msg, sizeof last_msg, "%s", lepton_last_error());
    if (!rc) CHECK_RC(lepton_lease_detach(l), LEPTON_OK);
    lepton_client_close(c); /* sends nothing more: the canned broker would answer anything */
    CHECK(fb_requests(fb) == 1);
    fb_stop(fb);
    return rc;
}

static void attach_answers(void) {
    static const struct {
        int status;
        const char *body;
        int rc;
        const char *mention;
    } table[] = {
        {200, "{\"lease\": {\"id\": \"ls_1\", \"state\": \"active\", \"gpu_count\": 1}}", LEPTON_OK, ""},
        {200, "{\"lease\": {\"id\": \"ls_1\", \"state\": \"pending\"}}", LEPTON_ENOCAPACITY,
         "waiting for capacity"},
        {200, "{\"lease\": {\"id\": \"ls_1\", \"state\": \"expired\", \"end_reason\": \"ttl reached\"}}",
         LEPTON_EEXPIRED, "expired: ttl reached"},
        {200, "{\"lease\": {\"id\": \"ls_1\", \"state\": \"failed\"}}", LEPTON_EEXPIRED,
         "has ended (failed)"},
        {200, "{\"lease\": {\"id\": \"ls_2\", \"state\": \"active\"}}", LEPTON_EPROTO, "got lease ls_2"},
        {200, "{\"lease\": 3}", LEPTON_EPROTO, "no \"lease\" object"},
        {404, "{\"error\": {\"code\": \"not_found\", \"message\": \"no lease ls_1\"}}", LEPTON_ENOTFOUND,
         "lepton_lease_attach: no lease ls_1"},
        {401, "{\"error\": {\"code\": \"unauthorized\", \"message\": \"bad token\"}}", LEPTON_EAUTH,
         "lepton_lease_attach"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        canned k = {table[i].status, table[i].body, 0};
        CHECK_RC(attach_against(&k, "ls_1"), table[i].rc);
        CHECK_LAST(table[i].mention);
    }
    /* ids that cannot be one are refused before any request */
    lepton_client *c = client_for("http://127.0.0.1:9", 0);
    lepton_lease *l = (lepton_lease *)c;
    CHECK_RC(lepton_lease_attach(c, "ls_1/../x", &l), LEPTON_EINVAL);
    CHECK(l == NULL);
    CHECK_LAST_ERROR("is not a lease id");
    CHECK_RC(lepton_lease_attach(c, "", &l), LEPTON_EINVAL);
    CHECK_RC(lepton_lease_attach(c, NULL, &l), LEPTON_EINVAL);
    CHECK_RC(lepton_lease_detach(NULL), LEPTON_OK);
    lepton_client_close(c);
}

/* Sequential requests reuse one keep-alive connection. */
static void keepalive(void) {
    fb_mini *m = mini_new();
    fake_broker *fb = fb_start(fb_mini_handler, m);
    lepton_client *c = client_for(fb_url(fb), 0);
    double t0 = tc_now_ms();
    int cycles = 200;
    for (int i = 0; i < cycles; i++) {
        lepton_lease *l;
        CHECK_RC(lepton_lease_open(c, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l), LEPTON_OK);
        CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    }
    double per = (tc_now_ms() - t0) / cycles;
    fprintf(stderr, "keepalive: lease open+close against the fake broker: %.0f µs per cycle\n", per * 1000);
    CHECK(fb_connections(fb) == 1);
    lepton_client_close(c);
    fb_stop(fb);
    free(m);
}

/* Many threads share one client: every call succeeds and connections are pooled. */
#define THREADS 8
#define ROUNDS 40
static lepton_client *shared_client;
static atomic_int thread_failures;
static void *worker(void *arg) {
    for (int i = 0; i < ROUNDS; i++) {
        lepton_lease *l;
        if (lepton_lease_open(shared_client, &(lepton_lease_request)LEPTON_LEASE_REQUEST_INIT, &l)) {
            thread_failures++;
            continue;
        }
        lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
        if (lepton_lease_get_info(l, &info) || info.state != LEPTON_LEASE_ACTIVE) thread_failures++;
        if (i % 2 == 0 && lepton_lease_close(l)) thread_failures++; /* the rest: lepton_client_close */
    }
    return NULL;
}
static void threads(void) {
    fb_mini *m = mini_new();
    fake_broker *fb = fb_start(fb_mini_handler, m);
    shared_client = client_for(fb_url(fb), 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK(thread_failures == 0);
    CHECK(m->next_id == THREADS * ROUNDS);
    CHECK(m->closes == THREADS * ROUNDS / 2);
    lepton_client_close(shared_client);
    CHECK(m->closes == THREADS * ROUNDS);
    CHECK(fb_connections(fb) <= 2 * THREADS);
    fb_stop(fb);
    free(m);
}

/* A broker that answers "pending": the client polls until the lease is active, or gives up at
 * wait_ms, closes the pending lease and reports no capacity. */
typedef struct pending_state {
    int polls_until_active;
    int polls, closes;
} pending_state;
static void pending_handler(const fb_request *req, fb_reply *rep, void *user) {
    pending_state *p = user;
    const char *state = "pending";
    if (!strcmp(req->method, "GET") && ++p->polls >= p->polls_until_active) state = "active";
    if (strstr(req->path, "/close")) {
        p->closes++;
        state = "closed";
    }
    rep->status = strcmp(req->method, "POST") || strcmp(req->path, "/v1/leases") ? 200 : 201;
    snprintf(rep->body, sizeof rep->body, "{\"lease\": {\"id\": \"ls_9\", \"state\": \"%s\"}}", state);
}
static void pending(void) {
    pending_state p = {3, 0, 0};
    fake_broker *fb = fb_start(pending_handler, &p);
    lepton_client *c = client_for(fb_url(fb), 0);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.wait_ms = 5000;
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    CHECK(p.polls == 3);
    lepton_lease_close(l);
    p.polls_until_active = 1000000;
    p.polls = p.closes = 0;
    r.wait_ms = 200;
    double t0 = tc_now_ms();
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_ENOCAPACITY);
    CHECK_LAST_ERROR("wait_ms 200");
    CHECK(tc_now_ms() - t0 < 1000);
    CHECK(p.closes == 1);
    lepton_client_close(c);
    fb_stop(fb);
}

int main(int argc, char **argv) {
    static const check_case cases[] = {
        {"validation", validation},
        {"enet_closed_port", enet_closed_port},
        {"error_mapping", error_mapping},
        {"malformed_answers", malformed_answers},
        {"deadlines", deadlines},
        {"keyed_retry", keyed_retry},
        {"lifecycle", lifecycle},
        {"token_sources", token_sources},
        {"client_close_ends_leases", client_close_ends_leases},
        {"quote", quote},
        {"logging", logging},
        {"keepalive", keepalive},
        {"threads", threads},
        {"pending", pending},
        {"attach_answers", attach_answers},
    };
    return check_main(argc, argv, cases, sizeof cases / sizeof cases[0], NULL, NULL);
}
