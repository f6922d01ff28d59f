/* ptx_sig.h — the parameter list of a kernel read from PTX text, for `lepton run` to check its
 * arguments before it leases a GPU. The rules are those of the Python binding's reader
 * (bindings/python/lepton/_ptx.py): the declared type of each `.param` of an `.entry`, its size and
 * array length. The CPU driver's PTX parser (src/cudaemu) keeps sizes and offsets only, not the
 * types this check needs, and lives inside the driver. */
#ifndef LEPTON_CLI_PTX_SIG_H
#define LEPTON_CLI_PTX_SIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli_ptx_param {
    char name[64];
    char type[8];   /* PTX scalar type without the dot ("u32", "f32", "b8"); "" when not one */
    char kind;      /* 'u' unsigned, 's' signed, 'b' bits, 'f' float, 0 unknown */
    uint32_t size;  /* bytes of the whole parameter (0 when unknown) */
    uint32_t count; /* array length, 1 for a scalar */
} cli_ptx_param;

/* Reads kernel `kernel`'s parameters from a module image. Returns 0 with *params (malloc'd; the
 * caller frees it) and *n set; 1 when the image is not PTX text (a cubin, a fatbin) and nothing can
 * be checked; -1 with a message in err when the PTX has no such kernel (the message lists those it
 * has) or cannot be read. */
int cli_ptx_signature(const void *image, size_t size, const char *kernel, cli_ptx_param **params, size_t *n,
                      char *err, size_t en);

#endif
