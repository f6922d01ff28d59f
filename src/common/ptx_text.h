/* ptx_text.h — what Lepton's own programs read from PTX text: its kernels' names, and a kernel's
 * declared parameter list (the type of each `.param` of an `.entry`, its size and array length; the
 * rules of the Python binding's reader, bindings/python/lepton/_ptx.py). `lepton run` checks its
 * arguments with it before it leases a GPU; the lease worker lists a module's kernels with it when
 * the driver cannot. The CPU driver's PTX parser (src/cudaemu) is the driver's own: it lives inside
 * the driver, keeps sizes and offsets, not the declared types, and is not linked by these programs. */
#ifndef LEPTON_COMMON_PTX_TEXT_H
#define LEPTON_COMMON_PTX_TEXT_H

#include <stddef.h>
#include <stdint.h>

typedef struct lp_ptx_param {
    char name[64];
    char type[8];   /* PTX scalar type without the dot ("u32", "f32", "b8"); "" when not one */
    char kind;      /* 'u' unsigned, 's' signed, 'b' bits, 'f' float, 0 unknown */
    uint32_t size;  /* bytes of the whole parameter (0 when unknown) */
    uint32_t count; /* array length, 1 for a scalar */
} lp_ptx_param;

/* Reads kernel `kernel`'s parameters from a module image. Returns 0 with *params (malloc'd; the
 * caller frees it) and *n set; 1 when the image is not PTX text (a cubin, a fatbin) and nothing can
 * be checked; -1 with a message in err when the PTX has no such kernel (the message lists those it
 * has) or cannot be read. */
int lp_ptx_signature(const void *image, size_t size, const char *kernel, lp_ptx_param **params, size_t *n,
                     char *err, size_t en);

/* Calls fn with the name of each `.entry` of the PTX text image[0..size) in order (comments
 * skipped; the text ends at size or at a NUL); returns how many, or -1 when out of memory. */
int lp_ptx_entries(const void *image, size_t size, void (*fn)(const char *name, size_t len, void *user),
                   void *user);

#endif
