/* api_proc.c — cuGetProcAddress: maps an entry-point name and the caller's CUDA version to the
 * implementation with the matching ABI (e.g. "cuMemAlloc" at >= 3020 -> cuMemAlloc_v2). */
#include "emu.h"
#include "proc_gen.h"

#include <cudaProfiler.h>

#include <string.h>

/* Entry points whose original (pre-_v2) names cuda.h hides behind macros. */
#undef cuCtxCreate
#undef cuCtxDestroy
#undef cuCtxPushCurrent
#undef cuCtxPopCurrent
#undef cuDevicePrimaryCtxRelease
#undef cuDevicePrimaryCtxReset
#undef cuDevicePrimaryCtxSetFlags
#undef cuDeviceGetUuid
#undef cuStreamDestroy
#undef cuEventDestroy
#undef cuEventElapsedTime
#undef cuGetProcAddress
#undef cuLinkCreate
#undef cuLinkAddData
#undef cuLinkAddFile
CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev);
CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev);
CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams, unsigned int flags,
                        CUdevice dev);
CUresult cuCtxDestroy(CUcontext ctx);
CUresult cuCtxPushCurrent(CUcontext ctx);
CUresult cuCtxPopCurrent(CUcontext *pctx);
CUresult cuDevicePrimaryCtxRelease(CUdevice dev);
CUresult cuDevicePrimaryCtxReset(CUdevice dev);
CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags);
CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev);
CUresult cuStreamDestroy(CUstream hStream);
CUresult cuEventDestroy(CUevent hEvent);
CUresult cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd);
EMU_API CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags);
CUresult cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues,
                      CUlinkState *stateOut);
CUresult cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size, const char *name,
                       unsigned int numOptions, CUjit_option *options, void **optionValues);
CUresult cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path, unsigned int numOptions,
                       CUjit_option *options, void **optionValues);

typedef struct proc_ent {
    const char *name;
    int version; /* first CUDA version whose "name" resolves to fn */
    void *fn;
    const char *exported;
} proc_ent;

#define E(name, ver, fn)                                                                                     \
    { name, ver, (void *)(fn), #fn }

static const proc_ent g_procs[] = {
    E("cuInit", 2000, cuInit),
    E("cuDriverGetVersion", 2020, cuDriverGetVersion),
    E("cuDeviceGet", 2000, cuDeviceGet),
    E("cuDeviceGetCount", 2000, cuDeviceGetCount),
    E("cuDeviceGetName", 2000, cuDeviceGetName),
    E("cuDeviceGetUuid", 9020, cuDeviceGetUuid),
    E("cuDeviceGetUuid", 11040, cuDeviceGetUuid_v2),
    E("cuDeviceGetLuid", 10000, cuDeviceGetLuid),
    E("cuDeviceTotalMem", 3020, cuDeviceTotalMem_v2),
    E("cuDeviceGetAttribute", 2000, cuDeviceGetAttribute),
    E("cuDeviceComputeCapability", 2000, cuDeviceComputeCapability),
    E("cuDeviceGetPCIBusId", 4010, cuDeviceGetPCIBusId),
    E("cuDeviceGetByPCIBusId", 4010, cuDeviceGetByPCIBusId),
    E("cuDeviceCanAccessPeer", 4000, cuDeviceCanAccessPeer),
    E("cuDevicePrimaryCtxRetain", 7000, cuDevicePrimaryCtxRetain),
    E("cuDevicePrimaryCtxRelease", 7000, cuDevicePrimaryCtxRelease),
    E("cuDevicePrimaryCtxRelease", 11000, cuDevicePrimaryCtxRelease_v2),
    E("cuDevicePrimaryCtxReset", 7000, cuDevicePrimaryCtxReset),
    E("cuDevicePrimaryCtxReset", 11000, cuDevicePrimaryCtxReset_v2),
    E("cuDevicePrimaryCtxSetFlags", 7000, cuDevicePrimaryCtxSetFlags),
    E("cuDevicePrimaryCtxSetFlags", 11000, cuDevicePrimaryCtxSetFlags_v2),
    E("cuDevicePrimaryCtxGetState", 7000, cuDevicePrimaryCtxGetState),
    E("cuCtxCreate", 2000, cuCtxCreate),
    E("cuCtxCreate", 3020, cuCtxCreate_v2),
    E("cuCtxCreate", 11040, cuCtxCreate_v3),
    E("cuCtxCreate", 12050, cuCtxCreate_v4),
    E("cuCtxDestroy", 2000, cuCtxDestroy),
    E("cuCtxDestroy", 4000, cuCtxDestroy_v2),
    E("cuCtxPushCurrent", 2000, cuCtxPushCurrent),
    E("cuCtxPushCurrent", 4000, cuCtxPushCurrent_v2),
    E("cuCtxPopCurrent", 2000, cuCtxPopCurrent),
    E("cuCtxPopCurrent", 4000, cuCtxPopCurrent_v2),
    E("cuCtxSetCurrent", 4000, cuCtxSetCurrent),
    E("cuCtxGetCurrent", 4000, cuCtxGetCurrent),
    E("cuCtxGetDevice", 2000, cuCtxGetDevice),
    E("cuCtxGetDevice", 13000, cuCtxGetDevice_v2),
    E("cuCtxGetFlags", 7000, cuCtxGetFlags),
    E("cuCtxGetApiVersion", 3020, cuCtxGetApiVersion),
    E("cuCtxSynchronize", 2000, cuCtxSynchronize),
    E("cuCtxSynchronize", 13000, cuCtxSynchronize_v2),
    E("cuCtxSetLimit", 3010, cuCtxSetLimit),
    E("cuCtxGetLimit", 3010, cuCtxGetLimit),
    E("cuCtxGetStreamPriorityRange", 5050, cuCtxGetStreamPriorityRange),
    E("cuModuleLoad", 2000, cuModuleLoad),
    E("cuModuleLoadData", 2000, cuModuleLoadData),
    E("cuModuleLoadDataEx", 2010, cuModuleLoadDataEx),
    E("cuModuleUnload", 2000, cuModuleUnload),
    E("cuModuleGetFunction", 2000, cuModuleGetFunction),
    E("cuModuleGetFunctionCount", 12040, cuModuleGetFunctionCount),
    E("cuModuleEnumerateFunctions", 12040, cuModuleEnumerateFunctions),
    E("cuModuleGetGlobal", 3020, cuModuleGetGlobal_v2),
    E("cuModuleGetLoadingMode", 11070, cuModuleGetLoadingMode),
    E("cuFuncGetAttribute", 2020, cuFuncGetAttribute),
    E("cuFuncSetAttribute", 9000, cuFuncSetAttribute),
    E("cuFuncSetCacheConfig", 3000, cuFuncSetCacheConfig),
    E("cuFuncGetParamInfo", 12040, cuFuncGetParamInfo),
    E("cuFuncGetName", 12030, cuFuncGetName),
    E("cuFuncGetModule", 11000, cuFuncGetModule),
    E("cuMemAlloc", 3020, cuMemAlloc_v2),
    E("cuMemFree", 3020, cuMemFree_v2),
    E("cuMemGetInfo", 3020, cuMemGetInfo_v2),
    E("cuMemGetAddressRange", 3020, cuMemGetAddressRange_v2),
    E("cuMemAllocHost", 3020, cuMemAllocHost_v2),
    E("cuMemFreeHost", 2000, cuMemFreeHost),
    E("cuMemHostAlloc", 2020, cuMemHostAlloc),
    E("cuMemsetD8", 3020, cuMemsetD8_v2),
    E("cuMemsetD16", 3020, cuMemsetD16_v2),
    E("cuMemsetD32", 3020, cuMemsetD32_v2),
    E("cuMemsetD8Async", 3020, cuMemsetD8Async),
    E("cuMemsetD16Async", 3020, cuMemsetD16Async),
    E("cuMemsetD32Async", 3020, cuMemsetD32Async),
    E("cuMemcpyHtoD", 3020, cuMemcpyHtoD_v2),
    E("cuMemcpyDtoH", 3020, cuMemcpyDtoH_v2),
    E("cuMemcpyDtoD", 3020, cuMemcpyDtoD_v2),
    E("cuMemcpyHtoDAsync", 3020, cuMemcpyHtoDAsync_v2),
    E("cuMemcpyDtoHAsync", 3020, cuMemcpyDtoHAsync_v2),
    E("cuMemcpyDtoDAsync", 3020, cuMemcpyDtoDAsync_v2),
    E("cuMemcpy", 4000, cuMemcpy),
    E("cuMemAllocPitch", 3020, cuMemAllocPitch_v2),
    E("cuMemAllocAsync", 11020, cuMemAllocAsync),
    E("cuMemFreeAsync", 11020, cuMemFreeAsync),
    E("cuMemcpy2D", 3020, cuMemcpy2D_v2),
    E("cuMemcpy2DUnaligned", 3020, cuMemcpy2DUnaligned_v2),
    E("cuMemcpy2DAsync", 3020, cuMemcpy2DAsync_v2),
    E("cuMemsetD2D8", 3020, cuMemsetD2D8_v2),
    E("cuMemsetD2D16", 3020, cuMemsetD2D16_v2),
    E("cuMemsetD2D32", 3020, cuMemsetD2D32_v2),
    E("cuMemsetD2D8Async", 3020, cuMemsetD2D8Async),
    E("cuMemsetD2D16Async", 3020, cuMemsetD2D16Async),
    E("cuMemsetD2D32Async", 3020, cuMemsetD2D32Async),
    E("cuMemcpyAsync", 4000, cuMemcpyAsync),
    E("cuPointerGetAttribute", 4000, cuPointerGetAttribute),
    E("cuStreamCreate", 2000, cuStreamCreate),
    E("cuStreamCreateWithPriority", 5050, cuStreamCreateWithPriority),
    E("cuStreamDestroy", 2000, cuStreamDestroy),
    E("cuStreamDestroy", 4000, cuStreamDestroy_v2),
    E("cuStreamQuery", 2000, cuStreamQuery),
    E("cuStreamSynchronize", 2000, cuStreamSynchronize),
    E("cuStreamWaitEvent", 3020, cuStreamWaitEvent),
    E("cuStreamGetFlags", 5050, cuStreamGetFlags),
    E("cuStreamGetPriority", 5050, cuStreamGetPriority),
    E("cuStreamGetCtx", 9020, cuStreamGetCtx),
    E("cuStreamGetCtx", 12050, cuStreamGetCtx_v2),
    E("cuStreamAddCallback", 5000, cuStreamAddCallback),
    E("cuLaunchHostFunc", 10000, cuLaunchHostFunc),
    E("cuEventCreate", 2000, cuEventCreate),
    E("cuEventDestroy", 2000, cuEventDestroy),
    E("cuEventDestroy", 4000, cuEventDestroy_v2),
    E("cuEventRecord", 2000, cuEventRecord),
    E("cuEventRecordWithFlags", 11010, cuEventRecordWithFlags),
    E("cuEventQuery", 2000, cuEventQuery),
    E("cuEventSynchronize", 2000, cuEventSynchronize),
    E("cuEventElapsedTime", 2000, cuEventElapsedTime),
    E("cuEventElapsedTime", 12080, cuEventElapsedTime_v2),
    E("cuLaunchKernel", 4000, cuLaunchKernel),
    E("cuLaunchKernelEx", 11060, cuLaunchKernelEx),
    E("cuOccupancyMaxActiveBlocksPerMultiprocessor", 6050, cuOccupancyMaxActiveBlocksPerMultiprocessor),
    E("cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags", 7000,
      cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags),
    E("cuOccupancyAvailableDynamicSMemPerBlock", 11000, cuOccupancyAvailableDynamicSMemPerBlock),
    E("cuGetErrorName", 6000, cuGetErrorName),
    E("cuGetErrorString", 6000, cuGetErrorString),
    E("cuGetProcAddress", 11030, cuGetProcAddress),
    E("cuGetProcAddress", 12000, cuGetProcAddress_v2),
    /* images: fatbins, the JIT linker, libraries and kernels, export tables (fatbin.c, link.c, library.c) */
    E("cuModuleLoadFatBinary", 2000, cuModuleLoadFatBinary),
    E("cuFuncIsLoaded", 12040, cuFuncIsLoaded),
    E("cuFuncLoad", 12040, cuFuncLoad),
    E("cuLinkCreate", 5050, cuLinkCreate),
    E("cuLinkCreate", 6050, cuLinkCreate_v2),
    E("cuLinkAddData", 5050, cuLinkAddData),
    E("cuLinkAddData", 6050, cuLinkAddData_v2),
    E("cuLinkAddFile", 5050, cuLinkAddFile),
    E("cuLinkAddFile", 6050, cuLinkAddFile_v2),
    E("cuLinkComplete", 5050, cuLinkComplete),
    E("cuLinkDestroy", 5050, cuLinkDestroy),
    E("cuLibraryLoadData", 12000, cuLibraryLoadData),
    E("cuLibraryLoadFromFile", 12000, cuLibraryLoadFromFile),
    E("cuLibraryUnload", 12000, cuLibraryUnload),
    E("cuLibraryGetKernel", 12000, cuLibraryGetKernel),
    E("cuLibraryGetKernelCount", 12040, cuLibraryGetKernelCount),
    E("cuLibraryEnumerateKernels", 12040, cuLibraryEnumerateKernels),
    E("cuLibraryGetModule", 12000, cuLibraryGetModule),
    E("cuLibraryGetGlobal", 12000, cuLibraryGetGlobal),
    E("cuLibraryGetManaged", 12000, cuLibraryGetManaged),
    E("cuLibraryGetUnifiedFunction", 12000, cuLibraryGetUnifiedFunction),
    E("cuKernelGetFunction", 12000, cuKernelGetFunction),
    E("cuKernelGetAttribute", 12000, cuKernelGetAttribute),
    E("cuKernelSetAttribute", 12000, cuKernelSetAttribute),
    E("cuKernelSetCacheConfig", 12000, cuKernelSetCacheConfig),
    E("cuKernelGetName", 12030, cuKernelGetName),
    E("cuKernelGetLibrary", 12050, cuKernelGetLibrary),
    E("cuKernelGetParamInfo", 12040, cuKernelGetParamInfo),
    E("cuGetExportTable", 3000, cuGetExportTable),
    E("cuProfilerStart", 4000, cuProfilerStart),
    E("cuProfilerStop", 4000, cuProfilerStop),
    /* textures and surfaces (api_array.c, api_texture.c, api_memory2d.c) */
    E("cuArrayCreate", 3020, cuArrayCreate_v2),
    E("cuArrayGetDescriptor", 3020, cuArrayGetDescriptor_v2),
    E("cuArray3DCreate", 3020, cuArray3DCreate_v2),
    E("cuArray3DGetDescriptor", 3020, cuArray3DGetDescriptor_v2),
    E("cuArrayDestroy", 2000, cuArrayDestroy),
    E("cuArrayGetMemoryRequirements", 11060, cuArrayGetMemoryRequirements),
    E("cuArrayGetPlane", 11020, cuArrayGetPlane),
    E("cuArrayGetSparseProperties", 11010, cuArrayGetSparseProperties),
    E("cuMipmappedArrayCreate", 5000, cuMipmappedArrayCreate),
    E("cuMipmappedArrayGetLevel", 5000, cuMipmappedArrayGetLevel),
    E("cuMipmappedArrayGetMemoryRequirements", 11060, cuMipmappedArrayGetMemoryRequirements),
    E("cuMipmappedArrayDestroy", 5000, cuMipmappedArrayDestroy),
    E("cuMemcpyHtoA", 3020, cuMemcpyHtoA_v2),
    E("cuMemcpyAtoH", 3020, cuMemcpyAtoH_v2),
    E("cuMemcpyHtoAAsync", 3020, cuMemcpyHtoAAsync_v2),
    E("cuMemcpyAtoHAsync", 3020, cuMemcpyAtoHAsync_v2),
    E("cuMemcpyDtoA", 3020, cuMemcpyDtoA_v2),
    E("cuMemcpyAtoD", 3020, cuMemcpyAtoD_v2),
    E("cuMemcpyAtoA", 3020, cuMemcpyAtoA_v2),
    E("cuMemcpy3D", 3020, cuMemcpy3D_v2),
    E("cuMemcpy3DAsync", 3020, cuMemcpy3DAsync_v2),
    E("cuTexObjectCreate", 5000, cuTexObjectCreate),
    E("cuTexObjectDestroy", 5000, cuTexObjectDestroy),
    E("cuTexObjectGetResourceDesc", 5000, cuTexObjectGetResourceDesc),
    E("cuTexObjectGetTextureDesc", 5000, cuTexObjectGetTextureDesc),
    E("cuTexObjectGetResourceViewDesc", 5000, cuTexObjectGetResourceViewDesc),
    E("cuSurfObjectCreate", 5000, cuSurfObjectCreate),
    E("cuSurfObjectDestroy", 5000, cuSurfObjectDestroy),
    E("cuSurfObjectGetResourceDesc", 5000, cuSurfObjectGetResourceDesc),
    E("cuModuleGetTexRef", 2000, cuModuleGetTexRef),
    E("cuModuleGetSurfRef", 3000, cuModuleGetSurfRef),
    E("cuTexRefCreate", 2000, cuTexRefCreate),
    E("cuTexRefDestroy", 2000, cuTexRefDestroy),
};

EMU_API CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                                     CUdriverProcAddressQueryResult *symbolStatus) {
    if (!symbol || !pfn) return CUDA_ERROR_INVALID_VALUE;
    *pfn = NULL;
    if (cudaVersion > EMU_DRIVER_VERSION) return CUDA_ERROR_INVALID_VALUE; /* newer than this driver */
    if (flags &
        ~(cuuint64_t)(CU_GET_PROC_ADDRESS_LEGACY_STREAM | CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM))
        return CUDA_ERROR_INVALID_VALUE;
    const proc_ent *best = NULL;
    int seen = 0;
    for (size_t i = 0; i < sizeof g_procs / sizeof g_procs[0]; i++) {
        const proc_ent *e = &g_procs[i];
        if (strcmp(e->name, symbol) != 0 && strcmp(e->exported, symbol) != 0) continue;
        seen = 1;
        if (strcmp(e->exported, symbol) == 0 && strcmp(e->name, symbol) != 0) {
            best = e; /* an exact exported name asks for that very function */
            break;
        }
        if (e->version <= cudaVersion && (!best || e->version > best->version)) best = e;
    }
    /* the generated table (every PFN of cudaTypedefs.h; stubs for what is not implemented) fills in
     * the versions, per-thread-stream variants and names the table above does not list */
    int per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    const emu_proc_gen *gbest = proc_gen_find(symbol, cudaVersion, per_thread, &seen);
    int exact = best && strcmp(best->exported, symbol) == 0 && strcmp(best->name, symbol) != 0;
    void *fn = NULL;
    if (exact || (best && (!gbest || best->version > gbest->version ||
                           (best->version == gbest->version && !gbest->per_thread))))
        fn = best->fn; /* at equal versions the hand-written table wins, unless a per-thread variant was asked
                          for */
    else if (gbest)
        fn = gbest->fn;
    if (!fn) {
        if (symbolStatus)
            *symbolStatus =
                seen ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
        return CUDA_ERROR_NOT_FOUND;
    }
    *pfn = fn;
    if (symbolStatus) *symbolStatus = CU_GET_PROC_ADDRESS_SUCCESS;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags) {
    return cuGetProcAddress_v2(symbol, pfn, cudaVersion, flags, NULL);
}
