/* interp.c — executes decoded PTX for one warp: one instruction at a time over 32 lanes with an
 * active mask, divergence/reconvergence by per-frame "lowest PC first" scheduling (with a time
 * slice that rotates groups for forward progress), calls as frames, barrier arrival. */
#include "interp_int.h"
#include "tex.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define R(o) (bank[(o) >> 28] + (size_t)((o)&0x0fffffffu) * 32u)
#define LANES(...)                                                                                           \
    do {                                                                                                     \
        if (m == 0xffffffffu) {                                                                              \
            for (int l = 0; l < 32; l++) {                                                                   \
                __VA_ARGS__;                                                                                 \
            }                                                                                                \
        } else {                                                                                             \
            for (uint32_t mm_ = m; mm_; mm_ &= mm_ - 1) {                                                    \
                int l = __builtin_ctz(mm_);                                                                  \
                __VA_ARGS__;                                                                                 \
            }                                                                                                \
        }                                                                                                    \
    } while (0)

/* Integer op over the operation width: EXPR uses a, b (uint64_t). */
#define INT_BIN(EXPR)                                                                                        \
    switch (TY_LG(in->type)) {                                                                               \
    case 0:                                                                                                  \
        LANES(uint64_t a = A[l], b = B[l]; (void)b; D[l] = (uint8_t)(EXPR));                                 \
        break;                                                                                               \
    case 1:                                                                                                  \
        LANES(uint64_t a = A[l], b = B[l]; (void)b; D[l] = (uint16_t)(EXPR));                                \
        break;                                                                                               \
    case 2:                                                                                                  \
        LANES(uint64_t a = A[l], b = B[l]; (void)b; D[l] = (uint32_t)(EXPR));                                \
        break;                                                                                               \
    default:                                                                                                 \
        LANES(uint64_t a = A[l], b = B[l]; (void)b; D[l] = (EXPR));                                          \
        break;                                                                                               \
    }
#define SGN_BIN(EXPR)                                                                                        \
    switch (TY_LG(in->type)) {                                                                               \
    case 0:                                                                                                  \
        LANES(int64_t a = (int8_t)A[l], b = (int8_t)B[l]; (void)b; D[l] = (uint8_t)(EXPR));                  \
        break;                                                                                               \
    case 1:                                                                                                  \
        LANES(int64_t a = (int16_t)A[l], b = (int16_t)B[l]; (void)b; D[l] = (uint16_t)(EXPR));               \
        break;                                                                                               \
    case 2:                                                                                                  \
        LANES(int64_t a = (int32_t)A[l], b = (int32_t)B[l]; (void)b; D[l] = (uint32_t)(EXPR));               \
        break;                                                                                               \
    default:                                                                                                 \
        LANES(int64_t a = (int64_t)A[l], b = (int64_t)B[l]; (void)b; D[l] = (uint64_t)(EXPR));               \
        break;                                                                                               \
    }
#define UNS_BIN(EXPR)                                                                                        \
    switch (TY_LG(in->type)) {                                                                               \
    case 0:                                                                                                  \
        LANES(uint64_t a = (uint8_t)A[l], b = (uint8_t)B[l]; (void)b; D[l] = (uint8_t)(EXPR));               \
        break;                                                                                               \
    case 1:                                                                                                  \
        LANES(uint64_t a = (uint16_t)A[l], b = (uint16_t)B[l]; (void)b; D[l] = (uint16_t)(EXPR));            \
        break;                                                                                               \
    case 2:                                                                                                  \
        LANES(uint64_t a = (uint32_t)A[l], b = (uint32_t)B[l]; (void)b; D[l] = (uint32_t)(EXPR));            \
        break;                                                                                               \
    default:                                                                                                 \
        LANES(uint64_t a = A[l], b = B[l]; (void)b; D[l] = (EXPR));                                          \
        break;                                                                                               \
    }
#define FLT_BIN(EXPR32, EXPR64)                                                                              \
    if (TY_LG(in->type) == 2) {                                                                              \
        LANES(float a = u2f(A[l]), b = u2f(B[l]); (void)b; float r = (EXPR32); D[l] = f2u(r));               \
    } else {                                                                                                 \
        LANES(double a = u2d(A[l]), b = u2d(B[l]); (void)b; double r = (EXPR64); D[l] = d2u(r));             \
    }
#define FLT_UN(EXPR32, EXPR64)                                                                               \
    if (TY_LG(in->type) == 2) {                                                                              \
        LANES(float a = u2f(A[l]); float r = (EXPR32); D[l] = f2u(r));                                       \
    } else {                                                                                                 \
        LANES(double a = u2d(A[l]); double r = (EXPR64); D[l] = d2u(r));                                     \
    }

double emu_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
#define now_ms emu_now_ms

static uint64_t wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static float satf(float r) { return r != r ? 0.0f : r < 0 ? 0.0f : r > 1 ? 1.0f : r; }
static double satd(double r) { return r != r ? 0.0 : r < 0 ? 0.0 : r > 1 ? 1.0 : r; }

static int set_error(exec *x, CUresult e, const char *msg, int line) {
    if (x->err == CUDA_SUCCESS) {
        x->err = e;
        snprintf(x->msg, sizeof x->msg, "%s (PTX line %d, block (%u,%u,%u))", msg, line, x->ctaid[0],
                 x->ctaid[1], x->ctaid[2]);
    }
    return W_ERR;
}

/* Picks the lowest-PC group of runnable parked lanes; returns 0 when none is runnable. One pass:
 * the group at the lowest PC so far and the lowest PC above it. */
static int reschedule(frame *f, uint32_t blocked) {
    uint32_t run = f->waiting & ~blocked;
    if (!run) {
        f->active = 0;
        f->next_min = INT_MAX;
        return 0;
    }
    if (run == 0xffffffffu) {
        /* the common case after a barrier or a reconverged branch: every lane at one pc */
        int p0 = f->lane_pc[0], same = 1;
        for (int l = 1; l < 32; l++)
            same &= f->lane_pc[l] == p0;
        if (same) {
            f->active = run;
            f->waiting = 0;
            f->pc = p0;
            f->next_min = INT_MAX;
            return 1;
        }
    }
    int minpc = INT_MAX, next = INT_MAX;
    uint32_t act = 0;
    for (uint32_t mm = run; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        int p = f->lane_pc[l];
        if (p == minpc) {
            act |= 1u << l;
        } else if (p < minpc) {
            next = minpc;
            minpc = p;
            act = 1u << l;
        } else if (p < next) {
            next = p;
        }
    }
    f->active = act;
    f->waiting &= ~act;
    f->pc = minpc;
    f->next_min = next;
    return 1;
}

/* Like reschedule, but picks the parked group with the lowest PC above `after` (wrapping around):
 * used when a warp's time slice ends, so that lanes spinning on a lock held by other lanes of the
 * same warp let those lanes run (forward progress as with independent thread scheduling). */
static int reschedule_rotate(frame *f, uint32_t blocked, int after) {
    uint32_t run = f->waiting & ~blocked;
    int pick = INT_MAX;
    for (uint32_t mm = run; mm; mm &= mm - 1) {
        int p = f->lane_pc[__builtin_ctz(mm)];
        if (p > after && p < pick) pick = p;
    }
    if (pick == INT_MAX) return reschedule(f, blocked);
    uint32_t act = 0;
    int next = INT_MAX;
    for (uint32_t mm = run; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        if (f->lane_pc[l] == pick)
            act |= 1u << l;
        else if (f->lane_pc[l] < next)
            next = f->lane_pc[l];
    }
    f->active = act;
    f->waiting &= ~act;
    f->pc = pick;
    f->next_min = next;
    return 1;
}

static void park(frame *f, uint32_t lanes, int pc) {
    if (lanes == 0xffffffffu) {
        for (int l = 0; l < 32; l++)
            f->lane_pc[l] = pc;
    } else {
        for (uint32_t mm = lanes; mm; mm &= mm - 1)
            f->lane_pc[__builtin_ctz(mm)] = pc;
    }
    f->waiting |= lanes;
}

/* 8 bytes of 0/1 (little-endian) to 8 bits: byte i becomes bit i. */
static inline uint32_t pack8(uint64_t v) { return (uint32_t)((v * 0x0102040810204080ull) >> 56); }
static inline uint32_t pack32(const uint8_t *t) {
    uint32_t r = 0;
    for (int k = 0; k < 4; k++) {
        uint64_t v;
        memcpy(&v, t + 8 * k, 8);
        r |= pack8(v) << (8 * k);
    }
    return r;
}

/* setp over all 32 lanes for the common 32-bit comparisons, in a form the compiler vectorises;
 * returns 0 with *ok = 0 for anything else (setp_mask does those). */
static inline __attribute__((always_inline)) uint32_t setp_fast32(const ptx_insn *in, const uint64_t *A,
                                                                  const uint64_t *B, int *ok) {
    uint8_t t[32];
    *ok = 1;
#define SETP_L(EXPR)                                                                                         \
    for (int l = 0; l < 32; l++)                                                                             \
    t[l] = (uint8_t)(EXPR)
    if (in->type2 == T_S32) {
        switch (in->mod) {
        case CMP_EQ:
            SETP_L((int32_t)A[l] == (int32_t)B[l]);
            break;
        case CMP_NE:
            SETP_L((int32_t)A[l] != (int32_t)B[l]);
            break;
        case CMP_LT:
            SETP_L((int32_t)A[l] < (int32_t)B[l]);
            break;
        case CMP_LE:
            SETP_L((int32_t)A[l] <= (int32_t)B[l]);
            break;
        case CMP_GT:
            SETP_L((int32_t)A[l] > (int32_t)B[l]);
            break;
        case CMP_GE:
            SETP_L((int32_t)A[l] >= (int32_t)B[l]);
            break;
        default:
            *ok = 0;
            return 0;
        }
    } else if (in->type2 == T_U32 || in->type2 == T_B32) {
        switch (in->mod) {
        case CMP_EQ:
            SETP_L((uint32_t)A[l] == (uint32_t)B[l]);
            break;
        case CMP_NE:
            SETP_L((uint32_t)A[l] != (uint32_t)B[l]);
            break;
        case CMP_LT:
        case CMP_LO:
            SETP_L((uint32_t)A[l] < (uint32_t)B[l]);
            break;
        case CMP_LE:
        case CMP_LS:
            SETP_L((uint32_t)A[l] <= (uint32_t)B[l]);
            break;
        case CMP_GT:
        case CMP_HI:
            SETP_L((uint32_t)A[l] > (uint32_t)B[l]);
            break;
        case CMP_GE:
        case CMP_HS:
            SETP_L((uint32_t)A[l] >= (uint32_t)B[l]);
            break;
        default:
            *ok = 0;
            return 0;
        }
    } else if (in->type2 == T_F32) {
        switch (in->mod) {
        case CMP_EQ:
            SETP_L(u2f(A[l]) == u2f(B[l]));
            break;
        case CMP_LT:
            SETP_L(u2f(A[l]) < u2f(B[l]));
            break;
        case CMP_LE:
            SETP_L(u2f(A[l]) <= u2f(B[l]));
            break;
        case CMP_GT:
            SETP_L(u2f(A[l]) > u2f(B[l]));
            break;
        case CMP_GE:
            SETP_L(u2f(A[l]) >= u2f(B[l]));
            break;
        default:
            *ok = 0;
            return 0;
        }
    } else {
        *ok = 0;
        return 0;
    }
#undef SETP_L
    return pack32(t);
}

static void recompute_next(frame *f, uint32_t blocked) {
    int next = INT_MAX;
    for (uint32_t mm = f->waiting & ~blocked; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        if (f->lane_pc[l] < next) next = f->lane_pc[l];
    }
    f->next_min = next;
}

/* Host base for a whole warp's access of n bytes at A[l] + off (all 32 lanes), when every lane's
 * address is aligned and inside shared memory (SS_SHARED) or inside the last global allocation
 * used (SS_GLOBAL/SS_CONST): the caller then indexes base + offset(l) without per-lane checks.
 * NULL when any lane needs the checked per-lane path. */
static inline uint8_t *warp_span(exec *x, int sp, const uint64_t *A, int64_t off, uint32_t n,
                                 uint64_t *bias) {
    uint64_t bad = 0;
    if (sp == SS_SHARED) {
        uint64_t lim = x->shared_size >= n ? x->shared_size - n : 0;
        if (x->shared_size < n) return NULL;
        for (int l = 0; l < 32; l++) {
            uint32_t o = (uint32_t)(A[l] + (uint64_t)off);
            bad |= (uint64_t)(o & (n - 1)) | (uint64_t)(o > lim);
        }
        if (bad) return NULL;
        *bias = 0;
        return x->shared;
    }
    if ((sp == SS_GLOBAL || sp == SS_CONST) && x->last && x->last->size >= n) {
        uint64_t base = x->last->base, lim = x->last->size - n;
        for (int l = 0; l < 32; l++) {
            uint64_t a = A[l] + (uint64_t)off;
            bad |= (a & (n - 1)) | (uint64_t)(a - base > lim);
        }
        if (bad) return NULL;
        *bias = base;
        return x->last->host;
    }
    return NULL;
}

/* Each lane's byte offset from the host base warp_span returned (its bias): shared addresses wrap
 * at 32 bits as the checked path reads them. */
static inline void span_index(uint64_t idx[32], const uint64_t *A, int64_t off, int sp, uint64_t bias) {
    if (sp == SS_SHARED) {
        for (int l = 0; l < 32; l++)
            idx[l] = (uint32_t)(A[l] + (uint64_t)off);
    } else {
        for (int l = 0; l < 32; l++)
            idx[l] = A[l] + (uint64_t)off - bias;
    }
}

/* fma.rn.f32 over 32 lanes with the CPU's FMA instructions where it has them (the same single
 * rounding as fmaf, without a libm call per lane); fmaf elsewhere. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("fma"))) static void fma32_hw(uint64_t *D, const uint64_t *A, const uint64_t *B,
                                                    const uint64_t *C) {
    for (int l = 0; l < 32; l++)
        D[l] = f2u(__builtin_fmaf(u2f(A[l]), u2f(B[l]), u2f(C[l])));
}
static int fma32_hw_ok(void) {
    static int ok = -1;
    int v = __atomic_load_n(&ok, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("fma") ? 1 : 0;
        __atomic_store_n(&ok, v, __ATOMIC_RELAXED);
    }
    return v;
}
#else
static void fma32_hw(uint64_t *D, const uint64_t *A, const uint64_t *B, const uint64_t *C) {
    for (int l = 0; l < 32; l++)
        D[l] = f2u(fmaf(u2f(A[l]), u2f(B[l]), u2f(C[l])));
}
static int fma32_hw_ok(void) { return 1; }
#endif

int ensure_stacks(warp *w, size_t regs, size_t preds, size_t params) {
    if (regs > w->regcap) {
        size_t nc = regs * 2;
        uint64_t *n = realloc(w->regs, nc * 32 * sizeof(uint64_t));
        if (!n) return -1;
        w->regs = n;
        w->regcap = nc;
    }
    if (preds > w->predcap) {
        size_t nc = preds * 2 + 8;
        uint32_t *n = realloc(w->preds, nc * sizeof(uint32_t));
        if (!n) return -1;
        w->preds = n;
        w->predcap = nc;
    }
    if (params > w->paramcap) {
        size_t nc = params * 2 + 64;
        uint8_t *n = realloc(w->params, nc);
        if (!n) return -1;
        w->params = n;
        w->paramcap = nc;
    }
    return 0;
}

void init_depot(warp *w, const ptx_func *fn, const frame *f, uint32_t lanes) {
    if (fn->depot_reg < 0) return;
    uint64_t *d = w->regs + (f->reg_off + (size_t)fn->depot_reg) * 32;
    for (int l = 0; l < 32; l++)
        if (lanes >> l & 1) d[l] = f->local_base;
}

static int do_call(exec *x, warp *w, const ptx_insn *in, int callee, uint32_t m, int line) {
    frame *f = &w->frames[w->nframes - 1];
    const ptx_func *fn = &x->pm->funcs[f->func];
    const ptx_callsite *cs = &x->pm->calls[in->imm];
    const ptx_func *cf = &x->pm->funcs[callee];
    if (cf->builtin) return builtin_call(x, w, f, fn, cs, cf->builtin, m, line);
    if (w->nframes >= 256) return set_error(x, CUDA_ERROR_LAUNCH_FAILED, "call stack overflow", line);
    if (w->nframes >= w->capframes) {
        int nc = w->capframes * 2;
        frame *nf = realloc(w->frames, (size_t)nc * sizeof *nf);
        if (!nf) return set_error(x, CUDA_ERROR_OUT_OF_MEMORY, "out of memory", line);
        w->frames = nf;
        w->capframes = nc;
        f = &w->frames[w->nframes - 1];
    }
    size_t reg_off = f->reg_off + fn->nregs;
    size_t pred_off = f->pred_off + fn->npreds;
    size_t param_off = f->param_off + (size_t)fn->frame_param_size * 32;
    uint32_t local_base = (f->local_base + fn->local_size + 15u) & ~15u;
    if ((uint64_t)local_base + cf->local_size > x->local_stride)
        return set_error(x, CUDA_ERROR_LAUNCH_FAILED, "local memory (stack) overflow", line);
    /* bounds the host memory a deep or recursive call chain may take (16 MiB of registers a warp) */
    if ((reg_off + cf->nregs) * 32 * sizeof(uint64_t) > (16u << 20))
        return set_error(x, CUDA_ERROR_LAUNCH_FAILED, "call stack overflow (registers)", line);
    if (ensure_stacks(w, reg_off + cf->nregs, pred_off + cf->npreds + 1,
                      param_off + (size_t)cf->frame_param_size * 32 + 16))
        return set_error(x, CUDA_ERROR_OUT_OF_MEMORY, "out of memory", line);
    frame *c = &w->frames[w->nframes++];
    c->func = callee;
    c->pc = 0;
    c->active = m;
    c->waiting = 0;
    c->retmask = 0;
    c->held = 0;
    c->next_min = INT_MAX;
    c->callsite = (int)in->imm;
    c->reg_off = reg_off;
    c->pred_off = pred_off;
    c->param_off = param_off;
    c->local_base = local_base;
    const uint8_t *src = w->params + f->param_off;
    uint8_t *dst = w->params + param_off;
    for (int a = 0; a < cs->nargs && a < cf->nparams; a++) {
        uint32_t n = cs->arg_size[a] < cf->params[a].size ? cs->arg_size[a] : cf->params[a].size;
        for (uint32_t mm = m; mm; mm &= mm - 1) {
            int l = __builtin_ctz(mm);
            memcpy(dst + (size_t)l * cf->frame_param_size + cf->params[a].offset,
                   src + (size_t)l * fn->frame_param_size + cs->arg_off[a], n);
        }
    }
    init_depot(w, cf, c, m);
    return W_RUN;
}

static int split_runnable(const split *s, uint32_t blocked) {
    const frame *t = &s->frames[s->nframes - 1];
    return t->active != 0 || (t->waiting & ~blocked) != 0;
}

/* Makes another split current: a runnable one if any. The current one is kept unless done. */
static int switch_split(warp *w, int current_done) {
    for (int i = 0; i < w->nsp; i++) {
        if (!split_runnable(&w->sp[i], w->blocked)) continue;
        split cur = {w->frames, w->nframes, w->capframes};
        w->frames = w->sp[i].frames;
        w->nframes = w->sp[i].nframes;
        w->capframes = w->sp[i].capframes;
        if (current_done) {
            free(cur.frames);
            w->sp[i] = w->sp[--w->nsp];
        } else {
            w->sp[i] = cur;
        }
        return 1;
    }
    return 0;
}

/* Lanes parked in caller frame `depth` and below can run while the lanes of the frames above wait
 * at a barrier: move them to a new split that becomes current. */
static int fork_split(warp *w, int depth) {
    if (w->nsp == w->capsp) {
        int nc = w->capsp ? w->capsp * 2 : 4;
        split *n = realloc(w->sp, (size_t)nc * sizeof *n);
        if (!n) return -1;
        w->sp = n;
        w->capsp = nc;
    }
    int cap = depth + 8;
    frame *copy = malloc((size_t)cap * sizeof *copy);
    if (!copy) return -1;
    for (int k = 0; k <= depth; k++) {
        frame *o = &w->frames[k];
        /* lanes held at a warp-sync op wait for lanes that now wait at a barrier: released */
        uint32_t run = (o->waiting & ~w->blocked) | o->held;
        copy[k] = *o;
        copy[k].waiting = run;
        copy[k].active = 0;
        copy[k].retmask = 0;
        copy[k].held = 0;
        o->held = 0;
        o->waiting &= ~run;
        recompute_next(o, w->blocked);
        recompute_next(&copy[k], w->blocked);
    }
    w->sp[w->nsp].frames = w->frames;
    w->sp[w->nsp].nframes = w->nframes;
    w->sp[w->nsp].capframes = w->capframes;
    w->nsp++;
    w->frames = copy;
    w->nframes = depth + 1;
    w->capframes = cap;
    return 0;
}

/* The top frame has no runnable lanes left: pop it (returning to the caller) or finish. */
static int frame_empty(exec *x, warp *w) {
    frame *f = &w->frames[w->nframes - 1];
    if (f->held) {
        /* lanes held at a .sync warp op and nothing else of the frame can run: the lanes they wait
         * for exited, returned or wait at a barrier (undefined in CUDA); they go on without them */
        f->waiting |= f->held;
        f->held = 0;
        recompute_next(f, w->blocked);
        return W_RUN;
    }
    if (f->waiting & w->blocked) {
        for (int k = w->nframes - 2; k >= 0; k--) {
            if (w->frames[k].waiting & ~w->blocked || w->frames[k].held) {
                if (fork_split(w, k)) return set_error(x, CUDA_ERROR_OUT_OF_MEMORY, "out of memory", 0);
                return W_RUN;
            }
        }
        if (switch_split(w, 0)) return W_RUN;
        return W_BAR;
    }
    if (w->nframes == 1) {
        if (w->nsp == 0) return W_DONE;
        if (switch_split(w, 1)) return W_RUN;
        /* only splits waiting at a barrier are left: keep one current, drop this finished one */
        free(w->frames);
        w->nsp--;
        w->frames = w->sp[w->nsp].frames;
        w->nframes = w->sp[w->nsp].nframes;
        w->capframes = w->sp[w->nsp].capframes;
        return W_BAR;
    }
    const ptx_func *cf = &x->pm->funcs[f->func];
    frame *c = &w->frames[w->nframes - 2];
    const ptx_func *fn = &x->pm->funcs[c->func];
    const ptx_callsite *cs = &x->pm->calls[f->callsite];
    uint32_t lanes = f->retmask & ~w->exited;
    if (cs->has_ret && cf->has_ret) {
        uint32_t n = cs->ret_size < cf->ret.size ? cs->ret_size : cf->ret.size;
        for (uint32_t mm = lanes; mm; mm &= mm - 1) {
            int l = __builtin_ctz(mm);
            memcpy(w->params + c->param_off + (size_t)l * fn->frame_param_size + cs->ret_off,
                   w->params + f->param_off + (size_t)l * cf->frame_param_size + cf->ret.offset, n);
        }
    }
    w->nframes--;
    /* c->pc already holds the return point */
    c->active = lanes;
    if (!lanes || c->pc > c->next_min) {
        park(c, lanes, c->pc);
        if (!reschedule(c, w->blocked)) return frame_empty(x, w);
    }
    return W_RUN;
}

/* The warp ops, over the lanes m that execute them (inlined into run_warp; also run for a group
 * released from a .sync wait by sync_arrive). */
static __attribute__((noinline)) void shfl_op(const ptx_insn *in, uint64_t *D, const uint64_t *A,
                                              const uint64_t *B, const uint64_t *C, uint32_t *P, uint32_t m) {
    uint64_t src[32];
    for (int l = 0; l < 32; l++)
        src[l] = A[l];
    uint32_t pr = 0;
    int mode = in->mod;
    LANES(
        uint32_t bval = (uint32_t)B[l] & 31, c = (uint32_t)C[l]; uint32_t cval = c & 31, seg = (c >> 8) & 31;
        int maxl = (int)((l & seg) | (cval & ~seg)), minl = (int)(l & seg); int j; int ok; switch (mode) {
            case 0:
                j = l - (int)bval;
                ok = j >= maxl;
                break;
            case 1:
                j = l + (int)bval;
                ok = j <= maxl;
                break;
            case 2:
                j = l ^ (int)bval;
                ok = j <= maxl;
                break;
            default:
                j = minl | (int)(bval & ~seg);
                ok = j <= maxl;
                break;
        } if (!ok || j < 0 || j > 31) j = l;
        D[l] = (uint32_t)src[j]; pr |= (uint32_t)ok << l);
    if (in->d[1] != OP_NONE) P[in->d[1]] = (P[in->d[1]] & ~m) | pr;
}

static __attribute__((noinline)) void vote_op(const ptx_insn *in, uint64_t *D, const uint64_t *B, uint32_t *P,
                                              uint32_t m) {
    uint32_t p = P[in->s[0]];
    if (in->flags & F_PNEG_A) p = ~p;
    if (!m) return;
    uint32_t mem = (uint32_t)B[__builtin_ctz(m)] & m;
    p &= mem;
    if (in->mod == 3) {
        LANES(D[l] = p);
    } else {
        int r = in->mod == 0 ? p == mem : in->mod == 1 ? p != 0 : (p == 0 || p == mem);
        P[in->d[0]] = (P[in->d[0]] & ~m) | (r ? m : 0);
    }
}

static __attribute__((noinline)) void match_op(const ptx_insn *in, uint64_t *D, const uint64_t *A,
                                               const uint64_t *B, uint32_t *P, uint32_t m) {
    uint64_t vals[32];
    int lg = TY_LG(in->type);
    for (int l = 0; l < 32; l++)
        vals[l] = zext(A[l], lg);
    uint32_t part = 0;
    for (uint32_t mm = m; mm; mm &= mm - 1)
        part |= (uint32_t)B[__builtin_ctz(mm)];
    part &= m;
    if (in->mod == 0) {
        LANES(uint32_t r = 0; for (uint32_t q = part; q; q &= q - 1) {
            int j = __builtin_ctz(q);
            if (vals[j] == vals[l]) r |= 1u << j;
        } D[l] = r);
    } else {
        int same = 1;
        int first = part ? __builtin_ctz(part) : 0;
        for (uint32_t q = part; q; q &= q - 1)
            if (vals[__builtin_ctz(q)] != vals[first]) same = 0;
        LANES(D[l] = same ? part : 0);
        if (in->d[1] != OP_NONE) P[in->d[1]] = (P[in->d[1]] & ~m) | (same ? m : 0);
    }
}

static __attribute__((noinline)) void redux_op(const ptx_insn *in, uint64_t *D, const uint64_t *A,
                                               const uint64_t *B, uint32_t m) {
    uint32_t part = 0;
    for (uint32_t mm = m; mm; mm &= mm - 1)
        part |= (uint32_t)B[__builtin_ctz(mm)];
    part &= m;
    int sg = TY_KIND(in->type) == TK_S;
    uint32_t acc = 0;
    int first = 1;
    for (uint32_t q = part; q; q &= q - 1) {
        uint32_t v = (uint32_t)A[__builtin_ctz(q)];
        if (first) {
            acc = v;
            first = 0;
            continue;
        }
        switch (in->mod) {
        case AT_ADD:
            acc += v;
            break;
        case AT_MIN:
            acc = sg ? ((int32_t)v < (int32_t)acc ? v : acc) : (v < acc ? v : acc);
            break;
        case AT_MAX:
            acc = sg ? ((int32_t)v > (int32_t)acc ? v : acc) : (v > acc ? v : acc);
            break;
        case AT_AND:
            acc &= v;
            break;
        case AT_OR:
            acc |= v;
            break;
        default:
            acc ^= v;
            break;
        }
    }
    LANES(D[l] = acc);
}

/* The membermask operand of a .sync warp op. */
static uint32_t sync_mask_operand(const ptx_insn *in) {
    switch (in->op) {
    case OP_SHFL:
        return in->s[3];
    case OP_WARPSYNC:
        return in->s[0];
    default:
        return in->s[1]; /* vote, match, redux */
    }
}

/* A .sync warp op (shfl, vote, match, redux, bar.warp.sync) reached by the `active` lanes (m of
 * them execute it) while the warp is diverged. CUDA makes it wait until every non-exited lane of
 * its membermask has arrived, then runs it for all of them at once. If lanes of the mask are still
 * parked runnable in this frame, the group is held here and 0 returned: the scheduler runs the
 * others. Otherwise lanes held at this same instruction join the group and the grown active mask
 * is returned: it executes now. Groups held at other .sync ops whose masks are now complete
 * (sm_70 lets different .sync instructions meet) go on too: their op runs here, over their own
 * lanes, and they wait at the next instruction. Lanes of a mask that cannot arrive (exited,
 * returned, at a bar.sync, in another frame) are left out: undefined in CUDA, here they do not
 * take part. */
static __attribute__((noinline, cold)) uint32_t sync_arrive(exec *x, warp *w, frame *f, const uint64_t *mask,
                                                            int pc, uint32_t active, uint32_t m) {
    /* rebuilt here: passing run_warp's bank array would keep it out of registers there */
    const ptx_func *fn = &x->pm->funcs[f->func];
    const ptx_insn *code = fn->code;
    uint64_t *bank[3] = {w->regs + f->reg_off * 32, fn->consts, w->spec};
    uint32_t *P = w->preds + f->pred_off;
    uint32_t mem = 0;
    for (uint32_t mm = m; mm; mm &= mm - 1)
        mem |= (uint32_t)mask[__builtin_ctz(mm)];
    uint32_t here = 0;
    for (uint32_t mm = f->held & mem; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        if (f->lane_pc[l] == pc) here |= 1u << l;
    }
    uint32_t runnable = f->waiting & ~w->blocked;
    if (mem & ~(active | here) & runnable) {
        for (uint32_t mm = active; mm; mm &= mm - 1)
            f->lane_pc[__builtin_ctz(mm)] = pc;
        f->held |= active;
        return 0;
    }
    f->held &= ~here;
    uint32_t rel = f->held, moved = 0;
    while (rel) {
        int q = f->lane_pc[__builtin_ctz(rel)];
        uint32_t g = 0;
        for (uint32_t mm = rel; mm; mm &= mm - 1)
            if (f->lane_pc[__builtin_ctz(mm)] == q) g |= 1u << __builtin_ctz(mm);
        rel &= ~g;
        const ptx_insn *in = &code[q];
        uint32_t mq = g;
        if (in->guard >= 0) mq &= in->gneg ? ~P[in->guard] : P[in->guard];
        const uint64_t *mk = R(sync_mask_operand(in));
        uint32_t memq = 0;
        for (uint32_t mm = mq; mm; mm &= mm - 1)
            memq |= (uint32_t)mk[__builtin_ctz(mm)];
        if (memq & runnable) continue; /* still waits for lanes that have not arrived */
        uint64_t *D = in->d[0] != OP_NONE ? R(in->d[0]) : NULL;
        const uint64_t *A = in->s[0] != OP_NONE ? R(in->s[0]) : NULL;
        const uint64_t *B = in->s[1] != OP_NONE ? R(in->s[1]) : NULL;
        const uint64_t *C = in->s[2] != OP_NONE ? R(in->s[2]) : NULL;
        switch (in->op) {
        case OP_SHFL:
            shfl_op(in, D, A, B, C, P, mq);
            break;
        case OP_VOTE:
            vote_op(in, D, B, P, mq);
            break;
        case OP_MATCH:
            match_op(in, D, A, B, P, mq);
            break;
        case OP_REDUX:
            redux_op(in, D, A, B, mq);
            break;
        default:
            break; /* bar.warp.sync */
        }
        x->instrs += (uint64_t)lane_count(g);
        f->held &= ~g;
        park(f, g, q + 1);
        moved = 1;
    }
    if (moved) recompute_next(f, w->blocked);
    return active | here;
}

int run_warp(exec *x, warp *w) {
    ptx_module *pm = x->pm;
    const unsigned tid_base = (unsigned)w->index * 32u;
top:;
    frame *f = &w->frames[w->nframes - 1];
    if (!f->active) {
        if (!reschedule(f, w->blocked)) {
            int r = frame_empty(x, w);
            if (r != W_RUN) return r;
            goto top;
        }
    }
    const ptx_func *fn = &pm->funcs[f->func];
    const ptx_insn *code = fn->code;
    uint64_t *bank[3] = {w->regs + f->reg_off * 32, fn->consts, w->spec};
    uint32_t *P = w->preds + f->pred_off;
    int pc = f->pc;
    uint32_t active = f->active;
    uint64_t ninstr = 0;
    uint32_t slice = 1024; /* warp instructions before the other warps of the block get a turn */

#define SAVE()                                                                                               \
    do {                                                                                                     \
        f->pc = pc;                                                                                          \
        f->active = active;                                                                                  \
        x->instrs += ninstr;                                                                                 \
        ninstr = 0;                                                                                          \
    } while (0)
#define DIVERGE_TO_RESCHEDULE()                                                                              \
    do {                                                                                                     \
        f->active = 0;                                                                                       \
        x->instrs += ninstr;                                                                                 \
        ninstr = 0;                                                                                          \
        if (!reschedule(f, w->blocked)) {                                                                    \
            int r_ = frame_empty(x, w);                                                                      \
            if (r_ != W_RUN) return r_;                                                                      \
        }                                                                                                    \
        goto top;                                                                                            \
    } while (0)

/* at a .sync warp op, MASK its membermask register: a diverged warp waits for the mask's lanes
 * (sync_arrive, out of line; the held case leaves through sync_hold below the loop) */
#define WARP_SYNC_POINT(MASK)                                                                                \
    if (__builtin_expect(active != 0xffffffffu, 0) && m) {                                                   \
        uint32_t na_ = sync_arrive(x, w, f, (MASK), pc, active, m);                                          \
        if (!na_) goto sync_hold;                                                                            \
        if (na_ != active) {                                                                                 \
            ninstr += (uint64_t)lane_count(na_ & ~active);                                                   \
            active = na_;                                                                                    \
            m = active;                                                                                      \
            if (in->guard >= 0) m &= in->gneg ? ~P[in->guard] : P[in->guard];                                \
        }                                                                                                    \
    }

/* ops that cannot fail without returning skip the error check after the switch (no do/while:
 * the continue is the instruction loop's) */
#define NEXT_INSN()                                                                                          \
    {                                                                                                        \
        pc++;                                                                                                \
        continue;                                                                                            \
    }

    for (;;) {
        if (__builtin_expect(x->ftz_in != NULL, 0)) {
            ftz_result(x->ftz_in, x->ftz_D, x->ftz_m);
            x->ftz_in = NULL;
        }
        if (pc == f->next_min) {
            uint32_t run = f->waiting & ~w->blocked;
            int next = INT_MAX;
            for (uint32_t mm = run; mm; mm &= mm - 1) {
                int l = __builtin_ctz(mm);
                if (f->lane_pc[l] == pc) {
                    active |= 1u << l;
                    f->waiting &= ~(1u << l);
                } else if (f->lane_pc[l] < next) {
                    next = f->lane_pc[l];
                }
            }
            f->next_min = next;
        }
        if (--slice == 0) {
            if (f->waiting & ~w->blocked) {
                /* diverged: let another group of lanes of this warp run next */
                park(f, active, pc);
                f->active = 0;
                x->instrs += ninstr;
                reschedule_rotate(f, w->blocked, pc);
            } else {
                SAVE();
            }
            return W_RUN;
        }
        const ptx_insn *in = &code[pc];
        uint32_t m = active;
        if (in->guard >= 0) m &= in->gneg ? ~P[in->guard] : P[in->guard];
        ninstr += active == 0xffffffffu ? 32u : (uint64_t)lane_count(active);
        if (--x->budget == 0) {
            x->budget = 1u << 16;
            if (__atomic_load_n(x->stop, __ATOMIC_RELAXED))
                return set_error(x, CUDA_ERROR_LAUNCH_FAILED, "launch aborted", in->line);
            if (x->deadline_ms > 0 && now_ms() > x->deadline_ms) {
                SAVE();
                return set_error(x, CUDA_ERROR_LAUNCH_TIMEOUT,
                                 "kernel ran past the watchdog (CUDAEMU_WATCHDOG_MS)", in->line);
            }
        }
        uint64_t *D = in->d[0] != OP_NONE ? R(in->d[0]) : NULL;
        const uint64_t *A = in->s[0] != OP_NONE ? R(in->s[0]) : NULL;
        const uint64_t *B = in->s[1] != OP_NONE ? R(in->s[1]) : NULL;
        const uint64_t *C = in->s[2] != OP_NONE ? R(in->s[2]) : NULL;
        if (__builtin_expect((in->flags & F_FTZ) != 0, 0)) {
            /* through copies: taking A/B/C's addresses would keep them in memory for every op */
            const uint64_t *fa = A, *fb = B, *fc = C;
            ftz_sources(in, &fa, &fb, &fc, m, x->ftz_tmp);
            A = fa;
            B = fb;
            C = fc;
            /* the result is flushed before the next instruction (top of the loop): code after the
             * switch would keep D and m live across every operation */
            x->ftz_in = in;
            x->ftz_m = m;
            x->ftz_D = in->d[0] != OP_NONE ? R(in->d[0]) : NULL;
        }
        /* The instruction runs for the lanes m: the active lanes (all at this pc) whose guard predicate
         * holds; a case writes only lanes in m. D is d[0] and A, B, C are s[0..2], each 32 lanes of 64-bit
         * slots (R(): a register, a constant or a special register); predicates are lane masks in P[]. type,
         * type2, mod, mod2, flags, vec and imm mean what each case says. .ftz on f32 is applied around the
         * switch (sources flushed above, the result at the top of the next iteration). A case that cannot
         * fail leaves through NEXT_INSN(); the others break to the error check after the switch, and those
         * that change which lanes run park lanes and reschedule. */
        switch (in->op) {
        /* nop, and what the decoder lowers to it: membar, fence, prefetch{u}, pmevent, griddepcontrol,
         * cp.async.commit_group/wait_group (the copy is done when cp.async runs). Fences have nothing to
         * order within a block, whose warps run one at a time on one host thread. nanosleep (OP_NANOSLEEP)
         * does not sleep; a spinning warp still yields when its time slice ends. */
        case OP_NOP:
        case OP_NANOSLEEP:
            break;
        /* mov d, a: copies the 64-bit slot. a is a register, a constant (an immediate, the address of a
         * variable, PTX_FUNC_ADDR of a function) or a special register (%tid, %laneid, ...: bank OPB_SPEC,
         * per warp). Other movs have ops of their own: .pred (OP_PMOV), vectors (OP_PACK/OP_UNPACK), %clock
         * and %globaltimer, and the address of a .local variable (an OP_ADD on the depot register). */
        case OP_MOV:
            LANES(D[l] = A[l]);
            NEXT_INSN();
        /* mov d, %clock / %clock64: not cycles but the nanoseconds since the launch started plus the
         * instructions counted so far, so two reads always differ even with a coarse host clock; every lane
         * reads the same value. %clock keeps the low 32 bits. */
        case OP_MOV_CLOCK:
        case OP_MOV_CLOCK64: {
            uint64_t t = (uint64_t)((now_ms() - x->start_ms) * 1e6) + x->instrs + ninstr;
            if (in->op == OP_MOV_CLOCK) t = (uint32_t)t;
            LANES(D[l] = t);
            break;
        }
        /* mov d, %globaltimer{,_lo,_hi}: the host's CLOCK_REALTIME in nanoseconds. mod is the special
         * register's SPD_* - SPD_BASE: 2 the 64-bit value, 3 (_lo) its low and 4 (_hi) its high 32 bits. */
        case OP_MOV_GTIMER: {
            uint64_t t = wall_ns();
            if (in->mod == 3)
                t = (uint32_t)t;
            else if (in->mod == 4)
                t >>= 32;
            LANES(D[l] = t);
            break;
        }
        /* mov.bN d, {a, b{, c, e}}: packs vec (2 or 4) sources s[0..3] of N/vec bits each into d, the first
         * source in the lowest bits. */
        case OP_PACK: {
            int n = in->vec, bits = (8 << TY_LG(in->type)) / n;
            const uint64_t *S1 = B, *S2 = C, *S3 = in->s[3] != OP_NONE ? R(in->s[3]) : NULL;
            uint64_t msk = bits == 64 ? ~0ull : (1ull << bits) - 1;
            if (n == 2)
                LANES(D[l] = (A[l] & msk) | ((S1[l] & msk) << bits));
            else
                LANES(D[l] = (A[l] & msk) | ((S1[l] & msk) << bits) | ((S2[l] & msk) << 2 * bits) |
                             ((S3[l] & msk) << 3 * bits));
            break;
        }
        /* mov.bN {d0, d1{, d2, d3}}, a: splits a into vec fields of N/vec bits, the lowest into d[0];
         * destinations that are OP_NONE are skipped. a is copied first: a destination may be a's register. */
        case OP_UNPACK: {
            int n = in->vec, bits = (8 << TY_LG(in->type)) / n;
            uint64_t msk = bits == 64 ? ~0ull : (1ull << bits) - 1;
            uint64_t tmp[32];
            LANES(tmp[l] = A[l]);
            for (int k = 0; k < n; k++) {
                if (in->d[k] == OP_NONE) continue;
                uint64_t *Dk = R(in->d[k]);
                LANES(Dk[l] = (tmp[l] >> (k * bits)) & msk);
            }
            break;
        }
        /* add{.sat}{.ftz}{.cc}.type d, a, b. Floats: host addition, round to nearest (the decoder turned
         * .rz/.rm/.rp into OP_FROUND); .sat clamps to [0, 1], NaN to 0. Integers wrap at the type's width;
         * add.sat.s32 saturates instead; add.cc (F_CC, 32 or 64 bits) also writes each lane's carry-out to
         * the warp's carry bits (w->carry) for a following addc/madc. */
        case OP_ADD:
            if (TY_KIND(in->type) == TK_F) {
                if (in->flags & F_SAT) FLT_BIN(satf(a + b), satd(a + b)) else FLT_BIN(a + b, a + b)
            } else if (in->flags & F_CC) {
                uint32_t cy = 0;
                if (TY_LG(in->type) == 3)
                    LANES(uint64_t r = A[l] + B[l]; cy |= (uint32_t)(r < A[l]) << l; D[l] = r);
                else
                    LANES(uint64_t r = (uint64_t)(uint32_t)A[l] + (uint32_t)B[l];
                          cy |= (uint32_t)(r >> 32) << l; D[l] = (uint32_t)r);
                w->carry = (w->carry & ~m) | cy;
            } else if ((in->flags & F_SAT) && in->type == T_S32) {
                LANES(int64_t r = (int64_t)(int32_t)A[l] + (int32_t)B[l];
                      D[l] = (uint32_t)(int32_t)(r > INT32_MAX   ? INT32_MAX
                                                 : r < INT32_MIN ? INT32_MIN
                                                                 : r));
            } else {
                INT_BIN(a + b)
            }
            NEXT_INSN();
        /* sub{.sat}{.ftz}{.cc}.type d, a, b: as OP_ADD. sub.cc writes the borrow-out (a < b, unsigned) to the
         * carry bits, which subc then subtracts. */
        case OP_SUB:
            if (TY_KIND(in->type) == TK_F) {
                if (in->flags & F_SAT) FLT_BIN(satf(a - b), satd(a - b)) else FLT_BIN(a - b, a - b)
            } else if (in->flags & F_CC) {
                uint32_t cy = 0;
                if (TY_LG(in->type) == 3)
                    LANES(cy |= (uint32_t)(A[l] < B[l]) << l; D[l] = A[l] - B[l]);
                else
                    LANES(cy |= (uint32_t)((uint32_t)A[l] < (uint32_t)B[l]) << l;
                          D[l] = (uint32_t)(A[l] - B[l]));
                w->carry = (w->carry & ~m) | cy;
            } else if ((in->flags & F_SAT) && in->type == T_S32) {
                LANES(int64_t r = (int64_t)(int32_t)A[l] - (int32_t)B[l];
                      D[l] = (uint32_t)(int32_t)(r > INT32_MAX   ? INT32_MAX
                                                 : r < INT32_MIN ? INT32_MIN
                                                                 : r));
            } else {
                INT_BIN(a - b)
            }
            NEXT_INSN();
        /* addc/subc{.cc}.{u32,s32,u64,s64} d, a, b: a + b + carry-in or a - b - borrow-in, the bit per lane
         * from w->carry (left by add.cc, sub.cc, mad.cc, madc.cc or an earlier .cc of these); .cc writes the
         * carry/borrow-out back. Carry and borrow share the one bit, as CC.CF does in PTX. */
        case OP_ADDC:
        case OP_SUBC: {
            uint32_t cin = w->carry, cy = 0;
            int sub = in->op == OP_SUBC;
            if (TY_LG(in->type) == 3) {
                LANES(unsigned __int128 r = sub ? (unsigned __int128)A[l] - B[l] - (cin >> l & 1)
                                                : (unsigned __int128)A[l] + B[l] + (cin >> l & 1);
                      cy |= (uint32_t)((r >> 64) != 0) << l; D[l] = (uint64_t)r);
            } else {
                LANES(uint64_t r = sub ? (uint64_t)(uint32_t)A[l] - (uint32_t)B[l] - (cin >> l & 1)
                                       : (uint64_t)(uint32_t)A[l] + (uint32_t)B[l] + (cin >> l & 1);
                      cy |= (uint32_t)((r >> 32) != 0) << l; D[l] = (uint32_t)r);
            }
            if (in->flags & F_CC) w->carry = (w->carry & ~m) | cy;
            break;
        }
        /* mul{.lo,.hi,.wide}{.sat}.type, mad{.lo,.hi,.wide}{.sat}{.cc}.type, madc{.lo,.hi}{.cc}.type: d =
         * a * b (+ c). Float mul rounds to nearest, .sat clamps to [0, 1]; float mad never arrives (the
         * decoder makes it OP_FMA). Integers (signed types multiply as signed): .wide is the full 2N-bit
         * product of 16- or 32-bit operands (c is then 2N bits wide), .hi the upper and .lo (the default) the
         * lower N bits of the 2N-bit product. mad adds c at that width N: mad.cc writes the carry-out and
         * madc adds the carry-in as add.cc/addc do; mad.sat.s32 saturates the sum instead. */
        case OP_MUL:
        case OP_MAD:
        case OP_MADC: {
            int mad = in->op != OP_MUL;
            if (TY_KIND(in->type) == TK_F) {
                if (in->flags & F_SAT) FLT_BIN(satf(a * b), satd(a * b)) else FLT_BIN(a * b, a * b) break;
            }
            int lg = TY_LG(in->type), sg = TY_KIND(in->type) == TK_S;
            uint64_t T[32];
            if (in->flags & F_WIDE) {
                if (lg == 2) {
                    if (sg)
                        LANES(T[l] = (uint64_t)((int64_t)(int32_t)A[l] * (int32_t)B[l]));
                    else
                        LANES(T[l] = (uint64_t)(uint32_t)A[l] * (uint32_t)B[l]);
                    if (mad)
                        LANES(D[l] = T[l] + C[l]);
                    else
                        LANES(D[l] = T[l]);
                } else {
                    if (sg)
                        LANES(T[l] = (uint32_t)((int32_t)(int16_t)A[l] * (int16_t)B[l]));
                    else
                        LANES(T[l] = (uint32_t)(uint16_t)A[l] * (uint16_t)B[l]);
                    if (mad)
                        LANES(D[l] = (uint32_t)(T[l] + C[l]));
                    else
                        LANES(D[l] = T[l]);
                }
                break;
            }
            if (in->flags & F_HI) {
                if (lg == 3) {
                    if (sg)
                        LANES(__int128 p = (__int128)(int64_t)A[l] * (int64_t)B[l];
                              T[l] = (uint64_t)(p >> 64));
                    else
                        LANES(unsigned __int128 p = (unsigned __int128)A[l] * B[l];
                              T[l] = (uint64_t)(p >> 64));
                } else if (lg == 2) {
                    if (sg)
                        LANES(int64_t p = (int64_t)(int32_t)A[l] * (int32_t)B[l];
                              T[l] = (uint32_t)((uint64_t)p >> 32));
                    else
                        LANES(uint64_t p = (uint64_t)(uint32_t)A[l] * (uint32_t)B[l];
                              T[l] = (uint32_t)(p >> 32));
                } else {
                    if (sg)
                        LANES(int32_t p = (int32_t)(int16_t)A[l] * (int16_t)B[l];
                              T[l] = (uint16_t)((uint32_t)p >> 16));
                    else
                        LANES(uint32_t p = (uint32_t)(uint16_t)A[l] * (uint16_t)B[l];
                              T[l] = (uint16_t)(p >> 16));
                }
            } else {
                LANES(T[l] = A[l] * B[l]);
            }
            if (!mad) {
                uint64_t msk = lg == 3 ? ~0ull : (1ull << (8 << lg)) - 1;
                LANES(D[l] = T[l] & msk);
                break;
            }
            if ((in->flags & F_SAT) && in->type == T_S32) { /* mad.hi.sat.s32: the sum saturates */
                LANES(int64_t r = (int64_t)(int32_t)T[l] + (int32_t)C[l];
                      D[l] = (uint32_t)(int32_t)(r > INT32_MAX   ? INT32_MAX
                                                 : r < INT32_MIN ? INT32_MIN
                                                                 : r));
                break;
            }
            uint32_t cin = w->carry, cy = 0;
            int usec = in->op == OP_MADC, setc = (in->flags & F_CC) != 0;
            if (lg == 3) {
                LANES(unsigned __int128 r = (unsigned __int128)T[l] + C[l] + (usec ? (cin >> l & 1) : 0);
                      cy |= (uint32_t)((r >> 64) != 0) << l; D[l] = (uint64_t)r);
            } else {
                uint64_t msk = (1ull << (8 << lg)) - 1;
                LANES(uint64_t r = (T[l] & msk) + (C[l] & msk) + (usec ? (cin >> l & 1) : 0);
                      cy |= (uint32_t)((r & ~msk) != 0) << l; D[l] = r & msk);
            }
            if (setc) w->carry = (w->carry & ~m) | cy;
            break;
        }
        /* mul24/mad24{.lo,.hi}.{u32,s32} d, a, b{, c}: the 48-bit product of the low 24 bits of a and b
         * (sign-extended from bit 23 for .s32); .lo keeps bits 0..31, .hi bits 16..47; mad24 adds c modulo
         * 2^32, or, for mad24.hi.sat.s32, clamped to the 32-bit range. */
        case OP_MUL24:
        case OP_MAD24: {
            int sg = TY_KIND(in->type) == TK_S;
            int sh = (in->flags & F_HI) ? 16 : 0, mad = in->op == OP_MAD24;
            if (sg && mad && sh && (in->flags & F_SAT)) /* mad24.hi.sat.s32: the sum clamped to 32 bits */
                LANES(int64_t p = (int64_t)((int32_t)((uint32_t)A[l] << 8) >> 8) *
                                  ((int32_t)((uint32_t)B[l] << 8) >> 8);
                      int64_t v = (p >> 16) + (int64_t)(int32_t)C[l];
                      D[l] = (uint32_t)(v > INT32_MAX   ? INT32_MAX
                                        : v < INT32_MIN ? INT32_MIN
                                                        : v));
            else if (sg)
                LANES(int64_t p = (int64_t)((int32_t)((uint32_t)A[l] << 8) >> 8) *
                                  ((int32_t)((uint32_t)B[l] << 8) >> 8);
                      D[l] = (uint32_t)(((uint64_t)p >> sh) + (mad ? C[l] : 0)));
            else
                LANES(uint64_t p = (uint64_t)(A[l] & 0xffffff) * (B[l] & 0xffffff);
                      D[l] = (uint32_t)((p >> sh) + (mad ? C[l] : 0)));
            break;
        }
        /* sad.type d, a, b, c: d = c + |a - b|, a and b compared as signed or unsigned by type, the sum
         * wrapping at the type's width. */
        case OP_SAD:
            if (TY_KIND(in->type) == TK_S) {
                LANES(int64_t a = sext(A[l], TY_LG(in->type)), b = sext(B[l], TY_LG(in->type));
                      D[l] = zext((uint64_t)(a > b ? a - b : b - a) + C[l], TY_LG(in->type)));
            } else {
                LANES(uint64_t a = zext(A[l], TY_LG(in->type)), b = zext(B[l], TY_LG(in->type));
                      D[l] = zext((a > b ? a - b : b - a) + C[l], TY_LG(in->type)));
            }
            break;
        /* div{.approx,.full,.rn}{.ftz}.f32, div.rn.f64, div.{u,s}N d, a, b. Floats: correctly rounded host
         * division for every variant (the hardware's .approx and .full may differ in the last bits);
         * .rz/.rm/.rp went to OP_FROUND. Integers truncate toward zero. Division by zero, unspecified in PTX,
         * gives all ones; x / -1 is a negation, so INT_MIN / -1 wraps instead of trapping the host. */
        case OP_DIV:
            if (TY_KIND(in->type) == TK_F) {
                FLT_BIN(a / b, a / b)
            } else if (TY_KIND(in->type) == TK_S) {
                SGN_BIN(b == 0 ? -1 : (b == -1 ? (int64_t)(0 - (uint64_t)a) : a / b))
            } else {
                UNS_BIN(b == 0 ? ~0ull : a / b)
            }
            break;
        /* rem.{u,s}N d, a, b: the remainder of truncating division (its sign is a's). A zero divisor,
         * unspecified in PTX, gives a; x % -1 is 0 (no host trap for INT_MIN % -1). */
        case OP_REM:
            if (TY_KIND(in->type) == TK_S) {
                SGN_BIN(b == 0 ? a : (b == -1 ? 0 : a % b))
            } else {
                UNS_BIN(b == 0 ? a : a % b)
            }
            break;
        /* min{.relu}{.NaN}{.xorsign.abs}{.ftz}.type d, a, b. mod2 holds the MM_* modifiers (.relu on .s32,
         * .NaN and .xorsign.abs on .f32): minmax_mod does those. Otherwise floats: a NaN operand, quiet or
         * signalling, gives the other operand, two NaNs give NaN, and the host's fmin picks between
         * +0 and -0; integers compare as signed or unsigned by type. f16/bf16 min is OP_HALF and
         * .u16x2/.s16x2 OP_MINMAX16X2. */
        case OP_MIN:
            if (in->mod2) {
                minmax_mod(in, D, A, B, m);
                break;
            }
            /* a NaN operand (quiet or signalling) gives the other operand; C's fmin gives NaN for a
             * signalling one */
            if (TY_KIND(in->type) == TK_F)
                FLT_BIN(a != a ? b : b != b ? a : fminf(a, b), a != a ? b : b != b ? a : fmin(a, b))
            else if (TY_KIND(in->type) == TK_S)
                SGN_BIN(a < b ? a : b)
            else
                UNS_BIN(a < b ? a : b)
            break;
        /* max{.relu}{.NaN}{.xorsign.abs}{.ftz}.type d, a, b: as OP_MIN. */
        case OP_MAX:
            if (in->mod2) {
                minmax_mod(in, D, A, B, m);
                break;
            }
            if (TY_KIND(in->type) == TK_F)
                FLT_BIN(a != a ? b : b != b ? a : fmaxf(a, b), a != a ? b : b != b ? a : fmax(a, b))
            else if (TY_KIND(in->type) == TK_S)
                SGN_BIN(a > b ? a : b)
            else
                UNS_BIN(a > b ? a : b)
            break;
        /* abs{.ftz}.type d, a. Floats: clears the sign bit (NaNs too). Integers: two's-complement negation of
         * negative values, so the most negative value stays itself. B is pointed at A because SGN_BIN reads
         * both. */
        case OP_ABS:
            if (TY_KIND(in->type) == TK_F)
                FLT_UN(fabsf(a), fabs(a))
            else {
                const uint64_t *Bx = A;
                B = Bx;
                SGN_BIN(a < 0 ? (int64_t)(0 - (uint64_t)a) : a)
            }
            break;
        /* neg{.ftz}.type d, a. Floats: flips the sign bit (NaNs too). Integers: 0 - a, wrapping. */
        case OP_NEG:
            if (TY_KIND(in->type) == TK_F)
                FLT_UN(-a, -a)
            else {
                B = A;
                INT_BIN(0 - a)
            }
            break;
        /* copysign.{f32,f64} d, a, b: b's magnitude with a's sign (PTX takes the sign from the first
         * source). */
        case OP_COPYSIGN:
            FLT_BIN(copysignf(b, a), copysign(b, a))
            break;
        /* fma.rn{.ftz}{.sat}.{f32,f64} d, a, b, c, and mad{.rn}.{f32,f64}, which the decoder maps here:
         * a * b + c with a single rounding to nearest; .sat clamps to [0, 1], NaN to 0. A full warp of plain
         * f32 uses the CPU's FMA instructions. .rz/.rm/.rp went to OP_FROUND, f16/bf16 to OP_HALF. Only float
         * types do anything: d is left as it was for an integer type. */
        case OP_FMA:
            if (TY_KIND(in->type) == TK_F) {
                if (TY_LG(in->type) == 2 && !(in->flags & F_SAT) && m == 0xffffffffu && fma32_hw_ok())
                    fma32_hw(D, A, B, C);
                else if (TY_LG(in->type) == 2 && !(in->flags & F_SAT))
                    LANES(D[l] = f2u(fmaf(u2f(A[l]), u2f(B[l]), u2f(C[l]))));
                else
                    LANES(D[l] = fma_op(in, A[l], B[l], C[l]));
            }
            NEXT_INSN();
        /* and/or/xor.{b,u,s}N d, a, b: bitwise, the result cut to the type's width (.pred operands are
         * OP_PAND/OP_POR/OP_PXOR). */
        case OP_AND:
            B = B ? B : A;
            INT_BIN(a & b) NEXT_INSN();
        case OP_OR:
            INT_BIN(a | b) NEXT_INSN();
        case OP_XOR:
            INT_BIN(a ^ b) NEXT_INSN();
        /* not.{b,u,s}N d, a: bitwise complement at the type's width (not.pred is OP_PNOT). cnot: 1 when a (at
         * the type's width) is 0, else 0. B is pointed at A because INT_BIN reads both. */
        case OP_NOT:
            B = A;
            INT_BIN(~a) break;
        case OP_CNOT:
            B = A;
            INT_BIN(zext(a, TY_LG(in->type)) == 0 ? 1 : 0) break;
        /* shl.bN d, a, b: b is an unsigned 32-bit amount; amounts of N or more give 0. */
        case OP_SHL: {
            int bits = 8 << TY_LG(in->type);
            INT_BIN((uint32_t)b >= (uint32_t)bits ? 0 : a << (uint32_t)b)
            NEXT_INSN();
        }
        /* shr.{b,u,s}N d, a, b: b is an unsigned 32-bit amount. .s shifts arithmetically, amounts past N - 1
         * giving N - 1 (all sign bits); .b and .u shift logically, amounts of N or more giving 0. */
        case OP_SHR: {
            int bits = 8 << TY_LG(in->type);
            if (TY_KIND(in->type) == TK_S) {
                LANES(int64_t a = sext(A[l], TY_LG(in->type)); uint32_t s = (uint32_t)B[l];
                      if (s >= (uint32_t)bits) s = (uint32_t)bits - 1;
                      D[l] = zext((uint64_t)(a >> s), TY_LG(in->type)));
            } else if (TY_LG(in->type) == 2) {
                LANES(uint32_t a = (uint32_t)A[l]; uint32_t s = (uint32_t)B[l]; D[l] = s >= 32u ? 0 : a >> s);
            } else {
                LANES(uint64_t a = zext(A[l], TY_LG(in->type)); uint32_t s = (uint32_t)B[l];
                      D[l] = s >= (uint32_t)bits ? 0 : a >> s);
            }
            NEXT_INSN();
        }
        /* popc.b{32,64} d, a: the number of set bits, as a u32. */
        case OP_POPC:
            if (TY_LG(in->type) == 3)
                LANES(D[l] = (uint32_t)__builtin_popcountll(A[l]));
            else
                LANES(D[l] = (uint32_t)__builtin_popcount((uint32_t)A[l]));
            break;
        /* clz.b{32,64} d, a: the number of leading zero bits, as a u32 (32 or 64 for a zero). */
        case OP_CLZ:
            if (TY_LG(in->type) == 3)
                LANES(D[l] = A[l] ? (uint32_t)__builtin_clzll(A[l]) : 64u);
            else
                LANES(D[l] = (uint32_t)A[l] ? (uint32_t)__builtin_clz((uint32_t)A[l]) : 32u);
            break;
        /* brev.b{32,64} d, a: a with its bit order reversed. */
        case OP_BREV:
            if (TY_LG(in->type) == 3) {
                LANES(uint64_t v = A[l]; uint64_t r = 0; for (int k = 0; k < 64; k++) {
                    r = (r << 1) | (v & 1);
                    v >>= 1;
                } D[l] = r);
            } else {
                LANES(uint32_t v = (uint32_t)A[l]; uint32_t r = 0; for (int k = 0; k < 32; k++) {
                    r = (r << 1) | (v & 1);
                    v >>= 1;
                } D[l] = r);
            }
            break;
        /* bmsk: b1 bits set from bit a1 (both taken mod 32); .clamp: a >= 32 gives 0 and b >= 32 or a
         * mask reaching past bit 31 runs to the top; .wrap: only the latter */
        case OP_BMSK: {
            int clamp = (in->flags & F_CLAMP) != 0;
            LANES(uint32_t a = (uint32_t)A[l], b = (uint32_t)B[l], a1 = a & 31u, b1 = b & 31u, sum = a1 + b1;
                  uint32_t lo = ~0u << a1, hi = sum >= 32 ? 0 : ~0u << sum; if (clamp && a >= 32) lo = 0;
                  if (sum >= 32 || (clamp && (a >= 32 || b >= 32))) hi = 0; else if (b1 == 0) hi = ~0u;
                  D[l] = lo & ~hi);
            break;
        }
        /* bfind{.shiftamt}.{u,s}{32,64} d, a: the position of the most significant bit that is not a sign bit
         * (for a negative signed value, of the most significant 0); 0xffffffff when there is none. .shiftamt
         * (F_SHIFTAMT) returns N - 1 - position instead: the left shift that would bring it to the top. */
        case OP_BFIND: {
            int bits = 8 << TY_LG(in->type), sg = TY_KIND(in->type) == TK_S;
            int sh = (in->flags & F_SHIFTAMT) != 0;
            LANES(uint64_t v = zext(A[l], TY_LG(in->type));
                  if (sg && (v >> (bits - 1) & 1)) v = zext(~v, TY_LG(in->type));
                  uint32_t r = v ? (uint32_t)(63 - __builtin_clzll(v)) : 0xffffffffu;
                  if (sh && r != 0xffffffffu) r = (uint32_t)(bits - 1) - r; D[l] = r);
            break;
        }
        /* bfe.{u,s}{32,64} d, a, b, c: the c & 0xff bits of a from bit b & 0xff, in the low bits of d; the
         * bits above them are 0 for .u and copies of the field's top bit for .s (positions past the width as
         * described inside). A length of 0 gives 0. */
        case OP_BFE: {
            /* bits pos..pos+len-1 of a; positions past the operand width read as the fill bit
             * (the sign bit a[min(pos+len-1, width-1)] for signed types, 0 otherwise) */
            int lg = TY_LG(in->type), bits = 8 << lg, sg = TY_KIND(in->type) == TK_S;
            LANES(
                uint64_t a = zext(A[l], lg);
                uint32_t pos = (uint32_t)B[l] & 0xff, len = (uint32_t)C[l] & 0xff; uint64_t r = 0; if (len) {
                    uint32_t top = pos + len - 1 < (uint32_t)bits ? pos + len - 1 : (uint32_t)bits - 1;
                    uint64_t fill = sg ? (a >> top) & 1 : 0;
                    uint32_t avail = pos < (uint32_t)bits ? (uint32_t)bits - pos : 0;
                    uint32_t n = len < avail ? len : avail;
                    r = n ? a >> pos : 0;
                    if (n < 64) r &= (1ull << n) - 1;
                    if (fill && n < 64) r |= ~((1ull << n) - 1);
                } D[l] = zext(r, lg));
            break;
        }
        /* bfi.b{32,64} f, a, b, c, d: b with its bits pos..pos+len-1 replaced by the low bits of a, pos =
         * c & 0xff (C), len = d & 0xff (s[3]); bits past the width are dropped and len 0 or pos >= N returns
         * b. */
        case OP_BFI: {
            const uint64_t *Dl = R(in->s[3]);
            int bits = 8 << TY_LG(in->type);
            LANES(
                uint32_t pos = (uint32_t)C[l] & 0xff, len = (uint32_t)Dl[l] & 0xff; uint64_t b = B[l];
                if (len && pos < (uint32_t)bits) {
                    uint64_t msk = len >= 64 ? ~0ull : (1ull << len) - 1;
                    b = (b & ~(msk << pos)) | ((A[l] & msk) << pos);
                } D[l] = zext(b, TY_LG(in->type)));
            break;
        }
        /* prmt.b32{.mode} d, a, b, c: picks 4 bytes out of the 8 of {b, a} (a is bytes 0..3, b bytes 4..7).
         * mod 0 is the generic form: nibble k of c selects byte k of d, its bit 3 replicating the chosen
         * byte's sign bit. mod 1..6 are .f4e, .b4e, .rc8, .ecl, .ecr, .rc16, selected by c[1:0]. */
        case OP_PRMT: {
            int mode = in->mod;
            LANES(
                uint64_t v = ((uint64_t)(uint32_t)B[l] << 32) | (uint32_t)A[l]; uint32_t c = (uint32_t)C[l];
                uint32_t r = 0; if (mode == 0) {
                    for (int k = 0; k < 4; k++) {
                        uint32_t sel = (c >> (4 * k)) & 0xf;
                        uint32_t byte = (uint32_t)(v >> (8 * (sel & 7))) & 0xff;
                        if (sel & 8) byte = (byte & 0x80) ? 0xff : 0;
                        r |= byte << (8 * k);
                    }
                } else {
                    uint32_t s = c & 3, sel[4] = {0, 0, 0, 0};
                    switch (mode) {
                    case 1:
                        for (int k = 0; k < 4; k++)
                            sel[k] = (s + (uint32_t)k) & 7;
                        break; /* f4e */
                    case 2:
                        for (int k = 0; k < 4; k++)
                            sel[k] = (s - (uint32_t)k) & 7;
                        break; /* b4e */
                    case 3:
                        for (int k = 0; k < 4; k++)
                            sel[k] = s;
                        break; /* rc8 */
                    case 4:
                        for (int k = 0; k < 4; k++)
                            sel[k] = (uint32_t)k > s ? (uint32_t)k : s;
                        break; /* ecl */
                    case 5:
                        for (int k = 0; k < 4; k++)
                            sel[k] = (uint32_t)k < s ? (uint32_t)k : s;
                        break; /* ecr */
                    default:
                        sel[0] = (s & 1) * 2;
                        sel[1] = sel[0] + 1;
                        sel[2] = sel[0];
                        sel[3] = sel[1];
                        break; /* rc16 */
                    }
                    for (int k = 0; k < 4; k++)
                        r |= ((uint32_t)(v >> (8 * sel[k])) & 0xff) << (8 * k);
                } D[l] = r);
            break;
        }
        /* lop3.b32 d, a, b, c, immLut: any function of three inputs, imm being its 8-bit truth table: bit
         * (a << 2 | b << 1 | c) of immLut is the result for those input bits (0xF0, 0xCC and 0xAA give a, b
         * and c). */
        case OP_LOP3: {
            uint32_t lut = (uint32_t)in->imm;
            LANES(uint64_t a = A[l], b = B[l], c = C[l]; uint64_t r = 0; if (lut & 0x01) r |= ~a & ~b & ~c;
                  if (lut & 0x02) r |= ~a & ~b & c; if (lut & 0x04) r |= ~a & b & ~c;
                  if (lut & 0x08) r |= ~a & b & c; if (lut & 0x10) r |= a & ~b & ~c;
                  if (lut & 0x20) r |= a & ~b & c; if (lut & 0x40) r |= a & b & ~c;
                  if (lut & 0x80) r |= a & b & c; D[l] = zext(r, TY_LG(in->type)));
            break;
        }
        /* shf.{l,r}{.clamp,.wrap}.b32 d, a, b, c: funnel shift of the 64-bit {b, a} (b high) by n = c, taken
         * mod 32 (.wrap) or capped at 32 (.clamp, F_CLAMP); .l (F_LEFT) returns the upper 32 bits of
         * {b, a} << n, .r the lower 32 bits of {b, a} >> n. */
        case OP_SHF: {
            int left = (in->flags & F_LEFT) != 0, clamp = (in->flags & F_CLAMP) != 0;
            LANES(uint64_t v = ((uint64_t)(uint32_t)B[l] << 32) | (uint32_t)A[l]; uint32_t n = (uint32_t)C[l];
                  n = clamp ? (n > 32 ? 32 : n) : (n & 31);
                  D[l] = left ? (uint32_t)((v << n) >> 32) : (uint32_t)(v >> n));
            break;
        }
        /* rcp, sqrt, rsqrt, ex2, lg2, sin, cos, tanh (.approx or .rn, .ftz, f32 or f64) d, a: the host's libm
         * at the type's precision (rsqrt as 1/sqrt). That is at least as accurate as the hardware's .approx
         * forms, so results may differ from a GPU's in the last bits. .rz/.rm/.rp on rcp and sqrt went to
         * OP_FROUND. */
        case OP_RCP:
            FLT_UN(1.0f / a, 1.0 / a) break;
        case OP_SQRT:
            FLT_UN(sqrtf(a), sqrt(a)) break;
        case OP_RSQRT:
            FLT_UN(1.0f / sqrtf(a), 1.0 / sqrt(a)) break;
        case OP_EX2:
            FLT_UN(exp2f(a), exp2(a)) break;
        case OP_LG2:
            FLT_UN(log2f(a), log2(a)) break;
        case OP_SIN:
            FLT_UN(sinf(a), sin(a)) break;
        case OP_COS:
            FLT_UN(cosf(a), cos(a)) break;
        case OP_TANH:
            FLT_UN(tanhf(a), tanh(a)) break;
        /* testp.{finite,infinite,number,notanumber,normal,subnormal}.{f32,f64} p, a: mod 0..5 in that order;
         * writes predicate d[0] for the lanes in m. As the PTX ISA says, +0 and -0 count as normal (C's
         * isnormal says no). */
        case OP_TESTP: {
            uint32_t r = 0;
            int k = in->mod;
            LANES(double v = TY_LG(in->type) == 2 ? (double)u2f(A[l]) : u2d(A[l]); int c = fpclassify(v);
                  int t = 0; if (TY_LG(in->type) == 2) c = fpclassify(u2f(A[l])); switch (k) {
                      case 0:
                          t = c != FP_INFINITE && c != FP_NAN;
                          break;
                      case 1:
                          t = c == FP_INFINITE;
                          break;
                      case 2:
                          t = c != FP_NAN;
                          break;
                      case 3:
                          t = c == FP_NAN;
                          break;
                      case 4:
                          t = c == FP_NORMAL || c == FP_ZERO;
                          break;
                      default:
                          t = c == FP_SUBNORMAL;
                          break;
                  } r |= (uint32_t)t << l);
            P[in->d[0]] = (P[in->d[0]] & ~m) | r;
            break;
        }
        /* setp.cmp{.bool}{.ftz}.type p{|q}, a, b{, {!}c} and set.cmp{.bool}{.ftz}.dtype.stype
         * d, a, b{, {!}c}: compares a and b as type2 with mod (CMP_*): integer lt/le/gt/ge follow the type's
         * signedness, lo/ls/hi/hs are unsigned; float comparisons are ordered (false with a NaN), their
         * u-suffixed forms unordered (true with a NaN), num/nan test for NaNs. mod2 (BOOL_*) combines the
         * result with predicate c (s[2], F_PNEG_C for !c): p = r BOOL c, q = !r BOOL c. setp writes p to d[0]
         * and q to d[1]; set writes 1.0f (float dtype) or 0xffffffff for true, 0 for false, to d. */
        case OP_SETP:
        case OP_SET: {
            int fast = 0;
            uint32_t r = m == 0xffffffffu ? setp_fast32(in, A, B, &fast) : 0;
            if (!fast) r = setp_mask(in, A, B, m);
            uint32_t nr = ~r & m;
            if (in->mod2 != BOOL_NONE) {
                uint32_t c = P[in->s[2]];
                if (in->flags & F_PNEG_C) c = ~c;
                switch (in->mod2) {
                case BOOL_AND:
                    r &= c;
                    nr &= c;
                    break;
                case BOOL_OR:
                    r |= c;
                    nr |= c;
                    break;
                default:
                    r ^= c;
                    nr ^= c;
                    break;
                }
                r &= m;
                nr &= m;
            }
            if (in->op == OP_SET) {
                uint64_t one = TY_KIND(in->type) == TK_F ? 0x3f800000u : 0xffffffffu;
                LANES(D[l] = (r >> l & 1) ? one : 0);
                break;
            }
            if (in->d[0] != OP_NONE) P[in->d[0]] = (P[in->d[0]] & ~m) | r;
            if (in->d[1] != OP_NONE) P[in->d[1]] = (P[in->d[1]] & ~m) | nr;
            NEXT_INSN();
        }
        /* selp.type d, a, b, {!}c: a where predicate c (s[2], negated by F_PNEG_C) holds, else b. */
        case OP_SELP: {
            uint32_t c = P[in->s[2]];
            if (in->flags & F_PNEG_C) c = ~c;
            C = NULL;
            LANES(D[l] = (c >> l & 1) ? A[l] : B[l]);
            NEXT_INSN();
        }
        /* slct{.ftz}.dtype.{s32,f32} d, a, b, c: a where c >= 0, else b; c's type is type2. A float -0 counts
         * as >= 0 and a NaN selects b. */
        case OP_SLCT:
            if (TY_KIND(in->type2) == TK_F)
                LANES(D[l] = u2f(C[l]) >= 0.0f ? A[l] : B[l]);
            else
                LANES(D[l] = (int32_t)C[l] >= 0 ? A[l] : B[l]);
            break;
        /* and/or/xor.pred d, {!}a, {!}b: predicate logic on lane masks; F_PNEG_A and F_PNEG_B negate the
         * sources. */
        case OP_PAND:
        case OP_POR:
        case OP_PXOR: {
            uint32_t a = P[in->s[0]], b = P[in->s[1]];
            if (in->flags & F_PNEG_A) a = ~a;
            if (in->flags & F_PNEG_B) b = ~b;
            uint32_t r = in->op == OP_PAND ? a & b : in->op == OP_POR ? a | b : a ^ b;
            P[in->d[0]] = (P[in->d[0]] & ~m) | (r & m);
            break;
        }
        /* not.pred d, a. */
        case OP_PNOT:
            P[in->d[0]] = (P[in->d[0]] & ~m) | (~P[in->s[0]] & m);
            break;
        /* mov.pred d, {!}a: copies predicate a (F_PNEG_A negates it); with s[0] OP_NONE the source is an
         * immediate, imm != 0 for true. */
        case OP_PMOV: {
            uint32_t a = in->s[0] == OP_NONE ? (in->imm ? ~0u : 0u) : P[in->s[0]];
            if (in->flags & F_PNEG_A) a = ~a;
            P[in->d[0]] = (P[in->d[0]] & ~m) | (a & m);
            break;
        }
        /* cvt{.rnd}{.ftz}{.sat}.dtype.atype d, a: type is the destination type, type2 the source, mod the
         * rounding (RND_*). Two common cases run inline (s32 -> f32 at round to nearest, 32-bit -> 64-bit
         * integer extension); cvt_value does the rest: integer <-> integer truncation or extension (.sat
         * clamps to the destination's range), float -> integer rounded by mod (.rzi by default), NaN giving 0
         * and out-of-range values clamped, integer/float -> float with directed rounding (.rni/.rzi/.rmi/.rpi
         * round a float to an integral value; .sat clamps to [0, 1]), f16 and bf16 results rounded once from
         * the exact value. A result narrower than the register is sign-extended for a signed destination type
         * and zero-extended otherwise. */
        case OP_CVT:
            if (in->type == T_F32 && TY_KIND(in->type2) == TK_S && TY_LG(in->type2) == 2 &&
                in->mod <= RND_RN && !(in->flags & F_SAT))
                LANES(D[l] = f2u((float)(int32_t)A[l]));
            else if (TY_LG(in->type) == 3 && TY_KIND(in->type) != TK_F && TY_LG(in->type2) == 2 &&
                     TY_KIND(in->type2) != TK_F && !(in->flags & F_SAT))
                LANES(D[l] = TY_KIND(in->type2) == TK_S ? (uint64_t)(int64_t)(int32_t)A[l]
                                                        : (uint64_t)(uint32_t)A[l]);
            else
                LANES(D[l] = cvt_value(in, A[l]));
            NEXT_INSN();
        /* cvta.to.space.{u32,u64} d, a: generic address -> address in space. .shared and .local subtract
         * their generic window (VM_SHARED_WIN, VM_LOCAL_WIN: no range check); .global and .const addresses
         * are the generic ones. A .u32 result keeps the low 32 bits. */
        case OP_CVTA_TO:
            switch (in->space) {
            case SS_SHARED:
                LANES(D[l] = A[l] - VM_SHARED_WIN);
                break;
            case SS_LOCAL:
                LANES(D[l] = A[l] - VM_LOCAL_WIN);
                break;
            default:
                LANES(D[l] = A[l]);
                break;
            }
            if (TY_LG(in->type) == 2) LANES(D[l] = (uint32_t)D[l]);
            NEXT_INSN();
        /* cvta.space.{u32,u64} d, a: address in space -> generic address: a .shared or .local address (its
         * low 32 bits) plus the space's generic window; .global and .const addresses are already generic. */
        case OP_CVTA_FROM:
            switch (in->space) {
            case SS_SHARED:
                LANES(D[l] = (uint32_t)A[l] + VM_SHARED_WIN);
                break;
            case SS_LOCAL:
                LANES(D[l] = (uint32_t)A[l] + VM_LOCAL_WIN);
                break;
            default:
                LANES(D[l] = A[l]);
                break;
            }
            NEXT_INSN();
        /* isspacep.space p, a: whether generic address a lies in the space's window: .shared and .local test
         * their windows, any other space holds when a is in neither (no check that memory is there). */
        case OP_ISSPACEP: {
            uint32_t r = 0;
            LANES(uint64_t a = A[l];
                  int sh = a - VM_SHARED_WIN < VM_WIN_SIZE, lo = a - VM_LOCAL_WIN < VM_WIN_SIZE;
                  int t = in->space == SS_SHARED  ? sh
                          : in->space == SS_LOCAL ? lo
                                                  : (!sh && !lo);
                  r |= (uint32_t)t << l);
            P[in->d[0]] = (P[in->d[0]] & ~m) | r;
            break;
        }
        /* ld{.space}{.nc}{.vN}.type d, [a+imm] (and ldu): s[0] is the base register (SP_ZERO for an absolute
         * address), imm the offset (variable addresses are folded into it), d[0..vec-1] the destinations;
         * signed types are sign-extended into the 64-bit slot, the others zero-extended. Cache, volatile and
         * ordering qualifiers make no difference. A full warp of aligned 4-byte loads inside shared memory or
         * inside the last allocation used reads without per-lane checks; otherwise each lane goes through
         * mem_xlate, which resolves generic addresses by window and requires alignment to the whole access
         * (vec * size). A misaligned or out-of-bounds lane makes the launch fail
         * (CUDA_ERROR_MISALIGNED_ADDRESS / CUDA_ERROR_ILLEGAL_ADDRESS, with the thread and address in the
         * message); lanes before it in lane order have already loaded. .param accesses are
         * OP_LD_KPARAM/OP_LD_FPARAM. */
        case OP_LD: {
            uint32_t n = TY_BYTES(in->type), tot = n * in->vec;
            int sp = in->space, lg = TY_LG(in->type), sg = TY_KIND(in->type) == TK_S;
            int64_t off = in->imm;
            uint64_t bias;
            uint8_t *hb;
            if (in->vec == 1 && n == 4 && m == 0xffffffffu && (hb = warp_span(x, sp, A, off, 4, &bias))) {
                uint64_t idx[32];
                span_index(idx, A, off, sp, bias);
                if (sg) {
                    for (int l = 0; l < 32; l++) {
                        int32_t v;
                        memcpy(&v, hb + idx[l], 4);
                        D[l] = (uint64_t)(int64_t)v;
                    }
                } else {
                    for (int l = 0; l < 32; l++) {
                        uint32_t v;
                        memcpy(&v, hb + idx[l], 4);
                        D[l] = v;
                    }
                }
            } else if (in->vec == 1) {
                if (n == 4) {
                    LANES(uint8_t *p =
                              mem_xlate(x, sp, A[l] + (uint64_t)off, 4, tid_base + (unsigned)l, 0, in->line);
                          if (!p) {
                              SAVE();
                              return W_ERR;
                          } uint32_t v;
                          memcpy(&v, p, 4); D[l] = sg ? (uint64_t)(int64_t)(int32_t)v : v);
                } else {
                    LANES(uint8_t *p =
                              mem_xlate(x, sp, A[l] + (uint64_t)off, n, tid_base + (unsigned)l, 0, in->line);
                          if (!p) {
                              SAVE();
                              return W_ERR;
                          } uint64_t v = 0;
                          memcpy(&v, p, n); D[l] = sg ? (uint64_t)sext(v, lg) : v);
                }
            } else {
                uint64_t *Dv[4];
                for (int k = 0; k < in->vec; k++)
                    Dv[k] = R(in->d[k]);
                LANES(
                    uint8_t *p =
                        mem_xlate(x, sp, A[l] + (uint64_t)off, tot, tid_base + (unsigned)l, 0, in->line);
                    if (!p) {
                        SAVE();
                        return W_ERR;
                    } for (int k = 0; k < in->vec; k++) {
                        uint64_t v = 0;
                        memcpy(&v, p + k * n, n);
                        Dv[k][l] = sg ? (uint64_t)sext(v, lg) : v;
                    });
            }
            NEXT_INSN();
        }
        /* st{.space}{.vN}.type [a+imm], v: as OP_LD with the values in d[0..vec-1]. Lanes store in lane
         * order, so when several store to one address the highest lane wins. A fault fails the launch after
         * the stores of the lanes before the faulting one. */
        case OP_ST: {
            uint32_t n = TY_BYTES(in->type), tot = n * in->vec;
            int sp = in->space;
            int64_t off = in->imm;
            uint64_t bias;
            uint8_t *hb;
            if (in->vec == 1 && n == 4 && m == 0xffffffffu && (hb = warp_span(x, sp, A, off, 4, &bias))) {
                uint64_t idx[32];
                span_index(idx, A, off, sp, bias);
                /* lanes in order: the highest lane wins when several store to one address */
                for (int l = 0; l < 32; l++) {
                    uint32_t v = (uint32_t)D[l];
                    memcpy(hb + idx[l], &v, 4);
                }
            } else if (in->vec == 1) {
                const uint64_t *V = D;
                if (n == 4) {
                    LANES(uint8_t *p =
                              mem_xlate(x, sp, A[l] + (uint64_t)off, 4, tid_base + (unsigned)l, 1, in->line);
                          if (!p) {
                              SAVE();
                              return W_ERR;
                          } uint32_t v = (uint32_t)V[l];
                          memcpy(p, &v, 4));
                } else {
                    LANES(uint8_t *p =
                              mem_xlate(x, sp, A[l] + (uint64_t)off, n, tid_base + (unsigned)l, 1, in->line);
                          if (!p) {
                              SAVE();
                              return W_ERR;
                          } uint64_t v = V[l];
                          memcpy(p, &v, n));
                }
            } else {
                const uint64_t *Vv[4];
                for (int k = 0; k < in->vec; k++)
                    Vv[k] = R(in->d[k]);
                LANES(
                    uint8_t *p =
                        mem_xlate(x, sp, A[l] + (uint64_t)off, tot, tid_base + (unsigned)l, 1, in->line);
                    if (!p) {
                        SAVE();
                        return W_ERR;
                    } for (int k = 0; k < in->vec; k++) {
                        uint64_t v = Vv[k][l];
                        memcpy(p + k * n, &v, n);
                    });
            }
            NEXT_INSN();
        }
        /* ld.param{.vN}.type d, [kparam+imm]: reads a kernel parameter from the launch's parameter buffer,
         * one value for every lane; signed types are sign-extended. Reading past kparam_size fails the launch
         * with CUDA_ERROR_ILLEGAL_ADDRESS. */
        case OP_LD_KPARAM: {
            uint32_t n = TY_BYTES(in->type);
            int lg = TY_LG(in->type), sg = TY_KIND(in->type) == TK_S;
            for (int k = 0; k < in->vec; k++) {
                uint64_t v = 0;
                uint64_t o = (uint64_t)in->imm + (uint64_t)k * n;
                if (o + n > x->kern->kparam_size)
                    return set_error(x, CUDA_ERROR_ILLEGAL_ADDRESS, "kernel parameter read out of bounds",
                                     in->line);
                memcpy(&v, x->L->params + o, n);
                if (sg) v = (uint64_t)sext(v, lg);
                uint64_t *Dk = R(in->d[k]);
                LANES(Dk[l] = v);
            }
            break;
        }
        /* ld/st.param{.vN}.type of a device function's .param space: its formal parameters, return value and
         * the argument variables it declares for its own calls. Each lane has its own copy, frame_param_size
         * bytes at the frame's param_off (w->params); imm is the offset into it, d[] the registers loaded or
         * stored. An access past frame_param_size fails the launch (CUDA_ERROR_ILLEGAL_ADDRESS). */
        case OP_LD_FPARAM:
        case OP_ST_FPARAM: {
            uint32_t n = TY_BYTES(in->type), fs = fn->frame_param_size;
            int lg = TY_LG(in->type), sg = TY_KIND(in->type) == TK_S;
            if ((uint64_t)in->imm + (uint64_t)n * in->vec > fs)
                return set_error(x, CUDA_ERROR_ILLEGAL_ADDRESS, "parameter access out of bounds", in->line);
            uint8_t *base = w->params + f->param_off + (size_t)in->imm;
            for (int k = 0; k < in->vec; k++) {
                uint64_t *Dk = R(in->d[k]);
                if (in->op == OP_LD_FPARAM)
                    LANES(uint64_t v = 0; memcpy(&v, base + (size_t)l * fs + (size_t)k * n, n);
                          Dk[l] = sg ? (uint64_t)sext(v, lg) : v);
                else
                    LANES(uint64_t v = Dk[l]; memcpy(base + (size_t)l * fs + (size_t)k * n, &v, n));
            }
            break;
        }
        /* atom{.space}.op.type d, [a+imm], b{, c} and red (d OP_NONE, so D is NULL): mod is the AT_*
         * operation, c the new value of cas; 32- and 64-bit types only. Each lane, in lane order, does one
         * read-modify-write as a host atomic (relaxed), so blocks running on other host threads see whole
         * updates; what the host has no atomic instruction for (float add, min, max, inc, dec) is a
         * compare-and-swap loop. inc gives (old >= b) ? 0 : old + 1, dec (old == 0 || old > b) ? b : old - 1.
         * Scope and ordering qualifiers make no difference. Faults as for OP_LD. */
        case OP_ATOM: {
            uint32_t n = TY_BYTES(in->type);
            int64_t off = in->imm;
            const uint64_t *Bv = B, *Cv = C;
            LANES(uint8_t *p =
                      mem_xlate(x, in->space, A[l] + (uint64_t)off, n, tid_base + (unsigned)l, 1, in->line);
                  if (!p) {
                      SAVE();
                      return W_ERR;
                  } uint64_t old = mem_atomic(p, in, Bv[l], Cv ? Cv[l] : 0);
                  if (D) D[l] = old);
            break;
        }
        /* @p bra{.uni} target: imm is the target pc (.uni, F_UNI, changes nothing). When every active lane
         * takes it the warp jumps, unless another group of lanes is parked at a lower pc than the target
         * (next_min): then they run first, which is how a diverged warp reconverges. When only some lanes
         * take it, they are parked at the target and the others at pc + 1, and the lowest-pc group runs
         * next. */
        case OP_BRA: {
            int tgt = (int)in->imm;
            if (m == active) {
                if (tgt > f->next_min) {
                    park(f, active, tgt);
                    pc = tgt;
                    DIVERGE_TO_RESCHEDULE();
                }
                pc = tgt;
                continue;
            }
            if (m == 0) break;
            park(f, m, tgt);
            park(f, active & ~m, pc + 1);
            DIVERGE_TO_RESCHEDULE();
        }
        /* call (ret), func, (args) / call (ret), %reg, (args), proto: imm indexes pm->calls (callee, argument
         * and return .param offsets). For an indirect call s[0] holds a function address (PTX_FUNC_ADDR); the
         * lanes whose target equals the lowest executing lane's call together and the others stay parked at
         * this call to run it again; an address that is no defined device function fails the launch with
         * CUDA_ERROR_INVALID_PC. vprintf and __assertfail are provided by the interpreter and run inline
         * (builtin_call). Otherwise the caller frame resumes at pc + 1 later, and do_call pushes a frame for
         * the calling lanes with their arguments copied per lane (CUDA_ERROR_LAUNCH_FAILED when the
         * 256-frame, local-memory or register-stack limits are passed). */
        case OP_CALL: {
            if (!m) break;
            const ptx_callsite *cs = &x->pm->calls[in->imm];
            int callee = cs->callee;
            uint32_t group = m;
            if (callee < 0) {
                /* indirect: lanes with the same target call together, the others run the call again */
                uint64_t t = A[__builtin_ctz(m)];
                group = 0;
                for (uint32_t mm = m; mm; mm &= mm - 1)
                    if (A[__builtin_ctz(mm)] == t) group |= 1u << __builtin_ctz(mm);
                uint64_t idx = (t - PTX_FUNC_BASE) / 16u;
                if (t < PTX_FUNC_BASE || (t - PTX_FUNC_BASE) % 16u || idx >= (uint64_t)x->pm->nfuncs ||
                    x->pm->funcs[idx].is_entry || !x->pm->funcs[idx].defined) {
                    SAVE();
                    return set_error(x, CUDA_ERROR_INVALID_PC,
                                     "indirect call to an address that is not a function", in->line);
                }
                callee = (int)idx;
            }
            if (x->pm->funcs[callee].builtin) {
                /* provided by the interpreter (vprintf, __assertfail): runs inline, no frame */
                if (do_call(x, w, in, callee, group, in->line) == W_ERR) {
                    SAVE();
                    return W_ERR;
                }
                if (group == m) break;
            }
            park(f, m & ~group, pc);
            if (x->pm->funcs[callee].builtin) {
                park(f, active & ~m, pc + 1);
                park(f, group, pc + 1);
                DIVERGE_TO_RESCHEDULE();
            }
            park(f, active & ~m, pc + 1);
            recompute_next(f, w->blocked);
            f->pc = pc + 1;
            f->active = 0;
            x->instrs += ninstr;
            ninstr = 0;
            if (do_call(x, w, in, callee, group, in->line) == W_ERR) return W_ERR;
            goto top;
        }
        /* ret / exit. exit, and ret from the kernel's own frame, end the lanes: they leave every frame of the
         * warp and the block's count of live threads, so barriers stop waiting for them. ret from a device
         * function collects the lanes in the frame's retmask; when nothing else of the frame can run,
         * frame_empty pops it, copies the return value and resumes them after the call. */
        case OP_RET:
        case OP_EXIT:
            if (!m) break;
            if (in->op == OP_EXIT || w->nframes == 1) {
                w->exited |= m;
                x->live -= __builtin_popcount(m);
                /* lanes exiting from inside calls leave every frame */
                for (int k = 0; k < w->nframes; k++)
                    w->frames[k].waiting &= ~m;
            } else {
                f->retmask |= m;
            }
            active &= ~m;
            if (!active) DIVERGE_TO_RESCHEDULE();
            break;
        /* trap: when any lane executes it (guard true), the launch fails with CUDA_ERROR_LAUNCH_FAILED. */
        case OP_TRAP:
            if (!m) break;
            SAVE();
            return set_error(x, CUDA_ERROR_LAUNCH_FAILED, "trap instruction executed", in->line);
        /* brkpt: with no debugger to stop in, the launch fails with CUDA_ERROR_ILLEGAL_INSTRUCTION. */
        case OP_BRKPT:
            if (!m) break;
            SAVE();
            return set_error(x, CUDA_ERROR_ILLEGAL_INSTRUCTION,
                             "brkpt instruction executed without a debugger", in->line);
        /* bar{.sync}/barrier{.sync}{.aligned} a{, b}, bar.red (OP_BAR_RED) and bar.arrive: the barrier number
         * (s[0]) and thread count (s[1]) are not used: every barrier is the block's one barrier, complete
         * when all its live threads have arrived (run_block in interp_grid.c releases it). The arriving lanes
         * wait at pc + 1 in w->blocked while the warp's other lanes go on, as with independent thread
         * scheduling. bar.arrive counts its lanes and does not wait. bar.red adds its lanes' predicate s[2]
         * (F_PNEG_A negates it) to the block's tallies; the OP_BAR_RED_READ the decoder placed after it reads
         * the result once the barrier completed. */
        case OP_BAR:
        case OP_BAR_RED:
        case OP_BAR_ARRIVE: {
            if (!m) break;
            if (in->op == OP_BAR_RED) {
                uint32_t p = P[in->s[2]];
                if (in->flags & F_PNEG_A) p = ~p;
                int t = __builtin_popcount(p & m);
                x->red_popc += t;
                x->red_true += t;
                x->red_false += __builtin_popcount(m) - t;
            }
            if (in->op == OP_BAR_ARRIVE) {
                x->arrived += __builtin_popcount(m);
                break;
            }
            park(f, m, pc + 1);
            w->blocked |= m;
            x->arrived += __builtin_popcount(m);
            active &= ~m;
            if (!active) DIVERGE_TO_RESCHEDULE();
            break;
        }
        /* activemask.b32 d: the lanes executing this instruction (active, guard-false lanes included). */
        case OP_ACTIVEMASK:
            LANES(D[l] = active);
            break;
        /* bar.warp.sync membermask (s[0]): when the warp is diverged, the executing lanes wait until the
         * mask's other lanes arrive (WARP_SYNC_POINT, sync_arrive); it has no effect otherwise. */
        case OP_WARPSYNC:
            WARP_SYNC_POINT(A);
            break;
        /* shfl{.sync}.{up,down,bfly,idx}.b32 d{|p}, a, b, c{, membermask}: mod 0..3 in that order; the
         * membermask is s[3] (all lanes for the non-.sync form). A diverged warp first waits for the mask's
         * lanes (WARP_SYNC_POINT). Each lane reads a from the source lane computed from b and c (c[4:0] the
         * clamp, c[12:8] the segment mask, as in the PTX ISA); an out-of-range source gives the lane its own
         * a, and p (d[1]) says whether the source was in range. A source lane that does not execute gives
         * whatever its register holds (undefined in PTX). */
        case OP_SHFL:
            WARP_SYNC_POINT(R(in->s[3]));
            shfl_op(in, D, A, B, C, P, m);
            break;
        /* vote{.sync}.{all,any,uni}.pred d, {!}a{, membermask} and vote{.sync}.ballot.b32 d, {!}a{, m}:
         * mod 0..3 = all, any, uni, ballot; a is predicate s[0] (F_PNEG_A negates it), the membermask s[1]
         * (all lanes for the non-.sync form), taken from the lowest executing lane. Only executing lanes
         * within the mask vote. ballot writes their bit mask to d; all/any/uni write predicate d[0]. A
         * diverged warp first waits for the mask's lanes (WARP_SYNC_POINT). */
        case OP_VOTE:
            WARP_SYNC_POINT(B);
            vote_op(in, D, B, P, m);
            break;
        /* match.{any,all}.sync.{b32,b64} d{|p}, a, membermask (s[1]): mod 0 any, 1 all. .any gives each lane
         * the mask of executing lanes in the membermask whose a equals its own; .all gives that mask to all
         * when every one has the same a, else 0, and sets p (d[1]) accordingly. A diverged warp first waits
         * for the mask's lanes (WARP_SYNC_POINT). */
        case OP_MATCH:
            WARP_SYNC_POINT(B);
            match_op(in, D, A, B, P, m);
            break;
        /* redux.sync.op.type d, a, membermask (s[1]): add, min, max (mod AT_*, signed for .s32) on .u32/.s32
         * and and/or/xor on .b32, over the executing lanes in the membermask; every executing lane gets the
         * result, add wrapping at 32 bits. A diverged warp first waits for the mask's lanes
         * (WARP_SYNC_POINT). */
        case OP_REDUX:
            WARP_SYNC_POINT(B);
            redux_op(in, D, A, B, m);
            break;
        /* add/sub/mul/min/max/neg/abs/fma{.rn}{.ftz}{.sat} on .f16, .f16x2, .bf16 and .bf16x2: mod2 is the
         * OP_* of the operation. Each 16-bit half is computed in float and rounded once to nearest even (fma
         * through round-to-odd, so the two roundings do not compound); .sat clamps to [0, 1], .ftz flushes
         * f16 subnormal inputs and results (not bf16). min/max: a NaN gives the other operand. See half_op in
         * interp_math.c. */
        case OP_HALF:
            half_op(in, D, A, B, C, m);
            break;
        /* min/max.{u16x2,s16x2}{.relu}: each 16-bit half on its own, signed or not; .relu clamps
         * negative halves to 0 */
        case OP_MINMAX16X2: {
            int mx = in->mod2 & PM_MAX, sg = in->mod2 & PM_SIGNED, relu = in->mod2 & PM_RELU;
            LANES(
                uint32_t a = (uint32_t)A[l], b = (uint32_t)B[l], r = 0; for (int k = 0; k < 2; k++) {
                    uint32_t ua = (a >> (16 * k)) & 0xffffu, ub = (b >> (16 * k)) & 0xffffu;
                    int32_t va = sg ? (int16_t)ua : (int32_t)ua, vb = sg ? (int16_t)ub : (int32_t)ub;
                    int32_t v = mx ? (va > vb ? va : vb) : (va < vb ? va : vb);
                    if (relu && v < 0) v = 0;
                    r |= ((uint32_t)v & 0xffffu) << (16 * k);
                } D[l] = r);
            break;
        }
        /* wmma.load.{a,b,c}, wmma.store.d and wmma.mma of shape m16n16k16, f16 inputs and f16/f32
         * accumulators (interp_wmma.c): aux indexes the fragment register lists in module->wops, mod the
         * matrix (0 a, 1 b, 2 c/d) of a load/store, mod2 1 for .col, s[0]/imm the address and s[1] the stride
         * in elements. The fragments use the emulator's own layout (they are opaque to programs). Memory
         * faults fail the launch as for OP_LD. */
        case OP_WMMA_LOAD:
        case OP_WMMA_STORE:
        case OP_WMMA_MMA:
            if (wmma_exec(x, in, bank, m, tid_base) == W_ERR) {
                SAVE();
                return W_ERR;
            }
            break;
        /* tex, tld4, txq, suld.b, sust.b, suq on texture and surface objects (interp_tex.c): fields and
         * operands as described at TEXOP_* in ptx.h. A handle that names no object, or a surface access out
         * of range (.trap) or misaligned, fails the launch. */
        case OP_TEX:
        case OP_TLD4:
        case OP_TXQ:
        case OP_SULD:
        case OP_SUST:
        case OP_SUQ: /* interp_tex.c */
            if (tex_exec(x, in, bank, m, tid_base) == W_ERR) {
                SAVE();
                return W_ERR;
            }
            break;
        /* add/sub/mul/div/fma/sqrt/rcp.{rz,rm,rp}{.sat}.{f32,f64}: mod2 is the OP_* of the operation and mod
         * the rounding; fround_op computes it with the host's rounding mode switched to match, so the result
         * is rounded once in that direction. .sat clamps to [0, 1], NaN to 0. */
        case OP_FROUND:
            fround_op(in, D, A, B, C, m);
            break;
        /* dp4a.atype.btype d, a, b, c (mod 0): c plus the sum of the products of the four bytes of a and b;
         * dp2a.{lo,hi}.atype.btype (mod 1 .lo, 2 .hi): c plus the products of the two 16-bit halves of a with
         * bytes 0 and 1 (.lo) or 2 and 3 (.hi) of b. type is a's type and type2 b's (.s32 reads the parts as
         * signed); the sum wraps at 32 bits. */
        case OP_DP4A: {
            int sa = TY_KIND(in->type) == TK_S, sb = TY_KIND(in->type2) == TK_S, mode = in->mod;
            LANES(
                uint32_t a = (uint32_t)A[l], b = (uint32_t)B[l]; int64_t acc = 0; if (mode == 0) {
                    for (int k = 0; k < 4; k++) {
                        int32_t ea = sa ? (int8_t)(a >> (8 * k)) : (int32_t)((a >> (8 * k)) & 0xff);
                        int32_t eb = sb ? (int8_t)(b >> (8 * k)) : (int32_t)((b >> (8 * k)) & 0xff);
                        acc += (int64_t)ea * eb;
                    }
                } else {
                    for (int k = 0; k < 2; k++) {
                        int32_t ea = sa ? (int16_t)(a >> (16 * k)) : (int32_t)((a >> (16 * k)) & 0xffff);
                        int bi = k + (mode == 2 ? 2 : 0);
                        int32_t eb = sb ? (int8_t)(b >> (8 * bi)) : (int32_t)((b >> (8 * bi)) & 0xff);
                        acc += (int64_t)ea * eb;
                    }
                } D[l] = (uint32_t)((uint32_t)C[l] + (uint32_t)acc));
            break;
        }
        /* cp.async.{ca,cg}.shared.global [dst], [src], cp-size{, src-size}: done synchronously when it runs
         * (commit_group/wait_group are OP_NOP). vec is cp-size (4, 8 or 16); s[0]/imm the shared destination,
         * s[1] plus s[3] the global source, s[2] src-size (cp-size when absent). The first
         * min(src-size, cp-size) bytes are copied and the rest zero-filled; with src-size 0 the source is not
         * read. Both addresses are checked for cp-size bytes; a fault fails the launch as for OP_LD. */
        case OP_CPASYNC: {
            uint32_t n = in->vec;
            const uint64_t *S = B, *SZ = C, *SO = R(in->s[3]);
            int64_t off = in->imm;
            LANES(
                uint8_t *dst =
                    mem_xlate(x, SS_SHARED, A[l] + (uint64_t)off, n, tid_base + (unsigned)l, 1, in->line);
                if (!dst) {
                    SAVE();
                    return W_ERR;
                } uint32_t sz = (uint32_t)SZ[l] < n ? (uint32_t)SZ[l] : n;
                uint8_t tmp[16] = {0}; if (sz) {
                    uint8_t *src =
                        mem_xlate(x, SS_GLOBAL, S[l] + SO[l], n, tid_base + (unsigned)l, 0, in->line);
                    if (!src) {
                        SAVE();
                        return W_ERR;
                    }
                    memcpy(tmp, src, sz);
                } memcpy(dst, tmp, n));
            break;
        }
        /* The second half of bar.red, placed by the decoder right after its OP_BAR_RED with the same guard:
         * it runs once the barrier completed and reads the block-wide result run_block saved (snap_*): mod 0
         * .popc writes the number of threads whose predicate held to d, mod 1 .and and mod 2 .or write
         * predicate d[0]. */
        case OP_BAR_RED_READ: {
            if (in->mod == 0) {
                LANES(D[l] = (uint32_t)x->snap_popc);
            } else {
                int r = in->mod == 1 ? x->snap_and : x->snap_or;
                P[in->d[0]] = (P[in->d[0]] & ~m) | (r ? m : 0);
            }
            break;
        }
        /* An op the decoder never produces (OP_BRX, OP_MOV_DEPOT): an internal error, not the program's. */
        default:
            SAVE();
            return set_error(x, CUDA_ERROR_ILLEGAL_INSTRUCTION, "internal: undecoded instruction", in->line);
        }

        if (x->err != CUDA_SUCCESS) {
            SAVE();
            return W_ERR;
        }
        pc++;
    }
sync_hold:
    /* the group waits at a .sync warp op (sync_arrive): counted when it runs */
    ninstr -= (uint64_t)lane_count(active);
    DIVERGE_TO_RESCHEDULE();
}
