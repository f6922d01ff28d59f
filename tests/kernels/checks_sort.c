/* SPDX-License-Identifier: Apache-2.0
 * Checker for bitonic_sort: one-block sorts and data-dependent loops with __syncthreads() inside
 * (bitonic network, odd-even transposition, key/value bitonic, merge by rank + tree reduce), at
 * block sizes 1024, 512, 96, 100 and 33 and several blocks, against a host sort; mark_zeros, a compare
 * with 0 after a barrier in a kernel whose shared array is not at offset 0 (silently wrong before). */
#include "kcheck.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_pair(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* keys drawn from `range` values (small ranges give many duplicates) */
static uint32_t draw(kc *k, uint32_t range) {
    uint32_t r = kc_rand32(k);
    return range ? r % range : r;
}

static int run_bitonic(kc *k, unsigned block, unsigned nblocks, uint32_t range) {
    size_t n = (size_t)block * nblocks;
    uint32_t *h = kc_host(k, 12 * n), *want = h + n, *got = h + 2 * n;
    for (size_t i = 0; i < n; ++i)
        h[i] = want[i] = draw(k, range);
    for (unsigned b = 0; b < nblocks; ++b)
        qsort(want + (size_t)b * block, block, 4, cmp_u32);
    CUdeviceptr d;
    KC_CU(k, kc_dup(k, &d, h, 4 * n));
    void *args[] = {&d};
    KC_TRY(kc_run1d(k, "bitonic_sort", nblocks, block, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, d, 4 * n));
    char what[96];
    snprintf(what, sizeof what, "bitonic_sort block %u x %u blocks", block, nblocks);
    return kc_cmp_u32(k, what, got, want, n);
}

static int run_odd_even(kc *k, unsigned block, unsigned nblocks, uint32_t range) {
    size_t n = (size_t)block * nblocks;
    int32_t *h = kc_host(k, 12 * n), *want = h + n, *got = h + 2 * n;
    for (size_t i = 0; i < n; ++i)
        h[i] = want[i] = (int32_t)draw(k, range) - (int32_t)(range / 2);
    for (unsigned b = 0; b < nblocks; ++b)
        qsort(want + (size_t)b * block, block, 4, cmp_i32);
    CUdeviceptr d;
    KC_CU(k, kc_dup(k, &d, h, 4 * n));
    void *args[] = {&d};
    KC_TRY(kc_run1d(k, "odd_even_sort", nblocks, block, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, d, 4 * n));
    char what[96];
    snprintf(what, sizeof what, "odd_even_sort block %u x %u blocks", block, nblocks);
    return kc_cmp_u32(k, what, (const uint32_t *)got, (const uint32_t *)want, n);
}

static int run_pairs(kc *k, unsigned block, unsigned nblocks, uint32_t range) {
    size_t n = (size_t)2 * block * nblocks, seg = (size_t)2 * block;
    uint64_t *pairs = kc_host(k, 32 * n);
    uint32_t *hk = (uint32_t *)(pairs + n), *hv = hk + n, *gk = hk + 2 * n, *gv = hk + 3 * n,
             *wk = hk + 4 * n, *wv = hk + 5 * n;
    for (size_t i = 0; i < n; ++i) {
        hk[i] = draw(k, range);
        hv[i] = kc_rand32(k) % 1000u;
        pairs[i] = (uint64_t)hk[i] << 32 | hv[i];
    }
    for (unsigned b = 0; b < nblocks; ++b)
        qsort(pairs + (size_t)b * seg, seg, 8, cmp_pair);
    for (size_t i = 0; i < n; ++i) {
        wk[i] = (uint32_t)(pairs[i] >> 32);
        wv[i] = (uint32_t)pairs[i];
    }
    CUdeviceptr dk, dv;
    KC_CU(k, kc_dup(k, &dk, hk, 4 * n));
    KC_CU(k, kc_dup(k, &dv, hv, 4 * n));
    void *args[] = {&dk, &dv};
    KC_TRY(kc_run1d(k, "bitonic_sort_pairs", nblocks, block, 0, args));
    KC_CU(k, cuMemcpyDtoH(gk, dk, 4 * n));
    KC_CU(k, cuMemcpyDtoH(gv, dv, 4 * n));
    char what[96];
    snprintf(what, sizeof what, "bitonic_sort_pairs keys, block %u x %u blocks", block, nblocks);
    KC_TRY(kc_cmp_u32(k, what, gk, wk, n));
    snprintf(what, sizeof what, "bitonic_sort_pairs values, block %u x %u blocks", block, nblocks);
    return kc_cmp_u32(k, what, gv, wv, n);
}

static int run_merge(kc *k, unsigned h, unsigned nblocks, uint32_t range) {
    size_t n = (size_t)2 * h * nblocks;
    int32_t *in = kc_host(k, 12 * n + 16 * (size_t)nblocks), *want = in + n, *got = in + 2 * n;
    int32_t *sums = in + 3 * n, *wsums = sums + 2 * (size_t)nblocks;
    for (size_t i = 0; i < n; ++i)
        in[i] = want[i] = (int32_t)draw(k, range) - (int32_t)(range / 3);
    for (unsigned b = 0; b < nblocks; ++b) {
        int32_t *s = in + (size_t)b * 2 * h;
        qsort(s, h, 4, cmp_i32);
        qsort(s + h, h, 4, cmp_i32);
        qsort(want + (size_t)b * 2 * h, 2 * (size_t)h, 4, cmp_i32);
        uint32_t sum = 0;
        int32_t mx = s[0];
        for (size_t i = 0; i < 2 * (size_t)h; ++i) {
            sum += (uint32_t)s[i];
            if (s[i] > mx) mx = s[i];
        }
        wsums[2 * b] = (int32_t)sum;
        wsums[2 * b + 1] = mx;
    }
    CUdeviceptr din, dout, ds;
    KC_CU(k, kc_dup(k, &din, in, 4 * n));
    KC_CU(k, kc_dalloc(k, &dout, 4 * n));
    KC_CU(k, kc_dalloc(k, &ds, 8 * nblocks));
    void *args[] = {&din, &dout, &ds};
    KC_TRY(kc_run1d(k, "merge_rank", nblocks, h, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 4 * n));
    KC_CU(k, cuMemcpyDtoH(sums, ds, 8 * nblocks));
    char what[96];
    snprintf(what, sizeof what, "merge_rank merged, half %u x %u blocks", h, nblocks);
    KC_TRY(kc_cmp_u32(k, what, (const uint32_t *)got, (const uint32_t *)want, n));
    snprintf(what, sizeof what, "merge_rank sum/max, half %u x %u blocks", h, nblocks);
    return kc_cmp_u32(k, what, (const uint32_t *)sums, (const uint32_t *)wsums, 2 * (size_t)nblocks);
}

static int run_mark_zeros(kc *k, unsigned block, unsigned nblocks) {
    size_t n = (size_t)block * nblocks;
    int32_t *in = kc_host(k, 12 * n), *want = in + n, *got = in + 2 * n;
    for (size_t i = 0; i < n; ++i)
        in[i] = (kc_rand32(k) & 3u) ? 0 : (int32_t)(kc_rand32(k) % 5000u) + 1;
    for (unsigned b = 0; b < nblocks; ++b)
        for (unsigned t = 0; t < block; ++t)
            want[(size_t)b * block + t] = in[(size_t)b * block + (block - 1 - t)] == 0 ? 11 : 22;
    CUdeviceptr din, dout;
    KC_CU(k, kc_dup(k, &din, in, 4 * n));
    KC_CU(k, kc_dalloc(k, &dout, 4 * n));
    void *args[] = {&din, &dout};
    KC_TRY(kc_run1d(k, "mark_zeros", nblocks, block, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 4 * n));
    return kc_cmp_u32(k, "mark_zeros", (const uint32_t *)got, (const uint32_t *)want, n);
}

int check_bitonic_sort(kc *k) {
    KC_TRY(run_mark_zeros(k, 1024, 2));
    KC_TRY(run_mark_zeros(k, 100, 3));
    KC_TRY(run_bitonic(k, 1024, 1, 0));
    KC_TRY(run_bitonic(k, 1024, 3, 50));
    KC_TRY(run_bitonic(k, 512, 4, 0));
    KC_TRY(run_bitonic(k, 64, 5, 7));
    KC_TRY(run_bitonic(k, 32, 2, 0));
    KC_TRY(run_odd_even(k, 1024, 1, 0));
    KC_TRY(run_odd_even(k, 512, 2, 100));
    KC_TRY(run_odd_even(k, 96, 3, 0));
    KC_TRY(run_odd_even(k, 100, 3, 20));
    KC_TRY(run_odd_even(k, 33, 2, 0));
    KC_TRY(run_pairs(k, 1024, 1, 300));
    KC_TRY(run_pairs(k, 512, 3, 0));
    KC_TRY(run_pairs(k, 64, 2, 5));
    KC_TRY(run_merge(k, 1024, 2, 5000));
    KC_TRY(run_merge(k, 512, 2, 0));
    KC_TRY(run_merge(k, 100, 3, 300));
    KC_TRY(run_merge(k, 96, 2, 50));
    KC_TRY(run_merge(k, 33, 4, 0));
    return KC_PASS;
}
