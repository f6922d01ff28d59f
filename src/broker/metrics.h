/* metrics.h — the broker's Prometheus metrics (GET /metrics, docs/metrics.md): request durations by
 * route (fed by the HTTP server's observer), leases granted, ended and refused, the time lease
 * requests waited for capacity, GPU-seconds and dollars billed by GPU model, and, at scrape time,
 * the store's counts and the fleet's free and leased GPUs by model. /metrics needs no token, so it
 * carries no tenant name, lease id, node name or client-given text: GPU models are its only
 * node-given label values. */
#ifndef LEPTON_BROKER_METRICS_H
#define LEPTON_BROKER_METRICS_H

#include <stdint.h>

#include "prom.h"
#include "store.h"

typedef struct lp_metrics lp_metrics;

lp_metrics *lp_metrics_new(void);
void lp_metrics_free(lp_metrics *m);
/* The request-duration table the HTTP server's observer feeds (lp_prom_http_observe). */
lp_prom_http *lp_metrics_http(lp_metrics *m);
/* Counts a lease that ended (l in its final state) and adds its bill up to now_ms to the
 * GPU-seconds and dollars of its model. Call once per lease, where it ended. */
void lp_metrics_lease_ended(lp_metrics *m, const lp_lease *l, int64_t now_ms);
void lp_metrics_lease_granted(lp_metrics *m, const char *model);
/* A lease request refused for want of capacity (code no_capacity) or price (over_budget), after it
 * waited as long as it asked to. */
void lp_metrics_lease_refused(lp_metrics *m, const char *code);
/* How long a lease request waited for capacity before it was granted (granted 1) or refused. */
void lp_metrics_capacity_wait(lp_metrics *m, int granted, double seconds);

/* The fleet by GPU model at scrape time (ready nodes only). */
typedef struct lp_metrics_model {
    char model[LP_NAME_MAX + 1];
    int64_t free, leased;
} lp_metrics_model;

/* Renders the text exposition: st are the store's counts, models[0..nmodels) the fleet. Returns
 * malloc'd text (caller frees) and its length, or NULL when out of memory. */
char *lp_metrics_render(lp_metrics *m, const lp_store_stats *st, const lp_metrics_model *models,
                        size_t nmodels, size_t *len);

#endif
