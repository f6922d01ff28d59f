// SPDX-License-Identifier: Apache-2.0
// Corpus kernels for block- and grid-level synchronization:
//  block_sync: __syncthreads_count/_and/_or (bar.red), __match_any_sync/__match_all_sync,
//    __reduce_add_sync where available (sm_80+; a shuffle fallback elsewhere), named barriers
//    (bar.sync id, count) pairing warps 0-1 and 2-3 separately, and clock64 monotonicity.
//  last_block_sum: the classic __threadfence + atomicInc "last block finishes the reduction".
// blockDim.x must be 128.
extern "C" __global__ void block_sync(const unsigned *in, unsigned *out, int n)
{
    __shared__ unsigned pairbuf[128];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned t = threadIdx.x, warp = t >> 5;
    unsigned v = (i < n) ? in[i] : 0u;
    long long c0 = clock64();
    int cnt = __syncthreads_count(v & 1u);
    int all = __syncthreads_and(v != 0x12345678u);
    int any = __syncthreads_or((v & 0xffu) == 0x5au);
    unsigned key = v & 7u;
    unsigned peers = __match_any_sync(0xffffffffu, key);
    int same = 0;
    unsigned allmask = __match_all_sync(0xffffffffu, warp, &same);
#if __CUDA_ARCH__ >= 800
    unsigned wsum = __reduce_add_sync(0xffffffffu, v & 0xffffu);
#else
    unsigned wsum = v & 0xffffu;
    for (int off = 16; off > 0; off >>= 1)
        wsum += __shfl_xor_sync(0xffffffffu, wsum, off);
#endif
    /* warps 0,1 use barrier 1 and warps 2,3 barrier 2, 64 threads each */
    unsigned bar = 1u + (warp >> 1);
    pairbuf[t] = v ^ (warp << 24);
    asm volatile("bar.sync %0, 64;" ::"r"(bar) : "memory");
    unsigned partner = pairbuf[t ^ 32u];
    asm volatile("bar.sync %0, 64;" ::"r"(bar) : "memory");
    long long c1 = clock64();
    if (i < n) {
        unsigned *o = out + (size_t)i * 8;
        o[0] = (unsigned)cnt;
        o[1] = (unsigned)all;
        o[2] = (unsigned)any;
        o[3] = peers;
        o[4] = allmask | (unsigned)same;
        o[5] = wsum;
        o[6] = partner;
        o[7] = c1 >= c0 ? 1u : 0u;
    }
}

extern "C" __global__ void last_block_sum(const unsigned *in, unsigned *partial, unsigned *counter,
                                          unsigned *total, int n)
{
    __shared__ unsigned s[128];
    __shared__ bool last;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    s[threadIdx.x] = (i < n) ? in[i] : 0u;
    __syncthreads();
    for (unsigned st = 64; st > 0; st >>= 1) {
        if (threadIdx.x < st)
            s[threadIdx.x] += s[threadIdx.x + st];
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = s[0];
        __threadfence();
        unsigned ticket = atomicInc(counter, gridDim.x);
        last = (ticket == gridDim.x - 1);
    }
    __syncthreads();
    if (last && threadIdx.x == 0) {
        unsigned sum = 0;
        for (unsigned b = 0; b < gridDim.x; ++b)
            sum += ((volatile unsigned *)partial)[b];
        *total = sum;
        *counter = 0;
    }
}
