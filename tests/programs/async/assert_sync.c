/* SPDX-License-Identifier: Apache-2.0
 * assert_sync — a device assert() is an asynchronous error: the launch returns CUDA_SUCCESS, the
 * kernel's printf output appears, and cuCtxSynchronize reports CUDA_ERROR_ASSERT. The error is
 * sticky (cuMemAlloc answers it too) until cuDevicePrimaryCtxReset; then a fresh primary context
 * runs a correct kernel. */
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
    CUfunction check;
    CHECK_CU(cuModuleGetFunction(&check, m, "check_positive"));

    enum { N = 256 };
    int v[N];
    for (int i = 0; i < N; i++) v[i] = i + 1;
    CUdeviceptr dv;
    CHECK_CU(cuMemAlloc(&dv, sizeof v));
    CHECK_CU(cuMemcpyHtoD(dv, v, sizeof v));
    int n = N;
    void *args[] = {&dv, &n};
    /* all positive: the assert holds */
    CHECK_CU(cuLaunchKernel(check, 2, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CHECK_CU(cuCtxSynchronize());

    v[200] = -7;
    CHECK_CU(cuMemcpyHtoD(dv, v, sizeof v));
    capture out;
    capture_begin(&out, 1);
    CUresult launch = cuLaunchKernel(check, 2, 1, 1, 128, 1, 1, 0, NULL, args, NULL);
    CUresult sync = cuCtxSynchronize();
    char *printed = capture_end(&out);
    EXPECT_CU(launch, CUDA_SUCCESS);
    EXPECT_CU(sync, CUDA_ERROR_ASSERT);
    /* the device printf of the failing launch was written by the time the error was reported */
    EXPECT(strstr(printed, "check_positive: block 1 checks 256 values") != NULL,
           "device printf output missing before cuCtxSynchronize returned: [%s]", printed);
    free(printed);

    /* sticky: the context answers the same error */
    CUdeviceptr p;
    EXPECT_CU(cuMemAlloc(&p, 4096), CUDA_ERROR_ASSERT);
    EXPECT_CU(cuCtxSynchronize(), CUDA_ERROR_ASSERT);
    int host[4];
    EXPECT_CU(cuMemcpyDtoH(host, dv, sizeof host), CUDA_ERROR_ASSERT);
    /* calls that do not use the context still work */
    const char *name = NULL;
    CHECK_CU(cuGetErrorName(CUDA_ERROR_ASSERT, &name));
    EXPECT(name && !strcmp(name, "CUDA_ERROR_ASSERT"), "cuGetErrorName gave %s", name ? name : "NULL");
    CUcontext cur = NULL;
    CHECK_CU(cuCtxGetCurrent(&cur));
    EXPECT(cur == ctx, "the current context changed");
    char dname[128];
    CHECK_CU(cuDeviceGetName(dname, sizeof dname, dev));

    /* reset: a fresh primary context works */
    CHECK_CU(cuDevicePrimaryCtxReset(dev));
    CHECK_CU(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK_CU(cuCtxSetCurrent(ctx));
    CUmodule m2 = load_module();
    scale_works(m2, "after cuDevicePrimaryCtxReset");
    CHECK_CU(cuModuleUnload(m2));
    CHECK_CU(cuDevicePrimaryCtxRelease(dev));
    printf("assert_sync: OK\n");
    return 0;
}
