// saxpy.cu — y = a*x + y over n floats; the kernel of examples/c/saxpy.c and examples/python/saxpy.py.
// Regenerate the PTX with: nvcc -ptx -O3 -arch=sm_75 saxpy.cu -o saxpy.ptx
extern "C" __global__ void saxpy(int n, float a, const float *x, float *y) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}
