/* library_kernel.c — the CUDA 12 loading API as cuda.core and numba-cuda use it: cuLibraryLoadData
 * (PTX text, argv[1]) and cuLibraryLoadFromFile (a fatbin, argv[2]), kernels enumerated and looked
 * up by name, their attributes and parameter layout, a device global set through
 * cuLibraryGetGlobal, and the CUkernel handed straight to cuLaunchKernel / cuLaunchKernelEx in two
 * contexts (library handles are context-independent). */
#include "images_common.h"

typedef CUresult (*pfn_library_load)(CUlibrary *, const void *, CUjit_option *, void **, unsigned,
                                     CUlibraryOption *, void **, unsigned);

/* v[i] = (i * 3 - 100 + bias[i % 4])^2 on the host */
static void check_result(CUdeviceptr dv, int n, const int *bias) {
    int *v = malloc(sizeof(int) * (size_t)n);
    CHECK(cuMemcpyDtoH(v, dv, sizeof(int) * (size_t)n));
    for (int i = 0; i < n; i++) {
        int t = i * 3 - 100 + bias[i % 4];
        if (v[i] != t * t) {
            fprintf(stderr, "v[%d] = %d, host says %d\n", i, v[i], t * t);
            exit(1);
        }
    }
    free(v);
}

static void run(CUlibrary lib, CUkernel add_bias, CUkernel square, const int *bias, int use_ex) {
    int n = 1000;
    int *v = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++)
        v[i] = i * 3 - 100;
    CUdeviceptr dv, dbias;
    size_t bsize;
    CHECK(cuLibraryGetGlobal(&dbias, &bsize, lib, "bias"));
    REQUIRE(bsize == 4 * sizeof(int));
    CHECK(cuMemcpyHtoD(dbias, bias, bsize));
    CHECK(cuMemAlloc(&dv, sizeof(int) * (size_t)n));
    CHECK(cuMemcpyHtoD(dv, v, sizeof(int) * (size_t)n));
    void *args[] = {&dv, &n};
    if (!use_ex) {
        CHECK(cuLaunchKernel((CUfunction)add_bias, (unsigned)(n + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args,
                             NULL));
        CHECK(cuLaunchKernel((CUfunction)square, (unsigned)(n + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args,
                             NULL));
    } else {
        CUlaunchConfig cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.gridDimX = (unsigned)(n + 255) / 256;
        cfg.gridDimY = cfg.gridDimZ = 1;
        cfg.blockDimX = 256;
        cfg.blockDimY = cfg.blockDimZ = 1;
        CHECK(cuLaunchKernelEx(&cfg, (CUfunction)add_bias, args, NULL));
        CUfunction fsq;
        CHECK(cuKernelGetFunction(&fsq, square));
        CHECK(cuLaunchKernelEx(&cfg, fsq, args, NULL));
    }
    CHECK(cuCtxSynchronize());
    check_result(dv, n, bias);
    CHECK(cuMemFree(dv));
    free(v);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s KERNELS_PTX KERNELS_FATBIN\n", argv[0]);
        return 2;
    }
    char *ptx = read_file(argv[1], NULL);
    CHECK(cuInit(0));
    /* found the way cuda.core finds it */
    pfn_library_load load = NULL;
    CUdriverProcAddressQueryResult q;
    CHECK(cuGetProcAddress("cuLibraryLoadData", (void **)&load, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &q));
    REQUIRE(load != NULL && q == CU_GET_PROC_ADDRESS_SUCCESS);

    /* private driver tables: one no runtime asks for is NOT_FOUND, and asking breaks nothing (the CUDA
     * runtime's own are served: unit.cudaemu.export_tables) */
    typedef CUresult (*pfn_export)(const void **, const CUuuid *);
    pfn_export get_export = NULL;
    CHECK(
        cuGetProcAddress("cuGetExportTable", (void **)&get_export, 3000, CU_GET_PROC_ADDRESS_DEFAULT, NULL));
    const CUuuid some = {{0x01, 0x23, 0x45, 0x67, (char)0x89, (char)0xab, (char)0xcd, (char)0xef, (char)0xfe,
                          (char)0xdc, (char)0xba, (char)0x98, 0x76, 0x54, 0x32, 0x10}};
    const void *table = &some;
    if (programs_on_cudaemu()) /* NVIDIA's driver has tables of its own */
        REQUIRE(get_export(&table, &some) == CUDA_ERROR_NOT_FOUND && table == NULL);

    /* a library can be loaded before any context exists */
    CUlibrary lib;
    CHECK(load(&lib, ptx, NULL, NULL, 0, NULL, NULL, 0));
    unsigned count = 0;
    CHECK(cuLibraryGetKernelCount(&count, lib));
    REQUIRE(count == 2);
    CUkernel ks[2];
    CHECK(cuLibraryEnumerateKernels(ks, 2, lib));
    int seen_add = 0, seen_sq = 0;
    for (int i = 0; i < 2; i++) {
        const char *name;
        CUlibrary owner;
        CHECK(cuKernelGetName(&name, ks[i]));
        CHECK(cuKernelGetLibrary(&owner, ks[i]));
        REQUIRE(owner == lib);
        seen_add |= strcmp(name, "add_bias") == 0;
        seen_sq |= strcmp(name, "square") == 0;
    }
    REQUIRE(seen_add && seen_sq);
    CUkernel add_bias, square, none;
    CHECK(cuLibraryGetKernel(&add_bias, lib, "add_bias"));
    CHECK(cuLibraryGetKernel(&square, lib, "square"));
    REQUIRE(cuLibraryGetKernel(&none, lib, "missing") == CUDA_ERROR_NOT_FOUND);
    size_t off, sz;
    CHECK(cuKernelGetParamInfo(add_bias, 1, &off, &sz));
    REQUIRE(off == 8 && sz == 4);
    REQUIRE(cuKernelGetParamInfo(add_bias, 2, &off, &sz) == CUDA_ERROR_INVALID_VALUE);
    int maxthreads = 0;
    CHECK(cuKernelGetAttribute(&maxthreads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, square, 0));
    REQUIRE(maxthreads == 1024);
    CHECK(cuKernelSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 64 * 1024, square, 0));
    int dyn = 0;
    CHECK(cuKernelGetAttribute(&dyn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, square, 0));
    REQUIRE(dyn == 64 * 1024);
    CHECK(cuKernelSetCacheConfig(square, CU_FUNC_CACHE_PREFER_SHARED, 0));
    CUdeviceptr dummy;
    size_t dsz;
    if (programs_on_cudaemu()) /* cudaemu's answer; a GPU's driver looks the name up */
        REQUIRE(cuLibraryGetManaged(&dummy, &dsz, lib, "bias") == CUDA_ERROR_NOT_SUPPORTED);

    /* context 1: the primary context */
    CUcontext primary = make_context();
    const int bias1[4] = {1, -2, 3, -4};
    run(lib, add_bias, square, bias1, 0);
    CUfunction f1, f2;
    CUmodule mod;
    CHECK(cuKernelGetFunction(&f1, add_bias));
    CHECK(cuLibraryGetModule(&mod, lib));
    CHECK(cuModuleGetFunction(&f2, mod, "add_bias"));
    REQUIRE(f1 == f2);
    int dyn_f = 0;
    CHECK(cuFuncGetAttribute(&dyn_f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, f1));
    CUfunctionLoadingState st;
    CHECK(cuFuncIsLoaded(&st, f1));
    REQUIRE(st == CU_FUNCTION_LOADING_STATE_LOADED);
    CHECK(cuFuncLoad(f1));
    const char *fname;
    CHECK(cuFuncGetName(&fname, f1));
    REQUIRE(strcmp(fname, "add_bias") == 0);
    CUmodule fmod;
    CHECK(cuFuncGetModule(&fmod, f1));
    REQUIRE(fmod == mod);
    unsigned nfunc = 0;
    CHECK(cuModuleGetFunctionCount(&nfunc, mod));
    REQUIRE(nfunc == 2);
    CUfunction fl[2] = {NULL, NULL};
    CHECK(cuModuleEnumerateFunctions(fl, 2, mod));
    REQUIRE((fl[0] == f1 || fl[1] == f1) && fl[0] != fl[1]);
    CHECK(cuFuncGetParamInfo(f1, 0, &off, &sz));
    REQUIRE(off == 0 && sz == 8);
    CUmoduleLoadingMode lm;
    CHECK(cuModuleGetLoadingMode(&lm));
    REQUIRE(lm == CU_MODULE_EAGER_LOADING || lm == CU_MODULE_LAZY_LOADING);

    /* context 2: the same CUkernel handles, its own copy of the global */
    CUcontext ctx2;
    CUdevice dev;
    CHECK(cuDeviceGet(&dev, 0));
    CUctxCreateParams cp;
    memset(&cp, 0, sizeof cp);
    CHECK(cuCtxCreate(&ctx2, &cp, 0, dev));
    const int bias2[4] = {10, 20, 30, 40};
    run(lib, add_bias, square, bias2, 1);
    CUfunction f3;
    CHECK(cuKernelGetFunction(&f3, add_bias));
    REQUIRE(f3 != f1);
    CHECK(cuCtxDestroy(ctx2));
    CHECK(cuCtxSetCurrent(primary));
    run(lib, add_bias, square, bias1, 1);
    CHECK(cuLibraryUnload(lib));
    REQUIRE(cuLibraryGetKernel(&none, lib, "square") == CUDA_ERROR_INVALID_HANDLE);

    /* from a fatbin file */
    CHECK(cuLibraryLoadFromFile(&lib, argv[2], NULL, NULL, 0, NULL, NULL, 0));
    CHECK(cuLibraryGetKernel(&add_bias, lib, "add_bias"));
    CHECK(cuLibraryGetKernel(&square, lib, "square"));
    const int bias3[4] = {-7, 0, 7, 1};
    run(lib, add_bias, square, bias3, 0);
    CHECK(cuLibraryUnload(lib));
    free(ptx);
    printf("library_kernel: ok\n");
    return 0;
}
