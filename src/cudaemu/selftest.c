/* selftest.c — smoke test of libcuda.so.1 from cudaemu: a kernel runs and its output is checked,
 * divergence and calls work, faults are sticky, the watchdog fires, bad PTX and bad handles get
 * the right codes, cuGetProcAddress resolves versioned names. The kernel corpus is tests/kernels. */
#include <cuda.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_fail;
#define EXPECT(cond, ...)                                                                                    \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            printf("FAIL line %d: ", __LINE__);                                                              \
            printf(__VA_ARGS__);                                                                             \
            printf("\n");                                                                                    \
            g_fail++;                                                                                        \
        }                                                                                                    \
    } while (0)
#define EXPECT_CU(call, want)                                                                                \
    do {                                                                                                     \
        CUresult r_ = (call);                                                                                \
        EXPECT(r_ == (want), "%s returned %d, want %d", #call, (int)r_, (int)(want));                        \
    } while (0)

/* Hand-written PTX: saxpy with a guard, a device function with a local array and a loop that
 * diverges per lane, an out-of-bounds store, a trap, and an endless loop. */
static const char *k_ptx =
    ".version 8.0\n"
    ".target sm_75\n"
    ".address_size 64\n"
    ".func (.param .b32 ret) tri(.param .b32 n)\n"
    "{\n"
    "  .local .align 4 .b8 buf[64];\n"
    "  .reg .b32 %r<6>; .reg .b64 %rd<4>; .reg .pred %p<2>;\n"
    "  ld.param.b32 %r1, [n];\n"
    "  mov.u32 %r2, 0;\n"
    "  mov.u32 %r3, 0;\n"
    "  mov.u64 %rd1, buf;\n"
    "L1:\n"
    "  setp.ge.s32 %p1, %r3, %r1;\n"
    "  @%p1 bra L2;\n"
    "  add.s32 %r3, %r3, 1;\n"
    "  and.b32 %r4, %r3, 15;\n"
    "  mul.wide.u32 %rd2, %r4, 4;\n"
    "  add.s64 %rd3, %rd1, %rd2;\n"
    "  st.local.u32 [%rd3], %r3;\n"
    "  ld.local.u32 %r5, [%rd3];\n"
    "  add.s32 %r2, %r2, %r5;\n"
    "  bra.uni L1;\n"
    "L2:\n"
    "  st.param.b32 [ret], %r2;\n"
    "  ret;\n"
    "}\n"
    ".visible .entry saxpy(.param .u64 x, .param .u64 y, .param .f32 a, .param .u32 n)\n"
    "{\n"
    "  .reg .b32 %r<5>; .reg .f32 %f<5>; .reg .b64 %rd<8>; .reg .pred %p<2>;\n"
    "  ld.param.u64 %rd1, [x];\n"
    "  ld.param.u64 %rd2, [y];\n"
    "  ld.param.f32 %f1, [a];\n"
    "  ld.param.u32 %r1, [n];\n"
    "  mov.u32 %r2, %ctaid.x;\n"
    "  mov.u32 %r3, %ntid.x;\n"
    "  mov.u32 %r4, %tid.x;\n"
    "  mad.lo.s32 %r2, %r2, %r3, %r4;\n"
    "  setp.ge.u32 %p1, %r2, %r1;\n"
    "  @%p1 exit;\n"
    "  mul.wide.u32 %rd3, %r2, 4;\n"
    "  add.s64 %rd4, %rd1, %rd3;\n"
    "  add.s64 %rd5, %rd2, %rd3;\n"
    "  ld.global.f32 %f2, [%rd4];\n"
    "  ld.global.f32 %f3, [%rd5];\n"
    "  fma.rn.f32 %f4, %f1, %f2, %f3;\n"
    "  st.global.f32 [%rd5], %f4;\n"
    "  ret;\n"
    "}\n"
    ".visible .entry calls(.param .u64 out)\n"
    "{\n"
    "  .reg .b32 %r<4>; .reg .b64 %rd<4>;\n"
    "  ld.param.u64 %rd1, [out];\n"
    "  mov.u32 %r1, %tid.x;\n"
    "  {\n"
    "  .param .b32 p0;\n"
    "  st.param.b32 [p0], %r1;\n"
    "  .param .b32 r0;\n"
    "  call.uni (r0), tri, (p0);\n"
    "  ld.param.b32 %r2, [r0];\n"
    "  }\n"
    "  mul.wide.u32 %rd2, %r1, 4;\n"
    "  add.s64 %rd3, %rd1, %rd2;\n"
    "  st.global.u32 [%rd3], %r2;\n"
    "  ret;\n"
    "}\n"
    ".visible .entry oob(.param .u64 out)\n"
    "{\n"
    "  .reg .b64 %rd<3>; .reg .b32 %r<2>;\n"
    "  ld.param.u64 %rd1, [out];\n"
    "  add.s64 %rd2, %rd1, 4096;\n"
    "  mov.u32 %r1, 7;\n"
    "  st.global.u32 [%rd2], %r1;\n"
    "  ret;\n"
    "}\n"
    ".visible .entry trapper()\n"
    "{\n"
    "  trap;\n"
    "}\n"
    ".visible .entry locks(.param .u64 lk, .param .u64 cnt)\n"
    "{\n"
    "  .reg .b32 %r<4>; .reg .b64 %rd<3>; .reg .pred %p<2>;\n"
    "  ld.param.u64 %rd1, [lk];\n"
    "  ld.param.u64 %rd2, [cnt];\n"
    "Ltry:\n"
    "  atom.global.cas.b32 %r1, [%rd1], 0, 1;\n"
    "  setp.ne.s32 %p1, %r1, 0;\n"
    "  @%p1 bra Ltry;\n"
    "  ld.volatile.global.u32 %r2, [%rd2];\n"
    "  add.s32 %r2, %r2, 1;\n"
    "  st.volatile.global.u32 [%rd2], %r2;\n"
    "  atom.global.exch.b32 %r3, [%rd1], 0;\n"
    "  ret;\n"
    "}\n"
    ".func (.param .b32 r) stage(.param .b32 t)\n"
    "{\n"
    "  .reg .b32 %r<3>;\n"
    "  ld.param.b32 %r1, [t];\n"
    "  bar.sync 0;\n"
    "  add.s32 %r2, %r1, 1;\n"
    "  st.param.b32 [r], %r2;\n"
    "  ret;\n"
    "}\n"
    ".visible .entry barcall(.param .u64 out)\n"
    "{\n"
    "  .reg .b32 %r<4>; .reg .b64 %rd<4>; .reg .pred %p<2>;\n"
    "  ld.param.u64 %rd1, [out];\n"
    "  mov.u32 %r1, %tid.x;\n"
    "  and.b32 %r2, %r1, 1;\n"
    "  setp.eq.s32 %p1, %r2, 0;\n"
    "  @%p1 bra Leven;\n"
    "  { .param .b32 a0; st.param.b32 [a0], %r1; .param .b32 r0;\n"
    "    call.uni (r0), stage, (a0); ld.param.b32 %r3, [r0]; }\n"
    "  bra.uni Ldone;\n"
    "Leven:\n"
    "  { .param .b32 a1; st.param.b32 [a1], %r1; .param .b32 r1;\n"
    "    call.uni (r1), stage, (a1); ld.param.b32 %r3, [r1]; add.s32 %r3, %r3, 1000; }\n"
    "Ldone:\n"
    "  mul.wide.u32 %rd2, %r1, 4;\n"
    "  add.s64 %rd3, %rd1, %rd2;\n"
    "  st.global.u32 [%rd3], %r3;\n"
    "  ret;\n"
    "}\n"
    ".visible .entry spin()\n"
    "{\n"
    "L0:\n"
    "  bra.uni L0;\n"
    "}\n";

static int tri_ref(int n) {
    int s = 0;
    for (int i = 1; i <= n; i++)
        s += ((i & 15) == i % 16) ? i : 0;
    return s;
}

static void test_kernels(void) {
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction fsaxpy, fcalls, foob, ftrap;
    EXPECT_CU(cuDeviceGet(&dev, 0), CUDA_SUCCESS);
    EXPECT_CU(cuCtxCreate(&ctx, NULL, 0, dev), CUDA_SUCCESS);
    EXPECT_CU(cuModuleLoadData(&mod, k_ptx), CUDA_SUCCESS);
    EXPECT_CU(cuModuleGetFunction(&fsaxpy, mod, "saxpy"), CUDA_SUCCESS);
    EXPECT_CU(cuModuleGetFunction(&fcalls, mod, "calls"), CUDA_SUCCESS);
    EXPECT_CU(cuModuleGetFunction(&foob, mod, "oob"), CUDA_SUCCESS);
    EXPECT_CU(cuModuleGetFunction(&ftrap, mod, "trapper"), CUDA_SUCCESS);
    EXPECT_CU(cuModuleGetFunction(&ftrap, mod, "tri"), CUDA_ERROR_NOT_FOUND);
    EXPECT_CU(cuModuleGetFunction(&ftrap, mod, "trapper"), CUDA_SUCCESS);

    enum { N = 1000 };
    float x[N], y[N], out[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i;
        y[i] = 1.0f + (float)(i % 3);
    }
    CUdeviceptr dx, dy;
    EXPECT_CU(cuMemAlloc(&dx, sizeof x), CUDA_SUCCESS);
    EXPECT_CU(cuMemAlloc(&dy, sizeof y), CUDA_SUCCESS);
    EXPECT_CU(cuMemcpyHtoD(dx, x, sizeof x), CUDA_SUCCESS);
    EXPECT_CU(cuMemcpyHtoD(dy, y, sizeof y), CUDA_SUCCESS);
    float a = 2.5f;
    unsigned n = N;
    void *args[] = {&dx, &dy, &a, &n};
    EXPECT_CU(cuLaunchKernel(fsaxpy, (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL), CUDA_SUCCESS);
    EXPECT_CU(cuMemcpyDtoH(out, dy, sizeof out), CUDA_SUCCESS);
    for (int i = 0; i < N; i++)
        EXPECT(out[i] == 2.5f * x[i] + y[i], "saxpy[%d] = %g", i, (double)out[i]);
    EXPECT_CU(cuLaunchKernel(fsaxpy, 1, 1, 1, 2048, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuLaunchKernel(fsaxpy, 1, 1, 1, 32, 1, 1, 64 * 1024, NULL, args, NULL),
              CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuLaunchKernel(fsaxpy, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuLaunchKernel((CUfunction)&a, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL),
              CUDA_ERROR_INVALID_HANDLE);

    /* per-lane trip counts through a called function with a local array */
    unsigned res[64];
    void *cargs[] = {&dy};
    EXPECT_CU(cuLaunchKernel(fcalls, 1, 1, 1, 64, 1, 1, 0, NULL, cargs, NULL), CUDA_SUCCESS);
    EXPECT_CU(cuMemcpyDtoH(res, dy, sizeof res), CUDA_SUCCESS);
    for (int i = 0; i < 64; i++)
        EXPECT((int)res[i] == tri_ref(i), "calls[%d] = %u, want %d", i, res[i], tri_ref(i));

    /* a spin lock taken by every thread: lanes of one warp must let the holder run */
    CUfunction flocks;
    CUdeviceptr dl;
    EXPECT_CU(cuModuleGetFunction(&flocks, mod, "locks"), CUDA_SUCCESS);
    EXPECT_CU(cuMemAlloc(&dl, 8), CUDA_SUCCESS);
    EXPECT_CU(cuMemsetD32(dl, 0, 2), CUDA_SUCCESS);
    CUdeviceptr dcnt = dl + 4;
    void *largs[] = {&dl, &dcnt};
    EXPECT_CU(cuLaunchKernel(flocks, 2, 1, 1, 64, 1, 1, 0, NULL, largs, NULL), CUDA_SUCCESS);
    unsigned cnt = 0;
    EXPECT_CU(cuMemcpyDtoH(&cnt, dcnt, 4), CUDA_SUCCESS);
    EXPECT(cnt == 128, "lock counter %u, want 128", cnt);

    /* a barrier inside a function that odd and even lanes reach through different call sites */
    CUfunction fbar;
    EXPECT_CU(cuModuleGetFunction(&fbar, mod, "barcall"), CUDA_SUCCESS);
    EXPECT_CU(cuLaunchKernel(fbar, 1, 1, 1, 64, 1, 1, 0, NULL, cargs, NULL), CUDA_SUCCESS);
    EXPECT_CU(cuMemcpyDtoH(res, dy, sizeof res), CUDA_SUCCESS);
    for (int i = 0; i < 64; i++)
        EXPECT((int)res[i] == i + 1 + (i % 2 ? 0 : 1000), "barcall[%d] = %u", i, res[i]);

    /* an out-of-bounds store poisons the context; as on a GPU the launch succeeds and the next
     * synchronising call reports it */
    void *oargs[] = {&dx};
    EXPECT_CU(cuLaunchKernel(foob, 1, 1, 1, 1, 1, 1, 0, NULL, oargs, NULL), CUDA_SUCCESS);
    EXPECT_CU(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
    EXPECT_CU(cuMemcpyDtoH(out, dy, 4), CUDA_ERROR_ILLEGAL_ADDRESS);
    EXPECT_CU(cuCtxDestroy(ctx), CUDA_SUCCESS);

    /* trap and the watchdog, each in a fresh context */
    EXPECT_CU(cuCtxCreate(&ctx, NULL, 0, dev), CUDA_SUCCESS);
    EXPECT_CU(cuModuleLoadData(&mod, k_ptx), CUDA_SUCCESS);
    EXPECT_CU(cuModuleGetFunction(&ftrap, mod, "trapper"), CUDA_SUCCESS);
    EXPECT_CU(cuLaunchKernel(ftrap, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), CUDA_SUCCESS);
    EXPECT_CU(cuStreamSynchronize(NULL), CUDA_ERROR_LAUNCH_FAILED);
    EXPECT_CU(cuLaunchKernel(ftrap, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), CUDA_ERROR_LAUNCH_FAILED);
    EXPECT_CU(cuCtxDestroy(ctx), CUDA_SUCCESS);
    EXPECT_CU(cuCtxCreate(&ctx, NULL, 0, dev), CUDA_SUCCESS);
    EXPECT_CU(cuModuleLoadData(&mod, k_ptx), CUDA_SUCCESS);
    EXPECT_CU(cuModuleGetFunction(&ftrap, mod, "spin"), CUDA_SUCCESS);
    EXPECT_CU(cuLaunchKernel(ftrap, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL), CUDA_SUCCESS);
    EXPECT_CU(cuCtxSynchronize(), CUDA_ERROR_LAUNCH_TIMEOUT);
    EXPECT_CU(cuModuleUnload(mod), CUDA_ERROR_LAUNCH_TIMEOUT); /* sticky, but the module is gone */
    EXPECT_CU(cuCtxDestroy(ctx), CUDA_SUCCESS);
}

static void test_bad_input(void) {
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    EXPECT_CU(cuDeviceGet(&dev, 0), CUDA_SUCCESS);
    EXPECT_CU(cuDeviceGet(&dev, 99), CUDA_ERROR_INVALID_DEVICE);
    EXPECT_CU(cuModuleLoadData(&mod, k_ptx), CUDA_ERROR_INVALID_CONTEXT);
    EXPECT_CU(cuDevicePrimaryCtxRetain(&ctx, dev), CUDA_SUCCESS);
    EXPECT_CU(cuCtxSetCurrent(ctx), CUDA_SUCCESS);
    char log[512] = "";
    CUjit_option o[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *ov[2] = {log, (void *)(uintptr_t)sizeof log};
    /* line 6: an instruction PTX does not have */
    const char *bad = ".version 8.0\n.target sm_75\n.address_size 64\n.visible .entry k()\n{\n  .reg .b32 "
                      "%r<2>; frobnicate.u32 %r1, %r1;\n}\n";
    EXPECT_CU(cuModuleLoadDataEx(&mod, bad, 2, o, ov), CUDA_ERROR_INVALID_PTX);
    EXPECT(strstr(log, "line 6") != NULL, "JIT log does not name the line: '%s'", log);
    const char *junk[] = {"", "garbage", ".version 8.0", ".version 8.0\n.target sm_75\n.entry k( {",
                          "\177ELF"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        CUresult r = cuModuleLoadData(&mod, junk[i]);
        EXPECT(r == CUDA_ERROR_INVALID_PTX || r == CUDA_ERROR_NO_BINARY_FOR_GPU ||
                   r == CUDA_ERROR_INVALID_IMAGE,
               "junk %zu loaded: %d", i, (int)r);
    }
    EXPECT_CU(cuModuleUnload((CUmodule)&dev), CUDA_ERROR_INVALID_HANDLE);
    CUdeviceptr p;
    EXPECT_CU(cuMemAlloc(&p, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemAlloc(&p, (size_t)1 << 50), CUDA_ERROR_OUT_OF_MEMORY);
    EXPECT_CU(cuMemAlloc(NULL, 16), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemFree((CUdeviceptr)0x1234), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemAlloc(&p, 16), CUDA_SUCCESS);
    char buf[32];
    EXPECT_CU(cuMemcpyDtoH(buf, p, 32), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemFree(p), CUDA_SUCCESS);

    /* pitched 2D: fill, copy a 3x5 window out, compare */
    size_t pitch = 0;
    EXPECT_CU(cuMemAllocPitch(&p, &pitch, 40, 8, 4), CUDA_SUCCESS);
    EXPECT(pitch >= 40, "pitch %zu", pitch);
    EXPECT_CU(cuMemsetD2D32(p, pitch, 0x01020304u, 10, 8), CUDA_SUCCESS);
    unsigned win[5][3];
    CUDA_MEMCPY2D cp;
    memset(&cp, 0, sizeof cp);
    cp.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    cp.srcDevice = p;
    cp.srcPitch = pitch;
    cp.srcXInBytes = 8;
    cp.srcY = 2;
    cp.dstMemoryType = CU_MEMORYTYPE_HOST;
    cp.dstHost = win;
    cp.dstPitch = sizeof win[0];
    cp.WidthInBytes = sizeof win[0];
    cp.Height = 5;
    EXPECT_CU(cuMemcpy2D(&cp), CUDA_SUCCESS);
    EXPECT(win[4][2] == 0x01020304u && win[0][0] == 0x01020304u, "2D copy read %x", win[4][2]);
    cp.Height = 9; /* past the allocation */
    EXPECT_CU(cuMemcpy2D(&cp), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemFree(p), CUDA_SUCCESS);
    EXPECT_CU(cuDevicePrimaryCtxRelease(dev), CUDA_SUCCESS);
}

static void test_proc_address(void) {
    void *fn = NULL;
    CUdriverProcAddressQueryResult st;
    EXPECT_CU(cuGetProcAddress("cuMemAlloc", &fn, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st), CUDA_SUCCESS);
    EXPECT(fn == (void *)cuMemAlloc_v2, "cuMemAlloc@12000 is not cuMemAlloc_v2");
    EXPECT_CU(cuGetProcAddress("cuCtxCreate", &fn, 12080, CU_GET_PROC_ADDRESS_DEFAULT, &st), CUDA_SUCCESS);
    EXPECT(fn == (void *)cuCtxCreate_v4, "cuCtxCreate@12080 is not cuCtxCreate_v4");
    EXPECT(cuGetProcAddress("cuNoSuchThing", &fn, 12000, 0, &st) == CUDA_ERROR_NOT_FOUND && fn == NULL &&
               st == CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND,
           "unknown symbol resolved");
}

int main(void) {
    setenv("CUDAEMU_WATCHDOG_MS", "1000", 1);
    CUdevice dev;
    EXPECT_CU(cuDeviceGet(&dev, 0), CUDA_ERROR_NOT_INITIALIZED);
    EXPECT_CU(cuInit(1), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuInit(0), CUDA_SUCCESS);
    test_kernels();
    test_bad_input();
    test_proc_address();
    printf("%s: %d failure(s)\n", g_fail ? "FAIL" : "PASS", g_fail);
    return g_fail ? 1 : 0;
}
