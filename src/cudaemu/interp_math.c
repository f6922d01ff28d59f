/* interp_math.c — the value semantics that are too varied for the interpreter's inline cases:
 * cvt between all integer/float types with PTX rounding and saturation, f16 conversion,
 * setp comparisons (ordered and unordered) into lane masks. */
#include "interp_int.h"

#include <fenv.h>
#include <float.h>
#include <math.h>

float half_to_float(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, f = h & 0x3ff, u;
    if (e == 0) {
        if (f == 0) {
            u = s;
        } else { /* subnormal */
            e = 113;
            while (!(f & 0x400)) {
                f <<= 1;
                e--;
            }
            f &= 0x3ff;
            u = s | (e << 23) | (f << 13);
        }
    } else if (e == 31) {
        u = s | 0x7f800000u | (f << 13);
    } else {
        u = s | ((e + 112) << 23) | (f << 13);
    }
    return u2f(u);
}

uint16_t float_to_half(float x) {
    uint32_t u = (uint32_t)f2u(x);
    uint16_t s = (uint16_t)((u >> 16) & 0x8000);
    int32_t e = (int32_t)((u >> 23) & 0xff);
    uint32_t f = u & 0x7fffff;
    if (e == 255) return (uint16_t)(s | 0x7c00 | (f ? 0x200 : 0));
    e = e - 127 + 15;
    if (e >= 31) return (uint16_t)(s | 0x7c00);
    if (e <= 0) {
        if (e < -10) return s;
        f |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = f >> shift;
        uint32_t rem = f & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(s | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (f >> 13);
    uint32_t rem = f & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return (uint16_t)(s | half);
}

static double round_int(double v, int rnd) {
    switch (rnd) {
    case RND_RZI:
        return trunc(v);
    case RND_RMI:
        return floor(v);
    case RND_RPI:
        return ceil(v);
    case RND_RNA:
        return round(v);
    default:
        return nearbyint(v); /* rni: round to nearest even */
    }
}

/* Rounds exact value x (a long double holds every int64 and double exactly) to float with a
 * directed mode, starting from the round-to-nearest result. */
static float round_f32(long double x, int rnd) {
    float f = (float)x;
    if (rnd != RND_RZ && rnd != RND_RM && rnd != RND_RP) return f;
    if (isnan(f) || (long double)f == x) return f;
    int up = rnd == RND_RP || (rnd == RND_RZ && x < 0);
    if (up && (long double)f < x) f = nextafterf(f, INFINITY);
    if (!up && (long double)f > x) f = nextafterf(f, -INFINITY);
    if (rnd == RND_RZ && isinf(f) && !isinf((double)x)) f = copysignf(FLT_MAX, f);
    return f;
}

/* A result narrower than its register is sign-extended for a signed destination type and
 * zero-extended otherwise (PTX ISA, relaxed type-checking of destination operands): cvt.s8.s32 of
 * -1 into a .b32 register gives 0xffffffff, not 0xff. */
static uint64_t ext_dst(uint64_t v, int dtype) {
    return TY_KIND(dtype) == TK_S ? (uint64_t)sext(v, TY_LG(dtype)) : zext(v, TY_LG(dtype));
}

static uint64_t store_int(int64_t sv, uint64_t uv, int is_signed_src, int dtype, int sat) {
    int lg = TY_LG(dtype);
    int dsigned = TY_KIND(dtype) == TK_S;
    if (sat && lg < 3) {
        int bits = 8 << lg;
        if (dsigned) {
            int64_t lo = -(INT64_C(1) << (bits - 1)), hi = (INT64_C(1) << (bits - 1)) - 1;
            if (is_signed_src) {
                if (sv < lo) sv = lo;
                if (sv > hi) sv = hi;
            } else {
                sv = uv > (uint64_t)hi ? hi : (int64_t)uv;
            }
            return ext_dst((uint64_t)sv, dtype);
        }
        uint64_t hi = (UINT64_C(1) << bits) - 1;
        if (is_signed_src) {
            if (sv < 0) return 0;
            uv = (uint64_t)sv;
        }
        return uv > hi ? hi : uv;
    }
    if (sat && lg == 3) {
        if (dsigned && !is_signed_src && uv > (uint64_t)INT64_MAX) return (uint64_t)INT64_MAX;
        if (!dsigned && is_signed_src && sv < 0) return 0;
    }
    return ext_dst(is_signed_src ? (uint64_t)sv : uv, dtype);
}

static uint64_t float_to_int(double v, int dtype, int rnd) {
    int lg = TY_LG(dtype), bits = 8 << lg;
    if (isnan(v)) return 0;
    v = round_int(v, rnd == RND_NONE ? RND_RZI : rnd);
    if (TY_KIND(dtype) == TK_S) {
        double lo = -ldexp(1.0, bits - 1), hi = ldexp(1.0, bits - 1);
        int64_t r;
        if (v <= lo)
            r = bits == 64 ? INT64_MIN : (int64_t)lo;
        else if (v >= hi)
            r = bits == 64 ? INT64_MAX : (int64_t)hi - 1;
        else
            r = (int64_t)v;
        return ext_dst((uint64_t)r, dtype);
    }
    double hi = ldexp(1.0, bits);
    if (v <= 0) return 0;
    if (v >= hi) return bits == 64 ? UINT64_MAX : (uint64_t)hi - 1;
    return (uint64_t)v;
}

static double round_f64(long double x, int rnd) {
    double f = (double)x;
    if (rnd != RND_RZ && rnd != RND_RM && rnd != RND_RP) return f;
    if (isnan(f) || (long double)f == x) return f;
    int up = rnd == RND_RP || (rnd == RND_RZ && x < 0);
    if (up && (long double)f < x) f = nextafter(f, INFINITY);
    if (!up && (long double)f > x) f = nextafter(f, -INFINITY);
    return f;
}

/* Rounds an exact value to f32 with round-to-odd (truncate, then set the last bit when inexact).
 * A value rounded to odd at f32 precision rounds once more to f16 or bf16 (11 or 8 bits, at least
 * two fewer) in any mode exactly as the value itself would: no double-rounding error. */
static float round_odd_f32(long double x) {
    int old = fegetround();
    fesetround(FE_TOWARDZERO);
    volatile float f = (float)x;
    fesetround(old);
    float r = f;
    if (!isnan(r) && !isinf(r) && (long double)r != x) r = u2f(f2u(r) | 1u);
    return r;
}

/* f32 -> bf16 with a rounding mode */
static uint16_t bf16_round(float f, int rnd) {
    uint32_t u = (uint32_t)f2u(f), hi = u >> 16;
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
    if (!(u & 0xffffu)) return (uint16_t)hi;
    int neg = (int)(u >> 31);
    switch (rnd) {
    case RND_RZ:
        return (uint16_t)hi;
    case RND_RM:
        return (uint16_t)(neg ? hi + 1 : hi); /* sign-magnitude: +1 grows the magnitude */
    case RND_RP:
        return (uint16_t)(neg ? hi : hi + 1);
    default:
        return (uint16_t)((u + 0x7fffu + (hi & 1u)) >> 16);
    }
}

uint64_t cvt_value(const ptx_insn *in, uint64_t v) {
    int dt = in->type, st = in->type2, rnd = in->mod, sat = in->flags & F_SAT;
    int sk = TY_KIND(st), dk = TY_KIND(dt);
    int sfloat = sk == TK_F || sk == TK_BF, dfloat = dk == TK_F || dk == TK_BF;
    if (!sfloat && !dfloat) {
        int s = sk == TK_S;
        int64_t sv = sext(v, TY_LG(st));
        uint64_t uv = zext(v, TY_LG(st));
        return store_int(sv, uv, s, dt, sat);
    }
    double x;
    long double lx; /* the exact source value (a long double holds every double and int64) */
    if (sfloat) {
        if (sk == TK_BF)
            x = u2f((uint64_t)((uint32_t)(uint16_t)v << 16));
        else if (TY_LG(st) == 1)
            x = half_to_float((uint16_t)v);
        else if (TY_LG(st) == 2)
            x = u2f(v);
        else
            x = u2d(v);
        if (!dfloat) return float_to_int(x, dt, rnd);
        if (rnd >= RND_RNI && rnd <= RND_RPI) x = round_int(x, rnd);
        lx = x;
    } else {
        int s = sk == TK_S;
        int64_t sv = sext(v, TY_LG(st));
        uint64_t uv = zext(v, TY_LG(st));
        if (TY_LG(dt) == 2 && dk == TK_F) {
            float f = round_f32(s ? (long double)sv : (long double)uv, rnd);
            return sat ? f2u(f < 0 ? 0.0f : f > 1 ? 1.0f : f) : f2u(f);
        }
        lx = s ? (long double)sv : (long double)uv;
        x = round_f64(lx, rnd);
    }
    if (sat) {
        x = isnan(x) ? 0.0 : x < 0 ? 0.0 : x > 1 ? 1.0 : x;
        lx = isnan(lx) ? 0.0L : lx < 0 ? 0.0L : lx > 1 ? 1.0L : lx;
    }
    /* f16 and bf16 round once from the exact value (f64 and 64-bit integer sources went through
     * float with round-to-nearest first, and bf16 ignored .rz/.rm/.rp) */
    if (dk == TK_BF) return bf16_round(round_odd_f32(lx), rnd);
    switch (TY_LG(dt)) {
    case 1:
        return half_round(round_odd_f32(lx), rnd);
    case 2:
        return f2u(round_f32((long double)x, rnd));
    default:
        return d2u(x);
    }
}

/* .ftz on f32 instructions: subnormal inputs and results are replaced by zeros of the same sign.
 * The interpreter calls ftz_sources before and ftz_result after an instruction with F_FTZ. */
static uint64_t ftz1(uint64_t v) {
    uint32_t u = (uint32_t)v;
    return (u & 0x7f800000u) ? v : (uint64_t)(u & 0x80000000u);
}

static void ftz_copy(const uint64_t **P, uint64_t *tmp, uint32_t m) {
    if (!*P) return;
    for (uint32_t mm = m; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        tmp[l] = ftz1((*P)[l]);
    }
    *P = tmp;
}

void ftz_sources(const ptx_insn *in, const uint64_t **A, const uint64_t **B, const uint64_t **C, uint32_t m,
                 uint64_t tmp[3][32]) {
    int st = (in->op == OP_SETP || in->op == OP_SET || in->op == OP_SLCT || in->op == OP_CVT) ? in->type2
                                                                                              : in->type;
    if (st != T_F32) return;
    if (in->op == OP_SLCT) { /* only the selector is a float */
        ftz_copy(C, tmp[2], m);
        return;
    }
    ftz_copy(A, tmp[0], m);
    ftz_copy(B, tmp[1], m);
    ftz_copy(C, tmp[2], m);
}

void ftz_result(const ptx_insn *in, uint64_t *D, uint32_t m) {
    if (!D || in->type != T_F32 || in->op == OP_SETP || in->op == OP_SET || in->op == OP_SLCT ||
        in->op == OP_TESTP)
        return;
    for (uint32_t mm = m; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        D[l] = ftz1(D[l]);
    }
}

/* min/max with .relu (s32: negative results become 0), .NaN (f32: a NaN operand gives the
 * canonical NaN) or .xorsign.abs (f32: min/max of the magnitudes, with the xor of the signs) */
void minmax_mod(const ptx_insn *in, uint64_t *D, const uint64_t *A, const uint64_t *B, uint32_t m) {
    int mx = in->op == OP_MAX;
    for (uint32_t mm = m; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        if (in->type == T_S32) {
            int32_t a = (int32_t)A[l], b = (int32_t)B[l], r = mx ? (a > b ? a : b) : (a < b ? a : b);
            if ((in->mod2 & MM_RELU) && r < 0) r = 0;
            D[l] = (uint32_t)r;
            continue;
        }
        uint32_t ua = (uint32_t)A[l], ub = (uint32_t)B[l], sign = (ua ^ ub) & 0x80000000u;
        if (in->mod2 & MM_XORSIGN) {
            ua &= 0x7fffffffu;
            ub &= 0x7fffffffu;
        }
        float a = u2f(ua), b = u2f(ub);
        uint32_t r;
        if (a != a && b != b)
            r = 0x7fffffffu;
        else if ((in->mod2 & MM_NAN) && (a != a || b != b))
            r = 0x7fffffffu;
        else if (a != a)
            r = ub;
        else if (b != b)
            r = ua;
        else
            r = (uint32_t)f2u(mx ? fmaxf(a, b) : fminf(a, b));
        if ((in->mod2 & MM_XORSIGN) && (r & 0x7fffffffu) <= 0x7f800000u) r = (r & 0x7fffffffu) | sign;
        D[l] = r;
    }
}

#define LANES(...)                                                                                           \
    do {                                                                                                     \
        for (uint32_t mm_ = m; mm_; mm_ &= mm_ - 1) {                                                        \
            int l = __builtin_ctz(mm_);                                                                      \
            __VA_ARGS__;                                                                                     \
        }                                                                                                    \
    } while (0)

#define CMP_INT(GET, LT_GET)                                                                                 \
    switch (in->mod) {                                                                                       \
    case CMP_EQ:                                                                                             \
        LANES(r |= (uint32_t)(GET(A[l]) == GET(B[l])) << l);                                                 \
        break;                                                                                               \
    case CMP_NE:                                                                                             \
        LANES(r |= (uint32_t)(GET(A[l]) != GET(B[l])) << l);                                                 \
        break;                                                                                               \
    case CMP_LT:                                                                                             \
        LANES(r |= (uint32_t)(LT_GET(A[l]) < LT_GET(B[l])) << l);                                            \
        break;                                                                                               \
    case CMP_LE:                                                                                             \
        LANES(r |= (uint32_t)(LT_GET(A[l]) <= LT_GET(B[l])) << l);                                           \
        break;                                                                                               \
    case CMP_GT:                                                                                             \
        LANES(r |= (uint32_t)(LT_GET(A[l]) > LT_GET(B[l])) << l);                                            \
        break;                                                                                               \
    case CMP_GE:                                                                                             \
        LANES(r |= (uint32_t)(LT_GET(A[l]) >= LT_GET(B[l])) << l);                                           \
        break;                                                                                               \
    case CMP_LO:                                                                                             \
        LANES(r |= (uint32_t)(GET(A[l]) < GET(B[l])) << l);                                                  \
        break;                                                                                               \
    case CMP_LS:                                                                                             \
        LANES(r |= (uint32_t)(GET(A[l]) <= GET(B[l])) << l);                                                 \
        break;                                                                                               \
    case CMP_HI:                                                                                             \
        LANES(r |= (uint32_t)(GET(A[l]) > GET(B[l])) << l);                                                  \
        break;                                                                                               \
    case CMP_HS:                                                                                             \
        LANES(r |= (uint32_t)(GET(A[l]) >= GET(B[l])) << l);                                                 \
        break;                                                                                               \
    default:                                                                                                 \
        break;                                                                                               \
    }

#define CMP_FLT(GET)                                                                                         \
    switch (in->mod) {                                                                                       \
    case CMP_EQ:                                                                                             \
        LANES(r |= (uint32_t)(GET(A[l]) == GET(B[l])) << l);                                                 \
        break;                                                                                               \
    case CMP_NE:                                                                                             \
        LANES(double a_ = GET(A[l]), b_ = GET(B[l]); r |= (uint32_t)(a_ < b_ || a_ > b_) << l);              \
        break;                                                                                               \
    case CMP_LT:                                                                                             \
        LANES(r |= (uint32_t)(GET(A[l]) < GET(B[l])) << l);                                                  \
        break;                                                                                               \
    case CMP_LE:                                                                                             \
        LANES(r |= (uint32_t)(GET(A[l]) <= GET(B[l])) << l);                                                 \
        break;                                                                                               \
    case CMP_GT:                                                                                             \
        LANES(r |= (uint32_t)(GET(A[l]) > GET(B[l])) << l);                                                  \
        break;                                                                                               \
    case CMP_GE:                                                                                             \
        LANES(r |= (uint32_t)(GET(A[l]) >= GET(B[l])) << l);                                                 \
        break;                                                                                               \
    case CMP_EQU:                                                                                            \
        LANES(double a_ = GET(A[l]), b_ = GET(B[l]); r |= (uint32_t)(!(a_ < b_ || a_ > b_)) << l);           \
        break;                                                                                               \
    case CMP_NEU:                                                                                            \
        LANES(r |= (uint32_t)(GET(A[l]) != GET(B[l])) << l);                                                 \
        break;                                                                                               \
    case CMP_LTU:                                                                                            \
        LANES(r |= (uint32_t)(!(GET(A[l]) >= GET(B[l]))) << l);                                              \
        break;                                                                                               \
    case CMP_LEU:                                                                                            \
        LANES(r |= (uint32_t)(!(GET(A[l]) > GET(B[l]))) << l);                                               \
        break;                                                                                               \
    case CMP_GTU:                                                                                            \
        LANES(r |= (uint32_t)(!(GET(A[l]) <= GET(B[l]))) << l);                                              \
        break;                                                                                               \
    case CMP_GEU:                                                                                            \
        LANES(r |= (uint32_t)(!(GET(A[l]) < GET(B[l]))) << l);                                               \
        break;                                                                                               \
    case CMP_NUM:                                                                                            \
        LANES(double a_ = GET(A[l]), b_ = GET(B[l]); r |= (uint32_t)(a_ == a_ && b_ == b_) << l);            \
        break;                                                                                               \
    case CMP_NAN:                                                                                            \
        LANES(double a_ = GET(A[l]), b_ = GET(B[l]); r |= (uint32_t)(a_ != a_ || b_ != b_) << l);            \
        break;                                                                                               \
    default:                                                                                                 \
        break;                                                                                               \
    }

#define U8(v) ((uint8_t)(v))
#define U16(v) ((uint16_t)(v))
#define U32(v) ((uint32_t)(v))
#define U64(v) ((uint64_t)(v))
#define S8(v) ((int8_t)(v))
#define S16(v) ((int16_t)(v))
#define S32(v) ((int32_t)(v))
#define S64(v) ((int64_t)(v))
#define FH(v) ((double)half_to_float((uint16_t)(v)))
#define FF(v) ((double)u2f(v))
#define FD(v) (u2d(v))
#define FB(v) ((double)u2f((uint64_t)((uint32_t)(uint16_t)(v) << 16)))

uint32_t setp_mask(const ptx_insn *in, const uint64_t *A, const uint64_t *B, uint32_t m) {
    uint32_t r = 0;
    int t = in->type2, k = TY_KIND(t), lg = TY_LG(t);
    if (k == TK_BF) {
        CMP_FLT(FB)
        return r;
    }
    if (k == TK_F) {
        if (lg == 2) {
            CMP_FLT(FF)
        } else if (lg == 3) {
            CMP_FLT(FD)
        } else {
            CMP_FLT(FH)
        }
        return r;
    }
    if (k == TK_S) {
        switch (lg) {
        case 0:
            CMP_INT(U8, S8) break;
        case 1:
            CMP_INT(U16, S16) break;
        case 2:
            CMP_INT(U32, S32) break;
        default:
            CMP_INT(U64, S64) break;
        }
        return r;
    }
    switch (lg) {
    case 0:
        CMP_INT(U8, U8) break;
    case 1:
        CMP_INT(U16, U16) break;
    case 2:
        CMP_INT(U32, U32) break;
    default:
        CMP_INT(U64, U64) break;
    }
    return r;
}

uint64_t fma_op(const ptx_insn *in, uint64_t a, uint64_t b, uint64_t c) {
    if (TY_LG(in->type) == 3) {
        double r = fma(u2d(a), u2d(b), u2d(c));
        if (in->flags & F_SAT) r = isnan(r) ? 0.0 : r < 0 ? 0.0 : r > 1 ? 1.0 : r;
        return d2u(r);
    }
    float r = fmaf(u2f(a), u2f(b), u2f(c));
    if (in->flags & F_SAT) r = isnan(r) ? 0.0f : r < 0 ? 0.0f : r > 1 ? 1.0f : r;
    return f2u(r);
}

static float hget(uint32_t h, int bf) { return bf ? u2f((uint64_t)(h << 16)) : half_to_float((uint16_t)h); }
static uint32_t hput(float f, int bf) {
    if (!bf) return float_to_half(f);
    uint32_t u = (uint32_t)f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

/* f16/bf16 fma: a*b is exact in double; the sum is rounded once, towards zero with the last bit
 * set when inexact (round-to-odd), so that the final rounding to 11 or 8 bits is exact (fmaf
 * rounded to f32 first: a double rounding) */
static float half_fma(float a, float b, float c) {
    int old = fegetround();
    feclearexcept(FE_INEXACT);
    fesetround(FE_TOWARDZERO);
    volatile double x = fma((double)a, (double)b, (double)c);
    int inexact = fetestexcept(FE_INEXACT) != 0;
    fesetround(old);
    double r = x;
    if (inexact && !isinf(r) && !isnan(r)) r = u2d(d2u(r) | 1u);
    return round_odd_f32(r);
}

void half_op(const ptx_insn *in, uint64_t *D, const uint64_t *A, const uint64_t *B, const uint64_t *C,
             uint32_t m) {
    int two = TY_LG(in->type) == 2, bf = TY_KIND(in->type) == TK_BF, sat = (in->flags & F_SAT) != 0;
    int ftz = (in->flags & F_FTZ) && !bf; /* .ftz f16: subnormal inputs and results become signed zeros */
    for (uint32_t mm = m; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        uint32_t out = 0;
        for (int k = 0; k < (two ? 2 : 1); k++) {
            uint32_t ha = (uint32_t)(A[l] >> (16 * k)) & 0xffff,
                     hb = B ? (uint32_t)(B[l] >> (16 * k)) & 0xffff : 0,
                     hc = C ? (uint32_t)(C[l] >> (16 * k)) & 0xffff : 0;
            if (ftz) {
                if (!(ha & 0x7c00u)) ha &= 0x8000u;
                if (!(hb & 0x7c00u)) hb &= 0x8000u;
                if (!(hc & 0x7c00u)) hc &= 0x8000u;
            }
            float a = hget(ha, bf), b = hget(hb, bf), c = hget(hc, bf);
            float r;
            switch (in->mod2) {
            case OP_ADD:
                r = a + b;
                break;
            case OP_SUB:
                r = a - b;
                break;
            case OP_MUL:
                r = a * b;
                break;
            /* a NaN operand, signalling too, gives the other operand */
            case OP_MIN:
                r = a != a ? b : b != b ? a : fminf(a, b);
                break;
            case OP_MAX:
                r = a != a ? b : b != b ? a : fmaxf(a, b);
                break;
            case OP_NEG:
                r = -a;
                break;
            case OP_ABS:
                r = fabsf(a);
                break;
            default:
                r = half_fma(a, b, c);
                break;
            }
            if (sat) r = isnan(r) ? 0.0f : r < 0 ? 0.0f : r > 1 ? 1.0f : r;
            uint32_t h = hput(r, bf);
            if (ftz && !(h & 0x7c00u)) h &= 0x8000u;
            out |= h << (16 * k);
        }
        D[l] = out;
    }
}

uint16_t half_round(float x, int rnd) {
    uint16_t h = float_to_half(x);
    if ((rnd != RND_RZ && rnd != RND_RM && rnd != RND_RP) || isnan(x)) return h;
    float hv = half_to_float(h);
    if (hv == x) return h;
    uint16_t sign = h & 0x8000, mag = h & 0x7fff;
    if (rnd == RND_RZ) {
        if (fabsf(hv) > fabsf(x)) mag--;
    } else if (rnd == RND_RP) {
        if (hv < x) mag = sign ? (uint16_t)(mag - 1) : (uint16_t)(mag + 1);
    } else if (hv > x) {
        mag = sign ? (uint16_t)(mag + 1) : (uint16_t)(mag - 1);
    }
    return (uint16_t)(sign | mag);
}

/* The directed rounding modes of f32/f64 add/sub/mul/div/fma/sqrt/rcp, computed with the host's
 * rounding mode switched for the instruction (this file is built with -frounding-math). */
void fround_op(const ptx_insn *in, uint64_t *D, const uint64_t *A, const uint64_t *B, const uint64_t *C,
               uint32_t m) {
    int mode = in->mod == RND_RZ ? FE_TOWARDZERO : in->mod == RND_RM ? FE_DOWNWARD : FE_UPWARD;
    int dbl = TY_LG(in->type) == 3, sat = (in->flags & F_SAT) != 0;
    int old = fegetround();
    fesetround(mode);
    for (uint32_t mm = m; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        if (dbl) {
            volatile double a = u2d(A[l]), b = B ? u2d(B[l]) : 0.0, c = C ? u2d(C[l]) : 0.0, r;
            switch (in->mod2) {
            case OP_ADD:
                r = a + b;
                break;
            case OP_SUB:
                r = a - b;
                break;
            case OP_MUL:
                r = a * b;
                break;
            case OP_DIV:
                r = a / b;
                break;
            case OP_FMA:
                r = fma(a, b, c);
                break;
            case OP_SQRT:
                r = sqrt(a);
                break;
            default:
                r = 1.0 / a;
                break;
            }
            double v = r;
            if (sat) v = isnan(v) ? 0.0 : v < 0 ? 0.0 : v > 1 ? 1.0 : v;
            D[l] = d2u(v);
        } else {
            volatile float a = u2f(A[l]), b = B ? u2f(B[l]) : 0.0f, c = C ? u2f(C[l]) : 0.0f, r;
            switch (in->mod2) {
            case OP_ADD:
                r = a + b;
                break;
            case OP_SUB:
                r = a - b;
                break;
            case OP_MUL:
                r = a * b;
                break;
            case OP_DIV:
                r = a / b;
                break;
            case OP_FMA:
                r = fmaf(a, b, c);
                break;
            case OP_SQRT:
                r = sqrtf(a);
                break;
            default:
                r = 1.0f / a;
                break;
            }
            float v = r;
            if (sat) v = isnan(v) ? 0.0f : v < 0 ? 0.0f : v > 1 ? 1.0f : v;
            D[l] = f2u(v);
        }
    }
    fesetround(old);
}
