/* SPDX-License-Identifier: Apache-2.0
 * Checkers for the reductions and scans: block_reduce, warp_reduce, histogram, prefix_scan. */
#include "kcheck.h"

int check_block_reduce(kc *k) {
    int n = 65536 - 77;
    unsigned per_block = 512, nblocks = ((unsigned)n + per_block - 1) / per_block;
    int32_t *in = kc_host(k, sizeof(int32_t) * (size_t)n);
    uint32_t *got = kc_host(k, sizeof(uint32_t) * nblocks), *want = kc_host(k, sizeof(uint32_t) * nblocks);
    for (int i = 0; i < n; ++i) {
        in[i] = (int32_t)(kc_rand32(k) % 2001u) - 1000;
        want[(unsigned)i / per_block] += (uint32_t)in[i];
    }
    CUdeviceptr din, dp;
    KC_CU(k, kc_dup(k, &din, in, sizeof(int32_t) * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dp, sizeof(uint32_t) * nblocks));
    void *args[] = {&din, &dp, &n};
    KC_TRY(kc_run1d(k, "block_reduce", nblocks, 256, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dp, sizeof(uint32_t) * nblocks));
    return kc_cmp_u32(k, "partial sums", got, want, nblocks);
}

int check_warp_reduce(kc *k) {
    int n = 5000;
    unsigned block = 128, nblocks = ((unsigned)n + block - 1) / block, nwarps = nblocks * block / 32;
    float *in = kc_host(k, sizeof(float) * (size_t)n);
    float *got = kc_host(k, sizeof(float) * nwarps), *want = kc_host(k, sizeof(float) * nwarps);
    for (int i = 0; i < n; ++i)
        in[i] = kc_randf(k, -1.0f, 1.0f);
    /* Replays the exact shuffle tree in float, so the sums must match bit for bit. */
    for (unsigned w = 0; w < nwarps; ++w) {
        float v[32], nv[32];
        for (unsigned l = 0; l < 32; ++l) {
            unsigned i = w * 32 + l;
            v[l] = i < (unsigned)n ? in[i] : 0.0f;
        }
        for (unsigned off = 16; off > 0; off >>= 1) {
            for (unsigned l = 0; l < 32; ++l)
                nv[l] = v[l] + (l + off < 32 ? v[l + off] : v[l]);
            for (unsigned l = 0; l < 32; ++l)
                v[l] = nv[l];
        }
        want[w] = v[0];
    }
    CUdeviceptr din, dout;
    KC_CU(k, kc_dup(k, &din, in, sizeof(float) * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, sizeof(float) * nwarps));
    void *args[] = {&din, &dout, &n};
    KC_TRY(kc_run1d(k, "warp_reduce", nblocks, block, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, sizeof(float) * nwarps));
    return kc_cmp_f32(k, "warp sums", got, want, nwarps, 0);
}

int check_histogram(kc *k) {
    int n = 50000;
    unsigned char *data = kc_host(k, (size_t)n);
    uint32_t got[256], want[256] = {0};
    for (int i = 0; i < n; ++i) {
        /* Skewed: half the bytes land in 8 bins, so the shared atomics contend. */
        uint32_t r = kc_rand32(k);
        data[i] = (unsigned char)((r & 1u) ? (r >> 8) : ((r >> 8) & 7u));
        want[data[i]]++;
    }
    CUdeviceptr dd, db;
    KC_CU(k, kc_dup(k, &dd, data, (size_t)n));
    KC_CU(k, kc_dalloc(k, &db, sizeof got));
    KC_CU(k, cuMemsetD32(db, 0, 256));
    void *args[] = {&dd, &n, &db};
    KC_TRY(kc_run1d(k, "histogram", 24, 192, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, db, sizeof got));
    return kc_cmp_u32(k, "bins", got, want, 256);
}

int check_prefix_scan(kc *k) {
    int n = 20000;
    uint32_t *in = kc_host(k, sizeof(uint32_t) * (size_t)n);
    uint32_t *got = kc_host(k, sizeof(uint32_t) * (size_t)n),
             *want = kc_host(k, sizeof(uint32_t) * (size_t)n);
    for (int i = 0; i < n; ++i)
        in[i] = kc_rand32(k) % 1000u;
    CUdeviceptr din, dout, dsums;
    KC_CU(k, kc_dup(k, &din, in, sizeof(uint32_t) * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, sizeof(uint32_t) * (size_t)n));

    /* Inclusive Hillis-Steele, 256 elements per block. */
    unsigned hs_blocks = ((unsigned)n + 255) / 256;
    for (int i = 0; i < n; ++i)
        want[i] = in[i] + ((i % 256) ? want[i - 1] : 0u);
    void *a1[] = {&din, &dout, &n};
    KC_TRY(kc_run1d(k, "scan_hillis_steele", hs_blocks, 256, 0, a1));
    KC_CU(k, cuMemcpyDtoH(got, dout, sizeof(uint32_t) * (size_t)n));
    KC_TRY(kc_cmp_u32(k, "hillis-steele inclusive scan", got, want, (size_t)n));

    /* Exclusive Blelloch, 512 elements per block, plus per-block totals. */
    unsigned bl_blocks = ((unsigned)n + 511) / 512;
    uint32_t *sums = kc_host(k, sizeof(uint32_t) * bl_blocks),
             *wsums = kc_host(k, sizeof(uint32_t) * bl_blocks);
    for (int i = 0; i < n; ++i) {
        want[i] = (i % 512) ? want[i - 1] + in[i - 1] : 0u;
        wsums[i / 512] += in[i];
    }
    KC_CU(k, kc_dalloc(k, &dsums, sizeof(uint32_t) * bl_blocks));
    KC_CU(k, cuMemsetD32(dout, 0xdeadbeefu, (size_t)n));
    void *a2[] = {&din, &dout, &dsums, &n};
    KC_TRY(kc_run1d(k, "scan_blelloch", bl_blocks, 256, 0, a2));
    KC_CU(k, cuMemcpyDtoH(got, dout, sizeof(uint32_t) * (size_t)n));
    KC_CU(k, cuMemcpyDtoH(sums, dsums, sizeof(uint32_t) * bl_blocks));
    KC_TRY(kc_cmp_u32(k, "blelloch exclusive scan", got, want, (size_t)n));
    return kc_cmp_u32(k, "blelloch block sums", sums, wsums, bl_blocks);
}
