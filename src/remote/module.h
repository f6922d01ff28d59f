/* module.h — the module and function handles (module.c), shared with the launch path (launch.c). */
#ifndef LEPTON_REMOTE_MODULE_H
#define LEPTON_REMOTE_MODULE_H

#include "remote.h"

struct rm_global;

struct CUfunc_st {
    uint32_t magic;
    struct CUmod_st *mod;
    const lc_raw_function *f;
    uint32_t
        max_dynamic_shared; /* cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES): sent with each launch */
    int max_dynamic_shared_set;
};
#define RM_FUNC_MAGIC 0x5246554eu

struct CUmod_st {
    uint32_t magic;
    lepton_module *m;
    char sha[65];
    const lc_raw_function *fns;
    size_t nfns;
    struct CUfunc_st *funcs;   /* [nfns] */
    struct rm_global *globals; /* looked up so far (guarded by g_rm.mu) */
    size_t nglobals;
    struct CUlib_st *lib;                 /* the library that wraps it, if any (freed with it) */
    struct CUmod_st *prev_mod, *next_mod; /* the loaded modules (g_rm.mu): freed at exit if left */
};
#define RM_MOD_MAGIC 0x524d4f44u

int rm_func_ok(CUfunction f);
/* At exit, after the lease handle is gone (its module handles with it): frees what the modules the
 * program never unloaded still hold here. */
void rm_modules_free_all(void);

#endif
