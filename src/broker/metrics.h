/* metrics.h — the broker's Prometheus metrics: request counters by route and status (fed by the
 * HTTP server's observer), event counters, and the store's gauges rendered at scrape time. */
#ifndef LEPTON_BROKER_METRICS_H
#define LEPTON_BROKER_METRICS_H

#include <stdint.h>

#include "store.h"

typedef struct lp_metrics lp_metrics;

lp_metrics *lp_metrics_new(void);
void lp_metrics_free(lp_metrics *m);
/* An lp_http_observer: user is the lp_metrics. */
void lp_metrics_observe(const char *pattern, const char *method, int status, int64_t duration_ns, void *user);
/* Counts a lease that ended, by its final state. */
void lp_metrics_lease_ended(lp_metrics *m, int state);
void lp_metrics_lease_granted(lp_metrics *m);
/* Renders the Prometheus text exposition; malloc'd, caller frees; NULL when out of memory. */
char *lp_metrics_render(lp_metrics *m, const lp_store_stats *st);

#endif
