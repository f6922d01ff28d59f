/* pointers_globals.c — what real programs do with device addresses: a struct holding device pointers
 * passed by value, a launch on base + offset (pointer arithmetic), a __constant__ table written and a
 * __device__ counter read through cuModuleGetGlobal, cuMemGetAddressRange and cuPointerGetAttribute on
 * an interior pointer, cuMemsetD8/D2D32, a pitched allocation with cuMemcpy2D both ways, and
 * cuMemcpyDtoD between two allocations. argv[1]: the PTX. */
#include "programs_common.h"

#include <stdint.h>

struct span {
    CUdeviceptr data, src;
    int n;
    float factor;
};

int main(int argc, char **argv) {
    REQUIRE(argc >= 2, "usage: pointers_globals PTX");
    CUcontext ctx = make_context();
    char *ptx = read_file(argv[1], NULL);
    CUmodule mod;
    CHECK(cuModuleLoadData(&mod, ptx));
    free(ptx);
    CUfunction f;
    CHECK(cuModuleGetFunction(&f, mod, "scale_span"));

    enum { N = 1000, OFF = 100 };
    float host[N + OFF], src[N];
    for (int i = 0; i < N; i++)
        src[i] = (float)i * 0.25f - 7.0f;
    CUdeviceptr dbase, dsrc;
    CHECK(cuMemAlloc(&dbase, sizeof host));
    CHECK(cuMemAlloc(&dsrc, sizeof src));
    CHECK(cuMemcpyHtoD(dsrc, src, sizeof src));
    CHECK(cuMemsetD8(dbase, 0x7f, sizeof host));

    CUdeviceptr interior = dbase + OFF * sizeof(float), rbase = 0;
    size_t rsize = 0;
    CHECK(cuMemGetAddressRange(&rbase, &rsize, interior));
    EXPECT(rbase == dbase && rsize == sizeof host, "range of an interior pointer: %#llx + %zu",
           (unsigned long long)rbase, rsize);
    unsigned int mtype = 0;
    CHECK(cuPointerGetAttribute(&mtype, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, interior));
    EXPECT(mtype == CU_MEMORYTYPE_DEVICE, "memory type %u", mtype);
    CUcontext pctx = NULL;
    CHECK(cuPointerGetAttribute(&pctx, CU_POINTER_ATTRIBUTE_CONTEXT, interior));
    EXPECT(pctx == ctx, "the pointer's context is the current one");

    float table[16];
    for (int i = 0; i < 16; i++)
        table[i] = (float)(i * i);
    CUdeviceptr dtable, dcalls;
    size_t tsize = 0, csize = 0;
    CHECK(cuModuleGetGlobal(&dtable, &tsize, mod, "k_table"));
    CHECK(cuModuleGetGlobal(&dcalls, &csize, mod, "g_calls"));
    EXPECT(tsize == sizeof table && csize == 4, "global sizes %zu and %zu", tsize, csize);
    CHECK(cuMemcpyHtoD(dtable, table, sizeof table));
    CHECK(cuMemsetD32(dcalls, 40, 1));
    EXPECT_CU(cuModuleGetGlobal(&dtable, &tsize, mod, "no_such_global"), CUDA_ERROR_NOT_FOUND);

    struct span s = {interior, dsrc, N, 2.0f};
    void *args[] = {&s};
    CHECK(cuLaunchKernel(f, (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CHECK(cuLaunchKernel(f, (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
    CHECK(cuMemcpyDtoH(host, dbase, sizeof host));
    unsigned calls = 0;
    CHECK(cuMemcpyDtoH(&calls, dcalls, 4));
    EXPECT(calls == 42, "the kernel counted %u calls (40 + 2 expected)", calls);
    int bad = 0;
    for (int i = 0; i < OFF; i++) {
        uint32_t bits;
        memcpy(&bits, &host[i], 4);
        if (bits != 0x7f7f7f7fu && bad++ < 5)
            fprintf(stderr, "host[%d] = %#x before the span, want 0x7f7f7f7f\n", i, bits);
    }
    for (int i = 0; i < N; i++) {
        float want = src[i] * 2.0f + table[i % 16];
        if (host[OFF + i] != want && bad++ < 5)
            fprintf(stderr, "span[%d] = %g, want %g\n", i, host[OFF + i], want);
    }
    EXPECT(bad == 0, "%d wrong elements", bad);

    /* A pitched 2D allocation: rows of W bytes, filled with cuMemsetD2D32, a window copied in and out. */
    enum { W = 300, H = 20 };
    CUdeviceptr pitched;
    size_t pitch = 0;
    CHECK(cuMemAllocPitch(&pitched, &pitch, W, H, 4));
    EXPECT(pitch >= W && pitch % 4 == 0, "pitch %zu", pitch);
    CHECK(cuMemsetD2D32(pitched, pitch, 0x01020304u, W / 4, H));
    unsigned char img[H][W], back[H][W];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            img[y][x] = (unsigned char)(x * 3 + y * 7);
    CUDA_MEMCPY2D c = {0};
    c.srcMemoryType = CU_MEMORYTYPE_HOST;
    c.srcHost = &img[2][8];
    c.srcPitch = W;
    c.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    c.dstDevice = pitched;
    c.dstXInBytes = 8;
    c.dstY = 2;
    c.dstPitch = pitch;
    c.WidthInBytes = W - 16;
    c.Height = H - 4;
    CHECK(cuMemcpy2D(&c));
    CUDA_MEMCPY2D d = {0};
    d.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    d.srcDevice = pitched;
    d.srcPitch = pitch;
    d.dstMemoryType = CU_MEMORYTYPE_HOST;
    d.dstHost = back;
    d.dstPitch = W;
    d.WidthInBytes = W;
    d.Height = H;
    CHECK(cuMemcpy2D(&d));
    bad = 0;
    static const unsigned char fill[4] = {4, 3, 2, 1};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int inside = y >= 2 && y < H - 2 && x >= 8 && x < W - 8;
            unsigned char want = inside ? img[y][x] : fill[x % 4];
            if (back[y][x] != want && bad++ < 5)
                fprintf(stderr, "2D (%d,%d) = %u, want %u\n", x, y, back[y][x], want);
        }
    EXPECT(bad == 0, "%d wrong bytes in the pitched copy", bad);

    CUdeviceptr dcopy;
    CHECK(cuMemAlloc(&dcopy, sizeof src));
    CHECK(cuMemcpyDtoD(dcopy, interior, sizeof src));
    float again[N];
    CHECK(cuMemcpyDtoH(again, dcopy, sizeof again));
    EXPECT(memcmp(again, host + OFF, sizeof again) == 0, "cuMemcpyDtoD copied the span");

    CHECK(cuMemFree(dcopy));
    CHECK(cuMemFree(pitched));
    CHECK(cuMemFree(dbase));
    CHECK(cuMemFree(dsrc));
    EXPECT_CU(cuMemFree(dbase), CUDA_ERROR_INVALID_VALUE);
    CHECK(cuModuleUnload(mod));
    if (g_failures) return 1;
    printf("pointers_globals: PASS\n");
    return 0;
}
