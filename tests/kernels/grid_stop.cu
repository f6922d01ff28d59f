// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: block `bad` stores far out of bounds after a short delay; every other block spins on a flag
// that is never set. The fault must end the whole launch (CUDA_ERROR_ILLEGAL_ADDRESS) at once,
// also while other blocks spin on other host threads (CUDAEMU_THREADS); never run on a real GPU.
extern "C" __global__ void grid_stop(volatile int *flag, int *buf, int bad, long long far, int delay)
{
    if (blockIdx.x == (unsigned)bad) {
        // first count to `delay` (the other blocks start spinning meanwhile), then fault
        int k = 0;
        for (int i = 0; i < delay && flag[0] == 0; ++i)
            ++k;
        if (threadIdx.x == 0)
            buf[far + (k & 1)] = 1;
        return;
    }
    unsigned long long k = 0;
    while (flag[0] == 0)
        ++k;
    buf[blockIdx.x] = (int)k;
}
