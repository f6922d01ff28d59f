/* SPDX-License-Identifier: Apache-2.0
 * Checkers for block_sync (bar.red, match, redux, named barriers, clock64) and last_block_sum
 * (__threadfence + atomicInc: the last block to finish adds up the partial sums). */
#include "kcheck.h"

int check_block_sync(kc *k) {
    int n = 1000;
    unsigned block = 128, nblocks = ((unsigned)n + block - 1) / block, total = nblocks * block;
    uint32_t *in = kc_host(k, 4 * (size_t)n), *v = kc_host(k, 4 * (size_t)total);
    uint32_t *got = kc_host(k, 4 * 8 * (size_t)n), *want = kc_host(k, 4 * 8 * (size_t)n);
    for (int i = 0; i < n; ++i) {
        uint32_t r = kc_rand32(k);
        unsigned blk = (unsigned)i / block;
        if ((r & 0xffu) == 0x5au) r ^= 1u;
        if (blk % 3 == 1 && (i % 128) == 77)
            r = (r & ~0xffu) | 0x5au;                        /* __syncthreads_or true in these blocks */
        if (blk % 4 == 2 && (i % 128) == 5) r = 0x12345678u; /* __syncthreads_and false in these blocks */
        in[i] = r;
    }
    for (unsigned i = 0; i < total; ++i)
        v[i] = i < (unsigned)n ? in[i] : 0u;
    for (unsigned blk = 0; blk < nblocks; ++blk) {
        uint32_t cnt = 0, all = 1, any = 0;
        for (unsigned t = 0; t < block; ++t) {
            uint32_t x = v[blk * block + t];
            cnt += x & 1u;
            all &= x != 0x12345678u;
            any |= (x & 0xffu) == 0x5au;
        }
        for (unsigned t = 0; t < block; ++t) {
            unsigned i = blk * block + t, lane = t & 31u, w0 = blk * block + (t & ~31u);
            if (i >= (unsigned)n) continue;
            uint32_t peers = 0, wsum = 0;
            for (unsigned l = 0; l < 32; ++l) {
                if ((v[w0 + l] & 7u) == (v[i] & 7u)) peers |= 1u << l;
                wsum += v[w0 + l] & 0xffffu;
            }
            (void)lane;
            unsigned pt = t ^ 32u;
            uint32_t *o = want + (size_t)i * 8;
            o[0] = cnt;
            o[1] = all;
            o[2] = any;
            o[3] = peers;
            o[4] = 0xffffffffu;
            o[5] = wsum;
            o[6] = v[blk * block + pt] ^ ((pt >> 5) << 24);
            o[7] = 1;
        }
    }
    CUdeviceptr din, dout;
    KC_CU(k, kc_dup(k, &din, in, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, 4 * 8 * (size_t)n));
    void *args[] = {&din, &dout, &n};
    KC_TRY(kc_run1d(k, "block_sync", nblocks, block, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 4 * 8 * (size_t)n));
    kc_opfails fails = {0};
    for (int i = 0; i < n; ++i)
        for (int q = 0; q < 8; ++q) {
            static const char *const what[8] = {
                "__syncthreads_count", "__syncthreads_and", "__syncthreads_or",       "__match_any_sync",
                "__match_all_sync",    "__reduce_add_sync", "named barrier exchange", "clock64 monotonic"};
            size_t at = (size_t)i * 8 + (size_t)q;
            if (got[at] != want[at])
                kc_opfail(&fails, q, "%s at thread %d: got 0x%08x want 0x%08x", what[q], i, got[at],
                          want[at]);
        }
    KC_TRY(kc_opfail_finish(k, &fails));

    /* last_block_sum: run it twice; the last block resets the counter for the next launch. */
    int m = 37 * 128 - 50;
    unsigned mblocks = ((unsigned)m + 127) / 128;
    uint32_t *data = kc_host(k, 4 * (size_t)m), *partial = kc_host(k, 4 * mblocks),
             *wpartial = kc_host(k, 4 * mblocks);
    uint32_t sum = 0;
    for (int i = 0; i < m; ++i) {
        data[i] = kc_rand32(k) >> 8;
        sum += data[i];
        wpartial[i / 128] += data[i];
    }
    CUdeviceptr dd, dp, dc, dt;
    KC_CU(k, kc_dup(k, &dd, data, 4 * (size_t)m));
    KC_CU(k, kc_dalloc(k, &dp, 4 * mblocks));
    KC_CU(k, kc_dalloc(k, &dc, 4));
    KC_CU(k, kc_dalloc(k, &dt, 4));
    KC_CU(k, cuMemsetD32(dc, 0, 1));
    for (int rep = 0; rep < 2; ++rep) {
        KC_CU(k, cuMemsetD32(dt, 0, 1));
        void *a2[] = {&dd, &dp, &dc, &dt, &m};
        KC_TRY(kc_run1d(k, "last_block_sum", mblocks, 128, 0, a2));
        uint32_t tot = 0, cnt = 99;
        KC_CU(k, cuMemcpyDtoH(&tot, dt, 4));
        KC_CU(k, cuMemcpyDtoH(&cnt, dc, 4));
        KC_CU(k, cuMemcpyDtoH(partial, dp, 4 * mblocks));
        KC_TRY(kc_cmp_u32(k, "last_block_sum partials", partial, wpartial, mblocks));
        if (tot != sum || cnt != 0)
            return kc_fail(k, "last_block_sum run %d: total %u (want %u), counter %u (want 0)", rep, tot, sum,
                           cnt);
    }
    return KC_PASS;
}
