/* module.c — modules, kernels and what is known about them without a round trip: an image is
 * loaded on the lease with lepton_module_load (shipped once per content by liblepton); kernels,
 * their parameter layouts and attributes come from the module answer (lc_raw_module_functions);
 * globals are borrowed buffers (lc_raw_module_global), entered in the range table. Also the
 * library API (a library is a module), the JIT linker's single-input case, and occupancy computed
 * from the device's and the kernel's facts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "module.h"
#include "sha256.h"

/* The modules loaded and not unloaded (g_rm.mu), newest first. */
static struct CUmod_st *g_mods;

typedef struct rm_global {
    char *name;
    int dev;
    CUdeviceptr addr;
    size_t size;
} rm_global;

/* A module is loaded for the whole lease. cuModuleLoad* need a current context (CUDA's rule);
 * cuLibraryLoad* do not (need_ctx 0): a library is context-independent, as the CUDA runtime expects
 * when it loads the fatbins nvcc embeds before any context is current. */
static CUresult load(CUmodule *out, const void *image, size_t size, int need_ctx) {
    if (!out) return CUDA_ERROR_INVALID_VALUE;
    *out = NULL;
    int dev;
    CUresult rc = need_ctx ? rm_current_dev(&dev) : rm_ready();
    if (rc) return rc;
    if (!image) return CUDA_ERROR_INVALID_VALUE;
    const void *data = image;
    if (size == 0 && rm_image_extent(image, &data, &size) != 0) {
        rm_debug("cuModuleLoadData: the image's header makes no sense (not PTX, an ELF cubin or a fatbin)");
        return CUDA_ERROR_INVALID_IMAGE;
    }
    struct CUmod_st *m = calloc(1, sizeof *m);
    if (!m) return CUDA_ERROR_OUT_OF_MEMORY;
    /* (linked into g_mods once it is whole, below) */
    int st = lepton_module_load(g_rm.lease, data, size, &m->m);
    rq_stats_round_trip(size, 0);
    if (st != LEPTON_OK) {
        free(m);
        if (st == LEPTON_ECUDA) {
            rm_debug("module load: %s", lepton_last_error());
            return rm_error_from_text(lepton_last_error(), CUDA_ERROR_INVALID_IMAGE);
        }
        return rm_from_lepton(st, "cuModuleLoad");
    }
    lp_sha256_hex(data, size, m->sha);
    m->fns = lc_raw_module_functions(m->m, &m->nfns);
    m->funcs = calloc(m->nfns ? m->nfns : 1, sizeof *m->funcs);
    if (!m->funcs) {
        lepton_module_free(m->m);
        free(m);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < m->nfns; i++) {
        m->funcs[i].magic = RM_FUNC_MAGIC;
        m->funcs[i].mod = m;
        m->funcs[i].f = &m->fns[i];
    }
    m->magic = RM_MOD_MAGIC;
    pthread_mutex_lock(&g_rm.mu);
    m->next_mod = g_mods;
    if (g_mods) g_mods->prev_mod = m;
    g_mods = m;
    pthread_mutex_unlock(&g_rm.mu);
    *out = m;
    return CUDA_SUCCESS;
}

static int mod_ok(CUmodule m) { return m && m->magic == RM_MOD_MAGIC; }
int rm_func_ok(CUfunction f) { return f && f->magic == RM_FUNC_MAGIC; }

RM_API CUresult cuModuleLoadData(CUmodule *module, const void *image) { return load(module, image, 0, 1); }

/* The value of option `which` among the caller's JIT options (0 when absent). */
static size_t jit_opt(unsigned n, const CUjit_option *o, void **v, CUjit_option which) {
    for (unsigned k = 0; k < n; k++)
        if (o[k] == which) return (size_t)(uintptr_t)v[k];
    return 0;
}

RM_API CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
                                   CUjit_option *options, void **optionValues) {
    CUresult rc = load(module, image, 0, 1);
    if (!options || !optionValues) return rc;
    /* the JIT ran on the worker: the error log is what liblepton reported; there is no info log */
    char log[1024] = "";
    if (rc != CUDA_SUCCESS) snprintf(log, sizeof log, "%s", lepton_last_error());
    size_t ecap = jit_opt(numOptions, options, optionValues, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
    size_t icap = jit_opt(numOptions, options, optionValues, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES);
    size_t written = 0;
    for (unsigned i = 0; i < numOptions; i++) {
        if (options[i] == CU_JIT_ERROR_LOG_BUFFER && optionValues[i] && ecap) {
            snprintf(optionValues[i], ecap, "%s", log);
            written = strlen(optionValues[i]);
        } else if (options[i] == CU_JIT_INFO_LOG_BUFFER && optionValues[i] && icap) {
            ((char *)optionValues[i])[0] = 0;
        } else if (options[i] == CU_JIT_WALL_TIME) {
            float zero = 0.0f;
            memcpy(&optionValues[i], &zero, sizeof zero);
        }
    }
    for (unsigned i = 0; i < numOptions; i++) {
        if (options[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES) optionValues[i] = (void *)(uintptr_t)written;
        if (options[i] == CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES) optionValues[i] = (void *)(uintptr_t)0;
    }
    return rc;
}

RM_API CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin) {
    return load(module, fatCubin, 0, 1);
}

static void *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                buf[n] = 0;
                *size = (size_t)n;
            }
        }
    }
    fclose(f);
    return buf;
}

static CUresult load_file(CUmodule *module, const char *fname, int need_ctx) {
    if (!module || !fname) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_ready();
    if (rc) return rc;
    size_t n = 0;
    void *buf = read_file(fname, &n);
    if (!buf) {
        rm_debug("cuModuleLoad: cannot read %s", fname);
        return CUDA_ERROR_FILE_NOT_FOUND;
    }
    rc = load(module, buf, n, need_ctx);
    free(buf);
    return rc;
}

RM_API CUresult cuModuleLoad(CUmodule *module, const char *fname) { return load_file(module, fname, 1); }

/* Frees what a module holds in this process (not its liblepton handle). */
static void mod_free_local(struct CUmod_st *m) {
    for (size_t i = 0; i < m->nglobals; i++)
        free(m->globals[i].name);
    free(m->globals);
    free(m->lib);
    m->magic = 0;
    free(m->funcs);
    free(m);
}

RM_API CUresult cuModuleUnload(CUmodule m) {
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (!mod_ok(m)) return CUDA_ERROR_INVALID_HANDLE;
    /* launches of its kernels may be queued */
    for (int i = 0; i < g_rm.ndev; i++) {
        CUresult r = rm_cu(rq_sync(&g_rm.devs[i].queue));
        if (!rc) rc = r;
    }
    pthread_mutex_lock(&g_rm.mu);
    if (m->prev_mod)
        m->prev_mod->next_mod = m->next_mod;
    else
        g_mods = m->next_mod;
    if (m->next_mod) m->next_mod->prev_mod = m->prev_mod;
    pthread_mutex_unlock(&g_rm.mu);
    rm_mem_drop_module(m);
    lepton_module_free(m->m);
    mod_free_local(m);
    return rc;
}

void rm_modules_free_all(void) {
    pthread_mutex_lock(&g_rm.mu);
    struct CUmod_st *m = g_mods;
    g_mods = NULL;
    pthread_mutex_unlock(&g_rm.mu);
    while (m) {
        struct CUmod_st *next = m->next_mod;
        mod_free_local(m);
        m = next;
    }
}

RM_API CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule m, const char *name) {
    if (!hfunc || !name) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_ready();
    if (rc) return rc;
    if (!mod_ok(m)) return CUDA_ERROR_INVALID_HANDLE;
    for (size_t i = 0; i < m->nfns; i++)
        if (strcmp(m->fns[i].name, name) == 0) {
            *hfunc = &m->funcs[i];
            return CUDA_SUCCESS;
        }
    return CUDA_ERROR_NOT_FOUND;
}

RM_API CUresult cuModuleGetFunctionCount(unsigned int *count, CUmodule m) {
    if (!count) return CUDA_ERROR_INVALID_VALUE;
    if (!mod_ok(m)) return CUDA_ERROR_INVALID_HANDLE;
    *count = (unsigned)m->nfns;
    return CUDA_SUCCESS;
}

RM_API CUresult cuModuleEnumerateFunctions(CUfunction *functions, unsigned int numFunctions, CUmodule m) {
    if (!functions) return CUDA_ERROR_INVALID_VALUE;
    if (!mod_ok(m)) return CUDA_ERROR_INVALID_HANDLE;
    for (unsigned i = 0; i < numFunctions && i < m->nfns; i++)
        functions[i] = &m->funcs[i];
    return CUDA_SUCCESS;
}

RM_API CUresult cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule m, const char *name) {
    if (!name) return CUDA_ERROR_INVALID_VALUE;
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    if (!mod_ok(m)) return CUDA_ERROR_INVALID_HANDLE;
    pthread_mutex_lock(&g_rm.mu);
    for (size_t i = 0; i < m->nglobals; i++)
        if (m->globals[i].dev == dev && strcmp(m->globals[i].name, name) == 0) {
            if (dptr) *dptr = m->globals[i].addr;
            if (bytes) *bytes = m->globals[i].size;
            pthread_mutex_unlock(&g_rm.mu);
            return CUDA_SUCCESS;
        }
    pthread_mutex_unlock(&g_rm.mu);
    lepton_buffer *b;
    int st = lc_raw_module_global(m->m, (uint32_t)dev, name, &b);
    rq_stats_round_trip(0, 0);
    if (st == LEPTON_ENOTFOUND) return CUDA_ERROR_NOT_FOUND;
    if (st != LEPTON_OK) return rm_from_lepton(st, "cuModuleGetGlobal");
    /* the handle's size: what the worker's driver reported for the variable */
    size_t sz = (size_t)lc_raw_buffer_size(b);
    int other = rm_mem_collides(lc_raw_buffer_address(b), sz, dev);
    if (other >= 0) { /* a module variable cannot be moved: refuse rather than confuse two GPUs' memory */
        rm_debug("cuModuleGetGlobal: '%s' on GPU %d is at 0x%llx, where GPU %d has memory; the remote driver "
                 "cannot "
                 "tell them apart",
                 name, dev, (unsigned long long)lc_raw_buffer_address(b), other);
        lepton_buffer_free(b);
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    rm_global g = {strdup(name), dev, (CUdeviceptr)lc_raw_buffer_address(b), sz};
    if (!g.name || rm_mem_add(b, dev, sz, 1, m) != CUDA_SUCCESS) {
        free(g.name);
        lepton_buffer_free(b);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    pthread_mutex_lock(&g_rm.mu);
    rm_global *grown = realloc(m->globals, (m->nglobals + 1) * sizeof *grown);
    if (grown) {
        m->globals = grown;
        m->globals[m->nglobals++] = g;
    } else {
        free(g.name);
    }
    pthread_mutex_unlock(&g_rm.mu);
    if (dptr) *dptr = g.addr;
    if (bytes) *bytes = g.size;
    return CUDA_SUCCESS;
}

RM_API CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode *mode) {
    if (!mode) return CUDA_ERROR_INVALID_VALUE;
    *mode = CU_MODULE_EAGER_LOADING;
    return CUDA_SUCCESS;
}

/* ---- functions ---- */

RM_API CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction f) {
    if (!pi) return CUDA_ERROR_INVALID_VALUE;
    if (!rm_func_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
    if (attrib == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES && f->max_dynamic_shared_set) {
        *pi = (int)f->max_dynamic_shared;
        return CUDA_SUCCESS;
    }
    if ((int)attrib < 0 || (int)attrib >= LC_RAW_FUNC_ATTRS || f->f->attrs[attrib] == LC_RAW_ATTR_UNKNOWN)
        return CUDA_ERROR_INVALID_VALUE;
    *pi = f->f->attrs[attrib];
    return CUDA_SUCCESS;
}

RM_API CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute attrib, int value) {
    if (!rm_func_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
    switch (attrib) {
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: {
        /* sent with each launch (wire_job_enc_launch_opt); checked here as the driver would */
        int dev = 0;
        rm_current_dev(&dev);
        int optin = g_rm.ndev
                        ? g_rm.devs[dev].facts->attrs[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN]
                        : LC_RAW_ATTR_UNKNOWN;
        int stat = f->f->attrs[CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES];
        if (value < 0 || (optin != LC_RAW_ATTR_UNKNOWN && value + (stat > 0 ? stat : 0) > optin))
            return CUDA_ERROR_INVALID_VALUE;
        f->max_dynamic_shared = (uint32_t)value;
        f->max_dynamic_shared_set = 1;
        return CUDA_SUCCESS;
    }
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
        if (value < -1 || value > 100) return CUDA_ERROR_INVALID_VALUE;
        return CUDA_SUCCESS; /* a hint: the worker's driver picks its carveout */
    case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
    case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
        rm_debug("cuFuncSetAttribute: attribute %d accepted and ignored", (int)attrib);
        return CUDA_SUCCESS;
    default:
        return CUDA_ERROR_INVALID_VALUE; /* read-only attributes, as the driver says */
    }
}

RM_API CUresult cuFuncSetCacheConfig(CUfunction f, CUfunc_cache config) {
    return rm_func_ok(f) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

RM_API CUresult cuFuncSetSharedMemConfig(CUfunction f, CUsharedconfig config) {
    return rm_func_ok(f) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

RM_API CUresult cuFuncGetParamInfo(CUfunction f, size_t idx, size_t *off, size_t *size) {
    if (!rm_func_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
    if (idx >= f->f->nparams) return CUDA_ERROR_INVALID_VALUE;
    if (off) *off = f->f->offsets[idx];
    if (size) *size = f->f->sizes[idx];
    return CUDA_SUCCESS;
}

RM_API CUresult cuFuncGetName(const char **name, CUfunction f) {
    if (!name) return CUDA_ERROR_INVALID_VALUE;
    if (!rm_func_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
    *name = f->f->name;
    return CUDA_SUCCESS;
}

RM_API CUresult cuFuncGetModule(CUmodule *hmod, CUfunction f) {
    if (!hmod) return CUDA_ERROR_INVALID_VALUE;
    if (!rm_func_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
    *hmod = f->mod;
    return CUDA_SUCCESS;
}

RM_API CUresult cuFuncIsLoaded(CUfunctionLoadingState *state, CUfunction f) {
    if (!state) return CUDA_ERROR_INVALID_VALUE;
    if (!rm_func_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
    *state = CU_FUNCTION_LOADING_STATE_LOADED;
    return CUDA_SUCCESS;
}

RM_API CUresult cuFuncLoad(CUfunction f) { return rm_func_ok(f) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE; }

/* ---- occupancy, from the device's and the kernel's facts ---- */

static int dattr(int dev, CUdevice_attribute a, int dflt) {
    int v = g_rm.devs[dev].facts->attrs[a];
    return v == LC_RAW_ATTR_UNKNOWN || v <= 0 ? dflt : v;
}

static int fattr(CUfunction f, CUfunction_attribute a, int dflt) {
    int v = f->f->attrs[a];
    return v == LC_RAW_ATTR_UNKNOWN || v < 0 ? dflt : v;
}

/* Blocks of `block` threads with `dyn` dynamic shared bytes resident on one multiprocessor. */
static int occupancy(int dev, CUfunction f, int block, size_t dyn) {
    int warp = dattr(dev, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 32);
    int max_threads = dattr(dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR, 2048);
    int max_blocks = dattr(dev, CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR, 32);
    int regs_sm = dattr(dev, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR, 65536);
    int smem_sm = dattr(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR, 65536);
    int reserved = g_rm.devs[dev].facts->attrs[CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK];
    if (reserved == LC_RAW_ATTR_UNKNOWN || reserved < 0) reserved = 0;
    if (block <= 0 || block > fattr(f, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024)) return 0;
    int warps = (block + warp - 1) / warp;
    int n = max_threads / (warps * warp);
    if (n > max_blocks) n = max_blocks;
    int regs = fattr(f, CU_FUNC_ATTRIBUTE_NUM_REGS, 0);
    if (regs > 0) {
        int per_warp = (regs * warp + 255) / 256 * 256; /* registers are allocated per warp, 256 at a time */
        int by_regs = regs_sm / (per_warp * warps);
        if (by_regs < n) n = by_regs;
    }
    size_t smem = (size_t)fattr(f, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, 0) + dyn;
    if (smem > 0) {
        size_t per = smem + (size_t)reserved;
        int by_smem = (int)((size_t)smem_sm / per);
        if (by_smem < n) n = by_smem;
    }
    return n < 0 ? 0 : n;
}

RM_API CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *numBlocks, CUfunction f,
                                                                     int blockSize, size_t dyn,
                                                                     unsigned int flags) {
    if (!numBlocks) return CUDA_ERROR_INVALID_VALUE;
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    if (!rm_func_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
    *numBlocks = occupancy(dev, f, blockSize, dyn);
    return CUDA_SUCCESS;
}

RM_API CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction f, int blockSize,
                                                            size_t dyn) {
    return cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(numBlocks, f, blockSize, dyn, 0);
}

RM_API CUresult cuOccupancyMaxPotentialBlockSizeWithFlags(int *minGridSize, int *blockSize, CUfunction f,
                                                          CUoccupancyB2DSize b2d, size_t dyn, int limit,
                                                          unsigned int flags) {
    if (!minGridSize || !blockSize) return CUDA_ERROR_INVALID_VALUE;
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    if (!rm_func_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
    int warp = dattr(dev, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 32);
    int max = fattr(f, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024);
    int dmax = dattr(dev, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024);
    if (dmax < max) max = dmax;
    if (limit > 0 && limit < max) max = limit;
    int best = 0, best_threads = 0, best_blocks = 0;
    for (int b = max; b > 0; b -= (b % warp) ? b % warp : warp) {
        size_t d = b2d ? b2d(b) : dyn;
        int n = occupancy(dev, f, b, d);
        if (n * b > best_threads) {
            best_threads = n * b;
            best = b;
            best_blocks = n;
        }
    }
    *blockSize = best;
    *minGridSize = best_blocks * dattr(dev, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 1);
    return CUDA_SUCCESS;
}

RM_API CUresult cuOccupancyMaxPotentialBlockSize(int *minGridSize, int *blockSize, CUfunction f,
                                                 CUoccupancyB2DSize b2d, size_t dyn, int limit) {
    return cuOccupancyMaxPotentialBlockSizeWithFlags(minGridSize, blockSize, f, b2d, dyn, limit, 0);
}

RM_API CUresult cuOccupancyAvailableDynamicSMemPerBlock(size_t *dyn, CUfunction f, int numBlocks,
                                                        int blockSize) {
    if (!dyn || numBlocks <= 0) return CUDA_ERROR_INVALID_VALUE;
    int dev;
    CUresult rc = rm_current_dev(&dev);
    if (rc) return rc;
    if (!rm_func_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
    size_t smem_sm = (size_t)dattr(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR, 65536);
    size_t optin = (size_t)dattr(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, 49152);
    size_t stat = (size_t)fattr(f, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, 0);
    size_t per = smem_sm / (size_t)numBlocks;
    size_t avail = per > stat ? per - stat : 0;
    *dyn = avail < optin - (stat < optin ? stat : optin) ? avail : optin - (stat < optin ? stat : optin);
    (void)blockSize;
    return CUDA_SUCCESS;
}

/* ---- the JIT linker: one input is passed through ---- */

struct CUlinkState_st {
    uint32_t magic;
    int ninputs;
    void *image;
    size_t size;
};
#define RM_LINK_MAGIC 0x524c4e4bu

RM_API CUresult cuLinkCreate_v2(unsigned int numOptions, CUjit_option *options, void **optionValues,
                                CUlinkState *stateOut) {
    if (!stateOut) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = rm_ready();
    if (rc) return rc;
    struct CUlinkState_st *s = calloc(1, sizeof *s);
    if (!s) return CUDA_ERROR_OUT_OF_MEMORY;
    s->magic = RM_LINK_MAGIC;
    *stateOut = s;
    return CUDA_SUCCESS;
}

static CUresult link_add(CUlinkState s, CUjitInputType type, const void *data, size_t size) {
    if (!s || s->magic != RM_LINK_MAGIC || !data) return CUDA_ERROR_INVALID_VALUE;
    if (type != CU_JIT_INPUT_PTX && type != CU_JIT_INPUT_CUBIN && type != CU_JIT_INPUT_FATBINARY) {
        rm_refused("cuLinkAddData",
                   "inputs other than PTX, cubin or fatbin (object files, libraries, LTO IR)");
        return CUDA_ERROR_NOT_SUPPORTED;
    }
    if (size == 0 && rm_image_extent(data, &data, &size) != 0) return CUDA_ERROR_INVALID_IMAGE;
    if (size == 0)
        return CUDA_ERROR_INVALID_IMAGE; /* (an extent is never 0 today; no byte to end with a NUL) */
    if (type == CU_JIT_INPUT_PTX && size && ((const char *)data)[size - 1] != 0) size++; /* keep its NUL */
    void *copy = malloc(size);
    if (!copy) return CUDA_ERROR_OUT_OF_MEMORY;
    memcpy(copy, data, size);
    if (type == CU_JIT_INPUT_PTX) ((char *)copy)[size - 1] = 0;
    free(s->image);
    s->image = copy;
    s->size = size;
    s->ninputs++;
    return CUDA_SUCCESS;
}

RM_API CUresult cuLinkAddData_v2(CUlinkState state, CUjitInputType type, void *data, size_t size,
                                 const char *name, unsigned int numOptions, CUjit_option *options,
                                 void **optionValues) {
    return link_add(state, type, data, size);
}

RM_API CUresult cuLinkAddFile_v2(CUlinkState state, CUjitInputType type, const char *path,
                                 unsigned int numOptions, CUjit_option *options, void **optionValues) {
    if (!path) return CUDA_ERROR_INVALID_VALUE;
    size_t n = 0;
    void *buf = read_file(path, &n);
    if (!buf) return CUDA_ERROR_FILE_NOT_FOUND;
    CUresult rc = link_add(state, type, buf, type == CU_JIT_INPUT_PTX ? n + 1 : n);
    free(buf);
    return rc;
}

RM_API CUresult cuLinkComplete(CUlinkState s, void **cubinOut, size_t *sizeOut) {
    if (!s || s->magic != RM_LINK_MAGIC || !cubinOut) return CUDA_ERROR_INVALID_VALUE;
    if (s->ninputs != 1) {
        rm_refused("cuLinkComplete",
                   s->ninputs ? "linking several inputs (only one PTX, cubin or fatbin is passed through)"
                              : "nothing to link");
        return s->ninputs ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE;
    }
    *cubinOut = s->image;
    if (sizeOut) *sizeOut = s->size;
    return CUDA_SUCCESS;
}

RM_API CUresult cuLinkDestroy(CUlinkState s) {
    if (!s || s->magic != RM_LINK_MAGIC) return CUDA_ERROR_INVALID_HANDLE;
    s->magic = 0;
    free(s->image);
    free(s);
    return CUDA_SUCCESS;
}

#undef cuLinkCreate
#undef cuLinkAddData
#undef cuLinkAddFile
CUresult cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues,
                      CUlinkState *stateOut);
CUresult cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size, const char *name,
                       unsigned int numOptions, CUjit_option *options, void **optionValues);
CUresult cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path, unsigned int numOptions,
                       CUjit_option *options, void **optionValues);
RM_API CUresult cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues,
                             CUlinkState *stateOut) {
    return cuLinkCreate_v2(numOptions, options, optionValues, stateOut);
}
RM_API CUresult cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size,
                              const char *name, unsigned int numOptions, CUjit_option *options,
                              void **optionValues) {
    return link_add(state, type, data, size);
}
RM_API CUresult cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path,
                              unsigned int numOptions, CUjit_option *options, void **optionValues) {
    return cuLinkAddFile_v2(state, type, path, numOptions, options, optionValues);
}

/* ---- libraries: a library is a module, a kernel is its function ---- */

struct CUlib_st {
    uint32_t magic;
    CUmodule mod;
};
#define RM_LIB_MAGIC 0x524c4942u

static CUresult lib_wrap(CUlibrary *out, CUmodule m) {
    struct CUlib_st *l = calloc(1, sizeof *l);
    if (!l) {
        cuModuleUnload(m);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    l->magic = RM_LIB_MAGIC;
    l->mod = m;
    m->lib = l;
    *out = l;
    return CUDA_SUCCESS;
}

static int lib_ok(CUlibrary l) { return l && l->magic == RM_LIB_MAGIC; }

RM_API CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
                                  void **jitOptionsValues, unsigned int numJitOptions,
                                  CUlibraryOption *libraryOptions, void **libraryOptionValues,
                                  unsigned int numLibraryOptions) {
    if (!library) return CUDA_ERROR_INVALID_VALUE;
    CUmodule m;
    CUresult rc = load(&m, code, 0, 0);
    return rc ? rc : lib_wrap(library, m);
}

RM_API CUresult cuLibraryLoadFromFile(CUlibrary *library, const char *fileName, CUjit_option *jitOptions,
                                      void **jitOptionsValues, unsigned int numJitOptions,
                                      CUlibraryOption *libraryOptions, void **libraryOptionValues,
                                      unsigned int numLibraryOptions) {
    if (!library) return CUDA_ERROR_INVALID_VALUE;
    CUmodule m;
    CUresult rc = load_file(&m, fileName, 0);
    return rc ? rc : lib_wrap(library, m);
}

RM_API CUresult cuLibraryUnload(CUlibrary l) {
    if (!lib_ok(l)) return CUDA_ERROR_INVALID_HANDLE;
    l->magic = 0;
    return cuModuleUnload(l->mod); /* frees l with the module */
}

RM_API CUresult cuLibraryGetModule(CUmodule *pMod, CUlibrary l) {
    if (!pMod) return CUDA_ERROR_INVALID_VALUE;
    if (!lib_ok(l)) return CUDA_ERROR_INVALID_HANDLE;
    *pMod = l->mod;
    return CUDA_SUCCESS;
}

RM_API CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary l, const char *name) {
    if (!pKernel) return CUDA_ERROR_INVALID_VALUE;
    if (!lib_ok(l)) return CUDA_ERROR_INVALID_HANDLE;
    CUfunction f;
    CUresult rc = cuModuleGetFunction(&f, l->mod, name);
    if (!rc) *pKernel = (CUkernel)f;
    return rc;
}

RM_API CUresult cuLibraryGetKernelCount(unsigned int *count, CUlibrary l) {
    if (!lib_ok(l)) return CUDA_ERROR_INVALID_HANDLE;
    return cuModuleGetFunctionCount(count, l->mod);
}

RM_API CUresult cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary l, const char *name) {
    if (!lib_ok(l)) return CUDA_ERROR_INVALID_HANDLE;
    return cuModuleGetGlobal_v2(dptr, bytes, l->mod, name);
}

RM_API CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel k) {
    if (!pFunc) return CUDA_ERROR_INVALID_VALUE;
    if (!rm_func_ok((CUfunction)k)) return CUDA_ERROR_INVALID_HANDLE;
    *pFunc = (CUfunction)k;
    return CUDA_SUCCESS;
}

RM_API CUresult cuKernelGetAttribute(int *pi, CUfunction_attribute attrib, CUkernel k, CUdevice dev) {
    return cuFuncGetAttribute(pi, attrib, (CUfunction)k);
}

RM_API CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel k, CUdevice dev) {
    return cuFuncSetAttribute((CUfunction)k, attrib, val);
}

RM_API CUresult cuKernelGetName(const char **name, CUkernel k) { return cuFuncGetName(name, (CUfunction)k); }

RM_API CUresult cuKernelGetParamInfo(CUkernel k, size_t idx, size_t *off, size_t *size) {
    return cuFuncGetParamInfo((CUfunction)k, idx, off, size);
}

RM_API CUresult cuKernelSetCacheConfig(CUkernel k, CUfunc_cache config, CUdevice dev) {
    return rm_func_ok((CUfunction)k) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
