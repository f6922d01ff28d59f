/* errors.c — cuGetErrorName / cuGetErrorString for every CUresult of the toolkit's cuda.h (the
 * table is cu_errors.c, shared with the remote driver). */
#include "cu_errors.h"
#include "emu.h"

EMU_API CUresult cuGetErrorName(CUresult error, const char **pStr) {
    if (!pStr) return CUDA_ERROR_INVALID_VALUE;
    *pStr = cu_error_name(error);
    if (!*pStr) return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuGetErrorString(CUresult error, const char **pStr) {
    if (!pStr) return CUDA_ERROR_INVALID_VALUE;
    *pStr = cu_error_text(error);
    if (!*pStr) return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}
