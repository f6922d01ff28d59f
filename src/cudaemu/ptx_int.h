/* ptx_int.h — parser state shared by ptx_parse.c (structure, declarations, operands) and
 * ptx_decode.c (one instruction at a time into ptx_insn). */
#ifndef CUDAEMU_PTX_INT_H
#define CUDAEMU_PTX_INT_H

#include "ptx.h"
#include "ptx_lex.h"

#include <stdint.h>

/* Symbol kinds. */
enum { S_NONE, S_REG, S_PRED, S_LOCAL, S_FPARAM, S_KPARAM, S_LABEL, S_VAR, S_FUNC };

typedef struct sym {
    char *key;
    int kind;
    int64_t val;
    uint32_t size;
} sym;

typedef struct symtab {
    sym *e;
    uint32_t cap, n;
} symtab;

sym *symtab_get(symtab *t, const char *k, uint32_t len);
sym *symtab_put(symtab *t, const char *k, uint32_t len); /* existing or new (kind S_NONE) */
void symtab_free(symtab *t);

/* Operands as parsed. */
enum {
    PO_NONE,
    PO_REG,
    PO_PRED,
    PO_SPEC,
    PO_IMM,
    PO_F32,
    PO_F64,
    PO_FLT,
    PO_SYM,
    PO_ADDR,
    PO_VEC,
    PO_LIST,
    PO_SINK
};
/* Dynamic special registers (PO_SPEC with idx >= SPD_BASE). */
#define SPD_BASE 1000
enum { SPD_CLOCK = SPD_BASE, SPD_CLOCK64, SPD_GTIMER, SPD_GTIMER_LO, SPD_GTIMER_HI };

typedef struct sopnd {
    int kind;
    uint32_t idx;
    int neg;
    uint64_t ival;
    double fval;
    sym *sy; /* PO_SYM */
    const char *name;
    uint32_t namelen;
} sopnd;

#define MAX_LIST 64
typedef struct popnd {
    sopnd o;
    int has_pipe;
    sopnd pipe; /* d|p */
    /* PO_ADDR */
    sopnd abase; /* PO_REG, PO_SYM or PO_NONE */
    int64_t aoff;
    /* PO_VEC / PO_LIST */
    int n;
    sopnd v[MAX_LIST];
} popnd;

typedef struct patch {
    int func;
    int is_const; /* 1: const slot, 0: insn imm */
    uint32_t index;
    int var;
    int64_t add;
} patch;

typedef struct fixup {
    uint32_t insn;
    char *label;
    int line;
} fixup;

/* A declaration in a nested { } block shadows an outer one until the block closes. */
typedef struct shadow {
    char *key;
    int had;
    sym old;
} shadow;

typedef struct pstate {
    ptx_tok *t;
    int n, i;
    ptx_module *m;
    char *log;
    size_t logsz;
    int failed;
    ptx_alloc_fn alloc;
    void *ud;
    symtab g;        /* module: variables, functions */
    symtab l;        /* function: registers, locals, params, labels */
    int fi;          /* current function */
    uint64_t *cvals; /* raw constants of the current function */
    patch *patches;
    int npatches, cappatches;
    fixup *fix;
    int nfix, capfix;
    shadow *shadows;
    int nshadows, capshadows;
    int depth;     /* block nesting inside a function body (1 = the body) */
    int marks[64]; /* nshadows at each open block */
    int depot_reg; /* register holding the local depot base, -1 if none */
    int sink_reg;
    int sink_pred;
    int dyn_shared_var;
} pstate;

int perr(pstate *ps, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* decode one instruction: opcode token text, operands */
int ptx_decode(pstate *ps, const char *op, uint32_t oplen, popnd *ops, int nops, int guard, int gneg,
               int line);

/* helpers provided by ptx_parse.c for the decoder */
uint32_t const_slot(pstate *ps, uint64_t v);
uint32_t const_slot_unique(pstate *ps, uint64_t v); /* never shared: patched later */
ptx_insn *emit(pstate *ps, int line);
void add_patch(pstate *ps, int is_const, uint32_t index, int var, int64_t add);
void add_fixup(pstate *ps, uint32_t insn, const char *name, uint32_t len, int line);
uint32_t new_reg(pstate *ps);

#endif
