// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: per-block sum with a shared-memory tree and __syncthreads (blockDim.x = 256).
#define BLOCK 256

extern "C" __global__ void block_reduce(const int *in, int *partial, int n)
{
    __shared__ int s[BLOCK];
    unsigned t = threadIdx.x;
    unsigned i = blockIdx.x * (BLOCK * 2) + t;
    int v = 0;
    if (i < (unsigned)n)
        v = in[i];
    if (i + BLOCK < (unsigned)n)
        v += in[i + BLOCK];
    s[t] = v;
    __syncthreads();
    for (unsigned stride = BLOCK / 2; stride > 0; stride >>= 1) {
        if (t < stride)
            s[t] += s[t + stride];
        __syncthreads();
    }
    if (t == 0)
        partial[blockIdx.x] = s[0];
}
