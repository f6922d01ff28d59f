/* agent.c — leptond's core (agent.h). One thread runs everything that changes state: broker calls,
 * reconciling the broker's list of the node's active leases with the running workers, reaping and
 * replacing workers, ending leases whose time (or cost cap) ran out even when the broker cannot be
 * reached, and fencing: stopping every worker when no heartbeat has been answered for nearly the
 * broker's node timeout. Each worker gets its own lease's key on a pipe. The health endpoint reads
 * the same state under a mutex. */
#define _XOPEN_SOURCE 700
#include "agent.h"
#include "lepton/lepton.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include "agent_metrics.h"
#include "broker_client.h"
#include "clock.h"
#include "lease_token.h"
#include "http_server.h"
#include "log.h"
#include "port.h"
#include "wire.h"
#include "worker.h"

extern char **environ;

#define FAIL_WINDOW_MS 30000 /* a worker that fails FAIL_LIMIT times in this window is given up */
#define FAIL_LIMIT 3
#define STOP_GRACE_MS 2000 /* SIGTERM, then SIGKILL after this (process exit frees the GPU) */
#define HB_MAX_MS 1000     /* heartbeat at least this often (the broker's interval may be longer) */
#define DEADLINE_GRACE_MS 1000
#define CALL_TIMEOUT_MS 5000
/* How long a heartbeat may long-poll. A broker that compares the node's known leases ("known")
 * with its own before waiting says so with "known_checked": true and gets long waits; otherwise a
 * grant that lands between two heartbeats is held until the wait ends, so the wait stays short. */
#define LONG_POLL_MAX_MS 30000
#define LONG_POLL_BLIND_MS 1000
/* Fencing (docs/protocol.md "Heartbeats and fencing"): when no heartbeat sent in the last
 * node_timeout - margin has been answered, the broker may be about to declare the node lost and
 * fail its leases, so the agent stops its workers first. margin = node_timeout / 5, at least
 * FENCE_MARGIN_MIN_MS, at most half the timeout. */
#define FENCE_MARGIN_MIN_MS 500

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

static int flag_get(const int *f) { return __atomic_load_n(f, __ATOMIC_RELAXED); }
static void flag_set(int *f) { __atomic_store_n(f, 1, __ATOMIC_RELAXED); }

/* ---- helpers ---- */
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(path);
}

static void rm_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int safe_id(const char *s) {
    if (!s || !*s || strlen(s) >= 128) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

static void lease_dir(const lp_agent *a, const char *id, char *out, size_t n) {
    snprintf(out, n, "%s/leases/%s", a->cfg.state_dir, id);
}

static int mkdirs(const char *path) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static const char *describe_status(int st, char *buf, size_t n) {
    if (WIFEXITED(st)) {
        int c = WEXITSTATUS(st);
        const char *why = c == LP_WORKER_EXIT_STICKY  ? " (sticky CUDA error)"
                          : c == LP_WORKER_EXIT_START ? " (could not start: CUDA or its port)"
                          : c == LP_WORKER_EXIT_USAGE ? " (bad arguments)"
                          : c == LP_WORKER_EXIT_TLS   ? " (could not serve HTTPS: certificate or key refused)"
                          : c == 127                  ? " (cannot execute lepton-worker)"
                                                      : "";
        snprintf(buf, n, "exited with status %d%s", c, why);
    } else if (WIFSIGNALED(st)) {
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    } else {
        snprintf(buf, n, "ended (status 0x%x)", st);
    }
    return buf;
}

/* ---- workers ---- */
static void slot_stop(ag_slot *s, const char *why) {
    if (s->pid > 0 && !s->stopping) {
        kill(s->pid, SIGTERM);
        s->stopping = 1;
        s->kill_at_ms = lp_mono_ms() + STOP_GRACE_MS;
        lp_log(LP_LOG_INFO, "lease %s gpu %s: stopping worker %d (%s)", s->pid_lease, s->gpu.uuid,
               (int)s->pid, why);
    }
}

static int write_all(int fd, const void *buf, size_t n);

static void spawn(lp_agent *a, ag_slot *s) {
    ag_lease *l = s->lease;
    char listen[300], dir[700], index[16];
    snprintf(listen, sizeof listen, "%s%s%s:%d", strchr(a->listen_host, ':') ? "[" : "", a->listen_host,
             strchr(a->listen_host, ':') ? "]" : "", s->port);
    lease_dir(a, l->id, dir, sizeof dir);
    snprintf(index, sizeof index, "%d", s->lease_index);
    if (mkdirs(dir) != 0) lp_log(LP_LOG_WARN, "lease %s: cannot create %s: %s", l->id, dir, strerror(errno));
    /* the lease key (derived from the node key: the worker can verify this lease's tokens and no
     * other's) and the GPU's ended leases, on a pipe only this worker inherits */
    unsigned char node_key[32], lease_key[32];
    char grant[LP_TOKEN_MAX_ENDED * 140 + 100], keyfd[16];
    int kp[2] = {-1, -1};
    int glen = -1;
    if (lp_node_key_from_hex(a->node_key, node_key) == 0) {
        lp_lease_key(node_key, l->id, lease_key);
        glen = lp_token_grant_text(grant, sizeof grant, lease_key, (const char(*)[128])s->ended, s->nended);
    }
    memset(node_key, 0, sizeof node_key);
    memset(lease_key, 0, sizeof lease_key);
    if (glen < 0 || pipe(kp) != 0 || fcntl(kp[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(kp[1], F_SETFD, FD_CLOEXEC) != 0 || write_all(kp[1], grant, (size_t)glen) != 0) {
        lp_log(LP_LOG_ERROR, "lease %s gpu %s: cannot hand the worker its lease key: %s", l->id, s->gpu.uuid,
               glen < 0 ? "no node key yet" : strerror(errno));
        memset(grant, 0, sizeof grant);
        if (kp[0] >= 0) close(kp[0]), close(kp[1]);
        s->restart_at_ms = lp_mono_ms() + 1000;
        return;
    }
    memset(grant, 0, sizeof grant);
    close(kp[1]); /* the worker reads to the end */
    snprintf(keyfd, sizeof keyfd, "%d", kp[0]);
    char *argv[26];
    int n = 0;
    argv[n++] = a->worker_path;
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--lease";
    argv[n++] = l->id;
    argv[n++] = "--uuid";
    argv[n++] = s->gpu.uuid;
    argv[n++] = "--state-dir";
    argv[n++] = dir;
    argv[n++] = "--node";
    argv[n++] = a->cfg.name;
    argv[n++] = "--index";
    argv[n++] = index;
    argv[n++] = "--key-fd";
    argv[n++] = keyfd;
    if (a->cfg.cuda_library[0]) {
        argv[n++] = "--cuda-library";
        argv[n++] = a->cfg.cuda_library;
    }
    char queue[32];
    if (a->cfg.job_queue_bytes) {
        snprintf(queue, sizeof queue, "%llu", a->cfg.job_queue_bytes);
        argv[n++] = "--job-queue-bytes";
        argv[n++] = queue;
    }
    if (a->cfg.tls_cert[0]) { /* the paths only: each worker reads the files itself */
        argv[n++] = "--tls-cert";
        argv[n++] = a->cfg.tls_cert;
        argv[n++] = "--tls-key";
        argv[n++] = a->cfg.tls_key;
    }
    argv[n] = NULL;
    /* the environment: no key in it (a LEPTON_NODE_KEY of the agent's own is not passed on) */
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **envp = calloc(ne + 2, sizeof *envp);
    char levelvar[64];
    static const char *levels[] = {"error", "warn", "info", "debug"};
    int lv = a->cfg.log_level;
    snprintf(levelvar, sizeof levelvar, "LEPTON_LOG_LEVEL=%s", lv >= 0 && lv < 4 ? levels[lv] : "info");
    if (!envp) {
        close(kp[0]);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "LEPTON_NODE_KEY=", 16) != 0 &&
            (lv < 0 || strncmp(environ[i], "LEPTON_LOG_LEVEL=", 17) != 0))
            envp[k++] = environ[i];
    if (lv >= 0) envp[k++] = levelvar; /* --log-level applies to the workers too */
    envp[k] = NULL;
    sigset_t none;
    sigemptyset(&none);
    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &none, NULL); /* the agent blocks its signals; the worker must not */
        /* Its own process group: a Ctrl-C in the agent's terminal must not reach the worker
         * directly (the agent ends its leases first, then its workers; PDEATHSIG covers a dead agent). */
        setpgid(0, 0);
        fcntl(kp[0], F_SETFD, 0); /* the key pipe: this worker's only */
        execve(a->worker_path, argv, envp);
        _exit(127);
    }
    free(envp);
    close(kp[0]);
    if (pid < 0) {
        lp_log(LP_LOG_ERROR, "lease %s gpu %s: cannot fork a worker: %s", l->id, s->gpu.uuid,
               strerror(errno));
        s->restart_at_ms = lp_mono_ms() + 1000;
        return;
    }
    s->pid = pid;
    snprintf(s->pid_lease, sizeof s->pid_lease, "%s", l->id);
    s->stopping = 0;
    s->started_ms = lp_mono_ms();
    a->ctr.worker_starts++;
    lp_log(LP_LOG_INFO, "lease %s gpu %s: worker %d started on %s (lease index %d)%s", l->id, s->gpu.uuid,
           (int)pid, listen, s->lease_index, s->restarts ? " as a replacement" : "");
}

static void lease_stop_workers(lp_agent *a, ag_lease *l, const char *why) {
    for (int i = 0; i < l->nslots; i++)
        if (l->slot[i] >= 0) slot_stop(&a->slots[l->slot[i]], why);
}

static void lease_fail(lp_agent *a, ag_lease *l, const char *reason) {
    if (l->failed) return;
    l->failed = 1;
    snprintf(l->fail_reason, sizeof l->fail_reason, "%s", reason);
    lp_log(LP_LOG_ERROR, "lease %s node %s: failed: %s", l->id, a->cfg.name, reason);
    lease_stop_workers(a, l, "the lease failed");
}

/* Reaps every ended child and decides what follows. Under mu. */
static void reap(lp_agent *a) {
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0) return;
        ag_slot *s = NULL;
        for (int i = 0; i < a->nslots; i++)
            if (a->slots[i].pid == pid) s = &a->slots[i];
        if (!s) continue;
        char desc[160];
        describe_status(st, desc, sizeof desc);
        int64_t now = lp_mono_ms();
        s->pid = 0;
        ag_lease *l = s->lease;
        if (s->stopping || !l || l->failed || l->ended_local) {
            s->stopping = 0;
            lp_log(LP_LOG_INFO, "lease %s gpu %s: worker %d %s", s->pid_lease, s->gpu.uuid, (int)pid, desc);
            continue;
        }
        s->restarts++;
        if (WIFEXITED(st) && WEXITSTATUS(st) == LP_WORKER_EXIT_STICKY) {
            a->ctr.worker_replaced_sticky++;
            lp_log(LP_LOG_WARN,
                   "lease %s gpu %s: worker %d %s; replacing it (its buffers are lost, modules reload)",
                   l->id, s->gpu.uuid, (int)pid, desc);
            s->restart_at_ms = now;
            continue;
        }
        /* a crash or a failed start: count it */
        a->ctr.worker_replaced_crash++;
        int recent = 0;
        for (int i = 0; i < s->nfails; i++)
            if (now - s->fails[i] < FAIL_WINDOW_MS) s->fails[recent++] = s->fails[i];
        if (recent == FAIL_LIMIT) {
            memmove(s->fails, s->fails + 1, (FAIL_LIMIT - 1) * sizeof s->fails[0]);
            recent--;
        }
        s->fails[recent++] = now;
        s->nfails = recent;
        /* bad arguments, or a certificate or key refused: the same start would fail again */
        int hopeless = WIFEXITED(st) &&
                       (WEXITSTATUS(st) == LP_WORKER_EXIT_USAGE || WEXITSTATUS(st) == LP_WORKER_EXIT_TLS);
        if (recent >= FAIL_LIMIT || hopeless) {
            char reason[600];
            snprintf(
                reason, sizeof reason,
                "the worker of GPU %s on node %s could not be kept running (%d failures in %d s; last: %s)",
                s->gpu.uuid, a->cfg.name, recent, FAIL_WINDOW_MS / 1000, desc);
            lease_fail(a, l, reason);
            continue;
        }
        lp_log(LP_LOG_WARN, "lease %s gpu %s: worker %d %s; replacing it (failure %d of %d allowed in %d s)",
               l->id, s->gpu.uuid, (int)pid, desc, recent, FAIL_LIMIT - 1, FAIL_WINDOW_MS / 1000);
        s->restart_at_ms = now + 250 * recent;
    }
}

/* How long after sending the last answered heartbeat the agent fences itself; 0 = never. */
static int64_t fence_after_ms(int64_t node_timeout_ms) {
    if (node_timeout_ms <= 0) return 0;
    int64_t margin = node_timeout_ms / 5;
    if (margin < FENCE_MARGIN_MIN_MS) margin = FENCE_MARGIN_MIN_MS;
    if (margin > node_timeout_ms / 2) margin = node_timeout_ms / 2;
    return node_timeout_ms - margin;
}

/* Notes a heartbeat (or registration) the broker answered, sent at sent_ms (monotonic): the broker
 * records it no earlier than that, so the node stays alive there for node_timeout from sent_ms at
 * least. A heartbeat's answer (once its leases are reconciled) lifts a fence; a registration's does
 * not, since it lists no leases: the next heartbeat tells which are still active. Under mu. */
static void answered(lp_agent *a, int64_t sent_ms, const json_t *ans, int lift) {
    json_int_t t = json_integer_value(json_object_get(ans, "node_timeout_ms"));
    if (t > 0) a->node_timeout_ms = t;
    if (sent_ms > a->answered_ms) a->answered_ms = sent_ms;
    if (a->fenced && lift) {
        a->fenced = 0;
        lp_log(LP_LOG_INFO,
               "node %s: the broker answers again; fence lifted (the workers of leases still active "
               "there start again; their buffers are lost)",
               a->cfg.name);
    }
}

/* Starts missing workers, ends leases whose time ran out, SIGKILLs stragglers. Under mu. */
static void tend(lp_agent *a) {
    int64_t now = lp_mono_ms(), wall = lp_wall_ms();
    int64_t fence_after = fence_after_ms(a->node_timeout_ms);
    if (!a->fenced && fence_after > 0 && a->answered_ms > 0 && now - a->answered_ms >= fence_after) {
        a->fenced = 1;
        int n = 0;
        for (int i = 0; i < a->nslots; i++)
            if (a->slots[i].lease) {
                slot_stop(&a->slots[i], "fenced: the broker is unreachable");
                n++;
            }
        lp_log(LP_LOG_WARN,
               "node %s: fenced: no heartbeat answered for %.1f s (the broker declares the node lost after "
               "%.1f s and fails its leases); stopping %d worker%s until the broker answers again",
               a->cfg.name, (double)(now - a->answered_ms) / 1000.0, (double)a->node_timeout_ms / 1000.0, n,
               n == 1 ? "" : "s");
    }
    for (ag_lease *l = a->leases; l; l = l->next) {
        if (l->failed || l->ended_local) continue;
        int64_t end = l->ends_ms > 0 ? l->ends_ms : l->expires_ms;
        const char *why = l->ends_by_cap ? "its cost cap was reached" : "its TTL ran out";
        if (end > 0 && wall >= end + DEADLINE_GRACE_MS) {
            l->ended_local = 1;
            a->ctr.leases_ended_local++;
            lp_log(LP_LOG_INFO, "lease %s node %s: ended by the agent: %s (broker last heard %.1f s ago)",
                   l->id, a->cfg.name, why,
                   a->last_contact_ms ? (double)(wall - a->last_contact_ms) / 1000.0 : -1.0);
            lease_stop_workers(a, l, why);
        }
    }
    for (int i = 0; i < a->nslots; i++) {
        ag_slot *s = &a->slots[i];
        if (s->pid > 0 && s->stopping && now >= s->kill_at_ms) {
            lp_log(LP_LOG_WARN, "lease %s gpu %s: worker %d ignored SIGTERM for %d s; killing it",
                   s->pid_lease, s->gpu.uuid, (int)s->pid, STOP_GRACE_MS / 1000);
            kill(s->pid, SIGKILL);
            s->kill_at_ms = now + 60000;
        }
        ag_lease *l = s->lease;
        if (s->pid == 0 && l && !l->failed && !l->ended_local && !a->fenced && now >= s->restart_at_ms)
            spawn(a, s);
    }
}

/* ---- the broker ---- */
/* The scheme of the addresses the agent and its workers serve (and register). */
static const char *scheme(const lp_agent *a) { return a->cfg.tls_cert[0] ? "https" : "http"; }

static json_t *registration(const lp_agent *a) {
    json_t *gpus = json_array();
    for (int i = 0; i < a->nslots; i++)
        json_array_append_new(gpus,
                              json_pack("{s:s, s:s, s:I, s:s}", "uuid", a->slots[i].gpu.uuid, "model",
                                        a->slots[i].gpu.name, "memory", (json_int_t)a->slots[i].gpu.memory,
                                        "address", a->slots[i].address));
    char addr[400];
    snprintf(addr, sizeof addr, "%s://%s:%d", scheme(a), a->adv_host, a->port);
    return json_pack("{s:s, s:s, s:f, s:o}", "name", a->cfg.name, "address", addr, "price_per_gpu_hour",
                     a->cfg.price, "gpus", gpus);
}

static void contact(lp_agent *a, int ok, const char *err) {
    pthread_mutex_lock(&a->mu);
    if (ok)
        a->ctr.broker_ok++;
    else
        a->ctr.broker_failed++;
    if (ok) {
        if (!a->broker_ok && a->last_contact_ms)
            lp_log(LP_LOG_INFO, "node %s: broker reachable again", a->cfg.name);
        a->broker_ok = 1;
        a->last_contact_ms = lp_wall_ms();
    } else if (a->broker_ok || !a->last_contact_ms) {
        lp_log(LP_LOG_WARN, "node %s: broker unreachable: %s (leases end on their own at their expiry)",
               a->cfg.name, err);
        a->broker_ok = 0;
        if (!a->last_contact_ms) a->last_contact_ms = -1;
    }
    pthread_mutex_unlock(&a->mu);
}

/* Returns 0, 1 to retry later, -1 when fatal. */
static int do_register(lp_agent *a) {
    json_t *body = registration(a), *ans = NULL;
    char err[600];
    int64_t sent = lp_mono_ms();
    int st = lp_broker_call(a->hb_bc, "POST", "/v1/nodes", body, CALL_TIMEOUT_MS, &ans, err, sizeof err);
    json_decref(body);
    if (st < 0 || st >= 500) {
        contact(a, 0, err);
        json_decref(ans);
        return 1;
    }
    contact(a, 1, NULL);
    if (st != 200 && st != 201) {
        lp_log(LP_LOG_ERROR, "node %s: the broker refused the registration: %s", a->cfg.name, err);
        json_decref(ans);
        return st == 401 || st == 403 || st == 400 ? -1 : 1;
    }
    const char *key = json_string_value(json_object_get(ans, "node_key"));
    json_int_t iv = json_integer_value(json_object_get(ans, "heartbeat_interval_ms"));
    if (!key || strlen(key) != 64) {
        lp_log(LP_LOG_ERROR,
               "node %s: the broker's registration answer has no node_key; lease tokens cannot be checked",
               a->cfg.name);
        json_decref(ans);
        return -1;
    }
    pthread_mutex_lock(&a->mu);
    if (a->node_key[0] && strcmp(a->node_key, key) != 0) {
        /* the broker signs with a new key now: running workers would refuse every new token */
        lp_log(LP_LOG_WARN, "node %s: the broker handed out a new node key; restarting the workers with it",
               a->cfg.name);
        for (int i = 0; i < a->nslots; i++)
            slot_stop(&a->slots[i], "the node key changed");
    }
    snprintf(a->node_key, sizeof a->node_key, "%s", key);
    a->hb_interval_ms = iv > 0 ? iv : 5000;
    a->registered = 1;
    answered(a, sent, ans, 0);
    pthread_mutex_unlock(&a->mu);
    lp_log(LP_LOG_INFO,
           "node %s: registered with %s (%s): %d GPUs at $%.4f/h, workers on ports %d..%d, heartbeat every "
           "%lld ms",
           a->cfg.name, a->cfg.broker, st == 201 ? "new" : "again", a->nslots, a->cfg.price, a->port + 1,
           a->port + a->nslots, (long long)(a->hb_interval_ms < HB_MAX_MS ? a->hb_interval_ms : HB_MAX_MS));
    json_decref(ans);
    return 0;
}

static ag_lease *find_lease(lp_agent *a, const char *id) {
    for (ag_lease *l = a->leases; l; l = l->next)
        if (!strcmp(l->id, id)) return l;
    return NULL;
}

static void lease_remove(lp_agent *a, ag_lease *l) {
    char dir[700];
    lease_stop_workers(a, l, "the lease ended");
    for (int i = 0; i < l->nslots; i++)
        if (l->slot[i] >= 0) {
            ag_slot *s = &a->slots[l->slot[i]];
            if (s->nended == LP_TOKEN_MAX_ENDED) {
                memmove(s->ended, s->ended + 1, (LP_TOKEN_MAX_ENDED - 1) * sizeof s->ended[0]);
                s->nended--;
            }
            snprintf(s->ended[s->nended++], sizeof s->ended[0], "%s", l->id);
            s->lease = NULL;
            s->held_ms += lp_mono_ms() - s->held_since_ms;
            s->nfails = 0;
            s->restarts = 0;
        }
    lease_dir(a, l->id, dir, sizeof dir);
    rm_tree(dir);
    lp_log(LP_LOG_INFO, "lease %s node %s: ended; its workers stop and its state is removed", l->id,
           a->cfg.name);
    for (ag_lease **pp = &a->leases; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    free(l);
}

static int64_t secs_ms(const json_t *v) {
    return json_is_integer(v) ? (int64_t)json_integer_value(v) * 1000 : 0;
}

/* Takes the broker's view of when a lease ends (a heartbeat's node view of the lease: expires_at,
 * ends_at, ends_by; docs/protocol.md). The billing rules stay at the broker. Returns 1 when the
 * expiry changed (an extension). */
static int lease_update_times(ag_lease *l, const json_t *j) {
    int changed = 0;
    int64_t exp = secs_ms(json_object_get(j, "expires_at"));
    int64_t ends = secs_ms(json_object_get(j, "ends_at"));
    if (exp > 0 && exp != l->expires_ms) {
        changed = 1;
        l->expires_ms = exp;
    }
    l->ends_ms = ends > 0 ? ends : exp;
    const char *by = json_string_value(json_object_get(j, "ends_by"));
    l->ends_by_cap = by && !strcmp(by, "cost_cap");
    if (changed && l->ended_local && !l->failed && l->ends_ms > lp_wall_ms())
        l->ended_local = 0; /* extended */
    return changed;
}

static void lease_add(lp_agent *a, const char *id, const json_t *j) {
    ag_lease *l = calloc(1, sizeof *l);
    if (!l) return;
    snprintf(l->id, sizeof l->id, "%s", id);
    l->seen = 1;
    lease_update_times(l, j);
    const json_t *gpus = json_object_get(j, "gpus");
    size_t n = json_array_size(gpus);
    if (n > LP_AGENT_MAX_GPUS) n = LP_AGENT_MAX_GPUS;
    l->nslots = (int)n;
    int here = 0;
    for (size_t k = 0; k < n; k++) {
        const char *uuid = json_string_value(json_object_get(json_array_get(gpus, k), "uuid"));
        l->slot[k] = -1;
        for (int i = 0; uuid && i < a->nslots; i++)
            if (!strcmp(a->slots[i].gpu.uuid, uuid)) l->slot[k] = i;
        if (l->slot[k] < 0) {
            lp_log(LP_LOG_ERROR, "lease %s node %s: the broker lists GPU %s, which this agent does not offer",
                   id, a->cfg.name, uuid ? uuid : "?");
            continue;
        }
        ag_slot *s = &a->slots[l->slot[k]];
        if (s->lease) {
            lp_log(LP_LOG_ERROR, "lease %s node %s: GPU %s is still held by lease %s; not starting it there",
                   id, a->cfg.name, s->gpu.uuid, s->lease->id);
            l->slot[k] = -1;
            continue;
        }
        s->lease = l;
        s->held_since_ms = lp_mono_ms();
        s->lease_index = (int)k;
        s->nfails = 0;
        s->restarts = 0;
        s->restart_at_ms = 0;
        here++;
    }
    l->next = a->leases;
    a->leases = l;
    lp_log(LP_LOG_INFO, "lease %s node %s: granted on %d GPU%s here, ends at %lld (%s)", id, a->cfg.name,
           here, here == 1 ? "" : "s", (long long)(l->ends_ms / 1000),
           l->ends_by_cap ? "its cost cap" : "its TTL");
}

/* Removes lease directories that belong to no active lease (left by an earlier run). Under mu. */
static void sweep_dirs(lp_agent *a) {
    char root[700];
    snprintf(root, sizeof root, "%s/leases", a->cfg.state_dir);
    DIR *d = opendir(root);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || find_lease(a, e->d_name)) continue;
        char p[1000];
        snprintf(p, sizeof p, "%s/%s", root, e->d_name);
        rm_tree(p);
    }
    closedir(d);
}

/* Returns 1 when the node's set of leases (or an expiry) changed. */
static int reconcile(lp_agent *a, const json_t *leases) {
    int changed = 0;
    pthread_mutex_lock(&a->mu);
    for (ag_lease *l = a->leases; l; l = l->next)
        l->seen = 0;
    size_t i;
    const json_t *j;
    json_array_foreach(leases, i, j) {
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *state = json_string_value(json_object_get(j, "state"));
        if (!id || (state && strcmp(state, "active") != 0)) continue;
        ag_lease *l = find_lease(a, id);
        if (l) {
            l->seen = 1;
            changed |= lease_update_times(l, j);
        }
    }
    for (ag_lease *l = a->leases, *nx; l; l = nx) {
        nx = l->next;
        if (!l->seen) {
            lease_remove(a, l);
            changed = 1;
        }
    }
    json_array_foreach(leases, i, j) {
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *state = json_string_value(json_object_get(j, "state"));
        if (!id || (state && strcmp(state, "active") != 0) || find_lease(a, id)) continue;
        if (!safe_id(id)) {
            lp_log(LP_LOG_ERROR, "node %s: ignoring a lease with an unusable id", a->cfg.name);
            continue;
        }
        lease_add(a, id, j);
        changed = 1;
    }
    if (!a->swept) {
        sweep_dirs(a);
        a->swept = 1;
    }
    pthread_mutex_unlock(&a->mu);
    return changed;
}

/* One heartbeat, long-polling up to wait_ms for a change of the node's leases.
 * Returns 0 (answered; *changed says whether the leases changed), -1 (no answer) or 1 (the broker
 * does not know the node: register again). */
static int heartbeat(lp_agent *a, int64_t wait_ms, int *changed) {
    char path[300], err[600];
    *changed = 0;
    snprintf(path, sizeof path, "/v1/nodes/%s/heartbeat", a->cfg.name);
    json_t *body = json_object(), *ans = NULL, *known = json_array();
    if (wait_ms > 0) json_object_set_new(body, "wait_ms", json_integer((json_int_t)wait_ms));
    pthread_mutex_lock(&a->mu);
    for (ag_lease *l = a->leases; l; l = l->next)
        json_array_append_new(known, json_string(l->id));
    pthread_mutex_unlock(&a->mu);
    json_object_set_new(body, "known", known);
    int64_t sent = lp_mono_ms();
    int st =
        lp_broker_call(a->hb_bc, "POST", path, body, (long)wait_ms + CALL_TIMEOUT_MS, &ans, err, sizeof err);
    json_decref(body);
    int rc = 0;
    if (flag_get(&a->stop)) {
        rc = -1;
    } else if (st < 0 || st >= 500) {
        contact(a, 0, err);
        rc = -1;
    } else if (st == 404) {
        contact(a, 1, NULL);
        lp_log(LP_LOG_WARN, "node %s: the broker does not know this node (%s); registering again",
               a->cfg.name, err);
        pthread_mutex_lock(&a->mu);
        a->registered = 0;
        pthread_mutex_unlock(&a->mu);
        rc = 1;
    } else if (st == 400 && wait_ms > 0 && !a->no_long_poll) {
        contact(a, 1, NULL);
        lp_log(LP_LOG_WARN,
               "node %s: the broker refused a long-polling heartbeat (%s); heartbeating without wait_ms",
               a->cfg.name, err);
        a->no_long_poll = 1;
        rc = -1;
    } else if (st != 200) {
        contact(a, 1, NULL);
        lp_log(LP_LOG_ERROR, "node %s: heartbeat refused: %s", a->cfg.name, err);
        rc = -1;
    } else {
        contact(a, 1, NULL);
        a->known_checked = json_is_true(json_object_get(ans, "known_checked"));
        const json_t *leases = json_object_get(ans, "leases");
        if (json_is_array(leases)) *changed = reconcile(a, leases);
        pthread_mutex_lock(&a->mu);
        answered(a, sent, ans, 1); /* after reconcile: leases the broker ended are not restarted */
        pthread_mutex_unlock(&a->mu);
    }
    json_decref(ans);
    return rc;
}

static void nap(lp_agent *a, int64_t ms) {
    for (int64_t end = lp_mono_ms() + ms; !flag_get(&a->stop) && lp_mono_ms() < end;)
        lp_sleep_ms(20);
}

/* The heartbeat thread: registers, then heartbeats. A broker that long-polls answers as soon as
 * the node's leases change, so grants reach the workers without waiting for the next beat. */
static void *hb_main(void *arg) {
    lp_agent *a = arg;
    while (!flag_get(&a->stop)) {
        if (!a->registered) {
            int r = do_register(a);
            if (r < 0) {
                flag_set(&a->fatal);
                break;
            }
            if (r > 0) nap(a, 2000);
            continue;
        }
        int64_t iv = a->hb_interval_ms, beat = iv < HB_MAX_MS ? iv : HB_MAX_MS;
        /* long-poll for up to the broker's interval (it keeps a node alive), at most LONG_POLL_MAX_MS */
        int64_t cap = a->known_checked ? LONG_POLL_MAX_MS : LONG_POLL_BLIND_MS;
        int64_t wait = a->no_long_poll ? 0 : iv < cap ? iv : cap;
        /* Fencing counts from when the last answered heartbeat was sent, so two long-polls back to
         * back may pass before an answer moves it: keep each to a third of the fencing time. */
        int64_t fence_wait = fence_after_ms(a->node_timeout_ms) / 3;
        if (fence_wait > 0 && wait > fence_wait) wait = fence_wait;
        int64_t t0 = lp_mono_ms();
        int changed = 0;
        int r = heartbeat(a, wait, &changed);
        int64_t took = lp_mono_ms() - t0;
        if (r < 0)
            nap(a, beat);
        else if (r == 0 && !changed && took < wait / 2 + 1)
            nap(a, beat - took); /* the broker answered at once: it does not long-poll */
    }
    return NULL;
}

/* Tells the broker about leases that failed here (POST /v1/nodes/{name}/leases/{id}/fail; the broker
 * ends the lease as failed and bills it to then). A report the broker cannot take now is retried on
 * the next turn; one it refuses leaves the lease to end otherwise (closed, expired). */
static void report_failures(lp_agent *a) {
    char ids[8][128], reasons[8][600];
    int n = 0;
    pthread_mutex_lock(&a->mu);
    for (ag_lease *l = a->leases; l && n < 8; l = l->next)
        if (l->failed && !l->fail_reported) {
            snprintf(ids[n], sizeof ids[n], "%s", l->id);
            snprintf(reasons[n], sizeof reasons[n], "%s", l->fail_reason);
            n++;
        }
    pthread_mutex_unlock(&a->mu);
    for (int i = 0; i < n; i++) {
        char path[400], err[600];
        snprintf(path, sizeof path, "/v1/nodes/%.128s/leases/%.128s/fail", a->cfg.name, ids[i]);
        reasons[i][200] = 0; /* the broker keeps at most 200 bytes */
        json_t *body = json_pack("{s:s}", "reason", reasons[i]), *ans = NULL;
        int st = lp_broker_call(a->bc, "POST", path, body, CALL_TIMEOUT_MS, &ans, err, sizeof err);
        json_decref(body);
        json_decref(ans);
        if (st < 0 || st >= 500) {
            contact(a, 0, err);
            continue; /* retried on the next turn */
        }
        contact(a, 1, NULL);
        if (st >= 200 && st < 300)
            lp_log(LP_LOG_INFO, "lease %s node %s: reported failed to the broker", ids[i], a->cfg.name);
        else if (st == 410)
            lp_log(LP_LOG_INFO, "lease %s node %s: had already ended at the broker", ids[i], a->cfg.name);
        else
            lp_log(LP_LOG_WARN,
                   "lease %s node %s: the broker did not take the failure report (%s); it stays active there "
                   "until it is closed or expires",
                   ids[i], a->cfg.name, err);
        pthread_mutex_lock(&a->mu);
        ag_lease *l = find_lease(a, ids[i]);
        if (l) l->fail_reported = 1;
        pthread_mutex_unlock(&a->mu);
    }
}

/* ---- health endpoint ---- */
/* 1 when pid has exited or is exiting (zombie, dead, or gone from /proc). */
static int proc_exiting(pid_t pid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *rp = strrchr(buf, ')');
    return !rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X' || rp[2] == 'x';
}

/* Reaps now, waiting a moment for workers that are in the middle of exiting, so that the health
 * answer never shows a worker that is already gone. Under mu. */
static void reap_settled(lp_agent *a) {
    reap(a);
    for (int i = 0; i < a->nslots; i++) {
        ag_slot *s = &a->slots[i];
        for (int k = 0; k < 25 && s->pid > 0 && s->stopping && proc_exiting(s->pid); k++) {
            lp_sleep_ms(2);
            reap(a);
        }
    }
}

static void h_healthz(lp_http_req *r, void *user) {
    lp_agent *a = user;
    pthread_mutex_lock(&a->mu);
    reap_settled(a); /* a worker that has just exited shows as gone, not as a zombie yet to be reaped */
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
    reap_settled(a);
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

/* ---- life cycle ---- */
static void find_worker(lp_agent *a) {
    const char *env = getenv("LEPTON_WORKER");
    if (a->cfg.worker[0]) {
        snprintf(a->worker_path, sizeof a->worker_path, "%s", a->cfg.worker);
    } else if (env && *env) {
        snprintf(a->worker_path, sizeof a->worker_path, "%s", env);
    } else {
        char self[900];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
            self[n] = 0;
            char *slash = strrchr(self, '/');
            if (slash) *slash = 0;
            snprintf(a->worker_path, sizeof a->worker_path, "%s/lepton-worker", self);
        } else {
            snprintf(a->worker_path, sizeof a->worker_path, "lepton-worker");
        }
    }
}

static int read_all(int fd, void *buf, size_t n) {
    for (size_t off = 0; off < n;) {
        ssize_t r = read(fd, (char *)buf + off, n - off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        off += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t n) {
    for (size_t off = 0; off < n;) {
        ssize_t r = write(fd, (const char *)buf + off, n - off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        off += (size_t)r;
    }
    return 0;
}

/* Lists the GPUs through the driver, in a child process. The child answers on a pipe:
 * int rc, char err[600], char driver[600], int count, then count lp_gpu_desc. */
static int discover(const char *lib, lp_gpu_desc **out, int *count, char *driver, size_t dn, char *err,
                    size_t en) {
    *out = NULL;
    *count = 0;
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(err, en, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, en, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        lp_cuda cu;
        char e[600] = "", d[600] = "";
        lp_gpu_desc *g = NULL;
        int n = 0, rc = lp_cuda_open(&cu, lib, e, sizeof e);
        if (rc == 0) {
            snprintf(d, sizeof d, "%s (driver API %d)", cu.path, cu.driver_version);
            rc = lp_cuda_list_gpus(&cu, &g, &n, e, sizeof e);
        }
        int ok = write_all(fds[1], &rc, sizeof rc) == 0 && write_all(fds[1], e, sizeof e) == 0 &&
                 write_all(fds[1], d, sizeof d) == 0 && write_all(fds[1], &n, sizeof n) == 0 &&
                 (n == 0 || write_all(fds[1], g, (size_t)n * sizeof *g) == 0);
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    int rc = -1, n = 0;
    char e[600] = "", d[600] = "";
    lp_gpu_desc *g = NULL;
    if (read_all(fds[0], &rc, sizeof rc) != 0 || read_all(fds[0], e, sizeof e) != 0 ||
        read_all(fds[0], d, sizeof d) != 0 || read_all(fds[0], &n, sizeof n) != 0 || n < 0 || n > 4096 ||
        (n > 0 && (!(g = calloc((size_t)n, sizeof *g)) || read_all(fds[0], g, (size_t)n * sizeof *g) != 0))) {
        snprintf(e, sizeof e, "the CUDA driver %s crashed the process listing the GPUs",
                 lib ? lib : "libcuda.so.1");
        rc = -1;
    }
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    e[sizeof e - 1] = d[sizeof d - 1] = 0;
    if (rc != 0) {
        free(g);
        snprintf(err, en, "%s", e);
        return -1;
    }
    snprintf(driver, dn, "%s", d);
    *out = g;
    *count = n;
    return 0;
}

int lp_agent_new(const lp_agent_config *cfg, lp_agent **out, char *err, size_t en) {
    *out = NULL;
    lp_agent *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, en, "out of memory");
        return -1;
    }
    a->cfg = *cfg;
    pthread_mutex_init(&a->mu, NULL);
    if (lp_split_hostport(cfg->listen, a->listen_host, sizeof a->listen_host, &a->port) != 0) {
        snprintf(err, en, "bad listen address %s", cfg->listen);
        goto fail;
    }
    const char *adv = cfg->advertise[0] ? cfg->advertise : a->listen_host;
    char hn[256];
    if (!cfg->advertise[0] && (!*adv || !strcmp(adv, "0.0.0.0") || !strcmp(adv, "::"))) {
        if (gethostname(hn, sizeof hn - 1) == 0 && *hn)
            adv = hn;
        else
            adv = "127.0.0.1";
        lp_log(LP_LOG_WARN,
               "listening on all interfaces; advertising host %s to clients (set --advertise to change)",
               adv);
    }
    snprintf(a->adv_host, sizeof a->adv_host, "%s%s%s", strchr(adv, ':') ? "[" : "", adv,
             strchr(adv, ':') ? "]" : "");
    find_worker(a);
    if (access(a->worker_path, X_OK) != 0) {
        snprintf(err, en, "cannot execute the worker %s (%s); give --worker PATH", a->worker_path,
                 strerror(errno));
        goto fail;
    }
    /* discover the GPUs in a child process: the agent never keeps a CUDA driver (its memory, its
     * threads) loaded, and a driver that hangs or crashes at start cannot take the agent along */
    lp_gpu_desc *all = NULL;
    int nall = 0;
    char cerr[600];
    if (discover(cfg->cuda_library[0] ? cfg->cuda_library : NULL, &all, &nall, a->driver, sizeof a->driver,
                 cerr, sizeof cerr) != 0) {
        snprintf(err, en, "%s", cerr);
        goto fail;
    }
    int want = cfg->ngpus ? cfg->ngpus : nall;
    for (int i = 0; i < want && i < LP_AGENT_MAX_GPUS; i++) {
        int ord = cfg->ngpus ? cfg->gpus[i] : i;
        if (ord >= nall) {
            snprintf(err, en, "--gpus names device %d, but the driver shows %d GPU%s (0..%d)", ord, nall,
                     nall == 1 ? "" : "s", nall - 1);
            free(all);
            goto fail;
        }
        ag_slot *s = &a->slots[a->nslots++];
        s->gpu = all[ord];
        s->port = a->port + 1 + i;
        snprintf(s->address, sizeof s->address, "%s://%s:%d", scheme(a), a->adv_host, s->port);
    }
    free(all);
    if (a->nslots == 0) {
        snprintf(err, en, "no GPUs found through %s", a->driver);
        goto fail;
    }
    if (a->port + a->nslots > 65535) {
        snprintf(err, en, "listen port %d leaves no room for %d worker ports", a->port, a->nslots);
        goto fail;
    }
    if (lp_listen_available(cfg->listen, err, en) != 0) goto fail;
    for (int i = 0; i < a->nslots; i++) {
        char wl[300], werr[400];
        snprintf(wl, sizeof wl, "%s%s%s:%d", strchr(a->listen_host, ':') ? "[" : "", a->listen_host,
                 strchr(a->listen_host, ':') ? "]" : "", a->slots[i].port);
        if (lp_listen_available(wl, werr, sizeof werr) != 0) {
            snprintf(err, en, "the worker port of GPU %d: %s (a worker of an earlier leptond still running?)",
                     i, werr);
            goto fail;
        }
    }
    char sd[700];
    snprintf(sd, sizeof sd, "%s/leases", cfg->state_dir);
    if (mkdirs(sd) != 0) {
        snprintf(err, en, "cannot create the state directory %s: %s", sd, strerror(errno));
        goto fail;
    }
    if (cfg->ca_file[0] && access(cfg->ca_file, R_OK) != 0) {
        snprintf(err, en, "cannot read the CA file %s (--ca-file): %s", cfg->ca_file, strerror(errno));
        goto fail;
    }
    if (cfg->ca_file[0] && strncmp(cfg->broker, "https://", 8) != 0)
        lp_log(LP_LOG_WARN, "node %s: --ca-file %s is not used: the broker %s is not https://", cfg->name,
               cfg->ca_file, cfg->broker);
    a->bc = lp_broker_client_new(cfg->broker, cfg->token, cfg->ca_file);
    a->hb_bc = lp_broker_client_new(cfg->broker, cfg->token, cfg->ca_file);
    if (!a->bc || !a->hb_bc) {
        snprintf(err, en, "cannot set up libcurl");
        goto fail;
    }
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
        goto fail;
    }
    if (lp_http_server_new(&hc, &a->http, err, en) != 0) goto fail;
    lp_http_server_set_observer(a->http, lp_prom_http_observe, a->http_metrics);
    if (lp_http_server_route(a->http, "GET", "/healthz", h_healthz, a) != 0 ||
        lp_http_server_route(a->http, "GET", "/metrics", h_metrics, a) != 0 ||
        lp_http_server_start(a->http, err, en) != 0)
        goto fail;
    for (int i = 0; i < a->nslots; i++)
        lp_log(LP_LOG_INFO, "node %s: GPU %d = device %d, %s, %s, %.1f GiB, worker address %s", cfg->name, i,
               a->slots[i].gpu.ordinal, a->slots[i].gpu.name, a->slots[i].gpu.uuid,
               (double)a->slots[i].gpu.memory / (1024.0 * 1024 * 1024), a->slots[i].address);
    if (cfg->tls_cert[0])
        lp_log(LP_LOG_INFO, "node %s: HTTPS for the agent and its workers with certificate %s, key %s",
               cfg->name, cfg->tls_cert, cfg->tls_key);
    lp_log(LP_LOG_INFO, "node %s: leptond on %s://%s, CUDA %s, worker %s, state in %s", cfg->name, scheme(a),
           cfg->listen, a->driver, a->worker_path, cfg->state_dir);
    *out = a;
    return 0;
fail:
    lp_agent_free(a);
    return -1;
}

static int workers_running(lp_agent *a) {
    for (int i = 0; i < a->nslots; i++)
        if (a->slots[i].pid > 0) return 1;
    return 0;
}

int lp_agent_run(lp_agent *a) {
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGCHLD);
    int rc = 0;
    lp_broker_client_set_abort(a->hb_bc, &a->stop);
    if (pthread_create(&a->hb_thread, NULL, hb_main, a) != 0) {
        lp_log(LP_LOG_ERROR, "node %s: cannot start the heartbeat thread", a->cfg.name);
        return 1;
    }
    a->hb_started = 1;
    for (;;) {
        if (flag_get(&a->fatal)) {
            rc = 1;
            break;
        }
        pthread_mutex_lock(&a->mu);
        reap(a);
        tend(a);
        pthread_mutex_unlock(&a->mu);
        report_failures(a);
        struct timespec ts = {0, 50 * 1000 * 1000};
        if (a->cfg.embedded) {
            nanosleep(&ts, NULL);
        } else {
            int sig = sigtimedwait(&sigs, NULL, &ts);
            if (sig == SIGTERM || sig == SIGINT) {
                lp_log(LP_LOG_INFO, "node %s: signal %d: ending the workers and deregistering", a->cfg.name,
                       sig);
                break;
            }
        }
        if (flag_get(&a->stop)) {
            lp_log(LP_LOG_INFO, "node %s: asked to stop: ending the workers and deregistering", a->cfg.name);
            break;
        }
    }
    flag_set(&a->stop);
    pthread_join(a->hb_thread, NULL);
    a->hb_started = 0;
    /* end every worker, wait for them (SIGKILL after the grace period), then deregister */
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < a->nslots; i++)
        slot_stop(&a->slots[i], "leptond is shutting down");
    pthread_mutex_unlock(&a->mu);
    int64_t until = lp_mono_ms() + STOP_GRACE_MS + 2000;
    while (lp_mono_ms() < until) {
        pthread_mutex_lock(&a->mu);
        reap(a);
        for (int i = 0; i < a->nslots; i++) {
            ag_slot *s = &a->slots[i];
            if (s->pid > 0 && lp_mono_ms() >= s->kill_at_ms) {
                kill(s->pid, SIGKILL);
                s->kill_at_ms = until;
            }
        }
        int busy = workers_running(a);
        pthread_mutex_unlock(&a->mu);
        if (!busy) break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        if (a->cfg.embedded)
            nanosleep(&ts, NULL);
        else
            sigtimedwait(&sigs, NULL, &ts);
    }
    if (a->registered) {
        char path[300], err[600];
        json_t *ans = NULL;
        snprintf(path, sizeof path, "/v1/nodes/%s", a->cfg.name);
        int st = lp_broker_call(a->bc, "DELETE", path, NULL, 3000, &ans, err, sizeof err);
        json_decref(ans);
        if (st >= 200 && st < 300)
            lp_log(LP_LOG_INFO, "node %s: deregistered", a->cfg.name);
        else
            lp_log(LP_LOG_WARN, "node %s: could not deregister: %s", a->cfg.name, err);
    }
    pthread_mutex_lock(&a->mu);
    while (a->leases)
        lease_remove(a, a->leases);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

void lp_agent_stop(lp_agent *a) {
    if (a) flag_set(&a->stop);
}

void lp_agent_free(lp_agent *a) {
    if (!a) return;
    lp_http_server_free(a->http);
    lp_prom_http_free(a->http_metrics);
    if (a->hb_started) {
        flag_set(&a->stop);
        pthread_join(a->hb_thread, NULL);
    }
    lp_broker_client_free(a->bc);
    lp_broker_client_free(a->hb_bc);
    while (a->leases) {
        ag_lease *l = a->leases;
        a->leases = l->next;
        free(l);
    }
    pthread_mutex_destroy(&a->mu);
    free(a);
}
