// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: tensor cores through the WMMA API (wmma.load / wmma.mma / wmma.store, 16x16x16,
// half inputs, float accumulators): D = 2 * (A * B + C), one 16x16 tile of D per warp.
// A is M x K row-major, B is K x N stored column-major (N x K), C and D are M x N row-major.
#include <mma.h>
using namespace nvcuda;

extern "C" __global__ void tensor_core(const half *A, const half *B, const float *C, float *D, int M, int N, int K)
{
    int warp = (int)((blockIdx.x * blockDim.x + threadIdx.x) / 32);
    int tiles_n = N / 16;
    int tm = warp / tiles_n, tn = warp % tiles_n;
    if (tm >= M / 16)
        return;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> b;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::load_matrix_sync(acc, C + tm * 16 * N + tn * 16, N, wmma::mem_row_major);
    for (int k = 0; k < K; k += 16) {
        wmma::load_matrix_sync(a, A + tm * 16 * K + k, K);
        wmma::load_matrix_sync(b, B + tn * 16 * K + k, K);
        wmma::mma_sync(acc, a, b, acc);
    }
    for (int e = 0; e < acc.num_elements; ++e)
        acc.x[e] = acc.x[e] * 2.0f;
    wmma::store_matrix_sync(D + tm * 16 * N + tn * 16, acc, N, wmma::mem_row_major);
}
