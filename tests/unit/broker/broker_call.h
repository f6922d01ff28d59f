/* broker_call.h — one HTTP request to the broker under test, for the broker unit tests that talk to
 * it over the wire (test_api, test_heartbeat, test_trust). */
#ifndef LEPTON_TEST_BROKER_CALL_H
#define LEPTON_TEST_BROKER_CALL_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/* `method` base+path on handle c (kept alive between calls); a bearer token when tok is not NULL;
 * a JSON body when body is not NULL. *status is the HTTP status (0 when the request failed). Returns
 * the parsed answer (NULL when it is not JSON); the raw body goes to *raw (malloc'd, the caller
 * frees it) when raw is not NULL. */
static json_t *bt_call(CURL *c, const char *base, const char *method, const char *path, const char *tok,
                       const char *body, long *status, char **raw) {
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    tc_http_req q = {.method = method,
                     .url = url,
                     .bearer = tok,
                     .content_type = "application/json",
                     .body = body,
                     .body_len = body ? strlen(body) : 0};
    tc_http_resp r;
    tc_http(c, &q, &r);
    *status = r.status;
    json_t *j = json_loads(r.body, 0, NULL);
    if (raw) {
        *raw = r.body;
        r.body = NULL;
    }
    tc_http_resp_free(&r);
    return j;
}

#endif
