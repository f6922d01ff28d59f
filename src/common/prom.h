/* prom.h — the one writer of the Prometheus text exposition format (0.0.4) behind every GET /metrics
 * (the broker, leptond, each lease worker): HELP and TYPE lines, samples with escaped label values,
 * histograms with cumulative buckets, lepton_build_info, and the request-duration histograms by
 * route, method and status class that the HTTP server's observer feeds (lp_prom_http).
 *
 * The writer only formats: each component keeps its own counters (under its own lock) and writes
 * them at scrape time. Label values are escaped here (backslash, double quote, newline) and bytes
 * that are not printable ASCII become '?', so that no text a node or client gave can break a line. */
#ifndef LEPTON_COMMON_PROM_H
#define LEPTON_COMMON_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define LP_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A text being written; zero-initialise it. Out of memory is remembered and reported by take. */
typedef struct lp_prom {
    lp_buf b;
    int oom; /* out of memory at some point: the page is lost */
} lp_prom;

/* Hands the text over (malloc'd, NUL-terminated, caller frees) and resets w; NULL when out of
 * memory at any point. */
char *lp_prom_take(lp_prom *w, size_t *len);
/* Drops the text (when a writer is abandoned before take). */
void lp_prom_discard(lp_prom *w);

/* The HELP and TYPE lines of a family; type is "counter", "gauge" or "histogram". Write a family's
 * lines once, before its samples. */
void lp_prom_family(lp_prom *w, const char *name, const char *type, const char *help);
/* One sample: name{k1="v1",...} value. The labels are name, value pairs ending with NULL; a NULL
 * value writes the empty string. */
void lp_prom_sample(lp_prom *w, const char *name, double value, ...) __attribute__((sentinel));

/* lepton_build_info{component="...",version="..."} 1, with its HELP and TYPE lines. */
void lp_prom_build_info(lp_prom *w, const char *component, const char *version);

/* ---- histograms ---- */
#define LP_PROM_MAX_BUCKETS 16
/* Upper bounds (seconds or whatever the family measures), strictly increasing; +Inf is implied. */
typedef struct lp_prom_buckets {
    size_t n;
    double le[LP_PROM_MAX_BUCKETS];
} lp_prom_buckets;
/* Request latency: 1 ms to 60 s (long-polls wait up to 30 s). */
extern const lp_prom_buckets lp_prom_latency_buckets;
/* Waiting for capacity: 0.1 s to 10 min (a lease request waits at most 600 s). */
extern const lp_prom_buckets lp_prom_wait_buckets;

/* One histogram's counts (zero-initialise); per bucket, not cumulative (the writer sums). */
typedef struct lp_prom_hist {
    uint64_t bucket[LP_PROM_MAX_BUCKETS + 1]; /* the last one: above every bound */
    uint64_t count;
    double sum;
} lp_prom_hist;
void lp_prom_hist_observe(lp_prom_hist *h, const lp_prom_buckets *b, double v);
/* Writes name_bucket{...,le="..."} for every bound and +Inf, name_sum and name_count (no HELP/TYPE:
 * call lp_prom_family(w, name, "histogram", help) first). Labels as lp_prom_sample. */
void lp_prom_hist_write(lp_prom *w, const char *name, const lp_prom_hist *h, const lp_prom_buckets *b, ...)
    __attribute__((sentinel));

/* ---- HTTP request durations ---- */
typedef struct lp_prom_http lp_prom_http;
lp_prom_http *lp_prom_http_new(void);
void lp_prom_http_free(lp_prom_http *t);
/* An lp_http_observer (http_server.h); user is the lp_prom_http. The route label is the route's
 * pattern ("/v1/leases/{id}", never the path: no ids), "unmatched" when no route matched; the
 * method one of the standard ones or "other"; the status class "1xx" … "5xx", or "refused" when the
 * handler called lp_prom_http_refused. */
void lp_prom_http_observe(const char *pattern, const char *method, int status, int64_t duration_ns,
                          void *user);
/* Marks the answer the calling thread's handler is giving as a refusal for want of capacity (no
 * free GPU, a full queue, a price cap), which is not an error: the observer, which runs on the same
 * connection thread right after the handler, files it under status_class="refused". */
void lp_prom_http_refused(void);
/* Writes the family NAME (e.g. "lepton_broker_http_request_duration_seconds") with its HELP and
 * TYPE lines and one histogram per route, method and status class seen. */
void lp_prom_http_write(lp_prom_http *t, lp_prom *w, const char *name);

#endif
