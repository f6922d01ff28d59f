/* agent_workers.c — leptond's lease worker processes (agent_internal.h): one lepton-worker per
 * leased GPU, started with its own lease's key on a pipe, reaped, replaced after a crash or a
 * sticky CUDA error (and given up after FAIL_LIMIT failures in FAIL_WINDOW_MS, failing the lease),
 * stopped with SIGTERM and, past STOP_GRACE_MS, SIGKILL. */
#define _XOPEN_SOURCE 700
#include "agent_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "lease_token.h"
#include "log.h"
#include "worker.h"

extern char **environ;

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

void ag_slot_stop(ag_slot *s, const char *why) {
    if (s->pid > 0 && !s->stopping) {
        kill(s->pid, SIGTERM);
        s->stopping = 1;
        s->kill_at_ms = lp_mono_ms() + STOP_GRACE_MS;
        lp_log(LP_LOG_INFO, "lease %s gpu %s: stopping worker %d (%s)", s->pid_lease, s->gpu.uuid,
               (int)s->pid, why);
    }
}

void ag_listen_addr(const lp_agent *a, int port, char *out, size_t n) {
    snprintf(out, n, "%s%s%s:%d", strchr(a->listen_host, ':') ? "[" : "", a->listen_host,
             strchr(a->listen_host, ':') ? "]" : "", port);
}

/* A pipe whose read end (returned, close-on-exec) holds, to its end, the lease key (derived from
 * the node key: the worker can verify this lease's tokens and no other's) and the GPU's ended
 * leases; -1 after logging why not (the start is tried again in a second). */
static int key_pipe(lp_agent *a, ag_slot *s) {
    ag_lease *l = s->lease;
    unsigned char node_key[32], lease_key[32];
    char grant[LP_TOKEN_MAX_ENDED * 140 + 100];
    int kp[2] = {-1, -1};
    int glen = -1;
    if (lp_node_key_from_hex(a->node_key, node_key) == 0) {
        lp_lease_key(node_key, l->id, lease_key);
        glen = lp_token_grant_text(grant, sizeof grant, lease_key, (const char(*)[128])s->ended, s->nended);
    }
    memset(node_key, 0, sizeof node_key);
    memset(lease_key, 0, sizeof lease_key);
    if (glen < 0 || pipe(kp) != 0 || fcntl(kp[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(kp[1], F_SETFD, FD_CLOEXEC) != 0 || ag_write_all(kp[1], grant, (size_t)glen) != 0) {
        lp_log(LP_LOG_ERROR, "lease %s gpu %s: cannot hand the worker its lease key: %s", l->id, s->gpu.uuid,
               glen < 0 ? "no node key yet" : strerror(errno));
        memset(grant, 0, sizeof grant);
        if (kp[0] >= 0) close(kp[0]), close(kp[1]);
        s->restart_at_ms = lp_mono_ms() + 1000;
        return -1;
    }
    memset(grant, 0, sizeof grant);
    close(kp[1]); /* the worker reads to the end */
    return kp[0];
}

/* The worker's environment: the agent's, with no key in it (a LEPTON_NODE_KEY of the agent's own
 * is not passed on) and --log-level as LEPTON_LOG_LEVEL (levelvar, the caller's, holds it). NULL
 * when out of memory; free the array (not its strings). */
static char **worker_env(const lp_agent *a, char *levelvar, size_t levelvar_size) {
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **envp = calloc(ne + 2, sizeof *envp);
    static const char *levels[] = {"error", "warn", "info", "debug"};
    int lv = a->cfg.log_level;
    snprintf(levelvar, levelvar_size, "LEPTON_LOG_LEVEL=%s", lv >= 0 && lv < 4 ? levels[lv] : "info");
    if (!envp) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "LEPTON_NODE_KEY=", 16) != 0 &&
            (lv < 0 || strncmp(environ[i], "LEPTON_LOG_LEVEL=", 17) != 0))
            envp[k++] = environ[i];
    if (lv >= 0) envp[k++] = levelvar; /* --log-level applies to the workers too */
    envp[k] = NULL;
    return envp;
}

static void spawn(lp_agent *a, ag_slot *s) {
    ag_lease *l = s->lease;
    char listen[300], dir[700], index[16];
    ag_listen_addr(a, s->port, listen, sizeof listen);
    ag_lease_dir(a, l->id, dir, sizeof dir);
    snprintf(index, sizeof index, "%d", s->lease_index);
    if (ag_mkdirs(dir) != 0)
        lp_log(LP_LOG_WARN, "lease %s: cannot create %s: %s", l->id, dir, strerror(errno));
    /* the lease key and the GPU's ended leases, on a pipe only this worker inherits */
    int key_fd = key_pipe(a, s);
    if (key_fd < 0) return;
    char keyfd[16];
    snprintf(keyfd, sizeof keyfd, "%d", key_fd);
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
    char levelvar[64];
    char **envp = worker_env(a, levelvar, sizeof levelvar);
    if (!envp) {
        close(key_fd);
        return;
    }
    sigset_t none;
    sigemptyset(&none);
    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &none, NULL); /* the agent blocks its signals; the worker must not */
        /* Its own process group: a Ctrl-C in the agent's terminal must not reach the worker
         * directly (the agent ends its leases first, then its workers; PDEATHSIG covers a dead agent). */
        setpgid(0, 0);
        fcntl(key_fd, F_SETFD, 0); /* the key pipe: this worker's only */
        execve(a->worker_path, argv, envp);
        _exit(127);
    }
    free(envp);
    close(key_fd);
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

void ag_lease_stop_workers(lp_agent *a, ag_lease *l, const char *why) {
    for (int i = 0; i < l->nslots; i++)
        if (l->slot[i] >= 0) ag_slot_stop(&a->slots[l->slot[i]], why);
}

/* Reaps every ended child and decides what follows. Under mu. */
void ag_reap(lp_agent *a) {
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
            ag_lease_fail(a, l, reason);
            continue;
        }
        lp_log(LP_LOG_WARN, "lease %s gpu %s: worker %d %s; replacing it (failure %d of %d allowed in %d s)",
               l->id, s->gpu.uuid, (int)pid, desc, recent, FAIL_LIMIT - 1, FAIL_WINDOW_MS / 1000);
        s->restart_at_ms = now + 250 * recent;
    }
}

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
void ag_reap_settled(lp_agent *a) {
    ag_reap(a);
    for (int i = 0; i < a->nslots; i++) {
        ag_slot *s = &a->slots[i];
        for (int k = 0; k < 25 && s->pid > 0 && s->stopping && proc_exiting(s->pid); k++) {
            lp_sleep_ms(2);
            ag_reap(a);
        }
    }
}

static int workers_running(lp_agent *a) {
    for (int i = 0; i < a->nslots; i++)
        if (a->slots[i].pid > 0) return 1;
    return 0;
}

void ag_workers_tend(lp_agent *a, int64_t now) {
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

void ag_workers_end(lp_agent *a, const sigset_t *sigs) {
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < a->nslots; i++)
        ag_slot_stop(&a->slots[i], "leptond is shutting down");
    pthread_mutex_unlock(&a->mu);
    int64_t until = lp_mono_ms() + STOP_GRACE_MS + 2000;
    while (lp_mono_ms() < until) {
        pthread_mutex_lock(&a->mu);
        ag_reap(a);
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
            sigtimedwait(sigs, NULL, &ts);
    }
}
