/* ptx.h — the decoded (executable) form of a PTX module: functions with instruction arrays whose
 * operands are resolved register-bank indices, opcodes and types as enums, module variables. */
#ifndef CUDAEMU_PTX_H
#define CUDAEMU_PTX_H

#include <stddef.h>
#include <stdint.h>

/* Limits that keep hostile PTX from exhausting host memory. */
#define PTX_MAX_REGS 32768u         /* registers + predicates per function */
#define PTX_MAX_LOCAL (512u << 10)  /* .local bytes per thread, as on the hardware */
#define PTX_MAX_SHARED (227u << 10) /* .shared bytes one kernel may use (static + dynamic), as on sm_90 */
/* .shared bytes of all of a module's variables together. Each kernel uses only those its code reaches
 * (ptx_func.static_shared, checked against PTX_MAX_SHARED at launch), but they are laid out once for
 * the module: libraries such as CUB declare hundreds of kernels' buffers in one module. */
#define PTX_MAX_MODULE_SHARED (16u << 20)

/* Device "addresses" of functions, for function pointers and indirect calls. */
#define PTX_FUNC_BASE 0x7c0000000000ull
#define PTX_FUNC_ADDR(i) (PTX_FUNC_BASE + (uint64_t)(i)*16u)

/* Operand encoding: bank in bits 28..31, index in bits 0..27; each slot is 32 lanes of uint64_t. */
#define OPB_REG 0u
#define OPB_CONST 1u
#define OPB_SPEC 2u
#define OPND(bank, idx) (((uint32_t)(bank) << 28) | (uint32_t)(idx))
#define OP_NONE 0xffffffffu

/* Special registers kept per warp (bank OPB_SPEC). */
enum {
    SP_TID_X,
    SP_TID_Y,
    SP_TID_Z,
    SP_NTID_X,
    SP_NTID_Y,
    SP_NTID_Z,
    SP_CTAID_X,
    SP_CTAID_Y,
    SP_CTAID_Z,
    SP_NCTAID_X,
    SP_NCTAID_Y,
    SP_NCTAID_Z,
    SP_LANEID,
    SP_WARPID,
    SP_NWARPID,
    SP_SMID,
    SP_NSMID,
    SP_GRIDID,
    SP_LANEMASK_EQ,
    SP_LANEMASK_LT,
    SP_LANEMASK_LE,
    SP_LANEMASK_GT,
    SP_LANEMASK_GE,
    SP_DYN_SMEM,
    SP_TOTAL_SMEM,
    SP_ZERO,
    SP_COUNT
};

/* Types: low 3 bits = log2 bytes (0..3), kind in the upper bits. */
enum { TK_U = 0x00, TK_S = 0x10, TK_F = 0x20, TK_B = 0x30, TK_PRED = 0x40, TK_F16X2 = 0x50, TK_BF = 0x60 };
#define TY(kind, lg) ((uint8_t)((kind) | (lg)))
#define TY_KIND(t) ((t)&0xf0)
#define TY_LG(t) ((t)&0x07)
#define TY_BYTES(t) (1u << TY_LG(t))
enum {
    T_U8 = TY(TK_U, 0),
    T_U16 = TY(TK_U, 1),
    T_U32 = TY(TK_U, 2),
    T_U64 = TY(TK_U, 3),
    T_S8 = TY(TK_S, 0),
    T_S16 = TY(TK_S, 1),
    T_S32 = TY(TK_S, 2),
    T_S64 = TY(TK_S, 3),
    T_B8 = TY(TK_B, 0),
    T_B16 = TY(TK_B, 1),
    T_B32 = TY(TK_B, 2),
    T_B64 = TY(TK_B, 3),
    T_F16 = TY(TK_F, 1),
    T_F32 = TY(TK_F, 2),
    T_F64 = TY(TK_F, 3),
    T_BF16 = TY(TK_BF, 1),
    T_F16X2 = TY(TK_F16X2, 2),
    T_BF16X2 = TY(TK_BF, 2),
    T_PRED = TY(TK_PRED, 0),
    T_NONE = 0xff
};

enum {
    OP_NOP,          /* nop; membar, fence, prefetch, pmevent, cp.async.wait_group and other no-ops */
    OP_MOV,          /* mov of a register, immediate, special register or variable/function address */
    OP_MOV_CLOCK,    /* mov d, %clock */
    OP_MOV_CLOCK64,  /* mov d, %clock64 */
    OP_MOV_GTIMER,   /* mov d, %globaltimer{,_lo,_hi}; mod: which */
    OP_MOV_DEPOT,    /* reserved: never decoded */
    OP_PACK,         /* mov.bN d, {a, b, ...}: pack a vector into one register */
    OP_UNPACK,       /* mov.bN {d0, d1, ...}, a: unpack a register into a vector */
    OP_ADD,          /* add{.sat}{.cc} */
    OP_SUB,          /* sub{.sat}{.cc} */
    OP_MUL,          /* mul: integer {.lo,.hi,.wide}, and float */
    OP_MAD,          /* mad{.lo,.hi,.wide}{.sat}{.cc} (integer; float mad is OP_FMA) */
    OP_MUL24,        /* mul24{.lo,.hi} */
    OP_MAD24,        /* mad24{.lo,.hi} */
    OP_DIV,          /* div */
    OP_REM,          /* rem */
    OP_MIN,          /* min (mod2: MM_*) */
    OP_MAX,          /* max (mod2: MM_*) */
    OP_ABS,          /* abs */
    OP_NEG,          /* neg */
    OP_FMA,          /* fma.rn, and float mad */
    OP_ADDC,         /* addc{.cc} */
    OP_SUBC,         /* subc{.cc} */
    OP_MADC,         /* madc{.lo,.hi}{.cc} */
    OP_AND,          /* and (not .pred) */
    OP_OR,           /* or (not .pred) */
    OP_XOR,          /* xor (not .pred) */
    OP_NOT,          /* not (not .pred) */
    OP_CNOT,         /* cnot */
    OP_SHL,          /* shl */
    OP_SHR,          /* shr */
    OP_POPC,         /* popc */
    OP_CLZ,          /* clz */
    OP_BREV,         /* brev */
    OP_BFE,          /* bfe */
    OP_BFI,          /* bfi */
    OP_PRMT,         /* prmt{.mode}; mod: 0 generic, 1..6 f4e, b4e, rc8, ecl, ecr, rc16 */
    OP_LOP3,         /* lop3; imm: the lookup table */
    OP_SHF,          /* shf.{l,r}.{clamp,wrap} */
    OP_BFIND,        /* bfind{.shiftamt} */
    OP_SAD,          /* sad */
    OP_DP4A,         /* dp4a, dp2a.{lo,hi}; mod: 0 dp4a, 1 dp2a.lo, 2 dp2a.hi */
    OP_RCP,          /* rcp (.approx, .rn) */
    OP_SQRT,         /* sqrt (.approx, .rn) */
    OP_RSQRT,        /* rsqrt.approx */
    OP_EX2,          /* ex2.approx */
    OP_LG2,          /* lg2.approx */
    OP_SIN,          /* sin.approx */
    OP_COS,          /* cos.approx */
    OP_TANH,         /* tanh.approx */
    OP_COPYSIGN,     /* copysign */
    OP_TESTP,        /* testp.{finite,infinite,number,notanumber,normal,subnormal}; mod: which */
    OP_SETP,         /* setp{.bool}; mod: CMP_*, mod2: BOOL_* */
    OP_SET,          /* set{.bool}; mod: CMP_*, mod2: BOOL_* */
    OP_SELP,         /* selp */
    OP_SLCT,         /* slct */
    OP_PAND,         /* and.pred */
    OP_POR,          /* or.pred */
    OP_PXOR,         /* xor.pred */
    OP_PNOT,         /* not.pred */
    OP_PMOV,         /* mov.pred */
    OP_CVT,          /* cvt; type: destination, type2: source, mod: RND_* */
    OP_CVTA_TO,      /* cvta.to.space */
    OP_CVTA_FROM,    /* cvta.space */
    OP_ISSPACEP,     /* isspacep.space */
    OP_LD,           /* ld, ldu (not .param) */
    OP_ST,           /* st (not .param) */
    OP_LD_KPARAM,    /* ld.param of a kernel parameter */
    OP_LD_FPARAM,    /* ld.param of a device function's .param space */
    OP_ST_FPARAM,    /* st.param of a device function's .param space */
    OP_ATOM,         /* atom, red; mod: AT_* */
    OP_BRA,          /* bra{.uni} */
    OP_BRX,          /* reserved: never decoded (brx.idx is unsupported) */
    OP_CALL,         /* call, direct or indirect; imm indexes module->calls */
    OP_RET,          /* ret */
    OP_EXIT,         /* exit */
    OP_TRAP,         /* trap */
    OP_BAR,          /* bar{.sync}, barrier{.sync}{.aligned} */
    OP_BAR_ARRIVE,   /* bar.arrive, barrier.arrive */
    OP_BAR_RED,      /* bar.red.{popc,and,or}, first half (see OP_BAR_RED_READ) */
    OP_BRKPT,        /* brkpt */
    OP_NANOSLEEP,    /* nanosleep (does not sleep) */
    OP_SHFL,         /* shfl{.sync}.{up,down,bfly,idx}; mod: which */
    OP_VOTE,         /* vote{.sync}.{all,any,uni,ballot}; mod: which */
    OP_ACTIVEMASK,   /* activemask */
    OP_MATCH,        /* match.{any,all}.sync; mod: 0 any, 1 all */
    OP_REDUX,        /* redux.sync; mod: AT_* */
    OP_HALF,         /* f16/bf16 (and x2) arithmetic; mod2 holds the operation */
    OP_BAR_RED_READ, /* second half of bar.red: reads the block-wide result */
    OP_FROUND,       /* f32/f64 arithmetic with a directed rounding mode; mod2 holds the operation */
    OP_CPASYNC,      /* cp.async: a copy global -> shared, done synchronously */
    /* m16n16k16 f16 tensor-core ops (interp_wmma.c); aux indexes module->wops */
    OP_WMMA_LOAD,  /* wmma.load.{a,b,c} */
    OP_WMMA_STORE, /* wmma.store.d */
    OP_WMMA_MMA,   /* wmma.mma */
    /* textures and surfaces (interp_tex.c); see TEXOP_* */
    OP_TEX,        /* tex.{1d,2d,3d,a1d,a2d}.v4 */
    OP_TLD4,       /* tld4.{r,g,b,a}.2d.v4 */
    OP_TXQ,        /* txq */
    OP_SULD,       /* suld.b */
    OP_SUST,       /* sust.b */
    OP_SUQ,        /* suq */
    OP_WARPSYNC,   /* bar.warp.sync membermask (s[0]) */
    OP_MINMAX16X2, /* min/max of two packed 16-bit integers; mod2: PM_MAX, PM_SIGNED, PM_RELU */
    OP_BMSK,       /* bmsk.{clamp,wrap}.b32: a bit mask; F_CLAMP for .clamp */
    OP_COUNT
};

enum { PM_MAX = 1, PM_SIGNED = 2, PM_RELU = 4 }; /* OP_MINMAX16X2's mod2 */

/* Texture/surface instructions: mod = geometry, mod2 = tld4 component / surface clamp mode / query;
 * type = result (tex, tld4) or element (suld, sust) type, type2 = coordinate type, vec = values;
 * operands at module->wops[aux]: handle, x, y, z, layer, lod, then the sust values. */
enum { TG_1D, TG_2D, TG_3D, TG_A1D, TG_A2D };
enum { SU_TRAP, SU_CLAMP, SU_ZERO };
enum {
    TQ_WIDTH,
    TQ_HEIGHT,
    TQ_DEPTH,
    TQ_CHANNEL_DATA_TYPE,
    TQ_CHANNEL_ORDER,
    TQ_NORMALIZED_COORDS,
    TQ_FILTER_MODE,
    TQ_ADDR_MODE_0,
    TQ_ADDR_MODE_1,
    TQ_ADDR_MODE_2,
    TQ_ARRAY_SIZE,
    TQ_NUM_MIPMAP_LEVELS,
    TQ_NUM_SAMPLES,
    TQ_MEMORY_LAYOUT
};
#define TEXOP_NOPS 6 /* wops entries before the sust values */

/* State spaces. */
enum { SS_GENERIC, SS_GLOBAL, SS_SHARED, SS_LOCAL, SS_CONST, SS_PARAM };

/* Comparison operators (setp/set/slct). */
enum {
    CMP_EQ,
    CMP_NE,
    CMP_LT,
    CMP_LE,
    CMP_GT,
    CMP_GE,
    CMP_LO,
    CMP_LS,
    CMP_HI,
    CMP_HS,
    CMP_EQU,
    CMP_NEU,
    CMP_LTU,
    CMP_LEU,
    CMP_GTU,
    CMP_GEU,
    CMP_NUM,
    CMP_NAN
};
enum { BOOL_NONE, BOOL_AND, BOOL_OR, BOOL_XOR };
/* min/max modifiers (mod2 of OP_MIN/OP_MAX) */
#define MM_RELU 1u
#define MM_NAN 2u
#define MM_XORSIGN 4u
/* Rounding. */
enum { RND_NONE, RND_RN, RND_RZ, RND_RM, RND_RP, RND_RNI, RND_RZI, RND_RMI, RND_RPI, RND_RNA };
/* Atomic ops. */
enum { AT_ADD, AT_MIN, AT_MAX, AT_EXCH, AT_CAS, AT_AND, AT_OR, AT_XOR, AT_INC, AT_DEC };
/* Instruction flags. */
#define F_SAT 0x0001u
#define F_HI 0x0002u
#define F_WIDE 0x0004u
#define F_APPROX 0x0008u
#define F_FTZ 0x0010u
#define F_CC 0x0020u /* writes carry */
#define F_NC 0x0040u
#define F_CLAMP 0x0080u /* shf.clamp */
#define F_LEFT 0x0100u
#define F_UNI 0x0200u
#define F_PNEG_A 0x0400u /* first predicate source negated */
#define F_PNEG_B 0x0800u
#define F_PNEG_C 0x1000u
#define F_SHIFTAMT 0x2000u /* bfind.shiftamt */
#define F_NOCHK 0x4000u

typedef struct ptx_insn {
    uint16_t op;
    uint8_t type;  /* operation type */
    uint8_t type2; /* source type (cvt, setp compare type, ...) */
    uint8_t space; /* ld/st/atom/cvta state space */
    uint8_t vec;   /* vector width 1/2/4 for ld/st */
    uint8_t mod;   /* cmp op / rounding / atom op / shfl mode / vote mode */
    uint8_t mod2;  /* bool op / second rounding */
    uint16_t flags;
    int16_t guard; /* predicate index or -1 */
    uint8_t gneg;
    uint8_t pad;
    uint32_t d[4]; /* destinations (register operands or predicate indices) */
    uint32_t s[4]; /* sources */
    int64_t imm;   /* address offset, branch target, call site, ... */
    int line;
    uint32_t aux; /* wmma: first of the register lists in ptx_module.wops */
} ptx_insn;

typedef struct ptx_param {
    char *name;
    uint32_t offset, size, align;
} ptx_param;

typedef struct ptx_callsite {
    int callee; /* -1: indirect, the target is in the call's s[0] register */
    int nargs;
    uint32_t *arg_off; /* offsets of the argument .param vars in the caller's param area */
    uint32_t *arg_size;
    int has_ret;
    uint32_t ret_off, ret_size;
} ptx_callsite;

typedef struct ptx_func {
    char *name;
    int is_entry;
    int defined;
    ptx_param *params;
    int nparams;
    uint32_t kparam_size; /* kernels: size of the param buffer */
    int has_ret;
    ptx_param ret;
    uint32_t frame_param_size; /* per lane: formal params + return + call-scope .param vars */
    uint32_t nregs, npreds;
    uint32_t local_size; /* per lane .local depot of this frame */
    int depot_reg;       /* register preset to the frame's local base, -1 if none */
    int builtin;         /* BI_*: an extern function the interpreter provides */
    int addr_taken;      /* its address is used: a possible target of indirect calls */
    int has_indirect;    /* it makes indirect calls */
    ptx_insn *code;
    uint32_t ncode, capcode;
    uint64_t *consts; /* nconsts slots x 32 lanes */
    uint32_t nconsts, capconsts;
    unsigned maxntid[3], reqntid[3];
    int *callees;
    int ncallees;
    uint32_t static_shared;    /* bytes of .shared this kernel and its callees use */
    uint64_t shared_used_mask; /* internal */
    /* computed for entries */
    uint32_t total_local; /* deepest chain of local depots, per lane */
    uint32_t max_regs_total;
    int recursive;
} ptx_func;

enum { BI_NONE, BI_VPRINTF, BI_ASSERTFAIL };
enum { VS_GLOBAL, VS_CONST, VS_SHARED };
typedef struct ptx_var {
    char *name;
    int space;
    uint64_t size;
    uint32_t align;
    int is_extern;
    uint8_t *init; /* size bytes or NULL */
    uint64_t addr; /* device address (global/const) or shared-window offset */
} ptx_var;

typedef struct ptx_module {
    ptx_func *funcs;
    int nfuncs, capfuncs;
    ptx_var *vars;
    int nvars, capvars;
    ptx_callsite *calls;
    int ncalls, capcalls;
    uint32_t *wops; /* register lists of wmma instructions (operand encodings) */
    int nwops, capwops;
    uint32_t shared_static; /* module-wide layout of static .shared variables */
    int has_dyn_shared;
    int version_major, version_minor;
    int sm;
    int *fidx; /* functions by name (open addressing, index + 1, 0 = empty) for ptx_find_func */
    uint32_t fidxcap;
} ptx_module;

/* Gives a .global/.const variable its device address (and copies its initialiser); 0 on success. */
typedef int (*ptx_alloc_fn)(void *ud, ptx_var *v);
/* Parses and decodes PTX text into *out. On failure returns -1 and writes a message (with line) to
 * log; *out is then a partial module the caller must release (its variables may hold memory). */
int ptx_load(const char *text, size_t len, ptx_alloc_fn alloc, void *ud, char *log, size_t logsz,
             ptx_module **out);
void ptx_free(ptx_module *m);
int ptx_find_func(const ptx_module *m, const char *name);

#endif
