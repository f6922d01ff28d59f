/* api_vmm.c — virtual memory management: physical allocations (cuMemCreate) mapped into address
 * reservations (cuMemAddressReserve/cuMemMap) with per-mapping access rights (cuMemSetAccess).
 * A physical allocation is host memory; each mapping enters a piece of it into the device address
 * space (vmem.c), so several chunks mapped back to back form one contiguous range kernels and
 * copies cross freely, and unmapped addresses inside a reservation fault. Granularity is 2 MiB. */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

#define VMM_GRAN (2ull << 20)

typedef struct vmm_phys {
    struct vmm_phys *next;
    uint8_t *host;
    size_t size;
    CUmemAllocationProp prop;
    int handle_refs; /* cuMemCreate + cuMemRetainAllocationHandle - cuMemRelease */
    int maps;        /* live cuMemMap mappings */
} vmm_phys;

static vmm_phys *g_phys;

static vmm_phys *phys_of(CUmemGenericAllocationHandle h) {
    for (vmm_phys *p = g_phys; p; p = p->next)
        if ((CUmemGenericAllocationHandle)(uintptr_t)p == h && p->handle_refs > 0) return p;
    return NULL;
}

static void phys_maybe_free(vmm_phys *p) {
    if (p->handle_refs > 0 || p->maps > 0) return;
    for (vmm_phys **pp = &g_phys; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    g_emu.dev[p->prop.location.id].used_mem -= p->size;
    vm_backing_free(p->host, p->size);
    free(p);
}

static void unmap_release(void *obj) {
    vmm_phys *p = obj;
    p->maps--;
    phys_maybe_free(p);
}

uint64_t vmm_handle_types(const void *obj) { return ((const vmm_phys *)obj)->prop.requestedHandleTypes; }

static CUresult check_prop(const CUmemAllocationProp *prop, const char *who) {
    if (!prop) return emu_refuse_at(who, CUDA_ERROR_INVALID_VALUE, "prop is NULL");
    if (prop->type != CU_MEM_ALLOCATION_TYPE_PINNED)
        return emu_refuse_at(who, CUDA_ERROR_INVALID_VALUE,
                             "only CU_MEM_ALLOCATION_TYPE_PINNED allocations exist here");
    if (prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE || prop->location.id < 0 ||
        prop->location.id >= g_emu.ndev)
        return emu_refuse_at(who, CUDA_ERROR_INVALID_DEVICE,
                             "location must be CU_MEM_LOCATION_TYPE_DEVICE with a valid ordinal");
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
                                               CUmemAllocationGranularity_flags option) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (!granularity ||
        (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM && option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED))
        return EMU_REFUSE(
            CUDA_ERROR_INVALID_VALUE,
            "needs a result pointer and option CU_MEM_ALLOC_GRANULARITY_MINIMUM or _RECOMMENDED");
    if ((r = check_prop(prop, "cuMemGetAllocationGranularity")) != CUDA_SUCCESS) return r;
    *granularity = VMM_GRAN;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
                             const CUmemAllocationProp *prop, unsigned long long flags) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (!handle || flags != 0)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "handle is NULL or flags are not 0");
    if ((r = check_prop(prop, "cuMemCreate")) != CUDA_SUCCESS) return r;
    if (size == 0 || size % VMM_GRAN)
        return emu_refuse_at("cuMemCreate", CUDA_ERROR_INVALID_VALUE,
                             "size %zu is not a multiple of the granularity (2 MiB)", size);
    if (prop->requestedHandleTypes & ~(unsigned)CU_MEM_HANDLE_TYPE_NONE)
        return emu_refuse_at("cuMemCreate", CUDA_ERROR_NOT_SUPPORTED,
                             "shareable handle types (0x%x) are not supported; "
                             "request CU_MEM_HANDLE_TYPE_NONE",
                             (unsigned)prop->requestedHandleTypes);
    if (prop->allocFlags.compressionType)
        return emu_refuse_at("cuMemCreate", CUDA_ERROR_NOT_SUPPORTED, "compressible memory is not supported");
    emu_lock();
    emu_device *d = &g_emu.dev[prop->location.id];
    if (size > d->total_mem - d->used_mem) {
        emu_unlock();
        return EMU_REFUSE(CUDA_ERROR_OUT_OF_MEMORY, "%zu bytes exceed the free memory of device %d", size,
                          prop->location.id);
    }
    vmm_phys *p = calloc(1, sizeof *p);
    uint8_t *host = p ? vm_backing_new(size) : NULL;
    if (!host) {
        free(p);
        emu_unlock();
        return EMU_REFUSE(CUDA_ERROR_OUT_OF_MEMORY, "no host memory for %zu bytes", size);
    }
    p->host = host;
    p->size = size;
    p->prop = *prop;
    p->handle_refs = 1;
    p->next = g_phys;
    g_phys = p;
    d->used_mem += size;
    emu_unlock();
    *handle = (CUmemGenericAllocationHandle)(uintptr_t)p;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    vmm_phys *p = phys_of(handle);
    if (p) {
        p->handle_refs--;
        phys_maybe_free(p); /* the memory lives on while mapped */
    }
    emu_unlock();
    return p ? CUDA_SUCCESS
             : emu_refuse_at("cuMemRelease", CUDA_ERROR_INVALID_VALUE, "unknown or already released handle");
}

EMU_API CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                                     unsigned long long flags) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (!ptr || flags != 0) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "ptr is NULL or flags are not 0");
    if (alignment == 0) alignment = VMM_GRAN;
    if (size == 0 || size % VMM_GRAN || (alignment & (alignment - 1)) || alignment % VMM_GRAN)
        return emu_refuse_at("cuMemAddressReserve", CUDA_ERROR_INVALID_VALUE,
                             "size %zu and alignment %zu must be multiples of "
                             "the granularity (2 MiB), the alignment a power of two",
                             size, alignment);
    emu_lock();
    uint64_t base = 0;
    r = vm_reserve(size, alignment, addr, &base);
    emu_unlock();
    if (r == CUDA_SUCCESS) *ptr = (CUdeviceptr)base;
    return r;
}

EMU_API CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    r = vm_unreserve((uint64_t)ptr, size);
    emu_unlock();
    return r;
}

EMU_API CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                          unsigned long long flags) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (flags != 0 || size == 0 || (uint64_t)ptr % VMM_GRAN || size % VMM_GRAN || offset % VMM_GRAN)
        return emu_refuse_at("cuMemMap", CUDA_ERROR_INVALID_VALUE,
                             "ptr, size and offset must be multiples of 2 MiB, flags 0");
    emu_lock();
    vmm_phys *p = phys_of(handle);
    if (!p || offset > p->size || size > p->size - offset) {
        emu_unlock();
        return emu_refuse_at("cuMemMap", CUDA_ERROR_INVALID_VALUE,
                             "unknown handle or offset+size beyond the allocation");
    }
    r = vm_map_piece((uint64_t)ptr, size, p->host + offset, p, ctx_current());
    if (r == CUDA_SUCCESS) p->maps++;
    emu_unlock();
    return r;
}

EMU_API CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    r = vm_unmap_range((uint64_t)ptr, size, unmap_release);
    emu_unlock();
    if (r != CUDA_SUCCESS)
        emu_set_detail("cuMemUnmap: 0x%llx+%zu must cover whole mappings made by cuMemMap",
                       (unsigned long long)ptr, size);
    return r;
}

static int prot_of(CUmemAccess_flags f) {
    switch (f) {
    case CU_MEM_ACCESS_FLAGS_PROT_NONE:
        return 0;
    case CU_MEM_ACCESS_FLAGS_PROT_READ:
        return VM_PROT_READ;
    case CU_MEM_ACCESS_FLAGS_PROT_READWRITE:
        return VM_PROT_READ | VM_PROT_WRITE;
    default:
        return -1;
    }
}

EMU_API CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (!desc || count == 0 || size == 0)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "needs desc, count > 0 and size > 0");
    int prot = -1;
    for (size_t i = 0; i < count; i++) {
        if (desc[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE || desc[i].location.id < 0 ||
            desc[i].location.id >= g_emu.ndev)
            return emu_refuse_at("cuMemSetAccess", CUDA_ERROR_INVALID_DEVICE, "desc[%zu] must name a device",
                                 i);
        int p = prot_of(desc[i].flags);
        if (p < 0)
            return emu_refuse_at("cuMemSetAccess", CUDA_ERROR_INVALID_VALUE, "desc[%zu].flags %d unknown", i,
                                 (int)desc[i].flags);
        /* all devices share one address space here: the widest grant applies */
        if (p > prot) prot = p;
    }
    emu_lock();
    r = vm_set_prot((uint64_t)ptr, size, prot);
    emu_unlock();
    if (r != CUDA_SUCCESS)
        emu_set_detail("cuMemSetAccess: 0x%llx+%zu is not fully mapped by cuMemMap", (unsigned long long)ptr,
                       size);
    return r;
}

EMU_API CUresult cuMemGetAccess(unsigned long long *flags, const CUmemLocation *location, CUdeviceptr ptr) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (!flags || !location) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "flags or location is NULL");
    if (location->type != CU_MEM_LOCATION_TYPE_DEVICE || location->id < 0 || location->id >= g_emu.ndev)
        return EMU_REFUSE(CUDA_ERROR_INVALID_DEVICE,
                          "location must be CU_MEM_LOCATION_TYPE_DEVICE with a valid ordinal");
    emu_lock();
    const vm_alloc *v = vm_find((uint64_t)ptr, 1);
    int ok = v && v->kind == VA_VMAP;
    if (ok)
        *flags = v->prot == (VM_PROT_READ | VM_PROT_WRITE) ? CU_MEM_ACCESS_FLAGS_PROT_READWRITE
                 : v->prot                                 ? CU_MEM_ACCESS_FLAGS_PROT_READ
                                                           : CU_MEM_ACCESS_FLAGS_PROT_NONE;
    emu_unlock();
    return ok ? CUDA_SUCCESS
              : emu_refuse_at("cuMemGetAccess", CUDA_ERROR_INVALID_VALUE, "0x%llx is not mapped by cuMemMap",
                              (unsigned long long)ptr);
}

EMU_API CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop,
                                                        CUmemGenericAllocationHandle handle) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (!prop) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "prop is NULL");
    emu_lock();
    vmm_phys *p = phys_of(handle);
    if (p) *prop = p->prop;
    emu_unlock();
    return p ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

EMU_API CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle, void *addr) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (!handle) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "handle is NULL");
    emu_lock();
    const vm_alloc *v = vm_find((uint64_t)(uintptr_t)addr, 1);
    vmm_phys *p = v && v->kind == VA_VMAP ? v->obj : NULL;
    if (p) {
        p->handle_refs++;
        *handle = (CUmemGenericAllocationHandle)(uintptr_t)p;
    }
    emu_unlock();
    return p ? CUDA_SUCCESS
             : emu_refuse_at("cuMemRetainAllocationHandle", CUDA_ERROR_INVALID_VALUE,
                             "%p is not mapped by cuMemMap", addr);
}

EMU_API CUresult cuMemExportToShareableHandle(void *shareableHandle, CUmemGenericAllocationHandle handle,
                                              CUmemAllocationHandleType handleType,
                                              unsigned long long flags) {
    (void)shareableHandle;
    (void)handle;
    (void)handleType;
    (void)flags;
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    return emu_refuse_at(
        "cuMemExportToShareableHandle", CUDA_ERROR_NOT_SUPPORTED,
        "allocations cannot be shared between "
        "processes here (CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED is 0)");
}

EMU_API CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle *handle, void *osHandle,
                                                CUmemAllocationHandleType shHandleType) {
    (void)handle;
    (void)osHandle;
    (void)shHandleType;
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    return emu_refuse_at("cuMemImportFromShareableHandle", CUDA_ERROR_NOT_SUPPORTED,
                         "shareable handles are not supported");
}
