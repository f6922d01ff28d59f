/* api_misc.c — small entry points that clients such as cuda.core call on every allocation or
 * launch: stream-capture queries (streams are never capturing: cuStreamBeginCapture is not offered,
 * all work runs when it is enqueued), the stream's id and device. Their per-thread-stream (_ptsz)
 * twins are in api_ptsz.c. */
#include "emu.h"

#include <cudaProfiler.h>

#include <stdlib.h>

#undef cuStreamGetCaptureInfo
EMU_API CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                        cuuint64_t *id_out);
EMU_API CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                           cuuint64_t *id_out, CUgraph *graph_out,
                                           const CUgraphNode **dependencies_out, size_t *numDependencies_out);
EMU_API CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                           cuuint64_t *id_out, CUgraph *graph_out,
                                           const CUgraphNode **dependencies_out,
                                           const CUgraphEdgeData **edgeData_out, size_t *numDependencies_out);

/* A stream argument that names a live stream, or one of the default streams, with a current
 * context; the context the stream belongs to is returned in *ctx. */
static CUresult stream_ctx(CUstream s, CUcontext *ctx) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (s == NULL || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD) {
        CUcontext c = ctx_current();
        if (!c) return CUDA_ERROR_INVALID_CONTEXT;
        *ctx = c;
        return CUDA_SUCCESS;
    }
    emu_lock();
    int ok = handle_live(H_STREAM, s);
    if (ok) *ctx = s->ctx;
    emu_unlock();
    return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

EMU_API CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus) {
    if (!captureStatus) return CUDA_ERROR_INVALID_VALUE;
    CUcontext c;
    CUresult r = stream_ctx(hStream, &c);
    if (r != CUDA_SUCCESS) return r;
    *captureStatus = CU_STREAM_CAPTURE_STATUS_NONE;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                           cuuint64_t *id_out, CUgraph *graph_out,
                                           const CUgraphNode **dependencies_out,
                                           const CUgraphEdgeData **edgeData_out,
                                           size_t *numDependencies_out) {
    if (!captureStatus_out) return CUDA_ERROR_INVALID_VALUE;
    CUcontext c;
    CUresult r = stream_ctx(hStream, &c);
    if (r != CUDA_SUCCESS) return r;
    *captureStatus_out = CU_STREAM_CAPTURE_STATUS_NONE;
    /* the other outputs are only defined while capturing; leave them zeroed */
    if (id_out) *id_out = 0;
    if (graph_out) *graph_out = NULL;
    if (dependencies_out) *dependencies_out = NULL;
    if (edgeData_out) *edgeData_out = NULL;
    if (numDependencies_out) *numDependencies_out = 0;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuStreamGetDevice(CUstream hStream, CUdevice *device) {
    if (!device) return CUDA_ERROR_INVALID_VALUE;
    CUcontext c;
    CUresult r = stream_ctx(hStream, &c);
    if (r != CUDA_SUCCESS) return r;
    *device = c->dev;
    return CUDA_SUCCESS;
}

/* Stream ids: the legacy and per-thread default streams have fixed ids (1 and 2); other streams
 * get the next number the first time they are asked for. A stream destroyed and then reused by a
 * new one at the same address before the next query keeps the old id. */
typedef struct ident {
    const void *p;
    int kind;
    unsigned long long id;
} ident;
static ident *g_ids;
static size_t g_nids, g_capids;
static unsigned long long g_next_id = 16;

static CUresult ident_of(int kind, const void *p, unsigned long long *out) {
    emu_lock();
    size_t k = 0;
    for (size_t i = 0; i < g_nids; i++) /* forget destroyed objects */
        if (handle_live(g_ids[i].kind, g_ids[i].p)) g_ids[k++] = g_ids[i];
    g_nids = k;
    for (size_t i = 0; i < g_nids; i++)
        if (g_ids[i].p == p && g_ids[i].kind == kind) {
            *out = g_ids[i].id;
            emu_unlock();
            return CUDA_SUCCESS;
        }
    ident *n = emu_grow(g_ids, &g_capids, g_nids, sizeof *g_ids, 16);
    if (!n) {
        emu_unlock();
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    g_ids = n;
    g_ids[g_nids++] = (ident){p, kind, g_next_id};
    *out = g_next_id++;
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuStreamGetId(CUstream hStream, unsigned long long *streamId) {
    if (!streamId) return CUDA_ERROR_INVALID_VALUE;
    CUcontext c;
    CUresult r = stream_ctx(hStream, &c);
    if (r != CUDA_SUCCESS) return r;
    if (hStream == NULL || hStream == CU_STREAM_LEGACY) {
        *streamId = 1;
        return CUDA_SUCCESS;
    }
    if (hStream == CU_STREAM_PER_THREAD) {
        *streamId = 2;
        return CUDA_SUCCESS;
    }
    return ident_of(H_STREAM, hStream, streamId);
}

EMU_API CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                        cuuint64_t *id_out) {
    return cuStreamGetCaptureInfo_v3(hStream, captureStatus_out, id_out, NULL, NULL, NULL, NULL);
}

EMU_API CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                           cuuint64_t *id_out, CUgraph *graph_out,
                                           const CUgraphNode **dependencies_out,
                                           size_t *numDependencies_out) {
    return cuStreamGetCaptureInfo_v3(hStream, captureStatus_out, id_out, graph_out, dependencies_out, NULL,
                                     numDependencies_out);
}

/* The profiler API (cudaProfiler.h; cudaProfilerStart/Stop in the runtime): there is no profiler to
 * start, and a program that brackets its hot loop with these must still run. */
EMU_API CUresult cuProfilerStart(void) { return emu_check_init(); }
EMU_API CUresult cuProfilerStop(void) { return emu_check_init(); }
