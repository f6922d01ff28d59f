/* proc_gen.c — the lookup in the generated cuGetProcAddress table (g_proc_gen, written into each
 * library's api_stubs.c by gen_stubs.py), shared by cudaemu's and the remote driver's
 * cuGetProcAddress. */
#include "proc_gen.h"

#include <string.h>

const emu_proc_gen *proc_gen_find(const char *symbol, int cuda_version, int per_thread, int *seen) {
    const emu_proc_gen *best = NULL;
    for (size_t i = 0; i < g_proc_gen_count; i++) {
        const emu_proc_gen *e = &g_proc_gen[i];
        if (strcmp(e->name, symbol) != 0) continue;
        *seen = 1;
        if (e->version > cuda_version || (e->per_thread && !per_thread)) continue;
        /* newer version first; at one version the per-thread variant when asked for */
        if (!best || e->version > best->version || (e->version == best->version && e->per_thread)) best = e;
    }
    return best;
}
