// SPDX-License-Identifier: Apache-2.0
// Kernels for the asynchronous-error programs: one correct kernel (scale) used to prove a fresh
// context works, and three that fail while running: a device assert, a trap and a wild store.
#include <cassert>
#include <cstdio>

extern "C" __global__ void scale(float *out, const float *in, float a, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = a * in[i] + 1.0f;
}

// Asserts that every value is positive; thread 0 of each block says what it checks first.
extern "C" __global__ void check_positive(const int *v, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (threadIdx.x == 0)
        printf("check_positive: block %d checks %d values\n", blockIdx.x, n);
    if (i < n)
        assert(v[i] > 0);
}

// Traps when the flag is set, after writing its thread index (so a run without the flag is checkable).
extern "C" __global__ void trap_if(int *out, const int *flag)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    out[i] = i;
    if (*flag && i == 5)
        __trap();
}

// out[idx[i]] = i: an index far past the end of out is an illegal address.
extern "C" __global__ void scatter(int *out, const int *idx, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[idx[i]] = i;
}
