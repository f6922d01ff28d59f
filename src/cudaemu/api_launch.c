/* api_launch.c — kernel launches: validation of the configuration the way the driver does it,
 * packing kernelParams into the parameter buffer, running the grid and turning device faults
 * into sticky context errors. As on a GPU, a launch returns only the errors of its configuration
 * (and the sticky error of an already poisoned context); an error the kernel hits while running
 * (fault, trap, assert, watchdog) lets the launch return CUDA_SUCCESS and surfaces at the next
 * synchronising call (cuCtxSynchronize, cuStreamSynchronize, cuEventSynchronize, a blocking copy...)
 * and every later call on the context, until it is destroyed or the primary context reset. */
#include "emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Checks that f is a live function of context c and that hStream is a stream c may use. */
static CUresult launch_check_handles(CUfunction f, CUcontext c, CUstream hStream) {
    CUresult r;
    emu_lock();
    if (!handle_live(H_FUNC, f)) {
        emu_unlock();
        emu_set_detail(
            "cuLaunchKernel: the function handle is not live (its module was unloaded or its context "
            "destroyed); get it again with cuModuleGetFunction");
        return CUDA_ERROR_INVALID_HANDLE;
    }
    if (f->mod->ctx != c) {
        emu_unlock();
        emu_set_detail(
            "cuLaunchKernel: the function belongs to another context; make that context current first");
        return CUDA_ERROR_INVALID_HANDLE;
    }
    emu_unlock();
    if ((r = stream_check(hStream, c)) != CUDA_SUCCESS) {
        emu_set_detail("cuLaunchKernel: the stream is not live or belongs to another context");
        return r;
    }
    return CUDA_SUCCESS;
}

/* Reads the packed-buffer form of extra ({BUFFER_POINTER, p, BUFFER_SIZE, &size, END}) into *xbuf
 * and *xsize; leaves them NULL/0 when extra is NULL. */
static CUresult launch_read_extra(void **kernelParams, void **extra, const void **xbuf, size_t *xsize) {
    if (!extra) return CUDA_SUCCESS;
    if (kernelParams) {
        emu_set_detail("cuLaunchKernel: pass either kernelParams or extra, not both");
        return CUDA_ERROR_INVALID_VALUE;
    }
    const size_t *psize = NULL;
    for (int i = 0; i < 64 && extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
        if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
            *xbuf = extra[i + 1];
        else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE)
            psize = extra[i + 1];
        else {
            emu_set_detail("cuLaunchKernel: unknown entry in extra; only CU_LAUNCH_PARAM_BUFFER_POINTER, "
                           "CU_LAUNCH_PARAM_BUFFER_SIZE and CU_LAUNCH_PARAM_END");
            return CUDA_ERROR_INVALID_VALUE;
        }
    }
    if (!*xbuf || !psize) {
        emu_set_detail("cuLaunchKernel: extra needs CU_LAUNCH_PARAM_BUFFER_POINTER and _SIZE");
        return CUDA_ERROR_INVALID_VALUE;
    }
    *xsize = *psize;
    return CUDA_SUCCESS;
}

/* Checks grid, block and shared memory against the device limits and the kernel's .reqntid and
 * .maxntid. */
static CUresult launch_check_shape(CUfunction f, const ptx_func *fn, const unsigned grid[3],
                                   const unsigned block[3], unsigned shmem) {
    if (!grid[0] || !grid[1] || !grid[2] || !block[0] || !block[1] || !block[2]) {
        emu_set_detail("cuLaunchKernel: grid (%u,%u,%u) or block (%u,%u,%u) has a zero dimension; each must "
                       "be at least 1",
                       grid[0], grid[1], grid[2], block[0], block[1], block[2]);
        return CUDA_ERROR_INVALID_VALUE;
    }
    uint64_t nthreads = (uint64_t)block[0] * block[1] * block[2];
    if (block[0] > 1024 || block[1] > 1024 || block[2] > 64 || nthreads > 1024 || grid[0] > 2147483647u ||
        grid[1] > 65535 || grid[2] > 65535) {
        emu_set_detail(
            "cuLaunchKernel: grid (%u,%u,%u) / block (%u,%u,%u) over the device limits (block x,y <= 1024, "
            "z <= 64, 1024 threads; grid y,z <= 65535)",
            grid[0], grid[1], grid[2], block[0], block[1], block[2]);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (fn->reqntid[0] && (block[0] != fn->reqntid[0] || block[1] != (fn->reqntid[1] ? fn->reqntid[1] : 1) ||
                           block[2] != (fn->reqntid[2] ? fn->reqntid[2] : 1))) {
        emu_set_detail(
            "cuLaunchKernel: block (%u,%u,%u) differs from kernel %s's .reqntid %u,%u,%u; launch that shape",
            block[0], block[1], block[2], fn->name, fn->reqntid[0], fn->reqntid[1] ? fn->reqntid[1] : 1,
            fn->reqntid[2] ? fn->reqntid[2] : 1);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (fn->maxntid[0]) {
        uint64_t mx = (uint64_t)fn->maxntid[0] * (fn->maxntid[1] ? fn->maxntid[1] : 1) *
                      (fn->maxntid[2] ? fn->maxntid[2] : 1);
        if (nthreads > mx) {
            emu_set_detail("cuLaunchKernel: block of %llu threads exceeds kernel %s's .maxntid (%llu); "
                           "launch smaller blocks",
                           (unsigned long long)nthreads, fn->name, (unsigned long long)mx);
            return CUDA_ERROR_INVALID_VALUE;
        }
    }
    uint64_t smem = (uint64_t)fn->static_shared + shmem;
    if (smem > 227u * 1024u || (smem > 48u * 1024u && shmem > (unsigned)f->max_dynamic_shared)) {
        emu_set_detail(
            "cuLaunchKernel: kernel %s needs %llu bytes of shared memory (at most 227 KiB; above 48 KiB set "
            "CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES first)",
            fn->name, (unsigned long long)smem);
        return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

/* Builds the kernel's parameter buffer in *out (the caller frees it) from the extra buffer or from
 * kernelParams. */
static CUresult launch_pack_params(const ptx_func *fn, void **kernelParams, const void *xbuf, size_t xsize,
                                   uint8_t **out) {
    if (xbuf && xsize < fn->kparam_size) {
        emu_set_detail(
            "cuLaunchKernel: the extra parameter buffer has %zu bytes, kernel %s needs %u; pass all of its "
            "parameters",
            xsize, fn->name, fn->kparam_size);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (fn->nparams > 0 && !kernelParams && !xbuf) {
        emu_set_detail(
            "cuLaunchKernel: kernel %s takes %d parameters but kernelParams and extra are NULL; pass "
            "an array of pointers to them",
            fn->name, fn->nparams);
        return CUDA_ERROR_INVALID_VALUE;
    }
    uint8_t *params = calloc(1, fn->kparam_size + 16);
    if (!params) return CUDA_ERROR_OUT_OF_MEMORY;
    if (xbuf) memcpy(params, xbuf, fn->kparam_size);
    for (int i = 0; !xbuf && i < fn->nparams; i++) {
        if (!kernelParams[i]) {
            free(params);
            emu_set_detail(
                "cuLaunchKernel: kernelParams[%d] of kernel %s is NULL; each entry points to a parameter "
                "value",
                i, fn->name);
            return CUDA_ERROR_INVALID_VALUE;
        }
        memcpy(params + fn->params[i].offset, kernelParams[i], fn->params[i].size);
    }
    *out = params;
    return CUDA_SUCCESS;
}

/* Reports a launch that failed with r: a host-resource error is returned as is, an error of the running
 * kernel poisons context c and the launch returns CUDA_SUCCESS, as on a GPU. */
static CUresult launch_failed(CUcontext c, const ptx_func *fn, CUresult r, const char *msg) {
    const char *name = "CUDA_ERROR";
    cuGetErrorName(r, &name);
    if (!emu_is_execution_error(r)) {
        /* host resources for the launch itself: the context stays usable */
        emu_set_detail(
            "cuLaunchKernel: kernel %s: %s (%s); nothing ran to completion, retry with fewer threads "
            "or blocks",
            fn->name, msg, name);
        return r;
    }
    char why[320];
    snprintf(why, sizeof why, "kernel %.60s: %.230s", fn->name, msg);
    emu_lock();
    ctx_poison(c, r, why);
    emu_unlock();
    const char *todo =
        r == CUDA_ERROR_LAUNCH_TIMEOUT
            ? "raise CUDAEMU_WATCHDOG_MS (0 = off) if the kernel is only slow, else fix the loop at that line"
        : r == CUDA_ERROR_ASSERT ? "the assertion names its source line"
                                 : "fix the kernel at that PTX line";
    emu_set_detail("cuLaunchKernel: %s: %s, reported by the next synchronising call (the launch returns "
                   "CUDA_SUCCESS, as on a GPU); %s",
                   why, name, todo);
    return CUDA_SUCCESS;
}

static CUresult launch(CUfunction f, const unsigned grid[3], const unsigned block[3], unsigned shmem,
                       CUstream hStream, void **kernelParams, void **extra) {
    CUcontext c;
    CUresult r = ctx_check_at(&c, "cuLaunchKernel");
    if (r != CUDA_SUCCESS) return r;
    if ((r = kernel_resolve(&f, c)) != CUDA_SUCCESS) return r; /* a CUkernel stands for its function in c */
    if ((r = launch_check_handles(f, c, hStream)) != CUDA_SUCCESS) return r;
    const void *xbuf = NULL;
    size_t xsize = 0;
    if ((r = launch_read_extra(kernelParams, extra, &xbuf, &xsize)) != CUDA_SUCCESS) return r;
    ptx_module *pm = f->mod->pm;
    const ptx_func *fn = &pm->funcs[f->index];
    if ((r = launch_check_shape(f, fn, grid, block, shmem)) != CUDA_SUCCESS) return r;
    uint8_t *params = NULL;
    if ((r = launch_pack_params(fn, kernelParams, xbuf, xsize, &params)) != CUDA_SUCCESS) return r;
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
    emu_unlock();
    free(params);
    if (r == CUDA_SUCCESS) return CUDA_SUCCESS;
    return launch_failed(c, fn, r, L.msg);
}

EMU_API CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                                void **kernelParams, void **extra) {
    unsigned g[3] = {gridDimX, gridDimY, gridDimZ}, b[3] = {blockDimX, blockDimY, blockDimZ};
    return launch(f, g, b, sharedMemBytes, hStream, kernelParams, extra);
}

EMU_API CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
                                  void **extra) {
    if (!config) {
        emu_set_detail("cuLaunchKernelEx: config is NULL; pass a CUlaunchConfig");
        return CUDA_ERROR_INVALID_VALUE;
    }
    for (unsigned i = 0; i < config->numAttrs; i++) {
        if (!config->attrs) {
            emu_set_detail("cuLaunchKernelEx: numAttrs is %u but attrs is NULL", config->numAttrs);
            return CUDA_ERROR_INVALID_VALUE;
        }
        if (config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION ||
            config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_COOPERATIVE) {
            emu_set_detail(
                "cuLaunchKernelEx: attrs[%u] asks for a %s launch, which cudaemu does not run; launch "
                "without it",
                i, config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_COOPERATIVE ? "cooperative" : "cluster");
            return CUDA_ERROR_NOT_SUPPORTED;
        }
    }
    unsigned g[3] = {config->gridDimX, config->gridDimY, config->gridDimZ};
    unsigned b[3] = {config->blockDimX, config->blockDimY, config->blockDimZ};
    return launch(f, g, b, config->sharedMemBytes, config->hStream, kernelParams, extra);
}

/* ---- occupancy: CUDA's occupancy calculator with the limits of an sm_90 multiprocessor: 2048
 * threads (64 warps) and 32 blocks per SM, 64K registers in 4 sub-partitions allocated per warp in
 * units of 256, 228 KiB
 * of shared memory of which each block also takes 1 KiB reserved, allocated in 128-byte units ---- */
#define SM_COUNT 132
#define SM_WARPS 64
#define SM_BLOCKS 32
#define SM_REGS 65536
#define SM_SMEM (228u * 1024u)
#define BLOCK_SMEM_MAX (227u * 1024u)
#define SMEM_RESERVED 1024u

typedef struct occ_func {
    unsigned max_threads; /* CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK */
    int regs;             /* CU_FUNC_ATTRIBUTE_NUM_REGS */
    uint64_t static_smem;
} occ_func;

static CUresult occ_query(CUfunction f, occ_func *o) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    CUcontext c = NULL;
    cuCtxGetCurrent(&c);
    if ((r = kernel_resolve(&f, c)) != CUDA_SUCCESS)
        return r; /* a CUkernel stands for its function here too */
    int mt = 0, regs = 0, ss = 0;
    if ((r = cuFuncGetAttribute(&mt, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, f)) != CUDA_SUCCESS) return r;
    if ((r = cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, f)) != CUDA_SUCCESS) return r;
    if ((r = cuFuncGetAttribute(&ss, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f)) != CUDA_SUCCESS) return r;
    o->max_threads = (unsigned)mt;
    o->regs = regs;
    o->static_smem = (uint64_t)ss;
    return CUDA_SUCCESS;
}

static int occ_blocks(const occ_func *o, int blockSize, size_t dyn) {
    if (blockSize <= 0 || (unsigned)blockSize > o->max_threads) return 0;
    int warps = (blockSize + 31) / 32;
    int n = SM_BLOCKS;
    if (SM_WARPS / warps < n) n = SM_WARPS / warps;
    if (o->regs > 0) {
        /* registers are split between the SM's 4 sub-partitions; each holds whole warps */
        int per_warp = (o->regs * 32 + 255) / 256 * 256;
        int by_regs = ((SM_REGS / 4 / per_warp) * 4) / warps;
        if (by_regs < n) n = by_regs;
    }
    uint64_t smem = o->static_smem + dyn;
    if (smem > BLOCK_SMEM_MAX) return 0;
    uint64_t per_block = (smem + SMEM_RESERVED + 127) / 128 * 128;
    int by_smem = (int)(SM_SMEM / per_block);
    if (by_smem < n) n = by_smem;
    return n;
}

static CUresult occupancy(int *numBlocks, CUfunction f, int blockSize, size_t dyn) {
    if (!numBlocks || blockSize <= 0)
        return emu_refuse_at("cuOccupancyMaxActiveBlocksPerMultiprocessor", CUDA_ERROR_INVALID_VALUE,
                             "needs numBlocks and blockSize > 0");
    occ_func o;
    CUresult r = occ_query(f, &o);
    if (r != CUDA_SUCCESS) return r;
    *numBlocks = occ_blocks(&o, blockSize, dyn);
    return CUDA_SUCCESS;
}

static CUresult potential_block_size(int *minGridSize, int *blockSize, CUfunction func,
                                     CUoccupancyB2DSize b2d, size_t dyn, int limit, unsigned flags) {
    if (!minGridSize || !blockSize || limit < 0 || (flags & ~1u))
        return emu_refuse_at("cuOccupancyMaxPotentialBlockSize", CUDA_ERROR_INVALID_VALUE,
                             "needs minGridSize and blockSize, blockSizeLimit >= 0 and flags 0 or "
                             "CU_OCCUPANCY_DISABLE_CACHING_OVERRIDE");
    occ_func o;
    CUresult r = occ_query(func, &o);
    if (r != CUDA_SUCCESS) return r;
    int max_bs = (int)o.max_threads;
    if (limit > 0 && limit < max_bs) max_bs = limit;
    int best_bs = 0, best_blocks = 0, best_threads = 0;
    /* from the largest candidate down in warp steps; a larger block wins ties */
    for (int aligned = (max_bs + 31) / 32 * 32; aligned > 0; aligned -= 32) {
        int bs = aligned < max_bs ? aligned : max_bs;
        size_t d = b2d ? b2d(bs) : dyn;
        int blocks = occ_blocks(&o, bs, d);
        if (blocks * bs > best_threads) {
            best_threads = blocks * bs;
            best_bs = bs;
            best_blocks = blocks;
            if (best_threads == SM_WARPS * 32) break;
        }
    }
    *blockSize = best_bs;
    *minGridSize = best_blocks * SM_COUNT;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuOccupancyMaxPotentialBlockSize(int *minGridSize, int *blockSize, CUfunction func,
                                                  CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                  size_t dynamicSMemSize, int blockSizeLimit) {
    return potential_block_size(minGridSize, blockSize, func, blockSizeToDynamicSMemSize, dynamicSMemSize,
                                blockSizeLimit, 0);
}

EMU_API CUresult cuOccupancyMaxPotentialBlockSizeWithFlags(int *minGridSize, int *blockSize, CUfunction func,
                                                           CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                           size_t dynamicSMemSize, int blockSizeLimit,
                                                           unsigned int flags) {
    return potential_block_size(minGridSize, blockSize, func, blockSizeToDynamicSMemSize, dynamicSMemSize,
                                blockSizeLimit, flags);
}

/* Thread-block clusters are not emulated (CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH is 0): the only
 * cluster that runs is one block, so the answers below are those of cluster size 1. */
static unsigned cluster_blocks(const CUlaunchConfig *config) {
    for (unsigned i = 0; i < config->numAttrs; i++)
        if (config->attrs && config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION)
            return config->attrs[i].value.clusterDim.x * config->attrs[i].value.clusterDim.y *
                   config->attrs[i].value.clusterDim.z;
    return 1;
}

EMU_API CUresult cuOccupancyMaxPotentialClusterSize(int *clusterSize, CUfunction func,
                                                    const CUlaunchConfig *config) {
    if (!clusterSize || !config) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "clusterSize or config is NULL");
    occ_func o;
    CUresult r = occ_query(func, &o);
    if (r != CUDA_SUCCESS) return r;
    int bs = (int)(config->blockDimX * config->blockDimY * config->blockDimZ);
    *clusterSize = occ_blocks(&o, bs, config->sharedMemBytes) > 0 ? 1 : 0;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuOccupancyMaxActiveClusters(int *numClusters, CUfunction func,
                                              const CUlaunchConfig *config) {
    if (!numClusters || !config) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "numClusters or config is NULL");
    occ_func o;
    CUresult r = occ_query(func, &o);
    if (r != CUDA_SUCCESS) return r;
    if (cluster_blocks(config) > 1)
        return EMU_REFUSE(CUDA_ERROR_NOT_SUPPORTED,
                          "cuOccupancyMaxActiveClusters: thread-block clusters are not emulated; "
                          "only cluster size 1 is answered");
    int bs = (int)(config->blockDimX * config->blockDimY * config->blockDimZ);
    *numClusters = occ_blocks(&o, bs, config->sharedMemBytes) * SM_COUNT;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func, int blockSize,
                                                             size_t dynamicSMemSize) {
    return occupancy(numBlocks, func, blockSize, dynamicSMemSize);
}

EMU_API CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *numBlocks, CUfunction func,
                                                                      int blockSize, size_t dynamicSMemSize,
                                                                      unsigned int flags) {
    if (flags & ~1u) return CUDA_ERROR_INVALID_VALUE;
    return occupancy(numBlocks, func, blockSize, dynamicSMemSize);
}

EMU_API CUresult cuOccupancyAvailableDynamicSMemPerBlock(size_t *dynamicSmemSize, CUfunction func,
                                                         int numBlocks, int blockSize) {
    if (!dynamicSmemSize || numBlocks <= 0 || blockSize <= 0)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "needs dynamicSmemSize, numBlocks > 0 and blockSize > 0");
    occ_func o;
    CUresult r = occ_query(func, &o);
    if (r != CUDA_SUCCESS) return r;
    if (occ_blocks(&o, blockSize, 0) < numBlocks) {
        *dynamicSmemSize = 0; /* that many blocks never fit, whatever the shared memory */
        return CUDA_SUCCESS;
    }
    uint64_t per = (SM_SMEM / (uint64_t)numBlocks) / 128 * 128;
    per = per > SMEM_RESERVED ? per - SMEM_RESERVED : 0;
    if (per > BLOCK_SMEM_MAX) per = BLOCK_SMEM_MAX;
    *dynamicSmemSize = per > o.static_smem ? (size_t)(per - o.static_smem) : 0;
    return CUDA_SUCCESS;
}
