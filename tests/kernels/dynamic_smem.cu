// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: dynamic shared memory (extern __shared__) sized at launch, carved into a double
// array followed by a float array. Each block reverses its segment and adds a neighbour's double.
// Launch with sharedMemBytes = blockDim.x * (sizeof(double) + sizeof(float)).
extern "C" __global__ void dynamic_smem(const float *in, float *out, int n)
{
    extern __shared__ double dyn[];
    double *sd = dyn;
    float *sf = (float *)(dyn + blockDim.x);
    unsigned t = threadIdx.x;
    int i = blockIdx.x * blockDim.x + t;
    float v = (i < n) ? in[i] : 0.0f;
    sf[t] = v;
    sd[t] = (double)v * 2.0;
    __syncthreads();
    unsigned r = blockDim.x - 1u - t;
    float rev = sf[r];
    double nb = sd[(t + 1u) % blockDim.x];
    if (i < n)
        out[i] = rev + (float)nb;
}
