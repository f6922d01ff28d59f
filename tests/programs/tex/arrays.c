/* SPDX-License-Identifier: Apache-2.0
 * arrays — CUDA arrays through the driver API: creation and its validation (zero width, bad
 * format, bad channel count, Depth without Height, unknown flags, sizes beyond the device's
 * limits), descriptors of 1D/2D/3D/layered arrays, memory requirements, planes, destroyed
 * handles; and data round trips: a 3D sub-box through cuMemcpy3D host -> array -> pitched device
 * memory -> array -> host, 2D copies with offsets (cuMemcpy2D, cuMemcpy2DAsync, array to array),
 * the linear HtoA/AtoH/DtoA/AtoD/AtoA copies, and copies that do not fit, which change nothing. */
#include "common.h"

#include <stdint.h>

static void test_create_errors(void) {
    CUarray a;
    CUDA_ARRAY_DESCRIPTOR d2 = {.Width = 0, .Height = 4, .Format = CU_AD_FORMAT_FLOAT, .NumChannels = 1};
    EXPECT_CU(cuArrayCreate(&a, &d2), CUDA_ERROR_INVALID_VALUE); /* zero width */
    d2.Width = 4;
    d2.NumChannels = 3;
    EXPECT_CU(cuArrayCreate(&a, &d2), CUDA_ERROR_INVALID_VALUE); /* 3 channels */
    d2.NumChannels = 1;
    d2.Format = (CUarray_format)0x55;
    EXPECT_CU(cuArrayCreate(&a, &d2), CUDA_ERROR_INVALID_VALUE); /* not a format */
    EXPECT_CU(cuArrayCreate(&a, NULL), CUDA_ERROR_INVALID_VALUE);
    CUDA_ARRAY3D_DESCRIPTOR d = array_desc(CU_AD_FORMAT_FLOAT, 1, 8, 0, 4, 0);
    EXPECT_CU(cuArray3DCreate(&a, &d), CUDA_ERROR_INVALID_VALUE); /* Depth without Height, not layered */
    d = array_desc(CU_AD_FORMAT_FLOAT, 1, 8, 8, 0, 0x80000000u);
    EXPECT_CU(cuArray3DCreate(&a, &d), CUDA_ERROR_INVALID_VALUE); /* unknown flag */
    d = array_desc(CU_AD_FORMAT_FLOAT, 1, 8, 8, 0, CUDA_ARRAY3D_LAYERED);
    EXPECT_CU(cuArray3DCreate(&a, &d), CUDA_ERROR_INVALID_VALUE); /* layered with no layers */
    d = array_desc(CU_AD_FORMAT_UNSIGNED_INT8, 1, 1u << 20, 1u << 20, 0, 0);
    EXPECT_CU(cuArray3DCreate(&a, &d), CUDA_ERROR_INVALID_VALUE); /* beyond the 2D limits */
    d = array_desc(CU_AD_FORMAT_UNSIGNED_INT8, 1, 32768, 0, 0, CUDA_ARRAY3D_TEXTURE_GATHER);
    EXPECT_CU(cuArray3DCreate(&a, &d), CUDA_ERROR_INVALID_VALUE); /* gather needs 2D */
    d = array_desc(CU_AD_FORMAT_FLOAT, 1, 8, 8, 0, 0);
    EXPECT_CU(cuArray3DCreate(NULL, &d), CUDA_ERROR_INVALID_VALUE);
}

static void test_descriptors(void) {
    struct {
        CUDA_ARRAY3D_DESCRIPTOR d;
        size_t bytes;
    } cases[] = {
        {array_desc(CU_AD_FORMAT_UNSIGNED_INT8, 4, 100, 0, 0, 0), 400},
        {array_desc(CU_AD_FORMAT_HALF, 2, 33, 17, 0, CUDA_ARRAY3D_SURFACE_LDST), 33 * 17 * 4},
        {array_desc(CU_AD_FORMAT_SIGNED_INT16, 1, 9, 8, 7, 0), 9 * 8 * 7 * 2},
        {array_desc(CU_AD_FORMAT_FLOAT, 4, 10, 0, 3, CUDA_ARRAY3D_LAYERED), 10 * 3 * 16},
        {array_desc(CU_AD_FORMAT_SIGNED_INT32, 2, 10, 6, 5, CUDA_ARRAY3D_LAYERED), 10 * 6 * 5 * 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CUarray a;
        CHECK(cuArray3DCreate(&a, &cases[i].d));
        CUDA_ARRAY3D_DESCRIPTOR got;
        CHECK(cuArray3DGetDescriptor(&got, a));
        EXPECT(memcmp(&got, &cases[i].d, sizeof got) == 0, "case %zu: 3D descriptor does not round-trip", i);
        CUDA_ARRAY_DESCRIPTOR g2;
        CHECK(cuArrayGetDescriptor(&g2, a));
        EXPECT(g2.Width == cases[i].d.Width && g2.Height == cases[i].d.Height &&
                   g2.Format == cases[i].d.Format && g2.NumChannels == cases[i].d.NumChannels,
               "case %zu: 2D descriptor", i);
        CUDA_ARRAY_MEMORY_REQUIREMENTS mr;
        CHECK(cuArrayGetMemoryRequirements(&mr, a, 0));
        EXPECT(mr.size >= cases[i].bytes && mr.alignment > 0 && mr.size % mr.alignment == 0,
               "case %zu: memory requirements %zu/%zu for %zu bytes", i, mr.size, mr.alignment,
               cases[i].bytes);
        CUarray plane;
        EXPECT_CU(cuArrayGetPlane(&plane, a, 0), CUDA_ERROR_INVALID_VALUE); /* not multi-planar (cuda.h) */
        CHECK(cuArrayDestroy(a));
        EXPECT_CU(cuArrayDestroy(a), CUDA_ERROR_INVALID_HANDLE);
        EXPECT_CU(cuArray3DGetDescriptor(&got, a), CUDA_ERROR_INVALID_HANDLE);
    }
    CUDA_ARRAY_DESCRIPTOR d2 = {
        .Width = 16, .Height = 0, .Format = CU_AD_FORMAT_UNSIGNED_INT16, .NumChannels = 2};
    CUarray a;
    CHECK(cuArrayCreate(&a, &d2));
    CUDA_ARRAY3D_DESCRIPTOR got;
    CHECK(cuArray3DGetDescriptor(&got, a));
    EXPECT(got.Width == 16 && got.Height == 0 && got.Depth == 0 && got.Flags == 0,
           "cuArrayCreate 1D descriptor");
    CHECK(cuArrayDestroy(a));
}

/* 3D: a sub-box of a host volume -> array -> pitched device memory -> second array -> host */
static void test_3d_round_trip(void) {
    enum { W = 11, H = 9, D = 6, E = 4 /* float */ };
    enum { HW = 16, HH = 12, HD = 8 }; /* host volume, the box sits at (2, 1, 1) */
    static float host[HD][HH][HW], back[HD][HH][HW];
    for (int z = 0; z < HD; z++)
        for (int y = 0; y < HH; y++)
            for (int x = 0; x < HW; x++)
                host[z][y][x] = (float)(x + 100 * y + 10000 * z);
    memset(back, 0, sizeof back);
    CUDA_ARRAY3D_DESCRIPTOR ad = array_desc(CU_AD_FORMAT_FLOAT, 1, W, H, D, 0);
    CUarray a1, a2;
    CHECK(cuArray3DCreate(&a1, &ad));
    CHECK(cuArray3DCreate(&a2, &ad));
    CUDA_MEMCPY3D cp;
    memset(&cp, 0, sizeof cp);
    cp.srcMemoryType = CU_MEMORYTYPE_HOST;
    cp.srcHost = host;
    cp.srcPitch = HW * E;
    cp.srcHeight = HH;
    cp.srcXInBytes = 2 * E;
    cp.srcY = 1;
    cp.srcZ = 1;
    cp.dstMemoryType = CU_MEMORYTYPE_ARRAY;
    cp.dstArray = a1;
    cp.WidthInBytes = W * E;
    cp.Height = H;
    cp.Depth = D;
    CHECK(cuMemcpy3D(&cp));
    /* array -> device (pitch 64 floats, height H + 3) */
    size_t dpitch = 64 * E, dheight = H + 3;
    CUdeviceptr dev;
    CHECK(cuMemAlloc(&dev, dpitch * dheight * D));
    CHECK(cuMemsetD8(dev, 0, dpitch * dheight * D));
    memset(&cp, 0, sizeof cp);
    cp.srcMemoryType = CU_MEMORYTYPE_ARRAY;
    cp.srcArray = a1;
    cp.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    cp.dstDevice = dev;
    cp.dstPitch = dpitch;
    cp.dstHeight = dheight;
    cp.WidthInBytes = W * E;
    cp.Height = H;
    cp.Depth = D;
    CUstream st;
    CHECK(cuStreamCreate(&st, CU_STREAM_NON_BLOCKING));
    CHECK(cuMemcpy3DAsync(&cp, st));
    CHECK(cuStreamSynchronize(st));
    /* spot-check the device layout */
    float probe;
    CHECK(cuMemcpyDtoH(&probe, dev + 2 * dpitch * dheight + 3 * dpitch + 4 * E, 4));
    EXPECT(probe == host[1 + 2][1 + 3][2 + 4], "device copy (4,3,2) holds %g, want %g", probe, host[3][4][6]);
    /* device -> second array -> host box */
    memset(&cp, 0, sizeof cp);
    cp.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    cp.srcDevice = dev;
    cp.srcPitch = dpitch;
    cp.srcHeight = dheight;
    cp.dstMemoryType = CU_MEMORYTYPE_ARRAY;
    cp.dstArray = a2;
    cp.WidthInBytes = W * E;
    cp.Height = H;
    cp.Depth = D;
    CHECK(cuMemcpy3D(&cp));
    memset(&cp, 0, sizeof cp);
    cp.srcMemoryType = CU_MEMORYTYPE_ARRAY;
    cp.srcArray = a2;
    cp.dstMemoryType = CU_MEMORYTYPE_HOST;
    cp.dstHost = back;
    cp.dstPitch = HW * E;
    cp.dstHeight = HH;
    cp.dstXInBytes = 2 * E;
    cp.dstY = 1;
    cp.dstZ = 1;
    cp.WidthInBytes = W * E;
    cp.Height = H;
    cp.Depth = D;
    CHECK(cuMemcpy3D(&cp));
    int bad = 0;
    for (int z = 0; z < HD; z++)
        for (int y = 0; y < HH; y++)
            for (int x = 0; x < HW; x++) {
                int in = x >= 2 && x < 2 + W && y >= 1 && y < 1 + H && z >= 1 && z < 1 + D;
                bad += back[z][y][x] != (in ? host[z][y][x] : 0.0f);
            }
    EXPECT(bad == 0, "3D round trip: %d elements differ", bad);
    /* a box that does not fit the array fails and changes nothing */
    cp.Depth = D + 1;
    back[1][1][2] = -1.0f;
    EXPECT_CU(cuMemcpy3D(&cp), CUDA_ERROR_INVALID_VALUE);
    EXPECT(back[1][1][2] == -1.0f, "a failed 3D copy wrote data");
    cp.Depth = D;
    cp.srcXInBytes = 2; /* not a whole element */
    EXPECT_CU(cuMemcpy3D(&cp), CUDA_ERROR_INVALID_VALUE);
    CHECK(cuStreamDestroy(st));
    CHECK(cuMemFree(dev));
    CHECK(cuArrayDestroy(a1));
    CHECK(cuArrayDestroy(a2));
}

static void test_2d_and_linear(void) {
    enum { W = 20, H = 10 };
    static uint16_t img[H][W * 2], out[H][W * 2];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W * 2; x++)
            img[y][x] = (uint16_t)(y * 1000 + x);
    CUDA_ARRAY_DESCRIPTOR d2 = {
        .Width = W, .Height = H, .Format = CU_AD_FORMAT_UNSIGNED_INT16, .NumChannels = 2};
    CUarray a, b;
    CHECK(cuArrayCreate(&a, &d2));
    CHECK(cuArrayCreate(&b, &d2));
    CUDA_MEMCPY2D cp;
    memset(&cp, 0, sizeof cp);
    cp.srcMemoryType = CU_MEMORYTYPE_HOST;
    cp.srcHost = img;
    cp.srcPitch = sizeof img[0];
    cp.dstMemoryType = CU_MEMORYTYPE_ARRAY;
    cp.dstArray = a;
    cp.WidthInBytes = sizeof img[0];
    cp.Height = H;
    CHECK(cuMemcpy2D(&cp));
    /* array -> array: a 6x4 element window from (3, 2) to (10, 5) */
    memset(&cp, 0, sizeof cp);
    cp.srcMemoryType = CU_MEMORYTYPE_ARRAY;
    cp.srcArray = a;
    cp.srcXInBytes = 3 * 4;
    cp.srcY = 2;
    cp.dstMemoryType = CU_MEMORYTYPE_ARRAY;
    cp.dstArray = b;
    cp.dstXInBytes = 10 * 4;
    cp.dstY = 5;
    cp.WidthInBytes = 6 * 4;
    cp.Height = 4;
    CHECK(cuMemcpy2DAsync(&cp, NULL));
    memset(&cp, 0, sizeof cp);
    cp.srcMemoryType = CU_MEMORYTYPE_ARRAY;
    cp.srcArray = b;
    cp.dstMemoryType = CU_MEMORYTYPE_HOST;
    cp.dstHost = out;
    cp.dstPitch = sizeof out[0];
    cp.WidthInBytes = sizeof out[0];
    cp.Height = H;
    CHECK(cuMemcpy2DUnaligned(&cp));
    int bad = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 2; c++) {
                int in = x >= 10 && x < 16 && y >= 5 && y < 9;
                uint16_t want = in ? img[y - 3][(x - 7) * 2 + c] : 0;
                bad += out[y][x * 2 + c] != want;
            }
    EXPECT(bad == 0, "2D array-to-array window: %d mismatches", bad);
    /* a window past the array's right edge fails */
    memset(&cp, 0, sizeof cp);
    cp.srcMemoryType = CU_MEMORYTYPE_HOST;
    cp.srcHost = img;
    cp.srcPitch = sizeof img[0];
    cp.dstMemoryType = CU_MEMORYTYPE_ARRAY;
    cp.dstArray = a;
    cp.dstXInBytes = 4;
    cp.WidthInBytes = sizeof img[0];
    cp.Height = 1;
    EXPECT_CU(cuMemcpy2D(&cp), CUDA_ERROR_INVALID_VALUE);
    cp.dstXInBytes = 0;
    cp.dstArray = NULL;
    EXPECT_CU(cuMemcpy2D(&cp), CUDA_ERROR_INVALID_HANDLE);

    /* linear copies: the array's bytes in row-major order */
    CUdeviceptr dev;
    CHECK(cuMemAlloc(&dev, sizeof img));
    CHECK(cuMemcpyAtoD(dev, a, 0, sizeof img));
    static uint16_t lin[H][W * 2];
    CHECK(cuMemcpyDtoH(lin, dev, sizeof lin));
    EXPECT(memcmp(lin, img, sizeof img) == 0, "cuMemcpyAtoD does not give the rows in order");
    CHECK(cuMemcpyAtoA(b, 8, a, 16, 40));
    CHECK(cuMemcpyAtoH(lin, b, 0, sizeof lin));
    EXPECT(memcmp((uint8_t *)lin + 8, (uint8_t *)img + 16, 40) == 0, "cuMemcpyAtoA");
    CHECK(cuMemcpyDtoA(b, 0, dev, sizeof img));
    CHECK(cuMemcpyAtoHAsync(lin, b, 0, sizeof lin, NULL));
    EXPECT(memcmp(lin, img, sizeof img) == 0, "cuMemcpyDtoA / cuMemcpyAtoHAsync");
    uint16_t two[2] = {0xbeef, 0xcafe};
    CHECK(cuMemcpyHtoAAsync(b, sizeof img - 4, two, 4, NULL));
    CHECK(cuMemcpyAtoH(two, b, sizeof img - 4, 4));
    EXPECT(two[0] == 0xbeef && two[1] == 0xcafe, "HtoA at the last element");
    EXPECT_CU(cuMemcpyHtoA(b, sizeof img - 2, two, 4), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemcpyAtoH(two, b, sizeof img, 1), CUDA_ERROR_INVALID_VALUE);
    CHECK(cuMemFree(dev));
    CHECK(cuArrayDestroy(a));
    CHECK(cuArrayDestroy(b));
    EXPECT_CU(cuMemcpyAtoH(two, b, 0, 4), CUDA_ERROR_INVALID_HANDLE);
}

static void test_proc_address(void) {
    void *p = NULL;
    CUdriverProcAddressQueryResult q;
    static const char *names[] = {"cuArrayCreate",     "cuArray3DCreate",    "cuMemcpy3D",
                                  "cuTexObjectCreate", "cuSurfObjectCreate", "cuMipmappedArrayCreate",
                                  "cuMemcpyHtoA"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        CUresult r = cuGetProcAddress(names[i], &p, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &q);
        EXPECT(r == CUDA_SUCCESS && p != NULL, "cuGetProcAddress(%s): %s", names[i], cu_name(r));
    }
}

int main(void) {
    make_context();
    test_create_errors();
    test_descriptors();
    test_3d_round_trip();
    test_2d_and_linear();
    test_proc_address();
    CUdevice dev;
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDevicePrimaryCtxRelease(dev));
    return finish("arrays");
}
