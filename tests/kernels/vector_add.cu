// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: c = a + b, one element per thread, with a tail guard.
extern "C" __global__ void vector_add(const float *a, const float *b, float *c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        c[i] = a[i] + b[i];
}
