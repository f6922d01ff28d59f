/* embed.c — liblepton embedded the way an MLOps tool would: the tool's own log callback (lines
 * prefixed, levels counted), a small pthread pool keeping many jobs in flight on one lease (each job
 * writes a chunk, runs saxpy on it and reads it back; every result is verified on the host), a
 * watchdog thread extending the lease while work runs, and a clean stop on SIGINT/SIGTERM or at a
 * deadline: stop submitting, wait (with timeouts) for the jobs in flight, close the lease, close the
 * client, print a summary.
 *
 *   cc -std=c11 -pthread embed.c $(pkg-config --cflags --libs lepton) -o embed
 *   LEPTON_ENDPOINT=http://127.0.0.1:7700 LEPTON_TOKEN=... ./embed [options] [PTX]
 *
 * Options: -g GPUS (2) -w WORKERS (4) -j JOBS per worker (16, 0 = until stopped) -d DEPTH jobs in
 * flight per worker (2) -n FLOATS per chunk (65536) -t TTL seconds of the lease (30) -D DEADLINE
 * seconds (60, 0 = none) -v (print INFO and DEBUG lines of the library too).
 * PTX defaults to examples/kernels/saxpy.ptx. Exits 0 only when at least one job ran and every job
 * that was submitted completed with a verified result (a stop by signal or deadline is clean when
 * the jobs in flight still complete).
 *
 * Copyright 2026 The Lepton Authors. Licensed under the Apache License, Version 2.0.
 */
#define _POSIX_C_SOURCE 200809L
#include <lepton/lepton.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_WORKERS = 64, MAX_DEPTH = 16, WAIT_SLICE_MS = 250, DRAIN_MS = 30000 };

/* ---- the tool's logging: every line of the library goes through here ---------------------- */

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static atomic_uint log_counts[4];
static int verbose;

/* Called from whichever thread liblepton logs on, possibly several at once: only atomics and one
 * fprintf (which locks the stream) here, and no call back into liblepton. */
static void tool_log(int level, const char *msg, void *user) {
    const char *name = user; /* the tool's name, given as log_user */
    if (level < 0) level = 0;
    if (level > 3) level = 3;
    atomic_fetch_add(&log_counts[level], 1);
    if (level <= LEPTON_LOG_WARN || verbose)
        fprintf(stderr, "[%s] lepton %-5s %s\n", name, level_names[level], msg);
}

/* ---- shared state ---------------------------------------------------------------------------- */

typedef struct config {
    uint32_t gpus, workers, jobs, depth, chunk, ttl, deadline;
    const char *ptx_path;
} config;

typedef struct tool {
    config cfg;
    lepton_lease *lease;
    lepton_module *mod;
    atomic_int stop; /* set by the main thread: submit no more jobs */
    atomic_uint submitted, verified, mismatched, failed, abandoned, extensions;
    pthread_mutex_t lock; /* guards watchdog_done, with `wake` */
    pthread_cond_t wake;
    int watchdog_done;
} tool;

/* Never runs (the signals are blocked everywhere); installing it undoes an inherited SIG_IGN (what
 * a non-interactive shell gives a background job for SIGINT), which would discard the signal. */
static void on_stop_signal(int sig) { (void)sig; }

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the pool: each worker keeps `depth` jobs in flight on its GPU ----------------------------- */

/* One job's slot: the job's device buffers and the host memory its steps point to, which must stay
 * valid until lepton_wait has returned for its task. */
typedef struct slot {
    lepton_buffer *dx, *dy;
    float *x, *y, *out;
    float a;
    int n;
    uint32_t job_no;
    lepton_arg args[4];
    lepton_launch launch;
    lepton_step steps[4];
    lepton_task *task; /* non-NULL while the job is in flight (or abandoned) */
    int abandoned;     /* still out after the drain timeout: lepton_lease_close ends it */
} slot;

typedef struct worker {
    tool *t;
    uint32_t id, gpu;
    slot slots[MAX_DEPTH];
    pthread_t thread;
} worker;

/* Values that are small integers and halves, so that a*x + y is exact in float (with or without
 * fused multiply-add) and the host can compare bit for bit. */
static void fill(slot *s, uint32_t worker_id, uint32_t job_no) {
    s->job_no = job_no;
    s->a = 0.5f * (float)(1 + (job_no + worker_id) % 7);
    for (int i = 0; i < s->n; i++) {
        s->x[i] = (float)((i + (int)job_no) % 1024);
        s->y[i] = (float)(worker_id * 1000u + job_no % 1000u);
    }
}

static int verify(const slot *s) {
    for (int i = 0; i < s->n; i++)
        if (s->out[i] != s->a * s->x[i] + s->y[i]) return 0;
    return 1;
}

static int submit(worker *w, slot *s, uint32_t job_no) {
    fill(s, w->id, job_no);
    s->args[0] = LEPTON_ARG_VAL(s->n);
    s->args[1] = LEPTON_ARG_VAL(s->a);
    s->args[2] = LEPTON_ARG_BUF(s->dx);
    s->args[3] = LEPTON_ARG_BUF(s->dy);
    size_t bytes = (size_t)s->n * sizeof(float);
    s->launch = (lepton_launch){.module = w->t->mod,
                                .function = "saxpy", /* saxpy(int n, float a, const float *x, float *y) */
                                .grid = {((uint32_t)s->n + 255) / 256, 1, 1},
                                .block = {256, 1, 1},
                                .args = s->args,
                                .arg_count = 4};
    s->steps[0] = (lepton_step){LEPTON_STEP_WRITE, s->dx, 0, s->x, bytes, NULL};
    s->steps[1] = (lepton_step){LEPTON_STEP_WRITE, s->dy, 0, s->y, bytes, NULL};
    s->steps[2] = (lepton_step){LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &s->launch};
    s->steps[3] = (lepton_step){LEPTON_STEP_READ, s->dy, 0, s->out, bytes, NULL};
    lepton_job job = LEPTON_JOB_INIT;
    job.gpu = w->gpu;
    job.steps = s->steps;
    job.step_count = 4;
    int rc = lepton_submit(w->t->lease, &job, &s->task);
    if (rc != LEPTON_OK) {
        fprintf(stderr, "worker %u: submit job %u: %s: %s\n", w->id, job_no, lepton_status_name(rc),
                lepton_last_error());
        return rc;
    }
    atomic_fetch_add(&w->t->submitted, 1);
    return LEPTON_OK;
}

/* Waits for a slot's job in short slices, so that the worker notices a stop; after a stop it waits
 * at most until `drain_until` and then leaves the task to lepton_lease_close. */
static void finish(worker *w, slot *s, int64_t *drain_until) {
    tool *t = w->t;
    for (;;) {
        int rc = lepton_wait(s->task, WAIT_SLICE_MS);
        if (rc == LEPTON_ETIMEDOUT) {
            if (atomic_load(&t->stop)) {
                if (!*drain_until) *drain_until = now_ms() + DRAIN_MS;
                if (now_ms() >= *drain_until) {
                    /* Keep the task (and the slot's memory): main waits for it after closing the lease. */
                    s->abandoned = 1;
                    atomic_fetch_add(&t->abandoned, 1);
                    return;
                }
            }
            continue;
        }
        if (rc != LEPTON_OK) {
            lepton_task_info ti = LEPTON_TASK_INFO_INIT;
            lepton_task_get_info(s->task, &ti);
            fprintf(stderr, "worker %u: job %u failed: %s: %s\n", w->id, s->job_no, lepton_status_name(rc),
                    ti.error[0] ? ti.error : lepton_last_error());
            atomic_fetch_add(&t->failed, 1);
        } else if (verify(s)) {
            atomic_fetch_add(&t->verified, 1);
        } else {
            fprintf(stderr, "worker %u: job %u: WRONG result\n", w->id, s->job_no);
            atomic_fetch_add(&t->mismatched, 1);
        }
        lepton_task_free(s->task);
        s->task = NULL;
        return;
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    tool *t = w->t;
    const config *c = &t->cfg;
    size_t bytes = (size_t)c->chunk * sizeof(float);
    if (c->depth < 1 || c->depth > MAX_DEPTH) return NULL; /* parse_args checked it */
    for (uint32_t i = 0; i < c->depth; i++) {
        slot *s = &w->slots[i];
        s->n = (int)c->chunk;
        s->x = malloc(bytes);
        s->y = malloc(bytes);
        s->out = malloc(bytes);
        int rc =
            !s->x || !s->y || !s->out ? LEPTON_ENOMEM : lepton_buffer_alloc(t->lease, w->gpu, bytes, &s->dx);
        if (rc == LEPTON_OK) rc = lepton_buffer_alloc(t->lease, w->gpu, bytes, &s->dy);
        if (rc != LEPTON_OK) {
            fprintf(stderr, "worker %u: buffers on GPU %u: %s: %s\n", w->id, w->gpu, lepton_status_name(rc),
                    lepton_last_error());
            atomic_fetch_add(&t->failed, 1);
            return NULL; /* main frees what was allocated */
        }
    }
    int64_t drain_until = 0;
    uint32_t next = 0, oldest = 0;
    for (;;) {
        slot *s = &w->slots[next % c->depth];
        if (s->task) finish(w, s, &drain_until); /* the ring is full: the oldest job first */
        if (s->task) break;                      /* abandoned: stop using this worker's slots */
        if (atomic_load(&t->stop) || (c->jobs && next == c->jobs)) break;
        if (submit(w, s, next) != LEPTON_OK) {
            atomic_fetch_add(&t->failed, 1);
            break;
        }
        next++;
    }
    /* Stop submitting; collect what is still in flight, oldest first. */
    for (oldest = 0; oldest < c->depth; oldest++) {
        slot *s = &w->slots[(next + oldest) % c->depth];
        if (s->task && !s->abandoned) finish(w, s, &drain_until);
    }
    return NULL;
}

/* ---- the watchdog: keeps the lease alive while work runs --------------------------------------- */

static void *watchdog_main(void *arg) {
    tool *t = arg;
    uint32_t margin = t->cfg.ttl / 2; /* extend when half of a TTL or less is left */
    pthread_mutex_lock(&t->lock);
    while (!t->watchdog_done) {
        pthread_mutex_unlock(&t->lock);
        lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
        int rc = lepton_lease_get_info(t->lease, &info);
        if (rc == LEPTON_OK && info.state == LEPTON_LEASE_ACTIVE &&
            info.expires_at - (int64_t)time(NULL) <= margin) {
            rc = lepton_lease_extend(t->lease, t->cfg.ttl);
            if (rc == LEPTON_OK) {
                atomic_fetch_add(&t->extensions, 1);
                fprintf(stderr, "watchdog: lease %s had %lld s left; extended by %u s\n", info.id,
                        (long long)(info.expires_at - (int64_t)time(NULL)), t->cfg.ttl);
            }
        }
        if (rc != LEPTON_OK) /* the tool keeps going: the workers see the lease's end in their jobs */
            fprintf(stderr, "watchdog: %s: %s\n", lepton_status_name(rc), lepton_last_error());
        pthread_mutex_lock(&t->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 500 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!t->watchdog_done && pthread_cond_timedwait(&t->wake, &t->lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* ---- main: configuration, lease, pool, stop, summary ------------------------------------------ */

static char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0)
        buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = buf ? (size_t)n : 0;
    return buf;
}

static int parse_args(int argc, char **argv, config *c) {
    *c = (config){2, 4, 16, 2, 65536, 30, 60, "examples/kernels/saxpy.ptx"};
    int opt;
    while ((opt = getopt(argc, argv, "g:w:j:d:n:t:D:v")) != -1) {
        unsigned long v = optarg ? strtoul(optarg, NULL, 10) : 0;
        switch (opt) {
        case 'g':
            c->gpus = (uint32_t)v;
            break;
        case 'w':
            c->workers = (uint32_t)v;
            break;
        case 'j':
            c->jobs = (uint32_t)v;
            break;
        case 'd':
            c->depth = (uint32_t)v;
            break;
        case 'n':
            c->chunk = (uint32_t)v;
            break;
        case 't':
            c->ttl = (uint32_t)v;
            break;
        case 'D':
            c->deadline = (uint32_t)v;
            break;
        case 'v':
            verbose = 1;
            break;
        default:
            return -1;
        }
    }
    if (optind < argc) c->ptx_path = argv[optind++];
    if (optind < argc || c->gpus < 1 || c->workers < 1 || c->workers > MAX_WORKERS || c->depth < 1 ||
        c->depth > MAX_DEPTH || c->chunk < 1 || c->chunk > (1u << 26) || c->ttl < 3)
        return -1;
    return 0;
}

int main(int argc, char **argv) {
    tool t = {0};
    if (parse_args(argc, argv, &t.cfg) != 0) {
        fprintf(stderr,
                "usage: %s [-g GPUS] [-w WORKERS<=%d] [-j JOBS] [-d DEPTH<=%d] [-n FLOATS] [-t TTL>=3] "
                "[-D DEADLINE] [-v] [PTX]\n",
                argv[0], MAX_WORKERS, MAX_DEPTH);
        return 2;
    }
    const config *c = &t.cfg;
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines reach a pipe or a log file as they happen */

    /* Signals are taken synchronously by the main thread (sigtimedwait below): block them before
     * any thread exists, so that the pool's and liblepton's threads inherit the mask. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int status = 1, rc;
    int64_t started = now_ms();
    size_t ptx_size = 0;
    char *ptx = read_file(c->ptx_path, &ptx_size);
    worker *workers = calloc(c->workers, sizeof *workers);
    uint32_t running = 0;
    int watchdog_running = 0;
    const char *why = "all jobs done";
    lepton_client *client = NULL;
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    pthread_t watchdog;
    pthread_mutex_init(&t.lock, NULL);
    pthread_cond_init(&t.wake, NULL);
    if (!ptx || !workers) {
        fprintf(stderr, "cannot read %s (or out of memory)\n", c->ptx_path);
        goto out;
    }

    /* A tool passes its own configuration rather than relying on the library's defaults. */
    lepton_client_options opts = LEPTON_CLIENT_OPTIONS_INIT;
    opts.endpoint = getenv("LEPTON_ENDPOINT");
    opts.token = getenv("LEPTON_TOKEN");
    opts.timeout_ms = 10000;
    opts.log = tool_log;
    static char tool_name[] = "embed";
    opts.log_user = tool_name;
    if ((rc = lepton_client_open(&client, &opts)) != LEPTON_OK) {
        fprintf(stderr, "client: %s: %s\n", lepton_status_name(rc), lepton_last_error());
        goto out;
    }
    lepton_lease_request req = LEPTON_LEASE_REQUEST_INIT;
    req.gpu_count = c->gpus;
    req.ttl_seconds = c->ttl; /* short on purpose: the watchdog extends it while work runs */
    req.max_cost = 5.0;
    req.wait_ms = 10000;
    req.labels = "tool=embed,team=examples";
    if ((rc = lepton_lease_open(client, &req, &t.lease)) != LEPTON_OK) {
        fprintf(stderr, "lease: %s: %s\n", lepton_status_name(rc), lepton_last_error());
        goto out;
    }
    if (lepton_lease_get_info(t.lease, &info) == LEPTON_OK)
        printf("leased %u x %s on %s at $%.2f/GPU-hour (lease %s, TTL %u s)\n", info.gpu_count,
               info.gpu_model, info.node, info.price_per_gpu_hour, info.id, c->ttl);
    if ((rc = lepton_module_load(t.lease, ptx, ptx_size, &t.mod)) != LEPTON_OK) {
        fprintf(stderr, "module: %s: %s\n", lepton_status_name(rc), lepton_last_error());
        goto out;
    }

    if (pthread_create(&watchdog, NULL, watchdog_main, &t) == 0) watchdog_running = 1;
    for (running = 0; running < c->workers; running++) {
        worker *w = &workers[running];
        w->t = &t;
        w->id = running;
        w->gpu = running % c->gpus;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) break;
    }
    printf("%u workers x %u jobs in flight on %u GPUs, %u floats per job%s\n", running, c->depth, c->gpus,
           c->chunk, c->jobs ? "" : " (until stopped)");

    /* The main thread's loop: a signal or the deadline stops submissions; then it waits for the pool.
     * (A signal that came during the set-up above is pending, and stops the pool at its start.) */
    int64_t deadline = c->deadline ? started + (int64_t)c->deadline * 1000 : 0;
    uint32_t expected = c->jobs ? c->jobs * running : 0;
    while (!atomic_load(&t.stop)) {
        struct timespec tick = {0, 100 * 1000000L};
        int sig = sigtimedwait(&stop_signals, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) {
            why = sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)";
            fprintf(stderr, "embed: %s: no more submissions; waiting for the jobs in flight\n", why);
            atomic_store(&t.stop, 1);
        } else if (deadline && now_ms() >= deadline) {
            why = "deadline reached";
            fprintf(stderr,
                    "embed: deadline of %u s reached: no more submissions; waiting for the jobs in flight\n",
                    c->deadline);
            atomic_store(&t.stop, 1);
        } else if (expected &&
                   atomic_load(&t.verified) + atomic_load(&t.mismatched) + atomic_load(&t.failed) >=
                       expected) {
            break;
        } else if (atomic_load(&t.failed)) {
            why = "a job failed";
            atomic_store(&t.stop, 1);
        }
    }
    atomic_store(&t.stop, 1);
    for (uint32_t i = 0; i < running; i++)
        pthread_join(workers[i].thread, NULL);
    status = 0;

out:
    if (watchdog_running) {
        pthread_mutex_lock(&t.lock);
        t.watchdog_done = 1;
        pthread_cond_signal(&t.wake);
        pthread_mutex_unlock(&t.lock);
        pthread_join(watchdog, NULL);
    }
    if (t.lease) {
        if (lepton_lease_get_info(t.lease, &info) != LEPTON_OK) info.cost = -1;
        /* Ends the tasks still out (abandoned after the drain timeout) and frees module and buffers. */
        rc = lepton_lease_close(t.lease);
        if (rc != LEPTON_OK) fprintf(stderr, "close: %s: %s\n", lepton_status_name(rc), lepton_last_error());
    }
    /* Only now may abandoned tasks' host memory go: their wait returns at once after the close. */
    for (uint32_t i = 0; workers && i < c->workers; i++)
        for (uint32_t d = 0; d < MAX_DEPTH; d++) {
            slot *s = &workers[i].slots[d];
            if (s->task) lepton_wait(s->task, 1000);
            lepton_task_free(s->task);
            free(s->x);
            free(s->y);
            free(s->out);
        }
    lepton_client_close(client);
    pthread_cond_destroy(&t.wake);
    pthread_mutex_destroy(&t.lock);

    unsigned submitted = atomic_load(&t.submitted), verified = atomic_load(&t.verified);
    unsigned mismatched = atomic_load(&t.mismatched), failed = atomic_load(&t.failed);
    unsigned abandoned = atomic_load(&t.abandoned);
    if (status == 0 && (verified == 0 || mismatched || failed || abandoned || verified != submitted))
        status = 1;
    printf("summary: %s after %.1f s; %u jobs submitted, %u verified, %u wrong, %u failed, %u abandoned; "
           "%u lease extensions; cost $%.6f; library log lines: %u error, %u warn, %u info, %u debug; %s\n",
           why, (double)(now_ms() - started) / 1000.0, submitted, verified, mismatched, failed, abandoned,
           atomic_load(&t.extensions), info.cost, atomic_load(&log_counts[0]), atomic_load(&log_counts[1]),
           atomic_load(&log_counts[2]), atomic_load(&log_counts[3]), status ? "FAILED" : "verified");
    free(workers);
    free(ptx);
    return status;
}
