/* agent_broker.c — leptond's link with the broker (agent_internal.h, docs/protocol.md): the
 * heartbeat thread registers the node and heartbeats, long-polling for changes of its leases and
 * reconciling the lease table with each answer; fencing stops every worker when no heartbeat has
 * been answered for nearly the broker's node timeout; the main thread reports leases that failed
 * here and deregisters at shutdown. Calls go through broker_client.h. */
#define _XOPEN_SOURCE 700
#include "agent_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define HB_MAX_MS 1000 /* heartbeat at least this often (the broker's interval may be longer) */
#define CALL_TIMEOUT_MS 5000
/* How long a heartbeat may long-poll. A broker that compares the node's known leases ("known")
 * with its own before waiting says so with "known_checked": true and gets long waits; otherwise a
 * grant that lands between two heartbeats is held until the wait ends, so the wait stays short. */
#define LONG_POLL_MAX_MS 30000
#define LONG_POLL_BLIND_MS 1000
/* Fencing (docs/protocol.md "Heartbeats and fencing"): when no heartbeat sent in the last
 * node_timeout - margin has been answered, the broker may be about to declare the node lost and
 * fail its leases, so the agent stops its workers first. margin = node_timeout / 5, at least
 * FENCE_MARGIN_MIN_MS, at most half the timeout. */
#define FENCE_MARGIN_MIN_MS 500

/* How long after sending the last answered heartbeat the agent fences itself; 0 = never. */
static int64_t fence_after_ms(int64_t node_timeout_ms) {
    if (node_timeout_ms <= 0) return 0;
    int64_t margin = node_timeout_ms / 5;
    if (margin < FENCE_MARGIN_MIN_MS) margin = FENCE_MARGIN_MIN_MS;
    if (margin > node_timeout_ms / 2) margin = node_timeout_ms / 2;
    return node_timeout_ms - margin;
}

int ag_broker_open(lp_agent *a, char *err, size_t en) {
    const lp_agent_config *cfg = &a->cfg;
    if (cfg->ca_file[0] && access(cfg->ca_file, R_OK) != 0) {
        snprintf(err, en, "cannot read the CA file %s (--ca-file): %s", cfg->ca_file, strerror(errno));
        return -1;
    }
    if (cfg->ca_file[0] && strncmp(cfg->broker, "https://", 8) != 0)
        lp_log(LP_LOG_WARN, "node %s: --ca-file %s is not used: the broker %s is not https://", cfg->name,
               cfg->ca_file, cfg->broker);
    a->bc = lp_broker_client_new(cfg->broker, cfg->token, cfg->ca_file);
    a->hb_bc = lp_broker_client_new(cfg->broker, cfg->token, cfg->ca_file);
    if (!a->bc || !a->hb_bc) {
        snprintf(err, en, "cannot set up libcurl");
        return -1;
    }
    return 0;
}

/* Notes a heartbeat (or registration) the broker answered, sent at sent_ms (monotonic): the broker
 * records it no earlier than that, so the node stays alive there for node_timeout from sent_ms at
 * least. A heartbeat's answer (once its leases are reconciled) lifts a fence; a registration's does
 * not, since it lists no leases: the next heartbeat tells which are still active. Under mu. */
static void answered(lp_agent *a, int64_t sent_ms, const json_t *ans, int lift) {
    json_int_t t = json_integer_value(json_object_get(ans, "node_timeout_ms"));
    if (t > 0) a->node_timeout_ms = t;
    if (sent_ms > a->answered_ms) a->answered_ms = sent_ms;
    if (a->fenced && lift) {
        a->fenced = 0;
        lp_log(LP_LOG_INFO,
               "node %s: the broker answers again; fence lifted (the workers of leases still active "
               "there start again; their buffers are lost)",
               a->cfg.name);
    }
}

static json_t *registration(const lp_agent *a) {
    json_t *gpus = json_array();
    for (int i = 0; i < a->nslots; i++)
        json_array_append_new(gpus,
                              json_pack("{s:s, s:s, s:I, s:s}", "uuid", a->slots[i].gpu.uuid, "model",
                                        a->slots[i].gpu.name, "memory", (json_int_t)a->slots[i].gpu.memory,
                                        "address", a->slots[i].address));
    char addr[400];
    snprintf(addr, sizeof addr, "%s://%s:%d", ag_scheme(a), a->adv_host, a->port);
    return json_pack("{s:s, s:s, s:f, s:o}", "name", a->cfg.name, "address", addr, "price_per_gpu_hour",
                     a->cfg.price, "gpus", gpus);
}

static void contact(lp_agent *a, int ok, const char *err) {
    pthread_mutex_lock(&a->mu);
    if (ok)
        a->ctr.broker_ok++;
    else
        a->ctr.broker_failed++;
    if (ok) {
        if (!a->broker_ok && a->last_contact_ms)
            lp_log(LP_LOG_INFO, "node %s: broker reachable again", a->cfg.name);
        a->broker_ok = 1;
        a->last_contact_ms = lp_wall_ms();
    } else if (a->broker_ok || !a->last_contact_ms) {
        lp_log(LP_LOG_WARN, "node %s: broker unreachable: %s (leases end on their own at their expiry)",
               a->cfg.name, err);
        a->broker_ok = 0;
        if (!a->last_contact_ms) a->last_contact_ms = -1;
    }
    pthread_mutex_unlock(&a->mu);
}

/* Returns 0, 1 to retry later, -1 when fatal. */
static int do_register(lp_agent *a) {
    json_t *body = registration(a), *ans = NULL;
    char err[600];
    int64_t sent = lp_mono_ms();
    int st = lp_broker_call(a->hb_bc, "POST", "/v1/nodes", body, CALL_TIMEOUT_MS, &ans, err, sizeof err);
    json_decref(body);
    if (st < 0 || st >= 500) {
        contact(a, 0, err);
        json_decref(ans);
        return 1;
    }
    contact(a, 1, NULL);
    if (st != 200 && st != 201) {
        lp_log(LP_LOG_ERROR, "node %s: the broker refused the registration: %s", a->cfg.name, err);
        json_decref(ans);
        return st == 401 || st == 403 || st == 400 ? -1 : 1;
    }
    const char *key = json_string_value(json_object_get(ans, "node_key"));
    json_int_t iv = json_integer_value(json_object_get(ans, "heartbeat_interval_ms"));
    if (!key || strlen(key) != 64) {
        lp_log(LP_LOG_ERROR,
               "node %s: the broker's registration answer has no node_key; lease tokens cannot be checked",
               a->cfg.name);
        json_decref(ans);
        return -1;
    }
    pthread_mutex_lock(&a->mu);
    if (a->node_key[0] && strcmp(a->node_key, key) != 0) {
        /* the broker signs with a new key now: running workers would refuse every new token */
        lp_log(LP_LOG_WARN, "node %s: the broker handed out a new node key; restarting the workers with it",
               a->cfg.name);
        for (int i = 0; i < a->nslots; i++)
            ag_slot_stop(&a->slots[i], "the node key changed");
    }
    snprintf(a->node_key, sizeof a->node_key, "%s", key);
    a->hb_interval_ms = iv > 0 ? iv : 5000;
    a->registered = 1;
    answered(a, sent, ans, 0);
    pthread_mutex_unlock(&a->mu);
    lp_log(LP_LOG_INFO,
           "node %s: registered with %s (%s): %d GPUs at $%.4f/h, workers on ports %d..%d, heartbeat every "
           "%lld ms",
           a->cfg.name, a->cfg.broker, st == 201 ? "new" : "again", a->nslots, a->cfg.price, a->port + 1,
           a->port + a->nslots, (long long)(a->hb_interval_ms < HB_MAX_MS ? a->hb_interval_ms : HB_MAX_MS));
    json_decref(ans);
    return 0;
}

/* One heartbeat, long-polling up to wait_ms for a change of the node's leases.
 * Returns 0 (answered; *changed says whether the leases changed), -1 (no answer) or 1 (the broker
 * does not know the node: register again). */
static int heartbeat(lp_agent *a, int64_t wait_ms, int *changed) {
    char path[300], err[600];
    *changed = 0;
    snprintf(path, sizeof path, "/v1/nodes/%s/heartbeat", a->cfg.name);
    json_t *body = json_object(), *ans = NULL, *known = json_array();
    if (wait_ms > 0) json_object_set_new(body, "wait_ms", json_integer((json_int_t)wait_ms));
    pthread_mutex_lock(&a->mu);
    for (ag_lease *l = a->leases; l; l = l->next)
        json_array_append_new(known, json_string(l->id));
    pthread_mutex_unlock(&a->mu);
    json_object_set_new(body, "known", known);
    int64_t sent = lp_mono_ms();
    int st =
        lp_broker_call(a->hb_bc, "POST", path, body, (long)wait_ms + CALL_TIMEOUT_MS, &ans, err, sizeof err);
    json_decref(body);
    int rc = 0;
    if (flag_get(&a->stop)) {
        rc = -1;
    } else if (st < 0 || st >= 500) {
        contact(a, 0, err);
        rc = -1;
    } else if (st == 404) {
        contact(a, 1, NULL);
        lp_log(LP_LOG_WARN, "node %s: the broker does not know this node (%s); registering again",
               a->cfg.name, err);
        pthread_mutex_lock(&a->mu);
        a->registered = 0;
        pthread_mutex_unlock(&a->mu);
        rc = 1;
    } else if (st == 400 && wait_ms > 0 && !a->no_long_poll) {
        contact(a, 1, NULL);
        lp_log(LP_LOG_WARN,
               "node %s: the broker refused a long-polling heartbeat (%s); heartbeating without wait_ms",
               a->cfg.name, err);
        a->no_long_poll = 1;
        rc = -1;
    } else if (st != 200) {
        contact(a, 1, NULL);
        lp_log(LP_LOG_ERROR, "node %s: heartbeat refused: %s", a->cfg.name, err);
        rc = -1;
    } else {
        contact(a, 1, NULL);
        a->known_checked = json_is_true(json_object_get(ans, "known_checked"));
        const json_t *leases = json_object_get(ans, "leases");
        if (json_is_array(leases)) *changed = ag_reconcile(a, leases);
        pthread_mutex_lock(&a->mu);
        answered(a, sent, ans, 1); /* after reconcile: leases the broker ended are not restarted */
        pthread_mutex_unlock(&a->mu);
    }
    json_decref(ans);
    return rc;
}

static void nap(lp_agent *a, int64_t ms) {
    for (int64_t end = lp_mono_ms() + ms; !flag_get(&a->stop) && lp_mono_ms() < end;)
        lp_sleep_ms(20);
}

/* The heartbeat thread: registers, then heartbeats. A broker that long-polls answers as soon as
 * the node's leases change, so grants reach the workers without waiting for the next beat. */
void *ag_hb_main(void *arg) {
    lp_agent *a = arg;
    while (!flag_get(&a->stop)) {
        if (!a->registered) {
            int r = do_register(a);
            if (r < 0) {
                flag_set(&a->fatal);
                break;
            }
            if (r > 0) nap(a, 2000);
            continue;
        }
        int64_t iv = a->hb_interval_ms, beat = iv < HB_MAX_MS ? iv : HB_MAX_MS;
        /* long-poll for up to the broker's interval (it keeps a node alive), at most LONG_POLL_MAX_MS */
        int64_t cap = a->known_checked ? LONG_POLL_MAX_MS : LONG_POLL_BLIND_MS;
        int64_t wait = a->no_long_poll ? 0 : iv < cap ? iv : cap;
        /* Fencing counts from when the last answered heartbeat was sent, so two long-polls back to
         * back may pass before an answer moves it: keep each to a third of the fencing time. */
        int64_t fence_wait = fence_after_ms(a->node_timeout_ms) / 3;
        if (fence_wait > 0 && wait > fence_wait) wait = fence_wait;
        int64_t t0 = lp_mono_ms();
        int changed = 0;
        int r = heartbeat(a, wait, &changed);
        int64_t took = lp_mono_ms() - t0;
        if (r < 0)
            nap(a, beat);
        else if (r == 0 && !changed && took < wait / 2 + 1)
            nap(a, beat - took); /* the broker answered at once: it does not long-poll */
    }
    return NULL;
}

/* Tells the broker about leases that failed here (POST /v1/nodes/{name}/leases/{id}/fail; the broker
 * ends the lease as failed and bills it to then). A report the broker cannot take now is retried on
 * the next turn; one it refuses leaves the lease to end otherwise (closed, expired). */
void ag_report_failures(lp_agent *a) {
    char ids[8][128], reasons[8][600];
    int n = 0;
    pthread_mutex_lock(&a->mu);
    for (ag_lease *l = a->leases; l && n < 8; l = l->next)
        if (l->failed && !l->fail_reported) {
            snprintf(ids[n], sizeof ids[n], "%s", l->id);
            snprintf(reasons[n], sizeof reasons[n], "%s", l->fail_reason);
            n++;
        }
    pthread_mutex_unlock(&a->mu);
    for (int i = 0; i < n; i++) {
        char path[400], err[600];
        snprintf(path, sizeof path, "/v1/nodes/%.128s/leases/%.128s/fail", a->cfg.name, ids[i]);
        reasons[i][200] = 0; /* the broker keeps at most 200 bytes */
        json_t *body = json_pack("{s:s}", "reason", reasons[i]), *ans = NULL;
        int st = lp_broker_call(a->bc, "POST", path, body, CALL_TIMEOUT_MS, &ans, err, sizeof err);
        json_decref(body);
        json_decref(ans);
        if (st < 0 || st >= 500) {
            contact(a, 0, err);
            continue; /* retried on the next turn */
        }
        contact(a, 1, NULL);
        if (st >= 200 && st < 300)
            lp_log(LP_LOG_INFO, "lease %s node %s: reported failed to the broker", ids[i], a->cfg.name);
        else if (st == 410)
            lp_log(LP_LOG_INFO, "lease %s node %s: had already ended at the broker", ids[i], a->cfg.name);
        else
            lp_log(LP_LOG_WARN,
                   "lease %s node %s: the broker did not take the failure report (%s); it stays active there "
                   "until it is closed or expires",
                   ids[i], a->cfg.name, err);
        pthread_mutex_lock(&a->mu);
        ag_lease *l = ag_find_lease(a, ids[i]);
        if (l) l->fail_reported = 1;
        pthread_mutex_unlock(&a->mu);
    }
}

void ag_fence_check(lp_agent *a, int64_t now) {
    int64_t fence_after = fence_after_ms(a->node_timeout_ms);
    if (!a->fenced && fence_after > 0 && a->answered_ms > 0 && now - a->answered_ms >= fence_after) {
        a->fenced = 1;
        int n = 0;
        for (int i = 0; i < a->nslots; i++)
            if (a->slots[i].lease) {
                ag_slot_stop(&a->slots[i], "fenced: the broker is unreachable");
                n++;
            }
        lp_log(LP_LOG_WARN,
               "node %s: fenced: no heartbeat answered for %.1f s (the broker declares the node lost after "
               "%.1f s and fails its leases); stopping %d worker%s until the broker answers again",
               a->cfg.name, (double)(now - a->answered_ms) / 1000.0, (double)a->node_timeout_ms / 1000.0, n,
               n == 1 ? "" : "s");
    }
}

void ag_deregister(lp_agent *a) {
    if (a->registered) {
        char path[300], err[600];
        json_t *ans = NULL;
        snprintf(path, sizeof path, "/v1/nodes/%s", a->cfg.name);
        int st = lp_broker_call(a->bc, "DELETE", path, NULL, 3000, &ans, err, sizeof err);
        json_decref(ans);
        if (st >= 200 && st < 300)
            lp_log(LP_LOG_INFO, "node %s: deregistered", a->cfg.name);
        else
            lp_log(LP_LOG_WARN, "node %s: could not deregister: %s", a->cfg.name, err);
    }
}
