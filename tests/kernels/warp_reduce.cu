// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: per-warp float sum with __shfl_down_sync; lane 0 writes the warp's sum.
extern "C" __global__ void warp_reduce(const float *in, float *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float v = (i < n) ? in[i] : 0.0f;
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, offset);
    if ((threadIdx.x & 31) == 0)
        out[i / 32] = v;
}
