/* lto.h — lowering LTO-IR to PTX with the CUDA toolkit's own libnvJitLink (lto.c), for Lepton's
 * nvJitLink look-alike: the CPU driver runs PTX, and only NVIDIA's library reads LTO-IR. */
#ifndef CUDAEMU_JITLINK_LTO_H
#define CUDAEMU_JITLINK_LTO_H

#include <nvJitLink.h>

#include <stddef.h>
#include <stdint.h>

typedef struct lto_input {
    nvJitLinkInputType type; /* NVJITLINK_INPUT_LTOIR or NVJITLINK_INPUT_FATBIN (one holding LTO-IR) */
    void *data;              /* owned copy */
    size_t size;
    char *name; /* owned copy, or NULL */
} lto_input;

/* Loads the toolkit's libnvJitLink.so.13 once per process (thread-safe). 0 when it is there;
 * otherwise -1 and why says where it was looked for. */
int lto_load(char *why, size_t whysz);

/* Links the LTO-IR inputs with the toolkit's library under opts (which must include -lto -ptx
 * -arch=sm_NN) and returns its result. On success *ptx is the malloc'd NUL-terminated PTX and
 * *ptxlen its length without the NUL. *errlog / *infolog get the library's logs (malloc'd, or NULL
 * when empty), whatever the result. lto_load must have succeeded. */
nvJitLinkResult lto_to_ptx(const char *const *opts, uint32_t nopts, const lto_input *in, int nin, char **ptx,
                           size_t *ptxlen, char **errlog, char **infolog);

/* Where a fatbin (data itself, or the one a __fatBinC_Wrapper_t points at) holds an LTO-IR entry:
 * its size, *fatbin its start; 0 when it holds none. */
size_t lto_fatbin_ltoir(const void *data, size_t size, const void **fatbin);

#endif
