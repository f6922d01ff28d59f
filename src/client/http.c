/* http.c — the client's HTTP transport to the broker over the shared client (src/common/httpc.h,
 * which pools the handles, so that keep-alive connections are reused, and applies the deadline
 * and the one retry): JSON bodies, and the translation of every outcome (transport failure,
 * broker error body, malformed answer) into a lepton_status and liblepton's message.
 *
 * Threads: lp_httpc's pool takes its own lock only to pop or push a handle; any number of
 * requests can run at once. lc_http is immutable after lc_http_init. */
#include "http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "client.h"
#include "errors.h"
#include "lepton/lepton.h"
#include "strutil.h"

#define LC_POOL_MAX 16 /* idle handles (= warm connections) kept per client */

int lc_http_init(lc_http *h, const char *base, const char *token, const char *ca_file, int32_t timeout_ms) {
    memset(h, 0, sizeof *h);
    h->timeout_ms = timeout_ms;
    lp_httpc_options o = LP_HTTPC_OPTIONS_INIT;
    o.base = base;
    o.token = token;
    o.ca_file = ca_file;
    o.user_agent = "liblepton/" LEPTON_LIBRARY_VERSION;
    o.connect_timeout_ms = timeout_ms;
    o.pool_max = LC_POOL_MAX;
    o.max_answer = LP_CAP_CLIENT_ANSWER;
    char err[256];
    h->hc = lp_httpc_new(&o, err, sizeof err);
    if (!h->hc) return lc_fail(LEPTON_ENOMEM, "lepton_client_open: %s", err);
    return LEPTON_OK;
}

void lc_http_free(lc_http *h) {
    lp_httpc_free(h->hc);
    memset(h, 0, sizeof *h);
}

/* Sets the last error from a non-2xx answer and returns its status. */
static int broker_error(const lc_request *r, const lp_http_res *res) {
    lp_http_error e;
    if (!lp_http_error_of(res->json, res->status, &e))
        return lc_fail(LEPTON_EPROTO,
                       "%s: %s %s answered HTTP %ld without a Lepton error body (is the endpoint a Lepton "
                       "broker?): \"%s\"",
                       r->fn, r->method, res->url, res->status, res->excerpt);
    const char *msg = e.message && *e.message ? e.message : e.code;
    if (e.hint && *e.hint) return lc_fail(e.status, "%s (hint: %s)", msg, e.hint);
    return lc_fail(e.status, "%s", msg);
}

typedef struct retry_ctx {
    lepton_client *c;
    const lc_request *r;
} retry_ctx;

static void on_retry(void *user, const char *why) {
    const retry_ctx *x = user;
    lc_log(x->c, LEPTON_LOG_WARN, "%s %s: connection broken (%s); retrying once", x->r->method, x->r->path,
           why);
}

int lc_http_call(lepton_client *c, const lc_request *r, lc_response *resp) {
    lc_http *h = &c->http;
    resp->status = 0;
    resp->json = NULL;

    /* The body is serialised into a stack buffer when it fits (it almost always does), so a
     * request allocates nothing for it. */
    char stack_body[2048];
    const char *body = NULL;
    char *heap_body = NULL;
    size_t body_len = 0;
    if (r->method[0] == 'P') {
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

    retry_ctx rx = {c, r};
    int64_t budget_ms = (int64_t)h->timeout_ms + (r->extra_ms > 0 ? r->extra_ms : 0);
    lp_http_req q = {.method = r->method,
                     .path = r->path,
                     .body = body,
                     .body_len = body_len,
                     .timeout_ms = budget_ms,
                     .flags = r->flags & LC_RETRY,
                     .on_retry = on_retry,
                     .user = &rx};
    lp_http_res out, *res = &out;
    int hr = lp_httpc_call(h->hc, &q, res);
    free(heap_body);
    resp->status = res->status;
    long long us = (long long)res->elapsed_us;
    int rc;
    if (hr == LP_HTTP_EURL) {
        rc = lc_fail(LEPTON_EINVAL, "%s: URL %s%s is too long", r->fn, lp_httpc_base(h->hc), r->path);
    } else if (hr == LP_HTTP_ENOMEM) {
        rc = lc_fail(LEPTON_ENOMEM, "%s: cannot create a curl handle", r->fn);
    } else if (hr == LP_HTTP_NO_ANSWER) {
        lc_log(c, LEPTON_LOG_DEBUG, "%s %s -> no answer (%s) in %lld µs", r->method, r->path,
               curl_easy_strerror(res->cc), us);
        if (res->body_error == LP_BUF_FULL)
            rc = lc_fail(LEPTON_EPROTO, "%s: the answer to %s %s exceeds %zu MiB", r->fn, r->method, res->url,
                         res->max_answer >> 20);
        else if (res->body_error == LP_BUF_NOMEM)
            rc = lc_fail(LEPTON_ENOMEM, "%s: out of memory reading the answer to %s %s", r->fn, r->method,
                         res->url);
        else if (res->cc == CURLE_OPERATION_TIMEDOUT)
            rc = lc_fail(LEPTON_ENET, "%s: %s %s failed: %s (deadline %lld ms)", r->fn, r->method, res->url,
                         res->error, (long long)budget_ms);
        else
            rc = lc_fail(LEPTON_ENET, "%s: %s %s failed: %s%s", r->fn, r->method, res->url, res->error,
                         lc_tls_hint(res->cc));
    } else {
        lc_log(c, LEPTON_LOG_DEBUG, "%s %s -> %ld in %lld µs", r->method, r->path, res->status, us);
        json_t *j = res->json;
        if (j && !json_is_object(j)) {
            json_decref(j);
            j = res->json = NULL;
        }
        if (res->status >= 200 && res->status < 300) {
            if (j) {
                resp->json = j;
                rc = LEPTON_OK;
            } else {
                rc = lc_fail(LEPTON_EPROTO,
                             "%s: %s %s answered HTTP %ld with a body that is not a JSON object: \"%s\"",
                             r->fn, r->method, res->url, res->status, res->excerpt);
            }
        } else {
            rc = broker_error(r, res);
            resp->json = j;
        }
    }
    return rc;
}

const char *lc_tls_hint(CURLcode cc) {
    switch (lp_http_tls_failure(cc)) {
    case LP_TLS_UNTRUSTED:
    case LP_TLS_CA_FILE:
        return " (the server's TLS certificate is not trusted here: give the CA that signed it with "
               "lepton_client_options.ca_file or $LEPTON_CA_FILE)";
    case LP_TLS_HANDSHAKE:
        return " (the TLS handshake failed: is the server speaking https on that port, and is the URL's "
               "scheme right?)";
    default:
        return "";
    }
}
