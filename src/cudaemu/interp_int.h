/* interp_int.h — execution state of the interpreter (warps, frames, blocks, one exec per host
 * thread) and the small inline helpers shared by interp.c, interp_mem.c and interp_math.c. */
#ifndef CUDAEMU_INTERP_INT_H
#define CUDAEMU_INTERP_INT_H

#include "emu.h"
#include "ptx.h"

#include <stdint.h>
#include <string.h>

typedef struct frame {
    int func;
    int pc;
    uint32_t active;  /* lanes executing at pc */
    uint32_t waiting; /* lanes parked at lane_pc[] */
    uint32_t retmask; /* lanes that returned from this frame */
    int next_min;     /* smallest lane_pc among runnable waiting lanes */
    int callsite;
    size_t reg_off, pred_off, param_off;
    uint32_t local_base;
    int lane_pc[32];
    uint32_t held; /* lanes parked at lane_pc[] on a .sync warp op until the rest of its membermask
                    * arrives (not in `waiting`: the scheduler does not pick them) */
} frame;

enum { W_RUN, W_BAR, W_DONE, W_ERR };

/* A frame stack. A warp normally has one; when lanes that wait at a barrier inside a call leave
 * other lanes parked in a caller frame, those lanes get a split of their own (a copy of the
 * caller frames) so they can reach the barrier too. Splits hold disjoint lanes, and registers,
 * params and local memory are per lane, so they share the warp's storage. */
typedef struct split {
    frame *frames;
    int nframes, capframes;
} split;

typedef struct warp {
    frame *frames; /* the running split */
    int nframes, capframes;
    split *sp; /* the other splits */
    int nsp, capsp;
    uint32_t valid, exited, blocked, carry;
    int state;
    int index;
    uint64_t *regs;
    size_t regcap; /* slots */
    uint32_t *preds;
    size_t predcap;
    uint8_t *params;
    size_t paramcap;
    uint64_t spec[SP_COUNT * 32];
} warp;

typedef struct exec {
    emu_launch *L;
    ptx_module *pm;
    ptx_func *kern;
    unsigned nthreads, nwarps;
    warp *warps;
    uint8_t *shared;
    uint32_t shared_size;
    uint8_t *local;
    uint32_t local_stride;
    int arrived, live;
    int red_popc, red_false, red_true; /* bar.red contributions of the open barrier */
    int snap_popc, snap_and, snap_or;  /* results of the last completed bar.red */
    unsigned ctaid[3];
    const vm_alloc *last;
    CUresult err;
    char msg[256];
    uint64_t instrs;
    uint32_t budget;
    double deadline_ms;
    double start_ms;
    int *stop;              /* shared by the launch's threads; read atomically */
    const ptx_insn *ftz_in; /* an .ftz instruction whose result is still to be flushed (run_warp) */
    uint64_t *ftz_D;
    uint32_t ftz_m;
    uint64_t ftz_tmp[3][32]; /* flushed copies of its sources */
    /* what exec_init keeps from one launch to the next (interp_grid.c: the launching thread's
     * exec is reused while launches have the same shape) */
    unsigned warps_cap;           /* warps allocated; [nwarps, warps_cap) are spare */
    unsigned spec_warps;          /* warps whose special registers fit spec_shape */
    size_t shared_cap, local_cap; /* bytes allocated at shared, local */
    unsigned spec_shape[8];       /* block[3], grid[3], dynamic and total shared bytes */
} exec;

static inline float u2f(uint64_t v) {
    uint32_t u = (uint32_t)v;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint64_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline double u2d(uint64_t v) {
    double d;
    memcpy(&d, &v, 8);
    return d;
}
static inline uint64_t d2u(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}
static inline int64_t sext(uint64_t v, int lg) {
    switch (lg) {
    case 0:
        return (int8_t)v;
    case 1:
        return (int16_t)v;
    case 2:
        return (int32_t)v;
    default:
        return (int64_t)v;
    }
}
static inline uint64_t zext(uint64_t v, int lg) {
    switch (lg) {
    case 0:
        return (uint8_t)v;
    case 1:
        return (uint16_t)v;
    case 2:
        return (uint32_t)v;
    default:
        return v;
    }
}

/* Bits set in a lane mask, without relying on a popcnt instruction (a libgcc call otherwise). */
static inline int lane_count(uint32_t v) {
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    v = (v + (v >> 4)) & 0x0f0f0f0fu;
    return (int)((v * 0x01010101u) >> 24);
}

/* interp.c */
int run_warp(exec *x, warp *w); /* W_DONE, W_BAR, W_RUN (time slice over) or W_ERR */
int ensure_stacks(warp *w, size_t regs, size_t preds, size_t params);
void init_depot(warp *w, const ptx_func *fn, const frame *f, uint32_t lanes);

/* interp_mem.c */
uint8_t *mem_xlate_slow(exec *x, int space, uint64_t a, uint32_t n, unsigned tid, int store, int line);
uint64_t mem_atomic(uint8_t *p, const ptx_insn *in, uint64_t b, uint64_t c);

static inline uint8_t *mem_xlate(exec *x, int space, uint64_t a, uint32_t n, unsigned tid, int store,
                                 int line) {
    if (space == SS_SHARED) {
        uint32_t off = (uint32_t)a;
        if (!(off & (n - 1)) && (uint64_t)off + n <= x->shared_size) return x->shared + off;
        return mem_xlate_slow(x, space, a, n, tid, store, line);
    }
    if ((space == SS_GLOBAL || space == SS_CONST) && x->last && !(a & (n - 1))) {
        uint64_t off = a - x->last->base;
        if (off < x->last->size && x->last->size - off >= n) return x->last->host + off;
    }
    return mem_xlate_slow(x, space, a, n, tid, store, line);
}

/* interp_builtin.c: vprintf and __assertfail for the lanes in m; W_RUN or W_ERR */
int builtin_call(exec *x, warp *w, const frame *f, const ptx_func *fn, const ptx_callsite *cs, int kind,
                 uint32_t m, int line);

/* interp_wmma.c */
int wmma_exec(exec *x, const ptx_insn *in, uint64_t **bank, uint32_t m, unsigned tid_base);

/* interp_math.c */
uint64_t cvt_value(const ptx_insn *in, uint64_t v);
void ftz_sources(const ptx_insn *in, const uint64_t **A, const uint64_t **B, const uint64_t **C, uint32_t m,
                 uint64_t tmp[3][32]);
void ftz_result(const ptx_insn *in, uint64_t *D, uint32_t m);
void minmax_mod(const ptx_insn *in, uint64_t *D, const uint64_t *A, const uint64_t *B, uint32_t m);
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
uint32_t setp_mask(const ptx_insn *in, const uint64_t *A, const uint64_t *B, uint32_t m);
uint64_t fma_op(const ptx_insn *in, uint64_t a, uint64_t b, uint64_t c);
void fround_op(const ptx_insn *in, uint64_t *D, const uint64_t *A, const uint64_t *B, const uint64_t *C,
               uint32_t m);
uint16_t half_round(float x, int rnd);
void half_op(const ptx_insn *in, uint64_t *D, const uint64_t *A, const uint64_t *B, const uint64_t *C,
             uint32_t m);

#endif
