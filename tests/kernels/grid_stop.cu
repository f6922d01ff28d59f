// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: block `bad` stores far out of bounds at once; every other block spins on a flag
// that is never set. The fault must end the whole launch (CUDA_ERROR_ILLEGAL_ADDRESS) at once,
// also while other blocks spin on other host threads (CUDAEMU_THREADS); never run on a real GPU.
extern "C" __global__ void grid_stop(volatile int *flag, int *buf, int bad, long long far)
{
    if (blockIdx.x == (unsigned)bad) {
        if (threadIdx.x == 0)
            buf[far] = 1;
        return;
    }
    unsigned long long k = 0;
    while (flag[0] == 0)
        ++k;
    buf[blockIdx.x] = (int)k;
}
