/* broker_client.c — leptond's calls to the broker over the shared HTTP client
 * (src/common/httpc.h): one kept connection, leptond's deadlines and messages. */
#include "broker_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "httpc.h"

#define CONNECT_MAX_MS                                                                                       \
    3000L /* a broker that does not accept within this is down, whatever the call's wait                     \
           */

struct lp_broker_client {
    lp_httpc *http;
    int has_ca_file;
    const int *abort_flag;
};

void lp_broker_client_set_abort(lp_broker_client *bc, const int *flag) { bc->abort_flag = flag; }

lp_broker_client *lp_broker_client_new(const char *base, const char *token, const char *ca_file) {
    lp_broker_client *bc = calloc(1, sizeof *bc);
    if (!bc) return NULL;
    lp_httpc_options o = LP_HTTPC_OPTIONS_INIT;
    o.base = base;
    o.token = token;
    o.ca_file = ca_file;
    o.pool_max = 1; /* used from one thread */
    o.max_answer = LP_CAP_AGENT_ANSWER;
    char err[128];
    bc->http = lp_httpc_new(&o, err, sizeof err);
    bc->has_ca_file = ca_file && *ca_file;
    if (!bc->http) {
        free(bc);
        return NULL;
    }
    return bc;
}

void lp_broker_client_free(lp_broker_client *bc) {
    if (!bc) return;
    lp_httpc_free(bc->http);
    free(bc);
}

int lp_broker_call(lp_broker_client *bc, const char *method, const char *path, const json_t *body,
                   long timeout_ms, json_t **out, char *err, size_t err_size) {
    *out = NULL;
    if (err_size) err[0] = 0;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text) {
        snprintf(err, err_size, "%s %s: out of memory serialising the request", method, path);
        return -1;
    }
    lp_http_req r = {.method = method,
                     .path = path,
                     .body = text,
                     .body_len = text ? strlen(text) : 0,
                     .timeout_ms = timeout_ms,
                     .connect_timeout_ms = timeout_ms < CONNECT_MAX_MS ? timeout_ms : CONNECT_MAX_MS,
                     .abort_flag = bc->abort_flag};
    lp_http_res res;
    int hr = lp_httpc_call(bc->http, &r, &res);
    free(text);
    if (hr == LP_HTTP_EURL || hr == LP_HTTP_ENOMEM) {
        snprintf(err, err_size, "%s %s%s: %s", method, lp_httpc_base(bc->http), path,
                 hr == LP_HTTP_EURL ? "URL too long" : "out of memory");
        return -1;
    }
    int tls = lp_http_tls_failure(res.cc);
    if (tls == LP_TLS_UNTRUSTED || tls == LP_TLS_CA_FILE) {
        /* say which certificate problem, and what to do */
        snprintf(err, err_size, "%s %s: %s (%s)", method, res.url, res.error,
                 tls == LP_TLS_CA_FILE ? "check --ca-file"
                 : bc->has_ca_file     ? "the broker's certificate is not signed by a CA in --ca-file"
                                       : "give its CA with --ca-file FILE");
        return -1;
    }
    if (hr != LP_HTTP_ANSWERED) {
        snprintf(err, err_size, "%s %s: %s", method, res.url,
                 res.body_error == LP_BUF_FULL ? "answer too large" : curl_easy_strerror(res.cc));
        return -1;
    }
    *out = res.json;
    if (res.status < 200 || res.status > 299) {
        lp_http_error e;
        lp_http_error_of(res.json, res.status, &e);
        snprintf(err, err_size, "%s %s: HTTP %ld %s%s%s", method, path, res.status, e.code ? e.code : "",
                 e.message ? ": " : "", e.message ? e.message : "");
    }
    return (int)res.status;
}
