/* SPDX-License-Identifier: Apache-2.0
 * Checker for float_special: every pair of a list of IEEE special values. Results must match the
 * host bit for bit, except that any NaN matches any NaN (GPUs return a canonical NaN, CPUs
 * another), min/max may pick either zero for (-0, +0), and expf/logf get their documented ulps. */
#include "kcheck.h"

#include <float.h>
#include <math.h>

#define FS_N 20

static const uint32_t specials[] = {
    0x00000000u,
    0x80000000u,
    0x3f800000u,
    0xbf800000u,
    0x3f000000u,
    0x40400000u,
    0x7f800000u,
    0xff800000u,
    0x7fc00000u,
    0xffc00000u,
    0x00800000u,
    0x00000001u,
    0x007fffffu,
    0x80000123u,
    0x7f7fffffu,
    0xff7fffffu,
    0x7149f2cau /* 1e30 */,
    0x40200000u /* 2.5 */,
    0xc0e00000u /* -7 */,
    0x0da24260u /* 1e-30 */,
};
static const int32_t exps[] = {-150, -1, 0, 1, 130, -20, 3};

static void special_ref(float x, float y, int e, float *o) {
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
    o[14] = ldexpf(x, e);
    o[15] = expf(x);
    o[16] = logf(x);
    o[17] = truncf(x) + floorf(y);
    o[18] = (float)(double)x * 0.5f;
    o[19] = x * 0x1p-100f;
}

static const char *const opname[FS_N] = {"x+y",
                                         "x-y",
                                         "x*y",
                                         "x/y",
                                         "fminf",
                                         "fmaxf",
                                         "sqrtf",
                                         "classify",
                                         "copysignf",
                                         "fabsf",
                                         "fmodf",
                                         "compare",
                                         "fmaf(x,y,1)",
                                         "1/x",
                                         "ldexpf",
                                         "expf",
                                         "logf",
                                         "trunc+floor",
                                         "double round trip",
                                         "subnormal product"};

int check_float_special(kc *k) {
    const int ns = (int)(sizeof specials / sizeof specials[0]);
    int n = ns * ns;
    float *a = kc_host(k, 4 * (size_t)n), *b = kc_host(k, 4 * (size_t)n),
          *out = kc_host(k, 4 * FS_N * (size_t)n);
    int32_t *e = kc_host(k, 4 * (size_t)n);
    for (int i = 0; i < n; ++i) {
        a[i] = kc_u2f(specials[i / ns]);
        b[i] = kc_u2f(specials[i % ns]);
        e[i] = exps[i % (int)(sizeof exps / sizeof exps[0])];
    }
    CUdeviceptr da, db, de, dout;
    KC_CU(k, kc_dup(k, &da, a, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &db, b, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &de, e, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, 4 * FS_N * (size_t)n));
    void *args[] = {&da, &db, &de, &dout, &n};
    KC_TRY(kc_run1d(k, "float_special", ((unsigned)n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(out, dout, 4 * FS_N * (size_t)n));
    kc_opfails fails = {0};
    for (int i = 0; i < n; ++i) {
        float want[FS_N];
        special_ref(a[i], b[i], e[i], want);
        for (int q = 0; q < FS_N; ++q) {
            float got = out[(size_t)i * FS_N + (size_t)q], w = want[q];
            int ok;
            if (isnan(w) || isnan(got))
                ok = isnan(w) && isnan(got);
            else if (q == 4 || q == 5)
                ok = got == w; /* fmin/fmax(-0, +0) may return either zero */
            else if (q == 15 || q == 16)
                ok = kc_ulp_f(got, w) <= 3;
            else
                ok = kc_f2u(got) == kc_f2u(w);
            if (!ok)
                kc_opfail(&fails, q,
                          "%s(x=%a [0x%08x], y=%a [0x%08x], k=%d): got %a [0x%08x] want %a [0x%08x]",
                          opname[q], (double)a[i], kc_f2u(a[i]), (double)b[i], kc_f2u(b[i]), e[i],
                          (double)got, kc_f2u(got), (double)w, kc_f2u(w));
        }
    }
    return kc_opfail_finish(k, &fails);
}
