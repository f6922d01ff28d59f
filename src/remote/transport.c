/* transport.c — the queue's real transport: encodes a batch of queued steps as one job on the wire
 * codec and submits it to the device's GPU with lc_raw_submit; waits with lepton_wait and turns
 * the task's outcome into a CUresult (the driver's error name at the start of a CUDA failure's
 * text; a lost lease or worker as "lost"), after printing what the job's kernels printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lepton/lepton.h"
#include "wire_job.h"
#include "remote.h"

typedef struct rm_ticket {
    lepton_task *task;
    lc_raw_seg *segs; /* the WRITE then the READ segments (kept until the task is released) */
} rm_ticket;

static void fill_failure(int st, const char *text, rq_result *r) {
    snprintf(r->msg, sizeof r->msg, "%s: %s", lepton_status_name(st),
             text && text[0] ? text : "(no message)");
    switch (st) {
    case LEPTON_ECUDA:
        r->status = rm_error_from_text(text, CUDA_ERROR_LAUNCH_FAILED);
        break;
    case LEPTON_EINVAL:
    case LEPTON_ETOOLARGE:
    case LEPTON_ENOTFOUND:
        r->status = rm_error_from_text(text, CUDA_ERROR_INVALID_VALUE);
        break;
    case LEPTON_ENOMEM:
        r->status = CUDA_ERROR_OUT_OF_MEMORY;
        break;
    case LEPTON_ENODELOST:
    case LEPTON_EEXPIRED:
    case LEPTON_ENET:
    case LEPTON_ECANCELED:
        r->status = CUDA_ERROR_LAUNCH_FAILED;
        r->lost = 1;
        break;
    default:
        r->status = rm_error_from_text(text, CUDA_ERROR_UNKNOWN);
        break;
    }
}

static int encode(wire_job_enc *e, const rq_step *s) {
    switch (s->kind) {
    case RQ_WRITE:
        return wire_job_enc_rw(e, 1, s->buffer, s->offset, s->size);
    case RQ_READ:
        return wire_job_enc_rw(e, 0, s->buffer, s->offset, s->size);
    case RQ_MEMSET:
        return wire_job_enc_memset(e, s->buffer, s->offset, s->width, s->value, s->count, s->pitch,
                                   s->height);
    case RQ_COPY:
        return wire_job_enc_copy(e, s->buffer, s->offset, s->src_buffer, s->src_offset, s->size, s->pitch,
                                 s->src_pitch, s->height);
    case RQ_EVENT:
        return wire_job_enc_event(e);
    case RQ_LAUNCH: {
        const rq_launch *l = s->launch;
        int rc = wire_job_enc_launch(e, l->sha, l->function, l->grid, l->block, l->shared, l->nargs);
        if (rc == 0 && l->max_dynamic_shared) rc = wire_job_enc_launch_opt(e, l->max_dynamic_shared);
        size_t at = 0;
        for (uint32_t i = 0; rc == 0 && i < l->nargs; i++) {
            rc = wire_job_enc_arg_value(e, l->data + at, l->sizes[i]);
            at += l->sizes[i];
        }
        return rc;
    }
    default:
        return WIRE_JOB_EINVAL;
    }
}

static int tr_submit(void *ctx, const rq_step *steps, size_t n, void **ticket, rq_result *r) {
    uint32_t gpu = (uint32_t)(uintptr_t)ctx;
    rm_ticket *t = calloc(1, sizeof *t);
    size_t nw = 0, nr = 0;
    for (size_t i = 0; i < n; i++) {
        nw += steps[i].kind == RQ_WRITE;
        nr += steps[i].kind == RQ_READ;
    }
    if (t) t->segs = calloc(nw + nr + 1, sizeof *t->segs);
    if (!t || !t->segs) {
        if (t) free(t);
        r->status = CUDA_ERROR_OUT_OF_MEMORY;
        snprintf(r->msg, sizeof r->msg, "no host memory for a job of %zu steps", n);
        return -1;
    }
    wire_job_enc e;
    wire_job_enc_init(&e);
    size_t w = 0, rd = nw;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = encode(&e, &steps[i]);
        if (steps[i].kind == RQ_WRITE) t->segs[w++] = (lc_raw_seg){steps[i].host, (size_t)steps[i].size};
        if (steps[i].kind == RQ_READ) t->segs[rd++] = (lc_raw_seg){steps[i].host, (size_t)steps[i].size};
    }
    if (rc == 0) rc = wire_job_enc_finish(&e);
    if (rc != 0) {
        r->status = rc == WIRE_JOB_ENOMEM ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_INVALID_VALUE;
        snprintf(r->msg, sizeof r->msg, "CUDA_ERROR_INVALID_VALUE: %.200s", e.msg);
        rm_debug("job refused by the encoder: %s", e.msg);
        wire_job_enc_free(&e);
        free(t->segs);
        free(t);
        return -1;
    }
    int st = lc_raw_submit(g_rm.lease, gpu, &e, t->segs, (uint32_t)nw, t->segs + nw, (uint32_t)nr, &t->task);
    if (st != LEPTON_OK) {
        fill_failure(st, lepton_last_error(), r);
        free(t->segs);
        free(t);
        return -1;
    }
    *ticket = t;
    return 0;
}

/* A job answered by another worker process than the one the device's facts came from ran on a
 * replacement (the earlier worker crashed or was killed): the context's device memory, and so
 * every address the program holds, is gone, as after a GPU reset. The device is lost. */
static void check_instance(uint32_t gpu, lepton_task *task, rq_result *r) {
    int64_t got = lc_raw_task_instance(task), want = g_rm.devs ? g_rm.devs[gpu].facts->instance : 0;
    if (!got || !want || got == want || r->lost) return;
    r->status = CUDA_ERROR_LAUNCH_FAILED;
    r->lost = 1;
    r->nevents = 0;
    snprintf(r->msg, sizeof r->msg,
             "the lease's worker of GPU %u was replaced (it failed or was killed): the device memory of this "
             "context is gone",
             gpu);
}

/* Device output (docs/remote.md): the job's result says the worker holds what the device's kernels
 * printed (stdout) or the driver reported on stderr (device assertions); fetch it and write it on
 * our stdout or stderr, where the program's GPU driver would have, before the call that waited for
 * the job returns. Jobs are reaped in order per device, so the output comes out in order; a job
 * whose output an earlier fetch already took fetches nothing more. A job that printed nothing
 * costs nothing. */
static void print_output(uint32_t gpu, lepton_task *task) {
    for (int s = LC_RAW_STDOUT; s <= LC_RAW_STDERR; s++) {
        if (!lc_raw_task_output(task, s)) continue;
        char *out = NULL;
        size_t len = 0;
        int st = lc_raw_output(g_rm.lease, gpu, s, &out, &len);
        rq_stats_round_trip(0, len);
        if (st != LEPTON_OK) {
            rm_debug("cannot fetch the device output of GPU %u: %s", gpu, lepton_last_error());
            continue;
        }
        FILE *to = s == LC_RAW_STDOUT ? stdout : stderr;
        if (len) {
            fwrite(out, 1, len, to);
            fflush(to);
        }
        free(out);
    }
}

static int tr_wait(void *ctx, void *ticket, int timeout_ms, rq_result *r) {
    uint32_t gpu = (uint32_t)(uintptr_t)ctx;
    rm_ticket *t = ticket;
    int st;
    if (timeout_ms == RQ_WAIT_FOREVER) {
        /* a kernel may run for longer than any one deadline; liblepton ends the wait with
         * ENODELOST/EEXPIRED when the worker or the lease is gone */
        do
            st = lepton_wait(t->task, 60000);
        while (st == LEPTON_ETIMEDOUT);
    } else {
        st = lepton_wait(t->task, timeout_ms);
    }
    if (st == LEPTON_ETIMEDOUT) return RQ_RUNNING;
    print_output(gpu, t->task);
    if (st == LEPTON_OK) {
        r->status = CUDA_SUCCESS;
        r->nevents = lc_raw_task_events(t->task, r->events, RQ_RESULT_EVENTS);
        if (r->nevents > RQ_RESULT_EVENTS) r->nevents = RQ_RESULT_EVENTS;
        check_instance(gpu, t->task, r);
        return 0;
    }
    lepton_task_info info = LEPTON_TASK_INFO_INIT;
    const char *text = lepton_last_error();
    if (lepton_task_get_info(t->task, &info) == LEPTON_OK && info.error[0]) text = info.error;
    fill_failure(st, text, r);
    check_instance(gpu, t->task, r);
    rm_debug("job failed at step %ld: %s", lc_raw_task_step(t->task), r->msg);
    return 0;
}

static void tr_release(void *ctx, void *ticket) {
    (void)ctx;
    rm_ticket *t = ticket;
    lepton_task_free(t->task);
    free(t->segs);
    free(t);
}

void rm_transport_init(rq_transport *tr, int dev) {
    tr->ctx = (void *)(uintptr_t)dev;
    tr->submit = tr_submit;
    tr->wait = tr_wait;
    tr->release = tr_release;
}
