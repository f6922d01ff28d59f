/* SPDX-License-Identifier: Apache-2.0
 * Checker for float_math. IEEE-exact operations must match bit for bit; approximations are held to
 * the error bounds in the CUDA C Programming Guide's accuracy tables (plus 1 ulp for the host
 * reference's own rounding), computed per element where the bound depends on the input. */
#include "kcheck.h"

#include <math.h>

#define FM_NF 17
#define FM_ND 7

static const char *const fnames[FM_NF] = {"sqrtf",  "rsqrtf",     "__expf",      "__logf",
                                          "__sinf", "__cosf",     "fmaf",        "division",
                                          "expf",   "logf",       "sinf(30z)",   "cosf(30z)",
                                          "powf",   "__fdividef", "fmaxf-fminf", "floor/ceil/trunc/rint",
                                          "tanhf"};
static const char *const dnames[FM_ND] = {"sqrt", "division", "fma", "exp", "log", "sin(7z)", "rsqrt"};

/* Returns 1 if got is acceptable for reference want: within max_ulp, or within abs_tol if > 0. */
static int close_f(float got, double want, uint64_t max_ulp, double abs_tol) {
    if (abs_tol > 0 && fabs((double)got - want) <= abs_tol) return 1;
    return kc_ulp_f(got, (float)want) <= max_ulp;
}

int check_float_math(kc *k) {
    int n = 4096;
    float *a = kc_host(k, 4 * (size_t)n), *b = kc_host(k, 4 * (size_t)n), *c = kc_host(k, 4 * (size_t)n);
    float *of = kc_host(k, 4 * FM_NF * (size_t)n);
    double *od = kc_host(k, 8 * FM_ND * (size_t)n);
    const float pi = 3.14159265f;
    for (int i = 0; i < n; ++i) {
        a[i] = (i % 3 == 0) ? kc_randf(k, 0.5f, 2.0f) : kc_randf(k, 0.01f, 100.0f);
        do
            b[i] = kc_randf(k, -10.0f, 10.0f);
        while (fabsf(b[i]) < 1e-3f);
        c[i] = kc_randf(k, -pi, pi);
    }
    CUdeviceptr da, db, dc, dof, dod;
    KC_CU(k, kc_dup(k, &da, a, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &db, b, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &dc, c, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dof, 4 * FM_NF * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dod, 8 * FM_ND * (size_t)n));
    void *args[] = {&da, &db, &dc, &dof, &dod, &n};
    KC_TRY(kc_run1d(k, "float_math", ((unsigned)n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(of, dof, 4 * FM_NF * (size_t)n));
    KC_CU(k, cuMemcpyDtoH(od, dod, 8 * FM_ND * (size_t)n));

    for (int i = 0; i < n; ++i) {
        float x = a[i], y = b[i], z = c[i];
        double dx = x, dy = y, dz = z;
        const float *f = of + (size_t)i * FM_NF;
        const double *d = od + (size_t)i * FM_ND;
        float z30 = z * 30.0f;
        double wf[FM_NF];
        uint64_t uf[FM_NF];
        double af[FM_NF] = {0};
        wf[0] = sqrtf(x), uf[0] = 0;
        wf[1] = 1.0 / sqrt(dx), uf[1] = 2 + 1;
        wf[2] = exp(dy), uf[2] = 2 + (uint64_t)floor(fabs(1.173 * dy)) + 1;
        /* __logf: 2^-21.41 absolute in [0.5, 2], else 3 ulp */
        wf[3] = log(dx), uf[3] = 3 + 1, af[3] = (x >= 0.5f && x <= 2.0f) ? ldexp(1.0, -21) : 0;
        wf[4] = sin(dz), uf[4] = 0, af[4] = ldexp(1.0, -21);
        wf[5] = cos(dz), uf[5] = 0, af[5] = ldexp(1.0, -21);
        wf[6] = fmaf(x, y, z), uf[6] = 0;
        wf[7] = x / y, uf[7] = 0;
        wf[8] = exp(dy), uf[8] = 2 + 1;
        wf[9] = log(dx), uf[9] = 1 + 1;
        wf[10] = sin((double)z30), uf[10] = 2 + 1;
        wf[11] = cos((double)z30), uf[11] = 2 + 1;
        wf[12] = pow(dx, (double)(y * 0.25f)), uf[12] = 8 + 1; /* guides have listed 4 and 8 ulp */
        wf[13] = dx / dy, uf[13] = 2 + 1;
        wf[14] = fmaxf(x, y) - fminf(x, z), uf[14] = 0;
        wf[15] = floorf(y * 3.3f) + ceilf(z) + truncf(x) + rintf(y), uf[15] = 0;
        wf[16] = tanh(dy), uf[16] = 2 + 1;
        /* Near zero crossings an ulp bound on cos/sin results is meaningless; allow tiny absolute error
         * (the guide bounds sinf/cosf relative to the result, but the reference rounds from double). */
        if (fabs(wf[10]) < 1e-3) af[10] = 1e-9;
        if (fabs(wf[11]) < 1e-3) af[11] = 1e-9;
        for (int q = 0; q < FM_NF; ++q) {
            int ok = (uf[q] == 0 && af[q] == 0) ? kc_f2u(f[q]) == kc_f2u((float)wf[q])
                                                : close_f(f[q], wf[q], uf[q], af[q]);
            if (!ok)
                return kc_fail(k, "%s at element %d (a=%.9g b=%.9g c=%.9g): got %.9g want %.9g (%llu ulp)",
                               fnames[q], i, (double)x, (double)y, (double)z, (double)f[q], wf[q],
                               (unsigned long long)kc_ulp_f(f[q], (float)wf[q]));
        }
        double wd[FM_ND];
        uint64_t ud[FM_ND];
        wd[0] = sqrt(dx * 1.1), ud[0] = 0;
        wd[1] = dx / dy, ud[1] = 0;
        wd[2] = fma(dx, dy, dz), ud[2] = 0;
        wd[3] = exp(dy), ud[3] = 1 + 1;
        wd[4] = log(dx), ud[4] = 1 + 1;
        wd[5] = sin(dz * 7.0), ud[5] = 2 + 1;
        wd[6] = (double)(1.0L / sqrtl((long double)dx)), ud[6] = 1 + 1;
        for (int q = 0; q < FM_ND; ++q) {
            int ok = ud[q] == 0 ? kc_d2u(d[q]) == kc_d2u(wd[q]) : kc_ulp_d(d[q], wd[q]) <= ud[q];
            if (!ok)
                return kc_fail(
                    k, "%s (double) at element %d (a=%.9g b=%.9g c=%.9g): got %.17g want %.17g (%llu ulp)",
                    dnames[q], i, (double)x, (double)y, (double)z, d[q], wd[q],
                    (unsigned long long)kc_ulp_d(d[q], wd[q]));
        }
    }
    return KC_PASS;
}
