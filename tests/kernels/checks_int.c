/* SPDX-License-Identifier: Apache-2.0
 * Checker for int_ops: a host mirror of every operation in int_ops.cu, in the same order.
 * Signed arithmetic that could overflow in C is done in unsigned or 128-bit. */
#include "kcheck.h"

#define INT_OPS_N 40

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

static uint32_t popc64(uint64_t x) {
    uint32_t c = 0;
    for (; x; x &= x - 1)
        ++c;
    return c;
}

static uint32_t clz64(uint64_t x, uint32_t width) {
    uint32_t c = 0;
    for (int b = (int)width - 1; b >= 0 && !((x >> b) & 1u); --b)
        ++c;
    return c;
}

static uint64_t brev(uint64_t x, uint32_t width) {
    uint64_t r = 0;
    for (uint32_t b = 0; b < width; ++b)
        if ((x >> b) & 1u) r |= 1ull << (width - 1 - b);
    return r;
}

static uint32_t ffs64(uint64_t x) {
    for (uint32_t b = 0; b < 64; ++b)
        if ((x >> b) & 1u) return b + 1;
    return 0;
}

static uint32_t byte_perm(uint32_t x, uint32_t y, uint32_t s) {
    uint64_t src = ((uint64_t)y << 32) | x;
    uint32_t r = 0;
    for (int n = 0; n < 4; ++n) {
        uint32_t sel = (s >> (4 * n)) & 7u;
        r |= (uint32_t)((src >> (8 * sel)) & 0xffu) << (8 * n);
    }
    return r;
}

static int64_t asr64(int64_t v, uint32_t sh) {
    /* Arithmetic shift without relying on implementation-defined behaviour. */
    uint64_t u = (uint64_t)v >> sh;
    if (v < 0 && sh) u |= ~0ull << (64 - sh);
    return (int64_t)u;
}

static void int_ref(uint64_t x, uint64_t y, uint64_t *o) {
    int64_t sx = (int64_t)x, sy = (int64_t)y;
    uint32_t xa = (uint32_t)x, ya = (uint32_t)y;
    int32_t sxa = (int32_t)xa, sya = (int32_t)ya;
    uint32_t sh64 = (uint32_t)(y >> 58), sh32 = (uint32_t)(y >> 59);
    int64_t sd = (int64_t)(y | 1u);
    if (sd == -1) sd = 3;
    int32_t sd32 = (int32_t)(ya | 1u);
    if (sd32 == -1) sd32 = 5;
    uint16_t hx = (uint16_t)xa, hy = (uint16_t)ya;
    uint8_t bx = (uint8_t)xa, by = (uint8_t)(ya >> 8);

    o[0] = (uint64_t)(((u128)x * y) >> 64);
    o[1] = (uint64_t)(((i128)sx * sy) >> 64);
    o[2] = (uint64_t)((int64_t)sxa * (int64_t)sya);
    o[3] = (uint64_t)xa * ya;
    o[4] = (uint32_t)(((uint64_t)xa * ya) >> 32);
    o[5] = (uint32_t)((uint64_t)((int64_t)sxa * (int64_t)sya) >> 32);
    o[6] = x << sh64;
    o[7] = x >> sh64;
    o[8] = (uint64_t)asr64(sx, sh64);
    o[9] = (uint32_t)(xa << sh32);
    o[10] = (uint32_t)asr64(sxa, sh32);
    o[11] = (x & y) ^ (~x | y);
    o[12] = popc64(x);
    o[13] = popc64(xa);
    o[14] = clz64(x, 64);
    o[15] = clz64(xa, 32);
    o[16] = brev(x, 64);
    o[17] = brev(xa, 32);
    o[18] = ffs64(x);
    o[19] = ffs64(ya);
    o[20] = byte_perm(xa, ya, (uint32_t)(x >> 32) & 0x7777u);
    uint64_t cat = ((uint64_t)ya << 32) | xa;
    uint32_t fs = (uint32_t)(x >> 40) & 31u;
    o[21] = (uint32_t)((cat << fs) >> 32);
    o[22] = (uint32_t)(cat >> fs);
    uint32_t fc = (uint32_t)(x >> 58);
    if (fc > 32) fc = 32;
    o[23] = (uint32_t)(fc == 32 ? xa : (uint32_t)((cat << fc) >> 32));
    o[24] = x / (y | 1u);
    o[25] = x % (y | 1u);
    o[26] = (uint64_t)(sx / sd);
    o[27] = (uint64_t)(sx % sd);
    o[28] = (uint32_t)(sxa / sd32);
    o[29] = xa % (ya | 1u);
    o[30] = (uint64_t)(sx < sy ? sx : sy);
    o[31] = xa > ya ? xa : ya;
    o[32] = (uint16_t)((uint32_t)hx * hy);
    o[33] = (uint16_t)asr64((int16_t)hx, 3);
    o[34] = (uint8_t)(bx + by);
    o[35] = (uint32_t)(((uint64_t)xa + ya) >> 1);
    o[36] = (uint32_t)asr64((int64_t)sxa + sya + 1, 1);
    o[37] = x * y;
    o[38] = (x + y) ^ (x - y);
    o[39] = (x << sh64) | (x >> ((64u - sh64) & 63u));
}

int check_int_ops(kc *k) {
    int n = 2048;
    uint64_t *a = kc_host(k, 8 * (size_t)n), *b = kc_host(k, 8 * (size_t)n);
    uint64_t *got = kc_host(k, 8 * INT_OPS_N * (size_t)n), *want = kc_host(k, 8 * INT_OPS_N * (size_t)n);
    static const uint64_t edge[] = {0,
                                    1,
                                    ~0ull,
                                    0x8000000000000000ull,
                                    0x7fffffffffffffffull,
                                    0x80000000ull,
                                    0xffffffffull,
                                    0x00000000ffff0000ull};
    const int ne = (int)(sizeof edge / sizeof edge[0]);
    for (int i = 0; i < n; ++i) {
        if (i < ne * ne) {
            a[i] = edge[i / ne];
            b[i] = edge[i % ne];
        } else {
            a[i] = kc_rand(k);
            b[i] = kc_rand(k);
            if (i % 7 == 0) b[i] >>= (i % 61); /* small divisors and shift counts too */
        }
        int_ref(a[i], b[i], want + (size_t)i * INT_OPS_N);
    }
    CUdeviceptr da, db, dout;
    KC_CU(k, kc_dup(k, &da, a, 8 * (size_t)n));
    KC_CU(k, kc_dup(k, &db, b, 8 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, 8 * INT_OPS_N * (size_t)n));
    void *args[] = {&da, &db, &dout, &n};
    KC_TRY(kc_run1d(k, "int_ops", ((unsigned)n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 8 * INT_OPS_N * (size_t)n));
    for (int i = 0; i < n; ++i)
        for (int op = 0; op < INT_OPS_N; ++op) {
            size_t at = (size_t)i * INT_OPS_N + (size_t)op;
            if (got[at] != want[at])
                return kc_fail(k, "op %d, element %d (a=0x%016llx b=0x%016llx): got 0x%016llx want 0x%016llx",
                               op, i, (unsigned long long)a[i], (unsigned long long)b[i],
                               (unsigned long long)got[at], (unsigned long long)want[at]);
        }
    return KC_PASS;
}
