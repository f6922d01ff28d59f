/* worker_metrics.c — a lease worker's GET /metrics (docs/metrics.md): its request durations, job
 * queue, refusals and stream counters, labelled with the GPU's uuid only. The page needs no token,
 * so no lease id appears on it; the worker's port says which GPU slot of the node it serves. */
#include <pthread.h>
#include <stdlib.h>

#include "lepton/lepton.h"
#include "prom.h"
#include "wire.h"
#include "worker.h"

void wk_metrics_reply(lp_worker *w, lp_http_req *r) {
    uint64_t bytes, jobs, full, sessions;
    pthread_mutex_lock(&w->job_mu);
    bytes = w->queued_bytes;
    jobs = w->queued_jobs;
    sessions = w->nsessions;
    full = w->queue_full_total; /* counted under job_mu (queue_admit) */
    pthread_mutex_unlock(&w->job_mu);
    static const char *const kinds[4] = {"job", "write", "read", "ping"};
    const char *gpu = w->uuid;
    lp_prom p = {0};
    lp_prom_build_info(&p, "worker", LEPTON_VERSION_STRING);
    lp_prom_family(&p, "lepton_worker_queued_bytes", "gauge",
                   "Bytes of job requests held for jobs not yet run.");
    lp_prom_sample(&p, "lepton_worker_queued_bytes", (double)bytes, "gpu", gpu, NULL);
    lp_prom_family(&p, "lepton_worker_queued_jobs", "gauge", "Jobs accepted and waiting for their turn.");
    lp_prom_sample(&p, "lepton_worker_queued_jobs", (double)jobs, "gpu", gpu, NULL);
    lp_prom_family(&p, "lepton_worker_job_sessions", "gauge",
                   "Job sessions held besides session 0 (docs/dataplane.md, Jobs).");
    lp_prom_sample(&p, "lepton_worker_job_sessions", (double)sessions, "gpu", gpu, NULL);
    lp_prom_family(&p, "lepton_worker_queue_limit_bytes", "gauge",
                   "The limit of lepton_worker_queued_bytes (leptond --job-queue-bytes).");
    lp_prom_sample(&p, "lepton_worker_queue_limit_bytes", (double)w->queue_limit, "gpu", gpu, NULL);
    lp_prom_family(&p, "lepton_worker_queue_full_total", "counter",
                   "Job requests refused with 503 queue_full (back-pressure, not an error).");
    lp_prom_sample(&p, "lepton_worker_queue_full_total", (double)full, "gpu", gpu, NULL);
    lp_prom_family(&p, "lepton_worker_restarting_total", "counter",
                   "Requests answered 503 worker_restarting after a sticky CUDA error.");
    lp_prom_sample(&p, "lepton_worker_restarting_total",
                   (double)__atomic_load_n(&w->restarting_total, __ATOMIC_RELAXED), "gpu", gpu, NULL);
    lp_prom_family(&p, "lepton_worker_stream_frames_total", "counter",
                   "Frames received on streams (GET /v1/stream), by kind.");
    for (int k = 0; k < 4; k++)
        lp_prom_sample(&p, "lepton_worker_stream_frames_total",
                       (double)__atomic_load_n(&w->stream_frames[k], __ATOMIC_RELAXED), "gpu", gpu, "kind",
                       kinds[k], NULL);
    lp_prom_family(&p, "lepton_worker_stream_sends_total", "counter",
                   "sendmsg calls of streams' answers (answers finished while more frames wait share one).");
    lp_prom_sample(&p, "lepton_worker_stream_sends_total",
                   (double)__atomic_load_n(&w->stream_sends, __ATOMIC_RELAXED), "gpu", gpu, NULL);
    if (w->http_metrics)
        lp_prom_http_write(w->http_metrics, &p, "lepton_worker_http_request_duration_seconds");
    size_t len = 0;
    char *text = lp_prom_take(&p, &len);
    if (!text) {
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return;
    }
    lp_http_reply_bytes(r, 200, LP_PROM_CONTENT_TYPE, text, len);
    free(text);
}
