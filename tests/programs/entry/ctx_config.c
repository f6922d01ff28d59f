/* ctx_config.c — the context and device queries programs make at start-up: cache and shared-memory
 * configuration, limits, stream priorities, flags, context ids, the texture linear width, and the
 * answer (CUDA_ERROR_NOT_SUPPORTED) of entry points cudaemu does not provide. */
/* shared-memory bank configuration is deprecated API, still used by older programs */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <string.h>

#include "entry_common.h"

int main(void) {
    CUcontext ctx = make_context();
    CUfunc_cache cc;
    CHECK(cuCtxSetCacheConfig(CU_FUNC_CACHE_PREFER_SHARED));
    CHECK(cuCtxGetCacheConfig(&cc));
    EXPECT(cc == CU_FUNC_CACHE_PREFER_SHARED, "cache config %d", (int)cc);
    EXPECT_CU(cuCtxSetCacheConfig((CUfunc_cache)9), CUDA_ERROR_INVALID_VALUE);
    CUsharedconfig sc;
    CHECK(cuCtxGetSharedMemConfig(&sc));
    EXPECT(sc == CU_SHARED_MEM_CONFIG_FOUR_BYTE_BANK_SIZE, "shared config %d", (int)sc);
    CHECK(cuCtxSetSharedMemConfig(CU_SHARED_MEM_CONFIG_EIGHT_BYTE_BANK_SIZE));
    CHECK(cuCtxGetSharedMemConfig(&sc));
    EXPECT(sc == CU_SHARED_MEM_CONFIG_EIGHT_BYTE_BANK_SIZE, "shared config after set %d", (int)sc);

    size_t v = 0;
    CHECK(cuCtxSetLimit(CU_LIMIT_STACK_SIZE, 4096));
    CHECK(cuCtxGetLimit(&v, CU_LIMIT_STACK_SIZE));
    EXPECT(v == 4096, "stack limit %zu", v);
    CHECK(cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 64u << 20));
    CHECK(cuCtxGetLimit(&v, CU_LIMIT_MALLOC_HEAP_SIZE));
    EXPECT(v == 64u << 20, "heap limit %zu", v);
    CHECK(cuCtxGetLimit(&v, CU_LIMIT_PRINTF_FIFO_SIZE));
    EXPECT(v > 0, "printf fifo %zu", v);
    CHECK(cuCtxGetLimit(&v, CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT));
    EXPECT(v == 2048, "pending launch count %zu", v);
    EXPECT_CU(cuCtxSetLimit(CU_LIMIT_MAX_L2_FETCH_GRANULARITY, 256), CUDA_ERROR_INVALID_VALUE);
    EXPECT_CU(cuCtxSetLimit((CUlimit)77, 1), CUDA_ERROR_UNSUPPORTED_LIMIT);

    int lo = 1, hi = 1;
    CHECK(cuCtxGetStreamPriorityRange(&lo, &hi));
    EXPECT(lo == 0 && hi < 0, "priority range %d..%d", lo, hi);

    unsigned fl = 0;
    CHECK(cuCtxSetFlags(CU_CTX_SCHED_BLOCKING_SYNC));
    CHECK(cuCtxGetFlags(&fl));
    EXPECT((fl & CU_CTX_SCHED_MASK) == CU_CTX_SCHED_BLOCKING_SYNC, "flags 0x%x", fl);
    EXPECT_CU(cuCtxSetFlags(CU_CTX_LMEM_RESIZE_TO_MAX), CUDA_ERROR_INVALID_VALUE);

    unsigned long long id1 = 0, id2 = 0, idc = 0;
    CUcontext other;
    CHECK(cuCtxCreate(&other, NULL, 0, 0)); /* becomes current */
    CHECK(cuCtxGetId(ctx, &id1));
    CHECK(cuCtxGetId(other, &id2));
    CHECK(cuCtxGetId(NULL, &idc));
    EXPECT(id1 && id2 && id1 != id2 && idc == id2, "context ids %llu %llu current %llu", id1, id2, idc);
    /* pinned memory belongs to its context: destroying the context frees it */
    void *pinned = NULL;
    CHECK(cuMemHostAlloc(&pinned, 4096, 0));
    CHECK(cuCtxDestroy(other));
    CHECK(cuCtxSetCurrent(ctx));
    CUcontext owner = ctx;
    EXPECT_CU(cuPointerGetAttribute(&owner, CU_POINTER_ATTRIBUTE_CONTEXT, (CUdeviceptr)(uintptr_t)pinned),
              CUDA_ERROR_INVALID_VALUE);
    CHECK(cuCtxResetPersistingL2Cache());

    size_t w = 0;
    CHECK(cuDeviceGetTexture1DLinearMaxWidth(&w, CU_AD_FORMAT_FLOAT, 4, 0));
    EXPECT(w >= (1u << 27), "texture 1D linear width %zu", w);
    EXPECT_CU(cuDeviceGetTexture1DLinearMaxWidth(&w, CU_AD_FORMAT_FLOAT, 3, 0), CUDA_ERROR_INVALID_VALUE);

    /* an entry point cudaemu does not provide still exists and says so */
    CUgraph g = NULL;
    if (programs_on_cudaemu()) EXPECT_CU(cuGraphCreate(&g, 0), CUDA_ERROR_NOT_SUPPORTED);
    void *fn = NULL;
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    CHECK(cuGetProcAddress("cuGraphCreate", &fn, 10000, CU_GET_PROC_ADDRESS_DEFAULT, &st));
    EXPECT(fn && st == CU_GET_PROC_ADDRESS_SUCCESS, "cuGraphCreate through cuGetProcAddress");
    /* per-thread default stream variants resolve to their _ptsz/_ptds forms */
    void *pt = NULL, *legacy = NULL;
    CHECK(cuGetProcAddress("cuMemcpyHtoD", &pt, 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st));
    CHECK(cuGetProcAddress("cuMemcpyHtoD", &legacy, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st));
    EXPECT(pt && legacy && pt != legacy, "cuMemcpyHtoD per-thread variant");
    printf("ctx_config: %s\n", g_failures ? "FAILED" : "ok");
    return g_failures != 0;
}
