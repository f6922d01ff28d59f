/* api_pool.c — the stream-ordered allocator: memory pools (a default pool per device, created on
 * first use, and pools made with cuMemPoolCreate), the current pool of each device, and
 * cuMemAllocAsync / cuMemAllocFromPoolAsync / cuMemFreeAsync.
 *
 * All work runs when it is enqueued, so an asynchronous allocation is made at once from the device
 * memory (accounted against the device like cuMemAlloc) and an asynchronous free returns it at
 * once. A pool therefore never holds memory that no allocation uses: its reserved memory equals its
 * used memory, trimming has nothing to release, and the release threshold and reuse policies are
 * stored and reported but change nothing. Pools cannot be shared between processes (no handle
 * types); a device pool is accessible from its own device only.
 *
 * Each entry point has its per-thread-default-stream (_ptsz) twin.
 *
 * Host pools (location CU_MEM_LOCATION_TYPE_HOST / HOST_NUMA node 0 / HOST_NUMA_CURRENT, as
 * cuda.core's PinnedMemoryResource makes) hand out page-locked host memory from cuMemHostAlloc; the
 * returned pointer is the host address, which is also the device address (unified addressing).
 * Managed pools (allocation type CU_MEM_ALLOCATION_TYPE_MANAGED, as cuda.core's
 * ManagedMemoryResource uses; location none, a device or the host) hand out cuMemAllocManaged
 * memory. Each (type, location) has its own default and current pool. */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

#define HOST_POOL (-1)   /* dev of a host-located pool */
#define NO_LOCATION (-2) /* dev of a managed pool without a preferred location */
#define MAX_DEVS 64
/* default/current pool slots: pinned device pools, the pinned host pool, managed pools (device,
 * host, no location) */
#define NSLOTS (2 * MAX_DEVS + 3)

struct CUmemPoolHandle_st {
    int dev;     /* owning device, HOST_POOL or NO_LOCATION */
    int managed; /* CU_MEM_ALLOCATION_TYPE_MANAGED */
    int is_default;
    size_t max_size; /* 0: up to the device memory */
    cuuint64_t release_threshold;
    int reuse_follow, reuse_opportunistic, reuse_internal;
    cuuint64_t used, used_high, reserved_high;
};

/* One live allocation made from a pool (pool NULL once the pool is destroyed). */
typedef struct pool_alloc {
    uint64_t base;
    size_t size;
    CUmemoryPool pool;
    int host; /* page-locked host memory (cuMemHostAlloc) rather than device or managed memory */
} pool_alloc;

/* All state below is guarded by the global emu lock. */
static CUmemoryPool *g_pools; /* every live pool (default ones included) */
static size_t g_npools, g_cappools;
static pool_alloc *g_pallocs;
static size_t g_npallocs, g_cappallocs;
static CUmemoryPool g_default[NSLOTS], g_current[NSLOTS];

static int slot_of(int managed, int where) {
    int base = managed ? MAX_DEVS + 1 : 0;
    if (where == NO_LOCATION) return managed ? 2 * MAX_DEVS + 2 : -1;
    if (where == HOST_POOL) return base + MAX_DEVS;
    return where >= 0 && where < MAX_DEVS ? base + where : -1;
}

static int pool_live(CUmemoryPool p) {
    for (size_t i = 0; i < g_npools; i++)
        if (g_pools[i] == p) return 1;
    return 0;
}

/* Takes the lock when pool is a live pool (the caller releases it); otherwise refuses for `entry`
 * with INVALID_VALUE, the lock not held. */
static CUresult lock_live_pool_at(const char *entry, CUmemoryPool pool) {
    emu_lock();
    if (pool && pool_live(pool)) return CUDA_SUCCESS;
    emu_unlock();
    return emu_refuse_at(entry, CUDA_ERROR_INVALID_VALUE,
                         "%p is not a live memory pool (destroyed, or never created)", (void *)pool);
}
#define lock_live_pool(p) lock_live_pool_at(__func__, (p))

static CUresult pool_register(CUmemoryPool p) {
    CUmemoryPool *n = emu_grow(g_pools, &g_cappools, g_npools, sizeof *g_pools, 8);
    if (!n) return CUDA_ERROR_OUT_OF_MEMORY;
    g_pools = n;
    g_pools[g_npools++] = p;
    return CUDA_SUCCESS;
}

/* Drops the records of allocations that no longer exist (freed with cuMemFree, or with their
 * context), so that the pools' figures count live memory only. Lock held. */
static void prune(void) {
    size_t k = 0;
    for (size_t i = 0; i < g_npallocs; i++) {
        const vm_alloc *v = vm_find(g_pallocs[i].base, 1);
        if (g_pallocs[i].host || (v && v->base == g_pallocs[i].base && v->size == g_pallocs[i].size)) {
            g_pallocs[k++] = g_pallocs[i];
        } else if (g_pallocs[i].pool) {
            g_pallocs[i].pool->used -= g_pallocs[i].size;
        }
    }
    g_npallocs = k;
}

/* The default pool of a type and location (device ordinal, HOST_POOL or NO_LOCATION), created on
 * first use. Lock held. */
static CUresult default_pool(int managed, int where, CUmemoryPool *out) {
    int k = slot_of(managed, where);
    if (k < 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!g_default[k]) {
        CUmemoryPool p = calloc(1, sizeof *p);
        if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
        p->dev = where;
        p->managed = managed;
        p->is_default = 1;
        p->reuse_follow = p->reuse_opportunistic = p->reuse_internal = 1;
        if (pool_register(p) != CUDA_SUCCESS) {
            free(p);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        g_default[k] = p;
    }
    *out = g_default[k];
    return CUDA_SUCCESS;
}

static CUresult current_pool(int managed, int where, CUmemoryPool *out) {
    int k = slot_of(managed, where);
    if (k >= 0 && g_current[k]) {
        *out = g_current[k];
        return CUDA_SUCCESS;
    }
    return default_pool(managed, where, out);
}

/* Makes pool the current one of its type and location (it must be of that type and location). */
static CUresult set_current(int managed, int where, CUmemoryPool pool, const char *fn) {
    int k = slot_of(managed, where);
    emu_lock();
    if (k < 0 || !pool || !pool_live(pool) || pool->dev != where || pool->managed != managed) {
        emu_unlock();
        emu_set_detail("%s: the pool is not a live %s pool of that location", fn,
                       managed ? "managed" : "pinned");
        return CUDA_ERROR_INVALID_VALUE;
    }
    g_current[k] = pool;
    emu_unlock();
    return CUDA_SUCCESS;
}

static CUresult check_dev(CUdevice dev) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (dev < 0 || dev >= g_emu.ndev || dev >= MAX_DEVS) return CUDA_ERROR_INVALID_DEVICE;
    return CUDA_SUCCESS;
}

/* A pool location: one device, or the host (the one host NUMA node, 0), or (managed pools only)
 * no location. *where gets the device ordinal, HOST_POOL or NO_LOCATION. */
static CUresult check_location(const CUmemLocation *loc, CUmemAllocationType type, const char *fn,
                               int *where) {
    if (!loc) return CUDA_ERROR_INVALID_VALUE;
    if (type != CU_MEM_ALLOCATION_TYPE_PINNED && type != CU_MEM_ALLOCATION_TYPE_MANAGED) {
        emu_set_detail("%s: allocation type %d is neither PINNED nor MANAGED", fn, (int)type);
        return CUDA_ERROR_INVALID_VALUE;
    }
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    switch (loc->type) {
    case CU_MEM_LOCATION_TYPE_DEVICE:
        *where = loc->id;
        return check_dev(loc->id);
    case CU_MEM_LOCATION_TYPE_HOST:
    case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT:
        *where = HOST_POOL;
        return CUDA_SUCCESS;
    case CU_MEM_LOCATION_TYPE_HOST_NUMA:
        if (loc->id != 0) {
            emu_set_detail("%s: host NUMA node %d does not exist (one node, 0)", fn, loc->id);
            return CUDA_ERROR_INVALID_VALUE;
        }
        *where = HOST_POOL;
        return CUDA_SUCCESS;
    case CU_MEM_LOCATION_TYPE_NONE:
        if (type == CU_MEM_ALLOCATION_TYPE_MANAGED) {
            *where = NO_LOCATION;
            return CUDA_SUCCESS;
        }
        /* fall through */
    default:
        emu_set_detail("%s: location type %d not valid for a %s pool", fn, (int)loc->type,
                       type == CU_MEM_ALLOCATION_TYPE_MANAGED ? "managed" : "pinned");
        return CUDA_ERROR_INVALID_VALUE;
    }
}

/* The default pool (current == 0) or the current pool of a type at a location: cuMemGet[Default]MemPool,
 * and cuDeviceGet[Default]MemPool for the pinned pools of a device. */
static CUresult get_pool(CUmemoryPool *out, const CUmemLocation *location, CUmemAllocationType type,
                         int current, const char *fn) {
    if (!out) return CUDA_ERROR_INVALID_VALUE;
    int where;
    CUresult r = check_location(location, type, fn, &where);
    if (r != CUDA_SUCCESS) return r;
    int managed = type == CU_MEM_ALLOCATION_TYPE_MANAGED;
    emu_lock();
    r = current ? current_pool(managed, where, out) : default_pool(managed, where, out);
    emu_unlock();
    return r;
}

static CUmemLocation device_location(CUdevice dev) {
    CUmemLocation loc = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = dev};
    return loc;
}

EMU_API CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev) {
    CUmemLocation loc = device_location(dev);
    return get_pool(pool_out, &loc, CU_MEM_ALLOCATION_TYPE_PINNED, 0, "cuDeviceGetDefaultMemPool");
}

EMU_API CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev) {
    CUmemLocation loc = device_location(dev);
    return get_pool(pool, &loc, CU_MEM_ALLOCATION_TYPE_PINNED, 1, "cuDeviceGetMemPool");
}

EMU_API CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool) {
    CUresult r = check_dev(dev);
    if (r != CUDA_SUCCESS) return r;
    return set_current(0, dev, pool, "cuDeviceSetMemPool");
}

EMU_API CUresult cuMemGetDefaultMemPool(CUmemoryPool *pool_out, CUmemLocation *location,
                                        CUmemAllocationType type) {
    return get_pool(pool_out, location, type, 0, "cuMemGetDefaultMemPool");
}

EMU_API CUresult cuMemGetMemPool(CUmemoryPool *pool, CUmemLocation *location, CUmemAllocationType type) {
    return get_pool(pool, location, type, 1, "cuMemGetMemPool");
}

EMU_API CUresult cuMemSetMemPool(CUmemLocation *location, CUmemAllocationType type, CUmemoryPool pool) {
    int where;
    CUresult r = check_location(location, type, "cuMemSetMemPool", &where);
    if (r != CUDA_SUCCESS) return r;
    return set_current(type == CU_MEM_ALLOCATION_TYPE_MANAGED, where, pool, "cuMemSetMemPool");
}

EMU_API CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *props) {
    if (!pool || !props) return CUDA_ERROR_INVALID_VALUE;
    int where;
    CUresult r = check_location(&props->location, props->allocType, "cuMemPoolCreate", &where);
    if (r != CUDA_SUCCESS) return r;
    if (props->handleTypes != CU_MEM_HANDLE_TYPE_NONE) {
        emu_set_detail(
            "cuMemPoolCreate: handle types 0x%x not supported (pools cannot be shared between processes)",
            (unsigned)props->handleTypes);
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    if (props->win32SecurityAttributes) return CUDA_ERROR_INVALID_VALUE;
    CUmemoryPool p = calloc(1, sizeof *p);
    if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
    p->dev = where;
    p->managed = props->allocType == CU_MEM_ALLOCATION_TYPE_MANAGED;
    p->max_size = props->maxSize;
    p->reuse_follow = p->reuse_opportunistic = p->reuse_internal = 1;
    emu_lock();
    r = pool_register(p);
    emu_unlock();
    if (r != CUDA_SUCCESS) {
        free(p);
        return r;
    }
    *pool = p;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemPoolDestroy(CUmemoryPool pool) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if ((r = lock_live_pool(pool)) != CUDA_SUCCESS) return r;
    if (pool->is_default) {
        emu_unlock();
        emu_set_detail("cuMemPoolDestroy: a default pool cannot be destroyed");
        return CUDA_ERROR_INVALID_VALUE;
    }
    /* Allocations still outstanding stay valid (cuMemFree/cuMemFreeAsync release them), as on a GPU
     * where the destruction completes when they are freed. */
    for (size_t i = 0; i < g_npallocs; i++)
        if (g_pallocs[i].pool == pool) g_pallocs[i].pool = NULL;
    for (size_t i = 0; i < g_npools; i++)
        if (g_pools[i] == pool) {
            g_pools[i] = g_pools[--g_npools];
            break;
        }
    for (int k = 0; k < NSLOTS; k++)
        if (g_current[k] == pool) g_current[k] = NULL; /* the location falls back to its default pool */
    emu_unlock();
    free(pool);
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep) {
    (void)minBytesToKeep; /* a pool holds no unused memory here: nothing to release */
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if ((r = lock_live_pool(pool)) == CUDA_SUCCESS) emu_unlock();
    return r;
}

EMU_API CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (!value) return CUDA_ERROR_INVALID_VALUE;
    if ((r = lock_live_pool(pool)) != CUDA_SUCCESS) return r;
    r = CUDA_SUCCESS;
    switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
        pool->reuse_follow = *(int *)value != 0;
        break;
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
        pool->reuse_opportunistic = *(int *)value != 0;
        break;
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
        pool->reuse_internal = *(int *)value != 0;
        break;
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
        pool->release_threshold = *(cuuint64_t *)value;
        break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
        if (*(cuuint64_t *)value != 0) {
            r = CUDA_ERROR_INVALID_VALUE; /* only a reset to 0 is allowed */
            break;
        }
        prune();
        if (attr == CU_MEMPOOL_ATTR_USED_MEM_HIGH)
            pool->used_high = pool->used;
        else
            pool->reserved_high = pool->used;
        break;
    default:
        r = CUDA_ERROR_INVALID_VALUE;
        break; /* the *_CURRENT figures are read-only */
    }
    emu_unlock();
    return r;
}

EMU_API CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (!value) return CUDA_ERROR_INVALID_VALUE;
    if ((r = lock_live_pool(pool)) != CUDA_SUCCESS) return r;
    prune();
    r = CUDA_SUCCESS;
    switch (attr) {
    case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
        *(int *)value = pool->reuse_follow;
        break;
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
        *(int *)value = pool->reuse_opportunistic;
        break;
    case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
        *(int *)value = pool->reuse_internal;
        break;
    case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
        *(cuuint64_t *)value = pool->release_threshold;
        break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
    case CU_MEMPOOL_ATTR_USED_MEM_CURRENT:
        *(cuuint64_t *)value = pool->used;
        break;
    case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
        *(cuuint64_t *)value = pool->reserved_high;
        break;
    case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
        *(cuuint64_t *)value = pool->used_high;
        break;
    default:
        r = CUDA_ERROR_INVALID_VALUE;
        break;
    }
    emu_unlock();
    return r;
}

EMU_API CUresult cuMemPoolSetAccess(CUmemoryPool pool, const CUmemAccessDesc *map, size_t count) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (!map && count) return CUDA_ERROR_INVALID_VALUE;
    if ((r = lock_live_pool(pool)) != CUDA_SUCCESS) return r;
    int dev = pool->dev;
    emu_unlock();
    for (size_t i = 0; i < count; i++) {
        if (map[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE) return CUDA_ERROR_INVALID_VALUE;
        if (map[i].location.id < 0 || map[i].location.id >= g_emu.ndev) return CUDA_ERROR_INVALID_DEVICE;
        if (map[i].flags != CU_MEM_ACCESS_FLAGS_PROT_NONE && map[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READ &&
            map[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READWRITE)
            return CUDA_ERROR_INVALID_VALUE;
        if (dev < 0) continue; /* host or managed memory without a location: every device reaches it */
        if (map[i].location.id == dev) {
            /* the owning device always has read-write access, which cannot be revoked */
            if (map[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READWRITE) return CUDA_ERROR_INVALID_VALUE;
        } else if (map[i].flags != CU_MEM_ACCESS_FLAGS_PROT_NONE) {
            emu_set_detail("cuMemPoolSetAccess: peer access from device %d is not supported",
                           map[i].location.id);
            return CUDA_ERROR_INVALID_DEVICE;
        }
    }
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemPoolGetAccess(CUmemAccess_flags *flags, CUmemoryPool memPool, CUmemLocation *location) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (!flags || !location || location->type != CU_MEM_LOCATION_TYPE_DEVICE) return CUDA_ERROR_INVALID_VALUE;
    if (location->id < 0 || location->id >= g_emu.ndev) return CUDA_ERROR_INVALID_DEVICE;
    r = lock_live_pool(memPool);
    if (r != CUDA_SUCCESS) return r;
    int dev = memPool->dev;
    emu_unlock();
    *flags =
        location->id == dev || dev < 0 ? CU_MEM_ACCESS_FLAGS_PROT_READWRITE : CU_MEM_ACCESS_FLAGS_PROT_NONE;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
                                         CUstream hStream) {
    if (!dptr) return CUDA_ERROR_INVALID_VALUE;
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS) return r;
    if (bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
    if ((r = lock_live_pool(pool)) != CUDA_SUCCESS) return r;
    if (pool->dev != c->dev && pool->dev >= 0 && !pool->managed) {
        emu_unlock();
        emu_set_detail("cuMemAllocFromPoolAsync: the pool belongs to device %d, the stream to device %d",
                       pool->dev, c->dev);
        return CUDA_ERROR_INVALID_VALUE;
    }
    prune();
    if (pool->max_size && (bytesize > pool->max_size || pool->used > pool->max_size - bytesize)) {
        emu_unlock();
        emu_set_detail("cuMemAllocFromPoolAsync: %zu bytes exceed the pool's maxSize (%zu, %llu in use)",
                       bytesize, pool->max_size, (unsigned long long)pool->used);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    pool_alloc *n = emu_grow(g_pallocs, &g_cappallocs, g_npallocs, sizeof *g_pallocs, 64);
    if (!n) {
        emu_unlock();
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    g_pallocs = n;
    uint64_t a = 0;
    size_t size = bytesize;
    int host = pool->dev == HOST_POOL && !pool->managed;
    if (pool->managed) {
        CUdeviceptr m = 0;
        r = cuMemAllocManaged(&m, bytesize, CU_MEM_ATTACH_GLOBAL);
        a = (uint64_t)m;
        const vm_alloc *v = r == CUDA_SUCCESS ? vm_find(a, 1) : NULL;
        if (v) size = (size_t)v->size;
    } else if (host) {
        void *hp = NULL;
        r = cuMemHostAlloc(&hp, bytesize, CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP);
        a = (uint64_t)(uintptr_t)hp;
    } else {
        r = vm_alloc_new(c, bytesize, VA_USER, &a);
        const vm_alloc *v = r == CUDA_SUCCESS ? vm_find(a, 1) : NULL;
        if (v) size = (size_t)v->size;
    }
    if (r == CUDA_SUCCESS) {
        g_pallocs[g_npallocs++] = (pool_alloc){a, size, pool, host};
        pool->used += size;
        if (pool->used > pool->used_high) pool->used_high = pool->used;
        if (pool->used > pool->reserved_high) pool->reserved_high = pool->used;
        *dptr = (CUdeviceptr)a;
    }
    emu_unlock();
    return r;
}

EMU_API CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) {
    if (!dptr) return CUDA_ERROR_INVALID_VALUE;
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    CUmemoryPool pool;
    emu_lock();
    r = current_pool(0, c->dev, &pool);
    emu_unlock();
    if (r != CUDA_SUCCESS) return r;
    return cuMemAllocFromPoolAsync(dptr, bytesize, pool, hStream);
}

EMU_API CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS) return r;
    emu_lock();
    size_t i = 0;
    while (i < g_npallocs && g_pallocs[i].base != (uint64_t)dptr)
        i++;
    int host = i < g_npallocs && g_pallocs[i].host;
    if (host)
        r = cuMemFreeHost((void *)(uintptr_t)dptr);
    else if ((r = vm_free((uint64_t)dptr, VA_USER)) != CUDA_SUCCESS)
        r = vm_free((uint64_t)dptr, VA_MANAGED); /* from a managed pool */
    if (r == CUDA_SUCCESS && i < g_npallocs) {
        if (g_pallocs[i].pool) g_pallocs[i].pool->used -= g_pallocs[i].size;
        g_pallocs[i] = g_pallocs[--g_npallocs];
    }
    emu_unlock();
    return r;
}
