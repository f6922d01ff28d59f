/* ref.c — the host reference of the differential tester: runs a generated program for every thread
 * of every block with the PTX ISA's semantics, written independently of cudaemu:
 *  - integers: exact wrap-around in uint64_t/__int128, shifts clamped to the width, the ISA's
 *    pseudo-code for bfe/bfi/bfind/prmt/shf/dp4a;
 *  - f32 round-to-nearest through double (exact for + - * / sqrt, double has > 2*24+2 bits),
 *    fma through fmaf; directed roundings through a wider format in the same host rounding mode
 *    (double for f32, long double for f64: directed rounding twice in one direction is exact);
 *  - int -> float roundings with integer arithmetic; float -> int with rint/floor/ceil/trunc and
 *    explicit saturation;
 *  - .ftz flushes subnormal f32 inputs and results to a zero of the same sign; .sat clamps to
 *    [0, 1] with NaN -> +0.
 * Threads of a block run statement by statement: barriers, warp operations and uniform loops are
 * taken block-wide, everything else thread by thread (the generator keeps shared memory race-free:
 * between two barriers a thread writes only its own slots of one buffer and reads only the other). */
#include "difftest.h"

#include <fenv.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct th {
    uint32_t r[NR];
    uint64_t q[NQ];
    uint8_t p[NP];
    int cc;
} th;

typedef struct rctx {
    const prog *p;
    th *t;        /* nt threads */
    uint32_t *sh; /* 3 * nt * SLOTS words: A, B, X */
    int phase;
} rctx;

/* ---- values ---- */
static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float bfloat(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint64_t dbits(double f) {
    uint64_t u;
    memcpy(&u, &f, 8);
    return u;
}
static double bdouble(uint64_t u) {
    double f;
    memcpy(&f, &u, 8);
    return f;
}

static uint64_t mask(int w) { return w == 64 ? ~0ull : (1ull << w) - 1; }
static int64_t sx(uint64_t v, int w) { return w == 64 ? (int64_t)v : (int64_t)(v << (64 - w)) >> (64 - w); }

static uint64_t rd(const th *t, const opnd *o) {
    switch (o->cls) {
    case RC_32:
        return t->r[o->idx];
    case RC_64:
        return t->q[o->idx];
    case RC_P:
        return (uint64_t)(t->p[o->idx] ^ o->neg);
    case RC_IMM:
        return o->imm;
    default:
        return 0;
    }
}
static void wr(th *t, const opnd *o, uint64_t v) {
    switch (o->cls) {
    case RC_32:
        t->r[o->idx] = (uint32_t)v;
        break;
    case RC_64:
        t->q[o->idx] = v;
        break;
    case RC_P:
        t->p[o->idx] = (uint8_t)(v & 1);
        break;
    default:
        break;
    }
}

/* ---- floats ---- */
static uint32_t ftz32(uint32_t u) { return (u & 0x7f800000u) == 0 ? u & 0x80000000u : u; }
static int isnan32(uint32_t u) { return (u & 0x7fffffffu) > 0x7f800000u; }
static int isnan64(uint64_t u) { return (u & 0x7fffffffffffffffull) > 0x7ff0000000000000ull; }
static uint32_t sat32(uint32_t u) {
    if (isnan32(u)) return 0;
    float f = bfloat(u);
    return f <= 0.0f ? 0 : f >= 1.0f ? 0x3f800000u : u; /* -0 -> +0 */
}
static uint64_t sat64(uint64_t u) {
    if (isnan64(u)) return 0;
    double f = bdouble(u);
    return f <= 0.0 ? 0 : f >= 1.0 ? 0x3ff0000000000000ull : u;
}
static int fe_mode(int rnd) {
    switch (rnd) {
    case RN_RZ:
        return FE_TOWARDZERO;
    case RN_RM:
        return FE_DOWNWARD;
    case RN_RP:
        return FE_UPWARD;
    default:
        return FE_TONEAREST;
    }
}

/* f32 arithmetic: op 0 add 1 sub 2 mul 3 fma 4 div 5 sqrt 6 rcp */
static uint32_t f32_arith(int op, int rnd, uint32_t ua, uint32_t ub, uint32_t uc) {
    float r;
    if (rnd == RN_RN && op == 3) {
        r = fmaf(bfloat(ua), bfloat(ub), bfloat(uc));
        return fbits(r);
    }
    int old = fegetround();
    fesetround(fe_mode(rnd));
    volatile double a = bfloat(ua), b = bfloat(ub), c = bfloat(uc), x;
    switch (op) {
    case 0:
        x = a + b;
        break;
    case 1:
        x = a - b;
        break;
    case 2:
        x = a * b;
        break; /* exact */
    case 3:
        x = fma(a, b, c);
        break; /* a*b exact in double: one rounding */
    case 4:
        x = a / b;
        break;
    case 5:
        x = sqrt(a);
        break;
    default:
        x = 1.0 / a;
        break;
    }
    volatile float f = (float)x;
    r = f;
    fesetround(old);
    return fbits(r);
}
static uint64_t f64_arith(int op, int rnd, uint64_t ua, uint64_t ub, uint64_t uc) {
    double a = bdouble(ua), b = bdouble(ub), c = bdouble(uc), r;
    if (rnd == RN_RN) {
        switch (op) {
        case 0:
            r = a + b;
            break;
        case 1:
            r = a - b;
            break;
        case 2:
            r = a * b;
            break;
        case 3:
            r = fma(a, b, c);
            break;
        case 4:
            r = a / b;
            break;
        case 5:
            r = sqrt(a);
            break;
        default:
            r = 1.0 / a;
            break;
        }
        return dbits(r);
    }
    int old = fegetround();
    fesetround(fe_mode(rnd));
    volatile long double la = a, lb = b, lc = c, x;
    switch (op) {
    case 0:
        x = la + lb;
        break;
    case 1:
        x = la - lb;
        break;
    case 2:
        x = la * lb;
        break;
    case 3:
        x = fmal(la, lb, lc);
        break;
    case 4:
        x = la / lb;
        break;
    case 5:
        x = sqrtl(la);
        break;
    default:
        x = 1.0L / la;
        break;
    }
    volatile double d = (double)x;
    r = d;
    fesetround(old);
    return dbits(r);
}

/* exact integer -> float with a rounding mode; mbits = 24 (f32) or 53 (f64) */
static uint64_t int_to_float(uint64_t mag, int neg, int rnd, int is64) {
    int mb = is64 ? 53 : 24;
    if (mag == 0) return 0;
    int msb = 63 - __builtin_clzll(mag);
    uint64_t m = mag;
    int e = msb; /* value = m * 2^0, leading bit at msb */
    if (msb >= mb) {
        int sh = msb - mb + 1;
        uint64_t keep = mag >> sh, rem = mag & ((1ull << sh) - 1), half = 1ull << (sh - 1);
        int up;
        switch (rnd) {
        case RN_RZ:
            up = 0;
            break;
        case RN_RM:
            up = neg && rem;
            break;
        case RN_RP:
            up = !neg && rem;
            break;
        default:
            up = rem > half || (rem == half && (keep & 1));
            break;
        }
        keep += (uint64_t)up;
        if (keep >> mb) {
            keep >>= 1;
            sh++;
        }
        m = keep;
        e = mb - 1 + sh;
    } else {
        m = mag << (mb - 1 - msb);
    }
    /* m has its leading bit at mb-1, value = m * 2^(e - (mb-1)) */
    if (is64) {
        uint64_t u = ((uint64_t)(e + 1023) << 52) | (m & ((1ull << 52) - 1));
        return u | (neg ? 1ull << 63 : 0);
    }
    uint32_t u = ((uint32_t)(e + 127) << 23) | ((uint32_t)m & 0x7fffffu);
    return u | (neg ? 0x80000000u : 0);
}

/* rounds neg * mant * 2^e to a binary format with p significand bits (hidden bit included),
 * normal exponents emin..emax (bias emax) and ebits exponent bits; returns its bits */
static uint32_t round_small(int neg, uint64_t mant, int e, int rnd, int p, int emin, int emax, int ebits) {
    uint32_t sign = (uint32_t)neg << (ebits + p - 1);
    if (mant == 0) return sign;
    int msb = 63 - __builtin_clzll(mant);
    int E = msb + e;
    int q = (E < emin ? emin : E) - (p - 1); /* the result is k * 2^q */
    int sh = q - e;
    uint64_t k;
    int up;
    if (sh <= 0) {
        k = mant << -sh; /* exact (sh > -64 for the formats used) */
        up = 0;
    } else {
        uint64_t rem, half;
        int above_half, at_half;
        if (sh >= 64) {
            k = 0;
            rem = mant;
            above_half = sh == 64 && mant > (1ull << 63);
            at_half = sh == 64 && mant == (1ull << 63);
        } else {
            k = mant >> sh;
            rem = mant & ((1ull << sh) - 1);
            half = 1ull << (sh - 1);
            above_half = rem > half;
            at_half = rem == half;
        }
        switch (rnd) {
        case RN_RZ:
            up = 0;
            break;
        case RN_RM:
            up = neg && rem;
            break;
        case RN_RP:
            up = !neg && rem;
            break;
        default:
            up = above_half || (at_half && (k & 1));
            break;
        }
    }
    k += (uint64_t)up;
    if (k >> p) {
        k >>= 1;
        q++;
    }
    uint32_t emask = (1u << ebits) - 1, fbitsn = (uint32_t)p - 1;
    if (k < (1ull << (p - 1))) return sign | (uint32_t)k; /* subnormal (or zero) */
    int ex = q + (p - 1) + emax;
    if (ex >= (int)emask) { /* overflow */
        int inf = rnd == RN_RN || (rnd == RN_RM && neg) || (rnd == RN_RP && !neg);
        return sign | (inf ? emask << fbitsn : ((emask - 1) << fbitsn) | ((1u << fbitsn) - 1));
    }
    return sign | (uint32_t)ex << fbitsn | ((uint32_t)k & ((1u << fbitsn) - 1));
}

/* f16 / bf16 bits -> exact double */
static double small_to_double(uint32_t h, int bf) {
    if (bf) return bfloat(h << 16);
    uint32_t e = h >> 10 & 31, f = h & 0x3ff;
    double v = e == 0    ? ldexp((double)f, -24)
               : e == 31 ? (f ? NAN : INFINITY)
                         : ldexp((double)(1024 + f), (int)e - 25);
    return (h & 0x8000) ? -v : v;
}

static uint64_t toh_ref(const insn *in, uint64_t v) {
    int bf = in->ty == TBF16, p = bf ? 8 : 11, emin = bf ? -126 : -14, emax = bf ? 127 : 15, eb = bf ? 8 : 5;
    int st = in->ty2, neg;
    uint64_t mant;
    int e;
    uint32_t h;
    if (st == TF32 || st == TF64) {
        double x = st == TF32 ? (double)bfloat((uint32_t)v) : bdouble(v);
        if (x != x) return 0x7fffffffu;
        if (isinf(x)) return x < 0 ? 0xff800000u : 0x7f800000u;
        neg = signbit(x) != 0;
        int ex;
        double fr = frexp(fabs(x), &ex); /* fabs(x) = fr * 2^ex, fr in [0.5, 1) */
        mant = (uint64_t)ldexp(fr, 53);
        e = ex - 53;
        h = round_small(neg, mant, e, in->mod, p, emin, emax, eb);
    } else {
        int w = ty_bits(st);
        uint64_t raw = v & mask(w);
        neg = ty_signed(st) && sx(raw, w) < 0;
        mant = neg ? (uint64_t)0 - (uint64_t)sx(raw, w) : raw;
        h = round_small(neg, mant, 0, in->mod, p, emin, emax, eb);
    }
    return fbits((float)small_to_double(h, bf)); /* back to f32: exact */
}

static uint64_t cvt_ref(const insn *in, uint64_t v);
static uint64_t fromh_ref(const insn *in, uint64_t v) {
    double x = small_to_double((uint32_t)v & 0xffff, in->ty2 == TBF16);
    if (in->ty == TF32) return x != x ? 0x7fffffffu : fbits((float)x);
    if (in->ty == TF64) return dbits(x);
    insn c = *in; /* to an integer: as from the exactly equal f64 */
    c.ty2 = TF64;
    c.fl = 0;
    return cvt_ref(&c, dbits(x));
}

/* f16/bf16 arithmetic: computed in double rounded to odd (truncate, set the last bit when
 * inexact), which rounds once more to 11 or 8 bits exactly as the exact result would */
static uint64_t harith_ref(const insn *in, uint64_t ua, uint64_t ub, uint64_t uc) {
    int bf = in->ty == TBF16, op = in->mod2;
    int p = bf ? 8 : 11, emin = bf ? -126 : -14, emax = bf ? 127 : 15, eb = bf ? 8 : 5;
    uint32_t h[3] = {(uint32_t)ua & 0xffff, (uint32_t)ub & 0xffff, (uint32_t)uc & 0xffff};
    uint32_t sbit = 0x8000u;
    if (in->fl & FL_FTZ)
        for (int k = 0; k < 3; k++)
            if (!(h[k] & 0x7c00u)) h[k] &= sbit;
    double a = small_to_double(h[0], bf), b = small_to_double(h[1], bf), c = small_to_double(h[2], bf), x;
    uint32_t res;
    if (op == I_FNEG || op == I_FABS) {
        res = op == I_FNEG ? h[0] ^ sbit : h[0] & 0x7fffu;
        double v = small_to_double(res, bf);
        return v != v ? 0x7fffffffu : fbits((float)v);
    }
    if (op == I_FMIN || op == I_FMAX) {
        if (a != a && b != b) return 0x7fffffffu;
        x = a != a ? b : b != b ? a : op == I_FMIN ? (a < b ? a : b) : (a > b ? a : b);
        return fbits((float)x + 0.0f);
    }
    int old = fegetround();
    feclearexcept(FE_INEXACT);
    fesetround(FE_TOWARDZERO);
    volatile double va = a, vb = b, vc = c, vx;
    switch (op) {
    case I_FADD:
        vx = va + vb;
        break;
    case I_FSUB:
        vx = va - vb;
        break;
    case I_FMUL:
        vx = va * vb;
        break;
    default:
        vx = fma(va, vb, vc);
        break;
    }
    x = vx;
    int inexact = fetestexcept(FE_INEXACT) != 0;
    fesetround(old);
    if (x != x) return (in->fl & FL_SAT) ? 0 : 0x7fffffffu;
    if (isinf(x))
        res = (x < 0 ? sbit : 0) | (bf ? 0x7f80u : 0x7c00u);
    else {
        int neg = signbit(x) != 0, ex;
        double fr = frexp(fabs(x), &ex);
        uint64_t mant = (uint64_t)ldexp(fr, 53);
        if (inexact) mant |= 1; /* round to odd */
        res = round_small(neg, mant, ex - 53, RN_RN, p, emin, emax, eb);
    }
    if ((in->fl & FL_FTZ) && !(res & 0x7c00u)) res &= sbit;
    double v = small_to_double(res, bf);
    if (in->fl & FL_SAT) v = v != v ? 0.0 : v <= 0 ? 0.0 : v > 1 ? 1.0 : v; /* -0 -> +0: the emitted add */
    return v != v ? 0x7fffffffu : fbits((float)v);
}

static int icmp(int cmp, int t, uint64_t a, uint64_t b);
/* u16/s16 operations; the result is zero-extended by the emitted cvt.u32.u16 (mul.wide: 32 bits) */
static uint64_t i16_ref(const insn *in, uint64_t ua, uint64_t ub, uint64_t uc) {
    int s = in->ty == TS16;
    uint32_t a = (uint32_t)ua & 0xffff, b = (uint32_t)ub & 0xffff, c = (uint32_t)uc & 0xffff, r;
    int32_t sa = (int16_t)a, sb = (int16_t)b;
    switch (in->mod2) {
    case I_ADD:
        r = a + b;
        break;
    case I_SUB:
        r = a - b;
        break;
    case I_MUL:
        if (in->fl & FL_WIDE) return s ? (uint32_t)(sa * sb) : a * b;
        r = in->fl & FL_HI ? (s ? (uint32_t)(sa * sb) >> 16 : (a * b) >> 16) : a * b;
        break;
    case I_MAD:
        r = a * b + c;
        break;
    case I_DIV:
    case I_REM: {
        if (b == 0 || (s && b == 0xffff)) b = 7, sb = 7;
        if (s)
            r = (uint32_t)(in->mod2 == I_DIV ? sa / sb : sa % sb);
        else
            r = in->mod2 == I_DIV ? a / b : a % b;
        break;
    }
    case I_MIN:
        r = s ? (uint32_t)(sa < sb ? sa : sb) : (a < b ? a : b);
        break;
    case I_MAX:
        r = s ? (uint32_t)(sa > sb ? sa : sb) : (a > b ? a : b);
        break;
    case I_SHL:
        r = (uint32_t)ub >= 16 ? 0 : a << (uint32_t)ub;
        break;
    case I_SHR:
        if (s)
            r = (uint32_t)(sa >> ((uint32_t)ub >= 16 ? 15 : (uint32_t)ub));
        else
            r = (uint32_t)ub >= 16 ? 0 : a >> (uint32_t)ub;
        break;
    case I_NEG:
        r = 0u - a;
        break;
    case I_ABS:
        r = (uint32_t)(sa < 0 ? -sa : sa);
        break;
    case I_NOT:
        r = ~a;
        break;
    case I_CNOT:
        r = a == 0;
        break;
    case I_AND:
        r = a & b;
        break;
    case I_OR:
        r = a | b;
        break;
    case I_XOR:
        r = a ^ b;
        break;
    default: { /* setp */
        return (uint64_t)icmp(in->mod, in->ty, a, b);
    }
    }
    return r & 0xffff;
}

static double round_mode_int(double x, int rnd) {
    switch (rnd) {
    case RN_RZI:
        return trunc(x);
    case RN_RMI:
        return floor(x);
    case RN_RPI:
        return ceil(x);
    default:
        return rint(x); /* the host runs in round-to-nearest-even here */
    }
}

static uint64_t cvt_ref(const insn *in, uint64_t v) {
    int dt = in->ty, st = in->ty2, sat = (in->fl & FL_SAT) != 0, ftz = (in->fl & FL_FTZ) != 0;
    int dw = ty_bits(dt), sw = ty_bits(st);
    int dflt = dt == TF32 || dt == TF64, sflt = st == TF32 || st == TF64;
    uint64_t res;
    if (!dflt) {
        int64_t lo = ty_signed(dt) ? (int64_t)(0 - (1ull << (dw - 1))) : 0; /* INT_MIN of the width */
        uint64_t hi = ty_signed(dt) ? (1ull << (dw - 1)) - 1 : mask(dw);
        if (sflt) {
            double x;
            if (st == TF32) {
                uint32_t u = (uint32_t)v;
                if (ftz) u = ftz32(u);
                if (isnan32(u)) return 0;
                x = bfloat(u);
            } else {
                if (isnan64(v)) return 0;
                x = bdouble(v);
            }
            x = round_mode_int(x, in->mod);
            if (x <= (double)lo)
                res = (uint64_t)lo;
            else if (x >= (double)hi)
                res = hi; /* (double)hi rounds up for 64-bit: >= catches 2^63, 2^64 */
            else if (x < 0)
                res = (uint64_t)(int64_t)x;
            else
                res = (uint64_t)x;
        } else {
            int ss = ty_signed(st);
            uint64_t raw = v & mask(sw);
            int neg = ss && sx(raw, sw) < 0;
            if (!sat)
                res = ss ? (uint64_t)sx(raw, sw) : raw;
            else if (neg) {
                int64_t s = sx(raw, sw);
                res = s < lo ? (uint64_t)lo : (uint64_t)s;
            } else {
                res = raw > hi ? hi : raw;
            }
        }
        /* a narrow result is extended to the register by the destination type */
        res &= mask(dw);
        if (ty_signed(dt)) res = (uint64_t)sx(res, dw);
        return res;
    }
    if (!sflt) {
        int ss = ty_signed(st);
        uint64_t raw = v & mask(sw);
        int neg = ss && sx(raw, sw) < 0;
        uint64_t mag = neg ? (uint64_t)0 - (uint64_t)sx(raw, sw) : raw;
        res = int_to_float(mag, neg, in->mod, dt == TF64);
    } else if (dt == st) {
        if (dt == TF32) {
            uint32_t u = (uint32_t)v;
            if (ftz) u = ftz32(u);
            res = isnan32(u) || in->mod == RN_NONE ? u : fbits((float)round_mode_int(bfloat(u), in->mod));
            if (!isnan32(u) && bfloat(u) == 0) res = u;
            if (ftz) res = ftz32((uint32_t)res);
        } else {
            res = isnan64(v) || in->mod == RN_NONE ? v : dbits(round_mode_int(bdouble(v), in->mod));
            if (!isnan64(v) && bdouble(v) == 0) res = v;
        }
    } else if (dt == TF64) {
        uint32_t u = (uint32_t)v;
        if (ftz) u = ftz32(u);
        res = dbits((double)bfloat(u));
    } else {
        int old = fegetround();
        fesetround(fe_mode(in->mod));
        volatile double x = bdouble(v);
        volatile float f = (float)x;
        res = fbits(f);
        fesetround(old);
        if (ftz) res = ftz32((uint32_t)res);
    }
    if (sat) res = dt == TF32 ? sat32((uint32_t)res) : sat64(res);
    return res; /* sat32/sat64 give +0 for -0: the emitted add.rn +0.0 */
}

static int fcmp(int cmp, double a, double b) {
    int un = a != a || b != b;
    switch (cmp) {
    case CMP_EQ:
        return !un && a == b;
    case CMP_NE:
        return !un && a != b;
    case CMP_LT:
        return !un && a < b;
    case CMP_LE:
        return !un && a <= b;
    case CMP_GT:
        return !un && a > b;
    case CMP_GE:
        return !un && a >= b;
    case CMP_EQU:
        return un || a == b;
    case CMP_NEU:
        return un || a != b;
    case CMP_LTU:
        return un || a < b;
    case CMP_LEU:
        return un || a <= b;
    case CMP_GTU:
        return un || a > b;
    case CMP_GEU:
        return un || a >= b;
    case CMP_NUM:
        return !un;
    default:
        return un;
    }
}
static int icmp(int cmp, int t, uint64_t a, uint64_t b) {
    int w = ty_bits(t);
    uint64_t ua = a & mask(w), ub = b & mask(w);
    int64_t sa = sx(ua, w), sb = sx(ub, w);
    int s = ty_signed(t);
    switch (cmp) {
    case CMP_EQ:
        return ua == ub;
    case CMP_NE:
        return ua != ub;
    case CMP_LT:
        return s ? sa < sb : ua < ub;
    case CMP_LE:
        return s ? sa <= sb : ua <= ub;
    case CMP_GT:
        return s ? sa > sb : ua > ub;
    case CMP_GE:
        return s ? sa >= sb : ua >= ub;
    case CMP_LO:
        return ua < ub;
    case CMP_LS:
        return ua <= ub;
    case CMP_HI:
        return ua > ub;
    default:
        return ua >= ub;
    }
}
static int do_cmp(const insn *in, uint64_t a, uint64_t b) {
    int t = in->ty2;
    if (t == TF32) {
        uint32_t ua = (uint32_t)a, ub = (uint32_t)b;
        if (in->fl & FL_FTZ) ua = ftz32(ua), ub = ftz32(ub);
        return fcmp(in->mod, bfloat(ua), bfloat(ub));
    }
    if (t == TF64) return fcmp(in->mod, bdouble(a), bdouble(b));
    return icmp(in->mod, t, a, b);
}

static uint64_t fminmax(const insn *in, uint64_t a, uint64_t b) {
    int is64 = in->ty == TF64, mx = in->op == I_FMAX;
    if (!is64) {
        uint32_t ua = (uint32_t)a, ub = (uint32_t)b;
        if (in->fl & FL_XSA) { /* the emitted code makes NaN operands 0x7fffffff first */
            if (isnan32(ua)) ua = 0x7fffffffu;
            if (isnan32(ub)) ub = 0x7fffffffu;
        }
        if (in->fl & FL_FTZ) ua = ftz32(ua), ub = ftz32(ub);
        uint32_t xs = (ua ^ ub) & 0x80000000u;
        if (in->fl & FL_XSA) ua &= 0x7fffffffu, ub &= 0x7fffffffu;
        uint32_t r;
        int na = isnan32(ua), nb = isnan32(ub);
        if (na && nb)
            r = 0x7fffffffu;
        else if ((in->fl & FL_NAN) && (na || nb))
            r = 0x7fffffffu;
        else if (na)
            r = ub;
        else if (nb)
            r = ua;
        else {
            float fa = bfloat(ua), fb = bfloat(ub);
            r = mx ? (fa > fb ? ua : ub) : (fa < fb ? ua : ub);
        }
        if ((in->fl & FL_XSA) && !isnan32(r)) r = (r & 0x7fffffffu) | xs;
        if ((r & 0x7fffffffu) == 0) r = 0; /* the emitted add.rn +0.0 */
        return r;
    }
    int na = isnan64(a), nb = isnan64(b);
    uint64_t r;
    if (na && nb)
        r = 0x7fffffffffffffffull;
    else if (na)
        r = b;
    else if (nb)
        r = a;
    else {
        double fa = bdouble(a), fb = bdouble(b);
        r = mx ? (fa > fb ? a : b) : (fa < fb ? a : b);
    }
    if ((r & 0x7fffffffffffffffull) == 0) r = 0;
    return r;
}

static uint64_t bitrev(uint64_t v, int w) {
    uint64_t r = 0;
    for (int i = 0; i < w; i++)
        r |= ((v >> i) & 1) << (w - 1 - i);
    return r;
}

/* one instruction of one thread (not warp ops) */
static void exec_insn(rctx *c, th *t, int tid, const insn *in) {
    if (in->guard >= 0 && !(t->p[in->guard] ^ in->gneg)) return;
    int ty = in->ty, w = ty_bits(ty), s = ty_signed(ty);
    uint64_t m = mask(w);
    uint64_t a = rd(t, &in->a), b = rd(t, &in->b), cc = rd(t, &in->c), e = rd(t, &in->e);
    uint64_t r = 0;
    switch (in->op) {
    case I_MOV:
        r = a;
        break;
    case I_ADD:
    case I_SUB: {
        int sub = in->op == I_SUB;
        if (in->fl & FL_SAT) { /* s32 */
            int64_t x = sub ? (int64_t)(int32_t)a - (int32_t)b : (int64_t)(int32_t)a + (int32_t)b;
            r = (uint64_t)(x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : x);
            break;
        }
        unsigned __int128 x =
            sub ? (unsigned __int128)(a & m) - (b & m) : (unsigned __int128)(a & m) + (b & m);
        if (in->fl & FL_CC) t->cc = (int)((x >> w) & 1);
        r = (uint64_t)x;
        break;
    }
    case I_ADDC:
    case I_SUBC: {
        unsigned __int128 x = in->op == I_SUBC ? (unsigned __int128)(a & m) - (b & m) - (unsigned)t->cc
                                               : (unsigned __int128)(a & m) + (b & m) + (unsigned)t->cc;
        if (in->fl & FL_CC) t->cc = (int)((x >> w) & 1);
        r = (uint64_t)x;
        break;
    }
    case I_MUL:
    case I_MAD: {
        /* exact: |signed product| <= 2^126, unsigned product < 2^128 */
        unsigned __int128 prod = s ? (unsigned __int128)((__int128)sx(a & m, w) * (__int128)sx(b & m, w))
                                   : (unsigned __int128)(a & m) * (b & m);
        if (in->fl & FL_WIDE) {
            r = (uint64_t)prod + (in->op == I_MAD ? cc : 0);
            wr(t, &in->d, r & mask(2 * w));
            return;
        }
        if (in->fl & FL_HI) {
            uint64_t hi = (uint64_t)(prod >> w);
            if (in->op == I_MAD && (in->fl & FL_SAT)) {
                int64_t x = (int64_t)(int32_t)(uint32_t)hi + (int32_t)(uint32_t)cc;
                r = (uint64_t)(x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : x);
                break;
            }
            r = hi + (in->op == I_MAD ? cc : 0);
        } else {
            r = (uint64_t)prod + (in->op == I_MAD ? cc : 0);
        }
        break;
    }
    case I_DIV:
    case I_REM: {
        uint64_t ub = b & m;
        if (ub == 0 || (s && ub == m)) ub = 7;
        if (s) {
            int64_t x = sx(a & m, w), y = sx(ub, w);
            r = (uint64_t)(in->op == I_DIV ? x / y : x % y);
        } else {
            r = in->op == I_DIV ? (a & m) / ub : (a & m) % ub;
        }
        break;
    }
    case I_MIN:
    case I_MAX: {
        int mx = in->op == I_MAX;
        if (s) {
            int64_t x = sx(a & m, w), y = sx(b & m, w), z = mx ? (x > y ? x : y) : (x < y ? x : y);
            if ((in->fl & FL_RELU) && z < 0) z = 0;
            r = (uint64_t)z;
        } else {
            r = mx ? ((a & m) > (b & m) ? a : b) : ((a & m) < (b & m) ? a : b);
        }
        break;
    }
    case I_AND:
        r = a & b;
        break;
    case I_OR:
        r = a | b;
        break;
    case I_XOR:
        r = a ^ b;
        break;
    case I_NOT:
        r = ~a;
        break;
    case I_CNOT:
        r = (a & m) == 0;
        break;
    case I_SHL: {
        uint32_t n = (uint32_t)b;
        r = n >= (uint32_t)w ? 0 : (a & m) << n;
        break;
    }
    case I_SHR: {
        uint32_t n = (uint32_t)b;
        if (s)
            r = (uint64_t)(sx(a & m, w) >> (n >= (uint32_t)w ? (uint32_t)w - 1 : n));
        else
            r = n >= (uint32_t)w ? 0 : (a & m) >> n;
        break;
    }
    case I_NEG:
        r = (uint64_t)0 - a;
        break;
    case I_ABS: {
        int64_t x = sx(a & m, w);
        r = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
        break;
    }
    case I_POPC:
        r = (uint64_t)__builtin_popcountll(a & m);
        wr(t, &in->d, r);
        return;
    case I_CLZ: {
        uint64_t v = a & m;
        r = v ? (uint64_t)(__builtin_clzll(v) - (64 - w)) : (uint64_t)w;
        wr(t, &in->d, r);
        return;
    }
    case I_BREV:
        r = bitrev(a & m, w);
        break;
    case I_BFIND: {
        uint64_t v = a & m;
        if (s && (v >> (w - 1) & 1)) v = ~v & m;
        uint32_t d = 0xffffffffu;
        for (int i = w - 1; i >= 0; i--)
            if (v >> i & 1) {
                d = (uint32_t)i;
                break;
            }
        if ((in->fl & FL_SHAMT) && d != 0xffffffffu) d = (uint32_t)(w - 1) - d;
        wr(t, &in->d, d);
        return;
    }
    case I_BFE: {
        uint32_t pos = (uint32_t)b & 0xff, len = (uint32_t)cc & 0xff, msb = (uint32_t)w - 1;
        uint64_t v = a & m;
        int sbit = 0;
        if (s && len) {
            uint32_t k = pos + len - 1 < msb ? pos + len - 1 : msb;
            sbit = (int)(v >> k & 1);
        }
        r = 0;
        for (uint32_t i = 0; i <= msb; i++) {
            int bit = (i < len && pos + i <= msb) ? (int)(v >> (pos + i) & 1) : sbit;
            r |= (uint64_t)bit << i;
        }
        break;
    }
    case I_BFI: {
        uint32_t pos = (uint32_t)cc & 0xff, len = (uint32_t)e & 0xff, msb = (uint32_t)w - 1;
        r = b & m;
        for (uint32_t i = 0; i < len && pos + i <= msb; i++)
            r = (r & ~(1ull << (pos + i))) | ((a >> i & 1) << (pos + i));
        break;
    }
    case I_PRMT: {
        uint64_t v = (uint64_t)(uint32_t)b << 32 | (uint32_t)a;
        uint32_t sel = (uint32_t)cc, x = 0;
        for (int k = 0; k < 4; k++) {
            uint32_t byte;
            if (in->mod == 0) {
                uint32_t q = sel >> (4 * k) & 0xf;
                byte = (uint32_t)(v >> (8 * (q & 7))) & 0xff;
                if (q & 8) byte = byte & 0x80 ? 0xff : 0;
            } else {
                uint32_t s2 = sel & 3, idx;
                switch (in->mod) {
                case 1:
                    idx = (s2 + (uint32_t)k) & 7;
                    break;
                case 2:
                    idx = (s2 - (uint32_t)k) & 7;
                    break;
                case 3:
                    idx = s2;
                    break;
                case 4:
                    idx = (uint32_t)k > s2 ? (uint32_t)k : s2;
                    break;
                case 5:
                    idx = (uint32_t)k < s2 ? (uint32_t)k : s2;
                    break;
                default:
                    idx = (sel & 1) * 2 + ((uint32_t)k & 1);
                    break;
                }
                byte = (uint32_t)(v >> (8 * idx)) & 0xff;
            }
            x |= byte << (8 * k);
        }
        r = x;
        break;
    }
    case I_LOP3: {
        uint32_t x = 0;
        for (int i = 0; i < 32; i++) {
            int k = (int)((a >> i & 1) << 2 | (b >> i & 1) << 1 | (cc >> i & 1));
            x |= (uint32_t)((e >> k) & 1) << i;
        }
        r = x;
        break;
    }
    case I_SHF: {
        uint32_t n = (uint32_t)cc;
        n = (in->fl & FL_CLAMP) ? (n > 32 ? 32 : n) : (n & 31);
        uint64_t v = (uint64_t)(uint32_t)b << 32 | (uint32_t)a;
        r = (in->fl & FL_LEFT) ? (uint32_t)((v << n) >> 32) : (uint32_t)(v >> n);
        break;
    }
    case I_SAD: {
        if (s) {
            int64_t x = (int32_t)a, y = (int32_t)b;
            r = (uint64_t)(x > y ? x - y : y - x) + cc;
        } else {
            uint64_t x = (uint32_t)a, y = (uint32_t)b;
            r = (x > y ? x - y : y - x) + cc;
        }
        break;
    }
    case I_MUL24:
    case I_MAD24: {
        int64_t p;
        if (s)
            p = (int64_t)sx(a & 0xffffff, 24) * sx(b & 0xffffff, 24);
        else
            p = (int64_t)((a & 0xffffff) * (b & 0xffffff));
        uint64_t x = (in->fl & FL_HI) ? (uint64_t)p >> 16 : (uint64_t)p;
        r = x + (in->op == I_MAD24 ? cc : 0);
        break;
    }
    case I_DP4A:
    case I_DP2A: {
        int sa = ty == TS32, sb = in->ty2 == TS32;
        int64_t acc = 0;
        if (in->op == I_DP4A) {
            for (int k = 0; k < 4; k++) {
                int64_t x = sa ? (int8_t)(a >> (8 * k)) : (int64_t)(a >> (8 * k) & 0xff);
                int64_t y = sb ? (int8_t)(b >> (8 * k)) : (int64_t)(b >> (8 * k) & 0xff);
                acc += x * y;
            }
        } else {
            int base = (in->fl & FL_HI) ? 2 : 0;
            for (int k = 0; k < 2; k++) {
                int64_t x = sa ? (int16_t)(a >> (16 * k)) : (int64_t)(a >> (16 * k) & 0xffff);
                int64_t y = sb ? (int8_t)(b >> (8 * (base + k))) : (int64_t)(b >> (8 * (base + k)) & 0xff);
                acc += x * y;
            }
        }
        r = (uint64_t)acc + cc;
        break;
    }
    case I_SETP: {
        int x = do_cmp(in, a, b), y = !x;
        if (in->mod2) {
            int pc = (int)cc;
            switch (in->mod2) {
            case BO_AND:
                x &= pc;
                y &= pc;
                break;
            case BO_OR:
                x |= pc;
                y |= pc;
                break;
            default:
                x ^= pc;
                y ^= pc;
                break;
            }
        }
        wr(t, &in->d, (uint64_t)x);
        if (in->d2.cls == RC_P) wr(t, &in->d2, (uint64_t)y);
        return;
    }
    case I_SET: {
        int x = do_cmp(in, a, b);
        r = ty == TF32 ? (x ? 0x3f800000u : 0) : (x ? 0xffffffffu : 0);
        break;
    }
    case I_SELP:
        r = cc ? a : b;
        break;
    case I_SLCT: {
        int ge;
        if (in->ty2 == TF32) {
            uint32_t u = (uint32_t)cc;
            if (in->fl & FL_FTZ) u = ftz32(u);
            ge = bfloat(u) >= 0.0f;
        } else {
            ge = (int32_t)cc >= 0;
        }
        r = ge ? a : b;
        break;
    }
    case I_TESTP: {
        int cls;
        if (ty == TF32)
            cls = fpclassify(bfloat((uint32_t)a));
        else
            cls = fpclassify(bdouble(a));
        int x;
        switch (in->mod) {
        case 0:
            x = cls != FP_INFINITE && cls != FP_NAN;
            break;
        case 1:
            x = cls == FP_INFINITE;
            break;
        case 2:
            x = cls != FP_NAN;
            break;
        case 3:
            x = cls == FP_NAN;
            break;
        case 4:
            x = cls == FP_NORMAL || cls == FP_ZERO;
            break; /* PTX counts +0 and -0 as normal */
        default:
            x = cls == FP_SUBNORMAL;
            break;
        }
        wr(t, &in->d, (uint64_t)x);
        return;
    }
    case I_PAND:
        r = a & b;
        break;
    case I_POR:
        r = a | b;
        break;
    case I_PXOR:
        r = a ^ b;
        break;
    case I_PNOT:
        r = !a;
        break;
    case I_CVT:
        r = cvt_ref(in, a);
        break;
    case I_TOH:
        r = toh_ref(in, a);
        break;
    case I_FROMH:
        r = fromh_ref(in, a);
        break;
    case I_HARITH:
        r = harith_ref(in, a, b, cc);
        break;
    case I_I16:
        r = i16_ref(in, a, b, cc);
        break;
    case I_FADD:
    case I_FSUB:
    case I_FMUL:
    case I_FFMA:
    case I_FDIV:
    case I_FSQRT:
    case I_FRCP: {
        int op = in->op - I_FADD;
        if (ty == TF32) {
            uint32_t ua = (uint32_t)a, ub = (uint32_t)b, uc = (uint32_t)cc;
            if (in->fl & FL_FTZ) ua = ftz32(ua), ub = ftz32(ub), uc = ftz32(uc);
            uint32_t x = f32_arith(op, in->mod, ua, ub, uc);
            if (in->fl & FL_FTZ) x = ftz32(x);
            if (in->fl & FL_SAT) x = sat32(x);
            r = x;
        } else {
            r = f64_arith(op, in->mod, a, b, cc);
        }
        break;
    }
    case I_FMIN:
    case I_FMAX:
        r = fminmax(in, a, b);
        break;
    case I_FABS:
    case I_FNEG:
        if (ty == TF32) {
            uint32_t u = (uint32_t)a;
            if (in->fl & FL_FTZ) u = ftz32(u);
            r = in->op == I_FABS ? u & 0x7fffffffu : u ^ 0x80000000u;
        } else {
            r = in->op == I_FABS ? a & 0x7fffffffffffffffull : a ^ 0x8000000000000000ull;
        }
        break;
    case I_STS: {
        uint32_t *buf = c->sh + (size_t)(c->phase & 1) * (size_t)c->p->nt * SLOTS;
        buf[(size_t)tid * SLOTS + in->mod] = (uint32_t)a;
        return;
    }
    case I_LDS: {
        size_t nts = (size_t)c->p->nt * SLOTS;
        uint32_t *buf = c->sh + (size_t)((c->phase & 1) ^ 1) * nts;
        r = buf[(uint32_t)a % nts];
        break;
    }
    default:
        return;
    }
    wr(t, &in->d, r);
}

static int is_warp_op(int op) { return op == I_SHFL || op == I_VOTE || op == I_REDUX || op == I_MATCH; }

static void warp_op(rctx *c, int w0, const insn *in) {
    th *T = c->t + w0;
    uint64_t a[32], res[32];
    int pr[32];
    for (int l = 0; l < 32; l++)
        a[l] = rd(&T[l], &in->a);
    switch (in->op) {
    case I_SHFL:
        for (int l = 0; l < 32; l++) {
            uint32_t bv = (uint32_t)rd(&T[l], &in->b) & 31, cv = (uint32_t)rd(&T[l], &in->c);
            uint32_t seg = cv >> 8 & 31, cl = cv & 31;
            int maxl = (int)(((uint32_t)l & seg) | (cl & ~seg)), minl = (int)((uint32_t)l & seg), j, ok;
            switch (in->mod) {
            case 0:
                j = l - (int)bv;
                ok = j >= maxl;
                break;
            case 1:
                j = l + (int)bv;
                ok = j <= maxl;
                break;
            case 2:
                j = l ^ (int)bv;
                ok = j <= maxl;
                break;
            default:
                j = minl | (int)(bv & ~seg);
                ok = j <= maxl;
                break;
            }
            if (!ok) j = l;
            res[l] = (uint32_t)a[j];
            pr[l] = ok;
        }
        for (int l = 0; l < 32; l++) {
            wr(&T[l], &in->d, res[l]);
            if (in->d2.cls == RC_P) wr(&T[l], &in->d2, (uint64_t)pr[l]);
        }
        return;
    case I_VOTE: {
        uint32_t ballot = 0;
        for (int l = 0; l < 32; l++)
            ballot |= (uint32_t)(a[l] & 1) << l;
        uint64_t v = in->mod == 0   ? ballot == 0xffffffffu
                     : in->mod == 1 ? ballot != 0
                     : in->mod == 2 ? (ballot == 0 || ballot == 0xffffffffu)
                                    : ballot;
        for (int l = 0; l < 32; l++)
            wr(&T[l], &in->d, v);
        return;
    }
    case I_REDUX: {
        uint32_t acc = (uint32_t)a[0];
        for (int l = 1; l < 32; l++) {
            uint32_t v = (uint32_t)a[l];
            switch (in->mod) {
            case 0:
                acc += v;
                break;
            case 1:
                acc = in->ty == TS32 ? ((int32_t)v < (int32_t)acc ? v : acc) : (v < acc ? v : acc);
                break;
            case 2:
                acc = in->ty == TS32 ? ((int32_t)v > (int32_t)acc ? v : acc) : (v > acc ? v : acc);
                break;
            case 3:
                acc &= v;
                break;
            case 4:
                acc |= v;
                break;
            default:
                acc ^= v;
                break;
            }
        }
        for (int l = 0; l < 32; l++)
            wr(&T[l], &in->d, acc);
        return;
    }
    default: { /* match */
        uint64_t m = in->ty == TB64 ? ~0ull : 0xffffffffull;
        int all = 1;
        for (int l = 0; l < 32; l++)
            if ((a[l] & m) != (a[0] & m)) all = 0;
        for (int l = 0; l < 32; l++) {
            uint32_t x = 0;
            if (in->mod == 0) {
                for (int j = 0; j < 32; j++)
                    if ((a[j] & m) == (a[l] & m)) x |= 1u << j;
            } else {
                x = all ? 0xffffffffu : 0;
            }
            wr(&T[l], &in->d, x);
            if (in->mod == 1 && in->d2.cls == RC_P) wr(&T[l], &in->d2, (uint64_t)all);
        }
        return;
    }
    }
}

/* thread-level statement; returns 1 when a break left the innermost loop */
static int exec_thread(rctx *c, th *t, int tid, const stmt *s);
static int exec_thread_block(rctx *c, th *t, int tid, const block *b) {
    for (int i = 0; i < b->n; i++)
        if (exec_thread(c, t, tid, &b->s[i])) return 1;
    return 0;
}
static int exec_thread(rctx *c, th *t, int tid, const stmt *s) {
    switch (s->kind) {
    case S_INSN:
        exec_insn(c, t, tid, &s->in);
        return 0;
    case S_IF:
        if (t->p[s->pred] ^ s->pneg) return exec_thread_block(c, t, tid, &s->body);
        return exec_thread_block(c, t, tid, &s->els);
    case S_LOOP:
        t->r[s->cnt] = t->r[s->pred] & s->mask;
        while (t->r[s->cnt] != 0) {
            if (exec_thread_block(c, t, tid, &s->body)) break;
            t->r[s->cnt]--;
        }
        return 0;
    case S_BREAK:
        return t->p[s->pred] ^ s->pneg;
    default:
        return 0;
    }
}

static void exec_uniform(rctx *c, const block *b) {
    const prog *p = c->p;
    int nt = p->nt;
    for (int i = 0; i < b->n; i++) {
        const stmt *s = &b->s[i];
        switch (s->kind) {
        case S_BAR:
            c->phase++;
            break;
        case S_ULOOP: {
            for (int k = 0; k < nt; k++)
                c->t[k].r[s->cnt] = ((c->t[k].r[44] >> s->shift) & 3) + 1;
            for (;;) {
                exec_uniform(c, &s->body);
                int more = 0;
                for (int k = 0; k < nt; k++)
                    more |= --c->t[k].r[s->cnt] != 0;
                if (!more) break;
            }
            break;
        }
        case S_PAIRX: {
            uint32_t *X = c->sh + 2 * (size_t)nt * SLOTS;
            for (int k = 0; k < nt; k++) {
                int pa = k ^ s->j;
                if (pa <= k || pa >= nt) continue;
                uint32_t x = X[(size_t)k * SLOTS + (size_t)s->slot],
                         y = X[(size_t)pa * SLOTS + (size_t)s->slot];
                int lt = s->sgn ? (int32_t)x < (int32_t)y : x < y;
                uint32_t lo = lt ? x : y, hi = lt ? y : x;
                int up = (k & s->dmask) == 0;
                X[(size_t)k * SLOTS + (size_t)s->slot] = up ? lo : hi;
                X[(size_t)pa * SLOTS + (size_t)s->slot] = up ? hi : lo;
            }
            c->phase += 2;
            break;
        }
        case S_BITONIC: {
            uint32_t *X = c->sh + 2 * (size_t)nt * SLOTS;
            int nb = 1;
            for (int k = 2; k <= nt; k <<= 1)
                for (int j = k >> 1; j > 0; j >>= 1) {
                    nb++;
                    for (int t = 0; t < nt; t++) {
                        int ixj = t ^ j;
                        if (ixj <= t) continue;
                        uint32_t x = X[(size_t)t * SLOTS], y = X[(size_t)ixj * SLOTS];
                        int gt = s->sgn ? (int32_t)x > (int32_t)y : x > y;
                        int lt = s->sgn ? (int32_t)x < (int32_t)y : x < y;
                        int asc = (t & k) == 0;
                        if ((asc && gt) || (!asc && lt)) {
                            X[(size_t)t * SLOTS] = y;
                            X[(size_t)ixj * SLOTS] = x;
                        }
                    }
                }
            c->phase += nb;
            break;
        }
        case S_INSN:
            if (is_warp_op(s->in.op)) {
                for (int w0 = 0; w0 < nt; w0 += 32)
                    warp_op(c, w0, &s->in);
                break;
            }
            /* fall through */
        default:
            for (int k = 0; k < nt; k++)
                exec_thread(c, &c->t[k], k, s);
            break;
        }
    }
}

void ref_run(const prog *p, const uint32_t *in, uint32_t *out) {
    int nt = p->nt;
    th *T = calloc((size_t)nt, sizeof *T);
    uint32_t *sh = calloc((size_t)3 * (size_t)nt * SLOTS, 4);
    if (!T || !sh) abort();
    for (int blk = 0; blk < p->nblocks; blk++) {
        for (int k = 0; k < nt; k++) {
            th *t = &T[k];
            const uint32_t *w = in + ((size_t)blk * (size_t)nt + (size_t)k) * IN_WORDS;
            memset(t, 0, sizeof *t);
            for (int i = 0; i < NR_OUT; i++)
                t->r[i] = w[i];
            for (int i = 0; i < NQ; i++)
                t->q[i] = (uint64_t)w[NR_OUT + 2 * i] | (uint64_t)w[NR_OUT + 2 * i + 1] << 32;
            for (int i = 0; i < NP; i++)
                t->p[i] = (uint8_t)(w[NR_OUT + 2 * NQ] >> i & 1);
            t->r[40] = (uint32_t)k;
            t->r[41] = (uint32_t)k & 31;
            t->r[42] = (uint32_t)blk;
            t->r[43] = (uint32_t)k >> 5;
            t->r[44] = p->param;
            for (int s = 0; s < SLOTS; s++) {
                sh[(size_t)k * SLOTS + (size_t)s] = t->r[NR_TEMP0 + s];
                sh[(size_t)nt * SLOTS + (size_t)k * SLOTS + (size_t)s] = t->r[NR_TEMP0 + 2 + s];
                sh[2 * (size_t)nt * SLOTS + (size_t)k * SLOTS + (size_t)s] = t->r[NR_TEMP0 + 4 + s];
            }
        }
        rctx c = {p, T, sh, 0};
        exec_uniform(&c, &p->top);
        for (int k = 0; k < nt; k++) {
            th *t = &T[k];
            uint32_t *o = out + ((size_t)blk * (size_t)nt + (size_t)k) * OUT_WORDS;
            memset(o, 0, OUT_WORDS * 4);
            for (int i = 0; i < NR_OUT; i++)
                o[i] = t->r[i];
            for (int i = 0; i < NQ; i++) {
                o[NR_OUT + 2 * i] = (uint32_t)t->q[i];
                o[NR_OUT + 2 * i + 1] = (uint32_t)(t->q[i] >> 32);
            }
            uint32_t pb = 0;
            for (int i = 0; i < NP; i++)
                pb |= (uint32_t)t->p[i] << i;
            o[NR_OUT + 2 * NQ] = pb;
            for (int s = 0; s < SLOTS; s++)
                o[NR_OUT + 2 * NQ + 1 + s] = sh[2 * (size_t)nt * SLOTS + (size_t)k * SLOTS + (size_t)s];
        }
    }
    free(T);
    free(sh);
}

int out_word_kind(const prog *p, int w, int *is64, int *hi) {
    *is64 = 0;
    *hi = 0;
    if (w < NR_OUT) return p->kind32[w];
    if (w < NR_OUT + 2 * NQ) {
        int q = (w - NR_OUT) / 2;
        *is64 = 1;
        *hi = (w - NR_OUT) & 1;
        return p->kind64[q];
    }
    return K_INT;
}
