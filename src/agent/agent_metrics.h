/* agent_metrics.h — leptond's GET /metrics (docs/metrics.md): the agent's own state (registered,
 * broker reachable, fenced), its GPUs by model (free or leased, and the seconds they were held by
 * leases), its workers' starts and replacements, its calls to the broker and its request
 * durations. The agent (agent_internal.h) counts under its mutex and hands a snapshot to
 * lp_agent_metrics_render; the page needs no token, so it holds no lease id and no tenant. */
#ifndef LEPTON_AGENT_METRICS_H
#define LEPTON_AGENT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "prom.h"

/* Counted by agent.c (under its mutex) from the agent's start. */
typedef struct lp_agent_counters {
    uint64_t worker_starts;
    uint64_t worker_replaced_sticky; /* a worker exited after a sticky CUDA error, to be replaced */
    uint64_t worker_replaced_crash;  /* a worker died otherwise (crash, failed start) */
    uint64_t broker_ok, broker_failed;
    uint64_t leases_ended_local; /* leases the agent ended itself (TTL or cost cap past) */
} lp_agent_counters;

typedef struct lp_agent_metrics_gpu {
    char model[256];
    int leased;
    double held_seconds; /* seconds held by leases since the agent started, the current one included */
} lp_agent_metrics_gpu;

typedef struct lp_agent_metrics_view {
    int registered, broker_reachable, fenced;
    int64_t last_contact_ms; /* wall clock; <= 0: never */
    int leases;              /* leases with a GPU here */
    int ngpus;
    lp_agent_metrics_gpu gpus[LP_AGENT_MAX_GPUS];
    lp_agent_counters c;
} lp_agent_metrics_view;

/* The text exposition of v and of the request durations in http (may be NULL): malloc'd (caller
 * frees) with its length, or NULL when out of memory. */
char *lp_agent_metrics_render(const lp_agent_metrics_view *v, lp_prom_http *http, size_t *len);

#endif
