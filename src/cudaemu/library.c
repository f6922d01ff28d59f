/* library.c — the context-independent loading API of CUDA 12 (cuLibrary*, cuKernel*): a library
 * keeps its PTX, parsed once for names, parameters and attributes, and becomes a module in each
 * context that uses it; a CUkernel names one entry and resolves to that context's function, also
 * when it is passed to cuLaunchKernel / cuLaunchKernelEx in place of a CUfunction. Also
 * cuGetExportTable, which serves no private tables. */
#include "emu.h"
#include "export_tables.h"
#include "fatbin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct CUkern_st {
    struct CUlib_st *lib;
    int index;   /* into meta->funcs */
    int max_dyn; /* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES set through cuKernelSetAttribute, -1 =
                    unset */
};

struct CUlib_st {
    char *ptx;
    size_t len;
    ptx_module *meta;        /* parsed with placeholder addresses */
    struct CUmod_st metamod; /* a module view of meta, for func_attribute */
    struct CUkern_st *kerns; /* one per entry of meta->funcs (index < 0: not an entry) */
    CUmodule *mods;          /* the instances, one per context */
    int nmods, capmods;
};

static int placeholder_var(void *ud, ptx_var *v) {
    (void)ud;
    v->addr = 0;
    return 0;
}

static CUresult lib_bad(const char *entry, CUlibrary lib) {
    return emu_refuse_at(entry, CUDA_ERROR_INVALID_HANDLE, "%p is not a loaded library", (void *)lib);
}

static void library_free(CUlibrary lib) {
    while (lib->nmods > 0)
        module_destroy(lib->mods[lib->nmods - 1]); /* each forgets itself */
    for (int i = 0; lib->meta && i < lib->meta->nfuncs; i++)
        if (lib->kerns[i].lib) handle_del(H_KERNEL, &lib->kerns[i]);
    handle_del(H_LIB, lib);
    free(lib->metamod.funcs);
    ptx_free(lib->meta);
    free(lib->kerns);
    free(lib->mods);
    free(lib->ptx);
    free(lib);
}

void library_forget_module(CUmodule m) {
    CUlibrary lib = m->lib;
    for (int i = 0; i < lib->nmods; i++)
        if (lib->mods[i] == m) {
            lib->mods[i] = lib->mods[--lib->nmods];
            break;
        }
    m->lib = NULL;
}

static CUresult library_load(CUlibrary *library, const void *code, size_t size, const char *what,
                             unsigned numJitOptions, CUjit_option *jitOptions, void **jitOptionsValues,
                             unsigned numLibraryOptions, CUlibraryOption *libraryOptions) {
    if (!library || !code)
        return emu_refuse_at(what, CUDA_ERROR_INVALID_VALUE, "%s is NULL", !library ? "library" : "code");
    if (numJitOptions && (!jitOptions || !jitOptionsValues))
        return emu_refuse_at(what, CUDA_ERROR_INVALID_VALUE,
                             "numJitOptions is %u but jitOptions or jitOptionsValues is NULL", numJitOptions);
    if (numLibraryOptions && !libraryOptions)
        return emu_refuse_at(what, CUDA_ERROR_INVALID_VALUE,
                             "numLibraryOptions is %u but libraryOptions is NULL", numLibraryOptions);
    for (unsigned i = 0; i < numLibraryOptions; i++)
        if (libraryOptions[i] >= CU_LIBRARY_NUM_OPTIONS)
            return emu_refuse_at(what, CUDA_ERROR_INVALID_VALUE, "unknown library option %d",
                                 (int)libraryOptions[i]);
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    jit_opts o;
    jit_opts_parse(&o, numJitOptions, jitOptions, jitOptionsValues);
    char log[1024];
    image_ptx ip;
    r = image_ptx_get(code, size, &ip, log, sizeof log);
    CUlibrary lib = NULL;
    if (r == CUDA_SUCCESS) {
        lib = calloc(1, sizeof *lib);
        if (lib) lib->ptx = malloc(ip.len + 1);
        if (!lib || !lib->ptx) {
            r = CUDA_ERROR_OUT_OF_MEMORY;
            snprintf(log, sizeof log, "cudaemu: out of host memory");
        } else {
            memcpy(lib->ptx, ip.text, ip.len);
            lib->ptx[ip.len] = 0;
            lib->len = ip.len;
        }
        image_ptx_release(&ip);
    }
    if (r == CUDA_SUCCESS &&
        ptx_load(lib->ptx, lib->len, placeholder_var, NULL, log, sizeof log, &lib->meta) != 0)
        r = CUDA_ERROR_INVALID_PTX;
    if (r == CUDA_SUCCESS) {
        int n = lib->meta->nfuncs;
        lib->kerns = calloc((size_t)n + 1, sizeof *lib->kerns);
        lib->metamod.funcs = calloc((size_t)n + 1, sizeof *lib->metamod.funcs);
        if (!lib->kerns || !lib->metamod.funcs) {
            r = CUDA_ERROR_OUT_OF_MEMORY;
            snprintf(log, sizeof log, "cudaemu: out of host memory");
        }
    }
    if (r != CUDA_SUCCESS) {
        if (lib) {
            ptx_free(lib->meta);
            free(lib->kerns);
            free(lib->metamod.funcs);
            free(lib->ptx);
            free(lib);
        }
        emu_set_detail("%s: %s", what, log_body(log));
        jit_opts_finish(&o, log, NULL);
        return r;
    }
    lib->metamod.pm = lib->meta;
    emu_lock();
    int nent = 0;
    for (int i = 0; i < lib->meta->nfuncs; i++) {
        lib->metamod.funcs[i].mod = &lib->metamod;
        lib->metamod.funcs[i].index = i;
        int maxdyn = 48 * 1024 - (int)lib->meta->funcs[i].static_shared;
        lib->metamod.funcs[i].max_dynamic_shared = maxdyn > 0 ? maxdyn : 0;
        if (!lib->meta->funcs[i].is_entry) continue;
        lib->kerns[i].lib = lib;
        lib->kerns[i].index = i;
        lib->kerns[i].max_dyn = -1;
        handle_add(H_KERNEL, &lib->kerns[i]);
        nent++;
    }
    handle_add(H_LIB, lib);
    emu_unlock();
    snprintf(log, sizeof log, "cudaemu: library of PTX %d.%d for sm_%d loaded: %d kernel(s)",
             lib->meta->version_major, lib->meta->version_minor, lib->meta->sm, nent);
    if (o.verbose) module_describe(lib->meta, log, sizeof log);
    jit_opts_finish(&o, NULL, log);
    *library = lib;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
                                   void **jitOptionsValues, unsigned int numJitOptions,
                                   CUlibraryOption *libraryOptions, void **libraryOptionValues,
                                   unsigned int numLibraryOptions) {
    (void)libraryOptionValues;
    return library_load(library, code, 0, "cuLibraryLoadData", numJitOptions, jitOptions, jitOptionsValues,
                        numLibraryOptions, libraryOptions);
}

EMU_API CUresult cuLibraryLoadFromFile(CUlibrary *library, const char *fileName, CUjit_option *jitOptions,
                                       void **jitOptionsValues, unsigned int numJitOptions,
                                       CUlibraryOption *libraryOptions, void **libraryOptionValues,
                                       unsigned int numLibraryOptions) {
    (void)libraryOptionValues;
    if (!library || !fileName)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "%s is NULL", !library ? "library" : "fileName");
    for (unsigned i = 0; i < numLibraryOptions; i++)
        if (libraryOptions && libraryOptions[i] == CU_LIBRARY_BINARY_IS_PRESERVED)
            return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                              "CU_LIBRARY_BINARY_IS_PRESERVED applies to cuLibraryLoadData only");
    char *buf;
    size_t n;
    CUresult r = emu_read_file(fileName, &buf, &n);
    if (r != CUDA_SUCCESS) {
        emu_set_detail("cuLibraryLoadFromFile: cannot read '%s'", fileName);
        return r;
    }
    r = library_load(library, buf, n + 1, "cuLibraryLoadFromFile", numJitOptions, jitOptions,
                     jitOptionsValues, numLibraryOptions, libraryOptions);
    free(buf);
    return r;
}

EMU_API CUresult cuLibraryUnload(CUlibrary library) {
    emu_lock();
    if (!handle_live(H_LIB, library)) {
        emu_unlock();
        return lib_bad(__func__, library);
    }
    library_free(library);
    emu_unlock();
    return CUDA_SUCCESS;
}

/* The library's module in ctx, loaded on first use; the caller holds the (recursive) lock. */
static CUresult lib_module(CUlibrary lib, CUcontext ctx, CUmodule *out) {
    for (int i = 0; i < lib->nmods; i++)
        if (lib->mods[i]->ctx == ctx) {
            *out = lib->mods[i];
            return CUDA_SUCCESS;
        }
    if (lib->nmods == lib->capmods) {
        int nc = lib->capmods ? lib->capmods * 2 : 4;
        CUmodule *nm = realloc(lib->mods, (size_t)nc * sizeof *nm);
        if (!nm) return CUDA_ERROR_OUT_OF_MEMORY;
        lib->mods = nm;
        lib->capmods = nc;
    }
    char log[1024];
    CUmodule m;
    CUresult r = module_load_ptx(ctx, lib->ptx, lib->len, &m, log, sizeof log);
    if (r != CUDA_SUCCESS) {
        emu_set_detail("library instance in a context: %s", log_body(log));
        return r;
    }
    m->lib = lib;
    lib->mods[lib->nmods++] = m;
    for (int i = 0; i < lib->meta->nfuncs; i++)
        if (lib->kerns[i].lib && lib->kerns[i].max_dyn >= 0) {
            int fi = ptx_find_func(m->pm, lib->meta->funcs[i].name);
            if (fi >= 0) m->funcs[fi].max_dynamic_shared = lib->kerns[i].max_dyn;
        }
    *out = m;
    return CUDA_SUCCESS;
}

/* The function of kernel k in ctx; the caller holds the lock and checked k. */
static CUresult kern_function(CUkernel k, CUcontext ctx, CUfunction *out) {
    CUmodule m;
    CUresult r = lib_module(k->lib, ctx, &m);
    if (r != CUDA_SUCCESS) return r;
    int fi = ptx_find_func(m->pm, k->lib->meta->funcs[k->index].name);
    if (fi < 0) return CUDA_ERROR_NOT_FOUND;
    *out = &m->funcs[fi];
    return CUDA_SUCCESS;
}

CUresult kernel_resolve(CUfunction *f, CUcontext ctx) {
    emu_lock();
    CUresult r = CUDA_SUCCESS;
    if (handle_live(H_KERNEL, *f)) r = kern_function((CUkernel)(void *)*f, ctx, f);
    emu_unlock();
    return r;
}

EMU_API CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name) {
    if (!pKernel || !name)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "%s is NULL", !pKernel ? "pKernel" : "name");
    emu_lock();
    if (!handle_live(H_LIB, library)) {
        emu_unlock();
        return lib_bad(__func__, library);
    }
    int i = ptx_find_func(library->meta, name);
    CUresult r = CUDA_ERROR_NOT_FOUND;
    if (i >= 0 && library->kerns[i].lib) {
        *pKernel = &library->kerns[i];
        r = CUDA_SUCCESS;
    }
    emu_unlock();
    if (r != CUDA_SUCCESS) return EMU_REFUSE(r, "the library has no kernel (.entry) named '%s'", name);
    return r;
}

EMU_API CUresult cuLibraryGetKernelCount(unsigned int *count, CUlibrary lib) {
    if (!count) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "count is NULL");
    emu_lock();
    if (!handle_live(H_LIB, lib)) {
        emu_unlock();
        return lib_bad(__func__, lib);
    }
    unsigned n = 0;
    for (int i = 0; i < lib->meta->nfuncs; i++)
        n += lib->kerns[i].lib != NULL;
    emu_unlock();
    *count = n;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuLibraryEnumerateKernels(CUkernel *kernels, unsigned int numKernels, CUlibrary lib) {
    if (!kernels && numKernels)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "kernels is NULL but numKernels is %u", numKernels);
    emu_lock();
    if (!handle_live(H_LIB, lib)) {
        emu_unlock();
        return lib_bad(__func__, lib);
    }
    unsigned k = 0;
    for (int i = 0; i < lib->meta->nfuncs && k < numKernels; i++)
        if (lib->kerns[i].lib) kernels[k++] = &lib->kerns[i];
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuLibraryGetModule(CUmodule *pMod, CUlibrary library) {
    if (!pMod) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "pMod is NULL");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if (!handle_live(H_LIB, library))
        r = lib_bad(__func__, library);
    else
        r = lib_module(library, c, pMod);
    emu_unlock();
    return r;
}

EMU_API CUresult cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name) {
    if (!name) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "name is NULL");
    CUmodule m = NULL;
    CUresult r = cuLibraryGetModule(&m, library);
    if (r != CUDA_SUCCESS) return r;
    return cuModuleGetGlobal_v2(dptr, bytes, m, name);
}

EMU_API CUresult cuLibraryGetManaged(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name) {
    (void)dptr;
    (void)bytes;
    if (!name) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "name is NULL");
    emu_lock();
    int live = handle_live(H_LIB, library);
    emu_unlock();
    if (!live) return lib_bad(__func__, library);
    return EMU_REFUSE(CUDA_ERROR_NOT_SUPPORTED,
                      "'%s': cudaemu libraries have no managed (.managed) variables; use "
                      "cuLibraryGetGlobal",
                      name);
}

EMU_API CUresult cuLibraryGetUnifiedFunction(void **fptr, CUlibrary library, const char *symbol) {
    (void)library;
    if (!fptr || !symbol)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "%s is NULL", !fptr ? "fptr" : "symbol");
    *fptr = NULL;
    return EMU_REFUSE(CUDA_ERROR_NOT_SUPPORTED, "'%s': cudaemu has no unified (host-callable) functions",
                      symbol);
}

/* Checks a kernel handle for entry point `entry`; the caller holds the lock. */
static CUresult kern_ok_at(const char *entry, CUkernel k) {
    if (handle_live(H_KERNEL, k)) return CUDA_SUCCESS;
    return emu_refuse_at(entry, CUDA_ERROR_INVALID_HANDLE,
                         "%p is not a kernel of a loaded library (get one with cuLibraryGetKernel)",
                         (void *)k);
}
#define kern_ok(k) kern_ok_at(__func__, (k))

EMU_API CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel) {
    if (!pFunc) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "pFunc is NULL");
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if ((r = kern_ok(kernel)) == CUDA_SUCCESS) r = kern_function(kernel, c, pFunc);
    emu_unlock();
    return r;
}

EMU_API CUresult cuKernelGetLibrary(CUlibrary *pLib, CUkernel kernel) {
    if (!pLib) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "pLib is NULL");
    emu_lock();
    CUresult r = kern_ok(kernel);
    if (r == CUDA_SUCCESS) *pLib = kernel->lib;
    emu_unlock();
    return r;
}

EMU_API CUresult cuKernelGetName(const char **name, CUkernel hfunc) {
    if (!name) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "name is NULL");
    emu_lock();
    CUresult r = kern_ok(hfunc);
    if (r == CUDA_SUCCESS) *name = hfunc->lib->meta->funcs[hfunc->index].name;
    emu_unlock();
    return r;
}

EMU_API CUresult cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t *paramOffset,
                                      size_t *paramSize) {
    emu_lock();
    CUresult r = kern_ok(kernel);
    if (r == CUDA_SUCCESS)
        r = func_param_info(__func__, &kernel->lib->meta->funcs[kernel->index], paramIndex, paramOffset,
                            paramSize);
    emu_unlock();
    return r;
}

static CUresult dev_ok_at(const char *entry, CUdevice dev) {
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (dev >= 0 && dev < g_emu.ndev) return CUDA_SUCCESS;
    return emu_refuse_at(entry, CUDA_ERROR_INVALID_DEVICE, "device %d does not exist (%d device(s))",
                         (int)dev, g_emu.ndev);
}
#define dev_ok(d) dev_ok_at(__func__, (d))

EMU_API CUresult cuKernelGetAttribute(int *pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev) {
    if (!pi) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "pi is NULL");
    CUresult r = dev_ok(dev);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if ((r = kern_ok(kernel)) == CUDA_SUCCESS) {
        struct CUfunc_st *f = &kernel->lib->metamod.funcs[kernel->index];
        r = func_attribute(f, attrib, pi);
        if (r != CUDA_SUCCESS) r = EMU_REFUSE(r, "attribute %d is not a CUfunction_attribute", (int)attrib);
        if (r == CUDA_SUCCESS && attrib == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES &&
            kernel->max_dyn >= 0)
            *pi = kernel->max_dyn;
    }
    emu_unlock();
    return r;
}

EMU_API CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev) {
    CUresult r = dev_ok(dev);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    if ((r = kern_ok(kernel)) != CUDA_SUCCESS) {
        emu_unlock();
        return r;
    }
    const ptx_func *f = &kernel->lib->meta->funcs[kernel->index];
    switch (attrib) {
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
        if (val < 0 || (uint64_t)val + f->static_shared > 227u * 1024u)
            r = EMU_REFUSE(CUDA_ERROR_INVALID_VALUE,
                           "%d bytes of dynamic shared memory plus %u static exceed 227 KiB", val,
                           f->static_shared);
        else {
            kernel->max_dyn = val;
            for (int i = 0; i < kernel->lib->nmods; i++) {
                CUmodule m = kernel->lib->mods[i];
                int fi = ptx_find_func(m->pm, f->name);
                if (fi >= 0) m->funcs[fi].max_dynamic_shared = val;
            }
        }
        break;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
        if (val < -1 || val > 100)
            r = EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "carveout %d is not -1 or a percentage", val);
        break;
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
    case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
    case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
        break;
    default:
        r = EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "attribute %d cannot be set", (int)attrib);
        break;
    }
    emu_unlock();
    return r;
}

EMU_API CUresult cuKernelSetCacheConfig(CUkernel kernel, CUfunc_cache config, CUdevice dev) {
    CUresult r = dev_ok(dev);
    if (r != CUDA_SUCCESS) return r;
    if ((unsigned)config > CU_FUNC_CACHE_PREFER_EQUAL)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "config %d is not a CUfunc_cache", (int)config);
    emu_lock();
    r = kern_ok(kernel);
    emu_unlock();
    return r;
}

EMU_API CUresult cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId) {
    if (!ppExportTable || !pExportTableId)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "%s is NULL",
                          !ppExportTable ? "ppExportTable" : "pExportTableId");
    return xt_get_table(pExportTableId, ppExportTable);
}

void xt_log(const char *line) { emu_set_detail("%s", line); }
