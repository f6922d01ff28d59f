/* tex.h — CUDA arrays, texture objects and surface objects as the API files (api_array.c,
 * api_texture.c, api_memory2d.c) and the interpreter (interp_tex.c) see them. Array storage is
 * host memory in a plain row-major layout: element (x, y, z) at ((z * h + y) * w + x) * esz. */
#ifndef CUDAEMU_TEX_H
#define CUDAEMU_TEX_H

#include "emu.h"

#include <stddef.h>
#include <stdint.h>

struct CUarray_st {
    CUcontext ctx;
    CUDA_ARRAY3D_DESCRIPTOR desc; /* as created (Height/Depth 0 where the API says so) */
    unsigned esz;                 /* bytes per element (all channels) */
    size_t w, h, d;               /* extents, 1 where the descriptor says 0; d = depth or layers */
    int dims;                     /* 1, 2 or 3 (layered arrays: 1 or 2) */
    int layered;
    uint8_t *data;
    size_t bytes;
    struct CUmipmappedArray_st *owner; /* a level of this mipmapped array, or NULL */
};

struct CUmipmappedArray_st {
    CUcontext ctx;
    unsigned nlevels;
    struct CUarray_st **levels;
};

/* Bytes of one channel of a format (0: not a supported format). */
unsigned array_format_bytes(CUarray_format f);
/* A live array of the current context (lock held); NULL otherwise. */
struct CUarray_st *array_get(CUarray a);
/* Frees every array and mipmapped array of ctx (lock held). */
void array_free_ctx(CUcontext ctx);
/* Frees the texture and surface objects of ctx (lock held). */
void texobj_free_ctx(CUcontext ctx);

/* A texture or surface object as the interpreter samples it. */
typedef struct emu_texobj {
    uint64_t handle;
    int is_surf;
    int dead; /* its array was destroyed */
    CUcontext ctx;
    CUDA_RESOURCE_DESC res;
    CUDA_TEXTURE_DESC td;
    CUDA_RESOURCE_VIEW_DESC view;
    struct CUarray_st *arr; /* ARRAY / MIPMAPPED_ARRAY (level 0) resources */
    CUdeviceptr dptr;       /* LINEAR / PITCH2D resources */
    CUarray_format fmt;
    unsigned nch, csz, esz;    /* channels, bytes per channel, bytes per element */
    size_t w, h, d, pitch;     /* extents in elements, row pitch in bytes (d: depth or layers) */
    int dims, layered, linear; /* linear: a LINEAR resource (tex1Dfetch semantics) */
} emu_texobj;

/* The object behind a handle (lock held, as during a launch); NULL when unknown or destroyed. */
const emu_texobj *texobj_lookup(uint64_t handle, int surf);
/* Marks the objects built on an array as dead (its storage is gone). Lock held. */
void texobj_array_gone(const struct CUarray_st *a);

/* interp_tex.c: runs a texture/surface instruction for the lanes in m; W_RUN or W_ERR (the
 * launch's error and message set). */
struct exec;
int tex_exec(struct exec *x, const ptx_insn *in, uint64_t **bank, uint32_t m, unsigned tid_base);

#endif
