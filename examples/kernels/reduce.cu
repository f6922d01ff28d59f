// reduce.cu — sum of n 32-bit integers into one 64-bit total; the kernel of examples/c/reduce2.c.
// Each block sums a grid-stride slice of the input in registers, reduces its threads' partial sums
// in shared memory (a tree: blockDim.x must be a power of two, at most 1024), and thread 0 adds
// the block's sum to *total with one 64-bit atomic. *total must be zeroed before the launch.
// Exact: the 64-bit sum of 2^31 values of |v| <= 2^31 cannot overflow, so the host can compare bits.
// Copyright 2026 The Lepton Authors. Licensed under the Apache License, Version 2.0.
// Regenerate the PTX with: nvcc -ptx -O3 -arch=sm_75 reduce.cu -o reduce.ptx
extern "C" __global__ void reduce_sum_i32(const int *in, unsigned int n, unsigned long long *total) {
    extern __shared__ long long partial[]; // blockDim.x entries (the launch's shared_bytes)
    long long sum = 0;
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        sum += in[i];
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
        __syncthreads();
    }
    // Two's complement: adding the bits of a signed sum as unsigned gives the signed total.
    if (threadIdx.x == 0) atomicAdd(total, (unsigned long long)partial[0]);
}
