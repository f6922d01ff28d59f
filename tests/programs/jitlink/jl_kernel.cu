// SPDX-License-Identifier: Apache-2.0
// The kernel half of a separately compiled (-rdc=true) program: poly() and scale_of() live in jl_poly.cu.
extern __device__ float poly(float x);
extern __device__ float scale_of(int i);

extern "C" __global__ void axpy_poly(const float *x, float *y, float a, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * poly(x[i]) * scale_of(i) + y[i];
}
