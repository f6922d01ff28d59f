/* ptx_decode.c — turns one parsed PTX instruction (opcode with its modifiers, operands) into a
 * ptx_insn: opcode enum, resolved types, operand bank indices, immediates as constant slots.
 * Anything not supported is rejected here, at load time, naming the instruction and its line. */
#include "ptx_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct mods {
    const char *name; /* the whole instruction name, e.g. "ld.global.v4.f32" (not NUL-terminated) */
    uint32_t namelen;
    const char *base;
    uint32_t baselen;
    const char *m[24];
    uint32_t ml[24];
    int n;
    int types[4];
    int ntypes;
    int space;
    int rnd;
    int vec;
} mods;

static int meq(const char *s, uint32_t l, const char *w) { return strlen(w) == l && memcmp(s, w, l) == 0; }

static int has(const mods *md, const char *w) {
    for (int i = 0; i < md->n; i++)
        if (meq(md->m[i], md->ml[i], w)) return 1;
    return 0;
}

static int mtype(const char *s, uint32_t l) {
    static const struct {
        const char *n;
        int t;
    } tab[] = {
        {"u8", T_U8},     {"u16", T_U16},   {"u32", T_U32},     {"u64", T_U64},       {"s8", T_S8},
        {"s16", T_S16},   {"s32", T_S32},   {"s64", T_S64},     {"b8", T_B8},         {"b16", T_B16},
        {"b32", T_B32},   {"b64", T_B64},   {"f16", T_F16},     {"f32", T_F32},       {"f64", T_F64},
        {"pred", T_PRED}, {"bf16", T_BF16}, {"f16x2", T_F16X2}, {"bf16x2", T_BF16X2},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (meq(s, l, tab[i].n)) return tab[i].t;
    return -1;
}

static void split(const char *op, uint32_t len, mods *md) {
    memset(md, 0, sizeof *md);
    md->space = -1;
    md->vec = 1;
    uint32_t i = 0;
    while (i < len && op[i] != '.')
        i++;
    md->name = op;
    md->namelen = len;
    md->base = op;
    md->baselen = i;
    while (i < len && md->n < 24) {
        i++; /* skip '.' */
        uint32_t st = i;
        while (i < len && op[i] != '.')
            i++;
        const char *s = op + st;
        uint32_t l = i - st;
        md->m[md->n] = s;
        md->ml[md->n] = l;
        md->n++;
        int t = mtype(s, l);
        if (t >= 0 && md->ntypes < 4) md->types[md->ntypes++] = t;
        if (meq(s, l, "global"))
            md->space = SS_GLOBAL;
        else if (meq(s, l, "shared") || meq(s, l, "shared::cta"))
            md->space = SS_SHARED;
        else if (meq(s, l, "local"))
            md->space = SS_LOCAL;
        else if (meq(s, l, "const"))
            md->space = SS_CONST;
        else if (meq(s, l, "param") || meq(s, l, "param::entry") || meq(s, l, "param::func"))
            md->space = SS_PARAM;
        else if (meq(s, l, "rn"))
            md->rnd = RND_RN;
        else if (meq(s, l, "rz"))
            md->rnd = RND_RZ;
        else if (meq(s, l, "rm"))
            md->rnd = RND_RM;
        else if (meq(s, l, "rp"))
            md->rnd = RND_RP;
        else if (meq(s, l, "rni"))
            md->rnd = RND_RNI;
        else if (meq(s, l, "rzi"))
            md->rnd = RND_RZI;
        else if (meq(s, l, "rmi"))
            md->rnd = RND_RMI;
        else if (meq(s, l, "rpi"))
            md->rnd = RND_RPI;
        else if (meq(s, l, "rna"))
            md->rnd = RND_RNA;
        else if (meq(s, l, "v2"))
            md->vec = 2;
        else if (meq(s, l, "v4"))
            md->vec = 4;
        else if (meq(s, l, "v8"))
            md->vec = 8;
    }
}

#define FAIL(...) return perr(ps, line, __VA_ARGS__)

/* A double as a 64-bit integer pattern without undefined behaviour: NaN reads 0, values beyond
 * the int64 range saturate (callers that must refuse them check imm_fits first). */
static uint64_t f2i(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775808.0 && v < 18446744073709551616.0) return (uint64_t)v;
    if (v >= 9223372036854775808.0) return UINT64_MAX;
    if (v <= -9223372036854775808.0) return (uint64_t)INT64_MIN;
    return (uint64_t)(int64_t)v;
}

static const char *tyname(int type) {
    static const struct {
        int t;
        const char *n;
    } tab[] = {{T_U8, "u8"},     {T_U16, "u16"},   {T_U32, "u32"},     {T_U64, "u64"},      {T_S8, "s8"},
               {T_S16, "s16"},   {T_S32, "s32"},   {T_S64, "s64"},     {T_B8, "b8"},        {T_B16, "b16"},
               {T_B32, "b32"},   {T_B64, "b64"},   {T_F16, "f16"},     {T_F32, "f32"},      {T_F64, "f64"},
               {T_PRED, "pred"}, {T_BF16, "bf16"}, {T_F16X2, "f16x2"}, {T_BF16X2, "bf16x2"}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (tab[i].t == type) return tab[i].n;
    return "?";
}

static int is_int_type(int type) {
    return type != T_NONE && (TY_KIND(type) == TK_U || TY_KIND(type) == TK_S || TY_KIND(type) == TK_B);
}

/* An integer immediate fits an integer type of N bits when it is in the unsigned range or, read as
 * a negative literal, in the signed range (PTX writes -1 for all ones of any width). */
static int imm_fits(uint64_t v, int type) {
    if (!is_int_type(type) || TY_LG(type) == 3) return 1;
    unsigned bits = 8u << TY_LG(type);
    uint64_t umax = (1ull << bits) - 1;
    int64_t smin = -(int64_t)(1ull << (bits - 1));
    return v <= umax || ((int64_t)v < 0 && (int64_t)v >= smin);
}

static uint64_t fbits(double v, int type) {
    if (TY_KIND(type) == TK_F && TY_LG(type) == 2) {
        float f = (float)v;
        uint32_t b;
        memcpy(&b, &f, 4);
        return b;
    }
    if (TY_KIND(type) == TK_F && TY_LG(type) == 3) {
        uint64_t b;
        memcpy(&b, &v, 8);
        return b;
    }
    return f2i(v);
}

static double f32val(uint64_t b) {
    uint32_t u = (uint32_t)b;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static double f64val(uint64_t b) {
    double d;
    memcpy(&d, &b, 8);
    return d;
}

static int var_of(const sopnd *o) { return o->sy && o->sy->kind == S_VAR ? (int)o->sy->val : -1; }

/* A source operand of the given type. */
static uint32_t src_o(pstate *ps, const sopnd *o, int type, int line) {
    int isf = TY_KIND(type) == TK_F && TY_LG(type) >= 2;
    switch (o->kind) {
    case PO_REG:
        return OPND(OPB_REG, o->idx);
    case PO_IMM:
        if (!imm_fits(o->ival, type)) {
            if ((int64_t)o->ival < 0)
                perr(ps, line, "immediate %" PRId64 " does not fit .%s", (int64_t)o->ival, tyname(type));
            else
                perr(ps, line, "immediate %" PRIu64 " does not fit .%s", o->ival, tyname(type));
            return OP_NONE;
        }
        return const_slot(ps, isf ? fbits((double)(int64_t)o->ival, type) : o->ival);
    case PO_F32:
        return const_slot(ps, isf && TY_LG(type) == 3 ? fbits(f32val(o->ival), type) : o->ival);
    case PO_F64:
        return const_slot(ps, isf && TY_LG(type) == 2 ? fbits(f64val(o->ival), type) : o->ival);
    case PO_FLT:
        if (!isf && is_int_type(type)) {
            double lo = TY_KIND(type) == TK_S ? -ldexp(1, (8 << TY_LG(type)) - 1) : 0;
            double hi = ldexp(1, (8 << TY_LG(type)) - (TY_KIND(type) == TK_S));
            if (!(o->fval >= lo && o->fval < hi) || o->fval != floor(o->fval)) {
                perr(ps, line, "immediate %g does not fit .%s (an integer operand needs an integer literal)",
                     o->fval, tyname(type));
                return OP_NONE;
            }
        }
        return const_slot(ps, isf ? fbits(o->fval, type) : f2i(o->fval));
    case PO_SPEC:
        if (o->idx >= SPD_BASE) {
            perr(ps, line, "special register only readable with mov");
            return OP_NONE;
        }
        return OPND(OPB_SPEC, o->idx);
    case PO_SYM: {
        int vi = var_of(o);
        if (vi >= 0) {
            ptx_var *v = &ps->m->vars[vi];
            if (v->space == VS_SHARED) {
                uint32_t c = const_slot_unique(ps, 0);
                add_patch(ps, 1, c & 0x0fffffffu, vi, 0);
                ps->m->funcs[ps->fi].shared_used_mask |= 1ull << (vi & 63);
                return c;
            }
            return const_slot(ps, v->addr);
        }
        perr(ps, line, "'%.*s' cannot be used as a value here", (int)o->namelen, o->name);
        return OP_NONE;
    }
    default:
        perr(ps, line, "bad source operand");
        return OP_NONE;
    }
}

static uint32_t dst_o(pstate *ps, const sopnd *o, int line) {
    if (o->kind == PO_REG) return OPND(OPB_REG, o->idx);
    if (o->kind == PO_SINK) {
        if (ps->sink_reg < 0) ps->sink_reg = (int)new_reg(ps);
        return OPND(OPB_REG, (uint32_t)ps->sink_reg);
    }
    perr(ps, line, "destination must be a register");
    return OP_NONE;
}

static int pred_o(pstate *ps, const sopnd *o, int line, uint32_t *idx, int *neg) {
    if (o->kind == PO_PRED) {
        *idx = o->idx;
        if (neg)
            *neg = o->neg;
        else if (o->neg)
            return perr(ps, line, "negated predicate not allowed here");
        return 0;
    }
    if (o->kind == PO_SINK) {
        /* "_": a scratch predicate of the function, so no instruction ever indexes past the file */
        if (ps->sink_pred < 0) ps->sink_pred = (int)ps->m->funcs[ps->fi].npreds++;
        *idx = (uint32_t)ps->sink_pred;
        return 0;
    }
    return perr(ps, line, "expected a predicate operand");
}

/* Address operand: base register (or SP_ZERO) in *base, offset into in->imm. */
static int addr_o(pstate *ps, const popnd *p, ptx_insn *in, uint32_t *base, int line) {
    if (p->o.kind != PO_ADDR) return perr(ps, line, "expected an address operand [..]");
    in->imm = p->aoff;
    if (p->abase.kind == PO_NONE) {
        *base = OPND(OPB_SPEC, SP_ZERO);
        return 0;
    }
    if (p->abase.kind == PO_REG) {
        *base = OPND(OPB_REG, p->abase.idx);
        return 0;
    }
    const sopnd *o = &p->abase;
    if (o->sy && o->sy->kind == S_LOCAL) {
        *base = OPND(OPB_REG, (uint32_t)ps->depot_reg);
        in->imm = (int64_t)((uint64_t)in->imm + (uint64_t)o->sy->val);
        return 0;
    }
    int vi = var_of(o);
    if (vi < 0) return perr(ps, line, "unknown symbol '%.*s' in address", (int)o->namelen, o->name);
    ptx_var *v = &ps->m->vars[vi];
    *base = OPND(OPB_SPEC, SP_ZERO);
    if (v->space == VS_SHARED) {
        add_patch(ps, 0, ps->m->funcs[ps->fi].ncode - 1, vi, 0);
        ps->m->funcs[ps->fi].shared_used_mask |= 1ull << (vi & 63);
    } else {
        in->imm = (int64_t)((uint64_t)in->imm + v->addr);
    }
    return 0;
}

static int is_half(int t) {
    return (TY_KIND(t) == TK_F && TY_LG(t) == 1) || TY_KIND(t) == TK_F16X2 || TY_KIND(t) == TK_BF;
}

static int last_type(const mods *md) { return md->ntypes ? md->types[md->ntypes - 1] : -1; }

static int cmp_of(const mods *md) {
    static const char *names[] = {"eq", "ne",  "lt",  "le",  "gt",  "ge",  "lo",  "ls",  "hi",
                                  "hs", "equ", "neu", "ltu", "leu", "gtu", "geu", "num", "nan"};
    for (int i = 0; i < md->n; i++)
        for (int c = 0; c < (int)(sizeof names / sizeof names[0]); c++)
            if (meq(md->m[i], md->ml[i], names[c])) return c;
    return -1;
}

static int bool_of(const mods *md) {
    if (has(md, "and")) return BOOL_AND;
    if (has(md, "or")) return BOOL_OR;
    if (has(md, "xor")) return BOOL_XOR;
    return BOOL_NONE;
}

static int need_ops(pstate *ps, int n, int want_min, int want_max, int line, const mods *md) {
    if (n < want_min || n > want_max)
        return perr(ps, line, "'%.*s' expects %d operands, got %d", (int)md->baselen, md->base, want_min, n);
    return 0;
}

static int is_base(const mods *md, const char *w) { return meq(md->base, md->baselen, w); }

static int decode_ldst(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int is_st, int line) {
    int type = last_type(md);
    if (type < 0) FAIL("missing type on '%.*s'", (int)md->baselen, md->base);
    if (md->vec > 4) FAIL("vector width %d unsupported", md->vec);
    if (need_ops(ps, nops, 2, 2, line, md)) return -1;
    in->type = (uint8_t)type;
    in->vec = (uint8_t)md->vec;
    in->space = (uint8_t)(md->space < 0 ? SS_GENERIC : md->space);
    if (has(md, "nc")) in->flags |= F_NC;
    const popnd *ap = is_st ? &ops[0] : &ops[1];
    const popnd *vp = is_st ? &ops[1] : &ops[0];
    /* values */
    uint32_t vals[4];
    if (md->vec > 1) {
        if (vp->o.kind != PO_VEC || vp->n != md->vec) FAIL("vector operand of %d elements expected", md->vec);
        for (int k = 0; k < md->vec; k++)
            vals[k] = is_st ? src_o(ps, &vp->v[k], type, line) : dst_o(ps, &vp->v[k], line);
    } else {
        if (vp->o.kind == PO_VEC) FAIL("vector operand without .v2/.v4");
        vals[0] = is_st ? src_o(ps, &vp->o, type, line) : dst_o(ps, &vp->o, line);
    }
    for (int k = 0; k < md->vec; k++)
        in->d[k] = vals[k];
    if (in->space == SS_PARAM) {
        if (ap->o.kind != PO_ADDR || ap->abase.kind != PO_SYM || !ap->abase.sy)
            FAIL("only [param+offset] addressing is supported for .param");
        sym *s = ap->abase.sy;
        in->imm = s->val + ap->aoff;
        if (s->kind == S_KPARAM) {
            if (is_st) FAIL("store to a kernel parameter");
            in->op = OP_LD_KPARAM;
        } else if (s->kind == S_FPARAM) {
            in->op = is_st ? OP_ST_FPARAM : OP_LD_FPARAM;
        } else {
            FAIL("'%.*s' is not a parameter", (int)ap->abase.namelen, ap->abase.name);
        }
        if (in->imm < 0) FAIL("negative parameter offset");
        return 0;
    }
    in->op = is_st ? OP_ST : OP_LD;
    if (ap->o.kind == PO_ADDR && ap->abase.kind == PO_SYM && ap->abase.sy &&
        (ap->abase.sy->kind == S_KPARAM || ap->abase.sy->kind == S_FPARAM))
        FAIL("parameter accessed outside the .param space");
    return addr_o(ps, ap, in, &in->s[0], line);
}

static int decode_atom(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int is_red, int line) {
    static const struct {
        const char *n;
        int op;
    } tab[] = {{"add", AT_ADD}, {"min", AT_MIN}, {"max", AT_MAX}, {"exch", AT_EXCH}, {"cas", AT_CAS},
               {"and", AT_AND}, {"or", AT_OR},   {"xor", AT_XOR}, {"inc", AT_INC},   {"dec", AT_DEC}};
    int aop = -1;
    for (size_t k = 0; k < sizeof tab / sizeof tab[0]; k++)
        if (has(md, tab[k].n)) aop = tab[k].op;
    if (aop < 0) FAIL("unsupported atomic operation");
    int type = last_type(md);
    if (type < 0) FAIL("missing type on atomic");
    if (TY_KIND(type) == TK_F && TY_LG(type) < 2) FAIL("f16 atomics unsupported");
    if (TY_KIND(type) == TK_F16X2 || md->vec > 1) FAIL("vector atomics unsupported");
    if (TY_LG(type) < 2) FAIL("8/16-bit atomics unsupported");
    in->op = OP_ATOM;
    in->mod = (uint8_t)aop;
    in->type = (uint8_t)type;
    in->space = (uint8_t)(md->space < 0 ? SS_GENERIC : md->space);
    if (in->space != SS_GENERIC && in->space != SS_GLOBAL && in->space != SS_SHARED)
        FAIL("atomics on this state space unsupported");
    int k = 0;
    if (!is_red) in->d[0] = dst_o(ps, &ops[k++].o, line);
    int want = k + (aop == AT_CAS ? 3 : 2);
    if (nops != want) FAIL("atomic expects %d operands", want);
    if (addr_o(ps, &ops[k], in, &in->s[0], line)) return -1;
    in->s[1] = src_o(ps, &ops[k + 1].o, type, line);
    if (aop == AT_CAS) in->s[2] = src_o(ps, &ops[k + 2].o, type, line);
    return 0;
}

static int decode_call(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int k = 0;
    const popnd *retl = NULL, *args = NULL;
    if (k < nops && ops[k].o.kind == PO_LIST) retl = &ops[k++];
    int callee;
    if (k < nops && ops[k].o.kind == PO_REG) {
        callee = -1; /* indirect: call (ret), %rd, (args), prototype; */
        in->s[0] = OPND(OPB_REG, ops[k].o.idx);
        ps->m->funcs[ps->fi].has_indirect = 1;
    } else if (k < nops && ops[k].o.kind == PO_SYM && ops[k].o.sy && ops[k].o.sy->kind == S_FUNC) {
        callee = (int)ops[k].o.sy->val;
    } else {
        FAIL("call target must be a declared function or a register");
    }
    k++;
    if (k < nops && ops[k].o.kind == PO_LIST) args = &ops[k++];
    if (callee < 0 && k < nops && ops[k].o.kind == PO_SYM) k++; /* the prototype */
    if (k != nops) FAIL("unexpected operands after the call arguments");
    ptx_module *m = ps->m;
    if (callee >= 0) {
        const ptx_func *cf = &m->funcs[callee];
        int given = args ? args->n : 0;
        if (given != cf->nparams)
            FAIL("call to '%s' passes %d argument%s; it takes %d", cf->name, given, given == 1 ? "" : "s",
                 cf->nparams);
        if (retl && !cf->has_ret)
            FAIL("call to '%s' expects a return value; the function returns none", cf->name);
    }
    ptx_callsite *cs = realloc(m->calls, (size_t)(m->ncalls + 1) * sizeof *cs);
    if (!cs) FAIL("out of memory");
    m->calls = cs;
    cs = &m->calls[m->ncalls];
    memset(cs, 0, sizeof *cs);
    cs->callee = callee;
    int na = args ? args->n : 0;
    cs->arg_off = calloc((size_t)na + 1, sizeof(uint32_t));
    cs->arg_size = calloc((size_t)na + 1, sizeof(uint32_t));
    m->ncalls++;
    if (!cs->arg_off || !cs->arg_size) FAIL("out of memory");
    cs->nargs = na;
    for (int a = 0; a < na; a++) {
        const sopnd *o = &args->v[a];
        if (o->kind != PO_SYM || !o->sy || o->sy->kind != S_FPARAM)
            FAIL("call arguments must be .param variables");
        cs->arg_off[a] = (uint32_t)o->sy->val;
        cs->arg_size[a] = o->sy->size;
    }
    if (retl) {
        if (retl->n != 1) FAIL("exactly one return value is supported");
        const sopnd *o = &retl->v[0];
        if (o->kind != PO_SYM || !o->sy || o->sy->kind != S_FPARAM)
            FAIL("return value must be a .param variable");
        cs->has_ret = 1;
        cs->ret_off = (uint32_t)o->sy->val;
        cs->ret_size = o->sy->size;
    }
    in->op = OP_CALL;
    in->imm = m->ncalls - 1;
    ptx_func *f = &m->funcs[ps->fi];
    if (callee < 0) return 0;
    int seen = 0;
    for (int c = 0; c < f->ncallees; c++)
        if (f->callees[c] == callee) seen = 1;
    if (!seen) {
        int *nc = realloc(f->callees, (size_t)(f->ncallees + 1) * sizeof *nc);
        if (!nc) FAIL("out of memory");
        f->callees = nc;
        f->callees[f->ncallees++] = callee;
    }
    (void)md;
    return 0;
}

/* mov: registers, immediates, special registers, variable addresses, vector pack/unpack */
static int decode_mov(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int type = last_type(md);
    if (type < 0) FAIL("missing type on mov");
    if (need_ops(ps, nops, 2, 2, line, md)) return -1;
    in->type = (uint8_t)type;
    const popnd *d = &ops[0], *a = &ops[1];
    if (type == T_PRED) {
        uint32_t pd = OP_NONE, ps_ = OP_NONE;
        if (pred_o(ps, &d->o, line, &pd, NULL)) return -1;
        in->op = OP_PMOV;
        in->d[0] = pd;
        if (a->o.kind == PO_IMM) {
            in->op = OP_PAND; /* p = c & c */
            in->s[0] = in->s[1] = OP_NONE;
            in->imm = a->o.ival ? 1 : 0;
            in->op = OP_PMOV;
            in->s[0] = OP_NONE;
            return 0;
        }
        int neg = 0;
        if (pred_o(ps, &a->o, line, &ps_, &neg)) return -1;
        in->s[0] = ps_;
        if (neg) in->flags |= F_PNEG_A;
        return 0;
    }
    if (d->o.kind == PO_VEC) {
        in->op = OP_UNPACK;
        in->vec = (uint8_t)d->n;
        if (d->n != 2 && d->n != 4) FAIL("bad unpack width");
        for (int k = 0; k < d->n; k++)
            in->d[k] = dst_o(ps, &d->v[k], line);
        in->s[0] = src_o(ps, &a->o, type, line);
        return 0;
    }
    in->d[0] = dst_o(ps, &d->o, line);
    if (a->o.kind == PO_VEC) {
        in->op = OP_PACK;
        in->vec = (uint8_t)a->n;
        if (a->n != 2 && a->n != 4) FAIL("bad pack width");
        for (int k = 0; k < a->n; k++)
            in->s[k] = src_o(ps, &a->v[k], T_B64, line);
        return 0;
    }
    if (a->o.kind == PO_SPEC && a->o.idx >= SPD_BASE) {
        in->op = a->o.idx == SPD_CLOCK     ? OP_MOV_CLOCK
                 : a->o.idx == SPD_CLOCK64 ? OP_MOV_CLOCK64
                                           : OP_MOV_GTIMER;
        in->mod = (uint8_t)(a->o.idx - SPD_BASE);
        return 0;
    }
    if (a->o.kind == PO_SYM && a->o.sy && a->o.sy->kind == S_LOCAL) {
        in->op = OP_ADD;
        in->type = T_U64;
        in->s[0] = OPND(OPB_REG, (uint32_t)ps->depot_reg);
        in->s[1] = const_slot(ps, (uint64_t)a->o.sy->val);
        return 0;
    }
    if (a->o.kind == PO_SYM && a->o.sy && (a->o.sy->kind == S_KPARAM || a->o.sy->kind == S_FPARAM))
        FAIL("taking the address of a parameter is unsupported");
    if (a->o.kind == PO_SYM && a->o.sy && a->o.sy->kind == S_FUNC) {
        ps->m->funcs[a->o.sy->val].addr_taken = 1;
        in->op = OP_MOV;
        in->s[0] = const_slot(ps, PTX_FUNC_ADDR(a->o.sy->val));
        return ps->failed ? -1 : 0;
    }
    in->op = OP_MOV;
    in->s[0] = src_o(ps, &a->o, type, line);
    return 0;
}

static int wops_add(pstate *ps, uint32_t v) {
    ptx_module *m = ps->m;
    if (m->nwops == m->capwops) {
        int nc = m->capwops ? m->capwops * 2 : 64;
        uint32_t *n = realloc(m->wops, (size_t)nc * sizeof *n);
        if (!n) return -1;
        m->wops = n;
        m->capwops = nc;
    }
    m->wops[m->nwops++] = v;
    return 0;
}

/* A {..} register list of exactly n elements into wops. */
static int wmma_list(pstate *ps, const popnd *p, int n, int is_dst, int line) {
    if (p->o.kind != PO_VEC || p->n != n) return perr(ps, line, "wmma fragment must list %d registers", n);
    for (int k = 0; k < n; k++) {
        uint32_t v = is_dst ? dst_o(ps, &p->v[k], line) : src_o(ps, &p->v[k], T_B32, line);
        if (ps->failed || wops_add(ps, v)) return perr(ps, line, "bad wmma fragment");
    }
    return 0;
}

/* wmma.{load,store,mma} for the m16n16k16 shape with f16 inputs and f16/f32 accumulators; the
 * fragment layout is the emulator's own (WMMA fragments are opaque to programs). */
static int decode_wmma(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    if (!has(md, "m16n16k16")) FAIL("unsupported wmma shape (only m16n16k16)");
    in->aux = (uint32_t)ps->m->nwops;
    in->mod2 = has(md, "col") ? 1 : 0;
    if (has(md, "load") || has(md, "store")) {
        int st = has(md, "store");
        int which = st ? 2 : has(md, "a") ? 0 : has(md, "b") ? 1 : has(md, "c") ? 2 : -1;
        int type = last_type(md);
        if (which < 0 || (type != T_F16 && type != T_F32) || (which < 2 && type != T_F16))
            FAIL("unsupported wmma fragment type");
        if (nops < 2 || nops > 3) FAIL("wmma load/store expects 2 or 3 operands");
        in->op = st ? OP_WMMA_STORE : OP_WMMA_LOAD;
        in->mod = (uint8_t)which;
        in->type = (uint8_t)type;
        in->space = (uint8_t)(md->space < 0 ? SS_GENERIC : md->space);
        int nregs = which < 2 ? 8 : type == T_F32 ? 8 : 4;
        const popnd *ap = st ? &ops[0] : &ops[1], *fp = st ? &ops[1] : &ops[0];
        if (wmma_list(ps, fp, nregs, !st, line)) return -1;
        if (addr_o(ps, ap, in, &in->s[0], line)) return -1;
        in->s[1] = nops == 3 ? src_o(ps, &ops[2].o, T_U32, line) : const_slot(ps, 16);
        return ps->failed ? -1 : 0;
    }
    if (has(md, "mma")) {
        if (md->ntypes != 2 || nops != 4) FAIL("bad wmma.mma");
        int dt = md->types[0], ct = md->types[1];
        if ((dt != T_F16 && dt != T_F32) || (ct != T_F16 && ct != T_F32)) FAIL("unsupported wmma.mma types");
        in->op = OP_WMMA_MMA;
        in->type = (uint8_t)dt;
        in->type2 = (uint8_t)ct;
        if (wmma_list(ps, &ops[0], dt == T_F32 ? 8 : 4, 1, line) || wmma_list(ps, &ops[1], 8, 0, line) ||
            wmma_list(ps, &ops[2], 8, 0, line) || wmma_list(ps, &ops[3], ct == T_F32 ? 8 : 4, 0, line))
            return -1;
        return 0;
    }
    FAIL("unsupported wmma instruction");
}

/* tex / tld4 / txq / suld.b / sust.b / suq on texture and surface objects (unified mode): the
 * handle, coordinates, layer and lod go to wops (see TEXOP_NOPS in ptx.h). */
static int decode_tex(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int tex = is_base(md, "tex"), tld4 = is_base(md, "tld4"), suld = is_base(md, "suld"),
        sust = is_base(md, "sust");
    if (is_base(md, "txq") || is_base(md, "suq")) {
        static const char *q[] = {"width",
                                  "height",
                                  "depth",
                                  "",
                                  "",
                                  "normalized_coords",
                                  "filter_mode",
                                  "addr_mode_0",
                                  "addr_mode_1",
                                  "addr_mode_2",
                                  "array_size",
                                  "num_mipmap_levels"};
        in->op = is_base(md, "txq") ? OP_TXQ : OP_SUQ;
        in->mod2 = 0xff;
        for (int k = 0; k < (int)(sizeof q / sizeof q[0]); k++)
            if (q[k][0] && has(md, q[k])) in->mod2 = (uint8_t)k;
        if (in->mod2 == 0xff || has(md, "level") ||
            (in->op == OP_SUQ && in->mod2 > TQ_DEPTH && in->mod2 != TQ_ARRAY_SIZE))
            FAIL("unsupported %.*s query (width, height, depth, array_size%s are supported)",
                 (int)md->baselen, md->base,
                 in->op == OP_TXQ ? ", normalized_coords, filter_mode, addr_mode_N, num_mipmap_levels" : "");
        if (need_ops(ps, nops, 2, 2, line, md)) return -1;
        if (ops[1].o.kind != PO_ADDR || ops[1].abase.kind != PO_REG || ops[1].n)
            FAIL("%.*s needs a texture/surface object register [%%rd]", (int)md->baselen, md->base);
        in->d[0] = dst_o(ps, &ops[0].o, line);
        in->s[0] = OPND(OPB_REG, ops[1].abase.idx);
        return ps->failed ? -1 : 0;
    }
    static const char *geoms[] = {"1d", "2d", "3d", "a1d", "a2d"};
    int geom = -1;
    for (int k = 0; k < 5; k++)
        if (has(md, geoms[k])) geom = k;
    if (geom < 0)
        FAIL("unsupported texture/surface geometry (1d, 2d, 3d, a1d, a2d are supported; cube maps and "
             "multisample textures are not)");
    in->mod = (uint8_t)geom;
    in->aux = (uint32_t)ps->m->nwops;
    int ncoord = geom == TG_1D ? 1 : geom == TG_2D ? 2 : geom == TG_3D ? 3 : geom == TG_A1D ? 1 : 2;
    int layered = geom >= TG_A1D;
    const popnd *ap = sust ? &ops[0] : &ops[1];
    const popnd *vp = sust ? &ops[1] : &ops[0];
    int ctype = T_S32, nvals;
    if (tex || tld4) {
        if (md->vec != 4 || md->ntypes != 2)
            FAIL("%.*s needs .v4 with a result and a coordinate type", (int)md->baselen, md->base);
        int dt = md->types[0];
        ctype = md->types[1];
        if ((dt != T_F32 && dt != T_S32 && dt != T_U32) || (ctype != T_F32 && ctype != T_S32))
            FAIL("unsupported texture types (results .f32/.s32/.u32, coordinates .f32/.s32)");
        if (tld4 && (geom != TG_2D || ctype != T_F32)) FAIL("tld4 supports .2d with .f32 coordinates");
        in->op = tex ? OP_TEX : OP_TLD4;
        in->type = (uint8_t)dt;
        in->type2 = (uint8_t)ctype;
        in->vec = 4;
        if (tld4) {
            static const char *comp[] = {"r", "g", "b", "a"};
            in->mod2 = 0xff;
            for (int k = 0; k < 4; k++)
                if (has(md, comp[k])) in->mod2 = (uint8_t)k;
            if (in->mod2 == 0xff) FAIL("tld4 needs a component (.r, .g, .b, .a)");
        }
        /* .level takes a lod, .grad two gradient vectors: both sample level 0 (see README) */
        int extra = tex && has(md, "level") ? 1 : tex && has(md, "grad") ? 2 : 0;
        if (need_ops(ps, nops, 2 + extra, 2 + extra, line, md)) return -1;
        if (extra == 2 && (ops[2].o.kind != PO_VEC || ops[3].o.kind != PO_VEC))
            FAIL("tex.grad needs two gradient vectors");
        nvals = 4;
    } else if (suld || sust) {
        if (!has(md, "b")) FAIL("only the untyped (.b) forms of suld/sust are supported (sust.p is not)");
        int t = last_type(md);
        if (t < 0 || TY_KIND(t) != TK_B) FAIL("suld/sust need a .b8/.b16/.b32/.b64 element type");
        if (md->vec > 4 || (TY_LG(t) == 3 && md->vec > 2)) FAIL("bad suld/sust vector width");
        in->op = suld ? OP_SULD : OP_SUST;
        in->type = (uint8_t)t;
        in->vec = (uint8_t)md->vec;
        in->mod2 = has(md, "clamp") ? SU_CLAMP : has(md, "zero") ? SU_ZERO : SU_TRAP;
        if (need_ops(ps, nops, 2, 2, line, md)) return -1;
        nvals = md->vec;
    } else {
        FAIL("unsupported instruction '%.*s'", (int)md->baselen, md->base);
    }
    if (ap->o.kind != PO_ADDR || ap->abase.kind != PO_REG || ap->aoff)
        FAIL("texture/surface operand must be [%%handle, {coordinates}] with the object in a .u64 register "
             "(texture references are not supported)");
    int need = ncoord + layered;
    if (ap->n < need) FAIL("%d coordinates expected, got %d", need, ap->n);
    /* values: a {..} list of nvals registers (a lone register for scalar suld/sust) */
    const sopnd *vals[4];
    if (vp->o.kind == PO_VEC) {
        if (vp->n != nvals) FAIL("%d values expected in {..}, got %d", nvals, vp->n);
        for (int k = 0; k < nvals; k++)
            vals[k] = &vp->v[k];
    } else {
        if (nvals != 1) FAIL("vector operand of %d elements expected", nvals);
        vals[0] = &vp->o;
    }
    uint32_t w[TEXOP_NOPS];
    uint32_t zero = const_slot(ps, 0);
    w[0] = OPND(OPB_REG, ap->abase.idx);
    int first = layered ? 1 : 0;
    for (int k = 0; k < 3; k++)
        w[1 + k] = k < ncoord ? src_o(ps, &ap->v[first + k], ctype, line) : zero;
    w[4] = layered ? src_o(ps, &ap->v[0], T_S32, line) : zero;
    w[5] = (tex || tld4) && nops == 3 ? src_o(ps, &ops[2].o, T_F32, line) : zero;
    for (int k = 0; k < TEXOP_NOPS; k++)
        if (ps->failed || wops_add(ps, w[k])) return perr(ps, line, "bad texture/surface operand");
    for (int k = 0; k < nvals; k++) {
        if (sust) {
            if (wops_add(ps, src_o(ps, vals[k], in->type, line))) return perr(ps, line, "out of memory");
        } else {
            in->d[k] = dst_o(ps, vals[k], line);
        }
    }
    return ps->failed ? -1 : 0;
}

static int simple_arith(const mods *md) {
    static const char *names[] = {"add", "sub", "mul", "div", "rem",   "min",      "max",  "and",
                                  "or",  "xor", "shl", "shr", "mul24", "copysign", "addc", "subc"};
    static const int ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_REM,   OP_MIN,      OP_MAX,  OP_AND,
                              OP_OR,  OP_XOR, OP_SHL, OP_SHR, OP_MUL24, OP_COPYSIGN, OP_ADDC, OP_SUBC};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (is_base(md, names[i])) return ops[i];
    return -1;
}

static int unary_arith(const mods *md) {
    static const char *names[] = {"abs",  "neg",   "not", "cnot", "popc", "clz", "brev", "rcp",
                                  "sqrt", "rsqrt", "ex2", "lg2",  "sin",  "cos", "tanh", "bfind"};
    static const int ops[] = {OP_ABS,  OP_NEG,   OP_NOT, OP_CNOT, OP_POPC, OP_CLZ, OP_BREV, OP_RCP,
                              OP_SQRT, OP_RSQRT, OP_EX2, OP_LG2,  OP_SIN,  OP_COS, OP_TANH, OP_BFIND};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (is_base(md, names[i])) return ops[i];
    return -1;
}

/* f32/f64 arithmetic with .rz/.rm/.rp runs through the rounding-mode aware slow path */
static void fix_round(ptx_insn *in) {
    if (TY_KIND(in->type) != TK_F || TY_LG(in->type) < 2) return;
    if (in->mod != RND_RZ && in->mod != RND_RM && in->mod != RND_RP) return;
    switch (in->op) {
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_FMA:
    case OP_SQRT:
    case OP_RCP:
        in->mod2 = (uint8_t)in->op;
        in->op = OP_FROUND;
        break;
    default:
        break;
    }
}

static void common_flags(const mods *md, ptx_insn *in) {
    if (has(md, "sat")) in->flags |= F_SAT;
    if (has(md, "hi")) in->flags |= F_HI;
    if (has(md, "wide")) in->flags |= F_WIDE;
    if (has(md, "approx")) in->flags |= F_APPROX;
    if (has(md, "ftz")) in->flags |= F_FTZ;
    if (has(md, "cc")) in->flags |= F_CC;
    in->mod = (uint8_t)md->rnd;
}

static int dec_pred_logic(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int unary = is_base(md, "not");
    if (need_ops(ps, nops, unary ? 2 : 3, unary ? 2 : 3, line, md)) return -1;
    in->op = unary ? OP_PNOT : is_base(md, "and") ? OP_PAND : is_base(md, "or") ? OP_POR : OP_PXOR;
    int na = 0, nb = 0;
    if (pred_o(ps, &ops[0].o, line, &in->d[0], NULL)) return -1;
    if (pred_o(ps, &ops[1].o, line, &in->s[0], &na)) return -1;
    if (!unary && pred_o(ps, &ops[2].o, line, &in->s[1], &nb)) return -1;
    if (na) in->flags |= F_PNEG_A;
    if (nb) in->flags |= F_PNEG_B;
    return 0;
}

static int dec_binary(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int type = last_type(md);
    int op = simple_arith(md);
    if ((op == OP_MIN || op == OP_MAX) && type < 0 && (has(md, "s16x2") || has(md, "u16x2"))) {
        /* min/max.{u16x2,s16x2}{.relu}: two 16-bit lanes in one 32-bit register (PTX 8.0) */
        int sgn = has(md, "s16x2"), relu = has(md, "relu");
        if (relu && !sgn) FAIL("'%.*s': .relu needs .s16x2", (int)md->namelen, md->name);
        if (need_ops(ps, nops, 3, 3, line, md)) return -1;
        in->op = OP_MINMAX16X2;
        in->type = T_B32;
        in->mod2 = (uint8_t)((op == OP_MAX ? PM_MAX : 0) | (sgn ? PM_SIGNED : 0) | (relu ? PM_RELU : 0));
        in->d[0] = dst_o(ps, &ops[0].o, line);
        in->s[0] = src_o(ps, &ops[1].o, T_B32, line);
        in->s[1] = src_o(ps, &ops[2].o, T_B32, line);
        return ps->failed ? -1 : 0;
    }
    if (type < 0) FAIL("missing type");
    if (need_ops(ps, nops, 3, 3, line, md)) return -1;
    in->op = (uint16_t)op;
    in->type = (uint8_t)type;
    common_flags(md, in);
    if ((op == OP_DIV) && TY_KIND(type) == TK_F && !has(md, "approx") && !has(md, "full") && !md->rnd &&
        TY_LG(type) == 2)
        FAIL("div.f32 needs .approx, .full or a rounding modifier");
    int stype = (op == OP_SHL || op == OP_SHR) ? T_U32 : type;
    if (op == OP_MIN || op == OP_MAX) {
        /* min/max modifiers, kept in mod2 (unused by integer and f32/f64 min/max otherwise) */
        int relu = has(md, "relu"), nan = has(md, "NaN"), xs = has(md, "xorsign");
        if ((relu || nan || xs) && is_half(type))
            FAIL("'%.*s': .relu/.NaN/.xorsign on half-precision min/max unsupported", (int)md->namelen,
                 md->name);
        if (relu && type != T_S32) FAIL("'%.*s': .relu needs .s32", (int)md->namelen, md->name);
        if ((nan || xs) && type != T_F32)
            FAIL("'%.*s': .NaN/.xorsign.abs need .f32", (int)md->namelen, md->name);
        if (xs && !has(md, "abs")) FAIL("'%.*s': .xorsign needs .abs", (int)md->namelen, md->name);
        in->mod2 = (uint8_t)((relu ? MM_RELU : 0) | (nan ? MM_NAN : 0) | (xs ? MM_XORSIGN : 0));
    }
    if (is_half(type)) {
        if (op != OP_ADD && op != OP_SUB && op != OP_MUL && op != OP_MIN && op != OP_MAX)
            FAIL("half-precision '%.*s' unsupported", (int)md->namelen, md->name);
        in->op = OP_HALF;
        in->mod2 = (uint8_t)op;
        stype = T_B32;
        type = T_B32;
    }
    in->d[0] = dst_o(ps, &ops[0].o, line);
    in->s[0] = src_o(ps, &ops[1].o, type, line);
    in->s[1] = src_o(ps, &ops[2].o, stype, line);
    fix_round(in);
    return ps->failed ? -1 : 0;
}

static int dec_unary(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int type = last_type(md);
    int op = unary_arith(md);
    if (type < 0) FAIL("missing type");
    if (need_ops(ps, nops, 2, 2, line, md)) return -1;
    in->op = (uint16_t)op;
    in->type = (uint8_t)type;
    common_flags(md, in);
    if (has(md, "shiftamt")) in->flags |= F_SHIFTAMT;
    if (is_half(type)) {
        if (op != OP_NEG && op != OP_ABS)
            FAIL("half-precision '%.*s' unsupported", (int)md->namelen, md->name);
        in->op = OP_HALF;
        in->mod2 = (uint8_t)op;
        type = T_B32;
    }
    in->d[0] = dst_o(ps, &ops[0].o, line);
    in->s[0] = src_o(ps, &ops[1].o, type, line);
    fix_round(in);
    return ps->failed ? -1 : 0;
}

static int dec_mad(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int type = last_type(md);
    if (type < 0) FAIL("missing type");
    if (need_ops(ps, nops, 4, 4, line, md)) return -1;
    in->op = is_base(md, "fma")     ? OP_FMA
             : is_base(md, "mad24") ? OP_MAD24
             : is_base(md, "madc")  ? OP_MADC
             : is_base(md, "sad")   ? OP_SAD
                                    : OP_MAD;
    if (in->op == OP_MAD && TY_KIND(type) == TK_F) in->op = OP_FMA;
    if (in->op == OP_FMA && !is_half(type) && TY_KIND(type) != TK_F)
        FAIL("'%.*s' needs a floating-point type (fma has no integer form; use mad)", (int)md->namelen,
             md->name);
    in->type = (uint8_t)type;
    common_flags(md, in);
    if (is_half(type)) {
        if (in->op != OP_FMA) FAIL("half-precision '%.*s' unsupported", (int)md->namelen, md->name);
        in->op = OP_HALF;
        in->mod2 = OP_FMA;
        type = T_B32;
    }
    int ctype = type;
    if (in->flags & F_WIDE) ctype = TY(TY_KIND(type), TY_LG(type) + 1);
    in->d[0] = dst_o(ps, &ops[0].o, line);
    in->s[0] = src_o(ps, &ops[1].o, type, line);
    in->s[1] = src_o(ps, &ops[2].o, type, line);
    in->s[2] = src_o(ps, &ops[3].o, ctype, line);
    fix_round(in);
    return ps->failed ? -1 : 0;
}

static int dec_setp(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int type = last_type(md);
    int cmp = cmp_of(md);
    if (cmp < 0) FAIL("missing comparison on setp");
    int bop = bool_of(md);
    int is_set = is_base(md, "set");
    int ctype = is_set ? (md->ntypes >= 2 ? md->types[1] : -1) : type;
    if (ctype < 0) FAIL("missing type");
    if (TY_KIND(ctype) == TK_F16X2 || (TY_LG(ctype) == 2 && TY_KIND(ctype) == TK_BF))
        FAIL("packed half-precision comparison unsupported");
    if (need_ops(ps, nops, bop ? 4 : 3, bop ? 4 : 3, line, md)) return -1;
    in->op = is_set ? OP_SET : OP_SETP;
    in->mod = (uint8_t)cmp;
    in->mod2 = (uint8_t)bop;
    if (has(md, "ftz")) in->flags |= F_FTZ;
    in->type = (uint8_t)(is_set ? md->types[0] : ctype);
    in->type2 = (uint8_t)ctype;
    if (is_set) {
        in->d[0] = dst_o(ps, &ops[0].o, line);
    } else {
        if (pred_o(ps, &ops[0].o, line, &in->d[0], NULL)) return -1;
        if (ops[0].has_pipe && pred_o(ps, &ops[0].pipe, line, &in->d[1], NULL)) return -1;
    }
    in->s[0] = src_o(ps, &ops[1].o, ctype, line);
    in->s[1] = src_o(ps, &ops[2].o, ctype, line);
    if (bop) {
        int neg = 0;
        if (pred_o(ps, &ops[3].o, line, &in->s[2], &neg)) return -1;
        if (neg) in->flags |= F_PNEG_C;
    }
    return ps->failed ? -1 : 0;
}

static int dec_selp(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int type = last_type(md);
    if (type < 0) FAIL("missing type");
    if (need_ops(ps, nops, 4, 4, line, md)) return -1;
    in->op = OP_SELP;
    in->type = (uint8_t)type;
    in->d[0] = dst_o(ps, &ops[0].o, line);
    in->s[0] = src_o(ps, &ops[1].o, type, line);
    in->s[1] = src_o(ps, &ops[2].o, type, line);
    int neg = 0;
    if (pred_o(ps, &ops[3].o, line, &in->s[2], &neg)) return -1;
    if (neg) in->flags |= F_PNEG_C;
    return ps->failed ? -1 : 0;
}

static int dec_slct(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    if (md->ntypes < 2) FAIL("slct needs two types");
    if (need_ops(ps, nops, 4, 4, line, md)) return -1;
    in->op = OP_SLCT;
    if (has(md, "ftz")) in->flags |= F_FTZ;
    in->type = (uint8_t)md->types[0];
    in->type2 = (uint8_t)md->types[1];
    in->d[0] = dst_o(ps, &ops[0].o, line);
    in->s[0] = src_o(ps, &ops[1].o, in->type, line);
    in->s[1] = src_o(ps, &ops[2].o, in->type, line);
    in->s[2] = src_o(ps, &ops[3].o, in->type2, line);
    return ps->failed ? -1 : 0;
}

static int dec_cvt(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    if (md->ntypes < 2) FAIL("cvt needs two types");
    if (need_ops(ps, nops, 2, 2, line, md)) return -1;
    in->op = OP_CVT;
    in->type = (uint8_t)md->types[0];
    in->type2 = (uint8_t)md->types[1];
    common_flags(md, in);
    if (TY_KIND(in->type) == TK_F16X2 || TY_KIND(in->type2) == TK_F16X2 ||
        (TY_KIND(in->type) == TK_BF && TY_LG(in->type) == 2) ||
        (TY_KIND(in->type2) == TK_BF && TY_LG(in->type2) == 2))
        FAIL("cvt with packed half types unsupported");
    in->d[0] = dst_o(ps, &ops[0].o, line);
    in->s[0] = src_o(ps, &ops[1].o, in->type2, line);
    return ps->failed ? -1 : 0;
}

static int dec_cvta(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int type = last_type(md);
    int to = has(md, "to");
    if (md->space < 0 || md->space == SS_PARAM) FAIL("unsupported state space on cvta");
    if (need_ops(ps, nops, 2, 2, line, md)) return -1;
    in->space = (uint8_t)md->space;
    in->type = (uint8_t)(type < 0 ? T_U64 : type);
    if (is_base(md, "isspacep")) {
        in->op = OP_ISSPACEP;
        if (pred_o(ps, &ops[0].o, line, &in->d[0], NULL)) return -1;
    } else {
        in->op = to ? OP_CVTA_TO : OP_CVTA_FROM;
        in->d[0] = dst_o(ps, &ops[0].o, line);
    }
    in->s[0] = src_o(ps, &ops[1].o, T_U64, line);
    return ps->failed ? -1 : 0;
}

static int dec_bfe(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int type = last_type(md);
    if (type < 0) FAIL("missing type");
    int n = is_base(md, "bfi") || is_base(md, "lop3") ? 5 : 4;
    if (need_ops(ps, nops, n, n, line, md)) return -1;
    in->type = (uint8_t)type;
    in->d[0] = dst_o(ps, &ops[0].o, line);
    in->s[0] = src_o(ps, &ops[1].o, type, line);
    in->s[1] = src_o(ps, &ops[2].o, type, line);
    if (is_base(md, "bfe")) {
        in->op = OP_BFE;
        in->s[1] = src_o(ps, &ops[2].o, T_U32, line);
        in->s[2] = src_o(ps, &ops[3].o, T_U32, line);
    } else if (is_base(md, "bfi")) {
        in->op = OP_BFI;
        in->s[2] = src_o(ps, &ops[3].o, T_U32, line);
        in->s[3] = src_o(ps, &ops[4].o, T_U32, line);
    } else if (is_base(md, "prmt")) {
        in->op = OP_PRMT;
        in->s[2] = src_o(ps, &ops[3].o, T_U32, line);
        static const char *modes[] = {"f4e", "b4e", "rc8", "ecl", "ecr", "rc16"};
        for (int k = 0; k < 6; k++)
            if (has(md, modes[k])) in->mod = (uint8_t)(k + 1);
    } else if (is_base(md, "lop3")) {
        in->op = OP_LOP3;
        in->s[2] = src_o(ps, &ops[3].o, type, line);
        if (ops[4].o.kind != PO_IMM) FAIL("lop3 needs an immediate lookup table");
        in->imm = (int64_t)(ops[4].o.ival & 0xff);
    } else {
        in->op = OP_SHF;
        in->s[2] = src_o(ps, &ops[3].o, T_U32, line);
        if (has(md, "l")) in->flags |= F_LEFT;
        if (has(md, "clamp")) in->flags |= F_CLAMP;
    }
    return ps->failed ? -1 : 0;
}

static int dec_bmsk(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int type = last_type(md);
    /* bmsk.{clamp,wrap}.b32 d, a, b: a mask of b bits from bit a (PTX 7.6) */
    int clamp = has(md, "clamp");
    if (!clamp && !has(md, "wrap")) FAIL("bmsk needs .clamp or .wrap");
    if (type != T_B32) FAIL("bmsk needs .b32");
    if (need_ops(ps, nops, 3, 3, line, md)) return -1;
    in->op = OP_BMSK;
    in->type = T_B32;
    if (clamp) in->flags |= F_CLAMP;
    in->d[0] = dst_o(ps, &ops[0].o, line);
    in->s[0] = src_o(ps, &ops[1].o, T_U32, line);
    in->s[1] = src_o(ps, &ops[2].o, T_U32, line);
    return ps->failed ? -1 : 0;
}

static int dec_dp4a(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    if (md->ntypes < 2 || need_ops(ps, nops, 4, 4, line, md)) FAIL("bad %.*s", (int)md->namelen, md->name);
    in->op = OP_DP4A;
    in->type = (uint8_t)md->types[0];
    in->type2 = (uint8_t)md->types[1];
    in->mod = is_base(md, "dp4a") ? 0 : has(md, "hi") ? 2 : 1;
    in->d[0] = dst_o(ps, &ops[0].o, line);
    in->s[0] = src_o(ps, &ops[1].o, T_U32, line);
    in->s[1] = src_o(ps, &ops[2].o, T_U32, line);
    in->s[2] = src_o(ps, &ops[3].o, T_U32, line);
    return ps->failed ? -1 : 0;
}

static int dec_cp(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    /* cp.async.{ca,cg}.shared{::cta}.global [dst], [src], size{, src-size}; commit/wait are no-ops
     * because the copy is done when the instruction runs */
    if (has(md, "commit_group") || has(md, "wait_group") || has(md, "wait_all")) {
        in->op = OP_NOP;
        return 0;
    }
    if (!has(md, "async") || has(md, "bulk") || !(has(md, "shared") || has(md, "shared::cta")) || nops < 3 ||
        nops > 4)
        FAIL("unsupported instruction '%.*s'", (int)md->namelen, md->name);
    if (ops[2].o.kind != PO_IMM || (ops[2].o.ival != 4 && ops[2].o.ival != 8 && ops[2].o.ival != 16))
        FAIL("cp.async size must be 4, 8 or 16");
    in->op = OP_CPASYNC;
    in->vec = (uint8_t)ops[2].o.ival;
    uint32_t sbase;
    if (addr_o(ps, &ops[1], in, &sbase, line)) return -1;
    int64_t soff = in->imm;
    if (addr_o(ps, &ops[0], in, &in->s[0], line)) return -1;
    in->s[1] = sbase;
    in->s[3] = const_slot(ps, (uint64_t)soff);
    in->s[2] = nops == 4 ? src_o(ps, &ops[3].o, T_U32, line) : const_slot(ps, (uint64_t)ops[2].o.ival);
    return ps->failed ? -1 : 0;
}

static int dec_testp(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int type = last_type(md);
    static const char *k[] = {"finite", "infinite", "number", "notanumber", "normal", "subnormal"};
    in->op = OP_TESTP;
    in->mod = 0xff;
    for (int j = 0; j < 6; j++)
        if (has(md, k[j])) in->mod = (uint8_t)j;
    if (in->mod == 0xff || type < 0) FAIL("bad testp");
    if (need_ops(ps, nops, 2, 2, line, md)) return -1;
    in->type = (uint8_t)type;
    if (pred_o(ps, &ops[0].o, line, &in->d[0], NULL)) return -1;
    in->s[0] = src_o(ps, &ops[1].o, type, line);
    return ps->failed ? -1 : 0;
}

static int dec_bra(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    if (need_ops(ps, nops, 1, 1, line, md)) return -1;
    if (ops[0].o.kind != PO_SYM) FAIL("bra needs a label");
    in->op = OP_BRA;
    if (has(md, "uni")) in->flags |= F_UNI;
    if (ops[0].o.sy && ops[0].o.sy->kind == S_LABEL)
        in->imm = ops[0].o.sy->val;
    else
        add_fixup(ps, ps->m->funcs[ps->fi].ncode - 1, ops[0].o.name, ops[0].o.namelen, line);
    return ps->failed ? -1 : 0;
}

static int dec_ret(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    if (nops) FAIL("unexpected operands");
    in->op = is_base(md, "ret")    ? OP_RET
             : is_base(md, "exit") ? OP_EXIT
             : is_base(md, "trap") ? OP_TRAP
                                   : OP_BRKPT;
    return 0;
}

static int dec_bar(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    if (has(md, "warp")) { /* bar.warp.sync mask: the mask's lanes of a diverged warp meet here */
        if (need_ops(ps, nops, 1, 1, line, md)) return -1;
        in->op = OP_WARPSYNC;
        in->s[0] = src_o(ps, &ops[0].o, T_B32, line);
        return ps->failed ? -1 : 0;
    }
    if (has(md, "cluster")) FAIL("cluster barriers unsupported");
    if (has(md, "red")) {
        /* bar.red.popc.u32 d, a{, b}, {!}c / bar.red.{and,or}.pred p, a{, b}, {!}c */
        int kind = has(md, "popc") ? 0 : has(md, "and") ? 1 : has(md, "or") ? 2 : -1;
        if (kind < 0 || nops < 3 || nops > 4) FAIL("bad bar.red");
        in->op = OP_BAR_RED;
        in->mod = (uint8_t)kind;
        int neg = 0;
        if (pred_o(ps, &ops[nops - 1].o, line, &in->s[2], &neg)) return -1;
        if (neg) in->flags |= F_PNEG_A;
        in->s[0] = src_o(ps, &ops[1].o, T_U32, line);
        int16_t guard = in->guard; /* emit may move the code array: read `in` first */
        uint8_t gneg = in->gneg;
        ptx_insn *rd = emit(ps, line);
        if (ps->failed) return -1;
        rd->op = OP_BAR_RED_READ;
        rd->mod = (uint8_t)kind;
        rd->guard = guard;
        rd->gneg = gneg;
        if (kind == 0)
            rd->d[0] = dst_o(ps, &ops[0].o, line);
        else if (pred_o(ps, &ops[0].o, line, &rd->d[0], NULL))
            return -1;
        return ps->failed ? -1 : 0;
    }
    in->op = has(md, "arrive") ? OP_BAR_ARRIVE : OP_BAR;
    if (nops < 1 || nops > 2) FAIL("bar expects 1 or 2 operands");
    in->s[0] = src_o(ps, &ops[0].o, T_U32, line);
    if (nops == 2) in->s[1] = src_o(ps, &ops[1].o, T_U32, line);
    return ps->failed ? -1 : 0;
}

static int dec_membar(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    in->op = OP_NOP;
    return 0;
}

static int dec_nanosleep(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    in->op = OP_NANOSLEEP;
    return 0;
}

static int dec_activemask(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    if (need_ops(ps, nops, 1, 1, line, md)) return -1;
    in->op = OP_ACTIVEMASK;
    in->d[0] = dst_o(ps, &ops[0].o, line);
    return ps->failed ? -1 : 0;
}

static int dec_shfl(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    static const char *k[] = {"up", "down", "bfly", "idx"};
    in->op = OP_SHFL;
    in->mod = 0xff;
    for (int j = 0; j < 4; j++)
        if (has(md, k[j])) in->mod = (uint8_t)j;
    if (in->mod == 0xff) FAIL("bad shfl mode");
    int sync = has(md, "sync");
    if (need_ops(ps, nops, sync ? 5 : 4, sync ? 5 : 4, line, md)) return -1;
    in->type = T_B32;
    in->d[0] = dst_o(ps, &ops[0].o, line);
    if (ops[0].has_pipe && pred_o(ps, &ops[0].pipe, line, &in->d[1], NULL)) return -1;
    in->s[0] = src_o(ps, &ops[1].o, T_B32, line);
    in->s[1] = src_o(ps, &ops[2].o, T_B32, line);
    in->s[2] = src_o(ps, &ops[3].o, T_B32, line);
    in->s[3] = sync ? src_o(ps, &ops[4].o, T_B32, line) : const_slot(ps, 0xffffffffu);
    return ps->failed ? -1 : 0;
}

static int dec_vote(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    static const char *k[] = {"all", "any", "uni", "ballot"};
    in->op = OP_VOTE;
    in->mod = 0xff;
    for (int j = 0; j < 4; j++)
        if (has(md, k[j])) in->mod = (uint8_t)j;
    if (in->mod == 0xff) FAIL("bad vote mode");
    int sync = has(md, "sync");
    if (need_ops(ps, nops, sync ? 3 : 2, sync ? 3 : 2, line, md)) return -1;
    if (in->mod == 3)
        in->d[0] = dst_o(ps, &ops[0].o, line);
    else if (pred_o(ps, &ops[0].o, line, &in->d[0], NULL))
        return -1;
    int neg = 0;
    if (pred_o(ps, &ops[1].o, line, &in->s[0], &neg)) return -1;
    if (neg) in->flags |= F_PNEG_A;
    in->s[1] = sync ? src_o(ps, &ops[2].o, T_B32, line) : const_slot(ps, 0xffffffffu);
    return ps->failed ? -1 : 0;
}

static int dec_match(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int type = last_type(md);
    in->op = OP_MATCH;
    in->mod = has(md, "all") ? 1 : 0;
    if (type < 0) FAIL("missing type");
    if (need_ops(ps, nops, 3, 3, line, md)) return -1;
    in->type = (uint8_t)type;
    in->d[0] = dst_o(ps, &ops[0].o, line);
    if (ops[0].has_pipe && pred_o(ps, &ops[0].pipe, line, &in->d[1], NULL)) return -1;
    in->s[0] = src_o(ps, &ops[1].o, type, line);
    in->s[1] = src_o(ps, &ops[2].o, T_B32, line);
    return ps->failed ? -1 : 0;
}

static int dec_redux(pstate *ps, mods *md, popnd *ops, int nops, ptx_insn *in, int line) {
    int type = last_type(md);
    static const struct {
        const char *n;
        int op;
    } tab[] = {{"add", AT_ADD}, {"min", AT_MIN}, {"max", AT_MAX},
               {"and", AT_AND}, {"or", AT_OR},   {"xor", AT_XOR}};
    in->op = OP_REDUX;
    in->mod = 0xff;
    for (size_t j = 0; j < sizeof tab / sizeof tab[0]; j++)
        if (has(md, tab[j].n)) in->mod = (uint8_t)tab[j].op;
    if (in->mod == 0xff || type < 0 || TY_KIND(type) == TK_F) FAIL("unsupported redux");
    if (need_ops(ps, nops, 3, 3, line, md)) return -1;
    in->type = (uint8_t)type;
    in->d[0] = dst_o(ps, &ops[0].o, line);
    in->s[0] = src_o(ps, &ops[1].o, type, line);
    in->s[1] = src_o(ps, &ops[2].o, T_B32, line);
    return ps->failed ? -1 : 0;
}

int ptx_decode(pstate *ps, const char *opname, uint32_t oplen, popnd *ops, int nops, int guard, int gneg,
               int line) {
    mods mdv, *md = &mdv;
    split(opname, oplen, md);
    ptx_insn *in = emit(ps, line);
    if (ps->failed) return -1;
    in->guard = (int16_t)guard;
    in->gneg = (uint8_t)gneg;
    int type = last_type(md);

    for (int k = 0; k < nops; k++)
        if (ops[k].has_pipe && !is_base(md, "setp") && !is_base(md, "shfl") && !is_base(md, "match"))
            FAIL("unexpected '|' operand");

    if (is_base(md, "mov")) return decode_mov(ps, md, ops, nops, in, line);
    if (is_base(md, "ld") || is_base(md, "ldu")) return decode_ldst(ps, md, ops, nops, in, 0, line);
    if (is_base(md, "st")) return decode_ldst(ps, md, ops, nops, in, 1, line);
    if (is_base(md, "atom")) return decode_atom(ps, md, ops, nops, in, 0, line);
    if (is_base(md, "red")) return decode_atom(ps, md, ops, nops, in, 1, line);
    if (is_base(md, "call")) return decode_call(ps, md, ops, nops, in, line);

    /* predicate logic */
    if (type == T_PRED &&
        (is_base(md, "and") || is_base(md, "or") || is_base(md, "xor") || is_base(md, "not")))
        return dec_pred_logic(ps, md, ops, nops, in, line);

    if (simple_arith(md) >= 0) return dec_binary(ps, md, ops, nops, in, line);
    if (unary_arith(md) >= 0) return dec_unary(ps, md, ops, nops, in, line);
    if (is_base(md, "mad") || is_base(md, "fma") || is_base(md, "mad24") || is_base(md, "madc") ||
        is_base(md, "sad"))
        return dec_mad(ps, md, ops, nops, in, line);
    if (is_base(md, "setp") || is_base(md, "set")) return dec_setp(ps, md, ops, nops, in, line);
    if (is_base(md, "selp")) return dec_selp(ps, md, ops, nops, in, line);
    if (is_base(md, "slct")) return dec_slct(ps, md, ops, nops, in, line);
    if (is_base(md, "cvt")) return dec_cvt(ps, md, ops, nops, in, line);
    if (is_base(md, "cvta") || is_base(md, "isspacep")) return dec_cvta(ps, md, ops, nops, in, line);
    if (is_base(md, "bfe") || is_base(md, "bfi") || is_base(md, "prmt") || is_base(md, "lop3") ||
        is_base(md, "shf"))
        return dec_bfe(ps, md, ops, nops, in, line);
    if (is_base(md, "bmsk")) return dec_bmsk(ps, md, ops, nops, in, line);
    if (is_base(md, "dp4a") || is_base(md, "dp2a")) return dec_dp4a(ps, md, ops, nops, in, line);
    if (is_base(md, "cp")) return dec_cp(ps, md, ops, nops, in, line);
    if (is_base(md, "wmma")) return decode_wmma(ps, md, ops, nops, in, line);
    if (is_base(md, "tex") || is_base(md, "tld4") || is_base(md, "txq") || is_base(md, "suld") ||
        is_base(md, "sust") || is_base(md, "suq"))
        return decode_tex(ps, md, ops, nops, in, line);
    if (is_base(md, "testp")) return dec_testp(ps, md, ops, nops, in, line);
    if (is_base(md, "bra")) return dec_bra(ps, md, ops, nops, in, line);
    if (is_base(md, "ret") || is_base(md, "exit") || is_base(md, "trap") || is_base(md, "brkpt"))
        return dec_ret(ps, md, ops, nops, in, line);
    if (is_base(md, "bar") || is_base(md, "barrier")) return dec_bar(ps, md, ops, nops, in, line);
    if (is_base(md, "membar") || is_base(md, "fence") || is_base(md, "prefetch") ||
        is_base(md, "prefetchu") || is_base(md, "pmevent") || is_base(md, "griddepcontrol"))
        return dec_membar(ps, md, ops, nops, in, line);
    if (is_base(md, "nanosleep")) return dec_nanosleep(ps, md, ops, nops, in, line);
    if (is_base(md, "activemask")) return dec_activemask(ps, md, ops, nops, in, line);
    if (is_base(md, "shfl")) return dec_shfl(ps, md, ops, nops, in, line);
    if (is_base(md, "vote")) return dec_vote(ps, md, ops, nops, in, line);
    if (is_base(md, "match")) return dec_match(ps, md, ops, nops, in, line);
    if (is_base(md, "redux")) return dec_redux(ps, md, ops, nops, in, line);
    FAIL("unsupported instruction '%.*s'", (int)oplen, opname);
}
