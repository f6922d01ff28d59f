/* api_memory2d.c — pitched allocations, 2D and 3D copies (host, device and CUDA-array sides) and
 * 2D memsets (the stream-ordered allocator lives in api_pool.c). */
#include "emu.h"
#include "tex.h"

#include <stdio.h>
#include <string.h>

EMU_API CUresult cuMemAllocPitch(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, size_t Height,
                                 unsigned int ElementSizeBytes) {
    if (!dptr || !pPitch || !WidthInBytes || !Height) return CUDA_ERROR_INVALID_VALUE;
    if (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16)
        return CUDA_ERROR_INVALID_VALUE;
    size_t pitch = (WidthInBytes + 511) / 512 * 512;
    if (Height > SIZE_MAX / pitch) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = cuMemAlloc_v2(dptr, pitch * Height);
    if (r == CUDA_SUCCESS) *pPitch = pitch;
    return r;
}

/* Host address of a row range of one side of a 2D copy; NULL when out of bounds. Lock held. */
static uint8_t *side(CUmemorytype type, const void *host, CUdeviceptr dev, size_t x, size_t y, size_t pitch,
                     size_t width, size_t height) {
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

/* One side of a 2D/3D copy as the copy engine sees it. */
typedef struct cside {
    CUmemorytype type;
    const void *host;
    CUdeviceptr dev;
    CUarray arr;
    size_t x, y, z, pitch, height;
} cside;

/* Resolves a side to a host address with its row and slice pitch; 0 or a CUresult (detail set).
 * Lock held. */
static CUresult resolve_side(const cside *s, size_t W, size_t H, size_t D, const char *what, uint8_t **out,
                             size_t *pitch, size_t *slice) {
    if (s->type == CU_MEMORYTYPE_ARRAY) {
        struct CUarray_st *a = array_get(s->arr);
        if (!a) {
            emu_set_detail("%s: CUarray %p is not a live CUDA array", what, (void *)s->arr);
            return CUDA_ERROR_INVALID_HANDLE;
        }
        size_t rowb = a->w * a->esz;
        if (s->x % a->esz || W % a->esz || s->x > rowb || W > rowb - s->x || s->y > a->h || H > a->h - s->y ||
            s->z > a->d || D > a->d - s->z) {
            emu_set_detail(
                "%s: %zu x %zu x %zu bytes at (%zu B, %zu, %zu) do not fit the %zu x %zu x %zu array of "
                "%u-byte elements (offsets and widths in whole elements)",
                what, W, H, D, s->x, s->y, s->z, a->w, a->h, a->d, a->esz);
            return CUDA_ERROR_INVALID_VALUE;
        }
        *pitch = rowb;
        *slice = rowb * a->h;
        *out = a->data + s->z * *slice + s->y * rowb + s->x;
        return CUDA_SUCCESS;
    }
    if (s->type != CU_MEMORYTYPE_HOST && s->type != CU_MEMORYTYPE_DEVICE &&
        s->type != CU_MEMORYTYPE_UNIFIED) {
        emu_set_detail("%s: memory type %d is not a CUmemorytype", what, (int)s->type);
        return CUDA_ERROR_INVALID_VALUE;
    }
    size_t p = s->pitch ? s->pitch : W;
    if ((H > 1 || D > 1) && p < W) {
        emu_set_detail("%s: pitch %zu is below WidthInBytes %zu", what, s->pitch, W);
        return CUDA_ERROR_INVALID_VALUE;
    }
    size_t hh = s->height;
    if (D > 1 && (hh < H || hh < s->y + H)) {
        emu_set_detail("%s: height %zu is below srcY/dstY + Height for a copy of depth %zu", what, hh, D);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (!hh) hh = s->y + H;
    if (hh > SIZE_MAX / p || s->z + D > SIZE_MAX / (hh * p) || s->z + D < s->z)
        return CUDA_ERROR_INVALID_VALUE;
    size_t sl = p * hh;
    size_t first = s->z * sl + s->y * p + s->x;
    size_t rows = (D - 1) * hh + H; /* rows from the first row to the last */
    uint8_t *b = side(s->type, s->host, s->dev, first, 0, p, W, rows);
    if (!b) {
        emu_set_detail("%s: the %s range of the copy is not inside one allocation", what,
                       s->type == CU_MEMORYTYPE_HOST ? "host" : "device");
        return CUDA_ERROR_INVALID_VALUE;
    }
    *out = b;
    *pitch = p;
    *slice = sl;
    return CUDA_SUCCESS;
}

static CUresult copy3d(const cside *src, const cside *dst, size_t W, size_t H, size_t D, CUstream s,
                       int async, const char *fn) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (async && (r = stream_check(s, c)) != CUDA_SUCCESS) return r;
    if (!W || !H || !D) return CUDA_SUCCESS;
    emu_lock();
    uint8_t *sp = NULL, *dp = NULL;
    size_t spitch = 0, sslice = 0, dpitch = 0, dslice = 0;
    char what[64];
    snprintf(what, sizeof what, "%s src", fn);
    r = resolve_side(src, W, H, D, what, &sp, &spitch, &sslice);
    snprintf(what, sizeof what, "%s dst", fn);
    if (r == CUDA_SUCCESS) r = resolve_side(dst, W, H, D, what, &dp, &dpitch, &dslice);
    if (r == CUDA_SUCCESS)
        for (size_t z = 0; z < D; z++)
            for (size_t row = 0; row < H; row++)
                memmove(dp + z * dslice + row * dpitch, sp + z * sslice + row * spitch, W);
    emu_unlock();
    return r;
}

static CUresult copy2d(const CUDA_MEMCPY2D *p, CUstream s, int async) {
    if (!p) return CUDA_ERROR_INVALID_VALUE;
    cside src = {p->srcMemoryType, p->srcHost, p->srcDevice, p->srcArray, p->srcXInBytes, p->srcY, 0,
                 p->srcPitch,      0};
    cside dst = {p->dstMemoryType, p->dstHost, p->dstDevice, p->dstArray, p->dstXInBytes, p->dstY, 0,
                 p->dstPitch,      0};
    if (p->Height > 1 && ((p->srcMemoryType != CU_MEMORYTYPE_ARRAY && p->srcPitch < p->WidthInBytes) ||
                          (p->dstMemoryType != CU_MEMORYTYPE_ARRAY && p->dstPitch < p->WidthInBytes))) {
        if (ctx_check(NULL) != CUDA_SUCCESS) return ctx_check(NULL);
        return CUDA_ERROR_INVALID_VALUE;
    }
    return copy3d(&src, &dst, p->WidthInBytes, p->Height, 1, s, async,
                  async ? "cuMemcpy2DAsync" : "cuMemcpy2D");
}

EMU_API CUresult cuMemcpy2D(const CUDA_MEMCPY2D *pCopy) { return copy2d(pCopy, NULL, 0); }
EMU_API CUresult cuMemcpy2DUnaligned(const CUDA_MEMCPY2D *pCopy) { return copy2d(pCopy, NULL, 0); }
EMU_API CUresult cuMemcpy2DAsync(const CUDA_MEMCPY2D *pCopy, CUstream hStream) {
    return copy2d(pCopy, hStream, 1);
}

static CUresult copy3d_desc(const CUDA_MEMCPY3D *p, CUstream s, int async) {
    if (!p) return CUDA_ERROR_INVALID_VALUE;
    const char *fn = async ? "cuMemcpy3DAsync" : "cuMemcpy3D";
    if (p->reserved0 || p->reserved1 || p->srcLOD || p->dstLOD) {
        CUresult r = ctx_check(NULL);
        if (r != CUDA_SUCCESS) return r;
        emu_set_detail("%s: reserved0/reserved1 must be NULL and srcLOD/dstLOD 0", fn);
        return CUDA_ERROR_INVALID_VALUE;
    }
    cside src = {p->srcMemoryType, p->srcHost, p->srcDevice, p->srcArray, p->srcXInBytes,
                 p->srcY,          p->srcZ,    p->srcPitch,  p->srcHeight};
    cside dst = {p->dstMemoryType, p->dstHost, p->dstDevice, p->dstArray, p->dstXInBytes,
                 p->dstY,          p->dstZ,    p->dstPitch,  p->dstHeight};
    return copy3d(&src, &dst, p->WidthInBytes, p->Height, p->Depth, s, async, fn);
}

EMU_API CUresult cuMemcpy3D(const CUDA_MEMCPY3D *pCopy) { return copy3d_desc(pCopy, NULL, 0); }
EMU_API CUresult cuMemcpy3DAsync(const CUDA_MEMCPY3D *pCopy, CUstream hStream) {
    return copy3d_desc(pCopy, hStream, 1);
}

static CUresult set2d(CUdeviceptr d, size_t pitch, const void *val, size_t esz, size_t w, size_t h,
                      CUstream s, int async) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (async && (r = stream_check(s, c)) != CUDA_SUCCESS) return r;
    if (!w || !h) return CUDA_SUCCESS;
    if ((uint64_t)d % esz || (h > 1 && pitch < w * esz) || w > SIZE_MAX / esz)
        return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    uint8_t *p = side(CU_MEMORYTYPE_DEVICE, NULL, d, 0, 0, pitch, w * esz, h);
    if (p)
        for (size_t row = 0; row < h; row++)
            for (size_t i = 0; i < w; i++)
                memcpy(p + row * pitch + i * esz, val, esz);
    emu_unlock();
    return p ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

EMU_API CUresult cuMemsetD2D8(CUdeviceptr d, size_t pitch, unsigned char v, size_t w, size_t h) {
    return set2d(d, pitch, &v, 1, w, h, NULL, 0);
}
EMU_API CUresult cuMemsetD2D16(CUdeviceptr d, size_t pitch, unsigned short v, size_t w, size_t h) {
    return set2d(d, pitch, &v, 2, w, h, NULL, 0);
}
EMU_API CUresult cuMemsetD2D32(CUdeviceptr d, size_t pitch, unsigned int v, size_t w, size_t h) {
    return set2d(d, pitch, &v, 4, w, h, NULL, 0);
}
EMU_API CUresult cuMemsetD2D8Async(CUdeviceptr d, size_t pitch, unsigned char v, size_t w, size_t h,
                                   CUstream s) {
    return set2d(d, pitch, &v, 1, w, h, s, 1);
}
EMU_API CUresult cuMemsetD2D16Async(CUdeviceptr d, size_t pitch, unsigned short v, size_t w, size_t h,
                                    CUstream s) {
    return set2d(d, pitch, &v, 2, w, h, s, 1);
}
EMU_API CUresult cuMemsetD2D32Async(CUdeviceptr d, size_t pitch, unsigned int v, size_t w, size_t h,
                                    CUstream s) {
    return set2d(d, pitch, &v, 4, w, h, s, 1);
}

/* per-thread-default-stream twins (CUDA_API_PER_THREAD_DEFAULT_STREAM) */
EMU_API CUresult cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D *pCopy);
EMU_API CUresult cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D *pCopy) { return copy2d(pCopy, NULL, 0); }
EMU_API CUresult cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D *pCopy);
EMU_API CUresult cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D *pCopy) { return copy2d(pCopy, NULL, 0); }
EMU_API CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D *pCopy, CUstream hStream);
EMU_API CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D *pCopy, CUstream hStream) {
    return copy2d(pCopy, hStream, 1);
}
EMU_API CUresult cuMemcpy3D_v2_ptds(const CUDA_MEMCPY3D *pCopy);
EMU_API CUresult cuMemcpy3D_v2_ptds(const CUDA_MEMCPY3D *pCopy) { return copy3d_desc(pCopy, NULL, 0); }
EMU_API CUresult cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D *pCopy, CUstream hStream);
EMU_API CUresult cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D *pCopy, CUstream hStream) {
    return copy3d_desc(pCopy, hStream, 1);
}
