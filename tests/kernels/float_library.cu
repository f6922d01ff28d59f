// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: more of the CUDA math library in single and double precision — inverse
// trigonometric, hyperbolic, error and gamma-related functions, cube root, hypot, log1p/expm1,
// exp2/exp10, remainder and friends, rounding and saturation — each with its documented ulp bound.
// Inputs: a in [-0.95, 0.95], b in [0.1, 20], c in [-20, 20]. FL_NF floats and FL_ND doubles each.
#define FL_NF 24
#define FL_ND 12

extern "C" __global__ void float_library(const float *a, const float *b, const float *c, float *of, double *od, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = a[i], y = b[i], z = c[i];
    float *f = of + (size_t)i * FL_NF;
    f[0] = asinf(x);
    f[1] = acosf(x);
    f[2] = atanf(z);
    f[3] = atan2f(z, y);
    f[4] = sinhf(x * 4.0f);
    f[5] = coshf(x * 4.0f);
    f[6] = erff(x * 2.0f);
    f[7] = erfcf(x * 2.0f);
    f[8] = cbrtf(z);
    f[9] = hypotf(y, z);
    f[10] = log1pf(x);
    f[11] = expm1f(x);
    f[12] = exp2f(x * 10.0f);
    f[13] = exp10f(x * 3.0f);
    f[14] = log2f(y);
    f[15] = log10f(y);
    f[16] = remainderf(z, y);
    f[17] = fdimf(z, y);
    f[18] = roundf(z * 1.5f);
    float ip;
    float fr = modff(z * 1.25f, &ip);
    f[19] = fr + ip * 4.0f;
    int e;
    float m = frexpf(z, &e);
    f[20] = m + (float)e * 8.0f;
    f[21] = __saturatef(x * 1.5f);
    f[22] = lgammaf(y);
    f[23] = tanf(x);
    double dx = x, dy = y, dz = z;
    double *d = od + (size_t)i * FL_ND;
    d[0] = asin(dx);
    d[1] = atan2(dz, dy);
    d[2] = sinh(dx * 4.0);
    d[3] = cosh(dx * 4.0);
    d[4] = tanh(dz * 0.25);
    d[5] = erf(dx * 2.0);
    d[6] = cbrt(dz);
    d[7] = log1p(dx);
    d[8] = expm1(dx);
    d[9] = pow(dy, dz * 0.5);
    d[10] = hypot(dy, dz);
    d[11] = cos(dz);
}
