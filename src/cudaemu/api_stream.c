/* api_stream.c — streams and events. All work runs when it is enqueued, so a stream is always
 * idle, an event completes when recorded, and the ordering guarantees hold trivially; the API
 * still validates handles and reports timing and state like the real driver. A kernel's execution
 * error does not fail its launch: it poisons the context, and the synchronising calls here
 * (stream/event synchronize and query) are where programs see it, as on a GPU. */
#include "emu.h"

#include <stdlib.h>

CUresult stream_check(CUstream s, CUcontext ctx) {
    if (s == NULL || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD) return CUDA_SUCCESS;
    emu_lock();
    int ok = handle_live(H_STREAM, s) && s->ctx == ctx;
    emu_unlock();
    return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; /* the entry point that asked says so */
}

void stream_free_ctx(CUcontext ctx) {
    void *list[256];
    for (int kind = H_STREAM; kind <= H_EVENT; kind++) {
        for (;;) {
            size_t n = handle_list(kind, list, 256), k = n < 256 ? n : 256, freed = 0;
            for (size_t i = 0; i < k; i++) {
                CUcontext owner = kind == H_STREAM ? ((CUstream)list[i])->ctx : ((CUevent)list[i])->ctx;
                if (owner == ctx) {
                    handle_del(kind, list[i]);
                    free(list[i]);
                    freed++;
                }
            }
            if (!freed) break;
        }
    }
}

EMU_API CUresult cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority) {
    if (!phStream)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuStreamCreateWithPriority: phStream is NULL; pass where to store the stream");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (flags & ~(unsigned)CU_STREAM_NON_BLOCKING)
        return EMU_REFUSE(
            CUDA_ERROR_INVALID_VALUE,
            "cuStreamCreateWithPriority: flags 0x%x: only CU_STREAM_DEFAULT or CU_STREAM_NON_BLOCKING",
            flags);
    CUstream s = calloc(1, sizeof *s);
    if (!s) return CUDA_ERROR_OUT_OF_MEMORY;
    s->ctx = c;
    s->flags = flags;
    s->priority = priority > 0 ? 0 : priority < -5 ? -5 : priority;
    emu_lock();
    handle_add(H_STREAM, s);
    emu_unlock();
    *phStream = s;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags) {
    return cuStreamCreateWithPriority(phStream, Flags, 0);
}

EMU_API CUresult cuStreamDestroy(CUstream hStream) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if (!handle_live(H_STREAM, hStream)) {
        emu_unlock();
        return EMU_REFUSE(CUDA_ERROR_INVALID_HANDLE,
                          "cuStreamDestroy: %p is not a live stream (destroyed, or never created)",
                          (void *)hStream);
    }
    handle_del(H_STREAM, hStream);
    emu_unlock();
    free(hStream);
    return CUDA_SUCCESS;
}

#undef cuStreamDestroy
EMU_API CUresult cuStreamDestroy(CUstream hStream);
EMU_API CUresult cuStreamDestroy(CUstream hStream) { return cuStreamDestroy_v2(hStream); }

static CUresult stream_sync(CUstream hStream, const char *entry) {
    CUcontext c;
    CUresult r = ctx_check_at(&c, entry);
    if (r != CUDA_SUCCESS) return r;
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS)
        return EMU_REFUSE(r, "%s: hStream %p is not a live stream of the current context", entry,
                          (void *)hStream);
    return CUDA_SUCCESS;
}

EMU_API CUresult cuStreamQuery(CUstream hStream) { return stream_sync(hStream, "cuStreamQuery"); }

EMU_API CUresult cuStreamSynchronize(CUstream hStream) { return stream_sync(hStream, "cuStreamSynchronize"); }

EMU_API CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS)
        return EMU_REFUSE(r, "cuStreamWaitEvent: hStream %p is not a live stream of the current context",
                          (void *)hStream);
    if (Flags & ~1u)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuStreamWaitEvent: Flags 0x%x: only 0 or CU_EVENT_WAIT_EXTERNAL", Flags);
    emu_lock();
    int ok = handle_live(H_EVENT, hEvent);
    emu_unlock();
    return ok ? CUDA_SUCCESS
              : EMU_REFUSE(CUDA_ERROR_INVALID_HANDLE, "cuStreamWaitEvent: %p is not a live event",
                           (void *)hEvent);
}

EMU_API CUresult cuStreamGetFlags(CUstream hStream, unsigned int *flags) {
    if (!flags)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuStreamGetFlags: flags is NULL; pass where to store them");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS)
        return EMU_REFUSE(r, "cuStreamGetFlags: hStream %p is not a live stream of the current context",
                          (void *)hStream);
    *flags = (hStream == NULL || hStream == CU_STREAM_LEGACY || hStream == CU_STREAM_PER_THREAD)
                 ? 0
                 : hStream->flags;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuStreamGetPriority(CUstream hStream, int *priority) {
    if (!priority)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuStreamGetPriority: priority is NULL; pass where to store it");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS)
        return EMU_REFUSE(r, "cuStreamGetPriority: hStream %p is not a live stream of the current context",
                          (void *)hStream);
    *priority = (hStream == NULL || hStream == CU_STREAM_LEGACY || hStream == CU_STREAM_PER_THREAD)
                    ? 0
                    : hStream->priority;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuStreamGetCtx(CUstream hStream, CUcontext *pctx) {
    if (!pctx)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuStreamGetCtx: pctx is NULL; pass where to store the context");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS)
        return EMU_REFUSE(r, "cuStreamGetCtx: hStream %p is not a live stream of the current context",
                          (void *)hStream);
    *pctx = c;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuStreamGetCtx_v2(CUstream hStream, CUcontext *pCtx, CUgreenCtx *pGreenCtx) {
    CUresult r = cuStreamGetCtx(hStream, pCtx);
    if (r == CUDA_SUCCESS && pGreenCtx) *pGreenCtx = NULL;
    return r;
}

/* After a kernel poisoned the context a host function is not run (the documented contrast with
 * cuStreamAddCallback) and the sticky error is returned. */
EMU_API CUresult cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData) {
    if (!fn)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuLaunchHostFunc: fn is NULL; pass the host function to run");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS)
        return EMU_REFUSE(r, "cuLaunchHostFunc: hStream %p is not a live stream of the current context",
                          (void *)hStream);
    fn(userData);
    return CUDA_SUCCESS;
}

EMU_API CUresult cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void *userData,
                                     unsigned int flags) {
    if (!callback)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuStreamAddCallback: callback is NULL; pass the function to call");
    if (flags != 0)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "cuStreamAddCallback: flags %u: must be 0", flags);
    /* "For each cuStreamAddCallback call, the callback will be executed exactly once", with the
     * stream's persistent error as its status: after a kernel fault the callback still runs and is
     * told so; the error itself is returned by the synchronising calls. */
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    CUcontext c = ctx_current();
    CUresult status = c ? c->sticky : CUDA_SUCCESS;
    emu_unlock();
    if (!c)
        return EMU_REFUSE(CUDA_ERROR_INVALID_CONTEXT,
                          "cuStreamAddCallback: no current context; make one current first");
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS)
        return EMU_REFUSE(r, "cuStreamAddCallback: hStream %p is not a live stream of the current context",
                          (void *)hStream);
    callback(hStream, status, userData);
    return CUDA_SUCCESS;
}

/* ---- events ---- */
EMU_API CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags) {
    if (!phEvent)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuEventCreate: phEvent is NULL; pass where to store the event");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (Flags & ~(unsigned)(CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS))
        return EMU_REFUSE(
            CUDA_ERROR_INVALID_VALUE,
            "cuEventCreate: Flags 0x%x: only CU_EVENT_BLOCKING_SYNC, CU_EVENT_DISABLE_TIMING and "
            "CU_EVENT_INTERPROCESS",
            Flags);
    if ((Flags & CU_EVENT_INTERPROCESS) && !(Flags & CU_EVENT_DISABLE_TIMING))
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuEventCreate: CU_EVENT_INTERPROCESS needs CU_EVENT_DISABLE_TIMING too");
    CUevent e = calloc(1, sizeof *e);
    if (!e) return CUDA_ERROR_OUT_OF_MEMORY;
    e->ctx = c;
    e->flags = Flags;
    emu_lock();
    handle_add(H_EVENT, e);
    emu_unlock();
    *phEvent = e;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuEventDestroy(CUevent hEvent) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if (!handle_live(H_EVENT, hEvent)) {
        emu_unlock();
        return EMU_REFUSE(CUDA_ERROR_INVALID_HANDLE,
                          "cuEventDestroy: %p is not a live event (destroyed, or never created)",
                          (void *)hEvent);
    }
    handle_del(H_EVENT, hEvent);
    emu_unlock();
    free(hEvent);
    return CUDA_SUCCESS;
}

#undef cuEventDestroy
EMU_API CUresult cuEventDestroy(CUevent hEvent);
EMU_API CUresult cuEventDestroy(CUevent hEvent) { return cuEventDestroy_v2(hEvent); }

EMU_API CUresult cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (flags & ~1u)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuEventRecordWithFlags: flags 0x%x: only 0 or CU_EVENT_RECORD_EXTERNAL", flags);
    emu_lock();
    int ok = handle_live(H_EVENT, hEvent);
    emu_unlock();
    if (!ok)
        return EMU_REFUSE(CUDA_ERROR_INVALID_HANDLE, "cuEventRecordWithFlags: %p is not a live event",
                          (void *)hEvent);
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS)
        return EMU_REFUSE(r, "cuEventRecordWithFlags: hStream %p is not a live stream of the current context",
                          (void *)hStream);
    if (hEvent->ctx != c)
        return EMU_REFUSE(CUDA_ERROR_INVALID_HANDLE,
                          "cuEventRecordWithFlags: the event belongs to another context; record it there");
    hEvent->recorded = 1;
    hEvent->t_ms = emu_now_ms();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuEventRecord(CUevent hEvent, CUstream hStream) {
    return cuEventRecordWithFlags(hEvent, hStream, 0);
}

static CUresult event_sync(CUevent hEvent, const char *entry) {
    CUresult r = ctx_check_at(NULL, entry);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    int ok = handle_live(H_EVENT, hEvent);
    emu_unlock();
    return ok ? CUDA_SUCCESS
              : EMU_REFUSE(CUDA_ERROR_INVALID_HANDLE, "%s: %p is not a live event", entry, (void *)hEvent);
}

EMU_API CUresult cuEventQuery(CUevent hEvent) { return event_sync(hEvent, "cuEventQuery"); }

EMU_API CUresult cuEventSynchronize(CUevent hEvent) { return event_sync(hEvent, "cuEventSynchronize"); }

EMU_API CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd) {
    if (!pMilliseconds)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "cuEventElapsedTime: pMilliseconds is NULL");
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    int ok = handle_live(H_EVENT, hStart) && handle_live(H_EVENT, hEnd);
    emu_unlock();
    if (!ok)
        return EMU_REFUSE(CUDA_ERROR_INVALID_HANDLE,
                          "cuEventElapsedTime: hStart or hEnd is not a live event");
    if ((hStart->flags | hEnd->flags) & CU_EVENT_DISABLE_TIMING)
        return EMU_REFUSE(
            CUDA_ERROR_INVALID_HANDLE,
            "cuEventElapsedTime: an event was created with CU_EVENT_DISABLE_TIMING; create both "
            "without it to time");
    if (!hStart->recorded || !hEnd->recorded)
        return EMU_REFUSE(CUDA_ERROR_INVALID_HANDLE,
                          "cuEventElapsedTime: an event was never recorded; cuEventRecord both first");
    *pMilliseconds = (float)(hEnd->t_ms - hStart->t_ms);
    return CUDA_SUCCESS;
}

#undef cuEventElapsedTime
EMU_API CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd);
EMU_API CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd) {
    return cuEventElapsedTime_v2(pMilliseconds, hStart, hEnd);
}
