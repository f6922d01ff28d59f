// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: less common integer operations: 24-bit multiplies, sum of absolute differences,
// abs at the extremes, 16-bit widening multiplies, byte/halfword SIMD intrinsics, saturating and
// rounding helpers, 64-bit min/max/abs. IM_N results per thread; checks_wide.c mirrors the list.
#define IM_N 20

extern "C" __global__ void int_misc(const unsigned *a, const unsigned *b, const unsigned *c, unsigned *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    unsigned x = a[i], y = b[i], z = c[i];
    unsigned *o = out + (size_t)i * IM_N;
    o[0] = (unsigned)__mul24((int)x, (int)y);
    o[1] = __umul24(x, y);
    o[2] = (unsigned)__mulhi((int)(x << 8) >> 8, (int)(y << 8) >> 8);
    o[3] = __sad((int)x, (int)y, z);
    o[4] = __usad(x, y, z);
    o[5] = (unsigned)abs((int)x);
    o[6] = (unsigned)(short)((short)x * (short)y);
    o[7] = (unsigned)((int)(short)x * (int)(short)y);
    o[8] = (unsigned)((unsigned)(unsigned short)x * (unsigned short)y);
    o[9] = __vadd4(x, y);
    o[10] = __vsub2(x, y);
    o[11] = __vabsdiffu4(x, y);
    o[12] = __vmaxu4(x, y);
    o[13] = __vcmpeq4(x, (x & 0xff00ff00u) | (y & 0x00ff00ffu));
    o[14] = __vavgu4(x, y);
    o[15] = __vaddss2(x, y);
    long long lx = ((long long)x << 32) | y, ly = ((long long)z << 32) | x;
    o[16] = (unsigned)(llabs(lx) >> 7);
    o[17] = (unsigned)(llmax(lx, ly) >> 13) ^ (unsigned)(llmin(lx, ly) >> 3);
    o[18] = (unsigned)__clz((int)(x & y)) | ((unsigned)__ffs((int)z) << 8) | ((unsigned)__popc(x ^ z) << 16);
    o[19] = __vsetgtu2(x, y) ^ __vsads4(x, y);
}
