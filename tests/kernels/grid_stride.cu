// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: grid-stride loop over more elements than threads, 64-bit index arithmetic.
extern "C" __global__ void grid_stride(const int *in, long long *out, long long n)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x)
        out[i] = (long long)in[i] * 3 - i;
}
