/* agent_metrics.c — the text of leptond's GET /metrics (agent_metrics.h), written with prom.h. */
#include "agent_metrics.h"

#include <string.h>

#include "lepton/lepton.h"

char *lp_agent_metrics_render(const lp_agent_metrics_view *v, lp_prom_http *http, size_t *len) {
    lp_prom w = {0};
    lp_prom_build_info(&w, "agent", LEPTON_VERSION_STRING);
    lp_prom_family(&w, "lepton_agent_registered", "gauge", "1 while the node is registered with the broker.");
    lp_prom_sample(&w, "lepton_agent_registered", v->registered ? 1 : 0, NULL);
    lp_prom_family(&w, "lepton_agent_broker_reachable", "gauge",
                   "1 when the last call to the broker was answered.");
    lp_prom_sample(&w, "lepton_agent_broker_reachable", v->broker_reachable ? 1 : 0, NULL);
    lp_prom_family(&w, "lepton_agent_fenced", "gauge",
                   "1 while the agent has stopped its workers because no heartbeat was answered for nearly "
                   "the broker's node timeout.");
    lp_prom_sample(&w, "lepton_agent_fenced", v->fenced ? 1 : 0, NULL);
    if (v->last_contact_ms > 0) {
        lp_prom_family(&w, "lepton_agent_last_broker_contact_timestamp_seconds", "gauge",
                       "Unix time of the broker's last answer.");
        lp_prom_sample(&w, "lepton_agent_last_broker_contact_timestamp_seconds",
                       (double)v->last_contact_ms / 1000, NULL);
    }
    lp_prom_family(&w, "lepton_agent_leases", "gauge", "Leases holding a GPU of this node.");
    lp_prom_sample(&w, "lepton_agent_leases", v->leases, NULL);

    /* by model: the GPUs of one model summed (first seen first) */
    char models[LP_AGENT_MAX_GPUS][256];
    int64_t nfree[LP_AGENT_MAX_GPUS] = {0}, nleased[LP_AGENT_MAX_GPUS] = {0};
    double held[LP_AGENT_MAX_GPUS] = {0};
    int nm = 0;
    for (int i = 0; i < v->ngpus && i < LP_AGENT_MAX_GPUS; i++) {
        int j = 0;
        while (j < nm && strcmp(models[j], v->gpus[i].model) != 0)
            j++;
        if (j == nm) memcpy(models[nm++], v->gpus[i].model, sizeof models[0]);
        if (v->gpus[i].leased)
            nleased[j]++;
        else
            nfree[j]++;
        held[j] += v->gpus[i].held_seconds;
    }
    lp_prom_family(&w, "lepton_agent_gpus", "gauge",
                   "GPUs this agent offers, by model and state (free or leased).");
    for (int j = 0; j < nm; j++) {
        lp_prom_sample(&w, "lepton_agent_gpus", (double)nfree[j], "model", models[j], "state", "free", NULL);
        lp_prom_sample(&w, "lepton_agent_gpus", (double)nleased[j], "model", models[j], "state", "leased",
                       NULL);
    }
    lp_prom_family(&w, "lepton_agent_gpu_seconds_total", "counter",
                   "Seconds this node's GPUs were held by leases since the agent started, by model (the "
                   "agent's own measure; the bill is the broker's lepton_broker_gpu_seconds_total).");
    for (int j = 0; j < nm; j++)
        lp_prom_sample(&w, "lepton_agent_gpu_seconds_total", held[j], "model", models[j], NULL);

    lp_prom_family(&w, "lepton_agent_worker_starts_total", "counter", "Lease worker processes started.");
    lp_prom_sample(&w, "lepton_agent_worker_starts_total", (double)v->c.worker_starts, NULL);
    lp_prom_family(&w, "lepton_agent_worker_replacements_total", "counter",
                   "Lease workers that ended while their lease went on and were replaced, by reason "
                   "(sticky_cuda_error: the context was lost; crash: any other exit).");
    lp_prom_sample(&w, "lepton_agent_worker_replacements_total", (double)v->c.worker_replaced_sticky,
                   "reason", "sticky_cuda_error", NULL);
    lp_prom_sample(&w, "lepton_agent_worker_replacements_total", (double)v->c.worker_replaced_crash, "reason",
                   "crash", NULL);
    lp_prom_family(&w, "lepton_agent_broker_calls_total", "counter",
                   "Calls to the broker (registration, heartbeats, reports), by result.");
    lp_prom_sample(&w, "lepton_agent_broker_calls_total", (double)v->c.broker_ok, "result", "answered", NULL);
    lp_prom_sample(&w, "lepton_agent_broker_calls_total", (double)v->c.broker_failed, "result", "failed",
                   NULL);
    lp_prom_family(&w, "lepton_agent_leases_ended_locally_total", "counter",
                   "Leases the agent ended itself because their TTL or cost cap had passed (the broker "
                   "normally ends them first).");
    lp_prom_sample(&w, "lepton_agent_leases_ended_locally_total", (double)v->c.leases_ended_local, NULL);
    if (http) lp_prom_http_write(http, &w, "lepton_agent_http_request_duration_seconds");
    return lp_prom_take(&w, len);
}
