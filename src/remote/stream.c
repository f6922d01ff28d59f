/* stream.c — streams and events. Every stream of a device shares the device's queue (all streams
 * serialised in program order: a legal CUDA schedule, so cuStreamWaitEvent needs nothing); a
 * stream only remembers its context, flags and priority. An event record is an event step; its
 * time is the worker's clock when the step ran. */
#include <stdlib.h>

#include "remote.h"

struct CUstream_st {
    uint32_t magic;
    CUcontext ctx;
    int dev;
    unsigned flags;
    int priority;
};
#define RM_STREAM_MAGIC 0x5253544du

struct CUevent_st {
    uint32_t magic;
    rq_event *ev;
};
#define RM_EVENT_MAGIC 0x52455654u

static int is_default(CUstream s) { return s == NULL || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD; }

CUresult rm_stream_dev(CUstream s, int *dev) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (is_default(s)) return rm_current_dev(dev);
    if (s->magic != RM_STREAM_MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    *dev = s->dev;
    return CUDA_SUCCESS;
}

static rq_queue *queue(int dev) { return &g_rm.devs[dev].queue; }

RM_API CUresult cuStreamCreateWithPriority(CUstream *ph, unsigned int flags, int priority) {
    if (!ph || (flags & ~(unsigned)CU_STREAM_NON_BLOCKING)) return CUDA_ERROR_INVALID_VALUE;
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    struct CUstream_st *s = calloc(1, sizeof *s);
    if (!s) return CUDA_ERROR_OUT_OF_MEMORY;
    s->magic = RM_STREAM_MAGIC;
    s->dev = dev;
    cuCtxGetCurrent(&s->ctx);
    s->flags = flags;
    s->priority = priority > 0 ? 0 : priority < -5 ? -5 : priority;
    *ph = s;
    return CUDA_SUCCESS;
}

RM_API CUresult cuStreamCreate(CUstream *ph, unsigned int flags) {
    return cuStreamCreateWithPriority(ph, flags, 0);
}

RM_API CUresult cuStreamDestroy_v2(CUstream s) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (is_default(s) || s->magic != RM_STREAM_MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    /* its queued work still runs (CUDA lets a destroyed stream's work finish) */
    s->magic = 0;
    free(s);
    return CUDA_SUCCESS;
}

#undef cuStreamDestroy
CUresult cuStreamDestroy(CUstream s);
RM_API CUresult cuStreamDestroy(CUstream s) { return cuStreamDestroy_v2(s); }

RM_API CUresult cuStreamGetFlags(CUstream s, unsigned int *flags) {
    int dev;
    CUresult rc = rm_stream_dev(s, &dev);
    if (rc) return rc;
    if (!flags) return CUDA_ERROR_INVALID_VALUE;
    *flags = is_default(s) ? 0 : s->flags;
    return CUDA_SUCCESS;
}

RM_API CUresult cuStreamGetPriority(CUstream s, int *priority) {
    int dev;
    CUresult rc = rm_stream_dev(s, &dev);
    if (rc) return rc;
    if (!priority) return CUDA_ERROR_INVALID_VALUE;
    *priority = is_default(s) ? 0 : s->priority;
    return CUDA_SUCCESS;
}

RM_API CUresult cuStreamGetId(CUstream s, unsigned long long *id) {
    int dev;
    CUresult rc = rm_stream_dev(s, &dev);
    if (rc) return rc;
    if (!id) return CUDA_ERROR_INVALID_VALUE;
    *id = is_default(s) ? (unsigned long long)(uintptr_t)s : (unsigned long long)(uintptr_t)s + 16;
    return CUDA_SUCCESS;
}

RM_API CUresult cuStreamGetCtx(CUstream s, CUcontext *pctx) {
    int dev;
    CUresult rc = rm_stream_dev(s, &dev);
    if (rc) return rc;
    if (!pctx) return CUDA_ERROR_INVALID_VALUE;
    if (is_default(s)) return cuCtxGetCurrent(pctx);
    *pctx = s->ctx;
    return CUDA_SUCCESS;
}

RM_API CUresult cuStreamGetCtx_v2(CUstream s, CUcontext *pctx, CUgreenCtx *pGreenCtx) {
    if (pGreenCtx) *pGreenCtx = NULL;
    return cuStreamGetCtx(s, pctx);
}

RM_API CUresult cuStreamGetDevice(CUstream s, CUdevice *device) {
    int dev;
    CUresult rc = rm_stream_dev(s, &dev);
    if (rc) return rc;
    if (!device) return CUDA_ERROR_INVALID_VALUE;
    *device = dev;
    return CUDA_SUCCESS;
}

RM_API CUresult cuStreamSynchronize(CUstream s) {
    int dev;
    CUresult rc = rm_stream_dev(s, &dev);
    if (rc) return rc;
    return rm_cu(rq_sync(queue(dev)));
}

RM_API CUresult cuStreamQuery(CUstream s) {
    int dev;
    CUresult rc = rm_stream_dev(s, &dev);
    if (rc) return rc;
    return rm_cu(rq_query(queue(dev)));
}

/* Stream capture (CUDA graphs) is not offered (cuStreamBeginCapture answers
 * CUDA_ERROR_NOT_SUPPORTED), so no stream is ever capturing; the CUDA runtime and CuPy ask before
 * every asynchronous copy. */
RM_API CUresult cuStreamIsCapturing(CUstream s, CUstreamCaptureStatus *status) {
    int dev;
    if (!status) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_stream_dev(s, &dev);
    if (rc) return rc;
    *status = CU_STREAM_CAPTURE_STATUS_NONE;
    return CUDA_SUCCESS;
}

RM_API CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned int flags) {
    int dev;
    CUresult rc = rm_stream_dev(s, &dev);
    if (rc) return rc;
    if (!e || e->magic != RM_EVENT_MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    /* one queue per device runs everything in program order: the event's work is already before
     * whatever this stream does next on the same device; another device's record must be complete */
    if (e->ev->queue && e->ev->queue != queue(dev)) return rm_cu(rq_event_sync(e->ev));
    return CUDA_SUCCESS;
}

/* ---- host functions ---- */

typedef struct host_call {
    int legacy; /* cuStreamAddCallback: fn(stream, status, user) */
    CUstream stream;
    CUstreamCallback cb;
    CUhostFn fn;
    void *user;
} host_call;

static void run_host_call(void *user, int status) {
    host_call *h = user;
    if (h->legacy)
        h->cb(h->stream, (CUresult)status, h->user);
    else
        h->fn(h->user);
    free(h);
}

static CUresult add_host_call(CUstream s, host_call *h) {
    int dev;
    CUresult rc = rm_stream_dev(s, &dev);
    if (!rc) rc = rm_cu(rq_host_fn_add(queue(dev), run_host_call, h));
    if (rc) free(h);
    return rc;
}

RM_API CUresult cuStreamAddCallback(CUstream s, CUstreamCallback cb, void *user, unsigned int flags) {
    if (!cb || flags != 0) return CUDA_ERROR_INVALID_VALUE;
    host_call *h = calloc(1, sizeof *h);
    if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
    h->legacy = 1;
    h->stream = s;
    h->cb = cb;
    h->user = user;
    return add_host_call(s, h);
}

RM_API CUresult cuLaunchHostFunc(CUstream s, CUhostFn fn, void *user) {
    if (!fn) return CUDA_ERROR_INVALID_VALUE;
    host_call *h = calloc(1, sizeof *h);
    if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
    h->fn = fn;
    h->user = user;
    return add_host_call(s, h);
}

/* ---- events ---- */

RM_API CUresult cuEventCreate(CUevent *ph, unsigned int flags) {
    if (!ph) return CUDA_ERROR_INVALID_VALUE;
    if (flags & ~(unsigned)(CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS))
        return CUDA_ERROR_INVALID_VALUE;
    if (flags & CU_EVENT_INTERPROCESS) {
        rm_refused("cuEventCreate", "interprocess events");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    struct CUevent_st *e = calloc(1, sizeof *e);
    if (!e || !(e->ev = rq_event_new(flags))) {
        free(e);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    e->magic = RM_EVENT_MAGIC;
    *ph = e;
    return CUDA_SUCCESS;
}

RM_API CUresult cuEventDestroy_v2(CUevent e) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (!e || e->magic != RM_EVENT_MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    e->magic = 0;
    rq_event_release(e->ev);
    free(e);
    return CUDA_SUCCESS;
}

#undef cuEventDestroy
CUresult cuEventDestroy(CUevent e);
RM_API CUresult cuEventDestroy(CUevent e) { return cuEventDestroy_v2(e); }

RM_API CUresult cuEventRecord(CUevent e, CUstream s) {
    int dev;
    CUresult rc = rm_stream_dev(s, &dev);
    if (rc) return rc;
    if (!e || e->magic != RM_EVENT_MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    return rm_cu(rq_event_record(queue(dev), e->ev));
}

RM_API CUresult cuEventRecordWithFlags(CUevent e, CUstream s, unsigned int flags) {
    if (flags & ~(unsigned)CU_EVENT_RECORD_EXTERNAL) return CUDA_ERROR_INVALID_VALUE;
    return cuEventRecord(e, s);
}

RM_API CUresult cuEventQuery(CUevent e) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (!e || e->magic != RM_EVENT_MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    return rm_cu(rq_event_query(e->ev));
}

RM_API CUresult cuEventSynchronize(CUevent e) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (!e || e->magic != RM_EVENT_MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    return rm_cu(rq_event_sync(e->ev));
}

RM_API CUresult cuEventElapsedTime_v2(float *ms, CUevent start, CUevent end) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (!ms) return CUDA_ERROR_INVALID_VALUE;
    if (!start || start->magic != RM_EVENT_MAGIC || !end || end->magic != RM_EVENT_MAGIC)
        return CUDA_ERROR_INVALID_HANDLE;
    if ((start->ev->flags | end->ev->flags) & CU_EVENT_DISABLE_TIMING) return CUDA_ERROR_INVALID_HANDLE;
    return rm_cu(rq_event_elapsed(start->ev, end->ev, ms));
}

#undef cuEventElapsedTime
CUresult cuEventElapsedTime(float *ms, CUevent start, CUevent end);
RM_API CUresult cuEventElapsedTime(float *ms, CUevent start, CUevent end) {
    return cuEventElapsedTime_v2(ms, start, end);
}
