/* test_client_api.c — the parts of liblepton that need no broker: status names, the version, the
 * thread-local last error, client options and their validation, and NULL handling (also of the
 * data-plane functions). */
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "lepton/lepton.h"

static void status_names(void) {
    static const struct {
        int code;
        const char *name;
    } all[] = {
        {LEPTON_OK, "LEPTON_OK"},
        {LEPTON_EINVAL, "LEPTON_EINVAL"},
        {LEPTON_ENOMEM, "LEPTON_ENOMEM"},
        {LEPTON_ENET, "LEPTON_ENET"},
        {LEPTON_EAUTH, "LEPTON_EAUTH"},
        {LEPTON_ENOCAPACITY, "LEPTON_ENOCAPACITY"},
        {LEPTON_EBUDGET, "LEPTON_EBUDGET"},
        {LEPTON_EEXPIRED, "LEPTON_EEXPIRED"},
        {LEPTON_ENODELOST, "LEPTON_ENODELOST"},
        {LEPTON_ECUDA, "LEPTON_ECUDA"},
        {LEPTON_ETIMEDOUT, "LEPTON_ETIMEDOUT"},
        {LEPTON_ECANCELED, "LEPTON_ECANCELED"},
        {LEPTON_EPROTO, "LEPTON_EPROTO"},
        {LEPTON_ENOTFOUND, "LEPTON_ENOTFOUND"},
        {LEPTON_ETOOLARGE, "LEPTON_ETOOLARGE"},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        CHECK(!strcmp(lepton_status_name(all[i].code), all[i].name));
    CHECK(all[14].code == -14);
    CHECK(!strcmp(lepton_status_name(1), "LEPTON_UNKNOWN"));
    CHECK(!strcmp(lepton_status_name(-15), "LEPTON_UNKNOWN"));
    CHECK(!strcmp(lepton_status_name(-1000), "LEPTON_UNKNOWN"));
}

static void version(void) {
    CHECK(!strcmp(lepton_version(), LEPTON_VERSION_STRING));
    CHECK(!strcmp(lepton_version(), "1.0.0"));
}

/* Two threads fail differently at interleaved times; each sees only its own message. */
static pthread_barrier_t barrier;
static void *thread_a(void *arg) {
    int *bad = arg;
    if (lepton_last_error()[0] != '\0') (*bad)++; /* a fresh thread starts with "" */
    CHECK_RC(lepton_client_open(NULL, NULL), LEPTON_EINVAL);
    pthread_barrier_wait(&barrier); /* A has failed */
    pthread_barrier_wait(&barrier); /* B has failed */
    if (!strstr(lepton_last_error(), "out is NULL")) (*bad)++;
    return NULL;
}
static void *thread_b(void *arg) {
    int *bad = arg;
    pthread_barrier_wait(&barrier);
    if (lepton_last_error()[0] != '\0') (*bad)++;
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.version = 0;
    lepton_client *c;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_EINVAL);
    pthread_barrier_wait(&barrier);
    if (!strstr(lepton_last_error(), "opts->version 0")) (*bad)++;
    return NULL;
}
static void last_error_thread_local(void) {
    int bad = 0;
    pthread_barrier_init(&barrier, NULL, 2);
    pthread_t a, b;
    pthread_create(&a, NULL, thread_a, &bad);
    pthread_create(&b, NULL, thread_b, &bad);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_barrier_destroy(&barrier);
    CHECK(bad == 0);
    CHECK(lepton_last_error() != NULL);
}

static int open_with(const lepton_client_options *o) {
    lepton_client *c = (lepton_client *)&c; /* not NULL: a failure must reset it */
    int rc = lepton_client_open(&c, o);
    if (rc) CHECK(c == NULL);
    lepton_client_close(c);
    return rc;
}

static void options(void) {
    unsetenv("LEPTON_ENDPOINT");
    unsetenv("LEPTON_TOKEN");
    CHECK_RC(open_with(NULL), LEPTON_OK);
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    CHECK_RC(open_with(&o), LEPTON_OK);

    o.version = 0;
    CHECK_RC(open_with(&o), LEPTON_EINVAL);
    CHECK_LAST_ERROR("opts->version 0");
    o.version = LEPTON_CLIENT_OPTIONS_VERSION + 1;
    CHECK_RC(open_with(&o), LEPTON_EINVAL);
    CHECK_LAST_ERROR("opts->version 2");
    CHECK_LAST_ERROR("LEPTON_CLIENT_OPTIONS_INIT");
    o.version = LEPTON_CLIENT_OPTIONS_VERSION;

    static const char *bad_endpoints[] = {"ftp://127.0.0.1/", "",           "127.0.0.1:7700",
                                          "http://",          "https:///x", "http://a b",
                                          "http://h:1/?q=1",  "htt://x",    "http://h\n"};
    for (size_t i = 0; i < sizeof bad_endpoints / sizeof bad_endpoints[0]; i++) {
        o.endpoint = bad_endpoints[i];
        CHECK_RC(open_with(&o), LEPTON_EINVAL);
        CHECK_LAST_ERROR("opts->endpoint");
    }
    o.endpoint = "ftp://example.com";
    open_with(&o);
    CHECK_LAST_ERROR("\"ftp://example.com\"");
    static const char *good_endpoints[] = {"http://127.0.0.1:7700", "HTTPS://broker.example.com/",
                                           "http://[::1]:7700", "http://h:1/prefix//"};
    for (size_t i = 0; i < sizeof good_endpoints / sizeof good_endpoints[0]; i++) {
        o.endpoint = good_endpoints[i];
        CHECK_RC(open_with(&o), LEPTON_OK);
    }
    o.endpoint = NULL;

    o.timeout_ms = -1;
    CHECK_RC(open_with(&o), LEPTON_EINVAL);
    CHECK_LAST_ERROR("opts->timeout_ms -1");
    o.timeout_ms = 0;

    o.ca_file = "/nonexistent/ca.pem";
    CHECK_RC(open_with(&o), LEPTON_EINVAL);
    CHECK_LAST_ERROR("/nonexistent/ca.pem");
    o.ca_file = NULL;

    o.token = "abc\r\nX-Evil: 1";
    CHECK_RC(open_with(&o), LEPTON_EINVAL);
    CHECK_LAST_ERROR("opts->token");
    CHECK(!strstr(lepton_last_error(), "abc")); /* a token is never shown */
    o.token = "";
    CHECK_RC(open_with(&o), LEPTON_OK); /* empty = none */
    o.token = NULL;

    /* Environment fallbacks. */
    setenv("LEPTON_ENDPOINT", "gopher://x", 1);
    CHECK_RC(open_with(NULL), LEPTON_EINVAL);
    CHECK_LAST_ERROR("$LEPTON_ENDPOINT");
    o.endpoint = "http://127.0.0.1:1"; /* an explicit endpoint wins over the environment */
    CHECK_RC(open_with(&o), LEPTON_OK);
    o.endpoint = NULL;
    setenv("LEPTON_ENDPOINT", "", 1); /* empty = unset */
    CHECK_RC(open_with(NULL), LEPTON_OK);
    setenv("LEPTON_ENDPOINT", "http://127.0.0.1:7799", 1);
    CHECK_RC(open_with(NULL), LEPTON_OK);
    unsetenv("LEPTON_ENDPOINT");
    setenv("LEPTON_TOKEN", "bad\ttoken", 1);
    CHECK_RC(open_with(NULL), LEPTON_EINVAL);
    CHECK_LAST_ERROR("$LEPTON_TOKEN");
    unsetenv("LEPTON_TOKEN");
}

static void null_handling(void) {
    lepton_lease_request req = LEPTON_LEASE_REQUEST_INIT;
    lepton_lease *l = (lepton_lease *)&l;
    lepton_offer *offers = (lepton_offer *)&offers;
    size_t count = 7;
    CHECK_RC(lepton_client_open(NULL, NULL), LEPTON_EINVAL);
    CHECK_LAST_ERROR("out is NULL");
    CHECK_RC(lepton_lease_open(NULL, &req, &l), LEPTON_EINVAL);
    CHECK_LAST_ERROR("lepton_lease_open: c is NULL");
    CHECK(l == NULL);
    CHECK_RC(lepton_quote(NULL, &req, &offers, &count), LEPTON_EINVAL);
    CHECK_LAST_ERROR("lepton_quote: c is NULL");
    CHECK(offers == NULL && count == 0);
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    CHECK_RC(lepton_lease_get_info(NULL, &info), LEPTON_EINVAL);
    CHECK_LAST_ERROR("lepton_lease_get_info: l is NULL");
    CHECK_RC(lepton_lease_extend(NULL, 10), LEPTON_EINVAL);
    CHECK_LAST_ERROR("lepton_lease_extend: l is NULL");
    CHECK_RC(lepton_lease_close(NULL), LEPTON_OK);
    lepton_client_close(NULL);
    lepton_offers_free(NULL);

    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = "http://127.0.0.1:1";
    lepton_client *c;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    CHECK_RC(lepton_lease_open(c, NULL, &l), LEPTON_EINVAL);
    CHECK_LAST_ERROR("req is NULL");
    CHECK_RC(lepton_lease_open(c, &req, NULL), LEPTON_EINVAL);
    CHECK_LAST_ERROR("out is NULL");
    CHECK_RC(lepton_quote(c, NULL, &offers, &count), LEPTON_EINVAL);
    CHECK_LAST_ERROR("req is NULL");
    CHECK_RC(lepton_quote(c, &req, NULL, &count), LEPTON_EINVAL);
    CHECK_LAST_ERROR("offers is NULL");
    CHECK_RC(lepton_quote(c, &req, &offers, NULL), LEPTON_EINVAL);
    CHECK_LAST_ERROR("count is NULL");
    lepton_client_close(c);
}

/* The data-plane functions refuse NULL handles and arguments with EINVAL and reset `out`. */
static void data_plane_nulls(void) {
    lepton_module *m = (lepton_module *)&m;
    lepton_buffer *b = (lepton_buffer *)&b;
    lepton_task *t = (lepton_task *)&t;
    lepton_job job = LEPTON_JOB_INIT;
    lepton_task_info ti = LEPTON_TASK_INFO_INIT;
    char host[4];
    CHECK_RC(lepton_module_load(NULL, "x", 1, &m), LEPTON_EINVAL);
    CHECK_LAST_ERROR("lepton_module_load: l is NULL");
    CHECK(m == NULL);
    CHECK_RC(lepton_buffer_alloc(NULL, 0, 16, &b), LEPTON_EINVAL);
    CHECK_LAST_ERROR("lepton_buffer_alloc: l is NULL");
    CHECK(b == NULL);
    CHECK_RC(lepton_buffer_write(NULL, 0, host, sizeof host), LEPTON_EINVAL);
    CHECK_LAST_ERROR("lepton_buffer_write: b is NULL");
    CHECK_RC(lepton_buffer_read(NULL, 0, host, sizeof host), LEPTON_EINVAL);
    CHECK_LAST_ERROR("lepton_buffer_read: b is NULL");
    CHECK_RC(lepton_submit(NULL, &job, &t), LEPTON_EINVAL);
    CHECK_LAST_ERROR("lepton_submit: l is NULL");
    CHECK(t == NULL);
    CHECK_RC(lepton_wait(NULL, 0), LEPTON_EINVAL);
    CHECK_LAST_ERROR("lepton_wait: t is NULL");
    CHECK_RC(lepton_task_get_info(NULL, &ti), LEPTON_EINVAL);
    CHECK_LAST_ERROR("lepton_task_get_info: t is NULL");
    lepton_module_free(NULL);
    lepton_buffer_free(NULL);
    lepton_task_free(NULL);
    CHECK_RC(lepton_submit(NULL, NULL, NULL), LEPTON_EINVAL);
}

int main(int argc, char **argv) {
    static const check_case cases[] = {
        {"status_names", status_names},
        {"version", version},
        {"last_error_thread_local", last_error_thread_local},
        {"options", options},
        {"null_handling", null_handling},
        {"data_plane_nulls", data_plane_nulls},
    };
    return check_main(argc, argv, cases, sizeof cases / sizeof cases[0], NULL, NULL);
}
