/* SPDX-License-Identifier: Apache-2.0
 * trap_stream — a kernel that traps on a stream of a context made with cuCtxCreate: the launch
 * returns CUDA_SUCCESS, cuStreamSynchronize reports CUDA_ERROR_LAUNCH_FAILED, and so do
 * cuStreamQuery, cuEventSynchronize, cuCtxSynchronize and later launches (sticky). A stream
 * callback added behind the kernel runs once and is told the error; a host function enqueued after
 * the error is not run. cuCtxDestroy succeeds and a new context works. */
#include "async_common.h"

typedef struct cb_state {
    int calls;
    CUresult status;
} cb_state;

static void CUDA_CB on_done(CUstream s, CUresult status, void *user) {
    (void)s;
    cb_state *st = user;
    st->calls++;
    st->status = status;
}

static void CUDA_CB host_fn(void *user) { ++*(int *)user; }

int main(void) {
    CUdevice dev;
    CUcontext ctx;
    CHECK(cuInit(0));
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuCtxCreate(&ctx, NULL, 0, dev));
    CUmodule m = load_module();
    CUfunction trap;
    CHECK(cuModuleGetFunction(&trap, m, "trap_if"));
    CUstream s;
    CUevent before, after;
    CHECK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CHECK(cuEventCreate(&before, 0));
    CHECK(cuEventCreate(&after, 0));

    enum { T = 64 };
    CUdeviceptr out, flag;
    CHECK(cuMemAlloc(&out, T * sizeof(int)));
    CHECK(cuMemAlloc(&flag, sizeof(int)));
    CHECK(cuMemsetD32(flag, 0, 1));
    void *args[] = {&out, &flag};
    /* flag clear: no trap, and the kernel's work is there */
    CHECK(cuLaunchKernel(trap, 2, 1, 1, T / 2, 1, 1, 0, s, args, NULL));
    CHECK(cuStreamSynchronize(s));
    int got[T];
    CHECK(cuMemcpyDtoH(got, out, sizeof got));
    for (int i = 0; i < T; i++)
        REQUIRE(got[i] == i, "out[%d] = %d, want %d", i, got[i], i);

    CHECK(cuMemsetD32(flag, 1, 1));
    CHECK(cuEventRecord(before, s));
    REQUIRE_CU(cuLaunchKernel(trap, 2, 1, 1, T / 2, 1, 1, 0, s, args, NULL), CUDA_SUCCESS);
    /* Enqueued behind the kernel: on a GPU the fault may or may not be known yet, so the enqueue
     * may succeed or answer the error; either way waiting for it reports the error. Likewise a
     * callback is either accepted and later told the error, or refused with it. */
    CUresult rec = cuEventRecord(after, s);
    REQUIRE(rec == CUDA_SUCCESS || rec == CUDA_ERROR_LAUNCH_FAILED, "cuEventRecord returned %s",
            cu_name(rec));
    cb_state cb = {0, CUDA_SUCCESS};
    CUresult add = cuStreamAddCallback(s, on_done, &cb, 0);
    REQUIRE(add == CUDA_SUCCESS || add == CUDA_ERROR_LAUNCH_FAILED, "cuStreamAddCallback returned %s",
            cu_name(add));
    REQUIRE_CU(cuStreamSynchronize(s), CUDA_ERROR_LAUNCH_FAILED);
    if (add == CUDA_SUCCESS)
        REQUIRE(cb.calls == 1 && cb.status == CUDA_ERROR_LAUNCH_FAILED,
                "the stream callback ran %d times with status %s, want once with CUDA_ERROR_LAUNCH_FAILED",
                cb.calls, cu_name(cb.status));
    else
        REQUIRE(cb.calls == 0, "a refused callback ran");

    /* sticky on every synchronising call and on later work */
    REQUIRE_CU(cuStreamQuery(s), CUDA_ERROR_LAUNCH_FAILED);
    REQUIRE_CU(cuEventSynchronize(after), CUDA_ERROR_LAUNCH_FAILED);
    REQUIRE_CU(cuEventQuery(after), CUDA_ERROR_LAUNCH_FAILED);
    REQUIRE_CU(cuEventRecord(before, s), CUDA_ERROR_LAUNCH_FAILED);
    REQUIRE_CU(cuCtxSynchronize(), CUDA_ERROR_LAUNCH_FAILED);
    REQUIRE_CU(cuMemsetD32(flag, 0, 1), CUDA_ERROR_LAUNCH_FAILED);
    REQUIRE_CU(cuLaunchKernel(trap, 1, 1, 1, 1, 1, 1, 0, s, args, NULL), CUDA_ERROR_LAUNCH_FAILED);
    /* a host function after the error is not run (cuLaunchHostFunc's documented contrast with
     * cuStreamAddCallback); whether the enqueue itself is refused is the driver's choice */
    int hf = 0;
    CUresult hr = cuLaunchHostFunc(s, host_fn, &hf);
    REQUIRE(hr == CUDA_SUCCESS || hr == CUDA_ERROR_LAUNCH_FAILED, "cuLaunchHostFunc returned %s",
            cu_name(hr));
    (void)cuStreamSynchronize(s);
    REQUIRE(hf == 0, "a host function enqueued after the error ran");

    /* the context is destroyed without complaint and a new one works */
    CHECK(cuCtxDestroy(ctx));
    CHECK(cuCtxCreate(&ctx, NULL, 0, dev));
    CUmodule m2 = load_module();
    scale_works(m2, "in a new context after cuCtxDestroy");
    CHECK(cuModuleUnload(m2));
    CHECK(cuCtxDestroy(ctx));
    printf("trap_stream: OK\n");
    return 0;
}
