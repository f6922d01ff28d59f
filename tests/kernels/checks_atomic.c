/* SPDX-License-Identifier: Apache-2.0
 * Checker for atomics: order-independent final values exactly, plus permutation checks on the
 * values returned by atomicAdd and atomicExch. See atomics.cu for the slot layout. */
#include "kcheck.h"

#include <string.h>

#define ATOM_INC_LIMIT 1000u
#define ATOM_DEC_LIMIT 777u

int check_atomics(kc *k) {
    int n = 3000;
    uint32_t *in = kc_host(k, 4 * (size_t)n);
    int32_t *old_add = kc_host(k, 4 * (size_t)n), *old_exch = kc_host(k, 4 * (size_t)n);
    unsigned char *seen = kc_host(k, (size_t)n + 2);
    int32_t ai[11] = {0, INT32_MAX, INT32_MIN, -1, 0, 0x0f0f0f0f, 5, 3, 100, 0, 0};
    uint32_t au[3] = {UINT32_MAX, 0, 7};
    uint64_t ul[4] = {1ull << 40, UINT64_MAX, 0, 12345};
    float af = 0.5f;
    double ad = -1.0;
    for (int i = 0; i < n; ++i)
        in[i] = kc_rand32(k);
    in[17] = 0x80000000u; /* INT_MIN for signed min */
    in[33] = 0x7fffffffu;

    int32_t w[11];
    memcpy(w, ai, sizeof w);
    uint32_t wu[3] = {au[0], au[1], au[2]};
    uint64_t wl[4] = {ul[0], ul[1], ul[2], ul[3]};
    float wf = af;
    double wd = ad;
    uint32_t inc = (uint32_t)w[6], dec = (uint32_t)w[7];
    for (int i = 0; i < n; ++i) {
        uint32_t v = in[i];
        int32_t sv = (int32_t)v;
        w[0] = (int32_t)((uint32_t)w[0] + 1u);
        if (sv < w[1]) w[1] = sv;
        if (sv > w[2]) w[2] = sv;
        w[3] &= (int32_t)(v | 0x01010101u);
        w[4] |= (int32_t)(v & 0x10204080u);
        w[5] ^= sv;
        inc = inc >= ATOM_INC_LIMIT ? 0u : inc + 1u;
        dec = (dec == 0u || dec > ATOM_DEC_LIMIT) ? ATOM_DEC_LIMIT : dec - 1u;
        w[8] = (int32_t)((uint32_t)w[8] + 1u);
        w[9] = (int32_t)((uint32_t)w[9] - (v & 0xffu));
        if (v < wu[0]) wu[0] = v;
        if (v > wu[1]) wu[1] = v;
        wu[2] += 1u;
        wl[0] += (uint64_t)v << 20;
        uint64_t key = ((uint64_t)v << 32) | (uint32_t)i;
        if (key < wl[1]) wl[1] = key;
        if (key > wl[2]) wl[2] = key;
        wl[3] += v & 0xfu;
        wf += (float)(int32_t)(v % 17u) - 8.0f; /* integers: exact in any order */
        wd += (double)(v & 0xfffu) * 0.5;       /* multiples of 0.5 below 2^53: exact too */
    }
    w[6] = (int32_t)inc;
    w[7] = (int32_t)dec;

    CUdeviceptr din, dai, dau, dul, daf, dad, doa, doe;
    KC_CU(k, kc_dup(k, &din, in, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &dai, ai, sizeof ai));
    KC_CU(k, kc_dup(k, &dau, au, sizeof au));
    KC_CU(k, kc_dup(k, &dul, ul, sizeof ul));
    KC_CU(k, kc_dup(k, &daf, &af, sizeof af));
    KC_CU(k, kc_dup(k, &dad, &ad, sizeof ad));
    KC_CU(k, kc_dalloc(k, &doa, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &doe, 4 * (size_t)n));
    void *args[] = {&din, &dai, &dau, &dul, &daf, &dad, &doa, &doe, &n};
    KC_TRY(kc_run1d(k, "atomics", ((unsigned)n + 255) / 256, 256, 0, args));
    int32_t gai[11];
    uint32_t gau[3];
    uint64_t gul[4];
    float gaf;
    double gad;
    KC_CU(k, cuMemcpyDtoH(gai, dai, sizeof gai));
    KC_CU(k, cuMemcpyDtoH(gau, dau, sizeof gau));
    KC_CU(k, cuMemcpyDtoH(gul, dul, sizeof gul));
    KC_CU(k, cuMemcpyDtoH(&gaf, daf, sizeof gaf));
    KC_CU(k, cuMemcpyDtoH(&gad, dad, sizeof gad));
    KC_CU(k, cuMemcpyDtoH(old_add, doa, 4 * (size_t)n));
    KC_CU(k, cuMemcpyDtoH(old_exch, doe, 4 * (size_t)n));

    static const char *const names[10] = {"add", "min", "max", "and",      "or",
                                          "xor", "inc", "dec", "cas-loop", "sub"};
    for (int s = 0; s < 10; ++s)
        if (gai[s] != w[s])
            return kc_fail(k, "int atomic %s: got %d (0x%x) want %d (0x%x)", names[s], gai[s],
                           (unsigned)gai[s], w[s], (unsigned)w[s]);
    KC_TRY(kc_cmp_u32(k, "unsigned min/max/inc", gau, wu, 3));
    KC_TRY(kc_cmp_u64(k, "64-bit add/min/max/cas", gul, wl, 4));
    KC_TRY(kc_cmp_f32(k, "float atomicAdd", &gaf, &wf, 1, 0));
    KC_TRY(kc_cmp_f64(k, "double atomicAdd", &gad, &wd, 1, 0));

    /* atomicAdd(&x, 1) returns each of 0..n-1 exactly once. */
    for (int i = 0; i < n; ++i) {
        if (old_add[i] < 0 || old_add[i] >= n || seen[old_add[i]])
            return kc_fail(k, "atomicAdd returned %d to thread %d: not a permutation of 0..%d", old_add[i], i,
                           n - 1);
        seen[old_add[i]] = 1;
    }
    /* atomicExch(&x, i + 1): the returned values and the final value are {0, 1, ..., n}, each once. */
    memset(seen, 0, (size_t)n + 2);
    for (int i = 0; i <= n; ++i) {
        int32_t v = i < n ? old_exch[i] : gai[10];
        if (v < 0 || v > n || seen[v])
            return kc_fail(k, "atomicExch: value %d seen twice or out of range (slot %d)", v, i);
        seen[v] = 1;
        if (i < n && v == i + 1) return kc_fail(k, "atomicExch: thread %d got back its own value", i);
    }
    return KC_PASS;
}
