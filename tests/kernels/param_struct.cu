// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: by-value parameters of awkward sizes and alignments: char, short, a struct with
// padding, a double, a 64-bit integer and a float4-aligned struct.
struct mixed {
    char c;
    double d;
    int v[3];
};
struct __align__(16) quad {
    float x, y, z, w;
};

extern "C" __global__ void param_struct(char c, short s, mixed m, double d, long long l, quad q,
                                        double *out)
{
    if (threadIdx.x != 0 || blockIdx.x != 0)
        return;
    out[0] = (double)c;
    out[1] = (double)s;
    out[2] = (double)m.c;
    out[3] = m.d;
    out[4] = (double)(m.v[0] + m.v[1] * 10 + m.v[2] * 100);
    out[5] = d;
    out[6] = (double)l;
    out[7] = (double)(q.x + q.y * 2.0f + q.z * 4.0f + q.w * 8.0f);
}
