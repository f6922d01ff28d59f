/* emu.h — internal state of cudaemu shared by the API files: devices, contexts, the device
 * address space, modules, streams and events, and the global lock that serialises them. */
#ifndef CUDAEMU_EMU_H
#define CUDAEMU_EMU_H

#include <cuda.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ptx.h"

#define EMU_API __attribute__((visibility("default")))

#define EMU_DRIVER_VERSION 13000

/* ---- configuration / devices (config.c) ---- */
typedef struct emu_device {
    char name[256];
    size_t total_mem;
    size_t used_mem;
    uint64_t va_next; /* where the next allocation in this device's address window is tried (vmem.c) */
    CUuuid uuid;
    struct CUctx_st *primary; /* created on first retain, NULL otherwise */
    int primary_refs;
    unsigned primary_flags;
} emu_device;

typedef struct emu_config {
    int ndev;
    emu_device *dev;
    long watchdog_ms;
    int threads;
    int threads_set;   /* CUDAEMU_THREADS given: no cap for small grids */
    int shared_window; /* CUDAEMU_DEVICE_WINDOWS=0: every device allocates in one address window (vmem.c) */
} emu_config;

extern emu_config g_emu;
extern int g_emu_initialized;
extern pthread_mutex_t g_emu_lock;

int emu_config_load(void);     /* parses the environment; 0 on success */
CUresult emu_check_init(void); /* CUDA_SUCCESS once cuInit succeeded */
void emu_lock(void);
void emu_unlock(void);

/* ---- handles ---- */
enum {
    H_CTX = 1,
    H_MOD,
    H_FUNC,
    H_STREAM,
    H_EVENT,
    H_LIB,
    H_KERNEL,
    H_LINK,
    H_ARRAY,
    H_MIPARRAY
}; /* arrays: api_array.c */
void handle_add(int kind, void *p);
/* Room for element n of a growable array arr of *cap elements of elem bytes (doubling; `first` at
 * the first growth): arr itself while n < *cap, else the grown array (*cap updated), or NULL when
 * out of memory (arr and *cap unchanged). */
void *emu_grow(void *arr, size_t *cap, size_t n, size_t elem, size_t first);
void handle_del(int kind, void *p);
int handle_live(int kind, const void *p);
size_t handle_list(int kind, void **out, size_t max); /* returns the count (may exceed max) */
/* Detail of the last failure on this thread (launch faults, JIT errors); printed if CUDAEMU_LOG is set. */
void emu_set_detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Records "<entry>: <why>" as the detail (one log line with CUDAEMU_LOG) and returns err:
 * `return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "phStream is NULL");` names the entry point itself
 * (a message that starts with an entry point, "cuMemMap: ...", keeps it instead). */
CUresult emu_refuse_at(const char *entry, CUresult err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define EMU_REFUSE(err, ...) emu_refuse_at(__func__, (err), __VA_ARGS__)

/* ---- contexts (api_ctx.c) ---- */
struct CUctx_st {
    int dev;
    int is_primary;
    unsigned flags;
    CUresult sticky;      /* CUDA_SUCCESS or the error that poisoned the context */
    char sticky_msg[320]; /* what poisoned it (kernel, fault, PTX line), for the logs of later calls */
    size_t limit_stack;
    size_t limit_printf;
    size_t limit_heap;
    size_t limit_sync_depth;    /* CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH */
    size_t limit_pending;       /* CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT */
    size_t limit_l2_fetch;      /* CU_LIMIT_MAX_L2_FETCH_GRANULARITY */
    size_t limit_l2_persisting; /* CU_LIMIT_PERSISTING_L2_CACHE_SIZE */
    CUfunc_cache cache_config;
    CUsharedconfig shmem_config;
    unsigned long long id; /* cuCtxGetId */
};

/* Returns the current context, or NULL. */
CUcontext ctx_current(void);
/* Current context check used by most entry points: initialised, a context is current, not poisoned.
 * A poisoned context answers its sticky error, logged (CUDAEMU_LOG) under the entry point's name. */
CUresult ctx_check_at(CUcontext *out, const char *entry);
#define ctx_check(out) ctx_check_at((out), __func__)
/* Marks ctx unusable after an execution error of a kernel (why: what happened, for later logs). */
void ctx_poison(CUcontext ctx, CUresult err, const char *why);
/* Execution errors surface at the next synchronising call instead of the launch (as on a GPU). */
int emu_is_execution_error(CUresult r);
/* Frees everything a context owns (allocations, modules, streams, events). */
void ctx_release_resources(CUcontext ctx);
void ctx_forget_everywhere(CUcontext ctx);

/* ---- device address space (vmem.c) ---- */
#define VM_GLOBAL_BASE 0x7f0000000000ull
#define VM_SHARED_WIN 0x7e0000000000ull /* generic window onto the block's shared memory */
#define VM_LOCAL_WIN 0x7d0000000000ull  /* generic window onto the thread's local memory */
#define VM_WIN_SIZE 0x000100000000ull

/* VA_HOST: pinned or registered host bytes (not owned); VA_MANAGED: cuMemAllocManaged memory at its
 * own host address; VA_VMAP: a piece of a physical allocation (cuMemCreate) mapped into a reservation. */
enum { VA_USER = 0, VA_MODULE = 1, VA_HOST = 2, VA_MANAGED = 3, VA_VMAP = 4 };
/* vm_alloc_new kind asking for a VA_USER allocation below 4 GiB (v1 entry points, 32-bit CUdeviceptr) */
#define VA_USER32 100
#define VM_LOW_BASE 0xc0000000ull
#define VM_LOW_LIMIT 0xffff0000ull
#define VM_PROT_READ 1
#define VM_HOST_REGISTERED 0x80000000u /* vm_alloc.flags of VA_HOST: cuMemHostRegister, bytes not ours */
#define VM_PROT_WRITE 2
typedef struct vm_alloc {
    uint64_t base;
    uint64_t size;
    uint8_t *host;
    CUcontext ctx; /* accounted to this context's device; kernels of other contexts fault; NULL: shared */
    int kind;
    int prot;        /* VM_PROT_* granted to kernels and copies */
    CUcontext owner; /* context cuPointerGetAttribute reports */
    void *obj;       /* VA_VMAP: the physical allocation */
    uint64_t id;     /* CU_POINTER_ATTRIBUTE_BUFFER_ID */
    unsigned flags;  /* VA_HOST: cuMemHostAlloc/cuMemHostRegister flags; VA_MANAGED: attach flags */
} vm_alloc;

typedef struct vm_space {
    vm_alloc *a; /* sorted by base */
    size_t n, cap;
    uint64_t next;
} vm_space;

extern vm_space g_vm;
/* Allocates size bytes of device memory for ctx (accounted to its device). */
CUresult vm_alloc_new(CUcontext ctx, size_t size, int kind, uint64_t *out);
CUresult vm_free(uint64_t base, int kind);
/* Finds the allocation holding [addr, addr+len); NULL when none. */
const vm_alloc *vm_find(uint64_t addr, uint64_t len);
vm_alloc *vm_find_base(uint64_t base);
/* 1 when [addr, addr+len) is covered by (possibly several adjacent) entries granting prot. */
int vm_covered(uint64_t addr, uint64_t len, int prot);
/* Host bytes behind addr and how many follow in the same entry; NULL when unmapped. */
uint8_t *vm_piece(uint64_t addr, uint64_t *avail);
void vm_free_ctx(CUcontext ctx);
uint8_t *vm_backing_new(size_t size);
void vm_backing_free(uint8_t *p, size_t size);
/* Maps host bytes (pinned, registered) into the space, at their own address where free. */
CUresult vm_add_host(void *host, size_t size, CUcontext owner, unsigned flags, int kind, uint64_t *out);
CUresult vm_alloc_managed(size_t size, CUcontext owner, unsigned flags, uint64_t *out);
CUresult vm_reserve(uint64_t size, uint64_t align, uint64_t hint, uint64_t *out);
CUresult vm_unreserve(uint64_t base, uint64_t size);
int vm_in_reservation(uint64_t addr, uint64_t len);
CUresult vm_map_piece(uint64_t addr, uint64_t size, uint8_t *host, void *obj, CUcontext owner);
/* Unmaps whole mappings in [addr, addr+size); release is called with each piece's obj. */
CUresult vm_unmap_range(uint64_t addr, uint64_t size, void (*release)(void *obj));
CUresult vm_set_prot(uint64_t addr, uint64_t size, int prot);
/* CUmemAllocationHandleType bits of a physical allocation behind a VA_VMAP entry (api_vmm.c). */
uint64_t vmm_handle_types(const void *obj);
/* Copies and fills over device ranges that may span adjacent mapped pieces (api_memory.c). */
CUresult mem_copy_any(uint64_t dst, int dst_dev, uint64_t src, int src_dev, size_t n);

/* ---- modules (api_module.c) ---- */
struct CUfunc_st;
struct CUmod_st {
    CUcontext ctx;
    ptx_module *pm;
    struct CUfunc_st *funcs; /* one per ptx function (entries only are handed out) */
    struct CUlib_st *lib;    /* the library this module is the per-context instance of, or NULL */
};
struct CUfunc_st {
    struct CUmod_st *mod;
    int index;              /* into pm->funcs */
    int max_dynamic_shared; /* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */
    struct {                /* the pre-4.0 launch state (api_legacy.c) */
        unsigned block[3];
        unsigned shared;
        unsigned param_size;
        uint8_t params[4096];
    } legacy;
};
void module_free_ctx(CUcontext ctx);
/* Images, JIT options and logs (api_module.c), shared by modules, libraries and the linker. */
typedef struct jit_opts {
    void **vals;
    char *errbuf, *infobuf;
    size_t errcap, infocap;
    int erri, infoi, walli, verbose;
    double t0;
} jit_opts;
void jit_opts_parse(jit_opts *o, unsigned n, const CUjit_option *opts, void **vals);
/* Writes the logs (err may be NULL on success), the used sizes and the wall time back. */
void jit_opts_finish(jit_opts *o, const char *err, const char *info);
/* Loads an image (PTX, fatbin, fatbin wrapper; size 0 = unknown) into ctx; the caller holds no lock. */
CUresult module_load_image(CUcontext ctx, const void *image, size_t size, CUmodule *out, char *log,
                           size_t logsz);
/* Loads PTX text (len bytes) into ctx. */
CUresult module_load_ptx(CUcontext ctx, const char *text, size_t len, CUmodule *out, char *log, size_t logsz);
void module_destroy(CUmodule m); /* the caller holds the lock */
/* Appends one line per kernel of pm to the NUL-terminated log in buf (CU_JIT_LOG_VERBOSE). */
void module_describe(const ptx_module *pm, char *buf, size_t cap);
/* A JIT log without its leading "cudaemu: " (for emu_set_detail, which adds its own). */
const char *log_body(const char *log);
/* A whole file in memory, NUL-terminated; CUDA_ERROR_FILE_NOT_FOUND / _OUT_OF_MEMORY. */
CUresult emu_read_file(const char *path, char **buf, size_t *len);
/* cuFuncGetAttribute's computation for a function of any module (no handle check). */
CUresult func_attribute(const struct CUfunc_st *f, CUfunction_attribute attrib, int *out);
/* cuFuncGetParamInfo's answer for function f (of a module or a library), refused for `entry`. */
CUresult func_param_info(const char *entry, const ptx_func *f, size_t index, size_t *offset, size_t *size);

/* ---- libraries and kernels (library.c) ---- */
/* If *f is a CUkernel, replaces it with its function in ctx (loading the library there). */
CUresult kernel_resolve(CUfunction *f, CUcontext ctx);
void library_forget_module(CUmodule m); /* the caller holds the lock */

/* ---- streams and events (api_stream.c) ---- */
struct CUstream_st {
    CUcontext ctx;
    unsigned flags;
    int priority;
};
struct CUevent_st {
    CUcontext ctx;
    unsigned flags;
    int recorded;
    double t_ms;
};
void stream_free_ctx(CUcontext ctx);
/* Resolves a stream argument (NULL, legacy, per-thread or a handle); 0 or an error. */
CUresult stream_check(CUstream s, CUcontext ctx);

/* ---- launch (api_launch.c / interp.c) ---- */
typedef struct emu_launch {
    CUcontext ctx;
    ptx_module *pm;
    int func;
    unsigned grid[3], block[3];
    unsigned dyn_shared;
    uint8_t *params;
    uint64_t thread_instrs; /* out: executed thread-instructions */
    char msg[256];          /* out: reason of a failure */
} emu_launch;
CUresult interp_launch(emu_launch *L);
extern uint64_t g_emu_thread_instrs; /* total thread-instructions executed (benchmarks) */

double emu_now_ms(void);

#endif
