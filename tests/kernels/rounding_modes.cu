// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: IEEE operations with explicit rounding modes (PTX .rn/.rz/.rp/.rm): add, sub, mul,
// div, fma, sqrt and reciprocal in single precision, add, mul, div, sqrt and reciprocal in double.
// Output per thread: 28 floats (7 ops x rn,rz,ru,rd) and 20 doubles (5 ops x rn,rz,ru,rd).
#define RM_NF 28
#define RM_ND 20

extern "C" __global__ void rounding_modes(const float *a, const float *b, const float *c, const double *da,
                                          const double *db, float *of, double *od, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = a[i], y = b[i], z = c[i];
    double u = da[i], v = db[i];
    float *f = of + (size_t)i * RM_NF;
    double *d = od + (size_t)i * RM_ND;
    f[0] = __fadd_rn(x, y);  f[1] = __fadd_rz(x, y);  f[2] = __fadd_ru(x, y);  f[3] = __fadd_rd(x, y);
    f[4] = __fsub_rn(x, z);  f[5] = __fsub_rz(x, z);  f[6] = __fsub_ru(x, z);  f[7] = __fsub_rd(x, z);
    f[8] = __fmul_rn(x, y);  f[9] = __fmul_rz(x, y);  f[10] = __fmul_ru(x, y); f[11] = __fmul_rd(x, y);
    f[12] = __fdiv_rn(x, y); f[13] = __fdiv_rz(x, y); f[14] = __fdiv_ru(x, y); f[15] = __fdiv_rd(x, y);
    f[16] = __fmaf_rn(x, y, z); f[17] = __fmaf_rz(x, y, z); f[18] = __fmaf_ru(x, y, z); f[19] = __fmaf_rd(x, y, z);
    float ax = fabsf(x);
    f[20] = __fsqrt_rn(ax); f[21] = __fsqrt_rz(ax); f[22] = __fsqrt_ru(ax); f[23] = __fsqrt_rd(ax);
    f[24] = __frcp_rn(y);   f[25] = __frcp_rz(y);   f[26] = __frcp_ru(y);   f[27] = __frcp_rd(y);
    d[0] = __dadd_rn(u, v);  d[1] = __dadd_rz(u, v);  d[2] = __dadd_ru(u, v);  d[3] = __dadd_rd(u, v);
    d[4] = __dmul_rn(u, v);  d[5] = __dmul_rz(u, v);  d[6] = __dmul_ru(u, v);  d[7] = __dmul_rd(u, v);
    d[8] = __ddiv_rn(u, v);  d[9] = __ddiv_rz(u, v);  d[10] = __ddiv_ru(u, v); d[11] = __ddiv_rd(u, v);
    double au = fabs(u);
    d[12] = __dsqrt_rn(au); d[13] = __dsqrt_rz(au); d[14] = __dsqrt_ru(au); d[15] = __dsqrt_rd(au);
    d[16] = __drcp_rn(v);   d[17] = __drcp_rz(v);   d[18] = __drcp_ru(v);   d[19] = __drcp_rd(v);
}
