/* stream_ordered.c — the stream-ordered allocator as a program uses it: allocations from the
 * device's default pool and from a pool of its own (with a size limit), made the device's current
 * pool, kernels working on that memory, the pool's usage figures, and the stream queries that
 * allocator clients make (capture status, stream/context ids, stream device). Results are checked
 * against a host computation. */
#include "programs_common.h" /* CHECK, REQUIRE */

/* out[i] = in[i] * 3 + i */
static const char *k_ptx =
    ".version 7.8\n.target sm_80\n.address_size 64\n"
    ".visible .entry triple(.param .u64 out, .param .u64 in, .param .u32 n)\n{\n"
    "  .reg .pred %p; .reg .b32 %r<6>; .reg .b64 %rd<8>; .reg .f32 %f<4>;\n"
    "  ld.param.u64 %rd1, [out]; ld.param.u64 %rd2, [in]; ld.param.u32 %r1, [n];\n"
    "  mov.u32 %r2, %ctaid.x; mov.u32 %r3, %ntid.x; mov.u32 %r4, %tid.x;\n"
    "  mad.lo.s32 %r5, %r2, %r3, %r4;\n"
    "  setp.ge.u32 %p, %r5, %r1; @%p bra DONE;\n"
    "  cvta.to.global.u64 %rd3, %rd1; cvta.to.global.u64 %rd4, %rd2;\n"
    "  mul.wide.u32 %rd5, %r5, 4; add.s64 %rd6, %rd4, %rd5; add.s64 %rd7, %rd3, %rd5;\n"
    "  ld.global.f32 %f1, [%rd6]; cvt.rn.f32.u32 %f2, %r5; fma.rn.f32 %f3, %f1, 0f40400000, %f2;\n"
    "  st.global.f32 [%rd7], %f3;\n"
    "DONE:\n  ret;\n}\n";

static cuuint64_t attr(CUmemoryPool pool, CUmemPool_attribute a) {
    cuuint64_t v = 0;
    CHECK(cuMemPoolGetAttribute(pool, a, &v));
    return v;
}

int main(void) {
    CHECK(cuInit(0));
    CUdevice dev;
    CHECK(cuDeviceGet(&dev, 0));
    int pools = 0;
    CHECK(cuDeviceGetAttribute(&pools, CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, dev));
    REQUIRE(pools == 1);
    CUcontext ctx;
    CHECK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CHECK(cuCtxSetCurrent(ctx));
    CUmodule mod;
    CHECK(cuModuleLoadData(&mod, k_ptx));
    CUfunction triple;
    CHECK(cuModuleGetFunction(&triple, mod, "triple"));
    CUstream s1, s2;
    CHECK(cuStreamCreate(&s1, CU_STREAM_NON_BLOCKING));
    CHECK(cuStreamCreate(&s2, 0));

    /* stream queries */
    CUstreamCaptureStatus cs = CU_STREAM_CAPTURE_STATUS_ACTIVE;
    CHECK(cuStreamIsCapturing(s1, &cs));
    REQUIRE(cs == CU_STREAM_CAPTURE_STATUS_NONE);
    cuuint64_t cap_id = 99;
    CHECK(cuStreamGetCaptureInfo(s2, &cs, &cap_id, NULL, NULL, NULL, NULL));
    REQUIRE(cs == CU_STREAM_CAPTURE_STATUS_NONE);
    unsigned long long id1, id2, id1b, cid, cidb;
    CHECK(cuStreamGetId(s1, &id1));
    CHECK(cuStreamGetId(s2, &id2));
    CHECK(cuStreamGetId(s1, &id1b));
    REQUIRE(id1 != id2 && id1 == id1b);
    CHECK(cuCtxGetId(ctx, &cid));
    CHECK(cuCtxGetId(NULL, &cidb));
    REQUIRE(cid == cidb);
    CUdevice sdev = -1;
    CHECK(cuStreamGetDevice(s2, &sdev));
    REQUIRE(sdev == dev);
    REQUIRE(cuStreamIsCapturing((CUstream)(uintptr_t)0x1234, &cs) == CUDA_ERROR_INVALID_HANDLE);

    /* default pool: cuMemAllocAsync, a kernel, cuMemFreeAsync */
    CUmemoryPool def, cur;
    CHECK(cuDeviceGetDefaultMemPool(&def, dev));
    CHECK(cuDeviceGetMemPool(&cur, dev));
    REQUIRE(cur == def);
    CUmemLocation loc = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = dev};
    CHECK(cuMemGetDefaultMemPool(&cur, &loc, CU_MEM_ALLOCATION_TYPE_PINNED));
    REQUIRE(cur == def);
    cuuint64_t used0 = attr(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT);
    enum { N = 10000 };
    static float h_in[N], h_out[N];
    for (int i = 0; i < N; i++)
        h_in[i] = (float)(i % 97) * 0.25f - 7.0f;
    size_t free0, total;
    CHECK(cuMemGetInfo(&free0, &total));
    CUdeviceptr d_in, d_out;
    CHECK(cuMemAllocAsync(&d_in, sizeof h_in, s1));
    CHECK(cuMemAllocAsync(&d_out, sizeof h_out, s1));
    size_t free1;
    CHECK(cuMemGetInfo(&free1, &total));
    REQUIRE(free0 - free1 >= 2 * sizeof h_in); /* accounted against the device */
    REQUIRE(attr(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == used0 + 2 * sizeof h_in);
    REQUIRE(attr(def, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT) >= attr(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT));
    CHECK(cuMemcpyHtoDAsync(d_in, h_in, sizeof h_in, s1));
    unsigned n = N;
    void *args[] = {&d_out, &d_in, &n};
    CHECK(cuLaunchKernel(triple, (N + 255) / 256, 1, 1, 256, 1, 1, 0, s1, args, NULL));
    CHECK(cuMemcpyDtoHAsync(h_out, d_out, sizeof h_out, s1));
    CHECK(cuMemFreeAsync(d_in, s1));
    CHECK(cuMemFreeAsync(d_out, s1));
    CHECK(cuStreamSynchronize(s1));
    for (int i = 0; i < N; i++)
        REQUIRE(h_out[i] == h_in[i] * 3.0f + (float)i);
    REQUIRE(attr(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == used0);
    REQUIRE(attr(def, CU_MEMPOOL_ATTR_USED_MEM_HIGH) >= used0 + 2 * sizeof h_in);
    size_t free2;
    CHECK(cuMemGetInfo(&free2, &total));
    REQUIRE(free2 == free0);
    CHECK(cuMemPoolTrimTo(def, 0));

    /* a pool of its own, limited to 64 KiB */
    CUmemPoolProps props;
    memset(&props, 0, sizeof props);
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.handleTypes = CU_MEM_HANDLE_TYPE_NONE;
    props.location = loc;
    props.maxSize = 64 << 10;
    CUmemoryPool pool;
    CHECK(cuMemPoolCreate(&pool, &props));
    cuuint64_t thr = 1ull << 30;
    CHECK(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &thr));
    REQUIRE(attr(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD) == thr);
    int reuse = 0;
    CHECK(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &reuse));
    reuse = 1;
    CHECK(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &reuse));
    REQUIRE(reuse == 0);
    cuuint64_t nonzero = 5;
    REQUIRE(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &nonzero) == CUDA_ERROR_INVALID_VALUE);
    REQUIRE(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &nonzero) ==
            CUDA_ERROR_INVALID_VALUE);
    CUdeviceptr a, b, c;
    CHECK(cuMemAllocFromPoolAsync(&a, 40000, pool, s2));
    REQUIRE(cuMemAllocFromPoolAsync(&b, 40000, pool, s2) == CUDA_ERROR_OUT_OF_MEMORY);
    CHECK(cuDeviceSetMemPool(dev, pool));
    CHECK(cuMemAllocAsync(&b, 20000, s2)); /* from the current pool */
    REQUIRE(attr(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 60000);
    REQUIRE(attr(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == used0);
    REQUIRE(cuMemAllocAsync(&c, 10000, s2) == CUDA_ERROR_OUT_OF_MEMORY);
    CUmemAccess_flags fl;
    CHECK(cuMemPoolGetAccess(&fl, pool, &loc));
    REQUIRE(fl == CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    CUmemAccessDesc desc = {.location = loc, .flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    CHECK(cuMemPoolSetAccess(pool, &desc, 1));
    /* memory from the pool works with a kernel and a plain cuMemFree */
    static float h_small[5000], h_res[5000];
    for (int i = 0; i < 5000; i++)
        h_small[i] = (float)i;
    CHECK(cuMemcpyHtoDAsync(b, h_small, sizeof h_small, s2));
    unsigned m = 5000;
    void *args2[] = {&a, &b, &m};
    CHECK(cuLaunchKernel(triple, (5000 + 127) / 128, 1, 1, 128, 1, 1, 0, s2, args2, NULL));
    CHECK(cuMemcpyDtoHAsync(h_res, a, sizeof h_res, s2));
    CHECK(cuStreamSynchronize(s2));
    for (int i = 0; i < 5000; i++)
        REQUIRE(h_res[i] == (float)i * 4.0f);
    CHECK(cuMemFree(b));
    REQUIRE(attr(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 40000);
    REQUIRE(attr(pool, CU_MEMPOOL_ATTR_USED_MEM_HIGH) == 60000);
    cuuint64_t zero = 0;
    CHECK(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &zero));
    REQUIRE(attr(pool, CU_MEMPOOL_ATTR_USED_MEM_HIGH) == 40000);
    /* destroying the default pool is refused; destroying the current one reverts to the default,
     * and its outstanding allocation stays usable until freed */
    REQUIRE(cuMemPoolDestroy(def) == CUDA_ERROR_INVALID_VALUE);
    CHECK(cuMemPoolDestroy(pool));
    REQUIRE(cuMemPoolTrimTo(pool, 0) == CUDA_ERROR_INVALID_VALUE);
    CHECK(cuDeviceGetMemPool(&cur, dev));
    REQUIRE(cur == def);
    CHECK(cuMemsetD32Async(a, 7, 10, s2));
    CHECK(cuMemFreeAsync(a, s2));
    CHECK(cuStreamSynchronize(s2));
    /* a host pool: page-locked host memory whose pointer the host uses directly */
    CUmemPoolProps hprops;
    memset(&hprops, 0, sizeof hprops);
    hprops.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    hprops.location.type = CU_MEM_LOCATION_TYPE_HOST_NUMA;
    hprops.location.id = 0;
    int host_pools = 0;
    CHECK(cuDeviceGetAttribute(&host_pools, CU_DEVICE_ATTRIBUTE_HOST_NUMA_MEMORY_POOLS_SUPPORTED, dev));
    REQUIRE(host_pools == 1);
    CUmemoryPool hpool;
    CHECK(cuMemPoolCreate(&hpool, &hprops));
    CHECK(cuMemPoolGetAccess(&fl, hpool, &loc));
    REQUIRE(fl == CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    CUdeviceptr hp, dp;
    CHECK(cuMemAllocFromPoolAsync(&hp, 1000 * sizeof(int), hpool, s1));
    REQUIRE(attr(hpool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 1000 * sizeof(int));
    int *hints = (int *)(uintptr_t)hp;
    for (int i = 0; i < 1000; i++)
        hints[i] = i * i;
    CHECK(cuMemAllocAsync(&dp, 1000 * sizeof(int), s1));
    CHECK(cuMemcpyHtoDAsync(dp, hints, 1000 * sizeof(int), s1));
    static int back[1000];
    CHECK(cuMemcpyDtoHAsync(back, dp, sizeof back, s1));
    CHECK(cuStreamSynchronize(s1));
    for (int i = 0; i < 1000; i++)
        REQUIRE(back[i] == i * i);
    CHECK(cuMemFreeAsync(dp, s1));
    CHECK(cuMemFreeAsync(hp, s1));
    REQUIRE(attr(hpool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 0);
    REQUIRE(cuDeviceSetMemPool(dev, hpool) == CUDA_ERROR_INVALID_VALUE); /* not a device pool */
    hprops.location.id = 3;
    REQUIRE(cuMemPoolCreate(&pool, &hprops) == CUDA_ERROR_INVALID_VALUE); /* no such NUMA node */
    CHECK(cuMemPoolDestroy(hpool));

    /* a managed pool without a preferred location: one pointer for host and kernels */
    CUmemLocation none = {.type = CU_MEM_LOCATION_TYPE_NONE, .id = 0};
    CUmemoryPool mdef, mcur;
    CHECK(cuMemGetDefaultMemPool(&mdef, &none, CU_MEM_ALLOCATION_TYPE_MANAGED));
    CHECK(cuMemGetMemPool(&mcur, &none, CU_MEM_ALLOCATION_TYPE_MANAGED));
    REQUIRE(mcur == mdef && mdef != def);
    REQUIRE(cuMemGetDefaultMemPool(&mcur, &none, CU_MEM_ALLOCATION_TYPE_PINNED) == CUDA_ERROR_INVALID_VALUE);
    CUdeviceptr m_in, m_out;
    CHECK(cuMemAllocFromPoolAsync(&m_in, 2000 * sizeof(float), mdef, s1));
    CHECK(cuMemAllocFromPoolAsync(&m_out, 2000 * sizeof(float), mdef, s1));
    REQUIRE(attr(mdef, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) >= 4000 * sizeof(float));
    float *mi = (float *)(uintptr_t)m_in, *mo = (float *)(uintptr_t)m_out;
    for (int i = 0; i < 2000; i++)
        mi[i] = (float)(i % 13);
    unsigned mn = 2000;
    void *args3[] = {&m_out, &m_in, &mn};
    CHECK(cuLaunchKernel(triple, (2000 + 255) / 256, 1, 1, 256, 1, 1, 0, s1, args3, NULL));
    CHECK(cuStreamSynchronize(s1));
    for (int i = 0; i < 2000; i++)
        REQUIRE(mo[i] == (float)(i % 13) * 3.0f + (float)i);
    CHECK(cuMemFreeAsync(m_in, s1));
    CHECK(cuMemFreeAsync(m_out, s1));
    REQUIRE(attr(mdef, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 0);

    /* bad input changes nothing */
    REQUIRE(cuDeviceSetMemPool(dev, NULL) == CUDA_ERROR_INVALID_VALUE);
    if (programs_on_cudaemu()) { /* cudaemu has no shareable handles; a GPU's driver has */
        props.handleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
        REQUIRE(cuMemPoolCreate(&pool, &props) == CUDA_ERROR_NOT_SUPPORTED);
        props.handleTypes = CU_MEM_HANDLE_TYPE_NONE;
    }
    props.location.id = 1000;
    REQUIRE(cuMemPoolCreate(&pool, &props) == CUDA_ERROR_INVALID_DEVICE);
    REQUIRE(cuMemAllocAsync(&c, 0, s1) == CUDA_ERROR_INVALID_VALUE);

    CHECK(cuStreamDestroy(s1));
    CHECK(cuStreamDestroy(s2));
    CHECK(cuModuleUnload(mod));
    CHECK(cuDevicePrimaryCtxRelease(dev));
    printf("stream_ordered: ok\n");
    return 0;
}
