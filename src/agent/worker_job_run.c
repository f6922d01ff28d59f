/* worker_job_run.c — running one job on the GPU (worker.h): its launch, memset, copy, write, read
 * and event steps in order, on the calling thread with the CUDA context current, then its result
 * (the result JSON, then the bytes its read steps fetched).
 *
 * A kernel's execution error (fault, trap, assert) does not fail its launch: as on any GPU it
 * surfaces at the next call that waits for the kernel (a read or write step, a later launch, or the
 * synchronisation that ends a job with launches). The job's error is the kernel's: at the step of
 * its launch, naming it, and saying which later step reported it. A sticky error poisons the
 * worker (wk_poison). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "wire.h"
#include "wire_job.h"
#include "worker.h"

#define RES_HDR                                                                                              \
    (4 + WIRE_JOB_MAX_RESULT) /* room reserved for u32 + the result JSON before the read bytes               \
                               */

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

void wk_job_execute(lp_worker *w, wk_jobq *q, wk_job *j) {
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
    size_t tl = wk_job_result_json(w, text, sizeof text, j->seq, o.code ? o.code : "ok", o.msg,
                                   o.code ? o.step : -1, j->queued_ns, j->started_ns, j->ended_ns,
                                   wk_is_poisoned(w), events, o.code ? 0 : nevents, output, j->binary);
    if (!j->res_base) j->res_base = malloc(RES_HDR);
    if (!tl) {
        static const char bad[] = "{\"status\":\"internal\",\"error\":\"cannot encode the job result\"}";
        memcpy(text, bad, sizeof bad - 1);
        tl = sizeof bad - 1;
    }
    size_t data_len = o.code ? 0 : (size_t)j->read_total;
    if (j->res_base) {
        j->res = j->res_base + RES_HDR - tl - 4;
        wire_put_le32(j->res, (uint32_t)tl);
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
