// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: 3D grid of 3D blocks. Each thread writes all twelve special registers (tid, ctaid,
// ntid, nctaid in x/y/z) at its linear global index.
extern "C" __global__ void grid3d(unsigned *out)
{
    unsigned bl = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    unsigned tl = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    unsigned g = bl * (blockDim.x * blockDim.y * blockDim.z) + tl;
    unsigned *o = out + (size_t)g * 12;
    o[0] = threadIdx.x; o[1] = threadIdx.y; o[2] = threadIdx.z;
    o[3] = blockIdx.x;  o[4] = blockIdx.y;  o[5] = blockIdx.z;
    o[6] = blockDim.x;  o[7] = blockDim.y;  o[8] = blockDim.z;
    o[9] = gridDim.x;   o[10] = gridDim.y;  o[11] = gridDim.z;
}
