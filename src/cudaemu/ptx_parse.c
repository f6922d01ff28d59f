/* ptx_parse.c — the structure of a PTX module: directives, variable and function declarations,
 * register/param/local declarations, labels and operands; hands each instruction to ptx_decode
 * and finishes the module (branch targets, constants, shared layout, call graph). */
#include "ptx_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- symbol table ---------- */
static uint32_t hash_str(const char *k, uint32_t len) {
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)k[i]) * 16777619u;
    return h;
}

sym *symtab_get(symtab *t, const char *k, uint32_t len) {
    if (!t->cap) return NULL;
    uint32_t i = hash_str(k, len) & (t->cap - 1);
    while (t->e[i].key) {
        if (strlen(t->e[i].key) == len && memcmp(t->e[i].key, k, len) == 0) return &t->e[i];
        i = (i + 1) & (t->cap - 1);
    }
    return NULL;
}

sym *symtab_put(symtab *t, const char *k, uint32_t len) {
    sym *s = symtab_get(t, k, len);
    if (s) return s;
    if ((t->n + 1) * 2 > t->cap) {
        uint32_t nc = t->cap ? t->cap * 2 : 64;
        sym *ne = calloc(nc, sizeof *ne);
        if (!ne) return NULL;
        for (uint32_t j = 0; j < t->cap; j++) {
            if (!t->e[j].key) continue;
            uint32_t i = hash_str(t->e[j].key, (uint32_t)strlen(t->e[j].key)) & (nc - 1);
            while (ne[i].key)
                i = (i + 1) & (nc - 1);
            ne[i] = t->e[j];
        }
        free(t->e);
        t->e = ne;
        t->cap = nc;
    }
    uint32_t i = hash_str(k, len) & (t->cap - 1);
    while (t->e[i].key)
        i = (i + 1) & (t->cap - 1);
    t->e[i].key = strndup(k, len);
    if (!t->e[i].key) return NULL;
    t->e[i].kind = S_NONE;
    t->n++;
    return &t->e[i];
}

void symtab_free(symtab *t) {
    for (uint32_t i = 0; i < t->cap; i++)
        free(t->e[i].key);
    free(t->e);
    t->e = NULL;
    t->cap = t->n = 0;
}

/* ---------- errors ---------- */
int perr(pstate *ps, int line, const char *fmt, ...) {
    if (ps->failed) return -1;
    ps->failed = 1;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->log && ps->logsz) snprintf(ps->log, ps->logsz, "ptxas (cudaemu): line %d: %s", line, msg);
    return -1;
}

/* ---------- helpers for the decoder ---------- */
#define GROW(arr, n, cap, init)                                                                              \
    do {                                                                                                     \
        if ((n) >= (cap)) {                                                                                  \
            size_t nc_ = (cap) ? (size_t)(cap)*2 : (init);                                                   \
            void *np_ = realloc((arr), nc_ * sizeof *(arr));                                                 \
            if (!np_) return 0;                                                                              \
            (arr) = np_;                                                                                     \
            (cap) = nc_;                                                                                     \
        }                                                                                                    \
    } while (0)

static ptx_func *curf(pstate *ps) { return &ps->m->funcs[ps->fi]; }

static int grow_consts(pstate *ps) {
    ptx_func *f = curf(ps);
    GROW(ps->cvals, f->nconsts, f->capconsts, 64);
    return 1;
}

/* Whether const slot i of the current function will be patched (a shared variable's address,
 * known only once the module's shared layout is): such a slot holds a placeholder and must never
 * be reused for an immediate of the same value. */
static int const_slot_patched(const pstate *ps, uint32_t i) {
    for (int k = ps->npatches - 1; k >= 0; k--) {
        const patch *p = &ps->patches[k];
        if (p->func != ps->fi) break;
        if (p->is_const && p->index == i) return 1;
    }
    return 0;
}

uint32_t const_slot(pstate *ps, uint64_t v) {
    ptx_func *f = curf(ps);
    for (uint32_t i = 0; i < f->nconsts; i++)
        if (ps->cvals[i] == v && !const_slot_patched(ps, i)) return OPND(OPB_CONST, i);
    if (!grow_consts(ps)) {
        perr(ps, 0, "out of memory");
        return OPND(OPB_SPEC, SP_ZERO);
    }
    ps->cvals[f->nconsts] = v;
    return OPND(OPB_CONST, f->nconsts++);
}

/* A const slot that is never shared (it will be patched). */
uint32_t const_slot_unique(pstate *ps, uint64_t v) {
    ptx_func *f = curf(ps);
    if (!grow_consts(ps)) {
        perr(ps, 0, "out of memory");
        return OPND(OPB_SPEC, SP_ZERO);
    }
    ps->cvals[f->nconsts] = v;
    return OPND(OPB_CONST, f->nconsts++);
}

static __thread ptx_insn
    dummy_insn; /* written after an allocation failure; per thread (jitlink/ parses unlocked) */
static int grow_code(ptx_func *f) {
    GROW(f->code, f->ncode, f->capcode, 64);
    return 1;
}

ptx_insn *emit(pstate *ps, int line) {
    ptx_func *f = curf(ps);
    if (!grow_code(f)) {
        perr(ps, line, "out of memory");
        return &dummy_insn;
    }
    ptx_insn *in = &f->code[f->ncode++];
    memset(in, 0, sizeof *in);
    in->guard = -1;
    in->vec = 1;
    in->type = T_NONE;
    in->type2 = T_NONE;
    for (int k = 0; k < 4; k++)
        in->d[k] = in->s[k] = OP_NONE;
    in->line = line;
    return in;
}

static int grow_patch(pstate *ps) {
    GROW(ps->patches, ps->npatches, ps->cappatches, 16);
    return 1;
}

void add_patch(pstate *ps, int is_const, uint32_t index, int var, int64_t add) {
    if (!grow_patch(ps)) {
        perr(ps, 0, "out of memory");
        return;
    }
    patch *p = &ps->patches[ps->npatches++];
    p->func = ps->fi;
    p->is_const = is_const;
    p->index = index;
    p->var = var;
    p->add = add;
}

static int grow_fix(pstate *ps) {
    GROW(ps->fix, ps->nfix, ps->capfix, 64);
    return 1;
}

void add_fixup(pstate *ps, uint32_t insn, const char *name, uint32_t len, int line) {
    if (!grow_fix(ps)) {
        perr(ps, line, "out of memory");
        return;
    }
    fixup *x = &ps->fix[ps->nfix++];
    x->insn = insn;
    x->label = strndup(name, len);
    x->line = line;
}

uint32_t new_reg(pstate *ps) { return curf(ps)->nregs++; }

static int grow_shadows(pstate *ps) {
    GROW(ps->shadows, ps->nshadows, ps->capshadows, 16);
    return 1;
}

/* symtab_put for a function-scope declaration: inside a nested block the old meaning is kept
 * so that the closing brace can restore it. */
static sym *declare_sym(pstate *ps, const char *k, uint32_t len) {
    if (ps->depth > 1) {
        sym *old = symtab_get(&ps->l, k, len);
        if (!grow_shadows(ps)) return NULL;
        shadow *sh = &ps->shadows[ps->nshadows];
        sh->key = strndup(k, len);
        if (!sh->key) return NULL;
        sh->had = old && old->kind != S_NONE;
        if (sh->had) sh->old = *old;
        ps->nshadows++;
    }
    return symtab_put(&ps->l, k, len);
}

static void close_block(pstate *ps, int mark) {
    while (ps->nshadows > mark) {
        shadow *sh = &ps->shadows[--ps->nshadows];
        sym *s = symtab_get(&ps->l, sh->key, (uint32_t)strlen(sh->key));
        if (s) {
            if (sh->had) {
                s->kind = sh->old.kind;
                s->val = sh->old.val;
                s->size = sh->old.size;
            } else {
                s->kind = S_NONE;
            }
        }
        free(sh->key);
    }
}

/* ---------- token helpers ---------- */
/* The token under the cursor, or k tokens ahead. Past the end every read answers the final TK_EOF
 * token, so no parser path can read beyond the token array however far it advances. */
static ptx_tok *peek(pstate *ps, int k) {
    long at = (long)ps->i + k;
    return &ps->t[at >= 0 && at < ps->n ? at : ps->n - 1];
}
static ptx_tok *tk(pstate *ps) { return peek(ps, 0); }
static int tis(const ptx_tok *t, const char *s) {
    size_t l = strlen(s);
    return t->kind == TK_ID && t->len == l && memcmp(t->s, s, l) == 0;
}
static int tpunct(const ptx_tok *t, char c) { return t->kind == TK_PUNCT && t->punct == c; }
static int expect(pstate *ps, char c) {
    if (!tpunct(tk(ps), c))
        return perr(ps, tk(ps)->line, "expected '%c' near '%.*s'", c, (int)tk(ps)->len, tk(ps)->s);
    ps->i++;
    return 0;
}
static void skip_line(pstate *ps) {
    int line = tk(ps)->line;
    while (tk(ps)->kind != TK_EOF && tk(ps)->line == line)
        ps->i++;
}

static int type_from_name(const char *s, uint32_t len) {
    static const struct {
        const char *n;
        int t;
    } tab[] = {{".u8", T_U8},     {".u16", T_U16},     {".u32", T_U32},      {".u64", T_U64},
               {".s8", T_S8},     {".s16", T_S16},     {".s32", T_S32},      {".s64", T_S64},
               {".b8", T_B8},     {".b16", T_B16},     {".b32", T_B32},      {".b64", T_B64},
               {".f16", T_F16},   {".f32", T_F32},     {".f64", T_F64},      {".pred", T_PRED},
               {".bf16", T_BF16}, {".f16x2", T_F16X2}, {".bf16x2", T_BF16X2}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strlen(tab[i].n) == len && memcmp(tab[i].n, s, len) == 0) return tab[i].t;
    return -1;
}

/* ---------- operands ---------- */
static const struct {
    const char *n;
    int idx;
} spec_tab[] = {
    {"%tid.x", SP_TID_X},
    {"%tid.y", SP_TID_Y},
    {"%tid.z", SP_TID_Z},
    {"%ntid.x", SP_NTID_X},
    {"%ntid.y", SP_NTID_Y},
    {"%ntid.z", SP_NTID_Z},
    {"%ctaid.x", SP_CTAID_X},
    {"%ctaid.y", SP_CTAID_Y},
    {"%ctaid.z", SP_CTAID_Z},
    {"%nctaid.x", SP_NCTAID_X},
    {"%nctaid.y", SP_NCTAID_Y},
    {"%nctaid.z", SP_NCTAID_Z},
    {"%laneid", SP_LANEID},
    {"%warpid", SP_WARPID},
    {"%nwarpid", SP_NWARPID},
    {"%smid", SP_SMID},
    {"%nsmid", SP_NSMID},
    {"%gridid", SP_GRIDID},
    {"%lanemask_eq", SP_LANEMASK_EQ},
    {"%lanemask_lt", SP_LANEMASK_LT},
    {"%lanemask_le", SP_LANEMASK_LE},
    {"%lanemask_gt", SP_LANEMASK_GT},
    {"%lanemask_ge", SP_LANEMASK_GE},
    {"%dynamic_smem_size", SP_DYN_SMEM},
    {"%total_smem_size", SP_TOTAL_SMEM},
    {"%clock", SPD_CLOCK},
    {"%clock64", SPD_CLOCK64},
    {"%globaltimer", SPD_GTIMER},
    {"%globaltimer_lo", SPD_GTIMER_LO},
    {"%globaltimer_hi", SPD_GTIMER_HI},
};

static int parse_simple(pstate *ps, sopnd *o) {
    memset(o, 0, sizeof *o);
    ptx_tok *t = tk(ps);
    int neg = 0;
    if (tpunct(t, '!')) {
        o->neg = 1;
        ps->i++;
        t = tk(ps);
    }
    if (tpunct(t, '-')) {
        neg = 1;
        ps->i++;
        t = tk(ps);
    }
    if (t->kind == TK_INT) {
        o->kind = PO_IMM;
        o->ival = neg ? (uint64_t)0 - t->ival : t->ival;
        ps->i++;
        return 0;
    }
    if (t->kind == TK_F32 || t->kind == TK_F64) {
        o->kind = t->kind == TK_F32 ? PO_F32 : PO_F64;
        o->ival = t->ival;
        if (neg) o->ival ^= t->kind == TK_F32 ? 0x80000000ull : 0x8000000000000000ull;
        ps->i++;
        return 0;
    }
    if (t->kind == TK_FLT) {
        o->kind = PO_FLT;
        o->fval = neg ? -t->fval : t->fval;
        ps->i++;
        return 0;
    }
    if (t->kind != TK_ID) return perr(ps, t->line, "unexpected operand '%.*s'", (int)t->len, t->s);
    if (neg) return perr(ps, t->line, "negated register operand");
    ps->i++;
    if (t->len == 1 && t->s[0] == '_') {
        o->kind = PO_SINK;
        return 0;
    }
    sym *s = symtab_get(&ps->l, t->s, t->len);
    if (s && s->kind == S_NONE) s = NULL;
    if (s && (s->kind == S_REG || s->kind == S_PRED)) {
        o->kind = s->kind == S_REG ? PO_REG : PO_PRED;
        o->idx = (uint32_t)s->val;
        return 0;
    }
    if (t->s[0] == '%') {
        for (size_t i = 0; i < sizeof spec_tab / sizeof spec_tab[0]; i++) {
            if (strlen(spec_tab[i].n) == t->len && memcmp(spec_tab[i].n, t->s, t->len) == 0) {
                o->kind = PO_SPEC;
                o->idx = (uint32_t)spec_tab[i].idx;
                return 0;
            }
        }
        if (!s) return perr(ps, t->line, "undeclared register '%.*s'", (int)t->len, t->s);
    }
    o->kind = PO_SYM;
    o->name = t->s;
    o->namelen = t->len;
    o->sy = s ? s : symtab_get(&ps->g, t->s, t->len);
    return 0;
}

static int parse_operand(pstate *ps, popnd *p) {
    memset(p, 0, sizeof *p);
    ptx_tok *t = tk(ps);
    if (tpunct(t, '[')) {
        ps->i++;
        p->o.kind = PO_ADDR;
        p->abase.kind = PO_NONE;
        t = tk(ps);
        if (t->kind == TK_ID) {
            if (parse_simple(ps, &p->abase)) return -1;
            if (p->abase.kind != PO_REG && p->abase.kind != PO_SYM)
                return perr(ps, t->line, "bad address base '%.*s'", (int)t->len, t->s);
            if (tpunct(tk(ps), '+')) {
                ps->i++;
                int neg = 0;
                if (tpunct(tk(ps), '-')) {
                    neg = 1;
                    ps->i++;
                }
                if (tk(ps)->kind != TK_INT) return perr(ps, tk(ps)->line, "bad address offset");
                p->aoff = (int64_t)(neg ? 0 - tk(ps)->ival : tk(ps)->ival); /* wraps, as the address does */
                ps->i++;
            } else if (tpunct(tk(ps), '-')) {
                ps->i++;
                if (tk(ps)->kind != TK_INT) return perr(ps, tk(ps)->line, "bad address offset");
                p->aoff = (int64_t)(0 - tk(ps)->ival);
                ps->i++;
            }
            if (tpunct(tk(ps), ',')) { /* tex/tld4/suld/sust: [handle, {coordinates}] */
                ps->i++;
                if (!tpunct(tk(ps), '{'))
                    return perr(ps, tk(ps)->line,
                                "expected '{' coordinates in a texture/surface operand (a separate "
                                "sampler, texmode_independent, is not supported)");
                ps->i++;
                while (!tpunct(tk(ps), '}')) {
                    if (p->n >= 4) return perr(ps, t->line, "too many texture coordinates");
                    if (parse_simple(ps, &p->v[p->n++])) return -1;
                    if (tpunct(tk(ps), ','))
                        ps->i++;
                    else if (!tpunct(tk(ps), '}'))
                        return perr(ps, tk(ps)->line, "expected ',' or '}'");
                }
                ps->i++;
            }
        } else if (t->kind == TK_INT) {
            p->aoff = (int64_t)t->ival;
            ps->i++;
        } else {
            return perr(ps, t->line, "bad address");
        }
        return expect(ps, ']');
    }
    if (tpunct(t, '{') || tpunct(t, '(')) {
        char close = tpunct(t, '{') ? '}' : ')';
        p->o.kind = close == '}' ? PO_VEC : PO_LIST;
        ps->i++;
        while (!tpunct(tk(ps), close)) {
            if (p->n >= MAX_LIST) return perr(ps, t->line, "too many elements in operand list");
            if (parse_simple(ps, &p->v[p->n++])) return -1;
            if (tpunct(tk(ps), ','))
                ps->i++;
            else if (!tpunct(tk(ps), close))
                return perr(ps, tk(ps)->line, "expected ',' or '%c'", close);
        }
        ps->i++;
        return 0;
    }
    if (parse_simple(ps, &p->o)) return -1;
    if (tpunct(tk(ps), '|')) {
        ps->i++;
        p->has_pipe = 1;
        if (parse_simple(ps, &p->pipe)) return -1;
    }
    return 0;
}

/* ---------- declarations ---------- */
static int grow_vars(ptx_module *m) {
    GROW(m->vars, m->nvars, m->capvars, 16);
    return 1;
}
static int grow_funcs(ptx_module *m) {
    GROW(m->funcs, m->nfuncs, m->capfuncs, 16);
    return 1;
}

/* Parses "[.align N] [.vN] .type name [dims] [= init]" after the state space token. */
typedef struct vdecl {
    uint32_t align;
    int type;
    uint32_t elem;
    uint64_t count;
    int unsized;
    const char *name;
    uint32_t namelen;
    int line;
    int is_range; /* %r<N> */
    uint32_t range;
    int ptr;
} vdecl;

static int parse_vdecl_head(pstate *ps, vdecl *d) {
    memset(d, 0, sizeof *d);
    uint32_t vecn = 1;
    d->type = -1;
    for (;;) {
        ptx_tok *t = tk(ps);
        if (tis(t, ".align")) {
            ps->i++;
            if (tk(ps)->kind != TK_INT) return perr(ps, t->line, "bad .align");
            d->align = (uint32_t)tk(ps)->ival;
            ps->i++;
        } else if (tis(t, ".v2") || tis(t, ".v4") || tis(t, ".v8")) {
            vecn = (uint32_t)(t->s[2] - '0');
            ps->i++;
        } else if (tis(t, ".ptr") || tis(t, ".global") || tis(t, ".const") || tis(t, ".shared") ||
                   tis(t, ".local")) {
            d->ptr = 1;
            ps->i++;
        } else if (tis(t, ".texref") || tis(t, ".surfref") || tis(t, ".samplerref")) {
            return perr(ps, t->line,
                        "%.*s: texture, surface and sampler references are not supported (deprecated); use "
                        "texture and surface objects (cuTexObjectCreate, cuSurfObjectCreate)",
                        (int)t->len, t->s);
        } else if (t->kind == TK_ID && t->s[0] == '.' && type_from_name(t->s, t->len) >= 0) {
            d->type = type_from_name(t->s, t->len);
            ps->i++;
        } else {
            break;
        }
    }
    if (d->type < 0)
        return perr(ps, tk(ps)->line, "missing type in declaration near '%.*s'", (int)tk(ps)->len, tk(ps)->s);
    ptx_tok *nt = tk(ps);
    if (nt->kind != TK_ID) return perr(ps, nt->line, "expected a name in declaration");
    d->name = nt->s;
    d->namelen = nt->len;
    d->line = nt->line;
    ps->i++;
    d->elem = d->type == T_PRED ? 1 : TY_BYTES(d->type);
    d->count = vecn;
    d->elem *= vecn;
    d->count = 1;
    if (tpunct(tk(ps), '<')) {
        ps->i++;
        if (tk(ps)->kind != TK_INT) return perr(ps, nt->line, "bad register range");
        d->is_range = 1;
        d->range = (uint32_t)tk(ps)->ival;
        ps->i++;
        if (expect(ps, '>')) return -1;
    }
    while (tpunct(tk(ps), '[')) {
        ps->i++;
        if (tpunct(tk(ps), ']')) {
            d->unsized = 1;
            d->count = 0;
        } else {
            if (tk(ps)->kind != TK_INT) return perr(ps, nt->line, "bad array size");
            if (tk(ps)->ival > (1ull << 32) || d->count * tk(ps)->ival > (1ull << 32))
                return perr(ps, nt->line, "array too large");
            d->count *= tk(ps)->ival;
            ps->i++;
        }
        if (expect(ps, ']')) return -1;
    }
    if (!d->align) d->align = d->elem;
    return 0;
}

static int parse_init(pstate *ps, const vdecl *d, uint8_t *buf, uint64_t size) {
    uint64_t pos = 0;
    int depth = 0;
    uint32_t esz = d->type == T_PRED ? 1 : TY_BYTES(d->type);
    for (;;) {
        ptx_tok *t = tk(ps);
        if (tpunct(t, '{')) {
            depth++;
            ps->i++;
            continue;
        }
        if (tpunct(t, '}')) {
            depth--;
            ps->i++;
            if (depth <= 0) break;
            continue;
        }
        if (tpunct(t, ',')) {
            ps->i++;
            continue;
        }
        sopnd o;
        if (parse_simple(ps, &o)) return -1;
        uint64_t v = 0;
        int kind = TY_KIND(d->type);
        if (o.kind == PO_IMM) {
            if (kind == TK_F) {
                if (esz == 4) {
                    float f = (float)(int64_t)o.ival;
                    uint32_t b;
                    memcpy(&b, &f, 4);
                    v = b;
                } else {
                    double f = (double)(int64_t)o.ival;
                    memcpy(&v, &f, 8);
                }
            } else {
                v = o.ival;
            }
        } else if (o.kind == PO_F32 || o.kind == PO_F64 || o.kind == PO_FLT) {
            double f;
            if (o.kind == PO_F32) {
                uint32_t b = (uint32_t)o.ival;
                float ff;
                memcpy(&ff, &b, 4);
                f = ff;
            } else if (o.kind == PO_F64) {
                memcpy(&f, &o.ival, 8);
            } else {
                f = o.fval;
            }
            if (esz == 4) {
                float ff = (float)f;
                uint32_t b;
                memcpy(&b, &ff, 4);
                v = b;
            } else {
                memcpy(&v, &f, 8);
            }
        } else if (o.kind == PO_SYM && o.sy && o.sy->kind == S_FUNC && esz == 8) {
            v = PTX_FUNC_ADDR(o.sy->val);
            ps->m->funcs[o.sy->val].addr_taken = 1;
        } else {
            return perr(ps, t->line, "unsupported initializer element '%.*s'", (int)t->len, t->s);
        }
        if (pos + esz > size) return perr(ps, t->line, "too many initializer elements");
        memcpy(buf + pos, &v, esz); /* little endian */
        pos += esz;
        if (depth <= 0) break;
    }
    return 0;
}

static int declare_module_var(pstate *ps, int space, int is_extern) {
    vdecl d;
    if (parse_vdecl_head(ps, &d)) return -1;
    ptx_module *m = ps->m;
    sym *s = symtab_put(&ps->g, d.name, d.namelen);
    if (!s) return perr(ps, d.line, "out of memory");
    if (s->kind == S_VAR) {
        /* redeclaration (e.g. .extern then definition): keep the first one unless sized now */
        ptx_var *v = &m->vars[s->val];
        if (tpunct(tk(ps), '=')) return perr(ps, d.line, "redefinition of '%s'", v->name);
        return expect(ps, ';');
    }
    if (s->kind != S_NONE) return perr(ps, d.line, "'%.*s' already declared", (int)d.namelen, d.name);
    if (!grow_vars(m)) return perr(ps, d.line, "out of memory");
    ptx_var *v = &m->vars[m->nvars];
    memset(v, 0, sizeof *v);
    v->name = strndup(d.name, d.namelen);
    v->space = space;
    v->align = d.align ? d.align : 1;
    v->size = d.elem * d.count;
    v->is_extern = d.unsized || is_extern;
    s->kind = S_VAR;
    s->val = m->nvars;
    m->nvars++;
    if (space == VS_SHARED && d.unsized) {
        m->has_dyn_shared = 1;
        v->is_extern = 1;
    }
    if (v->size > (1ull << 32)) return perr(ps, d.line, "variable '%s' too large", v->name);
    if (tpunct(tk(ps), '=')) {
        ps->i++;
        if (space == VS_SHARED) return perr(ps, d.line, "initializer on .shared variable");
        if (d.unsized) return perr(ps, d.line, "initializer on unsized array unsupported");
        v->init = calloc(1, v->size ? v->size : 1);
        if (!v->init) return perr(ps, d.line, "out of memory");
        if (parse_init(ps, &d, v->init, v->size)) return -1;
    }
    if (space == VS_SHARED) {
        if (!v->is_extern) {
            uint32_t a = v->align;
            m->shared_static = (m->shared_static + a - 1) / a * a;
            v->addr = m->shared_static;
            if (v->size > PTX_MAX_SHARED)
                return perr(ps, d.line, ".shared variable '%s' is over %u bytes", v->name, PTX_MAX_SHARED);
            if (m->shared_static + v->size > PTX_MAX_MODULE_SHARED)
                return perr(ps, d.line, "too much .shared data in the module (over %u bytes)",
                            PTX_MAX_MODULE_SHARED);
            m->shared_static += (uint32_t)v->size;
        }
    } else {
        if (v->size == 0) v->size = 1;
        if (ps->alloc(ps->ud, v)) return perr(ps, d.line, "out of device memory for '%s'", v->name);
    }
    return expect(ps, ';');
}

/* Function-scope declarations: .reg, .local, .param (call scope), .shared (demoted). */
static int declare_reg(pstate *ps) {
    ptx_func *f = curf(ps);
    for (;;) {
        vdecl d;
        if (parse_vdecl_head(ps, &d)) return -1;
        int pred = d.type == T_PRED;
        uint32_t n = d.is_range ? d.range : 1;
        if ((uint64_t)f->nregs + f->npreds + n > PTX_MAX_REGS)
            return perr(ps, d.line, "too many registers in function (limit %u)", PTX_MAX_REGS);
        char name[256];
        if (d.namelen > 200) return perr(ps, d.line, "register name too long");
        for (uint32_t k = 0; k < n; k++) {
            int l = d.is_range ? snprintf(name, sizeof name, "%.*s%u", (int)d.namelen, d.name, k)
                               : snprintf(name, sizeof name, "%.*s", (int)d.namelen, d.name);
            sym *s = declare_sym(ps, name, (uint32_t)l);
            if (!s) return perr(ps, d.line, "out of memory");
            s->kind = pred ? S_PRED : S_REG;
            s->val = pred ? f->npreds++ : f->nregs++;
        }
        /* ".reg .b32 a, b, c;" */
        if (tpunct(tk(ps), ',')) {
            ps->i++;
            ptx_tok *t = tk(ps);
            if (t->kind == TK_ID && t->s[0] != '.') {
                /* re-use the type: synthesise by stepping back is not possible; handle inline */
                for (;;) {
                    t = tk(ps);
                    if (t->kind != TK_ID) return perr(ps, t->line, "bad register list");
                    sym *s = declare_sym(ps, t->s, t->len);
                    if (!s) return perr(ps, t->line, "out of memory");
                    if (f->nregs + f->npreds + 1 > PTX_MAX_REGS)
                        return perr(ps, t->line, "too many registers");
                    s->kind = pred ? S_PRED : S_REG;
                    s->val = pred ? f->npreds++ : f->nregs++;
                    ps->i++;
                    if (tpunct(tk(ps), '<')) return perr(ps, t->line, "register range in a list unsupported");
                    if (!tpunct(tk(ps), ',')) break;
                    ps->i++;
                }
            }
        }
        break;
    }
    return expect(ps, ';');
}

static int declare_local(pstate *ps) {
    ptx_func *f = curf(ps);
    vdecl d;
    if (parse_vdecl_head(ps, &d)) return -1;
    uint32_t a = d.align ? d.align : 1;
    uint64_t off = (f->local_size + a - 1) / a * a;
    uint64_t sz = d.elem * d.count;
    if (off + sz > PTX_MAX_LOCAL) return perr(ps, d.line, ".local frame exceeds %u bytes", PTX_MAX_LOCAL);
    sym *s = declare_sym(ps, d.name, d.namelen);
    if (!s) return perr(ps, d.line, "out of memory");
    s->kind = S_LOCAL;
    s->val = (int64_t)off;
    s->size = (uint32_t)sz;
    f->local_size = (uint32_t)(off + sz);
    if (ps->depot_reg < 0) {
        ps->depot_reg = (int)new_reg(ps);
    }
    return expect(ps, ';');
}

static int declare_fparam(pstate *ps, ptx_param *out) {
    ptx_func *f = curf(ps);
    vdecl d;
    if (parse_vdecl_head(ps, &d)) return -1;
    uint32_t a = d.align ? d.align : 1;
    uint64_t off = (f->frame_param_size + a - 1) / a * a;
    uint64_t sz = d.elem * (d.count ? d.count : 1);
    if (off + sz > 65536) return perr(ps, d.line, ".param space too large");
    sym *s = declare_sym(ps, d.name, d.namelen);
    if (!s) return perr(ps, d.line, "out of memory");
    s->kind = S_FPARAM;
    s->val = (int64_t)off;
    s->size = (uint32_t)sz;
    f->frame_param_size = (uint32_t)(off + sz);
    if (out) {
        out->name = strndup(d.name, d.namelen);
        out->offset = (uint32_t)off;
        out->size = (uint32_t)sz;
        out->align = a;
    }
    return 0;
}

static int declare_kparam(pstate *ps, ptx_param *out) {
    ptx_func *f = curf(ps);
    vdecl d;
    if (parse_vdecl_head(ps, &d)) return -1;
    uint32_t a = d.align ? d.align : 1;
    uint64_t off = (f->kparam_size + a - 1) / a * a;
    uint64_t sz = d.elem * (d.count ? d.count : 1);
    if (off + sz > 32764) return perr(ps, d.line, "kernel parameters exceed 32764 bytes");
    sym *s = declare_sym(ps, d.name, d.namelen);
    if (!s) return perr(ps, d.line, "out of memory");
    s->kind = S_KPARAM;
    s->val = (int64_t)off;
    s->size = (uint32_t)sz;
    f->kparam_size = (uint32_t)(off + sz);
    out->name = strndup(d.name, d.namelen);
    out->offset = (uint32_t)off;
    out->size = (uint32_t)sz;
    out->align = a;
    return 0;
}

/* Skips a { ... } block from its opening brace (the current token), nested blocks included.
 * 1 when the input ended before the block closed. */
static int skip_braced(pstate *ps) {
    int depth = 0;
    do {
        if (tpunct(tk(ps), '{')) depth++;
        if (tpunct(tk(ps), '}')) depth--;
        ps->i++;
    } while (depth > 0 && tk(ps)->kind != TK_EOF);
    return depth > 0;
}

/* ---------- functions ---------- */
static void func_reset_body(ptx_func *f) {
    for (int i = 0; i < f->nparams; i++)
        free(f->params[i].name);
    free(f->params);
    f->params = NULL;
    f->nparams = 0;
    free(f->ret.name);
    f->ret.name = NULL;
    f->has_ret = 0;
    f->kparam_size = 0;
    f->frame_param_size = 0;
    f->nregs = f->npreds = 0;
    f->local_size = 0;
    f->ncode = 0;
    f->nconsts = 0;
}

static int parse_param_list(pstate *ps, int kernel) {
    ptx_func *f = curf(ps);
    if (expect(ps, '(')) return -1;
    while (!tpunct(tk(ps), ')')) {
        if (!tis(tk(ps), ".param") && !tis(tk(ps), ".reg"))
            return perr(ps, tk(ps)->line, "expected .param in parameter list");
        ps->i++;
        ptx_param *np = realloc(f->params, (size_t)(f->nparams + 1) * sizeof *np);
        if (!np) return perr(ps, tk(ps)->line, "out of memory");
        f->params = np;
        ptx_param *p = &f->params[f->nparams++];
        memset(p, 0, sizeof *p);
        if (kernel ? declare_kparam(ps, p) : declare_fparam(ps, p)) return -1;
        if (tpunct(tk(ps), ','))
            ps->i++;
        else if (!tpunct(tk(ps), ')'))
            return perr(ps, tk(ps)->line, "expected ',' or ')' in parameter list");
    }
    ps->i++;
    return 0;
}

static int parse_body(pstate *ps);

static int parse_function(pstate *ps, int is_entry) {
    ptx_module *m = ps->m;
    int line = tk(ps)->line;
    /* the linkage directive just before .func/.entry */
    int weak = ps->i >= 2 && (tis(&ps->t[ps->i - 2], ".weak") || tis(&ps->t[ps->i - 2], ".common"));
    symtab_free(&ps->l);
    close_block(ps, 0);
    ps->depth = 0;
    ps->depot_reg = -1;
    ps->sink_reg = -1;
    ps->sink_pred = -1;
    /* optional return param list for .func */
    int has_ret_list = !is_entry && tpunct(tk(ps), '(');
    int save = ps->i;
    if (has_ret_list) {
        /* skip to find the name */
        int depth = 0;
        do {
            if (tpunct(tk(ps), '(')) depth++;
            if (tpunct(tk(ps), ')')) depth--;
            if (tk(ps)->kind == TK_EOF) return perr(ps, line, "unterminated return list");
            ps->i++;
        } while (depth > 0);
    }
    ptx_tok *nt = tk(ps);
    if (nt->kind != TK_ID) return perr(ps, nt->line, "expected function name");
    sym *s = symtab_put(&ps->g, nt->s, nt->len);
    if (!s) return perr(ps, line, "out of memory");
    if (s->kind == S_NONE) {
        if (!grow_funcs(m)) return perr(ps, line, "out of memory");
        ptx_func *f = &m->funcs[m->nfuncs];
        memset(f, 0, sizeof *f);
        f->depot_reg = -1;
        f->name = strndup(nt->s, nt->len);
        f->is_entry = is_entry;
        s->kind = S_FUNC;
        s->val = m->nfuncs++;
    } else if (s->kind != S_FUNC) {
        return perr(ps, line, "'%.*s' redeclared as a function", (int)nt->len, nt->s);
    }
    ps->fi = (int)s->val;
    ptx_func *f = curf(ps);
    if (f->defined) {
        /* a prototype after the definition: nothing to learn from it */
        while (!tpunct(tk(ps), ';') && !tpunct(tk(ps), '{') && tk(ps)->kind != TK_EOF)
            ps->i++;
        if (tpunct(tk(ps), '{') && weak) {
            /* a second .weak definition (the same inline function in two -rdc modules joined by
             * cuLink): the first one stands */
            if (skip_braced(ps))
                return perr(ps, line, "body of function '%s' not closed before the end of input", f->name);
            return 0;
        }
        if (!tpunct(tk(ps), ';')) return perr(ps, line, "function '%s' defined twice", f->name);
        ps->i++;
        return 0;
    }
    func_reset_body(f);
    free(ps->cvals);
    ps->cvals = NULL;
    f->capconsts = 0;
    int after_name = ps->i + 1;
    if (has_ret_list) {
        ps->i = save + 1;
        if (!tis(tk(ps), ".param") && !tis(tk(ps), ".reg"))
            return perr(ps, line, "expected .param in return list");
        ps->i++;
        if (declare_fparam(ps, &f->ret)) return -1;
        f->has_ret = 1;
        if (!tpunct(tk(ps), ')')) return perr(ps, line, "only one return value is supported");
    }
    ps->i = after_name;
    if (tpunct(tk(ps), '(')) {
        if (parse_param_list(ps, is_entry)) return -1;
    }
    /* performance directives */
    for (;;) {
        ptx_tok *t = tk(ps);
        if (tis(t, ".maxntid") || tis(t, ".reqntid") || tis(t, ".reqnctapercluster")) {
            unsigned *dst = tis(t, ".maxntid") ? f->maxntid : tis(t, ".reqntid") ? f->reqntid : NULL;
            ps->i++;
            for (int k = 0; k < 3 && tk(ps)->kind == TK_INT; k++) {
                if (dst) dst[k] = (unsigned)tk(ps)->ival;
                ps->i++;
                if (tpunct(tk(ps), ',')) ps->i++;
            }
        } else if (tis(t, ".minnctapersm") || tis(t, ".maxnreg") || tis(t, ".maxclusterrank") ||
                   tis(t, ".maxnctapersm")) {
            ps->i += 2;
        } else if (tis(t, ".noreturn") || tis(t, ".explicitcluster")) {
            ps->i++;
        } else if (tis(t, ".pragma")) {
            ps->i++;
            while (!tpunct(tk(ps), ';') && tk(ps)->kind != TK_EOF)
                ps->i++;
            ps->i++;
        } else {
            break;
        }
    }
    if (tpunct(tk(ps), ';')) {
        ps->i++;
        return 0; /* declaration only */
    }
    if (!tpunct(tk(ps), '{')) return perr(ps, tk(ps)->line, "expected '{' or ';' after function header");
    if (f->defined) return perr(ps, line, "function '%s' defined twice", f->name);
    ps->i++;
    ps->nfix = 0;
    if (parse_body(ps)) return -1;
    f = curf(ps);
    f->defined = 1;
    /* resolve labels */
    for (int k = 0; k < ps->nfix; k++) {
        sym *ls = symtab_get(&ps->l, ps->fix[k].label, (uint32_t)strlen(ps->fix[k].label));
        if (!ls || ls->kind != S_LABEL) {
            perr(ps, ps->fix[k].line, "undefined label '%s'", ps->fix[k].label);
        } else {
            f->code[ps->fix[k].insn].imm = ls->val;
        }
    }
    for (int k = 0; k < ps->nfix; k++)
        free(ps->fix[k].label);
    ps->nfix = 0;
    if (ps->failed) return -1;
    /* a function body that falls off the end behaves as ret */
    ptx_insn *in = emit(ps, tk(ps)->line);
    in->op = OP_RET;
    /* keep the raw constants; expanded once the module is complete (patches) */
    f->depot_reg = ps->depot_reg;
    f->consts = (uint64_t *)ps->cvals;
    ps->cvals = NULL;
    f->capconsts = 0;
    (void)after_name;
    return ps->failed ? -1 : 0;
}

static int parse_instruction(pstate *ps) {
    int guard = -1, gneg = 0;
    int line = tk(ps)->line;
    if (tpunct(tk(ps), '@')) {
        ps->i++;
        if (tpunct(tk(ps), '!')) {
            gneg = 1;
            ps->i++;
        }
        ptx_tok *t = tk(ps);
        sym *s = t->kind == TK_ID ? symtab_get(&ps->l, t->s, t->len) : NULL;
        if (!s || s->kind != S_PRED)
            return perr(ps, t->line, "guard '%.*s' is not a predicate", (int)t->len, t->s);
        guard = (int)s->val;
        ps->i++;
    }
    ptx_tok *op = tk(ps);
    if (op->kind != TK_ID)
        return perr(ps, op->line, "expected an instruction near '%.*s'", (int)op->len, op->s);
    ps->i++;
    static __thread popnd ops_tls[8]; /* per thread: jitlink/ parses without cudaemu's lock */
    popnd *ops = ops_tls;
    int n = 0;
    while (!tpunct(tk(ps), ';')) {
        if (tk(ps)->kind == TK_EOF) return perr(ps, line, "missing ';'");
        if (n >= 8) return perr(ps, line, "too many operands");
        if (parse_operand(ps, &ops[n++])) return -1;
        if (tpunct(tk(ps), ','))
            ps->i++;
        else if (!tpunct(tk(ps), ';'))
            return perr(ps, tk(ps)->line, "expected ',' or ';' near '%.*s'", (int)tk(ps)->len, tk(ps)->s);
    }
    ps->i++;
    return ptx_decode(ps, op->s, op->len, ops, n, guard, gneg, line);
}

static int parse_body(pstate *ps) {
    ps->depth = 1;
    while (ps->depth > 0) {
        ptx_tok *t = tk(ps);
        if (ps->failed) return -1;
        if (t->kind == TK_EOF) return perr(ps, t->line, "unexpected end of file in function body");
        if (tpunct(t, '{')) {
            if (ps->depth >= 64) return perr(ps, t->line, "blocks nested too deeply");
            ps->marks[ps->depth] = ps->nshadows;
            ps->depth++;
            ps->i++;
        } else if (tpunct(t, '}')) {
            ps->depth--;
            if (ps->depth > 0) close_block(ps, ps->marks[ps->depth]);
            ps->i++;
        } else if (tis(t, ".reg")) {
            ps->i++;
            if (declare_reg(ps)) return -1;
        } else if (tis(t, ".local")) {
            ps->i++;
            if (declare_local(ps)) return -1;
        } else if (tis(t, ".param")) {
            ps->i++;
            if (declare_fparam(ps, NULL)) return -1;
            if (expect(ps, ';')) return -1;
        } else if (tis(t, ".shared")) {
            ps->i++;
            if (declare_module_var(ps, VS_SHARED, 0)) return -1;
        } else if (tis(t, ".global") || tis(t, ".const")) {
            int sp = tis(t, ".global") ? VS_GLOBAL : VS_CONST;
            ps->i++;
            if (declare_module_var(ps, sp, 0)) return -1;
        } else if (tis(t, ".pragma")) {
            while (!tpunct(tk(ps), ';') && tk(ps)->kind != TK_EOF)
                ps->i++;
            ps->i++;
        } else if (tis(t, ".loc") || tis(t, ".file")) {
            skip_line(ps);
        } else if (t->kind == TK_ID && tpunct(peek(ps, 1), ':') && tis(peek(ps, 2), ".callprototype")) {
            /* the signature of indirect call targets: calls are checked at run time instead */
            while (!tpunct(tk(ps), ';') && tk(ps)->kind != TK_EOF)
                ps->i++;
            ps->i++;
        } else if (t->kind == TK_ID && tpunct(peek(ps, 1), ':')) {
            sym *s = symtab_put(&ps->l, t->s, t->len);
            if (!s) return perr(ps, t->line, "out of memory");
            if (s->kind != S_NONE) return perr(ps, t->line, "label '%.*s' redefined", (int)t->len, t->s);
            s->kind = S_LABEL;
            s->val = curf(ps)->ncode;
            ps->i += 2;
        } else {
            if (parse_instruction(ps)) return -1;
        }
    }
    return 0;
}

/* ---------- module finish ---------- */
static int compute_func_stats(ptx_module *m, int fi, int depth, uint32_t *local, uint32_t *regs, int *rec,
                              uint32_t *shared, uint64_t *smask) {
    ptx_func *f = &m->funcs[fi];
    if (depth > 64) {
        *rec = 1;
        return 0;
    }
    uint32_t best_l = 0, best_r = 0;
    *smask |= f->shared_used_mask;
    for (int k = 0; k < f->ncallees; k++) {
        uint32_t l = 0, r = 0;
        if (f->callees[k] == fi) *rec = 1;
        compute_func_stats(m, f->callees[k], depth + 1, &l, &r, rec, shared, smask);
        if (l > best_l) best_l = l;
        if (r > best_r) best_r = r;
    }
    *local = f->local_size + best_l;
    *regs = f->nregs + best_r;
    return 0;
}

static int finish_module(pstate *ps) {
    ptx_module *m = ps->m;
    for (int fi = 0; fi < m->nfuncs; fi++) {
        ptx_func *f = &m->funcs[fi];
        if (!f->defined && !f->is_entry && strcmp(f->name, "vprintf") == 0)
            f->builtin = BI_VPRINTF;
        else if (!f->defined && !f->is_entry && strcmp(f->name, "__assertfail") == 0)
            f->builtin = BI_ASSERTFAIL;
        else if (!f->defined)
            return perr(ps, 0,
                        "function '%s' is declared but not defined (external device functions other than "
                        "vprintf and __assertfail are not provided by cudaemu)",
                        f->name);
        if (f->builtin) f->defined = 1;
    }
    /* indirect calls may reach every function whose address is taken */
    for (int fi = 0; fi < m->nfuncs; fi++) {
        ptx_func *f = &m->funcs[fi];
        if (!f->has_indirect) continue;
        for (int t = 0; t < m->nfuncs; t++) {
            if (!m->funcs[t].addr_taken) continue;
            int seen = 0;
            for (int c = 0; c < f->ncallees; c++)
                seen |= f->callees[c] == t;
            if (seen) continue;
            int *nc = realloc(f->callees, (size_t)(f->ncallees + 1) * sizeof *nc);
            if (!nc) return perr(ps, 0, "out of memory");
            f->callees = nc;
            f->callees[f->ncallees++] = t;
        }
    }
    uint32_t dyn_base = (m->shared_static + 15u) & ~15u;
    for (int k = 0; k < ps->npatches; k++) {
        patch *p = &ps->patches[k];
        ptx_func *f = &m->funcs[p->func];
        ptx_var *v = &m->vars[p->var];
        uint64_t a = (v->space == VS_SHARED && v->is_extern ? dyn_base : v->addr) + (uint64_t)p->add;
        if (p->is_const)
            f->consts[p->index] += a;
        else
            f->code[p->index].imm = (int64_t)((uint64_t)f->code[p->index].imm + a);
    }
    for (int fi = 0; fi < m->nfuncs; fi++) {
        ptx_func *f = &m->funcs[fi];
        uint64_t *raw = f->consts;
        f->consts = malloc(((size_t)f->nconsts + 1) * 32 * sizeof(uint64_t));
        if (!f->consts) {
            free(raw);
            return perr(ps, 0, "out of memory");
        }
        for (uint32_t c = 0; c < f->nconsts; c++)
            for (int l = 0; l < 32; l++)
                f->consts[c * 32 + l] = raw[c];
        free(raw);
        if (f->nregs == 0) f->nregs = 1;
    }
    for (int fi = 0; fi < m->nfuncs; fi++) {
        ptx_func *f = &m->funcs[fi];
        if (!f->is_entry) continue;
        uint32_t l = 0, r = 0, sh = 0;
        uint64_t smask = 0;
        int rec = 0;
        compute_func_stats(m, fi, 0, &l, &r, &rec, &sh, &smask);
        f->recursive = rec;
        f->total_local = rec ? 16384 : l;
        f->max_regs_total = r;
        /* static shared bytes of the variables this kernel's code references */
        uint32_t tot = 0;
        for (int vi = 0; vi < m->nvars; vi++) {
            ptx_var *v = &m->vars[vi];
            if (v->space != VS_SHARED || v->is_extern) continue;
            if ((smask >> (vi & 63)) & 1) {
                uint32_t a = v->align ? v->align : 1;
                tot = (tot + a - 1) / a * a + (uint32_t)v->size;
            }
        }
        f->static_shared = tot;
    }
    return ps->failed ? -1 : 0;
}

void ptx_free(ptx_module *m) {
    if (!m) return;
    for (int i = 0; i < m->nfuncs; i++) {
        ptx_func *f = &m->funcs[i];
        free(f->name);
        for (int k = 0; k < f->nparams; k++)
            free(f->params[k].name);
        free(f->params);
        free(f->ret.name);
        free(f->code);
        free(f->consts);
        free(f->callees);
    }
    free(m->funcs);
    for (int i = 0; i < m->nvars; i++) {
        free(m->vars[i].name);
        free(m->vars[i].init);
    }
    free(m->vars);
    for (int i = 0; i < m->ncalls; i++) {
        free(m->calls[i].arg_off);
        free(m->calls[i].arg_size);
    }
    free(m->calls);
    free(m->wops);
    free(m->fidx);
    free(m);
}

/* The name index of a finished module: cuModuleGetFunction must not search 40,000 kernels. */
static void index_funcs(ptx_module *m) {
    uint32_t cap = 16;
    while (cap < (uint32_t)m->nfuncs * 2u + 2u)
        cap *= 2;
    m->fidx = calloc(cap, sizeof *m->fidx);
    if (!m->fidx) return; /* ptx_find_func then searches linearly */
    m->fidxcap = cap;
    for (int i = 0; i < m->nfuncs; i++) {
        uint32_t h = hash_str(m->funcs[i].name, (uint32_t)strlen(m->funcs[i].name)) & (cap - 1);
        while (m->fidx[h])
            h = (h + 1) & (cap - 1);
        m->fidx[h] = i + 1;
    }
}

int ptx_find_func(const ptx_module *m, const char *name) {
    if (m->fidxcap) {
        size_t len = strlen(name);
        if (len > UINT32_MAX) return -1;
        for (uint32_t h = hash_str(name, (uint32_t)len) & (m->fidxcap - 1); m->fidx[h];
             h = (h + 1) & (m->fidxcap - 1))
            if (strcmp(m->funcs[m->fidx[h] - 1].name, name) == 0) return m->fidx[h] - 1;
        return -1;
    }
    for (int i = 0; i < m->nfuncs; i++)
        if (strcmp(m->funcs[i].name, name) == 0) return i;
    return -1;
}

/* A .target word: the architecture number of sm_NN[a|f], 0 for the other options PTX allows,
 * -1 for anything else. */
static int target_sm(const char *s, uint32_t len) {
    static const int archs[] = {20, 21, 30, 32, 35, 37, 50, 52,  53,  60,  61,  62,  70, 72,
                                75, 80, 86, 87, 88, 89, 90, 100, 101, 103, 110, 120, 121};
    static const char *opts[] = {"texmode_unified", "texmode_independent", "debug", "map_f64_to_f32"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (strlen(opts[i]) == len && memcmp(opts[i], s, len) == 0) return 0;
    if (len < 5 || len > 7 || memcmp(s, "sm_", 3) != 0) return -1;
    int v = 0;
    uint32_t k = 3;
    while (k < len && s[k] >= '0' && s[k] <= '9')
        v = v * 10 + (s[k++] - '0');
    if (k < len && (s[k] == 'a' || s[k] == 'f') && k + 1 == len) k++;
    if (k != len || k == 3) return -1;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (archs[i] == v) return v;
    return -1;
}

/* Reads the number after .version into the module; refuses versions outside 6.x to 9.x. */
static int parse_version(pstate *ps) {
    ptx_module *m = ps->m;
    ps->i++;
    ptx_tok *v = tk(ps);
    if (v->kind == TK_FLT && v->fval >= 0 && v->fval < 100) {
        m->version_major = (int)v->fval;
        m->version_minor = (int)((v->fval - m->version_major) * 10 + 0.5);
    } else if (v->kind == TK_INT && v->ival < 100) {
        m->version_major = (int)v->ival;
    } else {
        return perr(ps, v->line, "bad .version");
    }
    if (m->version_major < 6 || m->version_major > 9)
        return perr(ps, v->line, "unsupported PTX ISA version %d.%d", m->version_major, m->version_minor);
    ps->i++;
    return 0;
}

/* Reads the words of a .target line: sm_NN becomes the module's sm, the options are accepted. */
static void parse_target(pstate *ps, const ptx_tok *t) {
    ps->i++;
    int tline = t->line, named = 0;
    while (tk(ps)->line == tline && (tk(ps)->kind == TK_ID || tpunct(tk(ps), ','))) {
        ptx_tok *x = tk(ps);
        ps->i++;
        if (x->kind != TK_ID) continue;
        int sm = target_sm(x->s, x->len);
        if (sm > 0)
            ps->m->sm = sm;
        else if (sm < 0) {
            perr(ps, x->line,
                 "unknown .target '%.*s' (expected sm_NN such as sm_75, sm_80 or sm_90, "
                 "optionally with texmode_unified, map_f64_to_f32 or debug)",
                 (int)(x->len < 64 ? x->len : 64), x->s);
            break;
        }
        named++;
    }
    if (!ps->failed && !named) perr(ps, tline, ".target names no target (expected e.g. .target sm_80)");
}

/* Skips a .section directive with its { ... } body (debug information the emulator does not use). */
static void skip_section(pstate *ps, const ptx_tok *t) {
    while (!tpunct(tk(ps), '{') && tk(ps)->kind != TK_EOF)
        ps->i++;
    if (tk(ps)->kind == TK_EOF) {
        perr(ps, t->line, ".section without a { ... } body before the end of input");
        return;
    }
    if (skip_braced(ps)) perr(ps, t->line, ".section body not closed before the end of input");
}

/* Parses an .extern declaration: a .shared, .global or .const variable defined elsewhere. */
static void parse_extern(pstate *ps, const ptx_tok *t) {
    ps->i++;
    if (tk(ps)->kind == TK_EOF)
        perr(ps, t->line, "'.extern' is not followed by a declaration before the end of input");
    if (tis(tk(ps), ".shared")) {
        ps->i++;
        declare_module_var(ps, VS_SHARED, 1);
    } else if (tis(tk(ps), ".global") || tis(tk(ps), ".const")) {
        int sp = tis(tk(ps), ".global") ? VS_GLOBAL : VS_CONST;
        ps->i++;
        declare_module_var(ps, sp, 0);
    }
}

/* Parses the module-scope directive under the cursor; notes .version and .target in the flags. */
static void parse_module_item(pstate *ps, int *saw_version, int *saw_target) {
    ptx_tok *t = tk(ps);
    if (tis(t, ".version")) {
        if (parse_version(ps) == 0) *saw_version = 1;
    } else if (tis(t, ".target")) {
        *saw_target = 1;
        parse_target(ps, t);
    } else if (tis(t, ".address_size")) {
        ps->i++;
        if (tk(ps)->kind != TK_INT || tk(ps)->ival != 64) {
            perr(ps, t->line, "only .address_size 64 is supported");
            return;
        }
        ps->i++;
    } else if (tis(t, ".file") || tis(t, ".loc")) {
        skip_line(ps);
    } else if (tis(t, ".section")) {
        skip_section(ps, t);
    } else if (tis(t, ".visible") || tis(t, ".weak") || tis(t, ".common")) {
        ps->i++;
        if (tk(ps)->kind == TK_EOF)
            perr(ps, t->line, "'%.*s' is not followed by a declaration before the end of input", (int)t->len,
                 t->s);
    } else if (tis(t, ".extern")) {
        parse_extern(ps, t);
    } else if (tis(t, ".entry")) {
        ps->i++;
        parse_function(ps, 1);
    } else if (tis(t, ".func")) {
        ps->i++;
        parse_function(ps, 0);
    } else if (tis(t, ".global") || tis(t, ".const") || tis(t, ".shared")) {
        int sp = tis(t, ".global") ? VS_GLOBAL : tis(t, ".const") ? VS_CONST : VS_SHARED;
        ps->i++;
        declare_module_var(ps, sp, 0);
    } else if (tis(t, ".pragma")) {
        while (!tpunct(tk(ps), ';') && tk(ps)->kind != TK_EOF)
            ps->i++;
        if (tk(ps)->kind == TK_EOF) perr(ps, t->line, "'.pragma' not ended by ';' before the end of input");
        ps->i++;
    } else {
        perr(ps, t->line, "unexpected '%.*s' at module scope", (int)t->len, t->s);
    }
}

/* Frees what the parse state owns: tokens, constants, patches, fixups, shadows, symbol tables. */
static void pstate_free(pstate *ps) {
    free(ps->cvals);
    free(ps->patches);
    for (int k = 0; k < ps->nfix; k++)
        free(ps->fix[k].label);
    free(ps->fix);
    close_block(ps, 0);
    free(ps->shadows);
    symtab_free(&ps->g);
    symtab_free(&ps->l);
    free(ps->t);
}

int ptx_load(const char *text, size_t len, ptx_alloc_fn alloc, void *ud, char *log, size_t logsz,
             ptx_module **out) {
    pstate ps;
    memset(&ps, 0, sizeof ps);
    ps.log = log;
    ps.logsz = logsz;
    ps.alloc = alloc;
    ps.ud = ud;
    ps.fi = -1;
    if (log && logsz) log[0] = 0;
    ptx_module *m = calloc(1, sizeof *m);
    *out = m;
    if (!m) {
        if (log && logsz) snprintf(log, logsz, "ptxas (cudaemu): out of memory");
        return -1;
    }
    ps.m = m;
    /* The tokens point into a private, NUL-terminated copy of exactly len bytes: nothing the
     * parser quotes in an error can come from beyond this module's text. */
    char *copy = malloc(len + 1);
    if (!copy) {
        if (log && logsz) snprintf(log, logsz, "ptxas (cudaemu): out of memory");
        return -1;
    }
    memcpy(copy, text, len);
    copy[len] = 0;
    char err[256];
    ps.n = ptx_lex(copy, len, &ps.t, err, sizeof err);
    if (ps.n < 0) {
        free(copy);
        if (log && logsz) snprintf(log, logsz, "ptxas (cudaemu): %s", err);
        return -1;
    }
    int saw_version = 0, saw_target = 0;
    while (!ps.failed && tk(&ps)->kind != TK_EOF)
        parse_module_item(&ps, &saw_version, &saw_target);
    if (!ps.failed && (!saw_version || !saw_target)) perr(&ps, 1, "missing .version or .target directive");
    if (!ps.failed) finish_module(&ps);
    if (!ps.failed) index_funcs(m);
    pstate_free(&ps);
    free(copy);
    return ps.failed ? -1 : 0;
}
