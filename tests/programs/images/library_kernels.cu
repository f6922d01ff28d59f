// library_kernels.cu — two kernels and a device global, loaded through cuLibraryLoadData/FromFile.
__device__ int bias[4];

extern "C" __global__ void add_bias(int *v, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) v[i] += bias[i % 4];
}

extern "C" __global__ void square(int *v, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) v[i] = v[i] * v[i];
}
