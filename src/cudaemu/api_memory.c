/* api_memory.c — device memory entry points: allocation and free, memory info, memset of 8/16/32
 * bit values, copies host<->device and device<->device (sync and stream-ordered forms, which run at
 * enqueue time), page-locked host memory and pointer queries. */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

/* page-locked host allocations (plain host memory here) */
static void **g_host;
static size_t g_nhost, g_caphost;

EMU_API CUresult cuMemAlloc(CUdeviceptr *dptr, size_t bytesize)
{
    if (!dptr) return CUDA_ERROR_INVALID_VALUE;
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    uint64_t a = 0;
    r = vm_alloc_new(c, bytesize, VA_USER, &a);
    emu_unlock();
    if (r == CUDA_SUCCESS) *dptr = (CUdeviceptr)a;
    return r;
}

EMU_API CUresult cuMemFree(CUdeviceptr dptr)
{
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (dptr == 0) return CUDA_SUCCESS;
    emu_lock();
    r = vm_free((uint64_t)dptr, VA_USER);
    emu_unlock();
    return r;
}

EMU_API CUresult cuMemGetInfo(size_t *free_bytes, size_t *total)
{
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (!free_bytes || !total) return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    emu_device *d = &g_emu.dev[c->dev];
    *total = d->total_mem;
    *free_bytes = d->total_mem - d->used_mem;
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemGetAddressRange(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    const vm_alloc *v = vm_find((uint64_t)dptr, 1);
    if (v) {
        if (pbase) *pbase = (CUdeviceptr)v->base;
        if (psize) *psize = v->size;
    }
    emu_unlock();
    return v ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

/* Host pointer for [d, d+n) inside one allocation, or NULL. Caller holds the lock. */
static uint8_t *dev_range(CUdeviceptr d, size_t n)
{
    const vm_alloc *v = vm_find((uint64_t)d, n ? n : 1);
    if (!v) return NULL;
    return v->host + ((uint64_t)d - v->base);
}

static CUresult do_memset(CUdeviceptr d, const void *val, size_t esz, size_t n, CUstream s, int check_stream)
{
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (check_stream && (r = stream_check(s, c)) != CUDA_SUCCESS) return r;
    if (n == 0) return CUDA_SUCCESS;
    if ((uint64_t)d % esz) return CUDA_ERROR_INVALID_VALUE;
    if (n > SIZE_MAX / esz) return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    uint8_t *p = dev_range(d, n * esz);
    if (p) {
        if (esz == 1) {
            memset(p, *(const uint8_t *)val, n);
        } else {
            for (size_t i = 0; i < n; i++) memcpy(p + i * esz, val, esz);
        }
    }
    emu_unlock();
    return p ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

EMU_API CUresult cuMemsetD8(CUdeviceptr d, unsigned char uc, size_t N) { return do_memset(d, &uc, 1, N, NULL, 0); }
EMU_API CUresult cuMemsetD16(CUdeviceptr d, unsigned short us, size_t N) { return do_memset(d, &us, 2, N, NULL, 0); }
EMU_API CUresult cuMemsetD32(CUdeviceptr d, unsigned int ui, size_t N) { return do_memset(d, &ui, 4, N, NULL, 0); }
EMU_API CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char uc, size_t N, CUstream s) { return do_memset(d, &uc, 1, N, s, 1); }
EMU_API CUresult cuMemsetD16Async(CUdeviceptr d, unsigned short us, size_t N, CUstream s) { return do_memset(d, &us, 2, N, s, 1); }
EMU_API CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int ui, size_t N, CUstream s) { return do_memset(d, &ui, 4, N, s, 1); }

enum { K_HTOD, K_DTOH, K_DTOD, K_ANY };

static CUresult do_copy(int kind, uint64_t dst, uint64_t src, size_t n, CUstream s, int check_stream)
{
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (check_stream && (r = stream_check(s, c)) != CUDA_SUCCESS) return r;
    if (n == 0) return CUDA_SUCCESS;
    emu_lock();
    uint8_t *pd = NULL, *ps = NULL;
    if (kind == K_ANY) {
        /* unified addressing: device ranges are recognised, anything else is host memory */
        pd = dev_range((CUdeviceptr)dst, n);
        ps = dev_range((CUdeviceptr)src, n);
        if (!pd) pd = (uint8_t *)(uintptr_t)dst;
        if (!ps) ps = (uint8_t *)(uintptr_t)src;
        if (!dst || !src) pd = NULL;
    } else {
        pd = kind == K_DTOH ? (uint8_t *)(uintptr_t)dst : dev_range((CUdeviceptr)dst, n);
        ps = kind == K_HTOD ? (uint8_t *)(uintptr_t)src : dev_range((CUdeviceptr)src, n);
    }
    if (pd && ps) memmove(pd, ps, n);
    emu_unlock();
    return pd && ps ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

EMU_API CUresult cuMemcpyHtoD(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
    if (!srcHost && ByteCount) return CUDA_ERROR_INVALID_VALUE;
    return do_copy(K_HTOD, dstDevice, (uint64_t)(uintptr_t)srcHost, ByteCount, NULL, 0);
}
EMU_API CUresult cuMemcpyDtoH(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
    if (!dstHost && ByteCount) return CUDA_ERROR_INVALID_VALUE;
    return do_copy(K_DTOH, (uint64_t)(uintptr_t)dstHost, srcDevice, ByteCount, NULL, 0);
}
EMU_API CUresult cuMemcpyDtoD(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
{
    return do_copy(K_DTOD, dstDevice, srcDevice, ByteCount, NULL, 0);
}
EMU_API CUresult cuMemcpyHtoDAsync(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream)
{
    if (!srcHost && ByteCount) return CUDA_ERROR_INVALID_VALUE;
    return do_copy(K_HTOD, dstDevice, (uint64_t)(uintptr_t)srcHost, ByteCount, hStream, 1);
}
EMU_API CUresult cuMemcpyDtoHAsync(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream)
{
    if (!dstHost && ByteCount) return CUDA_ERROR_INVALID_VALUE;
    return do_copy(K_DTOH, (uint64_t)(uintptr_t)dstHost, srcDevice, ByteCount, hStream, 1);
}
EMU_API CUresult cuMemcpyDtoDAsync(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream)
{
    return do_copy(K_DTOD, dstDevice, srcDevice, ByteCount, hStream, 1);
}
EMU_API CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
{
    return do_copy(K_ANY, dst, src, ByteCount, NULL, 0);
}
EMU_API CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream)
{
    return do_copy(K_ANY, dst, src, ByteCount, hStream, 1);
}

EMU_API CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
    if (!pp) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    if (Flags & ~0xfu) return CUDA_ERROR_INVALID_VALUE;
    if (bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
    void *p = calloc(1, bytesize);
    if (!p) return CUDA_ERROR_OUT_OF_MEMORY;
    emu_lock();
    if (g_nhost == g_caphost) {
        size_t nc = g_caphost ? g_caphost * 2 : 16;
        void **n = realloc(g_host, nc * sizeof *n);
        if (!n) {
            emu_unlock();
            free(p);
            return CUDA_ERROR_OUT_OF_MEMORY;
        }
        g_host = n;
        g_caphost = nc;
    }
    g_host[g_nhost++] = p;
    emu_unlock();
    *pp = p;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemAllocHost(void **pp, size_t bytesize) { return cuMemHostAlloc(pp, bytesize, 0); }

EMU_API CUresult cuMemFreeHost(void *p)
{
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    for (size_t i = 0; i < g_nhost; i++) {
        if (g_host[i] == p) {
            g_host[i] = g_host[--g_nhost];
            if (g_nhost == 0) {
                free(g_host);
                g_host = NULL;
                g_caphost = 0;
            }
            emu_unlock();
            free(p);
            return CUDA_SUCCESS;
        }
    }
    emu_unlock();
    return CUDA_ERROR_INVALID_VALUE;
}

EMU_API CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)
{
    if (!data) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    const vm_alloc *v = vm_find((uint64_t)ptr, 1);
    if (!v) {
        emu_unlock();
        return CUDA_ERROR_INVALID_VALUE;
    }
    r = CUDA_SUCCESS;
    switch (attribute) {
    case CU_POINTER_ATTRIBUTE_CONTEXT: *(CUcontext *)data = v->ctx; break;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE: *(unsigned int *)data = CU_MEMORYTYPE_DEVICE; break;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER: *(CUdeviceptr *)data = ptr; break;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR: *(CUdeviceptr *)data = (CUdeviceptr)v->base; break;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE: *(size_t *)data = v->size; break;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: *(int *)data = v->ctx ? v->ctx->dev : 0; break;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED: *(unsigned int *)data = 0; break;
    default: r = CUDA_ERROR_INVALID_VALUE; break;
    }
    emu_unlock();
    return r;
}
