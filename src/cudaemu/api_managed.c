/* api_managed.c — managed (unified) memory: cuMemAllocManaged hands out host memory mapped at the
 * same numeric address in the device address space, so one pointer works from the host and from
 * kernels without copies. Prefetch has nothing to move and only validates and records its target;
 * advice is recorded per allocation and read back by cuMemRangeGetAttribute(s). */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

typedef struct managed_info {
    int read_mostly;
    CUmemLocation pref;   /* type CU_MEM_LOCATION_TYPE_INVALID: none */
    CUmemLocation last;   /* last prefetch target */
    uint32_t accessed_by; /* device bit mask */
} managed_info;

EMU_API CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags) {
    if (!dptr) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "dptr is NULL");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (bytesize == 0 || (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST))
        return emu_refuse_at("cuMemAllocManaged", CUDA_ERROR_INVALID_VALUE,
                             "size must be > 0 and flags CU_MEM_ATTACH_GLOBAL or _HOST");
    managed_info *mi = calloc(1, sizeof *mi);
    if (!mi) return EMU_REFUSE(CUDA_ERROR_OUT_OF_MEMORY, "no host memory");
    emu_lock();
    uint64_t a = 0;
    r = vm_alloc_managed(bytesize, c, flags, &a);
    if (r == CUDA_SUCCESS) vm_find_base(a)->obj = mi; /* the allocation's entry owns mi from here */
    emu_unlock();
    if (r != CUDA_SUCCESS) {
        free(mi);
        return r;
    }
    *dptr = (CUdeviceptr)a;
    // cppcheck-suppress memleak ; mi is owned by the allocation's entry (freed with it)
    return CUDA_SUCCESS;
}

/* The managed allocation holding [p, p+n); caller holds the lock. */
static managed_info *range_info(CUdeviceptr p, size_t n) {
    const vm_alloc *v = vm_find((uint64_t)p, n ? n : 1);
    return v && v->kind == VA_MANAGED ? v->obj : NULL;
}

static int location_ok(const CUmemLocation *l, int allow_host) {
    if (l->type == CU_MEM_LOCATION_TYPE_DEVICE) return l->id >= 0 && l->id < g_emu.ndev;
    return allow_host && (l->type == CU_MEM_LOCATION_TYPE_HOST || l->type == CU_MEM_LOCATION_TYPE_HOST_NUMA ||
                          l->type == CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT);
}

static CUmemLocation from_device(CUdevice d) {
    CUmemLocation l = {CU_MEM_LOCATION_TYPE_DEVICE, d};
    if (d == CU_DEVICE_CPU) l.type = CU_MEM_LOCATION_TYPE_HOST, l.id = 0;
    return l;
}

static CUresult prefetch(CUdeviceptr devPtr, size_t count, CUmemLocation loc, unsigned flags, CUstream s) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if ((r = stream_check(s, c)) != CUDA_SUCCESS) return r;
    if (flags != 0 || count == 0 || !location_ok(&loc, 1))
        return emu_refuse_at("cuMemPrefetchAsync", CUDA_ERROR_INVALID_VALUE,
                             "needs count > 0, flags 0 and a device or host location");
    emu_lock();
    managed_info *mi = range_info(devPtr, count);
    if (mi) mi->last = loc; /* host and device share the bytes: nothing moves */
    emu_unlock();
    return mi ? CUDA_SUCCESS
              : emu_refuse_at("cuMemPrefetchAsync", CUDA_ERROR_INVALID_VALUE,
                              "0x%llx+%zu is not managed memory", (unsigned long long)devPtr, count);
}

EMU_API CUresult cuMemPrefetchAsync_v2(CUdeviceptr devPtr, size_t count, CUmemLocation location,
                                       unsigned int flags, CUstream hStream) {
    return prefetch(devPtr, count, location, flags, hStream);
}

static CUresult advise(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUmemLocation loc) {
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    if (count == 0 || advice < CU_MEM_ADVISE_SET_READ_MOSTLY || advice > CU_MEM_ADVISE_UNSET_ACCESSED_BY)
        return emu_refuse_at("cuMemAdvise", CUDA_ERROR_INVALID_VALUE,
                             "needs count > 0 and a CU_MEM_ADVISE_* value (got %d)", (int)advice);
    int needs_loc = advice == CU_MEM_ADVISE_SET_PREFERRED_LOCATION ||
                    advice == CU_MEM_ADVISE_SET_ACCESSED_BY || advice == CU_MEM_ADVISE_UNSET_ACCESSED_BY;
    if (needs_loc && !location_ok(&loc, 1))
        return emu_refuse_at("cuMemAdvise", CUDA_ERROR_INVALID_DEVICE,
                             "this advice needs a device or host location");
    emu_lock();
    managed_info *mi = range_info(devPtr, count);
    if (mi) {
        switch (advice) {
        case CU_MEM_ADVISE_SET_READ_MOSTLY:
            mi->read_mostly = 1;
            break;
        case CU_MEM_ADVISE_UNSET_READ_MOSTLY:
            mi->read_mostly = 0;
            break;
        case CU_MEM_ADVISE_SET_PREFERRED_LOCATION:
            mi->pref = loc;
            break;
        case CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION:
            memset(&mi->pref, 0, sizeof mi->pref);
            break;
        case CU_MEM_ADVISE_SET_ACCESSED_BY:
            if (loc.type == CU_MEM_LOCATION_TYPE_DEVICE && loc.id < 32) mi->accessed_by |= 1u << loc.id;
            break;
        case CU_MEM_ADVISE_UNSET_ACCESSED_BY:
            if (loc.type == CU_MEM_LOCATION_TYPE_DEVICE && loc.id < 32) mi->accessed_by &= ~(1u << loc.id);
            break;
        }
    }
    emu_unlock();
    return mi ? CUDA_SUCCESS
              : emu_refuse_at("cuMemAdvise", CUDA_ERROR_INVALID_VALUE, "0x%llx+%zu is not managed memory",
                              (unsigned long long)devPtr, count);
}

EMU_API CUresult cuMemAdvise_v2(CUdeviceptr devPtr, size_t count, CUmem_advise advice,
                                CUmemLocation location) {
    return advise(devPtr, count, advice, location);
}

/* The pre-12.2 forms took a device ordinal (or CU_DEVICE_CPU) instead of a CUmemLocation. */
#undef cuMemAdvise
#undef cuMemPrefetchAsync
EMU_API CUresult cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUdevice device);
EMU_API CUresult cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream);
EMU_API CUresult cuMemPrefetchAsync_ptsz(CUdeviceptr devPtr, size_t count, CUdevice dstDevice,
                                         CUstream hStream);
EMU_API CUresult cuMemPrefetchAsync_v2_ptsz(CUdeviceptr devPtr, size_t count, CUmemLocation location,
                                            unsigned int flags, CUstream hStream);
EMU_API CUresult cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUdevice device) {
    return advise(devPtr, count, advice, from_device(device));
}
EMU_API CUresult cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream) {
    return prefetch(devPtr, count, from_device(dstDevice), 0, hStream);
}
EMU_API CUresult cuMemPrefetchAsync_ptsz(CUdeviceptr devPtr, size_t count, CUdevice dstDevice,
                                         CUstream hStream) {
    return prefetch(devPtr, count, from_device(dstDevice), 0, hStream);
}
EMU_API CUresult cuMemPrefetchAsync_v2_ptsz(CUdeviceptr devPtr, size_t count, CUmemLocation location,
                                            unsigned int flags, CUstream hStream) {
    return prefetch(devPtr, count, location, flags, hStream);
}

static int legacy_id(const CUmemLocation *l) {
    if (l->type == CU_MEM_LOCATION_TYPE_DEVICE) return l->id;
    if (l->type == CU_MEM_LOCATION_TYPE_INVALID) return CU_DEVICE_INVALID;
    return CU_DEVICE_CPU;
}

static CUresult range_attr(void *data, size_t dataSize, CUmem_range_attribute attribute,
                           const managed_info *mi) {
    int *out = data;
    if (dataSize < 4 || dataSize % 4)
        return emu_refuse_at("cuMemRangeGetAttribute", CUDA_ERROR_INVALID_VALUE,
                             "dataSize %zu must be a positive multiple of 4", dataSize);
    switch (attribute) {
    case CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY:
        *out = mi->read_mostly;
        break;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION:
        *out = legacy_id(&mi->pref);
        break;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION:
        *out = legacy_id(&mi->last);
        break;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_TYPE:
        *out = (int)mi->pref.type;
        break;
    case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION_ID:
        *out = mi->pref.id;
        break;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_TYPE:
        *out = (int)mi->last.type;
        break;
    case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION_ID:
        *out = mi->last.id;
        break;
    case CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY: {
        size_t k = 0, n = dataSize / 4;
        for (int d = 0; d < g_emu.ndev && d < 32 && k < n; d++)
            if (mi->accessed_by & (1u << d)) out[k++] = d;
        while (k < n)
            out[k++] = CU_DEVICE_INVALID;
        break;
    }
    default:
        return emu_refuse_at("cuMemRangeGetAttribute", CUDA_ERROR_INVALID_VALUE, "unknown attribute %d",
                             (int)attribute);
    }
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemRangeGetAttribute(void *data, size_t dataSize, CUmem_range_attribute attribute,
                                        CUdeviceptr devPtr, size_t count) {
    if (!data || count == 0) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "needs data and count > 0");
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    const managed_info *mi = range_info(devPtr, count);
    r = mi ? range_attr(data, dataSize, attribute, mi) : CUDA_ERROR_INVALID_VALUE;
    emu_unlock();
    if (!mi)
        emu_set_detail("cuMemRangeGetAttribute: 0x%llx+%zu is not managed memory", (unsigned long long)devPtr,
                       count);
    return r;
}

EMU_API CUresult cuMemRangeGetAttributes(void **data, size_t *dataSizes, CUmem_range_attribute *attributes,
                                         size_t numAttributes, CUdeviceptr devPtr, size_t count) {
    if (!data || !dataSizes || !attributes || numAttributes == 0)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                          "needs data, dataSizes, attributes and numAttributes > 0");
    for (size_t i = 0; i < numAttributes; i++) {
        CUresult r = cuMemRangeGetAttribute(data[i], dataSizes[i], attributes[i], devPtr, count);
        if (r != CUDA_SUCCESS) return r;
    }
    return CUDA_SUCCESS;
}

EMU_API CUresult cuStreamAttachMemAsync(CUstream hStream, CUdeviceptr dptr, size_t length,
                                        unsigned int flags) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS) return r;
    if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST && flags != CU_MEM_ATTACH_SINGLE)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "flags must be CU_MEM_ATTACH_GLOBAL, _HOST or _SINGLE");
    emu_lock();
    const vm_alloc *v = vm_find((uint64_t)dptr, 1);
    int ok = v && v->kind == VA_MANAGED && v->base == (uint64_t)dptr && (length == 0 || length == v->size);
    emu_unlock();
    return ok ? CUDA_SUCCESS
              : emu_refuse_at("cuStreamAttachMemAsync", CUDA_ERROR_INVALID_VALUE,
                              "0x%llx is not the start of a managed allocation", (unsigned long long)dptr);
}

EMU_API CUresult cuStreamAttachMemAsync_ptsz(CUstream hStream, CUdeviceptr dptr, size_t length,
                                             unsigned int flags);
EMU_API CUresult cuStreamAttachMemAsync_ptsz(CUstream hStream, CUdeviceptr dptr, size_t length,
                                             unsigned int flags) {
    return cuStreamAttachMemAsync(hStream, dptr, length, flags);
}
