/* stream_ordered.c — the stream-ordered allocator as a program uses it: allocations from the
 * device's default pool and from a pool of its own (with a size limit), made the device's current
 * pool, kernels working on that memory, the pool's usage figures, and the stream queries that
 * allocator clients make (capture status, stream/context ids, stream device). Results are checked
 * against a host computation. */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK(call)                                                                                        \
    do {                                                                                                \
        CUresult r_ = (call);                                                                           \
        if (r_ != CUDA_SUCCESS) {                                                                       \
            const char *n_ = NULL;                                                                      \
            cuGetErrorName(r_, &n_);                                                                    \
            fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #call, n_ ? n_ : "?");             \
            exit(1);                                                                                    \
        }                                                                                               \
    } while (0)
#define EXPECT(cond)                                                                                    \
    do {                                                                                                \
        if (!(cond)) {                                                                                  \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);                         \
            exit(1);                                                                                    \
        }                                                                                               \
    } while (0)

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

static cuuint64_t attr(CUmemoryPool pool, CUmemPool_attribute a)
{
    cuuint64_t v = 0;
    CK(cuMemPoolGetAttribute(pool, a, &v));
    return v;
}

int main(void)
{
    CK(cuInit(0));
    CUdevice dev;
    CK(cuDeviceGet(&dev, 0));
    int pools = 0;
    CK(cuDeviceGetAttribute(&pools, CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, dev));
    EXPECT(pools == 1);
    CUcontext ctx;
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    CUmodule mod;
    CK(cuModuleLoadData(&mod, k_ptx));
    CUfunction triple;
    CK(cuModuleGetFunction(&triple, mod, "triple"));
    CUstream s1, s2;
    CK(cuStreamCreate(&s1, CU_STREAM_NON_BLOCKING));
    CK(cuStreamCreate(&s2, 0));

    /* stream queries */
    CUstreamCaptureStatus cs = CU_STREAM_CAPTURE_STATUS_ACTIVE;
    CK(cuStreamIsCapturing(s1, &cs));
    EXPECT(cs == CU_STREAM_CAPTURE_STATUS_NONE);
    cuuint64_t cap_id = 99;
    CK(cuStreamGetCaptureInfo(s2, &cs, &cap_id, NULL, NULL, NULL, NULL));
    EXPECT(cs == CU_STREAM_CAPTURE_STATUS_NONE);
    unsigned long long id1, id2, id1b, cid, cidb;
    CK(cuStreamGetId(s1, &id1));
    CK(cuStreamGetId(s2, &id2));
    CK(cuStreamGetId(s1, &id1b));
    EXPECT(id1 != id2 && id1 == id1b);
    CK(cuCtxGetId(ctx, &cid));
    CK(cuCtxGetId(NULL, &cidb));
    EXPECT(cid == cidb);
    CUdevice sdev = -1;
    CK(cuStreamGetDevice(s2, &sdev));
    EXPECT(sdev == dev);
    EXPECT(cuStreamIsCapturing((CUstream)(uintptr_t)0x1234, &cs) == CUDA_ERROR_INVALID_HANDLE);

    /* default pool: cuMemAllocAsync, a kernel, cuMemFreeAsync */
    CUmemoryPool def, cur;
    CK(cuDeviceGetDefaultMemPool(&def, dev));
    CK(cuDeviceGetMemPool(&cur, dev));
    EXPECT(cur == def);
    CUmemLocation loc = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = dev};
    CK(cuMemGetDefaultMemPool(&cur, &loc, CU_MEM_ALLOCATION_TYPE_PINNED));
    EXPECT(cur == def);
    cuuint64_t used0 = attr(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT);
    enum { N = 10000 };
    static float h_in[N], h_out[N];
    for (int i = 0; i < N; i++) h_in[i] = (float)(i % 97) * 0.25f - 7.0f;
    size_t free0, total;
    CK(cuMemGetInfo(&free0, &total));
    CUdeviceptr d_in, d_out;
    CK(cuMemAllocAsync(&d_in, sizeof h_in, s1));
    CK(cuMemAllocAsync(&d_out, sizeof h_out, s1));
    size_t free1;
    CK(cuMemGetInfo(&free1, &total));
    EXPECT(free0 - free1 >= 2 * sizeof h_in); /* accounted against the device */
    EXPECT(attr(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == used0 + 2 * sizeof h_in);
    EXPECT(attr(def, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT) >= attr(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT));
    CK(cuMemcpyHtoDAsync(d_in, h_in, sizeof h_in, s1));
    unsigned n = N;
    void *args[] = {&d_out, &d_in, &n};
    CK(cuLaunchKernel(triple, (N + 255) / 256, 1, 1, 256, 1, 1, 0, s1, args, NULL));
    CK(cuMemcpyDtoHAsync(h_out, d_out, sizeof h_out, s1));
    CK(cuMemFreeAsync(d_in, s1));
    CK(cuMemFreeAsync(d_out, s1));
    CK(cuStreamSynchronize(s1));
    for (int i = 0; i < N; i++) EXPECT(h_out[i] == h_in[i] * 3.0f + (float)i);
    EXPECT(attr(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == used0);
    EXPECT(attr(def, CU_MEMPOOL_ATTR_USED_MEM_HIGH) >= used0 + 2 * sizeof h_in);
    size_t free2;
    CK(cuMemGetInfo(&free2, &total));
    EXPECT(free2 == free0);
    CK(cuMemPoolTrimTo(def, 0));

    /* a pool of its own, limited to 64 KiB */
    CUmemPoolProps props;
    memset(&props, 0, sizeof props);
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.handleTypes = CU_MEM_HANDLE_TYPE_NONE;
    props.location = loc;
    props.maxSize = 64 << 10;
    CUmemoryPool pool;
    CK(cuMemPoolCreate(&pool, &props));
    cuuint64_t thr = 1ull << 30;
    CK(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &thr));
    EXPECT(attr(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD) == thr);
    int reuse = 0;
    CK(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &reuse));
    reuse = 1;
    CK(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC, &reuse));
    EXPECT(reuse == 0);
    cuuint64_t nonzero = 5;
    EXPECT(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &nonzero) == CUDA_ERROR_INVALID_VALUE);
    EXPECT(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &nonzero) == CUDA_ERROR_INVALID_VALUE);
    CUdeviceptr a, b, c;
    CK(cuMemAllocFromPoolAsync(&a, 40000, pool, s2));
    EXPECT(cuMemAllocFromPoolAsync(&b, 40000, pool, s2) == CUDA_ERROR_OUT_OF_MEMORY);
    CK(cuDeviceSetMemPool(dev, pool));
    CK(cuMemAllocAsync(&b, 20000, s2)); /* from the current pool */
    EXPECT(attr(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 60000);
    EXPECT(attr(def, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == used0);
    EXPECT(cuMemAllocAsync(&c, 10000, s2) == CUDA_ERROR_OUT_OF_MEMORY);
    CUmemAccess_flags fl;
    CK(cuMemPoolGetAccess(&fl, pool, &loc));
    EXPECT(fl == CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    CUmemAccessDesc desc = {.location = loc, .flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    CK(cuMemPoolSetAccess(pool, &desc, 1));
    /* memory from the pool works with a kernel and a plain cuMemFree */
    static float h_small[5000], h_res[5000];
    for (int i = 0; i < 5000; i++) h_small[i] = (float)i;
    CK(cuMemcpyHtoDAsync(b, h_small, sizeof h_small, s2));
    unsigned m = 5000;
    void *args2[] = {&a, &b, &m};
    CK(cuLaunchKernel(triple, (5000 + 127) / 128, 1, 1, 128, 1, 1, 0, s2, args2, NULL));
    CK(cuMemcpyDtoHAsync(h_res, a, sizeof h_res, s2));
    CK(cuStreamSynchronize(s2));
    for (int i = 0; i < 5000; i++) EXPECT(h_res[i] == (float)i * 4.0f);
    CK(cuMemFree(b));
    EXPECT(attr(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 40000);
    EXPECT(attr(pool, CU_MEMPOOL_ATTR_USED_MEM_HIGH) == 60000);
    cuuint64_t zero = 0;
    CK(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &zero));
    EXPECT(attr(pool, CU_MEMPOOL_ATTR_USED_MEM_HIGH) == 40000);
    /* destroying the default pool is refused; destroying the current one reverts to the default,
     * and its outstanding allocation stays usable until freed */
    EXPECT(cuMemPoolDestroy(def) == CUDA_ERROR_INVALID_VALUE);
    CK(cuMemPoolDestroy(pool));
    EXPECT(cuMemPoolTrimTo(pool, 0) == CUDA_ERROR_INVALID_VALUE);
    CK(cuDeviceGetMemPool(&cur, dev));
    EXPECT(cur == def);
    CK(cuMemsetD32Async(a, 7, 10, s2));
    CK(cuMemFreeAsync(a, s2));
    CK(cuStreamSynchronize(s2));
    /* a host pool: page-locked host memory whose pointer the host uses directly */
    CUmemPoolProps hprops;
    memset(&hprops, 0, sizeof hprops);
    hprops.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    hprops.location.type = CU_MEM_LOCATION_TYPE_HOST_NUMA;
    hprops.location.id = 0;
    int host_pools = 0;
    CK(cuDeviceGetAttribute(&host_pools, CU_DEVICE_ATTRIBUTE_HOST_NUMA_MEMORY_POOLS_SUPPORTED, dev));
    EXPECT(host_pools == 1);
    CUmemoryPool hpool;
    CK(cuMemPoolCreate(&hpool, &hprops));
    CK(cuMemPoolGetAccess(&fl, hpool, &loc));
    EXPECT(fl == CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    CUdeviceptr hp, dp;
    CK(cuMemAllocFromPoolAsync(&hp, 1000 * sizeof(int), hpool, s1));
    EXPECT(attr(hpool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 1000 * sizeof(int));
    int *hints = (int *)(uintptr_t)hp;
    for (int i = 0; i < 1000; i++) hints[i] = i * i;
    CK(cuMemAllocAsync(&dp, 1000 * sizeof(int), s1));
    CK(cuMemcpyHtoDAsync(dp, hints, 1000 * sizeof(int), s1));
    static int back[1000];
    CK(cuMemcpyDtoHAsync(back, dp, sizeof back, s1));
    CK(cuStreamSynchronize(s1));
    for (int i = 0; i < 1000; i++) EXPECT(back[i] == i * i);
    CK(cuMemFreeAsync(dp, s1));
    CK(cuMemFreeAsync(hp, s1));
    EXPECT(attr(hpool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 0);
    EXPECT(cuDeviceSetMemPool(dev, hpool) == CUDA_ERROR_INVALID_VALUE); /* not a device pool */
    hprops.location.id = 3;
    EXPECT(cuMemPoolCreate(&pool, &hprops) == CUDA_ERROR_INVALID_VALUE); /* no such NUMA node */
    CK(cuMemPoolDestroy(hpool));

    /* a managed pool without a preferred location: one pointer for host and kernels */
    CUmemLocation none = {.type = CU_MEM_LOCATION_TYPE_NONE, .id = 0};
    CUmemoryPool mdef, mcur;
    CK(cuMemGetDefaultMemPool(&mdef, &none, CU_MEM_ALLOCATION_TYPE_MANAGED));
    CK(cuMemGetMemPool(&mcur, &none, CU_MEM_ALLOCATION_TYPE_MANAGED));
    EXPECT(mcur == mdef && mdef != def);
    EXPECT(cuMemGetDefaultMemPool(&mcur, &none, CU_MEM_ALLOCATION_TYPE_PINNED) == CUDA_ERROR_INVALID_VALUE);
    CUdeviceptr m_in, m_out;
    CK(cuMemAllocFromPoolAsync(&m_in, 2000 * sizeof(float), mdef, s1));
    CK(cuMemAllocFromPoolAsync(&m_out, 2000 * sizeof(float), mdef, s1));
    EXPECT(attr(mdef, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) >= 4000 * sizeof(float));
    float *mi = (float *)(uintptr_t)m_in, *mo = (float *)(uintptr_t)m_out;
    for (int i = 0; i < 2000; i++) mi[i] = (float)(i % 13);
    unsigned mn = 2000;
    void *args3[] = {&m_out, &m_in, &mn};
    CK(cuLaunchKernel(triple, (2000 + 255) / 256, 1, 1, 256, 1, 1, 0, s1, args3, NULL));
    CK(cuStreamSynchronize(s1));
    for (int i = 0; i < 2000; i++) EXPECT(mo[i] == (float)(i % 13) * 3.0f + (float)i);
    CK(cuMemFreeAsync(m_in, s1));
    CK(cuMemFreeAsync(m_out, s1));
    EXPECT(attr(mdef, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 0);

    /* bad input changes nothing */
    EXPECT(cuDeviceSetMemPool(dev, NULL) == CUDA_ERROR_INVALID_VALUE);
    props.handleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    EXPECT(cuMemPoolCreate(&pool, &props) == CUDA_ERROR_NOT_SUPPORTED);
    props.handleTypes = CU_MEM_HANDLE_TYPE_NONE;
    props.location.id = 1000;
    EXPECT(cuMemPoolCreate(&pool, &props) == CUDA_ERROR_INVALID_DEVICE);
    EXPECT(cuMemAllocAsync(&c, 0, s1) == CUDA_ERROR_INVALID_VALUE);

    CK(cuStreamDestroy(s1));
    CK(cuStreamDestroy(s2));
    CK(cuModuleUnload(mod));
    CK(cuDevicePrimaryCtxRelease(dev));
    printf("stream_ordered: ok\n");
    return 0;
}
