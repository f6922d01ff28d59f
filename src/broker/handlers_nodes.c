/* handlers_nodes.c — node endpoints: register, heartbeat (returns the node's active leases),
 * deregister, list. Also hands each node its node_key for verifying lease tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"
#include "clock.h"
#include "json_field.h"
#include "lease_token.h"
#include "log.h"
#include "money.h"
#include "rand.h"
#include "wire.h"

static int valid_name(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._-:", *s)))
            return 0;
    return 1;
}

static json_t *node_reply(lp_broker *b, const lp_node *n) {
    /* node_timeout_ms lets the agent fence itself: it stops its workers when no heartbeat has been
     * answered for that long (less a margin), before the broker fails its leases (docs/protocol.md) */
    json_t *o = json_pack("{s:o, s:I, s:I}", "node", lp_node_json(n), "heartbeat_interval_ms",
                          (json_int_t)(b->node_timeout_ms / 3 > 0 ? b->node_timeout_ms / 3 : 1),
                          "node_timeout_ms", (json_int_t)b->node_timeout_ms);
    return o;
}

/* A GPU UUID as the driver reports it ("GPU-8c1f…", "MIG-…"): 1..LP_NAME_MAX characters of
 * [A-Za-z0-9._:/-]. */
static int valid_uuid(const char *s) {
    if (!*s || strlen(s) > LP_NAME_MAX) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._-:/", *s)))
            return 0;
    return 1;
}

/* The node's data-plane address: an http:// or https:// URL with a host, no spaces or controls. */
static int valid_address(const char *s) {
    size_t pre = !strncmp(s, "http://", 7) ? 7 : !strncmp(s, "https://", 8) ? 8 : 0;
    if (!pre || !s[pre] || s[pre] == '/' || s[pre] == ':') return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f) return 0;
    return 1;
}

int lp_node_reg_decode(const json_t *j, lp_node_reg *reg, lp_gpu **gpus_out, char *err, size_t err_size) {
    const char *name = NULL, *address = NULL;
    double price = 0;
    const json_t *gpus = NULL;
    lp_gpu *gv = NULL;
    *gpus_out = NULL;
    memset(reg, 0, sizeof *reg);
    if (lp_json_str(j, "name", LP_NAME_MAX, &name, err, err_size) ||
        lp_json_str(j, "address", LP_STR_MAX, &address, err, err_size) ||
        lp_json_num(j, "price_per_gpu_hour", 0, 1e9, &price, err, err_size) ||
        lp_json_arr(j, "gpus", &gpus, err, err_size))
        return -1;
    if (!name || !valid_name(name)) {
        snprintf(err, err_size, "field 'name' is required: 1..%d characters of [A-Za-z0-9._:-]", LP_NAME_MAX);
        return -1;
    }
    if (!address || !valid_address(address)) {
        snprintf(
            err, err_size,
            "field 'address' is required: the data-plane URL clients reach the node at (http://HOST:PORT or "
            "https://HOST:PORT, no spaces), got '%.100s'",
            address ? address : "");
        return -1;
    }
    size_t n = gpus ? json_array_size(gpus) : 0;
    if (n < 1 || n > 1024) {
        snprintf(err, err_size, "field 'gpus' must list 1..1024 GPUs, got %zu", n);
        return -1;
    }
    gv = calloc(n, sizeof *gv);
    if (!gv) return -2;
    for (size_t i = 0; i < n; i++) {
        const json_t *g = json_array_get(gpus, i);
        const char *uuid = NULL, *model = NULL, *gaddr = NULL;
        int64_t mem = 0;
        if (!json_is_object(g)) {
            snprintf(err, err_size, "field 'gpus[%zu]' must be an object {uuid, model, memory}", i);
            goto bad;
        }
        if (lp_json_str(g, "uuid", LP_NAME_MAX, &uuid, err, err_size) ||
            lp_json_str(g, "model", LP_NAME_MAX, &model, err, err_size) ||
            lp_json_int(g, "memory", 0, INT64_MAX, &mem, err, err_size) ||
            lp_json_str(g, "address", LP_STR_MAX, &gaddr, err, err_size)) {
            char inner[256];
            snprintf(inner, sizeof inner, "%s", err);
            snprintf(err, err_size, "in gpus[%zu]: %.200s", i, inner);
            goto bad;
        }
        if (!uuid || !*uuid) {
            snprintf(err, err_size, "field 'gpus[%zu].uuid' is required", i);
            goto bad;
        }
        if (!valid_uuid(uuid)) {
            snprintf(err, err_size,
                     "field 'gpus[%zu].uuid' must be the GPU's UUID (1..%d characters of "
                     "[A-Za-z0-9._:/-], e.g. GPU-8c1f2d3e-...), got '%.100s'",
                     i, LP_NAME_MAX, uuid);
            goto bad;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(gv[k].uuid, uuid)) {
                snprintf(err, err_size,
                         "field 'gpus[%zu].uuid' repeats gpus[%zu].uuid '%.100s': each GPU once", i, k, uuid);
                goto bad;
            }
        gv[i].index = (uint32_t)i;
        snprintf(gv[i].uuid, sizeof gv[i].uuid, "%s", uuid);
        snprintf(gv[i].model, sizeof gv[i].model, "%s", model && *model ? model : "unknown");
        gv[i].memory = (uint64_t)mem;
        snprintf(gv[i].address, sizeof gv[i].address, "%s", gaddr ? gaddr : "");
    }
    reg->name = name;
    reg->address = address;
    reg->price = price;
    reg->gpu_count = n;
    reg->gpus = gv;
    *gpus_out = gv;
    return 0;
bad:
    free(gv);
    return -1;
}

static void h_register(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_NODE, &who) != 0) return;
    json_t *j = lp_http_json_body(r);
    if (!j) return;
    char err[256];
    lp_gpu *gv = NULL;
    lp_node_reg reg;
    int drc = lp_node_reg_decode(j, &reg, &gv, err, sizeof err);
    if (drc == -2) {
        json_decref(j);
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return;
    }
    if (drc != 0) goto bad;
    lp_node node;
    lp_event_list ended = {0};
    lp_err e = {0};
    int created = 0;
    int rc =
        b->store->ops->node_register(b->store, &who, &reg, lp_broker_now(b), &node, &created, &ended, &e);
    free(gv);
    gv = NULL;
    if (rc != 0) {
        json_decref(j);
        lp_reply_err(r, &e);
        return;
    }
    char price_text[LP_MONEY_MAX];
    lp_log(LP_LOG_INFO, "node %s %s by tenant %s: %zu GPUs at %s/h, address %s", node.name,
           created ? "registered" : "re-registered", who.tenant, node.gpu_count,
           lp_money_format(node.price, price_text, sizeof price_text), node.address);
    lp_broker_note_events(b, &ended);
    lp_event_list_clear(&ended);
    lp_broker_capacity_changed(b);
    json_t *body = node_reply(b, &node);
    unsigned char key[32];
    char hex[65];
    lp_node_key(b->secret, sizeof b->secret, node.name, key);
    lp_hex(hex, key, 32);
    json_object_set_new(body, "node_key", json_string(hex));
    lp_node_clear(&node);
    json_decref(j);
    lp_http_reply_json_take(r, created ? 201 : 200, body);
    return;
bad:
    free(gv);
    json_decref(j);
    lp_http_reply_error(r, WIRE_INVALID, NULL, "%s", err);
}

/* 1 when the node's active leases (ll) are exactly the ids in `known` (a JSON array of strings). */
static int same_lease_set(const json_t *known, const lp_lease_list *ll) {
    if (json_array_size(known) != ll->n) return 0;
    for (size_t i = 0; i < ll->n; i++) {
        int found = 0;
        size_t k;
        json_t *id;
        json_array_foreach(known, k, id) {
            if (json_is_string(id) && !strcmp(json_string_value(id), ll->v[i].id)) {
                found = 1;
                break;
            }
        }
        if (!found) return 0;
    }
    return 1;
}

int lp_heartbeat_decode(const json_t *j, int64_t *wait, const json_t **known, char *err, size_t err_size) {
    *known = NULL;
    if (lp_json_int(j, "wait_ms", 0, 600000, wait, err, err_size) ||
        lp_json_arr(j, "known", known, err, err_size))
        return -1;
    for (size_t k = 0; *known && k < json_array_size(*known); k++)
        if (!json_is_string(json_array_get(*known, k))) {
            snprintf(err, err_size, "known[%zu] must be a lease id string", k);
            return -1;
        }
    return 0;
}

/* POST /v1/nodes/{name}/heartbeat {"wait_ms": N, "known": [lease ids]}: records a heartbeat and
 * answers with the node's active leases. With wait_ms it long-polls until the set changes; with
 * `known` (the ids the agent already serves) it answers at once when the current set differs from
 * it, so a grant that landed between two heartbeats is never held back. */
static void h_heartbeat(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_NODE, &who) != 0) return;
    json_t *j = lp_http_json_body(r);
    if (!j) return;
    int64_t wait = 0;
    char err[256];
    const json_t *known = NULL;
    if (lp_heartbeat_decode(j, &wait, &known, err, sizeof err) != 0) {
        json_decref(j);
        lp_http_reply_error(r, WIRE_INVALID, NULL, "%s", err);
        return;
    }
    /* a long-poll may not outlast half the node timeout, or the node would be declared lost */
    if (wait > b->node_timeout_ms / 2) wait = b->node_timeout_ms / 2;
    const char *name = lp_http_param(r, "name");
    int64_t deadline = lp_mono_ms() + wait;
    uint64_t gen = lp_broker_change_gen(b);
    lp_node node;
    lp_lease_list ll;
    lp_err e = {0};
    if (b->store->ops->node_heartbeat(b->store, &who, name, lp_broker_now(b), &node, &ll, &e) != 0) {
        json_decref(j);
        lp_reply_err(r, &e);
        return;
    }
    int changed = known && !same_lease_set(known, &ll);
    if (wait > 0 && !changed) {
        /* Whether the leases changed or the wait ran out, the heartbeat is recorded again now, when
         * it is answered: the node is known to be alive up to here, and a lost node's leases are
         * billed up to its last answered heartbeat (not the start of its last long-poll). */
        lp_broker_wait_node(b, name, gen, deadline);
        lp_node_clear(&node);
        lp_lease_list_clear(&ll);
        if (b->store->ops->node_heartbeat(b->store, &who, name, lp_broker_now(b), &node, &ll, &e) != 0) {
            json_decref(j);
            lp_reply_err(r, &e);
            return;
        }
    }
    json_decref(j);
    json_t *arr = json_array();
    for (size_t i = 0; i < ll.n; i++)
        json_array_append_new(arr, lp_lease_node_json(&ll.v[i]));
    lp_lease_list_clear(&ll);
    json_t *body = node_reply(b, &node);
    json_object_set_new(body, "leases", arr);
    json_object_set_new(body, "known_checked", json_true());
    lp_node_clear(&node);
    lp_http_reply_json_take(r, 200, body);
}

static void h_deregister(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_NODE, &who) != 0) return;
    lp_node node;
    lp_event_list ended = {0};
    lp_err e = {0};
    if (b->store->ops->node_deregister(b->store, &who, lp_http_param(r, "name"), lp_broker_now(b), &node,
                                       &ended, &e) != 0) {
        lp_reply_err(r, &e);
        return;
    }
    lp_log(LP_LOG_INFO, "node %s deregistered", node.name);
    lp_broker_note_events(b, &ended);
    lp_event_list_clear(&ended);
    lp_http_reply_json_take(r, 200, json_pack("{s:o}", "node", lp_node_json(&node)));
    lp_node_clear(&node);
}

/* POST /v1/nodes/{name}/leases/{id}/fail {"reason"}: the agent could not keep a lease's GPU. */
static void h_fail(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_NODE, &who) != 0) return;
    json_t *j = lp_http_json_body(r);
    if (!j) return;
    const char *why = NULL;
    char err[256];
    if (lp_json_str(j, "reason", 200, &why, err, sizeof err) != 0) {
        json_decref(j);
        lp_http_reply_error(r, WIRE_INVALID, NULL, "%s", err);
        return;
    }
    const char *name = lp_http_param(r, "name"), *id = lp_http_param(r, "id");
    char reason[256];
    snprintf(reason, sizeof reason, "node %s failed the lease: %s", name,
             why && *why ? why : "no reason given");
    json_decref(j);
    int64_t now = lp_broker_now(b);
    lp_lease l;
    lp_err e = {0};
    if (b->store->ops->lease_fail_on_node(b->store, &who, name, id, reason, now, &l, &e) != 0) {
        if (e.code && !strcmp(e.code, WIRE_LEASE_ENDED)) {
            lp_reply_lease_ended(r, b, &e, &l, now);
            lp_lease_clear(&l);
        } else {
            lp_reply_err(r, &e);
        }
        return;
    }
    lp_log(LP_LOG_WARN, "lease %s ended failed on node %s: %s", l.id, name, reason);
    lp_metrics_lease_ended(b->metrics, &l, now);
    lp_broker_capacity_changed(b);
    lp_broker_node_changed(b, name);
    lp_http_reply_json_take(r, 200, json_pack("{s:o}", "lease", lp_lease_json(b, &l, now)));
    lp_lease_clear(&l);
}

static void h_list(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_TENANT, &who) != 0) return;
    lp_node_list nl;
    lp_err e = {0};
    if (b->store->ops->node_list(b->store, &nl, &e) != 0) {
        lp_reply_err(r, &e);
        return;
    }
    /* A GPU's lease id shows only to the tenant that holds the lease; another tenant's shows as
     * null with "leased": true (ids of other tenants' leases are not revealed). */
    lp_lease_list own = {0};
    if (b->store->ops->lease_list(b->store, who.tenant, LS_ACTIVE, lp_broker_now(b), &own, &e) != 0) {
        lp_node_list_clear(&nl);
        lp_reply_err(r, &e);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < nl.n; i++) {
        json_t *n = lp_node_json(&nl.v[i]);
        json_t *g;
        size_t k;
        json_array_foreach(json_object_get(n, "gpus"), k, g) {
            const char *id = json_string_value(json_object_get(g, "lease_id"));
            int mine = 0;
            for (size_t o = 0; id && o < own.n && !mine; o++)
                mine = !strcmp(own.v[o].id, id);
            json_object_set_new(g, "leased", json_boolean(id != NULL));
            if (id && !mine) json_object_set_new(g, "lease_id", json_null());
        }
        json_array_append_new(arr, n);
    }
    lp_lease_list_clear(&own);
    lp_node_list_clear(&nl);
    lp_http_reply_json_take(r, 200, json_pack("{s:o}", "nodes", arr));
}

int lp_routes_nodes(lp_broker *b, lp_http_server *s) {
    int rc = lp_http_server_route(s, "POST", "/v1/nodes", h_register, b);
    rc |= lp_http_server_route(s, "GET", "/v1/nodes", h_list, b);
    rc |= lp_http_server_route(s, "POST", "/v1/nodes/{name}/heartbeat", h_heartbeat, b);
    rc |= lp_http_server_route(s, "DELETE", "/v1/nodes/{name}", h_deregister, b);
    rc |= lp_http_server_route(s, "POST", "/v1/nodes/{name}/leases/{id}/fail", h_fail, b);
    return rc;
}
