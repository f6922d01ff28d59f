/* http.h — the client's one HTTP path to the broker, over the shared client (src/common/httpc.h):
 * JSON request and response bodies, deadlines, one retry for requests that are safe to repeat, and
 * the mapping of transport and broker errors to lepton_status with liblepton's messages. */
#ifndef LEPTON_CLIENT_HTTP_H
#define LEPTON_CLIENT_HTTP_H

#include <jansson.h>
#include <curl/curl.h>
#include <stdint.h>

#include "httpc.h"

struct lepton_client;
struct lc_conn;

typedef struct lc_http {
    lp_httpc *hc;       /* the shared client (src/common/httpc.h): pool, headers, TLS, proxy rule */
    int32_t timeout_ms; /* per request; also the connect timeout */
} lc_http;

/* Sets up the pool for `base` (validated) and an optional bearer token and CA file (copied).
 * Returns LEPTON_OK or LEPTON_ENOMEM (message set). */
int lc_http_init(lc_http *h, const char *base, const char *token, const char *ca_file, int32_t timeout_ms);
/* Frees every pooled handle (closing their connections) and the configuration. */
void lc_http_free(lc_http *h);

/* Flags of lc_request.flags. */
#define LC_RETRY                                                                                             \
    LP_HTTP_RETRY /* repeating the request is harmless (read-only, idempotent, or keyed):                    \
                    retry once when the connection breaks before an answer arrives */

typedef struct lc_request {
    const char *fn;     /* the public function on whose behalf it runs, for messages */
    const char *method; /* "GET" or "POST" */
    const char *path;   /* "/v1/leases/ls_1/close" */
    json_t *body;       /* POST body (borrowed), or NULL for GET / an empty object */
    int64_t extra_ms;   /* added to the client's timeout (a long-poll's wait) */
    int flags;
} lc_request;

typedef struct lc_response {
    long status;  /* HTTP status, 0 when no answer came */
    json_t *json; /* the parsed body when it is a JSON object (also for errors); owned by the caller */
} lc_response;

/* Sends a request and parses the answer.
 * LEPTON_OK: a 2xx answer whose body is a JSON object (resp->json).
 * A broker error (non-2xx with {"error": {...}}): the wire code's status, the broker's message
 * (and hint) as the last error, resp->json holds the body.
 * LEPTON_ENET: no answer (refused, reset, timed out), with curl's message and the URL.
 * LEPTON_EPROTO: an answer that is not JSON, or not the error shape; LEPTON_ENOMEM. */
int lc_http_call(struct lepton_client *c, const lc_request *req, lc_response *resp);

/* " (…what to do…)" after a TLS failure's text, or "" for other curl results. */
const char *lc_tls_hint(CURLcode cc);

#endif
