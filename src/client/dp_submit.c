/* dp_submit.c — lepton_submit and lc_job_enqueue: a job validated against its lease, buffers and
 * kernels and encoded (docs/dataplane.md: u32 LE length + JSON descriptor + the WRITE bytes; the
 * codec is wire_job.h's), made a task, numbered per GPU in the order the submits return and queued;
 * the submitting thread sends it itself when the driver role is free (or corks it behind answers
 * awaited on its stream), else wakes the role's holder.
 *
 * The job transport's design (ownership, thread safety, lock order, the driver role) is in
 * dp_drive.c's first comment. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dataplane.h"
#include "dp_jobs_internal.h"
#include "errors.h"
#include "lease.h"
#include "wire_job.h"

/* Sizes of each known version of lepton_job (index = version). */
static const size_t job_size[] = {0, sizeof(lepton_job)};
#define JOB_VERSION_MAX (sizeof job_size / sizeof job_size[0] - 1)

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
    wire_put_le32(t->head, (uint32_t)d->len);
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
        lc_task_complete(t, LEPTON_TASK_FAILED, status, msg, NULL);
        *out = t;
        return LEPTON_OK;
    }
    if (dp->stopping || (!dp->io_started && lc_io_start(dp))) {
        int closing = dp->stopping;
        pthread_mutex_unlock(&dp->lock);
        lc_task_unref(t); /* the queue's reference, never taken; two were made (refs = 2): this frees it */
        lc_task_unref(t); // NOLINT(clang-analyzer-unix.Malloc)
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
        /* nobody drives: the next wait sends it, or the I/O thread dp->cork_ns after the first
         * job corked since the last drive (told so now: its wait may be the 1 ms grace) */
        dp->corked_since = lp_mono_ns();
        pthread_cond_signal(&dp->io_cv);
    }
    if (drive && !corked) dp->driver = LC_ROLE_CALLER;
    pthread_mutex_unlock(&dp->lock);
    if (corked) {
        /* sent by the next drive (above) */
    } else if (drive) {
        lc_drive_once(dp, 0);
        pthread_mutex_lock(&dp->lock);
        lc_role_release_locked(dp);
        pthread_mutex_unlock(&dp->lock);
    } else {
        lc_dp_wake(dp);
    }
    *out = t;
    return LEPTON_OK;
}
