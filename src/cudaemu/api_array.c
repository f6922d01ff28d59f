/* api_array.c — CUDA arrays and mipmapped arrays: creation with the driver's validation,
 * descriptors, memory requirements, destruction, and the linear array copies (cuMemcpy*A*).
 * Storage is host memory in a row-major layout (see tex.h), accounted against the device. */
#include "tex.h"

#include <stdlib.h>
#include <string.h>

unsigned array_format_bytes(CUarray_format f) {
    switch (f) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8:
        return 1;
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16:
    case CU_AD_FORMAT_HALF:
        return 2;
    case CU_AD_FORMAT_UNSIGNED_INT32:
    case CU_AD_FORMAT_SIGNED_INT32:
    case CU_AD_FORMAT_FLOAT:
        return 4;
    default:
        return 0;
    }
}

struct CUarray_st *array_get(CUarray a) {
    if (!a || !handle_live(H_ARRAY, a)) return NULL;
    return a;
}

/* The driver's checks on a 3D descriptor (sizes are those of an sm_90 device). */
static CUresult check_desc(const CUDA_ARRAY3D_DESCRIPTOR *d, const char *fn) {
    const unsigned known = CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_SURFACE_LDST | CUDA_ARRAY3D_CUBEMAP |
                           CUDA_ARRAY3D_TEXTURE_GATHER | CUDA_ARRAY3D_DEPTH_TEXTURE |
                           CUDA_ARRAY3D_COLOR_ATTACHMENT | CUDA_ARRAY3D_SPARSE |
                           CUDA_ARRAY3D_DEFERRED_MAPPING | CUDA_ARRAY3D_VIDEO_ENCODE_DECODE;
    if (!array_format_bytes(d->Format)) {
        int other =
            d->Format == CU_AD_FORMAT_NV12 || (d->Format >= CU_AD_FORMAT_UNORM_INT8X1 && d->Format <= 0xff);
        emu_set_detail("%s: array format 0x%x %s", fn, (unsigned)d->Format,
                       other ? "is not supported by cudaemu (use UNSIGNED/SIGNED_INT8/16/32, HALF or FLOAT)"
                             : "is not a CUarray_format");
        return other ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
    }
    if (d->NumChannels != 1 && d->NumChannels != 2 && d->NumChannels != 4) {
        emu_set_detail("%s: NumChannels %u (must be 1, 2 or 4)", fn, d->NumChannels);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (d->Flags & ~known) {
        emu_set_detail("%s: unknown flags 0x%x", fn, d->Flags);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (d->Flags & (CUDA_ARRAY3D_CUBEMAP | CUDA_ARRAY3D_SPARSE | CUDA_ARRAY3D_DEFERRED_MAPPING |
                    CUDA_ARRAY3D_DEPTH_TEXTURE | CUDA_ARRAY3D_VIDEO_ENCODE_DECODE)) {
        emu_set_detail(
            "%s: flags 0x%x (cubemap, sparse, deferred-mapping, depth and video arrays) are not supported "
            "by cudaemu",
            fn, d->Flags);
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    int layered = (d->Flags & CUDA_ARRAY3D_LAYERED) != 0;
    size_t W = d->Width, H = d->Height, D = d->Depth;
    int bad = W == 0 || (H == 0 && D != 0 && !layered) || (layered && D == 0);
    if (!bad) {
        if (layered)
            bad = H == 0 ? (W > 32768 || D > 2048) : (W > 32768 || H > 32768 || D > 2048);
        else if (D)
            bad = W > 16384 || H > 16384 || D > 16384;
        else if (H)
            bad = W > 131072 || H > 65536;
        else
            bad = W > 131072;
        if (!bad && (d->Flags & CUDA_ARRAY3D_TEXTURE_GATHER) && (D || !H))
            bad = 1; /* gather needs a 2D array */
        if (bad) {
            emu_set_detail("%s: extent %zux%zux%zu exceeds the device's limits", fn, W, H, D);
            return CUDA_ERROR_INVALID_VALUE;
        }
    } else {
        emu_set_detail(
            "%s: extent %zux%zux%zu is not a valid 1D/2D/3D%s array (Width > 0; Depth needs Height or "
            "CUDA_ARRAY3D_LAYERED)",
            fn, W, H, D, layered ? " layered" : "");
        return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

/* Creates an array for ctx (lock held). */
static CUresult array_new(CUcontext c, const CUDA_ARRAY3D_DESCRIPTOR *d, struct CUarray_st **out) {
    struct CUarray_st *a = calloc(1, sizeof *a);
    if (!a) return CUDA_ERROR_OUT_OF_MEMORY;
    a->ctx = c;
    a->desc = *d;
    a->esz = array_format_bytes(d->Format) * d->NumChannels;
    a->layered = (d->Flags & CUDA_ARRAY3D_LAYERED) != 0;
    a->w = d->Width;
    a->h = d->Height ? d->Height : 1;
    a->d = d->Depth ? d->Depth : 1;
    a->dims = d->Depth && !a->layered ? 3 : d->Height ? 2 : 1;
    a->bytes = a->w * a->h * a->d * a->esz; /* within limits: no overflow */
    emu_device *dev = &g_emu.dev[c->dev];
    if (a->bytes > dev->total_mem - dev->used_mem || !(a->data = calloc(1, a->bytes))) {
        emu_set_detail("array of %zu bytes: out of device memory", a->bytes);
        free(a);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    dev->used_mem += a->bytes;
    handle_add(H_ARRAY, a);
    *out = a;
    return CUDA_SUCCESS;
}

static void array_release(struct CUarray_st *a) {
    texobj_array_gone(a);
    handle_del(H_ARRAY, a);
    emu_device *dev = &g_emu.dev[a->ctx->dev];
    dev->used_mem -= a->bytes;
    free(a->data);
    free(a);
}

EMU_API CUresult cuArray3DCreate(CUarray *pHandle, const CUDA_ARRAY3D_DESCRIPTOR *pAllocateArray) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (!pHandle || !pAllocateArray) return CUDA_ERROR_INVALID_VALUE;
    if ((r = check_desc(pAllocateArray, "cuArray3DCreate")) != CUDA_SUCCESS) return r;
    struct CUarray_st *a = NULL;
    emu_lock();
    r = array_new(c, pAllocateArray, &a);
    emu_unlock();
    if (r == CUDA_SUCCESS) *pHandle = a;
    return r;
}

EMU_API CUresult cuArrayCreate(CUarray *pHandle, const CUDA_ARRAY_DESCRIPTOR *pAllocateArray) {
    if (!pAllocateArray) {
        CUresult r = ctx_check(NULL);
        return r != CUDA_SUCCESS ? r : CUDA_ERROR_INVALID_VALUE;
    }
    CUDA_ARRAY3D_DESCRIPTOR d;
    memset(&d, 0, sizeof d);
    d.Width = pAllocateArray->Width;
    d.Height = pAllocateArray->Height;
    d.Format = pAllocateArray->Format;
    d.NumChannels = pAllocateArray->NumChannels;
    return cuArray3DCreate(pHandle, &d);
}

/* Looks up a live array; INVALID_HANDLE otherwise. Takes the lock, which the caller releases. */
static CUresult get_locked(CUarray h, struct CUarray_st **out) {
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    *out = array_get(h);
    if (!*out) {
        emu_unlock();
        emu_set_detail("CUarray %p is not a live array", (void *)h);
        return CUDA_ERROR_INVALID_HANDLE;
    }
    return CUDA_SUCCESS;
}

EMU_API CUresult cuArray3DGetDescriptor(CUDA_ARRAY3D_DESCRIPTOR *pArrayDescriptor, CUarray hArray) {
    if (!pArrayDescriptor) return CUDA_ERROR_INVALID_VALUE;
    struct CUarray_st *a;
    CUresult r = get_locked(hArray, &a);
    if (r != CUDA_SUCCESS) return r;
    *pArrayDescriptor = a->desc;
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuArrayGetDescriptor(CUDA_ARRAY_DESCRIPTOR *pArrayDescriptor, CUarray hArray) {
    if (!pArrayDescriptor) return CUDA_ERROR_INVALID_VALUE;
    struct CUarray_st *a;
    CUresult r = get_locked(hArray, &a);
    if (r != CUDA_SUCCESS) return r;
    pArrayDescriptor->Width = a->desc.Width;
    pArrayDescriptor->Height = a->desc.Height;
    pArrayDescriptor->Format = a->desc.Format;
    pArrayDescriptor->NumChannels = a->desc.NumChannels;
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuArrayGetMemoryRequirements(CUDA_ARRAY_MEMORY_REQUIREMENTS *memoryRequirements,
                                              CUarray array, CUdevice device) {
    if (!memoryRequirements) return CUDA_ERROR_INVALID_VALUE;
    struct CUarray_st *a;
    CUresult r = get_locked(array, &a);
    if (r != CUDA_SUCCESS) return r;
    if (device < 0 || device >= g_emu.ndev) {
        emu_unlock();
        return CUDA_ERROR_INVALID_DEVICE;
    }
    memset(memoryRequirements, 0, sizeof *memoryRequirements);
    memoryRequirements->alignment = 512; /* CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT */
    memoryRequirements->size = (a->bytes + 511) / 512 * 512;
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuArrayGetPlane(CUarray *pPlaneArray, CUarray hArray, unsigned int planeIdx) {
    if (!pPlaneArray) return CUDA_ERROR_INVALID_VALUE;
    struct CUarray_st *a;
    CUresult r = get_locked(hArray, &a);
    if (r != CUDA_SUCCESS) return r;
    emu_unlock();
    /* only multi-planar formats (NV12) have planes; cudaemu creates none of them */
    emu_set_detail("cuArrayGetPlane: plane %u of a single-planar array (only NV12 arrays have planes)",
                   planeIdx);
    return CUDA_ERROR_INVALID_VALUE;
}

EMU_API CUresult cuArrayGetSparseProperties(CUDA_ARRAY_SPARSE_PROPERTIES *sparseProperties, CUarray array) {
    if (!sparseProperties) return CUDA_ERROR_INVALID_VALUE;
    struct CUarray_st *a;
    CUresult r = get_locked(array, &a);
    if (r != CUDA_SUCCESS) return r;
    emu_unlock();
    emu_set_detail("cuArrayGetSparseProperties: the array is not sparse (cudaemu has no sparse arrays)");
    return CUDA_ERROR_INVALID_VALUE;
}

EMU_API CUresult cuArrayDestroy(CUarray hArray) {
    struct CUarray_st *a;
    CUresult r = get_locked(hArray, &a);
    if (r != CUDA_SUCCESS) return r;
    if (a->owner) {
        emu_unlock();
        emu_set_detail(
            "cuArrayDestroy: the array is a level of a mipmapped array (use cuMipmappedArrayDestroy)");
        return CUDA_ERROR_INVALID_HANDLE;
    }
    array_release(a);
    emu_unlock();
    return CUDA_SUCCESS;
}

/* ---- mipmapped arrays: every level is stored; textures sample level 0 ---- */
static void mip_release(struct CUmipmappedArray_st *m) {
    for (unsigned i = 0; i < m->nlevels; i++)
        if (m->levels[i]) array_release(m->levels[i]);
    handle_del(H_MIPARRAY, m);
    free(m->levels);
    free(m);
}

EMU_API CUresult cuMipmappedArrayCreate(CUmipmappedArray *pHandle,
                                        const CUDA_ARRAY3D_DESCRIPTOR *pMipmappedArrayDesc,
                                        unsigned int numMipmapLevels) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (!pHandle || !pMipmappedArrayDesc) return CUDA_ERROR_INVALID_VALUE;
    if ((r = check_desc(pMipmappedArrayDesc, "cuMipmappedArrayCreate")) != CUDA_SUCCESS) return r;
    const CUDA_ARRAY3D_DESCRIPTOR *d = pMipmappedArrayDesc;
    size_t big = d->Width;
    if (d->Height > big) big = d->Height;
    if (!(d->Flags & CUDA_ARRAY3D_LAYERED) && d->Depth > big) big = d->Depth;
    unsigned maxlev = 1;
    while (big >> maxlev)
        maxlev++;
    if (numMipmapLevels == 0 || numMipmapLevels > maxlev) {
        emu_set_detail("cuMipmappedArrayCreate: %u levels (1 to %u for this extent)", numMipmapLevels,
                       maxlev);
        return CUDA_ERROR_INVALID_VALUE;
    }
    struct CUmipmappedArray_st *m = calloc(1, sizeof *m);
    if (!m || !(m->levels = calloc(numMipmapLevels, sizeof *m->levels))) {
        free(m);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    m->ctx = c;
    m->nlevels = numMipmapLevels;
    emu_lock();
    handle_add(H_MIPARRAY, m);
    for (unsigned i = 0; i < numMipmapLevels && r == CUDA_SUCCESS; i++) {
        CUDA_ARRAY3D_DESCRIPTOR ld = *d;
        ld.Width = d->Width >> i ? d->Width >> i : 1;
        if (d->Height) ld.Height = d->Height >> i ? d->Height >> i : 1;
        if (d->Depth && !(d->Flags & CUDA_ARRAY3D_LAYERED)) ld.Depth = d->Depth >> i ? d->Depth >> i : 1;
        r = array_new(c, &ld, &m->levels[i]);
        if (r == CUDA_SUCCESS) m->levels[i]->owner = m;
    }
    if (r != CUDA_SUCCESS)
        mip_release(m);
    else
        *pHandle = m;
    emu_unlock();
    return r;
}

static CUresult mip_get_locked(CUmipmappedArray h, struct CUmipmappedArray_st **out) {
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if (!h || !handle_live(H_MIPARRAY, h)) {
        emu_unlock();
        emu_set_detail("CUmipmappedArray %p is not a live mipmapped array", (void *)h);
        return CUDA_ERROR_INVALID_HANDLE;
    }
    *out = h;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMipmappedArrayGetLevel(CUarray *pLevelArray, CUmipmappedArray hMipmappedArray,
                                          unsigned int level) {
    if (!pLevelArray) return CUDA_ERROR_INVALID_VALUE;
    struct CUmipmappedArray_st *m;
    CUresult r = mip_get_locked(hMipmappedArray, &m);
    if (r != CUDA_SUCCESS) return r;
    if (level >= m->nlevels) {
        emu_unlock();
        emu_set_detail("cuMipmappedArrayGetLevel: level %u of %u", level, m->nlevels);
        return CUDA_ERROR_INVALID_VALUE;
    }
    *pLevelArray = m->levels[level];
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMipmappedArrayGetMemoryRequirements(CUDA_ARRAY_MEMORY_REQUIREMENTS *memoryRequirements,
                                                       CUmipmappedArray mipmap, CUdevice device) {
    if (!memoryRequirements) return CUDA_ERROR_INVALID_VALUE;
    struct CUmipmappedArray_st *m;
    CUresult r = mip_get_locked(mipmap, &m);
    if (r != CUDA_SUCCESS) return r;
    if (device < 0 || device >= g_emu.ndev) {
        emu_unlock();
        return CUDA_ERROR_INVALID_DEVICE;
    }
    memset(memoryRequirements, 0, sizeof *memoryRequirements);
    memoryRequirements->alignment = 512;
    for (unsigned i = 0; i < m->nlevels; i++)
        memoryRequirements->size += (m->levels[i]->bytes + 511) / 512 * 512;
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray) {
    struct CUmipmappedArray_st *m;
    CUresult r = mip_get_locked(hMipmappedArray, &m);
    if (r != CUDA_SUCCESS) return r;
    mip_release(m);
    emu_unlock();
    return CUDA_SUCCESS;
}

void array_free_ctx(CUcontext ctx) {
    void *buf[64];
    for (;;) {
        size_t n = handle_list(H_MIPARRAY, buf, 64), k = n < 64 ? n : 64, freed = 0;
        for (size_t i = 0; i < k; i++)
            if (((struct CUmipmappedArray_st *)buf[i])->ctx == ctx) {
                mip_release(buf[i]);
                freed++;
            }
        if (!freed) break;
    }
    for (;;) {
        size_t n = handle_list(H_ARRAY, buf, 64), k = n < 64 ? n : 64, freed = 0;
        for (size_t i = 0; i < k; i++) {
            struct CUarray_st *a = buf[i];
            if (a->ctx == ctx && !a->owner) {
                array_release(a);
                freed++;
            }
        }
        if (!freed) break;
    }
}

/* ---- linear copies to and from arrays (offsets into the row-major storage) ---- */
enum { AS_HOST, AS_DEV, AS_ARRAY };
typedef struct aside {
    int kind;
    struct CUarray_st *arr;
    size_t off;
    const void *host;
    void *hostw;
    CUdeviceptr dev;
} aside;

/* Host address of one side of a linear copy; NULL (with a detail) when out of range. Lock held. */
static uint8_t *aside_ptr(const aside *s, size_t n, int write, const char *fn) {
    if (s->kind == AS_ARRAY) {
        if (!array_get(s->arr)) {
            emu_set_detail("%s: CUarray %p is not a live array", fn, (void *)s->arr);
            return NULL;
        }
        if (s->off > s->arr->bytes || n > s->arr->bytes - s->off) {
            emu_set_detail("%s: %zu bytes at offset %zu exceed the array's %zu bytes", fn, n, s->off,
                           s->arr->bytes);
            return NULL;
        }
        return s->arr->data + s->off;
    }
    if (s->kind == AS_DEV) {
        const vm_alloc *v = vm_find((uint64_t)s->dev, n);
        if (!v)
            emu_set_detail("%s: device range 0x%llx + %zu is not allocated", fn, (unsigned long long)s->dev,
                           n);
        return v ? v->host + ((uint64_t)s->dev - v->base) : NULL;
    }
    const void *h = write ? s->hostw : s->host;
    if (!h) emu_set_detail("%s: NULL host pointer", fn);
    return (uint8_t *)(uintptr_t)h;
}

static CUresult acopy(const aside *dst, const aside *src, size_t n, CUstream s, int async, const char *fn) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (async && (r = stream_check(s, c)) != CUDA_SUCCESS) return r;
    emu_lock();
    if ((dst->kind == AS_ARRAY && !array_get(dst->arr)) || (src->kind == AS_ARRAY && !array_get(src->arr))) {
        emu_unlock();
        emu_set_detail("%s: not a live CUarray", fn);
        return CUDA_ERROR_INVALID_HANDLE;
    }
    if (n == 0) {
        emu_unlock();
        return CUDA_SUCCESS;
    }
    uint8_t *d = aside_ptr(dst, n, 1, fn), *p = d ? aside_ptr(src, n, 0, fn) : NULL;
    if (d && p) memmove(d, p, n);
    emu_unlock();
    return d && p ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

EMU_API CUresult cuMemcpyHtoA(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount) {
    aside d = {.kind = AS_ARRAY, .arr = dstArray, .off = dstOffset}, s = {.host = srcHost};
    return acopy(&d, &s, ByteCount, NULL, 0, "cuMemcpyHtoA");
}
EMU_API CUresult cuMemcpyAtoH(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount) {
    aside d = {.hostw = dstHost}, s = {.kind = AS_ARRAY, .arr = srcArray, .off = srcOffset};
    return acopy(&d, &s, ByteCount, NULL, 0, "cuMemcpyAtoH");
}
EMU_API CUresult cuMemcpyHtoAAsync(CUarray dstArray, size_t dstOffset, const void *srcHost, size_t ByteCount,
                                   CUstream hStream) {
    aside d = {.kind = AS_ARRAY, .arr = dstArray, .off = dstOffset}, s = {.host = srcHost};
    return acopy(&d, &s, ByteCount, hStream, 1, "cuMemcpyHtoAAsync");
}
EMU_API CUresult cuMemcpyAtoHAsync(void *dstHost, CUarray srcArray, size_t srcOffset, size_t ByteCount,
                                   CUstream hStream) {
    aside d = {.hostw = dstHost}, s = {.kind = AS_ARRAY, .arr = srcArray, .off = srcOffset};
    return acopy(&d, &s, ByteCount, hStream, 1, "cuMemcpyAtoHAsync");
}
EMU_API CUresult cuMemcpyDtoA(CUarray dstArray, size_t dstOffset, CUdeviceptr srcDevice, size_t ByteCount) {
    aside d = {.kind = AS_ARRAY, .arr = dstArray, .off = dstOffset}, s = {.kind = AS_DEV, .dev = srcDevice};
    return acopy(&d, &s, ByteCount, NULL, 0, "cuMemcpyDtoA");
}
EMU_API CUresult cuMemcpyAtoD(CUdeviceptr dstDevice, CUarray srcArray, size_t srcOffset, size_t ByteCount) {
    aside d = {.kind = AS_DEV, .dev = dstDevice}, s = {.kind = AS_ARRAY, .arr = srcArray, .off = srcOffset};
    return acopy(&d, &s, ByteCount, NULL, 0, "cuMemcpyAtoD");
}
EMU_API CUresult cuMemcpyAtoA(CUarray dstArray, size_t dstOffset, CUarray srcArray, size_t srcOffset,
                              size_t ByteCount) {
    aside d = {.kind = AS_ARRAY, .arr = dstArray, .off = dstOffset},
          s = {.kind = AS_ARRAY, .arr = srcArray, .off = srcOffset};
    return acopy(&d, &s, ByteCount, NULL, 0, "cuMemcpyAtoA");
}
