/* cu_errors.h — names and descriptions of the toolkit's CUresult codes (cu_errors.c), shared by
 * cudaemu and the remote driver (src/remote). */
#ifndef CUDAEMU_CU_ERRORS_H
#define CUDAEMU_CU_ERRORS_H

#include <cuda.h>
#include <stddef.h>

/* "CUDA_ERROR_INVALID_VALUE" for CUDA_ERROR_INVALID_VALUE; NULL for a code cuda.h does not name. */
const char *cu_error_name(CUresult e);
/* A short English description; NULL for a code cuda.h does not name. */
const char *cu_error_text(CUresult e);
/* The code named by the n bytes at s ("CUDA_ERROR_..."): 1 and *out, or 0 when no code has that name. */
int cu_error_from_name(const char *s, size_t n, CUresult *out);

#endif
