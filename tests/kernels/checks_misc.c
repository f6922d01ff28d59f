/* SPDX-License-Identifier: Apache-2.0
 * Checkers for float_library (more CUDA math functions, each within its documented ulp bound
 * plus 2 for the reference's own error; references in long double) and int_misc (24-bit
 * multiplies, sad, abs, 16-bit products, the byte/halfword SIMD intrinsics). */
#include "kcheck.h"

#include <math.h>

#define FL_NF 24
#define FL_ND 12
#define IM_N 20

static int ok_f(float got, long double want, uint64_t ulps, double abs_tol) {
    if (isnan(got) || isnan((double)want)) return isnan(got) && isnan((double)want);
    if (fabsl((long double)got - want) <= abs_tol) return 1;
    return kc_ulp_f(got, (float)want) <= ulps;
}

int check_float_library(kc *k) {
    static const char *const fname[FL_NF] = {
        "asinf",      "acosf",  "atanf",  "atan2f", "sinhf",  "coshf",       "erff",    "erfcf",
        "cbrtf",      "hypotf", "log1pf", "expm1f", "exp2f",  "exp10f",      "log2f",   "log10f",
        "remainderf", "fdimf",  "roundf", "modff",  "frexpf", "__saturatef", "lgammaf", "tanf"};
    /* CUDA C Programming Guide maximum ulp errors, then + 2 (0 stays exact). */
    static const uint64_t fulp[FL_NF] = {2, 2, 2, 3, 3, 2, 2, 4, 1, 3, 1, 1,
                                         2, 2, 1, 2, 0, 0, 0, 0, 0, 0, 6, 4};
    static const char *const dname[FL_ND] = {"asin", "atan2", "sinh",  "cosh", "tanh",  "erf",
                                             "cbrt", "log1p", "expm1", "pow",  "hypot", "cos"};
    static const uint64_t dulp[FL_ND] = {2, 2, 2, 1, 1, 2, 1, 1, 1, 2, 1, 2};
    int n = 2048;
    float *a = kc_host(k, 4 * (size_t)n), *b = kc_host(k, 4 * (size_t)n), *c = kc_host(k, 4 * (size_t)n);
    float *of = kc_host(k, 4 * FL_NF * (size_t)n);
    double *od = kc_host(k, 8 * FL_ND * (size_t)n);
    for (int i = 0; i < n; ++i) {
        a[i] = kc_randf(k, -0.95f, 0.95f);
        b[i] = kc_randf(k, 0.1f, 20.0f);
        c[i] = kc_randf(k, -20.0f, 20.0f);
        if (i % 16 == 0)
            c[i] = (float)((int)(kc_rand32(k) % 41u) - 20) * 0.5f; /* exact halves: round/remainder ties */
    }
    CUdeviceptr da, db, dc, dof, dod;
    KC_CU(k, kc_dup(k, &da, a, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &db, b, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &dc, c, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dof, 4 * FL_NF * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dod, 8 * FL_ND * (size_t)n));
    void *args[] = {&da, &db, &dc, &dof, &dod, &n};
    KC_TRY(kc_run1d(k, "float_library", ((unsigned)n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(of, dof, 4 * FL_NF * (size_t)n));
    KC_CU(k, cuMemcpyDtoH(od, dod, 8 * FL_ND * (size_t)n));
    kc_opfails fails = {0};
    for (int i = 0; i < n; ++i) {
        float x = a[i], y = b[i], z = c[i];
        long double X = x, Y = y, Z = z;
        long double w[FL_NF];
        w[0] = asinl(X);
        w[1] = acosl(X);
        w[2] = atanl(Z);
        w[3] = atan2l(Z, Y);
        w[4] = sinhl((long double)(x * 4.0f));
        w[5] = coshl((long double)(x * 4.0f));
        w[6] = erfl((long double)(x * 2.0f));
        w[7] = erfcl((long double)(x * 2.0f));
        w[8] = cbrtl(Z);
        w[9] = hypotl(Y, Z);
        w[10] = log1pl(X);
        w[11] = expm1l(X);
        w[12] = exp2l((long double)(x * 10.0f));
        w[13] = powl(10.0L, (long double)(x * 3.0f));
        w[14] = log2l(Y);
        w[15] = log10l(Y);
        w[16] = remainderf(z, y);
        w[17] = fdimf(z, y);
        w[18] = roundf(z * 1.5f);
        float ip, fr = modff(z * 1.25f, &ip);
        w[19] = fr + ip * 4.0f;
        int e;
        float m = frexpf(z, &e);
        w[20] = m + (float)e * 8.0f;
        float s = x * 1.5f;
        w[21] = s < 0.0f ? 0.0f : s > 1.0f ? 1.0f : s;
        w[22] = lgammal(Y);
        w[23] = tanl(X);
        for (int q = 0; q < FL_NF; ++q) {
            float got = of[(size_t)i * FL_NF + (size_t)q];
            int ok = fulp[q] == 0
                         ? kc_f2u(got) == kc_f2u((float)w[q])
                         /* near a zero of the function an ulp bound is meaningless: lgammaf at 1, 2 */
                         : ok_f(got, w[q], fulp[q] + 2, q == 22 ? 1e-6 : 0.0);
            if (!ok)
                kc_opfail(&fails, q, "%s(a=%a b=%a c=%a): got %a want %a (%llu ulp)", fname[q], (double)x,
                          (double)y, (double)z, (double)got, (double)(float)w[q],
                          (unsigned long long)kc_ulp_f(got, (float)w[q]));
        }
        long double wd[FL_ND] = {asinl(X),         atan2l(Z, Y),      sinhl(X * 4), coshl(X * 4),
                                 tanhl(Z * 0.25L), erfl(X * 2),       cbrtl(Z),     log1pl(X),
                                 expm1l(X),        powl(Y, Z * 0.5L), hypotl(Y, Z), cosl(Z)};
        for (int q = 0; q < FL_ND; ++q) {
            double got = od[(size_t)i * FL_ND + (size_t)q], want = (double)wd[q];
            if (kc_ulp_d(got, want) > dulp[q] + 2)
                kc_opfail(&fails, 32 + q, "%s (double)(a=%a b=%a c=%a): got %a want %a (%llu ulp)", dname[q],
                          (double)x, (double)y, (double)z, got, want,
                          (unsigned long long)kc_ulp_d(got, want));
        }
    }
    return kc_opfail_finish(k, &fails);
}

static uint32_t bytewise(uint32_t x, uint32_t y, int op) {
    uint32_t r = 0;
    for (int kk = 0; kk < 4; ++kk) {
        uint32_t a = (x >> (8 * kk)) & 0xffu, b = (y >> (8 * kk)) & 0xffu, v;
        switch (op) {
        case 0:
            v = (a + b) & 0xffu;
            break; /* __vadd4 */
        case 1:
            v = a > b ? a - b : b - a;
            break; /* __vabsdiffu4 */
        case 2:
            v = a > b ? a : b;
            break; /* __vmaxu4 */
        case 3:
            v = a == b ? 0xffu : 0u;
            break; /* __vcmpeq4 */
        default:
            v = (a + b + 1u) >> 1;
            break; /* __vavgu4 */
        }
        r |= v << (8 * kk);
    }
    return r;
}

static int32_t sext(uint32_t v, int bits) {
    uint32_t m = 1u << (bits - 1);
    v &= (bits == 32) ? 0xffffffffu : ((1u << bits) - 1u);
    return (int32_t)((v ^ m) - m);
}

static void misc_ref(uint32_t x, uint32_t y, uint32_t z, uint32_t *o) {
    int64_t x24 = sext(x, 24), y24 = sext(y, 24);
    o[0] = (uint32_t)(uint64_t)(x24 * y24);
    o[1] = (uint32_t)((uint64_t)(x & 0xffffffu) * (y & 0xffffffu));
    o[2] = (uint32_t)((uint64_t)(x24 * y24) >> 32);
    int64_t d = (int64_t)(int32_t)x - (int32_t)y;
    o[3] = (uint32_t)(d < 0 ? -d : d) + z;
    o[4] = (x > y ? x - y : y - x) + z;
    o[5] = (int32_t)x < 0 ? 0u - x : x;
    o[6] = (uint32_t)sext((uint32_t)(sext(x, 16) * sext(y, 16)), 16);
    o[7] = (uint32_t)(sext(x, 16) * sext(y, 16));
    o[8] = (x & 0xffffu) * (y & 0xffffu);
    o[9] = bytewise(x, y, 0);
    o[10] = (((x & 0xffffu) - (y & 0xffffu)) & 0xffffu) | ((((x >> 16) - (y >> 16)) & 0xffffu) << 16);
    o[11] = bytewise(x, y, 1);
    o[12] = bytewise(x, y, 2);
    o[13] = bytewise(x, (x & 0xff00ff00u) | (y & 0x00ff00ffu), 3);
    o[14] = bytewise(x, y, 4);
    uint32_t ss = 0;
    for (int h = 0; h < 2; ++h) {
        int32_t v = sext(x >> (16 * h), 16) + sext(y >> (16 * h), 16);
        v = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
        ss |= ((uint32_t)v & 0xffffu) << (16 * h);
    }
    o[15] = ss;
    int64_t lx = (int64_t)(((uint64_t)x << 32) | y), ly = (int64_t)(((uint64_t)z << 32) | x);
    uint64_t alx = lx < 0 ? 0u - (uint64_t)lx : (uint64_t)lx;
    o[16] = (uint32_t)(alx >> 7);
    /* the device shifts the signed values: arithmetic shifts (gcc's >> on negative int64_t) */
    o[17] = (uint32_t)((lx > ly ? lx : ly) >> 13) ^ (uint32_t)((lx < ly ? lx : ly) >> 3);
    uint32_t v = x & y, clz = 0, ffs = 0, pop = 0;
    for (int bit = 31; bit >= 0 && !((v >> bit) & 1u); --bit)
        ++clz;
    for (int bit = 0; bit < 32; ++bit)
        if ((z >> bit) & 1u) {
            ffs = (uint32_t)bit + 1;
            break;
        }
    for (uint32_t t = x ^ z; t; t &= t - 1)
        ++pop;
    o[18] = clz | (ffs << 8) | (pop << 16);
    uint32_t gt = ((x & 0xffffu) > (y & 0xffffu) ? 1u : 0u) | ((x >> 16) > (y >> 16) ? 0x10000u : 0u);
    uint32_t sads = 0;
    for (int kk = 0; kk < 4; ++kk) {
        int32_t p = sext(x >> (8 * kk), 8), q = sext(y >> (8 * kk), 8);
        sads += (uint32_t)(p > q ? p - q : q - p);
    }
    o[19] = gt ^ sads;
}

int check_int_misc(kc *k) {
    static const char *const what[IM_N] = {"__mul24",
                                           "__umul24",
                                           "__mulhi (24-bit inputs)",
                                           "__sad",
                                           "__usad",
                                           "abs",
                                           "short product",
                                           "int product of shorts",
                                           "unsigned short product",
                                           "__vadd4",
                                           "__vsub2",
                                           "__vabsdiffu4",
                                           "__vmaxu4",
                                           "__vcmpeq4",
                                           "__vavgu4",
                                           "__vaddss2",
                                           "llabs",
                                           "llmax/llmin",
                                           "clz/ffs/popc",
                                           "__vsetgtu2 ^ __vsads4"};
    int n = 3000;
    uint32_t *a = kc_host(k, 4 * (size_t)n), *b = kc_host(k, 4 * (size_t)n), *c = kc_host(k, 4 * (size_t)n);
    uint32_t *got = kc_host(k, 4 * IM_N * (size_t)n), *want = kc_host(k, 4 * IM_N * (size_t)n);
    static const uint32_t edge[] = {0,           1,           0x80000000u, 0x7fffffffu,
                                    0xffffffffu, 0x00800000u, 0x00ffffffu, 0x7f7f8080u};
    for (int i = 0; i < n; ++i) {
        a[i] = i < 64 ? edge[i / 8] : kc_rand32(k);
        b[i] = i < 64 ? edge[i % 8] : kc_rand32(k);
        c[i] = kc_rand32(k) >> (i % 32);
        misc_ref(a[i], b[i], c[i], want + (size_t)i * IM_N);
    }
    CUdeviceptr da, db, dc, dout;
    KC_CU(k, kc_dup(k, &da, a, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &db, b, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &dc, c, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, 4 * IM_N * (size_t)n));
    void *args[] = {&da, &db, &dc, &dout, &n};
    KC_TRY(kc_run1d(k, "int_misc", ((unsigned)n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 4 * IM_N * (size_t)n));
    kc_opfails fails = {0};
    for (int i = 0; i < n; ++i)
        for (int q = 0; q < IM_N; ++q) {
            size_t at = (size_t)i * IM_N + (size_t)q;
            if (got[at] != want[at])
                kc_opfail(&fails, q, "%s(0x%08x, 0x%08x, 0x%08x): got 0x%08x want 0x%08x", what[q], a[i],
                          b[i], c[i], got[at], want[at]);
        }
    return kc_opfail_finish(k, &fails);
}
