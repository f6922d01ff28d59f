// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: integer operations of every width. Each thread computes INT_OPS_N results from its
// pair of 64-bit inputs; the host checker (checks_int.c) mirrors the list in the same order.
#define INT_OPS_N 40

extern "C" __global__ void int_ops(const unsigned long long *a, const unsigned long long *b,
                                   unsigned long long *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    unsigned long long x = a[i], y = b[i];
    long long sx = (long long)x, sy = (long long)y;
    unsigned xa = (unsigned)x, ya = (unsigned)y;
    int sxa = (int)xa, sya = (int)ya;
    unsigned sh64 = (unsigned)(y >> 58);      /* 0..63 */
    unsigned sh32 = (unsigned)(y >> 59);      /* 0..31 */
    long long sd = (long long)(y | 1u);
    if (sd == -1)
        sd = 3;
    int sd32 = (int)(ya | 1u);
    if (sd32 == -1)
        sd32 = 5;
    unsigned short hx = (unsigned short)xa, hy = (unsigned short)ya;
    unsigned char bx = (unsigned char)xa, by = (unsigned char)(ya >> 8);
    unsigned long long *o = out + (size_t)i * INT_OPS_N;

    o[0] = __umul64hi(x, y);
    o[1] = (unsigned long long)__mul64hi(sx, sy);
    o[2] = (unsigned long long)((long long)sxa * (long long)sya); /* mul.wide.s32 */
    o[3] = (unsigned long long)xa * (unsigned long long)ya;       /* mul.wide.u32 */
    o[4] = __umulhi(xa, ya);
    o[5] = (unsigned)__mulhi(sxa, sya);
    o[6] = x << sh64;
    o[7] = x >> sh64;
    o[8] = (unsigned long long)(sx >> sh64);
    o[9] = xa << sh32;
    o[10] = (unsigned)(sxa >> sh32);
    o[11] = (x & y) ^ (~x | y);
    o[12] = (unsigned)__popcll(x);
    o[13] = (unsigned)__popc(xa);
    o[14] = (unsigned)__clzll(sx);
    o[15] = (unsigned)__clz(sxa);
    o[16] = __brevll(x);
    o[17] = __brev(xa);
    o[18] = (unsigned)__ffsll(sx);
    o[19] = (unsigned)__ffs(sya);
    o[20] = __byte_perm(xa, ya, (unsigned)(x >> 32) & 0x7777u);
    o[21] = __funnelshift_l(xa, ya, (unsigned)(x >> 40));
    o[22] = __funnelshift_r(xa, ya, (unsigned)(x >> 40));
    o[23] = __funnelshift_lc(xa, ya, (unsigned)(x >> 58));
    o[24] = x / (y | 1u);
    o[25] = x % (y | 1u);
    o[26] = (unsigned long long)(sx / sd);
    o[27] = (unsigned long long)(sx % sd);
    o[28] = (unsigned)(sxa / sd32);
    o[29] = xa % (ya | 1u);
    o[30] = (unsigned long long)min(sx, sy);
    o[31] = max(xa, ya);
    o[32] = (unsigned short)((unsigned)hx * hy);
    o[33] = (unsigned short)((short)hx >> 3);
    o[34] = (unsigned char)(bx + by);
    o[35] = __uhadd(xa, ya);
    o[36] = (unsigned)__rhadd(sxa, sya);
    o[37] = x * y;
    o[38] = (x + y) ^ (x - y);
    o[39] = (x << sh64) | (x >> ((64u - sh64) & 63u));
}
