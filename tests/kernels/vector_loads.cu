// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: vector memory accesses: float4 loads/stores (also through __ldg), int2 and
// double2 loads/stores. n4 counts float4 elements.
extern "C" __global__ void vector_loads(const float4 *a, const float4 *b, float4 *c, const int2 *p,
                                        int2 *q, const double2 *dv, double2 *dout, int n4)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n4)
        return;
    float4 x = a[i];
    float4 y = __ldg(&b[i]);
    float4 r;
    r.x = x.x + y.w;
    r.y = x.y - y.z;
    r.z = x.z * y.y;
    r.w = x.w + y.x;
    c[i] = r;
    int2 v = p[i];
    q[i] = make_int2(v.y ^ v.x, v.x - v.y);
    double2 d = dv[i];
    dout[i] = make_double2(d.y, d.x + d.y);
}
