/* smoke.c — a driver-API program run against the remote driver (libcuda.so.1 from build/remote)
 * on `lepton dev` (run_smoke.sh): every result is compared with a host computation. It links
 * against the toolkit's cuda.h ABI only; whatever libcuda.so.1 the loader finds is the driver.
 * usage: smoke SAXPY_PTX */
#include <cuda.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proc.h"

static const char ADD_GLOBAL_PTX[] =
    ".version 7.0\n.target sm_70\n.address_size 64\n"
    ".visible .global .align 4 .u32 g_value;\n"
    ".visible .entry add_global(.param .u64 p, .param .u32 n)\n{\n"
    "  .reg .u32 %r<8>;\n  .reg .u64 %rd<5>;\n  .reg .pred %p1;\n"
    "  mov.u32 %r1, %tid.x;\n  mov.u32 %r2, %ctaid.x;\n  mov.u32 %r3, %ntid.x;\n"
    "  mad.lo.u32 %r1, %r2, %r3, %r1;\n  ld.param.u32 %r4, [n];\n"
    "  setp.ge.u32 %p1, %r1, %r4;\n  @%p1 bra DONE;\n"
    "  ld.global.u32 %r5, [g_value];\n  ld.param.u64 %rd1, [p];\n  cvta.to.global.u64 %rd1, %rd1;\n"
    "  mul.wide.u32 %rd2, %r1, 4;\n  add.u64 %rd3, %rd1, %rd2;\n  ld.global.u32 %r6, [%rd3];\n"
    "  add.u32 %r6, %r6, %r5;\n  st.global.u32 [%rd3], %r6;\nDONE:\n  ret;\n}\n";

static int g_host_fn_ran;
static void on_host(void *user) { g_host_fn_ran = *(int *)user; }
static CUresult g_cb_status = CUDA_ERROR_UNKNOWN;
static void on_callback(CUstream s, CUresult status, void *user) {
    (void)s;
    g_cb_status = status;
    *(int *)user += 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: smoke SAXPY_PTX\n");
        return 2;
    }
    CHECK_CU(cuInit(0));
    if (check_failures) return 1; /* the driver said why on stderr */
    int count = 0, ver = 0;
    CHECK_CU(cuDeviceGetCount(&count));
    CHECK(count >= 1);
    CHECK_CU(cuDriverGetVersion(&ver));
    CHECK(ver >= 12000);
    CUdevice dev;
    CHECK_CU(cuDeviceGet(&dev, 0));
    char name[256] = "";
    CHECK_CU(cuDeviceGetName(name, sizeof name, dev));
    CHECK(name[0] != 0);
    int maxt = 0, major = 0;
    CHECK_CU(cuDeviceGetAttribute(&maxt, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, dev));
    CHECK(maxt == 1024);
    CHECK_CU(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
    CHECK(major >= 7);
    size_t total = 0;
    CHECK_CU(cuDeviceTotalMem(&total, dev));
    CHECK(total > 0);
    printf("device 0: %s, cc %d, %zu MiB, driver %d, %d device(s)\n", name, major, total >> 20, ver, count);

    CUcontext ctx;
    CHECK_CU(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK_CU(cuCtxSetCurrent(ctx));
    void *pfn = NULL;
    CHECK_CU(cuGetProcAddress("cuMemAlloc", &pfn, 12000, 0, NULL));
    CHECK(pfn == (void *)cuMemAlloc_v2);

    /* ---- saxpy: kernelParams and the extra buffer ---- */
    size_t ptx_len = 0;
    char *ptx = tc_read_file(argv[1], &ptx_len);
    CHECK(ptx != NULL);
    CUmodule mod;
    CUfunction saxpy;
    CHECK_CU(cuModuleLoadData(&mod, ptx));
    CHECK_CU(cuModuleGetFunction(&saxpy, mod, "saxpy"));
    size_t poff = 0, psz = 0;
    CHECK_CU(cuFuncGetParamInfo(saxpy, 2, &poff, &psz));
    CHECK(poff == 8 && psz == 8);
    const unsigned n = 1000;
    float hx[1000], hy[1000], out[1000];
    for (unsigned i = 0; i < n; i++) {
        hx[i] = (float)i;
        hy[i] = 1.0f + (float)i / 2;
    }
    CUdeviceptr dx, dy;
    CHECK_CU(cuMemAlloc(&dx, n * sizeof(float)));
    CHECK_CU(cuMemAlloc(&dy, n * sizeof(float)));
    CHECK_CU(cuMemcpyHtoD(dx, hx, sizeof hx));
    CHECK_CU(cuMemcpyHtoD(dy, hy, sizeof hy));
    float a = 2.0f;
    void *params[] = {(void *)&n, &a, &dx, &dy};
    CHECK_CU(cuLaunchKernel(saxpy, (n + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
    CHECK_CU(cuMemcpyDtoH(out, dy, sizeof out));
    int bad = 0;
    for (unsigned i = 0; i < n; i++)
        if (fabsf(out[i] - (a * hx[i] + hy[i])) > 1e-5f) bad++;
    CHECK(bad == 0);
    /* the same through CU_LAUNCH_PARAM_BUFFER_POINTER: y = 2x + y again */
    struct {
        unsigned n;
        float a;
        CUdeviceptr x, y;
    } pbuf = {n, a, dx, dy};
    size_t pbsize = sizeof pbuf;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &pbuf, CU_LAUNCH_PARAM_BUFFER_SIZE, &pbsize,
                     CU_LAUNCH_PARAM_END};
    CHECK_CU(cuLaunchKernel(saxpy, (n + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, NULL, extra));
    CHECK_CU(cuMemcpyDtoH(out, dy, sizeof out));
    bad = 0;
    for (unsigned i = 0; i < n; i++)
        if (fabsf(out[i] - (2 * a * hx[i] + hy[i])) > 1e-4f) bad++;
    CHECK(bad == 0);
    /* launch errors the driver reports at launch */
    CHECK_CU_RC(cuLaunchKernel(saxpy, 1, 1, 1, 2048, 1, 1, 0, NULL, params, NULL), CUDA_ERROR_INVALID_VALUE);
    CHECK_CU_RC(cuLaunchKernel(saxpy, 0, 1, 1, 32, 1, 1, 0, NULL, params, NULL), CUDA_ERROR_INVALID_VALUE);

    /* ---- memsets and device-to-device copies, through interior pointers ---- */
    unsigned u[1000];
    CHECK_CU(cuMemsetD32(dx, 0x01020304u, n));
    CHECK_CU(cuMemsetD8(dx + 40, 0xAB, 8));
    CHECK_CU(cuMemsetD16Async(dx + 400, 0x7777, 4, NULL));
    CHECK_CU(cuMemcpyDtoH(u, dx, sizeof u));
    CHECK(u[0] == 0x01020304u && u[9] == 0x01020304u && u[10] == 0xABABABABu && u[11] == 0xABABABABu &&
          u[12] == 0x01020304u && u[100] == 0x77777777u && u[101] == 0x77777777u && u[102] == 0x01020304u);
    CHECK_CU(cuMemcpyDtoD(dy + 16, dx + 40, 8));
    CHECK_CU(cuMemcpyDtoH(out, dy, 8 * sizeof(float)));
    CHECK_CU(cuMemcpyDtoH(u, dy, 8 * sizeof(unsigned)));
    CHECK(u[4] == 0xABABABABu && u[5] == 0xABABABABu);
    CUdeviceptr base = 0;
    size_t bsize = 0;
    CHECK_CU(cuMemGetAddressRange(&base, &bsize, dx + 123));
    CHECK(base == dx && bsize == n * sizeof(float));
    unsigned mt = 0;
    CHECK_CU(cuPointerGetAttribute(&mt, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, dx + 4));
    CHECK(mt == CU_MEMORYTYPE_DEVICE);

    /* ---- pinned memory, a stream, events, a host function ---- */
    float *pin;
    CHECK_CU(cuMemHostAlloc((void **)&pin, n * sizeof(float), 0));
    CHECK_CU(cuPointerGetAttribute(&mt, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)pin));
    CHECK(mt == CU_MEMORYTYPE_HOST);
    for (unsigned i = 0; i < n; i++)
        pin[i] = (float)(3 * i);
    CUstream s;
    CUevent e0, e1;
    CHECK_CU(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CHECK_CU(cuEventCreate(&e0, 0));
    CHECK_CU(cuEventCreate(&e1, 0));
    CHECK_CU(cuEventRecord(e0, s));
    CHECK_CU(cuMemcpyHtoDAsync(dx, pin, n * sizeof(float), s));
    CHECK_CU(cuMemsetD32Async(dy, 0, n, s));
    void *params2[] = {(void *)&n, &a, &dx, &dy};
    CHECK_CU(cuLaunchKernel(saxpy, (n + 255) / 256, 1, 1, 256, 1, 1, 0, s, params2, NULL));
    CHECK_CU(cuMemcpyDtoHAsync(pin, dy, n * sizeof(float), s));
    CHECK_CU(cuEventRecord(e1, s));
    int token = 7;
    CHECK_CU(cuLaunchHostFunc(s, on_host, &token));
    CHECK_CU(cuStreamSynchronize(s));
    CHECK(g_host_fn_ran == 7);
    bad = 0;
    for (unsigned i = 0; i < n; i++)
        if (fabsf(pin[i] - a * (float)(3 * i)) > 1e-3f) bad++;
    CHECK(bad == 0);
    float ms = -1;
    CHECK_CU(cuEventElapsedTime(&ms, e0, e1));
    CHECK(ms >= 0 && ms < 60000);
    CHECK_CU(cuEventQuery(e1));
    CHECK_CU(cuStreamQuery(s));
    printf("async pipeline: %.3f ms between events\n", ms);

    /* ---- a module global ---- */
    CUmodule mg;
    CUfunction addg;
    CHECK_CU(cuModuleLoadData(&mg, ADD_GLOBAL_PTX));
    CHECK_CU(cuModuleGetFunction(&addg, mg, "add_global"));
    CUdeviceptr gv;
    size_t gsz = 0;
    CHECK_CU(cuModuleGetGlobal(&gv, &gsz, mg, "g_value"));
    CHECK(gsz == 4);
    unsigned five = 5;
    CHECK_CU(cuMemcpyHtoD(gv, &five, 4));
    CHECK_CU(cuMemsetD32(dx, 10, n));
    void *params3[] = {&dx, (void *)&n};
    CHECK_CU(cuLaunchKernel(addg, (n + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, params3, NULL));
    CHECK_CU(cuCtxSynchronize());
    CHECK_CU(cuMemcpyDtoH(u, dx, sizeof u));
    CHECK(u[0] == 15 && u[999] == 15);
    CHECK_CU_RC(cuModuleGetGlobal(&gv, &gsz, mg, "no_such_global"), CUDA_ERROR_NOT_FOUND);
    CHECK_CU(cuModuleUnload(mg));

    /* ---- 2D copies ---- */
    CUdeviceptr d2;
    size_t pitch = 0;
    CHECK_CU(cuMemAllocPitch(&d2, &pitch, 100, 8, 4));
    CHECK(pitch >= 100 && pitch % 256 == 0);
    unsigned char h2[8][100], r2[8][100];
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 100; c++)
            h2[r][c] = (unsigned char)(r * 31 + c);
    CUDA_MEMCPY2D c2;
    memset(&c2, 0, sizeof c2);
    c2.srcMemoryType = CU_MEMORYTYPE_HOST;
    c2.srcHost = h2;
    c2.srcPitch = 100;
    c2.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    c2.dstDevice = d2;
    c2.dstPitch = pitch;
    c2.WidthInBytes = 100;
    c2.Height = 8;
    CHECK_CU(cuMemcpy2D(&c2));
    memset(&c2, 0, sizeof c2);
    c2.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    c2.srcDevice = d2;
    c2.srcPitch = pitch;
    c2.srcXInBytes = 10;
    c2.srcY = 1;
    c2.dstMemoryType = CU_MEMORYTYPE_HOST;
    c2.dstHost = r2;
    c2.dstPitch = 100;
    c2.WidthInBytes = 50;
    c2.Height = 7;
    memset(r2, 0, sizeof r2);
    CHECK_CU(cuMemcpy2D(&c2));
    CHECK(r2[0][0] == h2[1][10] && r2[6][49] == h2[7][59]);

    /* a 2D device-to-device copy (one copy step with both pitches) and a 2D memset */
    CUdeviceptr d2b;
    size_t pitch2 = 0;
    CHECK_CU(cuMemAllocPitch(&d2b, &pitch2, 100, 8, 4));
    CHECK_CU(cuMemsetD2D32(d2b, pitch2, 0x11111111u, 25, 8));
    memset(&c2, 0, sizeof c2);
    c2.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    c2.srcDevice = d2;
    c2.srcPitch = pitch;
    c2.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    c2.dstDevice = d2b;
    c2.dstPitch = pitch2;
    c2.dstXInBytes = 4;
    c2.WidthInBytes = 40;
    c2.Height = 8;
    CHECK_CU(cuMemcpy2DAsync(&c2, NULL));
    memset(&c2, 0, sizeof c2);
    c2.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    c2.srcDevice = d2b;
    c2.srcPitch = pitch2;
    c2.dstMemoryType = CU_MEMORYTYPE_HOST;
    c2.dstHost = r2;
    c2.dstPitch = 100;
    c2.WidthInBytes = 100;
    c2.Height = 8;
    CHECK_CU(cuMemcpy2D(&c2));
    CHECK(r2[0][0] == 0x11 && r2[0][4] == h2[0][0] && r2[7][43] == h2[7][39] && r2[7][44] == 0x11 &&
          r2[7][99] == 0x11);
    CHECK_CU(cuMemFree(d2b));

    /* ---- libraries, cuLaunchKernelEx, the linker's single input, occupancy, callbacks ---- */
    CUlibrary lib;
    CUkernel kern;
    CUfunction kf;
    CHECK_CU(cuLibraryLoadData(&lib, ptx, NULL, NULL, 0, NULL, NULL, 0));
    CHECK_CU(cuLibraryGetKernel(&kern, lib, "saxpy"));
    CHECK_CU(cuKernelGetFunction(&kf, kern));
    CHECK_CU(cuMemsetD32(dx, 0, n));
    float one = 1.0f;
    CHECK_CU(cuMemcpyHtoD(dy, hx, sizeof hx));
    void *params4[] = {(void *)&n, &one, &dy, &dx}; /* x = 1*y + x = hx */
    CUlaunchAttribute la[1];
    la[0].id = CU_LAUNCH_ATTRIBUTE_PRIORITY;
    la[0].value.priority = 0;
    CUlaunchConfig cfg = {0};
    cfg.gridDimX = (n + 127) / 128;
    cfg.gridDimY = cfg.gridDimZ = 1;
    cfg.blockDimX = 128;
    cfg.blockDimY = cfg.blockDimZ = 1;
    cfg.attrs = la;
    cfg.numAttrs = 1;
    CHECK_CU(cuLaunchKernelEx(&cfg, kf, params4, NULL));
    int calls = 0;
    CHECK_CU(cuStreamAddCallback(NULL, on_callback, &calls, 0));
    CHECK_CU(cuMemcpyDtoH(out, dx, sizeof out));
    CHECK(out[0] == hx[0] && out[999] == hx[999]);
    CHECK_CU(cuCtxSynchronize());
    CHECK(calls == 1 && g_cb_status == CUDA_SUCCESS);
    CHECK_CU(cuLibraryUnload(lib));
    CUlinkState link;
    void *cubin = NULL;
    size_t cubin_size = 0;
    CHECK_CU(cuLinkCreate(0, NULL, NULL, &link));
    CHECK_CU(cuLinkAddData(link, CU_JIT_INPUT_PTX, ptx, strlen(ptx) + 1, "saxpy.ptx", 0, NULL, NULL));
    CHECK_CU(cuLinkComplete(link, &cubin, &cubin_size));
    CUmodule linked;
    CHECK_CU(cuModuleLoadData(&linked, cubin));
    CHECK_CU(cuLinkDestroy(link));
    CHECK_CU(cuModuleUnload(linked));
    int blocks = 0, min_grid = 0, best_block = 0;
    CHECK_CU(cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, saxpy, 256, 0));
    CHECK(blocks >= 1);
    CHECK_CU(cuOccupancyMaxPotentialBlockSize(&min_grid, &best_block, saxpy, NULL, 0, 0));
    CHECK(best_block >= 32 && best_block <= 1024 && min_grid >= 1);

    /* ---- a second GPU of the lease: a copy across, an event waited across ---- */
    if (count >= 2) {
        CUcontext c1;
        CUdevice dev1;
        CHECK_CU(cuDeviceGet(&dev1, 1));
        CHECK_CU(cuCtxCreate(&c1, NULL, 0, dev1));
        CUdeviceptr d1;
        CHECK_CU(cuMemAlloc(&d1, sizeof hx));
        CHECK_CU(cuMemcpyDtoD(d1, dy, sizeof hx)); /* from GPU 0's memory */
        CUdeviceptr d1b;
        CHECK_CU(cuMemAlloc(&d1b, 16));
        CHECK_CU(cuMemcpyPeer(d1b, c1, dy, ctx, 16));
        float back4[4] = {0};
        CHECK_CU(cuMemcpyDtoH(back4, d1b, 16));
        CHECK(back4[3] == hx[3]);
        CHECK_CU(cuMemFree(d1b));
        CHECK_CU_RC(cuCtxEnablePeerAccess(ctx, 0), CUDA_ERROR_PEER_ACCESS_UNSUPPORTED);
        CUevent ev1;
        CHECK_CU(cuEventCreate(&ev1, 0));
        CHECK_CU(cuMemsetD32(d1, 0x42, 1));
        CHECK_CU(cuEventRecord(ev1, NULL));
        CHECK_CU(cuCtxPushCurrent(ctx));
        CHECK_CU(cuStreamWaitEvent(NULL, ev1, 0));
        CHECK_CU(cuCtxPopCurrent(NULL));
        CHECK_CU(cuMemcpyDtoH(u, d1, 4 * sizeof(unsigned)));
        float f3;
        memcpy(&f3, &u[3], 4);
        CHECK(u[0] == 0x42 && f3 == hx[3]);
        int dev_of = -1;
        CHECK_CU(cuPointerGetAttribute(&dev_of, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, d1));
        CHECK(dev_of == 1);
        CHECK_CU(cuEventDestroy(ev1));
        CHECK_CU(cuMemFree(d1));
        CHECK_CU(cuCtxDestroy(c1));
        CUcontext cur = NULL;
        CHECK_CU(cuCtxGetCurrent(&cur));
        CHECK(cur == ctx);
        printf("second GPU: copies and events across GPUs ok\n");
    }

    /* ---- the bulk path: a blocking copy of 4 MiB ---- */
    size_t big = 4u << 20;
    unsigned char *hb = malloc(big), *rb = malloc(big);
    for (size_t i = 0; i < big; i++)
        hb[i] = (unsigned char)(i * 7 + 3);
    CUdeviceptr db;
    CHECK_CU(cuMemAlloc(&db, big));
    CHECK_CU(cuMemcpyHtoD(db, hb, big));
    CHECK_CU(cuMemcpyDtoH(rb, db, big));
    CHECK(memcmp(hb, rb, big) == 0);

    /* ---- a PTX the JIT rejects: an error at load, the worker's log in the error buffer ---- */
    char elog[512];
    memset(elog, 'x', sizeof elog);
    CUjit_option jo[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *jv[] = {elog, (void *)(uintptr_t)sizeof elog};
    CUmodule badmod;
    CUresult lr = cuModuleLoadDataEx(&badmod, ".version 7.0\n.target sm_70\nthis is not ptx\n", 2, jo, jv);
    CHECK(lr != CUDA_SUCCESS);
    CHECK(memchr(elog, 0, sizeof elog) != NULL && strlen(elog) > 0);
    printf("bad PTX: error %d, log \"%.60s\"\n", (int)lr, elog);

    /* ---- what is refused, and memory info ---- */
    CUdeviceptr managed;
    CHECK_CU_RC(cuMemAllocManaged(&managed, 64, CU_MEM_ATTACH_GLOBAL), CUDA_ERROR_NOT_SUPPORTED);
    size_t fr = 0, tot = 0;
    CHECK_CU(cuMemGetInfo(&fr, &tot));
    CHECK(tot > 0 && fr <= tot);

    CHECK_CU(cuMemFree(db));
    CHECK_CU(cuMemFree(d2));
    CHECK_CU(cuMemFree(dx));
    CHECK_CU(cuMemFree(dy));
    CHECK_CU(cuMemFreeHost(pin));
    CHECK_CU(cuEventDestroy(e0));
    CHECK_CU(cuEventDestroy(e1));
    CHECK_CU(cuStreamDestroy(s));
    CHECK_CU(cuModuleUnload(mod));
    CHECK_CU(cuDevicePrimaryCtxRelease(dev));
    free(hb);
    free(rb);
    free(ptx);
    printf("%s\n", check_failures ? "SMOKE FAILED" : "smoke ok");
    return check_failures ? 1 : 0;
}
