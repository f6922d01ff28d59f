// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: spins forever when `spin` is non-zero (the flag is never set), otherwise writes a
// marker. Used with CUDAEMU_WATCHDOG_MS to expect CUDA_ERROR_LAUNCH_TIMEOUT; never run on a real GPU.
extern "C" __global__ void watchdog_spin(volatile int *flag, int spin, int *out)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (spin) {
        unsigned long long k = 0;
        while (flag[0] == 0)
            ++k;
        out[i] = (int)k;
    } else {
        out[i] = i * 3 + 1;
    }
}
