/* SPDX-License-Identifier: Apache-2.0
 * oob_copy — a kernel that stores far outside its buffer: the launch returns CUDA_SUCCESS and the
 * blocking cuMemcpyDtoH after it reports CUDA_ERROR_ILLEGAL_ADDRESS. Sticky: cuMemAlloc, cuMemFree,
 * cuModuleLoadData and launches of correct kernels answer the same error, while calls that do not
 * use the context (cuGetErrorName, cuDeviceGet*, cuCtxGetCurrent) keep working.
 * cuDevicePrimaryCtxReset then gives a primary context that works. */
#include "async_common.h"

int main(void) {
    CUdevice dev;
    CUcontext ctx = make_context_dev(&dev);
    CUmodule m = load_module();
    CUfunction scatter, scale;
    CHECK(cuModuleGetFunction(&scatter, m, "scatter"));
    CHECK(cuModuleGetFunction(&scale, m, "scale"));

    enum { N = 512 };
    int idx[N], out[N];
    for (int i = 0; i < N; i++)
        idx[i] = N - 1 - i; /* a permutation: in bounds */
    CUdeviceptr didx, dout, spare;
    CHECK(cuMemAlloc(&didx, sizeof idx));
    CHECK(cuMemAlloc(&dout, sizeof out));
    CHECK(cuMemAlloc(&spare, 4096));
    CHECK(cuMemcpyHtoD(didx, idx, sizeof idx));
    int n = N;
    void *args[] = {&dout, &didx, &n};
    CHECK(cuLaunchKernel(scatter, N / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CHECK(cuMemcpyDtoH(out, dout, sizeof out));
    for (int i = 0; i < N; i++)
        REQUIRE(out[N - 1 - i] == i, "out[%d] = %d, want %d", N - 1 - i, out[N - 1 - i], i);

    idx[300] = 1 << 30; /* 4 GiB past the start of a 2 KiB buffer */
    CHECK(cuMemcpyHtoD(didx, idx, sizeof idx));
    REQUIRE_CU(cuLaunchKernel(scatter, N / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL), CUDA_SUCCESS);
    REQUIRE_CU(cuMemcpyDtoH(out, dout, sizeof out), CUDA_ERROR_ILLEGAL_ADDRESS);

    /* sticky */
    CUdeviceptr p;
    REQUIRE_CU(cuMemAlloc(&p, 4096), CUDA_ERROR_ILLEGAL_ADDRESS);
    REQUIRE_CU(cuMemFree(spare), CUDA_ERROR_ILLEGAL_ADDRESS);
    REQUIRE_CU(cuMemcpyHtoD(didx, idx, sizeof idx), CUDA_ERROR_ILLEGAL_ADDRESS);
    char *ptx = read_file(ASYNC_PTX, NULL);
    CUmodule m2;
    REQUIRE_CU(cuModuleLoadData(&m2, ptx), CUDA_ERROR_ILLEGAL_ADDRESS);
    free(ptx);
    float a = 2.0f;
    void *sargs[] = {&dout, &dout, &a, &n};
    REQUIRE_CU(cuLaunchKernel(scale, 1, 1, 1, 32, 1, 1, 0, NULL, sargs, NULL), CUDA_ERROR_ILLEGAL_ADDRESS);
    REQUIRE_CU(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);

    /* calls that do not use the context */
    const char *name = NULL, *text = NULL;
    CHECK(cuGetErrorName(CUDA_ERROR_ILLEGAL_ADDRESS, &name));
    CHECK(cuGetErrorString(CUDA_ERROR_ILLEGAL_ADDRESS, &text));
    REQUIRE(name && !strcmp(name, "CUDA_ERROR_ILLEGAL_ADDRESS") && text && *text, "error name/string wrong");
    int count = 0, major = 0;
    CHECK(cuDeviceGetCount(&count));
    REQUIRE(count >= 1, "cuDeviceGetCount gave %d", count);
    CHECK(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
    REQUIRE(major >= 7, "compute capability %d", major);
    size_t total = 0;
    CHECK(cuDeviceTotalMem(&total, dev));
    REQUIRE(total > 0, "cuDeviceTotalMem gave 0");
    CUcontext cur = NULL;
    CHECK(cuCtxGetCurrent(&cur));
    REQUIRE(cur == ctx, "the current context changed");

    CHECK(cuDevicePrimaryCtxReset(dev));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    m2 = load_module();
    scale_works(m2, "after cuDevicePrimaryCtxReset");
    CHECK(cuModuleUnload(m2));
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("oob_copy: OK\n");
    return 0;
}
