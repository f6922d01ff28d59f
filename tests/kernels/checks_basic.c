/* SPDX-License-Identifier: Apache-2.0
 * Checkers for the straightforward corpus kernels: vector_add, saxpy, matmul_tiled, grid3d,
 * grid_stride, vector_loads, param_struct, dynamic_smem. */
#include "kcheck.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int check_vector_add(kc *k) {
    int n = 10000;
    size_t bytes = (size_t)n * sizeof(float);
    float *a = kc_host(k, bytes), *b = kc_host(k, bytes), *c = kc_host(k, bytes), *want = kc_host(k, bytes);
    for (int i = 0; i < n; ++i) {
        a[i] = kc_randf(k, -100.0f, 100.0f);
        b[i] = kc_randf(k, -100.0f, 100.0f);
        want[i] = a[i] + b[i];
    }
    CUdeviceptr da, db, dc;
    KC_CU(k, kc_dup(k, &da, a, bytes));
    KC_CU(k, kc_dup(k, &db, b, bytes));
    KC_CU(k, kc_dalloc(k, &dc, bytes));
    void *args[] = {&da, &db, &dc, &n};
    KC_TRY(kc_run1d(k, "vector_add", (unsigned)(n + 255) / 256, 256, 0, args));
    KC_CU(k, cuMemcpyDtoH(c, dc, bytes));
    return kc_cmp_f32(k, "c", c, want, (size_t)n, 0);
}

int check_saxpy(kc *k) {
    int n = 4097;
    float alpha = 2.5f;
    size_t bytes = (size_t)n * sizeof(float);
    float *x = kc_host(k, bytes), *y = kc_host(k, bytes), *want = kc_host(k, bytes), *got = kc_host(k, bytes);
    for (int i = 0; i < n; ++i) {
        x[i] = kc_randf(k, -10.0f, 10.0f);
        y[i] = kc_randf(k, -10.0f, 10.0f);
        want[i] = fmaf(alpha, x[i], y[i]);
    }
    CUdeviceptr dx, dy;
    KC_CU(k, kc_dup(k, &dx, x, bytes));
    KC_CU(k, kc_dup(k, &dy, y, bytes));
    void *args[] = {&n, &alpha, &dx, &dy};
    KC_TRY(kc_run1d(k, "saxpy", (unsigned)(n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dy, bytes));
    /* nvcc contracts a*x+y into one fma; 1 ulp also admits an unfused multiply-add. */
    return kc_cmp_f32(k, "y", got, want, (size_t)n, 1);
}

int check_matmul_tiled(kc *k) {
    /* Not multiples of the tile, so the zero-padding paths run. Integer-valued inputs keep every
     * partial sum exact, so the result must match bit for bit whatever the summation order. */
    int M = 60, N = 70, K = 50;
    float *A = kc_host(k, sizeof(float) * (size_t)(M * K)), *B = kc_host(k, sizeof(float) * (size_t)(K * N));
    float *C = kc_host(k, sizeof(float) * (size_t)(M * N)), *W = kc_host(k, sizeof(float) * (size_t)(M * N));
    for (int i = 0; i < M * K; ++i)
        A[i] = (float)((int)(kc_rand32(k) % 17u) - 8);
    for (int i = 0; i < K * N; ++i)
        B[i] = (float)((int)(kc_rand32(k) % 17u) - 8);
    for (int r = 0; r < M; ++r)
        for (int c = 0; c < N; ++c) {
            float acc = 0.0f;
            for (int x = 0; x < K; ++x)
                acc += A[r * K + x] * B[x * N + c];
            W[r * N + c] = acc;
        }
    CUdeviceptr dA, dB, dC;
    KC_CU(k, kc_dup(k, &dA, A, sizeof(float) * (size_t)(M * K)));
    KC_CU(k, kc_dup(k, &dB, B, sizeof(float) * (size_t)(K * N)));
    KC_CU(k, kc_dalloc(k, &dC, sizeof(float) * (size_t)(M * N)));
    KC_CU(k, cuMemsetD32(dC, 0xffffffffu, (size_t)(M * N)));
    void *args[] = {&dA, &dB, &dC, &M, &N, &K};
    CUresult r =
        kc_launch(k, "matmul_tiled", (unsigned)(N + 15) / 16, (unsigned)(M + 15) / 16, 1, 16, 16, 1, 0, args);
    if (r != CUDA_SUCCESS) return kc_fail(k, "launch: %s", kc_errname(r));
    KC_CU(k, cuMemcpyDtoH(C, dC, sizeof(float) * (size_t)(M * N)));
    return kc_cmp_f32(k, "C", C, W, (size_t)(M * N), 0);
}

/* Launches grid3d with grid g and block b and checks every thread's record. */
static int grid3d_run(kc *k, const unsigned g[3], const unsigned b[3]) {
    unsigned total = g[0] * g[1] * g[2] * b[0] * b[1] * b[2];
    size_t bytes = (size_t)total * 12 * sizeof(uint32_t);
    uint32_t *got = kc_host(k, bytes), *want = kc_host(k, bytes);
    for (unsigned bz = 0; bz < g[2]; ++bz)
        for (unsigned by = 0; by < g[1]; ++by)
            for (unsigned bx = 0; bx < g[0]; ++bx)
                for (unsigned tz = 0; tz < b[2]; ++tz)
                    for (unsigned ty = 0; ty < b[1]; ++ty)
                        for (unsigned tx = 0; tx < b[0]; ++tx) {
                            unsigned bl = (bz * g[1] + by) * g[0] + bx;
                            unsigned tl = (tz * b[1] + ty) * b[0] + tx;
                            uint32_t *w = want + (size_t)(bl * b[0] * b[1] * b[2] + tl) * 12;
                            uint32_t rec[12] = {tx, ty, tz, bx, by, bz, b[0], b[1], b[2], g[0], g[1], g[2]};
                            memcpy(w, rec, sizeof rec);
                        }
    CUdeviceptr d;
    KC_CU(k, kc_dalloc(k, &d, bytes));
    KC_CU(k, cuMemsetD8(d, 0xee, bytes));
    void *args[] = {&d};
    CUresult r = kc_launch(k, "grid3d", g[0], g[1], g[2], b[0], b[1], b[2], 0, args);
    if (r != CUDA_SUCCESS)
        return kc_fail(k, "launch <<<(%u,%u,%u), (%u,%u,%u)>>>: %s", g[0], g[1], g[2], b[0], b[1], b[2],
                       kc_errname(r));
    KC_CU(k, cuMemcpyDtoH(got, d, bytes));
    char what[96];
    snprintf(what, sizeof what, "special registers of <<<(%u,%u,%u), (%u,%u,%u)>>>", g[0], g[1], g[2], b[0],
             b[1], b[2]);
    return kc_cmp_u32(k, what, got, want, (size_t)total * 12);
}

int check_grid3d(kc *k) {
    static const unsigned shapes[3][2][3] = {
        {{3, 2, 4}, {4, 3, 5}},    /* everything different */
        {{1, 3, 2}, {16, 8, 8}},   /* 1024 threads: the largest block */
        {{2, 1500, 1}, {1, 1, 1}}, /* a long y grid of one-thread blocks */
    };
    for (int s = 0; s < 3; ++s)
        KC_TRY(grid3d_run(k, shapes[s][0], shapes[s][1]));
    return KC_PASS;
}

int check_grid_stride(kc *k) {
    long long n = 50000;
    int32_t *in = kc_host(k, sizeof(int32_t) * (size_t)n);
    uint64_t *got = kc_host(k, sizeof(uint64_t) * (size_t)n),
             *want = kc_host(k, sizeof(uint64_t) * (size_t)n);
    for (long long i = 0; i < n; ++i) {
        in[i] = (int32_t)kc_rand32(k);
        want[i] = (uint64_t)((int64_t)in[i] * 3 - i);
    }
    CUdeviceptr din, dout;
    KC_CU(k, kc_dup(k, &din, in, sizeof(int32_t) * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, sizeof(uint64_t) * (size_t)n));
    void *args[] = {&din, &dout, &n};
    KC_TRY(kc_run1d(k, "grid_stride", 5, 96, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, sizeof(uint64_t) * (size_t)n));
    return kc_cmp_u64(k, "out", got, want, (size_t)n);
}

int check_vector_loads(kc *k) {
    int n4 = 3000;
    size_t nf = (size_t)n4 * 4, ni = (size_t)n4 * 2, nd = (size_t)n4 * 2;
    float *a = kc_host(k, nf * 4), *b = kc_host(k, nf * 4), *c = kc_host(k, nf * 4), *wc = kc_host(k, nf * 4);
    int32_t *p = kc_host(k, ni * 4), *q = kc_host(k, ni * 4), *wq = kc_host(k, ni * 4);
    double *dv = kc_host(k, nd * 8), *dout = kc_host(k, nd * 8), *wd = kc_host(k, nd * 8);
    for (size_t i = 0; i < nf; ++i) {
        a[i] = kc_randf(k, -4.0f, 4.0f);
        b[i] = kc_randf(k, -4.0f, 4.0f);
    }
    for (size_t i = 0; i < ni; ++i)
        p[i] = (int32_t)(kc_rand32(k) >> 1);
    for (size_t i = 0; i < nd; ++i)
        dv[i] = (double)kc_randf(k, -1e6f, 1e6f) * 1.000001;
    for (int i = 0; i < n4; ++i) {
        const float *x = a + 4 * i, *y = b + 4 * i;
        wc[4 * i + 0] = x[0] + y[3];
        wc[4 * i + 1] = x[1] - y[2];
        wc[4 * i + 2] = x[2] * y[1];
        wc[4 * i + 3] = x[3] + y[0];
        wq[2 * i + 0] = p[2 * i + 1] ^ p[2 * i];
        wq[2 * i + 1] = (int32_t)((uint32_t)p[2 * i] - (uint32_t)p[2 * i + 1]);
        wd[2 * i + 0] = dv[2 * i + 1];
        wd[2 * i + 1] = dv[2 * i] + dv[2 * i + 1];
    }
    CUdeviceptr da, db, dc, dp, dq, ddv, ddo;
    KC_CU(k, kc_dup(k, &da, a, nf * 4));
    KC_CU(k, kc_dup(k, &db, b, nf * 4));
    KC_CU(k, kc_dalloc(k, &dc, nf * 4));
    KC_CU(k, kc_dup(k, &dp, p, ni * 4));
    KC_CU(k, kc_dalloc(k, &dq, ni * 4));
    KC_CU(k, kc_dup(k, &ddv, dv, nd * 8));
    KC_CU(k, kc_dalloc(k, &ddo, nd * 8));
    void *args[] = {&da, &db, &dc, &dp, &dq, &ddv, &ddo, &n4};
    KC_TRY(kc_run1d(k, "vector_loads", (unsigned)(n4 + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(c, dc, nf * 4));
    KC_CU(k, cuMemcpyDtoH(q, dq, ni * 4));
    KC_CU(k, cuMemcpyDtoH(dout, ddo, nd * 8));
    KC_TRY(kc_cmp_f32(k, "float4", c, wc, nf, 0));
    KC_TRY(kc_cmp_u32(k, "int2", (uint32_t *)q, (uint32_t *)wq, ni));
    return kc_cmp_f64(k, "double2", dout, wd, nd, 0);
}

/* Host mirrors of the kernel's by-value parameter types (same layout as in CUDA C++). */
struct pmixed {
    char c;
    double d;
    int v[3];
};
struct pquad {
    _Alignas(16) float x;
    float y, z, w;
};

int check_param_struct(kc *k) {
    char c = -7;
    short s = -12345;
    struct pmixed m;
    memset(&m, 0, sizeof m);
    m.c = 99;
    m.d = -3.25e100;
    m.v[0] = 1;
    m.v[1] = -2;
    m.v[2] = 3;
    double d = 1.0 / 3.0;
    long long l = -(1LL << 53) + 1;
    struct pquad q = {1.5f, -2.0f, 0.25f, 8.0f};
    CUdeviceptr dout;
    KC_CU(k, kc_dalloc(k, &dout, 8 * sizeof(double)));
    KC_CU(k, cuMemsetD8(dout, 0, 8 * sizeof(double)));
    void *args[] = {&c, &s, &m, &d, &l, &q, &dout};
    KC_TRY(kc_run1d(k, "param_struct", 1, 32, 0, args));
    double got[8], want[8] = {-7.0,         -12345.0,
                              99.0,         -3.25e100,
                              1 - 20 + 300, 1.0 / 3.0,
                              (double)l,    (double)(1.5f + -2.0f * 2.0f + 0.25f * 4.0f + 8.0f * 8.0f)};
    KC_CU(k, cuMemcpyDtoH(got, dout, sizeof got));
    return kc_cmp_f64(k, "params", got, want, 8, 0);
}

int check_dynamic_smem(kc *k) {
    int n = 1000;
    unsigned block = 128;
    float *in = kc_host(k, sizeof(float) * (size_t)n), *got = kc_host(k, sizeof(float) * (size_t)n);
    float *want = kc_host(k, sizeof(float) * (size_t)n);
    for (int i = 0; i < n; ++i)
        in[i] = kc_randf(k, -50.0f, 50.0f);
    unsigned nblocks = ((unsigned)n + block - 1) / block;
    for (unsigned bl = 0; bl < nblocks; ++bl)
        for (unsigned t = 0; t < block; ++t) {
            int i = (int)(bl * block + t);
            if (i >= n) continue;
            int ri = (int)(bl * block + (block - 1 - t)), ni = (int)(bl * block + (t + 1) % block);
            float rev = ri < n ? in[ri] : 0.0f;
            double nb = ni < n ? (double)in[ni] * 2.0 : 0.0;
            want[i] = rev + (float)nb;
        }
    CUdeviceptr din, dout;
    KC_CU(k, kc_dup(k, &din, in, sizeof(float) * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, sizeof(float) * (size_t)n));
    void *args[] = {&din, &dout, &n};
    KC_TRY(kc_run1d(k, "dynamic_smem", nblocks, block, block * (unsigned)(sizeof(double) + sizeof(float)),
                    args));
    KC_CU(k, cuMemcpyDtoH(got, dout, sizeof(float) * (size_t)n));
    return kc_cmp_f32(k, "out", got, want, (size_t)n, 0);
}
