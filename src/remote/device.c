/* device.c — the lease's GPUs as CUDA devices (every query answered from the facts liblepton
 * fetched at cuInit: no round trip) and contexts: one primary context per device, created
 * contexts, and the thread-local current-context stack CUDA keeps. A context only names its
 * device: all work of a device shares its queue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_tables.h"
#include "remote.h"

#define RM_STACK_MAX 64
static _Thread_local struct CUctx_st *tl_stack[RM_STACK_MAX];
static _Thread_local int tl_depth;

CUresult rm_check_dev(CUdevice d) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    return d >= 0 && d < g_rm.ndev ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

static int ctx_alive(CUcontext c) { return c && c->magic == RM_CTX_MAGIC; }

CUresult rm_current_dev(int *dev) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (tl_depth == 0 || !ctx_alive(tl_stack[tl_depth - 1])) return CUDA_ERROR_INVALID_CONTEXT;
    *dev = tl_stack[tl_depth - 1]->dev;
    return CUDA_SUCCESS;
}

static int attr(int dev, int a) {
    if (a <= 0 || a >= LC_RAW_DEV_ATTRS) return LC_RAW_ATTR_UNKNOWN;
    return g_rm.devs[dev].facts->attrs[a];
}

/* ---- devices ---- */

RM_API CUresult cuDeviceGetCount(int *count) {
    if (!count) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_ready();
    if (rc) return rc;
    *count = g_rm.ndev;
    return CUDA_SUCCESS;
}

RM_API CUresult cuDeviceGet(CUdevice *device, int ordinal) {
    if (!device) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_check_dev(ordinal);
    if (rc) return rc;
    *device = ordinal;
    return CUDA_SUCCESS;
}

RM_API CUresult cuDeviceGetName(char *name, int len, CUdevice dev) {
    if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    snprintf(name, (size_t)len, "%s", g_rm.devs[dev].facts->name);
    return CUDA_SUCCESS;
}

/* Two GPUs of one lease that report the same identity (emulated ones can) still get distinct
 * answers: the lease index is mixed into the later one's. */
static int same_uuid_before(int dev) {
    for (int i = 0; i < dev; i++)
        if (memcmp(g_rm.devs[i].facts->uuid_bytes, g_rm.devs[dev].facts->uuid_bytes, 16) == 0) return 1;
    return 0;
}

RM_API CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev) {
    if (!uuid) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    memcpy(uuid->bytes, g_rm.devs[dev].facts->uuid_bytes, 16);
    if (same_uuid_before(dev)) uuid->bytes[15] ^= (char)(0x5a + dev);
    return CUDA_SUCCESS;
}

#undef cuDeviceGetUuid
CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev);
RM_API CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev) { return cuDeviceGetUuid_v2(uuid, dev); }

RM_API CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev) {
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    *bytes = (size_t)g_rm.devs[dev].facts->memory_total;
    return CUDA_SUCCESS;
}

RM_API CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute a, CUdevice dev) {
    if (!pi) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    int v = attr(dev, (int)a);
    if (v == LC_RAW_ATTR_UNKNOWN) {
        if ((int)a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
            v = g_rm.devs[dev].facts->cc_major;
        else if ((int)a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
            v = g_rm.devs[dev].facts->cc_minor;
        else if ((int)a == CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING)
            v = 1;
        else
            return CUDA_ERROR_INVALID_VALUE; /* the worker's driver does not know it either */
    }
    /* what the remote driver cannot offer, whatever the GPU can */
    switch ((int)a) {
    case CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY:
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS:
    case CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS:
    case CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES:
    case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY:
    case CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_INTEGRATED:
    case CU_DEVICE_ATTRIBUTE_DIRECT_MANAGED_MEM_ACCESS_FROM_HOST:
    case CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM:
    case CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH:
    case CU_DEVICE_ATTRIBUTE_COOPERATIVE_MULTI_DEVICE_LAUNCH:
    case CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH:
    case CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_FABRIC_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_WIN32_HANDLE_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_WIN32_KMT_HANDLE_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_TIMELINE_SEMAPHORE_INTEROP_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_SPARSE_CUDA_ARRAY_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_DEFERRED_MAPPING_CUDA_ARRAY_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_GENERIC_COMPRESSION_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES:
    case CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HOST_NATIVE_ATOMIC_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HOST_NUMA_MEMORY_POOLS_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HOST_NUMA_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED:
    case CU_DEVICE_ATTRIBUTE_HOST_NUMA_MULTINODE_IPC_SUPPORTED:
        v = (int)a == CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED ? 1 : 0; /* registration is emulated */
        break;
    default:
        break;
    }
    *pi = v;
    return CUDA_SUCCESS;
}

RM_API CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice dev) {
    if (!major || !minor) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    *major = g_rm.devs[dev].facts->cc_major;
    *minor = g_rm.devs[dev].facts->cc_minor;
    return CUDA_SUCCESS;
}

static int attr_or(int dev, CUdevice_attribute a, int dflt) {
    int v = attr(dev, (int)a);
    return v == LC_RAW_ATTR_UNKNOWN ? dflt : v;
}

RM_API CUresult cuDeviceGetProperties(CUdevprop *p, CUdevice dev) {
    if (!p) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    memset(p, 0, sizeof *p);
    p->maxThreadsPerBlock = attr_or(dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024);
    p->maxThreadsDim[0] = attr_or(dev, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, 1024);
    p->maxThreadsDim[1] = attr_or(dev, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y, 1024);
    p->maxThreadsDim[2] = attr_or(dev, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z, 64);
    p->maxGridSize[0] = attr_or(dev, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, 0x7fffffff);
    p->maxGridSize[1] = attr_or(dev, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, 65535);
    p->maxGridSize[2] = attr_or(dev, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, 65535);
    p->sharedMemPerBlock = attr_or(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, 49152);
    p->totalConstantMemory = attr_or(dev, CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY, 65536);
    p->SIMDWidth = attr_or(dev, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 32);
    p->memPitch = attr_or(dev, CU_DEVICE_ATTRIBUTE_MAX_PITCH, 0x7fffffff);
    p->regsPerBlock = attr_or(dev, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK, 65536);
    p->clockRate = attr_or(dev, CU_DEVICE_ATTRIBUTE_CLOCK_RATE, 0);
    p->textureAlign = attr_or(dev, CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT, 512);
    return CUDA_SUCCESS;
}

RM_API CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev) {
    if (!pciBusId || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    int dom = attr_or(dev, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, 0),
        bus = attr_or(dev, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, dev),
        slot = attr_or(dev, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, 0);
    for (int i = 0; i < dev; i++) /* emulated GPUs may all claim one slot: keep the ids distinct */
        if (attr_or(i, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, 0) == dom &&
            attr_or(i, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, i) == bus &&
            attr_or(i, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, 0) == slot) {
            bus = (bus + dev) & 0xff;
            break;
        }
    snprintf(pciBusId, (size_t)len, "%04x:%02x:%02x.0", dom, bus, slot);
    return CUDA_SUCCESS;
}

RM_API CUresult cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId) {
    if (!dev || !pciBusId) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_ready();
    if (rc) return rc;
    for (int i = 0; i < g_rm.ndev; i++) {
        char id[32];
        cuDeviceGetPCIBusId(id, sizeof id, i);
        if (strcasecmp(id, pciBusId) == 0 || strcasecmp(id + 5, pciBusId) == 0) {
            *dev = i;
            return CUDA_SUCCESS;
        }
    }
    return CUDA_ERROR_INVALID_VALUE;
}

RM_API CUresult cuDeviceCanAccessPeer(int *can, CUdevice dev, CUdevice peer) {
    if (!can) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_check_dev(dev);
    if (!rc) rc = rm_check_dev(peer);
    if (rc) return rc;
    *can = 0; /* every device has its own worker: no peer mappings */
    return CUDA_SUCCESS;
}

/* ---- primary contexts ---- */

RM_API CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev) {
    if (!pctx) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    pthread_mutex_lock(&g_rm.mu);
    rm_device *d = &g_rm.devs[dev];
    d->primary_refs++;
    d->primary.magic = RM_CTX_MAGIC;
    d->primary.flags = d->primary_flags;
    *pctx = &d->primary;
    pthread_mutex_unlock(&g_rm.mu);
    return CUDA_SUCCESS;
}

RM_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    pthread_mutex_lock(&g_rm.mu);
    rm_device *d = &g_rm.devs[dev];
    if (d->primary_refs == 1) { /* the last release: the CUDA runtime's per-context state goes first */
        pthread_mutex_unlock(&g_rm.mu);
        xt_context_ended(&d->primary);
        pthread_mutex_lock(&g_rm.mu);
    }
    if (d->primary_refs == 0)
        rc = CUDA_ERROR_INVALID_CONTEXT;
    else
        d->primary_refs--;
    pthread_mutex_unlock(&g_rm.mu);
    /* the context stays usable: its device's memory and queue belong to the lease, not to it */
    return rc;
}

RM_API CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags) {
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    if (flags & ~(unsigned)(CU_CTX_SCHED_MASK | CU_CTX_LMEM_RESIZE_TO_MAX | CU_CTX_COREDUMP_ENABLE |
                            CU_CTX_USER_COREDUMP_ENABLE | CU_CTX_SYNC_MEMOPS))
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_rm.mu);
    g_rm.devs[dev].primary_flags = flags;
    g_rm.devs[dev].primary.flags = flags;
    pthread_mutex_unlock(&g_rm.mu);
    return CUDA_SUCCESS;
}

RM_API CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active) {
    if (!flags || !active) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    pthread_mutex_lock(&g_rm.mu);
    *flags = g_rm.devs[dev].primary_flags;
    *active = g_rm.devs[dev].primary_refs > 0;
    pthread_mutex_unlock(&g_rm.mu);
    return CUDA_SUCCESS;
}

RM_API CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev) {
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    /* finishes the device's work; memory stays (it belongs to the lease's worker, freed with it) */
    rc = rm_cu(rq_sync(&g_rm.devs[dev].queue));
    xt_context_ended(&g_rm.devs[dev].primary);
    pthread_mutex_lock(&g_rm.mu);
    g_rm.devs[dev].primary_refs = 0;
    g_rm.devs[dev].primary_flags = 0;
    pthread_mutex_unlock(&g_rm.mu);
    return rc;
}

#undef cuDevicePrimaryCtxRelease
#undef cuDevicePrimaryCtxSetFlags
#undef cuDevicePrimaryCtxReset
CUresult cuDevicePrimaryCtxRelease(CUdevice dev);
CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags);
CUresult cuDevicePrimaryCtxReset(CUdevice dev);
RM_API CUresult cuDevicePrimaryCtxRelease(CUdevice dev) { return cuDevicePrimaryCtxRelease_v2(dev); }
RM_API CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags) {
    return cuDevicePrimaryCtxSetFlags_v2(dev, flags);
}
RM_API CUresult cuDevicePrimaryCtxReset(CUdevice dev) { return cuDevicePrimaryCtxReset_v2(dev); }

/* ---- contexts ---- */

static CUresult ctx_new(CUcontext *pctx, unsigned flags, CUdevice dev) {
    if (!pctx) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_check_dev(dev);
    if (rc) return rc;
    struct CUctx_st *c = calloc(1, sizeof *c);
    if (!c) return CUDA_ERROR_OUT_OF_MEMORY;
    c->magic = RM_CTX_MAGIC;
    c->dev = dev;
    c->flags = flags;
    if (tl_depth == RM_STACK_MAX) {
        free(c);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    tl_stack[tl_depth++] = c;
    *pctx = c;
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags, CUdevice dev) {
    if (params && (params->execAffinityParams || params->cigParams)) {
        rm_refused("cuCtxCreate_v4", "execution affinity and CIG contexts");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    return ctx_new(pctx, flags, dev);
}

CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams, unsigned int flags,
                        CUdevice dev);
CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev);
RM_API CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                               unsigned int flags, CUdevice dev) {
    if (paramsArray && numParams > 0) {
        rm_refused("cuCtxCreate_v3", "execution affinity");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    return ctx_new(pctx, flags, dev);
}

RM_API CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev) {
    return ctx_new(pctx, flags, dev);
}

RM_API CUresult cuCtxDestroy_v2(CUcontext ctx) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (!ctx_alive(ctx) || ctx->primary) return CUDA_ERROR_INVALID_CONTEXT;
    rc = rm_cu(rq_sync(&g_rm.devs[ctx->dev].queue));
    xt_context_ended(ctx);
    for (int i = 0; i < tl_depth; i++)
        if (tl_stack[i] == ctx) {
            memmove(&tl_stack[i], &tl_stack[i + 1], (size_t)(tl_depth - i - 1) * sizeof tl_stack[0]);
            tl_depth--;
            i--;
        }
    ctx->magic = 0;
    free(ctx);
    return rc;
}

RM_API CUresult cuCtxPushCurrent_v2(CUcontext ctx) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (!ctx_alive(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
    if (tl_depth == RM_STACK_MAX) return CUDA_ERROR_OUT_OF_MEMORY;
    tl_stack[tl_depth++] = ctx;
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxPopCurrent_v2(CUcontext *pctx) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (tl_depth == 0) return CUDA_ERROR_INVALID_CONTEXT;
    CUcontext c = tl_stack[--tl_depth];
    if (pctx) *pctx = c;
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxSetCurrent(CUcontext ctx) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (!ctx) {
        if (tl_depth) tl_depth--;
        return CUDA_SUCCESS;
    }
    if (!ctx_alive(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
    if (tl_depth == 0) tl_depth = 1;
    tl_stack[tl_depth - 1] = ctx;
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxGetCurrent(CUcontext *pctx) {
    if (!pctx) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_ready();
    if (rc) return rc;
    *pctx = tl_depth ? tl_stack[tl_depth - 1] : NULL;
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxGetDevice(CUdevice *device) {
    if (!device) return CUDA_ERROR_INVALID_VALUE;
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    *device = dev;
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx) {
    if (!ctx) return cuCtxGetDevice(device);
    if (!device) return CUDA_ERROR_INVALID_VALUE;
    if (!ctx_alive(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
    *device = ctx->dev;
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxSynchronize(void) {
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    return rm_cu(rq_sync(&g_rm.devs[dev].queue));
}

RM_API CUresult cuCtxSynchronize_v2(CUcontext ctx) {
    if (!ctx) return cuCtxSynchronize();
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (!ctx_alive(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
    return rm_cu(rq_sync(&g_rm.devs[ctx->dev].queue));
}

RM_API CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version) {
    if (!version) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (ctx && !ctx_alive(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
    *version = 3020;
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxGetFlags(unsigned int *flags) {
    if (!flags) return CUDA_ERROR_INVALID_VALUE;
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    *flags = tl_stack[tl_depth - 1]->flags;
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxSetFlags(unsigned int flags) {
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    tl_stack[tl_depth - 1]->flags = flags;
    return CUDA_SUCCESS;
}

static size_t limit_default(CUlimit l) {
    switch (l) {
    case CU_LIMIT_STACK_SIZE:
        return 1024;
    case CU_LIMIT_PRINTF_FIFO_SIZE:
        return 1 << 20;
    case CU_LIMIT_MALLOC_HEAP_SIZE:
        return 8 << 20;
    case CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH:
        return 2;
    case CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT:
        return 2048;
    case CU_LIMIT_MAX_L2_FETCH_GRANULARITY:
        return 32;
    default:
        return 0;
    }
}

RM_API CUresult cuCtxGetLimit(size_t *value, CUlimit limit) {
    if (!value || (int)limit < 0 || (int)limit >= RM_MAX_LIMITS) return CUDA_ERROR_INVALID_VALUE;
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    size_t v = tl_stack[tl_depth - 1]->limits[limit];
    *value = v ? v : limit_default(limit);
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxSetLimit(CUlimit limit, size_t value) {
    if ((int)limit < 0 || (int)limit >= RM_MAX_LIMITS) return CUDA_ERROR_INVALID_VALUE;
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    /* kept locally: the worker's context uses its defaults (docs/remote.md) */
    tl_stack[tl_depth - 1]->limits[limit] = value;
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxGetCacheConfig(CUfunc_cache *config) {
    if (!config) return CUDA_ERROR_INVALID_VALUE;
    *config = CU_FUNC_CACHE_PREFER_NONE;
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxSetCacheConfig(CUfunc_cache config) { return CUDA_SUCCESS; }

RM_API CUresult cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority) {
    if (leastPriority) *leastPriority = 0;
    if (greatestPriority) *greatestPriority = -5;
    return CUDA_SUCCESS;
}

RM_API CUresult cuCtxGetId(CUcontext ctx, unsigned long long *id) {
    if (!id) return CUDA_ERROR_INVALID_VALUE;
    if (!ctx) {
        if (!tl_depth) return CUDA_ERROR_INVALID_CONTEXT;
        ctx = tl_stack[tl_depth - 1];
    }
    if (!ctx_alive(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
    *id = (unsigned long long)(uintptr_t)ctx;
    return CUDA_SUCCESS;
}

#undef cuCtxDestroy
#undef cuCtxPushCurrent
#undef cuCtxPopCurrent
#undef cuCtxCreate
CUresult cuCtxDestroy(CUcontext ctx);
CUresult cuCtxPushCurrent(CUcontext ctx);
CUresult cuCtxPopCurrent(CUcontext *pctx);
CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev);
RM_API CUresult cuCtxDestroy(CUcontext ctx) { return cuCtxDestroy_v2(ctx); }
RM_API CUresult cuCtxPushCurrent(CUcontext ctx) { return cuCtxPushCurrent_v2(ctx); }
RM_API CUresult cuCtxPopCurrent(CUcontext *pctx) { return cuCtxPopCurrent_v2(pctx); }
RM_API CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev) {
    return ctx_new(pctx, flags, dev);
}
