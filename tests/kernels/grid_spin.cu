// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: every block of the grid spins on a flag that is never set, so the watchdog
// (CUDAEMU_WATCHDOG_MS) has to stop the blocks running on every host thread; never run on a GPU.
extern "C" __global__ void grid_spin(volatile int *flag, int *out)
{
    unsigned long long k = 0;
    while (flag[0] == 0)
        ++k;
    out[blockIdx.x * blockDim.x + threadIdx.x] = (int)k;
}
