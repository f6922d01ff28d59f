/* SPDX-License-Identifier: Apache-2.0
 * Checkers for wide_int (128-bit arithmetic and PTX-only integer instructions; the host mirrors
 * the PTX ISA's definitions) and indirect_calls (function pointers and a dense switch). */
#include "kcheck.h"

#define WI_N 24

__extension__ typedef unsigned __int128 u128;

static uint32_t bfe32(uint32_t a, uint32_t pos, uint32_t len, int is_signed) {
    uint32_t top = pos + len - 1 < 31 ? pos + len - 1 : 31;
    uint32_t sbit = is_signed ? (a >> top) & 1u : 0u, d = 0;
    for (uint32_t i = 0; i < 32; ++i) {
        uint32_t bit = (i < len && pos + i <= 31) ? (a >> (pos + i)) & 1u : sbit;
        d |= bit << i;
    }
    return d;
}

static uint32_t bfi32(uint32_t a, uint32_t b, uint32_t pos, uint32_t len) {
    uint32_t f = b;
    for (uint32_t i = 0; i < len && pos + i <= 31; ++i)
        f = (f & ~(1u << (pos + i))) | (((a >> i) & 1u) << (pos + i));
    return f;
}

static uint32_t lop3(uint32_t a, uint32_t b, uint32_t c, uint32_t lut) {
    uint32_t d = 0;
    for (uint32_t i = 0; i < 32; ++i) {
        uint32_t idx = (((a >> i) & 1u) << 2) | (((b >> i) & 1u) << 1) | ((c >> i) & 1u);
        d |= ((lut >> idx) & 1u) << i;
    }
    return d;
}

static uint32_t prmt_mode(uint32_t a, uint32_t b, uint32_t c, int ecr) {
    uint64_t src = ((uint64_t)b << 32) | a;
    uint32_t nsel = c & 3u, d = 0;
    for (uint32_t kk = 0; kk < 4; ++kk) {
        uint32_t sel = ecr ? (kk < nsel ? kk : nsel) : nsel + kk; /* ecr: min(k, n); f4e: n + k */
        d |= (uint32_t)((src >> (8 * sel)) & 0xffu) << (8 * kk);
    }
    return d;
}

static void wide_ref(uint64_t x, uint64_t y, uint32_t lane, uint64_t *o) {
    uint32_t xa = (uint32_t)x, xb = (uint32_t)(x >> 32), ya = (uint32_t)y, yb = (uint32_t)(y >> 32);
    u128 p = (u128)x * y;
    u128 s = p + (((u128)y << 64) | x);
    uint32_t sh = (uint32_t)(y >> 57);
    o[0] = (uint64_t)p;
    o[1] = (uint64_t)(p >> 64);
    o[2] = (uint64_t)s;
    o[3] = (uint64_t)(s >> 64);
    o[4] = (uint64_t)(s >> sh);
    o[5] = (uint64_t)((s << sh) >> 64);
    o[6] = s > p;
    uint64_t t0 = (uint64_t)xa + ya, t1 = (uint64_t)xb + yb + (t0 >> 32), t2 = (uint64_t)ya + xa + (t1 >> 32);
    o[7] = ((t1 & 0xffffffffu) << 32) | (t0 & 0xffffffffu);
    o[8] = (uint32_t)t2;
    uint32_t b0 = xa < ya, r0 = xa - ya;
    uint32_t r1 = xb - yb - b0, b1 = (uint64_t)xb < (uint64_t)yb + b0;
    uint32_t r2 = ya - xa - b1;
    o[9] = ((uint64_t)r1 << 32) | r0;
    o[10] = r2;
    uint64_t prod = (uint64_t)xa * ya;
    uint64_t lo = (prod & 0xffffffffu) + xb;
    uint32_t hi = (uint32_t)(prod >> 32) + yb + (uint32_t)(lo >> 32);
    o[11] = ((uint64_t)hi << 32) | (uint32_t)lo;
    uint32_t pos = ya & 31u, len = 1u + ((ya >> 8) & 0xffu) % 31u;
    o[12] = bfe32(xa, pos, len, 0);
    o[13] = bfe32(xa, pos, len, 1);
    o[14] = bfi32(xb, yb, pos, len);
    o[15] = lop3(xa, ya, xb, 0xe8);
    o[16] = lop3(xa, ya, xb, 0x96);
    o[17] = prmt_mode(xa, ya, yb, 0);
    o[18] = prmt_mode(xa, ya, yb, 1);
    int32_t dp = (int32_t)xb;
    for (int kk = 0; kk < 4; ++kk)
        dp = (int32_t)((uint32_t)dp +
                       (uint32_t)((int32_t)(int8_t)(xa >> (8 * kk)) * (int32_t)(int8_t)(ya >> (8 * kk))));
    o[19] = (uint32_t)dp;
    o[20] = xb + (xa & 0xffffu) * (ya & 0xffu) + (xa >> 16) * ((ya >> 8) & 0xffu);
    uint32_t fsh = yb >> 26;
    o[21] = fsh >= 32 ? ya : (uint32_t)((((uint64_t)ya << 32) | xa) >> fsh);
    uint32_t bv = xa >> (yb & 31u), msb = 0xffffffffu;
    for (uint32_t i = 0; i < 32; ++i)
        if ((bv >> i) & 1u) msb = i;
    o[22] = msb;
    o[23] = ((uint64_t)lane << 32) | ((1u << lane) - 1u);
}

int check_wide_int(kc *k) {
    int n = 2048;
    uint64_t *a = kc_host(k, 8 * (size_t)n), *b = kc_host(k, 8 * (size_t)n);
    uint64_t *got = kc_host(k, 8 * WI_N * (size_t)n), *want = kc_host(k, 8 * WI_N * (size_t)n);
    static const uint64_t edge[] = {
        0, 1, ~0ull, 0xffffffffull, 0x8000000000000000ull, 0x00000000ffffffffull << 16};
    const int ne = (int)(sizeof edge / sizeof edge[0]);
    for (int i = 0; i < n; ++i) {
        a[i] = i < ne * ne ? edge[i / ne] : kc_rand(k);
        b[i] = i < ne * ne ? edge[i % ne] : kc_rand(k);
        wide_ref(a[i], b[i], (uint32_t)i & 31u, want + (size_t)i * WI_N);
    }
    CUdeviceptr da, db, dout;
    KC_CU(k, kc_dup(k, &da, a, 8 * (size_t)n));
    KC_CU(k, kc_dup(k, &db, b, 8 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, 8 * WI_N * (size_t)n));
    void *args[] = {&da, &db, &dout, &n};
    KC_TRY(kc_run1d(k, "wide_int", ((unsigned)n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 8 * WI_N * (size_t)n));
    static const char *const what[WI_N] = {
        "u128 mul lo",     "u128 mul hi",     "u128 add lo",     "u128 add hi",
        "u128 shr",        "u128 shl",        "u128 compare",    "add.cc chain lo",
        "add.cc chain hi", "sub.cc chain lo", "sub.cc chain hi", "mad.lo.cc/madc.hi",
        "bfe.u32",         "bfe.s32",         "bfi.b32",         "lop3 0xe8",
        "lop3 0x96",       "prmt.f4e",        "prmt.ecr",        "dp4a",
        "dp2a.lo",         "shf.r.clamp",     "bfind.u32",       "%laneid/%lanemask_lt"};
    kc_opfails fails = {0};
    for (int i = 0; i < n; ++i)
        for (int q = 0; q < WI_N; ++q) {
            size_t at = (size_t)i * WI_N + (size_t)q;
            if (got[at] != want[at])
                kc_opfail(&fails, q, "%s (a=0x%016llx b=0x%016llx): got 0x%llx want 0x%llx", what[q],
                          (unsigned long long)a[i], (unsigned long long)b[i], (unsigned long long)got[at],
                          (unsigned long long)want[at]);
        }
    return kc_opfail_finish(k, &fails);
}

static uint32_t op_add(uint32_t a, uint32_t b) { return a + b; }
static uint32_t op_xor(uint32_t a, uint32_t b) { return a ^ (b << 3); }
static uint32_t op_rot(uint32_t a, uint32_t b) { return (a << (b & 31u)) | (a >> ((32u - (b & 31u)) & 31u)); }
static uint32_t op_mulhi(uint32_t a, uint32_t b) { return (uint32_t)(((uint64_t)a * b) >> 32) + 1u; }

static uint32_t switch_ref(uint32_t x, uint32_t y) {
    switch ((x >> 4) & 15u) {
    case 0:
        return x + 1u;
    case 1:
        return y * 3u;
    case 2:
        return x ^ y;
    case 3:
        return x - y;
    case 4:
        return x * y;
    case 5:
        return x | 0x80000000u;
    case 6:
        return y >> 3;
    case 7:
        return ~x;
    case 8:
        return x + y + 7u;
    case 9:
        return (x & 0xffffu) * 9u;
    case 10:
        return y - 11u;
    case 11:
        return x << 2;
    case 12:
        return x > y ? x : y;
    case 13:
        return 13u;
    case 14:
        return x % 14u;
    default:
        return y / 15u;
    }
}

int check_indirect_calls(kc *k) {
    typedef uint32_t (*binop)(uint32_t, uint32_t);
    static const binop ops[4] = {op_add, op_xor, op_rot, op_mulhi};
    int n = 3000;
    uint32_t *a = kc_host(k, 4 * (size_t)n), *b = kc_host(k, 4 * (size_t)n);
    uint32_t *got = kc_host(k, 8 * (size_t)n), *want = kc_host(k, 8 * (size_t)n);
    for (int i = 0; i < n; ++i) {
        a[i] = kc_rand32(k);
        b[i] = kc_rand32(k);
        uint32_t r = ops[a[i] & 3u](a[i], b[i]);
        r ^= ((b[i] & 1u) ? op_mulhi : op_add)(r, b[i]);
        want[2 * i] = r;
        want[2 * i + 1] = switch_ref(a[i], b[i]);
    }
    CUdeviceptr da, db, dout;
    KC_CU(k, kc_dup(k, &da, a, 4 * (size_t)n));
    KC_CU(k, kc_dup(k, &db, b, 4 * (size_t)n));
    KC_CU(k, kc_dalloc(k, &dout, 8 * (size_t)n));
    void *args[] = {&da, &db, &dout, &n};
    KC_TRY(kc_run1d(k, "indirect_calls", ((unsigned)n + 127) / 128, 128, 0, args));
    KC_CU(k, cuMemcpyDtoH(got, dout, 8 * (size_t)n));
    return kc_cmp_u32(k, "function-pointer result / switch result", got, want, 2 * (size_t)n);
}
