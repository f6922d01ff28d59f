/* regress.c — minimal programs for the wrong answers the differential tester found in cudaemu, each
 * with fixed inputs and the value thread 0 must produce (checked against the reference too, so a
 * wrong reference cannot hide a regression). `lepton-difftest --regress` runs them. */
#include "difftest.h"

#include <string.h>

static inline opnd r32(int i) {
    opnd o = {RC_32, (uint8_t)i, 0, 0};
    return o;
}
static inline opnd r64(int i) {
    opnd o = {RC_64, (uint8_t)i, 0, 0};
    return o;
}
static inline opnd pr(int i) {
    opnd o = {RC_P, (uint8_t)i, 0, 0};
    return o;
}
static inline opnd imm(uint64_t v) {
    opnd o = {RC_IMM, 0, 0, v};
    return o;
}

/* word index of a 32-bit register, of the low/high half of a 64-bit one, of the predicate bits */
#define W_R(i) (i)
#define W_RDLO(i) (NR_OUT + 2 * (i))
#define W_RDHI(i) (NR_OUT + 2 * (i) + 1)
#define W_PRED (NR_OUT + 2 * NQ)

static void over(prog *p, int word, uint32_t v) {
    p->over[p->nover].word = word;
    p->over[p->nover].val = v;
    p->nover++;
}

static insn *one(prog *p, int op, int ty, int ty2) {
    stmt *s = block_push(&p->top);
    s->in.op = (uint8_t)op;
    s->in.ty = (uint8_t)ty;
    s->in.ty2 = (uint8_t)ty2;
    return &s->in;
}

/* Open bugs: minimal programs that cudaemu still gets wrong (`--regress-open`; not run in CI).
 * Move a case to regress_case once cudaemu passes it. */
const char *regress_open_case(int i, prog *p, int *word, uint32_t *val) {
    memset(p, 0, sizeof *p);
    p->seed = 2000 + (uint64_t)i;
    p->nt = 32;
    p->nblocks = 1;
    p->warp_ops = 1;
    switch (i) {
    default:
        break;
    }
    return NULL;
}

const char *regress_case(int i, prog *p, int *word, uint32_t *val) {
    memset(p, 0, sizeof *p);
    p->seed = 1000 + (uint64_t)i;
    p->nt = 32;
    p->nblocks = 1;
    p->kind32[2] = p->kind32[3] = K_FLT; /* %r2, %r3: f32; %rd2..%rd4: f64; the rest integers */
    p->kind64[2] = p->kind64[3] = p->kind64[4] = K_FLT;
    insn *in;
    switch (i) {
    /* cvt to a narrow signed type sign-extends into the wider register */
    case 0:
        in = one(p, I_CVT, TS8, TS32);
        in->d = r32(0), in->a = r32(1);
        over(p, W_R(1), 0xff);
        *word = W_R(0), *val = 0xffffffffu;
        return "cvt.s8.s32 of 0xff into a .b32 register";
    case 1:
        in = one(p, I_CVT, TS16, TS32);
        in->fl = FL_SAT, in->d = r32(0), in->a = r32(1);
        over(p, W_R(1), 0x87654321u);
        *word = W_R(0), *val = 0xffff8000u;
        return "cvt.sat.s16.s32 of -2023406815";
    case 2:
        in = one(p, I_CVT, TS8, TF32);
        in->mod = RN_RZI, in->d = r32(0), in->a = r32(3);
        over(p, W_R(3), 0xc0600000u); /* -3.5 */
        *word = W_R(0), *val = 0xfffffffdu;
        return "cvt.rzi.s8.f32 of -3.5";
    /* .ftz: subnormal f32 inputs and results become zeros of the same sign */
    case 3:
        in = one(p, I_FADD, TF32, 0);
        in->mod = RN_RP, in->fl = FL_FTZ, in->d = r32(2), in->a = r32(3), in->b = imm(0xbb000000u);
        over(p, W_R(3), 0x00000001u);
        *word = W_R(2), *val = 0xbb000000u;
        return "add.rp.ftz.f32 of the smallest subnormal and -2^-9";
    case 4:
        in = one(p, I_FMUL, TF32, 0);
        in->mod = RN_RN, in->fl = FL_FTZ, in->d = r32(2), in->a = r32(3), in->b = imm(0x3f000000u);
        over(p, W_R(3), 0x00800000u);
        *word = W_R(2), *val = 0;
        return "mul.rn.ftz.f32 with a subnormal result";
    case 5:
        in = one(p, I_SETP, 0, TF32);
        in->mod = CMP_EQU, in->fl = FL_FTZ, in->d = pr(0), in->a = r32(3), in->b = imm(0);
        over(p, W_R(3), 0x80000001u);
        over(p, W_PRED, 0);
        *word = W_PRED, *val = 1;
        return "setp.equ.ftz.f32 of a negative subnormal and 0";
    case 6:
        in = one(p, I_SLCT, TB32, TF32);
        in->fl = FL_FTZ, in->d = r32(0), in->a = r32(1), in->b = r32(24), in->c = r32(3);
        over(p, W_R(1), 5);
        over(p, W_R(24), 7);
        over(p, W_R(3), 0x80000001u);
        *word = W_R(0), *val = 5;
        return "slct.ftz.b32.f32 with a negative subnormal selector";
    case 7:
        in = one(p, I_CVT, TF64, TF32);
        in->fl = FL_FTZ, in->d = r64(2), in->a = r32(3);
        over(p, W_R(3), 0x00000001u);
        *word = W_RDLO(2), *val = 0;
        return "cvt.ftz.f64.f32 of a subnormal";
    /* min/max: a signalling NaN operand gives the other operand, as a quiet one does */
    case 8:
        in = one(p, I_FMAX, TF64, 0);
        in->d = r64(2), in->a = r64(3), in->b = r64(4);
        over(p, W_RDLO(3), 1);
        over(p, W_RDHI(3), 0x7ff00000u);
        over(p, W_RDLO(4), 0);
        over(p, W_RDHI(4), 0x3ff00000u);
        *word = W_RDHI(2), *val = 0x3ff00000u;
        return "max.f64 of a signalling NaN and 1.0";
    case 9:
        in = one(p, I_FMIN, TF32, 0);
        in->d = r32(2), in->a = r32(3), in->b = imm(0x40000000u);
        over(p, W_R(3), 0x7f800001u);
        *word = W_R(2), *val = 0x40000000u;
        return "min.f32 of a signalling NaN and 2.0";
    /* min/max .relu, .NaN and .xorsign.abs were parsed and ignored */
    case 10:
        in = one(p, I_MIN, TS32, 0);
        in->fl = FL_RELU, in->d = r32(0), in->a = r32(1), in->b = r32(24);
        p->sm90 = 1;
        over(p, W_R(1), (uint32_t)-5);
        over(p, W_R(24), 3);
        *word = W_R(0), *val = 0;
        return "min.relu.s32 of -5 and 3";
    case 11:
        in = one(p, I_FMAX, TF32, 0);
        in->fl = FL_NAN, in->d = r32(2), in->a = r32(3), in->b = imm(0x3f800000u);
        over(p, W_R(3), 0x7fc00000u);
        *word = W_R(2), *val = 0x7fffffffu;
        return "max.NaN.f32 of NaN and 1.0";
    case 12:
        in = one(p, I_FMIN, TF32, 0);
        in->fl = FL_XSA, in->d = r32(2), in->a = r32(3), in->b = imm(0x40400000u);
        over(p, W_R(3), 0xc0000000u);
        *word = W_R(2), *val = 0xc0000000u;
        return "min.xorsign.abs.f32 of -2.0 and 3.0";
    /* mad.hi.sat.s32: .sat was ignored */
    case 13:
        in = one(p, I_MAD, TS32, 0);
        in->fl = FL_HI | FL_SAT, in->d = r32(0), in->a = r32(1), in->b = r32(24), in->c = r32(25);
        over(p, W_R(1), 0x7fffffffu);
        over(p, W_R(24), 0x7fffffffu);
        over(p, W_R(25), 0x7fffffffu);
        *word = W_R(0), *val = 0x7fffffffu;
        return "mad.hi.sat.s32 overflowing upwards";
    case 14:
        in = one(p, I_MAD, TS32, 0);
        in->fl = FL_HI | FL_SAT, in->d = r32(0), in->a = r32(1), in->b = r32(24), in->c = r32(25);
        over(p, W_R(1), 0x80000000u);
        over(p, W_R(24), 0x7fffffffu);
        over(p, W_R(25), 0x80000000u);
        *word = W_R(0), *val = 0x80000000u;
        return "mad.hi.sat.s32 overflowing downwards";
    /* f16/bf16 conversions: bf16 ignored .rz/.rm/.rp; f64 and 64-bit integer sources were rounded
     * to f32 first (double rounding) */
    case 15:
        in = one(p, I_TOH, TBF16, TF32);
        in->mod = RN_RZ, in->d = r32(2), in->a = r32(3);
        over(p, W_R(3), 0x3f80ffffu);
        *word = W_R(2), *val = 0x3f800000u;
        return "cvt.rz.bf16.f32 of 0x3f80ffff";
    case 16:
        in = one(p, I_TOH, TBF16, TF32);
        in->mod = RN_RM, in->d = r32(2), in->a = r32(3);
        p->sm90 = 1;
        over(p, W_R(3), 0xbf800001u);
        *word = W_R(2), *val = 0xbf810000u;
        return "cvt.rm.bf16.f32 of -(1 + 2^-23)";
    case 17:
        in = one(p, I_TOH, TF16, TF64);
        in->mod = RN_RP, in->d = r32(2), in->a = r64(3);
        over(p, W_RDLO(3), 0x00000100u); /* 1 + 2^-44 */
        over(p, W_RDHI(3), 0x3ff00000u);
        *word = W_R(2), *val = 0x3f802000u; /* 1 + 2^-10 */
        return "cvt.rp.f16.f64 of 1 + 2^-44";
    case 18:
        in = one(p, I_TOH, TF16, TF64);
        in->mod = RN_RN, in->d = r32(2), in->a = r64(3);
        over(p, W_RDLO(3), 0x00001000u); /* 1 + 2^-11 + 2^-40: just above the tie */
        over(p, W_RDHI(3), 0x3ff00200u);
        *word = W_R(2), *val = 0x3f802000u;
        return "cvt.rn.f16.f64 of 1 + 2^-11 + 2^-40";
    case 19:
        in = one(p, I_TOH, TBF16, TS64);
        in->mod = RN_RN, in->d = r32(2), in->a = r64(0);
        p->sm90 = 1;
        over(p, W_RDLO(0), 0x00000001u); /* 2^40 + 2^32 + 1: just above the tie between bf16 values */
        over(p, W_RDHI(0), 0x00000101u);
        *word = W_R(2), *val = 0x53810000u; /* 2^40 + 2^33 */
        return "cvt.rn.bf16.s64 of 2^40 + 2^32 + 1";
    /* f16/bf16 arithmetic: fma rounded twice, min/max of a signalling NaN gave NaN, .ftz ignored */
    case 20:
        in = one(p, I_HARITH, TBF16, 0);
        in->mod2 = I_FFMA, in->d = r32(2), in->a = r32(0), in->b = r32(1), in->c = r32(24);
        over(p, W_R(0), 0x5cacu);
        over(p, W_R(1), 0x000bu);
        over(p, W_R(24), 0x000au);
        *word = W_R(2), *val = 0x1bed0000u;
        return "fma.rn.bf16 just above a tie (single rounding)";
    case 21:
        in = one(p, I_HARITH, TF16, 0);
        in->mod2 = I_FMAX, in->d = r32(2), in->a = r32(0), in->b = r32(1);
        over(p, W_R(0), 0x0014u);
        over(p, W_R(1), 0xfcb3u); /* a signalling f16 NaN */
        *word = W_R(2), *val = 0x35a00000u;
        return "max.f16 of a subnormal and a signalling NaN";
    case 22:
        in = one(p, I_HARITH, TF16, 0);
        in->mod2 = I_FMUL, in->fl = FL_FTZ, in->d = r32(2), in->a = r32(0), in->b = r32(1);
        over(p, W_R(0), 0x0400u);
        over(p, W_R(1), 0x3800u);
        *word = W_R(2), *val = 0;
        return "mul.rn.ftz.f16 with a subnormal result";
    case 23:
        in = one(p, I_HARITH, TF16, 0);
        in->mod2 = I_FADD, in->fl = FL_FTZ, in->d = r32(2), in->a = r32(0), in->b = r32(1);
        over(p, W_R(0), 0x0001u);
        over(p, W_R(1), 0x0000u);
        *word = W_R(2), *val = 0;
        return "add.rn.ftz.f16 of a subnormal";
    /* a .sync warp op waits for every lane of its membermask: lane 0 loops longer than a time slice
     * (cudaemu then runs the other lanes), the others go straight to the warp op */
    case 24:
    case 25: {
        p->warp_ops = 1;
        in = one(p, I_SETP, 0, TU32);
        in->mod = CMP_EQ, in->d = pr(0), in->a = r32(41), in->b = imm(0);
        in = one(p, I_SELP, TB32, 0);
        in->d = r32(24), in->a = imm(255), in->b = imm(0), in->c = pr(0);
        stmt *s = block_push(&p->top);
        s->kind = S_LOOP, s->cnt = NR_CNT0, s->pred = 24, s->mask = 255;
        for (int k = 0; k < 4; k++) {
            stmt *b = block_push(&s->body);
            b->in.op = I_ADD, b->in.ty = TU32, b->in.d = r32(25), b->in.a = r32(25), b->in.b = imm(1);
        }
        over(p, W_R(25), 0);
        *word = W_R(26), *val = 4 * 255;
        if (i == 24) {
            in = one(p, I_SHFL, 0, 0);
            in->mod = 3, in->d = r32(26), in->a = r32(25), in->b = imm(0), in->c = imm(0x1f);
            return "shfl.sync.idx after lane 0 ran a loop longer than a time slice";
        }
        in = one(p, I_REDUX, TU32, 0);
        in->mod = 0, in->d = r32(26), in->a = r32(25);
        return "redux.sync.add after lane 0 ran a loop longer than a time slice";
    }
    default:
        break;
    }
    return NULL;
}
