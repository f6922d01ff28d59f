/* SPDX-License-Identifier: Apache-2.0
 * Checker for rounding_modes. The references are exact: each result is found by comparing
 * candidates against the exact value in binary128 arithmetic (products and sums of the inputs
 * used here are exact in 113 bits), so every rounding mode is checked bit for bit. */
#include "kcheck.h"

#include <float.h>
#include <math.h>

#define RM_NF 28
#define RM_ND 20

#if defined(__x86_64__) || defined(__i386__)
__extension__ typedef __float128 xf;
#else
typedef long double xf; /* IEEE binary128 on the other 64-bit Linux targets */
_Static_assert(LDBL_MANT_DIG >= 113, "need a 113-bit floating type");
#endif

enum rmode { RN, RZ, RU, RD };
enum { EXACT, QUOT, ROOT };

/* The exact value v is p (EXACT), p / q (QUOT) or sqrt(p) (ROOT); returns the sign of x - v. */
typedef struct exact {
    int kind;
    xf p, q;
} exact;

static int sgn(xf d) { return d > 0 ? 1 : d < 0 ? -1 : 0; }

static int cmp(xf x, const exact *e) {
    switch (e->kind) {
    case EXACT:
        return sgn(x - e->p);
    case QUOT:
        return sgn(x * e->q - e->p) * sgn(e->q);
    default:
        return x < 0 ? -1 : sgn(x * x - e->p);
    }
}

static float round_f(const exact *e, float guess, enum rmode m) {
    float lo = guess;
    while (cmp(lo, e) > 0)
        lo = nextafterf(lo, -INFINITY);
    for (float up = nextafterf(lo, INFINITY); cmp(up, e) <= 0; up = nextafterf(lo, INFINITY))
        lo = up;
    if (cmp(lo, e) == 0) return lo;
    float hi = nextafterf(lo, INFINITY);
    switch (m) {
    case RD:
        return lo;
    case RU:
        return hi;
    case RZ:
        return lo >= 0.0f ? lo : hi;
    default: {
        int c = cmp(((xf)lo + (xf)hi) / 2, e);
        return c < 0 ? hi : c > 0 ? lo : ((kc_f2u(lo) & 1u) ? hi : lo);
    }
    }
}

static double round_d(const exact *e, double guess, enum rmode m) {
    double lo = guess;
    while (cmp(lo, e) > 0)
        lo = nextafter(lo, -INFINITY);
    for (double up = nextafter(lo, INFINITY); cmp(up, e) <= 0; up = nextafter(lo, INFINITY))
        lo = up;
    if (cmp(lo, e) == 0) return lo;
    double hi = nextafter(lo, INFINITY);
    switch (m) {
    case RD:
        return lo;
    case RU:
        return hi;
    case RZ:
        return lo >= 0.0 ? lo : hi;
    default: {
        int c = cmp(((xf)lo + (xf)hi) / 2, e);
        return c < 0 ? hi : c > 0 ? lo : ((kc_d2u(lo) & 1u) ? hi : lo);
    }
    }
}

static float rnd_f(kc *k) {
    float m = kc_randf(k, 1.0f, 2.0f);
    int e = (int)(kc_rand32(k) % 21u) - 10;
    return ldexpf(m, e) * ((kc_rand32(k) & 1u) ? -1.0f : 1.0f);
}

static double rnd_d(kc *k) {
    double m = 1.0 + (double)(kc_rand(k) >> 11) * 0x1p-53;
    int e = (int)(kc_rand32(k) % 21u) - 10;
    return ldexp(m, e) * ((kc_rand32(k) & 1u) ? -1.0 : 1.0);
}

static const char *const mname[4] = {"rn", "rz", "ru", "rd"};
static const char *const fop[7] = {"__fadd", "__fsub", "__fmul", "__fdiv", "__fmaf", "__fsqrt", "__frcp"};
static const char *const dop[5] = {"__dadd", "__dmul", "__ddiv", "__dsqrt", "__drcp"};

int check_rounding_modes(kc *k) {
    int n = 2048;
    float *a = kc_host(k, 4 * (size_t)n), *b = kc_host(k, 4 * (size_t)n), *c = kc_host(k, 4 * (size_t)n);
    double *da = kc_host(k, 8 * (size_t)n), *db = kc_host(k, 8 * (size_t)n);
    float *of = kc_host(k, 4 * RM_NF * (size_t)n);
    double *od = kc_host(k, 8 * RM_ND * (size_t)n);
    for (int i = 0; i < n; ++i) {
        a[i] = rnd_f(k);
        b[i] = rnd_f(k);
        c[i] = rnd_f(k);
        da[i] = rnd_d(k);
        db[i] = rnd_d(k);
        if (i % 5 == 0) /* results exactly representable too: no rounding at all */
            b[i] = ldexpf(1.0f, (int)(kc_rand32(k) % 9u) - 4);
    }
    CUdeviceptr d_a, d_b, d_c, d_da, d_db, d_of, d_od;
    KC_CU(k, kc_dup(k, &d_a, a, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &d_b, b, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &d_c, c, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &d_da, da, 8 * (size_t)n));
    KC_CU(k, kc_dup(k, &d_db, db, 8 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &d_of, 4 * RM_NF * (size_t)n));
    KC_CU(k, kc_dalloc(k, &d_od, 8 * RM_ND * (size_t)n));
    void *args[] = {&d_a, &d_b, &d_c, &d_da, &d_db, &d_of, &d_od, &n};
    KC_TRY(kc_run1d(k, "rounding_modes", ((unsigned)n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(of, d_of, 4 * RM_NF * (size_t)n));
    KC_CU(k, cuMemcpyDtoH(od, d_od, 8 * RM_ND * (size_t)n));

    kc_opfails fails = {0};
    for (int i = 0; i < n; ++i) {
        float x = a[i], y = b[i], z = c[i];
        exact ef[7] = {
            {EXACT, (xf)x + (xf)y, 0},
            {EXACT, (xf)x - (xf)z, 0},
            {EXACT, (xf)x * (xf)y, 0},
            {QUOT, x, y},
            {EXACT, (xf)x * (xf)y + (xf)z, 0},
            {ROOT, fabsf(x), 0},
            {QUOT, 1, y},
        };
        float guess[7] = {x + y, x - z, x * y, x / y, fmaf(x, y, z), sqrtf(fabsf(x)), 1.0f / y};
        for (int op = 0; op < 7; ++op)
            for (int m = 0; m < 4; ++m) {
                float want = round_f(&ef[op], guess[op], (enum rmode)m);
                float got = of[(size_t)i * RM_NF + (size_t)(op * 4 + m)];
                if (kc_f2u(got) != kc_f2u(want))
                    kc_opfail(&fails, op * 4 + m, "%s_%s(x=%a y=%a z=%a): got %a want %a", fop[op], mname[m],
                              (double)x, (double)y, (double)z, (double)got, (double)want);
            }
        double u = da[i], v = db[i];
        exact ed[5] = {{EXACT, (xf)u + (xf)v, 0},
                       {EXACT, (xf)u * (xf)v, 0},
                       {QUOT, u, v},
                       {ROOT, fabs(u), 0},
                       {QUOT, 1, v}};
        double dguess[5] = {u + v, u * v, u / v, sqrt(fabs(u)), 1.0 / v};
        for (int op = 0; op < 5; ++op)
            for (int m = 0; m < 4; ++m) {
                double want = round_d(&ed[op], dguess[op], (enum rmode)m);
                double got = od[(size_t)i * RM_ND + (size_t)(op * 4 + m)];
                if (kc_d2u(got) != kc_d2u(want))
                    kc_opfail(&fails, 28 + op * 4 + m, "%s_%s(u=%a v=%a): got %a want %a", dop[op], mname[m],
                              u, v, got, want);
            }
    }
    return kc_opfail_finish(k, &fails);
}
