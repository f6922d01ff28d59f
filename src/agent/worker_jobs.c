/* worker_jobs.c — POST /v1/jobs and POST /v1/jobs/batch: parsing a job (u32 LE n + n bytes of JSON
 * + write bytes), running jobs one at a time in seq order, and remembering recent results so that a
 * retried seq is answered without running twice (docs/dataplane.md "Jobs").
 *
 * There is no executor thread: the request thread of the job that is due runs it itself (no
 * hand-off between threads on the path of a job), and whoever finishes a job wakes the waiters of
 * the next one, one of which runs it.
 *
 * A batch (K <= 256 records of u32 LE L + L bytes of one job body) cuts the per-request cost of
 * many small jobs: its jobs are all checked, then all entered into the table, then driven in order
 * by its request thread. Each answers as it would alone; the response holds K records of u32 LE M
 * + the M bytes of that job's result (a refused job — seq too old, worker stopping — gets a result
 * JSON with its error code and no data). A request-level fault (framing, no usable seq, seqs not
 * increasing) runs nothing.
 *
 * Memory: the bytes of job requests held for jobs not yet run (bodies arriving, and jobs waiting
 * for an earlier seq) are counted against the worker's queue limit (--job-queue-bytes). A request
 * that would pass it is refused with 503 queue_full before its body is read, unless its seq (the
 * Lepton-Job-Seq header) is the next to run: that one is always taken, so the queue always drains.
 * (A client that is sending its body without waiting for "100 Continue" gets the answer after its
 * body, which is read and dropped: answering at once would reset its connection.)
 *
 * After a sticky CUDA error (wk_poison) only the job that faulted reports it: the jobs waiting
 * behind it, and every request after it, are answered 503 worker_restarting, and their seqs are
 * left to the replacement worker.
 *
 * A kernel's execution error (fault, trap, assert) does not fail its launch: as on any GPU it
 * surfaces at the next call that waits for the kernel (a read or write step, a later launch, or the
 * synchronisation that ends a job with launches). The job's error is the kernel's: at the step of
 * its launch, naming it, and saying which later step reported it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "clock.h"
#include "log.h"
#include "wire.h"
#include "wire_job.h"
#include "worker.h"

#define RES_HDR                                                                                              \
    (4 + WIRE_JOB_MAX_RESULT) /* room reserved for u32 + the result JSON before the read bytes               \
                               */
#define REMEMBER_JOBS 256     /* finished jobs whose results are kept for retries, per session */
#define REMEMBER_BYTES (256u << 20)
#define REMEMBER_BYTES_ALL (1ull << 30) /* their bytes in all sessions together */
#define GAP_NS (10ll * 1000000000) /* how long a job waits for a predecessor that has not begun to arrive */
#define WK_RESTARTING "worker_restarting" /* a job refused because the context was lost before its turn */

/* A decoded job's steps and arguments (wire_job.h owns the contract). */
typedef wire_job_arg wk_arg;
typedef wire_job_step wk_step;

struct wk_job {
    uint64_t seq;
    int refs;
    int done;
    pthread_cond_t cv; /* its waiters: done, or due */
    char *body;
    wire_job wire; /* the decoded descriptor (steps point into body) */
    wk_step *steps;
    size_t nsteps;
    uint64_t read_total;
    char pre_code[32]; /* a fault found while parsing: the job fails in its turn without running */
    char pre_msg[512];
    long pre_step;
    int64_t queued_ns, started_ns, ended_ns;
    char *res_base, *res;
    size_t res_len;
    struct wk_job *next;
};

static wk_job *job_new(void) {
    wk_job *j = calloc(1, sizeof *j);
    if (j && pthread_cond_init(&j->cv, NULL) != 0) {
        free(j);
        j = NULL;
    }
    return j;
}

static void job_free(wk_job *j) {
    if (!j) return;
    pthread_cond_destroy(&j->cv);
    wire_job_free(&j->wire);
    free(j->body);
    free(j->res_base);
    free(j);
}

static void job_put(lp_worker *w, wk_job *j) {
    pthread_mutex_lock(&w->job_mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&w->job_mu);
    if (last) job_free(j);
}

static uint32_t get_le32(const void *p) {
    const unsigned char *u = p;
    /* callers check that 4 bytes are there (the batch's lengths are checked before it is decoded) */
    // NOLINTBEGIN(clang-analyzer-core.UndefinedBinaryOperatorResult)
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    // NOLINTEND(clang-analyzer-core.UndefinedBinaryOperatorResult)
}

static void put_le32(void *p, size_t v) {
    unsigned char *u = p;
    for (int i = 0; i < 4; i++)
        u[i] = (unsigned char)(v >> (8 * i));
}

/* ---- parsing ---- */

/* Decodes the request body into j (taking it) with the shared codec (wire_job.c). Returns -1 with
 * code and msg when it has no usable seq (the request is refused outright); otherwise 0, with j->pre_code
 * set when the job is malformed or past a limit (it fails in its turn, as the client would have
 * been told at lepton_submit). */
static int parse_job(wk_job *j, char *body, size_t len, const char **code, char *msg, size_t ms) {
    j->body = body;
    long step = -1;
    char pm[sizeof j->pre_msg];
    int rc = wire_job_decode(body, len, &j->wire, &step, pm, sizeof pm);
    j->seq = j->wire.seq;
    j->pre_step = -1;
    if (rc && !j->seq) {
        *code = wire_job_code(rc);
        snprintf(msg, ms, "%s", pm);
        return -1;
    }
    if (rc) {
        snprintf(j->pre_code, sizeof j->pre_code, "%s", wire_job_code(rc));
        snprintf(j->pre_msg, sizeof j->pre_msg, "%s", pm);
        j->pre_step = step;
        return 0;
    }
    j->steps = j->wire.steps;
    j->nsteps = j->wire.nsteps;
    j->read_total = j->wire.read_total;
    return 0;
}

/* ---- running ---- */
typedef struct outcome {
    const char *code; /* NULL = ok */
    char msg[600];
    long step;
} outcome;

static void cuda_fail(lp_worker *w, outcome *o, long step, const char *what, lp_cu_result r) {
    char nb[64];
    const char *name = lp_cuda_error_name(&w->cu, r, nb, sizeof nb);
    o->code = WIRE_CUDA;
    o->step = step;
    snprintf(o->msg, sizeof o->msg, "%s: %s", name, what);
    int sticky = lp_cuda_error_is_sticky(r);
    if (!sticky && r != LP_CUDA_SUCCESS) {
        /* an unlisted error that leaves the context unusable is sticky too */
        lp_cu_result again = w->cu.cuCtxSynchronize();
        sticky = again != LP_CUDA_SUCCESS;
    }
    if (sticky) {
        char why[200];
        snprintf(why, sizeof why, "%s in job step %ld", name, step);
        wk_poison(w, why);
    }
}

/* Takes a reference on buffer id once [off, off + size) lies within it; else fails step i (404, 410,
 * or invalid_request for an overrun; `what`, when not NULL, says which step and which of its
 * buffers: "memset step 3"). */
static int step_buffer_of(lp_worker *w, outcome *o, long i, const char *what, uint64_t id, uint64_t off,
                          uint64_t size, wk_buffer **b) {
    int st = wk_buffer_get(w, id, b);
    if (st) {
        o->step = i;
        o->code = st == 410 ? "buffer_lost" : WIRE_NOT_FOUND;
        if (st == 410)
            wk_lost_text(w, id, o->msg, sizeof o->msg);
        else
            snprintf(o->msg, sizeof o->msg, "no buffer %" PRIu64 " on this GPU", id);
        return -1;
    }
    if (off > (*b)->size || size > (*b)->size - off) {
        o->step = i;
        o->code = WIRE_INVALID;
        snprintf(o->msg, sizeof o->msg,
                 "%s%s%" PRIu64 " bytes at offset %" PRIu64 " overrun buffer %" PRIu64 " of %" PRIu64
                 " bytes",
                 what ? what : "", what ? ": " : "", size, off, id, (*b)->size);
        wk_buffer_put(w, *b);
        *b = NULL;
        return -1;
    }
    return 0;
}

static int step_buffer(lp_worker *w, outcome *o, long i, uint64_t id, uint64_t off, uint64_t size,
                       wk_buffer **b) {
    return step_buffer_of(w, o, i, NULL, id, off, size, b);
}

/* The kernels a job launched since its last synchronisation, for errors that surface later. */
typedef struct launched {
    long step;        /* the last launch step, -1 when none */
    const char *name; /* its kernel */
    int count;        /* launches so far */
} launched;

/* An execution error of an earlier kernel reported by step i ("reading buffer 3"): the job's error
 * is the kernel's, at its step. Other errors stay at step i. */
static void step_fail(lp_worker *w, outcome *o, const launched *k, long i, const char *what, lp_cu_result r) {
    if (k->step < 0 || !lp_cuda_error_is_sticky(r)) {
        cuda_fail(w, o, i, what, r);
        return;
    }
    char how[1200];
    snprintf(how, sizeof how, "running kernel %.200s%s (reported at step %ld, %.300s)", k->name,
             k->count > 1 ? " or a kernel launched before it" : "", i, what);
    cuda_fail(w, o, k->step, how, r);
}

static int run_launch(lp_worker *w, wk_step *s, long i, const launched *before, outcome *o) {
    wk_module *m;
    char msg[600];
    int st = wk_module_get(w, s->module, &m, msg, sizeof msg);
    if (st) {
        o->step = i;
        o->code = st == 404 ? WIRE_NOT_FOUND : WIRE_CUDA;
        snprintf(o->msg, sizeof o->msg, "%s", msg);
        return -1;
    }
    int rc = -1;
    void *ptrs[WK_MAX_ARGS];
    unsigned long long dptrs[WK_MAX_ARGS];
    wk_buffer *held[WK_MAX_ARGS];
    size_t nheld = 0;
    const wk_func *f = wk_module_func(w, m, s->function, msg, sizeof msg);
    if (!f) {
        o->step = i;
        o->code = WIRE_NOT_FOUND;
        snprintf(o->msg, sizeof o->msg, "%s", msg);
        goto out;
    }
    if (f->nparams >= 0 && (size_t)f->nparams != s->nargs) {
        o->step = i;
        o->code = WIRE_INVALID;
        snprintf(o->msg, sizeof o->msg, "kernel %.200s takes %d arguments, the launch gives %zu", s->function,
                 f->nparams, s->nargs);
        goto out;
    }
    for (size_t k = 0; k < s->nargs; k++) {
        wk_arg *a = &s->args[k];
        size_t want = f->nparams >= 0 ? f->size[k] : 0;
        size_t have = a->is_buffer ? sizeof(unsigned long long) : a->len;
        if (f->nparams >= 0 && want != have) {
            o->step = i;
            o->code = WIRE_INVALID;
            snprintf(o->msg, sizeof o->msg,
                     "argument %zu of kernel %.200s is %zu bytes, the launch gives %zu%s", k, s->function,
                     want, have, a->is_buffer ? " (a device pointer)" : "");
            goto out;
        }
        if (a->is_buffer) {
            wk_buffer *b;
            if (step_buffer(w, o, i, a->buffer, a->offset, 0, &b) != 0) goto out;
            held[nheld++] = b;
            dptrs[k] = b->ptr + a->offset;
            ptrs[k] = &dptrs[k];
        } else {
            ptrs[k] = a->value;
        }
    }
    if (s->max_dynamic_shared) {
        lp_cu_result ar =
            w->cu.cuFuncSetAttribute
                ? w->cu.cuFuncSetAttribute(f->f, LP_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                           (int)s->max_dynamic_shared)
                : LP_CUDA_ERROR_NOT_FOUND;
        if (ar != LP_CUDA_SUCCESS) {
            char what[400];
            snprintf(what, sizeof what,
                     "launch step %ld: setting the dynamic shared memory limit of %.200s to %u bytes%s", i,
                     s->function, s->max_dynamic_shared,
                     w->cu.cuFuncSetAttribute ? "" : " (the driver lacks cuFuncSetAttribute)");
            step_fail(w, o, before, i, what, ar);
            goto out;
        }
    }
    lp_cu_result r = w->cu.cuLaunchKernel(f->f, s->grid[0], s->grid[1], s->grid[2], s->block[0], s->block[1],
                                          s->block[2], s->shared, NULL, s->nargs ? ptrs : NULL, NULL);
    if (r != LP_CUDA_SUCCESS) {
        char what[1200];
        snprintf(what, sizeof what, "launching %.200s", s->function);
        step_fail(w, o, before, i, what, r);
        goto out;
    }
    rc = 0;
out:
    for (size_t k = 0; k < nheld; k++)
        wk_buffer_put(w, held[k]);
    wk_module_put(w, m);
    return rc;
}

/* Bytes from a row-set's start to its last row's end (the decoder bounded them: no overflow). */
static uint64_t rows_span(uint64_t row, uint64_t pitch, uint64_t height) {
    return row ? (height - 1) * pitch + row : 0;
}

/* A MEMSET step: height rows of count elements of width bytes, pitch apart (cuMemsetD8/16/32, or
 * cuMemsetD2D8/16/32 for several rows; synchronous like the job's other copies). */
static int run_memset(lp_worker *w, const wk_step *s, long i, const launched *before, outcome *o) {
    char what[200];
    snprintf(what, sizeof what, "memset step %ld", i);
    uint64_t row = s->count * s->width;
    wk_buffer *b;
    if (step_buffer_of(w, o, i, what, s->buffer, s->offset, rows_span(row, s->pitch, s->height), &b) != 0)
        return -1;
    lp_cu_dptr d = b->ptr + s->offset;
    lp_cu_result r = LP_CUDA_SUCCESS;
    const char *fn = NULL;
    if (row) {
        const lp_cuda *cu = &w->cu;
        if (s->height == 1) {
            fn = s->width == 1 ? "cuMemsetD8" : s->width == 2 ? "cuMemsetD16" : "cuMemsetD32";
            if (s->width == 1 && cu->cuMemsetD8)
                r = cu->cuMemsetD8(d, (unsigned char)s->value, s->count);
            else if (s->width == 2 && cu->cuMemsetD16)
                r = cu->cuMemsetD16(d, (unsigned short)s->value, s->count);
            else if (s->width == 4 && cu->cuMemsetD32)
                r = cu->cuMemsetD32(d, s->value, s->count);
            else
                r = LP_CUDA_ERROR_NOT_FOUND;
        } else {
            fn = s->width == 1 ? "cuMemsetD2D8" : s->width == 2 ? "cuMemsetD2D16" : "cuMemsetD2D32";
            if (s->width == 1 && cu->cuMemsetD2D8)
                r = cu->cuMemsetD2D8(d, s->pitch, (unsigned char)s->value, s->count, s->height);
            else if (s->width == 2 && cu->cuMemsetD2D16)
                r = cu->cuMemsetD2D16(d, s->pitch, (unsigned short)s->value, s->count, s->height);
            else if (s->width == 4 && cu->cuMemsetD2D32)
                r = cu->cuMemsetD2D32(d, s->pitch, s->value, s->count, s->height);
            else
                r = LP_CUDA_ERROR_NOT_FOUND;
        }
    }
    wk_buffer_put(w, b);
    if (r == LP_CUDA_SUCCESS) return 0;
    char how[400];
    snprintf(how, sizeof how,
             "%s: %s of buffer %" PRIu64 " at offset %" PRIu64 " (%" PRIu64 " x %" PRIu64
             " elements of %u bytes, pitch %" PRIu64 ")%s",
             what, fn, s->buffer, s->offset, s->height, s->count, s->width, s->pitch,
             r == LP_CUDA_ERROR_NOT_FOUND ? " (the driver lacks it)" : "");
    step_fail(w, o, before, i, how, r);
    return -1;
}

/* A COPY step, device to device: cuMemcpyDtoD for one row, cuMemcpy2D for several. */
static int run_copy(lp_worker *w, const wk_step *s, long i, const launched *before, outcome *o) {
    char what[200];
    snprintf(what, sizeof what, "copy step %ld (destination)", i);
    wk_buffer *dst, *src;
    if (step_buffer_of(w, o, i, what, s->buffer, s->offset, rows_span(s->size, s->pitch, s->height), &dst) !=
        0)
        return -1;
    snprintf(what, sizeof what, "copy step %ld (source)", i);
    if (step_buffer_of(w, o, i, what, s->src_buffer, s->src_offset,
                       rows_span(s->size, s->src_pitch, s->height), &src) != 0) {
        wk_buffer_put(w, dst);
        return -1;
    }
    lp_cu_result r = LP_CUDA_SUCCESS;
    const char *fn = s->height == 1 ? "cuMemcpyDtoD" : "cuMemcpy2D";
    if (s->size && s->height == 1) {
        r = w->cu.cuMemcpyDtoD ? w->cu.cuMemcpyDtoD(dst->ptr + s->offset, src->ptr + s->src_offset, s->size)
                               : LP_CUDA_ERROR_NOT_FOUND;
    } else if (s->size) {
        lp_cu_memcpy2d c;
        memset(&c, 0, sizeof c);
        c.srcMemoryType = c.dstMemoryType = LP_CU_MEMORYTYPE_DEVICE;
        c.srcDevice = src->ptr + s->src_offset;
        c.srcPitch = s->src_pitch;
        c.dstDevice = dst->ptr + s->offset;
        c.dstPitch = s->pitch;
        c.WidthInBytes = s->size;
        c.Height = s->height;
        r = w->cu.cuMemcpy2D ? w->cu.cuMemcpy2D(&c) : LP_CUDA_ERROR_NOT_FOUND;
    }
    wk_buffer_put(w, src);
    wk_buffer_put(w, dst);
    if (r == LP_CUDA_SUCCESS) return 0;
    char how[400];
    snprintf(how, sizeof how,
             "copy step %ld: %s of %" PRIu64 " x %" PRIu64 " bytes from buffer %" PRIu64 " at offset %" PRIu64
             " to buffer %" PRIu64 " at offset %" PRIu64 "%s",
             i, fn, s->height, s->size, s->src_buffer, s->src_offset, s->buffer, s->offset,
             r == LP_CUDA_ERROR_NOT_FOUND ? " (the driver lacks it)" : "");
    step_fail(w, o, before, i, how, r);
    return -1;
}

/* Writes the result JSON of a job (step < 0: null) into out[cap] (wire_job.c); its length, 0 when
 * it does not fit. */
static size_t result_json(const lp_worker *w, char *out, size_t cap, uint64_t seq, const char *status,
                          const char *error, long step, int64_t queued_ns, int64_t started_ns,
                          int64_t ended_ns, int restarting, const int64_t *events, size_t nevents,
                          const uint64_t *output) {
    wire_job_result r = {.seq = seq,
                         .status = status,
                         .error = error,
                         .step = step,
                         .queued_ns = queued_ns,
                         .started_ns = started_ns,
                         .ended_ns = ended_ns,
                         .restarting = restarting,
                         .instance = w->instance,
                         .output = output ? output[WK_STDOUT] : 0,
                         .output_stderr = output ? output[WK_STDERR] : 0,
                         .nevents = nevents < WIRE_JOB_MAX_EVENTS ? nevents : WIRE_JOB_MAX_EVENTS};
    if (r.nevents) memcpy(r.events, events, r.nevents * sizeof *events);
    return wire_job_result_encode(&r, out, cap);
}

static void run_job(lp_worker *w, wk_jobq *q, wk_job *j) {
    outcome o = {NULL, "", -1};
    j->res_base = malloc(RES_HDR + j->read_total);
    char *data = j->res_base ? j->res_base + RES_HDR : NULL;
    launched kern = {-1, NULL, 0};
    int64_t events[WIRE_JOB_MAX_EVENTS];
    size_t nevents = 0;
    long device_step = -1; /* the last memset or copy step */
    int printing = 0;      /* only kernels print (worker_output.c) */
    for (size_t i = 0; !j->pre_code[0] && i < j->nsteps && !printing; i++)
        printing = j->steps[i].kind == 'l';
    if (j->pre_code[0]) {
        o.code = j->pre_code;
        o.step = j->pre_step;
        snprintf(o.msg, sizeof o.msg, "%s", j->pre_msg);
    } else if (!j->res_base) {
        o.code = WIRE_NO_MEMORY;
        snprintf(o.msg, sizeof o.msg, "the worker cannot hold %" PRIu64 " bytes of results", j->read_total);
    } else if (wk_is_poisoned(w)) {
        o.code = WIRE_CUDA;
        snprintf(o.msg, sizeof o.msg, "the GPU context was lost (%s); the worker is being replaced",
                 w->poison);
    } else if (wk_bind(w) != 0) {
        o.code = WIRE_CUDA;
        snprintf(o.msg, sizeof o.msg, "the CUDA context cannot be made current");
    }
    for (size_t i = 0; !o.code && i < j->nsteps; i++) {
        wk_step *s = &j->steps[i];
        if (s->kind == 'l') {
            if (run_launch(w, s, (long)i, &kern, &o) == 0) {
                kern.step = (long)i;
                kern.name = s->function;
                kern.count++;
            }
            continue;
        }
        if (s->kind == 'm' || s->kind == 'c') {
            if ((s->kind == 'm' ? run_memset : run_copy)(w, s, (long)i, &kern, &o) == 0)
                device_step = (long)i;
            continue;
        }
        if (s->kind == 'e') {
            /* everything before it has finished: then the clock is read */
            lp_cu_result r = w->cu.cuCtxSynchronize();
            if (r != LP_CUDA_SUCCESS) {
                char what[64];
                snprintf(what, sizeof what, "event step %zu", i);
                step_fail(w, &o, &kern, (long)i, what, r);
            } else if (nevents < WIRE_JOB_MAX_EVENTS) {
                events[nevents++] = lp_mono_ns();
            }
            continue;
        }
        wk_buffer *b;
        if (step_buffer(w, &o, (long)i, s->buffer, s->offset, s->size, &b) != 0) break;
        lp_cu_result r = s->kind == 'w' ? w->cu.cuMemcpyHtoD(b->ptr + s->offset, s->data, s->size)
                                        : w->cu.cuMemcpyDtoH(data + s->out_off, b->ptr + s->offset, s->size);
        wk_buffer_put(w, b);
        if (r != LP_CUDA_SUCCESS) {
            char what[160];
            snprintf(what, sizeof what, "%s buffer %" PRIu64, s->kind == 'w' ? "writing" : "reading",
                     s->buffer);
            step_fail(w, &o, &kern, (long)i, what, r);
        }
    }
    if (!o.code && kern.step >= 0) {
        lp_cu_result r = w->cu.cuCtxSynchronize();
        if (r != LP_CUDA_SUCCESS) {
            char what[600];
            snprintf(what, sizeof what, "running kernel %.200s%s", kern.name,
                     kern.count > 1 ? " or a kernel launched before it" : "");
            cuda_fail(w, &o, kern.step, what, r);
        }
    } else if (!o.code && device_step >= 0) {
        /* memsets and device copies may run after their calls return: the job ends when they have */
        lp_cu_result r = w->cu.cuCtxSynchronize();
        if (r != LP_CUDA_SUCCESS) {
            char what[96];
            snprintf(what, sizeof what, "finishing the memset and copy steps (the last: step %ld)",
                     device_step);
            cuda_fail(w, &o, device_step, what, r);
        }
    }
    j->ended_ns = lp_mono_ns();
    /* a job that launched kernels has synchronised by now, also when it failed (a kernel may
     * print before it faults) */
    uint64_t output[2];
    if (printing)
        wk_output_collect(w, q, output);
    else
        wk_output_pending(q, output);
    char text[WIRE_JOB_MAX_RESULT];
    size_t tl = result_json(w, text, sizeof text, j->seq, o.code ? o.code : "ok", o.msg, o.code ? o.step : -1,
                            j->queued_ns, j->started_ns, j->ended_ns, wk_is_poisoned(w), events,
                            o.code ? 0 : nevents, output);
    if (!j->res_base) j->res_base = malloc(RES_HDR);
    if (!tl) {
        static const char bad[] = "{\"status\":\"internal\",\"error\":\"cannot encode the job result\"}";
        memcpy(text, bad, sizeof bad - 1);
        tl = sizeof bad - 1;
    }
    size_t data_len = o.code ? 0 : (size_t)j->read_total;
    if (j->res_base) {
        j->res = j->res_base + RES_HDR - tl - 4;
        put_le32(j->res, tl);
        memcpy(j->res + 4, text, tl);
        j->res_len = 4 + tl + data_len;
    }
    if (o.code)
        lp_log(LP_LOG_INFO, "lease %s gpu %s: job %" PRIu64 " failed at step %ld: %s: %.300s", w->lease,
               w->uuid, j->seq, o.step, o.code, o.msg);
    /* the request body is no longer needed; the result is kept for retries */
    free(j->body);
    j->body = NULL;
    wire_job_free(&j->wire);
    j->steps = NULL;
    j->nsteps = 0;
}

/* Forgets q's oldest finished job: 0, or -1 when it has none. Under job_mu. */
static int forget_oldest_locked(lp_worker *w, wk_jobq *q) {
    wk_job **pp = &q->jobs, *prev = NULL;
    while (*pp && !(*pp)->done) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) return -1;
    wk_job *j = *pp;
    *pp = j->next;
    if (q->jobs_tail == j) q->jobs_tail = prev;
    q->remembered--;
    q->remembered_bytes -= j->res_len;
    w->remembered_bytes -= j->res_len;
    if (--j->refs == 0) job_free(j);
    return 0;
}

/* Drops the oldest finished jobs of q past its remembering limits, then, while the sessions
 * together hold more than REMEMBER_BYTES_ALL, the oldest result of any session. Under job_mu. */
static void evict_locked(lp_worker *w, wk_jobq *q) {
    while ((q->remembered > REMEMBER_JOBS || q->remembered_bytes > REMEMBER_BYTES) &&
           forget_oldest_locked(w, q) == 0) {
    }
    while (w->remembered_bytes > REMEMBER_BYTES_ALL) {
        wk_jobq *oldest = NULL; /* finished jobs come first in a session's list */
        for (wk_jobq *p = &w->q0; p; p = p == &w->q0 ? w->sessions : p->next)
            if (p->jobs && p->jobs->done && (!oldest || p->jobs->ended_ns < oldest->jobs->ended_ns))
                oldest = p;
        if (!oldest || forget_oldest_locked(w, oldest) != 0) break;
    }
}

/* The job due now: the first unfinished one when its seq is the next to run. (The list holds the
 * finished jobs first: jobs run in seq order and only seqs not run yet are entered.) */
static wk_job *due_locked(const wk_jobq *q) {
    wk_job *j = q->undone;
    return j && j->seq == q->next_seq ? j : NULL;
}

/* Wakes the due job of every session: the GPU is free, and any of them may run next. */
static void wake_due_locked(lp_worker *w) {
    for (wk_jobq *q = &w->q0; q; q = q == &w->q0 ? w->sessions : q->next) {
        wk_job *due = due_locked(q);
        if (due) pthread_cond_broadcast(&due->cv);
    }
}

/* Wakes every waiting job of every session. */
static void wake_all_locked(lp_worker *w) {
    for (wk_jobq *q = &w->q0; q; q = q == &w->q0 ? w->sessions : q->next)
        for (wk_job *j = q->jobs; j; j = j->next)
            pthread_cond_broadcast(&j->cv);
}

/* 1 when a job with a seq in [next_seq, seq) is still arriving (its body is streaming in). */
static int arriving_below_locked(const wk_jobq *q, uint64_t seq) {
    for (size_t i = 0; i < q->narriving; i++)
        if (q->arriving[i] >= q->next_seq && q->arriving[i] < seq) return 1;
    return 0;
}

/* Waits until j (of q) is done, running it here when it is due. Under job_mu. */
static void drive_locked(wk_jobq *q, wk_job *j) {
    lp_worker *w = q->w;
    while (!j->done && !w->stopping && !wk_is_poisoned(w)) {
        if (!w->running) {
            wk_job *due = due_locked(q);
            if (due == j) {
                __atomic_store_n(&w->running, 1, __ATOMIC_RELEASE);
                if (q->floating) { /* the seqs before its first here went with the predecessor */
                    q->floating = 0;
                    q->lost_lo = 1;
                    q->lost_hi = j->seq - 1;
                }
                pthread_mutex_unlock(&w->job_mu);
                j->started_ns = lp_mono_ns();
                run_job(w, q, j);
                pthread_mutex_lock(&w->job_mu);
                j->done = 1;
                w->queued_jobs--;
                q->undone = j->next; /* j was the first unfinished job */
                q->next_seq = j->seq + 1;
                q->seq_done = j->seq;
                if (q->seq_recv < j->seq || wk_is_poisoned(w)) q->seq_recv = j->seq; /* see wk_poison */
                if (q == &w->q0) wk_seq_save(w);
                q->remembered++;
                q->remembered_bytes += j->res_len;
                w->remembered_bytes += j->res_len;
                __atomic_store_n(&w->running, 0, __ATOMIC_RELEASE);
                pthread_cond_broadcast(&j->cv); /* retries of the same seq */
                evict_locked(w, q);             /* j stays alive: the caller holds a reference */
                wake_due_locked(w);             /* the next job of any session */
                return;
            }
            if (!due) {
                /* nothing due: has the earliest waiting job waited too long for a missing seq? (not
                 * while jobs are being refused for a full queue: the missing one may be among them) */
                wk_job *first = q->undone;
                if (first && first->seq > q->next_seq && lp_mono_ns() - first->queued_ns > GAP_NS &&
                    lp_mono_ns() - w->queue_full_ns > GAP_NS && !arriving_below_locked(q, first->seq)) {
                    lp_log(LP_LOG_WARN,
                           "lease %s gpu %s: jobs %" PRIu64 "..%" PRIu64 " of session %" PRIu64
                           " never arrived; going on with job %" PRIu64,
                           w->lease, w->uuid, q->next_seq, first->seq - 1, q->session, first->seq);
                    q->next_seq = first->seq;
                    pthread_cond_broadcast(&first->cv);
                    continue;
                }
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&j->cv, &w->job_mu, &ts);
    }
}

/* ---- entering jobs and waiting for them ---- */
/* Why a job got no result of its own to answer with. */
typedef struct refusal {
    uint64_t seq;
    const char *code; /* NULL: not refused */
    const char *hint;
    char msg[200];
} refusal;

/* Enters j into q (under job_mu). Returns the job whose result answers it, with a reference for
 * the caller: j itself, or the remembered job of the same seq (a retry; j is freed); or NULL with
 * why filled when the seq is too old to answer (j is freed). */
static wk_job *enter_locked(lp_worker *w, wk_jobq *q, wk_job *j, refusal *why) {
    uint64_t seq = j->seq;
    why->seq = seq;
    why->code = NULL;
    if (q->floating && seq < q->next_seq) q->next_seq = seq; /* none of its jobs has run here yet */
    wk_job **pp = &q->jobs;
    if (q->jobs_tail && q->jobs_tail->seq < seq)
        pp = &q->jobs_tail->next; /* the usual case: after every job entered so far */
    else
        while (*pp && (*pp)->seq < seq)
            pp = &(*pp)->next;
    if (*pp && (*pp)->seq == seq) {
        job_free(j); /* a retry: answer with the first one's result */
        (*pp)->refs++;
        return *pp;
    }
    if (seq < q->next_seq) {
        if (seq >= q->lost_lo && seq <= q->lost_hi) {
            why->code = WIRE_NODE_LOST;
            why->hint = "its buffers are lost too; allocate and write them again";
            snprintf(why->msg, sizeof why->msg,
                     "job seq %" PRIu64 " was lost with the previous worker of this GPU, which failed", seq);
        } else {
            why->code = WIRE_CONFLICT;
            why->hint = "number jobs per GPU from 1 in submission order";
            snprintf(why->msg, sizeof why->msg,
                     "job seq %" PRIu64
                     " already ran here and its result is no longer held (next seq: %" PRIu64 ")",
                     seq, q->next_seq);
        }
        job_free(j);
        return NULL;
    }
    j->refs = 2; /* the table's and the caller's */
    w->queued_jobs++;
    j->next = *pp;
    *pp = j;
    if (!j->next) q->jobs_tail = j;
    if (!q->undone || seq < q->undone->seq) q->undone = j; /* seq >= next_seq: after every finished job */
    if (seq > q->seq_recv) q->seq_recv = seq;
    return j;
}

/* Enters jobs[0..n) (seqs increasing) into q, then waits for each in turn, running it when it is
 * due. Jobs of other requests of the session interleave by seq. This cannot deadlock: every
 * request waits on its smallest unfinished seq, so the smallest pending seq of each session always
 * has a request to run it, and the sessions share the GPU without waiting on one another's seqs.
 * On return jobs[i] is done with a result and holds a reference for the caller, or is NULL with
 * why[i] filled. */
static void submit(wk_jobq *q, wk_job **jobs, refusal *why, size_t n) {
    lp_worker *w = q->w;
    pthread_mutex_lock(&w->job_mu);
    uint64_t recv = q->seq_recv;
    for (size_t i = 0; i < n; i++) {
        if (wk_is_poisoned(w)) { /* the context is lost: the replacement takes this seq */
            why[i].seq = jobs[i]->seq;
            why[i].code = WK_RESTARTING;
            why[i].hint = "send it again in a moment";
            snprintf(why[i].msg, sizeof why[i].msg, "the worker is restarting after %.150s", w->poison);
            job_free(jobs[i]);
            jobs[i] = NULL;
            continue;
        }
        jobs[i] = enter_locked(w, q, jobs[i], &why[i]);
    }
    if (q->seq_recv != recv && q == &w->q0) wk_seq_save(w);
    int stopping = w->stopping;
    for (size_t i = 0; i < n && !stopping; i++)
        if (jobs[i]) drive_locked(q, jobs[i]); /* returns at once when the worker stops */
    for (size_t i = 0; i < n; i++) {
        wk_job *j = jobs[i];
        if (!j || (!stopping && j->done && j->res)) continue;
        int lost = stopping || !j->done;
        why[i].code = lost ? WIRE_NODE_LOST : WIRE_INTERNAL;
        why[i].hint = NULL;
        snprintf(why[i].msg, sizeof why[i].msg, "%s",
                 lost ? "the worker is shutting down" : "the worker ran out of memory for the job's result");
        if (!j->done && wk_is_poisoned(w)) { /* it waited behind the job that faulted */
            why[i].code = WK_RESTARTING;
            why[i].hint = "send it again in a moment";
            snprintf(why[i].msg, sizeof why[i].msg, "the worker is restarting after %.150s", w->poison);
        }
        jobs[i] = NULL;
        if (--j->refs == 0) job_free(j); /* not while the table holds it: a job not done stays there */
    }
    pthread_mutex_unlock(&w->job_mu);
}

/* u32 LE n + the result JSON of a job refused before it ran (no data bytes), or NULL. */
static char *refusal_record(const lp_worker *w, const refusal *why, size_t *len) {
    char text[WIRE_JOB_MAX_RESULT];
    size_t tl = result_json(w, text, sizeof text, why->seq, why->code, why->msg, -1, 0, 0, 0,
                            !strcmp(why->code, WK_RESTARTING), NULL, 0, NULL);
    char *rec = tl ? malloc(4 + tl) : NULL;
    if (rec) {
        put_le32(rec, tl);
        memcpy(rec + 4, text, tl);
        *len = 4 + tl;
    }
    return rec;
}

/* ---- request bodies ---- */
#define JOBS_HINT "see docs/dataplane.md, Jobs"

typedef struct body_ctx {
    lp_worker *w;
    wk_jobq *q;       /* the request's session (held), or NULL when it could not be had */
    const char *what; /* "job" or "batch", for messages */
    char *buf;
    size_t len, cap;
    uint64_t arriving; /* the seq announced as arriving (0 = none) */
    uint64_t held;     /* bytes counted in w->queued_bytes for this request */
    uint64_t dropped;  /* refused (queue full): bytes of its body read and dropped */
    int looked;
    int refused;
} body_ctx;

/* ---- sessions ---- */
#define SESSION_IDLE_NS (600ll * 1000000000) /* an idle session is freed after this long unused */

static void jobq_clear(lp_worker *w, wk_jobq *q) {
    wk_output_drop_locked(q);
    w->remembered_bytes -= q->remembered_bytes;
    q->remembered = q->remembered_bytes = 0;
    q->jobs_tail = q->undone = NULL;
    while (q->jobs) {
        wk_job *j = q->jobs;
        q->jobs = j->next;
        if (--j->refs == 0) job_free(j);
    }
}

static int jobq_idle(const wk_jobq *q) { return !q->users && !q->undone && !q->narriving; }

/* Frees session *pp (idle), remembering where its seqs go on. Under job_mu. */
static void jobq_retire_locked(lp_worker *w, wk_jobq **pp) {
    wk_jobq *q = *pp;
    *pp = q->next;
    size_t slots = sizeof w->retired / sizeof w->retired[0];
    w->retired[w->nretired % slots].session = q->session;
    w->retired[w->nretired % slots].next_seq = q->next_seq;
    w->nretired++;
    w->nsessions--;
    jobq_clear(w, q);
    free(q);
}

int wk_job_session(lp_http_req *r, uint64_t *session, wk_err *e) {
    const char *h = lp_http_header(r, WK_SESSION_HEADER);
    char *end = NULL;
    *session = 0;
    if (!h) return 0;
    errno = 0;
    unsigned long long v = strtoull(h, &end, 10);
    if (end == h || *end || errno || *h == '-' || *h == '+') {
        wk_err_set(e, WIRE_INVALID, "send the session as a decimal number (docs/dataplane.md, Jobs)",
                   "the " WK_SESSION_HEADER " header '%.40s' is not a decimal number below 2^64", h);
        return -1;
    }
    *session = v;
    return 0;
}

wk_jobq *wk_jobq_take(lp_worker *w, uint64_t session) {
    if (!session) {
        pthread_mutex_lock(&w->job_mu);
        w->q0.users++;
        pthread_mutex_unlock(&w->job_mu);
        return &w->q0;
    }
    int64_t now = lp_mono_ns();
    pthread_mutex_lock(&w->job_mu);
    wk_jobq *q = NULL, **lru = NULL;
    for (wk_jobq **pp = &w->sessions; *pp;) {
        if ((*pp)->session == session) {
            q = *pp;
            pp = &q->next;
        } else if (jobq_idle(*pp) && now - (*pp)->used_ns > SESSION_IDLE_NS) {
            jobq_retire_locked(w, pp);
        } else {
            if (jobq_idle(*pp) && (!lru || (*pp)->used_ns < (*lru)->used_ns)) lru = pp;
            pp = &(*pp)->next;
        }
    }
    if (!q && w->nsessions >= WK_SESSIONS_MAX && lru) jobq_retire_locked(w, lru);
    if (!q && w->nsessions < WK_SESSIONS_MAX && (q = calloc(1, sizeof *q))) {
        q->w = w;
        q->session = session;
        q->next_seq = 1;
        /* Its earlier jobs may have run on a predecessor (and died with it): its first jobs set
         * where it starts. A session freed here while idle goes on where it was. */
        q->floating = w->replacement;
        if (q->floating) q->next_seq = UINT64_MAX;
        size_t slots = sizeof w->retired / sizeof w->retired[0];
        for (size_t i = 0; i < slots && i < w->nretired; i++)
            if (w->retired[i].session == session && (q->floating || w->retired[i].next_seq > q->next_seq)) {
                q->next_seq = w->retired[i].next_seq; /* the latest: seqs only grow */
                q->floating = 0;
            }
        q->next = w->sessions;
        w->sessions = q;
        w->nsessions++;
    }
    if (q) {
        q->users++;
        q->used_ns = now;
    } else {
        w->queue_full_total++;
        w->queue_full_ns = now;
    }
    pthread_mutex_unlock(&w->job_mu);
    return q;
}

void wk_err_sessions_full(lp_worker *w, wk_err *e) {
    pthread_mutex_lock(&w->job_mu);
    size_t n = w->nsessions;
    pthread_mutex_unlock(&w->job_mu);
    wk_err_set(e, "queue_full", "send it again once other handles' jobs have run, or detach idle handles",
               "the worker of GPU %s holds %zu job sessions (its most), each with jobs pending or a request "
               "or stream open; a new session must wait",
               w->uuid, n);
    e->status = 503;
}

void wk_jobq_put(wk_jobq *q) {
    if (!q) return;
    lp_worker *w = q->w;
    pthread_mutex_lock(&w->job_mu);
    q->users--;
    q->used_ns = lp_mono_ns();
    pthread_mutex_unlock(&w->job_mu);
}

void wk_job_release(lp_worker *w, uint64_t len) {
    if (!len) return;
    pthread_mutex_lock(&w->job_mu);
    w->queued_bytes -= len;
    pthread_mutex_unlock(&w->job_mu);
}

/* Gives back the bytes a request counted against the queue limit (its job has run, or it ends). */
static void queue_release(body_ctx *c) {
    wk_job_release(c->w, c->held);
    c->held = 0;
}

/* Counts a request of len bytes against the queue limit, before its body is read. Refuses (0)
 * when it would pass the limit, unless nothing else is held (a job larger than the limit still
 * runs, alone) or its seq, from the Lepton-Job-Seq header, is its session's next to run or one
 * already run (a retry): the job every other of its session waits for is never refused. */
static int queue_admit(lp_worker *w, wk_jobq *q, lp_http_req *r, uint64_t len) {
    const char *hs = lp_http_header(r, WK_SEQ_HEADER);
    char *end = NULL;
    unsigned long long seq = hs ? strtoull(hs, &end, 10) : 0;
    return wk_job_admit(w, q, hs && end != hs && !*end ? seq : 0, len);
}

int wk_job_admit(lp_worker *w, wk_jobq *q, uint64_t seq, uint64_t len) {
    int known = seq > 0;
    uint64_t limit = w->queue_limit ? w->queue_limit : WK_QUEUE_DEFAULT;
    pthread_mutex_lock(&w->job_mu);
    int ok = q && (!w->queued_bytes || len <= limit - (w->queued_bytes < limit ? w->queued_bytes : limit) ||
                   (known && seq <= q->next_seq));
    if (ok) {
        w->queued_bytes += len;
    } else if (q) { /* no session: wk_jobq_take counted it */
        w->queue_full_total++;
        w->queue_full_ns = lp_mono_ns();
    }
    pthread_mutex_unlock(&w->job_mu);
    return ok;
}

static void arriving_drop(wk_jobq *q, uint64_t seq) {
    pthread_mutex_lock(&q->w->job_mu);
    for (size_t i = 0; i < q->narriving; i++)
        if (q->arriving[i] == seq) {
            q->arriving[i] = q->arriving[--q->narriving];
            break;
        }
    pthread_mutex_unlock(&q->w->job_mu);
}

int wk_job_announce(wk_jobq *q, uint64_t seq) {
    int ok = 0;
    pthread_mutex_lock(&q->w->job_mu);
    if (seq && q->narriving < sizeof q->arriving / sizeof q->arriving[0]) {
        q->arriving[q->narriving++] = seq;
        ok = 1;
    }
    pthread_mutex_unlock(&q->w->job_mu);
    return ok;
}

void wk_job_arrived(wk_jobq *q, uint64_t seq) { arriving_drop(q, seq); }

/* Once a large job's descriptor is in, tells later jobs that this seq is on its way, so that a
 * slow upload is never taken for a missing job. */
static void announce(body_ctx *c) {
    if (c->looked || c->len < 4) return;
    uint32_t n = get_le32(c->buf);
    if (n > WK_JOB_JSON_MAX || c->len < 4 + (size_t)n) {
        c->looked = n > WK_JOB_JSON_MAX;
        return;
    }
    c->looked = 1;
    if (c->len == c->cap) return; /* the whole body is here already */
    json_t *d = json_loadb(c->buf + 4, n, 0, NULL);
    json_int_t seq = json_integer_value(json_object_get(d, "seq"));
    json_decref(d);
    if (seq >= 1 && wk_job_announce(c->q, (uint64_t)seq)) c->arriving = (uint64_t)seq;
}

static void body_ctx_free(void *p) {
    body_ctx *c = p;
    if (!c) return;
    queue_release(c);
    if (c->arriving) arriving_drop(c->q, c->arriving);
    wk_jobq_put(c->q);
    free(c->buf);
    free(c);
}

/* Answers a request refused before its body was read: 503 queue_full, for a full queue or for a
 * session the worker has no room for. */
static void reply_refused(body_ctx *c, lp_http_req *r) {
    wk_err e;
    if (c->q)
        wk_err_queue_full(c->w, c->dropped, &e);
    else
        wk_err_sessions_full(c->w, &e);
    wk_reply_err(r, &e);
}

/* The request's body so far; on its first call checks the token, the session and the
 * Content-Length. NULL after answering an error. */
static body_ctx *body_begin(lp_worker *w, lp_http_req *r, const char *what) {
    body_ctx *c = lp_http_ctx(r);
    if (c) return c;
    if (wk_authorized(w, r) != 0) return NULL;
    const char *cl = lp_http_header(r, "Content-Length");
    unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
    if (len > WK_JOB_MAX) {
        lp_http_reply_error(r, WIRE_TOO_LARGE, "move large data with PUT /v1/buffers/ID",
                            "a %s of %llu bytes exceeds the limit of %u bytes", what, len, WK_JOB_MAX);
        return NULL;
    }
    uint64_t session;
    wk_err e;
    if (wk_job_session(r, &session, &e) != 0) {
        wk_reply_err(r, &e);
        return NULL;
    }
    wk_jobq *q = wk_jobq_take(w, session); /* NULL: too many busy sessions, refused as a full queue */
    int admitted = queue_admit(w, q, r, len);
    const char *expect = lp_http_header(r, "Expect");
    if (!admitted && (!len || (expect && !strcasecmp(expect, "100-continue")))) {
        body_ctx refused = {.w = w, .q = q, .dropped = len};
        reply_refused(&refused, r); /* the client waits for "100 Continue": it sends no body */
        wk_jobq_put(q);
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        if (admitted) wk_job_release(w, len);
        wk_jobq_put(q);
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    c->w = w;
    c->q = q;
    c->what = what;
    lp_http_set_ctx(r, c, body_ctx_free);
    if (!admitted) {
        /* A client already sending its body would have the connection reset under it if answered
         * now (unread bytes in the socket): its body is read and dropped, never held, and the
         * answer goes when it has ended. */
        c->refused = 1;
        return c;
    }
    c->held = len;
    c->cap = len ? (size_t)len : 0;
    if (c->cap && !(c->buf = malloc(c->cap))) {
        lp_http_reply_error(r, WIRE_NO_MEMORY, NULL, "cannot hold a %s of %llu bytes", what, len);
        return NULL; /* body_ctx_free gives the bytes back */
    }
    return c;
}

static int body_add(body_ctx *c, lp_http_req *r, const char *data, size_t size) {
    if (!size) return 0;
    if (c->refused) {
        c->dropped += size;
        return 0;
    }
    if (c->len + size > WK_JOB_MAX) {
        lp_http_reply_error(r, WIRE_TOO_LARGE, NULL, "a %s exceeds the limit of %u bytes", c->what,
                            WK_JOB_MAX);
        return -1;
    }
    if (c->len + size > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + size)
            cap *= 2;
        char *nb = realloc(c->buf, cap);
        if (!nb) {
            lp_http_reply_error(r, WIRE_NO_MEMORY, NULL, "out of memory");
            return -1;
        }
        c->buf = nb;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, size);
    c->len += size;
    if (c->len > c->held) { /* a body without a Content-Length: counted as it comes */
        pthread_mutex_lock(&c->w->job_mu);
        c->w->queued_bytes += c->len - c->held;
        pthread_mutex_unlock(&c->w->job_mu);
        c->held = c->len;
    }
    return 0;
}

static int job_body(lp_http_req *r, const char *data, size_t size, void *user) {
    body_ctx *c = body_begin(user, r, "job");
    if (!c || body_add(c, r, data, size) != 0) return -1;
    if (!c->refused) announce(c);
    return 0;
}

/* A batch is not announced while it arrives: its jobs are small. */
static int batch_body(lp_http_req *r, const char *data, size_t size, void *user) {
    body_ctx *c = body_begin(user, r, "batch");
    return c ? body_add(c, r, data, size) : -1;
}

/* A job parsed from body (taken). NULL with code and msg when it cannot be one: out of memory, or
 * no usable seq (a malformed job with a seq is a job: it fails in its turn). */
static wk_job *job_parse_new(char *body, size_t len, int64_t now, const char **code, char *msg, size_t ms) {
    wk_job *j = job_new();
    if (!j) {
        free(body);
        *code = WIRE_INTERNAL;
        snprintf(msg, ms, "out of memory");
        return NULL;
    }
    if (parse_job(j, body, len, code, msg, ms) != 0) {
        job_free(j);
        return NULL;
    }
    j->queued_ns = now;
    return j;
}

/* ---- responses ---- */
/* A response body in pieces: the jobs' results (kept alive by the references it holds) and bytes
 * of its own (the records' lengths and refusal records). */
typedef struct piece {
    const char *p;
    size_t len;
} piece;

typedef struct reply_src {
    lp_worker *w;
    size_t njobs, npieces;
    wk_job **jobs;       /* [njobs] references dropped when the response is done (NULL: none) */
    char **own;          /* [njobs] refusal records */
    piece *pieces;       /* [2 njobs] */
    unsigned char *lens; /* [4 njobs] the records' u32 LE lengths */
    uint64_t total;
    size_t at; /* reading cursor: piece `at` begins at byte at_pos of the body */
    uint64_t at_pos;
} reply_src;

static reply_src *reply_new(lp_worker *w, size_t njobs) {
    size_t each = sizeof(wk_job *) + sizeof(char *) + 2 * sizeof(piece) + 4;
    reply_src *s = calloc(1, sizeof *s + njobs * each); /* one block: the arrays follow the struct */
    if (!s) return NULL;
    s->w = w;
    s->njobs = njobs;
    s->jobs = (wk_job **)(s + 1);
    s->own = (char **)(s->jobs + njobs);
    s->pieces = (piece *)(s->own + njobs);
    s->lens = (unsigned char *)(s->pieces + 2 * njobs);
    return s;
}

static void reply_free(void *cls) {
    reply_src *s = cls;
    if (!s) return;
    for (size_t i = 0; i < s->njobs; i++) {
        if (s->jobs[i]) job_put(s->w, s->jobs[i]);
        free(s->own[i]);
    }
    free(s);
}

static void add_piece(reply_src *s, const char *p, size_t len) {
    s->pieces[s->npieces].p = p;
    s->pieces[s->npieces].len = len;
    s->npieces++;
    s->total += len;
}

static long reply_read(void *cls, uint64_t pos, char *buf, size_t max) {
    reply_src *s = cls;
    if (pos < s->at_pos) { /* reads go forward; start over if not */
        s->at = 0;
        s->at_pos = 0;
    }
    while (s->at < s->npieces && pos >= s->at_pos + s->pieces[s->at].len)
        s->at_pos += s->pieces[s->at++].len;
    size_t n = 0, skip = (size_t)(pos - s->at_pos);
    for (size_t i = s->at; i < s->npieces && n < max; i++, skip = 0) {
        size_t k = s->pieces[i].len - skip < max - n ? s->pieces[i].len - skip : max - n;
        memcpy(buf + n, s->pieces[i].p + skip, k);
        n += k;
    }
    return n ? (long)n : -1;
}

/* Answers 200 with the pieces (taking s): one copy when the body is at most `small` bytes, since a
 * streamed response costs more; else streamed, so that large results are never copied whole. */
static void reply_send(lp_http_req *r, reply_src *s, uint64_t small) {
    if (s->total > small) {
        /* the server allocates a block per response: small bodies get a small one */
        size_t block = s->total < (1u << 20) ? (size_t)s->total : (1u << 20);
        lp_http_reply_stream(r, 200, "application/octet-stream", s->total, block, reply_read, s, reply_free);
        return;
    }
    char *one = s->npieces > 1 ? malloc((size_t)s->total) : NULL;
    if (s->npieces == 1)
        lp_http_reply_bytes(r, 200, "application/octet-stream", s->pieces[0].p, s->pieces[0].len);
    else if (one && reply_read(s, 0, one, (size_t)s->total) == (long)s->total)
        lp_http_reply_bytes(r, 200, "application/octet-stream", one, (size_t)s->total);
    else
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
    free(one);
    reply_free(s);
}

/* ---- one job, for POST /v1/jobs and the stream ---- */
int wk_job_run(wk_jobq *q, char *body, size_t len, int64_t queued_ns, wk_job_answer *a) {
    lp_worker *w = q->w;
    a->job = NULL;
    a->res = NULL;
    a->len = 0;
    const char *code;
    char msg[400];
    wk_job *j = job_parse_new(body, len, queued_ns, &code, msg, sizeof msg);
    if (!j) {
        wk_err_set(&a->err, code, !strcmp(code, WIRE_INVALID) ? JOBS_HINT : NULL, "%s", msg);
        return -1;
    }
    refusal why;
    submit(q, &j, &why, 1);
    if (!j) {
        if (why.code && !strcmp(why.code, WK_RESTARTING))
            wk_err_restarting(w, &a->err);
        else
            wk_err_set(&a->err, why.code, why.hint, "%s", why.msg);
        return -1;
    }
    a->job = j;
    a->res = j->res;
    a->len = j->res_len;
    return 0;
}

void wk_job_answer_done(lp_worker *w, wk_job_answer *a) {
    if (a->job) job_put(w, a->job);
    a->job = NULL;
}

/* ---- the endpoints ---- */
static void h_job(lp_http_req *r, void *user) {
    lp_worker *w = user;
    int64_t now = lp_mono_ns();
    body_ctx *c = body_begin(w, r, "job");
    if (!c) return;
    if (c->refused) {
        reply_refused(c, r);
        return;
    }
    char *body = c->buf;
    c->buf = NULL; /* the job owns it now */
    wk_job_answer a;
    int rc = wk_job_run(c->q, body, c->len, now, &a);
    queue_release(c); /* it has run (or never will here) */
    if (rc != 0) {
        wk_reply_err(r, &a.err);
        return;
    }
    reply_src *s = reply_new(w, 1);
    if (!s) {
        wk_job_answer_done(w, &a);
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return;
    }
    s->jobs[0] = a.job; /* s drops the reference */
    add_piece(s, a.res, a.len);
    reply_send(r, s, 65536);
}

/* Checks a batch's framing: K records of u32 LE L + L bytes, exactly filling the body. Returns K,
 * or 0 with code, hint and msg. */
static size_t batch_frame(const char *buf, size_t len, const char **code, const char **hint, char *msg,
                          size_t ms) {
    size_t k = 0;
    *code = WIRE_INVALID;
    *hint = JOBS_HINT;
    for (size_t off = 0; off < len; k++) {
        if (k == WK_BATCH_MAX_JOBS) {
            *code = WIRE_TOO_LARGE;
            *hint = "send at most 256 jobs per batch";
            snprintf(msg, ms, "a batch holds at most %d jobs; the body goes on after job %d",
                     WK_BATCH_MAX_JOBS, WK_BATCH_MAX_JOBS - 1);
            return 0;
        }
        if (len - off < 4) {
            snprintf(msg, ms, "job %zu: the body ends %zu bytes into the record's 4-byte length", k,
                     len - off);
            return 0;
        }
        uint32_t l = get_le32(buf + off);
        if (l < 4 || l > len - off - 4) {
            snprintf(msg, ms,
                     "job %zu: a record of %" PRIu32 " bytes at byte %zu %s (%zu bytes follow its length)", k,
                     l, off, l < 4 ? "cannot hold a job" : "runs past the end of the body", len - off - 4);
            return 0;
        }
        off += 4 + (size_t)l;
    }
    if (!k) snprintf(msg, ms, "a batch holds at least one job; the body is empty");
    return k;
}

static size_t batch_count(lp_http_req *r, const char *buf, size_t len) {
    const char *code, *hint;
    char msg[300];
    size_t k = batch_frame(buf, len, &code, &hint, msg, sizeof msg);
    if (!k) lp_http_reply_error(r, code, hint, "%s", msg);
    return k;
}

/* Parses the batch's K jobs, each from its own copy of its record: run_job frees a job's body
 * once it ran, and batched jobs are small. Returns 0, or -1 with code and msg (nothing was
 * entered: every job is checked first; the jobs parsed so far are freed). */
static int batch_decode(const char *buf, size_t k, int64_t now, wk_job **jobs, const char **code_out,
                        char *out, size_t outsz) {
    size_t off = 0;
    for (size_t i = 0; i < k; i++) {
        size_t len = get_le32(buf + off);
        char *body = malloc(len);
        const char *code = WIRE_INTERNAL;
        char msg[400] = "out of memory";
        if (body) {
            memcpy(body, buf + off + 4, len);
            jobs[i] = job_parse_new(body, len, now, &code, msg, sizeof msg);
        }
        off += 4 + len;
        if (jobs[i] && i && jobs[i]->seq <= jobs[i - 1]->seq) {
            code = WIRE_INVALID;
            snprintf(msg, sizeof msg,
                     "seq %" PRIu64 " does not follow seq %" PRIu64 " of job %zu: a batch's seqs increase",
                     jobs[i]->seq, jobs[i - 1]->seq, i - 1);
            job_free(jobs[i]);
            jobs[i] = NULL;
        }
        if (!jobs[i]) {
            *code_out = code;
            snprintf(out, outsz, "job %zu: %s", i, msg);
            for (size_t m = 0; m < i; m++)
                job_free(jobs[m]);
            return -1;
        }
    }
    return 0;
}

static int batch_parse(lp_http_req *r, const char *buf, size_t k, int64_t now, wk_job **jobs) {
    const char *code;
    char msg[480];
    if (batch_decode(buf, k, now, jobs, &code, msg, sizeof msg) == 0) return 0;
    lp_http_reply_error(r, code, !strcmp(code, WIRE_INVALID) ? JOBS_HINT : NULL, "%s", msg);
    return -1;
}

/* ---- decoding without a request (tests/fuzz) ---- */
int wk_job_decode(const char *body, size_t len, char *msg, size_t ms) {
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        snprintf(msg, ms, "out of memory");
        return -1;
    }
    if (len) memcpy(copy, body, len);
    const char *code = NULL;
    wk_job *j = job_parse_new(copy, len, 0, &code, msg, ms);
    if (!j) return -1;
    if (j->pre_code[0]) snprintf(msg, ms, "%s: %s", j->pre_code, j->pre_msg);
    int rc = j->pre_code[0] ? 1 : 0;
    job_free(j);
    return rc;
}

int wk_batch_decode(const char *buf, size_t len, char *msg, size_t ms) {
    const char *code, *hint;
    size_t k = batch_frame(buf, len, &code, &hint, msg, ms);
    if (!k) return -1;
    wk_job **jobs = calloc(k, sizeof *jobs);
    if (!jobs) {
        snprintf(msg, ms, "out of memory");
        return -1;
    }
    int rc = batch_decode(buf, k, 0, jobs, &code, msg, ms);
    if (rc == 0)
        for (size_t i = 0; i < k; i++)
            job_free(jobs[i]);
    free(jobs);
    return rc;
}

/* POST /v1/jobs/batch: K jobs in one request, each as POST /v1/jobs would run it; the answer holds
 * their results in request order (u32 LE M + the M bytes of the job's result). */
static void h_batch(lp_http_req *r, void *user) {
    lp_worker *w = user;
    int64_t now = lp_mono_ns();
    body_ctx *c = body_begin(w, r, "batch");
    if (!c) return;
    if (c->refused) {
        reply_refused(c, r);
        return;
    }
    size_t k = batch_count(r, c->buf, c->len);
    if (!k) return;
    wk_job **jobs = calloc(k, sizeof *jobs);
    refusal *why = calloc(k, sizeof *why);
    reply_src *s = jobs && why ? reply_new(w, k) : NULL; /* before running anything: no failure after */
    if (!s) {
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
    } else if (batch_parse(r, c->buf, k, now, jobs) != 0) {
        reply_free(s);
        s = NULL;
    }
    free(c->buf); /* the jobs have their copies */
    c->buf = NULL;
    if (s) {
        submit(c->q, jobs, why, k);
        queue_release(c);
        for (size_t i = 0; i < k; i++) {
            size_t len = jobs[i] ? jobs[i]->res_len : 0;
            const char *rec = jobs[i] ? jobs[i]->res : (s->own[i] = refusal_record(w, &why[i], &len));
            s->jobs[i] = jobs[i]; /* s drops the references */
            if (!rec) continue;
            put_le32(s->lens + 4 * i, len);
            add_piece(s, (const char *)s->lens + 4 * i, 4);
            add_piece(s, rec, len);
        }
        if (s->npieces == 2 * k) {
            reply_send(r, s, 1u << 20);
        } else {
            reply_free(s);
            lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        }
    }
    free(jobs);
    free(why);
}

int wk_jobs_route(lp_worker *w, lp_http_server *s) {
    int rc = lp_http_server_route_stream(s, "POST", "/v1/jobs", job_body, h_job, w);
    rc |= lp_http_server_route_stream(s, "POST", "/v1/jobs/batch", batch_body, h_batch, w);
    rc |= wk_output_route(w, s);
    return rc;
}

/* Wakes every waiter (they answer that the worker is going away). */
void wk_jobs_stop(lp_worker *w) {
    pthread_mutex_lock(&w->job_mu);
    w->stopping = 1;
    wake_all_locked(w);
    pthread_mutex_unlock(&w->job_mu);
}

void wk_jobs_wake(lp_worker *w) {
    pthread_mutex_lock(&w->job_mu);
    wake_all_locked(w);
    pthread_mutex_unlock(&w->job_mu);
}

/* Drops every session's jobs and the sessions (streams whose upgrade never ran may still name
 * one: the server, and so every request and stream, is gone). */
void wk_jobs_free(lp_worker *w) {
    pthread_mutex_lock(&w->job_mu);
    jobq_clear(w, &w->q0);
    while (w->sessions) {
        wk_jobq *q = w->sessions;
        w->sessions = q->next;
        jobq_clear(w, q);
        free(q);
    }
    w->nsessions = 0;
    pthread_mutex_unlock(&w->job_mu);
}
