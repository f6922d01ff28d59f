// rdc_main.cu — compiled with -rdc=true: the kernel calls a device function defined in rdc_helper.cu.
#include "rdc_common.cuh"

__device__ float poly(float x, int k);

extern "C" __global__ void apply_poly(const float *x, float *y, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = poly(x[i], i % 4) + twice(x[i]);
}
