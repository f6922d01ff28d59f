// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: 128-bit integer arithmetic (carry chains: add.cc/addc, mul.hi) and PTX integer
// instructions that have no plain C spelling, through inline asm: extended-precision add/sub/mad
// chains, bfe, bfi, lop3, prmt modes, dp4a/dp2a, shf clamp, bfind, and %laneid/%lanemask_lt.
#define WI_N 24

extern "C" __global__ void wide_int(const unsigned long long *a, const unsigned long long *b,
                                    unsigned long long *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    unsigned long long x = a[i], y = b[i];
    unsigned xa = (unsigned)x, xb = (unsigned)(x >> 32), ya = (unsigned)y, yb = (unsigned)(y >> 32);
    unsigned long long *o = out + (size_t)i * WI_N;
    unsigned __int128 p = (unsigned __int128)x * y;
    unsigned __int128 s = p + ((unsigned __int128)y << 64 | x);
    unsigned sh = (unsigned)(y >> 57); /* 0..127 */
    o[0] = (unsigned long long)p;
    o[1] = (unsigned long long)(p >> 64);
    o[2] = (unsigned long long)s;
    o[3] = (unsigned long long)(s >> 64);
    o[4] = (unsigned long long)(s >> sh);
    o[5] = (unsigned long long)((s << sh) >> 64);
    o[6] = (s > p) ? 1u : 0u;
    /* 96-bit add and sub through the carry flag */
    unsigned r0, r1, r2;
    asm("add.cc.u32 %0, %3, %6;\n\taddc.cc.u32 %1, %4, %7;\n\taddc.u32 %2, %5, %8;"
        : "=r"(r0), "=r"(r1), "=r"(r2)
        : "r"(xa), "r"(xb), "r"(ya), "r"(ya), "r"(yb), "r"(xa));
    o[7] = ((unsigned long long)r1 << 32) | r0;
    o[8] = r2;
    asm("sub.cc.u32 %0, %3, %6;\n\tsubc.cc.u32 %1, %4, %7;\n\tsubc.u32 %2, %5, %8;"
        : "=r"(r0), "=r"(r1), "=r"(r2)
        : "r"(xa), "r"(xb), "r"(ya), "r"(ya), "r"(yb), "r"(xa));
    o[9] = ((unsigned long long)r1 << 32) | r0;
    o[10] = r2;
    /* 32x32 -> 64 via mad.lo.cc / madc.hi */
    asm("mad.lo.cc.u32 %0, %2, %3, %4;\n\tmadc.hi.u32 %1, %2, %3, %5;"
        : "=r"(r0), "=r"(r1)
        : "r"(xa), "r"(ya), "r"(xb), "r"(yb));
    o[11] = ((unsigned long long)r1 << 32) | r0;
    unsigned pos = ya & 31u, len = 1u + ((ya >> 8) & 0xffu) % 31u; /* 1..31 */
    asm("bfe.u32 %0, %1, %2, %3;" : "=r"(r0) : "r"(xa), "r"(pos), "r"(len));
    o[12] = r0;
    int sr;
    asm("bfe.s32 %0, %1, %2, %3;" : "=r"(sr) : "r"((int)xa), "r"(pos), "r"(len));
    o[13] = (unsigned)sr;
    asm("bfi.b32 %0, %1, %2, %3, %4;" : "=r"(r0) : "r"(xb), "r"(yb), "r"(pos), "r"(len));
    o[14] = r0;
    asm("lop3.b32 %0, %1, %2, %3, 0xe8;" : "=r"(r0) : "r"(xa), "r"(ya), "r"(xb)); /* majority */
    o[15] = r0;
    asm("lop3.b32 %0, %1, %2, %3, 0x96;" : "=r"(r0) : "r"(xa), "r"(ya), "r"(xb)); /* 3-way xor */
    o[16] = r0;
    asm("prmt.b32.f4e %0, %1, %2, %3;" : "=r"(r0) : "r"(xa), "r"(ya), "r"(yb));
    o[17] = r0;
    asm("prmt.b32.ecr %0, %1, %2, %3;" : "=r"(r0) : "r"(xa), "r"(ya), "r"(yb));
    o[18] = r0;
    o[19] = (unsigned)__dp4a((int)xa, (int)ya, (int)xb);
    o[20] = __dp2a_lo(xa, ya, xb);
    asm("shf.r.clamp.b32 %0, %1, %2, %3;" : "=r"(r0) : "r"(xa), "r"(ya), "r"(yb >> 26));
    o[21] = r0;
    asm("bfind.u32 %0, %1;" : "=r"(r0) : "r"(xa >> (yb & 31u)));
    o[22] = r0;
    unsigned lane, lt;
    asm("mov.u32 %0, %%laneid;" : "=r"(lane));
    asm("mov.u32 %0, %%lanemask_lt;" : "=r"(lt));
    o[23] = ((unsigned long long)lane << 32) | lt;
}
