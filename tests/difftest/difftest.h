/* difftest.h — the program form shared by the generator (gen.c), the PTX printer (emit.c), the
 * host reference (ref.c) and the driver (difftest.c) of the cudaemu differential tester.
 *
 * A program is a tree of statements over a fixed register file per thread:
 *   %r0..%r47   32-bit registers: 0..23 pool (each an integer or an f32 register for the whole
 *               program), 24..27 integer temporaries, 32..39 loop counters, 40..44 read-only
 *               (tid.x, laneid, ctaid.x, warp index, the uniform kernel parameter)
 *   %rd0..%rd19 64-bit registers: 0..15 pool (integer or f64), 16..19 integer temporaries
 *   %p0..%p7    predicates
 * Every register starts from the input buffer, every register ends in the output buffer. */
#ifndef LEPTON_DIFFTEST_H
#define LEPTON_DIFFTEST_H

#include <stddef.h>
#include <stdint.h>

#define NR 48
#define NR_POOL 24
#define NR_TEMP0 24
#define NR_CNT0 32
#define NR_RO0 40 /* tid, laneid, ctaid, warp, uniform param */
#define NR_OUT 40 /* %r0..%r39 are written out */
#define NQ 20
#define NQ_POOL 16
#define NP 8
#define SLOTS 2 /* shared words per thread in each of the regions A, B (phase buffers) and X */
#define IN_WORDS (NR_OUT + 2 * NQ + 2)              /* registers, predicate bits, padding */
#define OUT_WORDS (NR_OUT + 2 * NQ + 1 + SLOTS + 1) /* registers, predicates, X slots, padding */

enum { K_INT, K_FLT }; /* register kinds */
enum { RC_NONE, RC_32, RC_64, RC_P, RC_IMM };

/* PTX types */
enum { TU8, TU16, TU32, TU64, TS8, TS16, TS32, TS64, TB32, TB64, TF32, TF64, TPRED, TF16, TBF16, TY_N };

/* Bits of a type's integer view (8, 16 or 64; 32 for every other type) and whether it is signed:
 * used by the emitter and the reference alike. */
static inline int ty_bits(int t) {
    switch (t) {
    case TU8:
    case TS8:
        return 8;
    case TU16:
    case TS16:
        return 16;
    case TU64:
    case TS64:
    case TB64:
    case TF64:
        return 64;
    default:
        return 32;
    }
}
static inline int ty_signed(int t) { return t == TS8 || t == TS16 || t == TS32 || t == TS64; }

typedef struct opnd {
    uint8_t cls; /* RC_* */
    uint8_t idx;
    uint8_t neg; /* predicate source written !p */
    uint64_t imm;
} opnd;

/* IR operations (one PTX instruction or a fixed idiom each) */
enum {
    I_MOV,
    I_ADD,
    I_SUB,
    I_MUL,
    I_MAD,
    I_DIV,
    I_REM,
    I_MIN,
    I_MAX,
    I_AND,
    I_OR,
    I_XOR,
    I_NOT,
    I_CNOT,
    I_SHL,
    I_SHR,
    I_NEG,
    I_ABS,
    I_POPC,
    I_CLZ,
    I_BREV,
    I_BFIND,
    I_BFE,
    I_BFI,
    I_PRMT,
    I_LOP3,
    I_SHF,
    I_SAD,
    I_MUL24,
    I_MAD24,
    I_DP4A,
    I_DP2A,
    I_ADDC,
    I_SUBC,
    I_SETP,
    I_SET,
    I_SELP,
    I_SLCT,
    I_TESTP,
    I_PAND,
    I_POR,
    I_PXOR,
    I_PNOT,
    I_CVT,
    I_FADD,
    I_FSUB,
    I_FMUL,
    I_FFMA,
    I_FDIV,
    I_FSQRT,
    I_FRCP,
    I_FMIN,
    I_FMAX,
    I_FABS,
    I_FNEG,
    I_SHFL,
    I_VOTE,
    I_REDUX,
    I_MATCH,
    I_STS,
    I_LDS,
    I_TOH,    /* cvt to f16/bf16 (ty) from ty2 with a rounding, and back to f32 (exact) */
    I_FROMH,  /* f16/bf16 bits (ty2) from an integer register, cvt to ty */
    I_HARITH, /* f16/bf16 (ty) arithmetic on the low 16 bits of integer registers; mod2 = I_FADD.. */
    I_I16,    /* u16/s16 (ty) integer operation mod2 on the low 16 bits of integer registers */
    I_COUNT
};
/* flags */
#define FL_SAT 0x1u
#define FL_FTZ 0x2u
#define FL_HI 0x4u
#define FL_WIDE 0x8u
#define FL_CC 0x10u   /* add.cc / addc.cc ... */
#define FL_NAN 0x20u  /* min.NaN / max.NaN */
#define FL_RELU 0x40u /* min.relu / max.relu */
#define FL_CLAMP 0x80u
#define FL_LEFT 0x100u
#define FL_SHAMT 0x200u
#define FL_XSA 0x400u /* min/max .xorsign.abs */

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
    CMP_NAN,
    CMP_N
};
enum { RN_NONE, RN_RN, RN_RZ, RN_RM, RN_RP, RN_RNI, RN_RZI, RN_RMI, RN_RPI };
enum { BO_NONE, BO_AND, BO_OR, BO_XOR };

typedef struct insn {
    uint8_t op, ty, ty2, mod, mod2;
    uint16_t fl;
    int8_t guard; /* predicate index or -1 */
    uint8_t gneg;
    opnd d, d2, a, b, c, e;
} insn;

enum { S_INSN, S_IF, S_LOOP, S_ULOOP, S_BREAK, S_BAR, S_PAIRX, S_BITONIC };

typedef struct stmt stmt;
typedef struct block {
    stmt *s;
    int n, cap;
} block;
struct stmt {
    int kind;
    insn in;  /* S_INSN */
    int pred; /* S_IF / S_BREAK: predicate; S_LOOP: source register of the trip count */
    int pneg;
    int cnt;       /* loops: counter register */
    uint32_t mask; /* S_LOOP: trip = src & mask; S_ULOOP: trip = ((param >> shift) & 3) + 1 */
    int shift;
    int j, dmask, slot, sgn; /* S_PAIRX */
    block body, els;
};

typedef struct prog {
    uint64_t seed;
    int nt, nblocks; /* threads per block, blocks */
    uint32_t param;  /* the uniform kernel parameter */
    uint8_t kind32[NR], kind64[NQ];
    int warp_ops; /* uses shfl/vote/redux/match (needs whole warps) */
    int sm90;     /* uses PTX 8.0 / sm_90 features (min/max.relu) */
    int nover;    /* input words set to fixed values in every thread (regression cases) */
    struct {
        int word;
        uint32_t val;
    } over[8];
    block top;
} prog;

/* gen.c */
typedef struct rng {
    uint64_t s;
} rng;
uint64_t rng_next(rng *r);
uint32_t rng_below(rng *r, uint32_t n);
typedef struct genopts {
    int warp;      /* shfl/vote/redux/match */
    int shared;    /* shared memory, barriers, pair exchanges */
    int loops;     /* divergent and uniform loops */
    int bitonic;   /* a 1024-thread bitonic sort */
    int ftz;       /* .ftz variants */
    int newmods;   /* min/max .NaN, .relu, .xorsign.abs */
    int longloops; /* divergent loops of up to 255 iterations */
} genopts;
void gen_program(prog *p, uint64_t seed, const genopts *o);
void gen_inputs(const prog *p, uint64_t seed, uint32_t *in);
void prog_free(prog *p);
void block_free(block *b);
stmt *block_push(block *b); /* a new empty instruction statement at the end */
int block_count(const block *b);

/* regress.c: fixed minimal programs for bugs the tester found; fills *p and returns the case's
 * name, with the output word of thread 0 that the reference must produce (NULL past the end) */
const char *regress_case(int i, prog *p, int *word, uint32_t *val);
const char *regress_open_case(int i, prog *p, int *word, uint32_t *val);

/* emit.c: PTX text of the program (malloc'd) */
char *emit_ptx(const prog *p);
extern const char *const ty_name[TY_N];

/* ref.c: runs the program on the host; fills out (nblocks*nt*OUT_WORDS words) */
void ref_run(const prog *p, const uint32_t *in, uint32_t *out);
/* true when the value of this output word is a float (NaN payloads are not compared) */
int out_word_kind(const prog *p, int w, int *is64, int *hi);

#endif
