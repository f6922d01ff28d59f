// SPDX-License-Identifier: Apache-2.0
// Corpus kernels: __device__ global variables, with and without initializers. dg_fill counts
// threads into g_count and writes g_table; dg_read copies g_table and the initialized globals out.
// The host also reads and writes them through cuModuleGetGlobal.
__device__ int g_count;
__device__ float g_table[64];
__device__ int g_init = 42;
__device__ int g_init_arr[4] = {1, -2, 3, -4};
__device__ double g_scale = 0.5;

extern "C" __global__ void dg_fill(int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    atomicAdd(&g_count, 1);
    if (i < 64)
        g_table[i] = (float)i * (float)g_scale + (float)g_init_arr[i & 3];
}

extern "C" __global__ void dg_read(float *out, int *out_i)
{
    int i = threadIdx.x;
    out[i] = g_table[i] + (float)g_init;
    if (i < 4)
        out_i[i] = g_init_arr[i];
    if (i == 0)
        out_i[4] = g_count;
}
