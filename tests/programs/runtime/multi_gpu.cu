/* SPDX-License-Identifier: Apache-2.0
 * multi_gpu.cu — every device at once, as NVIDIA's simpleMultiGPU and simpleP2P samples do: one
 * stream and one slice of the data per device (cudaSetDevice, cudaMalloc, cudaMemcpyAsync, a kernel),
 * the partial sums gathered on the host; then cudaMemcpyPeer from each device to the next (staged when
 * cudaDeviceCanAccessPeer says no) and a kernel on the receiving side. RT_EXPECT_DEVICES=N: the program
 * needs exactly N devices. Checked on the host. */
#include "rt_common.h"

__global__ void partial_sums(const int *x, int n, unsigned long long *sum)
{
    unsigned long long v = 0;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v += (unsigned long long)x[i];
    atomicAdd(sum, v);
}

__global__ void add_device(int *x, int n, int dev)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += 1000 * (dev + 1);
}

int main(void)
{
    int count = 0;
    RT_CHECK(cudaGetDeviceCount(&count));
    const char *want = getenv("RT_EXPECT_DEVICES");
    if (want) EXPECT(count == atoi(want), "%d devices, RT_EXPECT_DEVICES = %s", count, want);
    if (count > 8) count = 8;
    const int n = 1 << 18, per = (n + count - 1) / count;
    int *h = NULL;
    RT_CHECK(cudaMallocHost((void **)&h, n * sizeof(int)));
    unsigned long long ref = 0;
    for (int i = 0; i < n; i++) h[i] = (i * 7919) % 10007, ref += (unsigned long long)h[i];
    int *d[8];
    unsigned long long *dsum[8], part[8];
    cudaStream_t s[8];
    for (int g = 0; g < count; g++) {
        int len = g == count - 1 ? n - per * g : per;
        RT_CHECK(cudaSetDevice(g));
        RT_CHECK(cudaStreamCreate(&s[g]));
        RT_CHECK(cudaMalloc((void **)&d[g], per * sizeof(int)));
        RT_CHECK(cudaMalloc((void **)&dsum[g], sizeof(unsigned long long)));
        RT_CHECK(cudaMemsetAsync(dsum[g], 0, sizeof(unsigned long long), s[g]));
        RT_CHECK(cudaMemcpyAsync(d[g], h + per * g, len * sizeof(int), cudaMemcpyHostToDevice, s[g]));
        partial_sums<<<16, 256, 0, s[g]>>>(d[g], len, dsum[g]);
        RT_CHECK(cudaGetLastError());
        RT_CHECK(cudaMemcpyAsync(&part[g], dsum[g], sizeof part[g], cudaMemcpyDeviceToHost, s[g]));
    }
    unsigned long long total = 0;
    for (int g = 0; g < count; g++) {
        RT_CHECK(cudaSetDevice(g));
        RT_CHECK(cudaStreamSynchronize(s[g]));
        total += part[g];
    }
    EXPECT(total == ref, "sum over %d devices %llu, want %llu", count, total, ref);

    /* device g's slice goes to device g+1, which adds its mark */
    int peers = 0;
    for (int g = 0; g + 1 < count; g++) {
        int can = -1, len = per;
        RT_CHECK(cudaDeviceCanAccessPeer(&can, g + 1, g));
        EXPECT(can == 0 || can == 1, "cudaDeviceCanAccessPeer = %d", can);
        int *dst = NULL;
        RT_CHECK(cudaSetDevice(g + 1));
        RT_CHECK(cudaMalloc((void **)&dst, len * sizeof(int)));
        RT_CHECK(cudaMemcpyPeer(dst, g + 1, d[g], g, len * sizeof(int)));
        add_device<<<(len + 255) / 256, 256>>>(dst, len, g + 1);
        RT_CHECK(cudaGetLastError());
        int *back = (int *)malloc(len * sizeof(int));
        RT_CHECK(cudaMemcpy(back, dst, len * sizeof(int), cudaMemcpyDeviceToHost));
        int bad = 0;
        for (int i = 0; i < len; i++) bad += back[i] != h[per * g + i] + 1000 * (g + 2);
        EXPECT(bad == 0, "device %d -> %d: %d of %d wrong after cudaMemcpyPeer", g, g + 1, bad, len);
        free(back);
        RT_CHECK(cudaFree(dst));
        peers++;
    }
    for (int g = 0; g < count; g++) {
        RT_CHECK(cudaSetDevice(g));
        RT_CHECK(cudaFree(d[g]));
        RT_CHECK(cudaFree(dsum[g]));
        RT_CHECK(cudaStreamDestroy(s[g]));
    }
    RT_CHECK(cudaFreeHost(h));
    printf("multi_gpu: %d device(s), %d peer copies, sum %llu\n", count, peers, total);
    return rt_finish("multi_gpu");
}
