/* hostmem.c — page-locked and registered host memory used zero-copy: a kernel updates host bytes
 * through the device pointer cuMemHostGetDevicePointer returns and the host sees the result with no
 * copy; plus what cuPointerGetAttribute(s) report for device, pinned, registered and unknown
 * memory, and the refusals for bad registrations. */
#include <string.h>

#include "entry_common.h"

int main(void) {
    CUcontext ctx = make_context();
    CUmodule mod = NULL;
    CUfunction f = entry_kernel(&mod, "axpb");
    int v = 0;
    CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY, 0));
    EXPECT(v == 1, "CAN_MAP_HOST_MEMORY = %d", v);

    /* registered malloc memory, zero-copy */
    const size_t n = 300000;
    unsigned *buf = NULL;
    if (posix_memalign((void **)&buf, 4096, n * 4) != 0) return 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned)i * 3u;
    CHECK(cuMemHostRegister(buf, n * 4, CU_MEMHOSTREGISTER_DEVICEMAP | CU_MEMHOSTREGISTER_PORTABLE));
    CUdeviceptr dbuf = 0;
    CHECK(cuMemHostGetDevicePointer(&dbuf, buf, 0));
    CHECK(entry_axpb(f, dbuf, n, 2, 1, 0, 120, 256));
    CHECK(cuCtxSynchronize());
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += buf[i] != (unsigned)i * 6u + 1u;
    EXPECT(bad == 0, "%zu of %zu registered words not updated in place by the kernel", bad, n);
    unsigned flags = 0;
    CHECK(cuMemHostGetFlags(&flags, buf + 10));
    EXPECT(flags & CU_MEMHOSTREGISTER_DEVICEMAP, "cuMemHostGetFlags = 0x%x", flags);

    /* pointer attributes of registered memory, asked through the host pointer */
    unsigned mt = 0, managed = 1;
    void *hp = NULL;
    CUdeviceptr dp = 0;
    CUcontext pc = NULL;
    CHECK(cuPointerGetAttribute(&mt, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)(buf + 5)));
    CHECK(cuPointerGetAttribute(&hp, CU_POINTER_ATTRIBUTE_HOST_POINTER, (CUdeviceptr)(uintptr_t)(buf + 5)));
    CHECK(cuPointerGetAttribute(&dp, CU_POINTER_ATTRIBUTE_DEVICE_POINTER, (CUdeviceptr)(uintptr_t)(buf + 5)));
    CHECK(cuPointerGetAttribute(&pc, CU_POINTER_ATTRIBUTE_CONTEXT, (CUdeviceptr)(uintptr_t)(buf + 5)));
    CHECK(
        cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, (CUdeviceptr)(uintptr_t)(buf + 5)));
    EXPECT(mt == CU_MEMORYTYPE_HOST && hp == (void *)(buf + 5) && dp == dbuf + 20 && pc == ctx &&
               managed == 0,
           "registered: type %u host %p device 0x%llx ctx %p managed %u", mt, hp, (unsigned long long)dp,
           (void *)pc, managed);

    /* bad registrations change nothing */
    EXPECT_CU(cuMemHostRegister(buf + 1024, 4096, 0), CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
    EXPECT_CU(cuMemHostRegister(NULL, 4096, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemHostRegister(buf, 0, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemHostUnregister(buf + 1), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
    EXPECT_CU(cuMemHostGetDevicePointer(&dp, buf, 1), CUDA_ERROR_INVALID_VALUE);
    CHECK(cuMemHostUnregister(buf));
    EXPECT_CU(cuMemHostGetDevicePointer(&dp, buf, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuPointerGetAttribute(&mt, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)buf),
              CUDA_ERROR_INVALID_VALUE);

    /* cuMemHostAlloc memory is mapped too */
    unsigned *pin = NULL;
    CHECK(cuMemHostAlloc((void **)&pin, 4096 * 4, CU_MEMHOSTALLOC_DEVICEMAP));
    for (int i = 0; i < 4096; i++)
        pin[i] = 100u + (unsigned)i;
    CUdeviceptr dpin;
    CHECK(cuMemHostGetDevicePointer(&dpin, pin, 0));
    CHECK(entry_axpb(f, dpin, 4096, 1, 0, 1, 4, 256));
    CHECK(cuCtxSynchronize());
    bad = 0;
    for (int i = 0; i < 4096; i++)
        bad += pin[i] != 100u + 2u * (unsigned)i;
    EXPECT(bad == 0, "%zu pinned words wrong", bad);
    CHECK(cuMemFreeHost(pin));

    /* device memory: attributes, distinct buffer ids, sync-memops round trip */
    CUdeviceptr d1, d2;
    CHECK(cuMemAlloc(&d1, 1000));
    CHECK(cuMemAlloc(&d2, 1000));
    unsigned long long id1 = 0, id2 = 0;
    CHECK(cuPointerGetAttribute(&id1, CU_POINTER_ATTRIBUTE_BUFFER_ID, d1 + 10));
    CHECK(cuPointerGetAttribute(&id2, CU_POINTER_ATTRIBUTE_BUFFER_ID, d2));
    EXPECT(id1 != 0 && id2 != 0 && id1 != id2, "buffer ids %llu %llu", id1, id2);
    CUdeviceptr start = 0;
    size_t size = 0;
    int ord = -1;
    CHECK(cuPointerGetAttribute(&start, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, d1 + 999));
    CHECK(cuPointerGetAttribute(&size, CU_POINTER_ATTRIBUTE_RANGE_SIZE, d1 + 999));
    CHECK(cuPointerGetAttribute(&ord, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, d1));
    EXPECT(start == d1 && size == 1000 && ord == 0, "range 0x%llx+%zu ordinal %d", (unsigned long long)start,
           size, ord);
    EXPECT_CU(cuPointerGetAttribute(&hp, CU_POINTER_ATTRIBUTE_HOST_POINTER, d1), CUDA_ERROR_INVALID_VALUE);
    unsigned one = 1, sm = 0;
    CHECK(cuPointerSetAttribute(&one, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, d1));
    CHECK(cuPointerGetAttribute(&sm, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS, d1));
    EXPECT(sm == 1, "sync memops %u", sm);
    EXPECT_CU(cuPointerSetAttribute(&one, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d1), CUDA_ERROR_INVALID_VALUE);

    /* cuPointerGetAttributes: all at once; an unknown pointer reads as zeros, not an error */
    CUpointer_attribute al[4] = {CU_POINTER_ATTRIBUTE_CONTEXT, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                 CU_POINTER_ATTRIBUTE_DEVICE_POINTER, CU_POINTER_ATTRIBUTE_IS_MANAGED};
    CUcontext c4 = NULL;
    unsigned t4 = 99, m4 = 99;
    CUdeviceptr p4 = 1;
    void *data[4] = {&c4, &t4, &p4, &m4};
    CHECK(cuPointerGetAttributes(4, al, data, d2 + 8));
    EXPECT(c4 == ctx && t4 == CU_MEMORYTYPE_DEVICE && p4 == d2 + 8 && m4 == 0, "attributes of device memory");
    int local = 0;
    c4 = ctx, t4 = 99, p4 = 1, m4 = 99;
    CHECK(cuPointerGetAttributes(4, al, data, (CUdeviceptr)(uintptr_t)&local));
    EXPECT(c4 == NULL && t4 == 0 && p4 == 0 && m4 == 0,
           "unknown pointer: ctx %p type %u ptr 0x%llx managed %u", (void *)c4, t4, (unsigned long long)p4,
           m4);
    CHECK(cuMemFree(d1));
    CHECK(cuMemFree(d2));
    free(buf);
    printf("hostmem: %s\n", g_failures ? "FAILED" : "ok");
    return g_failures != 0;
}
