/* SPDX-License-Identifier: Apache-2.0
 * oob_copy — a kernel that stores far outside its buffer: the launch returns CUDA_SUCCESS and the
 * blocking cuMemcpyDtoH after it reports CUDA_ERROR_ILLEGAL_ADDRESS. Sticky: cuMemAlloc, cuMemFree,
 * cuModuleLoadData and launches of correct kernels answer the same error, while calls that do not
 * use the context (cuGetErrorName, cuDeviceGet*, cuCtxGetCurrent) keep working.
 * cuDevicePrimaryCtxReset then gives a primary context that works. */
#include "async_common.h"

int main(void)
{
    CUdevice dev;
    CUcontext ctx;
    CHECK_CU(cuInit(0));
    CHECK_CU(cuDeviceGet(&dev, 0));
    CHECK_CU(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK_CU(cuCtxSetCurrent(ctx));
    CUmodule m = load_module();
    CUfunction scatter, scale;
    CHECK_CU(cuModuleGetFunction(&scatter, m, "scatter"));
    CHECK_CU(cuModuleGetFunction(&scale, m, "scale"));

    enum { N = 512 };
    int idx[N], out[N];
    for (int i = 0; i < N; i++) idx[i] = N - 1 - i; /* a permutation: in bounds */
    CUdeviceptr didx, dout, spare;
    CHECK_CU(cuMemAlloc(&didx, sizeof idx));
    CHECK_CU(cuMemAlloc(&dout, sizeof out));
    CHECK_CU(cuMemAlloc(&spare, 4096));
    CHECK_CU(cuMemcpyHtoD(didx, idx, sizeof idx));
    int n = N;
    void *args[] = {&dout, &didx, &n};
    CHECK_CU(cuLaunchKernel(scatter, N / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CHECK_CU(cuMemcpyDtoH(out, dout, sizeof out));
    for (int i = 0; i < N; i++) EXPECT(out[N - 1 - i] == i, "out[%d] = %d, want %d", N - 1 - i, out[N - 1 - i], i);

    idx[300] = 1 << 30; /* 4 GiB past the start of a 2 KiB buffer */
    CHECK_CU(cuMemcpyHtoD(didx, idx, sizeof idx));
    EXPECT_CU(cuLaunchKernel(scatter, N / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL), CUDA_SUCCESS);
    EXPECT_CU(cuMemcpyDtoH(out, dout, sizeof out), CUDA_ERROR_ILLEGAL_ADDRESS);

    /* sticky */
    CUdeviceptr p;
    EXPECT_CU(cuMemAlloc(&p, 4096), CUDA_ERROR_ILLEGAL_ADDRESS);
    EXPECT_CU(cuMemFree(spare), CUDA_ERROR_ILLEGAL_ADDRESS);
    EXPECT_CU(cuMemcpyHtoD(didx, idx, sizeof idx), CUDA_ERROR_ILLEGAL_ADDRESS);
    char *ptx = read_ptx();
    CUmodule m2;
    EXPECT_CU(cuModuleLoadData(&m2, ptx), CUDA_ERROR_ILLEGAL_ADDRESS);
    free(ptx);
    float a = 2.0f;
    void *sargs[] = {&dout, &dout, &a, &n};
    EXPECT_CU(cuLaunchKernel(scale, 1, 1, 1, 32, 1, 1, 0, NULL, sargs, NULL), CUDA_ERROR_ILLEGAL_ADDRESS);
    EXPECT_CU(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);

    /* calls that do not use the context */
    const char *name = NULL, *text = NULL;
    CHECK_CU(cuGetErrorName(CUDA_ERROR_ILLEGAL_ADDRESS, &name));
    CHECK_CU(cuGetErrorString(CUDA_ERROR_ILLEGAL_ADDRESS, &text));
    EXPECT(name && !strcmp(name, "CUDA_ERROR_ILLEGAL_ADDRESS") && text && *text, "error name/string wrong");
    int count = 0, major = 0;
    CHECK_CU(cuDeviceGetCount(&count));
    EXPECT(count >= 1, "cuDeviceGetCount gave %d", count);
    CHECK_CU(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
    EXPECT(major >= 7, "compute capability %d", major);
    size_t total = 0;
    CHECK_CU(cuDeviceTotalMem(&total, dev));
    EXPECT(total > 0, "cuDeviceTotalMem gave 0");
    CUcontext cur = NULL;
    CHECK_CU(cuCtxGetCurrent(&cur));
    EXPECT(cur == ctx, "the current context changed");

    CHECK_CU(cuDevicePrimaryCtxReset(dev));
    CHECK_CU(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK_CU(cuCtxSetCurrent(ctx));
    m2 = load_module();
    scale_works(m2, "after cuDevicePrimaryCtxReset");
    CHECK_CU(cuModuleUnload(m2));
    CHECK_CU(cuDevicePrimaryCtxRelease(dev));
    printf("oob_copy: OK\n");
    return 0;
}
