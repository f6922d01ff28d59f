/* emit.c — prints a generated program as one PTX kernel. The prologue loads every register from
 * the input buffer (one record per thread) and fills this thread's shared slots; the epilogue
 * stores every register, the predicates and the thread's exchange slots to the output buffer.
 * Reserved registers (%x*, %xd*, %xp*) hold addresses, guards and loop control; the program's own
 * instructions never write them. */
#include "difftest.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ty_name[TY_N] = {"u8",  "u16", "u32", "u64", "s8",   "s16", "s32", "s64",
                                   "b32", "b64", "f32", "f64", "pred", "f16", "bf16"};
static const char *const cmp_name[CMP_N] = {"eq", "ne",  "lt",  "le",  "gt",  "ge",  "lo",  "ls",  "hi",
                                            "hs", "equ", "neu", "ltu", "leu", "gtu", "geu", "num", "nan"};
static const char *const rnd_name[] = {"", ".rn", ".rz", ".rm", ".rp", ".rni", ".rzi", ".rmi", ".rpi"};

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int label;
} sbuf;

static void out(sbuf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) abort();
        if (b->p && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        b->cap = (b->cap + (size_t)k + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
}

/* operand text; ty gives the form of an immediate */
static const char *opn(const opnd *o, int ty, char *buf) {
    switch (o->cls) {
    case RC_32:
        sprintf(buf, "%%r%d", o->idx);
        break;
    case RC_64:
        sprintf(buf, "%%rd%d", o->idx);
        break;
    case RC_P:
        sprintf(buf, "%s%%p%d", o->neg ? "!" : "", o->idx);
        break;
    case RC_IMM:
        if (ty == TF32)
            sprintf(buf, "0f%08" PRIX32, (uint32_t)o->imm);
        else if (ty == TF64)
            sprintf(buf, "0d%016" PRIX64, o->imm);
        else if (ty_bits(ty) == 64) {
            if (ty_signed(ty))
                sprintf(buf, "%" PRId64, (int64_t)o->imm);
            else
                sprintf(buf, "0x%016" PRIX64, o->imm);
        } else {
            if (ty_signed(ty))
                sprintf(buf, "%" PRId32, (int32_t)(uint32_t)o->imm);
            else
                sprintf(buf, "0x%08" PRIX32, (uint32_t)o->imm);
        }
        break;
    default:
        strcpy(buf, "?");
        break;
    }
    return buf;
}

static void guard(sbuf *b, const insn *in) {
    if (in->guard >= 0)
        out(b, "\t@%s%%p%d ", in->gneg ? "!" : "", in->guard);
    else
        out(b, "\t");
}

static const char *redux_name[] = {"add", "min", "max", "and", "or", "xor"};
static const char *testp_name[] = {"finite", "infinite", "number", "notanumber", "normal", "subnormal"};
static const char *prmt_name[] = {"", ".f4e", ".b4e", ".rc8", ".ecl", ".ecr", ".rc16"};

static void emit_insn(sbuf *b, const prog *p, const insn *in) {
    char A[48], B[48], C[48], D[48], D2[48], E[48];
    int t = in->ty, t2 = in->ty2;
    const char *tn = ty_name[t];
    uint32_t reg_bytes = (uint32_t)p->nt * SLOTS * 4u;
    switch (in->op) {
    case I_MOV:
        guard(b, in);
        out(b, "mov.%s %s, %s;\n", tn, opn(&in->d, t, D), opn(&in->a, t, A));
        return;
    case I_ADD:
    case I_SUB:
        guard(b, in);
        out(b, "%s%s%s.%s %s, %s, %s;\n", in->op == I_ADD ? "add" : "sub", in->fl & FL_SAT ? ".sat" : "",
            in->fl & FL_CC ? ".cc" : "", tn, opn(&in->d, t, D), opn(&in->a, t, A), opn(&in->b, t, B));
        return;
    case I_ADDC:
    case I_SUBC:
        guard(b, in);
        out(b, "%s%s.%s %s, %s, %s;\n", in->op == I_ADDC ? "addc" : "subc", in->fl & FL_CC ? ".cc" : "", tn,
            opn(&in->d, t, D), opn(&in->a, t, A), opn(&in->b, t, B));
        return;
    case I_MUL:
    case I_MAD: {
        const char *m = in->fl & FL_HI ? ".hi" : in->fl & FL_WIDE ? ".wide" : ".lo";
        int ct = t;
        if (in->fl & FL_WIDE) ct = t == TS32 ? TS64 : TU64;
        guard(b, in);
        if (in->op == I_MUL)
            out(b, "mul%s.%s %s, %s, %s;\n", m, tn, opn(&in->d, t, D), opn(&in->a, t, A), opn(&in->b, t, B));
        else
            out(b, "mad%s%s.%s %s, %s, %s, %s;\n", m, in->fl & FL_SAT ? ".sat" : "", tn, opn(&in->d, t, D),
                opn(&in->a, t, A), opn(&in->b, t, B), opn(&in->c, ct, C));
        return;
    }
    case I_DIV:
    case I_REM: {
        int w64 = ty_bits(t) == 64;
        const char *bt = w64 ? "b64" : "b32", *tmp = w64 ? "%xd6" : "%x30";
        out(b, "\tsetp.eq.%s %%xp0, %s, 0;\n", bt, opn(&in->b, t, B));
        if (ty_signed(t))
            out(b, "\tsetp.eq.or.%s %%xp0, %s, %s, %%xp0;\n", bt, B,
                w64 ? "0xFFFFFFFFFFFFFFFF" : "0xFFFFFFFF");
        out(b, "\tselp.%s %s, 7, %s, %%xp0;\n", bt, tmp, B);
        guard(b, in);
        out(b, "%s.%s %s, %s, %s;\n", in->op == I_DIV ? "div" : "rem", tn, opn(&in->d, t, D),
            opn(&in->a, t, A), tmp);
        return;
    }
    case I_MIN:
    case I_MAX:
        guard(b, in);
        out(b, "%s%s.%s %s, %s, %s;\n", in->op == I_MIN ? "min" : "max", in->fl & FL_RELU ? ".relu" : "", tn,
            opn(&in->d, t, D), opn(&in->a, t, A), opn(&in->b, t, B));
        return;
    case I_AND:
    case I_OR:
    case I_XOR:
        guard(b, in);
        out(b, "%s.%s %s, %s, %s;\n",
            in->op == I_AND  ? "and"
            : in->op == I_OR ? "or"
                             : "xor",
            tn, opn(&in->d, t, D), opn(&in->a, t, A), opn(&in->b, t, B));
        return;
    case I_NOT:
    case I_CNOT:
    case I_NEG:
    case I_ABS:
    case I_POPC:
    case I_CLZ:
    case I_BREV: {
        static const char *nm[] = {"not", "cnot", "neg", "abs", "popc", "clz", "brev"};
        int k = in->op == I_NOT    ? 0
                : in->op == I_CNOT ? 1
                : in->op == I_NEG  ? 2
                : in->op == I_ABS  ? 3
                : in->op == I_POPC ? 4
                : in->op == I_CLZ  ? 5
                                   : 6;
        guard(b, in);
        out(b, "%s.%s %s, %s;\n", nm[k], tn, opn(&in->d, t, D), opn(&in->a, t, A));
        return;
    }
    case I_BFIND:
        guard(b, in);
        out(b, "bfind%s.%s %s, %s;\n", in->fl & FL_SHAMT ? ".shiftamt" : "", tn, opn(&in->d, t, D),
            opn(&in->a, t, A));
        return;
    case I_SHL:
    case I_SHR:
        guard(b, in);
        out(b, "%s.%s %s, %s, %s;\n", in->op == I_SHL ? "shl" : "shr", tn, opn(&in->d, t, D),
            opn(&in->a, t, A), opn(&in->b, TU32, B));
        return;
    case I_BFE:
        guard(b, in);
        out(b, "bfe.%s %s, %s, %s, %s;\n", tn, opn(&in->d, t, D), opn(&in->a, t, A), opn(&in->b, TU32, B),
            opn(&in->c, TU32, C));
        return;
    case I_BFI:
        guard(b, in);
        out(b, "bfi.%s %s, %s, %s, %s, %s;\n", tn, opn(&in->d, t, D), opn(&in->a, t, A), opn(&in->b, t, B),
            opn(&in->c, TU32, C), opn(&in->e, TU32, E));
        return;
    case I_PRMT:
        guard(b, in);
        out(b, "prmt.b32%s %s, %s, %s, %s;\n", prmt_name[in->mod], opn(&in->d, t, D), opn(&in->a, t, A),
            opn(&in->b, t, B), opn(&in->c, t, C));
        return;
    case I_LOP3:
        guard(b, in);
        out(b, "lop3.b32 %s, %s, %s, %s, %u;\n", opn(&in->d, t, D), opn(&in->a, t, A), opn(&in->b, t, B),
            opn(&in->c, t, C), (unsigned)in->e.imm);
        return;
    case I_SHF:
        guard(b, in);
        out(b, "shf.%s.%s.b32 %s, %s, %s, %s;\n", in->fl & FL_LEFT ? "l" : "r",
            in->fl & FL_CLAMP ? "clamp" : "wrap", opn(&in->d, t, D), opn(&in->a, t, A), opn(&in->b, t, B),
            opn(&in->c, TU32, C));
        return;
    case I_SAD:
        guard(b, in);
        out(b, "sad.%s %s, %s, %s, %s;\n", tn, opn(&in->d, t, D), opn(&in->a, t, A), opn(&in->b, t, B),
            opn(&in->c, TU32, C));
        return;
    case I_MUL24:
        guard(b, in);
        out(b, "mul24%s.%s %s, %s, %s;\n", in->fl & FL_HI ? ".hi" : ".lo", tn, opn(&in->d, t, D),
            opn(&in->a, t, A), opn(&in->b, t, B));
        return;
    case I_MAD24:
        guard(b, in);
        out(b, "mad24%s.%s %s, %s, %s, %s;\n", in->fl & FL_HI ? ".hi" : ".lo", tn, opn(&in->d, t, D),
            opn(&in->a, t, A), opn(&in->b, t, B), opn(&in->c, t, C));
        return;
    case I_DP4A:
    case I_DP2A:
        guard(b, in);
        if (in->op == I_DP4A)
            out(b, "dp4a.%s.%s %s, %s, %s, %s;\n", tn, ty_name[t2], opn(&in->d, t, D), opn(&in->a, TB32, A),
                opn(&in->b, TB32, B), opn(&in->c, t, C));
        else
            out(b, "dp2a%s.%s.%s %s, %s, %s, %s;\n", in->fl & FL_HI ? ".hi" : ".lo", tn, ty_name[t2],
                opn(&in->d, t, D), opn(&in->a, TB32, A), opn(&in->b, TB32, B), opn(&in->c, t, C));
        return;
    case I_SETP: {
        static const char *bo[] = {"", ".and", ".or", ".xor"};
        guard(b, in);
        out(b, "setp.%s%s%s.%s %s", cmp_name[in->mod], bo[in->mod2], in->fl & FL_FTZ ? ".ftz" : "",
            ty_name[t2], opn(&in->d, TPRED, D));
        if (in->d2.cls == RC_P) out(b, "|%s", opn(&in->d2, TPRED, D2));
        out(b, ", %s, %s", opn(&in->a, t2, A), opn(&in->b, t2, B));
        if (in->mod2) out(b, ", %s", opn(&in->c, TPRED, C));
        out(b, ";\n");
        return;
    }
    case I_SET:
        guard(b, in);
        out(b, "set.%s%s.%s.%s %s, %s, %s;\n", cmp_name[in->mod], in->fl & FL_FTZ ? ".ftz" : "", tn,
            ty_name[t2], opn(&in->d, t, D), opn(&in->a, t2, A), opn(&in->b, t2, B));
        return;
    case I_SELP: {
        int vt = t;
        if (in->a.cls == RC_IMM || in->b.cls == RC_IMM) {
            int fk = (in->d.cls == RC_32 ? p->kind32[in->d.idx] : p->kind64[in->d.idx]) == K_FLT;
            vt = fk ? (t == TB64 ? TF64 : TF32) : t;
        }
        guard(b, in);
        out(b, "selp.%s %s, %s, %s, %s;\n", ty_name[vt], opn(&in->d, vt, D), opn(&in->a, vt, A),
            opn(&in->b, vt, B), opn(&in->c, TPRED, C));
        return;
    }
    case I_SLCT:
        guard(b, in);
        out(b, "slct%s.%s.%s %s, %s, %s, %s;\n", in->fl & FL_FTZ ? ".ftz" : "", tn, ty_name[t2],
            opn(&in->d, t, D), opn(&in->a, t, A), opn(&in->b, t, B), opn(&in->c, t2, C));
        return;
    case I_TESTP:
        guard(b, in);
        out(b, "testp.%s.%s %s, %s;\n", testp_name[in->mod], tn, opn(&in->d, TPRED, D), opn(&in->a, t, A));
        return;
    case I_PAND:
    case I_POR:
    case I_PXOR:
        guard(b, in);
        out(b, "%s.pred %s, %s, %s;\n",
            in->op == I_PAND  ? "and"
            : in->op == I_POR ? "or"
                              : "xor",
            opn(&in->d, TPRED, D), opn(&in->a, TPRED, A), opn(&in->b, TPRED, B));
        return;
    case I_PNOT:
        guard(b, in);
        out(b, "not.pred %s, %s;\n", opn(&in->d, TPRED, D), opn(&in->a, TPRED, A));
        return;
    case I_CVT:
        guard(b, in);
        out(b, "cvt%s%s%s.%s.%s %s, %s;\n", rnd_name[in->mod], in->fl & FL_FTZ ? ".ftz" : "",
            in->fl & FL_SAT ? ".sat" : "", tn, ty_name[t2], opn(&in->d, t, D), opn(&in->a, t2, A));
        if ((in->fl & FL_SAT) && (t == TF32 || t == TF64)) {
            guard(b, in);
            out(b, "add.rn.%s %s, %s, %s;\n", tn, D, D, t == TF64 ? "0d0000000000000000" : "0f00000000");
        }
        return;
    case I_FADD:
    case I_FSUB:
    case I_FMUL:
    case I_FFMA:
    case I_FDIV:
    case I_FSQRT:
    case I_FRCP: {
        static const char *nm[] = {"add", "sub", "mul", "fma", "div", "sqrt", "rcp"};
        const char *n = nm[in->op - I_FADD];
        guard(b, in);
        out(b, "%s%s%s%s.%s %s, %s", n, rnd_name[in->mod], in->fl & FL_FTZ ? ".ftz" : "",
            in->fl & FL_SAT ? ".sat" : "", tn, opn(&in->d, t, D), opn(&in->a, t, A));
        if (in->op != I_FSQRT && in->op != I_FRCP) out(b, ", %s", opn(&in->b, t, B));
        if (in->op == I_FFMA) out(b, ", %s", opn(&in->c, t, C));
        out(b, ";\n");
        if (in->fl & FL_SAT) { /* whether .sat turns -0 into +0 is not pinned down: make it +0 */
            guard(b, in);
            out(b, "add.rn.%s %s, %s, %s;\n", tn, D, D, t == TF64 ? "0d0000000000000000" : "0f00000000");
        }
        return;
    }
    case I_FMIN:
    case I_FMAX:
        if (in->fl & FL_XSA) {
            /* .xorsign.abs makes the sign of a NaN operand visible, and NaN signs are not pinned
             * down (a NaN made by cvt or arithmetic may come out either way): make NaNs positive */
            out(b, "\tsetp.nan.f32 %%xp7, %s, %s;\n\tselp.f32 %%x20, 0f7FFFFFFF, %s, %%xp7;\n",
                opn(&in->a, t, A), A, A);
            out(b, "\tsetp.nan.f32 %%xp7, %s, %s;\n\tselp.f32 %%x21, 0f7FFFFFFF, %s, %%xp7;\n",
                opn(&in->b, t, B), B, B);
            guard(b, in);
            out(b, "%s%s%s.xorsign.abs.f32 %s, %%x20, %%x21;\n", in->op == I_FMIN ? "min" : "max",
                in->fl & FL_FTZ ? ".ftz" : "", in->fl & FL_NAN ? ".NaN" : "", opn(&in->d, t, D));
            guard(b, in);
            out(b, "add.rn.f32 %s, %s, 0f00000000;\n", D, D);
            return;
        }
        guard(b, in);
        out(b, "%s%s%s%s.%s %s, %s, %s;\n", in->op == I_FMIN ? "min" : "max", in->fl & FL_FTZ ? ".ftz" : "",
            in->fl & FL_NAN ? ".NaN" : "", in->fl & FL_XSA ? ".xorsign.abs" : "", tn, opn(&in->d, t, D),
            opn(&in->a, t, A), opn(&in->b, t, B));
        /* the sign of min(+0,-0) is not pinned down: make every zero result +0 */
        guard(b, in);
        out(b, "add.rn.%s %s, %s, %s;\n", tn, D, D, t == TF64 ? "0d0000000000000000" : "0f00000000");
        return;
    case I_FABS:
    case I_FNEG:
        guard(b, in);
        out(b, "%s%s.%s %s, %s;\n", in->op == I_FABS ? "abs" : "neg", in->fl & FL_FTZ ? ".ftz" : "", tn,
            opn(&in->d, t, D), opn(&in->a, t, A));
        return;
    case I_SHFL: {
        static const char *md[] = {"up", "down", "bfly", "idx"};
        out(b, "\tshfl.sync.%s.b32 %s", md[in->mod], opn(&in->d, TB32, D));
        if (in->d2.cls == RC_P) out(b, "|%s", opn(&in->d2, TPRED, D2));
        out(b, ", %s, %s, %s, 0xffffffff;\n", opn(&in->a, TB32, A), opn(&in->b, TU32, B),
            opn(&in->c, TU32, C));
        return;
    }
    case I_VOTE: {
        static const char *md[] = {"all", "any", "uni", "ballot"};
        out(b, "\tvote.sync.%s.%s %s, %s, 0xffffffff;\n", md[in->mod], in->mod == 3 ? "b32" : "pred",
            opn(&in->d, TB32, D), opn(&in->a, TPRED, A));
        return;
    }
    case I_REDUX:
        out(b, "\tredux.sync.%s.%s %s, %s, 0xffffffff;\n", redux_name[in->mod], tn, opn(&in->d, t, D),
            opn(&in->a, t, A));
        return;
    case I_MATCH:
        out(b, "\tmatch.%s.sync.%s %s", in->mod ? "all" : "any", tn, opn(&in->d, TB32, D));
        if (in->d2.cls == RC_P) out(b, "|%s", opn(&in->d2, TPRED, D2));
        out(b, ", %s, 0xffffffff;\n", opn(&in->a, t, A));
        return;
    case I_STS:
        out(b, "\tmad.lo.u32 %%x1, %%x7, %u, %%x5;\n\tadd.u32 %%x1, %%x1, %%x4;\n", reg_bytes);
        guard(b, in);
        out(b, "st.shared.b32 [%%x1+%d], %s;\n", in->mod * 4, opn(&in->a, TB32, A));
        return;
    case I_LDS:
        out(b,
            "\trem.u32 %%x2, %s, %u;\n\txor.b32 %%x3, %%x7, 1;\n\tmad.lo.u32 %%x2, %%x3, %u, %%x2;\n"
            "\tshl.b32 %%x2, %%x2, 2;\n\tadd.u32 %%x2, %%x2, %%x4;\n",
            opn(&in->a, TU32, A), (unsigned)p->nt * SLOTS, (unsigned)p->nt * SLOTS);
        guard(b, in);
        out(b, "ld.shared.b32 %s, [%%x2];\n", opn(&in->d, TB32, D));
        return;
    case I_TOH:
        guard(b, in);
        out(b, "cvt%s.%s.%s %%hx0, %s;\n", rnd_name[in->mod], tn, ty_name[t2], opn(&in->a, t2, A));
        guard(b, in);
        out(b, "cvt.f32.%s %s, %%hx0;\n", tn, opn(&in->d, TF32, D));
        return;
    case I_FROMH:
        guard(b, in);
        out(b, "cvt.u16.u32 %%hx1, %s;\n", opn(&in->a, TU32, A));
        guard(b, in);
        out(b, "cvt%s.%s.%s %s, %%hx1;\n", rnd_name[in->mod], tn, ty_name[t2], opn(&in->d, t, D));
        return;
    case I_HARITH: {
        int op = in->mod2, un = op == I_FNEG || op == I_FABS;
        static const char *nm[] = {"add.rn", "sub.rn", "mul.rn", "fma.rn", "div", "sqrt",
                                   "rcp",    "min",    "max",    "abs",    "neg"};
        out(b, "\tcvt.u16.u32 %%hx0, %s;\n", opn(&in->a, TU32, A));
        if (!un) out(b, "\tcvt.u16.u32 %%hx1, %s;\n", opn(&in->b, TU32, B));
        if (op == I_FFMA) out(b, "\tcvt.u16.u32 %%hx2, %s;\n", opn(&in->c, TU32, C));
        guard(b, in);
        out(b, "%s%s%s.%s %%hx0, %%hx0", nm[op - I_FADD], in->fl & FL_FTZ ? ".ftz" : "",
            in->fl & FL_SAT ? ".sat" : "", tn);
        if (!un) out(b, ", %%hx1");
        if (op == I_FFMA) out(b, ", %%hx2");
        out(b, ";\n");
        guard(b, in);
        out(b, "cvt.f32.%s %s, %%hx0;\n", tn, opn(&in->d, TF32, D));
        if ((in->fl & FL_SAT) || op == I_FMIN || op == I_FMAX) { /* zero signs: see I_FMIN */
            guard(b, in);
            out(b, "add.rn.f32 %s, %s, 0f00000000;\n", D, D);
        }
        return;
    }
    case I_I16: {
        static const char *cmpn[] = {"eq", "ne", "lt", "le", "gt", "ge", "lo", "ls", "hi", "hs"};
        int op = in->mod2, un = op == I_NEG || op == I_ABS || op == I_NOT || op == I_CNOT;
        int sh = op == I_SHL || op == I_SHR,
            logic = op == I_AND || op == I_OR || op == I_XOR || op == I_NOT || op == I_CNOT || op == I_SHL;
        const char *t16 = logic ? "b16" : tn;
        out(b, "\tcvt.u16.u32 %%hx0, %s;\n", opn(&in->a, TU32, A));
        if (!un && !sh) out(b, "\tcvt.u16.u32 %%hx1, %s;\n", opn(&in->b, TU32, B));
        if (op == I_MAD) out(b, "\tcvt.u16.u32 %%hx2, %s;\n", opn(&in->c, TU32, C));
        if (op == I_DIV || op == I_REM) {
            out(b, "\tsetp.eq.b16 %%xp0, %%hx1, 0;\n");
            if (t == TS16) out(b, "\tsetp.eq.or.b16 %%xp0, %%hx1, 0xFFFF, %%xp0;\n");
            out(b, "\tselp.b16 %%hx1, 7, %%hx1, %%xp0;\n");
        }
        guard(b, in);
        switch (op) {
        case I_SETP:
            out(b, "setp.%s.%s %s, %%hx0, %%hx1;\n", cmpn[in->mod], tn, opn(&in->d, TPRED, D));
            return;
        case I_MUL:
            if (in->fl & FL_WIDE) {
                out(b, "mul.wide.%s %s, %%hx0, %%hx1;\n", tn, opn(&in->d, TU32, D));
                return;
            }
            out(b, "mul.%s.%s %%hx0, %%hx0, %%hx1;\n", in->fl & FL_HI ? "hi" : "lo", tn);
            break;
        case I_MAD:
            out(b, "mad.lo.%s %%hx0, %%hx0, %%hx1, %%hx2;\n", tn);
            break;
        case I_SHL:
        case I_SHR:
            out(b, "%s.%s %%hx0, %%hx0, %s;\n", op == I_SHL ? "shl" : "shr", op == I_SHL ? "b16" : tn,
                opn(&in->b, TU32, B));
            break;
        default: {
            const char *nm = op == I_ADD    ? "add"
                             : op == I_SUB  ? "sub"
                             : op == I_DIV  ? "div"
                             : op == I_REM  ? "rem"
                             : op == I_MIN  ? "min"
                             : op == I_MAX  ? "max"
                             : op == I_NEG  ? "neg"
                             : op == I_ABS  ? "abs"
                             : op == I_NOT  ? "not"
                             : op == I_CNOT ? "cnot"
                             : op == I_AND  ? "and"
                             : op == I_OR   ? "or"
                                            : "xor";
            if (un)
                out(b, "%s.%s %%hx0, %%hx0;\n", nm, t16);
            else
                out(b, "%s.%s %%hx0, %%hx0, %%hx1;\n", nm, t16);
            break;
        }
        }
        guard(b, in);
        out(b, "cvt.u32.u16 %s, %%hx0;\n", opn(&in->d, TU32, D));
        return;
    }
    default:
        out(b, "\t// ? op %d\n", in->op);
        return;
    }
}

typedef struct ectx {
    sbuf *b;
    const prog *p;
    int brk[8]; /* end labels of the enclosing divergent loops */
    int nbrk;
} ectx;

static void emit_block(ectx *e, const block *bl);

static void emit_stmt(ectx *e, const stmt *s) {
    sbuf *b = e->b;
    const prog *p = e->p;
    uint32_t reg_bytes = (uint32_t)p->nt * SLOTS * 4u;
    switch (s->kind) {
    case S_INSN:
        emit_insn(b, p, &s->in);
        return;
    case S_IF: {
        int l = b->label;
        b->label += 2;
        /* the body runs where (p xor pneg) holds */
        out(b, "\t@%s%%p%d bra $L%d;\n", s->pneg ? "" : "!", s->pred, l);
        emit_block(e, &s->body);
        if (s->els.n) out(b, "\tbra $L%d;\n", l + 1);
        out(b, "$L%d:\n", l);
        if (s->els.n) {
            emit_block(e, &s->els);
            out(b, "$L%d:\n", l + 1);
        }
        return;
    }
    case S_LOOP: {
        int l = b->label;
        b->label += 2;
        out(b, "\tand.b32 %%r%d, %%r%d, %u;\n\tsetp.eq.u32 %%xp1, %%r%d, 0;\n\t@%%xp1 bra $L%d;\n$L%d:\n",
            s->cnt, s->pred, s->mask, s->cnt, l + 1, l);
        e->brk[e->nbrk++] = l + 1;
        emit_block(e, &s->body);
        e->nbrk--;
        out(b, "\tsub.u32 %%r%d, %%r%d, 1;\n\tsetp.ne.u32 %%xp1, %%r%d, 0;\n\t@%%xp1 bra $L%d;\n$L%d:\n",
            s->cnt, s->cnt, s->cnt, l, l + 1);
        return;
    }
    case S_ULOOP: {
        int l = b->label++;
        out(b, "\tshr.u32 %%r%d, %%r44, %d;\n\tand.b32 %%r%d, %%r%d, 3;\n\tadd.u32 %%r%d, %%r%d, 1;\n$L%d:\n",
            s->cnt, s->shift, s->cnt, s->cnt, s->cnt, s->cnt, l);
        emit_block(e, &s->body);
        out(b, "\tsub.u32 %%r%d, %%r%d, 1;\n\tsetp.ne.u32 %%xp1, %%r%d, 0;\n\t@%%xp1 bra $L%d;\n", s->cnt,
            s->cnt, s->cnt, l);
        return;
    }
    case S_BREAK:
        if (e->nbrk) out(b, "\t@%s%%p%d bra $L%d;\n", s->pneg ? "!" : "", s->pred, e->brk[e->nbrk - 1]);
        return;
    case S_BAR:
        out(b, "\tbar.sync 0;\n\txor.b32 %%x7, %%x7, 1;\n");
        return;
    case S_PAIRX: {
        int l = b->label++;
        out(b, "\tbar.sync 0;\n");
        out(b,
            "\txor.b32 %%x8, %%r40, %d;\n\tsetp.gt.u32 %%xp2, %%x8, %%r40;\n\tsetp.lt.and.u32 %%xp2, %%x8, "
            "%d, %%xp2;\n"
            "\t@!%%xp2 bra $L%d;\n",
            s->j, p->nt, l);
        out(b,
            "\tadd.u32 %%x10, %%x4, %u;\n\tmad.lo.u32 %%x9, %%r40, %d, %%x10;\n\tmad.lo.u32 %%x12, %%x8, %d, "
            "%%x10;\n",
            2 * reg_bytes, SLOTS * 4, SLOTS * 4);
        out(b, "\tld.shared.b32 %%x11, [%%x9+%d];\n\tld.shared.b32 %%x13, [%%x12+%d];\n", s->slot * 4,
            s->slot * 4);
        out(b, "\tand.b32 %%x14, %%r40, %d;\n\tsetp.eq.u32 %%xp3, %%x14, 0;\n", s->dmask);
        out(b, "\tmin.%s %%x15, %%x11, %%x13;\n\tmax.%s %%x14, %%x11, %%x13;\n", s->sgn ? "s32" : "u32",
            s->sgn ? "s32" : "u32");
        out(b, "\t@%%xp3 st.shared.b32 [%%x9+%d], %%x15;\n\t@%%xp3 st.shared.b32 [%%x12+%d], %%x14;\n",
            s->slot * 4, s->slot * 4);
        out(b, "\t@!%%xp3 st.shared.b32 [%%x9+%d], %%x14;\n\t@!%%xp3 st.shared.b32 [%%x12+%d], %%x15;\n",
            s->slot * 4, s->slot * 4);
        out(b, "$L%d:\n\tbar.sync 0;\n", l);
        return;
    }
    case S_BITONIC: {
        int l = b->label;
        b->label += 5;
        const char *ct = s->sgn ? "s32" : "u32";
        out(b,
            "\tbar.sync 0;\n\tadd.u32 %%x10, %%x4, %u;\n\tmov.u32 %%x8, 2;\n$L%d:\n\tshr.u32 %%x9, %%x8, "
            "1;\n$L%d:\n",
            2 * reg_bytes, l, l + 1);
        out(b, "\txor.b32 %%x16, %%r40, %%x9;\n\tsetp.gt.u32 %%xp4, %%x16, %%r40;\n\t@!%%xp4 bra $L%d;\n",
            l + 2);
        out(b, "\tmad.lo.u32 %%x12, %%r40, %d, %%x10;\n\tld.shared.b32 %%x13, [%%x12];\n", SLOTS * 4);
        out(b, "\tmad.lo.u32 %%x14, %%x16, %d, %%x10;\n\tld.shared.b32 %%x15, [%%x14];\n", SLOTS * 4);
        out(b, "\tand.b32 %%x17, %%r40, %%x8;\n\tsetp.eq.u32 %%xp3, %%x17, 0;\n");
        if (s->dmask) { /* branchy: lanes of a warp take different paths between the barriers */
            out(b,
                "\t@!%%xp3 bra $L%d;\n\tsetp.gt.%s %%xp4, %%x13, %%x15;\n\t@!%%xp4 bra $L%d;\n\tbra $L%d;\n",
                l + 3, ct, l + 2, l + 4);
            out(b, "$L%d:\n\tsetp.lt.%s %%xp4, %%x13, %%x15;\n\t@!%%xp4 bra $L%d;\n", l + 3, ct, l + 2);
            out(b, "$L%d:\n\tst.shared.b32 [%%x12], %%x15;\n\tst.shared.b32 [%%x14], %%x13;\n", l + 4);
        } else {
            out(b, "\tsetp.gt.%s %%xp4, %%x13, %%x15;\n\tsetp.lt.%s %%xp5, %%x13, %%x15;\n", ct, ct);
            out(b,
                "\tand.pred %%xp4, %%xp4, %%xp3;\n\tnot.pred %%xp6, %%xp3;\n\tand.pred %%xp5, %%xp5, %%xp6;\n"
                "\tor.pred %%xp4, %%xp4, %%xp5;\n");
            out(b, "\t@%%xp4 st.shared.b32 [%%x12], %%x15;\n\t@%%xp4 st.shared.b32 [%%x14], %%x13;\n");
        }
        out(b,
            "$L%d:\n\tbar.sync 0;\n\tshr.u32 %%x9, %%x9, 1;\n\tsetp.ne.u32 %%xp4, %%x9, 0;\n\t@%%xp4 bra "
            "$L%d;\n",
            l + 2, l + 1);
        out(b, "\tshl.b32 %%x8, %%x8, 1;\n\tsetp.le.u32 %%xp4, %%x8, %d;\n\t@%%xp4 bra $L%d;\n", p->nt, l);
        int lg = 0;
        while ((1 << lg) < p->nt)
            lg++;
        if ((1 + lg * (lg + 1) / 2) & 1) out(b, "\txor.b32 %%x7, %%x7, 1;\n");
        return;
    }
    default:
        return;
    }
}

static void emit_block(ectx *e, const block *bl) {
    for (int i = 0; i < bl->n; i++)
        emit_stmt(e, &bl->s[i]);
}

char *emit_ptx(const prog *p) {
    sbuf b = {0};
    uint32_t reg_bytes = (uint32_t)p->nt * SLOTS * 4u;
    out(&b, "// lepton difftest seed %" PRIu64 ": %d block(s) of %d threads, param 0x%08x\n", p->seed,
        p->nblocks, p->nt, p->param);
    out(&b, ".version %s\n.target %s\n.address_size 64\n\n", p->sm90 ? "8.0" : "7.8",
        p->sm90 ? "sm_90" : "sm_80");
    out(&b, ".visible .entry difftest(.param .u64 pin, .param .u64 pout, .param .u32 pu)\n{\n");
    out(&b, "\t.reg .b32 %%r<%d>;\n\t.reg .b64 %%rd<%d>;\n\t.reg .pred %%p<%d>;\n", NR, NQ, NP);
    out(&b, "\t.reg .b32 %%x<32>;\n\t.reg .b64 %%xd<8>;\n\t.reg .pred %%xp<8>;\n\t.reg .b16 %%hx<3>;\n");
    out(&b, "\t.shared .align 16 .b32 sbuf[%d];\n", 3 * p->nt * SLOTS);
    out(&b, "\tld.param.u64 %%xd0, [pin];\n\tld.param.u64 %%xd1, [pout];\n\tld.param.u32 %%r44, [pu];\n");
    out(&b, "\tcvta.to.global.u64 %%xd0, %%xd0;\n\tcvta.to.global.u64 %%xd1, %%xd1;\n");
    out(&b, "\tmov.u32 %%r40, %%tid.x;\n\tmov.u32 %%r41, %%laneid;\n\tmov.u32 %%r42, %%ctaid.x;\n\tshr.u32 "
            "%%r43, %%r40, 5;\n");
    out(&b, "\tmov.u32 %%x0, %%ntid.x;\n\tmad.lo.u32 %%x1, %%r42, %%x0, %%r40;\n");
    out(&b, "\tmul.wide.u32 %%xd2, %%x1, %d;\n\tadd.s64 %%xd2, %%xd0, %%xd2;\n", IN_WORDS * 4);
    for (int i = 0; i < NR_OUT; i++)
        out(&b, "\tld.global.u32 %%r%d, [%%xd2+%d];\n", i, 4 * i);
    for (int i = 0; i < NQ; i++)
        out(&b, "\tld.global.u64 %%rd%d, [%%xd2+%d];\n", i, 4 * NR_OUT + 8 * i);
    out(&b, "\tld.global.u32 %%x2, [%%xd2+%d];\n", 4 * (NR_OUT + 2 * NQ));
    for (int i = 0; i < NP; i++)
        out(&b, "\tand.b32 %%x3, %%x2, %d;\n\tsetp.ne.u32 %%p%d, %%x3, 0;\n", 1 << i, i);
    out(&b, "\tmul.wide.u32 %%xd3, %%x1, %d;\n\tadd.s64 %%xd3, %%xd1, %%xd3;\n", OUT_WORDS * 4);
    out(&b, "\tmov.u32 %%x4, sbuf;\n\tmul.lo.u32 %%x5, %%r40, %d;\n\tadd.u32 %%x6, %%x4, %%x5;\n", SLOTS * 4);
    for (int k = 0; k < SLOTS; k++) {
        out(&b, "\tst.shared.b32 [%%x6+%d], %%r%d;\n", 4 * k, NR_TEMP0 + k);
        out(&b, "\tst.shared.b32 [%%x6+%u], %%r%d;\n", reg_bytes + 4u * (unsigned)k, NR_TEMP0 + 2 + k);
        out(&b, "\tst.shared.b32 [%%x6+%u], %%r%d;\n", 2 * reg_bytes + 4u * (unsigned)k, NR_TEMP0 + 4 + k);
    }
    out(&b, "\tmov.u32 %%x7, 0;\n\tadd.cc.u32 %%x8, %%x4, 0;\n\tbar.sync 0;\n\t// program\n");
    ectx e = {&b, p, {0}, 0};
    emit_block(&e, &p->top);
    out(&b, "\t// epilogue\n\tbar.sync 0;\n");
    for (int i = 0; i < NR_OUT; i++)
        out(&b, "\tst.global.u32 [%%xd3+%d], %%r%d;\n", 4 * i, i);
    for (int i = 0; i < NQ; i++)
        out(&b, "\tst.global.u64 [%%xd3+%d], %%rd%d;\n", 4 * NR_OUT + 8 * i, i);
    out(&b, "\tmov.u32 %%x9, 0;\n");
    for (int i = 0; i < NP; i++)
        out(&b, "\tselp.b32 %%x10, %d, 0, %%p%d;\n\tor.b32 %%x9, %%x9, %%x10;\n", 1 << i, i);
    out(&b, "\tst.global.u32 [%%xd3+%d], %%x9;\n", 4 * (NR_OUT + 2 * NQ));
    for (int k = 0; k < SLOTS; k++)
        out(&b, "\tld.shared.b32 %%x11, [%%x6+%u];\n\tst.global.u32 [%%xd3+%d], %%x11;\n",
            2 * reg_bytes + 4u * (unsigned)k, 4 * (NR_OUT + 2 * NQ + 1 + k));
    out(&b, "\tret;\n}\n");
    return b.p;
}
