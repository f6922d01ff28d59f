// SPDX-License-Identifier: Apache-2.0
// samples_kernels.cu — the device code of tests/programs/samples, compiled by nvcc at build time
// (PTX for the programs that load PTX, a fatbin with sm_90 code + compute_75 PTX for vector_add).

extern "C" __global__ void vec_add(const float *a, const float *b, float *c, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}

// C = A (m x k) * B (k x n), row-major, tiles of T x T in shared memory; any sizes (bounds checked).
template <int T>
__device__ void matmul_tiled(const float *A, const float *B, float *C, int m, int k, int n)
{
    __shared__ float as[T][T + 1];
    __shared__ float bs[T][T + 1];
    int row = blockIdx.y * T + threadIdx.y, col = blockIdx.x * T + threadIdx.x;
    float acc = 0.0f;
    for (int t = 0; t < k; t += T) {
        as[threadIdx.y][threadIdx.x] = (row < m && t + threadIdx.x < k) ? A[row * k + t + threadIdx.x] : 0.0f;
        bs[threadIdx.y][threadIdx.x] = (col < n && t + threadIdx.y < k) ? B[(t + threadIdx.y) * n + col] : 0.0f;
        __syncthreads();
        for (int j = 0; j < T; j++) acc += as[threadIdx.y][j] * bs[j][threadIdx.x];
        __syncthreads();
    }
    if (row < m && col < n) C[row * n + col] = acc;
}
extern "C" __global__ void matmul8(const float *A, const float *B, float *C, int m, int k, int n) { matmul_tiled<8>(A, B, C, m, k, n); }
extern "C" __global__ void matmul16(const float *A, const float *B, float *C, int m, int k, int n) { matmul_tiled<16>(A, B, C, m, k, n); }
extern "C" __global__ void matmul32(const float *A, const float *B, float *C, int m, int k, int n) { matmul_tiled<32>(A, B, C, m, k, n); }

// y[i] = x[i] * scale + bias[i % nbias]: a grid-stride elementwise kernel sized by occupancy.
extern "C" __global__ void add_bias(float *y, const float *bias, int nbias, float scale, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        y[i] = y[i] * scale + bias[i % nbias];
}

// Work of one stream: v[i] = v[i] * 3 + seed, `rounds` times.
extern "C" __global__ void stream_work(int *v, int n, int seed, int rounds)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int x = v[i];
    for (int r = 0; r < rounds; r++) x = x * 3 + seed;
    v[i] = x;
}

// out[s] = sum of part s (n ints each) for s < parts: one block per part.
extern "C" __global__ void sum_parts(const int *const *parts, int n, long long *out)
{
    __shared__ long long acc[256];
    const int *p = parts[blockIdx.x];
    long long s = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += p[i];
    acc[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w /= 2) {
        if (threadIdx.x < w) acc[threadIdx.x] += acc[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = acc[0];
}

// Pointers inside a struct passed by value, and a __constant__ table set from the host.
struct span { float *data; const float *src; int n; float factor; };
__constant__ float k_table[16];
__device__ unsigned int g_calls;
extern "C" __global__ void scale_span(span s)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < s.n) s.data[i] = s.src[i] * s.factor + k_table[i % 16];
    if (i == 0) atomicAdd(&g_calls, 1u);
}

// Writes through a null pointer: a launch error that surfaces at the next synchronisation.
extern "C" __global__ void write_null(int *p, int v)
{
    p[threadIdx.x] = v;
}
