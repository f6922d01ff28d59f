/* managed.c — unified memory as CUDA samples use it: allocate with cuMemAllocManaged, initialise
 * from the host through the pointer itself, prefetch and advise, let a kernel update it, read the
 * result on the host without any copy; range attributes report the advice. */
#include <string.h>

#include "entry_common.h"

int main(void) {
    make_context();
    CUmodule mod = NULL;
    CUfunction f = entry_kernel(&mod, "axpb");
    int v = 0, conc = 0;
    CHECK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY, 0));
    CHECK(cuDeviceGetAttribute(&conc, CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS, 0));
    EXPECT(v == 1 && conc == 1, "MANAGED_MEMORY %d CONCURRENT_MANAGED_ACCESS %d", v, conc);

    const size_t n = 1 << 18;
    CUdeviceptr d = 0;
    CHECK(cuMemAllocManaged(&d, n * 4, CU_MEM_ATTACH_GLOBAL));
    unsigned *p = (unsigned *)(uintptr_t)d; /* the same pointer on the host */
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned)(i * 7u);

    CUmemLocation dev0 = {CU_MEM_LOCATION_TYPE_DEVICE, 0};
    CHECK(cuMemAdvise(d, n * 4, CU_MEM_ADVISE_SET_READ_MOSTLY, dev0));
    CHECK(cuMemAdvise(d, n * 4, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, dev0));
    CHECK(cuMemAdvise(d, n * 4, CU_MEM_ADVISE_SET_ACCESSED_BY, dev0));
    CHECK(cuMemPrefetchAsync(d, n * 4, dev0, 0, NULL));
    /* the CUDA 8 forms, which take a device ordinal */
    typedef CUresult (*prefetch_v1)(CUdeviceptr, size_t, CUdevice, CUstream);
    void *fn = NULL;
    CUdriverProcAddressQueryResult st;
    CHECK(cuGetProcAddress("cuMemPrefetchAsync", &fn, 8000, CU_GET_PROC_ADDRESS_DEFAULT, &st));
    CHECK(((prefetch_v1)fn)(d, n * 4, 0, NULL));

    CHECK(entry_axpb(f, d, n, 1, 9, 2, 64, 256));
    CHECK(cuCtxSynchronize());
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += p[i] != (unsigned)(i * 7u) + 9u + 2u * (unsigned)i;
    EXPECT(bad == 0, "%zu of %zu managed words wrong after the kernel", bad, n);

    int rm = -1, pref = -9, last = -9, acc[2] = {-9, -9};
    CHECK(cuMemRangeGetAttribute(&rm, 4, CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, d, n * 4));
    CHECK(cuMemRangeGetAttribute(&pref, 4, CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION, d, n * 4));
    CHECK(cuMemRangeGetAttribute(&last, 4, CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, d, n * 4));
    CHECK(cuMemRangeGetAttribute(acc, 8, CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY, d, n * 4));
    EXPECT(rm == 1 && pref == 0 && last == 0 && acc[0] == 0 && acc[1] == CU_DEVICE_INVALID,
           "range attributes: read-mostly %d preferred %d last prefetch %d accessed-by {%d,%d}", rm, pref,
           last, acc[0], acc[1]);
    CUmemLocation host = {CU_MEM_LOCATION_TYPE_HOST, 0};
    CHECK(cuMemPrefetchAsync(d, n * 4, host, 0, NULL));
    CHECK(cuMemRangeGetAttribute(&last, 4, CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION, d, n * 4));
    EXPECT(last == CU_DEVICE_CPU, "last prefetch after prefetching to the host: %d", last);

    unsigned is_managed = 0;
    void *hp = NULL;
    CHECK(cuPointerGetAttribute(&is_managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, d + 16));
    CHECK(cuPointerGetAttribute(&hp, CU_POINTER_ATTRIBUTE_HOST_POINTER, d + 16));
    EXPECT(is_managed == 1 && hp == (void *)(p + 4), "IS_MANAGED %u host pointer %p", is_managed, hp);

    /* copies treat it as device memory too */
    unsigned w = 0;
    CHECK(cuMemcpyDtoH(&w, d + 4 * 100, 4));
    EXPECT(w == p[100], "cuMemcpyDtoH from managed memory");

    /* refusals: plain device memory is not managed; bad flags and advice */
    CUdeviceptr plain;
    CHECK(cuMemAlloc(&plain, 4096));
    EXPECT_CU(cuMemPrefetchAsync(plain, 4096, dev0, 0, NULL), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemRangeGetAttribute(&rm, 4, CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, plain, 4096),
              CUDA_ERROR_INVALID_VALUE);
    CUdeviceptr bad_alloc;
    EXPECT_CU(cuMemAllocManaged(&bad_alloc, 4096, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuMemAdvise(d, n * 4, (CUmem_advise)42, dev0), CUDA_ERROR_INVALID_VALUE);
    CHECK(cuMemFree(plain));
    CHECK(cuMemFree(d));
    EXPECT_CU(cuPointerGetAttribute(&is_managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, d),
              CUDA_ERROR_INVALID_VALUE);
    printf("managed: %s\n", g_failures ? "FAILED" : "ok");
    return g_failures != 0;
}
