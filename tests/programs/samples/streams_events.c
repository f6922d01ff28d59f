/* streams_events.c — simpleStreams/simpleCallback's shape: four non-blocking streams each copy pinned
 * input up, run a kernel and copy the result back, recording an event; a fifth stream waits on the
 * four events (cuStreamWaitEvent) and sums the four device arrays through an array of device
 * pointers that was copied up asynchronously from pageable memory which the program reuses at once
 * (allowed: such a copy has taken its bytes when it returns). Plus cuMemsetD32Async,
 * cuMemcpyDtoDAsync, cuLaunchHostFunc, event timing and stream/event queries. argv[1]: the PTX. */
#include "programs_common.h"

#include <stdint.h>

#define NS 4
#define N 4096
#define ROUNDS 5

static int g_host_calls;
static void CUDA_CB host_fn(void *user) { g_host_calls += *(int *)user; }

static int32_t expect_value(int32_t v, int seed) {
    uint32_t x = (uint32_t)v;
    for (int r = 0; r < ROUNDS; r++)
        x = x * 3u + (uint32_t)seed;
    return (int32_t)x;
}

int main(int argc, char **argv) {
    REQUIRE(argc >= 2, "usage: streams_events PTX");
    make_context();
    char *ptx = read_file(argv[1], NULL);
    CUmodule mod;
    CHECK(cuModuleLoadData(&mod, ptx));
    free(ptx);
    CUfunction work, sum;
    CHECK(cuModuleGetFunction(&work, mod, "stream_work"));
    CHECK(cuModuleGetFunction(&sum, mod, "sum_parts"));

    CUstream st[NS + 1];
    CUevent done[NS], start, stop;
    for (int s = 0; s <= NS; s++)
        CHECK(cuStreamCreate(&st[s], CU_STREAM_NON_BLOCKING));
    for (int s = 0; s < NS; s++)
        CHECK(cuEventCreate(&done[s], CU_EVENT_DISABLE_TIMING));
    CHECK(cuEventCreate(&start, CU_EVENT_DEFAULT));
    CHECK(cuEventCreate(&stop, CU_EVENT_DEFAULT));

    int32_t *in[NS], *out[NS];
    CUdeviceptr dv[NS], dcopy;
    size_t bytes = sizeof(int32_t) * N;
    for (int s = 0; s < NS; s++) {
        CHECK(cuMemHostAlloc((void **)&in[s], bytes, 0));
        CHECK(cuMemAllocHost((void **)&out[s], bytes));
        for (int i = 0; i < N; i++)
            in[s][i] = (int32_t)(i * (s + 1)) - 1000 * s;
        CHECK(cuMemAlloc(&dv[s], bytes));
    }
    CHECK(cuMemAlloc(&dcopy, bytes));
    CHECK(cuEventRecord(start, st[0]));
    CHECK(cuMemsetD32Async(dcopy, 0xdeadbeefu, N, st[0]));
    for (int s = 0; s < NS; s++) {
        int seed = 11 * s + 1, n = N, rounds = ROUNDS;
        CHECK(cuMemcpyHtoDAsync(dv[s], in[s], bytes, st[s]));
        void *args[] = {&dv[s], &n, &seed, &rounds};
        CHECK(cuLaunchKernel(work, N / 256, 1, 1, 256, 1, 1, 0, st[s], args, NULL));
        CHECK(cuMemcpyDtoHAsync(out[s], dv[s], bytes, st[s]));
        CHECK(cuEventRecord(done[s], st[s]));
    }
    /* The device pointer array, from pageable memory that is overwritten right after the call. */
    CUdeviceptr *parts = malloc(sizeof(CUdeviceptr) * NS);
    for (int s = 0; s < NS; s++)
        parts[s] = dv[s];
    CUdeviceptr dparts, dsums;
    CHECK(cuMemAlloc(&dparts, sizeof(CUdeviceptr) * NS));
    CHECK(cuMemAlloc(&dsums, sizeof(long long) * NS));
    CHECK(cuMemcpyHtoDAsync(dparts, parts, sizeof(CUdeviceptr) * NS, st[NS]));
    memset(parts, 0, sizeof(CUdeviceptr) * NS);
    for (int s = 0; s < NS; s++)
        CHECK(cuStreamWaitEvent(st[NS], done[s], 0));
    int n = N;
    void *sargs[] = {&dparts, &n, &dsums};
    CHECK(cuLaunchKernel(sum, NS, 1, 1, 256, 1, 1, 0, st[NS], sargs, NULL));
    CHECK(cuMemcpyDtoDAsync(dcopy, dv[NS - 1], bytes, st[NS]));
    int one = 1;
    CHECK(cuLaunchHostFunc(st[NS], host_fn, &one));
    long long sums[NS];
    CHECK(cuMemcpyDtoHAsync(sums, dsums, sizeof sums, st[NS]));
    CHECK(cuEventRecord(stop, st[NS]));
    CUresult q = cuEventQuery(stop);
    EXPECT(q == CUDA_SUCCESS || q == CUDA_ERROR_NOT_READY, "cuEventQuery before the work is done: %s",
           cu_name(q));
    CHECK(cuEventSynchronize(stop));
    CHECK(cuStreamSynchronize(st[NS]));
    for (int s = 0; s <= NS; s++)
        EXPECT_CU(cuStreamQuery(st[s]), CUDA_SUCCESS);
    EXPECT_CU(cuEventQuery(stop), CUDA_SUCCESS);
    float ms = -1.0f;
    CHECK(cuEventElapsedTime(&ms, start, stop));
    EXPECT(ms >= 0.0f && ms < 60000.0f, "elapsed %g ms", ms);
    EXPECT_CU(cuEventElapsedTime(&ms, done[0], stop), CUDA_ERROR_INVALID_HANDLE);
    EXPECT(g_host_calls == 1, "host function ran %d times", g_host_calls);

    int bad = 0;
    for (int s = 0; s < NS; s++) {
        long long want_sum = 0;
        for (int i = 0; i < N; i++) {
            int32_t want = expect_value(in[s][i], 11 * s + 1);
            want_sum += want;
            if (out[s][i] != want && bad++ < 5)
                fprintf(stderr, "stream %d [%d] = %d, want %d\n", s, i, out[s][i], want);
        }
        EXPECT(sums[s] == want_sum, "sum of part %d: %lld, want %lld", s, sums[s], want_sum);
    }
    EXPECT(bad == 0, "%d wrong elements", bad);
    int32_t *copy = malloc(bytes);
    CHECK(cuMemcpyDtoH(copy, dcopy, bytes));
    EXPECT(memcmp(copy, out[NS - 1], bytes) == 0, "the device-to-device copy matches stream %d's result",
           NS - 1);
    free(copy);
    free(parts);

    for (int s = 0; s < NS; s++) {
        CHECK(cuMemFreeHost(in[s]));
        CHECK(cuMemFreeHost(out[s]));
        CHECK(cuMemFree(dv[s]));
        CHECK(cuEventDestroy(done[s]));
    }
    for (int s = 0; s <= NS; s++)
        CHECK(cuStreamDestroy(st[s]));
    CHECK(cuMemFree(dcopy));
    CHECK(cuMemFree(dparts));
    CHECK(cuMemFree(dsums));
    CHECK(cuEventDestroy(start));
    CHECK(cuEventDestroy(stop));
    CHECK(cuModuleUnload(mod));
    if (g_failures) return 1;
    printf("streams_events: %d streams, %.3f ms between the events, PASS\n", NS + 1, ms);
    return 0;
}
