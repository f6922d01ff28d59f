/* SPDX-License-Identifier: Apache-2.0
 * device_errors.cu — what a runtime-API program asks of the device and how errors reach it:
 * cudaGetDeviceProperties against cudaDeviceGetAttribute, versions and cudaMemGetInfo;
 * __constant__ and __device__ variables through cudaMemcpyToSymbol / FromSymbol / GetSymbolAddress;
 * a launch with too many threads (cudaGetLastError reports it once, then it is cleared); a failed
 * allocation that is not sticky; an invalid device; managed memory where the device has it (else
 * cudaMallocManaged must refuse); and, last, a kernel that stores through a bad pointer: the launch
 * returns cudaSuccess, the next synchronisation cudaErrorIllegalAddress, and the error is sticky.
 * With --reset, cudaDeviceReset then clears it and the device works again (a GPU and cudaemu; a
 * lease's worker does not come back from a fault, so the exec tests leave --reset out).
 * RT_EXPECT_DEVICES=N: cudaGetDeviceCount must be N. */
#include "rt_common.h"

#include <cuda_profiler_api.h>

#include <string.h>

__constant__ float g_coef[4];
__device__ int g_counter;
__device__ float g_table[64];

__global__ void poly(const float *x, float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float v = x[i];
        y[i] = g_coef[0] + v * (g_coef[1] + v * (g_coef[2] + v * g_coef[3])) + g_table[i % 64];
        atomicAdd(&g_counter, 1);
    }
}

__global__ void fill(float *p, int n, float v)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) p[i] = v + (float)i;
}

__global__ void store_bad(int *p) { p[threadIdx.x * 1024] = 42; }

int main(int argc, char **argv)
{
    int reset = argc > 1 && strcmp(argv[1], "--reset") == 0;

    /* the device */
    int count = 0, dev = -1, drv = 0, rtv = 0;
    RT_CHECK(cudaGetDeviceCount(&count));
    const char *want = getenv("RT_EXPECT_DEVICES");
    EXPECT(count >= 1, "cudaGetDeviceCount = %d", count);
    if (want) EXPECT(count == atoi(want), "cudaGetDeviceCount = %d, RT_EXPECT_DEVICES = %s", count, want);
    RT_CHECK(cudaSetDevice(0));
    RT_CHECK(cudaProfilerStart()); /* no profiler attached: accepted, as by NVIDIA's driver */
    RT_CHECK(cudaGetDevice(&dev));
    EXPECT(dev == 0, "cudaGetDevice = %d", dev);
    RT_CHECK(cudaDriverGetVersion(&drv));
    RT_CHECK(cudaRuntimeGetVersion(&rtv));
    EXPECT(drv >= 12000 && rtv >= 12000, "driver %d, runtime %d", drv, rtv);
    cudaDeviceProp p;
    RT_CHECK(cudaGetDeviceProperties(&p, 0));
    int major = 0, minor = 0, sms = 0, maxthr = 0, warp = 0, managed = 0;
    RT_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0));
    RT_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0));
    RT_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    RT_CHECK(cudaDeviceGetAttribute(&maxthr, cudaDevAttrMaxThreadsPerBlock, 0));
    RT_CHECK(cudaDeviceGetAttribute(&warp, cudaDevAttrWarpSize, 0));
    RT_CHECK(cudaDeviceGetAttribute(&managed, cudaDevAttrManagedMemory, 0));
    EXPECT(p.major == major && p.minor == minor && major >= 5, "properties %d.%d, attributes %d.%d", p.major, p.minor, major, minor);
    EXPECT(p.multiProcessorCount == sms && sms > 0, "SMs %d vs %d", p.multiProcessorCount, sms);
    EXPECT(p.maxThreadsPerBlock == maxthr && maxthr >= 512, "max threads %d vs %d", p.maxThreadsPerBlock, maxthr);
    EXPECT(p.warpSize == 32 && warp == 32, "warp size %d / %d", p.warpSize, warp);
    EXPECT(p.totalGlobalMem > 0 && p.sharedMemPerBlock >= 16384 && p.name[0], "memory %zu, shared %zu, name '%s'",
           p.totalGlobalMem, p.sharedMemPerBlock, p.name);
    size_t freeb = 0, total = 0;
    RT_CHECK(cudaMemGetInfo(&freeb, &total));
    EXPECT(total > 0 && freeb <= total, "cudaMemGetInfo free %zu total %zu", freeb, total);
    printf("device 0: %s, compute %d.%d, %d SMs, %zu MiB, managed memory %d; driver %d, runtime %d\n", p.name,
           major, minor, sms, p.totalGlobalMem >> 20, managed, drv, rtv);

    /* symbols */
    const int n = 1000;
    float coef[4] = {1.0f, -2.0f, 0.5f, 0.25f}, table[64], *x = (float *)malloc(n * 4), *y = (float *)malloc(n * 4);
    for (int i = 0; i < 64; i++) table[i] = (float)i / 16.0f;
    for (int i = 0; i < n; i++) x[i] = (float)(i % 37) / 9.0f - 2.0f;
    int zero = 0;
    RT_CHECK(cudaMemcpyToSymbol(g_coef, coef, sizeof coef));
    RT_CHECK(cudaMemcpyToSymbol(g_counter, &zero, sizeof zero));
    float *dtable = NULL;
    size_t tsize = 0;
    RT_CHECK(cudaGetSymbolAddress((void **)&dtable, g_table));
    RT_CHECK(cudaGetSymbolSize(&tsize, g_table));
    EXPECT(tsize == sizeof table, "cudaGetSymbolSize(g_table) = %zu", tsize);
    RT_CHECK(cudaMemcpy(dtable, table, sizeof table, cudaMemcpyHostToDevice));
    float *dx, *dy;
    RT_CHECK(cudaMalloc((void **)&dx, n * 4));
    RT_CHECK(cudaMalloc((void **)&dy, n * 4));
    RT_CHECK(cudaMemcpy(dx, x, n * 4, cudaMemcpyHostToDevice));
    poly<<<(n + 127) / 128, 128>>>(dx, dy, n);
    RT_CHECK(cudaGetLastError());
    RT_CHECK(cudaMemcpy(y, dy, n * 4, cudaMemcpyDeviceToHost));
    int counter = -1, bad = 0;
    RT_CHECK(cudaMemcpyFromSymbol(&counter, g_counter, sizeof counter));
    for (int i = 0; i < n; i++) {
        float v = x[i], w = coef[0] + v * (coef[1] + v * (coef[2] + v * coef[3])) + table[i % 64];
        if (!(y[i] - w < 1e-4f && w - y[i] < 1e-4f) && bad++ < 5) fprintf(stderr, "y[%d] = %g, want %g\n", i, y[i], w);
    }
    EXPECT(bad == 0, "%d of %d polynomial values wrong", bad, n);
    EXPECT(counter == n, "g_counter = %d, want %d", counter, n);

    /* launch errors: reported once by cudaGetLastError, then cleared */
    fill<<<1, 2048>>>(dy, n, 0.0f);
    cudaError_t e = cudaPeekAtLastError();
    EXPECT(e == cudaErrorInvalidConfiguration || e == cudaErrorInvalidValue, "2048 threads: peek %s", cudaGetErrorName(e));
    e = cudaGetLastError();
    EXPECT(e == cudaErrorInvalidConfiguration || e == cudaErrorInvalidValue, "2048 threads: %s", cudaGetErrorName(e));
    e = cudaGetLastError();
    EXPECT(e == cudaSuccess, "the launch error was not cleared: %s", cudaGetErrorName(e));
    void *huge = NULL;
    e = cudaMalloc(&huge, (size_t)1 << 52);
    EXPECT(e == cudaErrorMemoryAllocation, "4 PiB cudaMalloc: %s", cudaGetErrorName(e));
    (void)cudaGetLastError();
    e = cudaSetDevice(count + 7);
    EXPECT(e == cudaErrorInvalidDevice, "cudaSetDevice(%d): %s", count + 7, cudaGetErrorName(e));
    (void)cudaGetLastError();
    fill<<<(n + 255) / 256, 256>>>(dy, n, 3.0f); /* the device still works after those */
    RT_CHECK(cudaGetLastError());
    RT_CHECK(cudaMemcpy(y, dy, n * 4, cudaMemcpyDeviceToHost));
    bad = 0;
    for (int i = 0; i < n; i++) bad += y[i] != 3.0f + (float)i;
    EXPECT(bad == 0, "%d values wrong after the refused calls", bad);

    /* managed memory where the device has it */
    float *m = NULL;
    e = cudaMallocManaged((void **)&m, n * 4, cudaMemAttachGlobal);
    if (managed) {
        EXPECT(e == cudaSuccess, "cudaMallocManaged: %s", cudaGetErrorName(e));
        if (e == cudaSuccess) {
            for (int i = 0; i < n; i++) m[i] = -1.0f;
            fill<<<(n + 255) / 256, 256>>>(m, n, 10.0f);
            RT_CHECK(cudaDeviceSynchronize());
            bad = 0;
            for (int i = 0; i < n; i++) bad += m[i] != 10.0f + (float)i;
            EXPECT(bad == 0, "%d managed values wrong", bad);
            RT_CHECK(cudaFree(m));
        }
    } else {
        EXPECT(e != cudaSuccess, "cudaMallocManaged succeeded on a device without managed memory");
        printf("managed memory: not offered by this device (cudaMallocManaged: %s)\n", cudaGetErrorName(e));
        (void)cudaGetLastError();
    }

    RT_CHECK(cudaProfilerStop());

    /* an illegal address: reported at the next synchronisation, and sticky */
    store_bad<<<1, 32>>>((int *)16);
    e = cudaGetLastError();
    EXPECT(e == cudaSuccess, "the launch itself returned %s", cudaGetErrorName(e));
    e = cudaDeviceSynchronize();
    EXPECT(e == cudaErrorIllegalAddress || e == cudaErrorLaunchFailure, "cudaDeviceSynchronize after the bad store: %s",
           cudaGetErrorName(e));
    cudaError_t again = cudaMalloc((void **)&m, 64);
    EXPECT(again != cudaSuccess, "the error is not sticky: cudaMalloc succeeded after %s", cudaGetErrorName(e));
    printf("bad store: %s, then cudaMalloc: %s\n", cudaGetErrorName(e), cudaGetErrorName(again));
    if (reset) {
        RT_CHECK(cudaDeviceReset());
        (void)cudaGetLastError(); /* the thread's last error still holds the fault until it is read */
        float *z = NULL;
        RT_CHECK(cudaMalloc((void **)&z, n * 4));
        fill<<<(n + 255) / 256, 256>>>(z, n, 5.0f);
        RT_CHECK(cudaGetLastError());
        RT_CHECK(cudaMemcpy(y, z, n * 4, cudaMemcpyDeviceToHost));
        bad = 0;
        for (int i = 0; i < n; i++) bad += y[i] != 5.0f + (float)i;
        EXPECT(bad == 0, "%d values wrong after cudaDeviceReset", bad);
        RT_CHECK(cudaFree(z));
        printf("after cudaDeviceReset the device works again\n");
    }
    free(x), free(y);
    return rt_finish("device_errors");
}
