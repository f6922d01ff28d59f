/* errmap.c — maps the error text of a failed job or call ("CUDA_ERROR_ILLEGAL_ADDRESS: launch step
 * 3: ...", the worker's driver's name first) back to the CUresult, with cuda.h's names from the
 * table shared with cudaemu (cu_errors.c). */
#include "errmap.h"

#include <ctype.h>
#include <string.h>

#include "cu_errors.h"

CUresult rm_error_from_text(const char *text, CUresult fallback) {
    if (!text) return fallback;
    for (const char *p = strstr(text, "CUDA_ERROR_"); p; p = strstr(p + 1, "CUDA_ERROR_")) {
        size_t n = 0;
        while (isupper((unsigned char)p[n]) || isdigit((unsigned char)p[n]) || p[n] == '_')
            n++;
        CUresult code;
        if (cu_error_from_name(p, n, &code)) return code;
    }
    return fallback;
}
