/* SPDX-License-Identifier: Apache-2.0
 * Checkers for warp-level kernels, by simulating each warp on the host: vote, shuffles. */
#include "kcheck.h"

#include <string.h>

#define SHFL_N 12

int check_vote(kc *k) {
    int n = 1000; /* the last warp is partly past n: those lanes vote with v = 0 */
    unsigned block = 96, nblocks = ((unsigned)n + block - 1) / block;
    unsigned total = nblocks * block;
    uint32_t *in = kc_host(k, 4 * (size_t)n);
    uint32_t *got = kc_host(k, 4 * 6 * (size_t)n), *want = kc_host(k, 4 * 6 * (size_t)n);
    for (int i = 0; i < n; ++i) {
        uint32_t r = kc_rand32(k);
        unsigned warp = (unsigned)i / 32;
        if (warp % 5 == 1) r |= 1u; /* every lane's predicate true: __all_sync(p) holds */
        if (warp % 7 == 2 && (i & 31) == 9) r = 0xdeadbeefu;
        if (warp % 3 == 0 && (i & 31) == 30)
            r = (r & ~0xff0u) | 0x120u;
        else if ((r & 0xff0u) == 0x120u)
            r ^= 0x10u;
        in[i] = r;
    }
    for (unsigned w = 0; w < total / 32; ++w) {
        uint32_t v[32], ballot = 0, part = 0;
        int all = 1, all2 = 1, any = 0;
        for (unsigned l = 0; l < 32; ++l) {
            unsigned i = w * 32 + l;
            v[l] = i < (unsigned)n ? in[i] : 0u;
            int p = (v[l] & 3u) != 0;
            ballot |= (uint32_t)p << l;
            all &= v[l] != 0xdeadbeefu;
            all2 &= p;
            any |= (v[l] & 0xff0u) == 0x120u;
            if (l < 20) part |= (v[l] & 1u) << l;
        }
        for (unsigned l = 0; l < 32; ++l) {
            unsigned i = w * 32 + l;
            if (i >= (unsigned)n) continue;
            uint32_t *o = want + (size_t)i * 6;
            o[0] = ballot;
            o[1] = (uint32_t)all;
            o[2] = (uint32_t)all2;
            o[3] = (uint32_t)any;
            o[4] = l < 20 ? part : 0xffffffffu;
            o[5] = (uint32_t)__builtin_popcount(ballot);
        }
    }
    CUdeviceptr din, dout;
    KC_CU(k, kc_dup(k, &din, in, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, 4 * 6 * (size_t)n));
    void *args[] = {&din, &dout, &n};
    KC_TRY(kc_run1d(k, "vote", nblocks, block, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 4 * 6 * (size_t)n));
    return kc_cmp_u32(k, "ballot/all/all/any/partial-ballot/popc", got, want, 6 * (size_t)n);
}

int check_shuffles(kc *k) {
    int n = 1000;
    unsigned block = 64, nblocks = ((unsigned)n + block - 1) / block, total = nblocks * block;
    uint32_t *in = kc_host(k, 4 * (size_t)n);
    uint64_t *got = kc_host(k, 8 * SHFL_N * (size_t)n), *want = kc_host(k, 8 * SHFL_N * (size_t)n);
    for (int i = 0; i < n; ++i)
        in[i] = kc_rand32(k);
    for (unsigned w = 0; w < total / 32; ++w) {
        uint32_t v[32], fv[32];
        uint64_t lv[32];
        for (unsigned l = 0; l < 32; ++l) {
            unsigned i = w * 32 + l;
            v[l] = i < (unsigned)n ? in[i] : 0u;
            fv[l] = kc_f2u((float)(v[l] & 0xffffu) * 0.25f);
            lv[l] = ((uint64_t)v[l] << 32) | (v[l] ^ 0xa5a5a5a5u);
        }
        for (unsigned l = 0; l < 32; ++l) {
            unsigned i = w * 32 + l;
            if (i >= (unsigned)n) continue;
            uint64_t *r = want + (size_t)i * SHFL_N;
            r[0] = v[(l * 7u + 3u) & 31u];
            r[1] = v[(l & ~15u) | ((l + 5u) & 15u)];
            r[2] = l >= 3 ? v[l - 3] : v[l];
            r[3] = (l & 7u) >= 2 ? v[l - 2] : v[l];
            r[4] = l + 5 < 32 ? v[l + 5] : v[l];
            r[5] = (l & 15u) + 3 < 16 ? v[l + 3] : v[l];
            r[6] = v[l ^ 19u];
            r[7] = v[l ^ 5u];
            r[8] = fv[31 - l];
            r[9] = l < 31 ? fv[l + 1] : fv[l];
            r[10] = lv[l ^ 1u];
            r[11] = l >= 16 ? lv[l - 16] : lv[l];
        }
    }
    CUdeviceptr din, dout;
    KC_CU(k, kc_dup(k, &din, in, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, 8 * SHFL_N * (size_t)n));
    void *args[] = {&din, &dout, &n};
    KC_TRY(kc_run1d(k, "shuffles", nblocks, block, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 8 * SHFL_N * (size_t)n));
    for (int i = 0; i < n; ++i)
        for (int q = 0; q < SHFL_N; ++q) {
            size_t at = (size_t)i * SHFL_N + (size_t)q;
            if (got[at] != want[at])
                return kc_fail(k, "shuffle %d at thread %d (lane %d): got 0x%llx want 0x%llx", q, i, i & 31,
                               (unsigned long long)got[at], (unsigned long long)want[at]);
        }
    return KC_PASS;
}

/* warp_divergent_sync: every warp op after per-lane loops of different lengths sees the whole warp */
int check_warp_divergent_sync(kc *k) {
    unsigned block = 64, nblocks = 4, total = nblocks * block;
    uint32_t *in = kc_host(k, 4 * (size_t)total);
    uint32_t *got = kc_host(k, 4 * 10 * (size_t)total), *want = kc_host(k, 4 * 10 * (size_t)total);
    for (unsigned i = 0; i < total; ++i)
        in[i] = kc_rand32(k);
    for (unsigned w = 0; w < total / 32; ++w) {
        uint32_t acc[32], ballot = 0, sum = 0;
        int all = 1;
        for (unsigned l = 0; l < 32; ++l) {
            uint32_t v = in[w * 32 + l];
            uint32_t trips = (v & 0x3ffu) + (l == ((v >> 16) & 31u) ? 1500u : 0u) + (l == 5u ? 2000u : 0u);
            uint32_t a = v;
            for (uint32_t t = 0; t < trips; ++t)
                a = a * 1664525u + 1013904223u;
            acc[l] = a;
            ballot |= (a & 1u) << l;
            all &= (a & 0xf000u) != 0u;
            sum += a;
        }
        uint32_t hy[16]; /* the long loops of lanes 0..15 before the two-site __syncwarp exchange */
        for (unsigned l = 0; l < 16; ++l) {
            uint32_t a = acc[l], kk = 1500u + (acc[l] & 255u);
            for (uint32_t t = 0; t < kk; ++t)
                a = a * 69069u + 1u;
            hy[l] = a;
        }
        uint32_t rounds = 3u + (in[w * 32] & 3u), tot = 0;
        for (uint32_t r = 0; r < rounds; ++r) {
            uint32_t x[32], red = 0;
            for (unsigned l = 0; l < 32; ++l) {
                uint32_t y = acc[l] ^ r, kk = ((y >> 3) & 0xffu) + (l == r ? 1200u : 0u);
                for (uint32_t t = 0; t < kk; ++t)
                    y = y * 1103515245u + 12345u;
                x[l] = y;
            }
            /* shfl.down tree: lane 0 ends with the sum of all 32 */
            for (unsigned l = 0; l < 32; ++l)
                red += x[l];
            tot = tot * 31u + red;
        }
        for (unsigned l = 0; l < 32; ++l) {
            uint32_t *o = want + (size_t)(w * 32 + l) * 10, mt = 0;
            for (unsigned j = 0; j < 32; ++j)
                mt |= (uint32_t)((acc[j] & 3u) == (acc[l] & 3u)) << j;
            o[0] = acc[(l + 7u) & 31u];
            o[1] = acc[l ^ 1u];
            o[2] = ballot;
            o[3] = (uint32_t)all;
            o[4] = sum;
            o[5] = mt;
            o[6] = acc[l ^ 3u] ^ 0x5a5a5a5au;
            o[7] = tot;
            o[8] = hy[l & 15u];
            o[9] = l < 16 ? hy[l] ^ 0x77u : 0u;
        }
    }
    CUdeviceptr din, dout;
    KC_CU(k, kc_dup(k, &din, in, 4 * (size_t)total));
    KC_CU(k, kc_dalloc(k, &dout, 4 * 10 * (size_t)total));
    void *args[] = {&din, &dout};
    KC_TRY(kc_run1d(k, "warp_divergent_sync", nblocks, block, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 4 * 10 * (size_t)total));
    return kc_cmp_u32(k,
                      "shfl/shfl.bfly/ballot/all/reduce.add/match.any/syncwarp-exchange/looped-reduction/"
                      "two-site-syncwarp x2",
                      got, want, 10 * (size_t)total);
}
