/* SPDX-License-Identifier: Apache-2.0
 * streams.cu — overlapping work the way NVIDIA's simpleStreams/asyncAPI samples write it: pinned host
 * memory (cudaMallocHost, cudaHostAlloc), one chunk per stream with cudaMemcpyAsync in, a kernel and
 * cudaMemcpyAsync out, a stream that waits on another's event (cudaStreamWaitEvent), a host function
 * in stream order (cudaLaunchHostFunc), cudaStreamQuery/cudaEventQuery after synchronisation,
 * event timing, the legacy default stream and a cudaStreamNonBlocking stream. Results checked on
 * the host. */
#include "rt_common.h"

#include <string.h>

__global__ void scale_add(float *x, int n, float mul, float add)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) x[i] = x[i] * mul + add;
}

__global__ void combine(const float *a, const float *b, float *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a[i] - b[i];
}

static volatile int g_host_calls;
static int g_host_saw_results;
static float *g_host_check;

static void CUDART_CB host_fn(void *arg)
{
    /* runs after the stream's earlier copies: the chunk is already back in pinned memory */
    int n = *(int *)arg;
    int ok = 1;
    for (int i = 0; i < n; i++)
        if (g_host_check[i] != (float)i * 2.0f + 1.0f) ok = 0;
    g_host_saw_results = ok;
    g_host_calls++;
}

int main(void)
{
    enum { NSTREAMS = 4 };
    const int n = 1 << 16, chunk = n / NSTREAMS;
    float *h = NULL, *h2 = NULL;
    RT_CHECK(cudaMallocHost((void **)&h, n * sizeof(float)));
    RT_CHECK(cudaHostAlloc((void **)&h2, n * sizeof(float), cudaHostAllocDefault));
    for (int i = 0; i < n; i++) h[i] = (float)i;
    float *d = NULL, *d2 = NULL, *dout = NULL;
    RT_CHECK(cudaMalloc((void **)&d, n * sizeof(float)));
    RT_CHECK(cudaMalloc((void **)&d2, n * sizeof(float)));
    RT_CHECK(cudaMalloc((void **)&dout, n * sizeof(float)));

    cudaStream_t s[NSTREAMS];
    cudaEvent_t done[NSTREAMS], t0, t1;
    for (int i = 0; i < NSTREAMS; i++) {
        RT_CHECK(cudaStreamCreate(&s[i]));
        RT_CHECK(cudaEventCreateWithFlags(&done[i], cudaEventDisableTiming));
    }
    RT_CHECK(cudaEventCreate(&t0));
    RT_CHECK(cudaEventCreate(&t1));
    RT_CHECK(cudaEventRecord(t0, 0));
    for (int i = 0; i < NSTREAMS; i++) {
        int off = i * chunk;
        RT_CHECK(cudaMemcpyAsync(d + off, h + off, chunk * sizeof(float), cudaMemcpyHostToDevice, s[i]));
        scale_add<<<32, 128, 0, s[i]>>>(d + off, chunk, 2.0f, 1.0f);
        RT_CHECK(cudaGetLastError());
        RT_CHECK(cudaMemcpyAsync(h2 + off, d + off, chunk * sizeof(float), cudaMemcpyDeviceToHost, s[i]));
        RT_CHECK(cudaEventRecord(done[i], s[i]));
    }
    /* stream 0 also checks its own chunk on the host, in order, after its copy back */
    static int chunk_n;
    chunk_n = chunk;
    g_host_check = h2;
    RT_CHECK(cudaLaunchHostFunc(s[0], host_fn, &chunk_n));
    /* the last stream waits for every other stream's chunk, then combines all of them */
    for (int i = 0; i < NSTREAMS - 1; i++) RT_CHECK(cudaStreamWaitEvent(s[NSTREAMS - 1], done[i], 0));
    RT_CHECK(cudaMemcpyAsync(d2, h, n * sizeof(float), cudaMemcpyHostToDevice, s[NSTREAMS - 1]));
    combine<<<(n + 255) / 256, 256, 0, s[NSTREAMS - 1]>>>(d, d2, dout, n);
    RT_CHECK(cudaGetLastError());
    RT_CHECK(cudaEventRecord(t1, s[NSTREAMS - 1]));
    RT_CHECK(cudaDeviceSynchronize());
    for (int i = 0; i < NSTREAMS; i++) {
        EXPECT(cudaStreamQuery(s[i]) == cudaSuccess, "stream %d not idle after cudaDeviceSynchronize", i);
        EXPECT(cudaEventQuery(done[i]) == cudaSuccess, "event %d not complete", i);
    }
    float ms = -1;
    RT_CHECK(cudaEventElapsedTime(&ms, t0, t1));
    EXPECT(ms >= 0.0f, "elapsed %g ms", ms);
    EXPECT(g_host_calls == 1, "host function ran %d times", g_host_calls);
    EXPECT(g_host_saw_results, "the host function ran before stream 0's copy back finished");

    int bad = 0;
    for (int i = 0; i < n; i++)
        if (h2[i] != (float)i * 2.0f + 1.0f && bad++ < 5) fprintf(stderr, "h2[%d] = %g\n", i, h2[i]);
    EXPECT(bad == 0, "%d of %d chunk results wrong", bad, n);
    float *out = (float *)malloc(n * sizeof(float));
    RT_CHECK(cudaMemcpy(out, dout, n * sizeof(float), cudaMemcpyDeviceToHost));
    bad = 0;
    for (int i = 0; i < n; i++)
        if (out[i] != (float)i + 1.0f && bad++ < 5) fprintf(stderr, "out[%d] = %g, want %g\n", i, out[i], (float)i + 1.0f);
    EXPECT(bad == 0, "%d of %d combined results wrong", bad, n);

    /* a non-blocking stream and the legacy default stream, with a device-to-device async copy */
    cudaStream_t nb;
    RT_CHECK(cudaStreamCreateWithFlags(&nb, cudaStreamNonBlocking));
    unsigned flags = 0;
    RT_CHECK(cudaStreamGetFlags(nb, &flags));
    EXPECT(flags == cudaStreamNonBlocking, "stream flags %u", flags);
    RT_CHECK(cudaMemsetAsync(d2, 0, n * sizeof(float), nb));
    RT_CHECK(cudaMemcpyAsync(d2, dout, chunk * sizeof(float), cudaMemcpyDeviceToDevice, nb));
    RT_CHECK(cudaStreamSynchronize(nb));
    memset(out, 0xff, n * sizeof(float));
    RT_CHECK(cudaMemcpy(out, d2, n * sizeof(float), cudaMemcpyDeviceToHost));
    bad = 0;
    for (int i = 0; i < n; i++) {
        float want = i < chunk ? (float)i + 1.0f : 0.0f;
        if (out[i] != want && bad++ < 5) fprintf(stderr, "d2[%d] = %g, want %g\n", i, out[i], want);
    }
    EXPECT(bad == 0, "%d of %d elements wrong after memset + device-to-device copy", bad, n);

    for (int i = 0; i < NSTREAMS; i++) {
        RT_CHECK(cudaStreamDestroy(s[i]));
        RT_CHECK(cudaEventDestroy(done[i]));
    }
    RT_CHECK(cudaStreamDestroy(nb));
    RT_CHECK(cudaEventDestroy(t0));
    RT_CHECK(cudaEventDestroy(t1));
    RT_CHECK(cudaFreeHost(h));
    RT_CHECK(cudaFreeHost(h2));
    RT_CHECK(cudaFree(d));
    RT_CHECK(cudaFree(d2));
    RT_CHECK(cudaFree(dout));
    free(out);
    printf("streams: %d streams x %d elements, %.3f ms between the first and the last event\n", NSTREAMS, chunk, ms);
    return rt_finish("streams");
}
