/* lease.c — lepton_lease_open, _attach, _get_info, _extend, _close and _detach: the lease
 * handle's life on the broker. Opening is keyed (a random idempotency key per call), so the one
 * retry after a broken connection cannot create a second lease; attaching makes a handle on a
 * lease of the same tenant opened elsewhere; closing always frees the handle; detaching frees it
 * and leaves the lease running.
 *
 * Thread safety: a lease handle is immutable after lepton_lease_open returns (its list links are
 * guarded by the client's lock), so get_info and extend may run on it from several threads. */
#include "lease.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"
#include "dataplane.h"
#include "errors.h"
#include "json_field.h"
#include "keepalive.h"
#include "rand.h"
#include "request.h"
#include "text.h"

/* Sizes of each known version of lepton_lease_info (index = version). */
static const size_t info_size[] = {0, sizeof(lepton_lease_info)};
#define INFO_VERSION_MAX (sizeof info_size / sizeof info_size[0] - 1)

static const char *const state_names[] = {
    [LEPTON_LEASE_PENDING] = "pending",     [LEPTON_LEASE_ACTIVE] = "active",
    [LEPTON_LEASE_CLOSED] = "closed",       [LEPTON_LEASE_EXPIRED] = "expired",
    [LEPTON_LEASE_EXHAUSTED] = "exhausted", [LEPTON_LEASE_FAILED] = "failed",
};

/* A lease id goes into URL paths unescaped, so only URL-safe ids are accepted. */
static int id_is_safe(const char *id) {
    if (!*id) return 0;
    for (const char *p = id; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-' || ch == '.' || ch == '~'))
            return 0;
    }
    return 1;
}

int lc_lease_parse(const char *fn, const json_t *lease, lepton_lease_info *info, const char **end_reason) {
    uint32_t version = info->version;
    memset(info, 0, sizeof *info);
    info->version = version;
    if (end_reason) *end_reason = NULL;
    if (!json_is_object(lease))
        return lc_fail(LEPTON_EPROTO, "%s: the broker's answer has no \"lease\" object", fn);
    const char *id = NULL, *state = NULL, *node = NULL, *model = NULL, *why = NULL;
    int64_t count = 0, memory = 0, started = 0, expires = 0, ended = 0;
    double price = 0, cost = 0;
    const size_t any = (size_t)1 << 20; /* names longer than the struct's arrays are cut, not refused */
    char err[200];
    if (lp_json_str(lease, "id", sizeof info->id - 1, &id, err, sizeof err) ||
        lp_json_str(lease, "state", 32, &state, err, sizeof err) ||
        lp_json_str(lease, "node", any, &node, err, sizeof err) ||
        lp_json_str(lease, "gpu_model", any, &model, err, sizeof err) ||
        lp_json_str(lease, "end_reason", any, &why, err, sizeof err) ||
        lp_json_int(lease, "gpu_count", 0, UINT32_MAX, &count, err, sizeof err) ||
        lp_json_int(lease, "gpu_memory", 0, INT64_MAX, &memory, err, sizeof err) ||
        lp_json_int(lease, "started_at", 0, INT64_MAX, &started, err, sizeof err) ||
        lp_json_int(lease, "expires_at", 0, INT64_MAX, &expires, err, sizeof err) ||
        lp_json_int(lease, "ended_at", 0, INT64_MAX, &ended, err, sizeof err) ||
        lp_json_num(lease, "price_per_gpu_hour", 0, 1e300, &price, err, sizeof err) ||
        lp_json_num(lease, "cost", 0, 1e300, &cost, err, sizeof err))
        return lc_fail(LEPTON_EPROTO, "%s: malformed lease in the broker's answer: %s", fn, err);
    if (!id || !id_is_safe(id))
        return lc_fail(LEPTON_EPROTO, "%s: the broker's lease has a missing or malformed \"id\"", fn);
    info->state = -1;
    for (int i = 0; state && i < (int)(sizeof state_names / sizeof state_names[0]); i++)
        if (!strcmp(state, state_names[i])) info->state = i;
    if (info->state < 0)
        return lc_fail(LEPTON_EPROTO, "%s: lease %s has an unknown state \"%s\"", fn, id,
                       state ? state : "(none)");
    lc_copy_text(info->id, sizeof info->id, id);
    lc_copy_text(info->node, sizeof info->node, node);
    lc_copy_text(info->gpu_model, sizeof info->gpu_model, model);
    info->gpu_count = (uint32_t)count;
    info->gpu_memory = (uint64_t)memory;
    info->price_per_gpu_hour = price;
    info->cost = cost;
    info->started_at = started;
    /* lepton.h: expires_at is "when the TTL ends it (or when it ended, once ended)". */
    info->expires_at = info->state >= LEPTON_LEASE_CLOSED && ended ? ended : expires;
    if (end_reason) *end_reason = why;
    return LEPTON_OK;
}

static void make_idempotency_key(char *out, size_t size) {
    if (lp_random_id(out, size, "ik_", 16) == 0) return;
    /* No kernel randomness: still unique per call within this process and across processes. */
    static _Atomic unsigned long counter;
    snprintf(out, size, "ik_%llx_%lx_%lx", (unsigned long long)lp_wall_ms(), (unsigned long)getpid(),
             (unsigned long)atomic_fetch_add(&counter, 1));
}

/* A job session for an attached handle: random, non-zero, below 2^63 (docs/dataplane.md, Jobs). */
static uint64_t new_session(void) {
    uint64_t v = 0;
    if (lp_random_bytes(&v, sizeof v) != 0) {
        /* No kernel randomness: still distinct per call within this process and across processes. */
        static _Atomic unsigned long counter;
        v = (uint64_t)lp_wall_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() << 32 ^
            (uint64_t)atomic_fetch_add(&counter, 1) * 0xBF58476D1CE4E5B9ull;
    }
    v &= INT64_MAX;
    return v ? v : 1;
}

/* Best-effort close of a lease the caller will not get (it failed after the grant), so it is not
 * billed until its TTL. Keeps the thread's error message, which explains the real failure. */
static void abandon(lepton_client *c, const char *fn, const char *id) {
    char saved[4096];
    lc_copy_text(saved, sizeof saved, lepton_last_error());
    char path[96];
    snprintf(path, sizeof path, "/v1/leases/%s/close", id);
    lc_request r = {fn, "POST", path, NULL, 0, LC_RETRY};
    lc_response resp;
    int rc = lc_http_call(c, &r, &resp);
    json_decref(resp.json);
    lc_log(c, LEPTON_LOG_WARN, "lease %s given up after a failure: close %s", id,
           rc == LEPTON_OK ? "confirmed" : lepton_status_name(rc));
    lc_error_set("%s", saved);
}

/* Builds the handle of an active lease `id` from its Lease object `lj` (the data plane: the
 * workers' addresses and the lease token; a broker without one gives none, and the data-plane calls
 * then say so) with job session `session` and starts its renew thread when keepalive_seconds > 0.
 * LEPTON_OK, or LEPTON_ENOMEM (out of memory or threads) with the message set; the caller tracks
 * the handle. */
static int handle_new(lepton_client *c, const char *fn, const char *id, uint32_t gpu_count, const json_t *lj,
                      uint64_t session, uint32_t keepalive_seconds, lepton_lease **out) {
    *out = NULL;
    lepton_lease *l = calloc(1, sizeof *l);
    if (!l) return lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    l->client = c;
    lc_copy_text(l->id, sizeof l->id, id);
    snprintf(l->path, sizeof l->path, "/v1/leases/%s", id);
    l->gpu_count = gpu_count;
    l->session = session; /* before lc_dp_new: its request headers carry it */
    l->dp = lc_dp_new(l, lj);
    if (!l->dp) {
        free(l);
        return lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    }
    if (keepalive_seconds) {
        l->keepalive = lc_keepalive_start(l, keepalive_seconds);
        if (!l->keepalive) { /* message set */
            lc_dp_free(l->dp);
            free(l);
            return LEPTON_ENOMEM;
        }
    }
    *out = l;
    return LEPTON_OK;
}

int lepton_lease_open(lepton_client *c, const lepton_lease_request *req, lepton_lease **out) {
    static const char fn[] = "lepton_lease_open";
    if (out) *out = NULL;
    if (!c) return lc_fail(LEPTON_EINVAL, "%s: c is NULL", fn);
    if (!out) return lc_fail(LEPTON_EINVAL, "%s: out is NULL", fn);
    lepton_lease_request norm;
    json_t *body;
    int rc = lc_request_body(fn, req, LC_FOR_LEASE, &norm, &body);
    if (rc) return rc;
    char key[48];
    make_idempotency_key(key, sizeof key);
    if (json_object_set_new(body, "idempotency_key", json_string(key))) {
        json_decref(body);
        return lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    }
    int64_t t0 = lp_mono_ms();
    /* The broker holds the request up to wait_ms when nothing is free: the deadline must cover
     * that wait plus the usual time of a request. */
    lc_request r = {fn, "POST", "/v1/leases", body, norm.wait_ms, LC_RETRY};
    lc_response resp;
    rc = lc_http_call(c, &r, &resp);
    json_decref(body);
    if (rc) {
        json_decref(resp.json);
        return rc;
    }
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    json_t *lj = json_object_get(resp.json, "lease");
    rc = lc_lease_parse(fn, lj, &info, NULL);
    if (rc) {
        const char *id = json_string_value(json_object_get(lj, "id"));
        if (id && strlen(id) < 64 && id_is_safe(id)) abandon(c, fn, id);
        json_decref(resp.json);
        return rc;
    }

    /* A broker may answer "pending" instead of holding the request; then poll until the lease is
     * active or wait_ms has passed (lepton.h promises an active lease on LEPTON_OK). */
    char id[sizeof info.id], path[96];
    memcpy(id, info.id, sizeof id); /* a failed parse below clears info */
    snprintf(path, sizeof path, "/v1/leases/%s", id);
    int64_t pause_ms = 10;
    while (info.state == LEPTON_LEASE_PENDING) {
        int64_t left = t0 + norm.wait_ms - lp_mono_ms();
        if (left <= 0) {
            json_decref(resp.json);
            lc_fail(LEPTON_ENOCAPACITY, "%s: no capacity became free within wait_ms %d ms", fn,
                    (int)norm.wait_ms);
            abandon(c, fn, id);
            return LEPTON_ENOCAPACITY;
        }
        lp_sleep_ms(pause_ms < left ? pause_ms : left);
        if (pause_ms < 500) pause_ms *= 2;
        json_decref(resp.json);
        lc_request poll = {fn, "GET", path, NULL, 0, LC_RETRY};
        rc = lc_http_call(c, &poll, &resp);
        if (!rc) rc = lc_lease_parse(fn, json_object_get(resp.json, "lease"), &info, NULL);
        if (rc) {
            json_decref(resp.json);
            abandon(c, fn, id);
            return rc;
        }
    }
    lj = json_object_get(resp.json, "lease");
    if (info.state != LEPTON_LEASE_ACTIVE) {
        const char *why = json_string_value(json_object_get(lj, "end_reason"));
        rc = lc_fail(info.state == LEPTON_LEASE_FAILED ? LEPTON_ENODELOST : LEPTON_EEXPIRED,
                     "%s: lease %s was granted but has already ended (%s)", fn, info.id,
                     why ? why : state_names[info.state]);
        json_decref(resp.json);
        return rc;
    }

    lepton_lease *l = NULL;
    rc = handle_new(c, fn, id, info.gpu_count, lj, 0, norm.keepalive_seconds, &l);
    json_decref(resp.json);
    if (rc) { /* a lease nobody holds (or renews) would run on: give it up now (message set) */
        abandon(c, fn, id);
        return rc;
    }
    lc_client_track(c, l);
    lc_log(c, LEPTON_LOG_INFO, "lease %s granted: %u x %s on %s at $%g per GPU-hour, expires at %lld%s",
           info.id, info.gpu_count, info.gpu_model, info.node, info.price_per_gpu_hour,
           (long long)info.expires_at, norm.keepalive_seconds ? " (kept alive while open)" : "");
    *out = l;
    return LEPTON_OK;
}

int lepton_lease_attach(lepton_client *c, const char *lease_id, lepton_lease **out) {
    static const char fn[] = "lepton_lease_attach";
    if (out) *out = NULL;
    if (!c) return lc_fail(LEPTON_EINVAL, "%s: c is NULL", fn);
    if (!out) return lc_fail(LEPTON_EINVAL, "%s: out is NULL", fn);
    if (!lease_id) return lc_fail(LEPTON_EINVAL, "%s: lease_id is NULL", fn);
    if (strlen(lease_id) >= sizeof((lepton_lease_info *)0)->id || !id_is_safe(lease_id))
        return lc_fail(LEPTON_EINVAL,
                       "%s: lease_id \"%.80s\" is not a lease id (1 to 63 letters, digits, '_', '-', '.' or "
                       "'~', e.g. the id lepton_lease_get_info or `lepton lease open` gives)",
                       fn, lease_id);
    char path[96];
    snprintf(path, sizeof path, "/v1/leases/%s", lease_id);
    /* Another tenant's lease answers as one that does not exist (404: LEPTON_ENOTFOUND). */
    lc_request r = {fn, "GET", path, NULL, 0, LC_RETRY};
    lc_response resp;
    int rc = lc_http_call(c, &r, &resp);
    if (rc) { /* the broker's own words, with the call named (and the tenant rule for a 404) */
        char said[4096];
        lc_copy_text(said, sizeof said, lepton_last_error());
        if (rc == LEPTON_ENOTFOUND)
            lc_fail(rc, "%s: %s; a lease can be attached only with its own tenant's token", fn, said);
        else if (strncmp(said, fn, strlen(fn)) != 0)
            lc_fail(rc, "%s: %s", fn, said);
    }
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    const char *why = NULL;
    json_t *lj = json_object_get(resp.json, "lease");
    if (!rc) rc = lc_lease_parse(fn, lj, &info, &why);
    if (!rc && strcmp(info.id, lease_id) != 0)
        rc = lc_fail(LEPTON_EPROTO, "%s: asked the broker for lease %s and got lease %s", fn, lease_id,
                     info.id);
    if (!rc && info.state == LEPTON_LEASE_PENDING)
        rc = lc_fail(LEPTON_ENOCAPACITY,
                     "%s: lease %s is still waiting for capacity; attach once it is active", fn, lease_id);
    if (!rc && info.state != LEPTON_LEASE_ACTIVE)
        rc = lc_fail(LEPTON_EEXPIRED, "%s: lease %s has ended (%s%s%s); only an active lease can be attached",
                     fn, lease_id, state_names[info.state], why ? ": " : "", why ? why : "");
    /* The holder's keepalive, if the lease has one, is kept by this handle too while it is open:
     * the lease then lives as long as any of its handles does. */
    json_int_t keepalive = json_integer_value(json_object_get(lj, "keepalive_seconds"));
    lepton_lease *l = NULL;
    if (!rc)
        rc = handle_new(c, fn, lease_id, info.gpu_count, lj, new_session(),
                        keepalive > 0 && keepalive <= UINT32_MAX ? (uint32_t)keepalive : 0, &l);
    json_decref(resp.json);
    if (rc) return rc;
    l->attached = 1;
    lc_client_track(c, l);
    lc_log(c, LEPTON_LOG_INFO, "lease %s attached: %u x %s on %s, expires at %lld%s", info.id, info.gpu_count,
           info.gpu_model, info.node, (long long)info.expires_at,
           l->keepalive ? " (kept alive while attached)" : "");
    *out = l;
    return LEPTON_OK;
}

int lepton_lease_get_info(lepton_lease *l, lepton_lease_info *out) {
    static const char fn[] = "lepton_lease_get_info";
    if (!l) return lc_fail(LEPTON_EINVAL, "%s: l is NULL", fn);
    if (!out) return lc_fail(LEPTON_EINVAL, "%s: out is NULL", fn);
    if (out->version == 0 || out->version > INFO_VERSION_MAX)
        return lc_fail(
            LEPTON_EINVAL,
            "%s: out->version %u is not supported (this library knows versions 1 to %zu); initialise "
            "the struct with LEPTON_LEASE_INFO_INIT",
            fn, out->version, (size_t)INFO_VERSION_MAX);
    lc_request r = {fn, "GET", l->path, NULL, 0, LC_RETRY};
    lc_response resp;
    int rc = lc_http_call(l->client, &r, &resp);
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    const char *why = NULL;
    if (!rc) rc = lc_lease_parse(fn, json_object_get(resp.json, "lease"), &info, &why);
    /* Once the caller has seen the lease end, its data-plane calls say so at once (the worker may
     * still be up for a moment until its node agent hears of the end). */
    if (!rc && info.state >= LEPTON_LEASE_CLOSED) lc_dp_note_ended(l->dp, info.state, why);
    json_decref(resp.json);
    if (rc) return rc;
    /* Write only the fields the caller's version of the struct has. */
    size_t from = offsetof(lepton_lease_info, id);
    memcpy((char *)out + from, (const char *)&info + from, info_size[out->version] - from);
    return LEPTON_OK;
}

/* The broker's largest page of GET /v1/leases. */
#define LIST_PAGE_MAX 1000

int lepton_lease_list(lepton_client *c, int32_t state, const char *after, lepton_lease_info *out, size_t cap,
                      size_t *count) {
    static const char fn[] = "lepton_lease_list";
    if (count) *count = 0;
    if (!c) return lc_fail(LEPTON_EINVAL, "%s: c is NULL", fn);
    if (!count) return lc_fail(LEPTON_EINVAL, "%s: count is NULL", fn);
    if (cap == 0) return LEPTON_OK;
    if (!out) return lc_fail(LEPTON_EINVAL, "%s: out is NULL with cap %zu", fn, cap);
    uint32_t version = out[0].version;
    if (version == 0 || version > INFO_VERSION_MAX)
        return lc_fail(LEPTON_EINVAL,
                       "%s: out[0].version %u is not supported (this library knows versions 1 to %zu); "
                       "initialise the entries with LEPTON_LEASE_INFO_INIT",
                       fn, version, (size_t)INFO_VERSION_MAX);
    const int nstates = (int)(sizeof state_names / sizeof state_names[0]);
    if (state < -1 || state >= nstates)
        return lc_fail(LEPTON_EINVAL, "%s: state %d is not a LEPTON_LEASE_* (0 to %d) or -1 (every state)",
                       fn, (int)state, nstates - 1);
    if (after && (strlen(after) >= sizeof out[0].id || !id_is_safe(after)))
        return lc_fail(LEPTON_EINVAL, "%s: after \"%.80s\" is not a lease id", fn, after);
    /* Entries are of the caller's version: its size is the stride. Written only once every page
     * has been read, so that a failure leaves out as it was. */
    size_t stride = info_size[version], n = 0;
    lepton_lease_info *got = malloc(cap * sizeof *got);
    if (!got) return lc_fail(LEPTON_ENOMEM, "%s: out of memory for %zu leases", fn, cap);
    char last[sizeof out[0].id] = "";
    if (after) snprintf(last, sizeof last, "%s", after);
    int rc = LEPTON_OK;
    while (n < cap) {
        size_t want = cap - n < LIST_PAGE_MAX ? cap - n : LIST_PAGE_MAX;
        char path[256];
        snprintf(path, sizeof path, "/v1/leases?limit=%zu%s%s%s%s", want, state >= 0 ? "&state=" : "",
                 state >= 0 ? state_names[state] : "", last[0] ? "&after=" : "", last);
        lc_request r = {fn, "GET", path, NULL, 0, LC_RETRY};
        lc_response resp;
        if ((rc = lc_http_call(c, &r, &resp)) != LEPTON_OK) {
            json_decref(resp.json); /* an error answer's body */
            break;
        }
        const json_t *arr = json_object_get(resp.json, "leases");
        if (!json_is_array(arr)) {
            json_decref(resp.json);
            rc = lc_fail(LEPTON_EPROTO, "%s: the broker's answer has no 'leases' array", fn);
            break;
        }
        size_t k = json_array_size(arr);
        for (size_t i = 0; i < k && n < cap && rc == LEPTON_OK; i++) {
            lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
            const char *why = NULL;
            rc = lc_lease_parse(fn, json_array_get(arr, i), &info, &why);
            if (rc == LEPTON_OK) got[n++] = info;
        }
        json_decref(resp.json);
        if (rc != LEPTON_OK || k < want) break; /* a short page is the last */
        snprintf(last, sizeof last, "%s", got[n - 1].id);
    }
    if (rc == LEPTON_OK) {
        size_t from = offsetof(lepton_lease_info, id);
        for (size_t i = 0; i < n; i++) {
            char *e = (char *)out + i * stride;
            memcpy(e + from, (const char *)&got[i] + from, stride - from);
            ((lepton_lease_info *)(void *)e)->version = version;
        }
        *count = n;
    }
    free(got);
    return rc;
}

int lepton_lease_extend(lepton_lease *l, uint32_t seconds) {
    static const char fn[] = "lepton_lease_extend";
    if (!l) return lc_fail(LEPTON_EINVAL, "%s: l is NULL", fn);
    if (seconds == 0 || seconds > LC_MAX_TTL_SECONDS)
        return lc_fail(LEPTON_EINVAL, "%s: seconds %u is outside 1 to %u (30 days)", fn, seconds,
                       LC_MAX_TTL_SECONDS);
    /* Keyed, so that the one retry after a broken connection (LC_RETRY), or a request libcurl
     * sends again on its own, cannot add the seconds twice. */
    char key[48];
    make_idempotency_key(key, sizeof key);
    json_t *body = json_pack("{s:I, s:s}", "seconds", (json_int_t)seconds, "idempotency_key", key);
    if (!body) return lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    char path[112];
    snprintf(path, sizeof path, "%s/extend", l->path);
    lc_request r = {fn, "POST", path, body, 0, LC_RETRY};
    lc_response resp;
    int rc = lc_http_call(l->client, &r, &resp);
    json_decref(body);
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    if (!rc) rc = lc_lease_parse(fn, json_object_get(resp.json, "lease"), &info, NULL);
    json_decref(resp.json);
    if (rc) return rc;
    lc_log(l->client, LEPTON_LOG_INFO, "lease %s extended by %u s; expires at %lld", l->id, seconds,
           (long long)info.expires_at);
    return LEPTON_OK;
}

static void lease_free(lepton_lease *l) {
    lc_dp_free(l->dp); /* wipes the lease token */
    free(l);
}

int lc_lease_end(lepton_lease *l, int offline) {
    static const char fn[] = "lepton_lease_close";
    lepton_client *c = l->client;
    /* No renewal after this point (an in-flight one finishes first). */
    lc_keepalive_stop(l->keepalive);
    l->keepalive = NULL;
    /* The data plane first: pending tasks complete (canceled, or expired when on the wire) and
     * the lease's modules and buffers are freed; the workers go with the lease. */
    lc_dp_shutdown(l->dp);
    if (offline) {
        int rc = lc_fail(LEPTON_ENET,
                         "%s: lease %s not closed: the broker is unreachable; it ends by its TTL", fn, l->id);
        lease_free(l);
        return rc;
    }
    char path[112];
    snprintf(path, sizeof path, "%s/close", l->path);
    /* Closing twice is harmless (the second gets 410), so a broken connection is retried. */
    lc_request r = {fn, "POST", path, NULL, 0, LC_RETRY};
    lc_response resp;
    int rc = lc_http_call(c, &r, &resp);
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    const char *why = NULL;
    int parsed = 0;
    if (json_is_object(json_object_get(resp.json, "lease"))) {
        /* The lease in the answer only adds detail to the log; a malformed one must not replace
         * the message of the outcome. */
        char saved[4096];
        lc_copy_text(saved, sizeof saved, lepton_last_error());
        parsed = lc_lease_parse(fn, json_object_get(resp.json, "lease"), &info, &why) == LEPTON_OK;
        lc_error_set("%s", saved);
    }
    /* 410 with the lease "closed" (by its holder) means the outcome the caller asked for: either
     * an earlier attempt of this very request closed it and only the answer was lost (libcurl
     * also resends on its own when a reused connection dies), or the tenant closed it elsewhere.
     * EEXPIRED is for leases that ended otherwise (TTL, cost cap, node loss). */
    if (rc == LEPTON_EEXPIRED && parsed && info.state == LEPTON_LEASE_CLOSED) rc = LEPTON_OK;
    if (rc == LEPTON_OK) {
        lc_log(c, LEPTON_LOG_INFO, "lease %s closed: cost $%.6f", l->id, parsed ? info.cost : 0.0);
    } else if (rc == LEPTON_EEXPIRED) {
        lc_log(c, LEPTON_LOG_INFO, "lease %s had already ended (%s)", l->id,
               why ? why
               : parsed && (size_t)info.state < sizeof state_names / sizeof state_names[0]
                   ? state_names[info.state]
                   : "no reason given");
    } else {
        lc_log(c, LEPTON_LOG_WARN, "lease %s: close failed (%s); it ends by its TTL", l->id,
               lepton_last_error());
    }
    json_decref(resp.json);
    lease_free(l);
    return rc;
}

void lc_lease_detach(lepton_lease *l) {
    lc_keepalive_stop(l->keepalive); /* an in-flight renewal finishes first */
    l->keepalive = NULL;
    /* Only this process's view ends: unfinished tasks complete (canceled, or expired when on the
     * wire) and the module and buffer handles are freed; what they name stays on the workers. */
    lc_dp_shutdown(l->dp);
    lc_log(l->client, LEPTON_LOG_INFO, "lease %s detached; it keeps running", l->id);
    lease_free(l);
}

int lepton_lease_detach(lepton_lease *l) {
    if (!l) return LEPTON_OK;
    lc_client_untrack(l->client, l);
    lc_lease_detach(l);
    return LEPTON_OK;
}

int lepton_lease_close(lepton_lease *l) {
    if (!l) return LEPTON_OK;
    lc_client_untrack(l->client, l);
    return lc_lease_end(l, 0);
}
