/* api_memory.c — device memory entry points: allocation and free, memory info, memset of 8/16/32
 * bit values, copies host<->device and device<->device (sync and stream-ordered forms, which run at
 * enqueue time). Ranges may span adjacent pieces mapped with cuMemMap. Page-locked host memory and
 * pointer queries live in api_pointer.c. */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

EMU_API CUresult cuMemAlloc(CUdeviceptr *dptr, size_t bytesize) {
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

EMU_API CUresult cuMemFree(CUdeviceptr dptr) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (dptr == 0) return CUDA_SUCCESS;
    emu_lock();
    r = vm_free((uint64_t)dptr, VA_USER);
    if (r != CUDA_SUCCESS) r = vm_free((uint64_t)dptr, VA_MANAGED); /* cuMemAllocManaged memory */
    emu_unlock();
    return r;
}

EMU_API CUresult cuMemGetInfo(size_t *free_bytes, size_t *total) {
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

EMU_API CUresult cuMemGetAddressRange(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr) {
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

static CUresult do_memset(CUdeviceptr d, const void *val, size_t esz, size_t n, CUstream s,
                          int check_stream) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (check_stream && (r = stream_check(s, c)) != CUDA_SUCCESS) return r;
    if (n == 0) return CUDA_SUCCESS;
    if ((uint64_t)d % esz) return CUDA_ERROR_INVALID_VALUE;
    if (n > SIZE_MAX / esz) return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    uint64_t a = (uint64_t)d, left = (uint64_t)n * esz;
    int ok = vm_covered(a, left, VM_PROT_WRITE);
    while (ok && left > 0) {
        uint64_t avail;
        uint8_t *p = vm_piece(a, &avail);
        uint64_t k = avail < left ? avail : left; /* pieces start 512-byte aligned: whole elements */
        if (esz == 1) {
            memset(p, *(const uint8_t *)val, k);
        } else {
            for (uint64_t i = 0; i < k; i += esz)
                memcpy(p + i, val, esz);
        }
        a += k;
        left -= k;
    }
    emu_unlock();
    return ok ? CUDA_SUCCESS
              : emu_refuse_at("cuMemsetD*", CUDA_ERROR_INVALID_VALUE,
                              "0x%llx, %zu elements: not allocated, "
                              "not mapped or not accessible device memory",
                              (unsigned long long)d, n);
}

EMU_API CUresult cuMemsetD8(CUdeviceptr d, unsigned char uc, size_t N) {
    return do_memset(d, &uc, 1, N, NULL, 0);
}
EMU_API CUresult cuMemsetD16(CUdeviceptr d, unsigned short us, size_t N) {
    return do_memset(d, &us, 2, N, NULL, 0);
}
EMU_API CUresult cuMemsetD32(CUdeviceptr d, unsigned int ui, size_t N) {
    return do_memset(d, &ui, 4, N, NULL, 0);
}
EMU_API CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char uc, size_t N, CUstream s) {
    return do_memset(d, &uc, 1, N, s, 1);
}
EMU_API CUresult cuMemsetD16Async(CUdeviceptr d, unsigned short us, size_t N, CUstream s) {
    return do_memset(d, &us, 2, N, s, 1);
}
EMU_API CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int ui, size_t N, CUstream s) {
    return do_memset(d, &ui, 4, N, s, 1);
}

enum { K_HTOD, K_DTOH, K_DTOD, K_ANY };

/* dst_dev/src_dev: 1 device address, 0 host pointer, -1 either (unified addressing: a known device
 * range is device memory, anything else host memory). Caller holds the lock. */
CUresult mem_copy_any(uint64_t dst, int dst_dev, uint64_t src, int src_dev, size_t n) {
    if (dst_dev < 0) dst_dev = vm_find(dst, 1) != NULL;
    if (src_dev < 0) src_dev = vm_find(src, 1) != NULL;
    if ((dst_dev && !vm_covered(dst, n, VM_PROT_WRITE)) || (src_dev && !vm_covered(src, n, VM_PROT_READ)) ||
        (!dst_dev && !dst) || (!src_dev && !src))
        return CUDA_ERROR_INVALID_VALUE;
    while (n > 0) {
        uint64_t ad = n, as = n;
        uint8_t *pd = dst_dev ? vm_piece(dst, &ad) : (uint8_t *)(uintptr_t)dst;
        const uint8_t *ps = src_dev ? vm_piece(src, &as) : (const uint8_t *)(uintptr_t)src;
        uint64_t k = n;
        if (ad < k) k = ad;
        if (as < k) k = as;
        memmove(pd, ps, k);
        dst += k;
        src += k;
        n -= k;
    }
    return CUDA_SUCCESS;
}

static CUresult do_copy(int kind, uint64_t dst, uint64_t src, size_t n, CUstream s, int check_stream) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (check_stream && (r = stream_check(s, c)) != CUDA_SUCCESS) return r;
    if (n == 0) return CUDA_SUCCESS;
    emu_lock();
    if (kind == K_ANY)
        r = mem_copy_any(dst, -1, src, -1, n);
    else
        r = mem_copy_any(dst, kind != K_DTOH, src, kind != K_HTOD, n);
    emu_unlock();
    if (r != CUDA_SUCCESS)
        emu_set_detail(
            "cuMemcpy*: 0x%llx <- 0x%llx, %zu bytes: a device side is not allocated, not mapped or not "
            "accessible (cuMemSetAccess)",
            (unsigned long long)dst, (unsigned long long)src, n);
    return r;
}

/* Copies between two contexts' memory (cudaMemcpyPeer): every device's memory is this process's, so
 * it is a device-to-device copy once both contexts are known to be live. */
static CUresult peer_copy(CUdeviceptr dst, CUcontext dctx, CUdeviceptr src, CUcontext sctx, size_t n,
                          CUstream s, int async, const char *entry) {
    emu_lock();
    int ok = handle_live(H_CTX, dctx) && handle_live(H_CTX, sctx);
    emu_unlock();
    if (!ok)
        return emu_refuse_at(entry, CUDA_ERROR_INVALID_CONTEXT, "%s is not a live context",
                             !handle_live(H_CTX, dctx) ? "dstContext" : "srcContext");
    return do_copy(K_DTOD, dst, src, n, s, async);
}
EMU_API CUresult cuMemcpyPeer(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                              CUcontext srcContext, size_t ByteCount) {
    return peer_copy(dstDevice, dstContext, srcDevice, srcContext, ByteCount, NULL, 0, "cuMemcpyPeer");
}
EMU_API CUresult cuMemcpyPeerAsync(CUdeviceptr dstDevice, CUcontext dstContext, CUdeviceptr srcDevice,
                                   CUcontext srcContext, size_t ByteCount, CUstream hStream) {
    return peer_copy(dstDevice, dstContext, srcDevice, srcContext, ByteCount, hStream, 1,
                     "cuMemcpyPeerAsync");
}

EMU_API CUresult cuMemcpyHtoD(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount) {
    if (!srcHost && ByteCount) return CUDA_ERROR_INVALID_VALUE;
    return do_copy(K_HTOD, dstDevice, (uint64_t)(uintptr_t)srcHost, ByteCount, NULL, 0);
}
EMU_API CUresult cuMemcpyDtoH(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount) {
    if (!dstHost && ByteCount) return CUDA_ERROR_INVALID_VALUE;
    return do_copy(K_DTOH, (uint64_t)(uintptr_t)dstHost, srcDevice, ByteCount, NULL, 0);
}
EMU_API CUresult cuMemcpyDtoD(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount) {
    return do_copy(K_DTOD, dstDevice, srcDevice, ByteCount, NULL, 0);
}
EMU_API CUresult cuMemcpyHtoDAsync(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
                                   CUstream hStream) {
    if (!srcHost && ByteCount) return CUDA_ERROR_INVALID_VALUE;
    return do_copy(K_HTOD, dstDevice, (uint64_t)(uintptr_t)srcHost, ByteCount, hStream, 1);
}
EMU_API CUresult cuMemcpyDtoHAsync(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream) {
    if (!dstHost && ByteCount) return CUDA_ERROR_INVALID_VALUE;
    return do_copy(K_DTOH, (uint64_t)(uintptr_t)dstHost, srcDevice, ByteCount, hStream, 1);
}
EMU_API CUresult cuMemcpyDtoDAsync(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                   CUstream hStream) {
    return do_copy(K_DTOD, dstDevice, srcDevice, ByteCount, hStream, 1);
}
EMU_API CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount) {
    return do_copy(K_ANY, dst, src, ByteCount, NULL, 0);
}
EMU_API CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount, CUstream hStream) {
    return do_copy(K_ANY, dst, src, ByteCount, hStream, 1);
}
