// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: 16-bit floating point: float <-> half (round to nearest even, subnormals,
// overflow to infinity), half arithmetic (scalar and half2), fma, comparisons, and float <-> bfloat16.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define HP_N 12

extern "C" __global__ void half_precision(const float *fa, const float *fb, const float *fc, unsigned short *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = fa[i], y = fb[i], z = fc[i];
    __half hx = __float2half_rn(x), hy = __float2half_rn(y), hz = __float2half_rn(z);
    unsigned short *o = out + (size_t)i * HP_N;
    o[0] = __half_as_ushort(hx);
    o[1] = __half_as_ushort(__hadd(hx, hy));
    o[2] = __half_as_ushort(__hmul(hx, hy));
    o[3] = __half_as_ushort(__hfma(hx, hy, hz));
    o[4] = __half_as_ushort(__hsub(hx, hz));
    __half2 p = __halves2half2(hx, hy), q = __halves2half2(hz, hx);
    __half2 r = __hadd2(p, q);
    o[5] = __half_as_ushort(__low2half(r));
    o[6] = __half_as_ushort(__high2half(r));
    o[7] = (unsigned short)(__hlt(hx, hy) | (__hge(hx, hz) << 1) | (__heq(hy, hz) << 2));
    o[8] = __half_as_ushort(__float2half_rn(__half2float(hx) * 3.0f));
    o[9] = __bfloat16_as_ushort(__float2bfloat16_rn(x));
    o[10] = __bfloat16_as_ushort(__float2bfloat16_rn(__bfloat162float(__float2bfloat16_rn(y)) + z));
    o[11] = __half_as_ushort(__float2half_rz(x));
}
