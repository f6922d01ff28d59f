/* errmap.h — a worker's error text back to the CUresult it names (errmap.c). */
#ifndef LEPTON_REMOTE_ERRMAP_H
#define LEPTON_REMOTE_ERRMAP_H

#include <cuda.h>

/* "CUDA_ERROR_X: ..." (the name anywhere in the text, e.g. after a "job failed: " prefix) ->
 * CUDA_ERROR_X; `fallback` when the text names no code cuda.h has. */
CUresult rm_error_from_text(const char *text, CUresult fallback);

#endif
