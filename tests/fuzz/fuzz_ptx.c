/* fuzz_ptx.c — cudaemu's PTX loader (lexer, parser, decoder, module finish) on arbitrary text: it
 * loads or fails with a message, never reads outside its input or misbehaves. */
#include "fuzz.h"
#include "ptx.h"

static int alloc_var(void *ud, ptx_var *v) {
    (void)ud;
    v->addr = 0x100000;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char log[1024];
    ptx_module *m = NULL;
    int rc = ptx_load((const char *)data, size, alloc_var, NULL, log, sizeof log, &m);
    if (rc == 0 && m) {
        for (int i = 0; i < m->nfuncs; i++)
            if (ptx_find_func(m, m->funcs[i].name) < 0) abort(); /* the name index finds every function */
    }
    if (rc != 0 && strncmp(log, "ptxas (cudaemu): ", 17) != 0) abort(); /* a failure always says why */
    ptx_free(m);
    return 0;
}
