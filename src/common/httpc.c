/* httpc.c — the HTTP client of httpc.h: libcurl's global init, handles and their pools, the
 * blocking request with its deadline and one retry, and the reading of error bodies.
 *
 * Why pools: a curl easy handle keeps its connection cache, so reusing handles reuses keep-alive
 * connections (no TCP or TLS handshake per request), and a handle's options are set up once.
 * Everything in lp_httpc is immutable after lp_httpc_new, so reading it needs no lock. */
#include "httpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "strutil.h"
#include "wire.h"

#define LP_UPLOAD_BUFFER (2l << 20)     /* CURLOPT_UPLOAD_BUFFERSIZE: fewer, larger socket writes */
#define LP_DOWNLOAD_BUFFER (512l << 10) /* CURLOPT_BUFFERSIZE */

struct lp_httpc {
    char *base;                 /* "" when none */
    char *ca_file;              /* NULL = the system store */
    char *noproxy;              /* CURLOPT_NOPROXY: $no_proxy plus loopback */
    char *user_agent;           /* NULL: none */
    struct curl_slist *headers; /* Accept, Content-Type, Expect, Authorization: shared read-only */
    long connect_timeout_ms;
    size_t max_answer;
    lp_http_pool pool;
};

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_result = CURLE_FAILED_INIT;
static void curl_init_once(void) { g_curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); }

CURLcode lp_curl_init(void) {
    pthread_once(&g_curl_once, curl_init_once);
    return g_curl_init_result;
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

/* Loopback never goes through a proxy, whatever $http_proxy says; the user's own no_proxy list is
 * kept (CURLOPT_NOPROXY replaces the environment's). */
static char *noproxy_list(void) {
    const char *np = getenv("no_proxy");
    if (!np || !*np) np = getenv("NO_PROXY");
    const char *loop = "127.0.0.1,localhost,::1";
    size_t n = (np && *np ? strlen(np) + 1 : 0) + strlen(loop) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", np && *np ? np : "", np && *np ? "," : "", loop);
    return s;
}

struct curl_slist *lp_http_headers(const char *token, const char *const *lines, size_t n) {
    struct curl_slist *list = NULL;
    int ok = 1;
    if (token && *token) {
        size_t len = strlen(token) + sizeof "Authorization: Bearer ";
        char *line = malloc(len);
        if (line) {
            snprintf(line, len, "Authorization: Bearer %s", token);
            list = curl_slist_append(NULL, line);
            memset(line, 0, len); /* the token is a secret: leave no stray copy */
            free(line);
        }
        ok = list != NULL;
    }
    for (size_t i = 0; ok && i < n; i++) {
        if (!lines[i] || !*lines[i]) continue;
        struct curl_slist *s = curl_slist_append(list, lines[i]);
        if (s) list = s;
        ok = s != NULL;
    }
    if (!ok) {
        lp_http_headers_free(list);
        return NULL;
    }
    return list;
}

void lp_http_headers_free(struct curl_slist *list) {
    for (struct curl_slist *p = list; p; p = p->next)
        memset(p->data, 0, strlen(p->data));
    curl_slist_free_all(list);
}

lp_httpc *lp_httpc_new(const lp_httpc_options *o, char *err, size_t n) {
    CURLcode cc = lp_curl_init();
    if (cc != CURLE_OK) {
        lp_set_err(err, n, "curl_global_init failed: %s", curl_easy_strerror(cc));
        return NULL;
    }
    lp_httpc *h = calloc(1, sizeof *h);
    if (!h) {
        lp_set_err(err, n, "out of memory");
        return NULL;
    }
    lp_http_pool_init(&h->pool, o->pool_max ? o->pool_max : 1);
    size_t blen = o->base ? strlen(o->base) : 0;
    while (blen > 0 && o->base[blen - 1] == '/')
        blen--;
    h->base = strndup(o->base ? o->base : "", blen);
    h->ca_file = dup_or_null(o->ca_file);
    h->user_agent = dup_or_null(o->user_agent);
    h->noproxy = noproxy_list();
    h->connect_timeout_ms = o->connect_timeout_ms;
    h->max_answer = o->max_answer ? o->max_answer : LP_CAP_CLIENT_ANSWER;
    int ok = h->base && (!o->ca_file || !*o->ca_file || h->ca_file) && (!o->user_agent || h->user_agent) &&
             h->noproxy;
    const char *fixed[] = {"Accept: application/json", "Content-Type: application/json",
                           "Expect:" /* no 100-continue round trip */};
    if (ok) h->headers = lp_http_headers(o->token, fixed, sizeof fixed / sizeof fixed[0]);
    ok = ok && h->headers;
    if (!ok) {
        lp_httpc_free(h);
        lp_set_err(err, n, "out of memory");
        return NULL;
    }
    return h;
}

void lp_httpc_free(lp_httpc *h) {
    if (!h) return;
    lp_http_pool_free(&h->pool);
    lp_http_headers_free(h->headers);
    free(h->base);
    free(h->ca_file);
    free(h->user_agent);
    free(h->noproxy);
    free(h);
}

const char *lp_httpc_base(const lp_httpc *h) { return h->base; }
const char *lp_httpc_ca_file(const lp_httpc *h) { return h->ca_file; }

/* ---- handles and pools ---- */

lp_http_conn *lp_http_conn_new(const lp_httpc *h, int flags) {
    lp_http_conn *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->curl = curl_easy_init();
    if (!k->curl) {
        free(k);
        return NULL;
    }
    CURL *e = k->curl;
    CURLcode rc = CURLE_OK;
    /* Options that never change for a handle are set once, here. */
#define SET(opt, val)                                                                                        \
    if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val)
    SET(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM-based DNS timeouts */
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    if (flags & LP_HTTP_BULK) {
        SET(CURLOPT_TCP_KEEPIDLE, 10L);
        SET(CURLOPT_TCP_KEEPINTVL, 5L);
    }
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    if (h->user_agent) SET(CURLOPT_USERAGENT, h->user_agent);
    SET(CURLOPT_NOPROXY, h->noproxy);
    SET(CURLOPT_ERRORBUFFER, k->errbuf);
    if (h->connect_timeout_ms > 0) SET(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    if (flags & LP_HTTP_BULK) {
        SET(CURLOPT_UPLOAD_BUFFERSIZE, LP_UPLOAD_BUFFER);
        SET(CURLOPT_BUFFERSIZE, LP_DOWNLOAD_BUFFER);
    }
    if (h->ca_file) SET(CURLOPT_CAINFO, h->ca_file);
#undef SET
    if (rc != CURLE_OK) {
        lp_http_conn_free(k);
        return NULL;
    }
    return k;
}

void lp_http_conn_free(lp_http_conn *k) {
    if (!k) return;
    if (k->curl) curl_easy_cleanup(k->curl);
    lp_buf_free(&k->body);
    free(k);
}

void lp_http_pool_init(lp_http_pool *p, unsigned max) {
    pthread_mutex_init(&p->lock, NULL);
    p->idle = NULL;
    p->count = 0;
    p->max = max;
}

void lp_http_pool_free(lp_http_pool *p) {
    lp_http_conn *k = p->idle;
    while (k) {
        lp_http_conn *next = k->next;
        lp_http_conn_free(k);
        k = next;
    }
    p->idle = NULL;
    p->count = 0;
    pthread_mutex_destroy(&p->lock);
}

lp_http_conn *lp_http_pool_take(lp_http_pool *p, const lp_httpc *h, int flags) {
    pthread_mutex_lock(&p->lock);
    lp_http_conn *k = p->idle;
    if (k) {
        p->idle = k->next;
        p->count--;
    }
    pthread_mutex_unlock(&p->lock);
    if (!k) return lp_http_conn_new(h, flags);
    k->next = NULL;
    k->errbuf[0] = '\0';
    return k;
}

void lp_http_pool_give(lp_http_pool *p, lp_http_conn *k) {
    if (!k) return;
    lp_buf_trim(&k->body, LP_BUF_KEEP); /* one big answer must not pin memory for the pool's life */
    pthread_mutex_lock(&p->lock);
    int keep = p->max == 0 || p->count < p->max;
    if (keep) {
        k->next = p->idle;
        p->idle = k;
        p->count++;
    }
    pthread_mutex_unlock(&p->lock);
    if (!keep) lp_http_conn_free(k);
}

/* ---- the blocking request ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user) {
    lp_http_conn *k = user;
    size_t n = size * nmemb;
    int rc = lp_buf_append(&k->body, ptr, n, k->max_body);
    if (rc) {
        k->body_error = rc;
        return 0; /* aborts the transfer (CURLE_WRITE_ERROR) */
    }
    return n;
}

static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt, (void)dn, (void)ut, (void)un;
    const int *flag = user;
    return flag && __atomic_load_n(flag, __ATOMIC_RELAXED) ? 1 : 0;
}

/* Sets what changes from one request to the next (a pooled handle keeps the last one's). */
static void set_request(const lp_httpc *h, lp_http_conn *k, const lp_http_req *r, const char *url) {
    CURL *e = k->curl;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, k);
    int post = !strcmp(r->method, "POST");
    if (r->body || post) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->body ? r->body_len : 0));
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, post ? NULL : r->method);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(r->method, "GET") ? r->method : NULL);
    }
    long connect_ms = r->connect_timeout_ms > 0 ? r->connect_timeout_ms : h->connect_timeout_ms;
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms > 0 ? connect_ms : 0L);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, r->abort_flag ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, r->abort_flag ? on_progress : NULL);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, (void *)r->abort_flag);
}

int lp_httpc_call(lp_httpc *h, const lp_http_req *r, lp_http_res *res) {
    memset(res, 0, sizeof *res);
    res->max_answer = h->max_answer;
    int ul = snprintf(res->url, sizeof res->url, "%s%s", h->base, r->path);
    if (ul < 0 || (size_t)ul >= sizeof res->url) {
        res->url[0] = '\0';
        return LP_HTTP_EURL;
    }
    lp_http_conn *k = lp_http_pool_take(&h->pool, h, 0);
    if (!k) return LP_HTTP_ENOMEM;
    k->max_body = h->max_answer;
    set_request(h, k, r, res->url);

    int64_t t0 = lp_mono_ns();
    CURLcode cc = CURLE_OK;
    for (int attempt = 0;; attempt++) {
        int64_t left_ms = r->timeout_ms - (lp_mono_ns() - t0) / 1000000;
        if (left_ms < 1) left_ms = 1;
        curl_easy_setopt(k->curl, CURLOPT_TIMEOUT_MS, (long)left_ms);
        lp_buf_reset(&k->body);
        k->body_error = 0;
        k->errbuf[0] = '\0';
        cc = curl_easy_perform(k->curl);
        if (cc == CURLE_OK || attempt > 0 || !(r->flags & LP_HTTP_RETRY) || !lp_http_broken(cc)) break;
        if ((lp_mono_ns() - t0) / 1000000 >= r->timeout_ms) break;
        if (r->on_retry) r->on_retry(r->user, k->errbuf[0] ? k->errbuf : curl_easy_strerror(cc));
    }
    res->cc = cc;
    res->elapsed_us = (lp_mono_ns() - t0) / 1000;
    res->body_error = k->body_error;
    res->body_len = k->body.len;
    int rc = LP_HTTP_ANSWERED;
    if (cc != CURLE_OK) {
        snprintf(res->error, sizeof res->error, "%s", k->errbuf[0] ? k->errbuf : curl_easy_strerror(cc));
        rc = LP_HTTP_NO_ANSWER;
    } else {
        curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &res->status);
        res->json = k->body.len ? json_loadb(k->body.p, k->body.len, 0, NULL) : NULL;
        int ok_object = res->status >= 200 && res->status < 300 && json_is_object(res->json);
        if (!ok_object)
            lp_excerpt(res->excerpt, sizeof res->excerpt, k->body.p ? k->body.p : "", k->body.len);
    }
    lp_http_pool_give(&h->pool, k);
    return rc;
}

/* ---- reading outcomes ---- */

int lp_http_error_of(const json_t *body, long http, lp_http_error *e) {
    const json_t *err = json_object_get(body, "error");
    e->code = json_string_value(json_object_get(err, "code"));
    e->message = json_string_value(json_object_get(err, "message"));
    e->hint = json_string_value(json_object_get(err, "hint"));
    e->status = wire_code_to_status(e->code, http);
    return json_is_object(err) && (e->code || e->message);
}

int lp_http_tls_failure(CURLcode cc) {
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
        return LP_TLS_UNTRUSTED;
    case CURLE_SSL_CACERT_BADFILE:
        return LP_TLS_CA_FILE;
    case CURLE_SSL_CONNECT_ERROR:
        return LP_TLS_HANDSHAKE;
    default:
        return LP_TLS_NONE;
    }
}

int lp_http_broken(CURLcode cc) {
    return cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING ||
           cc == CURLE_PARTIAL_FILE;
}
