// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: IEEE special values: signed zeros, infinities, NaNs, subnormals and the extremes,
// through arithmetic, min/max, comparisons, classification, copysign, fmod, ldexp, exp and log.
// The host checker runs every pair (a[i], b[i]) of a list of special values. FS_N results per pair.
#define FS_N 20

extern "C" __global__ void float_special(const float *a, const float *b, const int *k, float *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float x = a[i], y = b[i];
    float *o = out + (size_t)i * FS_N;
    o[0] = x + y;
    o[1] = x - y;
    o[2] = x * y;
    o[3] = x / y;
    o[4] = fminf(x, y);
    o[5] = fmaxf(x, y);
    o[6] = sqrtf(x);
    o[7] = (float)((isnan(x) ? 1 : 0) | (isinf(y) ? 2 : 0) | (isfinite(x) ? 4 : 0) | (signbit(x) ? 8 : 0));
    o[8] = copysignf(x, y);
    o[9] = fabsf(x);
    o[10] = fmodf(x, y);
    o[11] = (float)((x < y) | (x <= y) << 1 | (x == y) << 2 | (x != y) << 3 | (x > y) << 4 | (x >= y) << 5 |
                    (isnan(x) || isnan(y)) << 6);
    o[12] = fmaf(x, y, 1.0f);
    o[13] = 1.0f / x;
    o[14] = ldexpf(x, k[i]);
    o[15] = expf(x);
    o[16] = logf(x);
    o[17] = truncf(x) + floorf(y);
    o[18] = (float)(double)x * 0.5f;
    o[19] = x * 0x1p-100f;
}
