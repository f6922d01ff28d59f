/* ptx_join.h — joining PTX modules into one, the link step of cuLink* (link.c) and of the
 * nvJitLink look-alike (jitlink/). Needs no context: only the PTX parser and fatbin.c. */
#ifndef CUDAEMU_PTX_JOIN_H
#define CUDAEMU_PTX_JOIN_H

#include "ptx.h"

#include <cuda.h>
#include <stddef.h>

typedef struct ptx_join {
    char *body; /* the inputs, their header directives commented out */
    size_t len, cap;
    int ninputs;
    int vmaj, vmin, sm; /* the highest .version and .target sm_NN seen */
    char target[128];   /* the .target line of the highest architecture */
} ptx_join;

/* Appends one PTX input (len bytes, no NUL needed): its .version/.target/.address_size lines become
 * comments, the highest version and architecture go to the joint header. 0, or -1 when out of memory. */
int ptx_join_add(ptx_join *j, const char *text, size_t len, const char *name);
/* Appends the PTX an image holds (PTX text, fatbin, fatbin wrapper; size 0 = unknown); CUDA_SUCCESS,
 * or image_ptx_get's error (INVALID_IMAGE, NO_BINARY_FOR_GPU) / OUT_OF_MEMORY with log saying why. */
CUresult ptx_join_add_image(ptx_join *j, const void *image, size_t size, const char *name, char *log,
                            size_t logsz);
/* Builds the joined module and checks what a linker checks (every called function defined once,
 * the whole parses). On success *out is a malloc'd NUL-terminated PTX text, *outlen its size with
 * the NUL, msg a one-line summary and, if parsed is not NULL, *parsed the parsed module (the
 * caller ptx_free()s it); otherwise msg says why: CUDA_ERROR_INVALID_VALUE (nothing added),
 * CUDA_ERROR_INVALID_PTX or CUDA_ERROR_OUT_OF_MEMORY. */
CUresult ptx_join_finish(const ptx_join *j, char **out, size_t *outlen, char *msg, size_t msgsz,
                         ptx_module **parsed);
void ptx_join_release(ptx_join *j);

#endif
