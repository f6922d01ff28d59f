// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: real PTX .func calls. __noinline__ keeps them out of line: a float polynomial that
// reads a global array, a recursive gcd, a function taking pointers to the caller's locals (generic
// pointers into .local) and one returning a struct.
struct pair_u32 {
    unsigned lo, hi;
};

__device__ __noinline__ float poly_eval(float x, const float *c, int degree)
{
    float r = c[degree];
    for (int k = degree - 1; k >= 0; --k)
        r = r * x + c[k];
    return r;
}

__device__ __noinline__ unsigned gcd_rec(unsigned a, unsigned b)
{
    return b == 0u ? a : gcd_rec(b, a % b);
}

__device__ __noinline__ void sort3(int *a, int *b, int *c)
{
    int t;
    if (*a > *b) { t = *a; *a = *b; *b = t; }
    if (*b > *c) { t = *b; *b = *c; *c = t; }
    if (*a > *b) { t = *a; *a = *b; *b = t; }
}

__device__ __noinline__ pair_u32 split_mul(unsigned a, unsigned b)
{
    unsigned long long p = (unsigned long long)a * b;
    pair_u32 r;
    r.lo = (unsigned)p;
    r.hi = (unsigned)(p >> 32);
    return r;
}

extern "C" __global__ void device_funcs(const unsigned *u, const float *x, const float *coef,
                                        float *out_poly, unsigned *out_u, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    unsigned a = u[2 * i], b = u[2 * i + 1];
    out_poly[i] = poly_eval(x[i], coef, 5);
    int v0 = (int)(a & 0xffffu) - 30000, v1 = (int)(b & 0xffffu) - 30000, v2 = (int)(a >> 16) - 30000;
    sort3(&v0, &v1, &v2);
    pair_u32 m = split_mul(a, b);
    out_u[6 * i + 0] = gcd_rec(a % 100000u + 1u, b % 100000u + 1u);
    out_u[6 * i + 1] = (unsigned)v0;
    out_u[6 * i + 2] = (unsigned)v1;
    out_u[6 * i + 3] = (unsigned)v2;
    out_u[6 * i + 4] = m.lo;
    out_u[6 * i + 5] = m.hi;
}
