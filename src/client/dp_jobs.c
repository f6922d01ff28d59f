/* dp_jobs.c — lepton_submit, lepton_wait, lepton_task_get_info and lepton_task_free: jobs
 * validated and encoded (docs/dataplane.md: u32 LE length + JSON descriptor + the WRITE bytes),
 * numbered per GPU in the order the submits return, and carried over a curl multi handle per
 * lease with up to LC_DP_CONNS connections per worker. WRITE bytes are read straight from the
 * caller's host memory and READ bytes land straight in it.
 *
 * Who moves the bytes: one thread at a time holds the lease's driver role and runs the multi
 * handle. A submitting thread that finds the role free sends its job itself, and a waiting thread
 * that finds it free drives until its task ends, reading the answer itself: one job then costs
 * one round trip with no hand-over between threads. The lease's I/O thread (started by the first
 * submit) takes the role when jobs are pending and nobody has driven for a grace period, or at
 * once when a driver leaves while other threads sleep on their tasks; so jobs progress whether
 * or not anyone waits.
 *
 * Ownership: a task has two references, the caller's handle and the transport's; the transport
 * drops its own when the job has completed (or was canceled), so lepton_task_free of a running
 * task lets it run to the end and nothing leaks. Task handles outlive the lease's close.
 *
 * Thread safety: job queues, the role and the I/O thread's state live under lc_dp.lock (never
 * held during I/O); the multi handle and the jobs on the wire belong to the role's holder (others
 * only wake it, dp_wake); a task's outcome is published under its
 * own mutex and signalled on its own condition variable. Lock order: task mutex, then lc_dp.lock. */
#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>
#include <time.h>

#include "base64.h"
#include "client.h"
#include "clock.h"
#include "dataplane.h"
#include "errors.h"
#include "lc_raw.h"
#include "lease.h"
#include "wire.h"
#include "wire_job.h"
#include "wire_stream.h"

/* Sizes of each known version of lepton_job and lepton_task_info (index = version). */
static const size_t job_size[] = {0, sizeof(lepton_job)};
#define JOB_VERSION_MAX (sizeof job_size / sizeof job_size[0] - 1)
static const size_t info_size[] = {0, sizeof(lepton_task_info)};
#define INFO_VERSION_MAX (sizeof info_size / sizeof info_size[0] - 1)

#define START_BATCH 64
#define LC_DP_GRACE_NS 1000000  /* jobs nobody drives for this long are taken over by the I/O thread */
#define LC_DP_CORK_NS 50000     /* ... and corked jobs (dp->cork) after this long */
#define LC_DP_BULK (1u << 20)   /* a job moving this many bytes gets large curl buffers */
#define LC_DP_EXPECT (8u << 20) /* a job sending this many bytes waits for "100 Continue" */
#define LC_DP_FULL_NS (10ll * 1000000000) /* ... and from 1 MiB, this long after a 503 queue_full */
#define LC_DP_RECHECK_NS 10000000         /* how often the I/O thread looks while a caller drives */
#define BACKOFF_FIRST_MS 10
#define BACKOFF_MAX_MS 200

/* ---- validation ---- */

static int check_buffer(const char *fn, const lepton_lease *l, uint32_t gpu, size_t step, const char *what,
                        const lepton_buffer *b) {
    if (!b) return lc_fail(LEPTON_EINVAL, "%s: step %zu: %s is NULL", fn, step, what);
    if (b->lease != l)
        return lc_fail(LEPTON_EINVAL, "%s: step %zu: %s (buffer %" PRIu64 ") belongs to another lease", fn,
                       step, what, b->id);
    if (b->gpu != gpu)
        return lc_fail(LEPTON_EINVAL,
                       "%s: step %zu: %s (buffer %" PRIu64
                       ") is on GPU %u of the lease; the job runs on GPU %u",
                       fn, step, what, b->id, b->gpu, gpu);
    return LEPTON_OK;
}

/* Maps a refusal of the job codec (e->msg names the step and the limit) to a failure of fn. */
static int enc_fail(const char *fn, int rc, const wire_job_enc *e) {
    return lc_fail(rc == WIRE_JOB_ETOOLARGE ? LEPTON_ETOOLARGE
                   : rc == WIRE_JOB_ENOMEM  ? LEPTON_ENOMEM
                                            : LEPTON_EINVAL,
                   "%s: %s", fn, e->msg);
}

/* Checks a launch against the kernel's parameter list and appends it to the descriptor (the codec
 * checks the wire's limits, the same ones the worker enforces). */
static int encode_launch(const char *fn, const lepton_lease *l, uint32_t gpu, size_t i,
                         const lepton_launch *L, wire_job_enc *d) {
    if (!L) return lc_fail(LEPTON_EINVAL, "%s: step %zu is a launch but its launch is NULL", fn, i);
    if (!L->module) return lc_fail(LEPTON_EINVAL, "%s: step %zu: launch->module is NULL", fn, i);
    if (L->module->lease != l)
        return lc_fail(LEPTON_EINVAL, "%s: step %zu: the module belongs to another lease", fn, i);
    if (!L->function) return lc_fail(LEPTON_EINVAL, "%s: step %zu: launch->function is NULL", fn, i);
    const lc_function *f = lc_module_function(L->module, L->function);
    if (!f)
        return lc_fail(LEPTON_ENOTFOUND, "%s: step %zu: the module (%.12s…) has no kernel named \"%.200s\"",
                       fn, i, L->module->image->sha, L->function);
    if (L->arg_count != f->nparams)
        return lc_fail(LEPTON_EINVAL, "%s: step %zu: kernel %s takes %u argument%s; %zu given", fn, i,
                       f->name, f->nparams, f->nparams == 1 ? "" : "s", L->arg_count);
    if (L->arg_count && !L->args)
        return lc_fail(LEPTON_EINVAL, "%s: step %zu: kernel %s: launch->args is NULL", fn, i, f->name);
    int rc = wire_job_enc_launch(d, L->module->image->sha, f->name, L->grid, L->block, L->shared_bytes,
                                 L->arg_count);
    if (rc) return enc_fail(fn, rc, d);
    for (size_t k = 0; k < L->arg_count; k++) {
        const lepton_arg *a = &L->args[k];
        uint32_t want = f->sizes[k];
        if (a->kind == LEPTON_ARG_BUFFER) {
            if (want != 8)
                return lc_fail(
                    LEPTON_EINVAL,
                    "%s: step %zu: kernel %s: argument %zu is a buffer (an 8-byte device pointer) but "
                    "the kernel's parameter %zu has %u bytes",
                    fn, i, f->name, k, k, want);
            char what[48];
            snprintf(what, sizeof what, "argument %zu's buffer", k);
            rc = check_buffer(fn, l, gpu, i, what, a->buffer);
            if (rc) return rc;
            if (a->offset > a->buffer->size)
                return lc_fail(LEPTON_EINVAL,
                               "%s: step %zu: kernel %s: argument %zu: offset %" PRIu64
                               " is past the end of buffer %" PRIu64 " (%" PRIu64 " bytes)",
                               fn, i, f->name, k, a->offset, a->buffer->id, a->buffer->size);
            rc = wire_job_enc_arg_buffer(d, a->buffer->id, a->offset);
        } else if (a->kind == LEPTON_ARG_VALUE) {
            /* the wire's size limit first: its message names the limit, not the kernel */
            if (a->size == 0 || a->size > WIRE_JOB_MAX_VALUE)
                return enc_fail(fn, wire_job_enc_arg_value(d, NULL, a->size), d);
            if (a->size != want)
                return lc_fail(
                    LEPTON_EINVAL,
                    "%s: step %zu: kernel %s: argument %zu has %zu bytes; the kernel's parameter %zu "
                    "has %u bytes",
                    fn, i, f->name, k, a->size, k, want);
            if (!a->value)
                return lc_fail(LEPTON_EINVAL, "%s: step %zu: kernel %s: argument %zu: value is NULL", fn, i,
                               f->name, k);
            rc = wire_job_enc_arg_value(d, a->value, a->size);
        } else {
            return lc_fail(LEPTON_EINVAL,
                           "%s: step %zu: kernel %s: argument %zu has kind %u (LEPTON_ARG_BUFFER or "
                           "LEPTON_ARG_VALUE expected)",
                           fn, i, f->name, k, a->kind);
        }
        if (rc) return enc_fail(fn, rc, d);
    }
    return LEPTON_OK;
}

/* ---- tasks ---- */

static void task_unref(lepton_task *t) {
    if (atomic_fetch_sub(&t->refs, 1) != 1) return;
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    lp_buf_free(&t->result);
    free(t);
}

/* Publishes the outcome, wakes the waiters and drops the transport's reference. */
static void task_complete(lepton_task *t, int32_t state, int32_t status, const char *error,
                          const int64_t ns[3]) {
    lp_buf_free(&t->result);
    pthread_mutex_lock(&t->mu);
    t->state = state;
    t->status = status;
    if (ns) {
        t->queued_ns = ns[0];
        t->started_ns = ns[1];
        t->ended_ns = ns[2];
    }
    snprintf(t->error, sizeof t->error, "%s", error ? error : "");
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    task_unref(t);
}

static int finished(int32_t state) {
    return state == LEPTON_TASK_DONE || state == LEPTON_TASK_FAILED || state == LEPTON_TASK_CANCELED;
}

/* ---- the request and answer streams (I/O thread) ---- */

static size_t job_read(char *buf, size_t size, size_t nitems, void *user) {
    lepton_task *t = user;
    size_t room = size * nitems, n = 0;
    while (n < room && t->sent_seg <= t->nwrite) {
        const char *src;
        size_t len;
        if (t->sent_seg == 0) {
            src = t->head;
            len = t->head_len;
        } else {
            src = t->segs[t->sent_seg - 1].host;
            len = t->segs[t->sent_seg - 1].size;
        }
        size_t k = len - t->sent_off;
        if (k > room - n) k = room - n;
        memcpy(buf + n, src + t->sent_off, k);
        n += k;
        t->sent_off += k;
        if (t->sent_off == len) {
            t->sent_seg++;
            t->sent_off = 0;
        }
    }
    return n;
}

static int job_seek(void *user, curl_off_t offset, int origin) {
    lepton_task *t = user;
    if (origin != SEEK_SET || offset != 0) return CURL_SEEKFUNC_CANTSEEK;
    t->sent_seg = 0;
    t->sent_off = 0;
    return CURL_SEEKFUNC_OK;
}

static size_t job_bad(lepton_task *t, const char *why) {
    t->bad_answer = 1;
    snprintf(t->bad_text, sizeof t->bad_text, "%s", why);
    return 0; /* stops the transfer */
}

static int feed_bad(lepton_task *t, const char *why) {
    job_bad(t, why);
    return -1;
}

/* Takes n bytes of a framed job result (u32 length + JSON + READ bytes): the JSON into
 * t->result, the READ bytes straight into the caller's memory. 0, or -1 when the answer is bad
 * (t->bad_answer set). */
static int framed_feed(lepton_task *t, const char *p, size_t n) {
    while (n) {
        if (t->len_got < 4) {
            size_t k = 4 - t->len_got < n ? 4 - t->len_got : n;
            memcpy(t->len_bytes + t->len_got, p, k);
            t->len_got += k;
            p += k;
            n -= k;
            if (t->len_got == 4) {
                t->result_len = (uint32_t)t->len_bytes[0] | (uint32_t)t->len_bytes[1] << 8 |
                                (uint32_t)t->len_bytes[2] << 16 | (uint32_t)t->len_bytes[3] << 24;
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

/* An answer's first bytes tell its kind: a plain JSON answer (an error body; json_answer 1), kept
 * whole in t->result, or framed results (2). Returns 1 when this chunk belonged to a JSON answer,
 * with *ret what the write callback returns; 0 for framed results, left to the caller. */
static int json_answer(lepton_task *t, const char *p, size_t n, size_t *ret) {
    if (!t->json_answer) {
        long code = 0;
        char *ct = NULL;
        CURL *e = t->easy->curl;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
        t->json_answer = (code < 200 || code >= 300 || (ct && strstr(ct, "json"))) ? 1 : 2;
    }
    if (t->json_answer != 1) return 0;
    int rc = lp_buf_append(&t->result, p, n, LC_DP_MAX_JSON);
    *ret = rc ? job_bad(t, rc == LP_BUF_NOMEM ? "out of memory reading the worker's answer"
                                              : "the worker's answer is too large")
              : n;
    return 1;
}

static size_t job_write(char *ptr, size_t size, size_t nmemb, void *user) {
    lepton_task *t = user;
    size_t n = size * nmemb, ret;
    if (json_answer(t, ptr, n, &ret)) return ret;
    return framed_feed(t, ptr, n) ? 0 : n;
}

/* The answer to a batch: records of u32 length + one job's framed result, in the batch's order;
 * each record's bytes go to its task. */
static size_t batch_write(char *ptr, size_t size, size_t nmemb, void *user) {
    lepton_task *h = user;
    size_t n = size * nmemb, ret;
    const char *p = ptr;
    if (json_answer(h, p, n, &ret)) return ret;
    while (n) {
        if (h->rec_got < 4) {
            if (!h->rcv)
                return job_bad(h, "the worker's batch answer has more results than the batch has jobs");
            size_t k = 4 - h->rec_got < n ? 4 - h->rec_got : n;
            memcpy(h->rec_bytes + h->rec_got, p, k);
            h->rec_got += k;
            p += k;
            n -= k;
            if (h->rec_got == 4) {
                h->rec_left = (uint32_t)h->rec_bytes[0] | (uint32_t)h->rec_bytes[1] << 8 |
                              (uint32_t)h->rec_bytes[2] << 16 | (uint32_t)h->rec_bytes[3] << 24;
                if (h->rec_left < 4 || h->rec_left > 4 + (uint64_t)LC_DP_MAX_JSON + h->rcv->read_total)
                    return job_bad(h, "a record of the worker's batch answer has a bad length prefix");
            }
            continue;
        }
        lepton_task *t = h->rcv;
        size_t k = h->rec_left < n ? (size_t)h->rec_left : n;
        if (framed_feed(t, p, k)) {
            if (t != h) {
                h->bad_answer = 1;
                snprintf(h->bad_text, sizeof h->bad_text, "%s", t->bad_text);
            }
            return 0;
        }
        p += k;
        n -= k;
        h->rec_left -= k;
        if (!h->rec_left) {
            t->rec_complete = 1;
            h->rcv = t->batch_next;
            h->rec_got = 0;
        }
    }
    return size * nmemb;
}

/* ---- the I/O thread ---- */

static void active_link(lc_dp *dp, lepton_task *t) {
    t->prev = NULL;
    t->next = dp->active;
    if (t->next) t->next->prev = t;
    dp->active = t;
}

static void active_unlink(lc_dp *dp, lepton_task *t) {
    if (t->prev)
        t->prev->next = t->next;
    else
        dp->active = t->next;
    if (t->next) t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

/* Takes a request off the wire: its handle goes back to the pool. */
static void job_detach(lc_dp *dp, lepton_task *t) {
    CURL *e = t->easy->curl;
    curl_multi_remove_handle(dp->multi, e);
    active_unlink(dp, t);
    lc_easy_give(&dp->job_idle, t->easy);
    t->easy = NULL;
    free(t->batch_body);
    t->batch_body = NULL;
}

/* A job leaves the lease's queues for good (dp->lock not held). */
static void job_leaves(lc_dp *dp, lepton_task *t, int was_on_wire) {
    pthread_mutex_lock(&dp->lock);
    if (was_on_wire) dp->workers[t->worker].in_flight--;
    dp->pending--;
    pthread_mutex_unlock(&dp->lock);
}

static void job_fail(lc_dp *dp, lepton_task *t, int was_on_wire, int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void job_fail(lc_dp *dp, lepton_task *t, int was_on_wire, int status, const char *fmt, ...) {
    char msg[256];
    int n = snprintf(msg, sizeof msg, "GPU %u, job %" PRIu64 ": ", t->worker, t->seq);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    job_leaves(dp, t, was_on_wire);
    task_complete(t, status == LEPTON_ECANCELED ? LEPTON_TASK_CANCELED : LEPTON_TASK_FAILED, status, msg,
                  NULL);
}

/* Completes a request's jobs (a single job, or the jobs of a batch headed by h): a job whose
 * result arrived whole gets it, the others fail with status and text. The request counts once
 * among its worker's requests on the wire: on its head. */
static void job_result(lc_dp *dp, lepton_task *t, int was_on_wire);
static void request_finish(lc_dp *dp, lepton_task *h, int status, const char *text) {
    for (lepton_task *u = h, *next; u; u = next) {
        next = u->batch_next; /* u may be freed once complete */
        u->batch_next = NULL;
        u->batch_n = 0;
        if (u->rec_complete)
            job_result(dp, u, u == h);
        else
            job_fail(dp, u, u == h, status, "%s", text);
    }
}

/* Puts a job back in its worker's queue, in seq order, to be sent again after a back-off (the
 * worker is still starting). Returns 0, or -1 when the lease is closing (the caller fails it). */
static int job_requeue(lc_dp *dp, lepton_task *t, int was_on_wire) {
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

/* Sends a request's jobs again later (the worker is still starting); a job that cannot be
 * (the lease is closing) fails with status and text. */
static void request_requeue(lc_dp *dp, lepton_task *h, int status, const char *text) {
    for (lepton_task *u = h, *next; u; u = next) {
        next = u->batch_next;
        u->batch_next = NULL;
        u->batch_n = 0;
        if (job_requeue(dp, u, u == h)) job_fail(dp, u, u == h, status, "%s", text);
    }
}

/* A job the node is working on now: everything before it on its GPU has ended, and it is on the
 * wire (its data arriving there, or running). */
static void mark_running(lepton_task *t) {
    pthread_mutex_lock(&t->mu);
    if (t->state == LEPTON_TASK_QUEUED) t->state = LEPTON_TASK_RUNNING;
    pthread_mutex_unlock(&t->mu);
}

/* Readies a task to read its answer from the start (a job sent, or sent again). json_answer: the
 * answer's kind when known in advance (2: a framed result), or 0 to tell it from the answer's first
 * bytes (json_answer()). */
static void answer_reset(lepton_task *u, int json_answer) {
    u->json_answer = json_answer;
    u->len_got = 0;
    u->result_len = 0;
    u->result.len = 0;
    u->recv_seg = u->recv_off = 0;
    u->read_got = 0;
    u->bad_answer = 0;
    u->rec_complete = 0;
}

/* Puts a request on the wire: one job, or the batch that t heads (POST /v1/jobs/batch: records
 * of u32 LE length + the job's body, answered by records of u32 LE length + the job's result). */
static void job_start(lc_dp *dp, lepton_task *t) {
    for (lepton_task *u = t; u; u = u->batch_next) {
        u->sent_seg = u->sent_off = 0;
        answer_reset(u, u == t ? 0 : 2);
    }
    t->sent_ns = lp_mono_ns();
    t->easy = lc_easy_take(dp, &dp->job_idle);
    if (!t->easy) {
        request_finish(dp, t, LEPTON_ENOMEM, "out of memory (no curl handle)");
        return;
    }
    CURL *e = t->easy->curl;
    int batch = t->batch_next != NULL;
    uint64_t body_len = t->body_len, read_total = t->read_total;
    if (batch) {
        size_t len = 0;
        for (lepton_task *u = t; u; u = u->batch_next)
            len += 4 + (size_t)u->body_len;
        char *b = malloc(len);
        if (!b) {
            lc_easy_give(&dp->job_idle, t->easy);
            t->easy = NULL;
            request_finish(dp, t, LEPTON_ENOMEM, "out of memory (batch of jobs)");
            return;
        }
        size_t at = 0;
        for (lepton_task *u = t; u; u = u->batch_next) {
            uint32_t n = (uint32_t)u->body_len;
            unsigned char le[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                                   (unsigned char)(n >> 24)};
            memcpy(b + at, le, 4);
            memcpy(b + at + 4, u->head, u->head_len);
            at += 4 + u->head_len;
            for (uint32_t i = 0; i < u->nwrite; i++) {
                memcpy(b + at, u->segs[i].host, u->segs[i].size);
                at += u->segs[i].size;
            }
        }
        t->batch_body = b;
        t->rcv = t;
        t->rec_got = 0;
        t->rec_left = 0;
        body_len = len;
        read_total = 0;
        curl_easy_setopt(e, CURLOPT_URL, dp->workers[t->worker].batch_url);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, (void *)b);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, batch_write);
    } else {
        curl_easy_setopt(e, CURLOPT_URL, dp->workers[t->worker].jobs_url);
        /* A job without WRITE data is one contiguous body: curl then sends it with the headers
         * in one segment; otherwise the body is read from the head and the caller's memory in
         * turn. */
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->nwrite ? NULL : (void *)t->head);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, job_write);
    }
    /* The seq in a header: a worker whose queue is full takes the job every other waits for. */
    snprintf(t->seq_line, sizeof t->seq_line, "Lepton-Job-Seq: %" PRIu64, t->seq);
    t->seq_header.data = t->seq_line;
    /* Large bodies wait for "100 Continue" (one round trip), so that a full worker refuses them
     * before they are sent: always from 8 MiB, and from 1 MiB while that worker is refusing. */
    const lc_worker *wk = &dp->workers[t->worker];
    int expect = body_len >= LC_DP_EXPECT || (body_len >= LC_DP_BULK && wk->queue_full_ns &&
                                              t->sent_ns - wk->queue_full_ns < LC_DP_FULL_NS);
    t->seq_header.next = expect ? dp->expect_headers : dp->raw_headers;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, &t->seq_header);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, job_read);
    curl_easy_setopt(e, CURLOPT_READDATA, t);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, job_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)t);
    /* A job may wait behind others and run long: no deadline on the whole exchange; a dead
     * worker shows as a refused or broken connection, a lost node through keep-alive probes. */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 0L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 0L);
    /* Large curl buffers only for jobs that move much data: a lease may keep 8 handles per GPU. */
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, body_len >= LC_DP_BULK ? 2l << 20 : 64l << 10);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, read_total >= LC_DP_BULK ? 512l << 10 : 64l << 10);
    active_link(dp, t);
    if (curl_multi_add_handle(dp->multi, e) != CURLM_OK) {
        active_unlink(dp, t);
        lc_easy_give(&dp->job_idle, t->easy);
        t->easy = NULL;
        free(t->batch_body);
        t->batch_body = NULL;
        request_finish(dp, t, LEPTON_ENOMEM, "cannot start the transfer");
        return;
    }
    if (t->first_in_line) mark_running(t);
}

/* Status of a failed job's result code: the wire codes, plus buffer_lost (not in wire.h). */
static int result_status(const char *code) {
    if (!strcmp(code, "buffer_lost") || !strcmp(code, "worker_restarting")) return LEPTON_ENODELOST;
    return wire_code_to_status(code, 0);
}

/* Completes a job from its framed result (t->result: the JSON; READ bytes already in place). */
static void job_result(lc_dp *dp, lepton_task *t, int was_on_wire) {
    dp->workers[t->worker].progress_ns = lp_mono_ns();
    if (t->result.len != t->result_len || t->len_got < 4)
        return job_fail(dp, t, was_on_wire, LEPTON_EPROTO, "the worker's job result is cut short");
    wire_job_result r;
    char why[160];
    if (wire_job_result_decode(t->result.p, t->result.len, &r, why, sizeof why))
        return job_fail(dp, t, was_on_wire, LEPTON_EPROTO, "the worker's job result: %s", why);
    int64_t ns[3] = {r.queued_ns, r.started_ns, r.ended_ns};
    const char *status = r.status, *error = r.error;
    if (r.restarting)
        /* a sticky CUDA error: the worker is being replaced, and later calls wait for the new one */
        lc_dp_note_answer(&dp->workers[t->worker], LC_RETRY_RESTARTING);
    if (!strcmp(status, "worker_restarting") && lp_mono_ns() < t->deadline_ns) {
        /* a batched job that waited behind the one that faulted: the replacement runs it */
        lc_dp_note_answer(&dp->workers[t->worker], LC_RETRY_RESTARTING);
        if (job_requeue(dp, t, was_on_wire) == 0) return;
        return job_fail(dp, t, was_on_wire, LEPTON_ENODELOST,
                        "the lease worker restarted and the lease is closing");
    }
    if (t->raw) { /* published by task_complete (under the task's mutex) */
        t->step = r.step;
        t->nevents = r.nevents;
        if (r.nevents) memcpy(t->events, r.events, r.nevents * sizeof r.events[0]);
        t->instance = r.instance;
        t->output[LC_RAW_STDOUT] = r.output;
        t->output[LC_RAW_STDERR] = r.output_stderr;
    }
    if (!strcmp(status, "ok")) {
        if (t->read_got != t->read_total)
            return job_fail(dp, t, was_on_wire, LEPTON_EPROTO,
                            "the worker sent %" PRIu64 " READ bytes instead of %" PRIu64, t->read_got,
                            t->read_total);
        job_leaves(dp, t, was_on_wire);
        task_complete(t, LEPTON_TASK_DONE, LEPTON_OK, NULL, ns);
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
    task_complete(t, LEPTON_TASK_FAILED, st, msg, ns);
}

/* After a request to worker `wi` ended: the earliest job still on the wire there is next in line
 * on its GPU when no job before it waits in the queue (one sent back while the worker started). */
static void advance_running(lc_dp *dp, uint32_t wi) {
    lepton_task *first = NULL;
    for (lepton_task *a = dp->active; a; a = a->next)
        if (a->worker == wi && (!first || a->seq < first->seq)) first = a;
    if (!first) return;
    pthread_mutex_lock(&dp->lock);
    lepton_task *q = dp->workers[wi].head;
    int next_in_line = !q || q->seq > first->seq;
    pthread_mutex_unlock(&dp->lock);
    if (next_in_line) mark_running(first);
}

/* A request curl has finished with: its jobs complete, or go back to the queue while the
 * worker is still starting. */
static void request_done(lc_dp *dp, lepton_task *t, CURLcode cc);
static void job_done(lc_dp *dp, lepton_task *t, CURLcode cc) {
    uint32_t wi = t->worker;
    request_done(dp, t, cc);
    advance_running(dp, wi);
}

static void request_done(lc_dp *dp, lepton_task *t, CURLcode cc) {
    lc_worker *w = &dp->workers[t->worker];
    long http = 0;
    char text[512];
    curl_easy_getinfo(t->easy->curl, CURLINFO_RESPONSE_CODE, &http);
    int net =
        cc == CURLE_OK ? LEPTON_OK : lc_dp_transport_text(dp, w, cc, text, sizeof text, t->easy->errbuf);
    int was_up = atomic_load(&w->up);
    int batch = t->batch_next != NULL;
    int64_t now = lp_mono_ns();
    if (dp->lease->client->log) {
        uint64_t last = t->seq;
        for (lepton_task *u = t->batch_next; u; u = u->batch_next)
            last = u->seq;
        lc_log(dp->lease->client, LEPTON_LOG_DEBUG,
               "lease %s GPU %u: POST /v1/jobs%s (seq %" PRIu64 "..%" PRIu64 ", %u job%s) -> %ld in %lld µs",
               dp->lease->id, t->worker, batch ? "/batch" : "", t->seq, last, batch ? t->batch_n : 1,
               batch ? "s" : "", http, (long long)((now - t->sent_ns) / 1000));
    }
    job_detach(dp, t);

    if (t->bad_answer) return request_finish(dp, t, LEPTON_EPROTO, t->bad_text);
    if (cc != CURLE_OK) {
        if (lc_dp_conn_failure(cc) && !atomic_load(&w->up) && now < t->deadline_ns)
            return request_requeue(dp, t, net, text);
        if (was_up) net = lc_dp_refine_lost(dp, net, text, sizeof text);
        return request_finish(dp, t, net, text);
    }
    if (t->json_answer != 2) {
        int starting = 0;
        int st = lc_dp_error_text(http, t->result.p ? t->result.p : "", t->result.len, text, sizeof text,
                                  &starting);
        lc_dp_note_answer(w, starting);
        if (starting == LC_RETRY_QUEUE_FULL) w->queue_full_ns = now;
        /* A full queue is a busy worker, not a dead one: the timeout counts from its last result. */
        int64_t busy_until = w->progress_ns + (int64_t)dp->timeout_ms * 1000000;
        if (starting == LC_RETRY_QUEUE_FULL && w->progress_ns && busy_until > t->deadline_ns)
            for (lepton_task *u = t; u; u = u->batch_next)
                u->deadline_ns = busy_until;
        /* not up yet, restarting, or too many jobs held there: sent again after a back-off */
        if (starting && now < t->deadline_ns) return request_requeue(dp, t, st, text);
        if (http >= 200 && http < 300) {
            snprintf(text, sizeof text, "the worker answered HTTP %ld with JSON instead of a job result",
                     http);
            st = LEPTON_EPROTO;
        }
        return request_finish(dp, t, st, text);
    }
    atomic_store(&w->up, 1);
    if (!batch) t->rec_complete = 1;
    request_finish(dp, t, LEPTON_EPROTO, "the worker's answer to the batch ended before this job's result");
}

/* Completes the jobs curl has finished with; returns how many. The caller holds the role. */
static int reap(lc_dp *dp) {
    int running = 0, done = 0, left;
    curl_multi_perform(dp->multi, &running);
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(dp->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        lepton_task *t = NULL;
        CURLcode cc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (t) job_done(dp, t, cc);
        done++;
    }
    return done;
}

static void drive_once(lc_dp *dp, long poll_ms);
static void role_release_locked(lc_dp *dp);
static int io_start(lc_dp *dp);
static void dp_wake(lc_dp *dp);

/* ---- the stream (docs/dataplane.md "The stream"): frames on an upgraded worker connection ----
 *
 * Every job (and buffer read or write, lc_stream_xfer) whose worker's stream is up travels there
 * as one frame, written by the driver role's holder straight from the caller's memory; answers
 * come in the order of the requests and are read by the holder too (the thread that waits, else
 * the I/O thread), READ bytes straight into the caller's memory. The stream's connection, its
 * requests awaiting answers and its reader belong to the role; `conn` and `retry_ns` are also
 * written under lc_dp.lock (lc_stream_xfer reads them), and the queue of buffer calls (`ops`) is
 * guarded by it. Whatever goes wrong on a stream sends its requests over HTTP (st_down). */

#define ST_RBUF (256u << 10)    /* bytes received ahead of parsing */
#define ST_DIRECT (32u << 10)   /* READ bytes at least this many go straight to the caller */
#define ST_BACKOFF_FIRST_MS 100 /* a stream that failed is tried again after ... */
#define ST_BACKOFF_MAX_MS 5000  /* ... doubling up to this */
#define ST_UNSUPPORTED_MS 60000 /* a worker that refuses the upgrade is asked again after this */
#define ST_POLL_MAX 64          /* stream sockets watched in one poll */
#define ST_WINDOW (2u << 20)    /* bytes of requests awaiting answers on one stream */

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

/* Ends an op: it leaves the pending count, then its caller is woken (and may return at once). */
static void sop_done(lc_dp *dp, lc_sop *op, int fallback) {
    pthread_mutex_lock(&dp->lock);
    dp->pending--;
    pthread_mutex_unlock(&dp->lock);
    pthread_mutex_lock(&op->mu);
    op->fallback = fallback;
    op->done = 1;
    pthread_cond_broadcast(&op->cv);
    pthread_mutex_unlock(&op->mu);
}

static void st_push(lc_wstream *st, lc_sent *e) {
    e->next = NULL;
    if (!st->head) st->rx_ns = lp_mono_ns(); /* an answer is awaited from now */
    if (st->tail)
        st->tail->next = e;
    else
        st->head = e;
    st->tail = e;
}

static int st_log_on(const lc_dp *dp) { return dp->lease->client->log != NULL; }

/* Takes worker wi's stream down: its connection closes, every request awaiting an answer goes
 * over HTTP instead (a job with its seq: the worker answers a seq it ran from memory), and the
 * stream is opened again after a back-off (a long one when the worker refused the upgrade). */
static void st_down(lc_dp *dp, uint32_t wi, const char *why, int http) {
    lc_wstream *st = &dp->workers[wi].st;
    lc_sent *list = st->head;
    st->head = st->tail = NULL;
    st->inflight = 0;
    st->hdr_got = 0;
    st->in_payload = 0;
    st->rpos = st->rlen = 0;
    int64_t wait_ms;
    if (http >= 400 && http < 500) {
        wait_ms = ST_UNSUPPORTED_MS;
    } else {
        st->backoff_ms = st->backoff_ms < ST_BACKOFF_FIRST_MS     ? ST_BACKOFF_FIRST_MS
                         : st->backoff_ms * 2 > ST_BACKOFF_MAX_MS ? ST_BACKOFF_MAX_MS
                                                                  : st->backoff_ms * 2;
        wait_ms = st->backoff_ms;
    }
    lc_stream *conn = st->conn;
    pthread_mutex_lock(&dp->lock);
    st->conn = NULL;
    st->retry_ns = lp_mono_ns() + wait_ms * 1000000;
    pthread_mutex_unlock(&dp->lock);
    lc_stream_close(conn);
    if (st_log_on(dp))
        lc_log(dp->lease->client, LEPTON_LOG_DEBUG, "lease %s GPU %u: stream %s: %s; HTTP for %lld ms",
               dp->lease->id, wi, conn ? "down" : "not opened", why, (long long)wait_ms);
    while (list) {
        lc_sent *e = list;
        list = e->next;
        e->next = NULL;
        if (e->task) {
            lepton_task *t = e->task;
            t->no_stream = 1;
            if (job_requeue(dp, t, 0))
                job_fail(
                    dp, t, 0, LEPTON_EEXPIRED,
                    "the lease was closed while the job was on its way or running; its outcome is unknown");
        } else {
            sop_done(dp, e->op, 1);
        }
    }
}

/* Opens worker wi's stream (the role's holder, no lock held). */
static void st_open(lc_dp *dp, uint32_t wi) {
    lc_wstream *st = &dp->workers[wi].st;
    char why[320];
    int http = 0;
    if (!st->rbuf) st->rbuf = malloc(ST_RBUF);
    lc_stream *c = st->rbuf ? lc_stream_open(dp, wi, why, sizeof why, &http) : NULL;
    if (!st->rbuf) snprintf(why, sizeof why, "out of memory");
    if (!c) return st_down(dp, wi, why, http);
    st->hdr_got = 0;
    st->in_payload = 0;
    st->rpos = st->rlen = 0;
    st->backoff_ms = 0;
    pthread_mutex_lock(&dp->lock);
    st->conn = c;
    pthread_mutex_unlock(&dp->lock);
    if (st_log_on(dp))
        lc_log(dp->lease->client, LEPTON_LOG_DEBUG, "lease %s GPU %u: stream open to %s", dp->lease->id, wi,
               dp->workers[wi].url);
}

/* Where the current answer's next bytes go straight to (READ data of a 2xx answer), or NULL. */
static char *st_direct(lc_wstream *st, size_t *room) {
    lc_sent *e = st->head;
    if (st->status < 200 || st->status >= 300) return NULL;
    if (e->op) {
        if (e->op->kind != WS_READ) return NULL;
        *room = e->op->size - e->op->got;
        return e->op->p + e->op->got;
    }
    lepton_task *t = e->task;
    if (t->bad_answer || t->len_got < 4 || t->result.len < t->result_len || t->read_got >= t->read_total)
        return NULL;
    lc_seg *s = &t->segs[t->nwrite + t->recv_seg];
    *room = s->size - t->recv_off;
    return s->host + t->recv_off;
}

/* n bytes landed where st_direct said. */
static void st_direct_done(lc_wstream *st, size_t n) {
    lc_sent *e = st->head;
    if (e->op) {
        e->op->got += n;
        return;
    }
    lepton_task *t = e->task;
    t->recv_off += n;
    t->read_got += n;
    while (t->recv_seg < t->nread && t->recv_off == t->segs[t->nwrite + t->recv_seg].size) {
        t->recv_seg++;
        t->recv_off = 0;
    }
}

/* n bytes of the current answer's payload, from the receive buffer. */
static void st_feed(lc_wstream *st, const char *p, size_t n) {
    lc_sent *e = st->head;
    int ok = st->status >= 200 && st->status < 300;
    if (e->op) {
        if (ok) {
            memcpy(e->op->p + e->op->got, p, n); /* a READ: the length was checked to be its size */
            e->op->got += n;
        } else {
            (void)lp_buf_append(&e->op->x->answer, p, n, LC_DP_MAX_JSON); /* cut: judged by its JSON */
        }
        return;
    }
    lepton_task *t = e->task;
    if (t->bad_answer) return;
    if (ok)
        framed_feed(t, p, n);
    else if (lp_buf_append(&t->result, p, n, LC_DP_MAX_JSON))
        job_bad(t, "the worker's error answer is too large");
}

/* The header of the answer to the request at the FIFO's head; 0, or -1 (protocol error, why). */
static int st_begin(lc_wstream *st, char *why, size_t n) {
    ws_header h;
    ws_unpack(st->hdr, &h);
    lc_sent *e = st->head;
    if (!e) return snprintf(why, n, "an answer (kind %u) came with no request awaiting one", h.kind), -1;
    if (h.kind != (e->kind | WS_REPLY) || h.flags || h.tag != e->tag)
        return snprintf(why, n, "an answer (kind %u, tag %u) does not match its request (kind %u, tag %u)",
                        h.kind, h.tag, e->kind, e->tag),
               -1;
    int ok = h.status >= 200 && h.status < 300;
    uint64_t max = !ok                  ? LC_DP_MAX_JSON
                   : e->task            ? 4 + (uint64_t)LC_DP_MAX_JSON + e->task->read_total
                   : e->kind == WS_READ ? e->op->size
                                        : 0;
    if (h.length > max || (ok && e->kind == WS_READ && h.length != e->op->size))
        return snprintf(why, n, "an answer of %llu bytes to a request that expects %s %llu",
                        (unsigned long long)h.length, ok && e->kind == WS_READ ? "exactly" : "at most",
                        (unsigned long long)max),
               -1;
    st->status = h.status;
    st->left = h.length;
    st->in_payload = 1;
    return 0;
}

/* A job's answer is whole. 0, or -1 when the stream must go down (the worker is being replaced). */
static int st_job_answer(lc_dp *dp, uint32_t wi, lepton_task *t, uint16_t status) {
    lc_worker *w = &dp->workers[wi];
    int64_t now = lp_mono_ns();
    if (status >= 200 && status < 300) {
        atomic_store(&w->up, 1);
        if (t->bad_answer) {
            job_fail(dp, t, 0, LEPTON_EPROTO, "%s", t->bad_text);
            return 0;
        }
        t->no_stream = 1; /* should the result ask for the job again, it goes over HTTP */
        job_result(dp, t, 0);
        return 0;
    }
    char text[512];
    int starting = 0;
    int st =
        lc_dp_error_text(status, t->result.p ? t->result.p : "", t->result.len, text, sizeof text, &starting);
    lc_dp_note_answer(w, starting);
    if (status != 503) {
        job_fail(dp, t, 0, st, "%s", text);
        return 0;
    }
    /* Any 503 on the stream: the job goes over HTTP, where the retry rules apply. */
    if (starting == LC_RETRY_QUEUE_FULL) w->queue_full_ns = now;
    int64_t busy_until = w->progress_ns + (int64_t)dp->timeout_ms * 1000000;
    if (starting == LC_RETRY_QUEUE_FULL && w->progress_ns && busy_until > t->deadline_ns)
        t->deadline_ns = busy_until;
    t->no_stream = 1;
    if (now < t->deadline_ns) {
        if (job_requeue(dp, t, 0))
            job_fail(dp, t, 0, LEPTON_EEXPIRED,
                     "the lease was closed while the job was waiting to be sent again");
    } else {
        job_fail(dp, t, 0, st, "%s", text);
    }
    return starting == LC_RETRY_RESTARTING ? -1 : 0;
}

/* A buffer call's answer is whole. 0, or -1 when the stream must go down. */
static int st_op_answer(lc_dp *dp, uint32_t wi, lc_sop *op, uint16_t status) {
    lc_xfer *x = op->x;
    x->http = status;
    x->cc = CURLE_OK;
    x->sink_got = op->kind == WS_READ && status >= 200 && status < 300 ? op->got : 0;
    int starting = 0;
    if (status >= 200 && status < 300) {
        atomic_store(&dp->workers[wi].up, 1);
    } else {
        char text[8];
        lc_dp_error_text(status, x->answer.p ? x->answer.p : "", x->answer.len, text, sizeof text, &starting);
        lc_dp_note_answer(&dp->workers[wi], starting);
    }
    sop_done(dp, op, status == 503); /* 503: over HTTP, with its retry rules */
    return starting == LC_RETRY_RESTARTING ? -1 : 0;
}

/* Reads what has arrived on worker wi's stream and completes the answers that are whole.
 * Returns how many, or -1 when the stream broke (why; the caller takes it down). */
static int st_pump(lc_dp *dp, uint32_t wi, char *why, size_t n) {
    lc_wstream *st = &dp->workers[wi].st;
    int done = 0;
    for (;;) {
        if (!st->in_payload) {
            if (!st->head && st->rpos == st->rlen) return done;
            if (st->rpos == st->rlen) {
                ssize_t k = lc_stream_recv(st->conn, st->rbuf, ST_RBUF);
                if (k < 0) return snprintf(why, n, "the worker closed the stream"), -1;
                if (k == 0) return done;
                st->rx_ns = lp_mono_ns();
                st->rpos = 0;
                st->rlen = (size_t)k;
            }
            size_t k = WS_HEADER - st->hdr_got;
            if (k > st->rlen - st->rpos) k = st->rlen - st->rpos;
            memcpy(st->hdr + st->hdr_got, st->rbuf + st->rpos, k);
            st->hdr_got += k;
            st->rpos += k;
            if (st->hdr_got < WS_HEADER) continue;
            st->hdr_got = 0;
            if (st->head == st->sending)
                return snprintf(why, n, "the worker answered a request before it was sent whole"), -1;
            if (st_begin(st, why, n)) return -1;
        } else if (st->left) {
            if (st->rpos < st->rlen) {
                size_t k = st->rlen - st->rpos < st->left ? st->rlen - st->rpos : (size_t)st->left;
                st_feed(st, (const char *)st->rbuf + st->rpos, k);
                st->rpos += k;
                st->left -= k;
            } else {
                size_t room = 0;
                char *d = st_direct(st, &room);
                if (room > st->left) room = (size_t)st->left;
                ssize_t k;
                if (d && room >= ST_DIRECT) {
                    if ((k = lc_stream_recv(st->conn, d, room)) > 0) st_direct_done(st, (size_t)k);
                    if (k > 0) st->left -= (uint64_t)k;
                } else if ((k = lc_stream_recv(st->conn, st->rbuf, ST_RBUF)) > 0) {
                    st->rpos = 0;
                    st->rlen = (size_t)k;
                }
                if (k < 0) return snprintf(why, n, "the worker closed the stream mid-answer"), -1;
                if (k == 0) return done;
                st->rx_ns = lp_mono_ns();
            }
        }
        if (st->in_payload && !st->left) {
            lc_sent *e = st->head;
            st->head = e->next;
            if (!st->head) st->tail = NULL;
            e->next = NULL;
            st->in_payload = 0;
            st->inflight -= e->bytes;
            done++;
            int rc = e->task ? st_job_answer(dp, wi, e->task, st->status)
                             : st_op_answer(dp, wi, e->op, st->status);
            if (rc) return snprintf(why, n, "the worker is being replaced"), -1;
            if (st->head && st->head->task && dp->workers[wi].in_flight == 0) mark_running(st->head->task);
        }
    }
}

/* Reads every stream that awaits answers; returns the answers completed. A buffer call that has
 * had no answer byte for the client's timeout takes its stream down (it goes over HTTP, whose
 * deadlines apply); a job may run long, as over HTTP. */
static int st_pump_all(lc_dp *dp) {
    int done = 0;
    for (uint32_t i = 0; i < dp->nworkers; i++) {
        lc_wstream *st = &dp->workers[i].st;
        if (!st->conn) continue;
        char why[160];
        int k = st_pump(dp, i, why, sizeof why);
        if (k < 0) {
            st_down(dp, i, why, 0);
        } else {
            done += k;
            if (st->head && st->head->op && lp_mono_ns() - st->rx_ns > (int64_t)dp->timeout_ms * 1000000) {
                snprintf(why, sizeof why, "no answer to a buffer %s for %d ms",
                         st->head->kind == WS_READ ? "read" : "write", (int)dp->timeout_ms);
                st_down(dp, i, why, 0);
            }
        }
    }
    return done;
}

typedef struct st_pump_ctx {
    lc_dp *dp;
    uint32_t wi;
    char why[160];
} st_pump_ctx;

/* lc_stream_send's pump: answers are read while a large frame waits for room. */
static int st_pump_cb(void *user) {
    st_pump_ctx *c = user;
    return st_pump(c->dp, c->wi, c->why, sizeof c->why) < 0;
}

/* Writes a request's frame (e pushed first: its answer may come while the frame is written).
 * 0, or -1 with the stream taken down. */
/* Writes frames already recorded as awaiting answers (e: the last of them) on worker wi's stream;
 * answers that arrive meanwhile are read. 0, or -1 with the stream taken down. */
static int st_write(lc_dp *dp, uint32_t wi, lc_sent *e, struct iovec *iov, int niov) {
    lc_wstream *st = &dp->workers[wi].st;
    st->sending = e;
    st_pump_ctx ctx = {dp, wi, ""};
    int rc = lc_stream_send(st->conn, iov, niov, st_pump_cb, &ctx, (int64_t)dp->timeout_ms * 1000000);
    st->sending = NULL;
    if (rc) st_down(dp, wi, ctx.why[0] ? ctx.why : "a frame could not be written", 0);
    return rc;
}

/* Sends one frame (e) and records it as awaiting its answer. */
static int st_send(lc_dp *dp, uint32_t wi, lc_sent *e, struct iovec *iov, int niov) {
    st_push(&dp->workers[wi].st, e);
    return st_write(dp, wi, e, iov, niov);
}

/* Makes a job's WS_JOB frame (header + seq; its body follows from the head and the caller's
 * memory), fills iov[0 .. 2 + nwrite) and records it as awaiting its answer. */
static void st_frame_job(lc_dp *dp, lepton_task *t, struct iovec *iov) {
    lc_wstream *st = &dp->workers[t->worker].st;
    answer_reset(t, 2);
    t->sent_ns = lp_mono_ns();
    t->sent = (lc_sent){NULL, WS_JOB, ++st->next_tag, sizeof t->frame + t->body_len, t, NULL};
    ws_header h = {WS_JOB, 0, 0, t->sent.tag, 8 + t->body_len};
    ws_pack(t->frame, &h);
    ws_put_u64(t->frame + WS_HEADER, t->seq);
    iov[0] = (struct iovec){t->frame, sizeof t->frame};
    iov[1] = (struct iovec){t->head, t->head_len};
    for (uint32_t i = 0; i < t->nwrite; i++)
        iov[2 + i] = (struct iovec){t->segs[i].host, t->segs[i].size};
    if (!st->head && dp->workers[t->worker].in_flight == 0) mark_running(t);
    st_push(st, &t->sent);
}

/* Frames that go out in one write: jobs of one worker with few WRITE steps (a gather list each). */
#define ST_GATHER_JOBS 32
#define ST_GATHER_IOV 64

/* Sends the jobs of *list that are for the first one's worker and fit one gather list (at least
 * the first; a job with many WRITE steps goes alone) with one write; *list advances past them.
 * Every frame awaits its answer from the write on (st_down sends them over HTTP if it fails). */
static void st_send_jobs(lc_dp *dp, lepton_task **list) {
    lepton_task *t = *list;
    uint32_t wi = t->worker;
    lc_wstream *st = &dp->workers[wi].st;
    struct iovec stack[ST_GATHER_IOV], *iov = stack;
    int niov = 0, njobs = 0;
    if (2 + (int)t->nwrite > ST_GATHER_IOV) {
        *list = t->next;
        t->next = NULL;
        if (!(iov = malloc((2 + (size_t)t->nwrite) * sizeof *iov))) {
            st->inflight -= sizeof t->frame + t->body_len;
            t->no_stream = 1;
            if (job_requeue(dp, t, 0)) job_fail(dp, t, 0, LEPTON_ENOMEM, "out of memory");
            return;
        }
        st_frame_job(dp, t, iov);
        st_write(dp, wi, &t->sent, iov, 2 + (int)t->nwrite);
        free(iov);
        return;
    }
    lc_sent *last = NULL;
    while ((t = *list) && t->worker == wi && njobs < ST_GATHER_JOBS &&
           niov + 2 + (int)t->nwrite <= ST_GATHER_IOV) {
        *list = t->next;
        t->next = NULL;
        st_frame_job(dp, t, iov + niov);
        niov += 2 + (int)t->nwrite;
        njobs++;
        last = &t->sent;
    }
    st_write(dp, wi, last, iov, niov);
}

static void st_send_op(lc_dp *dp, lc_sop *op) {
    lc_wstream *st = &dp->workers[op->worker].st;
    int rd = op->kind == WS_READ;
    op->sent = (lc_sent){NULL, (uint8_t)op->kind, ++st->next_tag, rd ? 0 : op->size, NULL, op};
    st->inflight += op->sent.bytes;
    ws_header h = {(uint8_t)op->kind, 0, 0, op->sent.tag, rd ? 24 : 16 + (uint64_t)op->size};
    ws_pack(op->fixed, &h);
    ws_put_u64(op->fixed + WS_HEADER, op->buffer);
    ws_put_u64(op->fixed + WS_HEADER + 8, op->offset);
    ws_put_u64(op->fixed + WS_HEADER + 16, op->size);
    struct iovec iov[2] = {{op->fixed, WS_HEADER + (rd ? 24 : 16)}, {op->p, rd ? 0 : op->size}};
    st_send(dp, op->worker, &op->sent, iov, 2);
}

/* Opens the streams that have work waiting and may be tried (role held, no lock). */
static void st_open_wanted(lc_dp *dp) {
    for (uint32_t from = 0;;) {
        uint32_t open = UINT32_MAX;
        int64_t now = lp_mono_ns();
        pthread_mutex_lock(&dp->lock);
        for (uint32_t i = from; i < dp->nworkers && !dp->stopping; i++) {
            lc_worker *w = &dp->workers[i];
            if (w->st.conn || now < w->st.retry_ns) continue;
            if (w->st.ops || (w->head && !w->head->no_stream && w->retry_at_ns <= now)) {
                open = i;
                break;
            }
        }
        pthread_mutex_unlock(&dp->lock);
        if (open == UINT32_MAX) return;
        st_open(dp, open);
        from = open + 1;
    }
}

/* Closes every stream at the lease's close (the role is LC_ROLE_CLOSE): requests awaiting answers
 * end like the lease's other jobs on the wire; buffer calls go over HTTP (or fail there). */
static void st_close_all(lc_dp *dp) {
    for (uint32_t i = 0; i < dp->nworkers; i++) {
        lc_wstream *st = &dp->workers[i].st;
        pthread_mutex_lock(&dp->lock);
        lc_sop *ops = st->ops;
        st->ops = st->ops_tail = NULL;
        pthread_mutex_unlock(&dp->lock);
        for (lc_sop *op = ops, *next; op; op = next) {
            next = op->next;
            sop_done(dp, op, 1);
        }
        if (st->conn) st_down(dp, i, "the lease is closing", 0);
    }
}

int lc_stream_xfer(lc_dp *dp, lc_xfer *x, int kind, uint64_t buffer, uint64_t offset, void *p, size_t size) {
    if (dp->stream_off) return 0;
    lc_worker *w = &dp->workers[x->worker];
    lc_sop op = {
        .worker = x->worker, .kind = kind, .buffer = buffer, .offset = offset, .p = p, .size = size, .x = x};
    pthread_mutex_lock(&dp->lock);
    if (dp->stopping || (!dp->io_started && io_start(dp)) || (!w->st.conn && lp_mono_ns() < w->st.retry_ns)) {
        pthread_mutex_unlock(&dp->lock);
        return 0;
    }
    pthread_mutex_init(&op.mu, NULL);
    lc_cond_init_mono(&op.cv);
    if (w->st.ops_tail)
        w->st.ops_tail->next = &op;
    else
        w->st.ops = &op;
    w->st.ops_tail = &op;
    dp->pending++;
    int drive = dp->driver == LC_ROLE_NONE;
    if (drive) dp->driver = LC_ROLE_CALLER;
    pthread_mutex_unlock(&dp->lock);
    if (!drive) dp_wake(dp);
    /* Like lepton_wait: drive while the role is ours, else sleep until the op is done. */
    for (;;) {
        pthread_mutex_lock(&op.mu);
        int done = op.done;
        if (!done && !drive) {
            struct timespec until = lc_timespec(lp_mono_ns() + LC_DP_GRACE_NS);
            atomic_fetch_add(&dp->sleepers, 1);
            pthread_cond_timedwait(&op.cv, &op.mu, &until);
            atomic_fetch_sub(&dp->sleepers, 1);
            done = op.done;
        }
        pthread_mutex_unlock(&op.mu);
        if (done) break;
        if (drive) {
            drive_once(dp, 1000);
            pthread_mutex_lock(&dp->lock);
            if (dp->stopping) { /* the close takes the role and ends the op */
                role_release_locked(dp);
                drive = 0;
            }
            pthread_mutex_unlock(&dp->lock);
            continue;
        }
        pthread_mutex_lock(&dp->lock);
        if (dp->driver == LC_ROLE_NONE && !dp->stopping) {
            dp->driver = LC_ROLE_CALLER;
            drive = 1;
        }
        pthread_mutex_unlock(&dp->lock);
    }
    if (drive) {
        pthread_mutex_lock(&dp->lock);
        role_release_locked(dp);
        pthread_mutex_unlock(&dp->lock);
    }
    pthread_mutex_destroy(&op.mu);
    pthread_cond_destroy(&op.cv);
    return !op.fallback;
}

/* A job small enough to travel in a batch. */
static int batchable(const lepton_task *t) {
    return t->body_len <= LC_DP_BATCH_JOB && t->read_total <= LC_DP_BATCH_JOB;
}

/* One round of the job transport, by the holder of the driver role: sends the queued jobs that
 * may go, moves data, completes finished jobs, and when none finished waits up to poll_ms for
 * the sockets (or a wake-up). */
static void drive_once(lc_dp *dp, long poll_ms) {
    lepton_task *start[START_BATCH];
    size_t nstart = 0;
    /* Stream work of this round: jobs (linked by next) and buffer calls, in order. */
    lepton_task *sjobs = NULL, **sjobs_tail = &sjobs;
    lc_sop *sops = NULL, **sops_tail = &sops, *fallback = NULL;
    if (!dp->stream_off) st_open_wanted(dp);
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
        sop_done(dp, op, 1);
    }
    while (sops) {
        lc_sop *op = sops;
        sops = op->next;
        op->next = NULL;
        if (dp->workers[op->worker].st.conn)
            st_send_op(dp, op);
        else
            sop_done(dp, op, 1);
    }
    while (sjobs) {
        lepton_task *t = sjobs;
        if (dp->workers[t->worker].st.conn) {
            st_send_jobs(dp, &sjobs); /* it and the jobs behind it for the same worker, one write */
            continue;
        }
        sjobs = t->next;
        t->next = NULL;
        if (job_requeue(dp, t, 0)) /* the stream went down meanwhile: HTTP, next round */
            job_fail(dp, t, 0, LEPTON_EEXPIRED, "the lease was closed before the job was sent");
    }
    for (size_t i = 0; i < nstart; i++)
        job_start(dp, start[i]);
    /* curl is asked only while it has transfers: a lease on streams alone skips it. */
    if ((dp->active ? reap(dp) : 0) + st_pump_all(dp) || nstart == START_BATCH || poll_ms <= 0) return;
    /* Wait for the transfers' sockets, the streams awaiting answers, or a wake-up (dp_wake). */
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
        reap(dp);
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
    st_pump_all(dp);
}

/* Wakes the driver role's holder from its wait (thread-safe; the lease's I/O thread runs). */
static void dp_wake(lc_dp *dp) {
    char c = 1;
    ssize_t n = write(dp->wake[1], &c, 1); /* a full pipe has a wake-up pending already */
    (void)n;
}

/* Gives the driver role back (dp->lock held). With jobs still pending: when some thread sleeps
 * waiting for a task, the I/O thread takes over at once; else the role stays free for a grace
 * period, so that a thread that submits or waits next drives itself (no hand-over between
 * threads), and the I/O thread takes over only if nobody does. */
static void role_release_locked(lc_dp *dp) {
    dp->driver = LC_ROLE_NONE;
    pthread_cond_broadcast(&dp->role_cv);
    if (dp->pending == 0 || !dp->io_started) return;
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
        if (!dp->undriven_since) dp->undriven_since = now;
        int64_t take_at = dp->undriven_since + LC_DP_GRACE_NS;
        if (dp->corked_since && dp->corked_since + LC_DP_CORK_NS < take_at)
            take_at = dp->corked_since + LC_DP_CORK_NS;
        if (!dp->handoff && now < take_at) {
            struct timespec until = lc_timespec(take_at);
            pthread_cond_timedwait(&dp->io_cv, &dp->lock, &until);
            continue;
        }
        dp->handoff = 0;
        dp->undriven_since = 0;
        dp->driver = LC_ROLE_IO;
        while (!dp->stopping && dp->pending > 0) {
            pthread_mutex_unlock(&dp->lock);
            drive_once(dp, 1000);
            pthread_mutex_lock(&dp->lock);
        }
        role_release_locked(dp);
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
        job_fail(dp, t, 0, LEPTON_ECANCELED, "canceled: the lease was closed before the job was sent");
    }
    if (!started) return;
    /* Take the role from whoever drives (they see `stopping` at their next round), then end
     * the I/O thread and the jobs on the wire. */
    pthread_mutex_lock(&dp->lock);
    pthread_cond_broadcast(&dp->io_cv);
    while (dp->driver != LC_ROLE_NONE) {
        dp_wake(dp);
        struct timespec until = lc_timespec(lp_mono_ns() + 10 * 1000000);
        pthread_cond_timedwait(&dp->role_cv, &dp->lock, &until);
    }
    dp->driver = LC_ROLE_CLOSE;
    pthread_mutex_unlock(&dp->lock);
    pthread_join(dp->io, NULL);
    dp->io_started = 0;
    st_close_all(dp);
    while (dp->active) {
        lepton_task *t = dp->active;
        job_detach(dp, t);
        request_finish(
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
static int io_start(lc_dp *dp) {
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

/* ---- the public functions ---- */

int lc_job_target(const char *fn, const lepton_lease *l, uint32_t gpu) {
    const lc_dp *dp = l->dp;
    /* Not lc_dp_usable: on a lease known to have ended the task is still made, failed at once
     * (lc_job_enqueue), so that lepton_wait reports the end like for any job the end overtakes. */
    if (!dp || dp->fn_none)
        return lc_fail(LEPTON_EPROTO, "%s: %s", fn, dp ? dp->fn_none : "the lease has no data plane");
    if (gpu >= dp->nworkers)
        return lc_fail(LEPTON_EINVAL, "%s: job->gpu %u is not a GPU of the lease (it has %u: 0 to %u)", fn,
                       gpu, dp->nworkers, dp->nworkers - 1);
    return LEPTON_OK;
}

/* The host segments of a public job: its WRITE and READ steps' host memory. */
static void job_segs(lc_seg *segs, const void *ctx) {
    const lepton_job *j = ctx;
    uint32_t nwrite = 0;
    for (size_t i = 0; i < j->step_count; i++)
        nwrite += j->steps[i].kind == LEPTON_STEP_WRITE;
    for (size_t i = 0, w = 0, r = nwrite; i < j->step_count; i++) {
        const lepton_step *s = &j->steps[i];
        if (s->kind == LEPTON_STEP_WRITE) segs[w++] = (lc_seg){(char *)s->host, s->size};
        if (s->kind == LEPTON_STEP_READ) segs[r++] = (lc_seg){(char *)s->host, s->size};
    }
}

int lepton_submit(lepton_lease *l, const lepton_job *job, lepton_task **out) {
    static const char fn[] = "lepton_submit";
    if (out) *out = NULL;
    if (!l) return lc_fail(LEPTON_EINVAL, "%s: l is NULL", fn);
    if (!job) return lc_fail(LEPTON_EINVAL, "%s: job is NULL", fn);
    if (!out) return lc_fail(LEPTON_EINVAL, "%s: out is NULL", fn);
    if (job->version == 0 || job->version > JOB_VERSION_MAX)
        return lc_fail(
            LEPTON_EINVAL,
            "%s: job->version %u is not supported (this library knows versions 1 to %zu); initialise "
            "the struct with LEPTON_JOB_INIT",
            fn, job->version, (size_t)JOB_VERSION_MAX);
    lepton_job j = LEPTON_JOB_INIT;
    memcpy(&j, job, job_size[job->version]);
    int rc = lc_job_target(fn, l, j.gpu);
    if (rc) return rc;
    if (j.step_count == 0) return lc_fail(LEPTON_EINVAL, "%s: job->step_count is 0", fn);
    if (!j.steps) return lc_fail(LEPTON_EINVAL, "%s: job->steps is NULL", fn);
    if (j.step_count > WIRE_JOB_MAX_STEPS)
        return lc_fail(LEPTON_ETOOLARGE,
                       "%s: job->step_count %zu: the job has more than %d steps "
                       "(WIRE_JOB_MAX_STEPS); split it into several jobs",
                       fn, j.step_count, WIRE_JOB_MAX_STEPS);

    /* Validate and encode in one pass; nothing is sent unless every step is right. The codec
     * refuses what the worker would (wire_job.h's limits), with the worker's words. */
    wire_job_enc d;
    wire_job_enc_init(&d);
    for (size_t i = 0; i < j.step_count && !rc; i++) {
        const lepton_step *s = &j.steps[i];
        if (s->kind == LEPTON_STEP_WRITE || s->kind == LEPTON_STEP_READ) {
            int w = s->kind == LEPTON_STEP_WRITE;
            if ((rc = check_buffer(fn, l, j.gpu, i, "buffer", s->buffer))) break;
            if (!s->host && s->size) {
                rc = lc_fail(LEPTON_EINVAL, "%s: step %zu: host is NULL", fn, i);
                break;
            }
            if (s->offset > s->buffer->size || s->size > s->buffer->size - s->offset) {
                rc = lc_fail(LEPTON_EINVAL,
                             "%s: step %zu: offset %" PRIu64 " + size %zu is past the end of buffer %" PRIu64
                             " (%" PRIu64 " bytes)",
                             fn, i, s->offset, s->size, s->buffer->id, s->buffer->size);
                break;
            }
            int erc = wire_job_enc_rw(&d, w, s->buffer->id, s->offset, s->size);
            if (erc) {
                rc = enc_fail(fn, erc, &d);
                break;
            }
        } else if (s->kind == LEPTON_STEP_LAUNCH) {
            rc = encode_launch(fn, l, j.gpu, i, s->launch, &d);
        } else {
            rc =
                lc_fail(LEPTON_EINVAL,
                        "%s: step %zu has kind %u (LEPTON_STEP_WRITE, LEPTON_STEP_READ or LEPTON_STEP_LAUNCH "
                        "expected)",
                        fn, i, s->kind);
        }
    }
    if (!rc) {
        int erc = wire_job_enc_finish(&d);
        if (erc) rc = enc_fail(fn, erc, &d);
    }
    if (rc) {
        wire_job_enc_free(&d);
        return rc;
    }
    return lc_job_enqueue(fn, l, j.gpu, &d, job_segs, &j, 0, out);
}

int lc_job_enqueue(const char *fn, lepton_lease *l, uint32_t gpu, wire_job_enc *d, lc_seg_fill fill,
                   const void *ctx, int raw, lepton_task **out) {
    lc_dp *dp = l->dp;
    uint64_t write_total = d->write_total, read_total = d->read_total;
    size_t seq_at = d->seq_at;
    uint32_t nwrite = d->nwrite, nread = d->nread;

    /* One allocation: the task, a raw job's event readings, its host segments and its request head. */
    size_t nseg = (size_t)nwrite + nread, nev = raw ? WIRE_JOB_MAX_EVENTS : 0;
    lepton_task *t = calloc(1, sizeof *t + nev * sizeof(int64_t) + nseg * sizeof(lc_seg) + 4 + d->len);
    if (!t) {
        wire_job_enc_free(d);
        return lc_fail(LEPTON_ENOMEM, "%s: out of memory", fn);
    }
    atomic_init(&t->refs, 2);
    pthread_mutex_init(&t->mu, NULL);
    lc_cond_init_mono(&t->cv);
    t->state = LEPTON_TASK_QUEUED;
    t->timeout_ms = dp->timeout_ms;
    t->dp = dp;
    t->worker = gpu;
    t->raw = raw;
    t->step = -1;
    t->events = nev ? (int64_t *)(t + 1) : NULL;
    t->segs = (lc_seg *)((int64_t *)(t + 1) + nev);
    t->head = (char *)(t->segs + nseg);
    t->head_len = 4 + d->len;
    t->head[0] = (char)(d->len & 0xff);
    t->head[1] = (char)((d->len >> 8) & 0xff);
    t->head[2] = (char)((d->len >> 16) & 0xff);
    t->head[3] = (char)((d->len >> 24) & 0xff);
    memcpy(t->head + 4, d->p, d->len);
    wire_job_enc_free(d);
    t->nwrite = nwrite;
    t->nread = nread;
    t->body_len = t->head_len + write_total;
    t->read_total = read_total;
    fill(t->segs, ctx);
    t->deadline_ns = lp_mono_ns() + (int64_t)dp->timeout_ms * 1000000;

    pthread_mutex_lock(&dp->lock);
    if (dp->ended && !dp->stopping) { /* the broker said it ended: nothing is sent */
        char msg[320];
        snprintf(msg, sizeof msg, "lease %s has ended (%s); the job was not sent", dp->lease->id,
                 dp->ended_why);
        int status = dp->ended_status;
        pthread_mutex_unlock(&dp->lock);
        task_complete(t, LEPTON_TASK_FAILED, status, msg, NULL);
        *out = t;
        return LEPTON_OK;
    }
    if (dp->stopping || (!dp->io_started && io_start(dp))) {
        int closing = dp->stopping;
        pthread_mutex_unlock(&dp->lock);
        task_unref(t); /* the queue's reference, never taken; two were made (refs = 2): this frees it */
        task_unref(t); // NOLINT(clang-analyzer-unix.Malloc)
        return closing ? lc_fail(LEPTON_EEXPIRED, "%s: the lease is being closed", fn)
                       : lc_fail(LEPTON_ENOMEM, "%s: cannot start the lease's I/O thread", fn);
    }
    /* The seq is taken and the job queued under one lock, so seqs follow the order in which
     * the submits return. */
    lc_worker *w = &dp->workers[gpu];
    t->seq = ++w->next_seq;
    wire_job_enc_seq(t->head + 4, seq_at, t->seq);
    if (w->tail)
        w->tail->next = t;
    else
        w->head = t;
    w->tail = t;
    dp->pending++;
    /* The fast path: nobody drives the transport, so this thread sends the job itself now (a
     * waiter will read the answer itself too); else the driver is woken to pick it up. */
    int drive = dp->driver == LC_ROLE_NONE, corked = 0;
    /* Behind answers awaited on the same stream the job could not start before they are in anyway:
     * it waits for the next drive (a wait, or the I/O thread) and shares that write with the jobs
     * submitted meanwhile (the role's last holder released it under this lock: st is stable). */
    if (drive && dp->cork && w->st.conn && w->st.head && !t->no_stream && t->nwrite == 0) corked = 1;
    if (corked && !dp->corked_since) {
        /* nobody drives: the next wait sends it, or the I/O thread LC_DP_CORK_NS after the first
         * job corked since the last drive (told so now: its wait may be the 1 ms grace) */
        dp->corked_since = lp_mono_ns();
        pthread_cond_signal(&dp->io_cv);
    }
    if (drive && !corked) dp->driver = LC_ROLE_CALLER;
    pthread_mutex_unlock(&dp->lock);
    if (corked) {
        /* sent by the next drive (above) */
    } else if (drive) {
        drive_once(dp, 0);
        pthread_mutex_lock(&dp->lock);
        role_release_locked(dp);
        pthread_mutex_unlock(&dp->lock);
    } else {
        dp_wake(dp);
    }
    *out = t;
    return LEPTON_OK;
}

int lepton_wait(lepton_task *t, int32_t timeout_ms) {
    static const char fn[] = "lepton_wait";
    if (!t) return lc_fail(LEPTON_EINVAL, "%s: t is NULL", fn);
    pthread_mutex_lock(&t->mu);
    if (timeout_ms < 0) timeout_ms = t->timeout_ms;
    int64_t deadline = lp_mono_ns() + (int64_t)timeout_ms * 1000000;
    for (int round = 0; !finished(t->state); round++) {
        int64_t left_ns = deadline - lp_mono_ns();
        if (round > 0 && left_ns <= 0) break;
        /* While the task is unfinished its lease's data plane exists (a close completes every
         * task before freeing it, and completing takes t->mu): take the role if it is free. */
        lc_dp *dp = t->dp;
        pthread_mutex_lock(&dp->lock);
        int drive = dp->driver == LC_ROLE_NONE && !dp->stopping && dp->multi;
        if (drive) dp->driver = LC_ROLE_CALLER;
        pthread_mutex_unlock(&dp->lock);
        if (drive) {
            /* Drive the transport on this thread until the task ends or the time is up: the
             * answer is read here, with no hand-over between threads. */
            pthread_mutex_unlock(&t->mu);
            for (;;) {
                left_ns = deadline - lp_mono_ns();
                long poll_ms = left_ns <= 0 ? 0 : (long)((left_ns + 999999) / 1000000);
                drive_once(dp, poll_ms > 1000 ? 1000 : poll_ms);
                pthread_mutex_lock(&t->mu);
                int fin = finished(t->state);
                pthread_mutex_unlock(&t->mu);
                if (fin || deadline - lp_mono_ns() <= 0) break;
                pthread_mutex_lock(&dp->lock);
                int stop = dp->stopping;
                pthread_mutex_unlock(&dp->lock);
                if (stop) break;
            }
            pthread_mutex_lock(&dp->lock);
            role_release_locked(dp);
            pthread_mutex_unlock(&dp->lock);
            pthread_mutex_lock(&t->mu);
            continue;
        }
        /* Another thread drives: it signals the task's end. Look again at the role now and
         * then, in case that thread is done driving before this task is. */
        if (left_ns <= 0) break;
        int64_t step = left_ns < LC_DP_GRACE_NS ? left_ns : LC_DP_GRACE_NS;
        struct timespec until = lc_timespec(lp_mono_ns() + step);
        /* Counted as a sleeper so that a driver leaving hands over at once; the lease's close
         * waits for sleepers to leave before freeing dp. */
        atomic_fetch_add(&dp->sleepers, 1);
        pthread_cond_timedwait(&t->cv, &t->mu, &until);
        atomic_fetch_sub(&dp->sleepers, 1);
    }
    int32_t state = t->state, status = t->status;
    char error[sizeof t->error];
    memcpy(error, t->error, sizeof error);
    pthread_mutex_unlock(&t->mu);
    if (!finished(state))
        return lc_fail(LEPTON_ETIMEDOUT, "%s: the task is still queued or running after %d ms", fn,
                       (int)timeout_ms);
    if (status != LEPTON_OK) return lc_fail(status, "%s", error);
    return LEPTON_OK;
}

int lepton_task_get_info(lepton_task *t, lepton_task_info *out) {
    static const char fn[] = "lepton_task_get_info";
    if (!t) return lc_fail(LEPTON_EINVAL, "%s: t is NULL", fn);
    if (!out) return lc_fail(LEPTON_EINVAL, "%s: out is NULL", fn);
    if (out->version == 0 || out->version > INFO_VERSION_MAX)
        return lc_fail(
            LEPTON_EINVAL,
            "%s: out->version %u is not supported (this library knows versions 1 to %zu); initialise "
            "the struct with LEPTON_TASK_INFO_INIT",
            fn, out->version, (size_t)INFO_VERSION_MAX);
    lepton_task_info info = LEPTON_TASK_INFO_INIT;
    pthread_mutex_lock(&t->mu);
    info.state = t->state;
    info.status = t->status;
    info.queued_ns = t->queued_ns;
    info.started_ns = t->started_ns;
    info.ended_ns = t->ended_ns;
    memcpy(info.error, t->error, sizeof info.error);
    pthread_mutex_unlock(&t->mu);
    /* Write only the fields the caller's version of the struct has. */
    size_t from = offsetof(lepton_task_info, state);
    memcpy((char *)out + from, (const char *)&info + from, info_size[out->version] - from);
    return LEPTON_OK;
}

void lepton_task_free(lepton_task *t) {
    if (t) task_unref(t);
}
