/* interp_mem.c — device memory as kernels see it: translation of global, shared, local, const and
 * generic addresses to host bytes with bounds and alignment checks (faults become the launch's
 * error), and atomic read-modify-write on translated memory. */
#include "interp_int.h"

#include <math.h>
#include <stdio.h>

static const char *space_name(int s) {
    switch (s) {
    case SS_GLOBAL:
        return "global";
    case SS_SHARED:
        return "shared";
    case SS_LOCAL:
        return "local";
    case SS_CONST:
        return "const";
    case SS_PARAM:
        return "param";
    default:
        return "generic";
    }
}

static uint8_t *fault(exec *x, CUresult err, int space, uint64_t a, uint32_t n, unsigned tid, int store,
                      int line) {
    if (x->err == CUDA_SUCCESS) {
        x->err = err;
        snprintf(x->msg, sizeof x->msg,
                 "%s %s %s of %u bytes at 0x%llx by thread %u of block (%u,%u,%u), PTX line %d",
                 err == CUDA_ERROR_MISALIGNED_ADDRESS ? "misaligned" : "out-of-bounds", space_name(space),
                 store ? "store" : "load", n, (unsigned long long)a, tid, x->ctaid[0], x->ctaid[1],
                 x->ctaid[2], line);
    }
    return NULL;
}

uint8_t *mem_xlate_slow(exec *x, int space, uint64_t a, uint32_t n, unsigned tid, int store, int line) {
    if (a & (uint64_t)(n - 1)) return fault(x, CUDA_ERROR_MISALIGNED_ADDRESS, space, a, n, tid, store, line);
    int sp = space;
    if (sp == SS_GENERIC) {
        if (a - VM_SHARED_WIN < VM_WIN_SIZE) {
            sp = SS_SHARED;
            a -= VM_SHARED_WIN;
        } else if (a - VM_LOCAL_WIN < VM_WIN_SIZE) {
            sp = SS_LOCAL;
            a -= VM_LOCAL_WIN;
        } else {
            sp = SS_GLOBAL;
        }
    }
    switch (sp) {
    case SS_SHARED: {
        uint32_t off = (uint32_t)a;
        if ((uint64_t)off + n > x->shared_size)
            return fault(x, CUDA_ERROR_ILLEGAL_ADDRESS, space, a, n, tid, store, line);
        return x->shared + off;
    }
    case SS_LOCAL: {
        uint32_t off = (uint32_t)a;
        if ((uint64_t)off + n > x->local_stride)
            return fault(x, CUDA_ERROR_ILLEGAL_ADDRESS, space, a, n, tid, store, line);
        return x->local + (size_t)tid * x->local_stride + off;
    }
    default: {
        const vm_alloc *v = vm_find(a, n);
        if (!v || (v->ctx != x->L->ctx && v->ctx))
            return fault(x, CUDA_ERROR_ILLEGAL_ADDRESS, space, a, n, tid, store, line);
        /* mapped pieces without the access cuMemSetAccess grants fault like unmapped ones */
        int need = store ? VM_PROT_WRITE : VM_PROT_READ;
        if ((v->prot & need) != need)
            return fault(x, CUDA_ERROR_ILLEGAL_ADDRESS, space, a, n, tid, store, line);
        /* the fast path skips these checks: only cache fully accessible entries */
        if (v->prot == (VM_PROT_READ | VM_PROT_WRITE)) x->last = v;
        return v->host + (a - v->base);
    }
    }
}

#define CAS_LOOP(T, p, NEWEXPR)                                                                              \
    do {                                                                                                     \
        T old_ = __atomic_load_n((T *)(p), __ATOMIC_RELAXED);                                                \
        T new_;                                                                                              \
        do {                                                                                                 \
            T o = old_;                                                                                      \
            (void)o;                                                                                         \
            new_ = (NEWEXPR);                                                                                \
        } while (                                                                                            \
            !__atomic_compare_exchange_n((T *)(p), &old_, new_, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));     \
        return (uint64_t)old_;                                                                               \
    } while (0)

static uint64_t atom32(uint8_t *p, const ptx_insn *in, uint32_t b, uint32_t c) {
    int kind = TY_KIND(in->type);
    switch (in->mod) {
    case AT_ADD:
        if (kind == TK_F) {
            CAS_LOOP(uint32_t, p, (uint32_t)f2u(u2f(o) + u2f(b)));
        }
        return __atomic_fetch_add((uint32_t *)p, b, __ATOMIC_RELAXED);
    case AT_MIN:
        if (kind == TK_S) CAS_LOOP(uint32_t, p, (int32_t)o < (int32_t)b ? o : b);
        if (kind == TK_F) CAS_LOOP(uint32_t, p, (uint32_t)f2u(fminf(u2f(o), u2f(b))));
        CAS_LOOP(uint32_t, p, o < b ? o : b);
    case AT_MAX:
        if (kind == TK_S) CAS_LOOP(uint32_t, p, (int32_t)o > (int32_t)b ? o : b);
        if (kind == TK_F) CAS_LOOP(uint32_t, p, (uint32_t)f2u(fmaxf(u2f(o), u2f(b))));
        CAS_LOOP(uint32_t, p, o > b ? o : b);
    case AT_EXCH:
        return __atomic_exchange_n((uint32_t *)p, b, __ATOMIC_RELAXED);
    case AT_CAS: {
        uint32_t exp = b;
        __atomic_compare_exchange_n((uint32_t *)p, &exp, c, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        return exp;
    }
    case AT_AND:
        return __atomic_fetch_and((uint32_t *)p, b, __ATOMIC_RELAXED);
    case AT_OR:
        return __atomic_fetch_or((uint32_t *)p, b, __ATOMIC_RELAXED);
    case AT_XOR:
        return __atomic_fetch_xor((uint32_t *)p, b, __ATOMIC_RELAXED);
    case AT_INC:
        CAS_LOOP(uint32_t, p, o >= b ? 0u : o + 1u);
    case AT_DEC:
        CAS_LOOP(uint32_t, p, (o == 0 || o > b) ? b : o - 1u);
    }
    return 0;
}

static uint64_t atom64(uint8_t *p, const ptx_insn *in, uint64_t b, uint64_t c) {
    int kind = TY_KIND(in->type);
    switch (in->mod) {
    case AT_ADD:
        if (kind == TK_F) CAS_LOOP(uint64_t, p, d2u(u2d(o) + u2d(b)));
        return __atomic_fetch_add((uint64_t *)p, b, __ATOMIC_RELAXED);
    case AT_MIN:
        if (kind == TK_S) CAS_LOOP(uint64_t, p, (int64_t)o < (int64_t)b ? o : b);
        if (kind == TK_F) CAS_LOOP(uint64_t, p, d2u(fmin(u2d(o), u2d(b))));
        CAS_LOOP(uint64_t, p, o < b ? o : b);
    case AT_MAX:
        if (kind == TK_S) CAS_LOOP(uint64_t, p, (int64_t)o > (int64_t)b ? o : b);
        if (kind == TK_F) CAS_LOOP(uint64_t, p, d2u(fmax(u2d(o), u2d(b))));
        CAS_LOOP(uint64_t, p, o > b ? o : b);
    case AT_EXCH:
        return __atomic_exchange_n((uint64_t *)p, b, __ATOMIC_RELAXED);
    case AT_CAS: {
        uint64_t exp = b;
        __atomic_compare_exchange_n((uint64_t *)p, &exp, c, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        return exp;
    }
    case AT_AND:
        return __atomic_fetch_and((uint64_t *)p, b, __ATOMIC_RELAXED);
    case AT_OR:
        return __atomic_fetch_or((uint64_t *)p, b, __ATOMIC_RELAXED);
    case AT_XOR:
        return __atomic_fetch_xor((uint64_t *)p, b, __ATOMIC_RELAXED);
    case AT_INC:
        CAS_LOOP(uint64_t, p, o >= b ? 0u : o + 1u);
    case AT_DEC:
        CAS_LOOP(uint64_t, p, (o == 0 || o > b) ? b : o - 1u);
    }
    return 0;
}

uint64_t mem_atomic(uint8_t *p, const ptx_insn *in, uint64_t b, uint64_t c) {
    if (TY_LG(in->type) == 3) return atom64(p, in, b, c);
    return atom32(p, in, (uint32_t)b, (uint32_t)c);
}
