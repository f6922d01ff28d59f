// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: warp votes. Full-warp __ballot_sync/__all_sync/__any_sync on a data predicate,
// and a ballot inside a branch taken by lanes 0..19 only, with the matching partial mask.
// blockDim.x must be a multiple of 32. Output: 6 words per thread.
extern "C" __global__ void vote(const unsigned *in, unsigned *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned lane = threadIdx.x & 31u;
    unsigned v = (i < n) ? in[i] : 0u;
    int p = (v & 3u) != 0u;
    unsigned b = __ballot_sync(0xffffffffu, p);
    int all = __all_sync(0xffffffffu, v != 0xdeadbeefu);
    int all2 = __all_sync(0xffffffffu, p);
    int any = __any_sync(0xffffffffu, (v & 0xff0u) == 0x120u);
    unsigned part = 0xffffffffu;
    if (lane < 20u)
        part = __ballot_sync(0x000fffffu, v & 1u);
    __syncwarp();
    if (i < n) {
        unsigned *o = out + (size_t)i * 6;
        o[0] = b;
        o[1] = (unsigned)all;
        o[2] = (unsigned)all2;
        o[3] = (unsigned)any;
        o[4] = part;
        o[5] = (unsigned)__popc(b);
    }
}
