/* api_device.c — driver initialisation and version, device enumeration, names, UUIDs, memory
 * sizes and the device attributes an sm_90-class GPU reports. */
#include "emu.h"

#include <stdio.h>
#include <string.h>

static CUresult g_init_result = CUDA_ERROR_NOT_INITIALIZED;

EMU_API CUresult cuInit(unsigned int Flags) {
    if (Flags != 0) return CUDA_ERROR_INVALID_VALUE;
    emu_lock();
    if (!g_emu_initialized) {
        if (emu_config_load() != 0) {
            g_init_result = CUDA_ERROR_INVALID_VALUE;
            emu_set_detail(
                "cuInit: invalid CUDAEMU_* configuration; fix or unset the variable "
                "(CUDAEMU_DEVICES=\"NAME:80G;...\", "
                "CUDAEMU_DEVICE_COUNT, CUDAEMU_DEVICE_MEMORY, CUDAEMU_WATCHDOG_MS, CUDAEMU_THREADS)");
        } else if (g_emu.ndev == 0) {
            g_init_result = CUDA_ERROR_NO_DEVICE;
        } else {
            g_init_result = CUDA_SUCCESS;
        }
        g_emu_initialized = 1;
    }
    CUresult r = g_init_result;
    emu_unlock();
    return r;
}

CUresult emu_check_init(void) {
    if (!g_emu_initialized) return CUDA_ERROR_NOT_INITIALIZED;
    return g_init_result;
}

EMU_API CUresult cuDriverGetVersion(int *driverVersion) {
    if (!driverVersion) return CUDA_ERROR_INVALID_VALUE;
    *driverVersion = EMU_DRIVER_VERSION;
    return CUDA_SUCCESS;
}

#define CHECK_DEV(dev)                                                                                       \
    do {                                                                                                     \
        CUresult r_ = emu_check_init();                                                                      \
        if (r_ != CUDA_SUCCESS) return r_;                                                                   \
        if ((dev) < 0 || (dev) >= g_emu.ndev) return CUDA_ERROR_INVALID_DEVICE;                              \
    } while (0)

EMU_API CUresult cuDeviceGet(CUdevice *device, int ordinal) {
    if (!device) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    if (ordinal < 0 || ordinal >= g_emu.ndev) return CUDA_ERROR_INVALID_DEVICE;
    *device = ordinal;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuDeviceGetCount(int *count) {
    if (!count) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    *count = g_emu.ndev;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuDeviceGetName(char *name, int len, CUdevice dev) {
    if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    CHECK_DEV(dev);
    snprintf(name, (size_t)len, "%s", g_emu.dev[dev].name);
    return CUDA_SUCCESS;
}

EMU_API CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev) {
    if (!uuid) return CUDA_ERROR_INVALID_VALUE;
    CHECK_DEV(dev);
    *uuid = g_emu.dev[dev].uuid;
    return CUDA_SUCCESS;
}

/* cuda.h maps cuDeviceGetUuid to _v2; the original entry point has the same signature. */
#undef cuDeviceGetUuid
EMU_API CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev);
EMU_API CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev) { return cuDeviceGetUuid_v2(uuid, dev); }

EMU_API CUresult cuDeviceGetLuid(char *luid, unsigned int *deviceNodeMask, CUdevice dev) {
    (void)luid;
    (void)deviceNodeMask;
    CHECK_DEV(dev);
    return CUDA_ERROR_NOT_SUPPORTED; /* Windows only */
}

EMU_API CUresult cuDeviceTotalMem(size_t *bytes, CUdevice dev) {
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    CHECK_DEV(dev);
    *bytes = g_emu.dev[dev].total_mem;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev) {
    if (!pciBusId || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    CHECK_DEV(dev);
    snprintf(pciBusId, (size_t)len, "0000:%02x:00.0", 0x10 + dev);
    return CUDA_SUCCESS;
}

EMU_API CUresult cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId) {
    if (!dev || !pciBusId) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = emu_check_init();
    if (r != CUDA_SUCCESS) return r;
    unsigned dom, bus, d, f;
    if (sscanf(pciBusId, "%x:%x:%x.%x", &dom, &bus, &d, &f) != 4) return CUDA_ERROR_INVALID_VALUE;
    int i = (int)bus - 0x10;
    if (dom != 0 || i < 0 || i >= g_emu.ndev) return CUDA_ERROR_INVALID_DEVICE;
    *dev = i;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice dev) {
    if (!major || !minor) return CUDA_ERROR_INVALID_VALUE;
    CHECK_DEV(dev);
    *major = 9;
    *minor = 0;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuDeviceCanAccessPeer(int *canAccessPeer, CUdevice dev, CUdevice peerDev) {
    if (!canAccessPeer) return CUDA_ERROR_INVALID_VALUE;
    CHECK_DEV(dev);
    CHECK_DEV(peerDev);
    *canAccessPeer = 0;
    return CUDA_SUCCESS;
}

/* What cuDeviceGetAttribute answers for each attribute that is the same on every device; an attribute
 * missing here answers 0: texture/surface limits and other features the emulator does not offer.
 * KERNEL_EXEC_TIMEOUT, PCI_BUS_ID and MULTI_GPU_BOARD_GROUP_ID depend on the device or the
 * configuration (dev_attribute_varying). */
static const int k_dev_attr[CU_DEVICE_ATTRIBUTE_MAX] = {
    [CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK] = 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X] = 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y] = 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z] = 64,
    [CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X] = 2147483647,
    [CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y] = 65535,
    [CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z] = 65535,
    [CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK] = 48 * 1024,
    [CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY] = 64 * 1024,
    [CU_DEVICE_ATTRIBUTE_WARP_SIZE] = 32,
    [CU_DEVICE_ATTRIBUTE_MAX_PITCH] = 2147483647,
    [CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK] = 65536,
    [CU_DEVICE_ATTRIBUTE_CLOCK_RATE] = 1980000,
    [CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT] = 512,
    [CU_DEVICE_ATTRIBUTE_GPU_OVERLAP] = 1,
    [CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT] = 132,
    [CU_DEVICE_ATTRIBUTE_INTEGRATED] = 0,
    [CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY] = 1,
    [CU_DEVICE_ATTRIBUTE_COMPUTE_MODE] = CU_COMPUTEMODE_DEFAULT,
    [CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS] = 1,
    [CU_DEVICE_ATTRIBUTE_ECC_ENABLED] = 0,
    [CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID] = 0,
    [CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID] = 0,
    [CU_DEVICE_ATTRIBUTE_TCC_DRIVER] = 0,
    [CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE] = 2619000,
    [CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH] = 5120,
    [CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE] = 50 * 1024 * 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR] = 2048,
    [CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT] = 0,
    [CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING] = 1,
    [CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR] = 9,
    [CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR] = 0,
    [CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_GLOBAL_L1_CACHE_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_LOCAL_L1_CACHE_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR] = 228 * 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR] = 65536,
    /* managed memory is host memory at the same address on both sides (api_managed.c) */
    [CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY] = 1,
    [CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS] = 1,
    [CU_DEVICE_ATTRIBUTE_DIRECT_MANAGED_MEM_ACCESS_FROM_HOST] = 1,
    [CU_DEVICE_ATTRIBUTE_HOST_NATIVE_ATOMIC_SUPPORTED] = 1,
    /* kernels reach only registered or pinned host memory, not any pageable address */
    [CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS] = 0,
    [CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES] = 0,
    [CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM] = 1,
    [CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_READ_ONLY_HOST_REGISTER_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED] = 1,
    /* allocations cannot be exported to other processes */
    [CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED] = 0,
    [CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_FABRIC_SUPPORTED] = 0,
    [CU_DEVICE_ATTRIBUTE_GENERIC_COMPRESSION_SUPPORTED] = 0,
    [CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED] = 0,
    [CU_DEVICE_ATTRIBUTE_MULTI_GPU_BOARD] = 0,
    [CU_DEVICE_ATTRIBUTE_SINGLE_TO_DOUBLE_PRECISION_PERF_RATIO] = 2,
    [CU_DEVICE_ATTRIBUTE_COMPUTE_PREEMPTION_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH] = 0,
    [CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN] = 227 * 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR] = 32,
    [CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK] = 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_PERSISTING_L2_CACHE_SIZE] = 0,
    [CU_DEVICE_ATTRIBUTE_MAX_ACCESS_POLICY_WINDOW_SIZE] = 0,
    [CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED] = 1, /* api_pool.c */
    [CU_DEVICE_ATTRIBUTE_HOST_MEMORY_POOLS_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_HOST_NUMA_MEMORY_POOLS_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH] = 0,
    [CU_DEVICE_ATTRIBUTE_NUMA_CONFIG] = 0,
    [CU_DEVICE_ATTRIBUTE_NUMA_ID] = -1,
    [CU_DEVICE_ATTRIBUTE_HOST_NUMA_ID] = -1,
    [CU_DEVICE_ATTRIBUTE_MPS_ENABLED] = 0,
};

/* Answers in *v the attributes that differ between devices or configurations; 0 if attrib is not one. */
static int dev_attribute_varying(int attrib, CUdevice dev, int *v) {
    switch (attrib) {
    case CU_DEVICE_ATTRIBUTE_KERNEL_EXEC_TIMEOUT:
        *v = g_emu.watchdog_ms > 0;
        return 1;
    case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID:
        *v = 0x10 + dev;
        return 1;
    case CU_DEVICE_ATTRIBUTE_MULTI_GPU_BOARD_GROUP_ID:
        *v = dev;
        return 1;
    default:
        return 0;
    }
}

EMU_API CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev) {
    if (!pi) return CUDA_ERROR_INVALID_VALUE;
    CHECK_DEV(dev);
    int v;
    if (!dev_attribute_varying((int)attrib, dev, &v)) {
        if ((int)attrib <= 0 || (int)attrib >= CU_DEVICE_ATTRIBUTE_MAX) return CUDA_ERROR_INVALID_VALUE;
        v = k_dev_attr[(int)attrib];
    }
    *pi = v;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuDeviceGetTexture1DLinearMaxWidth(size_t *maxWidthInElements, CUarray_format format,
                                                    unsigned numChannels, CUdevice dev) {
    if (!maxWidthInElements) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "maxWidthInElements is NULL");
    CHECK_DEV(dev);
    if (numChannels != 1 && numChannels != 2 && numChannels != 4)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "numChannels %u must be 1, 2 or 4", numChannels);
    size_t esz;
    switch (format) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8:
        esz = 1;
        break;
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16:
    case CU_AD_FORMAT_HALF:
        esz = 2;
        break;
    case CU_AD_FORMAT_UNSIGNED_INT32:
    case CU_AD_FORMAT_SIGNED_INT32:
    case CU_AD_FORMAT_FLOAT:
        esz = 4;
        break;
    default:
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "unknown CUarray_format 0x%x", (unsigned)format);
    }
    (void)esz;
    *maxWidthInElements = (size_t)1 << 28; /* what sm_80/sm_90 parts report for every format */
    return CUDA_SUCCESS;
}
