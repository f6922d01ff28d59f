/* cuda_api.h — the CUDA driver API as the agent and the lease worker see it: one table of function
 * pointers, resolved once from libcuda.so.1 (or another library exporting the same ABI, such as the
 * CPU driver cudaemu) through cuGetProcAddress with explicit API versions. Nothing here links
 * against libcuda and nothing needs the CUDA toolkit's cuda.h: the few types used are declared
 * below with the driver's ABI (handles are pointers, CUdevice is int, CUdeviceptr is 64-bit). */
#ifndef LEPTON_AGENT_CUDA_API_H
#define LEPTON_AGENT_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

typedef int lp_cu_result;              /* CUresult */
typedef int lp_cu_device;              /* CUdevice */
typedef unsigned long long lp_cu_dptr; /* CUdeviceptr */
typedef struct lp_cu_ctx_st *lp_cu_ctx;
typedef struct lp_cu_mod_st *lp_cu_module;
typedef struct lp_cu_func_st *lp_cu_function;
typedef struct lp_cu_stream_st *lp_cu_stream;

/* CUresult values the project looks at by number. */
#define LP_CUDA_SUCCESS 0
#define LP_CUDA_ERROR_INVALID_VALUE 1
#define LP_CUDA_ERROR_OUT_OF_MEMORY 2
#define LP_CUDA_ERROR_NOT_INITIALIZED 3
#define LP_CUDA_ERROR_NO_DEVICE 100
#define LP_CUDA_ERROR_NOT_FOUND 500

/* CUjit_option values used for module loading (cuda.h numbering). */
#define LP_CU_JIT_INFO_LOG_BUFFER 3
#define LP_CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES 4
#define LP_CU_JIT_ERROR_LOG_BUFFER 5
#define LP_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES 6

/* CUdevice_attribute values used for information. */
#define LP_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR 75
#define LP_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR 76
/* GET /v1/info and the module answer list attributes by number up to these (exclusive): a device
 * attribute or function attribute the driver refuses is listed as null. */
#define LP_CU_DEVICE_ATTRIBUTE_LIMIT 256
#define LP_CU_FUNC_ATTRIBUTE_LIMIT 32
/* CUfunction_attribute values used by the worker. */
#define LP_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES 8

/* CUDA_MEMCPY2D (the driver's ABI): the worker fills the device-to-device fields only. */
#define LP_CU_MEMORYTYPE_DEVICE 2
typedef struct lp_cu_memcpy2d {
    size_t srcXInBytes, srcY;
    int srcMemoryType;
    const void *srcHost;
    lp_cu_dptr srcDevice;
    void *srcArray;
    size_t srcPitch;
    size_t dstXInBytes, dstY;
    int dstMemoryType;
    void *dstHost;
    lp_cu_dptr dstDevice;
    void *dstArray;
    size_t dstPitch;
    size_t WidthInBytes, Height;
} lp_cu_memcpy2d;

typedef struct lp_cuda {
    void *lib;
    char path[512];
    int driver_version;
    /* How entries were resolved: 2 = cuGetProcAddress_v2, 1 = cuGetProcAddress, 0 = dlsym of the
     * versioned symbol names (a library without cuGetProcAddress). */
    int resolver;

    lp_cu_result (*cuInit)(unsigned flags);
    lp_cu_result (*cuDriverGetVersion)(int *version);
    lp_cu_result (*cuGetErrorName)(lp_cu_result e, const char **name);
    lp_cu_result (*cuGetErrorString)(lp_cu_result e, const char **text);
    lp_cu_result (*cuDeviceGetCount)(int *count);
    lp_cu_result (*cuDeviceGet)(lp_cu_device *dev, int ordinal);
    lp_cu_result (*cuDeviceGetName)(char *name, int len, lp_cu_device dev);
    lp_cu_result (*cuDeviceGetUuid)(unsigned char uuid[16], lp_cu_device dev);
    lp_cu_result (*cuDeviceTotalMem)(size_t *bytes, lp_cu_device dev);
    lp_cu_result (*cuDeviceGetAttribute)(int *value, int attribute, lp_cu_device dev);
    lp_cu_result (*cuDevicePrimaryCtxRetain)(lp_cu_ctx *ctx, lp_cu_device dev);
    lp_cu_result (*cuDevicePrimaryCtxRelease)(lp_cu_device dev);
    lp_cu_result (*cuDevicePrimaryCtxReset)(lp_cu_device dev);
    lp_cu_result (*cuCtxSetCurrent)(lp_cu_ctx ctx);
    lp_cu_result (*cuCtxSynchronize)(void);
    lp_cu_result (*cuMemAlloc)(lp_cu_dptr *dptr, size_t size);
    lp_cu_result (*cuMemFree)(lp_cu_dptr dptr);
    lp_cu_result (*cuMemGetInfo)(size_t *free_bytes, size_t *total_bytes);
    lp_cu_result (*cuMemHostAlloc)(void **p, size_t size, unsigned flags);
    lp_cu_result (*cuMemFreeHost)(void *p);
    lp_cu_result (*cuMemcpyHtoD)(lp_cu_dptr dst, const void *src, size_t size);
    lp_cu_result (*cuMemcpyDtoH)(void *dst, lp_cu_dptr src, size_t size);
    lp_cu_result (*cuModuleLoadDataEx)(lp_cu_module *mod, const void *image, unsigned nopts, int *opts,
                                       void **values);
    lp_cu_result (*cuModuleUnload)(lp_cu_module mod);
    lp_cu_result (*cuModuleGetFunction)(lp_cu_function *f, lp_cu_module mod, const char *name);
    lp_cu_result (*cuLaunchKernel)(lp_cu_function f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                   unsigned by, unsigned bz, unsigned shared, lp_cu_stream stream,
                                   void **params, void **extra);
    /* Optional (NULL when the driver is older than CUDA 12.3/12.4). */
    lp_cu_result (*cuFuncGetParamInfo)(lp_cu_function f, size_t index, size_t *offset, size_t *size);
    lp_cu_result (*cuModuleGetFunctionCount)(unsigned *count, lp_cu_module mod);
    lp_cu_result (*cuModuleEnumerateFunctions)(lp_cu_function *fns, unsigned count, lp_cu_module mod);
    lp_cu_result (*cuFuncGetName)(const char **name, lp_cu_function f);
    /* Optional: the job steps memset and copy, launch options, function attributes and module
     * globals (a driver without one fails what needs it, with the entry point's name). */
    lp_cu_result (*cuMemsetD8)(lp_cu_dptr d, unsigned char v, size_t n);
    lp_cu_result (*cuMemsetD16)(lp_cu_dptr d, unsigned short v, size_t n);
    lp_cu_result (*cuMemsetD32)(lp_cu_dptr d, unsigned v, size_t n);
    lp_cu_result (*cuMemsetD2D8)(lp_cu_dptr d, size_t pitch, unsigned char v, size_t w, size_t h);
    lp_cu_result (*cuMemsetD2D16)(lp_cu_dptr d, size_t pitch, unsigned short v, size_t w, size_t h);
    lp_cu_result (*cuMemsetD2D32)(lp_cu_dptr d, size_t pitch, unsigned v, size_t w, size_t h);
    lp_cu_result (*cuMemcpyDtoD)(lp_cu_dptr dst, lp_cu_dptr src, size_t size);
    lp_cu_result (*cuMemcpy2D)(const lp_cu_memcpy2d *copy);
    lp_cu_result (*cuFuncGetAttribute)(int *value, int attribute, lp_cu_function f);
    lp_cu_result (*cuFuncSetAttribute)(lp_cu_function f, int attribute, int value);
    lp_cu_result (*cuModuleGetGlobal)(lp_cu_dptr *dptr, size_t *bytes, lp_cu_module mod, const char *name);
} lp_cuda;

/* Opens the driver: path (NULL → $LEPTON_CUDA_LIBRARY → "libcuda.so.1"), resolves every entry point
 * and calls cuInit(0). Returns 0, or -1 with a message in err naming the library and the missing
 * entry point or the cuInit error. On failure nothing stays loaded. */
int lp_cuda_open(lp_cuda *cu, const char *path, char *err, size_t err_size);
/* Unloads the library (the table becomes unusable). NULL-safe. */
void lp_cuda_close(lp_cuda *cu);
/* The driver's name for an error ("CUDA_ERROR_ILLEGAL_ADDRESS"), or "CUDA_ERROR_<n>" when the driver
 * does not know it. Always returns a usable string (static or in buf). */
const char *lp_cuda_error_name(const lp_cuda *cu, lp_cu_result e, char *buf, size_t buf_size);
/* 1 when an error leaves the context unusable (the process must be restarted), else 0. */
int lp_cuda_error_is_sticky(lp_cu_result e);

/* One GPU as the agent offers it. */
typedef struct lp_gpu_desc {
    int ordinal;     /* CUDA device ordinal */
    char name[256];  /* "NVIDIA H100 80GB HBM3" */
    char uuid[64];   /* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
    uint64_t memory; /* bytes */
} lp_gpu_desc;

/* Formats 16 UUID bytes the way nvidia-smi does ("GPU-" + 8-4-4-4-12 hex). out holds ≥ 41 bytes. */
void lp_cuda_uuid_string(const unsigned char bytes[16], char *out, size_t out_size);
/* Lists every device. *out is malloc'd (caller frees); *count may be 0. Returns 0 or -1 with err. */
int lp_cuda_list_gpus(const lp_cuda *cu, lp_gpu_desc **out, int *count, char *err, size_t err_size);

#endif
