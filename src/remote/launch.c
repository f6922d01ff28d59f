/* launch.c — kernel launches: checked locally as the driver checks them at launch (dimensions
 * against the device's facts, shared memory, parameters), then queued as one launch step whose
 * parameters are the raw bytes of each (by-value wire arguments: device pointers included, since
 * the worker's addresses are the ones the program holds). */
#include <stdlib.h>
#include <string.h>

#include "module.h"

static int dattr(int dev, CUdevice_attribute a, int dflt) {
    int v = g_rm.devs[dev].facts->attrs[a];
    return v == LC_RAW_ATTR_UNKNOWN || v <= 0 ? dflt : v;
}

static CUresult check_config(int dev, CUfunction f, const unsigned g[3], const unsigned b[3],
                             unsigned shared) {
    for (int i = 0; i < 3; i++)
        if (g[i] == 0 || b[i] == 0) {
            rm_debug("launch of %s: a grid or block dimension is 0", f->f->name);
            return CUDA_ERROR_INVALID_VALUE;
        }
    static const CUdevice_attribute bmax[3] = {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X,
                                               CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y,
                                               CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z};
    static const CUdevice_attribute gmax[3] = {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X,
                                               CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y,
                                               CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z};
    static const int bdflt[3] = {1024, 1024, 64}, gdflt[3] = {0x7fffffff, 65535, 65535};
    for (int i = 0; i < 3; i++)
        if (b[i] > (unsigned)dattr(dev, bmax[i], bdflt[i]) ||
            g[i] > (unsigned)dattr(dev, gmax[i], gdflt[i])) {
            rm_debug("launch of %s: grid (%u,%u,%u) block (%u,%u,%u) exceeds the device's limits", f->f->name,
                     g[0], g[1], g[2], b[0], b[1], b[2]);
            return CUDA_ERROR_INVALID_VALUE;
        }
    uint64_t threads = (uint64_t)b[0] * b[1] * b[2];
    int fmax = f->f->attrs[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
    int tmax = dattr(dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024);
    if (fmax != LC_RAW_ATTR_UNKNOWN && fmax > 0 && fmax < tmax) tmax = fmax;
    if (threads > (uint64_t)tmax) {
        rm_debug("launch of %s: %llu threads per block, at most %d", f->f->name, (unsigned long long)threads,
                 tmax);
        return CUDA_ERROR_INVALID_VALUE;
    }
    int stat = f->f->attrs[CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES];
    if (stat == LC_RAW_ATTR_UNKNOWN || stat < 0) stat = 0;
    uint64_t limit = f->max_dynamic_shared_set
                         ? (uint64_t)f->max_dynamic_shared + (uint64_t)stat
                         : (uint64_t)dattr(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, 49152);
    if ((uint64_t)shared + (uint64_t)stat > limit) {
        rm_debug("launch of %s: %u dynamic + %d static shared bytes exceed %llu", f->f->name, shared, stat,
                 (unsigned long long)limit);
        return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

static CUresult launch(CUfunction f, const unsigned g[3], const unsigned b[3], unsigned shared, CUstream s,
                       void **params, void **extra) {
    int dev;
    CUresult rc = rm_stream_dev(s, &dev);
    if (rc) return rc;
    if (!rm_func_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
    if ((rc = check_config(dev, f, g, b, shared))) return rc;
    const lc_raw_function *fn = f->f;
    /* the parameters: kernelParams[i] points to parameter i; or one buffer laid out like the
     * kernel's parameter space (extra: CU_LAUNCH_PARAM_BUFFER_POINTER/SIZE) */
    const unsigned char *buf = NULL;
    size_t bufsize = 0;
    if (!params && extra) {
        for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
            if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
                buf = extra[i + 1];
            else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE)
                bufsize = *(size_t *)extra[i + 1];
            else
                return CUDA_ERROR_INVALID_VALUE;
        }
        if (!buf && fn->nparams) return CUDA_ERROR_INVALID_VALUE;
    } else if (params && extra) {
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (!params && !buf && fn->nparams) {
        rm_debug("launch of %s: %u parameters and no kernelParams", fn->name, fn->nparams);
        return CUDA_ERROR_INVALID_VALUE;
    }
    size_t total = 0;
    for (uint32_t i = 0; i < fn->nparams; i++) {
        total += fn->sizes[i];
        if (buf && (uint64_t)fn->offsets[i] + fn->sizes[i] > bufsize) {
            rm_debug(
                "launch of %s: parameter %u (offset %u, %u bytes) lies past the %zu-byte parameter buffer",
                fn->name, i, fn->offsets[i], fn->sizes[i], bufsize);
            return CUDA_ERROR_INVALID_VALUE;
        }
    }
    rq_launch *l = calloc(1, sizeof *l);
    if (!l) return CUDA_ERROR_OUT_OF_MEMORY;
    l->function = strdup(fn->name);
    l->sizes = malloc((fn->nparams ? fn->nparams : 1) * sizeof *l->sizes);
    l->data = malloc(total ? total : 1);
    if (!l->function || !l->sizes || !l->data) {
        rq_launch_free(l);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    memcpy(l->sha, f->mod->sha, sizeof l->sha);
    for (int i = 0; i < 3; i++) {
        l->grid[i] = g[i];
        l->block[i] = b[i];
    }
    l->shared = shared;
    l->max_dynamic_shared = f->max_dynamic_shared_set ? f->max_dynamic_shared : 0;
    l->nargs = fn->nparams;
    size_t at = 0;
    for (uint32_t i = 0; i < fn->nparams; i++) {
        const void *src = params ? params[i] : buf + fn->offsets[i];
        if (!src) {
            rq_launch_free(l);
            return CUDA_ERROR_INVALID_VALUE;
        }
        memcpy(l->data + at, src, fn->sizes[i]);
        l->sizes[i] = fn->sizes[i];
        at += fn->sizes[i];
    }
    return rm_cu(rq_launch_add(&g_rm.devs[dev].queue, l));
}

RM_API CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                               unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                               unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                               void **kernelParams, void **extra) {
    const unsigned g[3] = {gridDimX, gridDimY, gridDimZ}, b[3] = {blockDimX, blockDimY, blockDimZ};
    return launch(f, g, b, sharedMemBytes, hStream, kernelParams, extra);
}

RM_API CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
                                 void **extra) {
    if (!config) return CUDA_ERROR_INVALID_VALUE;
    for (unsigned i = 0; i < config->numAttrs; i++) {
        const CUlaunchAttribute *a = &config->attrs[i];
        switch (a->id) {
        case CU_LAUNCH_ATTRIBUTE_IGNORE:
        case CU_LAUNCH_ATTRIBUTE_PRIORITY:
        case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
        case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
        case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
        case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
            break; /* hints the schedule does not need */
        case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
            if (a->value.clusterDim.x * a->value.clusterDim.y * a->value.clusterDim.z <= 1) break;
            rm_refused("cuLaunchKernelEx", "thread block clusters");
            return CUDA_ERROR_NOT_SUPPORTED;
        case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
            if (!a->value.cooperative) break;
            rm_refused("cuLaunchKernelEx", "cooperative launches");
            return CUDA_ERROR_NOT_SUPPORTED;
        default:
            rm_refused("cuLaunchKernelEx", "a launch attribute the remote driver does not carry");
            return CUDA_ERROR_NOT_SUPPORTED;
        }
    }
    const unsigned g[3] = {config->gridDimX, config->gridDimY, config->gridDimZ};
    const unsigned b[3] = {config->blockDimX, config->blockDimY, config->blockDimZ};
    return launch(f, g, b, config->sharedMemBytes, config->hStream, kernelParams, extra);
}
