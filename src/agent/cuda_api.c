/* cuda_api.c — loads the CUDA driver with dlopen and fills the lp_cuda table through
 * cuGetProcAddress with the API version each entry point's ABI belongs to (so one binary works
 * across drivers, as NCCL and PyTorch do). A library that does not export cuGetProcAddress (an
 * older emulator) is still usable through the versioned symbol names. */
#include "cuda_api.h"
#include "strutil.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef lp_cu_result (*get_proc_v2_fn)(const char *sym, void **pfn, int version, uint64_t flags, int *status);
typedef lp_cu_result (*get_proc_v1_fn)(const char *sym, void **pfn, int version, uint64_t flags);

typedef struct entry {
    const char *name;   /* base name given to cuGetProcAddress */
    int version;        /* CUDA version of the ABI we call */
    const char *symbol; /* exported name of that ABI (dlsym fallback) */
    size_t offset;      /* of the pointer in lp_cuda */
    int optional;
} entry;

#define E(n, v, s)                                                                                           \
    { #n, v, s, offsetof(lp_cuda, n), 0 }
#define O(n, v, s)                                                                                           \
    { #n, v, s, offsetof(lp_cuda, n), 1 }
static const entry ENTRIES[] = {
    E(cuInit, 2000, "cuInit"),
    E(cuDriverGetVersion, 2020, "cuDriverGetVersion"),
    E(cuGetErrorName, 6000, "cuGetErrorName"),
    E(cuGetErrorString, 6000, "cuGetErrorString"),
    E(cuDeviceGetCount, 2000, "cuDeviceGetCount"),
    E(cuDeviceGet, 2000, "cuDeviceGet"),
    E(cuDeviceGetName, 2000, "cuDeviceGetName"),
    E(cuDeviceGetUuid, 11040, "cuDeviceGetUuid_v2"),
    E(cuDeviceTotalMem, 3020, "cuDeviceTotalMem_v2"),
    E(cuDeviceGetAttribute, 2000, "cuDeviceGetAttribute"),
    E(cuDevicePrimaryCtxRetain, 7000, "cuDevicePrimaryCtxRetain"),
    E(cuDevicePrimaryCtxRelease, 11000, "cuDevicePrimaryCtxRelease_v2"),
    E(cuDevicePrimaryCtxReset, 11000, "cuDevicePrimaryCtxReset_v2"),
    E(cuCtxSetCurrent, 4000, "cuCtxSetCurrent"),
    E(cuCtxSynchronize, 2000, "cuCtxSynchronize"),
    E(cuMemAlloc, 3020, "cuMemAlloc_v2"),
    E(cuMemFree, 3020, "cuMemFree_v2"),
    E(cuMemGetInfo, 3020, "cuMemGetInfo_v2"),
    E(cuMemHostAlloc, 2020, "cuMemHostAlloc"),
    E(cuMemFreeHost, 2000, "cuMemFreeHost"),
    E(cuMemcpyHtoD, 3020, "cuMemcpyHtoD_v2"),
    E(cuMemcpyDtoH, 3020, "cuMemcpyDtoH_v2"),
    E(cuModuleLoadDataEx, 2010, "cuModuleLoadDataEx"),
    E(cuModuleUnload, 2000, "cuModuleUnload"),
    E(cuModuleGetFunction, 2000, "cuModuleGetFunction"),
    E(cuLaunchKernel, 4000, "cuLaunchKernel"),
    O(cuFuncGetParamInfo, 12040, "cuFuncGetParamInfo"),
    O(cuModuleGetFunctionCount, 12040, "cuModuleGetFunctionCount"),
    O(cuModuleEnumerateFunctions, 12040, "cuModuleEnumerateFunctions"),
    O(cuFuncGetName, 12030, "cuFuncGetName"),
    O(cuMemsetD8, 3020, "cuMemsetD8_v2"),
    O(cuMemsetD16, 3020, "cuMemsetD16_v2"),
    O(cuMemsetD32, 3020, "cuMemsetD32_v2"),
    O(cuMemsetD2D8, 3020, "cuMemsetD2D8_v2"),
    O(cuMemsetD2D16, 3020, "cuMemsetD2D16_v2"),
    O(cuMemsetD2D32, 3020, "cuMemsetD2D32_v2"),
    O(cuMemcpyDtoD, 3020, "cuMemcpyDtoD_v2"),
    O(cuMemcpy2D, 3020, "cuMemcpy2D_v2"),
    O(cuFuncGetAttribute, 2020, "cuFuncGetAttribute"),
    O(cuFuncSetAttribute, 9000, "cuFuncSetAttribute"),
    O(cuModuleGetGlobal, 3020, "cuModuleGetGlobal_v2"),
};

/* dlsym returns void *; converting it to a function pointer is what POSIX requires to work. */
static void *sym(void *lib, const char *name) { return dlsym(lib, name); }

int lp_cuda_open(lp_cuda *cu, const char *path, char *err, size_t err_size) {
    memset(cu, 0, sizeof *cu);
    if (!path || !*path) path = getenv("LEPTON_CUDA_LIBRARY");
    if (!path || !*path) path = "libcuda.so.1";
    snprintf(cu->path, sizeof cu->path, "%s", path);
    /* never unloaded for real: a driver keeps global state (and threads) for the life of the process */
    cu->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!cu->lib) {
        const char *why = dlerror();
        lp_set_err(err, err_size,
                   "cannot load the CUDA driver %s: %s (install the NVIDIA driver, or point "
                   "--cuda-library / LEPTON_CUDA_LIBRARY at a libcuda.so.1 such as cudaemu's)",
                   path, why ? why : "unknown error");
        return -1;
    }
    get_proc_v2_fn gp2 = NULL;
    get_proc_v1_fn gp1 = NULL;
    void *p = sym(cu->lib, "cuGetProcAddress_v2");
    if (p) memcpy(&gp2, &p, sizeof p);
    p = sym(cu->lib, "cuGetProcAddress");
    if (p) memcpy(&gp1, &p, sizeof p);
    cu->resolver = gp2 ? 2 : gp1 ? 1 : 0;
    for (size_t i = 0; i < sizeof ENTRIES / sizeof ENTRIES[0]; i++) {
        const entry *e = &ENTRIES[i];
        void *fn = NULL;
        if (gp2) {
            int status = 0;
            if (gp2(e->name, &fn, e->version, 0, &status) != LP_CUDA_SUCCESS) fn = NULL;
        } else if (gp1) {
            if (gp1(e->name, &fn, e->version, 0) != LP_CUDA_SUCCESS) fn = NULL;
        }
        if (!fn) fn = sym(cu->lib, e->symbol);
        if (!fn && !gp1 && !gp2 && strcmp(e->symbol, e->name) != 0) fn = sym(cu->lib, e->name);
        if (!fn && !e->optional) {
            lp_set_err(err, err_size,
                       "the CUDA driver %s lacks %s (API version %d); a newer driver is needed", path,
                       e->name, e->version);
            lp_cuda_close(cu);
            return -1;
        }
        memcpy((char *)cu + e->offset, &fn, sizeof fn);
    }
    lp_cu_result r = cu->cuInit(0);
    if (r != LP_CUDA_SUCCESS) {
        char nb[64];
        lp_set_err(err, err_size, "cuInit failed in %s: %s", path, lp_cuda_error_name(cu, r, nb, sizeof nb));
        lp_cuda_close(cu);
        return -1;
    }
    if (cu->cuDriverGetVersion(&cu->driver_version) != LP_CUDA_SUCCESS) cu->driver_version = 0;
    return 0;
}

void lp_cuda_close(lp_cuda *cu) {
    if (!cu) return;
    if (cu->lib) dlclose(cu->lib);
    memset(cu, 0, sizeof *cu);
}

const char *lp_cuda_error_name(const lp_cuda *cu, lp_cu_result e, char *buf, size_t buf_size) {
    const char *name = NULL;
    if (cu && cu->cuGetErrorName && cu->cuGetErrorName(e, &name) == LP_CUDA_SUCCESS && name) return name;
    snprintf(buf, buf_size, "CUDA_ERROR_%d", e);
    return buf;
}

int lp_cuda_error_is_sticky(lp_cu_result e) {
    switch (e) {
    case 214: /* ECC_UNCORRECTABLE */
    case 700: /* ILLEGAL_ADDRESS */
    case 702: /* LAUNCH_TIMEOUT */
    case 710: /* ASSERT */
    case 714: /* HARDWARE_STACK_ERROR */
    case 715: /* ILLEGAL_INSTRUCTION */
    case 716: /* MISALIGNED_ADDRESS */
    case 717: /* INVALID_ADDRESS_SPACE */
    case 718: /* INVALID_PC */
    case 719: /* LAUNCH_FAILED */
    case 999: /* UNKNOWN */
        return 1;
    default:
        return 0;
    }
}

void lp_cuda_uuid_string(const unsigned char b[16], char *out, size_t out_size) {
    snprintf(out, out_size, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int lp_cuda_list_gpus(const lp_cuda *cu, lp_gpu_desc **out, int *count, char *err, size_t err_size) {
    *out = NULL;
    *count = 0;
    int n = 0;
    char nb[64];
    lp_cu_result r = cu->cuDeviceGetCount(&n);
    if (r == LP_CUDA_ERROR_NO_DEVICE)
        n = 0;
    else if (r != LP_CUDA_SUCCESS) {
        lp_set_err(err, err_size, "cuDeviceGetCount failed: %s", lp_cuda_error_name(cu, r, nb, sizeof nb));
        return -1;
    }
    if (n <= 0) return 0;
    lp_gpu_desc *v = calloc((size_t)n, sizeof *v);
    if (!v) {
        lp_set_err(err, err_size, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        lp_cu_device d;
        unsigned char u[16];
        size_t mem = 0;
        const char *what = "cuDeviceGet";
        r = cu->cuDeviceGet(&d, i);
        if (r == LP_CUDA_SUCCESS) {
            what = "cuDeviceGetName";
            r = cu->cuDeviceGetName(v[i].name, (int)sizeof v[i].name, d);
        }
        if (r == LP_CUDA_SUCCESS) {
            what = "cuDeviceGetUuid";
            r = cu->cuDeviceGetUuid(u, d);
        }
        if (r == LP_CUDA_SUCCESS) {
            what = "cuDeviceTotalMem";
            r = cu->cuDeviceTotalMem(&mem, d);
        }
        if (r != LP_CUDA_SUCCESS) {
            lp_set_err(err, err_size, "%s failed for device %d: %s", what, i,
                       lp_cuda_error_name(cu, r, nb, sizeof nb));
            free(v);
            return -1;
        }
        v[i].name[sizeof v[i].name - 1] = 0;
        v[i].ordinal = i;
        v[i].memory = mem;
        lp_cuda_uuid_string(u, v[i].uuid, sizeof v[i].uuid);
    }
    *out = v;
    *count = n;
    return 0;
}
