/* request.h — lepton_lease_request: its validation (the limits of the protocol, checked before
 * anything is sent) and its JSON form, shared by lepton_quote and lepton_lease_open. */
#ifndef LEPTON_CLIENT_REQUEST_H
#define LEPTON_CLIENT_REQUEST_H

#include <jansson.h>

#include "lepton/lepton.h"

#define LC_MAX_GPUS 1024
#define LC_MAX_TTL_SECONDS 2592000u /* 30 days */
#define LC_MAX_WAIT_MS 600000
#define LC_MAX_KEEPALIVE_SECONDS 86400u /* keepalive_seconds: one day */
#define LC_MAX_TEXT 256                 /* bytes of gpu_model and labels */

enum { LC_FOR_QUOTE, LC_FOR_LEASE };

/* Validates `req` for `purpose` (a quote ignores wait_ms, ttl_seconds, max_cost and labels) and
 * builds its JSON body with the defaults applied. `norm` (may be NULL) receives the request with
 * the caller's version's fields and defaults. LEPTON_OK, LEPTON_EINVAL (message names the field
 * and value) or LEPTON_ENOMEM. */
int lc_request_body(const char *fn, const lepton_lease_request *req, int purpose, lepton_lease_request *norm,
                    json_t **body);

#endif
