// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: conversions with explicit rounding modes: float/double -> 32/64-bit integers
// (rn/rz/ru/rd, saturating), double -> float (rn/rz/ru/rd), float -> double, 64-bit and 32-bit
// integers -> float/double with rounding, and integer widening/narrowing. Results are raw bits.
// checks_conv.c mirrors the list.
#define CONV_N 30

extern "C" __global__ void conversions(const float *fin, const double *din, const long long *lin,
                                       unsigned long long *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float f = fin[i];
    double d = din[i];
    long long l = lin[i];
    unsigned long long *o = out + (size_t)i * CONV_N;
    o[0] = (unsigned)__float2int_rn(f);
    o[1] = (unsigned)__float2int_rz(f);
    o[2] = (unsigned)__float2int_ru(f);
    o[3] = (unsigned)__float2int_rd(f);
    o[4] = __float2uint_rn(f);
    o[5] = (unsigned long long)__float2ll_rn(f);
    o[6] = (unsigned long long)__float2ll_rz(f);
    o[7] = __float2ull_rz(f);
    o[8] = (unsigned)__double2int_rn(d);
    o[9] = (unsigned)__double2int_rz(d);
    o[10] = (unsigned long long)__double2ll_rd(d);
    o[11] = __float_as_uint((float)d);
    o[12] = __float_as_uint(__double2float_rz(d));
    o[13] = __float_as_uint(__double2float_ru(d));
    o[14] = __float_as_uint(__double2float_rd(d));
    o[15] = (unsigned long long)__double_as_longlong((double)f);
    o[16] = __float_as_uint(__ll2float_rn(l));
    o[17] = __float_as_uint(__ll2float_rz(l));
    o[18] = __float_as_uint(__ll2float_ru(l));
    o[19] = __float_as_uint(__ll2float_rd(l));
    o[20] = (unsigned long long)__double_as_longlong(__ll2double_rn(l));
    o[21] = (unsigned long long)__double_as_longlong(__ll2double_rz(l));
    o[22] = __float_as_uint(__int2float_rn((int)l));
    o[23] = __float_as_uint(__uint2float_rz((unsigned)l));
    o[24] = __float_as_uint(__ull2float_rn((unsigned long long)l));
    o[25] = (unsigned long long)__double_as_longlong((double)(unsigned)l);
    o[26] = (unsigned long long)(long long)(int)l;
    o[27] = (unsigned short)l;
    o[28] = (unsigned long long)(long long)(signed char)l;
    o[29] = __float_as_uint(__int2float_rd((int)(l >> 20)));
}
