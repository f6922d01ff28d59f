/* api_launch.c — kernel launches: validation of the configuration the way the driver does it,
 * packing kernelParams into the parameter buffer, running the grid and turning device faults
 * into sticky context errors. */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

static CUresult launch(CUfunction f, const unsigned grid[3], const unsigned block[3], unsigned shmem, CUstream hStream,
                       void **kernelParams, void **extra)
{
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if ((r = kernel_resolve(&f, c)) != CUDA_SUCCESS) return r; /* a CUkernel stands for its function in c */
    emu_lock();
    if (!handle_live(H_FUNC, f)) {
        emu_unlock();
        return CUDA_ERROR_INVALID_HANDLE;
    }
    if (f->mod->ctx != c) {
        emu_unlock();
        emu_set_detail("function belongs to another context");
        return CUDA_ERROR_INVALID_HANDLE;
    }
    emu_unlock();
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS) return r;
    const void *xbuf = NULL;
    size_t xsize = 0;
    if (extra) {
        /* the packed-buffer form: {BUFFER_POINTER, p, BUFFER_SIZE, &size, END}; not with kernelParams */
        if (kernelParams) {
            emu_set_detail("cuLaunchKernel: pass either kernelParams or extra, not both");
            return CUDA_ERROR_INVALID_VALUE;
        }
        const size_t *psize = NULL;
        for (int i = 0; i < 64 && extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
            if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) xbuf = extra[i + 1];
            else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) psize = extra[i + 1];
            else {
                emu_set_detail("cuLaunchKernel: unknown entry in extra");
                return CUDA_ERROR_INVALID_VALUE;
            }
        }
        if (!xbuf || !psize) {
            emu_set_detail("cuLaunchKernel: extra needs CU_LAUNCH_PARAM_BUFFER_POINTER and _SIZE");
            return CUDA_ERROR_INVALID_VALUE;
        }
        xsize = *psize;
    }
    ptx_module *pm = f->mod->pm;
    const ptx_func *fn = &pm->funcs[f->index];
    if (!grid[0] || !grid[1] || !grid[2] || !block[0] || !block[1] || !block[2]) {
        emu_set_detail("launch with a zero grid or block dimension");
        return CUDA_ERROR_INVALID_VALUE;
    }
    uint64_t nthreads = (uint64_t)block[0] * block[1] * block[2];
    if (block[0] > 1024 || block[1] > 1024 || block[2] > 64 || nthreads > 1024 || grid[0] > 2147483647u ||
        grid[1] > 65535 || grid[2] > 65535) {
        emu_set_detail("launch dimensions over the device limits");
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (fn->reqntid[0] && (block[0] != fn->reqntid[0] || block[1] != (fn->reqntid[1] ? fn->reqntid[1] : 1) ||
                           block[2] != (fn->reqntid[2] ? fn->reqntid[2] : 1))) {
        emu_set_detail("block shape differs from the kernel's .reqntid");
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (fn->maxntid[0]) {
        uint64_t mx = (uint64_t)fn->maxntid[0] * (fn->maxntid[1] ? fn->maxntid[1] : 1) * (fn->maxntid[2] ? fn->maxntid[2] : 1);
        if (nthreads > mx) {
            emu_set_detail("block of %llu threads exceeds the kernel's .maxntid", (unsigned long long)nthreads);
            return CUDA_ERROR_INVALID_VALUE;
        }
    }
    uint64_t smem = (uint64_t)fn->static_shared + shmem;
    if (smem > 227u * 1024u || (smem > 48u * 1024u && shmem > (unsigned)f->max_dynamic_shared)) {
        emu_set_detail("launch needs %llu bytes of shared memory; above 48 KiB set "
                       "CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES first", (unsigned long long)smem);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (xbuf && xsize < fn->kparam_size) {
        emu_set_detail("extra parameter buffer of %zu bytes, kernel needs %u", xsize, fn->kparam_size);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (fn->nparams > 0 && !kernelParams && !xbuf) {
        emu_set_detail("kernel takes %d parameters but kernelParams is NULL", fn->nparams);
        return CUDA_ERROR_INVALID_VALUE;
    }
    uint8_t *params = calloc(1, fn->kparam_size + 16);
    if (!params) return CUDA_ERROR_OUT_OF_MEMORY;
    if (xbuf) memcpy(params, xbuf, fn->kparam_size);
    for (int i = 0; !xbuf && i < fn->nparams; i++) {
        if (!kernelParams[i]) {
            free(params);
            emu_set_detail("kernelParams[%d] is NULL", i);
            return CUDA_ERROR_INVALID_VALUE;
        }
        memcpy(params + fn->params[i].offset, kernelParams[i], fn->params[i].size);
    }
    emu_launch L;
    memset(&L, 0, sizeof L);
    L.ctx = c;
    L.pm = pm;
    L.func = f->index;
    memcpy(L.grid, grid, sizeof L.grid);
    memcpy(L.block, block, sizeof L.block);
    L.dyn_shared = shmem;
    L.params = params;
    emu_lock(); /* the address space must not change under a running kernel */
    r = interp_launch(&L);
    if (r != CUDA_SUCCESS) {
        if (r != CUDA_ERROR_OUT_OF_MEMORY) ctx_poison(c, r);
        emu_set_detail("kernel %s: %s", fn->name, L.msg);
    }
    emu_unlock();
    free(params);
    return r;
}

EMU_API CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                                unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                                unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra)
{
    unsigned g[3] = {gridDimX, gridDimY, gridDimZ}, b[3] = {blockDimX, blockDimY, blockDimZ};
    return launch(f, g, b, sharedMemBytes, hStream, kernelParams, extra);
}

EMU_API CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra)
{
    if (!config) return CUDA_ERROR_INVALID_VALUE;
    for (unsigned i = 0; i < config->numAttrs; i++) {
        if (!config->attrs) return CUDA_ERROR_INVALID_VALUE;
        if (config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION ||
            config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_COOPERATIVE)
            return CUDA_ERROR_NOT_SUPPORTED;
    }
    unsigned g[3] = {config->gridDimX, config->gridDimY, config->gridDimZ};
    unsigned b[3] = {config->blockDimX, config->blockDimY, config->blockDimZ};
    return launch(f, g, b, config->sharedMemBytes, config->hStream, kernelParams, extra);
}

/* ---- occupancy: the limits of an sm_90 multiprocessor applied to the kernel's resources ---- */
static CUresult occupancy(int *numBlocks, CUfunction f, int blockSize, size_t dyn)
{
    if (!numBlocks || blockSize <= 0) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if (!handle_live(H_FUNC, f)) {
        emu_unlock();
        return CUDA_ERROR_INVALID_HANDLE;
    }
    const ptx_func *fn = &f->mod->pm->funcs[f->index];
    uint64_t smem = (uint64_t)fn->static_shared + dyn;
    emu_unlock();
    if (blockSize > 1024) {
        *numBlocks = 0;
        return CUDA_SUCCESS;
    }
    int regs = 0;
    cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, f);
    int warps = (blockSize + 31) / 32;
    int by_threads = 64 / warps;
    int by_regs = regs > 0 ? 65536 / (((regs + 7) / 8 * 8) * warps * 32) : 32;
    int by_smem = smem ? (int)((228u * 1024u) / (smem + 1024u)) : 32;
    int n = 32;
    if (by_threads < n) n = by_threads;
    if (by_regs < n) n = by_regs;
    if (by_smem < n) n = by_smem;
    *numBlocks = n;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func, int blockSize,
                                                             size_t dynamicSMemSize)
{
    return occupancy(numBlocks, func, blockSize, dynamicSMemSize);
}

EMU_API CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *numBlocks, CUfunction func, int blockSize,
                                                                      size_t dynamicSMemSize, unsigned int flags)
{
    if (flags & ~1u) return CUDA_ERROR_INVALID_VALUE;
    return occupancy(numBlocks, func, blockSize, dynamicSMemSize);
}

EMU_API CUresult cuOccupancyAvailableDynamicSMemPerBlock(size_t *dynamicSmemSize, CUfunction func, int numBlocks,
                                                         int blockSize)
{
    if (!dynamicSmemSize || numBlocks <= 0 || blockSize <= 0) return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    if (!handle_live(H_FUNC, func)) {
        emu_unlock();
        return CUDA_ERROR_INVALID_HANDLE;
    }
    uint64_t st = func->mod->pm->funcs[func->index].static_shared;
    emu_unlock();
    uint64_t per = (228u * 1024u) / (uint64_t)numBlocks;
    per = per > 1024 ? per - 1024 : 0;
    if (per > 227u * 1024u) per = 227u * 1024u;
    *dynamicSmemSize = per > st ? (size_t)(per - st) : 0;
    return CUDA_SUCCESS;
}
