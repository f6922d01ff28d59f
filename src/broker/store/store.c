/* store.c — backend-independent parts of the store: opening by URL, lease states, errors, the owned
 * lists' cleanup and the rules every backend shares (store_common.h). */
#include "store.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metering.h"
#include "money.h"
#include "store_common.h"
#include "wire.h"

static const char *const STATES[] = {"pending", "active", "closed", "expired", "exhausted", "failed"};

const char *lp_lease_state_name(int s) { return s >= 0 && s < 6 ? STATES[s] : "unknown"; }

int lp_lease_state_parse(const char *name) {
    for (int i = 0; i < 6; i++)
        if (!strcmp(STATES[i], name)) return i;
    return -1;
}

void lp_err_set(lp_err *e, const char *code, const char *hint, const char *fmt, ...) {
    if (!e) return;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    snprintf(e->hint, sizeof e->hint, "%s", hint ? hint : "");
}

void lp_node_clear(lp_node *n) {
    if (!n) return;
    free(n->gpus);
    n->gpus = NULL;
    n->gpu_count = 0;
}

void lp_node_list_clear(lp_node_list *l) {
    for (size_t i = 0; i < l->n; i++)
        lp_node_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void lp_lease_clear(lp_lease *l) {
    if (!l) return;
    free(l->gpus);
    l->gpus = NULL;
}

void lp_lease_list_clear(lp_lease_list *l) {
    for (size_t i = 0; i < l->n; i++)
        lp_lease_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void lp_offer_list_clear(lp_offer_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void lp_event_list_clear(lp_event_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int lp_event_list_push(lp_event_list *l, const lp_event *e) {
    if (!l) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        lp_event *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return -1;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = *e;
    return 0;
}

char *lp_lease_gpus_json(const lp_lease_gpu *g, uint32_t n) {
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_pack("[I, s, s]", (json_int_t)g[i].index, g[i].uuid, g[i].address));
    char *t = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return t;
}

int lp_lease_gpus_parse(const char *text, lp_lease *l) {
    json_t *a = json_loads(text, 0, NULL);
    if (!json_is_array(a)) {
        json_decref(a);
        return -1;
    }
    size_t n = json_array_size(a);
    l->gpus = calloc(n ? n : 1, sizeof *l->gpus);
    if (!l->gpus) {
        json_decref(a);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *g = json_array_get(a, i);
        l->gpus[i].index = (uint32_t)json_integer_value(json_array_get(g, 0));
        const char *u = json_string_value(json_array_get(g, 1)),
                   *addr = json_string_value(json_array_get(g, 2));
        snprintf(l->gpus[i].uuid, sizeof l->gpus[i].uuid, "%s", u ? u : "");
        snprintf(l->gpus[i].address, sizeof l->gpus[i].address, "%s", addr ? addr : "");
    }
    json_decref(a);
    return 0;
}

int lp_principal_owns(const lp_principal *who, const char *owner) {
    return !who || who->is_dev || !strcmp(who->tenant, owner);
}

int lp_node_same_gpus(const lp_node *cur, const lp_node_reg *reg) {
    if (cur->gpu_count != reg->gpu_count) return 0;
    for (size_t i = 0; i < reg->gpu_count; i++) {
        const lp_gpu *a = &cur->gpus[i], *b = &reg->gpus[i];
        if (a->index != i || strcmp(a->uuid, b->uuid) || strcmp(a->model, b->model) ||
            a->memory != b->memory || strcmp(a->address, b->address))
            return 0;
    }
    return 1;
}

void lp_lease_fill_grant(lp_lease *l, const char *tenant, const lp_lease_req *req, const char *new_id,
                         const lp_pool *pick, const char *node_address, lp_lease_gpu *gpus, int64_t now_ms) {
    snprintf(l->id, sizeof l->id, "%s", new_id);
    snprintf(l->tenant, sizeof l->tenant, "%s", tenant);
    l->state = LS_ACTIVE;
    snprintf(l->node, sizeof l->node, "%s", pick->node);
    snprintf(l->node_address, sizeof l->node_address, "%s", node_address);
    snprintf(l->gpu_model, sizeof l->gpu_model, "%s", pick->model);
    l->gpu_count = req->gpu_count;
    l->gpu_memory = pick->memory;
    l->price = pick->price;
    l->max_price = req->max_price;
    l->max_cost = req->max_cost;
    l->ttl_s = req->ttl_s;
    snprintf(l->labels, sizeof l->labels, "%s", req->labels);
    snprintf(l->idem_key, sizeof l->idem_key, "%s", req->idem_key);
    l->created_ms = l->started_ms = now_ms;
    l->expires_ms = now_ms + (int64_t)req->ttl_s * 1000;
    int64_t cap_s = lp_meter_cap_seconds(req->gpu_count, pick->price, req->max_cost);
    l->cap_ms = cap_s >= 0 ? now_ms + cap_s * 1000 : 0;
    l->keepalive_s = req->keepalive_s;
    l->renewed_ms = now_ms;
    l->gpus = gpus;
}

int lp_lease_extend_apply(lp_lease *l, uint32_t seconds, lp_err *e) {
    if ((uint64_t)l->ttl_s + seconds > 2592000u) {
        lp_err_set(e, WIRE_INVALID, NULL,
                   "field 'seconds': the TTL would become %llu s; the limit is 2592000 (30 days)",
                   (unsigned long long)l->ttl_s + seconds);
        return -1;
    }
    l->ttl_s += seconds;
    l->expires_ms += (int64_t)seconds * 1000;
    return 0;
}

void lp_err_lease_already_ended(lp_err *e, const lp_lease *l) {
    lp_err_set(e, WIRE_LEASE_ENDED, NULL, "lease %s had already ended (%s: %s)", l->id,
               lp_lease_state_name(l->state), l->end_reason);
}

void lp_err_lease_not_found(lp_err *e, const char *id) {
    lp_err_set(e, WIRE_NOT_FOUND, "list your leases with GET /v1/leases", "no lease %s", id);
}

void lp_err_lease_renew_ended(lp_err *e, const lp_lease *l) {
    lp_err_set(e, WIRE_LEASE_ENDED, "open a new lease", "lease %s has ended (%s: %s); it cannot be renewed",
               l->id, lp_lease_state_name(l->state), l->end_reason);
}

void lp_err_lease_extend_ended(lp_err *e, const lp_lease *l) {
    lp_err_set(e, WIRE_LEASE_ENDED, "open a new lease", "lease %s has ended (%s: %s)", l->id,
               lp_lease_state_name(l->state), l->end_reason);
}

void lp_event_lease_ended(lp_event *ev, const lp_lease *l, int state, const char *reason) {
    memset(ev, 0, sizeof *ev);
    snprintf(ev->id, sizeof ev->id, "%s", l->id);
    snprintf(ev->node, sizeof ev->node, "%s", l->node);
    ev->state = state;
    snprintf(ev->reason, sizeof ev->reason, "%s", reason);
}

void lp_offer_list_describe(lp_offer_list *out, const lp_lease_req *req) {
    lp_err why = {0};
    if (lp_match_check_cost(req, out->v[0].price, &why) != 0) {
        snprintf(out->message, sizeof out->message, "%s", why.message);
    } else {
        char price[LP_MONEY_MAX];
        snprintf(out->message, sizeof out->message, "%zu offer%s; cheapest: node %s, %s at %s/h per GPU",
                 out->n, out->n == 1 ? "" : "s", out->v[0].node, out->v[0].gpu_model,
                 lp_money_format(out->v[0].price, price, sizeof price));
    }
}

int lp_store_open(const char *url, lp_store **out, lp_err *e) {
    *out = NULL;
    if (!url || !*url) {
        lp_err_set(e, WIRE_INVALID, "pass --db PATH", "no database given");
        return -1;
    }
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
        return lp_store_pg_open(url, out, e);
    const char *path = url;
    if (!strncmp(path, "sqlite://", 9)) path += 9;
    return lp_store_sqlite_open(path, out, e);
}

/* Copies a libpq URL without its password (user:password@host → user@host, ?password=… dropped). */
void lp_store_url_redact(const char *url, char *out, size_t n) {
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    const char *auth_end = auth + strcspn(auth, "/?#");
    const char *at = NULL, *colon = NULL;
    for (const char *c = auth; c < auth_end; c++)
        if (*c == '@') at = c;
    if (at) colon = memchr(auth, ':', (size_t)(at - auth));
    size_t k = 0;
    for (const char *c = url; *c && k + 1 < n;) {
        if (colon && c == colon) {
            c = at;
            continue;
        }
        if (c > auth_end && (c[-1] == '?' || c[-1] == '&') && !strncmp(c, "password=", 9)) {
            c += strcspn(c, "&#");
            if (*c == '&') c++;
            continue;
        }
        out[k++] = *c++;
    }
    out[k] = '\0';
}
