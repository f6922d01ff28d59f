// worker_kernels.cu — kernels of the lease-worker unit test. worker_kernels.ptx is this file compiled
// with `nvcc -ptx -arch=sm_75 worker_kernels.cu -o worker_kernels.ptx` and committed, so the test
// needs no CUDA toolkit.
extern "C" __global__ void vadd(const float *a, const float *b, float *c, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}

extern "C" __global__ void inc(int *p, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) p[i] += 1;
}

// Writes through a pointer given by value: pass an address no buffer holds to fault.
extern "C" __global__ void poke(unsigned long long addr) {
    *(volatile int *)addr = 1;
}

// Device printf: one line per thread (the worker collects its stdout: worker_output.c).
extern "C" __global__ void hello(int tag) {
    printf("hello %d from block %d thread %d\n", tag, blockIdx.x, threadIdx.x);
}
