/* api_pointer.c — page-locked host memory (cuMemHostAlloc, cuMemHostRegister) and pointer queries
 * (cuPointerGetAttribute(s), cuPointerSetAttribute). Pinned and registered host bytes are entered in
 * the device address space (vmem.c) at their own host address where nothing device-side sits there,
 * so kernels reach them through the pointer cuMemHostGetDevicePointer returns (zero-copy). */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

#define HOST_REGISTERED VM_HOST_REGISTERED
#define HOST_SYNC_MEMOPS 0x40000000u /* CU_POINTER_ATTRIBUTE_SYNC_MEMOPS set */
#define HOST_FLAG_MASK 0x0fffffffu

/* The VA_HOST entry whose host bytes hold [p, p+len); caller holds the lock. */
static vm_alloc *host_find(const void *p, size_t len) {
    uintptr_t a = (uintptr_t)p;
    for (size_t i = 0; i < g_vm.n; i++) {
        vm_alloc *v = &g_vm.a[i];
        uintptr_t h = (uintptr_t)v->host;
        if (v->kind == VA_HOST && a >= h && a - h < v->size && v->size - (a - h) >= len) return v;
    }
    return NULL;
}

static int host_overlaps(const void *p, size_t len) {
    uintptr_t a = (uintptr_t)p;
    for (size_t i = 0; i < g_vm.n; i++) {
        const vm_alloc *v = &g_vm.a[i];
        uintptr_t h = (uintptr_t)v->host;
        if (v->kind == VA_HOST && a < h + v->size && h < a + len) return 1;
    }
    return 0;
}

EMU_API CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags) {
    if (!pp) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "pp is NULL");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (Flags & ~0x7u)
        return emu_refuse_at("cuMemHostAlloc", CUDA_ERROR_INVALID_VALUE, "unknown flags 0x%x", Flags);
    if (bytesize == 0) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "bytesize is 0");
    void *p = calloc(1, bytesize);
    if (!p) return EMU_REFUSE(CUDA_ERROR_OUT_OF_MEMORY, "no host memory for %zu bytes", bytesize);
    emu_lock();
    uint64_t dev;
    r = vm_add_host(p, bytesize, c, Flags, VA_HOST, &dev);
    emu_unlock();
    if (r != CUDA_SUCCESS) {
        free(p);
        return r;
    }
    *pp = p;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemAllocHost(void **pp, size_t bytesize) { return cuMemHostAlloc(pp, bytesize, 0); }

static CUresult host_release(void *p, int registered) {
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    vm_alloc *v = p ? host_find(p, 1) : NULL;
    if (!v || v->host != p || !(v->flags & HOST_REGISTERED) != !registered) {
        emu_unlock();
        if (registered)
            return emu_refuse_at("cuMemHostUnregister", CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED,
                                 "%p is not the start of a registered range", p);
        return emu_refuse_at("cuMemFreeHost", CUDA_ERROR_INVALID_VALUE,
                             "%p was not allocated by cuMemHostAlloc/cuMemAllocHost", p);
    }
    vm_free(v->base, VA_HOST);
    emu_unlock();
    if (!registered) free(p);
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemFreeHost(void *p) { return host_release(p, 0); }

EMU_API CUresult cuMemHostRegister(void *p, size_t bytesize, unsigned int Flags) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (!p || bytesize == 0 || (Flags & ~0xfu))
        return emu_refuse_at("cuMemHostRegister", CUDA_ERROR_INVALID_VALUE,
                             "needs a pointer, a size > 0 and known flags");
    if (Flags & CU_MEMHOSTREGISTER_IOMEMORY)
        return emu_refuse_at("cuMemHostRegister", CUDA_ERROR_NOT_SUPPORTED,
                             "CU_MEMHOSTREGISTER_IOMEMORY (device I/O memory) is not emulated");
    emu_lock();
    if (host_overlaps(p, bytesize)) {
        emu_unlock();
        return emu_refuse_at("cuMemHostRegister", CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED,
                             "%p+%zu overlaps a registered or pinned range", p, bytesize);
    }
    uint64_t dev;
    r = vm_add_host(p, bytesize, c, Flags | HOST_REGISTERED, VA_HOST, &dev);
    if (r == CUDA_SUCCESS && (Flags & CU_MEMHOSTREGISTER_READ_ONLY)) vm_find_base(dev)->prot = VM_PROT_READ;
    emu_unlock();
    return r;
}

/* cuda.h maps cuMemHostRegister to _v2; the 4.0 entry point has the same signature. */
#undef cuMemHostRegister
EMU_API CUresult cuMemHostRegister(void *p, size_t bytesize, unsigned int Flags);
EMU_API CUresult cuMemHostRegister(void *p, size_t bytesize, unsigned int Flags) {
    return cuMemHostRegister_v2(p, bytesize, Flags);
}

EMU_API CUresult cuMemHostUnregister(void *p) { return host_release(p, 1); }

EMU_API CUresult cuMemHostGetDevicePointer(CUdeviceptr *pdptr, void *p, unsigned int Flags) {
    if (!pdptr || !p || Flags != 0)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "needs pdptr, a host pointer and Flags 0");
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    const vm_alloc *v = host_find(p, 1);
    if (v)
        *pdptr = (CUdeviceptr)(v->base + ((uintptr_t)p - (uintptr_t)v->host));
    else if ((v = vm_find((uint64_t)(uintptr_t)p, 1)) && v->kind == VA_MANAGED)
        *pdptr = (CUdeviceptr)(uintptr_t)p;
    else
        v = NULL;
    emu_unlock();
    return v ? CUDA_SUCCESS
             : emu_refuse_at("cuMemHostGetDevicePointer", CUDA_ERROR_INVALID_VALUE,
                             "%p is not pinned or registered host memory", p);
}

EMU_API CUresult cuMemHostGetFlags(unsigned int *pFlags, void *p) {
    if (!pFlags || !p) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "pFlags or p is NULL");
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    const vm_alloc *v = host_find(p, 1);
    if (v)
        *pFlags =
            (v->flags & HOST_FLAG_MASK) | CU_MEMHOSTALLOC_DEVICEMAP; /* always mapped (unified addressing) */
    emu_unlock();
    return v ? CUDA_SUCCESS
             : emu_refuse_at("cuMemHostGetFlags", CUDA_ERROR_INVALID_VALUE, "%p is not pinned host memory",
                             p);
}

/* ---- pointer attributes ---- */
static size_t attr_size(CUpointer_attribute a) {
    switch (a) {
    case CU_POINTER_ATTRIBUTE_CONTEXT:
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE:
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR:
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID:
        return 8;
    case CU_POINTER_ATTRIBUTE_P2P_TOKENS:
        return sizeof(CUDA_POINTER_ATTRIBUTE_P2P_TOKENS);
    default:
        return 4;
    }
}

/* Mapping from a queried address to what the space knows; caller holds the lock. */
typedef struct ptr_info {
    const vm_alloc *v;
    int via_host; /* the address was the host side of a pinned range mapped elsewhere */
} ptr_info;

static ptr_info lookup(CUdeviceptr ptr) {
    ptr_info pi = {vm_find((uint64_t)ptr, 1), 0};
    if (!pi.v) {
        pi.v = host_find((const void *)(uintptr_t)ptr, 1);
        pi.via_host = pi.v != NULL;
    }
    return pi;
}

static CUresult get_attr(void *data, CUpointer_attribute attribute, CUdeviceptr ptr, ptr_info pi) {
    const vm_alloc *v = pi.v;
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    uint64_t off = pi.via_host ? (uint64_t)ptr - (uint64_t)(uintptr_t)v->host : (uint64_t)ptr - v->base;
    int host = v->kind == VA_HOST, managed = v->kind == VA_MANAGED;
    uint64_t range_base = pi.via_host ? (uint64_t)(uintptr_t)v->host : v->base;
    switch (attribute) {
    case CU_POINTER_ATTRIBUTE_CONTEXT:
        *(CUcontext *)data = v->owner;
        break;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
        *(unsigned int *)data = host ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
        break;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
        *(CUdeviceptr *)data = (CUdeviceptr)(v->base + off);
        break;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
        if (!host && !managed) return CUDA_ERROR_INVALID_VALUE; /* device memory has no host address */
        *(void **)data = v->host + off;
        break;
    case CU_POINTER_ATTRIBUTE_P2P_TOKENS:
        return CUDA_ERROR_NOT_SUPPORTED;
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS:
        *(unsigned int *)data = !!(v->flags & HOST_SYNC_MEMOPS) || host;
        break;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID:
        *(unsigned long long *)data = v->id;
        break;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED:
        *(unsigned int *)data = managed;
        break;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
        *(int *)data = v->owner ? v->owner->dev : 0;
        break;
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
        *(unsigned int *)data = 0;
        break;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR:
        *(CUdeviceptr *)data = (CUdeviceptr)range_base;
        break;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE:
        *(size_t *)data = v->size;
        break;
    case CU_POINTER_ATTRIBUTE_MAPPED:
        *(unsigned int *)data = 1;
        break;
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
        *(unsigned long long *)data = v->kind == VA_VMAP ? vmm_handle_types(v->obj) : 0;
        break;
    case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE:
        *(unsigned int *)data = 0;
        break;
    case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS:
        *(unsigned int *)data = v->prot == (VM_PROT_READ | VM_PROT_WRITE)
                                    ? CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE
                                : v->prot ? CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READ
                                          : CU_POINTER_ATTRIBUTE_ACCESS_FLAG_NONE;
        break;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
        *(CUmemoryPool *)data = NULL;
        break;
    case CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE:
        *(unsigned int *)data = 0;
        break;
    default:
        return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

EMU_API CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr) {
    if (!data) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "data is NULL");
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    ptr_info pi = lookup(ptr);
    r = get_attr(data, attribute, ptr, pi);
    emu_unlock();
    if (r != CUDA_SUCCESS && !pi.v)
        emu_set_detail(
            "cuPointerGetAttribute: 0x%llx is not memory this driver allocated, mapped or registered",
            (unsigned long long)ptr);
    else if (r != CUDA_SUCCESS)
        emu_set_detail(
            "cuPointerGetAttribute: attribute %d does not apply to 0x%llx (no host address for device "
            "memory, no P2P tokens)",
            (int)attribute, (unsigned long long)ptr);
    return r;
}

EMU_API CUresult cuPointerGetAttributes(unsigned int numAttributes, CUpointer_attribute *attributes,
                                        void **data, CUdeviceptr ptr) {
    if (numAttributes == 0 || !attributes || !data)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "needs numAttributes > 0, attributes and data");
    for (unsigned i = 0; i < numAttributes; i++)
        if (!data[i]) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "data[%u] is NULL", i);
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    ptr_info pi = lookup(ptr);
    for (unsigned i = 0; i < numAttributes; i++) {
        /* unknown pointers (and attributes that do not apply) read as zero, not as an error */
        memset(data[i], 0, attr_size(attributes[i]));
        if (pi.v) get_attr(data[i], attributes[i], ptr, pi);
    }
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuPointerSetAttribute(const void *value, CUpointer_attribute attribute, CUdeviceptr ptr) {
    if (!value) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "value is NULL");
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    if (attribute != CU_POINTER_ATTRIBUTE_SYNC_MEMOPS)
        return emu_refuse_at("cuPointerSetAttribute", CUDA_ERROR_INVALID_VALUE,
                             "only CU_POINTER_ATTRIBUTE_SYNC_MEMOPS can be set");
    emu_lock();
    ptr_info pi = lookup(ptr);
    vm_alloc *v = pi.v ? vm_find_base(pi.v->base) : NULL;
    if (v) {
        if (*(const unsigned int *)value)
            v->flags |= HOST_SYNC_MEMOPS;
        else
            v->flags &= ~HOST_SYNC_MEMOPS;
    }
    emu_unlock();
    return v ? CUDA_SUCCESS
             : emu_refuse_at("cuPointerSetAttribute", CUDA_ERROR_INVALID_VALUE, "0x%llx is unknown memory",
                             (unsigned long long)ptr);
}
