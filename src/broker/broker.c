/* broker.c — the lp_broker object: configuration, start/stop, the (test-movable) clock, capacity
 * signalling for long-polls, and token creation for `lepton-broker token create`; how times are
 * written for operators (UTC, ISO 8601). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker_internal.h"
#include "clock.h"
#include "log.h"
#include "rand.h"
#include "sha256.h"

int64_t lp_broker_now(lp_broker *b) { return lp_wall_ms() + atomic_load(&b->clock_offset_ms); }

void lp_broker_advance(lp_broker *b, int64_t ms) { atomic_fetch_add(&b->clock_offset_ms, ms); }

uint64_t lp_broker_capacity_gen(lp_broker *b) {
    pthread_mutex_lock(&b->mu);
    uint64_t g = b->cap_gen;
    pthread_mutex_unlock(&b->mu);
    return g;
}

void lp_broker_capacity_changed(lp_broker *b) {
    pthread_mutex_lock(&b->mu);
    b->cap_gen++;
    pthread_cond_broadcast(&b->cap_cv);
    pthread_mutex_unlock(&b->mu);
}

int lp_broker_wait_capacity(lp_broker *b, uint64_t gen, int64_t deadline_mono_ms) {
    /* wake at least once a second to look again: capacity can come back without a signal (a lost
     * node's heartbeat) */
    int64_t until = lp_mono_ms() + 1000;
    if (until > deadline_mono_ms) until = deadline_mono_ms;
    struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000L};
    pthread_mutex_lock(&b->mu);
    while (!b->stopping && b->cap_gen == gen && lp_mono_ms() < until)
        if (pthread_cond_timedwait(&b->cap_cv, &b->mu, &ts) != 0) break;
    int stopping = b->stopping;
    pthread_mutex_unlock(&b->mu);
    return stopping ? -1 : 0;
}

void lp_broker_node_changed(lp_broker *b, const char *node) {
    pthread_mutex_lock(&b->mu);
    b->change_gen++;
    size_t k = b->change_gen % (sizeof b->changes / sizeof b->changes[0]);
    b->changes[k].gen = b->change_gen;
    snprintf(b->changes[k].node, sizeof b->changes[k].node, "%s", node);
    pthread_cond_broadcast(&b->node_cv);
    pthread_mutex_unlock(&b->mu);
}

uint64_t lp_broker_change_gen(lp_broker *b) {
    pthread_mutex_lock(&b->mu);
    uint64_t g = b->change_gen;
    pthread_mutex_unlock(&b->mu);
    return g;
}

/* Under mu: did node change after gen? (Also yes when the ring no longer reaches back to gen.) */
static int node_changed_since(lp_broker *b, const char *node, uint64_t gen) {
    const uint64_t ring = sizeof b->changes / sizeof b->changes[0];
    if (b->change_gen - gen >= ring) return 1;
    for (uint64_t g = gen + 1; g <= b->change_gen; g++)
        if (!strcmp(b->changes[g % ring].node, node)) return 1;
    return 0;
}

int lp_broker_wait_node(lp_broker *b, const char *node, uint64_t gen, int64_t deadline_mono_ms) {
    struct timespec ts = {(time_t)(deadline_mono_ms / 1000), (long)(deadline_mono_ms % 1000) * 1000000L};
    int rc = 0;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        if (b->stopping) {
            rc = -1;
            break;
        }
        if (node_changed_since(b, node, gen)) {
            rc = 1;
            break;
        }
        if (lp_mono_ms() >= deadline_mono_ms || pthread_cond_timedwait(&b->node_cv, &b->mu, &ts) != 0) break;
    }
    if (rc == 0 && node_changed_since(b, node, gen)) rc = 1;
    pthread_mutex_unlock(&b->mu);
    return rc;
}

/* Counts a lease the store ended on its own, with its bill (metrics.h). */
static void lease_ended_metrics(lp_broker *b, const char *id) {
    int64_t now = lp_broker_now(b);
    lp_lease l;
    lp_err e = {0};
    if (b->store->ops->lease_get(b->store, NULL, id, now, &l, &e) != 0) {
        lp_log(LP_LOG_WARN, "lease %s: not counted in /metrics: %s", id, e.message);
        return;
    }
    lp_metrics_lease_ended(b->metrics, &l, now);
    lp_lease_clear(&l);
}

void lp_broker_note_events(lp_broker *b, const lp_event_list *ev) {
    if (!ev || !ev->n) return;
    for (size_t i = 0; i < ev->n; i++) {
        const lp_event *e = &ev->v[i];
        lp_broker_node_changed(b, e->node);
        if (e->is_node) {
            lp_log(LP_LOG_WARN, "node %s lost: %s", e->node, e->reason);
        } else {
            lp_log(LP_LOG_INFO, "lease %s ended %s on node %s: %s", e->id, lp_lease_state_name(e->state),
                   e->node, e->reason);
            lease_ended_metrics(b, e->id);
        }
    }
    lp_broker_capacity_changed(b);
}

void lp_broker_stop(lp_broker *b) {
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->stopping = 1;
    pthread_cond_broadcast(&b->cap_cv);
    pthread_cond_broadcast(&b->reap_cv);
    pthread_cond_broadcast(&b->node_cv);
    pthread_mutex_unlock(&b->mu);
    lp_http_server_free(b->http); /* waits for handlers, which the broadcast above woke */
    lp_reaper_stop(b);
    lp_store_close(b->store);
    lp_metrics_free(b->metrics);
    pthread_cond_destroy(&b->cap_cv);
    pthread_cond_destroy(&b->reap_cv);
    pthread_cond_destroy(&b->node_cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

int lp_broker_start(const lp_broker_config *cfg, lp_broker **out, char *err, size_t err_size) {
    *out = NULL;
    if (!cfg || !cfg->db || !*cfg->db) {
        snprintf(err, err_size, "no database given (--db PATH)");
        return -1;
    }
    lp_broker *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    snprintf(b->listen, sizeof b->listen, "%s", cfg->listen ? cfg->listen : "127.0.0.1:7700");
    snprintf(b->db, sizeof b->db, "%s", cfg->db);
    if (cfg->dev_tenant && *cfg->dev_tenant) {
        snprintf(b->dev_tenant, sizeof b->dev_tenant, "%s", cfg->dev_tenant);
        b->has_dev_tenant = 1;
    }
    b->test_clock = cfg->test_clock;
    b->node_timeout_ms = cfg->node_timeout_ms > 0 ? cfg->node_timeout_ms : 15000;
    b->reap_interval_ms = cfg->reap_interval_ms > 0 ? cfg->reap_interval_ms : 100;
    b->max_body = cfg->max_body ? cfg->max_body : 65536;
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cap_cv, &ca);
    pthread_cond_init(&b->reap_cv, &ca);
    pthread_cond_init(&b->node_cv, &ca);
    pthread_condattr_destroy(&ca);
    b->metrics = lp_metrics_new();
    if (!b->metrics) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    lp_err e = {0};
    if (lp_store_open(b->db, &b->store, &e) != 0) {
        snprintf(err, err_size, "%s%s%s", e.message, *e.hint ? " (" : "", *e.hint ? e.hint : "");
        if (*e.hint) strncat(err, ")", err_size - strlen(err) - 1);
        goto fail;
    }
    if (b->store->ops->secret(b->store, b->secret, &e) != 0 ||
        (b->has_dev_tenant &&
         b->store->ops->tenant_ensure(b->store, b->dev_tenant, lp_broker_now(b), &e) != 0)) {
        snprintf(err, err_size, "%s", e.message);
        goto fail;
    }
    lp_http_config hc = {.listen = b->listen,
                         .max_body = b->max_body,
                         .max_connections = cfg->max_connections,
                         .idle_timeout_s = 120,
                         .log_name = "broker",
                         .tls_cert_file = cfg->tls_cert_file,
                         .tls_key_file = cfg->tls_key_file,
                         .head_timeout_s = cfg->head_timeout_s,
                         .max_per_ip = cfg->max_conn_per_ip};
    if (lp_http_server_new(&hc, &b->http, err, err_size) != 0) goto fail;
    lp_http_server_set_observer(b->http, lp_prom_http_observe, lp_metrics_http(b->metrics));
    if (lp_routes_health(b, b->http) || lp_routes_nodes(b, b->http) || lp_routes_quote(b, b->http) ||
        lp_routes_leases(b, b->http) || lp_routes_usage(b, b->http) || lp_routes_ui(b, b->http)) {
        snprintf(err, err_size, "cannot register routes");
        goto fail;
    }
    lp_reaper_tick(b); /* end what became overdue while the broker was down */
    if (lp_reaper_start(b) != 0) {
        snprintf(err, err_size, "cannot start the reaper thread");
        goto fail;
    }
    if (lp_http_server_start(b->http, err, err_size) != 0) goto fail;
    int tls = lp_http_server_is_tls(b->http);
    char db[1024];
    lp_store_url_redact(b->db, db, sizeof db);
    lp_log(LP_LOG_INFO, "broker listening on %s (port %d, %s%s), database %s, node timeout %lld ms%s%s%s",
           b->listen, lp_http_server_port(b->http), tls ? "HTTPS with certificate " : "plain HTTP",
           tls ? cfg->tls_cert_file : "", db, (long long)b->node_timeout_ms,
           b->test_clock ? ", test clock" : "", b->has_dev_tenant ? ", dev tenant " : "",
           b->has_dev_tenant ? b->dev_tenant : "");
    *out = b;
    return 0;
fail:
    lp_broker_stop(b);
    return -1;
}

int lp_broker_port(const lp_broker *b) { return b ? lp_http_server_port(b->http) : 0; }

_Static_assert(LP_BROKER_TOKEN_ID_MAX == LP_TOKEN_ID_MAX, "broker.h and store.h agree on a token id's size");

int lp_broker_token_create(const char *db, const char *tenant, int is_node, char *out, size_t out_size,
                           char *err, size_t err_size) {
    return lp_broker_token_mint(db, tenant, is_node, 0, out, out_size, NULL, err, err_size);
}

int lp_broker_token_mint(const char *db, const char *tenant, int is_node, int64_t expires_in_s, char *out,
                         size_t out_size, char id[LP_BROKER_TOKEN_ID_MAX], char *err, size_t err_size) {
    if (!tenant || !*tenant || strlen(tenant) > LP_NAME_MAX) {
        snprintf(err, err_size, "the tenant name must be 1..%d bytes", LP_NAME_MAX);
        return -1;
    }
    if (expires_in_s < 0 || expires_in_s > LP_BROKER_TOKEN_EXPIRES_MAX_S) {
        snprintf(err, err_size, "a token's lifetime must be 1..%lld seconds (or none), got %lld",
                 (long long)LP_BROKER_TOKEN_EXPIRES_MAX_S, (long long)expires_in_s);
        return -1;
    }
    if (out_size < 4 + 64 + 1) {
        snprintf(err, err_size, "token buffer too small");
        return -1;
    }
    lp_store *s;
    lp_err e = {0};
    if (lp_store_open(db, &s, &e) != 0) {
        snprintf(err, err_size, "%s", e.message);
        return -1;
    }
    int rc = -1;
    if (lp_random_id(out, out_size, is_node ? "lpn_" : "lpt_", 32) != 0) {
        snprintf(err, err_size, "no randomness available");
    } else {
        char hash[65];
        lp_sha256_hex(out, strlen(out), hash);
        int64_t now = lp_wall_ms();
        if (s->ops->token_create(s, tenant, is_node, hash, now, expires_in_s ? now + expires_in_s * 1000 : 0,
                                 &e) != 0) {
            snprintf(err, err_size, "%s", e.message);
        } else {
            if (id) lp_token_id(hash, id);
            rc = 0;
        }
    }
    if (rc != 0) out[0] = 0;
    lp_store_close(s);
    return rc;
}

void lp_broker_time_text(int64_t unix_ms, char out[LP_BROKER_TIME_TEXT_MAX]) {
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, LP_BROKER_TIME_TEXT_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, LP_BROKER_TIME_TEXT_MAX, "%lld ms", (long long)unix_ms);
}
