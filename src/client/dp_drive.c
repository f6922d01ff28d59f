/* dp_drive.c — the driver role and the lease's I/O thread: one round of the job transport
 * (lc_drive_once: the queued jobs that may go sent on the stream or over HTTP, data moved, finished
 * jobs completed, then a wait for the sockets), the role given back and handed over, the I/O thread
 * started and run, and the transport ended at the lease's close.
 *
 * The job transport (this comment is its design; its other files point here): lepton_submit,
 * lepton_wait, lepton_task_get_info and lepton_task_free: jobs validated and encoded
 * (docs/dataplane.md: u32 LE length + JSON descriptor + the WRITE bytes), numbered per GPU in the
 * order the submits return (dp_submit.c), and carried over a curl multi handle per lease with up to
 * LC_DP_CONNS connections per worker (dp_http_jobs.c), or as frames on the worker's stream
 * (dp_stream_jobs.c); their answers are read and the jobs ended by dp_result.c, and the task
 * handles are dp_task.c's. WRITE bytes are read straight from the caller's host memory and READ
 * bytes land straight in it.
 *
 * Who moves the bytes: one thread at a time holds the lease's driver role and runs the multi
 * handle. A submitting thread that finds the role free sends its job itself, and a waiting thread
 * that finds it free drives until its task ends, reading the answer itself: one job then costs
 * one round trip with no hand-over between threads. The lease's I/O thread (started by the first
 * submit) takes the role when jobs are pending and nobody has driven for a grace period, or at
 * once when a driver leaves while other threads sleep on their tasks; so jobs progress whether
 * or not anyone waits. A thread that comes to wait while the I/O thread drives asks for the role
 * back (want_role; the I/O thread gives it up after its current round) and reads its own answers.
 * A job submitted behind answers awaited on its stream is corked (dp->cork): it goes with the next
 * drive's gather write, or when nobody drives, the I/O thread's dp->cork_ns (LEPTON_DP_CORK_US)
 * after the first one.
 *
 * Ownership: a task has two references, the caller's handle and the transport's; the transport
 * drops its own when the job has completed (or was canceled), so lepton_task_free of a running
 * task lets it run to the end and nothing leaks. Task handles outlive the lease's close.
 *
 * Thread safety: job queues, the role and the I/O thread's state live under lc_dp.lock (never
 * held during I/O); the multi handle and the jobs on the wire belong to the role's holder (others
 * only wake it, lc_dp_wake); a task's outcome is published under its
 * own mutex and signalled on its own condition variable. Lock order: task mutex, then lc_dp.lock. */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include "clock.h"
#include "dataplane.h"
#include "dp_jobs_internal.h"

#define START_BATCH 64
#define LC_DP_RECHECK_NS 10000000 /* how often the I/O thread looks while a caller drives */

/* A job small enough to travel in a batch. */
static int batchable(const lepton_task *t) {
    return t->body_len <= LC_DP_BATCH_JOB && t->read_total <= LC_DP_BATCH_JOB;
}

/* One round of the job transport, by the holder of the driver role: sends the queued jobs that
 * may go, moves data, completes finished jobs, and when none finished waits up to poll_ms for
 * the sockets (or a wake-up). */
void lc_drive_once(lc_dp *dp, long poll_ms) {
    lepton_task *start[START_BATCH];
    size_t nstart = 0;
    /* Stream work of this round: jobs (linked by next) and buffer calls, in order. */
    lepton_task *sjobs = NULL, **sjobs_tail = &sjobs;
    lc_sop *sops = NULL, **sops_tail = &sops, *fallback = NULL;
    if (!dp->stream_off) lc_st_open_wanted(dp);
    pthread_mutex_lock(&dp->lock);
    int64_t now = lp_mono_ns();
    dp->corked_since = 0; /* this round takes every corked job */
    for (uint32_t i = 0; i < dp->nworkers && nstart < START_BATCH; i++) {
        lc_worker *w = &dp->workers[i];
        if (w->st.ops) {
            /* Buffer calls go on the stream when it is up and awaits nothing else (a call never
             * waits there behind jobs: over HTTP it would not either), else back to HTTP. */
            if (w->st.conn && !w->st.inflight) {
                *sops_tail = w->st.ops;
                sops_tail = &w->st.ops_tail->next;
            } else {
                w->st.ops_tail->next = fallback;
                fallback = w->st.ops;
            }
            w->st.ops = w->st.ops_tail = NULL;
        }
        if (w->head && w->retry_at_ns > now) {
            long ms = (long)((w->retry_at_ns - now) / 1000000) + 1;
            if (ms < poll_ms) poll_ms = ms;
            continue;
        }
        /* Jobs go on the stream while it is up (one frame each, pipelined), up to ST_WINDOW bytes
         * of frames awaiting answers; a larger job goes when nothing else awaits one. So a frame
         * always fits in the sockets' buffers, and its write never waits on a job the worker is
         * running. The jobs behind wait for answers (the worker runs them in seq order anyway). */
        while (w->st.conn && w->head && !w->head->no_stream) {
            lepton_task *t = w->head;
            uint64_t bytes = sizeof t->frame + t->body_len;
            if (w->st.inflight && w->st.inflight + bytes > ST_WINDOW) break;
            w->st.inflight += bytes;
            w->head = t->next;
            if (!w->head) w->tail = NULL;
            t->next = NULL;
            *sjobs_tail = t;
            sjobs_tail = &t->next;
        }
        if (w->st.conn && w->head && !w->head->no_stream) continue;
        while (w->head && w->in_flight < LC_DP_CONNS && nstart < START_BATCH) {
            lepton_task *t = w->head;
            /* Small jobs: at most LC_DP_BATCH_AFTER requests on the wire per worker; the first
             * goes alone (the least latency), each later one carries every small job queued
             * behind it. The worker runs a GPU's jobs one at a time anyway, so this costs them
             * nothing and saves a round trip's overhead per job. Large jobs go alone, on up to
             * LC_DP_CONNS connections, so that their bytes move while others run. */
            int small = batchable(t);
            if (small && w->in_flight >= LC_DP_BATCH_AFTER) break;
            w->head = t->next;
            t->next = NULL;
            if (small && w->in_flight > 0) {
                lepton_task *last = t;
                uint64_t bytes = 4 + t->body_len;
                uint32_t n = 1;
                while (w->head && n < LC_DP_BATCH_JOBS && batchable(w->head) &&
                       bytes + 4 + w->head->body_len <= LC_DP_BATCH_BYTES) {
                    lepton_task *u = w->head;
                    w->head = u->next;
                    u->next = NULL;
                    last->batch_next = u;
                    last = u;
                    bytes += 4 + u->body_len;
                    n++;
                }
                t->batch_n = n;
            }
            if (!w->head) w->tail = NULL;
            t->first_in_line = w->in_flight == 0; /* every job before it has ended */
            w->in_flight++;
            start[nstart++] = t;
        }
    }
    pthread_mutex_unlock(&dp->lock);
    while (fallback) {
        lc_sop *op = fallback;
        fallback = op->next;
        lc_sop_done(dp, op, 1);
    }
    while (sops) {
        lc_sop *op = sops;
        sops = op->next;
        op->next = NULL;
        if (dp->workers[op->worker].st.conn)
            lc_st_send_op(dp, op);
        else
            lc_sop_done(dp, op, 1);
    }
    while (sjobs) {
        lepton_task *t = sjobs;
        if (dp->workers[t->worker].st.conn) {
            lc_st_send_jobs(dp, &sjobs); /* it and the jobs behind it for the same worker, one write */
            continue;
        }
        sjobs = t->next;
        t->next = NULL;
        if (lc_job_requeue(dp, t, 0)) /* the stream went down meanwhile: HTTP, next round */
            lc_job_fail(dp, t, 0, LEPTON_EEXPIRED, "the lease was closed before the job was sent");
    }
    for (size_t i = 0; i < nstart; i++)
        lc_job_start(dp, start[i]);
    /* curl is asked only while it has transfers: a lease on streams alone skips it. */
    if ((dp->active ? lc_reap(dp) : 0) + lc_st_pump_all(dp) || nstart == START_BATCH || poll_ms <= 0) return;
    /* Wait for the transfers' sockets, the streams awaiting answers, or a wake-up (lc_dp_wake). */
    struct curl_waitfd fds[ST_POLL_MAX + 1];
    unsigned nfds = 0;
    fds[nfds++] = (struct curl_waitfd){dp->wake[0], CURL_WAIT_POLLIN, 0};
    for (uint32_t i = 0; i < dp->nworkers && nfds <= ST_POLL_MAX; i++) {
        lc_wstream *st = &dp->workers[i].st;
        if (st->conn && st->head)
            fds[nfds++] = (struct curl_waitfd){lc_stream_fd(st->conn), CURL_WAIT_POLLIN, 0};
    }
    if (dp->active) {
        curl_multi_poll(dp->multi, fds, nfds, (int)poll_ms, NULL);
        lc_reap(dp);
    } else {
        struct pollfd pf[ST_POLL_MAX + 1];
        for (unsigned i = 0; i < nfds; i++)
            pf[i] = (struct pollfd){fds[i].fd, POLLIN, 0};
        int ready = 0;
        if (nfds > 1 && dp->spin_ns > 0) {
            int64_t until = lp_mono_ns() + dp->spin_ns;
            while (!(ready = poll(pf, nfds, 0)) && lp_mono_ns() < until)
                sched_yield();
        }
        if (ready > 0 || poll(pf, nfds, (int)poll_ms) > 0)
            fds[0].revents = pf[0].revents ? CURL_WAIT_POLLIN : 0;
    }
    if (fds[0].revents) {
        char drain[64];
        while (read(dp->wake[0], drain, sizeof drain) > 0) {
        }
    }
    lc_st_pump_all(dp);
}

/* Wakes the driver role's holder from its wait (thread-safe; the lease's I/O thread runs). */
void lc_dp_wake(lc_dp *dp) {
    char c = 1;
    ssize_t n = write(dp->wake[1], &c, 1); /* a full pipe has a wake-up pending already */
    (void)n;
}

/* Gives the driver role back (dp->lock held). With jobs still pending: when some thread sleeps
 * waiting for a task, the I/O thread takes over at once; else the role stays free for a grace
 * period, so that a thread that submits or waits next drives itself (no hand-over between
 * threads), and the I/O thread takes over only if nobody does. */
void lc_role_release_locked(lc_dp *dp) {
    dp->driver = LC_ROLE_NONE;
    pthread_cond_broadcast(&dp->role_cv);
    if (dp->pending == 0 || !dp->io_started || dp->want_role) return; /* a caller takes it */
    if (atomic_load(&dp->sleepers) > 0) {
        dp->handoff = 1;
        pthread_cond_signal(&dp->io_cv);
    } else if (dp->io_parked) {
        pthread_cond_signal(&dp->io_cv);
    }
}

/* The lease's I/O thread: drives the transport when jobs are pending and no caller has for a
 * grace period (or at once on a hand-off). While jobs are pending it looks every grace period;
 * with none it sleeps until signalled. */
static void *io_main(void *arg) {
    lc_dp *dp = arg;
    pthread_mutex_lock(&dp->lock);
    while (!dp->stopping) {
        if (dp->pending == 0) {
            dp->undriven_since = 0;
            dp->io_parked = 1;
            pthread_cond_wait(&dp->io_cv, &dp->lock);
            dp->io_parked = 0;
            continue;
        }
        int64_t now = lp_mono_ns();
        if (dp->driver != LC_ROLE_NONE) {
            /* A caller drives; its release signals if someone sleeps on a task, else this
             * looks again now and then (unwaited jobs still complete). */
            dp->undriven_since = 0;
            struct timespec until = lc_timespec(now + LC_DP_RECHECK_NS);
            pthread_cond_timedwait(&dp->io_cv, &dp->lock, &until);
            continue;
        }
        if (dp->want_role) {
            /* A waiter asked for the role (and is about to take it): never take it back before,
             * which would give it up at once, without a round, and spin here holding the lock
             * that the waiter needs (a corked job past its cork_ns made that a livelock). */
            dp->undriven_since = 0;
            struct timespec until = lc_timespec(now + LC_DP_GRACE_NS);
            pthread_cond_timedwait(&dp->io_cv, &dp->lock, &until);
            continue;
        }
        if (!dp->undriven_since) dp->undriven_since = now;
        int64_t take_at = dp->undriven_since + LC_DP_GRACE_NS;
        if (dp->corked_since && dp->corked_since + dp->cork_ns < take_at)
            take_at = dp->corked_since + dp->cork_ns;
        if (!dp->handoff && now < take_at) {
            struct timespec until = lc_timespec(take_at);
            pthread_cond_timedwait(&dp->io_cv, &dp->lock, &until);
            continue;
        }
        dp->handoff = 0;
        dp->undriven_since = 0;
        dp->driver = LC_ROLE_IO;
        /* until nothing is pending, or a caller wants to drive (it reads its own answers then, with
         * no hand-over between threads: a pipeline's submit/wait thread would otherwise sleep and be
         * woken for every task while this thread drives) */
        while (!dp->stopping && dp->pending > 0 && !dp->want_role) {
            pthread_mutex_unlock(&dp->lock);
            lc_drive_once(dp, 1000);
            pthread_mutex_lock(&dp->lock);
        }
        lc_role_release_locked(dp);
    }
    pthread_mutex_unlock(&dp->lock);
    return NULL;
}

void lc_jobs_shutdown(lc_dp *dp) {
    pthread_mutex_lock(&dp->lock);
    dp->stopping = 1;
    lepton_task *queued = NULL, **tail = &queued;
    for (uint32_t i = 0; i < dp->nworkers; i++) {
        lc_worker *w = &dp->workers[i];
        if (!w->head) continue;
        *tail = w->head;
        tail = &w->tail->next;
        w->head = w->tail = NULL;
    }
    int started = dp->io_started;
    pthread_mutex_unlock(&dp->lock);
    while (queued) {
        lepton_task *t = queued;
        queued = t->next;
        t->next = NULL;
        lc_job_fail(dp, t, 0, LEPTON_ECANCELED, "canceled: the lease was closed before the job was sent");
    }
    if (!started) return;
    /* Take the role from whoever drives (they see `stopping` at their next round), then end
     * the I/O thread and the jobs on the wire. */
    pthread_mutex_lock(&dp->lock);
    pthread_cond_broadcast(&dp->io_cv);
    while (dp->driver != LC_ROLE_NONE) {
        lc_dp_wake(dp);
        struct timespec until = lc_timespec(lp_mono_ns() + 10 * 1000000);
        pthread_cond_timedwait(&dp->role_cv, &dp->lock, &until);
    }
    dp->driver = LC_ROLE_CLOSE;
    pthread_mutex_unlock(&dp->lock);
    pthread_join(dp->io, NULL);
    dp->io_started = 0;
    lc_st_close_all(dp);
    while (dp->active) {
        lepton_task *t = dp->active;
        lc_job_detach(dp, t);
        lc_request_finish(
            dp, t, LEPTON_EEXPIRED,
            "the lease was closed while the job was on its way or running; its outcome is unknown");
    }
    curl_multi_cleanup(dp->multi);
    dp->multi = NULL;
    close(dp->wake[0]);
    close(dp->wake[1]);
    /* Every task is complete: waiters still counted are about to leave; dp must outlive them. */
    while (atomic_load(&dp->sleepers) > 0)
        lp_sleep_ms(1);
}

/* Starts the lease's I/O thread (dp->lock held). */
int lc_io_start(lc_dp *dp) {
    if (pipe(dp->wake)) return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(dp->wake[i], F_SETFL, fcntl(dp->wake[i], F_GETFL) | O_NONBLOCK);
        fcntl(dp->wake[i], F_SETFD, FD_CLOEXEC);
    }
    dp->multi = curl_multi_init();
    if (!dp->multi) {
        close(dp->wake[0]);
        close(dp->wake[1]);
        return -1;
    }
    curl_multi_setopt(dp->multi, CURLMOPT_MAXCONNECTS, (long)(dp->nworkers * LC_DP_CONNS + 4));
    if (pthread_create(&dp->io, NULL, io_main, dp)) {
        curl_multi_cleanup(dp->multi);
        dp->multi = NULL;
        close(dp->wake[0]);
        close(dp->wake[1]);
        return -1;
    }
    dp->io_started = 1;
    return 0;
}
