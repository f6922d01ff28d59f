// scale.cu — the kernel the image tests load: y[i] = a * x[i] + i (a saxpy-like map with the index).
extern "C" __global__ void scale(const float *x, float *y, float a, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + (float)i;
}
