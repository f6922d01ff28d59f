/* metrics.c — the broker's counters and their exposition (metrics.h). Written with the one
 * Prometheus writer (prom.h). */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lepton/lepton.h"
#include "lease_state.h"
#include "metering.h"
#include "wire.h"

/* Distinct GPU models counted per process; a fleet with more (which no real one has) counts the rest
 * under model="other", so that nodes cannot grow the page without bound. */
#define MODELS_MAX 64

typedef struct model_counts {
    char model[LP_NAME_MAX + 1];
    uint64_t granted;
    double gpu_seconds, cost;
} model_counts;

struct lp_metrics {
    pthread_mutex_t mu;
    lp_prom_http *http;
    model_counts models[MODELS_MAX];
    int nmodels;
    uint64_t ended[LS_COUNT];
    uint64_t refused_capacity, refused_budget;
    lp_prom_hist wait_granted, wait_refused;
};

lp_metrics *lp_metrics_new(void) {
    lp_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->http = lp_prom_http_new();
    if (!m->http) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void lp_metrics_free(lp_metrics *m) {
    if (!m) return;
    lp_prom_http_free(m->http);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

lp_prom_http *lp_metrics_http(lp_metrics *m) { return m->http; }

/* Under mu: the counts of a model (the last slot, "other", once the table is full). */
static model_counts *model_locked(lp_metrics *m, const char *model) {
    if (!model || !*model) model = "unknown";
    for (int i = 0; i < m->nmodels; i++)
        if (!strcmp(m->models[i].model, model)) return &m->models[i];
    if (m->nmodels == MODELS_MAX - 1) model = "other";
    if (m->nmodels == MODELS_MAX) return &m->models[MODELS_MAX - 1];
    model_counts *c = &m->models[m->nmodels++];
    snprintf(c->model, sizeof c->model, "%s", model);
    return c;
}

void lp_metrics_lease_ended(lp_metrics *m, const lp_lease *l, int64_t now_ms) {
    lp_bill bill = lp_lease_bill(l, now_ms);
    pthread_mutex_lock(&m->mu);
    if (lp_lease_state_final(l->state)) m->ended[l->state]++;
    model_counts *c = model_locked(m, l->gpu_model);
    c->gpu_seconds += (double)bill.gpu_seconds;
    c->cost += bill.cost;
    pthread_mutex_unlock(&m->mu);
}

void lp_metrics_lease_granted(lp_metrics *m, const char *model) {
    pthread_mutex_lock(&m->mu);
    model_locked(m, model)->granted++;
    pthread_mutex_unlock(&m->mu);
}

void lp_metrics_lease_refused(lp_metrics *m, const char *code) {
    pthread_mutex_lock(&m->mu);
    if (code && !strcmp(code, WIRE_OVER_BUDGET))
        m->refused_budget++;
    else
        m->refused_capacity++;
    pthread_mutex_unlock(&m->mu);
}

void lp_metrics_capacity_wait(lp_metrics *m, int granted, double seconds) {
    pthread_mutex_lock(&m->mu);
    lp_prom_hist_observe(granted ? &m->wait_granted : &m->wait_refused, &lp_prom_wait_buckets, seconds);
    pthread_mutex_unlock(&m->mu);
}

char *lp_metrics_render(lp_metrics *m, const lp_store_stats *st, const lp_metrics_model *models,
                        size_t nmodels, size_t *len) {
    lp_prom w = {0};
    lp_prom_build_info(&w, "broker", LEPTON_VERSION_STRING);

    lp_prom_family(&w, "lepton_broker_leases", "gauge", "Leases in the store, by state.");
    for (int i = 0; i < LS_COUNT; i++)
        lp_prom_sample(&w, "lepton_broker_leases", (double)st->leases_by_state[i], "state",
                       lp_lease_state_name(i), NULL);
    lp_prom_family(&w, "lepton_broker_nodes", "gauge", "Nodes by state.");
    lp_prom_sample(&w, "lepton_broker_nodes", (double)st->nodes_ready, "state", "ready", NULL);
    lp_prom_sample(&w, "lepton_broker_nodes", (double)st->nodes_lost, "state", "lost", NULL);
    lp_prom_sample(&w, "lepton_broker_nodes", (double)st->nodes_gone, "state", "gone", NULL);
    lp_prom_family(&w, "lepton_broker_gpus", "gauge",
                   "GPUs of ready nodes by model and state (free, or leased by an active lease).");
    for (size_t i = 0; i < nmodels; i++) {
        lp_prom_sample(&w, "lepton_broker_gpus", (double)models[i].free, "model", models[i].model, "state",
                       "free", NULL);
        lp_prom_sample(&w, "lepton_broker_gpus", (double)models[i].leased, "model", models[i].model, "state",
                       "leased", NULL);
    }

    pthread_mutex_lock(&m->mu);
    lp_prom_family(&w, "lepton_broker_leases_granted_total", "counter",
                   "Leases granted since the broker started, by GPU model.");
    for (int i = 0; i < m->nmodels; i++)
        lp_prom_sample(&w, "lepton_broker_leases_granted_total", (double)m->models[i].granted, "model",
                       m->models[i].model, NULL);
    lp_prom_family(&w, "lepton_broker_leases_ended_total", "counter",
                   "Leases ended since the broker started, by final state.");
    for (int i = 0; i < LS_COUNT; i++)
        if (lp_lease_state_final(i))
            lp_prom_sample(&w, "lepton_broker_leases_ended_total", (double)m->ended[i], "state",
                           lp_lease_state_name(i), NULL);
    lp_prom_family(&w, "lepton_broker_lease_refusals_total", "counter",
                   "Lease requests refused after any wait they asked for, by reason: no_capacity (no free "
                   "GPU fits) or over_budget (none within the price cap). Not errors.");
    lp_prom_sample(&w, "lepton_broker_lease_refusals_total", (double)m->refused_capacity, "reason",
                   WIRE_NO_CAPACITY, NULL);
    lp_prom_sample(&w, "lepton_broker_lease_refusals_total", (double)m->refused_budget, "reason",
                   WIRE_OVER_BUDGET, NULL);
    lp_prom_family(&w, "lepton_broker_lease_capacity_wait_seconds", "histogram",
                   "How long lease requests waited for capacity (wait_ms) before they were granted or "
                   "refused; 0 for those answered at once.");
    lp_prom_hist_write(&w, "lepton_broker_lease_capacity_wait_seconds", &m->wait_granted,
                       &lp_prom_wait_buckets, "outcome", "granted", NULL);
    lp_prom_hist_write(&w, "lepton_broker_lease_capacity_wait_seconds", &m->wait_refused,
                       &lp_prom_wait_buckets, "outcome", "refused", NULL);
    lp_prom_family(&w, "lepton_broker_gpu_seconds_total", "counter",
                   "GPU-seconds billed, by GPU model; a lease's whole bill is added when it ends.");
    for (int i = 0; i < m->nmodels; i++)
        lp_prom_sample(&w, "lepton_broker_gpu_seconds_total", m->models[i].gpu_seconds, "model",
                       m->models[i].model, NULL);
    lp_prom_family(&w, "lepton_broker_cost_dollars_total", "counter",
                   "US dollars billed, by GPU model; a lease's whole bill is added when it ends.");
    for (int i = 0; i < m->nmodels; i++)
        lp_prom_sample(&w, "lepton_broker_cost_dollars_total", m->models[i].cost, "model", m->models[i].model,
                       NULL);
    pthread_mutex_unlock(&m->mu);
    lp_prom_http_write(m->http, &w, "lepton_broker_http_request_duration_seconds");
    return lp_prom_take(&w, len);
}
