/* SPDX-License-Identifier: Apache-2.0
 * Checkers for tensor_core (WMMA 16x16x16 with half inputs and float accumulators; small integer
 * inputs keep every product and sum exact, so results must match bit for bit) and memory_spaces
 * (cache operators, generic pointers into each state space, isspacep, cvta, cp.async). */
#include "kcheck.h"

#define MS_N 10

/* binary16 encoding of a small integer (|v| <= 2048), exact. */
static uint16_t half_of_int(int v) {
    if (v == 0) return 0;
    uint16_t sign = v < 0 ? 0x8000u : 0u;
    unsigned a = (unsigned)(v < 0 ? -v : v), e = 0;
    while ((a >> e) > 1)
        ++e;
    unsigned mant = (a << (10 - e)) & 0x3ffu;
    return (uint16_t)(sign | ((e + 15u) << 10) | mant);
}

int check_tensor_core(kc *k) {
    int M = 32, N = 48, K = 64;
    int *ai = kc_host(k, sizeof(int) * (size_t)(M * K)), *bi = kc_host(k, sizeof(int) * (size_t)(K * N));
    uint16_t *A = kc_host(k, 2 * (size_t)(M * K)), *B = kc_host(k, 2 * (size_t)(K * N));
    float *C = kc_host(k, 4 * (size_t)(M * N)), *D = kc_host(k, 4 * (size_t)(M * N)),
          *W = kc_host(k, 4 * (size_t)(M * N));
    for (int i = 0; i < M * K; ++i) {
        ai[i] = (int)(kc_rand32(k) % 9u) - 4;
        A[i] = half_of_int(ai[i]);
    }
    for (int c = 0; c < N; ++c) /* B column-major: element (r, c) at c * K + r */
        for (int r = 0; r < K; ++r) {
            bi[c * K + r] = (int)(kc_rand32(k) % 9u) - 4;
            B[c * K + r] = half_of_int(bi[c * K + r]);
        }
    for (int i = 0; i < M * N; ++i)
        C[i] = (float)((int)(kc_rand32(k) % 201u) - 100);
    for (int r = 0; r < M; ++r)
        for (int c = 0; c < N; ++c) {
            int acc = 0;
            for (int x = 0; x < K; ++x)
                acc += ai[r * K + x] * bi[c * K + x];
            W[r * N + c] = 2.0f * ((float)acc + C[r * N + c]);
        }
    CUdeviceptr dA, dB, dC, dD;
    KC_CU(k, kc_dup(k, &dA, A, 2 * (size_t)(M * K)));
    KC_CU(k, kc_dup(k, &dB, B, 2 * (size_t)(K * N)));
    KC_CU(k, kc_dup(k, &dC, C, 4 * (size_t)(M * N)));
    KC_CU(k, kc_dalloc(k, &dD, 4 * (size_t)(M * N)));
    void *args[] = {&dA, &dB, &dC, &dD, &M, &N, &K};
    unsigned warps = (unsigned)(M / 16 * N / 16);
    KC_TRY(kc_run1d(k, "tensor_core", (warps + 1) / 2, 64, 0, args));
    KC_CU(k, cuMemcpyDtoH(D, dD, 4 * (size_t)(M * N)));
    return kc_cmp_f32(k, "D = 2 * (A * B + C)", D, W, (size_t)(M * N), 0);
}

int check_memory_spaces(kc *k) {
    int n = 1000; /* multiple of 8 */
    unsigned block = 128, nblocks = ((unsigned)n + block - 1) / block;
    float *in = kc_host(k, 4 * (size_t)n), *got = kc_host(k, 4 * MS_N * (size_t)n),
          *want = kc_host(k, 4 * MS_N * (size_t)n);
    uint32_t *flags = kc_host(k, 4 * (size_t)n), *wflags = kc_host(k, 4 * (size_t)n);
    for (int i = 0; i < n; ++i)
        in[i] = (float)((int)(kc_rand32(k) % 2001u) - 1000); /* integers: every sum below is exact */
    for (unsigned b = 0; b < nblocks; ++b)
        for (unsigned t = 0; t < block; ++t) {
            int i = (int)(b * block + t);
            if (i >= n) continue;
            int base = (int)(b * block);
            /* Shared values of this block: threads past n load in[n - 1]. */
#define SM(tt) in[base + (int)(tt) < n ? base + (int)(tt) : n - 1]
            float *o = want + (size_t)i * MS_N;
            o[0] = in[i] * 5.0f;
            float ss = 0.0f, sl = 0.0f, sg = 0.0f;
            for (int q = 0; q < 8; ++q) {
                ss += SM((t & ~7u) + (unsigned)q);
                sl += in[i] * (float)q;
                sg += in[(i & ~7) + q];
            }
            o[1] = ss;
            o[2] = sl;
            o[3] = sg;
            o[4] = SM(t ^ 1u);
            o[5] = SM((t + 64u) & 127u);
            o[6] = in[i] * (float)((unsigned)i % 8u);
            o[7] = in[(i + 8) % n];
            o[8] = 0.0f;
            o[9] = 0.0f;
#undef SM
            wflags[i] = 1u | 2u | 4u | 32u | 64u;
        }
    CUdeviceptr din, dout, dflags;
    KC_CU(k, kc_dup(k, &din, in, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, 4 * MS_N * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dflags, 4 * (size_t)n));
    void *args[] = {&din, &dout, &dflags, &n};
    KC_TRY(kc_run1d(k, "memory_spaces", nblocks, block, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 4 * MS_N * (size_t)n));
    KC_CU(k, cuMemcpyDtoH(flags, dflags, 4 * (size_t)n));
    KC_TRY(kc_cmp_u32(
        k,
        "isspacep/cvta flags (1 shared, 2 global, 4 local, 8/16 wrong space, 32 cvta offset, 64 round trip)",
        flags, wflags, (size_t)n));
    static const char *const what[MS_N] = {"cache-operator loads",
                                           "generic->shared",
                                           "generic->local",
                                           "generic->global",
                                           "cp.async",
                                           "shared",
                                           "local",
                                           "__ldg",
                                           "-",
                                           "-"};
    for (int i = 0; i < n; ++i)
        for (int q = 0; q < MS_N; ++q) {
            size_t at = (size_t)i * MS_N + (size_t)q;
            if (kc_f2u(got[at]) != kc_f2u(want[at]))
                return kc_fail(k, "%s at thread %d: got %g want %g", what[q], i, (double)got[at],
                               (double)want[at]);
        }
    return KC_PASS;
}
