/* test_prom.c — the one Prometheus text writer (src/common/prom.h): label values escaped (a model
 * name with quotes, backslashes, a newline, non-ASCII bytes), values in their shortest exact form,
 * histograms cumulative up to +Inf = count, and the request-duration table's labels: route
 * patterns, "unmatched", standard methods or "other", status classes and "refused". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prom.h"

static void test_samples(void) {
    lp_prom w = {0};
    lp_prom_family(&w, "lepton_x_total", "counter", "A help\\text\nwith a newline.");
    lp_prom_sample(&w, "lepton_x_total", 3, "model", "H100 \"SXM\"\\5\nx\xc3\xa9", NULL);
    lp_prom_sample(&w, "lepton_x_total", 0.1, NULL);
    lp_prom_sample(&w, "lepton_x_total", 1e20, "a", NULL, NULL);
    lp_prom_sample(&w, "lepton_x_total", INFINITY, NULL);
    lp_prom_sample(&w, "lepton_x_total", NAN, NULL);
    size_t len = 0;
    char *t = lp_prom_take(&w, &len);
    CHECK(t != NULL);
    CHECK_EQ_INT(len, t ? strlen(t) : 0);
    CHECK_STR(t, "# HELP lepton_x_total A help\\\\text\\nwith a newline.\n"
                 "# TYPE lepton_x_total counter\n"
                 "lepton_x_total{model=\"H100 \\\"SXM\\\"\\\\5\\nx??\"} 3\n"
                 "lepton_x_total 0.1\n"
                 "lepton_x_total{a=\"\"} 1e+20\n"
                 "lepton_x_total +Inf\n"
                 "lepton_x_total NaN\n");
    free(t);
    CHECK(w.b.p == NULL && w.b.len == 0 && !w.oom); /* take resets the writer */
    t = lp_prom_take(&w, &len);                     /* nothing written: an empty page, not NULL */
    CHECK_STR(t, "");
    CHECK_EQ_INT(len, 0);
    free(t);
}

static void test_histogram(void) {
    static const lp_prom_buckets b = {3, {0.1, 1, 10}};
    lp_prom_hist h = {0};
    lp_prom_hist_observe(&h, &b, 0.05);
    lp_prom_hist_observe(&h, &b, 0.1); /* a bound is inclusive: le="0.1" */
    lp_prom_hist_observe(&h, &b, 5);
    lp_prom_hist_observe(&h, &b, 100);
    lp_prom w = {0};
    lp_prom_hist_write(&w, "lepton_wait_seconds", &h, &b, "outcome", "granted", NULL);
    char *t = lp_prom_take(&w, NULL);
    CHECK_STR(t, "lepton_wait_seconds_bucket{outcome=\"granted\",le=\"0.1\"} 2\n"
                 "lepton_wait_seconds_bucket{outcome=\"granted\",le=\"1\"} 2\n"
                 "lepton_wait_seconds_bucket{outcome=\"granted\",le=\"10\"} 3\n"
                 "lepton_wait_seconds_bucket{outcome=\"granted\",le=\"+Inf\"} 4\n"
                 "lepton_wait_seconds_sum{outcome=\"granted\"} 105.15\n"
                 "lepton_wait_seconds_count{outcome=\"granted\"} 4\n");
    free(t);
    /* the standard bounds grow strictly (the format requires it) */
    const lp_prom_buckets *sets[] = {&lp_prom_latency_buckets, &lp_prom_wait_buckets};
    for (int s = 0; s < 2; s++)
        for (size_t i = 1; i < sets[s]->n; i++)
            CHECK(sets[s]->le[i] > sets[s]->le[i - 1]);
}

static void test_http(void) {
    lp_prom_http *t = lp_prom_http_new();
    static const char route[] = "/v1/leases/{id}";
    lp_prom_http_observe(route, "GET", 200, 2000000, t); /* 2 ms */
    lp_prom_http_observe(route, "GET", 204, 3000000, t); /* the same series: 2xx */
    lp_prom_http_observe(route, "GET", 404, 1000, t);
    lp_prom_http_observe("-", "-", 400, 1000, t);             /* a refused head: no route, no method */
    lp_prom_http_observe(route, "ls_secret\"", 500, 1000, t); /* an odd method never reaches the page */
    lp_prom_http_refused();
    lp_prom_http_observe("/v1/leases", "POST", 503, 1000, t);
    lp_prom_http_observe("/v1/leases", "POST", 503, 1000, t); /* the mark is for one answer only */
    lp_prom w = {0};
    lp_prom_http_write(t, &w, "lepton_t_http_request_duration_seconds");
    char *text = lp_prom_take(&w, NULL);
    CHECK_CONTAINS(text, "# TYPE lepton_t_http_request_duration_seconds histogram\n");
    CHECK_CONTAINS(text,
                   "\nlepton_t_http_request_duration_seconds_count{route=\"/v1/leases/{id}\",method=\"GET\","
                   "status_class=\"2xx\"} 2\n");
    CHECK_CONTAINS(text,
                   "\nlepton_t_http_request_duration_seconds_sum{route=\"/v1/leases/{id}\",method=\"GET\","
                   "status_class=\"2xx\"} 0.005\n");
    CHECK_CONTAINS(text,
                   "\nlepton_t_http_request_duration_seconds_bucket{route=\"/v1/leases/{id}\",method=\"GET\","
                   "status_class=\"2xx\",le=\"0.0025\"} 1\n");
    CHECK_CONTAINS(text,
                   "\nlepton_t_http_request_duration_seconds_count{route=\"/v1/leases/{id}\",method=\"GET\","
                   "status_class=\"4xx\"} 1\n");
    CHECK_CONTAINS(text,
                   "\nlepton_t_http_request_duration_seconds_count{route=\"unmatched\",method=\"other\","
                   "status_class=\"4xx\"} 1\n");
    CHECK_CONTAINS(
        text, "\nlepton_t_http_request_duration_seconds_count{route=\"/v1/leases/{id}\",method=\"other\","
              "status_class=\"5xx\"} 1\n");
    CHECK_CONTAINS(text,
                   "\nlepton_t_http_request_duration_seconds_count{route=\"/v1/leases\",method=\"POST\","
                   "status_class=\"refused\"} 1\n");
    CHECK_CONTAINS(text,
                   "\nlepton_t_http_request_duration_seconds_count{route=\"/v1/leases\",method=\"POST\","
                   "status_class=\"5xx\"} 1\n");
    CHECK(text && !strstr(text, "ls_secret"));
    free(text);
    lp_prom_http_free(t);
    lp_prom_http_free(NULL);
}

int main(void) {
    CHECK_RUN(test_samples);
    CHECK_RUN(test_histogram);
    CHECK_RUN(test_http);
    return check_done("unit.common.prom");
}
