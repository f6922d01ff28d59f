/* remote.h — the remote driver's shared state: the lease, its devices (each with its queue and
 * primary context), contexts, the device-memory range table, the pinned-host table, and the
 * helpers every entry point uses. The CUDA handle types (CUctx_st, CUstream_st, ...) are defined
 * by the files that own them. */
#ifndef LEPTON_REMOTE_REMOTE_H
#define LEPTON_REMOTE_REMOTE_H

#include <cuda.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "lc_raw.h"
#include "lepton/lepton.h"
#include "queue.h"

/* Every exported entry point (gen_stubs.py finds the implemented set by this attribute). */
#define RM_API __attribute__((visibility("default")))

#define RM_MAX_LIMITS 16

struct CUctx_st {
    uint32_t magic; /* RM_CTX_MAGIC while alive */
    int dev;
    unsigned flags;
    int primary;
    size_t limits[RM_MAX_LIMITS];
};
#define RM_CTX_MAGIC 0x52435458u

typedef struct rm_device {
    uint32_t index;
    const lc_gpu_facts *facts;
    rq_queue queue;
    struct CUctx_st primary;
    int primary_refs;
    unsigned primary_flags;
} rm_device;

typedef struct rm_state {
    pthread_mutex_t mu; /* the tables below and the contexts */
    lepton_client *client;
    lepton_lease *lease;
    int owns_lease; /* opened by cuInit: closed at exit; attached ones are only detached */
    int ndev;
    rm_device *devs;
    int forward, stats, debug;
    int driver_version;
} rm_state;

extern rm_state g_rm;

/* Entry check of every call that needs cuInit: CUDA_ERROR_NOT_INITIALIZED before it. */
CUresult rm_ready(void);
/* The device of the current context (CUDA_ERROR_INVALID_CONTEXT when none). */
CUresult rm_current_dev(int *dev);
CUresult rm_check_dev(CUdevice d);
/* A stream handle's device (NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD: the current context's). */
CUresult rm_stream_dev(CUstream s, int *dev);

/* The one log line of a refused call at LEPTON_LOG_LEVEL=debug. */
void rm_refused(const char *name, const char *why);
void rm_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A liblepton failure as a CUresult (the lease lost -> DEVICE_UNAVAILABLE, with the stderr line). */
CUresult rm_from_lepton(int status, const char *what);
#include "errmap.h"

/* ---- device memory (memory.c) ---- */
typedef struct rm_alloc {
    uint64_t addr, size;
    lepton_buffer *buf;
    uint64_t id;
    int dev;
    int borrowed; /* a module global: never freed by cuMemFree */
    void *module; /* the module of a borrowed buffer */
} rm_alloc;
/* The allocation holding device address p: 1 and *a (a copy) with *off, or 0. */
int rm_mem_find(uint64_t p, rm_alloc *a, uint64_t *off);
/* Another GPU whose memory overlaps [addr, addr+size) in the range table, or -1: the workers of a
 * lease's GPUs are separate processes and may hand out the same addresses. */
int rm_mem_collides(uint64_t addr, uint64_t size, int dev);
/* Adds a buffer to the range table (cuMemAlloc, cuModuleGetGlobal). */
CUresult rm_mem_add(lepton_buffer *b, int dev, uint64_t size, int borrowed, void *module);
/* Drops every borrowed buffer of a module (cuModuleUnload). */
void rm_mem_drop_module(void *module);
/* Pinned (cuMemHostAlloc'd or registered) host memory holding [p, p+n): 1, else 0. */
int rm_host_pinned(const void *p, size_t n);
void rm_mem_free_all(void);

/* ---- the transport (transport.c) ---- */
void rm_transport_init(rq_transport *tr, int dev);

/* queue result -> CUresult (they share the numbering) */
static inline CUresult rm_cu(int rq) { return (CUresult)rq; }

#endif
