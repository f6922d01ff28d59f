// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: y = a*x + y. Mixed parameter types (int, float, pointers) test parameter layout.
extern "C" __global__ void saxpy(int n, float a, const float *__restrict__ x, float *__restrict__ y)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = a * x[i] + y[i];
}
