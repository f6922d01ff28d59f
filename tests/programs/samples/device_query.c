/* device_query.c — what NVIDIA's deviceQueryDrv sample does, checked: every device's name, UUID,
 * memory, compute capability and limits through cuDeviceGet*, cuDeviceGetAttribute and the legacy
 * cuDeviceGetProperties, which must agree with each other. SAMPLES_EXPECT_DEVICES (optional) is the
 * device count the caller knows the driver has (a lease's GPU count through `lepton exec`). */
#include "programs_common.h"

#include <stdint.h>

/* The legacy calls are what older samples still use: a driver must keep answering them. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static int attr(CUdevice d, CUdevice_attribute a) {
    int v = -1;
    CHECK(cuDeviceGetAttribute(&v, a, d));
    return v;
}

int main(void) {
    CHECK(cuInit(0));
    int version = 0, count = 0;
    CHECK(cuDriverGetVersion(&version));
    EXPECT(version >= 11000, "driver version %d", version);
    CHECK(cuDeviceGetCount(&count));
    REQUIRE(count >= 1, "%d devices", count);
    const char *want = getenv("SAMPLES_EXPECT_DEVICES");
    if (want && *want) EXPECT(count == atoi(want), "%d devices, %s expected", count, want);
    printf("CUDA driver version %d.%d, %d device(s)\n", version / 1000, version % 1000 / 10, count);

    CUuuid uuids[64];
    for (int i = 0; i < count && i < 64; i++) {
        CUdevice d;
        CHECK(cuDeviceGet(&d, i));
        char name[256] = "";
        CHECK(cuDeviceGetName(name, sizeof name, d));
        EXPECT(name[0] != 0, "device %d has a name", i);
        size_t mem = 0;
        CHECK(cuDeviceTotalMem(&mem, d));
        EXPECT(mem >= (64u << 20), "device %d: %zu bytes of memory", i, mem);
        CHECK(cuDeviceGetUuid(&uuids[i], d));
        int zero = 1;
        for (int b = 0; b < 16; b++)
            zero &= uuids[i].bytes[b] == 0;
        EXPECT(!zero, "device %d has a non-zero UUID", i);
        for (int j = 0; j < i; j++)
            EXPECT(memcmp(&uuids[i], &uuids[j], 16) != 0, "devices %d and %d differ", i, j);

        int major = attr(d, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        int minor = attr(d, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        EXPECT(major >= 5 && minor >= 0 && minor < 10, "compute capability %d.%d", major, minor);
        int sms = attr(d, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        int warp = attr(d, CU_DEVICE_ATTRIBUTE_WARP_SIZE);
        int tpb = attr(d, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK);
        int tpsm = attr(d, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR);
        int smem = attr(d, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK);
        int regs = attr(d, CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK);
        int gx = attr(d, CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X),
            bx = attr(d, CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X);
        int clock = attr(d, CU_DEVICE_ATTRIBUTE_CLOCK_RATE);
        int bus = attr(d, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH);
        int uva = attr(d, CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING);
        EXPECT(sms >= 1, "%d SMs", sms);
        EXPECT(warp == 32, "warp size %d", warp);
        EXPECT(tpb >= 512 && tpb <= tpsm, "%d threads per block, %d per SM", tpb, tpsm);
        EXPECT(smem >= 16384, "%d bytes of shared memory per block", smem);
        EXPECT(regs >= 8192, "%d registers per block", regs);
        EXPECT(gx >= 65535 && bx >= 512, "grid x %d, block x %d", gx, bx);
        EXPECT(uva == 1, "unified addressing %d", uva);
        int cmaj = 0, cmin = 0;
        CUresult r = cuDeviceComputeCapability(&cmaj, &cmin, d);
        if (r == CUDA_SUCCESS)
            EXPECT(cmaj == major && cmin == minor, "cuDeviceComputeCapability %d.%d", cmaj, cmin);
        CUdevprop p;
        if (cuDeviceGetProperties(&p, d) == CUDA_SUCCESS) {
            EXPECT(p.maxThreadsPerBlock == tpb, "properties: %d threads per block", p.maxThreadsPerBlock);
            EXPECT(p.SIMDWidth == warp, "properties: SIMD width %d", p.SIMDWidth);
            EXPECT(p.sharedMemPerBlock == smem, "properties: %d bytes shared", p.sharedMemPerBlock);
        }
        char bus_id[32] = "";
        if (cuDeviceGetPCIBusId(bus_id, sizeof bus_id, d) == CUDA_SUCCESS) {
            CUdevice back = -1;
            CHECK(cuDeviceGetByPCIBusId(&back, bus_id));
            EXPECT(back == d, "bus id %s maps back to device %d (got %d)", bus_id, i, back);
        }
        printf("Device %d: \"%s\"\n  compute capability %d.%d, %d SMs, %.1f GiB, clock %d kHz, bus %d bits\n"
               "  warp %d, %d threads/block, %d threads/SM, %d bytes shared/block, %d registers/block\n"
               "  UUID GPU-%02x%02x%02x%02x-...\n",
               i, name, major, minor, sms, (double)mem / (1 << 30), clock, bus, warp, tpb, tpsm, smem, regs,
               uuids[i].bytes[0] & 0xff, uuids[i].bytes[1] & 0xff, uuids[i].bytes[2] & 0xff,
               uuids[i].bytes[3] & 0xff);
    }
    CUdevice bad;
    EXPECT_CU(cuDeviceGet(&bad, count), CUDA_ERROR_INVALID_DEVICE);
    if (g_failures) {
        fprintf(stderr, "device_query: %d check(s) failed\n", g_failures);
        return 1;
    }
    printf("device_query: PASS\n");
    return 0;
}
