/* SPDX-License-Identifier: Apache-2.0
 * Checker for half_precision: host float <-> binary16 / bfloat16 conversions (round to nearest
 * even and toward zero, subnormals, overflow) and half arithmetic, rounded once from the exact
 * double result. */
#include "kcheck.h"

#include <math.h>

#define HP_N 12

/* Rounds the exact value v to binary16 (nearest-even, or toward zero when rz). */
static uint16_t to_half(double v, int rz) {
    uint16_t sign = signbit(v) ? 0x8000u : 0u;
    double a = fabs(v);
    if (isnan(v)) return 0x7fffu;
    if (isinf(a)) return sign | 0x7c00u;
    if (a == 0.0) return sign;
    int e;
    (void)frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    int qexp = (e - 1 < -14 ? -14 : e - 1) - 10;
    double units = ldexp(a, -qexp);
    double r = rz ? floor(units) : nearbyint(units); /* host default mode: ties to even */
    double res = ldexp(r, qexp);
    if (res > 65504.0) return sign | (rz ? 0x7bffu : 0x7c00u);
    if (res < 0x1p-14) return sign | (uint16_t)ldexp(res, 24);
    int e2;
    (void)frexp(res, &e2);
    uint16_t exp_field = (uint16_t)(e2 - 1 + 15);
    uint16_t mant = (uint16_t)(ldexp(res, -(e2 - 1)) * 1024.0 - 1024.0);
    return sign | (uint16_t)(exp_field << 10) | mant;
}

static double from_half(uint16_t h) {
    double s = (h & 0x8000u) ? -1.0 : 1.0;
    int ef = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (ef == 0x1f) return m ? NAN : s * INFINITY;
    if (ef == 0) return s * ldexp(m, -24);
    return s * ldexp(1024 + m, ef - 25);
}

static uint16_t to_bf16(float f) {
    uint32_t u = kc_f2u(f);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

int check_half_precision(kc *k) {
    int n = 3000;
    float *fa = kc_host(k, 4 * (size_t)n), *fb = kc_host(k, 4 * (size_t)n), *fc = kc_host(k, 4 * (size_t)n);
    uint16_t *got = kc_host(k, 2 * HP_N * (size_t)n), *want = kc_host(k, 2 * HP_N * (size_t)n);
    static const float xs[] = {0.0f,         -0.0f,   1.0f,          65504.0f,    65519.0f,       65520.0f,
                               1e6f,         -1e6f,   0x1p-24f,      0x1p-25f,    0x1.8p-25f,     0x1p-26f,
                               0x1.ffcp-15f, 6.1e-5f, 2049.0f,       2051.0f,     1.00048828125f, INFINITY,
                               -INFINITY,    3.0e38f, 1.0009765625f, 0x1.0001p0f, 0x1.00ff8p0f};
    const int nxs = (int)(sizeof xs / sizeof xs[0]);
    for (int i = 0; i < n; ++i) {
        if (i < nxs)
            fa[i] = xs[i];
        else if (i % 2)
            fa[i] =
                ldexpf(kc_randf(k, 1.0f, 2.0f), (int)(kc_rand32(k) % 50u) - 30) * ((i & 2) ? -1.0f : 1.0f);
        else
            fa[i] = kc_randf(k, -60.0f, 60.0f);
        do
            fb[i] = kc_randf(k, -60.0f, 60.0f);
        while (fabsf(fb[i]) < 0x1p-8f);
        do
            fc[i] = kc_randf(k, -60.0f, 60.0f);
        while (fabsf(fc[i]) < 0x1p-8f);
        uint16_t hx = to_half(fa[i], 0), hy = to_half(fb[i], 0), hz = to_half(fc[i], 0);
        double x = from_half(hx), y = from_half(hy), z = from_half(hz);
        uint16_t *o = want + (size_t)i * HP_N;
        o[0] = hx;
        o[1] = to_half(x + y, 0);
        o[2] = to_half(x * y, 0);
        o[3] = to_half(x * y + z, 0);
        o[4] = to_half(x - z, 0);
        o[5] = to_half(x + z, 0);
        o[6] = to_half(y + x, 0);
        o[7] = (uint16_t)((x < y) | ((x >= z) << 1) | ((y == z) << 2));
        o[8] = to_half((double)((float)x * 3.0f), 0);
        o[9] = to_bf16(fa[i]);
        float by = kc_u2f((uint32_t)to_bf16(fb[i]) << 16);
        o[10] = to_bf16(by + fc[i]);
        o[11] = to_half(fa[i], 1);
    }
    CUdeviceptr da, db, dc, dout;
    KC_CU(k, kc_dup(k, &da, fa, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &db, fb, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &dc, fc, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, 2 * HP_N * (size_t)n));
    void *args[] = {&da, &db, &dc, &dout, &n};
    KC_TRY(kc_run1d(k, "half_precision", ((unsigned)n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 2 * HP_N * (size_t)n));
    static const char *const what[HP_N] = {"__float2half_rn",
                                           "__hadd",
                                           "__hmul",
                                           "__hfma",
                                           "__hsub",
                                           "__hadd2.lo",
                                           "__hadd2.hi",
                                           "compare",
                                           "half->float->half",
                                           "__float2bfloat16_rn",
                                           "bf16 add",
                                           "__float2half_rz"};
    kc_opfails fails = {0};
    for (int i = 0; i < n; ++i)
        for (int q = 0; q < HP_N; ++q) {
            size_t at = (size_t)i * HP_N + (size_t)q;
            if (got[at] != want[at])
                kc_opfail(&fails, q, "%s (x=%a y=%a z=%a): got 0x%04x want 0x%04x", what[q], (double)fa[i],
                          (double)fb[i], (double)fc[i], got[at], want[at]);
        }
    return kc_opfail_finish(k, &fails);
}
