/* dp_result.c — a job's answer and its end, whichever way it travelled (HTTP or the stream): the
 * framed result read (its JSON kept, READ bytes straight into the caller's memory), the result
 * decoded and the job completed or failed, or the job put back in its worker's queue to be sent
 * again after a back-off.
 *
 * The job transport's design (ownership, thread safety, lock order, the driver role) is in
 * dp_drive.c's first comment. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "dataplane.h"
#include "dp_jobs_internal.h"
#include "lc_raw.h"
#include "wire.h"
#include "wire_job.h"

#define BACKOFF_FIRST_MS 10
#define BACKOFF_MAX_MS 200

size_t lc_job_bad(lepton_task *t, const char *why) {
    t->bad_answer = 1;
    snprintf(t->bad_text, sizeof t->bad_text, "%s", why);
    return 0; /* stops the transfer */
}

static int feed_bad(lepton_task *t, const char *why) {
    lc_job_bad(t, why);
    return -1;
}

/* Takes n bytes of a framed job result (u32 length + JSON + READ bytes): the JSON into
 * t->result, the READ bytes straight into the caller's memory. 0, or -1 when the answer is bad
 * (t->bad_answer set). */
int lc_framed_feed(lepton_task *t, const char *p, size_t n) {
    while (n) {
        if (t->len_got < 4) {
            size_t k = 4 - t->len_got < n ? 4 - t->len_got : n;
            memcpy(t->len_bytes + t->len_got, p, k);
            t->len_got += k;
            p += k;
            n -= k;
            if (t->len_got == 4) {
                t->result_len = wire_get_le32(t->len_bytes);
                if (t->result_len == 0 || t->result_len > LC_DP_MAX_JSON)
                    return feed_bad(t, "the worker's job result has a bad length prefix");
            }
        } else if (t->result.len < t->result_len) {
            size_t k = t->result_len - t->result.len < n ? t->result_len - t->result.len : n;
            if (lp_buf_append(&t->result, p, k, LC_DP_MAX_JSON))
                return feed_bad(t, "out of memory reading the worker's job result");
            p += k;
            n -= k;
        } else {
            /* READ data, straight into the caller's memory, in step order. */
            if (n > t->read_total - t->read_got)
                return feed_bad(t, "the worker sent more READ bytes than the job's READ steps asked for");
            while (n) {
                lc_seg *s = &t->segs[t->nwrite + t->recv_seg];
                size_t k = s->size - t->recv_off < n ? s->size - t->recv_off : n;
                memcpy(s->host + t->recv_off, p, k);
                t->recv_off += k;
                t->read_got += k;
                p += k;
                n -= k;
                if (t->recv_off == s->size) {
                    t->recv_seg++;
                    t->recv_off = 0;
                }
            }
        }
    }
    return 0;
}

/* A job leaves the lease's queues for good (dp->lock not held). */
static void job_leaves(lc_dp *dp, lepton_task *t, int was_on_wire) {
    pthread_mutex_lock(&dp->lock);
    if (was_on_wire) dp->workers[t->worker].in_flight--;
    dp->pending--;
    pthread_mutex_unlock(&dp->lock);
}

void lc_job_fail(lc_dp *dp, lepton_task *t, int was_on_wire, int status, const char *fmt, ...) {
    char msg[256];
    int n = snprintf(msg, sizeof msg, "GPU %u, job %" PRIu64 ": ", t->worker, t->seq);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    job_leaves(dp, t, was_on_wire);
    lc_task_complete(t, status == LEPTON_ECANCELED ? LEPTON_TASK_CANCELED : LEPTON_TASK_FAILED, status, msg,
                     NULL);
}

/* Puts a job back in its worker's queue, in seq order, to be sent again after a back-off (the
 * worker is still starting). Returns 0, or -1 when the lease is closing (the caller fails it). */
int lc_job_requeue(lc_dp *dp, lepton_task *t, int was_on_wire) {
    pthread_mutex_lock(&dp->lock);
    lc_worker *w = &dp->workers[t->worker];
    if (dp->stopping) {
        pthread_mutex_unlock(&dp->lock);
        return -1;
    }
    if (was_on_wire) w->in_flight--;
    lepton_task **p = &w->head;
    while (*p && (*p)->seq < t->seq)
        p = &(*p)->next;
    t->next = *p;
    *p = t;
    if (!t->next) w->tail = t;
    if (w->backoff_ms < BACKOFF_FIRST_MS) w->backoff_ms = BACKOFF_FIRST_MS;
    w->retry_at_ns = lp_mono_ns() + w->backoff_ms * 1000000;
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
    pthread_mutex_unlock(&dp->lock);
    return 0;
}

/* A job the node is working on now: everything before it on its GPU has ended, and it is on the
 * wire (its data arriving there, or running). */
void lc_mark_running(lepton_task *t) {
    pthread_mutex_lock(&t->mu);
    if (t->state == LEPTON_TASK_QUEUED) t->state = LEPTON_TASK_RUNNING;
    pthread_mutex_unlock(&t->mu);
}

/* Readies a task to read its answer from the start (a job sent, or sent again). json_answer: the
 * answer's kind when known in advance (2: a framed result), or 0 to tell it from the answer's first
 * bytes (json_answer()). */
void lc_answer_reset(lepton_task *u, int json_answer) {
    u->json_answer = json_answer;
    u->len_got = 0;
    u->result_len = 0;
    u->result.len = 0;
    u->recv_seg = u->recv_off = 0;
    u->read_got = 0;
    u->bad_answer = 0;
    u->rec_complete = 0;
}

/* Status of a failed job's result code: the wire codes, plus buffer_lost (not in wire.h). */
static int result_status(const char *code) {
    if (!strcmp(code, "buffer_lost") || !strcmp(code, "worker_restarting")) return LEPTON_ENODELOST;
    return wire_code_to_status(code, 0);
}

/* Completes a job from its framed result (t->result: the JSON; READ bytes already in place). */
void lc_job_result(lc_dp *dp, lepton_task *t, int was_on_wire) {
    dp->workers[t->worker].progress_ns = lp_mono_ns();
    if (t->result.len != t->result_len || t->len_got < 4)
        return lc_job_fail(dp, t, was_on_wire, LEPTON_EPROTO, "the worker's job result is cut short");
    wire_job_result r;
    char why[160];
    if (wire_job_result_decode(t->result.p, t->result.len, &r, why, sizeof why))
        return lc_job_fail(dp, t, was_on_wire, LEPTON_EPROTO, "the worker's job result: %s", why);
    int64_t ns[3] = {r.queued_ns, r.started_ns, r.ended_ns};
    const char *status = r.status, *error = r.error;
    if (r.restarting)
        /* a sticky CUDA error: the worker is being replaced, and later calls wait for the new one */
        lc_dp_note_answer(&dp->workers[t->worker], LC_RETRY_RESTARTING);
    if (!strcmp(status, "worker_restarting") && lp_mono_ns() < t->deadline_ns) {
        /* a batched job that waited behind the one that faulted: the replacement runs it */
        lc_dp_note_answer(&dp->workers[t->worker], LC_RETRY_RESTARTING);
        if (lc_job_requeue(dp, t, was_on_wire) == 0) return;
        return lc_job_fail(dp, t, was_on_wire, LEPTON_ENODELOST,
                           "the lease worker restarted and the lease is closing");
    }
    if (t->raw) { /* published by lc_task_complete (under the task's mutex) */
        t->step = r.step;
        t->nevents = r.nevents;
        if (r.nevents) memcpy(t->events, r.events, r.nevents * sizeof r.events[0]);
        t->instance = r.instance;
        t->output[LC_RAW_STDOUT] = r.output;
        t->output[LC_RAW_STDERR] = r.output_stderr;
    }
    if (!strcmp(status, "ok")) {
        if (t->read_got != t->read_total)
            return lc_job_fail(dp, t, was_on_wire, LEPTON_EPROTO,
                               "the worker sent %" PRIu64 " READ bytes instead of %" PRIu64, t->read_got,
                               t->read_total);
        job_leaves(dp, t, was_on_wire);
        lc_task_complete(t, LEPTON_TASK_DONE, LEPTON_OK, NULL, ns);
        return;
    }
    int st = result_status(status);
    char msg[256], where[96];
    int n = snprintf(where, sizeof where, "GPU %u, job %" PRIu64, t->worker, t->seq);
    if (r.step >= 0) snprintf(where + n, sizeof where - (size_t)n, ", step %ld", r.step);
    const char *lost = !strcmp(status, "buffer_lost")
                           ? " (the buffer was on a lease worker that failed and was "
                             "replaced; its contents are lost)"
                           : "";
    if (t->raw) /* the worker's text first: a CUDA error's name leads (lc_raw.h) */
        snprintf(msg, sizeof msg, "%s%s (%s)", *error ? error : status, lost, where);
    else
        snprintf(msg, sizeof msg, "%s: %s%s", where, *error ? error : status, lost);
    job_leaves(dp, t, was_on_wire);
    lc_task_complete(t, LEPTON_TASK_FAILED, st, msg, ns);
}
