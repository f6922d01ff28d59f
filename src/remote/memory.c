/* memory.c — device memory as liblepton buffers, found again from any device address through a
 * sorted range table (pointer arithmetic, pointers stored in structs all map to buffer + offset);
 * pinned host memory emulated on the client (plain page-aligned memory, recorded so that async
 * copies from it are referenced instead of copied); copies and memsets as queue steps or, for a
 * blocking copy larger than 1 MiB, liblepton's streamed buffer routes. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "remote.h"

/* Blocking copies above this go through lepton_buffer_write/_read (streamed) after a flush. */
#define RM_BULK_BYTES (1u << 20)

static pthread_mutex_t g_mem_mu = PTHREAD_MUTEX_INITIALIZER;
static rm_alloc *g_allocs; /* sorted by addr */
static size_t g_nallocs, g_capallocs;

typedef struct rm_host {
    uintptr_t p;
    size_t size;
    unsigned flags;
    int registered; /* cuMemHostRegister (the caller's memory) rather than cuMemHostAlloc (ours) */
} rm_host;
static rm_host *g_hosts; /* sorted by p */
static size_t g_nhosts, g_caphosts;

/* ---- the range tables ---- */

static size_t alloc_upper(uint64_t p) /* first index with addr > p */
{
    size_t lo = 0, hi = g_nallocs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g_allocs[mid].addr <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int rm_mem_find(uint64_t p, rm_alloc *a, uint64_t *off) {
    pthread_mutex_lock(&g_mem_mu);
    size_t i = alloc_upper(p);
    int found = i > 0 && p - g_allocs[i - 1].addr < g_allocs[i - 1].size;
    if (found) {
        *a = g_allocs[i - 1];
        *off = p - a->addr;
    }
    pthread_mutex_unlock(&g_mem_mu);
    return found;
}

int rm_mem_collides(uint64_t addr, uint64_t size, int dev) {
    int other = -1;
    pthread_mutex_lock(&g_mem_mu);
    size_t i = alloc_upper(addr + (size ? size - 1 : 0)); /* the allocations starting at or before its end */
    for (size_t k = i; k-- > 0 && other < 0;) {
        const rm_alloc *a = &g_allocs[k];
        if (a->addr + a->size <= addr)
            break; /* the table's ranges never overlap (this check keeps it so): they end in
                    * the order they start */
        if (a->dev != dev) other = a->dev;
    }
    pthread_mutex_unlock(&g_mem_mu);
    return other;
}

CUresult rm_mem_add(lepton_buffer *b, int dev, uint64_t size, int borrowed, void *module) {
    rm_alloc a = {lc_raw_buffer_address(b), size, b, lc_raw_buffer_id(b), dev, borrowed, module};
    pthread_mutex_lock(&g_mem_mu);
    rm_alloc *grown = lp_grow(g_allocs, &g_capallocs, g_nallocs + 1, sizeof *g_allocs, 64);
    if (!grown) {
        pthread_mutex_unlock(&g_mem_mu);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    g_allocs = grown;
    size_t i = alloc_upper(a.addr);
    memmove(&g_allocs[i + 1], &g_allocs[i], (g_nallocs - i) * sizeof *g_allocs);
    g_allocs[i] = a;
    g_nallocs++;
    pthread_mutex_unlock(&g_mem_mu);
    return CUDA_SUCCESS;
}

/* Takes the allocation at base address p off the table: 1 and *a, or 0. */
static int alloc_take(uint64_t p, rm_alloc *a, int borrowed_too) {
    pthread_mutex_lock(&g_mem_mu);
    size_t i = alloc_upper(p);
    int found = i > 0 && g_allocs[i - 1].addr == p && (borrowed_too || !g_allocs[i - 1].borrowed);
    if (found) {
        *a = g_allocs[i - 1];
        memmove(&g_allocs[i - 1], &g_allocs[i], (g_nallocs - i) * sizeof *g_allocs);
        g_nallocs--;
    }
    pthread_mutex_unlock(&g_mem_mu);
    return found;
}

void rm_mem_drop_module(void *module) {
    pthread_mutex_lock(&g_mem_mu);
    size_t k = 0;
    for (size_t i = 0; i < g_nallocs; i++) {
        if (g_allocs[i].borrowed && g_allocs[i].module == module) {
            lepton_buffer_free(g_allocs[i].buf);
            continue;
        }
        g_allocs[k++] = g_allocs[i];
    }
    g_nallocs = k;
    pthread_mutex_unlock(&g_mem_mu);
}

void rm_mem_free_all(void) {
    pthread_mutex_lock(&g_mem_mu);
    for (size_t i = 0; i < g_nallocs; i++)
        lepton_buffer_free(g_allocs[i].buf);
    free(g_allocs);
    g_allocs = NULL;
    g_nallocs = g_capallocs = 0;
    pthread_mutex_unlock(&g_mem_mu);
}

static size_t host_upper(uintptr_t p) {
    size_t lo = 0, hi = g_nhosts;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g_hosts[mid].p <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int host_find(const void *p, rm_host *h) {
    uintptr_t a = (uintptr_t)p;
    pthread_mutex_lock(&g_mem_mu);
    size_t i = host_upper(a);
    int found = i > 0 && a - g_hosts[i - 1].p < g_hosts[i - 1].size;
    if (found && h) *h = g_hosts[i - 1];
    pthread_mutex_unlock(&g_mem_mu);
    return found;
}

int rm_host_pinned(const void *p, size_t n) {
    rm_host h;
    return host_find(p, &h) && (uintptr_t)p + n <= h.p + h.size;
}

static CUresult host_add(void *p, size_t size, unsigned flags, int registered) {
    pthread_mutex_lock(&g_mem_mu);
    size_t i = host_upper((uintptr_t)p);
    if ((i > 0 && (uintptr_t)p - g_hosts[i - 1].p < g_hosts[i - 1].size) ||
        (i < g_nhosts && g_hosts[i].p < (uintptr_t)p + size)) {
        pthread_mutex_unlock(&g_mem_mu);
        return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
    }
    rm_host *grown = lp_grow(g_hosts, &g_caphosts, g_nhosts + 1, sizeof *g_hosts, 32);
    if (!grown) {
        pthread_mutex_unlock(&g_mem_mu);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    g_hosts = grown;
    memmove(&g_hosts[i + 1], &g_hosts[i], (g_nhosts - i) * sizeof *g_hosts);
    g_hosts[i] = (rm_host){(uintptr_t)p, size, flags, registered};
    g_nhosts++;
    pthread_mutex_unlock(&g_mem_mu);
    return CUDA_SUCCESS;
}

static int host_take(void *p, int registered, rm_host *out) {
    pthread_mutex_lock(&g_mem_mu);
    size_t i = host_upper((uintptr_t)p);
    int found = i > 0 && g_hosts[i - 1].p == (uintptr_t)p && g_hosts[i - 1].registered == registered;
    if (found) {
        *out = g_hosts[i - 1];
        memmove(&g_hosts[i - 1], &g_hosts[i], (g_nhosts - i) * sizeof *g_hosts);
        g_nhosts--;
    }
    pthread_mutex_unlock(&g_mem_mu);
    return found;
}

/* [p, p+n) inside one allocation: its record and offset. */
static CUresult dev_range(CUdeviceptr p, size_t n, rm_alloc *a, uint64_t *off) {
    if (!rm_mem_find((uint64_t)p, a, off)) {
        rm_debug("0x%llx is not device memory of this process", (unsigned long long)p);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (n > a->size - *off) {
        rm_debug("%zu bytes at 0x%llx run past the end of its allocation (%llu bytes at 0x%llx)", n,
                 (unsigned long long)p, (unsigned long long)a->size, (unsigned long long)a->addr);
        return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

/* ---- allocation ---- */

RM_API CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t size) {
    if (!dptr) return CUDA_ERROR_INVALID_VALUE;
    *dptr = 0;
    if (size == 0) return CUDA_ERROR_INVALID_VALUE;
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    if ((rc = rm_cu(rq_dead(&g_rm.devs[dev].queue)))) return rc;
    if ((uint64_t)size > g_rm.devs[dev].facts->memory_total) {
        rm_debug("cuMemAlloc: %zu bytes is more than the GPU's %llu: CUDA_ERROR_OUT_OF_MEMORY", size,
                 (unsigned long long)g_rm.devs[dev].facts->memory_total);
        return CUDA_ERROR_OUT_OF_MEMORY; /* as the driver answers, without asking the worker */
    }
    /* Each GPU of the lease has its own worker process, whose driver picks addresses in its own
     * address space: an address may already name memory of another GPU of the lease. The range table
     * must tell them apart (kernel arguments, copies and frees find their GPU by the address), so a
     * colliding allocation is kept aside while another is made, then freed. */
    lepton_buffer *b = NULL, *aside[4];
    int naside = 0, st;
    for (;;) {
        st = lepton_buffer_alloc(g_rm.lease, (uint32_t)dev, size, &b);
        rq_stats_round_trip(0, 0);
        if (st != LEPTON_OK) break;
        int other = rm_mem_collides(lc_raw_buffer_address(b), size, dev);
        if (other < 0) break;
        rm_debug("cuMemAlloc: GPU %d answered 0x%llx (+%zu), where GPU %d has memory; allocating again", dev,
                 (unsigned long long)lc_raw_buffer_address(b), size, other);
        if (naside == (int)(sizeof aside / sizeof aside[0])) {
            lepton_buffer_free(b);
            b = NULL;
            st = LEPTON_ENOMEM;
            break;
        }
        aside[naside++] = b;
    }
    while (naside > 0)
        lepton_buffer_free(aside[--naside]);
    if (st == LEPTON_ENOMEM && !b) {
        rm_debug("cuMemAlloc: every address GPU %d offered collides with another GPU's memory", dev);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    if (st != LEPTON_OK) return rm_from_lepton(st, "cuMemAlloc");
    rc = rm_mem_add(b, dev, size, 0, NULL);
    if (rc) {
        lepton_buffer_free(b);
        return rc;
    }
    *dptr = (CUdeviceptr)lc_raw_buffer_address(b);
    return CUDA_SUCCESS;
}

RM_API CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height,
                                   unsigned int elementSize) {
    if (!dptr || !pitch || width == 0 || height == 0) return CUDA_ERROR_INVALID_VALUE;
    if (elementSize != 4 && elementSize != 8 && elementSize != 16) return CUDA_ERROR_INVALID_VALUE;
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    int align = g_rm.devs[dev].facts->attrs[CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT];
    size_t a = align > 512 ? (size_t)align : 512;
    size_t p = (width + a - 1) / a * a;
    rc = cuMemAlloc_v2(dptr, p * height);
    if (rc == CUDA_SUCCESS) *pitch = p;
    return rc;
}

RM_API CUresult cuMemFree_v2(CUdeviceptr dptr) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (dptr == 0) return CUDA_SUCCESS;
    rm_alloc a;
    if (!alloc_take((uint64_t)dptr, &a, 0)) return CUDA_ERROR_INVALID_VALUE;
    /* work queued or running may still use it */
    rc = rm_cu(rq_sync(&g_rm.devs[a.dev].queue));
    lepton_buffer_free(a.buf);
    rq_stats_round_trip(0, 0);
    return rc;
}

RM_API CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total) {
    if (!free_bytes || !total) return CUDA_ERROR_INVALID_VALUE;
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    uint64_t f, t;
    int st = lc_raw_mem_info(g_rm.lease, (uint32_t)dev, &f, &t);
    rq_stats_round_trip(0, 0);
    if (st != LEPTON_OK) return rm_from_lepton(st, "cuMemGetInfo");
    *free_bytes = (size_t)f;
    *total = (size_t)t;
    return CUDA_SUCCESS;
}

RM_API CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    rm_alloc a;
    uint64_t off;
    if (!rm_mem_find((uint64_t)dptr, &a, &off)) return CUDA_ERROR_NOT_FOUND;
    if (pbase) *pbase = (CUdeviceptr)a.addr;
    if (psize) *psize = (size_t)a.size;
    return CUDA_SUCCESS;
}

/* ---- pinned host memory (emulated: plain page-aligned memory, recorded) ---- */

RM_API CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int flags) {
    if (!pp || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
    if (flags &
        ~(unsigned)(CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_WRITECOMBINED))
        return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_ready();
    if (rc) return rc;
    size_t n = (bytesize + 4095) & ~(size_t)4095;
    void *p = aligned_alloc(4096, n);
    if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
    rc = host_add(p, bytesize, flags, 0);
    if (rc) {
        free(p);
        return rc;
    }
    *pp = p;
    return CUDA_SUCCESS;
}

RM_API CUresult cuMemAllocHost_v2(void **pp, size_t bytesize) { return cuMemHostAlloc(pp, bytesize, 0); }

RM_API CUresult cuMemFreeHost(void *p) {
    rm_host h;
    if (!p || !host_take(p, 0, &h)) return CUDA_ERROR_INVALID_VALUE;
    /* queued steps may reference it: run them first */
    for (int i = 0; i < g_rm.ndev; i++)
        rq_sync(&g_rm.devs[i].queue);
    free(p);
    return CUDA_SUCCESS;
}

RM_API CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int flags) {
    if (!p || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (flags & (CU_MEMHOSTREGISTER_IOMEMORY | CU_MEMHOSTREGISTER_READ_ONLY)) {
        rm_refused("cuMemHostRegister", "I/O memory and read-only registration");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    return host_add(p, bytesize, flags, 1);
}

RM_API CUresult cuMemHostUnregister(void *p) {
    rm_host h;
    if (!p || !host_take(p, 1, &h)) return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
    for (int i = 0; i < g_rm.ndev; i++)
        rq_sync(&g_rm.devs[i].queue);
    return CUDA_SUCCESS;
}

RM_API CUresult cuMemHostGetFlags(unsigned int *pFlags, void *p) {
    rm_host h;
    if (!pFlags || !host_find(p, &h)) return CUDA_ERROR_INVALID_VALUE;
    *pFlags = h.flags;
    return CUDA_SUCCESS;
}

RM_API CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int flags) {
    rm_refused("cuMemHostGetDevicePointer", "host memory is not mapped into a remote GPU's address space");
    return CUDA_ERROR_NOT_SUPPORTED;
}

/* ---- pointer attributes ---- */

static CUresult pointer_attr(void *data, CUpointer_attribute attribute, CUdeviceptr ptr) {
    rm_alloc a;
    uint64_t off;
    int is_dev = rm_mem_find((uint64_t)ptr, &a, &off);
    rm_host h;
    int is_host = !is_dev && host_find((void *)(uintptr_t)ptr, &h);
    if (!is_dev && !is_host) return CUDA_ERROR_INVALID_VALUE;
    switch (attribute) {
    case CU_POINTER_ATTRIBUTE_CONTEXT:
        *(CUcontext *)data = is_dev ? &g_rm.devs[a.dev].primary : NULL;
        return is_dev ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
        *(unsigned *)data = is_dev ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
        if (!is_dev) return CUDA_ERROR_INVALID_VALUE;
        *(CUdeviceptr *)data = ptr;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
        if (is_dev) return CUDA_ERROR_INVALID_VALUE;
        *(void **)data = (void *)(uintptr_t)ptr;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED:
    case CU_POINTER_ATTRIBUTE_MAPPED:
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
        *(unsigned *)data = attribute == CU_POINTER_ATTRIBUTE_MAPPED;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS:
        *(unsigned *)data = 1;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
        *(int *)data = is_dev ? a.dev : -1;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
        *(unsigned long long *)data = is_dev ? a.id : (unsigned long long)h.p;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
        *(CUdeviceptr *)data = is_dev ? (CUdeviceptr)a.addr : (CUdeviceptr)h.p;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
        *(size_t *)data = is_dev ? (size_t)a.size : h.size;
        return CUDA_SUCCESS;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
}

RM_API CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr) {
    if (!data) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_ready();
    if (rc) return rc;
    return pointer_attr(data, attribute, ptr);
}

RM_API CUresult cuPointerGetAttributes(unsigned int n, CUpointer_attribute *attributes, void **data,
                                       CUdeviceptr ptr) {
    if (!attributes || !data) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_ready();
    if (rc) return rc;
    for (unsigned i = 0; i < n; i++) {
        if (!data[i]) continue;
        /* unknown memory: CUDA answers with zeros per attribute rather than failing */
        if (pointer_attr(data[i], attributes[i], ptr) != CUDA_SUCCESS) {
            if (attributes[i] == CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL)
                *(int *)data[i] = -2;
            else if (attributes[i] == CU_POINTER_ATTRIBUTE_CONTEXT ||
                     attributes[i] == CU_POINTER_ATTRIBUTE_HOST_POINTER ||
                     attributes[i] == CU_POINTER_ATTRIBUTE_DEVICE_POINTER ||
                     attributes[i] == CU_POINTER_ATTRIBUTE_RANGE_START_ADDR)
                *(void **)data[i] = NULL;
            else if (attributes[i] == CU_POINTER_ATTRIBUTE_RANGE_SIZE ||
                     attributes[i] == CU_POINTER_ATTRIBUTE_BUFFER_ID)
                *(unsigned long long *)data[i] = 0;
            else
                *(unsigned *)data[i] = 0;
        }
    }
    return CUDA_SUCCESS;
}

/* ---- copies ---- */

static rq_queue *queue_of(const rm_alloc *a) { return &g_rm.devs[a->dev].queue; }

/* A blocking copy between host memory and device address `dev` (up: host -> device). Above
 * RM_BULK_BYTES: the queue first, then liblepton's streamed buffer route; else one job, the queue
 * and the copy (the caller's memory stays valid: the sync returns only after the job ran). */
static CUresult blocking_copy(int up, CUdeviceptr dev, void *host, size_t n, const char *what) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (n == 0) return CUDA_SUCCESS;
    if (!host) return CUDA_ERROR_INVALID_VALUE;
    rm_alloc a;
    uint64_t off;
    if ((rc = dev_range(dev, n, &a, &off))) return rc;
    rq_queue *q = queue_of(&a);
    if (n > RM_BULK_BYTES) {
        if ((rc = rm_cu(rq_sync(q)))) return rc;
        int st = up ? lepton_buffer_write(a.buf, (size_t)off, host, n)
                    : lepton_buffer_read(a.buf, (size_t)off, host, n);
        rq_stats_round_trip(up ? n : 0, up ? 0 : n);
        return rm_from_lepton(st, what);
    }
    rc = rm_cu(up ? rq_write(q, a.id, off, host, n, 1) : rq_read(q, a.id, off, host, n));
    return rc ? rc : rm_cu(rq_sync(q));
}

RM_API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) {
    return blocking_copy(1, dst, (void *)(uintptr_t)src, n, "cuMemcpyHtoD");
}

RM_API CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) {
    return blocking_copy(0, src, dst, n, "cuMemcpyDtoH");
}

/* Device to device, maybe across GPUs of the lease (then staged through the host). */
static CUresult dtod(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (n == 0) return CUDA_SUCCESS;
    rm_alloc d, s;
    uint64_t doff, soff;
    if ((rc = dev_range(dst, n, &d, &doff)) || (rc = dev_range(src, n, &s, &soff))) return rc;
    if (d.dev == s.dev) return rm_cu(rq_copy(queue_of(&d), d.id, doff, s.id, soff, n, 0, 0, 0));
    void *tmp = malloc(n);
    if (!tmp) return CUDA_ERROR_OUT_OF_MEMORY;
    rc = cuMemcpyDtoH_v2(tmp, src, n);
    if (!rc) rc = rm_cu(rq_write(queue_of(&d), d.id, doff, tmp, n, 0));
    free(tmp);
    return rc;
}

RM_API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) { return dtod(dst, src, n); }

RM_API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s) {
    int sdev;
    CUresult rc = rm_stream_dev(s, &sdev);
    if (rc) return rc;
    if (n == 0) return CUDA_SUCCESS;
    if (!src) return CUDA_ERROR_INVALID_VALUE;
    rm_alloc a;
    uint64_t off;
    if ((rc = dev_range(dst, n, &a, &off))) return rc;
    return rm_cu(rq_write(queue_of(&a), a.id, off, src, n, rm_host_pinned(src, n)));
}

RM_API CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s) {
    int sdev;
    CUresult rc = rm_stream_dev(s, &sdev);
    if (rc) return rc;
    if (n == 0) return CUDA_SUCCESS;
    if (!dst) return CUDA_ERROR_INVALID_VALUE;
    rm_alloc a;
    uint64_t off;
    if ((rc = dev_range(src, n, &a, &off))) return rc;
    if ((rc = rm_cu(rq_read(queue_of(&a), a.id, off, dst, n)))) return rc;
    /* into pageable memory CUDA returns only once the copy is done */
    return rm_host_pinned(dst, n) ? CUDA_SUCCESS : rm_cu(rq_sync(queue_of(&a)));
}

RM_API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    int sdev;
    CUresult rc = rm_stream_dev(s, &sdev);
    if (rc) return rc;
    return dtod(dst, src, n);
}

static int is_device(CUdeviceptr p) {
    rm_alloc a;
    uint64_t off;
    return rm_mem_find((uint64_t)p, &a, &off);
}

static CUresult unified_copy(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s, int async) {
    int dd = is_device(dst), sd = is_device(src);
    if (dd && sd) return async ? cuMemcpyDtoDAsync_v2(dst, src, n, s) : cuMemcpyDtoD_v2(dst, src, n);
    if (dd)
        return async ? cuMemcpyHtoDAsync_v2(dst, (const void *)(uintptr_t)src, n, s)
                     : cuMemcpyHtoD_v2(dst, (const void *)(uintptr_t)src, n);
    if (sd)
        return async ? cuMemcpyDtoHAsync_v2((void *)(uintptr_t)dst, src, n, s)
                     : cuMemcpyDtoH_v2((void *)(uintptr_t)dst, src, n);
    /* host to host: in order with the device work before it */
    CUresult rc = async ? rm_stream_dev(s, &(int){0}) : rm_ready();
    if (rc) return rc;
    for (int i = 0; i < g_rm.ndev; i++)
        rq_sync(&g_rm.devs[i].queue);
    memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
    return CUDA_SUCCESS;
}

RM_API CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    return unified_copy(dst, src, n, NULL, 0);
}

RM_API CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    return unified_copy(dst, src, n, s, 1);
}

/* ---- memsets ---- */

static CUresult memset_rows(CUdeviceptr dst, size_t pitch, uint32_t value, uint32_t width, size_t count,
                            size_t height, CUstream s, int use_stream) {
    CUresult rc;
    int sdev;
    if (use_stream)
        rc = rm_stream_dev(s, &sdev);
    else
        rc = rm_ready();
    if (rc) return rc;
    if (count == 0 || height == 0) return CUDA_SUCCESS;
    if (dst % width) return CUDA_ERROR_INVALID_VALUE;
    size_t span = height > 1 ? pitch * (height - 1) + count * width : count * width;
    if (height > 1 && pitch < count * width) return CUDA_ERROR_INVALID_VALUE;
    rm_alloc a;
    uint64_t off;
    if ((rc = dev_range(dst, span, &a, &off))) return rc;
    return rm_cu(rq_memset(queue_of(&a), a.id, off, width, value, count, height > 1 ? pitch : 0,
                           height > 1 ? height : 0));
}

RM_API CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) {
    return memset_rows(d, 0, v, 1, n, 1, NULL, 0);
}
RM_API CUresult cuMemsetD16_v2(CUdeviceptr d, unsigned short v, size_t n) {
    return memset_rows(d, 0, v, 2, n, 1, NULL, 0);
}
RM_API CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned int v, size_t n) {
    return memset_rows(d, 0, v, 4, n, 1, NULL, 0);
}
RM_API CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream s) {
    return memset_rows(d, 0, v, 1, n, 1, s, 1);
}
RM_API CUresult cuMemsetD16Async(CUdeviceptr d, unsigned short v, size_t n, CUstream s) {
    return memset_rows(d, 0, v, 2, n, 1, s, 1);
}
RM_API CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n, CUstream s) {
    return memset_rows(d, 0, v, 4, n, 1, s, 1);
}
RM_API CUresult cuMemsetD2D8_v2(CUdeviceptr d, size_t pitch, unsigned char v, size_t w, size_t h) {
    return memset_rows(d, pitch, v, 1, w, h, NULL, 0);
}
RM_API CUresult cuMemsetD2D16_v2(CUdeviceptr d, size_t pitch, unsigned short v, size_t w, size_t h) {
    return memset_rows(d, pitch, v, 2, w, h, NULL, 0);
}
RM_API CUresult cuMemsetD2D32_v2(CUdeviceptr d, size_t pitch, unsigned int v, size_t w, size_t h) {
    return memset_rows(d, pitch, v, 4, w, h, NULL, 0);
}
RM_API CUresult cuMemsetD2D8Async(CUdeviceptr d, size_t pitch, unsigned char v, size_t w, size_t h,
                                  CUstream s) {
    return memset_rows(d, pitch, v, 1, w, h, s, 1);
}
RM_API CUresult cuMemsetD2D16Async(CUdeviceptr d, size_t pitch, unsigned short v, size_t w, size_t h,
                                   CUstream s) {
    return memset_rows(d, pitch, v, 2, w, h, s, 1);
}
RM_API CUresult cuMemsetD2D32Async(CUdeviceptr d, size_t pitch, unsigned int v, size_t w, size_t h,
                                   CUstream s) {
    return memset_rows(d, pitch, v, 4, w, h, s, 1);
}

/* ---- 2D copies ---- */

/* Resolves one side of a CUDA_MEMCPY2D: 1 device (address), 0 host (pointer), or an error. */
static CUresult side(CUmemorytype t, const void *host, CUdeviceptr dev, size_t x, size_t y, size_t pitch,
                     int *is_dev, uintptr_t *addr) {
    if (t == CU_MEMORYTYPE_UNIFIED) {
        t = is_device(dev) ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
        host = (const void *)(uintptr_t)dev;
    }
    if (t == CU_MEMORYTYPE_ARRAY) {
        rm_refused("cuMemcpy2D", "CUDA arrays");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    if (t == CU_MEMORYTYPE_DEVICE) {
        *is_dev = 1;
        *addr = (uintptr_t)dev + y * pitch + x;
    } else if (t == CU_MEMORYTYPE_HOST) {
        *is_dev = 0;
        *addr = (uintptr_t)host + y * pitch + x;
    } else {
        return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

static CUresult copy2d(const CUDA_MEMCPY2D *c, CUstream s, int async) {
    if (!c) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = async ? rm_stream_dev(s, &(int){0}) : rm_ready();
    if (rc) return rc;
    size_t w = c->WidthInBytes, h = c->Height;
    if (w == 0 || h == 0) return CUDA_SUCCESS;
    size_t sp = c->srcPitch ? c->srcPitch : w, dp = c->dstPitch ? c->dstPitch : w;
    if ((h > 1 && (sp < w || dp < w))) return CUDA_ERROR_INVALID_VALUE;
    int sdev, ddev;
    uintptr_t sa, da;
    if ((rc = side(c->srcMemoryType, c->srcHost, c->srcDevice, c->srcXInBytes, c->srcY, sp, &sdev, &sa)) ||
        (rc = side(c->dstMemoryType, c->dstHost, c->dstDevice, c->dstXInBytes, c->dstY, dp, &ddev, &da)))
        return rc;
    size_t sspan = sp * (h - 1) + w, dspan = dp * (h - 1) + w;
    rm_alloc sa_, da_;
    uint64_t soff = 0, doff = 0;
    if (sdev && (rc = dev_range(sa, sspan, &sa_, &soff))) return rc;
    if (ddev && (rc = dev_range(da, dspan, &da_, &doff))) return rc;
    if (sdev && ddev) {
        if (sa_.dev != da_.dev) {
            rm_refused("cuMemcpy2D", "a 2D copy between two GPUs of the lease");
            return CUDA_ERROR_NOT_SUPPORTED;
        }
        return rm_cu(rq_copy(queue_of(&da_), da_.id, doff, sa_.id, soff, w, dp, sp, h));
    }
    if (ddev) { /* host rows -> device: one write step per row */
        int pinned = !async || rm_host_pinned((const void *)sa, sspan);
        for (size_t r = 0; r < h && !rc; r++)
            rc = rm_cu(rq_write(queue_of(&da_), da_.id, doff + r * dp, (const char *)sa + r * sp, w, pinned));
        if (!rc && !async) rc = rm_cu(rq_sync(queue_of(&da_)));
        return rc;
    }
    if (sdev) { /* device rows -> host: one read step per row */
        for (size_t r = 0; r < h && !rc; r++)
            rc = rm_cu(rq_read(queue_of(&sa_), sa_.id, soff + r * sp, (char *)da + r * dp, w));
        if (!rc && (!async || !rm_host_pinned((const void *)da, dspan))) rc = rm_cu(rq_sync(queue_of(&sa_)));
        return rc;
    }
    for (int i = 0; i < g_rm.ndev; i++)
        rq_sync(&g_rm.devs[i].queue);
    for (size_t r = 0; r < h; r++)
        memmove((char *)da + r * dp, (const char *)sa + r * sp, w);
    return CUDA_SUCCESS;
}

/* A 3D copy between linear memories (host or device; CUDA arrays are not offered) as one 2D copy per
 * slice: slice z starts (srcZ + z) * srcHeight rows into the source, likewise in the destination. The
 * slices are queued; a blocking copy waits with its last one. */
static CUresult copy3d(const CUDA_MEMCPY3D *c, CUstream s, int async) {
    if (!c) return CUDA_ERROR_INVALID_VALUE;
    if (c->srcMemoryType == CU_MEMORYTYPE_ARRAY || c->dstMemoryType == CU_MEMORYTYPE_ARRAY) {
        rm_refused("cuMemcpy3D", "CUDA arrays");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    if (c->srcLOD || c->dstLOD || c->reserved0 || c->reserved1) return CUDA_ERROR_INVALID_VALUE;
    if (c->WidthInBytes == 0 || c->Height == 0 || c->Depth == 0)
        return async ? rm_stream_dev(s, &(int){0}) : rm_ready();
    size_t sh = c->srcHeight ? c->srcHeight : c->Height, dh = c->dstHeight ? c->dstHeight : c->Height;
    if ((c->Depth > 1 && (sh < c->Height || dh < c->Height))) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = CUDA_SUCCESS;
    for (size_t z = 0; z < c->Depth && !rc; z++) {
        CUDA_MEMCPY2D p = {.srcXInBytes = c->srcXInBytes,
                           .srcY = c->srcY + (c->srcZ + z) * sh,
                           .srcMemoryType = c->srcMemoryType,
                           .srcHost = c->srcHost,
                           .srcDevice = c->srcDevice,
                           .srcPitch = c->srcPitch,
                           .dstXInBytes = c->dstXInBytes,
                           .dstY = c->dstY + (c->dstZ + z) * dh,
                           .dstMemoryType = c->dstMemoryType,
                           .dstHost = c->dstHost,
                           .dstDevice = c->dstDevice,
                           .dstPitch = c->dstPitch,
                           .WidthInBytes = c->WidthInBytes,
                           .Height = c->Height};
        rc = copy2d(&p, s, async || z + 1 < c->Depth);
    }
    return rc;
}

RM_API CUresult cuMemcpy3D_v2(const CUDA_MEMCPY3D *c) { return copy3d(c, NULL, 0); }
RM_API CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *c, CUstream s) { return copy3d(c, s, 1); }

RM_API CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D *c) { return copy2d(c, NULL, 0); }
RM_API CUresult cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *c) { return copy2d(c, NULL, 0); }
RM_API CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *c, CUstream s) { return copy2d(c, s, 1); }

/* ---- refused, with a reason in the debug log ---- */

RM_API CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags) {
    rm_refused("cuMemAllocManaged", "managed memory would need page faults across the network");
    return CUDA_ERROR_NOT_SUPPORTED;
}

/* Stream-ordered allocation without pools: the allocation is made at once (one round trip; its
 * address is valid for all the work queued after it), the free waits for the work queued before
 * it (cuMemFree's rule). Memory pools themselves are refused. */
RM_API CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) {
    int dev;
    CUresult rc = rm_stream_dev(hStream, &dev);
    return rc ? rc : cuMemAlloc_v2(dptr, bytesize);
}

RM_API CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) {
    int dev;
    CUresult rc = rm_stream_dev(hStream, &dev);
    return rc ? rc : cuMemFree_v2(dptr);
}

/* Peers: every GPU of a lease has its own worker, so no peer mappings; copies between GPUs go
 * through the host (dtod). */
static CUresult peer_copy(CUdeviceptr dst, CUcontext dctx, CUdeviceptr src, CUcontext sctx, size_t n) {
    if (!dctx || !sctx) return CUDA_ERROR_INVALID_CONTEXT;
    return dtod(dst, src, n);
}

RM_API CUresult cuMemcpyPeer(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                             CUcontext srcContext, size_t ByteCount) {
    return peer_copy(dstDevice, dstContext, srcDevice, srcContext, ByteCount);
}

RM_API CUresult cuMemcpyPeerAsync(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                                  CUcontext srcContext, size_t ByteCount, CUstream hStream) {
    int dev;
    CUresult rc = rm_stream_dev(hStream, &dev);
    return rc ? rc : peer_copy(dstDevice, dstContext, srcDevice, srcContext, ByteCount);
}

RM_API CUresult cuCtxEnablePeerAccess(CUcontext peerContext, unsigned int Flags) {
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    if (!peerContext || Flags) return CUDA_ERROR_INVALID_VALUE;
    return CUDA_ERROR_PEER_ACCESS_UNSUPPORTED; /* cuDeviceCanAccessPeer answers 0 */
}

RM_API CUresult cuCtxDisablePeerAccess(CUcontext peerContext) {
    int dev;
    CUresult rc = rm_current_dev(&dev);
    return rc ? rc : CUDA_ERROR_PEER_ACCESS_NOT_ENABLED;
}
