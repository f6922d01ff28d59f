/* http.c — the client's HTTP transport: a pool of libcurl easy handles, request deadlines, one
 * retry for requests that are safe to repeat, and the translation of every outcome (transport
 * failure, broker error body, malformed answer) into a lepton_status and a message.
 *
 * Why a pool: a curl easy handle keeps its connection cache, so reusing handles reuses keep-alive
 * connections (no TCP handshake per request), and the handle's options, headers and body buffer
 * are set up once. A handle is used by one thread at a time: it is popped from the pool under
 * h->lock, used without any lock, and pushed back. Threads that find the pool empty create a new
 * handle, so any number of requests can run at once; at most LC_POOL_MAX idle handles are kept.
 * Everything else in lc_http is immutable after lc_http_init, so reading it needs no lock. */
#include "http.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "clock.h"
#include "strutil.h"
#include "errors.h"
#include "lepton/lepton.h"
#include "wire.h"

#define LC_POOL_MAX 16             /* idle handles (= warm connections) kept per client */
#define LC_MAX_RESPONSE (8u << 20) /* a control-plane answer larger than this is malformed */
#define LC_KEEP_BUFFER (64u << 10) /* body buffers above this are freed after use */
#define LC_URL_MAX 1536

typedef struct lc_conn {
    struct lc_conn *next;
    CURL *curl;
    char *buf; /* the response body, NUL-terminated; reused across requests */
    size_t len, cap;
    int too_large, no_memory;
    char errbuf[CURL_ERROR_SIZE];
} lc_conn;

/* curl_global_init is not safe to race with itself; run it once, from whichever thread gets here
 * first. It is never undone: a library cannot know that no other user of libcurl remains. */
static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_result = CURLE_FAILED_INIT;
static void curl_init_once(void) { g_curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

int lc_http_init(lc_http *h, const char *base, const char *token, const char *ca_file, int32_t timeout_ms) {
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_result != CURLE_OK) {
        pthread_mutex_destroy(&h->lock);
        return lc_fail(LEPTON_ENOMEM, "lepton_client_open: curl_global_init failed: %s",
                       curl_easy_strerror(g_curl_init_result));
    }
    h->timeout_ms = timeout_ms;
    h->base = strdup(base);
    h->ca_file = dup_or_null(ca_file);
    /* Loopback never goes through a proxy, whatever $http_proxy says; the user's own no_proxy
     * list is kept (CURLOPT_NOPROXY replaces the environment's). */
    const char *np = getenv("no_proxy");
    if (!np || !*np) np = getenv("NO_PROXY");
    const char *loop = "127.0.0.1,localhost,::1";
    size_t nplen = np && *np ? strlen(np) + 1 : 0;
    h->noproxy = malloc(nplen + strlen(loop) + 1);
    if (h->noproxy) {
        h->noproxy[0] = '\0';
        if (nplen) {
            strcpy(h->noproxy, np);
            strcat(h->noproxy, ",");
        }
        strcat(h->noproxy, loop);
    }
    int ok = h->base && (!ca_file || h->ca_file) && h->noproxy;
    const char *fixed[] = {"Accept: application/json", "Content-Type: application/json",
                           "Expect:" /* no 100-continue round trip */};
    for (size_t i = 0; ok && i < sizeof fixed / sizeof fixed[0]; i++) {
        struct curl_slist *n = curl_slist_append(h->headers, fixed[i]);
        if (!n)
            ok = 0;
        else
            h->headers = n;
    }
    if (ok && token) {
        size_t n = strlen(token) + sizeof "Authorization: Bearer ";
        char *line = malloc(n);
        if (!line)
            ok = 0;
        else {
            snprintf(line, n, "Authorization: Bearer %s", token);
            struct curl_slist *s = curl_slist_append(h->headers, line);
            memset(line, 0, n); /* the token is a secret: leave no stray copy */
            free(line);
            if (!s)
                ok = 0;
            else
                h->headers = s;
        }
    }
    if (!ok) {
        lc_http_free(h);
        return lc_fail(LEPTON_ENOMEM, "lepton_client_open: out of memory");
    }
    return LEPTON_OK;
}

static void conn_free(lc_conn *k) {
    if (!k) return;
    if (k->curl) curl_easy_cleanup(k->curl);
    free(k->buf);
    free(k);
}

void lc_http_free(lc_http *h) {
    lc_conn *k = h->idle;
    while (k) {
        lc_conn *next = k->next;
        conn_free(k);
        k = next;
    }
    if (h->headers) {
        /* Wipe the Authorization line before freeing it. */
        for (struct curl_slist *s = h->headers; s; s = s->next)
            memset(s->data, 0, strlen(s->data));
        curl_slist_free_all(h->headers);
    }
    free(h->base);
    free(h->ca_file);
    free(h->noproxy);
    pthread_mutex_destroy(&h->lock);
    memset(h, 0, sizeof *h);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
    lc_conn *k = userdata;
    size_t n = size * nmemb;
    if (n > LC_MAX_RESPONSE - k->len) {
        k->too_large = 1;
        return 0; /* aborts the transfer (CURLE_WRITE_ERROR) */
    }
    if (k->len + n + 1 > k->cap) {
        size_t cap = k->cap ? k->cap : 4096;
        while (cap < k->len + n + 1)
            cap *= 2;
        char *b = realloc(k->buf, cap);
        if (!b) {
            k->no_memory = 1;
            return 0;
        }
        k->buf = b;
        k->cap = cap;
    }
    memcpy(k->buf + k->len, ptr, n);
    k->len += n;
    k->buf[k->len] = '\0';
    return n;
}

static lc_conn *conn_new(const lc_http *h) {
    lc_conn *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->curl = curl_easy_init();
    if (!k->curl) {
        free(k);
        return NULL;
    }
    CURL *e = k->curl;
    CURLcode rc = CURLE_OK;
    /* Options that never change for this client are set once, here. */
#define SET(opt, val)                                                                                        \
    if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val)
    SET(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM-based DNS timeouts */
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_HTTPHEADER, h->headers);
    SET(CURLOPT_USERAGENT, "liblepton/" LEPTON_LIBRARY_VERSION);
    SET(CURLOPT_NOPROXY, h->noproxy);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, k);
    SET(CURLOPT_ERRORBUFFER, k->errbuf);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)h->timeout_ms);
    if (h->ca_file) SET(CURLOPT_CAINFO, h->ca_file);
#undef SET
    if (rc != CURLE_OK) {
        conn_free(k);
        return NULL;
    }
    return k;
}

static lc_conn *conn_acquire(lc_http *h) {
    pthread_mutex_lock(&h->lock);
    lc_conn *k = h->idle;
    if (k) {
        h->idle = k->next;
        h->idle_count--;
    }
    pthread_mutex_unlock(&h->lock);
    return k ? k : conn_new(h);
}

static void conn_release(lc_http *h, lc_conn *k) {
    if (k->cap > LC_KEEP_BUFFER) { /* one big answer must not pin memory for the client's life */
        free(k->buf);
        k->buf = NULL;
        k->cap = 0;
    }
    k->len = 0;
    pthread_mutex_lock(&h->lock);
    int keep = h->idle_count < LC_POOL_MAX;
    if (keep) {
        k->next = h->idle;
        h->idle = k;
        h->idle_count++;
    }
    pthread_mutex_unlock(&h->lock);
    if (!keep) conn_free(k);
}

/* The connection broke after the request may have been sent: repeating it is safe only for
 * requests marked LC_RETRY. A refused connection is not retried (nothing listens; fail fast). */
static int is_broken_connection(CURLcode cc) {
    return cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING ||
           cc == CURLE_PARTIAL_FILE;
}

/* Sets the last error from a non-2xx answer and returns its status. */
static int broker_error(const lc_request *r, const char *url, long status, json_t *body, const char *raw,
                        size_t raw_len) {
    json_t *err = body ? json_object_get(body, "error") : NULL;
    const char *code = err ? json_string_value(json_object_get(err, "code")) : NULL;
    const char *msg = err ? json_string_value(json_object_get(err, "message")) : NULL;
    const char *hint = err ? json_string_value(json_object_get(err, "hint")) : NULL;
    if (!json_is_object(err) || (!code && !msg)) {
        char ex[200];
        lp_excerpt(ex, sizeof ex, raw, raw_len);
        return lc_fail(LEPTON_EPROTO,
                       "%s: %s %s answered HTTP %ld without a Lepton error body (is the endpoint a Lepton "
                       "broker?): \"%s\"",
                       r->fn, r->method, url, status, ex);
    }
    int st = wire_code_to_status(code, status);
    if (!msg || !*msg) msg = code;
    if (hint && *hint) return lc_fail(st, "%s (hint: %s)", msg, hint);
    return lc_fail(st, "%s", msg);
}

int lc_http_call(lepton_client *c, const lc_request *r, lc_response *resp) {
    lc_http *h = &c->http;
    resp->status = 0;
    resp->json = NULL;

    char url[LC_URL_MAX];
    int ul = snprintf(url, sizeof url, "%s%s", h->base, r->path);
    if (ul < 0 || (size_t)ul >= sizeof url)
        return lc_fail(LEPTON_EINVAL, "%s: URL %s%s is too long", r->fn, h->base, r->path);

    /* The body is serialised into a stack buffer when it fits (it almost always does), so a
     * request allocates nothing for it. */
    char stack_body[2048];
    const char *body = NULL;
    char *heap_body = NULL;
    size_t body_len = 0;
    int is_post = r->method[0] == 'P';
    if (is_post) {
        if (r->body) {
            body_len = json_dumpb(r->body, stack_body, sizeof stack_body, JSON_COMPACT);
            if (body_len == 0) return lc_fail(LEPTON_ENOMEM, "%s: cannot serialise the request", r->fn);
            if (body_len > sizeof stack_body) {
                heap_body = malloc(body_len);
                if (!heap_body || json_dumpb(r->body, heap_body, body_len, JSON_COMPACT) != body_len) {
                    free(heap_body);
                    return lc_fail(LEPTON_ENOMEM, "%s: out of memory serialising the request", r->fn);
                }
                body = heap_body;
            } else {
                body = stack_body;
            }
        } else {
            body = "{}";
            body_len = 2;
        }
    }

    lc_conn *k = conn_acquire(h);
    if (!k) {
        free(heap_body);
        return lc_fail(LEPTON_ENOMEM, "%s: cannot create a curl handle", r->fn);
    }
    CURL *e = k->curl;
    int64_t budget_ms = (int64_t)h->timeout_ms + (r->extra_ms > 0 ? r->extra_ms : 0);
    int64_t t0 = lp_mono_ns();
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (is_post) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }

    CURLcode cc = CURLE_OK;
    for (int attempt = 0;; attempt++) {
        int64_t left_ms = budget_ms - (lp_mono_ns() - t0) / 1000000;
        if (left_ms < 1) left_ms = 1;
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left_ms);
        k->len = 0;
        k->too_large = k->no_memory = 0;
        k->errbuf[0] = '\0';
        cc = curl_easy_perform(e);
        if (cc == CURLE_OK || attempt > 0 || !(r->flags & LC_RETRY) || !is_broken_connection(cc)) break;
        if ((lp_mono_ns() - t0) / 1000000 >= budget_ms) break;
        lc_log(c, LEPTON_LOG_WARN, "%s %s: connection broken (%s); retrying once", r->method, r->path,
               k->errbuf[0] ? k->errbuf : curl_easy_strerror(cc));
    }
    long status = 0;
    if (cc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    long long us = (long long)((lp_mono_ns() - t0) / 1000);
    if (cc == CURLE_OK)
        lc_log(c, LEPTON_LOG_DEBUG, "%s %s -> %ld in %lld µs", r->method, r->path, status, us);
    else
        lc_log(c, LEPTON_LOG_DEBUG, "%s %s -> no answer (%s) in %lld µs", r->method, r->path,
               curl_easy_strerror(cc), us);
    free(heap_body);

    int rc;
    if (cc != CURLE_OK) {
        if (k->too_large)
            rc = lc_fail(LEPTON_EPROTO, "%s: the answer to %s %s exceeds %u MiB", r->fn, r->method, url,
                         LC_MAX_RESPONSE >> 20);
        else if (k->no_memory)
            rc = lc_fail(LEPTON_ENOMEM, "%s: out of memory reading the answer to %s %s", r->fn, r->method,
                         url);
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            rc = lc_fail(LEPTON_ENET, "%s: %s %s failed: %s (deadline %lld ms)", r->fn, r->method, url,
                         k->errbuf[0] ? k->errbuf : curl_easy_strerror(cc), (long long)budget_ms);
        else
            rc = lc_fail(LEPTON_ENET, "%s: %s %s failed: %s%s", r->fn, r->method, url,
                         k->errbuf[0] ? k->errbuf : curl_easy_strerror(cc), lc_tls_hint(cc));
        conn_release(h, k);
        return rc;
    }

    json_error_t jerr;
    json_t *j = k->len ? json_loadb(k->buf, k->len, 0, &jerr) : NULL;
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    if (status >= 200 && status < 300) {
        if (j) {
            resp->json = j;
            rc = LEPTON_OK;
        } else {
            char ex[200];
            lp_excerpt(ex, sizeof ex, k->buf ? k->buf : "", k->len);
            rc = lc_fail(LEPTON_EPROTO,
                         "%s: %s %s answered HTTP %ld with a body that is not a JSON object: \"%s\"", r->fn,
                         r->method, url, status, ex);
        }
    } else {
        rc = broker_error(r, url, status, j, k->buf ? k->buf : "", k->len);
        resp->json = j;
    }
    conn_release(h, k);
    return rc;
}

const char *lc_tls_hint(CURLcode cc) {
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return " (the server's TLS certificate is not trusted here: give the CA that signed it with "
               "lepton_client_options.ca_file or $LEPTON_CA_FILE)";
    case CURLE_SSL_CONNECT_ERROR:
        return " (the TLS handshake failed: is the server speaking https on that port, and is the URL's "
               "scheme right?)";
    default:
        return "";
    }
}
