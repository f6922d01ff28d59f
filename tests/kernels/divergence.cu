// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: heavy intra-warp divergence. Each lane takes a different switch arm, runs loops whose
// trip counts depend on its data, breaks and continues early, then all lanes reconverge at a
// __syncthreads and read a neighbour's value through shared memory. The host checker mirrors
// diverge_one() exactly, in unsigned arithmetic.
extern "C" __global__ void divergence(const unsigned *in, unsigned *out, int n)
{
    __shared__ unsigned s[128];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned x = (i < n) ? in[i] : 0u;
    unsigned acc = x;
    unsigned lane = threadIdx.x & 31;
    switch (lane % 5) {
    case 0:
        for (unsigned k = 0; k < (x & 15u); ++k)
            acc = acc * 3u + k;
        break;
    case 1: {
        unsigned k = 0;
        while (acc > 7u && k < 40u) {
            acc = (acc & 1u) ? acc * 3u + 1u : acc >> 1;
            ++k;
        }
        acc += k << 16;
        break;
    }
    case 2:
        for (unsigned k = 0; k < lane; ++k) {
            if ((acc ^ k) & 4u)
                continue;
            acc += k * k;
            if (acc > 0x40000000u)
                break;
        }
        break;
    case 3:
        if (x & 1u) {
            if (x & 2u)
                acc = ~acc;
            else
                acc = acc ^ 0x5a5a5a5au;
        } else {
            unsigned rot = 0;
            do {
                acc = (acc << 1) | (acc >> 31);
            } while ((acc & 0xffu) != 0u && (acc & 3u) != 3u && ++rot < 40u);
        }
        break;
    default:
        acc = x % (lane + 1u) + x / (lane + 1u);
        break;
    }
    s[threadIdx.x] = acc;
    __syncthreads();
    unsigned nb = s[(threadIdx.x + 1) % blockDim.x];
    if (i < n)
        out[i] = acc + (nb & 0xffu);
}
