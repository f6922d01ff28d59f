/* interp_grid.c — runs a launch: per-thread execution state, blocks as round-robin over their
 * warps with barrier release and deadlock detection, the grid's blocks on one or more host threads
 * (CUDAEMU_THREADS), the watchdog deadline and the first error of the launch. */
#include "interp_int.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

uint64_t g_emu_thread_instrs;

/* Per-launch warp state: the special registers that depend only on the launch shape. */
static void warp_init_static(exec *x, warp *w, int index) {
    unsigned bx = x->L->block[0], by = x->L->block[1];
    unsigned first = (unsigned)index * 32u;
    w->index = index;
    w->valid = x->nthreads - first >= 32 ? 0xffffffffu : (1u << (x->nthreads - first)) - 1u;
    uint64_t *s = w->spec;
    for (int l = 0; l < 32; l++) {
        unsigned t = first + (unsigned)l;
        s[SP_TID_X * 32 + l] = t % bx;
        s[SP_TID_Y * 32 + l] = (t / bx) % by;
        s[SP_TID_Z * 32 + l] = t / (bx * by);
        s[SP_NTID_X * 32 + l] = bx;
        s[SP_NTID_Y * 32 + l] = by;
        s[SP_NTID_Z * 32 + l] = x->L->block[2];
        s[SP_NCTAID_X * 32 + l] = x->L->grid[0];
        s[SP_NCTAID_Y * 32 + l] = x->L->grid[1];
        s[SP_NCTAID_Z * 32 + l] = x->L->grid[2];
        s[SP_LANEID * 32 + l] = (unsigned)l;
        s[SP_WARPID * 32 + l] = (unsigned)index;
        s[SP_NWARPID * 32 + l] = 64;
        s[SP_SMID * 32 + l] = 0;
        s[SP_NSMID * 32 + l] = 132;
        s[SP_GRIDID * 32 + l] = 1;
        s[SP_LANEMASK_EQ * 32 + l] = 1u << l;
        s[SP_LANEMASK_LT * 32 + l] = (1u << l) - 1u;
        s[SP_LANEMASK_LE * 32 + l] = (uint32_t)((2ull << l) - 1u);
        s[SP_LANEMASK_GT * 32 + l] = ~(uint32_t)((2ull << l) - 1u);
        s[SP_LANEMASK_GE * 32 + l] = ~((1u << l) - 1u);
        s[SP_DYN_SMEM * 32 + l] = x->L->dyn_shared;
        s[SP_TOTAL_SMEM * 32 + l] = x->shared_size;
        s[SP_ZERO * 32 + l] = 0;
    }
}

/* Per-block warp state: one kernel frame with every valid lane active at pc 0. */
static void warp_reset(exec *x, warp *w, unsigned bx, unsigned by, unsigned bz) {
    for (int i = 0; i < w->nsp; i++)
        free(w->sp[i].frames);
    w->nsp = 0;
    w->nframes = 1;
    w->exited = ~w->valid;
    w->blocked = 0;
    w->carry = 0;
    w->state = W_RUN;
    frame *f = &w->frames[0];
    f->func = (int)(x->kern - x->pm->funcs);
    f->pc = 0;
    f->active = w->valid;
    f->waiting = 0;
    f->retmask = 0;
    f->held = 0;
    f->next_min = INT_MAX;
    f->callsite = 0;
    f->reg_off = f->pred_off = f->param_off = 0;
    f->local_base = 0;
    uint64_t *s = w->spec;
    if (s[SP_CTAID_X * 32] != bx || s[SP_CTAID_Y * 32] != by || s[SP_CTAID_Z * 32] != bz) {
        for (int l = 0; l < 32; l++) {
            s[SP_CTAID_X * 32 + l] = bx;
            s[SP_CTAID_Y * 32 + l] = by;
            s[SP_CTAID_Z * 32 + l] = bz;
        }
    }
    init_depot(w, x->kern, f, w->valid);
}

static void exec_free(exec *x) {
    if (x->warps) {
        for (unsigned i = 0; i < x->warps_cap; i++) {
            free(x->warps[i].frames);
            for (int k = 0; k < x->warps[i].nsp; k++)
                free(x->warps[i].sp[k].frames);
            free(x->warps[i].sp);
            free(x->warps[i].regs);
            free(x->warps[i].preds);
            free(x->warps[i].params);
        }
    }
    free(x->warps);
    free(x->shared);
    free(x->local);
    memset(x, 0, sizeof *x);
}

/* Grows *p to hold n bytes (cap: what it holds now) and zeroes its first n. */
static int zeroed_room(uint8_t **p, size_t *cap, size_t n) {
    if (n > *cap) {
        free(*p);
        *p = malloc(n);
        *cap = *p ? n : 0;
        if (!*p) return -1;
    }
    memset(*p, 0, n);
    return 0;
}

/* Prepares x for launch L. x is zeroed, or the exec of an earlier launch whose allocations
 * (warps, their stacks, shared and local memory) are reused: only what the launch's shape changes
 * is set again. Every launch starts with zeroed registers, shared and local memory. On failure x
 * still owns what it holds (exec_free). */
static int exec_init(exec *x, emu_launch *L, int *stop, double start, double deadline) {
    warp *warps = x->warps;
    unsigned warps_cap = x->warps_cap, spec_warps = x->spec_warps;
    uint8_t *shared = x->shared, *local = x->local;
    size_t shared_cap = x->shared_cap, local_cap = x->local_cap;
    unsigned old_shape[8];
    memcpy(old_shape, x->spec_shape, sizeof old_shape);
    memset(x, 0, sizeof *x);
    x->warps = warps;
    x->warps_cap = warps_cap;
    x->shared = shared;
    x->shared_cap = shared_cap;
    x->local = local;
    x->local_cap = local_cap;
    x->L = L;
    x->pm = L->pm;
    x->kern = &L->pm->funcs[L->func];
    x->stop = stop;
    x->start_ms = start;
    x->deadline_ms = deadline;
    x->budget = 1u << 16;
    x->nthreads = L->block[0] * L->block[1] * L->block[2];
    x->nwarps = (x->nthreads + 31) / 32;
    x->shared_size = ((L->pm->shared_static + 15u) & ~15u) + L->dyn_shared;
    unsigned shape[8] = {L->block[0], L->block[1], L->block[2],   L->grid[0],
                         L->grid[1],  L->grid[2],  L->dyn_shared, x->shared_size};
    memcpy(x->spec_shape, shape, sizeof shape);
    if (memcmp(shape, old_shape, sizeof shape) != 0) spec_warps = 0;
    if (zeroed_room(&x->shared, &x->shared_cap, x->shared_size ? x->shared_size : 1)) return -1;
    x->local_stride = (x->kern->total_local + 15u) & ~15u;
    if (x->local_stride && zeroed_room(&x->local, &x->local_cap, (size_t)x->nthreads * x->local_stride))
        return -1;
    if (x->nwarps > x->warps_cap) {
        warp *n = realloc(x->warps, x->nwarps * sizeof *n);
        if (!n) return -1;
        memset(n + x->warps_cap, 0, (x->nwarps - x->warps_cap) * sizeof *n);
        x->warps = n;
        x->warps_cap = x->nwarps;
    }
    for (unsigned i = 0; i < x->nwarps; i++) {
        warp *w = &x->warps[i];
        if (!w->frames) {
            w->capframes = 8;
            w->frames = calloc((size_t)w->capframes, sizeof *w->frames);
            if (!w->frames) return -1;
        }
        if (ensure_stacks(w, x->kern->max_regs_total + 1, x->kern->npreds + 1,
                          (size_t)x->kern->frame_param_size * 32 + 16))
            return -1;
        memset(w->regs, 0, w->regcap * 32 * sizeof(uint64_t));
        memset(w->preds, 0, w->predcap * sizeof(uint32_t));
        if (i >= spec_warps) warp_init_static(x, w, (int)i);
    }
    x->spec_warps = x->nwarps;
    return 0;
}

/* Bytes an exec holds; the kept exec is let go past EXEC_KEEP_MAX. */
#define EXEC_KEEP_MAX (8u << 20)
static size_t exec_bytes(const exec *x) {
    size_t n = x->shared_cap + x->local_cap + (size_t)x->warps_cap * sizeof(warp);
    for (unsigned i = 0; i < x->warps_cap; i++)
        n += x->warps[i].regcap * 32 * sizeof(uint64_t) + x->warps[i].predcap * sizeof(uint32_t) +
             x->warps[i].paramcap + (size_t)x->warps[i].capframes * sizeof(frame);
    return n;
}

static CUresult run_block(exec *x, unsigned bx, unsigned by, unsigned bz) {
    x->ctaid[0] = bx;
    x->ctaid[1] = by;
    x->ctaid[2] = bz;
    x->arrived = 0;
    x->live = (int)x->nthreads;
    x->red_popc = x->red_false = x->red_true = 0;
    for (unsigned i = 0; i < x->nwarps; i++)
        warp_reset(x, &x->warps[i], bx, by, bz);
    for (;;) {
        unsigned done = 0, running = 0;
        for (unsigned i = 0; i < x->nwarps; i++) {
            warp *w = &x->warps[i];
            if (w->state == W_RUN) {
                int r = run_warp(x, w);
                if (r == W_ERR || x->err != CUDA_SUCCESS)
                    return x->err != CUDA_SUCCESS ? x->err : CUDA_ERROR_LAUNCH_FAILED;
                w->state = r;
            }
            if (w->state == W_DONE)
                done++;
            else if (w->state == W_RUN)
                running++;
        }
        if (done == x->nwarps) return CUDA_SUCCESS;
        if (running) continue;
        if (x->arrived >= x->live) {
            x->arrived = 0;
            x->snap_popc = x->red_popc;
            x->snap_and = x->red_false == 0;
            x->snap_or = x->red_true != 0;
            x->red_popc = x->red_false = x->red_true = 0;
            for (unsigned i = 0; i < x->nwarps; i++) {
                warp *w = &x->warps[i];
                if (w->state == W_BAR) {
                    w->blocked = 0;
                    w->state = W_RUN;
                }
            }
            continue;
        }
        x->err = CUDA_ERROR_LAUNCH_FAILED;
        snprintf(x->msg, sizeof x->msg, "barrier deadlock in block (%u,%u,%u): %d of %d threads arrived", bx,
                 by, bz, x->arrived, x->live);
        return x->err;
    }
}

typedef struct grid_job {
    emu_launch *L;
    uint64_t next; /* atomic block counter */
    uint64_t nblocks;
    int stop;
    double start, deadline;
    pthread_mutex_t mu;
    CUresult err;
    char msg[256];
    uint64_t instrs;
} grid_job;

/* Runs blocks of g until none is left, with execution state x (zeroed, or kept from an earlier
 * launch). */
static void grid_run(grid_job *g, exec *x) {
    CUresult err = CUDA_SUCCESS;
    if (exec_init(x, g->L, &g->stop, g->start, g->deadline)) {
        err = CUDA_ERROR_OUT_OF_MEMORY;
        snprintf(x->msg, sizeof x->msg, "out of host memory for the launch");
    } else {
        unsigned gx = g->L->grid[0], gy = g->L->grid[1];
        for (;;) {
            if (__atomic_load_n(&g->stop, __ATOMIC_RELAXED)) break;
            uint64_t b = __atomic_fetch_add(&g->next, 1, __ATOMIC_RELAXED);
            if (b >= g->nblocks) break;
            err = run_block(x, (unsigned)(b % gx), (unsigned)((b / gx) % gy),
                            (unsigned)(b / ((uint64_t)gx * gy)));
            if (err != CUDA_SUCCESS) break;
        }
    }
    pthread_mutex_lock(&g->mu);
    g->instrs += x->instrs;
    if (err != CUDA_SUCCESS && g->err == CUDA_SUCCESS) {
        g->err = err;
        memcpy(g->msg, x->msg, sizeof g->msg);
        __atomic_store_n(&g->stop, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&g->mu);
}

static void *grid_worker(void *arg) {
    exec x;
    memset(&x, 0, sizeof x);
    grid_run(arg, &x);
    exec_free(&x);
    return NULL;
}

/* The exec of the last launch run on the launching thread, kept for the next one (launches run
 * one at a time, under emu_lock): an empty kernel's launch was mostly allocating, zeroing and
 * freeing this state. */
static exec g_kept;

/* Unloading the driver (dlclose, or the process's exit) frees the kept state — unless a launch
 * holds the lock then (a thread still launching at exit keeps it: it is using it). */
__attribute__((destructor)) static void kept_release(void) {
    if (pthread_mutex_trylock(&g_emu_lock) != 0) return;
    exec_free(&g_kept);
    pthread_mutex_unlock(&g_emu_lock);
}

CUresult interp_launch(emu_launch *L) {
    grid_job g;
    memset(&g, 0, sizeof g);
    g.L = L;
    g.nblocks = (uint64_t)L->grid[0] * L->grid[1] * L->grid[2];
    g.start = emu_now_ms();
    g.deadline = g_emu.watchdog_ms > 0 ? g.start + (double)g_emu.watchdog_ms : 0;
    pthread_mutex_init(&g.mu, NULL);
    int nt = g_emu.threads > 1 ? g_emu.threads : 1;
    if ((uint64_t)nt > g.nblocks) nt = (int)g.nblocks;
    /* by default (CUDAEMU_THREADS unset) small grids use fewer host threads, at most one per 2048
     * GPU threads: a host thread costs tens of microseconds to start */
    uint64_t gpu_threads = g.nblocks * L->block[0] * L->block[1] * L->block[2];
    if (!g_emu.threads_set && (uint64_t)nt > (gpu_threads + 2047) / 2048)
        nt = (int)((gpu_threads + 2047) / 2048);
    /* device printf: blocks run in order on one thread, so the output keeps the order it had with
     * CUDAEMU_THREADS=1 (deterministic, lines never interleaved) */
    for (int i = 0; i < L->pm->nfuncs && nt > 1; i++)
        if (L->pm->funcs[i].builtin == BI_VPRINTF) nt = 1;
    if (nt <= 1) {
        grid_run(&g, &g_kept);
        if (exec_bytes(&g_kept) > EXEC_KEEP_MAX) exec_free(&g_kept);
    } else {
        pthread_t th[64];
        int started = 0;
        for (int i = 0; i < nt && i < 64; i++)
            if (pthread_create(&th[i], NULL, grid_worker, &g) == 0) started++;
        if (!started) grid_worker(&g);
        for (int i = 0; i < started; i++)
            pthread_join(th[i], NULL);
    }
    pthread_mutex_destroy(&g.mu);
    L->thread_instrs = g.instrs;
    __atomic_fetch_add(&g_emu_thread_instrs, g.instrs, __ATOMIC_RELAXED);
    if (g.err != CUDA_SUCCESS) memcpy(L->msg, g.msg, sizeof L->msg);
    return g.err;
}
