/* metrics.c — counters and the Prometheus text exposition (metrics.h). /metrics needs no token, so
 * it carries counts only: no tenant names, lease ids, node-given text or client-given strings. */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 256

typedef struct series {
    const char *pattern; /* borrowed from the route table (static strings) */
    char method[8];
    int status;
    uint64_t count;
    double seconds;
} series;

struct lp_metrics {
    pthread_mutex_t mu;
    series s[MAX_SERIES];
    int n;
    uint64_t errors; /* 5xx answers */
    uint64_t granted;
    uint64_t ended[6];
};

lp_metrics *lp_metrics_new(void) {
    lp_metrics *m = calloc(1, sizeof *m);
    if (m) pthread_mutex_init(&m->mu, NULL);
    return m;
}

void lp_metrics_free(lp_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* The method as a label: a standard one, else "other", so that nothing a client sends (a name, an
 * id, a quote) reaches the unauthenticated /metrics page. */
static const char *method_label(const char *method) {
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (method && !strcmp(method, known[i])) return known[i];
    return "other";
}

void lp_metrics_observe(const char *pattern, const char *method, int status, int64_t ns, void *user) {
    lp_metrics *m = user;
    method = method_label(method);
    pthread_mutex_lock(&m->mu);
    if (status >= 500) m->errors++;
    int i;
    for (i = 0; i < m->n; i++)
        if (m->s[i].pattern == pattern && m->s[i].status == status && !strcmp(m->s[i].method, method)) break;
    if (i == m->n && m->n < MAX_SERIES) {
        m->s[i].pattern = pattern;
        snprintf(m->s[i].method, sizeof m->s[i].method, "%s", method);
        m->s[i].status = status;
        m->n++;
    }
    if (i < m->n) {
        m->s[i].count++;
        m->s[i].seconds += (double)ns / 1e9;
    }
    pthread_mutex_unlock(&m->mu);
}

void lp_metrics_lease_ended(lp_metrics *m, int state) {
    pthread_mutex_lock(&m->mu);
    if (state >= 0 && state < 6) m->ended[state]++;
    pthread_mutex_unlock(&m->mu);
}

void lp_metrics_lease_granted(lp_metrics *m) {
    pthread_mutex_lock(&m->mu);
    m->granted++;
    pthread_mutex_unlock(&m->mu);
}

typedef struct buf {
    char *p;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)k;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

char *lp_metrics_render(lp_metrics *m, const lp_store_stats *st) {
    static const char *const states[] = {"pending", "active", "closed", "expired", "exhausted", "failed"};
    buf b = {malloc(8192), 0, 8192, 0};
    if (!b.p) return NULL;
    b.p[0] = 0;
    put(&b, "# HELP lepton_leases Leases by state.\n# TYPE lepton_leases gauge\n");
    for (int i = 0; i < 6; i++)
        put(&b, "lepton_leases{state=\"%s\"} %lld\n", states[i], (long long)st->leases_by_state[i]);
    put(&b, "# HELP lepton_gpus GPUs on ready nodes, free or leased.\n# TYPE lepton_gpus gauge\n");
    put(&b, "lepton_gpus{state=\"free\"} %lld\n", (long long)st->gpus_free);
    put(&b, "lepton_gpus{state=\"leased\"} %lld\n", (long long)st->gpus_leased);
    put(&b, "lepton_gpus_total %lld\n", (long long)st->gpus_total);
    put(&b, "# HELP lepton_nodes Nodes by state.\n# TYPE lepton_nodes gauge\n");
    put(&b, "lepton_nodes{state=\"ready\"} %lld\n", (long long)st->nodes_ready);
    put(&b, "lepton_nodes{state=\"lost\"} %lld\n", (long long)st->nodes_lost);
    put(&b, "lepton_nodes{state=\"gone\"} %lld\n", (long long)st->nodes_gone);
    pthread_mutex_lock(&m->mu);
    put(&b, "# HELP lepton_leases_granted_total Leases granted since start.\n# TYPE "
            "lepton_leases_granted_total counter\n");
    put(&b, "lepton_leases_granted_total %llu\n", (unsigned long long)m->granted);
    put(&b, "# HELP lepton_leases_ended_total Leases ended since start, by final state.\n"
            "# TYPE lepton_leases_ended_total counter\n");
    for (int i = 2; i < 6; i++)
        put(&b, "lepton_leases_ended_total{state=\"%s\"} %llu\n", states[i], (unsigned long long)m->ended[i]);
    put(&b, "# HELP lepton_http_requests_total Requests answered, by route and status.\n"
            "# TYPE lepton_http_requests_total counter\n");
    for (int i = 0; i < m->n; i++)
        put(&b, "lepton_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n", m->s[i].method,
            m->s[i].pattern, m->s[i].status, (unsigned long long)m->s[i].count);
    put(&b, "# HELP lepton_http_request_seconds_total Time spent answering, by route and status.\n"
            "# TYPE lepton_http_request_seconds_total counter\n");
    for (int i = 0; i < m->n; i++)
        put(&b, "lepton_http_request_seconds_total{method=\"%s\",route=\"%s\",status=\"%d\"} %.6f\n",
            m->s[i].method, m->s[i].pattern, m->s[i].status, m->s[i].seconds);
    put(&b, "# HELP lepton_http_errors_total Requests answered with a 5xx status.\n"
            "# TYPE lepton_http_errors_total counter\n");
    put(&b, "lepton_http_errors_total %llu\n", (unsigned long long)m->errors);
    pthread_mutex_unlock(&m->mu);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
