/* test_metrics.c — GET /metrics of the broker, the node agent and a lease worker, end to end
 * (docs/metrics.md), on real processes: lepton-broker, leptond with one emulated GPU, its worker.
 *
 *   values    the key families hold what happened: the GPU leased (1) then free again, on the
 *             broker and on the agent; a refused request counted as a refusal with its wait, not as
 *             a 5xx; the lease's bill (GPU-seconds, dollars) added to its model's counters when it
 *             closed; every family has HELP and TYPE lines, counters end in _total, names carry
 *             their component's prefix; no page names a tenant, a node or a lease.
 *   promtool  `promtool check metrics` accepts each page (scraped with a lease open and after a
 *             refusal, so that every family has samples); skipped (77) where promtool is not
 *             installed (Debian: apt-get install prometheus). */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_harness.h"
#include "lepton/lepton.h"

#define SKIP 77
#define TENANT "acme-tenant"
#define NODE "node-metrics-1"

static h_broker B;
static a_agent A;
static char T_TEN[128], T_NODE[128];
static char MODEL[256], UUID[128]; /* the emulated GPU's model and uuid, as registered */

/* ---- scraping ---- */
/* GET /metrics of base (a URL) as text (malloc'd), or NULL with a failed check. */
static char *scrape(const char *base) {
    h_resp r;
    char *text = NULL;
    if (a_http(base, "GET", "/metrics", NULL, NULL, NULL, 0, &r) == 0 && r.status == 200 && r.body) {
        text = r.body;
        r.body = NULL;
    }
    CHECKF(text != NULL, "GET %s/metrics answered %ld", base, r.status);
    h_resp_free(&r);
    return text;
}

/* The value of the sample written exactly as `series` (name{labels}), or NAN when absent. */
static double sample(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ') return strtod(p + n + 1, NULL);
    return NAN;
}

/* The same with the series given as a printf format. */
static double samplef(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static double samplef(const char *text, const char *fmt, ...) {
    char series[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(series, sizeof series, fmt, ap);
    va_end(ap);
    return sample(text, series);
}

/* Polls base's /metrics until series equals want (up to 10 s); returns the last value seen. */
static double await_sample(const char *base, const char *series, double want) {
    double v = NAN;
    for (int i = 0; i < 200; i++) {
        char *t = scrape(base);
        v = t ? sample(t, series) : NAN;
        free(t);
        if (v == want) break;
        usleep(50000);
    }
    return v;
}

/* The rules every page keeps, whatever it counts: every sample belongs to a family with HELP and
 * TYPE lines; counters end in _total; names start with lepton_<component>_ (or are
 * lepton_build_info); no label is a lease id, a tenant or a node, and neither the tenant's name
 * nor the lease's id appears anywhere. */
static void check_page(const char *what, const char *text, const char *prefix, const char *lease_id) {
    CHECKF(text != NULL, "%s: no page", what);
    if (!text) return;
    CHECKF(strstr(text, "lepton_build_info{") != NULL, "%s: no lepton_build_info", what);
    CHECKF(samplef(text, "lepton_build_info{component=\"%s\",version=\"%s\"}",
                   !strcmp(prefix, "lepton_broker_")  ? "broker"
                   : !strcmp(prefix, "lepton_agent_") ? "agent"
                                                      : "worker",
                   LEPTON_VERSION_STRING) == 1,
           "%s: lepton_build_info is not 1 with this component and version", what);
    /* (the emulated GPU's model carries the node's name: "Lepton Emu NODE") */
    const char *forbidden[] = {"lease_id=", "lease=", "tenant=", "node=", TENANT, lease_id};
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++)
        CHECKF(!forbidden[i] || !*forbidden[i] || !strstr(text, forbidden[i]), "%s: the page shows \"%s\"",
               what, forbidden[i]);
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (*line == '#') {
            char name[200], kind[32];
            if (sscanf(line, "# TYPE %199s %31s", name, kind) == 2) {
                CHECKF(!strncmp(name, prefix, strlen(prefix)) || !strcmp(name, "lepton_build_info"),
                       "%s: family %s lacks the prefix %s", what, name, prefix);
                if (!strcmp(kind, "counter"))
                    CHECKF(strlen(name) > 6 && !strcmp(name + strlen(name) - 6, "_total"),
                           "%s: counter %s does not end in _total", what, name);
            }
            continue;
        }
        size_t n = strcspn(line, "{ ");
        char name[200];
        snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), line);
        /* its family: the name itself, or a histogram's name less _bucket, _sum or _count */
        static const char *const hist_suffix[] = {"_bucket", "_sum", "_count"};
        int found = 0;
        for (int k = -1; k < 3 && !found; k++) {
            char fam[200], help[256], type[256];
            snprintf(fam, sizeof fam, "%s", name);
            if (k >= 0) {
                size_t sl = strlen(hist_suffix[k]), nl = strlen(fam);
                if (nl <= sl || strcmp(fam + nl - sl, hist_suffix[k])) continue;
                fam[nl - sl] = 0;
            }
            snprintf(help, sizeof help, "# HELP %s ", fam);
            snprintf(type, sizeof type, k < 0 ? "# TYPE %s " : "# TYPE %s histogram\n", fam);
            found = strstr(text, help) && strstr(text, type);
        }
        CHECKF(found, "%s: sample %s has no HELP and TYPE lines", what, name);
    }
}

/* ---- the lease ---- */
/* Opens a 1-GPU lease; fills its id and its worker's address. 0 or -1. */
static int lease_open(char *id, size_t in, char *worker, size_t wn) {
    h_resp r;
    int rc = -1;
    if (h_httpf(&B, "POST", "/v1/leases", T_TEN, &r, "{\"gpu_count\": 1}") == 0 && r.status == 201) {
        json_t *l = json_object_get(r.json, "lease");
        const char *i = json_string_value(json_object_get(l, "id"));
        const char *w = json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(l, "data_plane"), "workers"), 0), "address"));
        if (i && w) {
            snprintf(id, in, "%s", i);
            snprintf(worker, wn, "%s", w);
            rc = 0;
        }
    }
    CHECKF(rc == 0, "POST /v1/leases answered %ld: %s", r.status, r.body ? r.body : "");
    h_resp_free(&r);
    return rc;
}

/* Closes it; fills its bill as the broker answered it. */
static int lease_close(const char *id, double *gpu_seconds, double *cost) {
    char path[256];
    snprintf(path, sizeof path, "/v1/leases/%s/close", id);
    h_resp r;
    int rc = -1;
    if (h_httpf(&B, "POST", path, T_TEN, &r, "{}") == 0 && r.status == 200) {
        json_t *l = json_object_get(r.json, "lease");
        *gpu_seconds = json_number_value(json_object_get(l, "gpu_seconds"));
        *cost = json_number_value(json_object_get(l, "cost"));
        rc = 0;
    }
    CHECKF(rc == 0, "closing %s answered %ld: %s", id, r.status, r.body ? r.body : "");
    h_resp_free(&r);
    return rc;
}

/* A request for a GPU while the only one is leased: 503 no_capacity after waiting wait_ms. */
static void refused_request(int wait_ms) {
    h_resp r;
    CHECK(h_httpf(&B, "POST", "/v1/leases", T_TEN, &r, "{\"gpu_count\": 1, \"wait_ms\": %d}", wait_ms) == 0);
    CHECK_EQ_INT(r.status, 503);
    CHECK_STR(h_err_code(&r), "no_capacity");
    h_resp_free(&r);
}

static void case_values(void) {
    char *b0 = scrape(B.url), *a0 = scrape(A.url);
    check_page("broker (no lease)", b0, "lepton_broker_", NULL);
    check_page("agent (no lease)", a0, "lepton_agent_", NULL);
    CHECK_EQ_INT(samplef(b0, "lepton_broker_gpus{model=\"%s\",state=\"free\"}", MODEL), 1);
    CHECK_EQ_INT(samplef(b0, "lepton_broker_gpus{model=\"%s\",state=\"leased\"}", MODEL), 0);
    CHECK_EQ_INT(samplef(a0, "lepton_agent_gpus{model=\"%s\",state=\"free\"}", MODEL), 1);
    CHECK_EQ_INT(samplef(a0, "lepton_agent_gpus{model=\"%s\",state=\"leased\"}", MODEL), 0);
    CHECK_EQ_INT(sample(a0, "lepton_agent_registered"), 1);
    CHECK_EQ_INT(sample(a0, "lepton_agent_broker_reachable"), 1);
    CHECK(sample(a0, "lepton_agent_broker_calls_total{result=\"answered\"}") >= 1);
    /* the agent answered /healthz (the harness polled it) and /metrics: histograms by route */
    CHECK(samplef(a0, "lepton_agent_http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\","
                      "status_class=\"2xx\"}") >= 1);
    free(b0);
    free(a0);

    char id[128], worker[256];
    if (lease_open(id, sizeof id, worker, sizeof worker) != 0) return;
    CHECK(a_wait_worker(&A, 0, 0, 15000) > 0);
    char *b1 = scrape(B.url);
    check_page("broker (lease open)", b1, "lepton_broker_", id);
    CHECK_EQ_INT(samplef(b1, "lepton_broker_gpus{model=\"%s\",state=\"free\"}", MODEL), 0);
    CHECK_EQ_INT(samplef(b1, "lepton_broker_gpus{model=\"%s\",state=\"leased\"}", MODEL), 1);
    CHECK_EQ_INT(samplef(b1, "lepton_broker_leases_granted_total{model=\"%s\"}", MODEL), 1);
    CHECK_EQ_INT(sample(b1, "lepton_broker_leases{state=\"active\"}"), 1);
    free(b1);
    char series[512];
    snprintf(series, sizeof series, "lepton_agent_gpus{model=\"%s\",state=\"leased\"}", MODEL);
    CHECK_EQ_INT(await_sample(A.url, series, 1), 1);
    char *w1 = scrape(worker);
    check_page("worker", w1, "lepton_worker_", id);
    CHECK_EQ_INT(samplef(w1, "lepton_worker_queued_jobs{gpu=\"%s\"}", UUID), 0); /* labelled by GPU only */
    CHECK_EQ_INT(samplef(w1, "lepton_worker_queue_limit_bytes{gpu=\"%s\"}", UUID), 256ll << 20);
    free(w1);

    /* a refusal after waiting 300 ms: counted apart from errors, with its wait */
    refused_request(300);
    char *b2 = scrape(B.url);
    CHECK_EQ_INT(sample(b2, "lepton_broker_lease_refusals_total{reason=\"no_capacity\"}"), 1);
    CHECK_EQ_INT(sample(b2, "lepton_broker_lease_refusals_total{reason=\"over_budget\"}"), 0);
    CHECK_EQ_INT(sample(b2, "lepton_broker_lease_capacity_wait_seconds_count{outcome=\"refused\"}"), 1);
    double waited = sample(b2, "lepton_broker_lease_capacity_wait_seconds_sum{outcome=\"refused\"}");
    CHECKF(waited >= 0.29 && waited < 10, "refused wait %g s, expected about 0.3", waited);
    CHECK_EQ_INT(
        sample(b2, "lepton_broker_lease_capacity_wait_seconds_bucket{outcome=\"refused\",le=\"0.25\"}"), 0);
    CHECK_EQ_INT(
        sample(b2, "lepton_broker_lease_capacity_wait_seconds_bucket{outcome=\"refused\",le=\"0.5\"}"), 1);
    CHECK_EQ_INT(sample(b2, "lepton_broker_lease_capacity_wait_seconds_count{outcome=\"granted\"}"), 1);
    CHECK_EQ_INT(
        sample(b2, "lepton_broker_http_request_duration_seconds_count{route=\"/v1/leases\",method=\"POST\","
                   "status_class=\"refused\"}"),
        1);
    CHECK_EQ_INT(
        sample(b2, "lepton_broker_http_request_duration_seconds_count{route=\"/v1/leases\",method=\"POST\","
                   "status_class=\"2xx\"}"),
        1);
    CHECK(strstr(b2 ? b2 : "", "status_class=\"5xx\"") == NULL); /* the refusal is no error */
    /* buckets are cumulative and end in +Inf = count */
    CHECK_EQ_INT(
        sample(b2, "lepton_broker_http_request_duration_seconds_bucket{route=\"/v1/leases\",method=\"POST\","
                   "status_class=\"refused\",le=\"+Inf\"}"),
        1);
    free(b2);

    /* ten billed seconds (the broker's test clock), then close: the bill goes to the model's
     * counters at once, the GPU is free again on both pages */
    CHECK(h_advance(&B, T_TEN, 10000) == 0);
    double gs = 0, cost = 0;
    if (lease_close(id, &gs, &cost) != 0) return;
    CHECKF(gs >= 10 && gs <= 12, "the closed lease billed %g GPU-seconds, expected 10 to 12", gs);
    char *b3 = scrape(B.url);
    check_page("broker (lease closed)", b3, "lepton_broker_", id);
    CHECK_NEAR(samplef(b3, "lepton_broker_gpu_seconds_total{model=\"%s\"}", MODEL), gs);
    CHECK_NEAR(samplef(b3, "lepton_broker_cost_dollars_total{model=\"%s\"}", MODEL), cost);
    CHECK_NEAR(cost, gs * 3.6 / 3600); /* $3.60 per GPU-hour */
    CHECK_EQ_INT(samplef(b3, "lepton_broker_gpus{model=\"%s\",state=\"leased\"}", MODEL), 0);
    CHECK_EQ_INT(samplef(b3, "lepton_broker_gpus{model=\"%s\",state=\"free\"}", MODEL), 1);
    CHECK_EQ_INT(sample(b3, "lepton_broker_leases_ended_total{state=\"closed\"}"), 1);
    CHECK_EQ_INT(sample(b3, "lepton_broker_leases{state=\"active\"}"), 0);
    free(b3);
    CHECK_EQ_INT(await_sample(A.url, series, 0), 0);
    char *a3 = scrape(A.url);
    check_page("agent (lease closed)", a3, "lepton_agent_", id);
    double held = samplef(a3, "lepton_agent_gpu_seconds_total{model=\"%s\"}", MODEL);
    CHECKF(held > 0 && held < 60, "the agent counted %g s held, expected the lease's few real seconds", held);
    CHECK_EQ_INT(sample(a3, "lepton_agent_worker_starts_total"), 1);
    CHECK_EQ_INT(sample(a3, "lepton_agent_worker_replacements_total{reason=\"crash\"}"), 0);
    CHECK_EQ_INT(sample(a3, "lepton_agent_leases"), 0);
    free(a3);
}

/* Runs `promtool check metrics` on text; its output goes to stderr. Returns its exit status. */
static int promtool(const char *what, const char *text) {
    char path[400];
    snprintf(path, sizeof path, "%s/%s.prom", B.dir, what);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' 2>&1", path);
    fprintf(stderr, "promtool check metrics: the %s's /metrics (%s)\n", what, path);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void case_promtool(void) {
    char id[128], worker[256];
    if (lease_open(id, sizeof id, worker, sizeof worker) != 0) return;
    CHECK(a_wait_worker(&A, 0, 0, 15000) > 0);
    refused_request(0);
    const char *what[3] = {"broker", "agent", "worker"};
    const char *url[3] = {B.url, A.url, worker};
    for (int i = 0; i < 3; i++) {
        free(scrape(url[i])); /* so that /metrics itself has a histogram */
        char *t = scrape(url[i]);
        if (!t) continue;
        int rc = promtool(what[i], t);
        CHECKF(rc == 0, "promtool check metrics failed (%d) on the %s's /metrics", rc, what[i]);
        free(t);
    }
    double gs, cost;
    lease_close(id, &gs, &cost);
}

static int have_promtool(void) { return system("promtool --version > /dev/null 2>&1") == 0; }

/* The model the agent registered its emulated GPU as. */
static int read_model(void) {
    h_resp r;
    int rc = -1;
    if (h_http(&B, "GET", "/v1/nodes", T_TEN, NULL, NULL, 0, &r) == 0 && r.status == 200) {
        json_t *g =
            json_array_get(json_object_get(json_array_get(json_object_get(r.json, "nodes"), 0), "gpus"), 0);
        const char *m = json_string_value(json_object_get(g, "model"));
        const char *u = json_string_value(json_object_get(g, "uuid"));
        if (m && u) {
            snprintf(MODEL, sizeof MODEL, "%s", m);
            snprintf(UUID, sizeof UUID, "%s", u);
            rc = 0;
        }
    }
    h_resp_free(&r);
    return rc;
}

static void teardown(void) {
    a_agent_cleanup(&A);
    a_finish(&B);
}

static void on_exit_cleanup(void) {
    if (A.pid > 0 || B.pid > 0) teardown();
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        void (*fn)(void);
    } cases[] = {{"values", case_values}, {"promtool", case_promtool}};
    if (argc != 2) {
        fprintf(stderr, "usage: %s values|promtool\n", argv[0]);
        return 2;
    }
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        if (strcmp(argv[1], cases[k].name)) continue;
        if (cases[k].fn == case_promtool && !have_promtool()) {
            printf("skipped: promtool is not installed (Debian: apt-get install prometheus)\n");
            return SKIP;
        }
        if (!a_is_emulator()) {
            printf("skipped: the metrics cases run on the CPU driver\n");
            return SKIP;
        }
        atexit(on_exit_cleanup);
        if (h_broker_start(&B, NULL) != 0 || h_token(&B, TENANT, 0, T_TEN, sizeof T_TEN) ||
            h_token(&B, "fleet", 1, T_NODE, sizeof T_NODE) ||
            a_agent_start(&A, &B, T_NODE, NODE, 1, 3.6) != 0 || read_model() != 0) {
            check_failures++;
            teardown();
            return 1;
        }
        cases[k].fn();
        teardown();
        return check_done(cases[k].name);
    }
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}
