/* SPDX-License-Identifier: Apache-2.0
 * matrix_mul.cu — tiled matrix multiply C = A x B in the style of NVIDIA's matrixMul sample: a
 * template tile size with static __shared__ tiles (16 and 32), the same kernel with its tiles in
 * dynamic shared memory (the third <<<>>> argument), sizes that are not multiples of the tile,
 * cudaEvent timing and cudaOccupancyMaxPotentialBlockSize for a bias kernel. Every element is
 * compared with a host product (relative error 1e-4: the sums are reordered). */
#include "rt_common.h"

#include <math.h>

template <int TILE>
__global__ void matmul_static(const float *A, const float *B, float *C, int m, int k, int n)
{
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    int row = blockIdx.y * TILE + threadIdx.y, col = blockIdx.x * TILE + threadIdx.x;
    float acc = 0.0f;
    for (int t = 0; t < (k + TILE - 1) / TILE; t++) {
        int ak = t * TILE + threadIdx.x, bk = t * TILE + threadIdx.y;
        As[threadIdx.y][threadIdx.x] = (row < m && ak < k) ? A[row * k + ak] : 0.0f;
        Bs[threadIdx.y][threadIdx.x] = (bk < k && col < n) ? B[bk * n + col] : 0.0f;
        __syncthreads();
#pragma unroll
        for (int i = 0; i < TILE; i++) acc += As[threadIdx.y][i] * Bs[i][threadIdx.x];
        __syncthreads();
    }
    if (row < m && col < n) C[row * n + col] = acc;
}

__global__ void matmul_dynamic(const float *A, const float *B, float *C, int m, int k, int n)
{
    extern __shared__ float tiles[]; /* 2 * tile * tile floats: A's tile, then B's */
    int tile = blockDim.x;
    float *As = tiles, *Bs = tiles + tile * tile;
    int row = blockIdx.y * tile + threadIdx.y, col = blockIdx.x * tile + threadIdx.x;
    float acc = 0.0f;
    for (int t = 0; t < (k + tile - 1) / tile; t++) {
        int ak = t * tile + threadIdx.x, bk = t * tile + threadIdx.y;
        As[threadIdx.y * tile + threadIdx.x] = (row < m && ak < k) ? A[row * k + ak] : 0.0f;
        Bs[threadIdx.y * tile + threadIdx.x] = (bk < k && col < n) ? B[bk * n + col] : 0.0f;
        __syncthreads();
        for (int i = 0; i < tile; i++) acc += As[threadIdx.y * tile + i] * Bs[i * tile + threadIdx.x];
        __syncthreads();
    }
    if (row < m && col < n) C[row * n + col] = acc;
}

__global__ void add_bias(float *C, const float *bias, int m, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < m * n) C[i] += bias[i % n];
}

static int compare(const char *what, const float *got, const float *want, int count)
{
    int bad = 0;
    for (int i = 0; i < count; i++) {
        float tol = 1e-4f * fmaxf(1.0f, fabsf(want[i]));
        if (!(fabsf(got[i] - want[i]) <= tol) && bad++ < 5)
            fprintf(stderr, "%s: C[%d] = %.6g, want %.6g\n", what, i, got[i], want[i]);
    }
    EXPECT(bad == 0, "%s: %d of %d elements wrong", what, bad, count);
    return bad;
}

int main(void)
{
    const int m = 200, k = 150, n = 130;
    float *A = (float *)malloc(sizeof(float) * m * k), *B = (float *)malloc(sizeof(float) * k * n);
    float *C = (float *)malloc(sizeof(float) * m * n), *ref = (float *)malloc(sizeof(float) * m * n);
    float *bias = (float *)malloc(sizeof(float) * n);
    for (int i = 0; i < m * k; i++) A[i] = (float)((i * 7) % 23 - 11) / 8.0f;
    for (int i = 0; i < k * n; i++) B[i] = (float)((i * 13) % 19 - 9) / 4.0f;
    for (int j = 0; j < n; j++) bias[j] = (float)j * 0.25f;
    for (int r = 0; r < m; r++)
        for (int c = 0; c < n; c++) {
            double s = 0;
            for (int i = 0; i < k; i++) s += (double)A[r * k + i] * B[i * n + c];
            ref[r * n + c] = (float)s;
        }
    float *dA, *dB, *dC, *dbias;
    RT_CHECK(cudaMalloc((void **)&dA, sizeof(float) * m * k));
    RT_CHECK(cudaMalloc((void **)&dB, sizeof(float) * k * n));
    RT_CHECK(cudaMalloc((void **)&dC, sizeof(float) * m * n));
    RT_CHECK(cudaMalloc((void **)&dbias, sizeof(float) * n));
    RT_CHECK(cudaMemcpy(dA, A, sizeof(float) * m * k, cudaMemcpyHostToDevice));
    RT_CHECK(cudaMemcpy(dB, B, sizeof(float) * k * n, cudaMemcpyHostToDevice));
    RT_CHECK(cudaMemcpy(dbias, bias, sizeof(float) * n, cudaMemcpyHostToDevice));

    cudaEvent_t start, stop;
    RT_CHECK(cudaEventCreate(&start));
    RT_CHECK(cudaEventCreate(&stop));

    /* tile 16, static shared */
    dim3 b16(16, 16), g16((n + 15) / 16, (m + 15) / 16);
    RT_CHECK(cudaEventRecord(start));
    matmul_static<16><<<g16, b16>>>(dA, dB, dC, m, k, n);
    RT_CHECK(cudaGetLastError());
    RT_CHECK(cudaEventRecord(stop));
    RT_CHECK(cudaEventSynchronize(stop));
    float ms = -1;
    RT_CHECK(cudaEventElapsedTime(&ms, start, stop));
    EXPECT(ms >= 0.0f, "elapsed time %g ms", ms);
    RT_CHECK(cudaMemcpy(C, dC, sizeof(float) * m * n, cudaMemcpyDeviceToHost));
    compare("tile 16 (static shared)", C, ref, m * n);

    /* tile 32 (1024 threads a block), static shared */
    RT_CHECK(cudaMemset(dC, 0, sizeof(float) * m * n));
    dim3 b32(32, 32), g32((n + 31) / 32, (m + 31) / 32);
    matmul_static<32><<<g32, b32>>>(dA, dB, dC, m, k, n);
    RT_CHECK(cudaGetLastError());
    RT_CHECK(cudaMemcpy(C, dC, sizeof(float) * m * n, cudaMemcpyDeviceToHost));
    compare("tile 32 (static shared)", C, ref, m * n);

    /* tile 8 with its tiles in dynamic shared memory */
    RT_CHECK(cudaMemset(dC, 0, sizeof(float) * m * n));
    dim3 b8(8, 8), g8((n + 7) / 8, (m + 7) / 8);
    matmul_dynamic<<<g8, b8, 2 * 8 * 8 * sizeof(float)>>>(dA, dB, dC, m, k, n);
    RT_CHECK(cudaGetLastError());
    RT_CHECK(cudaDeviceSynchronize());
    RT_CHECK(cudaMemcpy(C, dC, sizeof(float) * m * n, cudaMemcpyDeviceToHost));
    compare("tile 8 (dynamic shared)", C, ref, m * n);

    /* bias, with the block size the occupancy calculator suggests */
    int min_grid = 0, block = 0;
    RT_CHECK(cudaOccupancyMaxPotentialBlockSize(&min_grid, &block, add_bias, 0, 0));
    EXPECT(block > 0 && block <= 1024 && block % 32 == 0, "suggested block size %d", block);
    EXPECT(min_grid > 0, "suggested minimum grid %d", min_grid);
    struct cudaFuncAttributes fa;
    RT_CHECK(cudaFuncGetAttributes(&fa, matmul_static<32>));
    EXPECT(fa.sharedSizeBytes >= 2 * 32 * 32 * sizeof(float), "matmul_static<32> static shared %zu", fa.sharedSizeBytes);
    EXPECT(fa.maxThreadsPerBlock >= 1024, "matmul_static<32> max threads %d", fa.maxThreadsPerBlock);
    add_bias<<<(m * n + block - 1) / block, block>>>(dC, dbias, m, n);
    RT_CHECK(cudaGetLastError());
    RT_CHECK(cudaMemcpy(C, dC, sizeof(float) * m * n, cudaMemcpyDeviceToHost));
    for (int i = 0; i < m * n; i++) ref[i] += bias[i % n];
    compare("with bias", C, ref, m * n);

    RT_CHECK(cudaEventDestroy(start));
    RT_CHECK(cudaEventDestroy(stop));
    RT_CHECK(cudaFree(dA));
    RT_CHECK(cudaFree(dB));
    RT_CHECK(cudaFree(dC));
    RT_CHECK(cudaFree(dbias));
    free(A), free(B), free(C), free(ref), free(bias);
    printf("matrix_mul: %dx%d * %dx%d, tiles 16/32/8, bias block %d (first kernel %.3f ms)\n", m, k, k, n, block, ms);
    return rt_finish("matrix_mul");
}
