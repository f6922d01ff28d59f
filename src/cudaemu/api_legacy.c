/* api_legacy.c — entry points old binaries still link or resolve with dlsym: the v1 ABI that cuda.h
 * hides behind _v2 macros (32-bit CUdeviceptr and byte counts) and the pre-4.0 launch path
 * (cuFuncSetBlockShape, cuParamSet*, cuLaunchGrid). v1 allocations are placed below 4 GiB so a
 * 32-bit CUdeviceptr can hold them; an address that does not fit (a module global, a pinned host
 * range) is refused with CUDA_ERROR_NOT_SUPPORTED, never truncated. */
#include "emu.h"

#include <limits.h>
#include <string.h>

#undef cuDeviceTotalMem
#undef cuMemGetInfo
#undef cuMemAlloc
#undef cuMemAllocPitch
#undef cuMemFree
#undef cuMemGetAddressRange
#undef cuMemAllocHost
#undef cuMemHostGetDevicePointer
#undef cuModuleGetGlobal
#undef cuMemcpyHtoD
#undef cuMemcpyDtoH
#undef cuMemcpyDtoD
#undef cuMemcpyHtoDAsync
#undef cuMemcpyDtoHAsync
#undef cuMemcpyDtoDAsync
#undef cuMemsetD8
#undef cuMemsetD16
#undef cuMemsetD32
#undef cuMemsetD2D8
#undef cuMemsetD2D16
#undef cuMemsetD2D32

typedef unsigned int devptr32;

/* Sizes: a count above 4 GiB - 1 reads as UINT_MAX (what a 32-bit caller can hold). */
static unsigned int clamp32(size_t v) { return v > UINT_MAX ? UINT_MAX : (unsigned int)v; }

static CUresult fit32(CUdeviceptr p, devptr32 *out, const char *who) {
    if ((uint64_t)p > UINT_MAX)
        return emu_refuse_at(who, CUDA_ERROR_NOT_SUPPORTED,
                             "address 0x%llx does not fit the 32-bit CUdeviceptr of the v1 "
                             "entry point; use the _v2 entry point",
                             (unsigned long long)p);
    *out = (devptr32)p;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev);
EMU_API CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev) {
    if (!bytes) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "bytes is NULL");
    size_t b = 0;
    CUresult r = cuDeviceTotalMem_v2(&b, dev);
    if (r == CUDA_SUCCESS) *bytes = clamp32(b);
    return r;
}

EMU_API CUresult cuMemGetInfo(unsigned int *free_bytes, unsigned int *total);
EMU_API CUresult cuMemGetInfo(unsigned int *free_bytes, unsigned int *total) {
    if (!free_bytes || !total) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "free or total is NULL");
    size_t f = 0, t = 0;
    CUresult r = cuMemGetInfo_v2(&f, &t);
    if (r == CUDA_SUCCESS) {
        *free_bytes = clamp32(f);
        *total = clamp32(t);
    }
    return r;
}

EMU_API CUresult cuMemAlloc(devptr32 *dptr, unsigned int bytesize);
EMU_API CUresult cuMemAlloc(devptr32 *dptr, unsigned int bytesize) {
    if (!dptr) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "dptr is NULL");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (bytesize == 0) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "bytesize is 0");
    emu_lock();
    uint64_t a = 0;
    r = vm_alloc_new(c, bytesize, VA_USER32, &a);
    emu_unlock();
    if (r != CUDA_SUCCESS)
        return emu_refuse_at("cuMemAlloc (v1)", r,
                             "no room for %u bytes below 4 GiB (the v1 window is 1 GiB); use cuMemAlloc_v2",
                             bytesize);
    *dptr = (devptr32)a;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemAllocPitch(devptr32 *dptr, unsigned int *pPitch, unsigned int WidthInBytes,
                                 unsigned int Height, unsigned int ElementSizeBytes);
EMU_API CUresult cuMemAllocPitch(devptr32 *dptr, unsigned int *pPitch, unsigned int WidthInBytes,
                                 unsigned int Height, unsigned int ElementSizeBytes) {
    if (!dptr || !pPitch || !WidthInBytes || !Height)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "needs dptr, pPitch, a width and a height");
    if (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "ElementSizeBytes must be 4, 8 or 16");
    uint64_t pitch = ((uint64_t)WidthInBytes + 511) / 512 * 512, total = pitch * Height;
    if (total > UINT_MAX) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "pitch x height exceeds 4 GiB");
    CUresult r = cuMemAlloc(dptr, (unsigned int)total);
    if (r == CUDA_SUCCESS) *pPitch = (unsigned int)pitch;
    return r;
}

EMU_API CUresult cuMemFree(devptr32 dptr);
EMU_API CUresult cuMemFree(devptr32 dptr) { return cuMemFree_v2((CUdeviceptr)dptr); }

EMU_API CUresult cuMemGetAddressRange(devptr32 *pbase, unsigned int *psize, devptr32 dptr);
EMU_API CUresult cuMemGetAddressRange(devptr32 *pbase, unsigned int *psize, devptr32 dptr) {
    CUdeviceptr b = 0;
    size_t s = 0;
    CUresult r = cuMemGetAddressRange_v2(&b, &s, (CUdeviceptr)dptr);
    if (r != CUDA_SUCCESS) return r;
    if (pbase) *pbase = (devptr32)b; /* dptr < 4 GiB and the range holds it: the base fits too */
    if (psize) *psize = clamp32(s);
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemAllocHost(void **pp, unsigned int bytesize);
EMU_API CUresult cuMemAllocHost(void **pp, unsigned int bytesize) { return cuMemHostAlloc(pp, bytesize, 0); }

EMU_API CUresult cuMemHostGetDevicePointer(devptr32 *pdptr, void *p, unsigned int Flags);
EMU_API CUresult cuMemHostGetDevicePointer(devptr32 *pdptr, void *p, unsigned int Flags) {
    if (!pdptr) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "pdptr is NULL");
    CUdeviceptr d = 0;
    CUresult r = cuMemHostGetDevicePointer_v2(&d, p, Flags);
    if (r != CUDA_SUCCESS) return r;
    return fit32(d, pdptr, "cuMemHostGetDevicePointer");
}

EMU_API CUresult cuModuleGetGlobal(devptr32 *dptr, unsigned int *bytes, CUmodule hmod, const char *name);
EMU_API CUresult cuModuleGetGlobal(devptr32 *dptr, unsigned int *bytes, CUmodule hmod, const char *name) {
    CUdeviceptr d = 0;
    size_t s = 0;
    CUresult r = cuModuleGetGlobal_v2(&d, &s, hmod, name);
    if (r != CUDA_SUCCESS) return r;
    devptr32 d32 = 0;
    if (dptr && (r = fit32(d, &d32, "cuModuleGetGlobal")) != CUDA_SUCCESS) return r;
    if (dptr) *dptr = d32;
    if (bytes) *bytes = clamp32(s);
    return CUDA_SUCCESS;
}

EMU_API CUresult cuMemcpyHtoD(devptr32 dst, const void *src, unsigned int n);
EMU_API CUresult cuMemcpyDtoH(void *dst, devptr32 src, unsigned int n);
EMU_API CUresult cuMemcpyDtoD(devptr32 dst, devptr32 src, unsigned int n);
EMU_API CUresult cuMemcpyHtoDAsync(devptr32 dst, const void *src, unsigned int n, CUstream s);
EMU_API CUresult cuMemcpyDtoHAsync(void *dst, devptr32 src, unsigned int n, CUstream s);
EMU_API CUresult cuMemcpyDtoDAsync(devptr32 dst, devptr32 src, unsigned int n, CUstream s);
EMU_API CUresult cuMemcpyHtoD(devptr32 dst, const void *src, unsigned int n) {
    return cuMemcpyHtoD_v2(dst, src, n);
}
EMU_API CUresult cuMemcpyDtoH(void *dst, devptr32 src, unsigned int n) {
    return cuMemcpyDtoH_v2(dst, src, n);
}
EMU_API CUresult cuMemcpyDtoD(devptr32 dst, devptr32 src, unsigned int n) {
    return cuMemcpyDtoD_v2(dst, src, n);
}
EMU_API CUresult cuMemcpyHtoDAsync(devptr32 dst, const void *src, unsigned int n, CUstream s) {
    return cuMemcpyHtoDAsync_v2(dst, src, n, s);
}
EMU_API CUresult cuMemcpyDtoHAsync(void *dst, devptr32 src, unsigned int n, CUstream s) {
    return cuMemcpyDtoHAsync_v2(dst, src, n, s);
}
EMU_API CUresult cuMemcpyDtoDAsync(devptr32 dst, devptr32 src, unsigned int n, CUstream s) {
    return cuMemcpyDtoDAsync_v2(dst, src, n, s);
}

EMU_API CUresult cuMemsetD8(devptr32 d, unsigned char v, unsigned int n);
EMU_API CUresult cuMemsetD16(devptr32 d, unsigned short v, unsigned int n);
EMU_API CUresult cuMemsetD32(devptr32 d, unsigned int v, unsigned int n);
EMU_API CUresult cuMemsetD2D8(devptr32 d, unsigned int pitch, unsigned char v, unsigned int w,
                              unsigned int h);
EMU_API CUresult cuMemsetD2D16(devptr32 d, unsigned int pitch, unsigned short v, unsigned int w,
                               unsigned int h);
EMU_API CUresult cuMemsetD2D32(devptr32 d, unsigned int pitch, unsigned int v, unsigned int w,
                               unsigned int h);
EMU_API CUresult cuMemsetD8(devptr32 d, unsigned char v, unsigned int n) { return cuMemsetD8_v2(d, v, n); }
EMU_API CUresult cuMemsetD16(devptr32 d, unsigned short v, unsigned int n) { return cuMemsetD16_v2(d, v, n); }
EMU_API CUresult cuMemsetD32(devptr32 d, unsigned int v, unsigned int n) { return cuMemsetD32_v2(d, v, n); }
EMU_API CUresult cuMemsetD2D8(devptr32 d, unsigned int pitch, unsigned char v, unsigned int w,
                              unsigned int h) {
    return cuMemsetD2D8_v2(d, pitch, v, w, h);
}
EMU_API CUresult cuMemsetD2D16(devptr32 d, unsigned int pitch, unsigned short v, unsigned int w,
                               unsigned int h) {
    return cuMemsetD2D16_v2(d, pitch, v, w, h);
}
EMU_API CUresult cuMemsetD2D32(devptr32 d, unsigned int pitch, unsigned int v, unsigned int w,
                               unsigned int h) {
    return cuMemsetD2D32_v2(d, pitch, v, w, h);
}

/* ---- CUdevprop ---- */
EMU_API CUresult cuDeviceGetProperties(CUdevprop *prop, CUdevice dev) {
    if (!prop) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "prop is NULL");
    static const CUdevice_attribute attrs[] = {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
                                               CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X,
                                               CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y,
                                               CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z,
                                               CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X,
                                               CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y,
                                               CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z,
                                               CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK,
                                               CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY,
                                               CU_DEVICE_ATTRIBUTE_WARP_SIZE,
                                               CU_DEVICE_ATTRIBUTE_MAX_PITCH,
                                               CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK,
                                               CU_DEVICE_ATTRIBUTE_CLOCK_RATE,
                                               CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT};
    int v[sizeof attrs / sizeof attrs[0]];
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
        CUresult r = cuDeviceGetAttribute(&v[i], attrs[i], dev);
        if (r != CUDA_SUCCESS) return r;
    }
    prop->maxThreadsPerBlock = v[0];
    prop->maxThreadsDim[0] = v[1];
    prop->maxThreadsDim[1] = v[2];
    prop->maxThreadsDim[2] = v[3];
    prop->maxGridSize[0] = v[4];
    prop->maxGridSize[1] = v[5];
    prop->maxGridSize[2] = v[6];
    prop->sharedMemPerBlock = v[7];
    prop->totalConstantMemory = v[8];
    prop->SIMDWidth = v[9];
    prop->memPitch = v[10];
    prop->regsPerBlock = v[11];
    prop->clockRate = v[12];
    prop->textureAlign = v[13];
    return CUDA_SUCCESS;
}

/* ---- the pre-4.0 launch path: shape, shared size and parameters are set on the function ---- */
static CUresult legacy_func(CUfunction f) {
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    int ok = handle_live(H_FUNC, f);
    emu_unlock();
    return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

EMU_API CUresult cuFuncSetBlockShape(CUfunction hfunc, int x, int y, int z) {
    CUresult r = legacy_func(hfunc);
    if (r != CUDA_SUCCESS) return r;
    if (x <= 0 || y <= 0 || z <= 0)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "block shape %dx%dx%d: each dimension must be at least 1",
                          x, y, z);
    emu_lock();
    hfunc->legacy.block[0] = (unsigned)x;
    hfunc->legacy.block[1] = (unsigned)y;
    hfunc->legacy.block[2] = (unsigned)z;
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuFuncSetSharedSize(CUfunction hfunc, unsigned int bytes) {
    CUresult r = legacy_func(hfunc);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    hfunc->legacy.shared = bytes;
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuParamSetSize(CUfunction hfunc, unsigned int numbytes) {
    CUresult r = legacy_func(hfunc);
    if (r != CUDA_SUCCESS) return r;
    if (numbytes > sizeof hfunc->legacy.params)
        return emu_refuse_at("cuParamSetSize", CUDA_ERROR_INVALID_VALUE,
                             "%u bytes exceed the 4 KiB parameter space", numbytes);
    emu_lock();
    hfunc->legacy.param_size = numbytes;
    emu_unlock();
    return CUDA_SUCCESS;
}

static CUresult param_set(CUfunction hfunc, int offset, const void *p, unsigned int n) {
    CUresult r = legacy_func(hfunc);
    if (r != CUDA_SUCCESS) return r;
    if (offset < 0 || !p || (uint64_t)offset + n > sizeof hfunc->legacy.params)
        return emu_refuse_at("cuParamSet*", CUDA_ERROR_INVALID_VALUE,
                             "offset %d + %u bytes outside the 4 KiB parameter space", offset, n);
    emu_lock();
    memcpy(hfunc->legacy.params + offset, p, n);
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuParamSeti(CUfunction hfunc, int offset, unsigned int value) {
    return param_set(hfunc, offset, &value, 4);
}
EMU_API CUresult cuParamSetf(CUfunction hfunc, int offset, float value) {
    return param_set(hfunc, offset, &value, 4);
}
EMU_API CUresult cuParamSetv(CUfunction hfunc, int offset, void *ptr, unsigned int numbytes) {
    return param_set(hfunc, offset, ptr, numbytes);
}

EMU_API CUresult cuParamSetTexRef(CUfunction hfunc, int texunit, CUtexref hTexRef) {
    (void)texunit;
    (void)hTexRef;
    CUresult r = legacy_func(hfunc);
    if (r != CUDA_SUCCESS) return r;
    return emu_refuse_at("cuParamSetTexRef", CUDA_ERROR_NOT_SUPPORTED,
                         "texture references are not emulated; use texture objects");
}

static CUresult legacy_launch(CUfunction f, int gw, int gh, CUstream s) {
    CUresult r = legacy_func(f);
    if (r != CUDA_SUCCESS) return r;
    if (gw <= 0 || gh <= 0)
        return emu_refuse_at("cuLaunchGrid", CUDA_ERROR_INVALID_VALUE,
                             "grid %dx%d: each dimension must be at least 1", gw, gh);
    emu_lock();
    unsigned b[3] = {f->legacy.block[0], f->legacy.block[1], f->legacy.block[2]};
    unsigned shared = f->legacy.shared;
    size_t size = f->legacy.param_size;
    uint8_t params[sizeof f->legacy.params];
    memcpy(params, f->legacy.params, size);
    emu_unlock();
    if (!b[0])
        return emu_refuse_at("cuLaunchGrid", CUDA_ERROR_INVALID_VALUE, "call cuFuncSetBlockShape first");
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, params, CU_LAUNCH_PARAM_BUFFER_SIZE, &size,
                     CU_LAUNCH_PARAM_END};
    return cuLaunchKernel(f, (unsigned)gw, (unsigned)gh, 1, b[0], b[1], b[2], shared, s, NULL, extra);
}

EMU_API CUresult cuLaunch(CUfunction f) { return legacy_launch(f, 1, 1, NULL); }
EMU_API CUresult cuLaunchGrid(CUfunction f, int grid_width, int grid_height) {
    return legacy_launch(f, grid_width, grid_height, NULL);
}
EMU_API CUresult cuLaunchGridAsync(CUfunction f, int grid_width, int grid_height, CUstream hStream) {
    return legacy_launch(f, grid_width, grid_height, hStream);
}

EMU_API CUresult cuFuncSetSharedMemConfig(CUfunction hfunc, CUsharedconfig config) {
    CUresult r = legacy_func(hfunc);
    if (r != CUDA_SUCCESS) return r;
    if ((unsigned)config > CU_SHARED_MEM_CONFIG_EIGHT_BYTE_BANK_SIZE)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "unknown CUsharedconfig %d", (int)config);
    return CUDA_SUCCESS; /* sm_90 banks are fixed; the driver accepts and ignores the preference */
}
