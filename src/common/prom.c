/* prom.c — the Prometheus text writer and the HTTP request-duration table (prom.h). */
#include "prom.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const lp_prom_buckets lp_prom_latency_buckets = {
    14, {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60}};
const lp_prom_buckets lp_prom_wait_buckets = {11, {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600}};

static void put_n(lp_prom *w, const char *s, size_t k) {
    if (!w->oom && lp_buf_append(&w->b, s, k, LP_CAP_FILE) != LP_BUF_OK) w->oom = 1;
}

static void put(lp_prom *w, const char *s) { put_n(w, s, strlen(s)); }

static void putc_(lp_prom *w, char c) { put_n(w, &c, 1); }

/* A sample value: integers without a fraction, others in the fewest digits that read back equal. */
static void put_value(lp_prom *w, double v) {
    char b[40];
    if (isnan(v))
        snprintf(b, sizeof b, "NaN");
    else if (isinf(v))
        snprintf(b, sizeof b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(b, sizeof b, "%.0f", v);
    else {
        snprintf(b, sizeof b, "%.15g", v);
        if (strtod(b, NULL) != v) snprintf(b, sizeof b, "%.17g", v);
    }
    put(w, b);
}

/* A label value between its quotes. The text format escapes \, " and newline; anything else that is
 * not printable ASCII becomes '?' (a model name is a node's, a route pattern is ours: neither needs
 * more, and a scrape must never see a broken line). */
static void put_label_value(lp_prom *w, const char *v) {
    for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
        if (*p == '\\')
            put(w, "\\\\");
        else if (*p == '"')
            put(w, "\\\"");
        else if (*p == '\n')
            put(w, "\\n");
        else if (*p < 0x20 || *p >= 0x7f)
            putc_(w, '?');
        else
            putc_(w, (char)*p);
    }
}

/* HELP text: the format escapes \ and newline there. */
static void put_help(lp_prom *w, const char *v) {
    for (const char *p = v; *p; p++) {
        if (*p == '\\')
            put(w, "\\\\");
        else if (*p == '\n')
            put(w, "\\n");
        else
            putc_(w, *p);
    }
}

/* {k="v",...[,extra_k="extra_v"]}; nothing at all when there are no labels. */
static void put_labels(lp_prom *w, va_list ap, const char *extra_k, const char *extra_v) {
    int n = 0;
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        put(w, n++ ? "," : "{");
        put(w, k);
        put(w, "=\"");
        put_label_value(w, v);
        putc_(w, '"');
    }
    if (extra_k) {
        put(w, n++ ? "," : "{");
        put(w, extra_k);
        put(w, "=\"");
        put_label_value(w, extra_v);
        putc_(w, '"');
    }
    if (n) putc_(w, '}');
}

void lp_prom_family(lp_prom *w, const char *name, const char *type, const char *help) {
    put(w, "# HELP ");
    put(w, name);
    putc_(w, ' ');
    put_help(w, help);
    put(w, "\n# TYPE ");
    put(w, name);
    putc_(w, ' ');
    put(w, type);
    putc_(w, '\n');
}

void lp_prom_sample(lp_prom *w, const char *name, double value, ...) {
    va_list ap;
    va_start(ap, value);
    put(w, name);
    put_labels(w, ap, NULL, NULL);
    va_end(ap);
    putc_(w, ' ');
    put_value(w, value);
    putc_(w, '\n');
}

void lp_prom_build_info(lp_prom *w, const char *component, const char *version) {
    lp_prom_family(w, "lepton_build_info", "gauge",
                   "Always 1; the labels say which Lepton component and version serve this page.");
    lp_prom_sample(w, "lepton_build_info", 1, "component", component, "version", version, NULL);
}

void lp_prom_hist_observe(lp_prom_hist *h, const lp_prom_buckets *b, double v) {
    size_t i = 0;
    while (i < b->n && v > b->le[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum += v;
}

void lp_prom_hist_write(lp_prom *w, const char *name, const lp_prom_hist *h, const lp_prom_buckets *b, ...) {
    size_t nl = strlen(name);
    char *bname = malloc(nl + 16);
    if (!bname) {
        w->oom = 1;
        return;
    }
    uint64_t cum = 0;
    for (size_t i = 0; i <= b->n; i++) {
        char le[40];
        if (i < b->n)
            snprintf(le, sizeof le, "%.15g", b->le[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        cum += h->bucket[i];
        snprintf(bname, nl + 16, "%s_bucket", name);
        va_list ap;
        va_start(ap, b);
        put(w, bname);
        put_labels(w, ap, "le", le);
        va_end(ap);
        putc_(w, ' ');
        put_value(w, (double)cum);
        putc_(w, '\n');
    }
    static const char *const suffix[2] = {"_sum", "_count"};
    for (int k = 0; k < 2; k++) {
        snprintf(bname, nl + 16, "%s%s", name, suffix[k]);
        va_list ap;
        va_start(ap, b);
        put(w, bname);
        put_labels(w, ap, NULL, NULL);
        va_end(ap);
        putc_(w, ' ');
        put_value(w, k ? (double)h->count : h->sum);
        putc_(w, '\n');
    }
    free(bname);
}

char *lp_prom_take(lp_prom *w, size_t *len) {
    size_t n = 0;
    char *p = w->oom ? NULL : lp_buf_take(&w->b, &n);
    if (!p && !w->oom) p = calloc(1, 1); /* nothing written: an empty page */
    if (len) *len = p ? n : 0;
    lp_prom_discard(w);
    return p;
}

void lp_prom_discard(lp_prom *w) {
    lp_buf_free(&w->b);
    memset(w, 0, sizeof *w);
}

/* ---- HTTP request durations ---- */
#define HTTP_SERIES_MAX 256

typedef struct http_series {
    const char *route; /* a route pattern: borrowed from the server's table (static strings) */
    const char *method;
    const char *cls;
    lp_prom_hist h;
} http_series;

struct lp_prom_http {
    pthread_mutex_t mu;
    http_series s[HTTP_SERIES_MAX];
    int n;
    uint64_t dropped; /* observations past HTTP_SERIES_MAX series (cannot happen with our routes) */
};

static _Thread_local int tl_refused;

void lp_prom_http_refused(void) { tl_refused = 1; }

lp_prom_http *lp_prom_http_new(void) {
    lp_prom_http *t = calloc(1, sizeof *t);
    if (t) pthread_mutex_init(&t->mu, NULL);
    return t;
}

void lp_prom_http_free(lp_prom_http *t) {
    if (!t) return;
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* The method as a label: a standard one, else "other", so that nothing a client sends reaches the
 * page. */
static const char *method_label(const char *method) {
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (method && !strcmp(method, known[i])) return known[i];
    return "other";
}

static const char *status_class(int status) {
    static const char *const cls[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    return status >= 100 && status < 600 ? cls[status / 100 - 1] : "other";
}

void lp_prom_http_observe(const char *pattern, const char *method, int status, int64_t ns, void *user) {
    lp_prom_http *t = user;
    const char *cls = tl_refused ? "refused" : status_class(status);
    tl_refused = 0;
    const char *route = pattern && strcmp(pattern, "-") ? pattern : "unmatched";
    method = method_label(method);
    double secs = (double)(ns > 0 ? ns : 0) / 1e9;
    pthread_mutex_lock(&t->mu);
    int i;
    for (i = 0; i < t->n; i++)
        if (t->s[i].cls == cls && t->s[i].method == method &&
            (t->s[i].route == route || !strcmp(t->s[i].route, route)))
            break;
    if (i == t->n && t->n < HTTP_SERIES_MAX) {
        t->s[i].route = route;
        t->s[i].method = method;
        t->s[i].cls = cls;
        t->n++;
    }
    if (i < t->n)
        lp_prom_hist_observe(&t->s[i].h, &lp_prom_latency_buckets, secs);
    else
        t->dropped++;
    pthread_mutex_unlock(&t->mu);
}

void lp_prom_http_write(lp_prom_http *t, lp_prom *w, const char *name) {
    lp_prom_family(w, name, "histogram",
                   "Time from a request's first header byte to its answer, by route pattern, method and "
                   "status class (refused: no capacity, not an error).");
    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < t->n; i++)
        lp_prom_hist_write(w, name, &t->s[i].h, &lp_prom_latency_buckets, "route", t->s[i].route, "method",
                           t->s[i].method, "status_class", t->s[i].cls, NULL);
    pthread_mutex_unlock(&t->mu);
}
