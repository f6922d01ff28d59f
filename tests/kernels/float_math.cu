// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: single- and double-precision math: IEEE-exact operations (sqrt, division, fma),
// the fast approximate intrinsics (rsqrtf, __expf, __logf, __sinf, __cosf, __fdividef) and the
// accurate library functions (expf, logf, sinf/cosf with range reduction, powf, tanhf, exp, log, sin).
// Inputs: a in [0.01, 100], b in [-10, 10] (never 0), c in [-pi, pi]. checks_float.c mirrors the list.
#define FM_NF 17
#define FM_ND 7

extern "C" __global__ void float_math(const float *a, const float *b, const float *c,
                                      float *of, double *od, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = a[i], y = b[i], z = c[i];
    float *f = of + (size_t)i * FM_NF;
    double *d = od + (size_t)i * FM_ND;
    f[0] = sqrtf(x);
    f[1] = rsqrtf(x);
    f[2] = __expf(y);
    f[3] = __logf(x);
    f[4] = __sinf(z);
    f[5] = __cosf(z);
    f[6] = fmaf(x, y, z);
    f[7] = x / y;
    f[8] = expf(y);
    f[9] = logf(x);
    f[10] = sinf(z * 30.0f);
    f[11] = cosf(z * 30.0f);
    f[12] = powf(x, y * 0.25f);
    f[13] = __fdividef(x, y);
    f[14] = fmaxf(x, y) - fminf(x, z);
    f[15] = floorf(y * 3.3f) + ceilf(z) + truncf(x) + rintf(y);
    f[16] = tanhf(y);
    double dx = x, dy = y, dz = z;
    d[0] = sqrt(dx * 1.1);
    d[1] = dx / dy;
    d[2] = fma(dx, dy, dz);
    d[3] = exp(dy);
    d[4] = log(dx);
    d[5] = sin(dz * 7.0);
    d[6] = rsqrt(dx);
}
