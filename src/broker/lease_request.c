/* lease_request.c — validation of the lease request body of POST /v1/quote and /v1/leases:
 * types, limits, defaults (those of lepton_lease_request), the Idempotency-Key header; the decoding
 * itself needs no request (lp_lease_req_decode, fuzzed in tests/fuzz). */
#include <stdio.h>
#include <string.h>

#include "broker_internal.h"
#include "json_field.h"
#include "wire.h"

int lp_lease_req_decode(const json_t *j, const char *idem_header, lp_lease_req *q, char *err,
                        size_t err_size) {
    memset(q, 0, sizeof *q);
    int64_t count = 1, mem = 0, ttl = 3600, wait = 0, keepalive = 0;
    double max_price = 0, max_cost = 0;
    const char *model = NULL, *labels = NULL, *key = NULL;
    if (lp_json_int(j, "gpu_count", 0, 1024, &count, err, err_size) ||
        lp_json_str(j, "gpu_model", LP_STR_MAX, &model, err, err_size) ||
        lp_json_int(j, "min_gpu_memory", 0, INT64_MAX, &mem, err, err_size) ||
        lp_json_num(j, "max_price_per_gpu_hour", 0, 1e9, &max_price, err, err_size) ||
        lp_json_num(j, "max_cost", 0, 1e12, &max_cost, err, err_size) ||
        lp_json_int(j, "ttl_seconds", 0, 2592000, &ttl, err, err_size) ||
        lp_json_int(j, "wait_ms", 0, 600000, &wait, err, err_size) ||
        lp_json_str(j, "labels", LP_STR_MAX, &labels, err, err_size) ||
        lp_json_str(j, "idempotency_key", LP_STR_MAX, &key, err, err_size) ||
        lp_json_int(j, "keepalive_seconds", 0, LP_KEEPALIVE_MAX, &keepalive, err, err_size))
        return -1;
    if (!key) {
        key = idem_header;
        if (key && strlen(key) > LP_STR_MAX) {
            snprintf(err, err_size, "header 'Idempotency-Key' is longer than %d bytes", LP_STR_MAX);
            return -1;
        }
    }
    q->gpu_count = count ? (uint32_t)count : 1; /* 0 means 1, as in lepton_lease_request */
    q->min_memory = (uint64_t)mem;
    q->max_price = max_price;
    q->max_cost = max_cost;
    q->ttl_s = ttl ? (uint32_t)ttl : 3600;
    q->wait_ms = (int32_t)wait;
    q->keepalive_s = (uint32_t)keepalive;
    snprintf(q->gpu_model, sizeof q->gpu_model, "%s", model ? model : "");
    snprintf(q->labels, sizeof q->labels, "%s", labels ? labels : "");
    snprintf(q->idem_key, sizeof q->idem_key, "%s", key ? key : "");
    return 0;
}

int lp_lease_req_parse(lp_http_req *r, const json_t *j, lp_lease_req *q) {
    char err[256];
    if (lp_lease_req_decode(j, lp_http_header(r, "Idempotency-Key"), q, err, sizeof err) != 0) {
        lp_http_reply_error(r, WIRE_INVALID, NULL, "%s", err);
        return -1;
    }
    return 0;
}
