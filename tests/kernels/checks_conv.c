/* SPDX-License-Identifier: Apache-2.0
 * Checker for conversions: host references for every rounding mode, computed without changing
 * the host's rounding mode (directed roundings step from the round-to-nearest result with
 * nextafter). Float-to-integer results saturate at the destination range, as PTX cvt does; NaN
 * inputs are not used because the documented result for 64-bit destinations is not certain. */
#include "kcheck.h"

#include <float.h>
#include <math.h>

#define CONV_N 30

enum rmode { RN, RZ, RU, RD };

static double round_int(double v, enum rmode m) {
    switch (m) {
    case RN:
        return nearbyint(v); /* host default mode: to nearest, ties to even */
    case RZ:
        return trunc(v);
    case RU:
        return ceil(v);
    default:
        return floor(v);
    }
}

static uint64_t sat_s32(double r) {
    int32_t v = r >= 2147483647.0 ? INT32_MAX : r <= -2147483648.0 ? INT32_MIN : (int32_t)r;
    return (uint32_t)v;
}

static uint64_t sat_u32(double r) { return r <= 0.0 ? 0u : r >= 4294967295.0 ? UINT32_MAX : (uint32_t)r; }

static uint64_t sat_s64(double r) {
    int64_t v = r >= 0x1p63 ? INT64_MAX : r <= -0x1p63 ? INT64_MIN : (int64_t)r;
    return (uint64_t)v;
}

static uint64_t sat_u64(double r) { return r <= 0.0 ? 0u : r >= 0x1p64 ? UINT64_MAX : (uint64_t)r; }

/* Rounds the exact value v (given as long double, exact for all inputs used) to float. */
static float to_float(long double v, enum rmode m) {
    float f = (float)v;
    if (isnan(f) || (long double)f == v) return f;
    switch (m) {
    case RN:
        return f;
    case RZ:
        return fabsl((long double)f) > fabsl(v) ? nextafterf(f, 0.0f) : f;
    case RU:
        return (long double)f < v ? nextafterf(f, INFINITY) : f;
    default:
        return (long double)f > v ? nextafterf(f, -INFINITY) : f;
    }
}

static double to_double(long double v, enum rmode m) {
    double d = (double)v;
    if ((long double)d == v) return d;
    switch (m) {
    case RN:
        return d;
    case RZ:
        return fabsl((long double)d) > fabsl(v) ? nextafter(d, 0.0) : d;
    case RU:
        return (long double)d < v ? nextafter(d, INFINITY) : d;
    default:
        return (long double)d > v ? nextafter(d, -INFINITY) : d;
    }
}

static void conv_ref(float f, double d, int64_t l, uint64_t *o) {
    o[0] = sat_s32(round_int(f, RN));
    o[1] = sat_s32(round_int(f, RZ));
    o[2] = sat_s32(round_int(f, RU));
    o[3] = sat_s32(round_int(f, RD));
    o[4] = sat_u32(round_int(f, RN));
    o[5] = sat_s64(round_int(f, RN));
    o[6] = sat_s64(round_int(f, RZ));
    o[7] = sat_u64(round_int(f, RZ));
    o[8] = sat_s32(round_int(d, RN));
    o[9] = sat_s32(round_int(d, RZ));
    o[10] = sat_s64(round_int(d, RD));
    o[11] = kc_f2u(to_float(d, RN));
    o[12] = kc_f2u(to_float(d, RZ));
    o[13] = kc_f2u(to_float(d, RU));
    o[14] = kc_f2u(to_float(d, RD));
    o[15] = kc_d2u((double)f);
    o[16] = kc_f2u(to_float((long double)l, RN));
    o[17] = kc_f2u(to_float((long double)l, RZ));
    o[18] = kc_f2u(to_float((long double)l, RU));
    o[19] = kc_f2u(to_float((long double)l, RD));
    o[20] = kc_d2u(to_double((long double)l, RN));
    o[21] = kc_d2u(to_double((long double)l, RZ));
    o[22] = kc_f2u(to_float((long double)(int32_t)l, RN));
    o[23] = kc_f2u(to_float((long double)(uint32_t)l, RZ));
    o[24] = kc_f2u(to_float((long double)(uint64_t)l, RN));
    o[25] = kc_d2u((double)(uint32_t)l);
    o[26] = (uint64_t)(int64_t)(int32_t)l;
    o[27] = (uint16_t)l;
    o[28] = (uint64_t)(int64_t)(int8_t)l;
    o[29] = kc_f2u(to_float((long double)(int32_t)(l >> 20), RD));
}

int check_conversions(kc *k) {
    int n = 3000;
    float *fin = kc_host(k, 4 * (size_t)n);
    double *din = kc_host(k, 8 * (size_t)n);
    int64_t *lin = kc_host(k, 8 * (size_t)n);
    uint64_t *got = kc_host(k, 8 * CONV_N * (size_t)n), *want = kc_host(k, 8 * CONV_N * (size_t)n);
    static const float fs[] = {0.5f,       -0.5f,      1.5f,     -1.5f,         2.5f,           -2.5f,
                               -0.0f,      0.0f,       INFINITY, -INFINITY,     3e9f,           -3e9f,
                               1e19f,      -1e19f,     4.2e9f,   2147483520.0f, -2147483648.0f, 1e-30f,
                               0x1p63f,    -0x1p63f,   0x1p64f,  4294967040.0f, -0.75f,         0.49999997f,
                               8388609.0f, 16777217.0f};
    static const double ds[] = {0.5,
                                -0.5,
                                2.5,
                                -3.5,
                                1e-40,
                                -3e-42,
                                1e-46,
                                3.4028235677973366e38,
                                3.4028236e38,
                                -3.5e38,
                                1e300,
                                2147483647.5,
                                -2147483648.5,
                                2147483648.0,
                                0x1p63,
                                -0x1p63,
                                -0x1.0000000000001p63,
                                1.0000000596046448,
                                1.0000000298023224,
                                -1.0000000298023224,
                                16777217.0,
                                -0.0,
                                4.9e-324};
    static const int64_t ls[] = {0,
                                 -1,
                                 1,
                                 INT64_MIN,
                                 INT64_MAX,
                                 (1LL << 53) + 1,
                                 (1LL << 24) + 1,
                                 -(1LL << 24) - 1,
                                 0x7fffffffffffff01LL,
                                 0x00ffffff80000000LL,
                                 -0x00ffffff80000001LL,
                                 2147483647,
                                 -2147483648LL,
                                 4294967295LL,
                                 0x1234567887654321LL};
    const int nfs = (int)(sizeof fs / sizeof fs[0]), nds = (int)(sizeof ds / sizeof ds[0]);
    const int nls = (int)(sizeof ls / sizeof ls[0]);
    for (int i = 0; i < n; ++i) {
        uint64_t r = kc_rand(k);
        if (i < nfs)
            fin[i] = fs[i];
        else if (i % 3 == 0)
            fin[i] = kc_randf(k, -1000.0f, 1000.0f);
        else if (i % 3 == 1)
            fin[i] = ldexpf(kc_randf(k, -1.0f, 1.0f), (int)(r % 80u)); /* up to 2^80: saturation */
        else
            fin[i] = (float)((int)(r % 2001u) - 1000) * 0.5f; /* exact halves: ties */
        if (i < nds)
            din[i] = ds[i];
        else if (i % 4 == 0)
            din[i] = ldexp((double)kc_rand(k) / 0x1p64 - 0.5, (int)(r % 140u) - 70);
        else if (i % 4 == 1)
            din[i] = ldexp((double)kc_rand(k) / 0x1p64, -126 - (int)(r % 24u)); /* float subnormals */
        else
            din[i] = (double)((int64_t)(kc_rand(k) >> 30) - (1LL << 33)) * 0.25;
        if (i < nls)
            lin[i] = ls[i];
        else {
            uint64_t u = kc_rand(k) >> (r % 64u);
            lin[i] = (int64_t)((r & (1ull << 40)) ? 0u - u : u);
        }
        conv_ref(fin[i], din[i], lin[i], want + (size_t)i * CONV_N);
    }
    CUdeviceptr df, dd, dl, dout;
    KC_CU(k, kc_dup(k, &df, fin, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &dd, din, 8 * (size_t)n));
    KC_CU(k, kc_dup(k, &dl, lin, 8 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, 8 * CONV_N * (size_t)n));
    void *args[] = {&df, &dd, &dl, &dout, &n};
    KC_TRY(kc_run1d(k, "conversions", ((unsigned)n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 8 * CONV_N * (size_t)n));
    for (int i = 0; i < n; ++i)
        for (int op = 0; op < CONV_N; ++op) {
            size_t at = (size_t)i * CONV_N + (size_t)op;
            if (got[at] != want[at])
                return kc_fail(k, "conversion %d, element %d (f=%.9g d=%.17g l=%lld): got 0x%llx want 0x%llx",
                               op, i, (double)fin[i], din[i], (long long)lin[i], (unsigned long long)got[at],
                               (unsigned long long)want[at]);
        }
    return KC_PASS;
}
