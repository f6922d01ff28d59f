/* agent.h — leptond's core: registration and heartbeats with the broker, the lease table, one
 * lease worker process per leased GPU (started, reaped, replaced, ended), the agent's own TTL and
 * cost-cap enforcement, and GET /healthz. */
#ifndef LEPTON_AGENT_AGENT_H
#define LEPTON_AGENT_AGENT_H

#include "config.h"
#include "cuda_api.h"

typedef struct lp_agent lp_agent;

/* Discovers the GPUs (through the CUDA driver), applies --gpus and starts the health endpoint.
 * Returns 0, or -1 with a message in err. */
int lp_agent_new(const lp_agent_config *cfg, lp_agent **out, char *err, size_t err_size);
/* Registers, then heartbeats and runs workers until SIGTERM/SIGINT (which the caller has blocked
 * in every thread) or lp_agent_stop. With cfg->embedded set it takes no signals at all (a host
 * program such as `lepton dev` handles them and calls lp_agent_stop). Ends every worker, reaps it
 * and deregisters before returning. Returns 0, or 1 after a fatal error (a refused token, say). */
int lp_agent_run(lp_agent *a);
/* Makes lp_agent_run end. Thread-safe and async-signal-safe. */
void lp_agent_stop(lp_agent *a);
void lp_agent_free(lp_agent *a);

#endif
