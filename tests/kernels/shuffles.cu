// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: every shuffle mode (idx, up, down, bfly/xor) at full width and with width 8/16,
// on 32-bit ints, floats and 64-bit values (two 32-bit shuffles). blockDim.x is a multiple of 32.
// Output: SHFL_N words per thread; checks_warp.c simulates the warp.
#define SHFL_N 12

extern "C" __global__ void shuffles(const unsigned *in, unsigned long long *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned lane = threadIdx.x & 31u;
    unsigned v = (i < n) ? in[i] : 0u;
    float fv = (float)(v & 0xffffu) * 0.25f;
    unsigned long long lv = ((unsigned long long)v << 32) | (v ^ 0xa5a5a5a5u);
    const unsigned full = 0xffffffffu;
    unsigned long long r[SHFL_N];
    r[0] = (unsigned)__shfl_sync(full, (int)v, (int)((lane * 7u + 3u) & 31u));
    r[1] = (unsigned)__shfl_sync(full, (int)v, (int)(lane + 5u), 16);  /* wraps within 16 */
    r[2] = (unsigned)__shfl_up_sync(full, (int)v, 3);
    r[3] = (unsigned)__shfl_up_sync(full, (int)v, 2, 8);
    r[4] = (unsigned)__shfl_down_sync(full, (int)v, 5);
    r[5] = (unsigned)__shfl_down_sync(full, (int)v, 3, 16);
    r[6] = (unsigned)__shfl_xor_sync(full, (int)v, 19);
    r[7] = (unsigned)__shfl_xor_sync(full, (int)v, 5, 8);
    r[8] = __float_as_uint(__shfl_sync(full, fv, 31 - (int)lane));
    r[9] = __float_as_uint(__shfl_down_sync(full, fv, 1));
    r[10] = __shfl_xor_sync(full, lv, 1);
    r[11] = __shfl_up_sync(full, lv, 16);
    if (i < n)
        for (int k = 0; k < SHFL_N; ++k)
            out[(size_t)i * SHFL_N + k] = r[k];
}
