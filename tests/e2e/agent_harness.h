/* agent_harness.h — end-to-end support for the data plane: start and stop real leptond processes
 * (each starting its lepton-worker processes) against a broker started with harness.h, find the
 * pids and ports of the workers, and locate the CUDA driver and PTX corpus the suite runs on.
 * Ports, sockets, clock and processes: tests/common (net.h, proc.h).
 *
 * Environment:
 *   LEPTON_TEST_CUDA_LIBRARY  the CUDA driver the agents load (default: the cudaemu build)
 *   LEPTON_TEST_PTX_ARCH      which committed PTX to use: <kernel>.<arch>.ptx (default sm_75)
 *   LEPTON_TEST_PTX_DIR       where the PTX lies (default: tests/kernels/ptx of the source tree)
 * With the CPU driver, each agent offers `gpus` emulated GPUs (CUDAEMU_DEVICES); with a real driver
 * it offers what the driver finds (a_agent.gpus says how many). */
#ifndef LEPTON_TESTS_AGENT_HARNESS_H
#define LEPTON_TESTS_AGENT_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include "harness.h"
#include "net.h"
#include "proc.h"

#define A_MAX_GPUS 16

typedef struct a_agent {
    pid_t pid;
    int port; /* the agent's port; the worker of its GPU i listens on port + 1 + i */
    int gpus; /* GPUs it offers (known once it is registered) */
    char name[64];
    char dir[320]; /* state directory and log */
    char log[360];
    char url[64];
} a_agent;

/* The CUDA driver, the PTX architecture and the PTX directory in use (see above). */
const char *a_cuda_library(void);
const char *a_ptx_arch(void);
const char *a_ptx_dir(void);
/* True when the driver in use is the CPU driver (cudaemu). */
int a_is_emulator(void);
/* Reads tests/kernels/ptx/<kernel>.<arch>.ptx (NUL-terminated, size without the NUL); NULL with a
 * message on stderr when it cannot. Free with free(). */
char *a_load_ptx(const char *kernel, size_t *size);

/* Makes the calling process a child subreaper, so that workers orphaned by a killed agent become
 * its children and can be reaped (a_reap_orphans). Called by a_agent_start. */
void a_become_subreaper(void);
/* Reaps every ended child that is not a tracked broker or agent (orphaned workers). */
void a_reap_orphans(void);

/* The pid of the process listening on 127.0.0.1:port (from /proc/net/tcp and /proc/PID/fd), or -1. */
pid_t a_port_owner(int port);
/* True when the process exists and is not a zombie. */
int a_pid_alive(pid_t pid);
/* True while a lepton-worker with this pid exists, zombies included (not yet reaped by its parent). */
int a_worker_exists(pid_t pid);

/* Starts leptond named `name` with `gpus` emulated GPUs against broker b, price per GPU-hour, and
 * waits (up to 15 s) until it is registered. Returns 0, or -1 with a message on stderr. */
int a_agent_start(a_agent *a, h_broker *b, const char *node_token, const char *name, int gpus, double price);
/* SIGTERM, SIGKILL after 8 s; reaps it. Returns its wait status or -1. */
int a_agent_stop(a_agent *a);
/* SIGKILL and reap. */
void a_agent_kill(a_agent *a);
/* Stops it if running and reaps its orphaned workers; its directory lies in the broker's and goes with
 * h_broker_cleanup. */
void a_agent_cleanup(a_agent *a);
/* The end of a test, once its agents are cleaned up: stops broker b, reaps the workers orphaned
 * meanwhile, and removes b's directory, or keeps it (saying where the logs are) when a check failed. */
void a_finish(h_broker *b);

/* One GPU slot of the agent's GET /healthz. */
typedef struct a_slot {
    pid_t worker_pid; /* 0 when none */
    int restarts;
    char state[32]; /* free | starting | running | stopping | ended | failed */
    char lease[128];
} a_slot;
/* Reads GET /healthz; fills slots[0..n) (n ≤ A_MAX_GPUS). Returns the number of GPUs, or -1. */
int a_agent_slots(a_agent *a, a_slot *slots, int n);
/* Waits until GPU `gpu` has a running worker whose pid differs from not_pid and that accepts
 * connections; returns its pid, or -1 after timeout_ms. */
pid_t a_wait_worker(a_agent *a, int gpu, pid_t not_pid, int timeout_ms);

/* Raw HTTP to a data-plane URL base such as "http://127.0.0.1:4567" (see h_http). */
int a_http(const char *base, const char *method, const char *path, const char *token,
           const char *content_type, const void *body, size_t body_len, h_resp *out);

#endif
