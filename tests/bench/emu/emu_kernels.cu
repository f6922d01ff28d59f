// Kernels of the `emu` benchmark (tests/bench/emu): a vector add and a shared-memory tree
// reduction, and a 32x32-tiled matrix multiply. emu_kernels.ptx is `nvcc -ptx -O3 -arch=sm_75 emu_kernels.cu`.
extern "C" __global__ void bench_vadd(const float *a, const float *b, float *c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}

extern "C" __global__ void bench_reduce(const float *in, float *out, int n)
{
    __shared__ float s[256];
    int t = threadIdx.x;
    int i = blockIdx.x * blockDim.x + t;
    s[t] = i < n ? in[i] : 0.0f;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if (t < k) s[t] += s[t + k];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = s[0];
}

// Tiled matrix multiply in the style of the CUDA samples' matrixMul: 32x32 tiles in shared
// memory, blockDim (32, 32), C = A * B for n x n row-major matrices, n a multiple of 32.
#define BENCH_TILE 32
extern "C" __global__ void bench_matmul(const float *A, const float *B, float *C, int n)
{
    __shared__ float As[BENCH_TILE][BENCH_TILE];
    __shared__ float Bs[BENCH_TILE][BENCH_TILE];
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * BENCH_TILE + ty, col = blockIdx.x * BENCH_TILE + tx;
    float acc = 0.0f;
    for (int t = 0; t < n; t += BENCH_TILE) {
        As[ty][tx] = A[row * n + t + tx];
        Bs[ty][tx] = B[(t + ty) * n + col];
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BENCH_TILE; ++k)
            acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    C[row * n + col] = acc;
}
