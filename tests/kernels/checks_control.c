/* SPDX-License-Identifier: Apache-2.0
 * Checkers for control-flow-heavy kernels: divergence, device_funcs, local_array. */
#include "kcheck.h"

#include <math.h>

static uint32_t diverge_one(uint32_t x, uint32_t lane) {
    uint32_t acc = x;
    switch (lane % 5u) {
    case 0:
        for (uint32_t k = 0; k < (x & 15u); ++k)
            acc = acc * 3u + k;
        break;
    case 1: {
        uint32_t k = 0;
        while (acc > 7u && k < 40u) {
            acc = (acc & 1u) ? acc * 3u + 1u : acc >> 1;
            ++k;
        }
        acc += k << 16;
        break;
    }
    case 2:
        for (uint32_t k = 0; k < lane; ++k) {
            if ((acc ^ k) & 4u) continue;
            acc += k * k;
            if (acc > 0x40000000u) break;
        }
        break;
    case 3:
        if (x & 1u) {
            acc = (x & 2u) ? ~acc : acc ^ 0x5a5a5a5au;
        } else {
            unsigned rot = 0;
            do {
                acc = (acc << 1) | (acc >> 31);
            } while ((acc & 0xffu) != 0u && (acc & 3u) != 3u && ++rot < 40u);
        }
        break;
    default:
        acc = x % (lane + 1u) + x / (lane + 1u);
        break;
    }
    return acc;
}

int check_divergence(kc *k) {
    int n = 3000;
    unsigned block = 128, nblocks = ((unsigned)n + block - 1) / block;
    uint32_t *in = kc_host(k, sizeof(uint32_t) * (size_t)n);
    uint32_t *got = kc_host(k, sizeof(uint32_t) * (size_t)n),
             *want = kc_host(k, sizeof(uint32_t) * (size_t)n);
    uint32_t s[128];
    for (int i = 0; i < n; ++i) {
        uint32_t r = kc_rand32(k);
        /* Some zeros and small values so the loops also run zero or few times. */
        in[i] = (r & 7u) == 0 ? 0u : ((r & 7u) == 1 ? (r >> 24) : r);
    }
    for (unsigned b = 0; b < nblocks; ++b) {
        for (unsigned t = 0; t < block; ++t) {
            unsigned i = b * block + t;
            s[t] = diverge_one(i < (unsigned)n ? in[i] : 0u, t & 31u);
        }
        for (unsigned t = 0; t < block; ++t) {
            unsigned i = b * block + t;
            if (i < (unsigned)n) want[i] = s[t] + (s[(t + 1) % block] & 0xffu);
        }
    }
    CUdeviceptr din, dout;
    KC_CU(k, kc_dup(k, &din, in, sizeof(uint32_t) * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, sizeof(uint32_t) * (size_t)n));
    void *args[] = {&din, &dout, &n};
    KC_TRY(kc_run1d(k, "divergence", nblocks, block, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, sizeof(uint32_t) * (size_t)n));
    return kc_cmp_u32(k, "out", got, want, (size_t)n);
}

static uint32_t gcd_host(uint32_t a, uint32_t b) {
    while (b != 0) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int check_device_funcs(kc *k) {
    int n = 2000;
    uint32_t *u = kc_host(k, sizeof(uint32_t) * 2 * (size_t)n);
    float *x = kc_host(k, sizeof(float) * (size_t)n), *poly = kc_host(k, sizeof(float) * (size_t)n);
    float *wpoly = kc_host(k, sizeof(float) * (size_t)n);
    uint32_t *ou = kc_host(k, sizeof(uint32_t) * 6 * (size_t)n),
             *wu = kc_host(k, sizeof(uint32_t) * 6 * (size_t)n);
    float coef[6] = {0.5f, -1.25f, 2.0f, 0.125f, -0.75f, 0.0625f};
    for (int i = 0; i < 2 * n; ++i)
        u[i] = kc_rand32(k);
    for (int i = 0; i < n; ++i) {
        x[i] = kc_randf(k, -2.0f, 2.0f);
        float r = coef[5];
        for (int c = 4; c >= 0; --c)
            r = fmaf(r, x[i], coef[c]); /* nvcc contracts r * x + c */
        wpoly[i] = r;
        uint32_t a = u[2 * i], b = u[2 * i + 1];
        int32_t v[3] = {(int32_t)(a & 0xffffu) - 30000, (int32_t)(b & 0xffffu) - 30000,
                        (int32_t)(a >> 16) - 30000};
        for (int p = 0; p < 2; ++p)
            for (int q = 0; q < 2 - p; ++q)
                if (v[q] > v[q + 1]) {
                    int32_t t = v[q];
                    v[q] = v[q + 1];
                    v[q + 1] = t;
                }
        uint64_t m = (uint64_t)a * b;
        uint32_t *w = wu + 6 * (size_t)i;
        w[0] = gcd_host(a % 100000u + 1u, b % 100000u + 1u);
        w[1] = (uint32_t)v[0];
        w[2] = (uint32_t)v[1];
        w[3] = (uint32_t)v[2];
        w[4] = (uint32_t)m;
        w[5] = (uint32_t)(m >> 32);
    }
    CUdeviceptr du, dx, dc, dpoly, dou;
    KC_CU(k, kc_dup(k, &du, u, sizeof(uint32_t) * 2 * (size_t)n));
    KC_CU(k, kc_dup(k, &dx, x, sizeof(float) * (size_t)n));
    KC_CU(k, kc_dup(k, &dc, coef, sizeof coef));
    KC_CU(k, kc_dalloc(k, &dpoly, sizeof(float) * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dou, sizeof(uint32_t) * 6 * (size_t)n));
    void *args[] = {&du, &dx, &dc, &dpoly, &dou, &n};
    KC_TRY(kc_run1d(k, "device_funcs", ((unsigned)n + 63) / 64, 64, 0, args));
    KC_CU(k, cuMemcpyDtoH(poly, dpoly, sizeof(float) * (size_t)n));
    KC_CU(k, cuMemcpyDtoH(ou, dou, sizeof(uint32_t) * 6 * (size_t)n));
    KC_TRY(kc_cmp_u32(k, "gcd/sort3/split_mul", ou, wu, 6 * (size_t)n));
    return kc_cmp_f32(k, "poly_eval", poly, wpoly, (size_t)n, 0);
}

int check_local_array(kc *k) {
    int n = 1500;
    uint32_t *in = kc_host(k, sizeof(uint32_t) * (size_t)n);
    int32_t *sorted = kc_host(k, sizeof(int32_t) * 16 * (size_t)n),
            *wsorted = kc_host(k, sizeof(int32_t) * 16 * (size_t)n);
    int32_t *mix = kc_host(k, sizeof(int32_t) * 3 * (size_t)n),
            *wmix = kc_host(k, sizeof(int32_t) * 3 * (size_t)n);
    for (int i = 0; i < n; ++i) {
        in[i] = kc_rand32(k);
        int32_t a[16];
        uint32_t table[32], seed = in[i];
        for (int q = 0; q < 16; ++q) {
            seed = seed * 1664525u + 1013904223u;
            a[q] = (int32_t)(seed >> 8) - (1 << 23);
        }
        for (int q = 1; q < 16; ++q) {
            int32_t key = a[q];
            int j = q - 1;
            while (j >= 0 && a[j] > key) {
                a[j + 1] = a[j];
                --j;
            }
            a[j + 1] = key;
        }
        for (int q = 0; q < 16; ++q)
            wsorted[(size_t)i * 16 + (size_t)q] = a[q];
        for (uint32_t q = 0; q < 32; ++q)
            table[q] = (seed >> (q & 15u)) ^ q;
        uint32_t p = seed & 31u, acc = 0;
        for (uint32_t q = 0; q < 20; ++q) {
            acc += table[p];
            p = (table[p] + q) & 31u;
            table[(p * 7u) & 31u] ^= acc;
        }
        int32_t keys[8];
        for (int q = 0; q < 8; ++q)
            keys[q] = (int32_t)(table[q * 4] & 0xffu);
        int best = 0;
        for (int q = 1; q < 8; ++q)
            if (keys[q] > keys[best]) best = q;
        wmix[(size_t)i * 3 + 0] = (int32_t)acc;
        wmix[(size_t)i * 3 + 1] = keys[best];
        wmix[(size_t)i * 3 + 2] = (int32_t)((acc >> 3) & 7u);
    }
    CUdeviceptr din, ds, dm;
    KC_CU(k, kc_dup(k, &din, in, sizeof(uint32_t) * (size_t)n));
    KC_CU(k, kc_dalloc(k, &ds, sizeof(int32_t) * 16 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dm, sizeof(int32_t) * 3 * (size_t)n));
    void *args[] = {&din, &ds, &dm, &n};
    KC_TRY(kc_run1d(k, "local_array", ((unsigned)n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(sorted, ds, sizeof(int32_t) * 16 * (size_t)n));
    KC_CU(k, cuMemcpyDtoH(mix, dm, sizeof(int32_t) * 3 * (size_t)n));
    KC_TRY(kc_cmp_u32(k, "sorted", (uint32_t *)sorted, (uint32_t *)wsorted, 16 * (size_t)n));
    return kc_cmp_u32(k, "table/struct", (uint32_t *)mix, (uint32_t *)wmix, 3 * (size_t)n);
}
