/* dp_jobs_internal.h — what the files of liblepton's job transport share among themselves and no
 * other file uses: dp_submit.c, dp_task.c, dp_result.c, dp_http_jobs.c, dp_stream_jobs.c and
 * dp_drive.c (whose first comment is the transport's design: ownership, thread safety, lock order,
 * the driver role). dataplane.h stays the interface between the data plane's parts (lease, modules
 * and buffers, blocking transfers, jobs); the helpers here are the job transport's own steps.
 * Internal to liblepton. */
#ifndef LEPTON_CLIENT_DP_JOBS_INTERNAL_H
#define LEPTON_CLIENT_DP_JOBS_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane.h"
#include "wire_stream.h"

#define LC_DP_GRACE_NS 1000000 /* jobs nobody drives for this long are taken over by the I/O thread */

/* ---- dp_task.c ---- */

/* Drops a reference to the task; the last one frees it. */
void lc_task_unref(lepton_task *t);
/* Publishes the outcome (ns: queued, started, ended; or NULL), wakes the waiters and drops the
 * transport's reference. */
void lc_task_complete(lepton_task *t, int32_t state, int32_t status, const char *error, const int64_t ns[3]);

/* ---- dp_result.c: a job's answer and its end, either transport ---- */

/* Marks the task's answer bad (t->bad_text = why); returns 0, which stops a curl transfer. */
size_t lc_job_bad(lepton_task *t, const char *why);
/* Takes n bytes of a framed job result; 0, or -1 when the answer is bad (t->bad_answer set). */
int lc_framed_feed(lepton_task *t, const char *p, size_t n);
/* Fails a job with status and a message prefixed by its GPU and seq (dp->lock not held). */
void lc_job_fail(lc_dp *dp, lepton_task *t, int was_on_wire, int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Puts a job back in its worker's queue, in seq order, after a back-off. 0, or -1 when the lease
 * is closing (the caller fails it). */
int lc_job_requeue(lc_dp *dp, lepton_task *t, int was_on_wire);
/* A job the node is working on now: QUEUED becomes RUNNING. */
void lc_mark_running(lepton_task *t);
/* Readies a task to read its answer from the start (json_answer: 2 a framed result, 0 unknown). */
void lc_answer_reset(lepton_task *u, int json_answer);
/* Completes a job from its framed result (t->result: the JSON; READ bytes already in place). */
void lc_job_result(lc_dp *dp, lepton_task *t, int was_on_wire);

/* ---- dp_http_jobs.c: jobs over HTTP (the driver role's holder only) ---- */

/* Puts a request on the wire: one job, or the batch that t heads. */
void lc_job_start(lc_dp *dp, lepton_task *t);
/* Completes the jobs curl has finished with; returns how many. */
int lc_reap(lc_dp *dp);
/* Takes a request off the wire: its handle goes back to the pool. */
void lc_job_detach(lc_dp *dp, lepton_task *t);
/* Completes a request's jobs: those whose result arrived whole get it, the others fail. */
void lc_request_finish(lc_dp *dp, lepton_task *h, int status, const char *text);

/* ---- dp_stream_jobs.c: jobs and buffer calls on the workers' streams ---- */

#define ST_POLL_MAX 64       /* stream sockets watched in one poll */
#define ST_WINDOW (2u << 20) /* bytes of requests awaiting answers on one stream */

/* A buffer read or write on the stream; lives on its caller's stack until done. */
typedef struct lc_sop {
    struct lc_sop *next;
    lc_sent sent;
    uint32_t worker;
    int kind; /* WS_WRITE or WS_READ */
    uint64_t buffer, offset;
    char *p;
    size_t size, got;
    unsigned char fixed[WS_HEADER + 24];
    lc_xfer *x;
    int fallback, done; /* guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} lc_sop;

/* Ends an op: it leaves the pending count, then its caller is woken (fallback: over HTTP). */
void lc_sop_done(lc_dp *dp, lc_sop *op, int fallback);
/* Sends the jobs of *list for the first one's worker that fit one gather write; *list advances. */
void lc_st_send_jobs(lc_dp *dp, lepton_task **list);
/* Sends a buffer call's frame and records it as awaiting its answer. */
void lc_st_send_op(lc_dp *dp, lc_sop *op);
/* Opens the streams that have work waiting and may be tried (role held, no lock). */
void lc_st_open_wanted(lc_dp *dp);
/* Reads every stream that awaits answers; returns the answers completed. */
int lc_st_pump_all(lc_dp *dp);
/* Closes every stream at the lease's close (the role is LC_ROLE_CLOSE). */
void lc_st_close_all(lc_dp *dp);

/* ---- dp_drive.c: the driver role and the I/O thread ---- */

/* One round of the job transport by the holder of the driver role; waits up to poll_ms when
 * nothing finished. */
void lc_drive_once(lc_dp *dp, long poll_ms);
/* Wakes the driver role's holder from its wait (thread-safe; the lease's I/O thread runs). */
void lc_dp_wake(lc_dp *dp);
/* Gives the driver role back (dp->lock held), handing over to the I/O thread when jobs are left. */
void lc_role_release_locked(lc_dp *dp);
/* Starts the lease's I/O thread, its multi handle and wake-up pipe (dp->lock held). 0, or -1. */
int lc_io_start(lc_dp *dp);

#endif
