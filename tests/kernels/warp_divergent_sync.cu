// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: warp operations right after per-lane loops of very different trip counts (one
// lane of each warp runs thousands of iterations more than the others), so the lanes arrive at the
// full-mask shfl/vote/match/reduce/__syncwarp at very different times. Each must wait for the
// whole warp (PTX .sync semantics). Then a warp reduction (shfl.down tree) inside a loop whose
// trip count is uniform per warp but whose body runs a divergent, data-dependent inner loop.
// Last, two halves of each warp meet at different __syncwarp() calls (allowed from sm_70): lanes
// 0..15 write after a long loop while 16..31 wait at their own __syncwarp, then the reverse.
// blockDim.x must be a multiple of 32 (at most 256). Output: 10 words per thread.
#define FULL 0xffffffffu

extern "C" __global__ void warp_divergent_sync(const unsigned *in, unsigned *out)
{
    __shared__ unsigned sh[256];
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned lane = threadIdx.x & 31u;
    unsigned v = in[i];
    unsigned trips = (v & 0x3ffu) + (lane == ((v >> 16) & 31u) ? 1500u : 0u) + (lane == 5u ? 2000u : 0u);
    unsigned acc = v;
    // not unrolled: lanes that leave the loop go straight on to the warp ops
#pragma unroll 1
    for (unsigned t = 0; t < trips; ++t)
        acc = acc * 1664525u + 1013904223u;
    unsigned s0 = __shfl_sync(FULL, acc, (lane + 7u) & 31u);
    unsigned s1 = __shfl_xor_sync(FULL, acc, 1);
    unsigned b = __ballot_sync(FULL, acc & 1u);
    unsigned all = (unsigned)__all_sync(FULL, (acc & 0xf000u) != 0u);
#if __CUDA_ARCH__ >= 800
    unsigned sum = __reduce_add_sync(FULL, acc);
#else
    unsigned sum = acc;
    for (int off = 16; off; off >>= 1)
        sum += __shfl_xor_sync(FULL, sum, off);
#endif
    unsigned mt = __match_any_sync(FULL, acc & 3u);
    sh[threadIdx.x] = acc ^ 0x5a5a5a5au;
    __syncwarp();
    unsigned nb = sh[threadIdx.x ^ 3u];

    unsigned rounds = 3u + (in[i & ~31u] & 3u); /* the same for the whole warp */
    unsigned tot = 0;
    for (unsigned r = 0; r < rounds; ++r) {
        unsigned x = acc ^ r;
        unsigned k = ((x >> 3) & 0xffu) + (lane == r ? 1200u : 0u);
#pragma unroll 1
        for (unsigned t = 0; t < k; ++t)
            x = x * 1103515245u + 12345u;
        for (int off = 16; off; off >>= 1)
            x += __shfl_down_sync(FULL, x, off);
        tot = tot * 31u + __shfl_sync(FULL, x, 0);
    }

    __shared__ unsigned ex[256];
    unsigned got1, got2;
    if (lane < 16u) {
        unsigned y = acc;
#pragma unroll 1
        for (unsigned t = 0; t < 1500u + (acc & 255u); ++t)
            y = y * 69069u + 1u;
        ex[threadIdx.x] = y;
        __syncwarp(); /* meets the other half's first __syncwarp: they read y */
        got1 = y;
        __syncwarp(); /* meets the other half's second one: it has written */
        got2 = ex[threadIdx.x + 16u];
    } else {
        __syncwarp();
        got1 = ex[threadIdx.x - 16u];
        ex[threadIdx.x] = got1 ^ 0x77u;
        __syncwarp();
        got2 = 0;
    }
    unsigned *o = out + (size_t)i * 10;
    o[0] = s0;
    o[1] = s1;
    o[2] = b;
    o[3] = all;
    o[4] = sum;
    o[5] = mt;
    o[6] = nb;
    o[7] = tot;
    o[8] = got1;
    o[9] = got2;
}
