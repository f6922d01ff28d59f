/* SPDX-License-Identifier: Apache-2.0
 * assert_sync — a device assert() is an asynchronous error: the launch returns CUDA_SUCCESS, the
 * kernel's printf output appears, and cuCtxSynchronize reports CUDA_ERROR_ASSERT. The error is
 * sticky (cuMemAlloc answers it too) until cuDevicePrimaryCtxReset; then a fresh primary context
 * runs a correct kernel. */
#include "async_common.h"

int main(void) {
    CUdevice dev;
    CUcontext ctx = make_context_dev(&dev);
    CUmodule m = load_module();
    CUfunction check;
    CHECK(cuModuleGetFunction(&check, m, "check_positive"));

    enum { N = 256 };
    int v[N];
    for (int i = 0; i < N; i++)
        v[i] = i + 1;
    CUdeviceptr dv;
    CHECK(cuMemAlloc(&dv, sizeof v));
    CHECK(cuMemcpyHtoD(dv, v, sizeof v));
    int n = N;
    void *args[] = {&dv, &n};
    /* all positive: the assert holds */
    CHECK(cuLaunchKernel(check, 2, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CHECK(cuCtxSynchronize());

    v[200] = -7;
    CHECK(cuMemcpyHtoD(dv, v, sizeof v));
    capture out;
    capture_begin(&out, 1);
    CUresult launch = cuLaunchKernel(check, 2, 1, 1, 128, 1, 1, 0, NULL, args, NULL);
    CUresult sync = cuCtxSynchronize();
    char *printed = capture_end(&out);
    REQUIRE_CU(launch, CUDA_SUCCESS);
    REQUIRE_CU(sync, CUDA_ERROR_ASSERT);
    /* the device printf of the failing launch was written by the time the error was reported */
    REQUIRE(strstr(printed, "check_positive: block 1 checks 256 values") != NULL,
            "device printf output missing before cuCtxSynchronize returned: [%s]", printed);
    free(printed);

    /* sticky: the context answers the same error */
    CUdeviceptr p;
    REQUIRE_CU(cuMemAlloc(&p, 4096), CUDA_ERROR_ASSERT);
    REQUIRE_CU(cuCtxSynchronize(), CUDA_ERROR_ASSERT);
    int host[4];
    REQUIRE_CU(cuMemcpyDtoH(host, dv, sizeof host), CUDA_ERROR_ASSERT);
    /* calls that do not use the context still work */
    const char *name = NULL;
    CHECK(cuGetErrorName(CUDA_ERROR_ASSERT, &name));
    REQUIRE(name && !strcmp(name, "CUDA_ERROR_ASSERT"), "cuGetErrorName gave %s", name ? name : "NULL");
    CUcontext cur = NULL;
    CHECK(cuCtxGetCurrent(&cur));
    REQUIRE(cur == ctx, "the current context changed");
    char dname[128];
    CHECK(cuDeviceGetName(dname, sizeof dname, dev));

    /* reset: a fresh primary context works */
    CHECK(cuDevicePrimaryCtxReset(dev));
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    CUmodule m2 = load_module();
    scale_works(m2, "after cuDevicePrimaryCtxReset");
    CHECK(cuModuleUnload(m2));
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("assert_sync: OK\n");
    return 0;
}
