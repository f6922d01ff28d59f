/* SPDX-License-Identifier: Apache-2.0
 * cub_algorithms.cu — NVIDIA's CUB (shipped with the toolkit) as programs use it: the two-call
 * pattern (ask the temporary storage size, allocate, run) for DeviceReduce::Sum and ::Max,
 * DeviceScan::ExclusiveSum and DeviceRadixSort::SortPairs, on a stream. CUB picks its kernels'
 * tuning by cudaFuncGetAttributes and the occupancy calculator, launches them with <<<>>> and
 * checks cudaPeekAtLastError, so any gap there shows as a wrong answer or an error here. Every
 * result is compared with the host. */
#include "rt_common.h"

#include <cub/cub.cuh>

int main(void)
{
    const int n = 20000;
    int *h = (int *)malloc(n * sizeof(int)), *hv = (int *)malloc(n * sizeof(int)), *out = (int *)malloc(n * sizeof(int));
    long long ref_sum = 0;
    int ref_max = -1;
    unsigned seed = 12345;
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        h[i] = (int)((seed >> 8) % 100000);
        hv[i] = i;
        ref_sum += h[i];
        if (h[i] > ref_max) ref_max = h[i];
    }
    cudaStream_t s;
    RT_CHECK(cudaStreamCreate(&s));
    int *d_in, *d_out, *d_vals, *d_keys_out, *d_vals_out;
    long long *d_sum;
    RT_CHECK(cudaMalloc((void **)&d_in, n * sizeof(int)));
    RT_CHECK(cudaMalloc((void **)&d_out, n * sizeof(int)));
    RT_CHECK(cudaMalloc((void **)&d_vals, n * sizeof(int)));
    RT_CHECK(cudaMalloc((void **)&d_keys_out, n * sizeof(int)));
    RT_CHECK(cudaMalloc((void **)&d_vals_out, n * sizeof(int)));
    RT_CHECK(cudaMalloc((void **)&d_sum, sizeof(long long)));
    RT_CHECK(cudaMemcpyAsync(d_in, h, n * sizeof(int), cudaMemcpyHostToDevice, s));
    RT_CHECK(cudaMemcpyAsync(d_vals, hv, n * sizeof(int), cudaMemcpyHostToDevice, s));

    /* sum (into 64 bits, through a transform-free input) */
    void *tmp = NULL;
    size_t tmp_bytes = 0, need = 0;
    RT_CHECK(cub::DeviceReduce::Sum(NULL, need, d_in, d_sum, n, s));
    EXPECT(need > 0, "DeviceReduce::Sum asked for %zu bytes of temporary storage", need);
    RT_CHECK(cudaMalloc(&tmp, need));
    tmp_bytes = need;
    RT_CHECK(cub::DeviceReduce::Sum(tmp, tmp_bytes, d_in, d_sum, n, s));
    long long sum = -1;
    RT_CHECK(cudaMemcpyAsync(&sum, d_sum, sizeof sum, cudaMemcpyDeviceToHost, s));
    RT_CHECK(cudaStreamSynchronize(s));
    EXPECT(sum == ref_sum, "DeviceReduce::Sum = %lld, want %lld", sum, ref_sum);
    RT_CHECK(cudaFree(tmp));

    /* max */
    need = 0;
    RT_CHECK(cub::DeviceReduce::Max(NULL, need, d_in, d_out, n, s));
    RT_CHECK(cudaMalloc(&tmp, need));
    RT_CHECK(cub::DeviceReduce::Max(tmp, need, d_in, d_out, n, s));
    int mx = -1;
    RT_CHECK(cudaMemcpyAsync(&mx, d_out, sizeof mx, cudaMemcpyDeviceToHost, s));
    RT_CHECK(cudaStreamSynchronize(s));
    EXPECT(mx == ref_max, "DeviceReduce::Max = %d, want %d", mx, ref_max);
    RT_CHECK(cudaFree(tmp));

    /* exclusive prefix sum */
    need = 0;
    RT_CHECK(cub::DeviceScan::ExclusiveSum(NULL, need, d_in, d_out, n, s));
    RT_CHECK(cudaMalloc(&tmp, need));
    RT_CHECK(cub::DeviceScan::ExclusiveSum(tmp, need, d_in, d_out, n, s));
    RT_CHECK(cudaMemcpyAsync(out, d_out, n * sizeof(int), cudaMemcpyDeviceToHost, s));
    RT_CHECK(cudaStreamSynchronize(s));
    int bad = 0, run = 0;
    for (int i = 0; i < n; i++) {
        if (out[i] != run && bad++ < 5) fprintf(stderr, "scan[%d] = %d, want %d\n", i, out[i], run);
        run += h[i];
    }
    EXPECT(bad == 0, "DeviceScan::ExclusiveSum: %d of %d wrong", bad, n);
    RT_CHECK(cudaFree(tmp));

    /* radix sort of (key, index) pairs: sorted keys, and each value still names its key's position */
    need = 0;
    RT_CHECK(cub::DeviceRadixSort::SortPairs(NULL, need, d_in, d_keys_out, d_vals, d_vals_out, n, 0, 32, s));
    RT_CHECK(cudaMalloc(&tmp, need));
    RT_CHECK(cub::DeviceRadixSort::SortPairs(tmp, need, d_in, d_keys_out, d_vals, d_vals_out, n, 0, 32, s));
    int *vals = (int *)malloc(n * sizeof(int));
    RT_CHECK(cudaMemcpyAsync(out, d_keys_out, n * sizeof(int), cudaMemcpyDeviceToHost, s));
    RT_CHECK(cudaMemcpyAsync(vals, d_vals_out, n * sizeof(int), cudaMemcpyDeviceToHost, s));
    RT_CHECK(cudaStreamSynchronize(s));
    bad = 0;
    for (int i = 0; i < n; i++) {
        int ok = (i == 0 || out[i - 1] <= out[i]) && vals[i] >= 0 && vals[i] < n && h[vals[i]] == out[i] &&
                 (i == 0 || out[i - 1] != out[i] || vals[i - 1] < vals[i]); /* stable */
        if (!ok && bad++ < 5) fprintf(stderr, "sorted[%d] = (%d, %d)\n", i, out[i], vals[i]);
    }
    EXPECT(bad == 0, "DeviceRadixSort::SortPairs: %d of %d out of place", bad, n);
    RT_CHECK(cudaFree(tmp));

    RT_CHECK(cudaFree(d_in));
    RT_CHECK(cudaFree(d_out));
    RT_CHECK(cudaFree(d_vals));
    RT_CHECK(cudaFree(d_keys_out));
    RT_CHECK(cudaFree(d_vals_out));
    RT_CHECK(cudaFree(d_sum));
    RT_CHECK(cudaStreamDestroy(s));
    free(h), free(hv), free(out), free(vals);
    printf("cub_algorithms: %d keys: sum %lld, max %d, scan, radix sort\n", n, sum, mx);
    return rt_finish("cub_algorithms");
}
