// SPDX-License-Identifier: Apache-2.0
// Corpus kernels: block-level prefix sums of unsigned ints.
//  scan_hillis_steele: inclusive, double-buffered Hillis-Steele (blockDim.x = 256).
//  scan_blelloch:      exclusive, work-efficient up-sweep/down-sweep, 2 elements per thread
//                      (blockDim.x = 256, 512 elements per block); also writes each block's total.
#define BLOCK 256

extern "C" __global__ void scan_hillis_steele(const unsigned *in, unsigned *out, int n)
{
    __shared__ unsigned buf[2][BLOCK];
    int t = threadIdx.x;
    int i = blockIdx.x * BLOCK + t;
    int src = 0;
    buf[0][t] = (i < n) ? in[i] : 0u;
    __syncthreads();
    for (int off = 1; off < BLOCK; off <<= 1) {
        unsigned v = buf[src][t];
        if (t >= off)
            v += buf[src][t - off];
        buf[1 - src][t] = v;
        src = 1 - src;
        __syncthreads();
    }
    if (i < n)
        out[i] = buf[src][t];
}

extern "C" __global__ void scan_blelloch(const unsigned *in, unsigned *out, unsigned *block_sums, int n)
{
    __shared__ unsigned s[2 * BLOCK];
    int t = threadIdx.x;
    int base = blockIdx.x * 2 * BLOCK;
    s[2 * t] = (base + 2 * t < n) ? in[base + 2 * t] : 0u;
    s[2 * t + 1] = (base + 2 * t + 1 < n) ? in[base + 2 * t + 1] : 0u;
    int off = 1;
    for (int d = BLOCK; d > 0; d >>= 1) {
        __syncthreads();
        if (t < d) {
            int ai = off * (2 * t + 1) - 1;
            int bi = off * (2 * t + 2) - 1;
            s[bi] += s[ai];
        }
        off <<= 1;
    }
    if (t == 0) {
        block_sums[blockIdx.x] = s[2 * BLOCK - 1];
        s[2 * BLOCK - 1] = 0;
    }
    for (int d = 1; d <= BLOCK; d <<= 1) {
        off >>= 1;
        __syncthreads();
        if (t < d) {
            int ai = off * (2 * t + 1) - 1;
            int bi = off * (2 * t + 2) - 1;
            unsigned tmp = s[ai];
            s[ai] = s[bi];
            s[bi] += tmp;
        }
    }
    __syncthreads();
    if (base + 2 * t < n)
        out[base + 2 * t] = s[2 * t];
    if (base + 2 * t + 1 < n)
        out[base + 2 * t + 1] = s[2 * t + 1];
}
