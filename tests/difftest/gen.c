/* gen.c — the random program generator of the differential tester: straight-line integer and
 * floating-point code, predicates, divergent branches and loops, and (in uniform places only)
 * barriers, shared-memory phases, pair exchanges, a bitonic sort and warp shuffles/votes.
 * Everything is drawn from one seeded generator so a seed names a program and its inputs. */
#include "difftest.h"

#include <stdlib.h>
#include <string.h>

uint64_t rng_next(rng *r) {
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
uint32_t rng_below(rng *r, uint32_t n) { return n ? (uint32_t)(rng_next(r) % n) : 0; }
static int chance(rng *r, int pct) { return (int)rng_below(r, 100) < pct; }

static stmt *push(block *b) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->s = realloc(b->s, (size_t)b->cap * sizeof *b->s);
        if (!b->s) abort();
    }
    stmt *s = &b->s[b->n++];
    memset(s, 0, sizeof *s);
    s->in.guard = -1;
    return s;
}

stmt *block_push(block *b) { return push(b); }

void block_free(block *b) {
    for (int i = 0; i < b->n; i++) {
        block_free(&b->s[i].body);
        block_free(&b->s[i].els);
    }
    free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
}
void prog_free(prog *p) { block_free(&p->top); }
int block_count(const block *b) {
    int n = 0;
    for (int i = 0; i < b->n; i++)
        n += 1 + block_count(&b->s[i].body) + block_count(&b->s[i].els);
    return n;
}

typedef struct gctx {
    rng *r;
    prog *p;
    const genopts *o;
    int depth;   /* loop nesting (counter registers) */
    int in_loop; /* inside a divergent loop: break allowed */
    int budget;  /* statements left */
} gctx;

/* ---- operands ---- */
static opnd R32(int i) {
    opnd o = {RC_32, (uint8_t)i, 0, 0};
    return o;
}
static opnd R64(int i) {
    opnd o = {RC_64, (uint8_t)i, 0, 0};
    return o;
}
static opnd PR(int i, int neg) {
    opnd o = {RC_P, (uint8_t)i, (uint8_t)neg, 0};
    return o;
}
static opnd IMM(uint64_t v) {
    opnd o = {RC_IMM, 0, 0, v};
    return o;
}

static const uint32_t spec32[] = {
    0,           1,           2,          3,           7,          8,          15,          16,
    31,          32,          33,         63,          64,         0x7f,       0x80,        0xff,
    0x100,       0x7fff,      0x8000,     0xffff,      0x10000,    0x7fffffff, 0x80000000u, 0x80000001u,
    0xfffffffeu, 0xffffffffu, 0x55555555, 0xaaaaaaaau, 0x12345678, 0xdeadbeefu};
static const uint32_t specf[] = {0x00000000, 0x80000000u, 0x3f800000, 0xbf800000u, 0x3f000000,  0x3fc00000,
                                 0x40200000, 0xbfc00000u, 0x40400000, 0x7f800000,  0xff800000u, 0x7fc00000,
                                 0x7f7fffff, 0xff7fffffu, 0x00800000, 0x00000001,  0x807fffffu, 0x00400000,
                                 0x4b000000, 0x4b000001,  0x4effffff, 0x4f000000,  0xcf000000u, 0x5f000000,
                                 0x5f800000, 0xdf000000u, 0x33800000, 0x3eaaaaab,  0x4f800000,  0x3f7fffff};
static const uint64_t specd[] = {0,
                                 0x8000000000000000ull,
                                 0x3ff0000000000000ull,
                                 0xbff0000000000000ull,
                                 0x3fe0000000000000ull,
                                 0x3ff8000000000000ull,
                                 0x4004000000000000ull,
                                 0x7ff0000000000000ull,
                                 0xfff0000000000000ull,
                                 0x7ff8000000000000ull,
                                 0x7fefffffffffffffull,
                                 0x0010000000000000ull,
                                 0x0000000000000001ull,
                                 0x36a0000000000000ull,
                                 0x47efffffe0000000ull,
                                 0x47efffff00000000ull,
                                 0x3810000000000000ull,
                                 0x380fffffffffffffull,
                                 0x41dfffffffc00000ull,
                                 0x41e0000000000000ull,
                                 0xc1e0000000000000ull,
                                 0x43e0000000000000ull,
                                 0x43f0000000000000ull,
                                 0x4330000000000001ull,
                                 0x3fd5555555555555ull,
                                 0x4330000000000000ull,
                                 0x3ca0000000000000ull};

uint64_t rand_i64(rng *r);
uint64_t rand_i64(rng *r) {
    switch (rng_below(r, 6)) {
    case 0:
        return (uint64_t)(int64_t)(int32_t)spec32[rng_below(r, sizeof spec32 / 4)];
    case 1:
        return spec32[rng_below(r, sizeof spec32 / 4)];
    case 2:
        return (uint64_t)spec32[rng_below(r, sizeof spec32 / 4)] << 32 |
               spec32[rng_below(r, sizeof spec32 / 4)];
    case 3:
        return rng_below(r, 100);
    case 4:
        return 0x8000000000000000ull >> rng_below(r, 64);
    default:
        return rng_next(r);
    }
}
static uint32_t rand_i32(rng *r) {
    switch (rng_below(r, 4)) {
    case 0:
        return spec32[rng_below(r, sizeof spec32 / 4)];
    case 1:
        return rng_below(r, 40);
    case 2:
        return (uint32_t) - (int32_t)rng_below(r, 40);
    default:
        return (uint32_t)rng_next(r);
    }
}
static uint32_t rand_f32(rng *r) {
    switch (rng_below(r, 6)) {
    case 0:
    case 1:
        return specf[rng_below(r, sizeof specf / 4)];
    case 2: { /* small values and halves: rounding boundaries of float->int */
        float f = (float)((int)rng_below(r, 64) - 32) * 0.5f;
        if (chance(r, 30)) f *= 1.0f / 1024.0f;
        uint32_t u;
        memcpy(&u, &f, 4);
        return u;
    }
    case 3: { /* integers near 2^24..2^32 */
        float f = (float)(rng_next(r) >> rng_below(r, 64));
        if (chance(r, 50)) f = -f;
        uint32_t u;
        memcpy(&u, &f, 4);
        return u;
    }
    case 4:
        return (uint32_t)rng_next(r) & 0x807fffffu; /* subnormal */
    default: {
        uint32_t u = (uint32_t)rng_next(r);
        if ((u & 0x7f800000u) == 0x7f800000u) u ^= 0x40000000u; /* mostly finite */
        return u;
    }
    }
}
static uint64_t rand_f64(rng *r) {
    switch (rng_below(r, 6)) {
    case 0:
    case 1:
        return specd[rng_below(r, sizeof specd / 8)];
    case 2: {
        double f = (double)((int)rng_below(r, 64) - 32) * 0.5;
        uint64_t u;
        memcpy(&u, &f, 8);
        return u;
    }
    case 3: { /* f32-representable, and just off */
        float f;
        uint32_t v = rand_f32(r);
        memcpy(&f, &v, 4);
        double d = f;
        uint64_t u;
        memcpy(&u, &d, 8);
        if (chance(r, 50)) u += (uint64_t)(int64_t)((int)rng_below(r, 5) - 2);
        return u;
    }
    case 4: { /* integers */
        double f = (double)(int64_t)(rng_next(r) >> rng_below(r, 64));
        uint64_t u;
        memcpy(&u, &f, 8);
        return u;
    }
    default:
        return rng_next(r);
    }
}

/* ---- registers ---- */
static int pick32(gctx *g, int kind, int src) {
    prog *p = g->p;
    if (kind == K_INT && src && chance(g->r, 20)) {
        int c = (int)rng_below(g->r, 6);
        if (c < 5) return NR_RO0 + c;
        return NR_CNT0 + (int)rng_below(g->r, 8);
    }
    if (kind == K_INT && chance(g->r, 20)) return NR_TEMP0 + (int)rng_below(g->r, 8);
    for (;;) {
        int i = (int)rng_below(g->r, NR_POOL);
        if (p->kind32[i] == kind) return i;
    }
}
static int pick64(gctx *g, int kind) {
    if (kind == K_INT && chance(g->r, 15)) return NQ_POOL + (int)rng_below(g->r, NQ - NQ_POOL);
    for (;;) {
        int i = (int)rng_below(g->r, NQ_POOL);
        if (g->p->kind64[i] == kind) return i;
    }
}
static opnd src_int(gctx *g, int is64, int imm_pct) {
    if (chance(g->r, imm_pct)) return IMM(is64 ? rand_i64(g->r) : rand_i32(g->r));
    return is64 ? R64(pick64(g, K_INT)) : R32(pick32(g, K_INT, 1));
}
static opnd src_flt(gctx *g, int is64, int imm_pct) {
    if (chance(g->r, imm_pct)) return IMM(is64 ? rand_f64(g->r) : rand_f32(g->r));
    return is64 ? R64(pick64(g, K_FLT)) : R32(pick32(g, K_FLT, 1));
}
static opnd dst_int(gctx *g, int is64) { return is64 ? R64(pick64(g, K_INT)) : R32(pick32(g, K_INT, 0)); }
static opnd dst_flt(gctx *g, int is64) { return is64 ? R64(pick64(g, K_FLT)) : R32(pick32(g, K_FLT, 0)); }
static int ppick(gctx *g) { return (int)rng_below(g->r, NP); }

static int ity(gctx *g, int *is64) {
    static const int t[] = {TU32, TS32, TU64, TS64};
    int k = t[rng_below(g->r, 4)];
    *is64 = k == TU64 || k == TS64;
    return k;
}

/* ---- one instruction ---- */
static void gen_int(gctx *g, insn *in) {
    rng *r = g->r;
    int is64, t = ity(g, &is64);
    int sg = t == TS32 || t == TS64;
    in->ty = (uint8_t)t;
    in->d = dst_int(g, is64);
    in->a = src_int(g, is64, 10);
    in->b = src_int(g, is64, 25);
    switch (rng_below(r, 30)) {
    case 0:
        in->op = I_ADD;
        if (t == TS32 && chance(r, 30)) in->fl |= FL_SAT;
        break;
    case 1:
        in->op = I_SUB;
        if (t == TS32 && chance(r, 30)) in->fl |= FL_SAT;
        break;
    case 2:
    case 3:
        in->op = I_MUL;
        if (chance(r, 35))
            in->fl |= FL_HI;
        else if (!is64 && chance(r, 40)) {
            in->fl |= FL_WIDE;
            in->d = dst_int(g, 1);
        }
        break;
    case 4:
    case 5:
        in->op = I_MAD;
        in->c = src_int(g, is64, 20);
        if (chance(r, 35)) {
            in->fl |= FL_HI;
            if (t == TS32 && chance(r, 50)) in->fl |= FL_SAT;
        } else if (!is64 && chance(r, 40)) {
            in->fl |= FL_WIDE;
            in->d = dst_int(g, 1);
            in->c = src_int(g, 1, 20);
        }
        break;
    case 6:
        in->op = I_DIV;
        in->a = src_int(g, is64, 0);
        in->b = src_int(g, is64, 0);
        break;
    case 7:
        in->op = I_REM;
        in->a = src_int(g, is64, 0);
        in->b = src_int(g, is64, 0);
        break;
    case 8:
        in->op = I_MIN;
        if (t == TS32 && g->o->newmods && chance(r, 30)) in->fl |= FL_RELU, g->p->sm90 = 1;
        break;
    case 9:
        in->op = I_MAX;
        if (t == TS32 && g->o->newmods && chance(r, 30)) in->fl |= FL_RELU, g->p->sm90 = 1;
        break;
    case 10:
        in->op = I_AND;
        in->ty = is64 ? TB64 : TB32;
        break;
    case 11:
        in->op = I_OR;
        in->ty = is64 ? TB64 : TB32;
        break;
    case 12:
        in->op = I_XOR;
        in->ty = is64 ? TB64 : TB32;
        break;
    case 13:
        in->op = chance(r, 50) ? I_NOT : I_CNOT;
        in->ty = is64 ? TB64 : TB32;
        break;
    case 14:
    case 15:
        in->op = chance(r, 40) ? I_SHL : I_SHR;
        if (in->op == I_SHL) in->ty = is64 ? TB64 : TB32;
        in->b = chance(r, 50) ? IMM(rng_below(r, is64 ? 70 : 40)) : R32(pick32(g, K_INT, 1));
        break;
    case 16:
        in->op = chance(r, 50) ? I_NEG : I_ABS;
        in->ty = is64 ? TS64 : TS32;
        break;
    case 17:
        in->op = (uint8_t)(I_POPC + rng_below(r, 3)); /* popc clz brev */
        in->ty = is64 ? TB64 : TB32;
        if (in->op != I_BREV) in->d = dst_int(g, 0);
        break;
    case 18:
        in->op = I_BFIND;
        in->d = dst_int(g, 0);
        if (chance(r, 40)) in->fl |= FL_SHAMT;
        break;
    case 19:
        in->op = I_BFE;
        in->b = chance(r, 50) ? IMM(rng_below(r, 70)) : R32(pick32(g, K_INT, 1));
        in->c = chance(r, 50) ? IMM(rng_below(r, 70)) : R32(pick32(g, K_INT, 1));
        break;
    case 20:
        in->op = I_BFI;
        in->ty = is64 ? TB64 : TB32;
        in->c = chance(r, 50) ? IMM(rng_below(r, 70)) : R32(pick32(g, K_INT, 1));
        in->e = chance(r, 50) ? IMM(rng_below(r, 70)) : R32(pick32(g, K_INT, 1));
        break;
    case 21:
        in->op = I_PRMT;
        in->ty = TB32;
        in->mod = (uint8_t)rng_below(r, 7); /* 0 = default, 1..6 = f4e b4e rc8 ecl ecr rc16 */
        in->d = dst_int(g, 0);
        in->a = src_int(g, 0, 10);
        in->b = src_int(g, 0, 10);
        in->c = chance(r, 50) ? IMM(rng_below(r, 65536)) : R32(pick32(g, K_INT, 1));
        break;
    case 22:
        in->op = I_LOP3;
        in->ty = TB32;
        in->d = dst_int(g, 0);
        in->a = src_int(g, 0, 10);
        in->b = src_int(g, 0, 10);
        in->c = src_int(g, 0, 10);
        in->e = IMM(rng_below(r, 256));
        break;
    case 23:
        in->op = I_SHF;
        in->ty = TB32;
        in->d = dst_int(g, 0);
        in->a = src_int(g, 0, 10);
        in->b = src_int(g, 0, 10);
        in->c = chance(r, 50) ? IMM(rng_below(r, 70)) : R32(pick32(g, K_INT, 1));
        if (chance(r, 50)) in->fl |= FL_LEFT;
        if (chance(r, 50)) in->fl |= FL_CLAMP;
        break;
    case 24:
        in->op = I_SAD;
        in->ty = sg ? TS32 : TU32;
        in->d = dst_int(g, 0);
        in->a = src_int(g, 0, 10);
        in->b = src_int(g, 0, 10);
        in->c = src_int(g, 0, 10);
        break;
    case 25:
        in->op = chance(r, 50) ? I_MUL24 : I_MAD24;
        in->ty = sg ? TS32 : TU32;
        in->d = dst_int(g, 0);
        in->a = src_int(g, 0, 10);
        in->b = src_int(g, 0, 10);
        in->c = src_int(g, 0, 10);
        if (chance(r, 40)) in->fl |= FL_HI;
        break;
    case 26:
        in->op = chance(r, 50) ? I_DP4A : I_DP2A;
        in->ty = chance(r, 50) ? TS32 : TU32;
        in->ty2 = chance(r, 50) ? TS32 : TU32;
        if (in->op == I_DP2A && chance(r, 50)) in->fl |= FL_HI;
        in->d = dst_int(g, 0);
        in->a = src_int(g, 0, 10);
        in->b = src_int(g, 0, 10);
        in->c = src_int(g, 0, 10);
        break;
    default: { /* a carry chain is emitted as its own statements by the caller */
        in->op = I_MOV;
        in->ty = is64 ? TB64 : TB32;
        in->a = src_int(g, is64, 50);
        break;
    }
    }
}

static void gen_flt(gctx *g, insn *in) {
    rng *r = g->r;
    int is64 = chance(r, 35);
    in->ty = is64 ? TF64 : TF32;
    in->d = dst_flt(g, is64);
    in->a = src_flt(g, is64, 10);
    in->b = src_flt(g, is64, 20);
    in->mod = RN_RN;
    int rnd = (int)rng_below(r, 4) + RN_RN;
    switch (rng_below(r, 12)) {
    case 0:
    case 1:
        in->op = I_FADD;
        in->mod = (uint8_t)rnd;
        break;
    case 2:
        in->op = I_FSUB;
        in->mod = (uint8_t)rnd;
        break;
    case 3:
    case 4:
        in->op = I_FMUL;
        in->mod = (uint8_t)rnd;
        break;
    case 5:
        in->op = I_FFMA;
        in->mod = (uint8_t)rnd;
        in->c = src_flt(g, is64, 20);
        break;
    case 6:
        in->op = I_FDIV;
        in->mod = (uint8_t)rnd;
        break;
    case 7:
        in->op = I_FSQRT;
        in->mod = (uint8_t)rnd;
        break;
    case 8:
        in->op = I_FRCP;
        in->mod = (uint8_t)rnd;
        break;
    case 9:
        in->op = chance(r, 50) ? I_FMIN : I_FMAX;
        in->mod = RN_NONE;
        if (!is64 && g->o->newmods && chance(r, 30))
            in->fl |= chance(r, 50) ? FL_NAN : FL_XSA, g->p->sm90 = 1;
        break;
    default:
        in->op = chance(r, 50) ? I_FABS : I_FNEG;
        in->mod = RN_NONE;
        break;
    }
    if (!is64 && g->o->ftz && chance(r, 25)) in->fl |= FL_FTZ;
    if (!is64 && chance(r, 10) &&
        (in->op == I_FADD || in->op == I_FSUB || in->op == I_FMUL || in->op == I_FFMA))
        in->fl |= FL_SAT;
}

static int any_ity(gctx *g) {
    static const int t[] = {TU8, TU16, TU32, TU64, TS8, TS16, TS32, TS64};
    return t[rng_below(g->r, 8)];
}
static int is64ty(int t) { return t == TU64 || t == TS64 || t == TB64 || t == TF64; }

static int tyw(int t) { return t == TU8 || t == TS8 ? 8 : t == TU16 || t == TS16 ? 16 : is64ty(t) ? 64 : 32; }
static int tys(int t) { return t == TS8 || t == TS16 || t == TS32 || t == TS64; }
/* ptxas refuses .sat on an integer cvt whose destination holds every source value */
static int can_saturate(int dt, int st) {
    int dw = tyw(dt), sw = tyw(st);
    if (tys(st)) return !tys(dt) || dw < sw;
    return tys(dt) ? dw <= sw : dw < sw;
}

static void gen_half(gctx *g, insn *in) {
    rng *r = g->r;
    static const int ops[] = {I_FADD, I_FSUB, I_FMUL, I_FFMA, I_FMIN, I_FMAX, I_FNEG, I_FABS};
    in->op = I_HARITH;
    in->ty = chance(r, 60) ? TF16 : TBF16;
    in->mod2 = (uint8_t)ops[rng_below(r, 8)];
    if (in->ty == TBF16 && (in->mod2 == I_FADD || in->mod2 == I_FSUB || in->mod2 == I_FMUL)) g->p->sm90 = 1;
    if (in->ty == TF16 && g->o->ftz && chance(r, 25)) in->fl |= FL_FTZ;
    if (in->mod2 <= I_FFMA && chance(r, 15) && in->ty == TF16) in->fl |= FL_SAT;
    in->d = dst_flt(g, 0);
    in->a = R32(pick32(g, K_INT, 1));
    in->b = R32(pick32(g, K_INT, 1));
    in->c = R32(pick32(g, K_INT, 1));
}

static void gen_i16(gctx *g, insn *in) {
    rng *r = g->r;
    static const int ops[] = {I_ADD, I_SUB, I_MUL, I_MUL, I_MAD,  I_DIV, I_REM, I_MIN, I_MAX,  I_SHL,
                              I_SHR, I_NEG, I_ABS, I_NOT, I_CNOT, I_AND, I_OR,  I_XOR, I_SETP, I_SETP};
    in->op = I_I16;
    in->mod2 = (uint8_t)ops[rng_below(r, sizeof ops / sizeof ops[0])];
    in->ty = chance(r, 50) ? TS16 : TU16;
    if (in->mod2 == I_NEG || in->mod2 == I_ABS) in->ty = TS16;
    if (in->mod2 == I_MUL) {
        int k = (int)rng_below(r, 3);
        in->fl = (uint16_t)(k == 1 ? FL_HI : k == 2 ? FL_WIDE : 0);
    }
    in->d = dst_int(g, 0);
    in->a = R32(pick32(g, K_INT, 1));
    in->b = (in->mod2 == I_SHL || in->mod2 == I_SHR) && chance(r, 50) ? IMM(rng_below(r, 20))
                                                                      : R32(pick32(g, K_INT, 1));
    in->c = R32(pick32(g, K_INT, 1));
    if (in->mod2 == I_SETP) {
        in->mod = (uint8_t)rng_below(r, 10); /* eq..ge, lo..hs (unsigned types only) */
        if (in->ty == TS16 && in->mod >= CMP_LO) in->mod = (uint8_t)(in->mod - 4);
        in->d = PR(ppick(g), 0);
    }
}

static void gen_cvt(gctx *g, insn *in) {
    rng *r = g->r;
    in->op = I_CVT;
    int k = (int)rng_below(r, 6);
    if (k == 4) { /* to f16/bf16 and back to f32 */
        in->op = I_TOH;
        in->ty = chance(r, 60) ? TF16 : TBF16;
        int sk = (int)rng_below(r, 3);
        in->ty2 = (uint8_t)(sk == 0 ? TF32 : sk == 1 ? TF64 : any_ity(g));
        if (in->ty == TBF16 && tyw(in->ty2) < 32) in->ty2 = TS32; /* ptxas: no bf16 <-> 8/16-bit ints */
        in->mod = (uint8_t)(RN_RN + rng_below(r, 4));
        if (in->ty == TBF16 && (in->ty2 != TF32 || in->mod > RN_RZ)) g->p->sm90 = 1;
        in->d = dst_flt(g, 0);
        if (in->ty2 == TF32)
            in->a = R32(pick32(g, K_FLT, 1));
        else if (in->ty2 == TF64)
            in->a = R64(pick64(g, K_FLT));
        else
            in->a = is64ty(in->ty2) ? R64(pick64(g, K_INT)) : R32(pick32(g, K_INT, 1));
        return;
    }
    if (k == 5) { /* f16/bf16 bits to a float or an integer */
        in->op = I_FROMH;
        in->ty2 = chance(r, 60) ? TF16 : TBF16;
        int dk = (int)rng_below(r, 3);
        in->ty = (uint8_t)(dk == 0 ? TF32 : dk == 1 ? TF64 : any_ity(g));
        if (dk == 2) in->mod = (uint8_t)(RN_RNI + rng_below(r, 4));
        if (in->ty2 == TBF16 && tyw(in->ty) < 32) in->ty = TU32;
        if (in->ty2 == TBF16 && in->ty != TF32) g->p->sm90 = 1;
        in->a = R32(pick32(g, K_INT, 1));
        in->d = dk == 0 ? dst_flt(g, 0) : dk == 1 ? dst_flt(g, 1) : dst_int(g, is64ty(in->ty));
        return;
    }
    if (k == 0) { /* int <- int */
        in->ty = (uint8_t)any_ity(g);
        in->ty2 = (uint8_t)any_ity(g);
        if (chance(r, 40) && can_saturate(in->ty, in->ty2)) in->fl |= FL_SAT;
        in->d = dst_int(g, is64ty(in->ty));
        in->a = is64ty(in->ty2) ? R64(pick64(g, K_INT)) : R32(pick32(g, K_INT, 1));
    } else if (k == 1) { /* int <- float */
        in->ty = (uint8_t)any_ity(g);
        in->ty2 = chance(r, 50) ? TF32 : TF64;
        in->mod = (uint8_t)(RN_RNI + rng_below(r, 4));
        if (chance(r, 20)) in->fl |= FL_SAT;
        if (in->ty2 == TF32 && g->o->ftz && chance(r, 20)) in->fl |= FL_FTZ;
        in->d = dst_int(g, is64ty(in->ty));
        in->a = in->ty2 == TF64 ? R64(pick64(g, K_FLT)) : R32(pick32(g, K_FLT, 1));
    } else if (k == 2) { /* float <- int */
        in->ty = chance(r, 50) ? TF32 : TF64;
        in->ty2 = (uint8_t)any_ity(g);
        in->mod = (uint8_t)(RN_RN + rng_below(r, 4));
        if (chance(r, 15)) in->fl |= FL_SAT;
        in->d = dst_flt(g, in->ty == TF64);
        in->a = is64ty(in->ty2) ? R64(pick64(g, K_INT)) : R32(pick32(g, K_INT, 1));
    } else { /* float <- float */
        int dt = chance(r, 50) ? TF32 : TF64, st = chance(r, 50) ? TF32 : TF64;
        in->ty = (uint8_t)dt;
        in->ty2 = (uint8_t)st;
        if (dt == st)
            in->mod = (uint8_t)(chance(r, 25) ? RN_NONE : RN_RNI + rng_below(r, 4));
        else if (dt == TF32)
            in->mod = (uint8_t)(RN_RN + rng_below(r, 4));
        else
            in->mod = RN_NONE;
        if (chance(r, 15) || (dt == st && in->mod == RN_NONE && dt == TF64)) in->fl |= FL_SAT;
        if ((dt == TF32 || st == TF32) && g->o->ftz && chance(r, 20)) in->fl |= FL_FTZ;
        if (dt == st && in->mod == RN_NONE && !(in->fl & (FL_SAT | FL_FTZ))) in->fl |= FL_SAT;
        in->d = dst_flt(g, dt == TF64);
        in->a = st == TF64 ? R64(pick64(g, K_FLT)) : R32(pick32(g, K_FLT, 1));
    }
}

static void gen_pred(gctx *g, insn *in) {
    rng *r = g->r;
    int k = (int)rng_below(r, 10);
    if (k < 5) { /* setp */
        in->op = I_SETP;
        int fl = chance(r, 40), is64 = chance(r, 40);
        if (fl) {
            in->ty2 = is64 ? TF64 : TF32;
            in->mod = (uint8_t)(rng_below(r, 2) ? rng_below(r, 6) : CMP_EQU + rng_below(r, 8));
            in->a = src_flt(g, is64, 10);
            in->b = src_flt(g, is64, 25);
            if (!is64 && g->o->ftz && chance(r, 20)) in->fl |= FL_FTZ;
        } else {
            int t = ity(g, &is64);
            in->ty2 = (uint8_t)t;
            int u = t == TU32 || t == TU64;
            static const int uc[] = {CMP_EQ, CMP_NE, CMP_LO, CMP_LS, CMP_HI, CMP_HS};
            in->mod = (uint8_t)(u && chance(r, 50) ? (uint32_t)uc[rng_below(r, 6)] : rng_below(r, 6));
            if (!u && chance(r, 30)) in->ty2 = is64 ? TB64 : TB32, in->mod = (uint8_t)rng_below(r, 2);
            in->a = src_int(g, is64, 10);
            in->b = src_int(g, is64, 30);
        }
        in->d = PR(ppick(g), 0);
        if (chance(r, 30)) in->d2 = PR(ppick(g), 0);
        if (chance(r, 30)) {
            in->mod2 = (uint8_t)(BO_AND + rng_below(r, 3));
            in->c = PR(ppick(g), chance(r, 30));
        }
        if (in->d2.cls == RC_P && in->d2.idx == in->d.idx) in->d2.cls = RC_NONE;
    } else if (k == 5) {
        in->op = I_TESTP;
        int is64 = chance(r, 40);
        in->ty = is64 ? TF64 : TF32;
        in->mod = (uint8_t)rng_below(r, 6);
        in->d = PR(ppick(g), 0);
        in->a = is64 ? R64(pick64(g, K_FLT)) : R32(pick32(g, K_FLT, 1));
    } else if (k == 6) {
        in->op = (uint8_t)(I_PAND + rng_below(r, 4));
        in->ty = TPRED;
        in->d = PR(ppick(g), 0);
        in->a = PR(ppick(g), chance(r, 30));
        in->b = PR(ppick(g), chance(r, 30));
        if (in->op == I_PNOT) in->a.neg = 0;
    } else if (k == 7) { /* selp */
        in->op = I_SELP;
        int is64 = chance(r, 40), fl = chance(r, 40);
        in->ty = is64 ? TB64 : TB32;
        if (fl) {
            in->d = dst_flt(g, is64);
            in->a = src_flt(g, is64, 20);
            in->b = src_flt(g, is64, 20);
        } else {
            in->d = dst_int(g, is64);
            in->a = src_int(g, is64, 20);
            in->b = src_int(g, is64, 20);
        }
        in->c = PR(ppick(g), chance(r, 30));
    } else if (k == 8) { /* slct */
        in->op = I_SLCT;
        int fl = chance(r, 50);
        in->ty = TB32;
        in->ty2 = fl ? TF32 : TS32;
        in->d = dst_int(g, 0);
        in->a = src_int(g, 0, 20);
        in->b = src_int(g, 0, 20);
        in->c = fl ? src_flt(g, 0, 20) : src_int(g, 0, 20);
        if (fl && g->o->ftz && chance(r, 20)) in->fl |= FL_FTZ;
    } else { /* set */
        in->op = I_SET;
        int fl = chance(r, 40), is64 = chance(r, 40);
        in->mod = (uint8_t)rng_below(r, 6);
        if (fl) {
            in->ty2 = is64 ? TF64 : TF32;
            in->a = src_flt(g, is64, 10);
            in->b = src_flt(g, is64, 25);
        } else {
            in->ty2 = is64 ? TS64 : TU32;
            in->a = src_int(g, is64, 10);
            in->b = src_int(g, is64, 25);
        }
        int dk = (int)rng_below(r, 3);
        in->ty = dk == 0 ? TU32 : dk == 1 ? TS32 : TF32;
        in->d = dk == 2 ? dst_flt(g, 0) : dst_int(g, 0);
    }
}

static void gen_warp(gctx *g, insn *in) {
    rng *r = g->r;
    switch (rng_below(r, 4)) {
    case 0: {
        in->op = I_SHFL;
        in->mod = (uint8_t)rng_below(r, 4); /* up down bfly idx */
        int fl = chance(r, 30);
        in->d = fl ? dst_flt(g, 0) : dst_int(g, 0);
        in->a = fl ? R32(pick32(g, K_FLT, 1)) : R32(pick32(g, K_INT, 1));
        in->b = chance(r, 60) ? IMM(rng_below(r, 33)) : R32(pick32(g, K_INT, 1));
        uint32_t seg = chance(r, 50) ? 0 : rng_below(r, 32);
        uint32_t c = chance(r, 50) ? (in->mod == 0 ? 0u : 31u) : rng_below(r, 32);
        in->c = IMM(seg << 8 | c);
        if (chance(r, 40)) in->d2 = PR(ppick(g), 0);
        break;
    }
    case 1:
        in->op = I_VOTE;
        in->mod = (uint8_t)rng_below(r, 4); /* all any uni ballot */
        in->a = PR(ppick(g), chance(r, 30));
        in->d = in->mod == 3 ? dst_int(g, 0) : PR(ppick(g), 0);
        break;
    case 2:
        in->op = I_REDUX;
        in->mod = (uint8_t)rng_below(r, 6); /* add min max and or xor */
        in->ty = in->mod <= 2 ? (chance(r, 50) ? TU32 : TS32) : TB32;
        in->d = dst_int(g, 0);
        in->a = R32(pick32(g, K_INT, 1));
        break;
    default:
        in->op = I_MATCH;
        in->mod = (uint8_t)rng_below(r, 2); /* any all */
        in->ty = chance(r, 50) ? TB32 : TB64;
        in->d = dst_int(g, 0);
        in->a = in->ty == TB64 ? R64(pick64(g, K_INT)) : R32(pick32(g, K_INT, 1));
        /* make equal values likely */
        if (in->mod == 1 && chance(r, 50)) in->d2 = PR(ppick(g), 0);
        break;
    }
}

static void gen_block(gctx *g, block *b, int uniform, int n);

static void gen_insn_stmt(gctx *g, block *b, int uniform) {
    rng *r = g->r;
    int w = (int)rng_below(r, 100);
    if (w < 6) { /* carry chain: add.cc / addc.cc ... / addc (or sub) */
        int sub = chance(r, 40), len = 2 + (int)rng_below(r, 3);
        for (int k = 0; k < len; k++) {
            stmt *s = push(b);
            insn *in = &s->in;
            in->op = (uint8_t)(k == 0 ? (sub ? I_SUB : I_ADD) : (sub ? I_SUBC : I_ADDC));
            int is64 = chance(r, 30);
            in->ty = is64 ? TU64 : TU32;
            if (k < len - 1 || k == 0) in->fl |= FL_CC;
            in->d = dst_int(g, is64);
            in->a = src_int(g, is64, 10);
            in->b = src_int(g, is64, 30);
        }
        g->budget -= len;
        return;
    }
    stmt *s = push(b);
    insn *in = &s->in;
    g->budget--;
    if (w < 40)
        gen_int(g, in);
    else if (w < 62)
        gen_flt(g, in);
    else if (w < 69)
        gen_cvt(g, in);
    else if (w < 72)
        gen_half(g, in);
    else if (w < 75)
        gen_i16(g, in);
    else if (w < 90)
        gen_pred(g, in);
    else if (w < 95 && g->o->shared) {
        if (chance(r, 50)) {
            in->op = I_STS;
            in->a = R32(pick32(g, K_INT, 1));
            in->mod = (uint8_t)rng_below(r, SLOTS);
        } else {
            in->op = I_LDS;
            in->d = dst_int(g, 0);
            in->a = R32(pick32(g, K_INT, 1));
        }
    } else if (uniform && g->p->warp_ops) {
        gen_warp(g, in);
    } else {
        gen_int(g, in);
    }
    /* a predicate guard on some plain instructions (not on warp ops, not on cc chains) */
    if (in->op != I_SHFL && in->op != I_VOTE && in->op != I_REDUX && in->op != I_MATCH && chance(r, 12)) {
        in->guard = (int8_t)ppick(g);
        in->gneg = (uint8_t)chance(r, 40);
    }
}

static void gen_stmt(gctx *g, block *b, int uniform) {
    rng *r = g->r;
    int w = (int)rng_below(r, 100);
    if (w < 8 && g->budget > 4) { /* if / if-else on a per-thread predicate */
        stmt *s = push(b);
        s->kind = S_IF;
        s->pred = ppick(g);
        s->pneg = chance(r, 50);
        g->budget--;
        gen_block(g, &s->body, 0, 1 + (int)rng_below(r, 5));
        if (chance(r, 50)) gen_block(g, &s->els, 0, 1 + (int)rng_below(r, 4));
        return;
    }
    if (w < 13 && g->o->loops && g->depth < 3 && g->budget > 4) { /* divergent counted loop */
        stmt *s = push(b);
        s->kind = S_LOOP;
        s->cnt = NR_CNT0 + g->depth;
        s->pred = pick32(g, K_INT, 1);
        /* long trip counts now and then: a warp's time slice (1024 instructions in cudaemu) then
         * ends while its lanes are diverged */
        s->mask = chance(r, 70) ? 3 : chance(r, 70) || !g->o->longloops ? 7 : 255;
        g->budget--;
        g->depth++;
        int il = g->in_loop;
        g->in_loop = 1;
        gen_block(g, &s->body, 0, 1 + (int)rng_below(r, 6));
        g->in_loop = il;
        g->depth--;
        return;
    }
    if (w < 16 && g->in_loop) {
        stmt *s = push(b);
        s->kind = S_BREAK;
        s->pred = ppick(g);
        s->pneg = chance(r, 50);
        g->budget--;
        return;
    }
    if (uniform && g->o->shared && w < 22) {
        stmt *s = push(b);
        s->kind = S_BAR;
        g->budget--;
        return;
    }
    if (uniform && g->o->shared && w < 25) { /* bitonic-like compare/exchange step between barriers */
        stmt *s = push(b);                   /* emitted with a barrier before and after */
        s->kind = S_PAIRX;
        int lg = 0;
        while ((1 << (lg + 1)) <= g->p->nt)
            lg++;
        s->j = 1 << rng_below(r, (uint32_t)(lg ? lg : 1));
        s->dmask = chance(r, 30) ? 0 : 1 << rng_below(r, (uint32_t)lg + 1);
        s->slot = (int)rng_below(r, SLOTS);
        s->sgn = chance(r, 50);
        g->budget -= 3;
        return;
    }
    if (uniform && g->o->loops && w < 29 && g->depth < 3 && g->budget > 4) { /* uniform loop */
        stmt *s = push(b);
        s->kind = S_ULOOP;
        s->cnt = NR_CNT0 + g->depth;
        s->shift = (int)rng_below(r, 30);
        g->budget--;
        g->depth++;
        int il = g->in_loop;
        g->in_loop = 0; /* a break would make the loop divergent */
        gen_block(g, &s->body, 1, 2 + (int)rng_below(r, 6));
        g->in_loop = il;
        g->depth--;
        return;
    }
    gen_insn_stmt(g, b, uniform);
}

static void gen_block(gctx *g, block *b, int uniform, int n) {
    for (int i = 0; i < n && g->budget > 0; i++)
        gen_stmt(g, b, uniform);
}

void gen_program(prog *p, uint64_t seed, const genopts *o) {
    rng r = {seed * 0x2545f4914f6cdd1dull + 1};
    memset(p, 0, sizeof *p);
    p->seed = seed;
    for (int i = 0; i < NR; i++)
        p->kind32[i] = (uint8_t)(i < NR_POOL && chance(&r, 40) ? K_FLT : K_INT);
    for (int i = 0; i < NQ; i++)
        p->kind64[i] = (uint8_t)(i < NQ_POOL && chance(&r, 40) ? K_FLT : K_INT);
    /* at least two registers of each kind */
    p->kind32[0] = p->kind32[1] = K_INT;
    p->kind32[2] = p->kind32[3] = K_FLT;
    p->kind64[0] = p->kind64[1] = K_INT;
    p->kind64[2] = p->kind64[3] = K_FLT;
    p->warp_ops = o->warp;
    if (o->bitonic) {
        p->nt = 1024;
        p->nblocks = 1;
    } else {
        static const int nts[] = {32, 32, 64, 64, 96, 128, 256, 1024};
        p->nt = nts[rng_below(&r, 8)];
        if (!o->warp && !o->shared && chance(&r, 30)) p->nt = 1 + (int)rng_below(&r, 100); /* partial warps */
        p->nblocks = 1 + (int)rng_below(&r, 3);
    }
    p->param = (uint32_t)rng_next(&r);
    gctx g = {&r, p, o, 0, 0, 40 + (int)rng_below(&r, 80)};
    if (p->nt >= 512) g.budget /= 2;
    if (o->bitonic) {
        gen_block(&g, &p->top, 1, 6);
        stmt *s = push(&p->top);
        s->kind = S_BITONIC;
        s->sgn = (int)rng_below(&r, 2);
        s->dmask = (int)rng_below(&r, 2); /* 1: the compare-exchange branches instead of predicating */
        gen_block(&g, &p->top, 1, 6);
    } else {
        gen_block(&g, &p->top, 1, 1000);
    }
}

void gen_inputs(const prog *p, uint64_t seed, uint32_t *in) {
    rng r = {seed ^ 0x5851f42d4c957f2dull};
    size_t n = (size_t)p->nt * (size_t)p->nblocks;
    for (size_t t = 0; t < n; t++) {
        uint32_t *w = in + t * IN_WORDS;
        for (int i = 0; i < NR_OUT; i++)
            w[i] = p->kind32[i] == K_FLT ? rand_f32(&r) : rand_i32(&r);
        for (int i = 0; i < NQ; i++) {
            uint64_t v = p->kind64[i] == K_FLT ? rand_f64(&r) : rand_i64(&r);
            w[NR_OUT + 2 * i] = (uint32_t)v;
            w[NR_OUT + 2 * i + 1] = (uint32_t)(v >> 32);
        }
        w[NR_OUT + 2 * NQ] = (uint32_t)rng_next(&r);
        /* make warp-level equal values and uniform predicates common */
        if (chance(&r, 30)) {
            w[0] = (uint32_t)t % 3;
            w[NR_OUT] = (uint32_t)(t % 2);
            w[NR_OUT + 1] = 0;
        }
        for (int k = 0; k < p->nover; k++)
            w[p->over[k].word] = p->over[k].val;
    }
}
