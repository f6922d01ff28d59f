/* legacy.c — an old-style program: it resolves the pre-4.0 entry points with dlsym (cuFuncSetBlockShape,
 * cuParamSet*, cuLaunchGrid, cuDeviceGetProperties) and the v1 ABI that cuda.h hides behind _v2 macros
 * (32-bit CUdeviceptr and sizes: cuMemAlloc, cuMemcpyHtoD, cuDeviceTotalMem, cuMemGetInfo), runs kernels
 * that take 32-bit pointers and checks results; cuGetProcAddress at version 2000 gives the same
 * functions. */
#include <dlfcn.h>
#include <string.h>

#include "entry_common.h"

typedef unsigned int devptr32;

#define SYM(var, name)                                                                                       \
    do {                                                                                                     \
        *(void **)&(var) = dlsym(lib, name);                                                                 \
        if (!(var)) {                                                                                        \
            fprintf(stderr, "dlsym(%s): %s\n", name, dlerror());                                             \
            return 1;                                                                                        \
        }                                                                                                    \
    } while (0)

int main(void) {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen libcuda.so.1: %s\n", dlerror());
        return 1;
    }
    CUresult (*init)(unsigned);
    CUresult (*ctx_create)(CUcontext *, unsigned, CUdevice);
    CUresult (*ctx_destroy)(CUcontext);
    CUresult (*total_mem)(unsigned *, CUdevice);
    CUresult (*mem_info)(unsigned *, unsigned *);
    CUresult (*get_props)(CUdevprop *, CUdevice);
    CUresult (*mem_alloc)(devptr32 *, unsigned);
    CUresult (*mem_free)(devptr32);
    CUresult (*htod)(devptr32, const void *, unsigned);
    CUresult (*dtoh)(void *, devptr32, unsigned);
    CUresult (*memset32)(devptr32, unsigned, unsigned);
    CUresult (*mod_load)(CUmodule *, const void *);
    CUresult (*get_fn)(CUfunction *, CUmodule, const char *);
    CUresult (*block_shape)(CUfunction, int, int, int);
    CUresult (*shared_size)(CUfunction, unsigned);
    CUresult (*param_size)(CUfunction, unsigned);
    CUresult (*param_i)(CUfunction, int, unsigned);
    CUresult (*param_f)(CUfunction, int, float);
    CUresult (*param_v)(CUfunction, int, void *, unsigned);
    CUresult (*launch)(CUfunction);
    CUresult (*launch_grid)(CUfunction, int, int);
    CUresult (*launch_grid_async)(CUfunction, int, int, CUstream);
    CUresult (*sync)(void);
    CUresult (*gpa)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);
    CUresult (*get_global)(devptr32 *, unsigned *, CUmodule, const char *);
    CUresult (*get_global_v2)(CUdeviceptr *, size_t *, CUmodule, const char *);
    SYM(init, "cuInit");
    SYM(ctx_create, "cuCtxCreate");
    SYM(ctx_destroy, "cuCtxDestroy");
    SYM(total_mem, "cuDeviceTotalMem");
    SYM(mem_info, "cuMemGetInfo");
    SYM(get_props, "cuDeviceGetProperties");
    SYM(mem_alloc, "cuMemAlloc");
    SYM(mem_free, "cuMemFree");
    SYM(htod, "cuMemcpyHtoD");
    SYM(dtoh, "cuMemcpyDtoH");
    SYM(memset32, "cuMemsetD32");
    SYM(mod_load, "cuModuleLoadData");
    SYM(get_fn, "cuModuleGetFunction");
    SYM(block_shape, "cuFuncSetBlockShape");
    SYM(shared_size, "cuFuncSetSharedSize");
    SYM(param_size, "cuParamSetSize");
    SYM(param_i, "cuParamSeti");
    SYM(param_f, "cuParamSetf");
    SYM(param_v, "cuParamSetv");
    SYM(launch, "cuLaunch");
    SYM(launch_grid, "cuLaunchGrid");
    SYM(launch_grid_async, "cuLaunchGridAsync");
    SYM(sync, "cuCtxSynchronize");
    SYM(gpa, "cuGetProcAddress_v2");
    SYM(get_global, "cuModuleGetGlobal");
    SYM(get_global_v2, "cuModuleGetGlobal_v2");

    CUcontext ctx;
    CHECK(init(0));
    CHECK(ctx_create(&ctx, 0, 0));
    unsigned tm = 0, fr = 0, tot = 0;
    CHECK(total_mem(&tm, 0));
    CHECK(mem_info(&fr, &tot));
    EXPECT(tm > 0 && tot == tm && fr <= tot, "v1 total %u, info %u/%u", tm, fr, tot);
    CUdevprop prop;
    memset(&prop, 0, sizeof prop);
    CHECK(get_props(&prop, 0));
    EXPECT(prop.maxThreadsPerBlock == 1024 && prop.SIMDWidth == 32 && prop.maxThreadsDim[2] == 64 &&
               prop.regsPerBlock == 65536,
           "CUdevprop: %d threads, SIMD %d", prop.maxThreadsPerBlock, prop.SIMDWidth);

    /* cuGetProcAddress at the 2.0 ABI returns the same v1 functions */
    void *fn = NULL;
    CHECK(gpa("cuMemAlloc", &fn, 2000, 0, NULL));
    EXPECT(fn == *(void **)&mem_alloc, "cuGetProcAddress(cuMemAlloc, 2000) is not the v1 cuMemAlloc");
    CHECK(gpa("cuMemAlloc", &fn, 3020, 0, NULL));
    EXPECT(fn == dlsym(lib, "cuMemAlloc_v2"), "cuGetProcAddress(cuMemAlloc, 3020) is not cuMemAlloc_v2");

    /* v1 memory: 32-bit device pointers */
    const unsigned n = 10000;
    devptr32 d = 0;
    CHECK(mem_alloc(&d, n * 4));
    EXPECT(d != 0, "v1 cuMemAlloc returned 0");
    unsigned *h = malloc(n * 4), *o = malloc(n * 4);
    for (unsigned i = 0; i < n; i++)
        h[i] = i * 5u + 1u;
    CHECK(htod(d, h, n * 4));

    CUmodule mod;
    CUfunction f32, fs, f64;
    CHECK(mod_load(&mod, ENTRY_PTX));
    CHECK(get_fn(&f32, mod, "axpb32"));
    CHECK(get_fn(&fs, mod, "scalef32"));
    CHECK(get_fn(&f64, mod, "axpb"));

    /* axpb32(p, n, a, b) with cuParamSeti, one block per 128 elements */
    CHECK(block_shape(f32, 128, 1, 1));
    CHECK(shared_size(f32, 0));
    CHECK(param_i(f32, 0, d));
    CHECK(param_i(f32, 4, n));
    CHECK(param_i(f32, 8, 3));
    CHECK(param_i(f32, 12, 4));
    CHECK(param_size(f32, 16));
    CHECK(launch_grid(f32, (int)((n + 127) / 128), 1));
    CHECK(sync());
    CHECK(dtoh(o, d, n * 4));
    unsigned bad = 0;
    for (unsigned i = 0; i < n; i++)
        bad += o[i] != h[i] * 3u + 4u;
    EXPECT(bad == 0, "cuLaunchGrid axpb32: %u of %u wrong", bad, n);

    /* scalef32(p, n, s) with cuParamSetf, launched async on the default stream */
    float *hf = malloc(n * 4), *of = malloc(n * 4);
    for (unsigned i = 0; i < n; i++)
        hf[i] = (float)i * 0.5f;
    CHECK(htod(d, hf, n * 4));
    CHECK(block_shape(fs, 256, 1, 1));
    CHECK(param_i(fs, 0, d));
    CHECK(param_i(fs, 4, n));
    CHECK(param_f(fs, 8, 1.5f));
    CHECK(param_size(fs, 12));
    CHECK(launch_grid_async(fs, (int)((n + 255) / 256), 1, NULL));
    CHECK(sync());
    CHECK(dtoh(of, d, n * 4));
    bad = 0;
    for (unsigned i = 0; i < n; i++)
        bad += of[i] != hf[i] * 1.5f + (float)i;
    EXPECT(bad == 0, "cuLaunchGridAsync scalef32: %u of %u wrong", bad, n);

    /* the 64-bit kernel through cuParamSetv, and cuLaunch (a 1x1 grid: the grid-stride loop does it all) */
    CHECK(memset32(d, 2u, n));
    unsigned long long p64 = d, n64 = n;
    CHECK(block_shape(f64, 64, 1, 1));
    CHECK(param_v(f64, 0, &p64, 8));
    CHECK(param_v(f64, 8, &n64, 8));
    CHECK(param_i(f64, 16, 10));
    CHECK(param_i(f64, 20, 0));
    CHECK(param_i(f64, 24, 1));
    CHECK(param_size(f64, 28));
    CHECK(launch(f64));
    CHECK(sync());
    CHECK(dtoh(o, d, n * 4));
    bad = 0;
    for (unsigned i = 0; i < n; i++)
        bad += o[i] != 20u + i;
    EXPECT(bad == 0, "cuLaunch axpb: %u of %u wrong", bad, n);

    /* a module global lives above 4 GiB: the v1 call refuses rather than truncating the address */
    devptr32 g32 = 0x1234;
    unsigned gsz = 0;
    CUdeviceptr g64 = 0;
    size_t gsz64 = 0;
    CHECK(get_global_v2(&g64, &gsz64, mod, "entry_counter"));
    if (!programs_on_cudaemu()) /* how a GPU's driver answers the v1 call above 4 GiB is its own */
        EXPECT(gsz64 == 4, "cuModuleGetGlobal_v2 size %zu", gsz64);
    else if (g64 > 0xffffffffull)
        EXPECT_CU(get_global(&g32, &gsz, mod, "entry_counter"), CUDA_ERROR_NOT_SUPPORTED);
    else
        EXPECT_CU(get_global(&g32, &gsz, mod, "entry_counter"), CUDA_SUCCESS);
    if (programs_on_cudaemu())
        EXPECT(gsz64 == 4 && (g64 > 0xffffffffull ? g32 == 0x1234 : g32 == g64), "v1 cuModuleGetGlobal");

    /* refusals */
    EXPECT_CU(param_size(f64, 5000), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(param_i(f64, 4094, 1), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(block_shape(f64, 0, 1, 1), CUDA_ERROR_INVALID_VALUE);
    CHECK(param_size(f64, 8)); /* shorter than the kernel's parameters */
    EXPECT_CU(launch_grid(f64, 1, 1), CUDA_ERROR_INVALID_VALUE);

    CHECK(mem_free(d));
    free(h);
    free(o);
    free(hf);
    free(of);
    CHECK(ctx_destroy(ctx));
    printf("legacy: %s\n", g_failures ? "FAILED" : "ok");
    dlclose(lib);
    return g_failures != 0;
}
