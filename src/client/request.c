/* request.c — validation of lepton_lease_request against the protocol's limits and its encoding
 * as the JSON body of POST /v1/quote and POST /v1/leases. Bad input never reaches the wire. */
#include "request.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "errors.h"

/* Sizes of each known version of lepton_lease_request (index = version): version 1 ends before
 * keepalive_seconds. */
static const size_t request_size[] = {0, offsetof(lepton_lease_request, keepalive_seconds),
                                      sizeof(lepton_lease_request)};
#define REQUEST_VERSION_MAX (sizeof request_size / sizeof request_size[0] - 1)

static int check_money(const char *fn, const char *field, double v, const char *zero_means) {
    if (!isfinite(v) || v < 0)
        return lc_fail(LEPTON_EINVAL, "%s: req->%s %g is not a finite number >= 0 (0 means %s)", fn, field, v,
                       zero_means);
    return LEPTON_OK;
}

static int check_text(const char *fn, const char *field, const char *s) {
    if (!s) return LEPTON_OK;
    size_t n = strlen(s);
    if (n > LC_MAX_TEXT)
        return lc_fail(LEPTON_EINVAL, "%s: req->%s is %zu bytes long; the limit is %d", fn, field, n,
                       LC_MAX_TEXT);
    return LEPTON_OK;
}

/* Adds a string member, failing with EINVAL when it is not UTF-8 (jansson refuses it). */
static int add_text(const char *fn, json_t *o, const char *field, const char *s) {
    if (!s) return LEPTON_OK;
    json_t *v = json_string(s);
    if (!v) return lc_fail(LEPTON_EINVAL, "%s: req->%s is not valid UTF-8", fn, field);
    if (json_object_set_new(o, field, v)) return lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    return LEPTON_OK;
}

static int add(json_t *o, const char *field, json_t *v) { return v ? json_object_set_new(o, field, v) : -1; }

int lc_request_body(const char *fn, const lepton_lease_request *req, int purpose, lepton_lease_request *norm,
                    json_t **body) {
    *body = NULL;
    if (!req) return lc_fail(LEPTON_EINVAL, "%s: req is NULL", fn);
    if (req->version == 0 || req->version > REQUEST_VERSION_MAX)
        return lc_fail(
            LEPTON_EINVAL,
            "%s: req->version %u is not supported (this library knows versions 1 to %zu); initialise "
            "the struct with LEPTON_LEASE_REQUEST_INIT",
            fn, req->version, (size_t)REQUEST_VERSION_MAX);
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    memcpy(&r, req, request_size[req->version]);
    int rc;
    if (r.gpu_count > LC_MAX_GPUS)
        return lc_fail(LEPTON_EINVAL, "%s: req->gpu_count %u exceeds the limit of %d GPUs per lease", fn,
                       r.gpu_count, LC_MAX_GPUS);
    if (r.gpu_count == 0) r.gpu_count = 1;
    if ((rc = check_text(fn, "gpu_model", r.gpu_model))) return rc;
    if (r.min_gpu_memory > (uint64_t)INT64_MAX)
        return lc_fail(LEPTON_EINVAL, "%s: req->min_gpu_memory %llu is larger than any GPU", fn,
                       (unsigned long long)r.min_gpu_memory);
    if ((rc = check_money(fn, "max_price_per_gpu_hour", r.max_price_per_gpu_hour, "no limit"))) return rc;
    if (purpose == LC_FOR_LEASE) {
        if ((rc = check_money(fn, "max_cost", r.max_cost, "no cap"))) return rc;
        if (r.ttl_seconds > LC_MAX_TTL_SECONDS)
            return lc_fail(LEPTON_EINVAL, "%s: req->ttl_seconds %u exceeds the limit of %u (30 days)", fn,
                           r.ttl_seconds, LC_MAX_TTL_SECONDS);
        if (r.ttl_seconds == 0) r.ttl_seconds = 3600;
        if (r.wait_ms < 0 || r.wait_ms > LC_MAX_WAIT_MS)
            return lc_fail(LEPTON_EINVAL, "%s: req->wait_ms %d is outside 0 to %d", fn, (int)r.wait_ms,
                           LC_MAX_WAIT_MS);
        if ((rc = check_text(fn, "labels", r.labels))) return rc;
        if (r.keepalive_seconds > LC_MAX_KEEPALIVE_SECONDS)
            return lc_fail(LEPTON_EINVAL,
                           "%s: req->keepalive_seconds %u exceeds the limit of %u (one day; 0 = none)", fn,
                           r.keepalive_seconds, LC_MAX_KEEPALIVE_SECONDS);
    }

    json_t *o = json_object();
    if (!o) return lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    int bad = add(o, "gpu_count", json_integer(r.gpu_count)) ||
              add(o, "min_gpu_memory", json_integer((json_int_t)r.min_gpu_memory)) ||
              add(o, "max_price_per_gpu_hour", json_real(r.max_price_per_gpu_hour));
    if (!bad && purpose == LC_FOR_LEASE)
        bad = add(o, "max_cost", json_real(r.max_cost)) ||
              add(o, "ttl_seconds", json_integer(r.ttl_seconds)) ||
              add(o, "wait_ms", json_integer(r.wait_ms)) ||
              (r.keepalive_seconds && add(o, "keepalive_seconds", json_integer(r.keepalive_seconds)));
    if (bad) {
        json_decref(o);
        return lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    }
    if ((rc = add_text(fn, o, "gpu_model", r.gpu_model)) ||
        (purpose == LC_FOR_LEASE && (rc = add_text(fn, o, "labels", r.labels)))) {
        json_decref(o);
        return rc;
    }
    if (norm) *norm = r;
    *body = o;
    return LEPTON_OK;
}
