/* agent_internal.h — what the parts of leptond's core (agent.h) share, and nothing outside
 * src/agent sees: the agent, its GPU slots and its lease table, and the functions one part calls in
 * another. One thread runs everything that changes state (lp_agent_run: agent.c); the heartbeat
 * thread (agent_broker.c) and the health endpoint (agent_http.c) take the same mutex, mu.
 *   agent.c          life cycle: GPU discovery, lp_agent_new, the main loop, shutdown
 *   agent_workers.c  the lease worker processes: started, reaped, replaced, stopped
 *   agent_leases.c   the lease table and the leases' state directories
 *   agent_broker.c   the broker link: registration, heartbeats, fencing, failure reports
 *   agent_http.c     GET /healthz and GET /metrics */
#ifndef LEPTON_AGENT_AGENT_INTERNAL_H
#define LEPTON_AGENT_AGENT_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.h"
#include "agent_metrics.h"
#include "broker_client.h"
#include "http_server.h"
#include "prom.h"
#include "token.h"

#define FAIL_WINDOW_MS 30000 /* a worker that fails FAIL_LIMIT times in this window is given up */
#define FAIL_LIMIT 3
#define STOP_GRACE_MS 2000 /* SIGTERM, then SIGKILL after this (process exit frees the GPU) */

typedef struct ag_slot {
    lp_gpu_desc gpu;
    int port;
    char address[340];
    struct ag_lease *lease; /* NULL when free */
    int lease_index;
    pid_t pid;
    char pid_lease[128]; /* the lease pid serves (for log lines after the lease is gone) */
    int stopping;        /* pid was sent SIGTERM on purpose */
    int64_t kill_at_ms;
    int64_t started_ms, restart_at_ms;
    int64_t fails[FAIL_LIMIT];
    int nfails;
    int restarts;
    char ended[LP_TOKEN_MAX_ENDED][128]; /* leases that ran here and ended, oldest first: the next
                                            worker answers their tokens 410 lease_ended */
    int nended;
    int64_t held_ms, held_since_ms; /* monotonic: time held by leases before the current one; when it came */
} ag_slot;

typedef struct ag_lease {
    char id[128];
    int64_t expires_ms; /* wall clock: the lease's expiry (extensions move it) */
    int64_t ends_ms;    /* wall clock: when it ends whatever its holder does (the broker's ends_at) */
    int ends_by_cap;    /* ends_ms is its cost cap, not its TTL */
    int nslots;
    int slot[LP_AGENT_MAX_GPUS]; /* agent slot of each lease index, -1 when not here */
    int ended_local;             /* the agent ended it on its own (TTL or cost cap) */
    int failed;                  /* a worker could not be brought back */
    char fail_reason[600];
    int fail_reported;
    int seen;
    struct ag_lease *next;
} ag_lease;

struct lp_agent {
    lp_agent_config cfg;
    ag_slot slots[LP_AGENT_MAX_GPUS];
    int nslots;
    char adv_host[300]; /* host in advertised URLs (bracketed for IPv6) */
    char listen_host[256];
    int port;
    char worker_path[1024];
    char node_key[65];
    int registered;
    int64_t hb_interval_ms;
    int64_t last_contact_ms; /* wall clock of the last answer from the broker */
    int64_t node_timeout_ms; /* the broker's, from its answers; 0 = not told (no fencing) */
    int64_t answered_ms;     /* monotonic: when the last answered heartbeat (or registration) was sent */
    int fenced;              /* the workers were stopped: no answered heartbeat for too long */
    int broker_ok;
    int swept;
    ag_lease *leases;
    pthread_mutex_t mu;
    lp_http_server *http;
    lp_broker_client *bc;    /* the main thread's: failure reports, deregistration */
    lp_broker_client *hb_bc; /* the heartbeat thread's: registration, heartbeats (long-polls) */
    pthread_t hb_thread;
    int hb_started;
    int stop;          /* atomic: shutting down */
    int fatal;         /* atomic: the broker refused us for good */
    int no_long_poll;  /* the broker refused wait_ms: plain heartbeats (heartbeat thread only) */
    int known_checked; /* the broker answers at once when "known" differs (heartbeat thread only) */
    char driver[600];

    lp_prom_http *http_metrics; /* request durations of http */
    lp_agent_counters ctr;      /* GET /metrics (agent_metrics.h); under mu */
};

static inline int flag_get(const int *f) { return __atomic_load_n(f, __ATOMIC_RELAXED); }
static inline void flag_set(int *f) { __atomic_store_n(f, 1, __ATOMIC_RELAXED); }

/* The scheme of the addresses the agent and its workers serve (and register). */
static inline const char *ag_scheme(const lp_agent *a) { return a->cfg.tls_cert[0] ? "https" : "http"; }

/* agent.c */
int ag_write_all(int fd, const void *buf, size_t n); /* 0, or -1 (errno) */

/* agent_workers.c. Under mu, all of them. */
/* "HOST:PORT" (HOST bracketed for IPv6) on which the worker of port listens. */
void ag_listen_addr(const lp_agent *a, int port, char *out, size_t n);
void ag_slot_stop(ag_slot *s, const char *why); /* SIGTERM to its worker, SIGKILL after STOP_GRACE_MS */
void ag_lease_stop_workers(lp_agent *a, ag_lease *l, const char *why);
void ag_reap(lp_agent *a);
void ag_reap_settled(lp_agent *a);
/* SIGKILLs stragglers and starts the workers that should run and do not. */
void ag_workers_tend(lp_agent *a, int64_t now);

/* agent_workers.c, at shutdown (not under mu: it takes it). Stops every worker and waits for them,
 * SIGKILLing those that outlive the grace period; sigs are the signals lp_agent_run waits on. */
void ag_workers_end(lp_agent *a, const sigset_t *sigs);

/* agent_leases.c. Under mu, but ag_reconcile (which takes it). */
void ag_lease_dir(const lp_agent *a, const char *id, char *out, size_t n);
int ag_mkdirs(const char *path); /* mkdir -p, mode 0700: 0, or -1 (errno) */
ag_lease *ag_find_lease(lp_agent *a, const char *id);
void ag_lease_fail(lp_agent *a, ag_lease *l, const char *reason);
void ag_lease_remove(lp_agent *a, ag_lease *l);
/* Ends the leases whose time (or cost cap) ran out at wall (wall-clock ms), broker or not. */
void ag_leases_end_due(lp_agent *a, int64_t wall);
int ag_reconcile(lp_agent *a, const json_t *leases);

/* agent_broker.c */
/* Sets up the broker clients (and checks --ca-file). 0, or -1 with err. */
int ag_broker_open(lp_agent *a, char *err, size_t en);
void *ag_hb_main(void *arg); /* the heartbeat thread */
/* Fences the node (stops its workers) when no heartbeat was answered for too long. Under mu. */
void ag_fence_check(lp_agent *a, int64_t now);
void ag_report_failures(lp_agent *a);
void ag_deregister(lp_agent *a);

/* agent_http.c: starts the health listener (GET /healthz, GET /metrics). 0, or -1 with err. */
int ag_http_start(lp_agent *a, char *err, size_t en);

#endif
