/* rest.c — raw calls to the broker's REST API (docs/protocol.md) for what liblepton has no
 * function for: a lease by id (info, extend, close), lease lists, leases that outlive the command
 * (lease open), nodes and usage. They go through the shared HTTP client (src/common/httpc.h), kept
 * for the process so that a command's calls reuse one connection; error answers map to
 * lepton_status through the one table of src/common/wire.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "httpc.h"

#define CLI_TIMEOUT_MS 30000L /* a call's deadline when the caller names none */
#define CLI_CONNECT_MS 5000L

/* The process's client and what it was made for; a call for another broker gets a client of its
 * own for that call. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static lp_httpc *g_http;
static char *g_key;     /* "endpoint\ntoken\nca_file" */
static int g_in_flight; /* calls using g_http now: exit() while one runs leaves it to the OS */

static void free_client(void) {
    pthread_mutex_lock(&g_lock);
    if (g_in_flight == 0) {
        lp_httpc_free(g_http);
        g_http = NULL;
        if (g_key) memset(g_key, 0, strlen(g_key)); /* holds the token */
        free(g_key);
        g_key = NULL;
    }
    pthread_mutex_unlock(&g_lock);
}

/* The client for (ep, tok, ca): the process's (*own = 0), or a new one the caller frees (*own = 1). */
static lp_httpc *client_for(const char *ep, const char *tok, const char *ca, int *own) {
    size_t n = strlen(ep) + (tok ? strlen(tok) : 0) + (ca ? strlen(ca) : 0) + 3;
    char *key = malloc(n);
    if (!key) return NULL;
    snprintf(key, n, "%s\n%s\n%s", ep, tok ? tok : "", ca ? ca : "");
    lp_httpc_options o = LP_HTTPC_OPTIONS_INIT;
    o.base = ep;
    o.token = tok;
    o.ca_file = ca;
    o.connect_timeout_ms = CLI_CONNECT_MS;
    o.pool_max = 4; /* the main thread, and a signal thread closing a lease */
    o.max_answer = LP_CAP_CLI_ANSWER;
    char err[128];
    pthread_mutex_lock(&g_lock);
    lp_httpc *h = NULL;
    *own = 0;
    if (!g_http) {
        g_http = lp_httpc_new(&o, err, sizeof err);
        if (g_http) {
            g_key = key;
            key = NULL;
            atexit(free_client);
        }
        h = g_http;
    } else if (!strcmp(g_key, key)) {
        h = g_http;
    }
    if (h) g_in_flight++;
    pthread_mutex_unlock(&g_lock);
    if (!h) {
        h = lp_httpc_new(&o, err, sizeof err);
        *own = h != NULL;
    }
    if (key) memset(key, 0, n);
    free(key);
    return h;
}

int cli_http(const cli_global *g, const char *method, const char *path, const json_t *body, long timeout_ms,
             json_t **out, char *err, size_t en) {
    *out = NULL;
    const char *ep = cli_endpoint(g);
    size_t epn = strlen(ep);
    while (epn > 0 && ep[epn - 1] == '/')
        epn--;
    int own = 0;
    lp_httpc *h = client_for(ep, cli_token(g), cli_ca_file(g), &own);
    if (!h) {
        snprintf(err, en, "cannot set up libcurl");
        return LEPTON_ENOMEM;
    }
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    const char *sent = payload ? payload : body || !strcmp(method, "POST") ? "{}" : NULL;
    lp_http_req r = {.method = method,
                     .path = path,
                     .body = sent,
                     .body_len = sent ? strlen(sent) : 0,
                     .timeout_ms = timeout_ms > 0 ? timeout_ms : CLI_TIMEOUT_MS};
    lp_http_res res;
    int hr = lp_httpc_call(h, &r, &res);
    free(payload);
    if (own) {
        lp_httpc_free(h);
    } else {
        pthread_mutex_lock(&g_lock);
        g_in_flight--;
        pthread_mutex_unlock(&g_lock);
    }
    if (hr == LP_HTTP_EURL || hr == LP_HTTP_ENOMEM) {
        snprintf(err, en,
                 hr == LP_HTTP_EURL ? "the URL of %s %s is too long" : "cannot set up libcurl for %s %s",
                 method, path);
        return hr == LP_HTTP_EURL ? LEPTON_EINVAL : LEPTON_ENOMEM;
    }
    if (res.body_error) {
        snprintf(err, en, "the broker's answer to %s %s %s (%zu MiB)", method, path,
                 res.body_error == LP_BUF_FULL ? "exceeds its cap" : "did not fit in memory",
                 res.max_answer >> 20);
        return res.body_error == LP_BUF_FULL ? LEPTON_EPROTO : LEPTON_ENOMEM;
    }
    if (hr != LP_HTTP_ANSWERED) {
        int tls = lp_http_tls_failure(res.cc) != LP_TLS_NONE;
        snprintf(err, en, "cannot reach the broker at %.*s: %s (%s)", (int)epn, ep, res.error,
                 tls ? "its TLS certificate is not trusted here, or it does not speak https: see --ca-file"
                     : "is `lepton dev` running? see --endpoint");
        return LEPTON_ENET;
    }
    if (res.status >= 200 && res.status < 300) {
        if (!res.json) {
            snprintf(err, en, "the broker's answer to %s %s is not JSON", method, path);
            return LEPTON_EPROTO;
        }
        *out = res.json;
        return LEPTON_OK;
    }
    lp_http_error e;
    lp_http_error_of(res.json, res.status, &e);
    int rc = e.status == LEPTON_OK ? LEPTON_EPROTO : e.status;
    if (e.message)
        snprintf(err, en, "%s%s%s", e.message, e.hint && *e.hint ? "; " : "",
                 e.hint && *e.hint ? e.hint : "");
    else
        snprintf(err, en, "HTTP %ld from the broker for %s %s", res.status, method, path);
    *out = res.json;
    return rc;
}
