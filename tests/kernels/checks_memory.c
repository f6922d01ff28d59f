/* SPDX-License-Identifier: Apache-2.0
 * Checkers for module-scope memory: const_mem (__constant__ filled through cuModuleGetGlobal) and
 * device_global (__device__ variables, with and without initializers). */
#include "kcheck.h"

#include <math.h>
#include <string.h>

static int get_global(kc *k, const char *name, size_t want_bytes, CUdeviceptr *p) {
    size_t bytes = 0;
    CUresult r = cuModuleGetGlobal(p, &bytes, k->mod, name);
    if (r != CUDA_SUCCESS) return kc_fail(k, "cuModuleGetGlobal(%s): %s (%d)", name, kc_errname(r), (int)r);
    if (bytes != want_bytes)
        return kc_fail(k, "cuModuleGetGlobal(%s): size %zu, want %zu", name, bytes, want_bytes);
    return KC_PASS;
}

int check_const_mem(kc *k) {
    int n = 2000;
    float coef[16];
    int32_t lut[256];
    for (int i = 0; i < 16; ++i)
        coef[i] = kc_randf(k, -1.0f, 1.0f);
    for (int i = 0; i < 256; ++i)
        lut[i] = (int32_t)(kc_rand32(k) >> 11) - (1 << 20);
    float *x = kc_host(k, 4 * (size_t)n), *of = kc_host(k, 4 * (size_t)n), *wf = kc_host(k, 4 * (size_t)n);
    uint32_t *idx = kc_host(k, 4 * (size_t)n), *oi = kc_host(k, 4 * (size_t)n),
             *wi = kc_host(k, 4 * (size_t)n);
    for (int i = 0; i < n; ++i) {
        x[i] = kc_randf(k, -1.5f, 1.5f);
        idx[i] = kc_rand32(k);
        float r = coef[15];
        for (int c = 14; c >= 0; --c)
            r = fmaf(r, x[i], coef[c]);
        wf[i] = r;
        wi[i] = (uint32_t)lut[idx[i] & 255u] + (uint32_t)lut[(idx[i] >> 8) & 255u];
    }
    CUdeviceptr dcoef, dlut, dx, didx, dof, doi;
    KC_TRY(get_global(k, "c_coef", sizeof coef, &dcoef));
    KC_TRY(get_global(k, "c_lut", sizeof lut, &dlut));
    KC_CU(k, cuMemcpyHtoD(dcoef, coef, sizeof coef));
    KC_CU(k, cuMemcpyHtoD(dlut, lut, sizeof lut));
    KC_CU(k, kc_dup(k, &dx, x, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &didx, idx, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dof, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &doi, 4 * (size_t)n));
    void *args[] = {&dx, &didx, &dof, &doi, &n};
    KC_TRY(kc_run1d(k, "const_mem", ((unsigned)n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(of, dof, 4 * (size_t)n));
    KC_CU(k, cuMemcpyDtoH(oi, doi, 4 * (size_t)n));
    KC_TRY(kc_cmp_f32(k, "polynomial from __constant__", of, wf, (size_t)n, 0));
    KC_TRY(kc_cmp_u32(k, "__constant__ lookup", oi, wi, (size_t)n));
    /* The constant bank reads back what was written. */
    float back[16];
    KC_CU(k, cuMemcpyDtoH(back, dcoef, sizeof back));
    return kc_cmp_f32(k, "c_coef read back", back, coef, 16, 0);
}

int check_device_global(kc *k) {
    CUdeviceptr dcount, dtable, dinit, darr, dscale, dout, douti, dummy;
    size_t bytes = 0;
    KC_TRY(get_global(k, "g_count", 4, &dcount));
    KC_TRY(get_global(k, "g_table", 64 * 4, &dtable));
    KC_TRY(get_global(k, "g_init", 4, &dinit));
    KC_TRY(get_global(k, "g_init_arr", 16, &darr));
    KC_TRY(get_global(k, "g_scale", 8, &dscale));
    CUresult r = cuModuleGetGlobal(&dummy, &bytes, k->mod, "g_no_such_variable");
    if (r != CUDA_ERROR_NOT_FOUND)
        return kc_fail(k, "cuModuleGetGlobal(unknown) returned %s, want CUDA_ERROR_NOT_FOUND", kc_errname(r));

    int32_t init = 0, arr[4] = {0};
    double scale = 0;
    KC_CU(k, cuMemcpyDtoH(&init, dinit, 4));
    KC_CU(k, cuMemcpyDtoH(arr, darr, 16));
    KC_CU(k, cuMemcpyDtoH(&scale, dscale, 8));
    if (init != 42 || arr[0] != 1 || arr[1] != -2 || arr[2] != 3 || arr[3] != -4 || scale != 0.5)
        return kc_fail(k,
                       "initializers: g_init=%d g_init_arr={%d,%d,%d,%d} g_scale=%g, want 42 {1,-2,3,-4} 0.5",
                       init, arr[0], arr[1], arr[2], arr[3], scale);

    int32_t start = 1000;
    KC_CU(k, cuMemcpyHtoD(dcount, &start, 4));
    int n = 300;
    void *a1[] = {&n};
    KC_TRY(kc_run1d(k, "dg_fill", 3, 128, 0, a1));
    int32_t seven = 7;
    KC_CU(k, cuMemcpyHtoD(dinit, &seven, 4));
    KC_CU(k, kc_dalloc(k, &dout, 64 * 4));
    KC_CU(k, kc_dalloc(k, &douti, 5 * 4));
    void *a2[] = {&dout, &douti};
    KC_TRY(kc_run1d(k, "dg_read", 1, 64, 0, a2));
    float got[64], want[64], table[64];
    int32_t gi[5];
    KC_CU(k, cuMemcpyDtoH(got, dout, sizeof got));
    KC_CU(k, cuMemcpyDtoH(gi, douti, sizeof gi));
    KC_CU(k, cuMemcpyDtoH(table, dtable, sizeof table));
    static const int32_t arr0[4] = {1, -2, 3, -4};
    for (int i = 0; i < 64; ++i) {
        float t = (float)i * 0.5f + (float)arr0[i & 3];
        want[i] = t + 7.0f;
        if (kc_f2u(table[i]) != kc_f2u(t))
            return kc_fail(k, "g_table[%d] read through cuMemcpyDtoH: got %g want %g", i, (double)table[i],
                           (double)t);
    }
    KC_TRY(kc_cmp_f32(k, "dg_read out", got, want, 64, 0));
    if (gi[0] != 1 || gi[1] != -2 || gi[2] != 3 || gi[3] != -4 || gi[4] != 1300)
        return kc_fail(k, "dg_read out_i = {%d,%d,%d,%d,%d}, want {1,-2,3,-4,1300}", gi[0], gi[1], gi[2],
                       gi[3], gi[4]);
    return KC_PASS;
}
