/* api_ctx.c — contexts: primary contexts (retain/release/reset/state), created contexts, the
 * per-thread current-context stack, limits, synchronisation and sticky (poisoned) errors. */
#include "emu.h"
#include "export_tables.h"
#include "tex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTX_STACK_MAX 64
static __thread CUcontext t_stack[CTX_STACK_MAX];
static __thread int t_depth;

CUcontext ctx_current(void) {
    if (t_depth <= 0) return NULL;
    CUcontext c = t_stack[t_depth - 1];
    return handle_live(H_CTX, c) ? c : NULL;
}

/* Helpers that check the context for a family of entry points are named after the family. */
static const char *entry_name(const char *fn) {
    static const struct {
        const char *helper, *entry;
    } map[] = {
        {"launch", "cuLaunchKernel"},
        {"do_copy", "cuMemcpy"},
        {"do_memset", "cuMemset"},
        {"copy2d", "cuMemcpy2D"},
        {"set2d", "cuMemset2D"},
        {"advise", "cuMemAdvise"},
        {"prefetch", "cuMemPrefetchAsync"},
        {"legacy_func", "cuFuncSetBlockShape/cuParamSet*/cuLaunch*"},
        {"host_release", "cuMemFreeHost/cuMemHostUnregister"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(fn, map[i].helper)) return map[i].entry;
    /* programs call cuMemAlloc, not cuMemAlloc_v2 */
    static __thread char plain[64];
    size_t n = strlen(fn);
    if (n > 3 && n < sizeof plain && !strcmp(fn + n - 3, "_v2")) {
        memcpy(plain, fn, n - 3);
        plain[n - 3] = 0;
        return plain;
    }
    return fn;
}

CUresult ctx_check_at(CUcontext *out, const char *entry) {
    if (out) *out = NULL; /* callers test it: set on every path, refusals included */
    CUresult r = emu_check_init();
    if (r == CUDA_ERROR_NOT_INITIALIZED)
        return EMU_REFUSE(r, "%s: cuInit has not been called; call cuInit(0) first", entry_name(entry));
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    CUcontext c = ctx_current();
    CUresult res = CUDA_SUCCESS;
    char why[sizeof c->sticky_msg];
    why[0] = 0;
    if (!c)
        res = CUDA_ERROR_INVALID_CONTEXT;
    else if (c->sticky != CUDA_SUCCESS) {
        res = c->sticky;
        memcpy(why, c->sticky_msg, sizeof why);
    }
    emu_unlock();
    if (out) *out = c;
    if (res == CUDA_ERROR_INVALID_CONTEXT)
        emu_set_detail(
            "%s: no current context; call cuCtxCreate, cuCtxSetCurrent or cuDevicePrimaryCtxRetain first",
            entry_name(entry));
    else if (res != CUDA_SUCCESS) {
        const char *name = "CUDA_ERROR";
        cuGetErrorName(res, &name);
        emu_set_detail(
            "%s: %s from an earlier launch (%s); the context is unusable: destroy it (cuCtxDestroy) "
            "or reset the primary context (cuDevicePrimaryCtxReset) and start again",
            entry_name(entry), name, why[0] ? why : "a kernel failed");
    }
    return res;
}

void ctx_poison(CUcontext ctx, CUresult err, const char *why) {
    if (!ctx || ctx->sticky != CUDA_SUCCESS) return;
    ctx->sticky = err;
    snprintf(ctx->sticky_msg, sizeof ctx->sticky_msg, "%s", why ? why : "");
}

int emu_is_execution_error(CUresult r) {
    switch (r) {
    case CUDA_ERROR_ILLEGAL_ADDRESS:
    case CUDA_ERROR_MISALIGNED_ADDRESS:
    case CUDA_ERROR_LAUNCH_FAILED:
    case CUDA_ERROR_LAUNCH_TIMEOUT:
    case CUDA_ERROR_ASSERT:
    case CUDA_ERROR_ILLEGAL_INSTRUCTION:
    case CUDA_ERROR_INVALID_PC:
    case CUDA_ERROR_INVALID_ADDRESS_SPACE:
    case CUDA_ERROR_HARDWARE_STACK_ERROR:
        return 1;
    default:
        return 0;
    }
}

void ctx_release_resources(CUcontext ctx) {
    stream_free_ctx(ctx);
    module_free_ctx(ctx);
    vm_free_ctx(ctx);
    texobj_free_ctx(ctx); /* textures, surfaces and arrays (tex.h) */
    array_free_ctx(ctx);
}

static CUcontext ctx_new(CUdevice dev, unsigned flags, int primary) {
    CUcontext c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->dev = dev;
    c->flags = flags;
    c->is_primary = primary;
    c->limit_stack = 1024;
    c->limit_printf = 1 << 20;
    c->limit_heap = 8 << 20;
    c->limit_sync_depth = 2;
    c->limit_pending = 2048;
    c->limit_l2_fetch = 64;
    static unsigned long long next_id;
    c->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    return c;
}

static void stack_remove(CUcontext c) {
    /* only this thread's stack can be cleaned; other threads see a dead handle */
    int j = 0;
    for (int i = 0; i < t_depth; i++)
        if (t_stack[i] != c) t_stack[j++] = t_stack[i];
    t_depth = j;
}

static CUresult push(CUcontext c) {
    if (t_depth >= CTX_STACK_MAX)
        return EMU_REFUSE(
            CUDA_ERROR_OUT_OF_MEMORY,
            "cuCtxPushCurrent: the thread's context stack is full (%d); pop contexts you no longer use",
            CTX_STACK_MAX);
    t_stack[t_depth++] = c;
    return CUDA_SUCCESS;
}

static CUresult ctx_create_common(CUcontext *pctx, unsigned flags, CUdevice dev) {
    if (!pctx)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuCtxCreate: pctx is NULL; pass where to store the context");
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (dev < 0 || dev >= g_emu.ndev)
        return EMU_REFUSE(CUDA_ERROR_INVALID_DEVICE, "cuCtxCreate: device %d does not exist (%d configured)",
                          dev, g_emu.ndev);
    if (flags & ~0x1ffu)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "cuCtxCreate: flags 0x%x: only CU_CTX_* bits (0x1ff)",
                          flags);
    emu_lock();
    CUcontext c = ctx_new(dev, flags, 0);
    if (!c) {
        emu_unlock();
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    handle_add(H_CTX, c);
    r = push(c);
    if (r != CUDA_SUCCESS) {
        handle_del(H_CTX, c);
        free(c);
        emu_unlock();
        return r;
    }
    *pctx = c;
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuCtxCreate(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags, CUdevice dev) {
    if (params && (params->numExecAffinityParams > 0 || params->cigParams))
        return EMU_REFUSE(CUDA_ERROR_NOT_SUPPORTED,
                          "cuCtxCreate: execution affinity and CIG parameters are not supported by cudaemu; "
                          "pass params NULL");
    return ctx_create_common(pctx, flags, dev);
}

#undef cuCtxCreate
EMU_API CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev);
EMU_API CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev);
EMU_API CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                                unsigned int flags, CUdevice dev);
EMU_API CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev) {
    return ctx_create_common(pctx, flags, dev);
}
EMU_API CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev) {
    return ctx_create_common(pctx, flags, dev);
}
EMU_API CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
                                unsigned int flags, CUdevice dev) {
    if (paramsArray && numParams > 0)
        return EMU_REFUSE(
            CUDA_ERROR_NOT_SUPPORTED,
            "cuCtxCreate_v3: execution affinity is not supported by cudaemu; pass no parameters");
    return ctx_create_common(pctx, flags, dev);
}

EMU_API CUresult cuCtxDestroy(CUcontext ctx) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if (!handle_live(H_CTX, ctx) || ctx->is_primary) {
        int primary = handle_live(H_CTX, ctx) && ctx->is_primary;
        emu_unlock();
        return EMU_REFUSE(CUDA_ERROR_INVALID_CONTEXT, "cuCtxDestroy: %s",
                          primary ? "a primary context is released "
                                    "(cuDevicePrimaryCtxRelease), not destroyed"
                                  : "not a live context (already destroyed?)");
    }
    emu_unlock();
    xt_context_ended(ctx); /* the CUDA runtime's per-context state goes first, while the context lives */
    emu_lock();
    if (handle_live(H_CTX, ctx)) {
        ctx_release_resources(ctx);
        handle_del(H_CTX, ctx);
        stack_remove(ctx);
        free(ctx);
    }
    emu_unlock();
    return CUDA_SUCCESS;
}

#undef cuCtxDestroy
EMU_API CUresult cuCtxDestroy(CUcontext ctx);
EMU_API CUresult cuCtxDestroy(CUcontext ctx) { return cuCtxDestroy_v2(ctx); }

EMU_API CUresult cuCtxPushCurrent(CUcontext ctx) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if (!handle_live(H_CTX, ctx)) {
        emu_unlock();
        return EMU_REFUSE(CUDA_ERROR_INVALID_CONTEXT, "cuCtxPushCurrent: %p is not a live context",
                          (void *)ctx);
    }
    r = push(ctx);
    emu_unlock();
    return r;
}

EMU_API CUresult cuCtxPopCurrent(CUcontext *pctx) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (t_depth <= 0)
        return EMU_REFUSE(CUDA_ERROR_INVALID_CONTEXT,
                          "cuCtxPopCurrent: this thread's context stack is empty");
    CUcontext c = t_stack[--t_depth];
    if (pctx) *pctx = c;
    return CUDA_SUCCESS;
}

#undef cuCtxPushCurrent
#undef cuCtxPopCurrent
EMU_API CUresult cuCtxPushCurrent(CUcontext ctx);
EMU_API CUresult cuCtxPopCurrent(CUcontext *pctx);
EMU_API CUresult cuCtxPushCurrent(CUcontext ctx) { return cuCtxPushCurrent_v2(ctx); }
EMU_API CUresult cuCtxPopCurrent(CUcontext *pctx) { return cuCtxPopCurrent_v2(pctx); }

EMU_API CUresult cuCtxSetCurrent(CUcontext ctx) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (!ctx) {
        if (t_depth > 0) t_depth--;
        return CUDA_SUCCESS;
    }
    emu_lock();
    int live = handle_live(H_CTX, ctx);
    emu_unlock();
    if (!live)
        return EMU_REFUSE(CUDA_ERROR_INVALID_CONTEXT, "cuCtxSetCurrent: %p is not a live context",
                          (void *)ctx);
    if (t_depth == 0) t_depth = 1;
    t_stack[t_depth - 1] = ctx;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuCtxGetCurrent(CUcontext *pctx) {
    if (!pctx)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuCtxGetCurrent: pctx is NULL; pass where to store the context");
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    *pctx = t_depth > 0 ? t_stack[t_depth - 1] : NULL;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuCtxGetDevice(CUdevice *device) {
    if (!device)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "cuCtxGetDevice: device is NULL; pass where to store it");
    CUcontext c;
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    c = ctx_current();
    if (c) *device = c->dev;
    emu_unlock();
    return c ? CUDA_SUCCESS
             : EMU_REFUSE(CUDA_ERROR_INVALID_CONTEXT,
                          "cuCtxGetDevice: no current context; make one current first");
}

EMU_API CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx) {
    if (!ctx) return cuCtxGetDevice(device);
    if (!device)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "cuCtxGetDevice: device is NULL; pass where to store it");
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    int live = handle_live(H_CTX, ctx);
    if (live) *device = ctx->dev;
    emu_unlock();
    return live ? CUDA_SUCCESS
                : EMU_REFUSE(CUDA_ERROR_INVALID_CONTEXT, "cuCtxGetDevice: %p is not a live context",
                             (void *)ctx);
}

EMU_API CUresult cuCtxGetFlags(unsigned int *flags) {
    if (!flags)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "cuCtxGetFlags: flags is NULL; pass where to store them");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (!c) return r;
    *flags = c->flags;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version) {
    if (!version)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuCtxGetApiVersion: version is NULL; pass where to store it");
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    int ok = ctx ? handle_live(H_CTX, ctx) : ctx_current() != NULL;
    emu_unlock();
    if (!ok)
        return EMU_REFUSE(CUDA_ERROR_INVALID_CONTEXT, "cuCtxGetApiVersion: %s",
                          ctx ? "not a live context" : "no current context");
    *version = 12010; /* the context API version real drivers report */
    return CUDA_SUCCESS;
}

EMU_API CUresult cuCtxSynchronize(void) {
    /* all work runs at enqueue time: synchronising reports the error a kernel left (sticky) */
    return ctx_check(NULL);
}

EMU_API CUresult cuCtxSynchronize_v2(CUcontext ctx) {
    if (!ctx) return cuCtxSynchronize();
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    int live = handle_live(H_CTX, ctx);
    r = live ? ctx->sticky : CUDA_ERROR_INVALID_CONTEXT;
    char why[sizeof ctx->sticky_msg];
    why[0] = 0;
    if (live) memcpy(why, ctx->sticky_msg, sizeof why);
    emu_unlock();
    if (r == CUDA_ERROR_INVALID_CONTEXT)
        emu_set_detail("cuCtxSynchronize_v2: the context is not live (destroyed or released)");
    else if (r != CUDA_SUCCESS) {
        const char *name = "CUDA_ERROR";
        cuGetErrorName(r, &name);
        emu_set_detail(
            "cuCtxSynchronize_v2: %s from an earlier launch (%s); the context is unusable: destroy it "
            "(cuCtxDestroy) or reset the primary context (cuDevicePrimaryCtxReset)",
            name, why);
    }
    return r;
}

/* The limit's slot in the context; NULL for limits this device does not have. */
static size_t *limit_slot(CUcontext c, CUlimit limit) {
    switch (limit) {
    case CU_LIMIT_STACK_SIZE:
        return &c->limit_stack;
    case CU_LIMIT_PRINTF_FIFO_SIZE:
        return &c->limit_printf;
    case CU_LIMIT_MALLOC_HEAP_SIZE:
        return &c->limit_heap;
    case CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH:
        return &c->limit_sync_depth;
    case CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT:
        return &c->limit_pending;
    case CU_LIMIT_MAX_L2_FETCH_GRANULARITY:
        return &c->limit_l2_fetch;
    case CU_LIMIT_PERSISTING_L2_CACHE_SIZE:
        return &c->limit_l2_persisting;
    default:
        return NULL;
    }
}

EMU_API CUresult cuCtxSetLimit(CUlimit limit, size_t value) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (limit == CU_LIMIT_SHMEM_SIZE || limit == CU_LIMIT_CIG_ENABLED)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "cuCtxSetLimit: limit %d can only be queried",
                          (int)limit);
    size_t *slot = limit_slot(c, limit);
    if (!slot)
        return EMU_REFUSE(CUDA_ERROR_UNSUPPORTED_LIMIT, "cuCtxSetLimit: limit %d is not supported",
                          (int)limit);
    if (limit == CU_LIMIT_MAX_L2_FETCH_GRANULARITY && value > 128)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "CU_LIMIT_MAX_L2_FETCH_GRANULARITY is at most 128 (got %zu)", value);
    if (limit == CU_LIMIT_PERSISTING_L2_CACHE_SIZE && value > 0)
        return EMU_REFUSE(
            CUDA_ERROR_UNSUPPORTED_LIMIT,
            "cuCtxSetLimit: no persisting L2 (CU_DEVICE_ATTRIBUTE_MAX_PERSISTING_L2_CACHE_SIZE is 0)");
    if (limit == CU_LIMIT_STACK_SIZE) value = (value + 15) / 16 * 16; /* the driver rounds the stack */
    *slot = value;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuCtxGetLimit(size_t *pvalue, CUlimit limit) {
    if (!pvalue)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuCtxGetLimit: pvalue is NULL; pass where to store the limit");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (limit == CU_LIMIT_SHMEM_SIZE) {
        *pvalue = 227u * 1024u;
        return CUDA_SUCCESS;
    }
    if (limit == CU_LIMIT_CIG_ENABLED || limit == CU_LIMIT_CIG_SHMEM_FALLBACK_ENABLED) {
        *pvalue = 0;
        return CUDA_SUCCESS;
    }
    size_t *slot = limit_slot(c, limit);
    if (!slot)
        return EMU_REFUSE(CUDA_ERROR_UNSUPPORTED_LIMIT, "cuCtxGetLimit: limit %d is not supported",
                          (int)limit);
    *pvalue = *slot;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuCtxGetCacheConfig(CUfunc_cache *pconfig) {
    if (!pconfig) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "pconfig is NULL");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    *pconfig = c->cache_config;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuCtxSetCacheConfig(CUfunc_cache config) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if ((unsigned)config > CU_FUNC_CACHE_PREFER_EQUAL)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "unknown CUfunc_cache %d", (int)config);
    c->cache_config = config; /* a preference only: there is no L1/shared split to change */
    return CUDA_SUCCESS;
}

EMU_API CUresult cuCtxGetSharedMemConfig(CUsharedconfig *pConfig) {
    if (!pConfig) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "pConfig is NULL");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    *pConfig = c->shmem_config ? c->shmem_config : CU_SHARED_MEM_CONFIG_FOUR_BYTE_BANK_SIZE;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuCtxSetSharedMemConfig(CUsharedconfig config) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if ((unsigned)config > CU_SHARED_MEM_CONFIG_EIGHT_BYTE_BANK_SIZE)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "unknown CUsharedconfig %d", (int)config);
    c->shmem_config = config; /* sm_90 has fixed 4-byte banks; the setting is recorded, as the driver does */
    return CUDA_SUCCESS;
}

EMU_API CUresult cuCtxSetFlags(unsigned int flags) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    /* the scheduling and sync-memops bits can change; map-host, lmem-resize and coredump bits cannot */
    if (flags & ~(0x7u | CU_CTX_SYNC_MEMOPS))
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuCtxSetFlags: only CU_CTX_SCHED_* and CU_CTX_SYNC_MEMOPS can change");
    if ((flags & 0x7u) == 3 || (flags & 0x7u) > 4)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "scheduling flags 0x%x: use one CU_CTX_SCHED_* value",
                          flags & 0x7u);
    emu_lock();
    c->flags = (c->flags & ~(0x7u | CU_CTX_SYNC_MEMOPS)) | flags;
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuCtxGetId(CUcontext ctx, unsigned long long *ctxId) {
    if (!ctxId) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "ctxId is NULL");
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    CUcontext c = ctx ? (handle_live(H_CTX, ctx) ? ctx : NULL) : ctx_current();
    if (c) *ctxId = c->id;
    emu_unlock();
    return c ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

EMU_API CUresult cuCtxResetPersistingL2Cache(void) { return ctx_check(NULL); /* no persisting lines exist */ }

EMU_API CUresult cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority) {
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    if (leastPriority) *leastPriority = 0;
    if (greatestPriority) *greatestPriority = -5;
    return CUDA_SUCCESS;
}

/* ---- primary contexts ---- */
EMU_API CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev) {
    if (!pctx)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuDevicePrimaryCtxRetain: pctx is NULL; pass where to store the context");
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (dev < 0 || dev >= g_emu.ndev)
        return EMU_REFUSE(CUDA_ERROR_INVALID_DEVICE,
                          "cuDevicePrimaryCtxRetain: device %d does not exist (%d configured)", dev,
                          g_emu.ndev);
    emu_lock();
    emu_device *d = &g_emu.dev[dev];
    if (!d->primary) {
        d->primary = ctx_new(dev, d->primary_flags, 1);
        if (!d->primary) {
            emu_unlock();
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
    }
    if (d->primary_refs++ == 0) handle_add(H_CTX, d->primary);
    *pctx = d->primary;
    emu_unlock();
    return CUDA_SUCCESS;
}

static CUresult primary_release(CUdevice dev) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (dev < 0 || dev >= g_emu.ndev)
        return EMU_REFUSE(CUDA_ERROR_INVALID_DEVICE,
                          "cuDevicePrimaryCtxRelease: device %d does not exist (%d configured)", dev,
                          g_emu.ndev);
    emu_lock();
    emu_device *d = &g_emu.dev[dev];
    if (d->primary_refs == 1) { /* the last release: the CUDA runtime's per-context state goes first */
        CUcontext primary = d->primary;
        emu_unlock();
        xt_context_ended(primary);
        emu_lock();
    }
    if (d->primary_refs <= 0) {
        emu_unlock();
        return EMU_REFUSE(
            CUDA_ERROR_INVALID_CONTEXT,
            "cuDevicePrimaryCtxRelease: the primary context of device %d is not retained; each release "
            "needs a retain",
            dev);
    }
    if (--d->primary_refs == 0) {
        /* the primary context is destroyed when its last user releases it */
        ctx_release_resources(d->primary);
        handle_del(H_CTX, d->primary);
        stack_remove(d->primary);
        d->primary->sticky = CUDA_SUCCESS;
        d->primary->sticky_msg[0] = 0;
    }
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuDevicePrimaryCtxRelease(CUdevice dev) { return primary_release(dev); }

static CUresult primary_reset(CUdevice dev) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (dev < 0 || dev >= g_emu.ndev)
        return EMU_REFUSE(CUDA_ERROR_INVALID_DEVICE,
                          "cuDevicePrimaryCtxReset: device %d does not exist (%d configured)", dev,
                          g_emu.ndev);
    emu_lock();
    emu_device *d = &g_emu.dev[dev];
    if (d->primary) {
        CUcontext primary = d->primary;
        emu_unlock();
        xt_context_ended(primary);
        emu_lock();
        ctx_release_resources(d->primary);
        d->primary->sticky = CUDA_SUCCESS;
        d->primary->sticky_msg[0] = 0;
    }
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuDevicePrimaryCtxReset(CUdevice dev) { return primary_reset(dev); }

static CUresult primary_set_flags(CUdevice dev, unsigned int flags) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (dev < 0 || dev >= g_emu.ndev)
        return EMU_REFUSE(CUDA_ERROR_INVALID_DEVICE,
                          "cuDevicePrimaryCtxSetFlags: device %d does not exist (%d configured)", dev,
                          g_emu.ndev);
    if (flags & ~0x1ffu)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "cuDevicePrimaryCtxSetFlags: flags 0x%x: only CU_CTX_* bits (0x1ff)", flags);
    emu_lock();
    g_emu.dev[dev].primary_flags = flags;
    if (g_emu.dev[dev].primary) g_emu.dev[dev].primary->flags = flags;
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags) {
    return primary_set_flags(dev, flags);
}

#undef cuDevicePrimaryCtxRelease
#undef cuDevicePrimaryCtxReset
#undef cuDevicePrimaryCtxSetFlags
EMU_API CUresult cuDevicePrimaryCtxRelease(CUdevice dev);
EMU_API CUresult cuDevicePrimaryCtxReset(CUdevice dev);
EMU_API CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags);
EMU_API CUresult cuDevicePrimaryCtxRelease(CUdevice dev) { return primary_release(dev); }
EMU_API CUresult cuDevicePrimaryCtxReset(CUdevice dev) { return primary_reset(dev); }
EMU_API CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags) {
    return primary_set_flags(dev, flags);
}

EMU_API CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active) {
    if (!flags || !active)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "cuDevicePrimaryCtxGetState: flags or active is NULL");
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (dev < 0 || dev >= g_emu.ndev)
        return EMU_REFUSE(CUDA_ERROR_INVALID_DEVICE,
                          "cuDevicePrimaryCtxGetState: device %d does not exist (%d configured)", dev,
                          g_emu.ndev);
    emu_lock();
    *flags = g_emu.dev[dev].primary_flags;
    *active = g_emu.dev[dev].primary_refs > 0;
    emu_unlock();
    return CUDA_SUCCESS;
}
