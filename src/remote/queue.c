/* queue.c — the remote driver's per-device work queue: what is queued, when it is submitted, when
 * a call waits, and how a job's outcome reaches events, host functions and the next synchronising
 * call (queue.h says the rules). */
#include "queue.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

struct rq_job {
    rq_job *next;
    void *ticket;
    rq_step *steps;
    size_t nsteps;
    rq_cb *cbs;
    size_t ncbs;
};

/* Host functions to run once the queue's mutex is released, each with its job's outcome. */
typedef struct rq_run {
    rq_cb *cbs;
    int *status;
    size_t n;
} rq_run;

/* Guards every rq_event's fields (an event may be recorded on one device and waited from another
 * thread); taken after a queue's mutex, never before. */
static pthread_mutex_t g_ev_mu = PTHREAD_MUTEX_INITIALIZER;

static _Atomic uint64_t g_round_trips, g_jobs, g_steps, g_up, g_down;

void rq_stats_get(rq_stats *out) {
    out->round_trips = atomic_load(&g_round_trips);
    out->jobs = atomic_load(&g_jobs);
    out->steps = atomic_load(&g_steps);
    out->bytes_up = atomic_load(&g_up);
    out->bytes_down = atomic_load(&g_down);
}

void rq_stats_round_trip(uint64_t up, uint64_t down) {
    atomic_fetch_add(&g_round_trips, 1);
    atomic_fetch_add(&g_up, up);
    atomic_fetch_add(&g_down, down);
}

void rq_launch_free(rq_launch *l) {
    if (!l) return;
    free(l->function);
    free(l->sizes);
    free(l->data);
    free(l);
}

/* ---- events ---- */

rq_event *rq_event_new(unsigned flags) {
    rq_event *ev = calloc(1, sizeof *ev);
    if (!ev) return NULL;
    ev->refs = 1;
    ev->flags = flags;
    return ev;
}

static void ev_unref(rq_event *ev) {
    if (!ev) return;
    pthread_mutex_lock(&g_ev_mu);
    int last = --ev->refs == 0;
    pthread_mutex_unlock(&g_ev_mu);
    if (last) free(ev);
}

void rq_event_release(rq_event *ev) { ev_unref(ev); }

/* ---- steps and jobs ---- */

static void step_clear(rq_step *s) {
    if (s->kind == RQ_WRITE && s->host_owned) free(s->host);
    if (s->kind == RQ_LAUNCH) rq_launch_free(s->launch);
    if (s->kind == RQ_EVENT) ev_unref(s->event);
    memset(s, 0, sizeof *s);
}

static void job_free(rq_queue *q, rq_job *j) {
    if (j->ticket) q->tr.release(q->tr.ctx, j->ticket);
    for (size_t i = 0; i < j->nsteps; i++)
        step_clear(&j->steps[i]);
    free(j->steps);
    free(j->cbs);
    free(j);
}

int rq_error_is_sticky(int status) {
    switch (status) {
    case 214: /* CUDA_ERROR_ECC_UNCORRECTABLE */
    case 700: /* CUDA_ERROR_ILLEGAL_ADDRESS */
    case 702: /* CUDA_ERROR_LAUNCH_TIMEOUT */
    case 710: /* CUDA_ERROR_ASSERT */
    case 714: /* CUDA_ERROR_HARDWARE_STACK_ERROR */
    case 715: /* CUDA_ERROR_ILLEGAL_INSTRUCTION */
    case 716: /* CUDA_ERROR_MISALIGNED_ADDRESS */
    case 717: /* CUDA_ERROR_INVALID_ADDRESS_SPACE */
    case 718: /* CUDA_ERROR_INVALID_PC */
    case 719: /* CUDA_ERROR_LAUNCH_FAILED */
        return 1;
    default:
        return 0;
    }
}

int rq_dead(rq_queue *q) {
    pthread_mutex_lock(&q->mu);
    int rc = q->lost ? RQ_DEVICE_UNAVAILABLE : q->sticky;
    pthread_mutex_unlock(&q->mu);
    return rc;
}

/* The caller holds mu. */
static int dead_locked(rq_queue *q) { return q->lost ? RQ_DEVICE_UNAVAILABLE : q->sticky; }

static void note_error(rq_queue *q, const rq_result *r) {
    if (r->lost && !q->lost) {
        q->lost = 1;
        fprintf(
            stderr,
            "lepton-remote: the lease or its worker was lost (%s); later CUDA calls on this device fail with "
            "CUDA_ERROR_DEVICE_UNAVAILABLE\n",
            r->msg[0] ? r->msg : "no reason given");
    }
    if (!q->error) {
        q->error = r->lost ? RQ_LAUNCH_FAILED : r->status;
        snprintf(q->error_msg, sizeof q->error_msg, "%s", r->msg);
    }
    if (!r->lost && !q->sticky && rq_error_is_sticky(r->status)) q->sticky = r->status;
}

/* A job ended (ran, failed, or never left): its events and host functions learn the outcome. */
static void job_complete(rq_queue *q, rq_job *j, const rq_result *r, rq_run *run) {
    int ok = r->status == RQ_OK && !r->lost;
    size_t k = 0;
    pthread_mutex_lock(&g_ev_mu);
    for (size_t i = 0; i < j->nsteps; i++) {
        rq_step *s = &j->steps[i];
        if (s->kind != RQ_EVENT) continue;
        rq_event *ev = s->event;
        if (ev->seq == s->count && ev->queue == q) { /* still the event's latest record */
            ev->job = NULL;
            ev->state = ok ? RQ_EV_DONE : RQ_EV_FAILED;
            ev->ns = ok && k < r->nevents ? r->events[k] : 0;
        }
        k++;
    }
    pthread_mutex_unlock(&g_ev_mu);
    if (!ok) note_error(q, r);
    if (j->ncbs) {
        rq_cb *c = realloc(run->cbs, (run->n + j->ncbs) * sizeof *c);
        if (c) run->cbs = c;
        int *st = realloc(run->status, (run->n + j->ncbs) * sizeof *st);
        if (st) run->status = st;
        if (c && st)
            for (size_t i = 0; i < j->ncbs; i++) {
                c[run->n] = j->cbs[i];
                st[run->n] = ok ? RQ_OK : r->lost ? RQ_LAUNCH_FAILED : r->status;
                run->n++;
            }
    }
}

static void run_host_fns(rq_run *run) {
    for (size_t i = 0; i < run->n; i++)
        run->cbs[i].fn(run->cbs[i].user, run->status[i]);
    free(run->cbs);
    free(run->status);
    memset(run, 0, sizeof *run);
}

/* Waits up to timeout_ms for the oldest job and reaps it: RQ_RUNNING or 0. */
static int reap_one(rq_queue *q, int timeout_ms, rq_run *run) {
    rq_job *j = q->head;
    rq_result r;
    memset(&r, 0, sizeof r);
    if (q->tr.wait(q->tr.ctx, j->ticket, timeout_ms, &r) == RQ_RUNNING) return RQ_RUNNING;
    q->head = j->next;
    if (!q->head) q->tail = NULL;
    job_complete(q, j, &r, run);
    job_free(q, j);
    return 0;
}

/* Submits the queued steps as one job (the caller holds mu). */
static int submit_locked(rq_queue *q, rq_run *run) {
    if (q->nsteps == 0) {
        /* host functions with no step since the last job follow that job, or run now */
        if (!q->ncbs) return RQ_OK;
        if (!q->tail) {
            rq_job none = {0};
            none.cbs = q->cbs;
            none.ncbs = q->ncbs;
            rq_result r = {0};
            job_complete(q, &none, &r, run);
            free(q->cbs);
        } else {
            rq_job *t = q->tail;
            rq_cb *grown = realloc(t->cbs, (t->ncbs + q->ncbs) * sizeof *grown);
            if (!grown) return RQ_OUT_OF_MEMORY;
            memcpy(grown + t->ncbs, q->cbs, q->ncbs * sizeof *grown);
            t->cbs = grown;
            t->ncbs += q->ncbs;
            free(q->cbs);
        }
        q->cbs = NULL;
        q->ncbs = q->cbcap = 0;
        return RQ_OK;
    }
    rq_job *j = calloc(1, sizeof *j);
    if (!j) return RQ_OUT_OF_MEMORY;
    j->steps = q->steps;
    j->nsteps = q->nsteps;
    j->cbs = q->cbs;
    j->ncbs = q->ncbs;
    q->steps = NULL;
    q->nsteps = q->cap = 0;
    q->cbs = NULL;
    q->ncbs = q->cbcap = 0;
    uint64_t up = q->write_bytes, down = q->read_bytes;
    q->nevents = 0;
    q->write_bytes = q->read_bytes = q->desc_bytes = 0;
    rq_result r;
    memset(&r, 0, sizeof r);
    if (q->tr.submit(q->tr.ctx, j->steps, j->nsteps, &j->ticket, &r) != 0) {
        j->ticket = NULL;
        if (r.status == RQ_OK) r.status = RQ_LAUNCH_FAILED;
        job_complete(q, j, &r, run);
        job_free(q, j);
        return r.lost ? RQ_DEVICE_UNAVAILABLE : RQ_OK; /* the error surfaces at the next sync */
    }
    atomic_fetch_add(&g_jobs, 1);
    atomic_fetch_add(&g_round_trips, 1);
    atomic_fetch_add(&g_steps, j->nsteps);
    atomic_fetch_add(&g_up, up);
    atomic_fetch_add(&g_down, down);
    pthread_mutex_lock(&g_ev_mu);
    for (size_t i = 0; i < j->nsteps; i++) {
        rq_step *s = &j->steps[i];
        if (s->kind == RQ_EVENT && s->event->seq == s->count && s->event->queue == q) {
            s->event->state = RQ_EV_SUBMITTED;
            s->event->job = j;
        }
    }
    pthread_mutex_unlock(&g_ev_mu);
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    return RQ_OK;
}

/* Waits for every submitted job (the caller holds mu). */
static void drain_locked(rq_queue *q, rq_run *run) {
    while (q->head)
        reap_one(q, RQ_WAIT_FOREVER, run);
}

static int take_error(rq_queue *q) {
    int e = q->error;
    q->error = RQ_OK;
    if (q->lost) return e == RQ_LAUNCH_FAILED ? e : RQ_DEVICE_UNAVAILABLE;
    if (q->sticky) return q->sticky;
    return e;
}

void rq_init(rq_queue *q, const rq_transport *tr, int forward) {
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    q->tr = *tr;
    q->forward = forward;
}

int rq_destroy(rq_queue *q, int timeout_ms) {
    rq_run run = {0};
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_timedlock(&q->mu, &until) != 0) return -1;
    if (!dead_locked(q)) submit_locked(q, &run);
    for (size_t i = 0; i < q->nsteps; i++)
        step_clear(&q->steps[i]);
    free(q->steps);
    free(q->cbs);
    q->steps = NULL;
    q->cbs = NULL;
    q->nsteps = q->ncbs = 0;
    /* the jobs still out get timeout_ms in all: the poll is 10 ms a turn */
    int waited = 0;
    while (q->head) {
        if (reap_one(q, timeout_ms - waited > 10 ? 10 : 0, &run) == RQ_RUNNING) {
            waited += 10;
            if (waited >= timeout_ms) break;
        }
    }
    while (q->head) {
        rq_job *j = q->head;
        q->head = j->next;
        job_free(q, j);
    }
    q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    run_host_fns(&run);
    pthread_mutex_destroy(&q->mu);
    return 0;
}

/* ---- enqueueing ---- */

static rq_step *add_step(rq_queue *q) {
    rq_step *grown = lp_grow(q->steps, &q->cap, q->nsteps + 1, sizeof *q->steps, 64);
    if (!grown) return NULL;
    q->steps = grown;
    rq_step *s = &q->steps[q->nsteps++];
    memset(s, 0, sizeof *s);
    q->desc_bytes += 160; /* a step's JSON without launch arguments */
    return s;
}

/* After a step was queued: forward mode submits and waits at once (errors still surface at the
 * next synchronising call, as CUDA's would); else a bound submits without waiting. */
static int after_add(rq_queue *q, rq_run *run) {
    if (q->forward) {
        int rc = submit_locked(q, run);
        drain_locked(q, run);
        return rc;
    }
    if (q->nsteps >= RQ_MAX_STEPS || q->nevents >= RQ_MAX_EVENTS || q->write_bytes >= RQ_MAX_WRITE_BYTES ||
        q->read_bytes >= RQ_MAX_READ_BYTES || q->desc_bytes >= RQ_MAX_DESC_BYTES)
        return submit_locked(q, run);
    return RQ_OK;
}

/* Unlocks and runs what became due. */
static int finish(rq_queue *q, rq_run *run, int rc) {
    pthread_mutex_unlock(&q->mu);
    run_host_fns(run);
    return rc;
}

int rq_write(rq_queue *q, uint64_t buffer, uint64_t offset, const void *host, uint64_t size, int pinned) {
    rq_run run = {0};
    pthread_mutex_lock(&q->mu);
    if (dead_locked(q)) return finish(q, &run, dead_locked(q));
    int rc = RQ_OK;
    for (uint64_t done = 0; done < size && rc == RQ_OK;) {
        uint64_t n = size - done < RQ_PIECE ? size - done : RQ_PIECE;
        void *src = (char *)(uintptr_t)host + done;
        int owned = 0;
        if (!pinned) { /* CUDA lets the caller reuse pageable memory once the call returns */
            void *copy = malloc(n ? n : 1);
            if (!copy) return finish(q, &run, RQ_OUT_OF_MEMORY);
            memcpy(copy, src, n);
            src = copy;
            owned = 1;
        }
        rq_step *s = add_step(q);
        if (!s) {
            if (owned) free(src);
            return finish(q, &run, RQ_OUT_OF_MEMORY);
        }
        s->kind = RQ_WRITE;
        s->buffer = buffer;
        s->offset = offset + done;
        s->size = n;
        s->host = src;
        s->host_owned = owned;
        q->write_bytes += n;
        done += n;
        rc = after_add(q, &run);
    }
    return finish(q, &run, rc);
}

int rq_read(rq_queue *q, uint64_t buffer, uint64_t offset, void *host, uint64_t size) {
    rq_run run = {0};
    pthread_mutex_lock(&q->mu);
    if (dead_locked(q)) return finish(q, &run, dead_locked(q));
    int rc = RQ_OK;
    for (uint64_t done = 0; done < size && rc == RQ_OK;) {
        uint64_t n = size - done < RQ_PIECE ? size - done : RQ_PIECE;
        rq_step *s = add_step(q);
        if (!s) return finish(q, &run, RQ_OUT_OF_MEMORY);
        s->kind = RQ_READ;
        s->buffer = buffer;
        s->offset = offset + done;
        s->size = n;
        s->host = (char *)host + done;
        q->read_bytes += n;
        done += n;
        rc = after_add(q, &run);
    }
    return finish(q, &run, rc);
}

/* Appends a step filled in as `t`, with `desc` more estimated descriptor bytes than a plain step;
 * *queued says whether it was (then the queue owns what the step owns). */
static int add_filled(rq_queue *q, const rq_step *t, uint64_t desc, int *queued) {
    rq_run run = {0};
    *queued = 0;
    pthread_mutex_lock(&q->mu);
    if (dead_locked(q)) return finish(q, &run, dead_locked(q));
    rq_step *s = add_step(q);
    if (!s) return finish(q, &run, RQ_OUT_OF_MEMORY);
    *s = *t;
    q->desc_bytes += desc;
    *queued = 1;
    return finish(q, &run, after_add(q, &run));
}

int rq_memset(rq_queue *q, uint64_t buffer, uint64_t offset, uint32_t width, uint32_t value, uint64_t count,
              uint64_t pitch, uint64_t height) {
    const rq_step t = {.kind = RQ_MEMSET,
                       .buffer = buffer,
                       .offset = offset,
                       .width = width,
                       .value = value,
                       .count = count,
                       .pitch = pitch,
                       .height = height};
    int queued;
    return add_filled(q, &t, 0, &queued);
}

int rq_copy(rq_queue *q, uint64_t dst, uint64_t dst_off, uint64_t src, uint64_t src_off, uint64_t size,
            uint64_t dst_pitch, uint64_t src_pitch, uint64_t height) {
    const rq_step t = {.kind = RQ_COPY,
                       .buffer = dst,
                       .offset = dst_off,
                       .src_buffer = src,
                       .src_offset = src_off,
                       .size = size,
                       .pitch = dst_pitch,
                       .src_pitch = src_pitch,
                       .height = height};
    int queued;
    return add_filled(q, &t, 0, &queued);
}

int rq_launch_add(rq_queue *q, rq_launch *l) {
    uint64_t args = 0;
    for (uint32_t i = 0; i < l->nargs; i++)
        args += l->sizes[i];
    /* the arguments travel base64-encoded in the descriptor */
    uint64_t desc = (l->function ? strlen(l->function) : 0) + (args + 2) / 3 * 4 + 24ull * l->nargs;
    const rq_step t = {.kind = RQ_LAUNCH, .launch = l};
    int queued;
    int rc = add_filled(q, &t, desc, &queued);
    if (!queued) rq_launch_free(l);
    return rc;
}

int rq_event_record(rq_queue *q, rq_event *ev) {
    rq_run run = {0};
    pthread_mutex_lock(&q->mu);
    if (dead_locked(q)) return finish(q, &run, dead_locked(q));
    rq_step *s = add_step(q);
    if (!s) return finish(q, &run, RQ_OUT_OF_MEMORY);
    pthread_mutex_lock(&g_ev_mu);
    ev->refs++;
    ev->seq++;
    ev->state = RQ_EV_QUEUED;
    ev->queue = q;
    ev->job = NULL;
    s->kind = RQ_EVENT;
    s->event = ev;
    s->count = ev->seq;
    pthread_mutex_unlock(&g_ev_mu);
    q->nevents++;
    return finish(q, &run, after_add(q, &run));
}

int rq_host_fn_add(rq_queue *q, rq_host_fn fn, void *user) {
    rq_run run = {0};
    pthread_mutex_lock(&q->mu);
    if (dead_locked(q)) return finish(q, &run, dead_locked(q));
    rq_cb *grown = lp_grow(q->cbs, &q->cbcap, q->ncbs + 1, sizeof *q->cbs, 8);
    if (!grown) return finish(q, &run, RQ_OUT_OF_MEMORY);
    q->cbs = grown;
    q->cbs[q->ncbs].fn = fn;
    q->cbs[q->ncbs].user = user;
    q->ncbs++;
    int rc = RQ_OK;
    if (q->forward) {
        rc = submit_locked(q, &run);
        drain_locked(q, &run);
    }
    return finish(q, &run, rc);
}

/* ---- synchronising ---- */

int rq_flush(rq_queue *q) {
    rq_run run = {0};
    pthread_mutex_lock(&q->mu);
    int rc = dead_locked(q) ? dead_locked(q) : submit_locked(q, &run);
    return finish(q, &run, rc);
}

int rq_sync(rq_queue *q) {
    rq_run run = {0};
    pthread_mutex_lock(&q->mu);
    if (!dead_locked(q)) submit_locked(q, &run);
    drain_locked(q, &run);
    return finish(q, &run, take_error(q));
}

int rq_query(rq_queue *q) {
    rq_run run = {0};
    pthread_mutex_lock(&q->mu);
    if (!dead_locked(q)) submit_locked(q, &run);
    while (q->head)
        if (reap_one(q, 0, &run) == RQ_RUNNING) return finish(q, &run, RQ_NOT_READY);
    return finish(q, &run, take_error(q));
}

/* The event's latest record: 1 done (*rc its outcome), 0 pending; with the record's queue. */
static int ev_state(rq_event *ev, rq_queue **q, int *rc) {
    pthread_mutex_lock(&g_ev_mu);
    *q = ev->queue;
    int st = ev->state;
    pthread_mutex_unlock(&g_ev_mu);
    *rc = st == RQ_EV_FAILED ? RQ_LAUNCH_FAILED : RQ_OK;
    return st == RQ_EV_NONE || st == RQ_EV_DONE || st == RQ_EV_FAILED;
}

static int ev_wait(rq_event *ev, int poll) {
    rq_queue *q;
    int rc;
    if (ev_state(ev, &q, &rc)) return rc;
    rq_run run = {0};
    pthread_mutex_lock(&q->mu);
    pthread_mutex_lock(&g_ev_mu);
    int queued = ev->state == RQ_EV_QUEUED && ev->queue == q;
    pthread_mutex_unlock(&g_ev_mu);
    if (queued && !dead_locked(q)) submit_locked(q, &run);
    for (;;) {
        rq_queue *now;
        if (ev_state(ev, &now, &rc)) break;
        if (!q->head) { /* its job could not be submitted (lost) */
            rc = dead_locked(q) ? dead_locked(q) : RQ_LAUNCH_FAILED;
            break;
        }
        if (reap_one(q, poll ? 0 : RQ_WAIT_FOREVER, &run) == RQ_RUNNING) {
            rc = RQ_NOT_READY;
            break;
        }
    }
    if (rc == RQ_LAUNCH_FAILED) rc = q->sticky ? q->sticky : q->error ? q->error : rc;
    return finish(q, &run, rc);
}

int rq_event_sync(rq_event *ev) { return ev_wait(ev, 0); }

int rq_event_query(rq_event *ev) { return ev_wait(ev, 1); }

int rq_event_elapsed(rq_event *start, rq_event *end, float *ms) {
    pthread_mutex_lock(&g_ev_mu);
    int s1 = start->state, s2 = end->state;
    int64_t a = start->ns, b = end->ns;
    pthread_mutex_unlock(&g_ev_mu);
    if (s1 == RQ_EV_NONE || s2 == RQ_EV_NONE) return RQ_INVALID_VALUE;
    if (s1 == RQ_EV_FAILED || s2 == RQ_EV_FAILED) return RQ_LAUNCH_FAILED;
    if (s1 != RQ_EV_DONE || s2 != RQ_EV_DONE) return RQ_NOT_READY;
    *ms = (float)((double)(b - a) / 1e6);
    return RQ_OK;
}

const char *rq_last_message(rq_queue *q) { return q->error_msg; }
