// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: writes its buffer, then thread 0 writes element `far`, far past the allocation.
// Expected: CUDA_ERROR_ILLEGAL_ADDRESS, and the context stays broken (sticky error).
extern "C" __global__ void oob_write(int *buf, int n, long long far)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        buf[i] = i;
    if (i == 0)
        buf[far] = 0x0badf00d;
}
