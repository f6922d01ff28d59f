/* proc_gen.h — the generated cuGetProcAddress table (api_stubs.c, written by gen_stubs.py). */
#ifndef CUDAEMU_PROC_GEN_H
#define CUDAEMU_PROC_GEN_H

#include <stddef.h>

typedef struct emu_proc_gen {
    const char *name; /* the name programs ask for, e.g. "cuMemAlloc" */
    int version;      /* the CUDA version whose PFN_<name>_v<version> this entry answers */
    int per_thread;   /* 1: the _ptds/_ptsz variant (CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) */
    void *fn;
} emu_proc_gen;

extern const emu_proc_gen g_proc_gen[];
extern const size_t g_proc_gen_count;

/* The entry cuGetProcAddress returns for `symbol` asked at `cuda_version` (the newest version not
 * after it; at one version the per-thread-stream variant when per_thread), or NULL; *seen is set
 * to 1 when the table has the name at all (proc_gen.c). */
const emu_proc_gen *proc_gen_find(const char *symbol, int cuda_version, int per_thread, int *seen);

#endif
