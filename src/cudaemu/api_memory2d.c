/* api_memory2d.c — pitched allocations, 2D copies and 2D memsets (the stream-ordered allocator
 * lives in api_pool.c). */
#include "emu.h"

#include <string.h>

EMU_API CUresult cuMemAllocPitch(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height,
                                 unsigned int ElementSizeBytes)
{
    if (!dptr || !pPitch || !WidthInBytes || !Height) return CUDA_ERROR_INVALID_VALUE;
    if (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16) return CUDA_ERROR_INVALID_VALUE;
    size_t pitch = (WidthInBytes + 511) / 512 * 512;
    if (Height > SIZE_MAX / pitch) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = cuMemAlloc_v2(dptr, pitch * Height);
    if (r == CUDA_SUCCESS) *pPitch = pitch;
    return r;
}

/* Host address of a row range of one side of a 2D copy; NULL when out of bounds. Lock held. */
static uint8_t *side(CUmemorytype type, const void *host, CUdeviceptr dev, size_t x, size_t y, size_t pitch,
                     size_t width, size_t height)
{
    if (height == 0) return NULL;
    if (y > (SIZE_MAX - x) / (pitch ? pitch : 1)) return NULL;
    size_t first = y * pitch + x, span = (height - 1) * pitch + width;
    if (type == CU_MEMORYTYPE_HOST) return host ? (uint8_t *)(uintptr_t)host + first : NULL;
    if (type == CU_MEMORYTYPE_UNIFIED) {
        const vm_alloc *v = vm_find((uint64_t)dev + first, span);
        if (v) return v->host + ((uint64_t)dev + first - v->base);
        return dev ? (uint8_t *)(uintptr_t)dev + first : NULL;
    }
    if (type != CU_MEMORYTYPE_DEVICE) return NULL;
    const vm_alloc *v = vm_find((uint64_t)dev + first, span);
    return v ? v->host + ((uint64_t)dev + first - v->base) : NULL;
}

static CUresult copy2d(const CUDA_MEMCPY2D *p, CUstream s, int async)
{
    if (!p) return CUDA_ERROR_INVALID_VALUE;
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (async && (r = stream_check(s, c)) != CUDA_SUCCESS) return r;
    if (p->srcMemoryType == CU_MEMORYTYPE_ARRAY || p->dstMemoryType == CU_MEMORYTYPE_ARRAY) return CUDA_ERROR_NOT_SUPPORTED;
    if (!p->WidthInBytes || !p->Height) return CUDA_SUCCESS;
    if ((p->Height > 1 && (p->srcPitch < p->WidthInBytes || p->dstPitch < p->WidthInBytes))) return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    uint8_t *src = side(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcXInBytes, p->srcY, p->srcPitch,
                        p->WidthInBytes, p->Height);
    uint8_t *dst = side(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstXInBytes, p->dstY, p->dstPitch,
                        p->WidthInBytes, p->Height);
    if (src && dst)
        for (size_t row = 0; row < p->Height; row++)
            memmove(dst + row * p->dstPitch, src + row * p->srcPitch, p->WidthInBytes);
    emu_unlock();
    return src && dst ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

EMU_API CUresult cuMemcpy2D(const CUDA_MEMCPY2D *pCopy) { return copy2d(pCopy, NULL, 0); }
EMU_API CUresult cuMemcpy2DUnaligned(const CUDA_MEMCPY2D *pCopy) { return copy2d(pCopy, NULL, 0); }
EMU_API CUresult cuMemcpy2DAsync(const CUDA_MEMCPY2D *pCopy, CUstream hStream) { return copy2d(pCopy, hStream, 1); }

static CUresult set2d(CUdeviceptr d, size_t pitch, const void *val, size_t esz, size_t w, size_t h, CUstream s, int async)
{
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (async && (r = stream_check(s, c)) != CUDA_SUCCESS) return r;
    if (!w || !h) return CUDA_SUCCESS;
    if ((uint64_t)d % esz || (h > 1 && pitch < w * esz) || w > SIZE_MAX / esz) return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    uint8_t *p = side(CU_MEMORYTYPE_DEVICE, NULL, d, 0, 0, pitch, w * esz, h);
    if (p)
        for (size_t row = 0; row < h; row++)
            for (size_t i = 0; i < w; i++) memcpy(p + row * pitch + i * esz, val, esz);
    emu_unlock();
    return p ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

EMU_API CUresult cuMemsetD2D8(CUdeviceptr d, size_t pitch, unsigned char v, size_t w, size_t h)
{
    return set2d(d, pitch, &v, 1, w, h, NULL, 0);
}
EMU_API CUresult cuMemsetD2D16(CUdeviceptr d, size_t pitch, unsigned short v, size_t w, size_t h)
{
    return set2d(d, pitch, &v, 2, w, h, NULL, 0);
}
EMU_API CUresult cuMemsetD2D32(CUdeviceptr d, size_t pitch, unsigned int v, size_t w, size_t h)
{
    return set2d(d, pitch, &v, 4, w, h, NULL, 0);
}
EMU_API CUresult cuMemsetD2D8Async(CUdeviceptr d, size_t pitch, unsigned char v, size_t w, size_t h, CUstream s)
{
    return set2d(d, pitch, &v, 1, w, h, s, 1);
}
EMU_API CUresult cuMemsetD2D16Async(CUdeviceptr d, size_t pitch, unsigned short v, size_t w, size_t h, CUstream s)
{
    return set2d(d, pitch, &v, 2, w, h, s, 1);
}
EMU_API CUresult cuMemsetD2D32Async(CUdeviceptr d, size_t pitch, unsigned int v, size_t w, size_t h, CUstream s)
{
    return set2d(d, pitch, &v, 4, w, h, s, 1);
}
