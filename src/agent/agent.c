/* agent.c — leptond's core (agent.h): its life cycle. lp_agent_new finds the worker executable,
 * discovers the GPUs (in a child process), checks the ports and starts the health endpoint;
 * lp_agent_run starts the heartbeat thread (agent_broker.c) and then, on this thread, runs
 * everything else that changes state, every 50 ms: reaping and replacing workers, ending leases
 * whose time (or cost cap) ran out even when the broker cannot be reached, fencing, reporting
 * failed leases; at the end it stops every worker and deregisters. The parts and what they share:
 * agent_internal.h. */
#define _XOPEN_SOURCE 700
#include "agent_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "port.h"

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

int ag_write_all(int fd, const void *buf, size_t n) {
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
        int ok = ag_write_all(fds[1], &rc, sizeof rc) == 0 && ag_write_all(fds[1], e, sizeof e) == 0 &&
                 ag_write_all(fds[1], d, sizeof d) == 0 && ag_write_all(fds[1], &n, sizeof n) == 0 &&
                 (n == 0 || ag_write_all(fds[1], g, (size_t)n * sizeof *g) == 0);
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

/* The listen host and port, and the host in the addresses the agent advertises. */
static int take_addresses(lp_agent *a, const lp_agent_config *cfg, char *err, size_t en) {
    if (lp_split_hostport(cfg->listen, a->listen_host, sizeof a->listen_host, &a->port) != 0) {
        snprintf(err, en, "bad listen address %s", cfg->listen);
        return -1;
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
    return 0;
}

/* The GPUs --gpus picks (all by default), one slot each, with its worker's port and address. */
static int take_gpus(lp_agent *a, const lp_agent_config *cfg, char *err, size_t en) {
    /* discover the GPUs in a child process: the agent never keeps a CUDA driver (its memory, its
     * threads) loaded, and a driver that hangs or crashes at start cannot take the agent along */
    lp_gpu_desc *all = NULL;
    int nall = 0;
    char cerr[600];
    if (discover(cfg->cuda_library[0] ? cfg->cuda_library : NULL, &all, &nall, a->driver, sizeof a->driver,
                 cerr, sizeof cerr) != 0) {
        snprintf(err, en, "%s", cerr);
        return -1;
    }
    int want = cfg->ngpus ? cfg->ngpus : nall;
    for (int i = 0; i < want && i < LP_AGENT_MAX_GPUS; i++) {
        int ord = cfg->ngpus ? cfg->gpus[i] : i;
        if (ord >= nall) {
            snprintf(err, en, "--gpus names device %d, but the driver shows %d GPU%s (0..%d)", ord, nall,
                     nall == 1 ? "" : "s", nall - 1);
            free(all);
            return -1;
        }
        ag_slot *s = &a->slots[a->nslots++];
        s->gpu = all[ord];
        s->port = a->port + 1 + i;
        snprintf(s->address, sizeof s->address, "%s://%s:%d", ag_scheme(a), a->adv_host, s->port);
    }
    free(all);
    if (a->nslots == 0) {
        snprintf(err, en, "no GPUs found through %s", a->driver);
        return -1;
    }
    if (a->port + a->nslots > 65535) {
        snprintf(err, en, "listen port %d leaves no room for %d worker ports", a->port, a->nslots);
        return -1;
    }
    return 0;
}

/* The agent's port and every worker's port are free. */
static int check_ports(lp_agent *a, const lp_agent_config *cfg, char *err, size_t en) {
    if (lp_listen_available(cfg->listen, err, en) != 0) return -1;
    for (int i = 0; i < a->nslots; i++) {
        char wl[300], werr[400];
        ag_listen_addr(a, a->slots[i].port, wl, sizeof wl);
        if (lp_listen_available(wl, werr, sizeof werr) != 0) {
            snprintf(err, en, "the worker port of GPU %d: %s (a worker of an earlier leptond still running?)",
                     i, werr);
            return -1;
        }
    }
    return 0;
}

static void log_start(const lp_agent *a, const lp_agent_config *cfg) {
    for (int i = 0; i < a->nslots; i++)
        lp_log(LP_LOG_INFO, "node %s: GPU %d = device %d, %s, %s, %.1f GiB, worker address %s", cfg->name, i,
               a->slots[i].gpu.ordinal, a->slots[i].gpu.name, a->slots[i].gpu.uuid,
               (double)a->slots[i].gpu.memory / (1024.0 * 1024 * 1024), a->slots[i].address);
    if (cfg->tls_cert[0])
        lp_log(LP_LOG_INFO, "node %s: HTTPS for the agent and its workers with certificate %s, key %s",
               cfg->name, cfg->tls_cert, cfg->tls_key);
    lp_log(LP_LOG_INFO, "node %s: leptond on %s://%s, CUDA %s, worker %s, state in %s", cfg->name,
           ag_scheme(a), cfg->listen, a->driver, a->worker_path, cfg->state_dir);
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
    if (take_addresses(a, cfg, err, en) != 0) goto fail;
    find_worker(a);
    if (access(a->worker_path, X_OK) != 0) {
        snprintf(err, en, "cannot execute the worker %s (%s); give --worker PATH", a->worker_path,
                 strerror(errno));
        goto fail;
    }
    if (take_gpus(a, cfg, err, en) != 0 || check_ports(a, cfg, err, en) != 0) goto fail;
    char sd[700];
    snprintf(sd, sizeof sd, "%s/leases", cfg->state_dir);
    if (ag_mkdirs(sd) != 0) {
        snprintf(err, en, "cannot create the state directory %s: %s", sd, strerror(errno));
        goto fail;
    }
    if (ag_broker_open(a, err, en) != 0 || ag_http_start(a, err, en) != 0) goto fail;
    log_start(a, cfg);
    *out = a;
    return 0;
fail:
    lp_agent_free(a);
    return -1;
}

/* Starts missing workers, ends leases whose time ran out, SIGKILLs stragglers. Under mu. */
static void tend(lp_agent *a) {
    int64_t now = lp_mono_ms(), wall = lp_wall_ms();
    ag_fence_check(a, now);
    ag_leases_end_due(a, wall);
    ag_workers_tend(a, now);
}

int lp_agent_run(lp_agent *a) {
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGCHLD);
    int rc = 0;
    lp_broker_client_set_abort(a->hb_bc, &a->stop);
    if (pthread_create(&a->hb_thread, NULL, ag_hb_main, a) != 0) {
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
        ag_reap(a);
        tend(a);
        pthread_mutex_unlock(&a->mu);
        ag_report_failures(a);
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
    ag_workers_end(a, &sigs);
    ag_deregister(a);
    pthread_mutex_lock(&a->mu);
    while (a->leases)
        ag_lease_remove(a, a->leases);
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
