/* api_module.c — modules from PTX text (JIT options and logs), their module variables as device
 * memory, functions, function attributes and parameter layout, module unload. */
#include "emu.h"
#include "fatbin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int alloc_var(void *ud, ptx_var *v) {
    CUcontext ctx = ud;
    uint64_t a;
    if (vm_alloc_new(ctx, v->size, VA_MODULE, &a) != CUDA_SUCCESS) return -1;
    v->addr = a;
    if (v->init) {
        const vm_alloc *al = vm_find(a, v->size);
        if (al) memcpy(al->host, v->init, v->size);
    }
    return 0;
}

static void free_module_vars(ptx_module *pm) {
    for (int i = 0; i < pm->nvars; i++) {
        ptx_var *v = &pm->vars[i];
        if (v->space != VS_SHARED && v->addr) vm_free(v->addr, VA_MODULE);
        v->addr = 0;
    }
}

void module_destroy(CUmodule m) {
    if (m->lib) library_forget_module(m);
    for (int i = 0; i < m->pm->nfuncs; i++)
        handle_del(H_FUNC, &m->funcs[i]);
    handle_del(H_MOD, m);
    free_module_vars(m->pm);
    ptx_free(m->pm);
    free(m->funcs);
    free(m);
}

void module_free_ctx(CUcontext ctx) {
    void *list[256];
    for (;;) {
        size_t n = handle_list(H_MOD, list, 256);
        size_t k = n < 256 ? n : 256, freed = 0;
        for (size_t i = 0; i < k; i++) {
            CUmodule m = list[i];
            if (m->ctx == ctx) {
                module_destroy(m);
                freed++;
            }
        }
        if (!freed) break;
    }
}

const char *log_body(const char *log) { return strncmp(log, "cudaemu: ", 9) == 0 ? log + 9 : log; }

static void put_log(char *buf, size_t cap, const char *msg) {
    if (!buf || cap == 0) return;
    snprintf(buf, cap, "%s", msg);
}

void jit_opts_parse(jit_opts *o, unsigned n, const CUjit_option *opts, void **vals) {
    memset(o, 0, sizeof *o);
    o->vals = vals;
    o->erri = o->infoi = o->walli = -1;
    o->t0 = emu_now_ms();
    for (unsigned i = 0; opts && vals && i < n; i++) {
        switch (opts[i]) {
        case CU_JIT_ERROR_LOG_BUFFER:
            o->errbuf = vals[i];
            break;
        case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES:
            o->errcap = (size_t)(uintptr_t)vals[i];
            o->erri = (int)i;
            break;
        case CU_JIT_INFO_LOG_BUFFER:
            o->infobuf = vals[i];
            break;
        case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES:
            o->infocap = (size_t)(uintptr_t)vals[i];
            o->infoi = (int)i;
            break;
        case CU_JIT_WALL_TIME:
            o->walli = (int)i;
            break;
        case CU_JIT_LOG_VERBOSE:
            o->verbose = (int)(uintptr_t)vals[i];
            break;
        default:
            break; /* optimisation level, target, caching, ... do not apply to an interpreter */
        }
    }
}

void jit_opts_finish(jit_opts *o, const char *err, const char *info) {
    if (o->errbuf && o->errcap) {
        put_log(o->errbuf, o->errcap, err ? err : "");
        if (o->erri >= 0) o->vals[o->erri] = (void *)(uintptr_t)(err ? strlen(o->errbuf) + 1 : 0);
    }
    if (o->infobuf && o->infocap) {
        put_log(o->infobuf, o->infocap, info ? info : "");
        if (o->infoi >= 0) o->vals[o->infoi] = (void *)(uintptr_t)(info ? strlen(o->infobuf) + 1 : 0);
    }
    if (o->walli >= 0) {
        float ms = (float)(emu_now_ms() - o->t0);
        memcpy(&o->vals[o->walli], &ms, sizeof ms);
    }
}

CUresult module_load_ptx(CUcontext c, const char *text, size_t len, CUmodule *module, char *log,
                         size_t logsz) {
    emu_lock();
    ptx_module *pm = NULL;
    int rc = ptx_load(text, len, alloc_var, c, log, logsz, &pm);
    if (rc != 0) {
        if (pm) {
            free_module_vars(pm);
            ptx_free(pm);
        }
        emu_unlock();
        return strstr(log, "out of device memory") ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_INVALID_PTX;
    }
    CUmodule m = calloc(1, sizeof *m);
    if (m) m->funcs = calloc((size_t)pm->nfuncs + 1, sizeof *m->funcs);
    if (!m || !m->funcs) {
        if (m) free(m);
        free_module_vars(pm);
        ptx_free(pm);
        emu_unlock();
        snprintf(log, logsz, "cudaemu: out of host memory for a module");
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    m->ctx = c;
    m->pm = pm;
    int nent = 0;
    for (int i = 0; i < pm->nfuncs; i++) {
        m->funcs[i].mod = m;
        m->funcs[i].index = i;
        ptx_func *f = &pm->funcs[i];
        int maxdyn = 48 * 1024 - (int)f->static_shared;
        m->funcs[i].max_dynamic_shared = maxdyn > 0 ? maxdyn : 0;
        if (f->is_entry) {
            handle_add(H_FUNC, &m->funcs[i]);
            nent++;
        }
    }
    handle_add(H_MOD, m);
    emu_unlock();
    snprintf(log, logsz, "cudaemu: PTX %d.%d for sm_%d loaded: %d kernel(s), %d function(s)",
             pm->version_major, pm->version_minor, pm->sm, nent, pm->nfuncs);
    *module = m;
    return CUDA_SUCCESS;
}

void module_describe(const ptx_module *pm, char *buf, size_t cap) {
    size_t l = strlen(buf);
    for (int i = 0; i < pm->nfuncs && l + 1 < cap; i++) {
        const ptx_func *f = &pm->funcs[i];
        if (!f->is_entry) continue;
        snprintf(buf + l, cap - l,
                 "\n  kernel %s: %d parameter(s) in %u bytes, %u bytes static shared, %u bytes local",
                 f->name, f->nparams, f->kparam_size, f->static_shared, f->total_local);
        l = strlen(buf);
    }
}

CUresult module_load_image(CUcontext c, const void *image, size_t size, CUmodule *module, char *log,
                           size_t logsz) {
    image_ptx ip;
    CUresult r = image_ptx_get(image, size, &ip, log, logsz);
    if (r != CUDA_SUCCESS) return r;
    r = module_load_ptx(c, ip.text, ip.len, module, log, logsz);
    if (r == CUDA_SUCCESS && ip.arch) {
        size_t l = strlen(log);
        if (l < logsz) snprintf(log + l, logsz - l, " (the compute_%d PTX of a fatbin)", ip.arch);
    }
    image_ptx_release(&ip);
    return r;
}

EMU_API CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
                                    CUjit_option *options, void **optionValues) {
    if (!module || !image)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "%s is NULL", !module ? "module" : "image");
    if (numOptions && (!options || !optionValues))
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "numOptions is %u but options or optionValues is NULL",
                          numOptions);
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    jit_opts o;
    jit_opts_parse(&o, numOptions, options, optionValues);
    char log[1024];
    r = module_load_image(c, image, 0, module, log, sizeof log);
    if (r != CUDA_SUCCESS) {
        emu_set_detail("cuModuleLoadData: %s", log_body(log));
        jit_opts_finish(&o, log, NULL);
        return r;
    }
    if (o.verbose) module_describe((*module)->pm, log, sizeof log);
    jit_opts_finish(&o, NULL, log);
    return CUDA_SUCCESS;
}

EMU_API CUresult cuModuleLoadData(CUmodule *module, const void *image) {
    return cuModuleLoadDataEx(module, image, 0, NULL, NULL);
}

EMU_API CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin) {
    return cuModuleLoadDataEx(module, fatCubin, 0, NULL, NULL);
}

CUresult emu_read_file(const char *fname, char **out, size_t *outlen) {
    FILE *f = fopen(fname, "rb");
    if (!f) return CUDA_ERROR_FILE_NOT_FOUND;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0) break;
        if (n + 1 >= cap) {
            if (cap > (512u << 20)) break;
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return CUDA_ERROR_OUT_OF_MEMORY;
    buf[n] = 0;
    *out = buf;
    *outlen = n;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuModuleLoad(CUmodule *module, const char *fname) {
    if (!module || !fname)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "%s is NULL", !module ? "module" : "fname");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    char *buf;
    size_t n;
    if ((r = emu_read_file(fname, &buf, &n)) != CUDA_SUCCESS) {
        emu_set_detail("cuModuleLoad: cannot read '%s'", fname);
        return r;
    }
    char log[1024];
    r = module_load_image(c, buf, n + 1, module, log, sizeof log);
    if (r != CUDA_SUCCESS) emu_set_detail("cuModuleLoad('%s'): %s", fname, log_body(log));
    free(buf);
    return r;
}

EMU_API CUresult cuModuleUnload(CUmodule hmod) {
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS && r != CUDA_ERROR_INVALID_CONTEXT && !hmod) return r;
    emu_lock();
    if (!handle_live(H_MOD, hmod)) {
        emu_unlock();
        return CUDA_ERROR_INVALID_HANDLE;
    }
    module_destroy(hmod);
    emu_unlock();
    return r == CUDA_ERROR_INVALID_CONTEXT ? CUDA_SUCCESS : r;
}

EMU_API CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name) {
    if (!hfunc || !name) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if (!handle_live(H_MOD, hmod)) {
        emu_unlock();
        return CUDA_ERROR_INVALID_HANDLE;
    }
    int i = ptx_find_func(hmod->pm, name);
    if (i < 0 || !hmod->pm->funcs[i].is_entry) {
        emu_unlock();
        return CUDA_ERROR_NOT_FOUND;
    }
    *hfunc = &hmod->funcs[i];
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuModuleGetFunctionCount(unsigned int *count, CUmodule mod) {
    if (!count) return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    if (!handle_live(H_MOD, mod)) {
        emu_unlock();
        return CUDA_ERROR_INVALID_HANDLE;
    }
    unsigned n = 0;
    for (int i = 0; i < mod->pm->nfuncs; i++)
        n += mod->pm->funcs[i].is_entry != 0;
    emu_unlock();
    *count = n;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuModuleGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name) {
    if (!name) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if (!handle_live(H_MOD, hmod)) {
        emu_unlock();
        return CUDA_ERROR_INVALID_HANDLE;
    }
    r = CUDA_ERROR_NOT_FOUND;
    for (int i = 0; i < hmod->pm->nvars; i++) {
        ptx_var *v = &hmod->pm->vars[i];
        if (v->space != VS_SHARED && strcmp(v->name, name) == 0) {
            if (dptr) *dptr = (CUdeviceptr)v->addr;
            if (bytes) *bytes = v->size;
            r = CUDA_SUCCESS;
            break;
        }
    }
    emu_unlock();
    return r;
}

EMU_API CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode *mode) {
    if (!mode) return CUDA_ERROR_INVALID_VALUE;
    *mode = CU_MODULE_EAGER_LOADING;
    return CUDA_SUCCESS;
}

/* Validates a function handle; the caller holds the lock. */
static CUresult func_ok(CUfunction f) {
    return handle_live(H_FUNC, f) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

static unsigned func_max_threads(const ptx_func *f) {
    unsigned n = 1024;
    if (f->maxntid[0]) {
        unsigned p =
            f->maxntid[0] * (f->maxntid[1] ? f->maxntid[1] : 1) * (f->maxntid[2] ? f->maxntid[2] : 1);
        if (p < n) n = p;
    }
    if (f->reqntid[0]) {
        unsigned p =
            f->reqntid[0] * (f->reqntid[1] ? f->reqntid[1] : 1) * (f->reqntid[2] ? f->reqntid[2] : 1);
        if (p < n) n = p;
    }
    return n;
}

CUresult func_attribute(const struct CUfunc_st *hfunc, CUfunction_attribute attrib, int *pi) {
    CUresult r = CUDA_SUCCESS;
    const ptx_module *pm = hfunc->mod->pm;
    const ptx_func *f = &pm->funcs[hfunc->index];
    int v = 0;
    switch (attrib) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
        v = (int)func_max_threads(f);
        break;
    case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES:
        v = (int)f->static_shared;
        break;
    case CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES: {
        uint64_t s = 0;
        for (int i = 0; i < pm->nvars; i++)
            if (pm->vars[i].space == VS_CONST) s += pm->vars[i].size;
        v = (int)s;
        break;
    }
    case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES:
        v = (int)f->total_local;
        break;
    case CU_FUNC_ATTRIBUTE_NUM_REGS: {
        /* An estimate from the PTX's virtual registers, kept consistent with the block size the
         * function reports it can launch: a GPU's compiler fits MAX_THREADS_PER_BLOCK threads into
         * the 64 Ki registers of an SM, so regs x max threads never exceeds them (else the
         * occupancy API would answer 0 blocks for a block size the launch accepts). */
        /* the cap honours the SM's allocation: 4 sub-partitions of 16 Ki registers, each
         * holding whole warps whose registers come in units of 256 */
        uint32_t warps = (func_max_threads(f) + 31) / 32, per_part = (warps + 3) / 4;
        uint32_t n = f->max_regs_total + f->npreds / 4, cap = 16384u / per_part / 256u * 256u / 32u;
        if (cap > 255) cap = 255;
        if (n > cap) n = cap;
        v = n < 16 ? 16 : (int)n;
        break;
    }
    case CU_FUNC_ATTRIBUTE_PTX_VERSION:
        v = pm->sm;
        break; /* the virtual architecture (.target), not the ISA version */
    case CU_FUNC_ATTRIBUTE_BINARY_VERSION:
        v = 90;
        break;
    case CU_FUNC_ATTRIBUTE_CACHE_MODE_CA:
        v = 0;
        break;
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
        v = hfunc->max_dynamic_shared;
        break;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
        v = -1;
        break;
    case CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET:
        v = 0;
        break;
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
        v = 0;
        break;
    case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
        v = 0;
        break;
    case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
        v = 0;
        break;
    default:
        r = CUDA_ERROR_INVALID_VALUE;
        break;
    }
    if (r == CUDA_SUCCESS) *pi = v;
    return r;
}

EMU_API CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc) {
    if (!pi) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    CUcontext c = NULL;
    cuCtxGetCurrent(&c);
    if ((r = kernel_resolve(&hfunc, c)) != CUDA_SUCCESS)
        return r; /* a CUkernel: its function in the current context */
    emu_lock();
    if ((r = func_ok(hfunc)) == CUDA_SUCCESS) r = func_attribute(hfunc, attrib, pi);
    emu_unlock();
    if (r == CUDA_ERROR_INVALID_HANDLE)
        return EMU_REFUSE(r, "hfunc is not a live CUfunction or CUkernel (its module or library unloaded?)");
    return r;
}

EMU_API CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if ((r = func_ok(hfunc)) != CUDA_SUCCESS) {
        emu_unlock();
        return r;
    }
    const ptx_func *f = &hfunc->mod->pm->funcs[hfunc->index];
    switch (attrib) {
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
        if (value < 0 || (uint64_t)value + f->static_shared > 227u * 1024u)
            r = CUDA_ERROR_INVALID_VALUE;
        else
            hfunc->max_dynamic_shared = value;
        break;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
        if (value < -1 || value > 100) r = CUDA_ERROR_INVALID_VALUE;
        break;
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
    case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
    case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
        break;
    default:
        r = CUDA_ERROR_INVALID_VALUE;
        break;
    }
    emu_unlock();
    return r;
}

EMU_API CUresult cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config) {
    (void)config;
    emu_lock();
    CUresult r = func_ok(hfunc);
    emu_unlock();
    return r;
}

CUresult func_param_info(const char *entry, const ptx_func *f, size_t index, size_t *offset, size_t *size) {
    if (index >= (size_t)f->nparams)
        return emu_refuse_at(entry, CUDA_ERROR_INVALID_VALUE,
                             "kernel %s has %d parameter(s), index %zu asked", f->name, f->nparams, index);
    if (offset) *offset = f->params[index].offset;
    if (size) *size = f->params[index].size;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset,
                                    size_t *paramSize) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if ((r = func_ok(func)) == CUDA_SUCCESS)
        r = func_param_info(__func__, &func->mod->pm->funcs[func->index], paramIndex, paramOffset, paramSize);
    emu_unlock();
    return r;
}

EMU_API CUresult cuFuncGetName(const char **name, CUfunction hfunc) {
    if (!name) return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    CUresult r = func_ok(hfunc);
    if (r == CUDA_SUCCESS) *name = hfunc->mod->pm->funcs[hfunc->index].name;
    emu_unlock();
    return r;
}

EMU_API CUresult cuFuncGetModule(CUmodule *hmod, CUfunction hfunc) {
    if (!hmod) return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    CUresult r = func_ok(hfunc);
    if (r == CUDA_SUCCESS) *hmod = hfunc->mod;
    emu_unlock();
    return r;
}

EMU_API CUresult cuModuleEnumerateFunctions(CUfunction *functions, unsigned int numFunctions, CUmodule mod) {
    if (!functions && numFunctions) return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    if (!handle_live(H_MOD, mod)) {
        emu_unlock();
        return CUDA_ERROR_INVALID_HANDLE;
    }
    unsigned k = 0;
    for (int i = 0; i < mod->pm->nfuncs && k < numFunctions; i++)
        if (mod->pm->funcs[i].is_entry) functions[k++] = &mod->funcs[i];
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuFuncIsLoaded(CUfunctionLoadingState *state, CUfunction function) {
    if (!state) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "state is NULL");
    emu_lock();
    CUresult r = func_ok(function);
    emu_unlock();
    if (r != CUDA_SUCCESS) return EMU_REFUSE(r, "%p is not a loaded function", (void *)function);
    if (r == CUDA_SUCCESS) *state = CU_FUNCTION_LOADING_STATE_LOADED; /* modules load eagerly */
    return r;
}

EMU_API CUresult cuFuncLoad(CUfunction function) {
    emu_lock();
    CUresult r = func_ok(function);
    emu_unlock();
    if (r != CUDA_SUCCESS) return EMU_REFUSE(r, "%p is not a loaded function", (void *)function);
    return r;
}
