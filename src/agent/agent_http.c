/* agent_http.c — leptond's own HTTP endpoint (agent_internal.h): GET /healthz (the node, its GPUs
 * and their workers, as JSON) and GET /metrics (agent_metrics.h), both read under the agent's
 * mutex. */
#define _XOPEN_SOURCE 700
#include "agent_internal.h"
#include "lepton/lepton.h"

#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "wire.h"

static void h_healthz(lp_http_req *r, void *user) {
    lp_agent *a = user;
    pthread_mutex_lock(&a->mu);
    ag_reap_settled(a); /* a worker that has just exited shows as gone, not as a zombie yet to be reaped */
    json_t *gpus = json_array();
    for (int i = 0; i < a->nslots; i++) {
        const ag_slot *s = &a->slots[i];
        /* a lease the agent ended on its own (TTL, cost cap) no longer holds the GPU here, though
         * the broker has yet to confirm it */
        int held = s->lease && !(s->lease->ended_local && s->pid <= 0);
        const char *state = !held                   ? "free"
                            : s->lease->failed      ? "failed"
                            : s->lease->ended_local ? "ending"
                            : s->pid > 0            ? (s->stopping ? "stopping" : "running")
                            : a->fenced             ? "fenced"
                                                    : "starting";
        json_array_append_new(gpus,
                              json_pack("{s:i, s:i, s:s, s:s, s:I, s:s, s:o, s:o, s:s, s:i}", "index", i,
                                        "ordinal", s->gpu.ordinal, "uuid", s->gpu.uuid, "model", s->gpu.name,
                                        "memory", (json_int_t)s->gpu.memory, "address", s->address, "lease",
                                        held ? json_string(s->lease->id) : json_null(), "worker_pid",
                                        s->pid > 0 ? json_integer(s->pid) : json_null(), "state", state,
                                        "restarts", s->restarts));
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:o, s:o}", "status", "ok", "version",
                          LEPTON_VERSION_STRING, "node", a->cfg.name, "registered", a->registered,
                          "broker_reachable", a->broker_ok, "fenced", a->fenced, "last_broker_contact_at",
                          a->last_contact_ms > 0 ? json_integer(a->last_contact_ms / 1000) : json_null(),
                          "gpus", gpus);
    pthread_mutex_unlock(&a->mu);
    lp_http_reply_json_take(r, 200, o);
}

/* Prometheus text (agent_metrics.h): a snapshot taken under mu. */
static void h_metrics(lp_http_req *r, void *user) {
    lp_agent *a = user;
    lp_agent_metrics_view *v = calloc(1, sizeof *v);
    if (!v) {
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return;
    }
    int64_t now = lp_mono_ms();
    pthread_mutex_lock(&a->mu);
    ag_reap_settled(a);
    v->registered = a->registered;
    v->broker_reachable = a->broker_ok;
    v->fenced = a->fenced;
    v->last_contact_ms = a->last_contact_ms;
    for (ag_lease *l = a->leases; l; l = l->next)
        v->leases++;
    v->ngpus = a->nslots;
    for (int i = 0; i < a->nslots; i++) {
        const ag_slot *s = &a->slots[i];
        snprintf(v->gpus[i].model, sizeof v->gpus[i].model, "%s", s->gpu.name);
        v->gpus[i].leased = s->lease && !(s->lease->ended_local && s->pid <= 0); /* as in /healthz */
        v->gpus[i].held_seconds = (double)(s->held_ms + (s->lease ? now - s->held_since_ms : 0)) / 1000;
    }
    v->c = a->ctr;
    pthread_mutex_unlock(&a->mu);
    size_t len = 0;
    char *text = lp_agent_metrics_render(v, a->http_metrics, &len);
    free(v);
    if (!text) {
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return;
    }
    lp_http_reply_bytes(r, 200, LP_PROM_CONTENT_TYPE, text, len);
    free(text);
}

int ag_http_start(lp_agent *a, char *err, size_t en) {
    const lp_agent_config *cfg = &a->cfg;
    /* the health listener reads the certificate and key now, so that bad files stop leptond at
     * start rather than each lease's worker later */
    lp_http_config hc = {.listen = cfg->listen,
                         .max_body = 4096,
                         .max_connections = 64,
                         .log_name = "leptond",
                         .tls_cert_file = cfg->tls_cert,
                         .tls_key_file = cfg->tls_key};
    a->http_metrics = lp_prom_http_new();
    if (!a->http_metrics) {
        snprintf(err, en, "out of memory");
        return -1;
    }
    if (lp_http_server_new(&hc, &a->http, err, en) != 0) return -1;
    lp_http_server_set_observer(a->http, lp_prom_http_observe, a->http_metrics);
    if (lp_http_server_route(a->http, "GET", "/healthz", h_healthz, a) != 0 ||
        lp_http_server_route(a->http, "GET", "/metrics", h_metrics, a) != 0 ||
        lp_http_server_start(a->http, err, en) != 0)
        return -1;
    return 0;
}
