/* SPDX-License-Identifier: Apache-2.0
 * surfaces — surface objects on CUDA arrays created with CUDA_ARRAY3D_SURFACE_LDST, read and
 * written by the kernels of surf_kernels.cu (suld.b / sust.b, x in bytes): an RGBA8 image
 * inverted from one surface into another, a 3D float2 volume and a 2D layered short array
 * updated in place, the clamp and zero boundary modes, 64-bit elements, suq, and a .trap access
 * past the end, which faults the launch with a sticky error. Each result is compared with the
 * same computation done on the host. */
#include "common.h"

#include <stdint.h>

static CUarray surf_array(CUarray_format f, unsigned nch, size_t w, size_t h, size_t d, unsigned flags) {
    CUDA_ARRAY3D_DESCRIPTOR ad = array_desc(f, nch, w, h, d, CUDA_ARRAY3D_SURFACE_LDST | flags);
    CUarray a;
    CHECK(cuArray3DCreate(&a, &ad));
    return a;
}

static CUsurfObject surf_of(CUarray a) {
    CUDA_RESOURCE_DESC rd = array_resource(a);
    CUsurfObject s;
    CHECK(cuSurfObjectCreate(&s, &rd));
    return s;
}

static void test_invert(void) {
    enum { W = 40, H = 24 };
    static uint8_t img[W * H * 4], out[W * H * 4];
    for (int i = 0; i < W * H * 4; i++)
        img[i] = (uint8_t)(i * 131 + 7);
    CUarray ain = surf_array(CU_AD_FORMAT_UNSIGNED_INT8, 4, W, H, 0, 0);
    CUarray aout = surf_array(CU_AD_FORMAT_UNSIGNED_INT8, 4, W, H, 0, 0);
    copy3d(ain, img, W * 4, H, 1, 1);
    CUsurfObject sin = surf_of(ain), sout = surf_of(aout);
    int w = W, h = H;
    void *args[] = {&sin, &sout, &w, &h};
    CHECK(cuLaunchKernel(fn("invert"), (W + 15) / 16, (H + 15) / 16, 1, 16, 16, 1, 0, NULL, args, NULL));
    copy3d(aout, out, W * 4, H, 1, 0);
    int bad = 0;
    for (int i = 0; i < W * H * 4; i++)
        bad += (int)out[i] != 255 - (int)img[i];
    EXPECT(bad == 0, "invert: %d bytes differ", bad);
    CUDA_RESOURCE_DESC rd;
    CHECK(cuSurfObjectGetResourceDesc(&rd, sout));
    EXPECT(rd.resType == CU_RESOURCE_TYPE_ARRAY && rd.res.array.hArray == aout,
           "surface resource desc round trip");
    CUdeviceptr dq;
    CHECK(cuMemAlloc(&dq, 8));
    void *qa[] = {&sout, &dq};
    CHECK(cuLaunchKernel(fn("squery"), 1, 1, 1, 1, 1, 1, 0, NULL, qa, NULL));
    int q[2];
    CHECK(cuMemcpyDtoH(q, dq, sizeof q));
    EXPECT(q[0] == W && q[1] == H, "suq: width %d height %d, want %d %d", q[0], q[1], W, H);
    CHECK(cuMemFree(dq));
    CHECK(cuSurfObjectDestroy(sin));
    CHECK(cuSurfObjectDestroy(sout));
    CHECK(cuArrayDestroy(ain));
    CHECK(cuArrayDestroy(aout));
}

static void test_3d_and_layered(void) {
    enum { W = 7, H = 5, D = 4 };
    static float vol[W * H * D * 2], out[W * H * D * 2];
    for (int i = 0; i < W * H * D * 2; i++)
        vol[i] = (float)i * 0.5f - 3.0f;
    CUarray a = surf_array(CU_AD_FORMAT_FLOAT, 2, W, H, D, 0);
    copy3d(a, vol, W * 8, H, D, 1);
    CUsurfObject s = surf_of(a);
    int w = W, h = H, d = D;
    void *args[] = {&s, &w, &h, &d};
    CHECK(cuLaunchKernel(fn("scale3d"), D, 1, 1, W, H, 1, 0, NULL, args, NULL));
    copy3d(a, out, W * 8, H, D, 0);
    int bad = 0;
    for (int z = 0; z < D; z++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int i = ((z * H + y) * W + x) * 2;
                float k = (float)(x + 10 * y + 100 * z);
                bad += out[i] != vol[i] * 2 + k || out[i + 1] != vol[i + 1] * 2 - k;
            }
    EXPECT(bad == 0, "3D surface: %d elements differ", bad);
    CHECK(cuSurfObjectDestroy(s));
    CHECK(cuArrayDestroy(a));

    enum { L = 3 };
    static int16_t lay[W * H * L], lout[W * H * L];
    for (int i = 0; i < W * H * L; i++)
        lay[i] = (int16_t)(i * 97 - 1000);
    a = surf_array(CU_AD_FORMAT_SIGNED_INT16, 1, W, H, L, CUDA_ARRAY3D_LAYERED);
    copy3d(a, lay, W * 2, H, L, 1);
    s = surf_of(a);
    int layers = L;
    void *largs[] = {&s, &w, &h, &layers};
    CHECK(cuLaunchKernel(fn("add_layer"), L, 1, 1, W, H, 1, 0, NULL, largs, NULL));
    copy3d(a, lout, W * 2, H, L, 0);
    bad = 0;
    for (int i = 0; i < W * H * L; i++)
        bad += lout[i] != (int16_t)(lay[i] + i / (W * H));
    EXPECT(bad == 0, "2D layered surface: %d elements differ", bad);
    CHECK(cuSurfObjectDestroy(s));
    CHECK(cuArrayDestroy(a));
}

static void test_boundary_modes(void) {
    enum { N = 8, T = 12 };
    int32_t v[N];
    for (int i = 0; i < N; i++)
        v[i] = i * 11 + 5;
    CUarray a = surf_array(CU_AD_FORMAT_SIGNED_INT32, 1, N, 0, 0, 0);
    CHECK(cuMemcpyHtoA(a, 0, v, sizeof v));
    CUsurfObject s = surf_of(a);
    CUdeviceptr dc, dz;
    CHECK(cuMemAlloc(&dc, T * 4));
    CHECK(cuMemAlloc(&dz, T * 4));
    int n = T;
    void *args[] = {&s, &dc, &dz, &n};
    CHECK(cuLaunchKernel(fn("boundary"), 1, 1, 1, T, 1, 1, 0, NULL, args, NULL));
    int32_t c[T], z[T];
    CHECK(cuMemcpyDtoH(c, dc, sizeof c));
    CHECK(cuMemcpyDtoH(z, dz, sizeof z));
    int bad = 0;
    for (int i = 0; i < T; i++) {
        int x = i - 2, xc = x < 0 ? 0 : x >= N ? N - 1 : x;
        bad += c[i] != v[xc];
        bad += z[i] != (x >= 0 && x < N ? v[x] : 0);
    }
    EXPECT(bad == 0, "clamp/zero boundary modes: %d mismatches", bad);
    CHECK(cuMemFree(dc));
    CHECK(cuMemFree(dz));
    CHECK(cuSurfObjectDestroy(s));
    CHECK(cuArrayDestroy(a));

    /* 64-bit elements (2 x u32 channels), 12 threads over 8 elements: the 4 past the end read 0 and
     * their writes are dropped */
    int64_t w64[N], o64[N];
    for (int i = 0; i < N; i++)
        w64[i] = (int64_t)i * 0x100000001ll - 77;
    a = surf_array(CU_AD_FORMAT_UNSIGNED_INT32, 2, N, 0, 0, 0);
    CHECK(cuMemcpyHtoA(a, 0, w64, sizeof w64));
    s = surf_of(a);
    void *a64[] = {&s, &n};
    CHECK(cuLaunchKernel(fn("rw64"), 1, 1, 1, T, 1, 1, 0, NULL, a64, NULL));
    CHECK(cuMemcpyAtoH(o64, a, 0, sizeof o64));
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += o64[i] != w64[i] * 3 + i;
    EXPECT(bad == 0, "64-bit surface elements: %d mismatches", bad);
    CHECK(cuSurfObjectDestroy(s));
    CHECK(cuArrayDestroy(a));
}

static void test_errors_and_trap(void) {
    /* a surface needs an array created with CUDA_ARRAY3D_SURFACE_LDST */
    CUDA_ARRAY3D_DESCRIPTOR ad = array_desc(CU_AD_FORMAT_FLOAT, 1, 4, 0, 0, 0);
    CUarray plain;
    CHECK(cuArray3DCreate(&plain, &ad));
    CUDA_RESOURCE_DESC rd = array_resource(plain);
    CUsurfObject s;
    EXPECT_CU(cuSurfObjectCreate(&s, &rd), CUDA_ERROR_INVALID_VALUE);
    rd.resType = CU_RESOURCE_TYPE_LINEAR;
    EXPECT_CU(cuSurfObjectCreate(&s, &rd), CUDA_ERROR_INVALID_VALUE);
    CHECK(cuArrayDestroy(plain));

    CUarray a = surf_array(CU_AD_FORMAT_SIGNED_INT32, 1, 8, 0, 0, 0);
    s = surf_of(a);
    int x = 3;
    void *args[] = {&s, &x};
    CHECK(cuLaunchKernel(fn("trap_oob"), 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL));
    int32_t v[8];
    CHECK(cuMemcpyAtoH(v, a, 0, sizeof v));
    EXPECT(v[3] == 1, "surf1Dwrite in bounds wrote %d", v[3]);
    x = 8; /* one past the end, .trap */
    CUresult r = cuLaunchKernel(fn("trap_oob"), 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL);
    if (r == CUDA_SUCCESS) r = cuCtxSynchronize();
    EXPECT(r != CUDA_SUCCESS, "an out-of-bounds .trap surface store did not fault");
    EXPECT(cuCtxSynchronize() == r, "the surface fault is not sticky");
}

int main(void) {
    make_context();
    g_mod = load_ptx("surf_kernels.ptx");
    test_invert();
    test_3d_and_layered();
    test_boundary_modes();
    test_errors_and_trap(); /* last: poisons the context */
    CUdevice dev;
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDevicePrimaryCtxReset(dev));
    return finish("surfaces");
}
