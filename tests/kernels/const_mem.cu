// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: __constant__ memory filled by the host through cuModuleGetGlobal + cuMemcpyHtoD:
// a polynomial's coefficients (uniform access) and a lookup table (divergent, per-lane index).
__constant__ float c_coef[16];
__constant__ int c_lut[256];

extern "C" __global__ void const_mem(const float *x, const unsigned *idx, float *out_f, int *out_i, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float v = x[i];
    float r = c_coef[15];
#pragma unroll 1
    for (int k = 14; k >= 0; --k)
        r = fmaf(r, v, c_coef[k]);
    out_f[i] = r;
    out_i[i] = c_lut[idx[i] & 255u] + c_lut[(idx[i] >> 8) & 255u];
}
